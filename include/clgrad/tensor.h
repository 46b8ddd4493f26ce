/** \file
 * Device tensors.
 *
 *     int64_t shape[2] = {2, 3};
 *     float host[6] = {1, 2, 3, 4, 5, 6};
 *     clg_tensor *a = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, host);
 *     clg_tensor *at = clg_tensor_transpose(a, 0, 1);   // a view, no copy
 *     float out[6];
 *     clg_tensor_to_host(at, out, sizeof out);          // {1, 4, 2, 5, 3, 6}
 *     clg_tensor_free(at);
 *     clg_tensor_free(a);
 *
 * A tensor is a shape (up to CLG_MAX_DIMS dimensions, any of them may be 0), a
 * dtype, and a strided window (strides and offset in elements) onto a device
 * buffer. Views (reshape of contiguous data, slice, permute, transpose) share the
 * buffer and cost no device work; the buffer lives until its last tensor is freed.
 * Device memory comes from the context's pool.
 *
 * Ownership: every function that returns a clg_tensor * returns a new tensor owned
 * by the caller, to be freed with clg_tensor_free (also for views), or NULL on
 * failure with the reason in clg_last_error(). Input tensors are never consumed.
 *
 * Thread safety: as for the context that owns the tensor (one thread at a time). */
#ifndef CLGRAD_TENSOR_H
#define CLGRAD_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "clgrad/export.h"
#include "clgrad/runtime.h"
#include "clgrad/status.h"

CLG_BEGIN_DECLS

#define CLG_MAX_DIMS 8

typedef enum clg_dtype {
    CLG_FLOAT32 = 0,
    CLG_INT32 = 1,
    CLG_UINT8 = 2,
    CLG_FLOAT16 = 3 /**< storage only; needs cl_khr_fp16 for arithmetic */
} clg_dtype;

CLG_API size_t clg_dtype_size(clg_dtype dtype);
CLG_API const char *clg_dtype_name(clg_dtype dtype); /**< "float32", ... */

typedef struct clg_tensor clg_tensor;

/** \defgroup tensor_creation Tensor creation
 * @{ */

/** Uninitialised contents. */
CLG_API clg_tensor *clg_tensor_empty(clg_context *ctx, clg_dtype dtype, int ndim,
                                     const int64_t *shape);
/** Copies numel * dtype size bytes from host (row-major). host may be NULL only
 * if the tensor has no elements. */
CLG_API clg_tensor *clg_tensor_from_host(clg_context *ctx, clg_dtype dtype, int ndim,
                                         const int64_t *shape, const void *host);
/** Every element = value (converted to dtype). */
CLG_API clg_tensor *clg_tensor_full(clg_context *ctx, clg_dtype dtype, int ndim,
                                    const int64_t *shape, double value);
CLG_API clg_tensor *clg_tensor_zeros(clg_context *ctx, clg_dtype dtype, int ndim,
                                     const int64_t *shape);
CLG_API clg_tensor *clg_tensor_ones(clg_context *ctx, clg_dtype dtype, int ndim,
                                    const int64_t *shape);
/** 1-D: start, start + step, ... while < stop (step > 0) or > stop (step < 0). */
CLG_API clg_tensor *clg_tensor_arange(clg_context *ctx, clg_dtype dtype, double start,
                                      double stop, double step);

/** \name Random tensors
 * Random tensors from a counter-based generator (Philox-4x32-10) computed on the
 * device. Element i of a tensor drawn with (seed, offset) depends only on seed,
 * offset and i, so the same call gives bit-identical uniforms on every device;
 * normals (Box-Muller) agree within a few ulp across devices. Pass a different
 * offset (e.g. the running count of drawn elements) for fresh numbers with the
 * same seed. float32 only. */
/** @{ */
CLG_API clg_tensor *clg_tensor_rand_uniform(clg_context *ctx, int ndim, const int64_t *shape,
                                            float low, float high, uint64_t seed,
                                            uint64_t offset);
CLG_API clg_tensor *clg_tensor_rand_normal(clg_context *ctx, int ndim, const int64_t *shape,
                                           float mean, float stddev, uint64_t seed,
                                           uint64_t offset);
/** @} */
/** Uniforms whose stream offset is read from a device counter (an evaluated
 * 8-byte tensor, e.g. int32 [2] zeros, holding a uint64) and then advanced on the
 * device by numel rounded up to 4: a captured step that draws this way gets
 * fresh numbers on every replay (a host offset would be frozen). Element i of
 * a draw at counter value c equals element c + i of clg_tensor_rand_uniform's
 * stream with the same seed. */
CLG_API clg_tensor *clg_tensor_rand_uniform_counter(clg_context *ctx, int ndim,
                                                    const int64_t *shape, float low, float high,
                                                    uint64_t seed, clg_tensor *counter);
/** Raw 32-bit random integers (dtype CLG_INT32, bit pattern of the uint32). */
CLG_API clg_tensor *clg_tensor_rand_bits(clg_context *ctx, int ndim, const int64_t *shape,
                                         uint64_t seed, uint64_t offset);

CLG_API void clg_tensor_free(clg_tensor *t); /**< NULL is a no-op */
/** @} */

/** \defgroup tensor_inspection Tensor inspection
 * @{ */

CLG_API int clg_tensor_ndim(const clg_tensor *t);
CLG_API const int64_t *clg_tensor_shape(const clg_tensor *t);   /**< ndim entries */
CLG_API const int64_t *clg_tensor_strides(const clg_tensor *t); /**< in elements */
CLG_API int64_t clg_tensor_offset(const clg_tensor *t);         /**< in elements */
CLG_API int64_t clg_tensor_numel(const clg_tensor *t);
CLG_API clg_dtype clg_tensor_dtype(const clg_tensor *t);
CLG_API clg_context *clg_tensor_context(const clg_tensor *t);
CLG_API int clg_tensor_is_contiguous(const clg_tensor *t);

/** Optional name used in error messages ("tensor 'conv1.weight' [32,1,3,3]").
 * The string is copied. */
CLG_API clg_status clg_tensor_set_name(clg_tensor *t, const char *name);
CLG_API const char *clg_tensor_name(const clg_tensor *t); /**< "" if unnamed */

/** Writes "[2,3]" into buf (always NUL-terminated when cap > 0); returns buf. */
CLG_API char *clg_shape_format(int ndim, const int64_t *shape, char *buf, size_t cap);
/** @} */

/** \defgroup tensor_data Data movement
 * @{ */

/** Copies the tensor's elements, in row-major order of its shape, to host.
 * bytes must be at least numel * dtype size. Blocks until the data is there.
 * Works on any view (non-contiguous views are gathered on the device first). */
CLG_API clg_status clg_tensor_to_host(const clg_tensor *t, void *host, size_t bytes);

/** Overwrites a contiguous tensor's elements from host. */
CLG_API clg_status clg_tensor_write(clg_tensor *t, const void *host, size_t bytes);

/** Overwrites dst's elements (dst may be a view) with src's values (same shape and
 * dtype; src may be any expression, also one that reads dst: it is evaluated
 * first). The in-place update parameters need, e.g. w = w - lr * grad. Not
 * recorded in the graph. */
CLG_API clg_status clg_tensor_assign(clg_tensor *dst, const clg_tensor *src);

/** A new contiguous tensor with the same elements (a copy, also when t already is
 * contiguous). */
CLG_API clg_tensor *clg_tensor_contiguous(const clg_tensor *t);

/** Prints shape, dtype and (up to max_items elements, 0 for a default of 64) the
 * values to stream. */
CLG_API clg_status clg_tensor_print(const clg_tensor *t, FILE *stream, int64_t max_items);
/** @} */

/** \defgroup tensor_views Views (no device work)
 * @{ */

/** Same elements with another shape; one entry of shape may be -1 (inferred).
 * A view when t is contiguous, else a contiguous copy. */
CLG_API clg_tensor *clg_tensor_reshape(const clg_tensor *t, int ndim, const int64_t *shape);
/** Elements start, start+step, ... before stop along axis (negative axis counts
 * from the end; start/stop are clamped like Python slices; step > 0). */
CLG_API clg_tensor *clg_tensor_slice(const clg_tensor *t, int axis, int64_t start,
                                     int64_t stop, int64_t step);
/** Axis i of the result is axis perm[i] of t. */
CLG_API clg_tensor *clg_tensor_permute(const clg_tensor *t, const int *perm);
CLG_API clg_tensor *clg_tensor_transpose(const clg_tensor *t, int axis0, int axis1);
/** @} */

CLG_END_DECLS

#endif
