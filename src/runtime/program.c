/* Runtime-compiled programs: in-memory cache per context, disk cache of
 * binaries shared between processes, and the kernels taken from them.
 *
 * Disk cache file (<cache>/programs/<128-bit hash of the key>.bin):
 *   8 bytes  magic "CLGPRG01"
 *   u64      key length K      (little or native endian: the key check catches
 *   u64      binary length B    a file from another machine)
 *   u32      CRC-32 of key and binary
 *   u32      zero
 *   K bytes  key: clgrad version, platform, device, driver, options, source
 *   B bytes  program binary
 * A file whose size, CRC or key does not match exactly is ignored (counted in
 * disk_cache_rejected) and replaced after a fresh build. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clgrad/version.h"
#include "common/array.h"
#include "common/error.h"
#include "common/file.h"
#include "common/hash.h"
#include "runtime/runtime_impl.h"

typedef struct clg_embedded_file {
    const char *name;
    const unsigned char *data; /* NUL-terminated */
    size_t len;
} clg_embedded_file;

extern const clg_embedded_file clg_embedded_files[];
extern const size_t clg_embedded_file_count;

const char *clg_embedded_source(const char *name) {
    for (size_t i = 0; i < clg_embedded_file_count; i++)
        if (strcmp(clg_embedded_files[i].name, name) == 0)
            return (const char *)clg_embedded_files[i].data;
    return NULL;
}

size_t clg_embedded_count(void) { return clg_embedded_file_count; }

const char *clg_embedded_name(size_t i) {
    return i < clg_embedded_file_count ? clg_embedded_files[i].name : NULL;
}

static const char cache_magic[8] = {'C', 'L', 'G', 'P', 'R', 'G', '0', '1'};
enum { CACHE_HEADER = 8 + 8 + 8 + 4 + 4 };
#define CACHE_MAX_FILE ((size_t)256 << 20)

static char *dup_str(const char *s) {
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s ? s : "", n);
    return d;
}

static char *build_key(const clg_context *ctx, const char *name, const char *options,
                       const char *source, size_t *key_len) {
    const char *fmt = "clgrad-program-cache 1\nclgrad %s\n%s\noptions: %s %s\nname: %s\n--\n";
    int head = snprintf(NULL, 0, fmt, CLGRAD_VERSION_STRING, ctx->identity, ctx->base_options,
                        options, name);
    size_t src_len = strlen(source);
    char *key = malloc((size_t)head + src_len + 1);
    if (!key) return NULL;
    snprintf(key, (size_t)head + 1, fmt, CLGRAD_VERSION_STRING, ctx->identity, ctx->base_options,
             options, name);
    memcpy(key + head, source, src_len + 1);
    *key_len = (size_t)head + src_len;
    return key;
}

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t crc_of(const void *a, size_t alen, const void *b, size_t blen) {
    uLong crc = crc32(0L, Z_NULL, 0);
    /* zlib takes uInt lengths; feed large inputs in pieces. */
    const unsigned char *parts[2] = {a, b};
    size_t lens[2] = {alen, blen};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < lens[i]) {
            size_t chunk = lens[i] - off > (1u << 30) ? (1u << 30) : lens[i] - off;
            crc = crc32(crc, parts[i] + off, (uInt)chunk);
            off += chunk;
        }
    }
    return (uint32_t)crc;
}

int clg_program_cache_check(const unsigned char *file, size_t len, const char *key, size_t key_len,
                            const unsigned char **bin, size_t *bin_len) {
    *bin = NULL;
    *bin_len = 0;
    int ok = file && len >= CACHE_HEADER && memcmp(file, cache_magic, 8) == 0;
    uint64_t klen = ok ? get_u64(file + 8) : 0, blen = ok ? get_u64(file + 16) : 0;
    /* each length against len first, so that their sum cannot wrap */
    ok = ok && klen == key_len && blen > 0 && blen <= len && klen <= len &&
         CACHE_HEADER + klen + blen == len;
    ok = ok && memcmp(file + CACHE_HEADER, key, key_len) == 0;
    ok = ok && get_u32(file + 24) == crc_of(file + CACHE_HEADER, klen, file + CACHE_HEADER + klen, blen);
    if (ok) {
        *bin = file + CACHE_HEADER + klen;
        *bin_len = (size_t)blen;
    }
    return ok;
}

/* Loads and builds a cached binary; returns NULL (counting a rejection where a
 * file existed but was unusable) if it cannot. */
static cl_program load_cached(clg_context *ctx, const char *path, const char *key, size_t key_len,
                              const char *options) {
    char *data;
    size_t len;
    clg_error_saved saved;
    clg_error_save(&saved);
    clg_status st = clg_read_file(path, CACHE_MAX_FILE, &data, &len);
    clg_error_restore(&saved); /* a missing file is an ordinary miss */
    if (st == CLG_STATUS_NOT_FOUND) return NULL;
    if (st != CLG_OK) {
        ctx->stats.disk_cache_rejected++;
        return NULL;
    }
    cl_program prog = NULL;
    const unsigned char *bin;
    size_t bin_len;
    if (clg_program_cache_check((const unsigned char *)data, len, key, key_len, &bin, &bin_len)) {
        cl_int err, bin_status = CL_SUCCESS;
        prog = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &bin_len, &bin, &bin_status,
                                         &err);
        if (err != CL_SUCCESS || bin_status != CL_SUCCESS) {
            if (prog) clReleaseProgram(prog);
            prog = NULL;
        } else if (clBuildProgram(prog, 1, &ctx->device, options, NULL, NULL) != CL_SUCCESS) {
            clReleaseProgram(prog);
            prog = NULL;
        }
    }
    free(data);
    if (!prog) ctx->stats.disk_cache_rejected++;
    return prog;
}

static void store_cached(clg_context *ctx, cl_program prog, const char *path, const char *key,
                         size_t key_len) {
    size_t bin_len = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof bin_len, &bin_len, NULL) !=
            CL_SUCCESS ||
        bin_len == 0 || bin_len > CACHE_MAX_FILE)
        return;
    size_t total = CACHE_HEADER + key_len + bin_len;
    unsigned char *file = malloc(total);
    if (!file) return;
    unsigned char *bin = file + CACHE_HEADER + key_len;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS) {
        uint64_t k = key_len, b = bin_len;
        uint32_t crc = crc_of(key, key_len, bin, bin_len), zero = 0;
        memcpy(file, cache_magic, 8);
        memcpy(file + 8, &k, 8);
        memcpy(file + 16, &b, 8);
        memcpy(file + 24, &crc, 4);
        memcpy(file + 28, &zero, 4);
        memcpy(file + CACHE_HEADER, key, key_len);
        /* A failed write only costs a rebuild next time; it is not an error. */
        clg_error_saved saved;
        clg_error_save(&saved);
        clg_write_file_atomic(path, file, total);
        clg_error_restore(&saved);
    }
    (void)ctx;
    free(file);
}

/* A failed build of program `name`: its options, the error and the build log. */
static clg_status build_failed(const clg_context *ctx, const char *name, const char *options, cl_int err,
                               const char *log) {
    return clg_fail(CLG_STATUS_BUILD_FAILED,
                    "building OpenCL program '%s' for %s failed (%s) with options '%s'; build log:\n%s", name,
                    ctx->label, clg_cl_error_name(err), options, log ? log : "(none)");
}

static clg_status build_from_source(clg_context *ctx, const char *name, const char *source,
                                    const char *options, cl_program *out) {
    cl_int err;
    char what[256];
    snprintf(what, sizeof what, "creating program '%s' on %s", name, ctx->label);
    cl_program prog = clCreateProgramWithSource(ctx->cl, 1, &source, NULL, &err);
    clg_status st = CLG_CL_ERR(err, "clCreateProgramWithSource", what);
    if (st != CLG_OK) return st;
    err = clBuildProgram(prog, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t log_len = 0;
        clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_len);
        char *log = malloc(log_len + 1);
        if (log) {
            log[0] = '\0';
            clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, log_len, log, NULL);
            log[log_len] = '\0';
        }
        clReleaseProgram(prog);
        st = build_failed(ctx, name, options, err, log);
        free(log);
        return st;
    }
    ctx->stats.programs_built++;
    *out = prog;
    return CLG_OK;
}

cl_program clg_program_find(clg_context *ctx, const char *name, const char *options) {
    if (!options) options = "";
    for (size_t i = 0; i < ctx->program_count; i++) {
        clg_program_entry *e = &ctx->programs[i];
        if (strcmp(e->name, name) == 0 && strcmp(e->options, options) == 0) {
            ctx->stats.programs_from_memory++;
            return e->program;
        }
    }
    return NULL;
}

clg_status clg_program_get(clg_context *ctx, const char *name, const char *source,
                           const char *options, cl_program *out) {
    if (!options) options = "";
    if ((*out = clg_program_find(ctx, name, options))) return CLG_OK;
    if (!CLG_RESERVE(ctx->programs, ctx->program_cap, ctx->program_count + 1, 16))
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "program cache");

    char full_options[1024];
    snprintf(full_options, sizeof full_options, "%s %s", ctx->base_options, options);
    cl_int injected = CLG_FAULT(ctx, CLG_FAULT_BUILD); /* before the disk cache, which may hold it */
    if (injected != CL_SUCCESS)
        return clg_fault_report(ctx, build_failed(ctx, name, full_options, injected, "(none: not built)"));
    cl_program prog = NULL;
    size_t key_len = 0;
    char *key = NULL;
    char path[4200] = "";
    if (ctx->disk_cache) {
        key = build_key(ctx, name, options, source, &key_len);
        if (!key) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "program cache key");
        char hex[33];
        clg_hash_hex128(key, key_len, hex);
        snprintf(path, sizeof path, "%s/programs/%s.bin", ctx->cache_dir, hex);
        prog = load_cached(ctx, path, key, key_len, full_options);
        if (prog) ctx->stats.programs_from_disk++;
    }
    if (!prog) {
        clg_status st = build_from_source(ctx, name, source, full_options, &prog);
        if (st != CLG_OK) {
            free(key);
            return st;
        }
        if (key) store_cached(ctx, prog, path, key, key_len);
    }
    free(key);

    clg_program_entry *e = &ctx->programs[ctx->program_count];
    e->name = dup_str(name);
    e->options = dup_str(options);
    if (!e->name || !e->options) {
        free(e->name);
        free(e->options);
        clReleaseProgram(prog);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "program cache");
    }
    e->program = prog;
    ctx->program_count++;
    *out = prog;
    return CLG_OK;
}

clg_status clg_kernel_get(clg_context *ctx, const char *program_name, const char *options,
                          const char *kernel, cl_kernel *out) {
    const char *body = clg_embedded_source(program_name);
    if (!body)
        return clg_fail(CLG_STATUS_NOT_FOUND, "no embedded OpenCL program '%s'", program_name);
    const char *prelude = clg_embedded_source("prelude");
    size_t np = prelude ? strlen(prelude) : 0, nb = strlen(body);
    char *source = malloc(np + nb + 2);
    if (!source) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "program '%s'", program_name);
    memcpy(source, prelude ? prelude : "", np);
    source[np] = '\n';
    memcpy(source + np + 1, body, nb + 1);
    cl_program prog;
    clg_status st = clg_program_get(ctx, program_name, source, options, &prog);
    free(source);
    if (st != CLG_OK) return st;
    return clg_program_kernel(ctx, prog, kernel, out);
}

clg_status clg_program_kernel(clg_context *ctx, cl_program prog, const char *kernel, cl_kernel *out) {
    for (size_t i = 0; i < ctx->kernel_count; i++) {
        if (ctx->kernels[i].program == prog && strcmp(ctx->kernels[i].name, kernel) == 0) {
            *out = ctx->kernels[i].kernel;
            return CLG_OK;
        }
    }
    if (!CLG_RESERVE(ctx->kernels, ctx->kernel_cap, ctx->kernel_count + 1, 32))
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "kernel cache");
    cl_int err;
    cl_kernel k = clCreateKernel(prog, kernel, &err);
    char what[256];
    snprintf(what, sizeof what, "kernel '%s' on %s", kernel, ctx->label);
    clg_status st = CLG_CL_ERR(err, "clCreateKernel", what);
    if (st != CLG_OK) return st;
    clg_kernel_entry *e = &ctx->kernels[ctx->kernel_count];
    e->name = dup_str(kernel);
    if (!e->name) {
        clReleaseKernel(k);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "kernel cache");
    }
    e->program = prog;
    e->kernel = k;
    ctx->kernel_count++;
    *out = k;
    return CLG_OK;
}

cl_uint2 clg_div_magic(uint32_t d) {
    cl_uint2 r;
    if (d == 0) d = 1; /* callers never divide by 0; keep the result defined */
    int l = 0;
    while (l < 32 && ((uint64_t)1 << l) < d) l++; /* l = ceil(log2 d) */
    uint64_t m = (((uint64_t)1 << 32) * (((uint64_t)1 << l) - d)) / d + 1;
    r.s[0] = (cl_uint)m;
    r.s[1] = (cl_uint)((l < 1 ? l : 1) | (l > 1 ? l - 1 : 0) << 8);
    return r;
}

/* The one clEnqueueNDRangeKernel of direct launches (replays have their own). */
static clg_status enqueue(clg_context *ctx, cl_kernel kernel, size_t global, size_t local, const char *what) {
    cl_event ev = NULL;
    clg_status st = CLG_CL_FAULT(ctx, CLG_FAULT_ENQUEUE,
                                 clEnqueueNDRangeKernel(ctx->queue, kernel, 1, NULL, &global, &local, 0, NULL,
                                                        CLG_PROFILE_EVENT(ctx, ev)),
                                 what);
    clg_profile_record(ctx, kernel, NULL, ev);
    return st;
}

/* The work-group size of 1-D launches: 64 (two wavefronts, two warps), or
 * what `clgrad tune` measured best for the device (CLG_STORE_LOCAL_1D, read when
 * the context is made). */
size_t clg_local_1d(const clg_context *ctx) {
    size_t local = ctx->local_1d ? ctx->local_1d : 64;
    if (local > ctx->limits.max_work_group_size) local = (size_t)ctx->limits.max_work_group_size;
    return local ? local : 1;
}

clg_status clg_enqueue_1d(clg_context *ctx, cl_kernel kernel, size_t n, const char *what) {
    if (n == 0) return CLG_OK;
    size_t local = clg_local_1d(ctx);
    return enqueue(ctx, kernel, (n + local - 1) / local * local, local, what);
}

static clg_status set_args(cl_kernel kernel, int nargs, const clg_arg *args, const char *what) {
    for (int i = 0; i < nargs; i++) {
        clg_status st = CLG_CL(clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value), what);
        if (st != CLG_OK) return st;
    }
    return CLG_OK;
}

clg_status clg_launch(clg_context *ctx, cl_kernel kernel, size_t n, int nargs, const clg_arg *args,
                      const char *what) {
    clg_status st = set_args(kernel, nargs, args, what);
    if (st != CLG_OK || n == 0) return st;
    size_t local = clg_local_1d(ctx), global = (n + local - 1) / local * local;
    st = enqueue(ctx, kernel, global, local, what);
    if (st == CLG_OK && ctx->capture) st = clg_capture_kernel(ctx, kernel, global, local, nargs, args);
    return st;
}

clg_status clg_launch_wg(clg_context *ctx, cl_kernel kernel, size_t groups, size_t local, int nargs,
                         const clg_arg *args, const char *what) {
    clg_status st = set_args(kernel, nargs, args, what);
    if (st != CLG_OK || groups == 0) return st;
    st = enqueue(ctx, kernel, groups * local, local, what);
    if (st == CLG_OK && ctx->capture) st = clg_capture_kernel(ctx, kernel, groups * local, local, nargs, args);
    return st;
}
