/* Pooling (max, average, global) and upsampling (nearest, bilinear).
 *
 * Kernels (cl/pool.cl, one program without options) index work in NCHW order
 * and address every tensor by its offset and its strides taken in N, C, H, W
 * order, so an NHWC tensor or a strided view is read in place and results are
 * written contiguous in the caller's layout: the layout is only a permutation
 * of axes at entry and exit, never a copy.
 *
 * Backward kernels run one work-item per input element and gather, in a fixed
 * order, the gradients of the outputs that used it (no atomics). Max pooling
 * saves the forward's argmax (first maximum of the window in row-major order)
 * as int32 [N,C,OH,OW], so backward follows exactly the forward's choice. */
#include <limits.h>
#include <stdio.h>

#include "common/error.h"
#include "graph/graph.h"

clg_pool2d_params clg_pool2d_params_default(int kh, int kw) {
    clg_pool2d_params p = {{kh, kw}, {kh, kw}, CLG_PADDING_VALID, {0, 0, 0, 0}, CLG_LAYOUT_NCHW};
    return p;
}

/* Axis of N, C, H, W in a tensor of the given layout. */
static const int layout_axes[2][4] = {{0, 1, 2, 3}, {0, 3, 1, 2}};

static cl_long4 nchw_of(const int64_t *v, clg_layout layout) {
    cl_long4 r;
    for (int i = 0; i < 4; i++) r.s[i] = (cl_long)v[layout_axes[layout][i]];
    return r;
}

/* Shape in the given layout from N, C, H, W. */
static void layout_shape(clg_layout layout, int64_t n, int64_t c, int64_t h, int64_t w, int64_t *out) {
    const int64_t v[4] = {n, c, h, w};
    for (int i = 0; i < 4; i++) out[layout_axes[layout][i]] = v[i];
}

static const char *layout_name(clg_layout l) { return l == CLG_LAYOUT_NHWC ? "NHWC" : "NCHW"; }

/* Checks shared by every op here: x non-NULL, rank 4, float32, layout known. */
static clg_status check_input(const char *api, const clg_tensor *x, clg_layout layout) {
    if (!x) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
    char d[220];
    if (layout != CLG_LAYOUT_NCHW && layout != CLG_LAYOUT_NHWC)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown layout %d for %s", api, (int)layout,
                        clg_tensor_describe(x, d, sizeof d));
    if (x->ndim != 4)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s has rank %d; expected rank 4 (%s)", api,
                        clg_tensor_describe(x, d, sizeof d), x->ndim,
                        layout == CLG_LAYOUT_NHWC ? "[N,H,W,C]" : "[N,C,H,W]");
    if (x->dtype != CLG_FLOAT32)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is %s; expected float32", api,
                        clg_tensor_describe(x, d, sizeof d), clg_dtype_name(x->dtype));
    return CLG_OK;
}

/* A pooling configuration resolved against an input. */
typedef struct pool_geom {
    int64_t n, c, h, w, oh, ow;
    int k[2], s[2];
    int top, left;
    clg_layout layout;
} pool_geom;

/* Output extent and leading padding along one axis; fails naming api. */
static clg_status pool_axis(const char *api, const clg_tensor *x, const char *axis, int64_t in, int k,
                            int s, clg_padding padding, int before, int after, int64_t *out,
                            int *lead) {
    char d[220];
    if (padding == CLG_PADDING_SAME) {
        int64_t o = (in + s - 1) / s;
        int64_t total = (o - 1) * s + k - in;
        if (total < 0) total = 0;
        *out = o;
        *lead = (int)(total / 2);
        return CLG_OK;
    }
    if (padding != CLG_PADDING_EXPLICIT) before = after = 0;
    int64_t padded = in + before + after;
    if (k > padded)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: kernel %s %d is larger than the padded input %s %lld of %s", api, axis,
                        k, axis, (long long)padded, clg_tensor_describe(x, d, sizeof d));
    int64_t o = (padded - k) / s + 1;
    /* Windows lying entirely in the padding have no defined value: refuse them. */
    if (before >= k || (o - 1) * s - before >= in)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: padding %d,%d along %s with kernel %d leaves a window entirely in the "
                        "padding of %s",
                        api, before, after, axis, k, clg_tensor_describe(x, d, sizeof d));
    *out = o;
    *lead = before;
    return CLG_OK;
}

static clg_status pool_resolve(const char *api, const clg_tensor *x, const clg_pool2d_params *p,
                               pool_geom *g) {
    if (!p) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: params is NULL", api);
    clg_status st = check_input(api, x, p->layout);
    if (st != CLG_OK) return st;
    char d[220];
    clg_tensor_describe(x, d, sizeof d);
    if (p->kernel[0] <= 0 || p->kernel[1] <= 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: kernel %dx%d must be positive (input %s)",
                        api, p->kernel[0], p->kernel[1], d);
    if (p->stride[0] <= 0 || p->stride[1] <= 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: stride %dx%d must be positive (input %s)",
                        api, p->stride[0], p->stride[1], d);
    if (p->padding != CLG_PADDING_VALID && p->padding != CLG_PADDING_SAME &&
        p->padding != CLG_PADDING_EXPLICIT)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown padding %d (input %s)", api,
                        (int)p->padding, d);
    if (p->padding == CLG_PADDING_EXPLICIT &&
        (p->pad[0] < 0 || p->pad[1] < 0 || p->pad[2] < 0 || p->pad[3] < 0))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: padding %d,%d,%d,%d (top, bottom, left, right) must be >= 0 (input %s)",
                        api, p->pad[0], p->pad[1], p->pad[2], p->pad[3], d);
    const int *ax = layout_axes[p->layout];
    g->n = x->shape[ax[0]];
    g->c = x->shape[ax[1]];
    g->h = x->shape[ax[2]];
    g->w = x->shape[ax[3]];
    g->layout = p->layout;
    for (int i = 0; i < 2; i++) {
        g->k[i] = p->kernel[i];
        g->s[i] = p->stride[i];
    }
    if (g->h * g->w > INT_MAX)
        return clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: the planes of %s exceed 2^31 elements", api, d);
    st = pool_axis(api, x, "H", g->h, g->k[0], g->s[0], p->padding, p->pad[0], p->pad[1], &g->oh,
                   &g->top);
    if (st == CLG_OK)
        st = pool_axis(api, x, "W", g->w, g->k[1], g->s[1], p->padding, p->pad[2], p->pad[3], &g->ow,
                       &g->left);
    return st;
}

/* t is a contiguous NHWC tensor at offset 0 below 2^31 elements: the int32
 * max-pool kernels serve it. */
static int nhwc_fast(const clg_tensor *t, clg_layout layout) {
    return layout == CLG_LAYOUT_NHWC && !t->expr && t->offset == 0 && clg_tensor_is_contiguous(t) &&
           clg_tensor_numel(t) < INT_MAX;
}

/* The build of the NHWC max-pool kernels for one window and stride. */
static void window_options(int kh, int kw, int sh, int sw, char *buf, size_t cap) {
    snprintf(buf, cap, "-DPOOL_KH=%d -DPOOL_KW=%d -DPOOL_SH=%d -DPOOL_SW=%d", kh, kw, sh, sw);
}

/* The pool program's build for a layout: work-items in that layout's order. */
static const char *order_options(clg_layout layout) {
    return layout == CLG_LAYOUT_NHWC ? "-DCLG_CHANNELS_LAST=1" : NULL;
}

static cl_int8 pool_params(const pool_geom *g) {
    cl_int8 r = {{g->k[0], g->k[1], g->s[0], g->s[1], g->top, g->left, 0, 0}};
    return r;
}

enum { POOL_MAX = 0, POOL_AVG = 1 };

static clg_tensor *pool2d(const char *api, int kind, const clg_tensor *x, const clg_pool2d_params *p) {
    pool_geom g;
    if (pool_resolve(api, x, p, &g) != CLG_OK) return NULL;
    clg_context *ctx = x->ctx;
    int64_t shape[4];
    layout_shape(g.layout, g.n, g.c, g.oh, g.ow, shape);
    clg_tensor *out = clg_tensor_alloc(ctx, CLG_FLOAT32, 4, shape, api);
    if (!out) return NULL;
    int grad = clg_needs_grad(1, &x);
    clg_tensor *arg = NULL;
    if (kind == POOL_MAX && grad) {
        const int64_t ashape[4] = {g.n, g.c, g.oh, g.ow}; /* laid out in the kernel's work-item order */
        arg = clg_tensor_alloc(ctx, CLG_INT32, 4, ashape, api);
        if (!arg) {
            clg_tensor_free(out);
            return NULL;
        }
    }
    int64_t total = clg_tensor_numel(out);
    clg_status st = CLG_OK;
    if (total > 0) st = clg_realize(x);
    if (st == CLG_OK && total > 0 && kind == POOL_MAX && nhwc_fast(x, g.layout)) {
        cl_kernel k;
        char opts[96];
        window_options(g.k[0], g.k[1], g.s[0], g.s[1], opts, sizeof opts);
        st = clg_kernel_get(ctx, "pool", opts, "max_pool_nhwc_fwd", &k);
        if (st == CLG_OK) {
            cl_int4 dim = {{(cl_int)g.n, (cl_int)g.h, (cl_int)g.w, (cl_int)g.c}};
            cl_int2 odim = {{(cl_int)g.oh, (cl_int)g.ow}};
            cl_int2 pp = {{g.top, g.left}};
            cl_int with_arg = arg != NULL;
            clg_buffer *ab = arg ? arg->buf : out->buf; /* never written without arg */
            clg_arg args[] = {CLG_ARG_BUF(x->buf), CLG_ARG_BUF(out->buf), CLG_ARG_BUF(ab), CLG_ARG(dim),
                              CLG_ARG(odim),       CLG_ARG(pp),          CLG_ARG(with_arg)};
            st = clg_launch(ctx, k, (size_t)(g.n * g.oh * g.ow), 7, args, api);
        }
    } else if (st == CLG_OK && total > 0) {
        const char *kname = kind == POOL_AVG ? "avg_pool_fwd" : arg ? "max_pool_fwd_arg" : "max_pool_fwd";
        cl_kernel k;
        st = clg_kernel_get(ctx, "pool", order_options(g.layout), kname, &k);
        if (st == CLG_OK) {
            cl_ulong x_off = (cl_ulong)x->offset, y_off = (cl_ulong)out->offset;
            cl_long4 xs = nchw_of(x->strides, g.layout), ys = nchw_of(out->strides, g.layout);
            cl_long4 dim = {{g.n, g.c, g.h, g.w}};
            cl_long2 odim = {{g.oh, g.ow}};
            cl_int8 pp = pool_params(&g);
            clg_arg args[] = {CLG_ARG_BUF(x->buf), CLG_ARG(x_off), CLG_ARG(xs),   CLG_ARG_BUF(out->buf),
                              CLG_ARG(y_off),      CLG_ARG(ys),    CLG_ARG(dim),  CLG_ARG(odim),
                              CLG_ARG(pp),         {0, NULL, NULL}};
            int nargs = 9;
            if (arg) args[nargs++] = CLG_ARG_BUF(arg->buf);
            st = clg_launch(ctx, k, (size_t)total, nargs, args, api);
        }
    }
    if (st == CLG_OK && grad) {
        clg_gnode *n = clg_record(out, kind == POOL_MAX ? CLG_OP_MAX_POOL2D : CLG_OP_AVG_POOL2D, 1, &x);
        if (!n) {
            st = clg_last_status();
        } else {
            n->iattr[0] = g.k[0];
            n->iattr[1] = g.k[1];
            n->iattr[2] = g.s[0];
            n->iattr[3] = g.s[1];
            n->iattr[4] = g.top;
            n->iattr[5] = g.left;
            n->iattr[6] = g.layout;
            if (arg) n->saved[0] = clg_tensor_retain(arg);
        }
    }
    clg_tensor_free(arg);
    if (st != CLG_OK) {
        clg_tensor_free(out);
        return NULL;
    }
    return out;
}

clg_tensor *clg_max_pool2d(const clg_tensor *x, const clg_pool2d_params *p) {
    return pool2d("clg_max_pool2d", POOL_MAX, x, p);
}

clg_tensor *clg_avg_pool2d(const clg_tensor *x, const clg_pool2d_params *p) {
    return pool2d("clg_avg_pool2d", POOL_AVG, x, p);
}

/* --- global pooling: a reduction over the spatial axes ------------------------ */

static clg_tensor *global_pool(const char *api, const clg_tensor *x, clg_layout layout, int is_max) {
    if (check_input(api, x, layout) != CLG_OK) return NULL;
    const int *ax = layout_axes[layout];
    int axes[2] = {ax[2], ax[3]};
    if (is_max && (x->shape[axes[0]] == 0 || x->shape[axes[1]] == 0)) {
        char d[220];
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s (%s) has no spatial positions", api,
                 clg_tensor_describe(x, d, sizeof d), layout_name(layout));
        return NULL;
    }
    return is_max ? clg_max(x, 2, axes, 0) : clg_mean(x, 2, axes, 0);
}

clg_tensor *clg_global_avg_pool2d(const clg_tensor *x, clg_layout layout) {
    return global_pool("clg_global_avg_pool2d", x, layout, 0);
}

clg_tensor *clg_global_max_pool2d(const clg_tensor *x, clg_layout layout) {
    return global_pool("clg_global_max_pool2d", x, layout, 1);
}

/* --- upsampling ------------------------------------------------------------------ */

clg_tensor *clg_upsample2d(const clg_tensor *x, int scale_h, int scale_w, clg_upsample_mode mode,
                           clg_layout layout) {
    const char *api = "clg_upsample2d";
    if (check_input(api, x, layout) != CLG_OK) return NULL;
    char d[220];
    if (scale_h <= 0 || scale_w <= 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: scale %dx%d must be positive (input %s)", api,
                 scale_h, scale_w, clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    if (mode != CLG_UPSAMPLE_NEAREST && mode != CLG_UPSAMPLE_BILINEAR) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown mode %d (input %s)", api, (int)mode,
                 clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    const int *ax = layout_axes[layout];
    int64_t n = x->shape[ax[0]], c = x->shape[ax[1]], h = x->shape[ax[2]], w = x->shape[ax[3]];
    if (h > INT64_MAX / scale_h || w > INT64_MAX / scale_w) {
        clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: scaling %s by %dx%d overflows", api,
                 clg_tensor_describe(x, d, sizeof d), scale_h, scale_w);
        return NULL;
    }
    int64_t shape[4];
    layout_shape(layout, n, c, h * scale_h, w * scale_w, shape);
    clg_context *ctx = x->ctx;
    clg_tensor *out = clg_tensor_alloc(ctx, CLG_FLOAT32, 4, shape, api);
    if (!out) return NULL;
    int64_t total = clg_tensor_numel(out);
    clg_status st = CLG_OK;
    if (total > 0) {
        cl_kernel k;
        st = clg_realize(x);
        if (st == CLG_OK)
            st = clg_kernel_get(ctx, "pool", order_options(layout),
                                mode == CLG_UPSAMPLE_NEAREST ? "upsample_nearest_fwd" : "upsample_bilinear_fwd",
                                &k);
        if (st == CLG_OK) {
            cl_ulong x_off = (cl_ulong)x->offset, y_off = (cl_ulong)out->offset;
            cl_long4 xs = nchw_of(x->strides, layout), ys = nchw_of(out->strides, layout);
            cl_long4 dim = {{n, c, h, w}};
            cl_long2 odim = {{h * scale_h, w * scale_w}};
            cl_int2 sc = {{scale_h, scale_w}};
            clg_arg args[] = {CLG_ARG_BUF(x->buf), CLG_ARG(x_off), CLG_ARG(xs),  CLG_ARG_BUF(out->buf),
                              CLG_ARG(y_off),      CLG_ARG(ys),    CLG_ARG(dim), CLG_ARG(odim),
                              CLG_ARG(sc)};
            st = clg_launch(ctx, k, (size_t)total, 9, args, api);
        }
    }
    if (st == CLG_OK && clg_needs_grad(1, &x)) {
        clg_gnode *node = clg_record(out, CLG_OP_UPSAMPLE2D, 1, &x);
        if (!node) {
            st = clg_last_status();
        } else {
            node->iattr[0] = scale_h;
            node->iattr[1] = scale_w;
            node->iattr[2] = mode;
            node->iattr[3] = layout;
        }
    }
    if (st != CLG_OK) {
        clg_tensor_free(out);
        return NULL;
    }
    return out;
}

/* --- backward ------------------------------------------------------------------------ */

/* gx (new, contiguous in x's layout) from g by the gather kernel `kname`; the
 * argument list is (g, g_off, gs, [arg,] gx, gx_off, gxs, dim, odim, params). */
static clg_status gather_backward(const char *what, const char *kname, const clg_tensor *x,
                                  clg_layout layout, const clg_tensor *g, const clg_tensor *arg,
                                  const clg_arg *params, clg_tensor **gin) {
    clg_context *ctx = g->ctx;
    clg_tensor *gx = clg_tensor_alloc(ctx, CLG_FLOAT32, 4, x->shape, what);
    if (!gx) return clg_last_status();
    int64_t total = clg_tensor_numel(gx);
    clg_status st = CLG_OK;
    if (total > 0) {
        cl_kernel k;
        st = clg_realize(g);
        if (st == CLG_OK) st = clg_kernel_get(ctx, "pool", order_options(layout), kname, &k);
        if (st == CLG_OK) {
            cl_ulong g_off = (cl_ulong)g->offset, gx_off = (cl_ulong)gx->offset;
            cl_long4 gs = nchw_of(g->strides, layout), gxs = nchw_of(gx->strides, layout);
            cl_long4 dim = nchw_of(x->shape, layout), go = nchw_of(g->shape, layout);
            cl_long2 odim = {{go.s[2], go.s[3]}};
            clg_arg args[11];
            int na = 0;
            args[na++] = CLG_ARG_BUF(g->buf);
            args[na++] = CLG_ARG(g_off);
            args[na++] = CLG_ARG(gs);
            if (arg) args[na++] = CLG_ARG_BUF(arg->buf);
            args[na++] = CLG_ARG_BUF(gx->buf);
            args[na++] = CLG_ARG(gx_off);
            args[na++] = CLG_ARG(gxs);
            args[na++] = CLG_ARG(dim);
            args[na++] = CLG_ARG(odim);
            args[na++] = *params;
            st = clg_launch(ctx, k, (size_t)total, na, args, what);
        }
    }
    if (st != CLG_OK) {
        clg_tensor_free(gx);
        return st;
    }
    gin[0] = gx;
    return CLG_OK;
}

/* Max-pool backward for contiguous NHWC x and g (see max_pool_nhwc_bw). */
static clg_status max_pool_nhwc_backward(const clg_tensor *x, const clg_tensor *g, const clg_tensor *arg,
                                         cl_int8 pp, clg_tensor **gin) {
    const char *what = "backward of clg_max_pool2d";
    clg_context *ctx = g->ctx;
    clg_tensor *gx = clg_tensor_alloc(ctx, CLG_FLOAT32, 4, x->shape, what);
    if (!gx) return clg_last_status();
    cl_kernel k;
    char opts[96];
    window_options(pp.s[0], pp.s[1], pp.s[2], pp.s[3], opts, sizeof opts);
    clg_status st = clg_kernel_get(ctx, "pool", opts, "max_pool_nhwc_bw", &k);
    if (st == CLG_OK) {
        cl_int2 pad = {{pp.s[4], pp.s[5]}};
        cl_int4 dim = {{(cl_int)x->shape[0], (cl_int)x->shape[1], (cl_int)x->shape[2], (cl_int)x->shape[3]}};
        cl_int2 odim = {{(cl_int)g->shape[1], (cl_int)g->shape[2]}};
        clg_arg args[] = {CLG_ARG_BUF(g->buf), CLG_ARG_BUF(arg->buf), CLG_ARG_BUF(gx->buf), CLG_ARG(dim),
                          CLG_ARG(odim),       CLG_ARG(pad)};
        st = clg_launch(ctx, k, (size_t)(dim.s[0] * dim.s[1] * dim.s[2]), 6, args, what);
    }
    if (st != CLG_OK) {
        clg_tensor_free(gx);
        return st;
    }
    gin[0] = gx;
    return CLG_OK;
}

static clg_status pool_backward(clg_gnode *n, const clg_tensor *g, clg_tensor **gin, int kind) {
    const clg_tensor *x = n->inputs[0];
    if (!x) return CLG_OK;
    cl_int8 pp = {{(cl_int)n->iattr[0], (cl_int)n->iattr[1], (cl_int)n->iattr[2], (cl_int)n->iattr[3],
                   (cl_int)n->iattr[4], (cl_int)n->iattr[5], 0, 0}};
    clg_arg params = CLG_ARG(pp);
    clg_layout layout = (clg_layout)n->iattr[6];
    if (kind == POOL_MAX) {
        clg_status st = clg_realize(g);
        if (st != CLG_OK) return st;
        if (nhwc_fast(g, layout) && nhwc_fast(x, layout)) return max_pool_nhwc_backward(x, g, n->saved[0], pp, gin);
        return gather_backward("backward of clg_max_pool2d", "max_pool_bw", x, layout, g, n->saved[0],
                               &params, gin);
    }
    return gather_backward("backward of clg_avg_pool2d", "avg_pool_bw", x, layout, g, NULL, &params, gin);
}

clg_status clg_bw_max_pool2d(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    return pool_backward(n, g, gin, POOL_MAX);
}

clg_status clg_bw_avg_pool2d(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    return pool_backward(n, g, gin, POOL_AVG);
}

clg_status clg_bw_upsample2d(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    const clg_tensor *x = n->inputs[0];
    if (!x) return CLG_OK;
    cl_int2 sc = {{(cl_int)n->iattr[0], (cl_int)n->iattr[1]}};
    clg_arg params = CLG_ARG(sc);
    int nearest = n->iattr[2] == CLG_UPSAMPLE_NEAREST;
    return gather_backward("backward of clg_upsample2d",
                           nearest ? "upsample_nearest_bw" : "upsample_bilinear_bw", x,
                           (clg_layout)n->iattr[3], g, NULL, &params, gin);
}
