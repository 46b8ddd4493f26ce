/* Ordering work across contexts with events: inside one context a device
 * barrier, across contexts a user event completed from the producer's callback. */
#include "fixture.h"

static void test_same_context(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    int64_t n = 1 << 16;
    clg_tensor *t = clg_tensor_rand_normal(ctx, 1, &n, 0, 1, 3, 0);
    clg_event *ev = clg_event_record(ctx);
    assert_non_null(ev);
    assert_int_equal(clg_event_wait(ctx, ev), CLG_OK);
    assert_int_equal(clg_event_synchronize(ev), CLG_OK);
    assert_int_equal(clg_event_done(ev), 1);
    clg_event_free(ev);
    clg_tensor_free(t);
}

static void test_across_contexts(void **state) {
    clg_context *a = clg_test_ctx(state);
    clg_context *b = clg_context_new(NULL);
    assert_non_null(b);
    for (int rep = 0; rep < 3; rep++) {
        /* Enough work on A that B would finish first without the wait. */
        int64_t n = 1 << 22;
        clg_tensor *big = clg_tensor_rand_normal(a, 1, &n, 0, 1, 7, 0);
        clg_tensor *s = clg_sum(big, 0, NULL, 0);
        assert_non_null(s);
        clg_event *produced = clg_event_record(a);
        assert_non_null(produced);
        assert_int_equal(clg_event_wait(b, produced), CLG_OK);
        int64_t one = 1;
        clg_tensor *small = clg_tensor_ones(b, CLG_FLOAT32, 1, &one);
        clg_event *consumed = clg_event_record(b);
        assert_non_null(consumed);
        clg_event_free(produced); /* freeing early is allowed */
        assert_int_equal(clg_event_synchronize(consumed), CLG_OK);
        /* B's work completed, so A's had completed before it. */
        float v;
        assert_int_equal(clg_tensor_to_host(small, &v, sizeof v), CLG_OK);
        assert_true(v == 1.0f);
        clg_event_free(consumed);
        clg_tensor_free(small);
        clg_tensor_free(s);
        clg_tensor_free(big);
    }
    clg_context_free(b);
}

static void test_order_is_enforced(void **state) {
    clg_context *a = clg_test_ctx(state);
    clg_context *b = clg_context_new(NULL);
    assert_non_null(b);
    int64_t n = 1 << 22;
    clg_tensor *big = clg_tensor_rand_normal(a, 1, &n, 0, 1, 9, 0);
    clg_tensor *s = clg_sum(big, 0, NULL, 0);
    clg_event *produced = clg_event_record(a);
    assert_int_equal(clg_event_wait(b, produced), CLG_OK);
    clg_event *consumed = clg_event_record(b);
    assert_int_equal(clg_event_synchronize(consumed), CLG_OK);
    assert_int_equal(clg_event_done(produced), 1);
    clg_event_free(produced);
    clg_event_free(consumed);
    clg_tensor_free(s);
    clg_tensor_free(big);
    clg_context_free(b);
}

static void test_bad_arguments(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    CLG_EXPECT_ERROR(clg_event_record(NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_event_record");
    CLG_EXPECT_ERROR(clg_event_wait(ctx, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_event_wait");
    CLG_EXPECT_ERROR(clg_event_synchronize(NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "synchronize");
    assert_int_equal(clg_event_done(NULL), -1);
    clg_event_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_context),
        cmocka_unit_test(test_across_contexts),
        cmocka_unit_test(test_order_is_enforced),
        cmocka_unit_test(test_bad_arguments),
    };
    return CLG_RUN_GROUP(tests);
}
