/* `clgrad bench conv`: convolution layers of well-known networks, forward and
 * forward+backward, per algorithm, and a sweep of kernel sizes (where FFT
 * convolution would overtake im2col). An algorithm a shape cannot use is a
 * "skipped" row with the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct conv_state {
    clg_context *ctx;
    clg_tensor *x, *w, *seed;
    clg_conv2d_params p;
    int backward;
} conv_state;

/* arg[0]: N, arg[1]: C, arg[2]: H (= W), arg[3]: packed O | K << 16 | stride << 24 |
 * groups_is_depthwise << 28 | backward << 29 | algo << 30 | same << 32. */
enum { F_DEPTHWISE = 28, F_BACKWARD = 29, F_ALGO = 30, F_SAME = 32 };

static void conv_teardown(void *p) {
    conv_state *s = p;
    if (!s) return;
    clg_tensor_free(s->x);
    clg_tensor_free(s->w);
    clg_tensor_free(s->seed);
    free(s);
}

static void *conv_setup(clg_context *ctx, const bench_case *c) {
    conv_state *s = calloc(1, sizeof *s);
    if (!s) {
        bench_report_error(CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    int64_t n = c->arg[0], ch = c->arg[1], hw = c->arg[2], packed = c->arg[3];
    int64_t o = packed & 0xffff, k = (packed >> 16) & 0xff, stride = (packed >> 24) & 0xf;
    int depthwise = (packed >> F_DEPTHWISE) & 1;
    s->ctx = ctx;
    s->backward = (packed >> F_BACKWARD) & 1;
    s->p = clg_conv2d_params_default();
    s->p.stride[0] = s->p.stride[1] = (int)stride;
    s->p.padding = (packed >> F_SAME) & 1 ? CLG_PADDING_SAME : CLG_PADDING_VALID;
    s->p.groups = depthwise ? (int)ch : 1;
    s->p.algo = (clg_conv_algo)((packed >> F_ALGO) & 3);
    int64_t xs[4] = {n, ch, hw, hw}, ws[4] = {o, depthwise ? 1 : ch, k, k};
    s->x = clg_tensor_rand_normal(ctx, 4, xs, 0, 1, 1, 0);
    s->w = clg_tensor_rand_normal(ctx, 4, ws, 0, 0.1f, 2, 0);
    if (!s->x || !s->w) {
        conv_teardown(s);
        return NULL;
    }
    if (s->backward) {
        clg_tensor_set_requires_grad(s->x, 1);
        clg_tensor_set_requires_grad(s->w, 1);
        /* The output's shape, for the seed gradient: one forward (also checks the
         * algorithm can serve the shape at all). */
        clg_tensor *y = clg_conv2d(s->x, s->w, NULL, &s->p);
        if (!y) {
            conv_teardown(s);
            return NULL;
        }
        s->seed = clg_tensor_ones(ctx, CLG_FLOAT32, clg_tensor_ndim(y), clg_tensor_shape(y));
        clg_tensor_free(y);
        if (!s->seed) {
            conv_teardown(s);
            return NULL;
        }
    }
    return s;
}

static clg_status conv_run(void *p) {
    conv_state *s = p;
    clg_tensor *y = clg_conv2d(s->x, s->w, NULL, &s->p);
    if (!y) return clg_last_status();
    clg_status st;
    if (s->backward) {
        st = clg_backward(y, s->seed);
        clg_tensor_zero_grad(s->x);
        clg_tensor_zero_grad(s->w);
    } else {
        st = clg_tensor_eval(y);
    }
    clg_tensor_free(y);
    return st;
}

static void add_conv(bench *b, const char *layer, int64_t n, int64_t c, int64_t hw, int64_t o,
                     int64_t k, int64_t stride, int same, int depthwise, int backward,
                     clg_conv_algo algo) {
    int64_t pad_total = same ? k - 1 : 0;
    int64_t out = same ? (hw + stride - 1) / stride : (hw + pad_total - k) / stride + 1;
    double flops = 2.0 * (double)n * (double)o * (double)out * (double)out * (double)k * (double)k *
                   (double)(depthwise ? 1 : c);
    char name[48];
    snprintf(name, sizeof name, "%s_b%lld_%s%s", layer, (long long)n,
             algo == CLG_CONV_FFT ? "fft" : "im2col", backward ? "_bwd" : "");
    /* Backward: forward plus the data and weight gradients, about 3x the flops. */
    bench_case cs = bench_case_init(name, backward ? "bwd" : "fwd", BENCH_GFLOPS,
                                    backward ? 3 * flops : flops);
    snprintf(cs.shape, sizeof cs.shape, "[%lld,%lld,%lld,%lld]*%lldx%lld/%lld%s", (long long)n,
             (long long)c, (long long)hw, (long long)hw, (long long)k, (long long)k, (long long)stride,
             depthwise ? "dw" : "");
    cs.arg[0] = n;
    cs.arg[1] = c;
    cs.arg[2] = hw;
    cs.arg[3] = o | k << 16 | stride << 24 | (int64_t)depthwise << F_DEPTHWISE |
                (int64_t)backward << F_BACKWARD | (int64_t)algo << F_ALGO | (int64_t)same << F_SAME;
    cs.setup = conv_setup;
    cs.run = conv_run;
    cs.teardown = conv_teardown;
    bench_add(b, &cs);
}

void bench_suite_conv(bench *b) {
    const int quick = bench_get_options(b)->quick;
    /* Layers: name, C, H=W, O, K, stride, same, depthwise. */
    static const struct {
        const char *name;
        int64_t c, hw, o, k, stride;
        int same, depthwise;
    } layers[] = {
        {"seed_cnn", 1, 28, 32, 3, 1, 0, 0},    /* the Fashion-MNIST example's conv */
        {"lenet_c1", 1, 32, 6, 5, 1, 0, 0},     {"lenet_c3", 6, 14, 16, 5, 1, 0, 0},
        {"vgg16_c2_1", 64, 56, 128, 3, 1, 1, 0}, {"resnet18_l2", 128, 28, 128, 3, 1, 1, 0},
        {"conv1x1", 256, 14, 64, 1, 1, 0, 0},   {"depthwise3x3", 64, 56, 64, 3, 1, 1, 1},
        {"stem7x7", 3, 224, 64, 7, 2, 1, 0},
    };
    const int64_t batches[2] = {16, 64};
    const clg_conv_algo algos[2] = {CLG_CONV_IM2COL, CLG_CONV_FFT};
    for (size_t l = 0; l < sizeof layers / sizeof *layers; l++) {
        for (int bi = 0; bi < (quick ? 1 : 2); bi++) {
            int64_t n = quick ? 2 : batches[bi];
            for (int a = 0; a < 2; a++)
                for (int bw = 0; bw < 2; bw++)
                    add_conv(b, layers[l].name, n, layers[l].c, quick ? (layers[l].hw > 28 ? 28 : layers[l].hw) : layers[l].hw,
                             layers[l].o, layers[l].k, layers[l].stride, layers[l].same,
                             layers[l].depthwise, bw, algos[a]);
        }
    }
    /* Kernel-size sweep at stride 1, 'same': im2col work grows with K^2, FFT's
     * barely; the crossing shows where FFT should be chosen. */
    for (int64_t k = 3; k <= (quick ? 5 : 11); k += 2) {
        char name[32];
        snprintf(name, sizeof name, "sweep_k%lld", (long long)k);
        for (int a = 0; a < 2; a++) add_conv(b, name, quick ? 2 : 16, 16, 32, 16, k, 1, 1, 0, 0, algos[a]);
    }
}
