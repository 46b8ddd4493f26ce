/* Kernel profiling: a profile counts each launch once under its kernel's name
 * (direct launches, replays of a captured step, GEMMs), resets on start, needs a
 * profiling queue, and prints a table. */
#include "fixture.h"

#include <stdlib.h>

enum { R = 4, C = 8 };

static clg_context *profiling_ctx(void) {
    clg_context_options o = clg_context_options_default();
    o.profiling = 1;
    clg_context *ctx = clg_context_new(&o);
    assert_non_null(ctx);
    return ctx;
}

/* The row whose name contains text, or NULL. */
static const clg_profile_entry *find_row(const clg_profile_entry *rows, size_t n, const char *text) {
    for (size_t i = 0; i < n; i++)
        if (strstr(rows[i].name, text)) return &rows[i];
    return NULL;
}

static clg_tensor *input(clg_context *ctx, int64_t rows, int64_t cols, uint32_t seed) {
    float host[R * C];
    clg_test_random_floats(host, (size_t)(rows * cols), seed);
    const int64_t shape[2] = {rows, cols};
    clg_tensor *t = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, host);
    assert_non_null(t);
    return t;
}

/* relu(x) evaluated and read back. */
static void relu_once(clg_tensor *x) {
    clg_tensor *y = clg_relu(x);
    float out[R * C];
    assert_non_null(y);
    assert_int_equal(clg_tensor_to_host(y, out, sizeof out), CLG_OK);
    clg_tensor_free(y);
}

static void test_profile_needs_a_profiling_queue(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const char *env = getenv("CLGRAD_PROFILE");
    if (env && *env && strcmp(env, "0") != 0) skip(); /* the fixture's queue profiles then */
    CLG_EXPECT_ERROR(clg_profile_start(ctx) != CLG_OK, CLG_STATUS_UNSUPPORTED, "profiling", "CLGRAD_PROFILE");
    clg_profile_entry *rows = (clg_profile_entry *)1;
    size_t n = 7;
    CLG_EXPECT_ERROR(clg_profile_stop(ctx, &rows, &n) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "no profile");
    assert_null(rows);
    assert_int_equal(n, 0);
}

static void test_profile_counts_each_launch_by_name(void **state) {
    (void)state;
    clg_context *ctx = profiling_ctx();
    clg_tensor *x = input(ctx, R, C, 1), *w = input(ctx, C, R, 2);
    relu_once(x); /* built and run before the profile: not counted */
    assert_int_equal(clg_profile_start(ctx), CLG_OK);
    relu_once(x);
    relu_once(x);
    clg_tensor *p = clg_matmul(x, w, 0, 0);
    float out[R * R];
    assert_non_null(p);
    assert_int_equal(clg_tensor_to_host(p, out, sizeof out), CLG_OK);
    clg_profile_entry *rows = NULL;
    size_t n = 0;
    assert_int_equal(clg_profile_stop(ctx, &rows, &n), CLG_OK);
    const clg_profile_entry *relu = find_row(rows, n, "relu(");
    assert_non_null(relu);
    assert_int_equal(relu->count, 2);
    assert_true(relu->min_ms >= 0 && relu->min_ms <= relu->max_ms);
    assert_true(relu->total_ms >= relu->max_ms && relu->total_ms <= 2 * relu->max_ms + 1e-12);
    uint64_t launches = 0;
    for (size_t i = 0; i < n; i++) {
        launches += rows[i].count;
        if (i > 0) assert_true(rows[i - 1].total_ms >= rows[i].total_ms); /* largest first */
    }
    assert_true(launches >= 3); /* the relus and at least one kernel of the product */
    assert_true(n >= 2);

    /* A new profile forgets the old one; nothing ran: no rows. */
    free(rows);
    assert_int_equal(clg_profile_start(ctx), CLG_OK);
    assert_int_equal(clg_profile_stop(ctx, &rows, &n), CLG_OK);
    assert_null(rows);
    assert_int_equal(n, 0);
    clg_tensor_free(p), clg_tensor_free(x), clg_tensor_free(w);
    clg_context_free(ctx);
}

static void test_profile_counts_replays_and_prints(void **state) {
    (void)state;
    clg_context *ctx = profiling_ctx();
    clg_tensor *x = input(ctx, R, C, 3);
    clg_tensor *y = clg_tensor_empty(ctx, CLG_FLOAT32, 2, (const int64_t[]){R, C});
    assert_non_null(y);
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *e = clg_exp(x);
    assert_int_equal(clg_tensor_assign(y, e), CLG_OK);
    clg_tensor_free(e);
    clg_step *step = clg_step_capture_end(ctx);
    assert_non_null(step);
    assert_int_equal(clg_profile_start(ctx), CLG_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(clg_step_replay(step), CLG_OK);
    clg_profile_entry *rows = NULL;
    size_t n = 0;
    assert_int_equal(clg_profile_stop(ctx, &rows, &n), CLG_OK);
    const clg_profile_entry *ex = find_row(rows, n, "exp(");
    assert_non_null(ex);
    assert_int_equal(ex->count, 3);

    FILE *f = tmpfile();
    assert_non_null(f);
    clg_profile_print(f, rows, n, 3);
    char *text = clg_test_stream_text(f);
    fclose(f);
    assert_non_null(strstr(text, "exp("));
    assert_non_null(strstr(text, "ms/step"));
    assert_non_null(strstr(text, "device time in"));
    free(text);
    free(rows);
    clg_step_free(step);
    clg_tensor_free(x), clg_tensor_free(y);
    clg_context_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_needs_a_profiling_queue),
        cmocka_unit_test(test_profile_counts_each_launch_by_name),
        cmocka_unit_test(test_profile_counts_replays_and_prints),
    };
    return CLG_RUN_GROUP(tests);
}
