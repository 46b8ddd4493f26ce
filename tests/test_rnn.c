/* LSTM, GRU and SimpleRNN over whole sequences against a plain host
 * implementation of Keras's equations in double, gradients against central
 * finite differences of that reference.
 *
 * opcheck takes one output and four inputs; these ops have up to six
 * differentiable inputs and three outputs (sequence, h_last, c_last), so this
 * file has its own small checker in the same spirit: the device computes the
 * gradient of L = sum(wy y) + sum(wh h_last) + sum(wc c_last) for random weights
 * by clg_backward, the host the same by central differences with step
 * 1e-6 max(1, |v|).
 *
 * Covered per cell: no bias and zero states; bias, h0 (c0), and a mask with a
 * row masked only at the end, a fully masked row and a row masked at the start
 * and in the middle; the same going backwards; a call without the final states
 * (another result layout and backward path); the masking rule spelled out;
 * transposed views and a lazy mask as inputs; replay of a captured training step
 * against eager runs on new data; bad input.
 *
 * Tolerances:
 * - forward: 2e-5 + 2e-5 |ref| (four steps of O(1) float32 values through
 *   exp/tanh, a few ulp each).
 * - gradients: 2e-4 + 2e-3 |ref| (float32 backpropagation through time against
 *   double central differences; real mistakes give errors of order 0.1).
 * - replay against eager: 1e-6 (the same kernels on the same data). */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { LSTM = 0, GRU = 1, SIMPLE = 2 };
enum { MAXN = 3, MAXT = 4 };

typedef struct rnn_case {
    const char *name;
    int kind;
    int N, T, F, H;
    int bias, h0, c0, mask, back;
    int states; /* ask for h_last (and c_last) */
    float maskv[MAXN * MAXT];
} rnn_case;

static int gates_of(int kind) { return kind == LSTM ? 4 : kind == GRU ? 3 : 1; }

/* Inputs in host form; NULL where absent. */
typedef struct host_in {
    const double *x, *w, *u, *b, *h0, *c0, *m;
} host_in;

static double sigm(double a) { return 1.0 / (1.0 + exp(-a)); }

/* Keras's cells and rnn() loop with zero_output_for_mask=False. */
static void host_rnn(const rnn_case *c, const host_in *in, double *y, double *hl, double *cl) {
    int N = c->N, T = c->T, F = c->F, H = c->H, G = gates_of(c->kind) * H;
    for (int n = 0; n < N; n++) {
        double h[8], cc[8], out[8], hn[8], cn[8], xa[32], ra[32];
        for (int j = 0; j < H; j++) {
            h[j] = in->h0 ? in->h0[n * H + j] : 0;
            cc[j] = in->c0 ? in->c0[n * H + j] : 0;
            out[j] = 0;
        }
        for (int s = 0; s < T; s++) {
            int t = c->back ? T - 1 - s : s;
            int m = in->m ? in->m[n * T + t] != 0 : 1;
            for (int g = 0; g < G; g++) {
                double a = 0, r = 0;
                for (int f = 0; f < F; f++) a += in->x[(n * T + t) * F + f] * in->w[f * G + g];
                for (int k = 0; k < H; k++) r += h[k] * in->u[k * G + g];
                if (in->b) {
                    a += in->b[g];
                    if (c->kind == GRU) r += in->b[G + g];
                }
                xa[g] = a;
                ra[g] = r;
            }
            for (int j = 0; j < H; j++) {
                if (c->kind == LSTM) {
                    double i = sigm(xa[j] + ra[j]), f = sigm(xa[H + j] + ra[H + j]);
                    double g = tanh(xa[2 * H + j] + ra[2 * H + j]), o = sigm(xa[3 * H + j] + ra[3 * H + j]);
                    cn[j] = f * cc[j] + i * g;
                    hn[j] = o * tanh(cn[j]);
                } else if (c->kind == GRU) {
                    double z = sigm(xa[j] + ra[j]), r = sigm(xa[H + j] + ra[H + j]);
                    double hh = tanh(xa[2 * H + j] + r * ra[2 * H + j]);
                    hn[j] = z * h[j] + (1 - z) * hh;
                } else {
                    hn[j] = tanh(xa[j] + ra[j]);
                }
            }
            for (int j = 0; j < H; j++) {
                if (m) {
                    h[j] = hn[j];
                    if (c->kind == LSTM) cc[j] = cn[j];
                    out[j] = h[j];
                }
                y[(n * T + s) * H + j] = out[j];
            }
        }
        for (int j = 0; j < H; j++) {
            hl[n * H + j] = h[j];
            if (cl) cl[n * H + j] = cc[j];
        }
    }
}

/* --- one case: inputs, device run, checks ------------------------------------------ */

enum { IN_X, IN_W, IN_U, IN_B, IN_H0, IN_C0, NIN };
static const char *const in_names[NIN] = {"x", "kernel", "recurrent_kernel", "bias", "h0", "c0"};

typedef struct case_data {
    int present[NIN];
    int nd[NIN];
    int64_t shape[NIN][3];
    int64_t numel[NIN];
    float *f[NIN];
    double *d[NIN];
    double *mask;
    int64_t ny, ns; /* sizes of y and of one state */
    float *wy, *wh, *wc;
} case_data;

static void case_setup(const rnn_case *c, case_data *cd, uint32_t seed) {
    memset(cd, 0, sizeof *cd);
    int64_t N = c->N, T = c->T, F = c->F, H = c->H, G = gates_of(c->kind) * H;
    int64_t shapes[NIN][3] = {{N, T, F}, {F, G, 0}, {H, G, 0}, {G, 0, 0}, {N, H, 0}, {N, H, 0}};
    int nds[NIN] = {3, 2, 2, 1, 2, 2};
    if (c->kind == GRU) {
        shapes[IN_B][0] = 2;
        shapes[IN_B][1] = G;
        nds[IN_B] = 2;
    }
    int present[NIN] = {1, 1, 1, c->bias, c->h0, c->kind == LSTM && c->c0};
    float scale[NIN] = {1.0f, 0.6f, 0.5f, 0.5f, 0.8f, 0.8f};
    for (int i = 0; i < NIN; i++) {
        cd->present[i] = present[i];
        cd->nd[i] = nds[i];
        cd->numel[i] = 1;
        for (int k = 0; k < nds[i]; k++) {
            cd->shape[i][k] = shapes[i][k];
            cd->numel[i] *= shapes[i][k];
        }
        if (!present[i]) continue;
        cd->f[i] = malloc((size_t)cd->numel[i] * sizeof(float));
        cd->d[i] = malloc((size_t)cd->numel[i] * sizeof(double));
        assert_true(cd->f[i] && cd->d[i]);
        clg_test_random_floats(cd->f[i], (size_t)cd->numel[i], seed + 31u * (uint32_t)i);
        for (int64_t k = 0; k < cd->numel[i]; k++) {
            cd->f[i][k] *= scale[i];
            cd->d[i][k] = cd->f[i][k];
        }
    }
    if (c->mask) {
        cd->mask = malloc((size_t)(N * T) * sizeof(double));
        assert_non_null(cd->mask);
        for (int64_t k = 0; k < N * T; k++) cd->mask[k] = c->maskv[k];
    }
    cd->ny = N * T * H;
    cd->ns = N * H;
    cd->wy = malloc((size_t)cd->ny * sizeof(float));
    cd->wh = malloc((size_t)cd->ns * sizeof(float));
    cd->wc = malloc((size_t)cd->ns * sizeof(float));
    assert_true(cd->wy && cd->wh && cd->wc);
    clg_test_random_floats(cd->wy, (size_t)cd->ny, seed + 1000);
    clg_test_random_floats(cd->wh, (size_t)cd->ns, seed + 1001);
    clg_test_random_floats(cd->wc, (size_t)cd->ns, seed + 1002);
}

static void case_free(case_data *cd) {
    for (int i = 0; i < NIN; i++) {
        free(cd->f[i]);
        free(cd->d[i]);
    }
    free(cd->mask);
    free(cd->wy);
    free(cd->wh);
    free(cd->wc);
}

static double host_loss(const rnn_case *c, const case_data *cd, double *y, double *hl, double *cl) {
    host_in in = {cd->d[IN_X], cd->d[IN_W], cd->d[IN_U], cd->d[IN_B], cd->d[IN_H0], cd->d[IN_C0], cd->mask};
    host_rnn(c, &in, y, hl, c->kind == LSTM ? cl : NULL);
    double l = 0;
    for (int64_t k = 0; k < cd->ny; k++) l += cd->wy[k] * y[k];
    if (c->states) {
        for (int64_t k = 0; k < cd->ns; k++) l += cd->wh[k] * hl[k];
        if (c->kind == LSTM)
            for (int64_t k = 0; k < cd->ns; k++) l += cd->wc[k] * cl[k];
    }
    return l;
}

/* The op on device tensors; h_last, c_last may be NULL. */
static clg_tensor *run_op(const rnn_case *c, clg_tensor *const *t, const clg_tensor *mask,
                          clg_tensor **hl, clg_tensor **cl) {
    switch (c->kind) {
    case LSTM:
        return clg_lstm(t[IN_X], t[IN_W], t[IN_U], t[IN_B], t[IN_H0], t[IN_C0], mask, c->back, hl, cl);
    case GRU: return clg_gru(t[IN_X], t[IN_W], t[IN_U], t[IN_B], t[IN_H0], mask, c->back, hl);
    default: return clg_simple_rnn(t[IN_X], t[IN_W], t[IN_U], t[IN_B], t[IN_H0], mask, c->back, hl);
    }
}

static void expect_close(const char *what, const rnn_case *c, const float *dev, const double *ref,
                         int64_t n, double atol, double rtol) {
    for (int64_t k = 0; k < n; k++)
        if (!(fabs(dev[k] - ref[k]) <= atol + rtol * fabs(ref[k])))
            fail_msg("%s: %s[%lld] = %.8g, expected %.8g", c->name, what, (long long)k,
                     (double)dev[k], ref[k]);
}

static void read_floats(const clg_tensor *t, float *out, int64_t n) {
    assert_non_null(t);
    assert_int_equal(clg_tensor_to_host(t, out, (size_t)n * sizeof(float)), CLG_OK);
}

/* sum(a * w) as a device scalar (w from host). */
static clg_tensor *weighted_sum(clg_context *ctx, const clg_tensor *a, const float *w, int nd,
                                const int64_t *shape) {
    clg_tensor *wt = clg_tensor_from_host(ctx, CLG_FLOAT32, nd, shape, w);
    clg_tensor *p = clg_mul(a, wt);
    clg_tensor *s = clg_sum(p, 0, NULL, 0);
    clg_tensor_free(wt);
    clg_tensor_free(p);
    assert_non_null(s);
    return s;
}

static void run_case(clg_context *ctx, const rnn_case *c, uint32_t seed) {
    case_data cd;
    case_setup(c, &cd, seed);
    int64_t N = c->N, T = c->T, H = c->H;
    double *y = malloc((size_t)cd.ny * sizeof(double)), *hl = malloc((size_t)cd.ns * sizeof(double));
    double *cl = malloc((size_t)cd.ns * sizeof(double));
    float *dev = malloc((size_t)(cd.ny > 200 ? cd.ny : 200) * sizeof(float));
    assert_true(y && hl && cl && dev);
    host_loss(c, &cd, y, hl, cl);

    clg_tensor *t[NIN] = {0};
    for (int i = 0; i < NIN; i++) {
        if (!cd.present[i]) continue;
        t[i] = clg_tensor_from_host(ctx, CLG_FLOAT32, cd.nd[i], cd.shape[i], cd.f[i]);
        assert_non_null(t[i]);
        assert_int_equal(clg_tensor_set_requires_grad(t[i], 1), CLG_OK);
    }
    clg_tensor *mask = NULL;
    if (c->mask) {
        mask = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){N, T}, c->maskv);
        assert_non_null(mask);
    }
    clg_tensor *hdev = NULL, *cdev = NULL;
    clg_tensor *ydev = run_op(c, t, mask, c->states ? &hdev : NULL,
                              c->states && c->kind == LSTM ? &cdev : NULL);
    if (!ydev) fail_msg("%s: %s", c->name, clg_last_error());
    int64_t yshape[3] = {N, T, H}, sshape[2] = {N, H};
    assert_int_equal(clg_tensor_ndim(ydev), 3);
    read_floats(ydev, dev, cd.ny);
    expect_close("output", c, dev, y, cd.ny, 2e-5, 2e-5);
    if (c->states) {
        read_floats(hdev, dev, cd.ns);
        expect_close("h_last", c, dev, hl, cd.ns, 2e-5, 2e-5);
        if (c->kind == LSTM) {
            read_floats(cdev, dev, cd.ns);
            expect_close("c_last", c, dev, cl, cd.ns, 2e-5, 2e-5);
        }
    }

    /* Gradients of the weighted sum of every result. */
    clg_tensor *loss = weighted_sum(ctx, ydev, cd.wy, 3, yshape);
    if (hdev) {
        clg_tensor *lh = weighted_sum(ctx, hdev, cd.wh, 2, sshape);
        clg_tensor *sum = clg_add(loss, lh);
        clg_tensor_free(loss);
        clg_tensor_free(lh);
        loss = sum;
    }
    if (cdev) {
        clg_tensor *lc = weighted_sum(ctx, cdev, cd.wc, 2, sshape);
        clg_tensor *sum = clg_add(loss, lc);
        clg_tensor_free(loss);
        clg_tensor_free(lc);
        loss = sum;
    }
    clg_tensor_free(ydev);
    clg_tensor_free(hdev);
    clg_tensor_free(cdev);
    if (clg_backward(loss, NULL) != CLG_OK) fail_msg("%s: backward: %s", c->name, clg_last_error());
    clg_tensor_free(loss);
    for (int i = 0; i < NIN; i++) {
        if (!cd.present[i]) continue;
        double *ref = malloc((size_t)cd.numel[i] * sizeof(double));
        assert_non_null(ref);
        for (int64_t k = 0; k < cd.numel[i]; k++) {
            double v = cd.d[i][k], h = 1e-6 * (fabs(v) > 1 ? fabs(v) : 1);
            cd.d[i][k] = v + h;
            double lp = host_loss(c, &cd, y, hl, cl);
            cd.d[i][k] = v - h;
            double lm = host_loss(c, &cd, y, hl, cl);
            cd.d[i][k] = v;
            ref[k] = (lp - lm) / (2 * h);
        }
        const clg_tensor *g = clg_tensor_grad(t[i]);
        if (!g) fail_msg("%s: no gradient for %s", c->name, in_names[i]);
        float *gd = malloc((size_t)cd.numel[i] * sizeof(float));
        assert_non_null(gd);
        read_floats(g, gd, cd.numel[i]);
        char what[64];
        snprintf(what, sizeof what, "d %s", in_names[i]);
        expect_close(what, c, gd, ref, cd.numel[i], 2e-4, 2e-3);
        free(gd);
        free(ref);
    }
    for (int i = 0; i < NIN; i++) clg_tensor_free(t[i]);
    clg_tensor_free(mask);
    free(y);
    free(hl);
    free(cl);
    free(dev);
    case_free(&cd);
}

/* Row 0 masked only at the end, row 1 at every step, row 2 at the start and in
 * the middle. */
#define MASK3 {1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1}

static void run_cell(clg_context *ctx, int kind, const char *label, uint32_t seed) {
    char names[4][64];
    snprintf(names[0], sizeof names[0], "%s plain", label);
    snprintf(names[1], sizeof names[1], "%s bias, states, mask", label);
    snprintf(names[2], sizeof names[2], "%s go_backwards, mask", label);
    snprintf(names[3], sizeof names[3], "%s without final states", label);
    rnn_case plain = {names[0], kind, 2, 4, 3, 5, 0, 0, 0, 0, 0, 1, {0}};
    rnn_case full = {names[1], kind, 3, 4, 3, 5, 1, 1, 1, 1, 0, 1, MASK3};
    rnn_case back = {names[2], kind, 3, 4, 3, 5, 1, 1, 0, 1, 1, 1, MASK3};
    rnn_case nostate = {names[3], kind, 2, 4, 3, 5, 1, 1, 1, 0, 1, 0, {0}};
    run_case(ctx, &plain, seed);
    run_case(ctx, &full, seed + 10);
    run_case(ctx, &back, seed + 20);
    run_case(ctx, &nostate, seed + 30);
}

static void test_lstm(void **state) { run_cell(clg_test_ctx(state), LSTM, "lstm", 100); }
static void test_gru(void **state) { run_cell(clg_test_ctx(state), GRU, "gru", 200); }
static void test_simple_rnn(void **state) { run_cell(clg_test_ctx(state), SIMPLE, "simple_rnn", 300); }

/* --- masking semantics spelled out --------------------------------------------------- */

/* A fully masked row gives zero outputs and h_last = h0; a row masked at the end
 * repeats its last unmasked output. Independent of the host reference above. */
static void test_mask_semantics(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 2, T = 3, F = 2, H = 2 };
    float x[N * T * F], w[F * H], u[H * H], h0[N * H] = {0.5f, -0.25f, 0.75f, 0.125f};
    clg_test_random_floats(x, N * T * F, 1);
    clg_test_random_floats(w, F * H, 2);
    clg_test_random_floats(u, H * H, 3);
    float m[N * T] = {1, 0, 0, 0, 0, 0};
    clg_tensor *xt = clg_tensor_from_host(ctx, CLG_FLOAT32, 3, (int64_t[]){N, T, F}, x);
    clg_tensor *wt = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){F, H}, w);
    clg_tensor *ut = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){H, H}, u);
    clg_tensor *ht = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){N, H}, h0);
    clg_tensor *mt = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){N, T}, m);
    clg_tensor *hl = NULL;
    clg_tensor *y = clg_simple_rnn(xt, wt, ut, NULL, ht, mt, 0, &hl);
    assert_non_null(y);
    float yv[N * T * H], hv[N * H];
    read_floats(y, yv, N * T * H);
    read_floats(hl, hv, N * H);
    for (int j = 0; j < H; j++) {
        /* row 0: steps 1 and 2 repeat step 0, and so does h_last */
        assert_float_equal(yv[1 * H + j], yv[j], 0);
        assert_float_equal(yv[2 * H + j], yv[j], 0);
        assert_float_equal(hv[j], yv[j], 0);
        assert_true(yv[j] != 0.0f);
        /* row 1: zeros out, the initial state kept */
        for (int s = 0; s < T; s++) assert_float_equal(yv[(T + s) * H + j], 0.0f, 0);
        assert_float_equal(hv[H + j], h0[H + j], 0);
    }
    clg_tensor *all[] = {xt, wt, ut, ht, mt, hl, y};
    for (int i = 0; i < 7; i++) clg_tensor_free(all[i]);
}

/* --- strided and lazy inputs ------------------------------------------------------------ */

/* Transposed views for x, kernel and h0 and a lazy mask give the contiguous
 * inputs' results exactly, and gradients reach the tensors under the views. */
static void test_strided_inputs(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 2, T = 3, F = 2, H = 3, G = 4 * H };
    float x[N * T * F], xt[T * N * F], w[F * G], wt[G * F], u[H * G], h0[N * H], h0t[H * N];
    float m[N * T] = {1, 1, 0, 0, 1, 1};
    clg_test_random_floats(x, N * T * F, 61);
    clg_test_random_floats(w, F * G, 62);
    clg_test_random_floats(u, H * G, 63);
    clg_test_random_floats(h0, N * H, 64);
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++)
            for (int f = 0; f < F; f++) xt[(t * N + n) * F + f] = x[(n * T + t) * F + f];
    for (int f = 0; f < F; f++)
        for (int g = 0; g < G; g++) wt[g * F + f] = w[f * G + g];
    for (int n = 0; n < N; n++)
        for (int j = 0; j < H; j++) h0t[j * N + n] = h0[n * H + j];
    clg_tensor *xc = clg_tensor_from_host(ctx, CLG_FLOAT32, 3, (int64_t[]){N, T, F}, x);
    clg_tensor *wc = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){F, G}, w);
    clg_tensor *ut = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){H, G}, u);
    clg_tensor *hc = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){N, H}, h0);
    clg_tensor *mc = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){N, T}, m);
    clg_tensor *xb = clg_tensor_from_host(ctx, CLG_FLOAT32, 3, (int64_t[]){T, N, F}, xt);
    clg_tensor *wb = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){G, F}, wt);
    clg_tensor *hb = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){H, N}, h0t);
    assert_true(xc && wc && ut && hc && mc && xb && wb && hb);
    assert_int_equal(clg_tensor_set_requires_grad(xb, 1), CLG_OK);
    assert_int_equal(clg_tensor_set_requires_grad(wb, 1), CLG_OK);
    assert_int_equal(clg_tensor_set_requires_grad(hb, 1), CLG_OK);
    clg_tensor *xv = clg_tensor_transpose(xb, 0, 1), *wv = clg_tensor_transpose(wb, 0, 1);
    clg_tensor *hv = clg_tensor_transpose(hb, 0, 1);
    clg_tensor *ml = clg_mul_scalar(mc, 1.0f); /* lazy */
    assert_true(xv && wv && hv && ml);

    clg_tensor *h1 = NULL, *c1 = NULL, *h2 = NULL, *c2 = NULL;
    clg_tensor *y1 = clg_lstm(xc, wc, ut, NULL, hc, NULL, mc, 0, &h1, &c1);
    clg_tensor *y2 = clg_lstm(xv, wv, ut, NULL, hv, NULL, ml, 0, &h2, &c2);
    if (!y1 || !y2) fail_msg("%s", clg_last_error());
    float a[N * T * H], b[N * T * H];
    read_floats(y1, a, N * T * H);
    read_floats(y2, b, N * T * H);
    for (int i = 0; i < N * T * H; i++) assert_float_equal(a[i], b[i], 1e-7);
    read_floats(c1, a, N * H);
    read_floats(c2, b, N * H);
    for (int i = 0; i < N * H; i++) assert_float_equal(a[i], b[i], 1e-7);

    clg_tensor *s1 = clg_sum(y2, 0, NULL, 0), *s2 = clg_sum(h2, 0, NULL, 0);
    clg_tensor *loss = clg_add(s1, s2);
    assert_non_null(loss);
    if (clg_backward(loss, NULL) != CLG_OK) fail_msg("backward: %s", clg_last_error());
    const clg_tensor *g[3] = {clg_tensor_grad(xb), clg_tensor_grad(wb), clg_tensor_grad(hb)};
    const clg_tensor *base[3] = {xb, wb, hb};
    for (int i = 0; i < 3; i++) {
        assert_non_null(g[i]);
        assert_int_equal(clg_tensor_ndim(g[i]), clg_tensor_ndim(base[i]));
        assert_int_equal(clg_tensor_numel(g[i]), clg_tensor_numel(base[i]));
    }
    clg_tensor *all[] = {xc, wc, ut, hc, mc, xb, wb, hb, xv, wv, hv, ml, h1, c1, h2, c2, y1, y2, s1, s2, loss};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
}

/* --- captured step ---------------------------------------------------------------------- */

typedef struct cap_model {
    clg_tensor *x, *mask, *w, *u, *b, *h0;
    clg_tensor *wy; /* output weights */
} cap_model;

enum { CN = 2, CT = 4, CF = 3, CH = 5 };

static void cap_init(clg_context *ctx, cap_model *m, int kind) {
    int G = gates_of(kind) * CH;
    float x[CN * CT * CF], w[CF * 4 * CH], u[CH * 4 * CH], b[2 * 4 * CH], h0[CN * CH], wy[CN * CT * CH];
    float mask[CN * CT] = {1, 1, 1, 0, 0, 1, 1, 1};
    clg_test_random_floats(x, CN * CT * CF, 41);
    clg_test_random_floats(w, (size_t)(CF * G), 42);
    clg_test_random_floats(u, (size_t)(CH * G), 43);
    clg_test_random_floats(b, (size_t)(2 * G), 44);
    clg_test_random_floats(h0, CN * CH, 45);
    clg_test_random_floats(wy, CN * CT * CH, 46);
    m->x = clg_tensor_from_host(ctx, CLG_FLOAT32, 3, (int64_t[]){CN, CT, CF}, x);
    m->mask = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){CN, CT}, mask);
    m->w = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){CF, G}, w);
    m->u = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){CH, G}, u);
    m->b = kind == GRU ? clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){2, G}, b)
                       : clg_tensor_from_host(ctx, CLG_FLOAT32, 1, (int64_t[]){G}, b);
    m->h0 = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){CN, CH}, h0);
    m->wy = clg_tensor_from_host(ctx, CLG_FLOAT32, 3, (int64_t[]){CN, CT, CH}, wy);
    clg_tensor *params[] = {m->x, m->w, m->u, m->b, m->h0};
    for (int i = 0; i < 5; i++) {
        assert_non_null(params[i]);
        assert_int_equal(clg_tensor_set_requires_grad(params[i], 1), CLG_OK);
    }
    assert_true(m->mask && m->wy);
}

static void cap_free(cap_model *m) {
    clg_tensor *all[] = {m->x, m->mask, m->w, m->u, m->b, m->h0, m->wy};
    for (int i = 0; i < 7; i++) clg_tensor_free(all[i]);
}

/* Zero the gradients, loss = sum(wy y) + sum(h_last), backward. Returns the loss. */
static clg_tensor *cap_step(cap_model *m, int kind) {
    clg_tensor *params[] = {m->x, m->w, m->u, m->b, m->h0};
    for (int i = 0; i < 5; i++) clg_tensor_zero_grad(params[i]);
    clg_tensor *hl = NULL, *cl = NULL;
    clg_tensor *y = kind == LSTM ? clg_lstm(m->x, m->w, m->u, m->b, m->h0, NULL, m->mask, 1, &hl, &cl)
                    : kind == GRU ? clg_gru(m->x, m->w, m->u, m->b, m->h0, m->mask, 1, &hl)
                                  : clg_simple_rnn(m->x, m->w, m->u, m->b, m->h0, m->mask, 1, &hl);
    if (!y) fail_msg("%s", clg_last_error());
    clg_tensor *p = clg_mul(y, m->wy);
    clg_tensor *l1 = clg_sum(p, 0, NULL, 0), *l2 = clg_sum(hl, 0, NULL, 0);
    clg_tensor *loss = clg_add(l1, l2);
    if (cl) {
        clg_tensor *l3 = clg_sum(cl, 0, NULL, 0), *sum = clg_add(loss, l3);
        clg_tensor_free(loss);
        clg_tensor_free(l3);
        loss = sum;
    }
    assert_non_null(loss);
    clg_tensor *mid[] = {y, hl, cl, p, l1, l2};
    for (int i = 0; i < 6; i++) clg_tensor_free(mid[i]);
    if (clg_backward(loss, NULL) != CLG_OK) fail_msg("backward: %s", clg_last_error());
    return loss;
}

/* loss and every gradient, in one host array. */
static int cap_read(const cap_model *m, clg_tensor *loss, float *out) {
    int k = 0;
    read_floats(loss, out + k, 1);
    k += 1;
    const clg_tensor *params[] = {m->x, m->w, m->u, m->b, m->h0};
    for (int i = 0; i < 5; i++) {
        const clg_tensor *g = clg_tensor_grad(params[i]);
        assert_non_null(g);
        int64_t n = clg_tensor_numel(g);
        read_floats(g, out + k, n);
        k += (int)n;
    }
    return k;
}

static void run_capture(clg_context *ctx, int kind) {
    cap_model cap, eager;
    cap_init(ctx, &cap, kind);
    cap_init(ctx, &eager, kind);
    enum { MAXV = 1 + CN * CT * CF + 2 * CF * 4 * CH + CH * 4 * CH + 2 * 4 * CH + CN * CH + 64 };
    static float vc[MAXV], ve[MAXV];

    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *loss = cap_step(&cap, kind);
    clg_step *step = clg_step_capture_end(ctx);
    if (!step) fail_msg("capture: %s", clg_last_error());

    for (int round = 0; round < 3; round++) {
        /* New inputs each round: the replay must follow them. */
        float x[CN * CT * CF];
        clg_test_random_floats(x, CN * CT * CF, 500u + (uint32_t)round);
        assert_int_equal(clg_tensor_write(cap.x, x, sizeof x), CLG_OK);
        assert_int_equal(clg_tensor_write(eager.x, x, sizeof x), CLG_OK);
        assert_int_equal(clg_step_replay(step), CLG_OK);
        int n = cap_read(&cap, loss, vc);
        clg_tensor *le = cap_step(&eager, kind);
        int ne = cap_read(&eager, le, ve);
        clg_tensor_free(le);
        assert_int_equal(n, ne);
        for (int i = 0; i < n; i++)
            if (!(fabs(vc[i] - ve[i]) <= 1e-6 * (1 + fabs(ve[i]))))
                fail_msg("cell %d round %d: replay value %d = %.9g, eager %.9g", kind, round, i,
                         (double)vc[i], (double)ve[i]);
    }
    clg_tensor_free(loss);
    clg_step_free(step);
    cap_free(&cap);
    cap_free(&eager);
}

static void test_capture_replay(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    run_capture(ctx, LSTM);
    run_capture(ctx, GRU);
    run_capture(ctx, SIMPLE);
}

/* --- bad input ------------------------------------------------------------------------------ */

static void test_bad_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const clg_status INV = CLG_STATUS_INVALID_ARGUMENT, SHP = CLG_STATUS_SHAPE_MISMATCH;
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, (int64_t[]){2, 4, 3});
    clg_tensor *x2 = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 3});
    clg_tensor *xi = clg_tensor_zeros(ctx, CLG_INT32, 3, (int64_t[]){2, 4, 3});
    clg_tensor *w = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){3, 20});
    clg_tensor *w_f = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 20});
    clg_tensor *w_odd = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){3, 18});
    clg_tensor *wi = clg_tensor_zeros(ctx, CLG_INT32, 2, (int64_t[]){3, 20});
    clg_tensor *u = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){5, 20});
    clg_tensor *u_bad = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 20});
    clg_tensor *b_bad = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){16});
    clg_tensor *h_bad = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 4});
    clg_tensor *c_bad = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){3, 5});
    clg_tensor *m_bad = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 3});
    clg_tensor *mi = clg_tensor_zeros(ctx, CLG_INT32, 2, (int64_t[]){2, 4});
    clg_tensor *gw = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){3, 15});
    clg_tensor *gu = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){5, 15});
    clg_tensor *gb1 = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){15});
    clg_tensor *sw = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){3, 5});
    clg_tensor *su_bad = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){5, 4});
    clg_tensor *su = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){5, 5});
    clg_tensor *hl = NULL, *cl = NULL;

    CLG_EXPECT_ERROR(!clg_lstm(NULL, w, u, NULL, NULL, NULL, NULL, 0, &hl, &cl), INV, "clg_lstm", "x", "NULL");
    assert_null(hl);
    assert_null(cl);
    CLG_EXPECT_ERROR(!clg_lstm(x2, w, u, NULL, NULL, NULL, NULL, 0, NULL, NULL), INV, "clg_lstm", "x",
                     "rank 2", "[4,3]");
    CLG_EXPECT_ERROR(!clg_lstm(xi, w, u, NULL, NULL, NULL, NULL, 0, NULL, NULL), INV, "clg_lstm", "x", "int32");
    CLG_EXPECT_ERROR(!clg_lstm(x, NULL, u, NULL, NULL, NULL, NULL, 0, NULL, NULL), INV, "clg_lstm", "kernel",
                     "NULL");
    CLG_EXPECT_ERROR(!clg_lstm(x, w_f, u, NULL, NULL, NULL, NULL, 0, NULL, NULL), SHP, "clg_lstm", "kernel",
                     "[4,20]", "[3, 4*units]");
    CLG_EXPECT_ERROR(!clg_lstm(x, w_odd, u, NULL, NULL, NULL, NULL, 0, NULL, NULL), SHP, "clg_lstm", "kernel",
                     "[3,18]");
    CLG_EXPECT_ERROR(!clg_lstm(x, wi, u, NULL, NULL, NULL, NULL, 0, NULL, NULL), INV, "clg_lstm", "kernel",
                     "int32");
    CLG_EXPECT_ERROR(!clg_lstm(x, w, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL), INV, "clg_lstm",
                     "recurrent_kernel", "NULL");
    CLG_EXPECT_ERROR(!clg_lstm(x, w, u_bad, NULL, NULL, NULL, NULL, 0, NULL, NULL), SHP, "clg_lstm",
                     "recurrent_kernel", "[4,20]", "[5,20]");
    CLG_EXPECT_ERROR(!clg_lstm(x, w, u, b_bad, NULL, NULL, NULL, 0, NULL, NULL), SHP, "clg_lstm", "bias",
                     "[16]", "[20]");
    CLG_EXPECT_ERROR(!clg_lstm(x, w, u, NULL, h_bad, NULL, NULL, 0, NULL, NULL), SHP, "clg_lstm", "h0",
                     "[2,4]", "[2,5]");
    CLG_EXPECT_ERROR(!clg_lstm(x, w, u, NULL, NULL, c_bad, NULL, 0, NULL, NULL), SHP, "clg_lstm", "c0",
                     "[3,5]", "[2,5]");
    CLG_EXPECT_ERROR(!clg_lstm(x, w, u, NULL, NULL, NULL, m_bad, 0, NULL, NULL), SHP, "clg_lstm", "mask",
                     "[2,3]", "[2,4]");
    CLG_EXPECT_ERROR(!clg_lstm(x, w, u, NULL, NULL, NULL, mi, 0, NULL, NULL), INV, "clg_lstm", "mask",
                     "int32");

    CLG_EXPECT_ERROR(!clg_gru(x, gw, gu, gb1, NULL, NULL, 0, &hl), INV, "clg_gru", "bias", "[15]", "[2,15]");
    assert_null(hl);
    CLG_EXPECT_ERROR(!clg_gru(x, gw, u, NULL, NULL, NULL, 0, NULL), SHP, "clg_gru", "recurrent_kernel",
                     "[5,20]", "[5,15]");
    CLG_EXPECT_ERROR(!clg_gru(x, w, gu, NULL, NULL, NULL, 0, NULL), SHP, "clg_gru", "kernel", "[3,20]",
                     "3*units");
    CLG_EXPECT_ERROR(!clg_gru(x, gw, gu, NULL, h_bad, NULL, 0, NULL), SHP, "clg_gru", "h0", "[2,4]");
    CLG_EXPECT_ERROR(!clg_gru(x2, gw, gu, NULL, NULL, NULL, 0, NULL), INV, "clg_gru", "x", "rank 2");

    CLG_EXPECT_ERROR(!clg_simple_rnn(x, sw, su_bad, NULL, NULL, NULL, 0, NULL), SHP, "clg_simple_rnn",
                     "recurrent_kernel", "[5,4]", "[5,5]");
    CLG_EXPECT_ERROR(!clg_simple_rnn(x, sw, u, NULL, NULL, NULL, 0, NULL), SHP, "clg_simple_rnn",
                     "recurrent_kernel", "[5,20]", "[5,5]");
    CLG_EXPECT_ERROR(!clg_simple_rnn(x, sw, su, gb1, NULL, NULL, 0, NULL), SHP, "clg_simple_rnn", "bias",
                     "[15]", "[5]");
    CLG_EXPECT_ERROR(!clg_simple_rnn(x, sw, su, NULL, NULL, m_bad, 0, NULL), SHP, "clg_simple_rnn", "mask",
                     "[2,3]");

    clg_tensor *all[] = {x, x2, xi, w, w_f, w_odd, wi, u, u_bad, b_bad, h_bad, c_bad, m_bad, mi, gw, gu, gb1,
                         sw, su_bad, su};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm),          cmocka_unit_test(test_gru),
        cmocka_unit_test(test_simple_rnn),    cmocka_unit_test(test_mask_semantics),
        cmocka_unit_test(test_strided_inputs), cmocka_unit_test(test_capture_replay),
        cmocka_unit_test(test_bad_input),
    };
    return CLG_RUN_GROUP(tests);
}
