/* The examples' command-line conventions, in one place: "-h" / "--help",
 * switches without a value, and flags with one ("--flag N" or "--flag=N");
 * whole numbers in a range; failures reported with clg_last_error(). */
#ifndef CLGRAD_EXAMPLES_CLI_H
#define CLGRAD_EXAMPLES_CLI_H

#include <stddef.h>

/* Reads the option at argv[*i] (advancing *i past a separate value): returns
 * CLI_FLAG with *flag (one of valued[] or switches[]) and *value (NULL for a
 * switch), CLI_HELP for -h / --help, or CLI_BAD after printing why. */
enum { CLI_FLAG = 0, CLI_HELP = 1, CLI_BAD = 2 };
int cli_next(const char *prog, int argc, char **argv, int *i, const char *const *valued, size_t nvalued,
             const char *const *switches, size_t nswitches, const char **flag, const char **value);

/* Parses a whole decimal number in [lo, hi] into *out; 0 after printing why. */
int cli_int(const char *prog, const char *flag, const char *text, long long lo, long long hi, long long *out);

/* Prints "prog: what: <clg_last_error()> (<status>)" and returns 1, the
 * examples' exit status for an error. */
int cli_fail(const char *prog, const char *what);

/* A context on the best device (or CLGRAD_DEVICE's), reporting the device
 * chosen on stdout; NULL after printing why. */
struct clg_context;
struct clg_context *cli_context(const char *prog);

/* Prints "prog: out of host memory (what)" and returns 1. */
int cli_out_of_memory(const char *prog, const char *what);

/* splitmix64: the examples' seeded host random numbers (shuffles, noise,
 * exploration), the same on every machine. */
#include <stdint.h>
uint64_t cli_rng_next(uint64_t *state);
/* uniform in (0, 1), never 0 (safe for log) */
double cli_rng_open01(uint64_t *state);

/* Fashion-MNIST's split "train" or "t10k" from Debian's dataset-fashion-mnist:
 * x [n, 28, 28] as pixels / 255, y [n]; the caller frees both. 0 after
 * printing why (naming the package when the files are missing). */
int cli_load_fashion_mnist(const char *prog, const char *split, float **x, int32_t **y, int64_t *n);

/* Wall-clock seconds (UTC), for the examples' total times. */
double cli_now(void);

/* Prints "Time per epoch: 12.3 s 11.9 s ...  (mean, total)" for a fit's
 * history and returns the total seconds. */
struct clg_history;
double cli_print_epoch_times(const struct clg_history *h);

#endif
