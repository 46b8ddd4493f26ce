/** \file
 * Devices and contexts.
 *
 *     // Pick the best device (or what CLGRAD_DEVICE says) and report it once.
 *     clg_context_options opts = clg_context_options_default();
 *     opts.report_device = 1;
 *     clg_context *ctx = clg_context_new(&opts);
 *     if (!ctx) { fprintf(stderr, "%s\n", clg_last_error()); return 1; }
 *     ...
 *     clg_context_free(ctx);
 *
 * A context owns one OpenCL device with its context and in-order queue, the
 * compiled-program cache, the device memory pool and the per-device key-value
 * store. Tensors belong to the context that made them and must be freed before it.
 * A context made with several devices (options.devices, CLGRAD_DEVICES) also
 * holds one such context per further device, used by the model API's
 * data-parallel fit, evaluate and predict; everything else runs on the first.
 *
 * Device selection, in order: options.device, else the CLGRAD_DEVICE environment
 * variable, else the best device by rank (discrete GPU > integrated GPU >
 * accelerator > CPU, then compute units x clock). A selection string is one of
 *
 *     "P:D"        platform and device index, as `clgrad devices` prints them;
 *     "gpu", "cpu", "accelerator"   the best device of that type;
 *     any other text   a case-insensitive substring of the device, platform or
 *                      vendor name ("gfx1030", "Intel", "NVIDIA", "pthread").
 *
 * Environment variables read by clg_context_new (options override them):
 *
 *     CLGRAD_DEVICE       selection string as above
 *     CLGRAD_DEVICES      several devices ("all", "gpu", "0:0,1:0", ...): the
 *                         model API's fit, evaluate and predict then run one
 *                         replica per device (docs/distributed.md)
 *     CLGRAD_CACHE_DIR    program/store cache directory
 *                         (else $XDG_CACHE_HOME/clgrad, else ~/.cache/clgrad)
 *     CLGRAD_CACHE=0      disable the disk cache of compiled programs
 *     CLGRAD_CONSTRAINED=1  behave like a small GPU (see constrained below)
 *     CLGRAD_DETERMINISTIC=1  the same results run after run (see deterministic below)
 *     CLGRAD_GEMM=own|clblast  force the GEMM kernel (default: clgrad's own on CPU
 *                         devices, CLBlast on the others; read at every product)
 *     CLGRAD_QUIET=1      do not report the chosen device even if asked
 *     CLGRAD_PROFILE=1    profile every kernel from the start and print the
 *                         per-kernel table to stderr when the context is freed
 *
 * Thread safety: a context and every object made from it (tensors, ...) may be
 * used by one thread at a time; guard it yourself to share it. Different contexts
 * may be used from different threads at once, also on the same device. The
 * device functions (clg_devices_query, clg_device_select) are thread-safe. */
#ifndef CLGRAD_RUNTIME_H
#define CLGRAD_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clgrad/export.h"
#include "clgrad/status.h"

CLG_BEGIN_DECLS

typedef enum clg_device_type {
    CLG_DEVICE_TYPE_CPU = 1,
    CLG_DEVICE_TYPE_INTEGRATED_GPU = 2,
    CLG_DEVICE_TYPE_DISCRETE_GPU = 3,
    CLG_DEVICE_TYPE_ACCELERATOR = 4,
    CLG_DEVICE_TYPE_OTHER = 5
} clg_device_type;

/** A snapshot of one OpenCL device. Plain data: copy it freely. */
typedef struct clg_device_info {
    int platform_index;         /**< P in "P:D" */
    int device_index;           /**< D in "P:D", within its platform */
    clg_device_type type;
    char platform_name[128];
    char platform_version[128];
    char name[128];
    char vendor[128];
    uint32_t vendor_id;
    char driver_version[64];
    char opencl_c_version[64];  /**< as reported, e.g. "OpenCL C 1.2 pocl" */
    int opencl_c_major, opencl_c_minor;
    uint32_t compute_units;
    uint32_t clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    uint64_t max_work_group_size;
    int fp16;                   /**< cl_khr_fp16 */
    int fp64;                   /**< cl_khr_fp64 or a double-precision config */
    int available;              /**< CL_DEVICE_AVAILABLE and a compiler */
} clg_device_info;

/** Enumerates every device of every platform. On success *out is an array of
 * *count entries owned by the caller (free with clg_devices_free); *count may be
 * 0 only if platforms exist without devices. With no OpenCL platform at all,
 * returns CLG_STATUS_NO_PLATFORM with a message naming the packages to install. */
CLG_API clg_status clg_devices_query(clg_device_info **out, size_t *count);
CLG_API void clg_devices_free(clg_device_info *devices);

/** Rank used for the default choice: higher is better (0 for NULL, as for an
 * unavailable device). */
CLG_API double clg_device_rank(const clg_device_info *device);

/** Chooses a device from list[0..count) by a selection string (NULL or "" picks
 * the best by rank). On success writes its index into list to *chosen. A
 * selection matching nothing returns CLG_STATUS_NO_DEVICE with a message listing
 * the devices that exist. */
CLG_API clg_status clg_device_select(const clg_device_info *list, size_t count,
                                     const char *selection, size_t *chosen);

/** Chooses several devices by a selection (see clg_context_options.devices).
 * chosen must hold count entries; *nchosen gets how many were chosen (>= 1 on
 * success), without repeats, best-ranked first for "all", "gpu", "cpu" and
 * "accelerator", else in the order listed. An item matching nothing fails with
 * CLG_STATUS_NO_DEVICE naming it and listing the devices that exist. */
CLG_API clg_status clg_device_select_many(const clg_device_info *list, size_t count, const char *selection,
                                          size_t *chosen, size_t *nchosen);

/** Short name of a device type: "cpu", "gpu (discrete)", ... Static string. */
CLG_API const char *clg_device_type_name(clg_device_type type);

typedef struct clg_context_options {
    const char *device;    /**< selection string; NULL: CLGRAD_DEVICE, then best */
    const char *cache_dir; /**< NULL: CLGRAD_CACHE_DIR, XDG_CACHE_HOME, ~/.cache */
    int disk_cache;        /**< 1 on (default), 0 off; CLGRAD_CACHE=0 also turns it off */
    int constrained;       /**< 1: cap work-groups at 256, local memory at 32 KiB, no
                              fp64, as on small GPUs; -1 (default): CLGRAD_CONSTRAINED */
    int deterministic;     /**< 1: every choice of algorithm is fixed in advance, so two
                              runs with the same seeds give the same bits (convolution's
                              AUTO takes its heuristic, never a timing or a stored
                              choice; every kernel already reduces in a fixed order,
                              without atomics); -1 (default): CLGRAD_DETERMINISTIC */
    int report_device;     /**< 1: print the chosen device once to report_stream */
    FILE *report_stream;   /**< NULL: stderr */
    int profiling;         /**< 1: make the queue with OpenCL profiling, so that
                              clg_profile_start works; -1 (default): CLGRAD_PROFILE,
                              which also starts a profile at once and prints it to
                              stderr when the context is freed */
    const char *devices;   /**< several devices for data-parallel fit, evaluate and
                              predict: "all", "gpu", "cpu", or a comma-separated list
                              of "P:D" and name substrings (each item takes every
                              device it matches); NULL: CLGRAD_DEVICES; unset or
                              empty: the one device `device` chooses. The best-ranked
                              device of "all"/"gpu"/"cpu" (else the first listed) is
                              the context's own; a listed device that cannot be
                              opened is left out with a warning on report_stream. */
} clg_context_options;

CLG_API clg_context_options clg_context_options_default(void);

typedef struct clg_context clg_context;

/** Creates a context on the selected device. options may be NULL (defaults).
 * Returns NULL on failure (no platform, no matching device, OpenCL error) with
 * the reason in clg_last_error(). Free with clg_context_free. */
CLG_API clg_context *clg_context_new(const clg_context_options *options);

/** Waits for queued work, then frees the context and its caches. NULL is a no-op.
 * Tensors of the context must have been freed first. */
CLG_API void clg_context_free(clg_context *ctx);

/** The device of the context; the pointer lives as long as the context. */
CLG_API const clg_device_info *clg_context_device(const clg_context *ctx);

/** How many devices the context drives: 1, or more when made with several
 * (clg_context_options.devices); 0 for NULL. */
CLG_API int clg_context_device_count(const clg_context *ctx);
/** Device i of the context (0 is clg_context_device's), or NULL out of range. */
CLG_API const clg_device_info *clg_context_device_at(const clg_context *ctx, int i);

/** Blocks until all work queued on the context has finished. */
CLG_API clg_status clg_context_finish(clg_context *ctx);

/** Limits kernels must respect (constrained mode lowers them). */
typedef struct clg_context_limits {
    uint64_t max_work_group_size;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    int fp16, fp64;
    int constrained;
} clg_context_limits;
CLG_API clg_context_limits clg_context_get_limits(const clg_context *ctx);

/** Counters since the context was made. */
typedef struct clg_context_stats {
    uint64_t programs_built;        /**< compiled from source (cache misses) */
    uint64_t programs_from_disk;    /**< loaded from the disk cache */
    uint64_t programs_from_memory;  /**< served by the in-memory cache */
    uint64_t disk_cache_rejected;   /**< corrupt, truncated or foreign cache files ignored */
    uint64_t buffers_created;       /**< clCreateBuffer calls by the pool */
    uint64_t buffers_reused;        /**< allocations served from the pool */
    uint64_t bytes_in_use;          /**< device bytes held by live tensors */
    uint64_t bytes_cached;          /**< device bytes kept by the pool for reuse */
    uint64_t peak_bytes_in_use;
} clg_context_stats;
CLG_API clg_context_stats clg_context_get_stats(const clg_context *ctx);
/** Restarts peak_bytes_in_use from the bytes in use now (to measure one phase). */
CLG_API void clg_context_reset_peak_memory(clg_context *ctx);

/** \name Kernel profiling
 * Device time per kernel, from OpenCL profiling events, for finding what
 * dominates a training step. The context must be made with options.profiling = 1
 * (or CLGRAD_PROFILE=1): profiling is a property of the queue.
 *
 *     clg_profile_start(ctx);
 *     ... the work to profile, e.g. clg_model_fit for a few steps ...
 *     clg_profile_entry *rows = NULL; size_t n = 0;
 *     if (clg_profile_stop(ctx, &rows, &n) == CLG_OK) clg_profile_print(stdout, rows, n, steps);
 *     free(rows);
 *
 * Every kernel launch is counted (direct, replayed from a captured step,
 * CLBlast's GEMMs as "clblast:sgemm", clFFT transforms as "clfft:transform"),
 * and non-blocking host writes and device copies ("host write", "device copy").
 * A row is named by the kernel's function name; generated elementwise kernels by
 * their structure, e.g. "ew:v0=L0;v1=relu(v0);" (cut at 127 bytes). Lazy
 * elementwise work is counted when it is queued: read a result (or call
 * clg_tensor_eval) before clg_profile_stop so that it is. While a profile runs,
 * events are waited on in batches of a few thousand, so the host may block
 * where it otherwise would not; the device times stay right, wall times do not.
 * @{ */
typedef struct clg_profile_entry {
    char name[128];  /**< kernel or command, as above */
    uint64_t count;  /**< times it ran */
    double total_ms, min_ms, max_ms; /**< device time (end minus start), summed and per run */
} clg_profile_entry;
/** Starts counting (and forgets what an earlier profile counted).
 * CLG_STATUS_UNSUPPORTED when the queue was made without profiling. */
CLG_API clg_status clg_profile_start(clg_context *ctx);
/** Waits for the queue, stops counting and returns the rows, largest total first,
 * in a malloc'd array the caller frees (NULL and 0 when nothing ran). */
CLG_API clg_status clg_profile_stop(clg_context *ctx, clg_profile_entry **entries, size_t *count);
/** Prints rows as a table: share of the device time, calls, ms and calls per
 * `steps` (pass 1 for totals), mean, min and max ms per call, name; then the sum. */
CLG_API void clg_profile_print(FILE *f, const clg_profile_entry *entries, size_t count, double steps);
/** @} */

/** Returns the pool's cached (unused) device memory to the driver. */
CLG_API void clg_context_release_cached_memory(clg_context *ctx);

/** The directory of the disk cache ("" when disabled). Lives with the context. */
CLG_API const char *clg_context_cache_dir(const clg_context *ctx);

/** \name Per-device key-value store
 * Per-device key-value store, persisted in the cache directory next to the
 * program cache and keyed by device and driver (tuned parameters, measured
 * algorithm choices). Keys and values are printable text without newlines; keys
 * at most 255 bytes, values at most 4095. Writes are atomic. With the disk cache
 * disabled the store lives in memory only.
 * clg_store_get copies the value into buf (NUL-terminated, cap bytes at most) and
 * returns CLG_STATUS_NOT_FOUND if the key is absent.
 *
 * Keys clgrad reads: CLG_STORE_CLBLAST_XGEMM, CLBlast's Xgemm parameters for
 * float32 as "NAME=VALUE ..." (what `clgrad tune` stores), given to CLBlast
 * (CLBlastOverrideParameters) before a context's first CLBlast GEMM; empty or
 * malformed: CLBlast's own defaults. CLG_STORE_LOCAL_1D, the work-group size
 * of clgrad's one-dimensional kernel launches (a power of two; read when a
 * context is made; otherwise 64). "conv.algo...": measured convolution
 * algorithm choices (CLG_CONV_AUTO). */
#define CLG_STORE_CLBLAST_XGEMM "clblast.Xgemm.32"
#define CLG_STORE_LOCAL_1D "launch.local_1d"
/** @{ */
CLG_API clg_status clg_store_get(clg_context *ctx, const char *key, char *buf, size_t cap);
CLG_API clg_status clg_store_set(clg_context *ctx, const char *key, const char *value);
/** @} */

/** \defgroup runtime_events Ordering work across contexts
 *
 * Each context runs its work in order on one queue; nothing waits on the host
 * unless a value is read. To make one context's later work wait for another's
 * earlier work (devices of any platform or vendor), record an event on the
 * first and make the second wait on it:
 *
 *     clg_event *done = clg_event_record(ctx_a);   // after A's queued work
 *     clg_event_wait(ctx_b, done);                  // B's later work waits for it
 *     clg_event_free(done);                         // safe at once
 *
 * Within one OpenCL context the wait is a barrier on the device; across contexts
 * it goes through the host: a user event of B's context completed by a callback
 * when A's event completes (no host thread blocks).
 * @{ */
typedef struct clg_event clg_event;

/** An event that completes when everything queued on ctx so far has finished.
 * NULL on failure. Free with clg_event_free (also before it completes). */
CLG_API clg_event *clg_event_record(clg_context *ctx);
/** Work queued on ctx after this call starts only once ev has completed. */
CLG_API clg_status clg_event_wait(clg_context *ctx, const clg_event *ev);
/** Blocks the calling thread until ev has completed. */
CLG_API clg_status clg_event_synchronize(const clg_event *ev);
/** 1 if ev has completed, 0 if not, -1 on error. */
CLG_API int clg_event_done(const clg_event *ev);
CLG_API void clg_event_free(clg_event *ev);
/** @} */

/** The library's version, "MAJOR.MINOR.PATCH". */
CLG_API const char *clg_version(void);

CLG_END_DECLS

#endif
