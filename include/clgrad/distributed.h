/** \file
 * Data parallelism across processes and machines (MPI ranks).
 *
 *     // train.c, run as `mpirun -np 2 ./train` (or plain `./train`: one rank)
 *     clg_context *ctx = clg_context_new(NULL);
 *     if (!ctx) { fprintf(stderr, "%s\n", clg_last_error()); return 1; }
 *     ... build and compile the model as in clgrad/model.h ...
 *     clg_history *h = clg_model_fit(model, x_train, y_train, &fit);
 *     if (!h) { fprintf(stderr, "rank %d: %s\n", clg_dist_rank(), clg_last_error()); return 1; }
 *     if (clg_dist_rank() == 0)
 *         printf("trained on %d ranks\n", clg_dist_size());
 *
 * The same program runs alone or under `mpirun`/`mpiexec`; nothing else in it
 * changes. In a build with MPI (the CLGRAD_MPI CMake option, on where Open MPI
 * is installed), a process started by mpirun with several ranks is one rank of
 * a data-parallel job:
 *
 *  - each rank drives its own devices (its contexts, as without MPI);
 *  - every rank passes fit the same data and options (checked: sample count,
 *    batch size, epochs and seed must agree); training shards it by rank (each
 *    rank takes its share of every global batch), the gradients are summed
 *    across ranks (MPI_Allreduce on host buffers) before each update, and rank
 *    0's updated parameters go to every rank, so they stay the same bits on
 *    every rank even where devices of other vendors would round otherwise;
 *  - rank 0 alone writes checkpoints and progress output; the others stay quiet;
 *  - a fit, evaluate or predict that fails on one rank fails on every rank
 *    (the others' error says "another MPI rank failed"), so none is left
 *    waiting in a collective.
 *
 * The library starts MPI (MPI_Init_thread, MPI_THREAD_FUNNELED) the first time
 * it needs to know the rank, unless the program already did, and finalises at
 * exit only what it started. That first use is collective, as MPI's own calls
 * are: every rank must make it, and the library's MPI work happens on the
 * thread that made it. Under mpirun, clg_context_new sets POCL_MAX_PTHREAD_COUNT
 * (if unset) to the cores per local rank, so PoCL's threads do not
 * oversubscribe the CPU. CLGRAD_MPI=0 in the environment makes every process
 * run alone even under mpirun. docs/distributed.md shows how to launch, also as
 * root and in containers.
 *
 * Failures: a failed MPI call is returned by the library function that made it
 * (CLG_STATUS_IO_ERROR, with the MPI call and MPI's error string in
 * clg_last_error()). A rank whose process exits with a non-zero status aborts
 * the whole job (MPI_Abort) rather than leave the other ranks waiting for it
 * in a collective; mpirun then reports which rank failed. A failure to start
 * MPI is reported by Open MPI itself, which ends the job.
 *
 * Thread safety: the first call of either function may come from any thread
 * (it is done once); see above for which thread then does MPI work. */
#ifndef CLGRAD_DISTRIBUTED_H
#define CLGRAD_DISTRIBUTED_H

#include "clgrad/export.h"

CLG_BEGIN_DECLS

/** This process's rank in the MPI job, 0 .. clg_dist_size() - 1; 0 when not
 * one of several ranks (built without MPI, not launched by mpirun, a job of
 * one rank, or CLGRAD_MPI=0). Starts MPI on the first call, if needed. */
CLG_API int clg_dist_rank(void);

/** The number of ranks in the MPI job; 1 when not one of several ranks (as
 * for clg_dist_rank). Starts MPI on the first call, if needed. */
CLG_API int clg_dist_size(void);

CLG_END_DECLS

#endif
