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

clg_status clg_write_file_atomic(const char *path, const void *data, size_t len) {
    char dir[4096], tmp[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        clg_status st = clg_mkdirs(dir);
        if (st != CLG_OK) return st;
    }
    /* Unique per process and call, so concurrent writers never share a temp file. */
    static _Thread_local unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u.%ld", path, (long)getpid(), counter++, (long)ts.tv_nsec);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return clg_fail(CLG_STATUS_IO_ERROR, "cannot create '%s': %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return clg_fail(CLG_STATUS_IO_ERROR, "cannot write '%s': %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return clg_fail(CLG_STATUS_IO_ERROR, "cannot flush '%s': %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return clg_fail(CLG_STATUS_IO_ERROR, "cannot rename '%s' to '%s': %s", tmp, path,
                        strerror(e));
    }
    return CLG_OK;
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
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return CLG_OK;
}
