#include "opcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int64_t opcheck_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

opcheck_spec opcheck_defaults(const char *name, int ninputs, opcheck_device_fn device,
                              opcheck_host_fn host) {
    opcheck_spec s;
    memset(&s, 0, sizeof s);
    s.name = name;
    s.ninputs = ninputs;
    s.device = device;
    s.host = host;
    s.fwd_atol = 1e-5;
    s.fwd_rtol = 1e-5;
    s.grad_atol = 1e-3;
    s.grad_rtol = 1e-3;
    s.check_grad = 1;
    s.seed = 1234;
    for (int i = 0; i < OPCHECK_MAX_INPUTS; i++) s.differentiable[i] = 1;
    return s;
}

void opcheck_input(opcheck_spec *s, int i, int ndim, const int64_t *shape, float lo, float hi) {
    s->ndim[i] = ndim;
    for (int d = 0; d < ndim; d++) s->shape[i][d] = shape[d];
    s->lo[i] = lo;
    s->hi[i] = hi;
}

void opcheck_output(opcheck_spec *s, int ndim, const int64_t *shape) {
    s->out_ndim = ndim;
    for (int d = 0; d < ndim; d++) s->out_shape[d] = shape[d];
}

static double loss_of(const opcheck_spec *s, const double *const *in, const double *w, double *out,
                      int64_t nout) {
    s->host(in, out, s->params);
    double l = 0;
    for (int64_t k = 0; k < nout; k++) l += w[k] * out[k];
    return l;
}

static void run_once(clg_context *ctx, const opcheck_spec *s, int strided) {
    int n = s->ninputs;
    clg_tensor *base[OPCHECK_MAX_INPUTS] = {0}, *in[OPCHECK_MAX_INPUTS] = {0};
    double *hin[OPCHECK_MAX_INPUTS] = {0};
    int64_t numel[OPCHECK_MAX_INPUTS];
    for (int i = 0; i < n; i++) {
        numel[i] = opcheck_numel(s->ndim[i], s->shape[i]);
        hin[i] = malloc((size_t)(numel[i] ? numel[i] : 1) * sizeof(double));
        float *f = malloc((size_t)(numel[i] ? numel[i] : 1) * 2 * sizeof(float));
        clg_test_random_floats(f, (size_t)(numel[i] ? numel[i] : 1) * 2, s->seed + 77u * (uint32_t)i);
        if (s->integer_input[i]) {
            int32_t *iv = malloc((size_t)(numel[i] ? numel[i] : 1) * sizeof(int32_t));
            for (int64_t k = 0; k < numel[i]; k++) {
                double u = (f[k] + 1.0) / 2.0; /* [0, 1) */
                int32_t v = (int32_t)floor(s->lo[i] + u * (s->hi[i] - s->lo[i] + 1));
                if (v > (int32_t)s->hi[i]) v = (int32_t)s->hi[i];
                iv[k] = v;
                hin[i][k] = v;
            }
            in[i] = clg_tensor_from_host(ctx, CLG_INT32, s->ndim[i], s->shape[i], iv);
            free(iv);
            free(f);
            assert_non_null(in[i]);
            continue;
        }
        for (int64_t k = 0; k < numel[i] * 2; k++)
            f[k] = s->lo[i] + (f[k] + 1.0f) * 0.5f * (s->hi[i] - s->lo[i]);
        int use_view = strided && s->ndim[i] >= 1;
        if (use_view) {
            int64_t bshape[CLG_MAX_DIMS];
            memcpy(bshape, s->shape[i], sizeof bshape);
            bshape[s->ndim[i] - 1] *= 2;
            base[i] = clg_tensor_from_host(ctx, CLG_FLOAT32, s->ndim[i], bshape, f);
            assert_non_null(base[i]);
            if (s->differentiable[i]) assert_int_equal(clg_tensor_set_requires_grad(base[i], 1), CLG_OK);
            in[i] = clg_tensor_slice(base[i], -1, 0, bshape[s->ndim[i] - 1], 2);
            for (int64_t k = 0; k < numel[i]; k++) hin[i][k] = f[2 * k];
        } else {
            in[i] = clg_tensor_from_host(ctx, CLG_FLOAT32, s->ndim[i], s->shape[i], f);
            if (in[i] && s->differentiable[i]) assert_int_equal(clg_tensor_set_requires_grad(in[i], 1), CLG_OK);
            for (int64_t k = 0; k < numel[i]; k++) hin[i][k] = f[k];
        }
        free(f);
        if (!in[i]) fail_msg("%s: input %d: %s", s->name, i, clg_last_error());
    }

    clg_tensor *y = s->device(in, s->params);
    if (!y) fail_msg("%s: %s", s->name, clg_last_error());
    if (clg_tensor_ndim(y) != s->out_ndim) fail_msg("%s: output rank %d, expected %d", s->name, clg_tensor_ndim(y), s->out_ndim);
    for (int d = 0; d < s->out_ndim; d++)
        if (clg_tensor_shape(y)[d] != s->out_shape[d])
            fail_msg("%s: output dim %d is %lld, expected %lld", s->name, d,
                     (long long)clg_tensor_shape(y)[d], (long long)s->out_shape[d]);
    int64_t nout = opcheck_numel(s->out_ndim, s->out_shape);
    size_t ncap = (size_t)(nout ? nout : 1);
    double *ref = malloc(ncap * sizeof(double)), *scratch = malloc(ncap * sizeof(double));
    double *w = malloc(ncap * sizeof(double));
    s->host((const double *const *)hin, ref, s->params);
    if (clg_tensor_dtype(y) == CLG_INT32) {
        int32_t *got = malloc(ncap * sizeof(int32_t));
        assert_int_equal(clg_tensor_to_host(y, got, ncap * sizeof(int32_t)), CLG_OK);
        for (int64_t k = 0; k < nout; k++)
            if (got[k] != (int32_t)ref[k])
                fail_msg("%s%s: output %lld is %d, reference %d", s->name, strided ? " (views)" : "",
                         (long long)k, got[k], (int32_t)ref[k]);
        free(got);
    } else {
        float *got = malloc(ncap * sizeof(float));
        assert_int_equal(clg_tensor_to_host(y, got, ncap * sizeof(float)), CLG_OK);
        for (int64_t k = 0; k < nout; k++) {
            double diff = fabs((double)got[k] - ref[k]);
            if (!(diff <= s->fwd_atol + s->fwd_rtol * fabs(ref[k])) && !(isnan(ref[k]) && isnan(got[k])))
                fail_msg("%s%s: output %lld is %.9g, reference %.9g", s->name, strided ? " (views)" : "",
                         (long long)k, (double)got[k], ref[k]);
        }
        free(got);
    }

    if (s->check_grad && clg_tensor_requires_grad(y)) {
        float *wf = malloc(ncap * sizeof(float));
        clg_test_random_floats(wf, ncap, s->seed ^ 0x5151u);
        for (int64_t k = 0; k < nout; k++) w[k] = wf[k];
        clg_tensor *seed = clg_tensor_from_host(ctx, CLG_FLOAT32, s->out_ndim, s->out_shape, wf);
        free(wf);
        assert_non_null(seed);
        if (clg_backward(y, seed) != CLG_OK) fail_msg("%s: backward: %s", s->name, clg_last_error());
        clg_tensor_free(seed);
        for (int i = 0; i < n; i++) {
            if (!s->differentiable[i] || s->integer_input[i]) continue;
            clg_tensor *leaf = base[i] ? base[i] : in[i];
            const clg_tensor *g = clg_tensor_grad(leaf);
            if (!g) fail_msg("%s: input %d got no gradient", s->name, i);
            int64_t gn = clg_tensor_numel(g);
            float *gv = malloc((size_t)(gn ? gn : 1) * sizeof(float));
            assert_int_equal(clg_tensor_to_host(g, gv, (size_t)(gn ? gn : 1) * sizeof(float)), CLG_OK);
            for (int64_t k = 0; k < numel[i]; k++) {
                double x0 = hin[i][k], h = 1e-6 * fmax(1.0, fabs(x0));
                hin[i][k] = x0 + h;
                double lp = loss_of(s, (const double *const *)hin, w, scratch, nout);
                hin[i][k] = x0 - h;
                double lm = loss_of(s, (const double *const *)hin, w, scratch, nout);
                hin[i][k] = x0;
                double fd = (lp - lm) / (2 * h);
                double dev = gv[base[i] ? 2 * k : k];
                if (!(fabs(dev - fd) <= s->grad_atol + s->grad_rtol * fabs(fd)))
                    fail_msg("%s%s: d/d input %d [%lld] is %.7g, finite differences %.7g", s->name,
                             strided ? " (views)" : "", i, (long long)k, dev, fd);
            }
            if (base[i]) /* the skipped positions of the base get nothing */
                for (int64_t k = 0; k < numel[i]; k++) assert_true(gv[2 * k + 1] == 0.0f);
            free(gv);
        }
    }
    clg_tensor_free(y);
    for (int i = 0; i < n; i++) {
        clg_tensor_free(in[i]);
        clg_tensor_free(base[i]);
        free(hin[i]);
    }
    free(ref);
    free(scratch);
    free(w);
}

void opcheck_run(clg_context *ctx, const opcheck_spec *s) {
    run_once(ctx, s, 0);
    if (s->strided_views) run_once(ctx, s, 1);
}
