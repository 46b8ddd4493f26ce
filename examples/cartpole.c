/* Reinforcement learning on CartPole (include/clgrad/rl.h: Gym's CartPole-v1)
 * with two algorithms, the networks on the device, written with the public API
 * only: models called in a custom loop (clg_model_call), losses built from
 * operations, clg_backward and an optimizer per network.
 *
 * A2C (advantage actor-critic, synchronous): 16 environments, rollouts of 16
 * steps (256 transitions per update), a policy network 4-64-64-2 (tanh) and a
 * value network 4-64-64-1 (tanh), generalised advantage estimation (gamma
 * 0.99, lambda 0.95) with advantages normalised per rollout, the policy loss
 * -A log pi(a|s) (clg_softmax_cross_entropy_onehot with targets A onehot(a)),
 * an entropy bonus 0.01, the value loss MSE to the returns, Adam 1e-3 for both
 * with the gradients' global norm clipped at 0.5.
 *
 * DQN (double DQN, with a replay buffer and a target network): 4 environments,
 * a Q network 4-128-128-2 (relu), a replay buffer of 50,000 transitions,
 * batches of 64 from the 1,000th transition on, one update per 4 transitions,
 * the target network copied every 1,000 transitions, epsilon-greedy from 1 to
 * 0.05 over the first 20,000 transitions, Huber loss on Q(s, a) against
 * r + gamma Q_target(s', argmax_a Q(s', a)), Adam 5e-4.
 *
 * Truncation is not failure: an episode cut at 500 steps bootstraps from the
 * value of its last state (both algorithms use the environments' final
 * observations for it); only failures end the return.
 *
 * Solved: the frozen greedy policy (argmax of the logits or of Q) averages at
 * least 475 over 100 fresh evaluation episodes (their own seed). The greedy
 * policy is evaluated every 5,000 transitions; a seed
 * stops when it is solved or after --max-steps transitions (A2C 500,000, DQN
 * 150,000 by default). Reported per seed: solved or not, the transitions,
 * training episodes and wall time it took, and the evaluation's mean return.
 * The return curves (mean return of the last 20 training episodes against
 * transitions, one line per seed, the 475 threshold dashed) go to
 * cartpole_a2c.png and cartpole_dqn.png (--plot PREFIX changes the prefix).
 *
 * Default: both algorithms on seeds 0-4. --algo a2c|dqn picks one, --seeds N
 * runs seeds 0..N-1, --seed S runs seed S alone. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clgrad/clgrad.h>

#include "cli.h"
#include "plot.h"

static const char *prog = "cartpole";

enum { OBS = 4, ACTIONS = 2, EVAL_EPISODES = 100, CURVE_WINDOW = 20 };
static const double GAMMA = 0.99, SOLVED = 475.0;

typedef struct options {
    int a2c, dqn, first_seed, nseeds, quiet;
    int64_t max_steps; /* 0: each algorithm's default */
    const char *plot;
} options;

/* --- small helpers ----------------------------------------------------------------------- */

/* uniform in [0, 1) */
static double rng_uniform(uint64_t *x) { return (double)(cli_rng_next(x) >> 11) * (1.0 / 9007199254740992.0); }

/* A fully connected network (Sequential) with its optimizer. */
typedef struct net {
    clg_model *m;
    clg_optimizer *opt;
    clg_tensor *params[8];
    int nparams;
} net;

static int net_init(net *n, clg_context *ctx, int hidden, int out, clg_activation act, uint64_t seed,
                    clg_optimizer *opt) {
    memset(n, 0, sizeof *n);
    n->m = clg_sequential_new(ctx, 1, (int64_t[]){OBS});
    n->opt = opt;
    if (!n->m || !opt || clg_model_add(n->m, clg_layer_dense(hidden, act)) != CLG_OK ||
        clg_model_add(n->m, clg_layer_dense(hidden, act)) != CLG_OK ||
        clg_model_add(n->m, clg_layer_dense(out, CLG_ACT_LINEAR)) != CLG_OK || clg_model_set_seed(n->m, seed) != CLG_OK)
        return 0;
    /* the weights are made at the first call */
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){1, OBS}), *y = NULL;
    int ok = x && clg_model_call(n->m, (const clg_tensor *[]){x}, 0, &y) == CLG_OK;
    clg_tensor_free(x), clg_tensor_free(y);
    n->nparams = ok ? clg_model_weight_count(n->m, 1) : 0;
    for (int i = 0; i < n->nparams; i++) n->params[i] = clg_model_weight(n->m, 1, i);
    return ok && clg_optimizer_set_global_clipnorm(opt, 0.5f) == CLG_OK &&
           clg_optimizer_attach(opt, ctx, n->nparams, n->params) == CLG_OK;
}

static void net_free(net *n) {
    clg_model_free(n->m);
    clg_optimizer_free(n->opt);
}

/* The network's outputs for rows host inputs [rows, OBS], without a graph, to host. */
static int net_eval(net *n, const float *in, int64_t rows, float *out, int outs) {
    clg_host_array x = {.data = in, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {rows, OBS}};
    return clg_model_predict(n->m, &x, (int)rows, out, (size_t)(rows * outs)) == CLG_OK;
}

/* loss -> gradients -> one update of n (gradients zeroed first). Consumes loss. */
static int net_update(net *n, clg_tensor *loss) {
    int ok = loss && clg_backward(loss, NULL) == CLG_OK && clg_optimizer_step(n->opt) == CLG_OK;
    clg_tensor_free(loss);
    return ok;
}

static void zero_grads(net *n) {
    for (int i = 0; i < n->nparams; i++) clg_tensor_zero_grad(n->params[i]);
}

static int argmax2(const float *v) { return v[1] > v[0]; }

/* Mean return of the greedy policy over EVAL_EPISODES episodes, one per
 * environment, from seed; -1 on failure. */
static double greedy_return(net *n, uint64_t seed) {
    clg_cartpole *env = clg_cartpole_new(EVAL_EPISODES, seed);
    float obs[EVAL_EPISODES * OBS], out[EVAL_EPISODES * ACTIONS], rew[EVAL_EPISODES];
    uint8_t term[EVAL_EPISODES], trunc[EVAL_EPISODES], done[EVAL_EPISODES] = {0};
    int32_t act[EVAL_EPISODES];
    double total = 0;
    int left = EVAL_EPISODES, ok = env && clg_cartpole_reset(env, obs) == CLG_OK;
    while (ok && left > 0) {
        ok = net_eval(n, obs, EVAL_EPISODES, out, ACTIONS);
        for (int i = 0; ok && i < EVAL_EPISODES; i++) act[i] = argmax2(out + i * ACTIONS);
        ok = ok && clg_cartpole_step(env, act, obs, rew, term, trunc, NULL) == CLG_OK;
        for (int i = 0; ok && i < EVAL_EPISODES; i++) {
            if (done[i]) continue;
            total += rew[i];
            if (term[i] || trunc[i]) done[i] = 1, left--;
        }
    }
    clg_cartpole_free(env);
    return ok ? total / EVAL_EPISODES : -1;
}

/* Training episodes' returns, for the curve and the counts. */
typedef struct curve {
    double *x, *y; /* transitions, mean of the last CURVE_WINDOW returns */
    size_t n, cap;
    double window[CURVE_WINDOW];
    int64_t episodes;
} curve;

static int curve_add(curve *c, int64_t transitions, double ret) {
    c->window[c->episodes % CURVE_WINDOW] = ret;
    c->episodes++;
    const int64_t k = c->episodes < CURVE_WINDOW ? c->episodes : CURVE_WINDOW;
    double s = 0;
    for (int64_t i = 0; i < k; i++) s += c->window[i];
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        double *x = realloc(c->x, cap * sizeof *x), *y = x ? realloc(c->y, cap * sizeof *y) : NULL;
        if (x) c->x = x;
        if (!y) return 0;
        c->y = y, c->cap = cap;
    }
    c->x[c->n] = (double)transitions, c->y[c->n] = s / (double)k;
    c->n++;
    return 1;
}

typedef struct result {
    int solved;
    int64_t transitions, episodes;
    double seconds, eval;
} result;

static void report(const char *algo, uint64_t seed, const result *r, const curve *c) {
    printf("%s seed %" PRIu64 ": %s after %" PRId64 " transitions, %" PRId64 " episodes, %.1f s; greedy "
           "evaluation %.1f; last %d training episodes %.1f\n",
           algo, seed, r->solved ? "SOLVED" : "not solved", r->transitions, r->episodes, r->seconds, r->eval,
           CURVE_WINDOW, c->n ? c->y[c->n - 1] : 0.0);
    fflush(stdout);
}

/* Evaluates the greedy policy; 1 when it is solved. Prints a progress line. */
static int check_solved(net *n, uint64_t seed, int64_t t, const curve *c, const options *o,
                        double *eval, const char *algo) {
    *eval = greedy_return(n, 1000003u * (seed + 1) + (uint64_t)t);
    if (!o->quiet)
        printf("  %s seed %" PRIu64 ": %7" PRId64 " transitions, %5" PRId64 " episodes, training mean %.1f, greedy "
               "%.1f\n", algo, seed, t, c->episodes, c->n ? c->y[c->n - 1] : 0.0, *eval);
    return *eval >= SOLVED;
}

/* --- A2C ----------------------------------------------------------------------------------- */

enum { A2C_ENVS = 16, A2C_STEPS = 16, A2C_BATCH = A2C_ENVS * A2C_STEPS, A2C_EVAL_EVERY = 5000 };

static int a2c(clg_context *ctx, uint64_t seed, int64_t max_steps, const options *o, result *r, curve *c) {
    net pol, val;
    int ok = net_init(&pol, ctx, 64, ACTIONS, CLG_ACT_TANH, 2 * seed, clg_optimizer_adam(1e-3f, 0.9f, 0.999f, 1e-7f)) &&
             net_init(&val, ctx, 64, 1, CLG_ACT_TANH, 2 * seed + 1, clg_optimizer_adam(1e-3f, 0.9f, 0.999f, 1e-7f));
    clg_cartpole *env = ok ? clg_cartpole_new(A2C_ENVS, seed) : NULL;
    static float obs[A2C_STEPS + 1][A2C_ENVS * OBS], fin[A2C_STEPS][A2C_ENVS * OBS], rew[A2C_STEPS][A2C_ENVS];
    static uint8_t term[A2C_STEPS][A2C_ENVS], trunc[A2C_STEPS][A2C_ENVS];
    static int32_t act[A2C_STEPS][A2C_ENVS];
    static float v[(A2C_STEPS + 1) * A2C_ENVS], vfin[A2C_BATCH], adv[A2C_BATCH], ret[A2C_BATCH], targets[A2C_BATCH * ACTIONS];
    float logits[A2C_ENVS * ACTIONS];
    double ep_ret[A2C_ENVS] = {0};
    uint64_t rng = seed * 0x2545f4914f6cdd1dull + 1;
    const double t0 = cli_now();
    int64_t t = 0, next_eval = A2C_EVAL_EVERY;
    ok = env && clg_cartpole_reset(env, obs[0]) == CLG_OK;
    while (ok && !r->solved && t < max_steps) {
        for (int s = 0; ok && s < A2C_STEPS; s++) { /* a rollout with the current policy */
            ok = net_eval(&pol, obs[s], A2C_ENVS, logits, ACTIONS);
            for (int i = 0; ok && i < A2C_ENVS; i++) {
                const double p1 = 1.0 / (1.0 + exp((double)logits[2 * i] - logits[2 * i + 1]));
                act[s][i] = rng_uniform(&rng) < p1;
            }
            ok = ok && clg_cartpole_step(env, act[s], obs[s + 1], rew[s], term[s], trunc[s], fin[s]) == CLG_OK;
            t += A2C_ENVS;
            for (int i = 0; ok && i < A2C_ENVS; i++) {
                ep_ret[i] += rew[s][i];
                if (term[s][i] || trunc[s][i]) ok = curve_add(c, t, ep_ret[i]), ep_ret[i] = 0;
            }
        }
        /* values of every state, of the next one, and of the ended episodes' last states */
        ok = ok && net_eval(&val, obs[0], (A2C_STEPS + 1) * A2C_ENVS, v, 1) &&
             net_eval(&val, fin[0], A2C_BATCH, vfin, 1);
        double mean = 0, sq = 0;
        for (int i = 0; ok && i < A2C_ENVS; i++) {
            double gae = 0;
            for (int s = A2C_STEPS - 1; s >= 0; s--) {
                const int k = s * A2C_ENVS + i, ended = term[s][i] || trunc[s][i];
                const double next = ended ? vfin[k] : v[k + A2C_ENVS];
                const double delta = rew[s][i] + GAMMA * (term[s][i] ? 0.0 : next) - v[k];
                gae = delta + GAMMA * 0.95 * (ended ? 0.0 : gae);
                adv[k] = (float)gae, ret[k] = (float)(gae + v[k]);
                mean += gae, sq += gae * gae;
            }
        }
        mean /= A2C_BATCH;
        const double sd = sqrt(fmax(sq / A2C_BATCH - mean * mean, 0.0)) + 1e-8;
        for (int k = 0; k < A2C_BATCH; k++) {
            const int a = act[k / A2C_ENVS][k % A2C_ENVS];
            targets[2 * k + a] = (float)((adv[k] - mean) / sd), targets[2 * k + 1 - a] = 0.0f;
        }
        /* the updates */
        clg_tensor *x = ok ? clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){A2C_BATCH, OBS}, obs[0]) : NULL;
        clg_tensor *tg = x ? clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){A2C_BATCH, ACTIONS}, targets) : NULL;
        clg_tensor *rt = tg ? clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){A2C_BATCH, 1}, ret) : NULL;
        clg_tensor *z = NULL, *vv = NULL;
        ok = rt != NULL;
        if (ok) {
            zero_grads(&pol);
            ok = clg_model_call(pol.m, (const clg_tensor *[]){x}, 1, &z) == CLG_OK;
            clg_tensor *pg = ok ? clg_softmax_cross_entropy_onehot(z, tg, 0.0f) : NULL;
            clg_tensor *logp = pg ? clg_log_softmax(z, 1) : NULL, *p = logp ? clg_exp(logp) : NULL;
            clg_tensor *plogp = p ? clg_mul(p, logp) : NULL, *negent = plogp ? clg_mean(plogp, 0, NULL, 0) : NULL;
            clg_tensor *bonus = negent ? clg_mul_scalar(negent, 0.01f * ACTIONS) : NULL; /* 0.01 x mean_i sum_a */
            clg_tensor *loss = bonus ? clg_add(pg, bonus) : NULL;
            ok = net_update(&pol, loss);
            clg_tensor *list[] = {pg, logp, p, plogp, negent, bonus};
            for (size_t i = 0; i < sizeof list / sizeof *list; i++) clg_tensor_free(list[i]);
        }
        if (ok) {
            zero_grads(&val);
            ok = clg_model_call(val.m, (const clg_tensor *[]){x}, 1, &vv) == CLG_OK;
            ok = ok && net_update(&val, clg_mse(vv, rt));
        }
        clg_tensor *list[] = {x, tg, rt, z, vv};
        for (size_t i = 0; i < sizeof list / sizeof *list; i++) clg_tensor_free(list[i]);
        memcpy(obs[0], obs[A2C_STEPS], sizeof obs[0]);
        if (ok && t >= next_eval) {
            next_eval += A2C_EVAL_EVERY;
            r->solved = check_solved(&pol, seed, t, c, o, &r->eval, "a2c");
            ok = r->eval >= 0;
        }
    }
    r->transitions = t, r->episodes = c->episodes, r->seconds = cli_now() - t0;
    clg_cartpole_free(env);
    net_free(&pol), net_free(&val);
    return ok;
}

/* --- DQN ------------------------------------------------------------------------------------ */

enum { DQN_ENVS = 4, DQN_BATCH = 64, DQN_BUFFER = 50000, DQN_START = 1000, DQN_SYNC = 1000, DQN_EVAL_EVERY = 5000,
       DQN_EPS_STEPS = 20000 };

typedef struct replay {
    float s[DQN_BUFFER][OBS], s2[DQN_BUFFER][OBS], r[DQN_BUFFER];
    int32_t a[DQN_BUFFER];
    uint8_t term[DQN_BUFFER];
    int64_t n, next;
} replay;

/* target <- online, weight by weight (same architecture) */
static int copy_weights(net *to, net *from) {
    int ok = 1;
    for (int i = 0; ok && i < from->nparams; i++) ok = clg_tensor_assign(to->params[i], from->params[i]) == CLG_OK;
    return ok;
}

static int dqn(clg_context *ctx, uint64_t seed, int64_t max_steps, const options *o, result *r, curve *c) {
    net q, tq;
    int ok = net_init(&q, ctx, 128, ACTIONS, CLG_ACT_RELU, 2 * seed, clg_optimizer_adam(5e-4f, 0.9f, 0.999f, 1e-7f)) &&
             net_init(&tq, ctx, 128, ACTIONS, CLG_ACT_RELU, 2 * seed, clg_optimizer_sgd(0.0f, 0.0f, 0)) &&
             copy_weights(&tq, &q);
    replay *buf = ok ? calloc(1, sizeof *buf) : NULL;
    clg_cartpole *env = buf ? clg_cartpole_new(DQN_ENVS, seed) : NULL;
    float obs[DQN_ENVS * OBS], next[DQN_ENVS * OBS], fin[DQN_ENVS * OBS], rew[DQN_ENVS], qv[DQN_ENVS * ACTIONS];
    uint8_t term[DQN_ENVS], trunc[DQN_ENVS];
    int32_t act[DQN_ENVS];
    double ep_ret[DQN_ENVS] = {0};
    static float bs[DQN_BATCH * OBS], bs2[DQN_BATCH * OBS], qn[DQN_BATCH * ACTIONS], qt[DQN_BATCH * ACTIONS],
        y[DQN_BATCH], onehot[DQN_BATCH * ACTIONS];
    uint64_t rng = seed * 0x2545f4914f6cdd1dull + 7;
    const double t0 = cli_now();
    int64_t t = 0, next_eval = DQN_EVAL_EVERY, next_sync = DQN_SYNC;
    ok = env && clg_cartpole_reset(env, obs) == CLG_OK;
    while (ok && !r->solved && t < max_steps) {
        const double eps = fmax(0.05, 1.0 - 0.95 * (double)t / DQN_EPS_STEPS);
        ok = net_eval(&q, obs, DQN_ENVS, qv, ACTIONS);
        for (int i = 0; ok && i < DQN_ENVS; i++)
            act[i] = rng_uniform(&rng) < eps ? (int32_t)(cli_rng_next(&rng) & 1) : argmax2(qv + i * ACTIONS);
        ok = ok && clg_cartpole_step(env, act, next, rew, term, trunc, fin) == CLG_OK;
        for (int i = 0; ok && i < DQN_ENVS; i++) {
            const int64_t k = buf->next;
            memcpy(buf->s[k], obs + i * OBS, sizeof buf->s[k]);
            memcpy(buf->s2[k], fin + i * OBS, sizeof buf->s2[k]); /* the last state when an episode ended */
            buf->a[k] = act[i], buf->r[k] = rew[i], buf->term[k] = term[i];
            buf->next = (k + 1) % DQN_BUFFER;
            if (buf->n < DQN_BUFFER) buf->n++;
            ep_ret[i] += rew[i];
            if (term[i] || trunc[i]) ok = curve_add(c, t + i + 1, ep_ret[i]), ep_ret[i] = 0;
        }
        memcpy(obs, next, sizeof obs);
        t += DQN_ENVS;
        if (ok && t >= DQN_START) { /* one update of a sampled batch */
            int64_t pick[DQN_BATCH];
            for (int b = 0; b < DQN_BATCH; b++) {
                pick[b] = (int64_t)(cli_rng_next(&rng) % (uint64_t)buf->n);
                memcpy(bs + b * OBS, buf->s[pick[b]], sizeof buf->s[0]);
                memcpy(bs2 + b * OBS, buf->s2[pick[b]], sizeof buf->s2[0]);
            }
            ok = net_eval(&q, bs2, DQN_BATCH, qn, ACTIONS) && net_eval(&tq, bs2, DQN_BATCH, qt, ACTIONS);
            for (int b = 0; ok && b < DQN_BATCH; b++) { /* double DQN: the online net picks, the target net values */
                const int64_t k = pick[b];
                const double boot = buf->term[k] ? 0.0 : qt[b * ACTIONS + argmax2(qn + b * ACTIONS)];
                y[b] = (float)(buf->r[k] + GAMMA * boot);
                onehot[b * ACTIONS] = buf->a[k] == 0, onehot[b * ACTIONS + 1] = buf->a[k] == 1;
            }
            clg_tensor *x = ok ? clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){DQN_BATCH, OBS}, bs) : NULL;
            clg_tensor *oh = x ? clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){DQN_BATCH, ACTIONS}, onehot) : NULL;
            clg_tensor *yt = oh ? clg_tensor_from_host(ctx, CLG_FLOAT32, 1, (int64_t[]){DQN_BATCH}, y) : NULL;
            clg_tensor *out = NULL, *picked = NULL, *qa = NULL;
            zero_grads(&q);
            ok = yt && clg_model_call(q.m, (const clg_tensor *[]){x}, 1, &out) == CLG_OK;
            picked = ok ? clg_mul(out, oh) : NULL;
            qa = picked ? clg_sum(picked, 1, (int[]){1}, 0) : NULL;
            ok = qa && net_update(&q, clg_huber(qa, yt, 1.0f));
            clg_tensor *list[] = {x, oh, yt, out, picked, qa};
            for (size_t i = 0; i < sizeof list / sizeof *list; i++) clg_tensor_free(list[i]);
        }
        if (ok && t >= next_sync) next_sync += DQN_SYNC, ok = copy_weights(&tq, &q);
        if (ok && t >= next_eval) {
            next_eval += DQN_EVAL_EVERY;
            r->solved = check_solved(&q, seed, t, c, o, &r->eval, "dqn");
            ok = r->eval >= 0;
        }
    }
    r->transitions = t, r->episodes = c->episodes, r->seconds = cli_now() - t0;
    clg_cartpole_free(env);
    free(buf);
    net_free(&q), net_free(&tq);
    return ok;
}

/* --- the program -------------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s [--algo a2c|dqn|both] [--seeds N | --seed S] [--max-steps N] [--plot PREFIX] [--quiet]\n"
            "Trains A2C and DQN on CartPole (default: both, seeds 0-4) until the greedy policy averages 475\n"
            "over 100 evaluation episodes; writes the return curves to PREFIX_a2c.png, PREFIX_dqn.png\n"
            "(default prefix: cartpole).\n",
            prog);
}

static int parse(int argc, char **argv, options *o) {
    *o = (options){.a2c = 1, .dqn = 1, .first_seed = 0, .nseeds = 5, .plot = "cartpole"};
    static const char *const valued[] = {"--algo", "--seeds", "--seed", "--max-steps", "--plot"};
    static const char *const switches[] = {"--quiet"};
    for (int i = 1; i < argc; i++) {
        const char *flag, *value;
        int r = cli_next(prog, argc, argv, &i, valued, 5, switches, 1, &flag, &value);
        if (r == CLI_HELP) usage(stdout);
        if (r != CLI_FLAG) return r;
        long long v = 0;
        if (!strcmp(flag, "--quiet")) {
            o->quiet = 1;
        } else if (!strcmp(flag, "--algo")) {
            o->a2c = !strcmp(value, "a2c") || !strcmp(value, "both");
            o->dqn = !strcmp(value, "dqn") || !strcmp(value, "both");
            if (!o->a2c && !o->dqn) {
                fprintf(stderr, "%s: --algo takes a2c, dqn or both, got '%s'\n", prog, value);
                return CLI_BAD;
            }
        } else if (!strcmp(flag, "--seeds")) {
            if (!cli_int(prog, flag, value, 1, 1000, &v)) return CLI_BAD;
            o->first_seed = 0, o->nseeds = (int)v;
        } else if (!strcmp(flag, "--seed")) {
            if (!cli_int(prog, flag, value, 0, INT_MAX, &v)) return CLI_BAD;
            o->first_seed = (int)v, o->nseeds = 1;
        } else if (!strcmp(flag, "--max-steps")) {
            if (!cli_int(prog, flag, value, 1, (long long)1 << 40, &v)) return CLI_BAD;
            o->max_steps = v;
        } else {
            o->plot = value;
        }
    }
    return CLI_FLAG;
}

static int run(clg_context *ctx, const options *o, const char *algo) {
    const int is_a2c = !strcmp(algo, "a2c");
    const int64_t max_steps = o->max_steps ? o->max_steps : is_a2c ? 500000 : 150000;
    curve *curves = calloc((size_t)o->nseeds, sizeof *curves);
    plot_series *series = calloc((size_t)o->nseeds, sizeof *series);
    if (!curves || !series) return free(curves), free(series), cli_out_of_memory(prog, "curves");
    int solved = 0, status = 0;
    double x_max = 1;
    printf("%s: %s, up to %" PRId64 " transitions per seed\n", algo,
           is_a2c ? "16 environments, rollouts of 16, GAE" : "double DQN, 4 environments, replay 50,000", max_steps);
    for (int s = 0; s < o->nseeds && !status; s++) {
        const uint64_t seed = (uint64_t)(o->first_seed + s);
        result r = {0};
        int ok = is_a2c ? a2c(ctx, seed, max_steps, o, &r, &curves[s]) : dqn(ctx, seed, max_steps, o, &r, &curves[s]);
        if (!ok) status = cli_fail(prog, algo);
        else report(algo, seed, &r, &curves[s]);
        solved += r.solved;
        series[s] = (plot_series){curves[s].x, curves[s].y, curves[s].n};
        if (r.transitions > x_max) x_max = (double)r.transitions;
    }
    if (!status) {
        printf("%s: solved in %d of %d seeds\n", algo, solved, o->nseeds);
        char path[512];
        snprintf(path, sizeof path, "%s_%s.png", o->plot, algo);
        if (plot_lines(path, 800, 400, series, o->nseeds, x_max, 0, 510, SOLVED) != CLG_OK)
            status = cli_fail(prog, "writing the return curves");
        else
            printf("%s: return curves (mean of the last %d training episodes) in %s\n", algo, CURVE_WINDOW, path);
    }
    for (int s = 0; s < o->nseeds; s++) free(curves[s].x), free(curves[s].y);
    free(curves), free(series);
    return status;
}

int main(int argc, char **argv) {
    options o;
    int r = parse(argc, argv, &o);
    if (r != CLI_FLAG) return r == CLI_HELP ? 0 : 2;
    clg_context *ctx = cli_context(prog);
    if (!ctx) return 1;
    const double t0 = cli_now();
    int status = 0;
    if (o.a2c) status = run(ctx, &o, "a2c");
    if (o.dqn && !status) status = run(ctx, &o, "dqn");
    printf("total %.1f s\n", cli_now() - t0);
    clg_context_free(ctx);
    return status;
}
