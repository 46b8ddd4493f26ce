/* Normalisation statistics. x is a contiguous [A, K, B] view; each k gets the
 * mean and the biased variance of its A * B elements (batch norm NCHW: A = N,
 * K = C, B = H W; NHWC: A = N H W, K = C, B = 1; layer and group norm: A = 1).
 * One work-group per k: a first pass for the mean, a second for the squared
 * deviations (more accurate than E[x^2] - E[x]^2), each summed in a fixed order
 * and folded by a fixed tree, so results repeat bit for bit. WG (build option)
 * is the work-group size, a power of two. */
#ifndef WG
#define WG 64
#endif

/* Sums the values of this work-item's share of group k (a fixed order), folds
 * them over the work-group and returns the total to every work-item. */
#define NORM_FOLD(acc)                                                   \
    vals[lid] = (acc);                                                   \
    barrier(CLK_LOCAL_MEM_FENCE);                                        \
    for (int s = WG / 2; s > 0; s >>= 1) {                               \
        if (lid < s) vals[lid] += vals[lid + s];                         \
        barrier(CLK_LOCAL_MEM_FENCE);                                    \
    }

/* stats[k] = mean, stats[K + k] = biased variance. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void norm_stats(__global const float *x, ulong x_off, ulong A, ulong K, ulong B,
                __global float *stats) {
    __local float vals[WG];
    ulong k = get_group_id(0);
    int lid = (int)get_local_id(0);
    ulong m = A * B;
    __global const float *p = x + x_off + k * B;
    float acc = 0.0f;
    if (k < K)
        for (ulong j = (ulong)lid; j < m; j += WG) acc += p[(j / B) * K * B + j % B];
    NORM_FOLD(acc)
    float mean = vals[0] / (float)m;
    barrier(CLK_LOCAL_MEM_FENCE);
    acc = 0.0f;
    if (k < K)
        for (ulong j = (ulong)lid; j < m; j += WG) {
            float d = p[(j / B) * K * B + j % B] - mean;
            acc += d * d;
        }
    NORM_FOLD(acc)
    if (lid == 0 && k < K) {
        stats[k] = mean;
        stats[K + k] = vals[0] / (float)m;
    }
}

/* Channels-last statistics (B == 1: batch norm over NHWC) for CPU devices: the
 * parts come from reduce.cl's reduce_cols_split (src/ops/norm.c, cols_stats),
 * sums of x for pass 0 and of (x - mean)^2 for pass 1; column k sums its parts
 * in order and writes stats[pass * K + k] = sum / m. */
__kernel void norm_cols_finish(__global const float *partial, ulong parts, ulong K, ulong m, int pass,
                               __global float *stats) {
    ulong k = get_global_id(0);
    if (k >= K) return;
    float s = 0.0f;
    for (ulong p = 0; p < parts; ++p) s += partial[p * K + k];
    stats[(ulong)pass * K + k] = s / (float)m;
}
