#include "common/hash.h"

#include <stdio.h>

uint64_t clg_fnv1a(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void clg_hash_hex128(const void *data, size_t len, char out[33]) {
    uint64_t a = clg_fnv1a(CLG_FNV_OFFSET, data, len);
    /* A second stream from another basis, with the length mixed in. */
    uint64_t b = clg_fnv1a(0x84222325cbf29ce4ULL ^ (uint64_t)len, data, len);
    b ^= b >> 29;
    b *= 0xbf58476d1ce4e5b9ULL;
    b ^= b >> 32;
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}
