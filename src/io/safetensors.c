/* The safetensors checkpoint format: a strict header reader (own JSON parser),
 * lazy per-tensor reads, and an atomic writer in the reference's layout. */
#define _POSIX_C_SOURCE 200809L
#include "clgrad/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/strbuf.h"
#include "common/file.h"

#define ST_MAX_HEADER 100000000ull /* the reference's MAX_HEADER_SIZE */
#define ST_MAX_DEPTH 8             /* the header needs 3 levels; anything deeper is not ours */
#define ST_MAX_RANK 64

/* --- dtypes ----------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
    int order; /* the reference's Dtype enum order; files list larger values first */
} st_dtypes[CLG_SAFETENSORS_DTYPE_COUNT_] = {
    [CLG_SAFETENSORS_F64] = {"F64", 8, 12},  [CLG_SAFETENSORS_F32] = {"F32", 4, 11},
    [CLG_SAFETENSORS_F16] = {"F16", 2, 7},   [CLG_SAFETENSORS_BF16] = {"BF16", 2, 8},
    [CLG_SAFETENSORS_I64] = {"I64", 8, 13},  [CLG_SAFETENSORS_I32] = {"I32", 4, 9},
    [CLG_SAFETENSORS_I16] = {"I16", 2, 5},   [CLG_SAFETENSORS_I8] = {"I8", 1, 2},
    [CLG_SAFETENSORS_U8] = {"U8", 1, 1},     [CLG_SAFETENSORS_BOOL] = {"BOOL", 1, 0},
};

const char *clg_safetensors_dtype_name(clg_safetensors_dtype dtype) {
    return (unsigned)dtype < CLG_SAFETENSORS_DTYPE_COUNT_ ? st_dtypes[dtype].name : "?";
}

size_t clg_safetensors_dtype_size(clg_safetensors_dtype dtype) {
    return (unsigned)dtype < CLG_SAFETENSORS_DTYPE_COUNT_ ? st_dtypes[dtype].size : 0;
}

static int dtype_from_name(const char *s, size_t len) {
    for (int d = 0; d < CLG_SAFETENSORS_DTYPE_COUNT_; d++)
        if (strlen(st_dtypes[d].name) == len && memcmp(st_dtypes[d].name, s, len) == 0) return d;
    return -1;
}

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* The file is little-endian; on a big-endian host swap each element. */
static void to_from_le(void *data, uint64_t nbytes, size_t esize) {
    if (esize <= 1 || host_is_little_endian()) return;
    unsigned char *p = data;
    for (uint64_t i = 0; i + esize <= nbytes; i += esize)
        for (size_t a = 0, b = esize - 1; a < b; a++, b--) {
            unsigned char t = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = t;
        }
}

/* --- UTF-8 ---------------------------------------------------------------------- */

/* Index of the first byte that breaks UTF-8 (overlongs, surrogates and values
 * above U+10FFFF included), or len if all is valid. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (n > len - i - 1) return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n + 1;
    }
    return len;
}

/* --- a JSON parser for the header ------------------------------------------------- */

enum { J_OBJECT, J_ARRAY, J_STRING, J_INT, J_FLOAT, J_LITERAL };

typedef struct jnode {
    int type;
    size_t pos;         /* byte offset in the header, for messages */
    const char *key;    /* member name when inside an object */
    size_t keylen;
    const char *str;    /* J_STRING: decoded, NUL-terminated (may hold no NUL: \u0000 is refused) */
    size_t len;
    uint64_t mag;       /* J_INT: magnitude */
    int neg;            /* J_INT: negative */
    size_t first, next; /* children and siblings as node indices; SIZE_MAX ends a list */
    size_t count;
} jnode;

typedef struct jparser {
    const char *s;
    size_t n, i;
    jnode *nodes;
    size_t nn, cap;
    char *arena; /* decoded strings; n + 1 bytes always suffice */
    size_t an;
    char err[256];
    size_t errpos;
} jparser;

#define JNONE SIZE_MAX

static size_t jerr(jparser *p, size_t pos, const char *msg) {
    if (!p->err[0]) {
        snprintf(p->err, sizeof p->err, "%s", msg);
        p->errpos = pos;
    }
    return JNONE;
}

static size_t jnew(jparser *p, int type) {
    if (p->nn == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        jnode *nodes = realloc(p->nodes, cap * sizeof *nodes);
        if (!nodes) return jerr(p, p->i, "out of host memory");
        p->nodes = nodes;
        p->cap = cap;
    }
    jnode *j = &p->nodes[p->nn];
    memset(j, 0, sizeof *j);
    j->type = type;
    j->pos = p->i;
    j->first = j->next = JNONE;
    return p->nn++;
}

static void jws(jparser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

static int hex4(const char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* Parses a string at p->i (on the opening quote) into the arena. */
static int jstring(jparser *p, const char **out, size_t *outlen) {
    size_t start = p->i++;
    char *d = p->arena + p->an;
    size_t k = 0;
    for (;;) {
        if (p->i >= p->n) return jerr(p, start, "unterminated string"), 0;
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') { p->i++; break; }
        if (c < 0x20) return jerr(p, p->i, "control character in string"), 0;
        if (c != '\\') { d[k++] = (char)c; p->i++; continue; }
        if (p->i + 1 >= p->n) return jerr(p, p->i, "unterminated escape"), 0;
        char e = p->s[p->i + 1];
        p->i += 2;
        switch (e) {
        case '"': d[k++] = '"'; continue;
        case '\\': d[k++] = '\\'; continue;
        case '/': d[k++] = '/'; continue;
        case 'b': d[k++] = '\b'; continue;
        case 'f': d[k++] = '\f'; continue;
        case 'n': d[k++] = '\n'; continue;
        case 'r': d[k++] = '\r'; continue;
        case 't': d[k++] = '\t'; continue;
        case 'u': break;
        default: return jerr(p, p->i - 2, "invalid escape in string"), 0;
        }
        uint32_t cp, lo;
        if (p->i + 4 > p->n || !hex4(p->s + p->i, &cp))
            return jerr(p, p->i - 2, "invalid \\u escape"), 0;
        p->i += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return jerr(p, p->i - 6, "lone low surrogate in \\u escape"), 0;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p->i + 6 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' ||
                !hex4(p->s + p->i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return jerr(p, p->i - 6, "high surrogate in \\u escape without its low half"), 0;
            p->i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0) return jerr(p, p->i - 6, "\\u0000 in string"), 0;
        if (cp < 0x80) d[k++] = (char)cp;
        else if (cp < 0x800) {
            d[k++] = (char)(0xC0 | (cp >> 6));
            d[k++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            d[k++] = (char)(0xE0 | (cp >> 12));
            d[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            d[k++] = (char)(0x80 | (cp & 0x3F));
        } else {
            d[k++] = (char)(0xF0 | (cp >> 18));
            d[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            d[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            d[k++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    d[k] = '\0';
    p->an += k + 1; /* decoded + NUL never exceeds the raw bytes with both quotes */
    *out = d;
    *outlen = k;
    return 1;
}

static size_t jnumber(jparser *p) {
    size_t idx = jnew(p, J_INT);
    if (idx == JNONE) return JNONE;
    size_t start = p->i;
    int neg = 0;
    if (p->s[p->i] == '-') { neg = 1; p->i++; }
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return jerr(p, start, "invalid number");
    uint64_t mag = 0;
    int overflow = 0;
    if (p->s[p->i] == '0') p->i++;
    else
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
            unsigned dgt = (unsigned)(p->s[p->i++] - '0');
            if (mag > (UINT64_MAX - dgt) / 10) overflow = 1;
            else mag = mag * 10 + dgt;
        }
    int is_float = 0;
    if (p->i < p->n && p->s[p->i] == '.') {
        is_float = 1;
        p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return jerr(p, start, "invalid number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        is_float = 1;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return jerr(p, start, "invalid number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    jnode *j = &p->nodes[idx];
    if (is_float) j->type = J_FLOAT;
    else if (overflow) return jerr(p, start, "integer out of range");
    j->mag = mag;
    j->neg = neg && mag != 0;
    return idx;
}

typedef struct jkey {
    const char *key;
    size_t len, pos;
} jkey;

static int jkey_cmp(const void *a, const void *b) {
    const jkey *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, m);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Duplicate keys are refused (the reference keeps the last one silently). */
static int jcheck_duplicates(jparser *p, size_t obj) {
    size_t n = p->nodes[obj].count;
    if (n < 2) return 1;
    jkey *keys = malloc(n * sizeof *keys);
    if (!keys) return jerr(p, p->nodes[obj].pos, "out of host memory"), 0;
    size_t k = 0;
    for (size_t c = p->nodes[obj].first; c != JNONE; c = p->nodes[c].next)
        keys[k++] = (jkey){p->nodes[c].key, p->nodes[c].keylen, p->nodes[c].pos};
    qsort(keys, n, sizeof *keys, jkey_cmp);
    for (size_t i = 1; i < n; i++)
        if (jkey_cmp(&keys[i - 1], &keys[i]) == 0) {
            char msg[200];
            size_t pos = keys[i - 1].pos > keys[i].pos ? keys[i - 1].pos : keys[i].pos;
            snprintf(msg, sizeof msg, "duplicate key '%.*s'", (int)(keys[i].len > 120 ? 120 : keys[i].len),
                     keys[i].key);
            free(keys);
            return jerr(p, pos, msg), 0;
        }
    free(keys);
    return 1;
}

static size_t jvalue(jparser *p, int depth) {
    jws(p);
    if (p->i >= p->n) return jerr(p, p->i, "unexpected end of header");
    char c = p->s[p->i];
    if (c == '{' || c == '[') {
        if (depth >= ST_MAX_DEPTH) return jerr(p, p->i, "nested deeper than 8 levels");
        int is_obj = c == '{';
        size_t idx = jnew(p, is_obj ? J_OBJECT : J_ARRAY);
        if (idx == JNONE) return JNONE;
        p->i++;
        jws(p);
        size_t last = JNONE;
        if (p->i < p->n && p->s[p->i] == (is_obj ? '}' : ']')) {
            p->i++;
            return idx;
        }
        for (;;) {
            const char *key = NULL;
            size_t keylen = 0, keypos = 0;
            if (is_obj) {
                jws(p);
                if (p->i >= p->n || p->s[p->i] != '"') return jerr(p, p->i, "expected a string key");
                keypos = p->i;
                if (!jstring(p, &key, &keylen)) return JNONE;
                jws(p);
                if (p->i >= p->n || p->s[p->i] != ':') return jerr(p, p->i, "expected ':'");
                p->i++;
            }
            size_t child = jvalue(p, depth + 1);
            if (child == JNONE) return JNONE;
            if (is_obj) {
                p->nodes[child].key = key;
                p->nodes[child].keylen = keylen;
                p->nodes[child].pos = keypos;
            }
            if (last == JNONE) p->nodes[idx].first = child;
            else p->nodes[last].next = child;
            last = child;
            p->nodes[idx].count++;
            jws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == (is_obj ? '}' : ']')) { p->i++; break; }
            return jerr(p, p->i, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        if (is_obj && !jcheck_duplicates(p, idx)) return JNONE;
        return idx;
    }
    if (c == '"') {
        size_t idx = jnew(p, J_STRING);
        if (idx == JNONE) return JNONE;
        const char *s;
        size_t len;
        if (!jstring(p, &s, &len)) return JNONE;
        p->nodes[idx].str = s;
        p->nodes[idx].len = len;
        return idx;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return jnumber(p);
    static const char *const literals[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(literals[k]);
        if (p->n - p->i >= l && memcmp(p->s + p->i, literals[k], l) == 0) {
            size_t idx = jnew(p, J_LITERAL);
            p->i += l;
            return idx;
        }
    }
    return jerr(p, p->i, "unexpected character");
}

/* --- the reader ------------------------------------------------------------------- */

typedef struct st_entry {
    const char *name; /* in the arena */
    clg_safetensors_dtype dtype;
    int ndim;
    int64_t *shape; /* into the file's shape pool */
    uint64_t numel, nbytes, begin, end;
} st_entry;

struct clg_safetensors {
    char *path;
    int fd;
    char *arena;
    st_entry *entries;   /* in data order */
    size_t count;
    size_t *by_name;     /* entry indices sorted by name */
    int64_t *shapes;
    const char **meta;   /* key0, value0, key1, ... */
    size_t meta_count;
    uint64_t data_start; /* 8 + N */
};

/* A name cut to fit a message. */
#define ST_NAME(s) (int)(strlen(s) > 200 ? 200 : strlen(s)), (s)

static int entry_cmp_offsets(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* qsort has no context argument; per thread, so opens on several threads do not race. */
static _Thread_local const st_entry *g_name_sort_base;
static int by_name_cmp(const void *a, const void *b) {
    return strcmp(g_name_sort_base[*(const size_t *)a].name, g_name_sort_base[*(const size_t *)b].name);
}

static const st_entry *find_entry(const clg_safetensors *f, const char *name) {
    if (!f || !name) return NULL;
    size_t lo = 0, hi = f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->entries[f->by_name[mid]].name, name);
        if (c == 0) return &f->entries[f->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int read_full(int fd, void *buf, size_t len, uint64_t offset) {
    unsigned char *p = buf;
    while (len) {
        ssize_t r = pread(fd, p, len, (off_t)offset);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        p += r;
        len -= (size_t)r;
        offset += (uint64_t)r;
    }
    return 1;
}

void clg_safetensors_free(clg_safetensors *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    free(f->path);
    free(f->arena);
    free(f->entries);
    free(f->by_name);
    free(f->shapes);
    free(f->meta);
    free(f);
}

/* Checks one tensor entry of the header and fills e. */
static clg_status parse_entry(const char *path, jparser *jp, size_t node, st_entry *e,
                              int64_t **shape_pool) {
    const jnode *obj = &jp->nodes[node];
    const char *name = obj->key;
    e->name = name;
    if (obj->type != J_OBJECT)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "safetensors file '%s': entry for tensor '%.*s' is not an object", path,
                        ST_NAME(name));
    size_t jdtype = JNONE, jshape = JNONE, joffs = JNONE;
    for (size_t c = obj->first; c != JNONE; c = jp->nodes[c].next) {
        const jnode *m = &jp->nodes[c];
        if (m->keylen == 5 && memcmp(m->key, "dtype", 5) == 0) jdtype = c;
        else if (m->keylen == 5 && memcmp(m->key, "shape", 5) == 0) jshape = c;
        else if (m->keylen == 12 && memcmp(m->key, "data_offsets", 12) == 0) joffs = c;
        /* other fields are ignored, as the reference does */
    }
    const char *missing = jdtype == JNONE ? "dtype" : jshape == JNONE ? "shape"
                        : joffs == JNONE ? "data_offsets" : NULL;
    if (missing)
        return clg_fail(CLG_STATUS_CORRUPT_DATA, "safetensors file '%s': tensor '%.*s' has no \"%s\"",
                        path, ST_NAME(name), missing);
    const jnode *jd = &jp->nodes[jdtype];
    int dt = jd->type == J_STRING ? dtype_from_name(jd->str, jd->len) : -1;
    if (dt < 0)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "safetensors file '%s': tensor '%.*s' has unknown dtype %s%.*s%s (known: F64 "
                        "F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)",
                        path, ST_NAME(name), jd->type == J_STRING ? "\"" : "",
                        jd->type == J_STRING ? (int)(jd->len > 40 ? 40 : jd->len) : 12,
                        jd->type == J_STRING ? jd->str : "(not a string)", jd->type == J_STRING ? "\"" : "");
    e->dtype = (clg_safetensors_dtype)dt;

    const jnode *js = &jp->nodes[jshape];
    if (js->type != J_ARRAY || js->count > ST_MAX_RANK)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "safetensors file '%s': tensor '%.*s': shape is not an array of at most %d "
                        "integers",
                        path, ST_NAME(name), ST_MAX_RANK);
    e->ndim = (int)js->count;
    e->shape = *shape_pool;
    *shape_pool += js->count;
    uint64_t numel = 1;
    int overflow = 0, k = 0;
    for (size_t c = js->first; c != JNONE; c = jp->nodes[c].next, k++) {
        const jnode *d = &jp->nodes[c];
        if (d->type != J_INT || d->neg || d->mag > (uint64_t)INT64_MAX)
            return clg_fail(CLG_STATUS_CORRUPT_DATA,
                            "safetensors file '%s': tensor '%.*s': shape entry %d is not a "
                            "non-negative integer",
                            path, ST_NAME(name), k);
        e->shape[k] = (int64_t)d->mag;
        if (d->mag != 0 && numel > UINT64_MAX / d->mag) overflow = 1;
        else numel *= d->mag;
    }
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] == 0) numel = 0, overflow = 0;
    size_t esize = st_dtypes[dt].size;
    if (overflow || numel > UINT64_MAX / esize)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "safetensors file '%s': tensor '%.*s': the byte size of its shape overflows",
                        path, ST_NAME(name));
    e->numel = numel;
    e->nbytes = numel * esize;

    const jnode *jo = &jp->nodes[joffs];
    const jnode *b0 = jo->type == J_ARRAY && jo->count == 2 ? &jp->nodes[jo->first] : NULL;
    const jnode *b1 = b0 ? &jp->nodes[b0->next] : NULL;
    if (!b0 || b0->type != J_INT || b1->type != J_INT || b0->neg || b1->neg)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "safetensors file '%s': tensor '%.*s': data_offsets is not two "
                        "non-negative integers",
                        path, ST_NAME(name));
    e->begin = b0->mag;
    e->end = b1->mag;
    if (e->end < e->begin)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "safetensors file '%s': tensor '%.*s': data_offsets [%llu,%llu] end before "
                        "they begin",
                        path, ST_NAME(name), (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end - e->begin != e->nbytes) {
        char s[200];
        int nd = e->ndim <= CLG_MAX_DIMS ? e->ndim : CLG_MAX_DIMS;
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "safetensors file '%s': tensor '%.*s': data_offsets [%llu,%llu] span %llu "
                        "bytes but shape %s%s of %s needs %llu",
                        path, ST_NAME(name), (unsigned long long)e->begin, (unsigned long long)e->end,
                        (unsigned long long)(e->end - e->begin), clg_shape_format(nd, e->shape, s, sizeof s),
                        nd < e->ndim ? "..." : "", st_dtypes[dt].name, (unsigned long long)e->nbytes);
    }
    return CLG_OK;
}

static clg_status parse_metadata(const char *path, jparser *jp, size_t node, clg_safetensors *f) {
    const jnode *obj = &jp->nodes[node];
    if (obj->type != J_OBJECT)
        return clg_fail(CLG_STATUS_CORRUPT_DATA, "safetensors file '%s': \"__metadata__\" is not an object",
                        path);
    f->meta = calloc(obj->count * 2 + 1, sizeof *f->meta);
    if (!f->meta)
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "safetensors file '%s': metadata", path);
    size_t k = 0;
    for (size_t c = obj->first; c != JNONE; c = jp->nodes[c].next) {
        const jnode *m = &jp->nodes[c];
        if (m->type != J_STRING)
            return clg_fail(CLG_STATUS_CORRUPT_DATA,
                            "safetensors file '%s': metadata value of '%.*s' is not a string", path,
                            ST_NAME(m->key));
        f->meta[k++] = m->key;
        f->meta[k++] = m->str;
    }
    f->meta_count = obj->count;
    return CLG_OK;
}

static clg_status open_checked(const char *path, clg_safetensors *f) {
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        int e = errno;
        return clg_fail(e == ENOENT ? CLG_STATUS_NOT_FOUND : CLG_STATUS_IO_ERROR,
                        "safetensors file '%s' cannot be opened: %s", path, strerror(e));
    }
    struct stat sb;
    if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return clg_fail(CLG_STATUS_IO_ERROR, "safetensors file '%s' is not a regular file", path);
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char lenbuf[8];
    if (size < 8)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "safetensors file '%s' is %llu bytes, too short for the 8-byte header length",
                        path, (unsigned long long)size);
    if (!read_full(f->fd, lenbuf, 8, 0))
        return clg_fail(CLG_STATUS_IO_ERROR, "safetensors file '%s': cannot read: %s", path, strerror(errno));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | lenbuf[i];
    if (n > ST_MAX_HEADER)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "safetensors file '%s': header length %llu exceeds the limit of %llu bytes",
                        path, (unsigned long long)n, ST_MAX_HEADER);
    if (n > size - 8)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "safetensors file '%s': header length %llu runs past the end of the file "
                        "(%llu bytes)",
                        path, (unsigned long long)n, (unsigned long long)size);
    f->data_start = 8 + n;
    uint64_t data_len = size - 8 - n;

    char *header = malloc((size_t)n + 1);
    f->arena = malloc((size_t)n + 1);
    if (!header || !f->arena) {
        free(header);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "safetensors file '%s': header of %llu bytes",
                        path, (unsigned long long)n);
    }
    if (!read_full(f->fd, header, (size_t)n, 8)) {
        free(header);
        return clg_fail(CLG_STATUS_IO_ERROR, "safetensors file '%s': cannot read the header", path);
    }
    header[n] = '\0';
    size_t bad = utf8_invalid_at((const unsigned char *)header, (size_t)n);
    if (bad != n) {
        free(header);
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "safetensors file '%s': header is not valid UTF-8 (byte %zu of the header)",
                        path, bad);
    }
    jparser jp = {.s = header, .n = (size_t)n, .arena = f->arena};
    size_t root = jvalue(&jp, 0);
    if (root != JNONE) {
        jws(&jp);
        if (jp.i != jp.n) jerr(&jp, jp.i, "trailing characters after the top-level object");
        else if (jp.nodes[root].type != J_OBJECT) jerr(&jp, 0, "the header is not a JSON object");
    }
    clg_status st = CLG_OK;
    if (jp.err[0]) {
        st = clg_fail(CLG_STATUS_CORRUPT_DATA, "safetensors file '%s': invalid header JSON: %s at byte %zu",
                      path, jp.err, jp.errpos);
        goto done;
    }

    /* Entries: count them, and how many shape dims they need in all. */
    size_t ntensors = 0, ndims = 0;
    for (size_t c = jp.nodes[root].first; c != JNONE; c = jp.nodes[c].next) {
        const jnode *m = &jp.nodes[c];
        if (m->keylen == 12 && memcmp(m->key, "__metadata__", 12) == 0) continue;
        ntensors++;
        if (m->type == J_OBJECT)
            for (size_t d = m->first; d != JNONE; d = jp.nodes[d].next)
                if (jp.nodes[d].keylen == 5 && memcmp(jp.nodes[d].key, "shape", 5) == 0 &&
                    jp.nodes[d].type == J_ARRAY && jp.nodes[d].count <= ST_MAX_RANK)
                    ndims += jp.nodes[d].count;
    }
    f->entries = calloc(ntensors + 1, sizeof *f->entries);
    f->by_name = calloc(ntensors + 1, sizeof *f->by_name);
    f->shapes = calloc(ndims + 1, sizeof *f->shapes);
    if (!f->entries || !f->by_name || !f->shapes) {
        st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "safetensors file '%s': %zu tensor entries", path,
                      ntensors);
        goto done;
    }
    int64_t *pool = f->shapes;
    for (size_t c = jp.nodes[root].first; c != JNONE; c = jp.nodes[c].next) {
        const jnode *m = &jp.nodes[c];
        if (m->keylen == 12 && memcmp(m->key, "__metadata__", 12) == 0) {
            st = parse_metadata(path, &jp, c, f);
        } else if (m->keylen == 0) {
            st = clg_fail(CLG_STATUS_CORRUPT_DATA, "safetensors file '%s': a tensor has an empty name", path);
        } else {
            st = parse_entry(path, &jp, c, &f->entries[f->count], &pool);
            if (st == CLG_OK) f->count++;
        }
        if (st != CLG_OK) goto done;
    }

    /* Offsets: inside the data region, then (sorted) contiguous from 0 to its end. */
    for (size_t i = 0; i < f->count; i++) {
        const st_entry *e = &f->entries[i];
        if (e->end > data_len) {
            st = clg_fail(CLG_STATUS_CORRUPT_DATA,
                          "safetensors file '%s': tensor '%.*s': data_offsets [%llu,%llu] lie beyond "
                          "the end of the data (%llu bytes)",
                          path, ST_NAME(e->name), (unsigned long long)e->begin,
                          (unsigned long long)e->end, (unsigned long long)data_len);
            goto done;
        }
    }
    qsort(f->entries, f->count, sizeof *f->entries, entry_cmp_offsets);
    uint64_t expect = 0;
    for (size_t i = 0; i < f->count; i++) {
        const st_entry *e = &f->entries[i];
        if (e->begin != expect) {
            const char *why = e->begin > expect ? (i == 0 ? "the data does not start at offset 0"
                                                          : "a hole precedes it")
                                                : "it overlaps the previous tensor";
            if (e->begin > expect && i > 0)
                st = clg_fail(CLG_STATUS_CORRUPT_DATA,
                              "safetensors file '%s': tensor '%.*s': data_offsets [%llu,%llu]: %s "
                              "(tensor '%.*s' ends at %llu)",
                              path, ST_NAME(e->name), (unsigned long long)e->begin,
                              (unsigned long long)e->end, why, ST_NAME(f->entries[i - 1].name),
                              (unsigned long long)expect);
            else if (e->begin < expect)
                st = clg_fail(CLG_STATUS_CORRUPT_DATA,
                              "safetensors file '%s': tensor '%.*s': data_offsets [%llu,%llu]: %s "
                              "'%.*s' (ends at %llu)",
                              path, ST_NAME(e->name), (unsigned long long)e->begin,
                              (unsigned long long)e->end, why, ST_NAME(f->entries[i - 1].name),
                              (unsigned long long)expect);
            else
                st = clg_fail(CLG_STATUS_CORRUPT_DATA,
                              "safetensors file '%s': tensor '%.*s': data_offsets [%llu,%llu]: %s",
                              path, ST_NAME(e->name), (unsigned long long)e->begin,
                              (unsigned long long)e->end, why);
            goto done;
        }
        expect = e->end;
    }
    if (expect != data_len) {
        st = clg_fail(CLG_STATUS_CORRUPT_DATA,
                      "safetensors file '%s': the tensors cover %llu bytes of data but the file holds "
                      "%llu after the header (the data region must be covered exactly)",
                      path, (unsigned long long)expect, (unsigned long long)data_len);
        goto done;
    }
    for (size_t i = 0; i < f->count; i++) f->by_name[i] = i;
    g_name_sort_base = f->entries; /* names are unique (duplicate keys were refused) */
    qsort(f->by_name, f->count, sizeof *f->by_name, by_name_cmp);
done:
    free(jp.nodes);
    free(header);
    return st;
}

clg_status clg_safetensors_open(const char *path, clg_safetensors **out) {
    if (!out) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_safetensors_open: out is NULL");
    *out = NULL;
    if (!path) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_safetensors_open: path is NULL");
    clg_safetensors *f = calloc(1, sizeof *f);
    if (f) f->fd = -1;
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_safetensors_open: '%s'", path);
    }
    clg_status st = open_checked(path, f);
    if (st != CLG_OK) {
        clg_safetensors_free(f);
        return st;
    }
    *out = f;
    return CLG_OK;
}

const char *clg_safetensors_path(const clg_safetensors *f) { return f ? f->path : NULL; }
size_t clg_safetensors_count(const clg_safetensors *f) { return f ? f->count : 0; }

const char *clg_safetensors_name(const clg_safetensors *f, size_t i) {
    return f && i < f->count ? f->entries[i].name : NULL;
}

clg_status clg_safetensors_info_get(const clg_safetensors *f, const char *name,
                                    clg_safetensors_info *info) {
    if (!f || !name || !info)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_safetensors_info_get: file, name or info is NULL");
    const st_entry *e = find_entry(f, name);
    if (!e)
        return clg_fail(CLG_STATUS_NOT_FOUND, "safetensors file '%s' has no tensor '%.*s'", f->path,
                        ST_NAME(name));
    info->name = e->name;
    info->dtype = e->dtype;
    info->ndim = e->ndim;
    info->shape = e->shape;
    info->numel = e->numel;
    info->nbytes = e->nbytes;
    info->file_offset = f->data_start + e->begin;
    return CLG_OK;
}

clg_safetensors_dtype clg_safetensors_dtype_of(const clg_safetensors *f, const char *name) {
    const st_entry *e = find_entry(f, name);
    return e ? e->dtype : CLG_SAFETENSORS_DTYPE_COUNT_;
}

int clg_safetensors_ndim(const clg_safetensors *f, const char *name) {
    const st_entry *e = find_entry(f, name);
    return e ? e->ndim : -1;
}

const int64_t *clg_safetensors_shape(const clg_safetensors *f, const char *name) {
    const st_entry *e = find_entry(f, name);
    return e ? e->shape : NULL;
}

size_t clg_safetensors_metadata_count(const clg_safetensors *f) { return f ? f->meta_count : 0; }

const char *clg_safetensors_metadata_key(const clg_safetensors *f, size_t i) {
    return f && i < f->meta_count ? f->meta[2 * i] : NULL;
}

const char *clg_safetensors_metadata_value(const clg_safetensors *f, size_t i) {
    return f && i < f->meta_count ? f->meta[2 * i + 1] : NULL;
}

const char *clg_safetensors_metadata_get(const clg_safetensors *f, const char *key) {
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->meta_count; i++)
        if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
    return NULL;
}

static clg_status read_entry(const clg_safetensors *f, const st_entry *e, void *dst, const char *api) {
    if (e->nbytes > SIZE_MAX)
        return clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: file '%s' tensor '%.*s' (%llu bytes) does not fit in memory",
                        api, f->path, ST_NAME(e->name), (unsigned long long)e->nbytes);
    if (e->nbytes && !read_full(f->fd, dst, (size_t)e->nbytes, f->data_start + e->begin))
        return clg_fail(CLG_STATUS_IO_ERROR,
                        "%s: file '%s' tensor '%.*s': cannot read %llu bytes at offset %llu (%s)", api,
                        f->path, ST_NAME(e->name), (unsigned long long)e->nbytes,
                        (unsigned long long)(f->data_start + e->begin),
                        errno ? strerror(errno) : "the file was truncated");
    to_from_le(dst, e->nbytes, st_dtypes[e->dtype].size);
    return CLG_OK;
}

clg_status clg_safetensors_read(const clg_safetensors *f, const char *name, void *dst, size_t bytes) {
    const char *api = "clg_safetensors_read";
    if (!f || !name) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: file or name is NULL", api);
    const st_entry *e = find_entry(f, name);
    if (!e)
        return clg_fail(CLG_STATUS_NOT_FOUND, "%s: safetensors file '%s' has no tensor '%.*s'", api,
                        f->path, ST_NAME(name));
    if (e->nbytes == 0) return CLG_OK;
    if (!dst || bytes < e->nbytes)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: file '%s' tensor '%.*s' needs %llu bytes, the buffer has %zu%s", api,
                        f->path, ST_NAME(name), (unsigned long long)e->nbytes, dst ? bytes : 0,
                        dst ? "" : " (NULL)");
    errno = 0;
    return read_entry(f, e, dst, api);
}

clg_tensor *clg_safetensors_read_tensor(const clg_safetensors *f, const char *name, clg_context *ctx) {
    const char *api = "clg_safetensors_read_tensor";
    if (!f || !name || !ctx) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: file, name or context is NULL", api);
        return NULL;
    }
    const st_entry *e = find_entry(f, name);
    if (!e) {
        clg_fail(CLG_STATUS_NOT_FOUND, "%s: safetensors file '%s' has no tensor '%.*s'", api, f->path,
                 ST_NAME(name));
        return NULL;
    }
    clg_dtype dt;
    switch (e->dtype) {
    case CLG_SAFETENSORS_F32: dt = CLG_FLOAT32; break;
    case CLG_SAFETENSORS_I32: dt = CLG_INT32; break;
    case CLG_SAFETENSORS_U8: dt = CLG_UINT8; break;
    case CLG_SAFETENSORS_F16: dt = CLG_FLOAT16; break;
    default:
        clg_fail(CLG_STATUS_UNSUPPORTED,
                 "%s: file '%s' tensor '%.*s' has dtype %s; clgrad tensors hold F32, I32, U8 and F16 "
                 "(read it with clg_safetensors_read and convert)",
                 api, f->path, ST_NAME(name), st_dtypes[e->dtype].name);
        return NULL;
    }
    if (e->ndim > CLG_MAX_DIMS) {
        clg_fail(CLG_STATUS_UNSUPPORTED, "%s: file '%s' tensor '%.*s' has %d dimensions, more than %d",
                 api, f->path, ST_NAME(name), e->ndim, CLG_MAX_DIMS);
        return NULL;
    }
    void *host = NULL;
    if (e->nbytes) {
        host = e->nbytes <= SIZE_MAX ? malloc((size_t)e->nbytes) : NULL;
        if (!host) {
            clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: file '%s' tensor '%.*s' (%llu bytes)", api,
                     f->path, ST_NAME(name), (unsigned long long)e->nbytes);
            return NULL;
        }
        errno = 0;
        if (read_entry(f, e, host, api) != CLG_OK) {
            free(host);
            return NULL;
        }
    }
    clg_tensor *t = clg_tensor_from_host(ctx, dt, e->ndim, e->shape, host);
    free(host);
    if (!t) {
        clg_fail_wrap(clg_last_status(), "%s: file '%s' tensor '%.*s'", api, f->path, ST_NAME(name));
        return NULL;
    }
    if (clg_tensor_set_name(t, name) != CLG_OK) {
        clg_tensor_free(t);
        return NULL;
    }
    return t;
}

/* --- the writer -------------------------------------------------------------------- */

typedef struct wr_entry {
    char *name;
    clg_safetensors_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_RANK];
    uint64_t nbytes;
    void *data; /* host byte order */
} wr_entry;

struct clg_safetensors_writer {
    wr_entry *entries;
    size_t count, cap;
    char **meta; /* key, value pairs */
    size_t meta_count, meta_cap;
};

clg_safetensors_writer *clg_safetensors_writer_new(void) {
    clg_safetensors_writer *w = calloc(1, sizeof *w);
    if (!w) clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_safetensors_writer_new");
    return w;
}

void clg_safetensors_writer_free(clg_safetensors_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->count; i++) {
        free(w->entries[i].name);
        free(w->entries[i].data);
    }
    for (size_t i = 0; i < 2 * w->meta_count; i++) free(w->meta[i]);
    free(w->entries);
    free(w->meta);
    free(w);
}

static clg_status check_text(const char *api, const char *what, const char *s) {
    size_t n = strlen(s);
    if (utf8_invalid_at((const unsigned char *)s, n) != n)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s '%.*s' is not valid UTF-8", api, what,
                        ST_NAME(s));
    return CLG_OK;
}

/* Validates the name and makes room; the caller fills entries[count]. */
static clg_status writer_reserve(clg_safetensors_writer *w, const char *name, const char *api) {
    if (!w || !name) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: writer or name is NULL", api);
    if (!name[0]) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor name is empty", api);
    if (strcmp(name, "__metadata__") == 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor name '__metadata__' is reserved", api);
    if (check_text(api, "tensor name", name) != CLG_OK) return clg_last_status();
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor '%.*s' was already added", api,
                            ST_NAME(name));
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        wr_entry *e = realloc(w->entries, cap * sizeof *e);
        if (!e) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: tensor '%.*s'", api, ST_NAME(name));
        w->entries = e;
        w->cap = cap;
    }
    memset(&w->entries[w->count], 0, sizeof w->entries[w->count]);
    if (!(w->entries[w->count].name = strdup(name)))
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: tensor '%.*s'", api, ST_NAME(name));
    return CLG_OK;
}

static void writer_unreserve(clg_safetensors_writer *w) {
    free(w->entries[w->count].name);
    free(w->entries[w->count].data);
}

clg_status clg_safetensors_writer_add_host(clg_safetensors_writer *w, const char *name,
                                           clg_safetensors_dtype dtype, int ndim,
                                           const int64_t *shape, const void *data) {
    const char *api = "clg_safetensors_writer_add_host";
    if (writer_reserve(w, name, api) != CLG_OK) return clg_last_status();
    wr_entry *e = &w->entries[w->count];
    clg_status st = CLG_OK;
    if ((unsigned)dtype >= CLG_SAFETENSORS_DTYPE_COUNT_)
        st = clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor '%.*s': unknown dtype %d", api,
                      ST_NAME(name), (int)dtype);
    else if (ndim < 0 || ndim > ST_MAX_RANK || (ndim > 0 && !shape))
        st = clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor '%.*s': rank %d outside 0..%d or shape NULL",
                      api, ST_NAME(name), ndim, ST_MAX_RANK);
    uint64_t numel = 1;
    int zero = 0;
    for (int i = 0; st == CLG_OK && i < ndim; i++) {
        if (shape[i] < 0)
            st = clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor '%.*s': dimension %d is negative", api,
                          ST_NAME(name), i);
        if (shape[i] == 0) zero = 1;
    }
    for (int i = 0; st == CLG_OK && !zero && i < ndim; i++) {
        if (numel > UINT64_MAX / (uint64_t)shape[i]) st = CLG_STATUS_SIZE_OVERFLOW;
        else numel *= (uint64_t)shape[i];
    }
    if (zero) numel = 0;
    size_t esize = clg_safetensors_dtype_size(dtype);
    if (st == CLG_STATUS_SIZE_OVERFLOW || (st == CLG_OK && numel > SIZE_MAX / esize))
        st = clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: tensor '%.*s': the byte size of its shape overflows",
                      api, ST_NAME(name));
    if (st == CLG_OK) {
        e->dtype = dtype;
        e->ndim = ndim;
        for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
        e->nbytes = numel * esize;
        if (e->nbytes && !data)
            st = clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor '%.*s': data is NULL", api, ST_NAME(name));
        else if (e->nbytes && !(e->data = malloc((size_t)e->nbytes)))
            st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: tensor '%.*s' (%llu bytes)", api,
                          ST_NAME(name), (unsigned long long)e->nbytes);
        else if (e->nbytes)
            memcpy(e->data, data, (size_t)e->nbytes);
    }
    if (st != CLG_OK) {
        writer_unreserve(w);
        return st;
    }
    w->count++;
    return CLG_OK;
}

clg_status clg_safetensors_writer_add(clg_safetensors_writer *w, const char *name, const clg_tensor *t) {
    const char *api = "clg_safetensors_writer_add";
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor '%.*s' is NULL", api,
                            name ? (int)strlen(name) : 6, name ? name : "(null)");
    if (writer_reserve(w, name, api) != CLG_OK) return clg_last_status();
    wr_entry *e = &w->entries[w->count];
    clg_status st = CLG_OK;
    switch (clg_tensor_dtype(t)) {
    case CLG_FLOAT32: e->dtype = CLG_SAFETENSORS_F32; break;
    case CLG_INT32: e->dtype = CLG_SAFETENSORS_I32; break;
    case CLG_UINT8: e->dtype = CLG_SAFETENSORS_U8; break;
    case CLG_FLOAT16: e->dtype = CLG_SAFETENSORS_F16; break;
    default:
        st = clg_fail(CLG_STATUS_UNSUPPORTED, "%s: tensor '%.*s' has dtype %s", api, ST_NAME(name),
                      clg_dtype_name(clg_tensor_dtype(t)));
    }
    e->ndim = clg_tensor_ndim(t);
    for (int i = 0; i < e->ndim; i++) e->shape[i] = clg_tensor_shape(t)[i];
    e->nbytes = (uint64_t)clg_tensor_numel(t) * clg_dtype_size(clg_tensor_dtype(t));
    if (st == CLG_OK && e->nbytes && !(e->data = malloc((size_t)e->nbytes)))
        st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: tensor '%.*s' (%llu bytes)", api, ST_NAME(name),
                      (unsigned long long)e->nbytes);
    if (st == CLG_OK && e->nbytes && clg_tensor_to_host(t, e->data, (size_t)e->nbytes) != CLG_OK)
        st = clg_fail_wrap(clg_last_status(), "%s: tensor '%.*s'", api, ST_NAME(name));
    if (st != CLG_OK) {
        writer_unreserve(w);
        return st;
    }
    w->count++;
    return CLG_OK;
}

clg_status clg_safetensors_writer_set_metadata(clg_safetensors_writer *w, const char *key,
                                               const char *value) {
    const char *api = "clg_safetensors_writer_set_metadata";
    if (!w || !key || !value) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: writer, key or value is NULL", api);
    if (check_text(api, "metadata key", key) != CLG_OK || check_text(api, "metadata value", value) != CLG_OK)
        return clg_last_status();
    char *v = strdup(value);
    if (!v) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: key '%.*s'", api, ST_NAME(key));
    for (size_t i = 0; i < w->meta_count; i++)
        if (strcmp(w->meta[2 * i], key) == 0) {
            free(w->meta[2 * i + 1]);
            w->meta[2 * i + 1] = v;
            return CLG_OK;
        }
    char *k = strdup(key);
    if (w->meta_count == w->meta_cap && k) {
        size_t cap = w->meta_cap ? 2 * w->meta_cap : 8;
        char **m = realloc(w->meta, 2 * cap * sizeof *m);
        if (m) {
            w->meta = m;
            w->meta_cap = cap;
        }
    }
    if (!k || w->meta_count == w->meta_cap) {
        free(k);
        free(v);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: key '%.*s'", api, ST_NAME(key));
    }
    w->meta[2 * w->meta_count] = k;
    w->meta[2 * w->meta_count + 1] = v;
    w->meta_count++;
    return CLG_OK;
}


static _Thread_local const wr_entry *g_wr_sort_base;
static int wr_order_cmp(const void *a, const void *b) {
    const wr_entry *x = &g_wr_sort_base[*(const size_t *)a], *y = &g_wr_sort_base[*(const size_t *)b];
    int ox = st_dtypes[x->dtype].order, oy = st_dtypes[y->dtype].order;
    if (ox != oy) return oy - ox;
    return strcmp(x->name, y->name);
}

static _Thread_local const char *const *g_meta_sort_base;
static int meta_order_cmp(const void *a, const void *b) {
    return strcmp(g_meta_sort_base[2 * *(const size_t *)a], g_meta_sort_base[2 * *(const size_t *)b]);
}


clg_status clg_safetensors_writer_save(const clg_safetensors_writer *w, const char *path) {
    const char *api = "clg_safetensors_writer_save";
    if (!w || !path || !path[0])
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: writer or path is NULL or empty", api);
    size_t *order = malloc((w->count + w->meta_count + 1) * sizeof *order);
    if (!order) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: '%s'", api, path);
    size_t *morder = order + w->count;
    for (size_t i = 0; i < w->count; i++) order[i] = i;
    for (size_t i = 0; i < w->meta_count; i++) morder[i] = i;
    g_wr_sort_base = w->entries;
    qsort(order, w->count, sizeof *order, wr_order_cmp);
    g_meta_sort_base = (const char *const *)w->meta;
    qsort(morder, w->meta_count, sizeof *morder, meta_order_cmp);

    clg_strbuf h = {0};
    clg_strbuf_str(&h, "{");
    if (w->meta_count) {
        clg_strbuf_str(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->meta_count; i++) {
            if (i) clg_strbuf_str(&h, ",");
            clg_strbuf_json(&h, w->meta[2 * morder[i]]);
            clg_strbuf_str(&h, ":");
            clg_strbuf_json(&h, w->meta[2 * morder[i] + 1]);
        }
        clg_strbuf_str(&h, "}");
    }
    uint64_t off = 0;
    for (size_t k = 0; k < w->count; k++) {
        const wr_entry *e = &w->entries[order[k]];
        char num[64];
        if (k || w->meta_count) clg_strbuf_str(&h, ",");
        clg_strbuf_json(&h, e->name);
        clg_strbuf_str(&h, ":{\"dtype\":\"");
        clg_strbuf_str(&h, st_dtypes[e->dtype].name);
        clg_strbuf_str(&h, "\",\"shape\":[");
        for (int i = 0; i < e->ndim; i++) {
            snprintf(num, sizeof num, "%s%lld", i ? "," : "", (long long)e->shape[i]);
            clg_strbuf_str(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + e->nbytes));
        clg_strbuf_str(&h, num);
        off += e->nbytes;
    }
    clg_strbuf_str(&h, "}");
    while (!h.oom && h.len % 8) clg_strbuf_str(&h, " ");
    clg_status st = CLG_OK;
    if (h.oom) {
        st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: header for '%s'", api, path);
        goto out;
    }
    if (h.len > ST_MAX_HEADER) {
        st = clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: '%s': the header would be %zu bytes, over the %llu limit",
                      api, path, h.len, ST_MAX_HEADER);
        goto out;
    }

    clg_atomic_file f;
    if ((st = clg_atomic_file_begin(&f, path)) != CLG_OK) {
        clg_fail_wrap(st, "%s", api);
        goto out;
    }
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    st = clg_atomic_file_write(&f, lenbuf, 8);
    if (st == CLG_OK) st = clg_atomic_file_write(&f, h.s, h.len);
    if (st != CLG_OK) clg_fail_wrap(st, "%s: writing the header of '%s'", api, path);
    for (size_t k = 0; st == CLG_OK && k < w->count; k++) {
        const wr_entry *e = &w->entries[order[k]];
        if (!e->nbytes) continue;
        size_t esize = st_dtypes[e->dtype].size;
        if (esize > 1 && !host_is_little_endian()) {
            void *le = malloc((size_t)e->nbytes);
            if (!le) {
                st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: converting tensor '%.*s'", api,
                              ST_NAME(e->name));
                break;
            }
            memcpy(le, e->data, (size_t)e->nbytes);
            to_from_le(le, e->nbytes, esize);
            st = clg_atomic_file_write(&f, le, e->nbytes);
            free(le);
        } else {
            st = clg_atomic_file_write(&f, e->data, e->nbytes);
        }
        if (st != CLG_OK) clg_fail_wrap(st, "%s: writing tensor '%.*s'", api, ST_NAME(e->name));
    }
    if (st == CLG_OK) {
        st = clg_atomic_file_commit(&f);
        if (st != CLG_OK) clg_fail_wrap(st, "%s", api);
    } else {
        clg_atomic_file_abort(&f);
    }
out:
    free(h.s);
    free(order);
    return st;
}
