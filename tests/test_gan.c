/* A GAN's alternating steps in a custom loop (as examples/dcgan.c runs them):
 * the discriminator's step, on real data and the generator's detached output,
 * changes the discriminator's weights and gives the generator no gradient
 * (the detach holds; the generator's batch-norm statistics move, as its
 * training-mode call should); the generator's step reuses that same output
 * through the updated discriminator, whose weights are set not to require
 * gradients for it: the discriminator's weights get no gradient and stay, the
 * generator's gradient equals the one a fresh forward pass gives, and only
 * the generator's weights change. */
#include "fixture.h"

#include <math.h>
#include <stdlib.h>

enum { B = 4, Z = 3, D = 5 };

typedef struct net {
    clg_model *m;
    clg_optimizer *opt;
    clg_tensor *p[8];
    int np;
} net;

static void make(net *n, clg_context *ctx, int in, int hidden, int out, uint64_t seed) {
    n->m = clg_sequential_new(ctx, 1, (int64_t[]){in});
    assert_int_equal(clg_model_add(n->m, clg_layer_dense(hidden, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(n->m, clg_layer_batch_normalization()), CLG_OK);
    assert_int_equal(clg_model_add(n->m, clg_layer_dense(out, CLG_ACT_LINEAR)), CLG_OK);
    assert_int_equal(clg_model_set_seed(n->m, seed), CLG_OK);
    clg_tensor *x = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){1, in}), *y = NULL;
    assert_int_equal(clg_model_call(n->m, (const clg_tensor *[]){x}, 0, &y), CLG_OK);
    clg_tensor_free(x), clg_tensor_free(y);
    n->np = clg_model_weight_count(n->m, 1);
    for (int i = 0; i < n->np; i++) n->p[i] = clg_model_weight(n->m, 1, i);
    n->opt = clg_optimizer_adam(1e-2f, 0.5f, 0.999f, 1e-7f);
    assert_int_equal(clg_optimizer_attach(n->opt, ctx, n->np, n->p), CLG_OK);
}

/* tensors t[0..n) to host, one after the other; their element count to *count */
static float *to_host(const clg_tensor *const *t, int n, size_t *count) {
    size_t total = 0;
    for (int i = 0; i < n; i++) assert_non_null(t[i]), total += (size_t)clg_tensor_numel(t[i]);
    float *all = malloc(total * sizeof *all), *q = all;
    for (int i = 0; i < n; i++) {
        assert_int_equal(clg_tensor_to_host(t[i], q, (size_t)clg_tensor_numel(t[i]) * sizeof *q), CLG_OK);
        q += clg_tensor_numel(t[i]);
    }
    *count = total;
    return all;
}

/* every weight of the model (trainable or not: BN statistics too) to host */
static float *snapshot(clg_model *m, size_t *count) {
    const clg_tensor *w[16];
    const int n = clg_model_weight_count(m, 0);
    assert_true(n <= (int)(sizeof w / sizeof *w));
    for (int i = 0; i < n; i++) w[i] = clg_model_weight(m, 0, i);
    return to_host(w, n, count);
}

/* the gradients of a model's trainable weights to host, in order (each must exist) */
static float *grads(const net *n, size_t *count) {
    const clg_tensor *g[8];
    for (int i = 0; i < n->np; i++) g[i] = clg_tensor_grad(n->p[i]);
    return to_host(g, n->np, count);
}

static int changed(const float *a, const float *b, size_t n) {
    int k = 0;
    for (size_t i = 0; i < n; i++) k += a[i] != b[i];
    return k;
}

static void test_alternating_steps(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    net g, d;
    make(&g, ctx, Z, 8, D, 1);
    make(&d, ctx, D, 8, 1, 2);
    float zs[B * Z], xs[B * D];
    clg_test_random_floats(zs, B * Z, 1);
    clg_test_random_floats(xs, B * D, 2);
    clg_tensor *z = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){B, Z}, zs);
    clg_tensor *x = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){B, D}, xs);
    clg_tensor *ones = clg_tensor_ones(ctx, CLG_FLOAT32, 2, (int64_t[]){B, 1});
    clg_tensor *zeros = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){B, 1});
    size_t ng, nd;
    float *g0 = snapshot(g.m, &ng), *d0 = snapshot(d.m, &nd);
    /* the discriminator's step */
    clg_tensor *fake = NULL, *lr = NULL, *lf = NULL;
    assert_int_equal(clg_model_call(g.m, (const clg_tensor *[]){z}, 1, &fake), CLG_OK);
    clg_tensor *det = clg_tensor_detach(fake);
    for (int i = 0; i < d.np; i++) clg_tensor_zero_grad(d.p[i]);
    assert_int_equal(clg_model_call(d.m, (const clg_tensor *[]){x}, 1, &lr), CLG_OK);
    assert_int_equal(clg_model_call(d.m, (const clg_tensor *[]){det}, 1, &lf), CLG_OK);
    clg_tensor *a = clg_binary_cross_entropy_logits(lr, ones), *b = clg_binary_cross_entropy_logits(lf, zeros);
    clg_tensor *dl = clg_add(a, b);
    assert_int_equal(clg_backward(dl, NULL), CLG_OK);
    for (int i = 0; i < g.np; i++) assert_null(clg_tensor_grad(g.p[i])); /* the detach stopped it */
    assert_int_equal(clg_optimizer_step(d.opt), CLG_OK);
    float *g1 = snapshot(g.m, &ng), *d1 = snapshot(d.m, &nd);
    /* the generator's BN statistics moved in its training-mode call; its trainable weights did not */
    for (int i = 0, at = 0; i < clg_model_weight_count(g.m, 0); i++) {
        const int n = (int)clg_tensor_numel(clg_model_weight(g.m, 0, i));
        const char *name = clg_tensor_name(clg_model_weight(g.m, 0, i));
        if (!strstr(name, "moving") && changed(g0 + at, g1 + at, (size_t)n))
            fail_msg("the discriminator's step changed generator weight %s", name);
        at += n;
    }
    assert_true(changed(d0, d1, nd) > 0);
    /* the generator's step: the same output through the updated discriminator, frozen */
    clg_tensor *lg = NULL;
    for (int i = 0; i < d.np; i++) {
        clg_tensor_zero_grad(d.p[i]);
        assert_int_equal(clg_tensor_set_requires_grad(d.p[i], 0), CLG_OK);
    }
    for (int i = 0; i < g.np; i++) clg_tensor_zero_grad(g.p[i]);
    assert_int_equal(clg_model_call(d.m, (const clg_tensor *[]){fake}, 1, &lg), CLG_OK);
    clg_tensor *gl = clg_binary_cross_entropy_logits(lg, ones);
    assert_int_equal(clg_backward(gl, NULL), CLG_OK);
    for (int i = 0; i < d.np; i++) assert_null(clg_tensor_grad(d.p[i]));
    size_t ngrad = 0;
    float *reused = grads(&g, &ngrad), *fresh;
    /* the same gradient from a fresh forward pass, the discriminator's weights learning again */
    for (int i = 0; i < d.np; i++) assert_int_equal(clg_tensor_set_requires_grad(d.p[i], 1), CLG_OK);
    for (int i = 0; i < g.np; i++) clg_tensor_zero_grad(g.p[i]);
    clg_tensor *f2 = NULL, *lg2 = NULL;
    assert_int_equal(clg_model_call(g.m, (const clg_tensor *[]){z}, 1, &f2), CLG_OK);
    assert_int_equal(clg_model_call(d.m, (const clg_tensor *[]){f2}, 1, &lg2), CLG_OK);
    clg_tensor *gl2 = clg_binary_cross_entropy_logits(lg2, ones);
    assert_int_equal(clg_backward(gl2, NULL), CLG_OK);
    fresh = grads(&g, &ngrad);
    size_t nonzero = 0;
    for (size_t i = 0; i < ngrad; i++) {
        nonzero += reused[i] != 0;
        if (fabsf(reused[i] - fresh[i]) > 1e-6f * (1 + fabsf(fresh[i])))
            fail_msg("generator gradient %zu: %g reusing the output, %g from a fresh pass", i, (double)reused[i],
                     (double)fresh[i]);
    }
    assert_true(nonzero > ngrad / 2);
    assert_int_equal(clg_optimizer_step(g.opt), CLG_OK);
    float *g2 = snapshot(g.m, &ng), *d2 = snapshot(d.m, &nd);
    int dmoved = 0;
    for (int i = 0, at = 0; i < clg_model_weight_count(d.m, 0); i++) {
        const int n = (int)clg_tensor_numel(clg_model_weight(d.m, 0, i));
        const char *name = clg_tensor_name(clg_model_weight(d.m, 0, i));
        if (!strstr(name, "moving")) dmoved += changed(d1 + at, d2 + at, (size_t)n);
        at += n;
    }
    assert_int_equal(dmoved, 0);
    assert_true(changed(g1, g2, ng) > 0);
    clg_tensor *list[] = {z, x, ones, zeros, fake, det, lr, lf, a, b, dl, lg, gl, f2, lg2, gl2};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) clg_tensor_free(list[i]);
    free(g0), free(d0), free(g1), free(d1), free(g2), free(d2), free(reused), free(fresh);
    clg_optimizer_free(g.opt), clg_optimizer_free(d.opt);
    clg_model_free(g.m), clg_model_free(d.m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_alternating_steps)};
    return CLG_RUN_GROUP(tests);
}
