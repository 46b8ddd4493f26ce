/* Self-supervised learning on Fashion-MNIST: a SimCLR encoder pre-trained
 * without labels, then frozen and read out by a linear classifier trained on
 * 60 labelled images per class.
 *
 * Split: training images 0-54,999 are the pool (pre-training uses all of them
 * without labels; the labelled 600 are drawn from them, 60 per class, by a
 * seeded shuffle, once per draw); images 55,000-59,999 are the labelled
 * validation set on which the probe's settings are chosen; the 10,000 test
 * images are used once per draw for the reported accuracy.
 *
 * Encoder: Conv2D(32, 3x3, 'same', relu) -> MaxPooling 2 -> Conv2D(64, 3x3,
 * 'same', relu) -> MaxPooling 2 -> Flatten -> Dense(128, relu): the features.
 * Pre-training adds SimCLR's projection head Dense(128, relu) -> Dense(64)
 * and minimises NT-Xent (clg_nt_xent, temperature 0.5) over two random views
 * of each image of a batch of 256: a random shift of up to 4 pixels (zero
 * padding), a horizontal flip with probability 1/2, and Gaussian noise of
 * standard deviation 0.1. Adam 1e-3. The head is dropped afterwards.
 *
 * Linear probe: Dense(10, softmax) on the features standardised with the
 * labelled set's mean and deviation, Adam 1e-2, full batch; its L2 factor and
 * epoch count are chosen per representation on the validation set (draw 0).
 * Reported: test accuracy, mean and standard deviation over 5 draws of the
 * 600 labelled images, for the pre-trained encoder, the same encoder with its
 * random initial weights, and the raw pixels.
 *
 * Default: 10 epochs of pre-training on the whole pool; --epochs and
 * --pretrain-samples change it. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clgrad/clgrad.h>

#include "cli.h"

static const char *prog = "selfsup";

enum { PIX = 28 * 28, POOL = 55000, VAL = 5000, PER_CLASS = 60, CLASSES = 10, LABELLED = PER_CLASS * CLASSES,
       FEAT = 128, PROJ = 64, BATCH = 256, DRAWS = 5, SHIFT = 4 };

typedef struct options {
    int epochs, quiet;
    int64_t pretrain; /* images used by pre-training (the pool's first ones) */
    uint64_t seed;
} options;


static double rng_normal(uint64_t *x) { return sqrt(-2 * log(cli_rng_open01(x))) * cos(6.283185307179586 * cli_rng_open01(x)); }

/* One random view of img: shift, flip, noise. */
static void augment(uint64_t *rng, const float *img, float *out) {
    const int dy = (int)(cli_rng_next(rng) % (2 * SHIFT + 1)) - SHIFT;
    const int dx = (int)(cli_rng_next(rng) % (2 * SHIFT + 1)) - SHIFT;
    const int flip = (int)(cli_rng_next(rng) & 1);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            const int sy = y + dy, sx0 = x + dx, sx = flip ? 27 - sx0 : sx0;
            const float v = sy >= 0 && sy < 28 && sx0 >= 0 && sx0 < 28 ? img[sy * 28 + sx] : 0.0f;
            out[y * 28 + x] = v + (float)(0.1 * rng_normal(rng));
        }
}

static int add_encoder(clg_model *m) {
    return clg_model_add(m, clg_layer_conv2d_ex(32, 3, 3, 1, 1, 1, CLG_ACT_RELU)) == CLG_OK &&
           clg_model_add(m, clg_layer_max_pooling2d(2, 2)) == CLG_OK &&
           clg_model_add(m, clg_layer_conv2d_ex(64, 3, 3, 1, 1, 1, CLG_ACT_RELU)) == CLG_OK &&
           clg_model_add(m, clg_layer_max_pooling2d(2, 2)) == CLG_OK && clg_model_add(m, clg_layer_flatten()) == CLG_OK &&
           clg_model_add(m, clg_layer_dense(FEAT, CLG_ACT_RELU)) == CLG_OK;
}

/* A model's weights exist after one call. */
static int build(clg_context *ctx, clg_model *m) {
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){1, 28, 28, 1}), *y = NULL;
    int ok = x && clg_model_call(m, (const clg_tensor *[]){x}, 0, &y) == CLG_OK;
    clg_tensor_free(x), clg_tensor_free(y);
    return ok;
}

/* SimCLR pre-training of the encoder inside `full` (encoder + head) on the pool. */
static int pretrain(clg_context *ctx, clg_model *full, const float *x, const options *o) {
    clg_tensor *params[16];
    const int np = clg_model_weight_count(full, 1);
    if (np > (int)(sizeof params / sizeof *params)) return 0;
    for (int i = 0; i < np; i++) params[i] = clg_model_weight(full, 1, i);
    clg_optimizer *opt = clg_optimizer_adam(1e-3f, 0.9f, 0.999f, 1e-7f);
    int64_t *perm = malloc(POOL * sizeof *perm);
    float *views = malloc((size_t)2 * BATCH * PIX * sizeof *views);
    clg_tensor *xt = clg_tensor_empty(ctx, CLG_FLOAT32, 4, (int64_t[]){2 * BATCH, 28, 28, 1});
    int ok = opt && perm && views && xt && clg_optimizer_attach(opt, ctx, np, params) == CLG_OK;
    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 5;
    const int64_t steps = o->pretrain / BATCH;
    for (int e = 0; ok && e < o->epochs; e++) {
        const double t0 = cli_now();
        double total = 0;
        ok = clg_shuffle_permutation(o->pretrain, o->seed, (uint64_t)e, perm) == CLG_OK;
        for (int64_t s = 0; ok && s < steps; s++) {
            for (int b = 0; b < BATCH; b++) { /* rows b and b + BATCH: two views of one image */
                augment(&rng, x + perm[s * BATCH + b] * PIX, views + (size_t)b * PIX);
                augment(&rng, x + perm[s * BATCH + b] * PIX, views + (size_t)(b + BATCH) * PIX);
            }
            clg_tensor *z = NULL, *loss = NULL;
            for (int i = 0; i < np; i++) clg_tensor_zero_grad(params[i]);
            ok = clg_tensor_write(xt, views, (size_t)2 * BATCH * PIX * sizeof *views) == CLG_OK &&
                 clg_model_call(full, (const clg_tensor *[]){xt}, 1, &z) == CLG_OK;
            loss = ok ? clg_nt_xent(z, 0.5f) : NULL;
            ok = loss && clg_backward(loss, NULL) == CLG_OK && clg_optimizer_step(opt) == CLG_OK;
            float v = 0;
            if (ok && s % 20 == 0) ok = clg_tensor_to_host(loss, &v, sizeof v) == CLG_OK, total += v;
            clg_tensor_free(z), clg_tensor_free(loss);
        }
        if (ok)
            printf("pre-training epoch %d/%d - %.0f s - NT-Xent %.4f\n", e + 1, o->epochs, cli_now() - t0,
                   total / (double)((steps + 19) / 20));
        fflush(stdout);
    }
    clg_optimizer_free(opt);
    clg_tensor_free(xt);
    free(perm), free(views);
    return ok;
}

/* Features [n, FEAT] of images through enc (inference mode). */
static int features(clg_model *enc, const float *x, int64_t n, float *out) {
    clg_host_array xa = {.data = x, .dtype = CLG_FLOAT32, .ndim = 4, .shape = {n, 28, 28, 1}};
    return clg_model_predict(enc, &xa, 500, out, (size_t)(n * FEAT)) == CLG_OK;
}

/* The labelled draw d: 60 pool images of each class; 0 on failure. */
static int draw(const int32_t *y, uint64_t seed, int d, int64_t *pick) {
    int64_t *perm = malloc(POOL * sizeof *perm);
    int count[CLASSES] = {0}, k = 0;
    if (!perm || clg_shuffle_permutation(POOL, seed + 1000, (uint64_t)d, perm) != CLG_OK) return free(perm), 0;
    for (int64_t i = 0; i < POOL && k < LABELLED; i++) {
        const int32_t c = y[perm[i]];
        if (c >= 0 && c < CLASSES && count[c] < PER_CLASS) count[c]++, pick[k++] = perm[i];
    }
    free(perm);
    return k == LABELLED;
}

/* A linear classifier on dim-wide features: trained on (tx, ty) and scored
 * on (ex, ey); features standardised by tx's statistics. Returns accuracy. */
static double probe(clg_context *ctx, const float *tx, const int32_t *ty, int64_t tn, const float *ex,
                    const int32_t *ey, int64_t en, int dim, float l2, int epochs) {
    double *mu = calloc((size_t)dim, sizeof *mu), *sd = calloc((size_t)dim, sizeof *sd);
    float *a = malloc((size_t)(tn * dim) * sizeof *a), *b = malloc((size_t)(en * dim) * sizeof *b);
    double acc = -1;
    if (mu && sd && a && b) {
        for (int64_t i = 0; i < tn; i++)
            for (int k = 0; k < dim; k++) mu[k] += tx[i * dim + k] / (double)tn;
        for (int64_t i = 0; i < tn; i++)
            for (int k = 0; k < dim; k++) sd[k] += pow(tx[i * dim + k] - mu[k], 2) / (double)tn;
        for (int k = 0; k < dim; k++) sd[k] = sqrt(sd[k]) + 1e-6;
        for (int64_t i = 0; i < tn * dim; i++) a[i] = (float)((tx[i] - mu[i % dim]) / sd[i % dim]);
        for (int64_t i = 0; i < en * dim; i++) b[i] = (float)((ex[i] - mu[i % dim]) / sd[i % dim]);
        clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){dim});
        clg_layer *l = clg_layer_dense(CLASSES, CLG_ACT_SOFTMAX);
        int ok = m && l && clg_layer_set_l2(l, l2) == CLG_OK && clg_model_add(m, l) == CLG_OK &&
                 clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy") == CLG_OK &&
                 clg_model_set_learning_rate(m, 1e-2f) == CLG_OK;
        clg_host_array xa = {.data = a, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {tn, dim}};
        clg_host_array ya = {.data = ty, .dtype = CLG_INT32, .ndim = 1, .shape = {tn}};
        clg_host_array xb = {.data = b, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {en, dim}};
        clg_host_array yb = {.data = ey, .dtype = CLG_INT32, .ndim = 1, .shape = {en}};
        clg_fit_options fo = clg_fit_options_default();
        fo.epochs = epochs, fo.batch_size = (int)tn, fo.verbose = 0;
        clg_history *h = ok ? clg_model_fit(m, &xa, &ya, &fo) : NULL;
        float loss = 0, ac = 0;
        if (h && clg_model_evaluate(m, &xb, &yb, 1000, &loss, &ac) == CLG_OK) acc = ac;
        clg_history_free(h);
        clg_model_free(m);
    }
    free(mu), free(sd), free(a), free(b);
    return acc;
}

static void gather(const float *src, int dim, const int64_t *idx, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) memcpy(out + i * dim, src + idx[i] * dim, (size_t)dim * sizeof *out);
}

/* Chooses the probe's L2 and epochs on validation (draw 0), then reports test
 * accuracy over the draws. feats: pool [POOL, dim], val [VAL, dim], test. */
static int report(clg_context *ctx, const char *what, int dim, const float *pool, const float *val, const float *test,
                  const int32_t *y, const int32_t *ty, int64_t tn, uint64_t seed) {
    static const float l2s[] = {0.0f, 1e-3f, 1e-2f};
    static const int epochs[] = {100, 300};
    int64_t pick[LABELLED];
    int32_t py[LABELLED];
    float *px = malloc((size_t)LABELLED * dim * sizeof *px);
    if (!px || !draw(y, seed, 0, pick)) return free(px), 0;
    gather(pool, dim, pick, LABELLED, px);
    for (int i = 0; i < LABELLED; i++) py[i] = y[pick[i]];
    double best = -1;
    float bl2 = 0;
    int be = 0;
    for (size_t a = 0; a < sizeof l2s / sizeof *l2s; a++)
        for (size_t b = 0; b < sizeof epochs / sizeof *epochs; b++) {
            const double acc = probe(ctx, px, py, LABELLED, val, y + POOL, VAL, dim, l2s[a], epochs[b]);
            if (acc < 0) return free(px), 0;
            if (acc > best) best = acc, bl2 = l2s[a], be = epochs[b];
        }
    double acc[DRAWS], mean = 0, var = 0;
    for (int d = 0; d < DRAWS; d++) {
        if (!draw(y, seed, d, pick)) return free(px), 0;
        gather(pool, dim, pick, LABELLED, px);
        for (int i = 0; i < LABELLED; i++) py[i] = y[pick[i]];
        acc[d] = probe(ctx, px, py, LABELLED, test, ty, tn, dim, bl2, be);
        if (acc[d] < 0) return free(px), 0;
        mean += acc[d] / DRAWS;
    }
    for (int d = 0; d < DRAWS; d++) var += (acc[d] - mean) * (acc[d] - mean) / (DRAWS - 1);
    printf("%-28s test accuracy %.4f +- %.4f (draws:", what, mean, sqrt(var));
    for (int d = 0; d < DRAWS; d++) printf(" %.4f", acc[d]);
    printf("); chosen on validation: L2 %g, %d epochs (validation %.4f)\n", (double)bl2, be, best);
    fflush(stdout);
    free(px);
    return 1;
}

static int parse(int argc, char **argv, options *o) {
    *o = (options){.epochs = 10, .pretrain = POOL};
    static const char *const valued[] = {"--epochs", "--seed", "--pretrain-samples"};
    static const char *const switches[] = {"--quiet"};
    for (int i = 1; i < argc; i++) {
        const char *flag, *value;
        int r = cli_next(prog, argc, argv, &i, valued, 3, switches, 1, &flag, &value);
        if (r == CLI_HELP)
            printf("usage: %s [--epochs N] [--pretrain-samples N] [--seed S] [--quiet]\nSimCLR pre-training on Fashion-MNIST, then linear "
                   "probes on 60 labels per class.\n", prog);
        if (r != CLI_FLAG) return r;
        long long v = 0;
        if (!strcmp(flag, "--quiet")) o->quiet = 1;
        else if (!cli_int(prog, flag, value, !strcmp(flag, "--pretrain-samples") ? BATCH : 0,
                          !strcmp(flag, "--pretrain-samples") ? POOL : INT_MAX, &v))
            return CLI_BAD;
        else if (!strcmp(flag, "--epochs")) o->epochs = (int)v;
        else if (!strcmp(flag, "--pretrain-samples")) o->pretrain = v;
        else o->seed = (uint64_t)v;
    }
    return CLI_FLAG;
}

int main(int argc, char **argv) {
    options o;
    int r = parse(argc, argv, &o);
    if (r != CLI_FLAG) return r == CLI_HELP ? 0 : 2;
    float *x = NULL, *tx = NULL;
    int32_t *y = NULL, *ty = NULL;
    int64_t n = 0, tn = 0;
    if (!cli_load_fashion_mnist(prog, "train", &x, &y, &n) || !cli_load_fashion_mnist(prog, "t10k", &tx, &ty, &tn)) return 1;
    if (n < POOL + VAL) return fprintf(stderr, "%s: expected 60,000 training images\n", prog), 1;
    clg_context *ctx = cli_context(prog);
    if (!ctx) return 1;
    const double t0 = cli_now();
    /* the encoder, its random-weight twin and the pre-training model share one seed */
    clg_model *full = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
    clg_model *enc = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
    clg_model *rnd = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
    int ok = full && enc && rnd && add_encoder(full) && add_encoder(enc) && add_encoder(rnd) &&
             clg_model_add(full, clg_layer_dense(FEAT, CLG_ACT_RELU)) == CLG_OK &&
             clg_model_add(full, clg_layer_dense(PROJ, CLG_ACT_LINEAR)) == CLG_OK &&
             clg_model_set_seed(full, o.seed) == CLG_OK && clg_model_set_seed(rnd, o.seed) == CLG_OK &&
             build(ctx, full) && build(ctx, enc) && build(ctx, rnd);
    /* the random twin starts where pre-training starts: the encoder's initial weights */
    for (int i = 0; ok && i < clg_model_weight_count(rnd, 0); i++)
        ok = clg_tensor_assign(clg_model_weight(rnd, 0, i), clg_model_weight(full, 0, i)) == CLG_OK;
    if (!ok) return cli_fail(prog, "building the models");
    printf("SimCLR pre-training: %" PRId64 " images, batch %d (2 x %d views), %d epochs\n", o.pretrain, BATCH, BATCH,
           o.epochs);
    if (!pretrain(ctx, full, x, &o)) return cli_fail(prog, "pre-training");
    for (int i = 0; ok && i < clg_model_weight_count(enc, 0); i++)
        ok = clg_tensor_assign(clg_model_weight(enc, 0, i), clg_model_weight(full, 0, i)) == CLG_OK;
    const double pre_s = cli_now() - t0;
    printf("pre-training: %.0f s (%.1f min)\n", pre_s, pre_s / 60);
    float *fp = malloc((size_t)POOL * FEAT * sizeof *fp), *fv = malloc((size_t)VAL * FEAT * sizeof *fv);
    float *ft = malloc((size_t)tn * FEAT * sizeof *ft);
    if (!ok || !fp || !fv || !ft) return cli_out_of_memory(prog, "features");
    printf("linear probes on %d labelled images (60 per class), %d draws:\n", LABELLED, DRAWS);
    clg_model *encs[2] = {enc, rnd};
    const char *names[2] = {"pre-trained encoder", "same encoder, random weights"};
    for (int k = 0; ok && k < 2; k++) {
        ok = features(encs[k], x, POOL, fp) && features(encs[k], x + (int64_t)POOL * PIX, VAL, fv) &&
             features(encs[k], tx, tn, ft) && report(ctx, names[k], FEAT, fp, fv, ft, y, ty, tn, o.seed);
    }
    ok = ok && report(ctx, "raw pixels", PIX, x, x + (int64_t)POOL * PIX, tx, y, ty, tn, o.seed);
    if (!ok) return cli_fail(prog, "the linear probes");
    printf("total %.0f s\n", cli_now() - t0);
    free(fp), free(fv), free(ft), free(x), free(y), free(tx), free(ty);
    clg_model_free(full), clg_model_free(enc), clg_model_free(rnd);
    clg_context_free(ctx);
    return 0;
}
