/* The MPI plumbing of data parallelism across ranks (see runtime/dist.h), and the
 * public rank and size (clgrad/distributed.h). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT, on_exit */
#include "runtime/dist.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clgrad/distributed.h"
#include "common/error.h"

#if CLGRAD_HAVE_MPI
#include <mpi.h>
#endif

/* The most elements one MPI call moves: MPI counts are int. */
#define DIST_MAX_COUNT ((size_t)INT_MAX)

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static atomic_int disabled;
static int multi;      /* several ranks, MPI ready (set once, under init_once) */
static int my_rank;
static int world_size = 1;

static long env_long(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) return -1;
    char *end;
    long x = strtol(v, &end, 10);
    return *end ? -1 : x;
}

static int env_off(const char *name) {
    const char *v = getenv(name);
    return v && (strcmp(v, "0") == 0 || strcmp(v, "off") == 0 || strcmp(v, "false") == 0 ||
                 strcmp(v, "no") == 0);
}

#if CLGRAD_HAVE_MPI
/* A private duplicate of MPI_COMM_WORLD: our collectives never match the
 * program's own messages, and its errors are returned rather than fatal. */
static MPI_Comm comm = MPI_COMM_NULL;

/* Launched by mpirun/mpiexec (Open MPI, or a PMI/PMIx launcher) with several ranks. */
static int launched_with_several_ranks(void) {
    long n = env_long("OMPI_COMM_WORLD_SIZE");
    if (n < 0) n = env_long("PMI_SIZE");
    if (n >= 0) return n > 1;
    return getenv("PMIX_RANK") != NULL; /* size unknown until MPI is up */
}

static clg_status mpi_error(int rc, const char *call, const char *fmt, ...) CLG_PRINTF(3, 4);
static clg_status mpi_error(int rc, const char *call, const char *fmt, ...) {
    char purpose[256], text[MPI_MAX_ERROR_STRING];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(purpose, sizeof purpose, fmt, ap);
    va_end(ap);
    int len = 0, cls = MPI_ERR_OTHER;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", rc);
    MPI_Error_class(rc, &cls);
    return clg_fail(cls == MPI_ERR_NO_MEM ? CLG_STATUS_OUT_OF_HOST_MEMORY : CLG_STATUS_IO_ERROR,
                    "%s across %d MPI ranks: %s failed: %s", purpose, world_size, call, text);
}

/* Finalises what dist_init initialised. A process that exits with a failure
 * status aborts the job instead: MPI_Finalize waits for every rank, and the
 * others may be waiting in a collective for this one, which would hang the job
 * rather than end it. */
static void finalize_mpi(int status) {
    int done = 0;
    if (MPI_Finalized(&done) != MPI_SUCCESS || done) return;
    if (status != 0) MPI_Abort(MPI_COMM_WORLD, status);
    if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
    MPI_Finalize();
}
#if defined(__GLIBC__)
static void finalize_on_exit(int status, void *arg) {
    (void)arg;
    finalize_mpi(status);
}
#else
static void finalize_at_exit(void) { finalize_mpi(0); }
#endif
#endif /* CLGRAD_HAVE_MPI */

static void dist_init(void) {
    if (env_off("CLGRAD_MPI")) return;
#if CLGRAD_HAVE_MPI
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (finalised) return;
    if (!initialised) {
        if (!launched_with_several_ranks()) return;
        int provided = 0, rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            mpi_error(rc, "MPI_Init_thread", "starting MPI");
            return;
        }
#if defined(__GLIBC__)
        on_exit(finalize_on_exit, NULL);
#else
        atexit(finalize_at_exit);
#endif
    }
    int size = 1, rank = 0, rc = MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rc != MPI_SUCCESS) {
        mpi_error(rc, "MPI_Comm_size", "starting MPI");
        return;
    }
    if (size <= 1) return;
    rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    if (rc != MPI_SUCCESS) {
        mpi_error(rc, "MPI_Comm_dup", "starting MPI");
        return;
    }
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    my_rank = rank;
    world_size = size;
    multi = 1;
#endif
}

int clg_dist_active(void) {
    if (atomic_load(&disabled)) return 0;
    pthread_once(&init_once, dist_init);
    return multi;
}

void clg_dist_set_disabled(int off) { atomic_store(&disabled, off != 0); }

int clg_dist_rank(void) { return clg_dist_active() ? my_rank : 0; }
int clg_dist_size(void) { return clg_dist_active() ? world_size : 1; }

static void prepare_env_once(void) {
    long local = env_long("OMPI_COMM_WORLD_LOCAL_SIZE");
    const char *set = getenv("POCL_MAX_PTHREAD_COUNT");
    if (local <= 1 || (set && *set)) return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long threads = cores / local;
#if defined(CPU_COUNT)
    /* mpirun binds each rank to one core when there are at most 2 ranks:
     * more threads than the cores a rank may use only take turns. */
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) == 0 && CPU_COUNT(&mask) < threads)
        threads = CPU_COUNT(&mask);
#endif
    if (threads < 1) threads = 1;
    char text[32];
    snprintf(text, sizeof text, "%ld", threads);
    setenv("POCL_MAX_PTHREAD_COUNT", text, 0);
}

void clg_dist_prepare_env(void) { pthread_once(&env_once, prepare_env_once); }

static const char *name_of(const char *what) { return what && *what ? what : "data"; }

#if CLGRAD_HAVE_MPI
static clg_status check_not_finalised(const char *purpose, const char *what) {
    int done = 0;
    MPI_Finalized(&done);
    if (done)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s %s across MPI ranks: MPI was already finalised",
                        purpose, name_of(what));
    return CLG_OK;
}

static clg_status allreduce(void *buf, size_t n, size_t elem, MPI_Datatype type, MPI_Op op,
                            const char *purpose, const char *what) {
    clg_status st = check_not_finalised(purpose, what);
    for (size_t done = 0; st == CLG_OK && done < n;) {
        size_t c = n - done < DIST_MAX_COUNT ? n - done : DIST_MAX_COUNT;
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + done * elem, (int)c, type, op, comm);
        if (rc != MPI_SUCCESS)
            return mpi_error(rc, "MPI_Allreduce", "%s %s (%zu values)", purpose, name_of(what), n);
        done += c;
    }
    return st;
}

static clg_status bcast_bytes(void *buf, size_t bytes, int root, const char *purpose, const char *what) {
    for (size_t done = 0; done < bytes;) {
        size_t c = bytes - done < DIST_MAX_COUNT ? bytes - done : DIST_MAX_COUNT;
        int rc = MPI_Bcast((char *)buf + done, (int)c, MPI_BYTE, root, comm);
        if (rc != MPI_SUCCESS)
            return mpi_error(rc, "MPI_Bcast", "%s %s (%zu bytes from rank %d)", purpose, name_of(what),
                             bytes, root);
        done += c;
    }
    return CLG_OK;
}
#endif

static clg_status reduce_args(const void *buf, size_t n, const char *purpose, const char *what) {
    if (!buf && n)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s %s across MPI ranks: NULL buffer for %zu values",
                        purpose, name_of(what), n);
    return CLG_OK;
}

clg_status clg_dist_allreduce_sum_f64(double *buf, size_t n, const char *what) {
    clg_status st = reduce_args(buf, n, "summing", what);
    if (st != CLG_OK || !n || !clg_dist_active()) return st;
#if CLGRAD_HAVE_MPI
    st = allreduce(buf, n, sizeof *buf, MPI_DOUBLE, MPI_SUM, "summing", what);
#endif
    return st;
}

clg_status clg_dist_allreduce_sum_f32(float *buf, size_t n, const char *what) {
    clg_status st = reduce_args(buf, n, "summing", what);
    if (st != CLG_OK || !n || !clg_dist_active()) return st;
#if CLGRAD_HAVE_MPI
    st = allreduce(buf, n, sizeof *buf, MPI_FLOAT, MPI_SUM, "summing", what);
#endif
    return st;
}

clg_status clg_dist_allreduce_max_f64(double *buf, size_t n, const char *what) {
    clg_status st = reduce_args(buf, n, "taking the maximum of", what);
    if (st != CLG_OK || !n || !clg_dist_active()) return st;
#if CLGRAD_HAVE_MPI
    st = allreduce(buf, n, sizeof *buf, MPI_DOUBLE, MPI_MAX, "taking the maximum of", what);
#endif
    return st;
}

clg_status clg_dist_bcast(void *buf, size_t bytes, int root, const char *what) {
    int size = clg_dist_size();
    if (root < 0 || root >= size)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "broadcasting %s across MPI ranks: root %d is not a rank (0..%d)",
                        name_of(what), root, size - 1);
    clg_status st = reduce_args(buf, bytes, "broadcasting", what);
    if (st != CLG_OK || !bytes || size == 1) return st;
#if CLGRAD_HAVE_MPI
    st = check_not_finalised("broadcasting", what);
    if (st == CLG_OK) st = bcast_bytes(buf, bytes, root, "broadcasting", what);
#endif
    return st;
}

clg_status clg_dist_allgatherv_f32(const float *mine, const size_t *counts, float *all, const char *what) {
    const char *purpose = "gathering";
    if (!counts)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s %s across MPI ranks: NULL counts", purpose, name_of(what));
    int size = clg_dist_size(), rank = clg_dist_rank();
    size_t total = 0, offset = 0;
    for (int r = 0; r < size; r++) {
        if (counts[r] > SIZE_MAX / sizeof(float) - total)
            return clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s %s across MPI ranks: the counts' sum overflows",
                            purpose, name_of(what));
        if (r == rank) offset = total;
        total += counts[r];
    }
    if (!mine && counts[rank])
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s %s across MPI ranks: NULL input for %zu values",
                        purpose, name_of(what), counts[rank]);
    if (!all && total)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s %s across MPI ranks: NULL output for %zu values",
                        purpose, name_of(what), total);
    /* In place from here on: all ranks' parts are read from all[]. */
    if (counts[rank] && mine != all + offset) memmove(all + offset, mine, counts[rank] * sizeof *all);
    if (size == 1 || !total) return CLG_OK;
#if CLGRAD_HAVE_MPI
    clg_status st = check_not_finalised(purpose, what);
    if (st != CLG_OK) return st;
    if (total <= DIST_MAX_COUNT) {
        int *ints = malloc(2 * (size_t)size * sizeof *ints);
        if (!ints)
            return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s %s across MPI ranks: %d counts",
                            purpose, name_of(what), size);
        int *displs = ints + size;
        for (int r = 0, at = 0; r < size; r++) {
            ints[r] = (int)counts[r];
            displs[r] = at;
            at += (int)counts[r];
        }
        int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, ints, displs, MPI_FLOAT, comm);
        free(ints);
        if (rc != MPI_SUCCESS)
            return mpi_error(rc, "MPI_Allgatherv", "%s %s (%zu values)", purpose, name_of(what), total);
        return CLG_OK;
    }
    /* Beyond int counts and displacements: each rank broadcasts its part. */
    size_t at = 0;
    for (int r = 0; r < size && st == CLG_OK; r++) {
        st = bcast_bytes(all + at, counts[r] * sizeof *all, r, purpose, what);
        at += counts[r];
    }
    return st;
#else
    return CLG_OK;
#endif
}

clg_status clg_dist_barrier(const char *what) {
    (void)what; /* only in messages */
    if (!clg_dist_active()) return CLG_OK;
#if CLGRAD_HAVE_MPI
    const char *where = what && *what ? what : "a barrier";
    clg_status st = check_not_finalised("waiting for every rank at", where);
    if (st != CLG_OK) return st;
    int rc = MPI_Barrier(comm);
    if (rc != MPI_SUCCESS) return mpi_error(rc, "MPI_Barrier", "waiting for every rank at %s", where);
#endif
    return CLG_OK;
}
