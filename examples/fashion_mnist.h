/* What the Fashion-MNIST examples share: the command line, loading the Debian
 * dataset, and the Keras program around the model (compile, summary, fit,
 * evaluate, save). Each example only builds its model. */
#ifndef CLGRAD_EXAMPLES_FASHION_MNIST_H
#define CLGRAD_EXAMPLES_FASHION_MNIST_H

#include <clgrad/clgrad.h>
#include <clgrad/model.h>

typedef struct fmnist_example {
    const char *prog;        /* "fashion_mnist_cnn" */
    const char *about;       /* what it trains, for --help */
    const char *save;        /* default weights file */
    int epochs;              /* default epochs; 0: Keras's 10 */
    /* Dropout rates the model takes (0: none) and their defaults; --dropout
     * sets them (for choosing them on validation data). */
    int ndropout;
    float dropout[2];
    const char *dropout_help; /* what each rate is, for --help */
    /* Default learning-rate schedule of Adam: 0 constant 1e-3 (Keras's
     * default), 1 cosine decay from 1e-3 to 0 over the whole fit.
     * --lr-schedule overrides it. */
    int cosine;
    /* Adds the layers to a Sequential model with input (28, 28, 1). */
    clg_status (*build)(clg_model *model, const float *dropout);
} fmnist_example;

/* The whole program: parses argv, loads the data, builds, compiles with
 * Adam 1e-3 and sparse categorical cross-entropy, fits, evaluates, saves.
 * Returns the exit status: 0 success, 1 error, 2 bad command line. */
int fmnist_main(const fmnist_example *ex, int argc, char **argv);

#endif
