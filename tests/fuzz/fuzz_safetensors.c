/* libFuzzer target: safetensors files (clg_safetensors_open: the 8-byte length,
 * the JSON header, the entries and the data layout), then every accessor and a
 * read of every tensor of a file it accepts, and a round trip through the
 * writer that must give back the same tensors and metadata.
 *
 * Input: one mode byte, then the payload. Mode bit 0 clear: the payload is the
 * file. Set: the payload is the header JSON, a NUL byte, then the data region;
 * the harness writes the length in front, so that mutations of the JSON are
 * not lost to a length that no longer matches. */
#include <stdlib.h>
#include <string.h>

#include "clgrad/safetensors.h"
#include "fuzz_common.h"

static void check_round_trip(const clg_safetensors *f, void *const *datas) {
    const char *path = fuzz_path("round_trip.safetensors");
    size_t count = clg_safetensors_count(f), nmeta = clg_safetensors_metadata_count(f);
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    if (!w) return;
    for (size_t i = 0; i < count; i++) {
        clg_safetensors_info info;
        FUZZ_CHECK(clg_safetensors_info_get(f, clg_safetensors_name(f, i), &info) == CLG_OK, "info of tensor %zu", i);
        FUZZ_CHECK(clg_safetensors_writer_add_host(w, info.name, info.dtype, info.ndim, info.shape, datas[i]) == CLG_OK,
                   "the writer refuses tensor '%s' that the reader accepted", info.name);
    }
    for (size_t i = 0; i < nmeta; i++)
        FUZZ_CHECK(clg_safetensors_writer_set_metadata(w, clg_safetensors_metadata_key(f, i),
                                                       clg_safetensors_metadata_value(f, i)) == CLG_OK,
                   "the writer refuses metadata key '%s'", clg_safetensors_metadata_key(f, i));
    FUZZ_CHECK(clg_safetensors_writer_save(w, path) == CLG_OK, "saving a copy");
    clg_safetensors_writer_free(w);

    clg_safetensors *g = NULL;
    FUZZ_CHECK(clg_safetensors_open(path, &g) == CLG_OK, "the reader refuses the writer's copy");
    FUZZ_CHECK(clg_safetensors_count(g) == count, "copy has %zu tensors, not %zu", clg_safetensors_count(g), count);
    FUZZ_CHECK(clg_safetensors_metadata_count(g) == nmeta, "copy has %zu metadata entries, not %zu",
               clg_safetensors_metadata_count(g), nmeta);
    for (size_t i = 0; i < nmeta; i++) {
        const char *v = clg_safetensors_metadata_get(g, clg_safetensors_metadata_key(f, i));
        FUZZ_CHECK(v && strcmp(v, clg_safetensors_metadata_value(f, i)) == 0, "metadata '%s' changed",
                   clg_safetensors_metadata_key(f, i));
    }
    for (size_t i = 0; i < count; i++) {
        clg_safetensors_info a, b;
        const char *name = clg_safetensors_name(f, i);
        FUZZ_CHECK(clg_safetensors_info_get(f, name, &a) == CLG_OK && clg_safetensors_info_get(g, name, &b) == CLG_OK,
                   "tensor '%s' lost in the copy", name);
        FUZZ_CHECK(a.dtype == b.dtype && a.ndim == b.ndim && a.nbytes == b.nbytes, "tensor '%s' changed", name);
        FUZZ_CHECK(a.ndim == 0 || memcmp(a.shape, b.shape, (size_t)a.ndim * sizeof *a.shape) == 0,
                   "tensor '%s' changed shape", name);
        void *buf = malloc(a.nbytes ? a.nbytes : 1);
        if (!buf) continue;
        FUZZ_CHECK(clg_safetensors_read(g, name, buf, a.nbytes) == CLG_OK, "reading '%s' from the copy", name);
        FUZZ_CHECK(a.nbytes == 0 || memcmp(buf, datas[i], a.nbytes) == 0, "tensor '%s' changed values", name);
        free(buf);
    }
    clg_safetensors_free(g);
}

static void check_accepted(const clg_safetensors *f, const char *path, size_t file_size) {
    size_t count = clg_safetensors_count(f);
    FUZZ_CHECK(strcmp(clg_safetensors_path(f), path) == 0, "path");
    FUZZ_CHECK(clg_safetensors_name(f, count) == NULL, "a name past the end");
    void **datas = calloc(count + 1, sizeof *datas);
    if (!datas) return;
    uint64_t covered = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name = clg_safetensors_name(f, i);
        FUZZ_CHECK(name && name[0], "tensor %zu has no name", i);
        clg_safetensors_info info;
        FUZZ_CHECK(clg_safetensors_info_get(f, name, &info) == CLG_OK, "info of '%s'", name);
        FUZZ_CHECK(strcmp(info.name, name) == 0, "info of '%s' names '%s'", name, info.name);
        FUZZ_CHECK(info.ndim >= 0 && info.ndim <= 64, "'%s' has rank %d", name, info.ndim);
        uint64_t numel = 1;
        for (int d = 0; d < info.ndim; d++) {
            FUZZ_CHECK(info.shape[d] >= 0, "'%s' dim %d is %lld", name, d, (long long)info.shape[d]);
            numel *= (uint64_t)info.shape[d]; /* checked for overflow by the reader, via nbytes below */
        }
        FUZZ_CHECK(numel == info.numel, "'%s' numel %llu, shape gives %llu", name, (unsigned long long)info.numel,
                   (unsigned long long)numel);
        FUZZ_CHECK(info.nbytes == info.numel * clg_safetensors_dtype_size(info.dtype), "'%s' nbytes", name);
        FUZZ_CHECK(info.nbytes <= file_size && info.file_offset <= file_size - info.nbytes,
                   "'%s' lies outside the %zu-byte file", name, file_size);
        FUZZ_CHECK(clg_safetensors_dtype_of(f, name) == info.dtype && clg_safetensors_ndim(f, name) == info.ndim &&
                       clg_safetensors_shape(f, name) == info.shape,
                   "accessors of '%s' disagree with its info", name);
        covered += info.nbytes;
        datas[i] = malloc(info.nbytes ? (size_t)info.nbytes : 1);
        if (!datas[i]) goto out;
        FUZZ_CHECK(clg_safetensors_read(f, name, datas[i], (size_t)info.nbytes) == CLG_OK, "reading '%s'", name);
        if (info.nbytes) {
            clg_clear_error();
            fuzz_check_failure(clg_safetensors_read(f, name, datas[i], (size_t)info.nbytes - 1), "clg_safetensors_read",
                               path);
        }
    }
    FUZZ_CHECK(covered <= file_size, "the tensors hold %llu bytes of a %zu-byte file", (unsigned long long)covered,
               file_size);
    for (size_t i = 0; i < clg_safetensors_metadata_count(f); i++) {
        const char *k = clg_safetensors_metadata_key(f, i), *v = clg_safetensors_metadata_value(f, i);
        FUZZ_CHECK(k && v, "metadata entry %zu", i);
        FUZZ_CHECK(clg_safetensors_metadata_get(f, k) == v, "metadata_get('%s') is not entry %zu", k, i);
    }
    clg_safetensors_info info;
    clg_clear_error();
    clg_status st = clg_safetensors_info_get(f, "\x01no such tensor", &info);
    FUZZ_CHECK(st == CLG_STATUS_NOT_FOUND, "a missing tensor gives %s", clg_status_name(st));
    fuzz_check_failure(st, "clg_safetensors_info_get", path);
    check_round_trip(f, datas);
out:
    for (size_t i = 0; i < count; i++) free(datas[i]);
    free(datas);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *path = fuzz_path("input.safetensors");
    size_t file_size = size - 1;
    if (data[0] & 1) {
        const uint8_t *nul = memchr(data + 1, 0, size - 1);
        size_t hlen = nul ? (size_t)(nul - data - 1) : size - 1;
        size_t dlen = nul ? size - 2 - hlen : 0;
        file_size = 8 + hlen + dlen;
        unsigned char *file = malloc(file_size);
        if (!file) return 0;
        for (int i = 0; i < 8; i++) file[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
        memcpy(file + 8, data + 1, hlen);
        if (dlen) memcpy(file + 8 + hlen, nul + 1, dlen);
        fuzz_write(path, file, file_size);
        free(file);
    } else {
        fuzz_write(path, data + 1, size - 1);
    }
    clg_safetensors *f = (clg_safetensors *)(uintptr_t)1; /* must be set to NULL on failure */
    clg_clear_error();
    clg_status st = clg_safetensors_open(path, &f);
    if (st != CLG_OK) {
        fuzz_check_failure(st, "clg_safetensors_open", path);
        FUZZ_CHECK(f == NULL, "*out left %p on failure", (void *)f);
        return 0;
    }
    check_accepted(f, path, file_size);
    clg_safetensors_free(f);
    return 0;
}
