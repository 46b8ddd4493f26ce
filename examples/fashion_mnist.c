/* The Fashion-MNIST examples' shared program (see fashion_mnist.h): Keras's
 * defaults (Adam at 1e-3, batch size 32, pixels / 255, shuffled every epoch, no
 * augmentation, no validation split), then the test accuracy, the time per
 * epoch and the weights as safetensors.
 *
 * Data: the gzipped IDX files of the Debian package dataset-fashion-mnist
 * (installed by scripts/setup.sh) in /usr/share/datasets/fashion-mnist/. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fashion_mnist.h"

#define DATA_DIR "/usr/share/datasets/fashion-mnist"
#define DATA_PACKAGE "dataset-fashion-mnist"

static const char *prog = "fashion_mnist";

typedef struct options {
    int epochs, batch;
    uint64_t seed;
    int64_t train_samples; /* 0: all */
    const char *save;
    int quiet;
    double validation_split; /* > 0: model selection, the test set untouched */
    float dropout[2];
    int cosine; /* Adam's rate decays along a cosine to 0 over the fit */
} options;

static void usage(FILE *f, const fmnist_example *ex) {
    fprintf(f,
            "usage: %s [options]\n"
            "%s\n"
            "  --epochs N          epochs (default %d)\n"
            "  --batch N           batch size (default 32, as Keras)\n"
            "  --seed N            seed of the weights and the shuffling (default 0)\n"
            "  --train-samples N   train on the first N of the 60000 training images\n"
            "  --save PATH         the trained model (architecture, weights, training\n"
            "                      state) as safetensors, loadable by clg_model_load\n"
            "                      (default %s)\n"
            "  --quiet             one line per epoch (Keras's verbose=2)\n"
            "  --validation-split F  hold out the last fraction F of the training images\n"
            "                      (Keras's validation_split) and report validation\n"
            "                      accuracy per epoch; the test set is then not evaluated,\n"
            "                      so settings are chosen on validation data only\n"
            "  --lr-schedule S     Adam's learning rate: 'constant' 1e-3, or 'cosine'\n"
            "                      from 1e-3 to 0 over all steps of the fit (default %s)\n"
            "",
            ex->prog, ex->about, ex->epochs ? ex->epochs : 10, ex->save,
            ex->cosine ? "cosine" : "constant");
    if (ex->ndropout)
        fprintf(f, "  --dropout R1,R2     dropout rates (default %s)\n", ex->dropout_help);
    fprintf(f, "  -h, --help          this text\n"
               "Device: the best one, or what CLGRAD_DEVICE selects (see `clgrad devices`).\n"
               "Data: " DATA_DIR "/ (Debian package " DATA_PACKAGE ").\n");
}

/* 0: run, 1: -h (done), 2: bad command line. */
static int parse_args(const fmnist_example *ex, int argc, char **argv, options *o) {
    *o = (options){.epochs = ex->epochs ? ex->epochs : 10, .batch = 32, .seed = 0, .train_samples = 0, .save = ex->save, .quiet = 0};
    o->dropout[0] = ex->dropout[0];
    o->dropout[1] = ex->dropout[1];
    o->cosine = ex->cosine;
    /* --dropout last: examples without dropout rates leave it out */
    static const char *const valued[] = {"--epochs", "--batch", "--seed", "--train-samples", "--save",
                                         "--validation-split", "--lr-schedule", "--dropout"};
    static const char *const switches[] = {"--quiet"};
    for (int i = 1; i < argc; i++) {
        const char *flag, *value;
        int r = cli_next(prog, argc, argv, &i, valued, ex->ndropout ? 8 : 7, switches, 1, &flag, &value);
        if (r == CLI_HELP) usage(stdout, ex);
        if (r != CLI_FLAG) return r;
        long long v = 0;
        if (!strcmp(flag, "--quiet")) {
            o->quiet = 1;
        } else if (!strcmp(flag, "--save")) {
            if (!*value) {
                fprintf(stderr, "%s: --save needs a path\n", prog);
                return CLI_BAD;
            }
            o->save = value;
        } else if (!strcmp(flag, "--dropout")) {
            float rates[2] = {0, 0};
            int got = 0;
            const char *p = value;
            while (got < ex->ndropout) {
                char *end;
                double rate = strtod(p, &end);
                if (end == p || !(rate >= 0.0 && rate < 1.0)) break;
                rates[got++] = (float)rate;
                p = end;
                if (*p != ',') break;
                p++;
            }
            if (got != ex->ndropout || *p) {
                fprintf(stderr, "%s: --dropout '%s': %d rate%s in [0, 1) expected, separated by commas\n", prog,
                        value, ex->ndropout, ex->ndropout == 1 ? "" : "s");
                return CLI_BAD;
            }
            o->dropout[0] = rates[0];
            o->dropout[1] = rates[1];
        } else if (!strcmp(flag, "--lr-schedule")) {
            if (!strcmp(value, "constant") || !strcmp(value, "cosine")) {
                o->cosine = !strcmp(value, "cosine");
            } else {
                fprintf(stderr, "%s: --lr-schedule '%s': 'constant' or 'cosine' expected\n", prog, value);
                return CLI_BAD;
            }
        } else if (!strcmp(flag, "--validation-split")) {
            char *end;
            double f = strtod(value, &end);
            if (!*value || *end || !(f > 0.0 && f < 1.0)) {
                fprintf(stderr, "%s: --validation-split '%s' must be a fraction in (0, 1)\n", prog, value);
                return CLI_BAD;
            }
            o->validation_split = f;
        } else if (!strcmp(flag, "--epochs")) {
            if (!cli_int(prog, flag, value, 1, 100000, &v)) return CLI_BAD;
            o->epochs = (int)v;
        } else if (!strcmp(flag, "--batch")) {
            if (!cli_int(prog, flag, value, 1, 1 << 20, &v)) return CLI_BAD;
            o->batch = (int)v;
        } else if (!strcmp(flag, "--seed")) {
            if (!cli_int(prog, flag, value, 0, LLONG_MAX, &v)) return CLI_BAD;
            o->seed = (uint64_t)v;
        } else {
            if (!cli_int(prog, flag, value, 1, LLONG_MAX, &v)) return CLI_BAD;
            o->train_samples = v;
        }
    }
    return 0;
}

static int fail(const char *what) { return cli_fail(prog, what); }

/* Reads one images file and its labels file: x float32 [N,28,28,1] (pixels / 255,
 * NHWC as Keras), y int32 [N]. At most `limit` samples (0: all). */
static int load_split(const char *name, int64_t limit, float **x, int32_t **y, int64_t *n) {
    char ipath[512], lpath[512];
    snprintf(ipath, sizeof ipath, DATA_DIR "/%s-images-idx3-ubyte.gz", name);
    snprintf(lpath, sizeof lpath, DATA_DIR "/%s-labels-idx1-ubyte.gz", name);
    clg_idx *xi = NULL, *yi = NULL;
    int rc = 1;
    *x = NULL;
    *y = NULL;
    if (clg_idx_read(ipath, &xi) != CLG_OK || clg_idx_read(lpath, &yi) != CLG_OK) {
        if (clg_last_status() == CLG_STATUS_NOT_FOUND)
            fprintf(stderr,
                    "%s: %s\n%s: Fashion-MNIST is missing: install the Debian package " DATA_PACKAGE
                    " (scripts/setup.sh does: sudo apt-get install " DATA_PACKAGE ")\n",
                    prog, clg_last_error(), prog);
        else
            fail("reading Fashion-MNIST");
        goto done;
    }
    if (xi->rank != 3 || xi->dims[1] != 28 || xi->dims[2] != 28 || yi->rank != 1 ||
        yi->dims[0] != xi->dims[0]) {
        fprintf(stderr, "%s: %s, %s: expected [N,28,28] images and [N] labels\n", prog, ipath, lpath);
        goto done;
    }
    int64_t total = xi->dims[0];
    if (limit > total) {
        fprintf(stderr, "%s: --train-samples %" PRId64 ": the %s set has only %" PRId64 " samples\n", prog,
                limit, name, total);
        rc = 2;
        goto done;
    }
    int64_t count = limit > 0 ? limit : total;
    *x = malloc((size_t)xi->count * sizeof **x);
    *y = malloc((size_t)yi->count * sizeof **y);
    if (!*x || !*y) {
        fprintf(stderr, "%s: out of host memory reading %s\n", prog, ipath);
        goto done;
    }
    /* x_train / 255.0 */
    if (clg_idx_to_float32(xi, 1.0 / 255, *x, xi->count) != CLG_OK ||
        clg_idx_to_int32(yi, *y, yi->count) != CLG_OK) {
        fail("converting Fashion-MNIST");
        goto done;
    }
    *n = count; /* the first `count` samples: a prefix of the arrays */
    rc = 0;
done:
    if (rc) {
        free(*x);
        free(*y);
        *x = NULL;
        *y = NULL;
    }
    clg_idx_free(xi);
    clg_idx_free(yi);
    return rc;
}

static clg_host_array images(const float *x, int64_t n) {
    return (clg_host_array){.data = x, .dtype = CLG_FLOAT32, .ndim = 4, .shape = {n, 28, 28, 1}};
}

static clg_host_array labels(const int32_t *y, int64_t n) {
    return (clg_host_array){.data = y, .dtype = CLG_INT32, .ndim = 1, .shape = {n}};
}

int fmnist_main(const fmnist_example *ex, int argc, char **argv) {
    prog = ex->prog;
    options o;
    int parsed = parse_args(ex, argc, argv, &o);
    if (parsed == 1) return 0;
    if (parsed == 2) return 2;

    float *x_train = NULL, *x_test = NULL;
    int32_t *y_train = NULL, *y_test = NULL;
    int64_t n_train = 0, n_test = 0;
    clg_context *ctx = NULL;
    clg_model *model = NULL;
    clg_history *h = NULL;
    int rc = 1;

    /* (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data() */
    int lr = load_split("train", o.train_samples, &x_train, &y_train, &n_train);
    if (lr) {
        rc = lr;
        goto done;
    }
    if (load_split("t10k", 0, &x_test, &y_test, &n_test)) goto done;

    if (!(ctx = cli_context(prog))) goto done;
    /* Under mpirun every rank trains on its share of each batch; rank 0 alone
     * prints and saves (docs/distributed.md). */
    const int rank = clg_dist_rank();
    if (rank != 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "%s: rank %d: cannot silence stdout\n", prog, rank);
        goto done;
    }

    /* model = Sequential()  (input_shape=(28, 28, 1) goes here in C), then the layers */
    model = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
    if (!model) {
        rc = fail("Sequential");
        goto done;
    }
    if (ex->build(model, o.dropout) != CLG_OK) {
        rc = fail("model.add");
        goto done;
    }

    /* model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
     *               metrics=['accuracy'])
     * The seed is set first: compile draws the Glorot-uniform kernels from it. */
    if (clg_model_set_seed(model, o.seed) != CLG_OK ||
        clg_model_compile(model, "adam", "sparse_categorical_crossentropy", "accuracy") !=
            CLG_OK) {
        rc = fail("model.compile");
        goto done;
    }

    /* optionally: optimizer=Adam(CosineDecay(1e-3, decay_steps=epochs * steps per epoch)) */
    if (o.cosine) {
        int64_t n_fit = o.validation_split > 0 ? (int64_t)((double)n_train * (1.0 - o.validation_split))
                                               : n_train;
        int64_t steps = (int64_t)o.epochs * ((n_fit + o.batch - 1) / o.batch);
        if (clg_optimizer_set_schedule_cosine(clg_model_optimizer(model), steps > 0 ? steps : 1, 0.0f, 0,
                                              0.0f) != CLG_OK) {
            rc = fail("CosineDecay");
            goto done;
        }
    }

    /* model.summary() */
    if (clg_model_summary(model, stdout) != CLG_OK) {
        rc = fail("model.summary");
        goto done;
    }
    if (o.validation_split > 0)
        printf("Training on %" PRId64 " samples less the last %g for validation (the test set is not used)"
               "; batch %d, %d epoch%s, seed %" PRIu64 ", %s learning rate\n",
               n_train, o.validation_split, o.batch, o.epochs, o.epochs == 1 ? "" : "s", o.seed,
               o.cosine ? "cosine" : "constant");
    else
        printf("Training on %" PRId64 " samples, testing on %" PRId64
               "; batch %d, %d epoch%s, seed %" PRIu64 ", %s learning rate\n",
               n_train, n_test, o.batch, o.epochs, o.epochs == 1 ? "" : "s", o.seed,
               o.cosine ? "cosine" : "constant");
    fflush(stdout);

    /* model.fit(x_train, y_train, epochs=10)  (batch_size=32, shuffle=True: Keras's defaults) */
    clg_host_array xtr = images(x_train, n_train), ytr = labels(y_train, n_train);
    clg_fit_options fit = clg_fit_options_default();
    fit.epochs = o.epochs;
    fit.batch_size = o.batch;
    fit.verbose = o.quiet ? 2 : 1;
    fit.validation_split = (float)o.validation_split;
    h = clg_model_fit(model, &xtr, &ytr, &fit);
    if (!h) {
        rc = fail("model.fit");
        goto done;
    }
    if (o.validation_split > 0) { /* model selection: the test set stays unseen */
        printf("Final validation loss %.4f, accuracy %.4f (test set not evaluated)\n",
               (double)h->val_loss[h->epochs - 1], (double)h->val_accuracy[h->epochs - 1]);
        rc = 0;
        goto done;
    }

    /* test_loss, test_acc = model.evaluate(x_test, y_test) */
    clg_host_array xte = images(x_test, n_test), yte = labels(y_test, n_test);
    float test_loss = 0, test_acc = 0;
    if (clg_model_evaluate(model, &xte, &yte, o.batch, &test_loss, &test_acc) != CLG_OK) {
        rc = fail("model.evaluate");
        goto done;
    }

    cli_print_epoch_times(h);
    printf("Final training loss %.4f, accuracy %.4f\n", (double)h->loss[h->epochs - 1],
           (double)h->accuracy[h->epochs - 1]);
    printf("Test loss %.4f\n", (double)test_loss);
    printf("Test accuracy: %.4f\n", (double)test_acc);

    /* model.save(...): the whole model, which clg_model_load reads without this program */
    if (rank == 0 && clg_model_save(model, o.save) != CLG_OK) {
        rc = fail("saving the model");
        goto done;
    }
    printf("Model saved to %s\n", o.save);
    rc = 0;

done:
    clg_history_free(h);
    clg_model_free(model);
    clg_context_free(ctx);
    free(x_train);
    free(y_train);
    free(x_test);
    free(y_test);
    return rc;
}
