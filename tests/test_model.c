/* Sequential models: summary and parameter counts, shape errors naming the layer,
 * training on tiny data, Adam against a host reference, the validation split,
 * save/load, verbose 2 output, and captured/replayed steps against eager ones.
 * Tolerances: Adam vs the double host reference 1e-5 relative (float32 update of
 * two steps); replay vs eager and save/load: bit for bit. */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static clg_host_array harr(const void *data, clg_dtype dt, int ndim, const int64_t *shape) {
    clg_host_array a;
    memset(&a, 0, sizeof a);
    a.data = data, a.dtype = dt, a.ndim = ndim;
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    return a;
}

static char *read_stream(FILE *f) {
    long n = ftell(f);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

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
    char *s = read_stream(f);
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
    clg_model *m = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
    CLG_EXPECT_ERROR(clg_model_add(m, clg_layer_dense(4, CLG_ACT_RELU)) != CLG_OK, CLG_STATUS_SHAPE_MISMATCH,
                     "dense", "(None, 28, 28, 1)", "Flatten");
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
    CLG_EXPECT_ERROR(clg_model_compile(m, "adamw", "mse", NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "adamw");
    clg_model_free(m);
}

enum { NS = 8, NF = 4, NC = 4 };

static void tiny_data(float *x, int32_t *y, int n) {
    clg_test_random_floats(x, (size_t)n * NF, 7);
    for (int i = 0; i < n; i++) y[i] = i % NC;
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
    tiny_data(x, y, NS);
    clg_host_array xa = harr(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF}), ya = harr(y, CLG_INT32, 1, (int64_t[]){NS});
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
    clg_host_array x1 = harr(&one, CLG_FLOAT32, 2, (int64_t[]){1, 1});
    clg_host_array x0 = harr(&zero, CLG_FLOAT32, 2, (int64_t[]){1, 1});
    clg_host_array y2 = harr(&two, CLG_FLOAT32, 2, (int64_t[]){1, 1});
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
    tiny_data(x, y, NS);
    clg_host_array xa = harr(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF}), ya = harr(y, CLG_INT32, 1, (int64_t[]){NS});
    clg_model *m = mlp(ctx, 0);
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 1, o.batch_size = 4, o.verbose = 0, o.validation_split = 0.25f;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    if (!h) fail_msg("fit: %s", clg_last_error());
    clg_host_array xl = harr(x + 6 * NF, CLG_FLOAT32, 2, (int64_t[]){2, NF});
    clg_host_array yl = harr(y + 6, CLG_INT32, 1, (int64_t[]){2});
    clg_host_array xf = harr(x, CLG_FLOAT32, 2, (int64_t[]){2, NF}), yf = harr(y, CLG_INT32, 1, (int64_t[]){2});
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
    clg_host_array xa = harr(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF}), ya = harr(y, CLG_INT32, 1, (int64_t[]){NS});
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
    tiny_data(x, y, NS);
    clg_host_array xa = harr(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF}), ya = harr(y, CLG_INT32, 1, (int64_t[]){NS});
    clg_model *m = mlp(ctx, 0);
    FILE *f = tmpfile();
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 3, o.batch_size = 3, o.verbose = 2, o.stream = f, o.validation_split = 0.25f;
    clg_history *h = clg_model_fit(m, &xa, &ya, &o);
    assert_non_null(h);
    char *s = read_stream(f);
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
    clg_host_array xa = harr(x, CLG_FLOAT32, 2, (int64_t[]){N, NF}), ya = harr(y, CLG_INT32, 1, (int64_t[]){N});
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 2, o.batch_size = 3, o.verbose = 0, o.shuffle = 0;
    clg_history *ha = clg_model_fit(a, &xa, &ya, &o);
    if (!ha) fail_msg("fit: %s", clg_last_error());
    o.epochs = 1, o.batch_size = 4;
    float lb[4];
    for (int s = 0; s < 4; s++) {
        int first = (s % 2) * 3;
        clg_host_array xs = harr(x + first * NF, CLG_FLOAT32, 2, (int64_t[]){3, NF});
        clg_host_array ys = harr(y + first, CLG_INT32, 1, (int64_t[]){3});
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
    clg_host_array xa = harr(x, CLG_FLOAT32, 4, (int64_t[]){N, 5, 5, 1}), ya = harr(y, CLG_INT32, 1, (int64_t[]){N});
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary),           cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_mlp_fits),          cmocka_unit_test(test_adam_reference),
        cmocka_unit_test(test_validation_split),  cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_verbose2_lines),    cmocka_unit_test(test_replay_matches_eager),
        cmocka_unit_test(test_conv_model),
    };
    return CLG_RUN_GROUP(tests);
}
