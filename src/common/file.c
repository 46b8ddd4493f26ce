/* Atomic file writes and directory creation (POSIX). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/file.h"

clg_status clg_mkdirs(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "directory path '%s' is empty or too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return clg_fail(CLG_STATUS_IO_ERROR, "cannot create directory '%s': %s", buf,
                            strerror(errno));
        buf[i] = saved;
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return clg_fail(CLG_STATUS_IO_ERROR, "'%s' is not a directory", path);
    return CLG_OK;
}

clg_status clg_atomic_file_begin(clg_atomic_file *f, const char *path) {
    f->fd = -1;
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "file path '%.80s...' is too long", path);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        clg_status st = clg_mkdirs(dir);
        if (st != CLG_OK) return st;
    }
    /* Unique per process, thread and call, so concurrent writers never share one. */
    static _Thread_local unsigned counter;
    for (int attempt = 0; attempt < 16 && f->fd < 0; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld.%u.%ld", path, (long)getpid(), counter++,
                 (long)ts.tv_nsec);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (f->fd < 0 && errno != EEXIST) break;
    }
    if (f->fd < 0)
        return clg_fail(CLG_STATUS_IO_ERROR, "cannot create a temporary file beside '%s': %s", path,
                        strerror(errno));
    return CLG_OK;
}

void clg_atomic_file_abort(clg_atomic_file *f) {
    if (f->fd < 0) return;
    close(f->fd);
    unlink(f->tmp);
    f->fd = -1;
}

clg_status clg_atomic_file_write(clg_atomic_file *f, const void *data, size_t len) {
    if (f->fd < 0) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "write to '%s' after it failed", f->path);
    const char *p = data;
    while (len) {
        ssize_t w = write(f->fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            clg_atomic_file_abort(f);
            return clg_fail(CLG_STATUS_IO_ERROR, "cannot write '%s': %s", f->tmp, strerror(e));
        }
        p += w;
        len -= (size_t)w;
    }
    return CLG_OK;
}

clg_status clg_atomic_file_commit(clg_atomic_file *f) {
    if (f->fd < 0) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "commit of '%s' after it failed", f->path);
    if (fsync(f->fd) != 0) {
        int e = errno;
        clg_atomic_file_abort(f);
        return clg_fail(CLG_STATUS_IO_ERROR, "cannot flush '%s': %s", f->tmp, strerror(e));
    }
    int rc = close(f->fd);
    f->fd = -1;
    if (rc != 0) {
        int e = errno;
        unlink(f->tmp);
        return clg_fail(CLG_STATUS_IO_ERROR, "cannot close '%s': %s", f->tmp, strerror(e));
    }
    if (rename(f->tmp, f->path) != 0) {
        int e = errno;
        unlink(f->tmp);
        return clg_fail(CLG_STATUS_IO_ERROR, "cannot rename '%s' to '%s': %s", f->tmp, f->path,
                        strerror(e));
    }
    /* The rename is durable only once the directory entry is on disk. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", f->path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_CLOEXEC);
    if (dfd >= 0) {
        int bad = fsync(dfd) != 0 && errno != EINVAL && errno != EROFS;
        int e = errno;
        close(dfd);
        if (bad)
            return clg_fail(CLG_STATUS_IO_ERROR,
                            "'%s' was written but fsync of its directory '%s' failed: %s", f->path,
                            dir, strerror(e));
    }
    return CLG_OK;
}

clg_status clg_write_file_atomic(const char *path, const void *data, size_t len) {
    clg_atomic_file f;
    clg_status st = clg_atomic_file_begin(&f, path);
    if (st == CLG_OK) st = clg_atomic_file_write(&f, data, len);
    if (st == CLG_OK) return clg_atomic_file_commit(&f);
    clg_atomic_file_abort(&f);
    return st;
}

clg_status clg_read_file(const char *path, size_t max_bytes, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT) return clg_fail(CLG_STATUS_NOT_FOUND, "file '%s' does not exist", path);
        return clg_fail(CLG_STATUS_IO_ERROR, "cannot open '%s': %s", path, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return clg_fail(CLG_STATUS_IO_ERROR, "'%s' is not a regular file", path);
    }
    if ((unsigned long long)sb.st_size > max_bytes) {
        close(fd);
        return clg_fail(CLG_STATUS_CORRUPT_DATA, "file '%s' is %lld bytes, more than the %zu allowed",
                        path, (long long)sb.st_size, max_bytes);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "reading '%s' (%zu bytes)", path, n);
    }
    size_t got = 0;
    int err = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) err = errno;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got < n) { /* a read error, or the file shrank while it was read: never a silent short buffer */
        free(buf);
        return err ? clg_fail(CLG_STATUS_IO_ERROR, "reading '%s': %s", path, strerror(err))
                   : clg_fail(CLG_STATUS_IO_ERROR, "'%s' shrank while it was read (%zu of %zu bytes)", path,
                              got, n);
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return CLG_OK;
}
