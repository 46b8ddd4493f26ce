/* The data layer: IDX reading (every type, gzip, every rejection, a fuzz loop),
 * conversions to arrays and tensors, CSV parsing and its errors, the dataset,
 * Keras's validation split, shuffling, batches, normalisation and one-hot.
 * Tolerances: conversions are exact (x/255 is compared with the same double
 * product rounded once); feature statistics to 1e-6 relative. No gradients here,
 * so no opcheck. */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define DATA_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DATA_TEST_ASAN 1
#endif
#endif

/* --- helpers ----------------------------------------------------------------- */

typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_be(bytes *b, uint64_t v, size_t size) {
    unsigned char tmp[8];
    for (size_t i = 0; i < size; i++) tmp[i] = (unsigned char)(v >> (8 * (size - 1 - i)));
    put(b, tmp, size);
}

static void idx_header(bytes *b, int type, int rank, const uint32_t *dims) {
    unsigned char h[4] = {0, 0, (unsigned char)type, (unsigned char)rank};
    put(b, h, 4);
    for (int i = 0; i < rank; i++) put_be(b, dims[i], 4);
}

static void write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    if (n) assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* A valid ubyte file [3,2,2] with values 0..11 (used by several tests). */
static bytes small_ubyte_idx(void) {
    bytes b = {0};
    uint32_t dims[3] = {3, 2, 2};
    idx_header(&b, 0x08, 3, dims);
    for (int i = 0; i < 12; i++) put_be(&b, (uint64_t)(i * 20), 1);
    return b;
}

/* --- IDX ------------------------------------------------------------------------- */

static void test_idx_round_trip_every_type(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("data-idx");
    const int types[6] = {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E};
    const size_t sizes[6] = {1, 1, 2, 4, 4, 8};
    const double vals[5] = {0, 1, 100, 7, 255};
    const double svals[5] = {-128, -1, 0, 1, 127};
    const double ivals[5] = {-32768, -2, 0, 300, 32767};
    const double lvals[5] = {-2147483648.0, -70000, 0, 1, 2147483647.0};
    const double fvals[5] = {-1.5, 0.25, 3.0e30, -0.0, 1.0 / 3};
    for (int t = 0; t < 6; t++) {
        const double *v = t == 0 ? vals : t == 1 ? svals : t == 2 ? ivals : t == 3 ? lvals : fvals;
        bytes b = {0};
        uint32_t dims[2] = {5, 1};
        idx_header(&b, types[t], 2, dims);
        for (int i = 0; i < 5; i++) {
            if (types[t] == 0x0D) {
                float f = (float)v[i];
                uint32_t u;
                memcpy(&u, &f, 4);
                put_be(&b, u, 4);
            } else if (types[t] == 0x0E) {
                uint64_t u;
                memcpy(&u, &v[i], 8);
                put_be(&b, u, 8);
            } else {
                put_be(&b, (uint64_t)(int64_t)v[i], sizes[t]);
            }
        }
        char name[32];
        snprintf(name, sizeof name, "t%02x.idx", types[t]);
        char *p = clg_test_path_in(dir, name);
        clg_test_write_file(p, b.p, b.n);
        clg_idx *idx = NULL;
        if (clg_idx_read(p, &idx) != CLG_OK) fail_msg("%s: %s", p, clg_last_error());
        assert_int_equal(idx->type, types[t]);
        assert_int_equal(idx->rank, 2);
        assert_int_equal(idx->dims[0], 5);
        assert_int_equal(idx->dims[1], 1);
        assert_int_equal(idx->count, 5);
        assert_int_equal(idx->elem_size, sizes[t]);
        assert_int_equal(clg_idx_type_size(idx->type), sizes[t]);
        float f[5];
        assert_int_equal(clg_idx_to_float32(idx, 1.0, f, 5), CLG_OK);
        for (int i = 0; i < 5; i++) {
            float want = (float)v[i];
            if (memcmp(&f[i], &want, 4) != 0) fail_msg("type %02x element %d: %g != %g", types[t], i, f[i], want);
        }
        if (types[t] == 0x0E) {
            const double *d = idx->data;
            for (int i = 0; i < 5; i++) assert_true(d[i] == v[i]);
        }
        int32_t l[5];
        clg_status st = clg_idx_to_int32(idx, l, 5);
        if (types[t] == 0x0D || types[t] == 0x0E) {
            CLG_EXPECT_ERROR(st != CLG_OK, CLG_STATUS_CORRUPT_DATA, "clg_idx_to_int32", "element 0");
        } else {
            assert_int_equal(st, CLG_OK);
            for (int i = 0; i < 5; i++) assert_int_equal(l[i], (int32_t)v[i]);
        }
        clg_idx_free(idx);
        free(p);
        free(b.p);
    }
    /* A zero dimension is a valid, empty file. */
    bytes e = {0};
    uint32_t dims[2] = {0, 28};
    idx_header(&e, 0x08, 2, dims);
    char *p = clg_test_path_in(dir, "empty.idx");
    clg_test_write_file(p, e.p, e.n);
    clg_idx *idx = NULL;
    assert_int_equal(clg_idx_read(p, &idx), CLG_OK);
    assert_int_equal(idx->count, 0);
    assert_int_equal(idx->dims[1], 28);
    clg_idx_free(idx);
    clg_idx_free(NULL);
    free(p);
    free(e.p);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_idx_gzip(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("data-gz");
    bytes b = small_ubyte_idx();
    /* Detected by content: a gzip file without .gz and a plain file named .gz. */
    char *gz = clg_test_path_in(dir, "images-no-suffix");
    char *plain = clg_test_path_in(dir, "plain.gz");
    write_gz(gz, b.p, b.n);
    clg_test_write_file(plain, b.p, b.n);
    for (int k = 0; k < 2; k++) {
        clg_idx *idx = NULL;
        if (clg_idx_read(k ? plain : gz, &idx) != CLG_OK) fail_msg("%s", clg_last_error());
        assert_int_equal(idx->count, 12);
        assert_int_equal(idx->dims[0], 3);
        const unsigned char *d = idx->data;
        for (int i = 0; i < 12; i++) assert_int_equal(d[i], i * 20);
        clg_idx_free(idx);
    }
    /* A big-endian int file through gzip, bigger than the reader's first chunk. */
    bytes big = {0};
    uint32_t dims[1] = {300000};
    idx_header(&big, 0x0C, 1, dims);
    for (uint32_t i = 0; i < dims[0]; i++) put_be(&big, i * 7u, 4);
    char *bigp = clg_test_path_in(dir, "big.gz");
    write_gz(bigp, big.p, big.n);
    clg_idx *idx = NULL;
    if (clg_idx_read(bigp, &idx) != CLG_OK) fail_msg("%s", clg_last_error());
    const int32_t *v = idx->data;
    for (uint32_t i = 0; i < dims[0]; i++)
        if (v[i] != (int32_t)(i * 7u)) fail_msg("element %u", i);
    clg_idx_free(idx);
    free(big.p);
    free(bigp);
    free(gz);
    free(plain);
    free(b.p);
    clg_test_rmtree(dir);
    free(dir);
}

/* Writes data to dir/name (gzip if gz) and expects clg_idx_read to fail with
 * status and a message containing the path and `what`. */
static void expect_idx_error(const char *dir, const char *name, const void *data, size_t n, int gz,
                             clg_status status, const char *what) {
    char *p = clg_test_path_in(dir, name);
    if (gz)
        write_gz(p, data, n);
    else
        clg_test_write_file(p, data, n);
    clg_idx *idx = (clg_idx *)&idx; /* must be reset to NULL */
    CLG_EXPECT_ERROR(clg_idx_read(p, &idx) != CLG_OK, status, "clg_idx_read", p, what);
    assert_null(idx);
    free(p);
}

static void test_idx_rejections(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("data-bad");
    bytes good = small_ubyte_idx();
    for (int gz = 0; gz < 2; gz++) {
        bytes b = {0};
        put(&b, good.p, good.n);
        b.p[0] = 0x01;
        expect_idx_error(dir, "magic", b.p, b.n, gz, CLG_STATUS_CORRUPT_DATA, "magic");
        b.p[0] = 0;
        b.p[2] = 0x0A;
        expect_idx_error(dir, "type", b.p, b.n, gz, CLG_STATUS_CORRUPT_DATA, "unknown IDX type 0x0a");
        b.p[2] = 0x08;
        b.p[3] = 0;
        expect_idx_error(dir, "rank0", b.p, b.n, gz, CLG_STATUS_CORRUPT_DATA, "rank 0");
        b.p[3] = 9;
        expect_idx_error(dir, "rank9", b.p, b.n, gz, CLG_STATUS_CORRUPT_DATA, "rank 9");
        free(b.p);

        expect_idx_error(dir, "hdr", good.p, 3, gz, CLG_STATUS_CORRUPT_DATA, "truncated in the header");
        expect_idx_error(dir, "dims", good.p, 9, gz, CLG_STATUS_CORRUPT_DATA, "truncated in the dims");
        expect_idx_error(dir, "data", good.p, good.n - 1, gz, CLG_STATUS_CORRUPT_DATA, "truncated");
        expect_idx_error(dir, "nothing", good.p, 0, gz, CLG_STATUS_CORRUPT_DATA, "truncated in the header");

        bytes t = {0};
        put(&t, good.p, good.n);
        put(&t, "xy", 2);
        expect_idx_error(dir, "trailing", t.p, t.n, gz, CLG_STATUS_CORRUPT_DATA, "trailing");
        free(t.p);

        bytes o = {0};
        uint32_t odims[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
        idx_header(&o, 0x08, 3, odims);
        expect_idx_error(dir, "overflow", o.p, o.n, gz, CLG_STATUS_CORRUPT_DATA, "overflows");
        free(o.p);

        bytes c = {0};
        uint32_t cdims[2] = {65536, 65536}; /* 2^32 elements: over the cap */
        idx_header(&c, 0x08, 2, cdims);
        expect_idx_error(dir, "cap", c.p, c.n, gz, CLG_STATUS_CORRUPT_DATA, "cap");
        free(c.p);
        bytes c2 = {0};
        uint32_t c2dims[1] = {(1u << 30) + 1}; /* 8 GiB of doubles: over the byte cap */
        idx_header(&c2, 0x0E, 1, c2dims);
        expect_idx_error(dir, "capbytes", c2.p, c2.n, gz, CLG_STATUS_CORRUPT_DATA, "4 GiB");
        free(c2.p);
    }
    /* Damaged gzip: cut short, and a flipped byte inside the deflate data. */
    char *gp = clg_test_path_in(dir, "ok.gz");
    write_gz(gp, good.p, good.n);
    size_t gn = 0;
    unsigned char *g = slurp(gp, &gn);
    expect_idx_error(dir, "cut.gz", g, gn - 6, 0, CLG_STATUS_CORRUPT_DATA, "gzip");
    expect_idx_error(dir, "cut2.gz", g, 12, 0, CLG_STATUS_CORRUPT_DATA, "gzip");
    unsigned char *bad = malloc(gn);
    memcpy(bad, g, gn);
    bad[gn - 5] ^= 0x55; /* the length trailer */
    expect_idx_error(dir, "len.gz", bad, gn, 0, CLG_STATUS_CORRUPT_DATA, "gzip");
    memcpy(bad, g, gn);
    bad[gn - 8] ^= 0x01; /* the CRC */
    expect_idx_error(dir, "crc.gz", bad, gn, 0, CLG_STATUS_CORRUPT_DATA, "gzip");
    memcpy(bad, g, gn);
    bad[12] ^= 0xFF; /* deflate data */
    char *bp = clg_test_path_in(dir, "flip.gz");
    clg_test_write_file(bp, bad, gn);
    clg_idx *idx = NULL;
    assert_int_not_equal(clg_idx_read(bp, &idx), CLG_OK);
    assert_int_equal(clg_last_status(), CLG_STATUS_CORRUPT_DATA);
    assert_non_null(strstr(clg_last_error(), bp));
    free(bp);
    free(bad);
    free(g);
    free(gp);

    char *missing = clg_test_path_in(dir, "missing.idx");
    idx = NULL;
    CLG_EXPECT_ERROR(clg_idx_read(missing, &idx) != CLG_OK, CLG_STATUS_NOT_FOUND, missing);
    free(missing);
    CLG_EXPECT_ERROR(clg_idx_read(dir, &idx) != CLG_OK, CLG_STATUS_IO_ERROR, dir);
    CLG_EXPECT_ERROR(clg_idx_read(NULL, &idx) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_idx_read");
    free(good.p);
    clg_test_rmtree(dir);
    free(dir);
}

/* A header claiming 4 GiB (the cap) in a 12-byte file, plain and gzip: must fail
 * as corrupt without trying to allocate the claim. Proven in a child with its
 * address space capped 256 MiB above what it uses (an attempt to allocate would
 * turn into OUT_OF_HOST_MEMORY); the cap is skipped under ASan, whose shadow
 * memory needs the address space. */
/* Extents whose product overflows, but with a zero among them (found by
 * tests/fuzz/fuzz_idx.c): the reader accepts the file (no elements), so the
 * conversions and the dataset must take it too, not report an overflow. */
static void test_idx_zero_extent_with_huge_ones(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("data-zero");
    char *path = clg_test_path_in(dir, "zero.idx");
    bytes b = {0};
    uint32_t dims[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0};
    idx_header(&b, 0x0D, 4, dims);
    clg_test_write_file(path, b.p, b.n);
    clg_idx *idx = NULL;
    if (clg_idx_read(path, &idx) != CLG_OK) fail_msg("%s", clg_last_error());
    assert_int_equal(idx->count, 0);
    assert_null(idx->data);
    float f[1];
    int32_t i32[1];
    if (clg_idx_to_float32(idx, 1.0, f, 0) != CLG_OK) fail_msg("%s", clg_last_error());
    if (clg_idx_to_int32(idx, i32, 0) != CLG_OK) fail_msg("%s", clg_last_error());
    clg_tensor *t = clg_idx_to_tensor(ctx, idx, 1.0, CLG_FLOAT32);
    if (t) clg_tensor_free(t); /* a zero-sized tensor may be refused, but with a message, not an overflow */
    else assert_null(strstr(clg_last_error(), "IDX dimension"));
    clg_idx_free(idx);
    free(b.p);
    free(path);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_idx_huge_claim_fails_fast(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("data-huge");
    bytes b = {0};
    uint32_t dims[1] = {1u << 29};
    idx_header(&b, 0x0E, 1, dims);
    put_be(&b, 0, 4);
    char *plain = clg_test_path_in(dir, "huge.idx");
    char *gz = clg_test_path_in(dir, "huge.idx.gz");
    clg_test_write_file(plain, b.p, b.n);
    write_gz(gz, b.p, b.n);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
#ifndef DATA_TEST_ASAN
        FILE *f = fopen("/proc/self/statm", "r");
        unsigned long pages = 0;
        if (!f || fscanf(f, "%lu", &pages) != 1) _exit(3);
        fclose(f);
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (256u << 20);
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(4);
#endif
        for (int k = 0; k < 2; k++) {
            clg_idx *idx = NULL;
            if (clg_idx_read(k ? gz : plain, &idx) == CLG_OK) _exit(5);
            if (clg_last_status() != CLG_STATUS_CORRUPT_DATA) _exit(6 + k);
            if (!strstr(clg_last_error(), "truncated")) _exit(8 + k);
        }
        _exit(0);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    if (WEXITSTATUS(ws) != 0) fail_msg("child exit code %d", WEXITSTATUS(ws));
    /* And in this process, the message. */
    clg_idx *idx = NULL;
    CLG_EXPECT_ERROR(clg_idx_read(plain, &idx) != CLG_OK, CLG_STATUS_CORRUPT_DATA, plain,
                     "truncated", "4294967296");
    CLG_EXPECT_ERROR(clg_idx_read(gz, &idx) != CLG_OK, CLG_STATUS_CORRUPT_DATA, gz, "truncated");
    free(plain);
    free(gz);
    free(b.p);
    clg_test_rmtree(dir);
    free(dir);
}

/* Every result is either success with sizes matching the header, or a clean
 * error (status set, message naming the path). ASan checks the memory side. */
static void check_fuzz_case(const char *p) {
    clg_idx *idx = NULL;
    clg_clear_error();
    clg_status st = clg_idx_read(p, &idx);
    if (st == CLG_OK) {
        assert_non_null(idx);
        assert_true(idx->rank >= 1 && idx->rank <= CLG_IDX_MAX_RANK);
        int64_t prod = 1;
        for (int i = 0; i < idx->rank; i++) prod *= idx->dims[i];
        assert_int_equal(prod, idx->count);
        assert_int_equal(idx->elem_size, clg_idx_type_size(idx->type));
        /* Touch every byte (ASan catches a short buffer). */
        unsigned sum = 0;
        for (size_t i = 0; i < (size_t)idx->count * idx->elem_size; i++)
            sum += ((unsigned char *)idx->data)[i];
        (void)sum;
        clg_idx_free(idx);
    } else {
        assert_null(idx);
        assert_true(st == CLG_STATUS_CORRUPT_DATA || st == CLG_STATUS_OUT_OF_HOST_MEMORY);
        assert_int_equal(clg_last_status(), st);
        if (!strstr(clg_last_error(), p)) fail_msg("message lacks the path: %s", clg_last_error());
    }
}

static void test_idx_fuzz(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("data-fuzz");
    bytes b = {0};
    uint32_t dims[2] = {4, 3};
    idx_header(&b, 0x0B, 2, dims);
    for (int i = 0; i < 12; i++) put_be(&b, (uint64_t)(i * 1000), 2);
    char *p = clg_test_path_in(dir, "f.idx");
    char *gp = clg_test_path_in(dir, "f.gz");
    write_gz(gp, b.p, b.n);
    size_t gn = 0;
    unsigned char *g = slurp(gp, &gn);
    int successes = 0;
    for (int gz = 0; gz < 2; gz++) {
        const unsigned char *src = gz ? g : b.p;
        size_t n = gz ? gn : b.n;
        for (size_t cut = 0; cut <= n; cut++) {
            clg_test_write_file(p, src, cut);
            check_fuzz_case(p);
        }
        unsigned char *m = malloc(n);
        for (size_t pos = 0; pos < n; pos += (gz ? 3 : 1)) {
            const unsigned char flips[3] = {0x01, 0x80, 0xFF};
            for (int f = 0; f < 3; f++) {
                memcpy(m, src, n);
                m[pos] ^= flips[f];
                clg_test_write_file(p, m, n);
                clg_idx *idx = NULL;
                if (clg_idx_read(p, &idx) == CLG_OK) successes++;
                clg_idx_free(idx);
                check_fuzz_case(p);
            }
        }
        free(m);
    }
    /* Flips of data bytes in the plain file keep it valid. */
    assert_true(successes > 0);
    free(g);
    free(gp);
    free(p);
    free(b.p);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_idx_conversions_and_tensors(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("data-conv");
    bytes b = small_ubyte_idx();
    char *p = clg_test_path_in(dir, "imgs.idx");
    clg_test_write_file(p, b.p, b.n);
    clg_idx *idx = NULL;
    assert_int_equal(clg_idx_read(p, &idx), CLG_OK);
    float f[12];
    assert_int_equal(clg_idx_to_float32(idx, 1.0 / 255, f, 12), CLG_OK);
    for (int i = 0; i < 12; i++) assert_true(f[i] == (float)(i * 20 * (1.0 / 255)));
    CLG_EXPECT_ERROR(clg_idx_to_float32(idx, 1.0, f, 11) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_idx_to_float32", "11", "12");

    clg_tensor *t = clg_idx_to_tensor(ctx, idx, 1.0 / 255, CLG_FLOAT32);
    if (!t) fail_msg("%s", clg_last_error());
    assert_int_equal(clg_tensor_ndim(t), 3);
    assert_int_equal(clg_tensor_shape(t)[0], 3);
    assert_int_equal(clg_tensor_shape(t)[1], 2);
    assert_int_equal(clg_tensor_shape(t)[2], 2);
    float back[12];
    assert_int_equal(clg_tensor_to_host(t, back, sizeof back), CLG_OK);
    assert_memory_equal(back, f, sizeof f);
    clg_tensor_free(t);

    t = clg_idx_to_tensor(ctx, idx, 1.0, CLG_INT32);
    assert_non_null(t);
    int32_t ib[12];
    assert_int_equal(clg_tensor_to_host(t, ib, sizeof ib), CLG_OK);
    for (int i = 0; i < 12; i++) assert_int_equal(ib[i], i * 20);
    clg_tensor_free(t);

    t = clg_idx_to_tensor(ctx, idx, 1.0, CLG_UINT8);
    assert_non_null(t);
    unsigned char ub[12];
    assert_int_equal(clg_tensor_to_host(t, ub, sizeof ub), CLG_OK);
    assert_memory_equal(ub, idx->data, 12);
    clg_tensor_free(t);

    CLG_EXPECT_ERROR(clg_idx_to_tensor(ctx, idx, 0.5, CLG_INT32) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_idx_to_tensor", "scale");
    CLG_EXPECT_ERROR(clg_idx_to_tensor(ctx, idx, 1.0, CLG_FLOAT16) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_idx_to_tensor", "float16");
    CLG_EXPECT_ERROR(clg_idx_to_tensor(NULL, idx, 1.0, CLG_FLOAT32) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_idx_to_tensor");

    /* A dataset straight from IDX images and labels. */
    bytes lb = {0};
    uint32_t ld[1] = {3};
    idx_header(&lb, 0x08, 1, ld);
    for (int i = 0; i < 3; i++) put_be(&lb, (uint64_t)(2 - i), 1);
    char *lp = clg_test_path_in(dir, "labels.idx");
    clg_test_write_file(lp, lb.p, lb.n);
    clg_idx *labels = NULL;
    assert_int_equal(clg_idx_read(lp, &labels), CLG_OK);
    clg_dataset *ds = clg_dataset_from_idx(idx, 1.0 / 255, labels);
    if (!ds) fail_msg("%s", clg_last_error());
    assert_int_equal(clg_dataset_size(ds), 3);
    assert_int_equal(clg_dataset_x_row(ds), 4);
    assert_int_equal(clg_dataset_y_dtype(ds), CLG_INT32);
    assert_memory_equal(clg_dataset_x(ds), f, sizeof f);
    const int32_t *y = clg_dataset_y(ds);
    assert_int_equal(y[0], 2);
    assert_int_equal(y[2], 0);
    clg_dataset_free(ds);
    labels->dims[0] = 2;
    CLG_EXPECT_ERROR(clg_dataset_from_idx(idx, 1.0, labels) == NULL, CLG_STATUS_SHAPE_MISMATCH,
                     "clg_dataset_from_idx", "[3,2,2]", "[2]");
    labels->dims[0] = 3;
    clg_idx_free(labels);
    clg_idx_free(idx);
    free(lb.p);
    free(lp);
    free(p);
    free(b.p);
    clg_test_rmtree(dir);
    free(dir);
}

/* --- CSV --------------------------------------------------------------------------- */

static char *write_text(const char *dir, const char *name, const char *text) {
    char *p = clg_test_path_in(dir, name);
    clg_test_write_file(p, text, strlen(text));
    return p;
}

static void test_csv_parsing(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("data-csv");
    char *p = write_text(dir, "a.csv",
                         "x,\"y \"\"quoted\"\"\", \"z,with comma\"\r\n"
                         "1, 2.5 ,\"-3e2\"\r\n"
                         "\r\n"
                         "\"4\",5,6\r\n");
    clg_csv_options o = clg_csv_options_default();
    assert_int_equal(o.delimiter, ',');
    o.header = 1;
    clg_csv *csv = NULL;
    if (clg_csv_read(p, &o, &csv) != CLG_OK) fail_msg("%s", clg_last_error());
    assert_int_equal(csv->rows, 2);
    assert_int_equal(csv->cols, 3);
    assert_string_equal(csv->names[0], "x");
    assert_string_equal(csv->names[1], "y \"quoted\"");
    assert_string_equal(csv->names[2], "z,with comma");
    const double want[6] = {1, 2.5, -300, 4, 5, 6};
    for (int i = 0; i < 6; i++) assert_true(csv->values[i] == want[i]);
    float cols[4];
    assert_int_equal(clg_csv_columns_float32(csv, 1, 2, cols, 4), CLG_OK);
    assert_true(cols[0] == 2.5f && cols[1] == -300.f && cols[2] == 5.f && cols[3] == 6.f);
    CLG_EXPECT_ERROR(clg_csv_columns_float32(csv, 2, 2, cols, 4) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_csv_columns_float32");
    CLG_EXPECT_ERROR(clg_csv_columns_float32(csv, 0, 3, cols, 4) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_csv_columns_float32");
    clg_csv_free(csv);
    clg_csv_free(NULL);
    free(p);

    /* No header, semicolons, LF, no final newline, a quoted field across lines
     * is not a number but a header name may hold one. */
    p = write_text(dir, "b.csv", "1;2\n3;4");
    o = clg_csv_options_default();
    o.delimiter = ';';
    assert_int_equal(clg_csv_read(p, &o, &csv), CLG_OK);
    assert_int_equal(csv->rows, 2);
    assert_null(csv->names);
    assert_true(csv->values[3] == 4);
    clg_csv_free(csv);
    free(p);

    p = write_text(dir, "c.csv", "\"multi\nline\",b\n1,\n");
    o = clg_csv_options_default();
    o.header = 1;
    o.empty_is_nan = 1;
    assert_int_equal(clg_csv_read(p, &o, &csv), CLG_OK);
    assert_string_equal(csv->names[0], "multi\nline");
    assert_true(csv->values[0] == 1);
    assert_true(isnan(csv->values[1]));
    clg_csv_free(csv);
    free(p);

    /* Default options (NULL). */
    p = write_text(dir, "d.csv", "0.5\n-1\n");
    assert_int_equal(clg_csv_read(p, NULL, &csv), CLG_OK);
    assert_int_equal(csv->rows, 2);
    assert_int_equal(csv->cols, 1);
    clg_csv_free(csv);
    free(p);
    clg_test_rmtree(dir);
    free(dir);
}

static void expect_csv_error(const char *dir, const char *text, const clg_csv_options *o,
                             clg_status status, const char *what1, const char *what2) {
    char *p = write_text(dir, "bad.csv", text);
    clg_csv *csv = (clg_csv *)&csv;
    CLG_EXPECT_ERROR(clg_csv_read(p, o, &csv) != CLG_OK, status, "clg_csv_read", p, what1, what2);
    assert_null(csv);
    free(p);
}

static void test_csv_errors(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("data-csverr");
    clg_csv_options h = clg_csv_options_default();
    h.header = 1;
    expect_csv_error(dir, "a,b\n1,2\n3\n", &h, CLG_STATUS_CORRUPT_DATA, "line 3 column 2",
                     "1 fields, expected 2");
    expect_csv_error(dir, "1,2\r\n3,4,5\r\n", NULL, CLG_STATUS_CORRUPT_DATA, "line 2 column 3",
                     "more than 2");
    expect_csv_error(dir, "1,2\n3,abc\n", NULL, CLG_STATUS_CORRUPT_DATA, "line 2 column 2",
                     "'abc' is not a number");
    expect_csv_error(dir, "1,2\n3,4x\n", NULL, CLG_STATUS_CORRUPT_DATA, "line 2 column 2", "4x");
    expect_csv_error(dir, "1,,2\n", NULL, CLG_STATUS_CORRUPT_DATA, "line 1 column 2", "empty field");
    expect_csv_error(dir, "1,2,\n", NULL, CLG_STATUS_CORRUPT_DATA, "line 1 column 3", "empty field");
    expect_csv_error(dir, "1,\"2\n", NULL, CLG_STATUS_CORRUPT_DATA, "line 1 column 2",
                     "unterminated quote");
    expect_csv_error(dir, "1,\"2\"x\n", NULL, CLG_STATUS_CORRUPT_DATA, "line 1 column 2",
                     "after a closing quote");
    expect_csv_error(dir, "1,2\"3\n", NULL, CLG_STATUS_CORRUPT_DATA, "line 1 column 2", "quote inside");
    expect_csv_error(dir, "1,1e999\n", NULL, CLG_STATUS_CORRUPT_DATA, "line 1 column 2", "range");
    expect_csv_error(dir, "", NULL, CLG_STATUS_CORRUPT_DATA, "no data rows", "");
    expect_csv_error(dir, "\n\r\n", NULL, CLG_STATUS_CORRUPT_DATA, "no data rows", "");
    expect_csv_error(dir, "a,b\n", &h, CLG_STATUS_CORRUPT_DATA, "no data rows", "after the header");
    clg_csv_options small = clg_csv_options_default();
    small.max_line_bytes = 8;
    expect_csv_error(dir, "1,2\r\n1,2,3,4,5\n", &small, CLG_STATUS_CORRUPT_DATA, "line 2",
                     "8-byte line cap");
    small.max_file_bytes = 4;
    expect_csv_error(dir, "1,2\r\n1,2,3,4,5\n", &small, CLG_STATUS_CORRUPT_DATA, "clg_csv_read",
                     "more than the 4");
    clg_csv_options q = clg_csv_options_default();
    q.delimiter = '"';
    expect_csv_error(dir, "1\n", &q, CLG_STATUS_INVALID_ARGUMENT, "delimiter", "");
    /* NUL bytes (found by tests/fuzz/fuzz_csv.c): strtod stopped at them, so
     * "4<NUL>junk" read as 4 and a field of NULs as an empty one (NaN) */
    static const struct {
        const char *text;
        size_t len;
        const char *where;
    } nul[] = {
        {"1,2\n3,4\0junk\n", 13, "line 2 column 2"},
        {"a,\0\n1,2\n", 8, "line 1 column 2"}, /* a header name */
        {"1,\"2\0\"\n", 7, "line 1 column 2"}, /* quoted */
        {"1,\0\0\n", 5, "line 1 column 2"},    /* with empty_is_nan */
    };
    for (size_t i = 0; i < sizeof nul / sizeof *nul; i++) {
        char *p = clg_test_path_in(dir, "nul.csv");
        clg_test_write_file(p, nul[i].text, nul[i].len);
        clg_csv_options o = clg_csv_options_default();
        o.header = i == 1;
        o.empty_is_nan = i == 3;
        clg_csv *csv = NULL;
        CLG_EXPECT_ERROR(clg_csv_read(p, &o, &csv) != CLG_OK, CLG_STATUS_CORRUPT_DATA, "clg_csv_read", p,
                         nul[i].where, "NUL byte");
        assert_null(csv);
        free(p);
    }
    char *missing = clg_test_path_in(dir, "missing.csv");
    clg_csv *csv = NULL;
    CLG_EXPECT_ERROR(clg_csv_read(missing, NULL, &csv) != CLG_OK, CLG_STATUS_NOT_FOUND,
                     "clg_csv_read", missing);
    free(missing);
    clg_test_rmtree(dir);
    free(dir);
}

/* --- dataset, split, shuffle, batches ---------------------------------------------- */

/* n samples of 2 features (i, 10 i) and int labels i % 3. */
static clg_dataset *make_ds(int64_t n) {
    float *x = malloc((size_t)n * 2 * sizeof(float) + 1);
    int32_t *y = malloc((size_t)n * sizeof(int32_t) + 1);
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = (float)i;
        x[2 * i + 1] = 10.f * (float)i;
        y[i] = (int32_t)(i % 3);
    }
    int64_t xs[2] = {n, 2}, ys[1] = {n};
    clg_dataset *ds = clg_dataset_new(2, xs, x, CLG_INT32, 1, ys, y);
    free(x);
    free(y);
    if (!ds) fail_msg("%s", clg_last_error());
    return ds;
}

static int is_permutation(const int64_t *p, int64_t n) {
    char *seen = calloc((size_t)n + 1, 1);
    int ok = 1;
    for (int64_t i = 0; i < n && ok; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]]) ok = 0;
        else seen[p[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_shuffle(void **state) {
    (void)state;
    enum { N = 1000 };
    int64_t *a = malloc(N * sizeof(int64_t)), *b = malloc(N * sizeof(int64_t));
    assert_int_equal(clg_shuffle_permutation(N, 42, 0, a), CLG_OK);
    assert_true(is_permutation(a, N));
    assert_int_equal(clg_shuffle_permutation(N, 42, 0, b), CLG_OK);
    assert_memory_equal(a, b, N * sizeof(int64_t));
    assert_int_equal(clg_shuffle_permutation(N, 43, 0, b), CLG_OK);
    assert_true(is_permutation(b, N));
    assert_true(memcmp(a, b, N * sizeof(int64_t)) != 0);
    assert_int_equal(clg_shuffle_permutation(N, 42, 1, b), CLG_OK);
    assert_true(memcmp(a, b, N * sizeof(int64_t)) != 0);
    int moved = 0;
    for (int i = 0; i < N; i++) moved += a[i] != i;
    assert_true(moved > N / 2);
    /* Pinned: the same order on every machine (Philox is exact integer math). */
    int64_t p10[10];
    assert_int_equal(clg_shuffle_permutation(10, 42, 0, p10), CLG_OK);
    const int64_t pinned[10] = {6, 2, 1, 8, 4, 3, 0, 5, 7, 9};
    assert_memory_equal(p10, pinned, sizeof pinned);
    assert_int_equal(clg_shuffle_permutation(0, 1, 0, NULL), CLG_OK);
    assert_int_equal(clg_shuffle_permutation(1, 1, 0, b), CLG_OK);
    assert_int_equal(b[0], 0);
    CLG_EXPECT_ERROR(clg_shuffle_permutation(-1, 1, 0, b) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_shuffle_permutation");
    free(a);
    free(b);
}

static void test_batches_cover_every_sample(void **state) {
    (void)state;
    clg_dataset *ds = make_ds(10);
    for (int shuffle = 0; shuffle < 2; shuffle++) {
        clg_batch_iter *it = clg_batch_iter_new(10, 3, shuffle, 7);
        assert_non_null(it);
        assert_int_equal(clg_batch_iter_count(it), 4);
        int64_t first_order[10];
        for (int64_t epoch = 0; epoch < 3; epoch++) {
            assert_int_equal(clg_batch_iter_begin_epoch(it, epoch), CLG_OK);
            int seen[10] = {0};
            clg_batch b;
            int64_t nb = 0, pos = 0;
            while (clg_batch_iter_next(it, &b)) {
                assert_int_equal(b.number, nb);
                assert_int_equal(b.start, pos);
                assert_int_equal(b.count, nb < 3 ? 3 : 1); /* final partial batch */
                float x[6];
                int32_t y[3];
                assert_int_equal(clg_dataset_gather(ds, b.indices, b.count, x, sizeof x, y, sizeof y),
                                 CLG_OK);
                for (int64_t i = 0; i < b.count; i++) {
                    int64_t s = b.indices[i];
                    seen[s]++;
                    assert_true(x[2 * i] == (float)s && x[2 * i + 1] == 10.f * (float)s);
                    assert_int_equal(y[i], s % 3);
                }
                nb++;
                pos += b.count;
            }
            assert_int_equal(nb, 4);
            assert_false(clg_batch_iter_next(it, &b));
            for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
            const int64_t *order = clg_batch_iter_order(it);
            if (epoch == 0) memcpy(first_order, order, sizeof first_order);
            if (!shuffle)
                for (int i = 0; i < 10; i++) assert_int_equal(order[i], i);
            else if (epoch > 0)
                assert_true(memcmp(first_order, order, sizeof first_order) != 0);
        }
        /* Epoch 0 again gives the same order. */
        clg_batch_iter_begin_epoch(it, 0);
        assert_memory_equal(first_order, clg_batch_iter_order(it), sizeof first_order);
        clg_batch_iter_free(it);
    }
    clg_batch_iter_free(NULL);
    clg_batch_iter *exact = clg_batch_iter_new(6, 3, 0, 0);
    assert_int_equal(clg_batch_iter_count(exact), 2);
    clg_batch_iter_free(exact);
    CLG_EXPECT_ERROR(clg_batch_iter_new(10, 0, 0, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_batch_iter_new");
    float x[2];
    int64_t bad = 10;
    CLG_EXPECT_ERROR(clg_dataset_gather(ds, &bad, 1, x, sizeof x, NULL, 0) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_dataset_gather", "index 10");
    int64_t ok[2] = {0, 1};
    CLG_EXPECT_ERROR(clg_dataset_gather(ds, ok, 2, x, sizeof x, NULL, 0) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_dataset_gather", "too small");
    clg_dataset_free(ds);
}

static void test_validation_split_is_keras(void **state) {
    (void)state;
    clg_dataset *ds = make_ds(10);
    clg_dataset *tr = NULL, *va = NULL;
    assert_int_equal(clg_dataset_split(ds, 0.2, &tr, &va), CLG_OK);
    assert_int_equal(clg_dataset_size(tr), 8);
    assert_int_equal(clg_dataset_size(va), 2);
    for (int i = 0; i < 8; i++) assert_true(clg_dataset_x(tr)[2 * i] == (float)i);
    assert_true(clg_dataset_x(va)[0] == 8.f && clg_dataset_x(va)[2] == 9.f);
    assert_int_equal(((int32_t *)clg_dataset_y(va))[1], 9 % 3);
    int nd = 0;
    assert_int_equal(clg_dataset_x_shape(va, &nd)[0], 2);
    assert_int_equal(nd, 2);
    assert_int_equal(clg_dataset_y_shape(va, &nd)[0], 2);
    assert_int_equal(nd, 1);
    clg_dataset_free(tr);
    clg_dataset_free(va);
    /* floor(7 * 0.7) = 4 (Keras's int(math.floor(...))), and 0.1 of 60000. */
    clg_dataset *d7 = make_ds(7);
    assert_int_equal(clg_dataset_split(d7, 0.3, &tr, &va), CLG_OK);
    assert_int_equal(clg_dataset_size(tr), 4);
    assert_int_equal(clg_dataset_size(va), 3);
    clg_dataset_free(tr);
    clg_dataset_free(va);
    CLG_EXPECT_ERROR(clg_dataset_split(d7, 0.0, &tr, &va) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_dataset_split", "(0, 1)");
    CLG_EXPECT_ERROR(clg_dataset_split(d7, 1.0, &tr, &va) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_dataset_split");
    /* 1 - 1e-17 rounds to 1: everything would be training data. */
    CLG_EXPECT_ERROR(clg_dataset_split(d7, 1e-17, &tr, &va) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_dataset_split", "empty part", "train 7, validation 0");
    clg_dataset *d1 = make_ds(1);
    CLG_EXPECT_ERROR(clg_dataset_split(d1, 0.5, &tr, &va) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_dataset_split", "train 0, validation 1");
    clg_dataset_free(d1);
    assert_null(tr);
    assert_null(va);
    clg_dataset_free(d7);
    clg_dataset_free(ds);
}

static void test_normalize_and_one_hot(void **state) {
    (void)state;
    float x[8] = {1, 5, 2, 5, 3, 5, 6, 5}; /* [4,2]; feature 1 is constant */
    int32_t y[4] = {0, 2, 1, 2};
    int64_t xs[2] = {4, 2}, ys[2] = {4, 1};
    clg_dataset *ds = clg_dataset_new(2, xs, x, CLG_INT32, 2, ys, y);
    assert_non_null(ds);
    float mean[2], sd[2];
    clg_dataset *tr = NULL, *va = NULL;
    assert_int_equal(clg_dataset_split(ds, 0.25, &tr, &va), CLG_OK); /* train = first 3 */
    assert_int_equal(clg_dataset_feature_stats(tr, mean, sd), CLG_OK);
    assert_float_equal(mean[0], 2.0, 1e-6);
    assert_float_equal(sd[0], sqrt(2.0 / 3.0), 1e-6);
    assert_float_equal(mean[1], 5.0, 1e-6);
    assert_float_equal(sd[1], 0.0, 0);
    assert_int_equal(clg_dataset_normalize(tr, mean, sd), CLG_OK);
    assert_int_equal(clg_dataset_normalize(va, mean, sd), CLG_OK);
    assert_float_equal(clg_dataset_x(tr)[0], -1.0 / sqrt(2.0 / 3.0), 1e-5);
    assert_float_equal(clg_dataset_x(tr)[1], 0.0, 0);
    assert_float_equal(clg_dataset_x(va)[0], 4.0 / sqrt(2.0 / 3.0), 1e-5);
    assert_int_equal(clg_dataset_scale(va, 0.5f), CLG_OK);
    assert_float_equal(clg_dataset_x(va)[0], 2.0 / sqrt(2.0 / 3.0), 1e-5);

    float oh[12];
    assert_int_equal(clg_one_hot_host(y, 4, 3, oh), CLG_OK);
    const float want[12] = {1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1};
    assert_memory_equal(oh, want, sizeof want);
    int32_t bad[2] = {1, 3};
    CLG_EXPECT_ERROR(clg_one_hot_host(bad, 2, 3, oh) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_one_hot_host",
                     "label 1 is 3");
    assert_int_equal(clg_dataset_one_hot(ds, 3), CLG_OK);
    int nd = 0;
    const int64_t *s = clg_dataset_y_shape(ds, &nd);
    assert_int_equal(nd, 2);
    assert_int_equal(s[0], 4);
    assert_int_equal(s[1], 3);
    assert_int_equal(clg_dataset_y_dtype(ds), CLG_FLOAT32);
    assert_int_equal(clg_dataset_y_row(ds), 3);
    assert_memory_equal(clg_dataset_y(ds), want, sizeof want);
    CLG_EXPECT_ERROR(clg_dataset_one_hot(ds, 3) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_dataset_one_hot", "int32");
    CLG_EXPECT_ERROR(clg_dataset_one_hot(tr, 2) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_dataset_one_hot", "label 1 is 2");
    assert_int_equal(clg_dataset_y_dtype(tr), CLG_INT32); /* unchanged on failure */

    /* Construction errors. */
    int64_t ys_bad[1] = {3};
    CLG_EXPECT_ERROR(clg_dataset_new(2, xs, x, CLG_INT32, 1, ys_bad, y) == NULL,
                     CLG_STATUS_SHAPE_MISMATCH, "clg_dataset_new", "[4,2]", "[3]");
    CLG_EXPECT_ERROR(clg_dataset_new(2, xs, x, CLG_UINT8, 2, ys, y) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_dataset_new", "uint8");
    clg_dataset *nolabels = clg_dataset_new(2, xs, x, CLG_FLOAT32, 0, NULL, NULL);
    assert_non_null(nolabels);
    assert_int_equal(clg_dataset_y_row(nolabels), 0);
    assert_null(clg_dataset_y(nolabels));
    clg_dataset_free(nolabels);
    clg_dataset_free(NULL);
    clg_dataset_free(tr);
    clg_dataset_free(va);
    clg_dataset_free(ds);
}

/* The real Fashion-MNIST (Debian's dataset-fashion-mnist), if installed. */
static void test_fashion_mnist_labels(void **state) {
    (void)state;
    const char *p = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
    if (access(p, R_OK) != 0) skip();
    clg_idx *idx = NULL;
    if (clg_idx_read(p, &idx) != CLG_OK) fail_msg("%s", clg_last_error());
    assert_int_equal(idx->type, CLG_IDX_UBYTE);
    assert_int_equal(idx->rank, 1);
    assert_int_equal(idx->count, 60000);
    int32_t *l = malloc(60000 * sizeof(int32_t));
    assert_int_equal(clg_idx_to_int32(idx, l, 60000), CLG_OK);
    int counts[10] = {0};
    for (int i = 0; i < 60000; i++) {
        assert_true(l[i] >= 0 && l[i] <= 9);
        counts[l[i]]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(counts[c], 6000); /* balanced classes */
    free(l);
    clg_idx_free(idx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_round_trip_every_type),
        cmocka_unit_test(test_idx_gzip),
        cmocka_unit_test(test_idx_rejections),
        cmocka_unit_test(test_idx_huge_claim_fails_fast),
        cmocka_unit_test(test_idx_zero_extent_with_huge_ones),
        cmocka_unit_test(test_idx_fuzz),
        cmocka_unit_test(test_idx_conversions_and_tensors),
        cmocka_unit_test(test_csv_parsing),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_batches_cover_every_sample),
        cmocka_unit_test(test_validation_split_is_keras),
        cmocka_unit_test(test_normalize_and_one_hot),
        cmocka_unit_test(test_fashion_mnist_labels),
    };
    return CLG_RUN_GROUP(tests);
}
