/* PNG writing through libpng into memory, then one atomic file write. libpng
 * reports errors by longjmp; nothing of ours lives across the setjmp but the
 * buffer, which is freed on both paths. */
#include "clgrad/image.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/file.h"

/* On the heap, so nothing libpng's longjmp skips over lives in a local that
 * changed after setjmp (C11 7.13.2.1: such locals are indeterminate). */
typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
    int oom;
    char why[200]; /* libpng's error text */
} membuf;

static void mem_write(png_structp png, png_bytep data, png_size_t len) {
    membuf *b = png_get_io_ptr(png);
    if (b->oom) return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) cap *= 2;
        unsigned char *p = realloc(b->data, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->data = p, b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void mem_flush(png_structp png) { (void)png; }

/* libpng's own error text, kept for the message */
static void on_error(png_structp png, png_const_charp msg) {
    membuf *b = png_get_error_ptr(png);
    snprintf(b->why, sizeof b->why, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

clg_status clg_png_write(const char *path, int width, int height, int channels, const uint8_t *pixels) {
    const char *api = "clg_png_write";
    if (!path || !*path || !pixels)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s", api, !path || !*path ? "path is NULL or empty"
                        : "pixels is NULL");
    if (width < 1 || width > 65535 || height < 1 || height > 65535)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: '%s': %d x %d pixels; width and height must be in [1, 65535]",
                        api, path, width, height);
    if (channels != 1 && channels != 3 && channels != 4)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: '%s': channels %d must be 1 (grey), 3 (RGB) or 4 (RGBA)",
                        api, path, channels);
    static const int color[5] = {0, PNG_COLOR_TYPE_GRAY, 0, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    membuf *const buf = calloc(1, sizeof *buf);
    png_structp png = buf ? png_create_write_struct(PNG_LIBPNG_VER_STRING, buf, on_error, on_warning) : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        free(buf);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: '%s': out of host memory", api, path);
    }
    png_structp volatile vpng = png; /* read after a longjmp */
    png_infop volatile vinfo = info;
    if (setjmp(png_jmpbuf(png))) {
        png_structp p = vpng;
        png_infop i = vinfo;
        png_destroy_write_struct(&p, &i);
        clg_status st = clg_fail(CLG_STATUS_IO_ERROR, "%s: '%s': libpng: %s", api, path, buf->why);
        free(buf->data);
        free(buf);
        return st;
    }
    png_set_write_fn(png, buf, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, color[channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * stride));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    const int oom = buf->oom;
    clg_status st = oom ? clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: '%s': out of host memory", api, path)
                        : clg_write_file_atomic(path, buf->data, buf->len);
    free(buf->data);
    free(buf);
    if (st != CLG_OK && !oom) clg_fail_wrap(st, "%s", api);
    return st;
}
