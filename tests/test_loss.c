/* Losses and dropout: every loss forward against a host reference in double and
 * its gradient against finite differences (opcheck), with and without label
 * smoothing, a batch of 1, an empty batch, strided views of the float inputs,
 * Keras's documented example values, the softmax + cross-entropy fusion, labels
 * out of range, dropout's mask and gradient, and bad input.
 *
 * Tolerances:
 * - forward: 2e-5 absolute + 2e-5 relative (exp/log are a few ulp in OpenCL; the
 *   batch mean adds a sum of at most 8 terms).
 * - gradients: 1e-3 + 1e-3 |ref| (float32 device against float64 central
 *   differences).
 * - the fused and clipped paths of the cross-entropy on probabilities agree within
 *   1e-5 (values and gradients) on logits in [-3, 3], where clipping is inactive.
 * - Keras's documented examples are quoted to 3 decimals: 1e-3.
 * - dropout: the kept fraction of 10,000 elements within 0.03 of 1 - rate (over 6
 *   standard deviations); kept values, the mask and the gradient are exact. */
#include "opcheck.h"

#include <math.h>
#include <stdlib.h>

#include "graph/graph.h"

typedef struct loss_params {
    int64_t n, c;  /* batch, classes (or elements per row) */
    double eps;    /* label smoothing */
    double delta;  /* huber */
} loss_params;

static const double prob_eps = (double)1e-7f, prob_hi = (double)(1.0f - 1e-7f);

/* log_softmax of one row in double. */
static void host_log_softmax(const double *x, int64_t c, double *out) {
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < c; j++) m = fmax(m, x[j]);
    for (int64_t j = 0; j < c; j++) s += exp(x[j] - m);
    for (int64_t j = 0; j < c; j++) out[j] = x[j] - m - log(s);
}

static double host_clip(double p) { return fmin(fmax(p, prob_eps), prob_hi); }

/* The value of a rank-0 result, which is freed. */
static float read_scalar(clg_tensor *t) {
    assert_non_null(t);
    assert_int_equal(clg_tensor_ndim(t), 0);
    float v = NAN;
    assert_int_equal(clg_tensor_to_host(t, &v, sizeof v), CLG_OK);
    clg_tensor_free(t);
    return v;
}

/* --- softmax cross-entropy on labels --------------------------------------------------- */

static clg_tensor *sparse_dev(clg_tensor *const *in, const void *pp) {
    const loss_params *p = pp;
    return clg_softmax_cross_entropy(in[0], in[1], (float)p->eps);
}
static void sparse_host(const double *const *in, double *out, const void *pp) {
    const loss_params *p = pp;
    double total = 0, ls[16];
    for (int64_t i = 0; i < p->n; i++) {
        const double *x = in[0] + i * p->c;
        host_log_softmax(x, p->c, ls);
        int64_t label = (int64_t)in[1][i];
        double row = 0;
        for (int64_t j = 0; j < p->c; j++) {
            double t = p->eps / (double)p->c + (j == label ? 1 - p->eps : 0);
            row -= t * ls[j];
        }
        total += row;
    }
    out[0] = total / (double)p->n;
}

static void run_label_loss(clg_context *ctx, const char *name, opcheck_device_fn dev,
                           opcheck_host_fn host, loss_params *p, float lo, float hi, uint32_t seed) {
    int64_t xs[2] = {p->n, p->c}, ls[1] = {p->n};
    opcheck_spec s = opcheck_defaults(name, 2, dev, host);
    opcheck_input(&s, 0, 2, xs, lo, hi);
    opcheck_input(&s, 1, 1, ls, 0, (float)(p->c - 1));
    s.integer_input[1] = 1;
    s.differentiable[1] = 0;
    opcheck_output(&s, 0, NULL);
    s.params = p;
    s.fwd_atol = s.fwd_rtol = 2e-5;
    s.strided_views = 1;
    s.seed = seed;
    opcheck_run(ctx, &s);
}

static void test_softmax_cross_entropy(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    loss_params cases[] = {{4, 5, 0, 0}, {4, 5, 0.1, 0}, {1, 5, 0, 0}, {1, 3, 0.2, 0}, {6, 1, 0, 0}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        run_label_loss(ctx, "softmax_cross_entropy", sparse_dev, sparse_host, &cases[k], -3, 3,
                       10 + (uint32_t)k);
    /* The op has its own node and backward rule. */
    int64_t xs[2] = {2, 3}, ls[1] = {2};
    clg_tensor *x = clg_tensor_rand_uniform(ctx, 2, xs, -1, 1, 3, 0);
    clg_tensor *y = clg_tensor_from_host(ctx, CLG_INT32, 1, ls, (int32_t[]){2, 0});
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    clg_tensor *l = clg_softmax_cross_entropy(x, y, 0);
    assert_non_null(l);
    assert_int_equal(clg_tensor_ndim(l), 0);
    assert_int_equal(l->node->op, CLG_OP_SOFTMAX_XENT);
    /* Labels may be a strided view too (opcheck keeps integer inputs contiguous). */
    int64_t ls4[1] = {4};
    clg_tensor *yb = clg_tensor_from_host(ctx, CLG_INT32, 1, ls4, (int32_t[]){2, 9, 0, 9});
    clg_tensor *yv = clg_tensor_slice(yb, 0, 0, 4, 2);
    float want = read_scalar(l), got = read_scalar(clg_softmax_cross_entropy(x, yv, 0));
    assert_true(want == got);
    want = read_scalar(clg_sparse_categorical_cross_entropy(x, y));
    got = read_scalar(clg_sparse_categorical_cross_entropy(x, yv));
    assert_true(want == got);
    clg_tensor_free(yv);
    clg_tensor_free(yb);
    clg_tensor_free(x);
    clg_tensor_free(y);
}

/* --- softmax cross-entropy on one-hot / distribution targets ----------------------------- */

static clg_tensor *onehot_dev(clg_tensor *const *in, const void *pp) {
    const loss_params *p = pp;
    return clg_softmax_cross_entropy_onehot(in[0], in[1], (float)p->eps);
}
static void onehot_host(const double *const *in, double *out, const void *pp) {
    const loss_params *p = pp;
    double total = 0, ls[16];
    for (int64_t i = 0; i < p->n; i++) {
        host_log_softmax(in[0] + i * p->c, p->c, ls);
        for (int64_t j = 0; j < p->c; j++) {
            double t = in[1][i * p->c + j] * (1 - p->eps) + p->eps / (double)p->c;
            total -= t * ls[j];
        }
    }
    out[0] = total / (double)p->n;
}

static void run_target_loss(clg_context *ctx, const char *name, opcheck_device_fn dev,
                            opcheck_host_fn host, loss_params *p, float lo, float hi, float tlo,
                            float thi, uint32_t seed) {
    int64_t xs[2] = {p->n, p->c};
    opcheck_spec s = opcheck_defaults(name, 2, dev, host);
    opcheck_input(&s, 0, 2, xs, lo, hi);
    opcheck_input(&s, 1, 2, xs, tlo, thi);
    s.differentiable[1] = 0;
    opcheck_output(&s, 0, NULL);
    s.params = p;
    s.fwd_atol = s.fwd_rtol = 2e-5;
    s.strided_views = 1;
    s.seed = seed;
    opcheck_run(ctx, &s);
}

static void test_softmax_cross_entropy_onehot(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    loss_params cases[] = {{4, 5, 0, 0}, {4, 5, 0.1, 0}, {1, 4, 0, 0}, {1, 4, 0.3, 0}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        run_target_loss(ctx, "softmax_cross_entropy_onehot", onehot_dev, onehot_host, &cases[k], -3,
                        3, 0, 1, 20 + (uint32_t)k);
    /* With one-hot targets it equals the label form. */
    int64_t xs[2] = {3, 4}, ls[1] = {3};
    int32_t labels[3] = {1, 3, 0};
    float t[12] = {0};
    for (int i = 0; i < 3; i++) t[i * 4 + labels[i]] = 1;
    clg_tensor *x = clg_tensor_rand_uniform(ctx, 2, xs, -2, 2, 4, 0);
    clg_tensor *y = clg_tensor_from_host(ctx, CLG_INT32, 1, ls, labels);
    clg_tensor *tt = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, xs, t);
    clg_tensor *a = clg_softmax_cross_entropy(x, y, 0.1f);
    clg_tensor *b = clg_softmax_cross_entropy_onehot(x, tt, 0.1f);
    assert_true(a && b);
    float va, vb;
    assert_int_equal(clg_tensor_to_host(a, &va, sizeof va), CLG_OK);
    assert_int_equal(clg_tensor_to_host(b, &vb, sizeof vb), CLG_OK);
    assert_true(fabsf(va - vb) <= 1e-5f * (1 + fabsf(va)));
    clg_tensor *all[] = {x, y, tt, a, b};
    for (int i = 0; i < 5; i++) clg_tensor_free(all[i]);
}

/* --- cross-entropy on probabilities (clipped path) ----------------------------------------- */

static clg_tensor *cat_dev(clg_tensor *const *in, const void *pp) {
    (void)pp;
    return clg_categorical_cross_entropy(in[0], in[1]);
}
static void cat_host(const double *const *in, double *out, const void *pp) {
    const loss_params *p = pp;
    double total = 0;
    for (int64_t i = 0; i < p->n; i++) {
        const double *q = in[0] + i * p->c;
        double s = 0;
        for (int64_t j = 0; j < p->c; j++) s += q[j];
        for (int64_t j = 0; j < p->c; j++) total -= in[1][i * p->c + j] * log(host_clip(q[j] / s));
    }
    out[0] = total / (double)p->n;
}

static clg_tensor *sparse_cat_dev(clg_tensor *const *in, const void *pp) {
    (void)pp;
    return clg_sparse_categorical_cross_entropy(in[0], in[1]);
}
static void sparse_cat_host(const double *const *in, double *out, const void *pp) {
    const loss_params *p = pp;
    double total = 0;
    for (int64_t i = 0; i < p->n; i++) {
        const double *q = in[0] + i * p->c;
        double s = 0;
        for (int64_t j = 0; j < p->c; j++) s += q[j];
        total -= log(host_clip(q[(int64_t)in[1][i]] / s));
    }
    out[0] = total / (double)p->n;
}

static void test_categorical_on_probs(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* Unnormalised positive "probabilities": the row renormalisation is exercised. */
    loss_params cases[] = {{4, 5, 0, 0}, {1, 3, 0, 0}};
    for (size_t k = 0; k < 2; k++) {
        run_target_loss(ctx, "categorical_cross_entropy", cat_dev, cat_host, &cases[k], 0.05f, 1, 0,
                        1, 30 + (uint32_t)k);
        run_label_loss(ctx, "sparse_categorical_cross_entropy", sparse_cat_dev, sparse_cat_host,
                       &cases[k], 0.05f, 1, 40 + (uint32_t)k);
    }
}

/* Keras's documented examples (keras.losses.*): y_true / y_pred and the result. */

static void test_keras_examples(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t s23[2] = {2, 3}, s2[1] = {2}, s22[2] = {2, 2}, s4[1] = {4};
    clg_tensor *probs = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, s23,
                                             (float[]){0.05f, 0.95f, 0, 0.1f, 0.8f, 0.1f});
    clg_tensor *labels = clg_tensor_from_host(ctx, CLG_INT32, 1, s2, (int32_t[]){1, 2});
    clg_tensor *onehot = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, s23, (float[]){0, 1, 0, 0, 0, 1});
    assert_true(fabsf(read_scalar(clg_sparse_categorical_cross_entropy(probs, labels)) - 1.177f) < 1e-3f);
    assert_true(fabsf(read_scalar(clg_categorical_cross_entropy(probs, onehot)) - 1.177f) < 1e-3f);
    clg_tensor *bt = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, s22, (float[]){0, 1, 0, 0});
    clg_tensor *bp = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, s22, (float[]){0.6f, 0.4f, 0.4f, 0.6f});
    assert_true(fabsf(read_scalar(clg_binary_cross_entropy(bp, bt)) - 0.815f) < 1e-3f);
    assert_true(fabsf(read_scalar(clg_huber(bp, bt, 1.0f)) - 0.155f) < 1e-3f);
    clg_tensor *lt = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, s4, (float[]){0, 1, 0, 0});
    clg_tensor *lp = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, s4, (float[]){-18.6f, 0.51f, 2.94f, -12.8f});
    assert_true(fabsf(read_scalar(clg_binary_cross_entropy_logits(lp, lt)) - 0.865f) < 1e-3f);
    clg_tensor *mp = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, s22, (float[]){1, 1, 1, 0});
    assert_true(fabsf(read_scalar(clg_mse(mp, bt)) - 0.5f) < 1e-6f);
    assert_true(fabsf(read_scalar(clg_mae(mp, bt)) - 0.5f) < 1e-6f);
    /* A zero probability is clipped to 1e-7: -log(1e-7) / 2 for the first row. */
    clg_tensor *zl = clg_tensor_from_host(ctx, CLG_INT32, 1, s2, (int32_t[]){2, 1});
    float v = read_scalar(clg_sparse_categorical_cross_entropy(probs, zl));
    double want = (-log(prob_eps) - log(0.8)) / 2;
    assert_true(fabs(v - want) < 1e-5 * want);
    clg_tensor *all[] = {probs, labels, onehot, bt, bp, lt, lp, mp, zl};
    for (int i = 0; i < 9; i++) clg_tensor_free(all[i]);
}

/* --- softmax followed by cross-entropy on probabilities: the fused path -------------------- */

static clg_tensor *fused_cat_dev(clg_tensor *const *in, const void *pp) {
    (void)pp;
    clg_tensor *p = clg_softmax(in[0], -1);
    clg_tensor *l = p ? clg_categorical_cross_entropy(p, in[1]) : NULL;
    clg_tensor_free(p);
    return l;
}
static clg_tensor *fused_sparse_dev(clg_tensor *const *in, const void *pp) {
    (void)pp;
    clg_tensor *p = clg_softmax(in[0], 1);
    clg_tensor *l = p ? clg_sparse_categorical_cross_entropy(p, in[1]) : NULL;
    clg_tensor_free(p);
    return l;
}

/* Loss and d loss / d logits through softmax then the loss, fused or (when
 * unfused) through a copy of the probabilities, which hides the softmax node. */
static float loss_and_grad(clg_context *ctx, const float *logits, int64_t n, int64_t c,
                           const int32_t *labels, int sparse, int unfused, float *grad) {
    int64_t xs[2] = {n, c};
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, xs, logits);
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    clg_tensor *y = clg_tensor_from_host(ctx, CLG_INT32, 1, xs, labels);
    float *t = calloc((size_t)(n * c), sizeof *t);
    for (int64_t i = 0; i < n; i++) t[i * c + labels[i]] = 1;
    clg_tensor *tt = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, xs, t);
    free(t);
    clg_tensor *p = clg_softmax(x, 1);
    clg_tensor *q = unfused ? clg_mul_scalar(p, 1.0f) : clg_tensor_retain(p);
    clg_tensor *l = sparse ? clg_sparse_categorical_cross_entropy(q, y) : clg_categorical_cross_entropy(q, tt);
    assert_non_null(l);
    /* Fused: the loss reads the softmax's own logits. Unfused (sparse): Keras's
     * form, log of the clipped probabilities taken as logits. */
    if (sparse) {
        assert_int_equal(l->node->op, CLG_OP_SOFTMAX_XENT);
        assert_int_equal(l->node->inputs[0] == x, !unfused);
    }
    float v;
    assert_int_equal(clg_tensor_to_host(l, &v, sizeof v), CLG_OK);
    assert_int_equal(clg_backward(l, NULL), CLG_OK);
    assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), grad, (size_t)(n * c) * sizeof(float)), CLG_OK);
    clg_tensor *all[] = {x, y, tt, p, q, l};
    for (int i = 0; i < 6; i++) clg_tensor_free(all[i]);
    return v;
}

static void test_softmax_fusion(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* Gradients flow to the logits through the fused form (opcheck). */
    loss_params p = {4, 5, 0, 0};
    run_target_loss(ctx, "softmax+categorical_cross_entropy", fused_cat_dev, onehot_host, &p, -3, 3,
                    0, 1, 50);
    run_label_loss(ctx, "softmax+sparse_categorical_cross_entropy", fused_sparse_dev, sparse_host,
                   &p, -3, 3, 51);

    /* Moderate logits: the fused and clipped paths agree. */
    enum { N = 4, C = 5 };
    float x[N * C], gf[N * C], gu[N * C];
    clg_test_random_floats(x, N * C, 52);
    for (int i = 0; i < N * C; i++) x[i] *= 3;
    int32_t labels[N] = {0, 4, 2, 2};
    for (int sparse = 0; sparse < 2; sparse++) {
        float vf = loss_and_grad(ctx, x, N, C, labels, sparse, 0, gf);
        float vu = loss_and_grad(ctx, x, N, C, labels, sparse, 1, gu);
        assert_true(fabsf(vf - vu) <= 1e-5f);
        for (int i = 0; i < N * C; i++)
            if (!(fabsf(gf[i] - gu[i]) <= 1e-5f)) fail_msg("grad %d: fused %g, clipped %g", i, (double)gf[i], (double)gu[i]);
    }

    /* A gap of 50: the clipped path saturates at -log(1e-7), the fused one stays exact
     * and its gradient finite: row 0 (label 1) loses 50, row 1 (label 1) about 0. */
    float gap[6] = {50, 0, 0, 0, 50, 0};
    int32_t gl[2] = {1, 1};
    float g[6];
    for (int sparse = 0; sparse < 2; sparse++) {
        float vf = loss_and_grad(ctx, gap, 2, 3, gl, sparse, 0, g);
        assert_true(isfinite(vf) && fabsf(vf - 25.0f) <= 1e-4f);
        const float want[6] = {0.5f, -0.5f, 0, 0, 0, 0};
        for (int i = 0; i < 6; i++) assert_true(isfinite(g[i]) && fabsf(g[i] - want[i]) <= 1e-6f);
        float vu = loss_and_grad(ctx, gap, 2, 3, gl, sparse, 1, g);
        assert_true(fabs(vu - (-log(prob_eps) - log(prob_hi)) / 2) <= 1e-4);
    }
}

/* --- labels out of range and empty batches ----------------------------------------------- */

static void test_bad_labels_give_nan(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t xs[2] = {3, 3};
    clg_tensor *x = clg_tensor_rand_uniform(ctx, 2, xs, -1, 1, 7, 0);
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    int32_t bad[2][3] = {{0, 3, 1}, {-1, 2, 2}};
    for (int b = 0; b < 2; b++) {
        clg_tensor *y = clg_tensor_from_host(ctx, CLG_INT32, 1, xs, bad[b]);
        assert_true(isnan(read_scalar(clg_sparse_categorical_cross_entropy(x, y))));
        clg_tensor *l = clg_softmax_cross_entropy(x, y, 0.1f);
        float v;
        assert_int_equal(clg_tensor_to_host(l, &v, sizeof v), CLG_OK);
        assert_true(isnan(v));
        assert_int_equal(clg_backward(l, NULL), CLG_OK);
        float g[9];
        assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), g, sizeof g), CLG_OK);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                int bad_row = bad[b][i] < 0 || bad[b][i] >= 3;
                assert_int_equal(isnan(g[i * 3 + j]) != 0, bad_row);
            }
        assert_int_equal(clg_tensor_zero_grad(x), CLG_OK);
        clg_tensor_free(l);
        clg_tensor_free(y);
    }
    clg_tensor_free(x);
}

static void test_empty_batch(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t xs[2] = {0, 3};
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, xs);
    clg_tensor *y = clg_tensor_zeros(ctx, CLG_INT32, 1, xs);
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    clg_tensor *l = clg_softmax_cross_entropy(x, y, 0);
    float v;
    assert_int_equal(clg_tensor_to_host(l, &v, sizeof v), CLG_OK);
    assert_true(isnan(v)); /* mean over no rows */
    assert_int_equal(clg_backward(l, NULL), CLG_OK);
    assert_int_equal(clg_tensor_numel(clg_tensor_grad(x)), 0);
    assert_true(isnan(read_scalar(clg_mse(x, x))));
    assert_true(isnan(read_scalar(clg_sparse_categorical_cross_entropy(x, y))));
    clg_tensor_free(l);
    clg_tensor_free(x);
    clg_tensor_free(y);
}

/* --- elementwise losses --------------------------------------------------------------------- */

enum { E_BCE, E_BCE_LOGITS, E_MSE, E_MAE, E_HUBER };
static int ew_kind;

static clg_tensor *ew_dev(clg_tensor *const *in, const void *pp) {
    const loss_params *p = pp;
    switch (ew_kind) {
    case E_BCE: return clg_binary_cross_entropy(in[0], in[1]);
    case E_BCE_LOGITS: return clg_binary_cross_entropy_logits(in[0], in[1]);
    case E_MSE: return clg_mse(in[0], in[1]);
    case E_MAE: return clg_mae(in[0], in[1]);
    default: return clg_huber(in[0], in[1], (float)p->delta);
    }
}
static void ew_host(const double *const *in, double *out, const void *pp) {
    const loss_params *p = pp;
    int64_t n = p->n * p->c;
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = in[0][i], t = in[1][i], e = x - t, v;
        switch (ew_kind) {
        case E_BCE: {
            double q = host_clip(x);
            v = -(t * log(q) + (1 - t) * log(1 - q));
            break;
        }
        case E_BCE_LOGITS: v = fmax(x, 0) - x * t + log1p(exp(-fabs(x))); break;
        case E_MSE: v = e * e; break;
        case E_MAE: v = fabs(e); break;
        default: v = fabs(e) <= p->delta ? 0.5 * e * e : p->delta * (fabs(e) - 0.5 * p->delta);
        }
        total += v;
    }
    out[0] = total / (double)n;
}

static void test_elementwise_losses(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    struct {
        int kind;
        const char *name;
        float lo, hi, tlo, thi;
    } cases[] = {
        {E_BCE, "binary_cross_entropy", 0.05f, 0.95f, 0, 1},
        {E_BCE_LOGITS, "binary_cross_entropy_logits", -6, 6, 0, 1},
        {E_MSE, "mse", -2, 2, -2, 2},
        {E_MAE, "mae", -2, 2, -2, 2},
        {E_HUBER, "huber", -2, 2, -2, 2},
    };
    int64_t shapes[2][2] = {{3, 4}, {1, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        ew_kind = cases[k].kind;
        for (int sh = 0; sh < 2; sh++) {
            loss_params p = {shapes[sh][0], shapes[sh][1], 0, 0.7};
            run_target_loss(ctx, cases[k].name, ew_dev, ew_host, &p, cases[k].lo, cases[k].hi,
                            cases[k].tlo, cases[k].thi, 60 + (uint32_t)(k * 2 + (size_t)sh));
        }
    }
    /* The logits form stays finite and exact for large logits; mae's gradient is 0
     * where pred equals target. */
    int64_t s3[1] = {3};
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, s3, (float[]){-100, 100, 1});
    clg_tensor *t = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, s3, (float[]){1, 0, 1});
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    float v = read_scalar(clg_binary_cross_entropy_logits(x, t));
    assert_true(fabs(v - (200 + log1p(exp(-1.0))) / 3) < 1e-4);
    clg_tensor *l = clg_mae(x, t);
    assert_int_equal(clg_backward(l, NULL), CLG_OK);
    clg_tensor_free(l);
    float g[3];
    assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), g, sizeof g), CLG_OK);
    assert_true(g[0] == -1.0f / 3 && g[1] == 1.0f / 3 && g[2] == 0.0f);
    clg_tensor_free(x);
    clg_tensor_free(t);
}

/* --- dropout ------------------------------------------------------------------------------- */

static void test_dropout(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 10000 };
    int64_t n = N;
    float *hx = malloc(N * sizeof *hx), *hy = malloc(N * sizeof *hy), *hy2 = malloc(N * sizeof *hy2);
    float *hu = malloc(N * sizeof *hu), *hg = malloc(N * sizeof *hg);
    clg_test_random_floats(hx, N, 70);
    for (int i = 0; i < N; i++) hx[i] += 2; /* in [1, 3): never 0 */
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, &n, hx);
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);

    const float rates[2] = {0.3f, 0.75f};
    for (int r = 0; r < 2; r++) {
        float rate = rates[r], scale = 1.0f / (1.0f - rate);
        clg_tensor *y = clg_dropout(x, rate, 42, 1000);
        assert_non_null(y);
        assert_int_equal(clg_tensor_to_host(y, hy, N * sizeof(float)), CLG_OK);
        /* The mask is the device RNG's u >= rate. */
        clg_tensor *u = clg_tensor_rand_uniform(ctx, 1, &n, 0, 1, 42, 1000);
        assert_int_equal(clg_tensor_to_host(u, hu, N * sizeof(float)), CLG_OK);
        clg_tensor_free(u);
        int kept = 0;
        for (int i = 0; i < N; i++) {
            int k = hu[i] >= rate;
            kept += k;
            if (k) {
                assert_true(hy[i] == hx[i] * scale);
                if (r == 1) assert_true(hy[i] == hx[i] / (1.0f - rate)); /* scale 4 is exact */
            } else {
                assert_true(hy[i] == 0.0f);
            }
        }
        assert_true(fabs((double)kept / N - (1 - rate)) < 0.03);
        /* The gradient is mask / (1 - rate). */
        clg_tensor *s = clg_sum(y, 0, NULL, 0);
        assert_int_equal(clg_backward(s, NULL), CLG_OK);
        assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), hg, N * sizeof(float)), CLG_OK);
        for (int i = 0; i < N; i++) assert_true(hg[i] == (hu[i] >= rate ? scale : 0.0f));
        assert_int_equal(clg_tensor_zero_grad(x), CLG_OK);
        clg_tensor_free(s);
        /* The same seed and offset give the same mask; another offset another. */
        clg_tensor *y2 = clg_dropout(x, rate, 42, 1000);
        assert_int_equal(clg_tensor_to_host(y2, hy2, N * sizeof(float)), CLG_OK);
        assert_memory_equal(hy, hy2, N * sizeof(float));
        clg_tensor_free(y2);
        y2 = clg_dropout(x, rate, 42, 1000 + N);
        assert_int_equal(clg_tensor_to_host(y2, hy2, N * sizeof(float)), CLG_OK);
        int differ = 0;
        for (int i = 0; i < N; i++) differ += (hy[i] == 0) != (hy2[i] == 0);
        assert_true(differ > N / 10);
        clg_tensor_free(y2);
        clg_tensor_free(y);
    }

    /* Rate 0: x's values, gradient 1. */
    clg_tensor *y = clg_dropout(x, 0, 1, 0);
    assert_non_null(y);
    assert_int_equal(clg_tensor_to_host(y, hy, N * sizeof(float)), CLG_OK);
    assert_memory_equal(hy, hx, N * sizeof(float));
    clg_tensor *s = clg_sum(y, 0, NULL, 0);
    assert_int_equal(clg_backward(s, NULL), CLG_OK);
    assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), hg, N * sizeof(float)), CLG_OK);
    for (int i = 0; i < N; i++) assert_true(hg[i] == 1.0f);
    clg_tensor_free(s);
    clg_tensor_free(y);

    /* Strided views and rank 0 work too. */
    clg_tensor *v = clg_tensor_slice(x, 0, 0, 20, 2);
    y = clg_dropout(v, 0.5f, 9, 0);
    assert_non_null(y);
    float small[10];
    assert_int_equal(clg_tensor_to_host(y, small, sizeof small), CLG_OK);
    for (int i = 0; i < 10; i++) assert_true(small[i] == 0.0f || small[i] == hx[2 * i] * 2.0f);
    clg_tensor_free(y);
    clg_tensor_free(v);
    clg_tensor *z = clg_tensor_full(ctx, CLG_FLOAT32, 0, NULL, 3.0);
    float zv = read_scalar(clg_dropout(z, 0.5f, 9, 0));
    assert_true(zv == 0.0f || zv == 6.0f);
    clg_tensor_free(z);

    clg_tensor *i32 = clg_tensor_zeros(ctx, CLG_INT32, 1, &n);
    CLG_EXPECT_ERROR(clg_dropout(x, 1.0f, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_dropout", "rate");
    CLG_EXPECT_ERROR(clg_dropout(x, -0.1f, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_dropout", "rate");
    CLG_EXPECT_ERROR(clg_dropout(x, NAN, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_dropout", "rate");
    CLG_EXPECT_ERROR(clg_dropout(NULL, 0.5f, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_dropout", "NULL");
    CLG_EXPECT_ERROR(clg_dropout(i32, 0.5f, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_dropout", "int32");
    clg_tensor_free(i32);
    clg_tensor_free(x);
    free(hx);
    free(hy);
    free(hy2);
    free(hu);
    free(hg);
}

/* --- bad input ------------------------------------------------------------------------------- */

static void test_bad_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t s43[2] = {4, 3}, s42[2] = {4, 2}, s4[1] = {4}, s5[1] = {5}, s6[1] = {6}, s41[2] = {4, 1},
            s40[2] = {4, 0}, s23[2] = {2, 3}, s32[2] = {3, 2};
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, s43);
    clg_tensor *t42 = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, s42);
    clg_tensor *y = clg_tensor_zeros(ctx, CLG_INT32, 1, s4);
    clg_tensor *y5 = clg_tensor_zeros(ctx, CLG_INT32, 1, s5);
    clg_tensor *y41 = clg_tensor_zeros(ctx, CLG_INT32, 2, s41);
    clg_tensor *yf = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, s4);
    clg_tensor *x6 = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, s6);
    clg_tensor *x40 = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, s40);
    clg_tensor *xi = clg_tensor_zeros(ctx, CLG_INT32, 2, s43);
    clg_tensor *a = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, s23);
    clg_tensor *b = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, s32);

    const char *sce = "clg_softmax_cross_entropy";
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy(NULL, y, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, sce, "NULL");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy(x, NULL, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, sce, "NULL");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy(x6, y, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, sce, "[6]", "rank 2");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy(x40, y, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, sce, "[4,0]", "classes");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy(xi, y, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, sce, "int32");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy(x, y5, 0) == NULL, CLG_STATUS_SHAPE_MISMATCH, sce, "[5]", "[4,3]");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy(x, y41, 0) == NULL, CLG_STATUS_SHAPE_MISMATCH, sce, "[4,1]", "[4,3]");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy(x, yf, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, sce, "float32", "int32");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy(x, y, 1.0f) == NULL, CLG_STATUS_INVALID_ARGUMENT, sce, "label_smoothing");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy(x, y, -0.1f) == NULL, CLG_STATUS_INVALID_ARGUMENT, sce, "label_smoothing");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy(x, y, NAN) == NULL, CLG_STATUS_INVALID_ARGUMENT, sce, "label_smoothing");

    const char *oce = "clg_softmax_cross_entropy_onehot";
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy_onehot(x, t42, 0) == NULL, CLG_STATUS_SHAPE_MISMATCH, oce, "[4,3]", "[4,2]");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy_onehot(x, NULL, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, oce, "NULL");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy_onehot(x, x, 1.5f) == NULL, CLG_STATUS_INVALID_ARGUMENT, oce, "label_smoothing");
    CLG_EXPECT_ERROR(clg_softmax_cross_entropy_onehot(x6, x6, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, oce, "[6]");

    const char *cce = "clg_categorical_cross_entropy", *scce = "clg_sparse_categorical_cross_entropy";
    CLG_EXPECT_ERROR(clg_categorical_cross_entropy(x, t42) == NULL, CLG_STATUS_SHAPE_MISMATCH, cce, "[4,3]", "[4,2]");
    CLG_EXPECT_ERROR(clg_categorical_cross_entropy(NULL, x) == NULL, CLG_STATUS_INVALID_ARGUMENT, cce, "NULL");
    CLG_EXPECT_ERROR(clg_sparse_categorical_cross_entropy(x, y5) == NULL, CLG_STATUS_SHAPE_MISMATCH, scce, "[5]", "[4,3]");
    CLG_EXPECT_ERROR(clg_sparse_categorical_cross_entropy(x, yf) == NULL, CLG_STATUS_INVALID_ARGUMENT, scce, "int32");
    CLG_EXPECT_ERROR(clg_sparse_categorical_cross_entropy(x6, y) == NULL, CLG_STATUS_INVALID_ARGUMENT, scce, "[6]");

    struct {
        const char *api;
        clg_tensor *(*fn)(const clg_tensor *, const clg_tensor *);
    } pairs[] = {{"clg_binary_cross_entropy", clg_binary_cross_entropy},
                 {"clg_binary_cross_entropy_logits", clg_binary_cross_entropy_logits},
                 {"clg_mse", clg_mse},
                 {"clg_mae", clg_mae}};
    for (int i = 0; i < 4; i++) {
        CLG_EXPECT_ERROR(pairs[i].fn(a, b) == NULL, CLG_STATUS_SHAPE_MISMATCH, pairs[i].api, "[2,3]", "[3,2]");
        CLG_EXPECT_ERROR(pairs[i].fn(a, NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT, pairs[i].api, "NULL");
        CLG_EXPECT_ERROR(pairs[i].fn(xi, xi) == NULL, CLG_STATUS_INVALID_ARGUMENT, pairs[i].api, "int32");
    }
    CLG_EXPECT_ERROR(clg_huber(a, b, 1) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_huber", "[2,3]", "[3,2]");
    CLG_EXPECT_ERROR(clg_huber(a, a, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_huber", "delta");
    CLG_EXPECT_ERROR(clg_huber(a, a, -1) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_huber", "delta");
    CLG_EXPECT_ERROR(clg_huber(a, a, NAN) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_huber", "delta");

    clg_tensor *ok = clg_mse(a, a); /* still usable after errors */
    assert_true(read_scalar(ok) == 0.0f);
    clg_tensor *all[] = {x, t42, y, y5, y41, yf, x6, x40, xi, a, b};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
}

/* The unused dropout rule reports itself instead of failing silently. */
static void test_dropout_rule_unused(void **state) {
    (void)state;
    CLG_EXPECT_ERROR(clg_bw_dropout(NULL, NULL, NULL, NULL) != CLG_OK, CLG_STATUS_UNSUPPORTED, "dropout");
}

/* --- NT-Xent (SimCLR's contrastive loss) ---------------------------------------------------- */

typedef struct ntx_params {
    int64_t n2, d;
    double t;
} ntx_params;

static void host_nt_xent(const double *const *in, double *out, const void *pp) {
    const ntx_params *p = pp;
    const int64_t m = p->n2, d = p->d;
    double zn[16 * 8];
    for (int64_t i = 0; i < m; i++) {
        double ss = 1e-12;
        for (int64_t k = 0; k < d; k++) ss += in[0][i * d + k] * in[0][i * d + k];
        for (int64_t k = 0; k < d; k++) zn[i * d + k] = in[0][i * d + k] / sqrt(ss);
    }
    double total = 0;
    for (int64_t i = 0; i < m; i++) {
        const int64_t pos = i < m / 2 ? i + m / 2 : i - m / 2;
        double sim[16], mx = -1e300, sum = 0;
        for (int64_t j = 0; j < m; j++) {
            double dot = 0;
            for (int64_t k = 0; k < d; k++) dot += zn[i * d + k] * zn[j * d + k];
            sim[j] = dot / p->t;
            if (j != i && sim[j] > mx) mx = sim[j];
        }
        for (int64_t j = 0; j < m; j++)
            if (j != i) sum += exp(sim[j] - mx);
        total += -(sim[pos] - mx - log(sum));
    }
    out[0] = total / (double)m;
}

static clg_tensor *dev_nt_xent(clg_tensor *const *in, const void *pp) {
    return clg_nt_xent(in[0], (float)((const ntx_params *)pp)->t);
}

static void test_nt_xent(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const ntx_params cases[] = {{2, 3, 0.5}, {8, 5, 0.5}, {12, 8, 0.1}, {16, 4, 1.0}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char name[48];
        snprintf(name, sizeof name, "nt_xent case %zu", c);
        opcheck_spec s = opcheck_defaults(name, 1, dev_nt_xent, host_nt_xent);
        opcheck_input(&s, 0, 2, (int64_t[]){cases[c].n2, cases[c].d}, -1, 1);
        opcheck_output(&s, 0, NULL);
        s.params = &cases[c];
        s.fwd_atol = s.fwd_rtol = 2e-5;
        s.grad_atol = s.grad_rtol = 2e-3; /* temperature 0.1 sharpens the softmax */
        s.seed = 50 + (uint32_t)c;
        opcheck_run(ctx, &s);
    }
    /* bad input names z and the value */
    clg_tensor *odd = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){3, 2});
    CLG_EXPECT_ERROR(clg_nt_xent(odd, 0.5f) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_nt_xent", "[3,2]", "[2N, D]");
    clg_tensor *ok = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 2});
    CLG_EXPECT_ERROR(clg_nt_xent(ok, 0.0f) == NULL, CLG_STATUS_INVALID_ARGUMENT, "temperature 0");
    CLG_EXPECT_ERROR(clg_nt_xent(ok, 1e-9f) == NULL, CLG_STATUS_INVALID_ARGUMENT, "1e-09", ">= 1e-4");
    CLG_EXPECT_ERROR(clg_nt_xent(NULL, 0.5f) == NULL, CLG_STATUS_INVALID_ARGUMENT, "z is NULL");
    clg_tensor_free(odd), clg_tensor_free(ok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_cross_entropy),
        cmocka_unit_test(test_softmax_cross_entropy_onehot),
        cmocka_unit_test(test_categorical_on_probs),
        cmocka_unit_test(test_keras_examples),
        cmocka_unit_test(test_softmax_fusion),
        cmocka_unit_test(test_bad_labels_give_nan),
        cmocka_unit_test(test_empty_batch),
        cmocka_unit_test(test_elementwise_losses),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_dropout_rule_unused),
        cmocka_unit_test(test_nt_xent),
    };
    return CLG_RUN_GROUP(tests);
}
