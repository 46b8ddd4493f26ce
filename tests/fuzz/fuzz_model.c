/* libFuzzer target: whole-model files (clg_model_load): the model_config,
 * compile_config and training_state JSON that a model file carries in its
 * safetensors metadata, the rebuilt graph and optimizer, and the weights and
 * training state checked against it. A model it loads must save and load again
 * to the same architecture.
 *
 * Input: four parts separated by NUL bytes (the JSON cannot hold one):
 *   model_config \0 compile_config \0 training_state \0 tensors
 * An empty JSON part leaves that metadata key out. The tensors part has one
 * line per tensor, "name dtype d0,d1,... value" (dtype as safetensors writes
 * it, shape possibly empty for a scalar), every element set to value; the
 * harness writes the file (metadata "format": "clgrad") with the writer. The
 * seeds are files that clg_model_save wrote, taken apart this way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgrad/model.h"
#include "clgrad/safetensors.h"
#include "fuzz_common.h"

enum { MAX_ELEMENTS = 1 << 16 }; /* per tensor: the file stays small, so does each input's work */

static clg_context *g_ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    g_ctx = fuzz_context(0);
    return 0;
}

static clg_safetensors_dtype dtype_named(const char *s) {
    for (int d = 0; d < CLG_SAFETENSORS_DTYPE_COUNT_; d++)
        if (strcmp(s, clg_safetensors_dtype_name((clg_safetensors_dtype)d)) == 0) return (clg_safetensors_dtype)d;
    return CLG_SAFETENSORS_DTYPE_COUNT_;
}

/* One "name dtype shape value" line into the writer; malformed lines are skipped. */
static void add_tensor(clg_safetensors_writer *w, char *line) {
    char *name = strtok(line, " "), *dt = strtok(NULL, " "), *shape = strtok(NULL, " "), *value = strtok(NULL, " ");
    if (!name || !dt) return;
    clg_safetensors_dtype dtype = dtype_named(dt);
    if (dtype == CLG_SAFETENSORS_DTYPE_COUNT_) return;
    int64_t dims[8];
    int ndim = 0;
    long long numel = 1;
    if (shape && strcmp(shape, "-") != 0)
        for (char *d = strtok(shape, ","); d; d = strtok(NULL, ",")) {
            long long v = strtoll(d, NULL, 10);
            if (ndim == 8 || v < 0 || v > MAX_ELEMENTS) return;
            dims[ndim++] = v;
            numel *= v;
            if (numel > MAX_ELEMENTS) return;
        }
    double v = value ? strtod(value, NULL) : 0.0;
    /* integers only from values in int32 range (NaN neither): the conversion is defined */
    int32_t iv = v >= -2147483648.0 && v <= 2147483647.0 ? (int32_t)v : 0;
    size_t esize = clg_safetensors_dtype_size(dtype);
    unsigned char *buf = malloc((size_t)numel * esize + 1);
    if (!buf) return;
    for (long long i = 0; i < numel; i++) {
        unsigned char *p = buf + (size_t)i * esize;
        if (dtype == CLG_SAFETENSORS_F32) {
            float f = (float)v;
            memcpy(p, &f, 4);
        } else if (dtype == CLG_SAFETENSORS_I32) {
            memcpy(p, &iv, 4);
        } else {
            memset(p, iv & 0xff, esize);
        }
    }
    clg_safetensors_writer_add_host(w, name, dtype, ndim, dims, buf); /* a refused one is simply left out */
    free(buf);
}

/* A model that loaded saves, and its file loads to the same architecture. */
static void check_loaded(clg_model *m) {
    const char *p1 = fuzz_path("saved1.safetensors"), *p2 = fuzz_path("saved2.safetensors");
    FUZZ_CHECK(clg_model_save(m, p1) == CLG_OK, "saving a loaded model");
    clg_model *r = clg_model_load(g_ctx, p1);
    FUZZ_CHECK(r != NULL, "a saved model does not load");
    FUZZ_CHECK(clg_model_param_count(r) == clg_model_param_count(m), "parameters %lld became %lld",
               (long long)clg_model_param_count(m), (long long)clg_model_param_count(r));
    FUZZ_CHECK(clg_model_save(r, p2) == CLG_OK, "saving the reloaded model");
    clg_safetensors *a = NULL, *b = NULL;
    FUZZ_CHECK(clg_safetensors_open(p1, &a) == CLG_OK && clg_safetensors_open(p2, &b) == CLG_OK, "reopening");
    const char *ca = clg_safetensors_metadata_get(a, "model_config"), *cb = clg_safetensors_metadata_get(b, "model_config");
    FUZZ_CHECK(ca && cb && strcmp(ca, cb) == 0, "model_config changed in a save-load-save round");
    clg_safetensors_free(a);
    clg_safetensors_free(b);
    clg_model_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* the parts: NUL-separated, missing ones empty */
    const char *part[4] = {"", "", "", ""};
    size_t at = 0;
    for (int k = 0; k < 4 && at <= size; k++) {
        part[k] = text + at;
        at += strlen(text + at) + 1;
    }
    static const char *const keys[3] = {"model_config", "compile_config", "training_state"};
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    if (!w) goto out;
    clg_safetensors_writer_set_metadata(w, "format", "clgrad");
    for (int k = 0; k < 3; k++)
        if (part[k][0] && clg_safetensors_writer_set_metadata(w, keys[k], part[k]) != CLG_OK) goto out; /* not UTF-8 */
    char *lines = (char *)part[3];
    for (char *line = lines, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        add_tensor(w, line);
    }
    const char *path = fuzz_path("model.safetensors");
    if (clg_safetensors_writer_save(w, path) != CLG_OK) goto out; /* e.g. a header over the limit */
    clg_clear_error();
    clg_model *m = clg_model_load(g_ctx, path);
    if (!m) {
        fuzz_check_failure(clg_last_status(), "clg_model_load", path);
    } else {
        check_loaded(m);
        clg_model_free(m);
    }
out:
    clg_safetensors_writer_free(w);
    free(text);
    return 0;
}
