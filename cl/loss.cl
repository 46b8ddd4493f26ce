/* Losses: the fused softmax cross-entropy on integer labels (forward and
 * backward) and the one-hot expansion of labels for the losses on probabilities.
 *
 * Logits are a strided 2-D view [rows, classes] (offset, row and column strides
 * in elements); labels a strided 1-D int32 view. One work-item per row reduces
 * over the classes in index order, so results repeat bit for bit.
 *
 * A label outside [0, classes) is never used as an index: the row's loss, its
 * gradient row and its one-hot row are NaN, so a NaN check on the loss catches
 * bad labels without a host read. */
#pragma OPENCL FP_CONTRACT OFF

inline int label_ok(int label, ulong classes) { return label >= 0 && (ulong)label < classes; }

/* loss[r] = lse - ((1 - eps) x[label] + eps / C sum_j x[j]), computed relative to
 * the row maximum m for accuracy; lse[r] = m + log(sum_j exp(x[j] - m)) is kept
 * for the backward pass. */
__kernel void xent_forward(__global const float *x, ulong x_off, long x_rs, long x_cs,
                           __global const int *labels, ulong l_off, long l_st, ulong rows,
                           ulong classes, float smoothing, __global float *loss,
                           __global float *lse) {
    ulong r = get_global_id(0);
    if (r >= rows) return;
    __global const float *row = x + x_off + (long)r * x_rs;
    float m = -INFINITY;
    for (ulong j = 0; j < classes; ++j) m = fmax(m, row[(long)j * x_cs]);
    float s = 0.0f, sz = 0.0f;
    for (ulong j = 0; j < classes; ++j) {
        float z = row[(long)j * x_cs] - m;
        s += exp(z);
        sz += z;
    }
    float log_s = log(s);
    int label = labels[l_off + (long)r * l_st];
    float out;
    if (label_ok(label, classes)) {
        float picked = (1.0f - smoothing) * (row[(long)label * x_cs] - m);
        if (smoothing != 0.0f) picked += smoothing / (float)classes * sz;
        out = log_s - picked;
    } else {
        out = NAN;
    }
    loss[r] = out;
    lse[r] = m + log_s;
}

/* dx[r, j] = (exp(x[r, j] - lse[r]) - target[r, j]) * g * inv_n, target the
 * smoothed one-hot row of the label. One work-item per element; dx contiguous. */
__kernel void xent_backward(__global const float *x, ulong x_off, long x_rs, long x_cs,
                            __global const int *labels, ulong l_off, long l_st,
                            __global const float *lse, __global const float *g, ulong g_off,
                            ulong rows, ulong classes, float smoothing, float inv_n,
                            __global float *dx) {
    ulong i = get_global_id(0);
    if (i >= rows * classes) return;
    ulong r = i / classes, j = i % classes;
    int label = labels[l_off + (long)r * l_st];
    float d;
    if (label_ok(label, classes)) {
        float p = exp(x[x_off + (long)r * x_rs + (long)j * x_cs] - lse[r]);
        float t = smoothing / (float)classes + ((ulong)label == j ? 1.0f - smoothing : 0.0f);
        d = (p - t) * (g[g_off] * inv_n);
    } else {
        d = NAN;
    }
    dx[i] = d;
}
