/* Device enumeration, ranking and every form of selection string. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>

static clg_device_info make(int p, int d, clg_device_type type, const char *platform,
                            const char *name, const char *vendor, uint32_t cus, uint32_t mhz) {
    clg_device_info info;
    memset(&info, 0, sizeof info);
    info.platform_index = p;
    info.device_index = d;
    info.type = type;
    snprintf(info.platform_name, sizeof info.platform_name, "%s", platform);
    snprintf(info.name, sizeof info.name, "%s", name);
    snprintf(info.vendor, sizeof info.vendor, "%s", vendor);
    info.compute_units = cus;
    info.clock_mhz = mhz;
    info.available = 1;
    return info;
}

/* A desktop with a CPU platform, an integrated Intel GPU and a discrete AMD GPU. */
static void fake_machine(clg_device_info list[4]) {
    list[0] = make(0, 0, CLG_DEVICE_TYPE_CPU, "Portable Computing Language",
                   "pthread-skylake-avx512", "GenuineIntel", 16, 3000);
    list[1] = make(1, 0, CLG_DEVICE_TYPE_INTEGRATED_GPU, "Intel(R) OpenCL Graphics",
                   "Intel(R) UHD Graphics 770", "Intel(R) Corporation", 32, 1450);
    list[2] = make(2, 0, CLG_DEVICE_TYPE_DISCRETE_GPU, "AMD Accelerated Parallel Processing",
                   "gfx1030", "Advanced Micro Devices, Inc.", 40, 2500);
    list[3] = make(2, 1, CLG_DEVICE_TYPE_DISCRETE_GPU, "AMD Accelerated Parallel Processing",
                   "gfx1010", "Advanced Micro Devices, Inc.", 20, 1900);
}

static void expect_choice(const clg_device_info *list, size_t n, const char *sel, int p, int d) {
    size_t chosen = 99;
    clg_status st = clg_device_select(list, n, sel, &chosen);
    if (st != CLG_OK) fail_msg("selection '%s': %s", sel ? sel : "(null)", clg_last_error());
    assert_true(chosen < n);
    if (list[chosen].platform_index != p || list[chosen].device_index != d)
        fail_msg("selection '%s' chose %d:%d, expected %d:%d", sel ? sel : "(null)",
                 list[chosen].platform_index, list[chosen].device_index, p, d);
}

static void test_default_ranking(void **state) {
    (void)state;
    clg_device_info list[4];
    fake_machine(list);
    expect_choice(list, 4, NULL, 2, 0);   /* discrete GPU with most compute wins */
    expect_choice(list, 4, "", 2, 0);
    assert_true(clg_device_rank(&list[2]) > clg_device_rank(&list[3]));
    assert_true(clg_device_rank(&list[3]) > clg_device_rank(&list[1]));
    assert_true(clg_device_rank(&list[1]) > clg_device_rank(&list[0]));
    /* Accelerators rank between integrated GPUs and CPUs. */
    clg_device_info acc = make(3, 0, CLG_DEVICE_TYPE_ACCELERATOR, "FPGA", "fpga", "X", 1, 100);
    assert_true(clg_device_rank(&acc) > clg_device_rank(&list[0]));
    assert_true(clg_device_rank(&acc) < clg_device_rank(&list[1]));
    /* An unavailable device loses to any available one. */
    list[2].available = 0;
    list[3].available = 0;
    list[1].available = 0;
    expect_choice(list, 4, NULL, 0, 0);
}

static void test_selection_strings(void **state) {
    (void)state;
    clg_device_info list[4];
    fake_machine(list);
    expect_choice(list, 4, "1:0", 1, 0);
    expect_choice(list, 4, " 2:1 ", 2, 1);
    expect_choice(list, 4, "gpu", 2, 0);
    expect_choice(list, 4, "GPU", 2, 0);
    expect_choice(list, 4, "cpu", 0, 0);
    expect_choice(list, 4, "gfx1010", 2, 1);
    expect_choice(list, 4, "GFX10", 2, 0);   /* substring, best of the matches */
    expect_choice(list, 4, "intel", 1, 0);   /* the Intel GPU outranks the Intel CPU vendor */
    expect_choice(list, 4, "pthread", 0, 0);
    expect_choice(list, 4, "Advanced Micro", 2, 0); /* vendor */
    expect_choice(list, 4, "Portable", 0, 0);       /* platform */
}

static void test_selection_errors(void **state) {
    (void)state;
    clg_device_info list[4];
    fake_machine(list);
    size_t chosen;
    CLG_EXPECT_ERROR(clg_device_select(list, 4, "3:0", &chosen) != CLG_OK, CLG_STATUS_NO_DEVICE,
                     "'3:0'", "0:0 pthread-skylake-avx512", "2:0 gfx1030", "gpu (discrete)");
    CLG_EXPECT_ERROR(clg_device_select(list, 4, "NVIDIA", &chosen) != CLG_OK, CLG_STATUS_NO_DEVICE,
                     "'NVIDIA'", "matches no device", "1:0 Intel(R) UHD Graphics 770");
    CLG_EXPECT_ERROR(clg_device_select(list, 4, "accelerator", &chosen) != CLG_OK,
                     CLG_STATUS_NO_DEVICE, "accelerator");
    CLG_EXPECT_ERROR(clg_device_select(list, 0, NULL, &chosen) != CLG_OK, CLG_STATUS_NO_DEVICE,
                     "none");
    CLG_EXPECT_ERROR(clg_device_select(list, 4, "gpu", NULL) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_device_select");
    /* "1:" is no index pair; it is taken as a name and matches nothing. */
    CLG_EXPECT_ERROR(clg_device_select(list, 4, "1:", &chosen) != CLG_OK, CLG_STATUS_NO_DEVICE, "'1:'");
}

static void test_real_devices(void **state) {
    (void)state;
    clg_device_info *list = NULL;
    size_t n = 0;
    assert_int_equal(clg_devices_query(&list, &n), CLG_OK);
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(list[i].name) > 0);
        assert_true(strlen(list[i].platform_name) > 0);
        assert_true(list[i].compute_units >= 1);
        assert_true(list[i].global_mem_bytes > 0);
        assert_true(list[i].max_alloc_bytes > 0);
        assert_true(list[i].opencl_c_major >= 1);
        /* Each device is selectable by its own P:D. */
        char pd[32];
        snprintf(pd, sizeof pd, "%d:%d", list[i].platform_index, list[i].device_index);
        expect_choice(list, n, pd, list[i].platform_index, list[i].device_index);
    }
    CLG_EXPECT_ERROR(clg_devices_query(NULL, &n) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "NULL");
    clg_devices_free(list);
    clg_devices_free(NULL);
}

static void test_context_selection(void **state) {
    clg_context *shared = clg_test_ctx(state);
    const clg_device_info *d = clg_context_device(shared);
    assert_non_null(d);
    char pd[32];
    snprintf(pd, sizeof pd, "%d:%d", d->platform_index, d->device_index);

    clg_context_options o = clg_context_options_default();
    o.device = pd;
    clg_context *ctx = clg_context_new(&o);
    assert_non_null(ctx);
    assert_string_equal(clg_context_device(ctx)->name, d->name);
    clg_context_free(ctx);

    o.device = "no-such-device-anywhere";
    CLG_EXPECT_ERROR(clg_context_new(&o) == NULL, CLG_STATUS_NO_DEVICE, "options.device",
                     "no-such-device-anywhere", d->name);

    /* CLGRAD_DEVICE applies when options.device is not set. */
    char *saved = getenv("CLGRAD_DEVICE") ? strdup(getenv("CLGRAD_DEVICE")) : NULL;
    setenv("CLGRAD_DEVICE", "no-such-device-either", 1);
    CLG_EXPECT_ERROR(clg_context_new(NULL) == NULL, CLG_STATUS_NO_DEVICE, "CLGRAD_DEVICE",
                     "no-such-device-either");
    setenv("CLGRAD_DEVICE", pd, 1);
    ctx = clg_context_new(NULL);
    assert_non_null(ctx);
    clg_context_free(ctx);
    if (saved) setenv("CLGRAD_DEVICE", saved, 1);
    else unsetenv("CLGRAD_DEVICE");
    free(saved);
    clg_context_free(NULL);
}

static void test_report_device(void **state) {
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    clg_context_options o = clg_context_options_default();
    o.report_device = 1;
    o.report_stream = f;
    char *saved = getenv("CLGRAD_QUIET") ? strdup(getenv("CLGRAD_QUIET")) : NULL;
    unsetenv("CLGRAD_QUIET");
    clg_context *ctx = clg_context_new(&o);
    assert_non_null(ctx);
    clg_context_free(ctx);
    setenv("CLGRAD_QUIET", "1", 1);
    ctx = clg_context_new(&o);
    assert_non_null(ctx);
    clg_context_free(ctx);
    if (saved) setenv("CLGRAD_QUIET", saved, 1);
    else unsetenv("CLGRAD_QUIET");
    free(saved);
    char buf[1024] = "";
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "using device"));
    /* Reported once: the quiet context printed nothing. */
    assert_null(strstr(strstr(buf, "using device") + 1, "using device"));
}

static void test_type_names(void **state) {
    (void)state;
    assert_string_equal(clg_device_type_name(CLG_DEVICE_TYPE_CPU), "cpu");
    assert_string_equal(clg_device_type_name(CLG_DEVICE_TYPE_DISCRETE_GPU), "gpu (discrete)");
    assert_string_equal(clg_device_type_name((clg_device_type)42), "other");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_ranking),  cmocka_unit_test(test_selection_strings),
        cmocka_unit_test(test_selection_errors), cmocka_unit_test(test_real_devices),
        cmocka_unit_test(test_context_selection), cmocka_unit_test(test_report_device),
        cmocka_unit_test(test_type_names),
    };
    return CLG_RUN_GROUP(tests);
}
