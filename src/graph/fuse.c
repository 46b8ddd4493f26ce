/* Lazy elementwise evaluation: chains of elementwise ops are kept as expression
 * DAGs over realized tensors and compiled into one generated OpenCL kernel when a
 * result is needed.
 *
 * The generated source depends only on the expression's structure (which ops,
 * which operand is which leaf): shapes, strides, offsets and scalar values are
 * kernel arguments, so one kernel serves every shape and the program cache keys
 * it by that structure. Each leaf is read either directly (same shape as the
 * output and contiguous: element i) or through broadcast strides. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "graph/graph.h"

enum { EW_MAX_LEAVES = 8, EW_MAX_SCALARS = 16, EW_MAX_NODES = 48 };

/* X(ENUM, arity, "OpenCL C expression over a, b, c and parameters p0, p1").
 * Same order as the elementwise part of CLG_OP_LIST. */
#define CLG_EW_LIST(X)                                                                    \
    X(NEG, 1, "(-a)")                                                                     \
    X(ABS, 1, "fabs(a)")                                                                  \
    X(EXP, 1, "exp(a)")                                                                   \
    X(LOG, 1, "log(a)")                                                                   \
    X(SQRT, 1, "sqrt(a)")                                                                 \
    X(RSQRT, 1, "rsqrt(a)")                                                               \
    X(SQUARE, 1, "(a * a)")                                                               \
    X(SIN, 1, "sin(a)")                                                                   \
    X(COS, 1, "cos(a)")                                                                   \
    X(SIGMOID, 1, "(1.0f / (1.0f + exp(-a)))")                                            \
    X(TANH, 1, "tanh(a)")                                                                 \
    X(RELU, 1, "(a > 0.0f ? a : 0.0f)")                                                   \
    X(LEAKY_RELU, 1, "(a > 0.0f ? a : p0 * a)")                                           \
    X(ELU, 1, "(a > 0.0f ? a : p0 * expm1(a))")                                           \
    X(GELU, 1, "(0.5f * a * (1.0f + clg_erf(a * 0.7071067811865476f)))")                      \
    X(GELU_TANH, 1, "(0.5f * a * (1.0f + tanh(0.7978845608028654f * (a + 0.044715f * a * a * a))))") \
    X(SOFTPLUS, 1, "(fmax(a, 0.0f) + log1p(exp(-fabs(a))))")                              \
    X(SOFTSIGN, 1, "(a / (1.0f + fabs(a)))")                                              \
    X(HARD_SIGMOID, 1, "clamp(0.2f * a + 0.5f, 0.0f, 1.0f)")                              \
    X(SIGN, 1, "sign(a)")                                                                 \
    X(CLAMP, 1, "fmin(fmax(a, p0), p1)")                                                  \
    X(GELU_GRAD, 1, "(0.5f * (1.0f + clg_erf(a * 0.7071067811865476f)) + a * 0.3989422804014327f * exp(-0.5f * a * a))") \
    X(IDENTITY, 1, "a")                                                                   \
    X(ADD, 2, "(a + b)")                                                                  \
    X(SUB, 2, "(a - b)")                                                                  \
    X(MUL, 2, "(a * b)")                                                                  \
    X(DIV, 2, "(a / b)")                                                                  \
    X(POW, 2, "pow(a, b)")                                                                \
    X(MAXIMUM, 2, "fmax(a, b)")                                                           \
    X(MINIMUM, 2, "fmin(a, b)")                                                           \
    X(EQ, 2, "(a == b ? 1.0f : 0.0f)")                                                    \
    X(NE, 2, "(a != b ? 1.0f : 0.0f)")                                                    \
    X(LT, 2, "(a < b ? 1.0f : 0.0f)")                                                     \
    X(LE, 2, "(a <= b ? 1.0f : 0.0f)")                                                    \
    X(GT, 2, "(a > b ? 1.0f : 0.0f)")                                                     \
    X(GE, 2, "(a >= b ? 1.0f : 0.0f)")                                                    \
    X(WHERE, 3, "(a != 0.0f ? b : c)")

typedef struct ew_def {
    clg_op op;
    int arity;
    const char *code;
} ew_def;

static const ew_def ew_defs[] = {
#define CLG_EW_DEF_(id, arity, code) {CLG_OP_##id, arity, code},
    CLG_EW_LIST(CLG_EW_DEF_)
#undef CLG_EW_DEF_
};
_Static_assert(sizeof ew_defs / sizeof *ew_defs == CLG_OP_LAST_EW - CLG_OP_FIRST_EW + 1,
               "CLG_EW_LIST and the elementwise part of CLG_OP_LIST differ in length");

static const ew_def *ew_lookup(clg_op op) {
    const ew_def *d = &ew_defs[op - CLG_OP_FIRST_EW];
    return d->op == op ? d : NULL;
}

typedef enum { EXPR_LEAF, EXPR_CONST, EXPR_OP } expr_kind;

typedef struct clg_expr {
    int refs;
    expr_kind kind;
    clg_op op;
    int nin;
    struct clg_expr *in[3];
    clg_tensor *leaf; /* EXPR_LEAF: a realized tensor (retained) */
    float value;      /* EXPR_CONST */
    float p[2];       /* EXPR_OP parameters */
    int nodes;        /* DAG size bound (shared nodes counted once per use) */
    int leaves;       /* leaf-use bound */
    int scalars;      /* scalar-use bound */
} clg_expr;

void clg_expr_release(clg_expr *e) {
    if (!e || --e->refs > 0) return;
    for (int i = 0; i < e->nin; i++) clg_expr_release(e->in[i]);
    if (e->leaf) clg_tensor_free(e->leaf);
    free(e);
}

static clg_expr *expr_new(expr_kind kind) {
    clg_expr *e = calloc(1, sizeof *e);
    if (!e) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "allocating an expression node");
        return NULL;
    }
    e->refs = 1;
    e->kind = kind;
    e->nodes = 1;
    return e;
}

/* --- the context's list of pending lazy tensors ------------------------------------ */

static void lazy_link(clg_tensor *t) {
    clg_context *ctx = t->ctx;
    t->lazy_prev = NULL;
    t->lazy_next = ctx->lazy_head;
    if (ctx->lazy_head) ctx->lazy_head->lazy_prev = t;
    ctx->lazy_head = t;
}

void clg_lazy_forget(clg_tensor *t) {
    if (!t->expr) return;
    if (t->lazy_prev) t->lazy_prev->lazy_next = t->lazy_next;
    else if (t->ctx->lazy_head == t) t->ctx->lazy_head = t->lazy_next;
    if (t->lazy_next) t->lazy_next->lazy_prev = t->lazy_prev;
    t->lazy_prev = t->lazy_next = NULL;
}

clg_tensor *clg_constant(clg_context *ctx, float value) {
    clg_tensor *t = clg_tensor_record(ctx, CLG_FLOAT32, 0, NULL, "constant");
    if (!t) return NULL;
    clg_expr *e = expr_new(EXPR_CONST);
    if (!e) {
        clg_tensor_free(t);
        return NULL;
    }
    e->value = value;
    e->scalars = 1;
    t->expr = e;
    lazy_link(t);
    return t;
}

/* --- code generation ------------------------------------------------------------------ */

typedef struct ew_program {
    const clg_expr *nodes[EW_MAX_NODES]; /* unique, in evaluation order */
    int count;
    const clg_tensor *leaves[EW_MAX_LEAVES];
    int nleaves;
    float scalars[EW_MAX_SCALARS];
    int nscalars;
    int var_of[EW_MAX_NODES]; /* for LEAF/CONST nodes: leaf or scalar index */
    char key[2048];           /* structure, also the program name */
    size_t key_len;
} ew_program;

static int find_node(const ew_program *p, const clg_expr *e) {
    for (int i = 0; i < p->count; i++)
        if (p->nodes[i] == e) return i;
    return -1;
}

static void key_append(ew_program *p, const char *fmt, ...) CLG_PRINTF(2, 3);
static void key_append(ew_program *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (p->key_len < sizeof p->key)
        p->key_len += (size_t)vsnprintf(p->key + p->key_len, sizeof p->key - p->key_len, fmt, ap);
    va_end(ap);
}

/* Post-order walk; returns the node's index or -1 if a limit is exceeded. */
static int plan_node(ew_program *p, const clg_expr *e) {
    int seen = find_node(p, e);
    if (seen >= 0) return seen;
    int in_idx[3] = {0, 0, 0};
    for (int i = 0; i < e->nin; i++)
        if ((in_idx[i] = plan_node(p, e->in[i])) < 0) return -1;
    if (p->count >= EW_MAX_NODES) return -1;
    int idx = p->count++;
    p->nodes[idx] = e;
    if (e->kind == EXPR_LEAF) {
        int l;
        for (l = 0; l < p->nleaves && p->leaves[l] != e->leaf; l++) {
        }
        if (l == p->nleaves) {
            if (p->nleaves >= EW_MAX_LEAVES) return -1;
            p->leaves[p->nleaves++] = e->leaf;
        }
        p->var_of[idx] = l;
        key_append(p, "v%d=L%d;", idx, l);
    } else if (e->kind == EXPR_CONST) {
        if (p->nscalars >= EW_MAX_SCALARS) return -1;
        p->var_of[idx] = p->nscalars;
        p->scalars[p->nscalars++] = e->value;
        key_append(p, "v%d=S%d;", idx, p->var_of[idx]);
    } else {
        const ew_def *d = ew_lookup(e->op);
        int np = strstr(d->code, "p1") ? 2 : strstr(d->code, "p0") ? 1 : 0;
        if (p->nscalars + np > EW_MAX_SCALARS) return -1;
        p->var_of[idx] = p->nscalars;
        for (int i = 0; i < np; i++) p->scalars[p->nscalars++] = e->p[i];
        key_append(p, "v%d=%s(", idx, clg_op_name(e->op));
        for (int i = 0; i < e->nin; i++) key_append(p, "%sv%d", i ? "," : "", in_idx[i]);
        key_append(p, ");");
    }
    return p->key_len < sizeof p->key - 1 ? idx : -1;
}

/* Appends to a growing source buffer. */
typedef struct src_buf {
    char *s;
    size_t len, cap;
    int failed;
} src_buf;

static void emit(src_buf *b, const char *fmt, ...) CLG_PRINTF(2, 3);
static void emit(src_buf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *grown = realloc(b->s, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
}

/* Writes code with operands a, b, c and parameters p0, p1 replaced. */
static void emit_op(src_buf *b, const char *code, const char *const operands[3], int scalar0) {
    for (const char *c = code; *c; c++) {
        int boundary = c == code || !(c[-1] == '_' || (c[-1] >= 'a' && c[-1] <= 'z') ||
                                      (c[-1] >= '0' && c[-1] <= '9'));
        int next_is_ident = c[1] == '_' || (c[1] >= 'a' && c[1] <= 'z') || (c[1] >= '0' && c[1] <= '9');
        if (boundary && (*c == 'a' || *c == 'b' || *c == 'c') && !next_is_ident) {
            emit(b, "%s", operands[*c - 'a']);
        } else if (boundary && c[0] == 'p' && (c[1] == '0' || c[1] == '1') &&
                   !(c[2] == '_' || (c[2] >= 'a' && c[2] <= 'z') || (c[2] >= '0' && c[2] <= '9'))) {
            emit(b, "s%d", scalar0 + (c[1] - '0'));
            c++;
        } else {
            emit(b, "%c", *c);
        }
    }
}

/* The kernel for p whose strided leaves are indexed over nd dimensions (0: every
 * leaf is read at the element's own index). The index split is written out for
 * exactly nd dimensions: a loop in the body would keep a CPU device from
 * vectorising the kernel over its work-items. Below 2^32 elements it divides by
 * magic numbers (clg_div), else in 64 bits. */
static char *generate_source(const ew_program *p, int nd) {
    src_buf b = {0};
    emit(&b, "#pragma OPENCL FP_CONTRACT OFF\n");
    emit(&b, "__kernel void ew(__global float *out, ulong n, int ndim, ulong8 shape_v, uint mask, uint16 mg");
    for (int l = 0; l < p->nleaves; l++)
        emit(&b, ", __global const float *l%d, ulong o%d, long8 st%d", l, l, l);
    for (int s = 0; s < p->nscalars; s++) emit(&b, ", float s%d", s);
    emit(&b, ") {\n    ulong i = get_global_id(0);\n    if (i >= n) return;\n");
    static const char hex[] = "0123456789abcdef";
    if (nd > 0) {
        emit(&b, "    ulong idx0");
        for (int d = 1; d < nd; d++) emit(&b, ", idx%d", d);
        emit(&b, ";\n    if (mask) {\n        if (n <= 0xFFFFFFFFul) {\n            uint r = (uint)i, q;\n");
        for (int d = nd - 1; d >= 1; d--)
            emit(&b,
                 "            q = clg_div(r, (uint2)(mg.s%c, mg.s%c)); idx%d = r - q * (uint)shape_v.s%d; r = q;\n",
                 hex[2 * d], hex[2 * d + 1], d, d);
        emit(&b, "            idx0 = r;\n        } else {\n            ulong r = i;\n");
        for (int d = nd - 1; d >= 1; d--)
            emit(&b, "            idx%d = r %% shape_v.s%d; r /= shape_v.s%d;\n", d, d, d);
        emit(&b, "            idx0 = r;\n        }\n    }\n");
    }
    for (int l = 0; l < p->nleaves; l++) {
        if (nd == 0) {
            emit(&b, "    float x%d = l%d[o%d + i];\n", l, l, l);
            continue;
        }
        emit(&b, "    float x%d;\n    if (mask & %uu) {\n        long off = (long)idx0 * st%d.s0", l, 1u << l, l);
        for (int d = 1; d < nd; d++) emit(&b, " + (long)idx%d * st%d.s%d", d, l, d);
        emit(&b, ";\n        x%d = l%d[o%d + (ulong)off];\n    } else {\n        x%d = l%d[o%d + i];\n    }\n", l,
             l, l, l, l, l);
    }
    for (int i = 0; i < p->count; i++) {
        const clg_expr *e = p->nodes[i];
        if (e->kind == EXPR_LEAF) {
            emit(&b, "    float v%d = x%d;\n", i, p->var_of[i]);
        } else if (e->kind == EXPR_CONST) {
            emit(&b, "    float v%d = s%d;\n", i, p->var_of[i]);
        } else {
            char names[3][16];
            const char *ops[3] = {"a", "b", "c"};
            for (int k = 0; k < e->nin; k++) {
                snprintf(names[k], sizeof names[k], "v%d", find_node(p, e->in[k]));
                ops[k] = names[k];
            }
            emit(&b, "    float v%d = ", i);
            emit_op(&b, ew_lookup(e->op)->code, ops, p->var_of[i]);
            emit(&b, ";\n");
        }
    }
    emit(&b, "    out[i] = v%d;\n}\n", p->count - 1);
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* Broadcast strides of leaf against the output shape; returns 1 if the leaf can be
 * read directly (same shape, contiguous). */
static int leaf_strides(const clg_tensor *leaf, const clg_tensor *out, cl_long8 *st) {
    memset(st, 0, sizeof *st);
    int direct = clg_tensor_is_contiguous(leaf) && leaf->ndim == out->ndim;
    int shift = out->ndim - leaf->ndim;
    for (int d = 0; d < out->ndim; d++) {
        int ld = d - shift;
        if (ld < 0 || leaf->shape[ld] == 1) {
            st->s[d] = 0;
            if (out->shape[d] != 1) direct = 0;
        } else {
            st->s[d] = leaf->strides[ld];
            if (leaf->shape[ld] != out->shape[d]) direct = 0;
        }
    }
    return direct;
}

static clg_status run_program(clg_tensor *t, const ew_program *p) {
    clg_context *ctx = t->ctx;
    int64_t numel = clg_tensor_numel(t);
    char what[160];
    snprintf(what, sizeof what, "fused elementwise kernel for tensor of %lld elements", (long long)numel);
    clg_buffer *buf = clg_buffer_new(ctx, (size_t)numel * sizeof(float), what);
    if (!buf) return clg_last_status();
    clg_status st = CLG_OK;
    if (numel > 0) {
        /* Leaves that are not the output's shape and contiguous are read through
         * broadcast strides over the coalesced iteration space. */
        cl_uint mask = 0;
        cl_long8 strides[EW_MAX_LEAVES];
        int64_t sh[CLG_MAX_DIMS], lst[EW_MAX_LEAVES][CLG_MAX_DIMS], *arrays[EW_MAX_LEAVES];
        int narrays = 0;
        memcpy(sh, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        for (int l = 0; l < p->nleaves; l++) {
            if (leaf_strides(p->leaves[l], t, &strides[l])) continue;
            mask |= 1u << l;
            for (int d = 0; d < t->ndim; d++) lst[l][d] = strides[l].s[d];
            arrays[narrays++] = lst[l];
        }
        cl_int nd = mask ? clg_coalesce_dims(t->ndim, sh, narrays, arrays) : 0;
        if (mask && nd == 0) { /* every extent is 1: one element, read at index 0 */
            nd = 1;
            sh[0] = 1;
            for (int k = 0; k < narrays; k++) arrays[k][0] = 0;
        }
        char name[2100];
        if (nd) snprintf(name, sizeof name, "ew:%snd=%d;", p->key, (int)nd);
        else snprintf(name, sizeof name, "ew:%s", p->key);
        /* The source is generated only the first time a structure is seen. */
        cl_program prog = clg_program_find(ctx, name, NULL);
        char *source = prog ? NULL : generate_source(p, nd);
        if (!prog && !source) {
            clg_buffer_release(buf);
            return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "generating a fused kernel");
        }
        if (!prog) {
            const char *prelude = clg_embedded_source("prelude");
            size_t n = strlen(prelude) + strlen(source) + 2;
            char *full = malloc(n);
            if (!full) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "generating a fused kernel");
            else {
                snprintf(full, n, "%s\n%s", prelude, source);
                st = clg_program_get(ctx, name, full, NULL, &prog);
            }
            free(full);
            free(source);
        }
        cl_kernel k = NULL;
        if (st == CLG_OK) st = clg_program_kernel(ctx, prog, "ew", &k);
        if (st == CLG_OK) {
            enum { MAX_ARGS = 6 + 3 * EW_MAX_LEAVES + EW_MAX_SCALARS };
            clg_arg args[MAX_ARGS];
            cl_ulong cnt = (cl_ulong)numel;
            cl_ulong8 shape;
            cl_uint16 mg;
            cl_ulong offs[EW_MAX_LEAVES];
            memset(&shape, 0, sizeof shape);
            memset(&mg, 0, sizeof mg);
            for (int d = 0; d < nd; d++) {
                shape.s[d] = (cl_ulong)sh[d];
                if (numel <= (int64_t)UINT32_MAX) {
                    cl_uint2 m = clg_div_magic((uint32_t)sh[d]);
                    mg.s[2 * d] = m.s[0];
                    mg.s[2 * d + 1] = m.s[1];
                }
            }
            for (int l = 0; l < p->nleaves; l++) {
                if (!(mask & (1u << l))) continue;
                memset(&strides[l], 0, sizeof strides[l]);
                for (int d = 0; d < nd; d++) strides[l].s[d] = lst[l][d];
            }
            int na = 0;
            args[na++] = CLG_ARG_BUF(buf);
            args[na++] = CLG_ARG(cnt);
            args[na++] = CLG_ARG(nd);
            args[na++] = CLG_ARG(shape);
            args[na++] = CLG_ARG(mask);
            args[na++] = CLG_ARG(mg);
            for (int l = 0; l < p->nleaves; l++) {
                const clg_tensor *leaf = p->leaves[l];
                offs[l] = (cl_ulong)leaf->offset;
                args[na++] = CLG_ARG_BUF(leaf->buf);
                args[na++] = CLG_ARG(offs[l]);
                args[na++] = CLG_ARG(strides[l]);
            }
            for (int s = 0; s < p->nscalars; s++) args[na++] = CLG_ARG(p->scalars[s]);
            st = clg_launch(ctx, k, (size_t)numel, na, args, what);
        }
    }
    if (st != CLG_OK) {
        clg_buffer_release(buf);
        return st;
    }
    t->buf = buf;
    t->offset = 0;
    return CLG_OK;
}

clg_status clg_realize(const clg_tensor *ct) {
    clg_tensor *t = (clg_tensor *)ct; /* realizing is invisible to the caller */
    if (!t || !t->expr) return CLG_OK;
    ew_program *p = calloc(1, sizeof *p);
    if (!p) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "planning a fused kernel");
    clg_status st = CLG_OK;
    if (plan_node(p, t->expr) < 0) /* constructors keep expressions within limits */
        st = clg_fail(CLG_STATUS_INVALID_ARGUMENT, "fused expression exceeds kernel limits");
    if (st == CLG_OK) st = run_program(t, p);
    free(p);
    if (st != CLG_OK) return st;
    clg_lazy_forget(t);
    clg_expr_release(t->expr);
    t->expr = NULL;
    return CLG_OK;
}

clg_status clg_flush(clg_context *ctx) {
    while (ctx->lazy_head) {
        clg_status st = clg_realize(ctx->lazy_head);
        if (st != CLG_OK) return st;
    }
    return CLG_OK;
}

/* --- building expressions ------------------------------------------------------------- */

static clg_expr *operand_expr(const clg_tensor *t) {
    if (t->expr) {
        t->expr->refs++;
        return t->expr;
    }
    clg_expr *e = expr_new(EXPR_LEAF);
    if (!e) return NULL;
    e->leaf = clg_tensor_retain(t);
    e->leaves = 1;
    return e;
}

clg_tensor *clg_ew(const char *api, clg_op op, int n, const clg_tensor *const *x, float p0,
                   float p1) {
    const ew_def *def = ew_lookup(op);
    if (!def || def->arity != n) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: internal op table mismatch", api);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!x[i]) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: operand %d is NULL", api, i + 1);
            return NULL;
        }
        char d[220];
        if (x[i]->dtype != CLG_FLOAT32) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is %s; elementwise ops take float32", api,
                     clg_tensor_describe(x[i], d, sizeof d), clg_dtype_name(x[i]->dtype));
            return NULL;
        }
        if (x[i]->ctx != x[0]->ctx) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: operands belong to different contexts", api);
            return NULL;
        }
    }
    int ndim = x[0]->ndim;
    int64_t shape[CLG_MAX_DIMS];
    memcpy(shape, x[0]->shape, sizeof shape);
    for (int i = 1; i < n; i++) {
        int64_t merged[CLG_MAX_DIMS];
        int nd;
        if (clg_broadcast_shapes(api, ndim, shape, x[i]->ndim, x[i]->shape, &nd, merged) != CLG_OK)
            return NULL;
        ndim = nd;
        memcpy(shape, merged, sizeof shape);
    }
    /* Keep the fused kernel within its limits: evaluate big operands first. */
    int nodes = 1, leaves = 0, scalars = 2;
    for (int i = 0; i < n; i++) {
        const clg_expr *e = x[i]->expr;
        nodes += e ? e->nodes : 1;
        leaves += e ? e->leaves : 1;
        scalars += e ? e->scalars : 0;
    }
    if (nodes > EW_MAX_NODES || leaves > EW_MAX_LEAVES || scalars > EW_MAX_SCALARS) {
        for (int i = 0; i < n; i++)
            if (x[i]->expr && x[i]->expr->kind == EXPR_OP && clg_realize(x[i]) != CLG_OK) return NULL;
    }

    clg_tensor *out = clg_tensor_record(x[0]->ctx, CLG_FLOAT32, ndim, shape, api);
    clg_expr *e = out ? expr_new(EXPR_OP) : NULL;
    if (!e) {
        clg_tensor_free(out);
        return NULL;
    }
    e->op = op;
    e->p[0] = p0;
    e->p[1] = p1;
    e->scalars = 2;
    for (int i = 0; i < n; i++) {
        if (!(e->in[i] = operand_expr(x[i]))) {
            clg_expr_release(e);
            clg_tensor_free(out);
            return NULL;
        }
        e->nin = i + 1;
        e->nodes += e->in[i]->nodes;
        e->leaves += e->in[i]->leaves;
        e->scalars += e->in[i]->scalars;
    }
    out->expr = e;
    lazy_link(out);

    int differentiable = !(op >= CLG_OP_EQ && op <= CLG_OP_GE) && op != CLG_OP_SIGN;
    if (differentiable && clg_needs_grad(n, x)) {
        clg_gnode *node = clg_record(out, op, n, x);
        if (!node) {
            clg_tensor_free(out);
            return NULL;
        }
        node->fattr[0] = p0;
        node->fattr[1] = p1;
        /* Rules need every operand, also those outside the graph. */
        for (int i = 0; i < n; i++) node->saved[i] = clg_tensor_retain(x[i]);
    }
    return out;
}

clg_tensor *clg_broadcast_to(const clg_tensor *x, int ndim, const int64_t *shape) {
    const char *api = "clg_broadcast_to";
    if (!x || (ndim > 0 && !shape)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: NULL argument", api);
        return NULL;
    }
    char d[220], s1[200];
    int ok = ndim >= x->ndim && ndim <= CLG_MAX_DIMS;
    for (int i = 0; ok && i < x->ndim; i++) {
        int64_t xd = x->shape[i], td = shape[i + ndim - x->ndim];
        ok = xd == td || xd == 1;
    }
    if (!ok) {
        clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: %s cannot be broadcast to %s", api,
                 clg_tensor_describe(x, d, sizeof d), clg_shape_format(ndim, shape, s1, sizeof s1));
        return NULL;
    }
    if (x->dtype != CLG_FLOAT32) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is %s (float32 only)", api,
                 clg_tensor_describe(x, d, sizeof d), clg_dtype_name(x->dtype));
        return NULL;
    }
    if (x->expr && x->expr->nodes + 1 > EW_MAX_NODES && clg_realize(x) != CLG_OK) return NULL;
    clg_tensor *out = clg_tensor_record(x->ctx, CLG_FLOAT32, ndim, shape, api);
    clg_expr *e = out ? expr_new(EXPR_OP) : NULL;
    if (!e || !(e->in[0] = operand_expr(x))) {
        clg_expr_release(e);
        clg_tensor_free(out);
        return NULL;
    }
    e->op = CLG_OP_IDENTITY;
    e->nin = 1;
    e->nodes += e->in[0]->nodes;
    e->leaves = e->in[0]->leaves;
    e->scalars = e->in[0]->scalars;
    out->expr = e;
    lazy_link(out);
    if (clg_needs_grad(1, &x) && !clg_record(out, CLG_OP_BROADCAST_TO, 1, &x)) {
        clg_tensor_free(out);
        return NULL;
    }
    return out;
}

clg_status clg_bw_broadcast_to(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    const clg_tensor *x = n->inputs[0];
    gin[0] = clg_sum_to_shape(g, x->ndim, x->shape);
    return gin[0] ? CLG_OK : clg_last_status();
}
