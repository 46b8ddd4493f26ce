#include "plot.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include <clgrad/clgrad.h>

enum { MARGIN = 24 };

static const uint8_t palette[][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                     {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};

static void put(uint8_t *px, int w, int h, int x, int y, const uint8_t *rgb) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    uint8_t *p = px + 3 * ((size_t)y * (size_t)w + (size_t)x);
    p[0] = rgb[0], p[1] = rgb[1], p[2] = rgb[2];
}

/* A line two pixels wide from (x0, y0) to (x1, y1), by steps along the longer axis. */
static void line(uint8_t *px, int w, int h, double x0, double y0, double x1, double y1, const uint8_t *rgb) {
    const double dx = x1 - x0, dy = y1 - y0;
    const int steps = (int)fmax(fabs(dx), fabs(dy)) + 1;
    for (int i = 0; i <= steps; i++) {
        const int x = (int)lround(x0 + dx * i / steps), y = (int)lround(y0 + dy * i / steps);
        put(px, w, h, x, y, rgb), put(px, w, h, x, y + 1, rgb);
    }
}

int plot_lines(const char *path, int width, int height, const plot_series *series, int nseries, double x_max,
               double y_min, double y_max, double ref) {
    if (!(y_max > y_min) || width < 3 * MARGIN || height < 3 * MARGIN) return CLG_STATUS_INVALID_ARGUMENT;
    uint8_t *px = malloc((size_t)width * (size_t)height * 3);
    if (!px) return CLG_STATUS_OUT_OF_HOST_MEMORY;
    for (size_t i = 0; i < (size_t)width * (size_t)height * 3; i++) px[i] = 255;
    const double left = MARGIN, right = width - MARGIN / 2, top = MARGIN / 2, bottom = height - MARGIN;
    const double sx = (right - left) / (x_max > 0 ? x_max : 1), sy = (bottom - top) / (y_max - y_min);
#define PX(v) (left + (v) * sx)
#define PY(v) (bottom - ((v) - y_min) * sy)
    const uint8_t axis[3] = {0, 0, 0}, grey[3] = {170, 170, 170};
    line(px, width, height, left, top, left, bottom, axis);
    line(px, width, height, left, bottom, right, bottom, axis);
    if (y_min < 0 && y_max > 0) line(px, width, height, left, PY(0), right, PY(0), grey);
    if (!isnan(ref))
        for (double x = left; x < right; x += 12) line(px, width, height, x, PY(ref), fmin(x + 6, right), PY(ref), grey);
    for (int s = 0; s < nseries; s++) {
        const uint8_t *rgb = palette[s % (int)(sizeof palette / sizeof *palette)];
        for (size_t i = 1; i < series[s].n; i++)
            line(px, width, height, PX(series[s].x[i - 1]), PY(fmin(fmax(series[s].y[i - 1], y_min), y_max)),
                 PX(series[s].x[i]), PY(fmin(fmax(series[s].y[i], y_min), y_max)), rgb);
    }
#undef PX
#undef PY
    int st = clg_png_write(path, width, height, 3, px);
    free(px);
    return st;
}
