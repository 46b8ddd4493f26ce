/* Single-precision GEMM shaped for CPU-like OpenCL devices (PoCL and similar),
 * where CLBlast's GPU-shaped kernels run far below the machine's FMA rate.
 *
 *   C[b] = op(A[b]) op(B[b])      op(A): M x K, op(B): K x N, C: M x N row-major
 *
 * Two launches (three when A^T is packed, below):
 *  1. gemm_cpu_pack_b copies op(B) into 32-column panels, zero-padded past N:
 *     panel p of batch b holds, for each k, the 32 floats op(B)[k][32p .. 32p+31]
 *     contiguously, at ((b * panels + p) * K + k) * 32. The tile kernel then
 *     streams one panel with unit stride whatever B's layout was (issue 6: the
 *     same kernel reading B in place fell from 140 to 38 GFLOP/s at 2048 - a
 *     long row stride costs a cache set and a page per k).
 *  2. gemm_cpu_tile: one work-item per work-group, each computing an 8 x 32
 *     block of C in sixteen float16 accumulators (on AVX-512: sixteen zmm
 *     registers). Per k it loads two float16 of the panel and broadcasts eight
 *     elements of op(A): 16 FMAs per 2 vector loads + 8 scalar loads.
 *     Work-groups are numbered row tile fastest, so consecutive work-groups
 *     share a B panel while it is hot in cache (at K = 4096 a panel is 512 KiB,
 *     within a core's L2).
 *     Tried on PoCL / AVX-512 and no faster: 12 x 32 tiles, and a K-blocked
 *     64 x 32 variant keeping a 256-deep panel slice in L1.
 *
 * op(A) is read through two strides: element (i, k) is at a[i * sam + k * sak],
 * so A row-major (sam = lda, sak = 1) and batched views need no copy; every read
 * is a scalar broadcast anyway. Rows past M read row M - 1 (kept in bounds, never
 * stored). A transposed A of a large product is first packed into 8-row panels
 * by gemm_cpu_pack_a (three launches then).
 *
 * Sizes travel as arguments, so one build serves every shape. */

#define GEMM_MR 8  /* rows of C per work-item */
#define GEMM_NR 32 /* columns per panel = two float16 */

/* One work-item per (batch, panel, k) row of the packed panels; total =
 * batch * panels * K. op(B)(k, j) is at b[b_off + bb * b_batch + k * sbk + j * sbn]. */
__kernel void gemm_cpu_pack_b(__global const float *b, ulong b_off, long sbk, long sbn,
                              ulong b_batch, uint k, uint n, uint panels, ulong total,
                              __global float *bp) {
    ulong gid = get_global_id(0);
    if (gid >= total) return;
    ulong kk = gid % k, rest = gid / k;
    uint p = (uint)(rest % panels);
    ulong bb = rest / panels;
    const __global float *src = b + b_off + bb * b_batch + (long)kk * sbk;
    __global float *dst = bp + gid * GEMM_NR;
    uint j0 = p * GEMM_NR;
    if (sbn == 1 && j0 + GEMM_NR <= n) {
        vstore16(vload16(0, src + j0), 0, dst);
        vstore16(vload16(0, src + j0 + 16), 0, dst + 16);
        return;
    }
    for (uint j = 0; j < GEMM_NR; j++)
        dst[j] = j0 + j < n ? src[(long)(j0 + j) * sbn] : 0.0f;
}

/* Optional, for op(A) = A^T of a large product: copies op(A) into 8-row panels,
 * zero-padded past M: tile t of batch b holds, for each k, the 8 floats
 * op(A)[8t .. 8t+7][k] contiguously, at ((b * mtiles + t) * K + k) * 8. Read in
 * place, A^T's 8 values per k sit one row of A apart: a new cache line (and,
 * for power-of-two widths, the same L1 set) at every k. One work-item per
 * (batch, tile, k); op(A)(i, k) is at a[a_off + bb * a_batch + i * sam + k * sak]. */
__kernel void gemm_cpu_pack_a(__global const float *a, ulong a_off, long sam, long sak,
                              ulong a_batch, uint m, uint k, uint mtiles, ulong total,
                              __global float *ap) {
    ulong gid = get_global_id(0);
    if (gid >= total) return;
    ulong kk = gid % k, rest = gid / k;
    uint t = (uint)(rest % mtiles);
    ulong bb = rest / mtiles;
    const __global float *src = a + a_off + bb * a_batch + (long)kk * sak;
    __global float *dst = ap + gid * GEMM_MR;
    uint i0 = t * GEMM_MR;
    if (sam == 1 && i0 + GEMM_MR <= m) {
        vstore8(vload8(0, src + i0), 0, dst);
        return;
    }
    for (uint r = 0; r < GEMM_MR; r++)
        dst[r] = i0 + r < m ? src[(long)(i0 + r) * sam] : 0.0f;
}

/* Stores row r of the tile (accumulators lo, hi) when the row exists. */
#define GEMM_STORE_ROW(r, lo, hi)                                                 \
    if (i0 + (r) < m) {                                                           \
        __global float *row = cb + (ulong)(r) * ldc;                              \
        if (full) {                                                               \
            vstore16(lo, 0, row);                                                 \
            vstore16(hi, 0, row + 16);                                            \
        } else {                                                                  \
            float tmp[GEMM_NR];                                                   \
            vstore16(lo, 0, tmp);                                                 \
            vstore16(hi, 0, tmp + 16);                                            \
            for (uint j = 0; j < ncols; j++) row[j] = tmp[j];                     \
        }                                                                         \
    }

/* One work-group of one work-item per 8 x 32 tile; work-group g is row tile
 * g % mtiles of panel (g / mtiles) % panels of batch g / (mtiles * panels).
 * Row r of tile t is read at a + a_off + bb * a_batch + t * a_tile + r' * sam with
 * r' = min(8t + r, M - 1) - 8t: A in place has a_tile = 8 * sam, packed A
 * (sam = 1, sak = 8) a_tile = 8 * K.
 * bp_batch: float16s between the panels of consecutive batches (0 when every
 * batch shares one B, packed once). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gemm_cpu_tile(__global const float *a, ulong a_off, long sam, long sak, ulong a_batch,
                   ulong a_tile, __global const float16 *bp, ulong bp_batch, __global float *c,
                   ulong c_off, ulong ldc, ulong c_batch, uint m, uint n, uint k, uint mtiles,
                   uint panels) {
    ulong g = get_group_id(0);
    uint t = (uint)(g % mtiles);
    ulong rest = g / mtiles;
    uint p = (uint)(rest % panels);
    ulong bb = rest / panels;
    uint i0 = t * GEMM_MR, j0 = p * GEMM_NR;

    const __global float *ab = a + a_off + bb * a_batch + t * a_tile;
    const __global float *a0 = ab + (long)(min(i0 + 0, m - 1) - i0) * sam;
    const __global float *a1 = ab + (long)(min(i0 + 1, m - 1) - i0) * sam;
    const __global float *a2 = ab + (long)(min(i0 + 2, m - 1) - i0) * sam;
    const __global float *a3 = ab + (long)(min(i0 + 3, m - 1) - i0) * sam;
    const __global float *a4 = ab + (long)(min(i0 + 4, m - 1) - i0) * sam;
    const __global float *a5 = ab + (long)(min(i0 + 5, m - 1) - i0) * sam;
    const __global float *a6 = ab + (long)(min(i0 + 6, m - 1) - i0) * sam;
    const __global float *a7 = ab + (long)(min(i0 + 7, m - 1) - i0) * sam;
    const __global float16 *panel = bp + bb * bp_batch + (ulong)p * k * 2;

    float16 c00 = 0.0f, c01 = 0.0f, c10 = 0.0f, c11 = 0.0f, c20 = 0.0f, c21 = 0.0f;
    float16 c30 = 0.0f, c31 = 0.0f, c40 = 0.0f, c41 = 0.0f, c50 = 0.0f, c51 = 0.0f;
    float16 c60 = 0.0f, c61 = 0.0f, c70 = 0.0f, c71 = 0.0f;
    long ka = 0;
    for (uint kk = 0; kk < k; kk++, ka += sak) {
        float16 b0 = panel[2 * kk], b1 = panel[2 * kk + 1];
        float16 x;
        x = (float16)(a0[ka]); c00 = fma(x, b0, c00); c01 = fma(x, b1, c01);
        x = (float16)(a1[ka]); c10 = fma(x, b0, c10); c11 = fma(x, b1, c11);
        x = (float16)(a2[ka]); c20 = fma(x, b0, c20); c21 = fma(x, b1, c21);
        x = (float16)(a3[ka]); c30 = fma(x, b0, c30); c31 = fma(x, b1, c31);
        x = (float16)(a4[ka]); c40 = fma(x, b0, c40); c41 = fma(x, b1, c41);
        x = (float16)(a5[ka]); c50 = fma(x, b0, c50); c51 = fma(x, b1, c51);
        x = (float16)(a6[ka]); c60 = fma(x, b0, c60); c61 = fma(x, b1, c61);
        x = (float16)(a7[ka]); c70 = fma(x, b0, c70); c71 = fma(x, b1, c71);
    }

    __global float *cb = c + c_off + bb * c_batch + (ulong)i0 * ldc + j0;
    int full = j0 + GEMM_NR <= n;
    uint ncols = full ? GEMM_NR : n - j0;
    GEMM_STORE_ROW(0, c00, c01)
    GEMM_STORE_ROW(1, c10, c11)
    GEMM_STORE_ROW(2, c20, c21)
    GEMM_STORE_ROW(3, c30, c31)
    GEMM_STORE_ROW(4, c40, c41)
    GEMM_STORE_ROW(5, c50, c51)
    GEMM_STORE_ROW(6, c60, c61)
    GEMM_STORE_ROW(7, c70, c71)
}
