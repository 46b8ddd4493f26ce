/* IDX reader (MNIST format), plain or gzip, and conversions to float32 / int32
 * arrays and device tensors. The header is never trusted: sizes are checked
 * against the limits and (plain files) the real file size before allocating;
 * gzip streams are read into a buffer that grows with what really arrives. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "clgrad/data.h"
#include "common/error.h"

size_t clg_idx_type_size(clg_idx_type type) {
    switch (type) {
    case CLG_IDX_UBYTE:
    case CLG_IDX_BYTE: return 1;
    case CLG_IDX_SHORT: return 2;
    case CLG_IDX_INT:
    case CLG_IDX_FLOAT: return 4;
    case CLG_IDX_DOUBLE: return 8;
    }
    return 0;
}

void clg_idx_free(clg_idx *idx) {
    if (!idx) return;
    free(idx->data);
    free(idx);
}

/* One source of bytes: a plain FILE or a gzip stream. */
typedef struct idx_src {
    const char *path;
    FILE *f;
    gzFile gz;
} idx_src;

/* Reads up to n bytes; returns the count, or -1 with the error recorded. */
static long long src_read(idx_src *s, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        size_t want = n - got;
        if (s->gz) {
            if (want > (1u << 30)) want = 1u << 30;
            int r = gzread(s->gz, (char *)buf + got, (unsigned)want);
            if (r < 0) {
                int zerr = 0;
                const char *msg = gzerror(s->gz, &zerr);
                if (zerr == Z_ERRNO)
                    return clg_fail(CLG_STATUS_IO_ERROR, "clg_idx_read: cannot read '%s': %s",
                                    s->path, strerror(errno)), -1;
                return clg_fail(CLG_STATUS_CORRUPT_DATA,
                                "clg_idx_read: '%s': corrupt gzip stream (zlib: %s)", s->path,
                                msg ? msg : "?"), -1;
            }
            if (r == 0) {
                int zerr = 0;
                const char *msg = gzerror(s->gz, &zerr);
                if (zerr != Z_OK && zerr != Z_STREAM_END)
                    return clg_fail(CLG_STATUS_CORRUPT_DATA,
                                    "clg_idx_read: '%s': truncated or corrupt gzip stream (zlib: %s)",
                                    s->path, msg ? msg : "?"), -1;
                break;
            }
            got += (size_t)r;
        } else {
            size_t r = fread((char *)buf + got, 1, want, s->f);
            if (r == 0) {
                if (ferror(s->f))
                    return clg_fail(CLG_STATUS_IO_ERROR, "clg_idx_read: cannot read '%s': %s",
                                    s->path, strerror(errno)), -1;
                break;
            }
            got += r;
        }
    }
    return (long long)got;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void swap_bytes(unsigned char *data, int64_t count, size_t size) {
    if (size == 1 || !host_is_little_endian()) return;
    for (int64_t i = 0; i < count; i++) {
        unsigned char *p = data + (size_t)i * size;
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
    }
}

/* Header, dims and size checks; fills idx (no data yet). */
static clg_status read_header(idx_src *s, clg_idx *idx, long long *header_bytes) {
    const char *path = s->path;
    unsigned char h[4];
    long long r = src_read(s, h, 4);
    if (r < 0) return clg_last_status();
    if (r < 4)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_idx_read: '%s' is truncated in the header (%lld of 4 bytes)", path, r);
    if (h[0] != 0 || h[1] != 0)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_idx_read: '%s' is not an IDX file (magic %02x %02x, expected 00 00)",
                        path, h[0], h[1]);
    idx->type = (clg_idx_type)h[2];
    idx->elem_size = clg_idx_type_size(idx->type);
    if (idx->elem_size == 0)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_idx_read: '%s' has unknown IDX type 0x%02x (expected 08, 09, 0B, 0C, "
                        "0D or 0E)", path, h[2]);
    idx->rank = h[3];
    if (idx->rank < 1 || idx->rank > CLG_IDX_MAX_RANK)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_idx_read: '%s' has rank %d (expected 1..%d)", path, idx->rank,
                        CLG_IDX_MAX_RANK);
    unsigned char d[4 * CLG_IDX_MAX_RANK];
    size_t dbytes = 4 * (size_t)idx->rank;
    r = src_read(s, d, dbytes);
    if (r < 0) return clg_last_status();
    if ((size_t)r < dbytes)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_idx_read: '%s' is truncated in the dims (%lld of %zu bytes for rank %d)",
                        path, r, dbytes, idx->rank);
    uint64_t prod = 1;
    int overflow = 0, zero = 0;
    char shape[160];
    size_t pos = 0;
    for (int i = 0; i < idx->rank; i++) {
        uint32_t v = be32(d + 4 * i);
        idx->dims[i] = v;
        if (v == 0) zero = 1;
        if (!overflow && __builtin_mul_overflow(prod, (uint64_t)v, &prod)) overflow = 1;
        if (pos < sizeof shape)
            pos += (size_t)snprintf(shape + pos, sizeof shape - pos, "%s%u", i ? "," : "[", v);
    }
    if (pos < sizeof shape) snprintf(shape + pos, sizeof shape - pos, "]");
    if (zero) prod = 0, overflow = 0;
    if (overflow)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_idx_read: '%s' claims dims %s whose product overflows 64 bits", path,
                        shape);
    if (prod > (uint64_t)CLG_IDX_MAX_ELEMENTS || prod * idx->elem_size > (uint64_t)CLG_IDX_MAX_BYTES)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_idx_read: '%s' claims dims %s (%llu elements of %zu bytes), over the "
                        "reader's cap of 2^31 elements and 4 GiB", path, shape,
                        (unsigned long long)prod, idx->elem_size);
    idx->count = (int64_t)prod;
    *header_bytes = 4 + (long long)dbytes;
    return CLG_OK;
}

static clg_status read_body(idx_src *s, clg_idx *idx, long long header_bytes) {
    const char *path = s->path;
    size_t need = (size_t)idx->count * idx->elem_size;
    int verified = 0;
    if (s->f) {
        /* A plain file's size must match the claim before anything is allocated. */
        struct stat sb;
        if (fstat(fileno(s->f), &sb) == 0 && S_ISREG(sb.st_mode)) {
            long long have = (long long)sb.st_size - header_bytes;
            if (have < (long long)need)
                return clg_fail(CLG_STATUS_CORRUPT_DATA,
                                "clg_idx_read: '%s' is truncated: %lld data bytes, the dims need %zu",
                                path, have, need);
            if (have > (long long)need)
                return clg_fail(CLG_STATUS_CORRUPT_DATA,
                                "clg_idx_read: '%s' has %lld trailing bytes after the %zu data bytes "
                                "the dims describe", path, have - (long long)need, need);
            verified = 1;
        }
    }
    /* Grow the buffer with what actually arrives (gzip, pipes); a plain regular
     * file's size was verified above, so it gets the whole buffer at once. */
    unsigned char *buf = NULL;
    size_t cap = 0, got = 0;
    while (got < need) {
        if (got == cap) {
            size_t ncap = verified ? need : (cap ? cap * 2 : (size_t)1 << 20);
            if (ncap > need) ncap = need;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY,
                                "clg_idx_read: '%s': no memory for %zu bytes", path, ncap);
            }
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - got;
        long long r = src_read(s, buf + got, want);
        if (r < 0) {
            free(buf);
            return clg_last_status();
        }
        got += (size_t)r;
        if ((size_t)r < want) break; /* end of data */
    }
    if (got < need) {
        free(buf);
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_idx_read: '%s' is truncated: %zu data bytes, the dims need %zu", path,
                        got, need);
    }
    /* Reading on to the end also makes zlib check the gzip trailer (CRC, length). */
    unsigned char extra[64];
    long long r = src_read(s, extra, sizeof extra);
    if (r != 0) {
        free(buf);
        if (r < 0) return clg_last_status();
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_idx_read: '%s' has trailing bytes after the %zu data bytes the dims "
                        "describe", path, need);
    }
    swap_bytes(buf, idx->count, idx->elem_size);
    idx->data = buf;
    return CLG_OK;
}

clg_status clg_idx_read(const char *path, clg_idx **out) {
    if (out) *out = NULL;
    if (!path || !out)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_idx_read: path or out is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return clg_fail(CLG_STATUS_NOT_FOUND, "clg_idx_read: file '%s' does not exist", path);
        return clg_fail(CLG_STATUS_IO_ERROR, "clg_idx_read: cannot open '%s': %s", path,
                        strerror(errno));
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return clg_fail(CLG_STATUS_IO_ERROR, "clg_idx_read: '%s' is a directory", path);
    }
    unsigned char magic[2] = {0, 0};
    size_t m = fread(magic, 1, 2, f);
    idx_src s = {path, NULL, NULL};
    if (m == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        fclose(f);
        errno = 0;
        s.gz = gzopen(path, "rb");
        if (!s.gz)
            return clg_fail(CLG_STATUS_IO_ERROR, "clg_idx_read: cannot open '%s' as gzip: %s",
                            path, errno ? strerror(errno) : "out of memory");
        gzbuffer(s.gz, 1 << 17);
    } else {
        rewind(f);
        s.f = f;
    }
    clg_idx *idx = calloc(1, sizeof *idx);
    clg_status st = CLG_STATUS_OUT_OF_HOST_MEMORY;
    long long header_bytes = 0;
    if (!idx)
        clg_fail(st, "clg_idx_read: '%s': out of host memory", path);
    else if ((st = read_header(&s, idx, &header_bytes)) == CLG_OK)
        st = read_body(&s, idx, header_bytes);
    if (s.gz) gzclose(s.gz);
    if (s.f) fclose(s.f);
    if (st != CLG_OK) {
        clg_idx_free(idx);
        return st;
    }
    *out = idx;
    return CLG_OK;
}

/* --- conversions ------------------------------------------------------------------- */

static double idx_get(const clg_idx *idx, int64_t i) {
    const unsigned char *p = (const unsigned char *)idx->data + (size_t)i * idx->elem_size;
    switch (idx->type) {
    case CLG_IDX_UBYTE: return *p;
    case CLG_IDX_BYTE: return (int8_t)*p;
    case CLG_IDX_SHORT: { int16_t v; memcpy(&v, p, 2); return v; }
    case CLG_IDX_INT: { int32_t v; memcpy(&v, p, 4); return v; }
    case CLG_IDX_FLOAT: { float v; memcpy(&v, p, 4); return v; }
    case CLG_IDX_DOUBLE: { double v; memcpy(&v, p, 8); return v; }
    }
    return 0;
}

/* A clg_idx is a public struct that callers may fill in themselves: its fields
 * must agree before its data is read. */
static clg_status check_idx(const char *api, const clg_idx *idx) {
    size_t es = clg_idx_type_size(idx->type);
    if (es == 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: IDX type 0x%02x is not an IDX type", api,
                        (unsigned)idx->type);
    if (idx->rank < 1 || idx->rank > CLG_IDX_MAX_RANK)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: IDX rank %d is outside 1..%d", api, idx->rank,
                        CLG_IDX_MAX_RANK);
    int64_t n = 1;
    int zero = 0;
    for (int i = 0; i < idx->rank; i++) zero |= idx->dims[i] == 0;
    /* a zero extent makes the product 0 whatever the others are (clg_idx_read
     * accepts [4294967295,4294967295,4294967295,0]): no overflow check then */
    for (int i = 0; i < idx->rank; i++) {
        if (idx->dims[i] < 0 || (!zero && n > INT64_MAX / idx->dims[i]))
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: IDX dimension %d is %lld", api, i,
                            (long long)idx->dims[i]);
        n = zero ? 0 : n * idx->dims[i];
    }
    if (n != idx->count || idx->elem_size != es)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: IDX count %lld and element size %zu do not match its dims (%lld elements) "
                        "and type 0x%02x (%zu bytes)",
                        api, (long long)idx->count, idx->elem_size, (long long)n, (unsigned)idx->type, es);
    if (n > 0 && !idx->data)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: IDX data is NULL for %lld elements", api, (long long)n);
    return CLG_OK;
}

static clg_status check_conv(const char *api, const clg_idx *idx, const void *out, int64_t capacity) {
    if (!idx || (!out && idx->count > 0))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: idx or out is NULL", api);
    clg_status st = check_idx(api, idx);
    if (st != CLG_OK) return st;
    if (capacity < idx->count)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: output holds %lld elements, the IDX data has %lld", api,
                        (long long)capacity, (long long)idx->count);
    return CLG_OK;
}

clg_status clg_idx_to_float32(const clg_idx *idx, double scale, float *out, int64_t capacity) {
    clg_status st = check_conv("clg_idx_to_float32", idx, out, capacity);
    if (st != CLG_OK) return st;
    if (idx->type == CLG_IDX_UBYTE) {
        /* The common case (images): a 256-entry table. */
        float lut[256];
        for (int v = 0; v < 256; v++) lut[v] = (float)(v * scale);
        const unsigned char *p = idx->data;
        for (int64_t i = 0; i < idx->count; i++) out[i] = lut[p[i]];
        return CLG_OK;
    }
    for (int64_t i = 0; i < idx->count; i++) out[i] = (float)(idx_get(idx, i) * scale);
    return CLG_OK;
}

clg_status clg_idx_to_int32(const clg_idx *idx, int32_t *out, int64_t capacity) {
    clg_status st = check_conv("clg_idx_to_int32", idx, out, capacity);
    if (st != CLG_OK) return st;
    for (int64_t i = 0; i < idx->count; i++) {
        double v = idx_get(idx, i);
        if (!(v >= INT32_MIN && v <= INT32_MAX) || v != floor(v))
            return clg_fail(CLG_STATUS_CORRUPT_DATA,
                            "clg_idx_to_int32: element %lld is %g, not an int32", (long long)i, v);
        out[i] = (int32_t)v;
    }
    return CLG_OK;
}

clg_tensor *clg_idx_to_tensor(clg_context *ctx, const clg_idx *idx, double scale, clg_dtype dtype) {
    if (!ctx || !idx) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_idx_to_tensor: ctx or idx is NULL");
        return NULL;
    }
    if (check_idx("clg_idx_to_tensor", idx) != CLG_OK) return NULL;
    if (dtype != CLG_FLOAT32 && scale != 1.0) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_idx_to_tensor: scale %g needs dtype float32 (got %s)", scale,
                 clg_dtype_name(dtype));
        return NULL;
    }
    if (dtype == CLG_UINT8) {
        if (idx->type != CLG_IDX_UBYTE) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                     "clg_idx_to_tensor: dtype uint8 needs an unsigned-byte IDX (type 0x%02x)",
                     (unsigned)idx->type);
            return NULL;
        }
        return clg_tensor_from_host(ctx, CLG_UINT8, idx->rank, idx->dims, idx->data);
    }
    if (dtype != CLG_FLOAT32 && dtype != CLG_INT32) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_idx_to_tensor: dtype %s is not float32, int32 or uint8", clg_dtype_name(dtype));
        return NULL;
    }
    void *host = malloc(idx->count > 0 ? (size_t)idx->count * 4 : 1);
    if (!host) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_idx_to_tensor: %lld elements",
                 (long long)idx->count);
        return NULL;
    }
    clg_status st = dtype == CLG_FLOAT32 ? clg_idx_to_float32(idx, scale, host, idx->count)
                                         : clg_idx_to_int32(idx, host, idx->count);
    clg_tensor *t = st == CLG_OK ? clg_tensor_from_host(ctx, dtype, idx->rank, idx->dims, host) : NULL;
    free(host);
    return t;
}
