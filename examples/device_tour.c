/* A first computation on the device: draw normal random numbers with the
 * counter-based generator, read them back, check their statistics, and look at
 * a transposed view without copying.
 *
 *   CLGRAD_DEVICE=gpu ./device_tour [count]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <clgrad/clgrad.h>

static double now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "device_tour: %s (%s)\n", clg_last_error(),               \
                    clg_status_name(clg_last_status()));                              \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

int main(int argc, char **argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : (int64_t)1 << 22;
    if (n <= 0) {
        fprintf(stderr, "usage: device_tour [count > 0]\n");
        return 2;
    }
    clg_context_options opts = clg_context_options_default();
    opts.report_device = 1;
    clg_context *ctx = clg_context_new(&opts);
    CHECK(ctx);

    double t0 = now();
    clg_tensor *x = clg_tensor_rand_normal(ctx, 1, &n, 0.0f, 1.0f, 2026, 0);
    CHECK(x);
    float *host = malloc((size_t)n * sizeof *host);
    CHECK(host);
    CHECK(clg_tensor_to_host(x, host, (size_t)n * sizeof *host) == CLG_OK);
    double t1 = now();
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += host[i];
        sq += (double)host[i] * host[i];
    }
    double mean = sum / (double)n, var = sq / (double)n - mean * mean;
    printf("drew %lld normal numbers on the device and read them back in %.1f ms\n", (long long)n,
           1e3 * (t1 - t0));
    printf("mean %+.4f (expect 0), stddev %.4f (expect 1)\n", mean, sqrt(var));

    int64_t shape[2] = {2, 3};
    float m[6] = {1, 2, 3, 4, 5, 6};
    clg_tensor *a = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, m);
    CHECK(a);
    clg_tensor *at = clg_tensor_transpose(a, 0, 1);
    CHECK(at);
    printf("a transposed view of a 2x3 matrix, gathered on the device:\n");
    CHECK(clg_tensor_print(at, stdout, 0) == CLG_OK);

    clg_context_stats s = clg_context_get_stats(ctx);
    printf("programs: %llu compiled, %llu from the disk cache (%s)\n",
           (unsigned long long)s.programs_built, (unsigned long long)s.programs_from_disk,
           clg_context_cache_dir(ctx));
    int ok = fabs(mean) < 0.05 && fabs(sqrt(var) - 1) < 0.05;
    free(host);
    clg_tensor_free(at);
    clg_tensor_free(a);
    clg_tensor_free(x);
    clg_context_free(ctx);
    return ok ? 0 : 1;
}
