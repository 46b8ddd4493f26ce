/* Losses and dropout. Every loss returns a rank-0 float32 tensor: the mean over
 * the batch (Keras's default reduction, sum_over_batch_size).
 *
 * The softmax cross-entropy on integer labels is one kernel (cl/loss.cl) with its
 * own backward rule; everything else is composed of lazy elementwise ops and
 * reductions, so it fuses and takes its gradient from their rules. */
#include <math.h>
#include <stdlib.h>

#include "common/error.h"
#include "graph/graph.h"

/* Keras's backend.epsilon(): probabilities are clipped to [EPS, 1 - EPS]. */
#define PROB_EPS 1e-7f

/* --- argument checks ----------------------------------------------------------------- */

static clg_status check_float(const char *api, const char *role, const clg_tensor *t) {
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", api, role);
    char d[220];
    if (t->dtype != CLG_FLOAT32)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s is %s; it must be float32", api,
                        role, clg_tensor_describe(t, d, sizeof d), clg_dtype_name(t->dtype));
    return CLG_OK;
}

static clg_status check_context(const char *api, const clg_tensor *a, const clg_tensor *b) {
    if (a->ctx != b->ctx)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: operands belong to different contexts",
                        api);
    return CLG_OK;
}

/* x is float32 [N,C] with C >= 1. */
static clg_status check_rows(const char *api, const char *role, const clg_tensor *x) {
    clg_status st = check_float(api, role, x);
    if (st != CLG_OK) return st;
    char d[220];
    if (x->ndim != 2)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s must have rank 2 [N,C]", api, role,
                        clg_tensor_describe(x, d, sizeof d));
    if (x->shape[1] == 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s has no classes", api, role,
                        clg_tensor_describe(x, d, sizeof d));
    return CLG_OK;
}

/* labels is int32 [N] for x [N,C]. */
static clg_status check_labels(const char *api, const char *role, const clg_tensor *x,
                               const clg_tensor *labels) {
    if (!labels) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: labels is NULL", api);
    char d[220], d2[220];
    if (labels->dtype != CLG_INT32)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: labels %s is %s; they must be int32", api,
                        clg_tensor_describe(labels, d, sizeof d), clg_dtype_name(labels->dtype));
    if (labels->ndim != 1 || labels->shape[0] != x->shape[0])
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                        "%s: labels %s do not match %s %s (labels must be [N] for [N,C])", api,
                        clg_tensor_describe(labels, d, sizeof d), role,
                        clg_tensor_describe(x, d2, sizeof d2));
    return check_context(api, x, labels);
}

static int same_shape(const clg_tensor *a, const clg_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* Both float32 with equal shapes (losses do not broadcast). */
static clg_status check_pair(const char *api, const char *role_a, const clg_tensor *a,
                             const char *role_b, const clg_tensor *b) {
    clg_status st = check_float(api, role_a, a);
    if (st == CLG_OK) st = check_float(api, role_b, b);
    if (st != CLG_OK) return st;
    char d[220], d2[220];
    if (!same_shape(a, b))
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: %s %s and %s %s must have the same shape",
                        api, role_a, clg_tensor_describe(a, d, sizeof d), role_b,
                        clg_tensor_describe(b, d2, sizeof d2));
    return check_context(api, a, b);
}

static clg_status check_smoothing(const char *api, float eps) {
    if (!(eps >= 0.0f && eps < 1.0f))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: label_smoothing %g is outside [0, 1)",
                        api, (double)eps);
    return CLG_OK;
}

/* --- composing lazy ops ------------------------------------------------------------------ */

/* Intermediate handles freed together; after a NULL later steps are skipped, so
 * the first error is the one kept. One op per K (nesting would pass NULL on). */

#define K(expr) (s.failed ? NULL : clg_scratch_keep(&s, (expr)))
/* The last step: its result is returned, not kept. */
#define LAST(expr) (s.failed ? NULL : (expr))

/* -mean over rows of sum_j t[r,j] * logp[r,j]; logp [N,C]. */
static clg_tensor *mean_neg_dot(const clg_tensor *t, const clg_tensor *logp) {
    clg_scratch s = {0};
    int axis = 1;
    clg_tensor *prod = K(clg_mul(t, logp));
    clg_tensor *rows = K(clg_sum(prod, 1, &axis, 0));
    clg_tensor *m = K(clg_mean(rows, 0, NULL, 0));
    clg_tensor *r = LAST(clg_neg(m));
    clg_scratch_drop(&s);
    return r;
}

/* --- softmax cross-entropy ------------------------------------------------------------ */

/* Checked arguments: logits [N,C], labels int32 [N]. One kernel gives the per-row
 * losses and log-sum-exps; the mean is a lazy op; the node keeps logits, labels
 * and the log-sum-exps for the backward kernel. */
static clg_tensor *xent_sparse(const char *api, const clg_tensor *logits, const clg_tensor *labels,
                               float eps) {
    clg_context *ctx = logits->ctx;
    if (clg_realize(logits) != CLG_OK || clg_realize(labels) != CLG_OK) return NULL;
    int64_t n = logits->shape[0];
    clg_tensor *rows = clg_tensor_alloc(ctx, CLG_FLOAT32, 1, &n, api);
    clg_tensor *lse = rows ? clg_tensor_alloc(ctx, CLG_FLOAT32, 1, &n, api) : NULL;
    clg_status st = lse ? CLG_OK : clg_last_status();
    if (st == CLG_OK && n > 0) {
        cl_kernel k;
        st = clg_kernel_get(ctx, "loss", NULL, "xent_forward", &k);
        cl_ulong xo = (cl_ulong)logits->offset, lo = (cl_ulong)labels->offset;
        cl_long rs = logits->strides[0], cs = logits->strides[1], ls = labels->strides[0];
        cl_ulong nr = (cl_ulong)n, nc = (cl_ulong)logits->shape[1];
        cl_float sm = eps;
        clg_arg args[] = {CLG_ARG_BUF(logits->buf), CLG_ARG(xo),  CLG_ARG(rs), CLG_ARG(cs),
                          CLG_ARG_BUF(labels->buf), CLG_ARG(lo),  CLG_ARG(ls), CLG_ARG(nr),
                          CLG_ARG(nc),              CLG_ARG(sm),  CLG_ARG_BUF(rows->buf),
                          CLG_ARG_BUF(lse->buf)};
        if (st == CLG_OK) st = clg_launch(ctx, k, (size_t)n, 12, args, api);
    }
    clg_tensor *out = NULL;
    if (st == CLG_OK) {
        int was = clg_grad_set_enabled(ctx, 0);
        out = clg_mean(rows, 0, NULL, 0);
        clg_grad_set_enabled(ctx, was);
    }
    const clg_tensor *ins[2] = {logits, labels};
    if (out && clg_needs_grad(2, ins)) {
        clg_gnode *node = clg_record(out, CLG_OP_SOFTMAX_XENT, 2, ins);
        if (!node) {
            clg_tensor_free(out);
            out = NULL;
        } else {
            node->saved[0] = clg_tensor_retain(logits);
            node->saved[1] = clg_tensor_retain(labels);
            node->saved[2] = clg_tensor_retain(lse);
            node->fattr[0] = eps;
        }
    }
    clg_tensor_free(rows);
    clg_tensor_free(lse);
    return out;
}

/* Checked arguments: logits [N,C], targets [N,C]. -mean(sum(t' * log_softmax(x)))
 * with t' = t (1 - eps) + eps / C; for targets summing to 1 per row the gradient
 * is (softmax(x) - t') / N. */
static clg_tensor *xent_dense(const clg_tensor *logits, const clg_tensor *targets, float eps) {
    clg_scratch s = {0};
    const clg_tensor *t = targets;
    if (eps != 0.0f) {
        clg_tensor *scaled = K(clg_mul_scalar(targets, 1.0f - eps));
        t = K(clg_add_scalar(scaled, eps / (float)logits->shape[1]));
    }
    clg_tensor *logp = K(clg_log_softmax(logits, 1));
    clg_tensor *r = LAST(mean_neg_dot(t, logp));
    clg_scratch_drop(&s);
    return r;
}

clg_tensor *clg_softmax_cross_entropy(const clg_tensor *logits, const clg_tensor *labels,
                                      float label_smoothing) {
    const char *api = "clg_softmax_cross_entropy";
    if (check_rows(api, "logits", logits) != CLG_OK ||
        check_labels(api, "logits", logits, labels) != CLG_OK ||
        check_smoothing(api, label_smoothing) != CLG_OK)
        return NULL;
    return xent_sparse(api, logits, labels, label_smoothing);
}

clg_tensor *clg_softmax_cross_entropy_onehot(const clg_tensor *logits, const clg_tensor *targets,
                                             float label_smoothing) {
    const char *api = "clg_softmax_cross_entropy_onehot";
    if (check_rows(api, "logits", logits) != CLG_OK ||
        check_pair(api, "logits", logits, "targets", targets) != CLG_OK ||
        check_smoothing(api, label_smoothing) != CLG_OK)
        return NULL;
    return xent_dense(logits, targets, label_smoothing);
}

/* --- cross-entropy on probabilities ------------------------------------------------------- */

/* The logits when probs is a recorded softmax over its last axis, else NULL. */
static const clg_tensor *softmax_input(const clg_tensor *probs) {
    const clg_gnode *n = probs->node;
    if (n && n->op == CLG_OP_SOFTMAX && n->iattr[0] == probs->ndim - 1 && n->inputs[0])
        return n->inputs[0];
    return NULL;
}

/* Keras on probabilities: p / sum(p) per row, clipped to [EPS, 1 - EPS], then
 * -mean(sum(t * log(p))). */
static clg_tensor *xent_probs(const clg_tensor *probs, const clg_tensor *targets) {
    clg_scratch s = {0};
    int axis = 1;
    clg_tensor *total = K(clg_sum(probs, 1, &axis, 1));
    clg_tensor *q = K(clg_div(probs, total));
    clg_tensor *clipped = K(clg_clamp(q, PROB_EPS, 1.0f - PROB_EPS));
    clg_tensor *logq = K(clg_log(clipped));
    clg_tensor *r = LAST(mean_neg_dot(targets, logq));
    clg_scratch_drop(&s);
    return r;
}

clg_tensor *clg_sparse_categorical_cross_entropy(const clg_tensor *probs,
                                                 const clg_tensor *labels) {
    const char *api = "clg_sparse_categorical_cross_entropy";
    if (check_rows(api, "probs", probs) != CLG_OK ||
        check_labels(api, "probs", probs, labels) != CLG_OK)
        return NULL;
    const clg_tensor *logits = softmax_input(probs);
    if (logits) return xent_sparse(api, logits, labels, 0.0f);
    /* As Keras's TensorFlow backend: clip, take the log, and treat the result as
     * logits (so the probabilities are renormalised after clipping). */
    clg_tensor *clipped = clg_clamp(probs, PROB_EPS, 1.0f - PROB_EPS);
    clg_tensor *log_p = clipped ? clg_log(clipped) : NULL;
    clg_tensor *r = log_p ? xent_sparse(api, log_p, labels, 0.0f) : NULL;
    clg_tensor_free(clipped);
    clg_tensor_free(log_p);
    return r;
}

clg_tensor *clg_categorical_cross_entropy(const clg_tensor *probs, const clg_tensor *targets) {
    const char *api = "clg_categorical_cross_entropy";
    if (check_rows(api, "probs", probs) != CLG_OK ||
        check_pair(api, "probs", probs, "targets", targets) != CLG_OK)
        return NULL;
    const clg_tensor *logits = softmax_input(probs);
    return logits ? xent_dense(logits, targets, 0.0f) : xent_probs(probs, targets);
}

/* --- elementwise losses (mean over every element) ---------------------------------------- */

clg_tensor *clg_binary_cross_entropy(const clg_tensor *probs, const clg_tensor *targets) {
    if (check_pair("clg_binary_cross_entropy", "probs", probs, "targets", targets) != CLG_OK)
        return NULL;
    clg_scratch s = {0};
    /* -(t log p + (1 - t) log(1 - p)), p clipped as Keras does. */
    clg_tensor *p = K(clg_clamp(probs, PROB_EPS, 1.0f - PROB_EPS));
    clg_tensor *log_p = K(clg_log(p));
    clg_tensor *pos = K(clg_mul(targets, log_p));
    clg_tensor *one_minus_t = K(clg_rsub_scalar(1.0f, targets));
    clg_tensor *one_minus_p = K(clg_rsub_scalar(1.0f, p));
    clg_tensor *log_1mp = K(clg_log(one_minus_p));
    clg_tensor *neg = K(clg_mul(one_minus_t, log_1mp));
    clg_tensor *sum = K(clg_add(pos, neg));
    clg_tensor *m = K(clg_mean(sum, 0, NULL, 0));
    clg_tensor *r = LAST(clg_neg(m));
    clg_scratch_drop(&s);
    return r;
}

clg_tensor *clg_binary_cross_entropy_logits(const clg_tensor *logits, const clg_tensor *targets) {
    const char *api = "clg_binary_cross_entropy_logits";
    if (check_pair(api, "logits", logits, "targets", targets) != CLG_OK) return NULL;
    clg_scratch s = {0};
    /* softplus(x) - x t: the softplus op is max(x, 0) + log1p(exp(-|x|)), stable for
     * any x, and its gradient sigmoid(x) gives sigmoid(x) - t. */
    clg_tensor *sp = K(clg_softplus(logits));
    clg_tensor *xt = K(clg_mul(logits, targets));
    clg_tensor *e = K(clg_sub(sp, xt));
    clg_tensor *r = LAST(clg_mean(e, 0, NULL, 0));
    clg_scratch_drop(&s);
    return r;
}

clg_tensor *clg_mse(const clg_tensor *pred, const clg_tensor *target) {
    if (check_pair("clg_mse", "pred", pred, "target", target) != CLG_OK) return NULL;
    clg_scratch s = {0};
    clg_tensor *diff = K(clg_sub(pred, target));
    clg_tensor *e = K(clg_square(diff));
    clg_tensor *r = LAST(clg_mean(e, 0, NULL, 0));
    clg_scratch_drop(&s);
    return r;
}

/* The gradient is sign(pred - target) / n: 0 where they are equal. */
clg_tensor *clg_mae(const clg_tensor *pred, const clg_tensor *target) {
    if (check_pair("clg_mae", "pred", pred, "target", target) != CLG_OK) return NULL;
    clg_scratch s = {0};
    clg_tensor *diff = K(clg_sub(pred, target));
    clg_tensor *e = K(clg_abs(diff));
    clg_tensor *r = LAST(clg_mean(e, 0, NULL, 0));
    clg_scratch_drop(&s);
    return r;
}

/* 0.5 e^2 where |e| <= delta, else delta (|e| - 0.5 delta), e = pred - target. */
clg_tensor *clg_huber(const clg_tensor *pred, const clg_tensor *target, float delta) {
    const char *api = "clg_huber";
    if (check_pair(api, "pred", pred, "target", target) != CLG_OK) return NULL;
    if (!(delta > 0.0f) || isinf(delta)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: delta %g must be positive and finite", api,
                 (double)delta);
        return NULL;
    }
    clg_scratch s = {0};
    clg_tensor *e = K(clg_sub(pred, target));
    clg_tensor *a = K(clg_abs(e));
    clg_tensor *limit = K(clg_constant(pred->ctx, delta));
    clg_tensor *inside = K(clg_le(a, limit));
    clg_tensor *sq = K(clg_square(e));
    clg_tensor *quad = K(clg_mul_scalar(sq, 0.5f));
    clg_tensor *excess = K(clg_sub_scalar(a, 0.5f * delta));
    clg_tensor *lin = K(clg_mul_scalar(excess, delta));
    clg_tensor *chosen = K(clg_where(inside, quad, lin));
    clg_tensor *r = LAST(clg_mean(chosen, 0, NULL, 0));
    clg_scratch_drop(&s);
    return r;
}

/* --- dropout ---------------------------------------------------------------------------- */

/* x * mask with mask = (u >= rate) / (1 - rate), u uniform in [0, 1) from the
 * stream (seed, offset). The mask is an operand outside the graph, so the MUL
 * rule gives the gradient g * mask; kept values are x * (1 / (1 - rate)) (the
 * scale rounded to float32 once, as tf.nn.dropout does). */
/* x * (u >= rate) / (1 - rate); u drawn with a host offset or a device counter. */
static clg_tensor *dropout_impl(const char *api, const clg_tensor *x, float rate, uint64_t seed,
                                uint64_t offset, clg_tensor *counter) {
    if (check_float(api, "x", x) != CLG_OK) return NULL;
    if (!(rate >= 0.0f && rate < 1.0f)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: rate %g is outside [0, 1)", api, (double)rate);
        return NULL;
    }
    if (rate == 0.0f) return clg_mul_scalar(x, 1.0f); /* a copy, still in the graph */
    clg_scratch s = {0};
    clg_tensor *u = K(counter ? clg_tensor_rand_uniform_counter(x->ctx, x->ndim, x->shape, 0.0f, 1.0f,
                                                                seed, counter)
                              : clg_tensor_rand_uniform(x->ctx, x->ndim, x->shape, 0.0f, 1.0f, seed,
                                                        offset));
    clg_tensor *threshold = K(clg_constant(x->ctx, rate));
    clg_tensor *kept = K(clg_ge(u, threshold));
    clg_tensor *mask = K(clg_mul_scalar(kept, 1.0f / (1.0f - rate)));
    clg_tensor *r = LAST(clg_mul(x, mask));
    clg_scratch_drop(&s);
    if (!r) clg_fail_wrap(clg_last_status(), "%s", api);
    return r;
}

clg_tensor *clg_dropout(const clg_tensor *x, float rate, uint64_t seed, uint64_t offset) {
    return dropout_impl("clg_dropout", x, rate, seed, offset, NULL);
}

clg_tensor *clg_dropout_counter(const clg_tensor *x, float rate, uint64_t seed, clg_tensor *counter) {
    if (!counter) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_dropout_counter: counter is NULL");
        return NULL;
    }
    return dropout_impl("clg_dropout_counter", x, rate, seed, 0, counter);
}

/* --- backward --------------------------------------------------------------------------- */

/* d loss / d logits = (softmax(x) - target) * g / N, one kernel from the saved
 * log-sum-exps. Labels get no gradient. */
clg_status clg_bw_softmax_xent(clg_gnode *n, const clg_tensor *out, const clg_tensor *g,
                               clg_tensor **gin) {
    (void)out;
    if (!n->inputs[0]) return CLG_OK;
    const char *what = "softmax cross-entropy backward";
    const clg_tensor *x = n->saved[0], *labels = n->saved[1], *lse = n->saved[2];
    clg_context *ctx = x->ctx;
    clg_status st = clg_realize(g);
    if (st != CLG_OK) return st;
    clg_tensor *dx = clg_tensor_alloc(ctx, CLG_FLOAT32, 2, x->shape, what);
    if (!dx) return clg_last_status();
    int64_t rows = x->shape[0], numel = rows * x->shape[1];
    if (numel > 0) {
        cl_kernel k;
        st = clg_kernel_get(ctx, "loss", NULL, "xent_backward", &k);
        cl_ulong xo = (cl_ulong)x->offset, lo = (cl_ulong)labels->offset, go = (cl_ulong)g->offset;
        cl_long rs = x->strides[0], cs = x->strides[1], ls = labels->strides[0];
        cl_ulong nr = (cl_ulong)rows, nc = (cl_ulong)x->shape[1];
        cl_float sm = n->fattr[0], inv_n = 1.0f / (float)rows;
        clg_arg args[] = {CLG_ARG_BUF(x->buf),      CLG_ARG(xo), CLG_ARG(rs), CLG_ARG(cs),
                          CLG_ARG_BUF(labels->buf), CLG_ARG(lo), CLG_ARG(ls),
                          CLG_ARG_BUF(lse->buf),    CLG_ARG_BUF(g->buf),      CLG_ARG(go),
                          CLG_ARG(nr),              CLG_ARG(nc), CLG_ARG(sm), CLG_ARG(inv_n),
                          CLG_ARG_BUF(dx->buf)};
        if (st == CLG_OK) st = clg_launch(ctx, k, (size_t)numel, 15, args, what);
    }
    if (st != CLG_OK) {
        clg_tensor_free(dx);
        return st;
    }
    gin[0] = dx;
    return CLG_OK;
}

/* Unused: clg_dropout is composed of lazy ops (x * mask) and takes its gradient
 * from the MUL rule; the op stays in the table for a future fused kernel. */
clg_status clg_bw_dropout(clg_gnode *n, const clg_tensor *out, const clg_tensor *g,
                          clg_tensor **gin) {
    (void)n;
    (void)out;
    (void)g;
    (void)gin;
    return clg_fail(CLG_STATUS_UNSUPPORTED,
                    "dropout has no backward rule of its own (it is composed of lazy ops)");
}

/* --- contrastive ------------------------------------------------------------------------------ */

clg_tensor *clg_nt_xent(const clg_tensor *z, float temperature) {
    const char *api = "clg_nt_xent";
    char d[220];
    if (!z) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: z is NULL", api);
        return NULL;
    }
    if (z->dtype != CLG_FLOAT32 || z->ndim != 2 || z->shape[0] < 2 || z->shape[0] % 2 || z->shape[1] < 1) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: z %s must be float32 [2N, D] with N, D >= 1 (rows i and i + N "
                 "the two views of sample i)", api, clg_tensor_describe(z, d, sizeof d));
        return NULL;
    }
    if (!(temperature >= 1e-4f) || !isfinite(temperature)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: temperature %g must be finite and >= 1e-4", api,
                 (double)temperature);
        return NULL;
    }
    const int64_t m = z->shape[0], half = m / 2;
    if (m > 8192) { /* the host mask and the similarity matrix are 2N x 2N */
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: z %s has more than 8192 rows (the similarity matrix is 2N x 2N)",
                 api, clg_tensor_describe(z, d, sizeof d));
        return NULL;
    }
    /* -inf on the diagonal drops s_ii from the softmax (whatever the
     * temperature); the labels are the pairs */
    float *mask = calloc((size_t)(m * m), sizeof *mask);
    int32_t *pair = malloc((size_t)m * sizeof *pair);
    if (!mask || !pair) {
        free(mask), free(pair);
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
        return NULL;
    }
    for (int64_t i = 0; i < m; i++) mask[i * m + i] = -INFINITY, pair[i] = (int32_t)(i < half ? i + half : i - half);
    clg_scratch s = {0};
    const int axis = 1;
    clg_tensor *sq = K(clg_mul(z, z));
    clg_tensor *ss = K(sq ? clg_sum(sq, 1, &axis, 1) : NULL);
    clg_tensor *ssp = K(ss ? clg_add_scalar(ss, 1e-12f) : NULL);
    clg_tensor *norm = K(ssp ? clg_sqrt(ssp) : NULL);
    clg_tensor *zn = K(norm ? clg_div(z, norm) : NULL);
    clg_tensor *sim = K(zn ? clg_matmul(zn, zn, 0, 1) : NULL);
    clg_tensor *scaled = K(sim ? clg_mul_scalar(sim, 1.0f / temperature) : NULL);
    clg_tensor *mt = K(clg_tensor_from_host(z->ctx, CLG_FLOAT32, 2, (int64_t[]){m, m}, mask));
    clg_tensor *lt = K(clg_tensor_from_host(z->ctx, CLG_INT32, 1, &m, pair));
    clg_tensor *logits = K(scaled && mt ? clg_add(scaled, mt) : NULL);
    clg_tensor *r = LAST(logits && lt ? clg_softmax_cross_entropy(logits, lt, 0.0f) : NULL);
    clg_scratch_drop(&s);
    free(mask), free(pair);
    if (!r) clg_fail_wrap(clg_last_status(), "%s", api);
    return r;
}
