/* Internal: growing arrays. */
#ifndef CLG_COMMON_ARRAY_H
#define CLG_COMMON_ARRAY_H

#include <stddef.h>

/* Makes room for `need` elements of `elem` bytes in *items (capacity *cap),
 * doubling from `initial`. Returns 0 on allocation failure (*items unchanged). */
int clg_reserve(void **items, size_t *cap, size_t need, size_t elem, size_t initial);

#define CLG_RESERVE(arr, cap, need, initial) \
    clg_reserve((void **)&(arr), &(cap), (need), sizeof *(arr), (initial))

#endif
