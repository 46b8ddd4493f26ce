/* Recurrent layers' operations: LSTM, GRU (reset_after) and SimpleRNN over a
 * whole sequence.
 *
 * Forward, for x [N,T,F]:
 *   XP = reshape(x, [N*T, F]) @ kernel      one GEMM for every step (a matmul
 *                                           node: its rule gives dx and dW)
 *   per step s (time t = s, or T-1-s going backwards):
 *     R = h_{s-1} @ U                       one GEMM (skipped at step 0 without h0)
 *     <cell>_step                           one kernel (cl/rnn.cl): bias, gates,
 *                                           state update, mask, the output, and
 *                                           the record backward needs
 * The record ws [N,T,S] also carries the state from step to step: step s writes
 * h_s into the h_prev slot of step s+1, where the next GEMM reads it in place.
 * One node (CLG_OP_LSTM, _GRU, _SIMPLE_RNN) on the output keeps ws and U; its
 * inputs are XP, U, bias, h0 (and c0).
 *
 * The node's output holds the sequence [N,T,H] and, when the caller asks for the
 * final states, h_last (and c_last) after it in one flat buffer; the public
 * results are views of it, so their gradients meet in one tensor for the rule.
 *
 * Backward, per step in reverse:
 *   <cell>_step_grad                        one kernel: the gradient of the
 *                                           pre-activations D of the step, and
 *                                           the carried dh (without the U part), dc
 *   GH = D_s @ U^T                          one GEMM, read by the next kernel
 * then, over all steps at once: dU = Hprev^T @ D (one GEMM reading h_prev in ws),
 * db = column sums of D (one reduction), dXP = D (the matmul node turns it into
 * dx = D W^T and dW = X^T D, one GEMM each), dh0 = dh + GH, dc0 = dc. For GRU the
 * recurrent part of D differs in gate h (r times the input part), so D holds two
 * blocks [2, N*T, 3H]: the input part for dXP and b_in, the recurrent part for
 * dU, dh and b_rec.
 *
 * Everything runs through clg_launch and clg_matmul, so captured steps record it,
 * and nothing reads the device from the host. */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph.h"
#include "runtime/runtime_impl.h"

typedef enum { CELL_LSTM = 0, CELL_GRU = 1, CELL_SIMPLE = 2 } cell_kind;

typedef struct cell_info {
    const char *api;
    clg_op op;
    int gates;        /* G / H */
    int slots;        /* S = slots H + 2 floats of record per (n, t) */
    const char *step, *step_grad;
} cell_info;

static const cell_info cells[3] = {
    {"clg_lstm", CLG_OP_LSTM, 4, 7, "lstm_step", "lstm_step_grad"},
    {"clg_gru", CLG_OP_GRU, 3, 5, "gru_step", "gru_step_grad"},
    {"clg_simple_rnn", CLG_OP_SIMPLE_RNN, 1, 2, "simple_rnn_step", "simple_rnn_step_grad"},
};

/* Node attributes. */
enum { A_KIND, A_N, A_T, A_H, A_BACK, A_STATES };

/* A float32 view onto buf (a new record holding a reference to buf). */
static clg_tensor *buffer_view(clg_context *ctx, clg_buffer *buf, int nd, const int64_t *shape,
                               const int64_t *strides, int64_t offset, const char *api) {
    clg_tensor *v = clg_tensor_record(ctx, CLG_FLOAT32, nd, shape, api);
    if (!v) return NULL;
    memcpy(v->strides, strides, (size_t)nd * sizeof *strides);
    v->offset = offset;
    v->buf = buf;
    clg_buffer_retain(buf);
    return v;
}

/* t evaluated and contiguous (a new reference), outside the graph. */
static clg_tensor *dense(const clg_tensor *t) {
    if (clg_realize(t) != CLG_OK) return NULL;
    return clg_tensor_is_contiguous(t) ? clg_tensor_retain(t) : clg_tensor_contiguous(t);
}

/* --- checks ------------------------------------------------------------------------ */

/* t (required or optional) must be float32 on x's context with exactly `shape`. */
static clg_status check_tensor(const char *api, const char *what, const clg_tensor *t, int required,
                               const clg_tensor *x, int nd, const int64_t *shape) {
    char d[220], s[160];
    if (!t)
        return required ? clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", api, what) : CLG_OK;
    if (t->dtype != CLG_FLOAT32)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s is %s; recurrent layers take float32",
                        api, what, clg_tensor_describe(t, d, sizeof d), clg_dtype_name(t->dtype));
    if (x && t->ctx != x->ctx)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s is on another context than x", api,
                        what, clg_tensor_describe(t, d, sizeof d));
    int same = t->ndim == nd;
    for (int i = 0; same && i < nd; i++) same = t->shape[i] == shape[i];
    if (!same)
        return clg_fail(nd == t->ndim ? CLG_STATUS_SHAPE_MISMATCH : CLG_STATUS_INVALID_ARGUMENT,
                        "%s: %s %s does not fit (expected %s)", api, what,
                        clg_tensor_describe(t, d, sizeof d), clg_shape_format(nd, shape, s, sizeof s));
    return CLG_OK;
}

/* The sizes N, T, F, H from x and kernel, and the checks of every input. */
static clg_status check_inputs(const cell_info *ci, const clg_tensor *x, const clg_tensor *w,
                               const clg_tensor *u, const clg_tensor *b, const clg_tensor *h0,
                               const clg_tensor *c0, const clg_tensor *mask, int64_t *dims) {
    const char *api = ci->api;
    char d[220], dw[220];
    if (!x) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: x is NULL", api);
    if (x->dtype != CLG_FLOAT32)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: x %s is %s; recurrent layers take float32",
                        api, clg_tensor_describe(x, d, sizeof d), clg_dtype_name(x->dtype));
    if (x->ndim != 3)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: x %s has rank %d; expected [N,T,F]", api,
                        clg_tensor_describe(x, d, sizeof d), x->ndim);
    int64_t N = x->shape[0], T = x->shape[1], F = x->shape[2];
    if (N < 1 || T < 1 || F < 1)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: x %s is empty; it needs at least one sample, step and feature", api,
                        clg_tensor_describe(x, d, sizeof d));
    if (!w) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: kernel is NULL", api);
    if (w->dtype != CLG_FLOAT32 || w->ndim != 2 || w->shape[0] != F || w->shape[1] < ci->gates ||
        w->shape[1] % ci->gates != 0)
        return clg_fail(w->dtype != CLG_FLOAT32 || w->ndim != 2 ? CLG_STATUS_INVALID_ARGUMENT
                                                                 : CLG_STATUS_SHAPE_MISMATCH,
                        "%s: kernel %s %s does not fit x %s (expected float32 [%lld, %d*units])",
                        api, clg_tensor_describe(w, dw, sizeof dw), clg_dtype_name(w->dtype),
                        clg_tensor_describe(x, d, sizeof d), (long long)F, ci->gates);
    int64_t G = w->shape[1], H = G / ci->gates;
    clg_status st = check_tensor(api, "kernel", w, 1, x, 2, (int64_t[]){F, G});
    if (st == CLG_OK) st = check_tensor(api, "recurrent_kernel", u, 1, x, 2, (int64_t[]){H, G});
    if (st == CLG_OK) {
        if (ci->op == CLG_OP_GRU) st = check_tensor(api, "bias", b, 0, x, 2, (int64_t[]){2, G});
        else st = check_tensor(api, "bias", b, 0, x, 1, &G);
    }
    if (st == CLG_OK) st = check_tensor(api, "h0", h0, 0, x, 2, (int64_t[]){N, H});
    if (st == CLG_OK) st = check_tensor(api, "c0", c0, 0, x, 2, (int64_t[]){N, H});
    if (st == CLG_OK) st = check_tensor(api, "mask", mask, 0, x, 2, (int64_t[]){N, T});
    dims[0] = N;
    dims[1] = T;
    dims[2] = F;
    dims[3] = H;
    return st;
}

/* --- forward ---------------------------------------------------------------------------- */

/* The per-step loop (recording off): fills ws and out. xp, b, h0, c0, mask are
 * dense (b, h0, c0, mask may be NULL). */
static clg_status run_steps(const cell_info *ci, const clg_tensor *xp, const clg_tensor *u,
                            const clg_tensor *b, const clg_tensor *h0, const clg_tensor *c0,
                            const clg_tensor *mask, clg_tensor *ws, clg_tensor *out, int64_t N,
                            int64_t T, int64_t H, int back, int states) {
    clg_context *ctx = xp->ctx;
    const char *api = ci->api;
    int64_t S = ci->slots * H + 2;
    cl_kernel k;
    clg_status st = clg_kernel_get(ctx, "rnn", NULL, ci->step, &k);
    for (int64_t s = 0; st == CLG_OK && s < T; s++) {
        int64_t t = back ? T - 1 - s : s;
        /* h_{s-1}: h0 at step 0, else the h_prev slot of this step in ws. */
        clg_tensor *hview = NULL, *rec = NULL;
        if (s > 0)
            hview = buffer_view(ctx, ws->buf, 2, (int64_t[]){N, H}, (int64_t[]){T * S, 1}, t * S, api);
        else if (h0)
            hview = clg_tensor_retain(h0);
        if (s > 0 && !hview) st = clg_last_status();
        if (st == CLG_OK && hview) {
            rec = clg_matmul(hview, u, 0, 0);
            if (!rec) st = clg_last_status();
        }
        const clg_tensor *hsrc = s > 0 ? ws : h0, *csrc = s > 0 ? ws : c0;
        cl_ulong4 dims = {{(cl_ulong)N, (cl_ulong)T, (cl_ulong)H, (cl_ulong)s}};
        cl_ulong8 offs = {{(cl_ulong)xp->offset, b ? (cl_ulong)b->offset : 0,
                           s > 0 ? (cl_ulong)(t * S) : h0 ? (cl_ulong)h0->offset : 0,
                           s > 0 ? (cl_ulong)(T * S) : (cl_ulong)H,
                           s > 0 ? (cl_ulong)(t * S + H) : c0 ? (cl_ulong)c0->offset : 0,
                           s > 0 ? (cl_ulong)(T * S) : (cl_ulong)H,
                           mask ? (cl_ulong)mask->offset : 0, 0}};
        cl_int8 flags = {{back, rec != NULL, b != NULL, hsrc != NULL, csrc != NULL, mask != NULL,
                          states, 0}};
        /* Absent operands are never read; any valid buffer fills their place. */
        clg_buffer *dummy = ws->buf;
        clg_arg args[] = {CLG_ARG_BUF(xp->buf),
                          CLG_ARG_BUF(rec ? rec->buf : dummy),
                          CLG_ARG_BUF(b ? b->buf : dummy),
                          CLG_ARG_BUF(hsrc ? hsrc->buf : dummy),
                          CLG_ARG_BUF(csrc ? csrc->buf : dummy),
                          CLG_ARG_BUF(mask ? mask->buf : dummy),
                          CLG_ARG_BUF(ws->buf),
                          CLG_ARG_BUF(out->buf),
                          CLG_ARG(dims),
                          CLG_ARG(offs),
                          CLG_ARG(flags)};
        if (st == CLG_OK) st = clg_launch(ctx, k, (size_t)(N * H), 11, args, api);
        clg_tensor_free(rec);
        clg_tensor_free(hview);
    }
    return st;
}

static clg_tensor *rnn_forward(cell_kind kind, const clg_tensor *x, const clg_tensor *w,
                               const clg_tensor *u, const clg_tensor *b, const clg_tensor *h0,
                               const clg_tensor *c0, const clg_tensor *mask, int back,
                               clg_tensor **h_last, clg_tensor **c_last) {
    const cell_info *ci = &cells[kind];
    const char *api = ci->api;
    if (h_last) *h_last = NULL;
    if (c_last) *c_last = NULL;
    int64_t dims[4] = {0, 0, 0, 0};
    if (check_inputs(ci, x, w, u, b, h0, c0, mask, dims) != CLG_OK) return NULL;
    int64_t N = dims[0], T = dims[1], F = dims[2], H = dims[3];
    int64_t S = ci->slots * H + 2;
    int nstates = kind == CELL_LSTM ? 2 : 1;
    int states = h_last || c_last;
    clg_context *ctx = x->ctx;

    /* The input projection of every step: a recorded matmul, so its rule gives
     * dx and dW from dXP. */
    clg_tensor *x2 = clg_tensor_reshape(x, 2, (int64_t[]){N * T, F});
    clg_tensor *xp = x2 ? clg_matmul(x2, w, 0, 0) : NULL;
    clg_tensor_free(x2);
    if (!xp) return NULL;

    int was = clg_grad_set_enabled(ctx, 0);
    clg_tensor *bd = NULL, *h0d = NULL, *c0d = NULL, *md = NULL, *ws = NULL, *out = NULL;
    clg_status st = clg_realize(u);
    if (st == CLG_OK && b && !(bd = dense(b))) st = clg_last_status();
    if (st == CLG_OK && h0 && !(h0d = dense(h0))) st = clg_last_status();
    if (st == CLG_OK && c0 && kind == CELL_LSTM && !(c0d = dense(c0))) st = clg_last_status();
    if (st == CLG_OK && mask && !(md = dense(mask))) st = clg_last_status();
    if (st == CLG_OK && !(ws = clg_tensor_alloc(ctx, CLG_FLOAT32, 3, (int64_t[]){N, T, S}, api)))
        st = clg_last_status();
    if (st == CLG_OK) {
        int64_t flat = N * T * H + (states ? nstates * N * H : 0);
        out = states ? clg_tensor_alloc(ctx, CLG_FLOAT32, 1, &flat, api)
                     : clg_tensor_alloc(ctx, CLG_FLOAT32, 3, (int64_t[]){N, T, H}, api);
        if (!out) st = clg_last_status();
    }
    if (st == CLG_OK) st = run_steps(ci, xp, u, bd, h0d, c0d, md, ws, out, N, T, H, back, states);
    clg_grad_set_enabled(ctx, was);

    const clg_tensor *ins[5] = {xp, u, b, h0, kind == CELL_LSTM ? c0 : NULL};
    if (st == CLG_OK && clg_needs_grad(5, ins)) {
        clg_gnode *n = clg_record(out, ci->op, kind == CELL_LSTM ? 5 : 4, ins);
        if (!n) {
            st = clg_last_status();
        } else {
            n->saved[0] = clg_tensor_retain(ws);
            n->saved[1] = clg_tensor_retain(u);
            n->iattr[A_KIND] = kind;
            n->iattr[A_N] = N;
            n->iattr[A_T] = T;
            n->iattr[A_H] = H;
            n->iattr[A_BACK] = back;
            n->iattr[A_STATES] = states;
        }
    }
    clg_tensor *seq = NULL;
    if (st == CLG_OK && !states) {
        seq = out;
        out = NULL;
    } else if (st == CLG_OK) {
        /* Views of the flat result (recorded, so gradients flow back into it). */
        int64_t NTH = N * T * H, NH = N * H;
        clg_tensor *parts[3] = {NULL, NULL, NULL};
        int64_t starts[3] = {0, NTH, NTH + NH}, sizes[3] = {NTH, NH, NH};
        int64_t shapes[3][3] = {{N, T, H}, {N, H, 0}, {N, H, 0}};
        int nparts = 1 + nstates;
        for (int i = 0; st == CLG_OK && i < nparts; i++) {
            if (i == 1 && !h_last) continue;
            if (i == 2 && !c_last) continue;
            clg_tensor *sl = clg_tensor_slice(out, 0, starts[i], starts[i] + sizes[i], 1);
            parts[i] = sl ? clg_tensor_reshape(sl, i == 0 ? 3 : 2, shapes[i]) : NULL;
            clg_tensor_free(sl);
            if (!parts[i]) st = clg_last_status();
        }
        if (st == CLG_OK) {
            seq = parts[0];
            if (h_last) *h_last = parts[1];
            if (c_last) *c_last = parts[2];
        } else {
            for (int i = 0; i < 3; i++) clg_tensor_free(parts[i]);
        }
    }
    if (st != CLG_OK) {
        char d[220];
        clg_fail_wrap(st, "%s: x %s, %lld units", api, clg_tensor_describe(x, d, sizeof d),
                      (long long)H);
    }
    clg_tensor_free(out);
    clg_tensor_free(ws);
    clg_tensor_free(md);
    clg_tensor_free(c0d);
    clg_tensor_free(h0d);
    clg_tensor_free(bd);
    clg_tensor_free(xp);
    return seq;
}

clg_tensor *clg_lstm(const clg_tensor *x, const clg_tensor *kernel, const clg_tensor *recurrent_kernel,
                     const clg_tensor *bias, const clg_tensor *h0, const clg_tensor *c0,
                     const clg_tensor *mask, int go_backwards, clg_tensor **h_last,
                     clg_tensor **c_last) {
    return rnn_forward(CELL_LSTM, x, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards != 0,
                       h_last, c_last);
}

clg_tensor *clg_gru(const clg_tensor *x, const clg_tensor *kernel, const clg_tensor *recurrent_kernel,
                    const clg_tensor *bias, const clg_tensor *h0, const clg_tensor *mask,
                    int go_backwards, clg_tensor **h_last) {
    return rnn_forward(CELL_GRU, x, kernel, recurrent_kernel, bias, h0, NULL, mask, go_backwards != 0,
                       h_last, NULL);
}

clg_tensor *clg_simple_rnn(const clg_tensor *x, const clg_tensor *kernel,
                           const clg_tensor *recurrent_kernel, const clg_tensor *bias,
                           const clg_tensor *h0, const clg_tensor *mask, int go_backwards,
                           clg_tensor **h_last) {
    return rnn_forward(CELL_SIMPLE, x, kernel, recurrent_kernel, bias, h0, NULL, mask,
                       go_backwards != 0, h_last, NULL);
}

/* --- backward ------------------------------------------------------------------------------ */

static clg_status bw_rnn(clg_gnode *n, const clg_tensor *g, clg_tensor **gin) {
    cell_kind kind = (cell_kind)n->iattr[A_KIND];
    const cell_info *ci = &cells[kind];
    const char *api = clg_op_name(n->op);
    int64_t N = n->iattr[A_N], T = n->iattr[A_T], H = n->iattr[A_H];
    int back = (int)n->iattr[A_BACK], states = (int)n->iattr[A_STATES];
    int64_t G = ci->gates * H, S = ci->slots * H + 2;
    const clg_tensor *ws = n->saved[0], *u = n->saved[1];
    clg_context *ctx = ws->ctx;
    int want_h0 = n->inputs[3] != NULL, want_c0 = n->ninputs > 4 && n->inputs[4] != NULL;
    /* GRU: [input part; recurrent part]; the others share one block. */
    int64_t rec_off = kind == CELL_GRU ? N * T * G : 0;

    clg_tensor *gd = NULL, *dpre = NULL, *dh = NULL, *dc = NULL, *gh = NULL;
    clg_status st = CLG_OK;
    if (!(gd = dense(g))) st = clg_last_status();
    if (st == CLG_OK) {
        dpre = kind == CELL_GRU ? clg_tensor_alloc(ctx, CLG_FLOAT32, 3, (int64_t[]){2, N * T, G}, api)
                                : clg_tensor_alloc(ctx, CLG_FLOAT32, 2, (int64_t[]){N * T, G}, api);
        dh = clg_tensor_alloc(ctx, CLG_FLOAT32, 2, (int64_t[]){N, H}, api);
        if (kind == CELL_LSTM) dc = clg_tensor_alloc(ctx, CLG_FLOAT32, 2, (int64_t[]){N, H}, api);
        if (!dpre || !dh || (kind == CELL_LSTM && !dc)) st = clg_last_status();
    }
    cl_kernel k;
    if (st == CLG_OK) st = clg_kernel_get(ctx, "rnn", NULL, ci->step_grad, &k);
    for (int64_t s = T - 1; st == CLG_OK && s >= 0; s--) {
        int64_t t = back ? T - 1 - s : s;
        cl_ulong4 dims = {{(cl_ulong)N, (cl_ulong)T, (cl_ulong)H, (cl_ulong)s}};
        cl_int2 gflags = {{back, states}};
        cl_ulong g_off = (cl_ulong)gd->offset;
        clg_arg args[] = {CLG_ARG_BUF(ws->buf),   CLG_ARG_BUF(gd->buf),
                          CLG_ARG(g_off),         CLG_ARG_BUF(dh->buf),
                          CLG_ARG_BUF(dc ? dc->buf : dh->buf),
                          CLG_ARG_BUF(gh ? gh->buf : dh->buf),
                          CLG_ARG_BUF(dpre->buf), CLG_ARG(dims),
                          CLG_ARG(gflags)};
        st = clg_launch(ctx, k, (size_t)(N * H), 9, args, api);
        clg_tensor_free(gh);
        gh = NULL;
        /* dh_{s-1} += D_s U^T (at step 0 only when h0 wants its gradient). */
        if (st == CLG_OK && (s > 0 || want_h0)) {
            clg_tensor *dr = buffer_view(ctx, dpre->buf, 2, (int64_t[]){N, G}, (int64_t[]){T * G, 1},
                                         rec_off + t * G, api);
            gh = dr ? clg_matmul(dr, u, 0, 1) : NULL;
            clg_tensor_free(dr);
            if (!gh) st = clg_last_status();
        }
    }
    if (st == CLG_OK && n->inputs[0]) { /* dXP: the input part of D */
        gin[0] = buffer_view(ctx, dpre->buf, 2, (int64_t[]){N * T, G}, (int64_t[]){G, 1}, 0, api);
        if (!gin[0]) st = clg_last_status();
    }
    if (st == CLG_OK && n->inputs[1]) { /* dU = Hprev^T D_rec over all steps */
        clg_tensor *hp = buffer_view(ctx, ws->buf, 2, (int64_t[]){N * T, H}, (int64_t[]){S, 1}, 0, api);
        clg_tensor *dr = buffer_view(ctx, dpre->buf, 2, (int64_t[]){N * T, G}, (int64_t[]){G, 1},
                                     rec_off, api);
        gin[1] = hp && dr ? clg_matmul(hp, dr, 1, 0) : NULL;
        clg_tensor_free(hp);
        clg_tensor_free(dr);
        if (!gin[1]) st = clg_last_status();
    }
    if (st == CLG_OK && n->inputs[2]) { /* column sums: [G], or [2, G] for GRU */
        int axis = kind == CELL_GRU ? 1 : 0;
        gin[2] = clg_sum(dpre, 1, &axis, 0);
        if (!gin[2]) st = clg_last_status();
    }
    if (st == CLG_OK && want_h0) {
        gin[3] = gh ? clg_add(dh, gh) : clg_tensor_retain(dh);
        if (!gin[3]) st = clg_last_status();
    }
    if (st == CLG_OK && want_c0) gin[4] = clg_tensor_retain(dc);
    clg_tensor_free(gh);
    clg_tensor_free(dc);
    clg_tensor_free(dh);
    clg_tensor_free(dpre);
    clg_tensor_free(gd);
    return st;
}

clg_status clg_bw_lstm(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    return bw_rnn(n, g, gin);
}
clg_status clg_bw_gru(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    return bw_rnn(n, g, gin);
}
clg_status clg_bw_simple_rnn(clg_gnode *n, const clg_tensor *out, const clg_tensor *g,
                             clg_tensor **gin) {
    (void)out;
    return bw_rnn(n, g, gin);
}
