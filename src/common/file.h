/* Internal: file helpers shared by the caches and (later) checkpoints. */
#ifndef CLG_COMMON_FILE_H
#define CLG_COMMON_FILE_H

#include <stddef.h>

#include "clgrad/status.h"

/* A file written beside its target and renamed into place only when complete:
 * readers (and a crash at any point) see the old file or the new one, never a
 * part.
 *
 *     clg_atomic_file f;
 *     if (clg_atomic_file_begin(&f, path) == CLG_OK &&
 *         clg_atomic_file_write(&f, a, n) == CLG_OK && ...)
 *         st = clg_atomic_file_commit(&f);   // fsync, rename, fsync the directory
 *     else
 *         clg_atomic_file_abort(&f);         // removes the temporary file
 *
 * begin creates missing parent directories (commit makes their entries durable
 * too). After a failed write the file is aborted already; commit and abort may
 * then be called and do nothing.
 *
 * Temporary files are "<path>.tmp.<pid>.<n>.<ns>", created with O_EXCL (a name
 * in use is never shared; another is tried) and never read by any loader, which
 * opens path itself. A writer killed before its rename leaves one behind: a
 * later successful commit to the same path removes those whose pid is no live
 * process and which are unmodified for CLG_ATOMIC_FILE_STALE_SECONDS (a writer
 * on another host or in another pid namespace sharing the directory is not
 * robbed of its file); others stay, harmless. */
#define CLG_ATOMIC_FILE_STALE_SECONDS 60
typedef struct clg_atomic_file {
    int fd;
    size_t created_len; /* the first directory begin created: path's first created_len bytes; 0 if none */
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
