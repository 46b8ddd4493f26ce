#include "fuzz_common.h"

#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clgrad/runtime.h"

static char g_dir[512];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_dir(void) {
    if (g_dir[0]) nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_dir(void) {
    if (g_dir[0]) return g_dir;
    /* TMPDIR first: scripts/fuzz.sh points it into a directory it removes, since
     * libFuzzer ends a run with _Exit, past the atexit handler below */
    struct stat sb;
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/clgrad-fuzz-XXXXXX", base);
    if (!mkdtemp(g_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    return g_dir;
}

const char *fuzz_path(const char *name) {
    static char paths[8][640];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", fuzz_dir(), name);
    return p;
}

void fuzz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror("fuzz: writing the input file");
        abort();
    }
}

clg_context *fuzz_context(int disk_cache) {
    static const int signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP};
    enum { NSIG_SAVED = sizeof signals / sizeof *signals };
    struct sigaction saved[NSIG_SAVED];
    for (int i = 0; i < NSIG_SAVED; i++) sigaction(signals[i], NULL, &saved[i]);
    clg_context_options o = clg_context_options_default();
    o.cache_dir = fuzz_path("cache");
    o.disk_cache = disk_cache;
    clg_context *ctx = clg_context_new(&o);
    if (!ctx) {
        fprintf(stderr, "fuzz: no OpenCL context: %s\n", clg_last_error());
        abort();
    }
    for (int i = 0; i < NSIG_SAVED; i++) sigaction(signals[i], &saved[i], NULL);
    return ctx;
}

void fuzz_check_failure(clg_status st, const char *api, const char *must_name) {
    FUZZ_CHECK(st != CLG_OK, "%s failed with CLG_OK", api);
    FUZZ_CHECK(clg_last_status() == st, "%s returned %s but recorded %s", api, clg_status_name(st),
               clg_status_name(clg_last_status()));
    const char *msg = clg_last_error();
    FUZZ_CHECK(msg && msg[0], "%s failed (%s) without a message", api, clg_status_name(st));
    FUZZ_CHECK(!must_name || strstr(msg, must_name), "%s failed without naming '%s': %s", api, must_name, msg);
}

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
    fprintf(stderr, "\n%s:%d: broken promise: %s\n  ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  last error: %s\n", clg_last_error());
    abort();
}
