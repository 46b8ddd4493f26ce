/* Internal: recording failures for clg_last_error(). */
#ifndef CLG_COMMON_ERROR_H
#define CLG_COMMON_ERROR_H

#include "clgrad/status.h"

#if defined(__GNUC__)
#define CLG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLG_PRINTF(a, b)
#endif

/* Records status and a formatted message on this thread; returns status so that
 * callers can write `return clg_fail(CLG_STATUS_X, "...", ...);`. */
clg_status clg_fail(clg_status status, const char *fmt, ...) CLG_PRINTF(2, 3);

/* Prefixes the current message with "<context>: " and keeps the status. Used to
 * add what the caller was doing to an error from below. */
clg_status clg_fail_wrap(clg_status status, const char *fmt, ...) CLG_PRINTF(2, 3);

/* Saving and restoring the error state around work whose failure is not the
 * caller's failure (a cache miss, a best-effort write). */
typedef struct clg_error_saved {
    clg_status status;
    char message[1024];
} clg_error_saved;
void clg_error_save(clg_error_saved *saved);
void clg_error_restore(const clg_error_saved *saved);

/* Formats a byte count as "1.5 GiB", "512 B" into buf. */
char *clg_format_bytes(unsigned long long bytes, char *buf, unsigned long cap);

#endif
