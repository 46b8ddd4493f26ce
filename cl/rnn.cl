/* Recurrent layers: the gates and state update of one time step, and their
 * backward, one launch per step for the whole batch (src/ops/rnn.c runs the
 * GEMMs around them).
 *
 * One work-item per (n, j): batch row n, unit j < H; it handles unit j of every
 * gate. Step s is processed at time index t = s, or T-1-s going backwards.
 *
 *   xp    [N*T, G] input projection x W, rows n*T + t (G = 4H, 3H or H)
 *   rec   [N, G]   h_{s-1} U for this step (absent at step 0 without h0)
 *   ws    [N, T, S] per step what backward needs, at time index t:
 *           LSTM   S = 7H+2: h_prev, c_prev, i, f, g, o, tanh(c), mask, seen
 *           GRU    S = 5H+2: h_prev, z, r, hh, rh (h U_h + b_rec_h), mask, seen
 *           simple S = 2H+2: h_prev, h, mask, seen
 *         The h_prev (and c_prev) slots also carry the state to the next step:
 *         step s writes its new state into the slot of step s+1, so the next
 *         step's GEMM reads h_{s} straight from ws (row stride T*S).
 *   out   [N, T, H] outputs in processing order, then (when the caller asked for
 *         the states) h_last [N, H] and, for LSTM, c_last [N, H].
 *
 * Masking (Keras's rnn() with zero_output_for_mask=False, the default): at a
 * masked step the states carry over unchanged; the output repeats the previous
 * step's output, which is zeros before the first unmasked step. So the output is
 * the state where some step up to this one was unmasked ("seen"), zeros before.
 *
 * Sizes and offsets travel as arguments: one build serves every shape.
 *   dims  = (N, T, H, s)
 *   offs  = (xp_off, b_off, h_off, h_ld, c_off, c_ld, m_off, 0)
 *   flags = (backwards, has_rec, has_bias, has_h, has_c, has_mask, state_out, 0) */

#define RNN_SIGMOID(a) (1.0f / (1.0f + exp(-(a))))

#define RNN_INDEX                                                              \
    ulong N = dims.s0, T = dims.s1, H = dims.s2, s = dims.s3;                  \
    ulong gid = get_global_id(0);                                              \
    if (gid >= N * H) return;                                                  \
    ulong n = gid / H, j = gid % H;                                            \
    int back = flags.s0;                                                       \
    ulong t = back ? T - 1 - s : s;

/* The mask of this step and whether any step so far was unmasked; written into
 * the record by the first unit (read by later launches only). */
#define RNN_MASK(S, MSLOT)                                                     \
    float m = flags.s5 ? (mask[offs.s6 + n * T + t] != 0.0f ? 1.0f : 0.0f)    \
                       : 1.0f;                                                 \
    float seen_prev = 0.0f;                                                    \
    if (s > 0) seen_prev = ws[(n * T + (back ? t + 1 : t - 1)) * (S) + (MSLOT) + 1]; \
    float seen = (m != 0.0f || seen_prev != 0.0f) ? 1.0f : 0.0f;               \
    if (j == 0) {                                                              \
        rec_ws[(MSLOT)] = m;                                                   \
        rec_ws[(MSLOT) + 1] = seen;                                            \
    }

/* Pre-activation of gate k (input projection, bias, recurrent projection). */
#define RNN_PRE(k) (xrow[(k) * H + j] + (flags.s2 ? bias[offs.s1 + (k) * H + j] : 0.0f) + \
                    (flags.s1 ? rrow[(k) * H + j] : 0.0f))

/* The new state hs goes to the next step's h_prev slot, or to h_last. */
#define RNN_STORE_STATE(S, slot, value, tail)                                  \
    if (s + 1 < T)                                                             \
        ws[(n * T + (back ? t - 1 : t + 1)) * (S) + (slot) + j] = (value);      \
    else if (flags.s6)                                                         \
        out[N * T * H + (tail) * N * H + n * H + j] = (value);

__kernel void lstm_step(__global const float *xp, __global const float *rec,
                        __global const float *bias, __global const float *h_src,
                        __global const float *c_src, __global const float *mask,
                        __global float *ws, __global float *out, ulong4 dims, ulong8 offs,
                        int8 flags) {
    RNN_INDEX
    ulong G = 4 * H, S = 7 * H + 2;
    __global float *rec_ws = ws + (n * T + t) * S;
    __global const float *xrow = xp + offs.s0 + (n * T + t) * G;
    __global const float *rrow = rec + n * G;
    float hp = flags.s3 ? h_src[offs.s2 + n * offs.s3 + j] : 0.0f;
    float cp = flags.s4 ? c_src[offs.s4 + n * offs.s5 + j] : 0.0f;
    if (s == 0) { /* later steps find their h_prev, c_prev there already */
        rec_ws[j] = hp;
        rec_ws[H + j] = cp;
    }
    RNN_MASK(S, 7 * H)
    float i = RNN_SIGMOID(RNN_PRE(0));
    float f = RNN_SIGMOID(RNN_PRE(1));
    float g = tanh(RNN_PRE(2));
    float o = RNN_SIGMOID(RNN_PRE(3));
    float c = f * cp + i * g;
    float tc = tanh(c);
    float h = o * tc;
    rec_ws[2 * H + j] = i;
    rec_ws[3 * H + j] = f;
    rec_ws[4 * H + j] = g;
    rec_ws[5 * H + j] = o;
    rec_ws[6 * H + j] = tc;
    float hs = m != 0.0f ? h : hp, cs = m != 0.0f ? c : cp;
    out[(n * T + s) * H + j] = seen != 0.0f ? hs : 0.0f;
    RNN_STORE_STATE(S, 0, hs, 0)
    RNN_STORE_STATE(S, H, cs, 1)
}

/* GRU with reset_after (Keras's default): gates z, r, h;
 * hh = tanh(x W_h + b_in_h + r (h U_h + b_rec_h)), h' = z h + (1 - z) hh.
 * bias is [2, 3H]: the input bias, then the recurrent bias (offset 3H). */
__kernel void gru_step(__global const float *xp, __global const float *rec,
                       __global const float *bias, __global const float *h_src,
                       __global const float *unused, __global const float *mask,
                       __global float *ws, __global float *out, ulong4 dims, ulong8 offs,
                       int8 flags) {
    (void)unused;
    RNN_INDEX
    ulong G = 3 * H, S = 5 * H + 2;
    __global float *rec_ws = ws + (n * T + t) * S;
    __global const float *xrow = xp + offs.s0 + (n * T + t) * G;
    __global const float *rrow = rec + n * G;
    float hp = flags.s3 ? h_src[offs.s2 + n * offs.s3 + j] : 0.0f;
    if (s == 0) rec_ws[j] = hp;
    RNN_MASK(S, 5 * H)
    float bi[3] = {0.0f, 0.0f, 0.0f}, br[3] = {0.0f, 0.0f, 0.0f}, rv[3] = {0.0f, 0.0f, 0.0f};
    for (int k = 0; k < 3; k++) {
        if (flags.s2) {
            bi[k] = bias[offs.s1 + k * H + j];
            br[k] = bias[offs.s1 + G + k * H + j];
        }
        if (flags.s1) rv[k] = rrow[k * H + j];
    }
    float z = RNN_SIGMOID((xrow[j] + bi[0]) + (rv[0] + br[0]));
    float r = RNN_SIGMOID((xrow[H + j] + bi[1]) + (rv[1] + br[1]));
    float rh = rv[2] + br[2];
    float hh = tanh((xrow[2 * H + j] + bi[2]) + r * rh);
    float h = z * hp + (1.0f - z) * hh;
    rec_ws[H + j] = z;
    rec_ws[2 * H + j] = r;
    rec_ws[3 * H + j] = hh;
    rec_ws[4 * H + j] = rh;
    float hs = m != 0.0f ? h : hp;
    out[(n * T + s) * H + j] = seen != 0.0f ? hs : 0.0f;
    RNN_STORE_STATE(S, 0, hs, 0)
}

/* SimpleRNN: h' = tanh(x W + b + h U). */
__kernel void simple_rnn_step(__global const float *xp, __global const float *rec,
                              __global const float *bias, __global const float *h_src,
                              __global const float *unused, __global const float *mask,
                              __global float *ws, __global float *out, ulong4 dims, ulong8 offs,
                              int8 flags) {
    (void)unused;
    RNN_INDEX
    ulong G = H, S = 2 * H + 2;
    __global float *rec_ws = ws + (n * T + t) * S;
    __global const float *xrow = xp + offs.s0 + (n * T + t) * G;
    __global const float *rrow = rec + n * G;
    float hp = flags.s3 ? h_src[offs.s2 + n * offs.s3 + j] : 0.0f;
    if (s == 0) rec_ws[j] = hp;
    RNN_MASK(S, 2 * H)
    float h = tanh(RNN_PRE(0));
    rec_ws[H + j] = h;
    float hs = m != 0.0f ? h : hp;
    out[(n * T + s) * H + j] = seen != 0.0f ? hs : 0.0f;
    RNN_STORE_STATE(S, 0, hs, 0)
}

/* --- backward -------------------------------------------------------------------- */

/* Step s backwards in time. gout is the gradient of `out` (outputs, then the
 * state tail when gflags.s1). dh, dc [N, H] carry the state gradients from step
 * s+1 to step s; gh [N, H] is step s+1's dpre U^T (read for s + 1 < T). dpre
 * receives the gradient of the pre-activations at row n*T + t; for GRU a second
 * block (offset N*T*G) holds the recurrent part, which differs in gate h.
 *   dims = (N, T, H, s), gflags = (backwards, g_state), g_off: gout's offset. */
#define RNN_GRAD_INDEX                                                         \
    ulong N = dims.s0, T = dims.s1, H = dims.s2, s = dims.s3;                  \
    ulong gid = get_global_id(0);                                              \
    if (gid >= N * H) return;                                                  \
    ulong n = gid / H, j = gid % H;                                            \
    int back = gflags.s0;                                                      \
    ulong t = back ? T - 1 - s : s;                                            \
    ulong nj = n * H + j;

/* The gradient reaching the state after step s: from the next step (or h_last),
 * plus the output's where the output is the state. */
#define RNN_GRAD_H(S, MSLOT, hvar)                                             \
    __global const float *rec_ws = ws + (n * T + t) * (S);                    \
    float m = rec_ws[(MSLOT)], seen = rec_ws[(MSLOT) + 1];                     \
    float hvar;                                                                \
    if (s + 1 < T) hvar = dh[nj] + gh[nj];                                     \
    else hvar = gflags.s1 ? gout[g_off + N * T * H + nj] : 0.0f;              \
    if (seen != 0.0f) hvar += gout[g_off + (n * T + s) * H + j];

__kernel void lstm_step_grad(__global const float *ws, __global const float *gout, ulong g_off,
                             __global float *dh, __global float *dc, __global const float *gh,
                             __global float *dpre, ulong4 dims, int2 gflags) {
    RNN_GRAD_INDEX
    ulong G = 4 * H, S = 7 * H + 2;
    RNN_GRAD_H(S, 7 * H, dhv)
    float dcv = s + 1 < T ? dc[nj] : (gflags.s1 ? gout[g_off + N * T * H + N * H + nj] : 0.0f);
    __global float *d = dpre + (n * T + t) * G;
    if (m == 0.0f) { /* the states passed through unchanged */
        d[j] = d[H + j] = d[2 * H + j] = d[3 * H + j] = 0.0f;
        dh[nj] = dhv;
        dc[nj] = dcv;
        return;
    }
    float cp = rec_ws[H + j], i = rec_ws[2 * H + j], f = rec_ws[3 * H + j];
    float g = rec_ws[4 * H + j], o = rec_ws[5 * H + j], tc = rec_ws[6 * H + j];
    float dct = dcv + dhv * o * (1.0f - tc * tc);
    d[j] = dct * g * i * (1.0f - i);
    d[H + j] = dct * cp * f * (1.0f - f);
    d[2 * H + j] = dct * i * (1.0f - g * g);
    d[3 * H + j] = dhv * tc * o * (1.0f - o);
    dh[nj] = 0.0f; /* h_prev reaches the gates only through U: the GEMM adds it */
    dc[nj] = dct * f;
}

__kernel void gru_step_grad(__global const float *ws, __global const float *gout, ulong g_off,
                            __global float *dh, __global float *unused, __global const float *gh,
                            __global float *dpre, ulong4 dims, int2 gflags) {
    (void)unused;
    RNN_GRAD_INDEX
    ulong G = 3 * H, S = 5 * H + 2;
    RNN_GRAD_H(S, 5 * H, dhv)
    __global float *dx = dpre + (n * T + t) * G;
    __global float *dr = dpre + N * T * G + (n * T + t) * G;
    if (m == 0.0f) {
        dx[j] = dx[H + j] = dx[2 * H + j] = 0.0f;
        dr[j] = dr[H + j] = dr[2 * H + j] = 0.0f;
        dh[nj] = dhv;
        return;
    }
    float hp = rec_ws[j], z = rec_ws[H + j], r = rec_ws[2 * H + j];
    float hh = rec_ws[3 * H + j], rh = rec_ws[4 * H + j];
    float dah = dhv * (1.0f - z) * (1.0f - hh * hh);
    float daz = dhv * (hp - hh) * z * (1.0f - z);
    float dar = dah * rh * r * (1.0f - r);
    dx[j] = dr[j] = daz;
    dx[H + j] = dr[H + j] = dar;
    dx[2 * H + j] = dah;
    dr[2 * H + j] = dah * r;
    dh[nj] = dhv * z;
}

__kernel void simple_rnn_step_grad(__global const float *ws, __global const float *gout,
                                   ulong g_off, __global float *dh, __global float *unused,
                                   __global const float *gh, __global float *dpre, ulong4 dims,
                                   int2 gflags) {
    (void)unused;
    RNN_GRAD_INDEX
    ulong S = 2 * H + 2;
    RNN_GRAD_H(S, 2 * H, dhv)
    __global float *d = dpre + (n * T + t) * H;
    if (m == 0.0f) {
        d[j] = 0.0f;
        dh[nj] = dhv;
        return;
    }
    float h = rec_ws[H + j];
    d[j] = dhv * (1.0f - h * h);
    dh[nj] = 0.0f;
}
