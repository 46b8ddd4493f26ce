/* Optimizer updates (src/nn/optim.c). One work-item per parameter element, up
 * to GROUP parameters per launch; each kernel reads the parameter, its
 * gradient and its slots once and writes them once. The step count and the
 * learning rate are read from device buffers (a captured step replays with the
 * current values); the schedule and clipping settings are constant arguments
 * or build options. Operations follow Keras 3's order, without
 * contraction, so every device computes the same float32 results. WG (build
 * option) is the work-group size of optim_sumsq, a power of two. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG
#define WG 64
#endif

/* Keep in step with src/nn/optim.c. */
#define SCHED_NONE 0
#define SCHED_EXP 1
#define SCHED_EXP_STAIR 2
#define SCHED_COSINE 3

#define CLIP_NONE 0
#define CLIP_VALUE 1
#define CLIP_NORM 2
#define CLIP_GLOBAL 3

#define FLAG_NESTEROV 1
#define FLAG_AMSGRAD 2
#define FLAG_CENTERED 4
#define FLAG_MOMENTUM 8

/* The rate of the step `it` (before its increment) from the base rate.
 * sp = (decay_steps, decay_rate or alpha, warmup_steps, warmup_initial). */
inline float optim_rate(float base, int it, int sched, float4 sp) {
    float step = (float)it;
    if (sched == SCHED_EXP || sched == SCHED_EXP_STAIR) {
        float e = step / sp.x;
        if (sched == SCHED_EXP_STAIR) e = floor(e);
        return base * pow(sp.y, e);
    }
    if (sched == SCHED_COSINE) {
        float decay = sp.x, alpha = sp.y, warm = sp.z;
        float s = fmin(step, decay + warm);
        if (s < warm) return (base - sp.w) * (s / warm) + sp.w;
        float fraction = (s - warm) / decay;
        float cosine = 0.5f * (1.0f + cos(M_PI_F * fraction));
        return base * ((1.0f - alpha) * cosine + alpha);
    }
    return base;
}

/* The clipped gradient. norms[slot] holds this parameter's sum of squares
 * (CLIP_NORM) or the common scale (CLIP_GLOBAL). NaN stays NaN, so divergence
 * is not hidden by the clip. */
inline float optim_clip(float g, int clip, float c, __global const float *norms, int slot) {
    if (clip == CLIP_VALUE) return isnan(g) ? g : fmin(fmax(g, -c), c);
    if (clip == CLIP_NORM) {
        float l2sum = norms[slot];
        float l2norm = l2sum > 0.0f ? sqrt(l2sum) : l2sum;
        float denom = isnan(l2norm) ? l2norm : fmax(l2norm, c);
        return (g * c) / denom;
    }
    if (clip == CLIP_GLOBAL) return g * norms[slot];
    return g;
}

/* This step's scalars, computed once by one work-item before the updates (the
 * update kernels run one work-item per element, and pow per element costs more
 * than the update itself on a CPU device): coef[0] = the scheduled rate of step
 * `it`, coef[1] = Adam's rate with the bias corrections,
 * lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) with t = it + 1. */
__kernel void optim_prepare(__global const float *lr_buf, __global const int *iters, int sched, float4 sp,
                            float4 hp, __global float *coef) {
    if (get_global_id(0) != 0) return;
    int it = iters[0];
    float lr = optim_rate(lr_buf[0], it, sched, sp);
    float b1 = hp.x, b2 = hp.y;
    float t = (float)(it + 1);
    coef[0] = lr;
    /* 1 - b^t as -expm1(t log b): pow may be off by 16 ulp (the OpenCL limit),
     * and 1 - pow(0.999, 1) then loses three digits to cancellation. On an
     * NVIDIA H200, Adam's first steps were 1e-4 relative off the reference. */
    float c1 = -expm1(t * log(b1)), c2 = -expm1(t * log(b2));
    coef[1] = lr * sqrt(c2) / c1;
}

/* The update kernels are built per optimizer configuration: CLIP (a CLIP_
 * kind), FLAGS (FLAG_ bits) and DECAY (weight decay on) are build options, so
 * the kernel bodies hold no run-time branches and CPU devices vectorise them
 * (a run-time switch on the clipping kind kept PoCL from vectorising, at 2.5x
 * the time per step).
 *
 * GROUP (1 or 8) parameters per launch. OpenCL 1.2 has no tables of buffers,
 * so each parameter has its own arguments (9 of them, 72 bytes; 8 keeps all
 * arguments under the 1024 bytes every device accepts). Parameter j covers the
 * global indices [start_j, start_j + n_j); each start is a multiple of the
 * work-group size, so a work-group lies inside one parameter and picks it with
 * conditions the same for all its work-items. Unused entries have start =
 * ULONG_MAX. GPUs take 8 (fewer launches); CPU devices 1, because PoCL cannot
 * vectorise the pick (src/nn/optim.c). */
#ifndef GROUP
#define GROUP 1
#endif
#ifndef CLIP
#define CLIP CLIP_NONE
#endif
#ifndef FLAGS
#define FLAGS 0
#endif
#ifndef DECAY
#define DECAY 0
#endif
/* SKIP 1: the step is skipped when a gradient holds a NaN or an infinity
 * (nonfinite[0] == 0, from optim_nonfinite_combine). */
#ifndef SKIP
#define SKIP 0
#endif

/* Parameter j: its buffer and offset, its gradient's, n elements, its first
 * global index, and its three slot buffers (contiguous, as the parameter). */
#define OPTIM_PARAM(j)                                                                      \
    __global float *p##j, ulong po##j, __global const float *g##j, ulong go##j, ulong n##j, \
        ulong start##j, __global float *sa##j, __global float *sb##j, __global float *sc##j

#define OPTIM_PICK(j)                                                                     \
    if (first >= start##j) {                                                              \
        p = p##j, po = po##j, g = g##j, go = go##j, n = n##j, base = start##j;            \
        s0 = sa##j, s1 = sb##j, s2 = sc##j, slot = slot0 + (j) * slot_step;               \
    }

#if GROUP == 1
#define OPTIM_PARAMS OPTIM_PARAM(0)
#define OPTIM_PICKS
#elif GROUP == 8
#define OPTIM_PARAMS                                                                              \
    OPTIM_PARAM(0), OPTIM_PARAM(1), OPTIM_PARAM(2), OPTIM_PARAM(3), OPTIM_PARAM(4), OPTIM_PARAM(5), \
        OPTIM_PARAM(6), OPTIM_PARAM(7)
#define OPTIM_PICKS                                                                      \
    ulong first = get_group_id(0) * get_local_size(0);                                   \
    OPTIM_PICK(1) OPTIM_PICK(2) OPTIM_PICK(3) OPTIM_PICK(4) OPTIM_PICK(5) OPTIM_PICK(6)  \
    OPTIM_PICK(7)
#else
#error "GROUP must be 1 or 8"
#endif

/* The step's scalars from optim_prepare, the clipping value and the norms
 * (norms[slot0 + j * slot_step] is parameter j's entry), the weight decay, the
 * optimizer's constants hp, then the GROUP parameters. */
#define OPTIM_ARGS                                                                             \
    __global const float *coef, float clipv, __global const float *norms, int slot0, int slot_step, \
        float wd, float4 hp, __global const int *nonfinite, OPTIM_PARAMS

/* Common start: this work-group's parameter, element i of it, the step's rate,
 * the clipped gradient and the parameter after weight decay (Keras: p - p * wd
 * * lr, before the update). The slots s0..s2 are indexed by i. */
#define OPTIM_BEGIN                                                                       \
    if (SKIP && nonfinite[0] == 0) return;                                                \
    __global float *p = p0, *s0 = sa0, *s1 = sb0, *s2 = sc0;                              \
    __global const float *g = g0;                                                         \
    ulong po = po0, go = go0, n = n0, base = start0;                                      \
    int slot = slot0;                                                                     \
    OPTIM_PICKS                                                                           \
    ulong i = get_global_id(0) - base;                                                    \
    if (i >= n) return;                                                                   \
    p += po;                                                                              \
    g += go;                                                                              \
    float lr = coef[0];                                                                   \
    float gr = optim_clip(g[i], CLIP, clipv, norms, slot);                                \
    float w = p[i];                                                                       \
    if (DECAY) w = w - w * wd * lr;

/* s0 = momentum (when FLAG_MOMENTUM); hp.x = momentum. */
__kernel void optim_sgd(OPTIM_ARGS) {
    OPTIM_BEGIN
    if (FLAGS & FLAG_MOMENTUM) {
        float mom = hp.x;
        float m = s0[i] * mom - gr * lr;
        s0[i] = m;
        w = (FLAGS & FLAG_NESTEROV) ? w + (m * mom - gr * lr) : w + m;
    } else {
        w = w - gr * lr;
    }
    p[i] = w;
}

/* s0 = momentum (m), s1 = velocity (v), s2 = velocity_hat (FLAG_AMSGRAD);
 * hp = (beta_1, beta_2, epsilon). */
__kernel void optim_adam(OPTIM_ARGS) {
    OPTIM_BEGIN
    float b1 = hp.x, b2 = hp.y, eps = hp.z;
    float alpha = coef[1];
    float m = s0[i];
    m = m + (gr - m) * (1.0f - b1);
    s0[i] = m;
    float v = s1[i];
    v = v + (gr * gr - v) * (1.0f - b2);
    s1[i] = v;
    if (FLAGS & FLAG_AMSGRAD) {
        v = fmax(s2[i], v);
        s2[i] = v;
    }
    p[i] = w - (m * alpha) / (sqrt(v) + eps);
}

/* s0 = velocity, s1 = momentum (FLAG_MOMENTUM), s2 = average_gradient
 * (FLAG_CENTERED); hp = (rho, momentum, epsilon). */
__kernel void optim_rmsprop(OPTIM_ARGS) {
    OPTIM_BEGIN
    float rho = hp.x, eps = hp.z;
    float v = rho * s0[i] + (1.0f - rho) * (gr * gr);
    s0[i] = v;
    float denom;
    if (FLAGS & FLAG_CENTERED) {
        float a = rho * s2[i] + (1.0f - rho) * gr;
        s2[i] = a;
        denom = v - a * a + eps;
    } else {
        denom = v + eps;
    }
    float inc = (lr * gr) / sqrt(denom);
    if (FLAGS & FLAG_MOMENTUM) {
        float mo = hp.y * s1[i] + inc;
        s1[i] = mo;
        inc = mo;
    }
    p[i] = w - inc;
}

/* s0 = accumulator; hp.z = epsilon. */
__kernel void optim_adagrad(OPTIM_ARGS) {
    OPTIM_BEGIN
    float acc = s0[i] + gr * gr;
    s0[i] = acc;
    p[i] = w - (lr * gr) / sqrt(acc + hp.z);
}

/* norms[slot] = sum of g^2 over n elements: one work-group, each work-item a
 * fixed stride, folded by a fixed tree (results repeat bit for bit). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void optim_sumsq(__global const float *g, ulong g_off, ulong n, __global float *norms, int slot) {
    __local float vals[WG];
    int lid = (int)get_local_id(0);
    float acc = 0.0f;
    for (ulong j = (ulong)lid; j < n; j += WG) {
        float v = g[g_off + j];
        acc += v * v;
    }
    vals[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (lid < s) vals[lid] += vals[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) norms[slot] = vals[0];
}

/* Keras's clip_by_global_norm: N = sqrt(sum of the count sums of squares, in
 * order); norms[count] = c * min(1 / N, 1 / c) + (N - N). One work-item. */
__kernel void optim_global_scale(__global float *norms, int count, float c) {
    if (get_global_id(0) != 0) return;
    float s = 0.0f;
    for (int k = 0; k < count; k++) s += norms[k];
    float use_norm = sqrt(s);
    float scale = c * fmin(1.0f / use_norm, 1.0f / c);
    norms[count] = scale + (use_norm - use_norm);
}

/* The step count advances after every update of the step has read it (not
 * for a skipped step). */
__kernel void optim_increment(__global int *iters, __global const int *nonfinite, int skip) {
    if (get_global_id(0) == 0 && (!skip || nonfinite[0] != 0)) iters[0] += 1;
}

/* flags[slot] = 1 when one of g's n elements is a NaN or an infinity: one
 * work-group, each work-item a fixed stride. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void optim_nonfinite(__global const float *g, ulong g_off, ulong n, __global int *flags, int slot) {
    __local int bad[WG];
    int lid = (int)get_local_id(0), b = 0;
    for (ulong j = (ulong)lid; j < n; j += WG) b |= !isfinite(g[g_off + j]);
    bad[lid] = b;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = WG / 2; s > 0; s >>= 1) {
        if (lid < s) bad[lid] |= bad[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) flags[slot] = bad[0];
}

/* One work-item over the nparams flags (which it clears for the next step):
 * status[0] = 1 when none is set (the step goes ahead), else 0, with
 * status[1] counting skipped steps and status[2] the first flagged parameter. */
__kernel void optim_nonfinite_combine(__global int *flags, int nparams, __global int *status) {
    if (get_global_id(0) != 0) return;
    int first = -1;
    for (int i = 0; i < nparams; i++) {
        if (flags[i] && first < 0) first = i;
        flags[i] = 0;
    }
    status[0] = first < 0;
    if (first >= 0) {
        status[1] += 1;
        status[2] = first;
    }
}
