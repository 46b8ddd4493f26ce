/** \file
 * Text: reading word lists and fortune files, character and word tokenizers,
 * vocabularies with a frequency cut-off and an out-of-vocabulary id, ragged
 * token sequences, Keras's pad_sequences and shuffled sequence batches. All of
 * it works on host memory; nothing here touches a device.
 *
 *     // Every fortune file of Debian's `fortunes` package, in name order.
 *     const char *skip[] = {".dat", ".u8", NULL};
 *     clg_text_list *files = NULL;
 *     if (clg_text_list_dir("/usr/share/games/fortunes", skip, &files) != CLG_OK) {
 *         fprintf(stderr, "%s\n", clg_last_error());   // names the directory
 *         return 1;
 *     }
 *     clg_tokenizer tok = clg_tokenizer_default(CLG_TOKENIZE_CHARS);
 *     clg_token_counter *counter = clg_token_counter_new(&tok);
 *     clg_text_list *all[64];
 *     for (int64_t f = 0; f < files->count; f++) {
 *         clg_text_read_fortunes(files->items[f], NULL, &all[f]);   // check the status
 *         for (int64_t i = 0; i < all[f]->count; i++)
 *             clg_token_counter_add(counter, all[f]->items[i], all[f]->lengths[i]);
 *     }
 *     // Characters seen at least 5 times; ids 0 (padding) and 1 ([UNK]) come first.
 *     clg_vocab *vocab = clg_vocab_build(counter, 5, 0);
 *     clg_token_counter_free(counter);
 *     clg_vocab_save(vocab, "fortunes.vocab");             // reload with clg_vocab_load
 *
 *     clg_sequences *seqs = clg_sequences_new();
 *     for (int64_t i = 0; i < all[0]->count; i++)
 *         clg_vocab_encode(vocab, all[0]->items[i], all[0]->lengths[i], seqs);
 *     int64_t n = clg_sequences_count(seqs), bs = 32, len = 200;
 *     int32_t *x = malloc(bs * len * sizeof(int32_t));
 *     clg_batch_iter *it = clg_batch_iter_new(n, bs, 1, 42);   // from data.h: seeded shuffle
 *     clg_batch b;
 *     while (clg_batch_iter_next(it, &b)) {
 *         // [b.count, 200] int32, zeros in front, as Keras's pad_sequences defaults
 *         clg_pad_sequences(seqs, b.indices, b.count, len, CLG_PAD_PRE, CLG_PAD_PRE, 0,
 *                           x, bs * len);
 *         ...
 *     }
 *
 * Encoding: text is UTF-8. A byte sequence that is not UTF-8 is decoded as
 * U+FFFD (one per maximal ill-formed subpart, as the Unicode standard
 * recommends), so every input tokenizes and no token holds invalid UTF-8. The
 * readers keep bytes as they are; invalid UTF-8 is replaced at tokenization.
 *
 * Ownership: functions that create an object (clg_text_list, clg_token_counter,
 * clg_vocab, clg_sequences) hand it to the caller, who frees it with the
 * matching _free; _free(NULL) does nothing. Pointers returned by accessors point
 * into the object and live as long as it does (for clg_sequences, until the
 * next append). Caller buffers are never kept.
 *
 * Failure: functions return a clg_status (or NULL for creators) and leave a
 * message in clg_last_error() naming the function and the file (with the
 * 1-based line where one applies) or the argument at fault. Outputs are left
 * NULL on failure; an object that a failing call would have modified is
 * unchanged. The library never prints or exits.
 *
 * Thread safety: no global state. A vocabulary may be used for encoding and
 * decoding from several threads at once; a counter or a sequence set that is
 * being added to needs exclusive use. */
#ifndef CLGRAD_TEXT_H
#define CLGRAD_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "clgrad/export.h"
#include "clgrad/status.h"

CLG_BEGIN_DECLS

/** \defgroup text_read Reading text files
 *
 * Whole files are read under a size cap and every line is checked against a
 * line cap, so a hostile file costs at most a few times max_file_bytes of
 * memory (the file, the growing list, the finished list) and fails clearly. Lines end in LF, CRLF or (the last one) at the end of the
 * file; a trailing CR is stripped.
 * @{ */

/** Default cap on one line's bytes (excluding the line end): 1 MiB. */
#define CLG_TEXT_MAX_LINE_BYTES ((size_t)1 << 20)
/** Default cap on a file's bytes: 256 MiB. */
#define CLG_TEXT_MAX_FILE_BYTES ((size_t)1 << 28)

/** Caps for the readers; 0 in a field means its default. */
typedef struct clg_text_limits {
    size_t max_line_bytes;   /**< longest line allowed; default CLG_TEXT_MAX_LINE_BYTES */
    size_t max_file_bytes;   /**< largest file allowed; default CLG_TEXT_MAX_FILE_BYTES */
} clg_text_limits;

/** A list of byte strings (lines, fortunes, tokens or paths), all held in one
 * allocation. items[i] is NUL-terminated; lengths[i] is its length in bytes
 * without the NUL (authoritative if the text itself holds NUL bytes). */
typedef struct clg_text_list {
    int64_t count;     /**< number of items (may be 0) */
    char **items;      /**< count strings (NULL when count is 0) */
    size_t *lengths;   /**< count lengths (NULL when count is 0) */
} clg_text_list;

CLG_API void clg_text_list_free(clg_text_list *list); /**< NULL is a no-op */

/** Reads one entry per non-empty line (a word list such as /usr/share/dict/ngerman)
 * into *out (set to NULL first); limits NULL means defaults. Lines are kept
 * byte for byte except the line end; empty lines are skipped. Owner: the
 * caller (clg_text_list_free). Fails with CLG_STATUS_NOT_FOUND (no such file),
 * CLG_STATUS_IO_ERROR (cannot open or read, not a regular file),
 * CLG_STATUS_CORRUPT_DATA (file over max_file_bytes; a line over
 * max_line_bytes, naming the line), CLG_STATUS_OUT_OF_HOST_MEMORY; the message
 * names the path. */
CLG_API clg_status clg_text_read_lines(const char *path, const clg_text_limits *limits,
                                       clg_text_list **out);

/** Reads a fortune file (Debian's `fortunes`: texts separated by lines holding
 * only "%", with a CR before the LF allowed) into *out, one item per fortune:
 * its lines joined by `"\n"` (CRs stripped), without the line ends at its end.
 * Empty fortunes (two separators in a row, a separator at the start or the
 * end, nothing but line ends between two separators) are skipped, so a
 * trailing "%" adds nothing. Errors as clg_text_read_lines. */
CLG_API clg_status clg_text_read_fortunes(const char *path, const clg_text_limits *limits,
                                          clg_text_list **out);

/** Lists the regular files directly in directory dir as paths "dir/name",
 * sorted by name (byte order), into *out. Skipped: symbolic links (whatever
 * they point to, so /usr/share/dict/words and the `.u8` links of the fortunes
 * are left out), anything that is not a regular file, names starting with
 * ".", and names ending in one of skip_suffixes (a NULL-terminated list, may
 * be NULL), e.g. {".dat", ".u8", NULL}. Other regular files (such as
 * /usr/share/dict/README.select-wordlist) are listed: pick by name where it
 * matters. Owner: the caller (clg_text_list_free). Fails with
 * CLG_STATUS_NOT_FOUND (no such directory), CLG_STATUS_IO_ERROR (not a
 * directory, cannot be read), CLG_STATUS_OUT_OF_HOST_MEMORY; the message names
 * the directory. */
CLG_API clg_status clg_text_list_dir(const char *dir, const char *const *skip_suffixes,
                                     clg_text_list **out);
/** @} */

/** \defgroup text_tokenize Tokenizers
 *
 * Characters: every Unicode code point is one token, its UTF-8 encoding (a
 * line end `"\n"` and a space are tokens like any other).
 *
 * Words: a word is a maximal run of code points that are neither white space
 * nor punctuation. White space: U+0009..U+000D, U+0020, U+0085, U+00A0,
 * U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
 * Punctuation: the ASCII characters U+0021..U+002F, U+003A..U+0040,
 * U+005B..U+0060 and U+007B..U+007E (the set Keras's TextVectorization strips), the Latin-1 marks U+00A1 U+00A7 U+00AB
 * U+00B6 U+00B7 U+00BB U+00BF, U+2010..U+2027, U+2030..U+205E and
 * U+3001..U+3003. What happens to punctuation is clg_punct_mode's choice.
 *
 * Lower-casing (optional, either tokenizer) maps A..Z and the Latin-1
 * capitals U+00C0..U+00DE (except U+00D7) to their small letters; other
 * scripts are left as they are, the same on every machine and in every
 * locale.
 * @{ */

typedef enum clg_tokenize_mode {
    CLG_TOKENIZE_CHARS = 0,   /**< one token per code point */
    CLG_TOKENIZE_WORDS = 1    /**< words split on white space and punctuation */
} clg_tokenize_mode;

typedef enum clg_punct_mode {
    CLG_PUNCT_STRIP = 0,   /**< deleted inside words, as Keras: "don't" -> "dont" */
    CLG_PUNCT_SPLIT = 1,   /**< a separator, as white space: "don't" -> "don", "t" */
    CLG_PUNCT_KEEP = 2     /**< a token of its own: "don't" -> "don", "'", "t" */
} clg_punct_mode;

/** Longest token allowed, in bytes (a longer word is an error, not a token). */
#define CLG_TEXT_MAX_TOKEN_BYTES 1024

typedef struct clg_tokenizer {
    clg_tokenize_mode mode;
    int lowercase;                /**< 1: lower-case first (see above) */
    clg_punct_mode punctuation;   /**< words only; ignored for characters (counters and
                                       vocabularies keep CLG_PUNCT_STRIP then) */
} clg_tokenizer;

/** Characters: case kept. Words: lower-cased, punctuation stripped (Keras's
 * default standardize "lower_and_strip_punctuation" and split "whitespace"). */
CLG_API clg_tokenizer clg_tokenizer_default(clg_tokenize_mode mode);

/** Splits len bytes of text (NUL bytes included; len 0 gives no tokens) into
 * tokens, into *out (set to NULL first). Owner: the caller
 * (clg_text_list_free). Fails with CLG_STATUS_INVALID_ARGUMENT (NULL, a bad
 * mode) and CLG_STATUS_CORRUPT_DATA for a word over CLG_TEXT_MAX_TOKEN_BYTES
 * (naming its byte offset). */
CLG_API clg_status clg_tokenize(const clg_tokenizer *tokenizer, const char *text, size_t len,
                                clg_text_list **out);
/** @} */

/** \defgroup text_vocab Vocabularies
 *
 * Ids follow Keras's TextVectorization and StringLookup: 0 is padding (the
 * empty token), 1 is out-of-vocabulary ("[UNK]"), the tokens follow from 2 on
 * by count, most frequent first, ties in byte order of the token. Lookups use
 * a hash table.
 *
 * File format (UTF-8, LF line ends): a header line
 * "clgrad-vocab 1 <chars|words> <lowercase 0|1> <strip|split|keep> <count>",
 * then one line per token from id 2 on: the token, a TAB and its count (a
 * decimal >= 0). In the token a backslash is written `\\` and each byte below
 * 0x20 or 0x7F as `\n`, `\r`, `\t` or `\xHH`, so that a token is one line.
 * @{ */

/** Id of padding. */
#define CLG_VOCAB_PAD 0
/** Id of every token that is not in the vocabulary. */
#define CLG_VOCAB_OOV 1
/** What the out-of-vocabulary id decodes to. */
#define CLG_VOCAB_OOV_TOKEN "[UNK]"

typedef struct clg_token_counter clg_token_counter;
typedef struct clg_vocab clg_vocab;

/** A counter of the tokens of texts, tokenized with *tokenizer (copied).
 * Owner: the caller (clg_token_counter_free). NULL on failure (NULL or bad
 * tokenizer, memory). */
CLG_API clg_token_counter *clg_token_counter_new(const clg_tokenizer *tokenizer);
CLG_API void clg_token_counter_free(clg_token_counter *counter); /**< NULL is a no-op */

/** Tokenizes len bytes of text and counts each token. On failure (as
 * clg_tokenize, or memory) the counts are unchanged. */
CLG_API clg_status clg_token_counter_add(clg_token_counter *counter, const char *text,
                                         size_t len);

/** Distinct tokens counted so far; 0 for NULL. */
CLG_API int64_t clg_token_counter_distinct(const clg_token_counter *counter);

/** A vocabulary of the counted tokens that occur at least min_count times
 * (values below 1 mean 1), ordered as above and cut to max_size ids in all
 * (the two reserved ids included, as Keras's max_tokens; 0 means no cap;
 * otherwise at least 2). Owner: the caller (clg_vocab_free). NULL on failure
 * (INVALID_ARGUMENT, more than 2^31 - 1 ids, memory). */
CLG_API clg_vocab *clg_vocab_build(const clg_token_counter *counter, int64_t min_count,
                                   int64_t max_size);

/** A vocabulary of the given tokens in the given order (ids 2, 3, ...; counts
 * 0), for a fixed alphabet or a vocabulary from elsewhere. Each token must be
 * non-empty, valid UTF-8, at most CLG_TEXT_MAX_TOKEN_BYTES, and appear once.
 * NULL on failure (INVALID_ARGUMENT naming the entry). */
CLG_API clg_vocab *clg_vocab_from_tokens(const clg_tokenizer *tokenizer,
                                         const clg_text_list *tokens);

CLG_API void clg_vocab_free(clg_vocab *vocab); /**< NULL is a no-op */

/** Ids in all, the two reserved ones included; 0 for NULL. */
CLG_API int64_t clg_vocab_size(const clg_vocab *vocab);

/** The tokenizer the vocabulary encodes with. */
CLG_API clg_tokenizer clg_vocab_tokenizer(const clg_vocab *vocab);

/** The id of a token (len bytes), CLG_VOCAB_OOV if absent (or NULL). */
CLG_API int32_t clg_vocab_id(const clg_vocab *vocab, const char *token, size_t len);

/** The token of an id, NUL-terminated, owned by the vocabulary; *len (if not
 * NULL) gets its length. "" for CLG_VOCAB_PAD, "[UNK]" for CLG_VOCAB_OOV,
 * NULL for an id outside [0, size). */
CLG_API const char *clg_vocab_token(const clg_vocab *vocab, int32_t id, size_t *len);

/** How often the token of an id was counted when the vocabulary was built (0
 * for the reserved ids, for clg_vocab_from_tokens and for a bad id). */
CLG_API int64_t clg_vocab_count(const clg_vocab *vocab, int32_t id);

/** Writes the vocabulary to path in the format above, atomically (a reader
 * sees the old file or the new one). Fails with CLG_STATUS_INVALID_ARGUMENT or
 * CLG_STATUS_IO_ERROR naming the path. */
CLG_API clg_status clg_vocab_save(const clg_vocab *vocab, const char *path);

/** Reads a vocabulary written by clg_vocab_save into *out (set to NULL first).
 * Owner: the caller (clg_vocab_free). Fails with CLG_STATUS_NOT_FOUND /
 * CLG_STATUS_IO_ERROR (file), and CLG_STATUS_CORRUPT_DATA naming the path and
 * line for a bad header, a missing TAB or count, a bad escape, an empty,
 * duplicate or invalid UTF-8 token, a file that is truncated (fewer tokens
 * than the header says, or no final line end) or has extra lines. */
CLG_API clg_status clg_vocab_load(const char *path, clg_vocab **out);
/** @} */

/** \defgroup text_sequences Token sequences, padding and batches
 *
 * A ragged set of int32 token-id sequences (one per text), encoded with a
 * vocabulary, padded or cut to a fixed length as Keras's pad_sequences, and
 * batched with clg_batch_iter (data.h) for a seeded shuffle.
 * @{ */

typedef struct clg_sequences clg_sequences;

/** An empty set. Owner: the caller (clg_sequences_free). NULL on failure. */
CLG_API clg_sequences *clg_sequences_new(void);
CLG_API void clg_sequences_free(clg_sequences *seqs); /**< NULL is a no-op */

/** Appends a copy of n ids (n >= 0) as one more sequence. */
CLG_API clg_status clg_sequences_append(clg_sequences *seqs, const int32_t *ids, int64_t n);

/** Tokenizes len bytes of text with the vocabulary's tokenizer and appends the
 * ids as one more sequence (CLG_VOCAB_OOV for unknown tokens; an empty text
 * gives an empty sequence). On failure (as clg_tokenize, memory) seqs is
 * unchanged. */
CLG_API clg_status clg_vocab_encode(const clg_vocab *vocab, const char *text, size_t len,
                                    clg_sequences *seqs);

/** Writes the text of n ids into out (capacity bytes) with a NUL after it, and
 * its length (without the NUL) into *len (if not NULL), also when out is too
 * small. Characters are joined as they are, words with one space between
 * them; CLG_VOCAB_PAD writes nothing, CLG_VOCAB_OOV writes "[UNK]". So
 * decoding the encoding of a text whose tokens are all known gives back the
 * text (characters) or its tokens joined by spaces (words). Fails with
 * CLG_STATUS_INVALID_ARGUMENT for an id outside [0, size) (naming its position
 * and value) or too small a buffer (out then holds "" if capacity > 0). */
CLG_API clg_status clg_vocab_decode(const clg_vocab *vocab, const int32_t *ids, int64_t n,
                                    char *out, size_t capacity, size_t *len);

CLG_API int64_t clg_sequences_count(const clg_sequences *seqs); /**< 0 for NULL */

/** Sequence i's ids (owned by the set, valid until the next append) and its
 * length in *n; NULL (and *n 0) for i outside [0, count) or an empty sequence. */
CLG_API const int32_t *clg_sequences_get(const clg_sequences *seqs, int64_t i, int64_t *n);

/** The longest length among sequences indices[0..count) (all of them, in
 * order, if indices is NULL: count must then equal clg_sequences_count);
 * -1 on a bad argument (with a message), 0 if all are empty. */
CLG_API int64_t clg_sequences_max_length(const clg_sequences *seqs, const int64_t *indices,
                                         int64_t count);

typedef enum clg_pad_side {
    CLG_PAD_PRE = 0,    /**< at the start (Keras's 'pre', its default) */
    CLG_PAD_POST = 1    /**< at the end ('post') */
} clg_pad_side;

/** Keras's pad_sequences: writes sequences indices[0..count) (indices NULL:
 * all, in order, count = clg_sequences_count) into out as an int32 [count,
 * maxlen] row-major array. A sequence longer than maxlen loses its first
 * (truncating CLG_PAD_PRE) or last (CLG_PAD_POST) ids; a shorter one is
 * filled up with value before (padding CLG_PAD_PRE) or after (CLG_PAD_POST)
 * its ids. Keras's defaults are CLG_PAD_PRE, CLG_PAD_PRE, 0. maxlen must be
 * >= 1 (use clg_sequences_max_length for Keras's maxlen=None); capacity is
 * out's size in int32 elements. Fails with CLG_STATUS_INVALID_ARGUMENT (an
 * index out of range, a bad side, maxlen < 1, too small a buffer). */
CLG_API clg_status clg_pad_sequences(const clg_sequences *seqs, const int64_t *indices,
                                     int64_t count, int64_t maxlen, clg_pad_side padding,
                                     clg_pad_side truncating, int32_t value, int32_t *out,
                                     int64_t capacity);
/** @} */

/** \defgroup text_sampling Sampling from a language model
 * @{ */

/** Picks the next token id from one output row of a language model (n
 * entries): with temperature <= 0 the greedy choice (the first largest entry);
 * else a draw from softmax(log(p) / temperature) (probabilities, as a softmax
 * layer gives them; with `logits` 1, the row holds logits: softmax(z /
 * temperature)), restricted to the top_k largest entries when top_k > 0 (ties
 * at the cut keep the lower ids). The uniform number comes from the Philox
 * stream (seed, counter), so a generation repeats draw for draw with the same
 * seed and counters. Errors: n <= 0, a non-finite entry, a negative
 * probability, or a row whose kept probabilities sum to 0, each naming the
 * entry. */
CLG_API clg_status clg_sample_token(const float *row, int n, int logits, float temperature, int top_k,
                                    uint64_t seed, uint64_t counter, int *out);

/** @} */

CLG_END_DECLS

#endif
