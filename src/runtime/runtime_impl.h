/* Internal: the context and the runtime services other modules use. */
#ifndef CLG_RUNTIME_IMPL_H
#define CLG_RUNTIME_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "clgrad/runtime.h"
#include "runtime/cl.h"

/* --- device memory pool ---------------------------------------------------- */

/* A device allocation shared by the tensors viewing it (reference counted). */
typedef struct clg_buffer {
    struct clg_context *ctx;
    cl_mem mem;      /* NULL for zero bytes */
    size_t bytes;    /* requested */
    size_t capacity; /* size class actually allocated */
    int refs;        /* tensors (and temporaries) using it */
    int step_holds;  /* captured steps whose commands use it: it outlives its tensors */
    void *last_holder; /* the step that last took a hold (for its own bookkeeping) */
} clg_buffer;

typedef struct clg_pool_entry {
    cl_mem mem;
    size_t capacity;
} clg_pool_entry;

typedef struct clg_pool {
    clg_pool_entry *free_list; /* unused buffers kept for reuse */
    size_t free_count, free_cap;
} clg_pool;

/* The size class a request of `bytes` is rounded up to. */
size_t clg_pool_size_class(size_t bytes);

/* A new buffer with one reference, or NULL (error recorded, naming `what`). */
clg_buffer *clg_buffer_new(struct clg_context *ctx, size_t bytes, const char *what);
void clg_buffer_retain(clg_buffer *buf);
void clg_buffer_release(clg_buffer *buf); /* NULL is a no-op */
/* Returns a buffer with no users to the pool (and frees its record). */
void clg_buffer_recycle(clg_buffer *buf);

/* --- compiled programs and kernels ------------------------------------------ */

typedef struct clg_program_entry {
    char *name;       /* program name, e.g. "tensor" */
    char *options;    /* extra options given by the caller */
    cl_program program;
} clg_program_entry;

typedef struct clg_kernel_entry {
    cl_program program;
    char *name;
    cl_kernel kernel;
} clg_kernel_entry;

/* Source of an embedded cl/<name>.cl file (NULL if there is none). */
const char *clg_embedded_source(const char *name);
/* The embedded files, by index (0..count-1); NULL past the end. */
size_t clg_embedded_count(void);
const char *clg_embedded_name(size_t i);

/* The program `name` built from `source` with the device's base options plus
 * `options` (may be NULL), from memory, else the disk cache, else compiled.
 * Build failures return CLG_STATUS_BUILD_FAILED with the program name, options
 * and the device's build log. The program is owned by the context. */
clg_status clg_program_get(struct clg_context *ctx, const char *name, const char *source,
                           const char *options, cl_program *out);

/* The program already built in this context under (name, options), or NULL. */
cl_program clg_program_find(struct clg_context *ctx, const char *name, const char *options);

/* Whether `file` (len bytes) is a disk cache entry for exactly `key` (the layout
 * in program.c: magic, lengths, CRC-32, key, binary); if so *bin and *bin_len
 * locate the program binary inside it. Anything else (short, foreign, damaged)
 * is 0. Pure: no context, nothing allocated (the fuzz target calls it). */
int clg_program_cache_check(const unsigned char *file, size_t len, const char *key, size_t key_len,
                            const unsigned char **bin, size_t *bin_len);

/* Kernel `kernel` of the embedded program `program_name` built with `options`.
 * Owned by the context; set its arguments and enqueue it, one thread at a time. */
clg_status clg_kernel_get(struct clg_context *ctx, const char *program_name,
                          const char *options, const char *kernel, cl_kernel *out);

/* Kernel `kernel` of a program from clg_program_get (cached per context). */
clg_status clg_program_kernel(struct clg_context *ctx, cl_program prog, const char *kernel,
                              cl_kernel *out);

/* Enqueues a 1-D kernel over n work-items (rounded up to the work-group size;
 * kernels check their bound). `what` names the operation for errors. */
clg_status clg_enqueue_1d(struct clg_context *ctx, cl_kernel kernel, size_t n, const char *what);

/* A kernel argument by value: CLG_ARG(x) for any lvalue (cl_ulong, cl_long8, ...),
 * CLG_ARG_BUF(b) for the device memory of a clg_buffer (so a captured step can
 * keep it alive). */
typedef struct clg_arg {
    size_t size;
    const void *value;
    clg_buffer *buf;
} clg_arg;
#define CLG_ARG(v) ((clg_arg){sizeof(v), &(v), NULL})
#define CLG_ARG_BUF(b) ((clg_arg){sizeof(cl_mem), &(b)->mem, (b)})

/* Sets args[0..nargs) on kernel and enqueues it over n work-items (1-D). The one
 * place kernels are launched from, so that launches can be recorded. */
clg_status clg_launch(struct clg_context *ctx, cl_kernel kernel, size_t n, int nargs,
                      const clg_arg *args, const char *what);
/* The work-group size clg_launch uses: 64, or what `clgrad tune` stored for the
 * device, at most the device's limit. */
size_t clg_local_1d(const struct clg_context *ctx);
/* The same with `groups` work-groups of exactly `local` work-items. */
clg_status clg_launch_wg(struct clg_context *ctx, cl_kernel kernel, size_t groups, size_t local,
                         int nargs, const clg_arg *args, const char *what);

/* Division by an invariant d (1 <= d < 2^32) for kernels, as a multiply-high,
 * an add and two shifts (Granlund and Montgomery's method): CPU devices cannot
 * vectorise integer division, and index arithmetic divided every element by
 * the extents of a shape. Returns (m, s1 | s2 << 8) for clg_div in
 * cl/prelude.cl: n / d == (t + ((n - t) >> s1)) >> s2 with t = mul_hi(m, n),
 * exact for every uint32 n. */
cl_uint2 clg_div_magic(uint32_t d);

/* --- captured steps (graph/step.c) --------------------------------------------------- */

/* Records a launch into the step being captured (no-op when none is). */
clg_status clg_capture_kernel(struct clg_context *ctx, cl_kernel kernel, size_t global,
                              size_t local, int nargs, const clg_arg *args);
/* Records a host call (CLBlast, buffer writes) to repeat on replay: fn(ctx,
 * payload) with a copy of payload; the buffers it touches are kept alive. */
typedef clg_status (*clg_replay_fn)(struct clg_context *ctx, const void *payload);
clg_status clg_capture_call(struct clg_context *ctx, clg_replay_fn fn, const void *payload,
                            size_t payload_size, clg_buffer *const *bufs, int nbufs);
/* Pool hooks: a dead buffer of the capture for reuse (or NULL); where a buffer
 * whose tensors are gone goes while a step holds it. */
clg_buffer *clg_capture_reuse(struct clg_context *ctx, size_t capacity);
/* Adds to a captured step a read of bytes [offset, offset + bytes) of buf into
 * host, placed right after the last command that touches buf, so that each
 * replay copies it out while the rest of the step still computes: a marker on
 * the compute queue, and a non-blocking read on the context's transfer queue
 * that waits for it. Each replay stores the read's event in *done (the caller
 * waits for it and releases it before the next replay). host and done must
 * outlive the step. */
struct clg_step;
clg_status clg_step_add_read(struct clg_step *step, clg_buffer *buf, size_t offset, size_t bytes, void *host,
                             cl_event *done);
void clg_capture_buffer_dead(struct clg_context *ctx, clg_buffer *buf);
void clg_capture_note_usage(struct clg_context *ctx);

/* --- per-device key-value store --------------------------------------------- */

typedef struct clg_store_item {
    char *key;
    char *value;
} clg_store_item;

typedef struct clg_store {
    clg_store_item *items;
    size_t count, cap;
    char path[4096]; /* "" when the store is in memory only */
    int loaded;
} clg_store;

void clg_store_clear(clg_store *store);

/* --- kernel profiling (runtime/profile.c) ------------------------------------ */

typedef struct clg_profile_pending {
    cl_event event;
    const char *label; /* lives as long as the context (kernel or program name) or static */
} clg_profile_pending;

typedef struct clg_profile_state {
    int enabled; /* the queue was made with CL_QUEUE_PROFILING_ENABLE */
    int active;  /* between clg_profile_start and clg_profile_stop */
    int report_at_exit; /* CLGRAD_PROFILE: print the table when the context is freed */
    clg_profile_pending *pending;
    size_t pending_count, pending_cap;
    clg_profile_entry *rows;
    size_t row_count, row_cap;
    uint64_t dropped; /* events not recorded (out of host memory) */
} clg_profile_state;

/* The event argument for an enqueue: &ev while profiling, else NULL. */
#define CLG_PROFILE_EVENT(ctx, ev) ((ctx)->profile.active ? &(ev) : NULL)
/* Takes ev (NULL: nothing was recorded) labelled by label or, when NULL, by kernel. */
void clg_profile_record(struct clg_context *ctx, cl_kernel kernel, const char *label, cl_event ev);
/* Waits for the pending events and adds their times to the rows. */
clg_status clg_profile_fold(struct clg_context *ctx);
void clg_profile_state_free(struct clg_context *ctx);

/* --- fault injection (runtime/fault.c) ----------------------------------------------
 * Makes the nth operation of one kind fail with a chosen OpenCL code, once, as
 * if the call had returned it: from tests (clg_fault_set) or for a whole
 * process (CLGRAD_FAULT=KIND:N[:CODE][@P:D], read when each context is made,
 * the suffix keeping it to the context of device P:D; see docs/engine.md).
 * Per context, so it needs no locking. */

typedef enum clg_fault_kind {
    CLG_FAULT_ALLOC,   /* clg_buffer_new of a nonzero size (pool hits included) */
    CLG_FAULT_BUILD,   /* a program not yet in the context: from the disk cache or source */
    CLG_FAULT_ENQUEUE, /* kernel launches, writes, copies, GEMMs, FFTs, markers, replays */
    CLG_FAULT_READ,    /* device-to-host reads */
    CLG_FAULT_OPEN,    /* opening the device when a context is made (N must be 1) */
    CLG_FAULT_KINDS
} clg_fault_kind;

typedef struct clg_fault {
    int armed; /* a fault waits to fire: the one thing the choke points test */
    int fired;
    clg_fault_kind kind;
    uint64_t nth;  /* the operation of `kind` that fails, from 1 when armed */
    uint64_t seen; /* operations of `kind` since armed (up to the one that failed) */
    cl_int code;
    int target_platform, target_device; /* "@P:D": only the context of that device; -1: any */
} clg_fault;

/* Arms ctx's hook: the nth (>= 1) operation of kind from now fails with code
 * (CL_SUCCESS: the kind's default, CL_MEM_OBJECT_ALLOCATION_FAILURE,
 * CL_BUILD_PROGRAM_FAILURE or CL_OUT_OF_RESOURCES). One fault at a time:
 * arming again replaces it. */
clg_status clg_fault_set(struct clg_context *ctx, clg_fault_kind kind, uint64_t nth, cl_int code);
/* Disarms the hook and forgets what it counted. */
void clg_fault_clear(struct clg_context *ctx);
/* Whether the armed fault has fired (it disarms itself then), and how many
 * operations of its kind were counted since it was armed. */
int clg_fault_fired(const struct clg_context *ctx);
uint64_t clg_fault_seen(const struct clg_context *ctx);
const char *clg_fault_kind_name(clg_fault_kind kind);
/* Parses a CLGRAD_FAULT value into *out (disarmed for NULL or ""); a malformed
 * one is CLG_STATUS_INVALID_ARGUMENT with the syntax in the message. */
clg_status clg_fault_parse(const char *spec, clg_fault *out);

/* For the choke points, only while armed: counts one operation of kind and
 * returns the code to fail it with, or CL_SUCCESS. */
cl_int clg_fault_take(struct clg_context *ctx, clg_fault_kind kind);
/* Marks the error just recorded as injected; returns st. */
clg_status clg_fault_report(const struct clg_context *ctx, clg_status st);

/* The code an operation of kind must fail with now, or CL_SUCCESS. */
#define CLG_FAULT(ctx, kind) ((ctx)->fault.armed ? clg_fault_take((ctx), (kind)) : CL_SUCCESS)
/* CLG_CL for an OpenCL call the hook can fail: when it fires, expr is not
 * evaluated and the failure is reported as that call's. */
#define CLG_CL_FAULT(ctx, kind, expr, what)                                                         \
    (CLG_FAULT((ctx), (kind)) != CL_SUCCESS                                                        \
         ? clg_fault_report((ctx), clg_cl_check((ctx)->fault.code, #expr, (what), __FILE__, __LINE__)) \
         : CLG_CL(expr, what))

/* --- the context -------------------------------------------------------------- */

/* Device i of a context made with several (0: ctx itself), or NULL. */
struct clg_context *clg_context_peer(struct clg_context *ctx, int i);

struct clg_context {
    clg_device_info info;
    char label[192]; /* "pthread-skylake (0:0)", used in messages */
    cl_platform_id platform;
    cl_device_id device;
    cl_context cl;
    cl_command_queue queue;
    cl_command_queue xfer; /* transfers beside the compute queue (made when first needed) */
    clg_context_limits limits;

    char base_options[256];
    char identity[1024]; /* platform, device, vendor id, driver: keys the caches */
    int disk_cache;
    char cache_dir[4096];
    int deterministic;   /* choices of algorithm never depend on timings */
    int gemm_tuning_read; /* the store's CLBlast parameters were looked up (matmul.c) */
    size_t local_1d;      /* tuned work-group size of 1-D launches; 0: the default */
    int optim_group;      /* parameters per optimizer update launch, 1 or 8 (src/nn/optim.c) */

    clg_program_entry *programs;
    size_t program_count, program_cap;
    clg_kernel_entry *kernels;
    size_t kernel_count, kernel_cap;

    clg_pool pool;
    clg_store store;
    clg_context_stats stats;

    /* graph state */
    int grad_disabled;              /* > 0: ops record no graph */
    struct clg_tensor *lazy_head;   /* pending lazy elementwise results */
    unsigned visit_epoch;           /* traversal marks for backward */
    struct clg_step *capture;       /* the step being captured, if any */

    clg_profile_state profile;
    clg_fault fault;

    /* Further devices of a context made with several (options.devices): one
     * context each, owned by this one, for data-parallel replicas. */
    struct clg_context **peers;
    int npeers;

    /* Per-context state of optional modules (e.g. clFFT plans), freed with it. */
    void *fft_state;
    void (*fft_state_free)(struct clg_context *ctx);
};

#endif
