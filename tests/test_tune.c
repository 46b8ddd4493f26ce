/* Tuned CLBlast GEMM parameters from the per-device store: the text format is
 * parsed strictly, and a context with a stored set (or a malformed one) still
 * computes correct products through CLBlast. Its own process: CLBlast keeps
 * overridden parameters per device for the rest of the process. */
#include "fixture.h"
#include "ops/gemm_cpu.h"

#include <math.h>
#include <stdlib.h>

static void test_parse(void **state) {
    (void)state;
    const char *names[4];
    size_t values[4];
    char ok[] = "  KWG=32 MWG=64  VWM=4 ";
    assert_int_equal(clg_gemm_parse_tuning(ok, names, values, 4), 3);
    assert_string_equal(names[0], "KWG");
    assert_string_equal(names[2], "VWM");
    assert_int_equal(values[0], 32);
    assert_int_equal(values[1], 64);
    assert_int_equal(values[2], 4);
    const char *bad[] = {"", "   ", "KWG", "KWG=", "=3", "KWG=3x", "KWG=-1", "A=1 B=2 C=3 D=4 E=5",
                         "KWG=99999999999999999999999", "KWG=1,MWG=2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", bad[i]);
        if (clg_gemm_parse_tuning(buf, names, values, 4) != 0) fail_msg("'%s' was accepted", bad[i]);
    }
}

/* c = a b through CLBlast on a fresh context whose store holds `tuning`. */
static void product_with(const char *tuning) {
    char *dir = clg_test_tempdir("tune");
    clg_context *ctx = clg_test_context_in(dir, 0);
    assert_int_equal(clg_store_set(ctx, CLG_STORE_CLBLAST_XGEMM, tuning), CLG_OK);
    enum { M = 70, K = 600, N = 40 }; /* large enough for CLBlast's indirect kernel */
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N), *c = malloc(sizeof(float) * M * N);
    assert_true(a && b && c);
    clg_test_random_floats(a, M * K, 1);
    clg_test_random_floats(b, K * N, 2);
    clg_tensor *ta = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (const int64_t[]){M, K}, a);
    clg_tensor *tb = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (const int64_t[]){K, N}, b);
    setenv("CLGRAD_GEMM", "clblast", 1);
    clg_tensor *tc = clg_matmul(ta, tb, 0, 0);
    unsetenv("CLGRAD_GEMM");
    assert_non_null(tc);
    assert_int_equal(clg_tensor_to_host(tc, c, sizeof(float) * M * N), CLG_OK);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < K; k++) ref += (double)a[i * K + k] * b[k * N + j], mag += fabs(a[i * K + k] * b[k * N + j]);
            if (fabs(c[i * N + j] - ref) > 1e-5 * mag + 1e-6)
                fail_msg("tuning '%s': c[%d][%d] = %.7g, host %.7g", tuning, i, j, (double)c[i * N + j], ref);
        }
    clg_tensor_free(ta), clg_tensor_free(tb), clg_tensor_free(tc);
    free(a), free(b), free(c);
    clg_context_free(ctx);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_malformed_tuning_keeps_defaults(void **state) {
    (void)state;
    product_with("not a parameter set");
}

/* A complete Xgemm set (one the tuner reported on PoCL); a device may refuse it,
 * and then keeps its defaults: correct either way. */
static void test_stored_tuning_is_applied_and_correct(void **state) {
    (void)state;
    product_with("GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=64 NDIMB=8 NDIMC=8 NWG=64 SA=0 SB=0 "
                 "STRM=0 STRN=0 VWM=4 VWN=1");
}

/* A stored work-group size for 1-D launches is read when a context is made;
 * kernels stay correct with it (sizes that do not divide the element count
 * included), and an unusable value is ignored. */
static void relu_with_local(const char *local) {
    char *dir = clg_test_tempdir("tune-local");
    clg_context *ctx = clg_test_context_in(dir, 1);
    assert_int_equal(clg_store_set(ctx, CLG_STORE_LOCAL_1D, local), CLG_OK);
    clg_context_free(ctx);
    ctx = clg_test_context_in(dir, 1);
    enum { N = 1000 };
    float h[N], out[N];
    clg_test_random_floats(h, N, 5);
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, (const int64_t[]){N}, h);
    clg_tensor *y = x ? clg_relu(x) : NULL;
    assert_non_null(y);
    assert_int_equal(clg_tensor_to_host(y, out, sizeof out), CLG_OK);
    for (int i = 0; i < N; i++)
        if (out[i] != (h[i] > 0 ? h[i] : 0.0f)) fail_msg("local '%s': relu[%d] = %g of %g", local, i, (double)out[i], (double)h[i]);
    clg_tensor_free(x), clg_tensor_free(y);
    clg_context_free(ctx);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_stored_local_size(void **state) {
    (void)state;
    relu_with_local("256");
    relu_with_local("100");  /* not a power of two: ignored */
    relu_with_local("huge"); /* not a number: ignored */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_malformed_tuning_keeps_defaults),
        cmocka_unit_test(test_stored_tuning_is_applied_and_correct),
        cmocka_unit_test(test_stored_local_size),
    };
    return CLG_RUN_GROUP(tests);
}
