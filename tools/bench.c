/* `clgrad bench`: the harness (device, warm-up, repeats, timing, statistics,
 * table and JSON output) and the ops suite. See bench.h and bench/README.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/* ================================ harness ================================== */

struct bench {
    bench_options opt;
    const char *suite;
    bench_case *cases;
    size_t ncases, cap;
    int out_of_memory;
    clg_context *ctx;
    const clg_device_info *dev;
    char devices[256];  /* the context's devices, "0:0" or "0:0+0:1" */
    double sum_alone;   /* --devices, all together: the devices' throughputs alone, summed; else NAN */
    double bound_gbps; /* the largest bandwidth-bound (copy) case measured; 0: none yet */
    double bound_work; /* its bytes per run */
    int ok, skipped, failed;
};

typedef struct suite_entry {
    const char *name;
    void (*registrar)(bench *b);
    const char *about;
} suite_entry;

/* One line per suite; gemm, conv and models come here. */
static const suite_entry suites[] = {
    {"ops", bench_suite_ops,
     "device copy bandwidth, elementwise ops, reductions, matmul, an MLP training step"},
    {"gemm", bench_suite_gemm,
     "square float32 GEMMs 256..4096 (and A^T B, A B^T): CLGRAD_GEMM's choice against CLBlast"},
    {"conv", bench_suite_conv,
     "convolution layers (seed CNN, LeNet, VGG-16, ResNet-18, 1x1, depthwise, 7x7 stem) per algorithm"},
    {"models", bench_suite_models,
     "whole models (seed_cnn, mlp, lenet5, vgg_small, resnet20, lstm_cls, lstm_lm, gpt_lm), train and infer"},
};

static const char *const unit_names[] = {"GB/s", "GFLOP/s", "images/s", "tokens/s"};
static const double unit_scale[] = {1e9, 1e9, 1.0, 1.0};

double bench_now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bench_case bench_case_init(const char *name, const char *mode, bench_unit unit, double work) {
    bench_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    c.mode = mode;
    c.unit = unit;
    c.work = work;
    return c;
}

char *bench_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t len = 0;
    if (cap == 0) return buf;
    buf[0] = '\0';
    len += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

int bench_add(bench *b, const bench_case *c) {
    if (b->ncases == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 32;
        bench_case *grown = realloc(b->cases, cap * sizeof *grown);
        if (!grown) {
            b->out_of_memory = 1;
            return -1;
        }
        b->cases = grown;
        b->cap = cap;
    }
    b->cases[b->ncases++] = *c;
    return 0;
}

const bench_options *bench_get_options(const bench *b) { return &b->opt; }

/* An error given by a case, preferred over clg_last_error() (single-threaded tool). */
static struct {
    int set;
    clg_status status;
    char message[512];
} reported;

void bench_report_error(clg_status status, const char *message) {
    reported.set = 1;
    reported.status = status;
    snprintf(reported.message, sizeof reported.message, "%s", message ? message : "");
}

/* The status and message of a failure, from bench_report_error or the library. */
static clg_status take_error(clg_status st, char *msg, size_t cap) {
    if (reported.set) {
        reported.set = 0;
        snprintf(msg, cap, "%s", reported.message);
        return reported.status;
    }
    if (st == CLG_OK) st = clg_last_status();
    if (st == CLG_OK) st = CLG_STATUS_INVALID_ARGUMENT;
    const char *last = clg_last_error();
    snprintf(msg, cap, "%s", last[0] ? last : clg_status_message(st));
    return st;
}

typedef struct measured {
    int runs;
    double median_ms, min_ms, max_ms, host_ms; /* host_ms: median time until run() returned */
} measured;

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

static double median_sorted(const double *v, int n) {
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return median_sorted(v, n);
}

/* One run: returns its status; wall includes clg_context_finish. */
static clg_status timed_run(bench *b, const bench_case *c, void *state, double *wall, double *host) {
    clg_clear_error();
    double t0 = bench_now_s();
    clg_status st = c->run(state);
    double t1 = bench_now_s();
    clg_status fin = clg_context_finish(b->ctx); /* also after a failure: drain the queue */
    double t2 = bench_now_s();
    if (st == CLG_OK) st = fin;
    *wall = t2 - t0;
    *host = t1 - t0;
    return st;
}

static clg_status measure(bench *b, const bench_case *c, void *state, measured *m) {
    const bench_options *o = &b->opt;
    int cap = o->repeat > 0 ? o->repeat : o->max_runs;
    double *wall = malloc((size_t)cap * sizeof *wall), *host = malloc((size_t)cap * sizeof *host);
    clg_status st = CLG_OK;
    if (!wall || !host) {
        free(wall);
        free(host);
        bench_report_error(CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory for timings");
        return CLG_STATUS_OUT_OF_HOST_MEMORY;
    }
    /* Work queued by setup (random inputs, a capture) is not part of any run. */
    st = clg_context_finish(b->ctx);
    for (int i = 0; st == CLG_OK && i < o->warmup; i++) {
        double w, h;
        st = timed_run(b, c, state, &w, &h);
    }
    int n = 0;
    double start = bench_now_s();
    while (st == CLG_OK) {
        if (o->repeat > 0 ? n >= o->repeat
                          : n >= o->max_runs || (n >= o->min_runs && bench_now_s() - start >= o->min_time_s))
            break;
        st = timed_run(b, c, state, &wall[n], &host[n]);
        if (st == CLG_OK) n++;
    }
    if (st == CLG_OK) {
        qsort(wall, (size_t)n, sizeof *wall, cmp_double);
        qsort(host, (size_t)n, sizeof *host, cmp_double);
        m->runs = n;
        m->median_ms = 1e3 * median_sorted(wall, n);
        m->min_ms = 1e3 * wall[0];
        m->max_ms = 1e3 * wall[n - 1];
        m->host_ms = 1e3 * median_sorted(host, n);
    }
    free(wall);
    free(host);
    return st;
}

/* --- output --------------------------------------------------------------------- */

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f); /* UTF-8 passes through */
        }
    }
    fputc('"', f);
}

static void json_number(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

static void json_key(FILE *f, const char *key) {
    fputs(", ", f);
    json_string(f, key);
    fputs(": ", f);
}

typedef enum outcome { OUTCOME_OK, OUTCOME_SKIPPED, OUTCOME_ERROR } outcome;

static void format_mib(int64_t bytes, char *buf, size_t cap) {
    if (bytes >= (int64_t)1 << 30) snprintf(buf, cap, "%.2f GiB", (double)bytes / (1 << 30));
    else if (bytes >= (int64_t)1 << 20) snprintf(buf, cap, "%.2f MiB", (double)bytes / (1 << 20));
    else snprintf(buf, cap, "%.1f KiB", (double)bytes / 1024);
}

static void print_json(const bench *b, const bench_case *c, outcome out, const char *error,
                       const measured *m, double throughput, const bench_extra *ex) {
    FILE *f = stdout;
    int ok = out == OUTCOME_OK;
    int compare = ok && c->unit == BENCH_GBPS && !c->is_bound && b->bound_gbps > 0;
    fputs("{\"suite\": ", f);
    json_string(f, b->suite);
    json_key(f, "name");
    json_string(f, c->name);
    json_key(f, "mode");
    json_string(f, c->mode);
    json_key(f, "shape");
    json_string(f, c->shape);
    json_key(f, "batch");
    if (c->batch > 0) fprintf(f, "%lld", (long long)c->batch);
    else fputs("null", f);
    json_key(f, "device");
    json_string(f, b->dev->name);
    json_key(f, "platform");
    json_string(f, b->dev->platform_name);
    json_key(f, "driver");
    json_string(f, b->dev->driver_version);
    json_key(f, "devices");
    json_string(f, b->devices);
    json_key(f, "status");
    json_string(f, out == OUTCOME_OK ? "ok" : out == OUTCOME_SKIPPED ? "skipped" : "error");
    json_key(f, "error");
    if (ok) fputs("null", f);
    else json_string(f, error);
    json_key(f, "runs");
    fprintf(f, "%d", ok ? m->runs : 0);
    json_key(f, "warmup");
    fprintf(f, "%d", b->opt.warmup);
    json_key(f, "median_ms");
    json_number(f, ok ? m->median_ms : NAN);
    json_key(f, "min_ms");
    json_number(f, ok ? m->min_ms : NAN);
    json_key(f, "max_ms");
    json_number(f, ok ? m->max_ms : NAN);
    json_key(f, "host_ms");
    json_number(f, ok ? m->host_ms : NAN);
    json_key(f, "steps");
    if (c->steps > 0) fprintf(f, "%d", c->steps);
    else fputs("null", f);
    json_key(f, "ms_per_step");
    json_number(f, ok && c->steps > 0 ? m->median_ms / c->steps : NAN);
    json_key(f, "throughput");
    json_number(f, ok ? throughput : NAN);
    json_key(f, "unit");
    json_string(f, unit_names[c->unit]);
    json_key(f, "is_bound");
    fputs(c->is_bound ? "true" : "false", f);
    json_key(f, "peak"); /* GB/s: the copy bound; GFLOP/s: not reported by OpenCL */
    json_number(f, compare ? b->bound_gbps : NAN);
    json_key(f, "of_peak");
    json_number(f, compare ? throughput / b->bound_gbps : NAN);
    json_key(f, "sum_alone");
    json_number(f, ok ? b->sum_alone : NAN);
    json_key(f, "efficiency");
    json_number(f, ok ? throughput / b->sum_alone : NAN);
    json_key(f, "peak_mem_bytes");
    if (ok && ex->peak_mem_bytes >= 0) fprintf(f, "%lld", (long long)ex->peak_mem_bytes);
    else fputs("null", f);
    json_key(f, "note");
    json_string(f, ok ? ex->note : "");
    fputs("}\n", f);
    fflush(f);
}

#define ROW_FMT "%-16s %-5s %-26s %4s %10s %9s %9s %9s %17s  %-14s %s\n"

static void print_table_header(const bench *b) {
    const bench_options *o = &b->opt;
    printf("suite %s on %s (%s, driver %s)", b->suite, b->dev->name, b->dev->platform_name,
           b->dev->driver_version);
    if (clg_context_device_count(b->ctx) > 1) /* the first device's name, and then the others */
        printf(" and %d more: devices %s", clg_context_device_count(b->ctx) - 1, b->devices);
    printf("\n");
    if (o->repeat > 0)
        printf("wall time per run incl. clg_context_finish: %d runs after %d warm-up runs\n",
               o->repeat, o->warmup);
    else
        printf("wall time per run incl. clg_context_finish: runs until %.2f s and >= %d runs "
               "(<= %d), after %d warm-up runs\n",
               o->min_time_s, o->min_runs, o->max_runs, o->warmup);
    printf("host ms: time until the call returned (before clg_context_finish)\n\n");
    printf(ROW_FMT, "name", "mode", "shape", "runs", "median ms", "min ms", "max ms", "host ms",
           "throughput", "peak", "note");
}

static void print_row(const bench *b, const bench_case *c, outcome out, const char *error,
                      const measured *m, double throughput, const bench_extra *ex) {
    char shape[80];
    if (c->batch > 0) snprintf(shape, sizeof shape, "batch %lld", (long long)c->batch);
    else snprintf(shape, sizeof shape, "%s", c->shape);
    if (out != OUTCOME_OK) {
        printf("%-16s %-5s %-26s %s: %s\n", c->name, c->mode, shape,
               out == OUTCOME_SKIPPED ? "skipped" : "error", error);
        fflush(stdout);
        return;
    }
    char runs[16], med[32], mn[32], mx[32], host[32], thr[48], peak[48];
    snprintf(runs, sizeof runs, "%d", m->runs);
    snprintf(med, sizeof med, "%.3f", m->median_ms);
    snprintf(mn, sizeof mn, "%.3f", m->min_ms);
    snprintf(mx, sizeof mx, "%.3f", m->max_ms);
    snprintf(host, sizeof host, "%.3f", m->host_ms);
    snprintf(thr, sizeof thr, "%.2f %s", throughput, unit_names[c->unit]);
    if (c->unit == BENCH_GFLOPS) snprintf(peak, sizeof peak, "n/a");
    else if (c->unit == BENCH_GBPS && c->is_bound) snprintf(peak, sizeof peak, "(bound)");
    else if (c->unit == BENCH_GBPS && b->bound_gbps > 0)
        snprintf(peak, sizeof peak, "%.0f%% of %.1f", 100.0 * throughput / b->bound_gbps, b->bound_gbps);
    else if (ex->peak_mem_bytes >= 0) format_mib(ex->peak_mem_bytes, peak, sizeof peak);
    else snprintf(peak, sizeof peak, "-");
    char note[320], scaling[80] = "";
    if (isfinite(b->sum_alone))
        snprintf(scaling, sizeof scaling, "efficiency %.2f of %.2f alone; ", throughput / b->sum_alone,
                 b->sum_alone);
    if (c->steps > 0)
        snprintf(note, sizeof note, "%s%.3f ms/step; %s", scaling, m->median_ms / c->steps, ex->note);
    else snprintf(note, sizeof note, "%s%s", scaling, ex->note);
    printf(ROW_FMT, c->name, c->mode, shape, runs, med, mn, mx, host, thr, peak, note);
    fflush(stdout);
}

/* --profile: one more run with kernel profiling, its table per step (model
 * cases) or per run, before the case's row; on stderr with --json. */
static void profile_case(bench *b, const bench_case *c, void *state) {
    FILE *f = b->opt.json ? stderr : stdout;
    clg_profile_entry *rows = NULL;
    size_t n = 0;
    double wall = 0, host = 0;
    clg_status st = clg_profile_start(b->ctx);
    if (st == CLG_OK) st = timed_run(b, c, state, &wall, &host);
    clg_status s2 = clg_profile_stop(b->ctx, &rows, &n);
    if (st == CLG_OK) st = s2;
    if (st != CLG_OK) {
        fprintf(f, "profile of %s %s: %s\n", c->name, c->mode, clg_last_error());
    } else {
        int steps = c->steps > 0 ? c->steps : 1;
        fprintf(f, "\nprofile of %s %s %s: one run of %d %s, %.1f ms wall (%.1f ms host); per %s:\n", c->name,
                c->mode, c->shape, steps, steps == 1 ? "step" : "steps", 1e3 * wall, 1e3 * host,
                c->steps > 0 ? "step" : "run");
        clg_profile_print(f, rows, n, steps);
        fputc('\n', f);
    }
    free(rows);
}

/* Returns the throughput, NAN when the case was skipped or failed. */
static double run_case(bench *b, const bench_case *c) {
    char error[512] = "";
    measured m = {0, 0, 0, 0, 0};
    bench_extra ex;
    memset(&ex, 0, sizeof ex);
    ex.peak_mem_bytes = -1;
    outcome out = OUTCOME_OK;
    double throughput = NAN;

    reported.set = 0;
    clg_clear_error();
    void *state = c->setup ? c->setup(b->ctx, c) : NULL;
    clg_status st = CLG_OK;
    if (c->setup && !state) st = take_error(CLG_OK, error, sizeof error);
    if (st == CLG_OK) {
        st = measure(b, c, state, &m);
        if (st != CLG_OK) st = take_error(st, error, sizeof error);
        else if (c->extra) c->extra(state, &ex);
    }
    if (st == CLG_OK && b->opt.profile) profile_case(b, c, state);
    if (state && c->teardown) c->teardown(state);
    /* Leave the next case a drained queue and an empty pool. */
    clg_context_finish(b->ctx);
    clg_context_release_cached_memory(b->ctx);

    if (st == CLG_STATUS_UNSUPPORTED) {
        out = OUTCOME_SKIPPED;
        b->skipped++;
    } else if (st != CLG_OK) {
        out = OUTCOME_ERROR;
        b->failed++;
    } else {
        b->ok++;
        throughput = m.median_ms > 0 ? c->work / (1e-3 * m.median_ms) / unit_scale[c->unit] : NAN;
        /* The largest copy is the one least helped by caches: the memory's bound. */
        if (c->is_bound && c->unit == BENCH_GBPS && c->work >= b->bound_work) {
            b->bound_gbps = throughput;
            b->bound_work = c->work;
        }
    }
    if (b->opt.json) print_json(b, c, out, error, &m, throughput, &ex);
    else print_row(b, c, out, error, &m, throughput, &ex);
    return throughput;
}

/* --- command line ------------------------------------------------------------------ */

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: clgrad bench <suite> [flags]\n"
            "suites:\n");
    for (size_t i = 0; i < sizeof suites / sizeof *suites; i++)
        fprintf(f, "  %-8s %s\n", suites[i].name, suites[i].about);
    fprintf(f, "  %-8s %s\n", "all", "every suite above, in this order");
    fprintf(f,
            "flags:\n"
            "  --json           one JSON object per line (keys in bench/README.md)\n"
            "  --repeat N       exactly N timed runs (default: until 0.3 s and >= 5 runs, <= 200)\n"
            "  --warmup N       untimed runs before timing (default 2)\n"
            "  --filter TEXT    only cases whose name contains TEXT\n"
            "  --batch N        only model cases of batch size N\n"
            "  --mode MODE      only cases of this mode (fwd, bwd, train, infer)\n"
            "  --quick          fewer and smaller cases, shorter timing (CI smoke runs)\n"
            "  --list           print the cases without running them\n"
            "  --profile        also profile one run per case: device time per kernel\n"
            "  --devices SEL    models only: every case on each device SEL selects alone (as\n"
            "                   CLGRAD_DEVICES: all | gpu | cpu | P:D,... ), then on all of them\n"
            "                   together (one replica per device); the same clg_model_fit /\n"
            "                   clg_model_predict runs on synthetic data time each configuration;\n"
            "                   a last table gives efficiency = together / sum alone\n"
            "The device is chosen as everywhere (CLGRAD_DEVICE=P:D | name | gpu | cpu).\n");
}

/* Matches "--flag VALUE" or "--flag=VALUE"; returns 1 and sets *value (NULL if
 * missing) when argv[*i] is the flag. */
static int flag_value(int argc, char **argv, int *i, const char *flag, const char **value) {
    size_t len = strlen(flag);
    if (strncmp(argv[*i], flag, len) != 0) return 0;
    if (argv[*i][len] == '=') {
        *value = argv[*i] + len + 1;
        return 1;
    }
    if (argv[*i][len] != '\0') return 0;
    *value = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

static int parse_int(const char *flag, const char *text, int lo, int hi, int *out) {
    char *end;
    if (!text || !*text) {
        fprintf(stderr, "clgrad bench: %s needs a number\n", flag);
        return 0;
    }
    long v = strtol(text, &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "clgrad bench: %s '%s' is not a whole number in [%d, %d]\n", flag, text, lo, hi);
        return 0;
    }
    *out = (int)v;
    return 1;
}

/* --filter, --mode and --batch. */
static int selected_case(const bench_options *o, const bench_case *c) {
    return (!o->filter || strstr(c->name, o->filter)) && (!o->mode || strcmp(c->mode, o->mode) == 0) &&
           (!o->batch || c->batch == o->batch);
}

/* "0:0", or "0:0+0:1" for a context with several devices. */
static void devices_label(const clg_context *ctx, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < clg_context_device_count(ctx) && len < cap; i++) {
        const clg_device_info *d = clg_context_device_at(ctx, i);
        len += (size_t)snprintf(buf + len, cap - len, "%s%d:%d", i ? "+" : "", d->platform_index, d->device_index);
    }
}

/* Makes b->ctx from copts, after printing title (NULL: none) above the table.
 * Returns 0, or 1 when the context could not be made. */
static int open_context(bench *b, const clg_context_options *copts, const char *title) {
    if (title && !b->opt.json) printf("%s\n", title);
    b->ctx = clg_context_new(copts);
    if (!b->ctx) {
        fprintf(stderr, "clgrad bench: %s\n", clg_last_error());
        return 1;
    }
    b->dev = clg_context_device(b->ctx);
    devices_label(b->ctx, b->devices, sizeof b->devices);
    return 0;
}

/* Runs every selected case on b->ctx, then frees it. thr[i]: case i's
 * throughput (NULL: not kept); sum_alone[i]: what the row's efficiency
 * compares with (NULL: none). */
static void run_cases(bench *b, double *thr, const double *sum_alone) {
    const bench_options *o = &b->opt;
    if (!o->json) print_table_header(b);
    for (size_t i = 0; i < b->ncases; i++) {
        if (!selected_case(o, &b->cases[i])) continue;
        b->sum_alone = sum_alone ? sum_alone[i] : NAN;
        double t = run_case(b, &b->cases[i]);
        if (thr) thr[i] = t;
    }
    b->sum_alone = NAN;
    clg_context_free(b->ctx);
    b->ctx = NULL;
}

static void print_unit_value(double v, int width) {
    if (isfinite(v)) printf(" %*.1f", width, v);
    else printf(" %*s", width, "-");
}

/* The table after the configurations: per case the throughput alone on each
 * device, their sum, the throughput together and the efficiency. */
static void print_scaling(const bench *b, const clg_device_info *list, const size_t *sel, int nsel,
                          const double *thr, const double *sum) {
    printf("\nscaling with --devices %s: throughput alone on each device, their sum, all together;\n"
           "efficiency = together / sum alone (1.00: perfect scaling)\n", b->opt.devices);
    printf("%-16s %-5s %6s", "name", "mode", "batch");
    for (int k = 0; k < nsel; k++) {
        char head[32];
        snprintf(head, sizeof head, "%d:%d alone", list[sel[k]].platform_index, list[sel[k]].device_index);
        printf(" %12s", head);
    }
    printf(" %12s %12s %10s  %s\n", "sum alone", "together", "efficiency", "unit");
    for (size_t i = 0; i < b->ncases; i++) {
        const bench_case *c = &b->cases[i];
        if (!selected_case(&b->opt, c)) continue;
        printf("%-16s %-5s %6lld", c->name, c->mode, (long long)c->batch);
        for (int k = 0; k < nsel; k++) print_unit_value(thr[(size_t)k * b->ncases + i], 12);
        double together = thr[(size_t)nsel * b->ncases + i];
        print_unit_value(sum[i], 12);
        print_unit_value(together, 12);
        if (isfinite(together / sum[i])) printf(" %10.2f", together / sum[i]);
        else printf(" %10s", "-");
        printf("  %s\n", unit_names[c->unit]);
    }
}

/* --devices: every selected case on each device alone (options.device "P:D",
 * options.devices ""), then on all of them together (options.devices = the
 * selection), and a table of the scaling efficiency: throughput together /
 * sum of the throughputs alone. Returns the exit status (0 or 1). */
static int run_devices(bench *b, clg_context_options copts) {
    const bench_options *o = &b->opt;
    clg_device_info *list = NULL;
    size_t count = 0, nsel = 0;
    if (clg_devices_query(&list, &count) != CLG_OK) {
        fprintf(stderr, "clgrad bench: %s\n", clg_last_error());
        return 1;
    }
    size_t *sel = malloc((count ? count : 1) * sizeof *sel);
    double *thr = NULL, *sum = NULL;
    int rc = 0;
    if (!sel) {
        fprintf(stderr, "clgrad bench: out of host memory\n");
        rc = 1;
    } else if (clg_device_select_many(list, count, o->devices, sel, &nsel) != CLG_OK) {
        const char *why = clg_last_error(), *api = "clg_device_select_many: "; /* the flag names it */
        fprintf(stderr, "clgrad bench: --devices: %s\n", why + (strncmp(why, api, strlen(api)) ? 0 : strlen(api)));
        rc = 1;
    } else {
        thr = malloc((nsel + 1) * b->ncases * sizeof *thr);
        sum = malloc(b->ncases * sizeof *sum);
        if (!thr || !sum) {
            fprintf(stderr, "clgrad bench: out of host memory\n");
            rc = 1;
        }
    }
    const int nconf = (int)nsel + (nsel > 1); /* each alone, then together (one device: alone only) */
    for (size_t i = 0; rc == 0 && i < (nsel + 1) * b->ncases; i++) thr[i] = NAN;
    char title[512], pd[32];
    for (int k = 0; rc == 0 && k < (int)nsel; k++) {
        const clg_device_info *d = &list[sel[k]];
        snprintf(pd, sizeof pd, "%d:%d", d->platform_index, d->device_index);
        snprintf(title, sizeof title, "%s== configuration %d of %d: device %s alone ==", k ? "\n" : "", k + 1,
                 nconf, pd);
        copts.device = pd;
        copts.devices = "";
        if (open_context(b, &copts, title) != 0) rc = 1;
        else run_cases(b, thr + (size_t)k * b->ncases, NULL);
    }
    if (rc == 0 && nsel > 1) {
        snprintf(title, sizeof title, "\n== configuration %d of %d: --devices %s, all together ==", nconf, nconf,
                 o->devices);
        copts.device = NULL;
        copts.devices = o->devices;
        rc = open_context(b, &copts, title);
    }
    if (rc == 0 && nsel > 1) {
        /* Compare with the devices the context opened (one that failed to open
         * was left out with a warning): the sum of their throughputs alone. */
        int n = clg_context_device_count(b->ctx);
        if (n != (int)nsel && !o->json)
            printf("note: %d of the %zu selected devices opened; efficiency compares with those %d\n", n, nsel, n);
        for (size_t i = 0; i < b->ncases; i++) {
            sum[i] = 0;
            for (int j = 0; j < n; j++) {
                const clg_device_info *d = clg_context_device_at(b->ctx, j);
                double alone = NAN;
                for (size_t k = 0; k < nsel; k++)
                    if (list[sel[k]].platform_index == d->platform_index &&
                        list[sel[k]].device_index == d->device_index)
                        alone = thr[k * b->ncases + i];
                sum[i] += alone;
            }
        }
        run_cases(b, thr + nsel * b->ncases, sum);
        if (!o->json) print_scaling(b, list, sel, (int)nsel, thr, sum);
    }
    if (rc == 0 && nsel == 1 && !o->json)
        printf("\n--devices %s selects one device: nothing to scale\n", o->devices);
    free(sum);
    free(thr);
    free(sel);
    clg_devices_free(list);
    return rc;
}

/* Registers, selects and runs one suite with the options (quiet about an
 * empty selection when part of `all`). Returns the exit status. */
static int run_suite(const bench_options *opts, const suite_entry *entry, int in_all) {
    bench b;
    memset(&b, 0, sizeof b);
    b.opt = *opts;
    const bench_options *o = &b.opt;
    b.suite = entry->name;
    b.sum_alone = NAN;

    entry->registrar(&b);
    if (b.out_of_memory) {
        fprintf(stderr, "clgrad bench: out of host memory registering cases\n");
        free(b.cases);
        return 1;
    }
    size_t selected = 0;
    for (size_t i = 0; i < b.ncases; i++)
        if (selected_case(o, &b.cases[i])) selected++;
    if (selected == 0) {
        if (in_all) {
            free(b.cases);
            return 2;
        }
        fprintf(stderr, "clgrad bench: no case of suite '%s' matches --filter '%s'%s%s%s\n", b.suite,
                o->filter ? o->filter : "", o->mode ? ", --mode " : "", o->mode ? o->mode : "",
                o->batch ? " and --batch" : "");
        free(b.cases);
        return 2;
    }
    if (o->list) {
        for (size_t i = 0; i < b.ncases; i++) {
            const bench_case *c = &b.cases[i];
            if (!selected_case(o, c)) continue;
            printf("%s/%-16s %-5s %-26s %s\n", b.suite, c->name, c->mode, c->shape, unit_names[c->unit]);
        }
        free(b.cases);
        return 0;
    }

    clg_context_options copts = clg_context_options_default();
    copts.report_device = !o->json;
    copts.report_stream = stdout;
    if (o->profile) copts.profiling = 1;
    double t0 = bench_now_s();
    int rc;
    if (o->devices) rc = run_devices(&b, copts);
    else if ((rc = open_context(&b, &copts, NULL)) == 0) run_cases(&b, NULL, NULL);
    if (rc == 0 && !o->json) {
        printf("\npeak: GB/s rows as a share of the largest plain device copy (the bandwidth bound);\n"
               "      OpenCL reports no peak FLOP/s, so GFLOP/s rows say n/a.\n");
        printf("%d measured, %d skipped, %d failed in %.1f s\n", b.ok, b.skipped, b.failed,
               bench_now_s() - t0);
    }
    free(b.cases);
    if (b.failed) {
        fprintf(stderr, "clgrad bench: %d case(s) failed\n", b.failed);
        return 1;
    }
    return rc;
}

int bench_main(int argc, char **argv) {
    bench_options opt;
    memset(&opt, 0, sizeof opt);
    bench_options *o = &opt;
    o->warmup = 2;
    o->min_time_s = 0.3;
    o->min_runs = 5;
    o->max_runs = 200;
    const char *suite = NULL;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            bench_usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(a, "--list") == 0) {
            o->list = 1;
        } else if (strcmp(a, "--profile") == 0) {
            o->profile = 1;
        } else if (flag_value(argc, argv, &i, "--repeat", &v)) {
            if (!parse_int("--repeat", v, 1, 1000000, &o->repeat)) return 2;
        } else if (flag_value(argc, argv, &i, "--warmup", &v)) {
            if (!parse_int("--warmup", v, 0, 1000000, &o->warmup)) return 2;
        } else if (flag_value(argc, argv, &i, "--batch", &v)) {
            if (!parse_int("--batch", v, 1, 1 << 30, &o->batch)) return 2;
        } else if (flag_value(argc, argv, &i, "--mode", &v)) {
            if (!v) {
                fprintf(stderr, "clgrad bench: --mode needs a mode\n");
                return 2;
            }
            o->mode = v;
        } else if (flag_value(argc, argv, &i, "--devices", &v)) {
            if (!v || !*v) {
                fprintf(stderr, "clgrad bench: --devices needs a selection (all, gpu, cpu, P:D,...)\n");
                return 2;
            }
            o->devices = v;
        } else if (flag_value(argc, argv, &i, "--filter", &v)) {
            if (!v) {
                fprintf(stderr, "clgrad bench: --filter needs a text\n");
                return 2;
            }
            o->filter = v;
        } else if (a[0] == '-') {
            fprintf(stderr, "clgrad bench: unknown flag '%s'\n", a);
            bench_usage(stderr);
            return 2;
        } else if (suite) {
            fprintf(stderr, "clgrad bench: one suite at a time ('%s' and '%s')\n", suite, a);
            return 2;
        } else {
            suite = a;
        }
    }
    if (!suite) {
        fprintf(stderr, "clgrad bench: name a suite\n");
        bench_usage(stderr);
        return 2;
    }
    if (o->devices && strcmp(suite, "models") != 0) {
        fprintf(stderr, "clgrad bench: --devices applies to suite models only (several devices run only "
                        "through clg_model_fit, clg_model_evaluate and clg_model_predict)\n");
        return 2;
    }
    if (o->quick) { /* a smoke run: seconds, not minutes */
        o->min_time_s = 0.05;
        o->min_runs = 3;
    }
    if (strcmp(suite, "all") == 0) { /* every suite in turn; nothing selected in one is fine */
        int rc = 0, ran = 0;
        for (size_t i = 0; i < sizeof suites / sizeof *suites; i++) {
            int r = run_suite(o, &suites[i], 1);
            if (r == 2) continue;
            ran = 1;
            if (r > rc) rc = r;
        }
        if (!ran) fprintf(stderr, "clgrad bench: no case of any suite matches the filters\n");
        return ran ? rc : 2;
    }
    const suite_entry *entry = NULL;
    for (size_t i = 0; i < sizeof suites / sizeof *suites; i++)
        if (strcmp(suites[i].name, suite) == 0) entry = &suites[i];
    if (!entry) {
        fprintf(stderr, "clgrad bench: unknown suite '%s'\n", suite);
        bench_usage(stderr);
        return 2;
    }
    return run_suite(o, entry, 0);
}

/* ================================ suite: ops ================================ */

typedef enum op_kind {
    OP_COPY, OP_RELU, OP_EXP, OP_GELU, OP_ADD, OP_ADD_BCAST, OP_FUSED5,
    OP_SUM_ALL, OP_SUM_LAST, OP_MAX_AXIS0, OP_SOFTMAX, OP_MATMUL
} op_kind;

typedef struct op_state {
    op_kind kind;
    clg_tensor *in[3];
} op_state;

static void op_teardown(void *p) {
    op_state *s = p;
    for (int i = 0; i < 3; i++) clg_tensor_free(s->in[i]);
    free(s);
}

/* arg[0]: kind; arg[1], arg[2]: rows and columns of the first input (copy: arg[1]
 * elements; matmul: arg[1] = M = N = K). */
static void *op_setup(clg_context *ctx, const bench_case *c) {
    op_state *s = calloc(1, sizeof *s);
    if (!s) {
        bench_report_error(CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    s->kind = (op_kind)c->arg[0];
    int64_t rows = c->arg[1], cols = c->arg[2];
    int64_t full[2] = {rows, cols}, row[1] = {cols}, flat[1] = {rows}, square[2] = {rows, rows};
    int n = 1;
    int ndim = 2;
    const int64_t *shape = full;
    switch (s->kind) {
    case OP_COPY: ndim = 1; shape = flat; break;
    case OP_ADD: case OP_ADD_BCAST: n = 2; break;
    case OP_FUSED5: n = 3; break;
    case OP_MATMUL: n = 2; shape = square; break;
    default: break;
    }
    for (int i = 0; i < n; i++) {
        int last = s->kind == OP_ADD_BCAST && i == 1;
        s->in[i] = clg_tensor_rand_normal(ctx, last ? 1 : ndim, last ? row : shape, 0.0f, 1.0f, 2026,
                                          (uint64_t)i << 32);
        if (!s->in[i]) {
            op_teardown(s);
            return NULL;
        }
    }
    return s;
}

static clg_status op_run(void *p) {
    op_state *s = p;
    clg_tensor *x = s->in[0], *y = NULL;
    int axis;
    switch (s->kind) {
    case OP_COPY: y = clg_tensor_contiguous(x); break;
    case OP_RELU: y = clg_relu(x); break;
    case OP_EXP: y = clg_exp(x); break;
    case OP_GELU: y = clg_gelu(x); break;
    case OP_ADD: case OP_ADD_BCAST: y = clg_add(x, s->in[1]); break;
    case OP_FUSED5: { /* tanh(0.5 * relu(a * b + c)): five ops, one generated kernel */
        clg_tensor *t1 = clg_mul(x, s->in[1]);
        clg_tensor *t2 = t1 ? clg_add(t1, s->in[2]) : NULL;
        clg_tensor_free(t1);
        clg_tensor *t3 = t2 ? clg_relu(t2) : NULL;
        clg_tensor_free(t2);
        clg_tensor *t4 = t3 ? clg_mul_scalar(t3, 0.5f) : NULL;
        clg_tensor_free(t3);
        y = t4 ? clg_tanh(t4) : NULL;
        clg_tensor_free(t4);
        break;
    }
    case OP_SUM_ALL: y = clg_sum(x, 0, NULL, 0); break;
    case OP_SUM_LAST: axis = -1; y = clg_sum(x, 1, &axis, 0); break;
    case OP_MAX_AXIS0: axis = 0; y = clg_max(x, 1, &axis, 0); break;
    case OP_SOFTMAX: y = clg_softmax(x, -1); break;
    case OP_MATMUL: y = clg_matmul(x, s->in[1], 0, 0); break;
    }
    if (!y) return clg_last_status() != CLG_OK ? clg_last_status() : CLG_STATUS_INVALID_ARGUMENT;
    clg_status st = clg_tensor_eval(y);
    clg_tensor_free(y);
    return st;
}

/* shape_text: what the shape column says; NULL: the first input's shape. */
static void add_op(bench *b, const char *name, op_kind kind, bench_unit unit, double work,
                   int ndim, const int64_t *shape, const char *shape_text) {
    bench_case c = bench_case_init(name, "fwd", unit, work);
    c.arg[0] = kind;
    c.arg[1] = shape[0];
    c.arg[2] = ndim > 1 ? shape[1] : 0;
    c.is_bound = kind == OP_COPY;
    if (shape_text) snprintf(c.shape, sizeof c.shape, "%s", shape_text);
    else bench_shape(c.shape, sizeof c.shape, ndim, shape);
    c.setup = op_setup;
    c.run = op_run;
    c.teardown = op_teardown;
    bench_add(b, &c);
}

/* --- the MLP training step: 784 -> 128 -> relu -> 10, softmax cross-entropy, SGD --- */

enum { MLP_BATCH = 64, MLP_IN = 784, MLP_HIDDEN = 128, MLP_CLASSES = 10 };

typedef struct mlp_state {
    clg_context *ctx;
    clg_tensor *x, *labels;
    clg_tensor *param[4]; /* w1, b1, w2, b2 */
    clg_step *step;       /* the captured step (replay case) */
} mlp_state;

static void mlp_teardown(void *p) {
    mlp_state *s = p;
    clg_step_free(s->step);
    for (int i = 0; i < 4; i++) clg_tensor_free(s->param[i]);
    clg_tensor_free(s->x);
    clg_tensor_free(s->labels);
    free(s);
}

static clg_status last_failure(void) {
    return clg_last_status() != CLG_OK ? clg_last_status() : CLG_STATUS_INVALID_ARGUMENT;
}

/* Forward, backward and the SGD update w = w - 0.01 * grad (gradients dropped by
 * the caller before). */
static clg_status mlp_forward_backward_update(mlp_state *s) {
    clg_tensor *h = clg_linear(s->x, s->param[0], s->param[1]);
    clg_tensor *a = h ? clg_relu(h) : NULL;
    clg_tensor_free(h);
    clg_tensor *logits = a ? clg_linear(a, s->param[2], s->param[3]) : NULL;
    clg_tensor_free(a);
    clg_tensor *loss = logits ? clg_softmax_cross_entropy(logits, s->labels, 0.0f) : NULL;
    clg_tensor_free(logits);
    if (!loss) return last_failure();
    clg_status st = clg_backward(loss, NULL);
    clg_tensor_free(loss);
    int was = clg_grad_set_enabled(s->ctx, 0); /* the update is not part of any graph */
    for (int i = 0; st == CLG_OK && i < 4; i++) {
        const clg_tensor *g = clg_tensor_grad(s->param[i]);
        if (!g) {
            bench_report_error(CLG_STATUS_INVALID_ARGUMENT,
                               "mlp step: backward left a parameter without gradient");
            st = CLG_STATUS_INVALID_ARGUMENT;
            break;
        }
        clg_tensor *scaled = clg_mul_scalar(g, 0.01f);
        clg_tensor *updated = scaled ? clg_sub(s->param[i], scaled) : NULL;
        clg_tensor_free(scaled);
        st = updated ? clg_tensor_assign(s->param[i], updated) : last_failure();
        clg_tensor_free(updated);
    }
    clg_grad_set_enabled(s->ctx, was);
    return st;
}

static clg_status mlp_zero_grads(mlp_state *s) {
    clg_status st = CLG_OK;
    for (int i = 0; st == CLG_OK && i < 4; i++) st = clg_tensor_zero_grad(s->param[i]);
    return st;
}

static clg_status mlp_eager_run(void *p) {
    mlp_state *s = p;
    clg_status st = mlp_zero_grads(s);
    return st == CLG_OK ? mlp_forward_backward_update(s) : st;
}

static clg_status mlp_replay_run(void *p) { return clg_step_replay(((mlp_state *)p)->step); }

/* arg[0]: 1 to capture the step for replay. */
static void *mlp_setup(clg_context *ctx, const bench_case *c) {
    mlp_state *s = calloc(1, sizeof *s);
    if (!s) {
        bench_report_error(CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    s->ctx = ctx;
    int32_t labels[MLP_BATCH];
    for (int i = 0; i < MLP_BATCH; i++) labels[i] = (i * 7) % MLP_CLASSES;
    const int64_t xs[2] = {MLP_BATCH, MLP_IN}, ls[1] = {MLP_BATCH};
    const int64_t shapes[4][2] = {
        {MLP_IN, MLP_HIDDEN}, {MLP_HIDDEN, 0}, {MLP_HIDDEN, MLP_CLASSES}, {MLP_CLASSES, 0}};
    s->x = clg_tensor_rand_normal(ctx, 2, xs, 0.0f, 1.0f, 7, 0);
    s->labels = clg_tensor_from_host(ctx, CLG_INT32, 1, ls, labels);
    int ok = s->x && s->labels;
    for (int i = 0; ok && i < 4; i++) {
        s->param[i] = i % 2 == 0
                          ? clg_tensor_rand_normal(ctx, 2, shapes[i], 0.0f, 0.05f, 11, (uint64_t)i << 32)
                          : clg_tensor_zeros(ctx, CLG_FLOAT32, 1, shapes[i]);
        ok = s->param[i] && clg_tensor_set_requires_grad(s->param[i], 1) == CLG_OK;
    }
    if (ok && c->arg[0]) { /* capture one step (it runs once while being recorded) */
        ok = mlp_zero_grads(s) == CLG_OK && clg_step_capture_begin(ctx) == CLG_OK;
        if (ok) {
            clg_status st = mlp_forward_backward_update(s);
            char msg[512];
            if (st != CLG_OK) st = take_error(st, msg, sizeof msg);
            s->step = clg_step_capture_end(ctx);
            if (st != CLG_OK) { /* ending the capture may overwrite the first error */
                bench_report_error(st, msg);
                ok = 0;
            } else {
                ok = s->step != NULL;
            }
        }
    }
    if (!ok) {
        mlp_teardown(s);
        return NULL;
    }
    return s;
}

static void mlp_eager_extra(void *p, bench_extra *out) {
    (void)p;
    snprintf(out->note, sizeof out->note, "graph built every step");
}

static void mlp_replay_extra(void *p, bench_extra *out) {
    mlp_state *s = p;
    clg_step_info info = clg_step_get_info(s->step);
    char peak[32], owned[32];
    format_mib((int64_t)info.peak_bytes, peak, sizeof peak);
    format_mib((int64_t)info.owned_bytes, owned, sizeof owned);
    out->peak_mem_bytes = (int64_t)info.peak_bytes;
    snprintf(out->note, sizeof out->note,
             "peak mem %s; %llu commands, %llu buffers (%s), %llu allocs saved",
             peak, (unsigned long long)info.commands, (unsigned long long)info.buffers, owned,
             (unsigned long long)info.allocations_saved);
}

static void add_mlp(bench *b, const char *name, int replay) {
    bench_case c = bench_case_init(name, "train", BENCH_IMAGES, MLP_BATCH);
    const int64_t xs[2] = {MLP_BATCH, MLP_IN};
    bench_shape(c.shape, sizeof c.shape, 2, xs);
    c.batch = MLP_BATCH;
    c.arg[0] = replay;
    c.setup = mlp_setup;
    c.run = replay ? mlp_replay_run : mlp_eager_run;
    c.teardown = mlp_teardown;
    c.extra = replay ? mlp_replay_extra : mlp_eager_extra;
    bench_add(b, &c);
}

void bench_suite_ops(bench *b) {
    const int quick = bench_get_options(b)->quick;
    const double f4 = 4.0; /* bytes per float32 */
    char name[48], sh[32], text[64];

    /* The bandwidth bound: a plain device copy reads and writes every byte once. */
    const int64_t copy_sizes[3] = {(int64_t)1 << 20, (int64_t)1 << 22, (int64_t)1 << 24};
    for (int i = 0; i < (quick ? 1 : 3); i++) {
        snprintf(name, sizeof name, "copy_%lldM", (long long)(copy_sizes[i] >> 20));
        add_op(b, name, OP_COPY, BENCH_GBPS, 2 * f4 * (double)copy_sizes[i], 1, &copy_sizes[i], NULL);
    }

    /* Elementwise, each evaluated with clg_tensor_eval: inputs read once, output
     * written once (the fused chain is one kernel: three inputs, one output).
     * 16M elements move 128 MB or more: beyond the last-level cache (an H100's L2
     * is 50 MB), like copy_16M they are compared with. */
    const int64_t ew[2] = {quick ? 1024 : 16384, 1024};
    const double n = (double)(ew[0] * ew[1]);
    bench_shape(sh, sizeof sh, 2, ew);
    add_op(b, "relu", OP_RELU, BENCH_GBPS, 2 * f4 * n, 2, ew, NULL);
    add_op(b, "exp", OP_EXP, BENCH_GBPS, 2 * f4 * n, 2, ew, NULL);
    add_op(b, "gelu", OP_GELU, BENCH_GBPS, 2 * f4 * n, 2, ew, NULL);
    snprintf(text, sizeof text, "%s+%s", sh, sh);
    add_op(b, "add", OP_ADD, BENCH_GBPS, 3 * f4 * n, 2, ew, text);
    snprintf(text, sizeof text, "%s+[%lld]", sh, (long long)ew[1]);
    add_op(b, "add_bcast", OP_ADD_BCAST, BENCH_GBPS, f4 * (2 * n + (double)ew[1]), 2, ew, text);
    snprintf(text, sizeof text, "3x%s", sh);
    add_op(b, "fused5", OP_FUSED5, BENCH_GBPS, 4 * f4 * n, 2, ew, text);

    /* Reductions and softmax: the input read once, the result written once. */
    const int64_t wide[2] = {quick ? 1024 : 4096, quick ? 256 : 1024};
    const int64_t tall[2] = {quick ? 256 : 1024, quick ? 1024 : 4096};
    const double rn = (double)(wide[0] * wide[1]);
    add_op(b, "sum_all", OP_SUM_ALL, BENCH_GBPS, f4 * (rn + 1), 2, wide, NULL);
    add_op(b, "sum_axis1", OP_SUM_LAST, BENCH_GBPS, f4 * (rn + (double)wide[0]), 2, wide, NULL);
    add_op(b, "max_axis0", OP_MAX_AXIS0, BENCH_GBPS, f4 * (rn + (double)tall[1]), 2, tall, NULL);
    add_op(b, "softmax_axis1", OP_SOFTMAX, BENCH_GBPS, 2 * f4 * rn, 2, wide, NULL);

    /* GEMM through CLBlast: 2 M N K flops. */
    const int64_t mm[5] = {256, 512, 1024, 2048, 4096};
    for (int i = 0; i < (quick ? 2 : 5); i++) {
        int64_t sq[2] = {mm[i], mm[i]};
        snprintf(name, sizeof name, "matmul_%lld", (long long)mm[i]);
        bench_shape(sh, sizeof sh, 2, sq);
        snprintf(text, sizeof text, "%sx%s", sh, sh);
        add_op(b, name, OP_MATMUL, BENCH_GFLOPS, 2.0 * (double)mm[i] * (double)mm[i] * (double)mm[i],
               2, sq, text);
    }

    /* The engine: one training step, eager and captured-and-replayed. */
    add_mlp(b, "mlp_eager", 0);
    add_mlp(b, "mlp_replay", 1);
}
