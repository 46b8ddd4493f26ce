/* Counter-based random numbers: Philox-4x32-10 (Salmon et al., SC'11).
 * Element e of a stream (seed, offset) is lane e % 4 of the block
 * philox(counter = {lo(b), hi(b), 0, 0}, key = {lo(seed), hi(seed)}) with
 * b = (offset + e) / 4, so results depend on the seed and element index alone,
 * never on work-group sizes or the device. The host reference in src/tensor/philox.c
 * computes the same numbers. */
#pragma OPENCL FP_CONTRACT OFF

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* The high half of a 32x32 multiply through a 64-bit product: PoCL calls
 * mul_hi out of line, which kept the whole generator from vectorising. */
inline uint philox_mul_hi(uint a, uint b) { return (uint)(((ulong)a * (ulong)b) >> 32); }

inline uint4 philox4x32_10(uint4 c, uint2 k) {
    for (int r = 0; r < 10; ++r) {
        uint hi0 = philox_mul_hi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
        uint hi1 = philox_mul_hi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k.x += PHILOX_W0;
        k.y += PHILOX_W1;
    }
    return c;
}

inline uint4 philox_block(ulong block, ulong seed) {
    return philox4x32_10((uint4)((uint)block, (uint)(block >> 32), 0u, 0u),
                         (uint2)((uint)seed, (uint)(seed >> 32)));
}

inline float u01(uint x) { return (float)(x >> 8) * 0x1.0p-24f; } /* [0, 1) */

/* Mode 0: raw bits, 1: uniform in [a, b), 2: normal with mean a, stddev b.
 * Work-item w produces the elements of block first_block + w that fall in
 * [offset, offset + n). */
/* Element e of the stream lands at dst[dst_offset + (e - offset)]. */
inline void philox_fill_block(__global uint *dst, ulong dst_offset, ulong n, ulong seed,
                              ulong offset, int mode, float a, float b, ulong w) {
    ulong block = offset / 4 + w;
    ulong first = block * 4;
    if (first >= offset + n) return;
    uint4 r = philox_block(block, seed);
    uint v[4] = {r.x, r.y, r.z, r.w};
    if (mode == 1) {
        for (int l = 0; l < 4; ++l) v[l] = as_uint(a + (b - a) * u01(v[l]));
    } else if (mode == 2) {
        for (int l = 0; l < 4; l += 2) {
            float u1 = (float)((v[l] >> 8) + 1u) * 0x1.0p-24f; /* (0, 1] */
            float u2 = u01(v[l + 1]);
            float rad = sqrt(-2.0f * log(u1));
            float th = 6.28318530717958647692f * u2;
            v[l] = as_uint(a + b * (rad * cos(th)));
            v[l + 1] = as_uint(a + b * (rad * sin(th)));
        }
    }
    for (int l = 0; l < 4; ++l) {
        ulong e = first + (ulong)l;
        if (e >= offset && e < offset + n) dst[dst_offset + (e - offset)] = v[l];
    }
}

/* Mode 0: raw bits, 1: uniform in [a, b), 2: normal with mean a, stddev b.
 * Work-item w produces the elements of block offset / 4 + w that fall in
 * [offset, offset + n). */
__kernel void philox_fill(__global uint *dst, ulong dst_offset, ulong n, ulong seed, ulong offset,
                          int mode, float a, float b) {
    philox_fill_block(dst, dst_offset, n, seed, offset, mode, a, b, get_global_id(0));
}

/* The same with the stream offset read from a device counter, so that replaying
 * a recorded draw gives fresh numbers; counter_advance, queued after it, moves
 * the counter on. Launched with n / 4 + 2 work-items (the offset's alignment is
 * unknown on the host). */
__kernel void philox_fill_counter(__global uint *dst, ulong dst_offset, ulong n, ulong seed,
                                  __global const ulong *counter, int mode, float a, float b) {
    philox_fill_block(dst, dst_offset, n, seed, counter[0], mode, a, b, get_global_id(0));
}

__kernel void counter_advance(__global ulong *counter, ulong by) {
    if (get_global_id(0) == 0) counter[0] += by;
}
