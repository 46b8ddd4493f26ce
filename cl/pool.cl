/* Pooling and upsampling. Work is indexed in NCHW order; every tensor is
 * addressed by (offset, strides in N, C, H, W order), so NHWC tensors and
 * strided views are read and written in place. Sizes travel as arguments:
 *   dim  (N, C, H, W) of the input, odim (OH, OW) of the output,
 *   p    (KH, KW, SH, SW, TOP, LEFT) for pooling.
 * Backward kernels run one work-item per input element and gather, in a fixed
 * order (output rows, then columns, ascending), the outputs that used it: no
 * atomics, results repeat bit for bit.
 *
 * Work-items are numbered in NCHW order, or with CLG_CHANNELS_LAST=1 (the build
 * for NHWC tensors) in NHWC order, so that neighbouring work-items touch
 * neighbouring memory: a CPU device runs them as vector lanes. The index is
 * split with 32-bit arithmetic below 2^32 work-items. max_pool_fwd_arg's argmax
 * array is laid out in the same order. */

#ifndef CLG_CHANNELS_LAST
#define CLG_CHANNELS_LAST 0
#endif

inline ulong pool_at(long4 s, long n, long c, long h, long w) {
    return (ulong)(n * s.x + c * s.y + h * s.z + w * s.w);
}

/* Larger, or NaN over a number (NaN propagates, as in reduce.cl). */
#define POOL_BETTER(v, best) ((v) > (best) || (isnan(v) && !isnan(best)))

/* The window maximum of output (n, c, oh, ow); *at gets ih * W + iw of the
 * first maximum in row-major window order, or -1 for a window entirely in the
 * padding (whose value is -inf). */
inline float window_max(__global const float *x, ulong x_off, long4 xs, long4 dim, int8 p,
                        long n, long c, long oh, long ow, int *at) {
    long h0 = oh * p.s2 - p.s4, w0 = ow * p.s3 - p.s5;
    float best = -INFINITY;
    int where = -1;
    for (long kh = 0; kh < p.s0; ++kh) {
        long ih = h0 + kh;
        if (ih < 0 || ih >= dim.z) continue;
        for (long kw = 0; kw < p.s1; ++kw) {
            long iw = w0 + kw;
            if (iw < 0 || iw >= dim.w) continue;
            float v = x[x_off + pool_at(xs, n, c, ih, iw)];
            if (where < 0 || POOL_BETTER(v, best)) {
                best = v;
                where = (int)(ih * dim.w + iw);
            }
        }
    }
    *at = where;
    return best;
}

/* i (of total) split over extents (e0,) e1, e2, e3, the last fastest. */
inline void pool_split(ulong i, ulong total, long e1, long e2, long e3, long *a0, long *a1, long *a2,
                       long *a3) {
    if (total <= 0xFFFFFFFFul) {
        uint r = (uint)i;
        *a3 = (long)(r % (uint)e3);
        r /= (uint)e3;
        *a2 = (long)(r % (uint)e2);
        r /= (uint)e2;
        *a1 = (long)(r % (uint)e1);
        *a0 = (long)(r / (uint)e1);
    } else {
        *a3 = (long)(i % (ulong)e3);
        i /= (ulong)e3;
        *a2 = (long)(i % (ulong)e2);
        i /= (ulong)e2;
        *a1 = (long)(i % (ulong)e1);
        *a0 = (long)(i / (ulong)e1);
    }
}

#if CLG_CHANNELS_LAST
#define POOL_SPLIT(I_, T_, H_, W_, N_, C_, Y_, X_) pool_split(I_, T_, H_, W_, dim.y, &N_, &Y_, &X_, &C_)
/* Position of output (n, c, oh, ow) in the argmax array (work-item order). */
#define ARG_AT(N_, C_, OH_, OW_) ((ulong)(((N_) * odim.x + (OH_)) * odim.y + (OW_)) * (ulong)dim.y + (ulong)(C_))
#else
#define POOL_SPLIT(I_, T_, H_, W_, N_, C_, Y_, X_) pool_split(I_, T_, dim.y, H_, W_, &N_, &C_, &Y_, &X_)
#define ARG_AT(N_, C_, OH_, OW_) ((ulong)((((N_) * dim.y + (C_)) * odim.x + (OH_)) * odim.y + (OW_)))
#endif

#define POOL_OUT_INDEX                                                                \
    ulong o = get_global_id(0);                                                       \
    ulong total = (ulong)(dim.x * dim.y * odim.x * odim.y);                           \
    if (o >= total) return;                                                           \
    long n, c, oh, ow;                                                                \
    POOL_SPLIT(o, total, odim.x, odim.y, n, c, oh, ow);

#define POOL_IN_INDEX                                                                 \
    ulong i = get_global_id(0);                                                       \
    ulong total = (ulong)(dim.x * dim.y * dim.z * dim.w);                             \
    if (i >= total) return;                                                           \
    long n, c, ih, iw;                                                                \
    POOL_SPLIT(i, total, dim.z, dim.w, n, c, ih, iw);

__kernel void max_pool_fwd(__global const float *x, ulong x_off, long4 xs, __global float *y,
                           ulong y_off, long4 ys, long4 dim, long2 odim, int8 p) {
    POOL_OUT_INDEX
    int at;
    y[y_off + pool_at(ys, n, c, oh, ow)] = window_max(x, x_off, xs, dim, p, n, c, oh, ow, &at);
}

/* The same, also recording the argmax (contiguous NCHW int32) for backward. */
__kernel void max_pool_fwd_arg(__global const float *x, ulong x_off, long4 xs, __global float *y,
                               ulong y_off, long4 ys, long4 dim, long2 odim, int8 p,
                               __global int *arg) {
    POOL_OUT_INDEX
    int at;
    y[y_off + pool_at(ys, n, c, oh, ow)] = window_max(x, x_off, xs, dim, p, n, c, oh, ow, &at);
    arg[o] = at;
}

/* First and last output index (inclusive) whose window, of size k and stride s
 * over the padded axis, covers padded position q; lo > hi when none does. */
inline long2 covering(long q, int k, int s, long extent) {
    long a = q - k + 1;
    long lo = a <= 0 ? 0 : (a + s - 1) / s;
    long hi = min(q / s, extent - 1);
    return (long2)(lo, hi);
}

__kernel void max_pool_bw(__global const float *g, ulong g_off, long4 gs, __global const int *arg,
                          __global float *gx, ulong gx_off, long4 gxs, long4 dim, long2 odim,
                          int8 p) {
    POOL_IN_INDEX
    int me = (int)(ih * dim.w + iw);
    if (p.s0 == p.s2 && p.s1 == p.s3 && p.s4 == 0 && p.s5 == 0) {
        /* Tiling windows (stride = size, no padding, e.g. 2x2 stride 2): at most
         * one window holds the element; 32-bit divisions, no loops. */
        int oh = (int)ih / p.s0, ow = (int)iw / p.s1;
        float v = 0.0f;
        if (oh < odim.x && ow < odim.y && arg[ARG_AT(n, c, oh, ow)] == me)
            v = g[g_off + pool_at(gs, n, c, oh, ow)];
        gx[gx_off + pool_at(gxs, n, c, ih, iw)] = v;
        return;
    }
    long2 rh = covering(ih + p.s4, p.s0, p.s2, odim.x);
    long2 rw = covering(iw + p.s5, p.s1, p.s3, odim.y);
    float acc = 0.0f;
    for (long oh = rh.x; oh <= rh.y; ++oh)
        for (long ow = rw.x; ow <= rw.y; ++ow)
            if (arg[ARG_AT(n, c, oh, ow)] == me)
                acc += g[g_off + pool_at(gs, n, c, oh, ow)];
    gx[gx_off + pool_at(gxs, n, c, ih, iw)] = acc;
}

/* Number of window positions of (oh, ow) inside the input. */
inline float window_count(long4 dim, int8 p, long oh, long ow) {
    long h0 = oh * p.s2 - p.s4, w0 = ow * p.s3 - p.s5;
    long hn = min(h0 + p.s0, dim.z) - max(h0, 0L);
    long wn = min(w0 + p.s1, dim.w) - max(w0, 0L);
    return (float)(max(hn, 0L) * max(wn, 0L));
}

/* Mean over the positions inside the input (padding not counted, as Keras); a
 * window entirely in the padding gives 0. */
__kernel void avg_pool_fwd(__global const float *x, ulong x_off, long4 xs, __global float *y,
                           ulong y_off, long4 ys, long4 dim, long2 odim, int8 p) {
    POOL_OUT_INDEX
    long h0 = oh * p.s2 - p.s4, w0 = ow * p.s3 - p.s5;
    float acc = 0.0f;
    for (long kh = 0; kh < p.s0; ++kh) {
        long ih = h0 + kh;
        if (ih < 0 || ih >= dim.z) continue;
        for (long kw = 0; kw < p.s1; ++kw) {
            long iw = w0 + kw;
            if (iw < 0 || iw >= dim.w) continue;
            acc += x[x_off + pool_at(xs, n, c, ih, iw)];
        }
    }
    float cnt = window_count(dim, p, oh, ow);
    y[y_off + pool_at(ys, n, c, oh, ow)] = cnt > 0.0f ? acc / cnt : 0.0f;
}

__kernel void avg_pool_bw(__global const float *g, ulong g_off, long4 gs, __global float *gx,
                          ulong gx_off, long4 gxs, long4 dim, long2 odim, int8 p) {
    POOL_IN_INDEX
    long2 rh = covering(ih + p.s4, p.s0, p.s2, odim.x);
    long2 rw = covering(iw + p.s5, p.s1, p.s3, odim.y);
    float acc = 0.0f;
    for (long oh = rh.x; oh <= rh.y; ++oh)
        for (long ow = rw.x; ow <= rw.y; ++ow)
            acc += g[g_off + pool_at(gs, n, c, oh, ow)] / window_count(dim, p, oh, ow);
    gx[gx_off + pool_at(gxs, n, c, ih, iw)] = acc;
}

/* --- upsampling by integer factors (scale.x along H, scale.y along W) ---------- */

__kernel void upsample_nearest_fwd(__global const float *x, ulong x_off, long4 xs,
                                   __global float *y, ulong y_off, long4 ys, long4 dim,
                                   long2 odim, int2 scale) {
    POOL_OUT_INDEX
    y[y_off + pool_at(ys, n, c, oh, ow)] = x[x_off + pool_at(xs, n, c, oh / scale.x, ow / scale.y)];
}

__kernel void upsample_nearest_bw(__global const float *g, ulong g_off, long4 gs,
                                  __global float *gx, ulong gx_off, long4 gxs, long4 dim,
                                  long2 odim, int2 scale) {
    POOL_IN_INDEX
    float acc = 0.0f;
    for (long oh = ih * scale.x; oh < (ih + 1) * scale.x; ++oh)
        for (long ow = iw * scale.y; ow < (iw + 1) * scale.y; ++ow)
            acc += g[g_off + pool_at(gs, n, c, oh, ow)];
    gx[gx_off + pool_at(gxs, n, c, ih, iw)] = acc;
}

/* TensorFlow's half-pixel bilinear sampling of output index o along an axis of
 * `extent` input positions: src = (o + 0.5) / scale - 0.5; the two neighbours
 * floor(src) and ceil(src) are clamped into the axis, with weights 1 - f and f
 * (f = src - floor(src)). */
typedef struct lerp_t {
    long lo, hi;
    float f;
} lerp_t;

inline lerp_t half_pixel(long o, int scale, long extent) {
    float src = ((float)o + 0.5f) / (float)scale - 0.5f;
    float fl = floor(src);
    lerp_t r;
    r.lo = max((long)fl, 0L);
    r.hi = min((long)ceil(src), extent - 1);
    r.f = src - fl;
    return r;
}

/* The weight input position i has in output o along one axis. */
inline float lerp_weight(lerp_t l, long i) {
    return (l.lo == i ? 1.0f - l.f : 0.0f) + (l.hi == i ? l.f : 0.0f);
}

__kernel void upsample_bilinear_fwd(__global const float *x, ulong x_off, long4 xs,
                                    __global float *y, ulong y_off, long4 ys, long4 dim,
                                    long2 odim, int2 scale) {
    POOL_OUT_INDEX
    lerp_t lh = half_pixel(oh, scale.x, dim.z), lw = half_pixel(ow, scale.y, dim.w);
    float tl = x[x_off + pool_at(xs, n, c, lh.lo, lw.lo)];
    float tr = x[x_off + pool_at(xs, n, c, lh.lo, lw.hi)];
    float bl = x[x_off + pool_at(xs, n, c, lh.hi, lw.lo)];
    float br = x[x_off + pool_at(xs, n, c, lh.hi, lw.hi)];
    float top = tl + (tr - tl) * lw.f;
    float bottom = bl + (br - bl) * lw.f;
    y[y_off + pool_at(ys, n, c, oh, ow)] = top + (bottom - top) * lh.f;
}

/* Outputs that can sample input i along an axis: src within (i - 1.5, i + 1.5),
 * that is o in [(i - 1) scale, (i + 2) scale - 1], clipped to the output. */
__kernel void upsample_bilinear_bw(__global const float *g, ulong g_off, long4 gs,
                                   __global float *gx, ulong gx_off, long4 gxs, long4 dim,
                                   long2 odim, int2 scale) {
    POOL_IN_INDEX
    long h_lo = max((ih - 1) * scale.x, 0L), h_hi = min((ih + 2) * scale.x - 1, odim.x - 1);
    long w_lo = max((iw - 1) * scale.y, 0L), w_hi = min((iw + 2) * scale.y - 1, odim.y - 1);
    float acc = 0.0f;
    for (long oh = h_lo; oh <= h_hi; ++oh) {
        float wh = lerp_weight(half_pixel(oh, scale.x, dim.z), ih);
        if (wh == 0.0f) continue;
        float row = 0.0f;
        for (long ow = w_lo; ow <= w_hi; ++ow) {
            float ww = lerp_weight(half_pixel(ow, scale.y, dim.w), iw);
            if (ww != 0.0f) row += ww * g[g_off + pool_at(gs, n, c, oh, ow)];
        }
        acc += wh * row;
    }
    gx[gx_off + pool_at(gxs, n, c, ih, iw)] = acc;
}

/* --- max pooling of contiguous NHWC tensors below 2^31 elements ---------------
 * The common case (a Keras model's MaxPooling2D), written for CPU devices: one
 * work-item per spatial position, looping over the channels, which are
 * contiguous. The compiler vectorises that innermost loop; a kernel with one
 * work-item per element and loops inside runs scalar on a CPU device (it
 * vectorises over work-items only when the body is loop-free), at ten times
 * an elementwise kernel's cost per element. The window is fixed at build time
 * (POOL_KH, POOL_KW, POOL_SH, POOL_SW) so its loops unroll. dim = (N, H, W, C),
 * odim = (OH, OW), pad = (top, left). The argmax array is laid out like the
 * output ([N, OH, OW, C]), the order of the channels-last build above, so
 * either backward reads it. */
#ifdef POOL_KH

__kernel void max_pool_nhwc_fwd(__global const float *x, __global float *y, __global int *arg, int4 dim,
                                int2 odim, int2 pad, int with_arg) {
    int q = (int)get_global_id(0); /* (n * OH + oh) * OW + ow */
    if (q >= dim.x * odim.x * odim.y) return;
    int ow = q % odim.y, t = q / odim.y;
    int oh = t % odim.x, n = t / odim.x;
    int C = dim.w;
    int h0 = oh * POOL_SH - pad.x, w0 = ow * POOL_SW - pad.y;
    __global float *yq = y + (size_t)q * C;
    __global int *aq = arg + (size_t)q * C;
    for (int c = 0; c < C; ++c) {
        float best = -INFINITY;
        int where = -1;
#pragma unroll
        for (int kh = 0; kh < POOL_KH; ++kh) {
#pragma unroll
            for (int kw = 0; kw < POOL_KW; ++kw) {
                int ih = h0 + kh, iw = w0 + kw;
                int inside = ih >= 0 && ih < dim.y && iw >= 0 && iw < dim.z;
                float v = inside ? x[(size_t)((n * dim.y + ih) * dim.z + iw) * C + c] : -INFINITY;
                int take = inside && (where < 0 || POOL_BETTER(v, best));
                best = take ? v : best;
                where = take ? ih * dim.z + iw : where;
            }
        }
        yq[c] = best;
        if (with_arg) aq[c] = where;
    }
}

/* Outputs along one axis whose window (size K, stride S) can cover a position:
 * the j-th candidate is q / S - j, for j < ceil(K / S). */
#define POOL_REACH(K, S) (((K) + (S) - 1) / (S))

/* gx (contiguous NHWC) from g (contiguous [N, OH, OW, C]): each input element
 * gathers the outputs whose recorded maximum it was, rows then columns
 * ascending. One work-item per input position, looping over the channels. */
__kernel void max_pool_nhwc_bw(__global const float *g, __global const int *arg, __global float *gx, int4 dim,
                               int2 odim, int2 pad) {
    int p = (int)get_global_id(0); /* (n * H + ih) * W + iw */
    if (p >= dim.x * dim.y * dim.z) return;
    int iw = p % dim.z, t = p / dim.z;
    int ih = t % dim.y, n = t / dim.y;
    int C = dim.w;
    int me = ih * dim.z + iw;
    int qh = ih + pad.x, qw = iw + pad.y;
    __global float *gp = gx + (size_t)p * C;
    for (int c = 0; c < C; ++c) gp[c] = 0.0f;
#pragma unroll
    for (int a = POOL_REACH(POOL_KH, POOL_SH) - 1; a >= 0; --a) {
#pragma unroll
        for (int b = POOL_REACH(POOL_KW, POOL_SW) - 1; b >= 0; --b) {
            int oh = qh / POOL_SH - a, ow = qw / POOL_SW - b;
            /* a window starting at oh * S <= q reaches q */
            if (oh < 0 || oh >= odim.x || ow < 0 || ow >= odim.y || qh - oh * POOL_SH >= POOL_KH ||
                qw - ow * POOL_SW >= POOL_KW)
                continue;
            size_t o = (size_t)((n * odim.x + oh) * odim.y + ow) * C;
            for (int c = 0; c < C; ++c) gp[c] += arg[o + c] == me ? g[o + c] : 0.0f;
        }
    }
}

#endif
