/* Basic tensor kernels. Built once per element type with -DE=<type> (uint,
 * ushort, uchar: the bit pattern of the element, so one build serves every dtype
 * of that size). */
#ifndef E
#define E uint
#endif

__kernel void fill(__global E *dst, ulong offset, ulong n, E value) {
    ulong i = get_global_id(0);
    if (i < n) dst[offset + i] = value;
}

/* dst[dst_offset + i] = the i-th element (row-major) of a strided view of src. */
__kernel void gather(__global const E *src, ulong src_offset, __global E *dst, ulong dst_offset,
                     ulong n, int ndim, ulong8 shape, long8 strides) {
    ulong i = get_global_id(0);
    if (i >= n) return;
    ulong sh[CLG_MAX_DIMS];
    long st[CLG_MAX_DIMS];
    vstore8(shape, 0, sh);
    vstore8(strides, 0, st);
    dst[dst_offset + i] = src[src_offset + clg_strided_offset_n(i, n, ndim, sh, st)];
}

#pragma OPENCL FP_CONTRACT OFF
__kernel void arange_f32(__global float *dst, ulong offset, ulong n, float start, float step) {
    ulong i = get_global_id(0);
    if (i < n) dst[offset + i] = start + (float)i * step;
}

__kernel void arange_i32(__global int *dst, ulong offset, ulong n, int start, int step) {
    ulong i = get_global_id(0);
    if (i < n) dst[offset + i] = start + (int)i * step;
}

/* Strided to strided copy of n elements over a common shape. */
__kernel void copy_strided(__global const E *src, ulong src_offset, long8 src_strides,
                           __global E *dst, ulong dst_offset, long8 dst_strides, ulong n, int ndim,
                           ulong8 shape) {
    ulong i = get_global_id(0);
    if (i >= n) return;
    ulong sh[CLG_MAX_DIMS];
    long ss[CLG_MAX_DIMS], ds[CLG_MAX_DIMS];
    vstore8(shape, 0, sh);
    vstore8(src_strides, 0, ss);
    vstore8(dst_strides, 0, ds);
    dst[dst_offset + clg_strided_offset_n(i, n, ndim, sh, ds)] = src[src_offset + clg_strided_offset_n(i, n, ndim, sh, ss)];
}
