/* Functional models and the layers they brought: a residual graph, a shared
 * layer on two inputs with Concatenate, the summary's "Connected to" column,
 * graph errors naming the layer, frozen layers, L2 penalties in the reported
 * loss, Embedding + Conv1D against a host forward, binary cross-entropy
 * with binary accuracy, and sample / class weights.
 * Host references are computed in double from the model's own weights;
 * tolerance 1e-5 relative + 1e-6 absolute (float32 sums of a few terms). */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_close(const float *got, const double *want, int n, const char *what) {
    for (int i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > 1e-6 + 1e-5 * fabs(want[i]))
            fail_msg("%s[%d]: got %.9g, want %.9g", what, i, (double)got[i], want[i]);
}

/* Host copy of weight `index` (all weights, layer order). */
static float *weight_host(clg_model *m, int index) {
    clg_tensor *w = clg_model_weight(m, 0, index);
    assert_non_null(w);
    size_t n = (size_t)clg_tensor_numel(w);
    float *h = malloc(n * sizeof *h + 1);
    assert_non_null(h);
    assert_int_equal(clg_tensor_to_host(w, h, n * sizeof *h), CLG_OK);
    return h;
}

/* y[o] = act(sum_i x[i] k[i, o] + b[o]) for one sample; act 1 = relu. */
static void dense_ref(const double *x, int in, const float *k, const float *b, int out, int relu, double *y) {
    for (int o = 0; o < out; o++) {
        double s = b[o];
        for (int i = 0; i < in; i++) s += x[i] * k[i * out + o];
        y[o] = relu && s < 0 ? 0 : s;
    }
}

enum { RN = 6, RF = 4, RH = 5 };

/* in -> dense(relu) -> dense -> add(with the first dense) -> dense(linear):
 * predictions equal the host forward of the same weights. */
static void test_residual_forward(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = clg_model_new(ctx);
    assert_non_null(m);
    clg_node *in = clg_model_input(m, 1, (int64_t[]){RF});
    clg_node *a = clg_call(clg_layer_dense(RH, CLG_ACT_RELU), in);
    clg_node *b = clg_call(clg_layer_dense(RH, CLG_ACT_LINEAR), a);
    clg_node *s = clg_call_n(clg_layer_add(), 2, (clg_node *[]){a, b});
    clg_node *o = clg_call(clg_layer_dense(2, CLG_ACT_LINEAR), s);
    assert_non_null(o);
    assert_int_equal(clg_model_set_outputs(m, 1, &o), CLG_OK);
    assert_int_equal(clg_model_compile(m, "sgd", "mse", NULL), CLG_OK);
    float x[RN * RF], out[RN * 2];
    clg_test_random_floats(x, RN * RF, 11);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){RN, RF});
    assert_int_equal(clg_model_predict(m, &xa, 4, out, RN * 2), CLG_OK);
    float *k0 = weight_host(m, 0), *b0 = weight_host(m, 1), *k1 = weight_host(m, 2), *b1 = weight_host(m, 3);
    float *k2 = weight_host(m, 4), *b2 = weight_host(m, 5);
    double want[RN * 2];
    for (int n = 0; n < RN; n++) {
        double xs[RF], h1[RH], h2[RH];
        for (int i = 0; i < RF; i++) xs[i] = x[n * RF + i];
        dense_ref(xs, RF, k0, b0, RH, 1, h1);
        dense_ref(h1, RH, k1, b1, RH, 0, h2);
        for (int i = 0; i < RH; i++) h2[i] += h1[i];
        dense_ref(h2, RH, k2, b2, 2, 0, want + n * 2);
    }
    expect_close(out, want, RN * 2, "residual prediction");
    free(k0), free(b0), free(k1), free(b1), free(k2), free(b2);
    clg_model_free(m);
}

/* One Dense shared by two inputs, concatenated: one set of weights, the output
 * of clg_model_call matches the host, and the shared kernel's gradient is the
 * sum over both applications (d/dk of sum(out) = x1 + x2 summed over samples). */
static void test_shared_layer_concat(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = clg_model_new(ctx);
    clg_node *in1 = clg_model_input(m, 1, (int64_t[]){3});
    clg_node *in2 = clg_model_input(m, 1, (int64_t[]){3});
    clg_layer *shared = clg_layer_dense(2, CLG_ACT_LINEAR);
    clg_node *a = clg_call(shared, in1), *b = clg_call(shared, in2);
    clg_node *c = clg_call_n(clg_layer_concatenate(-1), 2, (clg_node *[]){a, b});
    assert_non_null(c);
    assert_int_equal(clg_model_set_outputs(m, 1, &c), CLG_OK);
    assert_int_equal(clg_model_weight_count(m, 0), 2);
    assert_int_equal(clg_model_param_count(m), 8);
    assert_ptr_equal(clg_model_get_layer(m, "dense"), shared);
    assert_string_equal(clg_layer_name(shared), "dense");

    float x1[2 * 3], x2[2 * 3];
    clg_test_random_floats(x1, 6, 21), clg_test_random_floats(x2, 6, 22);
    clg_tensor *t1 = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 3}, x1);
    clg_tensor *t2 = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 3}, x2);
    assert_non_null(t1), assert_non_null(t2);
    clg_tensor *out = NULL;
    assert_int_equal(clg_model_call(m, (const clg_tensor *[]){t1, t2}, 1, &out), CLG_OK);
    assert_int_equal(clg_tensor_ndim(out), 2);
    assert_int_equal(clg_tensor_shape(out)[1], 4);
    float got[8];
    assert_int_equal(clg_tensor_to_host(out, got, sizeof got), CLG_OK);
    float *k = weight_host(m, 0), *bias = weight_host(m, 1);
    double want[8];
    for (int n = 0; n < 2; n++) {
        double a1[3], a2[3];
        for (int i = 0; i < 3; i++) a1[i] = x1[n * 3 + i], a2[i] = x2[n * 3 + i];
        dense_ref(a1, 3, k, bias, 2, 0, want + n * 4);
        dense_ref(a2, 3, k, bias, 2, 0, want + n * 4 + 2);
    }
    expect_close(got, want, 8, "shared dense + concatenate");

    clg_tensor *sum = clg_sum(out, 0, NULL, 0);
    assert_int_equal(clg_backward(sum, NULL), CLG_OK);
    const clg_tensor *g = clg_tensor_grad(clg_model_weight(m, 0, 0));
    assert_non_null(g);
    float gk[6];
    assert_int_equal(clg_tensor_to_host(g, gk, sizeof gk), CLG_OK);
    double wg[6];
    for (int i = 0; i < 3; i++)
        for (int o = 0; o < 2; o++) wg[i * 2 + o] = (double)x1[i] + x1[3 + i] + x2[i] + x2[3 + i];
    expect_close(gk, wg, 6, "shared kernel gradient");
    clg_tensor_free(sum), clg_tensor_free(out), clg_tensor_free(t1), clg_tensor_free(t2);
    free(k), free(bias);
    clg_model_free(m);
}

static void test_functional_summary(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = clg_model_new(ctx);
    clg_node *in = clg_model_input(m, 1, (int64_t[]){4});
    clg_node *a = clg_call(clg_layer_dense(3, CLG_ACT_RELU), in);
    clg_node *b = clg_call(clg_layer_dense(3, CLG_ACT_RELU), in);
    clg_node *s = clg_call_n(clg_layer_add(), 2, (clg_node *[]){a, b});
    assert_int_equal(clg_model_set_outputs(m, 1, &s), CLG_OK);
    assert_int_equal(clg_layer_set_trainable(clg_model_get_layer(m, "dense_1"), 0), CLG_OK);
    char *t = clg_test_summary_text(m);
    const char *want[] = {"Model: \"functional\"", "Connected to", "input_layer (InputLayer)", "[(None, 4)]",
                          "dense (Dense)", "['input_layer[0][0]']", "dense_1 (Dense)", "add (Add)",
                          "['dense[0][0]'", "'dense_1[0][0]'", "Total params: 30", "Trainable params: 15",
                          "Non-trainable params: 15"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(t, want[i])) fail_msg("summary lacks \"%s\":\n%s", want[i], t);
    free(t);
    clg_model_free(m);
}

static void test_graph_errors(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = clg_model_new(ctx), *other = clg_model_new(ctx);
    clg_node *in = clg_model_input(m, 1, (int64_t[]){4});
    clg_node *oin = clg_model_input(other, 3, (int64_t[]){4, 4, 1});
    /* a NULL input (an earlier failure) fails the call and frees the new layer */
    CLG_EXPECT_ERROR(clg_call(clg_layer_dense(2, CLG_ACT_LINEAR), NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_call", "NULL");
    CLG_EXPECT_ERROR(clg_call(NULL, in) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_call", "layer is NULL");
    /* a shape error names the layer; the layer stays owned, so it can be called again */
    clg_layer *conv = clg_layer_conv2d(2, 3, 3, CLG_ACT_RELU);
    CLG_EXPECT_ERROR(clg_call(conv, in) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_call", "conv2d", "(None, 4)");
    CLG_EXPECT_ERROR(clg_call(conv, oin) == NULL, CLG_STATUS_INVALID_ARGUMENT, "another model");
    clg_node *a = clg_call(clg_layer_dense(3, CLG_ACT_LINEAR), in);
    clg_node *b = clg_call(clg_layer_dense(2, CLG_ACT_LINEAR), in);
    CLG_EXPECT_ERROR(clg_call_n(clg_layer_add(), 2, (clg_node *[]){a, b}) == NULL, CLG_STATUS_SHAPE_MISMATCH,
                     "add", "(None, 2)", "(None, 3)");
    CLG_EXPECT_ERROR(clg_call(clg_layer_add(), a) == NULL, CLG_STATUS_INVALID_ARGUMENT, "add", "2 or more");
    CLG_EXPECT_ERROR(clg_call(clg_layer_embedding(5, 2), a) == NULL, CLG_STATUS_INVALID_ARGUMENT, "embedding",
                     "int32");
    CLG_EXPECT_ERROR(clg_layer_concatenate(0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "batch axis");
    clg_model *seq = clg_sequential_new(ctx, 1, (int64_t[]){2});
    CLG_EXPECT_ERROR(clg_model_input(seq, 1, (int64_t[]){2}) == NULL, CLG_STATUS_INVALID_ARGUMENT, "Sequential");
    clg_model_free(seq);
    /* two outputs: compile refuses and points at clg_model_call */
    assert_int_equal(clg_model_set_outputs(m, 2, (clg_node *[]){a, b}), CLG_OK);
    CLG_EXPECT_ERROR(clg_model_compile(m, "adam", "mse", NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_model_compile", "clg_model_call");
    CLG_EXPECT_ERROR(clg_model_add(m, clg_layer_flatten()) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "functional");
    clg_layer *flat = clg_layer_flatten();
    CLG_EXPECT_ERROR(clg_layer_set_l2(flat, 0.01f) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "no kernel");
    clg_layer_free(flat);
    clg_model_free(m);
    clg_model_free(other);
}

/* A frozen layer keeps its weights through fit; the rest train. */
static void test_frozen_layer(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){RF});
    clg_layer *first = clg_layer_dense(RH, CLG_ACT_RELU);
    assert_int_equal(clg_model_add(m, first), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(2, CLG_ACT_LINEAR)), CLG_OK);
    assert_int_equal(clg_layer_set_trainable(first, 0), CLG_OK);
    assert_int_equal(clg_layer_trainable(first), 0);
    assert_int_equal(clg_model_compile(m, "sgd", "mse", NULL), CLG_OK);
    assert_int_equal(clg_model_weight_count(m, 1), 2);
    float x[RN * RF], y[RN * 2];
    clg_test_random_floats(x, RN * RF, 5), clg_test_random_floats(y, RN * 2, 6);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){RN, RF}), ya = clg_test_host_array(y, CLG_FLOAT32, 2, (int64_t[]){RN, 2});
    float *k0 = weight_host(m, 0), *k1 = weight_host(m, 2);
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 3, o.verbose = 0, o.batch_size = 3;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    assert_non_null(h);
    clg_history_free(h);
    float *k0b = weight_host(m, 0), *k1b = weight_host(m, 2);
    assert_memory_equal(k0, k0b, RF * RH * sizeof(float));
    assert_true(memcmp(k1, k1b, RH * 2 * sizeof(float)) != 0);
    free(k0), free(k1), free(k0b), free(k1b);
    clg_model_free(m);
}

/* evaluate's loss includes l2 * sum(kernel^2), as Keras's regularisation losses. */
static void test_l2_penalty(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){RF});
    clg_layer *d = clg_layer_dense(2, CLG_ACT_LINEAR);
    assert_int_equal(clg_model_add(m, d), CLG_OK);
    assert_int_equal(clg_model_compile(m, "sgd", "mse", NULL), CLG_OK);
    float x[RN * RF], y[RN * 2];
    clg_test_random_floats(x, RN * RF, 8), clg_test_random_floats(y, RN * 2, 9);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){RN, RF}), ya = clg_test_host_array(y, CLG_FLOAT32, 2, (int64_t[]){RN, 2});
    float plain, reg;
    assert_int_equal(clg_model_evaluate(m, &xa, &ya, RN, &plain, NULL), CLG_OK);
    assert_int_equal(clg_layer_set_l2(d, 0.25f), CLG_OK);
    assert_int_equal(clg_model_evaluate(m, &xa, &ya, RN, &reg, NULL), CLG_OK);
    float *k = weight_host(m, 0);
    double pen = 0;
    for (int i = 0; i < RF * 2; i++) pen += 0.25 * k[i] * k[i];
    double want = plain + pen;
    expect_close(&reg, &want, 1, "loss with L2");
    free(k);
    clg_model_free(m);
}

enum { ET = 6, EV = 10, ED = 3, EF = 2, EK = 3 };

/* Embedding(10, 3) on int32 tokens -> Conv1D(2, 3) -> Flatten -> Dense(1):
 * predictions equal the host forward with the documented layouts
 * (embeddings [V, D], Conv1D kernel [filters, channels, K]). */
static void test_embedding_conv1d(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){ET});
    assert_int_equal(clg_model_add(m, clg_layer_embedding(EV, ED)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_conv1d(EF, EK, 1, 0, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_flatten()), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(1, CLG_ACT_LINEAR)), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "mse", NULL), CLG_OK);
    int32_t tok[2 * ET] = {0, 3, 9, 1, 1, 4, 7, 2, 2, 8, 5, 0};
    float fx[2 * ET] = {0};
    clg_host_array xa = clg_test_host_array(tok, CLG_INT32, 2, (int64_t[]){2, ET});
    clg_host_array bad = clg_test_host_array(fx, CLG_FLOAT32, 2, (int64_t[]){2, ET});
    float out[2];
    CLG_EXPECT_ERROR(clg_model_predict(m, &bad, 2, out, 2) != CLG_OK, CLG_STATUS_SHAPE_MISMATCH, "int32");
    assert_int_equal(clg_model_predict(m, &xa, 2, out, 2), CLG_OK);
    float *emb = weight_host(m, 0), *ck = weight_host(m, 1), *cb = weight_host(m, 2);
    float *dk = weight_host(m, 3), *db = weight_host(m, 4);
    for (int i = 0; i < EV * ED; i++) assert_true(fabsf(emb[i]) <= 0.05f);
    const int L = ET - EK + 1;
    double want[2];
    for (int n = 0; n < 2; n++) {
        double flat[(ET - EK + 1) * EF];
        for (int t = 0; t < L; t++)
            for (int f = 0; f < EF; f++) {
                double s = cb[f];
                for (int c = 0; c < ED; c++)
                    for (int q = 0; q < EK; q++) s += emb[tok[n * ET + t + q] * ED + c] * ck[(f * ED + c) * EK + q];
                flat[t * EF + f] = s > 0 ? s : 0;
            }
        dense_ref(flat, L * EF, dk, db, 1, 0, want + n);
    }
    expect_close(out, want, 2, "embedding + conv1d");
    free(emb), free(ck), free(cb), free(dk), free(db);
    clg_model_free(m);
}

/* A logistic regression on separable data: binary_crossentropy trains it to
 * binary accuracy 1, and evaluate's accuracy is the host threshold count. */
static void test_binary_crossentropy(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 16 };
    float x[N * 2], y[N];
    clg_test_random_floats(x, N * 2, 31);
    for (int i = 0; i < N; i++) y[i] = x[2 * i] + 0.5f * x[2 * i + 1] > 0 ? 1.0f : 0.0f;
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){2});
    assert_int_equal(clg_model_add(m, clg_layer_dense(1, CLG_ACT_SIGMOID)), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "binary_crossentropy", "accuracy"), CLG_OK);
    assert_int_equal(clg_model_set_learning_rate(m, 0.1f), CLG_OK);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){N, 2}), ya = clg_test_host_array(y, CLG_FLOAT32, 2, (int64_t[]){N, 1});
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 60, o.verbose = 0, o.batch_size = 8;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    assert_non_null(h);
    assert_true(h->loss[59] < h->loss[0]);
    clg_history_free(h);
    float p[N], loss, acc;
    assert_int_equal(clg_model_predict(m, &xa, N, p, N), CLG_OK);
    assert_int_equal(clg_model_evaluate(m, &xa, &ya, N, &loss, &acc), CLG_OK);
    int right = 0;
    for (int i = 0; i < N; i++) right += (p[i] > 0.5f) == (y[i] > 0.5f);
    assert_float_equal(acc, (float)right / N, 1e-6);
    assert_float_equal(acc, 1.0f, 1e-6);
    clg_model_free(m);
}

enum { WN = 12, WF = 3, WC = 3 };

static clg_model *weighted_model(clg_context *ctx, const char *opt) {
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){WF});
    assert_int_equal(clg_model_add(m, clg_layer_dense(WC, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_set_seed(m, 4), CLG_OK);
    assert_int_equal(clg_model_compile(m, opt, "sparse_categorical_crossentropy", NULL), CLG_OK);
    return m;
}

static float fit_loss(clg_model *m, const clg_host_array *xa, const clg_host_array *ya, const float *sw,
                      const float *cw, int ncw, int epochs) {
    clg_fit_options o = clg_fit_options_default();
    o.epochs = epochs, o.verbose = 0, o.batch_size = 5; /* 5 + 5 + a partial 2: both paths */
    o.sample_weight = sw, o.class_weight = cw, o.num_class_weights = ncw;
    clg_history *h = clg_model_fit(m, xa, ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    float l = h->loss[h->epochs - 1];
    clg_history_free(h);
    return l;
}

/* With the weights frozen (SGD at learning rate 0), the epoch loss is
 * sum(w_i l_i) / n with Keras's per-sample loss on clipped probabilities; unit
 * weights give the unweighted loss. */
static void test_sample_weight_loss(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[WN * WF], sw[WN], ones[WN], p[WN * WC];
    int32_t y[WN];
    clg_test_random_floats(x, WN * WF, 41);
    clg_test_random_floats(sw, WN, 42);
    for (int i = 0; i < WN; i++) y[i] = (i * 7) % WC, sw[i] = 1.0f + sw[i], ones[i] = 1.0f;
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){WN, WF}), ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){WN});
    clg_model *m = weighted_model(ctx, "sgd");
    assert_int_equal(clg_model_set_learning_rate(m, 0.0f), CLG_OK);
    float plain = fit_loss(m, &xa, &ya, NULL, NULL, 0, 1);
    float unit = fit_loss(m, &xa, &ya, ones, NULL, 0, 1);
    float weighted = fit_loss(m, &xa, &ya, sw, NULL, 0, 1);
    assert_int_equal(clg_model_predict(m, &xa, WN, p, WN * WC), CLG_OK);
    double ref = 0;
    for (int i = 0; i < WN; i++) {
        double sum = 0, py = 0;
        for (int c = 0; c < WC; c++) {
            double q = fmin(fmax(p[i * WC + c], 1e-7), 1 - 1e-7);
            sum += q;
            if (c == y[i]) py = q;
        }
        ref += sw[i] * (-log(py) + log(sum));
    }
    ref /= WN;
    double dplain = plain;
    expect_close(&unit, &dplain, 1, "unit sample weights");
    expect_close(&weighted, &ref, 1, "weighted loss");
    clg_model_free(m);
}

/* class_weight w[c] trains exactly as sample_weight w[y_i]. */
static void test_class_weight_equals_sample_weight(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[WN * WF], sw[WN];
    const float cw[WC] = {0.5f, 2.0f, 1.25f};
    int32_t y[WN];
    clg_test_random_floats(x, WN * WF, 43);
    for (int i = 0; i < WN; i++) y[i] = (i * 5) % WC, sw[i] = cw[y[i]];
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){WN, WF}), ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){WN});
    clg_model *a = weighted_model(ctx, "adam"), *b = weighted_model(ctx, "adam");
    float la = fit_loss(a, &xa, &ya, sw, NULL, 0, 3), lb = fit_loss(b, &xa, &ya, NULL, cw, WC, 3);
    assert_memory_equal(&la, &lb, sizeof la);
    float *ka = weight_host(a, 0), *kb = weight_host(b, 0);
    assert_memory_equal(ka, kb, WF * WC * sizeof(float));
    free(ka), free(kb);

    clg_fit_options o = clg_fit_options_default();
    o.verbose = 0, o.sample_weight = sw, o.class_weight = cw, o.num_class_weights = WC;
    CLG_EXPECT_ERROR(clg_model_fit(a, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "not both");
    o.sample_weight = NULL, o.num_class_weights = 2;
    CLG_EXPECT_ERROR(clg_model_fit(a, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "class 2",
                     "0..1");
    sw[3] = -1.0f;
    o.class_weight = NULL, o.sample_weight = sw;
    CLG_EXPECT_ERROR(clg_model_fit(a, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "sample 3");
    clg_model_free(a), clg_model_free(b);
}

/* Same seed, same data: two fits (dropout, batch norm, shuffling, a conv) give
 * the same history and weights, bit for bit. */
static void test_same_seed_same_bits(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 10 };
    float x[N * 6 * 6], y[N * 2];
    clg_test_random_floats(x, N * 36, 51), clg_test_random_floats(y, N * 2, 52);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 4, (int64_t[]){N, 6, 6, 1}), ya = clg_test_host_array(y, CLG_FLOAT32, 2, (int64_t[]){N, 2});
    float loss[2], *k[2];
    for (int r = 0; r < 2; r++) {
        clg_model *m = clg_sequential_new(ctx, 3, (int64_t[]){6, 6, 1});
        assert_int_equal(clg_model_add(m, clg_layer_conv2d(3, 3, 3, CLG_ACT_RELU)), CLG_OK);
        assert_int_equal(clg_model_add(m, clg_layer_batch_normalization()), CLG_OK);
        assert_int_equal(clg_model_add(m, clg_layer_flatten()), CLG_OK);
        assert_int_equal(clg_model_add(m, clg_layer_dropout(0.3f)), CLG_OK);
        assert_int_equal(clg_model_add(m, clg_layer_dense(2, CLG_ACT_LINEAR)), CLG_OK);
        assert_int_equal(clg_model_set_seed(m, 77), CLG_OK);
        assert_int_equal(clg_model_compile(m, "adam", "mse", NULL), CLG_OK);
        loss[r] = fit_loss(m, &xa, &ya, NULL, NULL, 0, 2);
        k[r] = weight_host(m, 0);
        clg_model_free(m);
    }
    assert_memory_equal(&loss[0], &loss[1], sizeof loss[0]);
    assert_memory_equal(k[0], k[1], 3 * 9 * sizeof(float));
    free(k[0]), free(k[1]);
}

enum { QN = 3, QT = 5, QF = 2, QH = 4 };

/* Recurrent layers: Keras's initialisers (orthogonal recurrent kernels, the
 * LSTM's forget bias 1, Glorot kernels), and predict equal to the operation on
 * the same weights (the operations are checked against host references and
 * finite differences in test_rnn), for the last step and whole sequences,
 * forwards and backwards. */
static void test_recurrent_layers(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[QN * QT * QF];
    clg_test_random_floats(x, QN * QT * QF, 61);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 3, (int64_t[]){QN, QT, QF});
    clg_tensor *xt = clg_tensor_from_host(ctx, CLG_FLOAT32, 3, (int64_t[]){QN, QT, QF}, x);
    assert_non_null(xt);
    for (int kind = 0; kind < 3; kind++)
        for (int variant = 0; variant < 2; variant++) {
            const int g = kind == 1 ? 4 : kind == 2 ? 3 : 1, seqs = variant, back = variant;
            clg_model *m = clg_sequential_new(ctx, 2, (int64_t[]){QT, QF});
            clg_layer *l = kind == 1 ? clg_layer_lstm(QH, seqs, back)
                           : kind == 2 ? clg_layer_gru(QH, seqs, back) : clg_layer_simple_rnn(QH, seqs, back);
            assert_int_equal(clg_model_add(m, l), CLG_OK);
            assert_int_equal(clg_model_compile(m, "adam", "mse", NULL), CLG_OK);
            float *k = weight_host(m, 0), *rk = weight_host(m, 1), *b = weight_host(m, 2);
            /* rows of the recurrent kernel [H, G*H] are orthonormal */
            for (int i = 0; i < QH; i++)
                for (int j = 0; j < QH; j++) {
                    double dot = 0;
                    for (int c = 0; c < g * QH; c++) dot += (double)rk[i * g * QH + c] * rk[j * g * QH + c];
                    if (fabs(dot - (i == j)) > 1e-5) fail_msg("kind %d: recurrent rows %d.%d dot %g", kind, i, j, dot);
                }
            const float lim = sqrtf(6.0f / (float)(QF + g * QH));
            for (int i = 0; i < QF * g * QH; i++) assert_true(fabsf(k[i]) <= lim);
            for (int i = 0; i < g * QH * (kind == 2 ? 2 : 1); i++)
                assert_true(b[i] == (kind == 1 && i >= QH && i < 2 * QH ? 1.0f : 0.0f));
            const int orow = seqs ? QT * QH : QH;
            float got[QN * QT * QH];
            assert_int_equal(clg_model_predict(m, &xa, QN, got, (size_t)(QN * orow)), CLG_OK);
            clg_tensor *w[3] = {clg_model_weight(m, 0, 0), clg_model_weight(m, 0, 1), clg_model_weight(m, 0, 2)};
            clg_tensor *seq = kind == 1 ? clg_lstm(xt, w[0], w[1], w[2], NULL, NULL, NULL, back, NULL, NULL)
                              : kind == 2 ? clg_gru(xt, w[0], w[1], w[2], NULL, NULL, back, NULL)
                                          : clg_simple_rnn(xt, w[0], w[1], w[2], NULL, NULL, back, NULL);
            assert_non_null(seq);
            float ref[QN * QT * QH];
            assert_int_equal(clg_tensor_to_host(seq, ref, sizeof ref), CLG_OK);
            for (int n = 0; n < QN; n++)
                for (int i = 0; i < orow; i++) {
                    float want = seqs ? ref[n * QT * QH + i] : ref[n * QT * QH + (QT - 1) * QH + i];
                    if (got[n * orow + i] != want)
                        fail_msg("kind %d variant %d: [%d][%d] %g vs %g", kind, variant, n, i, (double)got[n * orow + i],
                                 (double)want);
                }
            clg_tensor_free(seq);
            free(k), free(rk), free(b);
            clg_model_free(m);
        }
    clg_tensor_free(xt);
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){QF});
    CLG_EXPECT_ERROR(clg_model_add(m, clg_layer_lstm(QH, 0, 0)) != CLG_OK, CLG_STATUS_SHAPE_MISMATCH, "lstm",
                     "(None, timesteps, features)");
    CLG_EXPECT_ERROR(clg_layer_gru(0, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_layer_gru", "units 0");
    clg_model_free(m);
}

/* An LSTM learns which half of a sequence holds a spike (a tiny temporal
 * task): the loss falls well below its start. */
static void test_lstm_trains(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 16, T = 6 };
    float x[N * T];
    int32_t y[N];
    for (int n = 0; n < N; n++) {
        for (int t = 0; t < T; t++) x[n * T + t] = 0.0f;
        int at = (n * 5) % T;
        x[n * T + at] = 1.0f;
        y[n] = at >= T / 2;
    }
    clg_model *m = clg_sequential_new(ctx, 2, (int64_t[]){T, 1});
    assert_int_equal(clg_model_add(m, clg_layer_lstm(8, 0, 0)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(2, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    assert_int_equal(clg_model_set_learning_rate(m, 0.02f), CLG_OK);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 3, (int64_t[]){N, T, 1}), ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){N});
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 40, o.verbose = 0, o.batch_size = 8;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    if (!(h->loss[39] < 0.5f * h->loss[0])) fail_msg("loss %g -> %g", (double)h->loss[0], (double)h->loss[39]);
    clg_history_free(h);
    clg_model_free(m);
}

/* Embedding(mask_zero) + LSTM: a batch of sequences padded with id 0, 'pre' or
 * 'post', gives for each the LSTM's final output on the unpadded sequence
 * alone (masked steps carry the state over). */
static void test_masked_lstm(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { T = 6, V = 9, D = 3, H = 4 };
    const int32_t a[] = {3, 5, 2}, b[] = {4, 1, 2, 6, 7};
    const int la = 3, lb = 5;
    for (int post = 0; post < 2; post++) {
        clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){T});
        assert_int_equal(clg_model_add(m, clg_layer_embedding_ex(V, D, 1)), CLG_OK);
        assert_int_equal(clg_model_add(m, clg_layer_dropout(0.5f)), CLG_OK); /* passes the mask on */
        assert_int_equal(clg_model_add(m, clg_layer_lstm(H, 0, 0)), CLG_OK);
        assert_int_equal(clg_model_compile(m, "adam", "mse", NULL), CLG_OK);
        int32_t ids[2 * T] = {0};
        for (int i = 0; i < la; i++) ids[(post ? 0 : T - la) + i] = a[i];
        for (int i = 0; i < lb; i++) ids[T + (post ? 0 : T - lb) + i] = b[i];
        clg_host_array xa = clg_test_host_array(ids, CLG_INT32, 2, (int64_t[]){2, T});
        float got[2 * H];
        assert_int_equal(clg_model_predict(m, &xa, 2, got, 2 * H), CLG_OK);
        clg_tensor *w[4];
        for (int i = 0; i < 4; i++) w[i] = clg_model_weight(m, 0, i);
        for (int r = 0; r < 2; r++) {
            const int len = r ? lb : la;
            clg_tensor *t = clg_tensor_from_host(ctx, CLG_INT32, 2, (int64_t[]){1, len}, r ? b : a);
            clg_tensor *e = clg_embedding(w[0], t), *h_last = NULL;
            clg_tensor *seq = clg_lstm(e, w[1], w[2], w[3], NULL, NULL, NULL, 0, &h_last, NULL);
            assert_non_null(seq), assert_non_null(h_last);
            float want[H];
            assert_int_equal(clg_tensor_to_host(h_last, want, sizeof want), CLG_OK);
            for (int i = 0; i < H; i++)
                if (fabsf(got[r * H + i] - want[i]) > 1e-6f)
                    fail_msg("%s padding, row %d [%d]: %g vs %g", post ? "post" : "pre", r, i,
                             (double)got[r * H + i], (double)want[i]);
            clg_tensor_free(t), clg_tensor_free(e), clg_tensor_free(seq), clg_tensor_free(h_last);
        }
        clg_model_free(m);
    }
}

/* Bidirectional(GRU / LSTM): the forward copy's output next to the backward
 * copy's (time reversed, then put back in time order), with and without
 * return_sequences; the backward weights are drawn apart from the forward ones. */
static void test_bidirectional(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[QN * QT * QF];
    clg_test_random_floats(x, QN * QT * QF, 71);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 3, (int64_t[]){QN, QT, QF});
    clg_tensor *xt = clg_tensor_from_host(ctx, CLG_FLOAT32, 3, (int64_t[]){QN, QT, QF}, x);
    for (int seqs = 0; seqs < 2; seqs++) {
        const int lstm = seqs; /* GRU for the last step, LSTM for whole sequences */
        clg_model *m = clg_sequential_new(ctx, 2, (int64_t[]){QT, QF});
        clg_layer *cell = lstm ? clg_layer_lstm(QH, seqs, 0) : clg_layer_gru(QH, seqs, 0);
        assert_int_equal(clg_model_add(m, clg_layer_bidirectional(cell)), CLG_OK);
        assert_int_equal(clg_model_compile(m, "adam", "mse", NULL), CLG_OK);
        assert_int_equal(clg_model_weight_count(m, 0), 6);
        float *k0 = weight_host(m, 0), *k1 = weight_host(m, 3);
        assert_true(memcmp(k0, k1, sizeof(float) * QF) != 0);
        free(k0), free(k1);
        const int orow = seqs ? QT * 2 * QH : 2 * QH;
        float got[QN * QT * 2 * QH];
        assert_int_equal(clg_model_predict(m, &xa, QN, got, (size_t)(QN * orow)), CLG_OK);
        clg_tensor *w[6];
        for (int i = 0; i < 6; i++) w[i] = clg_model_weight(m, 0, i);
        clg_tensor *f = lstm ? clg_lstm(xt, w[0], w[1], w[2], NULL, NULL, NULL, 0, NULL, NULL)
                             : clg_gru(xt, w[0], w[1], w[2], NULL, NULL, 0, NULL);
        clg_tensor *b = lstm ? clg_lstm(xt, w[3], w[4], w[5], NULL, NULL, NULL, 1, NULL, NULL)
                             : clg_gru(xt, w[3], w[4], w[5], NULL, NULL, 1, NULL);
        float fs[QN * QT * QH], bs[QN * QT * QH];
        assert_int_equal(clg_tensor_to_host(f, fs, sizeof fs), CLG_OK);
        assert_int_equal(clg_tensor_to_host(b, bs, sizeof bs), CLG_OK);
        for (int n = 0; n < QN; n++)
            for (int t = 0; t < (seqs ? QT : 1); t++)
                for (int i = 0; i < 2 * QH; i++) {
                    /* forward at time t (last: T-1); backward: its step for time t is T-1-t (last: T-1) */
                    int tf = seqs ? t : QT - 1, tb = seqs ? QT - 1 - t : QT - 1;
                    float want = i < QH ? fs[(n * QT + tf) * QH + i] : bs[(n * QT + tb) * QH + i - QH];
                    float have = got[n * orow + t * 2 * QH + i];
                    if (have != want) fail_msg("seqs %d [%d][%d][%d]: %g vs %g", seqs, n, t, i, (double)have, (double)want);
                }
        clg_tensor_free(f), clg_tensor_free(b);
        clg_model_free(m);
    }
    clg_tensor_free(xt);
    CLG_EXPECT_ERROR(clg_layer_bidirectional(clg_layer_dense(2, CLG_ACT_LINEAR)) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_layer_bidirectional", "Dense");
}

enum { AN = 2, AT = 3, AD = 4, AH = 2, AK = 3 };

/* MultiHeadAttention (self, causal or not) against a host double forward of
 * Keras's definition from the layer's own weights. */
static void test_multi_head_attention(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[AN * AT * AD];
    clg_test_random_floats(x, AN * AT * AD, 81);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 3, (int64_t[]){AN, AT, AD});
    for (int causal = 0; causal < 2; causal++) {
        clg_model *m = clg_model_new(ctx);
        clg_node *in = clg_model_input(m, 2, (int64_t[]){AT, AD});
        clg_node *y = clg_call(clg_layer_multi_head_attention(AH, AK, causal), in);
        assert_non_null(y);
        assert_int_equal(clg_model_set_outputs(m, 1, &y), CLG_OK);
        assert_int_equal(clg_model_compile(m, "adam", "mse", NULL), CLG_OK);
        assert_int_equal(clg_model_weight_count(m, 0), 8);
        float got[AN * AT * AD];
        assert_int_equal(clg_model_predict(m, &xa, AN, got, AN * AT * AD), CLG_OK);
        float *w[8];
        for (int i = 0; i < 8; i++) w[i] = weight_host(m, i);
        /* biases are zero at initialisation: give them values to check their use */
        for (int i = 1; i < 8; i += 2) {
            int64_t n = clg_tensor_numel(clg_model_weight(m, 0, i));
            for (int j = 0; j < n; j++) w[i][j] = 0.1f * (float)(j % 5) - 0.2f;
            assert_int_equal(clg_tensor_write(clg_model_weight(m, 0, i), w[i], (size_t)n * sizeof(float)), CLG_OK);
        }
        assert_int_equal(clg_model_predict(m, &xa, AN, got, AN * AT * AD), CLG_OK);
        double want[AN * AT * AD];
        for (int n = 0; n < AN; n++) {
            double q[AH][AT][AK], k[AH][AT][AK], v[AH][AT][AK], o[AH][AT][AK];
            for (int h = 0; h < AH; h++)
                for (int t = 0; t < AT; t++)
                    for (int c = 0; c < AK; c++) {
                        double sq = w[1][h * AK + c], sk = w[3][h * AK + c], sv = w[5][h * AK + c];
                        for (int d = 0; d < AD; d++) {
                            double xv = x[(n * AT + t) * AD + d];
                            sq += xv * w[0][(d * AH + h) * AK + c];
                            sk += xv * w[2][(d * AH + h) * AK + c];
                            sv += xv * w[4][(d * AH + h) * AK + c];
                        }
                        q[h][t][c] = sq, k[h][t][c] = sk, v[h][t][c] = sv;
                    }
            for (int h = 0; h < AH; h++)
                for (int i = 0; i < AT; i++) {
                    double sc[AT], mx = -1e300, sum = 0;
                    for (int j = 0; j < AT; j++) {
                        double dot = 0;
                        for (int c = 0; c < AK; c++) dot += q[h][i][c] * k[h][j][c];
                        sc[j] = causal && j > i ? -1e300 : dot / sqrt((double)AK);
                        if (sc[j] > mx) mx = sc[j];
                    }
                    for (int j = 0; j < AT; j++) sum += sc[j] = causal && j > i ? 0 : exp(sc[j] - mx);
                    for (int c = 0; c < AK; c++) {
                        double acc = 0;
                        for (int j = 0; j < AT; j++) acc += sc[j] / sum * v[h][j][c];
                        o[h][i][c] = acc;
                    }
                }
            for (int t = 0; t < AT; t++)
                for (int e = 0; e < AD; e++) {
                    double acc = w[7][e];
                    for (int h = 0; h < AH; h++)
                        for (int c = 0; c < AK; c++) acc += o[h][t][c] * w[6][(h * AK + c) * AD + e];
                    want[(n * AT + t) * AD + e] = acc;
                }
        }
        expect_close(got, want, AN * AT * AD, causal ? "causal attention" : "attention");
        for (int i = 0; i < 8; i++) free(w[i]);
        clg_model_free(m);
    }
}

/* A tiny decoder-only transformer (token + position embeddings, one causal
 * block, a softmax over the vocabulary at every step) learns to continue a
 * cyclic sequence through fit with per-step labels, and survives a model
 * file bit for bit. */
static void test_tiny_transformer(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 8, T = 6, V = 5, D = 8 };
    int32_t xs[N * T], ys[N * T];
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++) xs[n * T + t] = 1 + (n + t) % (V - 1), ys[n * T + t] = 1 + (n + t + 1) % (V - 1);
    clg_model *m = clg_model_new(ctx);
    clg_node *in = clg_model_input_indices(m, 1, (int64_t[]){T});
    clg_node *h = clg_call(clg_layer_embedding(V, D), in);
    h = clg_call(clg_layer_position_embedding(T), h);
    h = clg_transformer_block(h, 2, 4, 16, 0.0f, 1);
    h = clg_call(clg_layer_layer_normalization(), h);
    h = clg_call(clg_layer_dense(V, CLG_ACT_SOFTMAX), h);
    assert_non_null(h);
    assert_int_equal(clg_model_set_outputs(m, 1, &h), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    assert_int_equal(clg_model_set_learning_rate(m, 0.01f), CLG_OK);
    clg_host_array xa = clg_test_host_array(xs, CLG_INT32, 2, (int64_t[]){N, T});
    clg_host_array ya = clg_test_host_array(ys, CLG_INT32, 2, (int64_t[]){N, T});
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 30, o.verbose = 0, o.batch_size = 4;
    clg_history *hist = clg_model_fit(m, &xa, &ya, &o);
    if (!hist) fail_msg("fit: %s", clg_last_error());
    if (!(hist->loss[29] < 0.5f * hist->loss[0]) || !(hist->accuracy[29] > 0.9f))
        fail_msg("loss %g -> %g, accuracy %g", (double)hist->loss[0], (double)hist->loss[29], (double)hist->accuracy[29]);
    clg_history_free(hist);
    char *dir = clg_test_tempdir("transformer"), *path = clg_test_path_in(dir, "lm.safetensors");
    assert_int_equal(clg_model_save(m, path), CLG_OK);
    clg_model *r = clg_model_load(ctx, path);
    if (!r) fail_msg("load: %s", clg_last_error());
    float pa[N * T * V], pb[N * T * V];
    assert_int_equal(clg_model_predict(m, &xa, N, pa, N * T * V), CLG_OK);
    assert_int_equal(clg_model_predict(r, &xa, N, pb, N * T * V), CLG_OK);
    assert_memory_equal(pa, pb, sizeof pa);
    clg_model_free(r), clg_model_free(m);
    clg_test_rmtree(dir);
    free(dir), free(path);
}

/* Adding a layer to a trained model keeps the trained weights (Keras too); a
 * new seed redraws them. */
static void test_add_keeps_weights(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[RN * RF], y[RN * 2];
    clg_test_random_floats(x, RN * RF, 91), clg_test_random_floats(y, RN * 2, 92);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){RN, RF});
    clg_host_array ya = clg_test_host_array(y, CLG_FLOAT32, 2, (int64_t[]){RN, 2});
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){RF});
    assert_int_equal(clg_model_add(m, clg_layer_dense(2, CLG_ACT_LINEAR)), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "mse", NULL), CLG_OK);
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 2, o.verbose = 0;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    assert_non_null(h);
    clg_history_free(h);
    float *trained = weight_host(m, 0);
    assert_int_equal(clg_model_add(m, clg_layer_dense(2, CLG_ACT_LINEAR)), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "mse", NULL), CLG_OK);
    float *kept = weight_host(m, 0);
    assert_memory_equal(trained, kept, RF * 2 * sizeof(float));
    assert_int_equal(clg_model_set_seed(m, 5), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "mse", NULL), CLG_OK);
    float *redrawn = weight_host(m, 0);
    assert_true(memcmp(trained, redrawn, RF * 2 * sizeof(float)) != 0);
    free(trained), free(kept), free(redrawn);
    clg_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_residual_forward), cmocka_unit_test(test_shared_layer_concat),
        cmocka_unit_test(test_functional_summary), cmocka_unit_test(test_graph_errors),
        cmocka_unit_test(test_frozen_layer),      cmocka_unit_test(test_l2_penalty),
        cmocka_unit_test(test_embedding_conv1d),  cmocka_unit_test(test_binary_crossentropy),
        cmocka_unit_test(test_sample_weight_loss), cmocka_unit_test(test_class_weight_equals_sample_weight),
        cmocka_unit_test(test_same_seed_same_bits), cmocka_unit_test(test_recurrent_layers),
        cmocka_unit_test(test_lstm_trains),        cmocka_unit_test(test_masked_lstm),
        cmocka_unit_test(test_bidirectional),     cmocka_unit_test(test_multi_head_attention),
        cmocka_unit_test(test_tiny_transformer),   cmocka_unit_test(test_add_keeps_weights),
    };
    return CLG_RUN_GROUP(tests);
}
