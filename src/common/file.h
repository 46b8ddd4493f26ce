/* Internal: file helpers shared by the caches and (later) checkpoints. */
#ifndef CLG_COMMON_FILE_H
#define CLG_COMMON_FILE_H

#include <stddef.h>

#include "clgrad/status.h"

/* Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename. Creates missing parent directories. Readers see the old file or
 * the new one, never a part. */
clg_status clg_write_file_atomic(const char *path, const void *data, size_t len);

/* Creates directory path and its parents (mode 0755); existing is fine. */
clg_status clg_mkdirs(const char *path);

/* Reads a whole file into a malloc'd buffer (NUL-terminated, *len excludes the
 * NUL). Files over max_bytes are refused. CLG_STATUS_NOT_FOUND if absent. */
clg_status clg_read_file(const char *path, size_t max_bytes, char **data, size_t *len);

#endif
