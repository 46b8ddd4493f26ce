/* Optimizer updates (src/nn/optim.c). One work-item per parameter element; each
 * kernel reads the parameter, its gradient and its slots once and writes them
 * once. The step count and the learning rate are read from device buffers (a
 * captured step replays with the current values); the schedule and clipping
 * settings are constant arguments. Operations follow Keras 3's order, without
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
    coef[1] = lr * sqrt(1.0f - pow(b2, t)) / (1.0f - pow(b1, t));
}

/* Arguments shared by the update kernels: the parameter and its gradient (with
 * offsets in elements), n elements, up to three slot buffers (contiguous, as
 * the parameter), the step's scalars from optim_prepare, the clipping, the
 * weight decay, the optimizer's constants hp and its FLAG_ bits. */
#define OPTIM_ARGS                                                                          \
    __global float *p, ulong p_off, __global const float *g, ulong g_off, ulong n,          \
        __global float *s0, __global float *s1, __global float *s2,                         \
        __global const float *coef, int clip, float clipv, __global const float *norms,     \
        int slot, float wd, float4 hp, int flags

/* Common start: element i, this step's rate, the clipped gradient and the
 * parameter after weight decay (Keras: p - p * wd * lr, before the update). */
#define OPTIM_BEGIN                                                         \
    ulong i = get_global_id(0);                                             \
    if (i >= n) return;                                                     \
    float lr = coef[0];                                                     \
    float gr = optim_clip(g[g_off + i], clip, clipv, norms, slot);          \
    float w = p[p_off + i];                                                 \
    if (wd != 0.0f) w = w - w * wd * lr;

/* s0 = momentum (when FLAG_MOMENTUM); hp.x = momentum. */
__kernel void optim_sgd(OPTIM_ARGS) {
    OPTIM_BEGIN
    if (flags & FLAG_MOMENTUM) {
        float mom = hp.x;
        float m = s0[i] * mom - gr * lr;
        s0[i] = m;
        w = (flags & FLAG_NESTEROV) ? w + (m * mom - gr * lr) : w + m;
    } else {
        w = w - gr * lr;
    }
    p[p_off + i] = w;
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
    if (flags & FLAG_AMSGRAD) {
        v = fmax(s2[i], v);
        s2[i] = v;
    }
    p[p_off + i] = w - (m * alpha) / (sqrt(v) + eps);
}

/* s0 = velocity, s1 = momentum (FLAG_MOMENTUM), s2 = average_gradient
 * (FLAG_CENTERED); hp = (rho, momentum, epsilon). */
__kernel void optim_rmsprop(OPTIM_ARGS) {
    OPTIM_BEGIN
    float rho = hp.x, eps = hp.z;
    float v = rho * s0[i] + (1.0f - rho) * (gr * gr);
    s0[i] = v;
    float denom;
    if (flags & FLAG_CENTERED) {
        float a = rho * s2[i] + (1.0f - rho) * gr;
        s2[i] = a;
        denom = v - a * a + eps;
    } else {
        denom = v + eps;
    }
    float inc = (lr * gr) / sqrt(denom);
    if (flags & FLAG_MOMENTUM) {
        float mo = hp.y * s1[i] + inc;
        s1[i] = mo;
        inc = mo;
    }
    p[p_off + i] = w - inc;
}

/* s0 = accumulator; hp.z = epsilon. */
__kernel void optim_adagrad(OPTIM_ARGS) {
    OPTIM_BEGIN
    float acc = s0[i] + gr * gr;
    s0[i] = acc;
    p[p_off + i] = w - (lr * gr) / sqrt(acc + hp.z);
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

/* The step count advances after every update of the step has read it. */
__kernel void optim_increment(__global int *iters) {
    if (get_global_id(0) == 0) iters[0] += 1;
}
