/** \file
 * Optimizers: Keras's gradient-descent updates, run on the device.
 *
 *     clg_optimizer *opt = clg_optimizer_adam(1e-3f, 0.9f, 0.999f, 1e-7f); // Keras's Adam()
 *     clg_optimizer_set_global_clipnorm(opt, 1.0f);                         // optional
 *     clg_optimizer_set_schedule_cosine(opt, 10000, 0.0f, 500, 0.0f);       // optional
 *     clg_tensor *params[] = {w, b};            // float32, requires_grad
 *     clg_optimizer_attach(opt, ctx, 2, params);
 *     for (...) {
 *         clg_tensor_zero_grad(w), clg_tensor_zero_grad(b);
 *         clg_backward(loss_of(w, b), NULL);
 *         clg_optimizer_step(opt);              // queues the update, returns at once
 *     }
 *     clg_optimizer_free(opt);
 *
 * Formulas are Keras 3's, in its order of operations (g the gradient after
 * clipping, lr the learning rate of this step, t = iterations + 1):
 *   SGD       momentum 0: p -= lr g
 *             else m = momentum m - lr g; p += nesterov ? momentum m - lr g : m
 *   Adam      m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); (amsgrad: vh = max(vh, v), v = vh)
 *             p -= m lr sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps)
 *   AdamW     Adam with weight decay (below), default 0.004
 *   RMSprop   v = rho v + (1 - rho) g^2; centered: a = rho a + (1 - rho) g, d = v - a^2 + eps,
 *             else d = v + eps; inc = lr g / sqrt(d); momentum > 0: mo = momentum mo + inc,
 *             p -= mo; else p -= inc
 *   Adagrad   acc += g^2 (acc starts at initial_accumulator_value); p -= lr g / sqrt(acc + eps)
 * Weight decay (any optimizer, clg_optimizer_set_weight_decay; AdamW's default
 * 0.004): p = p - p wd lr before the update. Gradient clipping, at most one
 * kind as in Keras: clipvalue clamps each element to [-c, c]; clipnorm scales
 * each parameter's gradient by c / max(||g||, c); global_clipnorm scales all of
 * them by c min(1 / N, 1 / c) with N the norm of all gradients together (a NaN
 * or infinite N makes every gradient NaN, as in Keras). Norms are computed on
 * the device in a fixed order (results repeat bit for bit).
 *
 * Learning-rate schedules, evaluated on the device at the step count before the
 * increment (as Keras's optimizer.learning_rate), with `lr` the optimizer's
 * learning rate (clg_optimizer_get_learning_rate):
 *   exponential  lr * rate^(step / decay_steps), floor of the exponent when staircase
 *                (Keras's ExponentialDecay with initial_learning_rate = lr)
 *   step         lr * gamma^floor(step / step_size) (ExponentialDecay, staircase)
 *   cosine       s = min(step, decay_steps); lr ((1 - alpha) 0.5 (1 + cos(pi s / decay_steps)) + alpha);
 *                with warmup_steps > 0, first a linear warm-up from warmup_initial
 *                to lr over warmup_steps steps, then the decay from lr (Keras's
 *                CosineDecay(initial_learning_rate = warmup_initial,
 *                warmup_target = lr, ...)).
 * clg_optimizer_set_learning_rate changes `lr`, so it rescales a schedule's
 * rates (the warm-up's start excepted); that is how ReduceLROnPlateau reduces a
 * scheduled rate (Keras refuses to set the rate of a scheduled optimizer).
 *
 * Captured steps: the step count and the learning rate live in device tensors
 * read and advanced by the kernels, and schedule and clipping settings are
 * constants, so one step captured with clg_step_capture_begin / _end replays
 * correctly for every later batch, and clg_optimizer_set_learning_rate between
 * replays takes effect. Settings (weight decay, clipping, schedule, amsgrad)
 * can only change before the first step, which would otherwise keep the old
 * ones in a captured step.
 *
 * Device work per step: one kernel computing the step's rate, one fused update
 * kernel per group of up to 8 parameters with a gradient (in order; it reads
 * and writes each parameter and its slots once), one kernel advancing the step
 * count,
 * and with clipnorm / global_clipnorm one norm kernel per parameter (plus one to
 * combine them for the global norm). A parameter without a gradient is skipped
 * (neither updated nor decayed, as in Keras); a step where none has one fails.
 *
 * Checkpoints: clg_optimizer_state_tensor(opt, i) for i < clg_optimizer_state_count
 * are every device tensor of the optimizer's state, in a stable order with stable
 * names (clg_optimizer_state_name): "optimizer.iterations" (int32, rank 0),
 * "optimizer.learning_rate" (float32, rank 0), then per slot kind, per parameter,
 * "optimizer.SLOT.PARAMETER" with Keras's slot names (SGD: momentum; Adam:
 * momentum, velocity, velocity_hat; RMSprop: velocity, momentum,
 * average_gradient; Adagrad: accumulator) and the parameter's tensor name
 * ("param0", "param1", ... for unnamed parameters, by position). Writing saved values into them with
 * clg_tensor_write restores the optimizer exactly.
 *
 * Ownership: the optimizer keeps references to the attached parameters (they
 * stay valid until clg_optimizer_free) and owns its state tensors (do not free
 * them). Free the optimizer before its context. Failures return a status (or
 * NULL) with a message in clg_last_error() naming the call and the parameter at
 * fault.
 *
 * Thread safety: as for the context. */
#ifndef CLGRAD_OPTIM_H
#define CLGRAD_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "clgrad/export.h"
#include "clgrad/tensor.h"

CLG_BEGIN_DECLS

typedef struct clg_optimizer clg_optimizer;

/* --- creation (Keras defaults in brackets; NULL on a bad value, naming it) ------------ */

/** SGD [learning_rate 0.01, momentum 0, nesterov 0]; momentum in [0, 1]. */
CLG_API clg_optimizer *clg_optimizer_sgd(float learning_rate, float momentum, int nesterov);
/** Adam [0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7]; betas in [0, 1), epsilon >= 0. */
CLG_API clg_optimizer *clg_optimizer_adam(float learning_rate, float beta_1, float beta_2,
                                          float epsilon);
/** AdamW [0.001, weight_decay 0.004, 0.9, 0.999, 1e-7]. */
CLG_API clg_optimizer *clg_optimizer_adamw(float learning_rate, float weight_decay, float beta_1,
                                           float beta_2, float epsilon);
/** RMSprop [0.001, rho 0.9, momentum 0, epsilon 1e-7, centered 0]; rho, momentum in [0, 1]. */
CLG_API clg_optimizer *clg_optimizer_rmsprop(float learning_rate, float rho, float momentum,
                                             float epsilon, int centered);
/** Adagrad [0.001, initial_accumulator_value 0.1, epsilon 1e-7]; both >= 0. */
CLG_API clg_optimizer *clg_optimizer_adagrad(float learning_rate, float initial_accumulator_value,
                                             float epsilon);
/** "sgd", "adam", "adamw", "rmsprop", "adagrad" (any case) with Keras's defaults. */
CLG_API clg_optimizer *clg_optimizer_from_name(const char *name);

CLG_API void clg_optimizer_free(clg_optimizer *opt); /**< NULL is a no-op */

/* --- settings (before the first step) ------------------------------------------------ */

/** Decoupled weight decay for any optimizer (0 turns it off); finite, >= 0. */
CLG_API clg_status clg_optimizer_set_weight_decay(clg_optimizer *opt, float weight_decay);
/** Adam / AdamW only, before attach (it adds the velocity_hat slots). */
CLG_API clg_status clg_optimizer_set_amsgrad(clg_optimizer *opt, int amsgrad);
/** Clipping thresholds (> 0, finite; 0 turns that kind off). Setting one while
 * another kind is on fails, as Keras allows only one. */
CLG_API clg_status clg_optimizer_set_clipnorm(clg_optimizer *opt, float clipnorm);
CLG_API clg_status clg_optimizer_set_global_clipnorm(clg_optimizer *opt, float global_clipnorm);
CLG_API clg_status clg_optimizer_set_clipvalue(clg_optimizer *opt, float clipvalue);
/** With skip 1, a step whose gradients hold a NaN or an infinity is skipped
 * on the device: no parameter, slot or step count changes (so a captured step
 * replays the check too). clg_optimizer_skipped_steps says how many steps were
 * skipped and which parameter had the first bad gradient of the last of them.
 * Costs one reduction kernel per parameter and one more per step. Default 0
 * (Keras has no such option: TerminateOnNaN stops training instead). */
CLG_API clg_status clg_optimizer_set_skip_nonfinite(clg_optimizer *opt, int skip);
/** Steps skipped so far (by clg_optimizer_set_skip_nonfinite) and the index of
 * the parameter whose gradient was first non-finite in the last skipped step
 * (-1 if none); either pointer may be NULL. Reads the device (waits for the
 * queued steps). Not part of the saved state. */
CLG_API clg_status clg_optimizer_skipped_steps(const clg_optimizer *opt, int64_t *skipped, int *last_param);
/** Schedules (see above); each replaces the previous one. decay_steps and
 * step_size > 0, rates finite and >= 0, alpha finite, warmup_steps >= 0. */
CLG_API clg_status clg_optimizer_set_schedule_exponential(clg_optimizer *opt, int64_t decay_steps,
                                                          float decay_rate, int staircase);
CLG_API clg_status clg_optimizer_set_schedule_step(clg_optimizer *opt, int64_t step_size,
                                                   float gamma);
CLG_API clg_status clg_optimizer_set_schedule_cosine(clg_optimizer *opt, int64_t decay_steps,
                                                     float alpha, int64_t warmup_steps,
                                                     float warmup_initial);
CLG_API clg_status clg_optimizer_clear_schedule(clg_optimizer *opt);

/* --- use ------------------------------------------------------------------------------ */

/** Binds the optimizer to nparams distinct float32, contiguous parameters of ctx
 * that require a gradient, and creates its state on the device (slots zero, or
 * Adagrad's initial value; step count 0). Once per optimizer, not during a
 * step capture. */
CLG_API clg_status clg_optimizer_attach(clg_optimizer *opt, clg_context *ctx, int nparams,
                                        clg_tensor *const *params);
/** Queues one update of every attached parameter from its gradient
 * (clg_tensor_grad) and advances the step count; nothing is read back. May be
 * recorded in a step capture. */
CLG_API clg_status clg_optimizer_step(clg_optimizer *opt);

/** The learning rate `lr` (before any schedule). After attach it is read from
 * the device (it blocks; not during a capture); NaN on failure. */
CLG_API float clg_optimizer_get_learning_rate(const clg_optimizer *opt);
/** Sets `lr` (finite, >= 0; 0 freezes the parameters, weight decay included).
 * After attach it writes the device value that steps read, also captured ones;
 * not allowed during a capture (the write would be replayed). */
CLG_API clg_status clg_optimizer_set_learning_rate(clg_optimizer *opt, float learning_rate);
/** The rate the next step will use: the schedule at the current step count
 * (Keras's optimizer.learning_rate). Reads the device; NaN on failure. */
CLG_API float clg_optimizer_current_learning_rate(const clg_optimizer *opt);
/** Steps taken (read from the device; 0 before attach); -1 on failure. */
CLG_API int64_t clg_optimizer_iterations(const clg_optimizer *opt);

/* --- state and description ----------------------------------------------------------- */

/** Number of state tensors (0 before attach). */
CLG_API int clg_optimizer_state_count(const clg_optimizer *opt);
/** State tensor i (owned by the optimizer), or NULL with an error for a bad i. */
CLG_API clg_tensor *clg_optimizer_state_tensor(const clg_optimizer *opt, int i);
/** Its name ("optimizer.velocity.dense.kernel"), or NULL with an error. */
CLG_API const char *clg_optimizer_state_name(const clg_optimizer *opt, int i);
/** "sgd", "adam", "adamw", "rmsprop", "adagrad" (static string; "" for NULL). */
CLG_API const char *clg_optimizer_name(const clg_optimizer *opt);
/** Keras's serialized form, e.g. {"module": "keras.optimizers", "class_name":
 * "Adam", "config": {"name": "adam", "learning_rate": 0.001, ...},
 * "registered_name": null}, a schedule as the learning_rate's nested object.
 * Reads the device learning rate after attach (not during a capture). Fails,
 * naming the size needed, when cap is too small. */
CLG_API clg_status clg_optimizer_config_json(const clg_optimizer *opt, char *buf, size_t cap);

CLG_END_DECLS

#endif
