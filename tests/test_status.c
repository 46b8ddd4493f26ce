/* Status codes, names, messages and the per-thread error state. */
#include "fixture.h"

#include <pthread.h>

#include "common/error.h"

static void test_names_and_messages(void **state) {
    (void)state;
    assert_string_equal(clg_status_name(CLG_OK), "CLG_STATUS_OK");
    assert_string_equal(clg_status_name(CLG_STATUS_SHAPE_MISMATCH), "CLG_STATUS_SHAPE_MISMATCH");
    assert_string_equal(clg_status_name((clg_status)9999), "CLG_STATUS_UNKNOWN");
    assert_string_equal(clg_status_message((clg_status)-1), "unknown status");
    assert_int_equal(CLG_OK, 0);
    /* Every status has a distinct name and a non-empty message. */
    for (int i = 0; i < CLG_STATUS_COUNT_; i++) {
        assert_true(strlen(clg_status_message((clg_status)i)) > 0);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(clg_status_name((clg_status)i), clg_status_name((clg_status)j));
    }
}

static void test_last_error(void **state) {
    (void)state;
    clg_clear_error();
    assert_int_equal(clg_last_status(), CLG_OK);
    assert_string_equal(clg_last_error(), "");
    assert_int_equal(clg_fail(CLG_STATUS_IO_ERROR, "file '%s' broke", "x.bin"), CLG_STATUS_IO_ERROR);
    assert_int_equal(clg_last_status(), CLG_STATUS_IO_ERROR);
    assert_string_equal(clg_last_error(), "file 'x.bin' broke");
    clg_fail_wrap(CLG_STATUS_IO_ERROR, "loading model");
    assert_string_equal(clg_last_error(), "loading model: file 'x.bin' broke");
    /* Very long messages are cut, not overflowed. */
    char big[10000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s", big);
    assert_true(strlen(clg_last_error()) < sizeof big - 1);
    clg_clear_error();
}

static void *other_thread(void *arg) {
    (void)arg;
    /* A fresh thread starts without an error and its failures stay its own. */
    int clean = clg_last_status() == CLG_OK && clg_last_error()[0] == '\0';
    clg_fail(CLG_STATUS_NOT_FOUND, "thread error");
    return (void *)(intptr_t)clean;
}

static void test_error_is_per_thread(void **state) {
    (void)state;
    clg_fail(CLG_STATUS_CORRUPT_DATA, "main thread error");
    pthread_t th;
    void *clean = NULL;
    assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
    assert_int_equal(pthread_join(th, &clean), 0);
    assert_true((intptr_t)clean);
    assert_int_equal(clg_last_status(), CLG_STATUS_CORRUPT_DATA);
    assert_string_equal(clg_last_error(), "main thread error");
}

static void test_format_bytes(void **state) {
    (void)state;
    char b[32];
    assert_string_equal(clg_format_bytes(512, b, sizeof b), "512 B");
    assert_string_equal(clg_format_bytes(1536, b, sizeof b), "1.5 KiB");
    assert_string_equal(clg_format_bytes(3ull << 30, b, sizeof b), "3.0 GiB");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_messages),
        cmocka_unit_test(test_last_error),
        cmocka_unit_test(test_error_is_per_thread),
        cmocka_unit_test(test_format_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
