/* Internal: the tensor record and helpers for modules that launch kernels. */
#ifndef CLG_TENSOR_IMPL_H
#define CLG_TENSOR_IMPL_H

#include "clgrad/tensor.h"
#include "runtime/runtime_impl.h"

struct clg_tensor {
    clg_context *ctx;
    clg_dtype dtype;
    int ndim;
    int64_t shape[CLG_MAX_DIMS];
    int64_t strides[CLG_MAX_DIMS]; /* elements */
    int64_t offset;                /* elements */
    clg_buffer *buf;
    char *name;
};

/* Product of shape with overflow check against the byte size of dtype; writes
 * the element count. Records CLG_STATUS_SIZE_OVERFLOW / INVALID_ARGUMENT naming
 * `op` and the shape on failure. */
clg_status clg_shape_check(const char *op, int ndim, const int64_t *shape, clg_dtype dtype,
                           int64_t *numel);

/* "tensor 'name' [2,3]" or "tensor [2,3]" into buf, for messages. */
const char *clg_tensor_describe(const clg_tensor *t, char *buf, size_t cap);

/* A new contiguous tensor on a fresh pool buffer, contents undefined. */
clg_tensor *clg_tensor_alloc(clg_context *ctx, clg_dtype dtype, int ndim, const int64_t *shape,
                             const char *op);

/* Philox-4x32-10 host reference (same numbers as cl/rng.cl). */
void clg_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);
/* Element e of the stream (seed): raw bits, uniform in [low, high), normal. */
uint32_t clg_philox_bits(uint64_t seed, uint64_t e);

#endif
