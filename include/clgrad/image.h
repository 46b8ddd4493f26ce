/** \file
 * Writing images: 8-bit PNG files (through libpng), for sample grids and
 * plots. Host memory only.
 *
 *     uint8_t px[32 * 64 * 3];                 // 32 rows of 64 RGB pixels
 *     ...
 *     if (clg_png_write("plot.png", 64, 32, 3, px) != CLG_OK)
 *         fprintf(stderr, "%s\n", clg_last_error());    // names the file */
#ifndef CLGRAD_IMAGE_H
#define CLGRAD_IMAGE_H

#include <stdint.h>

#include "clgrad/export.h"
#include "clgrad/status.h"

CLG_BEGIN_DECLS

/** Writes pixels (height rows of width pixels of channels bytes each, row
 * major, top row first; channels 1 = grey, 3 = RGB, 4 = RGBA) to path as an
 * 8-bit PNG. The write is atomic: a temporary file beside path, renamed into
 * place, so path holds the old file or the new one. width and height are 1 to
 * 65535. INVALID_ARGUMENT naming the argument, or IO_ERROR naming the file. */
CLG_API clg_status clg_png_write(const char *path, int width, int height, int channels, const uint8_t *pixels);

CLG_END_DECLS

#endif
