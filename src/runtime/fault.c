/* Fault injection: the hook that makes the Nth buffer allocation, program build,
 * enqueue or read of a context fail with a chosen OpenCL code, so that tests
 * (and users chasing an error path) can see every failure reach the caller
 * cleanly. Off, it costs each choke point one test of ctx->fault.armed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "runtime/runtime_impl.h"

static const char *const kind_names[CLG_FAULT_KINDS] = {"alloc", "build", "enqueue", "read", "open"};

/* What a fault of each kind fails with when no code is given. */
static const cl_int kind_defaults[CLG_FAULT_KINDS] = {
    CL_MEM_OBJECT_ALLOCATION_FAILURE, CL_BUILD_PROGRAM_FAILURE, CL_OUT_OF_RESOURCES, CL_OUT_OF_RESOURCES,
    CL_DEVICE_NOT_AVAILABLE};

const char *clg_fault_kind_name(clg_fault_kind kind) {
    return kind >= 0 && kind < CLG_FAULT_KINDS ? kind_names[kind] : "?";
}

clg_status clg_fault_set(clg_context *ctx, clg_fault_kind kind, uint64_t nth, cl_int code) {
    if (!ctx || kind < 0 || kind >= CLG_FAULT_KINDS || nth == 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_fault_set: needs a context, a kind and nth >= 1");
    clg_fault f = {0};
    f.kind = kind;
    f.nth = nth;
    f.code = code != CL_SUCCESS ? code : kind_defaults[kind];
    f.armed = 1;
    f.target_platform = f.target_device = -1;
    ctx->fault = f;
    return CLG_OK;
}

void clg_fault_clear(clg_context *ctx) {
    if (ctx) memset(&ctx->fault, 0, sizeof ctx->fault);
}

int clg_fault_fired(const clg_context *ctx) { return ctx ? ctx->fault.fired : 0; }

uint64_t clg_fault_seen(const clg_context *ctx) { return ctx ? ctx->fault.seen : 0; }

cl_int clg_fault_take(clg_context *ctx, clg_fault_kind kind) {
    clg_fault *f = &ctx->fault;
    if (!f->armed || kind != f->kind || ++f->seen < f->nth) return CL_SUCCESS;
    f->armed = 0; /* one shot: what runs after the failure runs normally */
    f->fired = 1;
    return f->code;
}

clg_status clg_fault_report(const clg_context *ctx, clg_status st) {
    return clg_fail_wrap(st, "injected fault (%s #%llu)", clg_fault_kind_name(ctx->fault.kind),
                         (unsigned long long)ctx->fault.nth);
}

clg_status clg_fault_parse(const char *spec, clg_fault *out) {
    const char *env = "CLGRAD_FAULT";
    memset(out, 0, sizeof *out);
    out->target_platform = out->target_device = -1;
    if (!spec || !*spec) return CLG_OK;
    char buf[256];
    const char *at = strchr(spec, '@');
    if (at) { /* "@P:D": the fault belongs to that device's context only */
        char *e1 = NULL, *e2 = NULL;
        long tp = strtol(at + 1, &e1, 10), td = e1 && *e1 == ':' ? strtol(e1 + 1, &e2, 10) : -1;
        if (e1 == at + 1 || !e2 || e2 == e1 + 1 || *e2 || tp < 0 || td < 0 || tp > 65535 || td > 65535 ||
            (size_t)(at - spec) >= sizeof buf)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s='%s': the suffix after '@' must be a device P:D", env,
                            spec);
        snprintf(buf, sizeof buf, "%.*s", (int)(at - spec), spec);
        out->target_platform = (int)tp, out->target_device = (int)td;
        spec = buf;
    }
    size_t klen = strcspn(spec, ":");
    int kind = -1;
    for (int k = 0; k < CLG_FAULT_KINDS; k++)
        if (strlen(kind_names[k]) == klen && strncmp(spec, kind_names[k], klen) == 0) kind = k;
    const char *p = spec + klen;
    char *end = NULL;
    unsigned long long nth = 0;
    if (kind >= 0 && *p == ':' && p[1] >= '0' && p[1] <= '9') {
        errno = 0;
        nth = strtoull(p + 1, &end, 10);
        if (errno) nth = 0;
    }
    if (kind < 0 || nth == 0 || (*end && *end != ':'))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s='%s': expected KIND:N[:CODE][@P:D] with KIND alloc, build, enqueue, read or open, "
                        "N >= 1, CODE an OpenCL error name or number and P:D the device whose context it "
                        "fails (e.g. alloc:3:CL_MEM_OBJECT_ALLOCATION_FAILURE, enqueue:40@0:1)",
                        env, spec);
    cl_int code = CL_SUCCESS;
    if (*end == ':') {
        const char *c = end + 1;
        long v = strtol(c, &end, 10);
        if (end != c && !*end && v < 0 && v >= -10000) code = (cl_int)v;
        else if (!clg_cl_error_code(c, &code) || code == CL_SUCCESS)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s='%s': '%s' is not an OpenCL error (a CL_... name or a negative number)", env,
                            spec, c);
    }
    out->kind = (clg_fault_kind)kind;
    out->nth = (uint64_t)nth;
    out->code = code != CL_SUCCESS ? code : kind_defaults[kind];
    out->armed = 1;
    return CLG_OK;
}
