/* Contexts: one device, its OpenCL context and in-order queue, and the caches. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgrad/version.h"
#include "common/error.h"
#include "common/hash.h"
#include "runtime/dist.h"
#include "runtime/runtime_impl.h"

const char *clg_version(void) { return CLGRAD_VERSION_STRING; }

clg_context_options clg_context_options_default(void) {
    clg_context_options o;
    memset(&o, 0, sizeof o);
    o.disk_cache = 1;
    o.constrained = -1;
    o.deterministic = -1;
    o.profiling = -1;
    return o;
}

static int env_flag(const char *name, int fallback) {
    const char *v = getenv(name);
    if (!v || !*v) return fallback;
    return !(strcmp(v, "0") == 0 || strcmp(v, "off") == 0 || strcmp(v, "false") == 0 ||
             strcmp(v, "no") == 0);
}

static void resolve_cache_dir(const clg_context_options *o, char *out, size_t cap) {
    const char *v;
    if (o->cache_dir && *o->cache_dir) snprintf(out, cap, "%s", o->cache_dir);
    else if ((v = getenv("CLGRAD_CACHE_DIR")) && *v) snprintf(out, cap, "%s", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v) snprintf(out, cap, "%s/clgrad", v);
    else if ((v = getenv("HOME")) && *v) snprintf(out, cap, "%s/.cache/clgrad", v);
    else out[0] = '\0';
}

static void set_limits(clg_context *ctx, int constrained) {
    clg_context_limits *l = &ctx->limits;
    l->max_work_group_size = ctx->info.max_work_group_size ? ctx->info.max_work_group_size : 1;
    l->local_mem_bytes = ctx->info.local_mem_bytes;
    l->max_alloc_bytes = ctx->info.max_alloc_bytes;
    l->fp16 = ctx->info.fp16;
    l->fp64 = ctx->info.fp64;
    l->constrained = constrained;
    if (constrained) {
        if (l->max_work_group_size > 256) l->max_work_group_size = 256;
        if (l->local_mem_bytes > 32768) l->local_mem_bytes = 32768;
        l->fp64 = 0;
    }
}

static void set_build_options(clg_context *ctx) {
    const clg_device_info *d = &ctx->info;
    /* OpenCL C 1.2 is the baseline every kernel is written for; newer devices
     * compile it as 1.2 and kernels may test CLG_OPENCL_C_VERSION for more. */
    int cver = d->opencl_c_major * 100 + d->opencl_c_minor * 10;
    const char *std = cver >= 120 ? "-cl-std=CL1.2" : "";
    snprintf(ctx->base_options, sizeof ctx->base_options,
             "%s -DCLG_OPENCL_C_VERSION=%d -DCLG_MAX_WORK_GROUP=%llu -DCLG_LOCAL_MEM=%llu "
             "-DCLG_HAS_FP16=%d -DCLG_HAS_FP64=%d",
             std, cver, (unsigned long long)ctx->limits.max_work_group_size,
             (unsigned long long)ctx->limits.local_mem_bytes, ctx->limits.fp16, ctx->limits.fp64);
}

static clg_status open_device(clg_context *ctx) {
    cl_uint nplat = 0;
    clg_status st = CLG_CL(clGetPlatformIDs(0, NULL, &nplat), "listing OpenCL platforms");
    if (st != CLG_OK) return st;
    cl_platform_id *plats = calloc(nplat, sizeof *plats);
    if (!plats) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "listing OpenCL platforms");
    st = CLG_CL(clGetPlatformIDs(nplat, plats, NULL), "listing OpenCL platforms");
    if (st == CLG_OK && (cl_uint)ctx->info.platform_index >= nplat)
        st = clg_fail(CLG_STATUS_NO_DEVICE, "platform %d disappeared", ctx->info.platform_index);
    if (st == CLG_OK) ctx->platform = plats[ctx->info.platform_index];
    free(plats);
    if (st != CLG_OK) return st;

    cl_uint ndev = 0;
    st = CLG_CL(clGetDeviceIDs(ctx->platform, CL_DEVICE_TYPE_ALL, 0, NULL, &ndev), ctx->label);
    if (st != CLG_OK) return st;
    cl_device_id *devs = calloc(ndev, sizeof *devs);
    if (!devs) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "listing OpenCL devices");
    st = CLG_CL(clGetDeviceIDs(ctx->platform, CL_DEVICE_TYPE_ALL, ndev, devs, NULL), ctx->label);
    if (st == CLG_OK && (cl_uint)ctx->info.device_index >= ndev)
        st = clg_fail(CLG_STATUS_NO_DEVICE, "device %s disappeared", ctx->label);
    if (st == CLG_OK) ctx->device = devs[ctx->info.device_index];
    free(devs);
    if (st != CLG_OK) return st;

    char what[256];
    snprintf(what, sizeof what, "creating an OpenCL context on %s", ctx->label);
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    cl_int err;
    ctx->cl = clCreateContext(props, 1, &ctx->device, NULL, NULL, &err);
    if ((st = CLG_CL_ERR(err, "clCreateContext", what)) != CLG_OK) return st;
    snprintf(what, sizeof what, "creating a command queue on %s", ctx->label);
    cl_command_queue_properties qp = ctx->profile.enabled ? CL_QUEUE_PROFILING_ENABLE : 0;
    ctx->queue = clCreateCommandQueue(ctx->cl, ctx->device, qp, &err);
    return CLG_CL_ERR(err, "clCreateCommandQueue", what);
}

/* A tuned work-group size for 1-D launches from the store (`clgrad tune`): a
 * power of two the device allows, else nothing (the default stays). */
static void read_tuned_local(clg_context *ctx) {
    char value[32];
    if (clg_store_get(ctx, CLG_STORE_LOCAL_1D, value, sizeof value) != CLG_OK) {
        clg_clear_error(); /* not tuned */
        return;
    }
    char *end;
    unsigned long v = strtoul(value, &end, 10);
    if (*end || v == 0 || (v & (v - 1)) || v > ctx->limits.max_work_group_size) return;
    ctx->local_1d = (size_t)v;
}

/* A context on device `info`; NULL with the reason recorded. */
static clg_context *context_open(const clg_context_options *opt, const clg_device_info *info) {
    clg_context_options o = *opt;
    clg_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "allocating a context");
        return NULL;
    }
    ctx->info = *info;
    snprintf(ctx->label, sizeof ctx->label, "%s (%d:%d)", ctx->info.name, ctx->info.platform_index,
             ctx->info.device_index);
    snprintf(ctx->identity, sizeof ctx->identity,
             "platform: %s | %s\ndevice: %s | vendor 0x%x | driver %s | %s", ctx->info.platform_name,
             ctx->info.platform_version, ctx->info.name, ctx->info.vendor_id,
             ctx->info.driver_version, ctx->info.opencl_c_version);

    int constrained = o.constrained < 0 ? env_flag("CLGRAD_CONSTRAINED", 0) : o.constrained != 0;
    set_limits(ctx, constrained);
    ctx->deterministic = o.deterministic < 0 ? env_flag("CLGRAD_DETERMINISTIC", 0) : o.deterministic != 0;
    set_build_options(ctx);
    if (o.profiling < 0) ctx->profile.report_at_exit = env_flag("CLGRAD_PROFILE", 0);
    ctx->profile.enabled = o.profiling > 0 || ctx->profile.report_at_exit;

    resolve_cache_dir(&o, ctx->cache_dir, sizeof ctx->cache_dir);
    ctx->disk_cache = o.disk_cache && env_flag("CLGRAD_CACHE", 1) && ctx->cache_dir[0];
    if (!ctx->disk_cache) ctx->cache_dir[0] = '\0';
    if (ctx->disk_cache) {
        /* Keyed by device and driver (not clgrad's version): tuned values outlive upgrades. */
        char hex[33], key[1200];
        snprintf(key, sizeof key, "%s", ctx->identity);
        clg_hash_hex128(key, strlen(key), hex);
        snprintf(ctx->store.path, sizeof ctx->store.path, "%s/store/%s.txt", ctx->cache_dir, hex);
    }

    if (clg_fault_parse(getenv("CLGRAD_FAULT"), &ctx->fault) != CLG_OK) {
        clg_context_free(ctx);
        return NULL;
    }
    clg_fault *f = &ctx->fault;
    if (f->armed && f->target_platform >= 0 &&
        (f->target_platform != ctx->info.platform_index || f->target_device != ctx->info.device_index))
        f->armed = 0; /* another device's fault */
    if (CLG_FAULT(ctx, CLG_FAULT_OPEN) != CL_SUCCESS) {
        char what[256];
        snprintf(what, sizeof what, "creating an OpenCL context on %s", ctx->label);
        clg_fault_report(ctx, clg_cl_check(f->code, "clCreateContext", what, __FILE__, __LINE__));
        clg_context_free(ctx);
        return NULL;
    }
    if (open_device(ctx) != CLG_OK) {
        clg_context_free(ctx);
        return NULL;
    }
    read_tuned_local(ctx);
    /* PoCL cannot vectorise the fused multi-parameter update (src/nn/optim.c) */
    ctx->optim_group = ctx->info.type == CLG_DEVICE_TYPE_CPU ? 1 : 8;
    if (ctx->profile.report_at_exit && clg_profile_start(ctx) != CLG_OK) {
        clg_context_free(ctx);
        return NULL;
    }
    return ctx;
}

static void report_device(const clg_context_options *o, const clg_context *ctx, const char *role) {
    char mem[32];
    fprintf(o->report_stream ? o->report_stream : stderr,
            "clgrad %s: %s device %d:%d %s (%s, %s, %u compute units, %s)%s\n", CLGRAD_VERSION_STRING, role,
            ctx->info.platform_index, ctx->info.device_index, ctx->info.name, clg_device_type_name(ctx->info.type),
            ctx->info.platform_name, ctx->info.compute_units,
            clg_format_bytes(ctx->info.global_mem_bytes, mem, sizeof mem),
            ctx->limits.constrained ? " [constrained]" : "");
}

/* The devices `selection` names, each opened; those that fail are left out
 * with a warning. The first that opens owns the others. */
static clg_context *group_open(const clg_context_options *o, const clg_device_info *list, size_t count,
                               const char *selection, const char *source) {
    size_t *chosen = malloc((count ? count : 1) * sizeof *chosen), n = 0;
    if (!chosen) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "allocating a device list");
        return NULL;
    }
    if (clg_device_select_many(list, count, selection, chosen, &n) != CLG_OK) {
        clg_fail_wrap(CLG_STATUS_NO_DEVICE, "%s", source);
        free(chosen);
        return NULL;
    }
    clg_context *first = NULL;
    clg_status st = CLG_OK;
    char reasons[2048] = "";
    /* Profiling queues: the balancer of data-parallel steps times each device
     * on its own clock (src/nn/parallel.c). */
    clg_context_options po = *o;
    if (n > 1 && po.profiling < 0 && !env_flag("CLGRAD_PROFILE", 0)) po.profiling = 1;
    for (size_t k = 0; st == CLG_OK && k < n; k++) {
        clg_context *c = context_open(&po, &list[chosen[k]]);
        if (!c) {
            size_t used = strlen(reasons);
            snprintf(reasons + used, sizeof reasons - used, "%s%d:%d: %s", used ? "; " : "",
                     list[chosen[k]].platform_index, list[chosen[k]].device_index, clg_last_error());
            fprintf(o->report_stream ? o->report_stream : stderr,
                    "clgrad: warning: device %d:%d %s left out (%s): %s\n", list[chosen[k]].platform_index,
                    list[chosen[k]].device_index, list[chosen[k]].name, source, clg_last_error());
            continue;
        }
        if (!first) {
            first = c;
            continue;
        }
        clg_context **grown = realloc(first->peers, (size_t)(first->npeers + 1) * sizeof *grown);
        if (!grown) {
            clg_context_free(c);
            st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "allocating a device list");
            break;
        }
        first->peers = grown;
        first->peers[first->npeers++] = c;
    }
    free(chosen);
    if (st != CLG_OK) {
        clg_context_free(first);
        return NULL;
    }
    if (!first) clg_fail(CLG_STATUS_NO_DEVICE, "%s='%s': no device could be opened: %s", source, selection, reasons);
    return first;
}

clg_context *clg_context_new(const clg_context_options *options) {
    clg_dist_prepare_env(); /* before PoCL reads its thread count */
    clg_context_options o = options ? *options : clg_context_options_default();
    clg_device_info *list = NULL;
    size_t count = 0;
    if (clg_devices_query(&list, &count) != CLG_OK) return NULL;

    const char *group = o.devices, *gsource = "options.devices";
    if (!group) group = getenv("CLGRAD_DEVICES"), gsource = "CLGRAD_DEVICES";
    clg_context *ctx = NULL;
    if (group && *group) {
        ctx = group_open(&o, list, count, group, gsource);
    } else {
        const char *selection = o.device;
        const char *source = "options.device";
        if (!selection || !*selection) {
            selection = getenv("CLGRAD_DEVICE");
            source = "CLGRAD_DEVICE";
        }
        size_t chosen = 0;
        if (clg_device_select(list, count, selection, &chosen) != CLG_OK) {
            if (selection && *selection) clg_fail_wrap(CLG_STATUS_NO_DEVICE, "%s", source);
        } else {
            ctx = context_open(&o, &list[chosen]);
        }
    }
    clg_devices_free(list);
    if (ctx && o.report_device && !env_flag("CLGRAD_QUIET", 0)) {
        report_device(&o, ctx, "using");
        for (int i = 0; i < ctx->npeers; i++) report_device(&o, ctx->peers[i], "and");
    }
    return ctx;
}

/* CLGRAD_PROFILE: the whole life of the context, printed when it ends. */
static void report_profile(clg_context *ctx) {
    clg_profile_entry *rows = NULL;
    size_t n = 0;
    if (clg_profile_stop(ctx, &rows, &n) != CLG_OK) {
        fprintf(stderr, "clgrad: CLGRAD_PROFILE: %s\n", clg_last_error());
        return;
    }
    fprintf(stderr, "clgrad: CLGRAD_PROFILE: device time per kernel on %s\n", ctx->label);
    clg_profile_print(stderr, rows, n, 1);
    free(rows);
}

void clg_context_free(clg_context *ctx) {
    if (!ctx) return;
    for (int i = 0; i < ctx->npeers; i++) clg_context_free(ctx->peers[i]);
    free(ctx->peers);
    if (ctx->queue && ctx->profile.active && ctx->profile.report_at_exit) report_profile(ctx);
    clg_profile_state_free(ctx);
    if (ctx->queue) clFinish(ctx->queue);
    if (ctx->fft_state_free) ctx->fft_state_free(ctx);
    for (size_t i = 0; i < ctx->kernel_count; i++) {
        clReleaseKernel(ctx->kernels[i].kernel);
        free(ctx->kernels[i].name);
    }
    free(ctx->kernels);
    for (size_t i = 0; i < ctx->program_count; i++) {
        clReleaseProgram(ctx->programs[i].program);
        free(ctx->programs[i].name);
        free(ctx->programs[i].options);
    }
    free(ctx->programs);
    if (ctx->queue) clg_context_release_cached_memory(ctx);
    free(ctx->pool.free_list);
    clg_store_clear(&ctx->store);
    if (ctx->xfer) clFinish(ctx->xfer), clReleaseCommandQueue(ctx->xfer);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->cl) clReleaseContext(ctx->cl);
    free(ctx);
}

const clg_device_info *clg_context_device(const clg_context *ctx) { return ctx ? &ctx->info : NULL; }

int clg_context_device_count(const clg_context *ctx) { return ctx ? 1 + ctx->npeers : 0; }

const clg_device_info *clg_context_device_at(const clg_context *ctx, int i) {
    if (!ctx || i < 0 || i > ctx->npeers) return NULL;
    return i == 0 ? &ctx->info : &ctx->peers[i - 1]->info;
}

clg_context *clg_context_peer(clg_context *ctx, int i) {
    if (!ctx || i < 0 || i > ctx->npeers) return NULL;
    return i == 0 ? ctx : ctx->peers[i - 1];
}

clg_status clg_context_finish(clg_context *ctx) {
    if (!ctx) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_context_finish: NULL context");
    return CLG_CL(clFinish(ctx->queue), ctx->label);
}

clg_context_limits clg_context_get_limits(const clg_context *ctx) {
    clg_context_limits none = {0};
    return ctx ? ctx->limits : none;
}

clg_context_stats clg_context_get_stats(const clg_context *ctx) {
    clg_context_stats none = {0};
    return ctx ? ctx->stats : none;
}

void clg_context_reset_peak_memory(clg_context *ctx) {
    if (ctx) ctx->stats.peak_bytes_in_use = ctx->stats.bytes_in_use;
}

const char *clg_context_cache_dir(const clg_context *ctx) { return ctx ? ctx->cache_dir : ""; }
