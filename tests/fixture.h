/* Shared test fixture: one clgrad context per test file (a cmocka group), so the
 * OpenCL context, the kernel cache and CLBlast's programs are made once.
 *
 *   int main(void) {
 *       const struct CMUnitTest tests[] = {cmocka_unit_test(test_x)};
 *       return CLG_RUN_GROUP(tests);
 *   }
 *   static void test_x(void **state) { clg_context *ctx = clg_test_ctx(state); ... }
 *
 * With CLGRAD_TEST_EXPECT_WARM_CACHE=1 the teardown fails if the file compiled any
 * of clgrad's programs from source: CI's second run proves the disk cache serves
 * every kernel. */
#ifndef CLG_TEST_FIXTURE_H
#define CLG_TEST_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <stdio.h>

#include "clgrad/clgrad.h"

typedef struct clg_test_env {
    clg_context *ctx;
} clg_test_env;

/* Runs a group with the shared fixture. cmocka 1.1 exits 0 when only the group
 * teardown fails, so the warm-cache verdict is folded into the exit code here. */
#define CLG_RUN_GROUP(tests) \
    clg_test_exit_code(cmocka_run_group_tests((tests), clg_test_group_setup, clg_test_group_teardown))
int clg_test_exit_code(int cmocka_result);

int clg_test_group_setup(void **state);
int clg_test_group_teardown(void **state);
clg_context *clg_test_ctx(void **state);

/* Asserts that a call failed with `status` and that the message contains each
 * of the given substrings (a NULL-terminated list). */
void clg_test_expect_error(int failed, clg_status status, ...);
#define CLG_EXPECT_ERROR(failed, status, ...) \
    clg_test_expect_error((failed), (status), __VA_ARGS__, (const char *)NULL)

/* Fills out[n] with deterministic pseudo-random floats in [-1, 1). */
void clg_test_random_floats(float *out, size_t n, uint32_t seed);

/* A context whose caches live in dir (disk_cache 0: memory only); fails the test
 * if it cannot be made. */
clg_context *clg_test_context_in(const char *dir, int disk_cache);

/* The cache_writer helper binary (tests/helpers); CLGRAD_TEST_CACHE_WRITER
 * overrides the build-time path when the tests run from elsewhere. */
const char *clg_test_cache_writer(void);

/* A fresh empty directory under $TMPDIR (or /tmp); the caller owns the string. */
char *clg_test_tempdir(const char *tag);
/* Removes a directory tree made by clg_test_tempdir. */
void clg_test_rmtree(const char *path);

/* dir + "/" + name; the caller frees it. */
char *clg_test_path_in(const char *dir, const char *name);
/* Writes n bytes to path (creating or truncating it); fails the test on error. */
void clg_test_write_file(const char *path, const void *data, size_t n);

/* A clg_host_array over data (not copied). */
clg_host_array clg_test_host_array(const void *data, clg_dtype dtype, int ndim, const int64_t *shape);
/* Everything written so far to stream f (a tmpfile), NUL-terminated; the
 * caller frees it. */
char *clg_test_stream_text(FILE *f);
/* The model's summary (clg_model_summary) as text; the caller frees it. */
char *clg_test_summary_text(clg_model *model);

#endif
