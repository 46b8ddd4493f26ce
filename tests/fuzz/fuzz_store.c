/* libFuzzer target: the per-device store file (<cache>/store/<hash>.txt),
 * loaded through clg_store_get on a real context whose cache is this process's
 * own, then written back by clg_store_set; and the CLBlast tuning value parser
 * that reads one of its values (clg_gemm_parse_tuning).
 *
 * Input: one mode byte, then the payload. Mode bit 0 clear: the payload is the
 * file. Set: the payload is the item lines; the harness puts the header line in
 * front and the checksum line after them, so that mutations reach the items. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "common/file.h"
#include "fuzz_common.h"
#include "ops/gemm_cpu.h"
#include "runtime/runtime_impl.h"

static clg_context *g_ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    g_ctx = fuzz_context(1);
    if (!g_ctx->store.path[0]) {
        fprintf(stderr, "fuzz_store: no context with a disk store: %s\n", clg_last_error());
        abort();
    }
    char dir[sizeof g_ctx->store.path];
    snprintf(dir, sizeof dir, "%s", g_ctx->store.path);
    *strrchr(dir, '/') = '\0';
    if (clg_mkdirs(dir) != CLG_OK) abort();
    return 0;
}

/* The items of the store as C strings (what clg_store_get serves), copied. */
typedef struct snapshot {
    char **keys, **values;
    size_t n;
} snapshot;

static snapshot take_snapshot(const clg_store *s) {
    snapshot p = {calloc(s->count + 1, sizeof(char *)), calloc(s->count + 1, sizeof(char *)), 0};
    for (size_t i = 0; p.keys && p.values && i < s->count; i++, p.n++) {
        p.keys[i] = strdup(s->items[i].key);
        p.values[i] = strdup(s->items[i].value);
    }
    return p;
}

static void free_snapshot(snapshot *p) {
    for (size_t i = 0; i < p->n; i++) free(p->keys[i]), free(p->values[i]);
    free(p->keys), free(p->values);
}

/* Every item of p is served as it was, but `skip` (a key written since). */
static void check_items(clg_context *ctx, const snapshot *p, const char *skip, const char *when) {
    char buf[4200];
    for (size_t i = 0; i < p->n; i++) {
        if (!p->keys[i] || !p->values[i] || (skip && strcmp(p->keys[i], skip) == 0)) continue;
        FUZZ_CHECK(strlen(p->keys[i]) <= 255 && strlen(p->values[i]) <= 4095, "an item over the caps %s", when);
        FUZZ_CHECK(!strchr(p->keys[i], '\n') && !strchr(p->keys[i], '\t') && !strchr(p->values[i], '\n'),
                   "a line end or key tab in an item %s", when);
        clg_status st = clg_store_get(ctx, p->keys[i], buf, sizeof buf);
        FUZZ_CHECK(st == CLG_OK && strcmp(buf, p->values[i]) == 0, "item '%s' %s: %s", p->keys[i], when,
                   st == CLG_OK ? buf : clg_last_error());
    }
}

static void check_tuning_value(clg_context *ctx) {
    char value[1024];
    if (clg_store_get(ctx, CLG_STORE_CLBLAST_XGEMM, value, sizeof value) != CLG_OK) return;
    const char *names[32];
    size_t values[32];
    size_t n = clg_gemm_parse_tuning(value, names, values, 32);
    FUZZ_CHECK(n <= 32, "%zu tuning pairs", n);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(names[i] >= value && names[i] < value + sizeof value && names[i][0], "tuning name %zu", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    clg_context *ctx = g_ctx;
    if (data[0] & 1) {
        static const char header[] = "clgrad-store 1\n";
        size_t hl = sizeof header - 1, n = hl + size - 1;
        char *file = malloc(n + 32);
        if (!file) return 0;
        memcpy(file, header, hl);
        memcpy(file + hl, data + 1, size - 1);
        uLong crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)file, (uInt)n);
        n += (size_t)snprintf(file + n, 32, "end %08lx\n", (unsigned long)crc);
        fuzz_write(ctx->store.path, file, n);
        free(file);
    } else {
        fuzz_write(ctx->store.path, data + 1, size - 1);
    }
    clg_store_clear(&ctx->store); /* the next get reads the file */
    uint64_t rejected = clg_context_get_stats(ctx).disk_cache_rejected;
    char buf[4200];
    clg_clear_error();
    clg_status st = clg_store_get(ctx, "\x01" "fuzz.absent", buf, sizeof buf);
    if (st != CLG_OK) { /* the fuzzer may have put the key in */
        FUZZ_CHECK(st == CLG_STATUS_NOT_FOUND, "get of an absent key: %s", clg_status_name(st));
        fuzz_check_failure(st, "clg_store_get", "fuzz.absent");
    }
    FUZZ_CHECK(ctx->store.loaded, "the store was not loaded");
    int refused = clg_context_get_stats(ctx).disk_cache_rejected != rejected;
    FUZZ_CHECK(!refused || ctx->store.count == 0, "a refused file left %zu items", ctx->store.count);
    snapshot before = take_snapshot(&ctx->store);
    check_items(ctx, &before, NULL, "after loading");
    check_tuning_value(ctx);

    /* A write re-reads the file, adds its key and saves: nothing read is lost. */
    FUZZ_CHECK(clg_store_set(ctx, "fuzz.key", "fuzz value") == CLG_OK, "set after loading");
    clg_store_clear(&ctx->store);
    FUZZ_CHECK(clg_store_get(ctx, "fuzz.key", buf, sizeof buf) == CLG_OK && strcmp(buf, "fuzz value") == 0,
               "the value set is not in the file written");
    FUZZ_CHECK(clg_context_get_stats(ctx).disk_cache_rejected == rejected + (uint64_t)refused * 2,
               "the store's own file was refused");
    check_items(ctx, &before, "fuzz.key", "after a write");
    free_snapshot(&before);
    return 0;
}
