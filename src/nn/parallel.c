/* Data parallelism: one replica of a model per device of its context, and one
 * process per MPI rank (model_internal.h says what each step does).
 *
 * A training step, for each device j with a share s_j of the batch's B rows:
 * upload its rows, replay its captured forward + backward (no update), and
 * queue non-blocking reads of its gradients and batch-norm statistics. The host
 * waits for all of them (noting when each device finished, for the balancer),
 * sums sum_j (s_j / B) g_j in double in device order (then all-reduces across
 * ranks), writes the sum into the gradients the first device's captured
 * optimizer update reads, replays that update, and copies the first device's
 * parameters to the others. Every device thus holds the first device's bits,
 * whatever rounding the others' sqrt, exp or division would have given.
 *
 * Transfers go through the host: each device has its own OpenCL context, so
 * devices of one platform cannot copy between them directly either. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clgrad/distributed.h"
#include "common/error.h"
#include "graph/graph.h"
#include "nn/model_internal.h"
#include "runtime/dist.h"
#include "runtime/runtime_impl.h"
#include "tensor/tensor_impl.h"

enum { BALANCE_AFTER = 3, BALANCE_EVERY = 50 };

typedef struct replica {
    clg_context *ctx;
    clg_model *m;        /* the model itself on device 0 */
    int64_t share;       /* rows of a full batch, as captured */
    clg_tensor *xb, *yb, *wb;
    clg_step *step;      /* forward + backward of `share` rows, no update */
    clg_tensor **grads;  /* the step's gradient tensors (references; NULL: none) */
    clg_tensor *acc_l, *acc_c;
    clg_tensor **stats;  /* batch normalisation's moving statistics */
    float *host;         /* gradients then statistics, as read */
    void *hx, *hy;
    float *hw;
    size_t cap_x, cap_y; /* bytes hx, hy hold */
    int64_t cap_w;       /* rows hw holds */
    cl_event *ev;
    int nev;
    int nplanned;        /* reads the captured step queues itself (ev[0, nplanned)) */
    double t0, t1;       /* host clock: before its batch's upload, when its reads were seen done */
    cl_event first;      /* its batch's upload: with profiling, the device's own span */
    cl_ulong dev_end;    /* the latest end among its reads (device clock, ns) */
    int64_t seen;        /* rows trained this epoch */
} replica;

struct clg_par {
    int n;
    replica *r;
    int np, ns;          /* trainable parameters, statistics */
    int64_t *off;        /* flat offsets: parameters, then statistics (np + ns + 1) */
    double *sum;
    float *flat;         /* summed gradients and statistics, as float */
    float *pflat;        /* device 0's parameters, for the other devices */
    cl_event *pend;      /* transfers from host memory above, not yet waited for */
    int npend, cap_pend;
    clg_tensor **gsum;   /* device 0: the summed gradients its update reads */
    clg_step *update;    /* device 0: the captured optimizer update */
    double *rate;        /* samples per second of each device (0: not measured) */
    int measured;        /* steps timed since the last split */
    int64_t full;        /* rows of this rank's full batch the shares add up to */
    int64_t since_check;
    int rank, ranks;
};

static double fake_rate[64];
static int nfake;

void clg_par_fake_rates(int n, const double *rate) {
    nfake = n > 0 && n <= 64 && rate ? n : 0;
    for (int i = 0; i < nfake; i++) fake_rate[i] = rate[i];
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int clg_par_wanted(const clg_model *m) {
    return m && (clg_context_device_count(m->ctx) > 1 || clg_dist_active());
}

void clg_par_balance(int n, const double *rate, int64_t total, int64_t *shares) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += rate[i] > 0 ? rate[i] : 0; /* NaN counts as 0 */
    int64_t given = 0;
    double *frac = malloc((size_t)(n > 0 ? n : 1) * sizeof *frac);
    for (int i = 0; i < n; i++) {
        double w = sum > 0 ? (rate[i] > 0 ? rate[i] / sum : 0) : 1.0 / n;
        double exact = w * (double)total;
        shares[i] = (int64_t)floor(exact);
        if (frac) frac[i] = exact - (double)shares[i];
        given += shares[i];
    }
    /* the rows left, one each to the largest remainders (lower index on ties) */
    while (given < total && frac) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if ((sum <= 0 || rate[i] > 0) && (best < 0 || frac[i] > frac[best])) best = i;
        if (best < 0) best = 0;
        shares[best]++, frac[best] = -1, given++;
    }
    for (int i = 0; given < total && !frac && i < n; i++) shares[i]++, given++; /* out of memory: still a split */
    free(frac);
}

/* Rows [lo, hi) of count that this rank takes. */
static void rank_rows(const clg_par *p, int64_t count, int64_t *lo, int64_t *hi) {
    *lo = count * p->rank / p->ranks;
    *hi = count * (p->rank + 1) / p->ranks;
}

static const char *dev_label(const replica *r) { return r->ctx->label; }

/* Under MPI, whether every rank got here without error, so that all go on to
 * the next collective or all stop (a rank that stopped alone would leave the
 * others waiting in it). A collective itself: every rank calls it at the same
 * point. *stop (may be NULL) becomes 1 on every rank when it is 1 on one. */
static clg_status agree(const clg_par *p, clg_status st, int *stop, const char *what) {
    if (p->ranks < 2) return st;
    double v[2] = {st != CLG_OK, stop ? *stop : 0};
    clg_status s2 = clg_dist_allreduce_max_f64(v, 2, what);
    if (stop) *stop = v[1] > 0;
    if (st != CLG_OK) return st;
    if (s2 != CLG_OK) return s2;
    if (v[0] > 0)
        return clg_fail(CLG_STATUS_IO_ERROR, "%s: another MPI rank failed (its own error says why)", what);
    return CLG_OK;
}

clg_status clg_par_agree(clg_model *m, clg_status st, int *stop, const char *what) {
    return m && m->par ? agree(m->par, st, stop, what) : st;
}

/* Speeds for a split: measured ones, and for devices not measured yet (they
 * had no rows) the mean of the others, so that they get rows and a measure. */
static void split_rates(const clg_par *p, double *out) {
    double sum = 0;
    int k = 0;
    for (int j = 0; j < p->n; j++)
        if (p->rate[j] > 0) sum += p->rate[j], k++;
    for (int j = 0; j < p->n; j++) out[j] = p->rate[j] > 0 ? p->rate[j] : (k ? sum / k : 1.0);
}

/* --- making and syncing replicas ------------------------------------------------------------- */

static void replica_fit_free(replica *r) {
    clg_step_free(r->step);
    r->step = NULL;
    clg_tensor_free(r->xb), clg_tensor_free(r->yb), clg_tensor_free(r->wb);
    r->xb = r->yb = r->wb = NULL;
    for (int i = 0; r->grads && r->m && i < r->m->nparams; i++) clg_tensor_free(r->grads[i]);
    free(r->grads);
    r->grads = NULL;
}

void clg_par_free(clg_par *p) {
    if (!p) return;
    for (int j = 0; j < p->n; j++) {
        replica *r = &p->r[j];
        replica_fit_free(r);
        clg_tensor_free(r->acc_l), clg_tensor_free(r->acc_c);
        for (int i = 0; r->stats && i < p->ns; i++) clg_tensor_free(r->stats[i]);
        free(r->stats), free(r->host), free(r->hx), free(r->hy), free(r->hw), free(r->ev);
        if (j > 0) clg_model_free(r->m);
    }
    clg_step_free(p->update);
    for (int i = 0; p->gsum && i < p->np; i++) clg_tensor_free(p->gsum[i]);
    for (int i = 0; i < p->npend; i++) clWaitForEvents(1, &p->pend[i]), clReleaseEvent(p->pend[i]);
    free(p->gsum), free(p->r), free(p->off), free(p->sum), free(p->flat), free(p->pflat), free(p->rate);
    free(p->pend);
    free(p);
}

static clg_status pend_wait(clg_par *p);

void clg_par_fit_end(clg_model *m) {
    clg_par *p = m ? m->par : NULL;
    if (!p) return;
    pend_wait(p);
    for (int j = 0; j < p->n; j++) replica_fit_free(&p->r[j]);
    clg_step_free(p->update);
    p->update = NULL;
    for (int i = 0; p->gsum && i < p->np; i++) clg_tensor_free(p->gsum[i]);
    free(p->gsum);
    p->gsum = NULL;
}

/* The moving statistics of m's trainable batch normalisations, in layer order:
 * count them (out NULL) or list them. */
static int list_stats(const clg_model *m, clg_tensor **out) {
    int k = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const clg_layer *l = m->layers[i];
        if (l->kind != L_BATCHNORM || !l->trainable) continue;
        for (int j = 0; j < l->nweights; j++)
            if (!l->wtrainable[j]) {
                if (out) out[k] = l->w[j];
                k++;
            }
    }
    return k;
}

static int64_t numel_of(const clg_tensor *t) { return t ? clg_tensor_numel(t) : 0; }

/* Copies every weight of m (trainable or not) to the other devices; under
 * MPI, rank 0's weights go to every rank first (so all start from the same bits). */
static clg_status sync_weights(clg_par *p, clg_model *m) {
    const int nw = clg_nn_list_weights(m, 0, NULL);
    clg_tensor **w = calloc((size_t)nw * (size_t)p->n + 1, sizeof *w); /* [device][weight] */
    clg_status st = w ? CLG_OK : clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "copying weights to the devices");
    for (int j = 0; st == CLG_OK && j < p->n; j++)
        if (clg_nn_list_weights(p->r[j].m, 0, w + (size_t)j * nw) != nw)
            st = clg_fail(CLG_STATUS_UNSUPPORTED, "the replica on %s has other weights", dev_label(&p->r[j]));
    int64_t most = 0;
    for (int i = 0; st == CLG_OK && i < nw; i++)
        if (numel_of(w[i]) > most) most = numel_of(w[i]);
    float *buf = st == CLG_OK ? malloc((size_t)(most > 0 ? most : 1) * sizeof *buf) : NULL;
    if (st == CLG_OK && !buf) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "copying weights to the devices");
    /* under MPI rank 0's weights, one at a time, while every rank is well */
    for (int i = 0; i < nw && p->ranks > 1; i++) {
        size_t bytes = st == CLG_OK ? (size_t)numel_of(w[i]) * sizeof(float) : 0;
        if (st == CLG_OK && p->rank == 0) st = clg_tensor_to_host(w[i], buf, bytes);
        if ((st = agree(p, st, NULL, "reading rank 0's weights")) != CLG_OK) break;
        if ((st = clg_dist_bcast(buf, bytes, 0, "sending rank 0's weights")) != CLG_OK) break;
        if (p->rank != 0) st = clg_tensor_write(w[i], buf, bytes);
    }
    if (p->ranks > 1) st = agree(p, st, NULL, "copying rank 0's weights");
    for (int i = 0; st == CLG_OK && i < nw; i++) {
        size_t bytes = (size_t)numel_of(w[i]) * sizeof(float);
        if (p->n > 1) st = clg_tensor_to_host(w[i], buf, bytes);
        for (int j = 1; st == CLG_OK && j < p->n; j++) st = clg_tensor_write(w[(size_t)j * nw + i], buf, bytes);
    }
    free(buf), free(w);
    return agree(p, st, NULL, "copying the weights to the devices");
}

static clg_status replica_new(clg_par *p, clg_model *m, int j) {
    replica *r = &p->r[j];
    r->ctx = clg_context_peer(m->ctx, j);
    char what[256];
    snprintf(what, sizeof what, "the replica on %s", r->ctx->label);
    if (j == 0) {
        r->m = m;
    } else {
        r->m = clg_nn_model_rebuild(m, r->ctx, what);
        if (!r->m) return clg_fail_wrap(clg_last_status(), "%s", what);
        /* its own dropout masks: another seed (its weights are copied over) */
        clg_status st = clg_model_set_seed(
            r->m, clg_mix64(m->seed ^ clg_mix64(0x5eed0000u + (uint64_t)p->rank * 4096u + (uint64_t)j)));
        if (st == CLG_OK && m->compiled)
            st = clg_model_compile_optimizer(r->m, clg_optimizer_sgd(0.0f, 0.0f, 0), clg_loss_names[m->loss],
                                             m->accuracy ? "accuracy" : NULL);
        if (st == CLG_OK && !m->compiled && clg_model_weight_count(r->m, 0) > 0 && !clg_model_weight(r->m, 0, 0))
            st = clg_last_status();
        if (st != CLG_OK) return clg_fail_wrap(st, "%s", what);
        for (int i = 0; i < m->nparams; i++)
            if (strcmp(clg_tensor_name(m->params[i]), clg_tensor_name(r->m->params[i])))
                return clg_fail(CLG_STATUS_UNSUPPORTED, "%s: parameter %d is '%s', not '%s'", what, i,
                                clg_tensor_name(r->m->params[i]), clg_tensor_name(m->params[i]));
    }
    r->stats = calloc((size_t)p->ns + 1, sizeof *r->stats);
    r->host = malloc((size_t)(p->off[p->np + p->ns] > 0 ? p->off[p->np + p->ns] : 1) * sizeof *r->host);
    r->ev = calloc((size_t)(p->np + p->ns) + 1, sizeof *r->ev);
    if (!r->stats || !r->host || !r->ev) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s", what);
    clg_tensor **s = calloc((size_t)p->ns + 1, sizeof *s);
    if (!s) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s", what);
    list_stats(r->m, s);
    for (int i = 0; i < p->ns; i++) r->stats[i] = clg_tensor_retain(s[i]);
    free(s);
    return CLG_OK;
}

static clg_status prepare_local(clg_model *m, const char *api) {
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i]->stateful)
            return clg_fail(CLG_STATUS_UNSUPPORTED,
                            "%s: layer '%s' is stateful, which training on several devices or MPI ranks does not "
                            "support (its states would be split across them); use one device",
                            api, m->layers[i]->name);
    if (m->compiled && m->nparams > 0 && !m->opt)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: the model has no optimizer", api);
    clg_status st = m->par ? pend_wait(m->par) : CLG_OK; /* host buffers below may be reallocated */
    if (st != CLG_OK) return clg_fail_wrap(st, "%s", api);
    if (!m->par || (m->compiled && m->par->np != m->nparams)) {
        clg_par_free(m->par);
        m->par = NULL;
        /* the weights exist before they are copied */
        if (clg_model_weight_count(m, 0) > 0 && !clg_model_weight(m, 0, 0)) return clg_last_status();
        clg_par *p = calloc(1, sizeof *p);
        if (!p) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
        m->par = p;
        p->n = clg_context_device_count(m->ctx);
        p->rank = clg_dist_active() ? clg_dist_rank() : 0;
        p->ranks = clg_dist_active() ? clg_dist_size() : 1;
        p->np = m->compiled ? m->nparams : 0;
        p->ns = list_stats(m, NULL);
        p->r = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *p->r);
        p->off = calloc((size_t)(p->np + p->ns) + 1, sizeof *p->off);
        p->rate = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *p->rate);
        clg_tensor **s = calloc((size_t)p->ns + 1, sizeof *s);
        if (!p->r || !p->off || !p->rate || !s) {
            free(s);
            clg_par_free(m->par);
            m->par = NULL;
            return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
        }
        list_stats(m, s);
        for (int i = 0; i < p->np + p->ns; i++)
            p->off[i + 1] = p->off[i] + numel_of(i < p->np ? m->params[i] : s[i - p->np]);
        free(s);
        int64_t tot = p->off[p->np + p->ns];
        p->sum = malloc((size_t)(tot + 1) * sizeof *p->sum); /* + the error flag of the step */
        p->flat = malloc((size_t)(tot > 0 ? tot : 1) * sizeof *p->flat);
        p->pflat = malloc((size_t)(tot > 0 ? tot : 1) * sizeof *p->pflat);
        p->pend = malloc(sizeof *p->pend * (size_t)(p->cap_pend = 64));
        if (!p->sum || !p->flat || !p->pflat || !p->pend) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "host memory");
        for (int j = 0; st == CLG_OK && j < p->n; j++) st = replica_new(p, m, j);
        if (st != CLG_OK) {
            clg_error_saved saved;
            clg_error_save(&saved);
            clg_par_free(m->par);
            m->par = NULL;
            clg_error_restore(&saved);
            return clg_fail_wrap(st, "%s", api);
        }
    }
    return CLG_OK;
}

clg_status clg_par_prepare(clg_model *m, const char *api, int training) {
    (void)training;
    clg_status st = prepare_local(m, api);
    if (clg_dist_active()) { /* all ranks go on to copy the weights, or none */
        double f = st != CLG_OK;
        clg_status s2 = clg_dist_allreduce_max_f64(&f, 1, "making the replicas");
        if (st != CLG_OK) return st;
        if (s2 != CLG_OK || f > 0)
            return s2 != CLG_OK ? clg_fail_wrap(s2, "%s", api)
                                : clg_fail(CLG_STATUS_IO_ERROR, "%s: making the replicas: another MPI rank failed",
                                           api);
    } else if (st != CLG_OK) {
        return st;
    }
    st = sync_weights(m->par, m);
    return st == CLG_OK ? st : clg_fail_wrap(st, "%s: copying the weights to every device", api);
}

clg_model *clg_par_replica(const clg_model *m, int j) {
    return m && m->par && j >= 0 && j < m->par->n ? m->par->r[j].m : NULL;
}

clg_status clg_par_check_ranks(clg_model *m, const char *api, int64_t n, int64_t batch, int epochs, int64_t nval) {
    clg_par *p = m->par;
    if (!p || p->ranks < 2) return CLG_OK;
    /* every rank must shuffle the same rows the same way and step as often */
    const double mine[5] = {(double)n, (double)batch, epochs, (double)(m->seed >> 32), (double)(m->seed & 0xffffffffu)};
    double v[10];
    for (int k = 0; k < 5; k++) v[k] = mine[k], v[5 + k] = -mine[k];
    clg_status st = clg_dist_allreduce_max_f64(v, 10, "comparing the ranks' data");
    if (st != CLG_OK) return clg_fail_wrap(st, "%s", api);
    static const char *const what[5] = {"samples", "batch size", "epochs", "seed (high half)", "seed (low half)"};
    for (int k = 0; k < 5; k++)
        if (v[k] != -v[5 + k])
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: the MPI ranks differ in %s (this rank %.0f, others up to %.0f / down to %.0f): every "
                            "rank passes the same data and options, and shards it itself",
                            api, what[k], mine[k], v[k], -v[5 + k]);
    (void)nval;
    return CLG_OK;
}

int clg_model_device_split(const clg_model *m, int64_t *rows, int cap) {
    return clg_par_shares(m, rows, rows ? cap : 0);
}

int clg_par_shares(const clg_model *m, int64_t *shares, int cap) {
    const clg_par *p = m ? m->par : NULL;
    if (!p || p->full == 0) return 0;
    for (int j = 0; j < p->n && j < cap; j++) shares[j] = p->r[j].share;
    return p->n;
}

/* --- training ------------------------------------------------------------------------------- */

/* Transfers queued without waiting: their host memory stays untouched until
 * pend_wait, at the start of the next step (by then they are long done). */
static clg_status pend_push(clg_par *p, clg_status st, cl_event ev) {
    if (!ev) return st;
    if (p->npend == p->cap_pend) {
        cl_event *grown = realloc(p->pend, sizeof *grown * (size_t)(p->cap_pend * 2));
        if (!grown) {
            clWaitForEvents(1, &ev), clReleaseEvent(ev);
            return st == CLG_OK ? clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "transfers in flight") : st;
        }
        p->pend = grown, p->cap_pend *= 2;
    }
    p->pend[p->npend++] = ev;
    return st;
}

static clg_status pend_wait(clg_par *p) {
    clg_status st = CLG_OK;
    for (int i = 0; i < p->npend; i++) {
        clg_status s2 = CLG_CL(clWaitForEvents(1, &p->pend[i]), "copying to the devices");
        if (st == CLG_OK) st = s2;
        clReleaseEvent(p->pend[i]);
    }
    p->npend = 0;
    return st;
}

/* A non-blocking write of host bytes into t, waited for by pend_wait. */
static clg_status write_async(clg_par *p, clg_tensor *t, const void *host, size_t bytes) {
    cl_event ev = NULL;
    clg_status st = clg_tensor_write_nonblocking(t, host, bytes, &ev);
    return pend_push(p, st, ev);
}

/* The seconds device r spent on its share: from the start of its upload to
 * the end of its last read, on the device's clock where the queue profiles
 * (a context of several devices makes its queues so), else on the host's. The
 * host's view is skewed where a device runs commands inside the enqueue calls
 * (PoCL's "basic"): the host then sees the others finish late. */
static double device_seconds(replica *r) {
    cl_ulong start = 0;
    if (r->first && r->dev_end &&
        clGetEventProfilingInfo(r->first, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL) == CL_SUCCESS &&
        r->dev_end > start)
        return 1e-9 * (double)(r->dev_end - start);
    return r->t1 - r->t0;
}

static clg_status ensure_acc(replica *r, int met) {
    if (!r->acc_l && !(r->acc_l = clg_tensor_zeros(r->ctx, CLG_FLOAT32, 0, NULL))) return clg_last_status();
    if (met && !r->acc_c && !(r->acc_c = clg_tensor_zeros(r->ctx, CLG_FLOAT32, 0, NULL))) return clg_last_status();
    return CLG_OK;
}

/* Host rows for a batch share: x and y rows (rows of the widest x and y seen;
 * fit and evaluate may pass arrays of other widths), and weights when asked. */
static clg_status ensure_rows(replica *r, const clg_host_array *x, const clg_host_array *y, int weighted,
                              int64_t rows) {
    size_t xb = (size_t)clg_nn_row_elems(x) * clg_dtype_size(x->dtype) * (size_t)rows;
    size_t yb = y ? (size_t)clg_nn_row_elems(y) * clg_dtype_size(y->dtype) * (size_t)rows : 0;
    if (xb > r->cap_x) {
        free(r->hx);
        r->cap_x = (r->hx = malloc(xb + 1)) ? xb : 0;
    }
    if (yb > r->cap_y) {
        free(r->hy);
        r->cap_y = (r->hy = malloc(yb + 1)) ? yb : 0;
    }
    if (weighted && rows > r->cap_w) {
        free(r->hw);
        r->cap_w = (r->hw = malloc(sizeof(float) * (size_t)rows + 1)) ? rows : 0;
    }
    if (r->cap_x < xb || r->cap_y < yb || (weighted && r->cap_w < rows))
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "batch rows for %s", dev_label(r));
    return CLG_OK;
}

/* Queues a read of t (contiguous float32) into dst without waiting. */
static clg_status read_async(replica *r, const clg_tensor *t, float *dst) {
    clg_status st = clg_realize(t);
    if (st != CLG_OK) return st;
    char d[220], what[400];
    snprintf(what, sizeof what, "reading %s from %s", clg_tensor_describe(t, d, sizeof d), dev_label(r));
    if (!clg_tensor_is_contiguous(t) || !t->buf)
        return clg_fail(CLG_STATUS_UNSUPPORTED, "%s: not a contiguous buffer", what);
    cl_event ev = NULL;
    st = CLG_CL_FAULT(r->ctx, CLG_FAULT_READ,
                      clEnqueueReadBuffer(r->ctx->queue, t->buf->mem, CL_FALSE, (size_t)t->offset * sizeof(float),
                                          (size_t)clg_tensor_numel(t) * sizeof(float), dst, 0, NULL, &ev),
                      what);
    if (st == CLG_OK) r->ev[r->nev++] = ev;
    return st;
}

/* Makes the captured step read each gradient (and statistic) as soon as the
 * step has written it for the last time, on a second queue: the last layers'
 * gradients travel while the first layers' are still being computed. */
static clg_status plan_reads(clg_par *p, replica *r) {
    clg_status st = CLG_OK;
    r->nplanned = 0;
    for (int i = 0; st == CLG_OK && i < p->np + p->ns; i++) {
        const clg_tensor *t = i < p->np ? r->grads[i] : r->stats[i - p->np];
        float *dst = r->host + p->off[i];
        if (!t) { /* no gradient: zeros, once */
            memset(dst, 0, (size_t)(p->off[i + 1] - p->off[i]) * sizeof *dst);
            continue;
        }
        if (!t->buf || !clg_tensor_is_contiguous(t))
            return clg_fail(CLG_STATUS_UNSUPPORTED, "%s: a gradient is not a contiguous buffer", dev_label(r));
        st = clg_step_add_read(r->step, t->buf, (size_t)t->offset * sizeof(float),
                               (size_t)clg_tensor_numel(t) * sizeof(float), dst, &r->ev[r->nplanned]);
        if (st == CLG_OK) r->nplanned++;
    }
    return st;
}

/* Waits for every replica's reads, noting when each finished. */
static clg_status wait_reads(clg_par *p, const int *active) {
    clg_status st = CLG_OK;
    int left = 0;
    for (int j = 0; j < p->n; j++) left += active[j];
    int *done = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *done);
    while (left > 0 && done) {
        for (int j = 0; j < p->n; j++) {
            replica *r = &p->r[j];
            if (!active[j] || done[j]) continue;
            int complete = 1;
            for (int k = 0; k < r->nev && complete; k++) {
                cl_int s = CL_COMPLETE;
                if (!r->ev[k]) continue;
                if (clGetEventInfo(r->ev[k], CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof s, &s, NULL) != CL_SUCCESS)
                    s = -1;
                complete = s <= CL_COMPLETE; /* complete, or failed (reported below) */
            }
            if (complete) done[j] = 1, left--, r->t1 = now_s();
        }
        if (left > 0) nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    for (int j = 0; j < p->n; j++) {
        replica *r = &p->r[j];
        r->dev_end = 0;
        for (int k = 0; k < r->nev; k++) {
            if (!r->ev[k]) continue;
            char what[300];
            snprintf(what, sizeof what, "reading gradients from %s", dev_label(r));
            clg_status s2 = CLG_CL(clWaitForEvents(1, &r->ev[k]), what);
            if (st == CLG_OK) st = s2;
            cl_ulong end = 0;
            if (s2 == CLG_OK &&
                clGetEventProfilingInfo(r->ev[k], CL_PROFILING_COMMAND_END, sizeof end, &end, NULL) == CL_SUCCESS &&
                end > r->dev_end)
                r->dev_end = end;
            clReleaseEvent(r->ev[k]);
            r->ev[k] = NULL;
        }
        r->nev = 0;
    }
    if (!done && st == CLG_OK) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "waiting for the devices");
    free(done);
    return st;
}

/* Replaces the gradients device 0's update reads by the summed ones, making
 * them (and capturing the update) at the first step. */
static clg_status apply_update(clg_par *p, clg_model *m) {
    clg_status st = CLG_OK;
    if (!p->gsum) {
        p->gsum = calloc((size_t)p->np + 1, sizeof *p->gsum);
        if (!p->gsum) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "summed gradients");
        for (int i = 0; st == CLG_OK && i < p->np; i++) {
            clg_tensor *t = m->params[i];
            p->gsum[i] = clg_tensor_zeros(m->ctx, CLG_FLOAT32, t->ndim, t->shape);
            if (!p->gsum[i]) st = clg_last_status();
        }
    }
    for (int i = 0; st == CLG_OK && i < p->np; i++) { /* in queue order before the update */
        float *src = p->flat + p->off[i];
        st = write_async(p, p->gsum[i], src, (size_t)(p->off[i + 1] - p->off[i]) * sizeof(float));
    }
    if (st != CLG_OK || p->np == 0) return st;
    if (p->update) return clg_step_replay(p->update);
    /* the update reads each parameter's gradient: make it the summed one */
    for (int i = 0; i < p->np; i++) {
        clg_tensor *t = m->params[i];
        clg_tensor_free(t->grad);
        t->grad = clg_tensor_retain(p->gsum[i]);
    }
    st = clg_step_capture_begin(m->ctx);
    if (st != CLG_OK) return st;
    clg_status s2 = clg_optimizer_step(m->opt);
    p->update = clg_step_capture_end(m->ctx);
    return s2 != CLG_OK ? s2 : (p->update ? CLG_OK : clg_last_status());
}

/* Device 0's parameters to every other device: all read at once, then all
 * written without waiting (each device's next work is queued after them). */
static clg_status broadcast_params(clg_par *p, clg_model *m, clg_status st) {
    if (p->n < 2 && p->ranks < 2) return st;
    replica *r0 = &p->r[0];
    for (int i = 0; st == CLG_OK && i < p->np; i++) st = read_async(r0, m->params[i], p->pflat + p->off[i]);
    clFlush(r0->ctx->queue);
    for (int k = 0; k < r0->nev; k++) {
        clg_status s2 = CLG_CL(clWaitForEvents(1, &r0->ev[k]), "reading the updated parameters");
        if (st == CLG_OK) st = s2;
        clReleaseEvent(r0->ev[k]);
        r0->ev[k] = NULL;
    }
    r0->nev = 0;
    /* Under MPI rank 0's update is the one every rank keeps: ranks whose
     * devices round otherwise (another vendor) would drift apart. */
    const int from_rank0 = p->ranks > 1 && p->np > 0;
    if (from_rank0 && (st = agree(p, st, NULL, "updating the parameters")) == CLG_OK)
        st = clg_dist_bcast(p->pflat, (size_t)p->off[p->np] * sizeof(float), 0, "sending rank 0's parameters");
    for (int i = 0; st == CLG_OK && i < p->np; i++) {
        size_t bytes = (size_t)(p->off[i + 1] - p->off[i]) * sizeof(float);
        for (int j = from_rank0 && p->rank != 0 ? 0 : 1; st == CLG_OK && j < p->n; j++)
            st = write_async(p, p->r[j].m->params[i], p->pflat + p->off[i], bytes);
    }
    for (int j = 1; j < p->n; j++) clFlush(p->r[j].ctx->queue);
    return st;
}

/* After a timed step: new speeds, and a new split when it would finish the
 * slowest device's share sooner by more than 10%. */
static void rebalance(clg_par *p, const int *active) {
    for (int j = 0; j < p->n; j++) {
        replica *r = &p->r[j];
        if (!active[j] || r->share <= 0) continue;
        double t = device_seconds(r);
        double rate = j < nfake ? fake_rate[j] : (t > 0 ? (double)r->share / t : 0);
        if (!(rate > 0)) continue;
        p->rate[j] = p->measured == 0 || p->rate[j] <= 0 ? rate : 0.7 * p->rate[j] + 0.3 * rate;
    }
    p->measured++, p->since_check++;
    if (p->measured < BALANCE_AFTER || (p->measured > BALANCE_AFTER && p->since_check < BALANCE_EVERY)) return;
    p->since_check = 0;
    int64_t *ideal = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *ideal);
    if (!ideal) return;
    double rates[64];
    if (p->n > 64) {
        free(ideal);
        return;
    }
    split_rates(p, rates);
    clg_par_balance(p->n, rates, p->full, ideal);
    /* at least a row for each device while the batch allows: a device that
     * was slow once gets measured again, and comes back when it is fast */
    for (int j = 0; p->full >= p->n && j < p->n; j++)
        if (ideal[j] == 0) {
            int big = 0;
            for (int k = 1; k < p->n; k++) big = ideal[k] > ideal[big] ? k : big;
            ideal[big]--, ideal[j]++;
        }
    double now = 0, then = 0;
    for (int j = 0; j < p->n; j++) {
        double r = rates[j];
        if (p->r[j].share / r > now) now = p->r[j].share / r;
        if (ideal[j] / r > then) then = ideal[j] / r;
    }
    int differs = 0;
    for (int j = 0; j < p->n; j++) differs |= ideal[j] != p->r[j].share;
    if (differs && then < 0.9 * now) {
        for (int j = 0; j < p->n; j++) {
            replica_fit_free(&p->r[j]); /* captured again with the new shapes */
            p->r[j].share = ideal[j];
        }
        p->measured = 0;
    }
    free(ideal);
}

clg_status clg_par_epoch_begin(clg_model *m) {
    clg_par *p = m->par;
    const float zero = 0.0f;
    clg_status st = CLG_OK;
    for (int j = 0; st == CLG_OK && j < p->n; j++) {
        replica *r = &p->r[j];
        st = ensure_acc(r, clg_nn_metric_on(m));
        if (st == CLG_OK) st = clg_tensor_write(r->acc_l, &zero, sizeof zero);
        if (st == CLG_OK && r->acc_c) st = clg_tensor_write(r->acc_c, &zero, sizeof zero);
        r->seen = 0;
    }
    return st;
}

clg_status clg_par_train_batch(clg_model *m, const clg_host_array *x, const clg_host_array *y,
                               const clg_host_array *w, const int64_t *idx, int64_t count, int64_t batch_size) {
    clg_par *p = m->par;
    const int met = clg_nn_metric_on(m), sparse = m->loss == LOSS_SPARSE_CCE, full = count == batch_size;
    int64_t lo, hi, flo, fhi;
    rank_rows(p, count, &lo, &hi);
    rank_rows(p, batch_size, &flo, &fhi);
    if (p->full != fhi - flo) { /* a new batch size: split evenly, or by speeds already measured */
        p->full = fhi - flo;
        int64_t *sh = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *sh);
        if (!sh) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "splitting a batch");
        double *rates = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *rates);
        if (!rates) {
            free(sh);
            return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "splitting a batch");
        }
        split_rates(p, rates);
        clg_par_balance(p->n, rates, p->full, sh);
        free(rates);
        for (int j = 0; j < p->n; j++) {
            if (p->r[j].share != sh[j]) replica_fit_free(&p->r[j]);
            p->r[j].share = sh[j];
        }
        free(sh);
        p->measured = 0;
    }
    int64_t *part = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *part);
    int *active = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *active);
    if (!part || !active) {
        free(part), free(active);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "splitting a batch");
    }
    if (full) {
        for (int j = 0; j < p->n; j++) part[j] = p->r[j].share;
    } else {
        double rates[64];
        if (p->n <= 64) split_rates(p, rates);
        clg_par_balance(p->n, p->n <= 64 ? rates : p->rate, hi - lo, part);
    }
    int timed = full;
    clg_status st = pend_wait(p); /* the last step's transfers read the host buffers refilled below */
    size_t xrb = (size_t)clg_nn_row_elems(x) * clg_dtype_size(x->dtype);
    size_t yrb = (size_t)clg_nn_row_elems(y) * clg_dtype_size(y->dtype);
    int64_t at = lo;
    for (int j = 0; st == CLG_OK && j < p->n; j++) {
        replica *r = &p->r[j];
        int64_t c = part[j];
        const int64_t *rows = idx + at;
        at += c;
        if (c <= 0) continue;
        active[j] = 1;
        /* from here: a device that runs commands inside the enqueue calls (PoCL's
         * "basic") spends its time on this thread before the replay returns */
        r->t0 = now_s();
        st = ensure_acc(r, met);
        if (st == CLG_OK) st = ensure_rows(r, x, y, w != NULL, c);
        if (st != CLG_OK) break;
        clg_nn_gather_rows(x, 0, rows, c, r->hx);
        clg_nn_gather_rows(y, 0, rows, c, r->hy);
        if (w) clg_nn_gather_rows(w, 0, rows, c, r->hw);
        clg_tensor *xb = full ? r->xb : NULL, *yb = full ? r->yb : NULL, *wb = full ? r->wb : NULL;
        if (!xb) {
            xb = clg_nn_batch_tensor(r->ctx, x, c, 0), yb = clg_nn_batch_tensor(r->ctx, y, c, sparse);
            wb = w ? clg_nn_batch_tensor(r->ctx, w, c, 0) : NULL;
            if (full) r->xb = xb, r->yb = yb, r->wb = wb;
        }
        st = xb && yb && (!w || wb) ? write_async(p, xb, r->hx, xrb * (size_t)c) : clg_last_status();
        if (st == CLG_OK && p->npend > 0 && clRetainEvent(p->pend[p->npend - 1]) == CL_SUCCESS)
            r->first = p->pend[p->npend - 1];
        if (st == CLG_OK) st = write_async(p, yb, r->hy, yrb * (size_t)c);
        if (st == CLG_OK && wb) st = write_async(p, wb, r->hw, sizeof(float) * (size_t)c);
        int queued = 0; /* the replay queues the reads itself */
        if (st == CLG_OK && full && r->step) {
            for (int k = 0; k < r->nplanned; k++) r->ev[k] = NULL; /* the replay fills those it reaches */
            st = clg_step_replay(r->step);
            r->nev = r->nplanned, queued = 1; /* also after a failure: reads already queued own host memory */
            clFlush(r->ctx->queue); /* the transfer queue's reads wait on its markers */
            if (r->ctx->xfer) clFlush(r->ctx->xfer);
        } else if (st == CLG_OK && full) {
            timed = 0; /* capturing runs the step once, slowly */
            st = clg_step_capture_begin(r->ctx);
            if (st == CLG_OK) {
                clg_status s2 = clg_nn_train_step(r->m, xb, yb, wb, c, r->acc_l, r->acc_c, 0);
                r->step = clg_step_capture_end(r->ctx);
                st = s2 != CLG_OK ? s2 : (r->step ? CLG_OK : clg_last_status());
            }
            if (st == CLG_OK && !(r->grads = calloc((size_t)p->np + 1, sizeof *r->grads)))
                st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "gradients of %s", dev_label(r));
            for (int i = 0; st == CLG_OK && i < p->np; i++)
                r->grads[i] = r->m->params[i]->grad ? clg_tensor_retain(r->m->params[i]->grad) : NULL;
            if (st == CLG_OK) st = plan_reads(p, r);
        } else if (st == CLG_OK) {
            st = clg_nn_train_step(r->m, xb, yb, wb, c, r->acc_l, r->acc_c, 0);
        }
        if (!full) clg_tensor_free(xb), clg_tensor_free(yb), clg_tensor_free(wb);
        r->seen += c;
        /* gradients (zeros where a parameter got none) and statistics, read without waiting */
        for (int i = 0; st == CLG_OK && !queued && i < p->np; i++) {
            const clg_tensor *g = full ? r->grads[i] : r->m->params[i]->grad;
            if (g) st = read_async(r, g, r->host + p->off[i]);
            else memset(r->host + p->off[i], 0, (size_t)(p->off[i + 1] - p->off[i]) * sizeof(float));
        }
        for (int i = 0; st == CLG_OK && !queued && i < p->ns; i++)
            st = read_async(r, r->stats[i], r->host + p->off[p->np + i]);
        if (st != CLG_OK) st = clg_fail_wrap(st, "training on %s", dev_label(r));
    }
    clg_status sw = wait_reads(p, active); /* also after a failure: the reads own host memory */
    if (st == CLG_OK) st = sw;
    /* sum_j (share_j / count) g_j over the devices, in device order, in double */
    const int64_t tot = p->off[p->np + p->ns];
    for (int64_t k = 0; st == CLG_OK && k < tot; k++) p->sum[k] = 0;
    for (int j = 0; st == CLG_OK && j < p->n; j++) {
        if (!active[j]) continue;
        const double wj = (double)part[j] / (double)count;
        const float *h = p->r[j].host;
        for (int64_t k = 0; k < tot; k++) p->sum[k] += wj * (double)h[k];
    }
    if (p->ranks > 1) { /* every rank, also one that failed: the flag after the sums tells the others */
        p->sum[tot] = st != CLG_OK;
        clg_status s2 = clg_dist_allreduce_sum_f64(p->sum, (size_t)tot + 1, "summing gradients");
        if (st == CLG_OK) st = s2;
        if (st == CLG_OK && p->sum[tot] > 0)
            st = clg_fail(CLG_STATUS_IO_ERROR, "summing gradients: another MPI rank failed (its own error says why)");
    }
    for (int64_t k = 0; st == CLG_OK && k < tot; k++) p->flat[k] = (float)p->sum[k];
    if (st == CLG_OK) st = apply_update(p, m);
    /* the statistics' weighted mean to every device (device 0's included) */
    for (int i = 0; st == CLG_OK && i < p->ns; i++) {
        size_t bytes = (size_t)(p->off[p->np + i + 1] - p->off[p->np + i]) * sizeof(float);
        for (int j = 0; st == CLG_OK && j < p->n; j++)
            st = write_async(p, p->r[j].stats[i], p->flat + p->off[p->np + i], bytes);
    }
    st = broadcast_params(p, m, st); /* a collective under MPI: also after a failure */
    if (st == CLG_OK && timed) rebalance(p, active);
    for (int j = 0; j < p->n; j++)
        if (p->r[j].first) clReleaseEvent(p->r[j].first), p->r[j].first = NULL;
    st = agree(p, st, NULL, "ending a training step");
    free(part), free(active);
    return st;
}

clg_status clg_par_read_acc(clg_model *m, int64_t seen, int all_ranks, double *loss, double *acc) {
    clg_par *p = m->par;
    double v[3] = {0, 0, 0}; /* loss sum, correct sum, rows */
    clg_status st = CLG_OK;
    for (int j = 0; st == CLG_OK && j < p->n; j++) {
        replica *r = &p->r[j];
        float fl = 0, fc = 0;
        if (r->acc_l) st = clg_tensor_to_host(r->acc_l, &fl, sizeof fl);
        if (st == CLG_OK && r->acc_c) st = clg_tensor_to_host(r->acc_c, &fc, sizeof fc);
        v[0] += fl, v[1] += fc, v[2] += (double)r->seen;
    }
    if (all_ranks && p->ranks > 1) { /* every rank, also one that failed */
        double f[4] = {v[0], v[1], v[2], st != CLG_OK};
        clg_status s2 = clg_dist_allreduce_sum_f64(f, 4, "summing the epoch's loss");
        if (st == CLG_OK) st = s2 != CLG_OK ? s2 : f[3] > 0 ? clg_fail(CLG_STATUS_IO_ERROR, "summing the epoch's loss: "
                                                                       "another MPI rank failed") : CLG_OK;
        v[0] = f[0], v[1] = f[1], v[2] = f[2];
    }
    double rows = all_ranks ? (double)seen : v[2];
    *loss = rows > 0 ? v[0] / rows : NAN;
    *acc = clg_nn_metric_on(m) && rows > 0 ? v[1] / rows : NAN;
    return st;
}

/* --- evaluate and predict ------------------------------------------------------------------- */

/* Rows [first, first + n) split across ranks, then devices: device j takes
 * [*start + off_j, + part[j]). */
static clg_status split_rows(clg_par *p, int64_t first, int64_t n, int64_t *start, int64_t *part) {
    int64_t lo, hi;
    rank_rows(p, n, &lo, &hi);
    *start = first + lo;
    double rates[64];
    if (p->n <= 64) split_rates(p, rates);
    clg_par_balance(p->n, p->n <= 64 ? rates : p->rate, hi - lo, part);
    return CLG_OK;
}

clg_status clg_par_evaluate(clg_model *m, const clg_host_array *x, const clg_host_array *y, int64_t first,
                            int64_t n, int batch, double *loss, double *acc) {
    clg_par *p = m->par;
    const int met = clg_nn_metric_on(m);
    int64_t start = 0, *part = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *part);
    clg_tensor **al = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *al), **ac = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *ac);
    clg_status st = part && al && ac ? CLG_OK : clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "evaluating");
    if (st == CLG_OK) st = split_rows(p, first, n, &start, part);
    int64_t most = 0;
    for (int j = 0; st == CLG_OK && j < p->n; j++) {
        replica *r = &p->r[j];
        if (!(al[j] = clg_tensor_zeros(r->ctx, CLG_FLOAT32, 0, NULL)) ||
            !(ac[j] = clg_tensor_zeros(r->ctx, CLG_FLOAT32, 0, NULL)))
            st = clg_last_status();
        if (st == CLG_OK) st = ensure_rows(r, x, y, 0, part[j] < batch ? part[j] : batch);
        if (part[j] > most) most = part[j];
    }
    /* as eval_impl: the softmax stays recorded so the loss is training's */
    int rec = m->loss == LOSS_SPARSE_CCE || m->loss == LOSS_CCE, *was = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *was);
    for (int j = 0; was && j < p->n; j++) was[j] = clg_grad_set_enabled(p->r[j].ctx, rec);
    /* round by round, so every device has a batch in flight */
    for (int64_t s0 = 0; st == CLG_OK && s0 < most; s0 += batch) {
        int64_t off = start;
        for (int j = 0; st == CLG_OK && j < p->n; j++) {
            replica *r = &p->r[j];
            if (s0 < part[j]) {
                int64_t c = part[j] - s0 < batch ? part[j] - s0 : batch;
                st = clg_nn_eval_batch(r->m, x, y, off + s0, c, r->hx, r->hy, al[j], met ? ac[j] : NULL);
                if (st != CLG_OK) st = clg_fail_wrap(st, "evaluating on %s", dev_label(r));
            }
            off += part[j];
        }
    }
    for (int j = 0; was && j < p->n; j++) clg_grad_set_enabled(p->r[j].ctx, was[j]);
    double v[2] = {0, 0};
    for (int j = 0; st == CLG_OK && j < p->n; j++) {
        float fl = 0, fc = 0;
        st = clg_tensor_to_host(al[j], &fl, sizeof fl);
        if (st == CLG_OK) st = clg_tensor_to_host(ac[j], &fc, sizeof fc);
        v[0] += fl, v[1] += fc;
    }
    if (p->ranks > 1) { /* every rank, also one that failed */
        double f[3] = {v[0], v[1], st != CLG_OK};
        clg_status s2 = clg_dist_allreduce_sum_f64(f, 3, "summing the evaluation");
        if (st == CLG_OK) st = s2 != CLG_OK ? s2 : f[2] > 0 ? clg_fail(CLG_STATUS_IO_ERROR, "summing the evaluation: "
                                                                       "another MPI rank failed") : CLG_OK;
        v[0] = f[0], v[1] = f[1];
    }
    *loss = n > 0 ? v[0] / (double)n : NAN;
    *acc = met && n > 0 ? v[1] / (double)n : NAN;
    for (int j = 0; j < p->n; j++) clg_tensor_free(al ? al[j] : NULL), clg_tensor_free(ac ? ac[j] : NULL);
    free(al), free(ac), free(part), free(was);
    return st;
}

clg_status clg_par_predict(clg_model *m, const clg_host_array *x, int batch, float *out) {
    clg_par *p = m->par;
    const clg_node *last = m->outputs[0];
    const int64_t orow = clg_prod(last->ndim, last->shape), n = x->shape[0];
    size_t xrb = (size_t)clg_nn_row_elems(x) * clg_dtype_size(x->dtype);
    int64_t start = 0, *part = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *part), most = 0;
    clg_status st = part ? split_rows(p, 0, n, &start, part) : clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "predicting");
    for (int j = 0; st == CLG_OK && j < p->n; j++)
        if (part[j] > most) most = part[j];
    int *was = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *was);
    for (int j = 0; was && j < p->n; j++) was[j] = clg_grad_set_enabled(p->r[j].ctx, 0);
    for (int64_t s0 = 0; st == CLG_OK && s0 < most; s0 += batch) {
        /* every device's batch queued first, then the outputs read */
        clg_tensor **o = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *o);
        if (!o) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "predicting");
        int64_t off = start;
        for (int j = 0; st == CLG_OK && j < p->n; j++, off += part[j - 1]) {
            replica *r = &p->r[j];
            if (s0 >= part[j]) continue;
            int64_t c = part[j] - s0 < batch ? part[j] - s0 : batch;
            clg_tensor *xt = clg_nn_batch_tensor(r->ctx, x, c, 0);
            st = xt ? clg_tensor_write(xt, (const char *)x->data + (size_t)(off + s0) * xrb, xrb * (size_t)c)
                    : clg_last_status();
            if (st == CLG_OK && !(o[j] = clg_nn_forward(r->m, xt, 0))) st = clg_last_status();
            clg_tensor_free(xt);
            if (st != CLG_OK) st = clg_fail_wrap(st, "predicting on %s", dev_label(r));
        }
        off = start;
        for (int j = 0; o && j < p->n; j++) {
            if (st == CLG_OK && o[j]) {
                int64_t c = part[j] - s0 < batch ? part[j] - s0 : batch;
                st = clg_tensor_to_host(o[j], out + (off + s0) * orow, (size_t)(c * orow) * sizeof(float));
            }
            clg_tensor_free(o[j]);
            off += part[j];
        }
        free(o);
    }
    for (int j = 0; was && j < p->n; j++) clg_grad_set_enabled(p->r[j].ctx, was[j]);
    free(was), free(part);
    if (p->ranks > 1) st = agree(p, st, NULL, "predicting");
    if (st == CLG_OK && p->ranks > 1) { /* every rank gets every row */
        size_t *counts = malloc((size_t)p->ranks * sizeof *counts);
        float *mine = NULL;
        int64_t lo, hi;
        rank_rows(p, n, &lo, &hi);
        if (counts) {
            for (int k = 0; k < p->ranks; k++)
                counts[k] = (size_t)((n * (k + 1) / p->ranks - n * k / p->ranks) * orow);
            mine = malloc(counts[p->rank] * sizeof *mine + 1);
        }
        if (!counts || !mine) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "gathering predictions");
        if (st == CLG_OK) {
            memcpy(mine, out + lo * orow, counts[p->rank] * sizeof *mine);
            st = clg_dist_allgatherv_f32(mine, counts, out, "gathering predictions");
        }
        free(counts), free(mine);
    }
    return st;
}
