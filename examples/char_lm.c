/* A character-level LSTM language model on Debian's fortune files, next to an
 * interpolated Kneser-Ney character-trigram baseline computed by the same
 * program on the same split (the corpus, split, tokens, baseline and measure
 * are described in fortunes_lm.c):
 *
 *     model = Sequential([Embedding(V, 64), LSTM(256, return_sequences=True),
 *                         Dense(V, activation='softmax')])
 *     model.compile(optimizer=Adam(1e-3, global_clipnorm=1.0),
 *                   loss='sparse_categorical_crossentropy', metrics=['accuracy'])
 *     model.fit(x_train, y_train, batch_size=64, epochs=10,
 *               validation_data=(x_val, y_val))
 *
 * then the test bits per character beside the trigram's, and samples at
 * temperatures 0.5, 0.8 and 1.0. The default run finishes within 30 minutes
 * on a 2-core machine with PoCL (the program prints its times). */
#include "fortunes_lm.h"

int main(int argc, char **argv) {
    const lm_example ex = {
        .prog = "char_lm",
        .about = "A character-level LSTM language model on Debian's fortunes, reported in bits per\n"
                 "character next to an interpolated Kneser-Ney character trigram on the same split.",
        .epochs = 10,
        .net = lm_lstm,
    };
    return lm_main(&ex, argc, argv);
}
