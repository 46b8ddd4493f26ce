/* The thread-safety contract of include/clgrad/runtime.h, exercised:
 *  - different contexts used from different threads at once, on the same
 *    device: two threads each make a context and train the same model; each
 *    must end bit for bit where a lone run ends (the kernels reduce in a fixed
 *    order), so a race that changes one number shows;
 *  - one context shared by threads that guard it with a mutex, as the header
 *    asks: each thread's results stay its own;
 *  - the device functions from many threads at once agree;
 *  - error messages are per thread (a failure in one thread does not change
 *    what another reads);
 *  - two threads saving to the same file at once leave one whole version,
 *    and a third reading it meanwhile never finds a torn file.
 * scripts/test.sh builds this file with ThreadSanitizer too (see there). */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "fixture.h"

enum { NS = 32, NF = 6, NC = 3, EPOCHS = 4, NTHREADS = 2 };

typedef struct train_job {
    clg_context *ctx; /* NULL: the thread makes its own */
    float out[NS * NC];
    float loss[EPOCHS];
    char error[512];
} train_job;

static void make_data(float *x, int32_t *y) {
    clg_test_random_floats(x, (size_t)NS * NF, 11);
    for (int i = 0; i < NS; i++) y[i] = (x[i * NF] + x[i * NF + 1] > 0) + (x[i * NF + 2] > 0.5f);
}

/* Trains a small MLP from seed 3 and records its losses and its predictions;
 * on failure, the message. Uses only its own context. */
static void train(train_job *job) {
    float x[NS * NF];
    int32_t y[NS];
    make_data(x, y);
    clg_host_array xa = clg_test_host_array(x, CLG_FLOAT32, 2, (int64_t[]){NS, NF});
    clg_host_array ya = clg_test_host_array(y, CLG_INT32, 1, (int64_t[]){NS});
    clg_model *m = clg_sequential_new(job->ctx, 1, (int64_t[]){NF});
    clg_history *h = NULL;
    int ok = m && clg_model_add(m, clg_layer_dense(16, CLG_ACT_RELU)) == CLG_OK &&
             clg_model_add(m, clg_layer_dense(NC, CLG_ACT_SOFTMAX)) == CLG_OK &&
             clg_model_set_seed(m, 3) == CLG_OK &&
             clg_model_compile(m, "adam", "sparse_categorical_crossentropy", NULL) == CLG_OK;
    if (ok) {
        clg_fit_options o = clg_fit_options_default();
        o.epochs = EPOCHS, o.batch_size = 8, o.verbose = 0;
        h = clg_model_fit(m, &xa, &ya, &o);
        ok = h != NULL && clg_model_predict(m, &xa, 8, job->out, NS * NC) == CLG_OK;
    }
    if (ok)
        for (int e = 0; e < EPOCHS; e++) job->loss[e] = h->loss[e];
    else
        snprintf(job->error, sizeof job->error, "%s", clg_last_error());
    clg_history_free(h);
    clg_model_free(m);
}

static void *train_thread(void *arg) {
    train_job *job = arg;
    clg_context_options opts = clg_context_options_default();
    opts.deterministic = 1;
    job->ctx = clg_context_new(&opts);
    if (!job->ctx) snprintf(job->error, sizeof job->error, "context: %s", clg_last_error());
    else train(job);
    clg_context_free(job->ctx);
    job->ctx = NULL;
    return NULL;
}

static void expect_same(const train_job *a, const train_job *b, const char *what) {
    if (a->error[0] || b->error[0]) fail_msg("%s: %s%s", what, a->error, b->error);
    for (int e = 0; e < EPOCHS; e++)
        if (a->loss[e] != b->loss[e]) fail_msg("%s: loss of epoch %d %.9g vs %.9g", what, e, a->loss[e], b->loss[e]);
    for (int i = 0; i < NS * NC; i++)
        if (a->out[i] != b->out[i]) fail_msg("%s: prediction %d %.9g vs %.9g", what, i, a->out[i], b->out[i]);
    if (!(a->loss[EPOCHS - 1] < a->loss[0])) fail_msg("%s: did not train (%g -> %g)", what, a->loss[0], a->loss[EPOCHS - 1]);
}

static void test_contexts_in_parallel(void **state) {
    (void)state;
    train_job lone = {0};
    train_thread(&lone); /* the reference: one thread, nothing beside it */
    train_job jobs[NTHREADS] = {{0}};
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) assert_int_equal(pthread_create(&th[i], NULL, train_thread, &jobs[i]), 0);
    for (int i = 0; i < NTHREADS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < NTHREADS; i++) expect_same(&lone, &jobs[i], "a context per thread");
}

/* One context, two threads, a mutex held for each use (the header's rule). Each
 * thread computes sum(a * k) for its own k many times and checks the value. */
typedef struct shared_job {
    clg_context *ctx;
    pthread_mutex_t *lock;
    float k;
    int rounds, wrong;
    char error[512];
} shared_job;

static void *shared_thread(void *arg) {
    shared_job *job = arg;
    float a[64];
    double want = 0;
    for (int i = 0; i < 64; i++) a[i] = (float)i, want += (double)i * job->k;
    for (int r = 0; r < job->rounds; r++) {
        pthread_mutex_lock(job->lock);
        clg_tensor *t = clg_tensor_from_host(job->ctx, CLG_FLOAT32, 1, (int64_t[]){64}, a);
        clg_tensor *s = t ? clg_mul_scalar(t, job->k) : NULL;
        clg_tensor *sum = s ? clg_sum(s, 0, NULL, 0) : NULL;
        float got = NAN;
        clg_status st = sum ? clg_tensor_to_host(sum, &got, sizeof got) : clg_last_status();
        if (st != CLG_OK && !job->error[0]) snprintf(job->error, sizeof job->error, "%s", clg_last_error());
        clg_tensor_free(sum);
        clg_tensor_free(s);
        clg_tensor_free(t);
        pthread_mutex_unlock(job->lock);
        if (st == CLG_OK && fabs(got - want) > 1e-3 * fabs(want)) job->wrong++;
    }
    return NULL;
}

static void test_shared_context_with_lock(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    shared_job jobs[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        jobs[i] = (shared_job){.ctx = ctx, .lock = &lock, .k = (float)(i + 2), .rounds = 40};
        assert_int_equal(pthread_create(&th[i], NULL, shared_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < NTHREADS; i++) {
        if (jobs[i].error[0]) fail_msg("thread %d: %s", i, jobs[i].error);
        assert_int_equal(jobs[i].wrong, 0);
    }
    /* the context is still good for its owner */
    train_job again = {.ctx = ctx};
    train(&again);
    if (again.error[0]) fail_msg("after sharing: %s", again.error);
}

typedef struct query_job {
    size_t count, chosen;
    char first[256];
    clg_status st;
} query_job;

static void *query_thread(void *arg) {
    query_job *job = arg;
    for (int r = 0; r < 5; r++) {
        clg_device_info *list = NULL;
        job->st = clg_devices_query(&list, &job->count);
        if (job->st == CLG_OK) job->st = clg_device_select(list, job->count, NULL, &job->chosen);
        if (job->st == CLG_OK) snprintf(job->first, sizeof job->first, "%s", list[job->chosen].name);
        clg_devices_free(list);
        if (job->st != CLG_OK) break;
    }
    return NULL;
}

static void test_device_functions_from_threads(void **state) {
    (void)state;
    enum { N = 4 };
    query_job jobs[N] = {{0}};
    pthread_t th[N];
    for (int i = 0; i < N; i++) assert_int_equal(pthread_create(&th[i], NULL, query_thread, &jobs[i]), 0);
    for (int i = 0; i < N; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].st, CLG_OK);
        assert_true(jobs[i].count >= 1);
        assert_int_equal(jobs[i].count, jobs[0].count);
        assert_int_equal(jobs[i].chosen, jobs[0].chosen);
        assert_string_equal(jobs[i].first, jobs[0].first);
    }
}

/* Thread A fails and then waits; thread B succeeds and fails differently; A's
 * message must still be its own. */
typedef struct error_job {
    pthread_barrier_t *barrier;
    clg_context *ctx;
    int which;
    char seen[512];
} error_job;

static void *error_thread(void *arg) {
    error_job *job = arg;
    if (job->which == 0) {
        (void)clg_tensor_reshape(NULL, 1, (int64_t[]){1});
        pthread_barrier_wait(job->barrier);
        pthread_barrier_wait(job->barrier); /* B fails in between */
    } else {
        pthread_barrier_wait(job->barrier);
        clg_context_options opts = clg_context_options_default();
        opts.device = "no-such-device-anywhere";
        job->ctx = clg_context_new(&opts); /* fails: no such device */
        pthread_barrier_wait(job->barrier);
    }
    snprintf(job->seen, sizeof job->seen, "%s", clg_last_error());
    return NULL;
}

static void test_errors_are_per_thread(void **state) {
    (void)state;
    pthread_barrier_t barrier;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
    error_job jobs[2] = {{.barrier = &barrier, .which = 0}, {.barrier = &barrier, .which = 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, error_thread, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&barrier);
    assert_null(jobs[1].ctx);
    if (!strstr(jobs[0].seen, "clg_tensor_reshape") || strstr(jobs[0].seen, "no-such-device"))
        fail_msg("thread A reads \"%s\"", jobs[0].seen);
    if (!strstr(jobs[1].seen, "no-such-device-anywhere")) fail_msg("thread B reads \"%s\"", jobs[1].seen);
}

/* Two threads save different versions to one path at once, many times: the
 * file is always one whole version (every value equals the version's number). */
enum { SAVE_N = 4096, SAVES = 30 };

typedef struct save_job {
    const char *path;
    float version;
    clg_status st;
    char error[512];
} save_job;

static void *save_thread(void *arg) {
    save_job *job = arg;
    float *data = malloc(SAVE_N * sizeof *data);
    for (int i = 0; i < SAVE_N; i++) data[i] = job->version;
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    job->st = w ? clg_safetensors_writer_add_host(w, "v", CLG_SAFETENSORS_F32, 1, (int64_t[]){SAVE_N}, data)
                : clg_last_status();
    for (int r = 0; job->st == CLG_OK && r < SAVES; r++) job->st = clg_safetensors_writer_save(w, job->path);
    if (job->st != CLG_OK) snprintf(job->error, sizeof job->error, "%s", clg_last_error());
    clg_safetensors_writer_free(w);
    free(data);
    return NULL;
}

/* Opens the file over and over while the writers run: every open that finds
 * it must read one whole version. */
typedef struct read_job {
    const char *path;
    atomic_int *stop;
    int reads, torn;
} read_job;

static void *read_thread(void *arg) {
    read_job *job = arg;
    float got[SAVE_N];
    while (!atomic_load(job->stop)) {
        clg_safetensors *f = NULL;
        if (clg_safetensors_open(job->path, &f) != CLG_OK) continue; /* not written yet */
        int ok = clg_safetensors_read(f, "v", got, sizeof got) == CLG_OK && (got[0] == 1.0f || got[0] == 2.0f);
        for (int i = 1; ok && i < SAVE_N; i++) ok = got[i] == got[0];
        clg_safetensors_free(f);
        job->reads++, job->torn += !ok;
    }
    return NULL;
}

static void test_concurrent_saves(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("threads");
    char *path = clg_test_path_in(dir, "same.safetensors");
    save_job jobs[2] = {{.path = path, .version = 1}, {.path = path, .version = 2}};
    atomic_int stop = 0;
    read_job reader = {.path = path, .stop = &stop};
    pthread_t th[2], rt;
    assert_int_equal(pthread_create(&rt, NULL, read_thread, &reader), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, save_thread, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    atomic_store(&stop, 1);
    assert_int_equal(pthread_join(rt, NULL), 0);
    if (reader.torn) fail_msg("%d of %d reads during the saves found a torn file", reader.torn, reader.reads);
    for (int i = 0; i < 2; i++)
        if (jobs[i].st != CLG_OK) fail_msg("writer %d: %s", i, jobs[i].error);
    clg_safetensors *f = NULL;
    if (clg_safetensors_open(path, &f) != CLG_OK) fail_msg("open: %s", clg_last_error());
    float got[SAVE_N];
    assert_int_equal(clg_safetensors_read(f, "v", got, sizeof got), CLG_OK);
    for (int i = 1; i < SAVE_N; i++) assert_true(got[i] == got[0]);
    assert_true(got[0] == 1.0f || got[0] == 2.0f);
    clg_safetensors_free(f);
    free(path);
    clg_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contexts_in_parallel),     cmocka_unit_test(test_shared_context_with_lock),
        cmocka_unit_test(test_device_functions_from_threads), cmocka_unit_test(test_errors_are_per_thread),
        cmocka_unit_test(test_concurrent_saves),
    };
    return CLG_RUN_GROUP(tests);
}
