/* What the fortune language-model examples share (fortunes_lm.c): the command
 * line, the corpus and its split, the Kneser-Ney trigram baseline, training
 * and scoring a network in bits per character, and samples. Each example only
 * builds its network. */
#ifndef CLGRAD_EXAMPLES_FORTUNES_LM_H
#define CLGRAD_EXAMPLES_FORTUNES_LM_H

#include <clgrad/clgrad.h>
#include <clgrad/model.h>

/* Builds an uncompiled model from int32 windows [T] to a softmax over the
 * vocabulary at every step, (None, T, vocab). `units` is --units. NULL on
 * failure (clg_last_error says why). */
typedef clg_model *(*lm_build_fn)(clg_context *ctx, int vocab, int seq_len, int units);

typedef struct lm_network {
    const char *name;      /* "LSTM", for the report */
    lm_build_fn build;
    /* Adam 1e-3 with global_clipnorm 1; with cosine 1 the rate warms up
     * linearly over the first `warmup` steps, then decays along a cosine to 0
     * at the end of the fit. */
    int cosine, warmup;
} lm_network;

typedef struct lm_example {
    const char *prog;      /* "char_lm" */
    const char *about;     /* for --help */
    int epochs;            /* default epochs */
    lm_network net;
    const lm_network *compare; /* trained too with --compare (NULL: no flag) */
} lm_example;

/* The LSTM of char_lm: Embedding(V, 64), LSTM(units, return_sequences=True),
 * Dense(V, softmax). */
clg_model *lm_build_lstm(clg_context *ctx, int vocab, int seq_len, int units);
extern const lm_network lm_lstm;

/* The whole program. Returns 0 success, 1 error, 2 bad command line. */
int lm_main(const lm_example *ex, int argc, char **argv);

#endif
