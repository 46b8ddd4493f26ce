/* Pooling and upsampling: max and average pooling (VALID, Keras SAME with its
 * asymmetric padding, explicit padding; NCHW and NHWC; batches; strided views),
 * max-pool ties, global pools, nearest and half-pixel bilinear upsampling, the
 * determinism of the gathered gradients, empty and size-1 shapes, bad input.
 *
 * Tolerances: forward |dev - ref| <= 1e-5 + 1e-5 |ref| (max pooling and nearest
 * upsampling are exact; averages and bilinear sums round in float32); gradients
 * 1e-3 + 1e-3 |ref| (float32 device results against float64 central finite
 * differences; inputs are random in [-1, 1], so max-pool near-ties within the
 * step 1e-6 do not occur). */
#include "opcheck.h"

#include <math.h>
#include <stdlib.h>

/* --- host reference ---------------------------------------------------------------- */

/* Row-major index of (n, c, h, w) in a tensor of layout l with extents C, H, W. */
static int64_t hidx(clg_layout l, int64_t C, int64_t H, int64_t W, int64_t n, int64_t c, int64_t h,
                    int64_t w) {
    if (l == CLG_LAYOUT_NHWC) return ((n * H + h) * W + w) * C + c;
    return ((n * C + c) * H + h) * W + w;
}

static void shape_of(clg_layout l, int64_t n, int64_t c, int64_t h, int64_t w, int64_t *out) {
    if (l == CLG_LAYOUT_NHWC) {
        out[0] = n, out[1] = h, out[2] = w, out[3] = c;
    } else {
        out[0] = n, out[1] = c, out[2] = h, out[3] = w;
    }
}

typedef struct pool_case {
    const char *name;
    int is_max;
    clg_layout layout;
    int64_t n, c, h, w;
    int kh, kw, sh, sw;
    clg_padding padding;
    int pad[4];
    int64_t oh, ow; /* expected output extent */
} pool_case;

/* Leading padding along an axis, computed independently of the library. */
static int host_lead(clg_padding p, int64_t in, int k, int s, int explicit_before) {
    if (p == CLG_PADDING_EXPLICIT) return explicit_before;
    if (p == CLG_PADDING_VALID) return 0;
    int64_t out = (in + s - 1) / s;
    int64_t total = (out - 1) * s + k - in;
    return total > 0 ? (int)(total / 2) : 0;
}

static void pool_host(const double *const *in, double *out, const void *params) {
    const pool_case *pc = params;
    int top = host_lead(pc->padding, pc->h, pc->kh, pc->sh, pc->pad[0]);
    int left = host_lead(pc->padding, pc->w, pc->kw, pc->sw, pc->pad[2]);
    for (int64_t n = 0; n < pc->n; n++)
        for (int64_t c = 0; c < pc->c; c++)
            for (int64_t oh = 0; oh < pc->oh; oh++)
                for (int64_t ow = 0; ow < pc->ow; ow++) {
                    double best = -INFINITY, sum = 0;
                    int cnt = 0;
                    for (int kh = 0; kh < pc->kh; kh++)
                        for (int kw = 0; kw < pc->kw; kw++) {
                            int64_t ih = oh * pc->sh - top + kh, iw = ow * pc->sw - left + kw;
                            if (ih < 0 || ih >= pc->h || iw < 0 || iw >= pc->w) continue;
                            double v = in[0][hidx(pc->layout, pc->c, pc->h, pc->w, n, c, ih, iw)];
                            best = v > best ? v : best;
                            sum += v;
                            cnt++;
                        }
                    out[hidx(pc->layout, pc->c, pc->oh, pc->ow, n, c, oh, ow)] = pc->is_max ? best : sum / cnt;
                }
}

static clg_pool2d_params params_of(const pool_case *pc) {
    clg_pool2d_params p = clg_pool2d_params_default(pc->kh, pc->kw);
    p.stride[0] = pc->sh;
    p.stride[1] = pc->sw;
    p.padding = pc->padding;
    for (int i = 0; i < 4; i++) p.pad[i] = pc->pad[i];
    p.layout = pc->layout;
    return p;
}

static clg_tensor *pool_dev(clg_tensor *const *in, const void *params) {
    const pool_case *pc = params;
    clg_pool2d_params p = params_of(pc);
    return pc->is_max ? clg_max_pool2d(in[0], &p) : clg_avg_pool2d(in[0], &p);
}

static void run_pool_case(clg_context *ctx, const pool_case *pc, uint32_t seed) {
    int64_t ishape[4], oshape[4];
    shape_of(pc->layout, pc->n, pc->c, pc->h, pc->w, ishape);
    shape_of(pc->layout, pc->n, pc->c, pc->oh, pc->ow, oshape);
    opcheck_spec s = opcheck_defaults(pc->name, 1, pool_dev, pool_host);
    opcheck_input(&s, 0, 4, ishape, -1, 1);
    opcheck_output(&s, 4, oshape);
    s.params = pc;
    s.strided_views = 1;
    s.seed = seed;
    opcheck_run(ctx, &s);
}

#define NCHW CLG_LAYOUT_NCHW
#define NHWC CLG_LAYOUT_NHWC
#define VALID CLG_PADDING_VALID
#define SAME CLG_PADDING_SAME
#define EXPL CLG_PADDING_EXPLICIT

/* Every case once as max and once as average pooling. */
static const pool_case pool_cases[] = {
    /* The seed CNN's 2x2 stride 2, batch 2; odd W drops the last column. */
    {"2x2 s2 valid", 0, NCHW, 2, 3, 4, 7, 2, 2, 2, 2, VALID, {0}, 2, 3},
    /* 3x3 stride 1 SAME: symmetric padding 1. */
    {"3x3 s1 same", 0, NCHW, 1, 2, 5, 5, 3, 3, 1, 1, SAME, {0}, 5, 5},
    /* 3x3 stride 2 SAME: H 5 pads 1,1; W 6 pads 0,1 (the odd extra goes after). */
    {"3x3 s2 same", 0, NCHW, 2, 2, 5, 6, 3, 3, 2, 2, SAME, {0}, 3, 3},
    /* 2x2 stride 1 SAME on odd sizes: pads 0,1. 4x4 stride 3 on 7: pads 1,2. */
    {"2x2 s1 same", 0, NCHW, 1, 1, 5, 3, 2, 2, 1, 1, SAME, {0}, 5, 3},
    {"4x4 s3 same", 0, NCHW, 1, 2, 7, 7, 4, 4, 3, 3, SAME, {0}, 3, 3},
    /* Explicit top 1, bottom 0, left 1, right 1; non-square kernel and stride. */
    {"explicit", 0, NCHW, 2, 2, 5, 4, 3, 2, 2, 1, EXPL, {1, 0, 1, 1}, 2, 5},
    /* NHWC (Keras): [N,H,W,C]. */
    {"nhwc 2x2 s2", 0, NHWC, 2, 3, 4, 6, 2, 2, 2, 2, VALID, {0}, 2, 3},
    {"nhwc 3x3 s2 same", 0, NHWC, 2, 3, 5, 6, 3, 3, 2, 2, SAME, {0}, 3, 3},
    /* Size 1: a 1x1 input and a 1x1 kernel. */
    {"1x1", 0, NCHW, 1, 1, 1, 1, 1, 1, 1, 1, VALID, {0}, 1, 1},
};

static void test_pool_opcheck(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    for (size_t i = 0; i < sizeof pool_cases / sizeof *pool_cases; i++)
        for (int is_max = 0; is_max < 2; is_max++) {
            pool_case pc = pool_cases[i];
            pc.is_max = is_max;
            char name[96];
            snprintf(name, sizeof name, "%s %s", is_max ? "max_pool2d" : "avg_pool2d", pc.name);
            pc.name = name;
            run_pool_case(ctx, &pc, 300u + 2u * (uint32_t)i + (uint32_t)is_max);
        }
}

/* Empty batch and empty channels give empty results of the right shape; a
 * backward through them gives empty gradients. */
static void test_pool_empty(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t shapes[2][4] = {{0, 2, 4, 4}, {1, 0, 4, 4}};
    for (int i = 0; i < 2; i++) {
        clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, shapes[i]);
        assert_non_null(x);
        assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
        clg_pool2d_params p = clg_pool2d_params_default(2, 2);
        clg_tensor *ys[3] = {clg_max_pool2d(x, &p), clg_avg_pool2d(x, &p),
                             clg_upsample2d(x, 2, 2, CLG_UPSAMPLE_BILINEAR, CLG_LAYOUT_NCHW)};
        for (int k = 0; k < 3; k++) {
            assert_non_null(ys[k]);
            const int64_t *sh = clg_tensor_shape(ys[k]);
            assert_int_equal(sh[0], shapes[i][0]);
            assert_int_equal(sh[1], shapes[i][1]);
            assert_int_equal(sh[2], k == 2 ? 8 : 2);
            clg_tensor *seed = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, sh);
            assert_int_equal(clg_backward(ys[k], seed), CLG_OK);
            assert_int_equal(clg_tensor_numel(clg_tensor_grad(x)), 0);
            clg_tensor_free(seed);
            clg_tensor_free(ys[k]);
        }
        clg_tensor_free(x);
    }
}

/* --- ties ----------------------------------------------------------------------------- */

/* Expected max-pool gradient with the first maximum of each window (row-major)
 * taking the window's gradient. NCHW, one plane. */
static void tie_reference(const float *x, int64_t H, int64_t W, const pool_case *pc, const float *g,
                          double *gx) {
    int top = host_lead(pc->padding, H, pc->kh, pc->sh, pc->pad[0]);
    int left = host_lead(pc->padding, W, pc->kw, pc->sw, pc->pad[2]);
    for (int64_t i = 0; i < H * W; i++) gx[i] = 0;
    for (int64_t oh = 0; oh < pc->oh; oh++)
        for (int64_t ow = 0; ow < pc->ow; ow++) {
            int64_t at = -1;
            for (int kh = 0; kh < pc->kh; kh++)
                for (int kw = 0; kw < pc->kw; kw++) {
                    int64_t ih = oh * pc->sh - top + kh, iw = ow * pc->sw - left + kw;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                    if (at < 0 || x[ih * W + iw] > x[at]) at = ih * W + iw;
                }
            gx[at] += g[oh * pc->ow + ow];
        }
}

static void test_max_pool_ties(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* Plane 1: all equal. Plane 2: 2x2 blocks of equal values, growing by block,
     * so overlapping windows see ties away from their first position. */
    float planes[2][36];
    for (int i = 0; i < 36; i++) {
        planes[0][i] = 0.5f;
        int r = i / 6, c = i % 6;
        planes[1][i] = (float)((r / 2) * 3 + (c / 2));
    }
    const pool_case cases[] = {
        {"ties 2x2 s2", 1, NCHW, 1, 1, 6, 6, 2, 2, 2, 2, VALID, {0}, 3, 3},
        {"ties 3x3 s1 same", 1, NCHW, 1, 1, 6, 6, 3, 3, 1, 1, SAME, {0}, 6, 6},
        {"ties 3x3 s2 same", 1, NCHW, 1, 1, 6, 6, 3, 3, 2, 2, SAME, {0}, 3, 3},
    };
    for (int pl = 0; pl < 2; pl++)
        for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
            const pool_case *pc = &cases[ci];
            clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){1, 1, 6, 6}, planes[pl]);
            assert_non_null(x);
            assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
            clg_pool2d_params p = params_of(pc);
            clg_tensor *y = clg_max_pool2d(x, &p);
            assert_non_null(y);
            int64_t no = pc->oh * pc->ow;
            float g[36], got[36];
            double want[36], ref[36], xin[36];
            for (int64_t k = 0; k < no; k++) g[k] = (float)(k + 1); /* distinct, exact sums */
            clg_tensor *seed = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){1, 1, pc->oh, pc->ow}, g);
            assert_int_equal(clg_backward(y, seed), CLG_OK);
            assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), got, sizeof got), CLG_OK);
            tie_reference(planes[pl], 6, 6, pc, g, want);
            for (int i = 0; i < 36; i++)
                if (got[i] != (float)want[i])
                    fail_msg("%s plane %d: gradient [%d] is %g, expected %g", pc->name, pl, i, (double)got[i], want[i]);
            /* Forward values too. */
            for (int i = 0; i < 36; i++) xin[i] = planes[pl][i];
            const double *hin[1] = {xin};
            pool_host(hin, ref, pc);
            assert_int_equal(clg_tensor_to_host(y, got, (size_t)no * sizeof(float)), CLG_OK);
            for (int64_t k = 0; k < no; k++) assert_true(got[k] == (float)ref[k]);
            clg_tensor_free(seed);
            clg_tensor_free(y);
            clg_tensor_free(x);
        }
}

/* Backward twice on the same overlapping pools gives bit-identical gradients. */
static void test_pool_gradient_determinism(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t shape[4] = {2, 3, 9, 9};
    enum { NX = 2 * 3 * 9 * 9 };
    float *h = malloc(NX * sizeof(float)), *g = malloc(NX * sizeof(float));
    float *r[2] = {malloc(NX * sizeof(float)), malloc(NX * sizeof(float))};
    clg_test_random_floats(h, NX, 77);
    clg_test_random_floats(g, NX, 78);
    for (int is_max = 0; is_max < 2; is_max++) {
        for (int rep = 0; rep < 2; rep++) {
            clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, shape, h);
            assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
            clg_pool2d_params p = clg_pool2d_params_default(3, 3);
            p.stride[0] = p.stride[1] = 1;
            p.padding = CLG_PADDING_SAME;
            clg_tensor *y = is_max ? clg_max_pool2d(x, &p) : clg_avg_pool2d(x, &p);
            assert_non_null(y);
            clg_tensor *seed = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, shape, g);
            assert_int_equal(clg_backward(y, seed), CLG_OK);
            assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), r[rep], NX * sizeof(float)), CLG_OK);
            clg_tensor_free(seed);
            clg_tensor_free(y);
            clg_tensor_free(x);
        }
        assert_memory_equal(r[0], r[1], NX * sizeof(float));
    }
    free(h);
    free(g);
    free(r[0]);
    free(r[1]);
}

/* --- global pooling ------------------------------------------------------------------- */

typedef struct global_case {
    int is_max;
    clg_layout layout;
    int64_t n, c, h, w;
} global_case;

static void global_host(const double *const *in, double *out, const void *params) {
    const global_case *gc = params;
    for (int64_t n = 0; n < gc->n; n++)
        for (int64_t c = 0; c < gc->c; c++) {
            double best = -INFINITY, sum = 0;
            for (int64_t h = 0; h < gc->h; h++)
                for (int64_t w = 0; w < gc->w; w++) {
                    double v = in[0][hidx(gc->layout, gc->c, gc->h, gc->w, n, c, h, w)];
                    best = v > best ? v : best;
                    sum += v;
                }
            out[n * gc->c + c] = gc->is_max ? best : sum / (double)(gc->h * gc->w);
        }
}

static clg_tensor *global_dev(clg_tensor *const *in, const void *params) {
    const global_case *gc = params;
    return gc->is_max ? clg_global_max_pool2d(in[0], gc->layout) : clg_global_avg_pool2d(in[0], gc->layout);
}

static void test_global_pool_opcheck(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    for (int is_max = 0; is_max < 2; is_max++)
        for (int l = 0; l < 2; l++) {
            global_case gc = {is_max, (clg_layout)l, 2, 3, 4, 5};
            int64_t ishape[4], oshape[2] = {2, 3};
            shape_of(gc.layout, gc.n, gc.c, gc.h, gc.w, ishape);
            opcheck_spec s = opcheck_defaults(is_max ? "global_max_pool2d" : "global_avg_pool2d", 1,
                                              global_dev, global_host);
            opcheck_input(&s, 0, 4, ishape, -1, 1);
            opcheck_output(&s, 2, oshape);
            s.params = &gc;
            s.strided_views = 1;
            s.seed = 500u + 2u * (uint32_t)is_max + (uint32_t)l;
            opcheck_run(ctx, &s);
        }
}

/* --- upsampling ----------------------------------------------------------------------- */

typedef struct up_case {
    clg_upsample_mode mode;
    clg_layout layout;
    int64_t n, c, h, w;
    int sh, sw;
} up_case;

/* Half-pixel source position along an axis: neighbours and the weight of the
 * upper one (TensorFlow resize_bilinear with half_pixel_centers). */
static void host_half_pixel(int64_t o, int scale, int64_t extent, int64_t *lo, int64_t *hi, double *f) {
    double src = (o + 0.5) / scale - 0.5;
    if (src < 0) src = 0;
    if (src > extent - 1) src = (double)(extent - 1);
    *lo = (int64_t)floor(src);
    *hi = *lo + 1 < extent ? *lo + 1 : extent - 1;
    *f = src - (double)*lo;
}

static void up_host(const double *const *in, double *out, const void *params) {
    const up_case *uc = params;
    int64_t OH = uc->h * uc->sh, OW = uc->w * uc->sw;
    for (int64_t n = 0; n < uc->n; n++)
        for (int64_t c = 0; c < uc->c; c++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double v;
#define X_(r_, c_) in[0][hidx(uc->layout, uc->c, uc->h, uc->w, n, c, (r_), (c_))]
                    if (uc->mode == CLG_UPSAMPLE_NEAREST) {
                        v = X_(oh / uc->sh, ow / uc->sw);
                    } else {
                        int64_t h0, h1, w0, w1;
                        double fh, fw;
                        host_half_pixel(oh, uc->sh, uc->h, &h0, &h1, &fh);
                        host_half_pixel(ow, uc->sw, uc->w, &w0, &w1, &fw);
                        v = (1 - fh) * ((1 - fw) * X_(h0, w0) + fw * X_(h0, w1)) +
                            fh * ((1 - fw) * X_(h1, w0) + fw * X_(h1, w1));
                    }
#undef X_
                    out[hidx(uc->layout, uc->c, OH, OW, n, c, oh, ow)] = v;
                }
}

static clg_tensor *up_dev(clg_tensor *const *in, const void *params) {
    const up_case *uc = params;
    return clg_upsample2d(in[0], uc->sh, uc->sw, uc->mode, uc->layout);
}

static void test_upsample_opcheck(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const up_case cases[] = {
        {CLG_UPSAMPLE_NEAREST, NCHW, 2, 2, 3, 4, 2, 2},  {CLG_UPSAMPLE_NEAREST, NCHW, 1, 2, 3, 2, 3, 3},
        {CLG_UPSAMPLE_NEAREST, NHWC, 2, 3, 2, 3, 2, 3},  {CLG_UPSAMPLE_BILINEAR, NCHW, 2, 2, 3, 4, 2, 2},
        {CLG_UPSAMPLE_BILINEAR, NCHW, 1, 2, 4, 3, 3, 3}, {CLG_UPSAMPLE_BILINEAR, NHWC, 2, 3, 3, 2, 3, 2},
        {CLG_UPSAMPLE_BILINEAR, NCHW, 1, 1, 1, 1, 3, 2}, /* a single pixel stays constant */
        {CLG_UPSAMPLE_NEAREST, NCHW, 1, 1, 2, 2, 1, 1},  /* scale 1: a copy */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const up_case *uc = &cases[i];
        int64_t ishape[4], oshape[4];
        shape_of(uc->layout, uc->n, uc->c, uc->h, uc->w, ishape);
        shape_of(uc->layout, uc->n, uc->c, uc->h * uc->sh, uc->w * uc->sw, oshape);
        char name[64];
        snprintf(name, sizeof name, "upsample2d %s %dx%d case %zu",
                 uc->mode == CLG_UPSAMPLE_NEAREST ? "nearest" : "bilinear", uc->sh, uc->sw, i);
        opcheck_spec s = opcheck_defaults(name, 1, up_dev, up_host);
        opcheck_input(&s, 0, 4, ishape, -1, 1);
        opcheck_output(&s, 4, oshape);
        s.params = uc;
        s.strided_views = 1;
        s.seed = 600u + (uint32_t)i;
        opcheck_run(ctx, &s);
    }
}

/* Known values: TF's tf.image.resize(bilinear) of [[0, 1]] to width 4 gives
 * 0, 0.25, 0.75, 1 (half-pixel centres, clamped at the borders). */
static void test_upsample_bilinear_known_values(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){1, 1, 1, 2}, (float[]){0, 1});
    clg_tensor *y = clg_upsample2d(x, 1, 2, CLG_UPSAMPLE_BILINEAR, CLG_LAYOUT_NCHW);
    assert_non_null(y);
    float got[4];
    assert_int_equal(clg_tensor_to_host(y, got, sizeof got), CLG_OK);
    const float want[4] = {0, 0.25f, 0.75f, 1};
    for (int i = 0; i < 4; i++) assert_true(fabsf(got[i] - want[i]) <= 1e-6f);
    clg_tensor_free(y);
    clg_tensor_free(x);
}

/* --- bad input -------------------------------------------------------------------------- */

static void test_bad_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){1, 2, 4, 4});
    clg_tensor *r3 = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, (int64_t[]){2, 4, 4});
    clg_tensor *xi = clg_tensor_zeros(ctx, CLG_INT32, 4, (int64_t[]){1, 2, 4, 4});
    const clg_status E = CLG_STATUS_INVALID_ARGUMENT;
    clg_tensor *(*pools[2])(const clg_tensor *, const clg_pool2d_params *) = {clg_max_pool2d, clg_avg_pool2d};
    const char *names[2] = {"clg_max_pool2d", "clg_avg_pool2d"};
    for (int i = 0; i < 2; i++) {
        clg_pool2d_params p = clg_pool2d_params_default(2, 2);
        CLG_EXPECT_ERROR(pools[i](NULL, &p) == NULL, E, names[i], "NULL");
        CLG_EXPECT_ERROR(pools[i](x, NULL) == NULL, E, names[i], "params");
        CLG_EXPECT_ERROR(pools[i](r3, &p) == NULL, E, names[i], "[2,4,4]", "rank 3");
        CLG_EXPECT_ERROR(pools[i](xi, &p) == NULL, E, names[i], "[1,2,4,4]", "int32");
        p.kernel[1] = 0;
        CLG_EXPECT_ERROR(pools[i](x, &p) == NULL, E, names[i], "kernel 2x0", "[1,2,4,4]");
        p = clg_pool2d_params_default(2, 2);
        p.stride[0] = -1;
        CLG_EXPECT_ERROR(pools[i](x, &p) == NULL, E, names[i], "stride -1x2", "[1,2,4,4]");
        p = clg_pool2d_params_default(2, 2);
        p.padding = CLG_PADDING_EXPLICIT;
        p.pad[2] = -1;
        CLG_EXPECT_ERROR(pools[i](x, &p) == NULL, E, names[i], "padding 0,0,-1,0", "[1,2,4,4]");
        p = clg_pool2d_params_default(5, 2);
        CLG_EXPECT_ERROR(pools[i](x, &p) == NULL, E, names[i], "kernel H 5", "padded input H 4", "[1,2,4,4]");
        p.padding = CLG_PADDING_EXPLICIT; /* 4 + 1 padded rows hold the 5x2 kernel */
        p.pad[0] = 1;
        clg_tensor *ok = pools[i](x, &p);
        assert_non_null(ok);
        clg_tensor_free(ok);
        p = clg_pool2d_params_default(2, 2);
        p.padding = CLG_PADDING_EXPLICIT;
        p.pad[3] = 2; /* the last window (columns 4, 5) lies in the padding */
        CLG_EXPECT_ERROR(pools[i](x, &p) == NULL, E, names[i], "entirely in the padding", "[1,2,4,4]");
        p = clg_pool2d_params_default(2, 2);
        p.padding = (clg_padding)7;
        CLG_EXPECT_ERROR(pools[i](x, &p) == NULL, E, names[i], "padding 7");
        p = clg_pool2d_params_default(2, 2);
        p.layout = (clg_layout)5;
        CLG_EXPECT_ERROR(pools[i](x, &p) == NULL, E, names[i], "layout 5");
    }
    clg_tensor *(*globals[2])(const clg_tensor *, clg_layout) = {clg_global_avg_pool2d, clg_global_max_pool2d};
    const char *gnames[2] = {"clg_global_avg_pool2d", "clg_global_max_pool2d"};
    for (int i = 0; i < 2; i++) {
        CLG_EXPECT_ERROR(globals[i](NULL, NCHW) == NULL, E, gnames[i], "NULL");
        CLG_EXPECT_ERROR(globals[i](r3, NHWC) == NULL, E, gnames[i], "[2,4,4]", "rank 3");
        CLG_EXPECT_ERROR(globals[i](xi, NCHW) == NULL, E, gnames[i], "[1,2,4,4]", "int32");
        CLG_EXPECT_ERROR(globals[i](x, (clg_layout)3) == NULL, E, gnames[i], "layout 3");
    }
    clg_tensor *empty = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){1, 2, 0, 3});
    CLG_EXPECT_ERROR(clg_global_max_pool2d(empty, NCHW) == NULL, E, "clg_global_max_pool2d", "[1,2,0,3]");
    const char *u = "clg_upsample2d";
    CLG_EXPECT_ERROR(clg_upsample2d(NULL, 2, 2, CLG_UPSAMPLE_NEAREST, NCHW) == NULL, E, u, "NULL");
    CLG_EXPECT_ERROR(clg_upsample2d(r3, 2, 2, CLG_UPSAMPLE_NEAREST, NCHW) == NULL, E, u, "[2,4,4]", "rank 3");
    CLG_EXPECT_ERROR(clg_upsample2d(xi, 2, 2, CLG_UPSAMPLE_BILINEAR, NCHW) == NULL, E, u, "[1,2,4,4]", "int32");
    CLG_EXPECT_ERROR(clg_upsample2d(x, 0, 2, CLG_UPSAMPLE_NEAREST, NCHW) == NULL, E, u, "scale 0x2", "[1,2,4,4]");
    CLG_EXPECT_ERROR(clg_upsample2d(x, 2, -3, CLG_UPSAMPLE_BILINEAR, NHWC) == NULL, E, u, "scale 2x-3", "[1,2,4,4]");
    CLG_EXPECT_ERROR(clg_upsample2d(x, 2, 2, (clg_upsample_mode)9, NCHW) == NULL, E, u, "mode 9");
    CLG_EXPECT_ERROR(clg_upsample2d(x, 2, 2, CLG_UPSAMPLE_NEAREST, (clg_layout)2) == NULL, E, u, "layout 2");
    clg_tensor_free(empty);
    clg_tensor_free(x);
    clg_tensor_free(r3);
    clg_tensor_free(xi);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_opcheck),
        cmocka_unit_test(test_pool_empty),
        cmocka_unit_test(test_max_pool_ties),
        cmocka_unit_test(test_pool_gradient_determinism),
        cmocka_unit_test(test_global_pool_opcheck),
        cmocka_unit_test(test_upsample_opcheck),
        cmocka_unit_test(test_upsample_bilinear_known_values),
        cmocka_unit_test(test_bad_input),
    };
    return CLG_RUN_GROUP(tests);
}
