/* Reductions (sum, mean, max, min, var, argmax, argmin), softmax, log_softmax and
 * broadcast_to against a host reference in double, gradients against finite
 * differences (opcheck).
 *
 * Shapes covered for every reduction: all axes (naxes 0), one axis (first, middle,
 * last, negative), non-adjacent axes ({0,2} of a rank-3 tensor: the permute+copy
 * path), adjacent axes (the free [outer,r,inner] view), keepdims 0 and 1, strided
 * views, rank 0, an extent-1 axis, a zero-size axis, and long rows ([3,1000] over
 * the last axis and [2,3000] over all axes: the work-group tree kernel reduce_rows,
 * used when inner == 1, r >= 256 and there are fewer than 4096 outputs).
 *
 * Tolerances:
 * - sum: |dev - ref| <= 1e-5 |ref| + 1e-5 * count * max|x|. The absolute part is
 *   1e-5 times a bound on sum(|x|) over the reduced elements: float summation of
 *   depth d (the longest chain of additions one term goes through) is off by at
 *   most d * u * sum(|x|) with u = 2^-24 ~ 6e-8. Here d <= 60 for the sequential
 *   kernel ([3,4,5] over all axes) and d = ceil(r / WG) + log2(WG) for the tree
 *   kernel (WG = 64 on PoCL: d = 22 for r = 1000, d = 100 for r = 6000), so
 *   d * u <= 6e-6 < 1e-5. A relative tolerance alone would fail for sums near 0 of
 *   mixed-sign inputs. test_long_sum_accuracy_and_determinism checks the
 *   6000-element sum against exactly that bound with the actual sum(|x|).
 * - mean: the sum bound divided by count (1e-5 * max|x|) plus 1e-5 relative.
 * - var: 1e-5 relative + 1e-6 (a sum of non-negative terms: no cancellation).
 * - max, min: exact (selection does no arithmetic); argmax/argmin: exact indices.
 * - softmax, log_softmax: 2e-5 absolute + relative (exp/log are a few ulp in
 *   OpenCL).
 * - gradients: 1e-3 + 1e-3 |ref| (float32 device against float64 central
 *   differences).
 * max/min gradients at ties are checked by hand (finite differences are undefined
 * there). */
#include "opcheck.h"

#include <math.h>
#include <stdlib.h>

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_VAR0, R_VAR1, R_ARGMAX, R_ARGMIN, R_COUNT };
static const char *const red_names[R_COUNT] = {"sum",   "mean",   "max",    "min",
                                               "var(0)", "var(1)", "argmax", "argmin"};

typedef struct red_params {
    int op;
    int ndim;
    int64_t shape[CLG_MAX_DIMS];
    int naxes;
    int axes[CLG_MAX_DIMS];
    int keepdims;
    unsigned mask; /* normalised reduced axes */
} red_params;

static int64_t numel_of(int ndim, const int64_t *shape) { return opcheck_numel(ndim, shape); }

/* Host reference: walks the input in row-major order keeping the output index
 * incrementally (reduced axes have output stride 0). */
static void red_host(const double *const *in, double *out, const void *pp) {
    const red_params *p = pp;
    int nd = p->ndim;
    int64_t n = numel_of(nd, p->shape), ostr[CLG_MAX_DIMS], nout = 1, count = 1;
    for (int d = nd - 1; d >= 0; d--) {
        if (p->mask & (1u << d)) {
            ostr[d] = 0;
            count *= p->shape[d];
        } else {
            ostr[d] = nout;
            nout *= p->shape[d];
        }
    }
    if (nout == 0) return;
    double *mean = calloc((size_t)nout, sizeof(double));
    int64_t *at = calloc((size_t)nout, sizeof(int64_t));
    int *seen = calloc((size_t)nout, sizeof(int));
    int passes = (p->op == R_VAR0 || p->op == R_VAR1) ? 2 : 1;
    for (int64_t o = 0; o < nout; o++) out[o] = 0;
    for (int pass = 0; pass < passes; pass++) {
        int64_t idx[CLG_MAX_DIMS] = {0}, o = 0;
        if (pass == 1) {
            for (int64_t q = 0; q < nout; q++) mean[q] = out[q] / (double)count;
            for (int64_t q = 0; q < nout; q++) out[q] = 0;
        }
        for (int64_t k = 0; k < n; k++) {
            double v = in[0][k];
            int64_t pos = 0; /* position along the reduced axes (argmax: one axis) */
            for (int d = 0; d < nd; d++)
                if (p->mask & (1u << d)) pos = pos * p->shape[d] + idx[d];
            switch (p->op) {
            case R_SUM:
            case R_MEAN: out[o] += v; break;
            case R_VAR0:
            case R_VAR1: out[o] += pass == 0 ? v : (v - mean[o]) * (v - mean[o]); break;
            case R_MAX:
            case R_ARGMAX:
                if (!seen[o] || v > out[o]) out[o] = v, at[o] = pos;
                break;
            default:
                if (!seen[o] || v < out[o]) out[o] = v, at[o] = pos;
                break;
            }
            seen[o] = 1;
            for (int d = nd - 1; d >= 0; d--) {
                idx[d]++;
                o += ostr[d];
                if (idx[d] < p->shape[d]) break;
                o -= ostr[d] * p->shape[d];
                idx[d] = 0;
            }
        }
    }
    for (int64_t o = 0; o < nout; o++) {
        if (p->op == R_MEAN) out[o] /= (double)count; /* 0/0: NaN, as the device */
        if (p->op == R_VAR0) out[o] /= (double)count;
        if (p->op == R_VAR1) out[o] /= (double)(count - 1);
        if (p->op == R_ARGMAX || p->op == R_ARGMIN) out[o] = (double)at[o];
    }
    free(mean);
    free(at);
    free(seen);
}

static clg_tensor *red_dev(clg_tensor *const *in, const void *pp) {
    const red_params *p = pp;
    const int *axes = p->naxes ? p->axes : NULL;
    switch (p->op) {
    case R_SUM: return clg_sum(in[0], p->naxes, axes, p->keepdims);
    case R_MEAN: return clg_mean(in[0], p->naxes, axes, p->keepdims);
    case R_MAX: return clg_max(in[0], p->naxes, axes, p->keepdims);
    case R_MIN: return clg_min(in[0], p->naxes, axes, p->keepdims);
    case R_VAR0: return clg_var(in[0], p->naxes, axes, p->keepdims, 0);
    case R_VAR1: return clg_var(in[0], p->naxes, axes, p->keepdims, 1);
    case R_ARGMAX: return clg_argmax(in[0], p->axes[0], p->keepdims);
    default: return clg_argmin(in[0], p->axes[0], p->keepdims);
    }
}

/* Runs one reduction case through opcheck. */
static void check_reduction(clg_context *ctx, int op, int ndim, const int64_t *shape, int naxes,
                            const int *axes, int keepdims, int strided, uint32_t seed) {
    red_params p;
    memset(&p, 0, sizeof p);
    p.op = op;
    p.ndim = ndim;
    for (int d = 0; d < ndim; d++) p.shape[d] = shape[d];
    p.naxes = naxes;
    for (int i = 0; i < naxes; i++) {
        p.axes[i] = axes[i];
        p.mask |= 1u << (axes[i] < 0 ? axes[i] + ndim : axes[i]);
    }
    if (naxes == 0) p.mask = (1u << ndim) - 1u;
    p.keepdims = keepdims;
    int64_t oshape[CLG_MAX_DIMS], count = 1;
    int ond = 0;
    for (int d = 0; d < ndim; d++) {
        if (p.mask & (1u << d)) {
            count *= shape[d];
            if (keepdims) oshape[ond++] = 1;
        } else {
            oshape[ond++] = shape[d];
        }
    }
    char name[160];
    snprintf(name, sizeof name, "%s rank %d axes %d:{%d,%d} keepdims %d", red_names[op], ndim, naxes,
             naxes > 0 ? axes[0] : 0, naxes > 1 ? axes[1] : 0, keepdims);
    opcheck_spec s = opcheck_defaults(name, 1, red_dev, red_host);
    const float lo = -2, hi = 2, maxabs = 2;
    opcheck_input(&s, 0, ndim, shape, lo, hi);
    opcheck_output(&s, ond, oshape);
    s.params = &p;
    s.strided_views = strided;
    s.seed = seed;
    switch (op) {
    case R_SUM:
        s.fwd_rtol = 1e-5;
        s.fwd_atol = 1e-5 * (double)count * maxabs;
        break;
    case R_MEAN:
        s.fwd_rtol = 1e-5;
        s.fwd_atol = 1e-5 * maxabs;
        break;
    case R_VAR0:
    case R_VAR1:
        s.fwd_rtol = 1e-5;
        s.fwd_atol = 1e-6;
        break;
    default: /* max, min, argmax, argmin: exact */
        s.fwd_rtol = 0;
        s.fwd_atol = 0;
        break;
    }
    if (op == R_ARGMAX || op == R_ARGMIN) s.check_grad = 0;
    opcheck_run(ctx, &s);
}

/* The float reductions (all but argmax/argmin) over one shape and axes. */
static void check_all_float_reductions(clg_context *ctx, int ndim, const int64_t *shape, int naxes,
                                       const int *axes, int keepdims, int strided, uint32_t seed) {
    for (int op = R_SUM; op <= R_VAR1; op++)
        check_reduction(ctx, op, ndim, shape, naxes, axes, keepdims, strided, seed + (uint32_t)op);
}

static void test_reduce_axes(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t s345[3] = {3, 4, 5};
    struct {
        int naxes;
        int axes[2];
        int keepdims;
    } cases[] = {
        {0, {0}, 0},      {0, {0}, 1},      /* all axes */
        {1, {0}, 0},      {1, {1}, 1},      /* first, middle */
        {1, {2}, 0},      {1, {-1}, 1},     /* last, negative */
        {1, {-3}, 0},     {2, {0, 2}, 0},   /* negative first; non-adjacent (permute+copy) */
        {2, {2, 0}, 1},   {2, {1, 2}, 0},   /* unordered non-adjacent; adjacent (free view) */
        {2, {-2, -3}, 1},                   /* adjacent, negative, leading block */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        check_all_float_reductions(ctx, 3, s345, cases[c].naxes, cases[c].axes, cases[c].keepdims, 1,
                                   1000 + 10 * (uint32_t)c);
    /* Non-adjacent axes of a rank-4 tensor, also as strided views. */
    const int64_t s4[4] = {2, 3, 2, 3};
    const int ax13[2] = {1, 3};
    check_all_float_reductions(ctx, 4, s4, 2, ax13, 0, 1, 1200);
}

static void test_reduce_edge_shapes(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* Rank 0: naxes 0 reduces nothing away and gives rank 0 for both keepdims. */
    const int64_t none[1] = {0};
    for (int op = R_SUM; op <= R_VAR0; op++) {
        check_reduction(ctx, op, 0, none, 0, NULL, 0, 0, 1300 + (uint32_t)op);
        check_reduction(ctx, op, 0, none, 0, NULL, 1, 0, 1310 + (uint32_t)op);
    }
    /* An extent-1 axis (var(1) over one element is an error: see test_var_correction). */
    const int64_t s1[3] = {3, 1, 4};
    const int ax1[1] = {1};
    for (int op = R_SUM; op <= R_VAR0; op++) {
        check_reduction(ctx, op, 3, s1, 1, ax1, 0, 1, 1320 + (uint32_t)op);
        check_reduction(ctx, op, 3, s1, 1, ax1, 1, 0, 1330 + (uint32_t)op);
    }
    /* A tensor of one element over all axes, and size-1 dimensions kept. */
    const int64_t s11[2] = {1, 1};
    for (int op = R_SUM; op <= R_VAR0; op++) check_reduction(ctx, op, 2, s11, 0, NULL, 1, 0, 1340);
    check_reduction(ctx, R_ARGMAX, 3, s1, 1, ax1, 0, 0, 1350);
    check_reduction(ctx, R_ARGMIN, 3, s1, 1, ax1, 1, 0, 1351);
    /* A zero-size kept axis: empty output, no kernel; max is fine since the reduced
     * axis is not empty. */
    const int64_t s03[2] = {0, 3};
    for (int op = R_SUM; op <= R_VAR1; op++) check_reduction(ctx, op, 2, s03, 1, ax1, 0, 0, 1360);
}

/* A contiguous view with an offset (rows 1..2 of a matrix) is reduced in place
 * by both kernels: the offset must be honoured. */
static void test_reduce_offset_view(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    for (int pass = 0; pass < 2; pass++) {
        int64_t n = pass ? 300 : 5, shape[2] = {4, n};
        float *h = malloc((size_t)(4 * n) * sizeof(float));
        for (int64_t k = 0; k < 4 * n; k++) h[k] = (float)(k / n) * 100.0f + (float)(k % n) * 0.5f;
        clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, h);
        clg_tensor *v = x ? clg_tensor_slice(x, 0, 1, 3, 1) : NULL;
        assert_non_null(v);
        const int last[1] = {1};
        clg_tensor *s = clg_sum(v, 1, last, 0), *m = clg_max(v, 1, last, 0), *a = clg_argmin(v, 1, 0);
        assert_true(s && m && a);
        float sv[2], mv[2];
        int32_t av[2];
        assert_int_equal(clg_tensor_to_host(s, sv, sizeof sv), CLG_OK);
        assert_int_equal(clg_tensor_to_host(m, mv, sizeof mv), CLG_OK);
        assert_int_equal(clg_tensor_to_host(a, av, sizeof av), CLG_OK);
        for (int r = 0; r < 2; r++) {
            double row = (r + 1) * 100.0, want = row * (double)n + 0.5 * (double)(n * (n - 1) / 2);
            if (fabs(sv[r] - want) > 1e-5 * want)
                fail_msg("n %lld row %d: sum %g, expected %g", (long long)n, r, (double)sv[r], want);
            assert_true(mv[r] == (float)(row + 0.5 * (double)(n - 1)));
            assert_int_equal(av[r], 0);
        }
        clg_tensor *all[] = {x, v, s, m, a};
        for (size_t i = 0; i < 5; i++) clg_tensor_free(all[i]);
        free(h);
    }
}

/* sum over a zero-size axis is 0, mean is NaN (0/0, as numpy); the gradient of
 * the empty input is an empty tensor. */
static void test_reduce_empty_axis(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t s[3] = {2, 0, 3};
    const int ax1[1] = {1};
    check_reduction(ctx, R_SUM, 3, s, 1, ax1, 0, 0, 1400);
    check_reduction(ctx, R_SUM, 3, s, 1, ax1, 1, 0, 1401);
    check_reduction(ctx, R_SUM, 3, s, 0, NULL, 0, 0, 1402);
    check_reduction(ctx, R_MEAN, 3, s, 1, ax1, 0, 0, 1403);

    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, s);
    assert_non_null(x);
    clg_tensor *y = clg_sum(x, 1, ax1, 0);
    assert_non_null(y);
    assert_int_equal(clg_tensor_ndim(y), 2);
    float got[6];
    assert_int_equal(clg_tensor_to_host(y, got, sizeof got), CLG_OK);
    for (int i = 0; i < 6; i++) assert_true(got[i] == 0.0f);
    clg_tensor *m = clg_mean(x, 1, ax1, 0);
    assert_non_null(m);
    assert_int_equal(clg_tensor_to_host(m, got, sizeof got), CLG_OK);
    for (int i = 0; i < 6; i++) assert_true(isnan(got[i]));
    /* max/min/argmax/argmin over the empty axis are errors naming the op and shape. */
    CLG_EXPECT_ERROR(clg_max(x, 1, ax1, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_max", "[2,0,3]",
                     "empty");
    CLG_EXPECT_ERROR(clg_min(x, 0, NULL, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_min", "[2,0,3]");
    CLG_EXPECT_ERROR(clg_argmax(x, 1, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_argmax", "[2,0,3]");
    CLG_EXPECT_ERROR(clg_argmin(x, -2, 1) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_argmin", "[2,0,3]");
    /* var over an empty axis: count 0, every correction is too large. */
    CLG_EXPECT_ERROR(clg_var(x, 1, ax1, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_var", "[2,0,3]");
    clg_tensor_free(m);
    clg_tensor_free(y);
    clg_tensor_free(x);
}

/* The work-group tree kernel (reduce_rows) for every reduction. */
static void test_reduce_long_rows(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t rows[2] = {3, 1000}, flat[2] = {2, 3000};
    const int last[1] = {-1};
    for (int op = R_SUM; op < R_COUNT; op++)
        check_reduction(ctx, op, 2, rows, 1, last, op % 2, 0, 1500 + (uint32_t)op);
    for (int op = R_SUM; op <= R_VAR1; op++)
        check_reduction(ctx, op, 2, flat, 0, NULL, 0, 0, 1520 + (uint32_t)op);
    /* A strided view is copied first, then reduced by the tree kernel. */
    check_reduction(ctx, R_SUM, 2, rows, 1, last, 0, 1, 1540);
    check_reduction(ctx, R_MAX, 2, rows, 1, last, 1, 1, 1541);
}

/* The 6000-element sum (tree kernel, depth d = ceil(6000/WG) + log2(WG)) is within
 * d * 2^-24 * sum(|x|) of the exact sum; repeated sums are bit-identical on both
 * kernels. */
static void test_long_sum_accuracy_and_determinism(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 6000 };
    float *h = malloc(N * sizeof(float));
    assert_non_null(h);
    clg_test_random_floats(h, N, 77);
    double exact = 0, abs_sum = 0;
    for (int i = 0; i < N; i++) {
        exact += h[i];
        abs_sum += fabs(h[i]);
    }
    uint64_t wg = 64, maxwg = clg_context_get_limits(ctx).max_work_group_size;
    while (wg > maxwg) wg /= 2;
    int levels = 0;
    for (uint64_t w = wg; w > 1; w /= 2) levels++;
    double depth = (double)((N + wg - 1) / wg) + levels;
    double bound = depth * ldexp(1.0, -24) * abs_sum;

    const int64_t flat[2] = {2, 3000}, rows[2] = {3, 2000}, small[2] = {64, 37};
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, flat, h);
    clg_tensor *xr = clg_tensor_reshape(x, 2, rows);
    clg_tensor *xs = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, small, h);
    assert_true(x && xr && xs);
    float a = 0, b = 0;
    clg_tensor *s1 = clg_sum(x, 0, NULL, 0), *s2 = clg_sum(x, 0, NULL, 0);
    assert_true(s1 && s2);
    assert_int_equal(clg_tensor_to_host(s1, &a, sizeof a), CLG_OK);
    assert_int_equal(clg_tensor_to_host(s2, &b, sizeof b), CLG_OK);
    if (!(fabs((double)a - exact) <= bound))
        fail_msg("sum of %d: %.9g, exact %.9g, bound %.3g", N, (double)a, exact, bound);
    assert_memory_equal(&a, &b, sizeof a);

    /* Rows (tree kernel) and columns (sequential kernel), twice each. */
    const int last[1] = {1}, first[1] = {0};
    clg_tensor *r1 = clg_sum(xr, 1, last, 0), *r2 = clg_sum(xr, 1, last, 0);
    clg_tensor *c1 = clg_sum(xs, 1, first, 0), *c2 = clg_sum(xs, 1, first, 0);
    assert_true(r1 && r2 && c1 && c2);
    float ra[3], rb[3], ca[37], cb[37];
    assert_int_equal(clg_tensor_to_host(r1, ra, sizeof ra), CLG_OK);
    assert_int_equal(clg_tensor_to_host(r2, rb, sizeof rb), CLG_OK);
    assert_int_equal(clg_tensor_to_host(c1, ca, sizeof ca), CLG_OK);
    assert_int_equal(clg_tensor_to_host(c2, cb, sizeof cb), CLG_OK);
    assert_memory_equal(ra, rb, sizeof ra);
    assert_memory_equal(ca, cb, sizeof ca);
    clg_tensor *all[] = {x, xr, xs, s1, s2, r1, r2, c1, c2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
    free(h);
}

static void test_var_correction(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* var of {1,2,3,4}: population 1.25, sample 5/3. */
    float v[4] = {1, 2, 3, 4};
    int64_t n = 4;
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, &n, v);
    clg_tensor *p = clg_var(x, 0, NULL, 0, 0), *s = clg_var(x, 0, NULL, 0, 1);
    clg_tensor *s3 = clg_var(x, 0, NULL, 0, 3);
    assert_true(x && p && s && s3);
    float got;
    assert_int_equal(clg_tensor_to_host(p, &got, sizeof got), CLG_OK);
    assert_true(fabs(got - 1.25) <= 1e-6);
    assert_int_equal(clg_tensor_to_host(s, &got, sizeof got), CLG_OK);
    assert_true(fabs(got - 5.0 / 3.0) <= 1e-6);
    assert_int_equal(clg_tensor_to_host(s3, &got, sizeof got), CLG_OK);
    assert_true(fabs(got - 5.0) <= 1e-5); /* sum of squares 5 over 4 - 3 */
    /* correction >= count, and negative corrections, are errors. */
    CLG_EXPECT_ERROR(clg_var(x, 0, NULL, 0, 4) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_var",
                     "correction 4", "[4]");
    CLG_EXPECT_ERROR(clg_var(x, 0, NULL, 0, 5) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_var", "[4]");
    CLG_EXPECT_ERROR(clg_var(x, 0, NULL, 0, -1) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_var", "[4]");
    int64_t s2[2] = {3, 1};
    clg_tensor *y = clg_tensor_ones(ctx, CLG_FLOAT32, 2, s2);
    const int ax1[1] = {1};
    CLG_EXPECT_ERROR(clg_var(y, 1, ax1, 0, 1) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_var",
                     "correction 1", "[3,1]");
    clg_tensor *z = clg_tensor_ones(ctx, CLG_FLOAT32, 0, NULL);
    CLG_EXPECT_ERROR(clg_var(z, 0, NULL, 0, 1) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_var", "[]");
    clg_tensor *all[] = {x, p, s, s3, y, z};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
}

static void test_argmax_argmin(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t s345[3] = {3, 4, 5};
    const int axes[5] = {0, 1, 2, -1, -3};
    for (int i = 0; i < 5; i++) {
        check_reduction(ctx, R_ARGMAX, 3, s345, 1, &axes[i], i % 2, 1, 1600 + (uint32_t)i);
        check_reduction(ctx, R_ARGMIN, 3, s345, 1, &axes[i], (i + 1) % 2, 1, 1610 + (uint32_t)i);
    }
    /* Output dtype and shape. */
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, s345);
    clg_tensor *a = clg_argmax(x, 1, 0), *b = clg_argmin(x, 1, 1);
    assert_true(x && a && b);
    assert_int_equal(clg_tensor_dtype(a), CLG_INT32);
    assert_int_equal(clg_tensor_ndim(a), 2);
    assert_int_equal(clg_tensor_ndim(b), 3);
    assert_int_equal(clg_tensor_shape(b)[1], 1);
    /* No gradient even from an input that requires one. */
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    clg_tensor *c = clg_argmax(x, 0, 0);
    assert_non_null(c);
    assert_false(clg_tensor_requires_grad(c));
    clg_tensor_free(c);
    clg_tensor_free(a);
    clg_tensor_free(b);
    clg_tensor_free(x);
}

/* Reads an int32 result of argmax/argmin over the last axis of a [rows, n] host
 * array. */
static void arg_rows(clg_context *ctx, const float *h, int64_t rows, int64_t n, int want_max,
                     int32_t *got) {
    int64_t shape[2] = {rows, n};
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, h);
    assert_non_null(x);
    clg_tensor *a = want_max ? clg_argmax(x, -1, 0) : clg_argmin(x, -1, 0);
    if (!a) fail_msg("argm%s [%lld,%lld]: %s", want_max ? "ax" : "in", (long long)rows, (long long)n,
                     clg_last_error());
    assert_int_equal(clg_tensor_to_host(a, got, (size_t)rows * sizeof(int32_t)), CLG_OK);
    clg_tensor_free(a);
    clg_tensor_free(x);
}

/* Ties give the first index, on the sequential kernel (n = 7) and on the tree
 * kernel (n = 300: the tied positions sit in different work-items, and in row 3
 * the lower work-item holds the larger index). */
static void test_arg_ties(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    for (int pass = 0; pass < 2; pass++) {
        int64_t n = pass ? 300 : 7;
        /* Row 0: extreme at {2, 5}; row 1: at {n-1, 1}; row 2: all equal;
         * row 3: at {70, 14} on the tree kernel: with WG = 64 they sit in work-items 6
         * and 14, which the tree merges directly (6 <- 14), the lower work-item holding
         * the larger index, so only the explicit tie-break gives 14. */
        int rows = 4;
        float *h = calloc((size_t)(rows * n), sizeof(float));
        int32_t want[4] = {2, 1, 0, pass ? 14 : 3};
        for (int sign = 0; sign < 2; sign++) {
            float big = sign ? -5.0f : 5.0f;
            for (int64_t k = 0; k < rows * n; k++) h[k] = sign ? (float)(k % 7) * 0.1f : -(float)(k % 7) * 0.1f;
            for (int64_t k = 0; k < n; k++) h[2 * n + k] = 1.5f;
            h[0 * n + 2] = h[0 * n + 5] = big;
            h[1 * n + (n - 1)] = h[1 * n + 1] = big;
            if (pass) h[3 * n + 70] = h[3 * n + 14] = big;
            else h[3 * n + 3] = h[3 * n + 6] = big;
            int32_t got[4];
            arg_rows(ctx, h, rows, n, !sign, got);
            for (int r = 0; r < rows; r++)
                if (got[r] != want[r])
                    fail_msg("arg%s ties, n %lld, row %d: %d, expected %d", sign ? "min" : "max", (long long)n,
                             r, got[r], want[r]);
        }
        free(h);
    }
}

/* NaN handling as cl/reduce.cl defines it: a NaN beats every number, so max/min
 * return NaN and argmax/argmin return the index of the first NaN (numpy's
 * behaviour), on both kernels. Infinities are ordinary values; a row of only
 * -inf (+inf for argmin) has its argmax at 0. */
static void test_arg_nan_and_inf(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    for (int pass = 0; pass < 2; pass++) {
        int64_t n = pass ? 300 : 7;
        float *h = calloc((size_t)(3 * n), sizeof(float));
        for (int64_t k = 0; k < 3 * n; k++) h[k] = (float)(k % 5);
        h[0 * n + 4] = NAN;
        h[0 * n + 1] = INFINITY;
        h[0 * n + n - 1] = NAN; /* a later NaN does not win */
        h[1 * n + 3] = INFINITY;
        h[1 * n + 5] = -INFINITY;
        h[2 * n + n - 2] = NAN; /* a NaN late in the row */
        int32_t gmax[3], gmin[3];
        arg_rows(ctx, h, 3, n, 1, gmax);
        arg_rows(ctx, h, 3, n, 0, gmin);
        int32_t w0 = 4, w2 = (int32_t)(n - 2);
        assert_int_equal(gmax[0], w0);
        assert_int_equal(gmin[0], w0);
        assert_int_equal(gmax[1], 3);
        assert_int_equal(gmin[1], 5);
        assert_int_equal(gmax[2], w2);
        assert_int_equal(gmin[2], w2);
        /* max/min values: NaN for rows holding a NaN. */
        int64_t shape[2] = {3, n};
        clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, h);
        clg_tensor *mx = clg_max(x, 1, (const int[]){1}, 0), *mn = clg_min(x, 1, (const int[]){1}, 0);
        assert_true(x && mx && mn);
        float vmax[3], vmin[3];
        assert_int_equal(clg_tensor_to_host(mx, vmax, sizeof vmax), CLG_OK);
        assert_int_equal(clg_tensor_to_host(mn, vmin, sizeof vmin), CLG_OK);
        assert_true(isnan(vmax[0]) && isnan(vmin[0]) && isnan(vmax[2]) && isnan(vmin[2]));
        assert_true(vmax[1] == INFINITY && vmin[1] == -INFINITY);
        clg_tensor_free(mx);
        clg_tensor_free(mn);
        clg_tensor_free(x);

        free(h);
    }
}

/* Rows of only -inf (argmax) and only +inf (argmin): no value beats the start
 * value, and the answer is the first index, 0 (numpy), on both kernels. */
static void test_arg_rows_without_better_value(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    for (int pass = 0; pass < 2; pass++) {
        int64_t n = pass ? 300 : 7;
        float *h = malloc((size_t)(3 * n) * sizeof(float));
        for (int64_t k = 0; k < n; k++) {
            h[k] = -INFINITY;
            h[n + k] = INFINITY;
            h[2 * n + k] = k == n - 1 ? 0.0f : -INFINITY; /* one finite value, last */
        }
        int32_t gmax[3], gmin[3];
        arg_rows(ctx, h, 3, n, 1, gmax);
        arg_rows(ctx, h, 3, n, 0, gmin);
        free(h);
        assert_int_equal(gmax[1], 0); /* +inf beats the start value: fine on both */
        assert_int_equal(gmin[0], 0);
        assert_int_equal(gmax[2], (int32_t)(n - 1));
        if (gmax[0] != 0 || gmin[1] != 0)
            /* Regression (tree kernel reduce_rows): work-items used to start at index
             * 0x7fffffff, so a row with no value better than INIT returned it. */
            fail_msg("n %lld: argmax of a row of -inf is %d, argmin of a row of +inf is %d; expected 0",
                     (long long)n, gmax[0], gmin[1]);
    }
}

/* max/min gradient at ties: shared evenly among the tied positions. */
static void test_minmax_tie_gradient(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* [2,4]: row 0 max 3 twice, min 1 once; row 1 all equal (4-way tie). */
    float v[8] = {1, 3, 3, 2, 7, 7, 7, 7};
    int64_t shape[2] = {2, 4};
    const int ax1[1] = {1};
    for (int which = 0; which < 3; which++) {
        clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, v);
        assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
        clg_tensor *y = which == 0   ? clg_max(x, 1, ax1, 0)
                        : which == 1 ? clg_min(x, 1, ax1, 1)
                                     : clg_max(x, 0, NULL, 0);
        assert_non_null(y);
        float seedv[2] = {2, 8};
        clg_tensor *seed = clg_tensor_from_host(ctx, CLG_FLOAT32, clg_tensor_ndim(y), clg_tensor_shape(y), seedv);
        assert_non_null(seed);
        assert_int_equal(clg_backward(y, seed), CLG_OK);
        float g[8];
        assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), g, sizeof g), CLG_OK);
        float want[3][8] = {
            {0, 1, 1, 0, 2, 2, 2, 2},   /* max per row: 2/2, 8/4 */
            {2, 0, 0, 0, 2, 2, 2, 2},   /* min per row: 2/1, 8/4 */
            {0, 0, 0, 0, 0.5f, 0.5f, 0.5f, 0.5f}, /* max of all: 7 four times, seed 2 */
        };
        for (int i = 0; i < 8; i++)
            if (fabs(g[i] - want[which][i]) > 1e-6)
                fail_msg("tie gradient case %d element %d: %g, expected %g", which, i, (double)g[i],
                         (double)want[which][i]);
        clg_tensor_free(seed);
        clg_tensor_free(y);
        clg_tensor_free(x);
    }
}

/* --- softmax ---------------------------------------------------------------------------------- */

typedef struct sm_params {
    int axis, log_form;
    int64_t shape[3];
} sm_params;

static void sm_host(const double *const *in, double *out, const void *pp) {
    const sm_params *p = pp;
    int a = p->axis < 0 ? p->axis + 3 : p->axis;
    int64_t inner = 1, outer = 1, r = p->shape[a];
    for (int d = a + 1; d < 3; d++) inner *= p->shape[d];
    for (int d = 0; d < a; d++) outer *= p->shape[d];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const double *x = in[0] + o * r * inner + i;
            double *y = out + o * r * inner + i;
            double m = -INFINITY, s = 0;
            for (int64_t k = 0; k < r; k++) m = fmax(m, x[k * inner]);
            for (int64_t k = 0; k < r; k++) s += exp(x[k * inner] - m);
            for (int64_t k = 0; k < r; k++)
                y[k * inner] = p->log_form ? x[k * inner] - m - log(s) : exp(x[k * inner] - m) / s;
        }
}

static clg_tensor *sm_dev(clg_tensor *const *in, const void *pp) {
    const sm_params *p = pp;
    return p->log_form ? clg_log_softmax(in[0], p->axis) : clg_softmax(in[0], p->axis);
}

static void test_softmax_opcheck(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int axes[4] = {0, 1, 2, -1};
    for (int lf = 0; lf < 2; lf++)
        for (int i = 0; i < 4; i++) {
            sm_params p = {axes[i], lf, {3, 4, 5}};
            opcheck_spec s = opcheck_defaults(lf ? "log_softmax" : "softmax", 1, sm_dev, sm_host);
            opcheck_input(&s, 0, 3, p.shape, -3, 3);
            opcheck_output(&s, 3, p.shape);
            s.params = &p;
            s.fwd_atol = s.fwd_rtol = 2e-5;
            s.strided_views = 1;
            s.seed = 1700 + (uint32_t)(10 * lf + i);
            opcheck_run(ctx, &s);
        }
    /* An extent-1 axis (softmax 1, log_softmax 0, gradient 0) and an empty axis
     * (empty result). */
    for (int c = 0; c < 4; c++) {
        int lf = c % 2;
        sm_params p = {1, lf, {3, c < 2 ? 1 : 0, 4}};
        opcheck_spec s =
            opcheck_defaults(lf ? "log_softmax extent 0/1" : "softmax extent 0/1", 1, sm_dev, sm_host);
        opcheck_input(&s, 0, 3, p.shape, -3, 3);
        opcheck_output(&s, 3, p.shape);
        s.params = &p;
        s.fwd_atol = s.fwd_rtol = 2e-5;
        s.seed = 1720 + (uint32_t)c;
        opcheck_run(ctx, &s);
    }
}

/* Rows sum to 1 along the chosen axis, and exp(log_softmax) equals softmax. */
static void test_softmax_rows_sum_to_one(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t shape[3] = {3, 4, 5};
    clg_tensor *x = clg_tensor_rand_uniform(ctx, 3, shape, -4, 4, 9, 0);
    assert_non_null(x);
    for (int a = 0; a < 3; a++) {
        clg_tensor *y = clg_softmax(x, a), *ly = clg_log_softmax(x, a);
        assert_true(y && ly);
        clg_tensor *s = clg_sum(y, 1, &a, 0);
        assert_non_null(s);
        float sv[20], yv[60], lv[60];
        int64_t ns = clg_tensor_numel(s);
        assert_int_equal(clg_tensor_to_host(s, sv, (size_t)ns * sizeof(float)), CLG_OK);
        for (int64_t i = 0; i < ns; i++) assert_true(fabs(sv[i] - 1.0) <= 1e-6 * (double)shape[a]);
        assert_int_equal(clg_tensor_to_host(y, yv, sizeof yv), CLG_OK);
        assert_int_equal(clg_tensor_to_host(ly, lv, sizeof lv), CLG_OK);
        for (int i = 0; i < 60; i++) {
            assert_true(yv[i] > 0 && yv[i] <= 1);
            assert_true(fabs(exp(lv[i]) - yv[i]) <= 2e-6);
        }
        clg_tensor_free(s);
        clg_tensor_free(y);
        clg_tensor_free(ly);
    }
    clg_tensor_free(x);
}

/* Large logits: exp(1000) overflows float, the stable form does not. */
static void test_softmax_stability(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float v[6] = {1000, 1001, -1000, -1001, 88, 1e30f};
    int64_t shape[2] = {3, 2};
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, v);
    assert_non_null(x);
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    clg_tensor *y = clg_softmax(x, 1), *ly = clg_log_softmax(x, -1);
    assert_true(y && ly);
    float yv[6], lv[6];
    assert_int_equal(clg_tensor_to_host(y, yv, sizeof yv), CLG_OK);
    assert_int_equal(clg_tensor_to_host(ly, lv, sizeof lv), CLG_OK);
    double p0 = 1 / (1 + exp(1.0)), l0 = -log1p(exp(1.0)), l1 = -log1p(exp(-1.0));
    double want_y[6] = {p0, 1 - p0, 1 - p0, p0, 0, 1};
    double want_l[6] = {l0, l1, l1, l0, 88.0 - 1e30, 0};
    for (int i = 0; i < 6; i++) {
        assert_true(isfinite(yv[i]) && isfinite(lv[i]));
        if (fabs(yv[i] - want_y[i]) > 1e-6) fail_msg("softmax %d: %g vs %g", i, (double)yv[i], want_y[i]);
        if (fabs(lv[i] - want_l[i]) > 1e-5 * (1 + fabs(want_l[i])))
            fail_msg("log_softmax %d: %g vs %g", i, (double)lv[i], want_l[i]);
    }
    /* The gradient stays finite too: d/dx of sum(w * log_softmax). */
    float wv[6] = {1, -1, 0.5f, 2, 1, 1};
    clg_tensor *w = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, wv);
    assert_int_equal(clg_backward(ly, w), CLG_OK);
    float g[6];
    assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), g, sizeof g), CLG_OK);
    /* w - softmax * sum(w) per row. */
    double want_g[6] = {1 - p0 * 0, -1 - (1 - p0) * 0, 0.5 - (1 - p0) * 2.5, 2 - p0 * 2.5, 1 - 0 * 2, 1 - 1 * 2};
    for (int i = 0; i < 6; i++)
        if (!(fabs(g[i] - want_g[i]) <= 1e-5))
            fail_msg("log_softmax grad %d: %g vs %g", i, (double)g[i], want_g[i]);
    clg_tensor_free(w);
    clg_tensor_free(y);
    clg_tensor_free(ly);
    clg_tensor_free(x);
}

/* --- broadcast_to --------------------------------------------------------------------------- */

typedef struct bc_params {
    int nd, out_nd;
    int64_t shape[CLG_MAX_DIMS], out_shape[CLG_MAX_DIMS];
} bc_params;

static void bc_host(const double *const *in, double *out, const void *pp) {
    const bc_params *p = pp;
    int64_t n = numel_of(p->out_nd, p->out_shape);
    for (int64_t k = 0; k < n; k++) {
        int64_t rem = k, idx = 0, stride = 1;
        for (int d = p->out_nd - 1; d >= 0; d--) {
            int64_t i = rem % p->out_shape[d];
            rem /= p->out_shape[d];
            int sd = d - (p->out_nd - p->nd);
            if (sd >= 0) {
                if (p->shape[sd] != 1) idx += i * stride;
                stride *= p->shape[sd];
            }
        }
        out[k] = in[0][idx];
    }
}

static clg_tensor *bc_dev(clg_tensor *const *in, const void *pp) {
    const bc_params *p = pp;
    return clg_broadcast_to(in[0], p->out_nd, p->out_shape);
}

static void test_broadcast_to(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    bc_params cases[] = {
        {2, 3, {3, 1}, {2, 3, 4}},    /* new leading axis and a stretched size-1 axis */
        {1, 2, {4}, {3, 4}},          /* leading axis only */
        {0, 2, {0}, {2, 3}},          /* rank 0 to a matrix */
        {3, 3, {2, 1, 3}, {2, 4, 3}}, /* middle axis */
        {2, 2, {3, 4}, {3, 4}},       /* identity */
        {1, 2, {1}, {0, 5}},          /* to an empty shape */
        {2, 2, {1, 1}, {1, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        opcheck_spec s = opcheck_defaults("broadcast_to", 1, bc_dev, bc_host);
        opcheck_input(&s, 0, cases[c].nd, cases[c].shape, -2, 2);
        opcheck_output(&s, cases[c].out_nd, cases[c].out_shape);
        s.params = &cases[c];
        s.strided_views = 1;
        s.fwd_atol = s.fwd_rtol = 0; /* a copy */
        s.seed = 1800 + (uint32_t)c;
        opcheck_run(ctx, &s);
    }
    /* The gradient sums back by hand: [2,1] -> [3,2,4] gives each element 12 * g. */
    float v[2] = {1, 2};
    int64_t xs[2] = {2, 1}, ys[3] = {3, 2, 4};
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, xs, v);
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    clg_tensor *y = clg_broadcast_to(x, 3, ys);
    clg_tensor *l = y ? clg_sum(y, 0, NULL, 0) : NULL;
    assert_non_null(l);
    assert_int_equal(clg_backward(l, NULL), CLG_OK);
    float g[2];
    assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), g, sizeof g), CLG_OK);
    assert_true(g[0] == 12.0f && g[1] == 12.0f);
    clg_tensor_free(l);
    clg_tensor_free(y);
    clg_tensor_free(x);
}

/* --- bad input --------------------------------------------------------------------------------- */

static void test_bad_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t s345[3] = {3, 4, 5};
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, s345);
    clg_tensor *xi = clg_tensor_zeros(ctx, CLG_INT32, 3, s345);
    assert_true(x && xi);
    const int out_of_range[1] = {3}, neg_out[1] = {-4}, repeated[2] = {1, 1}, repeated_neg[2] = {2, -1};
    typedef clg_tensor *(*red_fn)(const clg_tensor *, int, const int *, int);
    struct {
        const char *api;
        red_fn f;
    } fns[] = {{"clg_sum", clg_sum}, {"clg_mean", clg_mean}, {"clg_max", clg_max}, {"clg_min", clg_min}};
    for (size_t i = 0; i < 4; i++) {
        CLG_EXPECT_ERROR(fns[i].f(x, 1, out_of_range, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, fns[i].api,
                         "axis 3", "[3,4,5]");
        CLG_EXPECT_ERROR(fns[i].f(x, 1, neg_out, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, fns[i].api, "axis -4",
                         "[3,4,5]");
        CLG_EXPECT_ERROR(fns[i].f(x, 2, repeated, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, fns[i].api,
                         "repeated", "[3,4,5]");
        CLG_EXPECT_ERROR(fns[i].f(x, 2, repeated_neg, 1) == NULL, CLG_STATUS_INVALID_ARGUMENT, fns[i].api,
                         "repeated", "[3,4,5]");
        CLG_EXPECT_ERROR(fns[i].f(x, 1, NULL, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, fns[i].api, "NULL");
        CLG_EXPECT_ERROR(fns[i].f(x, -1, out_of_range, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, fns[i].api);
        CLG_EXPECT_ERROR(fns[i].f(xi, 0, NULL, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, fns[i].api, "int32",
                         "[3,4,5]");
        CLG_EXPECT_ERROR(fns[i].f(NULL, 0, NULL, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, fns[i].api, "NULL");
    }
    /* var */
    CLG_EXPECT_ERROR(clg_var(x, 1, out_of_range, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_var", "axis 3",
                     "[3,4,5]");
    CLG_EXPECT_ERROR(clg_var(x, 2, repeated, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_var", "repeated");
    CLG_EXPECT_ERROR(clg_var(x, 1, NULL, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_var", "NULL");
    CLG_EXPECT_ERROR(clg_var(NULL, 0, NULL, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_var", "NULL");
    /* argmax / argmin */
    CLG_EXPECT_ERROR(clg_argmax(x, 3, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_argmax", "axis 3", "[3,4,5]");
    CLG_EXPECT_ERROR(clg_argmin(x, -4, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_argmin", "axis -4", "[3,4,5]");
    CLG_EXPECT_ERROR(clg_argmax(xi, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_argmax", "int32");
    CLG_EXPECT_ERROR(clg_argmin(NULL, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_argmin", "NULL");
    clg_tensor *r0 = clg_tensor_zeros(ctx, CLG_FLOAT32, 0, NULL);
    CLG_EXPECT_ERROR(clg_argmax(r0, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_argmax", "axis 0", "[]");
    /* softmax / log_softmax */
    CLG_EXPECT_ERROR(clg_softmax(x, 3) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_softmax", "axis 3", "[3,4,5]");
    CLG_EXPECT_ERROR(clg_log_softmax(x, -4) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_log_softmax", "axis -4",
                     "[3,4,5]");
    CLG_EXPECT_ERROR(clg_softmax(NULL, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_softmax", "NULL");
    CLG_EXPECT_ERROR(clg_log_softmax(NULL, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_log_softmax", "NULL");
    /* broadcast_to */
    int64_t to2[2] = {4, 5}, to_bad[3] = {3, 4, 6};
    CLG_EXPECT_ERROR(clg_broadcast_to(x, 2, to2) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_broadcast_to", "[3,4,5]",
                     "[4,5]");
    CLG_EXPECT_ERROR(clg_broadcast_to(x, 3, to_bad) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_broadcast_to",
                     "[3,4,5]", "[3,4,6]");
    CLG_EXPECT_ERROR(clg_broadcast_to(x, 3, NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_broadcast_to", "NULL");
    CLG_EXPECT_ERROR(clg_broadcast_to(NULL, 1, to2) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_broadcast_to");
    CLG_EXPECT_ERROR(clg_broadcast_to(xi, 3, s345) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_broadcast_to",
                     "int32");
    /* The inputs are still usable. */
    clg_tensor *ok = clg_sum(x, 0, NULL, 0);
    assert_non_null(ok);
    clg_tensor_free(ok);
    clg_tensor_free(r0);
    clg_tensor_free(x);
    clg_tensor_free(xi);
}

/* int32 input to the composite ops: the error must name the api called. */
static void test_bad_dtype_names_api(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t s345[3] = {3, 4, 5};
    clg_tensor *xi = clg_tensor_zeros(ctx, CLG_INT32, 3, s345);
    assert_non_null(xi);
    clg_tensor *r[3];
    r[0] = clg_var(xi, 0, NULL, 0, 0);
    int ok_var = r[0] == NULL && strstr(clg_last_error(), "clg_var") && strstr(clg_last_error(), "int32");
    char var_msg[300];
    snprintf(var_msg, sizeof var_msg, "%s", clg_last_error());
    r[1] = clg_softmax(xi, 1);
    int ok_sm = r[1] == NULL && strstr(clg_last_error(), "clg_softmax") && strstr(clg_last_error(), "int32");
    char sm_msg[300];
    snprintf(sm_msg, sizeof sm_msg, "%s", clg_last_error());
    r[2] = clg_log_softmax(xi, 1);
    int ok_lsm = r[2] == NULL && strstr(clg_last_error(), "clg_log_softmax") && strstr(clg_last_error(), "int32");
    char lsm_msg[300];
    snprintf(lsm_msg, sizeof lsm_msg, "%s", clg_last_error());
    for (int i = 0; i < 3; i++) clg_tensor_free(r[i]);
    clg_tensor_free(xi);
    /* Regression: clg_var and softmax used to let clg_mean / clg_max reject the
     * int32 input, so the message named the wrong api. */
    if (!ok_var || !ok_sm || !ok_lsm)
        fail_msg("messages do not name the api: var: \"%s\"; softmax: \"%s\"; log_softmax: \"%s\"", var_msg,
                 sm_msg, lsm_msg);
}

/* Rows longer than 4 chunks of 4096 are reduced in two passes (partials per
 * chunk, then per row): same values as the host, repeatable bit for bit. */
static void test_two_stage_rows(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { ROWS = 3, LEN = 20000 };
    int64_t shape[2] = {ROWS, LEN};
    float *h = malloc(sizeof(float) * ROWS * LEN);
    clg_test_random_floats(h, ROWS * LEN, 4242);
    h[1 * LEN + 17000] = 5.0f; /* the maximum of row 1 lies in its last chunk */
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, h);
    assert_non_null(x);
    int axis = 1;
    clg_tensor *s1 = clg_sum(x, 1, &axis, 0), *s2 = clg_sum(x, 1, &axis, 0);
    clg_tensor *mx = clg_max(x, 1, &axis, 0), *all = clg_sum(x, 0, NULL, 0);
    assert_true(s1 && s2 && mx && all);
    float a[ROWS], b[ROWS], m[ROWS], t;
    assert_int_equal(clg_tensor_to_host(s1, a, sizeof a), CLG_OK);
    assert_int_equal(clg_tensor_to_host(s2, b, sizeof b), CLG_OK);
    assert_int_equal(clg_tensor_to_host(mx, m, sizeof m), CLG_OK);
    assert_int_equal(clg_tensor_to_host(all, &t, sizeof t), CLG_OK);
    assert_memory_equal(a, b, sizeof a);
    double total = 0, total_abs = 0;
    for (int r = 0; r < ROWS; r++) {
        double sum = 0, sum_abs = 0, best = -INFINITY;
        for (int k = 0; k < LEN; k++) {
            sum += h[r * LEN + k];
            sum_abs += fabs(h[r * LEN + k]);
            best = fmax(best, h[r * LEN + k]);
        }
        /* Depth of the float summation is at most 4096/64 + 6 + 5 + 6: < 100 roundings. */
        assert_true(fabs(a[r] - sum) <= 100 * 0x1p-24 * sum_abs);
        assert_true(m[r] == (float)best);
        total += sum;
        total_abs += sum_abs;
    }
    assert_true(m[1] == 5.0f);
    assert_true(fabs(t - total) <= 200 * 0x1p-24 * total_abs);
    clg_tensor *ts[] = {x, s1, s2, mx, all};
    for (int i = 0; i < 5; i++) clg_tensor_free(ts[i]);
    free(h);
}

/* Sums over a long axis with a few contiguous columns after it (a conv bias's
 * gradient: [N*H*W, C] over axis 0): CPU devices take the two-stage column
 * kernel. Within the rounding bound of the host sum, bit-identical when
 * repeated, and the same for a leading block axis. */
static void test_column_sums(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { B = 2, R = 1300, C = 6 };
    float *h = malloc(sizeof(float) * B * R * C);
    assert_non_null(h);
    clg_test_random_floats(h, B * R * C, 909);
    const int64_t shape[3] = {B, R, C};
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 3, shape, h);
    assert_non_null(x);
    const int middle[1] = {1}, outer2[2] = {0, 1};
    clg_tensor *s1 = clg_sum(x, 1, middle, 0), *s2 = clg_sum(x, 1, middle, 0), *s3 = clg_sum(x, 2, outer2, 0);
    assert_true(s1 && s2 && s3);
    float a[B * C], b[B * C], c[C];
    assert_int_equal(clg_tensor_to_host(s1, a, sizeof a), CLG_OK);
    assert_int_equal(clg_tensor_to_host(s2, b, sizeof b), CLG_OK);
    assert_int_equal(clg_tensor_to_host(s3, c, sizeof c), CLG_OK);
    assert_memory_equal(a, b, sizeof a);
    for (int j = 0; j < C; j++) {
        double all = 0, all_abs = 0;
        for (int bb = 0; bb < B; bb++) {
            double sum = 0, sum_abs = 0;
            for (int k = 0; k < R; k++) {
                sum += h[(bb * R + k) * C + j];
                sum_abs += fabs(h[(bb * R + k) * C + j]);
            }
            /* at most 256 + 6 + 64 roundings per sum, whatever the kernel */
            if (!(fabs(a[bb * C + j] - sum) <= 400 * 0x1p-24 * sum_abs))
                fail_msg("column %d of block %d: %.9g, host %.9g", j, bb, (double)a[bb * C + j], sum);
            all += sum;
            all_abs += sum_abs;
        }
        if (!(fabs(c[j] - all) <= 400 * 0x1p-24 * all_abs))
            fail_msg("column %d over both axes: %.9g, host %.9g", j, (double)c[j], all);
    }
    clg_tensor *ts[] = {x, s1, s2, s3};
    for (int i = 0; i < 4; i++) clg_tensor_free(ts[i]);
    free(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_column_sums),
        cmocka_unit_test(test_two_stage_rows),
        cmocka_unit_test(test_reduce_axes),
        cmocka_unit_test(test_reduce_edge_shapes),
        cmocka_unit_test(test_reduce_empty_axis),
        cmocka_unit_test(test_reduce_offset_view),
        cmocka_unit_test(test_reduce_long_rows),
        cmocka_unit_test(test_long_sum_accuracy_and_determinism),
        cmocka_unit_test(test_var_correction),
        cmocka_unit_test(test_argmax_argmin),
        cmocka_unit_test(test_arg_ties),
        cmocka_unit_test(test_arg_nan_and_inf),
        cmocka_unit_test(test_arg_rows_without_better_value),
        cmocka_unit_test(test_minmax_tie_gradient),
        cmocka_unit_test(test_softmax_opcheck),
        cmocka_unit_test(test_softmax_rows_sum_to_one),
        cmocka_unit_test(test_softmax_stability),
        cmocka_unit_test(test_broadcast_to),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_bad_dtype_names_api),
    };
    return CLG_RUN_GROUP(tests);
}
