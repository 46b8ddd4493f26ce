/* Optimizers: every optimizer and option (momentum, Nesterov, AMSGrad, centered,
 * weight decay, each clipping kind, each schedule with and without warm-up)
 * against a host reference of Keras 3's formulas in double, over several steps
 * on two small parameters; a captured step replayed N times equals N eager steps
 * bit for bit (the step count and learning rate live on the device);
 * set_learning_rate between replays takes effect; eleven parameters of sizes
 * around the work-group size, one without a gradient, updated one per launch
 * and fused eight per launch, with per-parameter and global norm clipping; state tensors copied from one
 * optimizer into another continue bit-identically; names, Keras configuration
 * JSON, and bad arguments.
 *
 * Gradients are exact: the loss is sum(p0 * x0) + sum(p1 * x1), so grad(pi) = xi,
 * with xi written from the host each step.
 *
 * Tolerance: |device - reference| <= 1e-5 |reference| + 1e-7 for parameters and
 * slots (float32 against double over at most 9 steps; the kernels follow Keras's
 * order of operations, so only rounding differs), 1e-6 relative for scheduled
 * rates. No timing anywhere. */
#include "fixture.h"
#include "runtime/runtime_impl.h" /* optim_group: both update forms on one device */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { NP = 2, MAXN = 12, ROLES = 3 };
static const int ndims[NP] = {2, 1};
static const int64_t shapes[NP][2] = {{3, 4}, {5, 0}};
static const int numels[NP] = {12, 5};

/* --- host reference (Keras 3 in double) ------------------------------------------------- */

typedef enum { R_SGD, R_ADAM, R_ADAMW, R_RMSPROP, R_ADAGRAD } ralgo;
enum { C_NONE, C_VALUE, C_NORM, C_GLOBAL };
enum { S_NONE, S_EXP, S_STAIR, S_STEP, S_COSINE };

/* One configuration, used to build both the device optimizer and the reference. */
typedef struct spec {
    ralgo algo;
    float lr, momentum, b1, b2, eps, rho, init_acc, wd;
    int nesterov, centered, amsgrad;
    int clip;
    float clipv;
    int sched;
    int64_t decay_steps, warm;
    float rate, alpha, warm_init;
} spec;

typedef struct ref {
    spec s;
    double lr;
    long it;
    double p[NP][MAXN], slot[ROLES][NP][MAXN];
    int clip_active; /* steps where clipping changed some gradient */
} ref;

static int ref_uses(const spec *s, int role) {
    switch (s->algo) {
    case R_SGD: return role == 0 && s->momentum != 0.0f;
    case R_ADAM:
    case R_ADAMW: return role < 2 || s->amsgrad;
    case R_RMSPROP: return role == 0 || (role == 1 && s->momentum > 0.0f) || (role == 2 && s->centered);
    default: return role == 0;
    }
}

static double ref_rate(const ref *r, long it) {
    const spec *s = &r->s;
    double step = (double)it, ds = (double)s->decay_steps, warm = (double)s->warm;
    switch (s->sched) {
    case S_EXP:
    case S_STAIR:
    case S_STEP: {
        double e = step / ds;
        if (s->sched != S_EXP) e = floor(e);
        return r->lr * pow((double)s->rate, e);
    }
    case S_COSINE: {
        double st = fmin(step, ds + warm);
        if (st < warm) return (r->lr - (double)s->warm_init) * (st / warm) + (double)s->warm_init;
        double c = 0.5 * (1.0 + cos(M_PI * ((st - warm) / ds)));
        return r->lr * ((1.0 - (double)s->alpha) * c + (double)s->alpha);
    }
    default: return r->lr;
    }
}

/* One step with gradients g (has[i]: parameter i got one). */
static void ref_step(ref *r, float g[NP][MAXN], const int has[NP]) {
    const spec *s = &r->s;
    double gg[NP][MAXN], sq[NP] = {0}, total = 0.0, c = s->clipv;
    for (int i = 0; i < NP; i++) {
        if (!has[i]) continue;
        for (int j = 0; j < numels[i]; j++) sq[i] += (double)g[i][j] * g[i][j];
        total += sq[i];
    }
    int active = 0;
    for (int i = 0; i < NP; i++)
        for (int j = 0; has[i] && j < numels[i]; j++) {
            double v = g[i][j];
            if (s->clip == C_VALUE) v = fmin(fmax(v, -c), c);
            if (s->clip == C_NORM) v = v * c / fmax(sqrt(sq[i]), c);
            if (s->clip == C_GLOBAL) v = v * c * fmin(1.0 / sqrt(total), 1.0 / c);
            active |= v != (double)g[i][j];
            gg[i][j] = v;
        }
    r->clip_active += active;
    double lr = ref_rate(r, r->it), t = (double)(r->it + 1);
    for (int i = 0; i < NP; i++) {
        for (int j = 0; has[i] && j < numels[i]; j++) {
            double gr = gg[i][j], w = r->p[i][j];
            double *s0 = &r->slot[0][i][j], *s1 = &r->slot[1][i][j], *s2 = &r->slot[2][i][j];
            if (s->wd != 0.0f) w = w - w * s->wd * lr;
            switch (s->algo) {
            case R_SGD:
                if (s->momentum != 0.0f) {
                    *s0 = *s0 * s->momentum - gr * lr;
                    w = s->nesterov ? w + (*s0 * s->momentum - gr * lr) : w + *s0;
                } else {
                    w -= gr * lr;
                }
                break;
            case R_ADAM:
            case R_ADAMW: {
                double alpha = lr * sqrt(1.0 - pow(s->b2, t)) / (1.0 - pow(s->b1, t));
                *s0 += (gr - *s0) * (1.0 - s->b1);
                *s1 += (gr * gr - *s1) * (1.0 - s->b2);
                double v = *s1;
                if (s->amsgrad) v = *s2 = fmax(*s2, *s1);
                w -= *s0 * alpha / (sqrt(v) + s->eps);
                break;
            }
            case R_RMSPROP: {
                *s0 = s->rho * *s0 + (1.0 - s->rho) * gr * gr;
                double denom = *s0 + s->eps;
                if (s->centered) {
                    *s2 = s->rho * *s2 + (1.0 - s->rho) * gr;
                    denom = *s0 - *s2 * *s2 + s->eps;
                }
                double inc = lr * gr / sqrt(denom);
                if (s->momentum > 0.0f) inc = *s1 = s->momentum * *s1 + inc;
                w -= inc;
                break;
            }
            default:
                *s0 += gr * gr;
                w -= lr * gr / sqrt(*s0 + s->eps);
                break;
            }
            r->p[i][j] = w;
        }
    }
    r->it++;
}

/* --- the device side --------------------------------------------------------------------- */

static clg_optimizer *make_opt(const spec *s) {
    clg_optimizer *o = NULL;
    switch (s->algo) {
    case R_SGD: o = clg_optimizer_sgd(s->lr, s->momentum, s->nesterov); break;
    case R_ADAM: o = clg_optimizer_adam(s->lr, s->b1, s->b2, s->eps); break;
    case R_ADAMW: o = clg_optimizer_adamw(s->lr, s->wd, s->b1, s->b2, s->eps); break;
    case R_RMSPROP: o = clg_optimizer_rmsprop(s->lr, s->rho, s->momentum, s->eps, s->centered); break;
    default: o = clg_optimizer_adagrad(s->lr, s->init_acc, s->eps); break;
    }
    if (!o) fail_msg("creating the optimizer: %s", clg_last_error());
    if (s->algo != R_ADAMW && s->wd != 0.0f) assert_int_equal(clg_optimizer_set_weight_decay(o, s->wd), CLG_OK);
    if (s->amsgrad) assert_int_equal(clg_optimizer_set_amsgrad(o, 1), CLG_OK);
    if (s->clip == C_VALUE) assert_int_equal(clg_optimizer_set_clipvalue(o, s->clipv), CLG_OK);
    if (s->clip == C_NORM) assert_int_equal(clg_optimizer_set_clipnorm(o, s->clipv), CLG_OK);
    if (s->clip == C_GLOBAL) assert_int_equal(clg_optimizer_set_global_clipnorm(o, s->clipv), CLG_OK);
    clg_status st = CLG_OK;
    if (s->sched == S_EXP || s->sched == S_STAIR)
        st = clg_optimizer_set_schedule_exponential(o, s->decay_steps, s->rate, s->sched == S_STAIR);
    if (s->sched == S_STEP) st = clg_optimizer_set_schedule_step(o, s->decay_steps, s->rate);
    if (s->sched == S_COSINE)
        st = clg_optimizer_set_schedule_cosine(o, s->decay_steps, s->alpha, s->warm, s->warm_init);
    if (st != CLG_OK) fail_msg("schedule: %s", clg_last_error());
    return o;
}

typedef struct rig {
    clg_context *ctx;
    clg_tensor *p[NP], *x[NP];
    clg_optimizer *opt;
    ref r;
} rig;

/* Parameters "w" [3,4] and "b" [5] with values from seed, the optimizer of s
 * attached, and the reference in the same state. */
static void rig_init(clg_context *ctx, rig *g, const spec *s, uint32_t seed) {
    memset(g, 0, sizeof *g);
    g->ctx = ctx;
    g->r.s = *s;
    g->r.lr = s->lr;
    const char *names[NP] = {"w", "b"};
    for (int i = 0; i < NP; i++) {
        float v[MAXN];
        clg_test_random_floats(v, (size_t)numels[i], seed + (uint32_t)i);
        g->p[i] = clg_tensor_from_host(ctx, CLG_FLOAT32, ndims[i], shapes[i], v);
        g->x[i] = clg_tensor_zeros(ctx, CLG_FLOAT32, ndims[i], shapes[i]);
        assert_true(g->p[i] && g->x[i]);
        assert_int_equal(clg_tensor_set_name(g->p[i], names[i]), CLG_OK);
        assert_int_equal(clg_tensor_set_requires_grad(g->p[i], 1), CLG_OK);
        for (int j = 0; j < numels[i]; j++) {
            g->r.p[i][j] = v[j];
            for (int k = 0; k < ROLES; k++) g->r.slot[k][i][j] = s->algo == R_ADAGRAD ? (double)s->init_acc : 0.0;
        }
    }
    g->opt = make_opt(s);
    if (clg_optimizer_attach(g->opt, ctx, NP, g->p) != CLG_OK) fail_msg("attach: %s", clg_last_error());
}

static void rig_free(rig *g) {
    clg_optimizer_free(g->opt);
    for (int i = 0; i < NP; i++) clg_tensor_free(g->p[i]), clg_tensor_free(g->x[i]);
}

/* Gradients of step `step`: uniform in [-amp, amp). */
static void make_grads(float g[NP][MAXN], int step, const double amp[NP]) {
    for (int i = 0; i < NP; i++) {
        clg_test_random_floats(g[i], (size_t)numels[i], 7000u + 13u * (uint32_t)step + (uint32_t)i);
        for (int j = 0; j < numels[i]; j++) g[i][j] = (float)(g[i][j] * amp[i]);
    }
}

static void write_inputs(rig *g, float grads[NP][MAXN]) {
    for (int i = 0; i < NP; i++)
        assert_int_equal(clg_tensor_write(g->x[i], grads[i], (size_t)numels[i] * sizeof(float)), CLG_OK);
}

/* zero_grad, loss = sum(p0 x0) [+ sum(p1 x1)], backward, optimizer step. */
static void device_step(rig *g, int with_p1) {
    for (int i = 0; i < NP; i++) assert_int_equal(clg_tensor_zero_grad(g->p[i]), CLG_OK);
    clg_tensor *loss = NULL;
    for (int i = 0; i < (with_p1 ? NP : 1); i++) {
        clg_tensor *px = clg_mul(g->p[i], g->x[i]);
        clg_tensor *s = px ? clg_sum(px, 0, NULL, 0) : NULL;
        assert_non_null(s);
        clg_tensor *l = loss ? clg_add(loss, s) : s;
        if (loss) clg_tensor_free(s), clg_tensor_free(loss);
        clg_tensor_free(px);
        loss = l;
        assert_non_null(loss);
    }
    assert_int_equal(clg_backward(loss, NULL), CLG_OK);
    clg_tensor_free(loss);
    if (clg_optimizer_step(g->opt) != CLG_OK) fail_msg("step: %s", clg_last_error());
}

/* One step on the device and in the reference. */
static void rig_step(rig *g, int step, const double amp[NP]) {
    float grads[NP][MAXN];
    make_grads(grads, step, amp);
    write_inputs(g, grads);
    device_step(g, 1);
    const int has[NP] = {1, 1};
    ref_step(&g->r, grads, has);
}

static void expect_close(const char *what, int step, const float *dev, const double *want, int n) {
    for (int j = 0; j < n; j++) {
        double tol = 1e-5 * fabs(want[j]) + 1e-7;
        if (!(fabs((double)dev[j] - want[j]) <= tol))
            fail_msg("%s[%d] after step %d: device %.9g, reference %.9g", what, j, step, (double)dev[j], want[j]);
    }
}

/* Parameters, every slot (through the state tensors), the step count and the
 * rate of the next step against the reference. */
static void rig_check(rig *g, int step, const char *label) {
    char what[128];
    float v[MAXN];
    for (int i = 0; i < NP; i++) {
        assert_int_equal(clg_tensor_to_host(g->p[i], v, sizeof v), CLG_OK);
        snprintf(what, sizeof what, "%s: param %d", label, i);
        expect_close(what, step, v, g->r.p[i], numels[i]);
    }
    int idx = 2;
    for (int k = 0; k < ROLES; k++) {
        if (!ref_uses(&g->r.s, k)) continue;
        for (int i = 0; i < NP; i++, idx++) {
            clg_tensor *t = clg_optimizer_state_tensor(g->opt, idx);
            assert_non_null(t);
            assert_int_equal(clg_tensor_to_host(t, v, sizeof v), CLG_OK);
            snprintf(what, sizeof what, "%s: %s", label, clg_optimizer_state_name(g->opt, idx));
            expect_close(what, step, v, g->r.slot[k][i], numels[i]);
        }
    }
    assert_int_equal(clg_optimizer_state_count(g->opt), idx);
    assert_int_equal(clg_optimizer_iterations(g->opt), g->r.it);
    double want = ref_rate(&g->r, g->r.it);
    float got = clg_optimizer_current_learning_rate(g->opt);
    if (!(fabs((double)got - want) <= 1e-6 * fabs(want) + 1e-12))
        fail_msg("%s: rate after step %d: %.9g, reference %.9g", label, step, (double)got, want);
}

static const double AMP1[NP] = {1.0, 1.0};

/* Runs `steps` steps of s, checking after each; returns the steps where
 * clipping was active. */
static int run_spec(clg_context *ctx, const spec *s, int steps, const double amp[NP], const char *label) {
    rig g;
    rig_init(ctx, &g, s, 42);
    for (int k = 0; k < steps; k++) {
        rig_step(&g, k, amp);
        rig_check(&g, k, label);
    }
    int active = g.r.clip_active;
    rig_free(&g);
    return active;
}

static spec sgd_spec(float lr, float momentum, int nesterov) {
    return (spec){.algo = R_SGD, .lr = lr, .momentum = momentum, .nesterov = nesterov};
}
static spec adam_spec(float lr) {
    return (spec){.algo = R_ADAM, .lr = lr, .b1 = 0.9f, .b2 = 0.999f, .eps = 1e-7f};
}
static spec rmsprop_spec(float lr, float momentum, int centered) {
    return (spec){.algo = R_RMSPROP, .lr = lr, .rho = 0.9f, .momentum = momentum, .eps = 1e-7f, .centered = centered};
}

/* --- tests: the update rules --------------------------------------------------------------- */

static void test_sgd(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec a = sgd_spec(0.1f, 0.0f, 0), b = sgd_spec(0.1f, 0.9f, 0), c = sgd_spec(0.1f, 0.9f, 1);
    run_spec(ctx, &a, 6, AMP1, "sgd");
    run_spec(ctx, &b, 6, AMP1, "sgd momentum");
    run_spec(ctx, &c, 6, AMP1, "sgd nesterov");
}

static void test_adam(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec a = adam_spec(0.05f);
    run_spec(ctx, &a, 6, AMP1, "adam");
    /* AMSGrad with shrinking gradients and a short beta_2, so v falls below its
     * maximum and velocity_hat differs from velocity. */
    spec b = adam_spec(0.05f);
    b.amsgrad = 1, b.b2 = 0.5f;
    rig g;
    rig_init(ctx, &g, &b, 5);
    int differs = 0;
    for (int k = 0; k < 6; k++) {
        double amp[NP] = {1.0 / (1 + 3 * k), 1.0 / (1 + 3 * k)};
        rig_step(&g, k, amp);
        rig_check(&g, k, "adam amsgrad");
        differs |= g.r.slot[2][0][0] != g.r.slot[1][0][0];
    }
    assert_true(differs);
    rig_free(&g);
}

static void test_adamw(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec a = adam_spec(0.05f);
    a.algo = R_ADAMW, a.wd = 0.004f; /* Keras's default */
    run_spec(ctx, &a, 6, AMP1, "adamw");
    a.wd = 0.5f; /* large enough that a wrong decay could not pass */
    run_spec(ctx, &a, 6, AMP1, "adamw 0.5");
}

static void test_rmsprop(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec a = rmsprop_spec(0.01f, 0.0f, 0), b = rmsprop_spec(0.01f, 0.5f, 0), c = rmsprop_spec(0.01f, 0.0f, 1),
         d = rmsprop_spec(0.01f, 0.5f, 1);
    run_spec(ctx, &a, 6, AMP1, "rmsprop");
    run_spec(ctx, &b, 6, AMP1, "rmsprop momentum");
    run_spec(ctx, &c, 6, AMP1, "rmsprop centered");
    run_spec(ctx, &d, 6, AMP1, "rmsprop centered momentum");
}

static void test_adagrad(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec a = {.algo = R_ADAGRAD, .lr = 0.1f, .init_acc = 0.1f, .eps = 1e-7f};
    run_spec(ctx, &a, 6, AMP1, "adagrad");
    a.init_acc = 0.0f, a.eps = 1e-3f;
    run_spec(ctx, &a, 6, AMP1, "adagrad from 0");
}

static void test_weight_decay_any_optimizer(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec a = sgd_spec(0.1f, 0.9f, 0), b = rmsprop_spec(0.01f, 0.0f, 1),
         c = {.algo = R_ADAGRAD, .lr = 0.1f, .init_acc = 0.1f, .eps = 1e-7f};
    a.wd = 0.3f, b.wd = 0.3f, c.wd = 0.3f;
    run_spec(ctx, &a, 5, AMP1, "sgd weight decay");
    run_spec(ctx, &b, 5, AMP1, "rmsprop weight decay");
    run_spec(ctx, &c, 5, AMP1, "adagrad weight decay");
}

/* --- clipping and schedules ------------------------------------------------------------------- */

static void test_clipping(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const double amp[NP] = {2.0, 0.05}; /* the second parameter's norm stays below clipnorm */
    spec a = adam_spec(0.05f);
    a.clip = C_VALUE, a.clipv = 0.3f;
    assert_true(run_spec(ctx, &a, 5, amp, "clipvalue") > 0);
    spec b = sgd_spec(0.1f, 0.9f, 1);
    b.clip = C_NORM, b.clipv = 0.5f;
    assert_true(run_spec(ctx, &b, 5, amp, "clipnorm") > 0);
    spec c = rmsprop_spec(0.01f, 0.5f, 0);
    c.clip = C_GLOBAL, c.clipv = 0.7f;
    assert_true(run_spec(ctx, &c, 5, amp, "global_clipnorm") > 0);
    /* Below the thresholds nothing changes (and the reference says so). */
    const double small[NP] = {0.01, 0.01};
    b.clipv = 100.0f;
    assert_int_equal(run_spec(ctx, &b, 3, small, "clipnorm inactive"), 0);
    c.clipv = 100.0f;
    assert_int_equal(run_spec(ctx, &c, 3, small, "global_clipnorm inactive"), 0);
}

static void test_schedules(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec s = sgd_spec(0.1f, 0.0f, 0);
    s.sched = S_EXP, s.decay_steps = 3, s.rate = 0.5f;
    run_spec(ctx, &s, 9, AMP1, "exponential");
    s.sched = S_STAIR;
    run_spec(ctx, &s, 9, AMP1, "exponential staircase");
    s.sched = S_STEP, s.decay_steps = 2, s.rate = 0.3f;
    run_spec(ctx, &s, 9, AMP1, "step");
    s.sched = S_COSINE, s.decay_steps = 5, s.alpha = 0.1f, s.warm = 0; /* 9 steps pass the end */
    run_spec(ctx, &s, 9, AMP1, "cosine");
    s.warm = 3, s.warm_init = 0.01f, s.decay_steps = 4, s.alpha = 0.0f;
    run_spec(ctx, &s, 9, AMP1, "cosine warm-up");
    spec a = adam_spec(0.05f); /* a schedule also feeds Adam's rate and AdamW's decay */
    a.algo = R_ADAMW, a.wd = 0.2f;
    a.sched = S_COSINE, a.decay_steps = 4, a.warm = 2, a.warm_init = 0.0f, a.alpha = 0.2f;
    run_spec(ctx, &a, 7, AMP1, "adamw cosine warm-up");
}

/* A parameter without a gradient is neither updated nor decayed, nor are its slots. */
static void test_missing_gradient(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec s = adam_spec(0.05f);
    s.algo = R_ADAMW, s.wd = 0.3f;
    rig g;
    rig_init(ctx, &g, &s, 9);
    rig_step(&g, 0, AMP1);
    float grads[NP][MAXN];
    make_grads(grads, 1, AMP1);
    write_inputs(&g, grads);
    device_step(&g, 0); /* only p0 in the loss */
    assert_null(clg_tensor_grad(g.p[1]));
    const int has[NP] = {1, 0};
    ref_step(&g.r, grads, has);
    rig_check(&g, 1, "missing gradient");
    rig_free(&g);
}

/* --- many parameters: the fused update kernels ----------------------------------------- */

enum { MANY = 11, MANY_SKIP = 4, MANY_MAX = 200 };
/* Sizes around the work-group size (64 unless tuned), so that a parameter's
 * range in the fused launch starts and ends mid-group and on group borders. */
static const int64_t many_n[MANY] = {1, 63, 64, 65, 130, 7, 200, 3, 64, 129, 5};

/* SGD with momentum 0.9, lr 0.1 and clipping of kind clip (C_NORM or C_GLOBAL,
 * c = 2) over 11 parameters, parameter 4 without a gradient: fused, the updates
 * run in two launches (8 parameters with a gradient, then 2); each parameter
 * must get its own gradient, slot and norm entry. Two steps against a double
 * reference. */
static void check_many(clg_context *ctx, int clip) {
    const float lr = 0.1f, mom = 0.9f, c = 2.0f;
    clg_tensor *p[MANY], *x[MANY];
    static double want[MANY][MANY_MAX], m[MANY][MANY_MAX];
    static float v[MANY_MAX], gr[2][MANY][MANY_MAX];
    char name[16];
    for (int i = 0; i < MANY; i++) {
        clg_test_random_floats(v, (size_t)many_n[i], 300u + (uint32_t)i);
        p[i] = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, &many_n[i], v);
        x[i] = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, &many_n[i]);
        assert_true(p[i] && x[i]);
        snprintf(name, sizeof name, "p%d", i);
        assert_int_equal(clg_tensor_set_name(p[i], name), CLG_OK);
        assert_int_equal(clg_tensor_set_requires_grad(p[i], 1), CLG_OK);
        for (int j = 0; j < many_n[i]; j++) want[i][j] = v[j], m[i][j] = 0.0;
    }
    clg_optimizer *o = clg_optimizer_sgd(lr, mom, 0);
    assert_non_null(o);
    assert_int_equal(clip == C_NORM ? clg_optimizer_set_clipnorm(o, c) : clg_optimizer_set_global_clipnorm(o, c),
                     CLG_OK);
    assert_int_equal(clg_optimizer_attach(o, ctx, MANY, p), CLG_OK);
    for (int step = 0; step < 2; step++) {
        double total = 0.0, sumsq[MANY] = {0};
        clg_tensor *loss = NULL;
        for (int i = 0; i < MANY; i++) {
            assert_int_equal(clg_tensor_zero_grad(p[i]), CLG_OK);
            if (i == MANY_SKIP) continue;
            clg_test_random_floats(gr[step][i], (size_t)many_n[i], 900u + 31u * (uint32_t)step + (uint32_t)i);
            for (int j = 0; j < many_n[i]; j++) sumsq[i] += (double)gr[step][i][j] * gr[step][i][j];
            total += sumsq[i];
            assert_int_equal(clg_tensor_write(x[i], gr[step][i], (size_t)many_n[i] * sizeof(float)), CLG_OK);
            clg_tensor *px = clg_mul(p[i], x[i]);
            clg_tensor *s = px ? clg_sum(px, 0, NULL, 0) : NULL;
            clg_tensor *l = s && loss ? clg_add(loss, s) : s;
            assert_non_null(l);
            if (l != s) clg_tensor_free(s);
            clg_tensor_free(px), clg_tensor_free(loss);
            loss = l;
        }
        assert_int_equal(clg_backward(loss, NULL), CLG_OK);
        clg_tensor_free(loss);
        if (clg_optimizer_step(o) != CLG_OK) fail_msg("step %d: %s", step, clg_last_error());
        for (int i = 0; i < MANY; i++) {
            if (i == MANY_SKIP) continue;
            double scale = clip == C_NORM ? c / fmax(sqrt(sumsq[i]), c) : c * fmin(1.0 / sqrt(total), 1.0 / c);
            for (int j = 0; j < many_n[i]; j++) {
                m[i][j] = mom * m[i][j] - lr * (gr[step][i][j] * scale);
                want[i][j] += m[i][j];
            }
        }
    }
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(clg_tensor_to_host(p[i], v, (size_t)many_n[i] * sizeof(float)), CLG_OK);
        char what[48];
        snprintf(what, sizeof what, "%s, parameter %d", clip == C_NORM ? "clipnorm" : "global_clipnorm", i);
        for (int j = 0; j < many_n[i]; j++)
            if (!(fabs(v[j] - want[i][j]) <= 1e-5 * fabs(want[i][j]) + 1e-6))
                fail_msg("%s element %d: %.9g, expected %.9g", what, j, (double)v[j], want[i][j]);
    }
    clg_optimizer_free(o);
    for (int i = 0; i < MANY; i++) clg_tensor_free(p[i]), clg_tensor_free(x[i]);
}

/* Both forms of the update on this device: one launch per parameter (CPU
 * devices' default) and the fused launch of up to 8 (GPUs'). */
static void test_many_parameters(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int saved = ctx->optim_group;
    for (int group = 1; group <= 8; group += 7) {
        ctx->optim_group = group;
        check_many(ctx, C_NORM);
        check_many(ctx, C_GLOBAL);
    }
    ctx->optim_group = saved;
}

/* --- captured steps ------------------------------------------------------------------------------ */

static void read_bits(const clg_tensor *t, float *out, size_t n) {
    assert_int_equal(clg_tensor_to_host(t, out, n * sizeof(float)), CLG_OK);
}

/* Every parameter and state tensor of a and b, bit for bit. */
static void expect_identical(const rig *a, const rig *b) {
    float va[MAXN], vb[MAXN];
    for (int i = 0; i < NP; i++) {
        read_bits(a->p[i], va, MAXN), read_bits(b->p[i], vb, MAXN);
        assert_memory_equal(va, vb, (size_t)numels[i] * sizeof(float));
    }
    int n = clg_optimizer_state_count(a->opt);
    assert_int_equal(n, clg_optimizer_state_count(b->opt));
    for (int k = 0; k < n; k++) {
        clg_tensor *ta = clg_optimizer_state_tensor(a->opt, k), *tb = clg_optimizer_state_tensor(b->opt, k);
        assert_string_equal(clg_optimizer_state_name(a->opt, k), clg_optimizer_state_name(b->opt, k));
        size_t bytes = (size_t)clg_tensor_numel(ta) * 4;
        assert_int_equal(bytes, (size_t)clg_tensor_numel(tb) * 4);
        assert_int_equal(clg_tensor_to_host(ta, va, bytes), CLG_OK);
        assert_int_equal(clg_tensor_to_host(tb, vb, bytes), CLG_OK);
        if (memcmp(va, vb, bytes)) fail_msg("state %s differs", clg_optimizer_state_name(a->opt, k));
    }
}

/* Step 0 of rig b captured (it runs while recorded); the step is returned. */
static clg_step *capture_first_step(rig *b, const double amp[NP]) {
    float grads[NP][MAXN];
    make_grads(grads, 0, amp);
    write_inputs(b, grads);
    assert_int_equal(clg_step_capture_begin(b->ctx), CLG_OK);
    device_step(b, 1);
    clg_step *step = clg_step_capture_end(b->ctx);
    if (!step) fail_msg("capture: %s", clg_last_error());
    const int has[NP] = {1, 1};
    ref_step(&b->r, grads, has);
    return step;
}

static void replay_step(rig *b, clg_step *step, int k, const double amp[NP]) {
    float grads[NP][MAXN];
    make_grads(grads, k, amp);
    write_inputs(b, grads);
    assert_int_equal(clg_step_replay(step), CLG_OK);
    const int has[NP] = {1, 1};
    ref_step(&b->r, grads, has);
}

/* --- skipping non-finite gradients ---------------------------------------------------- */

/* Plants bad in gradient element (param, elem) of step k and runs that step
 * (eagerly, or by replaying `step`); nothing may change. */
static void bad_step(rig *g, clg_step *step, int k, int param, int elem, float bad) {
    float grads[NP][MAXN];
    make_grads(grads, k, AMP1);
    grads[param][elem] = bad;
    write_inputs(g, grads);
    if (step) assert_int_equal(clg_step_replay(step), CLG_OK);
    else device_step(g, 1);
}

static void expect_skipped(const rig *g, int64_t want, int want_param) {
    int64_t skipped = -7;
    int last = -7;
    assert_int_equal(clg_optimizer_skipped_steps(g->opt, &skipped, &last), CLG_OK);
    if (skipped != want || last != want_param)
        fail_msg("skipped %lld steps, last bad parameter %d; expected %lld and %d", (long long)skipped, last,
                 (long long)want, want_param);
}

/* Adam with AMSGrad and weight decay, so that every slot and the decay would
 * show a skipped step: a NaN, then an infinity in a gradient leave parameters,
 * slots and the step count alone and are counted with the parameter at fault;
 * finite steps before and after follow the reference. The same through a
 * captured step's replays. */
static void test_skip_nonfinite(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec s = adam_spec(0.05f);
    s.amsgrad = 1, s.wd = 0.1f;
    for (int captured = 0; captured < 2; captured++) {
        rig g;
        rig_init(ctx, &g, &s, 21);
        expect_skipped(&g, 0, -1);
        assert_int_equal(clg_optimizer_set_skip_nonfinite(g.opt, 1), CLG_OK);
        clg_step *step = captured ? capture_first_step(&g, AMP1) : NULL;
        if (!captured) rig_step(&g, 0, AMP1);
        rig_check(&g, 0, "before");
        bad_step(&g, step, 1, 1, 2, NAN);
        rig_check(&g, 1, "NaN in b's gradient");
        expect_skipped(&g, 1, 1);
        bad_step(&g, step, 2, 0, 11, -INFINITY);
        rig_check(&g, 2, "-inf in w's gradient");
        expect_skipped(&g, 2, 0);
        if (captured) replay_step(&g, step, 3, AMP1);
        else rig_step(&g, 3, AMP1);
        rig_check(&g, 3, "after");
        expect_skipped(&g, 2, 0);
        CLG_EXPECT_ERROR(clg_optimizer_set_skip_nonfinite(g.opt, 0) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                         "clg_optimizer_set_skip_nonfinite", "already taken a step");
        clg_step_free(step);
        rig_free(&g);
    }
}

static void test_capture_replay_matches_eager(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const double amp[NP] = {2.0, 0.5};
    spec specs[2] = {adam_spec(0.05f), rmsprop_spec(0.01f, 0.5f, 1)};
    specs[0].sched = S_COSINE, specs[0].decay_steps = 4, specs[0].warm = 2, specs[0].alpha = 0.1f;
    specs[0].clip = C_GLOBAL, specs[0].clipv = 1.0f;
    specs[1].sched = S_STAIR, specs[1].decay_steps = 2, specs[1].rate = 0.5f, specs[1].wd = 0.1f;
    specs[1].clip = C_NORM, specs[1].clipv = 0.8f;
    enum { N = 8 };
    for (int c = 0; c < 2; c++) {
        rig a, b;
        rig_init(ctx, &a, &specs[c], 17);
        rig_init(ctx, &b, &specs[c], 17);
        rig_step(&a, 0, amp);
        clg_step *step = capture_first_step(&b, amp);
        for (int k = 1; k < N; k++) {
            rig_step(&a, k, amp);
            replay_step(&b, step, k, amp);
        }
        rig_check(&a, N - 1, "eager");
        rig_check(&b, N - 1, "replayed");
        assert_int_equal(clg_optimizer_iterations(b.opt), N);
        expect_identical(&a, &b);
        clg_step_free(step);
        rig_free(&a);
        rig_free(&b);
    }
}

static void test_set_learning_rate_between_replays(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec s = sgd_spec(0.1f, 0.9f, 0);
    s.sched = S_EXP, s.decay_steps = 4, s.rate = 0.5f;
    rig g;
    rig_init(ctx, &g, &s, 23);
    clg_step *step = capture_first_step(&g, AMP1);
    for (int k = 1; k < 3; k++) replay_step(&g, step, k, AMP1);
    rig_check(&g, 2, "before set_learning_rate");
    assert_true(clg_optimizer_get_learning_rate(g.opt) == 0.1f);
    assert_int_equal(clg_optimizer_set_learning_rate(g.opt, 0.025f), CLG_OK); /* as ReduceLROnPlateau */
    assert_true(clg_optimizer_get_learning_rate(g.opt) == 0.025f);
    g.r.lr = 0.025f;
    for (int k = 3; k < 6; k++) replay_step(&g, step, k, AMP1);
    rig_check(&g, 5, "after set_learning_rate");
    /* Writing the rate during a capture would be replayed: refused. */
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    CLG_EXPECT_ERROR(clg_optimizer_set_learning_rate(g.opt, 0.5f) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_optimizer_set_learning_rate", "capture");
    clg_step *empty = clg_step_capture_end(ctx);
    clg_step_free(empty);
    assert_true(clg_optimizer_get_learning_rate(g.opt) == 0.025f);
    clg_step_free(step);
    rig_free(&g);
}

/* --- state tensors ----------------------------------------------------------------------------- */

static void test_state_names(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec s = rmsprop_spec(0.01f, 0.5f, 1);
    rig g;
    rig_init(ctx, &g, &s, 3);
    const char *want[] = {"optimizer.iterations",       "optimizer.learning_rate",
                          "optimizer.velocity.w",       "optimizer.velocity.b",
                          "optimizer.momentum.w",       "optimizer.momentum.b",
                          "optimizer.average_gradient.w", "optimizer.average_gradient.b"};
    assert_int_equal(clg_optimizer_state_count(g.opt), 8);
    for (int k = 0; k < 8; k++) assert_string_equal(clg_optimizer_state_name(g.opt, k), want[k]);
    clg_tensor *it = clg_optimizer_state_tensor(g.opt, 0), *lr = clg_optimizer_state_tensor(g.opt, 1);
    assert_int_equal(clg_tensor_dtype(it), CLG_INT32);
    assert_int_equal(clg_tensor_ndim(it), 0);
    assert_int_equal(clg_tensor_dtype(lr), CLG_FLOAT32);
    assert_int_equal(clg_tensor_ndim(lr), 0);
    assert_int_equal(clg_tensor_ndim(clg_optimizer_state_tensor(g.opt, 2)), 2);
    CLG_EXPECT_ERROR(clg_optimizer_state_tensor(g.opt, 8) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_optimizer_state_tensor", "8");
    CLG_EXPECT_ERROR(clg_optimizer_state_name(g.opt, -1) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_optimizer_state_name");
    rig_free(&g);

    /* Unnamed parameters are named by position; Adagrad starts at its initial value. */
    clg_tensor *p = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){3});
    assert_int_equal(clg_tensor_set_requires_grad(p, 1), CLG_OK);
    clg_optimizer *o = clg_optimizer_from_name("adagrad");
    assert_int_equal(clg_optimizer_state_count(o), 0);
    assert_int_equal(clg_optimizer_attach(o, ctx, 1, &p), CLG_OK);
    assert_string_equal(clg_optimizer_state_name(o, 2), "optimizer.accumulator.param0");
    float acc[3];
    assert_int_equal(clg_tensor_to_host(clg_optimizer_state_tensor(o, 2), acc, sizeof acc), CLG_OK);
    for (int j = 0; j < 3; j++) assert_true(acc[j] == 0.1f);
    clg_optimizer_free(o);
    clg_tensor_free(p);
}

/* Optimizer b, on parameters holding a's values, takes a's state and then
 * follows a bit for bit. */
static void test_state_roundtrip(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec specs[4] = {adam_spec(0.05f), rmsprop_spec(0.01f, 0.5f, 1), sgd_spec(0.1f, 0.9f, 1),
                     {.algo = R_ADAGRAD, .lr = 0.1f, .init_acc = 0.1f, .eps = 1e-7f}};
    specs[0].amsgrad = 1, specs[0].wd = 0.1f, specs[0].sched = S_COSINE, specs[0].decay_steps = 5,
    specs[0].warm = 2;
    specs[2].sched = S_STAIR, specs[2].decay_steps = 2, specs[2].rate = 0.5f;
    for (int c = 0; c < 4; c++) {
        rig a, b;
        rig_init(ctx, &a, &specs[c], 31);
        rig_init(ctx, &b, &specs[c], 99); /* other values until the copy */
        for (int k = 0; k < 3; k++) rig_step(&a, k, AMP1);
        assert_int_equal(clg_optimizer_set_learning_rate(a.opt, 0.04f), CLG_OK);
        float v[MAXN];
        for (int i = 0; i < NP; i++) {
            read_bits(a.p[i], v, MAXN);
            assert_int_equal(clg_tensor_write(b.p[i], v, (size_t)numels[i] * 4), CLG_OK);
        }
        int n = clg_optimizer_state_count(a.opt);
        for (int k = 0; k < n; k++) {
            clg_tensor *ta = clg_optimizer_state_tensor(a.opt, k);
            size_t bytes = (size_t)clg_tensor_numel(ta) * 4;
            assert_int_equal(clg_tensor_to_host(ta, v, bytes), CLG_OK);
            assert_int_equal(clg_tensor_write(clg_optimizer_state_tensor(b.opt, k), v, bytes), CLG_OK);
        }
        assert_int_equal(clg_optimizer_iterations(b.opt), 3);
        assert_true(clg_optimizer_get_learning_rate(b.opt) == 0.04f);
        for (int k = 3; k < 6; k++) rig_step(&a, k, AMP1), rig_step(&b, k, AMP1);
        expect_identical(&a, &b);
        rig_free(&a);
        rig_free(&b);
    }
}

/* --- names, configuration, bad input ---------------------------------------------------------- */

static void test_config_json(void **state) {
    (void)state;
    char buf[2048];
    clg_optimizer *o = clg_optimizer_from_name("adam");
    assert_int_equal(clg_optimizer_config_json(o, buf, sizeof buf), CLG_OK);
    assert_string_equal(
        buf, "{\"module\": \"keras.optimizers\", \"class_name\": \"Adam\", \"config\": {\"name\": \"adam\", "
             "\"learning_rate\": 0.001, \"weight_decay\": null, \"clipnorm\": null, \"global_clipnorm\": null, "
             "\"clipvalue\": null, \"use_ema\": false, \"ema_momentum\": 0.99, \"ema_overwrite_frequency\": null, "
             "\"loss_scale_factor\": null, \"gradient_accumulation_steps\": null, \"beta_1\": 0.9, \"beta_2\": "
             "0.999, \"epsilon\": 1e-07, \"amsgrad\": false}, \"registered_name\": null}");
    size_t need = strlen(buf) + 1;
    CLG_EXPECT_ERROR(clg_optimizer_config_json(o, buf, need - 1) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_optimizer_config_json", "bytes");
    assert_int_equal(clg_optimizer_config_json(o, buf, need), CLG_OK);
    clg_optimizer_free(o);

    o = clg_optimizer_sgd(0.01f, 0.9f, 1);
    assert_int_equal(clg_optimizer_set_clipnorm(o, 1.0f), CLG_OK);
    assert_int_equal(clg_optimizer_set_schedule_cosine(o, 100, 0.1f, 10, 0.0f), CLG_OK);
    assert_int_equal(clg_optimizer_config_json(o, buf, sizeof buf), CLG_OK);
    const char *parts[] = {
        "\"class_name\": \"SGD\", \"config\": {\"name\": \"SGD\", \"learning_rate\": {\"module\": "
        "\"keras.optimizers.schedules\", \"class_name\": \"CosineDecay\", \"config\": {\"initial_learning_rate\": "
        "0.0, \"decay_steps\": 100, \"alpha\": 0.1, \"name\": \"CosineDecay\", \"warmup_target\": 0.01, "
        "\"warmup_steps\": 10}, \"registered_name\": null}",
        "\"clipnorm\": 1.0, \"global_clipnorm\": null", "\"momentum\": 0.9, \"nesterov\": true}"};
    for (int k = 0; k < 3; k++)
        if (!strstr(buf, parts[k])) fail_msg("missing %s in %s", parts[k], buf);
    clg_optimizer_free(o);

    o = clg_optimizer_rmsprop(0.001f, 0.9f, 0.0f, 1e-7f, 1);
    assert_int_equal(clg_optimizer_set_schedule_exponential(o, 1000, 0.96f, 1), CLG_OK);
    assert_int_equal(clg_optimizer_set_weight_decay(o, 0.01f), CLG_OK);
    assert_int_equal(clg_optimizer_config_json(o, buf, sizeof buf), CLG_OK);
    const char *rparts[] = {"\"class_name\": \"ExponentialDecay\", \"config\": {\"initial_learning_rate\": 0.001, "
                            "\"decay_steps\": 1000, \"decay_rate\": 0.96, \"staircase\": true",
                            "\"weight_decay\": 0.01,", "\"rho\": 0.9, \"momentum\": 0.0, \"epsilon\": 1e-07, "
                                                      "\"centered\": true}"};
    for (int k = 0; k < 3; k++)
        if (!strstr(buf, rparts[k])) fail_msg("missing %s in %s", rparts[k], buf);
    clg_optimizer_free(o);
}

static void test_from_name(void **state) {
    (void)state;
    const char *names[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    const char *expect[] = {"\"class_name\": \"SGD\", \"config\": {\"name\": \"SGD\", \"learning_rate\": 0.01, "
                            "\"weight_decay\": null",
                            "\"class_name\": \"Adam\", \"config\": {\"name\": \"adam\", \"learning_rate\": 0.001,",
                            "\"name\": \"adamw\", \"learning_rate\": 0.001, \"weight_decay\": 0.004,",
                            "\"rho\": 0.9, \"momentum\": 0.0, \"epsilon\": 1e-07, \"centered\": false}",
                            "\"initial_accumulator_value\": 0.1, \"epsilon\": 1e-07}"};
    char buf[2048];
    for (int k = 0; k < 5; k++) {
        clg_optimizer *o = clg_optimizer_from_name(names[k]);
        assert_non_null(o);
        assert_string_equal(clg_optimizer_name(o), names[k]);
        assert_int_equal(clg_optimizer_config_json(o, buf, sizeof buf), CLG_OK);
        if (!strstr(buf, expect[k])) fail_msg("missing %s in %s", expect[k], buf);
        assert_int_equal(clg_optimizer_iterations(o), 0);
        clg_optimizer_free(o);
    }
    clg_optimizer *o = clg_optimizer_from_name("AdamW");
    assert_string_equal(clg_optimizer_name(o), "adamw");
    assert_true(clg_optimizer_get_learning_rate(o) == 0.001f);
    clg_optimizer_free(o);
    CLG_EXPECT_ERROR(clg_optimizer_from_name("adamax") == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_optimizer_from_name", "adamax", "rmsprop");
    CLG_EXPECT_ERROR(clg_optimizer_from_name(NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT, "NULL");
    clg_optimizer_free(NULL);
    assert_string_equal(clg_optimizer_name(NULL), "");
}

/* A zero rate (Keras allows it) freezes the parameters bit for bit, weight decay included. */
static void test_zero_learning_rate(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    spec s = adam_spec(0.0f);
    s.algo = R_ADAMW, s.wd = 0.5f;
    rig g;
    rig_init(ctx, &g, &s, 11);
    float before[NP][MAXN], after[MAXN];
    for (int i = 0; i < NP; i++) read_bits(g.p[i], before[i], MAXN);
    for (int k = 0; k < 3; k++) rig_step(&g, k, AMP1);
    for (int i = 0; i < NP; i++) {
        read_bits(g.p[i], after, MAXN);
        assert_memory_equal(before[i], after, (size_t)numels[i] * sizeof(float));
    }
    rig_free(&g);
}

static void test_bad_arguments(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const clg_status BAD = CLG_STATUS_INVALID_ARGUMENT;
    CLG_EXPECT_ERROR(clg_optimizer_sgd(-0.1f, 0.0f, 0) == NULL, BAD, "clg_optimizer_sgd", "learning_rate");
    CLG_EXPECT_ERROR(clg_optimizer_sgd(NAN, 0.0f, 0) == NULL, BAD, "learning_rate");
    CLG_EXPECT_ERROR(clg_optimizer_sgd(0.1f, 1.5f, 0) == NULL, BAD, "momentum", "1.5");
    CLG_EXPECT_ERROR(clg_optimizer_adam(0.1f, 1.0f, 0.999f, 1e-7f) == NULL, BAD, "clg_optimizer_adam", "beta_1");
    CLG_EXPECT_ERROR(clg_optimizer_adamw(0.1f, -1.0f, 0.9f, 0.999f, 1e-7f) == NULL, BAD, "weight_decay");
    CLG_EXPECT_ERROR(clg_optimizer_rmsprop(0.1f, 0.9f, -0.5f, 1e-7f, 0) == NULL, BAD, "clg_optimizer_rmsprop",
                     "momentum");
    CLG_EXPECT_ERROR(clg_optimizer_adagrad(0.1f, -0.1f, 1e-7f) == NULL, BAD, "initial_accumulator_value");

    clg_optimizer *o = clg_optimizer_from_name("sgd");
    CLG_EXPECT_ERROR(clg_optimizer_step(o) != CLG_OK, BAD, "clg_optimizer_step", "clg_optimizer_attach");
    CLG_EXPECT_ERROR(clg_optimizer_set_amsgrad(o, 1) != CLG_OK, BAD, "amsgrad", "sgd");
    CLG_EXPECT_ERROR(clg_optimizer_set_clipnorm(o, -1.0f) != CLG_OK, BAD, "clipnorm", "-1");
    assert_int_equal(clg_optimizer_set_clipnorm(o, 1.0f), CLG_OK);
    CLG_EXPECT_ERROR(clg_optimizer_set_clipvalue(o, 0.5f) != CLG_OK, BAD, "clg_optimizer_set_clipvalue",
                     "clipnorm is already set");
    assert_int_equal(clg_optimizer_set_clipnorm(o, 0.0f), CLG_OK); /* off, then another kind is fine */
    assert_int_equal(clg_optimizer_set_clipvalue(o, 0.5f), CLG_OK);
    CLG_EXPECT_ERROR(clg_optimizer_set_schedule_exponential(o, 0, 0.5f, 0) != CLG_OK, BAD, "decay_steps");
    CLG_EXPECT_ERROR(clg_optimizer_set_schedule_cosine(o, 10, NAN, 0, 0.0f) != CLG_OK, BAD, "alpha");
    CLG_EXPECT_ERROR(clg_optimizer_set_schedule_cosine(o, 10, 0.0f, -1, 0.0f) != CLG_OK, BAD, "warmup_steps");
    CLG_EXPECT_ERROR(clg_optimizer_set_learning_rate(o, -1.0f) != CLG_OK, BAD, "learning_rate");

    /* attach */
    clg_tensor *w = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){4});
    clg_tensor *nograd = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){4});
    clg_tensor *ints = clg_tensor_zeros(ctx, CLG_INT32, 1, (int64_t[]){4});
    clg_tensor *w2 = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 3});
    assert_true(w && nograd && ints && w2);
    assert_int_equal(clg_tensor_set_name(w, "dense.kernel"), CLG_OK);
    assert_int_equal(clg_tensor_set_name(nograd, "frozen"), CLG_OK);
    assert_int_equal(clg_tensor_set_name(ints, "counts"), CLG_OK);
    assert_int_equal(clg_tensor_set_requires_grad(w, 1), CLG_OK);
    assert_int_equal(clg_tensor_set_requires_grad(w2, 1), CLG_OK);
    clg_tensor *wt = clg_tensor_transpose(w2, 0, 1);
    assert_non_null(wt);
    CLG_EXPECT_ERROR(clg_optimizer_attach(o, ctx, 0, &w) != CLG_OK, BAD, "clg_optimizer_attach", "no parameters");
    CLG_EXPECT_ERROR(clg_optimizer_attach(o, ctx, 1, NULL) != CLG_OK, BAD, "no parameters");
    CLG_EXPECT_ERROR(clg_optimizer_attach(o, NULL, 1, &w) != CLG_OK, BAD, "context");
    clg_tensor *with_null[2] = {w, NULL};
    CLG_EXPECT_ERROR(clg_optimizer_attach(o, ctx, 2, with_null) != CLG_OK, BAD, "parameter 1 is NULL");
    clg_tensor *a1[2] = {w, nograd};
    CLG_EXPECT_ERROR(clg_optimizer_attach(o, ctx, 2, a1) != CLG_OK, BAD, "parameter 1", "'frozen'",
                     "gradient");
    clg_tensor *a2[1] = {ints};
    CLG_EXPECT_ERROR(clg_optimizer_attach(o, ctx, 1, a2) != CLG_OK, BAD, "'counts'", "int32");
    clg_tensor *a3[2] = {w, w};
    CLG_EXPECT_ERROR(clg_optimizer_attach(o, ctx, 2, a3) != CLG_OK, BAD, "'dense.kernel'", "also parameter 0");
    clg_tensor *a4[1] = {wt};
    CLG_EXPECT_ERROR(clg_optimizer_attach(o, ctx, 1, a4) != CLG_OK, BAD, "non-contiguous");
    assert_int_equal(clg_tensor_set_name(w2, "dense.kernel"), CLG_OK);
    clg_tensor *a5[2] = {w, w2};
    CLG_EXPECT_ERROR(clg_optimizer_attach(o, ctx, 2, a5) != CLG_OK, BAD, "both named 'dense.kernel'");
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    CLG_EXPECT_ERROR(clg_optimizer_attach(o, ctx, 1, &w) != CLG_OK, BAD, "capture");
    clg_step_free(clg_step_capture_end(ctx));
    assert_int_equal(clg_optimizer_state_count(o), 0); /* failed attaches left nothing behind */

    assert_int_equal(clg_optimizer_attach(o, ctx, 1, &w), CLG_OK);
    CLG_EXPECT_ERROR(clg_optimizer_attach(o, ctx, 1, &w) != CLG_OK, BAD, "already attached");
    CLG_EXPECT_ERROR(clg_optimizer_step(o) != CLG_OK, BAD, "clg_optimizer_step", "gradient");
    /* After the first step, settings are frozen. */
    clg_tensor *loss = clg_sum(w, 0, NULL, 0);
    assert_int_equal(clg_backward(loss, NULL), CLG_OK);
    clg_tensor_free(loss);
    assert_int_equal(clg_optimizer_step(o), CLG_OK);
    CLG_EXPECT_ERROR(clg_optimizer_set_clipvalue(o, 0.1f) != CLG_OK, BAD, "already taken a step");
    CLG_EXPECT_ERROR(clg_optimizer_set_schedule_step(o, 10, 0.5f) != CLG_OK, BAD, "already taken a step");
    CLG_EXPECT_ERROR(clg_optimizer_set_weight_decay(o, 0.1f) != CLG_OK, BAD, "already taken a step");
    assert_int_equal(clg_optimizer_set_learning_rate(o, 0.5f), CLG_OK); /* the rate is not a setting */
    float v[4];
    assert_int_equal(clg_tensor_to_host(w, v, sizeof v), CLG_OK);
    for (int j = 0; j < 4; j++) assert_true(v[j] == -(0.5f * 0.01f)); /* gradient 1 clipped to 0.5, lr 0.01 */
    CLG_EXPECT_ERROR(clg_optimizer_step(NULL) != CLG_OK, BAD, "NULL");
    clg_optimizer_free(o);
    clg_tensor_free(w), clg_tensor_free(nograd), clg_tensor_free(ints), clg_tensor_free(w2), clg_tensor_free(wt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_rmsprop),
        cmocka_unit_test(test_adagrad),
        cmocka_unit_test(test_weight_decay_any_optimizer),
        cmocka_unit_test(test_clipping),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_missing_gradient),
        cmocka_unit_test(test_many_parameters),
        cmocka_unit_test(test_capture_replay_matches_eager),
        cmocka_unit_test(test_skip_nonfinite),
        cmocka_unit_test(test_set_learning_rate_between_replays),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_config_json),
        cmocka_unit_test(test_from_name),
        cmocka_unit_test(test_zero_learning_rate),
        cmocka_unit_test(test_bad_arguments),
    };
    return CLG_RUN_GROUP(tests);
}
