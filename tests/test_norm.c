/* Batch, layer and group normalisation against a host reference in double,
 * gradients against finite differences (opcheck).
 *
 * Covered: batch norm training (NCHW [2,3,4,5], NHWC [2,3,2,4], rank-2 [N,C],
 * without gamma/beta, strided views) and inference; layer norm over 1 and 2 axes
 * (and strided views); group norm with 1, 2 and C groups (rank 4 and rank 3);
 * running statistics after two training steps (momentum 0.99, eps 1e-3: Keras's
 * defaults); a captured step updating them on every replay; size-0 and size-1
 * extents; bad input for each op.
 *
 * Tolerances:
 * - forward: 1e-4 + 1e-4 |ref|. Outputs are O(1); float32 statistics over at
 *   most 40 values are accurate to ~1e-6 relative, and dividing by sqrt(var + eps)
 *   with var ~ 1 keeps that; the margin covers rsqrt (a few ulp in OpenCL).
 * - gradients: 2e-3 + 2e-3 |ref| (float32 device against float64 central
 *   differences of a function whose every output depends on all inputs of its
 *   group, so cancellation in the finite differences is larger than elementwise).
 * - running statistics: 1e-5 + 1e-5 |ref| (two updates of O(1) values). */
#include "opcheck.h"

#include <math.h>
#include <stdlib.h>

enum { K_BN_TRAIN, K_BN_INFER, K_LN, K_GN };

typedef struct norm_case {
    int kind;
    int ndim;
    int64_t shape[CLG_MAX_DIMS];
    clg_layout layout;
    int naxes;  /* layer norm */
    int groups; /* group norm */
    int affine; /* gamma and beta given (inputs 1 and 2) */
    double eps;
    float rm[8], rv[8]; /* inference: running statistics */
} norm_case;

static int64_t numel(const norm_case *c) { return opcheck_numel(c->ndim, c->shape); }

/* For element e of x: its statistic k and its parameter index j. */
static void indices(const norm_case *c, int64_t e, int64_t *k, int64_t *j) {
    int nd = c->ndim;
    if (c->kind == K_BN_TRAIN || c->kind == K_BN_INFER) {
        int caxis = c->layout == CLG_LAYOUT_NCHW && nd >= 3 ? 1 : nd - 1;
        int64_t inner = 1;
        for (int i = caxis + 1; i < nd; i++) inner *= c->shape[i];
        *k = *j = (e / inner) % c->shape[caxis];
    } else if (c->kind == K_LN) {
        int64_t d = 1;
        for (int i = nd - c->naxes; i < nd; i++) d *= c->shape[i];
        *k = e / d;
        *j = e % d;
    } else {
        int64_t C = c->shape[1], S = 1;
        for (int i = 2; i < nd; i++) S *= c->shape[i];
        int64_t ch = (e / S) % C;
        *k = (e / (C * S)) * c->groups + ch / (C / c->groups);
        *j = ch;
    }
}

static void norm_host(const double *const *in, double *out, const void *pp) {
    const norm_case *c = pp;
    int64_t n = numel(c);
    enum { MAXK = 64 };
    double sum[MAXK] = {0}, sq[MAXK] = {0}, cnt[MAXK] = {0};
    int64_t k, j;
    for (int64_t e = 0; e < n; e++) {
        indices(c, e, &k, &j);
        sum[k] += in[0][e];
        cnt[k] += 1;
    }
    for (int64_t e = 0; e < n; e++) {
        indices(c, e, &k, &j);
        double d = in[0][e] - sum[k] / cnt[k];
        sq[k] += d * d;
    }
    for (int64_t e = 0; e < n; e++) {
        indices(c, e, &k, &j);
        double mean = sum[k] / cnt[k], var = sq[k] / cnt[k];
        if (c->kind == K_BN_INFER) {
            mean = c->rm[j];
            var = c->rv[j];
        }
        double y = (in[0][e] - mean) / sqrt(var + c->eps);
        out[e] = c->affine ? y * in[1][j] + in[2][j] : y;
    }
}

static clg_tensor *vec(clg_context *ctx, int64_t n, const float *v) {
    return clg_tensor_from_host(ctx, CLG_FLOAT32, 1, &n, v);
}

static clg_tensor *norm_dev(clg_tensor *const *in, const void *pp) {
    const norm_case *c = pp;
    const clg_tensor *g = c->affine ? in[1] : NULL, *b = c->affine ? in[2] : NULL;
    clg_context *ctx = clg_tensor_context(in[0]);
    switch (c->kind) {
    case K_BN_TRAIN:
    case K_BN_INFER: {
        int caxis = c->layout == CLG_LAYOUT_NCHW && c->ndim >= 3 ? 1 : c->ndim - 1;
        int64_t C = c->shape[caxis];
        float zeros[8] = {0}, ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
        int train = c->kind == K_BN_TRAIN;
        clg_tensor *rm = vec(ctx, C, train ? zeros : c->rm), *rv = vec(ctx, C, train ? ones : c->rv);
        clg_tensor *y = clg_batch_norm(in[0], g, b, rm, rv, train, 0.99f, (float)c->eps, c->layout);
        clg_tensor_free(rm);
        clg_tensor_free(rv);
        return y;
    }
    case K_LN: return clg_layer_norm(in[0], c->naxes, g, b, (float)c->eps);
    default: return clg_group_norm(in[0], c->groups, g, b, (float)c->eps);
    }
}

/* Runs opcheck for one case; gamma/beta take the parameter shape. */
static void run_case(clg_context *ctx, const char *name, norm_case *c, int strided, uint32_t seed) {
    opcheck_spec s = opcheck_defaults(name, c->affine ? 3 : 1, norm_dev, norm_host);
    opcheck_input(&s, 0, c->ndim, c->shape, -2, 2);
    if (c->affine) {
        int pnd = 1;
        int64_t pshape[CLG_MAX_DIMS];
        if (c->kind == K_LN) {
            pnd = c->naxes;
            memcpy(pshape, c->shape + c->ndim - c->naxes, sizeof(int64_t) * (size_t)pnd);
        } else if (c->kind == K_GN) {
            pshape[0] = c->shape[1];
        } else {
            int caxis = c->layout == CLG_LAYOUT_NCHW && c->ndim >= 3 ? 1 : c->ndim - 1;
            pshape[0] = c->shape[caxis];
        }
        opcheck_input(&s, 1, pnd, pshape, 0.5f, 1.5f);
        opcheck_input(&s, 2, pnd, pshape, -1, 1);
    }
    opcheck_output(&s, c->ndim, c->shape);
    s.params = c;
    s.fwd_atol = s.fwd_rtol = 1e-4;
    s.grad_atol = s.grad_rtol = 2e-3;
    s.strided_views = strided;
    s.seed = seed;
    opcheck_run(ctx, &s);
}

static void test_batch_norm_training(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    norm_case nchw = {.kind = K_BN_TRAIN, .ndim = 4, .shape = {2, 3, 4, 5}, .affine = 1, .eps = 1e-3};
    run_case(ctx, "batch_norm NCHW", &nchw, 1, 1);
    norm_case nhwc = {.kind = K_BN_TRAIN, .ndim = 4, .shape = {2, 3, 2, 4}, .layout = CLG_LAYOUT_NHWC,
                      .affine = 1, .eps = 1e-3};
    run_case(ctx, "batch_norm NHWC", &nhwc, 0, 2);
    /* N H W >= 512 rows: CPU devices take the column-statistics kernels */
    norm_case tall = {.kind = K_BN_TRAIN, .ndim = 4, .shape = {2, 16, 18, 3}, .layout = CLG_LAYOUT_NHWC,
                      .affine = 1, .eps = 1e-3};
    run_case(ctx, "batch_norm NHWC, 576 rows", &tall, 0, 5);
    norm_case nc = {.kind = K_BN_TRAIN, .ndim = 2, .shape = {6, 4}, .affine = 1, .eps = 1e-3};
    run_case(ctx, "batch_norm [N,C]", &nc, 0, 3);
    norm_case plain = {.kind = K_BN_TRAIN, .ndim = 3, .shape = {3, 2, 4}, .affine = 0, .eps = 1e-5};
    run_case(ctx, "batch_norm no affine", &plain, 0, 4);
}

static void test_batch_norm_inference(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    norm_case c = {.kind = K_BN_INFER, .ndim = 4, .shape = {2, 3, 2, 2}, .affine = 1, .eps = 1e-3,
                   .rm = {0.1f, -0.3f, 0.5f}, .rv = {0.8f, 1.5f, 0.3f}};
    run_case(ctx, "batch_norm inference", &c, 1, 5);
    norm_case nhwc = {.kind = K_BN_INFER, .ndim = 2, .shape = {4, 3}, .layout = CLG_LAYOUT_NHWC,
                      .affine = 0, .eps = 1e-3, .rm = {0.2f, 0.0f, -1.0f}, .rv = {1.0f, 2.0f, 0.5f}};
    run_case(ctx, "batch_norm inference no affine", &nhwc, 0, 6);
}

static void test_layer_norm(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    norm_case one = {.kind = K_LN, .ndim = 3, .shape = {2, 3, 6}, .naxes = 1, .affine = 1, .eps = 1e-5};
    run_case(ctx, "layer_norm 1 axis", &one, 1, 7);
    norm_case two = {.kind = K_LN, .ndim = 3, .shape = {2, 3, 4}, .naxes = 2, .affine = 1, .eps = 1e-3};
    run_case(ctx, "layer_norm 2 axes", &two, 0, 8);
    norm_case plain = {.kind = K_LN, .ndim = 2, .shape = {3, 5}, .naxes = 1, .affine = 0, .eps = 1e-5};
    run_case(ctx, "layer_norm no affine", &plain, 0, 9);
}

static void test_group_norm(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    norm_case g1 = {.kind = K_GN, .ndim = 4, .shape = {2, 4, 2, 3}, .groups = 1, .affine = 1, .eps = 1e-5};
    run_case(ctx, "group_norm 1 group", &g1, 1, 10);
    norm_case g2 = {.kind = K_GN, .ndim = 4, .shape = {2, 4, 2, 3}, .groups = 2, .affine = 1, .eps = 1e-5};
    run_case(ctx, "group_norm 2 groups", &g2, 0, 11);
    norm_case gc = {.kind = K_GN, .ndim = 3, .shape = {2, 4, 5}, .groups = 4, .affine = 1, .eps = 1e-3};
    run_case(ctx, "group_norm C groups", &gc, 0, 12);
}

/* Host running statistics after one training step on x [N,C,S] (NCHW). */
static void host_running(const float *x, int64_t N, int64_t C, int64_t S, double momentum, double *rm,
                         double *rv) {
    int64_t m = N * S;
    for (int64_t c = 0; c < C; c++) {
        double sum = 0, sq = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) sum += x[(n * C + c) * S + s];
        double mean = sum / (double)m;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                double d = x[(n * C + c) * S + s] - mean;
                sq += d * d;
            }
        rm[c] = momentum * rm[c] + (1 - momentum) * mean;
        rv[c] = momentum * rv[c] + (1 - momentum) * sq / (double)(m - 1); /* unbiased */
    }
}

static void expect_running(const clg_tensor *rm, const clg_tensor *rv, const double *hm, const double *hv,
                           int C) {
    float dm[8], dv[8];
    assert_int_equal(clg_tensor_to_host(rm, dm, (size_t)C * sizeof(float)), CLG_OK);
    assert_int_equal(clg_tensor_to_host(rv, dv, (size_t)C * sizeof(float)), CLG_OK);
    for (int c = 0; c < C; c++) {
        if (fabs(dm[c] - hm[c]) > 1e-5 + 1e-5 * fabs(hm[c]))
            fail_msg("running_mean[%d] %.8g, expected %.8g", c, (double)dm[c], hm[c]);
        if (fabs(dv[c] - hv[c]) > 1e-5 + 1e-5 * fabs(hv[c]))
            fail_msg("running_var[%d] %.8g, expected %.8g", c, (double)dv[c], hv[c]);
    }
}

static void test_running_statistics(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 2, C = 3, S = 4 };
    int64_t shape[4] = {N, C, 2, 2};
    float x1[N * C * S], x2[N * C * S];
    clg_test_random_floats(x1, N * C * S, 21);
    clg_test_random_floats(x2, N * C * S, 22);
    for (int i = 0; i < N * C * S; i++) x2[i] = 3 * x2[i] + 1; /* another mean and variance */
    float zeros[C] = {0}, ones[C] = {1, 1, 1};
    clg_tensor *rm = vec(ctx, C, zeros), *rv = vec(ctx, C, ones);
    double hm[C] = {0}, hv[C] = {1, 1, 1};
    const float *xs[2] = {x1, x2};
    for (int step = 0; step < 2; step++) {
        clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, shape, xs[step]);
        clg_tensor *y = clg_batch_norm(x, NULL, NULL, rm, rv, 1, 0.99f, 1e-3f, CLG_LAYOUT_NCHW);
        assert_non_null(y);
        host_running(xs[step], N, C, S, 0.99, hm, hv);
        clg_tensor_free(y);
        clg_tensor_free(x);
    }
    expect_running(rm, rv, hm, hv, C);

    /* Inference leaves them alone. */
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, shape, x1);
    clg_tensor *y = clg_batch_norm(x, NULL, NULL, rm, rv, 0, 0.99f, 1e-3f, CLG_LAYOUT_NCHW);
    assert_non_null(y);
    assert_int_equal(clg_tensor_eval(y), CLG_OK);
    expect_running(rm, rv, hm, hv, C);

    /* One value per channel: the biased variance is 0 and the output is beta; the
     * unbiased factor m / (m - 1) is clamped to 1 (as TensorFlow). */
    clg_tensor *one = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){1, 3}, x1);
    float bvals[3] = {0.5f, -1, 2}, out[3];
    clg_tensor *beta = vec(ctx, 3, bvals);
    clg_tensor *y1 = clg_batch_norm(one, NULL, beta, rm, rv, 1, 0.5f, 1e-3f, CLG_LAYOUT_NCHW);
    assert_non_null(y1);
    assert_int_equal(clg_tensor_to_host(y1, out, sizeof out), CLG_OK);
    for (int c = 0; c < 3; c++) assert_float_equal(out[c], bvals[c], 1e-6);
    for (int c = 0; c < 3; c++) {
        hm[c] = 0.5 * hm[c] + 0.5 * x1[c];
        hv[c] = 0.5 * hv[c];
    }
    expect_running(rm, rv, hm, hv, C);
    clg_tensor_free(y1);
    clg_tensor_free(beta);
    clg_tensor_free(one);
    clg_tensor_free(y);
    clg_tensor_free(x);
    clg_tensor_free(rm);
    clg_tensor_free(rv);
}

static void test_captured_step_updates_running_stats(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 2, C = 3, S = 4 };
    int64_t shape[4] = {N, C, 2, 2};
    float xv[4][N * C * S];
    for (int i = 0; i < 4; i++) clg_test_random_floats(xv[i], N * C * S, 31 + (uint32_t)i);
    float zeros[C] = {0}, ones[C] = {1, 1, 1}, gv[C] = {1, 2, 0.5f};
    clg_tensor *rm = vec(ctx, C, zeros), *rv = vec(ctx, C, ones);
    clg_tensor *gamma = vec(ctx, C, gv);
    assert_int_equal(clg_tensor_set_requires_grad(gamma, 1), CLG_OK);
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, shape, xv[0]);
    double hm[C] = {0}, hv[C] = {1, 1, 1};

    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *y = clg_batch_norm(x, gamma, NULL, rm, rv, 1, 0.99f, 1e-3f, CLG_LAYOUT_NCHW);
    clg_tensor *r = y ? clg_relu(y) : NULL;
    clg_tensor *loss = r ? clg_mean(r, 0, NULL, 0) : NULL;
    assert_non_null(loss);
    assert_int_equal(clg_backward(loss, NULL), CLG_OK);
    clg_step *step = clg_step_capture_end(ctx);
    if (!step) fail_msg("capture: %s", clg_last_error());
    host_running(xv[0], N, C, S, 0.99, hm, hv);
    expect_running(rm, rv, hm, hv, C);
    for (int rep = 1; rep < 4; rep++) {
        assert_int_equal(clg_tensor_write(x, xv[rep], sizeof xv[rep]), CLG_OK);
        assert_int_equal(clg_step_replay(step), CLG_OK);
        host_running(xv[rep], N, C, S, 0.99, hm, hv);
        expect_running(rm, rv, hm, hv, C);
    }
    clg_step_free(step);
    clg_tensor_free(loss);
    clg_tensor_free(r);
    clg_tensor_free(y);
    clg_tensor_free(x);
    clg_tensor_free(gamma);
    clg_tensor_free(rm);
    clg_tensor_free(rv);
}

static void test_empty_and_unit_extents(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float ones[4] = {1, 1, 1, 1}, zeros[4] = {0};
    /* No channels, no rows, an empty normalised axis: empty results, no error. */
    clg_tensor *x0 = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, (int64_t[]){2, 0, 3});
    clg_tensor *rm0 = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){0});
    clg_tensor *rv0 = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){0});
    clg_tensor *y = clg_batch_norm(x0, NULL, NULL, rm0, rv0, 1, 0.99f, 1e-3f, CLG_LAYOUT_NCHW);
    assert_non_null(y);
    assert_int_equal(clg_tensor_numel(y), 0);
    clg_tensor_free(y);
    clg_tensor *ln0 = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){0, 4});
    y = clg_layer_norm(ln0, 1, NULL, NULL, 1e-5f);
    assert_non_null(y);
    assert_int_equal(clg_tensor_eval(y), CLG_OK);
    assert_int_equal(clg_tensor_numel(y), 0);
    clg_tensor_free(y);
    clg_tensor *gn0 = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, (int64_t[]){0, 4, 2});
    y = clg_group_norm(gn0, 2, NULL, NULL, 1e-5f);
    assert_non_null(y);
    assert_int_equal(clg_tensor_numel(y), 0);
    clg_tensor_free(y);
    /* Size-1 extents: a single value per layer-norm row normalises to 0. */
    clg_tensor *x1 = clg_tensor_full(ctx, CLG_FLOAT32, 3, (int64_t[]){4, 1, 1}, 3.0f);
    y = clg_layer_norm(x1, 2, NULL, NULL, 1e-5f);
    float out[4];
    assert_int_equal(clg_tensor_to_host(y, out, sizeof out), CLG_OK);
    for (int i = 0; i < 4; i++) assert_float_equal(out[i], 0.0f, 1e-6);
    clg_tensor_free(y);
    /* Group norm on [N,C] (no spatial axes) with one channel per group. */
    clg_tensor *g4 = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){1, 4}, ones);
    clg_tensor *b4 = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, (int64_t[]){4}, zeros);
    y = clg_group_norm(g4, 4, NULL, b4, 1e-5f);
    assert_int_equal(clg_tensor_to_host(y, out, sizeof out), CLG_OK);
    for (int i = 0; i < 4; i++) assert_float_equal(out[i], 0.0f, 1e-6);
    clg_tensor_free(y);
    clg_tensor_free(g4);
    clg_tensor_free(b4);
    clg_tensor_free(x1);
    clg_tensor_free(gn0);
    clg_tensor_free(ln0);
    clg_tensor_free(x0);
    clg_tensor_free(rm0);
    clg_tensor_free(rv0);
}

static void test_bad_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t xs[4] = {2, 3, 4, 5};
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, xs);
    clg_tensor *xi = clg_tensor_zeros(ctx, CLG_INT32, 4, xs);
    clg_tensor *x1 = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){3});
    clg_tensor *c3 = clg_tensor_ones(ctx, CLG_FLOAT32, 1, (int64_t[]){3});
    clg_tensor *c4 = clg_tensor_ones(ctx, CLG_FLOAT32, 1, (int64_t[]){4});
    clg_tensor *c3i = clg_tensor_zeros(ctx, CLG_INT32, 1, (int64_t[]){3});
    clg_tensor *rm = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){3});
    clg_tensor *rv = clg_tensor_ones(ctx, CLG_FLOAT32, 1, (int64_t[]){3});
    clg_tensor *empty = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){0, 3, 4, 5});
    const clg_layout L = CLG_LAYOUT_NCHW;
    const clg_status INV = CLG_STATUS_INVALID_ARGUMENT, SHP = CLG_STATUS_SHAPE_MISMATCH;

    /* batch norm */
    CLG_EXPECT_ERROR(!clg_batch_norm(NULL, c3, c3, rm, rv, 1, 0.99f, 1e-3f, L), INV, "clg_batch_norm", "NULL");
    CLG_EXPECT_ERROR(!clg_batch_norm(xi, c3, c3, rm, rv, 1, 0.99f, 1e-3f, L), INV, "clg_batch_norm",
                     "[2,3,4,5]", "int32");
    CLG_EXPECT_ERROR(!clg_batch_norm(x, c4, c3, rm, rv, 1, 0.99f, 1e-3f, L), SHP, "clg_batch_norm",
                     "gamma", "[4]", "[2,3,4,5]");
    CLG_EXPECT_ERROR(!clg_batch_norm(x, c3, c4, rm, rv, 1, 0.99f, 1e-3f, L), SHP, "clg_batch_norm",
                     "beta", "[4]", "[2,3,4,5]");
    CLG_EXPECT_ERROR(!clg_batch_norm(x, c3, c3, c4, rv, 1, 0.99f, 1e-3f, L), SHP, "clg_batch_norm",
                     "running_mean", "[4]");
    CLG_EXPECT_ERROR(!clg_batch_norm(x, c3, c3, rm, c4, 0, 0.99f, 1e-3f, L), SHP, "clg_batch_norm",
                     "running_var", "[4]");
    /* NHWC: the channel axis is the last (5), so [3] parameters do not fit. */
    CLG_EXPECT_ERROR(!clg_batch_norm(x, c3, c3, rm, rv, 1, 0.99f, 1e-3f, CLG_LAYOUT_NHWC), SHP,
                     "clg_batch_norm", "[3]", "[5]");
    CLG_EXPECT_ERROR(!clg_batch_norm(x, c3i, c3, rm, rv, 1, 0.99f, 1e-3f, L), INV, "clg_batch_norm",
                     "gamma", "int32");
    CLG_EXPECT_ERROR(!clg_batch_norm(x, c3, c3, NULL, rv, 1, 0.99f, 1e-3f, L), INV, "clg_batch_norm",
                     "running_mean", "NULL", "[2,3,4,5]");
    CLG_EXPECT_ERROR(!clg_batch_norm(x, c3, c3, rm, NULL, 1, 0.99f, 1e-3f, L), INV, "clg_batch_norm",
                     "running_var", "NULL");
    CLG_EXPECT_ERROR(!clg_batch_norm(x, c3, c3, rm, rv, 1, 1.5f, 1e-3f, L), INV, "clg_batch_norm",
                     "momentum", "[2,3,4,5]");
    CLG_EXPECT_ERROR(!clg_batch_norm(x, c3, c3, rm, rv, 1, -0.1f, 1e-3f, L), INV, "clg_batch_norm", "momentum");
    CLG_EXPECT_ERROR(!clg_batch_norm(x, c3, c3, rm, rv, 1, 0.99f, 0.0f, L), INV, "clg_batch_norm", "eps",
                     "[2,3,4,5]");
    CLG_EXPECT_ERROR(!clg_batch_norm(x1, c3, c3, rm, rv, 1, 0.99f, 1e-3f, L), INV, "clg_batch_norm", "[3]",
                     "2 dimensions");
    CLG_EXPECT_ERROR(!clg_batch_norm(empty, c3, c3, rm, rv, 1, 0.99f, 1e-3f, L), INV, "clg_batch_norm",
                     "[0,3,4,5]", "no values");

    /* layer norm */
    clg_tensor *p45 = clg_tensor_ones(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 5});
    CLG_EXPECT_ERROR(!clg_layer_norm(NULL, 1, NULL, NULL, 1e-5f), INV, "clg_layer_norm", "NULL");
    CLG_EXPECT_ERROR(!clg_layer_norm(x, 0, NULL, NULL, 1e-5f), INV, "clg_layer_norm", "naxes 0", "[2,3,4,5]");
    CLG_EXPECT_ERROR(!clg_layer_norm(x, 5, NULL, NULL, 1e-5f), INV, "clg_layer_norm", "naxes 5", "[2,3,4,5]");
    CLG_EXPECT_ERROR(!clg_layer_norm(x, 1, c4, NULL, 1e-5f), SHP, "clg_layer_norm", "gamma", "[4]", "[5]");
    CLG_EXPECT_ERROR(!clg_layer_norm(x, 2, p45, c4, 1e-5f), SHP, "clg_layer_norm", "beta", "[4]", "[4,5]");
    CLG_EXPECT_ERROR(!clg_layer_norm(x, 1, NULL, NULL, -1.0f), INV, "clg_layer_norm", "eps");
    CLG_EXPECT_ERROR(!clg_layer_norm(xi, 1, NULL, NULL, 1e-5f), INV, "clg_layer_norm", "int32");

    /* group norm */
    CLG_EXPECT_ERROR(!clg_group_norm(NULL, 1, NULL, NULL, 1e-5f), INV, "clg_group_norm", "NULL");
    CLG_EXPECT_ERROR(!clg_group_norm(x, 2, NULL, NULL, 1e-5f), INV, "clg_group_norm", "2 groups",
                     "3 channels", "[2,3,4,5]");
    CLG_EXPECT_ERROR(!clg_group_norm(x, 0, NULL, NULL, 1e-5f), INV, "clg_group_norm", "0 groups");
    CLG_EXPECT_ERROR(!clg_group_norm(x, 3, c4, NULL, 1e-5f), SHP, "clg_group_norm", "gamma", "[4]", "[3]");
    CLG_EXPECT_ERROR(!clg_group_norm(x, 3, c3, c4, 1e-5f), SHP, "clg_group_norm", "beta", "[4]");
    CLG_EXPECT_ERROR(!clg_group_norm(x, 3, NULL, NULL, 0.0f), INV, "clg_group_norm", "eps");
    CLG_EXPECT_ERROR(!clg_group_norm(x1, 1, NULL, NULL, 1e-5f), INV, "clg_group_norm", "[3]", "2 dimensions");
    CLG_EXPECT_ERROR(!clg_group_norm(xi, 1, NULL, NULL, 1e-5f), INV, "clg_group_norm", "int32");

    clg_tensor_free(p45);
    clg_tensor_free(x);
    clg_tensor_free(xi);
    clg_tensor_free(x1);
    clg_tensor_free(c3);
    clg_tensor_free(c4);
    clg_tensor_free(c3i);
    clg_tensor_free(rm);
    clg_tensor_free(rv);
    clg_tensor_free(empty);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_norm_training),
        cmocka_unit_test(test_batch_norm_inference),
        cmocka_unit_test(test_layer_norm),
        cmocka_unit_test(test_group_norm),
        cmocka_unit_test(test_running_statistics),
        cmocka_unit_test(test_captured_step_updates_running_stats),
        cmocka_unit_test(test_empty_and_unit_extents),
        cmocka_unit_test(test_bad_input),
    };
    return CLG_RUN_GROUP(tests);
}
