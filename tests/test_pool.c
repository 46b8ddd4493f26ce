/* The device memory pool: size classes, reuse, statistics, releasing the cache,
 * allocations beyond the device limit, and zero-size tensors. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>

#include "runtime/runtime_impl.h"

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void test_size_class(void **state) {
    (void)state;
    enum { CAP = 20000 };
    size_t *sizes = malloc(CAP * sizeof *sizes);
    assert_non_null(sizes);
    size_t n = 0;
    for (size_t s = 1; s <= 2048; s++) sizes[n++] = s;
    for (int k = 8; k <= 30; k++) {
        size_t p = (size_t)1 << k;
        for (int q = 4; q <= 8; q++) { /* quarter steps and their neighbours */
            size_t c = p / 4 * (size_t)q;
            sizes[n++] = c - 1;
            sizes[n++] = c;
            sizes[n++] = c + 1;
        }
    }
    uint32_t x = 2463534242u;
    for (int i = 0; i < 4000; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        int bits = 1 + (int)(x % 30);
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        sizes[n++] = 1 + (size_t)(x % ((uint32_t)1 << bits));
    }
    assert_true(n <= CAP);
    qsort(sizes, n, sizeof *sizes, cmp_size);

    size_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        size_t s = sizes[i], c = clg_pool_size_class(s);
        if (c < s) fail_msg("class of %zu is %zu, smaller than the request", s, c);
        if (s > 256 && c - s > s / 4)
            fail_msg("class of %zu is %zu, more than 25%% larger", s, c);
        if (c < prev) fail_msg("class of %zu is %zu, smaller than %zu for a smaller size", s, c, prev);
        /* a class is its own class: a cached buffer serves exactly its class */
        if (clg_pool_size_class(c) != c) fail_msg("class of class %zu is %zu", c, clg_pool_size_class(c));
        prev = c;
    }
    free(sizes);

    /* exact powers of two are their own class; one more byte moves up a quarter */
    for (int k = 9; k <= 30; k++) {
        size_t p = (size_t)1 << k;
        assert_int_equal(clg_pool_size_class(p), p);
        assert_int_equal(clg_pool_size_class(p + 1), p + p / 4);
    }
    /* huge requests never come back smaller */
    const size_t big[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX / 2 + 2, (SIZE_MAX / 4) * 3, (size_t)1 << 62,
                          ((size_t)1 << 62) + 1};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        if (clg_pool_size_class(big[i]) < big[i])
            fail_msg("class of %zu is %zu", big[i], clg_pool_size_class(big[i]));
}

static clg_tensor *make_f32(clg_context *ctx, int64_t n) {
    clg_tensor *t = clg_tensor_empty(ctx, CLG_FLOAT32, 1, &n);
    if (!t) fail_msg("empty [%lld]: %s", (long long)n, clg_last_error());
    return t;
}

static void expect_peak(const clg_context_stats *s) {
    if (s->peak_bytes_in_use < s->bytes_in_use)
        fail_msg("peak %llu < in use %llu", (unsigned long long)s->peak_bytes_in_use,
                 (unsigned long long)s->bytes_in_use);
}

static void test_reuse(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_context_release_cached_memory(ctx); /* start from an empty cache */
    clg_context_stats s0 = clg_context_get_stats(ctx);
    assert_int_equal(s0.bytes_cached, 0);

    /* 4000 bytes */
    clg_tensor *a = make_f32(ctx, 1000);
    clg_context_stats s1 = clg_context_get_stats(ctx);
    assert_int_equal(s1.buffers_created, s0.buffers_created + 1);
    assert_int_equal(s1.buffers_reused, s0.buffers_reused);
    uint64_t held = s1.bytes_in_use - s0.bytes_in_use;
    if (held < 4000 || held > clg_pool_size_class(4000))
        fail_msg("a 4000-byte tensor holds %llu bytes", (unsigned long long)held);
    expect_peak(&s1);
    assert_true(s1.peak_bytes_in_use >= s0.bytes_in_use + 4000);

    /* views share the buffer: no change */
    const int64_t s2d[2] = {40, 25};
    clg_tensor *v1 = clg_tensor_reshape(a, 2, s2d);
    clg_tensor *v2 = clg_tensor_transpose(v1, 0, 1);
    clg_tensor *v3 = clg_tensor_slice(v2, 0, 1, 20, 3);
    assert_non_null(v3);
    clg_context_stats sv = clg_context_get_stats(ctx);
    assert_int_equal(sv.bytes_in_use, s1.bytes_in_use);
    assert_int_equal(sv.buffers_created, s1.buffers_created);
    assert_int_equal(sv.buffers_reused, s1.buffers_reused);
    /* the base going first does not release the buffer either */
    clg_tensor_free(a);
    clg_tensor_free(v1);
    clg_tensor_free(v2);
    sv = clg_context_get_stats(ctx);
    assert_int_equal(sv.bytes_in_use, s1.bytes_in_use);
    assert_int_equal(sv.bytes_cached, s1.bytes_cached);
    clg_tensor_free(v3); /* the last one: back to the pool */

    clg_context_stats s2 = clg_context_get_stats(ctx);
    assert_int_equal(s2.bytes_in_use, s0.bytes_in_use);
    assert_int_equal(s2.bytes_cached, s0.bytes_cached + held);
    assert_int_equal(s2.peak_bytes_in_use, s1.peak_bytes_in_use);
    /* a reset peak restarts from what is in use now */
    clg_context_reset_peak_memory(ctx);
    assert_int_equal(clg_context_get_stats(ctx).peak_bytes_in_use, s2.bytes_in_use);

    /* the same byte size, another dtype and shape: served from the pool */
    const int64_t s3[3] = {10, 10, 10};
    clg_tensor *b = clg_tensor_zeros(ctx, CLG_INT32, 3, s3);
    assert_non_null(b);
    clg_context_stats s3s = clg_context_get_stats(ctx);
    assert_int_equal(s3s.buffers_created, s2.buffers_created);
    assert_int_equal(s3s.buffers_reused, s2.buffers_reused + 1);
    assert_int_equal(s3s.bytes_in_use, s1.bytes_in_use);
    assert_int_equal(s3s.bytes_cached, s0.bytes_cached);
    /* the reused buffer is filled as asked */
    int32_t got[1000];
    assert_int_equal(clg_tensor_to_host(b, got, sizeof got), CLG_OK);
    for (int i = 0; i < 1000; i++) assert_int_equal(got[i], 0);

    /* a different size class (8000 bytes) needs a new buffer */
    clg_tensor *c = make_f32(ctx, 2000);
    clg_context_stats s4 = clg_context_get_stats(ctx);
    assert_int_equal(s4.buffers_created, s3s.buffers_created + 1);
    assert_int_equal(s4.buffers_reused, s3s.buffers_reused);
    assert_true(s4.bytes_in_use >= s3s.bytes_in_use + 8000);
    expect_peak(&s4);
    assert_true(s4.peak_bytes_in_use >= s4.bytes_in_use);

    /* a smaller size in the same class as b (3900 bytes -> 4096) reuses b's buffer */
    assert_int_equal(clg_pool_size_class(3900), clg_pool_size_class(4000));
    clg_tensor_free(b);
    clg_context_stats s5 = clg_context_get_stats(ctx);
    clg_tensor *d = make_f32(ctx, 975);
    clg_context_stats s6 = clg_context_get_stats(ctx);
    assert_int_equal(s6.buffers_created, s5.buffers_created);
    assert_int_equal(s6.buffers_reused, s5.buffers_reused + 1);

    /* with only a 4096-byte buffer cached, a 2000-byte request (another, smaller
     * class) creates its own buffer and leaves the cached one alone */
    clg_tensor_free(d);
    clg_context_stats s8 = clg_context_get_stats(ctx);
    assert_int_equal(s8.bytes_cached, clg_pool_size_class(4000));
    assert_true(clg_pool_size_class(2000) != clg_pool_size_class(4000));
    clg_tensor *e = make_f32(ctx, 500);
    clg_context_stats s9 = clg_context_get_stats(ctx);
    assert_int_equal(s9.buffers_created, s8.buffers_created + 1);
    assert_int_equal(s9.buffers_reused, s8.buffers_reused);
    assert_int_equal(s9.bytes_cached, s8.bytes_cached);
    clg_tensor_free(e);
    clg_tensor_free(c);
    clg_context_stats s7 = clg_context_get_stats(ctx);
    assert_int_equal(s7.bytes_in_use, s0.bytes_in_use);
    expect_peak(&s7);
    assert_true(s7.peak_bytes_in_use >= s4.bytes_in_use);
}

static void test_steady_state(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 100 };
    clg_tensor *t[N];
    for (int i = 0; i < N; i++) t[i] = make_f32(ctx, 16 + i % 5);
    for (int i = 0; i < N; i++) clg_tensor_free(t[i]);
    clg_context_stats s0 = clg_context_get_stats(ctx);
    /* the same allocations again: all from the pool, including more than one
     * buffer of a class at a time (and more than the free list's first growth) */
    for (int i = 0; i < N; i++) t[i] = make_f32(ctx, 16 + i % 5);
    clg_context_stats s1 = clg_context_get_stats(ctx);
    assert_int_equal(s1.buffers_created, s0.buffers_created);
    assert_int_equal(s1.buffers_reused, s0.buffers_reused + N);
    for (int i = 0; i < N; i++) clg_tensor_free(t[i]);
    clg_context_stats s2 = clg_context_get_stats(ctx);
    assert_int_equal(s2.bytes_in_use, s0.bytes_in_use);
    assert_int_equal(s2.bytes_cached, s0.bytes_cached);
}

static void test_release_cached(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t shape[2] = {8, 33};
    float host[8 * 33];
    clg_test_random_floats(host, 8 * 33, 5);
    clg_tensor *keep = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, host);
    assert_non_null(keep);

    clg_tensor *t = make_f32(ctx, 3000);
    clg_tensor_free(t);
    clg_context_stats s0 = clg_context_get_stats(ctx);
    assert_true(s0.bytes_cached >= 12000);

    clg_context_release_cached_memory(ctx);
    clg_context_stats s1 = clg_context_get_stats(ctx);
    assert_int_equal(s1.bytes_cached, 0);
    assert_int_equal(s1.bytes_in_use, s0.bytes_in_use); /* live tensors keep theirs */
    clg_context_release_cached_memory(ctx); /* twice is harmless */
    clg_context_release_cached_memory(NULL);

    /* a live tensor still reads back */
    float got[8 * 33];
    assert_int_equal(clg_tensor_to_host(keep, got, sizeof got), CLG_OK);
    assert_memory_equal(got, host, sizeof host);

    /* the same size again must create a buffer: nothing is cached */
    t = make_f32(ctx, 3000);
    clg_context_stats s2 = clg_context_get_stats(ctx);
    assert_int_equal(s2.buffers_created, s1.buffers_created + 1);
    assert_int_equal(s2.buffers_reused, s1.buffers_reused);
    clg_tensor_free(t);
    clg_tensor_free(keep);
}

static void test_too_large(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_context_limits lim = clg_context_get_limits(ctx);
    const clg_device_info *dev = clg_context_device(ctx);
    assert_non_null(dev);
    assert_true(lim.max_alloc_bytes > 0);
    clg_context_stats s0 = clg_context_get_stats(ctx);

    int64_t n = (int64_t)(lim.max_alloc_bytes / 4) + 1; /* 4 bytes more than allowed */
    clg_tensor *t = clg_tensor_empty(ctx, CLG_FLOAT32, 1, &n);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_OUT_OF_DEVICE_MEMORY, "largest single allocation",
                     dev->name, "clg_tensor_empty");
    char shape[64];
    snprintf(shape, sizeof shape, "[%lld]", (long long)n);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_OUT_OF_DEVICE_MEMORY, shape);

    const int64_t s2[2] = {2, (int64_t)lim.max_alloc_bytes};
    t = clg_tensor_zeros(ctx, CLG_UINT8, 2, s2);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_OUT_OF_DEVICE_MEMORY, "largest single allocation",
                     dev->name);
    const int64_t s3[3] = {4, 1024, (int64_t)(lim.max_alloc_bytes / 1024)};
    t = clg_tensor_ones(ctx, CLG_FLOAT16, 3, s3);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_OUT_OF_DEVICE_MEMORY, "largest single allocation",
                     dev->name);

    /* nothing was allocated or leaked */
    clg_context_stats s1 = clg_context_get_stats(ctx);
    assert_int_equal(s1.buffers_created, s0.buffers_created);
    assert_int_equal(s1.buffers_reused, s0.buffers_reused);
    assert_int_equal(s1.bytes_in_use, s0.bytes_in_use);

    /* and the context still works */
    const int64_t small[1] = {5};
    clg_tensor *ok = clg_tensor_full(ctx, CLG_FLOAT32, 1, small, 3.5);
    if (!ok) fail_msg("small tensor after the failure: %s", clg_last_error());
    float got[5];
    assert_int_equal(clg_tensor_to_host(ok, got, sizeof got), CLG_OK);
    for (int i = 0; i < 5; i++) assert_true(got[i] == 3.5f);
    clg_tensor_free(ok);
}

static void test_zero_size(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_context_stats s0 = clg_context_get_stats(ctx);
    const int64_t shape[3] = {3, 0, 2};
    clg_tensor *a = clg_tensor_empty(ctx, CLG_FLOAT32, 3, shape);
    clg_tensor *b = clg_tensor_zeros(ctx, CLG_INT32, 3, shape);
    clg_tensor *c = clg_tensor_from_host(ctx, CLG_UINT8, 3, shape, NULL);
    clg_tensor *d = clg_tensor_arange(ctx, CLG_FLOAT32, 3, 3, 1);
    clg_tensor *e = clg_tensor_contiguous(a);
    clg_tensor *f = clg_tensor_transpose(b, 0, 2);
    clg_tensor *g = clg_tensor_slice(f, 0, 0, 1, 1);
    const int64_t flat[1] = {0};
    clg_tensor *h = clg_tensor_reshape(f, 1, flat);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(d);
    assert_non_null(e);
    assert_non_null(f);
    assert_non_null(g);
    assert_non_null(h);
    assert_int_equal(clg_tensor_numel(h), 0);
    unsigned char out[4] = {7, 7, 7, 7};
    assert_int_equal(clg_tensor_to_host(f, out, sizeof out), CLG_OK);
    assert_int_equal(clg_tensor_to_host(g, out, 0), CLG_OK);
    assert_int_equal(out[0], 7);
    clg_context_stats s1 = clg_context_get_stats(ctx);
    assert_int_equal(s1.buffers_created, s0.buffers_created);
    assert_int_equal(s1.buffers_reused, s0.buffers_reused);
    assert_int_equal(s1.bytes_in_use, s0.bytes_in_use);
    clg_tensor_free(h);
    clg_tensor_free(g);
    clg_tensor_free(f);
    clg_tensor_free(e);
    clg_tensor_free(d);
    clg_tensor_free(c);
    clg_tensor_free(b);
    clg_tensor_free(a);
    clg_context_stats s2 = clg_context_get_stats(ctx);
    assert_int_equal(s2.bytes_in_use, s0.bytes_in_use);
    assert_int_equal(s2.bytes_cached, s0.bytes_cached);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_class),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_steady_state),
        cmocka_unit_test(test_release_cached),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_zero_size),
    };
    return CLG_RUN_GROUP(tests);
}
