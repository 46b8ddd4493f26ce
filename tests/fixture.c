#include "fixture.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int teardown_failed;

int clg_test_exit_code(int cmocka_result) { return cmocka_result != 0 || teardown_failed; }

int clg_test_group_setup(void **state) {
    static clg_test_env env;
    env.ctx = clg_context_new(NULL);
    if (!env.ctx) {
        fprintf(stderr, "test setup: %s\n", clg_last_error());
        return -1;
    }
    *state = &env;
    return 0;
}

int clg_test_group_teardown(void **state) {
    clg_test_env *env = *state;
    int rc = 0;
    const char *warm = getenv("CLGRAD_TEST_EXPECT_WARM_CACHE");
    if (env && env->ctx && warm && strcmp(warm, "1") == 0) {
        clg_context_stats s = clg_context_get_stats(env->ctx);
        if (s.programs_built != 0) {
            fprintf(stderr,
                    "warm-cache check: %llu program(s) compiled from source although the disk "
                    "cache should hold them all (%llu loaded from disk)\n",
                    (unsigned long long)s.programs_built, (unsigned long long)s.programs_from_disk);
            rc = -1;
            teardown_failed = 1;
        }
    }
    if (env) clg_context_free(env->ctx);
    return rc;
}

clg_context *clg_test_ctx(void **state) {
    clg_test_env *env = *state;
    assert_non_null(env);
    assert_non_null(env->ctx);
    return env->ctx;
}

void clg_test_expect_error(int failed, clg_status status, ...) {
    if (!failed) fail_msg("expected a failure with %s, the call succeeded", clg_status_name(status));
    if (clg_last_status() != status)
        fail_msg("expected %s, got %s: %s", clg_status_name(status),
                 clg_status_name(clg_last_status()), clg_last_error());
    va_list ap;
    va_start(ap, status);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
        if (!strstr(clg_last_error(), s))
            fail_msg("error message lacks '%s': %s", s, clg_last_error());
    }
    va_end(ap);
}

void clg_test_random_floats(float *out, size_t n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = (float)((double)x / 2147483648.0 - 1.0);
    }
}

char *clg_test_tempdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 32;
    char *path = malloc(n);
    if (!path) return NULL;
    snprintf(path, n, "%s/clgrad-%s-XXXXXX", base, tag);
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void clg_test_rmtree(const char *path) {
    if (path) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

clg_context *clg_test_context_in(const char *dir, int disk_cache) {
    clg_context_options o = clg_context_options_default();
    o.cache_dir = dir;
    o.disk_cache = disk_cache;
    clg_context *ctx = clg_context_new(&o);
    if (!ctx) fail_msg("context in '%s': %s", dir, clg_last_error());
    return ctx;
}

const char *clg_test_cache_writer(void) {
    const char *p = getenv("CLGRAD_TEST_CACHE_WRITER");
    return p && *p ? p : CACHE_WRITER;
}

clg_host_array clg_test_host_array(const void *data, clg_dtype dtype, int ndim, const int64_t *shape) {
    clg_host_array a;
    memset(&a, 0, sizeof a);
    a.data = data, a.dtype = dtype, a.ndim = ndim;
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    return a;
}

char *clg_test_stream_text(FILE *f) {
    long n = ftell(f);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

char *clg_test_summary_text(clg_model *model) {
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(clg_model_summary(model, f), CLG_OK);
    char *s = clg_test_stream_text(f);
    fclose(f);
    return s;
}

char *clg_test_path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void clg_test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}
