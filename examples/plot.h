/* A small line chart written as a PNG (clg_png_write): a few series over a
 * shared x axis, each in its own colour, with axes, a zero line and a dashed
 * horizontal reference line (e.g. a "solved" threshold). No text: the program
 * printing the chart says what is on it. */
#ifndef CLGRAD_EXAMPLES_PLOT_H
#define CLGRAD_EXAMPLES_PLOT_H

#include <stddef.h>

typedef struct plot_series {
    const double *x, *y; /* n points, x increasing */
    size_t n;
} plot_series;

/* Draws the series into a width x height RGB image scaled to x in [0, x_max]
 * and y in [y_min, y_max], with a dashed line at y = ref (NAN: none), and
 * writes it to path. Returns the clg_png_write status, or
 * CLG_STATUS_INVALID_ARGUMENT for y_max <= y_min or an image under 72 pixels. */
int plot_lines(const char *path, int width, int height, const plot_series *series, int nseries, double x_max,
               double y_min, double y_max, double ref);

#endif
