/* The MPI plumbing (runtime/dist.h). ctest runs it under mpiexec with 2 ranks
 * when the build has MPI, and alone otherwise (then the collectives must be
 * no-ops). Every test makes all its collective calls before it checks
 * anything, so a failed check on one rank cannot leave the other waiting in a
 * collective that never comes. Values are small integers: sums are exact. */
#include "fixture.h"

#include <stdlib.h>

#include "common/error.h"
#include "runtime/dist.h"

/* The world size mpiexec announced; 1 when not launched by it. */
static int launched_size(void) {
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    return v && *v ? atoi(v) : 1;
}

static void test_rank_and_size(void **state) {
    (void)state;
    int expected = launched_size();
#if !CLGRAD_TEST_MPI
    /* Built without MPI: every process is alone, even under mpiexec. */
    expected = 1;
#endif
    int size = clg_dist_size(), rank = clg_dist_rank();
    if (launched_size() > 1 && size == 1)
        fail_msg("launched by mpiexec with %d ranks but clg_dist_size() is 1: MPI is missing from the build",
                 launched_size());
    assert_int_equal(size, expected);
    assert_int_equal(clg_dist_active(), expected > 1);
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    assert_int_equal(rank, expected > 1 && r ? atoi(r) : 0);
    assert_true(rank >= 0 && rank < size);
}

static void test_allreduce(void **state) {
    (void)state;
    enum { N = 1000 };
    int size = clg_dist_size(), rank = clg_dist_rank();
    double *sum64 = malloc(N * sizeof *sum64), *max64 = malloc(N * sizeof *max64);
    float *sum32 = malloc(N * sizeof *sum32);
    assert_non_null(sum64), assert_non_null(max64), assert_non_null(sum32);
    for (int i = 0; i < N; i++) {
        sum64[i] = rank * 1000.0 + i;
        sum32[i] = (float)(rank * 100 - i);
        max64[i] = (i % size == rank) ? 5000.0 + i : -(double)rank - i; /* each rank wins some */
    }
    clg_status st[4];
    st[0] = clg_dist_allreduce_sum_f64(sum64, N, "test doubles");
    st[1] = clg_dist_allreduce_sum_f32(sum32, N, "test floats");
    st[2] = clg_dist_allreduce_max_f64(max64, N, "test maxima");
    st[3] = clg_dist_allreduce_sum_f64(NULL, 0, "nothing"); /* n = 0: nothing to do */
    for (int k = 0; k < 4; k++) assert_int_equal(st[k], CLG_OK);
    double ranks_sum = size * (size - 1) / 2.0;
    for (int i = 0; i < N; i++) {
        assert_true(sum64[i] == 1000.0 * ranks_sum + (double)size * i);
        assert_true(sum32[i] == (float)(100.0 * ranks_sum - (double)size * i));
        double m = -1e300;
        for (int r = 0; r < size; r++) {
            double v = (i % size == r) ? 5000.0 + i : -(double)r - i;
            if (v > m) m = v;
        }
        assert_true(max64[i] == m);
    }
    free(sum64), free(max64), free(sum32);
}

static void test_bcast(void **state) {
    (void)state;
    enum { BYTES = 4099 }; /* not a multiple of anything */
    int size = clg_dist_size(), rank = clg_dist_rank(), root = size - 1;
    unsigned char *buf = malloc(BYTES);
    assert_non_null(buf);
    for (int i = 0; i < BYTES; i++) buf[i] = rank == root ? (unsigned char)(i * 7 + 3) : 0;
    clg_status st = clg_dist_bcast(buf, BYTES, root, "test bytes");
    clg_status st0 = clg_dist_bcast(NULL, 0, 0, "nothing");
    assert_int_equal(st, CLG_OK);
    assert_int_equal(st0, CLG_OK);
    for (int i = 0; i < BYTES; i++) assert_int_equal(buf[i], (unsigned char)(i * 7 + 3));
    free(buf);
}

/* Counts per rank r: 3 + 2r (uneven), then one where rank 0 gives nothing. */
static void test_allgatherv(void **state) {
    (void)state;
    int size = clg_dist_size(), rank = clg_dist_rank();
    size_t *counts = calloc((size_t)size, sizeof *counts), *counts0 = calloc((size_t)size, sizeof *counts0);
    assert_non_null(counts), assert_non_null(counts0);
    size_t total = 0, total0 = 0, offset = 0;
    for (int r = 0; r < size; r++) {
        counts[r] = 3 + 2 * (size_t)r;
        counts0[r] = r == 0 ? 0 : (size_t)r;
        if (r == rank) offset = total;
        total += counts[r], total0 += counts0[r];
    }
    float *mine = malloc(counts[rank] * sizeof *mine), *all = malloc(total * sizeof *all);
    float *in_place = malloc(total * sizeof *in_place), *all0 = malloc((total0 ? total0 : 1) * sizeof *all0);
    float mine0[64];
    assert_non_null(mine), assert_non_null(all), assert_non_null(in_place), assert_non_null(all0);
    for (size_t j = 0; j < counts[rank]; j++) mine[j] = (float)(rank * 100 + (int)j);
    for (size_t j = 0; j < total; j++) all[j] = in_place[j] = -1.f;
    /* in place: this rank's part already sits at its offset of the output */
    memcpy(in_place + offset, mine, counts[rank] * sizeof *mine);
    for (size_t j = 0; j < counts0[rank]; j++) mine0[j] = (float)(rank * 10 + (int)j);
    clg_status st[3];
    st[0] = clg_dist_allgatherv_f32(mine, counts, all, "test parts");
    st[1] = clg_dist_allgatherv_f32(in_place + offset, counts, in_place, "test parts in place");
    st[2] = clg_dist_allgatherv_f32(rank == 0 ? NULL : mine0, counts0, all0, "test parts, rank 0 empty");
    for (int k = 0; k < 3; k++) assert_int_equal(st[k], CLG_OK);
    size_t at = 0, at0 = 0;
    for (int r = 0; r < size; r++) {
        for (size_t j = 0; j < counts[r]; j++, at++) {
            assert_true(all[at] == (float)(r * 100 + (int)j));
            assert_true(in_place[at] == all[at]);
        }
        for (size_t j = 0; j < counts0[r]; j++, at0++) assert_true(all0[at0] == (float)(r * 10 + (int)j));
    }
    free(counts), free(counts0), free(mine), free(all), free(in_place), free(all0);
}

static void test_barrier_and_bad_arguments(void **state) {
    (void)state;
    int size = clg_dist_size();
    /* Argument errors are found before any communication, on every rank alike. */
    clg_status bad_root = clg_dist_bcast(&size, sizeof size, size, "test root");
    clg_status bad_buf = clg_dist_allreduce_sum_f32(NULL, 3, "test gradients");
    char msg[256];
    snprintf(msg, sizeof msg, "%s", clg_last_error());
    clg_status bad_counts = clg_dist_allgatherv_f32(NULL, NULL, NULL, "test parts");
    clg_status st = clg_dist_barrier("the test's end");
    assert_int_equal(st, CLG_OK);
    assert_int_equal(bad_root, CLG_STATUS_INVALID_ARGUMENT);
    assert_int_equal(bad_buf, CLG_STATUS_INVALID_ARGUMENT);
    assert_int_equal(bad_counts, CLG_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "summing test gradients across MPI ranks"));
}

/* Disabled: each rank behaves as if alone, then everything works again. */
static void test_set_disabled(void **state) {
    (void)state;
    int size = clg_dist_size(), rank = clg_dist_rank();
    clg_dist_set_disabled(1);
    int active_off = clg_dist_active(), size_off = clg_dist_size(), rank_off = clg_dist_rank();
    double x = rank + 1.0;
    clg_status st_sum = clg_dist_allreduce_sum_f64(&x, 1, "test disabled");
    float mine[2] = {(float)rank, 7.f}, all[2] = {0};
    clg_status st_gather = clg_dist_allgatherv_f32(mine, (size_t[]){2}, all, "test disabled");
    clg_status st_bar = clg_dist_barrier("test disabled");
    clg_dist_set_disabled(0);
    double y = 1.0;
    clg_status st_again = clg_dist_allreduce_sum_f64(&y, 1, "test enabled again");

    assert_int_equal(active_off, 0);
    assert_int_equal(size_off, 1);
    assert_int_equal(rank_off, 0);
    assert_int_equal(st_sum, CLG_OK);
    assert_true(x == rank + 1.0); /* not summed */
    assert_int_equal(st_gather, CLG_OK);
    assert_true(all[0] == (float)rank && all[1] == 7.f);
    assert_int_equal(st_bar, CLG_OK);
    assert_int_equal(st_again, CLG_OK);
    assert_true(y == (double)size);
    assert_int_equal(clg_dist_size(), size);
    assert_int_equal(clg_dist_rank(), rank);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_and_size),
        cmocka_unit_test(test_allreduce),
        cmocka_unit_test(test_bcast),
        cmocka_unit_test(test_allgatherv),
        cmocka_unit_test(test_barrier_and_bad_arguments),
        cmocka_unit_test(test_set_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
