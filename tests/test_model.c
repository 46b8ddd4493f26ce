/* Sequential models: summary and parameter counts, shape errors naming the layer,
 * training on tiny data, Adam against a host reference, the validation split and
 * its rounding, explicit validation data, save/load, verbose 1 (bar, forced by
 * CLGRAD_PROGRESS) and 2 output, float-target losses, SGD and the learning rate,
 * fit inside a caller's capture, dropout masks across replays, and
 * captured/replayed steps against eager ones.
 * Tolerances: Adam vs the double host reference 1e-5 relative (float32 update of
 * two steps); replay vs eager, save/load, val_loss vs evaluate on the same data
 * and batching, and lr-0 predictions: bit for bit. */
#include "fixture.h"
#include "clgrad/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static clg_model *seed_model(clg_context *ctx) {
    clg_model *m = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_conv2d(32, 3, 3, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_max_pooling2d(2, 2)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_flatten()), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(128, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(10, CLG_ACT_SOFTMAX)), CLG_OK);
    return m;
}

static void test_summary(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = seed_model(ctx);
    assert_int_equal(clg_model_param_count(m), 693962);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(clg_model_summary(m, f), CLG_OK);
    char *s = clg_test_stream_text(f);
    const char *want[] = {"conv2d (Conv2D)", "(None, 26, 26, 32)", " 320 ", "max_pooling2d (MaxPooling2D)",
                          "(None, 13, 13, 32)", "flatten (Flatten)", "(None, 5408)", "dense (Dense)",
                          "692352", "dense_1 (Dense)", "(None, 10)", "1290", "Total params: 693,962",
                          "Trainable params: 693,962", "Non-trainable params: 0"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(s, want[i])) fail_msg("summary lacks \"%s\":\n%s", want[i], s);
    free(s);
    fclose(f);
    clg_model_free(m);
}

static void test_shape_errors(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* Dense acts on the last axis (Keras): a forgotten Flatten shows at compile */
    clg_model *m = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
    assert_int_equal(clg_model_add(m, clg_layer_dense(4, CLG_ACT_SOFTMAX)), CLG_OK);
    CLG_EXPECT_ERROR(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", NULL) != CLG_OK,
                     CLG_STATUS_SHAPE_MISMATCH, "dense", "(None, 28, 28, 4)", "Flatten");
    clg_model_free(m);
    m = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
    assert_int_equal(clg_model_add(m, clg_layer_conv2d(2, 3, 3, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_flatten()), CLG_OK);
    CLG_EXPECT_ERROR(clg_model_add(m, clg_layer_conv2d(2, 3, 3, CLG_ACT_RELU)) != CLG_OK,
                     CLG_STATUS_SHAPE_MISMATCH, "conv2d_1", "(None, 1352)");
    clg_model_free(m);
    m = clg_sequential_new(ctx, 3, (int64_t[]){2, 2, 1});
    CLG_EXPECT_ERROR(clg_model_add(m, clg_layer_conv2d(2, 3, 3, CLG_ACT_RELU)) != CLG_OK,
                     CLG_STATUS_SHAPE_MISMATCH, "conv2d", "(3, 3)", "(None, 2, 2, 1)");
    CLG_EXPECT_ERROR(clg_model_add(m, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_model_add");
    CLG_EXPECT_ERROR(clg_layer_dense(0, CLG_ACT_RELU) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_layer_dense");
    CLG_EXPECT_ERROR(clg_model_compile(m, "adamx", "mse", NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "adamx");
    clg_model_free(m);
}

enum { NS = 8, NF = 4, NC = 4 };

static void tiny_data(float *x, int32_t *y, int n) {
    clg_test_random_floats(x, (size_t)n * NF, 7);
    for (int i = 0; i < n; i++) y[i] = i % NC;
}

/* The tiny dataset as host arrays: x [NS, NF] float32, y [NS] int32 labels. */
static void tiny_arrays(float *x, int32_t *y, clg_host_array *xa, clg_host_array *ya) {
    tiny_data(x, y, NS);
    *xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF});
    *ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){NS});
}

static clg_model *mlp(clg_context *ctx, int extras) {
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){NF});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_dense(16, CLG_ACT_RELU)), CLG_OK);
    if (extras) {
        assert_int_equal(clg_model_add(m, clg_layer_batch_normalization()), CLG_OK);
        assert_int_equal(clg_model_add(m, clg_layer_dropout(0.25f)), CLG_OK);
        assert_int_equal(clg_model_add(m, clg_layer_activation(CLG_ACT_TANH)), CLG_OK);
    }
    assert_int_equal(clg_model_add(m, clg_layer_dense(NC, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_set_seed(m, 3), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    return m;
}

static void test_mlp_fits(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[NS * NF];
    int32_t y[NS];
    clg_host_array xa, ya;
    tiny_arrays(x, y, &xa, &ya);
    clg_model *m = mlp(ctx, 0);
    assert_int_equal(clg_model_set_learning_rate(m, 0.02f), CLG_OK);
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 60, o.batch_size = 4, o.verbose = 0;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    assert_int_equal(h->epochs, 60);
    assert_true(h->loss[59] < h->loss[0] * 0.5f);
    assert_true(h->loss[5] < h->loss[0]);
    assert_true(isnan(h->val_loss[0]));
    float loss, acc;
    assert_int_equal(clg_model_evaluate(m, &xa, &ya, 3, &loss, &acc), CLG_OK);
    assert_true(acc == 1.0f);
    assert_true(h->accuracy[59] == 1.0f);
    assert_true(loss < 0.5f);
    clg_history_free(h);
    clg_model_free(m);
}

/* One Dense(1) weight w and bias b, mse on x = 1, y = 2: g = 2 (w + b - 2) for both. */
static void test_adam_reference(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){1});
    assert_int_equal(clg_model_add(m, clg_layer_dense(1, CLG_ACT_LINEAR)), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "mse", NULL), CLG_OK);
    assert_int_equal(clg_model_set_learning_rate(m, 0.1f), CLG_OK);
    float one = 1, zero = 0, two = 2, w0;
    clg_host_array x1 = clg_test_host_array(&one, CLG_FLOAT32, 2, (int64_t[]){1, 1});
    clg_host_array x0 = clg_test_host_array(&zero, CLG_FLOAT32, 2, (int64_t[]){1, 1});
    clg_host_array y2 = clg_test_host_array(&two, CLG_FLOAT32, 2, (int64_t[]){1, 1});
    assert_int_equal(clg_model_predict(m, &x1, 1, &w0, 1), CLG_OK);
    double w = w0, b = 0, mw = 0, vw = 0, mb = 0, vb = 0;
    for (int t = 1; t <= 2; t++) {
        double g = 2 * (w + b - 2), lr_t = 0.1 * sqrt(1 - pow(0.999, t)) / (1 - pow(0.9, t));
        mw = 0.9 * mw + 0.1 * g, vw = 0.999 * vw + 0.001 * g * g;
        mb = 0.9 * mb + 0.1 * g, vb = 0.999 * vb + 0.001 * g * g;
        w -= lr_t * mw / (sqrt(vw) + 1e-7);
        b -= lr_t * mb / (sqrt(vb) + 1e-7);
    }
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 2, o.batch_size = 1, o.verbose = 0; /* step 1 captured, step 2 replayed */
    clg_history *h = clg_model_fit(m, &x1, &y2, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    float p1, p0;
    assert_int_equal(clg_model_predict(m, &x1, 1, &p1, 1), CLG_OK);
    assert_int_equal(clg_model_predict(m, &x0, 1, &p0, 1), CLG_OK);
    assert_float_equal(p0, b, 1e-5 * fabs(b) + 1e-7);
    assert_float_equal(p1 - p0, w, 1e-5 * fabs(w) + 1e-6);
    assert_float_equal(h->loss[0], (w0 - 2.0) * (w0 - 2.0), 1e-5);
    clg_history_free(h);
    clg_model_free(m);
}

static void test_validation_split(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[NS * NF];
    int32_t y[NS];
    clg_host_array xa, ya;
    tiny_arrays(x, y, &xa, &ya);
    clg_model *m = mlp(ctx, 0);
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 1, o.batch_size = 4, o.verbose = 0, o.validation_split = 0.25f;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    clg_host_array xl = clg_test_host_array(x + 6 * NF, CLG_FLOAT32, 2, (int64_t[]){2, NF});
    clg_host_array yl = clg_test_host_array(y + 6, CLG_INT32, 1, (int64_t[]){2});
    clg_host_array xf = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){2, NF}), yf = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){2});
    float last_loss, last_acc, first_loss, first_acc;
    assert_int_equal(clg_model_evaluate(m, &xl, &yl, 4, &last_loss, &last_acc), CLG_OK);
    assert_int_equal(clg_model_evaluate(m, &xf, &yf, 4, &first_loss, &first_acc), CLG_OK);
    assert_float_equal(h->val_loss[0], last_loss, 1e-6);
    assert_float_equal(h->val_accuracy[0], last_acc, 1e-6);
    assert_true(fabsf(h->val_loss[0] - first_loss) > 1e-6f);
    clg_history_free(h);
    clg_model_free(m);
}

static void test_save_load(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[NS * NF], p1[NS * NC], p2[NS * NC];
    int32_t y[NS];
    tiny_data(x, y, NS);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF}), ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){NS});
    clg_model *m = mlp(ctx, 1);
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 2, o.batch_size = 4, o.verbose = 0;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    assert_non_null(h);
    clg_history_free(h);
    assert_int_equal(clg_model_predict(m, &xa, 3, p1, NS * NC), CLG_OK);
    char *dir = clg_test_tempdir("model");
    char path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    assert_int_equal(clg_model_save_weights(m, path), CLG_OK);
    clg_model *m2 = mlp(ctx, 1);
    assert_int_equal(clg_model_set_seed(m2, 99), CLG_OK);
    assert_int_equal(clg_model_compile(m2, "sgd", "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    assert_int_equal(clg_model_load_weights(m2, path), CLG_OK);
    assert_int_equal(clg_model_predict(m2, &xa, 5, p2, NS * NC), CLG_OK);
    assert_memory_equal(p1, p2, sizeof p1);
    /* a model of another shape: every difference is named */
    clg_model *m3 = clg_sequential_new(ctx, 1, (int64_t[]){NF});
    assert_int_equal(clg_model_add(m3, clg_layer_dense(5, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m3, clg_layer_dense(NC, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_add(m3, clg_layer_dense(NC, CLG_ACT_SOFTMAX)), CLG_OK);
    CLG_EXPECT_ERROR(clg_model_load_weights(m3, path) != CLG_OK, CLG_STATUS_SHAPE_MISMATCH,
                     "missing: dense_2.kernel", "unexpected: ", "batch_normalization.gamma",
                     "shape mismatch: dense.kernel is F32 [4,16]", "[4,5]");
    clg_model_free(m3);
    clg_model_free(m2);
    clg_model_free(m);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_verbose2_lines(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[NS * NF];
    int32_t y[NS];
    clg_host_array xa, ya;
    tiny_arrays(x, y, &xa, &ya);
    clg_model *m = mlp(ctx, 0);
    FILE *f = tmpfile();
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 3, o.batch_size = 3, o.verbose = 2, o.stream = f, o.validation_split = 0.25f;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    assert_non_null(h);
    char *s = clg_test_stream_text(f);
    int lines = 0;
    for (char *p = s; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 3);
    assert_non_null(strstr(s, "Epoch 1/3 - 2/2 - "));
    assert_non_null(strstr(s, "Epoch 3/3"));
    assert_non_null(strstr(s, " - loss: "));
    assert_non_null(strstr(s, " - accuracy: "));
    assert_non_null(strstr(s, " - val_accuracy: "));
    assert_null(strchr(s, '\r'));
    free(s);
    fclose(f);
    clg_history_free(h);
    /* verbose 0: nothing */
    f = tmpfile();
    o.verbose = 0, o.stream = f;
    h = clg_model_fit(m, &xa, &ya, &o);
    assert_non_null(h);
    assert_int_equal(ftell(f), 0);
    fclose(f);
    clg_history_free(h);
    clg_model_free(m);
}

/* With clg_optimizer_set_skip_nonfinite, a batch whose gradients are NaN (a
 * NaN planted in one input sample) is skipped and fit's epoch line says so,
 * naming the first weight whose gradient went bad. */
static void test_fit_reports_skipped_steps(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[NS * NF];
    int32_t y[NS];
    clg_host_array xa, ya;
    tiny_arrays(x, y, &xa, &ya);
    x[0] = NAN;
    clg_model *m = mlp(ctx, 0);
    assert_int_equal(clg_optimizer_set_skip_nonfinite(clg_model_optimizer(m), 1), CLG_OK);
    FILE *f = tmpfile();
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 1, o.batch_size = 3, o.verbose = 2, o.stream = f;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    assert_non_null(h);
    char *s = clg_test_stream_text(f), want[160];
    snprintf(want, sizeof want, " - skipped steps: 1 (last: non-finite gradient of '%s')",
             clg_tensor_name(clg_model_weight(m, 1, 0)));
    if (!strstr(s, want)) fail_msg("'%s' not in '%s'", want, s);
    int64_t skipped = 0;
    assert_int_equal(clg_optimizer_skipped_steps(clg_model_optimizer(m), &skipped, NULL), CLG_OK);
    assert_int_equal(skipped, 1);
    free(s);
    fclose(f);
    clg_history_free(h);
    clg_model_free(m);
}

/* Model A trains 2 epochs of 2 full batches (one captured step, three replays);
 * model B runs the same four batches as eager partial batches, one fit each.
 * With batch norm and dropout (whose mask must change between replays). */
static void test_replay_matches_eager(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 6 };
    float x[N * NF], pa[N * NC], pb[N * NC];
    int32_t y[N];
    tiny_data(x, y, N);
    clg_model *a = mlp(ctx, 1), *b = mlp(ctx, 1);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){N, NF}), ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){N});
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 2, o.batch_size = 3, o.verbose = 0, o.shuffle = 0;
    clg_history *ha = clg_model_fit(a, &xa, &ya, &o);
    if (!ha) fail_msg("fit: %s", clg_last_error());
    o.epochs = 1, o.batch_size = 4;
    float lb[4];
    for (int s = 0; s < 4; s++) {
        int first = (s % 2) * 3;
        clg_host_array xs = clg_test_host_array(x + first * NF, CLG_FLOAT32, 2, (int64_t[]){3, NF});
        clg_host_array ys = clg_test_host_array(y + first, CLG_INT32, 1, (int64_t[]){3});
        clg_history *hb = clg_model_fit(b, &xs, &ys, &o);
        if (!hb) fail_msg("fit: %s", clg_last_error());
        lb[s] = hb->loss[0];
        clg_history_free(hb);
    }
    assert_int_equal(clg_model_predict(a, &xa, 4, pa, N * NC), CLG_OK);
    assert_int_equal(clg_model_predict(b, &xa, 4, pb, N * NC), CLG_OK);
    assert_memory_equal(pa, pb, sizeof pa);
    assert_float_equal(ha->loss[1], (lb[2] + lb[3]) / 2, 1e-6);
    clg_history_free(ha);
    clg_model_free(a);
    clg_model_free(b);
}

/* The image path: Conv2D (NHWC) -> MaxPooling2D -> Flatten -> Dense trains and
 * predicts; Flatten keeps Keras's NHWC order. */
static void test_conv_model(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 4 };
    float x[N * 25], p[N * 3];
    int32_t y[N] = {0, 1, 2, 1};
    clg_test_random_floats(x, N * 25, 5);
    clg_model *m = clg_sequential_new(ctx, 3, (int64_t[]){5, 5, 1});
    assert_int_equal(clg_model_add(m, clg_layer_conv2d(2, 3, 3, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_max_pooling2d(2, 2)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_flatten()), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(3, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_param_count(m), 20 + 9);
    assert_int_equal(clg_model_compile(m, "rmsprop", "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 4, (int64_t[]){N, 5, 5, 1}), ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){N});
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 3, o.batch_size = 3, o.verbose = 0;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    assert_true(isfinite(h->loss[2]) && h->loss[2] < h->loss[0]);
    assert_int_equal(clg_model_predict(m, &xa, 2, p, N * 3), CLG_OK);
    for (int i = 0; i < N; i++) assert_float_equal(p[3 * i] + p[3 * i + 1] + p[3 * i + 2], 1.0, 1e-5);
    clg_history_free(h);
    clg_model_free(m);
}

/* Forces the verbose-1 mode through CLGRAD_PROGRESS (the stream is a file here). */
static char *fit_output(clg_model *m, const clg_host_array *x, const clg_host_array *y, clg_fit_options *o,
                        const char *progress) {
    if (progress) assert_int_equal(setenv("CLGRAD_PROGRESS", progress, 1), 0);
    FILE *f = tmpfile();
    assert_non_null(f);
    o->stream = f;
    clg_history *h = clg_model_fit(m, x, y, o);
    unsetenv("CLGRAD_PROGRESS");
    if (!h) fail_msg("fit: %s", clg_last_error());
    clg_history_free(h);
    char *s = clg_test_stream_text(f);
    fclose(f);
    o->stream = NULL;
    return s;
}

/* Verbose 1 with the bar: "Epoch 1/2\n", "\r"-rewritten Keras Progbar lines,
 * "ETA" while running (the first step always prints), then the final
 * "2/2 [==============================] - 0s 3ms/step - loss: ... - accuracy: ...". */
static void test_verbose1_bar(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[NS * NF];
    int32_t y[NS];
    clg_host_array xa, ya;
    tiny_arrays(x, y, &xa, &ya);
    clg_model *m = mlp(ctx, 0);
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 2, o.batch_size = 2, o.validation_split = 0.25f; /* 6 + 2 samples: 3 steps */
    char *s = fit_output(m, &xa, &ya, &o, "bar");
    const char *want[] = {"Epoch 1/2\n", "Epoch 2/2\n", "\r1/3 [=========>....................] - ETA: ",
                          "\r3/3 [==============================] - ", "s/step - loss: ", " - accuracy: ",
                          " - val_loss: ", " - val_accuracy: "};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(s, want[i])) fail_msg("bar output lacks \"%s\":\n%s", want[i], s);
    /* the final line: "- Ns Nms/step - loss: 0.1234 - accuracy: 0.5000 - val_loss: ..." */
    const char *fin = strstr(s, "3/3 [==============================] - ");
    int secs = -1, per = -1;
    char unit[8] = "";
    float l = -1, a = -1;
    assert_int_equal(sscanf(fin, "3/3 [==============================] - %ds %d%7[mu]s/step - loss: %f - accuracy: %f",
                            &secs, &per, unit, &l, &a), 5);
    assert_true(secs >= 0 && per >= 0 && l > 0 && a >= 0 && a <= 1);
    assert_true(!strcmp(unit, "m") || !strcmp(unit, "u"));
    int lines = 0;
    for (char *p = s; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 4); /* "Epoch e/2" and the finished bar, per epoch */
    free(s);
    /* Keras's bar shapes: no '>' at 0 of 30, '>' at the head while running, none when done */
    o.epochs = 1, o.validation_split = 0, o.batch_size = 1; /* 8 steps: 1/8 fills 3 of 30 */
    s = fit_output(m, &xa, &ya, &o, "bar");
    if (!strstr(s, "\r1/8 [==>...........................] - ETA: ")) fail_msg("bar 1/8:\n%s", s);
    free(s);
    /* CLGRAD_PROGRESS=lines, unknown values and no variable: one line per epoch
     * (a file is not a terminal) */
    const char *modes[] = {"lines", "fancy", NULL};
    o.batch_size = 4;
    for (int i = 0; i < 3; i++) {
        s = fit_output(m, &xa, &ya, &o, modes[i]);
        assert_null(strchr(s, '\r'));
        if (!strstr(s, "Epoch 1/1 - 2/2 - ")) fail_msg("lines output (%s):\n%s", modes[i] ? modes[i] : "unset", s);
        free(s);
    }
    /* verbose 2 ignores CLGRAD_PROGRESS=bar */
    o.verbose = 2;
    s = fit_output(m, &xa, &ya, &o, "bar");
    assert_null(strchr(s, '\r'));
    free(s);
    clg_model_free(m);
}

/* Fits one epoch with split v; checks that the validation part is the last
 * n_val samples (val_loss equals evaluate on exactly them, same batching). */
static void check_split(clg_context *ctx, int n, float v, int n_val) {
    float *x = malloc(sizeof(float) * (size_t)n * NF);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    assert_true(x && y);
    tiny_data(x, y, n);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){n, NF}), ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){n});
    clg_model *m = mlp(ctx, 0);
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 1, o.batch_size = 128, o.verbose = 2, o.validation_split = v;
    char *s = fit_output(m, &xa, &ya, &o, NULL);
    if (!strstr(s, "Epoch 1/1 - 1/1 - ")) fail_msg("one batch expected:\n%s", s);
    free(s);
    o.verbose = 0;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    assert_non_null(h);
    float vl[2], va[2];
    for (int k = 0; k < 2; k++) {
        int nv = n_val + k; /* the expected split, and one more sample */
        clg_host_array xv = clg_test_host_array(x + (n - nv) * NF, CLG_FLOAT32, 2, (int64_t[]){nv, NF});
        clg_host_array yv = clg_test_host_array(y + (n - nv), CLG_INT32, 1, (int64_t[]){nv});
        assert_int_equal(clg_model_evaluate(m, &xv, &yv, 128, &vl[k], &va[k]), CLG_OK);
    }
    if (h->val_loss[0] != vl[0] || h->val_loss[0] == vl[1])
        fail_msg("n %d, split %g: val_loss %.9g, last %d samples %.9g, last %d %.9g", n, (double)v,
                 (double)h->val_loss[0], n_val, (double)vl[0], n_val + 1, (double)vl[1]);
    assert_true(h->val_accuracy[0] == va[0]);
    clg_history_free(h);
    clg_model_free(m);
    free(x), free(y);
}

/* Keras: split_at = floor(n * (1 - v)) with v the Python double 0.2 (the float
 * 0.2f = 0.200000003 itself would give 7 of 10 and 79 of 100). */
static void test_validation_split_rounding(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    check_split(ctx, 10, 0.2f, 2);
    check_split(ctx, 100, 0.2f, 20);
    check_split(ctx, 10, 0.3f, 3);
    check_split(ctx, 7, 1e-8f, 1); /* floor(7 (1 - 1e-8)) = 6 */
    float x[NS * NF];
    int32_t y[NS];
    clg_host_array xa, ya;
    tiny_arrays(x, y, &xa, &ya);
    clg_model *m = mlp(ctx, 0);
    clg_fit_options o = clg_fit_options_default();
    o.verbose = 0;
    o.validation_split = 1.0f;
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_model_fit",
                     "validation_split 1 ", "[0, 1)");
    o.validation_split = -0.25f;
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_model_fit",
                     "validation_split -0.25");
    o.validation_split = 1.5f;
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "validation_split 1.5");
    o.validation_split = NAN;
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "validation_split nan");
    /* one sample: floor(1 * 0.8) = 0 leaves no training data */
    xa.shape[0] = 1, ya.shape[0] = 1, o.validation_split = 0.2f;
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "validation_split 0.2",
                     "1 samples");
    clg_model_free(m);
}

/* validation_x / validation_y: val_loss and val_accuracy are evaluate's on them
 * (same batch size: bit for bit); the split is then ignored. */
static void test_validation_data(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { NV = 5 };
    float x[NS * NF], xv[NV * NF];
    int32_t y[NS], yv[NV] = {3, 1, 0, 2, 2};
    tiny_data(x, y, NS);
    clg_test_random_floats(xv, NV * NF, 11);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF}), ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){NS});
    clg_host_array xva = clg_test_host_array(xv, CLG_FLOAT32, 2, (int64_t[]){NV, NF});
    clg_host_array yva = clg_test_host_array(yv, CLG_INT32, 1, (int64_t[]){NV});
    clg_model *m = mlp(ctx, 0);
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 2, o.batch_size = 4, o.verbose = 0, o.validation_split = 0.5f;
    o.validation_x = &xva, o.validation_y = &yva;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    float l, a;
    assert_int_equal(clg_model_evaluate(m, &xva, &yva, 4, &l, &a), CLG_OK);
    assert_true(h->val_loss[1] == l);
    assert_true(h->val_accuracy[1] == a);
    assert_true(h->val_loss[0] != h->val_loss[1]); /* evaluated after each epoch's training */
    clg_history_free(h);
    o.validation_y = NULL;
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "validation_x and validation_y");
    clg_host_array ybad = clg_test_host_array(yv, CLG_INT32, 1, (int64_t[]){NV - 1});
    o.validation_y = &ybad;
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_model_fit", "y [4]",
                     "5 samples");
    clg_model_free(m);
}

static clg_model *dense_model(clg_context *ctx, int units, clg_activation act, const char *opt, const char *loss,
                              const char *metrics) {
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){NF});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_dense(16, CLG_ACT_TANH)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(units, act)), CLG_OK);
    assert_int_equal(clg_model_set_seed(m, 5), CLG_OK);
    assert_int_equal(clg_model_compile(m, opt, loss, metrics), CLG_OK);
    return m;
}

/* categorical_crossentropy on one-hot float targets and mse on float targets
 * train (loss falls); a target of the wrong dtype or shape names the loss. */
static void test_float_target_losses(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[NS * NF], onehot[NS * NC] = {0}, reg[NS * 2];
    int32_t y[NS];
    tiny_data(x, y, NS);
    for (int i = 0; i < NS; i++) {
        onehot[i * NC + y[i]] = 1;
        reg[2 * i] = x[i * NF] - 0.5f * x[i * NF + 1], reg[2 * i + 1] = x[i * NF + 2] * x[i * NF + 3];
    }
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF});
    clg_host_array oh = clg_test_host_array(onehot, CLG_FLOAT32, 2, (int64_t[]){NS, NC});
    clg_host_array ra = clg_test_host_array(reg, CLG_FLOAT32, 2, (int64_t[]){NS, 2});
    clg_host_array ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){NS});
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 8, o.batch_size = 4, o.verbose = 0;

    clg_model *m = dense_model(ctx, NC, CLG_ACT_SOFTMAX, "adam", "categorical_crossentropy", "accuracy");
    assert_int_equal(clg_model_set_learning_rate(m, 0.05f), CLG_OK);
    clg_history *h = clg_model_fit(m, &xa, &oh, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    assert_true(h->loss[7] < h->loss[0] * 0.8f);
    assert_true(h->accuracy[7] >= 0 && h->accuracy[7] <= 1);
    float l, a;
    assert_int_equal(clg_model_evaluate(m, &xa, &oh, 8, &l, &a), CLG_OK);
    assert_true(l < h->loss[0] && a >= 0.5f);
    clg_history_free(h);
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_model_fit",
                     "y [8] int32", "categorical_crossentropy", "float32 targets [8,4]", "(None, 4)");
    CLG_EXPECT_ERROR(clg_model_evaluate(m, &xa, &ra, 8, &l, &a) != CLG_OK, CLG_STATUS_SHAPE_MISMATCH,
                     "clg_model_evaluate", "y [8,2] float32", "categorical_crossentropy", "[8,4]");
    clg_model_free(m);

    m = dense_model(ctx, 2, CLG_ACT_LINEAR, "adam", "mse", NULL);
    assert_int_equal(clg_model_set_learning_rate(m, 0.02f), CLG_OK);
    h = clg_model_fit(m, &xa, &ra, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    assert_true(h->loss[7] < h->loss[0] * 0.8f);
    assert_true(isnan(h->accuracy[0]));
    clg_history_free(h);
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &oh, &o) == NULL, CLG_STATUS_SHAPE_MISMATCH, "y [8,4] float32",
                     "loss mse", "float32 targets [8,2]", "(None, 2)");
    clg_host_array ri = clg_test_host_array(y, CLG_INT32, 2, (int64_t[]){NS / 2, 2});
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ri, &o) == NULL, CLG_STATUS_SHAPE_MISMATCH, "y [4,2] int32",
                     "loss mse", "8 samples");
    clg_model_free(m);

    /* and the sparse loss names itself for one-hot floats */
    m = mlp(ctx, 0);
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &oh, &o) == NULL, CLG_STATUS_SHAPE_MISMATCH, "y [8,4] float32",
                     "sparse_categorical_crossentropy", "int32 labels [8]");
    clg_model_free(m);
}

/* SGD trains; the learning rate is a device value read by every replay: lr 0
 * freezes the weights bit for bit, a new lr takes effect in the next fit. */
static void test_sgd_learning_rate(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[NS * NF], p0[NS * NC], p1[NS * NC];
    int32_t y[NS];
    tiny_data(x, y, NS);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF}), ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){NS});
    clg_model *m = dense_model(ctx, NC, CLG_ACT_SOFTMAX, "sgd", "sparse_categorical_crossentropy", "accuracy");
    assert_int_equal(clg_model_set_learning_rate(m, 0.5f), CLG_OK);
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 10, o.batch_size = 2, o.verbose = 0; /* 4 steps an epoch: 1 captured, 39 replayed */
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    assert_true(h->loss[9] < h->loss[0] * 0.8f);
    for (int e = 1; e < 10; e++) assert_true(h->loss[e] < h->loss[0]);
    clg_history_free(h);

    assert_int_equal(clg_model_set_learning_rate(m, 0.0f), CLG_OK);
    assert_int_equal(clg_model_predict(m, &xa, 8, p0, NS * NC), CLG_OK);
    o.epochs = 2, o.shuffle = 0;
    h = clg_model_fit(m, &xa, &ya, &o);
    assert_non_null(h);
    assert_true(h->loss[0] == h->loss[1]); /* frozen weights, the same batches */
    clg_history_free(h);
    assert_int_equal(clg_model_predict(m, &xa, 8, p1, NS * NC), CLG_OK);
    assert_memory_equal(p0, p1, sizeof p0);

    assert_int_equal(clg_model_set_learning_rate(m, 0.5f), CLG_OK);
    o.epochs = 1;
    h = clg_model_fit(m, &xa, &ya, &o);
    assert_non_null(h);
    clg_history_free(h);
    assert_int_equal(clg_model_predict(m, &xa, 8, p1, NS * NC), CLG_OK);
    assert_true(memcmp(p0, p1, sizeof p0) != 0);

    CLG_EXPECT_ERROR(clg_model_set_learning_rate(m, -0.1f) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_model_set_learning_rate", "-0.1");
    CLG_EXPECT_ERROR(clg_model_set_learning_rate(m, INFINITY) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_model_set_learning_rate", "inf");
    clg_model_free(m);
}

/* fit inside the caller's capture fails (it would nest captures) and records
 * nothing into it; so do evaluate and predict (they read to the host). */
static void test_fit_inside_capture(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[NS * NF], p[NS * NC], l, a;
    int32_t y[NS];
    tiny_data(x, y, NS);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF}), ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){NS});
    clg_model *m = mlp(ctx, 0);
    clg_fit_options o = clg_fit_options_default();
    o.verbose = 0, o.batch_size = 4;
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_model_fit",
                     "capture is open", "clg_step_capture_end");
    CLG_EXPECT_ERROR(clg_model_evaluate(m, &xa, &ya, 4, &l, &a) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_model_evaluate", "capture is open");
    CLG_EXPECT_ERROR(clg_model_predict(m, &xa, 4, p, NS * NC) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_model_predict", "capture is open");
    CLG_EXPECT_ERROR(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy") != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_model_compile", "capture is open");
    clg_step *s = clg_step_capture_end(ctx);
    if (s) assert_int_equal(clg_step_get_info(s).commands, 0);
    clg_step_free(s);
    /* the model still works afterwards */
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    assert_int_equal(h->epochs, 1);
    clg_history_free(h);
    clg_model_free(m);
}

/* Token ids outside an Embedding's input_dim and sparse labels outside the
 * output's classes are refused by fit, evaluate and predict before anything
 * runs, naming the sample, the position, the value and the layer; the model
 * trains afterwards. */
static void test_out_of_range_ids_and_labels(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 4, T = 3, V = 5, C = 2 };
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){T});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_embedding(V, 4)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_flatten()), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(C, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    int32_t x[N * T] = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1}, y[N] = {0, 1, 0, 1};
    float p[N * C], l, a;
    clg_host_array xa = clg_test_host_array(x, CLG_INT32, 2, (int64_t[]){N, T});
    clg_host_array ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){N});
    clg_fit_options o = clg_fit_options_default();
    o.verbose = 0, o.batch_size = 2;
    x[2 * T + 1] = V; /* sample 2, position 1 */
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_model_fit",
                     "x[2]", "token id 5 at position 1", "outside [0, 5)", "'embedding'");
    CLG_EXPECT_ERROR(clg_model_predict(m, &xa, 2, p, N * C) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_model_predict", "token id 5");
    x[2 * T + 1] = -1;
    CLG_EXPECT_ERROR(clg_model_evaluate(m, &xa, &ya, 2, &l, &a) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_model_evaluate", "token id -1");
    x[2 * T + 1] = 0;
    y[3] = C;
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_model_fit", "y[3]",
                     "label 2", "the 2 classes [0, 2)");
    y[3] = 1;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    clg_history_free(h);
    clg_model_free(m);
}

/* A softmax at every step of a sequence output reaches the loss as logits (the
 * stable form): with logits (0, 10, 30) at each position and label 0 the loss
 * is 30 + log(1 + e^-20 + e^-30), not the 16.1 that clipping the probability
 * e^-30 to 1e-7 would give. */
static void test_sequence_softmax_loss_from_logits(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 2, T = 3, V = 3 };
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){T});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_embedding(V, 1)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(V, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", NULL), CLG_OK);
    const float emb[V] = {1, 1, 1}, kernel[V] = {0, 10, 30}, bias[V] = {0, 0, 0};
    const float *vals[3] = {emb, kernel, bias};
    for (int i = 0; i < 3; i++) {
        clg_tensor *w = clg_model_weight(m, 0, i);
        assert_non_null(w);
        assert_int_equal(clg_tensor_write(w, vals[i], sizeof emb), CLG_OK);
    }
    int32_t x[N * T] = {0, 1, 2, 2, 1, 0}, y[N * T] = {0};
    clg_host_array xa = clg_test_host_array(x, CLG_INT32, 2, (int64_t[]){N, T});
    clg_host_array ya = clg_test_host_array(y, CLG_INT32, 2, (int64_t[]){N, T});
    float loss = 0, acc = 0;
    assert_int_equal(clg_model_evaluate(m, &xa, &ya, N, &loss, &acc), CLG_OK);
    double want = 30.0 + log1p(exp(-20.0) + exp(-30.0));
    if (!(fabs(loss - want) < 1e-4)) fail_msg("loss %.6f, expected %.6f", (double)loss, want);
    clg_model_free(m);
}

static clg_model *dropout_model(clg_context *ctx, uint64_t seed) {
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){NF});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_dense(16, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dropout(0.5f)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(2, CLG_ACT_LINEAR)), CLG_OK);
    assert_int_equal(clg_model_set_seed(m, seed), CLG_OK);
    assert_int_equal(clg_model_compile(m, "sgd", "mse", NULL), CLG_OK);
    return m;
}

/* Dropout draws a fresh mask every step, replayed steps included: with lr 0 the
 * weights never change, so each one-step epoch's loss depends only on its mask
 * (epoch 1 is the captured step, epochs 2..5 replays). The stream is seeded:
 * a model with the same seed repeats the history exactly. */
static void test_dropout_fresh_masks(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[NS * NF], t[NS * 2], p0[NS * 2], p1[NS * 2];
    int32_t y[NS];
    tiny_data(x, y, NS);
    clg_test_random_floats(t, NS * 2, 13);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF}), ta = clg_test_host_array(t, CLG_FLOAT32, 2, (int64_t[]){NS, 2});
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 5, o.batch_size = NS, o.verbose = 0, o.shuffle = 0; /* same batch every step */
    clg_history *h[3];
    for (int k = 0; k < 3; k++) {
        clg_model *m = dropout_model(ctx, k < 2 ? 21 : 22);
        assert_int_equal(clg_model_set_learning_rate(m, 0.0f), CLG_OK);
        assert_int_equal(clg_model_predict(m, &xa, 8, p0, NS * 2), CLG_OK);
        h[k] = clg_model_fit(m, &xa, &ta, &o);
        if (!h[k]) fail_msg("fit: %s", clg_last_error());
        assert_int_equal(clg_model_predict(m, &xa, 3, p1, NS * 2), CLG_OK); /* inference: no dropout */
        assert_memory_equal(p0, p1, sizeof p0);
        clg_model_free(m);
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (h[0]->loss[i] == h[0]->loss[j])
                fail_msg("epochs %d and %d: same loss %.9g (same dropout mask?)", i + 1, j + 1, (double)h[0]->loss[i]);
    assert_memory_equal(h[0]->loss, h[1]->loss, 5 * sizeof(float));
    assert_true(memcmp(h[0]->loss, h[2]->loss, 5 * sizeof(float)) != 0);
    for (int k = 0; k < 3; k++) clg_history_free(h[k]);
}


/* --- the Keras layers built on existing ops ---------------------------------------------- */

static void add_ok(clg_model *m, clg_layer *l) {
    if (clg_model_add(m, l) != CLG_OK) fail_msg("add: %s", clg_last_error());
}

/* Every new layer in one model: Keras's names, output shapes and counts. */
static clg_model *new_layers_model(clg_context *ctx) {
    clg_model *m = clg_sequential_new(ctx, 3, (int64_t[]){8, 8, 4});
    assert_non_null(m);
    add_ok(m, clg_layer_zero_padding2d(1, 1, 1, 1));                       /* (10, 10, 4) */
    add_ok(m, clg_layer_depthwise_conv2d(3, 3, CLG_ACT_RELU));            /* (8, 8, 4) 40 */
    add_ok(m, clg_layer_average_pooling2d(2, 2));                          /* (4, 4, 4) */
    add_ok(m, clg_layer_conv2d_transpose(2, 3, 3, 1, 1, 0, CLG_ACT_LINEAR)); /* (6, 6, 2) 74 */
    add_ok(m, clg_layer_upsampling2d(2, 2));                               /* (12, 12, 2) */
    add_ok(m, clg_layer_leaky_relu(0.3f));
    add_ok(m, clg_layer_global_average_pooling2d());                       /* (2) */
    add_ok(m, clg_layer_reshape(3, (int64_t[]){1, 1, -1}));                 /* (1, 1, 2) */
    add_ok(m, clg_layer_global_max_pooling2d());                           /* (2) */
    add_ok(m, clg_layer_dense(8, CLG_ACT_LINEAR));                         /* 24 */
    add_ok(m, clg_layer_layer_normalization());                            /* 16 */
    add_ok(m, clg_layer_leaky_relu(0.3f));                                 /* leaky_re_lu_1 */
    add_ok(m, clg_layer_dense(3, CLG_ACT_SOFTMAX));                        /* 27 */
    return m;
}

static void test_new_layers_summary(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = new_layers_model(ctx);
    assert_int_equal(clg_model_param_count(m), 40 + 74 + 24 + 16 + 27);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(clg_model_summary(m, f), CLG_OK);
    char *s = clg_test_stream_text(f);
    const char *want[] = {
        "zero_padding2d (ZeroPadding2D) (None, 10, 10, 4)", "depthwise_conv2d (DepthwiseConv2D)",
        "(None, 8, 8, 4)           40 ", "average_pooling2d (AveragePooling2D)", "(None, 4, 4, 4) ",
        "conv2d_transpose (Conv2DTranspose)", "(None, 6, 6, 2)           74 ",
        "up_sampling2d (UpSampling2D) (None, 12, 12, 2)", "leaky_re_lu (LeakyReLU)",
        "global_average_pooling2d (GlobalAveragePooling2D)", "reshape (Reshape)", "(None, 1, 1, 2) ",
        "global_max_pooling2d (GlobalMaxPooling2D)", "layer_normalization (LayerNormalization)",
        "(None, 8)                 16 ", "leaky_re_lu_1 (LeakyReLU)", "Total params: 181",
        "Trainable params: 181", "Non-trainable params: 0"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(s, want[i])) fail_msg("summary lacks \"%s\":\n%s", want[i], s);
    free(s);
    fclose(f);
    /* weights saved under Keras-style names */
    assert_int_equal(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", NULL), CLG_OK);
    char *dir = clg_test_tempdir("model_layers");
    char path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    assert_int_equal(clg_model_save_weights(m, path), CLG_OK);
    clg_safetensors *st = NULL;
    assert_int_equal(clg_safetensors_open(path, &st), CLG_OK);
    const char *names[] = {"depthwise_conv2d.depthwise_kernel", "depthwise_conv2d.bias", "conv2d_transpose.kernel",
                           "conv2d_transpose.bias", "layer_normalization.gamma", "layer_normalization.beta"};
    const int64_t shapes[][4] = {{4, 1, 3, 3}, {4}, {4, 2, 3, 3}, {2}, {8}, {8}};
    const int ndims[] = {4, 1, 4, 1, 1, 1};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(clg_safetensors_ndim(st, names[i]), ndims[i]);
        assert_memory_equal(clg_safetensors_shape(st, names[i]), shapes[i], (size_t)ndims[i] * sizeof(int64_t));
    }
    float g[8], b[8];
    assert_int_equal(clg_safetensors_read(st, "layer_normalization.gamma", g, sizeof g), CLG_OK);
    assert_int_equal(clg_safetensors_read(st, "layer_normalization.beta", b, sizeof b), CLG_OK);
    for (int i = 0; i < 8; i++) assert_true(g[i] == 1.0f && b[i] == 0.0f);
    /* Glorot limits with Keras's fans: depthwise sqrt(6 / (4·9 + 9)), transpose sqrt(6 / (2·9 + 4·9)) */
    float dk[36], tk[72];
    assert_int_equal(clg_safetensors_read(st, "depthwise_conv2d.depthwise_kernel", dk, sizeof dk), CLG_OK);
    assert_int_equal(clg_safetensors_read(st, "conv2d_transpose.kernel", tk, sizeof tk), CLG_OK);
    float dmax = 0, tmax = 0;
    for (int i = 0; i < 36; i++) dmax = fmaxf(dmax, fabsf(dk[i]));
    for (int i = 0; i < 72; i++) tmax = fmaxf(tmax, fabsf(tk[i]));
    assert_true(dmax <= sqrtf(6.0f / 45.0f) && dmax > 0.5f * sqrtf(6.0f / 45.0f));
    assert_true(tmax <= sqrtf(6.0f / 54.0f) && tmax > 0.5f * sqrtf(6.0f / 54.0f));
    clg_safetensors_free(st);
    clg_model_free(m);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_new_layers_shape_errors(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){6});
    CLG_EXPECT_ERROR(clg_model_add(m, clg_layer_average_pooling2d(2, 2)) != CLG_OK, CLG_STATUS_SHAPE_MISMATCH,
                     "average_pooling2d (AveragePooling2D)", "(None, 6)");
    CLG_EXPECT_ERROR(clg_model_add(m, clg_layer_global_max_pooling2d()) != CLG_OK, CLG_STATUS_SHAPE_MISMATCH,
                     "global_max_pooling2d (GlobalMaxPooling2D)", "(None, 6)");
    CLG_EXPECT_ERROR(clg_model_add(m, clg_layer_reshape(2, (int64_t[]){4, -1})) != CLG_OK,
                     CLG_STATUS_SHAPE_MISMATCH, "reshape (Reshape)", "(None, 6)", "[4,-1]");
    add_ok(m, clg_layer_reshape(3, (int64_t[]){1, 2, 3}));
    CLG_EXPECT_ERROR(clg_model_add(m, clg_layer_depthwise_conv2d(3, 3, CLG_ACT_LINEAR)) != CLG_OK,
                     CLG_STATUS_SHAPE_MISMATCH, "depthwise_conv2d (DepthwiseConv2D)", "(None, 1, 2, 3)");
    CLG_EXPECT_ERROR(clg_layer_reshape(2, (int64_t[]){-1, -1}) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_layer_reshape");
    CLG_EXPECT_ERROR(clg_layer_zero_padding2d(-1, 0, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_layer_zero_padding2d");
    CLG_EXPECT_ERROR(clg_layer_conv2d_transpose(2, 3, 3, 0, 1, 0, CLG_ACT_LINEAR) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_layer_conv2d_transpose");
    clg_model_free(m);
}

static void predict_ok(clg_model *m, const float *x, int ndim, const int64_t *shape, float *out, size_t n) {
    if (clg_model_compile(m, "sgd", "mse", NULL) != CLG_OK) fail_msg("compile: %s", clg_last_error());
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, ndim, shape);
    if (clg_model_predict(m, &xa, 2, out, n) != CLG_OK) fail_msg("predict: %s", clg_last_error());
}

static void expect_close(const float *got, const double *want, int n, double tol) {
    for (int i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > tol * (1.0 + fabs(want[i])))
            fail_msg("element %d: got %.7g, want %.7g", i, (double)got[i], want[i]);
}

/* Weightless layers: ZeroPadding2D, AveragePooling2D, UpSampling2D, LeakyReLU,
 * Reshape, then the global poolings and LayerNormalization, against the host. */
static void test_new_layers_forward(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 2, H = 3, W = 4, C = 2 };
    float x[N * H * W * C];
    clg_test_random_floats(x, sizeof x / sizeof *x, 11);
    const int64_t xs[] = {N, H, W, C};
#define X(n, h, w, c) ((double)x[(((n) * H + (h)) * W + (w)) * C + (c)])
    /* pad (1, 0, 0, 2) -> (4, 6, 2); avg 2x2 -> (2, 3, 2); up (1, 2) -> (2, 6, 2); leaky; reshape (-1, 4) -> (6, 4) */
    clg_model *m = clg_sequential_new(ctx, 3, xs + 1);
    add_ok(m, clg_layer_zero_padding2d(1, 0, 0, 2));
    add_ok(m, clg_layer_average_pooling2d(2, 2));
    add_ok(m, clg_layer_upsampling2d(1, 2));
    add_ok(m, clg_layer_leaky_relu(0.3f));
    add_ok(m, clg_layer_reshape(2, (int64_t[]){-1, 4}));
    float out[N * 24];
    double want[N * 24];
    predict_ok(m, x, 4, xs, out, N * 24);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 6; j++)
                for (int c = 0; c < C; c++) {
                    double s = 0;
                    for (int a = 0; a < 2; a++)
                        for (int b = 0; b < 2; b++) {
                            int ph = 2 * i + a - 1, pw = 2 * (j / 2) + b; /* padded by one row on top */
                            if (ph >= 0 && ph < H && pw < W) s += X(n, ph, pw, c);
                        }
                    s /= 4;
                    want[n * 24 + (i * 6 + j) * C + c] = s > 0 ? s : 0.3 * s;
                }
    expect_close(out, want, N * 24, 1e-5);
    clg_model_free(m);
    /* global average and max pooling */
    for (int k = 0; k < 2; k++) {
        m = clg_sequential_new(ctx, 3, xs + 1);
        add_ok(m, k ? clg_layer_global_max_pooling2d() : clg_layer_global_average_pooling2d());
        float g[N * C];
        double gw[N * C];
        predict_ok(m, x, 4, xs, g, N * C);
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                double s = 0, mx = -INFINITY;
                for (int h = 0; h < H; h++)
                    for (int w = 0; w < W; w++) s += X(n, h, w, c), mx = fmax(mx, X(n, h, w, c));
                gw[n * C + c] = k ? mx : s / (H * W);
            }
        expect_close(g, gw, N * C, 1e-5);
        clg_model_free(m);
    }
    /* layer normalisation over the last axis, epsilon 1e-3 */
    m = clg_sequential_new(ctx, 3, xs + 1);
    add_ok(m, clg_layer_layer_normalization());
    float ln[N * H * W * C];
    double lw[N * H * W * C];
    predict_ok(m, x, 4, xs, ln, N * H * W * C);
    for (int r = 0; r < N * H * W; r++) {
        double mu = (x[r * C] + x[r * C + 1]) / 2.0, v = 0;
        for (int c = 0; c < C; c++) v += (x[r * C + c] - mu) * (x[r * C + c] - mu) / C;
        for (int c = 0; c < C; c++) lw[r * C + c] = (x[r * C + c] - mu) / sqrt(v + 1e-3);
    }
    expect_close(ln, lw, N * H * W * C, 1e-4);
    clg_model_free(m);
#undef X
}

/* DepthwiseConv2D and Conv2DTranspose (valid, stride 2 > kernel 1: Keras's
 * H*s + max(k - s, 0)) against the host with the model's own weights. */
static void test_new_conv_layers_forward(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 2, H = 4, W = 3, C = 2, F = 3 };
    float x[N * H * W * C];
    clg_test_random_floats(x, sizeof x / sizeof *x, 5);
    const int64_t xs[] = {N, H, W, C};
    char *dir = clg_test_tempdir("model_conv_layers");
    char path[512];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    /* depthwise 2x2 -> (3, 2, 2) */
    clg_model *m = clg_sequential_new(ctx, 3, xs + 1);
    add_ok(m, clg_layer_depthwise_conv2d(2, 2, CLG_ACT_LINEAR));
    float out[N * 3 * 2 * C];
    double want[N * 3 * 2 * C];
    predict_ok(m, x, 4, xs, out, N * 12);
    assert_int_equal(clg_model_save_weights(m, path), CLG_OK);
    clg_safetensors *st = NULL;
    float k[C * 4], bias[F];
    assert_int_equal(clg_safetensors_open(path, &st), CLG_OK);
    assert_int_equal(clg_safetensors_read(st, "depthwise_conv2d.depthwise_kernel", k, sizeof k), CLG_OK);
    clg_safetensors_free(st);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++)
                for (int c = 0; c < C; c++) {
                    double s = 0; /* bias zero */
                    for (int a = 0; a < 2; a++)
                        for (int b = 0; b < 2; b++)
                            s += (double)k[c * 4 + a * 2 + b] * x[((n * H + i + a) * W + j + b) * C + c];
                    want[((n * 3 + i) * 2 + j) * C + c] = s;
                }
    expect_close(out, want, N * 12, 1e-5);
    clg_model_free(m);
    /* transpose: filters 3, kernel 1x1, strides 2: (8, 6, 3); odd rows/cols are zero (+ bias 0) */
    m = clg_sequential_new(ctx, 3, xs + 1);
    add_ok(m, clg_layer_conv2d_transpose(F, 1, 1, 2, 2, 0, CLG_ACT_LINEAR));
    float t[N * 8 * 6 * F];
    double tw[N * 8 * 6 * F];
    predict_ok(m, x, 4, xs, t, N * 8 * 6 * F);
    assert_int_equal(clg_model_save_weights(m, path), CLG_OK);
    float tk[C * F];
    assert_int_equal(clg_safetensors_open(path, &st), CLG_OK);
    assert_int_equal(clg_safetensors_read(st, "conv2d_transpose.kernel", tk, sizeof tk), CLG_OK);
    assert_int_equal(clg_safetensors_read(st, "conv2d_transpose.bias", bias, sizeof bias), CLG_OK);
    clg_safetensors_free(st);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 6; j++)
                for (int f = 0; f < F; f++) {
                    double s = bias[f];
                    if (i % 2 == 0 && j % 2 == 0)
                        for (int c = 0; c < C; c++)
                            s += (double)tk[c * F + f] * x[((n * H + i / 2) * W + j / 2) * C + c];
                    tw[((n * 8 + i) * 6 + j) * F + f] = s;
                }
    expect_close(t, tw, N * 8 * 6 * F, 1e-5);
    clg_model_free(m);
    clg_test_rmtree(dir);
    free(dir);
}

/* A small fit through every new layer: the loss stays finite and decreases. */
static void test_new_layers_fit(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 8 };
    float x[N * 8 * 8 * 4];
    int32_t y[N];
    clg_test_random_floats(x, sizeof x / sizeof *x, 21);
    for (int i = 0; i < N; i++) y[i] = i % 3;
    clg_model *m = new_layers_model(ctx);
    assert_int_equal(clg_model_set_seed(m, 1), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    assert_int_equal(clg_model_set_learning_rate(m, 0.02f), CLG_OK);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 4, (int64_t[]){N, 8, 8, 4}), ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){N});
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 15, o.batch_size = 4, o.verbose = 0;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    for (int e = 0; e < h->epochs; e++) assert_true(isfinite(h->loss[e]));
    if (!(h->loss[14] < h->loss[0])) fail_msg("loss %g -> %g", (double)h->loss[0], (double)h->loss[14]);
    clg_history_free(h);
    clg_model_free(m);
}

/* --- callbacks ------------------------------------------------------------------------------ */

enum { CN = 4, CE = 8 };
static const float cb_x[CN * 2] = {1, 2, 2, 1, 3, 3, -1, 2};
static const float cb_y[CN] = {1, -1, 2, 0.5f};

/* Conv2DTranspose 'same' gives H*s (Keras's output_padding=None) for even and
 * odd kernels and strides, at run time as in the summary (the op's values are
 * test_conv's business; here they only confirm no output padding was passed). */
static void test_conv_transpose_same(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int ks[3][2] = {{4, 2}, {3, 2}, {5, 3}};
    for (int c = 0; c < 3; c++) {
        const int k = ks[c][0], st = ks[c][1];
        clg_model *m = clg_sequential_new(ctx, 3, (int64_t[]){5, 4, 3});
        add_ok(m, clg_layer_conv2d_transpose(2, k, k, st, st, 1, CLG_ACT_LINEAR));
        float xs[2 * 5 * 4 * 3];
        clg_test_random_floats(xs, sizeof xs / sizeof *xs, 5);
        clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 5, 4, 3}, xs), *y = NULL;
        if (clg_model_call(m, (const clg_tensor *[]){x}, 0, &y) != CLG_OK) fail_msg("%s", clg_last_error());
        const int64_t *sh = clg_tensor_shape(y);
        if (sh[1] != 5 * st || sh[2] != 4 * st || sh[3] != 2)
            fail_msg("k %d s %d: output [%lld,%lld,%lld,%lld], want [2,%d,%d,2]", k, st, (long long)sh[0],
                     (long long)sh[1], (long long)sh[2], (long long)sh[3], 5 * st, 4 * st);
        clg_conv2d_params p = clg_conv2d_params_default();
        p.stride[0] = p.stride[1] = st;
        p.padding = CLG_PADDING_SAME;
        p.layout = CLG_LAYOUT_NHWC;
        clg_tensor *want = clg_conv2d_transpose(x, clg_model_weight(m, 0, 0), clg_model_weight(m, 0, 1), &p, NULL);
        assert_non_null(want);
        const size_t n = (size_t)clg_tensor_numel(y);
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        assert_int_equal(clg_tensor_to_host(y, a, n * sizeof *a), CLG_OK);
        assert_int_equal(clg_tensor_to_host(want, b, n * sizeof *b), CLG_OK);
        assert_memory_equal(a, b, n * sizeof *a);
        free(a), free(b);
        clg_tensor_free(x), clg_tensor_free(y), clg_tensor_free(want);
        clg_model_free(m);
    }
}

/* Dense(1) on 2 features, SGD with learning rate lr on mse: with lr 1 every
 * step overshoots (the loss grows each epoch), with lr 0 nothing moves. */
static clg_model *cb_model(clg_context *ctx, float lr) {
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){2});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_dense(1, CLG_ACT_LINEAR)), CLG_OK);
    assert_int_equal(clg_model_set_seed(m, 3), CLG_OK);
    assert_int_equal(clg_model_compile(m, "sgd", "mse", NULL), CLG_OK);
    assert_int_equal(clg_model_set_learning_rate(m, lr), CLG_OK);
    return m;
}

/* A user callback recording the predictions and history length at each epoch
 * end; stops when epoch == stop_at. */
typedef struct cb_rec {
    clg_model *m;
    const clg_host_array *x;
    float preds[CE][CN];
    int calls, seen_epochs[CE], stop_at;
} cb_rec;

static int cb_record(void *user, int epoch, const clg_history *h) {
    cb_rec *r = user;
    assert_int_equal(epoch, r->calls);
    assert_true(epoch < CE);
    r->seen_epochs[epoch] = h->epochs;
    assert_int_equal(clg_model_predict(r->m, r->x, CN, r->preds[epoch], CN), CLG_OK);
    r->calls++;
    return epoch == r->stop_at;
}

static clg_history *cb_fit(clg_model *m, const clg_host_array *xa, const clg_host_array *ya, int epochs,
                           const clg_callback *const *cbs, int ncb) {
    clg_fit_options o = clg_fit_options_default();
    o.epochs = epochs, o.batch_size = CN, o.verbose = 0, o.shuffle = 0; /* one step an epoch */
    o.callbacks = cbs, o.ncallbacks = ncb;
    clg_history *h = clg_model_fit(m, xa, ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    return h;
}

/* Early stopping: with learning rate 0 the loss never improves, so fit stops
 * after 1 + patience epochs; on the divergent problem the best epoch is the
 * first, and restore_best_weights puts back its weights. */
static void test_cb_early_stopping(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_host_array xa = clg_test_host_array(cb_x, CLG_FLOAT32, 2, (int64_t[]){CN, 2}), ya = clg_test_host_array(cb_y, CLG_FLOAT32, 2, (int64_t[]){CN, 1});
    clg_model *m = cb_model(ctx, 0.0f);
    cb_rec r = {.m = m, .x = &xa, .stop_at = -1};
    clg_callback *es = clg_callback_early_stopping("loss", 2, 0), *u = clg_callback_user(cb_record, &r);
    assert_non_null(es), assert_non_null(u);
    const clg_callback *cbs[] = {es, u};
    clg_history *h = cb_fit(m, &xa, &ya, 10, cbs, 2);
    assert_int_equal(h->epochs, 3);
    assert_int_equal(r.calls, 3);
    for (int e = 0; e < 3; e++) assert_int_equal(r.seen_epochs[e], e + 1);
    assert_true(h->loss[0] == h->loss[2]);
    clg_history_free(h);
    clg_callback_free(es);
    clg_model_free(m);

    m = cb_model(ctx, 1.0f);
    memset(&r, 0, sizeof r);
    r.m = m, r.x = &xa, r.stop_at = -1;
    es = clg_callback_early_stopping("loss", 2, 1);
    const clg_callback *cbs2[] = {u, es};
    h = cb_fit(m, &xa, &ya, 10, cbs2, 2);
    assert_int_equal(h->epochs, 3);
    for (int e = 1; e < 3; e++) assert_true(h->loss[e] > h->loss[e - 1]); /* diverges */
    float p[CN];
    assert_int_equal(clg_model_predict(m, &xa, CN, p, CN), CLG_OK);
    assert_memory_equal(p, r.preds[0], sizeof p);
    assert_true(memcmp(p, r.preds[2], sizeof p) != 0);
    clg_history_free(h);
    clg_callback_free(es), clg_callback_free(u);
    clg_model_free(m);
}

/* Model checkpoint: save_best_only writes at the improving first epoch only;
 * without it the file holds the last epoch's weights. */
static void test_cb_model_checkpoint(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_host_array xa = clg_test_host_array(cb_x, CLG_FLOAT32, 2, (int64_t[]){CN, 2}), ya = clg_test_host_array(cb_y, CLG_FLOAT32, 2, (int64_t[]){CN, 1});
    char *dir = clg_test_tempdir("callbacks");
    char best[512], every[512];
    snprintf(best, sizeof best, "%s/best.safetensors", dir);
    snprintf(every, sizeof every, "%s/every.safetensors", dir);
    clg_model *m = cb_model(ctx, 1.0f);
    cb_rec r = {.m = m, .x = &xa, .stop_at = -1};
    clg_callback *c1 = clg_callback_model_checkpoint(best, "loss", 1), *c2 = clg_callback_model_checkpoint(every, "loss", 0),
                 *u = clg_callback_user(cb_record, &r);
    assert_non_null(c1), assert_non_null(c2), assert_non_null(u);
    const clg_callback *cbs[] = {c1, c2, u};
    clg_history *h = cb_fit(m, &xa, &ya, 4, cbs, 3);
    assert_int_equal(h->epochs, 4);
    clg_history_free(h);
    clg_model *m2 = cb_model(ctx, 1.0f);
    float p[CN];
    assert_int_equal(clg_model_load_weights(m2, best), CLG_OK);
    assert_int_equal(clg_model_predict(m2, &xa, CN, p, CN), CLG_OK);
    assert_memory_equal(p, r.preds[0], sizeof p);
    assert_int_equal(clg_model_load_weights(m2, every), CLG_OK);
    assert_int_equal(clg_model_predict(m2, &xa, CN, p, CN), CLG_OK);
    assert_memory_equal(p, r.preds[3], sizeof p);
    clg_callback_free(c1), clg_callback_free(c2), clg_callback_free(u);
    clg_model_free(m2), clg_model_free(m);
    clg_test_rmtree(dir);
    free(dir);
}

/* CSV logger: the header and one row per epoch holding the history's values. */
static void test_cb_csv_logger(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_host_array xa = clg_test_host_array(cb_x, CLG_FLOAT32, 2, (int64_t[]){CN, 2}), ya = clg_test_host_array(cb_y, CLG_FLOAT32, 2, (int64_t[]){CN, 1});
    char *dir = clg_test_tempdir("callbacks");
    char path[512];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    clg_model *m = cb_model(ctx, 0.01f);
    clg_callback *c = clg_callback_csv_logger(path);
    assert_non_null(c);
    const clg_callback *cbs[] = {c};
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 3, o.batch_size = CN, o.verbose = 0, o.validation_x = &xa, o.validation_y = &ya;
    o.callbacks = cbs, o.ncallbacks = 1;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "epoch,loss,val_loss\n");
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        int e;
        float l, vl;
        assert_int_equal(sscanf(line, "%d,%g,%g", &e, &l, &vl), 3);
        assert_int_equal(e, rows);
        assert_true(l == h->loss[rows] && vl == h->val_loss[rows]);
        rows++;
    }
    assert_int_equal(rows, 3);
    fclose(f);
    clg_history_free(h);
    clg_callback_free(c);
    clg_model_free(m);
    clg_test_rmtree(dir);
    free(dir);
}

/* Terminate on NaN: an infinite input makes the loss inf/NaN in the first epoch. */
static void test_cb_terminate_on_nan(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float x[CN * 2];
    memcpy(x, cb_x, sizeof x);
    x[0] = INFINITY;
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){CN, 2}), ya = clg_test_host_array(cb_y, CLG_FLOAT32, 2, (int64_t[]){CN, 1});
    clg_model *m = cb_model(ctx, 0.01f);
    clg_callback *c = clg_callback_terminate_on_nan();
    assert_non_null(c);
    const clg_callback *cbs[] = {c};
    clg_history *h = cb_fit(m, &xa, &ya, 5, cbs, 1);
    assert_int_equal(h->epochs, 1);
    assert_false(isfinite(h->loss[0]));
    clg_history_free(h);
    clg_callback_free(c);
    clg_model_free(m);
}

/* Reduce LR on plateau with factor 0, patience 0: the second (worse) epoch sets
 * the learning rate to 0, so the weights freeze from then on. */
static void test_cb_reduce_lr(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_host_array xa = clg_test_host_array(cb_x, CLG_FLOAT32, 2, (int64_t[]){CN, 2}), ya = clg_test_host_array(cb_y, CLG_FLOAT32, 2, (int64_t[]){CN, 1});
    clg_model *m = cb_model(ctx, 1.0f);
    cb_rec r = {.m = m, .x = &xa, .stop_at = -1};
    clg_callback *c = clg_callback_reduce_lr_on_plateau("loss", 0.0f, 0, 0.0f), *u = clg_callback_user(cb_record, &r);
    assert_non_null(c), assert_non_null(u);
    const clg_callback *cbs[] = {c, u};
    clg_history *h = cb_fit(m, &xa, &ya, 5, cbs, 2);
    assert_int_equal(h->epochs, 5);
    assert_true(h->loss[1] > h->loss[0]);
    assert_true(memcmp(r.preds[0], r.preds[1], sizeof r.preds[0]) != 0);
    for (int e = 2; e < 5; e++) assert_memory_equal(r.preds[e], r.preds[1], sizeof r.preds[0]);
    assert_true(h->loss[2] == h->loss[4]);
    clg_history_free(h);
    clg_callback_free(c), clg_callback_free(u);
    clg_model_free(m);
}

/* A user callback sees every epoch and stops training by returning nonzero;
 * bad callbacks and monitors fail naming the callback. */
static void test_cb_user_and_errors(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_host_array xa = clg_test_host_array(cb_x, CLG_FLOAT32, 2, (int64_t[]){CN, 2}), ya = clg_test_host_array(cb_y, CLG_FLOAT32, 2, (int64_t[]){CN, 1});
    clg_model *m = cb_model(ctx, 0.01f);
    cb_rec r = {.m = m, .x = &xa, .stop_at = 2};
    clg_callback *u = clg_callback_user(cb_record, &r);
    const clg_callback *cbs[] = {u};
    clg_history *h = cb_fit(m, &xa, &ya, 6, cbs, 1);
    assert_int_equal(h->epochs, 3);
    assert_int_equal(r.calls, 3);
    clg_history_free(h);

    CLG_EXPECT_ERROR(clg_callback_early_stopping("los", 1, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_callback_early_stopping", "unknown monitor \"los\"");
    CLG_EXPECT_ERROR(clg_callback_early_stopping("loss", -1, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_callback_early_stopping", "patience -1");
    CLG_EXPECT_ERROR(clg_callback_reduce_lr_on_plateau("loss", 1.5f, 10, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_callback_reduce_lr_on_plateau", "factor 1.5");
    CLG_EXPECT_ERROR(clg_callback_model_checkpoint("w.safetensors", "acc", 1) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_callback_model_checkpoint", "\"acc\"");
    CLG_EXPECT_ERROR(clg_callback_user(NULL, NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_callback_user");
    clg_callback *v = clg_callback_early_stopping("val_loss", 1, 0), *a = clg_callback_reduce_lr_on_plateau("accuracy", 0.1f, 10, 0);
    assert_non_null(v), assert_non_null(a);
    clg_fit_options o = clg_fit_options_default();
    o.verbose = 0;
    const clg_callback *c1[] = {v}, *c2[] = {a};
    o.callbacks = c1, o.ncallbacks = 1;
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_model_fit",
                     "clg_callback_early_stopping", "val_loss", "no validation data");
    o.callbacks = c2;
    CLG_EXPECT_ERROR(clg_model_fit(m, &xa, &ya, &o) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_model_fit",
                     "clg_callback_reduce_lr_on_plateau", "accuracy metric");
    clg_callback_free(v), clg_callback_free(a), clg_callback_free(u);
    clg_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary),           cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_mlp_fits),          cmocka_unit_test(test_adam_reference),
        cmocka_unit_test(test_validation_split),  cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_verbose2_lines),    cmocka_unit_test(test_replay_matches_eager),
        cmocka_unit_test(test_conv_model),        cmocka_unit_test(test_verbose1_bar),
        cmocka_unit_test(test_validation_split_rounding), cmocka_unit_test(test_validation_data),
        cmocka_unit_test(test_float_target_losses), cmocka_unit_test(test_sgd_learning_rate),
        cmocka_unit_test(test_fit_inside_capture), cmocka_unit_test(test_out_of_range_ids_and_labels),
        cmocka_unit_test(test_sequence_softmax_loss_from_logits),
        cmocka_unit_test(test_fit_reports_skipped_steps),
        cmocka_unit_test(test_dropout_fresh_masks),
        cmocka_unit_test(test_new_layers_summary), cmocka_unit_test(test_new_layers_shape_errors),
        cmocka_unit_test(test_new_layers_forward), cmocka_unit_test(test_new_conv_layers_forward),
        cmocka_unit_test(test_conv_transpose_same),
        cmocka_unit_test(test_new_layers_fit),
        cmocka_unit_test(test_cb_early_stopping), cmocka_unit_test(test_cb_model_checkpoint),
        cmocka_unit_test(test_cb_csv_logger),     cmocka_unit_test(test_cb_terminate_on_nan),
        cmocka_unit_test(test_cb_reduce_lr),      cmocka_unit_test(test_cb_user_and_errors),
    };
    return CLG_RUN_GROUP(tests);
}
