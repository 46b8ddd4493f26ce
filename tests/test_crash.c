/* Crash consistency of saving (issue 10). A helper process (helpers/
 * checkpoint_writer.c) saves checkpoints to one path in a tight loop, reporting
 * each save that returned; the test kills it with SIGKILL after a random delay,
 * then checks the directory: the checkpoint holds exactly one complete version
 * (the last one reported, or the one in flight whose rename had happened), loads
 * with the library's own loaders and matches that version in every value and in
 * the metadata; nothing but the checkpoints and at most one temporary per killed
 * writer is there. The next writer starts from the version found, and so on, 200
 * times: every 8th kill hits clg_model_save of a compiled model (checked through
 * clg_model_load), the others clg_safetensors_writer_save from host memory,
 * whose process needs no OpenCL context and so starts in milliseconds. A second
 * test plants stray temporaries beside a checkpoint: loading ignores them, the
 * next save succeeds and removes the stale ones of dead writers, and nothing
 * else is touched.
 *
 * The delays come from a seeded generator: the seed is printed at the start and
 * in every failure; CLGRAD_CRASH_SEED=<n> repeats the same delays (the kill
 * points still depend on the machine's timing), CLGRAD_CRASH_KILLS=<n> changes
 * the count. The helper is spawned (posix_spawn), never forked from this process
 * after its OpenCL context exists. */
#include "fixture.h"
#include "clgrad/safetensors.h"
#include "common/file.h"
#include "helpers/checkpoint_content.h"
#include "nn/model_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum { DEFAULT_KILLS = 200, MODEL_EVERY = 8 };
/* Delays before the kill, from the writer's "set up" report: a raw save takes a
 * few ms here (most of it fsync), a model save a little more, so kills land in
 * every phase of the first few saves: writing, fsync, rename, directory fsync. */
#define RAW_MAX_DELAY_US 20000
#define MODEL_MAX_DELAY_US 40000

static unsigned g_seed;
static int g_kill = -1, g_kills;
static uint64_t g_rng;

/* fail_msg with the seed and the kill that failed. */
static void failf(const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_kill < 0) fail_msg("crash test, before any kill: %s", msg);
    fail_msg("crash test, seed %u (CLGRAD_CRASH_SEED=%u repeats the delays), kill %d of %d: %s", g_seed, g_seed,
             g_kill + 1, g_kills, msg);
}

static uint64_t next_random(void) { /* splitmix64 */
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int env_int(const char *name, int fallback) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : fallback;
}

static const char *writer_path(void) {
    const char *p = getenv("CLGRAD_TEST_CHECKPOINT_WRITER");
    return p && *p ? p : CHECKPOINT_WRITER;
}

/* --- the writer process -------------------------------------------------------------------- */

/* Starts checkpoint_writer (count < 0: until killed); returns the read end of its
 * report pipe. */
static int spawn_writer(const char *mode, const char *path, int first, int count, pid_t *pid) {
    int fds[2];
    if (pipe(fds) != 0) failf("pipe: %s", strerror(errno));
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    char first_s[16], count_s[16];
    snprintf(first_s, sizeof first_s, "%d", first);
    snprintf(count_s, sizeof count_s, "%d", count);
    char *argv[] = {(char *)writer_path(), (char *)mode, (char *)path, first_s, count >= 0 ? count_s : NULL, NULL};
    int rc = posix_spawn(pid, writer_path(), &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) failf("cannot start '%s': %s", writer_path(), strerror(rc));
    return fds[0];
}

/* 1 with the next report in *v, 0 at end of file (the writer is gone). */
static int read_report(int fd, int32_t *v) {
    char *p = (char *)v;
    size_t got = 0;
    while (got < sizeof *v) {
        ssize_t r = read(fd, p + got, sizeof *v - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) failf("reading the writer's reports: %s", strerror(errno));
        if (r == 0) {
            if (got) failf("a report cut in the middle (%zu bytes)", got);
            return 0;
        }
        got += (size_t)r;
    }
    return 1;
}

static int wait_for(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) failf("waitpid: %s", strerror(errno));
    return status;
}

static void describe_status(int status, char *buf, size_t n) {
    if (WIFEXITED(status)) snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) snprintf(buf, n, "died of signal %d", WTERMSIG(status));
    else snprintf(buf, n, "ended with wait status %#x", status);
}

/* Runs the writer for count saves from first and expects it to finish cleanly. */
static void run_writer(const char *mode, const char *path, int first, int count) {
    pid_t pid;
    int fd = spawn_writer(mode, path, first, count, &pid);
    int32_t v;
    int expect = -1;
    while (read_report(fd, &v)) {
        if (v != expect) failf("%s writer reported %d, expected %d", mode, (int)v, expect);
        expect = expect < 0 ? first : expect + 1;
    }
    close(fd);
    int status = wait_for(pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || expect != first + count) {
        char how[64];
        describe_status(status, how, sizeof how);
        failf("%s writer (%d saves from %d) %s after %d saves; its stderr says why", mode, count, first, how,
              expect - first);
    }
}

/* --- checking a checkpoint ------------------------------------------------------------------- */

static int parse_iteration(const char *s) {
    char *end;
    long v = s ? strtol(s, &end, 10) : -1;
    return s && *s && !*end && v >= 0 && v < (1L << 30) ? (int)v : -1;
}

/* The version a raw checkpoint holds, after checking that it is complete and
 * exactly that version. */
static int verify_raw(const char *path) {
    clg_safetensors *f = NULL;
    if (clg_safetensors_open(path, &f) != CLG_OK)
        failf("the checkpoint '%s' does not load: %s", path, clg_last_error());
    int k = parse_iteration(clg_safetensors_metadata_get(f, "iteration"));
    if (k < 0) failf("'%s': metadata \"iteration\" is missing or bad", path);
    char note[8] = {0};
    memset(note, 'a' + k % 7, (size_t)(k % 7 + 1));
    const char *got_note = clg_safetensors_metadata_get(f, "note");
    if (!got_note || strcmp(got_note, note))
        failf("'%s' (iteration %d): metadata \"note\" is '%s'", path, k, got_note ? got_note : "(absent)");
    if (clg_safetensors_count(f) != 3)
        failf("'%s' (iteration %d) holds %zu tensors", path, k, clg_safetensors_count(f));
    clg_safetensors_info ki, bi, si;
    if (clg_safetensors_info_get(f, "layer.kernel", &ki) != CLG_OK ||
        clg_safetensors_info_get(f, "layer.bias", &bi) != CLG_OK || clg_safetensors_info_get(f, "step", &si) != CLG_OK)
        failf("'%s' (iteration %d): %s", path, k, clg_last_error());
    if (ki.dtype != CLG_SAFETENSORS_F32 || ki.ndim != 2 || ki.shape[0] != raw_rows(k) || ki.shape[1] != RAW_COLS ||
        bi.dtype != CLG_SAFETENSORS_I64 || bi.numel != RAW_BIAS || si.dtype != CLG_SAFETENSORS_I32 || si.numel != 1)
        failf("'%s' (iteration %d): a tensor has the wrong dtype or shape", path, k);
    struct stat sb;
    uint64_t end = ki.file_offset + ki.nbytes;
    if (bi.file_offset + bi.nbytes > end) end = bi.file_offset + bi.nbytes;
    if (si.file_offset + si.nbytes > end) end = si.file_offset + si.nbytes;
    if (stat(path, &sb) != 0 || (uint64_t)sb.st_size != end)
        failf("'%s' (iteration %d) is %lld bytes, its header says %llu", path, k, (long long)sb.st_size,
              (unsigned long long)end);
    float *kernel = malloc(ki.nbytes);
    int64_t bias[RAW_BIAS];
    int32_t step = -1;
    assert_non_null(kernel);
    if (clg_safetensors_read(f, "layer.kernel", kernel, ki.nbytes) != CLG_OK ||
        clg_safetensors_read(f, "layer.bias", bias, sizeof bias) != CLG_OK ||
        clg_safetensors_read(f, "step", &step, sizeof step) != CLG_OK)
        failf("'%s' (iteration %d): %s", path, k, clg_last_error());
    for (uint64_t i = 0; i < ki.numel; i++)
        if (kernel[i] != ckpt_value(k, 0, (int64_t)i))
            failf("'%s' (iteration %d): layer.kernel[%llu] is %g, not %g: a torn or mixed file", path, k,
                  (unsigned long long)i, (double)kernel[i], (double)ckpt_value(k, 0, (int64_t)i));
    for (int i = 0; i < RAW_BIAS; i++)
        if (bias[i] != (int64_t)ckpt_value(k, 1, i)) failf("'%s' (iteration %d): layer.bias[%d] is wrong", path, k, i);
    if (step != k) failf("'%s' (iteration %d): step is %d", path, k, (int)step);
    free(kernel);
    clg_safetensors_free(f);
    return k;
}

/* The same for a whole-model checkpoint, through clg_model_load. */
static int verify_model(clg_context *ctx, const char *path) {
    clg_model *m = clg_model_load(ctx, path);
    if (!m) failf("the checkpoint '%s' does not load: %s", path, clg_last_error());
    int k = m->epochs_done;
    int nw = clg_model_weight_count(m, 0);
    if (nw != 4) failf("'%s' (iteration %d) has %d weights", path, k, nw);
    for (int j = 0; j < nw; j++) {
        clg_tensor *t = clg_model_weight(m, 0, j);
        assert_non_null(t);
        int64_t n = clg_tensor_numel(t);
        float *v = malloc((size_t)n * sizeof *v);
        assert_non_null(v);
        assert_int_equal(clg_tensor_to_host(t, v, (size_t)n * sizeof *v), CLG_OK);
        for (int64_t i = 0; i < n; i++)
            if (v[i] != ckpt_value(k, j, i))
                failf("'%s' (epochs_done %d): weight %d [%lld] is %g, not %g: a torn or mixed file", path, k, j,
                      (long long)i, (double)v[i], (double)ckpt_value(k, j, i));
        free(v);
    }
    clg_model_free(m);
    return k;
}

/* --- the directory --------------------------------------------------------------------------- */

/* The pid of a temporary of base ("<base>.tmp.<pid>.<n>.<ns>"), else 0. */
static long temporary_of(const char *name, const char *base) {
    size_t n = strlen(base);
    if (strncmp(name, base, n) || strncmp(name + n, ".tmp.", 5)) return 0;
    const char *p = name + n + 5;
    char *end;
    long pid = strtol(p, &end, 10);
    if (end == p || *end != '.' || pid <= 0) return 0;
    for (int field = 0; field < 2; field++) {
        p = end + 1;
        if (*p < '0' || *p > '9') return 0;
        strtoull(p, &end, 10);
        if (*end != (field == 0 ? '.' : '\0')) return 0;
    }
    return pid;
}

static const char *const BASES[2] = {"raw.safetensors", "model.safetensors"};

typedef struct dir_state {
    int has[2];      /* BASES[i] exists */
    int temps;       /* temporaries of either */
    int temps_of;    /* those whose pid is the given one */
} dir_state;

/* Lists dir, failing on anything but the two checkpoints and their temporaries. */
static dir_state scan_dir(const char *dir, long pid) {
    dir_state s = {{0, 0}, 0, 0};
    DIR *d = opendir(dir);
    if (!d) failf("opendir '%s': %s", dir, strerror(errno));
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        int known = 0;
        for (int i = 0; i < 2 && !known; i++) {
            if (!strcmp(de->d_name, BASES[i])) s.has[i] = known = 1;
            long p = temporary_of(de->d_name, BASES[i]);
            if (p) {
                known = 1;
                s.temps++;
                s.temps_of += p == pid;
            }
        }
        if (!known) {
            closedir(d);
            failf("unexpected entry '%s' in '%s' (a half-renamed or misnamed file)", de->d_name, dir);
        }
    }
    closedir(d);
    return s;
}

/* Sets the modification time of every temporary in dir back by twice the age
 * at which a dead writer's temporary counts as stale. */
static void age_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct timespec t[2] = {{time(NULL) - 2 * CLG_ATOMIC_FILE_STALE_SECONDS, 0},
                            {time(NULL) - 2 * CLG_ATOMIC_FILE_STALE_SECONDS, 0}};
    for (struct dirent *de; (de = readdir(d));)
        if (strstr(de->d_name, ".tmp.")) assert_int_equal(utimensat(dirfd(d), de->d_name, t, AT_SYMLINK_NOFOLLOW), 0);
    closedir(d);
}

/* --- the test -------------------------------------------------------------------------------- */

static void test_sigkill_while_saving(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    g_seed = (unsigned)env_int("CLGRAD_CRASH_SEED", (int)((unsigned)time(NULL) ^ ((unsigned)getpid() << 16)));
    g_rng = g_seed;
    g_kills = env_int("CLGRAD_CRASH_KILLS", DEFAULT_KILLS);
    print_message("crash test: seed %u, %d kills (CLGRAD_CRASH_SEED, CLGRAD_CRASH_KILLS override)\n", g_seed, g_kills);
    char *dir = clg_test_tempdir("crash");
    assert_non_null(dir);
    char *paths[2] = {clg_test_path_in(dir, BASES[0]), clg_test_path_in(dir, BASES[1])};

    /* version 0 of each, saved cleanly; the model writer also warms the kernel cache */
    g_kill = -1;
    run_writer("raw", paths[0], 0, 1);
    run_writer("model", paths[1], 0, 1);
    int known[2] = {verify_raw(paths[0]), verify_model(ctx, paths[1])};
    assert_int_equal(known[0], 0), assert_int_equal(known[1], 0);

    int left_temp = 0, renamed_unreported = 0, saves = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (g_kill = 0; g_kill < g_kills; g_kill++) {
        int which = g_kill % MODEL_EVERY == MODEL_EVERY - 1;
        const char *mode = which ? "model" : "raw";
        int first = known[which] + 1;
        pid_t pid;
        int fd = spawn_writer(mode, paths[which], first, -1, &pid);
        int32_t v;
        if (!read_report(fd, &v) || v != -1) {
            char how[64];
            describe_status(wait_for(pid), how, sizeof how);
            failf("the %s writer %s before it was set up", mode, how);
        }
        long delay_us = (long)(next_random() % (uint64_t)(which ? MODEL_MAX_DELAY_US : RAW_MAX_DELAY_US));
        struct timespec d = {delay_us / 1000000, (delay_us % 1000000) * 1000};
        while (nanosleep(&d, &d) != 0 && errno == EINTR) {}
        kill(pid, SIGKILL);
        int status = wait_for(pid);
        int last = -1, expect = first;
        while (read_report(fd, &v)) {
            if (v != expect) failf("the %s writer reported %d, expected %d", mode, (int)v, expect);
            last = v, expect++, saves++;
        }
        close(fd);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            char how[64];
            describe_status(status, how, sizeof how);
            failf("the %s writer %s before the kill; its stderr says why", mode, how);
        }

        /* what the directory may hold now: the last reported version, or the
         * next if its rename happened before the kill; at most one temporary
         * from this writer */
        int committed = last >= 0 ? last : known[which];
        dir_state s = scan_dir(dir, (long)pid);
        for (int i = 0; i < 2; i++)
            if (!s.has[i]) failf("'%s' is gone although version %d was saved", paths[i], known[i]);
        if (s.temps_of > 1) failf("the killed writer left %d temporaries", s.temps_of);
        if (s.temps > g_kill + 1) failf("%d temporaries after %d kills", s.temps, g_kill + 1);
        left_temp += s.temps_of;
        int k = which ? verify_model(ctx, paths[which]) : verify_raw(paths[which]);
        if (k != committed && k != committed + 1)
            failf("'%s' holds version %d; the writer had saved up to %d (expected that or the one after)",
                  paths[which], k, committed);
        renamed_unreported += k == committed + 1;
        known[which] = k;
        int other = !which;
        if ((other ? verify_model(ctx, paths[other]) : verify_raw(paths[other])) != known[other])
            failf("'%s' changed although nobody wrote it", paths[other]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    g_kill = g_kills - 1;
    print_message("crash test: %d kills in %.1f s: %d saves completed, %d kills left a temporary, %d found the "
                  "unreported save already renamed\n",
                  g_kills, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), saves, left_temp,
                  renamed_unreported);

    /* once the strays are old enough, the next save of each path removes them */
    age_temporaries(dir);
    run_writer("raw", paths[0], known[0] + 1, 1);
    run_writer("model", paths[1], known[1] + 1, 1);
    dir_state s = scan_dir(dir, 0);
    if (s.temps) failf("%d stale temporaries survived the next saves", s.temps);
    assert_int_equal(verify_raw(paths[0]), known[0] + 1);
    assert_int_equal(verify_model(ctx, paths[1]), known[1] + 1);
    free(paths[0]), free(paths[1]);
    clg_test_rmtree(dir);
    free(dir);
}

/* --- stray temporaries ---------------------------------------------------------------------- */

/* A pid that no process has now (a child that has exited and been reaped). */
static pid_t dead_pid(void) {
    pid_t pid = fork(); /* the child only calls _exit: safe after OpenCL set-up */
    if (pid == 0) _exit(0);
    assert_true(pid > 0);
    wait_for(pid);
    return pid;
}

static void plant(const char *dir, const char *name, const void *data, size_t n, int old) {
    char *p = clg_test_path_in(dir, name);
    clg_test_write_file(p, data, n);
    if (old) {
        struct timespec t[2] = {{time(NULL) - 2 * CLG_ATOMIC_FILE_STALE_SECONDS, 0},
                                {time(NULL) - 2 * CLG_ATOMIC_FILE_STALE_SECONDS, 0}};
        assert_int_equal(utimensat(AT_FDCWD, p, t, AT_SYMLINK_NOFOLLOW), 0);
    }
    free(p);
}

static int exists_in(const char *dir, const char *name) {
    char *p = clg_test_path_in(dir, name);
    struct stat sb;
    int r = lstat(p, &sb) == 0;
    free(p);
    return r;
}

static void test_stray_temporaries(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    g_kill = -1, g_kills = 0;
    char *dir = clg_test_tempdir("crash-stray");
    assert_non_null(dir);
    char *raw = clg_test_path_in(dir, "raw.safetensors"), *model = clg_test_path_in(dir, "model.safetensors");
    run_writer("raw", raw, 1, 1);
    run_writer("model", model, 1, 1);

    /* what killed writers leave: a torn copy of the checkpoint, garbage */
    char *data;
    size_t n;
    assert_int_equal(clg_read_file(raw, 1u << 30, &data, &n), CLG_OK);
    long dead = (long)dead_pid();
    char name[9][128];
    snprintf(name[0], sizeof name[0], "raw.safetensors.tmp.%ld.0.1", dead);   /* stale: removed */
    snprintf(name[1], sizeof name[1], "raw.safetensors.tmp.%ld.1.2", dead);   /* dead but fresh: kept */
    snprintf(name[2], sizeof name[2], "raw.safetensors.tmp.%ld.0.3", (long)getpid()); /* alive: kept */
    snprintf(name[3], sizeof name[3], "raw.safetensors.tmp.1.0.4");            /* init lives: kept */
    snprintf(name[4], sizeof name[4], "raw.safetensors.tmp.%ld.0", dead);     /* not the pattern: kept */
    snprintf(name[5], sizeof name[5], "raw.safetensors.tmp.%ld.0.5.x", dead); /* not the pattern: kept */
    snprintf(name[6], sizeof name[6], "other.safetensors.tmp.%ld.0.6", dead); /* another file's: kept */
    snprintf(name[7], sizeof name[7], "raw.safetensors.tmp.%ld.0.7", dead);   /* a directory: kept */
    snprintf(name[8], sizeof name[8], "model.safetensors.tmp.%ld.0.8", dead); /* stale: removed */
    for (int i = 0; i < 9; i++)
        if (i != 7) plant(dir, name[i], data, i == 8 ? 100 : n / 2, i != 1);
    char *sub = clg_test_path_in(dir, name[7]);
    assert_int_equal(mkdir(sub, 0755), 0);
    struct timespec t[2] = {{time(NULL) - 2 * CLG_ATOMIC_FILE_STALE_SECONDS, 0},
                            {time(NULL) - 2 * CLG_ATOMIC_FILE_STALE_SECONDS, 0}};
    assert_int_equal(utimensat(AT_FDCWD, sub, t, 0), 0);
    free(sub);
    free(data);

    /* loading never looks at them */
    assert_int_equal(verify_raw(raw), 1);
    assert_int_equal(verify_model(ctx, model), 1);
    /* the next saves succeed and clear only the stale temporaries of their own path */
    run_writer("raw", raw, 2, 1);
    run_writer("model", model, 2, 1);
    assert_int_equal(verify_raw(raw), 2);
    assert_int_equal(verify_model(ctx, model), 2);
    for (int i = 0; i < 9; i++)
        if (exists_in(dir, name[i]) != (i != 0 && i != 8))
            fail_msg("'%s' should %s", name[i], i != 0 && i != 8 ? "still be there" : "have been removed");

    /* a save into directories that do not exist yet creates them */
    char *deep = clg_test_path_in(dir, "a/b/c/raw.safetensors");
    run_writer("raw", deep, 3, 1);
    assert_int_equal(verify_raw(deep), 3);
    free(deep);
    free(raw), free(model);
    clg_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stray_temporaries),
        cmocka_unit_test(test_sigkill_while_saving),
    };
    return CLG_RUN_GROUP(tests);
}
