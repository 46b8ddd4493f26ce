/* Internal: non-cryptographic hashing for cache keys (collisions are caught by
 * comparing the stored key material, so speed matters more than strength). */
#ifndef CLG_COMMON_HASH_H
#define CLG_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit FNV-1a, continuing from h (start with CLG_FNV_OFFSET). */
#define CLG_FNV_OFFSET 0xcbf29ce484222325ULL
uint64_t clg_fnv1a(uint64_t h, const void *data, size_t len);

/* A 128-bit key as 32 lowercase hex digits (+ NUL) from two independent FNV-1a
 * streams over data. */
void clg_hash_hex128(const void *data, size_t len, char out[33]);

#endif
