/* Kernel profiling: device time per kernel from OpenCL profiling events.
 *
 * Every enqueue site passes CLG_PROFILE_EVENT(ctx, ev) as the event argument
 * and hands the event to clg_profile_record, which resolves a label at once
 * (the kernel's function name; for generated elementwise kernels, whose
 * function is always "ew", the program name that spells their structure) and
 * keeps the event pending. Pending events are folded into per-label rows in
 * batches, so a long profiled run holds a bounded number of events. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "runtime/runtime_impl.h"

enum { PROFILE_FOLD_AT = 2048 };

static const char *kernel_label(const clg_context *ctx, cl_kernel kernel) {
    for (size_t i = 0; i < ctx->kernel_count; i++) {
        const clg_kernel_entry *k = &ctx->kernels[i];
        if (k->kernel != kernel) continue;
        if (strcmp(k->name, "ew") != 0) return k->name;
        for (size_t p = 0; p < ctx->program_count; p++)
            if (ctx->programs[p].program == k->program) return ctx->programs[p].name;
        return k->name;
    }
    return "kernel";
}

void clg_profile_record(clg_context *ctx, cl_kernel kernel, const char *label, cl_event ev) {
    clg_profile_state *p = &ctx->profile;
    if (!ev) return;
    if (!p->active || (p->pending_count >= PROFILE_FOLD_AT && clg_profile_fold(ctx) != CLG_OK) ||
        !CLG_RESERVE(p->pending, p->pending_cap, p->pending_count + 1, 256)) {
        clReleaseEvent(ev);
        p->dropped++;
        return;
    }
    clg_profile_pending *e = &p->pending[p->pending_count++];
    e->event = ev;
    e->label = label ? label : kernel_label(ctx, kernel);
}

static clg_profile_entry *row_for(clg_profile_state *p, const char *label) {
    for (size_t i = 0; i < p->row_count; i++)
        if (strncmp(p->rows[i].name, label, sizeof p->rows[i].name - 1) == 0) return &p->rows[i];
    if (!CLG_RESERVE(p->rows, p->row_cap, p->row_count + 1, 64)) return NULL;
    clg_profile_entry *r = &p->rows[p->row_count++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", label);
    return r;
}

clg_status clg_profile_fold(clg_context *ctx) {
    clg_profile_state *p = &ctx->profile;
    clg_status st = CLG_OK;
    for (size_t i = 0; i < p->pending_count; i++) {
        clg_profile_pending *e = &p->pending[i];
        cl_ulong t0 = 0, t1 = 0;
        if (st == CLG_OK) st = CLG_CL(clWaitForEvents(1, &e->event), "profiling: waiting for a command");
        if (st == CLG_OK)
            st = CLG_CL(clGetEventProfilingInfo(e->event, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL),
                        "profiling: reading a command's start time");
        if (st == CLG_OK)
            st = CLG_CL(clGetEventProfilingInfo(e->event, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL),
                        "profiling: reading a command's end time");
        clReleaseEvent(e->event);
        if (st != CLG_OK) continue;
        clg_profile_entry *r = row_for(p, e->label);
        if (!r) {
            st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "profiling: out of host memory");
            continue;
        }
        double ms = t1 > t0 ? (double)(t1 - t0) * 1e-6 : 0.0;
        if (r->count == 0 || ms < r->min_ms) r->min_ms = ms;
        if (ms > r->max_ms) r->max_ms = ms;
        r->total_ms += ms;
        r->count++;
    }
    p->pending_count = 0;
    return st;
}

clg_status clg_profile_start(clg_context *ctx) {
    if (!ctx) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_profile_start: NULL context");
    if (!ctx->profile.enabled)
        return clg_fail(CLG_STATUS_UNSUPPORTED,
                        "clg_profile_start: the queue of %s was made without profiling; make the context "
                        "with options.profiling = 1 (or CLGRAD_PROFILE=1)",
                        ctx->label);
    clg_profile_state *p = &ctx->profile;
    clg_status st = clg_profile_fold(ctx);
    p->row_count = 0;
    p->dropped = 0;
    p->active = 1;
    return st;
}

static int by_total_desc(const void *a, const void *b) {
    const clg_profile_entry *x = a, *y = b;
    if (x->total_ms != y->total_ms) return x->total_ms < y->total_ms ? 1 : -1;
    return strcmp(x->name, y->name);
}

clg_status clg_profile_stop(clg_context *ctx, clg_profile_entry **entries, size_t *count) {
    if (entries) *entries = NULL;
    if (count) *count = 0;
    if (!ctx || !entries || !count)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_profile_stop: NULL %s",
                        !ctx ? "context" : !entries ? "entries" : "count");
    clg_profile_state *p = &ctx->profile;
    if (!p->active)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_profile_stop: no profile was started on %s",
                        ctx->label);
    clg_status st = CLG_CL(clFinish(ctx->queue), ctx->label);
    clg_status s2 = clg_profile_fold(ctx);
    if (st == CLG_OK) st = s2;
    p->active = 0;
    if (st != CLG_OK) return st;
    if (p->dropped)
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_profile_stop: %llu commands on %s were not recorded",
                        (unsigned long long)p->dropped, ctx->label);
    if (p->row_count == 0) return CLG_OK;
    clg_profile_entry *out = malloc(p->row_count * sizeof *out);
    if (!out) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_profile_stop: out of host memory");
    memcpy(out, p->rows, p->row_count * sizeof *out);
    qsort(out, p->row_count, sizeof *out, by_total_desc);
    *entries = out;
    *count = p->row_count;
    return CLG_OK;
}

void clg_profile_print(FILE *f, const clg_profile_entry *entries, size_t count, double steps) {
    if (!f) return;
    if (!entries) count = 0; /* no rows: just the header and a zero sum */
    double total = 0;
    uint64_t launches = 0;
    for (size_t i = 0; i < count; i++) total += entries[i].total_ms, launches += entries[i].count;
    if (steps <= 0) steps = 1;
    fprintf(f, "%8s %7s %10s %9s %9s %9s  %s\n", "share", "calls", "ms/step", "mean ms", "min ms", "max ms",
            "kernel");
    for (size_t i = 0; i < count; i++) {
        const clg_profile_entry *e = &entries[i];
        fprintf(f, "%7.1f%% %7.4g %10.3f %9.4f %9.4f %9.4f  %s\n", total > 0 ? 100.0 * e->total_ms / total : 0.0,
                (double)e->count / steps, e->total_ms / steps, e->count ? e->total_ms / (double)e->count : 0.0,
                e->min_ms, e->max_ms, e->name);
    }
    fprintf(f, "%7.1f%% %7.4g %10.3f  device time in %zu kernels\n", 100.0, (double)launches / steps,
            total / steps, count);
}

void clg_profile_state_free(clg_context *ctx) {
    clg_profile_state *p = &ctx->profile;
    for (size_t i = 0; i < p->pending_count; i++) clReleaseEvent(p->pending[i].event);
    free(p->pending);
    free(p->rows);
    memset(p, 0, sizeof *p);
}
