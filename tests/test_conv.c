/* Convolution: conv2d forward against a naive host convolution in double over a
 * table of shapes (batch, odd sizes, VALID / SAME with asymmetric padding /
 * EXPLICIT asymmetric, strides 1-3, dilation 1-2, groups 1, 2 and depthwise,
 * kernels 1x1 to 7x7, bias, NHWC), gradients of x, w and b by finite
 * differences, conv1d, conv2d_transpose against the scatter form, determinism of
 * the data gradient, a captured step, fusion of bias + activation, and bad input.
 *
 * Tolerances: forward |dev - ref| <= 1e-4 + 1e-4 |ref| (float32 sums of up to a
 * few hundred products against double); gradients 1e-3 + 1e-3 |ref| (opcheck's
 * default: float32 device against float64 central differences). */
#include "opcheck.h"

#include <math.h>
#include <stdlib.h>

#include "ops/gemm_cpu.h"

#define FWD_TOL 1e-4
#define GRAD_TOL 1e-3

enum { VALID = CLG_PADDING_VALID, SAME = CLG_PADDING_SAME, EXPL = CLG_PADDING_EXPLICIT };

typedef struct conv_case {
    int n, c, h, w, o, kh, kw;
    int sh, sw, dh, dw;
    int padding;
    int pad[4];
    int groups;
    int bias;
    int nhwc;
    /* filled in by setup */
    int one_d;
    int64_t oh, ow;
    int pt, pl;
} conv_case;
/* A table row: the given fields, the derived ones zero. */
#define CC(...) {__VA_ARGS__, 0, 0, 0, 0, 0}

/* --- host reference ------------------------------------------------------------------ */

static void host_same(int64_t in, int s, int d, int k, int64_t *out, int *before) {
    *out = (in + s - 1) / s;
    int64_t total = (*out - 1) * s + (int64_t)(k - 1) * d + 1 - in;
    if (total < 0) total = 0;
    *before = (int)(total / 2);
}

static void conv_setup(conv_case *c) {
    int64_t ekh = (int64_t)(c->kh - 1) * c->dh + 1, ekw = (int64_t)(c->kw - 1) * c->dw + 1;
    if (c->padding == SAME) {
        host_same(c->h, c->sh, c->dh, c->kh, &c->oh, &c->pt);
        host_same(c->w, c->sw, c->dw, c->kw, &c->ow, &c->pl);
    } else {
        int pt = 0, pb = 0, pl = 0, pr = 0;
        if (c->padding == EXPL) {
            pt = c->pad[0];
            pb = c->pad[1];
            pl = c->pad[2];
            pr = c->pad[3];
        }
        c->pt = pt;
        c->pl = pl;
        c->oh = (c->h + pt + pb - ekh) / c->sh + 1;
        c->ow = (c->w + pl + pr - ekw) / c->sw + 1;
    }
}

static int64_t xidx(const conv_case *c, int64_t n, int64_t ch, int64_t h, int64_t w, int64_t C,
                    int64_t H, int64_t W) {
    return c->nhwc ? ((n * H + h) * W + w) * C + ch : ((n * C + ch) * H + h) * W + w;
}

/* in[0] x, in[1] w, in[2] b (when the case has one). */
static void host_conv(const double *const *in, double *out, const void *p) {
    const conv_case *c = p;
    int64_t cg = c->c / c->groups, og = c->o / c->groups;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->o; o++)
            for (int64_t oh = 0; oh < c->oh; oh++)
                for (int64_t ow = 0; ow < c->ow; ow++) {
                    double s = c->bias ? in[2][o] : 0.0;
                    int64_t g = o / og;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t kh = 0; kh < c->kh; kh++)
                            for (int64_t kw = 0; kw < c->kw; kw++) {
                                int64_t h = oh * c->sh - c->pt + kh * c->dh;
                                int64_t w = ow * c->sw - c->pl + kw * c->dw;
                                if (h < 0 || h >= c->h || w < 0 || w >= c->w) continue;
                                s += in[0][xidx(c, n, g * cg + ci, h, w, c->c, c->h, c->w)] *
                                     in[1][((o * cg + ci) * c->kh + kh) * c->kw + kw];
                            }
                    out[xidx(c, n, o, oh, ow, c->o, c->oh, c->ow)] = s;
                }
}

/* The algorithm the table's cases run with: im2col, forced, so that results do
 * not depend on what AUTO measured on this machine; the FFT test switches it. */
static clg_conv_algo case_algo = CLG_CONV_IM2COL;

static clg_conv2d_params case_params(const conv_case *c) {
    clg_conv2d_params p = clg_conv2d_params_default();
    p.algo = case_algo;
    p.stride[0] = c->sh;
    p.stride[1] = c->sw;
    p.dilation[0] = c->dh;
    p.dilation[1] = c->dw;
    p.padding = (clg_padding)c->padding;
    memcpy(p.pad, c->pad, sizeof p.pad);
    p.groups = c->groups;
    p.layout = c->nhwc ? CLG_LAYOUT_NHWC : CLG_LAYOUT_NCHW;
    return p;
}

static clg_tensor *dev_conv(clg_tensor *const *in, const void *pp) {
    const conv_case *c = pp;
    clg_conv2d_params p = case_params(c);
    const clg_tensor *b = c->bias ? in[2] : NULL;
    return c->one_d ? clg_conv1d(in[0], in[1], b, &p) : clg_conv2d(in[0], in[1], b, &p);
}

static opcheck_spec conv_spec(conv_case *c, const char *name, int grad) {
    conv_setup(c);
    opcheck_spec s = opcheck_defaults(name, c->bias ? 3 : 2, dev_conv, host_conv);
    if (c->one_d) {
        int64_t xs[3] = {c->n, c->nhwc ? c->w : c->c, c->nhwc ? c->c : c->w};
        int64_t ys[3] = {c->n, c->nhwc ? c->ow : c->o, c->nhwc ? c->o : c->ow};
        opcheck_input(&s, 0, 3, xs, -1, 1);
        opcheck_input(&s, 1, 3, (int64_t[]){c->o, c->c / c->groups, c->kw}, -1, 1);
        opcheck_output(&s, 3, ys);
    } else {
        int64_t xs[4] = {c->n, c->c, c->h, c->w}, ys[4] = {c->n, c->o, c->oh, c->ow};
        if (c->nhwc) {
            int64_t xn[4] = {c->n, c->h, c->w, c->c}, yn[4] = {c->n, c->oh, c->ow, c->o};
            memcpy(xs, xn, sizeof xs);
            memcpy(ys, yn, sizeof ys);
        }
        opcheck_input(&s, 0, 4, xs, -1, 1);
        opcheck_input(&s, 1, 4, (int64_t[]){c->o, c->c / c->groups, c->kh, c->kw}, -1, 1);
        opcheck_output(&s, 4, ys);
    }
    if (c->bias) opcheck_input(&s, 2, 1, (int64_t[]){c->o}, -1, 1);
    s.params = c;
    s.fwd_atol = s.fwd_rtol = FWD_TOL;
    s.grad_atol = s.grad_rtol = GRAD_TOL;
    s.check_grad = grad;
    return s;
}

/* n c h w o kh kw | sh sw dh dw | padding pad[4] | groups bias nhwc */
static conv_case cases[] = {
    CC(1, 1, 5, 5, 1, 1, 1, 1, 1, 1, 1, VALID, {0}, 1, 0, 0),               /* 0: 1x1 */
    CC(2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, VALID, {0}, 1, 1, 0),               /* 1 */
    CC(1, 2, 9, 9, 3, 3, 3, 1, 1, 1, 1, SAME, {0}, 1, 1, 0),                /* 2 */
    CC(1, 2, 8, 6, 3, 3, 3, 2, 2, 1, 1, SAME, {0}, 1, 0, 0),                /* 3: asymmetric same */
    CC(1, 3, 9, 9, 2, 5, 5, 1, 1, 1, 1, SAME, {0}, 1, 0, 0),                /* 4: 5x5 */
    CC(2, 2, 9, 7, 2, 7, 7, 1, 1, 1, 1, SAME, {0}, 1, 1, 0),                /* 5: 7x7 */
    CC(1, 2, 9, 9, 2, 7, 7, 1, 1, 1, 1, VALID, {0}, 1, 0, 0),               /* 6 */
    CC(1, 2, 7, 7, 2, 3, 3, 1, 1, 2, 2, VALID, {0}, 1, 0, 0),               /* 7: dilation */
    CC(2, 2, 9, 7, 3, 3, 3, 1, 1, 2, 2, SAME, {0}, 1, 1, 0),                /* 8 */
    CC(1, 2, 9, 8, 2, 3, 3, 2, 2, 2, 1, SAME, {0}, 1, 0, 0),                /* 9: strided, dilated */
    CC(1, 3, 7, 5, 2, 3, 3, 3, 3, 1, 1, VALID, {0}, 1, 0, 0),               /* 10: stride 3 */
    CC(2, 2, 9, 9, 2, 3, 3, 3, 2, 1, 1, EXPL, {1, 2, 0, 1}, 1, 0, 0),       /* 11 */
    CC(1, 2, 5, 7, 3, 3, 5, 1, 1, 1, 1, EXPL, {0, 1, 2, 1}, 1, 1, 0),       /* 12 */
    CC(1, 4, 7, 5, 4, 3, 3, 1, 1, 1, 1, VALID, {0}, 2, 0, 0),               /* 13: groups 2 */
    CC(2, 4, 6, 6, 6, 3, 3, 2, 2, 1, 1, SAME, {0}, 2, 1, 0),                /* 14 */
    CC(1, 3, 7, 7, 3, 3, 3, 1, 1, 1, 1, SAME, {0}, 3, 0, 0),                /* 15: depthwise */
    CC(2, 4, 9, 9, 8, 5, 5, 2, 2, 1, 1, SAME, {0}, 4, 1, 0),                /* 16: depthwise x2 */
    CC(1, 4, 9, 7, 4, 3, 3, 1, 1, 2, 2, EXPL, {2, 2, 2, 2}, 4, 0, 0),       /* 17 */
    CC(2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, SAME, {0}, 1, 1, 1),                /* 18: NHWC */
    CC(1, 4, 8, 6, 4, 3, 3, 2, 2, 1, 1, SAME, {0}, 2, 0, 1),                /* 19: NHWC groups */
    CC(1, 2, 7, 7, 3, 1, 1, 2, 2, 1, 1, VALID, {0}, 1, 1, 0),               /* 20: 1x1 strided */
    CC(1, 3, 5, 5, 2, 5, 5, 1, 1, 1, 1, VALID, {0}, 1, 0, 0),               /* 21: 1x1 output */
    CC(2, 1, 9, 9, 1, 7, 7, 3, 3, 1, 1, SAME, {0}, 1, 0, 0),                /* 22 */
    CC(1, 2, 3, 3, 2, 3, 3, 1, 1, 1, 1, EXPL, {1, 1, 1, 1}, 2, 0, 0),       /* 23 */
    CC(1, 6, 5, 5, 3, 3, 1, 1, 1, 1, 1, VALID, {0}, 3, 0, 0),               /* 24: 3x1 */
    CC(2, 2, 7, 9, 2, 3, 3, 1, 2, 1, 1, EXPL, {0, 0, 1, 0}, 1, 0, 1),       /* 25: NHWC explicit */
    /* NHWC with more than 32 taps per output: the channels-last im2col (CPU
     * devices serve the cases above directly) */
    CC(2, 5, 7, 6, 3, 3, 3, 1, 1, 1, 1, SAME, {0}, 1, 1, 1),                /* 26: NHWC 45 taps */
    CC(1, 4, 9, 8, 3, 3, 3, 2, 2, 2, 1, EXPL, {1, 0, 2, 1}, 1, 0, 1),       /* 27: NHWC strided, dilated */
};

static void test_conv2d_forward(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[64];
        snprintf(name, sizeof name, "conv2d case %zu", i);
        opcheck_spec s = conv_spec(&cases[i], name, 0);
        s.seed = 500 + (uint32_t)i;
        opcheck_run(ctx, &s);
    }
}

/* Every stride-1, ungrouped case of the table through FFT: the same host
 * reference within 2e-4 (FFT rounding grows with the transform size), gradients
 * included (backward runs the im2col rules whichever algorithm ran forward). */
static void test_conv2d_fft_agrees(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    case_algo = CLG_CONV_FFT;
    int checked = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        conv_case *c = &cases[i];
        if (c->sh != 1 || c->sw != 1 || c->groups != 1) continue;
        char name[64];
        snprintf(name, sizeof name, "conv2d fft case %zu", i);
        opcheck_spec s = conv_spec(c, name, checked < 2);
        s.fwd_atol = s.fwd_rtol = 2e-4;
        s.seed = 700 + (uint32_t)i;
        opcheck_run(ctx, &s);
        checked++;
    }
    case_algo = CLG_CONV_IM2COL;
    assert_true(checked >= 8);
}

static void test_conv2d_gradients(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* strided, dilated, grouped, depthwise, asymmetric same and explicit, NHWC */
    static const int picks[] = {1, 3, 9, 11, 14, 16, 17, 18, 23, 26, 27};
    for (size_t i = 0; i < sizeof picks / sizeof *picks; i++) {
        char name[64];
        snprintf(name, sizeof name, "conv2d grad case %d", picks[i]);
        opcheck_spec s = conv_spec(&cases[picks[i]], name, 1);
        s.seed = 900 + (uint32_t)i;
        s.strided_views = picks[i] == 11 || picks[i] == 18; /* non-contiguous x, w, b */
        opcheck_run(ctx, &s);
    }
}

static void test_conv2d_zero_batch(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    conv_case c = CC(0, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, VALID, {0}, 1, 1, 0);
    opcheck_spec s = conv_spec(&c, "conv2d empty batch", 1);
    opcheck_run(ctx, &s);
}

/* --- conv1d --------------------------------------------------------------------------- */

static void test_conv1d(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* h and kh are 1; the (w) entries of stride, dilation, pad apply. */
    conv_case c1[] = {
        CC(2, 3, 1, 9, 4, 1, 3, 1, 2, 1, 1, SAME, {0}, 1, 1, 0),
        CC(1, 4, 1, 11, 2, 1, 3, 1, 1, 1, 2, EXPL, {0, 0, 2, 1}, 2, 0, 0),
        CC(2, 2, 1, 8, 3, 1, 5, 1, 3, 1, 1, VALID, {0}, 1, 1, 1), /* [N, L, C] */
    };
    for (size_t i = 0; i < sizeof c1 / sizeof *c1; i++) {
        c1[i].one_d = 1;
        char name[64];
        snprintf(name, sizeof name, "conv1d case %zu", i);
        opcheck_spec s = conv_spec(&c1[i], name, 1);
        s.seed = 1300 + (uint32_t)i;
        opcheck_run(ctx, &s);
    }
}

/* --- conv2d_transpose ---------------------------------------------------------------- */

typedef struct tconv_case {
    int n, c, h, w, o, kh, kw;
    int s, d;
    int padding;
    int pad[4];
    int groups, bias, nhwc;
    int has_op, op; /* output_padding given (both axes) */
    int64_t oh, ow;
    int pt, pl;
} tconv_case;
#define TC(...) {__VA_ARGS__, 0, 0, 0, 0}

static void tconv_setup(tconv_case *t) {
    int64_t in[2] = {t->h, t->w}, k[2] = {t->kh, t->kw}, out[2];
    int before[2];
    for (int i = 0; i < 2; i++) {
        int64_t ek = (k[i] - 1) * t->d + 1;
        if (t->padding == SAME) {
            out[i] = t->has_op ? (in[i] - 1) * t->s + ek - 2 * (ek / 2) + t->op : in[i] * t->s;
            int64_t total = (in[i] - 1) * t->s + ek - out[i];
            before[i] = (int)(total > 0 ? total / 2 : 0);
        } else {
            int b0 = t->padding == EXPL ? t->pad[2 * i] : 0;
            int b1 = t->padding == EXPL ? t->pad[2 * i + 1] : 0;
            out[i] = (in[i] - 1) * t->s - b0 - b1 + ek + (t->has_op ? t->op : 0);
            before[i] = b0;
        }
    }
    t->oh = out[0];
    t->ow = out[1];
    t->pt = before[0];
    t->pl = before[1];
}

/* Scatter form: every input pixel adds w times itself to the outputs it reaches. */
static void host_tconv(const double *const *in, double *out, const void *p) {
    const tconv_case *t = p;
    int64_t cg = t->c / t->groups, og = t->o / t->groups;
    int64_t nout = (int64_t)t->n * t->o * t->oh * t->ow;
    conv_case lay = {0};
    lay.nhwc = t->nhwc;
    for (int64_t i = 0; i < nout; i++) out[i] = 0;
    for (int64_t n = 0; n < t->n; n++)
        for (int64_t o = 0; o < t->o; o++)
            for (int64_t oh = 0; oh < t->oh; oh++)
                for (int64_t ow = 0; ow < t->ow; ow++)
                    if (t->bias) out[xidx(&lay, n, o, oh, ow, t->o, t->oh, t->ow)] = in[2][o];
    for (int64_t n = 0; n < t->n; n++)
        for (int64_t c = 0; c < t->c; c++)
            for (int64_t h = 0; h < t->h; h++)
                for (int64_t w = 0; w < t->w; w++) {
                    double v = in[0][xidx(&lay, n, c, h, w, t->c, t->h, t->w)];
                    int64_t g = c / cg;
                    for (int64_t oo = 0; oo < og; oo++)
                        for (int64_t kh = 0; kh < t->kh; kh++)
                            for (int64_t kw = 0; kw < t->kw; kw++) {
                                int64_t oh = h * t->s - t->pt + kh * t->d;
                                int64_t ow = w * t->s - t->pl + kw * t->d;
                                if (oh < 0 || oh >= t->oh || ow < 0 || ow >= t->ow) continue;
                                out[xidx(&lay, n, g * og + oo, oh, ow, t->o, t->oh, t->ow)] +=
                                    v * in[1][((c * og + oo) * t->kh + kh) * t->kw + kw];
                            }
                }
}

static clg_tensor *dev_tconv(clg_tensor *const *in, const void *pp) {
    const tconv_case *t = pp;
    clg_conv2d_params p = clg_conv2d_params_default();
    p.stride[0] = p.stride[1] = t->s;
    p.dilation[0] = p.dilation[1] = t->d;
    p.padding = (clg_padding)t->padding;
    memcpy(p.pad, t->pad, sizeof p.pad);
    p.groups = t->groups;
    p.layout = t->nhwc ? CLG_LAYOUT_NHWC : CLG_LAYOUT_NCHW;
    int op[2] = {t->op, t->op};
    return clg_conv2d_transpose(in[0], in[1], t->bias ? in[2] : NULL, &p, t->has_op ? op : NULL);
}

static void test_conv2d_transpose(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* n c h w o kh kw | s d | padding pad | groups bias nhwc | has_op op */
    tconv_case tc[] = {
        TC(1, 2, 3, 3, 3, 3, 3, 1, 1, VALID, {0}, 1, 0, 0, 0, 0),
        TC(2, 2, 3, 4, 2, 3, 3, 2, 1, SAME, {0}, 1, 1, 0, 0, 0),         /* out = in * 2 */
        TC(1, 2, 3, 3, 2, 3, 3, 2, 1, VALID, {0}, 1, 0, 0, 1, 1),        /* output_padding 1 */
        TC(1, 2, 3, 3, 2, 3, 3, 2, 1, SAME, {0}, 1, 1, 0, 1, 1),         /* same + output_padding */
        TC(1, 4, 3, 3, 2, 3, 3, 2, 2, EXPL, {1, 0, 1, 1}, 2, 0, 0, 0, 0), /* groups, dilation */
        TC(2, 3, 2, 3, 2, 2, 2, 2, 1, SAME, {0}, 1, 1, 1, 0, 0),         /* NHWC */
        TC(2, 3, 3, 2, 2, 4, 4, 2, 1, SAME, {0}, 1, 1, 1, 0, 0),         /* NHWC, a DCGAN's 4x4 / 2 */
        TC(1, 2, 3, 3, 3, 3, 3, 2, 1, VALID, {0}, 1, 0, 1, 1, 1),        /* NHWC, output_padding */
        TC(1, 2, 3, 4, 2, 3, 2, 1, 2, EXPL, {1, 0, 0, 2}, 1, 1, 1, 0, 0), /* NHWC, dilation, padding */
        TC(1, 4, 3, 3, 2, 3, 3, 2, 1, SAME, {0}, 2, 0, 1, 0, 0),         /* NHWC with groups: NCHW path */
    };
    for (size_t i = 0; i < sizeof tc / sizeof *tc; i++) {
        tconv_case *t = &tc[i];
        tconv_setup(t);
        char name[64];
        snprintf(name, sizeof name, "conv2d_transpose case %zu", i);
        opcheck_spec s = opcheck_defaults(name, t->bias ? 3 : 2, dev_tconv, host_tconv);
        int64_t xs[4] = {t->n, t->c, t->h, t->w}, ys[4] = {t->n, t->o, t->oh, t->ow};
        if (t->nhwc) {
            int64_t xn[4] = {t->n, t->h, t->w, t->c}, yn[4] = {t->n, t->oh, t->ow, t->o};
            memcpy(xs, xn, sizeof xs);
            memcpy(ys, yn, sizeof ys);
        }
        opcheck_input(&s, 0, 4, xs, -1, 1);
        opcheck_input(&s, 1, 4, (int64_t[]){t->c, t->o / t->groups, t->kh, t->kw}, -1, 1);
        if (t->bias) opcheck_input(&s, 2, 1, (int64_t[]){t->o}, -1, 1);
        opcheck_output(&s, 4, ys);
        s.params = t;
        s.fwd_atol = s.fwd_rtol = FWD_TOL;
        s.grad_atol = s.grad_rtol = GRAD_TOL;
        s.seed = 1700 + (uint32_t)i;
        s.strided_views = i == 1;
        opcheck_run(ctx, &s);
    }
    /* Keras's sizes: 'same' stride 2 doubles, output_padding adds one row. */
    assert_int_equal(tc[1].oh, 6);
    assert_int_equal(tc[1].ow, 8);
    assert_int_equal(tc[2].oh, 8);
    assert_int_equal(tc[3].oh, 6);
}

/* --- determinism, capture, fusion ---------------------------------------------------- */

static clg_tensor *host_tensor(clg_context *ctx, int ndim, const int64_t *shape, uint32_t seed) {
    int64_t n = opcheck_numel(ndim, shape);
    float *v = malloc((size_t)n * sizeof(float));
    clg_test_random_floats(v, (size_t)n, seed);
    clg_tensor *t = clg_tensor_from_host(ctx, CLG_FLOAT32, ndim, shape, v);
    free(v);
    assert_non_null(t);
    return t;
}

static void test_data_gradient_deterministic(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t xs[4] = {2, 4, 9, 9}, ws[4] = {6, 2, 3, 3};
    clg_tensor *x = host_tensor(ctx, 4, xs, 41), *w = host_tensor(ctx, 4, ws, 42);
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    clg_conv2d_params p = clg_conv2d_params_default();
    p.padding = CLG_PADDING_SAME;
    p.dilation[0] = 2;
    p.groups = 2;
    float *g[2];
    size_t bytes = 2 * 4 * 9 * 9 * sizeof(float);
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(clg_tensor_zero_grad(x), CLG_OK);
        clg_tensor *y = clg_conv2d(x, w, NULL, &p);
        assert_non_null(y);
        clg_tensor *seed = clg_tensor_ones(ctx, CLG_FLOAT32, 4, clg_tensor_shape(y));
        assert_int_equal(clg_backward(y, seed), CLG_OK);
        g[rep] = malloc(bytes);
        assert_int_equal(clg_tensor_to_host(clg_tensor_grad(x), g[rep], bytes), CLG_OK);
        clg_tensor_free(seed);
        clg_tensor_free(y);
    }
    assert_memory_equal(g[0], g[1], bytes);
    free(g[0]);
    free(g[1]);
    clg_tensor_free(x);
    clg_tensor_free(w);
}

/* sum(relu(conv(x, w) + b)) and its gradient for w, on the host. */
static void host_relu_conv_grad(const conv_case *c, const float *x, const float *w, const float *b,
                                double *y, double *gw) {
    int64_t ny = (int64_t)c->n * c->o * c->oh * c->ow, nw = (int64_t)c->o * c->c * c->kh * c->kw;
    int64_t nx = (int64_t)c->n * c->c * c->h * c->w;
    double *dx = malloc((size_t)nx * sizeof(double)), *dw = malloc((size_t)nw * sizeof(double));
    double *db = malloc((size_t)c->o * sizeof(double));
    for (int64_t i = 0; i < nx; i++) dx[i] = x[i];
    for (int64_t i = 0; i < nw; i++) dw[i] = w[i];
    for (int64_t i = 0; i < c->o; i++) db[i] = b[i];
    const double *in[3] = {dx, dw, db};
    host_conv(in, y, c);
    for (int64_t i = 0; i < nw; i++) gw[i] = 0;
    /* d/dw of sum(relu(y)) = sum over outputs with y > 0 of x at the tap. */
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->o; o++)
            for (int64_t oh = 0; oh < c->oh; oh++)
                for (int64_t ow = 0; ow < c->ow; ow++) {
                    if (y[((n * c->o + o) * c->oh + oh) * c->ow + ow] <= 0) continue;
                    for (int64_t ci = 0; ci < c->c; ci++)
                        for (int64_t kh = 0; kh < c->kh; kh++)
                            for (int64_t kw = 0; kw < c->kw; kw++) {
                                int64_t h = oh * c->sh - c->pt + kh * c->dh;
                                int64_t ww = ow * c->sw - c->pl + kw * c->dw;
                                if (h < 0 || h >= c->h || ww < 0 || ww >= c->w) continue;
                                gw[((o * c->c + ci) * c->kh + kh) * c->kw + kw] +=
                                    x[((n * c->c + ci) * c->h + h) * c->w + ww];
                            }
                }
    for (int64_t i = 0; i < ny; i++) y[i] = y[i] > 0 ? y[i] : 0;
    free(dx);
    free(dw);
    free(db);
}

static void test_captured_step_replays(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    conv_case c = CC(2, 3, 7, 6, 4, 3, 3, 2, 1, 1, 1, SAME, {0}, 1, 1, 0);
    conv_setup(&c);
    enum { NX = 2 * 3 * 7 * 6, NW = 4 * 3 * 3 * 3, NY = 2 * 4 * 4 * 6 };
    assert_int_equal(c.oh * c.ow * 8, NY);
    float x0[NX], x1[NX], hw[NW], hb[4], y[NY], gw[NW];
    double ry[NY], rgw[NW];
    clg_test_random_floats(x0, NX, 51);
    clg_test_random_floats(x1, NX, 52);
    clg_test_random_floats(hw, NW, 53);
    clg_test_random_floats(hb, 4, 54);
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 3, 7, 6}, x0);
    clg_tensor *w = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){4, 3, 3, 3}, hw);
    clg_tensor *b = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, (int64_t[]){4}, hb);
    assert_true(x && w && b);
    assert_int_equal(clg_tensor_set_requires_grad(w, 1), CLG_OK);
    assert_int_equal(clg_tensor_set_requires_grad(b, 1), CLG_OK);
    clg_conv2d_params p = case_params(&c);

    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *conv = clg_conv2d(x, w, b, &p);
    clg_tensor *r = clg_relu(conv);
    clg_tensor *loss = clg_sum(r, 0, NULL, 0);
    assert_non_null(loss);
    assert_int_equal(clg_backward(loss, NULL), CLG_OK);
    clg_step *step = clg_step_capture_end(ctx);
    if (!step) fail_msg("capture: %s", clg_last_error());
    const clg_tensor *grad_w = clg_tensor_grad(w);
    assert_non_null(grad_w);

    uint64_t created = clg_context_get_stats(ctx).buffers_created;
    for (int rep = 0; rep < 3; rep++) {
        const float *in = rep == 1 ? x1 : x0;
        if (rep > 0) {
            assert_int_equal(clg_tensor_write(x, in, sizeof x0), CLG_OK);
            assert_int_equal(clg_step_replay(step), CLG_OK);
        }
        assert_int_equal(clg_tensor_to_host(r, y, sizeof y), CLG_OK);
        assert_int_equal(clg_tensor_to_host(grad_w, gw, sizeof gw), CLG_OK);
        host_relu_conv_grad(&c, in, hw, hb, ry, rgw);
        for (int i = 0; i < NY; i++)
            if (!(fabs(y[i] - ry[i]) <= FWD_TOL + FWD_TOL * fabs(ry[i])))
                fail_msg("replay %d: y[%d] = %g, reference %g", rep, i, (double)y[i], ry[i]);
        for (int i = 0; i < NW; i++)
            if (!(fabs(gw[i] - rgw[i]) <= GRAD_TOL + GRAD_TOL * fabs(rgw[i])))
                fail_msg("replay %d: dw[%d] = %g, reference %g", rep, i, (double)gw[i], rgw[i]);
    }
    assert_int_equal(clg_context_get_stats(ctx).buffers_created, created); /* replays allocate nothing */
    clg_step_free(step);
    clg_tensor *all[] = {conv, r, loss, x, w, b};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
}

/* relu(conv(x, w) + b) for one image: im2col, the GEMM, and one fused kernel
 * for bias and activation (the permute to [N,O,OH,OW] is a view for N = 1). */
static void test_bias_activation_fuse(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    conv_case c = CC(1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, VALID, {0}, 1, 1, 0);
    conv_setup(&c);
    float hx[50], hw[54], hb[3], got[27];
    double ref[27];
    clg_test_random_floats(hx, 50, 61);
    clg_test_random_floats(hw, 54, 62);
    clg_test_random_floats(hb, 3, 63);
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){1, 2, 5, 5}, hx);
    clg_tensor *w = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){3, 2, 3, 3}, hw);
    clg_tensor *b = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, (int64_t[]){3}, hb);
    assert_true(x && w && b);
    clg_conv2d_params p = clg_conv2d_params_default();
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *y = clg_conv2d(x, w, b, &p);
    clg_tensor *r = clg_relu(y);
    clg_tensor_free(y);
    clg_step *step = clg_step_capture_end(ctx);
    assert_true(r && step);
    assert_int_equal(clg_step_get_info(step).commands, 2 + clg_gemm_commands_per_product(ctx));
    assert_int_equal(clg_tensor_to_host(r, got, sizeof got), CLG_OK);
    double gw[54];
    host_relu_conv_grad(&c, hx, hw, hb, ref, gw);
    for (int i = 0; i < 27; i++) assert_true(fabs(got[i] - ref[i]) <= FWD_TOL + FWD_TOL * fabs(ref[i]));
    clg_step_free(step);
    clg_tensor *all[] = {x, w, b, r};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
}

/* --- bad input ------------------------------------------------------------------------- */

static void test_bad_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){1, 3, 5, 5});
    clg_tensor *w = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){4, 2, 3, 3});
    clg_tensor *w3 = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){4, 3, 3, 3});
    clg_tensor *big = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){4, 3, 7, 7});
    clg_tensor *x3 = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, (int64_t[]){1, 3, 5});
    clg_tensor *xi = clg_tensor_zeros(ctx, CLG_INT32, 4, (int64_t[]){1, 3, 5, 5});
    clg_tensor *b5 = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){5});
    clg_tensor *x4 = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){1, 4, 5, 5});
    clg_tensor *w5 = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){5, 2, 3, 3});
    clg_tensor *w1d = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, (int64_t[]){2, 3, 7});
    assert_true(x && w && w3 && big && x3 && xi && b5 && x4 && w5 && w1d);
    clg_conv2d_params p = clg_conv2d_params_default();

    CLG_EXPECT_ERROR(clg_conv2d(NULL, w3, NULL, &p) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_conv2d", "x is NULL");
    CLG_EXPECT_ERROR(clg_conv2d(x3, w3, NULL, &p) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_conv2d", "[1,3,5]", "rank 3");
    CLG_EXPECT_ERROR(clg_conv2d(xi, w3, NULL, &p) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_conv2d", "int32", "float32");
    /* channel mismatch: 3 channels, w expects 2 */
    CLG_EXPECT_ERROR(clg_conv2d(x, w, NULL, &p) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_conv2d",
                     "[1,3,5,5]", "[4,2,3,3]", "3 channels", "expects 2");
    /* kernel larger than the padded input */
    CLG_EXPECT_ERROR(clg_conv2d(x, big, NULL, &p) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_conv2d",
                     "[1,3,5,5]", "[4,3,7,7]", "larger than the padded input 5x5");
    /* ... also with dilation */
    p.dilation[1] = 3;
    CLG_EXPECT_ERROR(clg_conv2d(x, w3, NULL, &p) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_conv2d",
                     "extent 3x7");
    p = clg_conv2d_params_default();
    p.stride[0] = 0;
    CLG_EXPECT_ERROR(clg_conv2d(x, w3, NULL, &p) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_conv2d",
                     "stride (0,1)", "[1,3,5,5]");
    p = clg_conv2d_params_default();
    p.dilation[1] = -1;
    CLG_EXPECT_ERROR(clg_conv2d(x, w3, NULL, &p) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_conv2d",
                     "dilation (1,-1)");
    p = clg_conv2d_params_default();
    p.padding = CLG_PADDING_EXPLICIT;
    p.pad[2] = -1;
    CLG_EXPECT_ERROR(clg_conv2d(x, w3, NULL, &p) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_conv2d",
                     "left -1", ">= 0");
    /* groups not dividing the channels: 4 output channels of w5 is 5 */
    p = clg_conv2d_params_default();
    p.groups = 2;
    CLG_EXPECT_ERROR(clg_conv2d(x4, w5, NULL, &p) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_conv2d",
                     "5 output channels", "[5,2,3,3]", "groups 2");
    CLG_EXPECT_ERROR(clg_conv2d(x, w, NULL, &p) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_conv2d",
                     "3 channels", "groups 2", "expects 4");
    p.groups = 0;
    CLG_EXPECT_ERROR(clg_conv2d(x4, w, NULL, &p) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_conv2d",
                     "groups 0");
    p = clg_conv2d_params_default();
    CLG_EXPECT_ERROR(clg_conv2d(x, w3, b5, &p) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_conv2d",
                     "bias", "[5]", "expected float32 [4]");
    p.algo = CLG_CONV_FFT; /* a forced algorithm that cannot serve the shape */
    p.stride[0] = 2;
    CLG_EXPECT_ERROR(clg_conv2d(x, w3, NULL, &p) == NULL, CLG_STATUS_UNSUPPORTED, "clg_conv2d",
                     "FFT algorithm serves stride 1", "stride 2x1");
    p = clg_conv2d_params_default();
    p.algo = CLG_CONV_FFT;
    p.groups = 3;
    CLG_EXPECT_ERROR(clg_conv2d(x, w3, NULL, &p) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_conv2d");
    /* conv1d names itself and its own shapes */
    p = clg_conv2d_params_default();
    CLG_EXPECT_ERROR(clg_conv1d(x3, w1d, NULL, &p) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_conv1d",
                     "[1,3,5]", "[2,3,7]", "larger than the padded input");
    CLG_EXPECT_ERROR(clg_conv1d(x, w1d, NULL, &p) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_conv1d",
                     "rank 4", "[N,C,L]");
    /* conv2d_transpose: x channels against w.shape[0], output_padding */
    clg_tensor *t_ok = clg_conv2d_transpose(x4, w3, NULL, &p, NULL); /* 4 == w.shape[0] */
    assert_non_null(t_ok);
    clg_tensor_free(t_ok);
    CLG_EXPECT_ERROR(clg_conv2d_transpose(x, w3, NULL, &p, NULL) == NULL, CLG_STATUS_SHAPE_MISMATCH,
                     "clg_conv2d_transpose", "[1,3,5,5]", "3 channels", "w.shape[0]");
    CLG_EXPECT_ERROR(clg_conv2d_transpose(x4, w3, NULL, &p, (int[]){1, 0}) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_conv2d_transpose", "output_padding (1,0)");

    clg_tensor *ok = clg_conv2d(x, w3, NULL, &p); /* still usable */
    assert_non_null(ok);
    clg_tensor *all[] = {ok, x, w, w3, big, x3, xi, b5, x4, w5, w1d};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_forward),
        cmocka_unit_test(test_conv2d_gradients),
        cmocka_unit_test(test_conv2d_fft_agrees),
        cmocka_unit_test(test_conv2d_zero_batch),
        cmocka_unit_test(test_conv1d),
        cmocka_unit_test(test_conv2d_transpose),
        cmocka_unit_test(test_data_gradient_deterministic),
        cmocka_unit_test(test_captured_step_replays),
        cmocka_unit_test(test_bias_activation_fuse),
        cmocka_unit_test(test_bad_input),
    };
    return CLG_RUN_GROUP(tests);
}
