/* Attention's masked, scaled softmax and its backward (src/ops/attention.c).
 *
 * The scores S are a [BH, Tq, Tk] tensor (row-major from the offset); row
 * r = bh Tq + i holds the scores of query i against every key j. A key is kept
 * when the causal rule allows it (j <= i + shift, shift = Tk - Tq) and the mask
 * (any strided view broadcast to [B, H, Tq, Tk]: stride 0 on broadcast axes) is
 * nonzero there. P = softmax over the kept keys of scale * S; masked keys get 0,
 * and a row with no kept key is all zeros rather than NaN.
 *
 * The first two kernels take one work-item per row, three passes over its keys
 * in a fixed order (maximum, sum of exponentials, normalisation), so results
 * repeat bit for bit; the _rows forms below share a row among a work-group. */

inline int attn_keep(ulong i, ulong j, int causal, long shift, int has_mask,
                     __global const float *mask, ulong mbase, long mj) {
    if (causal && (long)j > (long)i + shift) return 0;
    if (has_mask && mask[(long)mbase + (long)j * mj] == 0.0f) return 0;
    return 1;
}

/* Row r of the scores is (b, h, i) = (r / Tq / H, r / Tq % H, r % Tq); the
 * offset of its mask row. m_strides: the mask's strides over (b, h, i, j), 0
 * where it is broadcast. */
inline ulong attn_mask_row(ulong r, ulong Tq, ulong H, ulong m_off, long4 m_strides) {
    ulong bh = r / Tq, i = r % Tq, b = bh / H, h = bh % H;
    return (ulong)((long)m_off + (long)b * m_strides.x + (long)h * m_strides.y + (long)i * m_strides.z);
}

__kernel void attn_softmax(__global const float *s, ulong s_off, ulong rows, ulong Tq, ulong Tk,
                           ulong H, float scale, int causal, long shift, int has_mask,
                           __global const float *mask, ulong m_off, long4 m_strides,
                           __global float *p) {
    ulong r = get_global_id(0);
    if (r >= rows) return;
    ulong i = r % Tq, mbase = attn_mask_row(r, Tq, H, m_off, m_strides);
    long mj = m_strides.w;
    __global const float *row = s + s_off + r * Tk;
    __global float *out = p + r * Tk;
    float mx = -INFINITY;
    int any = 0;
    for (ulong j = 0; j < Tk; j++)
        if (attn_keep(i, j, causal, shift, has_mask, mask, mbase, mj)) {
            mx = fmax(mx, scale * row[j]);
            any = 1;
        }
    if (!any) {
        for (ulong j = 0; j < Tk; j++) out[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (ulong j = 0; j < Tk; j++) {
        float e = attn_keep(i, j, causal, shift, has_mask, mask, mbase, mj)
                      ? exp(scale * row[j] - mx)
                      : 0.0f;
        out[j] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (ulong j = 0; j < Tk; j++) out[j] *= inv;
}

/* dS = scale P (dP - sum_j dP P): masked keys (P = 0) get no gradient. p and g
 * are row-major [rows, Tk] from their offsets. */
__kernel void attn_softmax_backward(__global const float *p, ulong p_off, __global const float *g,
                                    ulong g_off, ulong rows, ulong Tk, float scale,
                                    __global float *ds) {
    ulong r = get_global_id(0);
    if (r >= rows) return;
    __global const float *pr = p + p_off + r * Tk;
    __global const float *gr = g + g_off + r * Tk;
    __global float *out = ds + r * Tk;
    float dot = 0.0f;
    for (ulong j = 0; j < Tk; j++) dot += gr[j] * pr[j];
    for (ulong j = 0; j < Tk; j++) out[j] = scale * (pr[j] * (gr[j] - dot));
}

/* --- one work-group per row, for long rows ------------------------------------------------
 * The same computations with the keys of a row shared among WG work-items
 * (j = lid, lid + WG, ...: neighbouring work-items read neighbouring scores) and
 * the maximum and the sums folded by a fixed tree over local memory, so results
 * repeat bit for bit (they differ from the kernels above by the order of the
 * sums only). One work-group per row: the group id is the row. WG (build option)
 * is a power of two. */
#ifndef WG
#define WG 64
#endif

#define ATTN_FOLD(vals, lid, combine)                                    \
    for (int s_ = WG / 2; s_ > 0; s_ >>= 1) {                            \
        if ((lid) < s_) vals[lid] = combine(vals[lid], vals[(lid) + s_]); \
        barrier(CLK_LOCAL_MEM_FENCE);                                    \
    }
#define ATTN_ADD(a, b) ((a) + (b))

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void attn_softmax_rows(__global const float *s, ulong s_off, ulong rows, ulong Tq, ulong Tk,
                       ulong H, float scale, int causal, long shift, int has_mask,
                       __global const float *mask, ulong m_off, long4 m_strides,
                       __global float *p) {
    __local float vals[WG];
    ulong r = get_group_id(0);
    int lid = (int)get_local_id(0);
    ulong i = r % Tq, mbase = attn_mask_row(r, Tq, H, m_off, m_strides);
    long mj = m_strides.w;
    __global const float *row = s + s_off + r * Tk;
    __global float *out = p + r * Tk;
    float mx = -INFINITY;
    for (ulong j = (ulong)lid; j < Tk; j += WG)
        if (attn_keep(i, j, causal, shift, has_mask, mask, mbase, mj)) mx = fmax(mx, scale * row[j]);
    vals[lid] = mx;
    barrier(CLK_LOCAL_MEM_FENCE);
    ATTN_FOLD(vals, lid, fmax)
    mx = vals[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    if (mx == -INFINITY) { /* no kept key (the same for the whole group) */
        for (ulong j = (ulong)lid; j < Tk; j += WG) out[j] = 0.0f;
        return;
    }
    float acc = 0.0f;
    for (ulong j = (ulong)lid; j < Tk; j += WG) {
        float e = attn_keep(i, j, causal, shift, has_mask, mask, mbase, mj)
                      ? exp(scale * row[j] - mx)
                      : 0.0f;
        out[j] = e;
        acc += e;
    }
    vals[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    ATTN_FOLD(vals, lid, ATTN_ADD)
    float inv = 1.0f / vals[0];
    for (ulong j = (ulong)lid; j < Tk; j += WG) out[j] *= inv; /* this work-item's own entries */
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void attn_softmax_backward_rows(__global const float *p, ulong p_off, __global const float *g,
                                ulong g_off, ulong rows, ulong Tk, float scale,
                                __global float *ds) {
    __local float vals[WG];
    ulong r = get_group_id(0);
    int lid = (int)get_local_id(0);
    __global const float *pr = p + p_off + r * Tk;
    __global const float *gr = g + g_off + r * Tk;
    __global float *out = ds + r * Tk;
    float acc = 0.0f;
    for (ulong j = (ulong)lid; j < Tk; j += WG) acc += gr[j] * pr[j];
    vals[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    ATTN_FOLD(vals, lid, ATTN_ADD)
    float dot = vals[0];
    for (ulong j = (ulong)lid; j < Tk; j += WG) out[j] = scale * (pr[j] * (gr[j] - dot));
}
