/* The counter-based generator: known-answer vectors of Philox-4x32-10, device
 * output equal to the host reference bit for bit (raw bits and uniforms),
 * normals within a few ulp, reproducibility and stream offsets. */
#include "fixture.h"

#include <math.h>
#include <stdlib.h>

#include "tensor/tensor_impl.h"

static void test_known_answers(void **state) {
    (void)state;
    /* Known-answer vectors published with Random123 (Salmon et al., SC'11). */
    struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof *kat; i++) {
        uint32_t out[4];
        clg_philox4x32_10(kat[i].ctr, kat[i].key, out);
        for (int j = 0; j < 4; j++) assert_int_equal(out[j], kat[i].out[j]);
    }
}

static void test_bits_match_host(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const uint64_t offsets[] = {0, 1, 2, 3, 5, 4096, (1ull << 32) + 3};
    const int64_t sizes[] = {1, 2, 3, 4, 5, 7, 13, 100};
    const uint64_t seed = 0x0123456789abcdefull;
    for (size_t o = 0; o < sizeof offsets / sizeof *offsets; o++) {
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            int64_t n = sizes[s];
            clg_tensor *t = clg_tensor_rand_bits(ctx, 1, &n, seed, offsets[o]);
            assert_non_null(t);
            assert_int_equal(clg_tensor_dtype(t), CLG_INT32);
            uint32_t got[100];
            assert_int_equal(clg_tensor_to_host(t, got, sizeof got), CLG_OK);
            for (int64_t i = 0; i < n; i++)
                if (got[i] != clg_philox_bits(seed, offsets[o] + (uint64_t)i))
                    fail_msg("offset %llu size %lld element %lld differs",
                             (unsigned long long)offsets[o], (long long)n, (long long)i);
            clg_tensor_free(t);
        }
    }
}

static float host_uniform(uint64_t seed, uint64_t e, float lo, float hi) {
    volatile float u = (float)(clg_philox_bits(seed, e) >> 8) * 0x1.0p-24f;
    volatile float span = hi - lo;
    volatile float scaled = span * u;
    return lo + scaled;
}

static void test_uniform_bit_identical(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t shape[2] = {37, 11};
    const float lo = -3.0f, hi = 5.5f;
    clg_tensor *t = clg_tensor_rand_uniform(ctx, 2, shape, lo, hi, 7, 3);
    assert_non_null(t);
    float got[37 * 11];
    assert_int_equal(clg_tensor_to_host(t, got, sizeof got), CLG_OK);
    double sum = 0;
    for (int i = 0; i < 37 * 11; i++) {
        float want = host_uniform(7, 3 + (uint64_t)i, lo, hi);
        if (memcmp(&got[i], &want, sizeof want) != 0)
            fail_msg("element %d: device %.9g host %.9g", i, (double)got[i], (double)want);
        assert_true(got[i] >= lo && got[i] < hi);
        sum += got[i];
    }
    /* Mean of U(-3, 5.5) is 1.25; 407 draws: stddev of the mean ~0.12. */
    assert_true(fabs(sum / (37 * 11) - 1.25) < 0.6);
    clg_tensor_free(t);
}

static void test_normal_close_to_host(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t n = 4099;
    const uint64_t seed = 99, offset = 6;
    clg_tensor *t = clg_tensor_rand_normal(ctx, 1, &n, 2.0f, 0.5f, seed, offset);
    assert_non_null(t);
    float *got = malloc((size_t)n * sizeof *got);
    assert_int_equal(clg_tensor_to_host(t, got, (size_t)n * sizeof *got), CLG_OK);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t e = offset + (uint64_t)i, pair = e & ~1ull;
        double u1 = ((clg_philox_bits(seed, pair) >> 8) + 1u) * 0x1.0p-24;
        double u2 = (clg_philox_bits(seed, pair + 1) >> 8) * 0x1.0p-24;
        double r = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
        double z = (e & 1) ? r * sin(th) : r * cos(th);
        double want = 2.0 + 0.5 * z;
        /* OpenCL allows a few ulp in log, sin, cos and sqrt. */
        if (fabs(got[i] - want) > 1e-5 * (1 + fabs(want)))
            fail_msg("element %lld: device %.9g reference %.9g", (long long)i, (double)got[i], want);
        sum += got[i];
        sq += (double)got[i] * got[i];
    }
    double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
    assert_true(fabs(mean - 2.0) < 0.05);
    assert_true(fabs(sd - 0.5) < 0.05);
    free(got);
    clg_tensor_free(t);
}

static void test_reproducible_and_offsets(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t n = 50, n2 = 100;
    clg_tensor *a = clg_tensor_rand_uniform(ctx, 1, &n, 0, 1, 1234, 0);
    clg_tensor *b = clg_tensor_rand_uniform(ctx, 1, &n, 0, 1, 1234, 0);
    clg_tensor *c = clg_tensor_rand_uniform(ctx, 1, &n, 0, 1, 1235, 0);
    clg_tensor *d = clg_tensor_rand_uniform(ctx, 1, &n, 0, 1, 1234, 50);
    clg_tensor *whole = clg_tensor_rand_uniform(ctx, 1, &n2, 0, 1, 1234, 0);
    assert_true(a && b && c && d && whole);
    float va[50], vb[50], vc[50], vd[50], vw[100];
    assert_int_equal(clg_tensor_to_host(a, va, sizeof va), CLG_OK);
    assert_int_equal(clg_tensor_to_host(b, vb, sizeof vb), CLG_OK);
    assert_int_equal(clg_tensor_to_host(c, vc, sizeof vc), CLG_OK);
    assert_int_equal(clg_tensor_to_host(d, vd, sizeof vd), CLG_OK);
    assert_int_equal(clg_tensor_to_host(whole, vw, sizeof vw), CLG_OK);
    assert_memory_equal(va, vb, sizeof va);
    assert_memory_not_equal(va, vc, sizeof va);
    /* Two draws at offsets 0 and 50 are the first and second half of one draw. */
    assert_memory_equal(va, vw, sizeof va);
    assert_memory_equal(vd, vw + 50, sizeof vd);
    clg_tensor_free(a);
    clg_tensor_free(b);
    clg_tensor_free(c);
    clg_tensor_free(d);
    clg_tensor_free(whole);
}

static void test_bad_parameters(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t n = 4, neg = -4, zero = 0;
    CLG_EXPECT_ERROR(clg_tensor_rand_uniform(ctx, 1, &n, 1.0f, 0.0f, 1, 0) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_rand_uniform");
    CLG_EXPECT_ERROR(clg_tensor_rand_uniform(ctx, 1, &n, NAN, 1.0f, 1, 0) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_rand_uniform");
    CLG_EXPECT_ERROR(clg_tensor_rand_normal(ctx, 1, &n, 0.0f, -1.0f, 1, 0) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_rand_normal");
    CLG_EXPECT_ERROR(clg_tensor_rand_normal(ctx, 1, &neg, 0.0f, 1.0f, 1, 0) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_rand_normal", "[-4]");
    CLG_EXPECT_ERROR(clg_tensor_rand_bits(NULL, 1, &n, 1, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_tensor_rand_bits");
    CLG_EXPECT_ERROR(clg_tensor_rand_bits(ctx, 1, &n, 1, UINT64_MAX - 2) == NULL,
                     CLG_STATUS_SIZE_OVERFLOW, "offset");
    clg_tensor *empty = clg_tensor_rand_normal(ctx, 1, &zero, 0.0f, 1.0f, 1, 0);
    assert_non_null(empty);
    assert_int_equal(clg_tensor_numel(empty), 0);
    clg_tensor_free(empty);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_bits_match_host),
        cmocka_unit_test(test_uniform_bit_identical),
        cmocka_unit_test(test_normal_close_to_host),
        cmocka_unit_test(test_reproducible_and_offsets),
        cmocka_unit_test(test_bad_parameters),
    };
    return CLG_RUN_GROUP(tests);
}
