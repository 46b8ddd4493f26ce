/* The clgrad command: device listing and maintenance. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "clgrad/clgrad.h"
#include "bench.h"
#include "tune.h"

/* Vendor OpenCL drivers are often installed without their ICD registration
 * (seen on an NVIDIA H100 machine: libnvidia-opencl.so.1 present, no
 * /etc/OpenCL/vendors/nvidia.icd), so the loader silently skips them. */
static const struct {
    const char *vendor;   /* matched against listed platform names */
    const char *icd_name;
    const char *paths[6];
} known_drivers[] = {
    {"NVIDIA", "nvidia.icd",
     {"/usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1", "/usr/local/nvidia/lib64/libnvidia-opencl.so.1",
      "/usr/lib/libnvidia-opencl.so.1", "/usr/lib64/libnvidia-opencl.so.1", NULL}},
    {"AMD", "amdocl64.icd", {"/opt/rocm/lib/libamdocl64.so", "/opt/rocm/opencl/lib/libamdocl64.so", NULL}},
    {"Intel", "intel.icd",
     {"/usr/lib/x86_64-linux-gnu/intel-opencl/libigdrcl.so", "/usr/lib64/intel-opencl/libigdrcl.so", NULL}},
};

static int listed(const clg_device_info *list, size_t n, const char *vendor) {
    for (size_t i = 0; i < n; i++) {
        const char *names[2] = {list[i].platform_name, list[i].vendor};
        for (int k = 0; k < 2; k++) {
            for (const char *p = names[k]; *p; p++) {
                size_t j = 0;
                while (vendor[j] && tolower((unsigned char)p[j]) == tolower((unsigned char)vendor[j])) j++;
                if (!vendor[j]) return 1;
            }
        }
    }
    return 0;
}

static void hint_unregistered_drivers(const clg_device_info *list, size_t n) {
    for (size_t d = 0; d < sizeof known_drivers / sizeof *known_drivers; d++) {
        if (listed(list, n, known_drivers[d].vendor)) continue;
        for (int i = 0; known_drivers[d].paths[i]; i++) {
            const char *lib = known_drivers[d].paths[i];
            if (access(lib, R_OK) != 0) continue;
            fprintf(stderr,
                    "note: %s is installed but no %s platform is listed: the OpenCL ICD loader "
                    "only sees drivers registered in /etc/OpenCL/vendors (or OCL_ICD_VENDORS). "
                    "Register it with:\n  echo %s > /etc/OpenCL/vendors/%s\n",
                    lib, known_drivers[d].vendor, lib, known_drivers[d].icd_name);
            break;
        }
    }
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: clgrad <command>\n"
            "  devices        list every OpenCL device; '*' marks the one clgrad would use\n"
            "                 (CLGRAD_DEVICE=P:D | name substring | gpu | cpu selects another);\n"
            "                 with CLGRAD_DEVICES (all | gpu | cpu | P:D,...) '*' marks the first\n"
            "                 device of the selection and '+' the others it adds\n"
            "  version        print clgrad's version\n"
            "  cache-dir      print the kernel cache directory in use\n"
            "  bench <suite>  time operations on the device ('clgrad bench --help' lists suites)\n"
            "  tune           tune CLBlast's GEMM for the device and keep the result\n"
            "                 ('clgrad tune --help')\n");
}

/* Which devices a context made now would drive: used[i] = 1 for the first
 * (its own device, which runs the optimizer update), 2 for the others
 * CLGRAD_DEVICES adds, 0 for the rest. Returns the status of the selection. */
static clg_status devices_in_use(const clg_device_info *list, size_t n, const char *many, const char *one,
                                 unsigned char *used) {
    if (many && *many) { /* as clg_context_new: CLGRAD_DEVICES before CLGRAD_DEVICE */
        size_t *chosen = malloc((n ? n : 1) * sizeof *chosen), nchosen = 0;
        if (!chosen) return CLG_STATUS_OUT_OF_HOST_MEMORY;
        clg_status st = clg_device_select_many(list, n, many, chosen, &nchosen);
        for (size_t k = 0; st == CLG_OK && k < nchosen; k++) used[chosen[k]] = k == 0 ? 1 : 2;
        free(chosen);
        return st;
    }
    size_t chosen = (size_t)-1;
    clg_status st = clg_device_select(list, n, one, &chosen);
    if (st == CLG_OK) used[chosen] = 1;
    return st;
}

static int cmd_devices(void) {
    clg_device_info *list;
    size_t n;
    if (clg_devices_query(&list, &n) != CLG_OK) {
        fprintf(stderr, "clgrad: %s\n", clg_last_error());
        hint_unregistered_drivers(NULL, 0);
        return 1;
    }
    const char *one = getenv("CLGRAD_DEVICE"), *many = getenv("CLGRAD_DEVICES");
    int several = many && *many;
    unsigned char *used = calloc(n ? n : 1, 1);
    clg_status st = used ? devices_in_use(list, n, many, one, used) : CLG_STATUS_OUT_OF_HOST_MEMORY;
    const char *why = st == CLG_STATUS_OUT_OF_HOST_MEMORY ? "out of host memory" : clg_last_error();
    const char *api = "clg_device_select_many: "; /* the variable names the source instead */
    if (several && strncmp(why, api, strlen(api)) == 0) why += strlen(api);
    char error[3072];
    snprintf(error, sizeof error, "%s%s", several ? "CLGRAD_DEVICES: " : "", why); /* before more calls */
    for (size_t i = 0; i < n; i++) {
        const clg_device_info *d = &list[i];
        char gmem[32], lmem[32], amem[32];
        snprintf(gmem, sizeof gmem, "%.1f GiB", (double)d->global_mem_bytes / (1 << 30));
        snprintf(lmem, sizeof lmem, "%.0f KiB", (double)d->local_mem_bytes / 1024);
        snprintf(amem, sizeof amem, "%.1f GiB", (double)d->max_alloc_bytes / (1 << 30));
        char mark = st != CLG_OK ? ' ' : used[i] == 1 ? '*' : used[i] == 2 ? '+' : ' ';
        printf("%c %d:%d  %s\n", mark, d->platform_index, d->device_index, d->name);
        printf("      platform   %s (%s)\n", d->platform_name, d->platform_version);
        printf("      vendor     %s (0x%x), driver %s\n", d->vendor, d->vendor_id, d->driver_version);
        printf("      type       %s%s\n", clg_device_type_name(d->type), d->available ? "" : ", NOT AVAILABLE");
        printf("      compute    %u units at %u MHz, work-group up to %llu\n", d->compute_units,
               d->clock_mhz, (unsigned long long)d->max_work_group_size);
        printf("      memory     %s global, %s local, %s largest allocation\n", gmem, lmem, amem);
        printf("      language   %s; fp16 %s, fp64 %s\n", d->opencl_c_version, d->fp16 ? "yes" : "no",
               d->fp64 ? "yes" : "no");
    }
    if (n == 0) printf("(platforms exist but expose no devices)\n");
    if (st == CLG_OK && several) {
        size_t count = 0;
        for (size_t i = 0; i < n; i++) count += used[i] != 0;
        printf("CLGRAD_DEVICES=%s: %zu device%s; '*' the first (runs the optimizer update)%s%s\n", many, count,
               count == 1 ? "" : "s", count > 1 ? ", '+' the others" : "",
               one && *one ? " (CLGRAD_DEVICE is ignored)" : "");
    }
    hint_unregistered_drivers(list, n);
    free(used);
    clg_devices_free(list);
    if (st != CLG_OK) {
        fprintf(stderr, "clgrad: %s\n", error);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "devices") == 0) return cmd_devices();
    if (strcmp(argv[1], "bench") == 0) return bench_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "tune") == 0) return tune_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "version") == 0) {
        printf("clgrad %s\n", clg_version());
        return 0;
    }
    if (strcmp(argv[1], "cache-dir") == 0) {
        clg_context *ctx = clg_context_new(NULL);
        if (!ctx) {
            fprintf(stderr, "clgrad: %s\n", clg_last_error());
            return 1;
        }
        const char *dir = clg_context_cache_dir(ctx);
        printf("%s\n", dir[0] ? dir : "(disk cache disabled)");
        clg_context_free(ctx);
        return 0;
    }
    fprintf(stderr, "clgrad: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
