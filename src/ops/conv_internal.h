/* Internal: the convolution algorithms behind clg_conv2d. */
#ifndef CLG_OPS_CONV_INTERNAL_H
#define CLG_OPS_CONV_INTERNAL_H

#include "graph/graph.h"

/* Geometry of one 2-D convolution after padding has been resolved. */
typedef struct clg_conv_geometry {
    int64_t n, c, h, w;          /* input */
    int64_t o, kh, kw;           /* weights [o, c/groups, kh, kw] */
    int64_t oh, ow;              /* output */
    int stride[2], dilation[2];
    int pad[4];                  /* top, bottom, left, right */
    int groups;
} clg_conv_geometry;

/* 1 if the FFT algorithm can compute this convolution (stride 1, one group). */
int clg_conv_fft_supports(const clg_conv_geometry *g);

/* FFT convolution: out [n, o, oh, ow] (allocated by the caller, contiguous) =
 * conv(x [n,c,h,w] contiguous, w [o,c,kh,kw] contiguous) without bias, through
 * clFFT plans cached per shape in the context. Not recorded in the graph. */
clg_status clg_conv2d_fft_forward(const clg_tensor *x, const clg_tensor *w,
                                  const clg_conv_geometry *g, clg_tensor *out, const char *api);

/* The number of clFFT plans cached in ctx (for tests). */
size_t clg_conv_fft_plan_count(clg_context *ctx);

/* The algorithm AUTO resolves to for this geometry: a measurement stored in the
 * per-device store under a key naming the shape, else (and while a step is
 * being captured) a heuristic. measure_fn, when not NULL and no stored choice
 * exists (and no capture runs), is called to time both algorithms once; the
 * winner is stored. */
typedef clg_status (*clg_conv_measure_fn)(void *user, clg_conv_algo algo, double *ms);
clg_conv_algo clg_conv_choose(clg_context *ctx, const clg_conv_geometry *g,
                              clg_conv_measure_fn measure, void *user);

#endif
