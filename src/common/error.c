#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { CLG_ERROR_CAP = 4096 };

static _Thread_local clg_status last_status = CLG_OK;
static _Thread_local char last_message[CLG_ERROR_CAP];

static const char *const status_names[] = {
#define CLG_STATUS_NAME_(name, msg) "CLG_STATUS_" #name,
    CLG_STATUS_LIST(CLG_STATUS_NAME_)
#undef CLG_STATUS_NAME_
};
static const char *const status_messages[] = {
#define CLG_STATUS_MSG_(name, msg) msg,
    CLG_STATUS_LIST(CLG_STATUS_MSG_)
#undef CLG_STATUS_MSG_
};
_Static_assert(sizeof status_names / sizeof *status_names == CLG_STATUS_COUNT_,
               "status names out of step with CLG_STATUS_LIST");
_Static_assert(sizeof status_messages / sizeof *status_messages == CLG_STATUS_COUNT_,
               "status messages out of step with CLG_STATUS_LIST");

const char *clg_status_name(clg_status status) {
    if ((unsigned)status >= CLG_STATUS_COUNT_) return "CLG_STATUS_UNKNOWN";
    return status_names[status];
}

const char *clg_status_message(clg_status status) {
    if ((unsigned)status >= CLG_STATUS_COUNT_) return "unknown status";
    return status_messages[status];
}

clg_status clg_last_status(void) { return last_status; }
const char *clg_last_error(void) { return last_message; }

void clg_clear_error(void) {
    last_status = CLG_OK;
    last_message[0] = '\0';
}

clg_status clg_fail(clg_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_status = status;
    return status;
}

clg_status clg_fail_wrap(clg_status status, const char *fmt, ...) {
    char prefix[512];
    char previous[CLG_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(previous, last_message, sizeof previous);
    snprintf(last_message, sizeof last_message, "%s: %s", prefix, previous);
    last_status = status;
    return status;
}

void clg_error_save(clg_error_saved *saved) {
    saved->status = last_status;
    snprintf(saved->message, sizeof saved->message, "%s", last_message);
}

void clg_error_restore(const clg_error_saved *saved) {
    last_status = saved->status;
    snprintf(last_message, sizeof last_message, "%s", saved->message);
}

char *clg_format_bytes(unsigned long long bytes, char *buf, unsigned long cap) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", bytes);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}
