/* The device memory pool: buffers are rounded up to size classes (four per power
 * of two, so at most 25% is wasted) and kept on a free list when their last
 * tensor goes, so a steady state of allocations creates no new cl_mem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "runtime/runtime_impl.h"

size_t clg_pool_size_class(size_t bytes) {
    if (bytes <= 256) return 256;
    size_t pow2 = 256;
    while (pow2 < bytes / 2 + 1 && pow2 <= SIZE_MAX / 4) pow2 *= 2;
    /* pow2 <= bytes < 2 * pow2 (bytes > 256); pick the first quarter step. */
    for (int q = 4; q <= 8; q++) {
        size_t c = pow2 / 4 * (size_t)q;
        if (c >= bytes) return c;
    }
    return bytes; /* only reached for sizes near SIZE_MAX */
}

/* The failure of an allocation of `bytes` (rounded up to `capacity`) with err;
 * out of memory says what was asked for and what the context holds. */
static clg_status alloc_failed(clg_context *ctx, size_t bytes, size_t capacity, const char *what, cl_int err) {
    char want[32], held[32], cached[32], fail_what[512];
    clg_format_bytes(capacity, want, sizeof want);
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES)
        return clg_fail(CLG_STATUS_OUT_OF_DEVICE_MEMORY,
                        "out of device memory allocating %zu bytes (%s size class) for %s on %s: %llu bytes (%s) "
                        "in use by tensors, %s cached; %s",
                        bytes, want, what, ctx->label, (unsigned long long)ctx->stats.bytes_in_use,
                        clg_format_bytes(ctx->stats.bytes_in_use, held, sizeof held),
                        clg_format_bytes(ctx->stats.bytes_cached, cached, sizeof cached), clg_cl_error_name(err));
    snprintf(fail_what, sizeof fail_what, "allocating %zu bytes (%s size class) for %s on %s", bytes, want, what,
             ctx->label);
    return CLG_CL_ERR(err, "clCreateBuffer", fail_what);
}

static clg_status create_mem(clg_context *ctx, size_t bytes, size_t capacity, const char *what, cl_mem *out) {
    cl_int err;
    *out = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, capacity, NULL, &err);
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES) {
        /* Give the pool's cache back and try once more. */
        clg_context_release_cached_memory(ctx);
        *out = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, capacity, NULL, &err);
    }
    return err == CL_SUCCESS ? CLG_OK : alloc_failed(ctx, bytes, capacity, what, err);
}

clg_buffer *clg_buffer_new(clg_context *ctx, size_t bytes, const char *what) {
    clg_buffer *buf = calloc(1, sizeof *buf);
    if (!buf) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "allocating the buffer record of %s", what);
        return NULL;
    }
    buf->ctx = ctx;
    buf->refs = 1;
    buf->bytes = bytes;
    if (bytes == 0) return buf;

    char want[32], limit[32];
    if (bytes > ctx->limits.max_alloc_bytes) {
        clg_fail(CLG_STATUS_OUT_OF_DEVICE_MEMORY,
                 "out of device memory: %s needs %s (%zu bytes), more than the largest single "
                 "allocation (%s, %llu bytes) on %s",
                 what, clg_format_bytes(bytes, want, sizeof want), bytes,
                 clg_format_bytes(ctx->limits.max_alloc_bytes, limit, sizeof limit),
                 (unsigned long long)ctx->limits.max_alloc_bytes, ctx->label);
        free(buf);
        return NULL;
    }
    size_t capacity = clg_pool_size_class(bytes);
    if (capacity > ctx->limits.max_alloc_bytes) capacity = bytes;
    buf->capacity = capacity;
    cl_int injected = CLG_FAULT(ctx, CLG_FAULT_ALLOC);
    if (injected != CL_SUCCESS) {
        clg_fault_report(ctx, alloc_failed(ctx, bytes, capacity, what, injected));
        free(buf);
        return NULL;
    }

    clg_buffer *dead = ctx->capture ? clg_capture_reuse(ctx, capacity) : NULL;
    if (dead) { /* the capture's memory plan: a buffer no tensor uses any more */
        free(buf);
        dead->refs = 1;
        dead->bytes = bytes;
        buf = dead;
        goto done;
    }
    clg_pool *pool = &ctx->pool;
    for (size_t i = pool->free_count; i-- > 0;) {
        if (pool->free_list[i].capacity == capacity) {
            buf->mem = pool->free_list[i].mem;
            pool->free_list[i] = pool->free_list[--pool->free_count];
            ctx->stats.buffers_reused++;
            ctx->stats.bytes_cached -= capacity;
            goto done;
        }
    }
    if (create_mem(ctx, bytes, capacity, what, &buf->mem) != CLG_OK) {
        free(buf);
        return NULL;
    }
    ctx->stats.buffers_created++;
done:
    ctx->stats.bytes_in_use += capacity;
    if (ctx->stats.bytes_in_use > ctx->stats.peak_bytes_in_use)
        ctx->stats.peak_bytes_in_use = ctx->stats.bytes_in_use;
    if (ctx->capture) clg_capture_note_usage(ctx);
    return buf;
}

void clg_buffer_retain(clg_buffer *buf) { buf->refs++; }

void clg_buffer_release(clg_buffer *buf) {
    if (!buf || --buf->refs > 0) return;
    clg_context *ctx = buf->ctx;
    if (buf->mem) ctx->stats.bytes_in_use -= buf->capacity;
    if (buf->step_holds > 0) {
        /* Recorded commands still use it: the step decides where it goes. */
        clg_capture_buffer_dead(ctx, buf);
        return;
    }
    clg_buffer_recycle(buf);
}

void clg_buffer_recycle(clg_buffer *buf) {
    clg_context *ctx = buf->ctx;
    if (buf->mem) {
        clg_pool *pool = &ctx->pool;
        if (CLG_RESERVE(pool->free_list, pool->free_cap, pool->free_count + 1, 64)) {
            pool->free_list[pool->free_count++] = (clg_pool_entry){buf->mem, buf->capacity};
            ctx->stats.bytes_cached += buf->capacity;
        } else {
            clReleaseMemObject(buf->mem); /* no room to keep it: give it back */
        }
    }
    free(buf);
}

void clg_context_release_cached_memory(clg_context *ctx) {
    if (!ctx) return;
    /* Queued kernels may still use buffers that went back to the pool. */
    clFinish(ctx->queue);
    for (size_t i = 0; i < ctx->pool.free_count; i++) clReleaseMemObject(ctx->pool.free_list[i].mem);
    ctx->pool.free_count = 0;
    ctx->stats.bytes_cached = 0;
}
