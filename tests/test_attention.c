/* Scaled dot-product attention against a host reference in double, gradients
 * for q, k and v against central finite differences of it (opcheck), and the
 * position and mask tables against their formulas.
 *
 * Covered (B=2, H=2, Tq=3, Tk=4, D=5, Dv=3 unless said): no mask (and strided
 * views); a key-padding mask [B,1,1,Tk]; a full [B,H,Tq,Tk] mask with a fully
 * masked row (zeros, zero gradients); causal with Tq == Tk and Tq < Tk, and
 * causal together with a rank-2 mask; Tq > Tk causal (rows with no key); a custom
 * scale; rows of 160 keys (the work-group-per-row kernels); the weights_out values (and gradients through them); dropout against
 * the same uniforms drawn on the host side; heads given as permuted views with a
 * lazy q and a lazy mask; replay of a captured step against eager runs on new
 * data; bad input naming the op and the tensor.
 *
 * Tolerances:
 * - forward: 2e-5 + 1e-4 |ref| (O(1) values through exp and two short float32
 *   dot products, a few ulp each).
 * - gradients: 1e-3 + 1e-3 |ref| (opcheck's default: float32 backward against
 *   double central differences; a wrong rule gives errors of order 0.1).
 * - tables: 1e-6 (computed in double on the host, rounded once to float32).
 * - replay against eager: 1e-6 (the same kernels on the same data). */
#include "opcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { MAXE = 1024, MAXT = 256 };

typedef struct sdpa_case {
    int64_t B, H, Tq, Tk, D, Dv;
    int mask_nd;                /* 0: no mask */
    int64_t mask_shape[4];
    float maskv[MAXE];
    int causal;
    float scale;                /* 0: 1/sqrt(D) */
    float rate;                 /* dropout */
    uint64_t seed;
    float u[MAXE];              /* the dropout uniforms, [B,H,Tq,Tk] row-major */
    int weights;                /* 1: the op under test returns the weights */
} sdpa_case;

/* The mask value at (b, h, i, j), broadcast from its shape. */
static double mask_at(const sdpa_case *c, int64_t b, int64_t h, int64_t i, int64_t j) {
    int64_t idx[4] = {b, h, i, j}, off = 0;
    for (int a = 0; a < c->mask_nd; a++) {
        int64_t e = c->mask_shape[a], x = idx[4 - c->mask_nd + a];
        off = off * e + (e == 1 ? 0 : x);
    }
    return c->maskv[off];
}

static float eff_scale(const sdpa_case *c) {
    return c->scale != 0.0f ? c->scale : (float)(1.0 / sqrt((double)c->D));
}

/* out [B,H,Tq,Dv] (or the weights [B,H,Tq,Tk]) from q, k, v in double. */
static void sdpa_host(const double *const *in, double *out, const void *pp) {
    const sdpa_case *c = pp;
    const double *q = in[0], *k = in[1], *v = in[2];
    double scale = eff_scale(c), drop_scale = (double)(1.0f / (1.0f - c->rate));
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->H; h++)
            for (int64_t i = 0; i < c->Tq; i++) {
                int64_t bh = b * c->H + h, row = bh * c->Tq + i;
                double s[MAXT], p[MAXT], mx = -INFINITY, sum = 0;
                int keep[MAXT], any = 0;
                for (int64_t j = 0; j < c->Tk; j++) {
                    keep[j] = !(c->causal && j > i + (c->Tk - c->Tq)) &&
                              !(c->mask_nd && mask_at(c, b, h, i, j) == 0.0);
                    double dot = 0;
                    for (int64_t d = 0; d < c->D; d++)
                        dot += q[row * c->D + d] * k[(bh * c->Tk + j) * c->D + d];
                    s[j] = scale * dot;
                    if (keep[j]) {
                        mx = fmax(mx, s[j]);
                        any = 1;
                    }
                }
                for (int64_t j = 0; j < c->Tk; j++) {
                    p[j] = any && keep[j] ? exp(s[j] - mx) : 0.0;
                    sum += p[j];
                }
                for (int64_t j = 0; j < c->Tk; j++) p[j] = any ? p[j] / sum : 0.0;
                if (c->weights) {
                    for (int64_t j = 0; j < c->Tk; j++) out[row * c->Tk + j] = p[j];
                    continue;
                }
                if (c->rate > 0)
                    for (int64_t j = 0; j < c->Tk; j++)
                        p[j] *= c->u[row * c->Tk + j] >= c->rate ? drop_scale : 0.0;
                for (int64_t e = 0; e < c->Dv; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < c->Tk; j++) acc += p[j] * v[(bh * c->Tk + j) * c->Dv + e];
                    out[row * c->Dv + e] = acc;
                }
            }
}

static clg_tensor *case_mask(clg_context *ctx, const sdpa_case *c) {
    if (!c->mask_nd) return NULL;
    clg_tensor *m = clg_tensor_from_host(ctx, CLG_FLOAT32, c->mask_nd, c->mask_shape, c->maskv);
    assert_non_null(m);
    return m;
}

static clg_tensor *sdpa_dev(clg_tensor *const *in, const void *pp) {
    const sdpa_case *c = pp;
    clg_tensor *mask = case_mask(clg_tensor_context(in[0]), c);
    clg_tensor *w = NULL;
    clg_tensor *o = clg_scaled_dot_product_attention(in[0], in[1], in[2], mask, c->causal, c->scale,
                                                     c->rate, c->seed, c->weights ? &w : NULL);
    clg_tensor_free(mask);
    if (!c->weights) return o;
    clg_tensor_free(o);
    return w;
}

static void run_case(clg_context *ctx, const char *name, sdpa_case *c, int strided, uint32_t seed) {
    opcheck_spec s = opcheck_defaults(name, 3, sdpa_dev, sdpa_host);
    opcheck_input(&s, 0, 4, (int64_t[]){c->B, c->H, c->Tq, c->D}, -1.5f, 1.5f);
    opcheck_input(&s, 1, 4, (int64_t[]){c->B, c->H, c->Tk, c->D}, -1.5f, 1.5f);
    opcheck_input(&s, 2, 4, (int64_t[]){c->B, c->H, c->Tk, c->Dv}, -1, 1);
    if (c->weights) {
        opcheck_output(&s, 4, (int64_t[]){c->B, c->H, c->Tq, c->Tk});
        s.differentiable[2] = 0; /* the weights do not depend on v */
    } else {
        opcheck_output(&s, 4, (int64_t[]){c->B, c->H, c->Tq, c->Dv});
    }
    s.params = c;
    s.fwd_atol = 2e-5;
    s.fwd_rtol = 1e-4;
    s.strided_views = strided;
    s.seed = seed;
    opcheck_run(ctx, &s);
}

static sdpa_case base_case(void) {
    sdpa_case c;
    memset(&c, 0, sizeof c);
    c.B = 2;
    c.H = 2;
    c.Tq = 3;
    c.Tk = 4;
    c.D = 5;
    c.Dv = 3;
    return c;
}

static void test_plain(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    sdpa_case c = base_case();
    run_case(ctx, "sdpa no mask", &c, 1, 1);
    c.scale = 0.7f;
    run_case(ctx, "sdpa scale 0.7", &c, 0, 2);
    c.scale = -0.3f;
    run_case(ctx, "sdpa scale -0.3", &c, 0, 3);
}

static void test_masks(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* Key padding: batch 0 keeps 3 keys, batch 1 keeps 2. */
    sdpa_case c = base_case();
    c.mask_nd = 4;
    memcpy(c.mask_shape, (int64_t[]){2, 1, 1, 4}, sizeof c.mask_shape);
    float pad[8] = {1, 1, 1, 0, 1, 0, 1, 0};
    memcpy(c.maskv, pad, sizeof pad);
    run_case(ctx, "sdpa key padding mask", &c, 1, 4);

    /* A full mask with a fully masked row (b 1, h 0, i 2) and a row keeping one key. */
    c = base_case();
    c.mask_nd = 4;
    memcpy(c.mask_shape, (int64_t[]){2, 2, 3, 4}, sizeof c.mask_shape);
    float r[48];
    clg_test_random_floats(r, 48, 9);
    for (int e = 0; e < 48; e++) c.maskv[e] = r[e] > -0.4f ? 1.0f : 0.0f;
    for (int j = 0; j < 4; j++) c.maskv[((1 * 2 + 0) * 3 + 2) * 4 + j] = 0.0f;
    for (int j = 0; j < 4; j++) c.maskv[((0 * 2 + 1) * 3 + 1) * 4 + j] = j == 2 ? 1.0f : 0.0f;
    run_case(ctx, "sdpa full mask", &c, 0, 5);
    c.weights = 1;
    run_case(ctx, "sdpa full mask weights", &c, 0, 6);
}

static void test_causal(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    sdpa_case c = base_case();
    c.Tk = 3;
    c.causal = 1;
    run_case(ctx, "sdpa causal Tq == Tk", &c, 1, 7);
    c = base_case();
    c.causal = 1;
    run_case(ctx, "sdpa causal Tq < Tk", &c, 0, 8);
    c.weights = 1;
    run_case(ctx, "sdpa causal weights", &c, 0, 9);
    /* Causal and a rank-2 [Tq, Tk] mask together. */
    c = base_case();
    c.causal = 1;
    c.mask_nd = 2;
    memcpy(c.mask_shape, (int64_t[]){3, 4}, 2 * sizeof(int64_t));
    float m[12] = {1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1};
    memcpy(c.maskv, m, sizeof m);
    run_case(ctx, "sdpa causal and mask", &c, 0, 10);
    /* Tq > Tk: the first Tq - Tk queries see no key at all. */
    c = base_case();
    c.Tq = 4;
    c.Tk = 2;
    c.causal = 1;
    run_case(ctx, "sdpa causal Tq > Tk", &c, 0, 11);
}

/* Rows of 160 keys: the work-group-per-row kernels where the device is a GPU
 * or the rows are few (so also on CPUs here), with a mask, causal and a fully
 * masked row. */
static void test_long_rows(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    sdpa_case c = base_case();
    c.B = 1;
    c.Tk = 160;
    c.D = 4;
    c.Dv = 2;
    c.causal = 1;
    c.mask_nd = 3;
    memcpy(c.mask_shape, (int64_t[]){1, 3, 160}, 3 * sizeof(int64_t));
    float r[480];
    clg_test_random_floats(r, 480, 14);
    for (int e = 0; e < 480; e++) c.maskv[e] = r[e] > -0.5f ? 1.0f : 0.0f;
    for (int j = 0; j < 160; j++) c.maskv[160 + j] = 0.0f; /* query 1: no key */
    run_case(ctx, "sdpa long rows", &c, 1, 15);
    c.weights = 1;
    run_case(ctx, "sdpa long rows weights", &c, 0, 16);
}

/* Dropout's mask is clg_dropout's: uniforms of the stream (seed, 0), kept where
 * u >= rate; the reference gets the same uniforms. */
static void test_dropout(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    sdpa_case c = base_case();
    c.rate = 0.4f;
    c.seed = 77;
    c.causal = 1;
    int64_t n = c.B * c.H * c.Tq * c.Tk;
    clg_tensor *u = clg_tensor_rand_uniform(ctx, 1, &n, 0.0f, 1.0f, c.seed, 0);
    assert_non_null(u);
    assert_int_equal(clg_tensor_to_host(u, c.u, (size_t)n * sizeof(float)), CLG_OK);
    clg_tensor_free(u);
    int dropped = 0;
    for (int64_t e = 0; e < n; e++) dropped += c.u[e] < c.rate;
    assert_true(dropped > 0 && dropped < n); /* the case tests something */
    run_case(ctx, "sdpa dropout", &c, 0, 12);
    c.weights = 1; /* the weights are returned before dropout */
    run_case(ctx, "sdpa dropout weights", &c, 0, 13);
}

/* Heads as permuted views of [B, T, H, D] tensors, a lazy q and a lazy mask:
 * the same values as contiguous inputs. */
static void test_views_and_lazy(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    sdpa_case c = base_case();
    c.causal = 1;
    c.mask_nd = 4;
    memcpy(c.mask_shape, (int64_t[]){2, 1, 1, 4}, sizeof c.mask_shape);
    float pad[8] = {1, 1, 0, 1, 1, 1, 1, 0};
    memcpy(c.maskv, pad, sizeof pad);
    enum { NQ = 2 * 2 * 3 * 5, NK = 2 * 2 * 4 * 5, NV = 2 * 2 * 4 * 3 };
    float qf[NQ], kt[NK], vt[NV]; /* k and v stored as [B, Tk, H, D] */
    clg_test_random_floats(qf, NQ, 21);
    clg_test_random_floats(kt, NK, 22);
    clg_test_random_floats(vt, NV, 23);
    double qd[NQ], kd[NK], vd[NV];
    for (int e = 0; e < NQ; e++) qd[e] = 2.0 * (double)qf[e]; /* q is 2 * qf, lazily */
    for (int64_t b = 0; b < 2; b++)
        for (int64_t t = 0; t < 4; t++)
            for (int64_t h = 0; h < 2; h++) {
                for (int64_t d = 0; d < 5; d++) kd[((b * 2 + h) * 4 + t) * 5 + d] = kt[((b * 4 + t) * 2 + h) * 5 + d];
                for (int64_t d = 0; d < 3; d++) vd[((b * 2 + h) * 4 + t) * 3 + d] = vt[((b * 4 + t) * 2 + h) * 3 + d];
            }
    double ref[2 * 2 * 3 * 3];
    const double *hin[3] = {qd, kd, vd};
    sdpa_host(hin, ref, &c);

    clg_tensor *q0 = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 2, 3, 5}, qf);
    clg_tensor *kb = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 4, 2, 5}, kt);
    clg_tensor *vb = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 4, 2, 3}, vt);
    /* The mask as 3 * m > 1.5, a lazy expression of a [B,1,1,Tk] tensor. */
    clg_tensor *m0 = case_mask(ctx, &c);
    clg_tensor *m3 = clg_mul_scalar(m0, 3.0f);
    clg_tensor *half = clg_tensor_full(ctx, CLG_FLOAT32, 0, NULL, 1.5);
    clg_tensor *mask = clg_gt(m3, half);
    clg_tensor *q = clg_mul_scalar(q0, 2.0f);
    int perm[4] = {0, 2, 1, 3};
    clg_tensor *k = clg_tensor_permute(kb, perm), *v = clg_tensor_permute(vb, perm);
    assert_true(q && k && v && mask);
    assert_false(clg_tensor_is_contiguous(k));
    clg_tensor *o = clg_scaled_dot_product_attention(q, k, v, mask, 1, 0.0f, 0.0f, 0, NULL);
    if (!o) fail_msg("%s", clg_last_error());
    float got[2 * 2 * 3 * 3];
    assert_int_equal(clg_tensor_to_host(o, got, sizeof got), CLG_OK);
    for (int e = 0; e < 36; e++)
        if (!(fabs(got[e] - ref[e]) <= 2e-5 + 1e-4 * fabs(ref[e])))
            fail_msg("views: output %d is %.9g, reference %.9g", e, (double)got[e], ref[e]);
    clg_tensor *all[] = {q0, kb, vb, m0, m3, half, mask, q, k, v, o};
    for (int i = 0; i < 11; i++) clg_tensor_free(all[i]);
}

/* --- captured step ---------------------------------------------------------------------- */

enum { CB = 2, CH = 2, CTQ = 3, CTK = 4, CD = 5, CDV = 3 };
enum { NQ = CB * CH * CTQ * CD, NK = CB * CH * CTK * CD, NV = CB * CH * CTK * CDV };
enum { NO = CB * CH * CTQ * CDV, NW = CB * CH * CTQ * CTK };

typedef struct cap_model {
    clg_tensor *q, *k, *v, *mask, *wo, *ww;
} cap_model;

static void cap_init(clg_context *ctx, cap_model *m) {
    float q[NQ], k[NK], v[NV], wo[NO], ww[NW], mask[CB * CTK] = {1, 1, 0, 1, 1, 1, 1, 0};
    clg_test_random_floats(q, NQ, 31);
    clg_test_random_floats(k, NK, 32);
    clg_test_random_floats(v, NV, 33);
    clg_test_random_floats(wo, NO, 34);
    clg_test_random_floats(ww, NW, 35);
    m->q = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){CB, CH, CTQ, CD}, q);
    m->k = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){CB, CH, CTK, CD}, k);
    m->v = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){CB, CH, CTK, CDV}, v);
    m->mask = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){CB, 1, 1, CTK}, mask);
    m->wo = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){CB, CH, CTQ, CDV}, wo);
    m->ww = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){CB, CH, CTQ, CTK}, ww);
    clg_tensor *params[] = {m->q, m->k, m->v};
    for (int i = 0; i < 3; i++) {
        assert_non_null(params[i]);
        assert_int_equal(clg_tensor_set_requires_grad(params[i], 1), CLG_OK);
    }
    assert_true(m->mask && m->wo && m->ww);
}

static void cap_free(cap_model *m) {
    clg_tensor *all[] = {m->q, m->k, m->v, m->mask, m->wo, m->ww};
    for (int i = 0; i < 6; i++) clg_tensor_free(all[i]);
}

/* Zero the gradients, loss = sum(wo o) + sum(ww weights) with causal attention,
 * a mask and dropout, backward. Returns the loss. */
static clg_tensor *cap_step(cap_model *m) {
    clg_tensor *params[] = {m->q, m->k, m->v};
    for (int i = 0; i < 3; i++) clg_tensor_zero_grad(params[i]);
    clg_tensor *w = NULL;
    clg_tensor *o = clg_scaled_dot_product_attention(m->q, m->k, m->v, m->mask, 1, 0.0f, 0.25f, 5, &w);
    if (!o) fail_msg("%s", clg_last_error());
    clg_tensor *po = clg_mul(o, m->wo), *pw = clg_mul(w, m->ww);
    clg_tensor *l1 = clg_sum(po, 0, NULL, 0), *l2 = clg_sum(pw, 0, NULL, 0);
    clg_tensor *loss = clg_add(l1, l2);
    assert_non_null(loss);
    clg_tensor *mid[] = {o, w, po, pw, l1, l2};
    for (int i = 0; i < 6; i++) clg_tensor_free(mid[i]);
    if (clg_backward(loss, NULL) != CLG_OK) fail_msg("backward: %s", clg_last_error());
    return loss;
}

static int cap_read(const cap_model *m, clg_tensor *loss, float *out) {
    int n = 0;
    assert_int_equal(clg_tensor_to_host(loss, out, sizeof(float)), CLG_OK);
    n++;
    const clg_tensor *params[] = {m->q, m->k, m->v};
    for (int i = 0; i < 3; i++) {
        const clg_tensor *g = clg_tensor_grad(params[i]);
        assert_non_null(g);
        int64_t e = clg_tensor_numel(g);
        assert_int_equal(clg_tensor_to_host(g, out + n, (size_t)e * sizeof(float)), CLG_OK);
        n += (int)e;
    }
    return n;
}

static void test_capture_replay(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    cap_model cap, eager;
    cap_init(ctx, &cap);
    cap_init(ctx, &eager);
    static float vc[1 + NQ + NK + NV], ve[1 + NQ + NK + NV];

    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *loss = cap_step(&cap);
    clg_step *step = clg_step_capture_end(ctx);
    if (!step) fail_msg("capture: %s", clg_last_error());

    for (int round = 0; round < 3; round++) {
        /* New queries each round: the replay must follow them. */
        float q[NQ];
        clg_test_random_floats(q, NQ, 600u + (uint32_t)round);
        assert_int_equal(clg_tensor_write(cap.q, q, sizeof q), CLG_OK);
        assert_int_equal(clg_tensor_write(eager.q, q, sizeof q), CLG_OK);
        assert_int_equal(clg_step_replay(step), CLG_OK);
        int n = cap_read(&cap, loss, vc);
        clg_tensor *le = cap_step(&eager);
        int ne = cap_read(&eager, le, ve);
        clg_tensor_free(le);
        assert_int_equal(n, ne);
        for (int i = 0; i < n; i++)
            if (!(fabs(vc[i] - ve[i]) <= 1e-6 * (1 + fabs(ve[i]))))
                fail_msg("round %d: replay value %d = %.9g, eager %.9g", round, i, (double)vc[i],
                         (double)ve[i]);
        if (round == 0) assert_true(fabs(vc[0]) > 1e-3); /* a loss that depends on something */
    }
    clg_tensor_free(loss);
    clg_step_free(step);
    cap_free(&cap);
    cap_free(&eager);
}

/* --- tables ------------------------------------------------------------------------------ */

static void check_positions(clg_context *ctx, int64_t length, int64_t dim) {
    clg_tensor *t = clg_sinusoidal_positions(ctx, length, dim);
    if (!t) fail_msg("%s", clg_last_error());
    assert_int_equal(clg_tensor_ndim(t), 2);
    assert_true(clg_tensor_shape(t)[0] == length && clg_tensor_shape(t)[1] == dim);
    assert_false(clg_tensor_requires_grad(t));
    float *got = malloc((size_t)(length * dim) * sizeof(float));
    assert_non_null(got);
    assert_int_equal(clg_tensor_to_host(t, got, (size_t)(length * dim) * sizeof(float)), CLG_OK);
    for (int64_t pos = 0; pos < length; pos++)
        for (int64_t i = 0; 2 * i < dim; i++) {
            double angle = (double)pos / pow(10000.0, (double)(2 * i) / (double)dim);
            double s = sin(angle), c = cos(angle);
            double gs = got[pos * dim + 2 * i];
            if (!(fabs(gs - s) <= 1e-6)) fail_msg("PE[%lld, %lld] = %.9g, sin = %.9g", (long long)pos, (long long)(2 * i), gs, s);
            if (2 * i + 1 < dim) {
                double gc = got[pos * dim + 2 * i + 1];
                if (!(fabs(gc - c) <= 1e-6))
                    fail_msg("PE[%lld, %lld] = %.9g, cos = %.9g", (long long)pos, (long long)(2 * i + 1), gc, c);
            }
        }
    free(got);
    clg_tensor_free(t);
}

static void test_tables(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    check_positions(ctx, 7, 6);
    check_positions(ctx, 50, 5); /* odd dim, large angles */
    clg_tensor *e = clg_sinusoidal_positions(ctx, 0, 4);
    assert_non_null(e);
    assert_int_equal(clg_tensor_numel(e), 0);
    clg_tensor_free(e);

    for (int which = 0; which < 2; which++) {
        int64_t tq = which ? 4 : 3, tk = which ? 3 : 4;
        clg_tensor *m = clg_causal_mask(ctx, tq, tk);
        if (!m) fail_msg("%s", clg_last_error());
        float got[12];
        assert_int_equal(clg_tensor_to_host(m, got, sizeof got), CLG_OK);
        for (int64_t i = 0; i < tq; i++)
            for (int64_t j = 0; j < tk; j++)
                if (got[i * tk + j] != (j <= i + tk - tq ? 1.0f : 0.0f))
                    fail_msg("causal mask [%lld,%lld] at (%lld, %lld) = %g", (long long)tq, (long long)tk,
                             (long long)i, (long long)j, (double)got[i * tk + j]);
        clg_tensor_free(m);
    }

    /* The causal flag and clg_causal_mask give the same result. */
    sdpa_case c = base_case();
    float qf[60], kf[80], vf[48];
    clg_test_random_floats(qf, 60, 51);
    clg_test_random_floats(kf, 80, 52);
    clg_test_random_floats(vf, 48, 53);
    clg_tensor *q = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){c.B, c.H, c.Tq, c.D}, qf);
    clg_tensor *k = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){c.B, c.H, c.Tk, c.D}, kf);
    clg_tensor *v = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, (int64_t[]){c.B, c.H, c.Tk, c.Dv}, vf);
    clg_tensor *cm = clg_causal_mask(ctx, c.Tq, c.Tk);
    clg_tensor *a = clg_scaled_dot_product_attention(q, k, v, NULL, 1, 0.0f, 0.0f, 0, NULL);
    clg_tensor *b = clg_scaled_dot_product_attention(q, k, v, cm, 0, 0.0f, 0.0f, 0, NULL);
    assert_true(a && b);
    float ga[36], gb[36];
    assert_int_equal(clg_tensor_to_host(a, ga, sizeof ga), CLG_OK);
    assert_int_equal(clg_tensor_to_host(b, gb, sizeof gb), CLG_OK);
    for (int i = 0; i < 36; i++) assert_true(ga[i] == gb[i]);
    clg_tensor *all[] = {q, k, v, cm, a, b};
    for (int i = 0; i < 6; i++) clg_tensor_free(all[i]);
}

/* --- bad input ------------------------------------------------------------------------------ */

static void test_bad_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const clg_status INV = CLG_STATUS_INVALID_ARGUMENT, SHP = CLG_STATUS_SHAPE_MISMATCH;
    const char *OP = "clg_scaled_dot_product_attention";
    clg_tensor *q = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 2, 3, 5});
    clg_tensor *k = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 2, 4, 5});
    clg_tensor *v = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 2, 4, 3});
    clg_tensor *q3 = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, (int64_t[]){2, 3, 5});
    clg_tensor *qi = clg_tensor_zeros(ctx, CLG_INT32, 4, (int64_t[]){2, 2, 3, 5});
    clg_tensor *k_d = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 2, 4, 6});
    clg_tensor *v_t = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 2, 5, 3});
    clg_tensor *k_b = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){3, 2, 4, 5});
    clg_tensor *v_h = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 1, 4, 3});
    clg_tensor *m_bad = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, (int64_t[]){2, 1, 3, 5});
    clg_tensor *m_rank = clg_tensor_zeros(ctx, CLG_FLOAT32, 5, (int64_t[]){1, 2, 1, 1, 4});
    clg_tensor *m_int = clg_tensor_zeros(ctx, CLG_INT32, 2, (int64_t[]){3, 4});
    clg_tensor *w = q; /* overwritten with NULL on failure */

    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(NULL, k, v, NULL, 0, 0, 0, 0, &w), INV, OP, "q",
                     "NULL");
    assert_null(w);
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q3, k, v, NULL, 0, 0, 0, 0, NULL), INV, OP, "q",
                     "[2,3,5]", "rank 3", "rank 4");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(qi, k, v, NULL, 0, 0, 0, 0, NULL), INV, OP, "q",
                     "int32", "float32");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, NULL, v, NULL, 0, 0, 0, 0, NULL), INV, OP, "k",
                     "NULL");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, k, q3, NULL, 0, 0, 0, 0, NULL), INV, OP, "v",
                     "rank 3");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, k_d, v, NULL, 0, 0, 0, 0, NULL), SHP, OP,
                     "key dimensions D", "[2,2,3,5]", "[2,2,4,6]");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, k, v_t, NULL, 0, 0, 0, 0, NULL), SHP, OP,
                     "key counts Tk", "k", "v", "[2,2,5,3]");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, k_b, v, NULL, 0, 0, 0, 0, NULL), SHP, OP,
                     "batch sizes B", "[3,2,4,5]");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, k, v_h, NULL, 0, 0, 0, 0, NULL), SHP, OP,
                     "head counts H", "v", "[2,1,4,3]");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, k, v, m_bad, 0, 0, 0, 0, NULL), SHP, OP,
                     "mask", "[2,1,3,5]", "[2,2,3,4]");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, k, v, m_rank, 0, 0, 0, 0, NULL), SHP, OP,
                     "mask", "[1,2,1,1,4]");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, k, v, m_int, 0, 0, 0, 0, NULL), INV, OP, "mask",
                     "int32");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, k, v, NULL, 0, NAN, 0, 0, NULL), INV, OP,
                     "scale");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, k, v, NULL, 0, 0, 1.0f, 0, NULL), INV, OP,
                     "dropout_rate");
    CLG_EXPECT_ERROR(!clg_scaled_dot_product_attention(q, k, v, NULL, 0, 0, -0.1f, 0, NULL), INV, OP,
                     "dropout_rate");
    CLG_EXPECT_ERROR(!clg_causal_mask(ctx, -1, 3), INV, "clg_causal_mask", "-1");
    CLG_EXPECT_ERROR(!clg_causal_mask(NULL, 1, 3), INV, "clg_causal_mask", "NULL");
    CLG_EXPECT_ERROR(!clg_sinusoidal_positions(ctx, 4, -2), INV, "clg_sinusoidal_positions", "-2");

    clg_tensor *all[] = {q, k, v, q3, qi, k_d, v_t, k_b, v_h, m_bad, m_rank, m_int};
    for (int i = 0; i < 12; i++) clg_tensor_free(all[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),          cmocka_unit_test(test_masks),
        cmocka_unit_test(test_causal),         cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_long_rows),
        cmocka_unit_test(test_views_and_lazy), cmocka_unit_test(test_capture_replay),
        cmocka_unit_test(test_tables),         cmocka_unit_test(test_bad_input),
    };
    return CLG_RUN_GROUP(tests);
}
