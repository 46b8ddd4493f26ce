/* Optimizers: Keras 3's update rules as device kernels that update up to eight
 * parameters per launch (cl/optim.cl), learning-rate schedules evaluated on the
 * device, gradient clipping with device-side norms.
 *
 * Why the design: a training step is captured once and replayed (graph/step.c),
 * so nothing that changes between steps may be a host argument of a recorded
 * launch. The step count and the base learning rate are rank-0 device tensors;
 * every update kernel reads them, evaluates the schedule itself (a few scalar
 * operations per work-item, cheaper than another launch), and a last one-item
 * kernel advances the count after all updates of the step have read it. Schedule
 * and clipping settings are constants of the recorded launches, so they are
 * frozen at the first step.
 *
 * State tensors (slots) are separate contiguous tensors per parameter so a
 * checkpoint can name each one; their order is Keras's (per slot kind, then per
 * parameter). */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgrad/autograd.h"
#include "clgrad/optim.h"
#include "common/error.h"
#include "graph/graph.h"
#include "runtime/runtime_impl.h"

/* Keep in step with cl/optim.cl. */
enum { SCHED_NONE = 0, SCHED_EXP = 1, SCHED_EXP_STAIR = 2, SCHED_COSINE = 3 };
enum { CLIP_NONE = 0, CLIP_VALUE = 1, CLIP_NORM = 2, CLIP_GLOBAL = 3 };
enum { FLAG_NESTEROV = 1, FLAG_AMSGRAD = 2, FLAG_CENTERED = 4, FLAG_MOMENTUM = 8 };

typedef enum algo { ALGO_SGD = 0, ALGO_ADAM, ALGO_ADAMW, ALGO_RMSPROP, ALGO_ADAGRAD, ALGO_COUNT_ } algo;

/* One table for everything named per algorithm. */
static const struct {
    const char *name;       /* clg_optimizer_name, clg_optimizer_from_name */
    const char *keras_class;
    const char *keras_name; /* Keras's default `name` config entry */
    const char *kernel;
} algos[] = {
    {"sgd", "SGD", "SGD", "optim_sgd"},
    {"adam", "Adam", "adam", "optim_adam"},
    {"adamw", "AdamW", "adamw", "optim_adam"},
    {"rmsprop", "RMSprop", "rmsprop", "optim_rmsprop"},
    {"adagrad", "Adagrad", "adagrad", "optim_adagrad"},
};
_Static_assert(sizeof algos / sizeof algos[0] == ALGO_COUNT_, "one entry per optimizer");

enum { ROLES = 3 }; /* slot arguments s0, s1, s2 of the kernels */

struct clg_optimizer {
    algo algo;
    float lr; /* the learning rate until attach; then the device tensor holds it */
    float momentum, beta_1, beta_2, epsilon, rho, initial_accumulator, weight_decay;
    int nesterov, centered, amsgrad;
    int clip;
    float clip_value;
    int sched;
    int64_t decay_steps, warmup_steps;
    float decay_rate, alpha, warmup_initial;
    int stepped; /* settings are frozen from the first step on */
    int skip_nonfinite;

    /* after attach */
    clg_context *ctx;
    int nparams;
    clg_tensor **params;        /* retained */
    clg_tensor **slots[ROLES];  /* per parameter, or NULL for an unused role */
    clg_tensor *iterations;     /* int32, rank 0 */
    clg_tensor *learning_rate;  /* float32, rank 0 */
    clg_tensor *norms;          /* float32 [nparams + 1]: sums of squares, global scale */
    clg_tensor *coef;           /* float32 [2]: the step's rate and Adam's corrected rate */
    clg_tensor *nf_flags;       /* int32 [nparams]: the step's gradient held a NaN or infinity */
    clg_tensor *nf_status;      /* int32 [3]: step goes ahead, steps skipped, last bad parameter */
    int nstate;
    clg_tensor **state;         /* borrowed, checkpoint order */
    char **state_names;
};

/* --- small helpers -------------------------------------------------------------------- */

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

static int same_name_ci(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

/* v in [lo, hi] (hi excluded when hi_open); NaN never is. */
static clg_status check_range(const char *api, const char *what, float v, double lo, double hi,
                              int hi_open) {
    int ok = (double)v >= lo && (hi_open ? (double)v < hi : (double)v <= hi);
    if (ok) return CLG_OK;
    return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %g must be in [%g, %g%s", api, what, (double)v,
                    lo, hi, hi_open ? ")" : "]");
}

/* Finite and >= 0. */
static clg_status check_nonneg(const char *api, const char *what, float v) {
    if (v >= 0.0f && isfinite(v)) return CLG_OK;
    return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %g must be finite and >= 0", api, what,
                    (double)v);
}

static clg_status check_settable(const clg_optimizer *o, const char *api) {
    if (!o) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: optimizer is NULL", api);
    if (o->stepped)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: %s optimizer has already taken a step; settings are fixed from the first "
                        "step on (a captured step keeps the values it was recorded with)",
                        api, algos[o->algo].name);
    return CLG_OK;
}

/* --- creation ------------------------------------------------------------------------- */

static clg_optimizer *new_opt(algo a, float lr, const char *api) {
    if (check_nonneg(api, "learning_rate", lr) != CLG_OK) return NULL;
    clg_optimizer *o = calloc(1, sizeof *o);
    if (!o) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
        return NULL;
    }
    o->algo = a;
    o->lr = lr;
    return o;
}

clg_optimizer *clg_optimizer_sgd(float learning_rate, float momentum, int nesterov) {
    const char *api = "clg_optimizer_sgd";
    if (check_range(api, "momentum", momentum, 0, 1, 0) != CLG_OK) return NULL;
    clg_optimizer *o = new_opt(ALGO_SGD, learning_rate, api);
    if (!o) return NULL;
    o->momentum = momentum;
    o->nesterov = nesterov != 0;
    return o;
}

static clg_status check_adam(const char *api, float b1, float b2, float eps) {
    clg_status st = check_range(api, "beta_1", b1, 0, 1, 1);
    if (st == CLG_OK) st = check_range(api, "beta_2", b2, 0, 1, 1);
    if (st == CLG_OK) st = check_nonneg(api, "epsilon", eps);
    return st;
}

clg_optimizer *clg_optimizer_adam(float learning_rate, float beta_1, float beta_2, float epsilon) {
    const char *api = "clg_optimizer_adam";
    if (check_adam(api, beta_1, beta_2, epsilon) != CLG_OK) return NULL;
    clg_optimizer *o = new_opt(ALGO_ADAM, learning_rate, api);
    if (!o) return NULL;
    o->beta_1 = beta_1, o->beta_2 = beta_2, o->epsilon = epsilon;
    return o;
}

clg_optimizer *clg_optimizer_adamw(float learning_rate, float weight_decay, float beta_1, float beta_2,
                                   float epsilon) {
    const char *api = "clg_optimizer_adamw";
    if (check_adam(api, beta_1, beta_2, epsilon) != CLG_OK) return NULL;
    if (check_nonneg(api, "weight_decay", weight_decay) != CLG_OK) return NULL;
    clg_optimizer *o = new_opt(ALGO_ADAMW, learning_rate, api);
    if (!o) return NULL;
    o->beta_1 = beta_1, o->beta_2 = beta_2, o->epsilon = epsilon, o->weight_decay = weight_decay;
    return o;
}

clg_optimizer *clg_optimizer_rmsprop(float learning_rate, float rho, float momentum, float epsilon,
                                     int centered) {
    const char *api = "clg_optimizer_rmsprop";
    if (check_range(api, "rho", rho, 0, 1, 0) != CLG_OK ||
        check_range(api, "momentum", momentum, 0, 1, 0) != CLG_OK ||
        check_nonneg(api, "epsilon", epsilon) != CLG_OK)
        return NULL;
    clg_optimizer *o = new_opt(ALGO_RMSPROP, learning_rate, api);
    if (!o) return NULL;
    o->rho = rho, o->momentum = momentum, o->epsilon = epsilon, o->centered = centered != 0;
    return o;
}

clg_optimizer *clg_optimizer_adagrad(float learning_rate, float initial_accumulator_value,
                                     float epsilon) {
    const char *api = "clg_optimizer_adagrad";
    if (check_nonneg(api, "initial_accumulator_value", initial_accumulator_value) != CLG_OK ||
        check_nonneg(api, "epsilon", epsilon) != CLG_OK)
        return NULL;
    clg_optimizer *o = new_opt(ALGO_ADAGRAD, learning_rate, api);
    if (!o) return NULL;
    o->initial_accumulator = initial_accumulator_value, o->epsilon = epsilon;
    return o;
}

clg_optimizer *clg_optimizer_from_name(const char *name) {
    const char *api = "clg_optimizer_from_name";
    if (!name) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: name is NULL", api);
        return NULL;
    }
    /* Keras's defaults. */
    if (same_name_ci(name, "sgd")) return clg_optimizer_sgd(0.01f, 0.0f, 0);
    if (same_name_ci(name, "adam")) return clg_optimizer_adam(0.001f, 0.9f, 0.999f, 1e-7f);
    if (same_name_ci(name, "adamw")) return clg_optimizer_adamw(0.001f, 0.004f, 0.9f, 0.999f, 1e-7f);
    if (same_name_ci(name, "rmsprop")) return clg_optimizer_rmsprop(0.001f, 0.9f, 0.0f, 1e-7f, 0);
    if (same_name_ci(name, "adagrad")) return clg_optimizer_adagrad(0.001f, 0.1f, 1e-7f);
    clg_fail(CLG_STATUS_INVALID_ARGUMENT,
             "%s: unknown optimizer \"%s\" (sgd, adam, adamw, rmsprop, adagrad)", api, name);
    return NULL;
}

static void detach(clg_optimizer *o) {
    for (int r = 0; r < ROLES; r++) {
        if (o->slots[r])
            for (int i = 0; i < o->nparams; i++) clg_tensor_free(o->slots[r][i]);
        free(o->slots[r]);
        o->slots[r] = NULL;
    }
    if (o->params)
        for (int i = 0; i < o->nparams; i++) clg_tensor_free(o->params[i]);
    free(o->params);
    o->params = NULL;
    if (o->state_names)
        for (int i = 0; i < o->nstate; i++) free(o->state_names[i]);
    free(o->state_names);
    free(o->state);
    o->state_names = NULL, o->state = NULL, o->nstate = 0;
    clg_tensor_free(o->iterations);
    clg_tensor_free(o->learning_rate);
    clg_tensor_free(o->norms);
    clg_tensor_free(o->coef);
    clg_tensor_free(o->nf_flags);
    clg_tensor_free(o->nf_status);
    o->iterations = o->learning_rate = o->norms = o->coef = o->nf_flags = o->nf_status = NULL;
    o->nparams = 0;
    o->ctx = NULL;
}

void clg_optimizer_free(clg_optimizer *o) {
    if (!o) return;
    detach(o);
    free(o);
}

/* --- settings ------------------------------------------------------------------------- */

clg_status clg_optimizer_set_weight_decay(clg_optimizer *o, float weight_decay) {
    const char *api = "clg_optimizer_set_weight_decay";
    clg_status st = check_settable(o, api);
    if (st == CLG_OK) st = check_nonneg(api, "weight_decay", weight_decay);
    if (st == CLG_OK) o->weight_decay = weight_decay;
    return st;
}

clg_status clg_optimizer_set_amsgrad(clg_optimizer *o, int amsgrad) {
    const char *api = "clg_optimizer_set_amsgrad";
    clg_status st = check_settable(o, api);
    if (st != CLG_OK) return st;
    if (o->algo != ALGO_ADAM && o->algo != ALGO_ADAMW)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: amsgrad is an Adam / AdamW option, not %s's",
                        api, algos[o->algo].name);
    if (o->ctx)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: set amsgrad before clg_optimizer_attach (it adds state tensors)", api);
    o->amsgrad = amsgrad != 0;
    return CLG_OK;
}

clg_status clg_optimizer_set_skip_nonfinite(clg_optimizer *o, int skip) {
    clg_status st = check_settable(o, "clg_optimizer_set_skip_nonfinite");
    if (st == CLG_OK) o->skip_nonfinite = skip != 0;
    return st;
}

clg_status clg_optimizer_skipped_steps(const clg_optimizer *o, int64_t *skipped, int *last_param) {
    const char *api = "clg_optimizer_skipped_steps";
    if (!o) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: optimizer is NULL", api);
    int32_t v[3] = {1, 0, -1};
    if (o->ctx && o->skip_nonfinite) { /* without the setting the counts stay at their start */
        clg_status st = clg_tensor_to_host(o->nf_status, v, sizeof v);
        if (st != CLG_OK) return clg_fail_wrap(st, "%s", api);
    }
    if (skipped) *skipped = v[1];
    if (last_param) *last_param = v[2];
    return CLG_OK;
}

static const char *clip_names[] = {"", "clipvalue", "clipnorm", "global_clipnorm"};

static clg_status set_clip(clg_optimizer *o, int kind, float c, const char *api) {
    clg_status st = check_settable(o, api);
    if (st != CLG_OK) return st;
    if (!(c >= 0.0f) || !isfinite(c))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %g must be finite and > 0 (0 turns it off)",
                        api, clip_names[kind], (double)c);
    if (c == 0.0f) {
        if (o->clip == kind) o->clip = CLIP_NONE, o->clip_value = 0.0f;
        return CLG_OK;
    }
    if (o->clip != CLIP_NONE && o->clip != kind)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: %s is already set (%g); only one of clipnorm, clipvalue and global_clipnorm "
                        "can be set, as in Keras (set it to 0 first)",
                        api, clip_names[o->clip], (double)o->clip_value);
    o->clip = kind, o->clip_value = c;
    return CLG_OK;
}

clg_status clg_optimizer_set_clipnorm(clg_optimizer *o, float clipnorm) {
    return set_clip(o, CLIP_NORM, clipnorm, "clg_optimizer_set_clipnorm");
}
clg_status clg_optimizer_set_global_clipnorm(clg_optimizer *o, float global_clipnorm) {
    return set_clip(o, CLIP_GLOBAL, global_clipnorm, "clg_optimizer_set_global_clipnorm");
}
clg_status clg_optimizer_set_clipvalue(clg_optimizer *o, float clipvalue) {
    return set_clip(o, CLIP_VALUE, clipvalue, "clg_optimizer_set_clipvalue");
}

static clg_status check_steps(const char *api, const char *what, int64_t n, int allow_zero) {
    /* The step count is int32 on the device. */
    if ((n > 0 || (allow_zero && n == 0)) && n <= INT32_MAX) return CLG_OK;
    return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %lld must be %s and below 2^31", api, what,
                    (long long)n, allow_zero ? ">= 0" : "> 0");
}

clg_status clg_optimizer_set_schedule_exponential(clg_optimizer *o, int64_t decay_steps, float decay_rate,
                                                  int staircase) {
    const char *api = "clg_optimizer_set_schedule_exponential";
    clg_status st = check_settable(o, api);
    if (st == CLG_OK) st = check_steps(api, "decay_steps", decay_steps, 0);
    if (st == CLG_OK) st = check_nonneg(api, "decay_rate", decay_rate);
    if (st != CLG_OK) return st;
    o->sched = staircase ? SCHED_EXP_STAIR : SCHED_EXP;
    o->decay_steps = decay_steps, o->decay_rate = decay_rate;
    o->alpha = 0.0f, o->warmup_steps = 0, o->warmup_initial = 0.0f;
    return CLG_OK;
}

clg_status clg_optimizer_set_schedule_step(clg_optimizer *o, int64_t step_size, float gamma) {
    const char *api = "clg_optimizer_set_schedule_step";
    clg_status st = check_settable(o, api);
    if (st == CLG_OK) st = check_steps(api, "step_size", step_size, 0);
    if (st == CLG_OK) st = check_nonneg(api, "gamma", gamma);
    if (st != CLG_OK) return st;
    /* Keras has no step decay of its own: it is ExponentialDecay with staircase. */
    return clg_optimizer_set_schedule_exponential(o, step_size, gamma, 1);
}

clg_status clg_optimizer_set_schedule_cosine(clg_optimizer *o, int64_t decay_steps, float alpha,
                                             int64_t warmup_steps, float warmup_initial) {
    const char *api = "clg_optimizer_set_schedule_cosine";
    clg_status st = check_settable(o, api);
    if (st == CLG_OK) st = check_steps(api, "decay_steps", decay_steps, 0);
    if (st == CLG_OK) st = check_steps(api, "warmup_steps", warmup_steps, 1);
    if (st == CLG_OK && !isfinite(alpha))
        st = clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: alpha %g must be finite", api, (double)alpha);
    if (st == CLG_OK) st = check_nonneg(api, "warmup_initial", warmup_initial);
    if (st != CLG_OK) return st;
    o->sched = SCHED_COSINE;
    o->decay_steps = decay_steps, o->alpha = alpha;
    o->warmup_steps = warmup_steps, o->warmup_initial = warmup_initial;
    o->decay_rate = 0.0f;
    return CLG_OK;
}

clg_status clg_optimizer_clear_schedule(clg_optimizer *o) {
    clg_status st = check_settable(o, "clg_optimizer_clear_schedule");
    if (st == CLG_OK) o->sched = SCHED_NONE;
    return st;
}

/* --- attach ----------------------------------------------------------------------------- */

/* Slot names by kernel role (s0, s1, s2), in Keras's creation order; NULL where
 * the role is unused with these settings. */
static void slot_roles(const clg_optimizer *o, const char *names[ROLES], float init[ROLES]) {
    for (int r = 0; r < ROLES; r++) names[r] = NULL, init[r] = 0.0f;
    switch (o->algo) {
    case ALGO_SGD:
        if (o->momentum != 0.0f) names[0] = "momentum";
        break;
    case ALGO_ADAM:
    case ALGO_ADAMW:
        names[0] = "momentum", names[1] = "velocity";
        if (o->amsgrad) names[2] = "velocity_hat";
        break;
    case ALGO_RMSPROP:
        names[0] = "velocity";
        if (o->momentum > 0.0f) names[1] = "momentum";
        if (o->centered) names[2] = "average_gradient";
        break;
    default: /* Adagrad */
        names[0] = "accumulator", init[0] = o->initial_accumulator;
        break;
    }
}

static clg_status check_param(const char *api, const clg_context *ctx, clg_tensor *const *params, int i) {
    const clg_tensor *p = params[i];
    if (!p) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: parameter %d is NULL", api, i);
    char d[220];
    clg_tensor_describe(p, d, sizeof d);
    if (p->ctx != ctx)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: parameter %d (%s) belongs to another context",
                        api, i, d);
    if (p->dtype != CLG_FLOAT32)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: parameter %d (%s) is %s; optimizers update float32 tensors", api, i, d,
                        clg_dtype_name(p->dtype));
    if (!clg_tensor_is_contiguous(p))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: parameter %d (%s) is a non-contiguous view; it is updated in place", api, i, d);
    if (!p->requires_grad)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: parameter %d (%s) does not require a gradient (clg_tensor_set_requires_grad)",
                        api, i, d);
    for (int j = 0; j < i; j++)
        if (params[j] == p)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: parameter %d (%s) is also parameter %d", api,
                            i, d, j);
    return CLG_OK;
}

/* The name parameter i goes by in state names. */
static void param_label(const clg_tensor *p, int i, char *buf, size_t cap) {
    const char *n = clg_tensor_name(p);
    if (n[0]) snprintf(buf, cap, "%s", n);
    else snprintf(buf, cap, "param%d", i);
}

static clg_status add_state(clg_optimizer *o, clg_tensor *t, const char *name, const char *api) {
    char *c = copy_string(name);
    if (!c) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    o->state[o->nstate] = t;
    o->state_names[o->nstate++] = c;
    return clg_tensor_set_name(t, name);
}

static clg_status build_state(clg_optimizer *o, const char *api) {
    clg_context *ctx = o->ctx;
    const char *names[ROLES];
    float init[ROLES];
    slot_roles(o, names, init);
    int nslots = 0;
    for (int r = 0; r < ROLES; r++) nslots += names[r] != NULL;
    int total = 2 + nslots * o->nparams;
    o->state = calloc((size_t)total, sizeof *o->state);
    o->state_names = calloc((size_t)total, sizeof *o->state_names);
    if (!o->state || !o->state_names)
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);

    o->iterations = clg_tensor_zeros(ctx, CLG_INT32, 0, NULL);
    o->learning_rate = clg_tensor_full(ctx, CLG_FLOAT32, 0, NULL, (double)o->lr);
    o->norms = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){(int64_t)o->nparams + 1});
    o->coef = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){2});
    o->nf_flags = clg_tensor_zeros(ctx, CLG_INT32, 1, (int64_t[]){(int64_t)o->nparams});
    o->nf_status = clg_tensor_from_host(ctx, CLG_INT32, 1, (int64_t[]){3}, (int32_t[]){1, 0, -1});
    if (!o->iterations || !o->learning_rate || !o->norms || !o->coef || !o->nf_flags || !o->nf_status)
        return clg_last_status();
    clg_status st = add_state(o, o->iterations, "optimizer.iterations", api);
    if (st == CLG_OK) st = add_state(o, o->learning_rate, "optimizer.learning_rate", api);

    char label[160], name[256];
    for (int r = 0; st == CLG_OK && r < ROLES; r++) {
        if (!names[r]) continue;
        o->slots[r] = calloc((size_t)o->nparams, sizeof *o->slots[r]);
        if (!o->slots[r]) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
        for (int i = 0; st == CLG_OK && i < o->nparams; i++) {
            const clg_tensor *p = o->params[i];
            clg_tensor *s = clg_tensor_full(ctx, CLG_FLOAT32, p->ndim, p->shape, (double)init[r]);
            if (!s) return clg_last_status();
            o->slots[r][i] = s;
            param_label(p, i, label, sizeof label);
            snprintf(name, sizeof name, "optimizer.%s.%s", names[r], label);
            st = add_state(o, s, name, api);
        }
    }
    return st;
}

clg_status clg_optimizer_attach(clg_optimizer *o, clg_context *ctx, int nparams, clg_tensor *const *params) {
    const char *api = "clg_optimizer_attach";
    if (!o) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: optimizer is NULL", api);
    if (!ctx) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: context is NULL", api);
    if (o->ctx)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: this %s optimizer is already attached to %d parameters (once per optimizer)",
                        api, algos[o->algo].name, o->nparams);
    if (nparams <= 0 || !params)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: no parameters (%d given%s)", api, nparams,
                        params ? "" : ", array NULL");
    if (clg_capturing(ctx))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: called during a step capture (the initial state would be rewritten by every "
                        "replay); attach before capturing",
                        api);
    for (int i = 0; i < nparams; i++) {
        clg_status st = check_param(api, ctx, params, i);
        if (st != CLG_OK) return st;
    }
    /* State names must be unique to be saved and found again. */
    char a[160], b[160];
    for (int i = 0; i < nparams; i++) {
        param_label(params[i], i, a, sizeof a);
        for (int j = 0; j < i; j++) {
            param_label(params[j], j, b, sizeof b);
            if (!strcmp(a, b))
                return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                                "%s: parameters %d and %d are both named '%s'; state tensors are named after "
                                "their parameters, so names must differ",
                                api, j, i, a);
        }
    }
    o->params = calloc((size_t)nparams, sizeof *o->params);
    if (!o->params) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    o->ctx = ctx;
    o->nparams = nparams;
    for (int i = 0; i < nparams; i++) o->params[i] = clg_tensor_retain(params[i]);
    clg_status st = build_state(o, api);
    if (st != CLG_OK) {
        detach(o);
        return clg_fail_wrap(st, "%s", api);
    }
    return CLG_OK;
}

/* --- the step ---------------------------------------------------------------------------- */

/* The kernels' constants: the schedule's sp, the optimizer's hp and its FLAG_ bits. */
static void kernel_constants(const clg_optimizer *o, cl_float4 *sp_out, cl_float4 *hp_out, cl_int *flags_out) {
    cl_int flags = 0;
    cl_float4 sp, hp;
    memset(&sp, 0, sizeof sp);
    memset(&hp, 0, sizeof hp);
    sp.s[0] = (float)o->decay_steps;
    sp.s[1] = o->sched == SCHED_COSINE ? o->alpha : o->decay_rate;
    sp.s[2] = (float)o->warmup_steps;
    sp.s[3] = o->warmup_initial;
    switch (o->algo) {
    case ALGO_SGD:
        hp.s[0] = o->momentum;
        if (o->momentum != 0.0f) flags |= FLAG_MOMENTUM;
        if (o->nesterov) flags |= FLAG_NESTEROV;
        break;
    case ALGO_ADAM:
    case ALGO_ADAMW:
        hp.s[0] = o->beta_1, hp.s[1] = o->beta_2, hp.s[2] = o->epsilon;
        if (o->amsgrad) flags |= FLAG_AMSGRAD;
        break;
    case ALGO_RMSPROP:
        hp.s[0] = o->rho, hp.s[1] = o->momentum, hp.s[2] = o->epsilon;
        if (o->momentum > 0.0f) flags |= FLAG_MOMENTUM;
        if (o->centered) flags |= FLAG_CENTERED;
        break;
    default:
        hp.s[2] = o->epsilon;
        break;
    }
    *sp_out = sp, *hp_out = hp, *flags_out = flags;
}

static clg_status launch_prepare(clg_optimizer *o, cl_kernel k) {
    cl_int sched = o->sched, flags;
    cl_float4 sp, hp;
    kernel_constants(o, &sp, &hp, &flags);
    clg_arg args[] = {CLG_ARG_BUF(o->learning_rate->buf), CLG_ARG_BUF(o->iterations->buf), CLG_ARG(sched),
                      CLG_ARG(sp), CLG_ARG(hp), CLG_ARG_BUF(o->coef->buf)};
    return clg_launch(o->ctx, k, 1, (int)(sizeof args / sizeof args[0]), args,
                      "clg_optimizer_step: the step's learning rate");
}

/* Parameters per update launch (GROUP in cl/optim.cl): ctx->optim_group, 8 on
 * GPUs, where each launch costs microseconds, and 1 on CPU devices. Picking
 * the parameter inside the kernel keeps PoCL from vectorising it: on a 2-core
 * AVX-512 Xeon the six updates of a 670k-parameter MLP took 2.96 ms as one
 * fused launch against 0.56 ms as six vectorised ones. */
enum { GROUP_MAX = 8, PARAM_ARGS = 9, COMMON_ARGS = 8 };

/* One update launch for the parameters idx[0..m) (m <= group) with gradients
 * grads[idx[j]]; parameter j's norm entry is slot0 + j * slot_step. Each
 * parameter starts at a multiple of the work-group size (cl/optim.cl). */
static clg_status launch_group(clg_optimizer *o, cl_kernel k, int group, const int *idx, int m,
                               const clg_tensor *const *grads, int slot0, int slot_step, const char *what) {
    size_t local = clg_local_1d(o->ctx);
    clg_buffer *dummy = o->norms->buf; /* stands in for unused slots and entries; never written */
    cl_int flags, s0 = slot0, sstep = slot_step;
    cl_float clipv = o->clip_value, wd = o->weight_decay;
    cl_float4 sp, hp;
    kernel_constants(o, &sp, &hp, &flags);
    cl_ulong off[GROUP_MAX][2], n[GROUP_MAX], start[GROUP_MAX];
    clg_buffer *bufs[GROUP_MAX][2 + ROLES];
    clg_arg args[COMMON_ARGS + GROUP_MAX * PARAM_ARGS] = {
        CLG_ARG_BUF(o->coef->buf), CLG_ARG(clipv), CLG_ARG_BUF(o->norms->buf), CLG_ARG(s0), CLG_ARG(sstep),
        CLG_ARG(wd),               CLG_ARG(hp),   CLG_ARG_BUF(o->nf_status->buf)};
    cl_ulong total = 0;
    for (int j = 0; j < group; j++) {
        if (j < m) {
            const clg_tensor *p = o->params[idx[j]], *g = grads[idx[j]];
            bufs[j][0] = p->buf, bufs[j][1] = g->buf;
            for (int r = 0; r < ROLES; r++) bufs[j][2 + r] = o->slots[r] ? o->slots[r][idx[j]]->buf : dummy;
            off[j][0] = (cl_ulong)p->offset, off[j][1] = (cl_ulong)g->offset;
            n[j] = (cl_ulong)clg_tensor_numel(p);
            start[j] = total;
            total += (n[j] + local - 1) / local * local;
        } else {
            for (int r = 0; r < 2 + ROLES; r++) bufs[j][r] = dummy;
            off[j][0] = off[j][1] = n[j] = 0;
            start[j] = CL_ULONG_MAX; /* never picked */
        }
        clg_arg *a = args + COMMON_ARGS + j * PARAM_ARGS;
        a[0] = CLG_ARG_BUF(bufs[j][0]), a[1] = CLG_ARG(off[j][0]);
        a[2] = CLG_ARG_BUF(bufs[j][1]), a[3] = CLG_ARG(off[j][1]);
        a[4] = CLG_ARG(n[j]), a[5] = CLG_ARG(start[j]);
        for (int r = 0; r < ROLES; r++) a[6 + r] = CLG_ARG_BUF(bufs[j][2 + r]);
    }
    return clg_launch_wg(o->ctx, k, (size_t)(total / local), local, COMMON_ARGS + group * PARAM_ARGS, args, what);
}

clg_status clg_optimizer_step(clg_optimizer *o) {
    const char *api = "clg_optimizer_step";
    if (!o) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: optimizer is NULL", api);
    if (!o->ctx)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: the %s optimizer has no parameters; call "
                        "clg_optimizer_attach first", api, algos[o->algo].name);
    clg_context *ctx = o->ctx;
    uint64_t wg = 256;
    while (wg > ctx->limits.max_work_group_size) wg /= 2;
    /* The update kernel is built for this configuration (cl/optim.cl). */
    int group = ctx->optim_group == GROUP_MAX ? GROUP_MAX : 1;
    cl_int flags;
    cl_float4 sp, hp;
    kernel_constants(o, &sp, &hp, &flags);
    char options[32], update_options[96], what[1024];
    snprintf(options, sizeof options, "-DWG=%llu", (unsigned long long)wg);
    snprintf(update_options, sizeof update_options, "%s -DGROUP=%d -DCLIP=%d -DFLAGS=%d -DDECAY=%d -DSKIP=%d",
             options, group, o->clip, (int)flags, o->weight_decay != 0.0f, o->skip_nonfinite);
    cl_kernel k_update, k_prepare, k_increment, k_sumsq = NULL, k_global = NULL;
    clg_status st = clg_kernel_get(ctx, "optim", update_options, algos[o->algo].kernel, &k_update);
    if (st == CLG_OK) st = clg_kernel_get(ctx, "optim", options, "optim_prepare", &k_prepare);
    if (st == CLG_OK) st = clg_kernel_get(ctx, "optim", options, "optim_increment", &k_increment);
    if (st == CLG_OK && (o->clip == CLIP_NORM || o->clip == CLIP_GLOBAL))
        st = clg_kernel_get(ctx, "optim", options, "optim_sumsq", &k_sumsq);
    if (st == CLG_OK && o->clip == CLIP_GLOBAL)
        st = clg_kernel_get(ctx, "optim", options, "optim_global_scale", &k_global);
    cl_kernel k_nonfinite = NULL, k_combine = NULL;
    if (st == CLG_OK && o->skip_nonfinite) st = clg_kernel_get(ctx, "optim", options, "optim_nonfinite", &k_nonfinite);
    if (st == CLG_OK && o->skip_nonfinite)
        st = clg_kernel_get(ctx, "optim", options, "optim_nonfinite_combine", &k_combine);
    /* Pending lazy results may read the parameters and slots about to change. */
    if (st == CLG_OK) st = clg_flush(ctx);
    if (st != CLG_OK) return clg_fail_wrap(st, "%s", api);

    /* The gradients, evaluated and contiguous (a copy only for a strided one). */
    const clg_tensor **grads = calloc((size_t)o->nparams, sizeof *grads);
    clg_tensor **copies = calloc((size_t)o->nparams, sizeof *copies);
    if (!grads || !copies) {
        free(grads), free(copies);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    }
    int any = 0, count = 0;
    char d[220];
    for (int i = 0; st == CLG_OK && i < o->nparams; i++) {
        const clg_tensor *g = clg_tensor_grad(o->params[i]);
        if (!g) continue; /* no gradient reached it: Keras skips it too */
        any = 1;
        if (g->dtype != CLG_FLOAT32 || clg_tensor_numel(g) != clg_tensor_numel(o->params[i])) {
            st = clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: the gradient of parameter %d (%s) is %s %s", api, i,
                          clg_tensor_describe(o->params[i], d, sizeof d), clg_dtype_name(g->dtype),
                          clg_shape_format(g->ndim, g->shape, what, sizeof what));
            break;
        }
        if (clg_tensor_numel(g) == 0) continue;
        st = clg_realize(g);
        if (st == CLG_OK && !clg_tensor_is_contiguous(g)) {
            copies[i] = clg_tensor_contiguous(g);
            if (!copies[i]) st = clg_last_status();
            g = copies[i];
        }
        grads[i] = g;
        count++;
    }
    if (st == CLG_OK && !any)
        st = clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                      "%s: none of the %d parameters has a gradient (run clg_backward first); nothing "
                      "was updated",
                      api, o->nparams);
    if (st == CLG_OK) o->stepped = 1;

    /* Clipping by norm: sums of squares in norms[0..count), the global scale in norms[count]. */
    if (k_sumsq) {
        int k = 0;
        for (int i = 0; st == CLG_OK && i < o->nparams; i++) {
            if (!grads[i]) continue;
            snprintf(what, sizeof what, "%s: gradient norm of parameter %d (%s)", api, i,
                     clg_tensor_describe(o->params[i], d, sizeof d));
            cl_ulong g_off = (cl_ulong)grads[i]->offset, n = (cl_ulong)clg_tensor_numel(grads[i]);
            cl_int slot = k++;
            clg_arg args[] = {CLG_ARG_BUF(grads[i]->buf), CLG_ARG(g_off), CLG_ARG(n),
                              CLG_ARG_BUF(o->norms->buf), CLG_ARG(slot)};
            st = clg_launch_wg(ctx, k_sumsq, 1, (size_t)wg, 5, args, what);
        }
        if (st == CLG_OK && k_global) {
            cl_int c = count;
            cl_float clipv = o->clip_value;
            clg_arg args[] = {CLG_ARG_BUF(o->norms->buf), CLG_ARG(c), CLG_ARG(clipv)};
            st = clg_launch(ctx, k_global, 1, 3, args, "clg_optimizer_step: global gradient norm");
        }
    }
    /* Non-finite gradients: one flag per parameter, then one verdict for the step. */
    for (int i = 0; k_nonfinite && st == CLG_OK && i < o->nparams; i++) {
        if (!grads[i]) continue;
        snprintf(what, sizeof what, "%s: non-finite check of the gradient of parameter %d (%s)", api, i,
                 clg_tensor_describe(o->params[i], d, sizeof d));
        cl_ulong g_off = (cl_ulong)grads[i]->offset, n = (cl_ulong)clg_tensor_numel(grads[i]);
        cl_int slot = i;
        clg_arg args[] = {CLG_ARG_BUF(grads[i]->buf), CLG_ARG(g_off), CLG_ARG(n), CLG_ARG_BUF(o->nf_flags->buf),
                          CLG_ARG(slot)};
        st = clg_launch_wg(ctx, k_nonfinite, 1, (size_t)wg, 5, args, what);
    }
    if (k_combine && st == CLG_OK) {
        cl_int np = o->nparams;
        clg_arg args[] = {CLG_ARG_BUF(o->nf_flags->buf), CLG_ARG(np), CLG_ARG_BUF(o->nf_status->buf)};
        st = clg_launch(ctx, k_combine, 1, 3, args, "clg_optimizer_step: combining the non-finite checks");
    }
    if (st == CLG_OK) st = launch_prepare(o, k_prepare);
    /* The updates, `group` parameters per launch, in order. */
    int idx[GROUP_MAX], m = 0, k = 0;
    for (int i = 0; st == CLG_OK && i < o->nparams; i++) {
        if (grads[i]) idx[m++] = i;
        if (m == group || (m > 0 && i == o->nparams - 1)) {
            int len = snprintf(what, sizeof what, "%s: %s update of parameter%s", api, algos[o->algo].name,
                               m > 1 ? "s" : "");
            for (int j = 0; j < m && len > 0 && (size_t)len < sizeof what; j++)
                len += snprintf(what + len, sizeof what - (size_t)len, "%s %d (%s)", j ? "," : "", idx[j],
                                clg_tensor_describe(o->params[idx[j]], d, sizeof d));
            int global = o->clip == CLIP_GLOBAL;
            st = launch_group(o, k_update, group, idx, m, grads, global ? count : k, global ? 0 : 1, what);
            k += m;
            m = 0;
        }
    }
    if (st == CLG_OK) {
        cl_int skip = o->skip_nonfinite;
        clg_arg args[] = {CLG_ARG_BUF(o->iterations->buf), CLG_ARG_BUF(o->nf_status->buf), CLG_ARG(skip)};
        st = clg_launch(ctx, k_increment, 1, 3, args, "clg_optimizer_step: advancing the step count");
    }
    for (int i = 0; i < o->nparams; i++) clg_tensor_free(copies[i]);
    free(grads), free(copies);
    return st;
}

/* --- learning rate, iterations ---------------------------------------------------------- */

static clg_status read_lr(const clg_optimizer *o, float *lr) {
    if (!o->ctx) {
        *lr = o->lr;
        return CLG_OK;
    }
    return clg_tensor_to_host(o->learning_rate, lr, sizeof *lr);
}

float clg_optimizer_get_learning_rate(const clg_optimizer *o) {
    if (!o) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_optimizer_get_learning_rate: optimizer is NULL");
        return NAN;
    }
    float lr;
    if (read_lr(o, &lr) != CLG_OK) {
        clg_fail_wrap(clg_last_status(), "clg_optimizer_get_learning_rate");
        return NAN;
    }
    return lr;
}

clg_status clg_optimizer_set_learning_rate(clg_optimizer *o, float learning_rate) {
    const char *api = "clg_optimizer_set_learning_rate";
    if (!o) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: optimizer is NULL", api);
    clg_status st = check_nonneg(api, "learning_rate", learning_rate);
    if (st != CLG_OK) return st;
    if (o->ctx && clg_capturing(o->ctx))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: called during a step capture (every replay would write it again); set it "
                        "between replays",
                        api);
    if (o->ctx) st = clg_tensor_write(o->learning_rate, &learning_rate, sizeof learning_rate);
    if (st == CLG_OK) o->lr = learning_rate;
    return st;
}

int64_t clg_optimizer_iterations(const clg_optimizer *o) {
    if (!o) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_optimizer_iterations: optimizer is NULL");
        return -1;
    }
    if (!o->ctx) return 0;
    int32_t it;
    if (clg_tensor_to_host(o->iterations, &it, sizeof it) != CLG_OK) {
        clg_fail_wrap(clg_last_status(), "clg_optimizer_iterations");
        return -1;
    }
    return it;
}

/* OpenCL's M_PI_F (C11 has no M_PI). */
static const float PI_F = 3.14159265358979323846f;

/* The schedule on the host, in float as the kernel (optim_rate) computes it. */
static float host_rate(const clg_optimizer *o, float base, int32_t it) {
    float step = (float)it;
    if (o->sched == SCHED_EXP || o->sched == SCHED_EXP_STAIR) {
        float e = step / (float)o->decay_steps;
        if (o->sched == SCHED_EXP_STAIR) e = floorf(e);
        return base * powf(o->decay_rate, e);
    }
    if (o->sched == SCHED_COSINE) {
        float decay = (float)o->decay_steps, warm = (float)o->warmup_steps;
        float s = fminf(step, decay + warm);
        if (s < warm) return (base - o->warmup_initial) * (s / warm) + o->warmup_initial;
        float cosine = 0.5f * (1.0f + cosf(PI_F * ((s - warm) / decay)));
        return base * ((1.0f - o->alpha) * cosine + o->alpha);
    }
    return base;
}

float clg_optimizer_current_learning_rate(const clg_optimizer *o) {
    if (!o) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_optimizer_current_learning_rate: optimizer is NULL");
        return NAN;
    }
    float lr = clg_optimizer_get_learning_rate(o);
    int64_t it = clg_optimizer_iterations(o);
    if (isnan(lr) || it < 0) return NAN;
    return host_rate(o, lr, (int32_t)it);
}

/* --- state and description ---------------------------------------------------------------- */

int clg_optimizer_state_count(const clg_optimizer *o) { return o ? o->nstate : 0; }

static int check_index(const clg_optimizer *o, int i, const char *api) {
    if (!o) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: optimizer is NULL", api);
        return 0;
    }
    if (i < 0 || i >= o->nstate) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: index %d is outside the %d state tensors%s", api, i,
                 o->nstate, o->ctx ? "" : " (attach the optimizer first)");
        return 0;
    }
    return 1;
}

clg_tensor *clg_optimizer_state_tensor(const clg_optimizer *o, int i) {
    return check_index(o, i, "clg_optimizer_state_tensor") ? o->state[i] : NULL;
}

const char *clg_optimizer_state_name(const clg_optimizer *o, int i) {
    return check_index(o, i, "clg_optimizer_state_name") ? o->state_names[i] : NULL;
}

const char *clg_optimizer_name(const clg_optimizer *o) { return o ? algos[o->algo].name : ""; }

/* JSON text into a fixed buffer; `len` counts what was needed even past cap. */
typedef struct json_out {
    char *buf;
    size_t cap, len;
} json_out;

static void jprintf(json_out *j, const char *fmt, ...) CLG_PRINTF(2, 3);
static void jprintf(json_out *j, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = j->len < j->cap ? j->cap - j->len : 0;
    int n = vsnprintf(room ? j->buf + j->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) j->len += (size_t)n;
}

/* A float as Python prints it: the shortest decimal that reads back as the same
 * float, with ".0" for integers (Keras wants floats to be floats). */
static void jfloat(json_out *j, float v) {
    if (!isfinite(v)) {
        jprintf(j, "%s", isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    char s[48];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, (double)v);
        if (strtof(s, NULL) == v) break;
    }
    jprintf(j, "%s%s", s, strpbrk(s, ".e") ? "" : ".0");
}

static void jkey_float(json_out *j, const char *key, float v) {
    jprintf(j, ", \"%s\": ", key);
    jfloat(j, v);
}

static void jkey_opt_float(json_out *j, const char *key, int set, float v) {
    if (set) jkey_float(j, key, v);
    else jprintf(j, ", \"%s\": null", key);
}

static void jkey_bool(json_out *j, const char *key, int v) {
    jprintf(j, ", \"%s\": %s", key, v ? "true" : "false");
}

static void json_learning_rate(json_out *j, const clg_optimizer *o, float lr) {
    if (o->sched == SCHED_NONE) {
        jfloat(j, lr);
        return;
    }
    jprintf(j, "{\"module\": \"keras.optimizers.schedules\", ");
    if (o->sched == SCHED_COSINE) {
        int warm = o->warmup_steps > 0;
        jprintf(j, "\"class_name\": \"CosineDecay\", \"config\": {\"initial_learning_rate\": ");
        jfloat(j, warm ? o->warmup_initial : lr);
        jprintf(j, ", \"decay_steps\": %lld", (long long)o->decay_steps);
        jkey_float(j, "alpha", o->alpha);
        jprintf(j, ", \"name\": \"CosineDecay\"");
        jkey_opt_float(j, "warmup_target", warm, lr);
        jprintf(j, ", \"warmup_steps\": %lld}", (long long)o->warmup_steps);
    } else {
        jprintf(j, "\"class_name\": \"ExponentialDecay\", \"config\": {\"initial_learning_rate\": ");
        jfloat(j, lr);
        jprintf(j, ", \"decay_steps\": %lld", (long long)o->decay_steps);
        jkey_float(j, "decay_rate", o->decay_rate);
        jkey_bool(j, "staircase", o->sched == SCHED_EXP_STAIR);
        jprintf(j, ", \"name\": \"ExponentialDecay\"}");
    }
    jprintf(j, ", \"registered_name\": null}");
}

clg_status clg_optimizer_config_json(const clg_optimizer *o, char *buf, size_t cap) {
    const char *api = "clg_optimizer_config_json";
    if (!o || (!buf && cap))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", api, o ? "buffer" : "optimizer");
    float lr;
    clg_status st = read_lr(o, &lr);
    if (st != CLG_OK) return clg_fail_wrap(st, "%s", api);
    json_out j = {buf, cap, 0};
    jprintf(&j, "{\"module\": \"keras.optimizers\", \"class_name\": \"%s\", \"config\": {\"name\": \"%s\", "
                "\"learning_rate\": ",
            algos[o->algo].keras_class, algos[o->algo].keras_name);
    json_learning_rate(&j, o, lr);
    /* Keras: weight_decay None unless set (AdamW always has one). */
    jkey_opt_float(&j, "weight_decay", o->algo == ALGO_ADAMW || o->weight_decay != 0.0f, o->weight_decay);
    jkey_opt_float(&j, "clipnorm", o->clip == CLIP_NORM, o->clip_value);
    jkey_opt_float(&j, "global_clipnorm", o->clip == CLIP_GLOBAL, o->clip_value);
    jkey_opt_float(&j, "clipvalue", o->clip == CLIP_VALUE, o->clip_value);
    jprintf(&j, ", \"use_ema\": false, \"ema_momentum\": 0.99, \"ema_overwrite_frequency\": null, "
                "\"loss_scale_factor\": null, \"gradient_accumulation_steps\": null");
    switch (o->algo) {
    case ALGO_SGD:
        jkey_float(&j, "momentum", o->momentum);
        jkey_bool(&j, "nesterov", o->nesterov);
        break;
    case ALGO_ADAM:
    case ALGO_ADAMW:
        jkey_float(&j, "beta_1", o->beta_1);
        jkey_float(&j, "beta_2", o->beta_2);
        jkey_float(&j, "epsilon", o->epsilon);
        jkey_bool(&j, "amsgrad", o->amsgrad);
        break;
    case ALGO_RMSPROP:
        jkey_float(&j, "rho", o->rho);
        jkey_float(&j, "momentum", o->momentum);
        jkey_float(&j, "epsilon", o->epsilon);
        jkey_bool(&j, "centered", o->centered);
        break;
    default:
        jkey_float(&j, "initial_accumulator_value", o->initial_accumulator);
        jkey_float(&j, "epsilon", o->epsilon);
        break;
    }
    jprintf(&j, "}, \"registered_name\": null}");
    if (j.len >= cap)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: the %s configuration needs %zu bytes, buffer has %zu", api,
                        algos[o->algo].name, j.len + 1, cap);
    return CLG_OK;
}
