/* Atomic file writes and directory creation (POSIX). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/file.h"

/* As clg_mkdirs; *created_len (if not NULL) is the length of the first prefix of
 * path that this call created (0 if none), so that the caller can make the new
 * entries durable. */
static clg_status make_dirs(const char *path, size_t *created_len) {
    char buf[4096];
    size_t n = strlen(path);
    if (created_len) *created_len = 0;
    if (n == 0 || n >= sizeof buf)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "directory path '%s' is empty or too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) == 0) {
            if (created_len && !*created_len) *created_len = i;
        } else if (errno != EEXIST) {
            return clg_fail(CLG_STATUS_IO_ERROR, "cannot create directory '%s': %s", buf,
                            strerror(errno));
        }
        buf[i] = saved;
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return clg_fail(CLG_STATUS_IO_ERROR, "'%s' is not a directory", path);
    return CLG_OK;
}

clg_status clg_mkdirs(const char *path) { return make_dirs(path, NULL); }

/* fsync of the directory named by the first len bytes of path ("." when len is
 * 0): 0, or the errno. A directory that cannot be opened (no read permission)
 * or a file system without directory fsync (EINVAL, EROFS) is passed over. */
static int sync_dir(const char *path, size_t len) {
    char d[4096];
    if (len == 0) snprintf(d, sizeof d, ".");
    else snprintf(d, sizeof d, "%.*s", (int)len, path);
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return 0;
    int e = fsync(fd) != 0 ? errno : 0;
    close(fd);
    return e == EINVAL || e == EROFS ? 0 : e;
}

/* The pid in name if it is base + ".tmp.<pid>.<n>.<ns>" (all decimal), else 0. */
static long temporary_pid(const char *name, const char *base, size_t base_len) {
    if (strncmp(name, base, base_len) || strncmp(name + base_len, ".tmp.", 5)) return 0;
    const char *p = name + base_len + 5;
    long pid = 0;
    for (int field = 0; field < 3; field++) {
        const char *start = p;
        while (*p >= '0' && *p <= '9') {
            if (field == 0) {
                if (pid > 99999999) return 0;
                pid = pid * 10 + (*p - '0');
            }
            p++;
        }
        if (p == start || p - start > 20 || *p != (field < 2 ? '.' : '\0')) return 0;
        if (field < 2) p++;
    }
    return pid;
}

/* Removes the temporaries beside path that writers which died before their
 * rename (SIGKILL, a crash, power loss) left: regular files named as begin
 * names them whose pid is no live process here and which nobody has written to
 * for CLG_ATOMIC_FILE_STALE_SECONDS (the age guards a live writer in another pid
 * namespace or on another host sharing the directory). Best effort. */
static void remove_stale_temporaries(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? path + (slash - dir) + 1 : path;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    size_t base_len = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    time_t now = time(NULL);
    for (struct dirent *de; (de = readdir(d));) {
        long pid = temporary_pid(de->d_name, base, base_len);
        if (pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        struct stat sb;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (now - sb.st_mtime < CLG_ATOMIC_FILE_STALE_SECONDS) continue;
        unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

clg_status clg_atomic_file_begin(clg_atomic_file *f, const char *path) {
    f->fd = -1;
    f->created_len = 0;
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "file path '%.80s...' is too long", path);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        clg_status st = make_dirs(dir, &f->created_len);
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
    /* The rename is durable only once the directory entry is on disk; so is each
     * directory that begin created, once its own entry in its parent is. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", f->path);
    char *slash = strrchr(dir, '/');
    size_t dir_len = !slash ? 0 : slash == dir ? 1 : (size_t)(slash - dir);
    int e = sync_dir(dir, dir_len);
    if (!e && f->created_len) {
        size_t p = f->created_len; /* the parent of the first directory created */
        while (p > 0 && dir[p - 1] != '/') p--;
        e = sync_dir(dir, p <= 1 ? p : p - 1);
        for (size_t i = f->created_len; !e && i < dir_len; i++)
            if (dir[i] == '/') e = sync_dir(dir, i);
    }
    if (e) {
        if (dir_len == 0) snprintf(dir, sizeof dir, ".");
        else dir[dir_len] = '\0';
        return clg_fail(CLG_STATUS_IO_ERROR, "'%s' was written but fsync of its directory '%s' failed: %s",
                        f->path, dir, strerror(e));
    }
    remove_stale_temporaries(f->path);
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
