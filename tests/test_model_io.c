/* Whole-model files (clg_model_save / clg_model_load): a trained Sequential
 * model and functional graphs (two inputs, int32 indices, a shared layer, merge
 * layers) come back from the file alone with bit-identical predictions,
 * evaluation, summaries and continued training; every layer kind with
 * non-default settings round-trips field by field (compared through the
 * internal structs) and saving the loaded model again writes the same
 * model_config; every optimizer class, clipping kind and schedule round-trips
 * (the same clg_optimizer_config_json, the same state tensors, the same next
 * epoch); training resumed from a saved model or a ModelCheckpoint file
 * continues bit for bit as an uninterrupted run (and does not without the
 * training state); the file is plain safetensors that the generic reader and
 * clg_model_load_weights read; broken files (weights only, bad JSON, wrong
 * types, unknown classes, fields or layers, cycles, deep nesting, weights that
 * disagree with the architecture, malformed optimizer configs, partial or
 * mismatching training state) fail with errors naming the file and the layer
 * or tensor. Everything is compared bit for bit: the loaded model runs the same
 * kernels on the same values. */
#include "fixture.h"
#include "clgrad/safetensors.h"
#include "nn/model_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A metadata value of the file (a copy), or NULL. */
static char *metadata_of(const char *path, const char *key) {
    clg_safetensors *f = NULL;
    assert_int_equal(clg_safetensors_open(path, &f), CLG_OK);
    const char *v = clg_safetensors_metadata_get(f, key);
    char *r = v ? strdup(v) : NULL;
    clg_safetensors_free(f);
    return r;
}

static void expect_same_summary(clg_model *a, clg_model *b) {
    char *sa = clg_test_summary_text(a), *sb = clg_test_summary_text(b);
    if (strcmp(sa, sb)) fail_msg("summaries differ:\n%s\n---\n%s", sa, sb);
    free(sa), free(sb);
}

/* Two tensors of the same dtype and shape hold the same bytes. */
static void expect_same_values(const clg_tensor *a, const clg_tensor *b, const char *what) {
    assert_int_equal(clg_tensor_dtype(a), clg_tensor_dtype(b));
    assert_int_equal(clg_tensor_ndim(a), clg_tensor_ndim(b));
    assert_memory_equal(clg_tensor_shape(a), clg_tensor_shape(b), (size_t)clg_tensor_ndim(a) * sizeof(int64_t));
    size_t bytes = (size_t)clg_tensor_numel(a) * clg_dtype_size(clg_tensor_dtype(a));
    char *ha = malloc(bytes + 1), *hb = malloc(bytes + 1);
    assert_non_null(ha), assert_non_null(hb);
    assert_int_equal(clg_tensor_to_host(a, ha, bytes), CLG_OK);
    assert_int_equal(clg_tensor_to_host(b, hb, bytes), CLG_OK);
    if (memcmp(ha, hb, bytes)) fail_msg("%s differs", what);
    free(ha), free(hb);
}

/* Every setting of every layer and node, the compile settings, the training
 * state and the weights (bit for bit). */
static void expect_same_model(clg_model *a, clg_model *b) {
    assert_int_equal(a->sequential, b->sequential);
    assert_int_equal(a->nlayers, b->nlayers);
    assert_int_equal(a->nnodes, b->nnodes);
    assert_int_equal(a->ninputs, b->ninputs);
    assert_int_equal(a->noutputs, b->noutputs);
    assert_true(a->seed == b->seed);
    for (int i = 0; i < a->nlayers; i++) {
        const clg_layer *p = a->layers[i], *q = b->layers[i];
        assert_string_equal(p->name, q->name);
        assert_int_equal(p->kind, q->kind);
        assert_int_equal(p->act, q->act);
        assert_int_equal(p->units, q->units);
        assert_int_equal(p->vocab, q->vocab);
        assert_int_equal(p->kh, q->kh), assert_int_equal(p->kw, q->kw);
        assert_int_equal(p->sh, q->sh), assert_int_equal(p->sw, q->sw), assert_int_equal(p->same, q->same);
        assert_int_equal(p->ph, q->ph), assert_int_equal(p->pw, q->pw);
        assert_memory_equal(p->pads, q->pads, sizeof p->pads);
        assert_int_equal(p->axis, q->axis);
        assert_int_equal(p->tgt_ndim, q->tgt_ndim);
        assert_memory_equal(p->tgt, q->tgt, (size_t)p->tgt_ndim * sizeof *p->tgt);
        assert_true(p->rate == q->rate && p->alpha == q->alpha && p->l2 == q->l2);
        assert_int_equal(p->trainable, q->trainable);
        assert_int_equal(p->nweights, q->nweights);
        for (int j = 0; j < p->nweights; j++) {
            assert_string_equal(p->wname[j], q->wname[j]);
            assert_int_equal(p->wndim[j], q->wndim[j]);
            assert_memory_equal(p->wshape[j], q->wshape[j], (size_t)p->wndim[j] * sizeof(int64_t));
        }
    }
    for (int i = 0; i < a->nnodes; i++) {
        const clg_node *p = a->nodes[i], *q = b->nodes[i];
        assert_int_equal(p->layer != NULL, q->layer != NULL);
        if (p->layer) assert_string_equal(p->layer->name, q->layer->name);
        else assert_string_equal(p->name, q->name);
        assert_int_equal(p->dtype, q->dtype);
        assert_int_equal(p->ndim, q->ndim);
        assert_memory_equal(p->shape, q->shape, (size_t)p->ndim * sizeof(int64_t));
        assert_int_equal(p->nin, q->nin);
        for (int k = 0; k < p->nin; k++) assert_int_equal(p->in[k]->id, q->in[k]->id);
    }
    for (int i = 0; i < a->ninputs; i++) assert_int_equal(a->inputs[i]->id, b->inputs[i]->id);
    for (int i = 0; i < a->noutputs; i++) assert_int_equal(a->outputs[i]->id, b->outputs[i]->id);
    assert_int_equal(a->compiled, b->compiled);
    if (a->compiled) {
        char ca[2048], cb[2048];
        assert_int_equal(clg_optimizer_config_json(a->opt, ca, sizeof ca), CLG_OK);
        assert_int_equal(clg_optimizer_config_json(b->opt, cb, sizeof cb), CLG_OK);
        assert_string_equal(ca, cb);
        assert_int_equal(a->loss, b->loss);
        assert_int_equal(a->accuracy, b->accuracy);
        /* the training state: every optimizer tensor, the RNG counter, the epochs done */
        assert_int_equal(a->epochs_done, b->epochs_done);
        int ns = clg_optimizer_state_count(a->opt);
        assert_int_equal(ns, clg_optimizer_state_count(b->opt));
        for (int i = 0; i <= ns; i++) {
            const clg_tensor *ta = i < ns ? clg_optimizer_state_tensor(a->opt, i) : a->rng_counter;
            const clg_tensor *tb = i < ns ? clg_optimizer_state_tensor(b->opt, i) : b->rng_counter;
            assert_non_null(ta), assert_non_null(tb);
            if (i < ns) assert_string_equal(clg_optimizer_state_name(a->opt, i), clg_optimizer_state_name(b->opt, i));
            expect_same_values(ta, tb, i < ns ? clg_optimizer_state_name(a->opt, i) : "the RNG counter");
        }
    }
    int n = clg_model_weight_count(a, 0);
    assert_int_equal(n, clg_model_weight_count(b, 0));
    for (int i = 0; i < n; i++) {
        clg_tensor *wa = clg_model_weight(a, 0, i), *wb = clg_model_weight(b, 0, i);
        assert_non_null(wa), assert_non_null(wb);
        size_t bytes = (size_t)clg_tensor_numel(wa) * sizeof(float);
        assert_int_equal(clg_tensor_numel(wa), clg_tensor_numel(wb));
        float *ha = malloc(bytes + 1), *hb = malloc(bytes + 1);
        assert_non_null(ha), assert_non_null(hb);
        assert_int_equal(clg_tensor_to_host(wa, ha, bytes), CLG_OK);
        assert_int_equal(clg_tensor_to_host(wb, hb, bytes), CLG_OK);
        if (memcmp(ha, hb, bytes)) fail_msg("weight %s differs after the round trip", clg_tensor_name(wa));
        free(ha), free(hb);
    }
}

/* Saves m, loads it back, and saves the loaded model: both files carry the same
 * model_config, compile_config and training_state. Returns the loaded model. */
static clg_model *round_trip(clg_context *ctx, clg_model *m, const char *dir) {
    char *p1 = clg_test_path_in(dir, "a.safetensors"), *p2 = clg_test_path_in(dir, "b.safetensors");
    assert_int_equal(clg_model_save(m, p1), CLG_OK);
    clg_model *r = clg_model_load(ctx, p1);
    if (!r) fail_msg("clg_model_load: %s", clg_last_error());
    assert_int_equal(clg_model_save(r, p2), CLG_OK);
    const char *keys[] = {"model_config", "compile_config", "training_state", "format", "clgrad_version"};
    for (int i = 0; i < 5; i++) {
        char *a = metadata_of(p1, keys[i]), *b = metadata_of(p2, keys[i]);
        assert_true((a == NULL) == (b == NULL));
        if (a) assert_string_equal(a, b);
        free(a), free(b);
    }
    free(p1), free(p2);
    return r;
}

/* --- (1) the seed-like Sequential model, trained ------------------------------------------- */

enum { SN = 20, SHW = 8, SCL = 3 };

static clg_model *seq_model(clg_context *ctx) {
    clg_model *m = clg_sequential_new(ctx, 3, (int64_t[]){SHW, SHW, 1});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_conv2d(4, 3, 3, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_max_pooling2d(2, 2)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_flatten()), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(8, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dropout(0.25f)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_batch_normalization()), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(SCL, CLG_ACT_SOFTMAX)), CLG_OK);
    return m;
}

static void test_sequential_trained(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("model_io");
    float x[SN * SHW * SHW];
    int32_t y[SN];
    clg_test_random_floats(x, sizeof x / sizeof *x, 31);
    for (int i = 0; i < SN; i++) y[i] = (i * 7) % SCL;
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 4, (int64_t[]){SN, SHW, SHW, 1});
    clg_host_array ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){SN});

    clg_model *m = seq_model(ctx);
    assert_int_equal(clg_model_set_seed(m, 7), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    assert_int_equal(clg_model_set_learning_rate(m, 0.002f), CLG_OK);
    clg_fit_options fo = clg_fit_options_default();
    fo.batch_size = 8, fo.verbose = 0;
    clg_history *h = clg_model_fit(m, &xa, &ya, &fo);
    assert_non_null(h);
    clg_history_free(h);

    clg_model *r = round_trip(ctx, m, dir);
    expect_same_model(m, r);
    expect_same_summary(m, r);
    float pa[SN * SCL], pb[SN * SCL];
    assert_int_equal(clg_model_predict(m, &xa, 8, pa, SN * SCL), CLG_OK);
    assert_int_equal(clg_model_predict(r, &xa, 8, pb, SN * SCL), CLG_OK);
    assert_memory_equal(pa, pb, sizeof pa);
    float la, aa, lb, ab;
    assert_int_equal(clg_model_evaluate(m, &xa, &ya, 8, &la, &aa), CLG_OK);
    assert_int_equal(clg_model_evaluate(r, &xa, &ya, 8, &lb, &ab), CLG_OK);
    assert_memory_equal(&la, &lb, sizeof la);
    assert_memory_equal(&aa, &ab, sizeof aa);

    /* Training goes on identically: the seed, the optimizer with its moments and
     * step count, the loss, dropout's per-node streams and RNG counter, and the
     * epochs done (shuffling) came back. */
    assert_int_equal(r->epochs_done, 1);
    h = clg_model_fit(m, &xa, &ya, &fo);
    clg_history *h2 = clg_model_fit(r, &xa, &ya, &fo);
    assert_non_null(h), assert_non_null(h2);
    assert_memory_equal(h->loss, h2->loss, sizeof(float));
    clg_history_free(h), clg_history_free(h2);
    expect_same_model(m, r);

    clg_model_free(r);
    clg_model_free(m);
    clg_test_rmtree(dir);
    free(dir);
}

/* --- (2) a functional graph: two inputs, int32 indices, a shared layer ----------------------- */

enum { FB = 3, FF = 6, FT = 5, FV = 10 };

/* in1 [6] -> shared dense(6, tanh) -> a;  in2 int32 [5] -> embedding(10, 4, l2) ->
 * conv1d(3, k 2, stride 2, same) -> flatten -> dense(6) -> shared -> s;
 * add(a, s) and concatenate(add, flatten) -> dense(2); outputs: the last dense
 * and the add. The second input is made after the first call, so node ids
 * interleave (node_order must restore them). */
static clg_model *func_model(clg_context *ctx) {
    clg_model *m = clg_model_new(ctx);
    assert_non_null(m);
    clg_node *in1 = clg_model_input(m, 1, (int64_t[]){FF});
    clg_layer *shared = clg_layer_dense(FF, CLG_ACT_TANH);
    clg_node *a = clg_call(shared, in1);
    clg_node *in2 = clg_model_input_indices(m, 1, (int64_t[]){FT});
    clg_layer *emb = clg_layer_embedding(FV, 4);
    assert_int_equal(clg_layer_set_l2(emb, 0.01f), CLG_OK);
    clg_node *e = clg_call(emb, in2);
    clg_node *c = clg_call(clg_layer_conv1d(3, 2, 2, 1, CLG_ACT_RELU), e);
    clg_node *f = clg_call(clg_layer_flatten(), c);
    clg_node *b = clg_call(clg_layer_dense(FF, CLG_ACT_LINEAR), f);
    clg_node *s = clg_call(shared, b);
    clg_node *sum = clg_call_n(clg_layer_add(), 2, (clg_node *[]){a, s});
    clg_node *cat = clg_call_n(clg_layer_concatenate(-1), 2, (clg_node *[]){sum, f});
    clg_node *out = clg_call(clg_layer_dense(2, CLG_ACT_LINEAR), cat);
    assert_non_null(out);
    assert_int_equal(clg_model_set_outputs(m, 2, (clg_node *[]){out, sum}), CLG_OK);
    return m;
}

static void func_inputs(clg_context *ctx, clg_tensor **t) {
    float x1[FB * FF];
    int32_t x2[FB * FT];
    clg_test_random_floats(x1, FB * FF, 41);
    for (int i = 0; i < FB * FT; i++) x2[i] = (i * 3 + 1) % FV;
    t[0] = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){FB, FF}, x1);
    t[1] = clg_tensor_from_host(ctx, CLG_INT32, 2, (int64_t[]){FB, FT}, x2);
    assert_non_null(t[0]), assert_non_null(t[1]);
}

/* Both outputs of clg_model_call for the fixed inputs, on the host. */
static void func_outputs(clg_model *m, const clg_tensor *const *in, float *o1, float *o2) {
    clg_tensor *out[2] = {NULL, NULL};
    if (clg_model_call(m, in, 0, out) != CLG_OK) fail_msg("clg_model_call: %s", clg_last_error());
    assert_int_equal(clg_tensor_to_host(out[0], o1, FB * 2 * sizeof(float)), CLG_OK);
    assert_int_equal(clg_tensor_to_host(out[1], o2, FB * FF * sizeof(float)), CLG_OK);
    clg_tensor_free(out[0]), clg_tensor_free(out[1]);
}

static void test_functional_shared(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("model_io");
    clg_model *m = func_model(ctx);
    assert_int_equal(clg_model_set_seed(m, 3), CLG_OK);
    clg_tensor *in[2];
    func_inputs(ctx, in);
    float a1[FB * 2], a2[FB * FF], b1[FB * 2], b2[FB * FF];
    func_outputs(m, (const clg_tensor *const *)in, a1, a2);

    clg_model *r = round_trip(ctx, m, dir);
    expect_same_model(m, r);
    expect_same_summary(m, r);
    assert_string_equal(clg_layer_name(clg_model_get_layer(r, "dense")), "dense");
    func_outputs(r, (const clg_tensor *const *)in, b1, b2);
    assert_memory_equal(a1, b1, sizeof a1);
    assert_memory_equal(a2, b2, sizeof a2);

    /* The same file is a weights file for the model built in code. */
    char *p = clg_test_path_in(dir, "a.safetensors");
    clg_model *code = func_model(ctx);
    if (clg_model_load_weights(code, p) != CLG_OK) fail_msg("clg_model_load_weights: %s", clg_last_error());
    func_outputs(code, (const clg_tensor *const *)in, b1, b2);
    assert_memory_equal(a1, b1, sizeof a1);
    assert_memory_equal(a2, b2, sizeof a2);

    /* A layer added to the loaded model is named after the file's. */
    clg_node *extra = clg_call(clg_layer_dense(1, CLG_ACT_LINEAR), r->outputs[1]);
    assert_non_null(extra);
    assert_string_equal(extra->layer->name, "dense_3");

    clg_model_free(code);
    clg_model_free(r);
    clg_model_free(m);
    clg_tensor_free(in[0]), clg_tensor_free(in[1]);
    free(p);
    clg_test_rmtree(dir);
    free(dir);
}

/* --- (3) every layer kind, settings away from the defaults ----------------------------------- */

enum { KB = 4, KH = 7, KW = 6, KC = 2, KO = 3 };

/* in [7, 6, 2] -> zero_padding (1,2,0,1) -> conv2d 4 3x3 strides 2 'same' elu l2
 * -> depthwise 2x2 tanh l2 -> upsampling (2,3) -> average_pooling (2,3) ->
 * conv2d_transpose 3 (3,2) strides (2,1) 'valid' sigmoid -> max_pooling (3,2)
 * -> frozen batch norm; global average + global max pooling, reshape (-1, 2)
 * -> layer norm -> leaky relu 0.2 -> flatten; concatenate (axis 1), add,
 * concatenate (-1) -> frozen dense 5 gelu l2 -> dropout 0.3 -> activation
 * softplus -> dense 3 relu -> dense 3 softmax. */
static clg_model *kinds_model(clg_context *ctx) {
    clg_model *m = clg_model_new(ctx);
    assert_non_null(m);
    clg_node *in = clg_model_input(m, 3, (int64_t[]){KH, KW, KC});
    clg_node *x = clg_call(clg_layer_zero_padding2d(1, 2, 0, 1), in);
    clg_layer *conv = clg_layer_conv2d_ex(4, 3, 3, 2, 2, 1, CLG_ACT_ELU);
    assert_int_equal(clg_layer_set_l2(conv, 0.01f), CLG_OK);
    x = clg_call(conv, x);
    clg_layer *dw = clg_layer_depthwise_conv2d(2, 2, CLG_ACT_TANH);
    assert_int_equal(clg_layer_set_l2(dw, 0.02f), CLG_OK);
    x = clg_call(dw, x);
    x = clg_call(clg_layer_upsampling2d(2, 3), x);
    x = clg_call(clg_layer_average_pooling2d(2, 3), x);
    clg_node *t = clg_call(clg_layer_conv2d_transpose(3, 3, 2, 2, 1, 0, CLG_ACT_SIGMOID), x);
    x = clg_call(clg_layer_max_pooling2d(3, 2), t);
    clg_layer *bn = clg_layer_batch_normalization();
    assert_int_equal(clg_layer_set_trainable(bn, 0), CLG_OK);
    clg_node *b = clg_call(bn, x);
    clg_node *g1 = clg_call(clg_layer_global_average_pooling2d(), b);
    clg_node *g2 = clg_call(clg_layer_global_max_pooling2d(), t);
    clg_node *r = clg_call(clg_layer_reshape(2, (int64_t[]){-1, 2}), b);
    r = clg_call(clg_layer_layer_normalization(), r);
    r = clg_call(clg_layer_leaky_relu(0.2f), r);
    r = clg_call(clg_layer_flatten(), r);
    clg_node *cat = clg_call_n(clg_layer_concatenate(1), 3, (clg_node *[]){g1, g2, r});
    clg_node *sum = clg_call_n(clg_layer_add(), 2, (clg_node *[]){g1, g2});
    x = clg_call_n(clg_layer_concatenate(-1), 2, (clg_node *[]){cat, sum});
    clg_layer *d = clg_layer_dense(5, CLG_ACT_GELU);
    assert_int_equal(clg_layer_set_l2(d, 0.01f), CLG_OK);
    assert_int_equal(clg_layer_set_trainable(d, 0), CLG_OK);
    x = clg_call(d, x);
    x = clg_call(clg_layer_dropout(0.3f), x);
    x = clg_call(clg_layer_activation(CLG_ACT_SOFTPLUS), x);
    x = clg_call(clg_layer_dense(KO, CLG_ACT_RELU), x);
    x = clg_call(clg_layer_dense(KO, CLG_ACT_SOFTMAX), x);
    assert_non_null(x);
    assert_int_equal(clg_model_set_outputs(m, 1, &x), CLG_OK);
    return m;
}

static void test_every_kind(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("model_io");
    clg_model *m = kinds_model(ctx);
    for (int k = 0; k < L_KIND_COUNT; k++)
        /* Conv1D and Embedding: test_functional_shared; the recurrent layers: the Sequential model below */
        if (k != L_CONV1D && k != L_EMBEDDING && k != L_SIMPLE_RNN && k != L_LSTM && k != L_GRU &&
            k != L_BIDIRECTIONAL && k != L_MHA && k != L_POSEMB && !m->kind_count[k]) /* attention: test_functional */
            fail_msg("kinds_model lacks %s", clg_kind_type[k]);
    assert_int_equal(clg_model_set_seed(m, 11), CLG_OK);
    assert_int_equal(clg_model_compile(m, "rmsprop", "categorical_crossentropy", NULL), CLG_OK);
    float x[KB * KH * KW * KC], y[KB * KO] = {0};
    clg_test_random_floats(x, sizeof x / sizeof *x, 51);
    for (int i = 0; i < KB; i++) y[i * KO + i % KO] = 1.0f;
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 4, (int64_t[]){KB, KH, KW, KC});
    clg_host_array ya = clg_test_host_array(y, CLG_FLOAT32, 2, (int64_t[]){KB, KO});
    clg_fit_options fo = clg_fit_options_default();
    fo.batch_size = 2, fo.verbose = 0;
    clg_history *h = clg_model_fit(m, &xa, &ya, &fo);
    assert_non_null(h);
    clg_history_free(h);

    clg_model *r = round_trip(ctx, m, dir);
    expect_same_model(m, r);
    expect_same_summary(m, r);
    assert_int_equal(clg_layer_trainable(clg_model_get_layer(r, "batch_normalization")), 0);
    float pa[KB * KO], pb[KB * KO], la, lb;
    assert_int_equal(clg_model_predict(m, &xa, 3, pa, KB * KO), CLG_OK);
    assert_int_equal(clg_model_predict(r, &xa, 3, pb, KB * KO), CLG_OK);
    assert_memory_equal(pa, pb, sizeof pa);
    /* the loss includes the L2 penalties */
    assert_int_equal(clg_model_evaluate(m, &xa, &ya, 3, &la, NULL), CLG_OK);
    assert_int_equal(clg_model_evaluate(r, &xa, &ya, 3, &lb, NULL), CLG_OK);
    assert_memory_equal(&la, &lb, sizeof la);
    clg_model_free(r);
    clg_model_free(m);

    /* A Sequential model whose input is int32 (an Embedding first), with every
     * recurrent layer and their options, never compiled. */
    m = clg_sequential_new(ctx, 1, (int64_t[]){6});
    assert_int_equal(clg_model_add(m, clg_layer_embedding_ex(12, 3, 1)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_lstm(4, 1, 0)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_conv1d(2, 3, 1, 0, CLG_ACT_SIGMOID)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_gru(3, 1, 1)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_bidirectional(clg_layer_lstm(2, 1, 0))), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_simple_rnn(2, 0, 1)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(2, CLG_ACT_LINEAR)), CLG_OK);
    r = round_trip(ctx, m, dir);
    expect_same_model(m, r);
    expect_same_summary(m, r);
    int32_t idx[2 * 6] = {0, 1, 2, 3, 4, 5, 11, 10, 9, 8, 7, 6};
    clg_host_array ia = clg_test_host_array(idx, CLG_INT32, 2, (int64_t[]){2, 6});
    float qa[4], qb[4];
    assert_int_equal(clg_model_predict(m, &ia, 2, qa, 4), CLG_OK);
    assert_int_equal(clg_model_predict(r, &ia, 2, qb, 4), CLG_OK);
    assert_memory_equal(qa, qb, sizeof qa);
    clg_model_free(r);
    clg_model_free(m);
    clg_test_rmtree(dir);
    free(dir);
}

/* --- (4) broken files ------------------------------------------------------------------------ */

/* A tensor to add to a copied file. */
typedef struct extra_tensor {
    const char *name;
    clg_safetensors_dtype dtype;
    int ndim;
    int64_t shape[4];
    const void *data;
} extra_tensor;

/* Writes path from the safetensors file `from`: its tensors, less those whose
 * names start with `drop` (NULL: none) and plus `add` (NULL: none; it replaces
 * a tensor of its name), and its metadata with the (key, value) pairs of `meta`
 * (NULL-terminated; a NULL value removes the key). */
static void write_file(const char *from, const char *path, const char *drop, const extra_tensor *add,
                       const char *const *meta) {
    clg_safetensors *f = NULL;
    assert_int_equal(clg_safetensors_open(from, &f), CLG_OK);
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    assert_non_null(w);
    for (size_t i = 0; i < clg_safetensors_count(f); i++) {
        clg_safetensors_info info;
        assert_int_equal(clg_safetensors_info_get(f, clg_safetensors_name(f, i), &info), CLG_OK);
        if (drop && !strncmp(info.name, drop, strlen(drop))) continue;
        if (add && !strcmp(info.name, add->name)) continue;
        void *buf = malloc(info.nbytes + 1);
        assert_non_null(buf);
        assert_int_equal(clg_safetensors_read(f, info.name, buf, info.nbytes), CLG_OK);
        assert_int_equal(clg_safetensors_writer_add_host(w, info.name, info.dtype, info.ndim, info.shape, buf), CLG_OK);
        free(buf);
    }
    if (add)
        assert_int_equal(clg_safetensors_writer_add_host(w, add->name, add->dtype, add->ndim, add->shape, add->data),
                         CLG_OK);
    for (size_t i = 0; i < clg_safetensors_metadata_count(f); i++) {
        const char *key = clg_safetensors_metadata_key(f, i);
        int replaced_key = 0;
        for (const char *const *kv = meta; kv && *kv; kv += 2) replaced_key |= !strcmp(*kv, key);
        if (!replaced_key)
            assert_int_equal(clg_safetensors_writer_set_metadata(w, key, clg_safetensors_metadata_value(f, i)), CLG_OK);
    }
    for (const char *const *kv = meta; kv && *kv; kv += 2)
        if (kv[1]) assert_int_equal(clg_safetensors_writer_set_metadata(w, kv[0], kv[1]), CLG_OK);
    assert_int_equal(clg_safetensors_writer_save(w, path), CLG_OK);
    clg_safetensors_writer_free(w);
    clg_safetensors_free(f);
}

/* Writes path as a copy of `from` with model_config mc and compile_config cc
 * (NULL: the source's). */
static void write_variant(const char *from, const char *path, const char *mc, const char *cc) {
    const char *meta[5] = {NULL, NULL, NULL, NULL, NULL};
    int k = 0;
    if (mc) meta[k++] = "model_config", meta[k++] = mc;
    if (cc) meta[k++] = "compile_config", meta[k++] = cc;
    write_file(from, path, NULL, NULL, meta);
}

/* s with the first `from` replaced by `to` (a new string); the test fails when
 * `from` is absent. */
static char *replaced(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    if (!at) fail_msg("\"%s\" is not in %s", from, s);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *r = malloc(n);
    assert_non_null(r);
    snprintf(r, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return r;
}

/* Writes a variant of the good file with model_config `mc` and compile_config
 * `cc` (NULL: the good file's) and expects loading it to fail with `status` and
 * a message holding `a` and `b` and the path. */
static void expect_bad(clg_context *ctx, const char *good, const char *bad, const char *mc, const char *cc,
                       clg_status status, const char *a, const char *b) {
    write_variant(good, bad, mc, cc);
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, status, "clg_model_load", bad, a, b);
}

static void test_broken_files(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("model_io");
    char *good = clg_test_path_in(dir, "good.safetensors"), *bad = clg_test_path_in(dir, "bad.safetensors");
    clg_model *m = clg_model_new(ctx);
    clg_node *in = clg_model_input(m, 1, (int64_t[]){3});
    clg_node *o = clg_call(clg_layer_dense(2, CLG_ACT_RELU), in);
    assert_int_equal(clg_model_set_outputs(m, 1, &o), CLG_OK);
    assert_int_equal(clg_model_compile(m, "sgd", "mse", NULL), CLG_OK);
    assert_int_equal(clg_model_save(m, good), CLG_OK);
    char *mc = metadata_of(good, "model_config"), *cc = metadata_of(good, "compile_config");
    assert_non_null(mc), assert_non_null(cc);
    assert_non_null(strstr(mc, "\"units\": 2"));

    /* weights only */
    assert_int_equal(clg_model_save_weights(m, bad), CLG_OK);
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_INVALID_ARGUMENT, bad, "weights only",
                     "clg_model_load_weights");
    /* no such file, NULL arguments */
    char *none = clg_test_path_in(dir, "none.safetensors");
    CLG_EXPECT_ERROR(clg_model_load(ctx, none) == NULL, CLG_STATUS_NOT_FOUND, "clg_model_load", none);
    free(none);
    CLG_EXPECT_ERROR(clg_model_load(NULL, good) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_model_load");
    CLG_EXPECT_ERROR(clg_model_load(ctx, NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_model_load");
    CLG_EXPECT_ERROR(clg_model_save(NULL, good) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_model_save");

    /* malformed JSON: truncated, with the byte offset */
    char *cut = strdup(mc);
    assert_non_null(cut);
    cut[strlen(cut) / 2] = 0;
    expect_bad(ctx, good, bad, cut, NULL, CLG_STATUS_CORRUPT_DATA, "not valid JSON", "at byte");
    free(cut);
    expect_bad(ctx, good, bad, "{\"class_name\": \"Functional\",}", NULL, CLG_STATUS_CORRUPT_DATA,
               "expected a member name", "at byte 28");
    /* too deep */
    char deep[200] = "{\"config\": ";
    for (int i = 0; i < 40; i++) strcat(deep, "[");
    for (int i = 0; i < 40; i++) strcat(deep, "]");
    strcat(deep, "}");
    expect_bad(ctx, good, bad, deep, NULL, CLG_STATUS_CORRUPT_DATA, "nesting deeper than 32", "at byte");

    struct { const char *from, *to, *a, *b; clg_status st; } cases[] = {
        {"\"units\": 2", "\"units\": \"2\"", "layer \"dense\" (Dense)", "\"units\" must be an integer", CLG_STATUS_CORRUPT_DATA},
        {"\"units\": 2", "\"units\": 0", "layer \"dense\" (Dense)", "got 0", CLG_STATUS_CORRUPT_DATA},
        {"\"units\": 2, ", "", "layer \"dense\" (Dense)", "missing field \"units\"", CLG_STATUS_CORRUPT_DATA},
        {"\"units\": 2", "\"units\": 2, \"use_bias\": false", "layer \"dense\"", "unknown field \"use_bias\"",
         CLG_STATUS_CORRUPT_DATA},
        {"\"Dense\"", "\"Dense3D\"", "layer \"dense\"", "unknown class_name \"Dense3D\"", CLG_STATUS_CORRUPT_DATA},
        {"\"activation\": \"relu\"", "\"activation\": \"swish\"", "layer \"dense\" (Dense)", "\"swish\", not one of",
         CLG_STATUS_CORRUPT_DATA},
        {"[[[\"input_layer\", 0, 0]]]", "[[[\"input_layr\", 0, 0]]]", "layer \"dense\" node 0",
         "\"input_layr\", which is not in the file", CLG_STATUS_CORRUPT_DATA},
        {"[[[\"input_layer\", 0, 0]]]", "[[[\"input_layer\", 1, 0]]]", "layer \"dense\" node 0",
         "node 1 of layer \"input_layer\", which has 1", CLG_STATUS_CORRUPT_DATA},
        {"[[[\"input_layer\", 0, 0]]]", "[[[\"dense\", 0, 0]]]", "layer \"dense\" node 0", "cycle",
         CLG_STATUS_CORRUPT_DATA},
        {"\"name\": \"dense\"", "\"name\": \"input_layer\"", "layer \"input_layer\"", "appears twice",
         CLG_STATUS_CORRUPT_DATA},
        {"\"Functional\"", "\"Model3\"", "class_name", "\"Model3\", not one of", CLG_STATUS_CORRUPT_DATA},
        {"\"batch_shape\": [null, 3]", "\"batch_shape\": [3]", "layer \"input_layer\" (InputLayer)", "batch_shape",
         CLG_STATUS_CORRUPT_DATA},
        /* the architecture and the weights disagree */
        {"\"units\": 2", "\"units\": 5", "layer \"dense\" (Dense)", "dense.kernel is F32 [3,2] in the file",
         CLG_STATUS_SHAPE_MISMATCH},
        {"\"batch_shape\": [null, 3]", "\"batch_shape\": [null, 4]", "dense.kernel", "[4,2]",
         CLG_STATUS_SHAPE_MISMATCH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *v = replaced(mc, cases[i].from, cases[i].to);
        expect_bad(ctx, good, bad, v, NULL, cases[i].st, cases[i].a, cases[i].b);
        free(v);
    }
    /* a weight the architecture does not have */
    {
        clg_safetensors_writer *w = clg_safetensors_writer_new();
        assert_non_null(w);
        float extra[2] = {1, 2};
        assert_int_equal(clg_safetensors_writer_add_host(w, "dense.kernel", CLG_SAFETENSORS_F32, 2,
                                                         (int64_t[]){3, 2}, (float[6]){0}), CLG_OK);
        assert_int_equal(clg_safetensors_writer_add_host(w, "dense.bias", CLG_SAFETENSORS_F32, 1, (int64_t[]){2},
                                                         extra), CLG_OK);
        assert_int_equal(clg_safetensors_writer_add_host(w, "dense.scale", CLG_SAFETENSORS_F32, 1, (int64_t[]){2},
                                                         extra), CLG_OK);
        assert_int_equal(clg_safetensors_writer_set_metadata(w, "format", "clgrad"), CLG_OK);
        assert_int_equal(clg_safetensors_writer_set_metadata(w, "model_config", mc), CLG_OK);
        assert_int_equal(clg_safetensors_writer_save(w, bad), CLG_OK);
        clg_safetensors_writer_free(w);
        CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_SHAPE_MISMATCH, bad, "unexpected: dense.scale");
    }
    /* compile_config (an SGD optimizer): one wrong thing each */
    assert_non_null(strstr(cc, "{\"optimizer\": {\"module\": \"keras.optimizers\", \"class_name\": \"SGD\", "));
    const char *os = "compile_config \"optimizer\" (SGD)", *lr_is = "\"learning_rate\": 0.01";
    struct { const char *from, *to, *a, *b; clg_status st; } cc_cases[] = {
        {"\"mse\"", "\"hinge\"", "compile_config", "unknown loss \"hinge\"", CLG_STATUS_CORRUPT_DATA},
        {"\"class_name\": \"SGD\"", "\"class_name\": \"Lbfgs\"", "compile_config \"optimizer\"",
         "\"Lbfgs\", not one of SGD, Adam, AdamW, RMSprop, Adagrad", CLG_STATUS_CORRUPT_DATA},
        {"\"module\": \"keras.optimizers\"", "\"module\": \"torch.optim\"", "compile_config \"optimizer\"",
         "\"module\" is \"torch.optim\"", CLG_STATUS_CORRUPT_DATA},
        {"\"registered_name\": null}, \"loss\"", "\"registered_name\": \"Custom>SGD\"}, \"loss\"",
         "compile_config \"optimizer\"", "\"registered_name\" \"Custom>SGD\" is not supported", CLG_STATUS_UNSUPPORTED},
        {"\"nesterov\": false", "\"nesterov\": false, \"beta_1\": 0.9", os, "unknown field \"beta_1\"",
         CLG_STATUS_CORRUPT_DATA},
        {lr_is, "\"learning_rate\": -0.01", os, "learning_rate -0.01 must be finite and >= 0", CLG_STATUS_CORRUPT_DATA},
        {lr_is, "\"learning_rate\": \"fast\"", os, "\"learning_rate\" must be a number", CLG_STATUS_CORRUPT_DATA},
        {lr_is, "\"learning_rate\": 1e39", os, "outside float32's range", CLG_STATUS_CORRUPT_DATA},
        {"\"momentum\": 0.0", "\"momentum\": 1.5", os, "momentum 1.5 must be in [0, 1]", CLG_STATUS_CORRUPT_DATA},
        {"\"nesterov\": false", "\"nesterov\": \"yes\"", os, "\"nesterov\" must be true or false",
         CLG_STATUS_CORRUPT_DATA},
        {"\"clipnorm\": null, \"global_clipnorm\": null, \"clipvalue\": null",
         "\"clipnorm\": 1.0, \"global_clipnorm\": null, \"clipvalue\": 0.5", os, "only one of clipnorm",
         CLG_STATUS_CORRUPT_DATA},
        {"\"clipvalue\": null", "\"clipvalue\": -2", os, "clipvalue -2 must be finite and > 0", CLG_STATUS_CORRUPT_DATA},
        {"\"weight_decay\": null", "\"weight_decay\": [0.1]", os, "\"weight_decay\" must be a number",
         CLG_STATUS_CORRUPT_DATA},
        {"\"use_ema\": false", "\"use_ema\": true", os, "\"use_ema\" true is not supported", CLG_STATUS_UNSUPPORTED},
        {"\"ema_momentum\": 0.99", "\"ema_momentum\": 0.9", os, "\"ema_momentum\" 0.9 is not supported",
         CLG_STATUS_UNSUPPORTED},
        {"\"loss_scale_factor\": null", "\"loss_scale_factor\": 128", os, "\"loss_scale_factor\" 128 is not supported",
         CLG_STATUS_UNSUPPORTED},
        {lr_is, "\"learning_rate\": {\"class_name\": \"PiecewiseConstantDecay\", \"config\": {}}",
         "(SGD) \"learning_rate\"", "\"PiecewiseConstantDecay\", not one of ExponentialDecay, CosineDecay",
         CLG_STATUS_CORRUPT_DATA},
        {lr_is, "\"learning_rate\": {\"class_name\": \"ExponentialDecay\", \"config\": {\"initial_learning_rate\": 0.1, "
                "\"decay_steps\": 0, \"decay_rate\": 0.5}}",
         "\"learning_rate\" (ExponentialDecay)", "\"decay_steps\" must be an integer in [1, 2147483647], got 0",
         CLG_STATUS_CORRUPT_DATA},
        {lr_is, "\"learning_rate\": {\"class_name\": \"ExponentialDecay\", \"config\": {\"initial_learning_rate\": 0.1, "
                "\"decay_steps\": 10, \"decay_rate\": -0.5}}",
         os, "decay_rate -0.5 must be finite and >= 0", CLG_STATUS_CORRUPT_DATA},
        {lr_is, "\"learning_rate\": {\"class_name\": \"CosineDecay\", \"config\": {\"initial_learning_rate\": 0.1, "
                "\"alpha\": 0.0}}",
         "\"learning_rate\" (CosineDecay)", "missing field \"decay_steps\"", CLG_STATUS_CORRUPT_DATA},
        {lr_is, "\"learning_rate\": {\"class_name\": \"CosineDecay\", \"config\": {\"initial_learning_rate\": 0.1, "
                "\"decay_steps\": 10, \"power\": 2}}",
         "\"learning_rate\" (CosineDecay)", "unknown field \"power\"", CLG_STATUS_CORRUPT_DATA},
    };
    for (size_t i = 0; i < sizeof cc_cases / sizeof *cc_cases; i++) {
        char *v = replaced(cc, cc_cases[i].from, cc_cases[i].to);
        expect_bad(ctx, good, bad, mc, v, cc_cases[i].st, cc_cases[i].a, cc_cases[i].b);
        free(v);
    }
    /* whole compile_configs: the optimizer as a bare name, clgrad's old minimal
     * form (refused), AdamW without a decay, not JSON */
    expect_bad(ctx, good, bad, mc, "{\"optimizer\": \"sgd\", \"loss\": \"mse\"}", CLG_STATUS_CORRUPT_DATA,
               "compile_config \"optimizer\"", "must be Keras's serialised optimizer");
    expect_bad(ctx, good, bad, mc, "{\"optimizer\": {\"class_name\": \"sgd\", \"config\": {\"learning_rate\": 0.01}}, "
               "\"loss\": \"mse\"}", CLG_STATUS_CORRUPT_DATA, "compile_config \"optimizer\"", "\"sgd\", not one of");
    expect_bad(ctx, good, bad, mc, "{\"optimizer\": {\"class_name\": \"AdamW\", \"config\": {\"weight_decay\": null}}, "
               "\"loss\": \"mse\"}", CLG_STATUS_CORRUPT_DATA, "(AdamW)", "\"weight_decay\" must be a number for AdamW");
    expect_bad(ctx, good, bad, mc, "{\"loss\": ", CLG_STATUS_CORRUPT_DATA, "compile_config is not valid JSON",
               "at byte 9");
    /* the good file still loads, with its compile settings */
    write_variant(good, bad, mc, cc);
    clg_model *r = clg_model_load(ctx, bad);
    if (!r) fail_msg("%s", clg_last_error());
    expect_same_model(m, r);
    clg_model_free(r);

    free(mc), free(cc), free(good), free(bad);
    clg_model_free(m);
    clg_test_rmtree(dir);
    free(dir);
}

/* --- (6) every optimizer class, clipping kind and schedule -------------------------------- */

enum { ON = 10, OF = 4, OC = 3, OPT_VARIANTS = 7 };

/* Optimizer variant i, each setting away from its default (the constructors'
 * and setters' results checked). */
static clg_optimizer *opt_variant(int i) {
    clg_optimizer *o = NULL;
    clg_status st = CLG_OK;
    switch (i) {
    case 0: /* SGD with Nesterov momentum, clipnorm, exponential decay */
        o = clg_optimizer_sgd(0.05f, 0.8f, 1);
        if (o) st = clg_optimizer_set_clipnorm(o, 0.5f);
        if (o && st == CLG_OK) st = clg_optimizer_set_schedule_exponential(o, 100, 0.9f, 0);
        break;
    case 1: /* Adam with amsgrad, global_clipnorm, the step schedule */
        o = clg_optimizer_adam(0.003f, 0.8f, 0.99f, 1e-5f);
        if (o) st = clg_optimizer_set_amsgrad(o, 1);
        if (o && st == CLG_OK) st = clg_optimizer_set_global_clipnorm(o, 1.5f);
        if (o && st == CLG_OK) st = clg_optimizer_set_schedule_step(o, 3, 0.5f);
        break;
    case 2: /* AdamW with clipvalue, cosine decay */
        o = clg_optimizer_adamw(0.002f, 0.01f, 0.85f, 0.995f, 1e-6f);
        if (o) st = clg_optimizer_set_clipvalue(o, 0.25f);
        if (o && st == CLG_OK) st = clg_optimizer_set_schedule_cosine(o, 200, 0.1f, 0, 0.0f);
        break;
    case 3: /* centered RMSprop with momentum, weight decay, cosine with warm-up */
        o = clg_optimizer_rmsprop(0.01f, 0.8f, 0.5f, 1e-6f, 1);
        if (o) st = clg_optimizer_set_weight_decay(o, 0.001f);
        if (o && st == CLG_OK) st = clg_optimizer_set_schedule_cosine(o, 300, 0.05f, 4, 0.0001f);
        break;
    case 4: o = clg_optimizer_adagrad(0.02f, 0.2f, 1e-6f); break;
    case 5: o = clg_optimizer_sgd(0.1f, 0.0f, 0); break;                  /* no slots at all */
    default: o = clg_optimizer_rmsprop(0.001f, 0.9f, 0.0f, 1e-7f, 0); break; /* velocity only */
    }
    if (!o || st != CLG_OK) fail_msg("optimizer variant %d: %s", i, clg_last_error());
    return o;
}

static clg_model *opt_model(clg_context *ctx, clg_optimizer *opt) {
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){OF});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_dense(5, CLG_ACT_TANH)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(OC, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_set_seed(m, 9), CLG_OK);
    if (clg_model_compile_optimizer(m, opt, "sparse_categorical_crossentropy", NULL) != CLG_OK)
        fail_msg("compile: %s", clg_last_error());
    return m;
}

static void test_optimizer_configs(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("model_io");
    char *p = clg_test_path_in(dir, "a.safetensors"), *q = clg_test_path_in(dir, "q.safetensors");
    char *q2 = clg_test_path_in(dir, "q2.safetensors");
    float x[ON * OF];
    int32_t y[ON];
    clg_test_random_floats(x, ON * OF, 17);
    for (int i = 0; i < ON; i++) y[i] = i % OC;
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){ON, OF});
    clg_host_array ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){ON});
    clg_fit_options fo = clg_fit_options_default();
    fo.batch_size = 4, fo.verbose = 0; /* 4 + 4 + 2: a partial last batch */

    for (int v = 0; v < OPT_VARIANTS; v++) {
        clg_model *m = opt_model(ctx, opt_variant(v));
        clg_history *h = clg_model_fit(m, &xa, &ya, &fo);
        if (!h) fail_msg("variant %d: fit: %s", v, clg_last_error());
        clg_history_free(h);
        /* compile_config holds the optimizer's Keras config verbatim */
        char cfg[2048];
        assert_int_equal(clg_optimizer_config_json(m->opt, cfg, sizeof cfg), CLG_OK);
        assert_int_equal(clg_model_save(m, p), CLG_OK);
        char *cc = metadata_of(p, "compile_config"), *ts = metadata_of(p, "training_state");
        if (!strstr(cc, cfg)) fail_msg("variant %d: compile_config %s lacks %s", v, cc, cfg);
        assert_string_equal(ts, "{\"epochs_done\": 1}");
        free(cc), free(ts);
        /* the same config, state tensors (names, values), RNG counter, epochs */
        clg_model *r = round_trip(ctx, m, dir);
        expect_same_model(m, r);
        assert_true(clg_optimizer_iterations(r->opt) == 3);
        /* and the same next epoch (every slot kind, clipping and schedule at work) */
        h = clg_model_fit(m, &xa, &ya, &fo);
        clg_history *h2 = clg_model_fit(r, &xa, &ya, &fo);
        assert_non_null(h), assert_non_null(h2);
        assert_memory_equal(h->loss, h2->loss, sizeof(float));
        clg_history_free(h), clg_history_free(h2);
        expect_same_model(m, r);
        clg_model_free(r);
        clg_model_free(m);
    }

    /* Configs as Keras writes them: absent fields take Keras's defaults, floats
     * printed in double, ignored options at their defaults. The file's training
     * state is left out (it would not match the new optimizer). */
    clg_model *m = opt_model(ctx, clg_optimizer_sgd(0.1f, 0.0f, 0));
    assert_int_equal(clg_model_save(m, p), CLG_OK);
    struct { const char *opt; clg_optimizer *want; } keras[] = {
        {"{\"class_name\": \"Adam\", \"config\": {}}", clg_optimizer_from_name("adam")},
        {"{\"module\": \"keras.optimizers\", \"class_name\": \"RMSprop\", \"config\": {\"name\": \"my_rmsprop\", "
         "\"learning_rate\": 0.0010000000474974513, \"rho\": 0.8, \"use_ema\": false, \"ema_momentum\": 0.99, "
         "\"ema_overwrite_frequency\": null, \"centered\": true}, \"registered_name\": null}",
         clg_optimizer_rmsprop(0.001f, 0.8f, 0.0f, 1e-7f, 1)},
        {"{\"class_name\": \"AdamW\", \"config\": {\"learning_rate\": {\"module\": \"keras.optimizers.schedules\", "
         "\"class_name\": \"CosineDecay\", \"config\": {\"initial_learning_rate\": 0.0, \"decay_steps\": 50, "
         "\"warmup_target\": 0.01, \"warmup_steps\": 5}, \"registered_name\": null}, \"clipnorm\": 2}}",
         clg_optimizer_adamw(0.01f, 0.004f, 0.9f, 0.999f, 1e-7f)},
        /* a warmup_target makes the decay start from it; without one Keras has no warm-up */
        {"{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": {\"class_name\": \"CosineDecay\", \"config\": "
         "{\"initial_learning_rate\": 0.5, \"decay_steps\": 50, \"warmup_steps\": 5}}}}",
         clg_optimizer_sgd(0.5f, 0.0f, 0)},
    };
    assert_int_equal(clg_optimizer_set_clipnorm(keras[2].want, 2.0f), CLG_OK);
    assert_int_equal(clg_optimizer_set_schedule_cosine(keras[2].want, 50, 0.0f, 5, 0.0f), CLG_OK);
    assert_int_equal(clg_optimizer_set_schedule_cosine(keras[3].want, 50, 0.0f, 0, 0.0f), CLG_OK);
    for (size_t i = 0; i < sizeof keras / sizeof *keras; i++) {
        char cc[1024], a[2048], b[2048];
        snprintf(cc, sizeof cc, "{\"optimizer\": %s, \"loss\": \"sparse_categorical_crossentropy\"}", keras[i].opt);
        write_file(p, q, "optimizer.", NULL, (const char *[]){"compile_config", cc, "training_state", NULL, NULL});
        write_file(q, q2, "training.", NULL, NULL);
        clg_model *r = clg_model_load(ctx, q2);
        if (!r) fail_msg("Keras config %zu: %s", i, clg_last_error());
        assert_int_equal(clg_optimizer_config_json(r->opt, a, sizeof a), CLG_OK);
        assert_int_equal(clg_optimizer_config_json(keras[i].want, b, sizeof b), CLG_OK);
        assert_string_equal(a, b);
        assert_true(clg_optimizer_iterations(r->opt) == 0); /* no state in the file: a fresh optimizer */
        assert_int_equal(r->epochs_done, 0);
        clg_model_free(r);
        clg_optimizer_free(keras[i].want);
    }
    clg_model_free(m);
    free(p), free(q), free(q2);
    clg_test_rmtree(dir);
    free(dir);
}

/* --- (7) training state that does not fit the model ---------------------------------------- */

static void test_bad_training_state(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("model_io");
    char *good = clg_test_path_in(dir, "good.safetensors"), *bad = clg_test_path_in(dir, "bad.safetensors");
    float x[ON * OF];
    int32_t y[ON];
    clg_test_random_floats(x, ON * OF, 5);
    for (int i = 0; i < ON; i++) y[i] = (i * 2) % OC;
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){ON, OF});
    clg_host_array ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){ON});
    clg_fit_options fo = clg_fit_options_default();
    fo.batch_size = 4, fo.verbose = 0;
    clg_model *m = opt_model(ctx, clg_optimizer_adam(0.01f, 0.9f, 0.999f, 1e-7f));
    clg_history *h = clg_model_fit(m, &xa, &ya, &fo);
    assert_non_null(h);
    clg_history_free(h);
    assert_int_equal(clg_model_save(m, good), CLG_OK);
    /* what the file holds besides the weights */
    clg_safetensors *f = NULL;
    assert_int_equal(clg_safetensors_open(good, &f), CLG_OK);
    assert_int_equal(clg_safetensors_dtype_of(f, "optimizer.iterations"), CLG_SAFETENSORS_I32);
    assert_int_equal(clg_safetensors_ndim(f, "optimizer.iterations"), 0);
    assert_int_equal(clg_safetensors_ndim(f, "optimizer.velocity.dense.kernel"), 2);
    assert_true(clg_safetensors_shape(f, "optimizer.velocity.dense.kernel")[0] == OF);
    assert_int_equal(clg_safetensors_dtype_of(f, "training.rng_counter"), CLG_SAFETENSORS_I32);
    assert_true(clg_safetensors_shape(f, "training.rng_counter")[0] == 2);
    /* weights (4) + iterations, learning_rate + momentum and velocity of 4 parameters + the RNG counter */
    assert_int_equal(clg_safetensors_count(f), (size_t)(4 + 2 + 8 + 1));
    clg_safetensors_free(f);

    /* a moment of the wrong shape, of the wrong dtype; the step count as a float */
    float zeros[64] = {0};
    int32_t neg = -1;
    const extra_tensor wrong_shape = {"optimizer.momentum.dense.kernel", CLG_SAFETENSORS_F32, 2, {5, OF}, zeros};
    write_file(good, bad, NULL, &wrong_shape, NULL);
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_SHAPE_MISMATCH, "clg_model_load", bad,
                     "training state tensor optimizer.momentum.dense.kernel is F32 [5,4] in the file",
                     "the model's is F32 [4,5]");
    const extra_tensor wrong_dtype = {"optimizer.velocity.dense_1.bias", CLG_SAFETENSORS_F64, 1, {OC}, zeros};
    write_file(good, bad, NULL, &wrong_dtype, NULL);
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_SHAPE_MISMATCH, bad,
                     "optimizer.velocity.dense_1.bias is F64 [3]");
    const extra_tensor float_step = {"optimizer.iterations", CLG_SAFETENSORS_F32, 0, {0}, zeros};
    write_file(good, bad, NULL, &float_step, NULL);
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_SHAPE_MISMATCH, bad,
                     "optimizer.iterations is F32 [] in the file, the model's is I32 []");
    const extra_tensor neg_step = {"optimizer.iterations", CLG_SAFETENSORS_I32, 0, {0}, &neg};
    write_file(good, bad, NULL, &neg_step, NULL);
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_CORRUPT_DATA, bad, "optimizer.iterations is -1");
    const extra_tensor other_lr = {"optimizer.learning_rate", CLG_SAFETENSORS_F32, 0, {0}, (float[]){0.5f}};
    write_file(good, bad, NULL, &other_lr, NULL);
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_CORRUPT_DATA, bad,
                     "optimizer.learning_rate is 0.5", "compile_config's learning_rate is 0.00999999978");
    /* partial: one tensor missing, or the counter */
    write_file(good, bad, "optimizer.velocity.dense.bias", NULL, NULL);
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_CORRUPT_DATA, bad,
                     "training state tensor optimizer.velocity.dense.bias is missing");
    write_file(good, bad, "training.", NULL, NULL);
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_CORRUPT_DATA, bad,
                     "training state tensor training.rng_counter is missing");
    /* state of another optimizer: amsgrad's extra slot */
    const extra_tensor extra = {"optimizer.velocity_hat.dense.bias", CLG_SAFETENSORS_F32, 1, {5}, zeros};
    write_file(good, bad, NULL, &extra, NULL);
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_CORRUPT_DATA, bad,
                     "unexpected training state tensor optimizer.velocity_hat.dense.bias");
    /* the metadata: absent, malformed, out of range; state without compile_config */
    write_file(good, bad, NULL, NULL, (const char *[]){"training_state", NULL, NULL});
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_CORRUPT_DATA, bad, "is training state",
                     "no \"training_state\"");
    write_file(good, bad, NULL, NULL, (const char *[]){"training_state", "{\"epochs_done\": -1}", NULL});
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_CORRUPT_DATA, bad, "training_state",
                     "\"epochs_done\" must be an integer in [0, 2147483647], got -1");
    write_file(good, bad, NULL, NULL, (const char *[]){"training_state", "{\"epochs_done\": 1, \"step\": 3}", NULL});
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_CORRUPT_DATA, bad, "unknown field \"step\"");
    write_file(good, bad, NULL, NULL, (const char *[]){"training_state", "{\"epochs_done\": 1", NULL});
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_CORRUPT_DATA, bad,
                     "training_state is not valid JSON", "at byte 17");
    write_file(good, bad, NULL, NULL, (const char *[]){"compile_config", NULL, NULL});
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_CORRUPT_DATA, bad, "training state",
                     "no compile_config");
    /* a layer named like the training state */
    char *mc = metadata_of(good, "model_config");
    char *v = replaced(mc, "\"name\": \"dense_1\"", "\"name\": \"optimizer.dense_1\"");
    write_file(good, bad, NULL, NULL, (const char *[]){"model_config", v, NULL});
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, CLG_STATUS_CORRUPT_DATA, bad, "layer \"optimizer.dense_1\"",
                     "reserved");
    free(v), free(mc);

    /* without any training state the model loads with a fresh optimizer */
    char *plain = clg_test_path_in(dir, "plain.safetensors");
    write_file(good, bad, "optimizer.", NULL, (const char *[]){"training_state", NULL, NULL});
    write_file(bad, plain, "training.", NULL, NULL);
    clg_model *r = clg_model_load(ctx, plain);
    free(plain);
    if (!r) fail_msg("%s", clg_last_error());
    assert_true(clg_optimizer_iterations(r->opt) == 0);
    assert_int_equal(r->epochs_done, 0);
    clg_model_free(r);
    /* and the good file loads with all of it */
    r = clg_model_load(ctx, good);
    if (!r) fail_msg("%s", clg_last_error());
    expect_same_model(m, r);
    assert_true(clg_optimizer_iterations(r->opt) == 3);
    clg_model_free(r);

    clg_model_free(m);
    free(good), free(bad);
    clg_test_rmtree(dir);
    free(dir);
}

/* --- (8) resuming: bit for bit as an uninterrupted run ---------------------------------------- */

enum { RN = 22, RF = 6, RC = 3, RB = 8, REPOCHS = 4, RSTOP = 2 };

/* Dropout and batch normalization (moving statistics), Adam. */
static clg_model *resume_model(clg_context *ctx) {
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){RF});
    assert_non_null(m);
    assert_int_equal(clg_model_add(m, clg_layer_dense(8, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dropout(0.3f)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_batch_normalization()), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(RC, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_set_seed(m, 11), CLG_OK);
    clg_optimizer *adam = clg_optimizer_adam(0.01f, 0.9f, 0.999f, 1e-7f);
    assert_int_equal(clg_model_compile_optimizer(m, adam, "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    return m;
}

/* Fits epochs [from, to) with shuffling and batch RB (22 = 8 + 8 + 6: the last
 * batch is partial, run eagerly, while the full ones replay a captured step). */
static clg_history *resume_fit(clg_model *m, const clg_host_array *x, const clg_host_array *y, int from, int to,
                               const clg_callback *cb) {
    clg_fit_options fo = clg_fit_options_default();
    fo.batch_size = RB, fo.verbose = 0, fo.shuffle = 1;
    fo.initial_epoch = from, fo.epochs = to;
    if (cb) fo.callbacks = &cb, fo.ncallbacks = 1;
    clg_history *h = clg_model_fit(m, x, y, &fo);
    if (!h) fail_msg("fit %d..%d: %s", from, to, clg_last_error());
    assert_int_equal(h->epochs, to - from);
    return h;
}

/* Whether every weight of a and b is the same, bit for bit. */
static int same_weights(clg_model *a, clg_model *b) {
    int same = 1, n = clg_model_weight_count(a, 0);
    for (int i = 0; i < n; i++) {
        const clg_tensor *wa = clg_model_weight(a, 0, i), *wb = clg_model_weight(b, 0, i);
        size_t bytes = (size_t)clg_tensor_numel(wa) * sizeof(float);
        float *ha = malloc(bytes + 1), *hb = malloc(bytes + 1);
        assert_non_null(ha), assert_non_null(hb);
        assert_int_equal(clg_tensor_to_host(wa, ha, bytes), CLG_OK);
        assert_int_equal(clg_tensor_to_host(wb, hb, bytes), CLG_OK);
        same &= !memcmp(ha, hb, bytes);
        free(ha), free(hb);
    }
    return same;
}

static void test_resume(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("model_io");
    char *p = clg_test_path_in(dir, "resume.safetensors"), *ck = clg_test_path_in(dir, "checkpoint.safetensors");
    char *q = clg_test_path_in(dir, "edited.safetensors");
    float x[RN * RF];
    int32_t y[RN];
    clg_test_random_floats(x, RN * RF, 77);
    for (int i = 0; i < RN; i++) y[i] = (i * 5 + 1) % RC;
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){RN, RF});
    clg_host_array ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){RN});

    /* (a) uninterrupted */
    clg_model *a = resume_model(ctx);
    clg_history *ha = resume_fit(a, &xa, &ya, 0, REPOCHS, NULL);
    assert_int_equal(a->epochs_done, REPOCHS);

    /* (b) two epochs, saved, freed, loaded, two more */
    clg_model *b = resume_model(ctx);
    clg_history *h = resume_fit(b, &xa, &ya, 0, RSTOP, NULL);
    assert_memory_equal(h->loss, ha->loss, RSTOP * sizeof(float)); /* the same run so far */
    clg_history_free(h);
    assert_int_equal(clg_model_save(b, p), CLG_OK);
    clg_model_free(b);
    b = clg_model_load(ctx, p);
    if (!b) fail_msg("%s", clg_last_error());
    assert_int_equal(b->epochs_done, RSTOP);
    h = resume_fit(b, &xa, &ya, RSTOP, REPOCHS, NULL);
    assert_memory_equal(h->loss, ha->loss + RSTOP, (REPOCHS - RSTOP) * sizeof(float));
    assert_memory_equal(h->accuracy, ha->accuracy + RSTOP, (REPOCHS - RSTOP) * sizeof(float));
    clg_history_free(h);
    expect_same_model(a, b); /* weights, moving statistics, moments, step count, RNG counter, epochs */
    clg_model_free(b);

    /* (c) ModelCheckpoint at every epoch of a 2-epoch fit, then from its file */
    clg_callback *cb = clg_callback_model_checkpoint(ck, "loss", 0);
    assert_non_null(cb);
    clg_model *c = resume_model(ctx);
    clg_history_free(resume_fit(c, &xa, &ya, 0, RSTOP, cb));
    clg_callback_free(cb);
    clg_model_free(c);
    c = clg_model_load(ctx, ck);
    if (!c) fail_msg("%s", clg_last_error());
    assert_int_equal(c->epochs_done, RSTOP);
    h = resume_fit(c, &xa, &ya, RSTOP, REPOCHS, NULL);
    assert_memory_equal(h->loss, ha->loss + RSTOP, (REPOCHS - RSTOP) * sizeof(float));
    clg_history_free(h);
    expect_same_model(a, c);
    clg_model_free(c);

    /* The comparison can fail: without the training state (the weights read into
     * a model built in code: a fresh optimizer, no epochs done), or with the RNG
     * counter of a fresh model, the run goes elsewhere. */
    clg_model *d = resume_model(ctx);
    if (clg_model_load_weights(d, p) != CLG_OK) fail_msg("clg_model_load_weights: %s", clg_last_error());
    clg_history_free(resume_fit(d, &xa, &ya, RSTOP, REPOCHS, NULL));
    assert_false(same_weights(a, d));
    clg_model_free(d);
    const extra_tensor fresh_rng = {"training.rng_counter", CLG_SAFETENSORS_I32, 1, {2}, (int32_t[]){0, 0}};
    write_file(p, q, NULL, &fresh_rng, NULL);
    d = clg_model_load(ctx, q);
    if (!d) fail_msg("%s", clg_last_error());
    clg_history_free(resume_fit(d, &xa, &ya, RSTOP, REPOCHS, NULL));
    assert_false(same_weights(a, d));
    clg_model_free(d);

    clg_history_free(ha);
    clg_model_free(a);
    free(p), free(ck), free(q);
    clg_test_rmtree(dir);
    free(dir);
}

/* --- (5) the file is plain safetensors ------------------------------------------------------- */

static void test_plain_safetensors(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("model_io");
    char *p = clg_test_path_in(dir, "m.safetensors");
    clg_model *m = func_model(ctx);
    assert_int_equal(clg_model_save(m, p), CLG_OK);
    assert_int_equal(clg_model_save(m, p), CLG_OK); /* over the old file, atomically */
    /* nothing but the file is left in the directory (no temporary files) */
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    int entries = 0;
    for (struct dirent *de; (de = readdir(dd));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            assert_string_equal(de->d_name, "m.safetensors");
            entries++;
        }
    closedir(dd);
    assert_int_equal(entries, 1);

    clg_safetensors *f = NULL;
    assert_int_equal(clg_safetensors_open(p, &f), CLG_OK);
    assert_int_equal(clg_safetensors_count(f), (size_t)clg_model_weight_count(m, 0));
    for (int i = 0; i < clg_model_weight_count(m, 0); i++) {
        const clg_tensor *w = clg_model_weight(m, 0, i);
        assert_int_equal(clg_safetensors_ndim(f, clg_tensor_name(w)), clg_tensor_ndim(w));
        assert_int_equal(clg_safetensors_dtype_of(f, clg_tensor_name(w)), CLG_SAFETENSORS_F32);
    }
    assert_int_equal(clg_safetensors_ndim(f, "embedding.embeddings"), 2);
    assert_int_equal(clg_safetensors_ndim(f, "dense_1.kernel"), 2);
    assert_string_equal(clg_safetensors_metadata_get(f, "format"), "clgrad");
    assert_string_equal(clg_safetensors_metadata_get(f, "clgrad_version"), CLGRAD_VERSION_STRING);
    assert_null(clg_safetensors_metadata_get(f, "compile_config")); /* never compiled */
    const char *mc = clg_safetensors_metadata_get(f, "model_config");
    assert_non_null(mc);
    assert_int_equal(clg_model_io_json_check(mc, strlen(mc)), 0);
    const char *want[] = {"{\"class_name\": \"Functional\", \"config\": {\"name\": \"functional\", \"seed\": 0, ",
                          "{\"class_name\": \"InputLayer\", \"name\": \"input_layer_1\", \"config\": "
                          "{\"batch_shape\": [null, 5], \"dtype\": \"int32\"}, \"inbound_nodes\": []}",
                          "\"inbound_nodes\": [[[\"input_layer\", 0, 0]], [[\"dense_1\", 0, 0]]]",
                          "{\"class_name\": \"Conv1D\", \"name\": \"conv1d\", \"config\": {\"trainable\": true, "
                          "\"filters\": 3, \"kernel_size\": [2], \"strides\": [2], \"padding\": \"same\", "
                          "\"activation\": \"relu\", \"kernel_regularizer_l2\": 0}",
                          "\"kernel_regularizer_l2\": 0.01}",
                          "\"output_layers\": [[\"dense_2\", 0, 0], [\"add\", 0, 0]]",
                          "\"node_order\": [[\"input_layer\", 0], [\"dense\", 0], [\"input_layer_1\", 0], "};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(mc, want[i])) fail_msg("model_config lacks %s:\n%s", want[i], mc);
    clg_safetensors_free(f);

    /* the parser itself: strict JSON, errors at the right byte */
    struct { const char *text; size_t at; } j[] = {
        {"{\"a\": [1, 2.5e-3, true, null, \"\\u00e9\\ud83d\\ude00\"]}", 0},
        {"  [ ]  ", 0},
        {"{\"a\": [1, 2,]}", 13},
        {"{\"a\": 1, \"a\": 2}", 10},
        {"[01]", 3},
        {"[1.]", 4},
        {"\"\\ud800\"", 2},
        {"[\"a\tb\"]", 4},
        {"{} x", 4},
        {"", 1},
        {"nul", 1},
    };
    for (size_t i = 0; i < sizeof j / sizeof *j; i++) {
        size_t got = clg_model_io_json_check(j[i].text, strlen(j[i].text));
        if (got != j[i].at) fail_msg("json check of %s: got %zu, want %zu", j[i].text, got, j[i].at);
    }
    char deep[80];
    memset(deep, '[', 40), memset(deep + 40, ']', 40);
    assert_int_equal(clg_model_io_json_check(deep, 64), 33); /* the 33rd '[' is one level too deep */

    clg_model_free(m);
    free(p);
    clg_test_rmtree(dir);
    free(dir);
}

/* Hangs on big model files (found while sizing tests/fuzz/fuzz_model.c's
 * inputs, which are too small to show them). Duplicate member names were found
 * by comparing each name with every earlier one of its object, so an object of
 * n members cost n^2: model_config with 100,000 keys (1 MB of a file that may
 * hold 100 MB) took a minute. Now well under a second; the bounds below leave
 * room for a slow sanitizer build on a busy machine. */
static void test_json_many_members(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 100000 };
    size_t cap = (size_t)N * 24 + 64, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    n += (size_t)snprintf(text + n, cap - n, "{");
    for (int i = 0; i < N; i++) n += (size_t)snprintf(text + n, cap - n, "%s\"k%d\": %d", i ? ", " : "", i, i);
    size_t before_close = n;
    n += (size_t)snprintf(text + n, cap - n, "}");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(clg_model_io_json_check(text, n), 0);
    /* the same with the first name repeated at the end: refused at that name */
    n = before_close;
    size_t repeat_at = n + 2;
    n += (size_t)snprintf(text + n, cap - n, ", \"k0\": 1}");
    assert_int_equal(clg_model_io_json_check(text, n), repeat_at + 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (seconds > 10.0) fail_msg("checking two objects of %d members took %.1f s", N, seconds);

    /* and through clg_model_load: the file is refused for its unknown field, quickly */
    char *dir = clg_test_tempdir("model_io");
    char *p = clg_test_path_in(dir, "many.safetensors");
    size_t mcap = cap + 128;
    char *mc = malloc(mcap);
    assert_non_null(mc);
    text[before_close] = '\0';
    snprintf(mc, mcap, "{\"class_name\": \"Sequential\", \"config\": %s}}", text);
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    assert_non_null(w);
    assert_int_equal(clg_safetensors_writer_set_metadata(w, "format", "clgrad"), CLG_OK);
    assert_int_equal(clg_safetensors_writer_set_metadata(w, "model_config", mc), CLG_OK);
    assert_int_equal(clg_safetensors_writer_save(w, p), CLG_OK);
    clg_safetensors_writer_free(w);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CLG_EXPECT_ERROR(clg_model_load(ctx, p) == NULL, CLG_STATUS_CORRUPT_DATA, "clg_model_load", p,
                     "unknown field \"k0\"");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (seconds > 10.0) fail_msg("refusing a model_config of %d keys took %.1f s", N, seconds);
    free(mc);
    free(text);

    /* Layer names were checked for repeats, and looked up, by a scan of the
     * layers read so far: n^2 again (40,000 layers took 5 s). 120,000 layers
     * whose first is no InputLayer: read and indexed whole, then refused. */
    enum { LAYERS = 120000 };
    size_t lcap = (size_t)LAYERS * 96 + 256;
    char *layers = malloc(lcap);
    assert_non_null(layers);
    n = (size_t)snprintf(layers, lcap, "{\"class_name\": \"Sequential\", \"config\": {\"layers\": [");
    for (int i = 0; i < LAYERS; i++)
        n += (size_t)snprintf(layers + n, lcap - n,
                              "%s{\"class_name\": \"Activation\", \"name\": \"a%d\", \"config\": {}}", i ? ", " : "",
                              i);
    snprintf(layers + n, lcap - n, "]}}");
    w = clg_safetensors_writer_new();
    assert_non_null(w);
    assert_int_equal(clg_safetensors_writer_set_metadata(w, "format", "clgrad"), CLG_OK);
    assert_int_equal(clg_safetensors_writer_set_metadata(w, "model_config", layers), CLG_OK);
    assert_int_equal(clg_safetensors_writer_save(w, p), CLG_OK);
    clg_safetensors_writer_free(w);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CLG_EXPECT_ERROR(clg_model_load(ctx, p) == NULL, CLG_STATUS_CORRUPT_DATA, "clg_model_load", p,
                     "first layer must be its InputLayer");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (seconds > 8.0) fail_msg("refusing a model_config of %d layers took %.1f s", LAYERS, seconds);
    free(layers);
    free(p);
    clg_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential_trained),
        cmocka_unit_test(test_functional_shared),
        cmocka_unit_test(test_every_kind),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_plain_safetensors),
        cmocka_unit_test(test_json_many_members),
        cmocka_unit_test(test_optimizer_configs),
        cmocka_unit_test(test_bad_training_state),
        cmocka_unit_test(test_resume),
    };
    return CLG_RUN_GROUP(tests);
}
