/* The model's internals, shared by the files of src/nn/: layer objects
 * (layers.c: constructors, shape inference, the forward of one layer), the
 * graph of nodes and training (model.c), callbacks (callbacks.c) and files
 * (model_io.c).
 *
 * A model is a graph of nodes in creation order, which is a topological order:
 * a node's inputs always exist before it. An input node has no layer; every
 * other node applies a layer to its input nodes. A layer applied several times
 * (a shared layer) owns one set of weights used by all its nodes; its weight
 * shapes are fixed by its first application. A Sequential model is the same
 * graph as a chain, grown by clg_model_add. */
#ifndef CLGRAD_NN_MODEL_INTERNAL_H
#define CLGRAD_NN_MODEL_INTERNAL_H

#include <stdint.h>

#include "clgrad/model.h"
#include "clgrad/optim.h"
#include "clgrad/tensor.h"

typedef enum layer_kind {
    L_DENSE = 0,
    L_CONV2D,
    L_MAXPOOL,
    L_FLATTEN,
    L_DROPOUT,
    L_ACTIVATION,
    L_BATCHNORM,
    L_AVGPOOL,
    L_GAP,
    L_GMP,
    L_ZEROPAD,
    L_UPSAMPLE,
    L_RESHAPE,
    L_LEAKYRELU,
    L_LAYERNORM,
    L_DWCONV,
    L_CONVT,
    L_CONV1D,
    L_EMBEDDING,
    L_ADD,
    L_CONCAT,
    L_SIMPLE_RNN,
    L_LSTM,
    L_GRU,
    L_BIDIRECTIONAL,
    L_MHA,
    L_POSEMB,
    L_KIND_COUNT
} layer_kind;

/* Keras's base names ("dense", "conv2d_1" for the second) and class names. */
extern const char *const clg_kind_base[L_KIND_COUNT];
extern const char *const clg_kind_type[L_KIND_COUNT];

/* Weights of a layer, in the order they are saved and optimised. */
enum { MAX_WEIGHTS = 8 };

struct clg_layer {
    layer_kind kind;
    char name[64];
    clg_activation act;
    int units;                  /* dense units, conv filters, embedding output_dim */
    int vocab;                  /* embedding input_dim */
    int kh, kw, sh, sw, same;   /* conv (Conv1D: kw, sw) */
    int ph, pw;                 /* pooling, upsampling factors */
    int pads[4];                /* zero padding: top, bottom, left, right */
    int axis;                   /* concatenate, counted with the batch axis (-1: last) */
    int tgt_ndim;               /* reshape target (one extent may be -1) */
    int64_t tgt[CLG_MAX_DIMS];
    float rate;                 /* dropout */
    float alpha;                /* leaky relu */
    float l2;                   /* L2 regularisation factor of the kernel (0: none) */
    int return_sequences;       /* recurrent layers: the whole sequence, or the last step */
    int go_backwards;           /* recurrent layers: time reversed (Keras) */
    layer_kind cell;            /* bidirectional: the wrapped recurrent kind */
    int heads, key_dim, causal; /* multi-head attention (units: value_dim) */
    int mask_zero;              /* embedding: id 0 is padding, masked downstream */
    int return_state;           /* recurrent: applications expose their final states (clg_call_rnn) */
    int stateful;               /* recurrent: final states are the next batch's initial states */
    clg_tensor *state[2];       /* stateful: the carried states [batch, units] (LSTM: h, c) */
    int states_fresh;           /* reset since the last batch: the next may have another size */
    clg_tensor *mask_table;     /* embedding with mask_zero: [V, 1], 0 for id 0, else 1 */
    int trainable;              /* Keras's layer.trainable; default 1 */
    int applied;                /* weight shapes fixed by a first application */
    clg_model *owner;           /* the model that took the layer */
    int nweights;
    const char *wname[MAX_WEIGHTS];        /* "kernel", "bias", "gamma", ... */
    int wtrainable[MAX_WEIGHTS];           /* trainable when the layer is */
    int wndim[MAX_WEIGHTS];
    int64_t wshape[MAX_WEIGHTS][4];
    clg_tensor *w[MAX_WEIGHTS];
};

struct clg_node {
    clg_model *model;
    int id;                     /* index in model->nodes */
    clg_layer *layer;           /* NULL for an input */
    int nin;
    clg_node **in;
    char name[64];              /* inputs: "input_layer", "input_layer_1", ... */
    clg_dtype dtype;            /* of the values (int32 only for inputs feeding an Embedding) */
    int ndim;                   /* output shape without the batch axis */
    int64_t shape[CLG_MAX_DIMS];
    int last_use;               /* the last node reading this one (free after it) */
    int port;                   /* 0, or k >= 1: this node is final state k of the recurrent
                                   node in[0] (Keras's output k of that call; layer NULL) */
    int seed_id;                /* id among the nodes that are not ports: dropout seeds follow
                                   it, so where ports are made does not move them */
};

typedef enum loss_kind { LOSS_SPARSE_CCE = 0, LOSS_CCE, LOSS_MSE, LOSS_BCE, LOSS_KIND_COUNT } loss_kind;
/* Keras's names of the losses, by loss_kind (model.c). */
extern const char *const clg_loss_names[LOSS_KIND_COUNT];

struct clg_model {
    clg_context *ctx;
    int sequential;
    clg_node **nodes;
    int nnodes, cap_nodes, nports;
    clg_node **inputs, **outputs;
    int ninputs, noutputs, cap_inputs;
    clg_layer **layers;         /* unique layers in the order first applied */
    int nlayers, cap;
    int kind_count[L_KIND_COUNT];
    int input_count;
    uint64_t seed;
    int built, compiled;
    int reseed;                 /* clg_model_set_seed since the weights were made: redraw them all */
    loss_kind loss;
    int accuracy;
    /* The optimizer (owned; its state lives on the device) and the trainable
     * weights in layer order, its parameters. */
    clg_optimizer *opt;
    int nparams;
    clg_tensor **params;
    /* Dropout's RNG stream offset, on the device: every draw advances it, also in
     * replayed steps, so each step gets fresh masks. */
    clg_tensor *rng_counter;
    int epochs_done;            /* epochs completed by fit calls (saved in training state) */
    /* Data parallelism (parallel.c): replicas on the context's further devices
     * and the state of splitting batches across them; NULL until needed. */
    struct clg_par *par;
};

/* --- layers.c ----------------------------------------------------------------------------- */

uint64_t clg_mix64(uint64_t x);
/* The layers whose weights include a kernel (Keras's kernel_regularizer). */
int clg_layer_has_kernel(layer_kind kind);
int64_t clg_prod(int n, const int64_t *s);
/* "(None, 26, 26, 32)" */
char *clg_keras_shape(int n, const int64_t *s, char *buf, size_t cap);

/* Shape inference for node n (its layer on its inputs): fills n's shape and, on
 * the layer's first application, the weight shapes; a shared layer's later
 * application must give the same weight shapes. Fails naming the layer. */
clg_status clg_layer_infer(clg_node *n);
/* Creates the layer's weights with Keras's initialisers from seed. */
clg_status clg_layer_init_weights(clg_context *ctx, clg_layer *l, uint64_t seed);
/* The node's output from its inputs' values (a new reference), or NULL.
 * mask_in is the first input's mask ([B, T] float32, 1 = keep) or NULL;
 * *mask_out gets the output's mask (a new reference) or NULL, as Keras
 * propagates masks: an Embedding with mask_zero makes one, recurrent layers
 * consume it (and pass it on with return_sequences), per-step layers pass it
 * through, the others drop it. */
clg_tensor *clg_layer_forward(clg_model *m, const clg_node *n, clg_tensor *const *in, const clg_tensor *mask_in,
                              clg_tensor **mask_out, int training, clg_tensor **states);
/* States of a recurrent layer: 2 for an LSTM (h, c), 1 for a GRU or SimpleRNN, 0
 * for other layers (Bidirectional included). With states non-NULL the forward
 * above also writes the final states there (new references). */
int clg_layer_state_count(const clg_layer *l);
/* Zeros a stateful layer's carried states in place (captured steps holding
 * them start over too); the next batch may have another size. */
clg_status clg_layer_reset_states(clg_layer *l);
/* Frees the carried states. */
void clg_layer_drop_states(clg_layer *l);
/* The node of final state k (1: h, 2: c) of recurrent node rnn, made at the
 * first request (clg_call_rnn, and the loader for references [name, node, k]). */
clg_node *clg_model_state_port(clg_node *rnn, int k);
/* The layer's L2 penalty sum(l2 * kernel^2) as a rank-0 tensor, or NULL with no
 * regulariser (check clg_last_status only when l2 > 0). */
clg_tensor *clg_layer_penalty(const clg_layer *l);

/* --- model.c --------------------------------------------------------------------------------- */

/* Runs the graph on inputs (one per model input); writes one new tensor per
 * output. Intermediate values are freed after their last use. */
clg_status clg_model_run(clg_model *m, const clg_tensor *const *inputs, int training, clg_tensor **outputs);

/* Pieces of fit, evaluate and predict that the data-parallel versions share. */
int clg_nn_list_weights(const clg_model *m, int trainable_only, clg_tensor **out);
clg_tensor *clg_nn_total_loss(const clg_model *m, const clg_tensor *out, const clg_tensor *y, const clg_tensor *w);
int clg_nn_metric_on(const clg_model *m);
clg_tensor *clg_nn_correct_of(const clg_model *m, const clg_tensor *out, const clg_tensor *y);
clg_tensor *clg_nn_forward(clg_model *m, const clg_tensor *x, int training);
/* dst = expr (consumes expr's handle). */
clg_status clg_nn_assign_expr(clg_tensor *dst, clg_tensor *expr);
int64_t clg_nn_row_elems(const clg_host_array *a);
/* Copies rows idx[0..count) (or first..first+count when idx is NULL) of a into dst. */
void clg_nn_gather_rows(const clg_host_array *a, int64_t first, const int64_t *idx, int64_t count, void *dst);
/* A device tensor for `count` rows of a (shape [count, ...]; labels [count]). */
clg_tensor *clg_nn_batch_tensor(clg_context *ctx, const clg_host_array *a, int64_t count, int labels);
/* Forward and backward on one batch, then (update 1) the optimizer's step;
 * adds loss * count and the correct count to the device accumulators. With
 * update 0 the gradients are left computed (not lazy) for the caller. */
clg_status clg_nn_train_step(clg_model *m, const clg_tensor *xb, const clg_tensor *yb, const clg_tensor *wb,
                             int64_t count, clg_tensor *acc_loss, clg_tensor *acc_correct, int update);
/* Adds the loss * count and the correct count of rows [first, first + c) of
 * x, y (inference mode) to the device accumulators; hx, hy hold c rows. */
clg_status clg_nn_eval_batch(clg_model *m, const clg_host_array *x, const clg_host_array *y, int64_t first,
                             int64_t c, void *hx, void *hy, clg_tensor *acc_l, clg_tensor *acc_c);

/* --- parallel.c: data parallelism across devices and MPI ranks --------------------------------
 * A model whose context drives several devices (clg_context_options.devices)
 * or that runs as one of several MPI ranks trains with one replica per device:
 * each batch is split across ranks (equally) and the devices of a rank (in
 * proportion to their measured speed); each replica runs forward and backward
 * on its share; the gradients, weighted by share, are summed on the host (and
 * all-reduced across ranks); the first device applies the optimizer once and
 * its parameters are copied to the others, so every replica holds the same
 * bits. Batch normalisation's moving statistics are averaged likewise. */
typedef struct clg_par clg_par;
/* Whether m's calls go through the replicas: several devices or MPI ranks. */
int clg_par_wanted(const clg_model *m);
/* m->par made (or kept) and every replica given m's weights; for fit also the
 * training state. Fails naming the device (and the reason) that cannot. */
clg_status clg_par_prepare(clg_model *m, const char *api, int training);
/* One training batch of `count` rows idx[0..count) of x, y (w: per-sample
 * weights or NULL); batch_size is fit's, count < batch_size for the last. */
clg_status clg_par_train_batch(clg_model *m, const clg_host_array *x, const clg_host_array *y,
                               const clg_host_array *w, const int64_t *idx, int64_t count, int64_t batch_size);
/* Zeros the loss and correct-count accumulators of every replica. */
clg_status clg_par_epoch_begin(clg_model *m);
/* The mean loss and accuracy over `seen` samples so far; all_ranks 1 sums
 * across MPI ranks (a collective: every rank must call it at the same point). */
clg_status clg_par_read_acc(clg_model *m, int64_t seen, int all_ranks, double *loss, double *acc);
/* Ends a fit: frees what only training needs (captured steps, batch tensors). */
void clg_par_fit_end(clg_model *m);
clg_status clg_par_evaluate(clg_model *m, const clg_host_array *x, const clg_host_array *y, int64_t first,
                            int64_t n, int batch, double *loss, double *acc);
clg_status clg_par_predict(clg_model *m, const clg_host_array *x, int batch, float *out);
void clg_par_free(clg_par *p);
/* Under MPI: every rank ends here with st, or all fail (and *stop, if given,
 * is 1 everywhere when it is somewhere); a collective. Returns st otherwise. */
clg_status clg_par_agree(clg_model *m, clg_status st, int *stop, const char *what);
/* Under MPI: fails on every rank unless all pass the same sample count, batch
 * size, epochs and seed (a collective). */
clg_status clg_par_check_ranks(clg_model *m, const char *api, int64_t n, int64_t batch, int epochs, int64_t nval);
/* The batch split the balancer chose for fit: shares[i] of device i (at most
 * cap), returns the device count (0 when m has no replicas). */
int clg_par_shares(const clg_model *m, int64_t *shares, int cap);
/* Splits total into n shares proportional to rate[i] > 0 (largest remainders;
 * ties to the lower index); a rate <= 0 or NaN gets nothing unless all do,
 * then the split is even. */
void clg_par_balance(int n, const double *rate, int64_t total, int64_t *shares);
/* Tests: per-device speeds (samples per second) that replace the measured
 * ones (n = 0: measure again). */
void clg_par_fake_rates(int n, const double *rate);
/* Tests: the model on device j (0: m itself), or NULL. */
clg_model *clg_par_replica(const clg_model *m, int j);

/* --- model_io.c ------------------------------------------------------------------------------ */
/* A new model on ctx with m's layers and graph (from its model_config), not
 * compiled, weights not yet made; `what` names it in messages. */
clg_model *clg_nn_model_rebuild(const clg_model *m, clg_context *ctx, const char *what);

/* Whether text[0, len) is one well-formed JSON value, as the whole-model loader
 * parses it (strict RFC 8259, nesting at most 32 deep): 0 when it is, else 1 +
 * the byte offset of the first error. */
size_t clg_model_io_json_check(const char *text, size_t len);

#endif
