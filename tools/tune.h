/* `clgrad tune` (tools/tune.c). */
#ifndef CLGRAD_TOOLS_TUNE_H
#define CLGRAD_TOOLS_TUNE_H

/* argv[0] is the first argument after "tune". Returns the exit status: 0
 * success, 1 failure (tuner missing, no result, device errors), 2 bad flags. */
int tune_main(int argc, char **argv);

#endif
