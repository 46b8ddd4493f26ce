/* Layer objects: constructors with Keras's defaults, shape inference for one
 * application (a node), weight initialisers, and the forward of one node. The
 * graph that strings nodes together is in model.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgrad/autograd.h"
#include "clgrad/ops.h"
#include "common/error.h"
#include "graph/graph.h"
#include "nn/model_internal.h"
#include "tensor/tensor_impl.h"

const char *const clg_kind_base[L_KIND_COUNT] = {
    "dense", "conv2d", "max_pooling2d", "flatten", "dropout", "activation", "batch_normalization",
    "average_pooling2d", "global_average_pooling2d", "global_max_pooling2d", "zero_padding2d",
    "up_sampling2d", "reshape", "leaky_re_lu", "layer_normalization", "depthwise_conv2d",
    "conv2d_transpose", "conv1d", "embedding", "add", "concatenate", "simple_rnn", "lstm", "gru", "bidirectional", "multi_head_attention",
    "position_embedding"};
const char *const clg_kind_type[L_KIND_COUNT] = {
    "Dense", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Activation", "BatchNormalization",
    "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "ZeroPadding2D",
    "UpSampling2D", "Reshape", "LeakyReLU", "LayerNormalization", "DepthwiseConv2D",
    "Conv2DTranspose", "Conv1D", "Embedding", "Add", "Concatenate", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "MultiHeadAttention",
    "PositionEmbedding"};

/* --- small helpers --------------------------------------------------------------- */

uint64_t clg_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

int64_t clg_prod(int n, const int64_t *s) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= s[i];
    return p;
}

char *clg_keras_shape(int n, const int64_t *s, char *buf, size_t cap) {
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
    l->trainable = 1;
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
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1) continue;
        if (shape[i] > INT64_MAX / known) {
            char b[160];
            clg_fail(CLG_STATUS_SIZE_OVERFLOW, "clg_layer_reshape: target shape %s has more elements than 2^63",
                     clg_shape_format(ndim, shape, b, sizeof b));
            return NULL;
        }
        known *= shape[i];
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

clg_layer *clg_layer_conv1d(int filters, int kernel_size, int stride, int same_padding,
                            clg_activation activation) {
    if (filters <= 0 || kernel_size <= 0 || stride <= 0 || !act_ok(activation)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_layer_conv1d: filters %d, kernel_size %d, strides %d must be > 0 (activation %d)",
                 filters, kernel_size, stride, (int)activation);
        return NULL;
    }
    clg_layer *l = layer_new(L_CONV1D, activation);
    if (!l) return NULL;
    l->units = filters;
    l->kh = 1, l->kw = kernel_size, l->sh = 1, l->sw = stride, l->same = same_padding != 0;
    return l;
}

clg_layer *clg_layer_embedding(int input_dim, int output_dim) {
    if (input_dim <= 0 || output_dim <= 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_layer_embedding: input_dim %d and output_dim %d must be > 0",
                 input_dim, output_dim);
        return NULL;
    }
    clg_layer *l = layer_new(L_EMBEDDING, CLG_ACT_LINEAR);
    if (l) l->vocab = input_dim, l->units = output_dim;
    return l;
}

static clg_layer *recurrent(layer_kind kind, const char *api, int units, int return_sequences, int go_backwards) {
    if (units <= 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: units %d must be > 0", api, units);
        return NULL;
    }
    clg_layer *l = layer_new(kind, CLG_ACT_LINEAR);
    if (l) l->units = units, l->return_sequences = return_sequences != 0, l->go_backwards = go_backwards != 0;
    return l;
}

clg_layer *clg_layer_simple_rnn(int units, int return_sequences, int go_backwards) {
    return recurrent(L_SIMPLE_RNN, "clg_layer_simple_rnn", units, return_sequences, go_backwards);
}

clg_layer *clg_layer_lstm(int units, int return_sequences, int go_backwards) {
    return recurrent(L_LSTM, "clg_layer_lstm", units, return_sequences, go_backwards);
}

clg_layer *clg_layer_gru(int units, int return_sequences, int go_backwards) {
    return recurrent(L_GRU, "clg_layer_gru", units, return_sequences, go_backwards);
}

clg_layer *clg_layer_embedding_ex(int input_dim, int output_dim, int mask_zero) {
    clg_layer *l = clg_layer_embedding(input_dim, output_dim);
    if (l) l->mask_zero = mask_zero != 0;
    return l;
}

clg_layer *clg_layer_bidirectional(clg_layer *inner) {
    const char *api = "clg_layer_bidirectional";
    if (!inner || inner->owner || (inner->kind != L_SIMPLE_RNN && inner->kind != L_LSTM && inner->kind != L_GRU) ||
        inner->stateful) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: needs a new SimpleRNN, LSTM or GRU layer (got %s)", api,
                 !inner ? "NULL" : inner->owner ? "a layer already in a model"
                 : inner->stateful ? "a stateful one: Bidirectional layers carry no states" : clg_kind_type[inner->kind]);
        if (inner && !inner->owner) clg_layer_free(inner);
        return NULL;
    }
    clg_layer *l = layer_new(L_BIDIRECTIONAL, CLG_ACT_LINEAR);
    if (l) {
        l->cell = inner->kind, l->units = inner->units;
        l->return_sequences = inner->return_sequences, l->go_backwards = inner->go_backwards;
    }
    clg_layer_free(inner);
    return l;
}

clg_layer *clg_layer_multi_head_attention(int num_heads, int key_dim, int causal) {
    if (num_heads <= 0 || key_dim <= 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_layer_multi_head_attention: num_heads %d and key_dim %d must be > 0", num_heads, key_dim);
        return NULL;
    }
    clg_layer *l = layer_new(L_MHA, CLG_ACT_LINEAR);
    if (l) l->heads = num_heads, l->key_dim = key_dim, l->units = key_dim, l->causal = causal != 0;
    return l;
}

clg_layer *clg_layer_position_embedding(int sequence_length) {
    if (sequence_length <= 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_layer_position_embedding: sequence_length %d must be > 0",
                 sequence_length);
        return NULL;
    }
    clg_layer *l = layer_new(L_POSEMB, CLG_ACT_LINEAR);
    if (l) l->units = sequence_length;
    return l;
}

clg_layer *clg_layer_add(void) { return layer_new(L_ADD, CLG_ACT_LINEAR); }

clg_layer *clg_layer_concatenate(int axis) {
    if (axis == 0 || axis < -CLG_MAX_DIMS || axis >= CLG_MAX_DIMS) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_layer_concatenate: axis %d must not be 0 (the batch axis) and within +-%d", axis,
                 CLG_MAX_DIMS - 1);
        return NULL;
    }
    clg_layer *l = layer_new(L_CONCAT, CLG_ACT_LINEAR);
    if (l) l->axis = axis;
    return l;
}

clg_status clg_layer_set_trainable(clg_layer *l, int trainable) {
    if (!l) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_layer_set_trainable: layer is NULL");
    l->trainable = trainable != 0;
    for (int i = 0; i < l->nweights; i++)
        if (l->w[i] && l->wtrainable[i]) clg_tensor_set_requires_grad(l->w[i], l->trainable);
    return CLG_OK;
}

int clg_layer_trainable(const clg_layer *l) { return l ? l->trainable : 0; }

const char *clg_layer_name(const clg_layer *l) { return l ? l->name : ""; }

int clg_layer_has_kernel(layer_kind k) {
    return k == L_DENSE || k == L_CONV2D || k == L_CONV1D || k == L_DWCONV || k == L_CONVT || k == L_EMBEDDING ||
           k == L_SIMPLE_RNN || k == L_LSTM || k == L_GRU;
}

clg_status clg_layer_set_l2(clg_layer *l, float l2) {
    const char *api = "clg_layer_set_l2";
    if (!l) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: layer is NULL", api);
    if (!(l2 >= 0.0f) || !isfinite(l2))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: factor %g for layer %s must be finite and >= 0", api,
                        (double)l2, l->name[0] ? l->name : clg_kind_type[l->kind]);
    if (!clg_layer_has_kernel(l->kind))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: layer %s (%s) has no kernel to regularise", api,
                        l->name[0] ? l->name : clg_kind_base[l->kind], clg_kind_type[l->kind]);
    l->l2 = l2;
    return CLG_OK;
}

void clg_layer_free(clg_layer *l) {
    if (!l) return;
    for (int i = 0; i < l->nweights; i++) clg_tensor_free(l->w[i]);
    clg_tensor_free(l->mask_table);
    clg_layer_drop_states(l);
    free(l);
}

int clg_layer_state_count(const clg_layer *l) {
    return l->kind == L_LSTM ? 2 : l->kind == L_GRU || l->kind == L_SIMPLE_RNN ? 1 : 0;
}

void clg_layer_drop_states(clg_layer *l) {
    for (int k = 0; k < 2; k++) clg_tensor_free(l->state[k]), l->state[k] = NULL;
}

/* Zeros in place, so a step captured with these buffers (fit's) starts over
 * too; and the next batch may have another size (see stateful_states). */
clg_status clg_layer_reset_states(clg_layer *l) {
    for (int k = 0; k < 2; k++) {
        if (!l->state[k]) continue;
        /* zeros into the buffer itself, the one a captured step reads */
        const size_t bytes = (size_t)clg_tensor_numel(l->state[k]) * sizeof(float);
        float *zeros = calloc(1, bytes);
        clg_status st = zeros ? clg_tensor_write(l->state[k], zeros, bytes)
                              : clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
        free(zeros);
        if (st != CLG_OK) return clg_fail_wrap(st, "resetting the states of layer %s", l->name);
    }
    l->states_fresh = 1;
    return CLG_OK;
}
static void add_weight(clg_layer *l, const char *name, int trainable, int ndim, const int64_t *shape) {
    int i = l->nweights++;
    l->wname[i] = name;
    l->wtrainable[i] = trainable;
    l->wndim[i] = ndim;
    memcpy(l->wshape[i], shape, (size_t)ndim * sizeof *shape);
}

/* Shape inference for layer l on one input (n, s): writes the output shape to
 * (*on, os) and the weight shapes to l, or fails naming the layer and the shapes. */
static clg_status infer_one(clg_layer *l, int n, const int64_t *s, int *on, int64_t *os) {
    char b[200];
    *on = n;
    memcpy(os, s, (size_t)n * sizeof *s);
    switch (l->kind) {
    case L_DENSE: /* on the last axis, as Keras */
        os[n - 1] = l->units;
        add_weight(l, "kernel", 1, 2, (int64_t[]){s[n - 1], l->units});
        add_weight(l, "bias", 1, 1, (int64_t[]){l->units});
        return CLG_OK;
    case L_POSEMB:
        if (n != 2 || s[0] > l->units)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (PositionEmbedding) for sequences of up to %d needs input (None, timesteps "
                            "<= %d, features), got %s", l->name, l->units, l->units, clg_keras_shape(n, s, b, sizeof b));
        add_weight(l, "embeddings", 1, 2, (int64_t[]){l->units, s[1]});
        return CLG_OK;
    case L_CONV2D: {
        if (n != 3)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (Conv2D) needs input (None, height, width, channels), "
                            "got %s", l->name, clg_keras_shape(n, s, b, sizeof b));
        int64_t oh, ow;
        if (l->same) {
            oh = (s[0] + l->sh - 1) / l->sh, ow = (s[1] + l->sw - 1) / l->sw;
        } else {
            oh = s[0] >= l->kh ? (s[0] - l->kh) / l->sh + 1 : 0;
            ow = s[1] >= l->kw ? (s[1] - l->kw) / l->sw + 1 : 0;
        }
        if (oh <= 0 || ow <= 0)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (Conv2D) kernel (%d, %d) does not fit input %s", l->name,
                            l->kh, l->kw, clg_keras_shape(n, s, b, sizeof b));
        os[0] = oh, os[1] = ow, os[2] = l->units;
        add_weight(l, "kernel", 1, 4, (int64_t[]){l->units, s[2], l->kh, l->kw});
        add_weight(l, "bias", 1, 1, (int64_t[]){l->units});
        return CLG_OK;
    }
    case L_MAXPOOL:
        if (n != 3 || s[0] < l->ph || s[1] < l->pw)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (MaxPooling2D) pool (%d, %d) needs input (None, height "
                            ">= %d, width >= %d, channels), got %s", l->name, l->ph, l->pw, l->ph, l->pw,
                            clg_keras_shape(n, s, b, sizeof b));
        os[0] = s[0] / l->ph, os[1] = s[1] / l->pw;
        return CLG_OK;
    case L_FLATTEN:
        *on = 1;
        os[0] = clg_prod(n, s);
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
                            "layer %s (AveragePooling2D) pool (%d, %d) needs input (None, "
                            "height >= %d, width >= %d, channels), got %s", l->name, l->ph, l->pw, l->ph,
                            l->pw, clg_keras_shape(n, s, b, sizeof b));
        os[0] = s[0] / l->ph, os[1] = s[1] / l->pw;
        return CLG_OK;
    case L_GAP:
    case L_GMP:
        if (n != 3)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (%s) needs input (None, height, width, channels), got %s",
                            l->name, clg_kind_type[l->kind], clg_keras_shape(n, s, b, sizeof b));
        *on = 1;
        os[0] = s[2];
        return CLG_OK;
    case L_ZEROPAD:
        if (n != 3)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (ZeroPadding2D) needs input (None, height, width, "
                            "channels), got %s", l->name, clg_keras_shape(n, s, b, sizeof b));
        os[0] = s[0] + l->pads[0] + l->pads[1];
        os[1] = s[1] + l->pads[2] + l->pads[3];
        return CLG_OK;
    case L_UPSAMPLE:
        if (n != 3)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (UpSampling2D) needs input (None, height, width, "
                            "channels), got %s", l->name, clg_keras_shape(n, s, b, sizeof b));
        os[0] = s[0] * l->ph, os[1] = s[1] * l->pw;
        return CLG_OK;
    case L_RESHAPE: {
        int64_t total = clg_prod(n, s), known = 1;
        int unknown = -1;
        for (int i = 0; i < l->tgt_ndim; i++) {
            if (l->tgt[i] == -1) unknown = i;
            else known *= l->tgt[i];
        }
        char t[160];
        clg_shape_format(l->tgt_ndim, l->tgt, t, sizeof t);
        if ((unknown < 0 && known != total) || (unknown >= 0 && total % known != 0))
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (Reshape) cannot reshape input %s (%lld values per "
                            "sample) to %s", l->name, clg_keras_shape(n, s, b, sizeof b), (long long)total, t);
        *on = l->tgt_ndim;
        memcpy(os, l->tgt, (size_t)l->tgt_ndim * sizeof *l->tgt);
        if (unknown >= 0) os[unknown] = total / known;
        return CLG_OK;
    }
    case L_DWCONV: {
        if (n != 3 || s[0] < l->kh || s[1] < l->kw)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (DepthwiseConv2D) kernel (%d, %d) needs input (None, "
                            "height >= %d, width >= %d, channels), got %s", l->name, l->kh, l->kw, l->kh,
                            l->kw, clg_keras_shape(n, s, b, sizeof b));
        os[0] = s[0] - l->kh + 1, os[1] = s[1] - l->kw + 1;
        add_weight(l, "depthwise_kernel", 1, 4, (int64_t[]){s[2], 1, l->kh, l->kw});
        add_weight(l, "bias", 1, 1, &s[2]);
        return CLG_OK;
    }
    case L_CONVT:
        if (n != 3)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (Conv2DTranspose) needs input (None, height, width, "
                            "channels), got %s", l->name, clg_keras_shape(n, s, b, sizeof b));
        /* Keras's deconv_output_length: 'same' H*s; 'valid' H*s + max(k - s, 0) */
        if (l->same) os[0] = s[0] * l->sh, os[1] = s[1] * l->sw;
        else {
            os[0] = s[0] * l->sh + (l->kh > l->sh ? l->kh - l->sh : 0);
            os[1] = s[1] * l->sw + (l->kw > l->sw ? l->kw - l->sw : 0);
        }
        os[2] = l->units;
        add_weight(l, "kernel", 1, 4, (int64_t[]){s[2], l->units, l->kh, l->kw});
        add_weight(l, "bias", 1, 1, (int64_t[]){l->units});
        return CLG_OK;
    case L_CONV1D: {
        if (n != 2)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (Conv1D) needs input (None, steps, channels), got %s", l->name,
                            clg_keras_shape(n, s, b, sizeof b));
        int64_t ol = l->same ? (s[0] + l->sw - 1) / l->sw : (s[0] >= l->kw ? (s[0] - l->kw) / l->sw + 1 : 0);
        if (ol <= 0)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "layer %s (Conv1D) kernel %d does not fit input %s",
                            l->name, l->kw, clg_keras_shape(n, s, b, sizeof b));
        os[0] = ol, os[1] = l->units;
        add_weight(l, "kernel", 1, 3, (int64_t[]){l->units, s[1], l->kw});
        add_weight(l, "bias", 1, 1, (int64_t[]){l->units});
        return CLG_OK;
    }
    case L_SIMPLE_RNN:
    case L_LSTM:
    case L_GRU:
    case L_BIDIRECTIONAL: {
        if (n != 2)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "layer %s (%s) needs input (None, timesteps, features), got %s",
                            l->name, clg_kind_type[l->kind], clg_keras_shape(n, s, b, sizeof b));
        const layer_kind cell = l->kind == L_BIDIRECTIONAL ? l->cell : l->kind;
        const int64_t g = cell == L_LSTM ? 4 : cell == L_GRU ? 3 : 1, h = l->units;
        const int dirs = l->kind == L_BIDIRECTIONAL ? 2 : 1; /* merge_mode 'concat' */
        *on = l->return_sequences ? 2 : 1;
        os[0] = l->return_sequences ? s[0] : dirs * h, os[1] = dirs * h;
        static const char *const names[2][3] = {{"forward_kernel", "forward_recurrent_kernel", "forward_bias"},
                                                {"backward_kernel", "backward_recurrent_kernel", "backward_bias"}};
        for (int d = 0; d < dirs; d++) {
            const char *const *nm = dirs == 2 ? names[d] : (const char *const[]){"kernel", "recurrent_kernel", "bias"};
            add_weight(l, nm[0], 1, 2, (int64_t[]){s[1], g * h});
            add_weight(l, nm[1], 1, 2, (int64_t[]){h, g * h});
            if (cell == L_GRU) add_weight(l, nm[2], 1, 2, (int64_t[]){2, g * h}); /* reset_after: two rows */
            else add_weight(l, nm[2], 1, 1, (int64_t[]){g * h});
        }
        return CLG_OK;
    }
    case L_EMBEDDING:
        if (n + 1 >= CLG_MAX_DIMS)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "layer %s (Embedding): input %s has too many axes",
                            l->name, clg_keras_shape(n, s, b, sizeof b));
        *on = n + 1;
        os[n] = l->units;
        add_weight(l, "embeddings", 1, 2, (int64_t[]){l->vocab, l->units});
        return CLG_OK;
    default:
        return CLG_OK;
    }
}

/* Add: every input has the first one's shape. Concatenate: equal shapes but
 * along the axis, whose extents add up. */
static clg_status infer_merge(clg_node *nd, int *on, int64_t *os) {
    const clg_layer *l = nd->layer;
    const clg_node *a = nd->in[0];
    char b1[160], b2[160];
    *on = a->ndim;
    memcpy(os, a->shape, (size_t)a->ndim * sizeof *os);
    int ax = 0;
    if (l->kind == L_CONCAT) {
        ax = l->axis < 0 ? a->ndim + 1 + l->axis : l->axis; /* counted with the batch axis */
        if (ax < 1 || ax > a->ndim)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "layer %s (Concatenate): axis %d is outside input %s",
                            l->name, l->axis, clg_keras_shape(a->ndim, a->shape, b1, sizeof b1));
        ax -= 1;
    }
    for (int i = 1; i < nd->nin; i++) {
        const clg_node *c = nd->in[i];
        int ok = c->ndim == a->ndim && c->dtype == CLG_FLOAT32;
        for (int k = 0; ok && k < a->ndim; k++) ok = c->shape[k] == a->shape[k] || (l->kind == L_CONCAT && k == ax);
        if (!ok)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "layer %s (%s): input %d %s does not match input 0 %s%s",
                            l->name, clg_kind_type[l->kind], i, clg_keras_shape(c->ndim, c->shape, b1, sizeof b1),
                            clg_keras_shape(a->ndim, a->shape, b2, sizeof b2),
                            l->kind == L_CONCAT ? " outside the concatenation axis" : "");
        if (l->kind == L_CONCAT) os[ax] += c->shape[ax];
    }
    return CLG_OK;
}

/* MultiHeadAttention on query (None, Tq, D) and value (None, Tv, Dv) (key =
 * value unless a third input is given; one input: self-attention). Keras's
 * weights: query/key/value kernels [D, heads, key_dim] with biases [heads,
 * key_dim], the output kernel [heads, key_dim, D] and bias [D]. */
/* The weights a layer application inferred on the scratch copy tmp: the first
 * application adopts them; a later one (a shared layer) must arrive at the same
 * shapes. Returns 0 when it does not. */
static int settle_weights(clg_layer *l, const clg_layer *tmp) {
    if (l->applied) {
        if (tmp->nweights != l->nweights) return 0;
        for (int j = 0; j < l->nweights; j++) {
            if (tmp->wndim[j] != l->wndim[j]) return 0;
            for (int k = 0; k < l->wndim[j]; k++)
                if (tmp->wshape[j][k] != l->wshape[j][k]) return 0;
        }
        return 1;
    }
    l->nweights = tmp->nweights;
    memcpy(l->wname, tmp->wname, sizeof l->wname);
    memcpy(l->wtrainable, tmp->wtrainable, sizeof l->wtrainable);
    memcpy(l->wndim, tmp->wndim, sizeof l->wndim);
    memcpy(l->wshape, tmp->wshape, sizeof l->wshape);
    return 1;
}

static clg_status infer_attention(clg_node *nd) {
    clg_layer *l = nd->layer;
    char b1[160], b2[160];
    if (nd->nin < 1 || nd->nin > 3)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "layer %s (MultiHeadAttention) takes 1 to 3 inputs (query, "
                        "value, key), got %d", l->name, nd->nin);
    const clg_node *q = nd->in[0], *v = nd->in[nd->nin > 1 ? 1 : 0], *k = nd->in[nd->nin > 2 ? 2 : nd->nin - 1];
    for (int i = 0; i < nd->nin; i++)
        if (nd->in[i]->ndim != 2 || nd->in[i]->dtype != CLG_FLOAT32)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "layer %s (MultiHeadAttention) input %d must be float32 (None, timesteps, features), got %s",
                            l->name, i, clg_keras_shape(nd->in[i]->ndim, nd->in[i]->shape, b1, sizeof b1));
    if (k->shape[0] != v->shape[0])
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "layer %s (MultiHeadAttention): key %s and value %s differ in length",
                        l->name, clg_keras_shape(2, k->shape, b1, sizeof b1), clg_keras_shape(2, v->shape, b2, sizeof b2));
    const int64_t hd[2] = {l->heads, l->key_dim};
    clg_layer tmp = *l;
    tmp.nweights = 0;
    add_weight(&tmp, "query_kernel", 1, 3, (int64_t[]){q->shape[1], hd[0], hd[1]});
    add_weight(&tmp, "query_bias", 1, 2, hd);
    add_weight(&tmp, "key_kernel", 1, 3, (int64_t[]){k->shape[1], hd[0], hd[1]});
    add_weight(&tmp, "key_bias", 1, 2, hd);
    add_weight(&tmp, "value_kernel", 1, 3, (int64_t[]){v->shape[1], hd[0], hd[1]});
    add_weight(&tmp, "value_bias", 1, 2, hd);
    add_weight(&tmp, "output_kernel", 1, 3, (int64_t[]){hd[0], hd[1], q->shape[1]});
    add_weight(&tmp, "output_bias", 1, 1, &q->shape[1]);
    if (!settle_weights(l, &tmp))
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "shared layer %s (MultiHeadAttention) applied to inputs of other "
                        "feature sizes than its first application", l->name);
    nd->ndim = 2;
    memcpy(nd->shape, q->shape, 2 * sizeof *q->shape);
    nd->dtype = CLG_FLOAT32;
    return CLG_OK;
}

clg_status clg_layer_infer(clg_node *nd) {
    clg_layer *l = nd->layer;
    const int merge = l->kind == L_ADD || l->kind == L_CONCAT;
    char b[160];
    if (l->kind == L_MHA) return infer_attention(nd);
    /* a recurrent layer's further inputs are its initial states (Keras's initial_state) */
    const int nstates = clg_layer_state_count(l), with_states = nstates > 0 && nd->nin == 1 + nstates;
    if (merge ? nd->nin < 2 : nd->nin != 1 && !with_states)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "layer %s (%s) takes %s input%s%s, got %d", l->name,
                        clg_kind_type[l->kind], merge ? "2 or more" : "one", merge ? "s" : "",
                        nstates == 2 ? " (or 3: with the initial states h and c)"
                        : nstates == 1 ? " (or 2: with the initial state)" : "", nd->nin);
    for (int k = 1; with_states && k < nd->nin; k++) {
        const clg_node *s = nd->in[k];
        if (s->ndim != 1 || s->shape[0] != l->units || s->dtype != CLG_FLOAT32)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "layer %s (%s): initial state %s must be float32 (None, %d), "
                            "got %s %s", l->name, clg_kind_type[l->kind], k == 1 ? "h" : "c", l->units,
                            clg_dtype_name(s->dtype), clg_keras_shape(s->ndim, s->shape, b, sizeof b));
    }
    const clg_node *in = nd->in[0];
    if ((l->kind == L_EMBEDDING) != (in->dtype == CLG_INT32))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "layer %s (%s) %s, input %s is %s", l->name,
                        clg_kind_type[l->kind], l->kind == L_EMBEDDING ? "takes int32 indices" : "takes float32 values",
                        in->name[0] ? in->name : "(node)", clg_dtype_name(in->dtype));
    /* A shared layer's later application infers on a scratch copy and must
     * arrive at the weight shapes of the first. */
    clg_layer tmp = *l;
    tmp.nweights = 0;
    int on = 0;
    int64_t os[CLG_MAX_DIMS];
    clg_status st = merge ? infer_merge(nd, &on, os) : infer_one(&tmp, in->ndim, in->shape, &on, os);
    if (st != CLG_OK) return st;
    if (!settle_weights(l, &tmp))
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                        "shared layer %s (%s) applied to input %s needs other weight shapes than its first "
                        "application", l->name, clg_kind_type[l->kind],
                        clg_keras_shape(in->ndim, in->shape, b, sizeof b));
    nd->ndim = on;
    memcpy(nd->shape, os, (size_t)on * sizeof *os);
    nd->dtype = CLG_FLOAT32;
    return CLG_OK;
}

/* Keras's Orthogonal initializer for a [rows, cols] matrix: a standard normal
 * matrix of shape (max, min) (drawn from the seed's Philox stream, Box-Muller),
 * orthonormalised (modified Gram-Schmidt in double, which leaves R's diagonal
 * positive, so Keras's sign fix changes nothing), transposed when rows < cols.
 * Rows or columns come out orthonormal. */
static clg_tensor *orthogonal(clg_context *ctx, int64_t rows, int64_t cols, uint64_t seed) {
    const int64_t r = rows > cols ? rows : cols, c = rows > cols ? cols : rows;
    double *a = malloc(sizeof *a * (size_t)(r * c) + 1);
    float *w = malloc(sizeof *w * (size_t)(r * c) + 1);
    clg_tensor *t = NULL;
    if (!a || !w) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "orthogonal initializer: out of host memory");
        goto done;
    }
    for (int64_t i = 0; i < r * c; i++) {
        double u1 = ((double)clg_philox_bits(seed, (uint64_t)(2 * i)) + 1.0) / 4294967297.0;
        double u2 = (double)clg_philox_bits(seed, (uint64_t)(2 * i + 1)) / 4294967296.0;
        a[i] = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2); /* a[row * c + col] */
    }
    for (int64_t j = 0; j < c; j++) { /* columns of a [r, c] */
        for (int64_t k = 0; k < j; k++) {
            double dot = 0;
            for (int64_t i = 0; i < r; i++) dot += a[i * c + j] * a[i * c + k];
            for (int64_t i = 0; i < r; i++) a[i * c + j] -= dot * a[i * c + k];
        }
        double norm = 0;
        for (int64_t i = 0; i < r; i++) norm += a[i * c + j] * a[i * c + j];
        norm = sqrt(norm);
        for (int64_t i = 0; i < r; i++) a[i * c + j] = norm > 0 ? a[i * c + j] / norm : 0;
    }
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) {
            if (rows >= cols) w[i * c + j] = (float)a[i * c + j]; /* [rows, cols] = q */
            else w[j * r + i] = (float)a[i * c + j];            /* [rows, cols] = q^T */
        }
    t = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){rows, cols}, w);
done:
    free(a), free(w);
    return t;
}

/* (Re)creates the layer's weights: Glorot-uniform kernels (Keras's fan_in and
 * fan_out), Embedding uniform +-0.05, zero biases and betas, unit gammas and
 * moving variances. */
/* Embedding's mask table: looking ids up in it gives the mask (no gradient). */
static clg_status make_mask_table(clg_context *ctx, clg_layer *l) {
    clg_tensor_free(l->mask_table);
    l->mask_table = NULL;
    if (l->kind != L_EMBEDDING || !l->mask_zero) return CLG_OK;
    float *t = malloc(sizeof *t * (size_t)l->vocab + 1);
    if (!t) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "layer %s: out of host memory", l->name);
    for (int i = 0; i < l->vocab; i++) t[i] = i != 0;
    l->mask_table = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){l->vocab, 1}, t);
    free(t);
    return l->mask_table ? CLG_OK : clg_fail_wrap(clg_last_status(), "layer %s: mask table", l->name);
}

clg_status clg_layer_init_weights(clg_context *ctx, clg_layer *l, uint64_t seed) {
    clg_status mst = make_mask_table(ctx, l);
    if (mst != CLG_OK) return mst;
    for (int j = 0; j < l->nweights; j++) {
        clg_tensor_free(l->w[j]);
        l->w[j] = NULL;
        const char *wn = l->wname[j];
        const int64_t *ws = l->wshape[j];
        clg_tensor *t;
        const layer_kind cell = l->kind == L_BIDIRECTIONAL ? l->cell : l->kind;
        const size_t wl = strlen(wn);
        const int recurrent = wl >= 16 && !strcmp(wn + wl - 16, "recurrent_kernel");
        const int bias = wl >= 4 && !strcmp(wn + wl - 4, "bias");
        if (recurrent) {
            t = orthogonal(ctx, ws[0], ws[1], clg_mix64(seed ^ (0x0a7f0ULL + (uint64_t)j)));
        } else if (bias && cell == L_LSTM) { /* unit_forget_bias: f's block is 1 */
            int64_t h = ws[0] / 4;
            float *b = calloc((size_t)ws[0] + 1, sizeof *b);
            if (b)
                for (int64_t i = h; i < 2 * h; i++) b[i] = 1.0f;
            t = b ? clg_tensor_from_host(ctx, CLG_FLOAT32, 1, ws, b) : NULL;
            if (!b) clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "lstm bias: out of host memory");
            free(b);
        } else if ((wl >= 6 && !strcmp(wn + wl - 6, "kernel")) || !strcmp(wn, "depthwise_kernel")) {
            double fan_in, fan_out;
            if (l->kind == L_MHA) { /* Keras's fans for a rank-3 kernel: receptive field = the first extent */
                fan_in = (double)(ws[0] * ws[1]), fan_out = (double)(ws[0] * ws[2]);
            } else if (l->kind == L_DENSE || l->kind == L_SIMPLE_RNN || l->kind == L_LSTM || l->kind == L_GRU ||
                       l->kind == L_BIDIRECTIONAL)
                fan_in = (double)ws[0], fan_out = (double)ws[1];
            else if (l->kind == L_CONV1D) /* Keras's [K, C, O] */
                fan_in = (double)(ws[1] * ws[2]), fan_out = (double)(ws[0] * ws[2]);
            else if (l->kind == L_DWCONV) { /* Keras's [KH, KW, C, 1]: fan_in C·KH·KW, fan_out KH·KW */
                double rf = (double)(l->kh * l->kw);
                fan_in = (double)ws[0] * rf, fan_out = (double)ws[1] * rf;
            } else { /* Conv2D [O, C, ..] and Conv2DTranspose [C, O, ..] as Keras's kernels */
                double rf = (double)(l->kh * l->kw);
                fan_in = (double)ws[1] * rf, fan_out = (double)ws[0] * rf;
            }
            float lim = (float)sqrt(6.0 / (fan_in + fan_out));
            /* a second kernel (Bidirectional's backward one) draws its own numbers */
            t = clg_tensor_rand_uniform(ctx, l->wndim[j], ws, -lim, lim, j ? clg_mix64(seed ^ (uint64_t)j) : seed, 0);
        } else if (l->kind == L_POSEMB) { /* keras_hub's PositionEmbedding: glorot_uniform */
            float lim = (float)sqrt(6.0 / (double)(ws[0] + ws[1]));
            t = clg_tensor_rand_uniform(ctx, l->wndim[j], ws, -lim, lim, seed, 0);
        } else if (!strcmp(wn, "embeddings")) {
            t = clg_tensor_rand_uniform(ctx, l->wndim[j], ws, -0.05f, 0.05f, seed, 0);
        } else if (!strcmp(wn, "gamma") || !strcmp(wn, "moving_variance")) {
            t = clg_tensor_ones(ctx, CLG_FLOAT32, l->wndim[j], ws);
        } else {
            t = clg_tensor_zeros(ctx, CLG_FLOAT32, l->wndim[j], ws);
        }
        if (!t) return clg_fail_wrap(clg_last_status(), "creating %s.%s", l->name, wn);
        char full[128];
        snprintf(full, sizeof full, "%s.%s", l->name, wn);
        clg_tensor_set_name(t, full);
        if (l->wtrainable[j] && l->trainable) clg_tensor_set_requires_grad(t, 1);
        l->w[j] = t;
    }
    return CLG_OK;
}

clg_tensor *clg_layer_penalty(const clg_layer *l) {
    if (!(l->l2 > 0.0f) || !l->w[0]) return NULL;
    clg_tensor *sq = clg_square(l->w[0]);
    clg_tensor *sum = sq ? clg_sum(sq, 0, NULL, 0) : NULL;
    clg_tensor *r = sum ? clg_mul_scalar(sum, l->l2) : NULL;
    clg_tensor_free(sq), clg_tensor_free(sum);
    if (!r) clg_fail_wrap(clg_last_status(), "layer %s: L2 penalty", l->name);
    return r;
}

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
    uint64_t seed = clg_mix64(m->seed ^ clg_mix64(0xd509ULL + (uint64_t)index));
    return clg_dropout_counter(x, rate, seed, m->rng_counter);
}

/* A pooling layer's parameters: Keras's defaults on NHWC data. */
static clg_pool2d_params pool_params(const clg_layer *l) {
    clg_pool2d_params p = clg_pool2d_params_default(l->ph, l->pw);
    p.layout = CLG_LAYOUT_NHWC;
    return p;
}

/* x [..., F] @ w [F, U] + b on the last axis, as Keras's Dense. */
static clg_tensor *dense_forward(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b) {
    const int nd = clg_tensor_ndim(x);
    if (nd == 2) return clg_linear(x, w, b);
    const int64_t f = clg_tensor_shape(x)[nd - 1];
    clg_tensor *x2 = clg_tensor_reshape(x, 2, (int64_t[]){clg_tensor_numel(x) / (f > 0 ? f : 1), f});
    clg_tensor *y2 = x2 ? clg_linear(x2, w, b) : NULL;
    int64_t shape[CLG_MAX_DIMS];
    memcpy(shape, clg_tensor_shape(x), (size_t)nd * sizeof *shape);
    shape[nd - 1] = clg_tensor_shape(w)[1];
    clg_tensor *y = y2 ? clg_tensor_reshape(y2, nd, shape) : NULL;
    clg_tensor_free(x2), clg_tensor_free(y2);
    return y;
}

/* x [N, T, D] projected by kernel [D, H, K] + bias [H, K] into [N, H, T, K]. */
static clg_tensor *project_heads(const clg_tensor *x, const clg_tensor *kernel, const clg_tensor *bias) {
    const int64_t *ks = clg_tensor_shape(kernel), n = clg_tensor_shape(x)[0], t = clg_tensor_shape(x)[1];
    clg_tensor *w = clg_tensor_reshape(kernel, 2, (int64_t[]){ks[0], ks[1] * ks[2]});
    clg_tensor *b = w ? clg_tensor_reshape(bias, 1, (int64_t[]){ks[1] * ks[2]}) : NULL;
    clg_tensor *y = b ? dense_forward(x, w, b) : NULL; /* [N, T, H*K] */
    clg_tensor *y4 = y ? clg_tensor_reshape(y, 4, (int64_t[]){n, t, ks[1], ks[2]}) : NULL;
    clg_tensor *r = y4 ? clg_tensor_permute(y4, (const int[]){0, 2, 1, 3}) : NULL;
    clg_tensor_free(w), clg_tensor_free(b), clg_tensor_free(y), clg_tensor_free(y4);
    return r;
}

/* Keras's MultiHeadAttention: project query, key and value per head, scaled
 * dot-product attention (causal if asked; keys masked by the query's mask in
 * self-attention), heads joined and projected back to the query's features. */
static clg_tensor *attention_forward(const clg_layer *l, const clg_node *nd, clg_tensor *const *in,
                                     const clg_tensor *mask_in) {
    const clg_tensor *qx = in[0], *vx = in[nd->nin > 1 ? 1 : 0], *kx = in[nd->nin > 2 ? 2 : nd->nin - 1];
    clg_tensor *q = project_heads(qx, l->w[0], l->w[1]);
    clg_tensor *k = q ? project_heads(kx, l->w[2], l->w[3]) : NULL;
    clg_tensor *v = k ? project_heads(vx, l->w[4], l->w[5]) : NULL;
    const int64_t n = clg_tensor_shape(qx)[0], tq = clg_tensor_shape(qx)[1], d = clg_tensor_shape(qx)[2];
    const int key_mask = mask_in && nd->nin == 1; /* self-attention: the input's mask masks the keys */
    clg_tensor *kmask = v && key_mask /* [N, Tk] -> [N, 1, 1, Tk] */
                            ? clg_tensor_reshape(mask_in, 4, (int64_t[]){n, 1, 1, clg_tensor_shape(mask_in)[1]})
                            : NULL;
    clg_tensor *o = v && (kmask || !key_mask)
                        ? clg_scaled_dot_product_attention(q, k, v, kmask, l->causal, 0.0f, 0.0f, 0, NULL)
                        : NULL; /* [N, H, Tq, K] */
    clg_tensor *ot = o ? clg_tensor_permute(o, (const int[]){0, 2, 1, 3}) : NULL;
    clg_tensor *o3 = ot ? clg_tensor_reshape(ot, 3, (int64_t[]){n, tq, (int64_t)l->heads * l->key_dim}) : NULL;
    clg_tensor *wo = o3 ? clg_tensor_reshape(l->w[6], 2, (int64_t[]){(int64_t)l->heads * l->key_dim, d}) : NULL;
    clg_tensor *y = wo ? dense_forward(o3, wo, l->w[7]) : NULL;
    clg_tensor *list[] = {q, k, v, kmask, o, ot, o3, wo};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) clg_tensor_free(list[i]);
    return y;
}

/* A recurrent cell's output for x with weights w[0..2]: the whole sequence
 * with return_sequences, else the last step processed. init: NULL (zeros) or
 * the initial states; last: NULL or where the final states go. */
static clg_tensor *recurrent_forward(const clg_layer *l, layer_kind cell, clg_tensor *const *w, const clg_tensor *x,
                                     const clg_tensor *mask, int backwards, clg_tensor *const *init,
                                     clg_tensor **last) {
    const clg_tensor *h0 = init ? init[0] : NULL, *c0 = init && cell == L_LSTM ? init[1] : NULL;
    clg_tensor **hl = last ? &last[0] : NULL;
    clg_tensor *seq = cell == L_LSTM ? clg_lstm(x, w[0], w[1], w[2], h0, c0, mask, backwards, hl, last ? &last[1] : NULL)
                      : cell == L_GRU ? clg_gru(x, w[0], w[1], w[2], h0, mask, backwards, hl)
                                      : clg_simple_rnn(x, w[0], w[1], w[2], h0, mask, backwards, hl);
    if (!seq || l->return_sequences) return seq;
    const int64_t *sh = clg_tensor_shape(seq);
    clg_tensor *end = clg_tensor_slice(seq, 1, sh[1] - 1, sh[1], 1);
    clg_tensor *y = end ? clg_tensor_reshape(end, 2, (int64_t[]){sh[0], sh[2]}) : NULL;
    clg_tensor_free(end), clg_tensor_free(seq);
    return y;
}

/* A stateful layer's initial states for a batch of x: copies of the carried
 * states (zeros at first), since the carried ones are overwritten after the
 * step while the backward pass still reads the initial ones. */
/* A stateful layer's carried states for a batch of x, made (zeros) if
 * missing; states just reset may take a new batch size. */
static clg_status stateful_states(clg_layer *l, const clg_tensor *x) {
    clg_context *ctx = clg_tensor_context(x);
    const int64_t shape[2] = {clg_tensor_shape(x)[0], l->units};
    if (l->state[0] && clg_tensor_shape(l->state[0])[0] != shape[0]) {
        if (!l->states_fresh)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "stateful layer %s (%s) carries states of %lld samples; this "
                            "batch has %lld (every batch needs the same size; clg_model_reset_states starts over)",
                            l->name, clg_kind_type[l->kind], (long long)clg_tensor_shape(l->state[0])[0],
                            (long long)shape[0]);
        clg_layer_drop_states(l);
    }
    for (int k = 0; k < clg_layer_state_count(l); k++)
        if (!l->state[k] && !(l->state[k] = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, shape))) return clg_last_status();
    return CLG_OK;
}

static clg_status stateful_init(clg_layer *l, const clg_tensor *x, clg_tensor **init) {
    clg_context *ctx = clg_tensor_context(x);
    const int64_t shape[2] = {clg_tensor_shape(x)[0], l->units};
    clg_status st0 = stateful_states(l, x);
    if (st0 != CLG_OK) return st0;
    for (int k = 0; k < clg_layer_state_count(l); k++) {
        if (!(init[k] = clg_tensor_empty(ctx, CLG_FLOAT32, 2, shape))) return clg_last_status();
        clg_status st = clg_tensor_assign(init[k], l->state[k]);
        if (st != CLG_OK) return st;
    }
    return CLG_OK;
}

/* SimpleRNN, LSTM and GRU: initial states from the node's further inputs, the
 * carried states (stateful) or zeros; final states to states (when asked) and
 * into the carried ones (stateful). */
static clg_tensor *recurrent_layer(clg_layer *l, const clg_node *nd, clg_tensor *const *in, const clg_tensor *mask,
                                   clg_tensor **states) {
    clg_tensor *own[2] = {NULL, NULL}, *last[2] = {NULL, NULL}, *y = NULL;
    clg_tensor *const *init = nd->nin > 1 ? in + 1 : NULL;
    clg_status st = CLG_OK;
    if (!init && l->stateful) {
        st = stateful_init(l, in[0], own);
        init = own;
    } else if (l->stateful) { /* explicit initial states win; the final ones are still carried */
        st = stateful_states(l, in[0]);
    }
    const int want = states || l->stateful;
    if (st == CLG_OK) y = recurrent_forward(l, l->kind, l->w, in[0], mask, l->go_backwards, init, want ? last : NULL);
    if (y && l->stateful) {
        int was = clg_grad_set_enabled(clg_tensor_context(y), 0); /* no gradient flows across batches */
        for (int k = 0; st == CLG_OK && k < clg_layer_state_count(l); k++) st = clg_tensor_assign(l->state[k], last[k]);
        clg_grad_set_enabled(clg_tensor_context(y), was);
        if (st != CLG_OK) clg_tensor_free(y), y = NULL;
        else l->states_fresh = 0;
    }
    for (int k = 0; k < 2; k++) {
        if (states) states[k] = y ? last[k] : NULL;
        else clg_tensor_free(last[k]);
        if (states && !y) clg_tensor_free(last[k]);
        clg_tensor_free(own[k]);
    }
    return y;
}

clg_tensor *clg_layer_forward(clg_model *m, const clg_node *nd, clg_tensor *const *in, const clg_tensor *mask_in,
                              clg_tensor **mask_out, int training, clg_tensor **states) {
    const clg_layer *l = nd->layer;
    clg_tensor *h = in[0], *y = NULL;
    *mask_out = NULL;
    switch (l->kind) { /* the mask of the output (Keras's compute_mask) */
    case L_EMBEDDING:
        if (l->mask_zero) {
            clg_tensor *m3 = clg_embedding(l->mask_table, h); /* [..., 1] */
            if (!m3) return NULL;
            *mask_out = clg_tensor_reshape(m3, clg_tensor_ndim(h), clg_tensor_shape(h));
            clg_tensor_free(m3);
            if (!*mask_out) return NULL;
        }
        break;
    case L_DROPOUT:
    case L_ACTIVATION:
    case L_LEAKYRELU:
    case L_LAYERNORM:
    case L_BATCHNORM:
    case L_DENSE:
    case L_POSEMB:
    case L_ADD:
    case L_MHA: /* the query's / first input's mask */
        if (mask_in) *mask_out = clg_tensor_retain(mask_in);
        break;
    case L_SIMPLE_RNN:
    case L_LSTM:
    case L_GRU:
    case L_BIDIRECTIONAL:
        if (mask_in && l->return_sequences) *mask_out = clg_tensor_retain(mask_in);
        break;
    default:
        break;
    }
    /* A frozen BatchNormalization runs in inference mode (Keras 2.1+). */
    const int bn_training = training && l->trainable;
    switch (l->kind) {
    case L_DENSE:
        y = dense_forward(h, l->w[0], l->w[1]);
        break;
    case L_POSEMB: {
        const int64_t t = clg_tensor_shape(h)[1];
        clg_tensor *rows = clg_tensor_slice(l->w[0], 0, 0, t, 1);
        y = rows ? clg_add(h, rows) : NULL;
        clg_tensor_free(rows);
        break;
    }
    case L_MHA:
        y = attention_forward(l, nd, in, mask_in);
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
        y = clg_tensor_reshape(h, 2, (int64_t[]){clg_tensor_shape(h)[0], nd->shape[0]});
        break;
    case L_DROPOUT: /* a copy outside training keeps the layer in the graph */
        y = training && l->rate > 0.0f ? dropout_fwd(m, nd->seed_id, l->rate, h) : clg_mul_scalar(h, 1.0f);
        break;
    case L_ACTIVATION:
        y = clg_mul_scalar(h, 1.0f);
        break;
    case L_BATCHNORM:
        y = clg_batch_norm(h, l->w[0], l->w[1], l->w[2], l->w[3], bn_training, 0.99f, 1e-3f,
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
        memcpy(shape + 1, nd->shape, (size_t)nd->ndim * sizeof *shape);
        y = clg_tensor_reshape(h, nd->ndim + 1, shape);
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
        p.groups = (int)l->wshape[0][0];
        p.layout = CLG_LAYOUT_NHWC;
        y = clg_conv2d(h, l->w[0], l->w[1], &p);
        break;
    }
    case L_CONVT: {
        clg_conv2d_params p = clg_conv2d_params_default();
        p.stride[0] = l->sh, p.stride[1] = l->sw;
        p.padding = l->same ? CLG_PADDING_SAME : CLG_PADDING_VALID;
        p.layout = CLG_LAYOUT_NHWC;
        /* Keras's output_padding=None: 'same' gives H*s (no output_padding
         * argument: with {0, 0} the op computes (H-1)s + k - 2(k/2), which is
         * not H*s for even kernels or strides above 1); 'valid' gives
         * (H-1)s + k, raised to H*s when k < s */
        const int op[2] = {l->kh >= l->sh ? 0 : l->sh - l->kh, l->kw >= l->sw ? 0 : l->sw - l->kw};
        y = clg_conv2d_transpose(h, l->w[0], l->w[1], &p, l->same ? NULL : op);
        break;
    }
    case L_CONV1D: {
        clg_conv2d_params p = clg_conv2d_params_default();
        p.stride[1] = l->sw;
        p.padding = l->same ? CLG_PADDING_SAME : CLG_PADDING_VALID;
        p.layout = CLG_LAYOUT_NHWC;
        y = clg_conv1d(h, l->w[0], l->w[1], &p);
        break;
    }
    case L_EMBEDDING:
        y = clg_embedding(l->w[0], h);
        break;
    case L_SIMPLE_RNN:
    case L_LSTM:
    case L_GRU:
        y = recurrent_layer(nd->layer, nd, in, mask_in, states);
        break;
    case L_BIDIRECTIONAL: {
        /* Keras's Bidirectional, merge_mode 'concat': the backward copy runs
         * time reversed and its sequence is put back in time order. */
        clg_tensor *f = recurrent_forward(l, l->cell, l->w, h, mask_in, l->go_backwards, NULL, NULL);
        clg_tensor *b = f ? recurrent_forward(l, l->cell, l->w + 3, h, mask_in, !l->go_backwards, NULL, NULL) : NULL;
        if (b && l->return_sequences) {
            const int64_t t = clg_tensor_shape(b)[1];
            int32_t *rev = malloc(sizeof *rev * (size_t)t + 1);
            clg_tensor *idx = NULL, *br = NULL;
            if (rev) {
                for (int64_t i = 0; i < t; i++) rev[i] = (int32_t)(t - 1 - i);
                idx = clg_tensor_from_host(clg_tensor_context(b), CLG_INT32, 1, &t, rev);
            } else {
                clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "layer %s: out of host memory", l->name);
            }
            br = idx ? clg_index_select(b, 1, idx) : NULL;
            free(rev), clg_tensor_free(idx), clg_tensor_free(b);
            b = br;
        }
        y = f && b ? clg_concat(2, (const clg_tensor *[]){f, b}, -1) : NULL;
        clg_tensor_free(f), clg_tensor_free(b);
        break;
    }
    case L_ADD: {
        y = clg_add(in[0], in[1]);
        for (int i = 2; y && i < nd->nin; i++) {
            clg_tensor *z = clg_add(y, in[i]);
            clg_tensor_free(y);
            y = z;
        }
        break;
    }
    case L_CONCAT: {
        int ax = l->axis < 0 ? nd->ndim + 1 + l->axis : l->axis;
        y = clg_concat(nd->nin, (const clg_tensor *const *)in, ax);
        break;
    }
    default:
        break;
    }
    clg_tensor *r = y ? activate(y, l->act) : NULL;
    if (!r) {
        clg_fail_wrap(clg_last_status(), "layer %s (%s)", l->name, clg_kind_type[l->kind]);
        clg_tensor_free(*mask_out);
        *mask_out = NULL;
    }
    return r;
}
