/* The per-device key-value store: tuned parameters and measured choices that
 * outlive a process. One text file per device and driver:
 *   clgrad-store 1
 *   <key>\t<value>          (one line per item)
 *   end <crc-32 of all the lines before, hex>
 * A file that does not parse or whose checksum fails is ignored (counted as a
 * cache rejection) and replaced on the next write. Writers take an advisory lock,
 * re-read the file, apply their change and rename a new file into place, so two
 * processes setting different keys both keep their value. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include "common/array.h"
#include "common/error.h"
#include "common/file.h"
#include "runtime/runtime_impl.h"

enum { KEY_MAX = 255, VALUE_MAX = 4095 };
#define STORE_MAX_FILE ((size_t)16 << 20)
static const char store_header[] = "clgrad-store 1\n";

void clg_store_clear(clg_store *store) {
    for (size_t i = 0; i < store->count; i++) {
        free(store->items[i].key);
        free(store->items[i].value);
    }
    free(store->items);
    store->items = NULL;
    store->count = store->cap = 0;
    store->loaded = 0;
}

static clg_store_item *find(clg_store *store, const char *key) {
    for (size_t i = 0; i < store->count; i++)
        if (strcmp(store->items[i].key, key) == 0) return &store->items[i];
    return NULL;
}

static int put(clg_store *store, const char *key, size_t klen, const char *value, size_t vlen) {
    char *k = malloc(klen + 1), *v = malloc(vlen + 1);
    if (!k || !v) {
        free(k);
        free(v);
        return 0;
    }
    memcpy(k, key, klen);
    k[klen] = '\0';
    memcpy(v, value, vlen);
    v[vlen] = '\0';
    clg_store_item *it = find(store, k);
    if (it) {
        free(k);
        free(it->value);
        it->value = v;
        return 1;
    }
    if (!CLG_RESERVE(store->items, store->cap, store->count + 1, 16)) {
        free(k);
        free(v);
        return 0;
    }
    store->items[store->count++] = (clg_store_item){k, v};
    return 1;
}

/* Whether n bytes can be a key or value as clg_store_set writes them: no NUL
 * (it would cut the C string, and the file written back would mean something
 * else, or not parse), no TAB, CR or LF (check_text refuses them). */
static int storable(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') return 0;
    return 1;
}

/* Parses a whole store file into store; returns 0 (store left empty) if the file
 * is not a valid store. */
static int parse(clg_store *store, const char *data, size_t len) {
    size_t hl = sizeof store_header - 1;
    if (len < hl || memcmp(data, store_header, hl) != 0) return 0;
    const char *p = data + hl, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) return 0;
        if ((size_t)(nl - p) > 4 && memcmp(p, "end ", 4) == 0) {
            unsigned long want;
            char hex[16];
            size_t n = (size_t)(nl - p - 4);
            if (n == 0 || n >= sizeof hex || nl + 1 != end) return 0;
            memcpy(hex, p + 4, n);
            hex[n] = '\0';
            char *stop;
            want = strtoul(hex, &stop, 16);
            if (*stop) return 0;
            uLong crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)data, (uInt)(p - data));
            return crc == want;
        }
        const char *tab = memchr(p, '\t', (size_t)(nl - p));
        if (!tab || tab == p || tab - p > KEY_MAX || nl - tab - 1 > VALUE_MAX) return 0;
        if (!storable(p, (size_t)(tab - p)) || !storable(tab + 1, (size_t)(nl - tab - 1))) return 0;
        if (!put(store, p, (size_t)(tab - p), tab + 1, (size_t)(nl - tab - 1))) return 0;
        p = nl + 1;
    }
    return 0; /* no end line: truncated */
}

static void load(clg_context *ctx) {
    clg_store *store = &ctx->store;
    clg_store_clear(store);
    store->loaded = 1;
    if (!store->path[0]) return;
    char *data;
    size_t len;
    clg_error_saved saved;
    clg_error_save(&saved);
    if (clg_read_file(store->path, STORE_MAX_FILE, &data, &len) == CLG_OK) {
        if (!parse(store, data, len)) {
            clg_store_clear(store);
            store->loaded = 1;
            ctx->stats.disk_cache_rejected++;
        }
        free(data);
    }
    /* A missing or unreadable store is an empty store, not a failure. */
    clg_error_restore(&saved);
}

static clg_status save(clg_store *store) {
    size_t total = sizeof store_header + 32;
    for (size_t i = 0; i < store->count; i++)
        total += strlen(store->items[i].key) + strlen(store->items[i].value) + 2;
    char *buf = malloc(total);
    if (!buf) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "writing store '%s'", store->path);
    size_t n = (size_t)snprintf(buf, total, "%s", store_header);
    for (size_t i = 0; i < store->count; i++)
        n += (size_t)snprintf(buf + n, total - n, "%s\t%s\n", store->items[i].key,
                              store->items[i].value);
    uLong crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)buf, (uInt)n);
    n += (size_t)snprintf(buf + n, total - n, "end %08lx\n", (unsigned long)crc);
    clg_status st = clg_write_file_atomic(store->path, buf, n);
    free(buf);
    return st;
}

static clg_status check_text(const char *what, const char *s, size_t max) {
    size_t n = strlen(s);
    if (n > max)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "store %s is %zu bytes, more than %zu", what, n, max);
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "store %s '%.40s' contains a tab or newline", what, s);
    return CLG_OK;
}

clg_status clg_store_get(clg_context *ctx, const char *key, char *buf, size_t cap) {
    if (!ctx || !key || !buf || cap == 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_store_get: NULL argument or zero capacity");
    if (!ctx->store.loaded) load(ctx);
    clg_store_item *it = find(&ctx->store, key);
    if (!it) return clg_fail(CLG_STATUS_NOT_FOUND, "store key '%s' not found for %s", key, ctx->label);
    size_t n = strlen(it->value);
    if (n + 1 > cap)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "store value of '%s' needs %zu bytes, buffer has %zu", key, n + 1, cap);
    memcpy(buf, it->value, n + 1);
    return CLG_OK;
}

clg_status clg_store_set(clg_context *ctx, const char *key, const char *value) {
    if (!ctx || !key || !value)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_store_set: NULL argument");
    clg_status st = check_text("key", key, KEY_MAX);
    if (st == CLG_OK && !key[0]) st = clg_fail(CLG_STATUS_INVALID_ARGUMENT, "store key is empty");
    if (st == CLG_OK) st = check_text("value", value, VALUE_MAX);
    if (st != CLG_OK) return st;

    clg_store *store = &ctx->store;
    int lock_fd = -1;
    if (store->path[0]) {
        char lock_path[4200];
        snprintf(lock_path, sizeof lock_path, "%s.lock", store->path);
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", store->path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        if ((st = clg_mkdirs(dir)) != CLG_OK) return st;
        lock_fd = open(lock_path, O_RDWR | O_CREAT, 0644);
        if (lock_fd >= 0) flock(lock_fd, LOCK_EX);
        load(ctx); /* pick up what other processes wrote meanwhile */
    } else if (!store->loaded) {
        load(ctx);
    }
    if (!put(store, key, strlen(key), value, strlen(value)))
        st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "store key '%s'", key);
    else if (store->path[0])
        st = save(store);
    if (lock_fd >= 0) {
        flock(lock_fd, LOCK_UN);
        close(lock_fd);
    }
    return st;
}
