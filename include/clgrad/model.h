/** \file
 * Keras-style models: layers, Sequential, compile / fit / evaluate / predict.
 *
 *     // model = Sequential(); model.add(Conv2D(32, (3, 3), activation='relu',
 *     //     input_shape=(28, 28, 1))); ... model.compile(optimizer='adam',
 *     //     loss='sparse_categorical_crossentropy', metrics=['accuracy'])
 *     clg_model *model = clg_sequential_new(ctx, 3, (int64_t[]){28, 28, 1});
 *     clg_model_add(model, clg_layer_conv2d(32, 3, 3, CLG_ACT_RELU));
 *     clg_model_add(model, clg_layer_max_pooling2d(2, 2));
 *     clg_model_add(model, clg_layer_flatten());
 *     clg_model_add(model, clg_layer_dense(128, CLG_ACT_RELU));
 *     clg_model_add(model, clg_layer_dense(10, CLG_ACT_SOFTMAX));
 *     clg_model_compile(model, "adam", "sparse_categorical_crossentropy", "accuracy");
 *     clg_fit_options fit = clg_fit_options_default();   // batch 32, epochs 1, verbose 1
 *     fit.epochs = 10;
 *     clg_history *h = clg_model_fit(model, x_train, y_train, &fit);
 *     ...
 *     clg_history_free(h);
 *     clg_model_free(model);
 *
 * Data: samples are host arrays, features float32 [N, ...input_shape] (NHWC for
 * images, as Keras), targets int32 [N] for sparse losses or float32 [N, ...] for
 * the others (clg_host_array below describes one). Layers keep Keras's layout
 * (NHWC) and read it through strides; Dense acts on the last axis (as Keras).
 *
 * Keras's defaults, exactly: Glorot-uniform kernels and zero biases; Adam with
 * learning rate 1e-3, beta 0.9 / 0.999, epsilon 1e-7; fit with batch size 32.
 *
 * Ownership: clg_model_add takes the layer (also on failure). A model belongs to
 * its context; free it before the context. Returned histories and tensors are
 * the caller's. Failures return a status or NULL with the reason in
 * clg_last_error(), naming the layer ("conv2d_1") and the shapes at fault.
 *
 * Thread safety: as for the context. */
#ifndef CLGRAD_MODEL_H
#define CLGRAD_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "clgrad/export.h"
#include "clgrad/optim.h"
#include "clgrad/tensor.h"

CLG_BEGIN_DECLS

typedef enum clg_activation {
    CLG_ACT_LINEAR = 0,
    CLG_ACT_RELU,
    CLG_ACT_SIGMOID,
    CLG_ACT_TANH,
    CLG_ACT_SOFTMAX,
    CLG_ACT_GELU,
    CLG_ACT_ELU,
    CLG_ACT_SOFTPLUS
} clg_activation;

typedef struct clg_layer clg_layer;
typedef struct clg_model clg_model;
typedef struct clg_node clg_node;

/* --- layers (each returns NULL on bad arguments; names are given by the model:
 * "conv2d", "conv2d_1", ... as Keras does) ------------------------------------- */
CLG_API clg_layer *clg_layer_dense(int units, clg_activation activation);
/** 'valid' padding, stride 1, as Keras's defaults; see _ex for the rest. */
CLG_API clg_layer *clg_layer_conv2d(int filters, int kh, int kw, clg_activation activation);
CLG_API clg_layer *clg_layer_conv2d_ex(int filters, int kh, int kw, int stride_h, int stride_w,
                                       int same_padding, clg_activation activation);
CLG_API clg_layer *clg_layer_max_pooling2d(int ph, int pw);
CLG_API clg_layer *clg_layer_flatten(void);
CLG_API clg_layer *clg_layer_dropout(float rate);
CLG_API clg_layer *clg_layer_activation(clg_activation activation);
CLG_API clg_layer *clg_layer_batch_normalization(void); /**< momentum 0.99, epsilon 1e-3 */
/** Stride = pool size, 'valid' (Keras's defaults). */
CLG_API clg_layer *clg_layer_average_pooling2d(int ph, int pw);
/** (None, H, W, C) -> (None, C). */
CLG_API clg_layer *clg_layer_global_average_pooling2d(void);
CLG_API clg_layer *clg_layer_global_max_pooling2d(void);
/** Zeros added before/after H (top, bottom) and W (left, right). */
CLG_API clg_layer *clg_layer_zero_padding2d(int top, int bottom, int left, int right);
/** Nearest-neighbour upsampling of H and W by (sh, sw). */
CLG_API clg_layer *clg_layer_upsampling2d(int sh, int sw);
/** Target shape per sample (without the batch axis); one extent may be -1. */
CLG_API clg_layer *clg_layer_reshape(int ndim, const int64_t *shape);
CLG_API clg_layer *clg_layer_leaky_relu(float alpha);  /**< Keras's default alpha: 0.3 */
/** Over the last axis, epsilon 1e-3; gamma ones, beta zeros. */
CLG_API clg_layer *clg_layer_layer_normalization(void);
/** Depth multiplier 1, 'valid', stride 1, with bias; depthwise_kernel [C, 1, KH, KW]. */
CLG_API clg_layer *clg_layer_depthwise_conv2d(int kh, int kw, clg_activation activation);
/** kernel [C_in, filters, KH, KW], bias [filters]; output H*s ('same') or
 * H*s + max(k - s, 0) ('valid'), as Keras. */
CLG_API clg_layer *clg_layer_conv2d_transpose(int filters, int kh, int kw, int stride_h, int stride_w,
                                              int same_padding, clg_activation activation);
/** Keras's Conv1D on (None, steps, channels): kernel [filters, channels, K],
 * bias [filters]; 'valid' (same_padding 0) or 'same'. */
CLG_API clg_layer *clg_layer_conv1d(int filters, int kernel_size, int stride, int same_padding,
                                    clg_activation activation);
/** Rows of embeddings [input_dim, output_dim] (uniform +-0.05) picked by int32
 * indices: (None, ...) -> (None, ..., output_dim). Its input is int32 (the
 * model's input becomes int32 when an Embedding reads it). */
CLG_API clg_layer *clg_layer_embedding(int input_dim, int output_dim);
/** Keras's Embedding(..., mask_zero=True): id 0 is padding. The mask goes with
 * the values: Dropout, Activation, LeakyReLU and the normalisations pass it on,
 * recurrent layers skip masked steps (their states carry over) and pass it on
 * with return_sequences, other layers drop it. input_dim counts the padding id. */
CLG_API clg_layer *clg_layer_embedding_ex(int input_dim, int output_dim, int mask_zero);
/** Merge layers for functional models (two or more inputs, clg_call_n): Add
 * sums equal shapes; Concatenate joins along axis (counted with the batch axis
 * as Keras: -1 the last, 0 is refused). */
CLG_API clg_layer *clg_layer_add(void);
CLG_API clg_layer *clg_layer_concatenate(int axis);
/** Keras's layer.trainable: a frozen layer's weights get no gradient and no
 * update (a frozen BatchNormalization also normalises with its moving
 * statistics). Takes effect at the next clg_model_compile, as in Keras. */
CLG_API clg_status clg_layer_set_trainable(clg_layer *layer, int trainable);
CLG_API int clg_layer_trainable(const clg_layer *layer);
/** kernel_regularizer=L2(l2): adds l2 * sum(kernel^2) to the loss (Keras's 'l2'
 * is 0.01). Dense, Conv1D, Conv2D, DepthwiseConv2D, Conv2DTranspose, Embedding. */
CLG_API clg_status clg_layer_set_l2(clg_layer *layer, float l2);
/** Keras's SimpleRNN, LSTM and GRU on (None, timesteps, features): output
 * (None, timesteps, units) with return_sequences, else (None, units) (the last
 * step processed); go_backwards runs time reversed. Weights: kernel
 * [features, G*units] (Glorot-uniform), recurrent_kernel [units, G*units]
 * (orthogonal), bias [G*units] (LSTM: 1 for the forget gate, Keras's
 * unit_forget_bias) or, for the GRU (reset_after=True), [2, 3*units]; G = 1, 4
 * (gates i, f, c, o), 3 (z, r, h). Activations tanh and sigmoid as Keras.
 * The operations are clg_simple_rnn, clg_lstm and clg_gru (ops.h). */
CLG_API clg_layer *clg_layer_simple_rnn(int units, int return_sequences, int go_backwards);
CLG_API clg_layer *clg_layer_lstm(int units, int return_sequences, int go_backwards);
CLG_API clg_layer *clg_layer_gru(int units, int return_sequences, int go_backwards);
/** Keras's stateful=True for SimpleRNN, LSTM and GRU: the final states of each
 * batch are the initial states of the next (no gradient flows across batches),
 * from zeros at first and after clg_model_reset_states. Every call carries
 * them on: fit's steps, its validation batches, evaluate and predict. Every
 * batch must hold the same number of samples (a batch of another size fails
 * with CLG_STATUS_SHAPE_MISMATCH naming the layer, unless the states were just
 * reset): fit with shuffle 0 and sample counts (validation too) divisible by
 * the batch size. Initial states passed explicitly (clg_call_rnn) win over the
 * carried ones; the final states are carried all the same. The setting keeps
 * a compiled model compiled; a fit in progress keeps the step it captured.
 * The carried states are not saved in model files (the setting is).
 * INVALID_ARGUMENT for other layers; Bidirectional refuses a stateful layer. */
CLG_API clg_status clg_layer_set_stateful(clg_layer *layer, int stateful);
/** Keras's Bidirectional(layer) with merge_mode 'concat': a forward and a
 * time-reversed copy of the recurrent layer (whose settings it takes; the
 * layer object is consumed, also on failure), outputs concatenated on the last
 * axis (2*units), the backward sequence put back in time order. Weights
 * forward_kernel, forward_recurrent_kernel, forward_bias and the backward_
 * three, laid out as the layer's. */
CLG_API clg_layer *clg_layer_bidirectional(clg_layer *layer);
/** Keras's MultiHeadAttention(num_heads, key_dim) for functional models:
 * clg_call(layer, x) is self-attention, clg_call_n with (query, value) or
 * (query, value, key) cross-attention, all (None, T, features). causal: each
 * query position sees the keys up to its own (Keras's use_causal_mask). In
 * self-attention the input's mask (Embedding mask_zero) masks the keys. Output
 * (None, Tq, query features). Weights as Keras: query_kernel [D, heads,
 * key_dim], query_bias [heads, key_dim], key_ and value_ likewise,
 * output_kernel [heads, key_dim, D], output_bias [D]; Glorot-uniform with
 * Keras's fans, zero biases. No attention dropout (use a Dropout layer). */
CLG_API clg_layer *clg_layer_multi_head_attention(int num_heads, int key_dim, int causal);
/** A learned position embedding (keras_hub's PositionEmbedding): adds row t of
 * embeddings [sequence_length, features] (Glorot-uniform) to step t of its
 * input (None, T <= sequence_length, features). */
CLG_API clg_layer *clg_layer_position_embedding(int sequence_length);
/** The name the model gave it ("dense_1"); "" before it is in a model. */
CLG_API const char *clg_layer_name(const clg_layer *layer);
CLG_API void clg_layer_free(clg_layer *layer);          /**< for layers never added */

/* --- the model -------------------------------------------------------------------- */

/** A Sequential model whose input samples have shape input_shape (without the
 * batch axis), e.g. {28, 28, 1}. */
CLG_API clg_model *clg_sequential_new(clg_context *ctx, int ndim, const int64_t *input_shape);
CLG_API clg_status clg_model_add(clg_model *model, clg_layer *layer);
CLG_API void clg_model_free(clg_model *model);
/** Zeros the carried states of every stateful recurrent layer (Keras's
 * reset_states): the next batch starts from zeros, also inside a fit (from a
 * callback) whose captured step holds them, and may have another size. */
CLG_API clg_status clg_model_reset_states(clg_model *model);

/* --- functional models (Keras's functional API) -----------------------------------------
 *
 *     clg_model *m = clg_model_new(ctx);
 *     clg_node *in = clg_model_input(m, 3, (int64_t[]){32, 32, 3});
 *     clg_node *x = clg_call(clg_layer_conv2d_ex(16, 3, 3, 1, 1, 1, CLG_ACT_RELU), in);
 *     clg_node *y = clg_call(clg_layer_conv2d_ex(16, 3, 3, 1, 1, 1, CLG_ACT_LINEAR), x);
 *     x = clg_call_n(clg_layer_add(), 2, (clg_node *[]){x, y});   // a residual connection
 *     x = clg_call(clg_layer_global_average_pooling2d(), x);
 *     x = clg_call(clg_layer_dense(10, CLG_ACT_SOFTMAX), x);
 *     clg_model_set_outputs(m, 1, &x);
 *
 * Nodes belong to their model. clg_call takes the layer into the input's model
 * at its first call, also when the call fails, so a layer may be called again
 * (a shared layer: one set of weights for every call). A NULL input (from an
 * earlier failed call) makes the call fail, so chains need one check at the end.
 * compile / fit / evaluate / predict take models of one input and one output;
 * others run with clg_model_call in the caller's training loop. */
CLG_API clg_model *clg_model_new(clg_context *ctx);
/** A float32 input of samples with shape `shape` (without the batch axis). */
CLG_API clg_node *clg_model_input(clg_model *model, int ndim, const int64_t *shape);
/** An int32 input (token indices for an Embedding). */
CLG_API clg_node *clg_model_input_indices(clg_model *model, int ndim, const int64_t *shape);
CLG_API clg_node *clg_call(clg_layer *layer, clg_node *input);
CLG_API clg_node *clg_call_n(clg_layer *layer, int n, clg_node *const *inputs);
/** Keras's initial_state and return_state for SimpleRNN, LSTM and GRU:
 *
 *     clg_node *st[2];                                   // encoder: final h and c
 *     clg_call_rnn(clg_layer_lstm(64, 0, 0), src, 0, NULL, st);
 *     clg_node *y = clg_call_rnn(clg_layer_lstm(64, 1, 0), tgt, 2, st, NULL);
 *
 * Calls the layer on input with n_initial initial states (0: zeros, else the
 * layer's state count: LSTM h and c, GRU and SimpleRNN h; each (None, units))
 * and, with states non-NULL, writes there nodes of its final states (None,
 * units), in that order (the states after the last step processed; with a
 * mask, the last unmasked one). clg_call_n(layer, 1 + n, {input, states...})
 * also passes initial states. Returns the output node; NULL on failure (a
 * state of the wrong shape: CLG_STATUS_SHAPE_MISMATCH naming the layer and
 * the state), with states set to NULL. Bidirectional layers do not take or
 * return states. */
CLG_API clg_node *clg_call_rnn(clg_layer *layer, clg_node *input, int n_initial, clg_node *const *initial,
                               clg_node **states);
CLG_API clg_status clg_model_set_outputs(clg_model *model, int n, clg_node *const *outputs);
/** Adds a pre-norm transformer block to x's model and returns its output node:
 * y = x + Dropout(MultiHeadAttention(LayerNorm(x))), then
 * y + Dropout(Dense(D)(Dense(ff_dim, gelu)(LayerNorm(y)))), where D is x's
 * feature size, with num_heads heads of key_dim each (causal for a
 * decoder-only language model). NULL (with the reason) if x is NULL or a
 * layer fails. */
CLG_API clg_node *clg_transformer_block(clg_node *x, int num_heads, int key_dim, int ff_dim, float dropout,
                                        int causal);

/** Runs the model on device tensors, one per input ([B, ...input shape]), and
 * writes one new tensor per output (the caller frees them; NULLs on failure).
 * With training 1, Dropout drops and BatchNormalization uses batch statistics;
 * the results carry the autograd graph to the weights when gradients are
 * enabled, so a custom loop can clg_backward a loss built from them. Creates
 * the weights on first use (seeded as compile does). */
CLG_API clg_status clg_model_call(clg_model *model, const clg_tensor *const *inputs, int training,
                                  clg_tensor **outputs);
/** The model's weights in layer order (all, or only the trainable ones): the
 * tensors themselves, owned by the model. NULL with a reason when index is
 * out of range. */
CLG_API int clg_model_weight_count(const clg_model *model, int trainable_only);
CLG_API clg_tensor *clg_model_weight(clg_model *model, int trainable_only, int index);
/** The layer named `name` ("dense_1"), owned by the model, or NULL. */
CLG_API clg_layer *clg_model_get_layer(clg_model *model, const char *name);

/** With several devices (clg_context_options.devices): the rows of a full
 * batch each device took in the last fit (its balancer's latest split), into
 * rows[0, cap); returns the device count (rows written: at most cap). Returns
 * 0 for a model that has not trained on several devices or MPI ranks, or for
 * NULL. Under MPI the rows are this rank's share. */
CLG_API int clg_model_device_split(const clg_model *model, int64_t *rows, int cap);

/** Keras's table: layer name (type), output shape, parameter count, totals. */
CLG_API clg_status clg_model_summary(clg_model *model, FILE *stream);
CLG_API int64_t clg_model_param_count(const clg_model *model);

/** optimizer: "adam", "sgd" (learning rate 0.01, Keras's default), "rmsprop",
 * "adamw", "adagrad" with Keras's defaults (clg_optimizer_from_name);
 * loss: "sparse_categorical_crossentropy", "categorical_crossentropy",
 * "binary_crossentropy", "mse"; metrics: "accuracy" (categorical, or binary
 * with binary_crossentropy) or NULL. Creates the weights from the seed
 * (clg_model_set_seed, default 0) unless they exist; compiling again keeps them
 * and resets the optimizer. */
CLG_API clg_status clg_model_compile(clg_model *model, const char *optimizer, const char *loss,
                                     const char *metrics);
/** The same with an optimizer object (include/clgrad/optim.h: momentum,
 * schedules, clipping, ...), which the model takes, also on failure:
 *     clg_optimizer *sgd = clg_optimizer_sgd(0.01f, 0.9f, 1);   // Nesterov
 *     clg_optimizer_set_schedule_cosine(sgd, 10000, 0.0f, 500, 0.0f);
 *     clg_model_compile_optimizer(model, sgd, "sparse_categorical_crossentropy", "accuracy"); */
CLG_API clg_status clg_model_compile_optimizer(clg_model *model, clg_optimizer *optimizer, const char *loss,
                                               const char *metrics);
/** The compiled model's optimizer (owned by the model), or NULL. */
CLG_API clg_optimizer *clg_model_optimizer(clg_model *model);
/** Chooses the seed of the weights (drawn again at the next compile), dropout
 * and shuffling. */
CLG_API clg_status clg_model_set_seed(clg_model *model, uint64_t seed);
/** Overrides the optimizer's learning rate (after compile). */
CLG_API clg_status clg_model_set_learning_rate(clg_model *model, float learning_rate);

/** A host array: data, dtype, shape (first axis: samples). Not copied by the
 * calls below beyond their duration. */
typedef struct clg_host_array {
    const void *data;
    clg_dtype dtype;
    int ndim;
    int64_t shape[CLG_MAX_DIMS];
} clg_host_array;

typedef struct clg_callback clg_callback;

typedef struct clg_fit_options {
    int epochs;                /**< default 1 */
    int batch_size;            /**< default 32 */
    int verbose;               /**< 0 silent, 1 progress bar on a terminal (else one line
                                  per epoch; the environment variable
                                  CLGRAD_PROGRESS=bar or =lines forces either),
                                  2 one line per epoch; default 1 */
    int shuffle;               /**< default 1 (seeded by the model's seed and the epoch) */
    float validation_split;    /**< taken from the last samples before shuffling (Keras) */
    const clg_host_array *validation_x, *validation_y; /**< instead of the split */
    FILE *stream;              /**< progress output; NULL: stdout */
    /** Callbacks run in this order at each epoch end (see below); the caller
     * creates and frees them. A callback keeps no state between fits. */
    const clg_callback *const *callbacks;
    int ncallbacks;
    /** Keras's sample_weight: one weight per sample of x (finite, >= 0); the
     * loss of a batch becomes sum(w * loss) / batch size. Or class_weight: the
     * weight of each class 0..num_class_weights-1, given to every sample of that
     * class (its label, its one-hot row's argmax, or its rounded binary target).
     * Not both. Validation losses are unweighted. */
    const float *sample_weight;
    const float *class_weight;
    int num_class_weights;
    /** Keras's initial_epoch: the epochs run are initial_epoch .. epochs-1 (so
     * to resume a model saved after 2 epochs of 10: initial_epoch 2, epochs 10).
     * It only numbers them; shuffling follows the epochs the model has trained
     * (saved in whole-model files), so a resumed run continues bit for bit. */
    int initial_epoch;
} clg_fit_options;
CLG_API clg_fit_options clg_fit_options_default(void);

/** Per-epoch results of fit. */
typedef struct clg_history {
    int epochs;
    float *loss, *accuracy;         /**< [epochs]; accuracy NaN without the metric */
    float *val_loss, *val_accuracy; /**< [epochs]; NaN without validation data */
    double *seconds;                /**< [epochs] wall time */
} clg_history;
CLG_API void clg_history_free(clg_history *history);

/* --- callbacks (Keras's, at epoch end; checked when fit starts) ---------------------
 * monitor: "loss", "val_loss", "accuracy" or "val_accuracy" (the val_ ones need
 * validation data, accuracies the metric); mode as Keras's "auto": min for
 * losses, max for accuracies. A stopped fit returns the history of the epochs
 * run (history->epochs). Constructors return NULL on bad arguments. */
/** Stops after `patience` epochs without improvement (min_delta 0); with
 * restore_best_weights, on stopping, puts back the weights of the best epoch's end. */
CLG_API clg_callback *clg_callback_early_stopping(const char *monitor, int patience,
                                                  int restore_best_weights);
/** Saves the whole model with its training state (clg_model_save, atomic; Keras's
 * default save_weights_only=False) at every epoch end, or with save_best_only
 * only when the monitored value improves. clg_model_load resumes from it;
 * clg_model_load_weights reads its weights. */
CLG_API clg_callback *clg_callback_model_checkpoint(const char *path, const char *monitor,
                                                    int save_best_only);
/** Truncates path when fit starts, writes "epoch,loss[,accuracy][,val_loss[,val_accuracy]]"
 * and appends one row per epoch (epoch from 0, values "%.9g"), fflush'ed each epoch. */
CLG_API clg_callback *clg_callback_csv_logger(const char *path);
/** Stops when an epoch's loss is NaN or infinite. */
CLG_API clg_callback *clg_callback_terminate_on_nan(void);
/** Multiplies the learning rate by factor (Keras: 0.1; 0 <= factor < 1) after
 * `patience` (Keras: 10) epochs without improvement (min_delta 1e-4), not below
 * min_lr (Keras: 0), through clg_model_set_learning_rate. */
CLG_API clg_callback *clg_callback_reduce_lr_on_plateau(const char *monitor, float factor, int patience,
                                                        float min_lr);
/** fn(user, epoch (from initial_epoch), history of this fit so far
 * (history->epochs = epoch - initial_epoch + 1)); a nonzero return stops
 * training after this epoch. */
typedef int (*clg_callback_fn)(void *user, int epoch, const clg_history *history);
CLG_API clg_callback *clg_callback_user(clg_callback_fn fn, void *user);
CLG_API void clg_callback_free(clg_callback *callback);

CLG_API clg_history *clg_model_fit(clg_model *model, const clg_host_array *x,
                                   const clg_host_array *y, const clg_fit_options *options);
/** Mean loss and accuracy over (x, y) in batches (accuracy NaN without the
 * metric). */
CLG_API clg_status clg_model_evaluate(clg_model *model, const clg_host_array *x,
                                      const clg_host_array *y, int batch_size, float *loss,
                                      float *accuracy);
/** Model outputs for x, [N, ...] float32 on the host: out must hold N * outputs. */
CLG_API clg_status clg_model_predict(clg_model *model, const clg_host_array *x, int batch_size,
                                     float *out, size_t out_floats);

/** Weights as safetensors ("<layer name>.kernel", "<layer name>.bias", ...; the
 * layouts are documented in docs/models.md). Loading reads weights-only files
 * and whole-model files (ignoring their "optimizer." and "training." entries);
 * it reports missing and unexpected names and shape mismatches. */
CLG_API clg_status clg_model_save_weights(clg_model *model, const char *path);
CLG_API clg_status clg_model_load_weights(clg_model *model, const char *path);

/** \name Whole-model files
 * Save a model, load it in another program. @{ */
/* --- whole-model files ------------------------------------------------------------------
 *
 *     clg_model_save(model, "model.safetensors");            // architecture + weights
 *     ...                                                     // later, in another program:
 *     clg_model *m = clg_model_load(ctx, "model.safetensors");
 *     clg_model_predict(m, &x, 32, out, n_out);
 */
/** One safetensors file: the weights named as clg_model_save_weights names them
 * (so clg_model_load_weights reads the file into a model built in code), and
 * metadata "format" = "clgrad", "clgrad_version", "model_config" (the
 * architecture as Keras-like JSON: every layer's settings, names, connections,
 * trainable flags, L2 factors, the seed) and, for a compiled model,
 * "compile_config" (loss, metric, the Keras-serialised optimizer with its
 * schedule and clipping) and the training state: every optimizer state tensor
 * ("optimizer.iterations", "optimizer.m.dense.kernel", ...), dropout's RNG
 * counter ("training.rng_counter") and "training_state" (epochs done), so that
 * clg_model_load + fit with initial_epoch continues bit for bit as if never
 * stopped. The format is in docs/models.md, "Whole-model files". Saving
 * creates the weights if needed (as clg_model_save_weights does) and is
 * atomic: the target holds the old file or the new one, never a mix, even if
 * the process is killed at any point (clg_safetensors_writer_save: a temporary
 * beside path, fsync, rename, fsync of the directory). A killed save may leave
 * its temporary "<path>.tmp.<pid>.<n>.<ns>" behind: loading never reads it, the
 * next save succeeds, and a later successful save to path deletes the
 * temporaries of processes that no longer run once they are a minute old. */
CLG_API clg_status clg_model_save(clg_model *model, const char *path);
/** A new model (the caller frees it with clg_model_free) rebuilt from the file
 * alone, with the same layer names, weights and, if it was compiled, compile
 * settings, so predict / evaluate / summary give what the saved model gave.
 * NULL on failure with a message naming the file and the layer at fault: a
 * weights-only file (INVALID_ARGUMENT), malformed JSON (CORRUPT_DATA, with the
 * byte offset), unknown classes or fields, bad values, references to unknown
 * layers, weights whose shapes disagree with the architecture. */
CLG_API clg_model *clg_model_load(clg_context *ctx, const char *path);
/** @} */

CLG_END_DECLS

#endif
