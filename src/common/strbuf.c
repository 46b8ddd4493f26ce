#include "common/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void clg_strbuf_put(clg_strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void clg_strbuf_str(clg_strbuf *b, const char *s) { clg_strbuf_put(b, s, strlen(s)); }

void clg_strbuf_printf(clg_strbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        clg_strbuf_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1); /* longer than the stack buffer: format again */
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    clg_strbuf_put(b, big, (size_t)n);
    free(big);
}

void clg_strbuf_json(clg_strbuf *b, const char *s) {
    clg_strbuf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '"': clg_strbuf_str(b, "\\\""); break;
        case '\\': clg_strbuf_str(b, "\\\\"); break;
        case '\b': clg_strbuf_str(b, "\\b"); break;
        case '\f': clg_strbuf_str(b, "\\f"); break;
        case '\n': clg_strbuf_str(b, "\\n"); break;
        case '\r': clg_strbuf_str(b, "\\r"); break;
        case '\t': clg_strbuf_str(b, "\\t"); break;
        default:
            if (c < 0x20) clg_strbuf_printf(b, "\\u%04x", c);
            else clg_strbuf_put(b, (const char *)&c, 1);
        }
    }
    clg_strbuf_put(b, "\"", 1);
}
