/* Device tensors: creation, views, host transfers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph.h"
#include "tensor/tensor_impl.h"

size_t clg_dtype_size(clg_dtype dtype) {
    switch (dtype) {
    case CLG_FLOAT32: return 4;
    case CLG_INT32: return 4;
    case CLG_UINT8: return 1;
    case CLG_FLOAT16: return 2;
    }
    return 0;
}

const char *clg_dtype_name(clg_dtype dtype) {
    switch (dtype) {
    case CLG_FLOAT32: return "float32";
    case CLG_INT32: return "int32";
    case CLG_UINT8: return "uint8";
    case CLG_FLOAT16: return "float16";
    }
    return "unknown";
}

char *clg_shape_format(int ndim, const int64_t *shape, char *buf, size_t cap) {
    if (!buf || cap == 0) return buf;
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; shape && i < ndim && i < CLG_MAX_DIMS && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

const char *clg_tensor_describe(const clg_tensor *t, char *buf, size_t cap) {
    char shape[200];
    clg_shape_format(t->ndim, t->shape, shape, sizeof shape);
    if (t->name && t->name[0])
        snprintf(buf, cap, "tensor '%s' %s", t->name, shape);
    else
        snprintf(buf, cap, "tensor %s", shape);
    return buf;
}

clg_status clg_shape_check(const char *op, int ndim, const int64_t *shape, clg_dtype dtype,
                           int64_t *numel) {
    if (ndim < 0 || ndim > CLG_MAX_DIMS)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: rank %d is outside 0..%d", op, ndim,
                        CLG_MAX_DIMS);
    if (ndim > 0 && !shape) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: shape is NULL", op);
    size_t esize = clg_dtype_size(dtype);
    if (esize == 0) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown dtype %d", op, (int)dtype);
    char s[200];
    int64_t n = 1;
    int zero = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: shape %s has a negative dimension",
                            op, clg_shape_format(ndim, shape, s, sizeof s));
        if (shape[i] == 0) zero = 1;
    }
    if (zero) n = 0;
    else {
        int64_t limit = INT64_MAX / (int64_t)esize;
        if ((uint64_t)limit > SIZE_MAX / esize) limit = (int64_t)(SIZE_MAX / esize);
        for (int i = 0; i < ndim; i++) {
            if (n > limit / shape[i])
                return clg_fail(CLG_STATUS_SIZE_OVERFLOW,
                                "%s: shape %s of %s has more elements than memory can address", op,
                                clg_shape_format(ndim, shape, s, sizeof s), clg_dtype_name(dtype));
            n *= shape[i];
        }
    }
    if (numel) *numel = n;
    return CLG_OK;
}

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        /* Only a tensor with a zero extent gets here with a product over 2^63
         * ([4294967295,4294967295,4294967295,0]); it addresses no element, so
         * its strides just saturate. */
        if (__builtin_mul_overflow(s, shape[i] > 0 ? shape[i] : 1, &s)) s = INT64_MAX;
    }
}

clg_tensor *clg_tensor_record(clg_context *ctx, clg_dtype dtype, int ndim, const int64_t *shape,
                              const char *op) {
    if (!ctx) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: context is NULL", op);
        return NULL;
    }
    if (clg_shape_check(op, ndim, shape, dtype, NULL) != CLG_OK) return NULL;
    clg_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: allocating a tensor record", op);
        return NULL;
    }
    t->ctx = ctx;
    t->dtype = dtype;
    t->ndim = ndim;
    t->refs = 1;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    contiguous_strides(ndim, t->shape, t->strides);
    return t;
}

clg_tensor *clg_tensor_alloc(clg_context *ctx, clg_dtype dtype, int ndim, const int64_t *shape,
                             const char *op) {
    if (!ctx) {
        char sh[200];
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: context is NULL (tensor %s)", op,
                 ndim >= 0 && ndim <= CLG_MAX_DIMS ? clg_shape_format(ndim, shape, sh, sizeof sh) : "?");
        return NULL;
    }
    int64_t numel;
    if (clg_shape_check(op, ndim, shape, dtype, &numel) != CLG_OK) return NULL;
    clg_tensor *t = clg_tensor_record(ctx, dtype, ndim, shape, op);
    if (!t) return NULL;
    char what[256], s[200];
    snprintf(what, sizeof what, "%s tensor %s", op, clg_shape_format(ndim, shape, s, sizeof s));
    t->buf = clg_buffer_new(ctx, (size_t)numel * clg_dtype_size(dtype), what);
    if (!t->buf) {
        free(t);
        return NULL;
    }
    return t;
}

void clg_tensor_free(clg_tensor *t) {
    if (!t || --t->refs > 0) return;
    clg_lazy_forget(t);
    clg_expr_release(t->expr);
    clg_gnode_free(t->node);
    clg_tensor_free(t->grad);
    clg_buffer_release(t->buf);
    free(t->name);
    free(t);
}

clg_tensor *clg_tensor_empty(clg_context *ctx, clg_dtype dtype, int ndim, const int64_t *shape) {
    return clg_tensor_alloc(ctx, dtype, ndim, shape, "clg_tensor_empty");
}

/* --- kernels ----------------------------------------------------------------- */

static const char *element_options(size_t esize) {
    return esize == 1 ? "-DE=uchar" : esize == 2 ? "-DE=ushort" : "-DE=uint";
}

/* Fills elements [offset, offset + n) of buf with the element bit pattern. */
static clg_status fill_bits(clg_context *ctx, clg_buffer *buf, size_t esize, uint64_t offset,
                            uint64_t n, uint32_t bits, const char *what) {
    if (n == 0) return CLG_OK;
    cl_kernel k;
    clg_status st = clg_kernel_get(ctx, "tensor", element_options(esize), "fill", &k);
    if (st != CLG_OK) return st;
    cl_ulong off = offset, cnt = n;
    cl_uchar b8 = (cl_uchar)bits;
    cl_ushort b16 = (cl_ushort)bits;
    cl_uint b32 = bits;
    clg_arg value = esize == 1 ? CLG_ARG(b8) : esize == 2 ? CLG_ARG(b16) : CLG_ARG(b32);
    clg_arg args[] = {CLG_ARG_BUF(buf), CLG_ARG(off), CLG_ARG(cnt), value};
    return clg_launch(ctx, k, (size_t)n, 4, args, what);
}

int clg_coalesce_dims(int ndim, int64_t *shape, int narrays, int64_t *const *strides) {
    int64_t rshape[CLG_MAX_DIMS], rst[CLG_MAX_DIMS][CLG_MAX_DIMS]; /* innermost first */
    int out = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        if (shape[d] == 1) continue;
        int merge = out > 0;
        for (int k = 0; merge && k < narrays; k++)
            merge = strides[k][d] == rst[k][out - 1] * rshape[out - 1];
        if (merge) {
            rshape[out - 1] *= shape[d];
            continue;
        }
        rshape[out] = shape[d];
        for (int k = 0; k < narrays; k++) rst[k][out] = strides[k][d];
        out++;
    }
    for (int d = 0; d < out; d++) {
        shape[d] = rshape[out - 1 - d];
        for (int k = 0; k < narrays; k++) strides[k][d] = rst[k][out - 1 - d];
    }
    return out;
}

/* Gathers the strided view t into dst (contiguous, dst_offset in elements). */
static clg_status gather(const clg_tensor *t, clg_buffer *dst, uint64_t dst_offset, const char *what) {
    int64_t numel = clg_tensor_numel(t);
    if (numel == 0) return CLG_OK;
    cl_kernel k;
    clg_status st = clg_kernel_get(t->ctx, "tensor", element_options(clg_dtype_size(t->dtype)),
                                   "gather", &k);
    if (st != CLG_OK) return st;
    cl_ulong src_off = (cl_ulong)t->offset, dst_off = dst_offset, n = (cl_ulong)numel;
    int64_t sh[CLG_MAX_DIMS], ss[CLG_MAX_DIMS];
    memcpy(sh, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    memcpy(ss, t->strides, sizeof(int64_t) * (size_t)t->ndim);
    int64_t *arrays[1] = {ss};
    cl_int nd = clg_coalesce_dims(t->ndim, sh, 1, arrays);
    cl_ulong8 shape;
    cl_long8 strides;
    memset(&shape, 0, sizeof shape);
    memset(&strides, 0, sizeof strides);
    for (int i = 0; i < nd; i++) {
        shape.s[i] = (cl_ulong)sh[i];
        strides.s[i] = ss[i];
    }
    clg_arg args[] = {CLG_ARG_BUF(t->buf), CLG_ARG(src_off), CLG_ARG_BUF(dst), CLG_ARG(dst_off),
                      CLG_ARG(n), CLG_ARG(nd), CLG_ARG(shape), CLG_ARG(strides)};
    return clg_launch(t->ctx, k, (size_t)numel, 8, args, what);
}

clg_status clg_copy_into(clg_tensor *dst, const clg_tensor *src, const char *what) {
    int64_t numel = clg_tensor_numel(dst);
    if (dst->dtype != src->dtype || numel != clg_tensor_numel(src) || dst->ndim != src->ndim)
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: copy between different shapes or dtypes", what);
    clg_status st = clg_realize(src);
    if (st == CLG_OK) st = clg_realize(dst);
    if (st != CLG_OK || numel == 0) return st;
    cl_kernel k;
    st = clg_kernel_get(dst->ctx, "tensor", element_options(clg_dtype_size(dst->dtype)), "copy_strided", &k);
    if (st != CLG_OK) return st;
    cl_ulong src_off = (cl_ulong)src->offset, dst_off = (cl_ulong)dst->offset, n = (cl_ulong)numel;
    int64_t sh[CLG_MAX_DIMS], ss[CLG_MAX_DIMS], ds[CLG_MAX_DIMS];
    memcpy(sh, dst->shape, sizeof(int64_t) * (size_t)dst->ndim);
    memcpy(ss, src->strides, sizeof(int64_t) * (size_t)dst->ndim);
    memcpy(ds, dst->strides, sizeof(int64_t) * (size_t)dst->ndim);
    int64_t *arrays[2] = {ss, ds};
    cl_int nd = clg_coalesce_dims(dst->ndim, sh, 2, arrays);
    cl_ulong8 shape;
    cl_long8 sst, dstr;
    memset(&shape, 0, sizeof shape);
    memset(&sst, 0, sizeof sst);
    memset(&dstr, 0, sizeof dstr);
    for (int i = 0; i < nd; i++) {
        shape.s[i] = (cl_ulong)sh[i];
        sst.s[i] = ss[i];
        dstr.s[i] = ds[i];
    }
    clg_arg args[] = {CLG_ARG_BUF(src->buf), CLG_ARG(src_off), CLG_ARG(sst), CLG_ARG_BUF(dst->buf),
                      CLG_ARG(dst_off), CLG_ARG(dstr), CLG_ARG(n), CLG_ARG(nd), CLG_ARG(shape)};
    return clg_launch(dst->ctx, k, (size_t)numel, 9, args, what);
}

/* A host-to-device write recorded in a captured step: the data is part of the step. */
typedef struct host_write {
    cl_mem mem;
    size_t offset, size;
} host_write;

static clg_status replay_write(clg_context *ctx, const void *payload) {
    const host_write *w = payload;
    cl_event ev = NULL;
    clg_status st = CLG_CL_FAULT(ctx, CLG_FAULT_ENQUEUE,
                                 clEnqueueWriteBuffer(ctx->queue, w->mem, CL_FALSE, w->offset, w->size, w + 1, 0,
                                                      NULL, CLG_PROFILE_EVENT(ctx, ev)),
                                 "replaying a host write");
    clg_profile_record(ctx, NULL, "host write", ev);
    return st;
}

/* Blocking write of host bytes into buf at offset, recorded when capturing. */
static clg_status write_bytes(clg_context *ctx, clg_buffer *buf, size_t offset, const void *host,
                              size_t size, const char *what) {
    clg_status st = CLG_CL_FAULT(ctx, CLG_FAULT_ENQUEUE,
                                 clEnqueueWriteBuffer(ctx->queue, buf->mem, CL_TRUE, offset, size, host, 0, NULL, NULL),
                                 what);
    if (st != CLG_OK || !ctx->capture) return st;
    host_write *w = malloc(sizeof *w + size);
    if (!w) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: recording the write", what);
    w->mem = buf->mem;
    w->offset = offset;
    w->size = size;
    memcpy(w + 1, host, size);
    st = clg_capture_call(ctx, replay_write, w, sizeof *w + size, &buf, 1);
    free(w);
    return st;
}

/* A device-to-device copy of bytes between buffers, recorded when capturing. */
typedef struct buffer_copy {
    cl_mem src, dst;
    size_t src_offset, dst_offset, size;
} buffer_copy;

static clg_status replay_copy(clg_context *ctx, const void *payload) {
    const buffer_copy *c = payload;
    cl_event ev = NULL;
    clg_status st = CLG_CL_FAULT(ctx, CLG_FAULT_ENQUEUE,
                                 clEnqueueCopyBuffer(ctx->queue, c->src, c->dst, c->src_offset, c->dst_offset,
                                                     c->size, 0, NULL, CLG_PROFILE_EVENT(ctx, ev)),
                                 "replaying a device copy");
    clg_profile_record(ctx, NULL, "device copy", ev);
    return st;
}

static clg_status copy_bytes(clg_context *ctx, clg_buffer *src, size_t src_offset, clg_buffer *dst,
                             size_t dst_offset, size_t size, const char *what) {
    if (size == 0) return CLG_OK;
    buffer_copy c = {src->mem, dst->mem, src_offset, dst_offset, size};
    clg_status st = replay_copy(ctx, &c);
    if (st != CLG_OK) return clg_fail_wrap(st, "%s", what);
    clg_buffer *bufs[2] = {src, dst};
    return clg_capture_call(ctx, replay_copy, &c, sizeof c, bufs, 2);
}

/* --- creation ------------------------------------------------------------------ */

/* IEEE half from a double with one rounding (to nearest, ties to even). */
static uint16_t double_to_half_bits(double v) {
    uint16_t sign = signbit(v) ? 0x8000u : 0;
    double a = fabs(v);
    if (isnan(v)) return (uint16_t)(sign | 0x7e00u);
    if (a >= 65520.0) return (uint16_t)(sign | 0x7c00u); /* rounds to infinity */
    if (a < 0x1p-14) {                                   /* subnormal or zero */
        double m = nearbyint(a * 0x1p24);                /* units of 2^-24, ties to even */
        return (uint16_t)(sign | (uint16_t)m);
    }
    int e;
    double f = frexp(a, &e);               /* a = f * 2^e, f in [0.5, 1) */
    double m = nearbyint(f * 2048.0);      /* 11 significant bits, ties to even */
    if (m == 2048.0) {
        m = 1024.0;
        e++;
    }
    int biased = e - 1 + 15;
    return (uint16_t)(sign | (uint16_t)(biased << 10) | ((uint16_t)m & 0x3ffu));
}

/* The element bit pattern of value in dtype. Integers saturate; NaN becomes 0. */
static uint32_t value_bits(clg_dtype dtype, double value) {
    switch (dtype) {
    case CLG_FLOAT32: {
        float f = (float)value;
        uint32_t b;
        memcpy(&b, &f, 4);
        return b;
    }
    case CLG_INT32: {
        if (isnan(value)) return 0;
        double c = value < INT32_MIN ? INT32_MIN : value > INT32_MAX ? INT32_MAX : value;
        return (uint32_t)(int32_t)c;
    }
    case CLG_UINT8:
        if (isnan(value)) return 0;
        return (uint32_t)(value < 0 ? 0 : value > 255 ? 255 : (uint8_t)value);
    case CLG_FLOAT16: return double_to_half_bits(value);
    }
    return 0;
}

static clg_tensor *full_named(clg_context *ctx, clg_dtype dtype, int ndim, const int64_t *shape,
                              double value, const char *op) {
    clg_tensor *t = clg_tensor_alloc(ctx, dtype, ndim, shape, op);
    if (!t) return NULL;
    if (fill_bits(ctx, t->buf, clg_dtype_size(dtype), 0, (uint64_t)clg_tensor_numel(t),
                  value_bits(dtype, value), op) != CLG_OK) {
        clg_tensor_free(t);
        return NULL;
    }
    return t;
}

clg_tensor *clg_tensor_full(clg_context *ctx, clg_dtype dtype, int ndim, const int64_t *shape,
                            double value) {
    return full_named(ctx, dtype, ndim, shape, value, "clg_tensor_full");
}

clg_tensor *clg_tensor_zeros(clg_context *ctx, clg_dtype dtype, int ndim, const int64_t *shape) {
    return full_named(ctx, dtype, ndim, shape, 0.0, "clg_tensor_zeros");
}

clg_tensor *clg_tensor_ones(clg_context *ctx, clg_dtype dtype, int ndim, const int64_t *shape) {
    return full_named(ctx, dtype, ndim, shape, 1.0, "clg_tensor_ones");
}

clg_tensor *clg_tensor_from_host(clg_context *ctx, clg_dtype dtype, int ndim,
                                 const int64_t *shape, const void *host) {
    const char *op = "clg_tensor_from_host";
    clg_tensor *t = clg_tensor_alloc(ctx, dtype, ndim, shape, op);
    if (!t) return NULL;
    if (t->buf->bytes == 0) return t;
    char what[256], d[220];
    if (!host) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: host data is NULL for %s", op,
                 clg_tensor_describe(t, d, sizeof d));
        clg_tensor_free(t);
        return NULL;
    }
    snprintf(what, sizeof what, "%s: copying %s to %s", op, clg_tensor_describe(t, d, sizeof d),
             ctx->label);
    if (write_bytes(ctx, t->buf, 0, host, t->buf->bytes, what) != CLG_OK) {
        clg_tensor_free(t);
        return NULL;
    }
    return t;
}

clg_tensor *clg_tensor_arange(clg_context *ctx, clg_dtype dtype, double start, double stop,
                              double step) {
    const char *op = "clg_tensor_arange";
    if (dtype != CLG_FLOAT32 && dtype != CLG_INT32) {
        clg_fail(CLG_STATUS_UNSUPPORTED, "%s: dtype %s (float32 and int32 only)", op,
                 clg_dtype_name(dtype));
        return NULL;
    }
    if (step == 0 || !isfinite(step) || !isfinite(start) || !isfinite(stop)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: start %g, stop %g, step %g (step must be non-zero, all finite)",
                 op, start, stop, step);
        return NULL;
    }
    if (dtype == CLG_INT32 && (start != floor(start) || step != floor(step) || start < INT32_MIN ||
                               start > INT32_MAX || fabs(step) > INT32_MAX ||
                               stop < (double)INT32_MIN - 1 || stop > (double)INT32_MAX + 1)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "%s: int32 range start %g, stop %g, step %g needs integral start and step "
                 "inside the int32 range", op, start, stop, step);
        return NULL;
    }
    double count = ceil((stop - start) / step);
    if (count < 0) count = 0;
    if (count > 9e15) {
        clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: %g elements", op, count);
        return NULL;
    }
    int64_t n = (int64_t)count;
    clg_tensor *t = clg_tensor_alloc(ctx, dtype, 1, &n, op);
    if (!t || n == 0) return t;
    cl_kernel k;
    clg_status st = clg_kernel_get(ctx, "tensor", element_options(4),
                                   dtype == CLG_FLOAT32 ? "arange_f32" : "arange_i32", &k);
    cl_ulong off = 0, cnt = (cl_ulong)n;
    cl_float f0 = (cl_float)start, f1 = (cl_float)step;
    cl_int i0 = dtype == CLG_INT32 ? (cl_int)start : 0, i1 = dtype == CLG_INT32 ? (cl_int)step : 0;
    clg_arg args[] = {CLG_ARG_BUF(t->buf), CLG_ARG(off), CLG_ARG(cnt),
                      dtype == CLG_FLOAT32 ? CLG_ARG(f0) : CLG_ARG(i0),
                      dtype == CLG_FLOAT32 ? CLG_ARG(f1) : CLG_ARG(i1)};
    if (!st) st = clg_launch(ctx, k, (size_t)n, 5, args, op);
    if (st) {
        clg_tensor_free(t);
        return NULL;
    }
    return t;
}

static clg_tensor *philox_tensor(clg_context *ctx, clg_dtype dtype, int ndim, const int64_t *shape,
                                 uint64_t seed, uint64_t offset, int mode, float a, float b,
                                 const char *op) {
    if ((mode == 1 && !(isfinite(a) && isfinite(b) && a <= b)) ||
        (mode == 2 && !(isfinite(a) && isfinite(b) && b >= 0))) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: parameters %g, %g are not finite or out of order",
                 op, (double)a, (double)b);
        return NULL;
    }
    clg_tensor *t = clg_tensor_alloc(ctx, dtype, ndim, shape, op);
    if (!t) return NULL;
    int64_t n = clg_tensor_numel(t);
    if (n == 0) return t;
    if (offset > UINT64_MAX - (uint64_t)n - 4) {
        clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: stream offset %llu overflows", op, (unsigned long long)offset);
        clg_tensor_free(t);
        return NULL;
    }
    cl_kernel k;
    clg_status st = clg_kernel_get(ctx, "rng", NULL, "philox_fill", &k);
    cl_ulong dst_off = 0, cnt = (cl_ulong)n, sd = seed, off = offset;
    cl_int md = mode;
    cl_float fa = a, fb = b;
    clg_arg args[] = {CLG_ARG_BUF(t->buf), CLG_ARG(dst_off), CLG_ARG(cnt), CLG_ARG(sd),
                      CLG_ARG(off), CLG_ARG(md), CLG_ARG(fa), CLG_ARG(fb)};
    /* One work-item per 4-element block touched by [offset, offset + n). */
    size_t blocks = (size_t)((offset + (uint64_t)n + 3) / 4 - offset / 4);
    if (!st) st = clg_launch(ctx, k, blocks, 8, args, op);
    if (st) {
        clg_tensor_free(t);
        return NULL;
    }
    return t;
}

clg_tensor *clg_tensor_rand_uniform_counter(clg_context *ctx, int ndim, const int64_t *shape,
                                            float low, float high, uint64_t seed,
                                            clg_tensor *counter) {
    const char *op = "clg_tensor_rand_uniform_counter";
    char d[220];
    if (!counter || counter->ctx != ctx || clg_tensor_numel(counter) * (int64_t)clg_dtype_size(counter->dtype) != 8 ||
        !clg_tensor_is_contiguous(counter) || counter->expr) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "%s: the counter must be an evaluated contiguous 8-byte tensor of the same context "
                 "(e.g. int32 [2] zeros), got %s",
                 op, counter ? clg_tensor_describe(counter, d, sizeof d) : "NULL");
        return NULL;
    }
    if (!(isfinite(low) && isfinite(high) && low <= high)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: bounds %g, %g", op, (double)low, (double)high);
        return NULL;
    }
    clg_tensor *t = clg_tensor_alloc(ctx, CLG_FLOAT32, ndim, shape, op);
    if (!t) return NULL;
    int64_t n = clg_tensor_numel(t);
    if (n == 0) return t;
    cl_kernel k1, k2;
    clg_status st = clg_kernel_get(ctx, "rng", NULL, "philox_fill_counter", &k1);
    if (!st) st = clg_kernel_get(ctx, "rng", NULL, "counter_advance", &k2);
    cl_ulong dst_off = 0, cnt = (cl_ulong)n, sd = seed, by = ((cl_ulong)n + 3) / 4 * 4;
    cl_int md = 1;
    cl_float fa = low, fb = high;
    clg_arg a1[] = {CLG_ARG_BUF(t->buf), CLG_ARG(dst_off), CLG_ARG(cnt), CLG_ARG(sd),
                    CLG_ARG_BUF(counter->buf), CLG_ARG(md), CLG_ARG(fa), CLG_ARG(fb)};
    if (!st) st = clg_launch(ctx, k1, (size_t)(n / 4 + 2), 8, a1, op);
    clg_arg a2[] = {CLG_ARG_BUF(counter->buf), CLG_ARG(by)};
    if (!st) st = clg_launch(ctx, k2, 1, 2, a2, op);
    if (st) {
        clg_tensor_free(t);
        return NULL;
    }
    return t;
}

clg_tensor *clg_tensor_rand_uniform(clg_context *ctx, int ndim, const int64_t *shape, float low,
                                    float high, uint64_t seed, uint64_t offset) {
    return philox_tensor(ctx, CLG_FLOAT32, ndim, shape, seed, offset, 1, low, high,
                         "clg_tensor_rand_uniform");
}

clg_tensor *clg_tensor_rand_normal(clg_context *ctx, int ndim, const int64_t *shape, float mean,
                                   float stddev, uint64_t seed, uint64_t offset) {
    return philox_tensor(ctx, CLG_FLOAT32, ndim, shape, seed, offset, 2, mean, stddev,
                         "clg_tensor_rand_normal");
}

clg_tensor *clg_tensor_rand_bits(clg_context *ctx, int ndim, const int64_t *shape, uint64_t seed,
                                 uint64_t offset) {
    return philox_tensor(ctx, CLG_INT32, ndim, shape, seed, offset, 0, 0, 0, "clg_tensor_rand_bits");
}

/* --- inspection ------------------------------------------------------------------ */

int clg_tensor_ndim(const clg_tensor *t) { return t ? t->ndim : 0; }
const int64_t *clg_tensor_shape(const clg_tensor *t) { return t ? t->shape : NULL; }
const int64_t *clg_tensor_strides(const clg_tensor *t) { return t ? t->strides : NULL; }
int64_t clg_tensor_offset(const clg_tensor *t) { return t ? t->offset : 0; }
clg_dtype clg_tensor_dtype(const clg_tensor *t) { return t ? t->dtype : CLG_FLOAT32; }
clg_context *clg_tensor_context(const clg_tensor *t) { return t ? t->ctx : NULL; }

int64_t clg_tensor_numel(const clg_tensor *t) {
    if (!t) return 0;
    int64_t n = 1;
    /* A zero extent first: the other extents' product may overflow (a zero-element
     * tensor's shape is checked only for negative extents). */
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] == 0) return 0;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int clg_tensor_is_contiguous(const clg_tensor *t) {
    if (!t) return 0;
    if (clg_tensor_numel(t) == 0) return 1; /* (and the stride product below might overflow) */
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

clg_status clg_tensor_set_name(clg_tensor *t, const char *name) {
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_set_name: tensor is NULL");
    char *copy = NULL;
    if (name) {
        size_t n = strlen(name) + 1;
        if (!(copy = malloc(n)))
            return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_tensor_set_name");
        memcpy(copy, name, n);
    }
    free(t->name);
    t->name = copy;
    return CLG_OK;
}

const char *clg_tensor_name(const clg_tensor *t) { return t && t->name ? t->name : ""; }

/* --- data movement ----------------------------------------------------------------- */

clg_status clg_tensor_to_host(const clg_tensor *t, void *host, size_t bytes) {
    const char *op = "clg_tensor_to_host";
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", op);
    char d[220], what[400];
    clg_tensor_describe(t, d, sizeof d);
    size_t need = (size_t)clg_tensor_numel(t) * clg_dtype_size(t->dtype);
    if (need == 0) return CLG_OK;
    if (!host) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: host buffer is NULL for %s", op, d);
    if (bytes < need)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s needs %zu bytes, host buffer has %zu",
                        op, d, need, bytes);
    clg_context *ctx = t->ctx;
    if (clg_capturing(ctx))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: %s read during a step capture (a replay would not repeat it)", op, d);
    clg_status rs = clg_realize(t);
    if (rs != CLG_OK) return rs;
    snprintf(what, sizeof what, "%s: reading %s from %s", op, d, ctx->label);
    size_t esize = clg_dtype_size(t->dtype);
    if (clg_tensor_is_contiguous(t))
        return CLG_CL_FAULT(ctx, CLG_FAULT_READ,
                            clEnqueueReadBuffer(ctx->queue, t->buf->mem, CL_TRUE, (size_t)t->offset * esize,
                                                need, host, 0, NULL, NULL),
                            what);
    clg_buffer *tmp = clg_buffer_new(ctx, need, d);
    if (!tmp) return clg_last_status();
    clg_status st = gather(t, tmp, 0, what);
    if (!st)
        st = CLG_CL_FAULT(ctx, CLG_FAULT_READ,
                          clEnqueueReadBuffer(ctx->queue, tmp->mem, CL_TRUE, 0, need, host, 0, NULL, NULL), what);
    clg_buffer_release(tmp);
    return st;
}

/* The checks and the flush before a host write into t (both write calls):
 * *need gets the byte count (0: nothing to write) and `what` the message
 * context for the OpenCL call. */
static clg_status write_prepare(clg_tensor *t, const void *host, size_t bytes, const char *op, size_t *need,
                                char *what, size_t cap) {
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", op);
    char d[220];
    clg_tensor_describe(t, d, sizeof d);
    *need = (size_t)clg_tensor_numel(t) * clg_dtype_size(t->dtype);
    if (bytes != *need)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s holds %zu bytes, %zu given", op, d, *need, bytes);
    if (*need == 0) return CLG_OK;
    if (!host) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: host data is NULL for %s", op, d);
    /* Pending lazy results may read this buffer: evaluate them before it changes. */
    clg_status fs = clg_flush(t->ctx);
    if (fs != CLG_OK) return fs;
    if (!clg_tensor_is_contiguous(t))
        return clg_fail(CLG_STATUS_UNSUPPORTED, "%s: %s is a non-contiguous view", op, d);
    snprintf(what, cap, "%s: writing %s on %s", op, d, t->ctx->label);
    return CLG_OK;
}

clg_status clg_tensor_write(clg_tensor *t, const void *host, size_t bytes) {
    char what[400];
    size_t need = 0;
    clg_status st = write_prepare(t, host, bytes, "clg_tensor_write", &need, what, sizeof what);
    if (st != CLG_OK || need == 0) return st;
    return write_bytes(t->ctx, t->buf, (size_t)t->offset * clg_dtype_size(t->dtype), host, need, what);
}

clg_status clg_tensor_write_nonblocking(clg_tensor *t, const void *host, size_t bytes, cl_event *done) {
    const char *op = "clg_tensor_write_nonblocking";
    *done = NULL;
    if (t && t->ctx->capture) /* a captured write must own its bytes (write_bytes copies them) */
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: not inside a step capture", op);
    char what[400];
    size_t need = 0;
    clg_status st = write_prepare(t, host, bytes, op, &need, what, sizeof what);
    if (st != CLG_OK || need == 0) return st;
    st = CLG_CL_FAULT(t->ctx, CLG_FAULT_ENQUEUE,
                      clEnqueueWriteBuffer(t->ctx->queue, t->buf->mem, CL_FALSE,
                                           (size_t)t->offset * clg_dtype_size(t->dtype), need, host, 0, NULL, done),
                      what);
    if (st == CLG_OK && t->ctx->profile.active && clRetainEvent(*done) == CL_SUCCESS)
        clg_profile_record(t->ctx, NULL, "host write", *done);
    return st;
}

clg_status clg_tensor_assign(clg_tensor *dst, const clg_tensor *src) {
    const char *op = "clg_tensor_assign";
    if (!dst || !src) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: NULL tensor", op);
    char d1[220], d2[220];
    int same = dst->ndim == src->ndim && dst->dtype == src->dtype && dst->ctx == src->ctx;
    for (int i = 0; same && i < dst->ndim; i++) same = dst->shape[i] == src->shape[i];
    if (!same)
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: %s %s cannot take the values of %s %s", op,
                        clg_tensor_describe(dst, d1, sizeof d1), clg_dtype_name(dst->dtype),
                        clg_tensor_describe(src, d2, sizeof d2), clg_dtype_name(src->dtype));
    /* Evaluate src (it may read dst), then everything else that may read dst. */
    clg_status st = clg_realize(src);
    if (st == CLG_OK) st = clg_flush(dst->ctx);
    if (st == CLG_OK) st = clg_copy_into(dst, src, op);
    return st;
}

/* A contiguous copy, outside the graph. */
static clg_tensor *contiguous_copy(const clg_tensor *t, const char *op) {
    if (clg_realize(t) != CLG_OK) return NULL;
    clg_tensor *out = clg_tensor_alloc(t->ctx, t->dtype, t->ndim, t->shape, op);
    if (!out) return NULL;
    size_t esize = clg_dtype_size(t->dtype);
    clg_status st = clg_tensor_is_contiguous(t)
                        ? copy_bytes(t->ctx, t->buf, (size_t)t->offset * esize, out->buf, 0,
                                     out->buf->bytes, op)
                        : gather(t, out->buf, 0, op);
    if (st != CLG_OK) {
        clg_tensor_free(out);
        return NULL;
    }
    return out;
}

clg_tensor *clg_tensor_contiguous(const clg_tensor *t) {
    const char *op = "clg_tensor_contiguous";
    if (!t) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", op);
        return NULL;
    }
    clg_tensor *out = contiguous_copy(t, op);
    /* Same shape: the reshape rule (gradient reshaped back) is the identity here. */
    if (out && clg_needs_grad(1, &t) && !clg_record(out, CLG_OP_RESHAPE, 1, &t)) {
        clg_tensor_free(out);
        return NULL;
    }
    return out;
}

static double element_as_double(clg_dtype dtype, const unsigned char *p) {
    switch (dtype) {
    case CLG_FLOAT32: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    case CLG_INT32: {
        int32_t i;
        memcpy(&i, p, 4);
        return i;
    }
    case CLG_UINT8: return *p;
    case CLG_FLOAT16: {
        uint16_t h;
        memcpy(&h, p, 2);
        int e = (h >> 10) & 0x1f, m = h & 0x3ff;
        double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
        return (h & 0x8000) ? -v : v;
    }
    }
    return 0;
}

clg_status clg_tensor_print(const clg_tensor *t, FILE *stream, int64_t max_items) {
    if (!t || !stream) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_print: NULL argument");
    if (max_items <= 0) max_items = 64;
    int64_t n = clg_tensor_numel(t);
    size_t esize = clg_dtype_size(t->dtype);
    char d[220];
    fprintf(stream, "%s %s\n", clg_tensor_describe(t, d, sizeof d), clg_dtype_name(t->dtype));
    if (n == 0) {
        fprintf(stream, "(no elements)\n");
        return CLG_OK;
    }
    unsigned char *host = malloc((size_t)n * esize);
    if (!host) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_tensor_print: %s", d);
    clg_status st = clg_tensor_to_host(t, host, (size_t)n * esize);
    if (st == CLG_OK) {
        int64_t row = t->ndim ? t->shape[t->ndim - 1] : 1;
        for (int64_t i = 0; i < n && i < max_items; i++) {
            fprintf(stream, "%s%.6g", i % row == 0 ? (i ? "\n" : "") : " ",
                    element_as_double(t->dtype, host + (size_t)i * esize));
        }
        fprintf(stream, "%s\n", n > max_items ? " ..." : "");
    }
    free(host);
    return st;
}

/* --- views ------------------------------------------------------------------------- */

static clg_tensor *view_of(const clg_tensor *t, const char *op) {
    if (clg_realize(t) != CLG_OK) return NULL;
    clg_tensor *v = clg_tensor_record(t->ctx, t->dtype, t->ndim, t->shape, op);
    if (!v) return NULL;
    memcpy(v->strides, t->strides, sizeof v->strides);
    v->offset = t->offset;
    v->buf = t->buf;
    clg_buffer_retain(t->buf);
    return v;
}

clg_tensor *clg_tensor_reshape(const clg_tensor *t, int ndim, const int64_t *shape) {
    const char *op = "clg_tensor_reshape";
    if (!t) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", op);
        return NULL;
    }
    if (ndim < 0 || ndim > CLG_MAX_DIMS || (ndim > 0 && !shape)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: rank %d or shape pointer invalid", op, ndim);
        return NULL;
    }
    int64_t resolved[CLG_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    char s1[200], s2[200];
    for (int i = 0; i < ndim; i++) {
        resolved[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (shape[i] < 0) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: target shape %s has a negative dimension", op,
                     clg_shape_format(ndim, shape, s1, sizeof s1));
            return NULL;
        }
        if (shape[i] != 0 && known > INT64_MAX / shape[i]) {
            clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: target shape %s overflows", op,
                     clg_shape_format(ndim, shape, s1, sizeof s1));
            return NULL;
        }
        known *= shape[i];
    }
    int64_t numel = clg_tensor_numel(t);
    if (infer >= 0) {
        if (known == 0 || numel % known != 0) {
            clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: cannot infer -1 in %s from %s (%lld elements)", op,
                     clg_shape_format(ndim, shape, s1, sizeof s1),
                     clg_shape_format(t->ndim, t->shape, s2, sizeof s2), (long long)numel);
            return NULL;
        }
        resolved[infer] = numel / known;
        known = numel;
    }
    if (known != numel) {
        clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: %s has %lld elements, target shape %s has %lld", op,
                 clg_shape_format(t->ndim, t->shape, s2, sizeof s2), (long long)numel,
                 clg_shape_format(ndim, shape, s1, sizeof s1), (long long)known);
        return NULL;
    }
    clg_tensor *v;
    if (clg_tensor_is_contiguous(t)) {
        v = view_of(t, op);
    } else {
        v = contiguous_copy(t, op);
    }
    if (!v) return NULL;
    /* A copy made from a view may carry the contiguous op's (empty) graph: the
     * reshape node below is what backward sees. */
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++) v->shape[i] = resolved[i];
    contiguous_strides(ndim, v->shape, v->strides);
    if (clg_needs_grad(1, &t) && !clg_record(v, CLG_OP_RESHAPE, 1, &t)) {
        clg_tensor_free(v);
        return NULL;
    }
    return v;
}

static int normalize_axis(int axis, int ndim) { return axis < 0 ? axis + ndim : axis; }

clg_tensor *clg_tensor_slice(const clg_tensor *t, int axis, int64_t start, int64_t stop,
                             int64_t step) {
    const char *op = "clg_tensor_slice";
    if (!t) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", op);
        return NULL;
    }
    int a = normalize_axis(axis, t->ndim);
    char d[220];
    if (a < 0 || a >= t->ndim) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: axis %d is out of range for %s", op, axis,
                 clg_tensor_describe(t, d, sizeof d));
        return NULL;
    }
    if (step <= 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: step %lld must be positive (%s)", op,
                 (long long)step, clg_tensor_describe(t, d, sizeof d));
        return NULL;
    }
    int64_t n = t->shape[a];
    if (start < 0) start += n;
    if (stop < 0) stop += n;
    if (start < 0) start = 0;
    if (start > n) start = n;
    if (stop < start) stop = start;
    if (stop > n) stop = n;
    int64_t len = stop > start ? 1 + (stop - start - 1) / step : 0;
    clg_tensor *v = view_of(t, op);
    if (!v) return NULL;
    v->offset = t->offset + (len > 0 ? start * t->strides[a] : 0);
    v->shape[a] = len;
    /* With one element or none the stride is never used (and step may be huge). */
    if (len > 1) v->strides[a] = t->strides[a] * step;
    if (clg_needs_grad(1, &t)) {
        clg_gnode *node = clg_record(v, CLG_OP_SLICE, 1, &t);
        if (!node) {
            clg_tensor_free(v);
            return NULL;
        }
        node->iattr[0] = a;
        node->iattr[1] = start;
        node->iattr[2] = step;
    }
    return v;
}

clg_tensor *clg_tensor_permute(const clg_tensor *t, const int *perm) {
    const char *op = "clg_tensor_permute";
    if (!t || (!perm && t->ndim > 0)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor or permutation is NULL", op);
        return NULL;
    }
    int seen[CLG_MAX_DIMS] = {0};
    char d[220];
    for (int i = 0; i < t->ndim; i++) {
        int p = normalize_axis(perm[i], t->ndim);
        if (p < 0 || p >= t->ndim || seen[p]) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                     "%s: entry %d (%d) of the permutation is out of range or repeated for %s", op,
                     i, perm[i], clg_tensor_describe(t, d, sizeof d));
            return NULL;
        }
        seen[p] = 1;
    }
    clg_tensor *v = view_of(t, op);
    if (!v) return NULL;
    for (int i = 0; i < t->ndim; i++) {
        int p = normalize_axis(perm[i], t->ndim);
        v->shape[i] = t->shape[p];
        v->strides[i] = t->strides[p];
    }
    if (clg_needs_grad(1, &t)) {
        clg_gnode *n = clg_record(v, CLG_OP_PERMUTE, 1, &t);
        if (!n) {
            clg_tensor_free(v);
            return NULL;
        }
        for (int i = 0; i < t->ndim; i++) n->iattr[i] = normalize_axis(perm[i], t->ndim);
    }
    return v;
}

clg_tensor *clg_tensor_transpose(const clg_tensor *t, int axis0, int axis1) {
    if (!t) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_transpose: tensor is NULL");
        return NULL;
    }
    int perm[CLG_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) perm[i] = i;
    int a = normalize_axis(axis0, t->ndim), b = normalize_axis(axis1, t->ndim);
    if (a < 0 || a >= t->ndim || b < 0 || b >= t->ndim) {
        char d[220];
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_transpose: axes %d, %d out of range for %s",
                 axis0, axis1, clg_tensor_describe(t, d, sizeof d));
        return NULL;
    }
    perm[a] = b;
    perm[b] = a;
    return clg_tensor_permute(t, perm);
}
