/* Shape ops beyond views: concat, stack, split, pad, gather, index_select,
 * one_hot, embedding; squeeze and unsqueeze are reshapes.
 *
 * Data movement runs on the device: concat copies each input into a slice view
 * of its output (tensor.cl's strided copy), the rest use cl/shape.cl. Forward
 * copies move 4-byte bit patterns, so float32 and int32 both work (concat and
 * stack take every dtype); gradients are float32.
 *
 * Gradients that scatter (gather, index_select, embedding, reflect padding) sum
 * in a fixed order without atomics, so they repeat bit for bit:
 *   - gather, index_select, embedding: one work-item per column of the index
 *     (the coordinates other than the gathered axis) walks the axis in order and
 *     adds into its own column of a zeroed gradient. Work is O(numel(index))
 *     (index_select: O(numel(out))), parallel over numel / extent along the
 *     axis; for embedding that is D work-items each looping over all N indices,
 *     O(N*D) work with N sequential steps.
 *   - reflect padding: one work-item per input element sums the (at most 3 per
 *     axis) output positions that read it.
 * Indices outside [0, extent) read as 0 in the forward pass and get no gradient;
 * they are checked on the device (checking them on the host would cost a read
 * back). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph.h"

/* A CONCAT node lists its inputs' extents in iattr[1..]; wider concats are
 * recorded as a tree of such nodes over views of the output. */
enum { CONCAT_FANIN = CLG_NODE_ATTRS - 1 };

/* --- helpers ------------------------------------------------------------------------------ */

static clg_status check_data_dtype(const char *api, const clg_tensor *t, const char *what) {
    if (t->dtype == CLG_FLOAT32 || t->dtype == CLG_INT32) return CLG_OK;
    char d[220];
    return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s is %s (float32 or int32 only)", api, what,
                    clg_tensor_describe(t, d, sizeof d), clg_dtype_name(t->dtype));
}

static clg_status check_index_dtype(const char *api, const clg_tensor *t, const char *what) {
    if (t->dtype == CLG_INT32) return CLG_OK;
    char d[220];
    return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s is %s; indices must be int32", api, what,
                    clg_tensor_describe(t, d, sizeof d), clg_dtype_name(t->dtype));
}

static clg_status check_same_context(const char *api, const clg_tensor *a, const clg_tensor *b) {
    if (a->ctx == b->ctx) return CLG_OK;
    char d1[220], d2[220];
    return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s and %s belong to different contexts", api,
                    clg_tensor_describe(a, d1, sizeof d1), clg_tensor_describe(b, d2, sizeof d2));
}

/* axis (negative counts from the end) as an index into x's dimensions. */
static clg_status normalize_axis(const char *api, const clg_tensor *x, int axis, int *out) {
    int a = axis < 0 ? axis + x->ndim : axis;
    if (a < 0 || a >= x->ndim) {
        char d[220];
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: axis %d is out of range for %s", api, axis,
                        clg_tensor_describe(x, d, sizeof d));
    }
    *out = a;
    return CLG_OK;
}

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

static cl_ulong8 pack_u8(int n, const int64_t *v) {
    cl_ulong8 r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < n; i++) r.s[i] = (cl_ulong)v[i];
    return r;
}

static cl_long8 pack_l8(int n, const int64_t *v) {
    cl_long8 r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < n; i++) r.s[i] = (cl_long)v[i];
    return r;
}

/* A gradient that is a view of g stays a view (every consumer reads strides),
 * except for a parameter, whose stored gradient gets a compact buffer of its own. */
static clg_tensor *settle_grad(const clg_tensor *in, clg_tensor *view) {
    if (!view || !in->requires_grad || clg_tensor_is_contiguous(view)) return view;
    clg_tensor *c = clg_tensor_contiguous(view);
    clg_tensor_free(view);
    return c;
}

/* out (contiguous, `shape`) = x gathered along axis: element c of out is x at c
 * with the axis coordinate replaced by index at c. x's strides and idx_strides
 * are over `shape` (x has rank nd; idx_strides may broadcast with 0). */
static clg_status run_gather(const clg_tensor *x, const clg_tensor *index, const int64_t *idx_strides,
                             clg_tensor *out, int nd, const int64_t *shape, int axis, const char *api) {
    int64_t n = numel_of(nd, shape);
    if (n == 0) return CLG_OK;
    clg_status st = clg_realize(x);
    if (st == CLG_OK) st = clg_realize(index);
    cl_kernel k;
    if (st == CLG_OK) st = clg_kernel_get(x->ctx, "shape", NULL, "gather_axis", &k);
    if (st != CLG_OK) return st;
    cl_ulong x_off = (cl_ulong)x->offset, i_off = (cl_ulong)index->offset, cnt = (cl_ulong)n;
    cl_long8 xs = pack_l8(nd, x->strides), is = pack_l8(nd, idx_strides);
    cl_long ext = x->shape[axis];
    cl_ulong8 sh = pack_u8(nd, shape);
    cl_int cnd = nd, cax = axis;
    clg_arg args[] = {CLG_ARG_BUF(x->buf),     CLG_ARG(x_off), CLG_ARG(xs), CLG_ARG(ext),
                      CLG_ARG_BUF(index->buf), CLG_ARG(i_off), CLG_ARG(is), CLG_ARG_BUF(out->buf),
                      CLG_ARG(cnt),            CLG_ARG(cnd),   CLG_ARG(sh), CLG_ARG(cax)};
    return clg_launch(x->ctx, k, (size_t)n, 12, args, api);
}

/* The gradient of run_gather: dst (zeroed float32, contiguous, rank of src)
 * gets dst[c with axis := index[c]] += src[c] over src's shape, in a fixed order. */
static clg_status run_scatter(clg_tensor *dst, const clg_tensor *src, const clg_tensor *index,
                              const int64_t *idx_strides, int axis, const char *what) {
    int nd = src->ndim;
    int64_t ncols = 1;
    for (int d = 0; d < nd; d++)
        if (d != axis) ncols *= src->shape[d];
    if (ncols == 0 || src->shape[axis] == 0 || clg_tensor_numel(dst) == 0) return CLG_OK;
    clg_status st = clg_realize(src);
    if (st == CLG_OK) st = clg_realize(index);
    cl_kernel k;
    if (st == CLG_OK) st = clg_kernel_get(dst->ctx, "shape", NULL, "scatter_add_axis", &k);
    if (st != CLG_OK) return st;
    cl_long8 ds = pack_l8(nd, dst->strides), ss = pack_l8(nd, src->strides), is = pack_l8(nd, idx_strides);
    cl_long ext = dst->shape[axis];
    cl_ulong s_off = (cl_ulong)src->offset, i_off = (cl_ulong)index->offset, cols = (cl_ulong)ncols;
    cl_ulong8 sh = pack_u8(nd, src->shape);
    cl_int cnd = nd, cax = axis;
    clg_arg args[] = {CLG_ARG_BUF(dst->buf),   CLG_ARG(ds),    CLG_ARG(ext),
                      CLG_ARG_BUF(src->buf),   CLG_ARG(s_off), CLG_ARG(ss),
                      CLG_ARG_BUF(index->buf), CLG_ARG(i_off), CLG_ARG(is),
                      CLG_ARG(cols),           CLG_ARG(cnd),   CLG_ARG(sh),  CLG_ARG(cax)};
    return clg_launch(dst->ctx, k, (size_t)ncols, 13, args, what);
}

/* --- squeeze, unsqueeze (reshapes) -------------------------------------------------------- */

clg_tensor *clg_squeeze(const clg_tensor *x, int axis) {
    const char *api = "clg_squeeze";
    if (!x) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
        return NULL;
    }
    int a = axis < 0 ? axis + x->ndim : axis;
    char d[220];
    if (a < 0 || a >= x->ndim || x->shape[a] != 1) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: axis %d of %s is out of range or not of extent 1",
                 api, axis, clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    int64_t shape[CLG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != a) shape[n++] = x->shape[i];
    return clg_tensor_reshape(x, n, shape);
}

clg_tensor *clg_unsqueeze(const clg_tensor *x, int axis) {
    const char *api = "clg_unsqueeze";
    if (!x) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
        return NULL;
    }
    int a = axis < 0 ? axis + x->ndim + 1 : axis;
    char d[220];
    if (a < 0 || a > x->ndim || x->ndim >= CLG_MAX_DIMS) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: axis %d is out of range for %s", api, axis,
                 clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    int64_t shape[CLG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i <= x->ndim; i++) {
        if (i == a) shape[n++] = 1;
        if (i < x->ndim) shape[n++] = x->shape[i];
    }
    return clg_tensor_reshape(x, n, shape);
}

/* --- concat, stack, split ------------------------------------------------------------------ */

/* n inputs, none NULL, on one context with one dtype and one rank. */
static clg_status check_list(const char *api, int n, const clg_tensor *const *xs) {
    if (n <= 0 || !xs)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %d inputs%s (at least one is needed)", api, n,
                        xs ? "" : " in a NULL list");
    for (int i = 0; i < n; i++)
        if (!xs[i]) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: input %d of %d is NULL", api, i, n);
    char d0[220], d[220];
    clg_tensor_describe(xs[0], d0, sizeof d0);
    for (int i = 1; i < n; i++) {
        const clg_tensor *x = xs[i];
        if (x->ctx != xs[0]->ctx)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: input %d %s belongs to another context than input 0 %s", api, i,
                            clg_tensor_describe(x, d, sizeof d), d0);
        if (x->dtype != xs[0]->dtype)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: input %d %s is %s, input 0 %s is %s", api,
                            i, clg_tensor_describe(x, d, sizeof d), clg_dtype_name(x->dtype), d0,
                            clg_dtype_name(xs[0]->dtype));
        if (x->ndim != xs[0]->ndim)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: input %d %s has rank %d, input 0 %s rank %d",
                            api, i, clg_tensor_describe(x, d, sizeof d), x->ndim, d0, xs[0]->ndim);
    }
    return CLG_OK;
}

/* Shapes equal to input 0's except along `skip` (-1: everywhere). */
static clg_status check_same_shapes(const char *api, int n, const clg_tensor *const *xs, int skip) {
    for (int i = 1; i < n; i++)
        for (int d = 0; d < xs[0]->ndim; d++)
            if (d != skip && xs[i]->shape[d] != xs[0]->shape[d]) {
                char d0[220], d1[220];
                if (skip >= 0)
                    return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                                    "%s: input %d %s does not match input 0 %s outside axis %d", api, i,
                                    clg_tensor_describe(xs[i], d1, sizeof d1),
                                    clg_tensor_describe(xs[0], d0, sizeof d0), skip);
                return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: input %d %s does not match input 0 %s",
                                api, i, clg_tensor_describe(xs[i], d1, sizeof d1),
                                clg_tensor_describe(xs[0], d0, sizeof d0));
            }
    return CLG_OK;
}

/* Records the CONCAT node(s) of out = concat(xs) along axis. Up to CONCAT_FANIN
 * inputs make one node; more are grouped under views of out (slices, no copies)
 * that get nodes of their own, so backward hands each input a slice of g. */
static clg_status record_concat(clg_tensor *out, int n, const clg_tensor *const *xs, int axis) {
    if (n <= CONCAT_FANIN) {
        clg_gnode *node = clg_record(out, CLG_OP_CONCAT, n, xs);
        if (!node) return clg_last_status();
        node->iattr[0] = axis;
        for (int i = 0; i < n; i++) node->iattr[1 + i] = xs[i]->shape[axis];
        return CLG_OK;
    }
    int per = (n + CONCAT_FANIN - 1) / CONCAT_FANIN, groups = (n + per - 1) / per;
    clg_tensor *parts[CONCAT_FANIN] = {0};
    clg_status st = CLG_OK;
    int64_t off = 0;
    for (int gi = 0; gi < groups && st == CLG_OK; gi++) {
        int first = gi * per, cnt = n - first < per ? n - first : per;
        int64_t ext = 0;
        for (int j = 0; j < cnt; j++) ext += xs[first + j]->shape[axis];
        int was = clg_grad_set_enabled(out->ctx, 0);
        parts[gi] = clg_tensor_slice(out, axis, off, off + ext, 1);
        clg_grad_set_enabled(out->ctx, was);
        off += ext;
        if (!parts[gi]) st = clg_last_status();
        else if (clg_needs_grad(cnt, xs + first)) st = record_concat(parts[gi], cnt, xs + first, axis);
    }
    if (st == CLG_OK) st = record_concat(out, groups, (const clg_tensor *const *)parts, axis);
    for (int gi = 0; gi < groups; gi++) clg_tensor_free(parts[gi]);
    return st;
}

/* Concatenation of checked inputs along axis a into a new tensor of `shape`. */
static clg_tensor *concat_checked(const char *api, int n, const clg_tensor *const *xs, int a,
                                  const int64_t *shape) {
    clg_context *ctx = xs[0]->ctx;
    clg_tensor *out = clg_tensor_alloc(ctx, xs[0]->dtype, xs[0]->ndim, shape, api);
    if (!out) return NULL;
    clg_status st = CLG_OK;
    int64_t off = 0;
    int was = clg_grad_set_enabled(ctx, 0);
    for (int i = 0; i < n && st == CLG_OK; i++) {
        int64_t ext = xs[i]->shape[a];
        if (ext > 0 && clg_tensor_numel(xs[i]) > 0) {
            clg_tensor *window = clg_tensor_slice(out, a, off, off + ext, 1);
            st = window ? clg_copy_into(window, xs[i], api) : clg_last_status();
            clg_tensor_free(window);
        }
        off += ext;
    }
    clg_grad_set_enabled(ctx, was);
    if (st == CLG_OK && clg_needs_grad(n, xs)) st = record_concat(out, n, xs, a);
    if (st != CLG_OK) {
        clg_tensor_free(out);
        return NULL;
    }
    return out;
}

clg_tensor *clg_concat(int n, const clg_tensor *const *xs, int axis) {
    const char *api = "clg_concat";
    int a;
    if (check_list(api, n, xs) != CLG_OK || normalize_axis(api, xs[0], axis, &a) != CLG_OK ||
        check_same_shapes(api, n, xs, a) != CLG_OK)
        return NULL;
    int64_t shape[CLG_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (xs[i]->shape[a] > INT64_MAX - total) {
            clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: the extents of %d inputs along axis %d overflow",
                     api, n, a);
            return NULL;
        }
        total += xs[i]->shape[a];
    }
    shape[a] = total;
    return concat_checked(api, n, xs, a, shape);
}

clg_tensor *clg_stack(int n, const clg_tensor *const *xs, int axis) {
    const char *api = "clg_stack";
    if (check_list(api, n, xs) != CLG_OK || check_same_shapes(api, n, xs, -1) != CLG_OK) return NULL;
    int nd = xs[0]->ndim;
    int a = axis < 0 ? axis + nd + 1 : axis;
    char d[220];
    if (a < 0 || a > nd || nd >= CLG_MAX_DIMS) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: axis %d is out of range for stacking %s", api, axis,
                 clg_tensor_describe(xs[0], d, sizeof d));
        return NULL;
    }
    clg_tensor **parts = calloc((size_t)n, sizeof *parts);
    if (!parts) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: %d inputs", api, n);
        return NULL;
    }
    clg_tensor *out = NULL;
    int ok = 1;
    for (int i = 0; i < n && ok; i++) ok = (parts[i] = clg_unsqueeze(xs[i], a)) != NULL;
    if (ok) {
        int64_t shape[CLG_MAX_DIMS];
        memcpy(shape, parts[0]->shape, sizeof shape);
        shape[a] = n;
        out = concat_checked(api, n, (const clg_tensor *const *)parts, a, shape);
    }
    for (int i = 0; i < n; i++) clg_tensor_free(parts[i]);
    free(parts);
    return out;
}

clg_status clg_split(const clg_tensor *x, int axis, int n, const int64_t *sizes, clg_tensor **out) {
    const char *api = "clg_split";
    if (!out) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: output array is NULL", api);
    for (int i = 0; i < n; i++) out[i] = NULL; /* NULLs on every failure, as documented */
    if (!x) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
    char d[220];
    if (n <= 0 || !sizes)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %d parts%s for %s", api, n,
                        sizes ? "" : " with NULL sizes", clg_tensor_describe(x, d, sizeof d));
    int a;
    clg_status st = normalize_axis(api, x, axis, &a);
    if (st != CLG_OK) return st;
    int64_t ext = x->shape[a], sum = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0 || sizes[i] > ext - sum)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "%s: size %lld of part %d is negative or overruns extent %lld of axis %d of %s",
                            api, (long long)sizes[i], i, (long long)ext, a,
                            clg_tensor_describe(x, d, sizeof d));
        sum += sizes[i];
    }
    if (sum != ext)
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                        "%s: %d sizes sum to %lld, axis %d of %s has extent %lld", api, n,
                        (long long)sum, a, clg_tensor_describe(x, d, sizeof d), (long long)ext);
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        out[i] = clg_tensor_slice(x, a, off, off + sizes[i], 1);
        if (!out[i]) {
            st = clg_last_status();
            for (int j = 0; j < i; j++) {
                clg_tensor_free(out[j]);
                out[j] = NULL;
            }
            return st;
        }
        off += sizes[i];
    }
    return CLG_OK;
}

/* --- pad ------------------------------------------------------------------------------------- */

/* The element bit pattern of value in dtype (float32 or int32; int32 truncates
 * and saturates, NaN gives 0). */
static cl_uint pad_value_bits(clg_dtype dtype, float value) {
    cl_uint bits;
    if (dtype == CLG_FLOAT32) {
        memcpy(&bits, &value, sizeof bits);
        return bits;
    }
    double v = isnan(value) ? 0.0 : value;
    v = v < (double)INT32_MIN ? (double)INT32_MIN : v > (double)INT32_MAX ? (double)INT32_MAX : v;
    return (cl_uint)(int32_t)v;
}

clg_tensor *clg_pad(const clg_tensor *x, const int64_t *pads, clg_pad_mode mode, float value) {
    const char *api = "clg_pad";
    if (!x) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
        return NULL;
    }
    char d[220];
    if (x->ndim > 0 && !pads) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: pads is NULL for %s", api,
                 clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    if (mode != CLG_PAD_CONSTANT && mode != CLG_PAD_REFLECT) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: mode %d is neither CLG_PAD_CONSTANT nor CLG_PAD_REFLECT",
                 api, (int)mode);
        return NULL;
    }
    if (check_data_dtype(api, x, "input") != CLG_OK) return NULL;
    int reflect = mode == CLG_PAD_REFLECT;
    int64_t shape[CLG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        int64_t b = pads[2 * i], e = pads[2 * i + 1], ext = x->shape[i];
        if (b < 0 || e < 0) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: pads %lld, %lld of axis %d of %s are negative", api,
                     (long long)b, (long long)e, i, clg_tensor_describe(x, d, sizeof d));
            return NULL;
        }
        if (reflect && (b > 0 || e > 0) && (b >= ext || e >= ext)) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                     "%s: reflect pads %lld, %lld of axis %d must be smaller than its extent %lld (%s)",
                     api, (long long)b, (long long)e, i, (long long)ext,
                     clg_tensor_describe(x, d, sizeof d));
            return NULL;
        }
        if (b > INT64_MAX - ext || e > INT64_MAX - ext - b) {
            clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: pads %lld, %lld of axis %d of %s overflow", api,
                     (long long)b, (long long)e, i, clg_tensor_describe(x, d, sizeof d));
            return NULL;
        }
        shape[i] = ext + b + e;
    }
    clg_context *ctx = x->ctx;
    clg_tensor *out = clg_tensor_alloc(ctx, x->dtype, x->ndim, shape, api);
    if (!out) return NULL;
    int64_t n = clg_tensor_numel(out);
    clg_status st = CLG_OK;
    if (n > 0) {
        int64_t before[CLG_MAX_DIMS];
        for (int i = 0; i < x->ndim; i++) before[i] = pads[2 * i];
        cl_kernel k;
        st = clg_realize(x);
        if (st == CLG_OK) st = clg_kernel_get(ctx, "shape", NULL, "pad_forward", &k);
        if (st == CLG_OK) {
            cl_ulong x_off = (cl_ulong)x->offset, cnt = (cl_ulong)n;
            cl_ulong8 xsh = pack_u8(x->ndim, x->shape), osh = pack_u8(x->ndim, shape);
            cl_long8 xst = pack_l8(x->ndim, x->strides), bf = pack_l8(x->ndim, before);
            cl_int nd = x->ndim, refl = reflect;
            cl_uint bits = pad_value_bits(x->dtype, value);
            clg_arg args[] = {CLG_ARG_BUF(x->buf),   CLG_ARG(x_off), CLG_ARG(xsh), CLG_ARG(xst),
                              CLG_ARG_BUF(out->buf), CLG_ARG(cnt),   CLG_ARG(nd),  CLG_ARG(osh),
                              CLG_ARG(bf),           CLG_ARG(refl),  CLG_ARG(bits)};
            st = clg_launch(ctx, k, (size_t)n, 11, args, api);
        }
    }
    if (st == CLG_OK && clg_needs_grad(1, &x)) {
        clg_gnode *node = clg_record(out, CLG_OP_PAD, 1, &x);
        if (!node) st = clg_last_status();
        else {
            for (int i = 0; i < 2 * x->ndim; i++) node->iattr[i] = pads[i]; /* 2 * 8 fit */
            node->fattr[0] = (float)reflect;
        }
    }
    if (st != CLG_OK) {
        clg_tensor_free(out);
        return NULL;
    }
    return out;
}

/* --- gather, index_select, one_hot, embedding ---------------------------------------------- */

/* Finishes gather and index_select: records the node (axis and index saved) or
 * frees out after a failure. */
static clg_tensor *record_indexed(clg_status st, clg_tensor *out, clg_op op, const clg_tensor *x,
                                  const clg_tensor *index, int axis) {
    if (st == CLG_OK && clg_needs_grad(1, &x)) {
        clg_gnode *node = clg_record(out, op, 1, &x);
        if (!node) st = clg_last_status();
        else {
            node->iattr[0] = axis;
            node->saved[0] = clg_tensor_retain(index);
        }
    }
    if (st != CLG_OK) {
        clg_tensor_free(out);
        return NULL;
    }
    return out;
}

clg_tensor *clg_gather(const clg_tensor *x, int axis, const clg_tensor *index) {
    const char *api = "clg_gather";
    if (!x || !index) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", api, x ? "index" : "tensor");
        return NULL;
    }
    char d1[220], d2[220];
    int a;
    if (check_data_dtype(api, x, "input") != CLG_OK || check_index_dtype(api, index, "index") != CLG_OK ||
        check_same_context(api, x, index) != CLG_OK)
        return NULL;
    if (index->ndim != x->ndim) {
        clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: index %s must have the rank of input %s", api,
                 clg_tensor_describe(index, d1, sizeof d1), clg_tensor_describe(x, d2, sizeof d2));
        return NULL;
    }
    if (normalize_axis(api, x, axis, &a) != CLG_OK) return NULL;
    for (int i = 0; i < x->ndim; i++)
        if (i != a && index->shape[i] > x->shape[i]) {
            clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: index %s exceeds input %s along axis %d", api,
                     clg_tensor_describe(index, d1, sizeof d1), clg_tensor_describe(x, d2, sizeof d2), i);
            return NULL;
        }
    clg_tensor *out = clg_tensor_alloc(x->ctx, x->dtype, index->ndim, index->shape, api);
    if (!out) return NULL;
    clg_status st = run_gather(x, index, index->strides, out, index->ndim, index->shape, a, api);
    return record_indexed(st, out, CLG_OP_GATHER, x, index, a);
}

/* Strides (over x's rank) that broadcast a 1-D index along axis a. */
static void select_strides(const clg_tensor *x, const clg_tensor *index, int a, int64_t *strides) {
    for (int i = 0; i < x->ndim; i++) strides[i] = 0;
    strides[a] = index->strides[0];
}

clg_tensor *clg_index_select(const clg_tensor *x, int axis, const clg_tensor *index) {
    const char *api = "clg_index_select";
    if (!x || !index) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", api, x ? "index" : "tensor");
        return NULL;
    }
    char d1[220], d2[220];
    int a;
    if (check_data_dtype(api, x, "input") != CLG_OK || check_index_dtype(api, index, "index") != CLG_OK ||
        check_same_context(api, x, index) != CLG_OK)
        return NULL;
    if (index->ndim != 1) {
        clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: index %s must be 1-D (input %s)", api,
                 clg_tensor_describe(index, d1, sizeof d1), clg_tensor_describe(x, d2, sizeof d2));
        return NULL;
    }
    if (normalize_axis(api, x, axis, &a) != CLG_OK) return NULL;
    int64_t shape[CLG_MAX_DIMS], is[CLG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[a] = index->shape[0];
    select_strides(x, index, a, is);
    clg_tensor *out = clg_tensor_alloc(x->ctx, x->dtype, x->ndim, shape, api);
    if (!out) return NULL;
    clg_status st = run_gather(x, index, is, out, x->ndim, shape, a, api);
    return record_indexed(st, out, CLG_OP_INDEX_SELECT, x, index, a);
}

clg_tensor *clg_one_hot(const clg_tensor *labels, int num_classes) {
    const char *api = "clg_one_hot";
    if (!labels) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: labels are NULL", api);
        return NULL;
    }
    char d[220];
    if (check_index_dtype(api, labels, "labels") != CLG_OK) return NULL;
    if (num_classes <= 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: num_classes %d must be positive (labels %s)", api,
                 num_classes, clg_tensor_describe(labels, d, sizeof d));
        return NULL;
    }
    if (labels->ndim >= CLG_MAX_DIMS) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "%s: labels %s leave no room for the class axis (rank %d at most)", api,
                 clg_tensor_describe(labels, d, sizeof d), CLG_MAX_DIMS - 1);
        return NULL;
    }
    int64_t shape[CLG_MAX_DIMS];
    memcpy(shape, labels->shape, sizeof shape);
    shape[labels->ndim] = num_classes;
    clg_context *ctx = labels->ctx;
    clg_tensor *out = clg_tensor_alloc(ctx, CLG_FLOAT32, labels->ndim + 1, shape, api);
    if (!out) return NULL;
    int64_t n = clg_tensor_numel(out);
    clg_status st = CLG_OK;
    if (n > 0) {
        cl_kernel k;
        st = clg_realize(labels);
        if (st == CLG_OK) st = clg_kernel_get(ctx, "shape", NULL, "one_hot", &k);
        if (st == CLG_OK) {
            cl_ulong l_off = (cl_ulong)labels->offset, cnt = (cl_ulong)n;
            cl_long8 lst = pack_l8(labels->ndim, labels->strides);
            cl_ulong8 lsh = pack_u8(labels->ndim, labels->shape);
            cl_int nd = labels->ndim, classes = num_classes;
            clg_arg args[] = {CLG_ARG_BUF(labels->buf), CLG_ARG(l_off), CLG_ARG(lst),
                              CLG_ARG_BUF(out->buf),    CLG_ARG(cnt),   CLG_ARG(nd),
                              CLG_ARG(lsh),             CLG_ARG(classes)};
            st = clg_launch(ctx, k, (size_t)n, 8, args, api);
        }
    }
    if (st != CLG_OK) {
        clg_tensor_free(out);
        return NULL;
    }
    return out;
}

clg_tensor *clg_embedding(const clg_tensor *weight, const clg_tensor *indices) {
    const char *api = "clg_embedding";
    if (!weight || !indices) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", api, weight ? "indices" : "weight");
        return NULL;
    }
    char d1[220], d2[220];
    if (weight->dtype != CLG_FLOAT32 || weight->ndim != 2) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: weight %s is %s; it must be float32 [V,D]", api,
                 clg_tensor_describe(weight, d1, sizeof d1), clg_dtype_name(weight->dtype));
        return NULL;
    }
    if (check_index_dtype(api, indices, "indices") != CLG_OK ||
        check_same_context(api, weight, indices) != CLG_OK)
        return NULL;
    if (indices->ndim >= CLG_MAX_DIMS) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "%s: indices %s leave no room for the embedding axis of weight %s", api,
                 clg_tensor_describe(indices, d1, sizeof d1), clg_tensor_describe(weight, d2, sizeof d2));
        return NULL;
    }
    int64_t shape[CLG_MAX_DIMS];
    memcpy(shape, indices->shape, sizeof shape);
    shape[indices->ndim] = weight->shape[1];
    clg_tensor *out = clg_tensor_alloc(weight->ctx, CLG_FLOAT32, indices->ndim + 1, shape, api);
    if (!out) return NULL;
    /* The indices as a flat run of N (copied if they are a strided view), read as
     * an [N,D] index broadcast along D. */
    clg_tensor *flat = clg_tensor_is_contiguous(indices) ? clg_tensor_retain(indices)
                                                         : clg_tensor_contiguous(indices);
    int64_t sh2[2] = {clg_tensor_numel(indices), weight->shape[1]}, is2[2] = {1, 0};
    clg_status st = flat ? run_gather(weight, flat, is2, out, 2, sh2, 0, api) : clg_last_status();
    if (st == CLG_OK && clg_needs_grad(1, &weight)) {
        clg_gnode *node = clg_record(out, CLG_OP_EMBEDDING, 1, &weight);
        if (!node) st = clg_last_status();
        else node->saved[0] = clg_tensor_retain(flat);
    }
    clg_tensor_free(flat);
    if (st != CLG_OK) {
        clg_tensor_free(out);
        return NULL;
    }
    return out;
}

/* --- backward ------------------------------------------------------------------------------ */

/* Each input gets its slice of g along the axis. */
clg_status clg_bw_concat(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    int axis = (int)n->iattr[0];
    int64_t off = 0;
    for (int i = 0; i < n->ninputs; i++) {
        int64_t ext = n->iattr[1 + i];
        if (n->inputs[i]) {
            gin[i] = settle_grad(n->inputs[i], clg_tensor_slice(g, axis, off, off + ext, 1));
            if (!gin[i]) return clg_last_status();
        }
        off += ext;
    }
    return CLG_OK;
}

/* Constant padding: the window of g over x. Reflect padding: every x element
 * sums the output positions that read it (cl/shape.cl, fixed order). */
clg_status clg_bw_pad(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    const clg_tensor *x = n->inputs[0];
    const int64_t *pads = n->iattr;
    if (n->fattr[0] == 0.0f) {
        clg_tensor *cur = clg_tensor_retain(g);
        for (int i = 0; i < x->ndim && cur; i++) {
            clg_tensor *next = clg_tensor_slice(cur, i, pads[2 * i], pads[2 * i] + x->shape[i], 1);
            clg_tensor_free(cur);
            cur = next;
        }
        gin[0] = settle_grad(x, cur);
        return gin[0] ? CLG_OK : clg_last_status();
    }
    clg_context *ctx = x->ctx;
    clg_tensor *gx = clg_tensor_alloc(ctx, CLG_FLOAT32, x->ndim, x->shape, "backward of clg_pad");
    if (!gx) return clg_last_status();
    int64_t cnt = clg_tensor_numel(gx);
    clg_status st = CLG_OK;
    if (cnt > 0) {
        int64_t before[CLG_MAX_DIMS], after[CLG_MAX_DIMS];
        for (int i = 0; i < x->ndim; i++) {
            before[i] = pads[2 * i];
            after[i] = pads[2 * i + 1];
        }
        cl_kernel k;
        st = clg_realize(g);
        if (st == CLG_OK) st = clg_kernel_get(ctx, "shape", NULL, "pad_reflect_backward", &k);
        if (st == CLG_OK) {
            cl_ulong g_off = (cl_ulong)g->offset, num = (cl_ulong)cnt;
            cl_long8 gst = pack_l8(g->ndim, g->strides), bf = pack_l8(x->ndim, before),
                     af = pack_l8(x->ndim, after);
            cl_ulong8 xsh = pack_u8(x->ndim, x->shape);
            cl_int nd = x->ndim;
            clg_arg args[] = {CLG_ARG_BUF(g->buf), CLG_ARG(g_off), CLG_ARG(gst),
                              CLG_ARG_BUF(gx->buf), CLG_ARG(num),  CLG_ARG(nd),
                              CLG_ARG(xsh),         CLG_ARG(bf),   CLG_ARG(af)};
            st = clg_launch(ctx, k, (size_t)cnt, 9, args, "backward of clg_pad");
        }
    }
    if (st != CLG_OK) {
        clg_tensor_free(gx);
        return st;
    }
    gin[0] = gx;
    return CLG_OK;
}

/* Scatter-adds g into zeros of x's shape along axis through `index` (strides
 * idx_strides over g's shape). */
static clg_status scatter_grad(const clg_tensor *x, const clg_tensor *g, const clg_tensor *index,
                               const int64_t *idx_strides, int axis, const char *what, clg_tensor **gin) {
    clg_tensor *gx = clg_tensor_zeros(x->ctx, CLG_FLOAT32, x->ndim, x->shape);
    if (!gx) return clg_last_status();
    clg_status st = run_scatter(gx, g, index, idx_strides, axis, what);
    if (st != CLG_OK) {
        clg_tensor_free(gx);
        return st;
    }
    *gin = gx;
    return CLG_OK;
}

clg_status clg_bw_gather(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    const clg_tensor *index = n->saved[0];
    return scatter_grad(n->inputs[0], g, index, index->strides, (int)n->iattr[0], "backward of clg_gather",
                        &gin[0]);
}

clg_status clg_bw_index_select(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    const clg_tensor *x = n->inputs[0], *index = n->saved[0];
    int a = (int)n->iattr[0];
    int64_t is[CLG_MAX_DIMS];
    select_strides(x, index, a, is);
    return scatter_grad(x, g, index, is, a, "backward of clg_index_select", &gin[0]);
}

clg_status clg_bw_embedding(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    const clg_tensor *w = n->inputs[0], *flat = n->saved[0];
    int64_t sh2[2] = {clg_tensor_numel(flat), w->shape[1]}, is2[2] = {1, 0};
    clg_tensor *g2 = clg_tensor_reshape(g, 2, sh2); /* a view unless g is strided */
    if (!g2) return clg_last_status();
    clg_status st = scatter_grad(w, g2, flat, is2, 0, "backward of clg_embedding", &gin[0]);
    clg_tensor_free(g2);
    return st;
}
