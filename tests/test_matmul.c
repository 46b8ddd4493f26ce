/* Matrix products (CLBlast): matmul in all four transpose combinations against a
 * host triple loop in double, odd and size-1 shapes, zero-size M, N and K,
 * operands that are views (transposed, row-strided, column windows with an
 * offset, and layouts that need a copy), batched products, the dense layer and
 * its fusion with an activation, a large product that takes CLBlast's indirect
 * path (the pool-provided scratch buffer), captured-step replay, and bad input.
 *
 * Tolerances: forward |dev - ref| <= 1e-4 + 1e-4 |ref| (float32 accumulation of
 * up to a few dozen products; the large product allows 1e-3 relative to the sum
 * of |terms|); gradients 1e-3 + 1e-3 |ref| (float32 device results against
 * float64 finite differences).
 *
 * CLBlast compiles each routine once per process (seconds on PoCL), so only two
 * routines are used here: SGEMM and strided-batched SGEMM. */
#include "opcheck.h"

#include <math.h>
#include <stdlib.h>

#include "runtime/cl.h"

#include <clblast_c.h>

#include "runtime/runtime_impl.h"
#include "ops/gemm_cpu.h"

/* How an operand reaches the op: the tensor opcheck makes (the "stored" input,
 * which gets the gradient) and the view of it passed to matmul. */
typedef enum view_kind {
    V_PLAIN,           /* the input itself */
    V_TRANSPOSED,      /* transpose of a contiguous [c, r]: CLBlast reads it with the flag flipped */
    V_ROW_STEP,        /* rows 1, 3, 5, ... of [2r, c]: a leading dimension of 2c, an offset */
    V_COL_WINDOW,      /* columns 2 .. c+1 of [r, c+3]: leading dimension c+3, offset 2 */
    V_TRANSPOSED_STEP, /* transpose of a step-2 column slice: no GEMM layout, copied */
    V_INTERLEAVED,     /* batched: [r, B, c] permuted to [B, r, c] (batch stride c) */
} view_kind;

typedef struct mm_case {
    int ta, tb, batched;
    int64_t batch, m, k, n;
    view_kind view[2];
} mm_case;

/* Logical operand dims [r, c] of input i (before op()). */
static void operand_dims(const mm_case *c, int i, int64_t *r, int64_t *cc) {
    if (i == 0) {
        *r = c->ta ? c->k : c->m;
        *cc = c->ta ? c->m : c->k;
    } else {
        *r = c->tb ? c->n : c->k;
        *cc = c->tb ? c->k : c->n;
    }
}

/* Shape of the stored input for a logical [B,] r x c operand. */
static int stored_shape(const mm_case *c, int i, int64_t *shape) {
    int64_t r, cc;
    operand_dims(c, i, &r, &cc);
    int nd = 0;
    if (c->batched && c->view[i] != V_INTERLEAVED) shape[nd++] = c->batch;
    switch (c->view[i]) {
    case V_PLAIN: shape[nd++] = r; shape[nd++] = cc; break;
    case V_TRANSPOSED: shape[nd++] = cc; shape[nd++] = r; break;
    case V_ROW_STEP: shape[nd++] = 2 * r; shape[nd++] = cc; break;
    case V_COL_WINDOW: shape[nd++] = r; shape[nd++] = cc + 3; break;
    case V_TRANSPOSED_STEP: shape[nd++] = cc; shape[nd++] = 2 * r; break;
    case V_INTERLEAVED: shape[nd++] = r; shape[nd++] = c->batch; shape[nd++] = cc; break;
    }
    return nd;
}

/* Element [bb][i][j] of the logical operand. */
static double operand_at(const mm_case *c, int which, const double *in, int64_t bb, int64_t i,
                         int64_t j) {
    int64_t r, cc;
    operand_dims(c, which, &r, &cc);
    switch (c->view[which]) {
    case V_PLAIN: return in[(bb * r + i) * cc + j];
    case V_TRANSPOSED: return in[(bb * cc + j) * r + i];
    case V_ROW_STEP: return in[(2 * i + 1) * cc + j];
    case V_COL_WINDOW: return in[i * (cc + 3) + j + 2];
    case V_TRANSPOSED_STEP: return in[j * 2 * r + 2 * i + 1];
    case V_INTERLEAVED: return in[(i * c->batch + bb) * cc + j];
    }
    return 0;
}

static clg_tensor *make_view(const mm_case *c, int which, clg_tensor *t) {
    int nd = clg_tensor_ndim(t);
    switch (c->view[which]) {
    case V_PLAIN: return t;
    case V_TRANSPOSED: return clg_tensor_transpose(t, nd - 2, nd - 1);
    case V_ROW_STEP: return clg_tensor_slice(t, 0, 1, clg_tensor_shape(t)[0], 2);
    case V_COL_WINDOW: return clg_tensor_slice(t, 1, 2, clg_tensor_shape(t)[1] - 1, 1);
    case V_TRANSPOSED_STEP: {
        clg_tensor *s = clg_tensor_slice(t, 1, 1, clg_tensor_shape(t)[1], 2);
        clg_tensor *v = s ? clg_tensor_transpose(s, 0, 1) : NULL;
        clg_tensor_free(s);
        return v;
    }
    case V_INTERLEAVED: return clg_tensor_permute(t, (const int[]){1, 0, 2});
    }
    return NULL;
}

static clg_tensor *mm_dev(clg_tensor *const *in, const void *p) {
    const mm_case *c = p;
    clg_tensor *a = make_view(c, 0, in[0]), *b = make_view(c, 1, in[1]);
    clg_tensor *y = NULL;
    if (a && b) y = c->batched ? clg_matmul_batched(a, b, c->ta, c->tb) : clg_matmul(a, b, c->ta, c->tb);
    if (a != in[0]) clg_tensor_free(a);
    if (b != in[1]) clg_tensor_free(b);
    return y;
}

/* out[bb][i][j] = sum_p op(A)[bb][i][p] op(B)[bb][p][j], in double. */
static void mm_host(const double *const *in, double *out, const void *p) {
    const mm_case *c = p;
    int64_t nb = c->batched ? c->batch : 1;
    for (int64_t bb = 0; bb < nb; bb++)
        for (int64_t i = 0; i < c->m; i++)
            for (int64_t j = 0; j < c->n; j++) {
                double s = 0;
                for (int64_t q = 0; q < c->k; q++) {
                    double x = c->ta ? operand_at(c, 0, in[0], bb, q, i) : operand_at(c, 0, in[0], bb, i, q);
                    double y = c->tb ? operand_at(c, 1, in[1], bb, j, q) : operand_at(c, 1, in[1], bb, q, j);
                    s += x * y;
                }
                out[(bb * c->m + i) * c->n + j] = s;
            }
}

static void run_case(clg_context *ctx, const mm_case *c, const char *name, uint32_t seed, int strided) {
    opcheck_spec s = opcheck_defaults(name, 2, mm_dev, mm_host);
    int64_t shape[CLG_MAX_DIMS];
    for (int i = 0; i < 2; i++) {
        int nd = stored_shape(c, i, shape);
        opcheck_input(&s, i, nd, shape, -1, 1);
    }
    int64_t out[3] = {c->batch, c->m, c->n};
    if (c->batched) opcheck_output(&s, 3, out);
    else opcheck_output(&s, 2, out + 1);
    s.params = c;
    s.fwd_atol = s.fwd_rtol = 1e-4;
    s.strided_views = strided;
    s.seed = seed;
    opcheck_run(ctx, &s);
}

static void test_matmul_transposes(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* (m, k, n): size 1, odd sizes, K = 1, M = N = 1 (a dot product), wider. */
    const int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {3, 1, 4}, {1, 6, 1}, {4, 9, 6}};
    for (int t = 0; t < 4; t++)
        for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
            mm_case c = {t & 1, t >> 1, 0, 1, shapes[sh][0], shapes[sh][1], shapes[sh][2], {V_PLAIN, V_PLAIN}};
            char name[64];
            snprintf(name, sizeof name, "matmul ta=%d tb=%d %lldx%lldx%lld", c.ta, c.tb,
                     (long long)c.m, (long long)c.k, (long long)c.n);
            /* The step-2 views of opcheck need a copy before CLBlast reads them. */
            run_case(ctx, &c, name, 10 + (uint32_t)(t * 10 + sh), sh == 1);
        }
}

static void test_matmul_views(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const view_kind kinds[] = {V_TRANSPOSED, V_ROW_STEP, V_COL_WINDOW, V_TRANSPOSED_STEP};
    for (int t = 0; t < 4; t++)
        for (size_t v = 0; v < sizeof kinds / sizeof *kinds; v++)
            for (int which = 0; which < 2; which++) {
                mm_case c = {t & 1, t >> 1, 0, 1, 5, 4, 3, {V_PLAIN, V_PLAIN}};
                c.view[which] = kinds[v];
                char name[64];
                snprintf(name, sizeof name, "matmul ta=%d tb=%d view %d on input %d", c.ta, c.tb,
                         (int)kinds[v], which);
                run_case(ctx, &c, name, 100 + (uint32_t)(t * 20 + v * 2 + (size_t)which), 0);
            }
    /* Both operands transposed views, also with the flags set. */
    for (int t = 0; t < 4; t++) {
        mm_case c = {t & 1, t >> 1, 0, 1, 3, 7, 2, {V_TRANSPOSED, V_TRANSPOSED}};
        run_case(ctx, &c, "matmul of two transposed views", 190 + (uint32_t)t, 0);
    }
}

/* The transposed view is read in place: no copy kernel runs for it. */
static void test_matmul_transposed_view_no_copy(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t as[2] = {4, 3}, bs[2] = {4, 5};
    float ha[12], hb[20];
    clg_test_random_floats(ha, 12, 7);
    clg_test_random_floats(hb, 20, 8);
    clg_tensor *a = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, as, ha);
    clg_tensor *b = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, bs, hb);
    clg_tensor *at = clg_tensor_transpose(a, 0, 1); /* [3,4], strides {1,3} */
    assert_true(a && b && at);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *y = clg_matmul(at, b, 0, 0);
    clg_step *step = clg_step_capture_end(ctx);
    assert_true(y && step);
    assert_int_equal(clg_step_get_info(step).commands, clg_gemm_commands_per_product(ctx)); /* the GEMM alone */
    float got[15];
    assert_int_equal(clg_tensor_to_host(y, got, sizeof got), CLG_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) {
            double s = 0;
            for (int q = 0; q < 4; q++) s += (double)ha[q * 3 + i] * hb[q * 5 + j];
            assert_true(fabs(got[i * 5 + j] - s) <= 1e-4 + 1e-4 * fabs(s));
        }
    clg_step_free(step);
    clg_tensor_free(y);
    clg_tensor_free(at);
    clg_tensor_free(a);
    clg_tensor_free(b);
}

static void test_matmul_zero_size(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    /* K = 0 gives zeros (and zero gradients); M = 0 and N = 0 give empty results. */
    const int64_t shapes[][3] = {{3, 0, 4}, {0, 3, 4}, {3, 4, 0}, {0, 0, 0}};
    for (int t = 0; t < 4; t++)
        for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
            mm_case c = {t & 1, t >> 1, 0, 1, shapes[sh][0], shapes[sh][1], shapes[sh][2], {V_PLAIN, V_PLAIN}};
            run_case(ctx, &c, "matmul zero size", 200 + (uint32_t)(t * 10 + sh), 0);
        }
    /* K = 0 with a gradient: d/dB of sum(w * A B) for A [2,0] is a [0,3] tensor. */
    int64_t as[2] = {2, 0}, bs[2] = {0, 3};
    clg_tensor *a = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, as), *b = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, bs);
    assert_int_equal(clg_tensor_set_requires_grad(b, 1), CLG_OK);
    clg_tensor *y = clg_matmul(a, b, 0, 0);
    assert_non_null(y);
    float got[6] = {1, 1, 1, 1, 1, 1};
    assert_int_equal(clg_tensor_to_host(y, got, sizeof got), CLG_OK);
    for (int i = 0; i < 6; i++) assert_true(got[i] == 0.0f);
    clg_tensor *s = clg_sum(y, 0, NULL, 0);
    assert_int_equal(clg_backward(s, NULL), CLG_OK);
    assert_non_null(clg_tensor_grad(b));
    assert_int_equal(clg_tensor_numel(clg_tensor_grad(b)), 0);
    clg_tensor_free(s);
    clg_tensor_free(y);
    clg_tensor_free(a);
    clg_tensor_free(b);
}

static void test_matmul_batched(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    for (int t = 0; t < 4; t++) {
        mm_case c = {t & 1, t >> 1, 1, 3, 4, 5, 2, {V_PLAIN, V_PLAIN}};
        run_case(ctx, &c, "matmul_batched", 300 + (uint32_t)t, t == 0);
        mm_case one = {t & 1, t >> 1, 1, 1, 1, 3, 1, {V_PLAIN, V_PLAIN}};
        run_case(ctx, &one, "matmul_batched batch 1", 310 + (uint32_t)t, 0);
        /* Views: a batch of transposed matrices, and interleaved batches (a
         * permuted [M,B,K]) which CLBlast reads in place with a batch stride. */
        mm_case tv = {t & 1, t >> 1, 1, 2, 3, 4, 5, {V_TRANSPOSED, V_INTERLEAVED}};
        run_case(ctx, &tv, "matmul_batched views", 320 + (uint32_t)t, 0);
        mm_case iv = {t & 1, t >> 1, 1, 3, 2, 3, 2, {V_INTERLEAVED, V_TRANSPOSED}};
        run_case(ctx, &iv, "matmul_batched views 2", 330 + (uint32_t)t, 0);
    }
    const int64_t zero[][4] = {{0, 2, 3, 4}, {2, 3, 0, 4}, {2, 0, 3, 4}};
    for (size_t z = 0; z < 3; z++) {
        mm_case c = {0, 1, 1, zero[z][0], zero[z][1], zero[z][2], zero[z][3], {V_PLAIN, V_PLAIN}};
        run_case(ctx, &c, "matmul_batched zero size", 340 + (uint32_t)z, 0);
    }
}

/* --- linear ------------------------------------------------------------------------- */

typedef struct lin_case {
    int64_t n, in, out;
    int bias;
} lin_case;

static clg_tensor *lin_dev(clg_tensor *const *in, const void *p) {
    const lin_case *c = p;
    return clg_linear(in[0], in[1], c->bias ? in[2] : NULL);
}

static void lin_host(const double *const *in, double *out, const void *p) {
    const lin_case *c = p;
    for (int64_t i = 0; i < c->n; i++)
        for (int64_t j = 0; j < c->out; j++) {
            double s = c->bias ? in[2][j] : 0;
            for (int64_t q = 0; q < c->in; q++) s += in[0][i * c->in + q] * in[1][q * c->out + j];
            out[i * c->out + j] = s;
        }
}

static void test_linear(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    for (int bias = 0; bias < 2; bias++) {
        lin_case c = {5, 4, 3, bias};
        opcheck_spec s = opcheck_defaults(bias ? "linear with bias" : "linear", 2 + bias, lin_dev, lin_host);
        opcheck_input(&s, 0, 2, (int64_t[]){c.n, c.in}, -1, 1);
        opcheck_input(&s, 1, 2, (int64_t[]){c.in, c.out}, -1, 1);
        if (bias) opcheck_input(&s, 2, 1, (int64_t[]){c.out}, -1, 1);
        opcheck_output(&s, 2, (int64_t[]){c.n, c.out});
        s.params = &c;
        s.fwd_atol = s.fwd_rtol = 1e-4;
        s.strided_views = 1;
        s.seed = 400 + (uint32_t)bias;
        opcheck_run(ctx, &s);
    }
}

/* relu(linear(x, w, b)) is one GEMM and one fused kernel (bias + relu). */
static void test_linear_fuses_with_activation(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float hx[6 * 4], hw[4 * 5], hb[5];
    clg_test_random_floats(hx, 24, 21);
    clg_test_random_floats(hw, 20, 22);
    clg_test_random_floats(hb, 5, 23);
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){6, 4}, hx);
    clg_tensor *w = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 5}, hw);
    clg_tensor *b = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, (int64_t[]){5}, hb);
    assert_true(x && w && b);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *h = clg_linear(x, w, b);
    clg_tensor *y = clg_relu(h);
    clg_tensor_free(h);
    clg_step *step = clg_step_capture_end(ctx);
    assert_true(y && step);
    assert_int_equal(clg_step_get_info(step).commands, 1 + clg_gemm_commands_per_product(ctx));
    float got[30];
    assert_int_equal(clg_tensor_to_host(y, got, sizeof got), CLG_OK);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 5; j++) {
            double s = hb[j];
            for (int q = 0; q < 4; q++) s += (double)hx[i * 4 + q] * hw[q * 5 + j];
            s = s > 0 ? s : 0;
            assert_true(fabs(got[i * 5 + j] - s) <= 1e-4 + 1e-4 * fabs(s));
        }
    clg_step_free(step);
    clg_tensor_free(y);
    clg_tensor_free(x);
    clg_tensor_free(w);
    clg_tensor_free(b);
}

/* --- captured steps ----------------------------------------------------------------- */

static void host_product(const float *a, const float *b, int64_t m, int64_t k, int64_t n, double *out) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t q = 0; q < k; q++) s += (double)a[i * k + q] * b[q * n + j];
            out[i * n + j] = s;
        }
}

/* Capture y = a b, then replay on new data in a: y follows; replaying on the
 * first data again reproduces the first result bit for bit; replays allocate
 * nothing. */
static void test_matmul_step_replay(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { M = 6, K = 7, N = 5 };
    float a0[M * K], a1[M * K], hb[K * N], y0[M * N], y1[M * N], y2[M * N];
    double want[M * N];
    clg_test_random_floats(a0, M * K, 31);
    clg_test_random_floats(a1, M * K, 32);
    clg_test_random_floats(hb, K * N, 33);
    clg_tensor *a = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){M, K}, a0);
    clg_tensor *b = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){K, N}, hb);
    assert_true(a && b);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *y = clg_matmul(a, b, 0, 0);
    clg_step *step = clg_step_capture_end(ctx);
    assert_true(y && step);
    assert_int_equal(clg_tensor_to_host(y, y0, sizeof y0), CLG_OK);
    host_product(a0, hb, M, K, N, want);
    for (int i = 0; i < M * N; i++) assert_true(fabs(y0[i] - want[i]) <= 1e-4 + 1e-4 * fabs(want[i]));

    uint64_t created = clg_context_get_stats(ctx).buffers_created;
    assert_int_equal(clg_tensor_write(a, a1, sizeof a1), CLG_OK);
    assert_int_equal(clg_step_replay(step), CLG_OK);
    assert_int_equal(clg_tensor_to_host(y, y1, sizeof y1), CLG_OK);
    host_product(a1, hb, M, K, N, want);
    for (int i = 0; i < M * N; i++) assert_true(fabs(y1[i] - want[i]) <= 1e-4 + 1e-4 * fabs(want[i]));

    assert_int_equal(clg_tensor_write(a, a0, sizeof a0), CLG_OK);
    assert_int_equal(clg_step_replay(step), CLG_OK);
    assert_int_equal(clg_tensor_to_host(y, y2, sizeof y2), CLG_OK);
    assert_memory_equal(y0, y2, sizeof y0);
    assert_int_equal(clg_context_get_stats(ctx).buffers_created, created);

    clg_step_free(step);
    clg_tensor_free(y);
    clg_tensor_free(a);
    clg_tensor_free(b);
}

/* Large enough for CLBlast's indirect GEMM on most devices (PoCL's threshold is
 * near 576^3): its workspace comes from the pool and is held by the step, so a
 * replay allocates nothing. Checked on sampled rows. */
static void test_matmul_large_step(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { M = 640, K = 640, N = 640 };
    setenv("CLGRAD_GEMM", "clblast", 1); /* CLBlast's workspace is the subject */
    float *ha = malloc(sizeof(float) * M * K), *hb = malloc(sizeof(float) * K * N);
    float *got = malloc(sizeof(float) * M * N);
    assert_true(ha && hb && got);
    clg_test_random_floats(ha, (size_t)M * K, 41);
    clg_test_random_floats(hb, (size_t)K * N, 42);
    clg_tensor *a = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){M, K}, ha);
    clg_tensor *b = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){N, K}, hb); /* used as b^T */
    assert_true(a && b);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *y = clg_matmul(a, b, 0, 1);
    clg_step *step = clg_step_capture_end(ctx);
    assert_true(y && step);
    clg_step_info info = clg_step_get_info(step);
    assert_int_equal(info.commands, 1);
    /* a, b, y, and the workspace when CLBlast takes its indirect path here. */
    size_t temp_bytes = 0;
    assert_int_equal(CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                                CLBlastTransposeYes, M, N, K, 0, K, 0, K, 0, N,
                                                &ctx->queue, &temp_bytes),
                     CLBlastSuccess);
    assert_int_equal(info.buffers, temp_bytes ? 4 : 3);
    uint64_t created = clg_context_get_stats(ctx).buffers_created;
    for (int rep = 0; rep < 2; rep++) {
        if (rep) {
            memset(got, 0, sizeof(float) * M * N);
            assert_int_equal(clg_step_replay(step), CLG_OK);
        }
        assert_int_equal(clg_tensor_to_host(y, got, sizeof(float) * M * N), CLG_OK);
        for (int i = 0; i < M; i += 37)
            for (int j = 0; j < N; j++) {
                double s = 0, mag = 0;
                for (int q = 0; q < K; q++) {
                    double t = (double)ha[i * K + q] * hb[j * K + q];
                    s += t;
                    mag += fabs(t);
                }
                if (!(fabs(got[i * N + j] - s) <= 1e-3 * mag))
                    fail_msg("large matmul [%d,%d]: %.7g, reference %.7g", i, j, (double)got[i * N + j], s);
            }
    }
    assert_int_equal(clg_context_get_stats(ctx).buffers_created, created); /* replay allocates nothing */
    clg_step_free(step);
    clg_tensor_free(y);
    clg_tensor_free(a);
    clg_tensor_free(b);
    free(ha);
    free(hb);
    free(got);
    unsetenv("CLGRAD_GEMM");
}

/* --- bad input ------------------------------------------------------------------------ */

static void test_bad_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_tensor *a = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 3});
    clg_tensor *b = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 5});
    clg_tensor *v = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){3});
    clg_tensor *i = clg_tensor_zeros(ctx, CLG_INT32, 2, (int64_t[]){3, 4});
    clg_tensor *a3 = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, (int64_t[]){2, 3, 4});
    clg_tensor *b3 = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, (int64_t[]){3, 4, 5});
    clg_tensor *w = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){3, 4});
    clg_tensor *bias = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){5});
    assert_true(a && b && v && i && a3 && b3 && w && bias);

    CLG_EXPECT_ERROR(clg_matmul(a, b, 0, 0) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_matmul",
                     "[2,3] x [4,5]: inner dimensions 3 and 4 differ");
    CLG_EXPECT_ERROR(clg_matmul(a, b, 1, 1) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_matmul",
                     "[2,3]^T x [4,5]^T", "inner dimensions 2 and 5 differ");
    CLG_EXPECT_ERROR(clg_matmul(a, v, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_matmul", "[3]", "rank 1");
    CLG_EXPECT_ERROR(clg_matmul(a3, w, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_matmul", "[2,3,4]");
    CLG_EXPECT_ERROR(clg_matmul(a, i, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_matmul", "[3,4]", "int32");
    CLG_EXPECT_ERROR(clg_matmul(NULL, b, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_matmul", "NULL");
    CLG_EXPECT_ERROR(clg_matmul(a, NULL, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_matmul", "NULL");
    CLG_EXPECT_ERROR(clg_matmul_batched(a3, b3, 0, 0) == NULL, CLG_STATUS_SHAPE_MISMATCH,
                     "clg_matmul_batched", "[2,3,4] x [3,4,5]", "batch sizes 2 and 3 differ");
    CLG_EXPECT_ERROR(clg_matmul_batched(a3, a3, 0, 0) == NULL, CLG_STATUS_SHAPE_MISMATCH,
                     "clg_matmul_batched", "inner dimensions 4 and 3 differ");
    CLG_EXPECT_ERROR(clg_matmul_batched(a, w, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_matmul_batched", "[2,3]", "rank 2");
    CLG_EXPECT_ERROR(clg_linear(a, w, bias) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_linear", "[5]", "[3,4]");
    CLG_EXPECT_ERROR(clg_linear(a, b, NULL) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_linear",
                     "[2,3] x [4,5]");
    CLG_EXPECT_ERROR(clg_linear(NULL, w, NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_linear", "NULL");

    /* Tensors of two contexts. */
    char *dir = clg_test_tempdir("matmul");
    clg_context *other = clg_test_context_in(dir, 0);
    clg_tensor *o = clg_tensor_zeros(other, CLG_FLOAT32, 2, (int64_t[]){3, 4});
    assert_non_null(o);
    CLG_EXPECT_ERROR(clg_matmul(a, o, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_matmul", "different contexts");
    clg_tensor_free(o);
    clg_context_free(other);
    clg_test_rmtree(dir);
    free(dir);

    clg_tensor *ok = clg_matmul(a, w, 0, 0); /* still usable */
    assert_non_null(ok);
    clg_tensor *all[] = {ok, a, b, v, i, a3, b3, w, bias};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) clg_tensor_free(all[k]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_transposes),
        cmocka_unit_test(test_matmul_views),
        cmocka_unit_test(test_matmul_transposed_view_no_copy),
        cmocka_unit_test(test_matmul_zero_size),
        cmocka_unit_test(test_matmul_batched),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_linear_fuses_with_activation),
        cmocka_unit_test(test_matmul_step_replay),
        cmocka_unit_test(test_matmul_large_step),
        cmocka_unit_test(test_bad_input),
    };
    return CLG_RUN_GROUP(tests);
}
