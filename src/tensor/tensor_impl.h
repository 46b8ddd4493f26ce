/* Internal: the tensor record and helpers for modules that launch kernels. */
#ifndef CLG_TENSOR_IMPL_H
#define CLG_TENSOR_IMPL_H

#include "clgrad/tensor.h"
#include "runtime/runtime_impl.h"

struct clg_gnode;
struct clg_expr;

struct clg_tensor {
    clg_context *ctx;
    clg_dtype dtype;
    int ndim;
    int64_t shape[CLG_MAX_DIMS];
    int64_t strides[CLG_MAX_DIMS]; /* elements */
    int64_t offset;                /* elements */
    clg_buffer *buf;               /* NULL while lazy (expr set) */
    char *name;
    int refs;                      /* the user's handle and the graph's references */

    /* autograd */
    int requires_grad;             /* a parameter (leaf) */
    struct clg_tensor *grad;       /* accumulated gradient of a parameter */
    struct clg_gnode *node;         /* the op that made this tensor, while recorded */
    struct clg_tensor *grad_acc;   /* backward's running gradient */
    unsigned visit;                /* backward's traversal mark */

    /* lazy elementwise evaluation (graph/fuse.c) */
    struct clg_expr *expr;
    struct clg_tensor *lazy_prev, *lazy_next;
};

/* Product of shape with overflow check against the byte size of dtype; writes
 * the element count. Records CLG_STATUS_SIZE_OVERFLOW / INVALID_ARGUMENT naming
 * `op` and the shape on failure. */
clg_status clg_shape_check(const char *op, int ndim, const int64_t *shape, clg_dtype dtype,
                           int64_t *numel);

/* "tensor 'name' [2,3]" or "tensor [2,3]" into buf, for messages. */
const char *clg_tensor_describe(const clg_tensor *t, char *buf, size_t cap);

/* A new tensor record (no data yet) with the given shape, contiguous strides
 * and one reference; the shape is checked. */
clg_tensor *clg_tensor_record(clg_context *ctx, clg_dtype dtype, int ndim, const int64_t *shape,
                              const char *op);

/* A new contiguous tensor on a fresh pool buffer, contents undefined. */
clg_tensor *clg_tensor_alloc(clg_context *ctx, clg_dtype dtype, int ndim, const int64_t *shape,
                             const char *op);

/* Simplifies an iteration space for strided kernels, in place: drops extents
 * of 1 and merges adjacent dimensions d, d + 1 that every stride array walks as
 * one (strides[k][d] == strides[k][d + 1] * shape[d + 1]; broadcast stride 0
 * merges with 0). The row-major numbering of the elements is kept, so a
 * contiguous output indexed by the element number needs no strides. Returns
 * the new rank (0 when every extent is 1); each kernel-side division per element
 * saved counts on CPU devices. */
int clg_coalesce_dims(int ndim, int64_t *shape, int narrays, int64_t *const *strides);

/* Copies src's elements into the (possibly strided) view dst of the same shape
 * and dtype, on the device. */
clg_status clg_copy_into(clg_tensor *dst, const clg_tensor *src, const char *what);

/* Queues a write of host bytes into the contiguous tensor t without waiting:
 * it runs in queue order (after the work queued before it), and `host` must
 * stay unchanged until *done completes (the caller waits on and releases it).
 * For prefetching the next batch while the device computes; refused while a
 * step is being captured (a captured write must own its bytes). */
clg_status clg_tensor_write_nonblocking(clg_tensor *t, const void *host, size_t bytes, cl_event *done);

/* Philox-4x32-10 host reference (same numbers as cl/rng.cl). */
void clg_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);
/* Element e of the stream (seed): raw bits, uniform in [low, high), normal. */
uint32_t clg_philox_bits(uint64_t seed, uint64_t e);

#endif
