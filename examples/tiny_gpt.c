/* A small causal transformer (decoder-only, GPT-style) as a character-level
 * language model on Debian's fortune files, on the same corpus, split and
 * measure as char_lm, next to the same Kneser-Ney trigram (fortunes_lm.c):
 *
 *     x = inputs = Input((100,), dtype='int32')
 *     x = Embedding(V, 128)(x)
 *     x = PositionEmbedding(100)(x)                     # learned, keras_hub's
 *     for _ in range(2):                                # pre-norm blocks:
 *         x = x + Dropout(0.1)(MultiHeadAttention(4, 32)(LayerNorm(x), use_causal_mask=True))
 *         x = x + Dropout(0.1)(Dense(128)(Dense(512, 'gelu')(LayerNorm(x))))
 *     x = LayerNormalization()(x)
 *     outputs = Dense(V, activation='softmax')(x)
 *     model.compile(optimizer=Adam(CosineDecay(0, steps, warmup_target=1e-3,
 *                                              warmup_steps=200), global_clipnorm=1.0),
 *                   loss='sparse_categorical_crossentropy', metrics=['accuracy'])
 *     model.fit(x_train, y_train, batch_size=64, epochs=10, validation_data=(x_val, y_val))
 *
 * The sizes, dropout and schedule are the usual ones for a model this small,
 * set before any run. --compare also trains char_lm's LSTM on the same split
 * and reports the three side by side (twice the time). The default run
 * finishes within 30 minutes on a 2-core machine with PoCL (the program prints
 * its times). */
#include "fortunes_lm.h"

enum { D_MODEL = 128, HEADS = 4, FF = 512, BLOCKS = 2 };
#define DROPOUT 0.1f

static clg_model *build_gpt(clg_context *ctx, int vocab, int seq_len, int units) {
    (void)units; /* the LSTM's */
    clg_model *m = clg_model_new(ctx);
    if (!m) return NULL;
    clg_node *x = clg_model_input_indices(m, 1, (int64_t[]){seq_len});
    x = clg_call(clg_layer_embedding(vocab, D_MODEL), x);
    x = clg_call(clg_layer_position_embedding(seq_len), x);
    for (int b = 0; b < BLOCKS; b++) x = clg_transformer_block(x, HEADS, D_MODEL / HEADS, FF, DROPOUT, 1);
    x = clg_call(clg_layer_layer_normalization(), x);
    x = clg_call(clg_layer_dense(vocab, CLG_ACT_SOFTMAX), x);
    if (!x || clg_model_set_outputs(m, 1, &x) != CLG_OK) {
        clg_model_free(m);
        return NULL;
    }
    return m;
}

int main(int argc, char **argv) {
    const lm_example ex = {
        .prog = "tiny_gpt",
        .about = "A small causal transformer (2 pre-norm blocks, 128 wide, 4 heads) as a\n"
                 "character-level language model on Debian's fortunes, reported in bits per\n"
                 "character next to an interpolated Kneser-Ney character trigram on the same split.",
        .epochs = 10,
        .net = {.name = "transformer", .build = build_gpt, .cosine = 1, .warmup = 200},
        .compare = &lm_lstm,
    };
    return lm_main(&ex, argc, argv);
}
