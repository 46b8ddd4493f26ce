/* FFT convolution through clFFT, and the AUTO choice between it and im2col.
 *
 * For stride 1 and one group, a convolution (a cross-correlation) is computed as
 *   1. pad: the n*c input planes, zero-padded by the convolution's own padding,
 *      and the o*c kernel planes (spread by the dilation) are written into one
 *      buffer of n*c + o*c real planes of FH x FW;
 *   2. one batched real-to-complex 2-D transform of all of them;
 *   3. y_hat[b,o] = sum_c x_hat[b,c] * conj(w_hat[o,c]) in our kernel, summed in
 *      channel order (the conjugate makes the circular convolution a correlation);
 *   4. one batched complex-to-real inverse transform of the n*o planes;
 *   5. crop the top-left oh x ow corner of each plane, scaled by 1 / (FH*FW).
 * With FH >= H + pad_top + pad_bottom (same for W) the circular correlation
 * never wraps into the corner that is kept. FH and FW are the smallest lengths
 * of the form 2^a 3^b 5^c 7^d that fit (FW also even, for the half spectrum).
 *
 * Plans are made once per (context, lengths, batch, direction) and kept in
 * ctx->fft_state until the context is freed. clfftSetup runs when the first
 * context makes a plan and clfftTeardown when the last context holding plans is
 * freed (a process-wide count under a mutex, so contexts of other threads are
 * safe; a context that is never freed keeps clFFT set up until exit). Scratch
 * (padded planes, spectra, clFFT's temporary buffer) comes from the pool and is
 * released after the call; while a step is captured, each transform is recorded
 * with clg_capture_call (the step keeps its buffers), and our kernels are
 * recorded by clg_launch. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cl.h" /* before clFFT.h: one OpenCL target version */

#include <clFFT.h>

#include "common/error.h"
#include "ops/conv_internal.h"



/* --- clFFT status ----------------------------------------------------------------- */

static const char *clfft_status_name(clfftStatus code) {
    switch (code) {
    case CLFFT_BUGCHECK: return "CLFFT_BUGCHECK";
    case CLFFT_NOTIMPLEMENTED: return "CLFFT_NOTIMPLEMENTED";
    case CLFFT_TRANSPOSED_NOTIMPLEMENTED: return "CLFFT_TRANSPOSED_NOTIMPLEMENTED";
    case CLFFT_FILE_NOT_FOUND: return "CLFFT_FILE_NOT_FOUND";
    case CLFFT_FILE_CREATE_FAILURE: return "CLFFT_FILE_CREATE_FAILURE";
    case CLFFT_VERSION_MISMATCH: return "CLFFT_VERSION_MISMATCH";
    case CLFFT_INVALID_PLAN: return "CLFFT_INVALID_PLAN";
    case CLFFT_DEVICE_NO_DOUBLE: return "CLFFT_DEVICE_NO_DOUBLE";
    case CLFFT_DEVICE_MISMATCH: return "CLFFT_DEVICE_MISMATCH";
    default: return clg_cl_error_name((cl_int)code); /* OpenCL's own codes */
    }
}

/* clFFT returns OpenCL's codes for OpenCL failures and its own from 4096 up. */
static clg_status fft_check(clfftStatus code, const char *fn, const char *what) {
    if (code == CLFFT_SUCCESS) return CLG_OK;
    clg_status st;
    switch ((int)code) {
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
    case CL_OUT_OF_RESOURCES: st = CLG_STATUS_OUT_OF_DEVICE_MEMORY; break;
    case CL_OUT_OF_HOST_MEMORY: st = CLG_STATUS_OUT_OF_HOST_MEMORY; break;
    case CL_BUILD_PROGRAM_FAILURE:
    case CL_COMPILER_NOT_AVAILABLE: st = CLG_STATUS_BUILD_FAILED; break;
    case CLFFT_NOTIMPLEMENTED:
    case CLFFT_TRANSPOSED_NOTIMPLEMENTED:
    case CLFFT_DEVICE_NO_DOUBLE: st = CLG_STATUS_UNSUPPORTED; break;
    default: st = CLG_STATUS_OPENCL_ERROR; break;
    }
    return clg_fail(st, "%s: %s failed: %s (clFFT status %d)", what, fn, clfft_status_name(code),
                    (int)code);
}

/* clFFT's global state is made when the first context makes a plan and torn
 * down when the last context holding plans is freed (so no plan outlives it and
 * clFFT does not complain at exit about resources never freed). */
static pthread_mutex_t setup_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t setup_users; /* contexts with an fft_state */

static clg_status clfft_acquire(const char *what) {
    clg_status st = CLG_OK;
    pthread_mutex_lock(&setup_lock);
    if (setup_users == 0) {
        /* clfftInitSetupData is an inline function of the header; set the fields here. */
        clfftSetupData data;
        memset(&data, 0, sizeof data);
        data.major = clfftVersionMajor;
        data.minor = clfftVersionMinor;
        data.patch = clfftVersionPatch;
        st = fft_check(clfftSetup(&data), "clfftSetup", what);
    }
    if (st == CLG_OK) setup_users++;
    pthread_mutex_unlock(&setup_lock);
    return st;
}

static void clfft_release(void) {
    pthread_mutex_lock(&setup_lock);
    if (setup_users > 0 && --setup_users == 0) clfftTeardown();
    pthread_mutex_unlock(&setup_lock);
}

/* --- plan cache --------------------------------------------------------------------- */

typedef enum fft_kind { FFT_R2C = 0, FFT_C2R = 1 } fft_kind;

typedef struct fft_plan {
    size_t fh, fw, batch;
    fft_kind kind;
    clfftPlanHandle handle;
    size_t tmp_bytes; /* clfftGetTmpBufSize */
} fft_plan;

typedef struct fft_state {
    fft_plan *plans;
    size_t count, cap;
} fft_state;

static void fft_state_free(clg_context *ctx) {
    fft_state *s = ctx->fft_state;
    if (!s) return;
    for (size_t i = 0; i < s->count; i++) clfftDestroyPlan(&s->plans[i].handle);
    free(s->plans);
    free(s);
    ctx->fft_state = NULL;
    ctx->fft_state_free = NULL;
    clfft_release();
}

size_t clg_conv_fft_plan_count(clg_context *ctx) {
    const fft_state *s = ctx ? ctx->fft_state : NULL;
    return s ? s->count : 0;
}

static clg_status make_plan(clg_context *ctx, fft_plan *p, const char *what) {
    size_t fwh = p->fw / 2 + 1;
    size_t lengths[2] = {p->fw, p->fh}; /* clFFT: the fastest axis first */
    size_t real_strides[2] = {1, p->fw}, herm_strides[2] = {1, fwh};
    size_t real_dist = p->fh * p->fw, herm_dist = p->fh * fwh;
    int r2c = p->kind == FFT_R2C;
    clfftPlanHandle h = 0;
    clg_status st = fft_check(clfftCreateDefaultPlan(&h, ctx->cl, CLFFT_2D, lengths),
                              "clfftCreateDefaultPlan", what);
    if (st != CLG_OK) return st;
    st = fft_check(clfftSetPlanPrecision(h, CLFFT_SINGLE), "clfftSetPlanPrecision", what);
    if (st == CLG_OK)
        st = fft_check(r2c ? clfftSetLayout(h, CLFFT_REAL, CLFFT_HERMITIAN_INTERLEAVED)
                           : clfftSetLayout(h, CLFFT_HERMITIAN_INTERLEAVED, CLFFT_REAL),
                       "clfftSetLayout", what);
    if (st == CLG_OK)
        st = fft_check(clfftSetResultLocation(h, CLFFT_OUTOFPLACE), "clfftSetResultLocation", what);
    if (st == CLG_OK)
        st = fft_check(clfftSetPlanInStride(h, CLFFT_2D, r2c ? real_strides : herm_strides),
                       "clfftSetPlanInStride", what);
    if (st == CLG_OK)
        st = fft_check(clfftSetPlanOutStride(h, CLFFT_2D, r2c ? herm_strides : real_strides),
                       "clfftSetPlanOutStride", what);
    if (st == CLG_OK)
        st = fft_check(r2c ? clfftSetPlanDistance(h, real_dist, herm_dist)
                           : clfftSetPlanDistance(h, herm_dist, real_dist),
                       "clfftSetPlanDistance", what);
    if (st == CLG_OK)
        st = fft_check(clfftSetPlanBatchSize(h, p->batch), "clfftSetPlanBatchSize", what);
    /* Unscaled both ways: the crop kernel applies 1 / (FH*FW). */
    if (st == CLG_OK)
        st = fft_check(clfftSetPlanScale(h, CLFFT_FORWARD, 1.0f), "clfftSetPlanScale", what);
    if (st == CLG_OK)
        st = fft_check(clfftSetPlanScale(h, CLFFT_BACKWARD, 1.0f), "clfftSetPlanScale", what);
    if (st == CLG_OK)
        st = fft_check(clfftBakePlan(h, 1, &ctx->queue, NULL, NULL), "clfftBakePlan", what);
    if (st == CLG_OK)
        st = fft_check(clfftGetTmpBufSize(h, &p->tmp_bytes), "clfftGetTmpBufSize", what);
    if (st != CLG_OK) {
        clfftDestroyPlan(&h);
        return st;
    }
    p->handle = h;
    return CLG_OK;
}

/* The cached plan for (fh, fw, batch, kind), made on first use; a copy, since
 * the cache's array moves as it grows. */
static clg_status plan_get(clg_context *ctx, size_t fh, size_t fw, size_t batch, fft_kind kind,
                           fft_plan *out, const char *what) {
    fft_state *s = ctx->fft_state;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: the FFT plan cache", what);
        clg_status st = clfft_acquire(what);
        if (st != CLG_OK) {
            free(s);
            return st;
        }
        ctx->fft_state = s;
        ctx->fft_state_free = fft_state_free;
    }
    for (size_t i = 0; i < s->count; i++) {
        fft_plan *p = &s->plans[i];
        if (p->fh == fh && p->fw == fw && p->batch == batch && p->kind == kind) {
            *out = *p;
            return CLG_OK;
        }
    }
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        fft_plan *grown = realloc(s->plans, cap * sizeof *grown);
        if (!grown) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: the FFT plan cache", what);
        s->plans = grown;
        s->cap = cap;
    }
    fft_plan p = {fh, fw, batch, kind, 0, 0};
    clg_status st = make_plan(ctx, &p, what);
    if (st != CLG_OK) return st;
    s->plans[s->count++] = p;
    *out = p;
    return CLG_OK;
}

/* --- the transform call --------------------------------------------------------------- */

/* Every argument of one transform, so that a captured step can repeat it. */
typedef struct fft_call {
    clfftPlanHandle plan;
    clfftDirection dir;
    cl_mem in, out, tmp; /* tmp: NULL when the plan needs none */
    char what[200];
} fft_call;

static clg_status fft_enqueue(clg_context *ctx, const fft_call *c) {
    cl_mem in = c->in, out = c->out;
    cl_event ev = NULL;
    cl_int injected = CLG_FAULT(ctx, CLG_FAULT_ENQUEUE);
    if (injected != CL_SUCCESS)
        return clg_fault_report(ctx, fft_check((clfftStatus)injected, "clfftEnqueueTransform", c->what));
    clg_status st = fft_check(clfftEnqueueTransform(c->plan, c->dir, 1, &ctx->queue, 0, NULL,
                                                    CLG_PROFILE_EVENT(ctx, ev), &in, &out, c->tmp),
                              "clfftEnqueueTransform", c->what);
    clg_profile_record(ctx, NULL, "clfft:transform", ev);
    return st;
}

static clg_status fft_replay(clg_context *ctx, const void *payload) {
    return fft_enqueue(ctx, payload);
}

/* Runs one transform and, while a step is captured, records it with its buffers. */
static clg_status fft_run(clg_context *ctx, const fft_plan *plan, clfftDirection dir,
                          clg_buffer *in, clg_buffer *out, const char *what) {
    clg_buffer *tmp = NULL;
    if (plan->tmp_bytes > 0) {
        char tw[240];
        snprintf(tw, sizeof tw, "the clFFT scratch buffer of %s", what);
        tmp = clg_buffer_new(ctx, plan->tmp_bytes, tw);
        if (!tmp) return clg_last_status();
    }
    fft_call c;
    memset(&c, 0, sizeof c);
    c.plan = plan->handle;
    c.dir = dir;
    c.in = in->mem;
    c.out = out->mem;
    c.tmp = tmp ? tmp->mem : NULL;
    snprintf(c.what, sizeof c.what, "%s", what);
    clg_status st = fft_enqueue(ctx, &c);
    if (st == CLG_OK && ctx->capture) {
        clg_buffer *bufs[3] = {in, out, tmp};
        st = clg_capture_call(ctx, fft_replay, &c, sizeof c, bufs, tmp ? 3 : 2);
    }
    clg_buffer_release(tmp);
    return st;
}

/* --- the convolution ------------------------------------------------------------------ */

int clg_conv_fft_supports(const clg_conv_geometry *g) {
    return g && g->stride[0] == 1 && g->stride[1] == 1 && g->groups == 1 && g->dilation[0] >= 1 &&
           g->dilation[1] >= 1;
}

/* The smallest n >= need (and >= 2, even if asked) of the form 2^a 3^b 5^c 7^d. */
static size_t fft_length(size_t need, int even) {
    if (need < 2) need = 2;
    for (size_t n = need;; n++) {
        if (even && n % 2) continue;
        size_t r = n;
        static const size_t primes[4] = {2, 3, 5, 7};
        for (int i = 0; i < 4; i++)
            while (r % primes[i] == 0) r /= primes[i];
        if (r == 1) return n;
    }
}

static clg_status launch_pad(clg_context *ctx, cl_kernel k, clg_buffer *src, int64_t src_off,
                             int64_t planes, int64_t sh, int64_t sw, clg_buffer *dst,
                             size_t dst_off, size_t fh, size_t fw, int64_t top, int64_t left,
                             int64_t dh, int64_t dw, const char *what) {
    cl_ulong soff = (cl_ulong)src_off, doff = dst_off, np = (cl_ulong)planes, ufh = fh, ufw = fw;
    cl_long lsh = sh, lsw = sw, lt = top, ll = left, ldh = dh, ldw = dw;
    clg_arg args[] = {CLG_ARG_BUF(src), CLG_ARG(soff), CLG_ARG(lsh), CLG_ARG(lsw),
                      CLG_ARG_BUF(dst), CLG_ARG(doff), CLG_ARG(np),  CLG_ARG(ufh),
                      CLG_ARG(ufw),     CLG_ARG(lt),   CLG_ARG(ll),  CLG_ARG(ldh),
                      CLG_ARG(ldw)};
    return clg_launch(ctx, k, (size_t)(planes * (int64_t)(fh * fw)), 13, args, what);
}

static clg_status check_operand(const char *api, const char *which, const clg_tensor *t,
                                int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    char d[220];
    if (!t)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: FFT convolution: %s is NULL", api, which);
    if (t->dtype != CLG_FLOAT32 || t->ndim != 4 || t->shape[0] != d0 || t->shape[1] != d1 ||
        t->shape[2] != d2 || t->shape[3] != d3)
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                        "%s: FFT convolution: %s %s is %s; expected float32 [%lld,%lld,%lld,%lld]",
                        api, which, clg_tensor_describe(t, d, sizeof d), clg_dtype_name(t->dtype),
                        (long long)d0, (long long)d1, (long long)d2, (long long)d3);
    if (!t->expr && !clg_tensor_is_contiguous(t))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: FFT convolution: %s %s is not contiguous",
                        api, which, clg_tensor_describe(t, d, sizeof d));
    return CLG_OK;
}

clg_status clg_conv2d_fft_forward(const clg_tensor *x, const clg_tensor *w,
                                  const clg_conv_geometry *g, clg_tensor *out, const char *api) {
    if (!api) api = "clg_conv2d";
    if (!g) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: FFT convolution: NULL geometry", api);
    if (!clg_conv_fft_supports(g))
        return clg_fail(CLG_STATUS_UNSUPPORTED,
                        "%s: FFT convolution needs stride 1 and one group; got stride %dx%d, "
                        "groups %d (x [%lld,%lld,%lld,%lld], w [%lld,%lld,%lld,%lld])",
                        api, g->stride[0], g->stride[1], g->groups, (long long)g->n,
                        (long long)g->c, (long long)g->h, (long long)g->w, (long long)g->o,
                        (long long)g->c, (long long)g->kh, (long long)g->kw);
    clg_status st = check_operand(api, "input", x, g->n, g->c, g->h, g->w);
    if (st == CLG_OK) st = check_operand(api, "weight", w, g->o, g->c, g->kh, g->kw);
    if (st == CLG_OK) st = check_operand(api, "output", out, g->n, g->o, g->oh, g->ow);
    if (st != CLG_OK) return st;
    int64_t hp = g->h + g->pad[0] + g->pad[1], wp = g->w + g->pad[2] + g->pad[3];
    int64_t ekh = (int64_t)g->dilation[0] * (g->kh - 1) + 1;
    int64_t ekw = (int64_t)g->dilation[1] * (g->kw - 1) + 1;
    char what[240];
    snprintf(what, sizeof what,
             "%s: FFT convolution of x [%lld,%lld,%lld,%lld] with w [%lld,%lld,%lld,%lld], "
             "pad %d,%d,%d,%d, dilation %dx%d",
             api, (long long)g->n, (long long)g->c, (long long)g->h, (long long)g->w,
             (long long)g->o, (long long)g->c, (long long)g->kh, (long long)g->kw, g->pad[0],
             g->pad[1], g->pad[2], g->pad[3], g->dilation[0], g->dilation[1]);
    if (g->pad[0] < 0 || g->pad[1] < 0 || g->pad[2] < 0 || g->pad[3] < 0 ||
        g->oh != hp - ekh + 1 || g->ow != wp - ekw + 1)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: output %lldx%lld does not match the geometry (expected %lldx%lld)",
                        what, (long long)g->oh, (long long)g->ow, (long long)(hp - ekh + 1),
                        (long long)(wp - ekw + 1));
    clg_context *ctx = out->ctx;
    if (x->ctx != ctx || w->ctx != ctx)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensors on different contexts", what);
    if (g->n == 0 || g->o == 0 || g->oh <= 0 || g->ow <= 0) return CLG_OK; /* nothing to write */
    st = clg_realize(x);
    if (st == CLG_OK) st = clg_realize(w);
    if (st != CLG_OK) return st;

    size_t fh = fft_length((size_t)hp, 0), fw = fft_length((size_t)wp, 1), fwh = fw / 2 + 1;
    size_t plane = fh * fw, bins = fh * fwh;
    size_t in_planes = (size_t)(g->n * g->c + g->o * g->c), out_planes = (size_t)(g->n * g->o);
    cl_kernel kpad, kmac, kcrop;
    st = clg_kernel_get(ctx, "conv_fft", NULL, "fft_pad", &kpad);
    if (st == CLG_OK) st = clg_kernel_get(ctx, "conv_fft", NULL, "fft_mac", &kmac);
    if (st == CLG_OK) st = clg_kernel_get(ctx, "conv_fft", NULL, "fft_crop", &kcrop);
    if (st != CLG_OK) return st;

    if (g->c == 0) /* an empty sum: zeros (a 0 x 0 source makes fft_pad write zeros) */
        return launch_pad(ctx, kpad, out->buf, 0, (int64_t)out_planes, 0, 0, out->buf,
                          (size_t)out->offset, (size_t)g->oh, (size_t)g->ow, 0, 0, 1, 1, what);

    fft_plan fwd, inv;
    st = plan_get(ctx, fh, fw, in_planes, FFT_R2C, &fwd, what);
    if (st == CLG_OK) st = plan_get(ctx, fh, fw, out_planes, FFT_C2R, &inv, what);
    if (st != CLG_OK) return st;

    /* Scratch: the padded real planes (reused for the inverse's output, so sized
     * for the larger of the two), the input and kernel spectra, their products. */
    size_t real_planes = in_planes > out_planes ? in_planes : out_planes;
    clg_buffer *real = clg_buffer_new(ctx, real_planes * plane * sizeof(float), what);
    size_t spec_bytes = in_planes * bins * 2 * sizeof(float);
    size_t prod_bytes = out_planes * bins * 2 * sizeof(float);
    clg_buffer *spec = real ? clg_buffer_new(ctx, spec_bytes, what) : NULL;
    clg_buffer *prod = spec ? clg_buffer_new(ctx, prod_bytes, what) : NULL;
    if (!prod) st = clg_last_status();

    if (st == CLG_OK)
        st = launch_pad(ctx, kpad, x->buf, x->offset, g->n * g->c, g->h, g->w, real, 0, fh, fw,
                        g->pad[0], g->pad[2], 1, 1, what);
    if (st == CLG_OK)
        st = launch_pad(ctx, kpad, w->buf, w->offset, g->o * g->c, g->kh, g->kw, real,
                        (size_t)(g->n * g->c) * plane, fh, fw, 0, 0, g->dilation[0],
                        g->dilation[1], what);
    if (st == CLG_OK) st = fft_run(ctx, &fwd, CLFFT_FORWARD, real, spec, what);
    if (st == CLG_OK) {
        cl_ulong un = (cl_ulong)g->n, uc = (cl_ulong)g->c, uo = (cl_ulong)g->o, ub = bins;
        clg_arg args[] = {CLG_ARG_BUF(spec), CLG_ARG(un), CLG_ARG(uc), CLG_ARG(uo), CLG_ARG(ub),
                          CLG_ARG_BUF(prod)};
        st = clg_launch(ctx, kmac, out_planes * bins, 6, args, what);
    }
    if (st == CLG_OK) st = fft_run(ctx, &inv, CLFFT_BACKWARD, prod, real, what);
    if (st == CLG_OK) {
        cl_ulong np = out_planes, ufh = fh, ufw = fw, uoh = (cl_ulong)g->oh, uow = (cl_ulong)g->ow;
        cl_ulong ooff = (cl_ulong)out->offset;
        cl_float scale = (cl_float)(1.0 / (double)plane);
        clg_arg args[] = {CLG_ARG_BUF(real), CLG_ARG(np),    CLG_ARG(ufh),
                          CLG_ARG(ufw),      CLG_ARG(uoh),   CLG_ARG(uow),
                          CLG_ARG(scale),    CLG_ARG_BUF(out->buf), CLG_ARG(ooff)};
        st = clg_launch(ctx, kcrop, out_planes * (size_t)(g->oh * g->ow), 9, args, what);
    }
    clg_buffer_release(prod);
    clg_buffer_release(spec);
    clg_buffer_release(real);
    return st;
}

/* --- the AUTO choice -------------------------------------------------------------------- */

/* Kernel area from which FFT is assumed to win without a measurement. A guess to
 * refine with `clgrad bench` measurements per device: FFT costs about
 * log(FH*FW) per output and channel pair against kh*kw for im2col + GEMM. */
enum { FFT_HEURISTIC_MIN_AREA = 49 };

static clg_conv_algo heuristic(const clg_conv_geometry *g) {
    return clg_conv_fft_supports(g) && g->kh * g->kw >= FFT_HEURISTIC_MIN_AREA ? CLG_CONV_FFT
                                                                              : CLG_CONV_IM2COL;
}

clg_conv_algo clg_conv_choose(clg_context *ctx, const clg_conv_geometry *g,
                              clg_conv_measure_fn measure, void *user) {
    if (!g) return CLG_CONV_IM2COL;
    int fft_ok = clg_conv_fft_supports(g);
    if (!ctx || !fft_ok) return CLG_CONV_IM2COL;
    /* A timing, or a choice stored by an earlier run, could differ between runs. */
    if (ctx->deterministic) return heuristic(g);
    char key[256];
    snprintf(key, sizeof key,
             "conv2d.algo.n%lld.c%lld.h%lld.w%lld.o%lld.k%lldx%lld.s%dx%d.d%dx%d.p%d,%d,%d,%d.g%d",
             (long long)g->n, (long long)g->c, (long long)g->h, (long long)g->w, (long long)g->o,
             (long long)g->kh, (long long)g->kw, g->stride[0], g->stride[1], g->dilation[0],
             g->dilation[1], g->pad[0], g->pad[1], g->pad[2], g->pad[3], g->groups);
    /* A missing key (or a failed measurement) is not the caller's failure. */
    clg_error_saved saved;
    clg_error_save(&saved);
    char value[32];
    if (clg_store_get(ctx, key, value, sizeof value) == CLG_OK) {
        if (strcmp(value, "fft") == 0) return CLG_CONV_FFT;
        if (strcmp(value, "im2col") == 0) return CLG_CONV_IM2COL;
    }
    clg_conv_algo choice = heuristic(g);
    if (measure && !ctx->capture) {
        double t_im2col = 0, t_fft = 0;
        if (measure(user, CLG_CONV_IM2COL, &t_im2col) == CLG_OK &&
            measure(user, CLG_CONV_FFT, &t_fft) == CLG_OK) {
            choice = t_fft < t_im2col ? CLG_CONV_FFT : CLG_CONV_IM2COL;
            clg_store_set(ctx, key, choice == CLG_CONV_FFT ? "fft" : "im2col");
        }
    }
    clg_error_restore(&saved);
    return choice;
}
