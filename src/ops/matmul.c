/* Matrix products through CLBlast: matmul, batched matmul, the dense layer and
 * their backward rules. On CPU-type OpenCL devices (PoCL), where CLBlast's
 * GPU-shaped kernels reach a fraction of the machine, the same calls run
 * clgrad's own kernel instead (gemm_cpu.h); CLGRAD_GEMM=clblast|own|auto
 * forces either implementation.
 *
 * CLBlast reads a matrix as (buffer, offset, leading dimension) in row-major
 * order, optionally transposed. A view whose last axis has unit stride is passed
 * as it is (its row stride is the leading dimension); a transposed view (unit
 * stride on the other axis) is passed as its storage with the transpose flag
 * flipped; anything else is copied once into a contiguous temporary.
 *
 * Every CLBlast call goes through gemm_run, which checks the status and, while a
 * step is being captured, records the call with every argument so a replay
 * repeats it exactly. The GEMM's scratch space comes from the pool and is held
 * by the step, so replaying allocates nothing. (CLBlast's strided-batched GEMM
 * has no scratch-buffer form: for sizes that take its indirect path CLBlast
 * allocates scratch itself.) */
#include <stdio.h>
#include <string.h>

#include "runtime/cl.h" /* before clblast_c.h: one OpenCL target version */

#include <clblast_c.h>

#include "common/error.h"
#include "graph/graph.h"
#include "ops/gemm_cpu.h"

/* --- the CLBlast call ------------------------------------------------------------ */

/* Every argument of one GEMM, so that a captured step can repeat it. */
typedef struct gemm_call {
    int batched;
    CLBlastTranspose ta, tb;
    size_t m, n, k, batch;
    cl_mem a, b, c, temp; /* temp: NULL when CLBlast needs none */
    size_t a_off, a_ld, a_stride;
    size_t b_off, b_ld, b_stride;
    size_t c_off, c_ld, c_stride;
    char what[200]; /* "clg_matmul: [2,3] x [3,4]", for messages (also on replay) */
} gemm_call;

static const char *clblast_status_name(CLBlastStatusCode code) {
    switch (code) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInsufficientMemoryTemp: return "CLBlastInsufficientMemoryTemp";
    case CLBlastInvalidBatchCount: return "CLBlastInvalidBatchCount";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastDatabaseError: return "CLBlastDatabaseError";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
    default: return "CLBlast error";
    }
}

/* CLBlast returns OpenCL's codes for OpenCL failures and its own below -1000. */
static clg_status gemm_check(CLBlastStatusCode code, const gemm_call *g, const char *fn) {
    if (code == CLBlastSuccess) return CLG_OK;
    clg_status st;
    const char *name;
    if (code > -1000) {
        name = clg_cl_error_name((cl_int)code);
        if (code == CL_MEM_OBJECT_ALLOCATION_FAILURE || code == CL_OUT_OF_RESOURCES)
            st = CLG_STATUS_OUT_OF_DEVICE_MEMORY;
        else if (code == CL_OUT_OF_HOST_MEMORY)
            st = CLG_STATUS_OUT_OF_HOST_MEMORY;
        else if (code == CL_BUILD_PROGRAM_FAILURE || code == CL_COMPILER_NOT_AVAILABLE)
            st = CLG_STATUS_BUILD_FAILED;
        else
            st = CLG_STATUS_OPENCL_ERROR;
    } else {
        name = clblast_status_name(code);
        if (code == CLBlastNotImplemented || code == CLBlastInvalidLocalMemUsage ||
            code == CLBlastDatabaseError)
            st = CLG_STATUS_UNSUPPORTED;
        else if ((code >= CLBlastNotImplemented && code <= CLBlastInsufficientMemoryY) ||
                 code == CLBlastInsufficientMemoryTemp || code == CLBlastInvalidBatchCount)
            st = CLG_STATUS_INVALID_ARGUMENT; /* CLBlast's argument checks */
        else
            st = CLG_STATUS_OPENCL_ERROR;
    }
    return clg_fail(st,
                    "%s: %s (m=%zu, n=%zu, k=%zu, batch=%zu, transpose a=%d b=%d, ld %zu/%zu/%zu) "
                    "failed: %s (CLBlast status %d)",
                    g->what, fn, g->m, g->n, g->k, g->batch, g->ta == CLBlastTransposeYes,
                    g->tb == CLBlastTransposeYes, g->a_ld, g->b_ld, g->c_ld, name, (int)code);
}

size_t clg_gemm_parse_tuning(char *text, const char **names, size_t *values, size_t max) {
    size_t n = 0;
    char *p = text;
    while (*p) {
        while (*p == ' ') *p++ = '\0';
        if (!*p) break;
        char *name = p;
        while (*p && *p != '=' && *p != ' ') p++;
        if (*p != '=' || p == name || n == max) return 0;
        *p++ = '\0';
        if (*p < '0' || *p > '9') return 0;
        size_t v = 0;
        while (*p >= '0' && *p <= '9') {
            if (v > ((size_t)-1 - 9) / 10) return 0;
            v = v * 10 + (size_t)(*p++ - '0');
        }
        if (*p && *p != ' ') return 0;
        names[n] = name;
        values[n++] = v;
    }
    return n;
}

/* The store's tuned Xgemm parameters (CLG_STORE_CLBLAST_XGEMM, from `clgrad
 * tune`), given to CLBlast once per context before its first GEMM. CLBlast keeps
 * them per device and recompiles with them. An absent, empty or malformed value
 * leaves CLBlast's defaults; so does a set CLBlast refuses. */
static void apply_gemm_tuning(clg_context *ctx) {
    if (ctx->gemm_tuning_read) return;
    ctx->gemm_tuning_read = 1;
    char value[1024];
    if (clg_store_get(ctx, CLG_STORE_CLBLAST_XGEMM, value, sizeof value) != CLG_OK) {
        clg_clear_error(); /* not tuned: nothing went wrong */
        return;
    }
    enum { MAX_PARAMS = 32 };
    const char *names[MAX_PARAMS];
    size_t values[MAX_PARAMS];
    size_t n = clg_gemm_parse_tuning(value, names, values, MAX_PARAMS);
    if (n > 0) CLBlastOverrideParameters(ctx->device, "Xgemm", CLBlastPrecisionSingle, n, names, values);
}

static clg_status gemm_enqueue(clg_context *ctx, const gemm_call *g) {
    apply_gemm_tuning(ctx);
    CLBlastStatusCode code = (CLBlastStatusCode)CLG_FAULT(ctx, CLG_FAULT_ENQUEUE);
    if (code != CLBlastSuccess)
        return clg_fault_report(
            ctx, gemm_check(code, g, g->batched ? "CLBlastSgemmStridedBatched" : "CLBlastSgemmWithTempBuffer"));
    cl_event ev = NULL;
    if (g->batched) {
        code = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, g->ta, g->tb, g->m, g->n, g->k,
                                          1.0f, g->a, g->a_off, g->a_ld, g->a_stride, g->b,
                                          g->b_off, g->b_ld, g->b_stride, 0.0f, g->c, g->c_off,
                                          g->c_ld, g->c_stride, g->batch, &ctx->queue,
                                          CLG_PROFILE_EVENT(ctx, ev));
        clg_profile_record(ctx, NULL, "clblast:sgemm_strided_batched", ev);
        return gemm_check(code, g, "CLBlastSgemmStridedBatched");
    }
    code = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f,
                                      g->a, g->a_off, g->a_ld, g->b, g->b_off, g->b_ld, 0.0f, g->c,
                                      g->c_off, g->c_ld, &ctx->queue, CLG_PROFILE_EVENT(ctx, ev), g->temp);
    clg_profile_record(ctx, NULL, "clblast:sgemm", ev);
    return gemm_check(code, g, "CLBlastSgemmWithTempBuffer");
}

static clg_status gemm_replay(clg_context *ctx, const void *payload) {
    return gemm_enqueue(ctx, payload);
}

/* The one place GEMMs are enqueued: runs the call and, when a step is being
 * captured, records it with the buffers it uses (kept alive by the step). */
static clg_status gemm_run(clg_context *ctx, const gemm_call *g, clg_buffer *const *bufs,
                           int nbufs) {
    clg_status st = gemm_enqueue(ctx, g);
    if (st == CLG_OK && ctx->capture)
        st = clg_capture_call(ctx, gemm_replay, g, sizeof *g, bufs, nbufs);
    return st;
}

/* --- operands -------------------------------------------------------------------------- */

/* How CLBlast reads the last two axes of a tensor. */
typedef struct operand {
    const clg_tensor *t; /* the input, or `copy` */
    clg_tensor *copy;    /* a contiguous copy when the input's layout does not fit */
    int trans;           /* transpose flag to give CLBlast */
    size_t ld, offset, stride;
} operand;

/* t [..., r, c] used transposed or not (`trans`): finds a layout CLBlast can read
 * without a copy, else copies. Sizes are all > 0 here. */
static clg_status operand_prepare(const clg_tensor *t, int trans, operand *op, const char *api) {
    memset(op, 0, sizeof *op);
    for (int attempt = 0; attempt < 2; attempt++) {
        const clg_tensor *s = attempt ? op->copy : t;
        int nd = s->ndim;
        int64_t r = s->shape[nd - 2], c = s->shape[nd - 1];
        int64_t s0 = s->strides[nd - 2], s1 = s->strides[nd - 1];
        int64_t sb = nd == 3 && s->shape[0] > 1 ? s->strides[0] : 0;
        op->t = s;
        op->offset = (size_t)s->offset;
        op->stride = (size_t)(sb > 0 ? sb : 0);
        if (sb >= 0 && (c == 1 || s1 == 1) && (r == 1 || s0 >= c)) {
            /* row-major with row stride s0 */
            op->trans = trans;
            op->ld = (size_t)(r == 1 ? c : s0);
            return CLG_OK;
        }
        if (sb >= 0 && (r == 1 || s0 == 1) && (c == 1 || s1 >= r)) {
            /* column-major: the transpose of a row-major [c, r] matrix */
            op->trans = !trans;
            op->ld = (size_t)(c == 1 ? r : s1);
            return CLG_OK;
        }
        if (attempt) break;
        op->copy = clg_tensor_alloc(t->ctx, CLG_FLOAT32, t->ndim, t->shape, api);
        if (!op->copy) return clg_last_status();
        clg_status st = clg_copy_into(op->copy, t, api);
        if (st != CLG_OK) return st;
    }
    return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: no GEMM layout for a contiguous copy", api);
}

/* --- constructors ---------------------------------------------------------------------- */

static char *describe_operand(const clg_tensor *t, int trans, char *buf, size_t cap) {
    clg_shape_format(t->ndim, t->shape, buf, cap);
    if (trans && strlen(buf) + 3 <= cap) strcat(buf, "^T");
    return buf;
}

static clg_status check_input(const char *api, const char *which, const clg_tensor *t, int rank) {
    char d[220];
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor %s is NULL", api, which);
    if (t->dtype != CLG_FLOAT32)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is %s; matrix products take float32",
                        api, clg_tensor_describe(t, d, sizeof d), clg_dtype_name(t->dtype));
    if (t->ndim != rank)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s has rank %d; expected rank %d", api,
                        clg_tensor_describe(t, d, sizeof d), t->ndim, rank);
    return CLG_OK;
}

/* C = op(A) op(B) for rank-2 (batched 0) or rank-3 (batched 1) operands. */
static clg_tensor *matmul_impl(const char *api, const clg_tensor *a, const clg_tensor *b, int ta,
                               int tb, int batched) {
    ta = ta != 0;
    tb = tb != 0;
    int rank = batched ? 3 : 2;
    if (check_input(api, "a", a, rank) != CLG_OK || check_input(api, "b", b, rank) != CLG_OK)
        return NULL;
    if (a->ctx != b->ctx) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensors on different contexts (%s and %s)", api,
                 a->ctx->label, b->ctx->label);
        return NULL;
    }
    clg_context *ctx = a->ctx;
    char sa[100], sb[100];
    describe_operand(a, ta, sa, sizeof sa);
    describe_operand(b, tb, sb, sizeof sb);
    int r = rank - 2; /* index of the row axis */
    int64_t batch = batched ? a->shape[0] : 1;
    if (batched && a->shape[0] != b->shape[0]) {
        clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: %s x %s: batch sizes %lld and %lld differ", api, sa,
                 sb, (long long)a->shape[0], (long long)b->shape[0]);
        return NULL;
    }
    int64_t m = a->shape[r + ta], ka = a->shape[r + !ta];
    int64_t kb = b->shape[r + tb], n = b->shape[r + !tb];
    if (ka != kb) {
        clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: %s x %s: inner dimensions %lld and %lld differ", api,
                 sa, sb, (long long)ka, (long long)kb);
        return NULL;
    }
    int64_t shape[3] = {batch, m, n};
    const int64_t *oshape = batched ? shape : shape + 1;

    clg_tensor *out = NULL;
    if (batch == 0 || m == 0 || n == 0) {
        out = clg_tensor_alloc(ctx, CLG_FLOAT32, rank, oshape, api);
    } else if (ka == 0) {
        out = clg_tensor_zeros(ctx, CLG_FLOAT32, rank, oshape);
    } else {
        operand oa, ob;
        memset(&oa, 0, sizeof oa);
        memset(&ob, 0, sizeof ob);
        clg_buffer *temp = NULL;
        clg_status st = clg_realize(a);
        if (st == CLG_OK) st = clg_realize(b);
        if (st == CLG_OK) st = operand_prepare(a, ta, &oa, api);
        if (st == CLG_OK) st = operand_prepare(b, tb, &ob, api);
        if (st == CLG_OK) {
            out = clg_tensor_alloc(ctx, CLG_FLOAT32, rank, oshape, api);
            st = out ? CLG_OK : clg_last_status();
        }
        gemm_call g;
        memset(&g, 0, sizeof g);
        if (st == CLG_OK) {
            g.batched = batched;
            g.ta = oa.trans ? CLBlastTransposeYes : CLBlastTransposeNo;
            g.tb = ob.trans ? CLBlastTransposeYes : CLBlastTransposeNo;
            g.m = (size_t)m;
            g.n = (size_t)n;
            g.k = (size_t)ka;
            g.batch = (size_t)batch;
            g.a = oa.t->buf->mem;
            g.a_off = oa.offset;
            g.a_ld = oa.ld;
            g.a_stride = oa.stride;
            g.b = ob.t->buf->mem;
            g.b_off = ob.offset;
            g.b_ld = ob.ld;
            g.b_stride = ob.stride;
            g.c = out->buf->mem;
            g.c_off = 0;
            g.c_ld = (size_t)n;
            g.c_stride = (size_t)(m * n);
            snprintf(g.what, sizeof g.what, "%s: %s x %s", api, sa, sb);
        }
        /* CPU-like devices take clgrad's own kernel (gemm_cpu.h; CLGRAD_GEMM forces
         * either implementation), everything else CLBlast. */
        clg_gemm_impl impl = CLG_GEMM_IMPL_CLBLAST;
        if (st == CLG_OK) {
            clg_gemm_desc d = {
                .m = g.m, .n = g.n, .k = g.k, .batch = g.batch,
                .trans_a = oa.trans, .trans_b = ob.trans,
                .a = oa.t->buf, .b = ob.t->buf, .c = out->buf,
                .a_off = g.a_off, .a_ld = g.a_ld, .a_stride = g.a_stride,
                .b_off = g.b_off, .b_ld = g.b_ld, .b_stride = g.b_stride,
                .c_off = g.c_off, .c_ld = g.c_ld, .c_stride = g.c_stride,
                .what = g.what};
            st = clg_gemm_choose(ctx, &d, &impl);
            if (st == CLG_OK && impl == CLG_GEMM_IMPL_OWN) st = clg_gemm_cpu_run(ctx, &d);
        }
        if (st == CLG_OK && impl == CLG_GEMM_IMPL_CLBLAST && !batched) {
            size_t temp_bytes = 0;
            st = gemm_check(CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, g.ta, g.tb, g.m, g.n,
                                                       g.k, g.a_off, g.a_ld, g.b_off, g.b_ld,
                                                       g.c_off, g.c_ld, &ctx->queue, &temp_bytes),
                            &g, "CLBlastSGemmTempBufferSize");
            if (st == CLG_OK && temp_bytes > 0) {
                char what[240];
                snprintf(what, sizeof what, "the GEMM workspace of %s", g.what);
                temp = clg_buffer_new(ctx, temp_bytes, what);
                if (temp) g.temp = temp->mem;
                else st = clg_last_status();
            }
        }
        if (st == CLG_OK && impl == CLG_GEMM_IMPL_CLBLAST) {
            clg_buffer *bufs[4] = {oa.t->buf, ob.t->buf, out->buf, temp};
            st = gemm_run(ctx, &g, bufs, temp ? 4 : 3);
        }
        clg_buffer_release(temp);
        clg_tensor_free(oa.copy);
        clg_tensor_free(ob.copy);
        if (st != CLG_OK) {
            clg_tensor_free(out);
            return NULL;
        }
    }
    if (!out) return NULL;

    const clg_tensor *ins[2] = {a, b};
    if (clg_needs_grad(2, ins)) {
        clg_gnode *node = clg_record(out, batched ? CLG_OP_MATMUL_BATCHED : CLG_OP_MATMUL, 2, ins);
        if (!node) {
            clg_tensor_free(out);
            return NULL;
        }
        node->iattr[0] = ta;
        node->iattr[1] = tb;
        /* dA needs B and dB needs A. */
        if (node->inputs[0]) node->saved[1] = clg_tensor_retain(b);
        if (node->inputs[1]) node->saved[0] = clg_tensor_retain(a);
    }
    return out;
}

clg_tensor *clg_matmul(const clg_tensor *a, const clg_tensor *b, int trans_a, int trans_b) {
    return matmul_impl("clg_matmul", a, b, trans_a, trans_b, 0);
}

clg_tensor *clg_matmul_batched(const clg_tensor *a, const clg_tensor *b, int trans_a, int trans_b) {
    return matmul_impl("clg_matmul_batched", a, b, trans_a, trans_b, 1);
}

/* x @ w, plus b through the lazy clg_add so that a following elementwise op
 * (the activation) fuses with the bias into one kernel. */
clg_tensor *clg_linear(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b) {
    const char *api = "clg_linear";
    if (check_input(api, "x", x, 2) != CLG_OK || check_input(api, "w", w, 2) != CLG_OK) return NULL;
    if (b) {
        char d[220], dw[220];
        if (b->dtype != CLG_FLOAT32 || b->ndim != 1 || b->shape[0] != w->shape[1]) {
            clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                     "%s: bias %s %s does not match weight %s (expected float32 [%lld])", api,
                     clg_tensor_describe(b, d, sizeof d), clg_dtype_name(b->dtype),
                     clg_tensor_describe(w, dw, sizeof dw), (long long)w->shape[1]);
            return NULL;
        }
        if (b->ctx != w->ctx) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: bias and weight on different contexts (%s and %s)",
                     api, b->ctx->label, w->ctx->label);
            return NULL;
        }
    }
    clg_tensor *y = matmul_impl(api, x, w, 0, 0, 0);
    if (!y || !b) return y;
    clg_tensor *out = clg_add(y, b);
    clg_tensor_free(y);
    return out;
}

/* --- backward ------------------------------------------------------------------------------ */

/* For C = op(A) op(B) and G = dC:
 *   dA = G op(B)^T     (trans_a 0)   or  op(B) G^T  (trans_a 1)
 *   dB = op(A)^T G     (trans_b 0)   or  G^T op(A)  (trans_b 1)
 * each written as one product with the right flags, so no transpose is copied. */
static clg_status matmul_backward(clg_gnode *n, const clg_tensor *g, clg_tensor **gin,
                                  clg_tensor *(*mm)(const clg_tensor *, const clg_tensor *, int, int)) {
    int ta = (int)n->iattr[0], tb = (int)n->iattr[1];
    const clg_tensor *a = n->saved[0], *b = n->saved[1];
    if (n->inputs[0]) {
        gin[0] = ta ? mm(b, g, tb, 1) : mm(g, b, 0, !tb);
        if (!gin[0]) return clg_last_status();
    }
    if (n->inputs[1]) {
        gin[1] = tb ? mm(g, a, 1, ta) : mm(a, g, !ta, 0);
        if (!gin[1]) return clg_last_status();
    }
    return CLG_OK;
}

clg_status clg_bw_matmul(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    return matmul_backward(n, g, gin, clg_matmul);
}

clg_status clg_bw_matmul_batched(clg_gnode *n, const clg_tensor *out, const clg_tensor *g,
                                 clg_tensor **gin) {
    (void)out;
    return matmul_backward(n, g, gin, clg_matmul_batched);
}
