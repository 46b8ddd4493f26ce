/* Keras-style Sequential models: layers with shape inference, compile, fit with a
 * captured training step, evaluate, predict, summary, safetensors weights.
 *
 * Everything a training step touches lives on the device, optimizer step count
 * and learning rate included, so one captured step replays correctly for every
 * full batch. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clgrad/autograd.h"
#include "clgrad/data.h"
#include "clgrad/model.h"
#include "clgrad/ops.h"
#include "clgrad/safetensors.h"
#include "common/error.h"
#include "graph/graph.h"

typedef enum layer_kind {
    L_DENSE = 0,
    L_CONV2D,
    L_MAXPOOL,
    L_FLATTEN,
    L_DROPOUT,
    L_ACTIVATION,
    L_BATCHNORM,
    L_AVGPOOL,
    L_GAP,
    L_GMP,
    L_ZEROPAD,
    L_UPSAMPLE,
    L_RESHAPE,
    L_LEAKYRELU,
    L_LAYERNORM,
    L_DWCONV,
    L_CONVT,
    L_KIND_COUNT
} layer_kind;

static const char *const kind_base[L_KIND_COUNT] = {
    "dense", "conv2d", "max_pooling2d", "flatten", "dropout", "activation", "batch_normalization",
    "average_pooling2d", "global_average_pooling2d", "global_max_pooling2d", "zero_padding2d",
    "up_sampling2d", "reshape", "leaky_re_lu", "layer_normalization", "depthwise_conv2d",
    "conv2d_transpose"};
static const char *const kind_type[L_KIND_COUNT] = {
    "Dense", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Activation", "BatchNormalization",
    "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "ZeroPadding2D",
    "UpSampling2D", "Reshape", "LeakyReLU", "LayerNormalization", "DepthwiseConv2D",
    "Conv2DTranspose"};

/* Weights of a layer, in the order they are saved and optimised. */
enum { MAX_WEIGHTS = 4 };

struct clg_layer {
    layer_kind kind;
    char name[64];
    clg_activation act;
    int units;                  /* dense units, conv filters */
    int kh, kw, sh, sw, same;   /* conv */
    int ph, pw;                 /* pooling, upsampling factors */
    int pads[4];                /* zero padding: top, bottom, left, right */
    int tgt_ndim;               /* reshape target (one extent may be -1) */
    int64_t tgt[CLG_MAX_DIMS];
    float rate;                 /* dropout */
    float alpha;                /* leaky relu */
    int in_ndim, out_ndim;      /* shapes without the batch axis */
    int64_t in_shape[CLG_MAX_DIMS], out_shape[CLG_MAX_DIMS];
    int nweights;
    const char *wname[MAX_WEIGHTS];        /* "kernel", "bias", "gamma", ... */
    int wtrainable[MAX_WEIGHTS];
    int wndim[MAX_WEIGHTS];
    int64_t wshape[MAX_WEIGHTS][4];
    clg_tensor *w[MAX_WEIGHTS];
};

typedef enum opt_kind { OPT_ADAM = 0, OPT_SGD, OPT_RMSPROP } opt_kind;
typedef enum loss_kind { LOSS_SPARSE_CCE = 0, LOSS_CCE, LOSS_MSE } loss_kind;
static const char *const loss_name[] = {"sparse_categorical_crossentropy", "categorical_crossentropy", "mse"};

struct clg_model {
    clg_context *ctx;
    int in_ndim;
    int64_t in_shape[CLG_MAX_DIMS];
    clg_layer **layers;
    int nlayers, cap;
    int kind_count[L_KIND_COUNT];
    uint64_t seed;
    int built, compiled;
    opt_kind opt;
    loss_kind loss;
    int accuracy;
    float lr_host;
    /* Optimizer state on the device: per trainable weight (same order as
     * params) m and v (Adam), ms (RMSprop); scalars as rank-0 tensors. */
    int nparams;
    clg_tensor **params, **slot_a, **slot_b;
    clg_tensor *lr, *t, *lr_t, *beta1, *beta2;
    /* Dropout's RNG stream offset, on the device: every draw advances it, also in
     * replayed steps, so each step gets fresh masks. */
    clg_tensor *rng_counter;
};

/* --- small helpers --------------------------------------------------------------- */

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int64_t prod(int n, const int64_t *s) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= s[i];
    return p;
}

/* "(None, 26, 26, 32)" */
static char *keras_shape(int n, const int64_t *s, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "(None");
    for (int i = 0; i < n && k < cap; i++) k += (size_t)snprintf(buf + k, cap - k, ", %lld", (long long)s[i]);
    if (k < cap) snprintf(buf + k, cap - k, ")");
    return buf;
}

static clg_layer *layer_new(layer_kind kind, clg_activation act) {
    clg_layer *l = calloc(1, sizeof *l);
    if (!l) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_layer: out of host memory");
        return NULL;
    }
    l->kind = kind;
    l->act = act;
    return l;
}

static int act_ok(clg_activation a) { return a >= CLG_ACT_LINEAR && a <= CLG_ACT_SOFTPLUS; }

/* --- layer constructors ------------------------------------------------------------ */

clg_layer *clg_layer_dense(int units, clg_activation activation) {
    if (units <= 0 || !act_ok(activation)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_layer_dense: units %d must be > 0 (activation %d)",
                 units, (int)activation);
        return NULL;
    }
    clg_layer *l = layer_new(L_DENSE, activation);
    if (l) l->units = units;
    return l;
}

clg_layer *clg_layer_conv2d_ex(int filters, int kh, int kw, int stride_h, int stride_w,
                               int same_padding, clg_activation activation) {
    if (filters <= 0 || kh <= 0 || kw <= 0 || stride_h <= 0 || stride_w <= 0 || !act_ok(activation)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_layer_conv2d: filters %d, kernel (%d, %d), strides (%d, %d) must be > 0", filters,
                 kh, kw, stride_h, stride_w);
        return NULL;
    }
    clg_layer *l = layer_new(L_CONV2D, activation);
    if (!l) return NULL;
    l->units = filters;
    l->kh = kh, l->kw = kw, l->sh = stride_h, l->sw = stride_w, l->same = same_padding != 0;
    return l;
}

clg_layer *clg_layer_conv2d(int filters, int kh, int kw, clg_activation activation) {
    return clg_layer_conv2d_ex(filters, kh, kw, 1, 1, 0, activation);
}

clg_layer *clg_layer_max_pooling2d(int ph, int pw) {
    if (ph <= 0 || pw <= 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_layer_max_pooling2d: pool size (%d, %d) must be > 0",
                 ph, pw);
        return NULL;
    }
    clg_layer *l = layer_new(L_MAXPOOL, CLG_ACT_LINEAR);
    if (l) l->ph = ph, l->pw = pw;
    return l;
}

clg_layer *clg_layer_flatten(void) { return layer_new(L_FLATTEN, CLG_ACT_LINEAR); }

clg_layer *clg_layer_dropout(float rate) {
    if (!(rate >= 0.0f && rate < 1.0f)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_layer_dropout: rate %g is outside [0, 1)", (double)rate);
        return NULL;
    }
    clg_layer *l = layer_new(L_DROPOUT, CLG_ACT_LINEAR);
    if (l) l->rate = rate;
    return l;
}

clg_layer *clg_layer_activation(clg_activation activation) {
    if (!act_ok(activation)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_layer_activation: unknown activation %d", (int)activation);
        return NULL;
    }
    return layer_new(L_ACTIVATION, activation);
}

clg_layer *clg_layer_batch_normalization(void) { return layer_new(L_BATCHNORM, CLG_ACT_LINEAR); }

clg_layer *clg_layer_average_pooling2d(int ph, int pw) {
    if (ph <= 0 || pw <= 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_layer_average_pooling2d: pool size (%d, %d) must be > 0", ph, pw);
        return NULL;
    }
    clg_layer *l = layer_new(L_AVGPOOL, CLG_ACT_LINEAR);
    if (l) l->ph = ph, l->pw = pw;
    return l;
}

clg_layer *clg_layer_global_average_pooling2d(void) { return layer_new(L_GAP, CLG_ACT_LINEAR); }

clg_layer *clg_layer_global_max_pooling2d(void) { return layer_new(L_GMP, CLG_ACT_LINEAR); }

clg_layer *clg_layer_zero_padding2d(int top, int bottom, int left, int right) {
    if (top < 0 || bottom < 0 || left < 0 || right < 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_layer_zero_padding2d: padding ((%d, %d), (%d, %d)) must be >= 0", top, bottom,
                 left, right);
        return NULL;
    }
    clg_layer *l = layer_new(L_ZEROPAD, CLG_ACT_LINEAR);
    if (l) l->pads[0] = top, l->pads[1] = bottom, l->pads[2] = left, l->pads[3] = right;
    return l;
}

clg_layer *clg_layer_upsampling2d(int sh, int sw) {
    if (sh <= 0 || sw <= 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_layer_upsampling2d: size (%d, %d) must be > 0", sh, sw);
        return NULL;
    }
    clg_layer *l = layer_new(L_UPSAMPLE, CLG_ACT_LINEAR);
    if (l) l->ph = sh, l->pw = sw;
    return l;
}

clg_layer *clg_layer_reshape(int ndim, const int64_t *shape) {
    int unknown = 0, ok = ndim >= 1 && ndim < CLG_MAX_DIMS && shape;
    for (int i = 0; ok && i < ndim; i++) {
        if (shape[i] == -1) unknown++;
        else if (shape[i] <= 0) ok = 0;
    }
    if (!ok || unknown > 1) {
        char b[160] = "(null)";
        if (shape && ndim >= 1 && ndim < CLG_MAX_DIMS) clg_shape_format(ndim, shape, b, sizeof b);
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_layer_reshape: target shape %s (%d axes) needs 1 to %d axes of extents > 0, at "
                 "most one -1", b, ndim, CLG_MAX_DIMS - 1);
        return NULL;
    }
    clg_layer *l = layer_new(L_RESHAPE, CLG_ACT_LINEAR);
    if (!l) return NULL;
    l->tgt_ndim = ndim;
    memcpy(l->tgt, shape, (size_t)ndim * sizeof *shape);
    return l;
}

clg_layer *clg_layer_leaky_relu(float alpha) {
    if (!isfinite(alpha)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_layer_leaky_relu: alpha %g must be finite", (double)alpha);
        return NULL;
    }
    clg_layer *l = layer_new(L_LEAKYRELU, CLG_ACT_LINEAR);
    if (l) l->alpha = alpha;
    return l;
}

clg_layer *clg_layer_layer_normalization(void) { return layer_new(L_LAYERNORM, CLG_ACT_LINEAR); }

clg_layer *clg_layer_depthwise_conv2d(int kh, int kw, clg_activation activation) {
    if (kh <= 0 || kw <= 0 || !act_ok(activation)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_layer_depthwise_conv2d: kernel (%d, %d) must be > 0 (activation %d)", kh, kw,
                 (int)activation);
        return NULL;
    }
    clg_layer *l = layer_new(L_DWCONV, activation);
    if (!l) return NULL;
    l->kh = kh, l->kw = kw, l->sh = 1, l->sw = 1;
    return l;
}

clg_layer *clg_layer_conv2d_transpose(int filters, int kh, int kw, int stride_h, int stride_w,
                                      int same_padding, clg_activation activation) {
    if (filters <= 0 || kh <= 0 || kw <= 0 || stride_h <= 0 || stride_w <= 0 || !act_ok(activation)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_layer_conv2d_transpose: filters %d, kernel (%d, %d), strides (%d, %d) must be > 0",
                 filters, kh, kw, stride_h, stride_w);
        return NULL;
    }
    clg_layer *l = layer_new(L_CONVT, activation);
    if (!l) return NULL;
    l->units = filters;
    l->kh = kh, l->kw = kw, l->sh = stride_h, l->sw = stride_w, l->same = same_padding != 0;
    return l;
}

void clg_layer_free(clg_layer *l) {
    if (!l) return;
    for (int i = 0; i < l->nweights; i++) clg_tensor_free(l->w[i]);
    free(l);
}

/* --- the model ------------------------------------------------------------------------ */

clg_model *clg_sequential_new(clg_context *ctx, int ndim, const int64_t *input_shape) {
    if (!ctx || ndim < 1 || ndim >= CLG_MAX_DIMS || !input_shape) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_sequential_new: need a context and an input shape of "
                                              "1 to %d axes (got %d)", CLG_MAX_DIMS - 1, ndim);
        return NULL;
    }
    for (int i = 0; i < ndim; i++)
        if (input_shape[i] <= 0) {
            char b[160];
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_sequential_new: input shape %s has an extent <= 0",
                     keras_shape(ndim, input_shape, b, sizeof b));
            return NULL;
        }
    clg_model *m = calloc(1, sizeof *m);
    if (!m) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_sequential_new: out of host memory");
        return NULL;
    }
    m->ctx = ctx;
    m->in_ndim = ndim;
    memcpy(m->in_shape, input_shape, (size_t)ndim * sizeof *input_shape);
    return m;
}

static void free_state(clg_model *m) {
    for (int i = 0; i < m->nparams; i++) {
        if (m->slot_a) clg_tensor_free(m->slot_a[i]);
        if (m->slot_b) clg_tensor_free(m->slot_b[i]);
    }
    free(m->params), free(m->slot_a), free(m->slot_b);
    m->params = m->slot_a = m->slot_b = NULL;
    m->nparams = 0;
    clg_tensor *s[] = {m->lr, m->t, m->lr_t, m->beta1, m->beta2, m->rng_counter};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) clg_tensor_free(s[i]);
    m->lr = m->t = m->lr_t = m->beta1 = m->beta2 = m->rng_counter = NULL;
    m->compiled = 0;
}

void clg_model_free(clg_model *m) {
    if (!m) return;
    free_state(m);
    for (int i = 0; i < m->nlayers; i++) clg_layer_free(m->layers[i]);
    free(m->layers);
    free(m);
}

static void add_weight(clg_layer *l, const char *name, int trainable, int ndim, const int64_t *shape) {
    int i = l->nweights++;
    l->wname[i] = name;
    l->wtrainable[i] = trainable;
    l->wndim[i] = ndim;
    memcpy(l->wshape[i], shape, (size_t)ndim * sizeof *shape);
}

/* Shape inference for layer l on input (n, s): fills out_shape and the weight
 * shapes, or fails naming the layer and the shapes. */
static clg_status infer(clg_layer *l, int n, const int64_t *s) {
    char b[200];
    l->in_ndim = n;
    memcpy(l->in_shape, s, (size_t)n * sizeof *s);
    l->out_ndim = n;
    memcpy(l->out_shape, s, (size_t)n * sizeof *s);
    switch (l->kind) {
    case L_DENSE:
        if (n != 1)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "clg_model_add: layer %s (Dense) needs flat input (None, features), got %s; "
                            "add a Flatten layer first", l->name, keras_shape(n, s, b, sizeof b));
        l->out_shape[0] = l->units;
        add_weight(l, "kernel", 1, 2, (int64_t[]){s[0], l->units});
        add_weight(l, "bias", 1, 1, (int64_t[]){l->units});
        return CLG_OK;
    case L_CONV2D: {
        if (n != 3)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "clg_model_add: layer %s (Conv2D) needs input (None, height, width, channels), "
                            "got %s", l->name, keras_shape(n, s, b, sizeof b));
        int64_t oh, ow;
        if (l->same) {
            oh = (s[0] + l->sh - 1) / l->sh, ow = (s[1] + l->sw - 1) / l->sw;
        } else {
            oh = s[0] >= l->kh ? (s[0] - l->kh) / l->sh + 1 : 0;
            ow = s[1] >= l->kw ? (s[1] - l->kw) / l->sw + 1 : 0;
        }
        if (oh <= 0 || ow <= 0)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "clg_model_add: layer %s (Conv2D) kernel (%d, %d) does not fit input %s", l->name,
                            l->kh, l->kw, keras_shape(n, s, b, sizeof b));
        l->out_shape[0] = oh, l->out_shape[1] = ow, l->out_shape[2] = l->units;
        add_weight(l, "kernel", 1, 4, (int64_t[]){l->units, s[2], l->kh, l->kw});
        add_weight(l, "bias", 1, 1, (int64_t[]){l->units});
        return CLG_OK;
    }
    case L_MAXPOOL:
        if (n != 3 || s[0] < l->ph || s[1] < l->pw)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "clg_model_add: layer %s (MaxPooling2D) pool (%d, %d) needs input (None, height "
                            ">= %d, width >= %d, channels), got %s", l->name, l->ph, l->pw, l->ph, l->pw,
                            keras_shape(n, s, b, sizeof b));
        l->out_shape[0] = s[0] / l->ph, l->out_shape[1] = s[1] / l->pw;
        return CLG_OK;
    case L_FLATTEN:
        l->out_ndim = 1;
        l->out_shape[0] = prod(n, s);
        return CLG_OK;
    case L_BATCHNORM:
        add_weight(l, "gamma", 1, 1, &s[n - 1]);
        add_weight(l, "beta", 1, 1, &s[n - 1]);
        add_weight(l, "moving_mean", 0, 1, &s[n - 1]);
        add_weight(l, "moving_variance", 0, 1, &s[n - 1]);
        return CLG_OK;
    case L_LAYERNORM:
        add_weight(l, "gamma", 1, 1, &s[n - 1]);
        add_weight(l, "beta", 1, 1, &s[n - 1]);
        return CLG_OK;
    case L_AVGPOOL:
        if (n != 3 || s[0] < l->ph || s[1] < l->pw)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "clg_model_add: layer %s (AveragePooling2D) pool (%d, %d) needs input (None, "
                            "height >= %d, width >= %d, channels), got %s", l->name, l->ph, l->pw, l->ph,
                            l->pw, keras_shape(n, s, b, sizeof b));
        l->out_shape[0] = s[0] / l->ph, l->out_shape[1] = s[1] / l->pw;
        return CLG_OK;
    case L_GAP:
    case L_GMP:
        if (n != 3)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "clg_model_add: layer %s (%s) needs input (None, height, width, channels), got %s",
                            l->name, kind_type[l->kind], keras_shape(n, s, b, sizeof b));
        l->out_ndim = 1;
        l->out_shape[0] = s[2];
        return CLG_OK;
    case L_ZEROPAD:
        if (n != 3)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "clg_model_add: layer %s (ZeroPadding2D) needs input (None, height, width, "
                            "channels), got %s", l->name, keras_shape(n, s, b, sizeof b));
        l->out_shape[0] = s[0] + l->pads[0] + l->pads[1];
        l->out_shape[1] = s[1] + l->pads[2] + l->pads[3];
        return CLG_OK;
    case L_UPSAMPLE:
        if (n != 3)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "clg_model_add: layer %s (UpSampling2D) needs input (None, height, width, "
                            "channels), got %s", l->name, keras_shape(n, s, b, sizeof b));
        l->out_shape[0] = s[0] * l->ph, l->out_shape[1] = s[1] * l->pw;
        return CLG_OK;
    case L_RESHAPE: {
        int64_t total = prod(n, s), known = 1;
        int unknown = -1;
        for (int i = 0; i < l->tgt_ndim; i++) {
            if (l->tgt[i] == -1) unknown = i;
            else known *= l->tgt[i];
        }
        char t[160];
        clg_shape_format(l->tgt_ndim, l->tgt, t, sizeof t);
        if ((unknown < 0 && known != total) || (unknown >= 0 && total % known != 0))
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "clg_model_add: layer %s (Reshape) cannot reshape input %s (%lld values per "
                            "sample) to %s", l->name, keras_shape(n, s, b, sizeof b), (long long)total, t);
        l->out_ndim = l->tgt_ndim;
        memcpy(l->out_shape, l->tgt, (size_t)l->tgt_ndim * sizeof *l->tgt);
        if (unknown >= 0) l->out_shape[unknown] = total / known;
        return CLG_OK;
    }
    case L_DWCONV: {
        if (n != 3 || s[0] < l->kh || s[1] < l->kw)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "clg_model_add: layer %s (DepthwiseConv2D) kernel (%d, %d) needs input (None, "
                            "height >= %d, width >= %d, channels), got %s", l->name, l->kh, l->kw, l->kh,
                            l->kw, keras_shape(n, s, b, sizeof b));
        l->out_shape[0] = s[0] - l->kh + 1, l->out_shape[1] = s[1] - l->kw + 1;
        add_weight(l, "depthwise_kernel", 1, 4, (int64_t[]){s[2], 1, l->kh, l->kw});
        add_weight(l, "bias", 1, 1, &s[2]);
        return CLG_OK;
    }
    case L_CONVT:
        if (n != 3)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "clg_model_add: layer %s (Conv2DTranspose) needs input (None, height, width, "
                            "channels), got %s", l->name, keras_shape(n, s, b, sizeof b));
        /* Keras's deconv_output_length: 'same' H*s; 'valid' H*s + max(k - s, 0) */
        if (l->same) l->out_shape[0] = s[0] * l->sh, l->out_shape[1] = s[1] * l->sw;
        else {
            l->out_shape[0] = s[0] * l->sh + (l->kh > l->sh ? l->kh - l->sh : 0);
            l->out_shape[1] = s[1] * l->sw + (l->kw > l->sw ? l->kw - l->sw : 0);
        }
        l->out_shape[2] = l->units;
        add_weight(l, "kernel", 1, 4, (int64_t[]){s[2], l->units, l->kh, l->kw});
        add_weight(l, "bias", 1, 1, (int64_t[]){l->units});
        return CLG_OK;
    default:
        return CLG_OK;
    }
}

clg_status clg_model_add(clg_model *m, clg_layer *l) {
    if (!m || !l) {
        clg_layer_free(l);
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_add: %s is NULL%s", !m ? "model" : "layer",
                        !l ? " (the layer constructor failed?)" : "");
    }
    if (m->nlayers == m->cap) {
        int cap = m->cap ? 2 * m->cap : 8;
        clg_layer **p = realloc(m->layers, (size_t)cap * sizeof *p);
        if (!p) {
            clg_layer_free(l);
            return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_model_add: out of host memory");
        }
        m->layers = p, m->cap = cap;
    }
    int k = m->kind_count[l->kind];
    if (k == 0) snprintf(l->name, sizeof l->name, "%s", kind_base[l->kind]);
    else snprintf(l->name, sizeof l->name, "%s_%d", kind_base[l->kind], k);
    const clg_layer *prev = m->nlayers ? m->layers[m->nlayers - 1] : NULL;
    clg_status st = prev ? infer(l, prev->out_ndim, prev->out_shape) : infer(l, m->in_ndim, m->in_shape);
    if (st != CLG_OK) {
        clg_layer_free(l);
        return st;
    }
    m->kind_count[l->kind]++;
    m->layers[m->nlayers++] = l;
    m->built = 0;
    free_state(m); /* the model changed: compile again */
    return CLG_OK;
}

int64_t clg_model_param_count(const clg_model *m) {
    int64_t total = 0;
    for (int i = 0; m && i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i]->nweights; j++)
            total += prod(m->layers[i]->wndim[j], m->layers[i]->wshape[j]);
    return total;
}

static void fmt_thousands(int64_t v, char *buf, size_t cap) {
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", (long long)v);
    size_t n = strlen(raw), k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        buf[k++] = raw[i];
        if ((n - 1 - i) % 3 == 0 && i + 1 < n && k + 1 < cap) buf[k++] = ',';
    }
    buf[k] = 0;
}

clg_status clg_model_summary(clg_model *m, FILE *f) {
    if (!m || !f) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_summary: model or stream is NULL");
    const char *line = "_________________________________________________________________";
    const char *dline = "=================================================================";
    fprintf(f, "Model: \"sequential\"\n%s\n", line);
    fprintf(f, "%-29s%-26s%-10s\n%s\n", "Layer (type)", "Output Shape", "Param #", dline);
    int64_t trainable = 0, other = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const clg_layer *l = m->layers[i];
        char name[128], shape[160], num[32];
        int64_t p = 0;
        for (int j = 0; j < l->nweights; j++) {
            int64_t c = prod(l->wndim[j], l->wshape[j]);
            p += c;
            if (l->wtrainable[j]) trainable += c;
            else other += c;
        }
        snprintf(name, sizeof name, "%s (%s)", l->name, kind_type[l->kind]);
        snprintf(num, sizeof num, "%lld", (long long)p);
        fprintf(f, "%-28s %-25s %-10s\n", name, keras_shape(l->out_ndim, l->out_shape, shape, sizeof shape), num);
        fprintf(f, "%s\n", i + 1 < m->nlayers ? line : dline);
    }
    if (m->nlayers == 0) fprintf(f, "%s\n", dline);
    char a[32], b[32], c[32];
    fmt_thousands(trainable + other, a, sizeof a);
    fmt_thousands(trainable, b, sizeof b);
    fmt_thousands(other, c, sizeof c);
    fprintf(f, "Total params: %s\nTrainable params: %s\nNon-trainable params: %s\n%s\n", a, b, c, line);
    return CLG_OK;
}

/* --- weights ------------------------------------------------------------------------- */

static clg_tensor *scalar(clg_context *ctx, double v) { return clg_tensor_full(ctx, CLG_FLOAT32, 0, NULL, v); }

/* (Re)creates every weight: Glorot-uniform kernels (Keras's fan_in/fan_out),
 * zero biases and betas, unit gammas and moving variances. */
static clg_status build_weights(clg_model *m) {
    for (int i = 0; i < m->nlayers; i++) {
        clg_layer *l = m->layers[i];
        uint64_t seed = mix64(m->seed ^ mix64((uint64_t)i + 1));
        for (int j = 0; j < l->nweights; j++) {
            clg_tensor_free(l->w[j]);
            l->w[j] = NULL;
            const char *wn = l->wname[j];
            clg_tensor *t;
            if (!strcmp(wn, "kernel") || !strcmp(wn, "depthwise_kernel")) {
                double fan_in, fan_out;
                if (l->kind == L_DENSE) fan_in = (double)l->wshape[j][0], fan_out = (double)l->wshape[j][1];
                else if (l->kind == L_DWCONV) { /* Keras's [KH, KW, C, 1]: fan_in C·KH·KW, fan_out KH·KW */
                    double rf = (double)(l->kh * l->kw);
                    fan_in = (double)l->wshape[j][0] * rf, fan_out = (double)l->wshape[j][1] * rf;
                } else { /* Conv2D [O, C, ..] and Conv2DTranspose [C, O, ..] as Keras's kernels */
                    double rf = (double)(l->kh * l->kw);
                    fan_in = (double)l->wshape[j][1] * rf, fan_out = (double)l->wshape[j][0] * rf;
                }
                float lim = (float)sqrt(6.0 / (fan_in + fan_out));
                t = clg_tensor_rand_uniform(m->ctx, l->wndim[j], l->wshape[j], -lim, lim, seed, 0);
            } else if (!strcmp(wn, "gamma") || !strcmp(wn, "moving_variance")) {
                t = clg_tensor_ones(m->ctx, CLG_FLOAT32, l->wndim[j], l->wshape[j]);
            } else {
                t = clg_tensor_zeros(m->ctx, CLG_FLOAT32, l->wndim[j], l->wshape[j]);
            }
            if (!t) return clg_fail_wrap(clg_last_status(), "clg_model: creating %s.%s", l->name, wn);
            char full[128];
            snprintf(full, sizeof full, "%s.%s", l->name, wn);
            clg_tensor_set_name(t, full);
            if (l->wtrainable[j]) clg_tensor_set_requires_grad(t, 1);
            l->w[j] = t;
        }
    }
    m->built = 1;
    return CLG_OK;
}

static clg_status ensure_built(clg_model *m, const char *api) {
    if (!m) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: model is NULL", api);
    if (m->nlayers == 0) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: the model has no layers", api);
    if (m->built) return CLG_OK;
    return build_weights(m);
}

clg_status clg_model_set_seed(clg_model *m, uint64_t seed) {
    if (!m) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_set_seed: model is NULL");
    m->seed = seed;
    return CLG_OK;
}

static clg_status no_capture(const clg_model *m, const char *api);

clg_status clg_model_compile(clg_model *m, const char *optimizer, const char *loss, const char *metrics) {
    const char *api = "clg_model_compile";
    if (!m || !optimizer || !loss) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: NULL argument", api);
    /* Compiling initialises the weights on the device: not inside the caller's capture. */
    if (no_capture(m, api) != CLG_OK) return clg_last_status();
    opt_kind ok;
    float lr;
    if (!strcmp(optimizer, "adam")) ok = OPT_ADAM, lr = 1e-3f;
    else if (!strcmp(optimizer, "sgd")) ok = OPT_SGD, lr = 0.01f;
    else if (!strcmp(optimizer, "rmsprop")) ok = OPT_RMSPROP, lr = 1e-3f;
    else
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown optimizer \"%s\" (adam, sgd, rmsprop)", api,
                        optimizer);
    loss_kind lk;
    if (!strcmp(loss, "sparse_categorical_crossentropy")) lk = LOSS_SPARSE_CCE;
    else if (!strcmp(loss, "categorical_crossentropy")) lk = LOSS_CCE;
    else if (!strcmp(loss, "mse") || !strcmp(loss, "mean_squared_error")) lk = LOSS_MSE;
    else
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: unknown loss \"%s\" (sparse_categorical_crossentropy, "
                        "categorical_crossentropy, mse)", api, loss);
    if (metrics && strcmp(metrics, "accuracy") && strcmp(metrics, "acc"))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown metric \"%s\" (accuracy or NULL)", api, metrics);
    const clg_layer *last = m->nlayers ? m->layers[m->nlayers - 1] : NULL;
    if (last && lk != LOSS_MSE && last->out_ndim != 1) {
        char b[160];
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: loss %s needs an output (None, classes), layer %s gives %s",
                        api, loss, last->name, keras_shape(last->out_ndim, last->out_shape, b, sizeof b));
    }
    free_state(m);
    m->built = 0;
    clg_status st = ensure_built(m, api);
    if (st != CLG_OK) return st;
    m->opt = ok, m->loss = lk, m->accuracy = metrics != NULL, m->lr_host = lr;
    int np = 0;
    for (int i = 0; i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i]->nweights; j++) np += m->layers[i]->wtrainable[j];
    m->params = calloc((size_t)np + 1, sizeof *m->params);
    m->slot_a = calloc((size_t)np + 1, sizeof *m->slot_a);
    m->slot_b = calloc((size_t)np + 1, sizeof *m->slot_b);
    if (!m->params || !m->slot_a || !m->slot_b) {
        free_state(m);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    }
    m->nparams = np;
    int k = 0;
    for (int i = 0; i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i]->nweights; j++)
            if (m->layers[i]->wtrainable[j]) m->params[k++] = m->layers[i]->w[j];
    for (int i = 0; i < np; i++) {
        const clg_tensor *p = m->params[i];
        if (ok != OPT_SGD) {
            m->slot_a[i] = clg_tensor_zeros(m->ctx, CLG_FLOAT32, clg_tensor_ndim(p), clg_tensor_shape(p));
            if (!m->slot_a[i]) goto fail;
        }
        if (ok == OPT_ADAM) {
            m->slot_b[i] = clg_tensor_zeros(m->ctx, CLG_FLOAT32, clg_tensor_ndim(p), clg_tensor_shape(p));
            if (!m->slot_b[i]) goto fail;
        }
    }
    m->lr = scalar(m->ctx, lr);
    m->t = scalar(m->ctx, 0);
    m->lr_t = scalar(m->ctx, 0);
    m->beta1 = scalar(m->ctx, 0.9);
    m->beta2 = scalar(m->ctx, 0.999);
    m->rng_counter = clg_tensor_zeros(m->ctx, CLG_INT32, 1, (int64_t[]){2});
    if (!m->lr || !m->t || !m->lr_t || !m->beta1 || !m->beta2 || !m->rng_counter)
        goto fail;
    m->compiled = 1;
    return CLG_OK;
fail:
    st = clg_last_status();
    free_state(m);
    return clg_fail_wrap(st, "%s", api);
}

clg_status clg_model_set_learning_rate(clg_model *m, float lr) {
    if (!m || !m->compiled)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_set_learning_rate: compile the model first");
    if (!(lr >= 0.0f) || !isfinite(lr)) /* 0 is allowed (Keras too): it freezes the weights */
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_model_set_learning_rate: learning rate %g must be finite and >= 0", (double)lr);
    m->lr_host = lr;
    return clg_tensor_write(m->lr, &lr, sizeof lr);
}

/* --- forward ---------------------------------------------------------------------------- */

static clg_tensor *activate(clg_tensor *x, clg_activation a) {
    clg_tensor *y;
    switch (a) {
    case CLG_ACT_LINEAR: return x;
    case CLG_ACT_RELU: y = clg_relu(x); break;
    case CLG_ACT_SIGMOID: y = clg_sigmoid(x); break;
    case CLG_ACT_TANH: y = clg_tanh(x); break;
    case CLG_ACT_SOFTMAX: y = clg_softmax(x, -1); break;
    case CLG_ACT_GELU: y = clg_gelu(x); break;
    case CLG_ACT_ELU: y = clg_elu(x, 1.0f); break;
    case CLG_ACT_SOFTPLUS: y = clg_softplus(x); break;
    default: y = NULL;
    }
    clg_tensor_free(x);
    return y;
}

/* Dropout with fresh masks on every step, also in replayed steps: the RNG offset
 * is the model's device counter, advanced by each draw. */
static clg_tensor *dropout_fwd(clg_model *m, int index, float rate, const clg_tensor *x) {
    uint64_t seed = mix64(m->seed ^ mix64(0xd509ULL + (uint64_t)index));
    return clg_dropout_counter(x, rate, seed, m->rng_counter);
}

/* A pooling layer's parameters: Keras's defaults on NHWC data. */
static clg_pool2d_params pool_params(const clg_layer *l) {
    clg_pool2d_params p = clg_pool2d_params_default(l->ph, l->pw);
    p.layout = CLG_LAYOUT_NHWC;
    return p;
}

/* The model's output for x [B, ...input] (a new reference), or NULL naming the layer. */
static clg_tensor *forward(clg_model *m, const clg_tensor *x, int training) {
    clg_tensor *h = clg_tensor_detach(x); /* a handle we own */
    for (int i = 0; h && i < m->nlayers; i++) {
        clg_layer *l = m->layers[i];
        clg_tensor *y = NULL;
        switch (l->kind) {
        case L_DENSE:
            y = clg_linear(h, l->w[0], l->w[1]);
            break;
        case L_CONV2D: {
            clg_conv2d_params p = clg_conv2d_params_default();
            p.stride[0] = l->sh, p.stride[1] = l->sw;
            p.padding = l->same ? CLG_PADDING_SAME : CLG_PADDING_VALID;
            p.layout = CLG_LAYOUT_NHWC;
            y = clg_conv2d(h, l->w[0], l->w[1], &p);
            break;
        }
        case L_MAXPOOL: {
            clg_pool2d_params p = pool_params(l);
            y = clg_max_pool2d(h, &p);
            break;
        }
        case L_FLATTEN:
            y = clg_tensor_reshape(h, 2, (int64_t[]){clg_tensor_shape(h)[0], l->out_shape[0]});
            break;
        case L_DROPOUT: /* a copy outside training keeps the layer in the graph */
            y = training && l->rate > 0.0f ? dropout_fwd(m, i, l->rate, h) : clg_mul_scalar(h, 1.0f);
            break;
        case L_ACTIVATION:
            y = clg_mul_scalar(h, 1.0f);
            break;
        case L_BATCHNORM:
            y = clg_batch_norm(h, l->w[0], l->w[1], l->w[2], l->w[3], training, 0.99f, 1e-3f,
                               CLG_LAYOUT_NHWC);
            break;
        case L_AVGPOOL: {
            clg_pool2d_params p = pool_params(l);
            y = clg_avg_pool2d(h, &p);
            break;
        }
        case L_GAP:
            y = clg_global_avg_pool2d(h, CLG_LAYOUT_NHWC);
            break;
        case L_GMP:
            y = clg_global_max_pool2d(h, CLG_LAYOUT_NHWC);
            break;
        case L_ZEROPAD: {
            const int64_t pads[8] = {0, 0, l->pads[0], l->pads[1], l->pads[2], l->pads[3], 0, 0};
            y = clg_pad(h, pads, CLG_PAD_CONSTANT, 0.0f);
            break;
        }
        case L_UPSAMPLE:
            y = clg_upsample2d(h, l->ph, l->pw, CLG_UPSAMPLE_NEAREST, CLG_LAYOUT_NHWC);
            break;
        case L_RESHAPE: {
            int64_t shape[CLG_MAX_DIMS];
            shape[0] = clg_tensor_shape(h)[0];
            memcpy(shape + 1, l->out_shape, (size_t)l->out_ndim * sizeof *shape);
            y = clg_tensor_reshape(h, l->out_ndim + 1, shape);
            break;
        }
        case L_LEAKYRELU:
            y = clg_leaky_relu(h, l->alpha);
            break;
        case L_LAYERNORM:
            y = clg_layer_norm(h, 1, l->w[0], l->w[1], 1e-3f);
            break;
        case L_DWCONV: {
            clg_conv2d_params p = clg_conv2d_params_default();
            p.groups = (int)l->in_shape[2];
            p.layout = CLG_LAYOUT_NHWC;
            y = clg_conv2d(h, l->w[0], l->w[1], &p);
            break;
        }
        case L_CONVT: {
            clg_conv2d_params p = clg_conv2d_params_default();
            p.stride[0] = l->sh, p.stride[1] = l->sw;
            p.padding = l->same ? CLG_PADDING_SAME : CLG_PADDING_VALID;
            p.layout = CLG_LAYOUT_NHWC;
            const int op[2] = {l->same || l->kh >= l->sh ? 0 : l->sh - l->kh,
                               l->same || l->kw >= l->sw ? 0 : l->sw - l->kw};
            y = clg_conv2d_transpose(h, l->w[0], l->w[1], &p, op);
            break;
        }
        default:
            break;
        }
        clg_tensor_free(h);
        h = y ? activate(y, l->act) : NULL;
        if (!h) clg_fail_wrap(clg_last_status(), "layer %s (%s)", l->name, kind_type[l->kind]);
    }
    return h;
}

/* --- loss, metric, optimizer -------------------------------------------------------------- */

static clg_tensor *loss_of(const clg_model *m, const clg_tensor *out, const clg_tensor *y) {
    switch (m->loss) {
    case LOSS_SPARSE_CCE: return clg_sparse_categorical_cross_entropy(out, y);
    case LOSS_CCE: return clg_categorical_cross_entropy(out, y);
    default: return clg_mse(out, y);
    }
}

static int metric_on(const clg_model *m) {
    const clg_layer *last = m->layers[m->nlayers - 1];
    return m->accuracy && last->out_ndim == 1 && last->out_shape[0] > 1;
}

/* Number of rows whose argmax matches the label (rank 0, float32). */
static clg_tensor *correct_of(const clg_model *m, const clg_tensor *out, const clg_tensor *y) {
    int classes = (int)clg_tensor_shape(out)[1];
    clg_tensor *pred = clg_argmax(out, -1, 0);
    clg_tensor *truth = m->loss == LOSS_SPARSE_CCE ? clg_tensor_reshape(y, 1, clg_tensor_shape(y))
                                                   : clg_argmax(y, -1, 0);
    clg_tensor *a = pred ? clg_one_hot(pred, classes) : NULL;
    clg_tensor *b = truth ? clg_one_hot(truth, classes) : NULL;
    clg_tensor *ab = a && b ? clg_mul(a, b) : NULL;
    clg_tensor *r = ab ? clg_sum(ab, 0, NULL, 0) : NULL;
    clg_tensor_free(pred), clg_tensor_free(truth), clg_tensor_free(a), clg_tensor_free(b), clg_tensor_free(ab);
    return r;
}

/* dst = expr (consumes expr's handle). */
static clg_status assign_expr(clg_tensor *dst, clg_tensor *expr) {
    clg_status st = expr ? clg_tensor_assign(dst, expr) : clg_last_status();
    clg_tensor_free(expr);
    return st;
}

static const float ADAM_B1 = 0.9f, ADAM_B2 = 0.999f, ADAM_EPS = 1e-7f, RMS_RHO = 0.9f, RMS_EPS = 1e-7f;

/* One optimizer update from the accumulated gradients, all on the device. */
static clg_status apply_update(clg_model *m) {
    clg_status st = CLG_OK;
    if (m->opt == OPT_ADAM) {
        /* t += 1; lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t) */
        st = assign_expr(m->t, clg_add_scalar(m->t, 1.0f));
        if (st != CLG_OK) return st;
        clg_tensor *p1 = clg_pow(m->beta1, m->t), *p2 = clg_pow(m->beta2, m->t);
        clg_tensor *c2 = p2 ? clg_rsub_scalar(1.0f, p2) : NULL, *c1 = p1 ? clg_rsub_scalar(1.0f, p1) : NULL;
        clg_tensor *s2 = c2 ? clg_sqrt(c2) : NULL;
        clg_tensor *num = s2 ? clg_mul(m->lr, s2) : NULL;
        st = assign_expr(m->lr_t, num && c1 ? clg_div(num, c1) : NULL);
        clg_tensor_free(p1), clg_tensor_free(p2), clg_tensor_free(c1), clg_tensor_free(c2);
        clg_tensor_free(s2), clg_tensor_free(num);
        if (st != CLG_OK) return st;
    }
    for (int i = 0; i < m->nparams && st == CLG_OK; i++) {
        clg_tensor *p = m->params[i];
        const clg_tensor *g = clg_tensor_grad(p);
        if (!g) continue; /* no gradient reached it */
        if (m->opt == OPT_SGD) {
            clg_tensor *d = clg_mul(g, m->lr);
            st = assign_expr(p, d ? clg_sub(p, d) : NULL);
            clg_tensor_free(d);
        } else if (m->opt == OPT_ADAM) {
            clg_tensor *mm = m->slot_a[i], *vv = m->slot_b[i];
            clg_tensor *a = clg_mul_scalar(mm, ADAM_B1), *b = clg_mul_scalar(g, 1.0f - ADAM_B1);
            st = assign_expr(mm, a && b ? clg_add(a, b) : NULL);
            clg_tensor_free(a), clg_tensor_free(b);
            if (st != CLG_OK) break;
            clg_tensor *g2 = clg_square(g);
            a = clg_mul_scalar(vv, ADAM_B2), b = g2 ? clg_mul_scalar(g2, 1.0f - ADAM_B2) : NULL;
            st = assign_expr(vv, a && b ? clg_add(a, b) : NULL);
            clg_tensor_free(a), clg_tensor_free(b), clg_tensor_free(g2);
            if (st != CLG_OK) break;
            clg_tensor *sv = clg_sqrt(vv), *den = sv ? clg_add_scalar(sv, ADAM_EPS) : NULL;
            clg_tensor *lm = clg_mul(m->lr_t, mm), *q = lm && den ? clg_div(lm, den) : NULL;
            st = assign_expr(p, q ? clg_sub(p, q) : NULL);
            clg_tensor_free(sv), clg_tensor_free(den), clg_tensor_free(lm), clg_tensor_free(q);
        } else { /* RMSprop */
            clg_tensor *ms = m->slot_a[i], *g2 = clg_square(g);
            clg_tensor *a = clg_mul_scalar(ms, RMS_RHO), *b = g2 ? clg_mul_scalar(g2, 1.0f - RMS_RHO) : NULL;
            st = assign_expr(ms, a && b ? clg_add(a, b) : NULL);
            clg_tensor_free(a), clg_tensor_free(b), clg_tensor_free(g2);
            if (st != CLG_OK) break;
            clg_tensor *sv = clg_sqrt(ms), *den = sv ? clg_add_scalar(sv, RMS_EPS) : NULL;
            clg_tensor *lg = clg_mul(m->lr, g), *q = lg && den ? clg_div(lg, den) : NULL;
            st = assign_expr(p, q ? clg_sub(p, q) : NULL);
            clg_tensor_free(sv), clg_tensor_free(den), clg_tensor_free(lg), clg_tensor_free(q);
        }
    }
    if (st != CLG_OK) return st;
    return st;
}

/* Forward, backward and update on one batch; adds loss * count and the correct
 * count to the device accumulators. */
static clg_status train_step(clg_model *m, const clg_tensor *xb, const clg_tensor *yb, int64_t count,
                             clg_tensor *acc_loss, clg_tensor *acc_correct) {
    for (int i = 0; i < m->nparams; i++) clg_tensor_zero_grad(m->params[i]);
    clg_tensor *out = forward(m, xb, 1);
    if (!out) return clg_last_status();
    clg_tensor *loss = loss_of(m, out, yb);
    clg_tensor *correct = loss && acc_correct ? correct_of(m, out, yb) : NULL;
    clg_status st = !loss || (acc_correct && !correct) ? clg_last_status() : clg_backward(loss, NULL);
    clg_tensor_free(out);
    if (st == CLG_OK) st = apply_update(m);
    if (st == CLG_OK) {
        clg_tensor *lw = clg_mul_scalar(loss, (float)count);
        st = assign_expr(acc_loss, lw ? clg_add(acc_loss, lw) : NULL);
        clg_tensor_free(lw);
    }
    if (st == CLG_OK && acc_correct) st = assign_expr(acc_correct, clg_add(acc_correct, correct));
    clg_tensor_free(loss), clg_tensor_free(correct);
    return st;
}

/* --- host data ----------------------------------------------------------------------------- */

/* Checks x (and y, may be NULL) against the model; *n gets the sample count. */
static clg_status check_data(const clg_model *m, const char *api, const clg_host_array *x,
                             const clg_host_array *y, int64_t *n) {
    char b[160], e[160];
    if (!x || (!x->data && x->ndim > 0 && x->shape[0] > 0))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: x is NULL", api);
    int ok = x->dtype == CLG_FLOAT32 && x->ndim == m->in_ndim + 1;
    for (int i = 0; ok && i < m->in_ndim; i++) ok = x->shape[i + 1] == m->in_shape[i];
    if (!ok || x->shape[0] < 0)
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: x %s %s does not match the model's input %s float32",
                        api, clg_shape_format(x->ndim, x->shape, b, sizeof b), clg_dtype_name(x->dtype),
                        keras_shape(m->in_ndim, m->in_shape, e, sizeof e));
    *n = x->shape[0];
    if (!y) return CLG_OK;
    const clg_layer *last = m->layers[m->nlayers - 1];
    int64_t want[CLG_MAX_DIMS];
    int wnd = m->loss == LOSS_SPARSE_CCE ? 1 : last->out_ndim + 1;
    want[0] = *n;
    for (int i = 1; i < wnd; i++) want[i] = last->out_shape[i - 1];
    if (m->loss == LOSS_SPARSE_CCE) {
        ok = y->dtype == CLG_INT32 && (y->ndim == 1 || (y->ndim == 2 && y->shape[1] == 1));
    } else {
        ok = y->dtype == CLG_FLOAT32 && y->ndim == wnd;
        for (int i = 1; ok && i < wnd; i++) ok = y->shape[i] == want[i];
    }
    if (!ok || y->shape[0] != *n || (!y->data && *n > 0)) {
        char w[160];
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                        "%s: y %s %s does not fit loss %s: it needs %s %s (x's %lld samples, output %s)", api,
                        clg_shape_format(y->ndim, y->shape, b, sizeof b), clg_dtype_name(y->dtype),
                        loss_name[m->loss], m->loss == LOSS_SPARSE_CCE ? "int32 labels" : "float32 targets",
                        clg_shape_format(wnd, want, w, sizeof w), (long long)*n,
                        keras_shape(last->out_ndim, last->out_shape, e, sizeof e));
    }
    return CLG_OK;
}

static int64_t row_elems(const clg_host_array *a) { return prod(a->ndim - 1, a->shape + 1); }

/* Copies rows idx[0..count) (or first..first+count when idx is NULL) of a into dst. */
static void gather_rows(const clg_host_array *a, int64_t first, const int64_t *idx, int64_t count, void *dst) {
    size_t rb = (size_t)row_elems(a) * clg_dtype_size(a->dtype);
    const char *src = a->data;
    for (int64_t i = 0; i < count; i++)
        memcpy((char *)dst + (size_t)i * rb, src + (size_t)(idx ? idx[i] : first + i) * rb, rb);
}

/* A device tensor for `count` rows of a (shape [count, ...]; labels [count]). */
static clg_tensor *batch_tensor(clg_context *ctx, const clg_host_array *a, int64_t count, int labels) {
    int64_t s[CLG_MAX_DIMS];
    s[0] = count;
    int nd = labels ? 1 : a->ndim;
    for (int i = 1; i < nd; i++) s[i] = a->shape[i];
    return clg_tensor_empty(ctx, a->dtype, nd, s);
}

/* --- evaluate / predict ------------------------------------------------------------------ */

static clg_status eval_impl(clg_model *m, const clg_host_array *x, const clg_host_array *y, int64_t first,
                            int64_t n, int batch, double *loss, double *acc) {
    const char *api = "clg_model_evaluate";
    int met = metric_on(m);
    clg_tensor *acc_l = scalar(m->ctx, 0), *acc_c = scalar(m->ctx, 0);
    size_t xrb = (size_t)row_elems(x) * sizeof(float), yrb = (size_t)row_elems(y) * clg_dtype_size(y->dtype);
    void *hx = malloc(xrb * (size_t)batch + 1), *hy = malloc(yrb * (size_t)batch + 1);
    clg_status st = acc_l && acc_c ? CLG_OK : clg_last_status();
    if (st == CLG_OK && (!hx || !hy)) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    int was = clg_grad_set_enabled(m->ctx, 0);
    for (int64_t s0 = 0; st == CLG_OK && s0 < n; s0 += batch) {
        int64_t c = n - s0 < batch ? n - s0 : batch;
        gather_rows(x, first + s0, NULL, c, hx);
        gather_rows(y, first + s0, NULL, c, hy);
        clg_tensor *xt = batch_tensor(m->ctx, x, c, 0);
        clg_tensor *yt = batch_tensor(m->ctx, y, c, m->loss == LOSS_SPARSE_CCE);
        if (!xt || !yt || clg_tensor_write(xt, hx, xrb * (size_t)c) != CLG_OK ||
            clg_tensor_write(yt, hy, yrb * (size_t)c) != CLG_OK) {
            st = clg_last_status();
        } else {
            clg_tensor *out = forward(m, xt, 0);
            clg_tensor *l = out ? loss_of(m, out, yt) : NULL;
            clg_tensor *lw = l ? clg_mul_scalar(l, (float)c) : NULL;
            st = assign_expr(acc_l, lw ? clg_add(acc_l, lw) : NULL);
            if (st == CLG_OK && met) {
                clg_tensor *cc = correct_of(m, out, yt);
                st = assign_expr(acc_c, cc ? clg_add(acc_c, cc) : NULL);
                clg_tensor_free(cc);
            }
            clg_tensor_free(out), clg_tensor_free(l), clg_tensor_free(lw);
        }
        clg_tensor_free(xt), clg_tensor_free(yt);
    }
    clg_grad_set_enabled(m->ctx, was);
    float fl = 0, fc = 0;
    if (st == CLG_OK) st = clg_tensor_to_host(acc_l, &fl, sizeof fl);
    if (st == CLG_OK) st = clg_tensor_to_host(acc_c, &fc, sizeof fc);
    *loss = n > 0 ? fl / (double)n : NAN;
    *acc = met && n > 0 ? fc / (double)n : NAN;
    clg_tensor_free(acc_l), clg_tensor_free(acc_c);
    free(hx), free(hy);
    return st == CLG_OK ? st : clg_fail_wrap(st, "%s", api);
}

static clg_status ready(clg_model *m, const char *api) {
    if (!m) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: model is NULL", api);
    if (!m->compiled) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: compile the model first", api);
    return CLG_OK;
}

/* fit captures its own step, compile initialises weights, and evaluate / predict
 * read results to the host: none of them can run inside the caller's capture (it
 * would nest or record them). */
static clg_status no_capture(const clg_model *m, const char *api) {
    if (clg_capturing(m->ctx))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: a step capture is open on this context (clg_step_capture_begin); end it with "
                        "clg_step_capture_end before calling %s", api, api);
    return CLG_OK;
}

clg_status clg_model_evaluate(clg_model *m, const clg_host_array *x, const clg_host_array *y, int batch_size,
                              float *loss, float *accuracy) {
    const char *api = "clg_model_evaluate";
    clg_status st = ready(m, api);
    int64_t n = 0;
    if (st == CLG_OK) st = no_capture(m, api);
    if (st == CLG_OK) st = check_data(m, api, x, y, &n);
    if (st != CLG_OK) return st;
    if (!y) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: y is NULL", api);
    if (batch_size <= 0) batch_size = 32;
    double l, a;
    st = eval_impl(m, x, y, 0, n, batch_size, &l, &a);
    if (st != CLG_OK) return st;
    if (loss) *loss = (float)l;
    if (accuracy) *accuracy = (float)a;
    return CLG_OK;
}

clg_status clg_model_predict(clg_model *m, const clg_host_array *x, int batch_size, float *out,
                             size_t out_floats) {
    const char *api = "clg_model_predict";
    clg_status st = ensure_built(m, api);
    int64_t n = 0;
    if (st == CLG_OK) st = no_capture(m, api);
    if (st == CLG_OK) st = check_data(m, api, x, NULL, &n);
    if (st != CLG_OK) return st;
    const clg_layer *last = m->layers[m->nlayers - 1];
    int64_t orow = prod(last->out_ndim, last->out_shape);
    if (!out || out_floats < (size_t)(n * orow))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: out holds %zu floats, %lld samples need %lld", api,
                        out_floats, (long long)n, (long long)(n * orow));
    if (batch_size <= 0) batch_size = 32;
    size_t xrb = (size_t)row_elems(x) * sizeof(float);
    int was = clg_grad_set_enabled(m->ctx, 0);
    for (int64_t s0 = 0; st == CLG_OK && s0 < n; s0 += batch_size) {
        int64_t c = n - s0 < batch_size ? n - s0 : batch_size;
        clg_tensor *xt = batch_tensor(m->ctx, x, c, 0);
        st = xt ? clg_tensor_write(xt, (const char *)x->data + (size_t)s0 * xrb, xrb * (size_t)c)
                : clg_last_status();
        clg_tensor *o = st == CLG_OK ? forward(m, xt, 0) : NULL;
        if (st == CLG_OK) st = o ? clg_tensor_to_host(o, out + s0 * orow, (size_t)(c * orow) * sizeof(float))
                                 : clg_last_status();
        clg_tensor_free(o), clg_tensor_free(xt);
    }
    clg_grad_set_enabled(m->ctx, was);
    return st == CLG_OK ? st : clg_fail_wrap(st, "%s", api);
}

/* --- fit ------------------------------------------------------------------------------------ */

/* The shortest decimal that reads back as v (0.2f -> 0.2): the double a Python
 * caller would have written, so float options compute as Keras does. */
static double float_as_typed(float v) {
    for (int p = 1; p <= 9; p++) {
        char b[40];
        snprintf(b, sizeof b, "%.*g", p, (double)v);
        double d = strtod(b, NULL);
        if ((float)d == v) return d;
    }
    return (double)v;
}

clg_fit_options clg_fit_options_default(void) {
    clg_fit_options o;
    memset(&o, 0, sizeof o);
    o.epochs = 1;
    o.batch_size = 32;
    o.verbose = 1;
    o.shuffle = 1;
    return o;
}

void clg_history_free(clg_history *h) {
    if (!h) return;
    free(h->loss), free(h->accuracy), free(h->val_loss), free(h->val_accuracy), free(h->seconds);
    free(h);
}

static clg_history *history_new(int epochs) {
    clg_history *h = calloc(1, sizeof *h);
    size_t n = (size_t)epochs + 1;
    if (!h) return NULL;
    h->loss = malloc(n * sizeof(float)), h->accuracy = malloc(n * sizeof(float));
    h->val_loss = malloc(n * sizeof(float)), h->val_accuracy = malloc(n * sizeof(float));
    h->seconds = malloc(n * sizeof(double));
    if (!h->loss || !h->accuracy || !h->val_loss || !h->val_accuracy || !h->seconds) {
        clg_history_free(h);
        return NULL;
    }
    return h;
}

/* Keras's Progbar formats: ETA "1:02:03", "2:05" or "9s"; per step "5ms/step". */
static void fmt_duration(double s, char *buf, size_t cap) {
    if (s > 3600) snprintf(buf, cap, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    else if (s > 60) snprintf(buf, cap, "%d:%02d", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%ds", (int)s);
}

static void fmt_per_step(double s, char *buf, size_t cap) {
    if (s >= 1) snprintf(buf, cap, "%.0fs/step", s);
    else if (s >= 1e-3) snprintf(buf, cap, "%.0fms/step", s * 1e3);
    else snprintf(buf, cap, "%.0fus/step", s * 1e6);
}

static void appendf(char *buf, size_t cap, const char *fmt, ...) CLG_PRINTF(3, 4);
static void appendf(char *buf, size_t cap, const char *fmt, ...) {
    size_t k = strlen(buf);
    if (k + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, cap - k, fmt, ap);
    va_end(ap);
}

/* Keras's Progbar line: "  12/1875 [=====>........................] - ETA: 9s"
 * while running, "1875/1875 [==============================] - 9s 5ms/step" done. */
static void bar_text(char *buf, size_t cap, int64_t done, int64_t total, double elapsed, int final) {
    char bar[31], d[32], p[32];
    int w = snprintf(NULL, 0, "%lld", (long long)total), k = 0;
    int width = total > 0 ? (int)(30 * done / total) : 30;
    if (width > 0) {
        for (; k < width - 1; k++) bar[k] = '=';
        bar[k++] = done < total ? '>' : '=';
    }
    for (; k < 30; k++) bar[k] = '.';
    bar[30] = 0;
    snprintf(buf, cap, "%*lld/%lld [%s]", w, (long long)done, (long long)total, bar);
    if (final) {
        fmt_per_step(done > 0 ? elapsed / (double)done : 0, p, sizeof p);
        appendf(buf, cap, " - %.0fs %s", elapsed, p);
    } else {
        fmt_duration(done > 0 ? elapsed / (double)done * (double)(total - done) : 0, d, sizeof d);
        appendf(buf, cap, " - ETA: %s", d);
    }
}

static void metrics_text(char *buf, size_t cap, double loss, double acc, int met) {
    appendf(buf, cap, " - loss: %.4f", loss);
    if (met) appendf(buf, cap, " - accuracy: %.4f", acc);
}

/* Rewrites the progress line in place ("\r"), padding with spaces over what is
 * left of a longer previous line, as Keras does; *width keeps the length. */
static void print_progress(FILE *f, const char *line, int *width) {
    int n = (int)strlen(line);
    fprintf(f, "\r%s%*s", line, *width > n ? *width - n : 0, "");
    *width = n;
}

/* verbose 1: the \r-updated bar on a terminal, else one line per epoch;
 * CLGRAD_PROGRESS=bar or =lines forces either (see model.h). */
static int progress_bar_wanted(FILE *f, int verbose) {
    if (verbose != 1) return 0;
    const char *env = getenv("CLGRAD_PROGRESS");
    if (env && !strcmp(env, "bar")) return 1;
    if (env && !strcmp(env, "lines")) return 0;
    return isatty(fileno(f));
}

static clg_status read_acc(const clg_tensor *l, const clg_tensor *c, int64_t seen, double *loss, double *acc) {
    float fl = 0, fc = 0;
    clg_status st = clg_tensor_to_host(l, &fl, sizeof fl);
    if (st == CLG_OK && c) st = clg_tensor_to_host(c, &fc, sizeof fc);
    *loss = seen > 0 ? fl / (double)seen : NAN;
    *acc = c && seen > 0 ? fc / (double)seen : NAN;
    return st;
}

/* --- callbacks --------------------------------------------------------------------------------- */

typedef enum cb_kind { CB_EARLY = 0, CB_CHECKPOINT, CB_CSV, CB_NAN, CB_PLATEAU, CB_USER } cb_kind;
static const char *const cb_api[] = {"clg_callback_early_stopping", "clg_callback_model_checkpoint",
                                     "clg_callback_csv_logger", "clg_callback_terminate_on_nan",
                                     "clg_callback_reduce_lr_on_plateau", "clg_callback_user"};
enum { MON_LOSS = 0, MON_VAL_LOSS, MON_ACC, MON_VAL_ACC };
static const char *const mon_name[] = {"loss", "val_loss", "accuracy", "val_accuracy"};

struct clg_callback {
    cb_kind kind;
    int monitor, patience, flag; /* flag: restore_best_weights / save_best_only */
    float factor, min_lr;
    char *path;
    clg_callback_fn fn;
    void *user;
};

/* Per-fit state of one callback. */
typedef struct cb_state {
    double best;
    int wait, have_best;
    FILE *csv;
    float **weights; /* early stopping's best weights, one host copy per model weight */
} cb_state;

static int parse_monitor(const char *api, const char *monitor, int *out) {
    for (int i = 0; monitor && i < 4; i++)
        if (!strcmp(monitor, mon_name[i])) {
            *out = i;
            return 1;
        }
    clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown monitor \"%s\" (loss, val_loss, accuracy, val_accuracy)",
             api, monitor ? monitor : "(null)");
    return 0;
}

static clg_callback *cb_new(cb_kind kind) {
    clg_callback *c = calloc(1, sizeof *c);
    if (!c) clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", cb_api[kind]);
    else c->kind = kind;
    return c;
}

clg_callback *clg_callback_early_stopping(const char *monitor, int patience, int restore_best_weights) {
    const char *api = cb_api[CB_EARLY];
    int mon;
    if (!parse_monitor(api, monitor, &mon)) return NULL;
    if (patience < 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: patience %d must be >= 0", api, patience);
        return NULL;
    }
    clg_callback *c = cb_new(CB_EARLY);
    if (c) c->monitor = mon, c->patience = patience, c->flag = restore_best_weights != 0;
    return c;
}

clg_callback *clg_callback_model_checkpoint(const char *path, const char *monitor, int save_best_only) {
    const char *api = cb_api[CB_CHECKPOINT];
    int mon;
    if (!path) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: path is NULL", api);
        return NULL;
    }
    if (!parse_monitor(api, monitor, &mon)) return NULL;
    clg_callback *c = cb_new(CB_CHECKPOINT);
    if (c && !(c->path = strdup(path))) {
        free(c);
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
        return NULL;
    }
    if (c) c->monitor = mon, c->flag = save_best_only != 0;
    return c;
}

clg_callback *clg_callback_csv_logger(const char *path) {
    const char *api = cb_api[CB_CSV];
    if (!path) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: path is NULL", api);
        return NULL;
    }
    clg_callback *c = cb_new(CB_CSV);
    if (c && !(c->path = strdup(path))) {
        free(c);
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
        return NULL;
    }
    return c;
}

clg_callback *clg_callback_terminate_on_nan(void) { return cb_new(CB_NAN); }

clg_callback *clg_callback_reduce_lr_on_plateau(const char *monitor, float factor, int patience, float min_lr) {
    const char *api = cb_api[CB_PLATEAU];
    int mon;
    if (!parse_monitor(api, monitor, &mon)) return NULL;
    if (!(factor >= 0.0f && factor < 1.0f) || patience < 0 || !(min_lr >= 0.0f) || !isfinite(min_lr)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "%s: factor %g must be in [0, 1), patience %d >= 0 and min_lr %g finite and >= 0", api,
                 (double)factor, patience, (double)min_lr);
        return NULL;
    }
    clg_callback *c = cb_new(CB_PLATEAU);
    if (c) c->monitor = mon, c->factor = factor, c->patience = patience, c->min_lr = min_lr;
    return c;
}

clg_callback *clg_callback_user(clg_callback_fn fn, void *user) {
    if (!fn) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: fn is NULL", cb_api[CB_USER]);
        return NULL;
    }
    clg_callback *c = cb_new(CB_USER);
    if (c) c->fn = fn, c->user = user;
    return c;
}

void clg_callback_free(clg_callback *c) {
    if (!c) return;
    free(c->path);
    free(c);
}

static int cb_has_monitor(const clg_callback *c) {
    return c->kind == CB_EARLY || c->kind == CB_CHECKPOINT || c->kind == CB_PLATEAU;
}

/* Checks the callbacks against the fit (validation data, metric). */
static clg_status cb_check(const char *api, const clg_fit_options *o, int has_val, int met) {
    if (o->ncallbacks < 0 || (o->ncallbacks > 0 && !o->callbacks))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %d callbacks with callbacks %s", api, o->ncallbacks,
                        o->callbacks ? "set" : "NULL");
    for (int i = 0; i < o->ncallbacks; i++) {
        const clg_callback *c = o->callbacks[i];
        if (!c) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: callback %d is NULL", api, i);
        if (!cb_has_monitor(c)) continue;
        if ((c->monitor == MON_VAL_LOSS || c->monitor == MON_VAL_ACC) && !has_val)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: callback %d (%s) monitors %s but fit has no validation data "
                            "(validation_split or validation_x/validation_y)",
                            api, i, cb_api[c->kind], mon_name[c->monitor]);
        if ((c->monitor == MON_ACC || c->monitor == MON_VAL_ACC) && !met)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: callback %d (%s) monitors %s but the model was compiled without the "
                            "accuracy metric", api, i, cb_api[c->kind], mon_name[c->monitor]);
    }
    return CLG_OK;
}

static double monitored(const clg_history *h, int e, int mon) {
    const float *v = mon == MON_LOSS ? h->loss : mon == MON_VAL_LOSS ? h->val_loss
                   : mon == MON_ACC ? h->accuracy : h->val_accuracy;
    return v[e];
}

/* Keras's monitor_op: less for losses, greater for accuracies; NaN never improves. */
static int improves(int mon, double cur, double best, double min_delta) {
    if (mon == MON_ACC || mon == MON_VAL_ACC) return cur - min_delta > best;
    return cur + min_delta < best;
}

static void weights_free(const clg_model *m, float **w) {
    if (!w) return;
    int k = 0;
    for (int i = 0; i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i]->nweights; j++) free(w[k++]);
    free(w);
}

/* Host copies of every weight (trainable or not), as Keras's get_weights. */
static clg_status weights_snapshot(const clg_model *m, float ***out) {
    int nw = 0;
    for (int i = 0; i < m->nlayers; i++) nw += m->layers[i]->nweights;
    if (!*out && !(*out = calloc((size_t)nw + 1, sizeof **out)))
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_model_fit: out of host memory");
    int k = 0;
    for (int i = 0; i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i]->nweights; j++, k++) {
            const clg_layer *l = m->layers[i];
            size_t bytes = (size_t)prod(l->wndim[j], l->wshape[j]) * sizeof(float);
            if (!(*out)[k] && !((*out)[k] = malloc(bytes + 1)))
                return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_model_fit: out of host memory");
            clg_status st = clg_tensor_to_host(l->w[j], (*out)[k], bytes);
            if (st != CLG_OK) return st;
        }
    return CLG_OK;
}

static clg_status weights_restore(clg_model *m, float **w) {
    int k = 0;
    for (int i = 0; i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i]->nweights; j++, k++) {
            const clg_layer *l = m->layers[i];
            size_t bytes = (size_t)prod(l->wndim[j], l->wshape[j]) * sizeof(float);
            clg_status st = clg_tensor_write(l->w[j], w[k], bytes);
            if (st != CLG_OK) return st;
        }
    return CLG_OK;
}

static void cb_states_free(const clg_model *m, cb_state *s, int n) {
    if (!s) return;
    for (int i = 0; i < n; i++) {
        if (s[i].csv) fclose(s[i].csv);
        weights_free(m, s[i].weights);
    }
    free(s);
}

/* on_train_begin: fresh state, the CSV file truncated and its header written. */
static clg_status cb_begin(const clg_fit_options *o, cb_state **out, int has_val, int met) {
    *out = calloc((size_t)o->ncallbacks + 1, sizeof **out);
    if (!*out) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_model_fit: out of host memory");
    for (int i = 0; i < o->ncallbacks; i++) {
        const clg_callback *c = o->callbacks[i];
        cb_state *s = &(*out)[i];
        s->best = (c->monitor == MON_ACC || c->monitor == MON_VAL_ACC) ? -INFINITY : INFINITY;
        if (c->kind != CB_CSV) continue;
        s->csv = fopen(c->path, "w");
        if (!s->csv)
            return clg_fail(CLG_STATUS_IO_ERROR, "clg_model_fit: %s cannot open %s", cb_api[CB_CSV], c->path);
        fprintf(s->csv, "epoch,loss%s%s%s\n", met ? ",accuracy" : "", has_val ? ",val_loss" : "",
                has_val && met ? ",val_accuracy" : "");
        if (fflush(s->csv) != 0)
            return clg_fail(CLG_STATUS_IO_ERROR, "clg_model_fit: %s cannot write %s", cb_api[CB_CSV], c->path);
    }
    return CLG_OK;
}

/* on_epoch_end for every callback in order; *stop set when one stops training. */
static clg_status cb_epoch_end(clg_model *m, const clg_fit_options *o, cb_state *ss, int e, const clg_history *h,
                               int has_val, int met, int *stop) {
    for (int i = 0; i < o->ncallbacks; i++) {
        const clg_callback *c = o->callbacks[i];
        cb_state *s = &ss[i];
        double cur = cb_has_monitor(c) ? monitored(h, e, c->monitor) : 0;
        clg_status st = CLG_OK;
        switch (c->kind) {
        case CB_EARLY:
            if (improves(c->monitor, cur, s->best, 0.0)) {
                s->best = cur, s->wait = 0, s->have_best = 1;
                if (c->flag) st = weights_snapshot(m, &s->weights);
            } else if (++s->wait >= c->patience && e > 0) {
                *stop = 1;
                if (c->flag && s->have_best) st = weights_restore(m, s->weights);
            }
            break;
        case CB_CHECKPOINT:
            if (!c->flag || improves(c->monitor, cur, s->best, 0.0)) {
                if (c->flag) s->best = cur;
                st = clg_model_save_weights(m, c->path);
            }
            break;
        case CB_CSV:
            fprintf(s->csv, "%d,%.9g", e, (double)h->loss[e]);
            if (met) fprintf(s->csv, ",%.9g", (double)h->accuracy[e]);
            if (has_val) fprintf(s->csv, ",%.9g", (double)h->val_loss[e]);
            if (has_val && met) fprintf(s->csv, ",%.9g", (double)h->val_accuracy[e]);
            fputc('\n', s->csv);
            if (fflush(s->csv) != 0 || ferror(s->csv))
                st = clg_fail(CLG_STATUS_IO_ERROR, "clg_model_fit: %s cannot write %s", cb_api[CB_CSV], c->path);
            break;
        case CB_NAN:
            if (!isfinite(h->loss[e])) *stop = 1;
            break;
        case CB_PLATEAU:
            if (improves(c->monitor, cur, s->best, 1e-4)) {
                s->best = cur, s->wait = 0;
            } else if (++s->wait >= c->patience) {
                if (m->lr_host > c->min_lr) {
                    float lr = m->lr_host * c->factor;
                    st = clg_model_set_learning_rate(m, lr > c->min_lr ? lr : c->min_lr);
                }
                s->wait = 0;
            }
            break;
        case CB_USER:
            if (c->fn(c->user, e, h)) *stop = 1;
            break;
        }
        if (st != CLG_OK) return clg_fail_wrap(st, "clg_model_fit: callback %d (%s)", i, cb_api[c->kind]);
    }
    return CLG_OK;
}

clg_history *clg_model_fit(clg_model *m, const clg_host_array *x, const clg_host_array *y,
                           const clg_fit_options *options) {
    const char *api = "clg_model_fit";
    clg_fit_options o = options ? *options : clg_fit_options_default();
    int64_t n = 0, nv = 0;
    if (ready(m, api) != CLG_OK || no_capture(m, api) != CLG_OK || check_data(m, api, x, y, &n) != CLG_OK)
        return NULL;
    if (!y) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: y is NULL", api);
        return NULL;
    }
    if (o.epochs < 0 || o.batch_size <= 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: epochs %d must be >= 0 and batch_size %d > 0", api,
                 o.epochs, o.batch_size);
        return NULL;
    }
    if (!(o.validation_split >= 0.0f && o.validation_split < 1.0f)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: validation_split %g is outside [0, 1)", api,
                 (double)o.validation_split);
        return NULL;
    }
    const clg_host_array *vx = x, *vy = y;
    int64_t vfirst = 0;
    if (o.validation_x || o.validation_y) {
        if (!o.validation_x || !o.validation_y) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: validation_x and validation_y go together", api);
            return NULL;
        }
        if (check_data(m, api, o.validation_x, o.validation_y, &nv) != CLG_OK) return NULL;
        vx = o.validation_x, vy = o.validation_y;
    } else if (o.validation_split > 0.0f) {
        /* the float's shortest decimal (0.2f -> 0.2), so the split is Python's
         * floor(n * (1 - 0.2)) in double: 8 of 10, 80 of 100 (0.2f itself gives 7, 79) */
        double frac = float_as_typed(o.validation_split);
        int64_t split_at = (int64_t)floor((double)n * (1.0 - frac));
        nv = n - split_at;
        vfirst = split_at;
        n = split_at;
        if (n <= 0 || nv <= 0) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: validation_split %g of %lld samples leaves a part empty",
                     api, (double)o.validation_split, (long long)(n + nv));
            return NULL;
        }
    }
    FILE *f = o.stream ? o.stream : stdout;
    int bar = progress_bar_wanted(f, o.verbose), bar_width = 0;
    int met = metric_on(m), sparse = m->loss == LOSS_SPARSE_CCE;
    if (cb_check(api, &o, nv > 0, met) != CLG_OK) return NULL;
    int64_t bs = o.batch_size < n ? o.batch_size : (n > 0 ? n : 1);
    int64_t full = n / bs, rem = n % bs, steps = full + (rem > 0);
    size_t xrb = (size_t)row_elems(x) * sizeof(float), yrb = (size_t)row_elems(y) * clg_dtype_size(y->dtype);

    clg_history *h = history_new(o.epochs);
    int64_t *perm = malloc((size_t)(n > 0 ? n : 1) * sizeof *perm);
    void *hx = malloc(xrb * (size_t)bs + 1), *hy = malloc(yrb * (size_t)bs + 1);
    clg_tensor *xb = batch_tensor(m->ctx, x, bs, 0), *yb = batch_tensor(m->ctx, y, bs, sparse);
    clg_tensor *acc_l = scalar(m->ctx, 0), *acc_c = met ? scalar(m->ctx, 0) : NULL;
    clg_step *step = NULL;
    clg_status st = CLG_OK;
    if (!h || !perm || !hx || !hy) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    else if (!xb || !yb || !acc_l || (met && !acc_c)) st = clg_last_status();
    if (h) h->epochs = 0;
    const float zero = 0.0f;
    cb_state *cbs = NULL;
    if (st == CLG_OK && o.ncallbacks > 0) st = cb_begin(&o, &cbs, nv > 0, met);
    int stop = 0;

    for (int e = 0; st == CLG_OK && !stop && e < o.epochs; e++) {
        double t0 = now_s(), last_print = -1;
        if (o.shuffle && n > 0) st = clg_shuffle_permutation(n, m->seed, (uint64_t)e, perm);
        else
            for (int64_t i = 0; i < n; i++) perm[i] = i;
        if (st == CLG_OK) st = clg_tensor_write(acc_l, &zero, sizeof zero);
        if (st == CLG_OK && acc_c) st = clg_tensor_write(acc_c, &zero, sizeof zero);
        if (st != CLG_OK) break;
        if (bar) fprintf(f, "Epoch %d/%d\n", e + 1, o.epochs);
        bar_width = 0;
        for (int64_t b = 0; st == CLG_OK && b < steps; b++) {
            int64_t c = b < full ? bs : rem;
            gather_rows(x, 0, perm + b * bs, c, hx);
            gather_rows(y, 0, perm + b * bs, c, hy);
            if (c == bs) {
                st = clg_tensor_write(xb, hx, xrb * (size_t)c);
                if (st == CLG_OK) st = clg_tensor_write(yb, hy, yrb * (size_t)c);
                if (st != CLG_OK) break;
                if (step) {
                    st = clg_step_replay(step);
                } else {
                    st = clg_step_capture_begin(m->ctx);
                    if (st != CLG_OK) break;
                    clg_status s2 = train_step(m, xb, yb, c, acc_l, acc_c);
                    step = clg_step_capture_end(m->ctx);
                    st = s2 != CLG_OK ? s2 : (step ? CLG_OK : clg_last_status());
                }
            } else { /* the last partial batch runs eagerly */
                clg_tensor *xp = batch_tensor(m->ctx, x, c, 0), *yp = batch_tensor(m->ctx, y, c, sparse);
                st = xp && yp ? clg_tensor_write(xp, hx, xrb * (size_t)c) : clg_last_status();
                if (st == CLG_OK) st = clg_tensor_write(yp, hy, yrb * (size_t)c);
                if (st == CLG_OK) st = train_step(m, xp, yp, c, acc_l, acc_c);
                clg_tensor_free(xp), clg_tensor_free(yp);
            }
            double now = now_s();
            if (st == CLG_OK && bar && b + 1 < steps && now - last_print >= 0.1) {
                double l, a;
                st = read_acc(acc_l, acc_c, b * bs + c, &l, &a);
                char line[512];
                bar_text(line, sizeof line, b + 1, steps, now - t0, 0);
                metrics_text(line, sizeof line, l, a, met);
                print_progress(f, line, &bar_width);
                fflush(f);
                last_print = now;
            }
        }
        if (st != CLG_OK) break;
        double l, a, vl = NAN, va = NAN;
        st = read_acc(acc_l, acc_c, n, &l, &a);
        if (st == CLG_OK && nv > 0) st = eval_impl(m, vx, vy, vfirst, nv, (int)bs, &vl, &va);
        if (st != CLG_OK) break;
        double secs = now_s() - t0;
        h->loss[e] = (float)l, h->accuracy[e] = (float)a;
        h->val_loss[e] = (float)vl, h->val_accuracy[e] = (float)va;
        h->seconds[e] = secs;
        h->epochs = e + 1;
        if (o.verbose != 0) {
            char line[512];
            if (bar) {
                bar_text(line, sizeof line, steps, steps, secs, 1);
            } else {
                char d[32], p[32];
                fmt_duration(secs, d, sizeof d);
                fmt_per_step(steps > 0 ? secs / (double)steps : 0, p, sizeof p);
                snprintf(line, sizeof line, "Epoch %d/%d - %lld/%lld - %s %s", e + 1, o.epochs, (long long)steps,
                         (long long)steps, d, p);
            }
            metrics_text(line, sizeof line, l, a, met);
            if (nv > 0) {
                appendf(line, sizeof line, " - val_loss: %.4f", vl);
                if (met) appendf(line, sizeof line, " - val_accuracy: %.4f", va);
            }
            if (bar) print_progress(f, line, &bar_width);
            else fputs(line, f);
            fprintf(f, "\n");
            fflush(f);
        }
        if (o.ncallbacks > 0) st = cb_epoch_end(m, &o, cbs, e, h, nv > 0, met, &stop);
    }
    cb_states_free(m, cbs, o.ncallbacks);
    clg_step_free(step);
    clg_tensor_free(xb), clg_tensor_free(yb), clg_tensor_free(acc_l), clg_tensor_free(acc_c);
    free(perm), free(hx), free(hy);
    if (st != CLG_OK) {
        clg_history_free(h);
        clg_fail_wrap(st, "%s", api);
        return NULL;
    }
    return h;
}

/* --- weights on disk ------------------------------------------------------------------------- */

clg_status clg_model_save_weights(clg_model *m, const char *path) {
    const char *api = "clg_model_save_weights";
    clg_status st = ensure_built(m, api);
    if (st != CLG_OK) return st;
    if (!path) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: path is NULL", api);
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    if (!w) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    for (int i = 0; st == CLG_OK && i < m->nlayers; i++)
        for (int j = 0; st == CLG_OK && j < m->layers[i]->nweights; j++) {
            char name[128];
            snprintf(name, sizeof name, "%s.%s", m->layers[i]->name, m->layers[i]->wname[j]);
            st = clg_safetensors_writer_add(w, name, m->layers[i]->w[j]);
        }
    if (st == CLG_OK) st = clg_safetensors_writer_set_metadata(w, "format", "clgrad");
    if (st == CLG_OK) st = clg_safetensors_writer_save(w, path);
    clg_safetensors_writer_free(w);
    return st == CLG_OK ? st : clg_fail_wrap(st, "%s: %s", api, path);
}

clg_status clg_model_load_weights(clg_model *m, const char *path) {
    const char *api = "clg_model_load_weights";
    clg_status st = ensure_built(m, api);
    if (st != CLG_OK) return st;
    if (!path) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: path is NULL", api);
    clg_safetensors *f = NULL;
    st = clg_safetensors_open(path, &f);
    if (st != CLG_OK) return clg_fail_wrap(st, "%s", api);
    char missing[1024] = "", bad[1024] = "", unexpected[1024] = "";
    int nbad = 0;
    for (int i = 0; i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i]->nweights; j++) {
            const clg_layer *l = m->layers[i];
            char name[128], a[160], b[160];
            snprintf(name, sizeof name, "%s.%s", l->name, l->wname[j]);
            clg_safetensors_info info;
            if (clg_safetensors_info_get(f, name, &info) != CLG_OK) {
                appendf(missing, sizeof missing, "%s%s", missing[0] ? ", " : "", name);
                nbad++;
                continue;
            }
            int ok = info.dtype == CLG_SAFETENSORS_F32 && info.ndim == l->wndim[j];
            for (int k = 0; ok && k < info.ndim; k++) ok = info.shape[k] == l->wshape[j][k];
            if (!ok) {
                appendf(bad, sizeof bad, "%s%s is %s %s in the file, the model has %s F32", bad[0] ? ", " : "",
                        name, clg_safetensors_dtype_name(info.dtype),
                        info.ndim <= CLG_MAX_DIMS ? clg_shape_format(info.ndim, info.shape, a, sizeof a) : "(rank>8)",
                        clg_shape_format(l->wndim[j], l->wshape[j], b, sizeof b));
                nbad++;
            }
        }
    for (size_t i = 0; i < clg_safetensors_count(f); i++) {
        const char *fname = clg_safetensors_name(f, i);
        int found = 0;
        for (int li = 0; !found && li < m->nlayers; li++)
            for (int j = 0; !found && j < m->layers[li]->nweights; j++) {
                char name[128];
                snprintf(name, sizeof name, "%s.%s", m->layers[li]->name, m->layers[li]->wname[j]);
                found = !strcmp(name, fname);
            }
        if (!found) {
            appendf(unexpected, sizeof unexpected, "%s%s", unexpected[0] ? ", " : "", fname);
            nbad++;
        }
    }
    if (nbad) {
        st = clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: %s does not match the model:%s%s%s%s%s%s", api, path,
                      missing[0] ? " missing: " : "", missing, unexpected[0] ? "; unexpected: " : "", unexpected,
                      bad[0] ? "; shape mismatch: " : "", bad);
        clg_safetensors_free(f);
        return st;
    }
    for (int i = 0; st == CLG_OK && i < m->nlayers; i++)
        for (int j = 0; st == CLG_OK && j < m->layers[i]->nweights; j++) {
            clg_layer *l = m->layers[i];
            char name[128];
            snprintf(name, sizeof name, "%s.%s", l->name, l->wname[j]);
            size_t bytes = (size_t)prod(l->wndim[j], l->wshape[j]) * sizeof(float);
            float *buf = malloc(bytes + 1);
            if (!buf) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
            if (st == CLG_OK) st = clg_safetensors_read(f, name, buf, bytes);
            if (st == CLG_OK) st = clg_tensor_write(l->w[j], buf, bytes);
            free(buf);
        }
    clg_safetensors_free(f);
    return st == CLG_OK ? st : clg_fail_wrap(st, "%s: %s", api, path);
}
