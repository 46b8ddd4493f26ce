/* Data parallelism across devices (issue 9): run with two PoCL devices
 * (POCL_DEVICES="pthread pthread", set by ctest). One context drives both
 * ("all"); a second context on device 0:0 alone gives the reference. */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model_internal.h"
#include "runtime/runtime_impl.h"

typedef struct env {
    clg_context *one, *two;
} env;

static int setup(void **state) {
    static env e;
    clg_context_options o = clg_context_options_default();
    o.device = "0:0";
    o.devices = ""; /* one device, whatever CLGRAD_DEVICES says */
    e.one = clg_context_new(&o);
    o.devices = "all";
    e.two = e.one ? clg_context_new(&o) : NULL;
    if (!e.one || !e.two) {
        fprintf(stderr, "test setup: %s\n", clg_last_error());
        return -1;
    }
    if (clg_context_device_count(e.two) != 2) {
        fprintf(stderr, "test setup: needs two devices (POCL_DEVICES=\"pthread pthread\"), found %d\n",
                clg_context_device_count(e.two));
        return -1;
    }
    *state = &e;
    return 0;
}

static int teardown(void **state) {
    env *e = *state;
    clg_context_free(e->two), clg_context_free(e->one);
    return 0;
}

enum { FEAT = 6, CLASSES = 3 };

static void make_data(int64_t n, float *x, int32_t *y, uint32_t seed) {
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        float sum = 0;
        for (int k = 0; k < FEAT; k++) {
            s = s * 1664525u + 1013904223u;
            x[i * FEAT + k] = (float)(s >> 8) / 16777216.0f * 2.0f - 1.0f;
            sum += x[i * FEAT + k] * (float)(k + 1);
        }
        y[i] = sum > 1.0f ? 2 : sum > -1.0f ? 1 : 0;
    }
}

static clg_model *mlp(clg_context *ctx, int bn) {
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){FEAT});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_dense(16, CLG_ACT_TANH)), CLG_OK);
    if (bn) assert_int_equal(clg_model_add(m, clg_layer_batch_normalization()), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(CLASSES, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_set_seed(m, 7), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    return m;
}

typedef struct run {
    clg_history *h;
    float *w;
    int64_t nw;
} run;

static float *all_weights(clg_model *m, int64_t *count) {
    int n = clg_model_weight_count(m, 0);
    int64_t tot = 0;
    for (int i = 0; i < n; i++) tot += clg_tensor_numel(clg_model_weight(m, 0, i));
    float *w = malloc((size_t)tot * sizeof *w), *at = w;
    assert_non_null(w);
    for (int i = 0; i < n; i++) {
        clg_tensor *t = clg_model_weight(m, 0, i);
        assert_int_equal(clg_tensor_to_host(t, at, (size_t)clg_tensor_numel(t) * sizeof *at), CLG_OK);
        at += clg_tensor_numel(t);
    }
    *count = tot;
    return w;
}

static run train(clg_context *ctx, int64_t n, int batch, int epochs, int bn, clg_model **keep) {
    float *x = malloc((size_t)n * FEAT * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    make_data(n, x, y, 3);
    clg_host_array hx = {.data = x, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {n, FEAT}};
    clg_host_array hy = {.data = y, .dtype = CLG_INT32, .ndim = 1, .shape = {n}};
    clg_model *m = mlp(ctx, bn);
    clg_fit_options o = clg_fit_options_default();
    o.batch_size = batch, o.epochs = epochs, o.verbose = 0;
    run r = {0};
    r.h = clg_model_fit(m, &hx, &hy, &o);
    if (!r.h) fail_msg("fit: %s", clg_last_error());
    r.w = all_weights(m, &r.nw);
    free(x), free(y);
    if (keep) *keep = m;
    else clg_model_free(m);
    return r;
}

static void run_free(run *r) {
    clg_history_free(r->h);
    free(r->w);
}

static void expect_close(const run *a, const run *b, double tol) {
    assert_int_equal(a->h->epochs, b->h->epochs);
    for (int e = 0; e < a->h->epochs; e++) {
        double la = a->h->loss[e], lb = b->h->loss[e];
        if (!(fabs(la - lb) <= tol * fabs(la))) fail_msg("epoch %d: loss %.9g on one device, %.9g on two", e, la, lb);
        if (a->h->accuracy[e] != b->h->accuracy[e])
            fail_msg("epoch %d: accuracy %.6f against %.6f", e, (double)a->h->accuracy[e], (double)b->h->accuracy[e]);
    }
    assert_int_equal(a->nw, b->nw);
    for (int64_t i = 0; i < a->nw; i++)
        if (!(fabs((double)a->w[i] - (double)b->w[i]) <= tol * (1.0 + fabs((double)a->w[i]))))
            fail_msg("weight %lld: %.9g against %.9g", (long long)i, (double)a->w[i], (double)b->w[i]);
}

/* Every replica holds device 0's bits. */
static void expect_replicas_identical(clg_model *m) {
    int64_t n0 = 0, n1 = 0;
    float *w0 = all_weights(clg_par_replica(m, 0), &n0);
    clg_model *r1 = clg_par_replica(m, 1);
    assert_non_null(r1);
    float *w1 = all_weights(r1, &n1);
    assert_int_equal(n0, n1);
    if (memcmp(w0, w1, (size_t)n0 * sizeof *w0)) fail_msg("the replica's weights differ from device 0's");
    free(w0), free(w1);
}

static void test_balance(void **state) {
    (void)state;
    int64_t s[3];
    clg_par_balance(2, (double[]){1, 3}, 32, s);
    assert_int_equal(s[0], 8), assert_int_equal(s[1], 24);
    clg_par_balance(3, (double[]){1, 1, 1}, 10, s);
    assert_int_equal(s[0], 4), assert_int_equal(s[1], 3), assert_int_equal(s[2], 3);
    clg_par_balance(2, (double[]){0, 0}, 5, s); /* nothing measured: even */
    assert_int_equal(s[0], 3), assert_int_equal(s[1], 2);
    clg_par_balance(2, (double[]){NAN, 2}, 4, s);
    assert_int_equal(s[0], 0), assert_int_equal(s[1], 4);
    clg_par_balance(2, (double[]){1, 1}, 1, s);
    assert_int_equal(s[0] + s[1], 1);
    clg_par_balance(3, (double[]){2, 1, 1}, 7, s); /* 3.5, 1.75, 1.75 */
    assert_int_equal(s[0] + s[1] + s[2], 7);
    assert_true(s[0] >= 3 && s[0] <= 4 && s[1] >= 1 && s[2] >= 1);
}

static void test_select_many(void **state) {
    (void)state;
    clg_device_info *list = NULL;
    size_t count = 0, chosen[8], n = 0;
    assert_int_equal(clg_devices_query(&list, &count), CLG_OK);
    assert_true(count >= 2);
    assert_int_equal(clg_device_select_many(list, count, "0:1,0:0,0:1", chosen, &n), CLG_OK);
    assert_int_equal(n, 2); /* no repeats, in the order listed */
    assert_int_equal(list[chosen[0]].device_index, 1), assert_int_equal(list[chosen[1]].device_index, 0);
    assert_int_equal(clg_device_select_many(list, count, "cpu", chosen, &n), CLG_OK);
    assert_int_equal(n, count);
    CLG_EXPECT_ERROR(clg_device_select_many(list, count, "0:0, 9:9", chosen, &n) != CLG_OK, CLG_STATUS_NO_DEVICE,
                     "'9:9'", "present: 0:0");
    CLG_EXPECT_ERROR(clg_device_select_many(list, count, " , ", chosen, &n) != CLG_OK, CLG_STATUS_NO_DEVICE,
                     "names no device");
    clg_devices_free(list);
    /* a context asked for an absent device fails, naming it */
    clg_context_options o = clg_context_options_default();
    o.devices = "0:0,5:3";
    CLG_EXPECT_ERROR(clg_context_new(&o) == NULL, CLG_STATUS_NO_DEVICE, "options.devices", "'5:3'");
}

/* Equal halves: the losses and weights of one device, within float32
 * summation order; 70 rows make a last batch of 6 (3 + 3), run eagerly. */
static void test_equal_split(void **state) {
    env *e = *state;
    clg_par_fake_rates(2, (double[]){1, 1}); /* timings would move the split */
    clg_model *m2 = NULL;
    run a = train(e->one, 70, 32, 3, 0, NULL), b = train(e->two, 70, 32, 3, 0, &m2);
    expect_close(&a, &b, 2e-5);
    int64_t sh[2];
    assert_int_equal(clg_par_shares(m2, sh, 2), 2);
    assert_int_equal(sh[0], 16), assert_int_equal(sh[1], 16);
    expect_replicas_identical(m2);
    /* evaluate and predict split the rows too, and agree with one device */
    float x[20 * FEAT], p1[20 * CLASSES], p2[20 * CLASSES];
    int32_t y[20];
    make_data(20, x, y, 9);
    clg_host_array hx = {.data = x, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {20, FEAT}};
    clg_host_array hy = {.data = y, .dtype = CLG_INT32, .ndim = 1, .shape = {20}};
    clg_model *m1 = mlp(e->one, 0);
    for (int i = 0; i < clg_model_weight_count(m1, 0); i++) { /* m2's weights into m1 */
        clg_tensor *t = clg_model_weight(m2, 0, i);
        float buf[256];
        assert_true(clg_tensor_numel(t) <= 256);
        assert_int_equal(clg_tensor_to_host(t, buf, sizeof buf), CLG_OK);
        assert_int_equal(clg_tensor_write(clg_model_weight(m1, 0, i), buf, (size_t)clg_tensor_numel(t) * 4), CLG_OK);
    }
    float l1, a1, l2, a2;
    assert_int_equal(clg_model_evaluate(m1, &hx, &hy, 3, &l1, &a1), CLG_OK);
    assert_int_equal(clg_model_evaluate(m2, &hx, &hy, 3, &l2, &a2), CLG_OK);
    assert_float_equal(l1, l2, 1e-6 * (1 + fabsf(l1)));
    assert_float_equal(a1, a2, 0);
    assert_int_equal(clg_model_predict(m1, &hx, 3, p1, 20 * CLASSES), CLG_OK);
    assert_int_equal(clg_model_predict(m2, &hx, 3, p2, 20 * CLASSES), CLG_OK);
    for (int i = 0; i < 20 * CLASSES; i++) assert_float_equal(p1[i], p2[i], 1e-6);
    clg_model_free(m1), clg_model_free(m2);
    run_free(&a), run_free(&b);
    clg_par_fake_rates(0, NULL);
}

/* Speeds 1 : 3 (injected, not timed) move the split to 8 + 24 after the
 * first timed steps; the result still is one device's. */
static void test_uneven_split(void **state) {
    env *e = *state;
    clg_par_fake_rates(2, (double[]){1000, 3000});
    clg_model *m2 = NULL;
    run a = train(e->one, 256, 32, 2, 0, NULL), b = train(e->two, 256, 32, 2, 0, &m2);
    clg_par_fake_rates(0, NULL);
    int64_t sh[2];
    assert_int_equal(clg_model_device_split(m2, sh, 2), 2);
    if (sh[0] != 8 || sh[1] != 24) fail_msg("split %lld + %lld, expected 8 + 24", (long long)sh[0], (long long)sh[1]);
    expect_close(&a, &b, 1e-4);
    expect_replicas_identical(m2);
    clg_model_free(m2);
    run_free(&a), run_free(&b);
}

/* A batch of one row: one device gets it, the other nothing. */
static void test_batch_smaller_than_devices(void **state) {
    env *e = *state;
    clg_par_fake_rates(2, (double[]){1, 1});
    run a = train(e->one, 5, 1, 2, 0, NULL), b = train(e->two, 5, 1, 2, 0, NULL);
    expect_close(&a, &b, 1e-5);
    run_free(&a), run_free(&b);
    clg_par_fake_rates(0, NULL);
}

/* Validation (evaluated on both devices) and per-sample weights. */
static void test_validation_and_weights(void **state) {
    env *e = *state;
    clg_par_fake_rates(2, (double[]){1, 1});
    enum { NS = 80 };
    float x[NS * FEAT], sw[NS];
    int32_t y[NS];
    make_data(NS, x, y, 21);
    for (int i = 0; i < NS; i++) sw[i] = (float)(i % 4) * 0.5f;
    clg_host_array hx = {.data = x, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {NS, FEAT}};
    clg_host_array hy = {.data = y, .dtype = CLG_INT32, .ndim = 1, .shape = {NS}};
    clg_history *h[2];
    clg_context *ctx[2] = {e->one, e->two};
    for (int k = 0; k < 2; k++) {
        clg_model *m = mlp(ctx[k], 0);
        clg_fit_options o = clg_fit_options_default();
        o.batch_size = 20, o.epochs = 2, o.verbose = 0, o.validation_split = 0.25f, o.sample_weight = sw;
        h[k] = clg_model_fit(m, &hx, &hy, &o);
        if (!h[k]) fail_msg("fit on %d device(s): %s", k + 1, clg_last_error());
        clg_model_free(m);
    }
    for (int ep = 0; ep < 2; ep++) {
        assert_float_equal(h[0]->loss[ep], h[1]->loss[ep], 2e-5 * fabsf(h[0]->loss[ep]));
        assert_float_equal(h[0]->val_loss[ep], h[1]->val_loss[ep], 2e-5 * fabsf(h[0]->val_loss[ep]));
        assert_float_equal(h[0]->val_accuracy[ep], h[1]->val_accuracy[ep], 0);
    }
    clg_history_free(h[0]), clg_history_free(h[1]);
    clg_par_fake_rates(0, NULL);
}

/* Host rows for weights exist whenever weights come (a fit without them
 * first, then with; validation shares larger than the training shares). */
static void test_weights_after_other_calls(void **state) {
    env *e = *state;
    clg_par_fake_rates(2, (double[]){1, 1});
    enum { NS = 96 };
    float x[NS * FEAT], sw[NS];
    int32_t y[NS];
    make_data(NS, x, y, 8);
    for (int i = 0; i < NS; i++) sw[i] = 0.25f + (float)(i % 3);
    clg_host_array hx = {.data = x, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {NS, FEAT}};
    clg_host_array hy = {.data = y, .dtype = CLG_INT32, .ndim = 1, .shape = {NS}};
    clg_model *m = mlp(e->two, 0);
    clg_fit_options o = clg_fit_options_default();
    o.batch_size = 16, o.epochs = 1, o.verbose = 0;
    clg_history *h = clg_model_fit(m, &hx, &hy, &o);
    assert_non_null(h);
    clg_history_free(h);
    o.sample_weight = sw, o.batch_size = 8, o.epochs = 2, o.validation_split = 0.5f; /* 48 validation rows */
    h = clg_model_fit(m, &hx, &hy, &o);
    if (!h) fail_msg("fit with weights: %s", clg_last_error());
    assert_true(isfinite(h->val_loss[1]));
    clg_history_free(h);
    clg_model_free(m);
    clg_par_fake_rates(0, NULL);
}

/* A device that had no rows (a batch of one) gets rows again later. */
static void test_idle_device_comes_back(void **state) {
    env *e = *state;
    clg_par_fake_rates(2, (double[]){1, 1});
    enum { NS = 64 };
    float x[NS * FEAT];
    int32_t y[NS];
    make_data(NS, x, y, 4);
    clg_host_array hx = {.data = x, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {NS, FEAT}};
    clg_host_array hy = {.data = y, .dtype = CLG_INT32, .ndim = 1, .shape = {NS}};
    clg_model *m = mlp(e->two, 0);
    clg_fit_options o = clg_fit_options_default();
    o.batch_size = 1, o.epochs = 1, o.verbose = 0;
    clg_history *h = clg_model_fit(m, &hx, &hy, &(clg_fit_options){.batch_size = 1, .epochs = 1});
    assert_non_null(h);
    clg_history_free(h);
    int64_t sh[2];
    assert_int_equal(clg_model_device_split(m, sh, 2), 2);
    assert_int_equal(sh[0] + sh[1], 1);
    o.batch_size = 32, o.epochs = 4;
    h = clg_model_fit(m, &hx, &hy, &o);
    assert_non_null(h);
    clg_history_free(h);
    assert_int_equal(clg_model_device_split(m, sh, 2), 2);
    if (sh[0] != 16 || sh[1] != 16) fail_msg("split %lld + %lld after the batch of one", (long long)sh[0], (long long)sh[1]);
    clg_model_free(m);
    clg_par_fake_rates(0, NULL);
}

/* Batch normalisation: each device normalises its share; the moving
 * statistics are averaged, so every device holds the same ones. */
static void test_batchnorm_statistics(void **state) {
    env *e = *state;
    /* one step, equal halves: the moving mean is the mean of the halves'
     * means, i.e. one device's (the variance differs: each half's own) */
    clg_par_fake_rates(2, (double[]){1, 1});
    clg_model *a1 = NULL, *a2 = NULL;
    run s1 = train(e->one, 32, 32, 1, 1, &a1), s2 = train(e->two, 32, 32, 1, 1, &a2);
    clg_par_fake_rates(0, NULL);
    float mm1[16], mm2[16];
    assert_int_equal(clg_tensor_to_host(clg_model_get_layer(a1, "batch_normalization")->w[2], mm1, sizeof mm1), CLG_OK);
    assert_int_equal(clg_tensor_to_host(clg_model_get_layer(a2, "batch_normalization")->w[2], mm2, sizeof mm2), CLG_OK);
    for (int i = 0; i < 16; i++) assert_float_equal(mm1[i], mm2[i], 1e-6 + 1e-5 * fabsf(mm1[i]));
    clg_model_free(a1), clg_model_free(a2);
    run_free(&s1), run_free(&s2);
    clg_model *m2 = NULL;
    run b = train(e->two, 64, 32, 2, 1, &m2);
    expect_replicas_identical(m2);
    for (int64_t i = 0; i < b.nw; i++) assert_true(isfinite(b.w[i]));
    /* the moving mean moved from zeros: the statistics reached it */
    clg_layer *bn = clg_model_get_layer(m2, "batch_normalization");
    assert_non_null(bn);
    float mm[16];
    assert_int_equal(clg_tensor_to_host(bn->w[2], mm, sizeof mm), CLG_OK);
    double s = 0;
    for (int i = 0; i < 16; i++) s += fabs(mm[i]);
    assert_true(s > 1e-4);
    clg_model_free(m2);
    run_free(&b);
}

typedef struct arm {
    clg_context *peer;
    float *snapshot;
    int64_t n;
    clg_model *m;
} arm;

static int arm_fault(void *user, int epoch, const clg_history *h) {
    (void)h;
    arm *a = user;
    if (epoch == 0) {
        a->snapshot = all_weights(a->m, &a->n);
        clg_fault_set(a->peer, CLG_FAULT_ENQUEUE, 3, CL_DEVICE_NOT_AVAILABLE); /* as a lost device */
    }
    return 0;
}

/* Device 0:1 fails in the second epoch: fit reports it, naming the device,
 * and the checkpoint of the first epoch is whole. */
static void test_device_fails_mid_training(void **state) {
    env *e = *state;
    char *dir = clg_test_tempdir("parallel"), path[512];
    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    float x[64 * FEAT];
    int32_t y[64];
    make_data(64, x, y, 5);
    clg_host_array hx = {.data = x, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {64, FEAT}};
    clg_host_array hy = {.data = y, .dtype = CLG_INT32, .ndim = 1, .shape = {64}};
    clg_model *m = mlp(e->two, 0);
    arm a = {.peer = clg_context_peer(e->two, 1), .m = m};
    clg_callback *cbs[2] = {clg_callback_model_checkpoint(path, "loss", 0), clg_callback_user(arm_fault, &a)};
    clg_fit_options o = clg_fit_options_default();
    o.batch_size = 16, o.epochs = 3, o.verbose = 0, o.callbacks = (const clg_callback *const *)cbs, o.ncallbacks = 2;
    clg_history *h = clg_model_fit(m, &hx, &hy, &o);
    CLG_EXPECT_ERROR(h == NULL, CLG_STATUS_OPENCL_ERROR, "(0:1)", "injected fault");
    clg_fault_clear(a.peer);
    clg_model *back = clg_model_load(e->one, path);
    if (!back) fail_msg("the checkpoint does not load: %s", clg_last_error());
    int64_t n = 0;
    float *w = all_weights(back, &n);
    assert_int_equal(n, a.n);
    if (memcmp(w, a.snapshot, (size_t)n * sizeof *w)) fail_msg("the checkpoint is not the first epoch's weights");
    free(w), free(a.snapshot);
    clg_model_free(back), clg_model_free(m);
    clg_callback_free(cbs[0]), clg_callback_free(cbs[1]);
    /* the model trains again once the device works */
    clg_fit_options again = clg_fit_options_default();
    again.batch_size = 16, again.epochs = 1, again.verbose = 0;
    h = clg_model_fit(m = mlp(e->two, 0), &hx, &hy, &again);
    if (!h) fail_msg("fit after the fault: %s", clg_last_error());
    clg_history_free(h);
    clg_model_free(m);
    clg_test_rmtree(dir);
    free(dir);
}

/* A device that cannot be opened is left out with a warning. */
static void test_device_fails_at_start(void **state) {
    (void)state;
    setenv("CLGRAD_FAULT", "open:1@0:1", 1);
    FILE *report = tmpfile();
    assert_non_null(report);
    clg_context_options o = clg_context_options_default();
    o.devices = "all", o.report_stream = report;
    clg_context *ctx = clg_context_new(&o);
    unsetenv("CLGRAD_FAULT");
    assert_non_null(ctx);
    assert_int_equal(clg_context_device_count(ctx), 1);
    assert_int_equal(clg_context_device_at(ctx, 0)->device_index, 0);
    assert_null(clg_context_device_at(ctx, 1));
    char text[2048] = "";
    rewind(report);
    size_t got = fread(text, 1, sizeof text - 1, report);
    text[got] = 0;
    if (!strstr(text, "warning: device 0:1") || !strstr(text, "left out"))
        fail_msg("no warning about device 0:1: '%s'", text);
    fclose(report);
    clg_context_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_balance),
        cmocka_unit_test(test_select_many),
        cmocka_unit_test(test_equal_split),
        cmocka_unit_test(test_uneven_split),
        cmocka_unit_test(test_batch_smaller_than_devices),
        cmocka_unit_test(test_validation_and_weights),
        cmocka_unit_test(test_weights_after_other_calls),
        cmocka_unit_test(test_idle_device_comes_back),
        cmocka_unit_test(test_batchnorm_statistics),
        cmocka_unit_test(test_device_fails_mid_training),
        cmocka_unit_test(test_device_fails_at_start),
    };
    return clg_test_exit_code(cmocka_run_group_tests(tests, setup, teardown));
}
