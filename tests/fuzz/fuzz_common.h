/* Shared by the libFuzzer targets (tests/fuzz, scripts/fuzz.sh): a private
 * scratch directory, writing an input to a file there, and the check that turns
 * a broken library promise into a finding.
 *
 * The library must never abort on bad input; a harness aborts (FUZZ_CHECK) only
 * when the library broke a documented promise on an input it accepted or
 * refused, so that libFuzzer records the input as a finding. */
#ifndef CLGRAD_FUZZ_COMMON_H
#define CLGRAD_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "clgrad/status.h"

/* libFuzzer's entry points, declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A directory of this process's own, made on first use in $TMPDIR (else in
 * /dev/shm when it exists, so that writes and fsyncs cost little, else /tmp)
 * and removed at a normal exit. */
const char *fuzz_dir(void);

/* fuzz_dir()/name, in a static buffer per call site's choice of name. */
const char *fuzz_path(const char *name);

/* Writes n bytes to path (replacing it); aborts if that fails, since every
 * input after it would test nothing. */
void fuzz_write(const char *path, const void *data, size_t n);

/* Creates a context for targets that need one, from LLVMFuzzerInitialize; with
 * disk_cache, its cache directory is this process's own (PoCL serialises a
 * program binary for the cache in one 256 MiB buffer, which the targets' cap on
 * one allocation would report, so targets that build kernels go without). The
 * OpenCL stack (PoCL's LLVM)
 * installs crash handlers that would hide a crash from libFuzzer, which leaves
 * handlers it finds in place: the signal dispositions from before are put back.
 * Aborts if there is no device. */
struct clg_context *fuzz_context(int disk_cache);

/* A refusal must say why: a status other than CLG_OK, the same status in
 * clg_last_status(), and a message that names `must_name` (the file's path,
 * say) unless that is NULL. Call clg_clear_error() before the call checked. */
void fuzz_check_failure(clg_status st, const char *api, const char *must_name);

#define FUZZ_CHECK(cond, ...) \
    do { \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } while (0)

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

#endif
