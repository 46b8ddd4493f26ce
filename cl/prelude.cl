/* Prepended to every clgrad program. Build options always define:
 *   CLG_OPENCL_C_VERSION  e.g. 120, 300
 *   CLG_MAX_WORK_GROUP    work-group size limit (256 at most in constrained mode)
 *   CLG_LOCAL_MEM         local memory bytes available
 *   CLG_HAS_FP16, CLG_HAS_FP64   0 or 1
 * Kernels are written for OpenCL C 1.2 and use double only under CLG_HAS_FP64. */
#ifndef CLG_HAS_FP64
#define CLG_HAS_FP64 0
#endif
#ifndef CLG_HAS_FP16
#define CLG_HAS_FP16 0
#endif
#if CLG_HAS_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#if CLG_HAS_FP16
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

/* Shapes and strides of up to 8 dimensions travel as ulong8/long8 arguments. */
#define CLG_MAX_DIMS 8

/* n / d by d's magic numbers from the host (clg_div_magic in src/runtime):
 * CPU devices cannot vectorise integer division; this is a multiply-high, an
 * add and two shifts, exact for every uint n. */
inline uint clg_div(uint n, uint2 mg) {
    uint t = (uint)(((ulong)mg.x * (ulong)n) >> 32);
    return (t + ((n - t) >> (mg.y & 0xffu))) >> (mg.y >> 8);
}

/* erf(x) within 1.5e-7 + float rounding (Abramowitz and Stegun 7.1.26), branch
 * free: PoCL calls a scalar erf per element, which made GELU 20x slower than
 * exp-based operations; this form vectorises. */
inline float clg_erf(float x) {
    float z = fabs(x);
    float t = 1.0f / (1.0f + 0.3275911f * z);
    float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    return copysign(1.0f - poly * exp(-z * z), x);
}

/* Offset in elements of the i-th element (row-major over shape) of a strided
 * view of n elements. Below 2^32 elements the index arithmetic is 32-bit: a
 * 64-bit division costs several times more on CPUs, and it runs per element. */
inline ulong clg_strided_offset_n(ulong i, ulong n, int ndim, const ulong *shape, const long *strides) {
    long off = 0;
    if (n <= 0xFFFFFFFFul) {
        uint r = (uint)i;
        for (int d = ndim - 1; d >= 0; --d) {
            uint extent = (uint)shape[d];
            uint idx = r % extent;
            r /= extent;
            off += (long)idx * strides[d];
        }
        return (ulong)off;
    }
    for (int d = ndim - 1; d >= 0; --d) {
        ulong extent = shape[d];
        ulong idx = i % extent;
        i /= extent;
        off += (long)idx * strides[d];
    }
    return (ulong)off;
}
