/* Recurrent layers' states at the model level (Keras's initial_state,
 * return_state and stateful):
 *  - an LSTM encoder's final h and c start an LSTM decoder: the model's output
 *    equals the operations chained by hand (clg_lstm with h0/c0), bit for bit,
 *    and the encoder's h equals its output (return_sequences off);
 *  - the gradient reaches the encoder through the states: one weight against
 *    central differences of the whole model (1e-2 relative: float32 loss);
 *  - GRU and SimpleRNN through clg_call_n with an initial state;
 *  - bad states and bad calls fail naming the layer and the state, and
 *    sequences longer than the model allows fail naming the layer or shape;
 *  - a model with states saved and loaded gives the same outputs, bit for bit;
 *  - stateful layers carry their states from batch to batch, also through
 *    fit's captured and replayed steps, and reset_states starts over, also
 *    from a callback inside fit;
 *  - a shared layer returning its states in one call only saves and loads
 *    with the same dropout masks after it. */
#include "fixture.h"

#include <math.h>
#include <stdlib.h>

enum { B = 2, TS = 5, TT = 4, F = 3, U = 6 };

static clg_tensor *host_tensor(clg_context *ctx, const float *data, int ndim, const int64_t *shape) {
    clg_tensor *t = clg_tensor_from_host(ctx, CLG_FLOAT32, ndim, shape, data);
    assert_non_null(t);
    return t;
}

static void to_host(const clg_tensor *t, float *out, size_t n) {
    assert_non_null(t);
    assert_int_equal(clg_tensor_to_host(t, out, n * sizeof *out), CLG_OK);
}

/* encoder LSTM(U) -> (h, c) -> decoder LSTM(U, return_sequences); outputs
 * decoder sequence, encoder output, encoder h, encoder c. */
static clg_model *seq2seq(clg_context *ctx) {
    clg_model *m = clg_model_new(ctx);
    clg_node *src = clg_model_input(m, 2, (int64_t[]){TS, F});
    clg_node *tgt = clg_model_input(m, 2, (int64_t[]){TT, F});
    clg_node *st[2] = {NULL, NULL};
    clg_node *enc = clg_call_rnn(clg_layer_lstm(U, 0, 0), src, 0, NULL, st);
    assert_non_null(enc);
    assert_non_null(st[0]);
    assert_non_null(st[1]);
    clg_node *dec = clg_call_rnn(clg_layer_lstm(U, 1, 0), tgt, 2, st, NULL);
    assert_non_null(dec);
    assert_int_equal(clg_model_set_outputs(m, 4, (clg_node *[]){dec, enc, st[0], st[1]}), CLG_OK);
    return m;
}

static void inputs(clg_context *ctx, clg_tensor **src, clg_tensor **tgt) {
    float s[B * TS * F], t[B * TT * F];
    clg_test_random_floats(s, sizeof s / sizeof *s, 21);
    clg_test_random_floats(t, sizeof t / sizeof *t, 22);
    *src = host_tensor(ctx, s, 3, (int64_t[]){B, TS, F});
    *tgt = host_tensor(ctx, t, 3, (int64_t[]){B, TT, F});
}

static void run4(clg_model *m, clg_tensor *src, clg_tensor *tgt, int training, clg_tensor **out) {
    const clg_tensor *ins[2] = {src, tgt};
    if (clg_model_call(m, ins, training, out) != CLG_OK) fail_msg("call: %s", clg_last_error());
}

static void test_encoder_decoder_states(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = seq2seq(ctx);
    clg_tensor *src, *tgt, *out[4];
    inputs(ctx, &src, &tgt);
    run4(m, src, tgt, 0, out);
    /* by hand: weights 0..2 the encoder's, 3..5 the decoder's */
    clg_tensor *w[6];
    for (int i = 0; i < 6; i++) assert_non_null(w[i] = clg_model_weight(m, 0, i));
    clg_tensor *h = NULL, *c = NULL;
    clg_tensor *eseq = clg_lstm(src, w[0], w[1], w[2], NULL, NULL, NULL, 0, &h, &c);
    clg_tensor *dseq = clg_lstm(tgt, w[3], w[4], w[5], h, c, NULL, 0, NULL, NULL);
    assert_non_null(eseq);
    assert_non_null(dseq);
    float got[B * TT * U], want[B * TT * U], a[B * U], b2[B * U];
    to_host(out[0], got, B * TT * U);
    to_host(dseq, want, B * TT * U);
    for (int i = 0; i < B * TT * U; i++)
        if (got[i] != want[i]) fail_msg("decoder[%d] %.9g vs by hand %.9g", i, got[i], want[i]);
    to_host(out[2], a, B * U);
    to_host(h, b2, B * U);
    assert_memory_equal(a, b2, sizeof a);
    to_host(out[1], b2, B * U); /* return_sequences off: the output is h */
    assert_memory_equal(a, b2, sizeof a);
    to_host(out[3], a, B * U);
    to_host(c, b2, B * U);
    assert_memory_equal(a, b2, sizeof a);
    /* the summary names the states as Keras does: lstm[0][1], lstm[0][2] */
    char *s = clg_test_summary_text(m);
    if (!strstr(s, "'lstm[0][1]'") || !strstr(s, "'lstm[0][2]'")) fail_msg("summary:\n%s", s);
    free(s);
    clg_tensor *list[] = {src, tgt, out[0], out[1], out[2], out[3], h, c, eseq, dseq};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) clg_tensor_free(list[i]);
    clg_model_free(m);
}

/* sum(decoder output * 1) through the model, for the gradient check */
static double decoder_sum(clg_model *m, clg_tensor *src, clg_tensor *tgt) {
    clg_tensor *out[4];
    run4(m, src, tgt, 0, out);
    float v[B * TT * U];
    to_host(out[0], v, B * TT * U);
    double s = 0;
    for (int i = 0; i < B * TT * U; i++) s += v[i];
    for (int i = 0; i < 4; i++) clg_tensor_free(out[i]);
    return s;
}

static void test_gradient_through_states(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = seq2seq(ctx);
    clg_tensor *src, *tgt, *out[4];
    inputs(ctx, &src, &tgt);
    run4(m, src, tgt, 1, out);
    clg_tensor *loss = clg_sum(out[0], 0, NULL, 0);
    assert_non_null(loss);
    assert_int_equal(clg_backward(loss, NULL), CLG_OK);
    /* the encoder's kernel (weight 0) only reaches the loss through h and c */
    clg_tensor *k = clg_model_weight(m, 0, 0);
    const clg_tensor *g = clg_tensor_grad(k);
    assert_non_null(g);
    const size_t n = (size_t)clg_tensor_numel(k);
    float *gh = malloc(n * sizeof *gh), *kh = malloc(n * sizeof *kh);
    to_host(g, gh, n);
    to_host(k, kh, n);
    for (size_t i = 0; i < n; i += 7) {
        const float e = 1e-2f, keep = kh[i];
        kh[i] = keep + e;
        assert_int_equal(clg_tensor_write(k, kh, n * sizeof *kh), CLG_OK);
        double up = decoder_sum(m, src, tgt);
        kh[i] = keep - e;
        assert_int_equal(clg_tensor_write(k, kh, n * sizeof *kh), CLG_OK);
        double down = decoder_sum(m, src, tgt);
        kh[i] = keep;
        assert_int_equal(clg_tensor_write(k, kh, n * sizeof *kh), CLG_OK);
        double fd = (up - down) / (2 * e);
        if (fabs(fd - gh[i]) > 1e-3 + 1e-2 * fabs(fd))
            fail_msg("encoder kernel[%zu]: gradient %.6g, central difference %.6g", i, gh[i], fd);
    }
    free(gh), free(kh);
    clg_tensor_free(loss);
    for (int i = 0; i < 4; i++) clg_tensor_free(out[i]);
    clg_tensor_free(src), clg_tensor_free(tgt);
    clg_model_free(m);
}

static void test_gru_and_simple_rnn_states(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    for (int gru = 0; gru < 2; gru++) {
        clg_model *m = clg_model_new(ctx);
        clg_node *x = clg_model_input(m, 2, (int64_t[]){TS, F});
        clg_node *h0 = clg_model_input(m, 1, (int64_t[]){U});
        clg_layer *l = gru ? clg_layer_gru(U, 0, 1) : clg_layer_simple_rnn(U, 1, 0);
        clg_node *hl = NULL;
        clg_node *y = clg_call_rnn(l, x, 1, &h0, &hl);
        assert_non_null(y);
        assert_non_null(hl);
        assert_int_equal(clg_model_set_outputs(m, 2, (clg_node *[]){y, hl}), CLG_OK);
        float xs[B * TS * F], hs[B * U];
        clg_test_random_floats(xs, B * TS * F, 31);
        clg_test_random_floats(hs, B * U, 32);
        clg_tensor *xt = host_tensor(ctx, xs, 3, (int64_t[]){B, TS, F}), *ht = host_tensor(ctx, hs, 2, (int64_t[]){B, U});
        clg_tensor *out[2];
        if (clg_model_call(m, (const clg_tensor *[]){xt, ht}, 0, out) != CLG_OK) fail_msg("%s", clg_last_error());
        clg_tensor *w[3];
        for (int i = 0; i < 3; i++) w[i] = clg_model_weight(m, 0, i);
        clg_tensor *hh = NULL;
        clg_tensor *seq = gru ? clg_gru(xt, w[0], w[1], w[2], ht, NULL, 1, &hh)
                              : clg_simple_rnn(xt, w[0], w[1], w[2], ht, NULL, 0, &hh);
        float a[B * U], b[B * U];
        to_host(out[1], a, B * U);
        to_host(hh, b, B * U);
        assert_memory_equal(a, b, sizeof a);
        if (!gru) { /* return_sequences: the whole sequence */
            float sa[B * TS * U], sb[B * TS * U];
            to_host(out[0], sa, B * TS * U);
            to_host(seq, sb, B * TS * U);
            assert_memory_equal(sa, sb, sizeof sa);
        }
        clg_tensor *list[] = {xt, ht, out[0], out[1], hh, seq};
        for (size_t i = 0; i < sizeof list / sizeof *list; i++) clg_tensor_free(list[i]);
        clg_model_free(m);
    }
}

static void test_bad_states(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = clg_model_new(ctx);
    clg_node *x = clg_model_input(m, 2, (int64_t[]){TS, F});
    clg_node *h5 = clg_model_input(m, 1, (int64_t[]){U - 1});
    clg_node *h6 = clg_model_input(m, 1, (int64_t[]){U});
    clg_node *s[2] = {(clg_node *)1, (clg_node *)1};
    CLG_EXPECT_ERROR(clg_call_rnn(clg_layer_lstm(U, 0, 0), x, 2, (clg_node *[]){h6, h5}, s) == NULL,
                     CLG_STATUS_SHAPE_MISMATCH, "lstm", "initial state c", "(None, 6)", "(None, 5)");
    assert_null(s[0]);
    assert_null(s[1]);
    CLG_EXPECT_ERROR(clg_call_rnn(clg_layer_lstm(U, 0, 0), x, 1, &h6, NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_call_rnn", "n_initial", "2 states: h, c");
    CLG_EXPECT_ERROR(clg_call_rnn(clg_layer_dense(3, CLG_ACT_RELU), x, 0, NULL, s) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "clg_call_rnn", "not a SimpleRNN, LSTM or GRU");
    CLG_EXPECT_ERROR(clg_call_rnn(NULL, x, 0, NULL, NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT, "layer is NULL");
    CLG_EXPECT_ERROR(clg_call_n(clg_layer_gru(U, 0, 0), 3, (clg_node *[]){x, h6, h6}) == NULL,
                     CLG_STATUS_INVALID_ARGUMENT, "gru", "(or 2: with the initial state)", "got 3");
    clg_layer *d = clg_layer_dense(3, CLG_ACT_RELU);
    CLG_EXPECT_ERROR(clg_layer_set_stateful(d, 1) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_layer_set_stateful",
                     "only SimpleRNN, LSTM and GRU");
    clg_layer_free(d);
    CLG_EXPECT_ERROR(clg_model_reset_states(NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "clg_model_reset_states");
    clg_layer *sl = clg_layer_lstm(U, 0, 0);
    assert_int_equal(clg_layer_set_stateful(sl, 1), CLG_OK);
    CLG_EXPECT_ERROR(clg_layer_bidirectional(sl) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_layer_bidirectional",
                     "stateful");
    clg_model_free(m);
    /* sequences longer than the model allows: at building (the position table)
     * and in the data (the model's input length) */
    m = clg_model_new(ctx);
    x = clg_model_input(m, 2, (int64_t[]){8, F});
    CLG_EXPECT_ERROR(clg_call(clg_layer_position_embedding(5), x) == NULL, CLG_STATUS_SHAPE_MISMATCH,
                     "position_embedding", "up to 5", "(None, 8, 3)");
    clg_model_free(m);
    m = clg_sequential_new(ctx, 2, (int64_t[]){TS, F});
    assert_int_equal(clg_model_add(m, clg_layer_lstm(U, 0, 0)), CLG_OK);
    assert_int_equal(clg_model_compile(m, "sgd", "mse", NULL), CLG_OK);
    float xl[B * (TS + 1) * F] = {0}, out[B * U];
    clg_host_array xa = clg_test_host_array(xl, CLG_FLOAT32, 3, (int64_t[]){B, TS + 1, F});
    CLG_EXPECT_ERROR(clg_model_predict(m, &xa, B, out, B * U) != CLG_OK, CLG_STATUS_SHAPE_MISMATCH, "[2,6,3]",
                     "(None, 5, 3)");
    clg_model_free(m);
}

static void test_save_load_with_states(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = seq2seq(ctx);
    clg_tensor *src, *tgt, *a[4], *b[4];
    inputs(ctx, &src, &tgt);
    run4(m, src, tgt, 0, a);
    char *dir = clg_test_tempdir("rnn_states");
    char *path = clg_test_path_in(dir, "seq2seq.safetensors");
    if (clg_model_save(m, path) != CLG_OK) fail_msg("save: %s", clg_last_error());
    clg_model *r = clg_model_load(ctx, path);
    if (!r) fail_msg("load: %s", clg_last_error());
    run4(r, src, tgt, 0, b);
    const int64_t sizes[4] = {B * TT * U, B * U, B * U, B * U};
    for (int o = 0; o < 4; o++) {
        float *x = malloc((size_t)sizes[o] * sizeof *x), *y = malloc((size_t)sizes[o] * sizeof *y);
        to_host(a[o], x, (size_t)sizes[o]);
        to_host(b[o], y, (size_t)sizes[o]);
        if (memcmp(x, y, (size_t)sizes[o] * sizeof *x)) fail_msg("output %d differs after loading", o);
        free(x), free(y);
        clg_tensor_free(a[o]), clg_tensor_free(b[o]);
    }
    char *s1 = clg_test_summary_text(m), *s2 = clg_test_summary_text(r);
    assert_string_equal(s1, s2);
    free(s1), free(s2);
    clg_model_free(r);
    clg_model_free(m);
    clg_tensor_free(src), clg_tensor_free(tgt);
    free(path);
    clg_test_rmtree(dir);
    free(dir);
}

/* Sequential LSTM(U) stateful on (TS, F), batch 2: chunks of a long sequence. */
static clg_model *stateful_model(clg_context *ctx) {
    clg_model *m = clg_sequential_new(ctx, 2, (int64_t[]){TS, F});
    clg_layer *l = clg_layer_lstm(U, 0, 0);
    assert_int_equal(clg_layer_set_stateful(l, 1), CLG_OK);
    assert_int_equal(clg_model_add(m, l), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(2, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_compile(m, "sgd", "sparse_categorical_crossentropy", NULL), CLG_OK);
    return m;
}

static void predict_chunk(clg_model *m, const float *x, float *out) {
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 3, (int64_t[]){B, TS, F});
    if (clg_model_predict(m, &xa, B, out, B * 2) != CLG_OK) fail_msg("predict: %s", clg_last_error());
}

static void test_stateful(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = stateful_model(ctx);
    enum { CHUNKS = 3 };
    float x[CHUNKS][B * TS * F];
    for (int c = 0; c < CHUNKS; c++) clg_test_random_floats(x[c], B * TS * F, 40 + (uint32_t)c);
    /* chunk by chunk against the operation run over the whole sequence */
    float chained[CHUNKS][B * 2];
    for (int c = 0; c < CHUNKS; c++) predict_chunk(m, x[c], chained[c]);
    float whole[B * CHUNKS * TS * F];
    for (int b = 0; b < B; b++)
        for (int c = 0; c < CHUNKS; c++)
            memcpy(&whole[(b * CHUNKS + c) * TS * F], &x[c][b * TS * F], TS * F * sizeof(float));
    clg_tensor *xt = host_tensor(ctx, whole, 3, (int64_t[]){B, CHUNKS * TS, F});
    clg_tensor *w[5];
    for (int i = 0; i < 5; i++) w[i] = clg_model_weight(m, 0, i);
    clg_tensor *h = NULL;
    clg_tensor *seq = clg_lstm(xt, w[0], w[1], w[2], NULL, NULL, NULL, 0, &h, NULL);
    clg_tensor *logits = h ? clg_matmul(h, w[3], 0, 0) : NULL;
    clg_tensor *z = logits ? clg_add(logits, w[4]) : NULL;
    clg_tensor *p = z ? clg_softmax(z, -1) : NULL;
    float want[B * 2];
    to_host(p, want, B * 2);
    for (int i = 0; i < B * 2; i++)
        if (fabsf(want[i] - chained[CHUNKS - 1][i]) > 1e-5f)
            fail_msg("stateful chunk %d: %.7g, the whole sequence: %.7g", i, chained[CHUNKS - 1][i], want[i]);
    clg_tensor *list[] = {xt, h, seq, logits, z, p};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) clg_tensor_free(list[i]);
    /* reset: the first chunk again gives the first answer */
    assert_int_equal(clg_model_reset_states(m), CLG_OK);
    float again[B * 2];
    predict_chunk(m, x[0], again);
    assert_memory_equal(again, chained[0], sizeof again);
    /* another batch size while states are carried: a clear error */
    clg_host_array one = clg_test_host_array(x[1], CLG_FLOAT32, 3, (int64_t[]){1, TS, F});
    float o1[2];
    CLG_EXPECT_ERROR(clg_model_predict(m, &one, 1, o1, 2) != CLG_OK, CLG_STATUS_SHAPE_MISMATCH, "stateful layer lstm",
                     "states of 2 samples", "has 1");
    /* fit with the rate 0 over chunks 0 and 1 (one captured step, one replay):
     * the states it leaves must be those of chunks 0 and 1 in turn */
    assert_int_equal(clg_model_reset_states(m), CLG_OK);
    assert_int_equal(clg_model_set_learning_rate(m, 0.0f), CLG_OK);
    float xs[2 * B * TS * F];
    memcpy(xs, x[0], sizeof x[0]);
    memcpy(xs + B * TS * F, x[1], sizeof x[1]);
    int32_t ys[2 * B] = {0, 1, 1, 0};
    clg_host_array xa = clg_test_host_array(xs, CLG_FLOAT32, 3, (int64_t[]){2 * B, TS, F});
    clg_host_array ya = clg_test_host_array(ys, CLG_INT32, 1, (int64_t[]){2 * B});
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 1, o.batch_size = B, o.shuffle = 0, o.verbose = 0;
    clg_history *hist = clg_model_fit(m, &xa, &ya, &o);
    if (!hist) fail_msg("fit: %s", clg_last_error());
    clg_history_free(hist);
    float after_fit[B * 2];
    predict_chunk(m, x[2], after_fit);
    for (int i = 0; i < B * 2; i++)
        if (after_fit[i] != chained[2][i])
            fail_msg("after fit over chunks 0 and 1, chunk 2 gives %.9g, chained predictions %.9g", after_fit[i],
                     chained[2][i]);
    clg_model_free(m);
}

/* Resetting from a callback inside fit reaches the captured step: with the
 * rate 0, epoch 2 after a reset repeats epoch 1's loss exactly (without the
 * reset it differs). Also: setting stateful on a compiled model keeps it
 * compiled, and explicit initial states on a stateful layer work. */
static int reset_each_epoch(void *user, int epoch, const clg_history *h) {
    (void)epoch, (void)h;
    return clg_model_reset_states(user) == CLG_OK ? 0 : -1;
}

static void test_stateful_reset_in_fit(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    float xs[4 * B * TS * F];
    int32_t ys[4 * B] = {0, 1, 1, 0, 1, 1, 0, 0};
    clg_test_random_floats(xs, sizeof xs / sizeof *xs, 61);
    clg_host_array xa = clg_test_host_array(xs, CLG_FLOAT32, 3, (int64_t[]){4 * B, TS, F});
    clg_host_array ya = clg_test_host_array(ys, CLG_INT32, 1, (int64_t[]){4 * B});
    float loss[2][2];
    for (int with_reset = 0; with_reset < 2; with_reset++) {
        clg_model *m = clg_sequential_new(ctx, 2, (int64_t[]){TS, F});
        clg_layer *l = clg_layer_lstm(U, 0, 0);
        assert_int_equal(clg_model_add(m, l), CLG_OK);
        assert_int_equal(clg_model_add(m, clg_layer_dense(2, CLG_ACT_SOFTMAX)), CLG_OK);
        assert_int_equal(clg_model_compile(m, "sgd", "sparse_categorical_crossentropy", NULL), CLG_OK);
        assert_int_equal(clg_layer_set_stateful(l, 1), CLG_OK); /* after compile: stays compiled */
        assert_int_equal(clg_model_set_learning_rate(m, 0.0f), CLG_OK);
        clg_callback *cb = clg_callback_user(reset_each_epoch, m);
        clg_fit_options o = clg_fit_options_default();
        o.epochs = 2, o.batch_size = B, o.shuffle = 0, o.verbose = 0;
        const clg_callback *cbs[] = {cb, NULL};
        if (with_reset) o.callbacks = cbs, o.ncallbacks = 1;
        clg_history *h = clg_model_fit(m, &xa, &ya, &o);
        if (!h) fail_msg("fit: %s", clg_last_error());
        loss[with_reset][0] = h->loss[0], loss[with_reset][1] = h->loss[1];
        clg_history_free(h);
        clg_callback_free(cb);
        clg_model_free(m);
    }
    assert_true(loss[0][0] == loss[1][0]);
    assert_true(loss[1][1] == loss[1][0]); /* reset: epoch 2 starts where epoch 1 did */
    assert_true(loss[0][1] != loss[0][0]); /* carried: it does not */
    /* a stateful layer with explicit initial states */
    clg_model *m = clg_model_new(ctx);
    clg_node *x = clg_model_input(m, 2, (int64_t[]){TS, F}), *h0 = clg_model_input(m, 1, (int64_t[]){U});
    clg_layer *g = clg_layer_gru(U, 0, 0);
    assert_int_equal(clg_layer_set_stateful(g, 1), CLG_OK);
    clg_node *y = clg_call_rnn(g, x, 1, &h0, NULL);
    assert_non_null(y);
    assert_int_equal(clg_model_set_outputs(m, 1, &y), CLG_OK);
    clg_tensor *xt = clg_tensor_zeros(ctx, CLG_FLOAT32, 3, (int64_t[]){B, TS, F});
    clg_tensor *ht = clg_tensor_ones(ctx, CLG_FLOAT32, 2, (int64_t[]){B, U}), *out = NULL;
    if (clg_model_call(m, (const clg_tensor *[]){xt, ht}, 0, &out) != CLG_OK) fail_msg("%s", clg_last_error());
    clg_tensor_free(xt), clg_tensor_free(ht), clg_tensor_free(out);
    clg_model_free(m);
}

/* A shared LSTM whose first call returns its states and whose second does not,
 * then Dropout: saved and loaded, a training-mode call draws the same masks
 * (dropout seeds do not move with where state nodes are made). */
static void test_shared_layer_states_save_load(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *m = clg_model_new(ctx);
    clg_node *a = clg_model_input(m, 2, (int64_t[]){TS, F}), *b = clg_model_input(m, 2, (int64_t[]){TS, F});
    clg_layer *shared = clg_layer_lstm(U, 0, 0);
    clg_node *st[2];
    clg_node *ya = clg_call_rnn(shared, a, 0, NULL, st);
    clg_node *yb = clg_call(shared, b);
    clg_node *cat = clg_call_n(clg_layer_concatenate(-1), 4, (clg_node *[]){ya, yb, st[0], st[1]});
    clg_node *out = clg_call(clg_layer_dropout(0.5f), cat);
    assert_non_null(out);
    assert_int_equal(clg_model_set_outputs(m, 1, &out), CLG_OK);
    char *dir = clg_test_tempdir("rnn_shared");
    char *path = clg_test_path_in(dir, "m.safetensors");
    if (clg_model_save(m, path) != CLG_OK) fail_msg("save: %s", clg_last_error());
    clg_model *r = clg_model_load(ctx, path);
    if (!r) fail_msg("load: %s", clg_last_error());
    float xs[B * TS * F];
    clg_test_random_floats(xs, B * TS * F, 71);
    clg_tensor *xt = host_tensor(ctx, xs, 3, (int64_t[]){B, TS, F}), *o1 = NULL, *o2 = NULL;
    assert_int_equal(clg_model_call(m, (const clg_tensor *[]){xt, xt}, 1, &o1), CLG_OK);
    assert_int_equal(clg_model_call(r, (const clg_tensor *[]){xt, xt}, 1, &o2), CLG_OK);
    float v1[B * 4 * U], v2[B * 4 * U];
    to_host(o1, v1, B * 4 * U);
    to_host(o2, v2, B * 4 * U);
    assert_memory_equal(v1, v2, sizeof v1);
    clg_tensor_free(xt), clg_tensor_free(o1), clg_tensor_free(o2);
    clg_model_free(r), clg_model_free(m);
    free(path);
    clg_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoder_decoder_states), cmocka_unit_test(test_gradient_through_states),
        cmocka_unit_test(test_gru_and_simple_rnn_states), cmocka_unit_test(test_bad_states),
        cmocka_unit_test(test_save_load_with_states),  cmocka_unit_test(test_stateful),
        cmocka_unit_test(test_stateful_reset_in_fit),  cmocka_unit_test(test_shared_layer_states_save_load),
    };
    return CLG_RUN_GROUP(tests);
}
