/* The compiled-program cache: misses, hits from memory and disk, corrupt,
 * truncated and foreign files, concurrent writers, build-failure reports, and
 * switching the disk cache off. Each test uses a fresh cache directory. */
#include "fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/runtime_impl.h"
#include "tensor/tensor_impl.h"


/* A kernel source unique to this run, so no earlier cache can hold it. */
static unsigned nonce;
static void unique_source(char *buf, size_t cap, int variant) {
    if (!nonce) nonce = (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
    snprintf(buf, cap,
             "__kernel void scale(__global float *x, float a) {\n"
             "    x[get_global_id(0)] *= a + %u.0f + %d.0f;\n}\n",
             nonce % 1000, variant);
}

/* Lists the cache files; returns how many, the first one's path in first. */
static int cache_files(const char *dir, char *first, size_t cap, int *temps) {
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/programs", dir);
    DIR *d = opendir(sub);
    int n = 0;
    if (temps) *temps = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strstr(e->d_name, ".tmp.")) {
            if (temps) (*temps)++;
            continue;
        }
        if (!strstr(e->d_name, ".bin")) continue;
        if (n++ == 0 && first) snprintf(first, cap, "%s/%s", sub, e->d_name);
    }
    closedir(d);
    return n;
}

static void get_program(clg_context *ctx, const char *src) {
    cl_program p;
    if (clg_program_get(ctx, "cache_test", src, NULL, &p) != CLG_OK)
        fail_msg("program: %s", clg_last_error());
}

/* Runs the program's kernel to prove a program loaded from disk works:
 * x = 1 scaled by (1 + nonce + variant). */
static void check_program_runs(clg_context *ctx, const char *src, int variant) {
    cl_program p;
    assert_int_equal(clg_program_get(ctx, "cache_test", src, NULL, &p), CLG_OK);
    cl_int err;
    cl_kernel k = clCreateKernel(p, "scale", &err);
    assert_int_equal(err, CL_SUCCESS);
    int64_t n = 4;
    clg_tensor *t = clg_tensor_ones(ctx, CLG_FLOAT32, 1, &n);
    assert_non_null(t);
    float a = 1.0f;
    assert_int_equal(clSetKernelArg(k, 0, sizeof(cl_mem), &t->buf->mem), CL_SUCCESS);
    assert_int_equal(clSetKernelArg(k, 1, sizeof a, &a), CL_SUCCESS);
    assert_int_equal(clg_enqueue_1d(ctx, k, 4, "scale"), CLG_OK);
    float out[4];
    assert_int_equal(clg_tensor_to_host(t, out, sizeof out), CLG_OK);
    for (int i = 0; i < 4; i++) assert_float_equal(out[i], 1.0f + (float)(nonce % 1000) + (float)variant, 0);
    clReleaseKernel(k);
    clg_tensor_free(t);
}

static void test_miss_then_hits(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("cache");
    char src[512];
    unique_source(src, sizeof src, 1);

    clg_context *a = clg_test_context_in(dir, 1);
    get_program(a, src);
    get_program(a, src);
    clg_context_stats s = clg_context_get_stats(a);
    assert_int_equal(s.programs_built, 1);
    assert_int_equal(s.programs_from_memory, 1);
    assert_int_equal(s.programs_from_disk, 0);
    assert_int_equal(cache_files(dir, NULL, 0, NULL), 1);
    clg_context_free(a);

    clg_context *b = clg_test_context_in(dir, 1);
    get_program(b, src);
    s = clg_context_get_stats(b);
    assert_int_equal(s.programs_built, 0);
    assert_int_equal(s.programs_from_disk, 1);
    assert_int_equal(s.disk_cache_rejected, 0);
    check_program_runs(b, src, 1);

    /* Other options are another program (and another file). */
    int files = cache_files(dir, NULL, 0, NULL);
    uint64_t built = clg_context_get_stats(b).programs_built;
    cl_program p;
    assert_int_equal(clg_program_get(b, "cache_test", src, "-DVARIANT=2", &p), CLG_OK);
    assert_int_equal(clg_context_get_stats(b).programs_built, built + 1);
    assert_int_equal(cache_files(dir, NULL, 0, NULL), files + 1);
    clg_context_free(b);
    clg_test_rmtree(dir);
    free(dir);
}

typedef void (*damage_fn)(const char *path);

static void flip_last_byte(const char *path) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, -1, SEEK_END);
    int c = fgetc(f);
    fseek(f, -1, SEEK_END);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void truncate_half(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    assert_int_equal(truncate(path, n / 2), 0);
}

static void truncate_to_header(const char *path) { assert_int_equal(truncate(path, 20), 0); }

static void replace_with_garbage(const char *path) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("this is not a program binary", f);
    fclose(f);
}

static void make_empty(const char *path) { assert_int_equal(truncate(path, 0), 0); }

/* A huge length field: must be rejected without trusting it. */
static void huge_lengths(const char *path) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 8, SEEK_SET);
    uint64_t big = UINT64_MAX - 7;
    fwrite(&big, sizeof big, 1, f);
    fclose(f);
}

static void check_damage_rejected(damage_fn damage) {
    char *dir = clg_test_tempdir("cache");
    char src[512], path[4300];
    unique_source(src, sizeof src, 3);
    clg_context *a = clg_test_context_in(dir, 1);
    get_program(a, src);
    clg_context_free(a);
    assert_int_equal(cache_files(dir, path, sizeof path, NULL), 1);
    damage(path);

    clg_context *b = clg_test_context_in(dir, 1);
    get_program(b, src);
    clg_context_stats s = clg_context_get_stats(b);
    assert_int_equal(s.disk_cache_rejected, 1);
    assert_int_equal(s.programs_built, 1);
    assert_int_equal(s.programs_from_disk, 0);
    clg_context_free(b);

    /* The rebuilt program replaced the damaged file. */
    clg_context *c = clg_test_context_in(dir, 1);
    get_program(c, src);
    s = clg_context_get_stats(c);
    assert_int_equal(s.programs_from_disk, 1);
    assert_int_equal(s.disk_cache_rejected, 0);
    clg_context_free(c);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_corrupt_byte(void **state) {
    (void)state;
    check_damage_rejected(flip_last_byte);
}
static void test_truncated(void **state) {
    (void)state;
    check_damage_rejected(truncate_half);
    check_damage_rejected(truncate_to_header);
    check_damage_rejected(make_empty);
}
static void test_garbage(void **state) {
    (void)state;
    check_damage_rejected(replace_with_garbage);
    check_damage_rejected(huge_lengths);
}

/* A well-formed cache file of another program under this program's name (a hash
 * collision, or a file copied from elsewhere) must not be trusted. */
static void test_foreign_file(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("cache");
    char src_a[512], src_b[512], path_a[4300], path_b[4300];
    unique_source(src_a, sizeof src_a, 10);
    unique_source(src_b, sizeof src_b, 11);
    clg_context *a = clg_test_context_in(dir, 1);
    get_program(a, src_a);
    clg_context_free(a);
    assert_int_equal(cache_files(dir, path_a, sizeof path_a, NULL), 1);
    char *bytes;
    size_t len;
    FILE *f = fopen(path_a, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    rewind(f);
    bytes = malloc(len);
    assert_int_equal(fread(bytes, 1, len, f), len);
    fclose(f);
    /* Build B to learn its file name, then overwrite it with A's file. */
    clg_context *b = clg_test_context_in(dir, 1);
    get_program(b, src_b);
    clg_context_free(b);
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/programs", dir);
    DIR *d = opendir(sub);
    struct dirent *e;
    path_b[0] = '\0';
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".bin") && !strstr(path_a, e->d_name))
            snprintf(path_b, sizeof path_b, "%s/%s", sub, e->d_name);
    closedir(d);
    assert_true(path_b[0]);
    f = fopen(path_b, "wb");
    fwrite(bytes, 1, len, f);
    fclose(f);
    free(bytes);

    clg_context *c = clg_test_context_in(dir, 1);
    get_program(c, src_b);
    clg_context_stats s = clg_context_get_stats(c);
    assert_int_equal(s.disk_cache_rejected, 1);
    assert_int_equal(s.programs_built, 1);
    clg_context_free(c);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_concurrent_writers(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("cache");
    char tag[32];
    snprintf(tag, sizeof tag, "%u", (unsigned)(time(NULL) % 100000) + 7);
    enum { WRITERS = 4 };
    pid_t pids[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            execl(clg_test_cache_writer(), clg_test_cache_writer(), "program", dir, tag, (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < WRITERS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    int temps = 0;
    assert_int_equal(cache_files(dir, NULL, 0, &temps), 1);
    assert_int_equal(temps, 0);
    /* The file the last writer left is whole: a reader trusts it. */
    char src[512];
    snprintf(src, sizeof src,
             "__kernel void k(__global float *x) { x[get_global_id(0)] += %s.0f; }\n", tag);
    clg_context *c = clg_test_context_in(dir, 1);
    cl_program p;
    assert_int_equal(clg_program_get(c, "cache_writer", src, NULL, &p), CLG_OK);
    clg_context_stats s = clg_context_get_stats(c);
    assert_int_equal(s.programs_from_disk, 1);
    assert_int_equal(s.disk_cache_rejected, 0);
    clg_context_free(c);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_build_failure_report(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const char *bad = "__kernel void broken(__global float *x) { x[0] = undeclared_thing; }\n";
    cl_program p;
    uint64_t built = clg_context_get_stats(ctx).programs_built;
    CLG_EXPECT_ERROR(clg_program_get(ctx, "broken_kernel", bad, "-DMY_OPTION=7", &p) != CLG_OK,
                     CLG_STATUS_BUILD_FAILED, "broken_kernel", "-DMY_OPTION=7", "undeclared_thing",
                     clg_context_device(ctx)->name, "build log");
    assert_int_equal(clg_context_get_stats(ctx).programs_built, built);
    /* The context is still usable. */
    int64_t n = 3;
    clg_tensor *t = clg_tensor_ones(ctx, CLG_FLOAT32, 1, &n);
    assert_non_null(t);
    clg_tensor_free(t);
    /* An unknown embedded program or kernel is a clear error too. */
    cl_kernel k;
    CLG_EXPECT_ERROR(clg_kernel_get(ctx, "no_such_program", NULL, "k", &k) != CLG_OK,
                     CLG_STATUS_NOT_FOUND, "no_such_program");
    CLG_EXPECT_ERROR(clg_kernel_get(ctx, "tensor", "-DE=uint", "no_such_kernel", &k) != CLG_OK,
                     CLG_STATUS_OPENCL_ERROR, "no_such_kernel", "CL_INVALID_KERNEL_NAME");
}

static void test_disk_cache_off(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("cache");
    char src[512];
    unique_source(src, sizeof src, 20);
    clg_context_options o = clg_context_options_default();
    o.cache_dir = dir;
    o.disk_cache = 0;
    clg_context *a = clg_context_new(&o);
    assert_non_null(a);
    assert_string_equal(clg_context_cache_dir(a), "");
    get_program(a, src);
    clg_context_free(a);
    assert_int_equal(cache_files(dir, NULL, 0, NULL), 0);

    setenv("CLGRAD_CACHE", "0", 1);
    a = clg_test_context_in(dir, 1);
    get_program(a, src);
    clg_context_free(a);
    unsetenv("CLGRAD_CACHE");
    assert_int_equal(cache_files(dir, NULL, 0, NULL), 0);

    /* The environment chooses the directory when options do not. */
    setenv("CLGRAD_CACHE_DIR", dir, 1);
    a = clg_context_new(NULL);
    assert_non_null(a);
    assert_string_equal(clg_context_cache_dir(a), dir);
    clg_context_free(a);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_unwritable_dir_is_not_fatal(void **state) {
    (void)state;
    char src[512];
    unique_source(src, sizeof src, 30);
    /* A path under a regular file can never be created. */
    char *dir = clg_test_tempdir("cache");
    char file[4200], sub[4300];
    snprintf(file, sizeof file, "%s/plainfile", dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(sub, sizeof sub, "%s/cache", file);
    clg_context *a = clg_test_context_in(sub, 1);
    clg_clear_error();
    get_program(a, src);
    assert_int_equal(clg_last_status(), CLG_OK); /* no error left behind */
    clg_context_free(a);
    clg_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_miss_then_hits),
        cmocka_unit_test(test_corrupt_byte),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_foreign_file),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_build_failure_report),
        cmocka_unit_test(test_disk_cache_off),
        cmocka_unit_test(test_unwritable_dir_is_not_fatal),
    };
    return CLG_RUN_GROUP(tests);
}
