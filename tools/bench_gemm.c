/* `clgrad bench gemm`: square float32 matrix products C = A B through clg_matmul,
 * per size twice: once with CLBlast forced (CLGRAD_GEMM=clblast, the library
 * exactly as matmul.c calls it) and once with the implementation CLGRAD_GEMM
 * chooses as the user set it (unset: clgrad's own kernel on CPU-type devices,
 * CLBlast elsewhere). Both rows of a size run back to back in one process, so on
 * a shared machine their ratio is the figure to compare. The backward pass's
 * products (A^T B, A B^T) are measured at 1024. */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* CLGRAD_GEMM as the user set it when the suite was registered ("" if unset). */
static char user_choice[32];
static int user_choice_set;

typedef struct gemm_state {
    clg_context *ctx;
    clg_tensor *a, *b;
    int ta, tb, clblast;
    char choice[48]; /* what the default row ran */
} gemm_state;

static void gemm_teardown(void *p) {
    gemm_state *s = p;
    if (!s) return;
    clg_tensor_free(s->a);
    clg_tensor_free(s->b);
    free(s);
}

/* Sets CLGRAD_GEMM for one run: "clblast" or the user's value (restored after). */
static void apply_choice(int clblast) {
    if (clblast) setenv("CLGRAD_GEMM", "clblast", 1);
    else if (user_choice_set) setenv("CLGRAD_GEMM", user_choice, 1);
    else unsetenv("CLGRAD_GEMM");
}

/* arg[0]: n (M = N = K); arg[1]: trans_a | trans_b << 1; arg[2]: 1 for the CLBlast row. */
static void *gemm_setup(clg_context *ctx, const bench_case *c) {
    gemm_state *s = calloc(1, sizeof *s);
    if (!s) {
        bench_report_error(CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    int64_t n = c->arg[0];
    const int64_t shape[2] = {n, n};
    s->ctx = ctx;
    s->ta = (int)(c->arg[1] & 1);
    s->tb = (int)(c->arg[1] >> 1 & 1);
    s->clblast = (int)c->arg[2];
    s->a = clg_tensor_rand_normal(ctx, 2, shape, 0.0f, 1.0f, 2026, 0);
    s->b = clg_tensor_rand_normal(ctx, 2, shape, 0.0f, 1.0f, 2026, (uint64_t)1 << 32);
    if (!s->a || !s->b) {
        gemm_teardown(s);
        return NULL;
    }
    const char *v = user_choice_set ? user_choice : "auto";
    int own = strcmp(v, "own") == 0 ||
              (strcmp(v, "auto") == 0 && clg_context_device(ctx)->type == CLG_DEVICE_TYPE_CPU);
    snprintf(s->choice, sizeof s->choice, "CLGRAD_GEMM=%s: %s", v,
             strcmp(v, "clblast") == 0 ? "CLBlast" : own ? "own kernel" : "CLBlast");
    return s;
}

static clg_status gemm_run(void *p) {
    gemm_state *s = p;
    apply_choice(s->clblast);
    clg_tensor *y = clg_matmul(s->a, s->b, s->ta, s->tb);
    apply_choice(0);
    if (!y) return clg_last_status() != CLG_OK ? clg_last_status() : CLG_STATUS_INVALID_ARGUMENT;
    clg_status st = clg_tensor_eval(y);
    clg_tensor_free(y);
    return st;
}

static void gemm_extra(void *p, bench_extra *out) {
    gemm_state *s = p;
    if (s->clblast) snprintf(out->note, sizeof out->note, "CLBlast (CLGRAD_GEMM=clblast)");
    else snprintf(out->note, sizeof out->note, "%s", s->choice);
}

static void add_gemm(bench *b, int64_t n, int trans, int clblast) {
    static const char *const tnames[4] = {"nn", "tn", "nt", "tt"};
    char name[48], sh[32];
    snprintf(name, sizeof name, "gemm_%s_%lld%s", tnames[trans], (long long)n,
             clblast ? "_clblast" : "");
    bench_case c = bench_case_init(name, "fwd", BENCH_GFLOPS, 2.0 * (double)n * (double)n * (double)n);
    const int64_t sq[2] = {n, n};
    bench_shape(sh, sizeof sh, 2, sq);
    snprintf(c.shape, sizeof c.shape, "%s%sx%s%s", sh, trans & 1 ? "^T" : "", sh,
             trans & 2 ? "^T" : "");
    c.arg[0] = n;
    c.arg[1] = trans;
    c.arg[2] = clblast;
    c.setup = gemm_setup;
    c.run = gemm_run;
    c.teardown = gemm_teardown;
    c.extra = gemm_extra;
    bench_add(b, &c);
}

void bench_suite_gemm(bench *b) {
    const int quick = bench_get_options(b)->quick;
    const char *env = getenv("CLGRAD_GEMM");
    user_choice_set = env && *env;
    snprintf(user_choice, sizeof user_choice, "%s", user_choice_set ? env : "");
    static const int64_t sizes[] = {256, 512, 1024, 2048, 4096};
    static const int64_t quick_sizes[] = {64, 200};
    const int64_t *list = quick ? quick_sizes : sizes;
    size_t count = quick ? 2 : sizeof sizes / sizeof *sizes;
    for (size_t i = 0; i < count; i++) {
        add_gemm(b, list[i], 0, 1);
        add_gemm(b, list[i], 0, 0);
    }
    /* The backward pass's products dB = A^T G and dA = G B^T. */
    const int64_t nb = quick ? 96 : 1024;
    for (int trans = 1; trans <= 2; trans++) {
        add_gemm(b, nb, trans, 1);
        add_gemm(b, nb, trans, 0);
    }
}
