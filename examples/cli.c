#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clgrad/clgrad.h>

int cli_next(const char *prog, int argc, char **argv, int *i, const char *const *valued, size_t nvalued,
             const char *const *switches, size_t nswitches, const char **flag, const char **value) {
    const char *a = argv[*i];
    *flag = NULL, *value = NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) return CLI_HELP;
    for (size_t k = 0; k < nswitches; k++)
        if (!strcmp(a, switches[k])) {
            *flag = switches[k];
            return CLI_FLAG;
        }
    for (size_t k = 0; k < nvalued; k++) {
        size_t n = strlen(valued[k]);
        if (!strcmp(a, valued[k])) {
            if (*i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", prog, valued[k]);
                return CLI_BAD;
            }
            *flag = valued[k], *value = argv[++*i];
            return CLI_FLAG;
        }
        if (!strncmp(a, valued[k], n) && a[n] == '=') {
            *flag = valued[k], *value = a + n + 1;
            return CLI_FLAG;
        }
    }
    fprintf(stderr, "%s: unknown option '%s' (try -h)\n", prog, a);
    return CLI_BAD;
}

int cli_int(const char *prog, const char *flag, const char *text, long long lo, long long hi, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "%s: %s needs a whole number in [%lld, %lld], got '%s'\n", prog, flag, lo, hi,
                text ? text : "");
        return 0;
    }
    *out = v;
    return 1;
}

int cli_fail(const char *prog, const char *what) {
    fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, clg_last_error(), clg_status_name(clg_last_status()));
    return 1;
}
