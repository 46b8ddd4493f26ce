/* Internal: the autograd graph, the op table and lazy elementwise expressions.
 *
 * Every op is one entry of CLG_OP_LIST: its enum value, its name (used in
 * errors and in generated kernel names) and its backward rule. Elementwise ops
 * also have an OpenCL C expression in CLG_EW_LIST (fuse.c), kept in the same
 * order by a static assert. Adding an op touches: this list, the op's
 * constructor and backward rule in src/ops/<family>.c, and its test. */
#ifndef CLG_GRAPH_H
#define CLG_GRAPH_H

#include "clgrad/autograd.h"
#include "clgrad/ops.h"
#include "tensor/tensor_impl.h"

struct clg_gnode;

/* Fills grad_in[i] (new tensors, or NULL where input i gets no gradient) from
 * grad_out, the gradient of the node's output `out`. Runs with recording off. */
typedef clg_status (*clg_backward_fn)(struct clg_gnode *node, const clg_tensor *out,
                                      const clg_tensor *grad_out, clg_tensor **grad_in);

/* X(ENUM, "name", backward). Elementwise ops come first, in CLG_EW_LIST order. */
#define CLG_OP_LIST(X)                                                                  \
    /* elementwise unary */                                                             \
    X(NEG, "neg", clg_bw_ew) X(ABS, "abs", clg_bw_ew) X(EXP, "exp", clg_bw_ew)          \
    X(LOG, "log", clg_bw_ew) X(SQRT, "sqrt", clg_bw_ew) X(RSQRT, "rsqrt", clg_bw_ew)    \
    X(SQUARE, "square", clg_bw_ew) X(SIN, "sin", clg_bw_ew) X(COS, "cos", clg_bw_ew)    \
    X(SIGMOID, "sigmoid", clg_bw_ew) X(TANH, "tanh", clg_bw_ew)                         \
    X(RELU, "relu", clg_bw_ew) X(LEAKY_RELU, "leaky_relu", clg_bw_ew)                   \
    X(ELU, "elu", clg_bw_ew) X(GELU, "gelu", clg_bw_ew)                                 \
    X(GELU_TANH, "gelu_tanh", clg_bw_ew) X(SOFTPLUS, "softplus", clg_bw_ew)             \
    X(SOFTSIGN, "softsign", clg_bw_ew) X(HARD_SIGMOID, "hard_sigmoid", clg_bw_ew)       \
    X(SIGN, "sign", clg_bw_ew) X(CLAMP, "clamp", clg_bw_ew)                             \
    X(GELU_GRAD, "gelu_grad", clg_bw_ew) /* internal: d gelu / dx */                    \
    X(IDENTITY, "identity", clg_bw_ew)   /* internal: broadcast_to's expression */      \
    /* elementwise binary */                                                            \
    X(ADD, "add", clg_bw_ew) X(SUB, "sub", clg_bw_ew) X(MUL, "mul", clg_bw_ew)          \
    X(DIV, "div", clg_bw_ew) X(POW, "pow", clg_bw_ew) X(MAXIMUM, "maximum", clg_bw_ew)  \
    X(MINIMUM, "minimum", clg_bw_ew) X(EQ, "eq", clg_bw_ew) X(NE, "ne", clg_bw_ew)      \
    X(LT, "lt", clg_bw_ew) X(LE, "le", clg_bw_ew) X(GT, "gt", clg_bw_ew)                \
    X(GE, "ge", clg_bw_ew)                                                              \
    /* elementwise ternary */                                                           \
    X(WHERE, "where", clg_bw_ew)                                                        \
    /* reductions */                                                                    \
    X(SUM, "sum", clg_bw_sum) X(MEAN, "mean", clg_bw_mean) X(MAX, "max", clg_bw_minmax) \
    X(MIN, "min", clg_bw_minmax) X(VAR, "var", clg_bw_var)                              \
    X(SOFTMAX, "softmax", clg_bw_softmax) X(LOG_SOFTMAX, "log_softmax", clg_bw_log_softmax) \
    /* views and shape ops */                                                           \
    X(RESHAPE, "reshape", clg_bw_reshape) X(PERMUTE, "permute", clg_bw_permute)         \
    X(SLICE, "slice", clg_bw_slice) X(BROADCAST_TO, "broadcast_to", clg_bw_broadcast_to) \
    X(CONCAT, "concat", clg_bw_concat) X(PAD, "pad", clg_bw_pad)                        \
    X(GATHER, "gather", clg_bw_gather) X(INDEX_SELECT, "index_select", clg_bw_index_select) \
    X(EMBEDDING, "embedding", clg_bw_embedding)                                         \
    /* matrix products */                                                               \
    X(MATMUL, "matmul", clg_bw_matmul) X(MATMUL_BATCHED, "matmul_batched", clg_bw_matmul_batched) \
    /* convolution family */                                                            \
    X(CONV2D, "conv2d", clg_bw_conv2d) X(CONV2D_TRANSPOSE, "conv2d_transpose", clg_bw_conv2d_transpose) \
    X(MAX_POOL2D, "max_pool2d", clg_bw_max_pool2d) X(AVG_POOL2D, "avg_pool2d", clg_bw_avg_pool2d) \
    X(UPSAMPLE2D, "upsample2d", clg_bw_upsample2d)                                      \
    X(BATCH_NORM, "batch_norm", clg_bw_batch_norm) X(LAYER_NORM, "layer_norm", clg_bw_layer_norm) \
    X(GROUP_NORM, "group_norm", clg_bw_group_norm)                                      \
    /* losses */                                                                        \
    X(SOFTMAX_XENT, "softmax_cross_entropy", clg_bw_softmax_xent)                       \
    X(DROPOUT, "dropout", clg_bw_dropout)                                               \
    /* recurrent layers */                                                              \
    X(LSTM, "lstm", clg_bw_lstm) X(GRU, "gru", clg_bw_gru)                              \
    X(SIMPLE_RNN, "simple_rnn", clg_bw_simple_rnn)                                      \
    /* attention */                                                                     \
    X(ATTENTION_SOFTMAX, "attention_softmax", clg_bw_attention_softmax)

typedef enum clg_op {
#define CLG_OP_ENUM_(id, name, bw) CLG_OP_##id,
    CLG_OP_LIST(CLG_OP_ENUM_)
#undef CLG_OP_ENUM_
    CLG_OP_COUNT_
} clg_op;

#define CLG_OP_FIRST_EW CLG_OP_NEG
#define CLG_OP_LAST_EW CLG_OP_WHERE
#define CLG_OP_LAST_UNARY CLG_OP_IDENTITY
#define CLG_OP_IS_EW(op) ((op) >= CLG_OP_FIRST_EW && (op) <= CLG_OP_LAST_EW)

const char *clg_op_name(clg_op op);

/* Backward rules, one per family (the family's source file defines them). */
#define CLG_OP_BW_DECL_(id, name, bw) clg_status bw(struct clg_gnode *, const clg_tensor *, const clg_tensor *, clg_tensor **);
CLG_OP_LIST(CLG_OP_BW_DECL_)
#undef CLG_OP_BW_DECL_

enum { CLG_NODE_ATTRS = 16 };

/* How an op's output came to be: what backward needs of it. */
typedef struct clg_gnode {
    clg_op op;
    int ninputs;
    clg_tensor **inputs;   /* retained; an entry is NULL for inputs outside the graph */
    clg_tensor *saved[3];  /* retained tensors the rule needs (outputs, masks) */
    int64_t iattr[CLG_NODE_ATTRS];
    float fattr[4];
} clg_gnode;

/* --- tensor references and graph recording --------------------------------------- */

clg_tensor *clg_tensor_retain(const clg_tensor *t); /* returns t */
/* True if ops on these inputs must record a node (recording on and some input
 * needs a gradient). */
int clg_needs_grad(int n, const clg_tensor *const *inputs);
/* Attaches a node for `op` with the given inputs to out (which must have none).
 * Inputs that need no gradient are stored as NULL. Returns the node to fill in
 * attributes and saved tensors, or NULL (error recorded) on allocation failure. */
clg_gnode *clg_record(clg_tensor *out, clg_op op, int n, const clg_tensor *const *inputs);
void clg_gnode_free(clg_gnode *node);

/* --- lazy elementwise expressions (fuse.c) ----------------------------------------- */

/* Evaluates a lazy tensor into its own buffer (no-op for others). */
clg_status clg_realize(const clg_tensor *t);
/* Evaluates every pending lazy tensor of the context (before in-place writes and
 * at the end of a capture). */
clg_status clg_flush(clg_context *ctx);
/* Applies elementwise op to 1-3 operands (broadcast), params p0, p1. Records the
 * graph node. Returns a new lazy tensor. `api` names the public function. */
clg_tensor *clg_ew(const char *api, clg_op op, int n, const clg_tensor *const *operands, float p0,
                   float p1);
/* A rank-0 constant (lazy, no buffer until needed). */
clg_tensor *clg_constant(clg_context *ctx, float value);
/* Removes t from its context's list of pending lazy tensors (on free). */
void clg_lazy_forget(clg_tensor *t);
void clg_expr_release(struct clg_expr *e);

/* --- helpers for backward rules ------------------------------------------------------ */

/* Intermediate handles of a composed computation, freed together. After a NULL
 * (a failed op) later steps are skipped, so the first error is the one kept:
 *     clg_scratch s = {0};
 *     #define K(expr) (s.failed ? NULL : clg_scratch_keep(&s, (expr)))
 *     clg_tensor *t = K(clg_exp(x)); ... ; clg_scratch_drop(&s); */
enum { CLG_SCRATCH_MAX = 32 };
typedef struct clg_scratch {
    clg_tensor *t[CLG_SCRATCH_MAX];
    int n;
    int failed;
} clg_scratch;
clg_tensor *clg_scratch_keep(clg_scratch *s, clg_tensor *t);
void clg_scratch_drop(clg_scratch *s);

/* Sums g over the axes where it was broadcast from `shape` (rank ndim), giving a
 * tensor of that shape. A new reference. */
clg_tensor *clg_sum_to_shape(const clg_tensor *g, int ndim, const int64_t *shape);

/* Column sums on CPU devices, in parts (src/ops/reduce.c): src, a contiguous
 * [outer, r, inner] view from its offset, gives partial [outer, parts, inner]
 * (parts = clg_column_parts(r), one per CLG_COLS_CHUNK rows): each part's sums
 * of every column, of x, or with center ([outer, inner] floats) of
 * (x - center)^2. The caller sums the parts in order (a fixed order). */
enum { CLG_COLS_CHUNK = 256 };
uint64_t clg_column_parts(uint64_t r);
clg_status clg_column_partials(const clg_tensor *src, uint64_t outer, uint64_t r, uint64_t inner,
                               struct clg_buffer *center, struct clg_buffer *partial, const char *api);
/* Broadcast shape of a and b into out (rank into *ndim); CLG_STATUS_SHAPE_MISMATCH
 * naming api and both shapes if they do not broadcast. */
clg_status clg_broadcast_shapes(const char *api, int na, const int64_t *a, int nb,
                                const int64_t *b, int *ndim, int64_t *out);
/* Normalises axes (negative allowed) into a mask; errors name api. */
clg_status clg_axes_mask(const char *api, const clg_tensor *x, int naxes, const int *axes,
                         unsigned *mask);
/* Recording state per context. */
int clg_grad_enabled(const clg_context *ctx);

/* --- captured steps (step.c) --------------------------------------------------------- */

/* Recording hook called by clg_launch. */
struct clg_step;
int clg_capturing(const clg_context *ctx);

#endif
