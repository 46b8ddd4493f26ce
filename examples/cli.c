#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <clgrad/clgrad.h>

int cli_next(const char *prog, int argc, char **argv, int *i, const char *const *valued, size_t nvalued,
             const char *const *switches, size_t nswitches, const char **flag, const char **value) {
    const char *a = argv[*i];
    *flag = NULL, *value = NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) return CLI_HELP;
    for (size_t k = 0; k < nswitches; k++)
        if (!strcmp(a, switches[k])) {
            *flag = switches[k];
            return CLI_FLAG;
        }
    for (size_t k = 0; k < nvalued; k++) {
        size_t n = strlen(valued[k]);
        if (!strcmp(a, valued[k])) {
            if (*i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", prog, valued[k]);
                return CLI_BAD;
            }
            *flag = valued[k], *value = argv[++*i];
            return CLI_FLAG;
        }
        if (!strncmp(a, valued[k], n) && a[n] == '=') {
            *flag = valued[k], *value = a + n + 1;
            return CLI_FLAG;
        }
    }
    fprintf(stderr, "%s: unknown option '%s' (try -h)\n", prog, a);
    return CLI_BAD;
}

int cli_int(const char *prog, const char *flag, const char *text, long long lo, long long hi, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "%s: %s needs a whole number in [%lld, %lld], got '%s'\n", prog, flag, lo, hi,
                text ? text : "");
        return 0;
    }
    *out = v;
    return 1;
}

int cli_fail(const char *prog, const char *what) {
    fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, clg_last_error(), clg_status_name(clg_last_status()));
    return 1;
}

clg_context *cli_context(const char *prog) {
    clg_context_options o = clg_context_options_default();
    o.report_device = 1; /* prints the device chosen (CLGRAD_DEVICE picks another) */
    o.report_stream = stdout;
    clg_context *ctx = clg_context_new(&o);
    if (!ctx) cli_fail(prog, "no device");
    return ctx;
}

int cli_out_of_memory(const char *prog, const char *what) {
    fprintf(stderr, "%s: out of host memory (%s)\n", prog, what);
    return 1;
}

double cli_now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double cli_print_epoch_times(const clg_history *h) {
    double total = 0;
    printf("Time per epoch:");
    for (int e = 0; e < h->epochs; e++) {
        printf(" %.1f s", h->seconds[e]);
        total += h->seconds[e];
    }
    printf("  (mean %.1f s, total %.1f s)\n", h->epochs ? total / h->epochs : 0.0, total);
    return total;
}

uint64_t cli_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double cli_rng_open01(uint64_t *state) {
    return ((double)(cli_rng_next(state) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

int cli_load_fashion_mnist(const char *prog, const char *split, float **x, int32_t **y, int64_t *n) {
    char ip[512], lp[512];
    snprintf(ip, sizeof ip, "/usr/share/datasets/fashion-mnist/%s-images-idx3-ubyte.gz", split);
    snprintf(lp, sizeof lp, "/usr/share/datasets/fashion-mnist/%s-labels-idx1-ubyte.gz", split);
    clg_idx *xi = NULL, *yi = NULL;
    *x = NULL, *y = NULL;
    int ok = clg_idx_read(ip, &xi) == CLG_OK && clg_idx_read(lp, &yi) == CLG_OK && xi->rank == 3 &&
             xi->dims[1] == 28 && xi->dims[2] == 28 && yi->rank == 1 && yi->dims[0] == xi->dims[0];
    if (ok) {
        *n = xi->dims[0];
        *x = malloc((size_t)xi->count * sizeof **x);
        *y = malloc((size_t)yi->count * sizeof **y);
        ok = *x && *y && clg_idx_to_float32(xi, 1.0 / 255, *x, xi->count) == CLG_OK &&
             clg_idx_to_int32(yi, *y, yi->count) == CLG_OK;
    }
    if (!ok) {
        fprintf(stderr, "%s: reading %s: %s (scripts/setup.sh installs dataset-fashion-mnist)\n", prog, ip,
                clg_last_error());
        free(*x), free(*y);
        *x = NULL, *y = NULL;
    }
    clg_idx_free(xi), clg_idx_free(yi);
    return ok;
}
