/** \file
 * Tensor operations with automatic differentiation.
 *
 *     clg_tensor *w = clg_tensor_rand_normal(ctx, 2, (int64_t[]){4, 3}, 0, 0.1f, 1, 0);
 *     clg_tensor_set_requires_grad(w, 1);
 *     clg_tensor *y = clg_relu(clg_matmul(x, w, 0, 0));   // (leaks: see ownership)
 *     clg_tensor *loss = clg_mean(clg_square(y), 0, NULL, 0);
 *     clg_backward(loss, NULL);                 // fills clg_tensor_grad(w)
 *
 * Ownership: every op returns a new tensor owned by the caller (free it with
 * clg_tensor_free) or NULL with the reason in clg_last_error(). Inputs are never
 * consumed; the graph keeps what backward needs alive on its own, so a caller may
 * free intermediate results as soon as it no longer needs their handles. The
 * example above passes results straight into other ops only for brevity.
 *
 * Elementwise ops (unary, binary with NumPy broadcasting, scalar forms, where)
 * are evaluated lazily: chains of them are compiled into one generated kernel
 * when a result is needed (by another kind of op, a read, or a view), so
 * `clg_relu(clg_add(xw, b))` runs as one kernel. Elementwise ops are float32.
 *
 * Axes may be negative (counted from the end). Errors name the op and shapes:
 * "clg_add: shapes [2,3] and [4] do not broadcast".
 *
 * Thread safety: as for the context of the tensors. */
#ifndef CLGRAD_OPS_H
#define CLGRAD_OPS_H

#include <stdint.h>

#include "clgrad/export.h"
#include "clgrad/tensor.h"

CLG_BEGIN_DECLS

/** \defgroup ops_unary Elementwise ops, unary
 * @{ */
CLG_API clg_tensor *clg_neg(const clg_tensor *x);
CLG_API clg_tensor *clg_abs(const clg_tensor *x);
CLG_API clg_tensor *clg_exp(const clg_tensor *x);
CLG_API clg_tensor *clg_log(const clg_tensor *x);
CLG_API clg_tensor *clg_sqrt(const clg_tensor *x);
CLG_API clg_tensor *clg_rsqrt(const clg_tensor *x);
CLG_API clg_tensor *clg_square(const clg_tensor *x);
CLG_API clg_tensor *clg_sin(const clg_tensor *x);
CLG_API clg_tensor *clg_cos(const clg_tensor *x);
CLG_API clg_tensor *clg_sigmoid(const clg_tensor *x);
CLG_API clg_tensor *clg_tanh(const clg_tensor *x);
CLG_API clg_tensor *clg_relu(const clg_tensor *x);
CLG_API clg_tensor *clg_leaky_relu(const clg_tensor *x, float alpha);   /**< Keras default 0.3 */
CLG_API clg_tensor *clg_elu(const clg_tensor *x, float alpha);          /**< default 1.0 */
CLG_API clg_tensor *clg_gelu(const clg_tensor *x);                      /**< erf form */
CLG_API clg_tensor *clg_gelu_tanh(const clg_tensor *x);                 /**< tanh approximation */
CLG_API clg_tensor *clg_softplus(const clg_tensor *x);
CLG_API clg_tensor *clg_softsign(const clg_tensor *x);
CLG_API clg_tensor *clg_hard_sigmoid(const clg_tensor *x);  /**< Keras: clip(0.2x + 0.5, 0, 1) */
CLG_API clg_tensor *clg_sign(const clg_tensor *x);          /**< gradient 0 */
CLG_API clg_tensor *clg_clamp(const clg_tensor *x, float lo, float hi);
/** @} */

/** \defgroup ops_binary Elementwise ops, binary (broadcasting)
 * @{ */
CLG_API clg_tensor *clg_add(const clg_tensor *a, const clg_tensor *b);
CLG_API clg_tensor *clg_sub(const clg_tensor *a, const clg_tensor *b);
CLG_API clg_tensor *clg_mul(const clg_tensor *a, const clg_tensor *b);
CLG_API clg_tensor *clg_div(const clg_tensor *a, const clg_tensor *b);
CLG_API clg_tensor *clg_pow(const clg_tensor *a, const clg_tensor *b);
CLG_API clg_tensor *clg_maximum(const clg_tensor *a, const clg_tensor *b);
CLG_API clg_tensor *clg_minimum(const clg_tensor *a, const clg_tensor *b);
/** \name Comparisons
 * Comparisons give 1.0 or 0.0 (float32) and have no gradient. */
/** @{ */
CLG_API clg_tensor *clg_eq(const clg_tensor *a, const clg_tensor *b);
CLG_API clg_tensor *clg_ne(const clg_tensor *a, const clg_tensor *b);
CLG_API clg_tensor *clg_lt(const clg_tensor *a, const clg_tensor *b);
CLG_API clg_tensor *clg_le(const clg_tensor *a, const clg_tensor *b);
CLG_API clg_tensor *clg_gt(const clg_tensor *a, const clg_tensor *b);
CLG_API clg_tensor *clg_ge(const clg_tensor *a, const clg_tensor *b);
/** @} */
/** cond != 0 ? a : b, all three broadcast together; gradient flows to a and b. */
CLG_API clg_tensor *clg_where(const clg_tensor *cond, const clg_tensor *a, const clg_tensor *b);

/** \name Tensor-scalar forms
 * Tensor-scalar forms: x op s (and s op x for the _r forms). */
/** @{ */
CLG_API clg_tensor *clg_add_scalar(const clg_tensor *x, float s);
CLG_API clg_tensor *clg_mul_scalar(const clg_tensor *x, float s);
CLG_API clg_tensor *clg_sub_scalar(const clg_tensor *x, float s);   /**< x - s */
CLG_API clg_tensor *clg_rsub_scalar(float s, const clg_tensor *x);  /**< s - x */
CLG_API clg_tensor *clg_div_scalar(const clg_tensor *x, float s);   /**< x / s */
CLG_API clg_tensor *clg_rdiv_scalar(float s, const clg_tensor *x);  /**< s / x */
CLG_API clg_tensor *clg_pow_scalar(const clg_tensor *x, float s);   /**< x ^ s */
CLG_API clg_tensor *clg_maximum_scalar(const clg_tensor *x, float s);
CLG_API clg_tensor *clg_minimum_scalar(const clg_tensor *x, float s);
/** @} */
/** @} */

/** \defgroup ops_reduce Reductions (axes NULL with naxes 0: all axes)
 * @{ */
CLG_API clg_tensor *clg_sum(const clg_tensor *x, int naxes, const int *axes, int keepdims);
CLG_API clg_tensor *clg_mean(const clg_tensor *x, int naxes, const int *axes, int keepdims);
CLG_API clg_tensor *clg_max(const clg_tensor *x, int naxes, const int *axes, int keepdims);
CLG_API clg_tensor *clg_min(const clg_tensor *x, int naxes, const int *axes, int keepdims);
/** Variance with `correction` (0: population, 1: sample) as numpy's ddof. */
CLG_API clg_tensor *clg_var(const clg_tensor *x, int naxes, const int *axes, int keepdims,
                            int correction);
/** \name Arg max and arg min
 * Index of the first maximum/minimum along axis, int32, no gradient. */
/** @{ */
CLG_API clg_tensor *clg_argmax(const clg_tensor *x, int axis, int keepdims);
CLG_API clg_tensor *clg_argmin(const clg_tensor *x, int axis, int keepdims);
/** @} */
/** \name Softmax
 * Numerically stable (the maximum is subtracted first). */
/** @{ */
CLG_API clg_tensor *clg_softmax(const clg_tensor *x, int axis);
CLG_API clg_tensor *clg_log_softmax(const clg_tensor *x, int axis);
/** @} */
/** @} */

/** \defgroup ops_matmul Matrix products (CLBlast)
 * @{ */
/** a [M,K] (or [K,M] with trans_a) times b [K,N] (or [N,K] with trans_b). */
CLG_API clg_tensor *clg_matmul(const clg_tensor *a, const clg_tensor *b, int trans_a, int trans_b);
/** Batched: a [B,M,K], b [B,K,N] (each may be transposed in its last two axes). */
CLG_API clg_tensor *clg_matmul_batched(const clg_tensor *a, const clg_tensor *b, int trans_a,
                                       int trans_b);
/** The dense layer: x [N,in] @ w [in,out] + b [out] (b may be NULL). */
CLG_API clg_tensor *clg_linear(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b);
/** @} */

/** \defgroup ops_shape Shape ops (views where possible)
 * concat and stack take any dtype (a gradient for float32 only); pad, gather and
 * index_select take float32 or int32. Indices are checked on the device, never
 * by reading them back: an index outside its axis gives 0 and no gradient.
 * @{ */
/* clg_tensor_reshape, _slice, _permute and _transpose (tensor.h) are
 * differentiable too. */
CLG_API clg_tensor *clg_broadcast_to(const clg_tensor *x, int ndim, const int64_t *shape);
CLG_API clg_tensor *clg_squeeze(const clg_tensor *x, int axis);   /**< axis must have extent 1 */
CLG_API clg_tensor *clg_unsqueeze(const clg_tensor *x, int axis); /**< axis in [-ndim-1, ndim] */
CLG_API clg_tensor *clg_concat(int n, const clg_tensor *const *xs, int axis);
CLG_API clg_tensor *clg_stack(int n, const clg_tensor *const *xs, int axis);
/** Splits x along axis into n parts of sizes[i] (summing to the extent); writes n
 * new tensors (views) to out, or NULLs on failure. */
CLG_API clg_status clg_split(const clg_tensor *x, int axis, int n, const int64_t *sizes,
                             clg_tensor **out);
typedef enum clg_pad_mode { CLG_PAD_CONSTANT = 0, CLG_PAD_REFLECT = 1 } clg_pad_mode;
/** pads[2*i], pads[2*i+1]: elements added before and after axis i (>= 0;
 * reflect needs pads < extent). */
CLG_API clg_tensor *clg_pad(const clg_tensor *x, const int64_t *pads, clg_pad_mode mode,
                            float value);
/** out[..., i, ...] = x[..., index[..., i, ...], ...] along axis (torch.gather);
 * index is int32 with x's rank. */
CLG_API clg_tensor *clg_gather(const clg_tensor *x, int axis, const clg_tensor *index);
/** Rows (along axis) of x picked by a 1-D int32 index. */
CLG_API clg_tensor *clg_index_select(const clg_tensor *x, int axis, const clg_tensor *index);
/** float32 [..., num_classes] from int32 labels; no gradient. A label outside
 * [0, num_classes) gives an all-zero row. */
CLG_API clg_tensor *clg_one_hot(const clg_tensor *labels, int num_classes);
/** weight [V,D] rows picked by int32 indices of any shape: result [..., D]. The
 * gradient is scatter-added into weight deterministically (no atomics): D
 * work-items each walk the N indices in order, O(N D) work. */
CLG_API clg_tensor *clg_embedding(const clg_tensor *weight, const clg_tensor *indices);
/** @} */

/** \defgroup ops_losses Losses (mean over the batch, as Keras's default reduction)
 * Each returns a rank-0 tensor. An empty batch gives NaN; C = 0 is an error.
 * Labels are not read back to the host: a label outside [0, C) makes its row's
 * loss and gradient NaN (so a NaN check catches it).
 * @{ */
/** logits [N,C], labels int32 [N] in [0,C). label_smoothing in [0,1). */
CLG_API clg_tensor *clg_softmax_cross_entropy(const clg_tensor *logits, const clg_tensor *labels,
                                              float label_smoothing);
/** logits [N,C], targets float32 [N,C] (one-hot or distributions). */
CLG_API clg_tensor *clg_softmax_cross_entropy_onehot(const clg_tensor *logits,
                                                     const clg_tensor *targets,
                                                     float label_smoothing);
/** \name Cross-entropy on probabilities
 * On probabilities, as Keras's TensorFlow backend computes them: categorical
 * renormalises each row, clips to [1e-7, 1-1e-7] and takes -sum(t log p);
 * sparse clips, takes the log and treats it as logits. When probs is the direct
 * result of clg_softmax over the last axis (recorded in the graph), the stable
 * form on the softmax's input is used instead, so the pair is fused. */
/** @{ */
CLG_API clg_tensor *clg_sparse_categorical_cross_entropy(const clg_tensor *probs,
                                                         const clg_tensor *labels);
CLG_API clg_tensor *clg_categorical_cross_entropy(const clg_tensor *probs,
                                                  const clg_tensor *targets);
/** @} */
CLG_API clg_tensor *clg_binary_cross_entropy(const clg_tensor *probs, const clg_tensor *targets);
CLG_API clg_tensor *clg_binary_cross_entropy_logits(const clg_tensor *logits,
                                                    const clg_tensor *targets);
CLG_API clg_tensor *clg_mse(const clg_tensor *pred, const clg_tensor *target);
CLG_API clg_tensor *clg_mae(const clg_tensor *pred, const clg_tensor *target);
CLG_API clg_tensor *clg_huber(const clg_tensor *pred, const clg_tensor *target, float delta);
/** SimCLR's NT-Xent (normalised temperature-scaled cross-entropy): z [2N, D]
 * holds two views of N samples, rows i and i + N of sample i. Rows are scaled
 * to unit length, s_ij = z_i . z_j / temperature, and row i's loss is
 * -log(exp(s_ip) / sum_{j != i} exp(s_ij)) with p its pair; the mean over the
 * 2N rows. temperature >= 1e-4 (SimCLR: 0.5 for small batches). An odd or
 * zero row count, more than 8192 rows, or a rank other than 2, is an error
 * naming z. */
CLG_API clg_tensor *clg_nt_xent(const clg_tensor *z, float temperature);
/** @} */

/** Inverted dropout: zeroes each element with probability rate and scales the rest
 * by 1/(1-rate), from the device RNG stream (seed, offset). rate 0 returns x's
 * values. */
CLG_API clg_tensor *clg_dropout(const clg_tensor *x, float rate, uint64_t seed, uint64_t offset);
/** The same with the RNG offset kept in a device counter (see
 * clg_tensor_rand_uniform_counter), advanced by every call: the mask changes on
 * every replay of a captured step. */
CLG_API clg_tensor *clg_dropout_counter(const clg_tensor *x, float rate, uint64_t seed,
                                        clg_tensor *counter);

/** \defgroup ops_conv Convolution, pooling, normalisation (NCHW; NHWC at the API edge)
 * @{ */

typedef enum clg_padding {
    CLG_PADDING_VALID = 0,    /**< no padding */
    CLG_PADDING_SAME = 1,     /**< Keras 'same': out = ceil(in / stride); the odd extra goes after */
    CLG_PADDING_EXPLICIT = 2  /**< pad[] below */
} clg_padding;

typedef enum clg_layout {
    CLG_LAYOUT_NCHW = 0,      /**< [N, C, H, W] (native) */
    CLG_LAYOUT_NHWC = 1       /**< [N, H, W, C] (Keras): permuted views at the edge */
} clg_layout;

typedef enum clg_conv_algo {
    CLG_CONV_AUTO = 0,        /**< per shape: both timed once on first use and the winner
                                 kept in the per-device store (CLGRAD_CACHE_DIR); during a
                                 step capture (no timing possible) a heuristic */
    CLG_CONV_IM2COL = 1,      /**< im2col + GEMM */
    CLG_CONV_FFT = 2          /**< clFFT: stride 1, one group (any kernel, padding, dilation);
                                 other shapes are an error. Backward runs the im2col rules. */
} clg_conv_algo;

typedef struct clg_conv2d_params {
    int stride[2];            /**< (h, w), default 1 */
    int dilation[2];          /**< (h, w), default 1 */
    clg_padding padding;      /**< default VALID */
    int pad[4];               /**< EXPLICIT: top, bottom, left, right (>= 0) */
    int groups;               /**< default 1; in_channels for depthwise */
    clg_layout layout;        /**< of x and the result; weights are always [O, C/groups, KH, KW] */
    clg_conv_algo algo;
} clg_conv2d_params;
CLG_API clg_conv2d_params clg_conv2d_params_default(void);

/** x [N,C,H,W], w [O, C/groups, KH, KW], b [O] or NULL -> [N, O, OH, OW]. */
CLG_API clg_tensor *clg_conv2d(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b,
                               const clg_conv2d_params *p);
/** x [N,C,L], w [O, C/groups, K]: the (w) entries of stride, dilation and pad
 * (left, right) apply; layout NHWC means [N, L, C]. */
CLG_API clg_tensor *clg_conv1d(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b,
                               const clg_conv2d_params *p);
/** The gradient of conv2d with respect to its input, as a layer: x [N,C,H,W],
 * w [C, O/groups, KH, KW] -> [N, O, OH, OW] with OH = (H-1) s - pads + d (KH-1) + 1
 * + output_padding. 'same' gives OH = H * stride (Keras Conv2DTranspose). */
CLG_API clg_tensor *clg_conv2d_transpose(const clg_tensor *x, const clg_tensor *w,
                                         const clg_tensor *b, const clg_conv2d_params *p,
                                         const int output_padding[2]);

typedef struct clg_pool2d_params {
    int kernel[2];            /**< (h, w) */
    int stride[2];            /**< default: the kernel size (Keras) */
    clg_padding padding;      /**< VALID or SAME (or EXPLICIT with pad[]) */
    int pad[4];
    clg_layout layout;
} clg_pool2d_params;
CLG_API clg_pool2d_params clg_pool2d_params_default(int kh, int kw);
/** Max pooling; padded positions never win; ties go to the first position of the
 * window (row-major), gradient included. Explicit padding that leaves a window
 * entirely in the padding is an error. */
CLG_API clg_tensor *clg_max_pool2d(const clg_tensor *x, const clg_pool2d_params *p);
/** Average pooling over the positions inside the input (padding not counted, as Keras). */
CLG_API clg_tensor *clg_avg_pool2d(const clg_tensor *x, const clg_pool2d_params *p);
/** \name Global pooling
 * [N,C,H,W] (or NHWC) -> [N,C]. Global max shares the gradient among ties (it is
 * clg_max over the spatial axes). */
/** @{ */
CLG_API clg_tensor *clg_global_avg_pool2d(const clg_tensor *x, clg_layout layout);
CLG_API clg_tensor *clg_global_max_pool2d(const clg_tensor *x, clg_layout layout);
/** @} */
typedef enum clg_upsample_mode { CLG_UPSAMPLE_NEAREST = 0, CLG_UPSAMPLE_BILINEAR = 1 } clg_upsample_mode;
/** Scales H and W by integer factors (bilinear: half-pixel centres, as Keras
 * UpSampling2D(interpolation='bilinear')). */
CLG_API clg_tensor *clg_upsample2d(const clg_tensor *x, int scale_h, int scale_w,
                                   clg_upsample_mode mode, clg_layout layout);

/** Batch normalisation over every axis but the channel axis (1 in NCHW, the last
 * in NHWC or for 2-D [N,C] input). Training: normalises with the batch's mean and
 * (biased) variance and updates running_mean/running_var in place:
 * running = momentum * running + (1 - momentum) * batch (Keras: momentum 0.99,
 * eps 1e-3; the running variance takes the unbiased batch variance). Inference
 * (training 0): uses the running statistics. gamma/beta may be NULL (1 and 0). */
CLG_API clg_tensor *clg_batch_norm(const clg_tensor *x, const clg_tensor *gamma,
                                   const clg_tensor *beta, clg_tensor *running_mean,
                                   clg_tensor *running_var, int training, float momentum,
                                   float eps, clg_layout layout);
/** Layer normalisation over the last `naxes` axes; gamma/beta have those axes'
 * shape (or are NULL). */
CLG_API clg_tensor *clg_layer_norm(const clg_tensor *x, int naxes, const clg_tensor *gamma,
                                   const clg_tensor *beta, float eps);
/** Group normalisation of [N,C,...] in `groups` groups of channels; gamma/beta [C]. */
CLG_API clg_tensor *clg_group_norm(const clg_tensor *x, int groups, const clg_tensor *gamma,
                                   const clg_tensor *beta, float eps);
/** @} */

/** \defgroup ops_rnn Recurrent layers' operations
 * The whole-sequence operations under the LSTM, GRU and SimpleRNN layers, with
 * Keras's weights and semantics. All tensors are float32 and batch-major:
 * x [N,T,F], kernel [F, G*H], recurrent_kernel [H, G*H], states [N,H] (G = 4 for
 * LSTM, 3 for GRU, 1 for SimpleRNN). The result is the output sequence [N,T,H]
 * (a layer with return_sequences=False takes its last step).
 *
 * - bias, h0, c0 and mask may be NULL (no bias; zero initial states; no mask).
 * - mask [N,T]: nonzero keeps a step. At a masked step the states carry over
 *   unchanged and the output repeats the previous step's output, zeros before the
 *   first unmasked step (Keras's rnn() with zero_output_for_mask=False, its
 *   default). So for a row masked at every step the outputs are zeros while
 *   h_last is h0.
 * - go_backwards: the steps run from t = T-1 down to 0 and the outputs come in
 *   that processing order (output s belongs to time T-1-s), as Keras.
 * - h_last / c_last (may be NULL): receive the final states [N,H], new tensors
 *   owned by the caller (NULL when the call fails).
 *
 * Gradients reach x, kernel, recurrent_kernel, bias, h0 and c0 (not mask). One
 * GEMM projects the inputs of all steps; each step is one GEMM (h U) and one
 * fused kernel for the gates and the state update, and backward mirrors it, so
 * the ops work inside captured steps. Errors name the op and the tensor at fault.
 * @{ */
/** LSTM, gates i, f, c, o: i, f, o = sigmoid, c~ = tanh; c' = f c + i c~,
 * h' = o tanh(c'). bias [4H]. */
CLG_API clg_tensor *clg_lstm(const clg_tensor *x, const clg_tensor *kernel,
                             const clg_tensor *recurrent_kernel, const clg_tensor *bias,
                             const clg_tensor *h0, const clg_tensor *c0, const clg_tensor *mask,
                             int go_backwards, clg_tensor **h_last, clg_tensor **c_last);
/** GRU with reset_after=True (Keras's default), gates z, r, h. bias [2, 3H]: row 0
 * the input bias, row 1 the recurrent bias. z, r = sigmoid(x W + b_in + h U + b_rec)
 * per gate; hh = tanh(x W_h + b_in_h + r (h U_h + b_rec_h)); h' = z h + (1 - z) hh. */
CLG_API clg_tensor *clg_gru(const clg_tensor *x, const clg_tensor *kernel,
                            const clg_tensor *recurrent_kernel, const clg_tensor *bias,
                            const clg_tensor *h0, const clg_tensor *mask, int go_backwards,
                            clg_tensor **h_last);
/** SimpleRNN: h' = tanh(x W + b + h U). bias [H]. */
CLG_API clg_tensor *clg_simple_rnn(const clg_tensor *x, const clg_tensor *kernel,
                                   const clg_tensor *recurrent_kernel, const clg_tensor *bias,
                                   const clg_tensor *h0, const clg_tensor *mask, int go_backwards,
                                   clg_tensor **h_last);
/** @} */

/** \defgroup ops_attention Attention
 * The operations under attention layers: scaled dot-product attention over
 * heads, causal masks and sinusoidal position tables. All float32.
 *
 *     // q [B,H,Tq,D], k [B,H,Tk,D], v [B,H,Tk,Dv]
 *     clg_tensor *w = NULL;
 *     clg_tensor *o = clg_scaled_dot_product_attention(q, k, v, NULL, 1, 0.0f, 0.0f, 0, &w);
 *     // o [B,H,Tq,Dv]; w [B,H,Tq,Tk], each row sums to 1 over the attended keys
 * @{ */
/** softmax(mask(scale q k^T)) v for q [B,H,Tq,D], k [B,H,Tk,D], v [B,H,Tk,Dv];
 * returns [B,H,Tq,Dv], a new tensor owned by the caller, or NULL with the
 * reason in clg_last_error() (errors name the op and the tensor at fault: rank,
 * dtype, differing B, H, D or Tk, a mask that does not broadcast).
 *
 * - mask: NULL, or float32 broadcastable to [B,H,Tq,Tk] (any view; lazy is
 *   fine), nonzero = attend. causal (nonzero): query i attends keys
 *   j <= i + (Tk - Tq), so the last query sees every key (Tq < Tk: the queries
 *   are the last Tq positions). Both apply when both are given.
 * - Masked keys get -inf before the softmax, so their weight is exactly 0. A
 *   query with every key masked gets all-zero weights (not NaN) and so a zero
 *   output row and zero gradients.
 * - scale: 0 means 1/sqrt(D); any other finite value is used as it is.
 * - dropout_rate in [0, 1): inverted dropout on the weights before they
 *   multiply v (Keras's MultiHeadAttention; pass 0 outside training). The mask
 *   comes from clg_dropout(weights, rate, dropout_seed, 0): a captured step
 *   replays the same dropout mask, so vary the seed between eager calls.
 * - weights_out (may be NULL): receives the attention weights [B,H,Tq,Tk]
 *   before dropout, a new tensor owned by the caller (NULL on failure); they
 *   are in the graph, so a loss on them also reaches q and k.
 *
 * q k^T and the product with v are strided-batched GEMMs over B*H; scale, masks
 * and softmax are one kernel, with a one-kernel backward rule. Gradients reach
 * q, k and v (not the mask). Nothing is read back to the host, so it works
 * inside captured steps. */
CLG_API clg_tensor *clg_scaled_dot_product_attention(const clg_tensor *q, const clg_tensor *k,
                                                     const clg_tensor *v, const clg_tensor *mask,
                                                     int causal, float scale, float dropout_rate,
                                                     uint64_t dropout_seed, clg_tensor **weights_out);
/** float32 [tq, tk] with 1 where key j may be attended by query i
 * (j <= i + tk - tq, as the causal flag above) and 0 elsewhere; no gradient.
 * A new tensor owned by the caller, or NULL (negative sizes). */
CLG_API clg_tensor *clg_causal_mask(clg_context *ctx, int64_t tq, int64_t tk);
/** The transformer paper's position table, float32 [length, dim], no gradient:
 * column 2i holds sin(pos / 10000^(2i/dim)), column 2i+1 cos of the same angle
 * (an odd dim ends with a sine column). Computed in double and rounded once.
 * A new tensor owned by the caller, or NULL (negative sizes). */
CLG_API clg_tensor *clg_sinusoidal_positions(clg_context *ctx, int64_t length, int64_t dim);
/** @} */

CLG_END_DECLS

#endif
