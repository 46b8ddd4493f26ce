/* Batch, layer and group normalisation.
 *
 * All three normalise x (or, for group norm, x reshaped to [N, G, C/G, S]) with
 * statistics over a set of axes ("stat axes"), then scale and shift by gamma and
 * beta broadcast over another set ("param axes": the axes gamma does not span):
 *
 *              stat axes           param axes (gamma/beta broadcast over)
 *   batch      all but channel     all but channel
 *   layer      last naxes          the leading ones
 *   group      C/G and spatial     N and spatial
 *
 * Forward: one norm_stats kernel (cl/norm.cl) writes mean and biased variance
 * per statistic into a [2, K] tensor; then y = (x - mean) * rsqrt(var + eps) *
 * gamma + beta is one lazy elementwise expression (one fused kernel, which also
 * fuses with a following activation). One node (CLG_OP_BATCH_NORM, _LAYER_NORM,
 * _GROUP_NORM) keeps x, the [2, K] statistics and gamma; the backward rule is the
 * standard one composed from lazy ops and clg_sum:
 *   xhat = (x - mean) rstd, dbeta = sum_param(g), dgamma = sum_param(g xhat),
 *   dx = rstd (g gamma - mean_stat(g gamma) - xhat mean_stat(g gamma xhat)).
 * For batch norm the stat and param axes coincide, so dx reuses dbeta and
 * dgamma: two reductions in all.
 *
 * Batch norm in inference mode uses the running statistics: one fused
 * expression of differentiable ops, so autograd gives dx = gamma rstd g. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph.h"
#include "runtime/runtime_impl.h"

enum { KIND_BATCH = 0, KIND_LAYER = 1, KIND_GROUP = 2 };

/* How one normalisation call sees its input. */
typedef struct norm_plan {
    const char *api;
    clg_op op;
    int kind;
    int ndim;                     /* of the normalised view */
    int64_t shape[CLG_MAX_DIMS];  /* the normalised view (x's shape but for group norm) */
    unsigned stat_mask, param_mask;
    int64_t A, K, B;              /* the [A, K, B] kernel view */
} norm_plan;

/* Shape with the masked axes set to 1. */
static void keep_shape(const norm_plan *p, unsigned mask, int64_t *out) {
    for (int i = 0; i < p->ndim; i++) out[i] = (mask & (1u << i)) ? 1 : p->shape[i];
}

static int64_t mask_count(const norm_plan *p, unsigned mask) {
    int64_t n = 1;
    for (int i = 0; i < p->ndim; i++)
        if (mask & (1u << i)) n *= p->shape[i];
    return n;
}

static int mask_axes(unsigned mask, int ndim, int *axes) {
    int n = 0;
    for (int i = 0; i < ndim; i++)
        if (mask & (1u << i)) axes[n++] = i;
    return n;
}

/* --- checks ------------------------------------------------------------------------------ */

static clg_status check_float(const char *api, const char *what, const clg_tensor *t) {
    if (t->dtype == CLG_FLOAT32) return CLG_OK;
    char d[220];
    return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s is %s; normalisation takes float32", api,
                    what, clg_tensor_describe(t, d, sizeof d), clg_dtype_name(t->dtype));
}

/* t (optional unless required) must be float32 with exactly shape[0..nd). */
static clg_status check_param(const char *api, const char *what, const clg_tensor *t, int required,
                              const clg_tensor *x, int nd, const int64_t *shape) {
    char d[220], dx[220], s[160];
    if (!t)
        return required ? clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is NULL (x %s needs %s)", api,
                                   what, clg_tensor_describe(x, dx, sizeof dx),
                                   clg_shape_format(nd, shape, s, sizeof s))
                        : CLG_OK;
    clg_status st = check_float(api, what, t);
    if (st != CLG_OK) return st;
    int same = t->ndim == nd && t->ctx == x->ctx;
    for (int i = 0; same && i < nd; i++) same = t->shape[i] == shape[i];
    if (!same)
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: %s %s does not fit x %s (expected %s)", api,
                        what, clg_tensor_describe(t, d, sizeof d), clg_tensor_describe(x, dx, sizeof dx),
                        clg_shape_format(nd, shape, s, sizeof s));
    return CLG_OK;
}

static clg_status check_x(const char *api, const clg_tensor *x, float eps) {
    if (!x) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
    clg_status st = check_float(api, "x", x);
    if (st != CLG_OK) return st;
    if (!(eps > 0.0f) || isinf(eps)) {
        char d[220];
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: eps %g must be positive (x %s)", api,
                        (double)eps, clg_tensor_describe(x, d, sizeof d));
    }
    return CLG_OK;
}

/* --- forward ----------------------------------------------------------------------------- */

/* x (any layout) as a contiguous tensor of the plan's shape, outside the graph. */
static clg_tensor *normalised_view(const norm_plan *p, const clg_tensor *x) {
    if (clg_realize(x) != CLG_OK) return NULL;
    if (clg_tensor_is_contiguous(x)) return clg_tensor_reshape(x, p->ndim, p->shape);
    clg_tensor *c = clg_tensor_contiguous(x);
    clg_tensor *v = c ? clg_tensor_reshape(c, p->ndim, p->shape) : NULL;
    clg_tensor_free(c);
    return v;
}

/* run_stats for B == 1: column statistics of the [A, K] view,
 * partial sums per chunk of rows looping over the contiguous columns
 * (clg_column_partials: x for the mean, then (x - mean)^2), each pass finished
 * by norm_cols_finish, instead of one work-group per column walking it with a
 * stride and an index division per element. */
static clg_status cols_stats(const norm_plan *p, const clg_tensor *xv, clg_tensor *stats) {
    clg_context *ctx = xv->ctx;
    cl_kernel k;
    clg_status st = clg_kernel_get(ctx, "norm", NULL, "norm_cols_finish", &k);
    if (st != CLG_OK) return st;
    uint64_t a = (uint64_t)p->A, kk = (uint64_t)p->K;
    cl_ulong parts = clg_column_parts(a), cols = kk, m = a;
    clg_buffer *partial = clg_buffer_new(ctx, (size_t)(parts * kk) * sizeof(float), p->api);
    if (!partial) return clg_last_status();
    for (cl_int pass = 0; st == CLG_OK && pass < 2; pass++) {
        /* pass 1 centres on the means pass 0 wrote to stats[0..K) */
        st = clg_column_partials(xv, 1, a, kk, pass ? stats->buf : NULL, partial, p->api);
        clg_arg args[] = {CLG_ARG_BUF(partial), CLG_ARG(parts), CLG_ARG(cols), CLG_ARG(m), CLG_ARG(pass),
                          CLG_ARG_BUF(stats->buf)};
        if (st == CLG_OK) st = clg_launch(ctx, k, (size_t)kk, 6, args, p->api);
    }
    clg_buffer_release(partial);
    return st;
}

/* [2, K]: mean and biased variance per statistic of the contiguous view xv. */
static clg_tensor *run_stats(const norm_plan *p, const clg_tensor *xv) {
    clg_context *ctx = xv->ctx;
    clg_tensor *stats = clg_tensor_alloc(ctx, CLG_FLOAT32, 2, (int64_t[]){2, p->K}, p->api);
    if (!stats || p->K == 0) return stats;
    if (p->B == 1 && p->A >= 2 * CLG_COLS_CHUNK) {
        if (cols_stats(p, xv, stats) != CLG_OK) {
            clg_tensor_free(stats);
            return NULL;
        }
        return stats;
    }
    uint64_t wg = 64;
    while (wg > ctx->limits.max_work_group_size) wg /= 2;
    char options[32];
    snprintf(options, sizeof options, "-DWG=%llu", (unsigned long long)wg);
    cl_kernel k;
    clg_status st = clg_kernel_get(ctx, "norm", options, "norm_stats", &k);
    cl_ulong off = (cl_ulong)xv->offset, a = (cl_ulong)p->A, kk = (cl_ulong)p->K, b = (cl_ulong)p->B;
    clg_arg args[] = {CLG_ARG_BUF(xv->buf), CLG_ARG(off), CLG_ARG(a), CLG_ARG(kk), CLG_ARG(b),
                      CLG_ARG_BUF(stats->buf)};
    if (st == CLG_OK) st = clg_launch_wg(ctx, k, (size_t)p->K, (size_t)wg, 6, args, p->api);
    if (st != CLG_OK) {
        clg_tensor_free(stats);
        return NULL;
    }
    return stats;
}

/* Row `which` (0 mean, 1 variance) of stats, shaped to broadcast against the view. */
static clg_tensor *stat_row(const norm_plan *p, const clg_tensor *stats, int which) {
    int64_t kept[CLG_MAX_DIMS];
    keep_shape(p, p->stat_mask, kept);
    clg_tensor *row = clg_tensor_slice(stats, 0, which, which + 1, 1);
    clg_tensor *v = row ? clg_tensor_reshape(row, p->ndim, kept) : NULL;
    clg_tensor_free(row);
    return v;
}

/* A parameter ([C] or the normalised axes' shape) shaped to broadcast against
 * the view. */
static clg_tensor *param_view(const norm_plan *p, const clg_tensor *t) {
    if (!t) return NULL;
    int64_t kept[CLG_MAX_DIMS];
    keep_shape(p, p->param_mask, kept);
    return clg_tensor_reshape(t, p->ndim, kept);
}

#define K(expr) (s.failed ? NULL : clg_scratch_keep(&s, (expr)))

/* t with the given shape; the same tensor (a new reference) when it already has
 * it, so a lazy expression stays lazy (a view would evaluate it). */
static clg_tensor *reshape_lazy(const clg_tensor *t, int nd, const int64_t *shape) {
    int same = t->ndim == nd;
    for (int i = 0; same && i < nd; i++) same = t->shape[i] == shape[i];
    return same ? clg_tensor_retain(t) : clg_tensor_reshape(t, nd, shape);
}

/* (x - mean) * rsqrt(var + eps) * gamma + beta, lazy (one fused kernel). */
static clg_tensor *normalise_expr(const clg_tensor *xv, const clg_tensor *mean, const clg_tensor *var,
                                  const clg_tensor *gamma, const clg_tensor *beta, float eps) {
    clg_scratch s = {0};
    clg_tensor *scale = K(clg_rsqrt(K(clg_add_scalar(var, eps))));
    if (gamma) scale = K(clg_mul(scale, gamma));
    clg_tensor *y = K(clg_mul(K(clg_sub(xv, mean)), scale));
    if (beta) y = K(clg_add(y, beta));
    clg_tensor *r = s.failed ? NULL : clg_tensor_retain(y);
    clg_scratch_drop(&s);
    return r;
}

/* Running statistics updated in place, outside the graph (run with recording
 * off): running = momentum * running + (1 - momentum) * batch. The running
 * variance takes the unbiased batch variance var * m / (m - 1), as TensorFlow's
 * fused kernel (with m - 1 clamped to 1) and PyTorch do; normalisation itself
 * uses the biased one. */
static clg_status update_running(const norm_plan *p, const clg_tensor *stats, clg_tensor *rm,
                                 clg_tensor *rv, float momentum) {
    int64_t m = mask_count(p, p->stat_mask);
    double unbias = (double)m / (double)(m > 1 ? m - 1 : 1);
    clg_scratch s = {0};
    clg_tensor *mean = K(clg_tensor_slice(stats, 0, 0, 1, 1));
    clg_tensor *var = K(clg_tensor_slice(stats, 0, 1, 2, 1));
    mean = K(clg_tensor_reshape(mean, 1, &p->K));
    var = K(clg_tensor_reshape(var, 1, &p->K));
    clg_tensor *nm = K(clg_add(K(clg_mul_scalar(rm, momentum)), K(clg_mul_scalar(mean, 1.0f - momentum))));
    clg_tensor *nv = K(clg_add(K(clg_mul_scalar(rv, momentum)),
                               K(clg_mul_scalar(var, (float)((1.0 - (double)momentum) * unbias)))));
    clg_status st = s.failed ? clg_last_status() : clg_tensor_assign(rm, nm);
    if (st == CLG_OK) st = clg_tensor_assign(rv, nv);
    clg_scratch_drop(&s);
    return st;
}

/* The shared training-statistics path: stats, optional running update, the
 * normalised expression and the graph node. */
static clg_tensor *norm_forward(const norm_plan *p, const clg_tensor *x, const clg_tensor *gamma,
                                const clg_tensor *beta, float eps, clg_tensor *rm, clg_tensor *rv,
                                float momentum) {
    clg_context *ctx = x->ctx;
    int was = clg_grad_set_enabled(ctx, 0);
    clg_scratch s = {0};
    clg_tensor *xv = K(normalised_view(p, x));
    clg_tensor *stats = s.failed ? NULL : K(run_stats(p, xv));
    /* Before the lazy result exists: assign flushes pending expressions. */
    if (!s.failed && rm && update_running(p, stats, rm, rv, momentum) != CLG_OK) s.failed = 1;
    clg_tensor *gv = gamma ? K(param_view(p, gamma)) : NULL;
    clg_tensor *bv = beta ? K(param_view(p, beta)) : NULL;
    clg_tensor *mean = K(stat_row(p, stats, 0));
    clg_tensor *var = K(stat_row(p, stats, 1));
    clg_tensor *y = s.failed ? NULL : K(normalise_expr(xv, mean, var, gv, bv, eps));
    clg_tensor *out = s.failed ? NULL : reshape_lazy(y, x->ndim, x->shape);
    clg_grad_set_enabled(ctx, was);
    const clg_tensor *ins[3] = {x, gamma, beta};
    if (out && clg_needs_grad(3, ins)) {
        clg_gnode *n = clg_record(out, p->op, 3, ins);
        if (!n) {
            clg_tensor_free(out);
            out = NULL;
        } else {
            n->saved[0] = clg_tensor_retain(xv);
            n->saved[1] = clg_tensor_retain(stats);
            n->saved[2] = gv ? clg_tensor_retain(gv) : NULL;
            n->iattr[0] = p->stat_mask;
            n->iattr[1] = p->param_mask;
            n->iattr[2] = p->kind;
            n->fattr[0] = eps;
        }
    }
    clg_scratch_drop(&s);
    return out;
}

/* --- batch norm ---------------------------------------------------------------------------- */

clg_tensor *clg_batch_norm(const clg_tensor *x, const clg_tensor *gamma, const clg_tensor *beta,
                           clg_tensor *rm, clg_tensor *rv, int training, float momentum, float eps,
                           clg_layout layout) {
    const char *api = "clg_batch_norm";
    if (check_x(api, x, eps) != CLG_OK) return NULL;
    char d[220];
    if (layout != CLG_LAYOUT_NCHW && layout != CLG_LAYOUT_NHWC) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown layout %d for x %s", api, (int)layout,
                 clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    if (x->ndim < 2) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: x %s needs at least 2 dimensions ([N,C,...])", api,
                 clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    if (training && !(momentum >= 0.0f && momentum <= 1.0f)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: momentum %g is outside [0, 1] (x %s)", api,
                 (double)momentum, clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    int caxis = layout == CLG_LAYOUT_NCHW && x->ndim >= 3 ? 1 : x->ndim - 1;
    int64_t C = x->shape[caxis];
    if (check_param(api, "gamma", gamma, 0, x, 1, &C) != CLG_OK ||
        check_param(api, "beta", beta, 0, x, 1, &C) != CLG_OK ||
        check_param(api, "running_mean", rm, 1, x, 1, &C) != CLG_OK ||
        check_param(api, "running_var", rv, 1, x, 1, &C) != CLG_OK)
        return NULL;
    norm_plan p = {.api = api, .op = CLG_OP_BATCH_NORM, .kind = KIND_BATCH, .ndim = x->ndim};
    memcpy(p.shape, x->shape, sizeof p.shape);
    p.stat_mask = ((1u << x->ndim) - 1) & ~(1u << caxis);
    p.param_mask = p.stat_mask;
    p.A = 1;
    p.B = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (i < caxis) p.A *= x->shape[i];
        if (i > caxis) p.B *= x->shape[i];
    }
    p.K = C;
    if (training) {
        if (C > 0 && p.A * p.B == 0) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                     "%s: x %s has no values per channel to take training statistics over", api,
                     clg_tensor_describe(x, d, sizeof d));
            return NULL;
        }
        return norm_forward(&p, x, gamma, beta, eps, rm, rv, momentum);
    }
    /* Inference: fixed statistics, composed of differentiable ops (recorded as
     * usual), so gamma rstd g reaches x and the usual sums reach gamma and beta. */
    clg_scratch s = {0};
    clg_tensor *mean = K(param_view(&p, rm));
    clg_tensor *var = K(param_view(&p, rv));
    clg_tensor *gv = gamma ? K(param_view(&p, gamma)) : NULL;
    clg_tensor *bv = beta ? K(param_view(&p, beta)) : NULL;
    clg_tensor *y = s.failed ? NULL : normalise_expr(x, mean, var, gv, bv, eps);
    clg_scratch_drop(&s);
    return y;
}

/* --- layer norm ------------------------------------------------------------------------------ */

clg_tensor *clg_layer_norm(const clg_tensor *x, int naxes, const clg_tensor *gamma,
                           const clg_tensor *beta, float eps) {
    const char *api = "clg_layer_norm";
    if (check_x(api, x, eps) != CLG_OK) return NULL;
    char d[220];
    if (naxes < 1 || naxes > x->ndim) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: naxes %d is outside [1, %d] for x %s", api, naxes,
                 x->ndim, clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    int first = x->ndim - naxes;
    if (check_param(api, "gamma", gamma, 0, x, naxes, x->shape + first) != CLG_OK ||
        check_param(api, "beta", beta, 0, x, naxes, x->shape + first) != CLG_OK)
        return NULL;
    norm_plan p = {.api = api, .op = CLG_OP_LAYER_NORM, .kind = KIND_LAYER, .ndim = x->ndim};
    memcpy(p.shape, x->shape, sizeof p.shape);
    p.A = 1;
    p.K = 1;
    p.B = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (i < first) {
            p.K *= x->shape[i];
            p.param_mask |= 1u << i;
        } else {
            p.B *= x->shape[i];
            p.stat_mask |= 1u << i;
        }
    }
    return norm_forward(&p, x, gamma, beta, eps, NULL, NULL, 0);
}

/* --- group norm ------------------------------------------------------------------------------ */

clg_tensor *clg_group_norm(const clg_tensor *x, int groups, const clg_tensor *gamma,
                           const clg_tensor *beta, float eps) {
    const char *api = "clg_group_norm";
    if (check_x(api, x, eps) != CLG_OK) return NULL;
    char d[220];
    if (x->ndim < 2) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: x %s needs at least 2 dimensions ([N,C,...])", api,
                 clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    int64_t N = x->shape[0], C = x->shape[1], S = 1;
    for (int i = 2; i < x->ndim; i++) S *= x->shape[i];
    if (groups < 1 || C % groups != 0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %d groups do not divide the %lld channels of x %s",
                 api, groups, (long long)C, clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    if (check_param(api, "gamma", gamma, 0, x, 1, &C) != CLG_OK ||
        check_param(api, "beta", beta, 0, x, 1, &C) != CLG_OK)
        return NULL;
    /* Viewed as [N, G, C/G, S]: statistics over axes 2, 3; gamma spans 1, 2. */
    norm_plan p = {.api = api, .op = CLG_OP_GROUP_NORM, .kind = KIND_GROUP, .ndim = 4,
                   .shape = {N, groups, C / groups, S}, .stat_mask = 0xC, .param_mask = 0x9};
    p.A = 1;
    p.K = N * groups;
    p.B = C / groups * S;
    return norm_forward(&p, x, gamma, beta, eps, NULL, NULL, 0);
}

/* --- backward -------------------------------------------------------------------------------- */

/* One rule for the three ops (the plan is rebuilt from the saved view). */
static clg_status bw_norm(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    const clg_tensor *xv = n->saved[0], *stats = n->saved[1], *gam = n->saved[2];
    norm_plan p = {.api = clg_op_name(n->op), .ndim = xv->ndim};
    memcpy(p.shape, xv->shape, sizeof p.shape);
    p.stat_mask = (unsigned)n->iattr[0];
    p.param_mask = (unsigned)n->iattr[1];
    p.K = stats->shape[1];
    float eps = n->fattr[0];
    int saxes[CLG_MAX_DIMS], paxes[CLG_MAX_DIMS];
    int ns = mask_axes(p.stat_mask, p.ndim, saxes), np = mask_axes(p.param_mask, p.ndim, paxes);
    int64_t m = mask_count(&p, p.stat_mask);
    float inv_m = m ? 1.0f / (float)m : 0.0f;
    int same = p.stat_mask == p.param_mask; /* batch norm */
    const clg_tensor *gx = n->inputs[0], *gg_in = n->inputs[1], *gb_in = n->inputs[2];

    clg_scratch s = {0};
    clg_tensor *mean = K(stat_row(&p, stats, 0));
    clg_tensor *rstd = s.failed ? NULL : K(clg_rsqrt(K(clg_add_scalar(K(stat_row(&p, stats, 1)), eps))));
    clg_tensor *gv = K(reshape_lazy(g, p.ndim, p.shape));
    clg_tensor *xhat = s.failed ? NULL : K(clg_mul(K(clg_sub(xv, mean)), rstd));
    /* Sums over the param axes (kept as 1): d beta and d gamma. */
    clg_tensor *db = NULL, *dg = NULL;
    if (gb_in || (gx && same)) db = K(clg_sum(gv, np, paxes, 1));
    if (gg_in || (gx && same)) dg = s.failed ? NULL : K(clg_sum(K(clg_mul(gv, xhat)), np, paxes, 1));
    if (gb_in && !s.failed) gin[2] = clg_tensor_reshape(db, gb_in->ndim, gb_in->shape);
    if (gg_in && !s.failed) gin[1] = clg_tensor_reshape(dg, gg_in->ndim, gg_in->shape);
    if (gx && !s.failed) {
        clg_tensor *gg = gam ? K(clg_mul(gv, gam)) : gv;
        clg_tensor *s1, *s2; /* sums over the stat axes of g gamma and g gamma xhat */
        if (same) {
            s1 = gam ? K(clg_mul(db, gam)) : db;
            s2 = gam ? K(clg_mul(dg, gam)) : dg;
        } else {
            s1 = K(clg_sum(gg, ns, saxes, 1));
            s2 = s.failed ? NULL : K(clg_sum(K(clg_mul(gg, xhat)), ns, saxes, 1));
        }
        clg_tensor *d = s.failed ? NULL
                                 : K(clg_sub(K(clg_sub(gg, K(clg_mul_scalar(s1, inv_m)))),
                                             K(clg_mul(xhat, K(clg_mul_scalar(s2, inv_m))))));
        clg_tensor *dx = s.failed ? NULL : K(clg_mul(d, rstd));
        if (!s.failed) gin[0] = reshape_lazy(dx, out->ndim, out->shape);
    }
    clg_status st = s.failed ? clg_last_status() : CLG_OK;
    clg_scratch_drop(&s);
    for (int i = 0; i < 3; i++)
        if (n->inputs[i] && !gin[i] && st == CLG_OK) st = clg_last_status();
    return st;
}

clg_status clg_bw_batch_norm(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    return bw_norm(n, out, g, gin);
}
clg_status clg_bw_layer_norm(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    return bw_norm(n, out, g, gin);
}
clg_status clg_bw_group_norm(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    return bw_norm(n, out, g, gin);
}
