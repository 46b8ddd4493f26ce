/* Training across MPI ranks (issue 9). ctest runs it as 2 ranks under
 * mpiexec, each rank on two PoCL devices (POCL_DEVICES="pthread pthread",
 * CLGRAD_DEVICES=all): 4 replicas in all. A single-process run on one device
 * (MPI disabled for it) gives the reference. Collective calls come before any
 * check, so one rank's failed check cannot leave the other waiting. */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgrad/distributed.h"
#include "runtime/dist.h"

enum { N = 48, FEAT = 5, CLASSES = 3, EPOCHS = 6 };

static void make_data(float *x, int32_t *y) {
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        float sum = 0;
        for (int k = 0; k < FEAT; k++) {
            s = s * 1664525u + 1013904223u;
            x[i * FEAT + k] = (float)(s >> 8) / 16777216.0f * 2.0f - 1.0f;
            sum += x[i * FEAT + k] * (float)(k % 3 + 1);
        }
        y[i] = sum > 0.8f ? 2 : sum > -0.8f ? 1 : 0;
    }
}

static clg_model *mlp(clg_context *ctx) {
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){FEAT});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_dense(12, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(CLASSES, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_set_seed(m, 11), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    return m;
}

static double *weights(clg_model *m, int *count) {
    int n = clg_model_weight_count(m, 0), tot = 0;
    for (int i = 0; i < n; i++) tot += (int)clg_tensor_numel(clg_model_weight(m, 0, i));
    double *w = malloc((size_t)tot * sizeof *w);
    assert_non_null(w);
    for (int i = 0, at = 0; i < n; i++) {
        clg_tensor *t = clg_model_weight(m, 0, i);
        int64_t k = clg_tensor_numel(t);
        float *buf = malloc((size_t)k * sizeof *buf);
        assert_non_null(buf);
        assert_int_equal(clg_tensor_to_host(t, buf, (size_t)k * sizeof *buf), CLG_OK);
        for (int64_t j = 0; j < k; j++) w[at++] = buf[j];
        free(buf);
    }
    *count = tot;
    return w;
}

typedef struct watch {
    clg_model *m;
    int steps, differ;
} watch;

/* After every epoch (= every step: one batch of N rows): the parameters
 * must be the same on every rank. max over ranks of w and of -w: equal
 * exactly when every rank holds the same value. */
static int same_on_all_ranks(void *user, int epoch, const clg_history *h) {
    (void)epoch, (void)h;
    watch *wt = user;
    int n = 0;
    double *w = weights(wt->m, &n);
    double *hi = malloc((size_t)n * 2 * sizeof *hi);
    assert_non_null(hi);
    for (int i = 0; i < n; i++) hi[i] = w[i], hi[n + i] = -w[i];
    assert_int_equal(clg_dist_allreduce_max_f64(hi, (size_t)n * 2, "comparing parameters"), CLG_OK);
    for (int i = 0; i < n; i++)
        if (hi[i] != -hi[n + i]) wt->differ++;
    wt->steps++;
    free(w), free(hi);
    return 0;
}

static void test_fit_across_ranks(void **state) {
    (void)state;
    const int size = clg_dist_size(); /* collective on first use */
    float x[N * FEAT];
    int32_t y[N];
    make_data(x, y);
    clg_host_array hx = {.data = x, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {N, FEAT}};
    clg_host_array hy = {.data = y, .dtype = CLG_INT32, .ndim = 1, .shape = {N}};
    clg_fit_options o = clg_fit_options_default();
    o.batch_size = N, o.epochs = EPOCHS, o.verbose = 0;

    /* the reference: one process, one device, the same global batch */
    clg_dist_set_disabled(1);
    clg_context_options co = clg_context_options_default();
    co.device = "0:0", co.devices = "";
    clg_context *one = clg_context_new(&co);
    assert_non_null(one);
    clg_model *ref = mlp(one);
    clg_history *hr = clg_model_fit(ref, &hx, &hy, &o);
    float ref_eval_loss = 0, ref_eval_acc = 0, ref_pred[N * CLASSES];
    assert_non_null(hr);
    assert_int_equal(clg_model_evaluate(ref, &hx, &hy, 7, &ref_eval_loss, &ref_eval_acc), CLG_OK);
    assert_int_equal(clg_model_predict(ref, &hx, 7, ref_pred, N * CLASSES), CLG_OK);
    clg_dist_set_disabled(0);

    /* every rank, every local device */
    co.device = NULL, co.devices = NULL; /* CLGRAD_DEVICES */
    clg_context *ctx = clg_context_new(&co);
    assert_non_null(ctx);
    clg_model *m = mlp(ctx);
    watch wt = {.m = m};
    clg_callback *cb = clg_callback_user(same_on_all_ranks, &wt);
    o.callbacks = (const clg_callback *const *)&cb, o.ncallbacks = 1;
    clg_history *h = clg_model_fit(m, &hx, &hy, &o);
    float loss = 0, acc = 0, pred[N * CLASSES];
    clg_status se = h ? clg_model_evaluate(m, &hx, &hy, 7, &loss, &acc) : CLG_STATUS_INVALID_ARGUMENT;
    clg_status sp = h ? clg_model_predict(m, &hx, 7, pred, N * CLASSES) : CLG_STATUS_INVALID_ARGUMENT;

    if (!h) fail_msg("fit: %s", clg_last_error());
    assert_int_equal(se, CLG_OK), assert_int_equal(sp, CLG_OK);
    if (getenv("OMPI_COMM_WORLD_SIZE")) assert_int_equal(size, atoi(getenv("OMPI_COMM_WORLD_SIZE")));
    assert_int_equal(wt.steps, EPOCHS);
    if (wt.differ) fail_msg("%d parameter values differ between ranks", wt.differ);
    for (int e = 0; e < EPOCHS; e++)
        if (!(fabs(h->loss[e] - hr->loss[e]) <= 2e-5 * fabs(hr->loss[e])))
            fail_msg("epoch %d: loss %.9g across %d ranks, %.9g in one process", e, (double)h->loss[e], size,
                     (double)hr->loss[e]);
    assert_float_equal(loss, ref_eval_loss, 2e-5 * fabs(ref_eval_loss));
    for (int i = 0; i < N * CLASSES; i++) assert_float_equal(pred[i], ref_pred[i], 1e-4);
    clg_history_free(h), clg_history_free(hr);
    clg_callback_free(cb);
    clg_model_free(m), clg_model_free(ref);
    clg_context_free(ctx), clg_context_free(one);
}

/* A partial last batch (40 training rows after the validation split of 50:
 * batches of 16, 16 and 8), per-sample weights and a validation
 * split across ranks and devices, against one process. */
static void test_partial_batches_weights_validation(void **state) {
    (void)state;
    enum { M = 50 };
    float x[M * FEAT], sw[M];
    int32_t y[M];
    uint32_t r = 99;
    for (int i = 0; i < M * FEAT; i++) r = r * 1664525u + 1013904223u, x[i] = (float)(r >> 8) / 16777216.0f - 0.5f;
    for (int i = 0; i < M; i++) y[i] = (int32_t)(i % CLASSES), sw[i] = 0.5f + (float)(i % 4) * 0.25f;
    clg_host_array hx = {.data = x, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {M, FEAT}};
    clg_host_array hy = {.data = y, .dtype = CLG_INT32, .ndim = 1, .shape = {M}};
    clg_fit_options o = clg_fit_options_default();
    o.batch_size = 16, o.epochs = 3, o.verbose = 0, o.validation_split = 0.2f, o.sample_weight = sw;
    clg_history *h[2];
    for (int k = 0; k < 2; k++) { /* k = 0: one process, one device; 1: every rank and device */
        clg_dist_set_disabled(k == 0);
        clg_context_options co = clg_context_options_default();
        co.device = k == 0 ? "0:0" : NULL, co.devices = k == 0 ? "" : NULL;
        clg_context *ctx = clg_context_new(&co);
        assert_non_null(ctx);
        clg_model *m = mlp(ctx);
        h[k] = clg_model_fit(m, &hx, &hy, &o);
        clg_model_free(m);
        clg_context_free(ctx);
    }
    clg_dist_set_disabled(0);
    if (!h[0] || !h[1]) fail_msg("fit: %s", clg_last_error());
    for (int e = 0; e < 3; e++) {
        assert_float_equal(h[0]->loss[e], h[1]->loss[e], 2e-5 * fabs(h[0]->loss[e]));
        assert_float_equal(h[0]->val_loss[e], h[1]->val_loss[e], 2e-5 * fabs(h[0]->val_loss[e]));
    }
    clg_history_free(h[0]), clg_history_free(h[1]);
}

/* A failure on rank 0 alone (its CSV file cannot be made; the others write
 * none) fails the fit on every rank instead of leaving them waiting. */
static void test_one_rank_fails(void **state) {
    (void)state;
    float x[N * FEAT];
    int32_t y[N];
    make_data(x, y);
    clg_host_array hx = {.data = x, .dtype = CLG_FLOAT32, .ndim = 2, .shape = {N, FEAT}};
    clg_host_array hy = {.data = y, .dtype = CLG_INT32, .ndim = 1, .shape = {N}};
    clg_context *ctx = clg_context_new(NULL);
    assert_non_null(ctx);
    clg_model *m = mlp(ctx);
    clg_callback *cb = clg_callback_csv_logger("/nonexistent-dir/clgrad/log.csv");
    clg_fit_options o = clg_fit_options_default();
    o.batch_size = 16, o.epochs = 2, o.verbose = 0, o.callbacks = (const clg_callback *const *)&cb, o.ncallbacks = 1;
    clg_history *h = clg_model_fit(m, &hx, &hy, &o);
    clg_status st = clg_last_status();
    char msg[512];
    snprintf(msg, sizeof msg, "%s", clg_last_error());
    /* the model still works on every rank: evaluate is a collective too */
    float loss = 0, acc = 0;
    clg_status se = clg_model_evaluate(m, &hx, &hy, 16, &loss, &acc);
    clg_callback_free(cb);
    clg_model_free(m);
    clg_context_free(ctx);
    if (h) fail_msg("fit succeeded on rank %d", clg_dist_rank());
    if (clg_dist_size() > 1 && clg_dist_rank() != 0) {
        assert_int_equal(st, CLG_STATUS_IO_ERROR);
        if (!strstr(msg, "another MPI rank failed")) fail_msg("rank %d: %s", clg_dist_rank(), msg);
    } else if (!strstr(msg, "log.csv")) {
        fail_msg("rank 0: %s", msg);
    }
    assert_int_equal(se, CLG_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fit_across_ranks),
                                       cmocka_unit_test(test_partial_batches_weights_validation),
                                       cmocka_unit_test(test_one_rank_fails)};
    return clg_test_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
