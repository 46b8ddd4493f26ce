/* CartPole-v1 on the host, n environments at once (include/clgrad/rl.h). The
 * state is kept in double, as Gym keeps it, and handed out as float32. */
#include "clgrad/rl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

enum { MAX_ENVS = 1 << 20 };

static const double GRAVITY = 9.8, MASS_CART = 1.0, MASS_POLE = 0.1, HALF_LENGTH = 0.5, FORCE = 10.0, TAU = 0.02;

typedef struct env_state {
    double s[4]; /* x, x_dot, theta, theta_dot */
    int steps;
    uint64_t rng; /* splitmix64 state */
} env_state;

struct clg_cartpole {
    int n, ready;
    env_state *e;
};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi) from 53 random bits */
static double uniform(uint64_t *x, double lo, double hi) {
    return lo + (hi - lo) * (double)(splitmix64(x) >> 11) * (1.0 / 9007199254740992.0);
}

static void start(env_state *e) {
    for (int k = 0; k < 4; k++) e->s[k] = uniform(&e->rng, -0.05, 0.05);
    e->steps = 0;
}

static void observe(const env_state *e, float *obs) {
    for (int k = 0; k < 4; k++) obs[k] = (float)e->s[k];
}

clg_cartpole *clg_cartpole_new(int n, uint64_t seed) {
    if (n < 1 || n > MAX_ENVS) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_cartpole_new: n %d must be in [1, %d]", n, MAX_ENVS);
        return NULL;
    }
    clg_cartpole *env = calloc(1, sizeof *env);
    if (env) env->e = calloc((size_t)n, sizeof *env->e);
    if (!env || !env->e) {
        free(env);
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_cartpole_new: out of host memory for %d environments", n);
        return NULL;
    }
    env->n = n;
    clg_cartpole_seed(env, seed);
    return env;
}

void clg_cartpole_free(clg_cartpole *env) {
    if (!env) return;
    free(env->e);
    free(env);
}

int clg_cartpole_count(const clg_cartpole *env) { return env ? env->n : 0; }

clg_status clg_cartpole_seed(clg_cartpole *env, uint64_t seed) {
    if (!env) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_cartpole_seed: env is NULL");
    for (int i = 0; i < env->n; i++) {
        uint64_t x = seed ^ 0x5851f42d4c957f2dull;
        uint64_t a = splitmix64(&x); /* decorrelate neighbouring seeds and indices */
        x = a + (uint64_t)i * 0xd1342543de82ef95ull;
        env->e[i].rng = splitmix64(&x);
    }
    return CLG_OK;
}

clg_status clg_cartpole_reset(clg_cartpole *env, float *obs) {
    if (!env) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_cartpole_reset: env is NULL");
    for (int i = 0; i < env->n; i++) {
        start(&env->e[i]);
        if (obs) observe(&env->e[i], obs + 4 * i);
    }
    env->ready = 1;
    return CLG_OK;
}

/* One explicit Euler step of the cart-pole equations (Florian's corrected
 * form, as Gym: the pole's angular acceleration first, then the cart's). */
static void advance(double *s, int action) {
    const double total = MASS_CART + MASS_POLE, pml = MASS_POLE * HALF_LENGTH;
    const double force = action ? FORCE : -FORCE;
    const double c = cos(s[2]), sn = sin(s[2]);
    const double temp = (force + pml * s[3] * s[3] * sn) / total;
    const double theta_acc = (GRAVITY * sn - c * temp) / (HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * c * c / total));
    const double x_acc = temp - pml * theta_acc * c / total;
    s[0] += TAU * s[1];
    s[1] += TAU * x_acc;
    s[2] += TAU * s[3];
    s[3] += TAU * theta_acc;
}

clg_status clg_cartpole_step(clg_cartpole *env, const int32_t *actions, float *obs, float *rewards,
                             uint8_t *terminated, uint8_t *truncated, float *final_obs) {
    const char *api = "clg_cartpole_step";
    if (!env || !actions || !obs || !rewards || !terminated || !truncated)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", api,
                        !env ? "env" : !actions ? "actions" : !obs ? "obs" : !rewards ? "rewards"
                        : !terminated ? "terminated" : "truncated");
    if (!env->ready) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: call clg_cartpole_reset first", api);
    for (int i = 0; i < env->n; i++)
        if (actions[i] != 0 && actions[i] != 1)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: action %d of environment %d must be 0 or 1", api,
                            (int)actions[i], i);
    for (int i = 0; i < env->n; i++) {
        env_state *e = &env->e[i];
        advance(e->s, actions[i]);
        e->steps++;
        const int fail = e->s[0] < -CLG_CARTPOLE_X_LIMIT || e->s[0] > CLG_CARTPOLE_X_LIMIT ||
                         e->s[2] < -CLG_CARTPOLE_THETA_LIMIT || e->s[2] > CLG_CARTPOLE_THETA_LIMIT;
        rewards[i] = 1.0f;
        terminated[i] = (uint8_t)fail;
        truncated[i] = (uint8_t)(!fail && e->steps >= CLG_CARTPOLE_MAX_STEPS);
        if (final_obs) observe(e, final_obs + 4 * i);
        if (terminated[i] || truncated[i]) start(e);
        observe(e, obs + 4 * i);
    }
    return CLG_OK;
}

clg_status clg_cartpole_get_state(const clg_cartpole *env, int i, double state[4], int *steps) {
    if (!env || !state || i < 0 || i >= env->n)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_cartpole_get_state: %s", !env ? "env is NULL"
                        : !state ? "state is NULL" : "environment index out of range");
    memcpy(state, env->e[i].s, sizeof env->e[i].s);
    if (steps) *steps = env->e[i].steps;
    return CLG_OK;
}

clg_status clg_cartpole_set_state(clg_cartpole *env, int i, const double state[4], int steps) {
    const char *api = "clg_cartpole_set_state";
    if (!env || !state) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", api, !env ? "env" : "state");
    if (i < 0 || i >= env->n)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: environment %d is outside [0, %d)", api, i, env->n);
    if (steps < 0 || steps >= CLG_CARTPOLE_MAX_STEPS)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: steps %d must be in [0, %d)", api, steps,
                        CLG_CARTPOLE_MAX_STEPS);
    for (int k = 0; k < 4; k++)
        if (!isfinite(state[k]))
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: state[%d] of environment %d is not finite", api, k, i);
    memcpy(env->e[i].s, state, sizeof env->e[i].s);
    env->e[i].steps = steps;
    return CLG_OK;
}
