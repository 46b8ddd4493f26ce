/* Shape ops: concat, stack, split, pad, gather, index_select, one_hot, embedding,
 * each forward against a host reference and (where differentiable) gradients
 * against finite differences; size-0 and size-1 dimensions, strided views,
 * repeated and out-of-range indices, determinism of the scatter-add gradients,
 * and bad input.
 *
 * Tolerances: forward values are copies, so they must match exactly (0, 0);
 * gradients 1e-3 + 1e-3 |ref| (float32 sums of a few terms against float64
 * finite differences); the determinism test demands bit-identical results. */
#include "opcheck.h"

#include <math.h>
#include <stdlib.h>

/* --- host helpers ------------------------------------------------------------------------- */

static void unravel(int64_t k, int nd, const int64_t *shape, int64_t *c) {
    for (int d = nd - 1; d >= 0; d--) {
        c[d] = k % shape[d];
        k /= shape[d];
    }
}

static int64_t ravel(int nd, const int64_t *shape, const int64_t *c) {
    int64_t k = 0;
    for (int d = 0; d < nd; d++) k = k * shape[d] + c[d];
    return k;
}

static opcheck_spec exact(opcheck_spec s) {
    s.fwd_atol = s.fwd_rtol = 0;
    return s;
}

static void read_floats(const clg_tensor *t, float *out, size_t n) {
    assert_non_null(t);
    assert_int_equal(clg_tensor_numel(t), (int64_t)n);
    assert_int_equal(clg_tensor_to_host(t, out, n * sizeof(float)), CLG_OK);
}

/* --- concat ----------------------------------------------------------------------------------- */

typedef struct concat_params {
    int n, axis, nd;
    int64_t shape[3][CLG_MAX_DIMS], out[CLG_MAX_DIMS];
} concat_params;

static clg_tensor *concat_dev(clg_tensor *const *in, const void *p) {
    const concat_params *c = p;
    return clg_concat(c->n, (const clg_tensor *const *)in, c->axis);
}

static void concat_host(const double *const *in, double *out, const void *p) {
    const concat_params *c = p;
    int a = c->axis < 0 ? c->axis + c->nd : c->axis;
    int64_t total = opcheck_numel(c->nd, c->out), co[CLG_MAX_DIMS];
    for (int64_t k = 0; k < total; k++) {
        unravel(k, c->nd, c->out, co);
        int i = 0;
        while (co[a] >= c->shape[i][a]) co[a] -= c->shape[i++][a];
        out[k] = in[i][ravel(c->nd, c->shape[i], co)];
    }
}

static void check_concat(clg_context *ctx, int nd, const int64_t *base, int axis, const int64_t *ext,
                         uint32_t seed) {
    concat_params c;
    memset(&c, 0, sizeof c);
    c.n = 3;
    c.axis = axis;
    c.nd = nd;
    int a = axis < 0 ? axis + nd : axis;
    opcheck_spec s = exact(opcheck_defaults("concat", 3, concat_dev, concat_host));
    memcpy(c.out, base, (size_t)nd * sizeof *base);
    c.out[a] = 0;
    for (int i = 0; i < 3; i++) {
        memcpy(c.shape[i], base, (size_t)nd * sizeof *base);
        c.shape[i][a] = ext[i];
        c.out[a] += ext[i];
        opcheck_input(&s, i, nd, c.shape[i], -2, 2);
    }
    opcheck_output(&s, nd, c.out);
    s.params = &c;
    s.strided_views = 1;
    s.seed = seed;
    opcheck_run(ctx, &s);
}

static void test_concat(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t base[3] = {2, 3, 4};
    /* Each axis, one input of extent 1 along it; the last axis given as -1. */
    check_concat(ctx, 3, base, 0, (int64_t[]){2, 1, 3}, 10);
    check_concat(ctx, 3, base, 1, (int64_t[]){1, 2, 3}, 11);
    check_concat(ctx, 3, base, -1, (int64_t[]){3, 2, 1}, 12);
    /* An empty input, and a 1-D concat. */
    check_concat(ctx, 3, base, 1, (int64_t[]){2, 0, 1}, 13);
    check_concat(ctx, 1, (int64_t[]){0}, 0, (int64_t[]){4, 1, 0}, 14);
}

/* int32 (no gradient) and a size-0 result. */
static void test_concat_int32_and_empty(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int32_t av[4] = {1, 2, 3, 4}, bv[2] = {-5, -6};
    clg_tensor *a = clg_tensor_from_host(ctx, CLG_INT32, 2, (int64_t[]){2, 2}, av);
    clg_tensor *b = clg_tensor_from_host(ctx, CLG_INT32, 2, (int64_t[]){2, 1}, bv);
    const clg_tensor *xs[2] = {a, b};
    clg_tensor *y = clg_concat(2, xs, 1);
    assert_non_null(y);
    assert_int_equal(clg_tensor_dtype(y), CLG_INT32);
    int32_t got[6], want[6] = {1, 2, -5, 3, 4, -6};
    assert_int_equal(clg_tensor_to_host(y, got, sizeof got), CLG_OK);
    assert_memory_equal(got, want, sizeof want);
    clg_tensor_free(y);
    /* Two empty inputs give an empty result. */
    clg_tensor *e1 = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){0, 3});
    clg_tensor *e2 = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){0, 2});
    const clg_tensor *es[2] = {e1, e2};
    y = clg_concat(2, es, 1);
    assert_non_null(y);
    assert_int_equal(clg_tensor_shape(y)[0], 0);
    assert_int_equal(clg_tensor_shape(y)[1], 5);
    clg_tensor_free(y);
    clg_tensor_free(e1);
    clg_tensor_free(e2);
    clg_tensor_free(a);
    clg_tensor_free(b);
}

/* More inputs than one node holds: the recorded tree hands each its slice. */
static void test_concat_many_inputs(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 40 };
    clg_tensor *xs[N];
    float host[N][2], seedv[N * 2 + N];
    int64_t row[2] = {1, 2};
    for (int i = 0; i < N; i++) {
        row[0] = 1 + (i % 2); /* extents 1 and 2 alternate */
        host[i][0] = (float)i;
        host[i][1] = (float)-i;
        float v[4] = {(float)i, (float)-i, (float)(i + 100), (float)(-i - 100)};
        xs[i] = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, row, v);
        assert_non_null(xs[i]);
        if (i != 7) assert_int_equal(clg_tensor_set_requires_grad(xs[i], 1), CLG_OK);
    }
    clg_tensor *y = clg_concat(N, (const clg_tensor *const *)xs, 0);
    assert_non_null(y);
    int64_t rows = clg_tensor_shape(y)[0];
    assert_int_equal(rows, N + N / 2);
    float got[(N + N / 2) * 2];
    read_floats(y, got, (size_t)rows * 2);
    clg_test_random_floats(seedv, (size_t)rows * 2, 99);
    clg_tensor *seed = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){rows, 2}, seedv);
    assert_int_equal(clg_backward(y, seed), CLG_OK);
    int64_t r = 0;
    for (int i = 0; i < N; i++) {
        int ext = 1 + (i % 2);
        assert_true(got[r * 2] == host[i][0] && got[r * 2 + 1] == host[i][1]);
        if (i == 7) {
            assert_null(clg_tensor_grad(xs[i]));
        } else {
            float g[4];
            read_floats(clg_tensor_grad(xs[i]), g, (size_t)ext * 2);
            assert_memory_equal(g, &seedv[r * 2], (size_t)ext * 2 * sizeof(float));
        }
        r += ext;
    }
    clg_tensor_free(seed);
    clg_tensor_free(y);
    for (int i = 0; i < N; i++) clg_tensor_free(xs[i]);
}

/* --- stack, split ------------------------------------------------------------------------------ */

typedef struct stack_params {
    int axis;
    int64_t in[2], out[3];
} stack_params;

static clg_tensor *stack_dev(clg_tensor *const *in, const void *p) {
    const stack_params *c = p;
    return clg_stack(3, (const clg_tensor *const *)in, c->axis);
}

static void stack_host(const double *const *in, double *out, const void *p) {
    const stack_params *c = p;
    int a = c->axis < 0 ? c->axis + 3 : c->axis;
    int64_t co[3], ci[2];
    for (int64_t k = 0; k < opcheck_numel(3, c->out); k++) {
        unravel(k, 3, c->out, co);
        for (int d = 0, j = 0; d < 3; d++)
            if (d != a) ci[j++] = co[d];
        out[k] = in[co[a]][ravel(2, c->in, ci)];
    }
}

static void test_stack(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int axes[3] = {0, 1, -1};
    for (int t = 0; t < 3; t++) {
        stack_params c = {axes[t], {2, 3}, {0}};
        int a = axes[t] < 0 ? axes[t] + 3 : axes[t];
        for (int d = 0, j = 0; d < 3; d++) c.out[d] = d == a ? 3 : c.in[j++];
        opcheck_spec s = exact(opcheck_defaults("stack", 3, stack_dev, stack_host));
        for (int i = 0; i < 3; i++) opcheck_input(&s, i, 2, c.in, -2, 2);
        opcheck_output(&s, 3, c.out);
        s.params = &c;
        s.strided_views = 1;
        s.seed = 20 + (uint32_t)t;
        opcheck_run(ctx, &s);
    }
}

/* split x [4,5] along 1 into {2,0,3}, reassembled as (p2, p1, p0). */
static clg_tensor *split_dev(clg_tensor *const *in, const void *p) {
    (void)p;
    clg_tensor *parts[3];
    if (clg_split(in[0], 1, 3, (int64_t[]){2, 0, 3}, parts) != CLG_OK) return NULL;
    const clg_tensor *order[3] = {parts[2], parts[1], parts[0]};
    clg_tensor *y = clg_concat(3, order, 1);
    for (int i = 0; i < 3; i++) clg_tensor_free(parts[i]);
    return y;
}

static void split_host(const double *const *in, double *out, const void *p) {
    (void)p;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 5; c++) out[r * 5 + c] = in[0][r * 5 + (c < 3 ? c + 2 : c - 3)];
}

static void test_split(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    opcheck_spec s = exact(opcheck_defaults("split", 1, split_dev, split_host));
    opcheck_input(&s, 0, 2, (int64_t[]){4, 5}, -2, 2);
    opcheck_output(&s, 2, (int64_t[]){4, 5});
    s.strided_views = 1;
    s.seed = 30;
    opcheck_run(ctx, &s);

    /* The parts' values, and a gradient through one view only. */
    float xv[12];
    for (int i = 0; i < 12; i++) xv[i] = (float)i;
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 3}, xv);
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    clg_tensor *parts[2];
    assert_int_equal(clg_split(x, 0, 2, (int64_t[]){1, 3}, parts), CLG_OK);
    assert_int_equal(clg_tensor_shape(parts[0])[0], 1);
    assert_int_equal(clg_tensor_shape(parts[1])[0], 3);
    float p1[9], seedv[9], g[12];
    read_floats(parts[1], p1, 9);
    for (int i = 0; i < 9; i++) assert_true(p1[i] == xv[3 + i]);
    clg_test_random_floats(seedv, 9, 31);
    clg_tensor *seed = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){3, 3}, seedv);
    assert_int_equal(clg_backward(parts[1], seed), CLG_OK);
    read_floats(clg_tensor_grad(x), g, 12);
    for (int i = 0; i < 12; i++) assert_true(g[i] == (i < 3 ? 0.0f : seedv[i - 3]));
    clg_tensor_free(seed);
    for (int i = 0; i < 2; i++) clg_tensor_free(parts[i]);
    clg_tensor_free(x);
}

/* --- pad ---------------------------------------------------------------------------------------- */

typedef struct pad_params {
    int nd;
    int64_t shape[CLG_MAX_DIMS], out[CLG_MAX_DIMS], pads[2 * CLG_MAX_DIMS];
    clg_pad_mode mode;
    float value;
} pad_params;

static clg_tensor *pad_dev(clg_tensor *const *in, const void *p) {
    const pad_params *c = p;
    return clg_pad(in[0], c->pads, c->mode, c->value);
}

static void pad_host(const double *const *in, double *out, const void *p) {
    const pad_params *c = p;
    int64_t co[CLG_MAX_DIMS];
    for (int64_t k = 0; k < opcheck_numel(c->nd, c->out); k++) {
        unravel(k, c->nd, c->out, co);
        int inside = 1;
        for (int d = 0; d < c->nd; d++) {
            int64_t s = co[d] - c->pads[2 * d], n = c->shape[d];
            if (c->mode == CLG_PAD_REFLECT) {
                if (s < 0) s = -s;
                if (s >= n) s = 2 * (n - 1) - s;
            } else if (s < 0 || s >= n) {
                inside = 0;
            }
            co[d] = s;
        }
        out[k] = inside ? in[0][ravel(c->nd, c->shape, co)] : c->value;
    }
}

static void check_pad(clg_context *ctx, int nd, const int64_t *shape, const int64_t *pads,
                      clg_pad_mode mode, uint32_t seed) {
    pad_params c;
    memset(&c, 0, sizeof c);
    c.nd = nd;
    c.mode = mode;
    c.value = 1.5f;
    for (int d = 0; d < nd; d++) {
        c.shape[d] = shape[d];
        c.pads[2 * d] = pads[2 * d];
        c.pads[2 * d + 1] = pads[2 * d + 1];
        c.out[d] = shape[d] + pads[2 * d] + pads[2 * d + 1];
    }
    opcheck_spec s = exact(opcheck_defaults(mode == CLG_PAD_REFLECT ? "pad reflect" : "pad constant", 1,
                                            pad_dev, pad_host));
    opcheck_input(&s, 0, nd, c.shape, -2, 2);
    opcheck_output(&s, nd, c.out);
    s.params = &c;
    s.strided_views = 1;
    s.seed = seed;
    opcheck_run(ctx, &s);
}

static void test_pad(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t s1[1] = {5}, s3[3] = {2, 3, 4}, s3b[3] = {1, 3, 4}, empty[2] = {0, 3};
    check_pad(ctx, 1, s1, (int64_t[]){2, 3}, CLG_PAD_CONSTANT, 40);
    check_pad(ctx, 1, s1, (int64_t[]){4, 2}, CLG_PAD_REFLECT, 41);
    check_pad(ctx, 1, s1, (int64_t[]){0, 4}, CLG_PAD_REFLECT, 42);
    check_pad(ctx, 3, s3, (int64_t[]){1, 0, 0, 2, 1, 1}, CLG_PAD_CONSTANT, 43);
    check_pad(ctx, 3, s3, (int64_t[]){1, 1, 2, 2, 3, 2}, CLG_PAD_REFLECT, 44);
    check_pad(ctx, 3, s3b, (int64_t[]){0, 0, 1, 2, 3, 1}, CLG_PAD_REFLECT, 45); /* extent 1, no pads */
    check_pad(ctx, 2, empty, (int64_t[]){1, 2, 0, 1}, CLG_PAD_CONSTANT, 46);   /* only padding */
    check_pad(ctx, 2, s3, (int64_t[]){0, 0, 0, 0}, CLG_PAD_REFLECT, 47);        /* identity */
}

static void test_pad_int32(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int32_t v[3] = {1, 2, 3};
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_INT32, 1, (int64_t[]){3}, v);
    clg_tensor *c = clg_pad(x, (int64_t[]){1, 2}, CLG_PAD_CONSTANT, -7.9f);
    clg_tensor *r = clg_pad(x, (int64_t[]){2, 2}, CLG_PAD_REFLECT, 0);
    assert_true(c && r);
    int32_t gc[6], gr[7], wc[6] = {-7, 1, 2, 3, -7, -7}, wr[7] = {3, 2, 1, 2, 3, 2, 1};
    assert_int_equal(clg_tensor_to_host(c, gc, sizeof gc), CLG_OK);
    assert_int_equal(clg_tensor_to_host(r, gr, sizeof gr), CLG_OK);
    assert_memory_equal(gc, wc, sizeof wc);
    assert_memory_equal(gr, wr, sizeof wr);
    clg_tensor_free(c);
    clg_tensor_free(r);
    clg_tensor_free(x);
}

/* --- gather, index_select ---------------------------------------------------------------------- */

typedef struct gather_params {
    int nd, axis;
    int64_t x[CLG_MAX_DIMS], index[CLG_MAX_DIMS];
} gather_params;

static clg_tensor *gather_dev(clg_tensor *const *in, const void *p) {
    const gather_params *c = p;
    return clg_gather(in[0], c->axis, in[1]);
}

static void gather_host(const double *const *in, double *out, const void *p) {
    const gather_params *c = p;
    int a = c->axis < 0 ? c->axis + c->nd : c->axis;
    int64_t co[CLG_MAX_DIMS];
    for (int64_t k = 0; k < opcheck_numel(c->nd, c->index); k++) {
        unravel(k, c->nd, c->index, co);
        co[a] = (int64_t)in[1][k];
        out[k] = in[0][ravel(c->nd, c->x, co)];
    }
}

static void check_gather(clg_context *ctx, int nd, const int64_t *x, const int64_t *index, int axis,
                         uint32_t seed) {
    gather_params c;
    memset(&c, 0, sizeof c);
    c.nd = nd;
    c.axis = axis;
    memcpy(c.x, x, (size_t)nd * sizeof *x);
    memcpy(c.index, index, (size_t)nd * sizeof *index);
    int a = axis < 0 ? axis + nd : axis;
    opcheck_spec s = exact(opcheck_defaults("gather", 2, gather_dev, gather_host));
    opcheck_input(&s, 0, nd, c.x, -2, 2);
    opcheck_input(&s, 1, nd, c.index, 0, (float)(x[a] - 1));
    s.integer_input[1] = 1;
    s.differentiable[1] = 0;
    opcheck_output(&s, nd, c.index);
    s.params = &c;
    s.strided_views = 1;
    s.seed = seed;
    opcheck_run(ctx, &s);
}

static void test_gather(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    check_gather(ctx, 2, (int64_t[]){3, 4}, (int64_t[]){5, 4}, 0, 50);   /* repeats along axis 0 */
    check_gather(ctx, 2, (int64_t[]){3, 4}, (int64_t[]){2, 6}, -1, 51);  /* last axis, fewer rows */
    check_gather(ctx, 3, (int64_t[]){2, 3, 4}, (int64_t[]){2, 5, 3}, 1, 52);
    check_gather(ctx, 2, (int64_t[]){3, 1}, (int64_t[]){3, 0}, 1, 53);   /* empty index */
}

/* Indices outside the axis read 0 and receive no gradient. */
static void test_gather_out_of_range(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float xv[6] = {1, 2, 3, 4, 5, 6};
    int32_t iv[4] = {-1, 1, 3, 0};
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 3}, xv);
    clg_tensor *idx = clg_tensor_from_host(ctx, CLG_INT32, 2, (int64_t[]){2, 2}, iv);
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    clg_tensor *y = clg_gather(x, 1, idx);
    float got[4], g[6];
    read_floats(y, got, 4);
    assert_true(got[0] == 0 && got[1] == 2 && got[2] == 0 && got[3] == 4);
    clg_tensor *ones = clg_tensor_ones(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 2});
    assert_int_equal(clg_backward(y, ones), CLG_OK);
    read_floats(clg_tensor_grad(x), g, 6);
    float want[6] = {0, 1, 0, 1, 0, 0};
    assert_memory_equal(g, want, sizeof want);
    /* index_select and embedding behave the same; an empty axis gives zeros. */
    int32_t sv[3] = {2, 9, -3};
    clg_tensor *sidx = clg_tensor_from_host(ctx, CLG_INT32, 1, (int64_t[]){3}, sv);
    clg_tensor *sel = clg_index_select(x, 1, sidx);
    float sg[6];
    read_floats(sel, sg, 6);
    float swant[6] = {3, 0, 0, 6, 0, 0};
    assert_memory_equal(sg, swant, sizeof swant);
    clg_tensor *emb = clg_embedding(x, sidx); /* x as a [2,3] table: rows 2, 9, -3 are outside */
    float eg[9];
    read_floats(emb, eg, 9);
    for (int i = 0; i < 9; i++) assert_true(eg[i] == 0.0f);
    clg_tensor *none = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 0});
    clg_tensor *zi = clg_tensor_zeros(ctx, CLG_INT32, 2, (int64_t[]){2, 1});
    clg_tensor *z = clg_gather(none, 1, zi);
    float zg[2] = {7, 7};
    read_floats(z, zg, 2);
    assert_true(zg[0] == 0 && zg[1] == 0);
    clg_tensor *all[] = {x, idx, y, ones, sidx, sel, emb, none, zi, z};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
}

typedef struct select_params {
    int nd, axis;
    int64_t x[CLG_MAX_DIMS], out[CLG_MAX_DIMS], len;
} select_params;

static clg_tensor *select_dev(clg_tensor *const *in, const void *p) {
    const select_params *c = p;
    return clg_index_select(in[0], c->axis, in[1]);
}

static void select_host(const double *const *in, double *out, const void *p) {
    const select_params *c = p;
    int a = c->axis < 0 ? c->axis + c->nd : c->axis;
    int64_t co[CLG_MAX_DIMS];
    for (int64_t k = 0; k < opcheck_numel(c->nd, c->out); k++) {
        unravel(k, c->nd, c->out, co);
        co[a] = (int64_t)in[1][co[a]];
        out[k] = in[0][ravel(c->nd, c->x, co)];
    }
}

static void check_select(clg_context *ctx, int nd, const int64_t *x, int axis, int64_t len, uint32_t seed) {
    select_params c;
    memset(&c, 0, sizeof c);
    c.nd = nd;
    c.axis = axis;
    c.len = len;
    int a = axis < 0 ? axis + nd : axis;
    memcpy(c.x, x, (size_t)nd * sizeof *x);
    memcpy(c.out, x, (size_t)nd * sizeof *x);
    c.out[a] = len;
    opcheck_spec s = exact(opcheck_defaults("index_select", 2, select_dev, select_host));
    opcheck_input(&s, 0, nd, c.x, -2, 2);
    opcheck_input(&s, 1, 1, &c.len, 0, (float)(x[a] - 1));
    s.integer_input[1] = 1;
    s.differentiable[1] = 0;
    opcheck_output(&s, nd, c.out);
    s.params = &c;
    s.strided_views = 1;
    s.seed = seed;
    opcheck_run(ctx, &s);
}

static void test_index_select(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    check_select(ctx, 2, (int64_t[]){4, 3}, 0, 7, 60);     /* 7 picks of 4 rows: repeats */
    check_select(ctx, 3, (int64_t[]){2, 3, 4}, -1, 6, 61);
    check_select(ctx, 3, (int64_t[]){2, 1, 4}, 1, 3, 62);  /* extent 1: every pick is row 0 */
    check_select(ctx, 2, (int64_t[]){4, 3}, 0, 0, 63);     /* empty index */

    /* Repeated indices accumulate their gradients. */
    float xv[6] = {1, 2, 3, 4, 5, 6}, g[6];
    int32_t iv[4] = {2, 0, 2, 2};
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){3, 2}, xv);
    clg_tensor *idx = clg_tensor_from_host(ctx, CLG_INT32, 1, (int64_t[]){4}, iv);
    assert_int_equal(clg_tensor_set_requires_grad(x, 1), CLG_OK);
    clg_tensor *y = clg_index_select(x, 0, idx);
    clg_tensor *s = clg_sum(y, 0, NULL, 0);
    assert_int_equal(clg_backward(s, NULL), CLG_OK);
    read_floats(clg_tensor_grad(x), g, 6);
    float want[6] = {1, 1, 0, 0, 3, 3};
    assert_memory_equal(g, want, sizeof want);
    clg_tensor_free(s);
    clg_tensor_free(y);
    clg_tensor_free(idx);
    clg_tensor_free(x);
}

/* --- one_hot, embedding ------------------------------------------------------------------------ */

static void test_one_hot(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int32_t lv[6] = {0, 2, -1, 3, 1, 4};
    clg_tensor *l = clg_tensor_from_host(ctx, CLG_INT32, 2, (int64_t[]){2, 3}, lv);
    clg_tensor *y = clg_one_hot(l, 4);
    assert_non_null(y);
    assert_int_equal(clg_tensor_ndim(y), 3);
    assert_int_equal(clg_tensor_shape(y)[2], 4);
    assert_false(clg_tensor_requires_grad(y));
    float got[24];
    read_floats(y, got, 24);
    for (int i = 0; i < 6; i++)
        for (int c = 0; c < 4; c++) assert_true(got[i * 4 + c] == (lv[i] == c ? 1.0f : 0.0f));
    /* Strided labels (every other one), and no labels at all. */
    clg_tensor *flat = clg_tensor_reshape(l, 1, (int64_t[]){6});
    clg_tensor *every2 = clg_tensor_slice(flat, 0, 0, 6, 2);
    clg_tensor *y2 = clg_one_hot(every2, 5);
    float got2[15];
    read_floats(y2, got2, 15);
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < 5; c++) assert_true(got2[i * 5 + c] == (lv[2 * i] == c ? 1.0f : 0.0f));
    clg_tensor *none = clg_tensor_zeros(ctx, CLG_INT32, 1, (int64_t[]){0});
    clg_tensor *y3 = clg_one_hot(none, 3);
    assert_non_null(y3);
    assert_int_equal(clg_tensor_numel(y3), 0);
    clg_tensor *all[] = {l, y, flat, every2, y2, none, y3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
}

typedef struct emb_params {
    int64_t v, d, idx[2], out[3];
} emb_params;

static clg_tensor *emb_dev(clg_tensor *const *in, const void *p) {
    (void)p;
    return clg_embedding(in[0], in[1]);
}

static void emb_host(const double *const *in, double *out, const void *p) {
    const emb_params *c = p;
    int64_t n = c->idx[0] * c->idx[1];
    for (int64_t k = 0; k < n; k++)
        for (int64_t j = 0; j < c->d; j++) out[k * c->d + j] = in[0][(int64_t)in[1][k] * c->d + j];
}

static void test_embedding(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* 8 indices into 5 rows: some row repeats. */
    emb_params c = {5, 3, {2, 4}, {2, 4, 3}};
    opcheck_spec s = exact(opcheck_defaults("embedding", 2, emb_dev, emb_host));
    opcheck_input(&s, 0, 2, (int64_t[]){5, 3}, -2, 2);
    opcheck_input(&s, 1, 2, c.idx, 0, 4);
    s.integer_input[1] = 1;
    s.differentiable[1] = 0;
    opcheck_output(&s, 3, c.out);
    s.params = &c;
    s.strided_views = 1;
    s.seed = 70;
    opcheck_run(ctx, &s);

    /* Strided and rank-0 indices; the gradient of repeated rows adds up. */
    float wv[6] = {1, 2, 3, 4, 5, 6}, g[6];
    int32_t iv[6] = {2, 9, 0, 9, 2, 9};
    clg_tensor *w = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){3, 2}, wv);
    clg_tensor *all = clg_tensor_from_host(ctx, CLG_INT32, 1, (int64_t[]){6}, iv);
    clg_tensor *idx = clg_tensor_slice(all, 0, 0, 6, 2); /* {2, 0, 2} */
    assert_int_equal(clg_tensor_set_requires_grad(w, 1), CLG_OK);
    clg_tensor *y = clg_embedding(w, idx);
    float got[6];
    read_floats(y, got, 6);
    float want[6] = {5, 6, 1, 2, 5, 6};
    assert_memory_equal(got, want, sizeof want);
    clg_tensor *sum = clg_sum(y, 0, NULL, 0);
    assert_int_equal(clg_backward(sum, NULL), CLG_OK);
    read_floats(clg_tensor_grad(w), g, 6);
    float gwant[6] = {1, 1, 0, 0, 2, 2};
    assert_memory_equal(g, gwant, sizeof gwant);
    clg_tensor *one = clg_tensor_from_host(ctx, CLG_INT32, 0, NULL, &iv[2]);
    clg_tensor *row = clg_embedding(w, one);
    assert_int_equal(clg_tensor_ndim(row), 1);
    float r[2];
    read_floats(row, r, 2);
    assert_true(r[0] == 1 && r[1] == 2);
    clg_tensor *ts[] = {w, all, idx, y, sum, one, row};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) clg_tensor_free(ts[i]);
}

/* The embedding gradient (many repeats of few rows) is bit-identical across runs
 * and equals the host sum in index order. */
static void test_embedding_gradient_deterministic(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { V = 7, D = 5, N = 300 };
    float wv[V * D], gv[N * D], first[V * D], second[V * D];
    int32_t iv[N];
    clg_test_random_floats(wv, V * D, 80);
    clg_test_random_floats(gv, N * D, 81);
    for (int i = 0; i < N; i++) iv[i] = (int32_t)((i * 5 + i / 7) % V);
    clg_tensor *w = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){V, D}, wv);
    clg_tensor *idx = clg_tensor_from_host(ctx, CLG_INT32, 1, (int64_t[]){N}, iv);
    clg_tensor *seed = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){N, D}, gv);
    assert_int_equal(clg_tensor_set_requires_grad(w, 1), CLG_OK);
    float *runs[2] = {first, second};
    for (int run = 0; run < 2; run++) {
        clg_tensor *y = clg_embedding(w, idx);
        assert_int_equal(clg_backward(y, seed), CLG_OK);
        read_floats(clg_tensor_grad(w), runs[run], V * D);
        assert_int_equal(clg_tensor_zero_grad(w), CLG_OK);
        clg_tensor_free(y);
    }
    assert_memory_equal(first, second, sizeof first);
    float want[V * D] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) want[iv[i] * D + j] += gv[i * D + j]; /* the kernel's order */
    assert_memory_equal(first, want, sizeof want);
    clg_tensor_free(seed);
    clg_tensor_free(idx);
    clg_tensor_free(w);
}

/* A captured step replays the shape kernels on new input data. */
static void test_captured_replay(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float a0[6] = {1, 2, 3, 4, 5, 6}, a1[6] = {-1, -2, -3, -4, -5, -6};
    int32_t i0[3] = {1, 0, 1}, i1[3] = {0, 0, 1};
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 3}, a0);
    clg_tensor *idx = clg_tensor_from_host(ctx, CLG_INT32, 1, (int64_t[]){3}, i0);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    const clg_tensor *xx[2] = {x, x};
    clg_tensor *c = clg_concat(2, xx, 1);                                    /* [2,6] */
    clg_tensor *p = clg_pad(c, (int64_t[]){0, 0, 1, 1}, CLG_PAD_REFLECT, 0); /* [2,8] */
    clg_tensor *e = clg_embedding(p, idx);                                    /* [3,8] */
    clg_step *step = clg_step_capture_end(ctx);
    if (!step) fail_msg("capture: %s", clg_last_error());
    for (int rep = 0; rep < 3; rep++) {
        const float *xv = rep % 2 ? a1 : a0;
        const int32_t *iv = rep % 2 ? i1 : i0;
        assert_int_equal(clg_tensor_write(x, xv, sizeof a0), CLG_OK);
        assert_int_equal(clg_tensor_write(idx, iv, sizeof i0), CLG_OK);
        assert_int_equal(clg_step_replay(step), CLG_OK);
        float got[24];
        read_floats(e, got, 24);
        for (int r = 0; r < 3; r++)
            for (int j = 0; j < 8; j++) {
                int col = j == 0 ? 1 : j == 7 ? 4 : j - 1; /* reflect of [row, row] */
                assert_true(got[r * 8 + j] == xv[iv[r] * 3 + col % 3]);
            }
    }
    clg_step_free(step);
    clg_tensor *all[] = {x, idx, c, p, e};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
}

/* --- bad input ----------------------------------------------------------------------------------- */

static void test_bad_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_tensor *a = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 3});
    clg_tensor *b = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 5});
    clg_tensor *c = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){3});
    clg_tensor *ai = clg_tensor_zeros(ctx, CLG_INT32, 2, (int64_t[]){2, 3});
    clg_tensor *i1 = clg_tensor_zeros(ctx, CLG_INT32, 1, (int64_t[]){3});
    clg_tensor *u8 = clg_tensor_zeros(ctx, CLG_UINT8, 2, (int64_t[]){2, 3});
    clg_tensor *s0 = clg_tensor_zeros(ctx, CLG_FLOAT32, 0, NULL);
    const clg_tensor *ab[2] = {a, b}, *ac[2] = {a, c}, *aai[2] = {a, ai}, *anull[2] = {a, NULL};
    const clg_tensor *aa[2] = {a, a};

    CLG_EXPECT_ERROR(!clg_concat(2, ab, 0), CLG_STATUS_SHAPE_MISMATCH, "clg_concat", "[4,5]", "[2,3]");
    CLG_EXPECT_ERROR(!clg_concat(2, ac, 0), CLG_STATUS_SHAPE_MISMATCH, "clg_concat", "[3]", "[2,3]");
    CLG_EXPECT_ERROR(!clg_concat(2, aai, 0), CLG_STATUS_INVALID_ARGUMENT, "clg_concat", "int32", "float32");
    CLG_EXPECT_ERROR(!clg_concat(2, anull, 0), CLG_STATUS_INVALID_ARGUMENT, "clg_concat", "NULL");
    CLG_EXPECT_ERROR(!clg_concat(0, aa, 0), CLG_STATUS_INVALID_ARGUMENT, "clg_concat", "0 inputs");
    CLG_EXPECT_ERROR(!clg_concat(2, NULL, 0), CLG_STATUS_INVALID_ARGUMENT, "clg_concat", "NULL");
    CLG_EXPECT_ERROR(!clg_concat(2, aa, 2), CLG_STATUS_INVALID_ARGUMENT, "clg_concat", "axis 2", "[2,3]");
    const clg_tensor *scalars[1] = {s0};
    CLG_EXPECT_ERROR(!clg_concat(1, scalars, 0), CLG_STATUS_INVALID_ARGUMENT, "clg_concat", "axis 0");

    CLG_EXPECT_ERROR(!clg_stack(2, ab, 0), CLG_STATUS_SHAPE_MISMATCH, "clg_stack", "[4,5]", "[2,3]");
    CLG_EXPECT_ERROR(!clg_stack(2, aa, 3), CLG_STATUS_INVALID_ARGUMENT, "clg_stack", "axis 3");
    CLG_EXPECT_ERROR(!clg_stack(-1, aa, 0), CLG_STATUS_INVALID_ARGUMENT, "clg_stack");

    clg_tensor *parts[3] = {NULL, NULL, NULL};
    CLG_EXPECT_ERROR(clg_split(a, 1, 2, (int64_t[]){1, 1}, parts) != CLG_OK, CLG_STATUS_SHAPE_MISMATCH,
                     "clg_split", "[2,3]", "sum to 2");
    CLG_EXPECT_ERROR(clg_split(a, 1, 2, (int64_t[]){4, -1}, parts) != CLG_OK, CLG_STATUS_SHAPE_MISMATCH,
                     "clg_split", "[2,3]");
    CLG_EXPECT_ERROR(clg_split(a, 2, 1, (int64_t[]){3}, parts) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_split", "axis 2");
    CLG_EXPECT_ERROR(clg_split(a, 1, 0, (int64_t[]){3}, parts) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_split", "0 parts");
    CLG_EXPECT_ERROR(clg_split(NULL, 1, 1, (int64_t[]){3}, parts) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_split", "NULL");
    CLG_EXPECT_ERROR(clg_split(a, 1, 1, (int64_t[]){3}, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_split", "NULL");
    assert_null(parts[0]);

    CLG_EXPECT_ERROR(!clg_pad(a, (int64_t[]){0, 0, 3, 0}, CLG_PAD_REFLECT, 0), CLG_STATUS_INVALID_ARGUMENT,
                     "clg_pad", "reflect", "extent 3", "[2,3]");
    CLG_EXPECT_ERROR(!clg_pad(a, (int64_t[]){0, -1, 0, 0}, CLG_PAD_CONSTANT, 0), CLG_STATUS_INVALID_ARGUMENT,
                     "clg_pad", "negative", "[2,3]");
    CLG_EXPECT_ERROR(!clg_pad(a, NULL, CLG_PAD_CONSTANT, 0), CLG_STATUS_INVALID_ARGUMENT, "clg_pad", "NULL");
    CLG_EXPECT_ERROR(!clg_pad(a, (int64_t[]){0, 0, 0, 0}, (clg_pad_mode)7, 0), CLG_STATUS_INVALID_ARGUMENT,
                     "clg_pad", "mode 7");
    CLG_EXPECT_ERROR(!clg_pad(u8, (int64_t[]){0, 0, 0, 0}, CLG_PAD_CONSTANT, 0), CLG_STATUS_INVALID_ARGUMENT,
                     "clg_pad", "uint8");
    CLG_EXPECT_ERROR(!clg_pad(NULL, (int64_t[]){0, 0}, CLG_PAD_CONSTANT, 0), CLG_STATUS_INVALID_ARGUMENT,
                     "clg_pad", "NULL");
    CLG_EXPECT_ERROR(!clg_pad(c, (int64_t[]){INT64_MAX, 1}, CLG_PAD_CONSTANT, 0), CLG_STATUS_SIZE_OVERFLOW,
                     "clg_pad", "[3]");

    CLG_EXPECT_ERROR(!clg_gather(a, 0, i1), CLG_STATUS_SHAPE_MISMATCH, "clg_gather", "[3]", "[2,3]");
    CLG_EXPECT_ERROR(!clg_gather(a, 0, a), CLG_STATUS_INVALID_ARGUMENT, "clg_gather", "float32", "int32");
    CLG_EXPECT_ERROR(!clg_gather(a, 5, ai), CLG_STATUS_INVALID_ARGUMENT, "clg_gather", "axis 5");
    CLG_EXPECT_ERROR(!clg_gather(c, 0, NULL), CLG_STATUS_INVALID_ARGUMENT, "clg_gather", "NULL");
    clg_tensor *wide = clg_tensor_zeros(ctx, CLG_INT32, 2, (int64_t[]){2, 4});
    CLG_EXPECT_ERROR(!clg_gather(a, 0, wide), CLG_STATUS_SHAPE_MISMATCH, "clg_gather", "[2,4]", "[2,3]",
                     "axis 1");

    CLG_EXPECT_ERROR(!clg_index_select(a, 0, ai), CLG_STATUS_SHAPE_MISMATCH, "clg_index_select", "[2,3]",
                     "1-D");
    CLG_EXPECT_ERROR(!clg_index_select(a, -3, i1), CLG_STATUS_INVALID_ARGUMENT, "clg_index_select",
                     "axis -3");
    CLG_EXPECT_ERROR(!clg_index_select(a, 0, c), CLG_STATUS_INVALID_ARGUMENT, "clg_index_select", "int32");
    CLG_EXPECT_ERROR(!clg_index_select(NULL, 0, i1), CLG_STATUS_INVALID_ARGUMENT, "clg_index_select", "NULL");
    CLG_EXPECT_ERROR(!clg_index_select(u8, 0, i1), CLG_STATUS_INVALID_ARGUMENT, "clg_index_select", "uint8");

    CLG_EXPECT_ERROR(!clg_one_hot(i1, 0), CLG_STATUS_INVALID_ARGUMENT, "clg_one_hot", "num_classes 0");
    CLG_EXPECT_ERROR(!clg_one_hot(c, 3), CLG_STATUS_INVALID_ARGUMENT, "clg_one_hot", "float32", "[3]");
    CLG_EXPECT_ERROR(!clg_one_hot(NULL, 3), CLG_STATUS_INVALID_ARGUMENT, "clg_one_hot", "NULL");

    CLG_EXPECT_ERROR(!clg_embedding(c, i1), CLG_STATUS_INVALID_ARGUMENT, "clg_embedding", "[3]", "[V,D]");
    CLG_EXPECT_ERROR(!clg_embedding(ai, i1), CLG_STATUS_INVALID_ARGUMENT, "clg_embedding", "int32");
    CLG_EXPECT_ERROR(!clg_embedding(a, c), CLG_STATUS_INVALID_ARGUMENT, "clg_embedding", "float32", "int32");
    CLG_EXPECT_ERROR(!clg_embedding(a, NULL), CLG_STATUS_INVALID_ARGUMENT, "clg_embedding", "NULL");

    clg_tensor *ok = clg_concat(2, aa, 1); /* still usable */
    assert_non_null(ok);
    clg_tensor *all[] = {a, b, c, ai, i1, u8, s0, wide, ok};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) clg_tensor_free(all[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_concat_int32_and_empty),
        cmocka_unit_test(test_concat_many_inputs),
        cmocka_unit_test(test_stack),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_pad_int32),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_gather_out_of_range),
        cmocka_unit_test(test_index_select),
        cmocka_unit_test(test_one_hot),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_embedding_gradient_deterministic),
        cmocka_unit_test(test_captured_replay),
        cmocka_unit_test(test_bad_input),
    };
    return CLG_RUN_GROUP(tests);
}
