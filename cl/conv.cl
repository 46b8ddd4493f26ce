/* Convolution by im2col + GEMM: the column matrix and its adjoint.
 *
 * The image is [N, C, H, W] (any strides for im2col; contiguous for col2im's
 * output); the column matrix is contiguous [C*KH*KW, N*OH*OW] with rows ordered
 * (c, kh, kw) and columns (n, oh, ow), so the rows of group g are one block and a
 * GEMM per group (or a strided-batched GEMM over groups) reads them in place.
 *
 * Column (oh, ow) at kernel offset (kh, kw) reads image pixel
 *     h = oh * sh - pt + kh * dh,   w = ow * sw - pl + kw * dw
 * (zero outside the image). Padding after the image (bottom, right) needs no
 * argument: it is whatever OH, OW reach past H, W.
 *
 * Sizes travel as arguments, never as build options, so one build serves every
 * shape:
 *   img = (N, C, H, W, stride_n, stride_c, stride_h, stride_w)
 *   geo = (KH, KW, sh, sw, dh, dw, pt, pl)
 *   out = (OH, OW) */

/* One work-item per output row (oh) of one image n and one column row (c, kh,
 * kw): it writes the OW consecutive column entries of that row in a loop,
 * which a CPU device vectorises (it cannot vectorise across work-items whose
 * body holds a loop, and one work-item per element paid a gather and index
 * arithmetic per element). Work-item r = ((c * KH + kh) * KW + kw) * N * OH
 * + n * OH + oh. */
__kernel void im2col(__global const float *x, ulong x_off, long8 img, int8 geo, long2 out,
                     __global float *cols) {
    long N = img.s0, C = img.s1, H = img.s2, W = img.s3;
    long KH = geo.s0, KW = geo.s1;
    long OH = out.s0, OW = out.s1;
    long NOH = N * OH;
    ulong r = get_global_id(0);
    if (r >= (ulong)(C * KH * KW * NOH)) return;
    long row = (long)r / NOH, m = (long)r % NOH;
    long n = m / OH, oh = m % OH;
    long kw = row % KW, t = row / KW;
    long kh = t % KH, c = t / KH;
    long h = oh * geo.s2 - geo.s6 + kh * geo.s4;
    __global float *dst = cols + (ulong)(row * N * OH + m) * (ulong)OW;
    if (h < 0 || h >= H) {
        for (long ow = 0; ow < OW; ++ow) dst[ow] = 0.0f;
        return;
    }
    __global const float *src = x + (long)x_off + n * img.s4 + c * img.s5 + h * img.s6;
    long w0 = kw * geo.s5 - geo.s7, sw = geo.s3, ws = img.s7;
    for (long ow = 0; ow < OW; ++ow) {
        long w = w0 + ow * sw;
        dst[ow] = w >= 0 && w < W ? src[w * ws] : 0.0f;
    }
}

/* The adjoint of im2col: one work-item per image pixel sums, in a fixed order
 * (kh, then kw), the column entries read from it. No atomics, so the result
 * repeats bit for bit. The output image is contiguous [N, C, H, W]. */
__kernel void col2im(__global const float *cols, ulong cols_off, long8 img, int8 geo, long2 out,
                     __global float *x) {
    long N = img.s0, C = img.s1, H = img.s2, W = img.s3;
    long KH = geo.s0, KW = geo.s1;
    long sh = geo.s2, sw = geo.s3, dh = geo.s4, dw = geo.s5, pt = geo.s6, pl = geo.s7;
    long OH = out.s0, OW = out.s1;
    long P = OH * OW, NP = N * P;
    ulong total = (ulong)(N * C * H * W);
    ulong i = get_global_id(0);
    if (i >= total) return;
    long w = (long)i % W, t = (long)i / W;
    long h = t % H;
    t /= H;
    long c = t % C, n = t / C;
    __global const float *base = cols + cols_off + n * P;
    float acc = 0.0f;
    for (long kh = 0; kh < KH; ++kh) {
        long hh = h + pt - kh * dh;
        if (hh < 0) break; /* hh only decreases with kh */
        if (hh % sh) continue;
        long oh = hh / sh;
        if (oh >= OH) continue;
        for (long kw = 0; kw < KW; ++kw) {
            long ww = w + pl - kw * dw;
            if (ww < 0) break;
            if (ww % sw) continue;
            long ow = ww / sw;
            if (ow >= OW) continue;
            acc += base[((c * KH + kh) * KW + kw) * NP + oh * OW + ow];
        }
    }
    x[i] = acc;
}

/* --- direct convolution of NHWC tensors with few taps per output -------------
 * For convolutions whose C * KH * KW is small (the seed CNN's first layer: 3x3
 * over one channel), im2col + GEMM spends its time moving columns and packing
 * panels rather than multiplying. These kernels read the patch of one output
 * position into registers and loop over the output channels, contiguous in
 * channels-last memory, which a CPU device vectorises. DC_C, DC_KH, DC_KW (build
 * options) fix the patch, k = (c * KH + kh) * KW + kw as in the weights [O, C,
 * KH, KW]. in = (N, H, W, C), od = (OH, OW, O), geo = (SH, SW, DH, DW, PT, PL). */
#ifdef DC_C
#define DC_K (DC_C * DC_KH * DC_KW)

/* The patch of output position (n, oh, ow) from contiguous NHWC x (0 outside). */
inline void dc_patch(__global const float *x, int4 in, int8 geo, int n, int oh, int ow, float *patch) {
#pragma unroll
    for (int c = 0; c < DC_C; ++c)
#pragma unroll
        for (int kh = 0; kh < DC_KH; ++kh)
#pragma unroll
            for (int kw = 0; kw < DC_KW; ++kw) {
                int ih = oh * geo.s0 - geo.s4 + kh * geo.s2, iw = ow * geo.s1 - geo.s5 + kw * geo.s3;
                int inside = ih >= 0 && ih < in.y && iw >= 0 && iw < in.z;
                patch[(c * DC_KH + kh) * DC_KW + kw] =
                    inside ? x[(size_t)((n * in.y + ih) * in.z + iw) * DC_C + c] : 0.0f;
            }
}

/* y [N*OH*OW, O] (channels-last) = patches x wt, wt = [K, O] (the weights
 * transposed). One work-item per output position; sums in k order. */
__kernel void conv_direct_fwd(__global const float *restrict x, __global const float *restrict wt,
                              __global float *restrict y, int4 in, int4 od, int8 geo) {
    int pos = (int)get_global_id(0);
    if (pos >= in.x * od.x * od.y) return;
    int ow = pos % od.y, t = pos / od.y;
    int oh = t % od.x, n = t / od.x;
    float patch[DC_K];
    dc_patch(x, in, geo, n, oh, ow, patch);
    int O = od.z;
    __global float *yp = y + (size_t)pos * O;
    for (int o = 0; o < O; ++o) {
        float acc = 0.0f;
#pragma unroll
        for (int k = 0; k < DC_K; ++k) acc += patch[k] * wt[k * O + o];
        yp[o] = acc;
    }
}

/* The weight gradient in parts: partial[part] ([K, O]) sums, over output
 * positions [part * chunk, (part + 1) * chunk) in order, patch[k] * g[pos, o]
 * (g [N*OH*OW, O] contiguous). The caller sums the parts in order. */
__kernel void conv_direct_dw(__global const float *restrict x, __global const float *restrict g,
                             __global float *restrict partial, int4 in, int4 od, int8 geo, int chunk, int parts) {
    int part = (int)get_global_id(0);
    if (part >= parts) return;
    int O = od.z, total = in.x * od.x * od.y;
    int begin = part * chunk, end = min(total, begin + chunk);
    __global float *acc = partial + (size_t)part * DC_K * O;
    for (int j = 0; j < DC_K * O; ++j) acc[j] = 0.0f;
    for (int pos = begin; pos < end; ++pos) {
        int ow = pos % od.y, t = pos / od.y;
        int oh = t % od.x, n = t / od.x;
        float patch[DC_K];
        dc_patch(x, in, geo, n, oh, ow, patch);
        __global const float *gp = g + (size_t)pos * O;
#pragma unroll
        for (int k = 0; k < DC_K; ++k) {
            float pk = patch[k];
            __global float *ak = acc + k * O;
            for (int o = 0; o < O; ++o) ak[o] += pk * gp[o];
        }
    }
}
#endif

/* --- im2col and col2im for channels-last tensors -------------------------------
 * colsT [N*OH*OW, KH*KW*C]: row pos holds the patch of output position pos,
 * tap (kh, kw) at (kh * KW + kw) * C, its C channels contiguous, so patches
 * copy and sum C-long runs in loops a CPU device vectorises. The weights go
 * with them as [O, KH, KW, C]. x and gx are contiguous NHWC; in = (N, H, W, C),
 * od = (OH, OW), kg = (KH, KW, SH, SW, DH, DW, PT, PL). */

__kernel void im2col_nhwc(__global const float *restrict x, __global float *restrict cols, int4 in, int2 od,
                          int8 kg) {
    int pos = (int)get_global_id(0);
    if (pos >= in.x * od.x * od.y) return;
    int ow = pos % od.y, t = pos / od.y;
    int oh = t % od.x, n = t / od.x;
    int C = in.w;
    __global float *dst = cols + (size_t)pos * kg.s0 * kg.s1 * C;
    int w0 = ow * kg.s3 - kg.s7, run = kg.s1 * C;
    for (int kh = 0; kh < kg.s0; ++kh) {
        int ih = oh * kg.s2 - kg.s6 + kh * kg.s4;
        if (kg.s5 == 1 && ih >= 0 && ih < in.y && w0 >= 0 && w0 + kg.s1 <= in.z) {
            /* undilated row inside the image: its KW taps are one run of KW * C floats */
            __global const float *src = x + (size_t)((n * in.y + ih) * in.z + w0) * C;
            for (int j = 0; j < run; ++j) dst[j] = src[j];
            dst += run;
            continue;
        }
        for (int kw = 0; kw < kg.s1; ++kw, dst += C) {
            int iw = ow * kg.s3 - kg.s7 + kw * kg.s5;
            if (ih < 0 || ih >= in.y || iw < 0 || iw >= in.z) {
                for (int c = 0; c < C; ++c) dst[c] = 0.0f;
            } else {
                __global const float *src = x + (size_t)((n * in.y + ih) * in.z + iw) * C;
                for (int c = 0; c < C; ++c) dst[c] = src[c];
            }
        }
    }
}

/* The adjoint: input position (n, ih, iw) sums, in (kh, kw) order, the column
 * entries read from it. One work-item per input position. */
__kernel void col2im_nhwc(__global const float *restrict cols, __global float *restrict gx, int4 in, int2 od,
                          int8 kg) {
    int pos = (int)get_global_id(0);
    if (pos >= in.x * in.y * in.z) return;
    int iw = pos % in.z, t = pos / in.z;
    int ih = t % in.y, n = t / in.y;
    int C = in.w, K = kg.s0 * kg.s1 * C;
    __global float *dst = gx + (size_t)pos * C;
    for (int c = 0; c < C; ++c) dst[c] = 0.0f;
    for (int kh = 0; kh < kg.s0; ++kh) {
        int hh = ih + kg.s6 - kh * kg.s4; /* = oh * SH */
        if (hh < 0 || hh % kg.s2) continue;
        int oh = hh / kg.s2;
        if (oh >= od.x) continue;
        for (int kw = 0; kw < kg.s1; ++kw) {
            int ww = iw + kg.s7 - kw * kg.s5;
            if (ww < 0 || ww % kg.s3) continue;
            int ow = ww / kg.s3;
            if (ow >= od.y) continue;
            __global const float *src = cols + (size_t)((n * od.x + oh) * od.y + ow) * K + (kh * kg.s1 + kw) * C;
            for (int c = 0; c < C; ++c) dst[c] += src[c];
        }
    }
}
