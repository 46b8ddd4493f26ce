/* Text utilities: line, fortune and directory readers, UTF-8 tokenizers,
 * token counting, vocabularies (with their file format), ragged sequences and
 * Keras's pad_sequences. Everything is host memory and byte strings with
 * explicit lengths; input bytes are never trusted (caps, U+FFFD, no unbounded
 * allocation from a claimed count). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clgrad/text.h"
#include "common/array.h"
#include "common/error.h"
#include "common/file.h"
#include "common/hash.h"
#include "tensor/tensor_impl.h"

/* --- text lists ------------------------------------------------------------------ */

/* Items are gathered as one growing byte buffer (each item NUL-terminated) plus
 * offsets; finishing lays struct, pointers, lengths and bytes in one block. */
typedef struct list_builder {
    char *data;
    size_t len, cap;
    size_t *offsets;   /* item i starts at offsets[i]; offsets[count] = len */
    size_t count, offsets_cap;
} list_builder;

static void list_builder_free(list_builder *b) {
    free(b->data);
    free(b->offsets);
    memset(b, 0, sizeof *b);
}

/* Appends bytes to the item being built (started by list_builder_begin). */
static int list_builder_put(list_builder *b, const char *s, size_t n) {
    if (n > SIZE_MAX - b->len - 1) return 0;
    if (!CLG_RESERVE(b->data, b->cap, b->len + n + 1, 4096)) return 0;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    return 1;
}

static int list_builder_begin(list_builder *b) {
    if (!CLG_RESERVE(b->offsets, b->offsets_cap, b->count + 2, 64)) return 0;
    b->offsets[b->count] = b->len;
    return 1;
}

/* Ends the current item (NUL-terminates it). */
static int list_builder_end(list_builder *b) {
    if (!CLG_RESERVE(b->data, b->cap, b->len + 1, 4096)) return 0;
    b->data[b->len++] = '\0';
    b->count++;
    b->offsets[b->count] = b->len;
    return 1;
}

static int list_builder_add(list_builder *b, const char *s, size_t n) {
    return list_builder_begin(b) && list_builder_put(b, s, n) && list_builder_end(b);
}

static clg_text_list *list_builder_finish(list_builder *b) {
    size_t n = b->count;
    size_t head = sizeof(clg_text_list) + n * sizeof(char *) + n * sizeof(size_t);
    if (n > (SIZE_MAX / 2) / (sizeof(char *) + sizeof(size_t)) || b->len > SIZE_MAX - head - 1)
        return NULL;
    char *block = malloc(head + b->len + 1);
    if (!block) return NULL;
    clg_text_list *l = (clg_text_list *)(void *)block;
    char **items = (char **)(void *)(block + sizeof *l);
    size_t *lengths = (size_t *)(void *)(items + n);
    char *bytes = block + head;
    if (b->len) memcpy(bytes, b->data, b->len);
    bytes[b->len] = '\0';
    for (size_t i = 0; i < n; i++) {
        items[i] = bytes + b->offsets[i];
        lengths[i] = b->offsets[i + 1] - b->offsets[i] - 1;
    }
    l->count = (int64_t)n;
    l->items = n ? items : NULL;
    l->lengths = n ? lengths : NULL;
    return l;
}

void clg_text_list_free(clg_text_list *list) { free(list); }

/* --- UTF-8 ----------------------------------------------------------------------- */

#define REPLACEMENT 0xFFFDu

/* Decodes one code point at s (len >= 1 bytes). Returns the bytes consumed; an
 * ill-formed sequence gives U+FFFD for its maximal subpart (Unicode 3.9, table
 * 3-7: overlongs, surrogates and values over U+10FFFF are ill-formed) and
 * *valid 0. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp, int *valid) {
    unsigned c = s[0];
    *valid = 1;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        *cp = REPLACEMENT;
        *valid = 0;
        return 1;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= len) break;
        unsigned d = s[i];
        if (d < lo || d > hi) break;
        v = v << 6 | (d & 0x3F);
        lo = 0x80;  /* only the second byte has a narrowed range */
        hi = 0xBF;
    }
    if (i <= need) {
        *cp = REPLACEMENT;
        *valid = 0;
        return i;
    }
    *cp = v;
    return need + 1;
}

static size_t utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Strictly valid UTF-8; *code_points gets their number. */
static int utf8_valid(const char *s, size_t len, size_t *code_points) {
    size_t pos = 0, n = 0;
    while (pos < len) {
        uint32_t cp;
        int valid;
        pos += utf8_decode((const unsigned char *)s + pos, len - pos, &cp, &valid);
        if (!valid) return 0;
        n++;
    }
    if (code_points) *code_points = n;
    return 1;
}

static int is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static int is_punct(uint32_t c) {
    if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
                         (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
    return c == 0xA1 || c == 0xA7 || c == 0xAB || c == 0xB6 || c == 0xB7 || c == 0xBB ||
           c == 0xBF || (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x205E) ||
           (c >= 0x3001 && c <= 0x3003);
}

static uint32_t to_lower(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    return c;
}

/* --- tokenizers ------------------------------------------------------------------ */

clg_tokenizer clg_tokenizer_default(clg_tokenize_mode mode) {
    clg_tokenizer t;
    t.mode = mode;
    t.lowercase = mode == CLG_TOKENIZE_WORDS;
    t.punctuation = CLG_PUNCT_STRIP;
    return t;
}

static clg_status check_tokenizer(const clg_tokenizer *t, const char *fn) {
    if (!t) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tokenizer is NULL", fn);
    if (t->mode != CLG_TOKENIZE_CHARS && t->mode != CLG_TOKENIZE_WORDS)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tokenizer mode %d is neither chars nor words",
                        fn, (int)t->mode);
    if (t->mode == CLG_TOKENIZE_WORDS && (t->punctuation < CLG_PUNCT_STRIP || t->punctuation > CLG_PUNCT_KEEP))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: punctuation mode %d is not strip, split or keep",
                        fn, (int)t->punctuation);
    return CLG_OK;
}

/* t as counters and vocabularies keep it: the characters tokenizer ignores the
 * punctuation mode, so any value is accepted there and kept as CLG_PUNCT_STRIP
 * (the vocabulary file names it, and clg_vocab_tokenizer gives it back). */
static clg_tokenizer tokenizer_kept(const clg_tokenizer *t) {
    clg_tokenizer k = *t;
    if (k.mode == CLG_TOKENIZE_CHARS) k.punctuation = CLG_PUNCT_STRIP;
    k.lowercase = k.lowercase ? 1 : 0;
    return k;
}

/* Receives each token; a non-OK status stops the walk and is returned. */
typedef clg_status (*token_fn)(void *user, const char *tok, size_t len);

static clg_status walk_tokens(const clg_tokenizer *t, const char *text, size_t len, const char *fn,
                              token_fn emit, void *user) {
    char word[CLG_TEXT_MAX_TOKEN_BYTES + 4];
    size_t wlen = 0, word_start = 0;
    int too_long = 0;
    size_t pos = 0;
    while (pos <= len) {
        uint32_t cp = 0;
        int valid;
        size_t at = pos, step = 0;
        if (pos < len) step = utf8_decode((const unsigned char *)text + pos, len - pos, &cp, &valid);
        pos += step ? step : 1;
        if (step && t->lowercase) cp = to_lower(cp);
        char enc[4];
        size_t elen = step ? utf8_encode(cp, enc) : 0;
        if (t->mode == CLG_TOKENIZE_CHARS) {
            if (!step) break;
            clg_status st = emit(user, enc, elen);
            if (st != CLG_OK) return st;
            continue;
        }
        int space = !step || is_space(cp);
        int punct = step && !space && is_punct(cp);
        if (punct && t->punctuation == CLG_PUNCT_STRIP) continue;   /* deleted, word goes on */
        if (!space && !punct) {
            if (wlen == 0) word_start = at;
            if (wlen + elen > CLG_TEXT_MAX_TOKEN_BYTES)
                too_long = 1;
            else
                memcpy(word + wlen, enc, elen);
            wlen += elen;
            continue;
        }
        if (too_long)
            return clg_fail(CLG_STATUS_CORRUPT_DATA,
                            "%s: the word at byte %zu is %zu bytes, over the %d-byte token cap", fn,
                            word_start, wlen, CLG_TEXT_MAX_TOKEN_BYTES);
        if (wlen) {
            clg_status st = emit(user, word, wlen);
            if (st != CLG_OK) return st;
            wlen = 0;
        }
        if (punct && t->punctuation == CLG_PUNCT_KEEP) {
            clg_status st = emit(user, enc, elen);
            if (st != CLG_OK) return st;
        }
    }
    return CLG_OK;
}

static clg_status emit_to_list(void *user, const char *tok, size_t len) {
    if (!list_builder_add(user, tok, len))
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_tokenize: out of host memory");
    return CLG_OK;
}

clg_status clg_tokenize(const clg_tokenizer *tokenizer, const char *text, size_t len,
                        clg_text_list **out) {
    if (out) *out = NULL;
    if (!out || (!text && len))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_tokenize: text or out is NULL");
    clg_status st = check_tokenizer(tokenizer, "clg_tokenize");
    if (st != CLG_OK) return st;
    list_builder b = {0};
    st = walk_tokens(tokenizer, text, len, "clg_tokenize", emit_to_list, &b);
    if (st == CLG_OK) {
        *out = list_builder_finish(&b);
        if (!*out) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_tokenize: out of host memory");
    }
    list_builder_free(&b);
    return st;
}

/* --- hash table of byte strings -------------------------------------------------- */

/* Open addressing over int32 entry numbers (-1 empty), kept at most half full.
 * Keys live elsewhere (an arena); key_of gives an entry's bytes. */
typedef struct str_table {
    int32_t *slots;
    size_t cap;   /* a power of two, or 0 */
} str_table;

typedef const char *(*key_fn)(const void *owner, int32_t entry, size_t *len);

static uint64_t str_hash(const char *s, size_t n) { return clg_fnv1a(CLG_FNV_OFFSET, s, n); }

static int32_t table_find(const str_table *t, const void *owner, key_fn key_of, const char *s,
                          size_t n, size_t *slot) {
    if (!t->cap) return -1;
    size_t mask = t->cap - 1, i = (size_t)str_hash(s, n) & mask;
    for (;;) {
        int32_t e = t->slots[i];
        if (e < 0) {
            if (slot) *slot = i;
            return -1;
        }
        size_t klen;
        const char *k = key_of(owner, e, &klen);
        if (klen == n && memcmp(k, s, n) == 0) {
            if (slot) *slot = i;
            return e;
        }
        i = (i + 1) & mask;
    }
}

/* Makes room for `entries` entries (rehashing all `have` current ones). */
static int table_reserve(str_table *t, const void *owner, key_fn key_of, size_t have, size_t entries) {
    if (entries <= t->cap / 2) return 1;
    size_t cap = t->cap ? t->cap : 64;
    while (cap / 2 < entries) {
        if (cap > SIZE_MAX / 4 / sizeof(int32_t)) return 0;
        cap *= 2;
    }
    int32_t *slots = malloc(cap * sizeof *slots);
    if (!slots) return 0;
    for (size_t i = 0; i < cap; i++) slots[i] = -1;
    str_table nt = {slots, cap};
    for (size_t e = 0; e < have; e++) {
        size_t klen, slot = 0;
        const char *k = key_of(owner, (int32_t)e, &klen);
        (void)table_find(&nt, owner, key_of, k, klen, &slot);
        slots[slot] = (int32_t)e;
    }
    free(t->slots);
    *t = nt;
    return 1;
}

/* --- token counter --------------------------------------------------------------- */

typedef struct counted {
    size_t off, len;   /* key bytes in the arena */
    int64_t count;
} counted;

struct clg_token_counter {
    clg_tokenizer tok;
    char *arena;
    size_t arena_len, arena_cap;
    counted *entries;
    size_t n, entries_cap;
    str_table table;
};

static const char *counter_key(const void *owner, int32_t e, size_t *len) {
    const clg_token_counter *c = owner;
    *len = c->entries[e].len;
    return c->arena + c->entries[e].off;
}

clg_token_counter *clg_token_counter_new(const clg_tokenizer *tokenizer) {
    if (check_tokenizer(tokenizer, "clg_token_counter_new") != CLG_OK) return NULL;
    clg_token_counter *c = calloc(1, sizeof *c);
    if (!c) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_token_counter_new: out of host memory");
        return NULL;
    }
    c->tok = tokenizer_kept(tokenizer);
    return c;
}

void clg_token_counter_free(clg_token_counter *c) {
    if (!c) return;
    free(c->arena);
    free(c->entries);
    free(c->table.slots);
    free(c);
}

int64_t clg_token_counter_distinct(const clg_token_counter *c) { return c ? (int64_t)c->n : 0; }

clg_status clg_token_counter_add(clg_token_counter *c, const char *text, size_t len) {
    if (!c || (!text && len))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_token_counter_add: counter or text is NULL");
    /* Tokenize first and reserve room for every token being new, so that the
     * counting itself cannot fail halfway. */
    clg_text_list *toks = NULL;
    clg_status st = clg_tokenize(&c->tok, text, len, &toks);
    if (st != CLG_OK) return clg_fail_wrap(st, "clg_token_counter_add");
    size_t k = (size_t)toks->count, bytes = 0;
    for (size_t i = 0; i < k; i++) bytes += toks->lengths[i] + 1;
    if (c->n + k > INT32_MAX - 2 ||
        !CLG_RESERVE(c->entries, c->entries_cap, c->n + k, 256) ||
        !CLG_RESERVE(c->arena, c->arena_cap, c->arena_len + bytes, 4096) ||
        !table_reserve(&c->table, c, counter_key, c->n, c->n + k)) {
        clg_text_list_free(toks);
        return clg_fail(c->n + k > INT32_MAX - 2 ? CLG_STATUS_SIZE_OVERFLOW : CLG_STATUS_OUT_OF_HOST_MEMORY,
                        "clg_token_counter_add: no room for %zu more tokens (%zu distinct so far)", k, c->n);
    }
    for (size_t i = 0; i < k; i++) {
        size_t slot = 0;
        int32_t e = table_find(&c->table, c, counter_key, toks->items[i], toks->lengths[i], &slot);
        if (e >= 0) {
            c->entries[e].count++;
            continue;
        }
        counted *ne = &c->entries[c->n];
        ne->off = c->arena_len;
        ne->len = toks->lengths[i];
        ne->count = 1;
        memcpy(c->arena + c->arena_len, toks->items[i], ne->len);
        c->arena[c->arena_len + ne->len] = '\0';
        c->arena_len += ne->len + 1;
        c->table.slots[slot] = (int32_t)c->n;
        c->n++;
    }
    clg_text_list_free(toks);
    return CLG_OK;
}

/* --- vocabulary ------------------------------------------------------------------ */

struct clg_vocab {
    clg_tokenizer tok;
    int64_t size;       /* ids in all, reserved ones included */
    char *arena;        /* every token NUL-terminated */
    size_t *off, *len;  /* per id */
    int64_t *counts;    /* per id */
    str_table table;    /* ids >= 2 only: the reserved tokens are never looked up */
};

static const char *vocab_key(const void *owner, int32_t e, size_t *len) {
    const clg_vocab *v = owner;
    *len = v->len[e + 2];
    return v->arena + v->off[e + 2];
}

void clg_vocab_free(clg_vocab *v) {
    if (!v) return;
    free(v->arena);
    free(v->off);
    free(v->len);
    free(v->counts);
    free(v->table.slots);
    free(v);
}

/* A vocabulary with room for n tokens after the reserved two, holding those two. */
static clg_vocab *vocab_alloc(const clg_tokenizer *tok, size_t n, size_t token_bytes, const char *fn) {
    clg_vocab *v = calloc(1, sizeof *v);
    size_t ids = n + 2, bytes = token_bytes + n + sizeof(CLG_VOCAB_OOV_TOKEN) + 1;
    if (v) {
        v->tok = tokenizer_kept(tok);
        v->arena = malloc(bytes);
        v->off = malloc(ids * sizeof(size_t));
        v->len = malloc(ids * sizeof(size_t));
        v->counts = calloc(ids, sizeof(int64_t));
    }
    if (!v || !v->arena || !v->off || !v->len || !v->counts ||
        !table_reserve(&v->table, v, vocab_key, 0, n)) {
        clg_vocab_free(v);
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory for %zu tokens", fn, n);
        return NULL;
    }
    v->arena[0] = '\0';
    v->off[0] = 0;
    v->len[0] = 0;
    memcpy(v->arena + 1, CLG_VOCAB_OOV_TOKEN, sizeof(CLG_VOCAB_OOV_TOKEN));
    v->off[1] = 1;
    v->len[1] = sizeof(CLG_VOCAB_OOV_TOKEN) - 1;
    v->size = 2;
    return v;
}

/* Appends a token not yet present (the caller checked, and reserved room). */
static void vocab_push(clg_vocab *v, const char *tok, size_t len, int64_t count, size_t slot) {
    size_t at = v->off[v->size - 1] + v->len[v->size - 1] + 1;
    memcpy(v->arena + at, tok, len);
    v->arena[at + len] = '\0';
    v->off[v->size] = at;
    v->len[v->size] = len;
    v->counts[v->size] = count;
    v->table.slots[slot] = (int32_t)(v->size - 2);
    v->size++;
}

/* A kept token with its bytes pointed to directly, so that qsort's comparator
 * needs no context (C11's qsort has none, and a static would not be
 * thread-safe). */
typedef struct ranked {
    const char *key;
    size_t len;
    int64_t count;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

clg_vocab *clg_vocab_build(const clg_token_counter *c, int64_t min_count, int64_t max_size) {
    if (!c) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_vocab_build: counter is NULL");
        return NULL;
    }
    if (max_size < 0 || max_size == 1) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_vocab_build: max_size %lld must be 0 (no cap) or >= 2 (padding and [UNK] "
                 "included)", (long long)max_size);
        return NULL;
    }
    if (min_count < 1) min_count = 1;
    ranked *kept = malloc((c->n ? c->n : 1) * sizeof *kept);
    if (!kept) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_vocab_build: out of host memory");
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->entries[i].count >= min_count) {
            kept[k].key = c->arena + c->entries[i].off;
            kept[k].len = c->entries[i].len;
            kept[k].count = c->entries[i].count;
            k++;
        }
    qsort(kept, k, sizeof *kept, cmp_ranked);
    if (max_size > 0 && (int64_t)k > max_size - 2) k = (size_t)(max_size - 2);
    size_t bytes = 0;
    for (size_t i = 0; i < k; i++) bytes += kept[i].len;
    clg_vocab *v = vocab_alloc(&c->tok, k, bytes, "clg_vocab_build");
    if (v) {
        for (size_t i = 0; i < k; i++) {
            size_t slot = 0;
            (void)table_find(&v->table, v, vocab_key, kept[i].key, kept[i].len, &slot);
            vocab_push(v, kept[i].key, kept[i].len, kept[i].count, slot);
        }
    }
    free(kept);
    return v;
}

/* Why a token cannot be in a vocabulary of tokenizer t, or NULL if it can. */
static const char *token_problem(const clg_tokenizer *t, const char *tok, size_t len) {
    size_t cps = 0;
    if (len == 0) return "is empty (id 0 is padding)";
    if (len > CLG_TEXT_MAX_TOKEN_BYTES) return "is longer than CLG_TEXT_MAX_TOKEN_BYTES";
    if (!utf8_valid(tok, len, &cps)) return "is not valid UTF-8";
    if (t->mode == CLG_TOKENIZE_CHARS && cps != 1) return "is not one character (chars tokenizer)";
    if (len == sizeof(CLG_VOCAB_OOV_TOKEN) - 1 && memcmp(tok, CLG_VOCAB_OOV_TOKEN, len) == 0)
        return "is the reserved [UNK]";
    return NULL;
}

clg_vocab *clg_vocab_from_tokens(const clg_tokenizer *tokenizer, const clg_text_list *tokens) {
    if (check_tokenizer(tokenizer, "clg_vocab_from_tokens") != CLG_OK) return NULL;
    if (!tokens || tokens->count < 0 || (tokens->count && (!tokens->items || !tokens->lengths))) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_vocab_from_tokens: tokens is NULL or malformed");
        return NULL;
    }
    if (tokens->count > INT32_MAX - 2) {
        clg_fail(CLG_STATUS_SIZE_OVERFLOW, "clg_vocab_from_tokens: %lld tokens, over 2^31 - 3",
                 (long long)tokens->count);
        return NULL;
    }
    size_t n = (size_t)tokens->count, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const char *why = token_problem(tokenizer, tokens->items[i], tokens->lengths[i]);
        if (why) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_vocab_from_tokens: token %zu ('%.40s') %s", i,
                     tokens->items[i], why);
            return NULL;
        }
        bytes += tokens->lengths[i];
    }
    clg_vocab *v = vocab_alloc(tokenizer, n, bytes, "clg_vocab_from_tokens");
    if (!v) return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t slot = 0;
        int32_t e = table_find(&v->table, v, vocab_key, tokens->items[i], tokens->lengths[i], &slot);
        if (e >= 0) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                     "clg_vocab_from_tokens: token %zu ('%.40s') repeats token %d", i,
                     tokens->items[i], (int)e);
            clg_vocab_free(v);
            return NULL;
        }
        vocab_push(v, tokens->items[i], tokens->lengths[i], 0, slot);
    }
    return v;
}

int64_t clg_vocab_size(const clg_vocab *v) { return v ? v->size : 0; }

clg_tokenizer clg_vocab_tokenizer(const clg_vocab *v) {
    return v ? v->tok : clg_tokenizer_default(CLG_TOKENIZE_CHARS);
}

int32_t clg_vocab_id(const clg_vocab *v, const char *token, size_t len) {
    if (!v || (!token && len)) return CLG_VOCAB_OOV;
    int32_t e = table_find(&v->table, v, vocab_key, token ? token : "", len, NULL);
    return e < 0 ? CLG_VOCAB_OOV : e + 2;
}

const char *clg_vocab_token(const clg_vocab *v, int32_t id, size_t *len) {
    if (len) *len = 0;
    if (!v || id < 0 || id >= v->size) return NULL;
    if (len) *len = v->len[id];
    return v->arena + v->off[id];
}

int64_t clg_vocab_count(const clg_vocab *v, int32_t id) {
    if (!v || id < 0 || id >= v->size) return 0;
    return v->counts[id];
}

/* --- vocabulary files ------------------------------------------------------------ */

static const char *const punct_names[3] = {"strip", "split", "keep"};
#define VOCAB_MAGIC "clgrad-vocab"

/* Escaped form of a token into b (the current item); 0 on no memory. */
static int put_escaped(list_builder *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[5];
        size_t el = 0;
        if (c == '\\') { esc[0] = '\\'; esc[1] = '\\'; el = 2; }
        else if (c == '\n') { esc[0] = '\\'; esc[1] = 'n'; el = 2; }
        else if (c == '\r') { esc[0] = '\\'; esc[1] = 'r'; el = 2; }
        else if (c == '\t') { esc[0] = '\\'; esc[1] = 't'; el = 2; }
        else if (c < 0x20 || c == 0x7F) {
            static const char hex[] = "0123456789abcdef";
            esc[0] = '\\'; esc[1] = 'x'; esc[2] = hex[c >> 4]; esc[3] = hex[c & 15];
            el = 4;
        } else {
            esc[0] = (char)c;
            el = 1;
        }
        if (!list_builder_put(b, esc, el)) return 0;
    }
    return 1;
}

clg_status clg_vocab_save(const clg_vocab *v, const char *path) {
    if (!v || !path)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_vocab_save: vocab or path is NULL");
    list_builder b = {0};
    char line[160];
    int ok = list_builder_begin(&b);
    snprintf(line, sizeof line, VOCAB_MAGIC " 1 %s %d %s %lld\n",
             v->tok.mode == CLG_TOKENIZE_CHARS ? "chars" : "words", v->tok.lowercase ? 1 : 0,
             punct_names[v->tok.punctuation], (long long)(v->size - 2));
    ok = ok && list_builder_put(&b, line, strlen(line));
    for (int64_t id = 2; ok && id < v->size; id++) {
        ok = put_escaped(&b, v->arena + v->off[id], v->len[id]);
        snprintf(line, sizeof line, "\t%lld\n", (long long)v->counts[id]);
        ok = ok && list_builder_put(&b, line, strlen(line));
    }
    clg_status st;
    if (!ok)
        st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_vocab_save: '%s': out of host memory", path);
    else
        st = clg_write_file_atomic(path, b.data, b.len);
    if (st != CLG_OK && ok) st = clg_fail_wrap(st, "clg_vocab_save: '%s'", path);
    list_builder_free(&b);
    return st;
}

/* A decimal of at most 18 digits (no sign, no spaces); -1 if it is not one. */
static int64_t parse_decimal(const char *s, size_t n) {
    if (n == 0 || n > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Unescapes s[0..n) into out (room for n bytes); the reason on failure, else NULL. */
static const char *unescape(const char *s, size_t n, char *out, size_t *out_len) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F) return "a raw control byte in the token (it must be escaped)";
        if (c != '\\') {
            out[o++] = (char)c;
            continue;
        }
        if (++i >= n) return "a backslash at the end of the token";
        switch (s[i]) {
        case '\\': out[o++] = '\\'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'x': {
            int hi = i + 1 < n ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) return "\\x not followed by two hex digits";
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
            break;
        }
        default: return "an unknown escape (only \\\\ \\n \\r \\t \\xHH)";
        }
    }
    *out_len = o;
    return NULL;
}

/* Splits buf at spaces into at most max fields; returns the number found. */
static int split_fields(const char *s, size_t n, const char **f, size_t *fl, int max) {
    int k = 0;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && s[i] != ' ') i++;
        if (k == max) return max + 1;
        f[k] = s + start;
        fl[k] = i - start;
        k++;
        if (i < n) i++;   /* one space between fields */
    }
    return k;
}

static int field_is(const char *f, size_t fl, const char *want) {
    return fl == strlen(want) && memcmp(f, want, fl) == 0;
}

static clg_status parse_vocab(const char *path, const char *data, size_t len, clg_vocab **out) {
#define BAD(...) clg_fail(CLG_STATUS_CORRUPT_DATA, "clg_vocab_load: '%s' line %lld: " __VA_ARGS__)
    if (len == 0) return clg_fail(CLG_STATUS_CORRUPT_DATA, "clg_vocab_load: '%s' is empty", path);
    if (data[len - 1] != '\n')
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_vocab_load: '%s' does not end with a line end (truncated?)", path);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
    /* Header. */
    const char *nl = memchr(data, '\n', len);
    size_t hl = (size_t)(nl - data);
    if (hl && data[hl - 1] == '\r') hl--;
    const char *f[7];
    size_t fl[7];
    int nf = split_fields(data, hl, f, fl, 6);
    clg_tokenizer tok = {CLG_TOKENIZE_CHARS, 0, CLG_PUNCT_STRIP};
    if (nf < 1 || !field_is(f[0], fl[0], VOCAB_MAGIC))
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_vocab_load: '%s' line 1: not a clgrad vocabulary (no '" VOCAB_MAGIC
                        "' header)", path);
    if (nf != 6 || !field_is(f[1], fl[1], "1"))
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_vocab_load: '%s' line 1: header is not '" VOCAB_MAGIC
                        " 1 <chars|words> <0|1> <strip|split|keep> <count>'", path);
    if (field_is(f[2], fl[2], "words")) tok.mode = CLG_TOKENIZE_WORDS;
    else if (!field_is(f[2], fl[2], "chars"))
        return clg_fail(CLG_STATUS_CORRUPT_DATA, "clg_vocab_load: '%s' line 1: mode is not chars or words", path);
    if (!field_is(f[3], fl[3], "0") && !field_is(f[3], fl[3], "1"))
        return clg_fail(CLG_STATUS_CORRUPT_DATA, "clg_vocab_load: '%s' line 1: lowercase is not 0 or 1", path);
    tok.lowercase = f[3][0] == '1';
    int pm = -1;
    for (int i = 0; i < 3; i++)
        if (field_is(f[4], fl[4], punct_names[i])) pm = i;
    if (pm < 0)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_vocab_load: '%s' line 1: punctuation is not strip, split or keep", path);
    tok.punctuation = (clg_punct_mode)pm;
    int64_t count = parse_decimal(f[5], fl[5]);
    if (count < 0 || count > INT32_MAX - 2)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_vocab_load: '%s' line 1: token count is not a number in [0, 2^31 - 3]", path);
    /* The claim is checked against the lines really present before anything is
     * sized by it. */
    if ((int64_t)(lines - 1) != count)
        return clg_fail(CLG_STATUS_CORRUPT_DATA,
                        "clg_vocab_load: '%s': the header says %lld tokens but %zu lines follow (%s)",
                        path, (long long)count, lines - 1,
                        (int64_t)(lines - 1) < count ? "truncated" : "extra lines");
    clg_vocab *v = vocab_alloc(&tok, (size_t)count, len, "clg_vocab_load");
    if (!v) return clg_fail_wrap(clg_last_status(), "'%s'", path);
    char *tokbuf = malloc(CLG_TEXT_MAX_TOKEN_BYTES * 4 + 1);
    if (!tokbuf) {
        clg_vocab_free(v);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_vocab_load: '%s': out of host memory", path);
    }
    clg_status st = CLG_OK;
    size_t pos = hl + (data[hl] == '\r' ? 2 : 1);
    for (long long line = 2; pos < len; line++) {
        const char *s = data + pos;
        const char *e = memchr(s, '\n', len - pos);
        size_t n = (size_t)(e - s);
        pos += n + 1;
        if (n && s[n - 1] == '\r') n--;
        const char *tab = memchr(s, '\t', n);
        if (!tab) {
            st = BAD("no TAB between token and count", path, line);
            break;
        }
        size_t tl = (size_t)(tab - s);
        int64_t cnt = parse_decimal(tab + 1, n - tl - 1);
        if (cnt < 0) {
            st = BAD("the count is not a decimal number", path, line);
            break;
        }
        if (tl > CLG_TEXT_MAX_TOKEN_BYTES * 4) {
            st = BAD("token longer than %d bytes", path, line, CLG_TEXT_MAX_TOKEN_BYTES);
            break;
        }
        size_t ul = 0;
        const char *why = unescape(s, tl, tokbuf, &ul);
        if (!why) why = token_problem(&tok, tokbuf, ul);
        if (why) {
            st = BAD("the token %s", path, line, why);
            break;
        }
        size_t slot = 0;
        int32_t dup = table_find(&v->table, v, vocab_key, tokbuf, ul, &slot);
        if (dup >= 0) {
            st = BAD("token repeats line %d", path, line, (int)dup + 2);
            break;
        }
        vocab_push(v, tokbuf, ul, cnt, slot);
    }
    free(tokbuf);
    if (st != CLG_OK) {
        clg_vocab_free(v);
        return st;
    }
    *out = v;
    return CLG_OK;
#undef BAD
}

clg_status clg_vocab_load(const char *path, clg_vocab **out) {
    if (out) *out = NULL;
    if (!path || !out) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_vocab_load: path or out is NULL");
    char *data = NULL;
    size_t len = 0;
    clg_status st = clg_read_file(path, CLG_TEXT_MAX_FILE_BYTES, &data, &len);
    if (st != CLG_OK) return clg_fail_wrap(st, "clg_vocab_load");
    st = parse_vocab(path, data, len, out);
    free(data);
    return st;
}

/* --- sequences ------------------------------------------------------------------- */

struct clg_sequences {
    int32_t *ids;
    size_t n_ids, ids_cap;
    int64_t *offsets;   /* count + 1 */
    size_t count, offsets_cap;
};

clg_sequences *clg_sequences_new(void) {
    clg_sequences *s = calloc(1, sizeof *s);
    if (s) s->offsets = calloc(16, sizeof(int64_t));
    if (!s || !s->offsets) {
        free(s);
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_sequences_new: out of host memory");
        return NULL;
    }
    s->offsets_cap = 16;
    return s;
}

void clg_sequences_free(clg_sequences *s) {
    if (!s) return;
    free(s->ids);
    free(s->offsets);
    free(s);
}

clg_status clg_sequences_append(clg_sequences *s, const int32_t *ids, int64_t n) {
    if (!s || n < 0 || (n > 0 && !ids))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_sequences_append: sequences or ids is NULL, or n %lld < 0",
                        (long long)n);
    if ((uint64_t)n > (uint64_t)(SIZE_MAX / sizeof(int32_t)) - s->n_ids ||
        !CLG_RESERVE(s->ids, s->ids_cap, s->n_ids + (size_t)n, 1024) ||
        !CLG_RESERVE(s->offsets, s->offsets_cap, s->count + 2, 16))
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_sequences_append: no memory for %lld more ids",
                        (long long)n);
    if (n) memcpy(s->ids + s->n_ids, ids, (size_t)n * sizeof(int32_t));
    s->n_ids += (size_t)n;
    s->count++;
    s->offsets[s->count] = (int64_t)s->n_ids;
    return CLG_OK;
}

int64_t clg_sequences_count(const clg_sequences *s) { return s ? (int64_t)s->count : 0; }

const int32_t *clg_sequences_get(const clg_sequences *s, int64_t i, int64_t *n) {
    if (n) *n = 0;
    if (!s || i < 0 || i >= (int64_t)s->count) return NULL;
    int64_t len = s->offsets[i + 1] - s->offsets[i];
    if (n) *n = len;
    return len ? s->ids + s->offsets[i] : NULL;
}

typedef struct encode_state {
    const clg_vocab *v;
    int32_t *ids;
    size_t n, cap;
} encode_state;

static clg_status emit_id(void *user, const char *tok, size_t len) {
    encode_state *e = user;
    if (!CLG_RESERVE(e->ids, e->cap, e->n + 1, 256))
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_vocab_encode: out of host memory");
    e->ids[e->n++] = clg_vocab_id(e->v, tok, len);
    return CLG_OK;
}

clg_status clg_vocab_encode(const clg_vocab *v, const char *text, size_t len, clg_sequences *seqs) {
    if (!v || !seqs || (!text && len))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_vocab_encode: vocab, text or sequences is NULL");
    encode_state e = {v, NULL, 0, 0};
    clg_status st = walk_tokens(&v->tok, text, len, "clg_vocab_encode", emit_id, &e);
    if (st == CLG_OK) st = clg_sequences_append(seqs, e.ids, (int64_t)e.n);
    free(e.ids);
    return st;
}

clg_status clg_vocab_decode(const clg_vocab *v, const int32_t *ids, int64_t n, char *out,
                            size_t capacity, size_t *len) {
    if (len) *len = 0;
    if (out && capacity) out[0] = '\0';
    if (!v || n < 0 || (n > 0 && !ids) || (capacity && !out))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_vocab_decode: vocab, ids or out is NULL, or n < 0");
    int words = v->tok.mode == CLG_TOKENIZE_WORDS;
    size_t need = 0, pieces = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= v->size)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "clg_vocab_decode: ids[%lld] = %d is outside the vocabulary [0, %lld)",
                            (long long)i, (int)ids[i], (long long)v->size);
        if (ids[i] == CLG_VOCAB_PAD) continue;
        need += v->len[ids[i]] + (words && pieces ? 1 : 0);
        pieces++;
    }
    if (len) *len = need;
    if (need >= capacity)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_vocab_decode: the text needs %zu bytes and a NUL, out holds %zu", need,
                        capacity);
    size_t o = 0;
    pieces = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] == CLG_VOCAB_PAD) continue;
        if (words && pieces) out[o++] = ' ';
        memcpy(out + o, v->arena + v->off[ids[i]], v->len[ids[i]]);
        o += v->len[ids[i]];
        pieces++;
    }
    out[o] = '\0';
    return CLG_OK;
}

static clg_status check_selection(const clg_sequences *s, const int64_t *indices, int64_t count,
                                  const char *fn) {
    if (!s || count < 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: sequences is NULL or count %lld < 0", fn,
                        (long long)count);
    if (!indices) {
        if (count != (int64_t)s->count)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: indices is NULL (all), so count must be %lld, not %lld", fn,
                            (long long)s->count, (long long)count);
        return CLG_OK;
    }
    for (int64_t i = 0; i < count; i++)
        if (indices[i] < 0 || indices[i] >= (int64_t)s->count)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "%s: indices[%lld] = %lld is outside the %lld sequences", fn, (long long)i,
                            (long long)indices[i], (long long)s->count);
    return CLG_OK;
}

int64_t clg_sequences_max_length(const clg_sequences *s, const int64_t *indices, int64_t count) {
    if (check_selection(s, indices, count, "clg_sequences_max_length") != CLG_OK) return -1;
    int64_t m = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t k = indices ? indices[i] : i;
        int64_t len = s->offsets[k + 1] - s->offsets[k];
        if (len > m) m = len;
    }
    return m;
}

clg_status clg_pad_sequences(const clg_sequences *s, const int64_t *indices, int64_t count,
                             int64_t maxlen, clg_pad_side padding, clg_pad_side truncating,
                             int32_t value, int32_t *out, int64_t capacity) {
    clg_status st = check_selection(s, indices, count, "clg_pad_sequences");
    if (st != CLG_OK) return st;
    if (maxlen < 1)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_pad_sequences: maxlen %lld < 1", (long long)maxlen);
    if ((padding != CLG_PAD_PRE && padding != CLG_PAD_POST) ||
        (truncating != CLG_PAD_PRE && truncating != CLG_PAD_POST))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_pad_sequences: padding %d or truncating %d is neither pre nor post",
                        (int)padding, (int)truncating);
    if (count > 0 && (!out || capacity < 0 || capacity / maxlen < count))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_pad_sequences: out holds %lld elements, needs %lld x %lld",
                        (long long)capacity, (long long)count, (long long)maxlen);
    for (int64_t r = 0; r < count; r++) {
        int64_t k = indices ? indices[r] : r;
        int64_t len = s->offsets[k + 1] - s->offsets[k];
        /* ids is NULL while every sequence is empty: no arithmetic on it then */
        const int32_t *ids = len ? s->ids + s->offsets[k] : NULL;
        if (len > maxlen) {
            if (truncating == CLG_PAD_PRE) ids += len - maxlen;   /* keep the last maxlen */
            len = maxlen;
        }
        int32_t *row = out + r * maxlen;
        int64_t lead = padding == CLG_PAD_PRE ? maxlen - len : 0;
        for (int64_t j = 0; j < maxlen; j++) row[j] = value;
        if (len) memcpy(row + lead, ids, (size_t)len * sizeof(int32_t));
    }
    return CLG_OK;
}

/* --- readers --------------------------------------------------------------------- */

static clg_status read_text(const char *path, const clg_text_limits *limits, const char *fn,
                            char **data, size_t *len, size_t *max_line) {
    if (!path) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: path is NULL", fn);
    size_t max_file = limits && limits->max_file_bytes ? limits->max_file_bytes : CLG_TEXT_MAX_FILE_BYTES;
    *max_line = limits && limits->max_line_bytes ? limits->max_line_bytes : CLG_TEXT_MAX_LINE_BYTES;
    clg_status st = clg_read_file(path, max_file, data, len);
    if (st != CLG_OK) return clg_fail_wrap(st, "%s", fn);
    return CLG_OK;
}

/* Next line at *pos: its start and length without the line end (and a CR
 * before it); 0 at the end of data. */
static int next_line(const char *data, size_t len, size_t *pos, const char **s, size_t *n) {
    if (*pos >= len) return 0;
    *s = data + *pos;
    const char *e = memchr(*s, '\n', len - *pos);
    size_t raw = e ? (size_t)(e - *s) : len - *pos;
    *pos += raw + (e ? 1 : 0);
    *n = raw && (*s)[raw - 1] == '\r' ? raw - 1 : raw;
    return 1;
}

typedef enum { READ_LINES, READ_FORTUNES } read_kind;

/* Ends the fortune being built: blank lines at its end are dropped, and a
 * fortune with nothing else is dropped whole. */
static int end_fortune(list_builder *b) {
    size_t start = b->offsets[b->count];
    while (b->len > start && b->data[b->len - 1] == '\n') b->len--;
    if (b->len == start) return 1;
    return list_builder_end(b);
}

static clg_status read_items(const char *path, const clg_text_limits *limits, read_kind kind,
                             clg_text_list **out) {
    const char *fn = kind == READ_LINES ? "clg_text_read_lines" : "clg_text_read_fortunes";
    if (out) *out = NULL;
    if (!out) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: out is NULL", fn);
    char *data = NULL;
    size_t len = 0, max_line = 0;
    clg_status st = read_text(path, limits, fn, &data, &len, &max_line);
    if (st != CLG_OK) return st;
    list_builder b = {0};
    size_t pos = 0, n = 0;
    const char *s = NULL;
    long long line = 0;
    int ok = 1, in_fortune = 0;
    while (ok && next_line(data, len, &pos, &s, &n)) {
        line++;
        if (n > max_line) {
            st = clg_fail(CLG_STATUS_CORRUPT_DATA, "%s: '%s' line %lld is %zu bytes, over the %zu-byte line cap",
                          fn, path, line, n, max_line);
            break;
        }
        if (kind == READ_LINES) {
            if (n) ok = list_builder_add(&b, s, n);
            continue;
        }
        if (n == 1 && s[0] == '%') {
            if (in_fortune) ok = end_fortune(&b);
            in_fortune = 0;
            continue;
        }
        if (!in_fortune) {
            ok = list_builder_begin(&b);
            in_fortune = 1;
        } else {
            ok = list_builder_put(&b, "\n", 1);
        }
        ok = ok && list_builder_put(&b, s, n);
    }
    if (ok && st == CLG_OK && in_fortune) ok = end_fortune(&b);
    free(data);
    if (st == CLG_OK && ok) {
        *out = list_builder_finish(&b);
        if (!*out) ok = 0;
    }
    if (st == CLG_OK && !ok)
        st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: '%s': out of host memory", fn, path);
    list_builder_free(&b);
    return st;
}

clg_status clg_text_read_lines(const char *path, const clg_text_limits *limits, clg_text_list **out) {
    return read_items(path, limits, READ_LINES, out);
}

clg_status clg_text_read_fortunes(const char *path, const clg_text_limits *limits,
                                  clg_text_list **out) {
    return read_items(path, limits, READ_FORTUNES, out);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int has_suffix(const char *name, const char *const *suffixes) {
    size_t n = strlen(name);
    for (; suffixes && *suffixes; suffixes++) {
        size_t k = strlen(*suffixes);
        if (k <= n && memcmp(name + n - k, *suffixes, k) == 0) return 1;
    }
    return 0;
}

clg_status clg_text_list_dir(const char *dir, const char *const *skip_suffixes, clg_text_list **out) {
    if (out) *out = NULL;
    if (!dir || !out) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_text_list_dir: dir or out is NULL");
    DIR *d = opendir(dir);
    if (!d) {
        int err = errno;
        return clg_fail(err == ENOENT ? CLG_STATUS_NOT_FOUND : CLG_STATUS_IO_ERROR,
                        "clg_text_list_dir: cannot open directory '%s': %s", dir, strerror(err));
    }
    /* Names first (sorted), then the paths: readdir's order is the file system's. */
    list_builder names = {0};
    int ok = 1, dfd = dirfd(d);
    clg_status st = CLG_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                st = clg_fail(CLG_STATUS_IO_ERROR, "clg_text_list_dir: reading '%s': %s", dir, strerror(errno));
            break;
        }
        if (e->d_name[0] == '.' || has_suffix(e->d_name, skip_suffixes)) continue;
        struct stat sb;
        if (fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (!list_builder_add(&names, e->d_name, strlen(e->d_name))) {
            ok = 0;
            break;
        }
    }
    closedir(d);
    clg_text_list *sorted = NULL;
    if (st == CLG_OK && ok) sorted = list_builder_finish(&names);
    list_builder_free(&names);
    if (st != CLG_OK) return st;
    if (!sorted)
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_text_list_dir: '%s': out of host memory", dir);
    if (sorted->count) qsort(sorted->items, (size_t)sorted->count, sizeof(char *), cmp_str);
    list_builder paths = {0};
    size_t dl = strlen(dir);
    int slash = dl > 0 && dir[dl - 1] == '/';
    for (int64_t i = 0; ok && i < sorted->count; i++)
        ok = list_builder_begin(&paths) && list_builder_put(&paths, dir, dl) &&
             (slash || list_builder_put(&paths, "/", 1)) &&
             list_builder_put(&paths, sorted->items[i], strlen(sorted->items[i])) &&
             list_builder_end(&paths);
    clg_text_list_free(sorted);
    if (ok) *out = list_builder_finish(&paths);
    list_builder_free(&paths);
    if (!*out) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_text_list_dir: '%s': out of host memory", dir);
    return CLG_OK;
}

/* --- sampling --------------------------------------------------------------------------------- */

clg_status clg_sample_token(const float *row, int n, int logits, float temperature, int top_k, uint64_t seed,
                            uint64_t counter, int *out) {
    const char *api = "clg_sample_token";
    if (!row || !out || n <= 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: need a row of n > 0 entries and an output (n %d)", api, n);
    int best = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(row[i]) || (!logits && row[i] < 0))
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: entry %d is %g (%s)", api, i, (double)row[i],
                            logits ? "logits must be finite" : "probabilities must be finite and >= 0");
        if (row[i] > row[best]) best = i;
    }
    if (!(temperature > 0.0f)) {
        *out = best;
        return CLG_OK;
    }
    /* scores z / T (logits) or log(p) / T; the top_k cut-off by score */
    double *score = malloc(sizeof *score * (size_t)n + 1);
    if (!score) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    double top = -INFINITY;
    for (int i = 0; i < n; i++) {
        score[i] = logits ? (double)row[i] / temperature : (row[i] > 0 ? log((double)row[i]) / temperature : -INFINITY);
        if (score[i] > top) top = score[i];
    }
    if (top_k > 0 && top_k < n) { /* keep the top_k largest: ids ranked by (score, lower id first) */
        for (int i = 0; i < n; i++) {
            int rank = 0;
            for (int j = 0; j < n && rank < top_k; j++)
                rank += score[j] > score[i] || (score[j] == score[i] && j < i);
            if (rank >= top_k) score[i] = -INFINITY;
        }
    }
    double total = 0;
    for (int i = 0; i < n; i++) total += score[i] == -INFINITY ? 0 : exp(score[i] - top);
    clg_status st = CLG_OK;
    if (!(total > 0)) {
        st = clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: the kept entries have probability 0", api);
    } else {
        /* a uniform in [0, 1) from 53 bits of the stream */
        uint64_t bits = ((uint64_t)clg_philox_bits(seed, 2 * counter) << 21) ^ clg_philox_bits(seed, 2 * counter + 1);
        double u = (double)(bits & ((1ULL << 53) - 1)) / 9007199254740992.0 * total, acc = 0;
        int pick = -1;
        for (int i = 0; i < n; i++) {
            if (score[i] == -INFINITY) continue;
            acc += exp(score[i] - top);
            pick = i;
            if (u < acc) break;
        }
        *out = pick;
    }
    free(score);
    return st;
}

