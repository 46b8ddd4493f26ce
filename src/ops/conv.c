/* Convolution: conv2d by im2col + GEMM, conv1d (a view of conv2d) and the
 * transposed convolution (conv2d's adjoint), with their backward rules.
 *
 * Everything runs in NCHW. im2col (cl/conv.cl) turns the image into a column
 * matrix [C*KH*KW, N*OH*OW] in one launch for the whole batch and every group;
 * rows of group g form one block, so the product with the weights [O, C/g*KH*KW]
 * is one GEMM (groups 1) or one strided-batched GEMM over the groups. The GEMM
 * gives [O, N, OH*OW], permuted once into [N, O, OH, OW] (free when N is 1).
 * col2im, the adjoint, sums for each pixel the column entries read from it in a
 * fixed order (no atomics), so gradients repeat bit for bit.
 *
 * Per group, with cols() = im2col and matrices [channels, N*pixels]:
 *   conv2d            y = W cols(x)         dW = g cols(x)^T    dx = col2im(W^T g)
 *   conv2d_transpose  y = col2im(W^T x)     dW = x cols(g)^T    dx = W cols(g)
 *
 * The bias is a lazy clg_add, so conv + bias + activation run as the GEMM and
 * one fused elementwise kernel. NHWC input is a permuted view at entry and the
 * result a permuted view at exit (im2col reads any strides). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "graph/graph.h"
#include "ops/conv_internal.h"

clg_conv2d_params clg_conv2d_params_default(void) {
    clg_conv2d_params p = {{1, 1}, {1, 1}, CLG_PADDING_VALID, {0, 0, 0, 0}, 1, CLG_LAYOUT_NCHW, CLG_CONV_AUTO};
    return p;
}

/* --- geometry -------------------------------------------------------------------------- */

/* One convolution's resolved geometry. The image side is [n, c, h, w]; the
 * column grid (the conv's output, the transposed conv's input) is oh x ow. */
typedef struct conv_geom {
    int64_t n, c, h, w;
    int64_t kh, kw, oh, ow;
    int sh, sw, dh, dw, pt, pl;
    int pb, pr; /* bottom and right padding (forward conv only: the FFT path needs them) */
    int out_nhwc; /* forward conv only: the caller wants channels-last results (see conv_forward) */
} conv_geom;

/* Node attributes: the geometry, so backward needs no parameters struct. */
enum { A_SH, A_SW, A_DH, A_DW, A_PT, A_PL, A_GROUPS };

static void geom_to_node(const conv_geom *g, int groups, clg_gnode *node) {
    node->iattr[A_SH] = g->sh;
    node->iattr[A_SW] = g->sw;
    node->iattr[A_DH] = g->dh;
    node->iattr[A_DW] = g->dw;
    node->iattr[A_PT] = g->pt;
    node->iattr[A_PL] = g->pl;
    node->iattr[A_GROUPS] = groups;
}

static void geom_from_node(const clg_gnode *node, conv_geom *g, int *groups) {
    memset(g, 0, sizeof *g);
    g->sh = (int)node->iattr[A_SH];
    g->sw = (int)node->iattr[A_SW];
    g->dh = (int)node->iattr[A_DH];
    g->dw = (int)node->iattr[A_DW];
    g->pt = (int)node->iattr[A_PT];
    g->pl = (int)node->iattr[A_PL];
    *groups = (int)node->iattr[A_GROUPS];
}

/* --- kernels ------------------------------------------------------------------------------ */

static void geom_args(const conv_geom *g, const clg_tensor *img, cl_long8 *im, cl_int8 *geo,
                      cl_long2 *out) {
    memset(im, 0, sizeof *im);
    memset(geo, 0, sizeof *geo);
    memset(out, 0, sizeof *out);
    im->s[0] = g->n;
    im->s[1] = g->c;
    im->s[2] = g->h;
    im->s[3] = g->w;
    if (img)
        for (int i = 0; i < 4; i++) im->s[4 + i] = img->strides[i];
    geo->s[0] = (cl_int)g->kh;
    geo->s[1] = (cl_int)g->kw;
    geo->s[2] = g->sh;
    geo->s[3] = g->sw;
    geo->s[4] = g->dh;
    geo->s[5] = g->dw;
    geo->s[6] = g->pt;
    geo->s[7] = g->pl;
    out->s[0] = g->oh;
    out->s[1] = g->ow;
}

/* img [n, c, h, w] (any strides) -> columns [c*kh*kw, n*oh*ow], contiguous. */
static clg_tensor *im2col(const clg_tensor *img, const conv_geom *g, const char *api) {
    int64_t shape[2] = {g->c * g->kh * g->kw, g->n * g->oh * g->ow};
    if (clg_realize(img) != CLG_OK) return NULL;
    clg_tensor *cols = clg_tensor_alloc(img->ctx, CLG_FLOAT32, 2, shape, api);
    if (!cols || shape[0] * shape[1] == 0) return cols;
    cl_kernel k;
    clg_status st = clg_kernel_get(img->ctx, "conv", NULL, "im2col", &k);
    if (st == CLG_OK) {
        cl_ulong off = (cl_ulong)img->offset;
        cl_long8 im;
        cl_int8 geo;
        cl_long2 out;
        geom_args(g, img, &im, &geo, &out);
        clg_arg args[] = {CLG_ARG_BUF(img->buf), CLG_ARG(off), CLG_ARG(im), CLG_ARG(geo),
                          CLG_ARG(out), CLG_ARG_BUF(cols->buf)};
        /* one work-item per row of OW column entries */
        st = clg_launch(img->ctx, k, (size_t)(shape[0] * g->n * g->oh), 6, args, api);
    }
    if (st != CLG_OK) {
        clg_tensor_free(cols);
        return NULL;
    }
    return cols;
}

/* columns [c*kh*kw, n*oh*ow] (contiguous) -> img [n, c, h, w], each pixel the
 * sum of the entries read from it. */
static clg_tensor *col2im(const clg_tensor *cols, const conv_geom *g, const char *api) {
    int64_t shape[4] = {g->n, g->c, g->h, g->w};
    clg_context *ctx = cols->ctx;
    int64_t numel = g->n * g->c * g->h * g->w;
    if (clg_realize(cols) != CLG_OK) return NULL;
    clg_tensor *img = clg_tensor_alloc(ctx, CLG_FLOAT32, 4, shape, api);
    if (!img || numel == 0) return img;
    cl_kernel k;
    clg_status st = clg_kernel_get(ctx, "conv", NULL, "col2im", &k);
    if (st == CLG_OK) {
        cl_ulong off = (cl_ulong)cols->offset;
        cl_long8 im;
        cl_int8 geo;
        cl_long2 out;
        geom_args(g, NULL, &im, &geo, &out);
        clg_arg args[] = {CLG_ARG_BUF(cols->buf), CLG_ARG(off), CLG_ARG(im), CLG_ARG(geo),
                          CLG_ARG(out), CLG_ARG_BUF(img->buf)};
        st = clg_launch(ctx, k, (size_t)numel, 6, args, api);
    }
    if (st != CLG_OK) {
        clg_tensor_free(img);
        return NULL;
    }
    return img;
}

/* --- direct convolution (CPU devices, few taps) ---------------------------------------------- */

enum { DIRECT_MAX_TAPS = 32, DIRECT_CHUNK = 256 };

/* t [n, c, h, w] is a view of contiguous NHWC memory at offset 0 (realized). */
/* t [n, c, h, w] walks its memory as [n, h, w, c] contiguous would. */
static int channels_last_strides(const clg_tensor *t) {
    const int64_t *sh = t->shape, *st = t->strides;
    return t->ndim == 4 && st[1] == 1 && st[3] == sh[1] && st[2] == sh[3] * sh[1] && st[0] == sh[2] * sh[3] * sh[1];
}

static int channels_last_contiguous(const clg_tensor *t) {
    return !t->expr && t->offset == 0 && channels_last_strides(t);
}

/* The direct kernels serve x4 (channels-last memory) with g: one group, at most
 * DIRECT_MAX_TAPS taps per output, a CPU device (GEMMs win on GPUs), int sizes. */
static int direct_serves(const clg_tensor *x4, const conv_geom *g, int64_t o, int groups) {
    return groups == 1 && x4->ctx->info.type == CLG_DEVICE_TYPE_CPU && g->c * g->kh * g->kw <= DIRECT_MAX_TAPS &&
           channels_last_contiguous(x4) && clg_tensor_numel(x4) < INT32_MAX && g->n * g->oh * g->ow * o < INT32_MAX;
}

static clg_status direct_kernel(const clg_tensor *x4, const conv_geom *g, int64_t o, const char *name,
                                cl_kernel *k, cl_int4 *in, cl_int4 *od, cl_int8 *geo) {
    char options[96];
    snprintf(options, sizeof options, "-DDC_C=%d -DDC_KH=%d -DDC_KW=%d", (int)g->c, (int)g->kh, (int)g->kw);
    *in = (cl_int4){{(cl_int)g->n, (cl_int)g->h, (cl_int)g->w, (cl_int)g->c}};
    *od = (cl_int4){{(cl_int)g->oh, (cl_int)g->ow, (cl_int)o, 0}};
    *geo = (cl_int8){{g->sh, g->sw, g->dh, g->dw, g->pt, g->pl, 0, 0}};
    return clg_kernel_get(x4->ctx, "conv", options, name, k);
}

/* ym [n oh ow, o] (channels-last) = conv2d(x4, w) by conv_direct_fwd. */
static clg_tensor *direct_forward(const clg_tensor *x4, const clg_tensor *w, const conv_geom *g, const char *api) {
    int64_t o = w->shape[0], taps = g->c * g->kh * g->kw, np = g->n * g->oh * g->ow;
    clg_tensor *w2 = clg_tensor_reshape(w, 2, (int64_t[]){o, taps});
    clg_tensor *wv = w2 ? clg_tensor_transpose(w2, 0, 1) : NULL;
    clg_tensor *wt = wv ? clg_tensor_contiguous(wv) : NULL; /* [taps, o] */
    clg_tensor *ym = wt ? clg_tensor_alloc(x4->ctx, CLG_FLOAT32, 2, (int64_t[]){np, o}, api) : NULL;
    cl_kernel k;
    cl_int4 in, od;
    cl_int8 geo;
    clg_status st = ym ? direct_kernel(x4, g, o, "conv_direct_fwd", &k, &in, &od, &geo) : clg_last_status();
    if (st == CLG_OK) {
        clg_arg args[] = {CLG_ARG_BUF(x4->buf), CLG_ARG_BUF(wt->buf), CLG_ARG_BUF(ym->buf),
                          CLG_ARG(in),           CLG_ARG(od),          CLG_ARG(geo)};
        st = clg_launch(x4->ctx, k, (size_t)np, 6, args, api);
    }
    clg_tensor_free(w2), clg_tensor_free(wv), clg_tensor_free(wt);
    if (st != CLG_OK) {
        clg_tensor_free(ym);
        return NULL;
    }
    return ym;
}

/* dW [o, taps] from x4 and the channels-last gradient gm [n oh ow, o]: partial
 * sums per DIRECT_CHUNK positions (conv_direct_dw), then summed in order. */
static clg_tensor *direct_weight_grad(const clg_tensor *x4, const clg_tensor *gm, const conv_geom *g, int64_t o,
                                      const char *api) {
    int64_t taps = g->c * g->kh * g->kw, np = g->n * g->oh * g->ow;
    cl_int chunk = DIRECT_CHUNK, parts = (cl_int)((np + DIRECT_CHUNK - 1) / DIRECT_CHUNK);
    clg_tensor *partial = clg_tensor_alloc(x4->ctx, CLG_FLOAT32, 2, (int64_t[]){parts, taps * o}, api);
    cl_kernel k;
    cl_int4 in, od;
    cl_int8 geo;
    clg_status st = partial ? clg_realize(gm) : clg_last_status();
    if (st == CLG_OK) st = direct_kernel(x4, g, o, "conv_direct_dw", &k, &in, &od, &geo);
    if (st == CLG_OK) {
        clg_arg args[] = {CLG_ARG_BUF(x4->buf), CLG_ARG_BUF(gm->buf), CLG_ARG_BUF(partial->buf), CLG_ARG(in),
                          CLG_ARG(od),          CLG_ARG(geo),         CLG_ARG(chunk),             CLG_ARG(parts)};
        st = clg_launch(x4->ctx, k, (size_t)parts, 8, args, api);
    }
    clg_tensor *sum = st == CLG_OK ? clg_sum(partial, 1, (int[]){0}, 0) : NULL; /* [taps * o] */
    clg_tensor *s2 = sum ? clg_tensor_reshape(sum, 2, (int64_t[]){taps, o}) : NULL;
    clg_tensor *sv = s2 ? clg_tensor_transpose(s2, 0, 1) : NULL;
    clg_tensor *dw = sv ? clg_tensor_contiguous(sv) : NULL;
    clg_tensor_free(partial), clg_tensor_free(sum), clg_tensor_free(s2), clg_tensor_free(sv);
    return dw;
}

/* --- channels-last im2col (see cl/conv.cl) ------------------------------------------------------ */

static int int_sized(const conv_geom *g, int64_t o) {
    int64_t taps = g->kh * g->kw * g->c, np = g->n * g->oh * g->ow;
    return np * taps < INT32_MAX && np * o < INT32_MAX && g->n * g->h * g->w * g->c < INT32_MAX;
}

static void nhwc_args(const conv_geom *g, cl_int4 *in, cl_int2 *od, cl_int8 *kg) {
    *in = (cl_int4){{(cl_int)g->n, (cl_int)g->h, (cl_int)g->w, (cl_int)g->c}};
    *od = (cl_int2){{(cl_int)g->oh, (cl_int)g->ow}};
    *kg = (cl_int8){{(cl_int)g->kh, (cl_int)g->kw, g->sh, g->sw, g->dh, g->dw, g->pt, g->pl}};
}

/* colsT [n oh ow, kh kw c] from x4 (channels-last contiguous memory). */
static clg_tensor *im2col_nhwc(const clg_tensor *x4, const conv_geom *g, const char *api) {
    int64_t np = g->n * g->oh * g->ow;
    clg_tensor *cols = clg_tensor_alloc(x4->ctx, CLG_FLOAT32, 2, (int64_t[]){np, g->kh * g->kw * g->c}, api);
    cl_kernel k;
    clg_status st = cols ? clg_kernel_get(x4->ctx, "conv", NULL, "im2col_nhwc", &k) : clg_last_status();
    if (st == CLG_OK) {
        cl_int4 in;
        cl_int2 od;
        cl_int8 kg;
        nhwc_args(g, &in, &od, &kg);
        clg_arg args[] = {CLG_ARG_BUF(x4->buf), CLG_ARG_BUF(cols->buf), CLG_ARG(in), CLG_ARG(od), CLG_ARG(kg)};
        st = clg_launch(x4->ctx, k, (size_t)np, 5, args, api);
    }
    if (st != CLG_OK) {
        clg_tensor_free(cols);
        return NULL;
    }
    return cols;
}

/* The gradient image, [n, c, h, w] viewing channels-last memory, from colsT's
 * gradient [n oh ow, kh kw c]. */
static clg_tensor *col2im_nhwc(const clg_tensor *cols, const conv_geom *g, const char *api) {
    clg_context *ctx = cols->ctx;
    clg_tensor *gx = clg_tensor_alloc(ctx, CLG_FLOAT32, 4, (int64_t[]){g->n, g->h, g->w, g->c}, api);
    cl_kernel k;
    clg_status st = gx ? clg_realize(cols) : clg_last_status();
    if (st == CLG_OK) st = clg_kernel_get(ctx, "conv", NULL, "col2im_nhwc", &k);
    if (st == CLG_OK) {
        cl_int4 in;
        cl_int2 od;
        cl_int8 kg;
        nhwc_args(g, &in, &od, &kg);
        clg_arg args[] = {CLG_ARG_BUF(cols->buf), CLG_ARG_BUF(gx->buf), CLG_ARG(in), CLG_ARG(od), CLG_ARG(kg)};
        st = clg_launch(ctx, k, (size_t)(g->n * g->h * g->w), 5, args, api);
    }
    clg_tensor *v = st == CLG_OK ? clg_tensor_permute(gx, (int[]){0, 3, 1, 2}) : NULL;
    clg_tensor_free(gx);
    return v;
}

/* w [o, c, kh, kw] as [o, kh kw c], contiguous (the colsT order). */
static clg_tensor *weights_hwc(const clg_tensor *w) {
    int64_t o = w->shape[0];
    clg_tensor *v = clg_tensor_permute(w, (int[]){0, 2, 3, 1});
    clg_tensor *c = v ? clg_tensor_contiguous(v) : NULL;
    clg_tensor *r = c ? clg_tensor_reshape(c, 2, (int64_t[]){o, w->shape[1] * w->shape[2] * w->shape[3]}) : NULL;
    clg_tensor_free(v), clg_tensor_free(c);
    return r;
}

/* dW' [o, kh kw c] back to the weights' [o, c, kh, kw], contiguous. */
static clg_tensor *weights_from_hwc(const clg_tensor *dw, const int64_t *wshape) {
    clg_tensor *r = clg_tensor_reshape(dw, 4, (int64_t[]){wshape[0], wshape[2], wshape[3], wshape[1]});
    clg_tensor *v = r ? clg_tensor_permute(r, (int[]){0, 3, 1, 2}) : NULL;
    clg_tensor *c = v ? clg_tensor_contiguous(v) : NULL;
    clg_tensor_free(r), clg_tensor_free(v);
    return c;
}

/* --- composed pieces (called with recording off) ------------------------------------------ */

static clg_tensor *reshape3(const clg_tensor *t, int64_t a, int64_t b, int64_t c) {
    return clg_tensor_reshape(t, 3, (int64_t[]){a, b, c});
}

/* t viewed as [a, b, p] -> contiguous [b, a, p]. A view when a or b is 1; a
 * 4-D t [a, b, h, w] (any strides, e.g. an NHWC view) is read in place. */
static clg_tensor *swap01(const clg_tensor *t, int64_t a, int64_t b, int64_t p, const char *api) {
    if (a == 1 || b == 1) return reshape3(t, b, a, p);
    int four = t->ndim == 4 && t->shape[0] == a && t->shape[1] == b;
    clg_tensor *v = four ? clg_tensor_retain(t) : reshape3(t, a, b, p);
    clg_tensor *pv = v ? clg_tensor_permute(v, four ? (int[]){1, 0, 2, 3} : (int[]){1, 0, 2}) : NULL;
    clg_tensor_free(v);
    if (!pv) return NULL;
    clg_tensor *out = clg_tensor_alloc(t->ctx, CLG_FLOAT32, pv->ndim, pv->shape, api);
    if (out && clg_copy_into(out, pv, api) != CLG_OK) {
        clg_tensor_free(out);
        out = NULL;
    }
    clg_tensor_free(pv);
    clg_tensor *r = out && four ? reshape3(out, b, a, p) : clg_tensor_retain(out);
    clg_tensor_free(out);
    return r;
}

/* Per-group product: a [G, M, K] (or [G, K, M] with ta) times b [G, K, N] (or
 * [G, N, K] with tb) -> [G, M, N]; one plain GEMM when G is 1. */
static clg_tensor *group_gemm(const clg_tensor *a, const clg_tensor *b, int ta, int tb) {
    if (a->shape[0] != 1) return clg_matmul_batched(a, b, ta, tb);
    clg_tensor *a2 = clg_tensor_reshape(a, 2, a->shape + 1);
    clg_tensor *b2 = clg_tensor_reshape(b, 2, b->shape + 1);
    clg_tensor *c2 = a2 && b2 ? clg_matmul(a2, b2, ta, tb) : NULL;
    clg_tensor *c = c2 ? reshape3(c2, 1, c2->shape[0], c2->shape[1]) : NULL;
    clg_tensor_free(a2);
    clg_tensor_free(b2);
    clg_tensor_free(c2);
    return c;
}

/* g [n, o, oh, ow] whose memory is channels-last ([n, oh, ow, o] contiguous,
 * as conv_forward makes it for NHWC callers): its [n oh ow, o] matrix view, else NULL. */
static clg_tensor *channels_last_matrix(const clg_tensor *g) {
    const int64_t *sh = g->shape;
    if (!channels_last_strides(g)) return NULL;
    clg_tensor *v = clg_tensor_permute(g, (int[]){0, 2, 3, 1});
    clg_tensor *m = v ? clg_tensor_reshape(v, 2, (int64_t[]){sh[0] * sh[2] * sh[3], sh[1]}) : NULL;
    clg_tensor_free(v);
    return m;
}

/* y = conv2d(x, w): x [n, c, h, w], w [o, c/G, kh, kw] -> [n, o, oh, ow].
 * With g->out_nhwc and one group, y is a view of channels-last memory: the GEMM
 * cols^T W^T writes [n oh ow, o] directly, which is the NHWC result, so the
 * caller's permute back to NHWC is free and no [o, n, p] -> [n, o, p] copy runs
 * (backward takes the same shortcut; see clg_bw_conv2d). */
static clg_tensor *conv_forward(const clg_tensor *x, const clg_tensor *w, const conv_geom *g,
                                int groups, const char *api) {
    int64_t o = w->shape[0], kg = g->c / groups * g->kh * g->kw, p = g->oh * g->ow;
    clg_scratch s = {0};
#define K(expr) (s.failed ? NULL : clg_scratch_keep(&s, (expr)))
    if (g->out_nhwc && groups == 1) {
        clg_tensor *ym;
        if (clg_realize(x) == CLG_OK && direct_serves(x, g, o, groups)) {
            ym = K(direct_forward(x, w, g, api));
        } else if (channels_last_contiguous(x) && int_sized(g, o)) {
            clg_tensor *cols = K(im2col_nhwc(x, g, api)); /* [n p, kh kw c] */
            clg_tensor *wh = K(weights_hwc(w));           /* [o, kh kw c] */
            ym = K(cols && wh ? clg_matmul(cols, wh, 0, 1) : NULL);
        } else {
            clg_tensor *cols = K(im2col(x, g, api)); /* [kg, n p] */
            clg_tensor *w2 = K(clg_tensor_reshape(w, 2, (int64_t[]){o, kg}));
            ym = K(cols && w2 ? clg_matmul(cols, w2, 1, 1) : NULL); /* [n p, o] */
        }
        clg_tensor *y4 = K(ym ? clg_tensor_reshape(ym, 4, (int64_t[]){g->n, g->oh, g->ow, o}) : NULL);
        clg_tensor *y = y4 ? clg_tensor_permute(y4, (int[]){0, 3, 1, 2}) : NULL;
        clg_scratch_drop(&s);
        return y;
    }
    clg_tensor *cols = K(im2col(x, g, api));
    clg_tensor *cols3 = K(cols ? reshape3(cols, groups, kg, g->n * p) : NULL);
    clg_tensor *w3 = K(reshape3(w, groups, o / groups, kg));
    clg_tensor *y3 = K(w3 && cols3 ? group_gemm(w3, cols3, 0, 0) : NULL); /* [o, n, p] */
    clg_tensor *yt = K(y3 ? swap01(y3, o, g->n, p, api) : NULL);
    clg_tensor *y = yt ? clg_tensor_reshape(yt, 4, (int64_t[]){g->n, o, g->oh, g->ow}) : NULL;
#undef K
    clg_scratch_drop(&s);
    return y;
}

/* y = conv2d_transpose(x, w): x [n, c, oh, ow] (the column grid), w [c, o/G,
 * kh, kw] -> the image [n, o, h, w] described by g (g->c = o). */
static clg_tensor *conv_transpose_forward(const clg_tensor *x, const clg_tensor *w,
                                          const conv_geom *g, int groups, const char *api) {
    int64_t c = x->shape[1], n = g->n, q = g->oh * g->ow, kg = g->c / groups * g->kh * g->kw;
    clg_scratch s = {0};
#define K(expr) (s.failed ? NULL : clg_scratch_keep(&s, (expr)))
    if (groups == 1 && clg_realize(x) == CLG_OK && channels_last_contiguous(x) && int_sized(g, c)) {
        /* channels-last memory (NHWC callers): colsT = x W' [n q, kh kw o] and its
         * channels-last col2im, the conv backward's data path; no NCHW copies */
        clg_tensor *xm = K(channels_last_matrix(x)); /* [n q, c] */
        clg_tensor *wh = K(weights_hwc(w));           /* [c, kh kw o] */
        clg_tensor *cols = K(xm && wh ? clg_matmul(xm, wh, 0, 0) : NULL);
        clg_tensor *y = cols ? col2im_nhwc(cols, g, api) : NULL;
        clg_scratch_drop(&s);
        return y;
    }
    clg_tensor *xt = K(swap01(x, n, c, q, api)); /* [c, n, q] */
    clg_tensor *x3 = K(xt ? reshape3(xt, groups, c / groups, n * q) : NULL);
    clg_tensor *w3 = K(reshape3(w, groups, c / groups, kg));
    clg_tensor *cols = K(w3 && x3 ? group_gemm(w3, x3, 1, 0) : NULL); /* [G, kg, n q] */
    clg_tensor *y = cols ? col2im(cols, g, api) : NULL;
#undef K
    clg_scratch_drop(&s);
    return y;
}

/* --- checks --------------------------------------------------------------------------------- */

static clg_status check_tensor(const char *api, const char *which, const clg_tensor *t, int rank,
                               const char *layout_text) {
    char d[220];
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s is NULL", api, which);
    if (t->dtype != CLG_FLOAT32)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s is %s; convolution takes float32",
                        api, which, clg_tensor_describe(t, d, sizeof d), clg_dtype_name(t->dtype));
    if (t->ndim != rank)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s %s has rank %d; expected rank %d (%s)",
                        api, which, clg_tensor_describe(t, d, sizeof d), t->ndim, rank, layout_text);
    return CLG_OK;
}

/* Parameter checks shared by the three ops; spatial is 2 (conv2d) or 1 (conv1d:
 * only the w entries are used). */
static clg_status check_params(const char *api, const clg_conv2d_params *p, int spatial,
                               const clg_tensor *x, const clg_tensor *w) {
    char dx[220], dw[220];
    clg_tensor_describe(x, dx, sizeof dx);
    clg_tensor_describe(w, dw, sizeof dw);
    int first = spatial == 2 ? 0 : 1;
    for (int i = first; i < 2; i++) {
        if (p->stride[i] < 1)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: stride (%d,%d) must be >= 1 (x %s, w %s)", api, p->stride[0],
                            p->stride[1], dx, dw);
        if (p->dilation[i] < 1)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: dilation (%d,%d) must be >= 1 (x %s, w %s)", api, p->dilation[0],
                            p->dilation[1], dx, dw);
    }
    if (p->padding != CLG_PADDING_VALID && p->padding != CLG_PADDING_SAME &&
        p->padding != CLG_PADDING_EXPLICIT)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown padding mode %d (x %s)", api,
                        (int)p->padding, dx);
    if (p->padding == CLG_PADDING_EXPLICIT)
        for (int i = spatial == 2 ? 0 : 2; i < 4; i++)
            if (p->pad[i] < 0)
                return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                                "%s: explicit padding (top %d, bottom %d, left %d, right %d) must "
                                "be >= 0 (x %s, w %s)",
                                api, p->pad[0], p->pad[1], p->pad[2], p->pad[3], dx, dw);
    if (p->groups < 1)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: groups %d must be >= 1 (x %s, w %s)", api,
                        p->groups, dx, dw);
    if (p->layout != CLG_LAYOUT_NCHW && p->layout != CLG_LAYOUT_NHWC)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown layout %d (x %s)", api,
                        (int)p->layout, dx);
    if (p->algo != CLG_CONV_AUTO && p->algo != CLG_CONV_IM2COL && p->algo != CLG_CONV_FFT)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: unknown algorithm %d (x %s)", api,
                        (int)p->algo, dx);
    if (x->ctx != w->ctx)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: x and w on different contexts (%s and %s)",
                        api, x->ctx->label, w->ctx->label);
    for (int i = 2; i < w->ndim; i++)
        if (w->shape[i] < 1)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: w %s has an empty kernel", api, dw);
    return CLG_OK;
}

static clg_status check_bias(const char *api, const clg_tensor *b, int64_t o, const clg_tensor *w) {
    if (!b) return CLG_OK;
    char d[220], dw[220];
    if (b->dtype != CLG_FLOAT32 || b->ndim != 1 || b->shape[0] != o)
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                        "%s: bias %s %s does not match w %s (expected float32 [%lld])", api,
                        clg_tensor_describe(b, d, sizeof d), clg_dtype_name(b->dtype),
                        clg_tensor_describe(w, dw, sizeof dw), (long long)o);
    if (b->ctx != w->ctx)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: bias and w on different contexts (%s and %s)",
                        api, b->ctx->label, w->ctx->label);
    return CLG_OK;
}

/* Keras 'same' along one axis: out = ceil(in / s), the odd extra pad after. */
static void same_pad(int64_t in, int s, int d, int64_t k, int *before, int *after) {
    int64_t out = (in + s - 1) / s;
    int64_t total = (out - 1) * s + (k - 1) * d + 1 - in;
    if (total < 0) total = 0;
    *before = (int)(total / 2);
    *after = (int)(total - total / 2);
}

/* The forward conv's geometry for image [n, c, h, w] and kernel kh x kw; errors
 * when the kernel does not fit the padded input. */
static clg_status conv_geometry(const char *api, const clg_conv2d_params *p, int64_t n, int64_t c,
                                int64_t h, int64_t w, int64_t kh, int64_t kw, const clg_tensor *ux,
                                const clg_tensor *uw, conv_geom *g) {
    memset(g, 0, sizeof *g);
    g->n = n;
    g->c = c;
    g->h = h;
    g->w = w;
    g->kh = kh;
    g->kw = kw;
    g->sh = p->stride[0];
    g->sw = p->stride[1];
    g->dh = p->dilation[0];
    g->dw = p->dilation[1];
    int pt = 0, pb = 0, pl = 0, pr = 0;
    if (p->padding == CLG_PADDING_SAME) {
        same_pad(h, g->sh, g->dh, kh, &pt, &pb);
        same_pad(w, g->sw, g->dw, kw, &pl, &pr);
    } else if (p->padding == CLG_PADDING_EXPLICIT) {
        pt = p->pad[0];
        pb = p->pad[1];
        pl = p->pad[2];
        pr = p->pad[3];
    }
    g->pt = pt;
    g->pl = pl;
    g->pb = pb;
    g->pr = pr;
    int64_t eh = (kh - 1) * g->dh + 1, ew = (kw - 1) * g->dw + 1;
    int64_t ph = h + pt + pb, pw = w + pl + pr;
    if (ph < eh || pw < ew) {
        char dx[220], dw[220];
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                        "%s: kernel %lldx%lld (dilation %dx%d, extent %lldx%lld) is larger than "
                        "the padded input %lldx%lld of x %s (w %s): output size < 1",
                        api, (long long)kh, (long long)kw, g->dh, g->dw, (long long)eh,
                        (long long)ew, (long long)ph, (long long)pw,
                        clg_tensor_describe(ux, dx, sizeof dx), clg_tensor_describe(uw, dw, sizeof dw));
    }
    g->oh = (ph - eh) / g->sh + 1;
    g->ow = (pw - ew) / g->sw + 1;
    return CLG_OK;
}

static clg_status check_groups(const char *api, const clg_tensor *ux, const clg_tensor *uw,
                               int64_t c, int64_t wc, int64_t other, const char *other_name,
                               int groups) {
    char dx[220], dw[220];
    clg_tensor_describe(ux, dx, sizeof dx);
    clg_tensor_describe(uw, dw, sizeof dw);
    if (c != wc * groups)
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                        "%s: x %s has %lld channels but w %s with groups %d expects %lld "
                        "(w.shape[1] * groups)",
                        api, dx, (long long)c, dw, groups, (long long)(wc * groups));
    if (other % groups)
        return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                        "%s: %lld %s of w %s are not divisible by groups %d (x %s)", api,
                        (long long)other, other_name, dw, groups, dx);
    return CLG_OK;
}

/* --- conv2d ----------------------------------------------------------------------------------- */

/* The geometry in the form the FFT module takes. */
static clg_conv_geometry fft_geometry(const conv_geom *g, int64_t o, int groups) {
    clg_conv_geometry f = {g->n, g->c, g->h, g->w, o, g->kh, g->kw, g->oh, g->ow,
                           {g->sh, g->sw}, {g->dh, g->dw}, {g->pt, g->pb, g->pl, g->pr}, groups};
    return f;
}

/* Forward by FFT: contiguous operands, a fresh output. */
static clg_tensor *conv_forward_fft(const clg_tensor *x, const clg_tensor *w, const conv_geom *g,
                                    int groups, const char *api) {
    clg_conv_geometry f = fft_geometry(g, w->shape[0], groups);
    clg_tensor *xc = clg_tensor_is_contiguous(x) ? clg_tensor_retain(x) : clg_tensor_contiguous(x);
    clg_tensor *wc = clg_tensor_is_contiguous(w) ? clg_tensor_retain(w) : clg_tensor_contiguous(w);
    int64_t oshape[4] = {g->n, w->shape[0], g->oh, g->ow};
    clg_tensor *y = xc && wc ? clg_tensor_empty(x->ctx, CLG_FLOAT32, 4, oshape) : NULL;
    if (y && clg_conv2d_fft_forward(xc, wc, &f, y, api) != CLG_OK) {
        clg_tensor_free(y);
        y = NULL;
    }
    clg_tensor_free(xc);
    clg_tensor_free(wc);
    return y;
}

/* AUTO's one-time measurement: the wall time of each algorithm on this shape. */
typedef struct conv_trial {
    const clg_tensor *x, *w;
    const conv_geom *g;
    int groups;
    const char *api;
} conv_trial;

static clg_tensor *run_algorithm(const conv_trial *t, clg_conv_algo algo) {
    return algo == CLG_CONV_FFT ? conv_forward_fft(t->x, t->w, t->g, t->groups, t->api)
                                : conv_forward(t->x, t->w, t->g, t->groups, t->api);
}

static clg_status time_algorithm(void *user, clg_conv_algo algo, double *ms) {
    conv_trial *t = user;
    clg_context *ctx = t->x->ctx;
    /* A first, untimed run pays for kernel builds and plans. */
    clg_tensor *warm = run_algorithm(t, algo);
    clg_status st = warm ? clg_tensor_eval(warm) : clg_last_status();
    clg_tensor_free(warm);
    if (st == CLG_OK) st = clg_context_finish(ctx);
    if (st != CLG_OK) return st;
    struct timespec a, b;
    timespec_get(&a, TIME_UTC);
    clg_tensor *y = run_algorithm(t, algo);
    if (!y) return clg_last_status();
    st = clg_tensor_eval(y);
    if (st == CLG_OK) st = clg_context_finish(ctx);
    timespec_get(&b, TIME_UTC);
    clg_tensor_free(y);
    *ms = 1e3 * (double)(b.tv_sec - a.tv_sec) + 1e-6 * (double)(b.tv_nsec - a.tv_nsec);
    return st;
}

/* The recorded op on NCHW x4 [n,c,h,w] and w4 [o,c/G,kh,kw]; no bias. */
static clg_tensor *conv2d_recorded(const char *api, const clg_tensor *x4, const clg_tensor *w4,
                                   const conv_geom *g, int groups, clg_conv_algo algo) {
    clg_context *ctx = x4->ctx;
    int64_t o = w4->shape[0];
    int64_t oshape[4] = {g->n, o, g->oh, g->ow};
    clg_conv_geometry f = fft_geometry(g, o, groups);
    if (algo == CLG_CONV_FFT && !clg_conv_fft_supports(&f)) {
        char dx[220], dw[220];
        clg_fail(CLG_STATUS_UNSUPPORTED,
                 "%s: the FFT algorithm serves stride 1, dilation 1 and one group only; x %s, w %s "
                 "has stride %dx%d, dilation %dx%d, groups %d (use CLG_CONV_IM2COL or AUTO)",
                 api, clg_tensor_describe(x4, dx, sizeof dx), clg_tensor_describe(w4, dw, sizeof dw),
                 g->sh, g->sw, g->dh, g->dw, groups);
        return NULL;
    }
    clg_tensor *y;
    int was = clg_grad_set_enabled(ctx, 0);
    int empty = g->n * o * g->oh * g->ow == 0 || g->c == 0;
    if (!empty && algo == CLG_CONV_AUTO) {
        conv_trial trial = {x4, w4, g, groups, api};
        algo = clg_conv_choose(ctx, &f, time_algorithm, &trial);
    }
    if (empty)
        y = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, oshape);
    else if (algo == CLG_CONV_FFT)
        y = conv_forward_fft(x4, w4, g, groups, api);
    else
        y = conv_forward(x4, w4, g, groups, api);
    clg_grad_set_enabled(ctx, was);
    if (!y) return NULL;
    const clg_tensor *ins[2] = {x4, w4};
    if (clg_needs_grad(2, ins)) {
        clg_gnode *node = clg_record(y, CLG_OP_CONV2D, 2, ins);
        if (!node) {
            clg_tensor_free(y);
            return NULL;
        }
        geom_to_node(g, groups, node);
        node->saved[0] = clg_tensor_retain(x4);
        node->saved[1] = clg_tensor_retain(w4);
    }
    return y;
}

/* y (NCHW [n,o,...] or channels-last [..., o]) + b, lazily. */
static clg_tensor *add_bias(clg_tensor *y, const clg_tensor *b, int channels_last, int spatial) {
    if (!b || !y) return y;
    clg_tensor *bv = channels_last ? clg_tensor_retain(b)
                                   : clg_tensor_reshape(b, spatial + 2,
                                                        spatial == 2 ? (int64_t[]){1, b->shape[0], 1, 1}
                                                                     : (int64_t[]){1, b->shape[0], 1});
    clg_tensor *out = bv ? clg_add(y, bv) : NULL;
    clg_tensor_free(bv);
    clg_tensor_free(y);
    return out;
}

/* Huge strides, dilations or padding give geometries whose size products (the
 * image, the output with o channels, the im2col matrix) overflow 64 bits:
 * refused before any of them is computed. */
static clg_status check_geom_sizes(const char *api, const conv_geom *g, int64_t o, const clg_tensor *ux,
                                   const clg_tensor *uw) {
    int64_t np, out, taps, cols, image;
    if (__builtin_mul_overflow(g->n, g->oh, &np) || __builtin_mul_overflow(np, g->ow, &np) ||
        __builtin_mul_overflow(np, o, &out) || __builtin_mul_overflow(g->c, g->kh, &taps) ||
        __builtin_mul_overflow(taps, g->kw, &taps) || __builtin_mul_overflow(taps, np, &cols) ||
        __builtin_mul_overflow(g->n, g->c, &image) || __builtin_mul_overflow(image, g->h, &image) ||
        __builtin_mul_overflow(image, g->w, &image)) {
        char dx[220], dw[220];
        return clg_fail(CLG_STATUS_SIZE_OVERFLOW,
                        "%s: x %s and w %s with stride %dx%d, dilation %dx%d and padding (%d,%d,%d,%d) give "
                        "an output %lldx%lld whose size overflows 64 bits",
                        api, clg_tensor_describe(ux, dx, sizeof dx), clg_tensor_describe(uw, dw, sizeof dw), g->sh,
                        g->sw, g->dh, g->dw, g->pt, g->pb, g->pl, g->pr, (long long)g->oh, (long long)g->ow);
    }
    return CLG_OK;
}

/* x4 is the NCHW view of the user's x (layout handled by the caller), w4 the
 * 4-D weights; ux/uw are the user's tensors, for messages. */
static clg_tensor *conv2d_core(const char *api, const clg_tensor *x4, const clg_tensor *w4,
                               const clg_conv2d_params *p, int out_nhwc, const clg_tensor *ux,
                               const clg_tensor *uw) {
    int groups = p->groups;
    if (check_groups(api, ux, uw, x4->shape[1], w4->shape[1], w4->shape[0], "output channels",
                     groups) != CLG_OK)
        return NULL;
    conv_geom g;
    if (conv_geometry(api, p, x4->shape[0], x4->shape[1], x4->shape[2], x4->shape[3],
                      w4->shape[2], w4->shape[3], ux, uw, &g) != CLG_OK ||
        check_geom_sizes(api, &g, w4->shape[0], ux, uw) != CLG_OK)
        return NULL;
    g.out_nhwc = out_nhwc;
    return conv2d_recorded(api, x4, w4, &g, groups, p->algo);
}

clg_tensor *clg_conv2d(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b,
                       const clg_conv2d_params *params) {
    const char *api = "clg_conv2d";
    clg_conv2d_params p = params ? *params : clg_conv2d_params_default();
    int nhwc = p.layout == CLG_LAYOUT_NHWC;
    if (check_tensor(api, "x", x, 4, nhwc ? "[N,H,W,C]" : "[N,C,H,W]") != CLG_OK ||
        check_tensor(api, "w", w, 4, "[O,C/groups,KH,KW]") != CLG_OK ||
        check_params(api, &p, 2, x, w) != CLG_OK || check_bias(api, b, w->shape[0], w) != CLG_OK)
        return NULL;
    clg_tensor *x4 = nhwc ? clg_tensor_permute(x, (int[]){0, 3, 1, 2}) : clg_tensor_retain(x);
    if (!x4) return NULL;
    clg_tensor *y = conv2d_core(api, x4, w, &p, nhwc, x, w);
    clg_tensor_free(x4);
    if (y && nhwc) {
        clg_tensor *v = clg_tensor_permute(y, (int[]){0, 2, 3, 1});
        clg_tensor_free(y);
        y = v;
    }
    return add_bias(y, b, nhwc, 2);
}

/* --- conv1d ------------------------------------------------------------------------------------ */

clg_tensor *clg_conv1d(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b,
                       const clg_conv2d_params *params) {
    const char *api = "clg_conv1d";
    clg_conv2d_params p = params ? *params : clg_conv2d_params_default();
    int nwc = p.layout == CLG_LAYOUT_NHWC;
    if (check_tensor(api, "x", x, 3, nwc ? "[N,L,C]" : "[N,C,L]") != CLG_OK ||
        check_tensor(api, "w", w, 3, "[O,C/groups,K]") != CLG_OK ||
        check_params(api, &p, 1, x, w) != CLG_OK || check_bias(api, b, w->shape[0], w) != CLG_OK)
        return NULL;
    /* Height 1: only the width entries apply. */
    p.stride[0] = 1;
    p.dilation[0] = 1;
    p.pad[0] = p.pad[1] = 0;
    clg_tensor *x4 = NULL, *w4 = NULL, *y4 = NULL, *y = NULL;
    const int64_t *xs = x->shape;
    if (nwc) { /* [N,L,C] -> [N,1,L,C] (a view) -> [N,C,1,L] */
        clg_tensor *r = clg_tensor_reshape(x, 4, (int64_t[]){xs[0], 1, xs[1], xs[2]});
        x4 = r ? clg_tensor_permute(r, (int[]){0, 3, 1, 2}) : NULL;
        clg_tensor_free(r);
    } else {
        x4 = clg_tensor_reshape(x, 4, (int64_t[]){xs[0], xs[1], 1, xs[2]});
    }
    w4 = clg_tensor_reshape(w, 4, (int64_t[]){w->shape[0], w->shape[1], 1, w->shape[2]});
    if (x4 && w4) y4 = conv2d_core(api, x4, w4, &p, 0, x, w);
    if (y4) {
        const int64_t *ys = y4->shape; /* [N,O,1,OL] */
        clg_tensor *r = clg_tensor_reshape(y4, 3, (int64_t[]){ys[0], ys[1], ys[3]});
        y = !r ? NULL : nwc ? clg_tensor_permute(r, (int[]){0, 2, 1}) : clg_tensor_retain(r);
        clg_tensor_free(r);
    }
    clg_tensor_free(x4);
    clg_tensor_free(w4);
    clg_tensor_free(y4);
    return add_bias(y, b, nwc, 1);
}

/* --- conv2d_transpose ------------------------------------------------------------------------- */

/* The geometry of the conv whose adjoint this is: image [n, o, oh, ow] (the
 * result), column grid h x w (the input). */
static clg_status transpose_geometry(const char *api, const clg_conv2d_params *p,
                                     const int output_padding[2], const clg_tensor *x,
                                     const clg_tensor *w, const clg_tensor *ux, conv_geom *g) {
    char dx[220], dw[220];
    clg_tensor_describe(ux, dx, sizeof dx);
    clg_tensor_describe(w, dw, sizeof dw);
    int64_t n = x->shape[0], h = x->shape[2], wd = x->shape[3];
    int64_t kh = w->shape[2], kw = w->shape[3];
    int op[2] = {output_padding ? output_padding[0] : 0, output_padding ? output_padding[1] : 0};
    for (int i = 0; i < 2; i++)
        if (op[i] < 0 || op[i] >= (p->stride[i] > p->dilation[i] ? p->stride[i] : p->dilation[i]))
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: output_padding (%d,%d) must be >= 0 and smaller than the stride "
                            "(%d,%d) or dilation (x %s, w %s)",
                            api, op[0], op[1], p->stride[0], p->stride[1], dx, dw);
    memset(g, 0, sizeof *g);
    g->n = n;
    g->c = w->shape[1] * p->groups;
    g->kh = kh;
    g->kw = kw;
    g->sh = p->stride[0];
    g->sw = p->stride[1];
    g->dh = p->dilation[0];
    g->dw = p->dilation[1];
    g->oh = h;
    g->ow = wd;
    int64_t in[2] = {h, wd}, k[2] = {kh, kw}, out[2];
    int before[2];
    for (int i = 0; i < 2; i++) {
        int64_t s = p->stride[i], d = p->dilation[i], ek = (k[i] - 1) * d + 1;
        int64_t pads = 0;
        if (p->padding == CLG_PADDING_SAME) {
            /* Keras: in * s when output_padding is NULL (None), else
             * (in-1) s + ek - 2 (ek/2) + op; the padding before is the one the
             * forward 'same' conv of that size would use (TensorFlow's rule). */
            out[i] = output_padding ? (in[i] - 1) * s + ek - 2 * (ek / 2) + op[i] : in[i] * s;
            int64_t total = (in[i] - 1) * s + ek - out[i];
            before[i] = (int)(total > 0 ? total / 2 : 0);
        } else {
            int b0 = 0, b1 = 0;
            if (p->padding == CLG_PADDING_EXPLICIT) {
                b0 = p->pad[2 * i];
                b1 = p->pad[2 * i + 1];
            }
            pads = (int64_t)b0 + b1; /* two ints may overflow an int */
            before[i] = b0;
            out[i] = (in[i] - 1) * s - pads + ek + op[i];
        }
        if (out[i] < 1)
            return clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                            "%s: output %s %lld < 1 for x %s, w %s (stride %dx%d, explicit "
                            "padding top %d, bottom %d, left %d, right %d)",
                            api, i == 0 ? "height" : "width", (long long)out[i], dx, dw,
                            p->stride[0], p->stride[1], p->pad[0], p->pad[1], p->pad[2], p->pad[3]);
    }
    g->h = out[0];
    g->w = out[1];
    g->pt = before[0];
    g->pl = before[1];
    return CLG_OK;
}

clg_tensor *clg_conv2d_transpose(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b,
                                 const clg_conv2d_params *params, const int output_padding[2]) {
    const char *api = "clg_conv2d_transpose";
    clg_conv2d_params p = params ? *params : clg_conv2d_params_default();
    int nhwc = p.layout == CLG_LAYOUT_NHWC;
    if (check_tensor(api, "x", x, 4, nhwc ? "[N,H,W,C]" : "[N,C,H,W]") != CLG_OK ||
        check_tensor(api, "w", w, 4, "[C,O/groups,KH,KW]") != CLG_OK ||
        check_params(api, &p, 2, x, w) != CLG_OK ||
        check_bias(api, b, w->shape[1] * p.groups, w) != CLG_OK)
        return NULL;
    clg_tensor *x4 = nhwc ? clg_tensor_permute(x, (int[]){0, 3, 1, 2}) : clg_tensor_retain(x);
    if (!x4) return NULL;
    int groups = p.groups;
    conv_geom g;
    clg_tensor *y = NULL;
    char dx[220], dw[220];
    clg_tensor_describe(x, dx, sizeof dx);
    clg_tensor_describe(w, dw, sizeof dw);
    if (x4->shape[1] != w->shape[0])
        clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                 "%s: x %s has %lld channels but w %s expects %lld (w.shape[0])", api, dx,
                 (long long)x4->shape[1], dw, (long long)w->shape[0]);
    else if (w->shape[0] % groups)
        clg_fail(CLG_STATUS_SHAPE_MISMATCH,
                 "%s: %lld input channels of w %s are not divisible by groups %d (x %s)", api,
                 (long long)w->shape[0], dw, groups, dx);
    else if (transpose_geometry(api, &p, output_padding, x4, w, x, &g) == CLG_OK &&
             check_geom_sizes(api, &g, x4->shape[1], x, w) == CLG_OK) {
        clg_context *ctx = x->ctx;
        int was = clg_grad_set_enabled(ctx, 0);
        int64_t oshape[4] = {g.n, g.c, g.h, g.w};
        if (g.n * g.c * g.h * g.w == 0 || x4->shape[1] == 0)
            y = clg_tensor_zeros(ctx, CLG_FLOAT32, 4, oshape);
        else
            y = conv_transpose_forward(x4, w, &g, groups, api);
        clg_grad_set_enabled(ctx, was);
        const clg_tensor *ins[2] = {x4, w};
        if (y && clg_needs_grad(2, ins)) {
            clg_gnode *node = clg_record(y, CLG_OP_CONV2D_TRANSPOSE, 2, ins);
            if (!node) {
                clg_tensor_free(y);
                y = NULL;
            } else {
                geom_to_node(&g, groups, node);
                node->saved[0] = clg_tensor_retain(x4);
                node->saved[1] = clg_tensor_retain(w);
            }
        }
    }
    clg_tensor_free(x4);
    if (y && nhwc) {
        clg_tensor *v = clg_tensor_permute(y, (int[]){0, 2, 3, 1});
        clg_tensor_free(y);
        y = v;
    }
    return add_bias(y, b, nhwc, 2);
}

/* --- backward ------------------------------------------------------------------------------------ */

/* The recorded geometry completed with the sizes of the image side [n, c, h, w],
 * the kernel w and the column grid oh x ow. */
static void node_geometry(const clg_gnode *n, const int64_t *image, const clg_tensor *w, int64_t oh,
                          int64_t ow, conv_geom *geo, int *groups) {
    geom_from_node(n, geo, groups);
    geo->n = image[0];
    geo->c = image[1];
    geo->h = image[2];
    geo->w = image[3];
    geo->kh = w->shape[2];
    geo->kw = w->shape[3];
    geo->oh = oh;
    geo->ow = ow;
}

/* Zero gradients for the inputs in the graph, when nothing flows (empty shapes). */
static clg_status zero_gradients(const clg_gnode *n, const clg_tensor *x, const clg_tensor *w,
                                 clg_tensor **gin) {
    if (n->inputs[0] && !(gin[0] = clg_tensor_zeros(x->ctx, CLG_FLOAT32, 4, x->shape)))
        return clg_last_status();
    if (n->inputs[1] && !(gin[1] = clg_tensor_zeros(x->ctx, CLG_FLOAT32, 4, w->shape)))
        return clg_last_status();
    return CLG_OK;
}

/* conv2d: g [n, o, oh, ow]. dW = g cols(x)^T per group, dx = col2im(W^T g). */
clg_status clg_bw_conv2d(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    const char *api = "clg_conv2d backward";
    const clg_tensor *x = n->saved[0], *w = n->saved[1];
    conv_geom geo;
    int groups;
    node_geometry(n, x->shape, w, g->shape[2], g->shape[3], &geo, &groups);
    int64_t o = w->shape[0], p = geo.oh * geo.ow, np = geo.n * p;
    int64_t kg = geo.c / groups * geo.kh * geo.kw;
    if (np * o == 0 || geo.c == 0) return zero_gradients(n, x, w, gin); /* nothing flows */
    clg_scratch s = {0};
#define K(expr) (s.failed ? NULL : clg_scratch_keep(&s, (expr)))
    clg_tensor *gm = groups == 1 ? channels_last_matrix(g) : NULL; /* [np, o] */
    if (gm) {
        K(gm); /* channels-last gradient: products with transposes instead of a copy */
        clg_tensor *w2 = K(clg_tensor_reshape(w, 2, (int64_t[]){o, kg}));
        if (n->inputs[0] && w2 && int_sized(&geo, o)) { /* dcolsT = g W' and its channels-last col2im */
            clg_tensor *wh = K(weights_hwc(w));
            clg_tensor *dcols = K(wh ? clg_matmul(gm, wh, 0, 0) : NULL); /* [np, kh kw c] */
            if (dcols) gin[0] = col2im_nhwc(dcols, &geo, api);
            if (!gin[0]) s.failed = 1;
        } else if (n->inputs[0] && w2) {
            clg_tensor *dcols = K(clg_matmul(w2, gm, 1, 1)); /* [kg, np] */
            clg_tensor *d3 = K(dcols ? reshape3(dcols, 1, kg, np) : NULL);
            if (d3) gin[0] = col2im(d3, &geo, api);
            if (!gin[0]) s.failed = 1;
        }
        if (n->inputs[1] && !s.failed) {
            clg_tensor *dw;
            if (clg_realize(x) == CLG_OK && direct_serves(x, &geo, o, groups)) {
                dw = K(direct_weight_grad(x, gm, &geo, o, api)); /* [o, kg] */
            } else if (channels_last_contiguous(x) && int_sized(&geo, o)) {
                clg_tensor *cols = K(im2col_nhwc(x, &geo, api));                /* [np, kh kw c] */
                clg_tensor *dwh = K(cols ? clg_matmul(gm, cols, 1, 0) : NULL); /* [o, kh kw c] */
                dw = K(dwh ? weights_from_hwc(dwh, w->shape) : NULL);
            } else {
                clg_tensor *cols = K(im2col(x, &geo, api)); /* [kg, np] */
                dw = K(cols ? clg_matmul(gm, cols, 1, 1) : NULL); /* [o, kg] */
            }
            if (dw) gin[1] = clg_tensor_reshape(dw, 4, w->shape);
            if (!gin[1]) s.failed = 1;
        }
        int failed = s.failed;
        clg_scratch_drop(&s);
        return failed ? clg_last_status() : CLG_OK;
    }
    clg_tensor *gt = K(swap01(g, geo.n, o, p, api)); /* [o, n, p] */
    clg_tensor *g3 = K(gt ? reshape3(gt, groups, o / groups, np) : NULL);
    if (n->inputs[0] && g3) {
        clg_tensor *w3 = K(reshape3(w, groups, o / groups, kg));
        clg_tensor *dcols = K(w3 ? group_gemm(w3, g3, 1, 0) : NULL); /* [G, kg, np] */
        if (dcols) gin[0] = col2im(dcols, &geo, api);
        if (!gin[0]) s.failed = 1;
    }
    if (n->inputs[1] && g3 && !s.failed) {
        clg_tensor *cols = K(im2col(x, &geo, api));
        clg_tensor *cols3 = K(cols ? reshape3(cols, groups, kg, np) : NULL);
        clg_tensor *dw3 = K(cols3 ? group_gemm(g3, cols3, 0, 1) : NULL); /* [G, o/G, kg] */
        if (dw3) gin[1] = clg_tensor_reshape(dw3, 4, w->shape);
        if (!gin[1]) s.failed = 1;
    }
#undef K
    int failed = s.failed;
    clg_scratch_drop(&s);
    return failed ? clg_last_status() : CLG_OK;
}

/* conv2d_transpose: g [n, o, oh, ow] (the image side). dx = W cols(g) per
 * group, dW = x cols(g)^T. */
clg_status clg_bw_conv2d_transpose(clg_gnode *n, const clg_tensor *out, const clg_tensor *g,
                                   clg_tensor **gin) {
    (void)out;
    const char *api = "clg_conv2d_transpose backward";
    const clg_tensor *x = n->saved[0], *w = n->saved[1];
    conv_geom geo;
    int groups;
    node_geometry(n, g->shape, w, x->shape[2], x->shape[3], &geo, &groups);
    int64_t c = x->shape[1], q = geo.oh * geo.ow, nq = geo.n * q;
    int64_t kg = geo.c / groups * geo.kh * geo.kw;
    if (nq * c == 0 || geo.c * geo.h * geo.w == 0) return zero_gradients(n, x, w, gin);
    clg_scratch s = {0};
#define K(expr) (s.failed ? NULL : clg_scratch_keep(&s, (expr)))
    if (groups == 1 && channels_last_contiguous(x) && clg_realize(g) == CLG_OK && channels_last_contiguous(g) &&
        int_sized(&geo, c)) {
        /* channels-last (see conv_transpose_forward): colsT of g [n q, kh kw o];
         * dx = colsT W'^T, dW' = x^T colsT */
        clg_tensor *cols = K(im2col_nhwc(g, &geo, api));
        clg_tensor *wh = K(weights_hwc(w)); /* [c, kh kw o] */
        clg_tensor *xm = K(channels_last_matrix(x));
        if (n->inputs[0] && cols && wh) {
            clg_tensor *dm = K(clg_matmul(cols, wh, 0, 1)); /* [n q, c] */
            clg_tensor *d4 = K(dm ? clg_tensor_reshape(dm, 4, (int64_t[]){geo.n, geo.oh, geo.ow, c}) : NULL);
            if (d4) gin[0] = clg_tensor_permute(d4, (int[]){0, 3, 1, 2});
            if (!gin[0]) s.failed = 1;
        }
        if (n->inputs[1] && cols && xm && !s.failed) {
            clg_tensor *dwh = K(clg_matmul(xm, cols, 1, 0)); /* [c, kh kw o] */
            if (dwh) gin[1] = weights_from_hwc(dwh, w->shape);
            if (!gin[1]) s.failed = 1;
        }
        int failed = s.failed || !cols || !wh || !xm;
        clg_scratch_drop(&s);
        return failed ? clg_last_status() : CLG_OK;
    }
    clg_tensor *cols = K(im2col(g, &geo, api)); /* [o kh kw, n q] */
    clg_tensor *cols3 = K(cols ? reshape3(cols, groups, kg, nq) : NULL);
    if (n->inputs[0] && cols3) {
        clg_tensor *w3 = K(reshape3(w, groups, c / groups, kg));
        clg_tensor *dxt = K(w3 ? group_gemm(w3, cols3, 0, 0) : NULL); /* [G, c/G, n q] = [c, n, q] */
        clg_tensor *dx = K(dxt ? swap01(dxt, c, geo.n, q, api) : NULL);
        if (dx) gin[0] = clg_tensor_reshape(dx, 4, x->shape);
        if (!gin[0]) s.failed = 1;
    }
    if (n->inputs[1] && cols3 && !s.failed) {
        clg_tensor *xt = K(swap01(x, geo.n, c, q, api)); /* [c, n, q] */
        clg_tensor *x3 = K(xt ? reshape3(xt, groups, c / groups, nq) : NULL);
        clg_tensor *dw3 = K(x3 ? group_gemm(x3, cols3, 0, 1) : NULL); /* [G, c/G, kg] */
        if (dw3) gin[1] = clg_tensor_reshape(dw3, 4, w->shape);
        if (!gin[1]) s.failed = 1;
    }
#undef K
    int failed = s.failed;
    clg_scratch_drop(&s);
    return failed ? clg_last_status() : CLG_OK;
}
