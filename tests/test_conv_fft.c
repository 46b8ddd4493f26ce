/* FFT convolution (src/ops/conv_fft.c), called directly through the internal
 * interface: forward against a naive host cross-correlation in double for
 * kernels 1x1 .. 11x11, batch 1 and 2, several channels, odd sizes, zero,
 * symmetric and asymmetric padding, dilation and empty sums; the plan cache;
 * replay of a captured step after new input; the AUTO choice (stored choice,
 * heuristic, one measurement whose winner is stored, none during a capture);
 * unsupported shapes and bad operands.
 *
 * Tolerance: |dev - ref| <= 1e-4 * sum |x * w| over the output's window + 1e-5.
 * float32 FFT rounding grows with log2(FH*FW) (here <= ~9 stages, each ~6e-8
 * relative) and with the magnitude of the whole plane, not only the window, so
 * the bound is relative to the window's absolute sum (the scale of the terms)
 * with a small absolute floor for windows mostly in the padding.
 *
 * Each FFT plan (lengths, batch, direction) is compiled by clFFT on first use
 * (tenths of a second on PoCL), so the cases share few FFT sizes. */
#include "fixture.h"

#include <math.h>
#include <stdlib.h>

#include "clgrad/autograd.h"
#include "ops/conv_internal.h"

/* clFFT 2.12 deletes its plans' actions through a base-class pointer without a
 * virtual destructor (in clfftDestroyPlan and clfftTeardown), which ASan reports
 * as new-delete-type-mismatch. Not ours to fix: turned off for this binary in
 * sanitizer builds (ASAN_OPTIONS from the environment still override it). */
#if defined(__SANITIZE_ADDRESS__)
__attribute__((used, visibility("default"), no_sanitize_address)) const char *
__asan_default_options(void);
const char *__asan_default_options(void) { return "new_delete_type_mismatch=0"; }
#endif

/* Test-visible in conv_fft.c: plans in ctx's cache. */

typedef struct conv_case {
    int64_t n, c, h, w, o, kh, kw;
    int pad[4]; /* top, bottom, left, right */
    int dil[2];
} conv_case;

static clg_conv_geometry geometry_of(const conv_case *cc) {
    clg_conv_geometry g;
    memset(&g, 0, sizeof g);
    g.n = cc->n;
    g.c = cc->c;
    g.h = cc->h;
    g.w = cc->w;
    g.o = cc->o;
    g.kh = cc->kh;
    g.kw = cc->kw;
    g.stride[0] = g.stride[1] = 1;
    g.dilation[0] = cc->dil[0] ? cc->dil[0] : 1;
    g.dilation[1] = cc->dil[1] ? cc->dil[1] : 1;
    memcpy(g.pad, cc->pad, sizeof g.pad);
    g.groups = 1;
    g.oh = g.h + g.pad[0] + g.pad[1] - (int64_t)g.dilation[0] * (g.kh - 1);
    g.ow = g.w + g.pad[2] + g.pad[3] - (int64_t)g.dilation[1] * (g.kw - 1);
    return g;
}

/* Naive cross-correlation in double; abs gets sum |x * w| over each window. */
static void host_conv(const clg_conv_geometry *g, const float *x, const float *w, double *ref,
                      double *abs_sum) {
    for (int64_t b = 0; b < g->n; b++)
        for (int64_t o = 0; o < g->o; o++)
            for (int64_t i = 0; i < g->oh; i++)
                for (int64_t j = 0; j < g->ow; j++) {
                    double s = 0, a = 0;
                    for (int64_t c = 0; c < g->c; c++)
                        for (int64_t u = 0; u < g->kh; u++)
                            for (int64_t v = 0; v < g->kw; v++) {
                                int64_t yi = i + u * g->dilation[0] - g->pad[0];
                                int64_t xj = j + v * g->dilation[1] - g->pad[2];
                                if (yi < 0 || yi >= g->h || xj < 0 || xj >= g->w) continue;
                                double t = (double)x[((b * g->c + c) * g->h + yi) * g->w + xj] *
                                           (double)w[((o * g->c + c) * g->kh + u) * g->kw + v];
                                s += t;
                                a += fabs(t);
                            }
                    int64_t idx = ((b * g->o + o) * g->oh + i) * g->ow + j;
                    ref[idx] = s;
                    abs_sum[idx] = a;
                }
}

static void check_output(const clg_conv_geometry *g, const float *dev, const float *x,
                         const float *w, const char *label) {
    size_t n = (size_t)(g->n * g->o * g->oh * g->ow);
    double *ref = malloc((n + 1) * sizeof *ref), *abs_sum = malloc((n + 1) * sizeof *abs_sum);
    assert_non_null(ref);
    assert_non_null(abs_sum);
    host_conv(g, x, w, ref, abs_sum);
    for (size_t i = 0; i < n; i++) {
        double tol = 1e-4 * abs_sum[i] + 1e-5;
        if (!(fabs((double)dev[i] - ref[i]) <= tol))
            fail_msg("%s: output %zu: device %.8g, reference %.8g (tolerance %.3g)", label, i,
                     (double)dev[i], ref[i], tol);
    }
    free(ref);
    free(abs_sum);
}

typedef struct operands {
    clg_tensor *x, *w, *out;
    float *hx, *hw, *hout;
} operands;

static void operands_make(clg_context *ctx, const clg_conv_geometry *g, uint32_t seed,
                          operands *ops) {
    int64_t xs[4] = {g->n, g->c, g->h, g->w}, ws[4] = {g->o, g->c, g->kh, g->kw};
    int64_t os[4] = {g->n, g->o, g->oh, g->ow};
    size_t nx = (size_t)(g->n * g->c * g->h * g->w), nw = (size_t)(g->o * g->c * g->kh * g->kw);
    size_t no = (size_t)(g->n * g->o * g->oh * g->ow);
    ops->hx = malloc((nx + 1) * sizeof(float));
    ops->hw = malloc((nw + 1) * sizeof(float));
    ops->hout = malloc((no + 1) * sizeof(float));
    assert_true(ops->hx && ops->hw && ops->hout);
    clg_test_random_floats(ops->hx, nx, seed);
    clg_test_random_floats(ops->hw, nw, seed + 100);
    ops->x = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, xs, ops->hx);
    ops->w = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, ws, ops->hw);
    ops->out = clg_tensor_empty(ctx, CLG_FLOAT32, 4, os);
    if (!ops->x || !ops->w || !ops->out) fail_msg("tensors: %s", clg_last_error());
}

static void operands_free(operands *ops) {
    clg_tensor_free(ops->x);
    clg_tensor_free(ops->w);
    clg_tensor_free(ops->out);
    free(ops->hx);
    free(ops->hw);
    free(ops->hout);
}

static void run_case(clg_context *ctx, const conv_case *cc, uint32_t seed) {
    clg_conv_geometry g = geometry_of(cc);
    char label[160];
    snprintf(label, sizeof label,
             "x [%lld,%lld,%lld,%lld] w [%lld,%lld,%lld,%lld] pad %d,%d,%d,%d dil %dx%d",
             (long long)g.n, (long long)g.c, (long long)g.h, (long long)g.w, (long long)g.o,
             (long long)g.c, (long long)g.kh, (long long)g.kw, g.pad[0], g.pad[1], g.pad[2],
             g.pad[3], g.dilation[0], g.dilation[1]);
    assert_true(clg_conv_fft_supports(&g));
    operands ops;
    operands_make(ctx, &g, seed, &ops);
    clg_status st = clg_conv2d_fft_forward(ops.x, ops.w, &g, ops.out, "test_conv_fft");
    if (st != CLG_OK) fail_msg("%s: %s", label, clg_last_error());
    size_t no = (size_t)(g.n * g.o * g.oh * g.ow);
    assert_int_equal(clg_tensor_to_host(ops.out, ops.hout, no * sizeof(float)), CLG_OK);
    check_output(&g, ops.hout, ops.hx, ops.hw, label);
    operands_free(&ops);
}

/* clFFT compiles its kernels once per FFT size and direction (about a second
 * each on PoCL; the batch does not matter), so every case below pads to one of
 * two FFT sizes: 8x8 (a power of two) and 15x16 (radix 3 and 5 rows). */
static void test_forward_kernel_sizes(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    static const conv_case cases[] = {
        /* 1x1, no padding, odd width: FFT 8x8 */
        {1, 3, 8, 7, 2, 1, 1, {0, 0, 0, 0}, {1, 1}},
        /* 3x3, symmetric padding, batch 2: 8x8 */
        {2, 2, 6, 5, 3, 3, 3, {1, 1, 1, 1}, {1, 1}},
        /* 5x5, asymmetric padding, odd sizes: 15x16 */
        {1, 3, 13, 11, 2, 5, 5, {2, 0, 1, 3}, {1, 1}},
        /* 7x7, symmetric padding 3 ('same'), batch 2: 15x16 */
        {2, 2, 9, 9, 2, 7, 7, {3, 3, 3, 3}, {1, 1}},
        /* 11x11, asymmetric padding, rectangular output: 15x16 */
        {1, 2, 11, 12, 3, 11, 11, {1, 3, 4, 0}, {1, 1}},
        /* rectangular kernel, no padding, batch 2: 8x8 */
        {2, 3, 8, 8, 2, 2, 5, {0, 0, 0, 0}, {1, 1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(ctx, &cases[i], 10 + (uint32_t)i);
}

static void test_forward_edges(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    static const conv_case cases[] = {
        /* dilation 2 (the kernel is spread in the padded plane): 8x8 */
        {1, 2, 7, 5, 2, 3, 3, {0, 1, 1, 1}, {2, 2}},
        /* mixed dilation 1x3 */
        {1, 2, 8, 8, 1, 2, 3, {0, 0, 0, 0}, {1, 3}},
        /* a single input pixel (size-1 axes) inside padding */
        {1, 1, 1, 1, 2, 1, 1, {3, 4, 7, 0}, {1, 1}},
        /* kernel as large as the padded input: one output per plane */
        {2, 2, 6, 5, 2, 8, 7, {1, 1, 1, 1}, {1, 1}},
        /* padding larger than the kernel */
        {1, 1, 3, 3, 1, 2, 2, {5, 0, 0, 5}, {1, 1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(ctx, &cases[i], 30 + (uint32_t)i);
}

/* Zero channels: an empty sum writes zeros; zero batch or outputs write nothing. */
static void test_empty(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    conv_case cc = {2, 0, 4, 5, 3, 3, 3, {1, 1, 1, 1}, {1, 1}};
    clg_conv_geometry g = geometry_of(&cc);
    int64_t xs[4] = {2, 0, 4, 5}, ws[4] = {3, 0, 3, 3}, os[4] = {2, 3, 4, 5};
    clg_tensor *x = clg_tensor_empty(ctx, CLG_FLOAT32, 4, xs);
    clg_tensor *w = clg_tensor_empty(ctx, CLG_FLOAT32, 4, ws);
    clg_tensor *out = clg_tensor_full(ctx, CLG_FLOAT32, 4, os, 7.0);
    assert_true(x && w && out);
    assert_int_equal(clg_conv2d_fft_forward(x, w, &g, out, "test_conv_fft"), CLG_OK);
    float h[120];
    assert_int_equal(clg_tensor_to_host(out, h, sizeof h), CLG_OK);
    for (int i = 0; i < 120; i++) assert_true(h[i] == 0.0f);
    clg_tensor_free(x);
    clg_tensor_free(w);
    clg_tensor_free(out);

    conv_case cn = {0, 2, 4, 5, 3, 3, 3, {1, 1, 1, 1}, {1, 1}};
    g = geometry_of(&cn);
    int64_t xs0[4] = {0, 2, 4, 5}, ws0[4] = {3, 2, 3, 3}, os0[4] = {0, 3, 4, 5};
    x = clg_tensor_empty(ctx, CLG_FLOAT32, 4, xs0);
    w = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, ws0);
    out = clg_tensor_empty(ctx, CLG_FLOAT32, 4, os0);
    assert_true(x && w && out);
    assert_int_equal(clg_conv2d_fft_forward(x, w, &g, out, "test_conv_fft"), CLG_OK);
    clg_tensor_free(x);
    clg_tensor_free(w);
    clg_tensor_free(out);
}

/* A second call with the same shape makes no plan; a new batch makes new ones. */
static void test_plan_cache(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    conv_case cc = {1, 3, 6, 5, 3, 3, 3, {1, 1, 1, 1}, {1, 1}};
    run_case(ctx, &cc, 50);
    size_t after_first = clg_conv_fft_plan_count(ctx);
    assert_true(after_first >= 2);
    run_case(ctx, &cc, 51);
    assert_int_equal(clg_conv_fft_plan_count(ctx), after_first);
    cc.n = 5; /* same FFT size, batches (24 and 15 planes) not used before: one new plan each way */
    run_case(ctx, &cc, 52);
    assert_int_equal(clg_conv_fft_plan_count(ctx), after_first + 2);
}

/* A captured FFT convolution replays on the input written after the capture. */
static void test_capture_replay(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    conv_case cc = {2, 2, 6, 5, 3, 3, 3, {1, 1, 1, 1}, {1, 1}}; /* plans made above */
    clg_conv_geometry g = geometry_of(&cc);
    operands ops;
    operands_make(ctx, &g, 60, &ops);
    size_t nx = (size_t)(g.n * g.c * g.h * g.w), no = (size_t)(g.n * g.o * g.oh * g.ow);

    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_status st = clg_conv2d_fft_forward(ops.x, ops.w, &g, ops.out, "test_conv_fft");
    clg_step *step = clg_step_capture_end(ctx);
    if (st != CLG_OK || !step) fail_msg("capture: %s", clg_last_error());
    assert_true(clg_step_get_info(step).commands >= 6); /* 3 pads/products/crop + 2 transforms */

    for (int rep = 0; rep < 2; rep++) {
        clg_test_random_floats(ops.hx, nx, 61 + (uint32_t)rep);
        assert_int_equal(clg_tensor_write(ops.x, ops.hx, nx * sizeof(float)), CLG_OK);
        clg_context_stats before = clg_context_get_stats(ctx);
        assert_int_equal(clg_step_replay(step), CLG_OK);
        clg_context_stats after = clg_context_get_stats(ctx);
        assert_int_equal(after.buffers_created, before.buffers_created);
        assert_int_equal(clg_tensor_to_host(ops.out, ops.hout, no * sizeof(float)), CLG_OK);
        check_output(&g, ops.hout, ops.hx, ops.hw, "replay");
    }
    clg_step_free(step);
    operands_free(&ops);
}

static void test_supports(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    conv_case cc = {1, 2, 6, 6, 2, 3, 3, {0, 0, 0, 0}, {1, 1}};
    clg_conv_geometry g = geometry_of(&cc);
    assert_true(clg_conv_fft_supports(&g));
    clg_conv_geometry s2 = g;
    s2.stride[1] = 2;
    s2.ow = 2;
    assert_false(clg_conv_fft_supports(&s2));
    clg_conv_geometry g2 = g;
    g2.groups = 2;
    assert_false(clg_conv_fft_supports(&g2));

    /* The forward refuses them, naming the api and the shapes. */
    operands ops;
    operands_make(ctx, &g, 70, &ops);
    CLG_EXPECT_ERROR(clg_conv2d_fft_forward(ops.x, ops.w, &s2, ops.out, "clg_conv2d") != CLG_OK,
                     CLG_STATUS_UNSUPPORTED, "clg_conv2d", "stride 1x2", "[1,2,6,6]");
    CLG_EXPECT_ERROR(clg_conv2d_fft_forward(ops.x, ops.w, &g2, ops.out, "clg_conv2d") != CLG_OK,
                     CLG_STATUS_UNSUPPORTED, "clg_conv2d", "groups 2");
    /* An output of the wrong shape. */
    clg_conv_geometry bad = g;
    bad.oh = 5;
    CLG_EXPECT_ERROR(clg_conv2d_fft_forward(ops.x, ops.w, &bad, ops.out, "clg_conv2d") != CLG_OK,
                     CLG_STATUS_SHAPE_MISMATCH, "clg_conv2d", "output", "[1,2,4,4]", "[1,2,5,4]");
    operands_free(&ops);
}

/* Plans belong to their context: two contexts hold plans at once, freeing one
 * leaves the other working, and freeing the last tears clFFT down (set up again
 * by the next context that needs it: the fixture's, in the tests after this). */
static void test_context_lifecycle(void **state) {
    (void)state;
    conv_case cc = {1, 2, 6, 5, 2, 3, 3, {1, 1, 1, 1}, {1, 1}};
    clg_context *a = clg_test_context_in(NULL, 0);
    clg_context *b = clg_test_context_in(NULL, 0);
    run_case(a, &cc, 80);
    run_case(b, &cc, 81);
    assert_int_equal(clg_conv_fft_plan_count(a), 2);
    clg_context_free(a);
    run_case(b, &cc, 82);
    assert_int_equal(clg_conv_fft_plan_count(b), 2);
    clg_context_free(b);
}

/* --- the AUTO choice ------------------------------------------------------------ */

typedef struct fake_measure {
    double im2col_ms, fft_ms;
    int calls_im2col, calls_fft;
    clg_status fail;
} fake_measure;

static clg_status measure_fn(void *user, clg_conv_algo algo, double *ms) {
    fake_measure *m = user;
    if (algo == CLG_CONV_FFT) {
        m->calls_fft++;
        *ms = m->fft_ms;
    } else {
        assert_int_equal(algo, CLG_CONV_IM2COL);
        m->calls_im2col++;
        *ms = m->im2col_ms;
    }
    return m->fail;
}

static void test_choose(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("conv_fft_store");
    clg_context *ctx = clg_test_context_in(dir, 0); /* a store in memory only */
    conv_case c3 = {1, 4, 16, 16, 8, 3, 3, {1, 1, 1, 1}, {1, 1}};
    conv_case c7 = {1, 4, 16, 16, 8, 7, 7, {3, 3, 3, 3}, {1, 1}};
    clg_conv_geometry g3 = geometry_of(&c3), g7 = geometry_of(&c7);
    clg_conv_geometry g7s2 = g7;
    g7s2.stride[0] = g7s2.stride[1] = 2;
    g7s2.oh = g7s2.ow = 8;

    /* No store entry, no measurement: the heuristic (FFT from 7x7 kernels). */
    assert_int_equal(clg_conv_choose(ctx, &g3, NULL, NULL), CLG_CONV_IM2COL);
    assert_int_equal(clg_conv_choose(ctx, &g7, NULL, NULL), CLG_CONV_FFT);
    assert_int_equal(clg_conv_choose(ctx, &g7s2, NULL, NULL), CLG_CONV_IM2COL);

    /* A stored choice wins over the heuristic (the documented key format). */
    const char *key3 = "conv2d.algo.n1.c4.h16.w16.o8.k3x3.s1x1.d1x1.p1,1,1,1.g1";
    assert_int_equal(clg_store_set(ctx, key3, "fft"), CLG_OK);
    fake_measure never = {1, 1, 0, 0, CLG_OK};
    assert_int_equal(clg_conv_choose(ctx, &g3, measure_fn, &never), CLG_CONV_FFT);
    assert_int_equal(never.calls_im2col + never.calls_fft, 0);
    /* ... but never FFT for a shape FFT cannot compute. */
    const char *key_s2 = "conv2d.algo.n1.c4.h16.w16.o8.k7x7.s2x2.d1x1.p3,3,3,3.g1";
    assert_int_equal(clg_store_set(ctx, key_s2, "fft"), CLG_OK);
    assert_int_equal(clg_conv_choose(ctx, &g7s2, measure_fn, &never), CLG_CONV_IM2COL);
    assert_int_equal(never.calls_im2col + never.calls_fft, 0);

    /* During a capture nothing is measured: the heuristic answers. */
    fake_measure m = {5.0, 2.0, 0, 0, CLG_OK}; /* FFT faster, against the heuristic for 3x3 */
    conv_case c5 = {2, 4, 12, 12, 8, 3, 3, {0, 0, 0, 0}, {1, 1}};
    clg_conv_geometry g5 = geometry_of(&c5);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    assert_int_equal(clg_conv_choose(ctx, &g5, measure_fn, &m), CLG_CONV_IM2COL);
    clg_step *step = clg_step_capture_end(ctx);
    clg_step_free(step);
    assert_int_equal(m.calls_im2col + m.calls_fft, 0);

    /* One measurement of each, the winner stored and reused. */
    assert_int_equal(clg_conv_choose(ctx, &g5, measure_fn, &m), CLG_CONV_FFT);
    assert_int_equal(m.calls_im2col, 1);
    assert_int_equal(m.calls_fft, 1);
    char value[32];
    assert_int_equal(clg_store_get(ctx, "conv2d.algo.n2.c4.h12.w12.o8.k3x3.s1x1.d1x1.p0,0,0,0.g1",
                                   value, sizeof value),
                     CLG_OK);
    assert_string_equal(value, "fft");
    assert_int_equal(clg_conv_choose(ctx, &g5, measure_fn, &m), CLG_CONV_FFT);
    assert_int_equal(clg_conv_choose(ctx, &g5, NULL, NULL), CLG_CONV_FFT);
    assert_int_equal(m.calls_im2col + m.calls_fft, 2);

    /* im2col can win a measurement against the heuristic too. */
    fake_measure slow_fft = {1.0, 3.0, 0, 0, CLG_OK};
    assert_int_equal(clg_conv_choose(ctx, &g7, measure_fn, &slow_fft), CLG_CONV_IM2COL);
    assert_int_equal(slow_fft.calls_im2col + slow_fft.calls_fft, 2);
    assert_int_equal(clg_conv_choose(ctx, &g7, NULL, NULL), CLG_CONV_IM2COL);

    /* A failed measurement stores nothing and falls back to the heuristic. */
    conv_case c9 = {1, 1, 20, 20, 1, 9, 9, {0, 0, 0, 0}, {1, 1}};
    clg_conv_geometry g9 = geometry_of(&c9);
    fake_measure broken = {1.0, 3.0, 0, 0, CLG_STATUS_OPENCL_ERROR};
    assert_int_equal(clg_conv_choose(ctx, &g9, measure_fn, &broken), CLG_CONV_FFT);
    assert_int_equal(clg_conv_choose(ctx, &g9, measure_fn, &broken), CLG_CONV_FFT);
    assert_int_equal(broken.calls_im2col, 2); /* measured again: nothing was stored */
    clg_context_free(ctx);

    /* Deterministic mode: the heuristic, whatever was stored or would be measured. */
    clg_context_options o = clg_context_options_default();
    o.cache_dir = dir, o.disk_cache = 0, o.deterministic = 1;
    ctx = clg_context_new(&o);
    assert_non_null(ctx);
    assert_int_equal(clg_store_set(ctx, key3, "fft"), CLG_OK);
    fake_measure fast_fft = {5.0, 1.0, 0, 0, CLG_OK};
    assert_int_equal(clg_conv_choose(ctx, &g3, measure_fn, &fast_fft), CLG_CONV_IM2COL);
    assert_int_equal(clg_conv_choose(ctx, &g5, measure_fn, &fast_fft), CLG_CONV_IM2COL);
    assert_int_equal(clg_conv_choose(ctx, &g7, measure_fn, &fast_fft), CLG_CONV_FFT);
    assert_int_equal(fast_fft.calls_im2col + fast_fft.calls_fft, 0);
    clg_context_free(ctx);
    clg_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_context_lifecycle), /* first: no other context has plans */
        cmocka_unit_test(test_forward_kernel_sizes),
        cmocka_unit_test(test_forward_edges),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_plan_cache),
        cmocka_unit_test(test_capture_replay),
        cmocka_unit_test(test_supports),
        cmocka_unit_test(test_choose),
    };
    return CLG_RUN_GROUP(tests);
}
