/* A growing NUL-terminated text buffer for writers of JSON and headers.
 *
 * Appends never fail loudly: on an allocation failure the buffer sets oom and
 * ignores later appends, so a writer checks once at the end. Zero-initialise
 * it ({0}) and free(b.s) when done. */
#ifndef CLGRAD_COMMON_STRBUF_H
#define CLGRAD_COMMON_STRBUF_H

#include <stddef.h>

#include "common/error.h"

typedef struct clg_strbuf {
    char *s;       /* NUL-terminated once anything was appended; NULL before */
    size_t len, cap;
    int oom;       /* an append ran out of memory: the contents are incomplete */
} clg_strbuf;

void clg_strbuf_put(clg_strbuf *b, const char *s, size_t n);
void clg_strbuf_str(clg_strbuf *b, const char *s);
void clg_strbuf_printf(clg_strbuf *b, const char *fmt, ...) CLG_PRINTF(2, 3);
/* s as a JSON string, escaped as serde_json does: \" \\ \b \f \n \r \t and
 * \u00XX for the other control characters; other bytes as they are. */
void clg_strbuf_json(clg_strbuf *b, const char *s);

#endif
