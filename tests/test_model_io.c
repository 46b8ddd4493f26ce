/* Whole-model files (clg_model_save / clg_model_load): a trained Sequential
 * model and functional graphs (two inputs, int32 indices, a shared layer, merge
 * layers) come back from the file alone with bit-identical predictions,
 * evaluation, summaries and continued training; every layer kind with
 * non-default settings round-trips field by field (compared through the
 * internal structs) and saving the loaded model again writes the same
 * model_config; the file is plain safetensors that the generic reader and
 * clg_model_load_weights read; broken files (weights only, bad JSON, wrong
 * types, unknown classes, fields or layers, cycles, deep nesting, weights that
 * disagree with the architecture) fail with errors naming the file and the
 * layer. Everything is compared bit for bit: the loaded model runs the same
 * kernels on the same values. */
#include "fixture.h"
#include "clgrad/safetensors.h"
#include "nn/model_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static clg_host_array harr(const void *data, clg_dtype dt, int ndim, const int64_t *shape) {
    clg_host_array a;
    memset(&a, 0, sizeof a);
    a.data = data, a.dtype = dt, a.ndim = ndim;
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    return a;
}

static char *summary_text(clg_model *m) {
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(clg_model_summary(m, f), CLG_OK);
    long n = ftell(f);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

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
    char *sa = summary_text(a), *sb = summary_text(b);
    if (strcmp(sa, sb)) fail_msg("summaries differ:\n%s\n---\n%s", sa, sb);
    free(sa), free(sb);
}

/* Every setting of every layer and node, the compile settings and the weights
 * (bit for bit). */
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
 * model_config and compile_config. Returns the loaded model. */
static clg_model *round_trip(clg_context *ctx, clg_model *m, const char *dir) {
    char *p1 = path_in(dir, "a.safetensors"), *p2 = path_in(dir, "b.safetensors");
    assert_int_equal(clg_model_save(m, p1), CLG_OK);
    clg_model *r = clg_model_load(ctx, p1);
    if (!r) fail_msg("clg_model_load: %s", clg_last_error());
    assert_int_equal(clg_model_save(r, p2), CLG_OK);
    const char *keys[] = {"model_config", "compile_config", "format", "clgrad_version"};
    for (int i = 0; i < 4; i++) {
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
    clg_host_array xa = harr(x, CLG_FLOAT32, 4, (int64_t[]){SN, SHW, SHW, 1});
    clg_host_array ya = harr(y, CLG_INT32, 1, (int64_t[]){SN});

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

    /* Training goes on identically (seed, learning rate, optimizer, loss and
     * dropout's per-node streams came back): the file holds no optimizer state,
     * so the original starts a fresh optimizer too. */
    assert_int_equal(clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy"), CLG_OK);
    assert_int_equal(clg_model_set_learning_rate(m, 0.002f), CLG_OK);
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
    char *p = path_in(dir, "a.safetensors");
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
        if (k != L_CONV1D && k != L_EMBEDDING && !m->kind_count[k]) /* those two: test_functional_shared */
            fail_msg("kinds_model lacks %s", clg_kind_type[k]);
    assert_int_equal(clg_model_set_seed(m, 11), CLG_OK);
    assert_int_equal(clg_model_compile(m, "rmsprop", "categorical_crossentropy", NULL), CLG_OK);
    float x[KB * KH * KW * KC], y[KB * KO] = {0};
    clg_test_random_floats(x, sizeof x / sizeof *x, 51);
    for (int i = 0; i < KB; i++) y[i * KO + i % KO] = 1.0f;
    clg_host_array xa = harr(x, CLG_FLOAT32, 4, (int64_t[]){KB, KH, KW, KC});
    clg_host_array ya = harr(y, CLG_FLOAT32, 2, (int64_t[]){KB, KO});
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

    /* A Sequential model whose input is int32 (an Embedding first), never compiled. */
    m = clg_sequential_new(ctx, 1, (int64_t[]){6});
    assert_int_equal(clg_model_add(m, clg_layer_embedding(12, 3)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_conv1d(2, 3, 1, 0, CLG_ACT_SIGMOID)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_flatten()), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(2, CLG_ACT_LINEAR)), CLG_OK);
    r = round_trip(ctx, m, dir);
    expect_same_model(m, r);
    expect_same_summary(m, r);
    int32_t idx[2 * 6] = {0, 1, 2, 3, 4, 5, 11, 10, 9, 8, 7, 6};
    clg_host_array ia = harr(idx, CLG_INT32, 2, (int64_t[]){2, 6});
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

/* Writes path with the tensors of `from` (another safetensors file), metadata
 * format "clgrad" and the given model_config / compile_config (NULL: absent). */
static void write_variant(const char *from, const char *path, const char *mc, const char *cc) {
    clg_safetensors *f = NULL;
    assert_int_equal(clg_safetensors_open(from, &f), CLG_OK);
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    assert_non_null(w);
    for (size_t i = 0; i < clg_safetensors_count(f); i++) {
        clg_safetensors_info info;
        assert_int_equal(clg_safetensors_info_get(f, clg_safetensors_name(f, i), &info), CLG_OK);
        void *buf = malloc(info.nbytes + 1);
        assert_non_null(buf);
        assert_int_equal(clg_safetensors_read(f, info.name, buf, info.nbytes), CLG_OK);
        assert_int_equal(clg_safetensors_writer_add_host(w, info.name, info.dtype, info.ndim, info.shape, buf), CLG_OK);
        free(buf);
    }
    assert_int_equal(clg_safetensors_writer_set_metadata(w, "format", "clgrad"), CLG_OK);
    if (mc) assert_int_equal(clg_safetensors_writer_set_metadata(w, "model_config", mc), CLG_OK);
    if (cc) assert_int_equal(clg_safetensors_writer_set_metadata(w, "compile_config", cc), CLG_OK);
    assert_int_equal(clg_safetensors_writer_save(w, path), CLG_OK);
    clg_safetensors_writer_free(w);
    clg_safetensors_free(f);
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

/* Writes a variant of the good file with model_config `mc` and expects loading
 * it to fail with `status` and a message holding `a` and `b` and the path. */
static void expect_bad(clg_context *ctx, const char *good, const char *bad, const char *mc, const char *cc,
                       clg_status status, const char *a, const char *b) {
    write_variant(good, bad, mc, cc);
    CLG_EXPECT_ERROR(clg_model_load(ctx, bad) == NULL, status, "clg_model_load", bad, a, b);
}

static void test_broken_files(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("model_io");
    char *good = path_in(dir, "good.safetensors"), *bad = path_in(dir, "bad.safetensors");
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
    char *none = path_in(dir, "none.safetensors");
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
    /* compile_config */
    char *v = replaced(cc, "\"mse\"", "\"hinge\"");
    expect_bad(ctx, good, bad, mc, v, CLG_STATUS_CORRUPT_DATA, "compile_config", "unknown loss \"hinge\"");
    free(v);
    v = replaced(cc, "\"sgd\"", "\"lbfgs\"");
    expect_bad(ctx, good, bad, mc, v, CLG_STATUS_CORRUPT_DATA, "compile_config \"optimizer\"", "\"lbfgs\"");
    free(v);
    v = replaced(cc, "\"learning_rate\": ", "\"learning_rate\": -");
    expect_bad(ctx, good, bad, mc, v, CLG_STATUS_CORRUPT_DATA, "compile_config", "learning rate -0.01");
    free(v);
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

/* --- (5) the file is plain safetensors ------------------------------------------------------- */

static void test_plain_safetensors(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    char *dir = clg_test_tempdir("model_io");
    char *p = path_in(dir, "m.safetensors");
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential_trained),
        cmocka_unit_test(test_functional_shared),
        cmocka_unit_test(test_every_kind),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_plain_safetensors),
    };
    return CLG_RUN_GROUP(tests);
}
