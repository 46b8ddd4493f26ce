/* Text utilities: readers (lines, fortunes, directory listing) on files made
 * here, UTF-8 decoding (multi-byte, ill-formed input -> U+FFFD), character and
 * word tokenizers, vocabularies (cut-offs, tie order, OOV, files and their
 * rejections), Keras's pad_sequences against hand-computed arrays, shuffled
 * batches, and a smoke run on Debian's word lists and fortunes if installed.
 * Everything is host-side and exact; no tolerances, no device work. */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- helpers ----------------------------------------------------------------- */

static void write_str(const char *path, const char *s) { clg_test_write_file(path, s, strlen(s)); }

static void expect_items(const clg_text_list *l, const char *const *want, int64_t n) {
    assert_non_null(l);
    if (l->count != n) fail_msg("%lld items, expected %lld", (long long)l->count, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (l->lengths[i] != strlen(want[i]) || memcmp(l->items[i], want[i], l->lengths[i]) != 0)
            fail_msg("item %lld is '%s' (%zu bytes), expected '%s'", (long long)i, l->items[i],
                     l->lengths[i], want[i]);
        assert_int_equal(l->items[i][l->lengths[i]], '\0');
    }
}

static clg_text_list *tokens_of(clg_tokenizer t, const char *s, size_t n) {
    clg_text_list *l = NULL;
    if (clg_tokenize(&t, s, n, &l) != CLG_OK) fail_msg("%s", clg_last_error());
    return l;
}

static clg_vocab *vocab_of(clg_tokenizer t, const char *const *texts, int n, int64_t min_count,
                           int64_t max_size) {
    clg_token_counter *c = clg_token_counter_new(&t);
    assert_non_null(c);
    for (int i = 0; i < n; i++)
        if (clg_token_counter_add(c, texts[i], strlen(texts[i])) != CLG_OK) fail_msg("%s", clg_last_error());
    clg_vocab *v = clg_vocab_build(c, min_count, max_size);
    if (!v) fail_msg("%s", clg_last_error());
    clg_token_counter_free(c);
    return v;
}

static void expect_vocab(const clg_vocab *v, const char *const *want, int64_t n) {
    assert_int_equal(clg_vocab_size(v), n + 2);
    size_t len = 99;
    assert_string_equal(clg_vocab_token(v, CLG_VOCAB_PAD, &len), "");
    assert_int_equal(len, 0);
    assert_string_equal(clg_vocab_token(v, CLG_VOCAB_OOV, &len), "[UNK]");
    for (int64_t i = 0; i < n; i++) {
        const char *t = clg_vocab_token(v, (int32_t)(i + 2), &len);
        if (!t || len != strlen(want[i]) || memcmp(t, want[i], len) != 0)
            fail_msg("id %lld is '%s', expected '%s'", (long long)i + 2, t ? t : "(null)", want[i]);
        assert_int_equal(clg_vocab_id(v, want[i], strlen(want[i])), i + 2);
    }
    assert_null(clg_vocab_token(v, (int32_t)(n + 2), NULL));
    assert_null(clg_vocab_token(v, -1, NULL));
}

/* The ids of one text, via a one-sequence set. */
static int64_t encode(const clg_vocab *v, const char *s, size_t n, int32_t *ids, int64_t cap) {
    clg_sequences *q = clg_sequences_new();
    assert_non_null(q);
    if (clg_vocab_encode(v, s, n, q) != CLG_OK) fail_msg("%s", clg_last_error());
    assert_int_equal(clg_sequences_count(q), 1);
    int64_t len = 0;
    const int32_t *p = clg_sequences_get(q, 0, &len);
    assert_true(len <= cap);
    if (len) memcpy(ids, p, (size_t)len * sizeof(int32_t));
    clg_sequences_free(q);
    return len;
}

/* --- readers -------------------------------------------------------------------- */

static void test_read_lines(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("text-lines");
    char *p = clg_test_path_in(dir, "words");
    write_str(p, "apple\r\n\nBäume\n\r\nzoo");   /* CRLF, blank lines, no final LF */
    clg_text_list *l = NULL;
    if (clg_text_read_lines(p, NULL, &l) != CLG_OK) fail_msg("%s", clg_last_error());
    const char *want[] = {"apple", "Bäume", "zoo"};
    expect_items(l, want, 3);
    clg_text_list_free(l);

    write_str(p, "");
    assert_int_equal(clg_text_read_lines(p, NULL, &l), CLG_OK);
    assert_int_equal(l->count, 0);
    assert_null(l->items);
    clg_text_list_free(l);

    /* A line over the cap is refused, naming the file and the line. */
    write_str(p, "ok\nfine\n0123456789abcdefg\nshort\n");
    clg_text_limits lim = {16, 0};
    l = (clg_text_list *)p;
    CLG_EXPECT_ERROR(clg_text_read_lines(p, &lim, &l) != CLG_OK, CLG_STATUS_CORRUPT_DATA, p,
                     "line 3", "16-byte line cap");
    assert_null(l);
    lim.max_line_bytes = 17;
    assert_int_equal(clg_text_read_lines(p, &lim, &l), CLG_OK);
    assert_int_equal(l->count, 4);
    clg_text_list_free(l);
    /* The default cap (1 MiB) on a 1 MiB + 1 line; CR before LF does not count. */
    size_t big = CLG_TEXT_MAX_LINE_BYTES + 1;
    char *buf = malloc(big + 2);
    assert_non_null(buf);
    memset(buf, 'a', big);
    memcpy(buf + big - 1, "\r\n", 2);
    clg_test_write_file(p, buf, big + 1);
    assert_int_equal(clg_text_read_lines(p, NULL, &l), CLG_OK);   /* exactly 1 MiB of text */
    assert_int_equal(l->lengths[0], CLG_TEXT_MAX_LINE_BYTES);
    clg_text_list_free(l);
    buf[big - 1] = 'a';
    clg_test_write_file(p, buf, big);
    CLG_EXPECT_ERROR(clg_text_read_lines(p, NULL, &l) != CLG_OK, CLG_STATUS_CORRUPT_DATA, "line 1",
                     "1048577 bytes");
    free(buf);
    /* The file cap. */
    write_str(p, "0123456789\n0123456789\n");
    lim.max_line_bytes = 0;
    lim.max_file_bytes = 10;
    CLG_EXPECT_ERROR(clg_text_read_lines(p, &lim, &l) != CLG_OK, CLG_STATUS_CORRUPT_DATA,
                     "clg_text_read_lines", p);
    char *missing = clg_test_path_in(dir, "missing");
    CLG_EXPECT_ERROR(clg_text_read_lines(missing, NULL, &l) != CLG_OK, CLG_STATUS_NOT_FOUND, missing);
    CLG_EXPECT_ERROR(clg_text_read_lines(dir, NULL, &l) != CLG_OK, CLG_STATUS_IO_ERROR, dir);
    CLG_EXPECT_ERROR(clg_text_read_lines(p, NULL, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "out");
    CLG_EXPECT_ERROR(clg_text_read_lines(NULL, NULL, &l) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "path");
    free(missing);
    free(p);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_read_fortunes(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("text-fortunes");
    char *p = clg_test_path_in(dir, "f");
    /* Leading separator, CRLF, an empty fortune, blank lines at the end of one,
     * a "%" inside a line, "%%" (not a separator) and a trailing separator. */
    write_str(p, "%\nOne line.\r\n%\r\nTwo\r\n  lines 50%\n%\n%\n\n\nThree\n\n\n%\n%%\nend\n%\n");
    clg_text_list *l = NULL;
    if (clg_text_read_fortunes(p, NULL, &l) != CLG_OK) fail_msg("%s", clg_last_error());
    const char *want[] = {"One line.", "Two\n  lines 50%", "\n\nThree", "%%\nend"};
    expect_items(l, want, 4);
    clg_text_list_free(l);
    /* No separators at all, no final line end: one fortune. */
    write_str(p, "just\none");
    assert_int_equal(clg_text_read_fortunes(p, NULL, &l), CLG_OK);
    const char *want1[] = {"just\none"};
    expect_items(l, want1, 1);
    clg_text_list_free(l);
    write_str(p, "%\n%\r\n\n%\n");
    assert_int_equal(clg_text_read_fortunes(p, NULL, &l), CLG_OK);
    assert_int_equal(l->count, 0);
    clg_text_list_free(l);
    clg_text_limits lim = {4, 0};
    write_str(p, "abc\n%\nabcde\n");
    CLG_EXPECT_ERROR(clg_text_read_fortunes(p, &lim, &l) != CLG_OK, CLG_STATUS_CORRUPT_DATA, p, "line 3");
    free(p);
    clg_test_rmtree(dir);
    free(dir);
}

static void test_list_dir(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("text-dir");
    const char *files[] = {"zeta", "art", "art.dat", "Beta", ".hidden", "cookie.u8x", "cookie"};
    for (int i = 0; i < 7; i++) {
        char *p = clg_test_path_in(dir, files[i]);
        write_str(p, "x\n");
        free(p);
    }
    char *l1 = clg_test_path_in(dir, "art.u8"), *l2 = clg_test_path_in(dir, "words"), *sub = clg_test_path_in(dir, "subdir");
    assert_int_equal(symlink("art", l1), 0);
    assert_int_equal(symlink("/nonexistent/target", l2), 0);   /* dangling, still skipped */
    assert_int_equal(mkdir(sub, 0755), 0);
    const char *skip[] = {".dat", ".u8", NULL};
    clg_text_list *l = NULL;
    if (clg_text_list_dir(dir, skip, &l) != CLG_OK) fail_msg("%s", clg_last_error());
    const char *names[] = {"Beta", "art", "cookie", "cookie.u8x", "zeta"};   /* byte order */
    assert_int_equal(l->count, 5);
    for (int i = 0; i < 5; i++) {
        char *want = clg_test_path_in(dir, names[i]);
        assert_string_equal(l->items[i], want);
        assert_int_equal(l->lengths[i], strlen(want));
        free(want);
    }
    clg_text_list_free(l);
    /* Without suffixes the .dat file is listed; links and the directory still not.
     * A trailing slash on dir gives no double slash. */
    size_t dl = strlen(dir);
    char *slashed = malloc(dl + 2);
    assert_non_null(slashed);
    snprintf(slashed, dl + 2, "%s/", dir);
    assert_int_equal(clg_text_list_dir(slashed, NULL, &l), CLG_OK);
    assert_int_equal(l->count, 6);
    char *want = clg_test_path_in(dir, "art.dat");
    assert_string_equal(l->items[2], want);
    free(want);
    clg_text_list_free(l);
    free(slashed);
    char *missing = clg_test_path_in(dir, "nope");
    CLG_EXPECT_ERROR(clg_text_list_dir(missing, skip, &l) != CLG_OK, CLG_STATUS_NOT_FOUND, missing);
    char *file = clg_test_path_in(dir, "art");
    CLG_EXPECT_ERROR(clg_text_list_dir(file, skip, &l) != CLG_OK, CLG_STATUS_IO_ERROR, file);
    assert_null(l);
    free(file);
    free(missing);
    free(l1);
    free(l2);
    free(sub);
    clg_test_rmtree(dir);
    free(dir);
}

/* --- tokenizers ----------------------------------------------------------------- */

static void test_char_tokenizer_utf8(void **state) {
    (void)state;
    clg_tokenizer t = clg_tokenizer_default(CLG_TOKENIZE_CHARS);
    assert_int_equal(t.lowercase, 0);
    /* 1-, 2-, 3- and 4-byte code points; NUL is a character like any other. */
    const char s[] = "aé€\xF0\x9F\x98\x80\n\0z";
    clg_text_list *l = tokens_of(t, s, sizeof s - 1);
    const char *want[] = {"a", "é", "€", "\xF0\x9F\x98\x80", "\n", "", "z"};
    assert_int_equal(l->count, 7);
    for (int i = 0; i < 7; i++) {
        size_t n = i == 5 ? 1 : strlen(want[i]);
        assert_int_equal(l->lengths[i], n);
        assert_memory_equal(l->items[i], i == 5 ? "\0" : want[i], n);
    }
    clg_text_list_free(l);
    /* Ill-formed input: one U+FFFD per maximal subpart (Unicode 3.9 / W3C):
     * a lone continuation byte, an overlong C0 80 (two), a truncated 3-byte
     * sequence E2 82 then 'x', a surrogate ED A0 80 (three), F4 90 (over
     * U+10FFFF: two), FF, and a truncated 4-byte F0 9F 98 at the end (one). */
    const char bad[] = "\x80" "\xC0\x80" "\xE2\x82" "x" "\xED\xA0\x80" "\xF4\x90" "\xFF" "\xF0\x9F\x98";
    l = tokens_of(t, bad, sizeof bad - 1);
    const int want_fffd[] = {1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(l->count, 12);
    for (int i = 0; i < 12; i++) {
        if (want_fffd[i])
            assert_memory_equal(l->items[i], "\xEF\xBF\xBD", 3);
        else
            assert_string_equal(l->items[i], "x");
    }
    clg_text_list_free(l);
    /* Empty text: no tokens. */
    l = tokens_of(t, "", 0);
    assert_int_equal(l->count, 0);
    clg_text_list_free(l);
    l = tokens_of(t, NULL, 0);
    assert_int_equal(l->count, 0);
    clg_text_list_free(l);
    /* Lower-casing: ASCII and Latin-1 capitals, not × nor other scripts. */
    t.lowercase = 1;
    l = tokens_of(t, "AÉ×ΣZ", strlen("AÉ×ΣZ"));
    const char *low[] = {"a", "é", "×", "Σ", "z"};
    expect_items(l, low, 5);
    clg_text_list_free(l);
    /* A very long line of characters is fine (no per-token cap applies). */
    size_t big = 3u << 20;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, 'q', big);
    l = tokens_of(t, buf, big);
    assert_int_equal(l->count, (int64_t)big);
    clg_text_list_free(l);
    free(buf);
    t.mode = (clg_tokenize_mode)7;
    CLG_EXPECT_ERROR(clg_tokenize(&t, "a", 1, &l) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "mode 7");
    assert_null(l);
    CLG_EXPECT_ERROR(clg_tokenize(NULL, "a", 1, &l) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "tokenizer");
}

static void test_word_tokenizer(void **state) {
    (void)state;
    clg_tokenizer t = clg_tokenizer_default(CLG_TOKENIZE_WORDS);
    assert_int_equal(t.lowercase, 1);
    assert_int_equal(t.punctuation, CLG_PUNCT_STRIP);
    const char *s = "  Don't PANIC!\tÄrger\xC2\xA0über  e-mail\xE2\x80\x94" "ok\r\n(42) -- ";
    clg_text_list *l = tokens_of(t, s, strlen(s));
    /* Stripped punctuation joins what it stood between, as in Keras ("e-mail—ok"). */
    const char *strip[] = {"dont", "panic", "ärger", "über", "emailok", "42"};
    expect_items(l, strip, 6);
    clg_text_list_free(l);
    t.punctuation = CLG_PUNCT_SPLIT;
    t.lowercase = 0;
    l = tokens_of(t, s, strlen(s));
    const char *split[] = {"Don", "t", "PANIC", "Ärger", "über", "e", "mail", "ok", "42"};
    expect_items(l, split, 9);
    clg_text_list_free(l);
    t.punctuation = CLG_PUNCT_KEEP;
    l = tokens_of(t, s, strlen(s));
    const char *keep[] = {"Don", "'", "t", "PANIC", "!", "Ärger", "über", "e", "-", "mail",
                          "\xE2\x80\x94", "ok", "(", "42", ")", "-", "-"};
    expect_items(l, keep, 17);
    clg_text_list_free(l);
    /* Only separators, or nothing: no tokens. */
    l = tokens_of(t, " \t\n ", 4);
    assert_int_equal(l->count, 0);
    clg_text_list_free(l);
    /* A word at the cap is a token; one byte more is an error naming its offset. */
    char word[CLG_TEXT_MAX_TOKEN_BYTES + 8];
    memset(word, 'w', sizeof word);
    memcpy(word, "a ", 2);
    l = tokens_of(t, word, CLG_TEXT_MAX_TOKEN_BYTES + 2);
    assert_int_equal(l->count, 2);
    assert_int_equal(l->lengths[1], CLG_TEXT_MAX_TOKEN_BYTES);
    clg_text_list_free(l);
    CLG_EXPECT_ERROR(clg_tokenize(&t, word, CLG_TEXT_MAX_TOKEN_BYTES + 3, &l) != CLG_OK,
                     CLG_STATUS_CORRUPT_DATA, "byte 2", "1025 bytes");
    assert_null(l);
    t.punctuation = (clg_punct_mode)9;
    CLG_EXPECT_ERROR(clg_tokenize(&t, "a", 1, &l) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "punctuation");
}

/* --- vocabularies --------------------------------------------------------------- */

static void test_vocab_order_and_cutoffs(void **state) {
    (void)state;
    clg_tokenizer t = clg_tokenizer_default(CLG_TOKENIZE_WORDS);
    /* Counts: the 4, b 3, a 3, c 2, dd 2, d 2, e 1. Ties by byte order: "a" < "b",
     * "c" < "d" < "dd". */
    const char *texts[] = {"the b a the", "c dd b", "The a d e", "THE a b d c dd", ""};
    clg_vocab *v = vocab_of(t, texts, 5, 1, 0);
    const char *all[] = {"the", "a", "b", "c", "d", "dd", "e"};
    expect_vocab(v, all, 7);
    const int64_t counts[] = {4, 3, 3, 2, 2, 2, 1};
    for (int i = 0; i < 7; i++) assert_int_equal(clg_vocab_count(v, i + 2), counts[i]);
    assert_int_equal(clg_vocab_count(v, CLG_VOCAB_PAD), 0);
    assert_int_equal(clg_vocab_count(v, CLG_VOCAB_OOV), 0);
    assert_int_equal(clg_vocab_id(v, "zzz", 3), CLG_VOCAB_OOV);
    assert_int_equal(clg_vocab_id(v, "[UNK]", 5), CLG_VOCAB_OOV);
    assert_int_equal(clg_vocab_id(v, "", 0), CLG_VOCAB_OOV);
    clg_vocab_free(v);
    /* min_count 2 drops e; min_count 3 keeps the, a, b. */
    v = vocab_of(t, texts, 5, 2, 0);
    expect_vocab(v, all, 6);
    clg_vocab_free(v);
    v = vocab_of(t, texts, 5, 3, 0);
    expect_vocab(v, all, 3);
    clg_vocab_free(v);
    /* max_size counts the two reserved ids (Keras's max_tokens): 5 -> three tokens. */
    v = vocab_of(t, texts, 5, 1, 5);
    expect_vocab(v, all, 3);
    clg_vocab_free(v);
    v = vocab_of(t, texts, 5, 1, 2);
    expect_vocab(v, all, 0);
    clg_vocab_free(v);
    v = vocab_of(t, texts, 5, 99, 0);   /* nothing frequent enough: only the reserved ids */
    expect_vocab(v, all, 0);
    clg_vocab_free(v);
    clg_token_counter *c = clg_token_counter_new(&t);
    CLG_EXPECT_ERROR(clg_vocab_build(c, 1, 1) == NULL, CLG_STATUS_INVALID_ARGUMENT, "max_size 1");
    CLG_EXPECT_ERROR(clg_vocab_build(NULL, 1, 0) == NULL, CLG_STATUS_INVALID_ARGUMENT, "counter");
    /* A failing add (word over the cap) leaves the counts as they were. */
    assert_int_equal(clg_token_counter_add(c, "x y", 3), CLG_OK);
    char word[CLG_TEXT_MAX_TOKEN_BYTES + 3];
    memset(word, 'z', sizeof word);
    word[0] = 'x';
    word[1] = ' ';
    CLG_EXPECT_ERROR(clg_token_counter_add(c, word, sizeof word) != CLG_OK, CLG_STATUS_CORRUPT_DATA,
                     "clg_token_counter_add", "token cap");
    assert_int_equal(clg_token_counter_distinct(c), 2);
    v = clg_vocab_build(c, 2, 0);
    assert_int_equal(clg_vocab_size(v), 2);   /* x still counted once */
    clg_vocab_free(v);
    clg_token_counter_free(c);
}

static void test_vocab_encode_decode(void **state) {
    (void)state;
    /* Characters, multi-byte included: known text round-trips exactly. */
    clg_tokenizer t = clg_tokenizer_default(CLG_TOKENIZE_CHARS);
    const char *texts[] = {"héllo wörld €\n", "\xF0\x9F\x98\x80"};
    clg_vocab *v = vocab_of(t, texts, 2, 1, 0);
    int32_t ids[64];
    const char *s = "wörld €\xF0\x9F\x98\x80\n";
    int64_t n = encode(v, s, strlen(s), ids, 64);
    assert_int_equal(n, 9);
    for (int64_t i = 0; i < n; i++) assert_true(ids[i] >= 2);
    char out[128];
    size_t len = 0;
    assert_int_equal(clg_vocab_decode(v, ids, n, out, sizeof out, &len), CLG_OK);
    assert_string_equal(out, s);
    assert_int_equal(len, strlen(s));
    /* Unknown characters (and ill-formed bytes) are OOV; padding decodes to nothing. */
    n = encode(v, "hé\xE4\xB8\xADq\xFFo", 9, ids, 64);
    assert_int_equal(n, 6);
    assert_int_equal(ids[0], clg_vocab_id(v, "h", 1));
    assert_int_equal(ids[1], clg_vocab_id(v, "é", 2));
    assert_int_equal(ids[2], CLG_VOCAB_OOV);   /* 中 */
    assert_int_equal(ids[3], CLG_VOCAB_OOV);   /* q */
    assert_int_equal(ids[4], CLG_VOCAB_OOV);   /* U+FFFD */
    assert_int_equal(ids[5], clg_vocab_id(v, "o", 1));
    int32_t padded[8] = {0, 0, ids[0], ids[1], 1, 0, ids[5], 0};
    assert_int_equal(clg_vocab_decode(v, padded, 8, out, sizeof out, &len), CLG_OK);
    assert_string_equal(out, "hé[UNK]o");
    /* Empty text: an empty sequence; decoding nothing gives "". */
    assert_int_equal(encode(v, "", 0, ids, 64), 0);
    assert_int_equal(clg_vocab_decode(v, ids, 0, out, sizeof out, &len), CLG_OK);
    assert_string_equal(out, "");
    assert_int_equal(len, 0);
    /* Errors: an id outside the vocabulary, a buffer one byte short. */
    int32_t badid[2] = {2, (int32_t)clg_vocab_size(v)};
    CLG_EXPECT_ERROR(clg_vocab_decode(v, badid, 2, out, sizeof out, &len) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "ids[1]", "outside the vocabulary");
    n = encode(v, "héllo", 6, ids, 64);
    CLG_EXPECT_ERROR(clg_vocab_decode(v, ids, n, out, 6, &len) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "needs 6 bytes");
    assert_int_equal(len, 6);
    assert_string_equal(out, "");
    assert_int_equal(clg_vocab_decode(v, ids, n, out, 7, &len), CLG_OK);
    assert_string_equal(out, "héllo");
    clg_vocab_free(v);

    /* Words: decode joins known tokens with single spaces. */
    t = clg_tokenizer_default(CLG_TOKENIZE_WORDS);
    const char *wt[] = {"The cat sat. The mat!"};
    v = vocab_of(t, wt, 1, 1, 0);
    const char *ws = "  the CAT, sat on the mat ";
    n = encode(v, ws, strlen(ws), ids, 64);
    assert_int_equal(n, 6);
    const int32_t want[6] = {2, clg_vocab_id(v, "cat", 3), clg_vocab_id(v, "sat", 3), CLG_VOCAB_OOV, 2,
                             clg_vocab_id(v, "mat", 3)};
    assert_memory_equal(ids, want, sizeof want);
    assert_int_equal(clg_vocab_decode(v, ids, n, out, sizeof out, &len), CLG_OK);
    assert_string_equal(out, "the cat sat [UNK] the mat");
    clg_vocab_free(v);

    /* A fixed alphabet, and its rejections. */
    clg_text_list *alpha = tokens_of(clg_tokenizer_default(CLG_TOKENIZE_CHARS), "abcß", 5);
    v = clg_vocab_from_tokens(&t, alpha);   /* words tokenizer: any token goes */
    assert_non_null(v);
    const char *ab[] = {"a", "b", "c", "ß"};
    expect_vocab(v, ab, 4);
    clg_vocab_free(v);
    clg_text_list_free(alpha);
    clg_tokenizer ct = clg_tokenizer_default(CLG_TOKENIZE_CHARS);
    alpha = tokens_of(t, "ab ab", 5);
    CLG_EXPECT_ERROR(clg_vocab_from_tokens(&ct, alpha) == NULL, CLG_STATUS_INVALID_ARGUMENT,
                     "token 0", "not one character");
    CLG_EXPECT_ERROR(clg_vocab_from_tokens(&t, alpha) == NULL, CLG_STATUS_INVALID_ARGUMENT, "token 1",
                     "repeats token 0");
    clg_text_list_free(alpha);
}

static void test_vocab_files(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("text-vocab");
    char *p = clg_test_path_in(dir, "sub/v.vocab");
    /* Characters including the ones that need escapes: line end, CR, TAB,
     * backslash, NUL and DEL. */
    clg_tokenizer t = clg_tokenizer_default(CLG_TOKENIZE_CHARS);
    clg_token_counter *c = clg_token_counter_new(&t);
    const char text[] = "a\\b\n\r\t\x7F\0ü a\n\n";
    assert_int_equal(clg_token_counter_add(c, text, sizeof text - 1), CLG_OK);
    clg_vocab *v = clg_vocab_build(c, 1, 0);
    clg_token_counter_free(c);
    if (clg_vocab_save(v, p) != CLG_OK) fail_msg("%s", clg_last_error());
    clg_vocab *w = NULL;
    if (clg_vocab_load(p, &w) != CLG_OK) fail_msg("%s", clg_last_error());
    assert_int_equal(clg_vocab_size(w), clg_vocab_size(v));
    assert_int_equal(clg_vocab_size(w), 12);   /* a \ b LF CR TAB DEL NUL ü space + 2 */
    for (int32_t id = 0; id < clg_vocab_size(v); id++) {
        size_t la, lb;
        const char *x = clg_vocab_token(v, id, &la), *y = clg_vocab_token(w, id, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(x, y, la);
        assert_int_equal(clg_vocab_count(v, id), clg_vocab_count(w, id));
    }
    assert_int_equal(clg_vocab_id(w, "\n", 1), 2);   /* the most frequent: 3 line ends */
    assert_int_equal(clg_vocab_count(w, 2), 3);
    clg_tokenizer wt = clg_vocab_tokenizer(w);
    assert_int_equal(wt.mode, CLG_TOKENIZE_CHARS);
    assert_int_equal(wt.lowercase, 0);
    clg_vocab_free(w);
    clg_vocab_free(v);
    /* Words settings survive. */
    t = clg_tokenizer_default(CLG_TOKENIZE_WORDS);
    t.punctuation = CLG_PUNCT_KEEP;
    const char *wtexts[] = {"Hello, world"};
    v = vocab_of(t, wtexts, 1, 1, 0);
    assert_int_equal(clg_vocab_save(v, p), CLG_OK);
    assert_int_equal(clg_vocab_load(p, &w), CLG_OK);
    wt = clg_vocab_tokenizer(w);
    assert_int_equal(wt.mode, CLG_TOKENIZE_WORDS);
    assert_int_equal(wt.lowercase, 1);
    assert_int_equal(wt.punctuation, CLG_PUNCT_KEEP);
    assert_int_equal(clg_vocab_id(w, ",", 1), clg_vocab_id(v, ",", 1));
    clg_vocab_free(w);
    clg_vocab_free(v);

    /* Every truncation of a valid file is rejected. */
    const char *good = "clgrad-vocab 1 words 1 strip 3\nthe\t9\ncat\t2\na\\x41\t0\n";
    size_t gl = strlen(good);
    write_str(p, good);
    assert_int_equal(clg_vocab_load(p, &w), CLG_OK);
    assert_int_equal(clg_vocab_id(w, "aA", 2), 4);
    clg_vocab_free(w);
    for (size_t cut = 0; cut < gl; cut++) {
        clg_test_write_file(p, good, cut);
        w = (clg_vocab *)p;
        if (clg_vocab_load(p, &w) == CLG_OK) fail_msg("truncated at %zu bytes: loaded", cut);
        assert_int_equal(clg_last_status(), CLG_STATUS_CORRUPT_DATA);
        assert_null(w);
    }
    /* Corrupt files: each with the reason and the line. */
    const struct {
        const char *text, *want1, *want2;
    } bad[] = {
        {"hello\n", "not a clgrad vocabulary", "line 1"},
        {"clgrad-vocab 2 words 1 strip 0\n", "header is not", "line 1"},
        {"clgrad-vocab 1 bytes 1 strip 0\n", "not chars or words", "line 1"},
        {"clgrad-vocab 1 words 2 strip 0\n", "lowercase", "line 1"},
        {"clgrad-vocab 1 words 1 drop 0\n", "punctuation", "line 1"},
        {"clgrad-vocab 1 words 1 strip -1\n", "token count", "line 1"},
        {"clgrad-vocab 1 words 1 strip 99999999999\n", "token count", "line 1"},
        {"clgrad-vocab 1 words 1 strip 1\na\t1\nb\t1\n", "2 lines follow", "extra lines"},
        {"clgrad-vocab 1 words 1 strip 3\na\t1\n", "truncated", "says 3"},
        {"clgrad-vocab 1 words 1 strip 2\na\t1\nb 1\n", "line 3", "no TAB"},
        {"clgrad-vocab 1 words 1 strip 1\na\t1x\n", "line 2", "not a decimal"},
        {"clgrad-vocab 1 words 1 strip 1\na\t\n", "line 2", "not a decimal"},
        {"clgrad-vocab 1 words 1 strip 2\na\t1\na\t2\n", "line 3", "repeats line 2"},
        {"clgrad-vocab 1 words 1 strip 1\n\t1\n", "line 2", "empty"},
        {"clgrad-vocab 1 words 1 strip 1\n[UNK]\t1\n", "line 2", "reserved"},
        {"clgrad-vocab 1 words 1 strip 1\n\xC3\x28\t1\n", "line 2", "not valid UTF-8"},
        {"clgrad-vocab 1 words 1 strip 1\na\\q\t1\n", "line 2", "unknown escape"},
        {"clgrad-vocab 1 words 1 strip 1\na\\x4\t1\n", "line 2", "two hex digits"},
        {"clgrad-vocab 1 words 1 strip 1\na\\\t1\n", "line 2", "backslash at the end"},
        {"clgrad-vocab 1 words 1 strip 1\na\x01\t1\n", "line 2", "raw control byte"},
        {"clgrad-vocab 1 chars 0 strip 1\nab\t1\n", "line 2", "not one character"},
        {"clgrad-vocab 1 words 1 strip 0", "line end", "truncated"},
        {"", "is empty", "v.vocab"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_str(p, bad[i].text);
        w = NULL;
        if (clg_vocab_load(p, &w) == CLG_OK) fail_msg("case %zu loaded", i);
        CLG_EXPECT_ERROR(1, CLG_STATUS_CORRUPT_DATA, p, bad[i].want1, bad[i].want2);
        assert_null(w);
    }
    /* A CRLF copy of a good file still loads; an empty vocabulary too. */
    write_str(p, "clgrad-vocab 1 words 0 split 1\r\nx\t5\r\n");
    assert_int_equal(clg_vocab_load(p, &w), CLG_OK);
    assert_int_equal(clg_vocab_size(w), 3);
    assert_int_equal(clg_vocab_count(w, 2), 5);
    clg_vocab_free(w);
    write_str(p, "clgrad-vocab 1 chars 0 strip 0\n");
    assert_int_equal(clg_vocab_load(p, &w), CLG_OK);
    assert_int_equal(clg_vocab_size(w), 2);
    assert_int_equal(clg_vocab_id(w, "a", 1), CLG_VOCAB_OOV);
    clg_vocab_free(w);
    char *missing = clg_test_path_in(dir, "none.vocab");
    CLG_EXPECT_ERROR(clg_vocab_load(missing, &w) != CLG_OK, CLG_STATUS_NOT_FOUND, missing);
    CLG_EXPECT_ERROR(clg_vocab_save(NULL, p) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "vocab");
    free(missing);
    free(p);
    clg_test_rmtree(dir);
    free(dir);
}

/* The characters tokenizer ignores the punctuation mode, so any value passes;
 * saving such a vocabulary indexed the mode names with it (found by
 * tests/fuzz/fuzz_text.c: a read past the table, then a header naming whatever
 * lay there). It is kept as "strip" now. */
static void test_chars_vocab_ignores_punctuation(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("text-vocab");
    char *p = clg_test_path_in(dir, "v.vocab");
    const int modes[] = {3, 7, -1};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        clg_tokenizer t = {CLG_TOKENIZE_CHARS, 0, (clg_punct_mode)modes[i]};
        clg_token_counter *c = clg_token_counter_new(&t);
        assert_non_null(c);
        assert_int_equal(clg_token_counter_add(c, "ab, a", 5), CLG_OK);
        clg_vocab *v = clg_vocab_build(c, 1, 0);
        clg_token_counter_free(c);
        assert_non_null(v);
        assert_int_equal(clg_vocab_tokenizer(v).punctuation, CLG_PUNCT_STRIP);
        if (clg_vocab_save(v, p) != CLG_OK) fail_msg("%s", clg_last_error());
        clg_vocab *w = NULL;
        if (clg_vocab_load(p, &w) != CLG_OK) fail_msg("%s", clg_last_error());
        assert_int_equal(clg_vocab_size(w), 6); /* a b , space + 2 */
        assert_int_equal(clg_vocab_tokenizer(w).punctuation, CLG_PUNCT_STRIP);
        clg_vocab_free(w);
        clg_vocab_free(v);
        clg_vocab *f = clg_vocab_from_tokens(&t, &(clg_text_list){0, NULL, NULL});
        assert_non_null(f);
        assert_int_equal(clg_vocab_tokenizer(f).punctuation, CLG_PUNCT_STRIP);
        clg_vocab_free(f);
    }
    clg_test_rmtree(dir);
    free(p);
    free(dir);
}

/* --- sequences, padding, batches ------------------------------------------------ */

static clg_sequences *sample_sequences(void) {
    clg_sequences *s = clg_sequences_new();
    assert_non_null(s);
    const int32_t a[5] = {1, 2, 3, 4, 5}, b[2] = {6, 7}, c[3] = {8, 9, 10};
    assert_int_equal(clg_sequences_append(s, a, 5), CLG_OK);
    assert_int_equal(clg_sequences_append(s, b, 2), CLG_OK);
    assert_int_equal(clg_sequences_append(s, NULL, 0), CLG_OK);
    assert_int_equal(clg_sequences_append(s, c, 3), CLG_OK);
    return s;
}

static void test_pad_sequences(void **state) {
    (void)state;
    clg_sequences *s = sample_sequences();
    assert_int_equal(clg_sequences_count(s), 4);
    assert_int_equal(clg_sequences_max_length(s, NULL, 4), 5);
    int64_t n = -1;
    assert_null(clg_sequences_get(s, 2, &n));
    assert_int_equal(n, 0);
    assert_null(clg_sequences_get(s, 4, &n));
    int32_t out[40];
    /* Hand-computed, as keras.utils.pad_sequences(seqs, maxlen=3, ...) gives. */
    const int32_t pre_pre[12] = {3, 4, 5, 0, 6, 7, 0, 0, 0, 8, 9, 10};
    const int32_t post_pre[12] = {3, 4, 5, 6, 7, 0, 0, 0, 0, 8, 9, 10};
    const int32_t pre_post[12] = {1, 2, 3, 0, 6, 7, 0, 0, 0, 8, 9, 10};
    const int32_t post_post[12] = {1, 2, 3, 6, 7, -1, -1, -1, -1, 8, 9, 10};
    assert_int_equal(clg_pad_sequences(s, NULL, 4, 3, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 12), CLG_OK);
    assert_memory_equal(out, pre_pre, sizeof pre_pre);
    assert_int_equal(clg_pad_sequences(s, NULL, 4, 3, CLG_PAD_POST, CLG_PAD_PRE, 0, out, 12), CLG_OK);
    assert_memory_equal(out, post_pre, sizeof post_pre);
    assert_int_equal(clg_pad_sequences(s, NULL, 4, 3, CLG_PAD_PRE, CLG_PAD_POST, 0, out, 12), CLG_OK);
    assert_memory_equal(out, pre_post, sizeof pre_post);
    assert_int_equal(clg_pad_sequences(s, NULL, 4, 3, CLG_PAD_POST, CLG_PAD_POST, -1, out, 12), CLG_OK);
    assert_memory_equal(out, post_post, sizeof post_post);
    /* maxlen = the longest (Keras's maxlen=None), a selection in a given order. */
    const int64_t sel[3] = {3, 0, 1};
    int64_t m = clg_sequences_max_length(s, sel, 3);
    assert_int_equal(m, 5);
    const int32_t sel_pre[15] = {0, 0, 8, 9, 10, 1, 2, 3, 4, 5, 0, 0, 0, 6, 7};
    assert_int_equal(clg_pad_sequences(s, sel, 3, m, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 15), CLG_OK);
    assert_memory_equal(out, sel_pre, sizeof sel_pre);
    /* Bad input. */
    CLG_EXPECT_ERROR(clg_pad_sequences(s, NULL, 4, 3, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 11) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "11 elements", "4 x 3");
    CLG_EXPECT_ERROR(clg_pad_sequences(s, NULL, 4, 0, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 40) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "maxlen 0");
    CLG_EXPECT_ERROR(clg_pad_sequences(s, NULL, 3, 3, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 40) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "count must be 4");
    const int64_t badsel[2] = {1, 4};
    CLG_EXPECT_ERROR(clg_pad_sequences(s, badsel, 2, 3, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 40) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "indices[1] = 4");
    CLG_EXPECT_ERROR(clg_pad_sequences(s, NULL, 4, 3, (clg_pad_side)2, CLG_PAD_PRE, 0, out, 40) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "neither pre nor post");
    assert_int_equal(clg_sequences_max_length(s, badsel, 2), -1);
    CLG_EXPECT_ERROR(clg_sequences_append(s, NULL, 2) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "ids");
    assert_int_equal(clg_sequences_count(s), 4);
    clg_sequences_free(s);

    /* Only empty sequences: no id storage at all (found by tests/fuzz/fuzz_text.c:
     * padding did arithmetic on its NULL pointer, undefined behaviour that
     * clang's UBSan reports; the fuzz build replays the input in its corpus). */
    s = clg_sequences_new();
    assert_non_null(s);
    assert_int_equal(clg_sequences_append(s, NULL, 0), CLG_OK);
    assert_int_equal(clg_sequences_append(s, NULL, 0), CLG_OK);
    assert_int_equal(clg_sequences_max_length(s, NULL, 2), 0);
    const int32_t all_pad[4] = {-7, -7, -7, -7};
    assert_int_equal(clg_pad_sequences(s, NULL, 2, 2, CLG_PAD_PRE, CLG_PAD_PRE, -7, out, 4), CLG_OK);
    assert_memory_equal(out, all_pad, sizeof all_pad);
    assert_int_equal(clg_pad_sequences(s, NULL, 2, 2, CLG_PAD_POST, CLG_PAD_POST, -7, out, 4), CLG_OK);
    assert_memory_equal(out, all_pad, sizeof all_pad);
    clg_sequences_free(s);
}

static void test_shuffled_sequence_batches(void **state) {
    (void)state;
    /* 23 sequences: sequence i is i+1 copies of id i+2. */
    clg_sequences *s = clg_sequences_new();
    int32_t ids[32];
    for (int i = 0; i < 23; i++) {
        for (int j = 0; j <= i; j++) ids[j] = i + 2;
        assert_int_equal(clg_sequences_append(s, ids, i + 1), CLG_OK);
    }
    const int64_t bs = 5, len = 4;
    clg_batch_iter *it = clg_batch_iter_new(23, bs, 1, 1234);
    clg_batch_iter *again = clg_batch_iter_new(23, bs, 1, 1234);
    assert_non_null(it);
    int32_t x[20], y[20];
    int64_t order_prev[23];
    for (int64_t epoch = 0; epoch < 3; epoch++) {
        assert_int_equal(clg_batch_iter_begin_epoch(it, epoch), CLG_OK);
        assert_int_equal(clg_batch_iter_begin_epoch(again, epoch), CLG_OK);
        int seen[23] = {0};
        int64_t pos = 0, batches = 0, order[23];
        clg_batch b, b2;
        while (clg_batch_iter_next(it, &b)) {
            assert_true(clg_batch_iter_next(again, &b2));
            assert_int_equal(b.count, b2.count);
            assert_memory_equal(b.indices, b2.indices, (size_t)b.count * sizeof(int64_t));   /* seeded */
            assert_int_equal(b.count, batches < 4 ? 5 : 3);
            assert_int_equal(clg_pad_sequences(s, b.indices, b.count, len, CLG_PAD_PRE, CLG_PAD_PRE, 0, x, 20),
                             CLG_OK);
            assert_int_equal(clg_pad_sequences(s, b2.indices, b2.count, len, CLG_PAD_PRE, CLG_PAD_PRE, 0, y, 20),
                             CLG_OK);
            assert_memory_equal(x, y, (size_t)(b.count * len) * sizeof(int32_t));
            for (int64_t r = 0; r < b.count; r++) {
                int64_t k = b.indices[r];
                seen[k]++;
                order[pos++] = k;
                /* Row r holds sequence k: min(k+1, 4) copies of k+2, zeros in front. */
                int64_t real = k + 1 < len ? k + 1 : len;
                for (int64_t j = 0; j < len; j++)
                    assert_int_equal(x[r * len + j], j < len - real ? 0 : (int32_t)(k + 2));
            }
            batches++;
        }
        assert_false(clg_batch_iter_next(again, &b2));
        assert_int_equal(batches, 5);
        for (int i = 0; i < 23; i++) assert_int_equal(seen[i], 1);   /* each exactly once */
        int identity = 1;
        for (int i = 0; i < 23; i++) identity &= order[i] == i;
        assert_false(identity);
        if (epoch > 0) assert_true(memcmp(order, order_prev, sizeof order) != 0);   /* reshuffled */
        memcpy(order_prev, order, sizeof order);
    }
    clg_batch_iter_free(it);
    clg_batch_iter_free(again);
    clg_sequences_free(s);
}

/* --- Debian's word lists and fortunes, if installed ------------------------------- */

static void test_debian_text_smoke(void **state) {
    (void)state;
    const char *dict = "/usr/share/dict", *fort = "/usr/share/games/fortunes";
    if (access("/usr/share/dict/ngerman", R_OK) != 0 || access("/usr/share/games/fortunes/cookie", R_OK) != 0) {
        print_message("skipping: install wngerman and fortunes for the real-text smoke check\n");
        skip();
    }
    clg_text_list *files = NULL;
    if (clg_text_list_dir(dict, NULL, &files) != CLG_OK) fail_msg("%s", clg_last_error());
    for (int64_t i = 0; i < files->count; i++) {   /* the links words, nederlands are not listed */
        const char *base = strrchr(files->items[i], '/') + 1;
        assert_string_not_equal(base, "words");
        assert_string_not_equal(base, "nederlands");
    }
    clg_text_list_free(files);
    clg_text_list *words = NULL;
    if (clg_text_read_lines("/usr/share/dict/ngerman", NULL, &words) != CLG_OK) fail_msg("%s", clg_last_error());
    assert_true(words->count > 100000);
    /* A character vocabulary of German words: round trip of a few words. */
    clg_tokenizer t = clg_tokenizer_default(CLG_TOKENIZE_CHARS);
    clg_token_counter *c = clg_token_counter_new(&t);
    for (int64_t i = 0; i < words->count; i += 7)
        assert_int_equal(clg_token_counter_add(c, words->items[i], words->lengths[i]), CLG_OK);
    clg_vocab *v = clg_vocab_build(c, 1, 0);
    clg_token_counter_free(c);
    assert_true(clg_vocab_size(v) > 30);
    assert_true(clg_vocab_id(v, "ü", 2) >= 2);
    clg_sequences *q = clg_sequences_new();
    char out[4096];
    for (int64_t i = 0; i < words->count; i += 7007) {
        assert_int_equal(clg_vocab_encode(v, words->items[i], words->lengths[i], q), CLG_OK);
        int64_t n = 0;
        const int32_t *ids = clg_sequences_get(q, clg_sequences_count(q) - 1, &n);
        assert_int_equal(clg_vocab_decode(v, ids, n, out, sizeof out, NULL), CLG_OK);
        assert_string_equal(out, words->items[i]);
    }
    clg_sequences_free(q);
    clg_vocab_free(v);
    clg_text_list_free(words);

    const char *skip_s[] = {".dat", ".u8", NULL};
    if (clg_text_list_dir(fort, skip_s, &files) != CLG_OK) fail_msg("%s", clg_last_error());
    assert_true(files->count >= 10);
    int64_t fortunes = 0;
    for (int64_t i = 0; i < files->count; i++) {
        const char *base = strrchr(files->items[i], '/') + 1;
        assert_null(strstr(base, ".dat"));
        assert_null(strstr(base, ".u8"));
        clg_text_list *f = NULL;
        if (clg_text_read_fortunes(files->items[i], NULL, &f) != CLG_OK) fail_msg("%s", clg_last_error());
        for (int64_t k = 0; k < f->count; k++) {
            assert_true(f->lengths[k] > 0);
            assert_false(f->lengths[k] == 1 && f->items[k][0] == '%');
        }
        fortunes += f->count;
        clg_text_list_free(f);
    }
    print_message("%lld fortunes in %lld files\n", (long long)fortunes, (long long)files->count);
    assert_true(fortunes > 1000);
    clg_text_list_free(files);
}

/* Sampling: greedy is the argmax, top_k 1 is greedy at any temperature, top_k
 * never leaves the k best, draws repeat with the seed, and 30,000 draws follow
 * the distribution (each frequency within 1.5 points of softmax(log p / T)). */
static void test_sample_token(void **state) {
    (void)state;
    const float p[4] = {0.1f, 0.2f, 0.6f, 0.1f};
    const float z[4] = {1.0f, -2.0f, 0.5f, 3.0f};
    int id = -1;
    assert_int_equal(clg_sample_token(p, 4, 0, 0.0f, 0, 1, 0, &id), CLG_OK);
    assert_int_equal(id, 2);
    assert_int_equal(clg_sample_token(z, 4, 1, 0.0f, 0, 1, 0, &id), CLG_OK);
    assert_int_equal(id, 3);
    for (uint64_t c = 0; c < 50; c++) {
        assert_int_equal(clg_sample_token(p, 4, 0, 5.0f, 1, 9, c, &id), CLG_OK);
        assert_int_equal(id, 2);
        assert_int_equal(clg_sample_token(p, 4, 0, 5.0f, 2, 9, c, &id), CLG_OK);
        assert_true(id == 2 || id == 1);
        int again = -1;
        assert_int_equal(clg_sample_token(p, 4, 0, 5.0f, 2, 9, c, &again), CLG_OK);
        assert_int_equal(id, again);
    }
    for (int t = 0; t < 2; t++) {
        const double temp = t ? 0.5 : 1.0;
        int hist[4] = {0};
        enum { DRAWS = 30000 };
        for (uint64_t c = 0; c < DRAWS; c++) {
            assert_int_equal(clg_sample_token(p, 4, 0, (float)temp, 0, 77, c, &id), CLG_OK);
            hist[id]++;
        }
        double want[4], sum = 0;
        for (int i = 0; i < 4; i++) sum += want[i] = pow(p[i], 1.0 / temp);
        for (int i = 0; i < 4; i++)
            if (fabs(hist[i] / (double)DRAWS - want[i] / sum) > 0.015)
                fail_msg("T %g: id %d drawn %.4f, want %.4f", temp, i, hist[i] / (double)DRAWS, want[i] / sum);
    }
    const float bad[3] = {0.5f, -0.1f, 0.6f};
    CLG_EXPECT_ERROR(clg_sample_token(bad, 3, 0, 1.0f, 0, 1, 0, &id) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_sample_token", "entry 1");
    CLG_EXPECT_ERROR(clg_sample_token(p, 0, 0, 1.0f, 0, 1, 0, &id) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "n 0");
    const float zero[2] = {0.0f, 0.0f};
    CLG_EXPECT_ERROR(clg_sample_token(zero, 2, 0, 1.0f, 0, 1, 0, &id) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "probability 0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_lines),
        cmocka_unit_test(test_read_fortunes),
        cmocka_unit_test(test_list_dir),
        cmocka_unit_test(test_char_tokenizer_utf8),
        cmocka_unit_test(test_word_tokenizer),
        cmocka_unit_test(test_vocab_order_and_cutoffs),
        cmocka_unit_test(test_vocab_encode_decode),
        cmocka_unit_test(test_vocab_files),
        cmocka_unit_test(test_chars_vocab_ignores_punctuation),
        cmocka_unit_test(test_pad_sequences),
        cmocka_unit_test(test_shuffled_sequence_batches),
        cmocka_unit_test(test_debian_text_smoke),
        cmocka_unit_test(test_sample_token),
    };
    return CLG_RUN_GROUP(tests);
}
