/* libFuzzer target: IDX files, plain and gzip (clg_idx_read), and the
 * conversions and dataset built from what it accepts.
 *
 * Input: one mode byte, then the payload. Mode bit 0 clear: the payload is the
 * file as it is (plain, or a gzip stream of the fuzzer's own making); set: the
 * harness gzips the payload first, so that IDX headers inside intact streams
 * are explored as well as damaged streams. */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "clgrad/data.h"
#include "fuzz_common.h"

/* payload as one gzip member; NULL if zlib fails (not a finding). */
static unsigned char *gzip_bytes(const uint8_t *data, size_t size, size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, (uLong)size) + 32;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)size;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int r = out ? deflate(&z, Z_FINISH) : Z_MEM_ERROR;
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

static void check_accepted(const clg_idx *idx) {
    FUZZ_CHECK(idx->rank >= 1 && idx->rank <= CLG_IDX_MAX_RANK, "rank %d", idx->rank);
    FUZZ_CHECK(idx->elem_size == clg_idx_type_size(idx->type) && idx->elem_size > 0, "type 0x%02x",
               (unsigned)idx->type);
    int64_t count = 1;
    int zero = 0;
    for (int i = 0; i < idx->rank; i++) {
        FUZZ_CHECK(idx->dims[i] >= 0 && idx->dims[i] <= UINT32_MAX, "dims[%d] = %lld", i, (long long)idx->dims[i]);
        if (idx->dims[i] == 0) zero = 1;
    }
    for (int i = 0; i < idx->rank && !zero; i++)
        FUZZ_CHECK(!__builtin_mul_overflow(count, idx->dims[i], &count), "dims overflow yet were accepted");
    if (zero) count = 0;
    for (int i = idx->rank; i < CLG_IDX_MAX_RANK; i++) FUZZ_CHECK(idx->dims[i] == 0, "dims[%d] past the rank", i);
    FUZZ_CHECK(count == idx->count, "count %lld, dims give %lld", (long long)idx->count, (long long)count);
    FUZZ_CHECK((idx->data == NULL) == (count == 0), "data %p for %lld elements", idx->data, (long long)count);

    size_t n = count ? (size_t)count : 1;
    float *f = malloc(n * sizeof *f);
    int32_t *i32 = malloc(n * sizeof *i32);
    if (f && i32) {
        FUZZ_CHECK(clg_idx_to_float32(idx, 1.0 / 255, f, count) == CLG_OK, "to_float32 of an accepted file");
        clg_clear_error();
        clg_status st = clg_idx_to_int32(idx, i32, count);
        if (st != CLG_OK) fuzz_check_failure(st, "clg_idx_to_int32", NULL);
        /* a buffer one element short is refused, never overrun */
        if (count > 0) {
            clg_clear_error();
            fuzz_check_failure(clg_idx_to_float32(idx, 1.0, f, count - 1), "clg_idx_to_float32", NULL);
        }
    }
    free(f);
    free(i32);
    /* images and labels from the same file: counts agree by construction */
    clg_clear_error();
    clg_dataset *ds = clg_dataset_from_idx(idx, 1.0, idx);
    if (ds) {
        FUZZ_CHECK(clg_dataset_size(ds) == idx->dims[0], "dataset of %lld samples from dims[0] %lld",
                   (long long)clg_dataset_size(ds), (long long)idx->dims[0]);
        clg_dataset_free(ds);
    } else {
        fuzz_check_failure(clg_last_status(), "clg_dataset_from_idx", NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *path = fuzz_path("input.idx");
    if (data[0] & 1) {
        size_t n = 0;
        unsigned char *gz = gzip_bytes(data + 1, size - 1, &n);
        if (!gz) return 0;
        fuzz_write(path, gz, n);
        free(gz);
    } else {
        fuzz_write(path, data + 1, size - 1);
    }
    clg_idx *idx = (clg_idx *)(uintptr_t)1; /* must be set to NULL on failure */
    clg_clear_error();
    clg_status st = clg_idx_read(path, &idx);
    if (st != CLG_OK) {
        fuzz_check_failure(st, "clg_idx_read", path);
        FUZZ_CHECK(idx == NULL, "*out left %p on failure", (void *)idx);
        return 0;
    }
    check_accepted(idx);
    clg_idx_free(idx);
    return 0;
}
