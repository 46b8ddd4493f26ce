/* Reductions over the middle axis of a contiguous [outer, r, inner] view.
 * MODE (build option): 0 sum, 1 max, 2 min, 3 argmax, 4 argmin. Every output is
 * reduced in a fixed order, so results repeat bit for bit. */
#ifndef MODE
#define MODE 0
#endif

#if MODE == 0
#define INIT 0.0f
#define COMBINE(acc, v) ((acc) + (v))
#elif MODE == 1 || MODE == 3
#define INIT (-INFINITY)
#define BETTER(v, best) ((v) > (best) || (isnan(v) && !isnan(best)))
#else
#define INIT INFINITY
#define BETTER(v, best) ((v) < (best) || (isnan(v) && !isnan(best)))
#endif

#if MODE >= 3
#define OUT_T int
#else
#define OUT_T float
#endif

#if MODE == 0
/* Sums over the middle axis of [outer, r, inner] in parts, for CPU devices
 * (GPUs: reduce_cols_chunk below, same result layout):
 * work-item g = oi * parts + part adds rows [part * chunk, (part + 1) * chunk)
 * of block oi into partial[g * inner ..], looping over the contiguous inner
 * axis, which the compiler vectorises (one work-item per output looped over r
 * with a stride, scalar). It sums x, or with `centered` (x - center)^2, center
 * [outer, inner] (batch norm's second pass). The caller sums the parts in order. */
__kernel void reduce_cols_split(__global const float *restrict x, ulong x_off, ulong outer, ulong r, ulong inner,
                                ulong chunk, ulong parts, __global const float *restrict center, int centered,
                                __global float *restrict partial) {
    ulong g = get_global_id(0);
    if (g >= outer * parts) return;
    ulong oi = g / parts, part = g % parts;
    ulong begin = part * chunk, end = min(r, begin + chunk);
    __global float *acc = partial + g * inner;
    __global const float *p = x + x_off + oi * r * inner;
    __global const float *c = center + oi * inner;
    for (ulong j = 0; j < inner; ++j) acc[j] = 0.0f;
    for (ulong k = begin; k < end; ++k) {
        __global const float *row = p + k * inner;
        if (centered) {
            for (ulong j = 0; j < inner; ++j) {
                float d = row[j] - c[j];
                acc[j] += d * d;
            }
        } else {
            for (ulong j = 0; j < inner; ++j) acc[j] += row[j];
        }
    }
}

/* The same partial sums for GPUs: one work-item per (block, part, column), so
 * neighbouring work-items read neighbouring columns of a row (coalesced) and
 * there are parts * inner of them rather than inner (a work-item per column
 * looping over all rows ran 2 ms for the seed CNN's bias gradient on an H200). */
__kernel void reduce_cols_chunk(__global const float *restrict x, ulong x_off, ulong outer, ulong r, ulong inner,
                                ulong chunk, ulong parts, __global const float *restrict center, int centered,
                                __global float *restrict partial) {
    ulong g = get_global_id(0);
    if (g >= outer * parts * inner) return;
    ulong j = g % inner, t = g / inner;
    ulong oi = t / parts, part = t % parts;
    ulong begin = part * chunk, end = min(r, begin + chunk);
    __global const float *p = x + x_off + oi * r * inner + j;
    float c = centered ? center[oi * inner + j] : 0.0f;
    float acc = 0.0f;
    for (ulong k = begin; k < end; ++k) {
        float d = p[k * inner] - c;
        acc += centered ? d * d : d;
    }
    partial[g] = acc;
}
#endif

/* One work-item per output (outer, inner) pair, looping over r. */
__kernel void reduce_axis(__global const float *x, ulong x_off, ulong outer, ulong r, ulong inner,
                          __global OUT_T *out) {
    ulong o = get_global_id(0);
    if (o >= outer * inner) return;
    ulong oi = o / inner, ii = o % inner;
    __global const float *p = x + x_off + oi * r * inner + ii;
#if MODE == 0
    float acc = 0.0f;
    for (ulong k = 0; k < r; ++k) acc += p[k * inner];
    out[o] = acc;
#else
    float best = INIT;
    int at = 0;
    for (ulong k = 0; k < r; ++k) {
        float v = p[k * inner];
        if (BETTER(v, best)) {
            best = v;
            at = (int)k;
        }
    }
#if MODE >= 3
    out[o] = r ? at : -1;
#else
    out[o] = best;
#endif
#endif
}

/* One work-group per output for long contiguous rows (inner == 1): a fixed tree
 * over local memory. WG is the work-group size (a power of two). */
#ifndef WG
#define WG 64
#endif
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void reduce_rows(__global const float *x, ulong x_off, ulong rows, ulong r, __global OUT_T *out) {
    __local float vals[WG];
    __local int idxs[WG];
    ulong row = get_group_id(0);
    int lid = (int)get_local_id(0);
    __global const float *p = x + x_off + row * r;
#if MODE == 0
    float acc = 0.0f;
    if (row < rows)
        for (ulong k = (ulong)lid; k < r; k += WG) acc += p[k];
    vals[lid] = acc;
#else
    /* Start from the work-item's own first element, so a row that never beats
     * INIT (all -inf for argmax) still reports a real index. */
    float best = INIT;
    int at = 0x7fffffff;
    if (row < rows && (ulong)lid < r) {
        best = p[lid];
        at = lid;
    }
    if (row < rows)
        for (ulong k = (ulong)lid + WG; k < r; k += WG) {
            float v = p[k];
            if (BETTER(v, best)) {
                best = v;
                at = (int)k;
            }
        }
    vals[lid] = best;
    idxs[lid] = at;
#endif
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (lid < s) {
#if MODE == 0
            vals[lid] += vals[lid + s];
#else
            float a = vals[lid], b = vals[lid + s];
            int ia = idxs[lid], ib = idxs[lid + s];
            /* Keep the first index among equals. */
            if (BETTER(b, a) || (b == a && ib < ia) || (isnan(a) && isnan(b) && ib < ia)) {
                vals[lid] = b;
                idxs[lid] = ib;
            }
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && row < rows) {
#if MODE == 0
        out[row] = vals[0];
#elif MODE >= 3
        out[row] = r ? idxs[0] : -1;
#else
        out[row] = vals[0];
#endif
    }
}

/* First stage of a two-stage row reduction (sum, max, min) for few long rows:
 * work-group g reduces chunk `g % parts` of row `g / parts` into partial[g]; a
 * second pass reduces the partials. The split depends only on the shape, so the
 * result repeats exactly. */
#if MODE < 3
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void reduce_rows_split(__global const float *x, ulong x_off, ulong rows, ulong r, ulong chunk,
                       ulong parts, __global float *partial) {
    __local float vals[WG];
    ulong g = get_group_id(0);
    ulong row = g / parts, part = g % parts;
    int lid = (int)get_local_id(0);
    ulong begin = part * chunk, end = min(r, begin + chunk);
    __global const float *p = x + x_off + row * r;
    float acc = INIT;
    if (row < rows)
        for (ulong k = begin + (ulong)lid; k < end; k += WG) {
#if MODE == 0
            acc += p[k];
#else
            float v = p[k];
            if (BETTER(v, acc)) acc = v;
#endif
        }
    vals[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (lid < s) {
#if MODE == 0
            vals[lid] += vals[lid + s];
#else
            if (BETTER(vals[lid + s], vals[lid])) vals[lid] = vals[lid + s];
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && row < rows) partial[g] = vals[0];
}
#endif
