/* Internal: file helpers shared by the caches and (later) checkpoints. */
#ifndef CLG_COMMON_FILE_H
#define CLG_COMMON_FILE_H

#include <stddef.h>

#include "clgrad/status.h"

/* A file written beside its target and renamed into place only when complete:
 * readers (and a crash at any point) see the old file or the new one, never a
 * part. Stray temporary files of interrupted writers are named
 * "<path>.tmp.<pid>.<n>.<ns>" and never read.
 *
 *     clg_atomic_file f;
 *     if (clg_atomic_file_begin(&f, path) == CLG_OK &&
 *         clg_atomic_file_write(&f, a, n) == CLG_OK && ...)
 *         st = clg_atomic_file_commit(&f);   // fsync, rename, fsync the directory
 *     else
 *         clg_atomic_file_abort(&f);         // removes the temporary file
 *
 * begin creates missing parent directories. After a failed write the file is
 * aborted already; commit and abort may then be called and do nothing. */
typedef struct clg_atomic_file {
    int fd;
    char path[4096];
    char tmp[4200];
} clg_atomic_file;
clg_status clg_atomic_file_begin(clg_atomic_file *f, const char *path);
clg_status clg_atomic_file_write(clg_atomic_file *f, const void *data, size_t len);
clg_status clg_atomic_file_commit(clg_atomic_file *f);
void clg_atomic_file_abort(clg_atomic_file *f);

/* The whole of data written to path with the mechanism above. */
clg_status clg_write_file_atomic(const char *path, const void *data, size_t len);

/* Creates directory path and its parents (mode 0755); existing is fine. */
clg_status clg_mkdirs(const char *path);

/* Reads a whole file into a malloc'd buffer (NUL-terminated, *len excludes the
 * NUL). Files over max_bytes are refused. CLG_STATUS_NOT_FOUND if absent. */
clg_status clg_read_file(const char *path, size_t max_bytes, char **data, size_t *len);

#endif
