/* Checking an op against a host reference: forward values, and gradients
 * against central finite differences of the host reference in double precision.
 *
 *   static clg_tensor *dev(clg_tensor *const *in, const void *p) { return clg_exp(in[0]); }
 *   static void host(const double *const *in, double *out, const void *p) { ... }
 *   opcheck_spec s = opcheck_defaults("exp", 1, dev, host);
 *   opcheck_input(&s, 0, 2, (int64_t[]){3, 4}, -2, 2);
 *   opcheck_output(&s, 2, (int64_t[]){3, 4});
 *   opcheck_run(ctx, &s);
 *
 * Gradients: the device computes d(sum(w * y))/d(input) for random weights w by
 * clg_backward(y, w); the host computes the same by central differences with
 * step h = 1e-6 * max(1, |x|) on the double-precision reference. Tolerances are
 * |device - reference| <= atol + rtol * |reference|, stated per op. */
#ifndef CLG_TEST_OPCHECK_H
#define CLG_TEST_OPCHECK_H

#include "fixture.h"

enum { OPCHECK_MAX_INPUTS = 4 };

typedef clg_tensor *(*opcheck_device_fn)(clg_tensor *const *in, const void *params);
/* in[i] holds the input values in row-major order of its shape. */
typedef void (*opcheck_host_fn)(const double *const *in, double *out, const void *params);

typedef struct opcheck_spec {
    const char *name;
    int ninputs;
    int ndim[OPCHECK_MAX_INPUTS];
    int64_t shape[OPCHECK_MAX_INPUTS][CLG_MAX_DIMS];
    float lo[OPCHECK_MAX_INPUTS], hi[OPCHECK_MAX_INPUTS];
    int differentiable[OPCHECK_MAX_INPUTS]; /* 1: gradient checked */
    int integer_input[OPCHECK_MAX_INPUTS];  /* 1: int32 values in [lo, hi] (labels, indices) */
    int out_ndim;
    int64_t out_shape[CLG_MAX_DIMS];
    opcheck_device_fn device;
    opcheck_host_fn host;
    const void *params;
    double fwd_atol, fwd_rtol;   /* defaults 1e-5, 1e-5 */
    double grad_atol, grad_rtol; /* defaults 1e-3, 1e-3 */
    int check_grad;              /* default 1 */
    int strided_views;           /* 1: float inputs are non-contiguous views (step-2 slices) */
    uint32_t seed;
} opcheck_spec;

opcheck_spec opcheck_defaults(const char *name, int ninputs, opcheck_device_fn device,
                              opcheck_host_fn host);
void opcheck_input(opcheck_spec *s, int i, int ndim, const int64_t *shape, float lo, float hi);
void opcheck_output(opcheck_spec *s, int ndim, const int64_t *shape);
/* Runs the check (cmocka assertions); also once with strided views when
 * also_strided is set. */
void opcheck_run(clg_context *ctx, const opcheck_spec *s);

int64_t opcheck_numel(int ndim, const int64_t *shape);

#endif
