#include "common/array.h"

#include <stdint.h>
#include <stdlib.h>

int clg_reserve(void **items, size_t *cap, size_t need, size_t elem, size_t initial) {
    if (need <= *cap) return 1;
    size_t n = *cap ? *cap : initial;
    while (n < need) {
        if (n > SIZE_MAX / 2) return 0;
        n *= 2;
    }
    if (n > SIZE_MAX / elem) return 0;
    void *grown = realloc(*items, n * elem);
    if (!grown) return 0;
    *items = grown;
    *cap = n;
    return 1;
}
