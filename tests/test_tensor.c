/* Tensors: creation, host transfers, views, printing, names and bad input.
 * Every device result is compared with a reference computed on the host. */
#define _POSIX_C_SOURCE 200809L
#include "fixture.h"
#include "runtime/runtime_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* --- host helpers ------------------------------------------------------------ */

static uint32_t rng_next(uint32_t *s) {
    uint32_t x = *s ? *s : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Deterministic pseudo-random bytes. */
static void fill_bytes(unsigned char *p, size_t n, uint32_t seed) {
    uint32_t s = seed * 2654435761u + 7u;
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(rng_next(&s) >> 11);
}

static int64_t host_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* Fails naming the first element whose bytes differ. */
static void expect_elements(const void *got, const void *want, int64_t numel, size_t esize,
                            const char *what) {
    const unsigned char *g = got, *w = want;
    for (int64_t i = 0; i < numel; i++) {
        if (memcmp(g + (size_t)i * esize, w + (size_t)i * esize, esize) != 0) {
            unsigned long long gv = 0, wv = 0;
            memcpy(&gv, g + (size_t)i * esize, esize);
            memcpy(&wv, w + (size_t)i * esize, esize);
            fail_msg("%s: element %lld is 0x%llx, expected 0x%llx", what, (long long)i, gv, wv);
        }
    }
}

/* Reads t into a fresh host array (numel * esize bytes, at least 1). */
static void *read_all(const clg_tensor *t) {
    size_t bytes = (size_t)clg_tensor_numel(t) * clg_dtype_size(clg_tensor_dtype(t));
    void *p = calloc(1, bytes ? bytes : 1);
    assert_non_null(p);
    if (clg_tensor_to_host(t, p, bytes) != CLG_OK) fail_msg("to_host: %s", clg_last_error());
    return p;
}

static void expect_shape(const clg_tensor *t, int ndim, const int64_t *shape) {
    assert_non_null(t);
    assert_int_equal(clg_tensor_ndim(t), ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(clg_tensor_shape(t)[i], shape[i]);
}

/* A host model of a view: axis i of the view walks base axis src[i] through the
 * base indices idx[i][0..len[i]). Built independently of the library's strides. */
enum { HV_MAXLEN = 64 };
typedef struct hview {
    int ndim;
    int src[CLG_MAX_DIMS];
    int64_t len[CLG_MAX_DIMS];
    int64_t idx[CLG_MAX_DIMS][HV_MAXLEN];
} hview;

static void hview_init(hview *h, int ndim, const int64_t *shape) {
    memset(h, 0, sizeof *h);
    h->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        assert_true(shape[i] <= HV_MAXLEN);
        h->src[i] = i;
        h->len[i] = shape[i];
        for (int64_t k = 0; k < shape[i]; k++) h->idx[i][k] = k;
    }
}

/* Python's clamping of a slice bound for step > 0. */
static int64_t py_bound(int64_t v, int64_t n) {
    if (v < 0) {
        v += n;
        if (v < 0) v = 0;
    } else if (v > n) {
        v = n;
    }
    return v;
}

static void hview_slice(hview *h, int axis, int64_t start, int64_t stop, int64_t step) {
    int a = axis < 0 ? axis + h->ndim : axis;
    int64_t n = h->len[a], b = py_bound(start, n), e = py_bound(stop, n);
    int64_t kept[HV_MAXLEN], m = 0;
    for (int64_t i = b; i < e; i += step) kept[m++] = h->idx[a][i];
    memcpy(h->idx[a], kept, sizeof kept);
    h->len[a] = m;
}

static void hview_permute(hview *h, const int *perm) {
    hview old = *h;
    for (int i = 0; i < h->ndim; i++) {
        int p = perm[i] < 0 ? perm[i] + h->ndim : perm[i];
        h->src[i] = old.src[p];
        h->len[i] = old.len[p];
        memcpy(h->idx[i], old.idx[p], sizeof h->idx[i]);
    }
}

static void hview_shape(const hview *h, int64_t *shape) {
    for (int i = 0; i < h->ndim; i++) shape[i] = h->len[i];
}

/* Row-major gather of the view from a contiguous base of base_shape. */
static int64_t hview_gather(const hview *h, int base_ndim, const int64_t *base_shape,
                            const void *base, size_t esize, void *out) {
    int64_t bstride[CLG_MAX_DIMS], s = 1;
    for (int i = base_ndim - 1; i >= 0; i--) {
        bstride[i] = s;
        s *= base_shape[i];
    }
    int64_t n = 1;
    for (int i = 0; i < h->ndim; i++) n *= h->len[i];
    int64_t ix[CLG_MAX_DIMS] = {0};
    for (int64_t e = 0; e < n; e++) {
        int64_t off = 0;
        for (int i = 0; i < h->ndim; i++) off += h->idx[i][ix[i]] * bstride[h->src[i]];
        memcpy((unsigned char *)out + (size_t)e * esize, (const unsigned char *)base + (size_t)off * esize,
               esize);
        for (int i = h->ndim - 1; i >= 0; i--) {
            if (++ix[i] < h->len[i]) break;
            ix[i] = 0;
        }
    }
    return n;
}

/* Reads view t and compares it with the host model h of a base. */
static void expect_view(const clg_tensor *t, const hview *h, int base_ndim,
                        const int64_t *base_shape, const void *base, size_t esize,
                        const char *what) {
    int64_t shape[CLG_MAX_DIMS];
    hview_shape(h, shape);
    expect_shape(t, h->ndim, shape);
    int64_t n = host_numel(h->ndim, shape);
    unsigned char *want = calloc(1, (size_t)n * esize + 1);
    assert_non_null(want);
    hview_gather(h, base_ndim, base_shape, base, esize, want);
    void *got = read_all(t);
    expect_elements(got, want, n, esize, what);
    free(got);
    free(want);
}

static const clg_dtype all_dtypes[4] = {CLG_FLOAT32, CLG_INT32, CLG_UINT8, CLG_FLOAT16};

/* --- round trips --------------------------------------------------------------- */

static void roundtrip_one(clg_context *ctx, clg_dtype dt, int ndim, const int64_t *shape,
                          uint32_t seed) {
    size_t esize = clg_dtype_size(dt);
    int64_t n = host_numel(ndim, shape);
    size_t bytes = (size_t)n * esize;
    unsigned char *host = malloc(bytes + 1);
    assert_non_null(host);
    if (dt == CLG_FLOAT32) clg_test_random_floats((float *)host, (size_t)n, seed);
    else fill_bytes(host, bytes, seed);

    clg_tensor *t = clg_tensor_from_host(ctx, dt, ndim, shape, host);
    if (!t) fail_msg("from_host %s rank %d: %s", clg_dtype_name(dt), ndim, clg_last_error());
    expect_shape(t, ndim, shape);
    assert_int_equal(clg_tensor_numel(t), n);
    assert_int_equal(clg_tensor_dtype(t), dt);
    assert_ptr_equal(clg_tensor_context(t), ctx);
    assert_int_equal(clg_tensor_offset(t), 0);
    assert_true(clg_tensor_is_contiguous(t));
    assert_string_equal(clg_tensor_name(t), "");
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        assert_int_equal(clg_tensor_strides(t)[i], s);
        s *= shape[i];
    }

    /* Exactly `bytes` are written: guard bytes after them stay untouched. */
    unsigned char *out = malloc(bytes + 16);
    assert_non_null(out);
    memset(out, 0xA5, bytes + 16);
    assert_int_equal(clg_tensor_to_host(t, out, bytes + 16), CLG_OK);
    expect_elements(out, host, n, esize, clg_dtype_name(dt));
    for (size_t i = bytes; i < bytes + 16; i++) assert_int_equal(out[i], 0xA5);
    /* An exact-size buffer is enough. */
    memset(out, 0, bytes + 16);
    assert_int_equal(clg_tensor_to_host(t, out, bytes), CLG_OK);
    expect_elements(out, host, n, esize, clg_dtype_name(dt));
    free(out);
    clg_tensor_free(t);
    free(host);
}

static void test_roundtrip_ranks(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t r1[1] = {7};
    const int64_t r3[3] = {2, 3, 5};
    const int64_t r8[8] = {2, 1, 3, 1, 2, 2, 1, 3};
    const int64_t r0dummy[1] = {99}; /* ignored for rank 0 */
    for (int d = 0; d < 4; d++) {
        clg_dtype dt = all_dtypes[d];
        roundtrip_one(ctx, dt, 0, NULL, 1u + (uint32_t)d);
        roundtrip_one(ctx, dt, 0, r0dummy, 11u + (uint32_t)d);
        roundtrip_one(ctx, dt, 1, r1, 21u + (uint32_t)d);
        roundtrip_one(ctx, dt, 3, r3, 31u + (uint32_t)d);
        roundtrip_one(ctx, dt, 8, r8, 41u + (uint32_t)d);
    }
}

static void test_roundtrip_rank8_transpose(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t shape[8] = {2, 1, 3, 1, 2, 2, 1, 3};
    for (int d = 0; d < 4; d++) {
        clg_dtype dt = all_dtypes[d];
        size_t esize = clg_dtype_size(dt);
        int64_t n = host_numel(8, shape);
        unsigned char host[72 * 4];
        fill_bytes(host, (size_t)n * esize, 77u + (uint32_t)d);
        clg_tensor *t = clg_tensor_from_host(ctx, dt, 8, shape, host);
        assert_non_null(t);
        clg_tensor *v = clg_tensor_transpose(t, 0, 7);
        assert_non_null(v);
        assert_false(clg_tensor_is_contiguous(v));
        hview h;
        hview_init(&h, 8, shape);
        int perm[8] = {7, 1, 2, 3, 4, 5, 6, 0};
        hview_permute(&h, perm);
        expect_view(v, &h, 8, shape, host, esize, "rank-8 transpose");
        clg_tensor_free(v);
        clg_tensor_free(t);
    }
}

static void test_roundtrip_zero_size(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t shapes[3][3] = {{3, 0, 2}, {0, 0, 0}, {5, 4, 0}};
    for (int d = 0; d < 4; d++) {
        for (int k = 0; k < 3; k++) {
            clg_dtype dt = all_dtypes[d];
            unsigned char src[4] = {1, 2, 3, 4};
            /* host may be NULL, or anything, for an empty tensor */
            clg_tensor *a = clg_tensor_from_host(ctx, dt, 3, shapes[k], NULL);
            if (!a) fail_msg("from_host(NULL) of an empty tensor: %s", clg_last_error());
            clg_tensor *b = clg_tensor_from_host(ctx, dt, 3, shapes[k], src);
            assert_non_null(b);
            expect_shape(a, 3, shapes[k]);
            assert_int_equal(clg_tensor_numel(a), 0);
            assert_int_equal(clg_tensor_numel(b), 0);
            assert_true(clg_tensor_is_contiguous(a));
            unsigned char out[8];
            memset(out, 0x5A, sizeof out);
            assert_int_equal(clg_tensor_to_host(a, out, sizeof out), CLG_OK);
            assert_int_equal(clg_tensor_to_host(b, out, 0), CLG_OK);
            assert_int_equal(clg_tensor_to_host(b, NULL, 0), CLG_OK);
            for (size_t i = 0; i < sizeof out; i++) assert_int_equal(out[i], 0x5A);
            /* Creation functions and copies of empty tensors work too. */
            clg_tensor *z = clg_tensor_zeros(ctx, dt, 3, shapes[k]);
            assert_non_null(z);
            clg_tensor *c = clg_tensor_contiguous(a);
            assert_non_null(c);
            expect_shape(c, 3, shapes[k]);
            assert_int_equal(clg_tensor_to_host(c, out, sizeof out), CLG_OK);
            for (size_t i = 0; i < sizeof out; i++) assert_int_equal(out[i], 0x5A);
            clg_tensor_free(c);
            clg_tensor_free(z);
            clg_tensor_free(b);
            clg_tensor_free(a);
        }
    }
}

/* --- full, zeros, ones, arange -------------------------------------------------- */

static void expect_filled(clg_tensor *t, const void *elem, size_t esize, const char *what) {
    if (!t) fail_msg("%s: %s", what, clg_last_error());
    int64_t n = clg_tensor_numel(t);
    unsigned char *want = malloc((size_t)n * esize);
    assert_non_null(want);
    for (int64_t i = 0; i < n; i++) memcpy(want + (size_t)i * esize, elem, esize);
    void *got = read_all(t);
    expect_elements(got, want, n, esize, what);
    free(got);
    free(want);
    clg_tensor_free(t);
}

static void test_full_zeros_ones(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t shape[2] = {3, 7};

    float f;
    f = -3.25f;
    expect_filled(clg_tensor_full(ctx, CLG_FLOAT32, 2, shape, -3.25), &f, 4, "full f32 -3.25");
    f = 0.1f; /* double 0.1 converted to float */
    expect_filled(clg_tensor_full(ctx, CLG_FLOAT32, 2, shape, 0.1), &f, 4, "full f32 0.1");
    f = 0.0f;
    expect_filled(clg_tensor_zeros(ctx, CLG_FLOAT32, 2, shape), &f, 4, "zeros f32");
    f = 1.0f;
    expect_filled(clg_tensor_ones(ctx, CLG_FLOAT32, 2, shape), &f, 4, "ones f32");
    f = 2.5f;
    expect_filled(clg_tensor_full(ctx, CLG_FLOAT32, 0, NULL, 2.5), &f, 4, "full f32 scalar");

    int32_t i32;
    i32 = -7;
    expect_filled(clg_tensor_full(ctx, CLG_INT32, 2, shape, -7), &i32, 4, "full i32 -7");
    i32 = 123456789;
    expect_filled(clg_tensor_full(ctx, CLG_INT32, 2, shape, 123456789), &i32, 4, "full i32 big");
    i32 = 0;
    expect_filled(clg_tensor_zeros(ctx, CLG_INT32, 2, shape), &i32, 4, "zeros i32");
    i32 = 1;
    expect_filled(clg_tensor_ones(ctx, CLG_INT32, 2, shape), &i32, 4, "ones i32");

    uint8_t u8;
    u8 = 200;
    expect_filled(clg_tensor_full(ctx, CLG_UINT8, 2, shape, 200), &u8, 1, "full u8 200");
    u8 = 0;
    expect_filled(clg_tensor_zeros(ctx, CLG_UINT8, 2, shape), &u8, 1, "zeros u8");
    u8 = 1;
    expect_filled(clg_tensor_ones(ctx, CLG_UINT8, 2, shape), &u8, 1, "ones u8");

    static const struct {
        double value;
        uint16_t bits;
    } halves[] = {
        {1.0, 0x3C00},   {-2.5, 0xC100},     {65504.0, 0x7BFF},   {0.0, 0x0000},
        {-0.0, 0x8000},  {0.5, 0x3800},      {0.1, 0x2E66},       {-1.0 / 3.0, 0xB555},
        {65520.0, 0x7C00} /* rounds to inf */, {1e6, 0x7C00},     {-1e6, 0xFC00},
        {5.9604644775390625e-08, 0x0001} /* smallest subnormal 2^-24 */,
        {6.103515625e-05, 0x0400} /* smallest normal 2^-14 */,    {2.0e-8, 0x0000},
        {1.00048828125, 0x3C00} /* 1 + 2^-11: tie to even */,      {1.00146484375, 0x3C02},
    };
    for (size_t k = 0; k < sizeof halves / sizeof halves[0]; k++) {
        char what[64];
        snprintf(what, sizeof what, "full f16 %g -> 0x%04x", halves[k].value, halves[k].bits);
        expect_filled(clg_tensor_full(ctx, CLG_FLOAT16, 2, shape, halves[k].value), &halves[k].bits, 2,
                      what);
    }
    uint16_t h;
    h = 0x0000;
    expect_filled(clg_tensor_zeros(ctx, CLG_FLOAT16, 2, shape), &h, 2, "zeros f16");
    h = 0x3C00;
    expect_filled(clg_tensor_ones(ctx, CLG_FLOAT16, 2, shape), &h, 2, "ones f16");
    /* NaN stays a NaN */
    clg_tensor *nan16 = clg_tensor_full(ctx, CLG_FLOAT16, 1, shape, NAN);
    assert_non_null(nan16);
    uint16_t got[3];
    assert_int_equal(clg_tensor_to_host(nan16, got, sizeof got), CLG_OK);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(got[k] & 0x7C00, 0x7C00);
        assert_int_not_equal(got[k] & 0x03FF, 0);
    }
    clg_tensor_free(nan16);
}

static void check_arange_f32(clg_context *ctx, double start, double stop, double step) {
    /* host reference: count in double, values start + i * step in float */
    int64_t n = 0;
    while (step > 0 ? start + (double)n * step < stop : start + (double)n * step > stop) n++;
    clg_tensor *t = clg_tensor_arange(ctx, CLG_FLOAT32, start, stop, step);
    if (!t) fail_msg("arange(%g, %g, %g): %s", start, stop, step, clg_last_error());
    assert_int_equal(clg_tensor_ndim(t), 1);
    if (clg_tensor_shape(t)[0] != n)
        fail_msg("arange(%g, %g, %g) has %lld elements, expected %lld", start, stop, step,
                 (long long)clg_tensor_shape(t)[0], (long long)n);
    float *want = malloc((size_t)(n + 1) * sizeof *want);
    assert_non_null(want);
    for (int64_t i = 0; i < n; i++) {
        volatile float prod = (float)i * (float)step;
        want[i] = (float)start + prod;
    }
    float *got = read_all(t);
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("arange(%g, %g, %g)[%lld] = %.9g, expected %.9g", start, stop, step,
                     (long long)i, (double)got[i], (double)want[i]);
    free(got);
    free(want);
    clg_tensor_free(t);
}

static void check_arange_i32(clg_context *ctx, int32_t start, int32_t stop, int32_t step) {
    int32_t want[64];
    int64_t n = 0;
    for (int32_t v = start; step > 0 ? v < stop : v > stop; v += step) want[n++] = v;
    clg_tensor *t = clg_tensor_arange(ctx, CLG_INT32, start, stop, step);
    if (!t) fail_msg("arange i32(%d, %d, %d): %s", start, stop, step, clg_last_error());
    assert_int_equal(clg_tensor_dtype(t), CLG_INT32);
    assert_int_equal(clg_tensor_ndim(t), 1);
    assert_int_equal(clg_tensor_shape(t)[0], n);
    int32_t *got = read_all(t);
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("arange i32(%d, %d, %d)[%lld] = %d, expected %d", start, stop, step,
                     (long long)i, got[i], want[i]);
    free(got);
    clg_tensor_free(t);
}

static void test_arange(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    check_arange_f32(ctx, 0, 5, 1);
    check_arange_f32(ctx, 1.5, -2, -0.5);
    check_arange_f32(ctx, -3, 3, 0.75);
    check_arange_f32(ctx, 0.25, 10.3, 0.5);
    check_arange_f32(ctx, 2, 2, 1);   /* empty */
    check_arange_f32(ctx, 5, 0, 1);   /* empty: wrong direction */
    check_arange_f32(ctx, 0, 5, -1);  /* empty: wrong direction */
    check_arange_i32(ctx, 0, 10, 3);
    check_arange_i32(ctx, 5, -6, -2);
    check_arange_i32(ctx, -20, 20, 7);
    check_arange_i32(ctx, -4, -4, 1); /* empty */
    check_arange_i32(ctx, 3, 0, 1);   /* empty */

    clg_tensor *t = clg_tensor_arange(ctx, CLG_FLOAT32, 0, 5, 0);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_arange", "step");
    t = clg_tensor_arange(ctx, CLG_INT32, 0, 5, 0);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_arange", "step");
    t = clg_tensor_arange(ctx, CLG_FLOAT32, 0, 5, NAN);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_arange", "step");
    t = clg_tensor_arange(ctx, CLG_FLOAT32, 0, INFINITY, 1);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_arange", "finite");
    t = clg_tensor_arange(ctx, CLG_UINT8, 0, 5, 1);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_UNSUPPORTED, "clg_tensor_arange", "uint8");
}

/* --- views ------------------------------------------------------------------------ */

static const int64_t base46[2] = {4, 6};

static clg_tensor *iota_f32(clg_context *ctx, int ndim, const int64_t *shape, float **host_out) {
    int64_t n = host_numel(ndim, shape);
    float *host = malloc((size_t)(n + 1) * sizeof *host);
    assert_non_null(host);
    for (int64_t i = 0; i < n; i++) host[i] = (float)i + 0.5f;
    clg_tensor *t = clg_tensor_from_host(ctx, CLG_FLOAT32, ndim, shape, host);
    if (!t) fail_msg("from_host: %s", clg_last_error());
    *host_out = host;
    return t;
}

static void slice_case(clg_context *ctx, const clg_tensor *base, const float *host, int axis,
                       int64_t start, int64_t stop, int64_t step, int64_t expect_len) {
    clg_tensor *v = clg_tensor_slice(base, axis, start, stop, step);
    if (!v) fail_msg("slice(%d, %lld, %lld, %lld): %s", axis, (long long)start, (long long)stop,
                     (long long)step, clg_last_error());
    hview h;
    hview_init(&h, 2, base46);
    hview_slice(&h, axis, start, stop, step);
    int a = axis < 0 ? axis + 2 : axis;
    assert_int_equal(h.len[a], expect_len); /* the host model itself is right */
    char what[96];
    snprintf(what, sizeof what, "slice(axis %d, %lld:%lld:%lld)", axis, (long long)start,
             (long long)stop, (long long)step);
    expect_view(v, &h, 2, base46, host, 4, what);
    if (expect_len == 0) assert_int_equal(clg_tensor_numel(v), 0);
    clg_tensor_free(v);
    (void)ctx;
}

static void test_slice(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float *host;
    clg_tensor *t = iota_f32(ctx, 2, base46, &host);
    slice_case(ctx, t, host, 1, 1, 5, 1, 4);
    slice_case(ctx, t, host, 1, -4, -1, 1, 3);
    slice_case(ctx, t, host, 1, -5, 6, 2, 3);
    slice_case(ctx, t, host, 0, 0, 4, 2, 2);
    slice_case(ctx, t, host, 1, 0, 6, 3, 2);
    slice_case(ctx, t, host, 1, 1, 6, 3, 2);
    slice_case(ctx, t, host, -1, 2, 100, 2, 2);   /* stop clamped past the end */
    slice_case(ctx, t, host, 0, -100, 3, 1, 3);   /* start clamped before the beginning */
    slice_case(ctx, t, host, 1, 5, 2, 1, 0);      /* empty: stop before start */
    slice_case(ctx, t, host, 0, 10, 20, 1, 0);    /* empty: start past the end */
    slice_case(ctx, t, host, -2, 1, 3, 1, 2);     /* rows 1..2: contiguous with an offset */
    slice_case(ctx, t, host, 1, 0, 6, 100, 1);    /* huge step: one element */

    /* A row slice is still contiguous (with an offset); a column slice is not. */
    clg_tensor *rows = clg_tensor_slice(t, 0, 1, 3, 1);
    clg_tensor *cols = clg_tensor_slice(t, 1, 1, 3, 1);
    assert_non_null(rows);
    assert_non_null(cols);
    assert_true(clg_tensor_is_contiguous(rows));
    assert_false(clg_tensor_is_contiguous(cols));
    /* Slices of slices compose. */
    clg_tensor *ss = clg_tensor_slice(cols, 0, 1, 4, 2);
    assert_non_null(ss);
    hview h;
    hview_init(&h, 2, base46);
    hview_slice(&h, 1, 1, 3, 1);
    hview_slice(&h, 0, 1, 4, 2);
    expect_view(ss, &h, 2, base46, host, 4, "slice of a slice");
    clg_tensor_free(ss);
    clg_tensor_free(cols);
    clg_tensor_free(rows);

    /* Middle axis of a rank-3 tensor. */
    const int64_t s3[3] = {3, 5, 2};
    float *host3;
    clg_tensor *t3 = iota_f32(ctx, 3, s3, &host3);
    clg_tensor *v3 = clg_tensor_slice(t3, 1, -4, 5, 3);
    hview_init(&h, 3, s3);
    hview_slice(&h, 1, -4, 5, 3);
    expect_view(v3, &h, 3, s3, host3, 4, "rank-3 middle-axis slice");
    clg_tensor_free(v3);
    clg_tensor_free(t3);
    free(host3);

    clg_tensor_free(t);
    free(host);
}

static void test_permute_transpose(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t s4[4] = {2, 3, 4, 5};
    float *host;
    clg_tensor *t = iota_f32(ctx, 4, s4, &host);

    const int perms[4][4] = {{2, 0, 3, 1}, {3, 2, 1, 0}, {0, 1, 2, 3}, {-1, 0, -2, 1}};
    for (int k = 0; k < 4; k++) {
        clg_tensor *v = clg_tensor_permute(t, perms[k]);
        if (!v) fail_msg("permute: %s", clg_last_error());
        hview h;
        hview_init(&h, 4, s4);
        hview_permute(&h, perms[k]);
        expect_view(v, &h, 4, s4, host, 4, "permute rank 4");
        assert_int_equal(clg_tensor_is_contiguous(v), k == 2);
        clg_tensor_free(v);
    }

    /* transpose on rank 2, with negative axes on rank 4, and a no-op */
    const int64_t s2[2] = {3, 5};
    float *host2;
    clg_tensor *m = iota_f32(ctx, 2, s2, &host2);
    clg_tensor *mt = clg_tensor_transpose(m, 0, 1);
    hview h;
    hview_init(&h, 2, s2);
    const int swap[2] = {1, 0};
    hview_permute(&h, swap);
    expect_view(mt, &h, 2, s2, host2, 4, "transpose rank 2");
    assert_false(clg_tensor_is_contiguous(mt));
    /* transposing back gives the original order */
    clg_tensor *mtt = clg_tensor_transpose(mt, 1, 0);
    hview_init(&h, 2, s2);
    expect_view(mtt, &h, 2, s2, host2, 4, "transpose twice");
    assert_true(clg_tensor_is_contiguous(mtt));
    clg_tensor_free(mtt);
    clg_tensor_free(mt);
    clg_tensor_free(m);
    free(host2);

    clg_tensor *t4 = clg_tensor_transpose(t, -1, -3);
    hview_init(&h, 4, s4);
    const int p13[4] = {0, 3, 2, 1};
    hview_permute(&h, p13);
    expect_view(t4, &h, 4, s4, host, 4, "transpose(-1, -3) rank 4");
    clg_tensor_free(t4);
    clg_tensor *same = clg_tensor_transpose(t, 2, 2);
    hview_init(&h, 4, s4);
    expect_view(same, &h, 4, s4, host, 4, "transpose(2, 2)");
    clg_tensor_free(same);

    clg_tensor_free(t);
    free(host);
}

static void test_slice_of_transpose(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float *host;
    clg_tensor *t = iota_f32(ctx, 2, base46, &host);
    clg_tensor *tt = clg_tensor_transpose(t, 0, 1); /* [6,4] */
    clg_tensor *a = clg_tensor_slice(tt, 0, 1, 6, 2); /* [3,4] */
    clg_tensor *b = clg_tensor_slice(a, 1, -3, 4, 1); /* [3,3] */
    assert_non_null(b);
    hview h;
    hview_init(&h, 2, base46);
    const int swap[2] = {1, 0};
    hview_permute(&h, swap);
    hview_slice(&h, 0, 1, 6, 2);
    expect_view(a, &h, 2, base46, host, 4, "slice of a transposed view");
    hview_slice(&h, 1, -3, 4, 1);
    expect_view(b, &h, 2, base46, host, 4, "slice of a slice of a transposed view");
    /* and transposing the slice back */
    clg_tensor *bt = clg_tensor_transpose(b, 0, 1);
    hview_permute(&h, swap);
    expect_view(bt, &h, 2, base46, host, 4, "transpose of that slice");
    clg_tensor_free(bt);
    clg_tensor_free(b);
    clg_tensor_free(a);
    clg_tensor_free(tt);
    clg_tensor_free(t);
    free(host);
}

static void test_reshape(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t s3[3] = {2, 3, 4};
    float *host;
    clg_tensor *t = iota_f32(ctx, 3, s3, &host);

    /* contiguous: a view of the same data */
    const int64_t s64[2] = {6, 4};
    clg_tensor *r = clg_tensor_reshape(t, 2, s64);
    if (!r) fail_msg("reshape: %s", clg_last_error());
    expect_shape(r, 2, s64);
    assert_true(clg_tensor_is_contiguous(r));
    assert_int_equal(clg_tensor_strides(r)[0], 4);
    assert_int_equal(clg_tensor_strides(r)[1], 1);
    float *got = read_all(r);
    expect_elements(got, host, 24, 4, "reshape [2,3,4] -> [6,4]");
    free(got);
    /* writing through the base shows in the reshaped view: same buffer */
    float *host2 = malloc(24 * sizeof *host2);
    assert_non_null(host2);
    for (int i = 0; i < 24; i++) host2[i] = -(float)i * 2.0f;
    assert_int_equal(clg_tensor_write(t, host2, 24 * sizeof(float)), CLG_OK);
    got = read_all(r);
    expect_elements(got, host2, 24, 4, "reshape view sees writes to its base");
    free(got);
    assert_int_equal(clg_tensor_write(t, host, 24 * sizeof(float)), CLG_OK);
    clg_tensor_free(r);

    /* -1 inferred */
    const int64_t inf1[2] = {-1, 4}, inf2[2] = {2, -1}, inf3[1] = {-1}, inf4[4] = {2, -1, 2, 2};
    const int64_t want1[2] = {6, 4}, want2[2] = {2, 12}, want3[1] = {24}, want4[4] = {2, 3, 2, 2};
    const int64_t *infs[4] = {inf1, inf2, inf3, inf4}, *wants[4] = {want1, want2, want3, want4};
    const int nds[4] = {2, 2, 1, 4};
    for (int k = 0; k < 4; k++) {
        clg_tensor *v = clg_tensor_reshape(t, nds[k], infs[k]);
        if (!v) fail_msg("reshape with -1: %s", clg_last_error());
        expect_shape(v, nds[k], wants[k]);
        assert_true(clg_tensor_is_contiguous(v));
        got = read_all(v);
        expect_elements(got, host, 24, 4, "reshape with -1");
        free(got);
        clg_tensor_free(v);
    }

    /* a contiguous row slice (offset 12) reshapes to a view at that offset */
    clg_tensor *row = clg_tensor_slice(t, 0, 1, 2, 1); /* [1,3,4] */
    const int64_t flat[1] = {12};
    clg_tensor *rf = clg_tensor_reshape(row, 1, flat);
    assert_non_null(rf);
    got = read_all(rf);
    expect_elements(got, host + 12, 12, 4, "reshape of a row slice");
    free(got);
    clg_tensor_free(rf);
    clg_tensor_free(row);

    /* non-contiguous: a copy in the row-major order of the view */
    clg_tensor *tv = clg_tensor_transpose(t, 0, 2); /* [4,3,2] */
    const int64_t s122[2] = {12, 2};
    clg_tensor *rc = clg_tensor_reshape(tv, 2, s122);
    if (!rc) fail_msg("reshape of a view: %s", clg_last_error());
    expect_shape(rc, 2, s122);
    assert_true(clg_tensor_is_contiguous(rc));
    hview h;
    hview_init(&h, 3, s3);
    const int p[3] = {2, 1, 0};
    hview_permute(&h, p);
    float want[24];
    hview_gather(&h, 3, s3, host, 4, want);
    got = read_all(rc);
    expect_elements(got, want, 24, 4, "reshape of a transposed view");
    free(got);
    /* ... and a copy: later writes to the base do not reach it */
    assert_int_equal(clg_tensor_write(t, host2, 24 * sizeof(float)), CLG_OK);
    got = read_all(rc);
    expect_elements(got, want, 24, 4, "reshape copy is independent of its base");
    free(got);
    assert_int_equal(clg_tensor_write(t, host, 24 * sizeof(float)), CLG_OK);
    clg_tensor_free(rc);
    clg_tensor_free(tv);

    /* to and from rank 0 */
    const int64_t one[3] = {1, 1, 1};
    clg_tensor *s = clg_tensor_slice(t, 2, 3, 4, 1);     /* [2,3,1] */
    clg_tensor *s1 = clg_tensor_slice(s, 0, 1, 2, 1);    /* [1,3,1] */
    clg_tensor *s2 = clg_tensor_slice(s1, 1, 2, 3, 1);   /* [1,1,1] = element 23 */
    clg_tensor *sc = clg_tensor_reshape(s2, 0, NULL);
    assert_non_null(sc);
    assert_int_equal(clg_tensor_ndim(sc), 0);
    assert_int_equal(clg_tensor_numel(sc), 1);
    float v;
    assert_int_equal(clg_tensor_to_host(sc, &v, sizeof v), CLG_OK);
    assert_true(v == host[23]);
    clg_tensor *back = clg_tensor_reshape(sc, 3, one);
    assert_non_null(back);
    expect_shape(back, 3, one);
    clg_tensor_free(back);
    clg_tensor_free(sc);
    clg_tensor_free(s2);
    clg_tensor_free(s1);
    clg_tensor_free(s);

    free(host2);
    clg_tensor_free(t);
    free(host);
}

static void test_contiguous(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t s3[3] = {3, 4, 5};
    for (int d = 0; d < 4; d++) {
        clg_dtype dt = all_dtypes[d];
        size_t esize = clg_dtype_size(dt);
        unsigned char host[60 * 4];
        fill_bytes(host, 60 * esize, 500u + (uint32_t)d);
        clg_tensor *t = clg_tensor_from_host(ctx, dt, 3, s3, host);
        assert_non_null(t);
        const int p[3] = {1, 2, 0};
        clg_tensor *v = clg_tensor_permute(t, p);
        clg_tensor *vs = clg_tensor_slice(v, 1, 1, 5, 2); /* [4,2,3] */
        clg_tensor *c = clg_tensor_contiguous(vs);
        if (!c) fail_msg("contiguous: %s", clg_last_error());
        assert_true(clg_tensor_is_contiguous(c));
        assert_int_equal(clg_tensor_offset(c), 0);
        assert_int_equal(clg_tensor_dtype(c), dt);
        hview h;
        hview_init(&h, 3, s3);
        hview_permute(&h, p);
        hview_slice(&h, 1, 1, 5, 2);
        expect_view(c, &h, 3, s3, host, esize, "contiguous of a permuted slice");

        /* of a contiguous tensor: a copy, not a view */
        clg_tensor *cc = clg_tensor_contiguous(t);
        assert_non_null(cc);
        unsigned char other[60 * 4];
        fill_bytes(other, 60 * esize, 900u + (uint32_t)d);
        assert_int_equal(clg_tensor_write(t, other, 60 * esize), CLG_OK);
        void *got = read_all(cc);
        expect_elements(got, host, 60, esize, "contiguous copy is independent");
        free(got);
        got = read_all(t);
        expect_elements(got, other, 60, esize, "write to the original");
        free(got);

        clg_tensor_free(cc);
        clg_tensor_free(c);
        clg_tensor_free(vs);
        clg_tensor_free(v);
        clg_tensor_free(t);
    }
}

static void test_random_views(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    uint32_t seed = 12345;
    for (int trial = 0; trial < 40; trial++) {
        int ndim = 1 + (int)(rng_next(&seed) % 5);
        int64_t shape[CLG_MAX_DIMS];
        for (int i = 0; i < ndim; i++) shape[i] = 1 + (int64_t)(rng_next(&seed) % 4);
        clg_dtype dt = all_dtypes[rng_next(&seed) % 4];
        size_t esize = clg_dtype_size(dt);
        int64_t n = host_numel(ndim, shape);
        unsigned char *host = malloc((size_t)n * esize);
        assert_non_null(host);
        fill_bytes(host, (size_t)n * esize, (uint32_t)trial + 1000u);
        clg_tensor *cur = clg_tensor_from_host(ctx, dt, ndim, shape, host);
        assert_non_null(cur);
        hview h;
        hview_init(&h, ndim, shape);

        /* a random permutation (Fisher-Yates) */
        int perm[CLG_MAX_DIMS];
        for (int i = 0; i < ndim; i++) perm[i] = i;
        for (int i = ndim - 1; i > 0; i--) {
            int j = (int)(rng_next(&seed) % (uint32_t)(i + 1));
            int tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        clg_tensor *next = clg_tensor_permute(cur, perm);
        assert_non_null(next);
        hview_permute(&h, perm);
        clg_tensor_free(cur); /* the view keeps the buffer */
        cur = next;

        int nslices = 1 + (int)(rng_next(&seed) % 3);
        char what[160];
        int len = snprintf(what, sizeof what, "trial %d %s perm", trial, clg_dtype_name(dt));
        for (int i = 0; i < ndim && len < 150; i++) len += snprintf(what + len, sizeof what - (size_t)len, " %d", perm[i]);
        for (int k = 0; k < nslices; k++) {
            int axis = (int)(rng_next(&seed) % (uint32_t)ndim);
            if (rng_next(&seed) & 1) axis -= ndim;
            int64_t dim = clg_tensor_shape(cur)[axis < 0 ? axis + ndim : axis];
            int64_t start = (int64_t)(rng_next(&seed) % (uint32_t)(2 * dim + 5)) - dim - 2;
            int64_t stop = (int64_t)(rng_next(&seed) % (uint32_t)(2 * dim + 5)) - dim - 2;
            if (rng_next(&seed) % 3 == 0) stop = dim + 3;
            int64_t step = 1 + (int64_t)(rng_next(&seed) % 3);
            next = clg_tensor_slice(cur, axis, start, stop, step);
            if (!next) fail_msg("%s: slice: %s", what, clg_last_error());
            hview_slice(&h, axis, start, stop, step);
            clg_tensor_free(cur);
            cur = next;
            if (len < 150)
                len += snprintf(what + len, sizeof what - (size_t)len, ", slice(%d,%lld:%lld:%lld)", axis,
                                (long long)start, (long long)stop, (long long)step);
        }
        expect_view(cur, &h, ndim, shape, host, esize, what);
        clg_tensor *c = clg_tensor_contiguous(cur);
        assert_non_null(c);
        expect_view(c, &h, ndim, shape, host, esize, what);
        const int64_t flat[1] = {-1};
        clg_tensor *f = clg_tensor_reshape(cur, 1, flat);
        assert_non_null(f);
        assert_int_equal(clg_tensor_numel(f), clg_tensor_numel(cur));
        int64_t m = clg_tensor_numel(cur);
        unsigned char *want = malloc((size_t)m * esize + 1);
        assert_non_null(want);
        hview_gather(&h, ndim, shape, host, esize, want);
        void *got = read_all(f);
        expect_elements(got, want, m, esize, what);
        free(got);
        free(want);
        clg_tensor_free(f);
        clg_tensor_free(c);
        clg_tensor_free(cur);
        free(host);
    }
}

static void test_views_keep_buffer_alive(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t s[2] = {3, 4};
    float *host;
    clg_tensor *t = iota_f32(ctx, 2, s, &host);
    clg_tensor *tt = clg_tensor_transpose(t, 0, 1);
    clg_tensor *sl = clg_tensor_slice(tt, 0, 1, 4, 2);
    const int64_t flat[1] = {12};
    clg_tensor *r = clg_tensor_reshape(t, 1, flat);
    assert_non_null(tt);
    assert_non_null(sl);
    assert_non_null(r);
    clg_tensor_free(t); /* the base goes first */

    hview h;
    hview_init(&h, 2, s);
    const int swap[2] = {1, 0};
    hview_permute(&h, swap);
    expect_view(tt, &h, 2, s, host, 4, "transpose after its base was freed");
    clg_tensor_free(tt);
    hview_slice(&h, 0, 1, 4, 2);
    expect_view(sl, &h, 2, s, host, 4, "slice after its bases were freed");
    float *got = read_all(r);
    expect_elements(got, host, 12, 4, "reshape after its base was freed");
    free(got);
    /* a view of a view whose base is gone */
    clg_tensor *r2 = clg_tensor_slice(r, 0, 10, 12, 1);
    clg_tensor_free(r);
    got = read_all(r2);
    expect_elements(got, host + 10, 2, 4, "view made after the base was freed");
    free(got);
    clg_tensor_free(r2);
    clg_tensor_free(sl);
    free(host);
}

/* --- write, print, names ------------------------------------------------------------ */

static void test_write(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t s[2] = {2, 3};
    clg_tensor *t = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, s);
    assert_non_null(t);
    const float data[6] = {1, -2, 3.5f, 4, 5, 6.25f};
    assert_int_equal(clg_tensor_write(t, data, sizeof data), CLG_OK);
    float got[6];
    assert_int_equal(clg_tensor_to_host(t, got, sizeof got), CLG_OK);
    expect_elements(got, data, 6, 4, "write then read");

    /* writing a contiguous row slice changes only that row of the base */
    const int64_t s4[2] = {4, 3};
    clg_tensor *b = clg_tensor_zeros(ctx, CLG_INT32, 2, s4);
    clg_tensor *rows = clg_tensor_slice(b, 0, 1, 3, 1);
    assert_true(clg_tensor_is_contiguous(rows));
    const int32_t rd[6] = {7, 8, 9, 10, 11, 12};
    assert_int_equal(clg_tensor_write(rows, rd, sizeof rd), CLG_OK);
    int32_t all[12], want[12] = {0, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0, 0};
    assert_int_equal(clg_tensor_to_host(b, all, sizeof all), CLG_OK);
    expect_elements(all, want, 12, 4, "write through a row slice");
    clg_tensor_free(rows);
    clg_tensor_free(b);

    /* a non-contiguous view cannot be written */
    clg_tensor *tt = clg_tensor_transpose(t, 0, 1);
    clg_status st = clg_tensor_write(tt, data, sizeof data);
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_UNSUPPORTED, "clg_tensor_write", "[3,2]", "non-contiguous");
    clg_tensor_free(tt);

    /* wrong byte counts, NULL data: the tensor keeps its contents */
    const float other[7] = {9, 9, 9, 9, 9, 9, 9};
    st = clg_tensor_write(t, other, sizeof(float) * 5);
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_write", "[2,3]", "24");
    st = clg_tensor_write(t, other, sizeof other);
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_write", "[2,3]", "28");
    st = clg_tensor_write(t, NULL, sizeof data);
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_write", "[2,3]");
    st = clg_tensor_write(NULL, data, sizeof data);
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_write", "NULL");
    assert_int_equal(clg_tensor_to_host(t, got, sizeof got), CLG_OK);
    expect_elements(got, data, 6, 4, "contents after failed writes");
    clg_tensor_free(t);
}

static char *print_to_string(const clg_tensor *t, int64_t max_items) {
    FILE *f = tmpfile();
    assert_non_null(f);
    if (clg_tensor_print(t, f, max_items) != CLG_OK) fail_msg("print: %s", clg_last_error());
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

static void expect_contains(const char *s, const char *part) {
    if (!strstr(s, part)) fail_msg("output lacks '%s':\n%s", part, s);
}

static void test_print(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t s[2] = {2, 3};
    const float data[6] = {1, 2.5f, -3, 4, 5.75f, 6};
    clg_tensor *t = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, s, data);
    assert_non_null(t);
    char *out = print_to_string(t, 0);
    expect_contains(out, "[2,3]");
    expect_contains(out, "float32");
    expect_contains(out, "2.5");
    expect_contains(out, "-3");
    expect_contains(out, "5.75");
    expect_contains(out, "6");
    free(out);

    /* at most max_items values */
    out = print_to_string(t, 2);
    expect_contains(out, "[2,3]");
    expect_contains(out, "2.5");
    expect_contains(out, "...");
    if (strstr(out, "5.75")) fail_msg("printed more than 2 items:\n%s", out);
    free(out);

    /* a view prints its own shape and its elements in view order */
    clg_tensor *tt = clg_tensor_transpose(t, 0, 1);
    assert_int_equal(clg_tensor_set_name(tt, "tview"), CLG_OK);
    out = print_to_string(tt, 0);
    expect_contains(out, "[3,2]");
    expect_contains(out, "tview");
    expect_contains(out, "1 4");
    expect_contains(out, "2.5 5.75");
    free(out);
    clg_tensor_free(tt);
    clg_tensor_free(t);

    const int64_t s3[1] = {3};
    clg_tensor *h = clg_tensor_full(ctx, CLG_FLOAT16, 1, s3, -2.5);
    out = print_to_string(h, 0);
    expect_contains(out, "float16");
    expect_contains(out, "-2.5 -2.5 -2.5");
    free(out);
    clg_tensor_free(h);
    clg_tensor *u = clg_tensor_full(ctx, CLG_UINT8, 1, s3, 200);
    out = print_to_string(u, 0);
    expect_contains(out, "uint8");
    expect_contains(out, "200 200 200");
    free(out);
    clg_tensor_free(u);

    const int64_t s0[2] = {2, 0};
    clg_tensor *e = clg_tensor_empty(ctx, CLG_INT32, 2, s0);
    out = print_to_string(e, 0);
    expect_contains(out, "[2,0]");
    expect_contains(out, "int32");
    free(out);
    clg_tensor_free(e);

    assert_int_not_equal(clg_tensor_print(NULL, stderr, 0), CLG_OK);
}

static void test_names(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int64_t s[2] = {2, 3};
    clg_tensor *t = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, s);
    assert_non_null(t);
    assert_string_equal(clg_tensor_name(t), "");
    char name[8] = "w1";
    assert_int_equal(clg_tensor_set_name(t, name), CLG_OK);
    name[0] = 'x'; /* the name was copied */
    assert_string_equal(clg_tensor_name(t), "w1");

    float small[5];
    clg_status st = clg_tensor_to_host(t, small, sizeof small);
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_to_host", "'w1'", "[2,3]",
                     "24", "20");
    st = clg_tensor_to_host(t, NULL, 24);
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_to_host", "w1", "[2,3]");
    clg_tensor *bad = clg_tensor_slice(t, 5, 0, 1, 1);
    CLG_EXPECT_ERROR(bad == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_slice", "w1", "[2,3]");

    /* renaming replaces, NULL clears */
    assert_int_equal(clg_tensor_set_name(t, "layer.bias"), CLG_OK);
    assert_string_equal(clg_tensor_name(t), "layer.bias");
    st = clg_tensor_to_host(t, small, sizeof small);
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "layer.bias", "[2,3]");
    if (strstr(clg_last_error(), "w1")) fail_msg("old name still used: %s", clg_last_error());
    assert_int_equal(clg_tensor_set_name(t, NULL), CLG_OK);
    assert_string_equal(clg_tensor_name(t), "");
    st = clg_tensor_to_host(t, small, sizeof small);
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "tensor [2,3]");

    st = clg_tensor_set_name(NULL, "x");
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_set_name");
    clg_tensor_free(t);
}

/* --- bad input -------------------------------------------------------------------------- */

static void test_bad_input(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_context_stats before = clg_context_get_stats(ctx);
    const int64_t s23[2] = {2, 3};
    const int64_t s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    float data[6] = {0};
    clg_tensor *t;

    /* NULL context */
    t = clg_tensor_empty(NULL, CLG_FLOAT32, 2, s23);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_empty", "context");
    t = clg_tensor_from_host(NULL, CLG_FLOAT32, 2, s23, data);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_from_host", "context");
    t = clg_tensor_full(NULL, CLG_FLOAT32, 2, s23, 1.0);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_full", "context");
    t = clg_tensor_arange(NULL, CLG_FLOAT32, 0, 4, 1);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_arange", "context");

    /* rank */
    t = clg_tensor_empty(ctx, CLG_FLOAT32, 9, s9);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_empty", "rank 9");
    t = clg_tensor_empty(ctx, CLG_FLOAT32, -1, s23);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_empty", "rank -1");
    t = clg_tensor_zeros(ctx, CLG_FLOAT32, -1, s23);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "rank -1");
    t = clg_tensor_from_host(ctx, CLG_INT32, 2, NULL, data);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_from_host", "shape");

    /* negative dimension */
    const int64_t neg[3] = {2, -3, 4};
    t = clg_tensor_from_host(ctx, CLG_FLOAT32, 3, neg, data);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_from_host", "[2,-3,4]",
                     "negative");
    t = clg_tensor_ones(ctx, CLG_UINT8, 3, neg);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "[2,-3,4]", "negative");

    /* element count overflow */
    const int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    t = clg_tensor_empty(ctx, CLG_FLOAT32, 2, huge);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_SIZE_OVERFLOW, "clg_tensor_empty",
                     "[1099511627776,1099511627776]", "float32");
    const int64_t huge1[1] = {INT64_MAX};
    t = clg_tensor_zeros(ctx, CLG_INT32, 1, huge1);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_SIZE_OVERFLOW, "[9223372036854775807]", "int32");
    const int64_t huge3[3] = {(int64_t)1 << 21, (int64_t)1 << 21, (int64_t)1 << 21};
    t = clg_tensor_empty(ctx, CLG_UINT8, 3, huge3); /* 2^63 elements */
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_SIZE_OVERFLOW, "clg_tensor_empty", "[2097152,2097152,2097152]");

    /* NULL host data for a non-empty tensor */
    t = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, s23, NULL);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_from_host", "NULL");

    clg_tensor *a = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, s23, data);
    assert_non_null(a);

    /* host buffer too small */
    clg_status st = clg_tensor_to_host(a, data, sizeof data - 1);
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_to_host", "[2,3]", "24", "23");
    st = clg_tensor_to_host(NULL, data, sizeof data);
    CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_to_host", "NULL");

    /* slice: step 0 or negative, axis out of range */
    t = clg_tensor_slice(a, 1, 0, 3, 0);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_slice", "step 0", "[2,3]");
    t = clg_tensor_slice(a, 1, 3, 0, -1);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_slice", "step -1", "[2,3]");
    t = clg_tensor_slice(a, 2, 0, 1, 1);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_slice", "axis 2", "[2,3]");
    t = clg_tensor_slice(a, -3, 0, 1, 1);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_slice", "axis -3", "[2,3]");
    t = clg_tensor_transpose(a, 0, 2);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_transpose", "[2,3]");
    t = clg_tensor_transpose(a, -3, 0);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_transpose", "[2,3]");

    /* permutation: repeated or out-of-range axis */
    const int rep[2] = {0, 0}, rep2[2] = {1, -1}, oob[2] = {0, 2};
    t = clg_tensor_permute(a, rep);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_permute", "[2,3]", "repeated");
    t = clg_tensor_permute(a, rep2);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_permute", "[2,3]");
    t = clg_tensor_permute(a, oob);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_permute", "[2,3]");
    t = clg_tensor_permute(a, NULL);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_permute");

    /* reshape: element count mismatch, two -1, -1 that does not divide */
    const int64_t r42[2] = {4, 2}, rmm[2] = {-1, -1}, r_4[2] = {-1, 4}, rneg[2] = {-2, -3};
    t = clg_tensor_reshape(a, 2, r42);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_tensor_reshape", "[2,3]", "[4,2]");
    t = clg_tensor_reshape(a, 2, rmm);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_reshape", "[-1,-1]",
                     "negative");
    t = clg_tensor_reshape(a, 2, r_4);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_tensor_reshape", "[-1,4]", "[2,3]");
    t = clg_tensor_reshape(a, 2, rneg);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_reshape", "[-2,-3]");
    t = clg_tensor_reshape(a, 9, s9);
    CLG_EXPECT_ERROR(t == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_reshape", "rank 9");

    clg_tensor_free(a);
    clg_tensor_free(NULL); /* no-op */

    /* failures leak no device memory */
    clg_context_stats after = clg_context_get_stats(ctx);
    assert_int_equal(after.bytes_in_use, before.bytes_in_use);
}

/* Regressions for edge cases found in review. */
static void test_edge_regressions(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t four = 4, one = 1, empty_shape[2] = {3, 0};
    float v[4] = {1, 2, 3, 4}, got[4];
    clg_tensor *t = clg_tensor_from_host(ctx, CLG_FLOAT32, 1, &four, v);
    assert_non_null(t);
    /* A huge step takes the first element only, without overflow. */
    clg_tensor *s = clg_tensor_slice(t, 0, 0, 4, INT64_MAX);
    assert_non_null(s);
    assert_int_equal(clg_tensor_shape(s)[0], 1);
    assert_int_equal(clg_tensor_to_host(s, got, sizeof got), CLG_OK);
    assert_true(got[0] == 1.0f);
    clg_tensor_free(s);
    clg_tensor_free(t);

    /* float16 rounds once, from the double: 1 + 2^-11 + 2^-40 is above the tie. */
    clg_tensor *h = clg_tensor_full(ctx, CLG_FLOAT16, 1, &one, 1.0 + 0x1p-11 + 0x1p-40);
    uint16_t hb = 0;
    assert_non_null(h);
    assert_int_equal(clg_tensor_to_host(h, &hb, sizeof hb), CLG_OK);
    assert_int_equal(hb, 0x3C01);
    clg_tensor_free(h);

    /* NaN converts to 0 in integer dtypes (no undefined conversion). */
    clg_tensor *ni = clg_tensor_full(ctx, CLG_INT32, 1, &one, NAN);
    int32_t iv = -1;
    assert_non_null(ni);
    assert_int_equal(clg_tensor_to_host(ni, &iv, sizeof iv), CLG_OK);
    assert_int_equal(iv, 0);
    clg_tensor_free(ni);

    /* int32 ranges need integral start/step inside the int32 range. */
    CLG_EXPECT_ERROR(clg_tensor_arange(ctx, CLG_INT32, 0, 2, 0.5) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_arange", "int32");
    CLG_EXPECT_ERROR(clg_tensor_arange(ctx, CLG_INT32, 3e9, 3e9 + 2, 1) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_arange", "int32");

    /* Writing the wrong byte count to an empty tensor is still an error. */
    clg_tensor *e = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, empty_shape);
    assert_non_null(e);
    CLG_EXPECT_ERROR(clg_tensor_write(e, v, 100) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_tensor_write", "[3,0]");
    assert_int_equal(clg_tensor_write(e, NULL, 0), CLG_OK);
    clg_tensor_free(e);

    /* zeros/ones name themselves in errors. */
    CLG_EXPECT_ERROR(clg_tensor_zeros(ctx, CLG_FLOAT32, -1, &one) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_zeros");
    CLG_EXPECT_ERROR(clg_tensor_ones(NULL, CLG_FLOAT32, 1, &four) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_ones", "[4]");
}

/* The device's division by magic numbers (clg_div in cl/prelude.cl), emulated:
 * exact against n / d for divisors and dividends at every edge. */
static uint32_t div_by_magic(uint32_t n, cl_uint2 mg) {
    uint32_t t = (uint32_t)(((uint64_t)mg.s[0] * n) >> 32);
    return (t + ((n - t) >> (mg.s[1] & 0xffu))) >> (mg.s[1] >> 8);
}

static void test_div_magic(void **state) {
    (void)state;
    uint32_t ds[64] = {1, 2, 3, 5, 6, 7, 13, 26, 28, 32, 100, 641, 1000, 65535, 65536, 65537,
                       0x7fffffffu, 0x80000000u, 0x80000001u, 0xfffffffeu, 0xffffffffu};
    int nd = 21;
    uint64_t r = 12345;
    while (nd < 64) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        ds[nd] = (uint32_t)(r >> (33 + nd % 24)) | 1u;
        nd++;
    }
    for (int i = 0; i < nd; i++) {
        uint32_t d = ds[i];
        cl_uint2 mg = clg_div_magic(d);
        uint32_t ns[8] = {0, 1, d - 1, d, d + 1, 0xffffffffu, 0xffffffffu - d, (uint32_t)(2 * (uint64_t)d - 1)};
        for (int k = 0; k < 8 + 200; k++) {
            uint32_t n = k < 8 ? ns[k] : (uint32_t)((r = r * 6364136223846793005ull + 1) >> 32);
            if (div_by_magic(n, mg) != n / d) fail_msg("%u / %u: magic gives %u", n, d, div_by_magic(n, mg));
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_div_magic),
        cmocka_unit_test(test_roundtrip_ranks),
        cmocka_unit_test(test_roundtrip_rank8_transpose),
        cmocka_unit_test(test_roundtrip_zero_size),
        cmocka_unit_test(test_full_zeros_ones),
        cmocka_unit_test(test_arange),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_permute_transpose),
        cmocka_unit_test(test_slice_of_transpose),
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_contiguous),
        cmocka_unit_test(test_random_views),
        cmocka_unit_test(test_views_keep_buffer_alive),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_edge_regressions),
    };
    return CLG_RUN_GROUP(tests);
}
