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
 * Encoder: three blocks of Conv2D(3x3, 'same') -> BatchNormalization -> ReLU
 * with 32, 64 and 128 filters, 2x2 max pooling after the first two, then
 * global average pooling: 128 features, SimCLR's representation h. Pre-training
 * adds the projection head Dense(128) -> BatchNormalization -> ReLU ->
 * Dense(64) and minimises NT-Xent (clg_nt_xent, temperature 0.2) over two
 * random views of each image of a batch of 256. A view is SimCLR's recipe for
 * small grey images: a random resized crop (area 30-100%, aspect ratio 3/4 to
 * 4/3, resampled bilinearly to 28x28), a horizontal flip with probability 1/2,
 * brightness and contrast each scaled by a factor in [0.6, 1.4] (probability
 * 0.8), and Gaussian noise of standard deviation 0.1. Adam 1e-3. The head is
 * dropped afterwards; features are computed in inference mode (batch
 * normalisation with its moving statistics).
 *
 * Baselines: the same encoder with its random initial weights (the ones
 * pre-training starts from), its batch-normalisation statistics estimated on
 * the pool so that it is not handicapped by their initial values; and the raw
 * pixels.
 *
 * Linear probe: Dense(10, softmax) on the features standardised with the
 * labelled set's mean and deviation, Adam 1e-2, full batch; its L2 factor
 * (0, 1e-3, 1e-2, 1e-1) and epoch count (100, 300) are chosen per
 * representation on the validation set (draw 0). Reported: test accuracy, mean
 * and standard deviation over 5 draws of the 600 labelled images.
 *
 * Choices, from pilot runs of 2-8 epochs judged by validation accuracy: the
 * earlier encoder (two conv layers, then Dense(128, relu) as the features)
 * probed below its random twin and the raw pixels; probing its flattened
 * 64x7x7 conv features, or a Dense(512) on them, gave pre-trained features no
 * better than the same layers with random weights (about 0.82 on validation
 * for both: two pre-trained conv layers are little better than random
 * filters); the pooled features of a third conv block are where pre-training
 * pays (0.80 on validation after 4 epochs against 0.75 random and 0.79 raw
 * pixels). Temperature 0.2 beat 0.5 slightly; Adam 2e-3 with a cosine decay
 * did worse than 1e-3; 256 filters in the third block gained 0.005 after one
 * epoch for half as much time again per epoch.
 *
 * Default: 25 epochs of pre-training on the whole pool (42.8 minutes in all
 * on two idle CPU cores with PoCL: test accuracy 0.797 +- 0.008 pre-trained,
 * 0.729 +- 0.013 random weights, 0.781 +- 0.006 raw pixels; the README has
 * the figures); --epochs and --pretrain-samples change it. */
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
       C3 = 128, HIDDEN = 128, PROJ = 64, BATCH = 256, DRAWS = 5, EPOCHS = 25, BN_STEPS = 300,
       BN_BATCH = 128 };
static const float temperature = 0.2f, min_area = 0.3f, jitter = 0.4f, noise = 0.1f;

typedef struct options {
    int epochs, quiet;
    int64_t pretrain; /* images used by pre-training (the pool's first ones) */
    uint64_t seed;
} options;

static double rng_normal(uint64_t *x) {
    return sqrt(-2 * log(cli_rng_open01(x))) * cos(6.283185307179586 * cli_rng_open01(x));
}
static double rng_uniform(uint64_t *x, double lo, double hi) { return lo + (hi - lo) * cli_rng_open01(x); }

/* img at (y, x) in pixel coordinates, bilinearly, edges clamped. */
static float bilinear(const float *img, double y, double x) {
    y = y < 0 ? 0 : y > 27 ? 27 : y, x = x < 0 ? 0 : x > 27 ? 27 : x;
    const int y0 = (int)y, x0 = (int)x, y1 = y0 < 27 ? y0 + 1 : 27, x1 = x0 < 27 ? x0 + 1 : 27;
    const double fy = y - y0, fx = x - x0;
    return (float)((1 - fy) * ((1 - fx) * img[y0 * 28 + x0] + fx * img[y0 * 28 + x1]) +
                   fy * ((1 - fx) * img[y1 * 28 + x0] + fx * img[y1 * 28 + x1]));
}

/* One random view of img: resized crop, flip, brightness and contrast, noise. */
static void augment(uint64_t *rng, const float *img, float *out) {
    double h = 28, w = 28, y0 = 0, x0 = 0; /* the whole image if no crop fits in 10 tries */
    for (int t = 0; t < 10; t++) {
        const double area = rng_uniform(rng, min_area, 1) * PIX, ratio = exp(rng_uniform(rng, log(0.75), log(4.0 / 3)));
        const double cw = sqrt(area * ratio), ch = sqrt(area / ratio);
        if (cw <= 28 && ch <= 28) {
            w = cw, h = ch, y0 = rng_uniform(rng, 0, 28 - h), x0 = rng_uniform(rng, 0, 28 - w);
            break;
        }
    }
    const int flip = (int)(cli_rng_next(rng) & 1);
    double bright = 1, contrast = 1, mean = 0;
    if (cli_rng_open01(rng) < 0.8)
        bright = rng_uniform(rng, 1 - jitter, 1 + jitter), contrast = rng_uniform(rng, 1 - jitter, 1 + jitter);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            const float v = bilinear(img, y0 + (y + 0.5) * h / 28 - 0.5, x0 + (x + 0.5) * w / 28 - 0.5);
            out[y * 28 + (flip ? 27 - x : x)] = v;
            mean += v * bright / PIX;
        }
    for (int i = 0; i < PIX; i++) {
        double v = (out[i] * bright - mean) * contrast + mean;
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        out[i] = (float)(v + noise * rng_normal(rng));
    }
}

static int add(clg_model *m, clg_layer *l) { return clg_model_add(m, l) == CLG_OK; }

static int add_block(clg_model *m, int filters) {
    return add(m, clg_layer_conv2d_ex(filters, 3, 3, 1, 1, 1, CLG_ACT_LINEAR)) &&
           add(m, clg_layer_batch_normalization()) && add(m, clg_layer_activation(CLG_ACT_RELU));
}

static int add_encoder(clg_model *m) {
    return add_block(m, 32) && add(m, clg_layer_max_pooling2d(2, 2)) && add_block(m, 64) &&
           add(m, clg_layer_max_pooling2d(2, 2)) && add_block(m, C3) && add(m, clg_layer_global_average_pooling2d());
}

/* A model's weights exist after one call. */
static int build(clg_context *ctx, clg_model *m) {
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){1, 28, 28, 1}), *y = NULL;
    int ok = x && clg_model_call(m, (const clg_tensor *[]){x}, 0, &y) == CLG_OK;
    clg_tensor_free(x), clg_tensor_free(y);
    return ok;
}

/* Sets the batch normalisations' moving statistics of an untrained encoder
 * from pool images: forward passes in training mode, no gradients. */
static int estimate_bn(clg_context *ctx, clg_model *enc, const float *x) {
    clg_tensor *xb = clg_tensor_empty(ctx, CLG_FLOAT32, 4, (int64_t[]){BN_BATCH, 28, 28, 1});
    const int was = clg_grad_set_enabled(ctx, 0);
    int ok = xb != NULL;
    for (int s = 0; ok && s < BN_STEPS; s++) { /* the momentum 0.99 forgets the start after a few hundred */
        clg_tensor *z = NULL;
        const int64_t first = (int64_t)s * BN_BATCH % (POOL - BN_BATCH);
        ok = clg_tensor_write(xb, x + first * PIX, (size_t)BN_BATCH * PIX * sizeof *x) == CLG_OK &&
             clg_model_call(enc, (const clg_tensor *[]){xb}, 1, &z) == CLG_OK;
        clg_tensor_free(z);
    }
    clg_grad_set_enabled(ctx, was);
    clg_tensor_free(xb);
    return ok;
}

/* SimCLR pre-training of the encoder inside `full` (encoder + head) on the pool. */
static int pretrain(clg_context *ctx, clg_model *full, const float *x, const options *o) {
    clg_tensor *params[32];
    const int np = clg_model_weight_count(full, 1);
    if (np > (int)(sizeof params / sizeof *params)) return 0;
    for (int i = 0; i < np; i++) params[i] = clg_model_weight(full, 1, i);
    const int64_t steps = o->pretrain / BATCH;
    clg_optimizer *opt = clg_optimizer_adam(1e-3f, 0.9f, 0.999f, 1e-7f);
    int64_t *perm = malloc(POOL * sizeof *perm);
    float *views = malloc((size_t)2 * BATCH * PIX * sizeof *views);
    clg_tensor *xt = clg_tensor_empty(ctx, CLG_FLOAT32, 4, (int64_t[]){2 * BATCH, 28, 28, 1});
    int ok = opt && perm && views && xt && clg_optimizer_attach(opt, ctx, np, params) == CLG_OK;
    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 5;
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
            loss = ok ? clg_nt_xent(z, temperature) : NULL;
            ok = loss && clg_backward(loss, NULL) == CLG_OK && clg_optimizer_step(opt) == CLG_OK;
            float v = 0;
            if (ok && s % 20 == 0) ok = clg_tensor_to_host(loss, &v, sizeof v) == CLG_OK, total += v;
            clg_tensor_free(z), clg_tensor_free(loss);
        }
        if (ok && !o->quiet)
            printf("pre-training epoch %d/%d - %.0f s - NT-Xent %.4f\n", e + 1, o->epochs, cli_now() - t0,
                   total / (double)((steps + 19) / 20));
        fflush(stdout);
    }
    clg_optimizer_free(opt);
    clg_tensor_free(xt);
    free(perm), free(views);
    return ok;
}

/* Features [n, dim] of images through enc (inference mode). */
static int features(clg_model *enc, const float *x, int64_t n, int dim, float *out) {
    clg_host_array xa = {.data = x, .dtype = CLG_FLOAT32, .ndim = 4, .shape = {n, 28, 28, 1}};
    return clg_model_predict(enc, &xa, 500, out, (size_t)(n * dim)) == CLG_OK;
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

/* Chooses the probe's L2 and epochs on validation (draw 0), then reports test
 * accuracy over the draws. lab: the draws' labelled features [DRAWS * LABELLED,
 * dim] with labels ly; val [VAL, dim] with labels vy; test [tn, dim]. */
static int report(clg_context *ctx, const char *what, int dim, const float *lab, const int32_t *ly, const float *val,
                  const int32_t *vy, const float *test, const int32_t *ty, int64_t tn) {
    static const float l2s[] = {0.0f, 1e-3f, 1e-2f, 1e-1f};
    static const int epochs[] = {100, 300};
    double best = -1;
    float bl2 = 0;
    int be = 0;
    for (size_t a = 0; a < sizeof l2s / sizeof *l2s; a++)
        for (size_t b = 0; b < sizeof epochs / sizeof *epochs; b++) {
            const double acc = probe(ctx, lab, ly, LABELLED, val, vy, VAL, dim, l2s[a], epochs[b]);
            if (acc < 0) return 0;
            if (acc > best) best = acc, bl2 = l2s[a], be = epochs[b];
        }
    double acc[DRAWS], mean = 0, var = 0;
    for (int d = 0; d < DRAWS; d++) {
        acc[d] = probe(ctx, lab + (int64_t)d * LABELLED * dim, ly + d * LABELLED, LABELLED, test, ty, tn, dim, bl2, be);
        if (acc[d] < 0) return 0;
        mean += acc[d] / DRAWS;
    }
    for (int d = 0; d < DRAWS; d++) var += (acc[d] - mean) * (acc[d] - mean) / (DRAWS - 1);
    printf("%-28s test accuracy %.4f +- %.4f (draws:", what, mean, sqrt(var));
    for (int d = 0; d < DRAWS; d++) printf(" %.4f", acc[d]);
    printf("); chosen on validation: L2 %g, %d epochs (validation %.4f)\n", (double)bl2, be, best);
    fflush(stdout);
    return 1;
}

static int parse(int argc, char **argv, options *o) {
    *o = (options){.epochs = EPOCHS, .pretrain = POOL};
    static const char *const valued[] = {"--epochs", "--seed", "--pretrain-samples"};
    static const char *const switches[] = {"--quiet"};
    for (int i = 1; i < argc; i++) {
        const char *flag, *value;
        int r = cli_next(prog, argc, argv, &i, valued, 3, switches, 1, &flag, &value);
        if (r == CLI_HELP)
            printf("usage: %s [--epochs N] [--pretrain-samples N] [--seed S] [--quiet]\n"
                   "SimCLR pre-training on Fashion-MNIST (default %d epochs on %d images), then linear probes on 60\n"
                   "labels per class of the pre-trained encoder, the same encoder with random weights and the raw "
                   "pixels.\n--quiet leaves out the per-epoch lines.\n",
                   prog, EPOCHS, POOL);
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
    if (!cli_load_fashion_mnist(prog, "train", &x, &y, &n) || !cli_load_fashion_mnist(prog, "t10k", &tx, &ty, &tn))
        return 1;
    if (n < POOL + VAL) return fprintf(stderr, "%s: expected 60,000 training images\n", prog), 1;
    clg_context *ctx = cli_context(prog);
    if (!ctx) return 1;
    const double t0 = cli_now();
    /* the encoder, its random-weight twin and the pre-training model share one seed */
    clg_model *full = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
    clg_model *enc = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
    clg_model *rnd = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
    int ok = full && enc && rnd && add_encoder(full) && add_encoder(enc) && add_encoder(rnd) &&
             add(full, clg_layer_dense(HIDDEN, CLG_ACT_LINEAR)) && add(full, clg_layer_batch_normalization()) &&
             add(full, clg_layer_activation(CLG_ACT_RELU)) && add(full, clg_layer_dense(PROJ, CLG_ACT_LINEAR)) &&
             clg_model_set_seed(full, o.seed) == CLG_OK && clg_model_set_seed(rnd, o.seed) == CLG_OK &&
             build(ctx, full) && build(ctx, enc) && build(ctx, rnd);
    /* the random twin starts where pre-training starts: the encoder's initial weights */
    for (int i = 0; ok && i < clg_model_weight_count(rnd, 0); i++)
        ok = clg_tensor_assign(clg_model_weight(rnd, 0, i), clg_model_weight(full, 0, i)) == CLG_OK;
    if (!ok) return cli_fail(prog, "building the models");
    if (!estimate_bn(ctx, rnd, x)) return cli_fail(prog, "estimating the random encoder's batch-norm statistics");
    printf("SimCLR pre-training: %" PRId64 " images, batch %d (2 x %d views), %d epochs\n", o.pretrain, BATCH, BATCH,
           o.epochs);
    if (!pretrain(ctx, full, x, &o)) return cli_fail(prog, "pre-training");
    for (int i = 0; ok && i < clg_model_weight_count(enc, 0); i++)
        ok = clg_tensor_assign(clg_model_weight(enc, 0, i), clg_model_weight(full, 0, i)) == CLG_OK;
    const double pre_s = cli_now() - t0;
    printf("pre-training: %.0f s (%.1f min)\n", pre_s, pre_s / 60);
    /* the labelled images of every draw; features only for them, validation and test */
    const int64_t nl = (int64_t)DRAWS * LABELLED;
    float *lx = malloc((size_t)nl * PIX * sizeof *lx), *fl = malloc((size_t)nl * C3 * sizeof *fl);
    float *fv = malloc((size_t)VAL * C3 * sizeof *fv), *ft = malloc((size_t)tn * C3 * sizeof *ft);
    int32_t *ly = malloc((size_t)nl * sizeof *ly);
    int64_t pick[LABELLED];
    if (!ok || !lx || !fl || !fv || !ft || !ly) return cli_out_of_memory(prog, "features");
    for (int d = 0; ok && d < DRAWS; d++) {
        ok = draw(y, o.seed, d, pick);
        for (int i = 0; ok && i < LABELLED; i++) {
            memcpy(lx + ((int64_t)d * LABELLED + i) * PIX, x + pick[i] * PIX, PIX * sizeof *lx);
            ly[d * LABELLED + i] = y[pick[i]];
        }
    }
    if (!ok) return cli_fail(prog, "drawing the labelled images");
    printf("linear probes on %d labelled images (60 per class), %d draws:\n", LABELLED, DRAWS);
    clg_model *encs[2] = {enc, rnd};
    const char *names[2] = {"pre-trained encoder", "same encoder, random weights"};
    const float *vx = x + (int64_t)POOL * PIX;
    for (int k = 0; ok && k < 2; k++)
        ok = features(encs[k], lx, nl, C3, fl) && features(encs[k], vx, VAL, C3, fv) &&
             features(encs[k], tx, tn, C3, ft) && report(ctx, names[k], C3, fl, ly, fv, y + POOL, ft, ty, tn);
    ok = ok && report(ctx, "raw pixels", PIX, lx, ly, vx, y + POOL, tx, ty, tn);
    if (!ok) return cli_fail(prog, "the linear probes");
    const double total_s = cli_now() - t0;
    printf("total %.0f s (%.1f min)\n", total_s, total_s / 60);
    free(lx), free(fl), free(ly), free(fv), free(ft), free(x), free(y), free(tx), free(ty);
    clg_model_free(full), clg_model_free(enc), clg_model_free(rnd);
    clg_context_free(ctx);
    return 0;
}
