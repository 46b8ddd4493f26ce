/* Captured steps: replays equal the eager run and each other bit for bit,
 * allocate nothing, follow new input data, and the memory plan never hands a
 * buffer in use to another tensor (canaries planted before, during and after the
 * capture stay intact over many replays). */
#include "fixture.h"

#include <math.h>
#include <stdlib.h>

#include "tensor/tensor_impl.h"

enum { N = 8, D = 12 };

typedef struct model {
    clg_tensor *x, *w, *b;
} model;

static void model_init(clg_context *ctx, model *m) {
    int64_t xs[2] = {N, D}, ws[1] = {D};
    m->x = clg_tensor_rand_uniform(ctx, 2, xs, -1, 1, 11, 0);
    m->w = clg_tensor_rand_uniform(ctx, 1, ws, -1, 1, 12, 0);
    m->b = clg_tensor_rand_uniform(ctx, 1, ws, -0.1f, 0.1f, 13, 0);
    assert_true(m->x && m->w && m->b);
    assert_int_equal(clg_tensor_set_requires_grad(m->w, 1), CLG_OK);
    assert_int_equal(clg_tensor_set_requires_grad(m->b, 1), CLG_OK);
}

static void model_free(model *m) {
    clg_tensor_free(m->x);
    clg_tensor_free(m->w);
    clg_tensor_free(m->b);
}

/* loss = mean(softmax(relu(x * w + b))^2 over rows), backward, SGD update.
 * Returns the loss tensor (new reference). */
static clg_tensor *train_step(model *m) {
    clg_tensor_zero_grad(m->w);
    clg_tensor_zero_grad(m->b);
    clg_tensor *xw = clg_mul(m->x, m->w);
    clg_tensor *h = clg_add(xw, m->b);
    clg_tensor *r = clg_relu(h);
    clg_tensor *p = clg_softmax(r, -1);
    clg_tensor *sq = clg_square(p);
    clg_tensor *loss = clg_mean(sq, 0, NULL, 0);
    assert_non_null(loss);
    clg_tensor *mid[] = {xw, h, r, p, sq};
    for (int i = 0; i < 5; i++) clg_tensor_free(mid[i]); /* the graph keeps what it needs */
    assert_int_equal(clg_backward(loss, NULL), CLG_OK);
    clg_tensor *params[2] = {m->w, m->b};
    for (int i = 0; i < 2; i++) {
        clg_tensor *step = clg_mul_scalar(clg_tensor_grad(params[i]), 0.5f);
        clg_tensor *next = clg_sub(params[i], step);
        assert_int_equal(clg_tensor_assign(params[i], next), CLG_OK);
        clg_tensor_free(step);
        clg_tensor_free(next);
    }
    return loss;
}

static void read_all(const model *m, float *w, float *b) {
    assert_int_equal(clg_tensor_to_host(m->w, w, D * sizeof(float)), CLG_OK);
    assert_int_equal(clg_tensor_to_host(m->b, b, D * sizeof(float)), CLG_OK);
}

static void test_replay_matches_eager(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    model eager, cap;
    model_init(ctx, &eager);
    model_init(ctx, &cap);
    float loss_e[6], loss_c[6];

    for (int i = 0; i < 6; i++) {
        clg_tensor *l = train_step(&eager);
        assert_int_equal(clg_tensor_to_host(l, &loss_e[i], sizeof(float)), CLG_OK);
        clg_tensor_free(l);
    }

    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *loss = train_step(&cap); /* step 1 runs while it is recorded */
    clg_step *step = clg_step_capture_end(ctx);
    if (!step) fail_msg("capture: %s", clg_last_error());
    assert_int_equal(clg_tensor_to_host(loss, &loss_c[0], sizeof(float)), CLG_OK);
    clg_context_stats before = clg_context_get_stats(ctx);
    for (int i = 1; i < 6; i++) {
        assert_int_equal(clg_step_replay(step), CLG_OK);
        assert_int_equal(clg_tensor_to_host(loss, &loss_c[i], sizeof(float)), CLG_OK);
    }
    clg_context_stats after = clg_context_get_stats(ctx);
    /* A replay allocates nothing and builds nothing. */
    assert_int_equal(after.buffers_created, before.buffers_created);
    assert_int_equal(after.buffers_reused, before.buffers_reused);
    assert_int_equal(after.programs_built, before.programs_built);
    assert_int_equal(after.programs_from_memory, before.programs_from_memory);

    /* Same kernels in the same order: the replayed run equals the eager one. */
    float we[D], be[D], wc[D], bc[D];
    read_all(&eager, we, be);
    read_all(&cap, wc, bc);
    for (int i = 0; i < 6; i++) assert_memory_equal(&loss_e[i], &loss_c[i], sizeof(float));
    assert_memory_equal(we, wc, sizeof we);
    assert_memory_equal(be, bc, sizeof be);
    assert_true(loss_c[5] < loss_c[0]); /* it trains */

    clg_step_info info = clg_step_get_info(step);
    assert_true(info.commands > 10);
    assert_true(info.buffers > 0);
    assert_true(info.allocations_saved > 0); /* dead intermediates were reused */
    assert_true(info.peak_bytes > 0);
    clg_tensor_free(loss);
    clg_step_free(step);
    model_free(&eager);
    model_free(&cap);
}

static void test_replay_follows_new_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t shape[2] = {4, 5};
    float a[20], b[20], out[20];
    clg_test_random_floats(a, 20, 1);
    clg_test_random_floats(b, 20, 2);
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, a);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *e = clg_exp(x);
    clg_tensor *y = clg_mul_scalar(e, 2.0f);
    clg_tensor *s = clg_sum(y, 1, (int[]){1}, 0);
    clg_step *step = clg_step_capture_end(ctx);
    assert_non_null(step);
    for (int rep = 0; rep < 3; rep++) {
        const float *in = rep % 2 ? b : a;
        assert_int_equal(clg_tensor_write(x, in, sizeof a), CLG_OK);
        assert_int_equal(clg_step_replay(step), CLG_OK);
        assert_int_equal(clg_tensor_to_host(s, out, 4 * sizeof(float)), CLG_OK);
        for (int r = 0; r < 4; r++) {
            double want = 0;
            for (int c = 0; c < 5; c++) want += 2 * exp(in[r * 5 + c]);
            assert_true(fabs(out[r] - want) < 1e-4 * fabs(want));
        }
    }
    clg_tensor_free(e);
    clg_tensor_free(y);
    clg_tensor_free(s);
    clg_tensor_free(x);
    clg_step_free(step);
}

/* A read added to a step lands after the last command that touches the
 * buffer (here the second of two writes), runs on the transfer queue at
 * every replay, and follows new input. */
static void test_step_add_read(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t n = 6;
    float a[6], b[6], got[6];
    clg_test_random_floats(a, 6, 3);
    clg_test_random_floats(b, 6, 4);
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, &n, a);
    clg_tensor *t = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, &n);
    assert_non_null(x), assert_non_null(t);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *twice = clg_mul_scalar(x, 2.0f), *thrice = clg_mul_scalar(x, 3.0f);
    assert_int_equal(clg_tensor_assign(t, twice), CLG_OK);
    assert_int_equal(clg_tensor_assign(t, thrice), CLG_OK);
    clg_tensor *after = clg_exp(thrice); /* later work that does not touch t */
    assert_int_equal(clg_tensor_eval(after), CLG_OK);
    clg_step *step = clg_step_capture_end(ctx);
    assert_non_null(step);
    cl_event done = NULL;
    assert_int_equal(clg_step_add_read(step, t->buf, 0, sizeof got, got, &done), CLG_OK);
    for (int rep = 0; rep < 3; rep++) {
        const float *in = rep % 2 ? b : a;
        assert_int_equal(clg_tensor_write(x, in, sizeof a), CLG_OK);
        assert_int_equal(clg_step_replay(step), CLG_OK);
        assert_non_null(done);
        assert_int_equal(clFlush(ctx->queue), CL_SUCCESS);
        assert_int_equal(clWaitForEvents(1, &done), CL_SUCCESS);
        clReleaseEvent(done);
        for (int i = 0; i < 6; i++) assert_float_equal(got[i], 3.0f * in[i], 1e-6);
    }
    CLG_EXPECT_ERROR(clg_step_add_read(step, t->buf, 4, sizeof got, got, &done) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_step_add_read");
    clg_step_free(step);
    clg_tensor_free(twice), clg_tensor_free(thrice), clg_tensor_free(after);
    clg_tensor_free(t), clg_tensor_free(x);
}

static clg_tensor *canary(clg_context *ctx, int64_t n, float value) {
    clg_tensor *t = clg_tensor_full(ctx, CLG_FLOAT32, 1, &n, value);
    assert_non_null(t);
    return t;
}

static void check_canary(clg_tensor *t, float value) {
    int64_t n = clg_tensor_numel(t);
    float *v = malloc((size_t)n * sizeof *v);
    assert_int_equal(clg_tensor_to_host(t, v, (size_t)n * sizeof *v), CLG_OK);
    for (int64_t i = 0; i < n; i++)
        if (v[i] != value) fail_msg("canary %g overwritten at %lld: %g", (double)value, (long long)i, (double)v[i]);
    free(v);
}

static void test_memory_plan_canaries(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_context_release_cached_memory(ctx);
    /* Same byte sizes as the step's temporaries, so a wrong plan would hit them. */
    int64_t n = N * D;
    clg_tensor *before[3] = {canary(ctx, n, 1.5f), canary(ctx, n, 2.5f), canary(ctx, D, 3.5f)};
    model m;
    model_init(ctx, &m);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *during = canary(ctx, n, 4.5f); /* made inside the capture, kept alive */
    clg_tensor *loss = train_step(&m);
    clg_step *step = clg_step_capture_end(ctx);
    assert_non_null(step);
    /* Allocations after the capture must not get a buffer the step rewrites. */
    clg_tensor *after[4] = {canary(ctx, n, 5.5f), canary(ctx, n, 6.5f), canary(ctx, D, 7.5f),
                            canary(ctx, 1, 8.5f)};
    for (int rep = 0; rep < 5; rep++) assert_int_equal(clg_step_replay(step), CLG_OK);
    float cb[3] = {1.5f, 2.5f, 3.5f}, ca[4] = {5.5f, 6.5f, 7.5f, 8.5f};
    for (int i = 0; i < 3; i++) check_canary(before[i], cb[i]);
    for (int i = 0; i < 4; i++) check_canary(after[i], ca[i]);
    check_canary(during, 4.5f);
    /* Freeing tensors the step uses keeps its buffers alive for replays. */
    clg_tensor_free(loss);
    model fresh = m;
    (void)fresh;
    assert_int_equal(clg_step_replay(step), CLG_OK);
    assert_int_equal(clg_context_finish(ctx), CLG_OK);
    clg_step_free(step);
    for (int i = 0; i < 3; i++) clg_tensor_free(before[i]);
    for (int i = 0; i < 4; i++) clg_tensor_free(after[i]);
    clg_tensor_free(during);
    model_free(&m);
}

static void test_capture_errors(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    CLG_EXPECT_ERROR(clg_step_capture_end(ctx) == NULL, CLG_STATUS_INVALID_ARGUMENT, "no capture");
    CLG_EXPECT_ERROR(clg_step_replay(NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_step_replay");
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    CLG_EXPECT_ERROR(clg_step_capture_begin(ctx) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "already");
    int64_t n = 3;
    clg_tensor *t = clg_tensor_ones(ctx, CLG_FLOAT32, 1, &n);
    float v[3];
    CLG_EXPECT_ERROR(clg_tensor_to_host(t, v, sizeof v) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "during a step capture");
    clg_step *s = clg_step_capture_end(ctx);
    assert_non_null(s);
    /* The host data of a tensor made inside the capture is part of the step. */
    assert_int_equal(clg_step_replay(s), CLG_OK);
    assert_int_equal(clg_tensor_to_host(t, v, sizeof v), CLG_OK);
    assert_true(v[0] == 1.0f && v[2] == 1.0f);
    clg_tensor_free(t);
    clg_step_free(s);
    clg_step_free(NULL);
}

/* Draws through a device counter get fresh numbers on every replay: draw k of
 * n elements equals elements [k * round4(n), ...) of the host-offset stream. */
static void test_counter_rng_replays_fresh(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N_EL = 10, R4 = 12 };
    int64_t n = N_EL;
    clg_tensor *counter = clg_tensor_zeros(ctx, CLG_INT32, 1, (int64_t[]){2});
    clg_tensor *ones = clg_tensor_ones(ctx, CLG_FLOAT32, 1, &n);
    assert_true(counter && ones);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *u = clg_tensor_rand_uniform_counter(ctx, 1, &n, 0.0f, 1.0f, 77, counter);
    clg_tensor *d = clg_dropout_counter(ones, 0.5f, 77, counter);
    clg_step *step = clg_step_capture_end(ctx);
    assert_true(u && d && step);
    for (int k = 0; k < 3; k++) {
        if (k) assert_int_equal(clg_step_replay(step), CLG_OK);
        float got[N_EL], want[N_EL], mask[N_EL], ref_mask[N_EL];
        assert_int_equal(clg_tensor_to_host(u, got, sizeof got), CLG_OK);
        assert_int_equal(clg_tensor_to_host(d, mask, sizeof mask), CLG_OK);
        /* Per replay the counter moved by two draws: the uniform, then the mask. */
        clg_tensor *ref = clg_tensor_rand_uniform(ctx, 1, &n, 0.0f, 1.0f, 77, (uint64_t)(2 * k) * R4);
        clg_tensor *refm = clg_tensor_rand_uniform(ctx, 1, &n, 0.0f, 1.0f, 77, (uint64_t)(2 * k + 1) * R4);
        assert_int_equal(clg_tensor_to_host(ref, want, sizeof want), CLG_OK);
        assert_int_equal(clg_tensor_to_host(refm, ref_mask, sizeof ref_mask), CLG_OK);
        assert_memory_equal(got, want, sizeof got);
        for (int i = 0; i < N_EL; i++) assert_true(mask[i] == (ref_mask[i] >= 0.5f ? 2.0f : 0.0f));
        clg_tensor_free(ref);
        clg_tensor_free(refm);
    }
    CLG_EXPECT_ERROR(clg_tensor_rand_uniform_counter(ctx, 1, &n, 0, 1, 1, ones) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "counter");
    clg_step_free(step);
    clg_tensor *all[] = {counter, ones, u, d};
    for (int i = 0; i < 4; i++) clg_tensor_free(all[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_matches_eager),
        cmocka_unit_test(test_replay_follows_new_input),
        cmocka_unit_test(test_step_add_read),
        cmocka_unit_test(test_memory_plan_canaries),
        cmocka_unit_test(test_capture_errors),
        cmocka_unit_test(test_counter_rng_replays_fresh),
    };
    return CLG_RUN_GROUP(tests);
}
