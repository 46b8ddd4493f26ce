/* Scaled dot-product attention, and the tables that go with it (causal masks,
 * sinusoidal positions).
 *
 * attention(q, k, v) = softmax(mask(scale q k^T)) v over [B, H, T, D] heads is
 * three pieces, each recorded in the graph on its own:
 *   S = q k^T            one strided-batched GEMM over B H (clg_matmul_batched,
 *                        k read transposed, never copied)
 *   P = masked softmax   one kernel (cl/attention.cl) that applies the scale,
 *                        the causal rule and the mask while it computes the
 *                        softmax: no [B, H, Tq, Tk] temporaries for the scaled
 *                        scores, the -inf fill, the maximum or the exponentials,
 *                        and one kernel instead of five. Its node (ATTENTION_
 *                        SOFTMAX) keeps nothing but the output:
 *                        dS = scale P (dP - sum_j dP P), again one kernel.
 *                        Each kernel has a work-item-per-row and a work-group-
 *                        per-row form (pick_variant).
 *   O = dropout(P) v     a second GEMM (dropout is the lazy clg_dropout)
 * so q, k and v get their gradients from the GEMMs' rules. No value is read back
 * to the host, so the op records into captured steps like any other. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph.h"
#include "runtime/runtime_impl.h"

static const char *const SDPA = "clg_scaled_dot_product_attention";

/* --- checks ------------------------------------------------------------------------------ */

static clg_status check_head(const char *what, const clg_tensor *t, const char *layout) {
    char d[220];
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", SDPA, what);
    if (t->dtype != CLG_FLOAT32)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s is %s; attention takes float32", SDPA,
                        what, clg_tensor_describe(t, d, sizeof d), clg_dtype_name(t->dtype));
    if (t->ndim != 4)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s has rank %d; expected rank 4 %s", SDPA,
                        what, clg_tensor_describe(t, d, sizeof d), t->ndim, layout);
    return CLG_OK;
}

/* Axis `axis` of a and b must agree (`name` says what the axis is). */
static clg_status check_same(const char *wa, const clg_tensor *a, int axis_a, const char *wb,
                             const clg_tensor *b, int axis_b, const char *name) {
    if (a->shape[axis_a] == b->shape[axis_b]) return CLG_OK;
    char da[220], db[220];
    return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: %s of %s %s (%lld) and of %s %s (%lld) differ",
                    SDPA, name, wa, clg_tensor_describe(a, da, sizeof da), (long long)a->shape[axis_a],
                    wb, clg_tensor_describe(b, db, sizeof db), (long long)b->shape[axis_b]);
}

/* The mask's strides over (b, h, i, j) of the scores [B, H, Tq, Tk], with 0 on
 * axes where it is broadcast; an error if it does not broadcast. */
static clg_status mask_strides(const clg_tensor *mask, const clg_tensor *q, const int64_t *scores,
                               cl_long4 *out) {
    char d[220], s[160];
    if (mask->dtype != CLG_FLOAT32)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: mask %s is %s; the mask is float32 (1 attends, 0 does not)", SDPA,
                        clg_tensor_describe(mask, d, sizeof d), clg_dtype_name(mask->dtype));
    if (mask->ctx != q->ctx)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: mask and q on different contexts (%s and %s)",
                        SDPA, mask->ctx->label, q->ctx->label);
    int64_t st[4] = {0, 0, 0, 0};
    int ok = mask->ndim <= 4;
    for (int a = 0; ok && a < mask->ndim; a++) {
        int axis = 4 - mask->ndim + a;
        int64_t e = mask->shape[a];
        if (e == scores[axis]) st[axis] = e == 1 ? 0 : mask->strides[a];
        else if (e == 1) st[axis] = 0;
        else ok = 0;
    }
    if (!ok)
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                        "%s: mask %s does not broadcast to the scores [B, H, Tq, Tk] = %s", SDPA,
                        clg_tensor_describe(mask, d, sizeof d), clg_shape_format(4, scores, s, sizeof s));
    out->s[0] = st[0];
    out->s[1] = st[1];
    out->s[2] = st[2];
    out->s[3] = st[3];
    return CLG_OK;
}

/* --- the masked softmax ---------------------------------------------------------------- */

/* Which kernel variant a row length takes, and the program's build options.
 * One work-item per row reads its keys alone; a work-group per row reads
 * neighbouring keys together and folds in local memory. The group form pays on
 * GPUs once rows are long; CPUs prefer one work-item per row unless there are
 * too few rows to fill the cores (as the reductions choose, src/ops/reduce.c). */
typedef struct variant {
    int rows;        /* 1: a work-group per row */
    size_t wg;
    char options[32];
} variant;

static variant pick_variant(const clg_context *ctx, int64_t rows, int64_t Tk) {
    variant v;
    v.wg = 64;
    while (v.wg > ctx->limits.max_work_group_size) v.wg /= 2;
    int gpu = ctx->info.type == CLG_DEVICE_TYPE_DISCRETE_GPU ||
              ctx->info.type == CLG_DEVICE_TYPE_INTEGRATED_GPU;
    v.rows = Tk >= 128 && (gpu || rows < 1024);
    snprintf(v.options, sizeof v.options, "-DWG=%zu", v.wg);
    return v;
}

static clg_status launch_variant(clg_context *ctx, const variant *v, const char *kernel_name,
                                 int64_t rows, int nargs, const clg_arg *args, const char *what) {
    char name[64];
    snprintf(name, sizeof name, "%s%s", kernel_name, v->rows ? "_rows" : "");
    cl_kernel k;
    clg_status st = clg_kernel_get(ctx, "attention", v->options, name, &k);
    if (st != CLG_OK) return st;
    return v->rows ? clg_launch_wg(ctx, k, (size_t)rows, v->wg, nargs, args, what)
                   : clg_launch(ctx, k, (size_t)rows, nargs, args, what);
}

typedef struct softmax_args {
    int64_t H;
    float scale;
    int causal;
    const clg_tensor *mask; /* evaluated, or NULL */
    cl_long4 mstrides;
} softmax_args;

/* P [BH, Tq, Tk] from the contiguous scores S [BH, Tq, Tk]; recorded when S
 * needs a gradient. */
static clg_tensor *masked_softmax(const clg_tensor *S, const softmax_args *a) {
    clg_context *ctx = S->ctx;
    clg_tensor *p = clg_tensor_alloc(ctx, CLG_FLOAT32, 3, S->shape, SDPA);
    if (!p) return NULL;
    int64_t Tq = S->shape[1], Tk = S->shape[2], rows = S->shape[0] * Tq;
    clg_status st = CLG_OK;
    if (rows > 0 && Tk > 0) {
        cl_ulong s_off = (cl_ulong)S->offset, nr = (cl_ulong)rows, tq = (cl_ulong)Tq,
                 tk = (cl_ulong)Tk, h = (cl_ulong)a->H;
        cl_ulong m_off = a->mask ? (cl_ulong)a->mask->offset : 0;
        cl_float scale = a->scale;
        cl_int causal = a->causal, has_mask = a->mask != NULL;
        cl_long shift = (cl_long)(Tk - Tq);
        /* Without a mask the kernel never reads it: S's buffer stands in. */
        clg_buffer *mbuf = a->mask ? a->mask->buf : S->buf;
        clg_arg args[] = {CLG_ARG_BUF(S->buf), CLG_ARG(s_off),    CLG_ARG(nr),       CLG_ARG(tq),
                          CLG_ARG(tk),         CLG_ARG(h),        CLG_ARG(scale),    CLG_ARG(causal),
                          CLG_ARG(shift),      CLG_ARG(has_mask), CLG_ARG_BUF(mbuf), CLG_ARG(m_off),
                          CLG_ARG(a->mstrides), CLG_ARG_BUF(p->buf)};
        variant var = pick_variant(ctx, rows, Tk);
        st = launch_variant(ctx, &var, "attn_softmax", rows, 14, args, SDPA);
    }
    if (st != CLG_OK) {
        clg_tensor_free(p);
        return NULL;
    }
    if (clg_needs_grad(1, &S)) {
        clg_gnode *n = clg_record(p, CLG_OP_ATTENTION_SOFTMAX, 1, &S);
        if (!n) {
            clg_tensor_free(p);
            return NULL;
        }
        n->fattr[0] = a->scale; /* the rule needs only P (the node's output) and the scale */
    }
    return p;
}

/* t evaluated and contiguous (a new reference), outside the graph. */
static clg_tensor *dense(const clg_tensor *t) {
    if (clg_realize(t) != CLG_OK) return NULL;
    return clg_tensor_is_contiguous(t) ? clg_tensor_retain(t) : clg_tensor_contiguous(t);
}

clg_status clg_bw_attention_softmax(clg_gnode *n, const clg_tensor *p, const clg_tensor *g,
                                    clg_tensor **gin) {
    const char *what = "attention softmax backward";
    clg_context *ctx = p->ctx;
    clg_tensor *gd = dense(g);
    if (!gd) return clg_last_status();
    clg_tensor *ds = clg_tensor_alloc(ctx, CLG_FLOAT32, 3, p->shape, what);
    clg_status st = ds ? CLG_OK : clg_last_status();
    int64_t rows = p->shape[0] * p->shape[1], Tk = p->shape[2];
    if (st == CLG_OK && rows > 0 && Tk > 0) {
        cl_ulong p_off = (cl_ulong)p->offset, g_off = (cl_ulong)gd->offset, nr = (cl_ulong)rows,
                 tk = (cl_ulong)Tk;
        cl_float scale = n->fattr[0];
        clg_arg args[] = {CLG_ARG_BUF(p->buf), CLG_ARG(p_off), CLG_ARG_BUF(gd->buf), CLG_ARG(g_off),
                          CLG_ARG(nr),         CLG_ARG(tk),    CLG_ARG(scale),       CLG_ARG_BUF(ds->buf)};
        variant var = pick_variant(ctx, rows, Tk);
        st = launch_variant(ctx, &var, "attn_softmax_backward", rows, 8, args, what);
    }
    clg_tensor_free(gd);
    if (st != CLG_OK) {
        clg_tensor_free(ds);
        return st;
    }
    gin[0] = ds;
    return CLG_OK;
}

/* --- scaled dot-product attention -------------------------------------------------------- */

#define K(expr) (s.failed ? NULL : clg_scratch_keep(&s, (expr)))

clg_tensor *clg_scaled_dot_product_attention(const clg_tensor *q, const clg_tensor *k,
                                             const clg_tensor *v, const clg_tensor *mask, int causal,
                                             float scale, float dropout_rate, uint64_t dropout_seed,
                                             clg_tensor **weights_out) {
    if (weights_out) *weights_out = NULL;
    if (check_head("q", q, "[B, H, Tq, D]") != CLG_OK || check_head("k", k, "[B, H, Tk, D]") != CLG_OK ||
        check_head("v", v, "[B, H, Tk, Dv]") != CLG_OK)
        return NULL;
    if (k->ctx != q->ctx || v->ctx != q->ctx) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: q, k and v on different contexts (%s, %s, %s)", SDPA,
                 q->ctx->label, k->ctx->label, v->ctx->label);
        return NULL;
    }
    if (check_same("q", q, 0, "k", k, 0, "batch sizes B") != CLG_OK ||
        check_same("q", q, 0, "v", v, 0, "batch sizes B") != CLG_OK ||
        check_same("q", q, 1, "k", k, 1, "head counts H") != CLG_OK ||
        check_same("q", q, 1, "v", v, 1, "head counts H") != CLG_OK ||
        check_same("q", q, 3, "k", k, 3, "key dimensions D") != CLG_OK ||
        check_same("k", k, 2, "v", v, 2, "key counts Tk") != CLG_OK)
        return NULL;
    if (!isfinite(scale)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: scale %g is not finite", SDPA, (double)scale);
        return NULL;
    }
    if (!(dropout_rate >= 0.0f && dropout_rate < 1.0f)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: dropout_rate %g is outside [0, 1)", SDPA,
                 (double)dropout_rate);
        return NULL;
    }
    int64_t B = q->shape[0], H = q->shape[1], Tq = q->shape[2], D = q->shape[3];
    int64_t Tk = k->shape[2], Dv = v->shape[3];
    int64_t scores[4] = {B, H, Tq, Tk};
    softmax_args sa = {.H = H, .causal = causal != 0, .mask = NULL};
    sa.scale = scale != 0.0f ? scale : (D > 0 ? (float)(1.0 / sqrt((double)D)) : 1.0f);
    if (mask) {
        /* Evaluated first: the kernel reads it through its strides. */
        if (mask->ctx == q->ctx && clg_realize(mask) != CLG_OK) return NULL;
        if (mask_strides(mask, q, scores, &sa.mstrides) != CLG_OK) return NULL;
        sa.mask = mask;
    }

    clg_scratch s = {0};
    /* [B, H, T, D] -> [B H, T, D]: a view for contiguous heads, else one copy
     * (which the GEMM would make anyway); both stay in the graph. */
    clg_tensor *q3 = K(clg_tensor_reshape(q, 3, (int64_t[]){B * H, Tq, D}));
    clg_tensor *k3 = K(clg_tensor_reshape(k, 3, (int64_t[]){B * H, Tk, D}));
    clg_tensor *v3 = K(clg_tensor_reshape(v, 3, (int64_t[]){B * H, Tk, Dv}));
    clg_tensor *S = K(clg_matmul_batched(q3, k3, 0, 1));
    clg_tensor *P = s.failed ? NULL : K(masked_softmax(S, &sa));
    clg_tensor *Pd = P;
    if (dropout_rate > 0.0f) Pd = K(clg_dropout(P, dropout_rate, dropout_seed, 0));
    clg_tensor *O = K(clg_matmul_batched(Pd, v3, 0, 0));
    clg_tensor *out = s.failed ? NULL : clg_tensor_reshape(O, 4, (int64_t[]){B, H, Tq, Dv});
    if (out && weights_out) {
        *weights_out = clg_tensor_reshape(P, 4, scores);
        if (!*weights_out) {
            clg_tensor_free(out);
            out = NULL;
        }
    }
    clg_scratch_drop(&s);
    if (!out) clg_fail_wrap(clg_last_status(), "%s", SDPA);
    return out;
}

/* --- tables ------------------------------------------------------------------------------ */

/* A host buffer for a [rows, cols] float32 table (the caller fills, uploads and
 * frees it), or NULL naming the call, its arguments and the failure. */
static float *host_table(clg_context *ctx, const char *api, const char *names, int64_t rows, int64_t cols) {
    int64_t shape[2] = {rows, cols}, numel;
    if (!ctx || rows < 0 || cols < 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s%s %lld and %lld must not be negative", api,
                 ctx ? "" : "context is NULL; ", names, (long long)rows, (long long)cols);
        return NULL;
    }
    if (clg_shape_check(api, 2, shape, CLG_FLOAT32, &numel) != CLG_OK) return NULL;
    float *t = malloc((size_t)(numel ? numel : 1) * sizeof *t);
    if (!t)
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: host table [%lld,%lld]", api, (long long)rows,
                 (long long)cols);
    return t;
}

/* Uploads the table and frees it. */
static clg_tensor *upload_table(clg_context *ctx, float *t, int64_t rows, int64_t cols) {
    clg_tensor *out = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){rows, cols}, t);
    free(t);
    return out;
}

clg_tensor *clg_causal_mask(clg_context *ctx, int64_t tq, int64_t tk) {
    float *m = host_table(ctx, "clg_causal_mask", "sizes tq and tk", tq, tk);
    if (!m) return NULL;
    for (int64_t i = 0; i < tq; i++)
        for (int64_t j = 0; j < tk; j++) m[i * tk + j] = j <= i + (tk - tq) ? 1.0f : 0.0f;
    return upload_table(ctx, m, tq, tk);
}

clg_tensor *clg_sinusoidal_positions(clg_context *ctx, int64_t length, int64_t dim) {
    float *t = host_table(ctx, "clg_sinusoidal_positions", "length and dim", length, dim);
    if (!t) return NULL;
    /* In double, rounded once: the angles of late positions are large, and
     * float32 arithmetic would lose their fractional part. */
    for (int64_t c = 0; c < dim; c++) {
        double inv_freq = pow(10000.0, -(double)(c - c % 2) / (double)dim);
        for (int64_t pos = 0; pos < length; pos++) {
            double angle = (double)pos * inv_freq;
            t[pos * dim + c] = (float)(c % 2 ? cos(angle) : sin(angle));
        }
    }
    return upload_table(ctx, t, length, dim);
}
