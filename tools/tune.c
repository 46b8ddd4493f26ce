/* `clgrad tune`: first the work-group size of clgrad's own one-dimensional
 * kernels (elementwise and the like), measured per device; then CLBlast's
 * float32 GEMM kernel (Xgemm) for the chosen
 * device with CLBlast's own tuner (clblast_tuner_xgemm, Debian's
 * clblast-utils) and keeps the best parameters in the per-device store, where
 * every later context on that device and driver finds them
 * (CLG_STORE_CLBLAST_XGEMM; applied before the first CLBlast GEMM).
 *
 * The tuner's first phase measures a fixed set of 578 configurations; its
 * later phases draw random ones. It runs under a time budget (default 540 s, so
 * a run stays under 10 minutes on a 2-core PoCL machine) and stops there; the
 * result of the last finished phase is used. Before and after, the command
 * measures CLBlast's whole GEMM routine at the tuning size and keeps the
 * parameters only if they made it faster (the tuner times the Xgemm kernel
 * alone, without the routine's copy and padding kernels). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgrad/clgrad.h"
#include "bench.h"
#include "tune.h"

/* GFLOP/s of CLBlast's n^3 GEMM on a fresh context of the chosen device (the
 * store's parameters, if any, apply from its first GEMM): median of 5 runs after
 * 2 warm-up runs; <= 0 on failure (message printed). */
static double clblast_gflops(int n) {
    setenv("CLGRAD_GEMM", "clblast", 1);
    clg_context *ctx = clg_context_new(NULL);
    double t[5], r = -1;
    if (!ctx) goto done;
    const int64_t shape[2] = {n, n};
    clg_tensor *a = clg_tensor_rand_uniform(ctx, 2, shape, -1, 1, 1, 0);
    clg_tensor *b = clg_tensor_rand_uniform(ctx, 2, shape, -1, 1, 2, 0);
    clg_status st = a && b ? CLG_OK : clg_last_status();
    for (int i = 0; st == CLG_OK && i < 7; i++) {
        double t0 = bench_now_s();
        clg_tensor *c = clg_matmul(a, b, 0, 0);
        st = c ? clg_tensor_eval(c) : clg_last_status();
        if (st == CLG_OK) st = clg_context_finish(ctx);
        clg_tensor_free(c);
        if (i >= 2) t[i - 2] = bench_now_s() - t0;
    }
    if (st == CLG_OK) r = 2.0 * n * (double)n * n / bench_median(t, 5) * 1e-9;
    clg_tensor_free(a);
    clg_tensor_free(b);
done:
    if (r <= 0) fprintf(stderr, "clgrad tune: measuring CLBlast's GEMM: %s\n", clg_last_error());
    clg_context_free(ctx);
    unsetenv("CLGRAD_GEMM");
    return r;
}

/* Median ms of an elementwise workload (relu of a [4096, 1024] tensor, and an
 * add broadcasting [1024] over it: loop-free kernels, the kind 1-D launches
 * run) on a fresh context of the chosen device whose store says local size
 * `local` (0: the default); < 0 on failure. */
static double elementwise_ms(size_t local) {
    clg_context *ctx = clg_context_new(NULL);
    if (!ctx) return -1;
    char v[32];
    snprintf(v, sizeof v, "%zu", local);
    clg_status st = clg_store_set(ctx, CLG_STORE_LOCAL_1D, local ? v : "");
    clg_context_free(ctx);
    ctx = st == CLG_OK ? clg_context_new(NULL) : NULL; /* reads the size when made */
    double t[5], r = -1;
    clg_tensor *x = NULL, *b = NULL;
    if (!ctx) goto done;
    x = clg_tensor_rand_uniform(ctx, 2, (int64_t[]){4096, 1024}, -1, 1, 1, 0);
    b = clg_tensor_rand_uniform(ctx, 1, (int64_t[]){1024}, -1, 1, 2, 0);
    st = x && b ? CLG_OK : clg_last_status();
    for (int i = 0; st == CLG_OK && i < 7; i++) {
        double t0 = bench_now_s();
        clg_tensor *y = clg_relu(x), *z = y ? clg_add(y, b) : NULL;
        st = y && z ? clg_tensor_eval(y) : clg_last_status();
        if (st == CLG_OK) st = clg_tensor_eval(z);
        if (st == CLG_OK) st = clg_context_finish(ctx);
        clg_tensor_free(y), clg_tensor_free(z);
        if (i >= 2) t[i - 2] = bench_now_s() - t0;
    }
    if (st == CLG_OK) r = 1e3 * bench_median(t, 5);
done:
    if (r < 0) fprintf(stderr, "clgrad tune: measuring elementwise kernels: %s\n", clg_last_error());
    clg_tensor_free(x), clg_tensor_free(b);
    clg_context_free(ctx);
    return r;
}

/* clgrad's own 1-D launches: the work-group size with the fastest elementwise
 * workload, kept (CLG_STORE_LOCAL_1D) only if it beats the default 64 by 3%. */
static int tune_local(size_t max_local) {
    double base = elementwise_ms(0), best = base;
    size_t best_local = 0;
    if (base < 0) return 1;
    printf("work-group size of clgrad's 1-D kernels (relu + broadcast add, [4096,1024]):\n");
    printf("  default 64: %.3f ms\n", base);
    for (size_t l = 16; l <= 1024 && l <= max_local; l *= 2) {
        if (l == 64) continue;
        double ms = elementwise_ms(l);
        if (ms < 0) return 1;
        printf("  %zu: %.3f ms\n", l, ms);
        if (ms < best) best = ms, best_local = l;
    }
    int keep = best_local && best < 0.97 * base;
    clg_context *ctx = clg_context_new(NULL);
    char v[32];
    snprintf(v, sizeof v, "%zu", best_local);
    clg_status st = ctx ? clg_store_set(ctx, CLG_STORE_LOCAL_1D, keep ? v : "") : clg_last_status();
    clg_context_free(ctx);
    if (st != CLG_OK) {
        fprintf(stderr, "clgrad tune: %s\n", clg_last_error());
        return 1;
    }
    if (keep) printf("  kept %zu (key %s)\n", best_local, CLG_STORE_LOCAL_1D);
    else printf("  kept the default: nothing was 3%% faster\n");
    return 0;
}

/* The tuner's best parameters from its JSON file, without PRECISION, into out:
 * 0 on success. The file is CLBlast's ("best_parameters": "GEMMK=0 KREG=1 ..."). */
static int read_best(const char *path, char *out, size_t cap, double *best_ms) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char *text = malloc(1 << 20);
    size_t len = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!text) return -1;
    text[len] = '\0';
    int rc = -1;
    const char *p = strstr(text, "\"best_parameters\": \""), *t = strstr(text, "\"best_time\": \"");
    if (p) {
        p += strlen("\"best_parameters\": \"");
        const char *end = strchr(p, '"');
        size_t used = 0;
        out[0] = '\0';
        while (end && p < end) { /* tokens NAME=VALUE, separated by spaces */
            const char *q = p;
            while (q < end && *q != ' ') q++;
            size_t tl = (size_t)(q - p);
            if (tl && strncmp(p, "PRECISION=", 10) != 0 && memchr(p, '=', tl) && used + tl + 2 < cap) {
                used += (size_t)snprintf(out + used, cap - used, "%s%.*s", used ? " " : "", (int)tl, p);
            }
            p = q + (q < end);
        }
        rc = used ? 0 : -1;
    }
    *best_ms = t ? atof(t + strlen("\"best_time\": \"")) : 0;
    free(text);
    return rc;
}

static void tune_usage(FILE *f) {
    fprintf(f,
            "usage: clgrad tune [--budget SECONDS] [--size N] [--reset]\n"
            "  Tunes CLBlast's float32 GEMM for the device CLGRAD_DEVICE selects with\n"
            "  clblast_tuner_xgemm (Debian package clblast-utils) and stores the best\n"
            "  parameters in the per-device store; clgrad applies them from then on.\n"
            "  --budget S   stop the tuner after S seconds (default 540)\n"
            "  --size N     tune and measure at N x N x N (default 512; smaller products\n"
            "               take CLBlast's direct kernel, which this does not tune)\n"
            "  --reset      forget stored parameters (the defaults again)\n"
            "  First it times clgrad's own 1-D kernels at work-group sizes 16..1024 and\n"
            "  keeps the fastest if it beats the default 64 by 3%%.\n");
}

int tune_main(int argc, char **argv) {
    int budget = 540, size = 512, reset = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            tune_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--reset")) {
            reset = 1;
        } else if ((!strcmp(argv[i], "--budget") || !strcmp(argv[i], "--size")) && i + 1 < argc) {
            char *end;
            long v = strtol(argv[i + 1], &end, 10);
            if (*end || v < 1 || v > 100000) {
                fprintf(stderr, "clgrad tune: %s '%s' is not a whole number in [1, 100000]\n", argv[i], argv[i + 1]);
                return 2;
            }
            if (!strcmp(argv[i], "--budget")) budget = (int)v;
            else size = (int)v;
            i++;
        } else {
            fprintf(stderr, "clgrad tune: unknown argument '%s'\n", argv[i]);
            tune_usage(stderr);
            return 2;
        }
    }
    clg_context_options o = clg_context_options_default();
    o.report_device = 1;
    o.report_stream = stdout;
    clg_context *ctx = clg_context_new(&o);
    if (!ctx) {
        fprintf(stderr, "clgrad tune: %s\n", clg_last_error());
        return 1;
    }
    const clg_device_info *d = clg_context_device(ctx);
    int plat = d->platform_index, dev = d->device_index;
    size_t max_local = (size_t)clg_context_get_limits(ctx).max_work_group_size;
    if (reset) {
        int rc = clg_store_set(ctx, CLG_STORE_CLBLAST_XGEMM, "") == CLG_OK &&
                         clg_store_set(ctx, CLG_STORE_LOCAL_1D, "") == CLG_OK
                     ? 0
                     : 1;
        if (rc) fprintf(stderr, "clgrad tune: %s\n", clg_last_error());
        else printf("stored parameters forgotten: the defaults apply\n");
        clg_context_free(ctx);
        return rc;
    }
    clg_context_free(ctx);

    if (tune_local(max_local) != 0) return 1;
    if (system("command -v clblast_tuner_xgemm > /dev/null 2>&1") != 0) {
        fprintf(stderr, "clgrad tune: clblast_tuner_xgemm not found: install Debian's clblast-utils "
                        "(scripts/setup.sh does)\n");
        return 1;
    }
    double before = clblast_gflops(size);
    char dir[] = "/tmp/clgrad-tune-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("clgrad tune: making a temporary directory");
        return 1;
    }
    char cmd[1024], json[512], log[512];
    snprintf(json, sizeof json, "%s/clblast_xgemm_1_32.json", dir);
    snprintf(log, sizeof log, "%s/tuner.log", dir);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && timeout %d clblast_tuner_xgemm -platform %d -device %d -precision 32 -m %d -n %d -k %d "
             "-runs 1 -fraction 0.02 > tuner.log 2>&1",
             dir, budget, plat, dev, size, size, size);
    printf("running CLBlast's tuner for at most %d s (%s)\n", budget, log);
    fflush(stdout);
    double t0 = bench_now_s();
    int status = system(cmd);
    char params[1024];
    double best_ms = 0;
    int found = read_best(json, params, sizeof params, &best_ms) == 0;
    printf("tuner %s after %.0f s\n", status == 0 ? "finished" : "stopped", bench_now_s() - t0);
    int rc = 1;
    if (!found) {
        fprintf(stderr, "clgrad tune: the tuner wrote no result (see %s; a larger --budget lets its first "
                        "phase finish)\n", log);
    } else if (!(ctx = clg_context_new(NULL)) || clg_store_set(ctx, CLG_STORE_CLBLAST_XGEMM, params) != CLG_OK) {
        fprintf(stderr, "clgrad tune: storing the parameters: %s\n", clg_last_error());
    } else {
        double after = clblast_gflops(size);
        printf("best: %s (%.2f ms in the tuner)\n", params, best_ms);
        printf("CLBlast GEMM %d^3: %.1f GFLOP/s before, %.1f GFLOP/s with the tuner's best\n", size, before, after);
        if (after > before) {
            printf("stored for this device and driver (key %s); 'clgrad tune --reset' forgets them\n",
                   CLG_STORE_CLBLAST_XGEMM);
            rc = 0;
        } else if (clg_store_set(ctx, CLG_STORE_CLBLAST_XGEMM, "") != CLG_OK) {
            fprintf(stderr, "clgrad tune: %s\n", clg_last_error());
        } else {
            /* the tuner times the Xgemm kernel alone; the routine adds copies and padding */
            printf("not kept: no faster than before in the whole GEMM routine; CLBlast's defaults stay\n");
            rc = 0;
        }
    }
    clg_context_free(ctx);
    remove(json);
    if (rc == 0) remove(log), remove(dir); /* a failure keeps the log to read */
    return rc;
}
