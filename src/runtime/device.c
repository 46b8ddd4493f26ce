/* Enumerating OpenCL devices across all platforms and choosing one. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "runtime/cl.h"
#include "runtime/runtime_impl.h"

static const char no_platform_help[] =
    "no OpenCL platform found: install an OpenCL driver (Debian: pocl-opencl-icd for the "
    "CPU, mesa-opencl-icd for AMD and Intel GPUs through Mesa, intel-opencl-icd for "
    "Intel GPUs, nvidia-opencl-icd for NVIDIA GPUs) together with the ICD loader "
    "ocl-icd-libopencl1, and check that /etc/OpenCL/vendors lists it";

const char *clg_device_type_name(clg_device_type type) {
    switch (type) {
    case CLG_DEVICE_TYPE_CPU: return "cpu";
    case CLG_DEVICE_TYPE_INTEGRATED_GPU: return "gpu (integrated)";
    case CLG_DEVICE_TYPE_DISCRETE_GPU: return "gpu (discrete)";
    case CLG_DEVICE_TYPE_ACCELERATOR: return "accelerator";
    default: return "other";
    }
}

static void info_string(cl_device_id dev, cl_device_info what, char *buf, size_t cap) {
    buf[0] = '\0';
    if (clGetDeviceInfo(dev, what, cap, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
    buf[cap - 1] = '\0';
}

static uint64_t info_u64(cl_device_id dev, cl_device_info what) {
    cl_ulong v = 0;
    if (clGetDeviceInfo(dev, what, sizeof v, &v, NULL) != CL_SUCCESS) return 0;
    return v;
}

static uint32_t info_u32(cl_device_id dev, cl_device_info what) {
    cl_uint v = 0;
    if (clGetDeviceInfo(dev, what, sizeof v, &v, NULL) != CL_SUCCESS) return 0;
    return v;
}

static void parse_c_version(const char *s, int *major, int *minor) {
    /* "OpenCL C 1.2 pocl" */
    *major = 1;
    *minor = 0;
    const char *p = strstr(s, "OpenCL C ");
    if (p) sscanf(p + 9, "%d.%d", major, minor);
}

static void fill_info(cl_platform_id plat, cl_device_id dev, int p, int d,
                      clg_device_info *out) {
    memset(out, 0, sizeof *out);
    out->platform_index = p;
    out->device_index = d;
    clGetPlatformInfo(plat, CL_PLATFORM_NAME, sizeof out->platform_name, out->platform_name, NULL);
    clGetPlatformInfo(plat, CL_PLATFORM_VERSION, sizeof out->platform_version,
                      out->platform_version, NULL);
    out->platform_name[sizeof out->platform_name - 1] = '\0';
    out->platform_version[sizeof out->platform_version - 1] = '\0';
    info_string(dev, CL_DEVICE_NAME, out->name, sizeof out->name);
    info_string(dev, CL_DEVICE_VENDOR, out->vendor, sizeof out->vendor);
    info_string(dev, CL_DRIVER_VERSION, out->driver_version, sizeof out->driver_version);
    info_string(dev, CL_DEVICE_OPENCL_C_VERSION, out->opencl_c_version,
                sizeof out->opencl_c_version);
    parse_c_version(out->opencl_c_version, &out->opencl_c_major, &out->opencl_c_minor);
    out->vendor_id = info_u32(dev, CL_DEVICE_VENDOR_ID);
    out->compute_units = info_u32(dev, CL_DEVICE_MAX_COMPUTE_UNITS);
    out->clock_mhz = info_u32(dev, CL_DEVICE_MAX_CLOCK_FREQUENCY);
    out->global_mem_bytes = info_u64(dev, CL_DEVICE_GLOBAL_MEM_SIZE);
    out->local_mem_bytes = info_u64(dev, CL_DEVICE_LOCAL_MEM_SIZE);
    out->max_alloc_bytes = info_u64(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    size_t wg = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) == CL_SUCCESS)
        out->max_work_group_size = wg;

    cl_device_type t = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    if (t & CL_DEVICE_TYPE_GPU) {
        cl_bool unified = CL_FALSE;
        clGetDeviceInfo(dev, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
        out->type = unified ? CLG_DEVICE_TYPE_INTEGRATED_GPU : CLG_DEVICE_TYPE_DISCRETE_GPU;
    } else if (t & CL_DEVICE_TYPE_CPU) {
        out->type = CLG_DEVICE_TYPE_CPU;
    } else if (t & CL_DEVICE_TYPE_ACCELERATOR) {
        out->type = CLG_DEVICE_TYPE_ACCELERATOR;
    } else {
        out->type = CLG_DEVICE_TYPE_OTHER;
    }

    size_t ext_len = 0;
    clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_len);
    char *ext = ext_len ? malloc(ext_len + 1) : NULL;
    if (ext && clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, ext_len, ext, NULL) == CL_SUCCESS) {
        ext[ext_len] = '\0';
        out->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
        out->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
    }
    free(ext);
    cl_ulong dcfg = 0; /* CL_DEVICE_DOUBLE_FP_CONFIG */
    if (clGetDeviceInfo(dev, 0x1032, sizeof dcfg, &dcfg, NULL) == CL_SUCCESS && dcfg) out->fp64 = 1;

    cl_bool avail = CL_FALSE, compiler = CL_FALSE;
    clGetDeviceInfo(dev, CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
    out->available = avail && compiler;
}

clg_status clg_devices_query(clg_device_info **out, size_t *count) {
    if (!out || !count)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_devices_query: NULL output pointer");
    *out = NULL;
    *count = 0;
    cl_uint nplat = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &nplat);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && nplat == 0))
        return clg_fail(CLG_STATUS_NO_PLATFORM, "%s", no_platform_help);
    if (err != CL_SUCCESS) return CLG_CL_ERR(err, "clGetPlatformIDs", "listing OpenCL platforms");

    cl_platform_id *plats = calloc(nplat, sizeof *plats);
    if (!plats) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "listing OpenCL platforms");
    clg_status st = CLG_CL(clGetPlatformIDs(nplat, plats, NULL), "listing OpenCL platforms");
    clg_device_info *list = NULL;
    size_t n = 0;
    for (cl_uint p = 0; st == CLG_OK && p < nplat; p++) {
        cl_uint ndev = 0;
        /* A platform without devices is not an error; skip it. */
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev) != CL_SUCCESS || !ndev)
            continue;
        cl_device_id *devs = calloc(ndev, sizeof *devs);
        clg_device_info *grown = realloc(list, (n + ndev) * sizeof *list);
        if (!devs || !grown) {
            free(devs);
            if (grown) list = grown;
            st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "listing OpenCL devices");
            break;
        }
        list = grown;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, ndev, devs, NULL) == CL_SUCCESS) {
            for (cl_uint d = 0; d < ndev; d++) fill_info(plats[p], devs[d], (int)p, (int)d, &list[n++]);
        }
        free(devs);
    }
    free(plats);
    if (st != CLG_OK) {
        free(list);
        return st;
    }
    *out = list;
    *count = n;
    return CLG_OK;
}

void clg_devices_free(clg_device_info *devices) { free(devices); }

double clg_device_rank(const clg_device_info *d) {
    static const double type_weight[] = {0, 1, 3, 4, 2, 0};
    if (!d) return 0; /* no device: ranks below every available one */
    double w = (d->type >= 1 && d->type <= 5) ? type_weight[d->type] : 0;
    double power = (double)d->compute_units * (double)(d->clock_mhz ? d->clock_mhz : 1);
    if (power > 1e9) power = 1e9;
    return (d->available ? 1.0 : 0.0) * (w * 1e10 + power) + (d->available ? 1 : 0);
}

static int contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    if (n == 0) return 1;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return 0;
}

static int equals_ci(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

typedef int (*device_filter)(const clg_device_info *d, const char *sel);

static int filter_gpu(const clg_device_info *d, const char *s) {
    (void)s;
    return d->type == CLG_DEVICE_TYPE_DISCRETE_GPU || d->type == CLG_DEVICE_TYPE_INTEGRATED_GPU;
}
static int filter_cpu(const clg_device_info *d, const char *s) {
    (void)s;
    return d->type == CLG_DEVICE_TYPE_CPU;
}
static int filter_accel(const clg_device_info *d, const char *s) {
    (void)s;
    return d->type == CLG_DEVICE_TYPE_ACCELERATOR;
}
static int filter_name(const clg_device_info *d, const char *s) {
    return contains_ci(d->name, s) || contains_ci(d->platform_name, s) || contains_ci(d->vendor, s);
}
static int filter_any(const clg_device_info *d, const char *s) {
    (void)d;
    (void)s;
    return 1;
}

/* Appends "0:0 name (type, platform); ..." describing list to buf. */
static void describe_devices(const clg_device_info *list, size_t count, char *buf, size_t cap) {
    size_t used = strlen(buf);
    if (count == 0) snprintf(buf + used, cap - used, "none");
    for (size_t i = 0; i < count && used < cap; i++) {
        used += (size_t)snprintf(buf + used, cap - used, "%s%d:%d %s (%s, %s)", i ? "; " : "",
                                 list[i].platform_index, list[i].device_index, list[i].name,
                                 clg_device_type_name(list[i].type), list[i].platform_name);
    }
}

static int parse_pd(const char *s, int *p, int *d) {
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || *end != ':' || !isdigit((unsigned char)s[0])) return 0;
    const char *s2 = end + 1;
    if (!isdigit((unsigned char)*s2)) return 0;
    long b = strtol(s2, &end, 10);
    if (*end != '\0' || a < 0 || b < 0 || a > 65535 || b > 65535) return 0;
    *p = (int)a;
    *d = (int)b;
    return 1;
}

clg_status clg_device_select(const clg_device_info *list, size_t count, const char *selection,
                             size_t *chosen) {
    if (!chosen || (!list && count))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_device_select: NULL argument");
    const char *sel = selection ? selection : "";
    while (isspace((unsigned char)*sel)) sel++;
    char trimmed[256];
    snprintf(trimmed, sizeof trimmed, "%s", sel);
    for (size_t n = strlen(trimmed); n && isspace((unsigned char)trimmed[n - 1]); n--)
        trimmed[n - 1] = '\0';

    int p, d;
    if (parse_pd(trimmed, &p, &d)) {
        for (size_t i = 0; i < count; i++) {
            if (list[i].platform_index == p && list[i].device_index == d) {
                *chosen = i;
                return CLG_OK;
            }
        }
    } else {
        device_filter f = filter_name;
        if (trimmed[0] == '\0') f = filter_any;
        else if (equals_ci(trimmed, "gpu")) f = filter_gpu;
        else if (equals_ci(trimmed, "cpu")) f = filter_cpu;
        else if (equals_ci(trimmed, "accelerator")) f = filter_accel;
        double best = -1;
        size_t best_i = 0;
        for (size_t i = 0; i < count; i++) {
            if (!f(&list[i], trimmed)) continue;
            double r = clg_device_rank(&list[i]);
            if (r > best) {
                best = r;
                best_i = i;
            }
        }
        if (best >= 0) {
            *chosen = best_i;
            return CLG_OK;
        }
    }
    char msg[3072];
    snprintf(msg, sizeof msg, "device selection '%s' matches no device; present: ", trimmed);
    describe_devices(list, count, msg, sizeof msg);
    return clg_fail(CLG_STATUS_NO_DEVICE, "%s", msg);
}

/* The filter of one selection item ("" takes every device). */
static device_filter item_filter(const char *item) {
    if (equals_ci(item, "all")) return filter_any;
    if (equals_ci(item, "gpu")) return filter_gpu;
    if (equals_ci(item, "cpu")) return filter_cpu;
    if (equals_ci(item, "accelerator")) return filter_accel;
    return filter_name;
}

clg_status clg_device_select_many(const clg_device_info *list, size_t count, const char *selection,
                                  size_t *chosen, size_t *nchosen) {
    const char *api = "clg_device_select_many";
    if (!chosen || !nchosen || (!list && count) || !selection)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: NULL argument", api);
    *nchosen = 0;
    size_t n = 0;
    const char *s = selection;
    for (;;) {
        size_t len = strcspn(s, ",");
        char item[256];
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item - 1 ? len : sizeof item - 1), s);
        char *a = item;
        while (isspace((unsigned char)*a)) a++;
        for (size_t k = strlen(a); k && isspace((unsigned char)a[k - 1]); k--) a[k - 1] = '\0';
        int p, d, matched = 0;
        if (parse_pd(a, &p, &d)) {
            for (size_t i = 0; i < count; i++)
                if (list[i].platform_index == p && list[i].device_index == d) {
                    int seen = 0;
                    for (size_t k = 0; k < n; k++) seen |= chosen[k] == i;
                    if (!seen) chosen[n++] = i;
                    matched = 1;
                }
        } else if (!*a) {
            matched = 1; /* an empty item ("0:0,,0:1") adds nothing */
        } else {
            /* every match, best-ranked first (a stable selection sort by rank) */
            device_filter f = item_filter(a);
            for (;;) {
                double best = -1;
                size_t best_i = 0;
                for (size_t i = 0; i < count; i++) {
                    if (!f(&list[i], a)) continue;
                    matched = 1;
                    int seen = 0;
                    for (size_t k = 0; k < n; k++) seen |= chosen[k] == i;
                    double r = clg_device_rank(&list[i]);
                    if (!seen && r > best) best = r, best_i = i;
                }
                if (best < 0) break;
                chosen[n++] = best_i;
            }
        }
        if (!matched) {
            char msg[3072];
            snprintf(msg, sizeof msg, "%s: '%s' in device selection '%s' matches no device; present: ", api, a,
                     selection);
            describe_devices(list, count, msg, sizeof msg);
            return clg_fail(CLG_STATUS_NO_DEVICE, "%s", msg);
        }
        if (s[len] != ',') break;
        s += len + 1;
    }
    if (n == 0) {
        char msg[3072];
        snprintf(msg, sizeof msg, "%s: device selection '%s' names no device; present: ", api, selection);
        describe_devices(list, count, msg, sizeof msg);
        return clg_fail(CLG_STATUS_NO_DEVICE, "%s", msg);
    }
    *nchosen = n;
    return CLG_OK;
}
