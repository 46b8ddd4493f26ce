/* `clgrad bench models`: whole models through the Keras-style API, training
 * (clg_model_fit) at batch 16, 64 and 128 and inference (clg_model_predict) at
 * those and 256.
 *
 * One run is `steps` batches of random data (fixed seed): for train one
 * clg_model_fit epoch over steps * batch samples without shuffling (the first
 * batch of each fit is captured as it runs, the others replay the capture, as
 * in any fit), for infer one clg_model_predict over the same samples. The
 * throughput is samples (tokens for token models) per second of the median
 * run. bench/peers/models.py defines the same models for PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { STEPS = 8, QUICK_STEPS = 2 };

typedef struct model_spec {
    const char *name;
    int ndim;            /* of one sample */
    int64_t shape[3];
    int vocab;           /* > 0: int32 token ids in [0, vocab), unit tokens/s */
    int classes;
    int per_step;        /* 1: a label per position ([n, T], a language model); 0: per sample */
    clg_status (*build)(clg_model *m); /* adds layers to a Sequential model ... */
    clg_model *(*make)(clg_context *ctx); /* ... or, when set, makes a functional model */
} model_spec;

/* Adds layers in order; every layer is taken, also after a failure. */
static clg_status add_all(clg_model *m, int n, clg_layer *const *layers) {
    clg_status st = CLG_OK;
    for (int i = 0; i < n; i++) {
        clg_status s = clg_model_add(m, layers[i]);
        if (st == CLG_OK) st = s;
    }
    return st;
}
#define ADD_ALL(m, ...)                                                   \
    add_all((m), (int)(sizeof((clg_layer *[]){__VA_ARGS__}) / sizeof(clg_layer *)), \
            (clg_layer *[]){__VA_ARGS__})

/* The seed example's model (issue 5): Conv2D 32 3x3, MaxPool 2, Dense 128, Dense 10. */
static clg_status build_seed_cnn(clg_model *m) {
    return ADD_ALL(m, clg_layer_conv2d(32, 3, 3, CLG_ACT_RELU), clg_layer_max_pooling2d(2, 2),
                   clg_layer_flatten(), clg_layer_dense(128, CLG_ACT_RELU), clg_layer_dense(10, CLG_ACT_SOFTMAX));
}

static clg_status build_mlp(clg_model *m) {
    return ADD_ALL(m, clg_layer_dense(512, CLG_ACT_RELU), clg_layer_dense(512, CLG_ACT_RELU),
                   clg_layer_dense(10, CLG_ACT_SOFTMAX));
}

static clg_status build_lenet5(clg_model *m) {
    return ADD_ALL(m, clg_layer_conv2d(6, 5, 5, CLG_ACT_RELU), clg_layer_max_pooling2d(2, 2),
                   clg_layer_conv2d(16, 5, 5, CLG_ACT_RELU), clg_layer_max_pooling2d(2, 2), clg_layer_flatten(),
                   clg_layer_dense(120, CLG_ACT_RELU), clg_layer_dense(84, CLG_ACT_RELU),
                   clg_layer_dense(10, CLG_ACT_SOFTMAX));
}

static clg_layer *same3(int filters) { return clg_layer_conv2d_ex(filters, 3, 3, 1, 1, 1, CLG_ACT_RELU); }

static clg_status build_vgg_small(clg_model *m) {
    return ADD_ALL(m, same3(32), same3(32), clg_layer_max_pooling2d(2, 2), same3(64), same3(64),
                   clg_layer_max_pooling2d(2, 2), same3(128), same3(128), clg_layer_max_pooling2d(2, 2),
                   clg_layer_flatten(), clg_layer_dense(256, CLG_ACT_RELU), clg_layer_dense(10, CLG_ACT_SOFTMAX));
}

static clg_status build_lstm_cls(clg_model *m) {
    return ADD_ALL(m, clg_layer_embedding(10000, 64), clg_layer_lstm(128, 0, 0), clg_layer_dense(2, CLG_ACT_SOFTMAX));
}

/* Next-token prediction: every position's output is a softmax over the vocabulary. */
static clg_status build_lstm_lm(clg_model *m) {
    return ADD_ALL(m, clg_layer_embedding(5000, 64), clg_layer_lstm(128, 1, 0),
                   clg_layer_dense(5000, CLG_ACT_SOFTMAX));
}

/* ResNet-20 for 32x32x3 (He et al. 2016, the CIFAR variant): a 3x3 conv with 16
 * filters, three stages of three basic blocks (16, 32, 64 filters; the first
 * block of stages 2 and 3 has stride 2 and a 1x1 projection shortcut), global
 * average pooling, Dense 10. A block: conv-BN-relu-conv-BN, add, relu. */
static clg_node *conv_bn(clg_node *x, int filters, int k, int stride, int relu) {
    x = clg_call(clg_layer_conv2d_ex(filters, k, k, stride, stride, 1, CLG_ACT_LINEAR), x);
    x = clg_call(clg_layer_batch_normalization(), x);
    return relu ? clg_call(clg_layer_activation(CLG_ACT_RELU), x) : x;
}

static clg_node *basic_block(clg_node *x, int filters, int stride) {
    clg_node *y = conv_bn(conv_bn(x, filters, 3, stride, 1), filters, 3, 1, 0);
    clg_node *shortcut = stride == 1 ? x : conv_bn(x, filters, 1, stride, 0);
    clg_node *sum = clg_call_n(clg_layer_add(), 2, (clg_node *[]){y, shortcut});
    return clg_call(clg_layer_activation(CLG_ACT_RELU), sum);
}

/* m with output x, or NULL (m freed) when a call on the way failed. */
static clg_model *with_output(clg_model *m, clg_node *x) {
    if (!x || clg_model_set_outputs(m, 1, &x) != CLG_OK) {
        clg_model_free(m);
        return NULL;
    }
    return m;
}

static clg_model *make_resnet20(clg_context *ctx) {
    clg_model *m = clg_model_new(ctx);
    if (!m) return NULL;
    clg_node *x = conv_bn(clg_model_input(m, 3, (int64_t[]){32, 32, 3}), 16, 3, 1, 1);
    const int filters[3] = {16, 32, 64};
    for (int stage = 0; stage < 3; stage++)
        for (int b = 0; b < 3; b++) x = basic_block(x, filters[stage], stage > 0 && b == 0 ? 2 : 1);
    x = clg_call(clg_layer_global_average_pooling2d(), x);
    x = clg_call(clg_layer_dense(10, CLG_ACT_SOFTMAX), x);
    return with_output(m, x);
}

/* A small causal transformer language model (examples/tiny_gpt.c's, with a
 * vocabulary of 1000): Embedding 1000x128 and learned positions, 2 pre-norm
 * blocks (4 heads of 32, ff 512, dropout 0.1), LayerNorm, Dense 1000 per step. */
static clg_model *make_gpt_lm(clg_context *ctx) {
    clg_model *m = clg_model_new(ctx);
    if (!m) return NULL;
    clg_node *x = clg_call(clg_layer_embedding(1000, 128), clg_model_input_indices(m, 1, (int64_t[]){100}));
    x = clg_call(clg_layer_position_embedding(100), x);
    for (int b = 0; b < 2; b++) x = clg_transformer_block(x, 4, 32, 512, 0.1f, 1);
    x = clg_call(clg_layer_layer_normalization(), x);
    x = clg_call(clg_layer_dense(1000, CLG_ACT_SOFTMAX), x);
    return with_output(m, x);
}

static const model_spec specs[] = {
    {"seed_cnn", 3, {28, 28, 1}, 0, 10, 0, build_seed_cnn, NULL},
    {"mlp", 1, {784}, 0, 10, 0, build_mlp, NULL},
    {"lenet5", 3, {32, 32, 3}, 0, 10, 0, build_lenet5, NULL},
    {"vgg_small", 3, {32, 32, 3}, 0, 10, 0, build_vgg_small, NULL},
    {"lstm_cls", 1, {100}, 10000, 2, 0, build_lstm_cls, NULL},
    {"lstm_lm", 1, {50}, 5000, 5000, 1, build_lstm_lm, NULL},
    {"resnet20", 3, {32, 32, 3}, 0, 10, 0, NULL, make_resnet20},
    {"gpt_lm", 1, {100}, 1000, 1000, 1, NULL, make_gpt_lm},
};

typedef struct model_state {
    clg_context *ctx;
    const model_spec *spec;
    clg_model *model;
    int train, steps;
    int64_t batch, n;
    void *x;     /* float32 or int32 [n, sample] */
    int32_t *y;  /* [n] or [n, T] labels */
    int64_t ny;  /* labels in y */
    float *out;  /* predictions [n, (T,) classes] */
    int64_t peak;
} model_state;

static void model_teardown(void *p) {
    model_state *s = p;
    if (!s) return;
    clg_model_free(s->model);
    free(s->x), free(s->y), free(s->out);
    free(s);
}

static int64_t sample_elems(const model_spec *m) {
    int64_t e = 1;
    for (int i = 0; i < m->ndim; i++) e *= m->shape[i];
    return e;
}

static clg_host_array xs_of(const model_state *s) {
    clg_host_array a = {s->x, s->spec->vocab ? CLG_INT32 : CLG_FLOAT32, s->spec->ndim + 1, {s->n}};
    memcpy(a.shape + 1, s->spec->shape, sizeof(int64_t) * (size_t)s->spec->ndim);
    return a;
}

static clg_host_array ys_of(const model_state *s) {
    if (s->spec->per_step) return (clg_host_array){s->y, CLG_INT32, 2, {s->n, s->spec->shape[0]}};
    return (clg_host_array){s->y, CLG_INT32, 1, {s->n}};
}

/* arg[0]: index in specs, arg[1]: train, arg[2]: steps. */
static void *model_setup(clg_context *ctx, const bench_case *c) {
    model_state *s = calloc(1, sizeof *s);
    if (!s) {
        bench_report_error(CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    const model_spec *m = &specs[c->arg[0]];
    s->ctx = ctx;
    s->spec = m;
    s->train = (int)c->arg[1];
    s->steps = (int)c->arg[2];
    s->batch = c->batch;
    s->n = s->batch * s->steps;
    int64_t e = sample_elems(m);
    s->x = malloc((size_t)(s->n * e) * 4);
    s->ny = m->per_step ? s->n * m->shape[0] : s->n;
    s->y = malloc((size_t)s->ny * sizeof *s->y);
    s->out = malloc((size_t)(s->ny * m->classes) * sizeof *s->out);
    if (!s->x || !s->y || !s->out) {
        model_teardown(s);
        bench_report_error(CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory for the data");
        return NULL;
    }
    uint64_t r = 0x9e3779b97f4a7c15ull; /* xorshift: the same data every time */
    for (int64_t i = 0; i < s->n * e; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        if (m->vocab) ((int32_t *)s->x)[i] = (int32_t)(r % (uint64_t)m->vocab);
        else ((float *)s->x)[i] = (float)(r >> 40) / (float)(1 << 24);
    }
    for (int64_t i = 0; i < s->ny; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        s->y[i] = (int32_t)(r % (uint64_t)m->classes);
    }
    clg_status st;
    if (m->make) {
        s->model = m->make(ctx);
        st = s->model ? CLG_OK : clg_last_status();
    } else {
        s->model = clg_sequential_new(ctx, m->ndim, m->shape);
        st = s->model ? m->build(s->model) : clg_last_status();
    }
    if (st == CLG_OK) st = clg_model_set_seed(s->model, 1);
    if (st == CLG_OK) st = clg_model_compile(s->model, "adam", "sparse_categorical_crossentropy", "accuracy");
    if (st != CLG_OK) {
        bench_report_error(st, clg_last_error());
        model_teardown(s);
        return NULL;
    }
    clg_context_reset_peak_memory(ctx);
    return s;
}

static clg_status model_run(void *p) {
    model_state *s = p;
    clg_host_array x = xs_of(s), y = ys_of(s);
    clg_status st;
    if (s->train) {
        clg_fit_options o = clg_fit_options_default();
        o.batch_size = (int)s->batch;
        o.verbose = 0;
        o.shuffle = 0;
        clg_history *h = clg_model_fit(s->model, &x, &y, &o);
        st = h ? CLG_OK : clg_last_status();
        clg_history_free(h);
    } else {
        st = clg_model_predict(s->model, &x, (int)s->batch, s->out, (size_t)(s->ny * s->spec->classes));
    }
    int64_t peak = (int64_t)clg_context_get_stats(s->ctx).peak_bytes_in_use;
    if (peak > s->peak) s->peak = peak;
    return st;
}

static void model_extra(void *p, bench_extra *out) {
    const model_state *s = p;
    out->peak_mem_bytes = s->peak;
    snprintf(out->note, sizeof out->note, "%d steps per run; %lld params", s->steps,
             (long long)clg_model_param_count(s->model));
}

void bench_suite_models(bench *b) {
    const int quick = bench_get_options(b)->quick;
    const int64_t batches[4] = {16, 64, 128, 256}; /* 256: inference only */
    const int steps = quick ? QUICK_STEPS : STEPS;
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        const model_spec *m = &specs[i];
        if (quick && strcmp(m->name, "seed_cnn") != 0 && strcmp(m->name, "mlp") != 0) continue;
        for (int train = 1; train >= 0; train--) {
            for (int k = 0; k < (train ? 3 : 4); k++) {
                if (quick && batches[k] != 16) continue;
                double per_sample = m->vocab ? (double)m->shape[0] : 1.0;
                bench_case c = bench_case_init(m->name, train ? "train" : "infer",
                                               m->vocab ? BENCH_TOKENS : BENCH_IMAGES,
                                               per_sample * (double)(batches[k] * steps));
                int64_t sh[4] = {batches[k]};
                memcpy(sh + 1, m->shape, sizeof(int64_t) * (size_t)m->ndim);
                bench_shape(c.shape, sizeof c.shape, m->ndim + 1, sh);
                c.batch = batches[k];
                c.steps = steps;
                c.arg[0] = (int64_t)i;
                c.arg[1] = train;
                c.arg[2] = steps;
                c.setup = model_setup;
                c.run = model_run;
                c.teardown = model_teardown;
                c.extra = model_extra;
                bench_add(b, &c);
            }
        }
    }
}
