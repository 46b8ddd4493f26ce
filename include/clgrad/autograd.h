/** \file
 * Automatic differentiation and captured steps.
 *
 *     clg_tensor_set_requires_grad(w, 1);
 *     clg_tensor *loss = ...ops on w...;
 *     clg_backward(loss, NULL);              // d loss / d w accumulates into grad(w)
 *     const clg_tensor *gw = clg_tensor_grad(w);
 *     ...
 *     clg_tensor_zero_grad(w);
 *
 * The graph is recorded as ops run (define by run) whenever an input requires a
 * gradient and recording is on (see clg_grad_set_enabled). clg_backward walks it
 * once and then releases it, so memory held for backward is freed.
 *
 * A training step (forward, backward, update) can be captured once and replayed:
 *
 *     clg_step_capture_begin(ctx);
 *     ... run the step once, eagerly (it executes while being recorded) ...
 *     clg_step *step = clg_step_capture_end(ctx);
 *     for (...) { clg_tensor_write(x, batch, bytes); clg_step_replay(step); }
 *
 * A replay enqueues the recorded kernels again on the same buffers: no graph
 * building, kernel lookup or allocation. Tensors created during capture and freed
 * before its end have their buffers reused by later allocations of the capture
 * (a liveness-based memory plan); the step owns those buffers until it is freed.
 * Tensors alive after the capture keep the values of the last replay. Reading a
 * tensor to the host during capture is an error (it would not be replayed).
 *
 * Thread safety: as for the context. */
#ifndef CLGRAD_AUTOGRAD_H
#define CLGRAD_AUTOGRAD_H

#include <stdint.h>

#include "clgrad/export.h"
#include "clgrad/tensor.h"

CLG_BEGIN_DECLS

/** Marks a tensor made by the user (not by an op) as a parameter whose gradient
 * backward computes. */
CLG_API clg_status clg_tensor_set_requires_grad(clg_tensor *t, int requires_grad);
/** True for such tensors and for results of ops that depend on them. */
CLG_API int clg_tensor_requires_grad(const clg_tensor *t);
/** The accumulated gradient (same shape as t), or NULL before any backward. The
 * tensor belongs to t: do not free it; it lives until zero_grad or t's free. */
CLG_API const clg_tensor *clg_tensor_grad(const clg_tensor *t);
/** Drops the accumulated gradient. */
CLG_API clg_status clg_tensor_zero_grad(clg_tensor *t);
/** A tensor sharing t's data but outside the graph (no gradient flows through). */
CLG_API clg_tensor *clg_tensor_detach(const clg_tensor *t);
/** Forces evaluation of a lazily evaluated (fused elementwise) result. */
CLG_API clg_status clg_tensor_eval(const clg_tensor *t);

/** Backpropagates from root. seed is d(something)/d(root) with root's shape; NULL
 * means 1 and requires root to have one element. Gradients accumulate into every
 * tensor that requires one; the graph below root is released afterwards. */
CLG_API clg_status clg_backward(const clg_tensor *root, const clg_tensor *seed);

/** Graph recording on (1, default) or off (0) for the context; returns the
 * previous setting, so scopes nest: int was = clg_grad_set_enabled(ctx, 0); ...;
 * clg_grad_set_enabled(ctx, was); */
CLG_API int clg_grad_set_enabled(clg_context *ctx, int enabled);

/** \defgroup autograd_steps Captured steps
 * @{ */

typedef struct clg_step clg_step;

typedef struct clg_step_info {
    uint64_t commands;        /**< kernel launches and GEMMs per replay */
    uint64_t buffers;         /**< device buffers owned by the step (its memory plan) */
    uint64_t owned_bytes;     /**< their size */
    uint64_t peak_bytes;      /**< device memory in use at the capture's peak */
    uint64_t allocations_saved; /**< allocations served by reusing a dead buffer */
} clg_step_info;

CLG_API clg_status clg_step_capture_begin(clg_context *ctx);
/** Ends the capture; NULL (with the reason) if none was running or it failed. */
CLG_API clg_step *clg_step_capture_end(clg_context *ctx);
CLG_API clg_status clg_step_replay(clg_step *step);
CLG_API clg_step_info clg_step_get_info(const clg_step *step);
CLG_API void clg_step_free(clg_step *step); /**< NULL is a no-op */
/** @} */

CLG_END_DECLS

#endif
