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
