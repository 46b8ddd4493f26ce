/* Fault injection (runtime/fault.c): the training step of a small model --
 * compile and fit with a captured step, its replay, an eager last batch and
 * validation -- of an MLP (two epochs, sample weights, early stopping), a CNN,
 * an LSTM/GRU model and an attention model is made to fail at every buffer
 * allocation, program build, enqueue and read it performs, one at a time
 * (N = 1, 2, ... until the step runs without reaching the fault). Each failure
 * must reach the caller with the OpenCL code's name and what was being done,
 * give back every device buffer, and leave the model able to train again to a
 * finite loss. Also: faults while a step is captured and while it replays (the
 * same step then replays bit for bit), FFT convolution, events, CLBlast
 * products, the fused optimizer update, saving and loading, the out-of-memory
 * message, and CLGRAD_FAULT's syntax. CLGRAD_TEST_FAULTS_VERBOSE=1 prints
 * every message. */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime_impl.h"

enum { NS = 10, NC = 4, BATCH = 4, MAXF = 36 };

/* The models walked: each has device state beyond its weights (batch
 * statistics, dropout's counter, recurrent states) or its own kernels. */
typedef enum model_kind { MLP, CNN, RNN, ATTENTION, MODEL_KINDS } model_kind;
static const char *const model_names[MODEL_KINDS] = {"mlp", "cnn", "rnn", "attention"};

typedef struct data {
    float x[NS * MAXF];
    int32_t y[NS];
    clg_host_array xa, ya;
} data;

static void data_init(data *d, model_kind kind) {
    static const int64_t shapes[MODEL_KINDS][3] = {{4}, {6, 6, 1}, {5, 3}, {5, 3}};
    static const int ranks[MODEL_KINDS] = {1, 3, 2, 2};
    int64_t shape[4] = {NS}, per = 1;
    for (int i = 0; i < ranks[kind]; i++) per *= shape[i + 1] = shapes[kind][i];
    clg_test_random_floats(d->x, (size_t)(NS * per), 7);
    for (int i = 0; i < NS; i++) d->y[i] = i % NC;
    d->xa = clg_test_host_array(d->x, CLG_FLOAT32, ranks[kind] + 1, shape);
    d->ya = clg_test_host_array(d->y, CLG_INT32, 1, (int64_t[]){NS});
}

static clg_model *model_new(clg_context *ctx, model_kind kind) {
    clg_model *m = NULL;
    clg_layer *layers[6] = {NULL};
    if (kind == MLP) {
        m = clg_sequential_new(ctx, 1, (int64_t[]){4});
        layers[0] = clg_layer_dense(16, CLG_ACT_RELU);
        layers[1] = clg_layer_batch_normalization();
        layers[2] = clg_layer_dropout(0.25f);
        layers[3] = clg_layer_activation(CLG_ACT_TANH);
    } else if (kind == CNN) {
        m = clg_sequential_new(ctx, 3, (int64_t[]){6, 6, 1});
        layers[0] = clg_layer_conv2d(4, 3, 3, CLG_ACT_RELU);
        layers[1] = clg_layer_max_pooling2d(2, 2);
        layers[2] = clg_layer_layer_normalization();
        layers[3] = clg_layer_flatten();
    } else if (kind == RNN) {
        m = clg_sequential_new(ctx, 2, (int64_t[]){5, 3});
        layers[0] = clg_layer_lstm(8, 1, 0);
        layers[1] = clg_layer_gru(6, 0, 1);
    } else {
        m = clg_sequential_new(ctx, 2, (int64_t[]){5, 3});
        layers[0] = clg_layer_position_embedding(5);
        layers[1] = clg_layer_multi_head_attention(2, 4, 1);
        layers[2] = clg_layer_flatten();
    }
    assert_non_null(m);
    for (int i = 0; layers[i]; i++) assert_int_equal(clg_model_add(m, layers[i]), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(NC, CLG_ACT_SOFTMAX)), CLG_OK);
    assert_int_equal(clg_model_set_seed(m, 3), CLG_OK);
    return m;
}

/* The step: compile (until it has succeeded once) and fit: two full batches per
 * epoch (captured, then replayed), a partial one (eager) and validation on the
 * same data (evaluate's reads). The MLP trains two epochs with sample weights
 * and early stopping that keeps the best weights (device copies); saving is
 * test_save_load_faults' (each save syncs the disk). *loss gets the last
 * epoch's loss. */
static clg_status train(clg_model *m, int *compiled, const data *d, model_kind kind, float *loss) {
    *loss = NAN;
    if (!*compiled) {
        clg_status st = clg_model_compile(m, "adam", "sparse_categorical_crossentropy", "accuracy");
        if (st != CLG_OK) return st;
        *compiled = 1;
    }
    clg_fit_options o = clg_fit_options_default();
    o.epochs = 1, o.batch_size = BATCH, o.verbose = 0, o.shuffle = 0;
    o.validation_x = &d->xa, o.validation_y = &d->ya;
    float weights[NS];
    clg_callback *stop = NULL;
    if (kind == MLP) {
        assert_non_null(stop = clg_callback_early_stopping("val_loss", 1, 1));
        o.callbacks = (const clg_callback *const *)&stop, o.ncallbacks = 1;
        for (int i = 0; i < NS; i++) weights[i] = 0.5f + 0.1f * (float)i;
        o.sample_weight = weights;
        o.epochs = 2;
    }
    clg_history *h = clg_model_fit(m, &d->xa, &d->ya, &o);
    clg_callback_free(stop);
    if (!h) return clg_last_status();
    *loss = h->loss[h->epochs - 1];
    assert_true(isfinite(h->val_loss[h->epochs - 1]));
    clg_history_free(h);
    return CLG_OK;
}

static int verbose(void) {
    const char *v = getenv("CLGRAD_TEST_FAULTS_VERBOSE");
    return v && strcmp(v, "1") == 0;
}

/* What the message of a fault of each kind must say besides the code's name. */
static void check_message(clg_fault_kind kind, uint64_t n, const char *code_name) {
    const char *msg = clg_last_error();
    char tag[64];
    snprintf(tag, sizeof tag, "injected fault (%s #%llu)", clg_fault_kind_name(kind), (unsigned long long)n);
    if (!strstr(msg, tag) || !strstr(msg, code_name))
        fail_msg("%s #%llu: message lacks '%s' or '%s': %s", clg_fault_kind_name(kind), (unsigned long long)n, tag,
                 code_name, msg);
    if (!strstr(msg, "clg_model_compile") && !strstr(msg, "clg_model_fit"))
        fail_msg("the message does not name the call that failed: %s", msg);
    /* what was being done: the text the call's name follows */
    const char *calls[] = {"clEnqueueNDRangeKernel", "clEnqueueWriteBuffer", "clEnqueueCopyBuffer",
                           "clEnqueueReadBuffer",    "CLBlastSgemm",         "clfftEnqueueTransform",
                           "clEnqueueMarker",        "clEnqueueBarrier"};
    switch (kind) {
    case CLG_FAULT_ALLOC: {
        /* "out of device memory allocating 64 bytes (256 B size class) for X on D: 1234 bytes (1.2 KiB) in use" */
        const char *a = strstr(msg, "out of device memory allocating ");
        unsigned long long want = 0, used = 0;
        char what[64] = "";
        if (!a || sscanf(a, "out of device memory allocating %llu bytes (%*[^)]) for %63s", &want, what) != 2 ||
            want == 0 || !strcmp(what, "on") || !strstr(a, " bytes (") || !strstr(a, "in use by tensors"))
            fail_msg("alloc #%llu: no bytes requested, object or bytes in use: %s", (unsigned long long)n, msg);
        const char *u = strstr(a, "): ");
        if (!u || sscanf(u, "): %llu bytes", &used) != 1) /* in use may be 0: only present */
            fail_msg("alloc #%llu: no bytes in use: %s", (unsigned long long)n, msg);
        break;
    }
    case CLG_FAULT_BUILD:
        if (!strstr(msg, "building OpenCL program '") || !strstr(msg, "with options '"))
            fail_msg("build #%llu: no program name or options: %s", (unsigned long long)n, msg);
        break;
    case CLG_FAULT_ENQUEUE:
    case CLG_FAULT_READ: {
        const char *call = NULL;
        for (size_t i = 0; i < sizeof calls / sizeof *calls && !call; i++) call = strstr(msg, calls[i]);
        if (!call) fail_msg("%s #%llu: no OpenCL call named: %s", clg_fault_kind_name(kind), (unsigned long long)n, msg);
        /* Between the tag and the call: the operation, tensor or kernel ("x: "). */
        const char *after_tag = strstr(msg, tag) + strlen(tag) + 2;
        if (call - after_tag < 4)
            fail_msg("%s #%llu: no context before the call: %s", clg_fault_kind_name(kind), (unsigned long long)n, msg);
        if (kind == CLG_FAULT_READ && !strstr(msg, "clEnqueueReadBuffer"))
            fail_msg("read #%llu: not a read: %s", (unsigned long long)n, msg);
        break;
    }
    default:
        break;
    }
}

typedef struct walk {
    clg_fault_kind kind;
    cl_int code;
    clg_status status; /* what the caller must get */
    int fresh_context; /* builds: a new context each time, whose programs are not in memory */
} walk;

/* Fails the step of model mk at operation 1, 2, ... of w->kind until it
 * completes without reaching the fault; returns how many operations of the kind
 * the step performed (each of which was failed once). */
static uint64_t walk_step(clg_context *shared, const walk *w, model_kind mk) {
    data d;
    data_init(&d, mk);
    const char *kind = clg_fault_kind_name(w->kind), *model = model_names[mk];
    const char *code_name = clg_cl_error_name(w->code);
    for (uint64_t n = 1;; n++) {
        clg_context *ctx = w->fresh_context ? clg_context_new(NULL) : shared;
        assert_non_null(ctx);
        const uint64_t base = clg_context_get_stats(ctx).bytes_in_use;
        clg_model *m = model_new(ctx, mk);
        int compiled = 0;
        float loss;
        assert_int_equal(clg_fault_set(ctx, w->kind, n, w->code), CLG_OK);
        clg_status st = train(m, &compiled, &d, mk, &loss);
        const int fired = clg_fault_fired(ctx);
        const uint64_t seen = clg_fault_seen(ctx);
        clg_fault_clear(ctx);
        if (!fired) {
            if (st != CLG_OK) fail_msg("%s %s: no fault reached, yet: %s", model, kind, clg_last_error());
            assert_true(isfinite(loss));
            assert_true(seen == n - 1);
            clg_model_free(m);
            assert_true(clg_context_get_stats(ctx).bytes_in_use == base);
            if (ctx != shared) clg_context_free(ctx);
            return n - 1;
        }
        if (verbose())
            fprintf(stderr, "%s %s #%llu: %s\n", model, kind, (unsigned long long)n,
                    st != CLG_OK ? clg_last_error() : "(no error)");
        if (st == CLG_OK)
            fail_msg("%s %s #%llu fired but the step succeeded: the error was lost", model, kind,
                     (unsigned long long)n);
        if (clg_last_status() != w->status)
            fail_msg("%s %s #%llu: expected %s, got %s: %s", model, kind, (unsigned long long)n,
                     clg_status_name(w->status), clg_status_name(clg_last_status()), clg_last_error());
        check_message(w->kind, n, code_name);
        /* the same model trains again, to a finite loss */
        st = train(m, &compiled, &d, mk, &loss);
        if (st != CLG_OK)
            fail_msg("%s %s #%llu: training again failed: %s", model, kind, (unsigned long long)n, clg_last_error());
        if (!isfinite(loss))
            fail_msg("%s %s #%llu: training again gave loss %g", model, kind, (unsigned long long)n, (double)loss);
        clg_model_free(m);
        /* every buffer of the failed step went back */
        const uint64_t left = clg_context_get_stats(ctx).bytes_in_use;
        if (left != base)
            fail_msg("%s %s #%llu: %llu bytes in use after freeing the model, %llu before", model, kind,
                     (unsigned long long)n, (unsigned long long)left, (unsigned long long)base);
        if (ctx != shared) clg_context_free(ctx);
    }
}

/* Walks every model; each must reach at least `least` operations of the kind. */
static void walk_models(clg_context *shared, const walk *w, uint64_t least) {
    for (int mk = 0; mk < MODEL_KINDS; mk++) {
        uint64_t count = walk_step(shared, w, (model_kind)mk);
        print_message("%s %s: the step failed at each of %llu points\n", model_names[mk],
                      clg_fault_kind_name(w->kind), (unsigned long long)count);
        if (count < least)
            fail_msg("%s: only %llu %s operations", model_names[mk], (unsigned long long)count,
                     clg_fault_kind_name(w->kind));
    }
}

static void test_alloc_faults(void **state) {
    walk w = {CLG_FAULT_ALLOC, CL_MEM_OBJECT_ALLOCATION_FAILURE, CLG_STATUS_OUT_OF_DEVICE_MEMORY, 0};
    walk_models(clg_test_ctx(state), &w, 20);
}

static void test_enqueue_faults(void **state) {
    walk w = {CLG_FAULT_ENQUEUE, CL_OUT_OF_RESOURCES, CLG_STATUS_OUT_OF_DEVICE_MEMORY, 0};
    walk_models(clg_test_ctx(state), &w, 50);
}

static void test_read_faults(void **state) {
    walk w = {CLG_FAULT_READ, CL_INVALID_COMMAND_QUEUE, CLG_STATUS_OPENCL_ERROR, 0};
    walk_models(clg_test_ctx(state), &w, 2);
}

static void test_build_faults(void **state) {
    walk w = {CLG_FAULT_BUILD, CL_BUILD_PROGRAM_FAILURE, CLG_STATUS_BUILD_FAILED, 1};
    walk_models(clg_test_ctx(state), &w, 3);
}

/* --- captured and replayed steps ------------------------------------------------------ */

enum { RN = 8, RD = 12 };

typedef struct grad_model {
    clg_tensor *x, *w, *b;
    float hx[RN * RD];
} grad_model;

static void grad_model_init(clg_context *ctx, grad_model *m) {
    m->x = clg_tensor_zeros(ctx, CLG_FLOAT32, 2, (int64_t[]){RN, RD});
    m->w = clg_tensor_rand_uniform(ctx, 1, (int64_t[]){RD}, -1, 1, 12, 0);
    m->b = clg_tensor_rand_uniform(ctx, 1, (int64_t[]){RD}, -0.1f, 0.1f, 13, 0);
    assert_true(m->x && m->w && m->b);
    assert_int_equal(clg_tensor_set_requires_grad(m->w, 1), CLG_OK);
    assert_int_equal(clg_tensor_set_requires_grad(m->b, 1), CLG_OK);
    clg_test_random_floats(m->hx, RN * RD, 11);
}

static void grad_model_free(grad_model *m) {
    clg_tensor_free(m->x);
    clg_tensor_free(m->w);
    clg_tensor_free(m->b);
}

/* Upload x (a host write the step records), then the gradients of
 * mean(softmax(relu(x * w + b))^2): the loss, or NULL with the error recorded. */
static clg_tensor *grad_step(grad_model *m) {
    if (clg_tensor_write(m->x, m->hx, sizeof m->hx) != CLG_OK) return NULL;
    if (clg_tensor_zero_grad(m->w) != CLG_OK || clg_tensor_zero_grad(m->b) != CLG_OK) return NULL;
    clg_tensor *xw = clg_mul(m->x, m->w);
    clg_tensor *h = xw ? clg_add(xw, m->b) : NULL;
    clg_tensor *r = h ? clg_relu(h) : NULL;
    clg_tensor *p = r ? clg_softmax(r, -1) : NULL;
    clg_tensor *sq = p ? clg_square(p) : NULL;
    clg_tensor *loss = sq ? clg_mean(sq, 0, NULL, 0) : NULL;
    clg_tensor *mid[] = {xw, h, r, p, sq};
    for (int i = 0; i < 5; i++) clg_tensor_free(mid[i]); /* the graph keeps what it needs */
    if (loss && clg_backward(loss, NULL) != CLG_OK) {
        clg_tensor_free(loss);
        return NULL;
    }
    return loss;
}

typedef struct grads {
    float loss, gw[RD], gb[RD];
} grads;

static void read_grads(const grad_model *m, const clg_tensor *loss, grads *g) {
    assert_int_equal(clg_tensor_to_host(loss, &g->loss, sizeof g->loss), CLG_OK);
    assert_int_equal(clg_tensor_to_host(clg_tensor_grad(m->w), g->gw, sizeof g->gw), CLG_OK);
    assert_int_equal(clg_tensor_to_host(clg_tensor_grad(m->b), g->gb, sizeof g->gb), CLG_OK);
}

/* A clean capture of the step replayed once must give `want`, bit for bit. */
static void check_capture_replay(clg_context *ctx, grad_model *m, const grads *want) {
    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    clg_tensor *loss = grad_step(m);
    clg_step *step = clg_step_capture_end(ctx);
    if (!loss || !step) fail_msg("capture after a fault: %s", clg_last_error());
    assert_int_equal(clg_step_replay(step), CLG_OK);
    grads got;
    read_grads(m, loss, &got);
    assert_memory_equal(&got, want, sizeof got);
    clg_tensor_free(loss);
    clg_step_free(step);
}

/* Faults while a step is captured, then while it replays: each error reaches
 * the caller, and a new capture, or the same step replayed again, computes what
 * the eager step did. */
static void test_step_faults(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const uint64_t base = clg_context_get_stats(ctx).bytes_in_use;
    grad_model m;
    grad_model_init(ctx, &m);
    grads want;
    clg_tensor *loss = grad_step(&m);
    assert_non_null(loss);
    read_grads(&m, loss, &want);
    clg_tensor_free(loss);

    const clg_fault_kind kinds[2] = {CLG_FAULT_ALLOC, CLG_FAULT_ENQUEUE};
    for (int k = 0; k < 2; k++) {
        uint64_t n = 1;
        for (;; n++) {
            assert_int_equal(clg_fault_set(ctx, kinds[k], n, CL_SUCCESS), CLG_OK);
            assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
            loss = grad_step(&m);
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", clg_last_error());
            clg_status st = clg_last_status();
            clg_step *step = clg_step_capture_end(ctx); /* flushes lazy results: it may fail too */
            if (loss && !step) {
                snprintf(msg, sizeof msg, "%s", clg_last_error());
                st = clg_last_status();
            }
            const int fired = clg_fault_fired(ctx), ok = loss && step;
            clg_fault_clear(ctx);
            clg_tensor_free(loss);
            clg_step_free(step);
            if (!fired) {
                assert_true(ok);
                break;
            }
            if (ok) fail_msg("capture: %s #%llu fired, the step succeeded", clg_fault_kind_name(kinds[k]),
                             (unsigned long long)n);
            if (st != CLG_STATUS_OUT_OF_DEVICE_MEMORY || !strstr(msg, "injected fault"))
                fail_msg("capture: %s #%llu: %s: %s", clg_fault_kind_name(kinds[k]), (unsigned long long)n,
                         clg_status_name(st), msg);
            check_capture_replay(ctx, &m, &want);
        }
        print_message("capture: %llu %s points\n", (unsigned long long)(n - 1), clg_fault_kind_name(kinds[k]));
        assert_true(n > 5);
    }

    assert_int_equal(clg_step_capture_begin(ctx), CLG_OK);
    loss = grad_step(&m);
    clg_step *step = clg_step_capture_end(ctx);
    assert_true(loss && step);
    uint64_t n = 1;
    for (;; n++) {
        assert_int_equal(clg_fault_set(ctx, CLG_FAULT_ENQUEUE, n, CL_OUT_OF_RESOURCES), CLG_OK);
        clg_status st = clg_step_replay(step);
        const int fired = clg_fault_fired(ctx);
        clg_fault_clear(ctx);
        if (!fired) {
            assert_int_equal(st, CLG_OK);
            break;
        }
        if (st == CLG_OK) fail_msg("replay: enqueue #%llu fired, the replay succeeded", (unsigned long long)n);
        const char *msg = clg_last_error();
        if (!strstr(msg, "CL_OUT_OF_RESOURCES") ||
            (!strstr(msg, "replaying a host write") && !strstr(msg, "kernel '")))
            fail_msg("replay: enqueue #%llu: %s", (unsigned long long)n, msg);
        assert_int_equal(clg_step_replay(step), CLG_OK);
        grads got;
        read_grads(&m, loss, &got);
        assert_memory_equal(&got, &want, sizeof got);
    }
    print_message("replay: %llu enqueue points\n", (unsigned long long)(n - 1));
    assert_true(n > 10);
    clg_tensor_free(loss);
    clg_step_free(step);
    grad_model_free(&m);
    assert_true(clg_context_get_stats(ctx).bytes_in_use == base);
}

/* --- other paths: a generic walk ---------------------------------------------------------- */

/* fn runs the work once and frees everything it makes; NULL status on success. */
typedef clg_status (*work_fn)(clg_context *ctx, void *user);

/* As walk_step for any work: each fault reaches the caller naming the code, the
 * work then succeeds, and no device memory stays behind. Returns the count. */
static uint64_t walk_work(clg_context *ctx, clg_fault_kind kind, cl_int code, work_fn fn, void *user,
                          const char *label) {
    for (uint64_t n = 1;; n++) {
        const uint64_t base = clg_context_get_stats(ctx).bytes_in_use;
        assert_int_equal(clg_fault_set(ctx, kind, n, code), CLG_OK);
        clg_status st = fn(ctx, user);
        const int fired = clg_fault_fired(ctx);
        clg_fault_clear(ctx);
        if (verbose())
            fprintf(stderr, "%s %s #%llu: %s\n", label, clg_fault_kind_name(kind), (unsigned long long)n,
                    st != CLG_OK ? clg_last_error() : "(no error)");
        if (!fired) {
            if (st != CLG_OK) fail_msg("%s: no fault reached, yet: %s", label, clg_last_error());
            print_message("%s %s: %llu points\n", label, clg_fault_kind_name(kind), (unsigned long long)(n - 1));
            return n - 1;
        }
        if (st == CLG_OK)
            fail_msg("%s %s #%llu fired but the work succeeded: the error was lost", label, clg_fault_kind_name(kind),
                     (unsigned long long)n);
        if (!strstr(clg_last_error(), "injected fault") || !strstr(clg_last_error(), clg_cl_error_name(code)))
            fail_msg("%s %s #%llu: %s", label, clg_fault_kind_name(kind), (unsigned long long)n, clg_last_error());
        if (fn(ctx, user) != CLG_OK)
            fail_msg("%s %s #%llu: again without the fault: %s", label, clg_fault_kind_name(kind), (unsigned long long)n,
                     clg_last_error());
        if (clg_context_get_stats(ctx).bytes_in_use != base)
            fail_msg("%s %s #%llu: %llu bytes in use, %llu before", label, clg_fault_kind_name(kind),
                     (unsigned long long)n, (unsigned long long)clg_context_get_stats(ctx).bytes_in_use,
                     (unsigned long long)base);
    }
}

/* Forward and backward of a convolution by FFT (clFFT's enqueues and scratch). */
static clg_status conv_fft_work(clg_context *ctx, void *user) {
    (void)user;
    clg_tensor *x = clg_tensor_rand_uniform(ctx, 4, (int64_t[]){2, 3, 8, 8}, -1, 1, 1, 0);
    clg_tensor *w = x ? clg_tensor_rand_uniform(ctx, 4, (int64_t[]){4, 3, 3, 3}, -1, 1, 2, 0) : NULL;
    clg_status st = w ? clg_tensor_set_requires_grad(w, 1) : clg_last_status();
    clg_conv2d_params p = clg_conv2d_params_default();
    p.algo = CLG_CONV_FFT;
    clg_tensor *y = st == CLG_OK ? clg_conv2d(x, w, NULL, &p) : NULL;
    clg_tensor *loss = y ? clg_mean(y, 0, NULL, 0) : NULL;
    if (st == CLG_OK) st = loss ? clg_backward(loss, NULL) : clg_last_status();
    float l = NAN, g[4 * 27];
    if (st == CLG_OK) st = clg_tensor_to_host(loss, &l, sizeof l);
    if (st == CLG_OK) st = clg_tensor_to_host(clg_tensor_grad(w), g, sizeof g);
    if (st == CLG_OK) assert_true(isfinite(l) && isfinite(g[0]));
    clg_tensor_free(loss), clg_tensor_free(y), clg_tensor_free(w), clg_tensor_free(x);
    return st;
}

static void test_conv_fft_faults(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    assert_true(walk_work(ctx, CLG_FAULT_ALLOC, CL_MEM_OBJECT_ALLOCATION_FAILURE, conv_fft_work, NULL, "conv fft") > 5);
    assert_true(walk_work(ctx, CLG_FAULT_ENQUEUE, CL_OUT_OF_RESOURCES, conv_fft_work, NULL, "conv fft") > 5);
    assert_true(walk_work(ctx, CLG_FAULT_READ, CL_OUT_OF_RESOURCES, conv_fft_work, NULL, "conv fft") == 2);
}

/* A marker and a wait on it (runtime/event.c). */
static clg_status event_work(clg_context *ctx, void *user) {
    (void)user;
    clg_event *ev = clg_event_record(ctx);
    if (!ev) return clg_last_status();
    clg_status st = clg_event_wait(ctx, ev);
    if (st == CLG_OK) st = clg_event_synchronize(ev);
    clg_event_free(ev);
    return st;
}

static void test_event_faults(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    assert_int_equal(walk_work(ctx, CLG_FAULT_ENQUEUE, CL_INVALID_COMMAND_QUEUE, event_work, NULL, "events"), 2);
}

/* The CNN's step with CLBlast for the products, convolution's im2col GEMM
 * included (its enqueues go through the hook). */
static void test_clblast_faults(void **state) {
    const char *old = getenv("CLGRAD_GEMM");
    char *saved = old ? strdup(old) : NULL;
    setenv("CLGRAD_GEMM", "clblast", 1);
    walk w = {CLG_FAULT_ENQUEUE, CL_OUT_OF_RESOURCES, CLG_STATUS_OUT_OF_DEVICE_MEMORY, 0};
    uint64_t count = walk_step(clg_test_ctx(state), &w, CNN);
    if (saved) setenv("CLGRAD_GEMM", saved, 1);
    else unsetenv("CLGRAD_GEMM");
    free(saved);
    print_message("cnn with CLBlast: %llu enqueue points\n", (unsigned long long)count);
    assert_true(count >= 50);
}

/* The optimizer's fused update of 8 parameters per launch (GPUs; PoCL runs one). */
static void test_fused_update_faults(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    const int saved = ctx->optim_group;
    ctx->optim_group = 8;
    walk w = {CLG_FAULT_ENQUEUE, CL_OUT_OF_RESOURCES, CLG_STATUS_OUT_OF_DEVICE_MEMORY, 0};
    uint64_t count = walk_step(ctx, &w, CNN);
    ctx->optim_group = saved;
    print_message("cnn with the fused update: %llu enqueue points\n", (unsigned long long)count);
    assert_true(count >= 50);
}

/* Saving a trained model and loading it back. */
typedef struct save_load {
    clg_model *model;
    char *dir, *path;
} save_load;

static clg_status save_load_work(clg_context *ctx, void *user) {
    save_load *s = user;
    clg_status st = clg_model_save(s->model, s->path);
    clg_model *back = st == CLG_OK ? clg_model_load(ctx, s->path) : NULL;
    if (st == CLG_OK && !back) st = clg_last_status();
    float out[NS * NC];
    data d;
    data_init(&d, MLP);
    if (st == CLG_OK) st = clg_model_predict(back, &d.xa, BATCH, out, NS * NC);
    clg_model_free(back);
    return st;
}

static void test_save_load_faults(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    save_load s = {model_new(ctx, MLP), clg_test_tempdir("faults"), NULL};
    assert_non_null(s.dir);
    s.path = clg_test_path_in(s.dir, "model.safetensors");
    int compiled = 0;
    data d;
    data_init(&d, MLP);
    float loss;
    assert_int_equal(train(s.model, &compiled, &d, CNN, &loss), CLG_OK); /* no checkpoint */
    assert_true(walk_work(ctx, CLG_FAULT_ALLOC, CL_MEM_OBJECT_ALLOCATION_FAILURE, save_load_work, &s, "save/load") > 10);
    assert_true(walk_work(ctx, CLG_FAULT_ENQUEUE, CL_OUT_OF_RESOURCES, save_load_work, &s, "save/load") > 10);
    assert_true(walk_work(ctx, CLG_FAULT_READ, CL_OUT_OF_RESOURCES, save_load_work, &s, "save/load") > 5);
    /* a failed save leaves no temporary behind */
    FILE *ls;
    char cmd[600], line[300];
    snprintf(cmd, sizeof cmd, "ls -a '%s'", s.dir);
    assert_non_null(ls = popen(cmd, "r"));
    while (fgets(line, sizeof line, ls))
        if (strcmp(line, ".\n") && strcmp(line, "..\n") && strcmp(line, "model.safetensors\n"))
            fail_msg("left in the directory: %s", line);
    pclose(ls);
    clg_model_free(s.model);
    clg_test_rmtree(s.dir);
    free(s.dir);
    free(s.path);
}

/* --- the hook itself --------------------------------------------------------------------- */

static void test_oom_message(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_tensor *held = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){1000});
    assert_non_null(held);
    const unsigned long long in_use = clg_context_get_stats(ctx).bytes_in_use;
    char want[64], used[64];
    snprintf(want, sizeof want, "allocating 40 bytes");
    snprintf(used, sizeof used, ": %llu bytes (", in_use);
    assert_int_equal(clg_fault_set(ctx, CLG_FAULT_ALLOC, 1, CL_SUCCESS), CLG_OK); /* the default code */
    CLG_EXPECT_ERROR(clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){10}) == NULL, CLG_STATUS_OUT_OF_DEVICE_MEMORY,
                     "injected fault (alloc #1)", want, "tensor [10]", used, "in use by tensors",
                     "CL_MEM_OBJECT_ALLOCATION_FAILURE");
    assert_true(clg_fault_fired(ctx));
    /* one shot: the next allocation succeeds */
    clg_tensor *t = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){10});
    assert_non_null(t);
    clg_tensor_free(t);
    /* a code other than out of memory is an OpenCL error of clCreateBuffer */
    assert_int_equal(clg_fault_set(ctx, CLG_FAULT_ALLOC, 2, CL_INVALID_BUFFER_SIZE), CLG_OK);
    t = clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){10});
    assert_non_null(t);
    assert_int_equal(clg_fault_seen(ctx), 1);
    CLG_EXPECT_ERROR(clg_tensor_zeros(ctx, CLG_FLOAT32, 1, (int64_t[]){10}) == NULL, CLG_STATUS_OPENCL_ERROR,
                     "clCreateBuffer failed with CL_INVALID_BUFFER_SIZE", want);
    assert_int_equal(clg_fault_seen(ctx), 2);
    clg_fault_clear(ctx);
    assert_false(clg_fault_fired(ctx));
    /* arming with nothing to fail is refused */
    CLG_EXPECT_ERROR(clg_fault_set(ctx, CLG_FAULT_READ, 0, CL_SUCCESS) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_fault_set");
    clg_tensor_free(t);
    clg_tensor_free(held);
}

static void test_parse(void **state) {
    (void)state;
    clg_fault f;
    assert_int_equal(clg_fault_parse("alloc:3:CL_MEM_OBJECT_ALLOCATION_FAILURE", &f), CLG_OK);
    assert_true(f.armed && f.kind == CLG_FAULT_ALLOC && f.nth == 3 && f.code == CL_MEM_OBJECT_ALLOCATION_FAILURE);
    assert_int_equal(clg_fault_parse("enqueue:120:-5", &f), CLG_OK);
    assert_true(f.armed && f.kind == CLG_FAULT_ENQUEUE && f.nth == 120 && f.code == CL_OUT_OF_RESOURCES);
    assert_int_equal(clg_fault_parse("build:1", &f), CLG_OK);
    assert_true(f.armed && f.kind == CLG_FAULT_BUILD && f.nth == 1 && f.code == CL_BUILD_PROGRAM_FAILURE);
    assert_int_equal(clg_fault_parse("read:2:CL_INVALID_VALUE", &f), CLG_OK);
    assert_true(f.kind == CLG_FAULT_READ && f.code == CL_INVALID_VALUE);
    assert_int_equal(clg_fault_parse("", &f), CLG_OK);
    assert_false(f.armed);
    assert_int_equal(clg_fault_parse(NULL, &f), CLG_OK);
    assert_false(f.armed);
    const char *bad[] = {"alloc",   "alloc:",     "alloc:0",      "alloc:-1",  "alloc:x",          "alloc:3x",
                         "allocs:1", "Alloc:1",   "alloc:1:",     "alloc:1:CL_NOPE", "alloc:1:0", "alloc:1:5",
                         ":1",      "read:1:-5:", "enqueue:99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (clg_fault_parse(bad[i], &f) == CLG_OK) fail_msg("'%s' was accepted", bad[i]);
        if (clg_last_status() != CLG_STATUS_INVALID_ARGUMENT || !strstr(clg_last_error(), "CLGRAD_FAULT"))
            fail_msg("'%s': %s", bad[i], clg_last_error());
    }
}

/* CLGRAD_FAULT arms every context made while it is set. */
static void test_environment(void **state) {
    (void)state;
    setenv("CLGRAD_FAULT", "read:2:CL_INVALID_VALUE", 1);
    clg_context *ctx = clg_context_new(NULL);
    unsetenv("CLGRAD_FAULT");
    if (!ctx) fail_msg("context: %s", clg_last_error());
    clg_tensor *t = clg_tensor_ones(ctx, CLG_FLOAT32, 1, (int64_t[]){3});
    assert_non_null(t);
    float v[3];
    assert_int_equal(clg_tensor_to_host(t, v, sizeof v), CLG_OK);
    CLG_EXPECT_ERROR(clg_tensor_to_host(t, v, sizeof v) != CLG_OK, CLG_STATUS_OPENCL_ERROR, "injected fault (read #2)",
                     "clg_tensor_to_host: reading tensor [3]", "clEnqueueReadBuffer failed with CL_INVALID_VALUE");
    assert_int_equal(clg_tensor_to_host(t, v, sizeof v), CLG_OK);
    assert_true(v[0] == 1.0f && v[2] == 1.0f);
    clg_tensor_free(t);
    clg_context_free(ctx);

    setenv("CLGRAD_FAULT", "alloc:1:CL_NO_SUCH_THING", 1);
    CLG_EXPECT_ERROR(clg_context_new(NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT, "CLGRAD_FAULT='alloc:1:CL_NO_SUCH_THING'",
                     "not an OpenCL error");
    setenv("CLGRAD_FAULT", "launch:1", 1);
    CLG_EXPECT_ERROR(clg_context_new(NULL) == NULL, CLG_STATUS_INVALID_ARGUMENT, "KIND:N[:CODE]");
    unsetenv("CLGRAD_FAULT");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_faults),
        cmocka_unit_test(test_enqueue_faults),
        cmocka_unit_test(test_read_faults),
        cmocka_unit_test(test_build_faults),
        cmocka_unit_test(test_step_faults),
        cmocka_unit_test(test_conv_fft_faults),
        cmocka_unit_test(test_event_faults),
        cmocka_unit_test(test_clblast_faults),
        cmocka_unit_test(test_fused_update_faults),
        cmocka_unit_test(test_save_load_faults),
        cmocka_unit_test(test_oom_message),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_environment),
    };
    return CLG_RUN_GROUP(tests);
}
