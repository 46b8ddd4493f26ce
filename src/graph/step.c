/* Captured steps: record every launch of one eager run, replay them later.
 *
 * Memory plan: while capturing, a buffer whose last tensor dies goes to the
 * step's dead list instead of the pool, and later allocations of the capture
 * take a dead buffer of the same size class first. Commands run in the order
 * they were recorded on one in-order queue, so a dead buffer is only rewritten
 * after every command that read it: the same liveness argument as the eager run.
 * Every buffer a command touches is held by the step (step_holds) and outlives
 * its tensors until the step is freed. */
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "graph/graph.h"

typedef struct step_command {
    cl_kernel kernel;          /* NULL for a host call */
    size_t global, local;
    int nargs;
    size_t *sizes;
    unsigned char *values;     /* argument bytes, concatenated */
    clg_replay_fn call;
    void *payload;
    clg_buffer **bufs;         /* the buffers it touches (for clg_step_add_read) */
    int nbufs;
} step_command;

struct clg_step {
    clg_context *ctx;
    step_command *cmds;
    size_t ncmds, cmd_cap;
    clg_buffer **held;         /* buffers used by commands (one hold each) */
    size_t nheld, held_cap;
    clg_buffer **dead;         /* held buffers without tensors: reusable while capturing */
    size_t ndead, dead_cap;
    int capturing;
    int failed;
    uint64_t peak_bytes, reused;
};

int clg_capturing(const clg_context *ctx) { return ctx && ctx->capture != NULL; }

/* A step takes one hold per buffer; a buffer can be held by several steps. */
static int hold(clg_step *s, clg_buffer *b) {
    if (!b || b->last_holder == s) return 1;
    for (size_t i = 0; b->step_holds > 0 && i < s->nheld; i++)
        if (s->held[i] == b) return 1; /* held by us, then by another step since */
    if (!CLG_RESERVE(s->held, s->held_cap, s->nheld + 1, 64)) return 0;
    s->held[s->nheld++] = b;
    b->step_holds++;
    b->last_holder = s;
    return 1;
}

clg_status clg_capture_kernel(clg_context *ctx, cl_kernel kernel, size_t global, size_t local,
                              int nargs, const clg_arg *args) {
    clg_step *s = ctx->capture;
    if (!s) return CLG_OK;
    size_t total = 0;
    for (int i = 0; i < nargs; i++) total += args[i].size;
    step_command c = {kernel, global, local, nargs, NULL, NULL, NULL, NULL, NULL, 0};
    c.sizes = malloc((size_t)(nargs ? nargs : 1) * sizeof *c.sizes);
    c.values = malloc(total ? total : 1);
    c.bufs = malloc((size_t)(nargs ? nargs : 1) * sizeof *c.bufs);
    int ok = c.sizes && c.values && c.bufs && CLG_RESERVE(s->cmds, s->cmd_cap, s->ncmds + 1, 256);
    size_t off = 0;
    for (int i = 0; ok && i < nargs; i++) {
        c.sizes[i] = args[i].size;
        memcpy(c.values + off, args[i].value, args[i].size);
        off += args[i].size;
        ok = hold(s, args[i].buf);
        if (args[i].buf) c.bufs[c.nbufs++] = args[i].buf;
    }
    if (!ok) {
        free(c.sizes);
        free(c.bufs);
        free(c.values);
        s->failed = 1;
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "recording a kernel launch in a step capture");
    }
    s->cmds[s->ncmds++] = c;
    return CLG_OK;
}

clg_status clg_capture_call(clg_context *ctx, clg_replay_fn fn, const void *payload,
                            size_t payload_size, clg_buffer *const *bufs, int nbufs) {
    clg_step *s = ctx->capture;
    if (!s) return CLG_OK;
    step_command c = {NULL, 0, 0, 0, NULL, NULL, fn, NULL, NULL, 0};
    c.payload = malloc(payload_size ? payload_size : 1);
    c.bufs = malloc((size_t)(nbufs > 0 ? nbufs : 1) * sizeof *c.bufs);
    int ok = c.payload && c.bufs && CLG_RESERVE(s->cmds, s->cmd_cap, s->ncmds + 1, 256);
    if (ok && payload_size) memcpy(c.payload, payload, payload_size);
    for (int i = 0; ok && i < nbufs; i++) {
        ok = hold(s, bufs[i]);
        if (bufs[i]) c.bufs[c.nbufs++] = bufs[i];
    }
    if (!ok) {
        free(c.payload);
        free(c.bufs);
        s->failed = 1;
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "recording a call in a step capture");
    }
    s->cmds[s->ncmds++] = c;
    return CLG_OK;
}

clg_buffer *clg_capture_reuse(clg_context *ctx, size_t capacity) {
    clg_step *s = ctx->capture;
    if (!s) return NULL;
    for (size_t i = 0; i < s->ndead; i++) {
        if (s->dead[i]->capacity == capacity) {
            clg_buffer *b = s->dead[i];
            s->dead[i] = s->dead[--s->ndead];
            s->reused++;
            return b;
        }
    }
    return NULL;
}

void clg_capture_buffer_dead(clg_context *ctx, clg_buffer *buf) {
    clg_step *s = ctx->capture;
    /* Only a buffer held by the capturing step alone may be rewritten by it. */
    if (s && s->capturing && buf->step_holds == 1 && buf->last_holder == s &&
        CLG_RESERVE(s->dead, s->dead_cap, s->ndead + 1, 64)) {
        s->dead[s->ndead++] = buf;
    }
    /* Otherwise the step that holds it keeps it (refs 0) until the step is freed. */
}

void clg_capture_note_usage(clg_context *ctx) {
    clg_step *s = ctx->capture;
    if (s && ctx->stats.bytes_in_use > s->peak_bytes) s->peak_bytes = ctx->stats.bytes_in_use;
}

clg_status clg_step_capture_begin(clg_context *ctx) {
    if (!ctx) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_step_capture_begin: context is NULL");
    if (ctx->capture)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_step_capture_begin: a capture is already running on %s", ctx->label);
    /* Work queued before the capture is not part of the step. */
    clg_status st = clg_flush(ctx);
    if (st != CLG_OK) return st;
    clg_step *s = calloc(1, sizeof *s);
    if (!s) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_step_capture_begin");
    s->ctx = ctx;
    s->capturing = 1;
    s->peak_bytes = ctx->stats.bytes_in_use;
    ctx->capture = s;
    return CLG_OK;
}

clg_step *clg_step_capture_end(clg_context *ctx) {
    if (!ctx || !ctx->capture) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_step_capture_end: no capture is running");
        return NULL;
    }
    clg_step *s = ctx->capture;
    /* Lazy results computed later would be missing from the replay. */
    clg_status st = clg_flush(ctx);
    s->capturing = 0;
    ctx->capture = NULL;
    if (st != CLG_OK || s->failed) {
        if (st == CLG_OK) clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_step_capture_end: recording failed");
        clg_step_free(s);
        return NULL;
    }
    /* Dead buffers stay with the step; they are no longer offered for reuse. */
    s->ndead = 0;
    return s;
}

clg_status clg_step_replay(clg_step *s) {
    if (!s) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_step_replay: step is NULL");
    clg_context *ctx = s->ctx;
    if (ctx->capture)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_step_replay: a capture is running on %s",
                        ctx->label);
    clg_status st = clg_flush(ctx); /* lazy results may read what the step rewrites */
    for (size_t i = 0; st == CLG_OK && i < s->ncmds; i++) {
        step_command *c = &s->cmds[i];
        if (!c->kernel) {
            st = c->call(ctx, c->payload);
            continue;
        }
        size_t off = 0;
        for (int a = 0; st == CLG_OK && a < c->nargs; a++) {
            st = CLG_CL(clSetKernelArg(c->kernel, (cl_uint)a, c->sizes[a], c->values + off),
                        "clg_step_replay");
            off += c->sizes[a];
        }
        if (st != CLG_OK) break;
        cl_event ev = NULL;
        st = CLG_CL_FAULT(ctx, CLG_FAULT_ENQUEUE,
                          clEnqueueNDRangeKernel(ctx->queue, c->kernel, 1, NULL, &c->global, &c->local, 0, NULL,
                                                 CLG_PROFILE_EVENT(ctx, ev)),
                          "clg_step_replay");
        clg_profile_record(ctx, c->kernel, NULL, ev);
        if (st != CLG_OK) {
            char name[128] = "?";
            clGetKernelInfo(c->kernel, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
            clg_fail_wrap(st, "kernel '%s' (command %zu of %zu)", name, i + 1, s->ncmds);
        }
    }
    return st;
}

typedef struct read_payload {
    cl_mem mem;
    size_t offset, bytes;
    void *host;
    cl_event *done;
} read_payload;

static clg_status read_replay(clg_context *ctx, const void *payload) {
    const read_payload *r = payload;
    cl_event mark = NULL;
    *r->done = NULL;
    clg_status st = CLG_CL_FAULT(ctx, CLG_FAULT_ENQUEUE, clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &mark),
                                 "marking where a step's result is final");
    if (st == CLG_OK)
        st = CLG_CL_FAULT(ctx, CLG_FAULT_READ,
                          clEnqueueReadBuffer(ctx->xfer, r->mem, CL_FALSE, r->offset, r->bytes, r->host, 1, &mark,
                                              r->done),
                          "reading a step's result beside its computation");
    if (mark) clReleaseEvent(mark);
    return st;
}

clg_status clg_step_add_read(clg_step *s, clg_buffer *buf, size_t offset, size_t bytes, void *host,
                             cl_event *done) {
    const char *what = "clg_step_add_read";
    if (!s || !buf || !buf->mem || !host || !done || s->capturing || offset + bytes > buf->bytes)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: needs a finished step, a buffer, a range in it and host "
                        "memory", what);
    clg_context *ctx = s->ctx;
    if (!ctx->xfer) {
        cl_int err;
        cl_command_queue_properties qp = ctx->profile.enabled ? CL_QUEUE_PROFILING_ENABLE : 0;
        ctx->xfer = clCreateCommandQueue(ctx->cl, ctx->device, qp, &err);
        clg_status st = CLG_CL_ERR(err, "clCreateCommandQueue", "a transfer queue");
        if (st != CLG_OK) return st;
    }
    size_t at = 0; /* after the last command that touches buf */
    for (size_t i = 0; i < s->ncmds; i++)
        for (int k = 0; k < s->cmds[i].nbufs; k++)
            if (s->cmds[i].bufs[k] == buf) at = i + 1;
    read_payload r = {buf->mem, offset, bytes, host, done};
    step_command c = {NULL, 0, 0, 0, NULL, NULL, read_replay, NULL, NULL, 0};
    c.payload = malloc(sizeof r);
    c.bufs = malloc(sizeof *c.bufs);
    if (!c.payload || !c.bufs || !CLG_RESERVE(s->cmds, s->cmd_cap, s->ncmds + 1, 256) || !hold(s, buf)) {
        free(c.payload), free(c.bufs);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s", what);
    }
    memcpy(c.payload, &r, sizeof r);
    c.bufs[c.nbufs++] = buf;
    memmove(s->cmds + at + 1, s->cmds + at, (s->ncmds - at) * sizeof *s->cmds);
    s->cmds[at] = c;
    s->ncmds++;
    return CLG_OK;
}

clg_step_info clg_step_get_info(const clg_step *s) {
    clg_step_info info = {0};
    if (!s) return info;
    info.commands = s->ncmds;
    info.buffers = s->nheld;
    for (size_t i = 0; i < s->nheld; i++) info.owned_bytes += s->held[i]->capacity;
    info.peak_bytes = s->peak_bytes;
    info.allocations_saved = s->reused;
    return info;
}

void clg_step_free(clg_step *s) {
    if (!s) return;
    clg_context *ctx = s->ctx;
    if (ctx->capture == s) ctx->capture = NULL;
    clFinish(ctx->queue);
    if (ctx->xfer) clFinish(ctx->xfer); /* reads of this step's buffers */
    for (size_t i = 0; i < s->ncmds; i++) {
        free(s->cmds[i].sizes);
        free(s->cmds[i].values);
        free(s->cmds[i].payload);
        free(s->cmds[i].bufs);
    }
    free(s->cmds);
    for (size_t i = 0; i < s->nheld; i++) {
        clg_buffer *b = s->held[i];
        if (b->last_holder == s) b->last_holder = NULL;
        if (--b->step_holds == 0 && b->refs == 0) clg_buffer_recycle(b);
    }
    free(s->held);
    free(s->dead);
    free(s);
}
