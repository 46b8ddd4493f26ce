/* Elementwise ops: every unary and binary op against a host reference in double,
 * gradients against finite differences, broadcasting both ways, size-0 and size-1
 * dimensions, strided views, scalar forms, comparisons, where, and fusion.
 *
 * Tolerances: forward |dev - ref| <= 2e-5 + 2e-5 |ref| (transcendental functions
 * are allowed a few ulp in OpenCL); gradients 1e-3 + 1e-3 |ref| (float32 device
 * results against float64 finite differences). */
#include "opcheck.h"

#include <math.h>
#include <stdlib.h>

#include "graph/graph.h"

typedef struct unary_case {
    const char *name;
    clg_tensor *(*dev)(const clg_tensor *);
    double (*host)(double);
    float lo, hi;
} unary_case;

static double h_neg(double x) { return -x; }
static double h_abs(double x) { return fabs(x); }
static double h_sqr(double x) { return x * x; }
static double h_rsqrt(double x) { return 1 / sqrt(x); }
static double h_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double h_relu(double x) { return x > 0 ? x : 0; }
static double h_gelu(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double h_gelu_tanh(double x) {
    return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
static double h_softplus(double x) { return log1p(exp(x)); }
static double h_softsign(double x) { return x / (1 + fabs(x)); }
static double h_hard_sigmoid(double x) { return fmin(fmax(0.2 * x + 0.5, 0), 1); }
static double h_sign(double x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }

static const unary_case unary_cases[] = {
    {"neg", clg_neg, h_neg, -3, 3},
    {"abs", clg_abs, h_abs, -3, 3},
    {"exp", clg_exp, exp, -3, 3},
    {"log", clg_log, log, 0.1f, 5},
    {"sqrt", clg_sqrt, sqrt, 0.1f, 5},
    {"rsqrt", clg_rsqrt, h_rsqrt, 0.2f, 5},
    {"square", clg_square, h_sqr, -3, 3},
    {"sin", clg_sin, sin, -3, 3},
    {"cos", clg_cos, cos, -3, 3},
    {"sigmoid", clg_sigmoid, h_sigmoid, -6, 6},
    {"tanh", clg_tanh, tanh, -3, 3},
    {"relu", clg_relu, h_relu, -3, 3},
    {"gelu", clg_gelu, h_gelu, -3, 3},
    {"gelu_tanh", clg_gelu_tanh, h_gelu_tanh, -3, 3},
    {"softplus", clg_softplus, h_softplus, -5, 5},
    {"softsign", clg_softsign, h_softsign, -3, 3},
    {"hard_sigmoid", clg_hard_sigmoid, h_hard_sigmoid, -4, 4},
    {"sign", clg_sign, h_sign, -3, 3}, /* no gradient */
};

static const unary_case *current_unary;
static clg_tensor *unary_dev(clg_tensor *const *in, const void *p) {
    (void)p;
    return current_unary->dev(in[0]);
}
static void unary_host(const double *const *in, double *out, const void *p) {
    const int64_t *n = p;
    for (int64_t i = 0; i < *n; i++) out[i] = current_unary->host(in[0][i]);
}

static void test_unary_ops(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t shape[2] = {3, 5}, n = 15;
    for (size_t c = 0; c < sizeof unary_cases / sizeof *unary_cases; c++) {
        current_unary = &unary_cases[c];
        opcheck_spec s = opcheck_defaults(current_unary->name, 1, unary_dev, unary_host);
        opcheck_input(&s, 0, 2, shape, current_unary->lo, current_unary->hi);
        opcheck_output(&s, 2, shape);
        s.params = &n;
        s.fwd_atol = s.fwd_rtol = 2e-5;
        s.strided_views = 1;
        s.seed = 100 + (uint32_t)c;
        opcheck_run(ctx, &s);
    }
}

/* Parameterised unary ops. */
static double p_alpha, p_lo, p_hi;
static clg_tensor *leaky_dev(clg_tensor *const *in, const void *p) { (void)p; return clg_leaky_relu(in[0], (float)p_alpha); }
static void leaky_host(const double *const *in, double *out, const void *p) {
    for (int64_t i = 0; i < *(const int64_t *)p; i++) out[i] = in[0][i] > 0 ? in[0][i] : p_alpha * in[0][i];
}
static clg_tensor *elu_dev(clg_tensor *const *in, const void *p) { (void)p; return clg_elu(in[0], (float)p_alpha); }
static void elu_host(const double *const *in, double *out, const void *p) {
    for (int64_t i = 0; i < *(const int64_t *)p; i++) out[i] = in[0][i] > 0 ? in[0][i] : p_alpha * expm1(in[0][i]);
}
static clg_tensor *clamp_dev(clg_tensor *const *in, const void *p) { (void)p; return clg_clamp(in[0], (float)p_lo, (float)p_hi); }
static void clamp_host(const double *const *in, double *out, const void *p) {
    for (int64_t i = 0; i < *(const int64_t *)p; i++) out[i] = fmin(fmax(in[0][i], p_lo), p_hi);
}

static void test_parameterised_unary(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t shape[1] = {40}, n = 40;
    struct {
        const char *name;
        opcheck_device_fn d;
        opcheck_host_fn h;
    } cases[] = {{"leaky_relu", leaky_dev, leaky_host}, {"elu", elu_dev, elu_host}, {"clamp", clamp_dev, clamp_host}};
    p_alpha = 0.3;
    p_lo = -0.5;
    p_hi = 1.25;
    for (size_t c = 0; c < 3; c++) {
        opcheck_spec s = opcheck_defaults(cases[c].name, 1, cases[c].d, cases[c].h);
        opcheck_input(&s, 0, 1, shape, -3, 3);
        opcheck_output(&s, 1, shape);
        s.params = &n;
        s.fwd_atol = s.fwd_rtol = 2e-5;
        opcheck_run(ctx, &s);
    }
}

typedef struct binary_case {
    const char *name;
    clg_tensor *(*dev)(const clg_tensor *, const clg_tensor *);
    double (*host)(double, double);
    float lo, hi;
    int grad;
} binary_case;

static double h_add(double a, double b) { return a + b; }
static double h_sub(double a, double b) { return a - b; }
static double h_mul(double a, double b) { return a * b; }
static double h_div(double a, double b) { return a / b; }
static double h_max(double a, double b) { return fmax(a, b); }
static double h_min(double a, double b) { return fmin(a, b); }
static double h_eq(double a, double b) { return a == b; }
static double h_ne(double a, double b) { return a != b; }
static double h_lt(double a, double b) { return a < b; }
static double h_le(double a, double b) { return a <= b; }
static double h_gt(double a, double b) { return a > b; }
static double h_ge(double a, double b) { return a >= b; }

static const binary_case binary_cases[] = {
    {"add", clg_add, h_add, -3, 3, 1},       {"sub", clg_sub, h_sub, -3, 3, 1},
    {"mul", clg_mul, h_mul, -3, 3, 1},       {"div", clg_div, h_div, 0.5f, 3, 1},
    {"pow", clg_pow, pow, 0.5f, 2, 1},       {"maximum", clg_maximum, h_max, -3, 3, 1},
    {"minimum", clg_minimum, h_min, -3, 3, 1}, {"eq", clg_eq, h_eq, -1, 1, 0},
    {"ne", clg_ne, h_ne, -1, 1, 0},          {"lt", clg_lt, h_lt, -1, 1, 0},
    {"le", clg_le, h_le, -1, 1, 0},          {"gt", clg_gt, h_gt, -1, 1, 0},
    {"ge", clg_ge, h_ge, -1, 1, 0},
};

/* Host broadcasting: index of out element k in an operand of shape s (rank n)
 * right-aligned to the output shape. */
typedef struct bcast {
    int out_nd, nd[3];
    int64_t out_shape[CLG_MAX_DIMS], shape[3][CLG_MAX_DIMS];
} bcast;

static int64_t bindex(const bcast *b, int which, int64_t k) {
    int64_t idx = 0, stride = 1;
    for (int d = b->out_nd - 1; d >= 0; d--) {
        int64_t e = b->out_shape[d], i = k % e;
        k /= e;
        int od = d - (b->out_nd - b->nd[which]);
        if (od >= 0) {
            if (b->shape[which][od] != 1) idx += i * stride;
            stride *= b->shape[which][od];
        }
    }
    return idx;
}

static const binary_case *current_binary;
static clg_tensor *binary_dev(clg_tensor *const *in, const void *p) {
    (void)p;
    return current_binary->dev(in[0], in[1]);
}
static void binary_host(const double *const *in, double *out, const void *p) {
    const bcast *b = p;
    int64_t n = opcheck_numel(b->out_nd, b->out_shape);
    for (int64_t k = 0; k < n; k++) out[k] = current_binary->host(in[0][bindex(b, 0, k)], in[1][bindex(b, 1, k)]);
}

static void test_binary_ops_broadcasting(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* (a shape, b shape): same, b broadcast, a broadcast, both, size-1 and rank-0. */
    struct {
        int na, nb;
        int64_t a[3], b[3];
    } shapes[] = {
        {2, 2, {3, 4}, {3, 4}}, {2, 1, {3, 4}, {4}}, {1, 2, {4}, {3, 4}},
        {3, 3, {2, 1, 4}, {1, 3, 1}}, {2, 0, {2, 3}, {0}}, {2, 2, {1, 1}, {2, 3}},
        /* what the kernel's coalescing of dimensions must get right: a bias over
         * the last axis (three axes walked as two), a broadcast middle axis
         * (nothing merges across it), an outer one, and extents of 1 between */
        {3, 1, {2, 3, 4}, {4}}, {3, 3, {2, 3, 4}, {2, 1, 4}}, {3, 3, {2, 3, 4}, {1, 3, 4}},
        {3, 3, {3, 1, 5}, {3, 2, 1}},
    };
    for (size_t c = 0; c < sizeof binary_cases / sizeof *binary_cases; c++) {
        current_binary = &binary_cases[c];
        for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
            bcast b;
            memset(&b, 0, sizeof b);
            b.nd[0] = shapes[sh].na;
            b.nd[1] = shapes[sh].nb;
            memcpy(b.shape[0], shapes[sh].a, sizeof shapes[sh].a);
            memcpy(b.shape[1], shapes[sh].b, sizeof shapes[sh].b);
            int nd;
            assert_int_equal(clg_broadcast_shapes("test", b.nd[0], b.shape[0], b.nd[1], b.shape[1], &nd, b.out_shape), CLG_OK);
            b.out_nd = nd;
            opcheck_spec s = opcheck_defaults(current_binary->name, 2, binary_dev, binary_host);
            opcheck_input(&s, 0, b.nd[0], b.shape[0], current_binary->lo, current_binary->hi);
            opcheck_input(&s, 1, b.nd[1], b.shape[1], current_binary->lo, current_binary->hi);
            opcheck_output(&s, b.out_nd, b.out_shape);
            s.params = &b;
            s.check_grad = current_binary->grad;
            s.fwd_atol = s.fwd_rtol = 2e-5;
            s.strided_views = sh == 0 || sh == 6 || sh == 7;
            s.seed = 300 + (uint32_t)(c * 10 + sh);
            opcheck_run(ctx, &s);
        }
    }
}

/* where(cond, a, b) with broadcasting; gradient to a and b. */
static bcast where_b;
static clg_tensor *where_dev(clg_tensor *const *in, const void *p) {
    (void)p;
    clg_tensor *c = clg_gt(in[0], in[1]);
    clg_tensor *r = clg_where(c, in[1], in[2]);
    clg_tensor_free(c);
    return r;
}
static void where_host(const double *const *in, double *out, const void *p) {
    const bcast *b = p;
    int64_t n = opcheck_numel(b->out_nd, b->out_shape);
    for (int64_t k = 0; k < n; k++) {
        double x = in[0][bindex(b, 0, k)], a = in[1][bindex(b, 1, k)], bb = in[2][bindex(b, 2, k)];
        out[k] = x > a ? a : bb;
    }
}

static void test_where(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    bcast *b = &where_b;
    memset(b, 0, sizeof *b);
    b->out_nd = 2;
    b->out_shape[0] = 3;
    b->out_shape[1] = 4;
    b->nd[0] = 2; b->shape[0][0] = 3; b->shape[0][1] = 4;
    b->nd[1] = 1; b->shape[1][0] = 4;
    b->nd[2] = 2; b->shape[2][0] = 3; b->shape[2][1] = 1;
    opcheck_spec s = opcheck_defaults("where", 3, where_dev, where_host);
    for (int i = 0; i < 3; i++) opcheck_input(&s, i, b->nd[i], b->shape[i], -2, 2);
    opcheck_output(&s, 2, b->out_shape);
    s.params = b;
    s.differentiable[0] = 0;
    opcheck_run(ctx, &s);
}

/* Scalar forms against their tensor equivalents, and the host. */
static void test_scalar_forms(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float v[6] = {0.5f, 1, 1.5f, 2, 2.5f, 3};
    int64_t n = 6;
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, &n, v);
    assert_non_null(x);
    struct {
        clg_tensor *t;
        double (*f)(double);
    } cases[9];
    cases[0].t = clg_add_scalar(x, 2);
    cases[1].t = clg_mul_scalar(x, -3);
    cases[2].t = clg_sub_scalar(x, 1);
    cases[3].t = clg_rsub_scalar(1, x);
    cases[4].t = clg_div_scalar(x, 4);
    cases[5].t = clg_rdiv_scalar(2, x);
    cases[6].t = clg_pow_scalar(x, 3);
    cases[7].t = clg_maximum_scalar(x, 1.75f);
    cases[8].t = clg_minimum_scalar(x, 1.75f);
    double want[9][6];
    for (int i = 0; i < 6; i++) {
        double a = v[i];
        want[0][i] = a + 2; want[1][i] = a * -3; want[2][i] = a - 1; want[3][i] = 1 - a;
        want[4][i] = a / 4; want[5][i] = 2 / a; want[6][i] = a * a * a; want[7][i] = fmax(a, 1.75);
        want[8][i] = fmin(a, 1.75);
    }
    for (int c = 0; c < 9; c++) {
        assert_non_null(cases[c].t);
        float got[6];
        assert_int_equal(clg_tensor_to_host(cases[c].t, got, sizeof got), CLG_OK);
        for (int i = 0; i < 6; i++)
            if (fabs(got[i] - want[c][i]) > 1e-5 * (1 + fabs(want[c][i])))
                fail_msg("scalar form %d element %d: %g vs %g", c, i, (double)got[i], want[c][i]);
        clg_tensor_free(cases[c].t);
    }
    clg_tensor_free(x);
}

/* A long chain fuses into few kernels and equals the step-by-step result. */
static void test_fusion(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t shape[2] = {16, 33};
    clg_tensor *x = clg_tensor_rand_uniform(ctx, 2, shape, -2, 2, 5, 0);
    clg_tensor *b = clg_tensor_rand_uniform(ctx, 1, shape + 1, -1, 1, 6, 0);
    assert_true(x && b);
    /* y = sigmoid(relu(x + b) * 1.5 - 0.25) ^ 2 */
    clg_tensor *t1 = clg_add(x, b), *t2 = clg_relu(t1), *t3 = clg_mul_scalar(t2, 1.5f);
    clg_tensor *t4 = clg_sub_scalar(t3, 0.25f), *t5 = clg_sigmoid(t4), *y = clg_square(t5);
    assert_non_null(y);
    uint64_t before = clg_context_get_stats(ctx).programs_built + clg_context_get_stats(ctx).programs_from_disk +
                      clg_context_get_stats(ctx).programs_from_memory;
    float fused[16 * 33], stepwise[16 * 33], hx[16 * 33], hb[33];
    assert_int_equal(clg_tensor_to_host(y, fused, sizeof fused), CLG_OK);
    uint64_t after = clg_context_get_stats(ctx).programs_built + clg_context_get_stats(ctx).programs_from_disk +
                     clg_context_get_stats(ctx).programs_from_memory;
    assert_int_equal(after - before, 1); /* one generated program for the whole chain */
    /* Evaluate each intermediate on its own (unfused), then the host. */
    clg_tensor *chain[] = {t1, t2, t3, t4, t5};
    for (int i = 0; i < 5; i++) assert_int_equal(clg_tensor_eval(chain[i]), CLG_OK);
    clg_tensor *y2 = clg_square(t5);
    assert_int_equal(clg_tensor_to_host(y2, stepwise, sizeof stepwise), CLG_OK);
    assert_int_equal(clg_tensor_to_host(x, hx, sizeof hx), CLG_OK);
    assert_int_equal(clg_tensor_to_host(b, hb, sizeof hb), CLG_OK);
    for (int i = 0; i < 16 * 33; i++) {
        double r = fmax(hx[i] + hb[i % 33], 0) * 1.5 - 0.25;
        double want = pow(1 / (1 + exp(-r)), 2);
        /* Fused and unfused agree within 1e-6 (a kernel may contract a*b+c into fma). */
        assert_true(fabs(fused[i] - stepwise[i]) <= 1e-6);
        assert_true(fabs(fused[i] - want) <= 1e-5);
    }
    clg_tensor *all[] = {t1, t2, t3, t4, t5, y, y2, x, b};
    for (int i = 0; i < 9; i++) clg_tensor_free(all[i]);
}

/* Gradients flow through a fused chain and accumulate over two backward calls. */
static void test_chain_gradient_accumulates(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float v[4] = {-1, 0.5f, 2, 3};
    int64_t n = 4;
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, &n, v);
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    for (int rep = 0; rep < 2; rep++) {
        clg_tensor *sq = clg_square(x), *e = clg_mul(sq, x); /* x^3 */
        clg_tensor *s = clg_sum(e, 0, NULL, 0);
        assert_non_null(s);
        assert_int_equal(clg_backward(s, NULL), CLG_OK);
        clg_tensor_free(sq);
        clg_tensor_free(e);
        clg_tensor_free(s);
    }
    float g[4];
    assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), g, sizeof g), CLG_OK);
    for (int i = 0; i < 4; i++) assert_true(fabs(g[i] - 2 * 3 * v[i] * v[i]) < 1e-4);
    assert_int_equal(clg_tensor_zero_grad(x), CLG_OK);
    assert_null(clg_tensor_grad(x));
    /* With recording off nothing is recorded. */
    int was = clg_grad_set_enabled(ctx, 0);
    clg_tensor *y = clg_exp(x);
    assert_false(clg_tensor_requires_grad(y));
    CLG_EXPECT_ERROR(clg_backward(y, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_backward");
    clg_grad_set_enabled(ctx, was);
    clg_tensor *d = clg_tensor_detach(x);
    clg_tensor *z = clg_exp(d);
    assert_false(clg_tensor_requires_grad(z));
    clg_tensor_free(y);
    clg_tensor_free(z);
    clg_tensor_free(d);
    clg_tensor_free(x);
}

static void test_bad_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t a[2] = {2, 3}, b[1] = {4};
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, a), *y = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, b);
    clg_tensor *i = clg_tensor_zeros(ctx, CLG_INT32, 1, b);
    CLG_EXPECT_ERROR(clg_add(x, y) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_add", "[2,3]", "[4]");
    CLG_EXPECT_ERROR(clg_mul(x, NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_mul", "NULL");
    CLG_EXPECT_ERROR(clg_exp(i) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_exp", "int32");
    CLG_EXPECT_ERROR(clg_clamp(x, 2, 1) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_clamp");
    CLG_EXPECT_ERROR(clg_add_scalar(NULL, 1) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_add_scalar");
    CLG_EXPECT_ERROR(clg_broadcast_to(x, 1, b) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_broadcast_to", "[2,3]");
    CLG_EXPECT_ERROR(clg_backward(x, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_backward");
    clg_tensor *r = clg_relu(y); /* still usable */
    assert_non_null(r);
    clg_tensor_free(r);
    clg_tensor_free(x);
    clg_tensor_free(y);
    clg_tensor_free(i);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_ops),
        cmocka_unit_test(test_parameterised_unary),
        cmocka_unit_test(test_binary_ops_broadcasting),
        cmocka_unit_test(test_where),
        cmocka_unit_test(test_scalar_forms),
        cmocka_unit_test(test_fusion),
        cmocka_unit_test(test_chain_gradient_accumulates),
        cmocka_unit_test(test_bad_input),
    };
    return CLG_RUN_GROUP(tests);
}
