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

#endif
