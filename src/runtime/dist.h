/* Internal: the MPI plumbing of data parallelism across processes (ranks).
 *
 * Without MPI in the build, or outside an MPI job, every rank is alone: active
 * 0, rank 0, size 1, the collectives are no-ops that return CLG_OK (allgatherv
 * copies mine to all). Under MPI they work on a private duplicate of
 * MPI_COMM_WORLD whose errors are returned, not fatal; a failure is recorded
 * with clg_fail (CLG_STATUS_IO_ERROR, or OUT_OF_HOST_MEMORY) and names the MPI
 * call and its MPI_Error_string. `what` names the data for the message
 * ("gradients"); NULL is allowed.
 *
 * Like every MPI collective, each call must be made by every rank, in the same
 * order, from the thread that made the first clg_dist_active call (the process
 * asks for MPI_THREAD_FUNNELED). The first clg_dist_active call is collective
 * too (MPI_Init_thread, MPI_Comm_dup). */
#ifndef CLG_RUNTIME_DIST_H
#define CLG_RUNTIME_DIST_H

#include <stddef.h>

#include "clgrad/status.h"

/* 1 when this process is one of several MPI ranks: built with MPI, and launched
 * by mpirun/mpiexec (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK in the
 * environment) with world size > 1, or MPI already initialised by the program
 * with size > 1; and not disabled by clg_dist_set_disabled or CLGRAD_MPI=0 in
 * the environment. The first call initialises MPI (MPI_Init_thread,
 * MPI_THREAD_FUNNELED) if the program has not, and then registers an exit
 * handler that finalises it (only what we initialised). Thread-safe first call. */
int clg_dist_active(void);

/* Called by clg_context_new before the first OpenCL call: under mpirun with
 * several local ranks (OMPI_COMM_WORLD_LOCAL_SIZE) and POCL_MAX_PTHREAD_COUNT
 * unset, sets it to max(1, online cores / local ranks), and no more than the
 * cores this process may run on, so PoCL's threads do not oversubscribe the
 * cores. No-op otherwise. */
void clg_dist_prepare_env(void);

/* In place, MPI_SUM; n may exceed INT_MAX (sent in chunks). */
clg_status clg_dist_allreduce_sum_f64(double *buf, size_t n, const char *what);
clg_status clg_dist_allreduce_sum_f32(float *buf, size_t n, const char *what);
/* In place, MPI_MAX. */
clg_status clg_dist_allreduce_max_f64(double *buf, size_t n, const char *what);
/* bytes of buf from rank root to every rank. */
clg_status clg_dist_bcast(void *buf, size_t bytes, int root, const char *what);
/* Every rank contributes mine[0, counts[rank]); all[] receives the concatenation
 * in rank order (counts[] known on every rank, one entry per rank). mine may be
 * all + (its offset) itself. */
clg_status clg_dist_allgatherv_f32(const float *mine, const size_t *counts, float *all,
                                   const char *what);
clg_status clg_dist_barrier(const char *what);

/* Tests: 1 makes clg_dist_active() return 0 (single-process behaviour inside
 * an MPI job), 0 restores. */
void clg_dist_set_disabled(int disabled);

#endif
