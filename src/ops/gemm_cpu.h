/* Internal: clgrad's own float32 GEMM for CPU-like OpenCL devices (cl/gemm_cpu.cl).
 *
 * matmul.c describes every product the way it would hand it to CLBlast (row-major
 * operands as buffer, offset, leading dimension, transpose flag and batch stride)
 * and asks clg_gemm_choose which implementation runs it:
 *
 *   CLGRAD_GEMM unset or "auto"  this kernel on CL_DEVICE_TYPE_CPU devices, CLBlast elsewhere
 *   CLGRAD_GEMM=own              this kernel on every device (for comparisons)
 *   CLGRAD_GEMM=clblast          CLBlast on every device
 *
 * The variable is read at each call, so a benchmark can switch between products;
 * a captured step repeats whichever implementation ran while it was recorded. */
#ifndef CLG_OPS_GEMM_CPU_H
#define CLG_OPS_GEMM_CPU_H

#include <stddef.h>

#include "runtime/runtime_impl.h"

/* C[b] = op(A[b]) op(B[b]) for b < batch, with A [M, K] (or [K, M] when
 * trans_a), B [K, N] (or [N, K] when trans_b), C [M, N]; all row-major, offsets,
 * leading dimensions and batch strides in elements (a batch stride of 0 reuses
 * one matrix for every batch). */
typedef struct clg_gemm_desc {
    size_t m, n, k, batch;
    int trans_a, trans_b;
    clg_buffer *a, *b, *c;
    size_t a_off, a_ld, a_stride;
    size_t b_off, b_ld, b_stride;
    size_t c_off, c_ld, c_stride;
    const char *what; /* names the operation in messages, e.g. "clg_matmul: [2,3] x [3,4]" */
} clg_gemm_desc;

typedef enum clg_gemm_impl { CLG_GEMM_IMPL_CLBLAST = 0, CLG_GEMM_IMPL_OWN = 1 } clg_gemm_impl;

/* Which implementation runs g on ctx's device (see above). Returns CLG_OK and
 * sets *impl, or CLG_STATUS_INVALID_ARGUMENT when CLGRAD_GEMM holds another value.
 * Shapes the kernel cannot take (a size past 2^32 - 1, packed panels larger than
 * one allocation) go to CLBlast even when "own" is forced. */
clg_status clg_gemm_choose(const struct clg_context *ctx, const clg_gemm_desc *g,
                           clg_gemm_impl *impl);

/* Commands one small product (below 2^21 multiply-adds) records in a captured
 * step on ctx with CLGRAD_GEMM as it is now: 2 for the kernel (pack B, product),
 * 1 for CLBlast, 0 when CLGRAD_GEMM is invalid. For tests that count a step's
 * commands. */
int clg_gemm_commands_per_product(const struct clg_context *ctx);

/* Enqueues g with the kernel, recorded into a step being captured: op(B) packed
 * into 32-column panels, for op(A) = A^T of a product of 2^21 multiply-adds or
 * more op(A) packed into 8-row panels, then the product (two or three launches).
 * Sizes must be > 0 and g accepted by clg_gemm_choose. The packed panels live in
 * pool buffers released after enqueueing (a capture holds them). */
clg_status clg_gemm_cpu_run(struct clg_context *ctx, const clg_gemm_desc *g);

/* Parses tuned CLBlast parameters "NAME=VALUE NAME=VALUE ..." in place (text
 * is cut into the names): at most max pairs into names and values. Returns the
 * number of pairs, or 0 when the text is empty or malformed (a token without
 * '=', an empty name, a value that is not a decimal number, more than max). */
size_t clg_gemm_parse_tuning(char *text, const char **names, size_t *values, size_t max);

#endif
