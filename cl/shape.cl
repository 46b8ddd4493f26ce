/* Kernels of the shape ops (src/ops/shape.c): pad, gather (which also serves
 * index_select and embedding through broadcast index strides), the deterministic
 * scatter-add behind their gradients, and one_hot.
 *
 * Forward kernels move the bit pattern of 4-byte elements (E, uint by default),
 * so one build serves float32 and int32; gradient kernels are float. Shapes and
 * strides travel as ulong8/long8 arguments, so one build serves every shape.
 * Outputs are contiguous and start at element 0 of their buffer. */
#ifndef E
#define E uint
#endif

/* out[i] (row-major over out_shape) = the x element it comes from: the output
 * coordinate minus `before` per axis, reflected numpy-style (edge not repeated)
 * when reflect != 0, else `value` when it falls outside x. The host guarantees
 * before, after < extent for reflect, so one reflection lands inside. */
__kernel void pad_forward(__global const E *x, ulong x_off, ulong8 x_shape, long8 x_strides,
                          __global E *out, ulong n, int ndim, ulong8 out_shape, long8 before,
                          int reflect, E value) {
    ulong i = get_global_id(0);
    if (i >= n) return;
    ulong xs[CLG_MAX_DIMS], os[CLG_MAX_DIMS];
    long st[CLG_MAX_DIMS], bf[CLG_MAX_DIMS];
    vstore8(x_shape, 0, xs);
    vstore8(out_shape, 0, os);
    vstore8(x_strides, 0, st);
    vstore8(before, 0, bf);
    ulong rest = i;
    long off = 0;
    int inside = 1;
    for (int d = ndim - 1; d >= 0; --d) {
        long o = (long)(rest % os[d]);
        rest /= os[d];
        long s = o - bf[d], ext = (long)xs[d];
        if (reflect) {
            if (s < 0) s = -s;
            if (s >= ext) s = 2 * (ext - 1) - s;
        } else if (s < 0 || s >= ext) {
            inside = 0;
        }
        off += s * st[d];
    }
    out[i] = inside ? x[x_off + off] : value;
}

/* Gradient of reflect padding: gx[j] (row-major over x_shape) sums g over every
 * output position that read x element j. Per axis an input coordinate c is read
 * by at most three output coordinates: c + before (itself), before - c (its left
 * reflection, for 1 <= c <= before) and before + 2(ext-1) - c (its right
 * reflection, for ext-1-after <= c <= ext-2). Their product is walked in a fixed
 * order (last axis fastest; per axis itself, left, right): no atomics, the same
 * bits on every run. */
__kernel void pad_reflect_backward(__global const float *g, ulong g_off, long8 g_strides,
                                   __global float *gx, ulong n, int ndim, ulong8 x_shape,
                                   long8 before, long8 after) {
    ulong j = get_global_id(0);
    if (j >= n) return;
    ulong xs[CLG_MAX_DIMS];
    long gs[CLG_MAX_DIMS], bf[CLG_MAX_DIMS], af[CLG_MAX_DIMS];
    vstore8(x_shape, 0, xs);
    vstore8(g_strides, 0, gs);
    vstore8(before, 0, bf);
    vstore8(after, 0, af);
    long pos[CLG_MAX_DIMS][3];
    int cnt[CLG_MAX_DIMS], at[CLG_MAX_DIMS];
    ulong rest = j;
    for (int d = ndim - 1; d >= 0; --d) {
        long c = (long)(rest % xs[d]), ext = (long)xs[d];
        rest /= xs[d];
        int k = 0;
        pos[d][k++] = (c + bf[d]) * gs[d];
        if (c >= 1 && c <= bf[d]) pos[d][k++] = (bf[d] - c) * gs[d];
        if (c <= ext - 2 && c >= ext - 1 - af[d]) pos[d][k++] = (bf[d] + 2 * (ext - 1) - c) * gs[d];
        cnt[d] = k;
        at[d] = 0;
    }
    float acc = 0.0f;
    for (;;) {
        long off = 0;
        for (int d = 0; d < ndim; ++d) off += pos[d][at[d]];
        acc += g[g_off + off];
        int d = ndim - 1;
        while (d >= 0 && ++at[d] == cnt[d]) at[d--] = 0;
        if (d < 0) break;
    }
    gx[j] = acc;
}

/* out[i] (row-major over shape) = x at output i's coordinates with the axis
 * coordinate replaced by index at those coordinates, or 0 where that index is
 * outside [0, x_extent) (nothing out of bounds is read). x's and index's strides
 * are given over `shape`; index strides of 0 broadcast a 1-D index (index_select,
 * embedding). */
__kernel void gather_axis(__global const E *x, ulong x_off, long8 x_strides, long x_extent,
                          __global const int *index, ulong idx_off, long8 idx_strides,
                          __global E *out, ulong n, int ndim, ulong8 shape, int axis) {
    ulong i = get_global_id(0);
    if (i >= n) return;
    ulong sh[CLG_MAX_DIMS];
    long xs[CLG_MAX_DIMS], is[CLG_MAX_DIMS];
    vstore8(shape, 0, sh);
    vstore8(x_strides, 0, xs);
    vstore8(idx_strides, 0, is);
    ulong rest = i;
    long xo = 0, io = 0;
    for (int d = ndim - 1; d >= 0; --d) {
        long c = (long)(rest % sh[d]);
        rest /= sh[d];
        io += c * is[d];
        if (d != axis) xo += c * xs[d];
    }
    long k = index[idx_off + io];
    out[i] = (k >= 0 && k < x_extent) ? x[x_off + xo + k * xs[axis]] : (E)0;
}

/* The gradient of gather_axis: dst (float, zeroed, strides dst_strides over
 * shape) gets dst[c with axis := index[c]] += src[c] for every coordinate c of
 * shape whose index is in [0, dst_extent). One work-item per column (the
 * coordinates other than axis) walks the axis in order; a column only writes to
 * its own column of dst, so there are no races and every sum has a fixed order. */
__kernel void scatter_add_axis(__global float *dst, long8 dst_strides, long dst_extent,
                               __global const float *src, ulong src_off, long8 src_strides,
                               __global const int *index, ulong idx_off, long8 idx_strides,
                               ulong ncols, int ndim, ulong8 shape, int axis) {
    ulong col = get_global_id(0);
    if (col >= ncols) return;
    ulong sh[CLG_MAX_DIMS];
    long ds[CLG_MAX_DIMS], ss[CLG_MAX_DIMS], is[CLG_MAX_DIMS];
    vstore8(shape, 0, sh);
    vstore8(dst_strides, 0, ds);
    vstore8(src_strides, 0, ss);
    vstore8(idx_strides, 0, is);
    ulong rest = col;
    long doff = 0, soff = 0, ioff = 0;
    for (int d = ndim - 1; d >= 0; --d) {
        if (d == axis) continue;
        long c = (long)(rest % sh[d]);
        rest /= sh[d];
        doff += c * ds[d];
        soff += c * ss[d];
        ioff += c * is[d];
    }
    long len = (long)sh[axis];
    for (long k = 0; k < len; ++k) {
        long t = index[idx_off + ioff + k * is[axis]];
        if (t >= 0 && t < dst_extent) dst[doff + t * ds[axis]] += src[src_off + soff + k * ss[axis]];
    }
}

/* out[i] = 1 where class i % classes equals the label of position i / classes
 * (row-major over the labels' shape, read through their strides), else 0. */
__kernel void one_hot(__global const int *labels, ulong l_off, long8 l_strides, __global float *out,
                      ulong n, int ndim, ulong8 l_shape, int classes) {
    ulong i = get_global_id(0);
    if (i >= n) return;
    ulong sh[CLG_MAX_DIMS];
    long st[CLG_MAX_DIMS];
    vstore8(l_shape, 0, sh);
    vstore8(l_strides, 0, st);
    ulong pos = i / (ulong)classes;
    int c = (int)(i % (ulong)classes);
    out[i] = labels[l_off + clg_strided_offset_n(pos, n, ndim, sh, st)] == c ? 1.0f : 0.0f;
}
