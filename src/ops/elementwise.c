/* Elementwise ops: the public constructors and their backward rules. Everything
 * here is lazy and fuses (graph/fuse.c); backward rules are written with the same
 * ops, so a gradient chain fuses too. */
#include <math.h>

#include "common/error.h"
#include "graph/graph.h"

static clg_tensor *unary(const char *api, clg_op op, const clg_tensor *x, float p0, float p1) {
    return clg_ew(api, op, 1, &x, p0, p1);
}

static clg_tensor *binary(const char *api, clg_op op, const clg_tensor *a, const clg_tensor *b) {
    const clg_tensor *xs[2] = {a, b};
    return clg_ew(api, op, 2, xs, 0, 0);
}

/* x op constant (or constant op x when swap). */
static clg_tensor *with_scalar(const char *api, clg_op op, const clg_tensor *x, float s, int swap) {
    if (!x) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
        return NULL;
    }
    clg_tensor *c = clg_constant(x->ctx, s);
    if (!c) return NULL;
    clg_tensor *r = swap ? binary(api, op, c, x) : binary(api, op, x, c);
    clg_tensor_free(c);
    return r;
}

#define UNARY(fn, OP) \
    clg_tensor *clg_##fn(const clg_tensor *x) { return unary("clg_" #fn, CLG_OP_##OP, x, 0, 0); }
UNARY(neg, NEG)
UNARY(abs, ABS)
UNARY(exp, EXP)
UNARY(log, LOG)
UNARY(sqrt, SQRT)
UNARY(rsqrt, RSQRT)
UNARY(square, SQUARE)
UNARY(sin, SIN)
UNARY(cos, COS)
UNARY(sigmoid, SIGMOID)
UNARY(tanh, TANH)
UNARY(relu, RELU)
UNARY(gelu, GELU)
UNARY(gelu_tanh, GELU_TANH)
UNARY(softplus, SOFTPLUS)
UNARY(softsign, SOFTSIGN)
UNARY(hard_sigmoid, HARD_SIGMOID)
UNARY(sign, SIGN)
#undef UNARY

clg_tensor *clg_leaky_relu(const clg_tensor *x, float alpha) {
    return unary("clg_leaky_relu", CLG_OP_LEAKY_RELU, x, alpha, 0);
}

clg_tensor *clg_elu(const clg_tensor *x, float alpha) {
    return unary("clg_elu", CLG_OP_ELU, x, alpha, 0);
}

clg_tensor *clg_clamp(const clg_tensor *x, float lo, float hi) {
    if (!(lo <= hi)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_clamp: lower bound %g is above upper bound %g",
                 (double)lo, (double)hi);
        return NULL;
    }
    return unary("clg_clamp", CLG_OP_CLAMP, x, lo, hi);
}

#define BINARY(fn, OP) \
    clg_tensor *clg_##fn(const clg_tensor *a, const clg_tensor *b) { return binary("clg_" #fn, CLG_OP_##OP, a, b); }
BINARY(add, ADD)
BINARY(sub, SUB)
BINARY(mul, MUL)
BINARY(div, DIV)
BINARY(pow, POW)
BINARY(maximum, MAXIMUM)
BINARY(minimum, MINIMUM)
BINARY(eq, EQ)
BINARY(ne, NE)
BINARY(lt, LT)
BINARY(le, LE)
BINARY(gt, GT)
BINARY(ge, GE)
#undef BINARY

clg_tensor *clg_where(const clg_tensor *cond, const clg_tensor *a, const clg_tensor *b) {
    const clg_tensor *xs[3] = {cond, a, b};
    return clg_ew("clg_where", CLG_OP_WHERE, 3, xs, 0, 0);
}

clg_tensor *clg_add_scalar(const clg_tensor *x, float s) { return with_scalar("clg_add_scalar", CLG_OP_ADD, x, s, 0); }
clg_tensor *clg_mul_scalar(const clg_tensor *x, float s) { return with_scalar("clg_mul_scalar", CLG_OP_MUL, x, s, 0); }
clg_tensor *clg_sub_scalar(const clg_tensor *x, float s) { return with_scalar("clg_sub_scalar", CLG_OP_SUB, x, s, 0); }
clg_tensor *clg_rsub_scalar(float s, const clg_tensor *x) { return with_scalar("clg_rsub_scalar", CLG_OP_SUB, x, s, 1); }
clg_tensor *clg_div_scalar(const clg_tensor *x, float s) { return with_scalar("clg_div_scalar", CLG_OP_DIV, x, s, 0); }
clg_tensor *clg_rdiv_scalar(float s, const clg_tensor *x) { return with_scalar("clg_rdiv_scalar", CLG_OP_DIV, x, s, 1); }
clg_tensor *clg_pow_scalar(const clg_tensor *x, float s) { return with_scalar("clg_pow_scalar", CLG_OP_POW, x, s, 0); }
clg_tensor *clg_maximum_scalar(const clg_tensor *x, float s) { return with_scalar("clg_maximum_scalar", CLG_OP_MAXIMUM, x, s, 0); }
clg_tensor *clg_minimum_scalar(const clg_tensor *x, float s) { return with_scalar("clg_minimum_scalar", CLG_OP_MINIMUM, x, s, 0); }

/* --- backward ------------------------------------------------------------------------ */

/* A small arena of intermediate handles freed together at the end of a rule. */

/* The gradients below are written as lazy expressions; a NULL anywhere makes
 * every later op fail fast with the first error kept. */
#define K(expr) (s.failed ? NULL : clg_scratch_keep(&s, (expr)))

/* dy/dx * g for unary ops, where x is the input and y the output. */
static clg_tensor *unary_grad(clg_op op, const clg_tensor *x, const clg_tensor *y, const clg_tensor *g,
                              const float *p) {
    clg_scratch s = {0};
    clg_tensor *r = NULL;
    clg_context *ctx = x->ctx;
    clg_tensor *zero = K(clg_constant(ctx, 0.0f));
    switch (op) {
    case CLG_OP_NEG: r = clg_neg(g); break;
    case CLG_OP_ABS: r = s.failed ? NULL : clg_mul(g, K(clg_sign(x))); break;
    case CLG_OP_EXP: r = clg_mul(g, y); break;
    case CLG_OP_LOG: r = clg_div(g, x); break;
    case CLG_OP_SQRT: r = s.failed ? NULL : clg_div(g, K(clg_mul_scalar(y, 2.0f))); break;
    case CLG_OP_RSQRT: /* -0.5 x^-1.5 = -0.5 y^3 */
        r = s.failed ? NULL : clg_mul(g, K(clg_mul_scalar(K(clg_mul(y, K(clg_square(y)))), -0.5f)));
        break;
    case CLG_OP_SQUARE: r = s.failed ? NULL : clg_mul(g, K(clg_mul_scalar(x, 2.0f))); break;
    case CLG_OP_SIN: r = s.failed ? NULL : clg_mul(g, K(clg_cos(x))); break;
    case CLG_OP_COS: r = s.failed ? NULL : clg_mul(g, K(clg_neg(K(clg_sin(x))))); break;
    case CLG_OP_SIGMOID: r = s.failed ? NULL : clg_mul(g, K(clg_mul(y, K(clg_rsub_scalar(1.0f, y))))); break;
    case CLG_OP_TANH: r = s.failed ? NULL : clg_mul(g, K(clg_rsub_scalar(1.0f, K(clg_square(y))))); break;
    case CLG_OP_RELU: r = s.failed ? NULL : clg_mul(g, K(clg_gt(x, zero))); break;
    case CLG_OP_LEAKY_RELU:
        r = s.failed ? NULL : clg_where(K(clg_gt(x, zero)), g, K(clg_mul_scalar(g, p[0])));
        break;
    case CLG_OP_ELU: /* x <= 0: alpha e^x = y + alpha */
        r = s.failed ? NULL : clg_where(K(clg_gt(x, zero)), g, K(clg_mul(g, K(clg_add_scalar(y, p[0])))));
        break;
    case CLG_OP_GELU: r = s.failed ? NULL : clg_mul(g, K(clg_ew("gelu backward", CLG_OP_GELU_GRAD, 1, &x, 0, 0))); break;
    case CLG_OP_GELU_TANH: { /* 0.5(1+t) + 0.5 x (1-t^2) k (1 + 3c x^2), t = tanh(k(x + c x^3)) */
        const float k = 0.7978845608028654f, c = 0.044715f;
        clg_tensor *x2 = K(clg_square(x));
        clg_tensor *inner = s.failed ? NULL : K(clg_mul_scalar(K(clg_add(x, K(clg_mul_scalar(K(clg_mul(x2, x)), c)))), k));
        clg_tensor *t = s.failed ? NULL : K(clg_tanh(inner));
        clg_tensor *a = s.failed ? NULL : K(clg_mul_scalar(K(clg_add_scalar(t, 1.0f)), 0.5f));
        clg_tensor *dt = s.failed ? NULL : K(clg_rsub_scalar(1.0f, K(clg_square(t))));
        clg_tensor *dinner = s.failed ? NULL : K(clg_add_scalar(K(clg_mul_scalar(x2, 3.0f * c * k)), k));
        clg_tensor *b = s.failed ? NULL : K(clg_mul(K(clg_mul_scalar(x, 0.5f)), K(clg_mul(dt, dinner))));
        r = s.failed ? NULL : clg_mul(g, K(clg_add(a, b)));
        break;
    }
    case CLG_OP_SOFTPLUS: r = s.failed ? NULL : clg_mul(g, K(clg_sigmoid(x))); break;
    case CLG_OP_SOFTSIGN: /* 1 / (1 + |x|)^2 */
        r = s.failed ? NULL : clg_div(g, K(clg_square(K(clg_add_scalar(K(clg_abs(x)), 1.0f)))));
        break;
    case CLG_OP_HARD_SIGMOID: /* 0.2 inside (-2.5, 2.5) */
        r = s.failed ? NULL
                     : clg_mul(g, K(clg_mul_scalar(K(clg_lt(K(clg_abs(x)), K(clg_constant(ctx, 2.5f)))), 0.2f)));
        break;
    case CLG_OP_CLAMP:
        r = s.failed ? NULL
                     : clg_mul(g, K(clg_mul(K(clg_ge(x, K(clg_constant(ctx, p[0])))),
                                            K(clg_le(x, K(clg_constant(ctx, p[1])))))));
        break;
    default: clg_fail(CLG_STATUS_UNSUPPORTED, "no gradient rule for %s", clg_op_name(op));
    }
    clg_scratch_drop(&s);
    return r;
}

clg_status clg_bw_ew(clg_gnode *n, const clg_tensor *y, const clg_tensor *g, clg_tensor **gin) {
    clg_op op = n->op;
    /* Inputs outside the graph are NULL in the node; rules below only need the
     * operands, which the node keeps for every op recorded here. */
    const clg_tensor *a = n->saved[0], *b = n->saved[1], *c = n->saved[2];
    clg_scratch s = {0};
    clg_tensor *ga = NULL, *gb = NULL;
    if (op <= CLG_OP_LAST_UNARY) {
        ga = unary_grad(op, a, y, g, n->fattr);
    } else {
        clg_context *ctx = y->ctx;
        switch (op) {
        case CLG_OP_ADD: ga = clg_tensor_retain(g); gb = clg_tensor_retain(g); break;
        case CLG_OP_SUB: ga = clg_tensor_retain(g); gb = clg_neg(g); break;
        case CLG_OP_MUL: ga = clg_mul(g, b); gb = clg_mul(g, a); break;
        case CLG_OP_DIV:
            ga = clg_div(g, b);
            gb = s.failed ? NULL : clg_neg(K(clg_div(K(clg_mul(g, y)), b)));
            break;
        case CLG_OP_POW:
            ga = s.failed ? NULL : clg_mul(g, K(clg_mul(b, K(clg_pow(a, K(clg_add_scalar(b, -1.0f)))))));
            if (n->inputs[1]) gb = s.failed ? NULL : clg_mul(g, K(clg_mul(y, K(clg_log(a)))));
            break;
        case CLG_OP_MAXIMUM:
        case CLG_OP_MINIMUM: {
            /* The larger (smaller) operand takes the gradient; ties share it. */
            clg_tensor *win = K(op == CLG_OP_MAXIMUM ? clg_gt(a, b) : clg_lt(a, b));
            clg_tensor *tie = K(clg_eq(a, b));
            clg_tensor *wa = s.failed ? NULL : K(clg_add(win, K(clg_mul_scalar(tie, 0.5f))));
            clg_tensor *wb = s.failed ? NULL : K(clg_rsub_scalar(1.0f, wa));
            ga = s.failed ? NULL : clg_mul(g, wa);
            gb = s.failed ? NULL : clg_mul(g, wb);
            break;
        }
        case CLG_OP_WHERE: {
            clg_tensor *zero = K(clg_constant(ctx, 0.0f));
            /* cond is input 0 and has no gradient; a, b are inputs 1, 2. */
            clg_tensor *g1 = s.failed ? NULL : clg_where(a, g, zero);
            clg_tensor *g2 = s.failed ? NULL : clg_where(a, zero, g);
            clg_scratch_drop(&s);
            gin[1] = g1 && n->inputs[1] ? clg_sum_to_shape(g1, b->ndim, b->shape) : NULL;
            gin[2] = g2 && n->inputs[2] ? clg_sum_to_shape(g2, c->ndim, c->shape) : NULL;
            clg_tensor_free(g1);
            clg_tensor_free(g2);
            return (n->inputs[1] && !gin[1]) || (n->inputs[2] && !gin[2]) ? clg_last_status() : CLG_OK;
        }
        default:
            clg_scratch_drop(&s);
            return clg_fail(CLG_STATUS_UNSUPPORTED, "no gradient rule for %s", clg_op_name(op));
        }
    }
    clg_scratch_drop(&s);
    clg_status st = CLG_OK;
    const clg_tensor *operands[2] = {a, b};
    clg_tensor *grads[2] = {ga, gb};
    for (int i = 0; i < 2 && i < n->ninputs; i++) {
        if (n->inputs[i] && grads[i])
            gin[i] = clg_sum_to_shape(grads[i], operands[i]->ndim, operands[i]->shape);
        if (n->inputs[i] && !gin[i]) st = clg_last_status();
        clg_tensor_free(grads[i]);
        grads[i] = NULL;
    }
    if (n->ninputs < 2) clg_tensor_free(gb);
    return st;
}
