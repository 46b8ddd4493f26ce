/* libFuzzer target: the kernel cache's files (programs/<hash>.bin, checked by
 * clg_program_cache_check before a binary reaches the OpenCL driver).
 *
 * Only the host-side check is fuzzed: a file that passes it hands its binary to
 * the driver, which runs it as native code on a CPU device, so whoever can
 * write the cache directory can run code anyway. What the check must hold
 * against is a file that is short, foreign, stale or damaged.
 *
 * Input: one mode byte, then the payload. Mode bit 0 clear: the payload is the
 * file. Set: the harness writes a correct header around the payload (the
 * binary), except for the fields whose bit is set, which it takes from the
 * front of the payload instead: bit 1 the magic, bit 2 the key length, bit 3
 * the binary length, bit 4 the CRC, bit 5 the key itself. */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "fuzz_common.h"
#include "runtime/runtime_impl.h"

enum { HEADER = 32 };

static const char key[] =
    "clgrad-program-cache 1\nclgrad 0.1.0\nPortable Computing Language | cpu | 0x10006 | PoCL 3.1\n"
    "options: -cl-mad-enable -DFUZZ=1\nname: fuzz\n--\n__kernel void k(__global float *x) { x[0] = 1.0f; }\n";

/* Takes n bytes from the front of the payload into out (zeros past its end). */
static void take(const uint8_t **p, size_t *left, void *out, size_t n) {
    size_t k = n < *left ? n : *left;
    memset(out, 0, n);
    memcpy(out, *p, k);
    *p += k;
    *left -= k;
}

static uint32_t crc_of(const void *a, size_t alen, const void *b, size_t blen) {
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, a, (uInt)alen);
    return (uint32_t)crc32(crc, b, (uInt)blen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const size_t key_len = sizeof key - 1;
    unsigned char *file;
    size_t len;
    int expect_valid = 0;
    if (data[0] & 1) {
        const uint8_t *p = data + 1;
        size_t left = size - 1;
        unsigned mode = data[0];
        char magic[8] = {'C', 'L', 'G', 'P', 'R', 'G', '0', '1'};
        uint64_t klen = key_len, blen;
        uint32_t crc, zero = 0;
        char fkey[sizeof key];
        memcpy(fkey, key, key_len);
        if (mode & 2) take(&p, &left, magic, 8);
        if (mode & 4) take(&p, &left, &klen, 8);
        uint64_t given_blen = 0;
        if (mode & 8) take(&p, &left, &given_blen, 8);
        uint32_t given_crc = 0;
        if (mode & 16) take(&p, &left, &given_crc, 4);
        if (mode & 32) take(&p, &left, fkey, key_len);
        blen = mode & 8 ? given_blen : left;
        crc = mode & 16 ? given_crc : crc_of(fkey, key_len, p, left);
        len = HEADER + key_len + left;
        file = malloc(len);
        if (!file) return 0;
        memcpy(file, magic, 8);
        memcpy(file + 8, &klen, 8);
        memcpy(file + 16, &blen, 8);
        memcpy(file + 24, &crc, 4);
        memcpy(file + 28, &zero, 4);
        memcpy(file + HEADER, fkey, key_len);
        memcpy(file + HEADER + key_len, p, left);
        expect_valid = (mode & 62) == 0 && left > 0;
    } else {
        len = size - 1;
        file = malloc(len ? len : 1);
        if (!file) return 0;
        memcpy(file, data + 1, len);
    }
    const unsigned char *bin = (const unsigned char *)1;
    size_t bin_len = 1;
    int ok = clg_program_cache_check(file, len, key, key_len, &bin, &bin_len);
    if (ok) {
        /* everything the check promised, verified independently */
        uint64_t klen, blen;
        uint32_t crc;
        memcpy(&klen, file + 8, 8);
        memcpy(&blen, file + 16, 8);
        memcpy(&crc, file + 24, 4);
        FUZZ_CHECK(len >= HEADER + key_len && memcmp(file, "CLGPRG01", 8) == 0, "accepted a foreign header");
        FUZZ_CHECK(klen == key_len && memcmp(file + HEADER, key, key_len) == 0, "accepted another key");
        FUZZ_CHECK(blen > 0 && blen == len - HEADER - key_len, "accepted binary length %llu in a %zu-byte file",
                   (unsigned long long)blen, len);
        FUZZ_CHECK(bin == file + HEADER + key_len && bin_len == blen, "binary located wrongly");
        FUZZ_CHECK(crc == crc_of(file + HEADER, key_len, bin, bin_len), "accepted a wrong CRC");
    } else {
        FUZZ_CHECK(bin == NULL && bin_len == 0, "a rejected file left a binary");
        FUZZ_CHECK(!expect_valid, "rejected a correct file");
    }
    free(file);
    return 0;
}
