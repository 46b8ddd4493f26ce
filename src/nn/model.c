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
#include "clgrad/distributed.h"
#include "clgrad/model.h"
#include "clgrad/ops.h"
#include "clgrad/safetensors.h"
#include "common/error.h"
#include "graph/graph.h"
#include "nn/model_internal.h"
#include "runtime/dist.h"

/* --- small helpers --------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define prod clg_prod
#define keras_shape clg_keras_shape
#define mix64 clg_mix64

const char *const clg_loss_names[LOSS_KIND_COUNT] = {"sparse_categorical_crossentropy", "categorical_crossentropy",
                                                     "mse", "binary_crossentropy"};

static void free_state(clg_model *m);
static clg_status ensure_built(clg_model *m, const char *api);

/* --- the graph ------------------------------------------------------------------------- */

static clg_model *model_alloc(clg_context *ctx, const char *api) {
    if (!ctx) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: context is NULL", api);
        return NULL;
    }
    clg_model *m = calloc(1, sizeof *m);
    if (!m) clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    else m->ctx = ctx;
    return m;
}

/* Grows *arr (of pointers) to hold one more; 0 on success. */
static int grow(void *arr, int count, int *cap) {
    if (count < *cap) return 0;
    int nc = *cap ? 2 * *cap : 8;
    void **p = realloc(*(void ***)arr, (size_t)nc * sizeof *p);
    if (!p) return -1;
    *(void ***)arr = p;
    *cap = nc;
    return 0;
}

static clg_node *node_push(clg_model *m, const char *api) {
    clg_node *n = calloc(1, sizeof *n);
    if (!n || grow(&m->nodes, m->nnodes, &m->cap_nodes)) {
        free(n);
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
        return NULL;
    }
    n->model = m;
    n->id = m->nnodes;
    n->seed_id = m->nnodes - m->nports;
    m->nodes[m->nnodes++] = n;
    return n;
}

static void model_changed(clg_model *m) {
    m->built = 0;
    free_state(m); /* compile again */
}

static clg_node *add_input(clg_model *m, clg_dtype dtype, int ndim, const int64_t *shape, const char *api) {
    char b[160];
    if (ndim < 1 || ndim >= CLG_MAX_DIMS || !shape) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: need an input shape of 1 to %d axes (got %d)", api,
                 CLG_MAX_DIMS - 1, ndim);
        return NULL;
    }
    int64_t per_sample = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: input shape %s has an extent <= 0", api,
                     keras_shape(ndim, shape, b, sizeof b));
            return NULL;
        }
        if (shape[i] > INT64_MAX / per_sample) {
            clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: input shape %s has more elements than 2^63", api,
                     keras_shape(ndim, shape, b, sizeof b));
            return NULL;
        }
        per_sample *= shape[i];
    }
    if (grow(&m->inputs, m->ninputs, &m->cap_inputs)) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
        return NULL;
    }
    clg_node *n = node_push(m, api);
    if (!n) return NULL;
    n->dtype = dtype;
    n->ndim = ndim;
    memcpy(n->shape, shape, (size_t)ndim * sizeof *shape);
    if (m->input_count == 0) snprintf(n->name, sizeof n->name, "input_layer");
    else snprintf(n->name, sizeof n->name, "input_layer_%d", m->input_count);
    m->input_count++;
    m->inputs[m->ninputs++] = n;
    model_changed(m);
    return n;
}

clg_model *clg_sequential_new(clg_context *ctx, int ndim, const int64_t *input_shape) {
    const char *api = "clg_sequential_new";
    clg_model *m = model_alloc(ctx, api);
    if (!m) return NULL;
    m->sequential = 1;
    if (!add_input(m, CLG_FLOAT32, ndim, input_shape, api) ||
        clg_model_set_outputs(m, 1, (clg_node *[]){m->nodes[0]}) != CLG_OK) {
        clg_model_free(m);
        return NULL;
    }
    return m;
}

clg_model *clg_model_new(clg_context *ctx) { return model_alloc(ctx, "clg_model_new"); }

clg_node *clg_model_input(clg_model *m, int ndim, const int64_t *shape) {
    if (!m) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_input: model is NULL");
        return NULL;
    }
    if (m->sequential) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_input: a Sequential model has its one input");
        return NULL;
    }
    return add_input(m, CLG_FLOAT32, ndim, shape, "clg_model_input");
}

clg_node *clg_model_input_indices(clg_model *m, int ndim, const int64_t *shape) {
    clg_node *n = clg_model_input(m, ndim, shape);
    if (n) n->dtype = CLG_INT32;
    return n;
}

static void free_state(clg_model *m) {
    clg_par_free(m->par); /* replicas follow the model's layers and compile */
    m->par = NULL;
    clg_optimizer_free(m->opt);
    m->opt = NULL;
    free(m->params);
    m->params = NULL;
    m->nparams = 0;
    clg_tensor_free(m->rng_counter);
    m->rng_counter = NULL;
    m->compiled = 0;
}

void clg_model_free(clg_model *m) {
    if (!m) return;
    free_state(m);
    for (int i = 0; i < m->nlayers; i++) clg_layer_free(m->layers[i]);
    for (int i = 0; i < m->nnodes; i++) {
        free(m->nodes[i]->in);
        free(m->nodes[i]);
    }
    free(m->layers), free(m->nodes), free(m->inputs), free(m->outputs);
    free(m);
}

/* Applies layer l to inputs in their model. With take_on_failure the model
 * owns l even when this fails (a shared layer stays valid for later calls);
 * otherwise a failure frees a layer no model owns yet (clg_model_add). */
static clg_node *apply(clg_layer *l, int nin, clg_node *const *in, int take_on_failure, const char *api) {
    clg_model *m = nin > 0 && in && in[0] ? in[0]->model : NULL;
    int bad_in = !m || nin < 1;
    for (int i = 0; !bad_in && i < nin; i++) bad_in = !in[i] || in[i]->model != m;
    if (!l || bad_in || (l->owner && l->owner != m)) {
        if (l && !l->owner) clg_layer_free(l);
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s", api,
                 !l ? "layer is NULL (the layer constructor failed?)"
                 : bad_in ? "an input node is NULL or from another model (an earlier call failed?)"
                          : "the layer belongs to another model");
        return NULL;
    }
    int fresh = !l->owner;
    if (fresh) {
        if (grow(&m->layers, m->nlayers, &m->cap)) {
            clg_layer_free(l);
            clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
            return NULL;
        }
        int k = m->kind_count[l->kind];
        if (k == 0) snprintf(l->name, sizeof l->name, "%s", clg_kind_base[l->kind]);
        else snprintf(l->name, sizeof l->name, "%s_%d", clg_kind_base[l->kind], k);
    }
    clg_node tmp = {.model = m, .id = m->nnodes, .layer = l, .nin = nin, .in = (clg_node **)in};
    clg_status st = clg_layer_infer(&tmp);
    clg_node *n = NULL;
    if (st == CLG_OK) {
        n = node_push(m, api);
        clg_node **ins = n ? malloc((size_t)nin * sizeof *ins) : NULL;
        if (n && !ins) {
            m->nnodes--, free(n), n = NULL;
            clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
        }
        if (n) {
            memcpy(ins, in, (size_t)nin * sizeof *ins);
            *n = tmp;
            n->in = ins;
            n->id = m->nnodes - 1;
            n->seed_id = n->id - m->nports;
        }
    } else {
        clg_fail_wrap(st, "%s", api);
    }
    if (!n && fresh && !take_on_failure) {
        clg_layer_free(l);
        return NULL;
    }
    if (fresh) {
        l->owner = m;
        m->kind_count[l->kind]++;
        m->layers[m->nlayers++] = l;
    }
    if (n) {
        l->applied = 1;
        model_changed(m);
    }
    return n;
}

clg_node *clg_call(clg_layer *layer, clg_node *input) { return apply(layer, 1, &input, 1, "clg_call"); }

clg_node *clg_call_n(clg_layer *layer, int n, clg_node *const *inputs) {
    if (n < 1 || !inputs) {
        if (layer && !layer->owner) clg_layer_free(layer);
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_call_n: need 1 or more inputs (got %d)", n);
        return NULL;
    }
    return apply(layer, n, inputs, 1, "clg_call_n");
}

clg_node *clg_model_state_port(clg_node *rnn, int k) {
    clg_model *m = rnn->model;
    for (int i = rnn->id + 1; i < m->nnodes; i++)
        if (m->nodes[i]->port == k && m->nodes[i]->in[0] == rnn) return m->nodes[i];
    clg_node *n = node_push(m, "clg_call_rnn");
    clg_node **ins = n ? malloc(sizeof *ins) : NULL;
    if (n && !ins) {
        m->nnodes--, free(n), n = NULL;
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_call_rnn: out of host memory");
    }
    if (!n) return NULL;
    m->nports++;
    ins[0] = rnn;
    n->in = ins, n->nin = 1, n->port = k;
    n->dtype = CLG_FLOAT32, n->ndim = 1, n->shape[0] = rnn->layer->units;
    snprintf(n->name, sizeof n->name, "%s_state_%s", rnn->layer->name, k == 1 ? "h" : "c");
    rnn->layer->return_state = 1;
    model_changed(m);
    return n;
}

clg_node *clg_call_rnn(clg_layer *layer, clg_node *input, int n_initial, clg_node *const *initial,
                       clg_node **states) {
    const char *api = "clg_call_rnn";
    const int ns = layer ? clg_layer_state_count(layer) : 0;
    for (int k = 0; states && k < ns; k++) states[k] = NULL;
    const char *bad = !layer ? "layer is NULL (the layer constructor failed?)"
                      : ns == 0 ? "the layer is not a SimpleRNN, LSTM or GRU"
                      : n_initial != 0 && n_initial != ns ? "n_initial must be 0 or the layer's state count"
                      : n_initial && !initial ? "initial is NULL" : NULL;
    if (bad) {
        if (ns == 0)
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s (%s)", api, bad,
                     layer ? layer->name[0] ? layer->name : clg_kind_type[layer->kind] : "NULL");
        else
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s (layer %s takes %d state%s: %s)", api, bad,
                     layer->name[0] ? layer->name : clg_kind_type[layer->kind], ns, ns == 1 ? "" : "s",
                     ns == 2 ? "h, c" : "h");
        if (layer && !layer->owner) clg_layer_free(layer); /* after the message, which names it */
        return NULL;
    }
    clg_node *in[3] = {input, n_initial ? initial[0] : NULL, n_initial > 1 ? initial[1] : NULL};
    clg_node *out = apply(layer, 1 + n_initial, in, 1, api);
    for (int k = 0; states && k < ns; k++) states[k] = out ? clg_model_state_port(out, k + 1) : NULL;
    for (int k = 0; states && k < ns; k++)
        if (!states[k]) {
            for (int q = 0; q < ns; q++) states[q] = NULL; /* as documented: all NULL on failure */
            return NULL;
        }
    return out;
}

clg_status clg_layer_set_stateful(clg_layer *layer, int stateful) {
    if (!layer || clg_layer_state_count(layer) == 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_layer_set_stateful: %s",
                        layer ? "only SimpleRNN, LSTM and GRU layers carry states" : "layer is NULL");
    /* the graph is unchanged: the model stays compiled (a fit in progress
     * keeps replaying the step it captured) */
    layer->stateful = stateful != 0;
    if (!layer->stateful) clg_layer_drop_states(layer);
    return CLG_OK;
}

clg_status clg_model_reset_states(clg_model *model) {
    if (!model) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_reset_states: model is NULL");
    clg_status st = CLG_OK;
    for (int i = 0; st == CLG_OK && i < model->nlayers; i++) st = clg_layer_reset_states(model->layers[i]);
    return st == CLG_OK ? CLG_OK : clg_fail_wrap(st, "clg_model_reset_states");
}

clg_node *clg_transformer_block(clg_node *x, int num_heads, int key_dim, int ff_dim, float dropout, int causal) {
    if (!x || x->ndim != 2) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_transformer_block: x must be a node (None, T, features)%s",
                 x ? "" : " (NULL: an earlier call failed?)");
        return NULL;
    }
    /* Checked first: a layer failing midway would leave half a block in the model
     * and report only the next call's "input node is NULL". */
    if (num_heads < 1 || key_dim < 1 || ff_dim < 1 || !(dropout >= 0.0f && dropout < 1.0f)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_transformer_block: num_heads %d, key_dim %d and ff_dim %d must be > 0 and dropout %g in "
                 "[0, 1)", num_heads, key_dim, ff_dim, (double)dropout);
        return NULL;
    }
    const int d = (int)x->shape[1];
    clg_node *h = clg_call(clg_layer_layer_normalization(), x);
    h = clg_call(clg_layer_multi_head_attention(num_heads, key_dim, causal), h);
    h = clg_call(clg_layer_dropout(dropout), h);
    clg_node *y = clg_call_n(clg_layer_add(), 2, (clg_node *[]){x, h});
    h = clg_call(clg_layer_layer_normalization(), y);
    h = clg_call(clg_layer_dense(ff_dim, CLG_ACT_GELU), h);
    h = clg_call(clg_layer_dense(d, CLG_ACT_LINEAR), h);
    h = clg_call(clg_layer_dropout(dropout), h);
    clg_node *out = clg_call_n(clg_layer_add(), 2, (clg_node *[]){y, h});
    if (!out) clg_fail_wrap(clg_last_status(), "clg_transformer_block");
    return out;
}

clg_status clg_model_set_outputs(clg_model *m, int n, clg_node *const *outputs) {
    const char *api = "clg_model_set_outputs";
    if (!m || n < 1 || !outputs) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: need a model and 1 or more outputs", api);
    for (int i = 0; i < n; i++)
        if (!outputs[i] || outputs[i]->model != m)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: output %d is NULL or from another model (an earlier call failed?)", api, i);
    clg_node **o = malloc((size_t)n * sizeof *o);
    if (!o) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    memcpy(o, outputs, (size_t)n * sizeof *o);
    free(m->outputs);
    m->outputs = o, m->noutputs = n;
    model_changed(m);
    return CLG_OK;
}

clg_status clg_model_add(clg_model *m, clg_layer *l) {
    if (!m || !m->sequential) {
        if (l && !l->owner) clg_layer_free(l);
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_add: %s", !m ? "model is NULL"
                        : "the model is functional (clg_model_new): connect layers with clg_call");
    }
    if (l && l->owner) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_add: layer %s is already in a model", l->name);
    clg_node *last = m->nodes[m->nnodes - 1];
    /* An Embedding first reads the samples as int32 indices. */
    if (l && m->nnodes == 1) last->dtype = l->kind == L_EMBEDDING ? CLG_INT32 : CLG_FLOAT32;
    clg_node *n = apply(l, 1, &last, 0, "clg_model_add");
    if (!n) return clg_last_status();
    m->outputs[0] = n;
    return CLG_OK;
}

clg_status clg_model_run(clg_model *m, const clg_tensor *const *inputs, int training, clg_tensor **outputs) {
    const char *api = "clg_model_call";
    for (int i = 0; i < m->noutputs; i++) outputs[i] = NULL;
    clg_tensor **val = calloc((size_t)m->nnodes, sizeof *val), **msk = calloc((size_t)m->nnodes, sizeof *msk);
    clg_tensor *(*fin)[2] = calloc((size_t)m->nnodes, sizeof *fin); /* recurrent nodes' final states */
    if (!val || !msk || !fin) {
        free(val), free(msk), free(fin);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    }
    /* the last reader of each node, so its value is dropped as early as possible */
    for (int i = 0; i < m->nnodes; i++) m->nodes[i]->last_use = -1;
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i]->nin; k++) m->nodes[i]->in[k]->last_use = i;
    for (int i = 0; i < m->noutputs; i++) m->outputs[i]->last_use = m->nnodes;
    clg_status st = CLG_OK;
    for (int i = 0; i < m->ninputs; i++) val[m->inputs[i]->id] = clg_tensor_retain(inputs[i]);
    for (int i = 0; st == CLG_OK && i < m->nnodes; i++) {
        clg_node *n = m->nodes[i];
        if (n->port) { /* final state k of the recurrent node it reads */
            const int r = n->in[0]->id;
            clg_tensor *s = fin[r][n->port - 1];
            if (n->last_use >= 0 && !(val[i] = s ? clg_tensor_retain(s) : NULL))
                st = clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: the states of layer %s are missing", api,
                              n->in[0]->layer->name);
            if (n->in[0]->last_use == i) {
                clg_tensor_free(val[r]), clg_tensor_free(msk[r]), val[r] = msk[r] = NULL;
                for (int q = 0; q < 2; q++) clg_tensor_free(fin[r][q]), fin[r][q] = NULL;
            }
            continue;
        }
        if (!n->layer) {
            if (!val[i]) st = clg_last_status();
            continue;
        }
        if (n->last_use < 0) continue; /* nothing reads it */
        clg_tensor *ins[64], **in = ins;
        if (n->nin > 64 && !(in = malloc((size_t)n->nin * sizeof *in))) {
            st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
            break;
        }
        int ok = 1;
        for (int k = 0; k < n->nin; k++) ok &= (in[k] = val[n->in[k]->id]) != NULL;
        val[i] = ok ? clg_layer_forward(m, n, in, msk[n->in[0]->id], &msk[i], training,
                                        n->layer->return_state ? fin[i] : NULL)
                    : NULL;
        if (in != ins) free(in);
        if (!val[i]) st = ok ? clg_last_status() : clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: an input of layer %s is missing", api, n->layer->name);
        for (int k = 0; k < n->nin; k++) {
            clg_node *src = n->in[k];
            if (src->last_use == i && val[src->id]) clg_tensor_free(val[src->id]), val[src->id] = NULL;
            if (src->last_use == i && msk[src->id]) clg_tensor_free(msk[src->id]), msk[src->id] = NULL;
            if (src->last_use == i)
                for (int q = 0; q < 2; q++) clg_tensor_free(fin[src->id][q]), fin[src->id][q] = NULL;
        }
    }
    for (int i = 0; st == CLG_OK && i < m->noutputs; i++) {
        outputs[i] = val[m->outputs[i]->id] ? clg_tensor_retain(val[m->outputs[i]->id]) : NULL;
        if (!outputs[i]) st = clg_last_status();
    }
    for (int i = 0; i < m->nnodes; i++)
        clg_tensor_free(val[i]), clg_tensor_free(msk[i]), clg_tensor_free(fin[i][0]), clg_tensor_free(fin[i][1]);
    free(val), free(msk), free(fin);
    if (st != CLG_OK)
        for (int i = 0; i < m->noutputs; i++) clg_tensor_free(outputs[i]), outputs[i] = NULL;
    return st;
}

clg_status clg_model_call(clg_model *m, const clg_tensor *const *inputs, int training, clg_tensor **outputs) {
    const char *api = "clg_model_call";
    if (!m || !inputs || !outputs) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: NULL argument", api);
    for (int i = 0; i < m->noutputs; i++) outputs[i] = NULL; /* NULLs on failure */
    clg_status st = ensure_built(m, api);
    if (st != CLG_OK) return st;
    if (!m->rng_counter && !(m->rng_counter = clg_tensor_zeros(m->ctx, CLG_INT32, 1, (int64_t[]){2})))
        return clg_fail_wrap(clg_last_status(), "%s", api);
    for (int i = 0; i < m->ninputs; i++) {
        const clg_node *in = m->inputs[i];
        const clg_tensor *t = inputs[i];
        int ok = t && clg_tensor_dtype(t) == in->dtype && clg_tensor_ndim(t) == in->ndim + 1;
        for (int k = 0; ok && k < in->ndim; k++) ok = clg_tensor_shape(t)[k + 1] == in->shape[k];
        if (!ok) {
            char b[160], e[160] = "NULL";
            if (t) clg_shape_format(clg_tensor_ndim(t), clg_tensor_shape(t), e, sizeof e);
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: input %d (%s) is %s %s, the model wants %s %s", api, i,
                            in->name, e, t ? clg_dtype_name(clg_tensor_dtype(t)) : "",
                            keras_shape(in->ndim, in->shape, b, sizeof b), clg_dtype_name(in->dtype));
        }
    }
    st = clg_model_run(m, inputs, training != 0, outputs);
    return st == CLG_OK ? st : clg_fail_wrap(st, "%s", api);
}

/* The model's weights in layer order (all, or the trainable ones) into out
 * (may be NULL to count them); returns the count. */
int clg_nn_list_weights(const clg_model *m, int trainable_only, clg_tensor **out) {
    int n = 0;
    for (int i = 0; m && i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i]->nweights; j++) {
            if (trainable_only && !(m->layers[i]->wtrainable[j] && m->layers[i]->trainable)) continue;
            if (out) out[n] = m->layers[i]->w[j];
            n++;
        }
    return n;
}

int clg_model_weight_count(const clg_model *m, int trainable_only) { return clg_nn_list_weights(m, trainable_only, NULL); }

clg_tensor *clg_model_weight(clg_model *m, int trainable_only, int index) {
    if (!m) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_weight: model is NULL");
        return NULL;
    }
    if (ensure_built(m, "clg_model_weight") != CLG_OK) return NULL;
    int n = 0;
    for (int i = 0; i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i]->nweights; j++) {
            if (trainable_only && !(m->layers[i]->wtrainable[j] && m->layers[i]->trainable)) continue;
            if (n++ == index) return m->layers[i]->w[j];
        }
    clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_weight: index %d is outside [0, %d)", index, n);
    return NULL;
}

clg_layer *clg_model_get_layer(clg_model *m, const char *name) {
    for (int i = 0; m && name && i < m->nlayers; i++)
        if (!strcmp(m->layers[i]->name, name)) return m->layers[i];
    clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_get_layer: no layer named \"%s\"", name ? name : "(null)");
    return NULL;
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

/* The first node that applies l (NULL if none did). */
static const clg_node *first_node(const clg_model *m, const clg_layer *l) {
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i]->layer == l) return m->nodes[i];
    return NULL;
}

/* Keras's "dense_1[0][0]": the node's layer (or input) name and its application index. */
static void node_ref(const clg_model *m, const clg_node *n, char *buf, size_t cap) {
    if (n->port) {
        const clg_node *r = n->in[0];
        int k = 0;
        for (int i = 0; i < r->id; i++) k += m->nodes[i]->layer == r->layer;
        snprintf(buf, cap, "%s[%d][%d]", r->layer->name, k, n->port);
        return;
    }
    if (!n->layer) {
        snprintf(buf, cap, "%s[0][0]", n->name);
        return;
    }
    int k = 0;
    for (int i = 0; i < n->id; i++) k += m->nodes[i]->layer == n->layer;
    snprintf(buf, cap, "%s[%d][0]", n->layer->name, k);
}

clg_status clg_model_summary(clg_model *m, FILE *f) {
    if (!m || !f) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_summary: model or stream is NULL");
    const int func = !m->sequential;
    const int width = func ? 98 : 65;
    char line[128], dline[128];
    memset(line, '_', (size_t)width), line[width] = 0;
    memset(dline, '=', (size_t)width), dline[width] = 0;
    fprintf(f, "Model: \"%s\"\n%s\n", func ? "functional" : "sequential", line);
    fprintf(f, "%-29s%-26s%-10s%s\n%s\n", "Layer (type)", "Output Shape", func ? "Param #  " : "Param #",
            func ? " Connected to" : "", dline);
    int64_t trainable = 0, other = 0;
    int rows = (func ? m->ninputs : 0) + m->nlayers, row = 0;
    for (int i = 0; func && i < m->ninputs; i++, row++) {
        const clg_node *n = m->inputs[i];
        char name[128], shape[160], boxed[170];
        snprintf(name, sizeof name, "%s (InputLayer)", n->name);
        snprintf(boxed, sizeof boxed, "[%s]", keras_shape(n->ndim, n->shape, shape, sizeof shape));
        fprintf(f, "%-28s %-25s %-10s []\n", name, boxed, "0");
        fprintf(f, "%s\n", row + 1 < rows ? line : dline);
    }
    for (int i = 0; i < m->nlayers; i++, row++) {
        const clg_layer *l = m->layers[i];
        const clg_node *n = first_node(m, l);
        char name[128], shape[160], num[32];
        int64_t p = 0;
        for (int j = 0; j < l->nweights; j++) {
            int64_t c = prod(l->wndim[j], l->wshape[j]);
            p += c;
            if (l->wtrainable[j] && l->trainable) trainable += c;
            else other += c;
        }
        snprintf(name, sizeof name, "%s (%s)", l->name, clg_kind_type[l->kind]);
        snprintf(num, sizeof num, "%lld", (long long)p);
        if (n) keras_shape(n->ndim, n->shape, shape, sizeof shape);
        else snprintf(shape, sizeof shape, "(unbuilt)");
        if (!func) {
            fprintf(f, "%-28s %-25s %-10s\n", name, shape, num);
        } else {
            /* every input of every application, one per line as Keras prints them */
            int first = 1;
            for (int k = 0; k < m->nnodes; k++) {
                const clg_node *a = m->nodes[k];
                if (a->layer != l) continue;
                for (int q = 0; q < a->nin; q++) {
                    char ref[96];
                    node_ref(m, a->in[q], ref, sizeof ref);
                    if (first) fprintf(f, "%-28s %-25s %-10s ['%s']\n", name, shape, num, ref);
                    else fprintf(f, "%-28s %-25s %-10s  '%s'\n", "", "", "", ref);
                    first = 0;
                }
            }
            if (first) fprintf(f, "%-28s %-25s %-10s []\n", name, shape, num);
        }
        fprintf(f, "%s\n", row + 1 < rows ? line : dline);
    }
    if (rows == 0) fprintf(f, "%s\n", dline);
    char a[32], b[32], c[32];
    fmt_thousands(trainable + other, a, sizeof a);
    fmt_thousands(trainable, b, sizeof b);
    fmt_thousands(other, c, sizeof c);
    fprintf(f, "Total params: %s\nTrainable params: %s\nNon-trainable params: %s\n%s\n", a, b, c, line);
    return CLG_OK;
}

/* --- weights ------------------------------------------------------------------------- */

static clg_tensor *scalar(clg_context *ctx, double v) { return clg_tensor_full(ctx, CLG_FLOAT32, 0, NULL, v); }

static clg_status ensure_built(clg_model *m, const char *api) {
    if (!m) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: model is NULL", api);
    if (m->nlayers == 0 || m->noutputs == 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: the model has no %s", api,
                        m->nlayers == 0 ? "layers" : "outputs (clg_model_set_outputs)");
    if (m->built) return CLG_OK;
    /* Layers added to a model that has weights keep theirs (Keras too); a new
     * seed (clg_model_set_seed) redraws every layer. */
    for (int i = 0; i < m->nlayers; i++) {
        clg_layer *l = m->layers[i];
        int have = !m->reseed && l->nweights > 0;
        for (int j = 0; have && j < l->nweights; j++) have = l->w[j] != NULL;
        if (have) continue;
        clg_status st = clg_layer_init_weights(m->ctx, l, mix64(m->seed ^ mix64((uint64_t)i + 1)));
        if (st != CLG_OK) return clg_fail_wrap(st, "%s", api);
    }
    m->built = 1, m->reseed = 0;
    return CLG_OK;
}

clg_status clg_model_set_seed(clg_model *m, uint64_t seed) {
    if (!m) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_set_seed: model is NULL");
    m->seed = seed;
    m->built = 0, m->reseed = 1; /* the next compile draws every weight from this seed */
    return CLG_OK;
}

static clg_status no_capture(const clg_model *m, const char *api);

clg_status clg_model_compile_optimizer(clg_model *m, clg_optimizer *opt, const char *loss, const char *metrics) {
    const char *api = "clg_model_compile";
    if (!m || !opt || !loss) {
        clg_optimizer_free(opt);
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: NULL argument%s", api,
                        !opt ? " (optimizer: its constructor failed?)" : "");
    }
    if (opt == m->opt) /* already attached to these weights: a compile needs a fresh one */
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: the optimizer is already this model's; pass a new one", api);
    /* Compiling initialises the weights on the device: not inside the caller's capture. */
    if (no_capture(m, api) != CLG_OK) {
        clg_optimizer_free(opt);
        return clg_last_status();
    }
    loss_kind lk = LOSS_MSE;
    clg_status st = CLG_OK;
    if (!strcmp(loss, "sparse_categorical_crossentropy")) lk = LOSS_SPARSE_CCE;
    else if (!strcmp(loss, "categorical_crossentropy")) lk = LOSS_CCE;
    else if (!strcmp(loss, "mse") || !strcmp(loss, "mean_squared_error")) lk = LOSS_MSE;
    else if (!strcmp(loss, "binary_crossentropy")) lk = LOSS_BCE;
    else
        st = clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                      "%s: unknown loss \"%s\" (sparse_categorical_crossentropy, "
                      "categorical_crossentropy, binary_crossentropy, mse)", api, loss);
    if (st == CLG_OK && metrics && strcmp(metrics, "accuracy") && strcmp(metrics, "acc"))
        st = clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown metric \"%s\" (accuracy or NULL)", api, metrics);
    if (st == CLG_OK && (m->noutputs != 1 || m->ninputs != 1))
        st = clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                      "%s: compile, fit and evaluate take models of one input and one output (this one has "
                      "%d and %d); train others with clg_model_call and an optimizer (docs/getting-started.md)",
                      api, m->ninputs, m->noutputs);
    if (st == CLG_OK) {
        const clg_node *last = m->outputs[0];
        char b[160];
        if ((lk == LOSS_SPARSE_CCE || lk == LOSS_CCE) && last->ndim > 2)
            st = clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                          "%s: loss %s needs an output (None, classes) or (None, steps, classes), %s gives %s%s", api,
                          loss, last->layer ? last->layer->name : last->name,
                          keras_shape(last->ndim, last->shape, b, sizeof b), " (a Flatten before the last Dense?)");
    }
    if (st != CLG_OK) {
        clg_optimizer_free(opt);
        return st;
    }
    free_state(m);
    m->opt = opt; /* the model's from here on, also if what follows fails */
    st = ensure_built(m, api);
    if (st != CLG_OK) return st;
    m->loss = lk, m->accuracy = metrics != NULL;
    int np = clg_nn_list_weights(m, 1, NULL);
    m->params = calloc((size_t)np + 1, sizeof *m->params);
    if (!m->params) {
        free_state(m);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    }
    m->nparams = np;
    clg_nn_list_weights(m, 1, m->params); /* one pass, not one lookup per weight */
    if ((np > 0 && clg_optimizer_attach(opt, m->ctx, np, m->params) != CLG_OK) ||
        !(m->rng_counter = clg_tensor_zeros(m->ctx, CLG_INT32, 1, (int64_t[]){2}))) {
        st = clg_last_status();
        free_state(m);
        return clg_fail_wrap(st, "%s", api);
    }
    m->compiled = 1;
    return CLG_OK;
}

clg_status clg_model_compile(clg_model *m, const char *optimizer, const char *loss, const char *metrics) {
    if (!optimizer) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_compile: optimizer is NULL");
    clg_optimizer *opt = clg_optimizer_from_name(optimizer);
    if (!opt) return clg_fail_wrap(clg_last_status(), "clg_model_compile");
    return clg_model_compile_optimizer(m, opt, loss, metrics);
}

clg_optimizer *clg_model_optimizer(clg_model *m) { return m && m->compiled ? m->opt : NULL; }

clg_status clg_model_set_learning_rate(clg_model *m, float lr) {
    if (!m || !m->compiled)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_model_set_learning_rate: compile the model first");
    if (!(lr >= 0.0f) || !isfinite(lr)) /* 0 is allowed (Keras too): it freezes the weights */
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_model_set_learning_rate: learning rate %g must be finite and >= 0", (double)lr);
    return clg_optimizer_set_learning_rate(m->opt, lr);
}

/* --- forward ---------------------------------------------------------------------------- */

/* --- loss, metric, optimizer -------------------------------------------------------------- */

/* A sequence output [B, ..., C] seen as rows [M, C] with labels [M] (sparse)
 * or targets [M, C]: Keras averages the cross-entropies over every position.
 * New references to out and y as they are for rank-2 outputs. */
static void class_rows(const clg_model *m, const clg_tensor *out, const clg_tensor *y, clg_tensor **o2,
                       clg_tensor **y2) {
    const int nd = clg_tensor_ndim(out);
    const int64_t c = clg_tensor_shape(out)[nd - 1], rows = c > 0 ? clg_tensor_numel(out) / c : 0;
    *o2 = clg_tensor_reshape(out, 2, (int64_t[]){rows, c});
    *y2 = m->loss == LOSS_SPARSE_CCE ? clg_tensor_reshape(y, 1, &rows) : clg_tensor_reshape(y, 2, (int64_t[]){rows, c});
}

/* The logits of out when it is a recorded softmax over its last axis. */
static const clg_tensor *softmax_logits(const clg_tensor *out) {
    const clg_gnode *n = out->node;
    if (n && n->op == CLG_OP_SOFTMAX && n->iattr[0] == clg_tensor_ndim(out) - 1 && n->inputs[0])
        return n->inputs[0];
    return NULL;
}

static clg_tensor *loss_of(const clg_model *m, const clg_tensor *out, const clg_tensor *y) {
    if (m->loss == LOSS_SPARSE_CCE || m->loss == LOSS_CCE) {
        /* A sequence output's softmax goes to the loss as logits [rows, classes]
         * (the stable fused form, as for (None, classes) outputs, where the loss
         * op finds the softmax itself; the reshape would hide it). */
        const clg_tensor *logits = clg_tensor_ndim(out) > 2 ? softmax_logits(out) : NULL;
        clg_tensor *o2, *y2, *r = NULL;
        class_rows(m, logits ? logits : out, y, &o2, &y2);
        if (o2 && y2 && logits)
            r = m->loss == LOSS_SPARSE_CCE ? clg_softmax_cross_entropy(o2, y2, 0.0f)
                                           : clg_softmax_cross_entropy_onehot(o2, y2, 0.0f);
        else if (o2 && y2)
            r = m->loss == LOSS_SPARSE_CCE ? clg_sparse_categorical_cross_entropy(o2, y2)
                                           : clg_categorical_cross_entropy(o2, y2);
        clg_tensor_free(o2), clg_tensor_free(y2);
        return r;
    }
    return m->loss == LOSS_BCE ? clg_binary_cross_entropy(out, y) : clg_mse(out, y);
}

/* Per-sample losses [B] as Keras's TensorFlow backend computes them on
 * probabilities (clipped to [1e-7, 1 - 1e-7]), for sample weights. */
static clg_tensor *per_sample_loss(const clg_model *m, const clg_tensor *out, const clg_tensor *y) {
    const float eps = 1e-7f;
    int nd = clg_tensor_ndim(out), axes[CLG_MAX_DIMS], na = 0;
    for (int i = 1; i < nd; i++) axes[na++] = i;
    clg_tensor *a = NULL, *b = NULL, *c = NULL, *d = NULL, *r = NULL;
    switch (m->loss) {
    case LOSS_SPARSE_CCE: /* -log_softmax(log p)[y] */
        a = clg_clamp(out, eps, 1.0f - eps);
        b = a ? clg_log(a) : NULL;
        c = b ? clg_log_softmax(b, -1) : NULL;
        d = c ? clg_one_hot(y, (int)clg_tensor_shape(out)[1]) : NULL;
        clg_tensor_free(a), a = c && d ? clg_mul(c, d) : NULL;
        r = a ? clg_sum(a, 1, (int[]){1}, 0) : NULL;
        clg_tensor_free(b), b = r, r = b ? clg_neg(b) : NULL;
        break;
    case LOSS_CCE: /* -sum(t log(clip(p / sum p))) */
        a = clg_sum(out, 1, (int[]){-1}, 1);
        b = a ? clg_div(out, a) : NULL;
        c = b ? clg_clamp(b, eps, 1.0f - eps) : NULL;
        clg_tensor_free(a), a = c ? clg_log(c) : NULL;
        d = a ? clg_mul(y, a) : NULL;
        clg_tensor_free(b), b = d ? clg_sum(d, na, axes, 0) : NULL;
        r = b ? clg_neg(b) : NULL;
        break;
    case LOSS_BCE: { /* -mean(t log p + (1 - t) log(1 - p)) */
        a = clg_clamp(out, eps, 1.0f - eps);
        b = a ? clg_log(a) : NULL;
        c = a ? clg_rsub_scalar(1.0f, a) : NULL;
        clg_tensor_free(a), a = c ? clg_log(c) : NULL; /* log(1 - p) */
        clg_tensor_free(c), c = b ? clg_mul(y, b) : NULL;
        clg_tensor *omt = clg_rsub_scalar(1.0f, y);
        d = omt && a ? clg_mul(omt, a) : NULL;
        clg_tensor_free(omt), clg_tensor_free(b), b = c && d ? clg_add(c, d) : NULL;
        clg_tensor_free(c), c = b ? clg_mean(b, na, axes, 0) : NULL;
        r = c ? clg_neg(c) : NULL;
        break;
    }
    default: /* mse: mean((p - t)^2) over the sample */
        a = clg_sub(out, y);
        b = a ? clg_square(a) : NULL;
        r = b ? clg_mean(b, na, axes, 0) : NULL;
        break;
    }
    clg_tensor_free(a), clg_tensor_free(b), clg_tensor_free(c), clg_tensor_free(d);
    return r;
}

/* The loss the optimizer minimises: the loss (with sample weights w [B], Keras's
 * sum(w * loss) / B) plus every L2 penalty, as Keras adds regularisation losses
 * (and reports their sum as "loss"). */
clg_tensor *clg_nn_total_loss(const clg_model *m, const clg_tensor *out, const clg_tensor *y, const clg_tensor *w) {
    clg_tensor *l;
    if (w) {
        clg_tensor *ps = per_sample_loss(m, out, y);
        clg_tensor *wl = ps ? clg_mul(ps, w) : NULL;
        l = wl ? clg_mean(wl, 0, NULL, 0) : NULL;
        clg_tensor_free(ps), clg_tensor_free(wl);
    } else {
        l = loss_of(m, out, y);
    }
    for (int i = 0; l && i < m->nlayers; i++) {
        if (!(m->layers[i]->l2 > 0.0f)) continue;
        clg_tensor *pen = clg_layer_penalty(m->layers[i]);
        clg_tensor *sum = pen ? clg_add(l, pen) : NULL;
        clg_tensor_free(l), clg_tensor_free(pen);
        l = sum;
    }
    return l;
}

/* Accuracy as Keras picks it for 'accuracy': categorical (argmax) for the
 * cross-entropies over classes, binary (threshold 0.5) for binary_crossentropy. */
int clg_nn_metric_on(const clg_model *m) {
    const clg_node *last = m->outputs[0];
    if (!m->accuracy) return 0;
    if (m->loss == LOSS_BCE) return 1;
    return last->shape[last->ndim - 1] > 1 && m->loss != LOSS_MSE;
}

/* Number of correct predictions in the batch (rank 0, float32) in samples:
 * binary accuracy counts each output's match divided by the outputs per
 * sample, categorical accuracy on sequences each position's divided by the
 * positions per sample. */
clg_tensor *clg_nn_correct_of(const clg_model *m, const clg_tensor *out, const clg_tensor *y) {
    if (m->loss == LOSS_BCE) {
        int64_t per = clg_tensor_numel(out) / (clg_tensor_shape(out)[0] > 0 ? clg_tensor_shape(out)[0] : 1);
        clg_tensor *half = clg_tensor_full(m->ctx, CLG_FLOAT32, 0, NULL, 0.5);
        clg_tensor *p = half ? clg_gt(out, half) : NULL, *t = half ? clg_gt(y, half) : NULL;
        clg_tensor *eq = p && t ? clg_eq(p, t) : NULL;
        clg_tensor *sum = eq ? clg_sum(eq, 0, NULL, 0) : NULL;
        clg_tensor *r = sum ? clg_mul_scalar(sum, 1.0f / (float)(per > 0 ? per : 1)) : NULL;
        clg_tensor_free(half), clg_tensor_free(p), clg_tensor_free(t), clg_tensor_free(eq), clg_tensor_free(sum);
        return r;
    }
    clg_tensor *o2, *y2;
    class_rows(m, out, y, &o2, &y2);
    const int64_t batch = clg_tensor_shape(out)[0], rows = o2 ? clg_tensor_shape(o2)[0] : 0;
    int classes = o2 ? (int)clg_tensor_shape(o2)[1] : 0;
    clg_tensor *pred = o2 ? clg_argmax(o2, -1, 0) : NULL;
    clg_tensor *truth = !y2 ? NULL : m->loss == LOSS_SPARSE_CCE ? clg_tensor_retain(y2) : clg_argmax(y2, -1, 0);
    clg_tensor *a = pred ? clg_one_hot(pred, classes) : NULL;
    clg_tensor *b = truth ? clg_one_hot(truth, classes) : NULL;
    clg_tensor *ab = a && b ? clg_mul(a, b) : NULL;
    clg_tensor *sum = ab ? clg_sum(ab, 0, NULL, 0) : NULL;
    clg_tensor *r = sum && rows != batch && batch > 0 ? clg_mul_scalar(sum, (float)batch / (float)rows) : sum;
    if (r != sum) clg_tensor_free(sum);
    clg_tensor_free(o2), clg_tensor_free(y2), clg_tensor_free(pred), clg_tensor_free(truth);
    clg_tensor_free(a), clg_tensor_free(b), clg_tensor_free(ab);
    return r;
}

/* The single-input, single-output model's output for x. */
clg_tensor *clg_nn_forward(clg_model *m, const clg_tensor *x, int training) {
    clg_tensor *out = NULL;
    return clg_model_run(m, &x, training, &out) == CLG_OK ? out : NULL;
}

/* dst = expr (consumes expr's handle). */
clg_status clg_nn_assign_expr(clg_tensor *dst, clg_tensor *expr) {
    clg_status st = expr ? clg_tensor_assign(dst, expr) : clg_last_status();
    clg_tensor_free(expr);
    return st;
}

clg_status clg_nn_train_step(clg_model *m, const clg_tensor *xb, const clg_tensor *yb, const clg_tensor *wb,
                             int64_t count, clg_tensor *acc_loss, clg_tensor *acc_correct, int update) {
    for (int i = 0; i < m->nparams; i++) clg_tensor_zero_grad(m->params[i]);
    clg_tensor *out = clg_nn_forward(m, xb, 1);
    if (!out) return clg_last_status();
    clg_tensor *loss = clg_nn_total_loss(m, out, yb, wb);
    clg_tensor *correct = loss && acc_correct ? clg_nn_correct_of(m, out, yb) : NULL;
    clg_status st = !loss || (acc_correct && !correct) ? clg_last_status() : clg_backward(loss, NULL);
    clg_tensor_free(out);
    if (st == CLG_OK && update && m->nparams > 0) st = clg_optimizer_step(m->opt);
    if (st == CLG_OK) {
        clg_tensor *lw = clg_mul_scalar(loss, (float)count);
        st = clg_nn_assign_expr(acc_loss, lw ? clg_add(acc_loss, lw) : NULL);
        clg_tensor_free(lw);
    }
    if (st == CLG_OK && acc_correct) st = clg_nn_assign_expr(acc_correct, clg_add(acc_correct, correct));
    for (int i = 0; st == CLG_OK && !update && i < m->nparams; i++) /* pending gradients run now (in a step) */
        if (m->params[i]->grad) st = clg_realize(m->params[i]->grad);
    clg_tensor_free(loss), clg_tensor_free(correct);
    return st;
}

/* --- host data ----------------------------------------------------------------------------- */

/* The first of count int32 values outside [0, limit), or -1. */
static int64_t first_outside(const int32_t *v, int64_t count, int64_t limit) {
    for (int64_t i = 0; i < count; i++)
        if (v[i] < 0 || v[i] >= limit) return i;
    return -1;
}

/* Token ids must index every Embedding reading the input (the device would
 * read zeros for the others, as if the word were padding), sparse labels
 * must name a class of the output (Keras raises for both). The message gives
 * the sample, the position and the value. */
static clg_status check_ranges(const clg_model *m, const char *api, const clg_host_array *x,
                               const clg_host_array *y, int64_t n) {
    const clg_node *in = m->inputs[0];
    if (x->dtype == CLG_INT32) {
        int64_t row = prod(in->ndim, in->shape);
        for (int k = 0; k < m->nnodes; k++) {
            const clg_node *nd = m->nodes[k];
            if (!nd->layer || nd->layer->kind != L_EMBEDDING || nd->nin != 1 || nd->in[0] != in) continue;
            int64_t bad = first_outside(x->data, n * row, nd->layer->vocab);
            if (bad >= 0)
                return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                                "%s: x[%lld] holds token id %d at position %lld, outside [0, %d) of layer '%s' "
                                "(Embedding input_dim %d)",
                                api, (long long)(bad / row), (int)((const int32_t *)x->data)[bad],
                                (long long)(bad % row), nd->layer->vocab, nd->layer->name, nd->layer->vocab);
        }
    }
    if (y && m->loss == LOSS_SPARSE_CCE) {
        const clg_node *last = m->outputs[0];
        int64_t classes = last->shape[last->ndim - 1], row = n > 0 ? prod(y->ndim - 1, y->shape + 1) : 1;
        int64_t bad = first_outside(y->data, n * row, classes);
        if (bad >= 0)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: y[%lld] holds label %d at position %lld, outside the %lld classes [0, %lld) of "
                            "the output",
                            api, (long long)(bad / row), (int)((const int32_t *)y->data)[bad], (long long)(bad % row),
                            (long long)classes, (long long)classes);
    }
    return CLG_OK;
}

/* Checks x (and y, may be NULL) against the model; *n gets the sample count. */
static clg_status check_data(const clg_model *m, const char *api, const clg_host_array *x,
                             const clg_host_array *y, int64_t *n) {
    char b[160], e[160];
    if (!x || (!x->data && x->ndim > 0 && x->shape[0] > 0))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: x is NULL", api);
    const clg_node *in = m->inputs[0];
    int ok = x->dtype == in->dtype && x->ndim == in->ndim + 1;
    for (int i = 0; ok && i < in->ndim; i++) ok = x->shape[i + 1] == in->shape[i];
    if (!ok || x->shape[0] < 0)
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: x %s %s does not match the model's input %s %s",
                        api, clg_shape_format(x->ndim, x->shape, b, sizeof b), clg_dtype_name(x->dtype),
                        keras_shape(in->ndim, in->shape, e, sizeof e), clg_dtype_name(in->dtype));
    *n = x->shape[0];
    if (!y) return check_ranges(m, api, x, NULL, *n);
    const clg_node *last = m->outputs[0];
    int64_t want[CLG_MAX_DIMS];
    /* sparse labels drop the class axis: [N] (or [N, 1]) for (None, C), [N, T] for (None, T, C) */
    int wnd = m->loss == LOSS_SPARSE_CCE ? last->ndim : last->ndim + 1;
    want[0] = *n;
    for (int i = 1; i < wnd; i++) want[i] = last->shape[i - 1];
    if (m->loss == LOSS_SPARSE_CCE) {
        ok = y->dtype == CLG_INT32 && (y->ndim == wnd || (wnd == 1 && y->ndim == 2 && y->shape[1] == 1));
        for (int i = 1; ok && wnd > 1 && i < wnd; i++) ok = y->shape[i] == want[i];
    } else {
        ok = y->dtype == CLG_FLOAT32 && y->ndim == wnd;
        for (int i = 1; ok && i < wnd; i++) ok = y->shape[i] == want[i];
    }
    if (!ok || y->shape[0] != *n || (!y->data && *n > 0)) {
        char w[160];
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                        "%s: y %s %s does not fit loss %s: it needs %s %s (x's %lld samples, output %s)", api,
                        clg_shape_format(y->ndim, y->shape, b, sizeof b), clg_dtype_name(y->dtype),
                        clg_loss_names[m->loss], m->loss == LOSS_SPARSE_CCE ? "int32 labels" : "float32 targets",
                        clg_shape_format(wnd, want, w, sizeof w), (long long)*n,
                        keras_shape(last->ndim, last->shape, e, sizeof e));
    }
    return check_ranges(m, api, x, y, *n);
}

int64_t clg_nn_row_elems(const clg_host_array *a) { return prod(a->ndim - 1, a->shape + 1); }

/* Copies rows idx[0..count) (or first..first+count when idx is NULL) of a into dst. */
void clg_nn_gather_rows(const clg_host_array *a, int64_t first, const int64_t *idx, int64_t count, void *dst) {
    size_t rb = (size_t)clg_nn_row_elems(a) * clg_dtype_size(a->dtype);
    const char *src = a->data;
    for (int64_t i = 0; i < count; i++)
        memcpy((char *)dst + (size_t)i * rb, src + (size_t)(idx ? idx[i] : first + i) * rb, rb);
}

/* A device tensor for `count` rows of a (shape [count, ...]; labels [count]). */
clg_tensor *clg_nn_batch_tensor(clg_context *ctx, const clg_host_array *a, int64_t count, int labels) {
    int64_t s[CLG_MAX_DIMS];
    s[0] = count;
    int nd = labels && a->ndim == 2 && a->shape[1] == 1 ? 1 : a->ndim; /* labels [N, 1] as [N] */
    for (int i = 1; i < nd; i++) s[i] = a->shape[i];
    return clg_tensor_empty(ctx, a->dtype, nd, s);
}

/* --- evaluate / predict ------------------------------------------------------------------ */

clg_status clg_nn_eval_batch(clg_model *m, const clg_host_array *x, const clg_host_array *y, int64_t first,
                             int64_t c, void *hx, void *hy, clg_tensor *acc_l, clg_tensor *acc_c) {
    size_t xrb = (size_t)clg_nn_row_elems(x) * clg_dtype_size(x->dtype);
    size_t yrb = (size_t)clg_nn_row_elems(y) * clg_dtype_size(y->dtype);
    clg_nn_gather_rows(x, first, NULL, c, hx);
    clg_nn_gather_rows(y, first, NULL, c, hy);
    clg_tensor *xt = clg_nn_batch_tensor(m->ctx, x, c, 0);
    clg_tensor *yt = clg_nn_batch_tensor(m->ctx, y, c, m->loss == LOSS_SPARSE_CCE);
    clg_status st = CLG_OK;
    if (!xt || !yt || clg_tensor_write(xt, hx, xrb * (size_t)c) != CLG_OK ||
        clg_tensor_write(yt, hy, yrb * (size_t)c) != CLG_OK) {
        st = clg_last_status();
    } else {
        clg_tensor *out = clg_nn_forward(m, xt, 0);
        clg_tensor *l = out ? clg_nn_total_loss(m, out, yt, NULL) : NULL;
        clg_tensor *lw = l ? clg_mul_scalar(l, (float)c) : NULL;
        st = clg_nn_assign_expr(acc_l, lw ? clg_add(acc_l, lw) : NULL);
        if (st == CLG_OK && acc_c) {
            clg_tensor *cc = clg_nn_correct_of(m, out, yt);
            st = clg_nn_assign_expr(acc_c, cc ? clg_add(acc_c, cc) : NULL);
            clg_tensor_free(cc);
        }
        clg_tensor_free(out), clg_tensor_free(l), clg_tensor_free(lw);
    }
    clg_tensor_free(xt), clg_tensor_free(yt);
    return st;
}

static clg_status eval_impl(clg_model *m, const clg_host_array *x, const clg_host_array *y, int64_t first,
                            int64_t n, int batch, double *loss, double *acc) {
    const char *api = "clg_model_evaluate";
    if (clg_par_wanted(m)) {
        clg_status st = clg_par_prepare(m, api, 0);
        if (st == CLG_OK) st = clg_par_evaluate(m, x, y, first, n, batch, loss, acc);
        return st == CLG_OK ? st : clg_fail_wrap(st, "%s", api);
    }
    int met = clg_nn_metric_on(m);
    clg_tensor *acc_l = scalar(m->ctx, 0), *acc_c = scalar(m->ctx, 0);
    size_t xrb = (size_t)clg_nn_row_elems(x) * clg_dtype_size(x->dtype), yrb = (size_t)clg_nn_row_elems(y) * clg_dtype_size(y->dtype);
    void *hx = malloc(xrb * (size_t)batch + 1), *hy = malloc(yrb * (size_t)batch + 1);
    clg_status st = acc_l && acc_c ? CLG_OK : clg_last_status();
    if (st == CLG_OK && (!hx || !hy)) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    /* The cross-entropies take a softmax output's logits only where the softmax
     * is recorded, so they stay recorded here: evaluation then computes the
     * loss exactly as training does (nothing runs backward). */
    int was = clg_grad_set_enabled(m->ctx, m->loss == LOSS_SPARSE_CCE || m->loss == LOSS_CCE);
    for (int64_t s0 = 0; st == CLG_OK && s0 < n; s0 += batch) {
        int64_t c = n - s0 < batch ? n - s0 : batch;
        st = clg_nn_eval_batch(m, x, y, first + s0, c, hx, hy, acc_l, met ? acc_c : NULL);
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
    if (st == CLG_OK && (m->ninputs != 1 || m->noutputs != 1))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: the model has %d inputs and %d outputs; use clg_model_call",
                        api, m->ninputs, m->noutputs);
    if (st == CLG_OK) st = no_capture(m, api);
    if (st == CLG_OK) st = check_data(m, api, x, NULL, &n);
    if (st != CLG_OK) return st;
    const clg_node *last = m->outputs[0];
    int64_t orow = prod(last->ndim, last->shape);
    if (!out || out_floats < (size_t)(n * orow))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: out holds %zu floats, %lld samples need %lld", api,
                        out_floats, (long long)n, (long long)(n * orow));
    if (batch_size <= 0) batch_size = 32;
    if (clg_par_wanted(m)) {
        st = clg_par_prepare(m, api, 0);
        if (st == CLG_OK) st = clg_par_predict(m, x, batch_size, out);
        return st == CLG_OK ? st : clg_fail_wrap(st, "%s", api);
    }
    size_t xrb = (size_t)clg_nn_row_elems(x) * clg_dtype_size(x->dtype);
    int was = clg_grad_set_enabled(m->ctx, 0);
    for (int64_t s0 = 0; st == CLG_OK && s0 < n; s0 += batch_size) {
        int64_t c = n - s0 < batch_size ? n - s0 : batch_size;
        clg_tensor *xt = clg_nn_batch_tensor(m->ctx, x, c, 0);
        st = xt ? clg_tensor_write(xt, (const char *)x->data + (size_t)s0 * xrb, xrb * (size_t)c)
                : clg_last_status();
        clg_tensor *o = st == CLG_OK ? clg_nn_forward(m, xt, 0) : NULL;
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
    if (!path || !*path) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: path is %s", api, path ? "empty" : "NULL");
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
    if (!path || !*path) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: path is %s", api, path ? "empty" : "NULL");
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
        if (c->kind != CB_CSV || clg_dist_rank() != 0) continue; /* rank 0 writes for all */
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
/* e indexes this fit's history; epoch is Keras's epoch number (from initial_epoch). */
static clg_status cb_epoch_end(clg_model *m, const clg_fit_options *o, cb_state *ss, int e, int epoch,
                               const clg_history *h, int has_val, int met, int *stop) {
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
            if (clg_dist_rank() != 0) break; /* rank 0 writes for all */
            if (!c->flag || improves(c->monitor, cur, s->best, 0.0)) {
                if (c->flag) s->best = cur;
                st = clg_model_save(m, c->path); /* Keras's default: the whole model, to resume from */
            }
            break;
        case CB_CSV:
            if (!s->csv) break; /* not rank 0 */
            fprintf(s->csv, "%d,%.9g", epoch, (double)h->loss[e]);
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
                float now_lr = clg_optimizer_get_learning_rate(m->opt);
                if (now_lr > c->min_lr) {
                    float lr = now_lr * c->factor;
                    st = clg_model_set_learning_rate(m, lr > c->min_lr ? lr : c->min_lr);
                }
                s->wait = 0;
            }
            break;
        case CB_USER:
            if (c->fn(c->user, epoch, h)) *stop = 1;
            break;
        }
        if (st != CLG_OK) return clg_fail_wrap(st, "clg_model_fit: callback %d (%s)", i, cb_api[c->kind]);
    }
    return CLG_OK;
}

/* Per-sample weights of the n samples from sample_weight or class_weight (the
 * class of a sample: its label, the argmax of its one-hot row, or its rounded
 * value for one binary output); NULL with *sw NULL when neither is given. */
static clg_status sample_weights(const clg_model *m, const char *api, const clg_fit_options *o,
                                 const clg_host_array *y, int64_t n, float **sw) {
    *sw = NULL;
    if (!o->sample_weight && !o->class_weight) return CLG_OK;
    if ((m->loss == LOSS_SPARSE_CCE || m->loss == LOSS_CCE) && m->outputs[0]->ndim > 1)
        return clg_fail(CLG_STATUS_UNSUPPORTED, "%s: sample_weight and class_weight with sequence outputs (per-step "
                        "weights) are not supported yet", api);
    if (o->sample_weight && o->class_weight)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: give sample_weight or class_weight, not both (as Keras)", api);
    if (o->class_weight && o->num_class_weights <= 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: class_weight needs num_class_weights > 0 (got %d)", api,
                        o->num_class_weights);
    float *w = malloc((size_t)(n > 0 ? n : 1) * sizeof *w);
    if (!w) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    int64_t row = clg_nn_row_elems(y);
    for (int64_t i = 0; i < n; i++) {
        float v;
        if (o->sample_weight) {
            v = o->sample_weight[i];
        } else {
            int64_t cls;
            if (y->dtype == CLG_INT32) {
                cls = ((const int32_t *)y->data)[i];
            } else {
                const float *r = (const float *)y->data + i * row;
                cls = 0;
                if (row == 1) cls = (int64_t)floorf(r[0] + 0.5f);
                else
                    for (int64_t k = 1; k < row; k++) cls = r[k] > r[cls] ? k : cls;
            }
            if (cls < 0 || cls >= o->num_class_weights) {
                free(w);
                return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                                "%s: sample %lld has class %lld, class_weight has weights for 0..%d", api,
                                (long long)i, (long long)cls, o->num_class_weights - 1);
            }
            v = o->class_weight[cls];
        }
        if (!isfinite(v) || v < 0) {
            free(w);
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s of sample %lld is %g (needs finite >= 0)", api,
                            o->sample_weight ? "sample_weight" : "class_weight", (long long)i, (double)v);
        }
        w[i] = v;
    }
    *sw = w;
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
    if (o.epochs < 0 || o.batch_size <= 0 || o.initial_epoch < 0 || o.initial_epoch > o.epochs) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "%s: epochs %d must be >= 0, batch_size %d > 0, initial_epoch %d in [0, epochs]", api, o.epochs,
                 o.batch_size, o.initial_epoch);
        return NULL;
    }
    const int first = o.initial_epoch, nepochs = o.epochs - first;
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
    /* several devices or MPI ranks: one replica each (parallel.c); rank 0 alone reports */
    const int par = clg_par_wanted(m);
    if (par && clg_par_prepare(m, api, 1) != CLG_OK) return NULL;
    if (clg_dist_active() && clg_dist_rank() != 0) o.verbose = 0;
    FILE *f = o.stream ? o.stream : stdout;
    int bar = progress_bar_wanted(f, o.verbose), bar_width = 0;
    int met = clg_nn_metric_on(m), sparse = m->loss == LOSS_SPARSE_CCE;
    if (cb_check(api, &o, nv > 0, met) != CLG_OK) return NULL;
    float *sw = NULL; /* over the training samples, before the split (they keep their index) */
    if (sample_weights(m, api, &o, y, n, &sw) != CLG_OK) return NULL;
    const clg_host_array wa = {.data = sw, .dtype = CLG_FLOAT32, .ndim = 1, .shape = {n}};
    int64_t bs = o.batch_size < n ? o.batch_size : (n > 0 ? n : 1);
    int64_t full = n / bs, rem = n % bs, steps = full + (rem > 0);
    size_t xrb = (size_t)clg_nn_row_elems(x) * clg_dtype_size(x->dtype), yrb = (size_t)clg_nn_row_elems(y) * clg_dtype_size(y->dtype);

    clg_history *h = history_new(nepochs);
    int64_t *perm = malloc((size_t)(n > 0 ? n : 1) * sizeof *perm);
    /* Two host batches: while the device runs step b from one, the host gathers
     * batch b + 1 into the other and queues its upload without blocking
     * (prefetch). A buffer is reused once its upload event has completed. */
    void *hxs[2] = {malloc(xrb * (size_t)bs + 1), malloc(xrb * (size_t)bs + 1)};
    void *hys[2] = {malloc(yrb * (size_t)bs + 1), malloc(yrb * (size_t)bs + 1)};
    float *hws[2] = {sw ? malloc(sizeof(float) * (size_t)bs + 1) : NULL, sw ? malloc(sizeof(float) * (size_t)bs + 1) : NULL};
    cl_event uploaded[2] = {NULL, NULL};
    clg_tensor *xb = clg_nn_batch_tensor(m->ctx, x, bs, 0), *yb = clg_nn_batch_tensor(m->ctx, y, bs, sparse);
    clg_tensor *wb = sw ? clg_nn_batch_tensor(m->ctx, &wa, bs, 0) : NULL;
    clg_tensor *acc_l = scalar(m->ctx, 0), *acc_c = met ? scalar(m->ctx, 0) : NULL;
    clg_step *step = NULL;
    clg_status st = CLG_OK;
    if (!h || !perm || !hxs[0] || !hxs[1] || !hys[0] || !hys[1] || (sw && (!hws[0] || !hws[1])))
        st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    else if (!xb || !yb || !acc_l || (met && !acc_c) || (sw && !wb)) st = clg_last_status();
    if (h) h->epochs = 0;
    const float zero = 0.0f;
    cb_state *cbs = NULL;
    if (st == CLG_OK && o.ncallbacks > 0) st = cb_begin(&o, &cbs, nv > 0, met);
    int stop = 0;
    if (par) st = clg_par_agree(m, st, NULL, "clg_model_fit: starting"); /* e.g. rank 0's CSV file */
    if (st == CLG_OK && par) st = clg_par_check_ranks(m, api, n, bs, nepochs, nv);

    /* Stateful layers' states exist before the first step is captured, so
     * replays carry them on rather than refilling zeros. */
    for (int i = 0; st == CLG_OK && !par && i < m->nlayers; i++) {
        clg_layer *l = m->layers[i];
        const int64_t shape[2] = {bs, l->units};
        if (l->stateful && l->state[0] && l->states_fresh && clg_tensor_shape(l->state[0])[0] != bs)
            clg_layer_drop_states(l); /* reset, and now another batch size */
        for (int k = 0; l->stateful && st == CLG_OK && k < clg_layer_state_count(l); k++)
            if (!l->state[k] && !(l->state[k] = clg_tensor_zeros(m->ctx, CLG_FLOAT32, 2, shape)))
                st = clg_last_status();
    }
    for (int e = 0; st == CLG_OK && !stop && e < nepochs; e++) {
        double t0 = now_s(), last_print = -1;
        /* Shuffled by the count of epochs the model has trained (across fits and
         * saved with it), so a resumed run draws what an uninterrupted one would. */
        if (o.shuffle && n > 0) st = clg_shuffle_permutation(n, m->seed, (uint64_t)m->epochs_done, perm);
        else
            for (int64_t i = 0; i < n; i++) perm[i] = i;
        if (st == CLG_OK) st = clg_tensor_write(acc_l, &zero, sizeof zero);
        if (st == CLG_OK && acc_c) st = clg_tensor_write(acc_c, &zero, sizeof zero);
        if (st == CLG_OK && par) st = clg_par_epoch_begin(m);
        if (par) st = clg_par_agree(m, st, NULL, "clg_model_fit: starting an epoch");
        if (st != CLG_OK) break;
        if (bar) fprintf(f, "Epoch %d/%d\n", first + e + 1, o.epochs);
        bar_width = 0;
        for (int64_t b = 0; st == CLG_OK && b < steps; b++) {
            int64_t c = b < full ? bs : rem;
            const int k = (int)(b & 1);
            if (par) {
                st = clg_par_train_batch(m, x, y, sw ? &wa : NULL, perm + b * bs, c, bs);
            } else {
                if (uploaded[k]) { /* batch b - 2's upload from these host buffers */
                    st = CLG_CL(clWaitForEvents(1, &uploaded[k]), "clg_model_fit: uploading a batch");
                    clReleaseEvent(uploaded[k]);
                    uploaded[k] = NULL;
                    if (st != CLG_OK) break;
                }
                void *hx = hxs[k], *hy = hys[k];
                float *hw = hws[k];
                clg_nn_gather_rows(x, 0, perm + b * bs, c, hx);
                clg_nn_gather_rows(y, 0, perm + b * bs, c, hy);
                if (sw) clg_nn_gather_rows(&wa, 0, perm + b * bs, c, hw);
                if (c == bs) {
                    /* in queue order, after step b - 1 has read the batch tensors */
                    cl_event ev[3] = {NULL, NULL, NULL};
                    st = clg_tensor_write_nonblocking(xb, hx, xrb * (size_t)c, &ev[0]);
                    if (st == CLG_OK) st = clg_tensor_write_nonblocking(yb, hy, yrb * (size_t)c, &ev[1]);
                    if (st == CLG_OK && wb) st = clg_tensor_write_nonblocking(wb, hw, sizeof *hw * (size_t)c, &ev[2]);
                    /* an in-order queue completes them in order: the last one stands for all */
                    for (int q = 2; q >= 0; q--) {
                        if (!ev[q]) continue;
                        if (!uploaded[k] && st == CLG_OK) uploaded[k] = ev[q];
                        else clWaitForEvents(1, &ev[q]), clReleaseEvent(ev[q]);
                    }
                    if (st != CLG_OK) break;
                    if (step) {
                        st = clg_step_replay(step);
                    } else {
                        st = clg_step_capture_begin(m->ctx);
                        if (st != CLG_OK) break;
                        clg_status s2 = clg_nn_train_step(m, xb, yb, wb, c, acc_l, acc_c, 1);
                        step = clg_step_capture_end(m->ctx);
                        st = s2 != CLG_OK ? s2 : (step ? CLG_OK : clg_last_status());
                    }
                } else { /* the last partial batch runs eagerly */
                    clg_tensor *xp = clg_nn_batch_tensor(m->ctx, x, c, 0), *yp = clg_nn_batch_tensor(m->ctx, y, c, sparse);
                    clg_tensor *wp = sw ? clg_nn_batch_tensor(m->ctx, &wa, c, 0) : NULL;
                    st = xp && yp && (!sw || wp) ? clg_tensor_write(xp, hx, xrb * (size_t)c) : clg_last_status();
                    if (st == CLG_OK) st = clg_tensor_write(yp, hy, yrb * (size_t)c);
                    if (st == CLG_OK && wp) st = clg_tensor_write(wp, hw, sizeof *hw * (size_t)c);
                    if (st == CLG_OK) st = clg_nn_train_step(m, xp, yp, wp, c, acc_l, acc_c, 1);
                    clg_tensor_free(xp), clg_tensor_free(yp), clg_tensor_free(wp);
                }
            }
            double now = now_s();
            if (st == CLG_OK && bar && b + 1 < steps && now - last_print >= 0.1) {
                double l, a;
                st = par ? clg_par_read_acc(m, b * bs + c, 0, &l, &a) : read_acc(acc_l, acc_c, b * bs + c, &l, &a);
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
        st = par ? clg_par_read_acc(m, n, 1, &l, &a) : read_acc(acc_l, acc_c, n, &l, &a);
        if (st == CLG_OK && nv > 0) st = eval_impl(m, vx, vy, vfirst, nv, (int)bs, &vl, &va);
        if (st != CLG_OK) break;
        double secs = now_s() - t0;
        h->loss[e] = (float)l, h->accuracy[e] = (float)a;
        h->val_loss[e] = (float)vl, h->val_accuracy[e] = (float)va;
        h->seconds[e] = secs;
        h->epochs = e + 1;
        m->epochs_done++;
        if (o.verbose != 0) {
            char line[512];
            if (bar) {
                bar_text(line, sizeof line, steps, steps, secs, 1);
            } else {
                char d[32], p[32];
                fmt_duration(secs, d, sizeof d);
                fmt_per_step(steps > 0 ? secs / (double)steps : 0, p, sizeof p);
                snprintf(line, sizeof line, "Epoch %d/%d - %lld/%lld - %s %s", first + e + 1, o.epochs, (long long)steps,
                         (long long)steps, d, p);
            }
            metrics_text(line, sizeof line, l, a, met);
            if (nv > 0) {
                appendf(line, sizeof line, " - val_loss: %.4f", vl);
                if (met) appendf(line, sizeof line, " - val_accuracy: %.4f", va);
            }
            if (par) { /* the rows of a batch each device takes */
                int64_t rows[16];
                int nd = clg_par_shares(m, rows, 16);
                appendf(line, sizeof line, " - split:");
                for (int d = 0; d < nd && d < 16; d++)
                    appendf(line, sizeof line, "%s%lld", d ? "+" : " ", (long long)rows[d]);
            }
            /* steps skipped for non-finite gradients (clg_optimizer_set_skip_nonfinite) */
            int64_t skipped = 0;
            int bad = -1;
            if (m->nparams > 0 && clg_optimizer_skipped_steps(m->opt, &skipped, &bad) == CLG_OK && skipped > 0 &&
                bad >= 0 && bad < m->nparams)
                appendf(line, sizeof line, " - skipped steps: %lld (last: non-finite gradient of '%s')",
                        (long long)skipped, clg_tensor_name(m->params[bad]));
            if (bar) print_progress(f, line, &bar_width);
            else fputs(line, f);
            fprintf(f, "\n");
            fflush(f);
        }
        if (o.ncallbacks > 0) st = cb_epoch_end(m, &o, cbs, e, first + e, h, nv > 0, met, &stop);
        if (par) st = clg_par_agree(m, st, &stop, "clg_model_fit: the epoch's callbacks"); /* rank 0 writes files */
    }
    for (int k = 0; k < 2; k++) /* the host buffers outlive their uploads */
        if (uploaded[k]) clWaitForEvents(1, &uploaded[k]), clReleaseEvent(uploaded[k]);
    cb_states_free(m, cbs, o.ncallbacks);
    clg_step_free(step);
    if (par) clg_par_fit_end(m);
    clg_tensor_free(xb), clg_tensor_free(yb), clg_tensor_free(wb), clg_tensor_free(acc_l), clg_tensor_free(acc_c);
    free(perm), free(sw);
    for (int k = 0; k < 2; k++) free(hxs[k]), free(hys[k]), free(hws[k]);
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
        /* a whole-model file's training state is not a weight */
        int found = !strncmp(fname, "optimizer.", 10) || !strncmp(fname, "training.", 9);
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
        char why[3200] = "";
        if (missing[0]) appendf(why, sizeof why, "missing: %s", missing);
        if (unexpected[0]) appendf(why, sizeof why, "%sunexpected: %s", why[0] ? "; " : "", unexpected);
        if (bad[0]) appendf(why, sizeof why, "%sshape mismatch: %s", why[0] ? "; " : "", bad);
        st = clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: %s does not match the model: %s", api, path, why);
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
