/* libFuzzer target: text input. The line and fortune readers, the vocabulary
 * file reader (clg_vocab_load), and the tokenizers with everything built on
 * them: counting, vocabularies, encoding, decoding, saving and padding, each
 * checked against what text.h promises.
 *
 * Input: a mode byte (bits 0-1: 0 lines, 1 fortunes, 2 a vocabulary file,
 * 3 text to tokenize), an options byte (bit 0 words, bit 1 lower-case, bits
 * 2-3 the punctuation mode, 3 being a bad one, bits 4-6 a line cap), then the
 * file or text. */
#include <stdlib.h>
#include <string.h>

#include "clgrad/text.h"
#include "fuzz_common.h"

static void check_list(const clg_text_list *l) {
    FUZZ_CHECK(l->count >= 0, "count %lld", (long long)l->count);
    FUZZ_CHECK((l->count == 0) == (l->items == NULL) && (l->count == 0) == (l->lengths == NULL), "empty list");
    for (int64_t i = 0; i < l->count; i++) FUZZ_CHECK(l->items[i][l->lengths[i]] == '\0', "item %lld unterminated", (long long)i);
}

/* A vocabulary written and read back is the same vocabulary. */
static void check_vocab_round_trip(const clg_vocab *v) {
    const char *path = fuzz_path("round_trip.vocab");
    FUZZ_CHECK(clg_vocab_save(v, path) == CLG_OK, "saving a vocabulary");
    clg_vocab *w = NULL;
    FUZZ_CHECK(clg_vocab_load(path, &w) == CLG_OK, "the reader refuses the writer's file");
    clg_tokenizer a = clg_vocab_tokenizer(v), b = clg_vocab_tokenizer(w);
    FUZZ_CHECK(a.mode == b.mode && a.lowercase == b.lowercase && (a.mode == CLG_TOKENIZE_CHARS || a.punctuation == b.punctuation),
               "tokenizer changed");
    FUZZ_CHECK(clg_vocab_size(v) == clg_vocab_size(w), "size %lld became %lld", (long long)clg_vocab_size(v),
               (long long)clg_vocab_size(w));
    for (int32_t id = 0; id < clg_vocab_size(v); id++) {
        size_t la, lb;
        const char *ta = clg_vocab_token(v, id, &la), *tb = clg_vocab_token(w, id, &lb);
        FUZZ_CHECK(ta && tb && la == lb && memcmp(ta, tb, la) == 0, "token %d changed", (int)id);
        FUZZ_CHECK(clg_vocab_count(v, id) == clg_vocab_count(w, id), "count of %d changed", (int)id);
        if (id >= 2) FUZZ_CHECK(clg_vocab_id(w, ta, la) == id, "token %d looks up as %d", (int)id, (int)clg_vocab_id(w, ta, la));
    }
    clg_vocab_free(w);
}

/* Encodes text with v, checks the ids, and returns them (n in *n); NULL if refused. */
static int32_t *encode(const clg_vocab *v, const char *text, size_t len, int64_t *n) {
    clg_sequences *s = clg_sequences_new();
    if (!s) return NULL;
    clg_clear_error();
    clg_status st = clg_vocab_encode(v, text, len, s);
    int32_t *ids = NULL;
    *n = 0;
    if (st != CLG_OK) {
        fuzz_check_failure(st, "clg_vocab_encode", NULL);
        FUZZ_CHECK(clg_sequences_count(s) == 0, "a refused text was appended");
    } else {
        FUZZ_CHECK(clg_sequences_count(s) == 1, "one text, %lld sequences", (long long)clg_sequences_count(s));
        const int32_t *got = clg_sequences_get(s, 0, n);
        ids = malloc((size_t)*n * sizeof *ids + 1);
        if (ids && *n) memcpy(ids, got, (size_t)*n * sizeof *ids);
        for (int64_t i = 0; i < *n; i++)
            FUZZ_CHECK(got[i] >= 1 && got[i] < clg_vocab_size(v), "id %d of %lld", (int)got[i], (long long)clg_vocab_size(v));
        int64_t maxlen = *n ? *n : 1;
        int32_t *padded = malloc(2 * (size_t)maxlen * sizeof *padded);
        if (padded) {
            FUZZ_CHECK(clg_sequences_append(s, NULL, 0) == CLG_OK, "an empty sequence");
            FUZZ_CHECK(clg_sequences_max_length(s, NULL, 2) == *n, "max length");
            FUZZ_CHECK(clg_pad_sequences(s, NULL, 2, maxlen, CLG_PAD_POST, CLG_PAD_PRE, -1, padded, 2 * maxlen) == CLG_OK,
                       "padding");
            FUZZ_CHECK(*n == 0 || memcmp(padded, ids, (size_t)*n * sizeof *ids) == 0, "padding changed the ids");
            FUZZ_CHECK(padded[2 * maxlen - 1] == -1, "padding value");
        }
        free(padded);
    }
    clg_sequences_free(s);
    return ids;
}

/* Tokenizes one text with t and checks the whole chain built on it. */
static void check_text(const clg_tokenizer *t, const char *text, size_t len) {
    clg_text_list *toks = NULL;
    clg_clear_error();
    clg_status st = clg_tokenize(t, text, len, &toks);
    if (st != CLG_OK) {
        fuzz_check_failure(st, "clg_tokenize", NULL);
        FUZZ_CHECK(toks == NULL, "tokens left on failure");
        return;
    }
    check_list(toks);
    size_t joined_len = 0;
    for (int64_t i = 0; i < toks->count; i++) {
        FUZZ_CHECK(toks->lengths[i] > 0 && toks->lengths[i] <= CLG_TEXT_MAX_TOKEN_BYTES, "token %lld of %zu bytes",
                   (long long)i, toks->lengths[i]);
        joined_len += toks->lengths[i] + 1;
    }
    clg_token_counter *c = clg_token_counter_new(t);
    clg_vocab *v = NULL;
    if (!c || clg_token_counter_add(c, text, len) != CLG_OK) goto out;
    v = clg_vocab_build(c, 1, 0);
    if (!v) goto out;
    FUZZ_CHECK(clg_vocab_size(v) == clg_token_counter_distinct(c) + 2, "vocab of %lld ids for %lld tokens",
               (long long)clg_vocab_size(v), (long long)clg_token_counter_distinct(c));
    /* every token a tokenizer gives may stand in a vocabulary of its own */
    int64_t k = clg_vocab_size(v) - 2;
    char **items = malloc((size_t)k * sizeof *items + 1);
    size_t *lengths = malloc((size_t)k * sizeof *lengths + 1);
    if (items && lengths) {
        for (int64_t i = 0; i < k; i++) items[i] = (char *)clg_vocab_token(v, (int32_t)(i + 2), &lengths[i]);
        clg_text_list distinct = {k, k ? items : NULL, k ? lengths : NULL};
        clg_vocab *w = clg_vocab_from_tokens(t, &distinct);
        FUZZ_CHECK(w != NULL, "the tokenizer's own tokens make no vocabulary");
        clg_vocab_free(w);
    }
    free(items);
    free(lengths);
    /* encode, then decode: the tokens joined (by nothing, or spaces for words) */
    int64_t n = 0;
    int32_t *ids = encode(v, text, len, &n);
    FUZZ_CHECK(ids && n == toks->count, "%lld ids for %lld tokens", (long long)n, (long long)toks->count);
    for (int64_t i = 0; i < n; i++) FUZZ_CHECK(ids[i] >= 2, "token %lld is out of the vocabulary built from it", (long long)i);
    char *want = malloc(joined_len + 1), *got = malloc(joined_len + 1);
    if (want && got) {
        size_t w = 0;
        for (int64_t i = 0; i < toks->count; i++) {
            if (i && t->mode == CLG_TOKENIZE_WORDS) want[w++] = ' ';
            memcpy(want + w, toks->items[i], toks->lengths[i]);
            w += toks->lengths[i];
        }
        size_t got_len = 0;
        FUZZ_CHECK(clg_vocab_decode(v, ids, n, got, joined_len + 1, &got_len) == CLG_OK, "decoding");
        FUZZ_CHECK(got_len == w && memcmp(got, want, w) == 0, "decode(encode(text)) is not the tokens joined");
        if (got_len > 0) {
            clg_clear_error();
            fuzz_check_failure(clg_vocab_decode(v, ids, n, got, got_len, NULL), "clg_vocab_decode", NULL);
        }
    }
    free(want);
    free(got);
    free(ids);
    check_vocab_round_trip(v);
out:
    clg_vocab_free(v);
    clg_token_counter_free(c);
    clg_text_list_free(toks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    static const size_t line_caps[8] = {0, 1, 2, 5, 16, 100, 1024, 4096};
    clg_tokenizer t = {data[1] & 1 ? CLG_TOKENIZE_WORDS : CLG_TOKENIZE_CHARS, (data[1] >> 1) & 1,
                       (clg_punct_mode)((data[1] >> 2) & 3)};
    clg_text_limits limits = {line_caps[(data[1] >> 4) & 7], 0};
    const char *text = (const char *)data + 2;
    size_t len = size - 2;
    if ((data[0] & 3) == 3) {
        check_text(&t, text, len);
        return 0;
    }
    const char *path = fuzz_path("input.txt");
    fuzz_write(path, text, len);
    clg_clear_error();
    if ((data[0] & 3) == 2) {
        clg_vocab *v = (clg_vocab *)(uintptr_t)1;
        clg_status st = clg_vocab_load(path, &v);
        if (st != CLG_OK) {
            fuzz_check_failure(st, "clg_vocab_load", path);
            FUZZ_CHECK(v == NULL, "*out left on failure");
            return 0;
        }
        check_vocab_round_trip(v);
        int64_t n = 0;
        free(encode(v, text, len, &n));
        clg_vocab_free(v);
        return 0;
    }
    int fortunes = data[0] & 1;
    clg_text_list *l = (clg_text_list *)(uintptr_t)1;
    clg_status st = fortunes ? clg_text_read_fortunes(path, &limits, &l) : clg_text_read_lines(path, &limits, &l);
    if (st != CLG_OK) {
        fuzz_check_failure(st, fortunes ? "clg_text_read_fortunes" : "clg_text_read_lines", path);
        FUZZ_CHECK(l == NULL, "*out left on failure");
        return 0;
    }
    check_list(l);
    size_t cap = limits.max_line_bytes ? limits.max_line_bytes : CLG_TEXT_MAX_LINE_BYTES;
    for (int64_t i = 0; i < l->count; i++) {
        const char *s = l->items[i];
        size_t n = l->lengths[i];
        FUZZ_CHECK(n > 0, "empty item %lld", (long long)i);
        if (!fortunes)
            FUZZ_CHECK(n <= cap && !memchr(s, '\n', n), "line %lld", (long long)i);
        else
            FUZZ_CHECK(s[n - 1] != '\n' && !(n == 1 && s[0] == '%'), "fortune %lld", (long long)i);
    }
    /* the first item through the tokenizers (a clear refusal for a bad punctuation mode) */
    if (l->count) check_text(&t, l->items[0], l->lengths[0]);
    clg_text_list_free(l);
    return 0;
}
