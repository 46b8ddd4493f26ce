/* FFT convolution (src/ops/conv_fft.c): the steps around clFFT's transforms.
 * Planes are row-major [rows, cols]; spectra are clFFT's hermitian interleaved
 * layout [FH, FW/2 + 1] of float2. Sizes travel as arguments. */

/* dst[p, i, j] (planes of fh x fw) = src[p, (i - top) / dh, (j - left) / dw] where
 * that lands on a source element (offset by top/left, spread by dh/dw), else 0.
 * Inputs use (pad_top, pad_left, 1, 1); kernels use (0, 0, dilation). A source
 * of 0 x 0 planes fills dst with zeros. */
__kernel void fft_pad(__global const float *src, ulong src_off, long sh, long sw,
                      __global float *dst, ulong dst_off, ulong planes, ulong fh, ulong fw,
                      long top, long left, long dh, long dw) {
    ulong gid = get_global_id(0);
    if (gid >= planes * fh * fw) return;
    ulong p = gid / (fh * fw), r = gid % (fh * fw);
    long i = (long)(r / fw) - top, j = (long)(r % fw) - left;
    float v = 0.0f;
    if (i >= 0 && j >= 0 && i % dh == 0 && j % dw == 0) {
        long si = i / dh, sj = j / dw;
        if (si < sh && sj < sw)
            v = src[src_off + (p * (ulong)sh + (ulong)si) * (ulong)sw + (ulong)sj];
    }
    dst[dst_off + gid] = v;
}

/* y[b, o, k] = sum over ch of x_hat[b, ch, k] * conj(w_hat[o, ch, k]), summed in
 * channel order (deterministic). The conjugate turns the circular convolution
 * into the cross-correlation deep learning calls convolution. spec holds the n*c
 * input spectra followed by the o*c kernel spectra, each of `bins` values. */
__kernel void fft_mac(__global const float2 *spec, ulong n, ulong c, ulong o, ulong bins,
                      __global float2 *y) {
    ulong gid = get_global_id(0);
    if (gid >= n * o * bins) return;
    ulong k = gid % bins, bo = gid / bins;
    ulong b = bo / o, oc = bo % o;
    __global const float2 *xs = spec + b * c * bins + k;
    __global const float2 *ws = spec + (n * c + oc * c) * bins + k;
    float re = 0.0f, im = 0.0f;
    for (ulong ch = 0; ch < c; ++ch) {
        float2 a = xs[ch * bins], w = ws[ch * bins];
        re += a.x * w.x + a.y * w.y;
        im += a.y * w.x - a.x * w.y;
    }
    y[gid] = (float2)(re, im);
}

/* out[p, i, j] = scale * y[p, i, j] for the top-left oh x ow corner of each fh x fw plane. */
__kernel void fft_crop(__global const float *y, ulong planes, ulong fh, ulong fw, ulong oh,
                       ulong ow, float scale, __global float *out, ulong out_off) {
    ulong gid = get_global_id(0);
    if (gid >= planes * oh * ow) return;
    ulong p = gid / (oh * ow), r = gid % (oh * ow);
    ulong i = r / ow, j = r % ow;
    out[out_off + gid] = scale * y[(p * fh + i) * fw + j];
}
