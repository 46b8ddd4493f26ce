/* Helper process for test_crash: saves checkpoints to one path in a tight loop
 * until it is killed (SIGKILL, by the test, at a random moment).
 *   checkpoint_writer raw   <path> <first> [count]   clg_safetensors_writer_save from host memory
 *   checkpoint_writer model <path> <first> [count]   clg_model_save of a compiled model
 * Iterations first, first + 1, ... save the versions of checkpoint_content.h;
 * with count it stops after that many and exits 0. On stdout (a pipe) it writes
 * int32 -1 once set up (the test starts its delay then), and int32 k after the
 * save of iteration k has returned CLG_OK. Exits 1 with the error on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint_content.h"
#include "clgrad/clgrad.h"
#include "clgrad/safetensors.h"
#include "nn/model_internal.h"

/* One int32 in one write(2): the test sees all of it or none. */
static int report(int32_t v) {
    for (;;) {
        ssize_t w = write(STDOUT_FILENO, &v, sizeof v);
        if (w == (ssize_t)sizeof v) return 0;
        if (w < 0 && errno == EINTR) continue;
        return -1;
    }
}

static clg_status save_raw(const char *path, int k) {
    int64_t rows = raw_rows(k), n = rows * RAW_COLS;
    float *kernel = malloc((size_t)n * sizeof *kernel);
    int64_t bias[RAW_BIAS];
    int32_t step = k;
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    if (!kernel || !w) {
        free(kernel);
        clg_safetensors_writer_free(w);
        return CLG_STATUS_OUT_OF_HOST_MEMORY;
    }
    for (int64_t i = 0; i < n; i++) kernel[i] = ckpt_value(k, 0, i);
    for (int i = 0; i < RAW_BIAS; i++) bias[i] = (int64_t)ckpt_value(k, 1, i);
    char iteration[32], note[8] = {0};
    snprintf(iteration, sizeof iteration, "%d", k);
    memset(note, 'a' + k % 7, (size_t)(k % 7 + 1));
    clg_status st = clg_safetensors_writer_add_host(w, "layer.kernel", CLG_SAFETENSORS_F32, 2,
                                                    (int64_t[]){rows, RAW_COLS}, kernel);
    if (st == CLG_OK)
        st = clg_safetensors_writer_add_host(w, "layer.bias", CLG_SAFETENSORS_I64, 1, (int64_t[]){RAW_BIAS}, bias);
    if (st == CLG_OK) st = clg_safetensors_writer_add_host(w, "step", CLG_SAFETENSORS_I32, 1, (int64_t[]){1}, &step);
    if (st == CLG_OK) st = clg_safetensors_writer_set_metadata(w, "iteration", iteration);
    if (st == CLG_OK) st = clg_safetensors_writer_set_metadata(w, "note", note);
    if (st == CLG_OK) st = clg_safetensors_writer_save(w, path);
    clg_safetensors_writer_free(w);
    free(kernel);
    return st;
}

static clg_status save_model(clg_model *m, const char *path, int k) {
    int nw = clg_model_weight_count(m, 0);
    for (int j = 0; j < nw; j++) {
        clg_tensor *t = clg_model_weight(m, 0, j);
        if (!t) return clg_last_status();
        int64_t n = clg_tensor_numel(t);
        float *v = malloc((size_t)n * sizeof *v);
        if (!v) return CLG_STATUS_OUT_OF_HOST_MEMORY;
        for (int64_t i = 0; i < n; i++) v[i] = ckpt_value(k, j, i);
        clg_status st = clg_tensor_write(t, v, (size_t)n * sizeof *v);
        free(v);
        if (st != CLG_OK) return st;
    }
    m->epochs_done = k;
    return clg_model_save(m, path);
}

static clg_model *new_model(clg_context *ctx) {
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){MODEL_IN});
    if (!m) return NULL;
    if (clg_model_add(m, clg_layer_dense(MODEL_HIDDEN, CLG_ACT_RELU)) != CLG_OK ||
        clg_model_add(m, clg_layer_dense(MODEL_OUT, CLG_ACT_LINEAR)) != CLG_OK ||
        clg_model_compile(m, "adam", "mse", NULL) != CLG_OK) {
        clg_model_free(m);
        return NULL;
    }
    return m;
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[1], "raw") && strcmp(argv[1], "model"))) {
        fprintf(stderr, "usage: %s raw|model <path> <first> [count]\n", argv[0]);
        return 2;
    }
    const char *path = argv[2];
    int first = atoi(argv[3]);
    long count = argc > 4 ? atol(argv[4]) : -1;
    int model_mode = !strcmp(argv[1], "model");
    clg_context *ctx = NULL;
    clg_model *m = NULL;
    if (model_mode && (!(ctx = clg_context_new(NULL)) || !(m = new_model(ctx)))) {
        fprintf(stderr, "checkpoint_writer: %s\n", clg_last_error());
        clg_context_free(ctx);
        return 1;
    }
    clg_status st = report(-1) ? CLG_STATUS_IO_ERROR : CLG_OK;
    for (long i = 0; st == CLG_OK && (count < 0 || i < count); i++) {
        int k = first + (int)i;
        st = model_mode ? save_model(m, path, k) : save_raw(path, k);
        if (st == CLG_OK && report(k)) st = CLG_STATUS_IO_ERROR;
    }
    if (st != CLG_OK) fprintf(stderr, "checkpoint_writer: %s: %s\n", clg_status_name(st), clg_last_error());
    clg_model_free(m);
    clg_context_free(ctx);
    return st == CLG_OK ? 0 : 1;
}
