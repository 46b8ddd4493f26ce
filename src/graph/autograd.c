/* Define-by-run autograd: nodes recorded by ops, and the backward walk. */
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/error.h"
#include "graph/graph.h"

static const char *const op_names[] = {
#define CLG_OP_NAME_(id, name, bw) name,
    CLG_OP_LIST(CLG_OP_NAME_)
#undef CLG_OP_NAME_
};
static const clg_backward_fn op_backward[] = {
#define CLG_OP_BW_(id, name, bw) bw,
    CLG_OP_LIST(CLG_OP_BW_)
#undef CLG_OP_BW_
};
_Static_assert(sizeof op_names / sizeof *op_names == CLG_OP_COUNT_, "op names out of step");
_Static_assert(sizeof op_backward / sizeof *op_backward == CLG_OP_COUNT_, "op rules out of step");

const char *clg_op_name(clg_op op) {
    return (unsigned)op < CLG_OP_COUNT_ ? op_names[op] : "unknown";
}

/* --- references and recording --------------------------------------------------------- */

clg_tensor *clg_tensor_retain(const clg_tensor *t) {
    clg_tensor *m = (clg_tensor *)t;
    if (m) m->refs++;
    return m;
}

int clg_grad_enabled(const clg_context *ctx) { return ctx->grad_disabled == 0; }

int clg_grad_set_enabled(clg_context *ctx, int enabled) {
    if (!ctx) return 0;
    int was = ctx->grad_disabled == 0;
    ctx->grad_disabled = enabled ? 0 : 1;
    return was;
}

static int tensor_needs_grad(const clg_tensor *t) { return t && (t->requires_grad || t->node); }

int clg_needs_grad(int n, const clg_tensor *const *inputs) {
    if (n <= 0 || !inputs[0] || !clg_grad_enabled(inputs[0]->ctx)) return 0;
    for (int i = 0; i < n; i++)
        if (tensor_needs_grad(inputs[i])) return 1;
    return 0;
}

clg_gnode *clg_record(clg_tensor *out, clg_op op, int n, const clg_tensor *const *inputs) {
    clg_gnode *node = calloc(1, sizeof *node);
    clg_tensor **ins = calloc((size_t)(n > 0 ? n : 1), sizeof *ins);
    if (!node || !ins) {
        free(node);
        free(ins);
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: recording the graph", clg_op_name(op));
        return NULL;
    }
    node->op = op;
    node->ninputs = n;
    node->inputs = ins;
    for (int i = 0; i < n; i++)
        ins[i] = tensor_needs_grad(inputs[i]) ? clg_tensor_retain(inputs[i]) : NULL;
    out->node = node;
    return node;
}

void clg_gnode_free(clg_gnode *node) {
    if (!node) return;
    for (int i = 0; i < node->ninputs; i++) clg_tensor_free(node->inputs[i]);
    for (int i = 0; i < 3; i++) clg_tensor_free(node->saved[i]);
    free(node->inputs);
    free(node);
}

/* --- parameters and gradients ------------------------------------------------------------ */

clg_status clg_tensor_set_requires_grad(clg_tensor *t, int requires_grad) {
    const char *api = "clg_tensor_set_requires_grad";
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
    char d[220];
    if (t->node)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: %s is the result of an op; only tensors made by the user can be "
                        "parameters (use clg_tensor_detach for a copy outside the graph)",
                        api, clg_tensor_describe(t, d, sizeof d));
    if (requires_grad && t->dtype != CLG_FLOAT32)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is %s; gradients need float32", api,
                        clg_tensor_describe(t, d, sizeof d), clg_dtype_name(t->dtype));
    t->requires_grad = requires_grad != 0;
    return CLG_OK;
}

int clg_tensor_requires_grad(const clg_tensor *t) { return tensor_needs_grad(t); }

const clg_tensor *clg_tensor_grad(const clg_tensor *t) { return t ? t->grad : NULL; }

clg_status clg_tensor_zero_grad(clg_tensor *t) {
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_zero_grad: tensor is NULL");
    clg_tensor_free(t->grad);
    t->grad = NULL;
    return CLG_OK;
}

clg_tensor *clg_tensor_detach(const clg_tensor *t) {
    if (!t) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_detach: tensor is NULL");
        return NULL;
    }
    if (clg_realize(t) != CLG_OK) return NULL;
    clg_tensor *d = clg_tensor_record(t->ctx, t->dtype, t->ndim, t->shape, "clg_tensor_detach");
    if (!d) return NULL;
    memcpy(d->strides, t->strides, sizeof d->strides);
    d->offset = t->offset;
    d->buf = t->buf;
    clg_buffer_retain(t->buf);
    return d;
}

clg_status clg_tensor_eval(const clg_tensor *t) {
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_tensor_eval: tensor is NULL");
    return clg_realize(t);
}

/* --- backward ----------------------------------------------------------------------------- */

typedef struct tensor_list {
    clg_tensor **items;
    size_t count, cap;
} tensor_list;

static int list_push(tensor_list *l, clg_tensor *t) {
    if (!CLG_RESERVE(l->items, l->cap, l->count + 1, 64)) return 0;
    l->items[l->count++] = t;
    return 1;
}

/* Post-order of the graph below root (inputs before the tensors made from them). */
static clg_status topo_order(clg_tensor *root, tensor_list *order) {
    clg_context *ctx = root->ctx;
    unsigned epoch = ++ctx->visit_epoch;
    tensor_list stack = {0};
    tensor_list child_pos = {0}; /* per stack entry: next input to visit, stored as pointer-int */
    clg_status st = CLG_OK;
    if (!list_push(&stack, root) || !list_push(&child_pos, NULL)) goto oom;
    root->visit = epoch;
    while (stack.count) {
        clg_tensor *t = stack.items[stack.count - 1];
        size_t next = (size_t)(uintptr_t)child_pos.items[stack.count - 1];
        clg_gnode *n = t->node;
        if (n && next < (size_t)n->ninputs) {
            child_pos.items[stack.count - 1] = (clg_tensor *)(uintptr_t)(next + 1);
            clg_tensor *in = n->inputs[next];
            if (in && in->visit != epoch) {
                in->visit = epoch;
                if (!list_push(&stack, in) || !list_push(&child_pos, NULL)) goto oom;
            }
            continue;
        }
        stack.count--;
        child_pos.count--;
        if (!list_push(order, clg_tensor_retain(t))) {
            clg_tensor_free(t);
            goto oom;
        }
    }
    goto done;
oom:
    st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_backward: ordering the graph");
done:
    free(stack.items);
    free(child_pos.items);
    return st;
}

static clg_status accumulate(clg_tensor **slot, clg_tensor *g) {
    if (!*slot) {
        *slot = g;
        return CLG_OK;
    }
    clg_tensor *sum = clg_add(*slot, g);
    clg_tensor_free(g);
    if (!sum) return clg_last_status();
    clg_tensor_free(*slot);
    *slot = sum;
    return CLG_OK;
}

static int same_shape(const clg_tensor *a, const clg_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

clg_status clg_backward(const clg_tensor *croot, const clg_tensor *seed) {
    const char *api = "clg_backward";
    clg_tensor *root = (clg_tensor *)croot;
    char d[220], d2[220];
    if (!root) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: root is NULL", api);
    if (!tensor_needs_grad(root))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: %s does not depend on any tensor that requires a gradient", api,
                        clg_tensor_describe(root, d, sizeof d));
    clg_context *ctx = root->ctx;
    clg_tensor *g0;
    if (seed) {
        if (!same_shape(seed, root) || seed->dtype != CLG_FLOAT32 || seed->ctx != ctx)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: seed %s does not match root %s", api,
                            clg_tensor_describe(seed, d2, sizeof d2),
                            clg_tensor_describe(root, d, sizeof d));
        g0 = clg_tensor_retain(seed);
    } else {
        if (clg_tensor_numel(root) != 1)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: %s has more than one element; pass a seed gradient", api,
                            clg_tensor_describe(root, d, sizeof d));
        g0 = clg_tensor_ones(ctx, CLG_FLOAT32, root->ndim, root->shape);
        if (!g0) return clg_last_status();
    }

    tensor_list order = {0};
    clg_status st = topo_order(root, &order);
    int was = clg_grad_set_enabled(ctx, 0);
    root->grad_acc = g0;
    for (size_t k = order.count; st == CLG_OK && k-- > 0;) {
        clg_tensor *t = order.items[k];
        clg_tensor *g = t->grad_acc;
        if (!g) continue;
        clg_gnode *n = t->node;
        if (n) {
            clg_tensor *grad_in[64] = {0};
            clg_tensor **gin = n->ninputs <= 64 ? grad_in : calloc((size_t)n->ninputs, sizeof *gin);
            if (!gin) {
                st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s", api);
                break;
            }
            st = op_backward[n->op](n, t, g, gin);
            if (st != CLG_OK) clg_fail_wrap(st, "%s: backward of %s", api, clg_op_name(n->op));
            for (int i = 0; i < n->ninputs; i++) {
                clg_tensor *in = n->inputs[i];
                if (st == CLG_OK && in && gin[i]) {
                    if (!same_shape(in, gin[i]))
                        st = clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                                      "%s: backward of %s gave gradient %s for input %s", api,
                                      clg_op_name(n->op), clg_tensor_describe(gin[i], d2, sizeof d2),
                                      clg_tensor_describe(in, d, sizeof d));
                    else {
                        st = accumulate(&in->grad_acc, gin[i]);
                        gin[i] = NULL;
                    }
                }
                clg_tensor_free(gin[i]);
            }
            if (gin != grad_in) free(gin);
        }
        if (st == CLG_OK && t->requires_grad) {
            clg_tensor *acc = t->grad_acc;
            t->grad_acc = NULL;
            st = accumulate(&t->grad, acc);
            if (st == CLG_OK) st = clg_realize(t->grad);
        }
    }
    clg_grad_set_enabled(ctx, was);
    /* Release the graph (and the running gradients) below root. */
    for (size_t k = 0; k < order.count; k++) {
        clg_tensor *t = order.items[k];
        clg_tensor_free(t->grad_acc);
        t->grad_acc = NULL;
        clg_gnode_free(t->node);
        t->node = NULL;
    }
    for (size_t k = 0; k < order.count; k++) clg_tensor_free(order.items[k]);
    free(order.items);
    return st;
}

/* --- helpers shared by ops ------------------------------------------------------------------ */

clg_tensor *clg_scratch_keep(clg_scratch *s, clg_tensor *t) {
    if (!t) {
        s->failed = 1;
    } else if (s->n == CLG_SCRATCH_MAX) { /* a composition longer than the scratch: a bug */
        clg_tensor_free(t);
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "internal: scratch of %d tensors exhausted", CLG_SCRATCH_MAX);
        s->failed = 1;
        t = NULL;
    } else {
        s->t[s->n++] = t;
    }
    return t;
}

void clg_scratch_drop(clg_scratch *s) {
    for (int i = 0; i < s->n; i++) clg_tensor_free(s->t[i]);
    s->n = 0;
}

clg_status clg_broadcast_shapes(const char *api, int na, const int64_t *a, int nb, const int64_t *b,
                                int *ndim, int64_t *out) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = i - (n - na), ib = i - (n - nb);
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char s1[200], s2[200];
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: shapes %s and %s do not broadcast", api,
                            clg_shape_format(na, a, s1, sizeof s1), clg_shape_format(nb, b, s2, sizeof s2));
        }
        out[i] = da == 1 ? db : da;
    }
    *ndim = n;
    return CLG_OK;
}

clg_status clg_axes_mask(const char *api, const clg_tensor *x, int naxes, const int *axes,
                         unsigned *mask) {
    *mask = 0;
    if (naxes == 0) {
        *mask = (1u << x->ndim) - 1u;
        return CLG_OK;
    }
    char d[220];
    if (naxes < 0 || !axes)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %d axes given with %s list", api, naxes,
                        axes ? "an axis" : "a NULL");
    for (int i = 0; i < naxes; i++) {
        int a = axes[i] < 0 ? axes[i] + x->ndim : axes[i];
        if (a < 0 || a >= x->ndim)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: axis %d is out of range for %s", api,
                            axes[i], clg_tensor_describe(x, d, sizeof d));
        if (*mask & (1u << a))
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: axis %d repeated for %s", api, axes[i],
                            clg_tensor_describe(x, d, sizeof d));
        *mask |= 1u << a;
    }
    return CLG_OK;
}

clg_tensor *clg_sum_to_shape(const clg_tensor *g, int ndim, const int64_t *shape) {
    int lead = g->ndim - ndim;
    int axes[CLG_MAX_DIMS], n = 0;
    for (int i = 0; i < g->ndim; i++) {
        int si = i - lead;
        if (si < 0 || (shape[si] == 1 && g->shape[i] != 1)) axes[n++] = i;
    }
    clg_tensor *s = n ? clg_sum(g, n, axes, 1) : clg_tensor_retain(g);
    if (!s) return NULL;
    if (s->ndim == ndim) {
        int same = 1;
        for (int i = 0; i < ndim; i++) same &= s->shape[i] == shape[i];
        if (same) return s;
    }
    clg_tensor *r = clg_tensor_reshape(s, ndim, shape);
    clg_tensor_free(s);
    return r;
}
