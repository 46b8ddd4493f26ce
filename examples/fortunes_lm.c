/* The fortune language-model examples' shared program (fortunes_lm.h): a
 * character-level network on Debian's fortune files, next to an interpolated
 * Kneser-Ney character-trigram baseline computed by the same program on the
 * same split, with samples at a few temperatures.
 *
 * Data: every fortune file under /usr/share/games/fortunes (Debian package
 * `fortunes`; scripts/setup.sh installs it), in name order, without the `.dat`
 * indexes and the `.u8` links. Each file holds texts separated by lines of
 * "%". The fortunes are shuffled (seeded) and split by whole fortunes, 90 % for
 * training, 5 % for validation and 5 % for test.
 *
 * Tokens: characters (Unicode code points), case kept. The vocabulary comes
 * from the training split: characters seen at least 5 times, the rest map to
 * id 1 ([UNK]). Id 0, the vocabulary's padding id, is used here as the
 * boundary between fortunes (nothing is padded: every window is full). Each
 * split is one stream "0 f1 0 f2 0 ... fn 0", so both models learn where a
 * fortune ends.
 *
 * Measure: bits per character, -log2 P(next token), averaged over the test
 * stream's tokens that the network scores: windows of --seq-len tokens (x =
 * s[i*T .. i*T+T), y = the same shifted by one), the tail shorter than a
 * window left out. The trigram is scored on exactly those tokens. The network
 * starts every window without context, the trigram always sees the two tokens
 * before; both are charged for the boundary tokens and for [UNK].
 *
 * Baseline: interpolated Kneser-Ney over character trigrams with one absolute
 * discount D for all orders (Chen and Goodman's interpolated form):
 *   P3(w|u,v) = max(c(uvw) - D, 0) / c(uv.) + D N1+(uv.) / c(uv.) P2(w|v)
 *   P2(w|v)   = max(N1+(.vw) - D, 0) / N1+(.v.) + D N1+(v.)' / N1+(.v.) P1(w)
 *   P1(w)     = max(N1+(.w) - D, 0) / N1+(..) + D N1+(.)' / N1+(..) / V
 * where N1+(.vw) counts distinct u with c(uvw) > 0, N1+(v.)' the distinct w
 * with N1+(.vw) > 0 (likewise one order down), and an unseen context falls
 * through to the next order. D is chosen on the validation stream from a
 * fixed grid.
 *
 * Networks: built by each example; compiled here with Adam 1e-3 (with a
 * linear warm-up and cosine decay where the example asks) and
 * global_clipnorm 1 (the customary guard for recurrent networks and
 * transformers, set before any run), sparse categorical cross-entropy at
 * every step, windows of 100 tokens, batch 64, shuffled. Validation bits per
 * character are printed after each epoch (val_loss / ln 2).
 *
 * Samples: after training, from the start of a fortune (a window ending in the
 * boundary token) at temperatures 0.5, 0.8 and 1.0, up to --sample-chars
 * characters or the next boundary.
 *
 * The program prints the time per epoch and the total. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clgrad/clgrad.h>

#include "cli.h"
#include "fortunes_lm.h"

#define FORTUNE_DIR "/usr/share/games/fortunes"
#define MIN_COUNT 5
#define NTEMPS 3

static const char *prog = "fortunes_lm";

/* Discounts tried on the validation stream. */
static const double kn_grid[] = {0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95};
#define KN_ND ((int)(sizeof kn_grid / sizeof *kn_grid))

static const float temps[NTEMPS] = {0.5f, 0.8f, 1.0f};

typedef struct options {
    int epochs, batch, seq_len, units, quiet, sample_chars, compare;
    int64_t train_chars; /* 0: the whole training stream */
    uint64_t seed;
} options;

static void usage(FILE *f, const lm_example *ex) {
    fprintf(f,
            "usage: %s [options]\n"
            "%s\n"
            "  --epochs N          epochs (default %d)\n"
            "  --batch N           windows per batch (default 64)\n"
            "  --seq-len N         tokens per window (default 100)\n"
            "  --units N           LSTM units (default 256)\n"
            "  --seed N            seed of the split, the weights, the shuffling and the\n"
            "                      samples (default 0)\n"
            "  --train-chars N     train on the first N tokens of the training stream only\n"
            "                      (a quick run; the baseline still counts all of it)\n"
            "  --sample-chars N    characters per sample (default 300)\n"
            "  --quiet             one line per epoch (Keras's verbose=2)\n",
            ex->prog, ex->about, ex->epochs);
    if (ex->compare)
        fprintf(f, "  --compare           also train the %s on the same split and report it\n", ex->compare->name);
    fprintf(f, "  -h, --help          this text\n"
               "Device: the best one, or what CLGRAD_DEVICE selects (see `clgrad devices`).\n"
               "Data: " FORTUNE_DIR "/ (Debian package fortunes).\n");
}

/* 0: run, 1: -h (done), 2: bad command line. */
static int parse_args(const lm_example *ex, int argc, char **argv, options *o) {
    *o = (options){.epochs = ex->epochs, .batch = 64, .seq_len = 100, .units = 256, .sample_chars = 300};
    static const char *const valued[] = {"--epochs", "--batch",       "--seq-len",     "--units",
                                         "--seed",   "--train-chars", "--sample-chars"};
    static const char *const switches[] = {"--quiet", "--compare"};
    for (int i = 1; i < argc; i++) {
        const char *flag, *value;
        int r = cli_next(prog, argc, argv, &i, valued, 7, switches, ex->compare ? 2 : 1, &flag, &value);
        if (r == CLI_HELP) {
            usage(stdout, ex);
            return 1;
        }
        if (r != CLI_FLAG) return 2;
        long long v;
        if (!strcmp(flag, "--quiet") || !strcmp(flag, "--compare")) {
            *(flag[2] == 'q' ? &o->quiet : &o->compare) = 1;
            continue;
        }
        long long lo = !strcmp(flag, "--seed") ? 0 : 1;
        long long hi = !strcmp(flag, "--seq-len") || !strcmp(flag, "--units") ? 4096
                       : !strcmp(flag, "--seed") || !strcmp(flag, "--train-chars") ? LLONG_MAX
                                                                                 : 1 << 20;
        if (!cli_int(prog, flag, value, lo, hi, &v)) return 2;
        if (!strcmp(flag, "--epochs")) o->epochs = (int)v;
        else if (!strcmp(flag, "--batch")) o->batch = (int)v;
        else if (!strcmp(flag, "--seq-len")) o->seq_len = (int)v;
        else if (!strcmp(flag, "--units")) o->units = (int)v;
        else if (!strcmp(flag, "--seed")) o->seed = (uint64_t)v;
        else if (!strcmp(flag, "--train-chars")) o->train_chars = v;
        else o->sample_chars = (int)v;
    }
    return 0;
}

static int fail(const char *what) { return cli_fail(prog, what); }

static int out_of_memory(const char *what) { return cli_out_of_memory(prog, what); }

/* --- the corpus ------------------------------------------------------------------------- */

typedef struct corpus {
    clg_text_list *files;
    clg_text_list **lists; /* one per file */
    int64_t n;             /* fortunes in all files */
    const char **text;     /* fortune i: text[i], len[i] bytes (pointing into lists) */
    size_t *len;
} corpus;

static void corpus_free(corpus *c) {
    for (int64_t f = 0; c->files && f < c->files->count; f++) clg_text_list_free(c->lists[f]);
    free(c->lists);
    clg_text_list_free(c->files);
    free(c->text);
    free(c->len);
}

static int corpus_read(corpus *c) {
    static const char *const skip[] = {".dat", ".u8", NULL};
    if (clg_text_list_dir(FORTUNE_DIR, skip, &c->files) != CLG_OK) {
        fail("listing the fortune files");
        fprintf(stderr, "%s: install them with: bash scripts/setup.sh (Debian package fortunes)\n", prog);
        return 1;
    }
    c->lists = calloc((size_t)c->files->count + 1, sizeof *c->lists);
    if (!c->lists) return out_of_memory("file list");
    for (int64_t f = 0; f < c->files->count; f++) {
        if (clg_text_read_fortunes(c->files->items[f], NULL, &c->lists[f]) != CLG_OK) return fail("reading fortunes");
        c->n += c->lists[f]->count;
    }
    if (c->n < 20) {
        fprintf(stderr, "%s: only %" PRId64 " fortunes under %s; too few to split\n", prog, c->n, FORTUNE_DIR);
        return 1;
    }
    c->text = malloc((size_t)c->n * sizeof *c->text);
    c->len = malloc((size_t)c->n * sizeof *c->len);
    if (!c->text || !c->len) return out_of_memory("fortunes");
    int64_t k = 0;
    for (int64_t f = 0; f < c->files->count; f++)
        for (int64_t i = 0; i < c->lists[f]->count; i++, k++)
            c->text[k] = c->lists[f]->items[i], c->len[k] = c->lists[f]->lengths[i];
    return 0;
}

/* One split as a token stream "0 f1 0 f2 ... 0". */
typedef struct stream {
    int32_t *ids;
    int64_t n;
    int64_t fortunes;
} stream;

static int make_stream(const corpus *c, const int64_t *perm, int64_t from, int64_t to, const clg_vocab *vocab,
                       stream *s) {
    clg_sequences *seqs = clg_sequences_new();
    if (!seqs) return fail("sequences");
    int64_t total = 1;
    for (int64_t i = from; i < to; i++) {
        if (clg_vocab_encode(vocab, c->text[perm[i]], c->len[perm[i]], seqs) != CLG_OK) {
            clg_sequences_free(seqs);
            return fail("encoding a fortune");
        }
        int64_t n;
        clg_sequences_get(seqs, i - from, &n);
        total += n + 1;
    }
    s->ids = malloc((size_t)total * sizeof *s->ids);
    if (!s->ids) {
        clg_sequences_free(seqs);
        return out_of_memory("token stream");
    }
    int64_t k = 0;
    s->ids[k++] = 0;
    for (int64_t i = 0; i < to - from; i++) {
        int64_t n;
        const int32_t *ids = clg_sequences_get(seqs, i, &n);
        memcpy(s->ids + k, ids, (size_t)n * sizeof *ids);
        k += n;
        s->ids[k++] = 0;
    }
    s->n = k;
    s->fortunes = to - from;
    clg_sequences_free(seqs);
    return 0;
}

/* --- the Kneser-Ney trigram -------------------------------------------------------------- */

typedef struct kneser_ney {
    int64_t v;
    int32_t *c3;       /* [v][v][v] trigram counts */
    int32_t *c_uv;     /* [v][v] c(uv.) */
    int32_t *n_uv;     /* [v][v] N1+(uv.) */
    int32_t *cont_vw;  /* [v][v] N1+(.vw) */
    int64_t *cont_v;   /* [v] N1+(.v.) */
    int32_t *types_v;  /* [v] N1+(v.)' */
    int64_t *cont_w;   /* [v] N1+(.w) */
    int64_t cont_all;  /* N1+(..) */
    int64_t types_all; /* N1+(.)' */
} kneser_ney;

static void kn_free(kneser_ney *m) {
    free(m->c3), free(m->c_uv), free(m->n_uv), free(m->cont_vw);
    free(m->cont_v), free(m->types_v), free(m->cont_w);
}

static int kn_count(kneser_ney *m, const stream *s, int64_t v) {
    m->v = v;
    size_t v2 = (size_t)(v * v);
    m->c3 = calloc(v2 * (size_t)v, sizeof *m->c3);
    m->c_uv = calloc(v2, sizeof *m->c_uv);
    m->n_uv = calloc(v2, sizeof *m->n_uv);
    m->cont_vw = calloc(v2, sizeof *m->cont_vw);
    m->cont_v = calloc((size_t)v, sizeof *m->cont_v);
    m->types_v = calloc((size_t)v, sizeof *m->types_v);
    m->cont_w = calloc((size_t)v, sizeof *m->cont_w);
    if (!m->c3 || !m->c_uv || !m->n_uv || !m->cont_vw || !m->cont_v || !m->types_v || !m->cont_w)
        return out_of_memory("trigram counts");
    /* every position t >= 1 is a trigram (s[t-2], s[t-1], s[t]), the stream's
     * first token standing in for s[-1] */
    for (int64_t t = 1; t < s->n; t++) {
        int64_t u = s->ids[t >= 2 ? t - 2 : 0], w1 = s->ids[t - 1], w = s->ids[t];
        int32_t *c = &m->c3[(u * v + w1) * v + w];
        if ((*c)++ == 0) {
            m->n_uv[u * v + w1]++;
            if (m->cont_vw[w1 * v + w]++ == 0) {
                m->types_v[w1]++;
                if (m->cont_w[w]++ == 0) m->types_all++;
                m->cont_all++;
            }
            m->cont_v[w1]++;
        }
        m->c_uv[u * v + w1]++;
    }
    return 0;
}

static double kn_prob(const kneser_ney *m, double d, int64_t u, int64_t w1, int64_t w) {
    int64_t v = m->v;
    double p = (fmax((double)m->cont_w[w] - d, 0.0) + d * (double)m->types_all / (double)v) / (double)m->cont_all;
    if (m->cont_v[w1] > 0)
        p = (fmax((double)m->cont_vw[w1 * v + w] - d, 0.0) + d * (double)m->types_v[w1] * p) / (double)m->cont_v[w1];
    int64_t c = m->c_uv[u * v + w1];
    if (c > 0) p = (fmax((double)m->c3[(u * v + w1) * v + w] - d, 0.0) + d * (double)m->n_uv[u * v + w1] * p) / (double)c;
    return p;
}

/* The distribution over the next token sums to 1 in every context (seen or
 * not): a check of the counts and the formula, run before the baseline is
 * used. Returns the first context whose sum is off, or -1. */
static int64_t kn_check(const kneser_ney *m, double d) {
    for (int64_t ctx = 0; ctx < m->v * m->v; ctx++) {
        double sum = 0.0;
        for (int64_t w = 0; w < m->v; w++) sum += kn_prob(m, d, ctx / m->v, ctx % m->v, w);
        if (!(fabs(sum - 1.0) < 1e-9)) return ctx;
    }
    return -1;
}

/* Bits per token over positions [1, 1 + count) of the stream. */
static double kn_bits(const kneser_ney *m, double d, const stream *s, int64_t count) {
    double bits = 0.0;
    for (int64_t t = 1; t <= count; t++)
        bits -= log2(kn_prob(m, d, s->ids[t >= 2 ? t - 2 : 0], s->ids[t - 1], s->ids[t]));
    return bits / (double)count;
}

/* --- windows for the network ------------------------------------------------------------- */

typedef struct windows {
    int32_t *x, *y; /* [n, T] */
    int64_t n;
} windows;

static int make_windows(const stream *s, int64_t limit, int t, windows *w) {
    int64_t len = limit > 0 && limit < s->n ? limit : s->n;
    w->n = (len - 1) / t;
    if (w->n < 1) {
        fprintf(stderr, "%s: a stream of %" PRId64 " tokens holds no window of %d\n", prog, len, t);
        return 2;
    }
    w->x = malloc((size_t)(w->n * t) * sizeof *w->x);
    w->y = malloc((size_t)(w->n * t) * sizeof *w->y);
    if (!w->x || !w->y) return out_of_memory("windows");
    memcpy(w->x, s->ids, (size_t)(w->n * t) * sizeof *w->x);
    memcpy(w->y, s->ids + 1, (size_t)(w->n * t) * sizeof *w->y);
    return 0;
}

static clg_host_array ids_array(const int32_t *ids, int64_t n, int t) {
    return (clg_host_array){.data = ids, .dtype = CLG_INT32, .ndim = 2, .shape = {n, t}};
}

/* --- samples ---------------------------------------------------------------------------- */

/* Writes one sample per temperature: each row starts from the last T tokens of
 * the validation stream (which end in a boundary) and grows token by token. */
static int print_samples(clg_model *model, const clg_vocab *vocab, const stream *prime, const options *o) {
    int t = o->seq_len;
    int64_t v = clg_vocab_size(vocab);
    int64_t cap = (int64_t)t + o->sample_chars;
    int32_t *hist = malloc((size_t)(NTEMPS * cap) * sizeof *hist);
    int32_t *x = malloc((size_t)(NTEMPS * t) * sizeof *x);
    float *probs = malloc((size_t)(NTEMPS * t * v) * sizeof *probs);
    int64_t len[NTEMPS];
    int done[NTEMPS] = {0};
    int rc = 0;
    if (!hist || !x || !probs) {
        rc = out_of_memory("samples");
        goto out;
    }
    for (int r = 0; r < NTEMPS; r++) {
        memcpy(hist + r * cap, prime->ids + prime->n - t, (size_t)t * sizeof *hist);
        len[r] = t;
    }
    for (int step = 0; step < o->sample_chars; step++) {
        for (int r = 0; r < NTEMPS; r++) memcpy(x + r * t, hist + r * cap + len[r] - t, (size_t)t * sizeof *x);
        clg_host_array xa = ids_array(x, NTEMPS, t);
        if (clg_model_predict(model, &xa, NTEMPS, probs, (size_t)(NTEMPS * t * v)) != CLG_OK) {
            rc = fail("model.predict");
            goto out;
        }
        int all_done = 1;
        for (int r = 0; r < NTEMPS; r++) {
            if (done[r]) continue;
            int id;
            const float *row = probs + ((int64_t)r * t + t - 1) * v;
            if (clg_sample_token(row, (int)v, 0, temps[r], 0, o->seed, (uint64_t)(r * cap + step), &id) != CLG_OK) {
                rc = fail("sampling");
                goto out;
            }
            hist[r * cap + len[r]++] = id;
            if (id == 0) done[r] = 1;
            else all_done = 0;
        }
        if (all_done) break;
    }
    for (int r = 0; r < NTEMPS; r++) {
        printf("\n--- sample at temperature %.1f ---\n", (double)temps[r]);
        for (int64_t k = t; k < len[r]; k++) {
            int32_t id = hist[r * cap + k];
            if (id == 0) break;
            size_t n;
            const char *tok = clg_vocab_token(vocab, id, &n);
            if (id == 1) fputs("\xE2\x80\xA2", stdout); /* [UNK] as a bullet */
            else fwrite(tok, 1, n, stdout);
        }
        printf("\n");
    }
out:
    free(hist), free(x), free(probs);
    return rc;
}

/* --- the networks ---------------------------------------------------------------------- */

clg_model *lm_build_lstm(clg_context *ctx, int vocab, int seq_len, int units) {
    /* Sequential([Embedding(V, 64), LSTM(units, return_sequences=True), Dense(V, softmax)]) */
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){seq_len});
    if (!m) return NULL;
    if (clg_model_add(m, clg_layer_embedding(vocab, 64)) != CLG_OK || clg_model_add(m, clg_layer_lstm(units, 1, 0)) != CLG_OK ||
        clg_model_add(m, clg_layer_dense(vocab, CLG_ACT_SOFTMAX)) != CLG_OK) {
        clg_model_free(m);
        return NULL;
    }
    return m;
}

const lm_network lm_lstm = {.name = "LSTM", .build = lm_build_lstm};

/* What a trained network scored. */
typedef struct result {
    double test_bits, seconds;
    int epochs;
} result;

/* Builds, compiles, fits and scores one network; keeps it in *kept when kept
 * is not NULL (for the samples). */
static int train_net(clg_context *ctx, const lm_network *net, int vocab, const options *o, const windows *wtr,
                     const windows *wva, const windows *wte, result *res, clg_model **kept) {
    int t = o->seq_len, rc = 1;
    clg_history *h = NULL;
    clg_model *model = net->build(ctx, vocab, t, o->units);
    if (!model) return fail(net->name);
    /* compile(optimizer=Adam(learning_rate, global_clipnorm=1.0), loss='sparse_categorical_crossentropy') */
    if (clg_model_set_seed(model, o->seed) != CLG_OK ||
        clg_model_compile(model, "adam", "sparse_categorical_crossentropy", "accuracy") != CLG_OK ||
        clg_optimizer_set_global_clipnorm(clg_model_optimizer(model), 1.0f) != CLG_OK) {
        rc = fail("model.compile");
        goto out;
    }
    int64_t steps = (int64_t)o->epochs * ((wtr->n + o->batch - 1) / o->batch);
    if (net->cosine && clg_optimizer_set_schedule_cosine(clg_model_optimizer(model), steps, 0.0f,
                                                         net->warmup < steps ? net->warmup : 0, 0.0f) != CLG_OK) {
        rc = fail("CosineDecay");
        goto out;
    }
    printf("\n%s:\n", net->name);
    if (clg_model_summary(model, stdout) != CLG_OK) {
        rc = fail("model.summary");
        goto out;
    }
    printf("Training on %" PRId64 " windows of %d tokens, validating on %" PRId64 "; batch %d, %d epoch%s, %s\n",
           wtr->n, t, wva->n, o->batch, o->epochs, o->epochs == 1 ? "" : "s",
           net->cosine ? "Adam 1e-3 with warm-up and cosine decay" : "Adam 1e-3");
    fflush(stdout);
    clg_host_array xtr = ids_array(wtr->x, wtr->n, t), ytr = ids_array(wtr->y, wtr->n, t);
    clg_host_array xva = ids_array(wva->x, wva->n, t), yva = ids_array(wva->y, wva->n, t);
    clg_fit_options fit = clg_fit_options_default();
    fit.epochs = o->epochs;
    fit.batch_size = o->batch;
    fit.verbose = o->quiet ? 2 : 1;
    fit.validation_x = &xva;
    fit.validation_y = &yva;
    h = clg_model_fit(model, &xtr, &ytr, &fit);
    if (!h) {
        rc = fail("model.fit");
        goto out;
    }
    res->epochs = h->epochs;
    printf("Validation bits/char per epoch:");
    for (int e = 0; e < h->epochs; e++) printf(" %.3f", (double)h->val_loss[e] / log(2.0));
    printf("\n");
    res->seconds = cli_print_epoch_times(h);
    clg_host_array xte = ids_array(wte->x, wte->n, t), yte = ids_array(wte->y, wte->n, t);
    float test_loss = 0, test_acc = 0;
    if (clg_model_evaluate(model, &xte, &yte, o->batch, &test_loss, &test_acc) != CLG_OK) {
        rc = fail("model.evaluate");
        goto out;
    }
    res->test_bits = (double)test_loss / log(2.0);
    rc = 0;
out:
    clg_history_free(h);
    if (rc == 0 && kept) *kept = model;
    else clg_model_free(model);
    return rc;
}

int lm_main(const lm_example *ex, int argc, char **argv) {
    prog = ex->prog;
    options o;
    int parsed = parse_args(ex, argc, argv, &o);
    if (parsed == 1) return 0;
    if (parsed == 2) return 2;
    double t_start = cli_now();

    corpus c = {0};
    stream train = {0}, val = {0}, test = {0};
    windows wtr = {0}, wva = {0}, wte = {0};
    kneser_ney kn = {0};
    int64_t *perm = NULL;
    clg_token_counter *counter = NULL;
    clg_vocab *vocab = NULL;
    clg_context *ctx = NULL;
    clg_model *model = NULL;
    int rc = 1;

    if (corpus_read(&c)) goto done;
    perm = malloc((size_t)c.n * sizeof *perm);
    if (!perm) {
        rc = out_of_memory("permutation");
        goto done;
    }
    if (clg_shuffle_permutation(c.n, o.seed, 0, perm) != CLG_OK) {
        rc = fail("shuffle");
        goto done;
    }
    int64_t n_val = c.n / 20, n_test = c.n / 20, n_train = c.n - n_val - n_test;

    /* the vocabulary from the training fortunes only */
    clg_tokenizer tok = clg_tokenizer_default(CLG_TOKENIZE_CHARS);
    counter = clg_token_counter_new(&tok);
    if (!counter) {
        rc = fail("token counter");
        goto done;
    }
    for (int64_t i = 0; i < n_train; i++)
        if (clg_token_counter_add(counter, c.text[perm[i]], c.len[perm[i]]) != CLG_OK) {
            rc = fail("counting characters");
            goto done;
        }
    vocab = clg_vocab_build(counter, MIN_COUNT, 0);
    if (!vocab) {
        rc = fail("vocabulary");
        goto done;
    }
    int64_t v = clg_vocab_size(vocab);
    if ((rc = make_stream(&c, perm, 0, n_train, vocab, &train)) != 0 ||
        (rc = make_stream(&c, perm, n_train, n_train + n_val, vocab, &val)) != 0 ||
        (rc = make_stream(&c, perm, n_train + n_val, c.n, vocab, &test)) != 0)
        goto done;
    rc = 1;
    printf("Fortunes: %" PRId64 " in %" PRId64 " files; train %" PRId64 " (%" PRId64 " tokens), validation %" PRId64
           " (%" PRId64 "), test %" PRId64 " (%" PRId64 ")\n",
           c.n, c.files->count, train.fortunes, train.n, val.fortunes, val.n, test.fortunes, test.n);
    printf("Vocabulary: %" PRId64 " ids (boundary, [UNK] and the characters seen at least %d times in training)\n", v,
           MIN_COUNT);
    int t = o.seq_len;
    if ((rc = make_windows(&train, o.train_chars, t, &wtr)) != 0 || (rc = make_windows(&val, 0, t, &wva)) != 0 ||
        (rc = make_windows(&test, 0, t, &wte)) != 0)
        goto done;
    rc = 1;

    /* --- the baseline --- */
    if (kn_count(&kn, &train, v)) goto done;
    double best_d = kn_grid[0], best_val = INFINITY;
    for (int i = 0; i < KN_ND; i++) {
        double b = kn_bits(&kn, kn_grid[i], &val, wva.n * t);
        if (b < best_val) best_val = b, best_d = kn_grid[i];
    }
    int64_t bad = kn_check(&kn, best_d);
    if (bad >= 0) {
        fprintf(stderr, "%s: the trigram's probabilities after tokens %" PRId64 ", %" PRId64 " do not sum to 1\n",
                prog, bad / v, bad % v);
        goto done;
    }
    double kn_test = kn_bits(&kn, best_d, &test, wte.n * t);
    printf("Baseline: interpolated Kneser-Ney character trigram, discount %.2f chosen on validation "
           "(%.4f bits/char there)\n",
           best_d, best_val);
    fflush(stdout);

    /* --- the networks --- */
    if (!(ctx = cli_context(prog))) goto done;
    result main_res = {0}, cmp_res = {0};
    if (train_net(ctx, &ex->net, (int)v, &o, &wtr, &wva, &wte, &main_res, &model)) goto done;
    if (o.compare && train_net(ctx, ex->compare, (int)v, &o, &wtr, &wva, &wte, &cmp_res, NULL)) goto done;
    if (print_samples(model, vocab, &val, &o)) goto done;

    /* --- report --- */
    printf("\nTest bits per character (%" PRId64 " tokens of %" PRId64 " fortunes):\n", wte.n * t, test.fortunes);
    char label[64];
    snprintf(label, sizeof label, "%s, %d epoch%s", ex->net.name, main_res.epochs, main_res.epochs == 1 ? "" : "s");
    printf("  %-32s %.4f  (%.0f s of training)\n", label, main_res.test_bits, main_res.seconds);
    if (o.compare) {
        snprintf(label, sizeof label, "%s, %d epoch%s", ex->compare->name, cmp_res.epochs,
                 cmp_res.epochs == 1 ? "" : "s");
        printf("  %-32s %.4f  (%.0f s of training)\n", label, cmp_res.test_bits, cmp_res.seconds);
    }
    snprintf(label, sizeof label, "Kneser-Ney trigram (D=%.2f)", best_d);
    printf("  %-32s %.4f\n", label, kn_test);
    if (main_res.test_bits < kn_test)
        printf("The %s beats the trigram baseline by %.3f bits per character.\n", ex->net.name,
               kn_test - main_res.test_bits);
    else
        printf("The %s does NOT beat the trigram baseline in this run.\n", ex->net.name);
    printf("Total time %.1f s\n", cli_now() - t_start);
    rc = 0;

done:
    clg_model_free(model);
    clg_context_free(ctx);
    kn_free(&kn);
    free(wtr.x), free(wtr.y), free(wva.x), free(wva.y), free(wte.x), free(wte.y);
    free(train.ids), free(val.ids), free(test.ids);
    clg_vocab_free(vocab);
    clg_token_counter_free(counter);
    free(perm);
    corpus_free(&c);
    return rc;
}
