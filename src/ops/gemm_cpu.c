/* clgrad's own float32 GEMM for CPU-like OpenCL devices: the choice between it
 * and CLBlast, and its launches (pack B, [pack A,] product; see cl/gemm_cpu.cl
 * for the kernel's shape and gemm_cpu.h for the interface). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ops/gemm_cpu.h"

enum { GEMM_MR = 8, GEMM_NR = 32 }; /* as in cl/gemm_cpu.cl */

/* A transposed op(A) is packed from this many multiply-adds on: below, the
 * product is launch-bound and a third launch costs more than the strided reads.
 * (PoCL, 2 cores: A^T B at 1024^3 went from 33 to 131 GFLOP/s, level with A B.) */
#define GEMM_PACK_A_FROM ((double)(1 << 21))

static int packs_a(const clg_gemm_desc *g) {
    return g->trans_a && (double)g->m * (double)g->n * (double)g->k >= GEMM_PACK_A_FROM;
}

/* Packed 8-row panels of op(A) (when packs_a): one set per batch, or one shared
 * set when A's batch stride is 0. Returns the number of floats. */
static size_t packed_a_floats(const clg_gemm_desc *g, size_t *pack_batches, size_t *mtiles) {
    *mtiles = (g->m + GEMM_MR - 1) / GEMM_MR;
    *pack_batches = g->batch > 1 && g->a_stride > 0 ? g->batch : 1;
    return *pack_batches * *mtiles * GEMM_MR * g->k;
}

/* Packed panels of op(B): one set per batch, or one shared set when B's batch
 * stride is 0. Returns the number of floats. */
static size_t packed_floats(const clg_gemm_desc *g, size_t *pack_batches, size_t *panels) {
    *panels = (g->n + GEMM_NR - 1) / GEMM_NR;
    *pack_batches = g->batch > 1 && g->b_stride > 0 ? g->batch : 1;
    return *pack_batches * *panels * GEMM_NR * g->k;
}

/* Whether the kernel can take g: its sizes travel as 32-bit unsigned integers,
 * and the packed panels must fit one allocation. */
static int own_supports(const struct clg_context *ctx, const clg_gemm_desc *g) {
    if (g->m == 0 || g->n == 0 || g->k == 0 || g->batch == 0) return 0;
    if (g->m > UINT32_MAX - GEMM_MR || g->n > UINT32_MAX - GEMM_NR || g->k > UINT32_MAX) return 0;
    /* Before the size_t products below: the packed sizes in bytes, in double. */
    double rows = (double)(g->n + GEMM_NR) + (packs_a(g) ? (double)(g->m + GEMM_MR) : 0.0);
    if ((double)g->batch * rows * (double)g->k * sizeof(float) > (double)SIZE_MAX / 2) return 0;
    size_t batches, tiles;
    uint64_t limit = ctx->info.max_alloc_bytes;
    if ((uint64_t)packed_floats(g, &batches, &tiles) * sizeof(float) > limit) return 0;
    return !packs_a(g) || (uint64_t)packed_a_floats(g, &batches, &tiles) * sizeof(float) <= limit;
}

clg_status clg_gemm_choose(const struct clg_context *ctx, const clg_gemm_desc *g,
                           clg_gemm_impl *impl) {
    const char *env = getenv("CLGRAD_GEMM");
    int forced = -1;
    if (env && *env && strcmp(env, "auto") != 0) {
        if (strcmp(env, "own") == 0) forced = CLG_GEMM_IMPL_OWN;
        else if (strcmp(env, "clblast") == 0) forced = CLG_GEMM_IMPL_CLBLAST;
        else
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: environment variable CLGRAD_GEMM is '%s'; expected auto, own or "
                            "clblast",
                            g->what, env);
    }
    int own = forced >= 0 ? forced == CLG_GEMM_IMPL_OWN : ctx->info.type == CLG_DEVICE_TYPE_CPU;
    *impl = own && own_supports(ctx, g) ? CLG_GEMM_IMPL_OWN : CLG_GEMM_IMPL_CLBLAST;
    return CLG_OK;
}

int clg_gemm_commands_per_product(const struct clg_context *ctx) {
    clg_gemm_desc probe = {.m = 1, .n = 1, .k = 1, .batch = 1, .what = "probe"};
    clg_gemm_impl impl;
    if (clg_gemm_choose(ctx, &probe, &impl) != CLG_OK) {
        clg_clear_error();
        return 0;
    }
    return impl == CLG_GEMM_IMPL_OWN ? 2 : 1; /* the probe is too small to pack A */
}

/* How the tile kernel reads op(A): element (i, k) of tile t (rows 8t ..) at
 * buf[off + batch * bb + t * tile + (i - 8t) * sam + k * sak]. */
typedef struct a_view {
    clg_buffer *buf;
    cl_ulong off, batch, tile;
    cl_long sam, sak;
} a_view;

/* Packs op(A) into 8-row panels (a new buffer in *packed, the caller releases it)
 * and points *av at them. */
static clg_status pack_a(struct clg_context *ctx, const clg_gemm_desc *g, a_view *av,
                         clg_buffer **packed) {
    cl_kernel kernel;
    clg_status st = clg_kernel_get(ctx, "gemm_cpu", NULL, "gemm_cpu_pack_a", &kernel);
    if (st != CLG_OK) return st;
    size_t batches, tiles;
    size_t floats = packed_a_floats(g, &batches, &tiles);
    char what[240];
    snprintf(what, sizeof what, "the packed A panels of %s", g->what);
    *packed = clg_buffer_new(ctx, floats * sizeof(float), what);
    if (!*packed) return clg_last_status();
    cl_uint m = (cl_uint)g->m, k = (cl_uint)g->k, mtiles = (cl_uint)tiles;
    cl_ulong total = (cl_ulong)(batches * tiles * g->k);
    clg_arg args[] = {CLG_ARG_BUF(av->buf), CLG_ARG(av->off), CLG_ARG(av->sam), CLG_ARG(av->sak),
                      CLG_ARG(av->batch),   CLG_ARG(m),       CLG_ARG(k),       CLG_ARG(mtiles),
                      CLG_ARG(total),       CLG_ARG_BUF(*packed)};
    st = clg_launch(ctx, kernel, (size_t)total, 10, args, g->what);
    /* Panels: unit row stride, 8 floats per k, 8 K floats per tile. */
    *av = (a_view){*packed, 0, batches > 1 ? (cl_ulong)(tiles * GEMM_MR * g->k) : 0,
                   (cl_ulong)(GEMM_MR * g->k), 1, GEMM_MR};
    return st;
}

clg_status clg_gemm_cpu_run(struct clg_context *ctx, const clg_gemm_desc *g) {
    size_t pack_batches, panels;
    size_t floats = packed_floats(g, &pack_batches, &panels);
    cl_kernel pack, tile;
    clg_status st = clg_kernel_get(ctx, "gemm_cpu", NULL, "gemm_cpu_pack_b", &pack);
    if (st == CLG_OK) st = clg_kernel_get(ctx, "gemm_cpu", NULL, "gemm_cpu_tile", &tile);
    if (st != CLG_OK) return st;
    char what[240];
    snprintf(what, sizeof what, "the packed B panels of %s", g->what);
    clg_buffer *packed = clg_buffer_new(ctx, floats * sizeof(float), what), *packed_a = NULL;
    if (!packed) return clg_last_status();

    /* op(B)(k, j) = b[k * sbk + j * sbn]; op(A)(i, k) = a[i * sam + k * sak]. */
    cl_long sbk = g->trans_b ? 1 : (cl_long)g->b_ld, sbn = g->trans_b ? (cl_long)g->b_ld : 1;
    cl_ulong b_off = g->b_off, b_batch = g->b_stride;
    cl_ulong total = (cl_ulong)(pack_batches * panels * g->k);
    cl_uint m = (cl_uint)g->m, n = (cl_uint)g->n, k = (cl_uint)g->k, np = (cl_uint)panels;
    cl_uint mtiles = (cl_uint)((g->m + GEMM_MR - 1) / GEMM_MR);
    clg_arg pack_args[] = {CLG_ARG_BUF(g->b), CLG_ARG(b_off), CLG_ARG(sbk),   CLG_ARG(sbn),
                           CLG_ARG(b_batch),  CLG_ARG(k),     CLG_ARG(n),     CLG_ARG(np),
                           CLG_ARG(total),    CLG_ARG_BUF(packed)};
    st = clg_launch(ctx, pack, (size_t)total, 10, pack_args, g->what);

    cl_long sam = g->trans_a ? 1 : (cl_long)g->a_ld, sak = g->trans_a ? (cl_long)g->a_ld : 1;
    a_view av = {g->a, g->a_off, g->a_stride, (cl_ulong)(GEMM_MR * sam), sam, sak};
    if (st == CLG_OK && packs_a(g)) st = pack_a(ctx, g, &av, &packed_a);

    /* Panels of one batch, in float16s; 0 when every batch shares one set. */
    cl_ulong bp_batch = pack_batches > 1 ? (cl_ulong)(panels * g->k * 2) : 0;
    cl_ulong c_off = g->c_off, ldc = g->c_ld, c_batch = g->c_stride;
    clg_arg tile_args[] = {
        CLG_ARG_BUF(av.buf), CLG_ARG(av.off),    CLG_ARG(av.sam),   CLG_ARG(av.sak),
        CLG_ARG(av.batch),   CLG_ARG(av.tile),   CLG_ARG_BUF(packed), CLG_ARG(bp_batch),
        CLG_ARG_BUF(g->c),   CLG_ARG(c_off),     CLG_ARG(ldc),      CLG_ARG(c_batch),
        CLG_ARG(m),          CLG_ARG(n),         CLG_ARG(k),        CLG_ARG(mtiles),
        CLG_ARG(np)};
    /* Row tiles fastest, so consecutive work-groups share a B panel in cache. */
    size_t groups = g->batch * panels * (size_t)mtiles;
    if (st == CLG_OK) st = clg_launch_wg(ctx, tile, groups, 1, 17, tile_args, g->what);
    /* The queue is in order, and a capture holds the buffers it uses. */
    clg_buffer_release(packed);
    clg_buffer_release(packed_a);
    return st;
}
