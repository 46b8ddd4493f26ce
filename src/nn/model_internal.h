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

/* --- model_io.c ------------------------------------------------------------------------------ */

/* Whether text[0, len) is one well-formed JSON value, as the whole-model loader
 * parses it (strict RFC 8259, nesting at most 32 deep): 0 when it is, else 1 +
 * the byte offset of the first error. */
size_t clg_model_io_json_check(const char *text, size_t len);

#endif
