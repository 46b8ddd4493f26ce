/* Reductions (sum, mean, max, min, var, argmax, argmin) and softmax.
 *
 * A reduction over a set of axes runs on a contiguous [outer, r, inner] view: if
 * the reduced axes are adjacent in a contiguous tensor that view is free,
 * otherwise the reduced axes are permuted to the end and copied once. Each output
 * is reduced in a fixed order (no atomics), so results repeat exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph.h"

enum { MODE_SUM = 0, MODE_MAX = 1, MODE_MIN = 2, MODE_ARGMAX = 3, MODE_ARGMIN = 4 };

/* Output shape of reducing x over mask, with or without kept dimensions. */
static int reduced_shape(const clg_tensor *x, unsigned mask, int keepdims, int64_t *shape) {
    int n = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (mask & (1u << i)) {
            if (keepdims) shape[n++] = 1;
        } else {
            shape[n++] = x->shape[i];
        }
    }
    return n;
}

enum { SPLIT_CHUNK = 4096 };

static uint64_t work_group(const clg_context *ctx) {
    uint64_t wg = 64;
    while (wg > ctx->limits.max_work_group_size) wg /= 2;
    return wg;
}

/* Two passes over [rows, r] (contiguous rows): partial results per chunk of
 * SPLIT_CHUNK elements, then the partials per row. */
static clg_status reduce_split(clg_context *ctx, const clg_tensor *src, uint64_t rows, uint64_t r,
                               uint64_t parts, int mode, clg_tensor *out, const char *api) {
    uint64_t wg = work_group(ctx);
    char options[64];
    snprintf(options, sizeof options, "-DMODE=%d -DWG=%llu", mode, (unsigned long long)wg);
    cl_kernel k1, k2;
    clg_status st = clg_kernel_get(ctx, "reduce", options, "reduce_rows_split", &k1);
    if (st == CLG_OK) st = clg_kernel_get(ctx, "reduce", options, "reduce_rows", &k2);
    if (st != CLG_OK) return st;
    clg_buffer *partial = clg_buffer_new(ctx, (size_t)(rows * parts) * sizeof(float), api);
    if (!partial) return clg_last_status();
    cl_ulong off = (cl_ulong)src->offset, nr = rows, rr = r, chunk = SPLIT_CHUNK, np = parts, zero = 0;
    clg_arg a1[] = {CLG_ARG_BUF(src->buf), CLG_ARG(off), CLG_ARG(nr), CLG_ARG(rr), CLG_ARG(chunk),
                    CLG_ARG(np), CLG_ARG_BUF(partial)};
    st = clg_launch_wg(ctx, k1, (size_t)(rows * parts), (size_t)wg, 7, a1, api);
    clg_arg a2[] = {CLG_ARG_BUF(partial), CLG_ARG(zero), CLG_ARG(nr), CLG_ARG(np), CLG_ARG_BUF(out->buf)};
    if (st == CLG_OK) st = clg_launch_wg(ctx, k2, (size_t)rows, (size_t)wg, 5, a2, api);
    clg_buffer_release(partial);
    return st;
}

uint64_t clg_column_parts(uint64_t r) { return (r + CLG_COLS_CHUNK - 1) / CLG_COLS_CHUNK; }

clg_status clg_column_partials(const clg_tensor *src, uint64_t outer, uint64_t r, uint64_t inner,
                               clg_buffer *center, clg_buffer *partial, const char *api) {
    clg_context *ctx = src->ctx;
    char options[64];
    snprintf(options, sizeof options, "-DMODE=%d -DWG=%llu", MODE_SUM, (unsigned long long)work_group(ctx));
    /* CPU devices: a work-item per part looping over the contiguous columns,
     * which they vectorise; GPUs: a work-item per column of each part. */
    int cpu = ctx->info.type == CLG_DEVICE_TYPE_CPU;
    cl_kernel k;
    clg_status st = clg_kernel_get(ctx, "reduce", options, cpu ? "reduce_cols_split" : "reduce_cols_chunk", &k);
    if (st != CLG_OK) return st;
    cl_ulong off = (cl_ulong)src->offset, o = outer, rr = r, in = inner, chunk = CLG_COLS_CHUNK;
    cl_ulong np = clg_column_parts(r);
    cl_int centered = center != NULL;
    clg_buffer *c = center ? center : src->buf; /* not read unless centered */
    clg_arg args[] = {CLG_ARG_BUF(src->buf), CLG_ARG(off),      CLG_ARG(o),        CLG_ARG(rr),
                      CLG_ARG(in),           CLG_ARG(chunk),    CLG_ARG(np),       CLG_ARG_BUF(c),
                      CLG_ARG(centered),     CLG_ARG_BUF(partial)};
    return clg_launch(ctx, k, (size_t)(outer * np * (cpu ? 1 : inner)), 10, args, api);
}

/* Sums over r of [outer, r, inner]: per chunk of rows, partial sums of every
 * column (clg_column_partials), then the parts summed in order. */
static clg_status reduce_cols(clg_context *ctx, const clg_tensor *src, uint64_t outer, uint64_t r,
                              uint64_t inner, clg_tensor *out, const char *api) {
    uint64_t parts = clg_column_parts(r);
    char options[64];
    snprintf(options, sizeof options, "-DMODE=%d -DWG=%llu", MODE_SUM, (unsigned long long)work_group(ctx));
    cl_kernel k;
    clg_status st = clg_kernel_get(ctx, "reduce", options, "reduce_axis", &k);
    if (st != CLG_OK) return st;
    clg_buffer *partial = clg_buffer_new(ctx, (size_t)(outer * parts * inner) * sizeof(float), api);
    if (!partial) return clg_last_status();
    st = clg_column_partials(src, outer, r, inner, NULL, partial, api);
    cl_ulong o = outer, np = parts, in = inner, zero = 0;
    clg_arg args[] = {CLG_ARG_BUF(partial), CLG_ARG(zero), CLG_ARG(o), CLG_ARG(np), CLG_ARG(in), CLG_ARG_BUF(out->buf)};
    if (st == CLG_OK) st = clg_launch(ctx, k, (size_t)(outer * inner), 6, args, api);
    clg_buffer_release(partial);
    return st;
}

/* Runs the reduction kernel: out gets one value per kept position, in row-major
 * order of the kept axes. */
static clg_status reduce_kernel(const clg_tensor *x, unsigned mask, int mode, clg_tensor *out,
                                const char *api) {
    clg_context *ctx = x->ctx;
    clg_status st = clg_realize(x);
    if (st != CLG_OK) return st;
    const clg_tensor *src = x;
    clg_tensor *tmp = NULL;
    /* Reduced axes must form one block of a contiguous tensor. */
    int first = -1, last = -1, adjacent = 1;
    for (int i = 0; i < x->ndim; i++)
        if (mask & (1u << i)) {
            if (first < 0) first = i;
            else if (i != last + 1) adjacent = 0;
            last = i;
        }
    if (!adjacent || !clg_tensor_is_contiguous(x)) {
        int perm[CLG_MAX_DIMS], n = 0;
        for (int i = 0; i < x->ndim; i++)
            if (!(mask & (1u << i))) perm[n++] = i;
        first = n;
        for (int i = 0; i < x->ndim; i++)
            if (mask & (1u << i)) perm[n++] = i;
        last = x->ndim - 1;
        int was = clg_grad_set_enabled(ctx, 0);
        clg_tensor *p = clg_tensor_permute(x, perm);
        tmp = p ? clg_tensor_contiguous(p) : NULL;
        clg_tensor_free(p);
        clg_grad_set_enabled(ctx, was);
        if (!tmp) return clg_last_status();
        src = tmp;
    }
    uint64_t outer = 1, r = 1, inner = 1;
    for (int i = 0; i < src->ndim; i++) {
        uint64_t e = (uint64_t)src->shape[i];
        if (first >= 0 && i < first) outer *= e;
        else if (first >= 0 && i <= last) r *= e;
        else inner *= e;
    }
    if (first < 0) { /* no axes: every element is its own output */
        outer = (uint64_t)clg_tensor_numel(src);
        inner = 1;
        r = 1;
    }
    uint64_t nout = outer * inner;
    /* Few very long rows: split each row over many work-groups first. */
    uint64_t parts = (r + SPLIT_CHUNK - 1) / SPLIT_CHUNK;
    if (nout > 0 && inner == 1 && mode < MODE_ARGMAX && parts >= 4 && nout * parts <= 65536) {
        st = reduce_split(ctx, src, nout, r, parts, mode, out, api);
        clg_tensor_free(tmp);
        return st;
    }
    /* Column sums: few outputs over long strided runs. */
    if (nout > 0 && mode == MODE_SUM && inner > 1 && r >= 2 * CLG_COLS_CHUNK && nout < 65536) {
        st = reduce_cols(ctx, src, outer, r, inner, out, api);
        clg_tensor_free(tmp);
        return st;
    }
    if (nout > 0) {
        /* GPUs need many work-items: a work-group per long row always pays there;
         * on CPUs one work-item per row is faster once there are many rows. */
        int gpu = ctx->info.type == CLG_DEVICE_TYPE_DISCRETE_GPU ||
                  ctx->info.type == CLG_DEVICE_TYPE_INTEGRATED_GPU;
        int use_rows = inner == 1 && r >= 256 && (gpu || nout < 4096);
        uint64_t wg = work_group(ctx);
        char options[64];
        snprintf(options, sizeof options, "-DMODE=%d -DWG=%llu", mode, (unsigned long long)wg);
        cl_kernel k;
        st = clg_kernel_get(ctx, "reduce", options, use_rows ? "reduce_rows" : "reduce_axis", &k);
        cl_ulong off = (cl_ulong)src->offset, o = outer, rr = r, in = inner;
        if (st == CLG_OK && use_rows) {
            clg_arg args[] = {CLG_ARG_BUF(src->buf), CLG_ARG(off), CLG_ARG(o), CLG_ARG(rr),
                              CLG_ARG_BUF(out->buf)};
            st = clg_launch_wg(ctx, k, (size_t)nout, (size_t)wg, 5, args, api);
        } else if (st == CLG_OK) {
            clg_arg args[] = {CLG_ARG_BUF(src->buf), CLG_ARG(off), CLG_ARG(o), CLG_ARG(rr),
                              CLG_ARG(in), CLG_ARG_BUF(out->buf)};
            st = clg_launch(ctx, k, (size_t)nout, 6, args, api);
        }
    }
    clg_tensor_free(tmp);
    return st;
}

static clg_tensor *reduce(const char *api, clg_op op, int mode, const clg_tensor *x, int naxes,
                          const int *axes, int keepdims) {
    if (!x) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
        return NULL;
    }
    char d[220];
    if (x->dtype != CLG_FLOAT32) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is %s; reductions take float32", api,
                 clg_tensor_describe(x, d, sizeof d), clg_dtype_name(x->dtype));
        return NULL;
    }
    unsigned mask;
    if (clg_axes_mask(api, x, naxes, axes, &mask) != CLG_OK) return NULL;
    if (mode != MODE_SUM) {
        for (int i = 0; i < x->ndim; i++)
            if ((mask & (1u << i)) && x->shape[i] == 0) {
                clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: axis %d of %s is empty", api, i,
                         clg_tensor_describe(x, d, sizeof d));
                return NULL;
            }
    }
    int64_t shape[CLG_MAX_DIMS];
    int nd = reduced_shape(x, mask, keepdims, shape);
    clg_dtype dt = mode >= MODE_ARGMAX ? CLG_INT32 : CLG_FLOAT32;
    clg_tensor *out = clg_tensor_alloc(x->ctx, dt, nd, shape, api);
    if (!out) return NULL;
    if (reduce_kernel(x, mask, mode, out, api) != CLG_OK) {
        clg_tensor_free(out);
        return NULL;
    }
    if (mode < MODE_ARGMAX && clg_needs_grad(1, &x)) {
        clg_gnode *n = clg_record(out, op, 1, &x);
        if (!n) {
            clg_tensor_free(out);
            return NULL;
        }
        n->iattr[0] = mask;
        n->iattr[1] = keepdims;
        if (mode != MODE_SUM) n->saved[0] = clg_tensor_retain(x);
    }
    return out;
}

clg_tensor *clg_sum(const clg_tensor *x, int naxes, const int *axes, int keepdims) {
    return reduce("clg_sum", CLG_OP_SUM, MODE_SUM, x, naxes, axes, keepdims);
}

clg_tensor *clg_max(const clg_tensor *x, int naxes, const int *axes, int keepdims) {
    return reduce("clg_max", CLG_OP_MAX, MODE_MAX, x, naxes, axes, keepdims);
}

clg_tensor *clg_min(const clg_tensor *x, int naxes, const int *axes, int keepdims) {
    return reduce("clg_min", CLG_OP_MIN, MODE_MIN, x, naxes, axes, keepdims);
}

static clg_tensor *arg_reduce(const char *api, int mode, const clg_tensor *x, int axis, int keepdims) {
    return reduce(api, CLG_OP_SUM /* unused: no gradient */, mode, x, 1, &axis, keepdims);
}

clg_tensor *clg_argmax(const clg_tensor *x, int axis, int keepdims) {
    return arg_reduce("clg_argmax", MODE_ARGMAX, x, axis, keepdims);
}

clg_tensor *clg_argmin(const clg_tensor *x, int axis, int keepdims) {
    return arg_reduce("clg_argmin", MODE_ARGMIN, x, axis, keepdims);
}

static int64_t reduced_count(const clg_tensor *x, unsigned mask) {
    int64_t n = 1;
    for (int i = 0; i < x->ndim; i++)
        if (mask & (1u << i)) n *= x->shape[i];
    return n;
}

/* mean = sum / count, recorded as one MEAN node (so backward divides once). */
clg_tensor *clg_mean(const clg_tensor *x, int naxes, const int *axes, int keepdims) {
    const char *api = "clg_mean";
    if (!x) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
        return NULL;
    }
    unsigned mask;
    if (clg_axes_mask(api, x, naxes, axes, &mask) != CLG_OK) return NULL;
    int64_t count = reduced_count(x, mask);
    int was = clg_grad_set_enabled(x->ctx, 0);
    clg_tensor *s = reduce(api, CLG_OP_SUM, MODE_SUM, x, naxes, axes, keepdims);
    clg_tensor *m = s ? clg_mul_scalar(s, count ? 1.0f / (float)count : NAN) : NULL;
    clg_grad_set_enabled(x->ctx, was);
    clg_tensor_free(s);
    if (m && clg_needs_grad(1, &x)) {
        clg_gnode *n = clg_record(m, CLG_OP_MEAN, 1, &x);
        if (!n) {
            clg_tensor_free(m);
            return NULL;
        }
        n->iattr[0] = mask;
        n->iattr[1] = keepdims;
    }
    return m;
}

clg_tensor *clg_var(const clg_tensor *x, int naxes, const int *axes, int keepdims, int correction) {
    const char *api = "clg_var";
    if (!x) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
        return NULL;
    }
    if (x->dtype != CLG_FLOAT32) {
        char dd[220];
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is %s; reductions take float32", api,
                 clg_tensor_describe(x, dd, sizeof dd), clg_dtype_name(x->dtype));
        return NULL;
    }
    unsigned mask;
    if (clg_axes_mask(api, x, naxes, axes, &mask) != CLG_OK) return NULL;
    int64_t count = reduced_count(x, mask);
    if (correction < 0 || count - correction <= 0) {
        char d[220];
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: correction %d with %lld elements per output of %s",
                 api, correction, (long long)count, clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    clg_context *ctx = x->ctx;
    int was = clg_grad_set_enabled(ctx, 0);
    /* Two passes (mean, then squared deviations) for accuracy. */
    clg_tensor *mean = clg_mean(x, naxes, axes, 1);
    clg_tensor *dev = mean ? clg_sub(x, mean) : NULL;
    clg_tensor *sq = dev ? clg_square(dev) : NULL;
    clg_tensor *ss = sq ? clg_sum(sq, naxes, axes, keepdims) : NULL;
    clg_tensor *v = ss ? clg_mul_scalar(ss, 1.0f / (float)(count - correction)) : NULL;
    clg_grad_set_enabled(ctx, was);
    clg_tensor_free(mean);
    clg_tensor_free(dev);
    clg_tensor_free(sq);
    clg_tensor_free(ss);
    if (v && clg_needs_grad(1, &x)) {
        clg_gnode *n = clg_record(v, CLG_OP_VAR, 1, &x);
        if (!n) {
            clg_tensor_free(v);
            return NULL;
        }
        n->iattr[0] = mask;
        n->iattr[1] = keepdims;
        n->iattr[2] = correction;
        n->saved[0] = clg_tensor_retain(x);
    }
    return v;
}

static int mask_to_axes(unsigned mask, int ndim, int *axes) {
    int n = 0;
    for (int i = 0; i < ndim; i++)
        if (mask & (1u << i)) axes[n++] = i;
    return n;
}

static clg_status normalize_axis(const char *api, const clg_tensor *x, int axis, int *out) {
    if (!x) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
    unsigned mask;
    clg_status st = clg_axes_mask(api, x, 1, &axis, &mask);
    if (st != CLG_OK) return st;
    *out = axis < 0 ? axis + x->ndim : axis;
    return CLG_OK;
}

/* softmax and log_softmax along one axis: x - max is exponentiated, summed and
 * normalised. */
static clg_tensor *softmax_impl(const char *api, const clg_tensor *x, int axis, int log_form) {
    int a;
    if (normalize_axis(api, x, axis, &a) != CLG_OK) return NULL;
    if (x->dtype != CLG_FLOAT32) {
        char dd[220];
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is %s; reductions take float32", api,
                 clg_tensor_describe(x, dd, sizeof dd), clg_dtype_name(x->dtype));
        return NULL;
    }
    clg_context *ctx = x->ctx;
    int was = clg_grad_set_enabled(ctx, 0);
    clg_tensor *m = x->shape[a] ? clg_max(x, 1, &a, 1) : clg_tensor_zeros(ctx, CLG_FLOAT32, 0, NULL);
    clg_tensor *z = m ? clg_sub(x, m) : NULL;
    clg_tensor *e = z ? clg_exp(z) : NULL;
    clg_tensor *s = e ? clg_sum(e, 1, &a, 1) : NULL;
    clg_tensor *y = NULL;
    if (s && log_form) {
        clg_tensor *ls = clg_log(s);
        y = ls ? clg_sub(z, ls) : NULL;
        clg_tensor_free(ls);
    } else if (s) {
        y = clg_div(e, s);
    }
    clg_grad_set_enabled(ctx, was);
    clg_tensor_free(m);
    clg_tensor_free(z);
    clg_tensor_free(e);
    clg_tensor_free(s);
    if (y && clg_realize(y) != CLG_OK) {
        clg_tensor_free(y);
        return NULL;
    }
    if (y && clg_needs_grad(1, &x)) {
        clg_gnode *n = clg_record(y, log_form ? CLG_OP_LOG_SOFTMAX : CLG_OP_SOFTMAX, 1, &x);
        if (!n) {
            clg_tensor_free(y);
            return NULL;
        }
        n->iattr[0] = a;
    }
    return y;
}

clg_tensor *clg_softmax(const clg_tensor *x, int axis) { return softmax_impl("clg_softmax", x, axis, 0); }
clg_tensor *clg_log_softmax(const clg_tensor *x, int axis) {
    return softmax_impl("clg_log_softmax", x, axis, 1);
}

/* --- backward ------------------------------------------------------------------------------ */

/* g (the reduced shape) reshaped to keep the reduced axes as 1 and broadcast to x. */
static clg_tensor *expand_back(const clg_tensor *g, const clg_tensor *x, unsigned mask) {
    int64_t kept[CLG_MAX_DIMS];
    int nd = reduced_shape(x, mask, 1, kept);
    clg_tensor *gk = clg_tensor_reshape(g, nd, kept);
    if (!gk) return NULL;
    clg_tensor *e = clg_broadcast_to(gk, x->ndim, x->shape);
    clg_tensor_free(gk);
    return e;
}

clg_status clg_bw_sum(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    gin[0] = expand_back(g, n->inputs[0], (unsigned)n->iattr[0]);
    return gin[0] ? CLG_OK : clg_last_status();
}

clg_status clg_bw_mean(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    const clg_tensor *x = n->inputs[0];
    int64_t count = reduced_count(x, (unsigned)n->iattr[0]);
    clg_tensor *e = expand_back(g, x, (unsigned)n->iattr[0]);
    gin[0] = e ? clg_mul_scalar(e, count ? 1.0f / (float)count : 0.0f) : NULL;
    clg_tensor_free(e);
    return gin[0] ? CLG_OK : clg_last_status();
}

/* The gradient goes to the positions holding the extreme value, shared evenly
 * among ties. */
clg_status clg_bw_minmax(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    const clg_tensor *x = n->saved[0];
    unsigned mask = (unsigned)n->iattr[0];
    int axes[CLG_MAX_DIMS];
    int na = mask_to_axes(mask, x->ndim, axes);
    clg_tensor *m = expand_back(out, x, mask);
    clg_tensor *hit = m ? clg_eq(x, m) : NULL;
    clg_tensor *cnt = hit ? clg_sum(hit, na, axes, 1) : NULL;
    clg_tensor *ge = expand_back(g, x, mask);
    clg_tensor *share = ge && cnt ? clg_div(ge, cnt) : NULL;
    gin[0] = share ? clg_mul(share, hit) : NULL;
    clg_tensor_free(m);
    clg_tensor_free(hit);
    clg_tensor_free(cnt);
    clg_tensor_free(ge);
    clg_tensor_free(share);
    return gin[0] ? CLG_OK : clg_last_status();
}

clg_status clg_bw_var(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    const clg_tensor *x = n->saved[0];
    unsigned mask = (unsigned)n->iattr[0];
    int axes[CLG_MAX_DIMS];
    int na = mask_to_axes(mask, x->ndim, axes);
    int64_t count = reduced_count(x, mask);
    clg_tensor *mean = clg_mean(x, na, axes, 1);
    clg_tensor *dev = mean ? clg_sub(x, mean) : NULL;
    clg_tensor *ge = expand_back(g, x, mask);
    clg_tensor *t = ge && dev ? clg_mul(ge, dev) : NULL;
    gin[0] = t ? clg_mul_scalar(t, 2.0f / (float)(count - n->iattr[2])) : NULL;
    clg_tensor_free(mean);
    clg_tensor_free(dev);
    clg_tensor_free(ge);
    clg_tensor_free(t);
    return gin[0] ? CLG_OK : clg_last_status();
}

clg_status clg_bw_softmax(clg_gnode *n, const clg_tensor *y, const clg_tensor *g, clg_tensor **gin) {
    int a = (int)n->iattr[0];
    clg_tensor *gy = clg_mul(g, y);
    clg_tensor *s = gy ? clg_sum(gy, 1, &a, 1) : NULL;
    clg_tensor *d = s ? clg_sub(g, s) : NULL;
    gin[0] = d ? clg_mul(y, d) : NULL;
    clg_tensor_free(gy);
    clg_tensor_free(s);
    clg_tensor_free(d);
    return gin[0] ? CLG_OK : clg_last_status();
}

clg_status clg_bw_log_softmax(clg_gnode *n, const clg_tensor *y, const clg_tensor *g, clg_tensor **gin) {
    int a = (int)n->iattr[0];
    clg_tensor *s = clg_sum(g, 1, &a, 1);
    clg_tensor *p = clg_exp(y);
    clg_tensor *ps = s && p ? clg_mul(p, s) : NULL;
    gin[0] = ps ? clg_sub(g, ps) : NULL;
    clg_tensor_free(s);
    clg_tensor_free(p);
    clg_tensor_free(ps);
    return gin[0] ? CLG_OK : clg_last_status();
}
