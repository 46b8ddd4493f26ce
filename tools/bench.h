/* `clgrad bench`: the benchmark harness and its suites.
 *
 * A suite is a function that registers cases; a case is a closure (setup makes
 * its state, run performs one operation, teardown frees it). The harness owns
 * everything else: device, warm-up, repeats, timing, statistics and printing.
 *
 *     static void *relu_setup(clg_context *ctx, const bench_case *c) { ... }
 *     static clg_status relu_run(void *state) { ... one relu + clg_tensor_eval ... }
 *
 *     void bench_suite_mine(bench *b) {
 *         bench_case c = bench_case_init("relu_4M", "fwd", BENCH_GBPS, 2.0 * 4 * n);
 *         bench_shape(c.shape, sizeof c.shape, 1, (int64_t[]){n});
 *         c.setup = relu_setup; c.run = relu_run; c.teardown = free_state;
 *         bench_add(b, &c);
 *     }
 *
 * and one line in the suite table of bench.c. Setup runs just before the case is
 * measured (so only one case's tensors exist at a time) and may not be called at
 * all (--filter, --list): registration itself must not touch the device.
 *
 * Timing of one run: wall clock (C11 timespec_get) from before run() to after
 * clg_context_finish(), so queued device work is included; the host time is the
 * time until run() returned. A case whose setup or run fails with
 * CLG_STATUS_UNSUPPORTED is reported as "skipped: <message>"; any other failure
 * is reported in its row and makes the command exit with status 1 at the end. */
#ifndef CLGRAD_TOOLS_BENCH_H
#define CLGRAD_TOOLS_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "clgrad/clgrad.h"

/* What a case's `work` counts per run and how throughput is printed. */
typedef enum bench_unit {
    BENCH_GBPS,     /* work in bytes moved: GB/s (1e9) */
    BENCH_GFLOPS,   /* work in floating-point operations: GFLOP/s (1e9) */
    BENCH_IMAGES,   /* work in images (samples): images/s */
    BENCH_TOKENS    /* work in tokens: tokens/s */
} bench_unit;

typedef struct bench bench;
typedef struct bench_case bench_case;

/* Extra facts a case reports after its runs (optional). */
typedef struct bench_extra {
    char note[160];          /* free text for the table's last column and JSON "note" */
    int64_t peak_mem_bytes;  /* device memory at the peak of one step; -1: not known */
} bench_extra;

struct bench_case {
    char name[48];          /* unique in its suite with mode and batch; --filter matches a substring */
    const char *mode;       /* "fwd", "bwd", "train" or "infer" (static string) */
    char shape[64];         /* "[4096,1024]" (see bench_shape); "" if batch says it all */
    int64_t batch;          /* > 0 for model cases: the batch size; 0 otherwise */
    int steps;              /* > 0 for model cases: training or inference steps per run */
    bench_unit unit;
    double work;            /* per run, in the unit's quantity (bytes, flops, images, tokens) */
    int is_bound;           /* measures the bandwidth bound other GB/s cases are compared with */
    int64_t arg[4];         /* parameters for setup (sizes, flags) */
    /* The closure. setup returns the state, or NULL with the reason in
     * clg_last_error() (or given to bench_report_error); run performs one
     * operation and returns its status (device work may still be queued);
     * teardown frees the state (also after a failure). extra, optional, fills
     * bench_extra after the runs. */
    void *(*setup)(clg_context *ctx, const bench_case *c);
    clg_status (*run)(void *state);
    void (*teardown)(void *state);
    void (*extra)(void *state, bench_extra *out);
};

/* Harness settings, from the command line. */
typedef struct bench_options {
    int json;           /* one JSON object per line instead of the table */
    int quick;          /* fewer and smaller cases, shorter timing (CI smoke runs) */
    int list;           /* print the selected cases without running them */
    int warmup;         /* untimed runs before timing (default 2) */
    int repeat;         /* > 0: exactly this many timed runs; 0: adaptive (below) */
    double min_time_s;  /* adaptive: run until this much time has passed ... */
    int min_runs;       /* ... and at least this many runs ... */
    int max_runs;       /* ... but at most this many */
    const char *filter; /* substring of case names to run; NULL: all */
    const char *mode;   /* only cases of this mode; NULL: all */
    int batch;          /* > 0: only model cases of this batch size */
    int profile;        /* after timing, profile one more run per case and print it */
    const char *devices; /* models only: each case on every device this selects alone,
                            then on all together (clg_context_options.devices); NULL: off */
} bench_options;

/* A case with the given name, mode, unit and work, everything else empty. */
bench_case bench_case_init(const char *name, const char *mode, bench_unit unit, double work);
/* Formats "[d0,d1,...]" into buf; returns buf. */
char *bench_shape(char *buf, size_t cap, int ndim, const int64_t *shape);
/* Registers a copy of c (the harness applies --filter when it runs). Returns 0,
 * or -1 if out of memory. */
int bench_add(bench *b, const bench_case *c);
const bench_options *bench_get_options(const bench *b);
/* For setup or run: the status and message to report instead of clg_last_error()
 * (for cleanup that may overwrite the library's last error, e.g. ending a capture). */
void bench_report_error(clg_status status, const char *message);

/* Wall-clock seconds (C11 timespec_get), and the median of v[0..n) (sorts v):
 * the harness's timing, for tools that time outside it (clgrad tune). */
double bench_now_s(void);
double bench_median(double *v, int n);

/* The suites. */
void bench_suite_ops(bench *b);
void bench_suite_conv(bench *b);
void bench_suite_gemm(bench *b);
void bench_suite_models(bench *b);

/* `clgrad bench ...`: argv[0] is the first argument after "bench". Returns the
 * exit status: 0 success, 1 device or case errors, 2 bad flags. */
int bench_main(int argc, char **argv);

#endif
