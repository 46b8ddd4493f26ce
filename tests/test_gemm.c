/* clgrad's own GEMM for CPU-like devices (src/ops/gemm_cpu.c, cl/gemm_cpu.cl),
 * against a host triple loop in double.
 *
 * Covered:
 * - the kernel itself (clg_gemm_cpu_run) on raw buffers, whatever the device:
 *   odd sizes around its 8 x 32 tiles (1x1x1, 7x13x5, 33x65x17, 128x96x200, ...),
 *   all four transpose combinations, leading dimensions wider than the matrix,
 *   offsets, batches with strides (and an A or B shared by every batch, stride
 *   0), products large enough that a transposed A is packed as well, and C
 *   written only inside its window (canaries between rows and batches);
 * - the dispatch in clg_matmul with CLGRAD_GEMM=own: the four transpose
 *   combinations of the forward and backward products on views (transposed,
 *   row-strided slices), batched products, and gradients A^T G and G B^T;
 * - captured steps: two commands (pack B, product), three when A^T is packed
 *   too; replay after new inputs equals eager evaluation bit for bit;
 * - the choice: CLGRAD_GEMM=clblast takes CLBlast (one command), "own" the
 *   kernel, "auto" the kernel exactly on CPU-type devices, and
 *   clg_gemm_commands_per_product says so; a bad value fails with a message
 *   naming the variable.
 *
 * Tolerance: |dev - ref| <= 1e-6 + 1e-5 * sum_k |a_ik b_kj| (float32 FMA
 * accumulation in k order; with K <= 200 the rounding error stays below
 * K * 2^-24 of the sum of |terms|, 1.2e-5, and is typically far smaller). */
#include "opcheck.h"

#include <math.h>
#include <stdlib.h>

#include "ops/gemm_cpu.h"
#include "tensor/tensor_impl.h"

static const float CANARY = 777.0f;

/* Sets CLGRAD_GEMM (NULL: unsets it). */
static void set_gemm_env(const char *value) {
    if (value) assert_int_equal(setenv("CLGRAD_GEMM", value, 1), 0);
    else assert_int_equal(unsetenv("CLGRAD_GEMM"), 0);
}

static clg_tensor *flat_tensor(clg_context *ctx, const float *host, size_t n) {
    int64_t shape[1] = {(int64_t)n};
    clg_tensor *t = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, shape, host);
    assert_non_null(t);
    return t;
}

/* One raw-buffer case: sizes, flags, and padding that makes every layout
 * parameter differ from the dense default. */
typedef struct raw_case {
    size_t m, n, k, batch;
    int ta, tb;
    int shared_b; /* B's batch stride 0 */
    int shared_a; /* A's batch stride 0 */
} raw_case;

static void check_raw(clg_context *ctx, const raw_case *rc) {
    size_t m = rc->m, n = rc->n, k = rc->k, batch = rc->batch;
    /* Stored shapes: A [m, k] or [k, m]; B [k, n] or [n, k]; row padding 3, 1, 2. */
    size_t a_rows = rc->ta ? k : m, a_cols = rc->ta ? m : k;
    size_t b_rows = rc->tb ? n : k, b_cols = rc->tb ? k : n;
    size_t a_ld = a_cols + 3, b_ld = b_cols + 1, c_ld = n + 2;
    size_t a_off = 5, b_off = 2, c_off = 3;
    size_t a_stride = rc->shared_a ? 0 : a_rows * a_ld + 7;
    size_t b_stride = rc->shared_b ? 0 : b_rows * b_ld + 4;
    size_t c_stride = m * c_ld + 6;
    size_t a_len = a_off + (batch - 1) * a_stride + a_rows * a_ld;
    size_t b_len = b_off + (batch - 1) * b_stride + b_rows * b_ld;
    size_t c_len = c_off + batch * c_stride;
    float *ha = malloc(a_len * sizeof *ha), *hb = malloc(b_len * sizeof *hb);
    float *hc = malloc(c_len * sizeof *hc);
    assert_true(ha && hb && hc);
    clg_test_random_floats(ha, a_len, (uint32_t)(11 + m));
    clg_test_random_floats(hb, b_len, (uint32_t)(23 + n));
    for (size_t i = 0; i < c_len; i++) hc[i] = CANARY;
    clg_tensor *ta = flat_tensor(ctx, ha, a_len), *tb = flat_tensor(ctx, hb, b_len);
    clg_tensor *tc = flat_tensor(ctx, hc, c_len);
    char what[96];
    snprintf(what, sizeof what, "gemm %zux%zux%zu batch %zu ta=%d tb=%d", m, n, k, batch, rc->ta,
             rc->tb);
    clg_gemm_desc d = {.m = m, .n = n, .k = k, .batch = batch, .trans_a = rc->ta,
                       .trans_b = rc->tb, .a = ta->buf, .b = tb->buf, .c = tc->buf,
                       .a_off = a_off, .a_ld = a_ld, .a_stride = a_stride,
                       .b_off = b_off, .b_ld = b_ld, .b_stride = b_stride,
                       .c_off = c_off, .c_ld = c_ld, .c_stride = c_stride, .what = what};
    assert_int_equal(clg_gemm_cpu_run(ctx, &d), CLG_OK);
    assert_int_equal(clg_tensor_to_host(tc, hc, c_len * sizeof *hc), CLG_OK);

    int bad = 0;
    for (size_t bb = 0; bb < batch; bb++) {
        const float *a = ha + a_off + bb * a_stride, *b = hb + b_off + bb * b_stride;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double s = 0, mag = 0;
                for (size_t q = 0; q < k; q++) {
                    double x = rc->ta ? a[q * a_ld + i] : a[i * a_ld + q];
                    double y = rc->tb ? b[j * b_ld + q] : b[q * b_ld + j];
                    s += x * y;
                    mag += fabs(x * y);
                }
                double got = hc[c_off + bb * c_stride + i * c_ld + j];
                if (!(fabs(got - s) <= 1e-6 + 1e-5 * mag) && bad++ < 5)
                    print_error("%s: C[%zu][%zu][%zu] = %.9g, expected %.9g\n", what, bb, i, j,
                                got, s);
            }
    }
    /* Everything outside the C windows keeps its canary. */
    for (size_t e = 0; e < c_len; e++) {
        int inside = 0;
        if (e >= c_off) {
            size_t r = e - c_off, bb = r / c_stride, w = r % c_stride;
            inside = bb < batch && w / c_ld < m && w % c_ld < n;
        }
        if (!inside && hc[e] != CANARY && bad++ < 5)
            print_error("%s: element %zu outside C was overwritten (%g)\n", what, e, hc[e]);
    }
    assert_int_equal(bad, 0);
    clg_tensor_free(ta);
    clg_tensor_free(tb);
    clg_tensor_free(tc);
    free(ha);
    free(hb);
    free(hc);
}

static void test_kernel_odd_sizes_all_transposes(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    static const size_t sizes[][3] = {{1, 1, 1},   {7, 13, 5},  {33, 65, 17}, {128, 96, 200},
                                      {8, 32, 3},  {9, 33, 1},  {1, 100, 64}, {70, 1, 9},
                                      {16, 64, 31}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int t = 0; t < 4; t++) {
            raw_case rc = {sizes[s][0], sizes[s][1], sizes[s][2], 1, t & 1, t >> 1, 0, 0};
            check_raw(ctx, &rc);
        }
}

static void test_kernel_batched(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    for (int t = 0; t < 4; t++) {
        raw_case rc = {19, 40, 11, 3, t & 1, t >> 1, 0, 0};
        check_raw(ctx, &rc);
        rc.shared_b = 1;
        check_raw(ctx, &rc);
        rc.shared_a = 1;
        check_raw(ctx, &rc);
    }
    raw_case one = {5, 7, 3, 1, 0, 0, 1, 1}; /* batch 1: strides unused */
    check_raw(ctx, &one);
    /* Large enough (>= 2^21 multiply-adds) that a transposed A is packed too. */
    for (int shared = 0; shared < 2; shared++) {
        raw_case big = {72, 40, 730, 2, 1, shared, 0, shared};
        check_raw(ctx, &big);
    }
}

/* --- through clg_matmul -------------------------------------------------------------- */

/* [r, c] host matrix filled from a seed; the device tensor is either plain, the
 * transpose of a stored [c, r], or rows 1, 3, 5, ... of a stored [2r, c]. */
enum { VIEW_PLAIN, VIEW_TRANSPOSED, VIEW_ROW_STEP };

typedef struct operand {
    clg_tensor *stored, *view;
    double *host; /* the logical [r, c] values */
} operand;

static operand make_operand(clg_context *ctx, int64_t r, int64_t c, int view, uint32_t seed) {
    operand op = {NULL, NULL, malloc((size_t)(r * c) * sizeof(double))};
    int64_t rows = view == VIEW_TRANSPOSED ? c : view == VIEW_ROW_STEP ? 2 * r : r;
    int64_t cols = view == VIEW_TRANSPOSED ? r : c;
    float *raw = malloc((size_t)(rows * cols) * sizeof(float));
    assert_true(op.host && raw);
    clg_test_random_floats(raw, (size_t)(rows * cols), seed);
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++)
            op.host[i * c + j] = view == VIEW_TRANSPOSED ? raw[j * cols + i]
                                 : view == VIEW_ROW_STEP ? raw[(2 * i + 1) * cols + j]
                                                         : raw[i * cols + j];
    op.stored = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){rows, cols}, raw);
    assert_non_null(op.stored);
    if (view == VIEW_TRANSPOSED) {
        op.view = clg_tensor_transpose(op.stored, 0, 1);
    } else if (view == VIEW_ROW_STEP) {
        /* rows 1, 3, ...: a reshape to [r, 2c] and the second half of each row */
        clg_tensor *wide = clg_tensor_reshape(op.stored, 2, (int64_t[]){r, 2 * c});
        op.view = wide ? clg_tensor_slice(wide, 1, c, 2 * c, 1) : NULL;
        clg_tensor_free(wide);
    } else {
        op.view = clg_tensor_reshape(op.stored, 2, (int64_t[]){r, c});
    }
    assert_non_null(op.view);
    free(raw);
    return op;
}

static void free_operand(operand *op) {
    clg_tensor_free(op->view);
    clg_tensor_free(op->stored);
    free(op->host);
}

/* y = op(a) op(b) on the device against the host; a is [m,k] or [k,m]. */
static void check_matmul(const clg_tensor *y, const double *a, const double *b, int64_t m, int64_t n,
                         int64_t k, int ta, int tb, const char *what) {
    assert_non_null(y);
    assert_int_equal(clg_tensor_shape(y)[0], m);
    assert_int_equal(clg_tensor_shape(y)[1], n);
    float *got = malloc((size_t)(m * n) * sizeof *got);
    assert_non_null(got);
    assert_int_equal(clg_tensor_to_host(y, got, (size_t)(m * n) * sizeof *got), CLG_OK);
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int64_t q = 0; q < k; q++) {
                double x = ta ? a[q * m + i] : a[i * k + q], z = tb ? b[j * k + q] : b[q * n + j];
                s += x * z;
                mag += fabs(x * z);
            }
            if (!(fabs(got[i * n + j] - s) <= 1e-6 + 1e-5 * mag) && bad++ < 5)
                print_error("%s: y[%lld][%lld] = %.9g, expected %.9g\n", what, (long long)i,
                            (long long)j, got[i * n + j], s);
        }
    free(got);
    assert_int_equal(bad, 0);
}

static void test_matmul_own_views(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    set_gemm_env("own");
    const int64_t m = 21, n = 37, k = 10;
    for (int t = 0; t < 4; t++)
        for (int va = 0; va < 3; va++)
            for (int vb = 0; vb < 3; vb++) {
                int ta = t & 1, tb = t >> 1;
                operand a = make_operand(ctx, ta ? k : m, ta ? m : k, va, (uint32_t)(100 + va));
                operand b = make_operand(ctx, tb ? n : k, tb ? k : n, vb, (uint32_t)(200 + vb));
                char what[64];
                snprintf(what, sizeof what, "matmul ta=%d tb=%d views %d,%d", ta, tb, va, vb);
                clg_tensor *y = clg_matmul(a.view, b.view, ta, tb);
                check_matmul(y, a.host, b.host, m, n, k, ta, tb, what);
                clg_tensor_free(y);
                free_operand(&a);
                free_operand(&b);
            }
    set_gemm_env(NULL);
}

/* The backward pass's products: dA = G B^T and dB = A^T G for y = a b. */
static void test_matmul_own_gradients(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    set_gemm_env("own");
    const int64_t m = 12, n = 35, k = 9;
    operand a = make_operand(ctx, m, k, VIEW_PLAIN, 5), b = make_operand(ctx, k, n, VIEW_PLAIN, 6);
    operand g = make_operand(ctx, m, n, VIEW_PLAIN, 7);
    assert_int_equal(clg_tensor_set_requires_grad(a.stored, 1), CLG_OK);
    assert_int_equal(clg_tensor_set_requires_grad(b.stored, 1), CLG_OK);
    clg_tensor *y = clg_matmul(a.stored, b.stored, 0, 0);
    assert_non_null(y);
    assert_int_equal(clg_backward(y, g.stored), CLG_OK);
    check_matmul(clg_tensor_grad(a.stored), g.host, b.host, m, k, n, 0, 1, "dA");
    check_matmul(clg_tensor_grad(b.stored), a.host, g.host, k, n, m, 1, 0, "dB");
    clg_tensor_free(y);
    free_operand(&a);
    free_operand(&b);
    free_operand(&g);
    set_gemm_env(NULL);
}

static void test_matmul_own_batched(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    set_gemm_env("own");
    enum { B = 3, M = 10, K = 6, N = 34 };
    float ha[B * K * M], hb[B * K * N], got[B * M * N];
    clg_test_random_floats(ha, B * K * M, 31);
    clg_test_random_floats(hb, B * K * N, 32);
    clg_tensor *a = clg_tensor_from_host(ctx, CLG_FLOAT32, 3, (int64_t[]){B, K, M}, ha);
    clg_tensor *b = clg_tensor_from_host(ctx, CLG_FLOAT32, 3, (int64_t[]){B, K, N}, hb);
    clg_tensor *y = clg_matmul_batched(a, b, 1, 0); /* a^T b per batch */
    assert_non_null(y);
    assert_int_equal(clg_tensor_to_host(y, got, sizeof got), CLG_OK);
    for (int bb = 0; bb < B; bb++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0, mag = 0;
                for (int q = 0; q < K; q++) {
                    double t = (double)ha[(bb * K + q) * M + i] * hb[(bb * K + q) * N + j];
                    s += t;
                    mag += fabs(t);
                }
                assert_true(fabs(got[(bb * M + i) * N + j] - s) <= 1e-6 + 1e-5 * mag);
            }
    clg_tensor_free(y);
    clg_tensor_free(a);
    clg_tensor_free(b);
    set_gemm_env(NULL);
}

/* --- captured steps -------------------------------------------------------------------- */

static void test_own_in_captured_step(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    set_gemm_env("own");
    enum { M = 45, K = 70, N = 33 };
    float ha[M * K], hb[N * K], eager[M * N], replayed[M * N];
    clg_test_random_floats(ha, M * K, 51);
    clg_test_random_floats(hb, N * K, 52);
    clg_tensor *a = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){M, K}, ha);
    clg_tensor *b = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){N, K}, hb);
    assert_true(a && b);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *y = clg_matmul(a, b, 0, 1);
    clg_step *step = clg_step_capture_end(ctx);
    assert_true(y && step);
    assert_int_equal(clg_step_get_info(step).commands, 2); /* pack B, product */
    /* New inputs, then: replay vs the same product evaluated eagerly. */
    clg_test_random_floats(ha, M * K, 53);
    clg_test_random_floats(hb, N * K, 54);
    assert_int_equal(clg_tensor_write(a, ha, sizeof ha), CLG_OK);
    assert_int_equal(clg_tensor_write(b, hb, sizeof hb), CLG_OK);
    uint64_t created = clg_context_get_stats(ctx).buffers_created;
    assert_int_equal(clg_step_replay(step), CLG_OK);
    assert_int_equal(clg_tensor_to_host(y, replayed, sizeof replayed), CLG_OK);
    assert_int_equal(clg_context_get_stats(ctx).buffers_created, created); /* nothing allocated */
    clg_tensor *y2 = clg_matmul(a, b, 0, 1);
    assert_non_null(y2);
    assert_int_equal(clg_tensor_to_host(y2, eager, sizeof eager), CLG_OK);
    assert_memory_equal(replayed, eager, sizeof eager);
    double ra[M * K], rb[N * K];
    for (int i = 0; i < M * K; i++) ra[i] = ha[i];
    for (int i = 0; i < N * K; i++) rb[i] = hb[i];
    check_matmul(y2, ra, rb, M, N, K, 0, 1, "eager after replay");
    clg_tensor_free(y2);
    clg_step_free(step);
    clg_tensor_free(y);
    clg_tensor_free(a);
    clg_tensor_free(b);
    set_gemm_env(NULL);
}

/* A^T B large enough to pack A: three commands, replay equals eager. */
static void test_packed_a_in_captured_step(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    set_gemm_env("own");
    enum { M = 64, K = 300, N = 120 };
    float *ha = malloc(sizeof(float) * K * M), *hb = malloc(sizeof(float) * K * N);
    float *eager = malloc(sizeof(float) * M * N), *replayed = malloc(sizeof(float) * M * N);
    assert_true(ha && hb && eager && replayed);
    clg_test_random_floats(ha, K * M, 71);
    clg_test_random_floats(hb, K * N, 72);
    clg_tensor *a = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){K, M}, ha);
    clg_tensor *b = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){K, N}, hb);
    assert_true(a && b);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *y = clg_matmul(a, b, 1, 0);
    clg_step *step = clg_step_capture_end(ctx);
    assert_true(y && step);
    assert_int_equal(clg_step_get_info(step).commands, 3); /* pack A, pack B, product */
    clg_test_random_floats(ha, K * M, 73);
    assert_int_equal(clg_tensor_write(a, ha, sizeof(float) * K * M), CLG_OK);
    assert_int_equal(clg_step_replay(step), CLG_OK);
    assert_int_equal(clg_tensor_to_host(y, replayed, sizeof(float) * M * N), CLG_OK);
    clg_tensor *y2 = clg_matmul(a, b, 1, 0);
    assert_non_null(y2);
    assert_int_equal(clg_tensor_to_host(y2, eager, sizeof(float) * M * N), CLG_OK);
    assert_memory_equal(replayed, eager, sizeof(float) * M * N);
    double *ra = malloc(sizeof(double) * K * M), *rb = malloc(sizeof(double) * K * N);
    assert_true(ra && rb);
    for (int i = 0; i < K * M; i++) ra[i] = ha[i];
    for (int i = 0; i < K * N; i++) rb[i] = hb[i];
    check_matmul(y2, ra, rb, M, N, K, 1, 0, "A^T B after replay");
    free(ra);
    free(rb);
    clg_tensor_free(y2);
    clg_step_free(step);
    clg_tensor_free(y);
    clg_tensor_free(a);
    clg_tensor_free(b);
    free(ha);
    free(hb);
    free(eager);
    free(replayed);
    set_gemm_env(NULL);
}

/* --- the choice ---------------------------------------------------------------------------- */

/* Commands a captured 9x5x4 product records under CLGRAD_GEMM=value. */
static uint64_t commands_with(clg_context *ctx, const char *value) {
    float ha[9 * 4], hb[4 * 5];
    clg_test_random_floats(ha, 36, 61);
    clg_test_random_floats(hb, 20, 62);
    clg_tensor *a = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){9, 4}, ha);
    clg_tensor *b = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 5}, hb);
    assert_true(a && b);
    set_gemm_env(value);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *y = clg_matmul(a, b, 0, 0);
    clg_step *step = clg_step_capture_end(ctx);
    set_gemm_env(NULL);
    assert_true(y && step);
    double ra[36], rb[20];
    for (int i = 0; i < 36; i++) ra[i] = ha[i];
    for (int i = 0; i < 20; i++) rb[i] = hb[i];
    check_matmul(y, ra, rb, 9, 5, 4, 0, 0, value ? value : "unset");
    uint64_t n = clg_step_get_info(step).commands;
    clg_step_free(step);
    clg_tensor_free(y);
    clg_tensor_free(a);
    clg_tensor_free(b);
    return n;
}

static void test_choice(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int cpu = clg_context_device(ctx)->type == CLG_DEVICE_TYPE_CPU;
    assert_int_equal(commands_with(ctx, "clblast"), 1);
    assert_int_equal(commands_with(ctx, "own"), 2);
    assert_int_equal(commands_with(ctx, "auto"), cpu ? 2 : 1);
    assert_int_equal(commands_with(ctx, NULL), cpu ? 2 : 1);
    /* The helper other tests use to count a step's commands agrees. */
    const char *values[3] = {"clblast", "own", NULL};
    const int expected[3] = {1, 2, cpu ? 2 : 1};
    for (int i = 0; i < 3; i++) {
        set_gemm_env(values[i]);
        assert_int_equal(clg_gemm_commands_per_product(ctx), expected[i]);
    }
    set_gemm_env("fast");
    assert_int_equal(clg_gemm_commands_per_product(ctx), 0);
    set_gemm_env(NULL);
}

static void test_bad_env(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_tensor *a = clg_tensor_ones(ctx, CLG_FLOAT32, 2, (int64_t[]){2, 3});
    assert_non_null(a);
    set_gemm_env("fast");
    clg_tensor *y = clg_matmul(a, a, 0, 1);
    set_gemm_env(NULL);
    CLG_EXPECT_ERROR(y == NULL, CLG_STATUS_INVALID_ARGUMENT, "CLGRAD_GEMM", "'fast'", "clblast");
    clg_tensor_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_odd_sizes_all_transposes),
        cmocka_unit_test(test_kernel_batched),
        cmocka_unit_test(test_matmul_own_views),
        cmocka_unit_test(test_matmul_own_gradients),
        cmocka_unit_test(test_matmul_own_batched),
        cmocka_unit_test(test_own_in_captured_step),
        cmocka_unit_test(test_packed_a_in_captured_step),
        cmocka_unit_test(test_choice),
        cmocka_unit_test(test_bad_env),
    };
    return CLG_RUN_GROUP(tests);
}
