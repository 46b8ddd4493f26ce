/* Whole-model files: the architecture as Keras-like JSON in the safetensors
 * metadata ("model_config", plus for a compiled model "compile_config" with
 * Keras's serialised optimizer and "training_state") next to the weights, named
 * as clg_model_save_weights names them, and for a compiled model the training
 * state tensors (the optimizer's, "optimizer.*", and "training.rng_counter").
 * Loading parses the JSON with a small strict parser (depth and size limits,
 * byte offsets in errors), rebuilds the graph with the public constructors and
 * clg_call / clg_model_add, restores the names, checks every weight's shape
 * against the file before anything is allocated, rebuilds the optimizer and
 * compiles, reads the weights with clg_model_load_weights (its rules: missing,
 * unexpected, mismatched), and writes the training state back, so that fit
 * continues exactly where the saved model stopped.
 * The format is documented in docs/models.md, "Whole-model files". */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgrad/model.h"
#include "clgrad/safetensors.h"
#include "clgrad/version.h"
#include "common/error.h"
#include "common/strbuf.h"
#include "nn/model_internal.h"

static const char *const act_names[] = {"linear", "relu", "sigmoid", "tanh", "softmax", "gelu", "elu", "softplus"};
enum { ACT_COUNT = (int)(sizeof act_names / sizeof *act_names) };
/* Keras's optimizer classes, as clg_optimizer_config_json writes them. */
typedef enum opt_class { OPT_SGD = 0, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP, OPT_ADAGRAD, OPT_CLASS_COUNT } opt_class;
static const char *const opt_classes[OPT_CLASS_COUNT] = {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad"};

/* The fixed settings of the normalisation layers (written so that a reader sees
 * them; a file asking for others is refused rather than silently changed). */
#define BN_MOMENTUM 0.99f
#define NORM_EPSILON 1e-3f

enum { JSON_MAX_DEPTH = 32 };
/* Bounds on what a file may ask for, so that shape arithmetic (int64) cannot
 * overflow on a hostile file: kernel sizes, strides, pool and upsampling
 * factors and padding amounts up to 2^20, values per sample of any node (and
 * a Reshape's known extents) up to 2^40. */
#define MAX_FACTOR (1LL << 20)
#define MAX_VALUES (1LL << 40)

/* --- numbers in the C locale ---------------------------------------------------------------
 * JSON needs '.' whatever LC_NUMERIC the application chose. */

static locale_t c_locale_enter(locale_t *old) {
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    *old = c ? uselocale(c) : (locale_t)0;
    return c;
}

static void c_locale_leave(locale_t c, locale_t old) {
    if (!c) return;
    uselocale(old);
    freelocale(c);
}

/* --- a growing text buffer ------------------------------------------------------------------- */

/* The shortest decimal that reads back as v (0.01f -> "0.01"). */
static void sb_float(clg_strbuf *b, float v) {
    locale_t old, c = c_locale_enter(&old);
    char t[48] = "0";
    for (int p = 1; p <= 9; p++) {
        snprintf(t, sizeof t, "%.*g", p, (double)v);
        if ((float)strtod(t, NULL) == v) break;
    }
    c_locale_leave(c, old);
    clg_strbuf_str(b, t);
}

/* --- a strict JSON parser (RFC 8259), enough for model files ----------------------------------
 * The document is a flat array of nodes; children and siblings are linked by
 * index. Decoded strings live in one buffer no longer than the text. */

typedef enum jtype { J_NULL = 0, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jnode {
    jtype type;
    int first, next;   /* first child, next sibling: node indices, -1 for none */
    int count;         /* children */
    const char *key;   /* member name inside an object */
    size_t key_off;    /* its byte offset in the text */
    const char *str;   /* decoded string value */
    size_t off, len;   /* the value's bytes in the text (numbers are read from them) */
} jnode;

typedef struct jdoc {
    const char *text;
    size_t len, pos;
    jnode *nodes;
    int n, cap;
    char *strs;
    size_t slen;
    char err[160];
    size_t err_at;
    int failed;
} jdoc;

static int jerr(jdoc *d, size_t at, const char *msg) {
    if (!d->failed) {
        d->failed = 1;
        d->err_at = at;
        snprintf(d->err, sizeof d->err, "%s", msg);
    }
    return -1;
}

static int jnew(jdoc *d, jtype type, size_t off) {
    if (d->n == d->cap) {
        int nc = d->cap ? 2 * d->cap : 64;
        jnode *p = nc > d->cap ? realloc(d->nodes, (size_t)nc * sizeof *p) : NULL;
        if (!p) return jerr(d, off, "out of host memory");
        d->nodes = p, d->cap = nc;
    }
    jnode *nd = &d->nodes[d->n];
    memset(nd, 0, sizeof *nd);
    nd->type = type, nd->first = nd->next = -1, nd->off = off;
    return d->n++;
}

static void jws(jdoc *d) {
    while (d->pos < d->len) {
        char c = d->text[d->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        d->pos++;
    }
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Parses the string at d->pos (on its opening quote) into the string buffer. */
static const char *jstring(jdoc *d) {
    size_t start = d->pos++;
    char *out = d->strs + d->slen, *w = out;
    while (d->pos < d->len) {
        unsigned char c = (unsigned char)d->text[d->pos];
        if (c == '"') {
            d->pos++;
            *w++ = 0;
            d->slen = (size_t)(w - d->strs);
            return out;
        }
        if (c < 0x20) return jerr(d, d->pos, "control character inside a string"), NULL;
        if (c != '\\') {
            *w++ = (char)c;
            d->pos++;
            continue;
        }
        if (d->pos + 1 >= d->len) break;
        char e = d->text[d->pos + 1];
        static const char esc[] = "\"\\/bfnrt", map[] = "\"\\/\b\f\n\r\t";
        const char *simple = e ? strchr(esc, e) : NULL;
        if (simple) {
            *w++ = map[simple - esc];
            d->pos += 2;
            continue;
        }
        unsigned u;
        if (e != 'u' || d->pos + 6 > d->len || hex4(d->text + d->pos + 2, &u))
            return jerr(d, d->pos, "invalid escape in a string"), NULL;
        d->pos += 6;
        if (u >= 0xD800 && u <= 0xDBFF) { /* a surrogate pair */
            unsigned lo;
            if (d->pos + 6 > d->len || d->text[d->pos] != '\\' || d->text[d->pos + 1] != 'u' ||
                hex4(d->text + d->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return jerr(d, d->pos - 6, "unpaired surrogate escape in a string"), NULL;
            d->pos += 6;
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
            return jerr(d, d->pos - 6, "unpaired surrogate escape in a string"), NULL;
        }
        if (u == 0) return jerr(d, d->pos - 6, "\\u0000 inside a string"), NULL;
        /* UTF-8 of u is never longer than the escape it came from (6 or 12 bytes) */
        if (u < 0x80) *w++ = (char)u;
        else if (u < 0x800) *w++ = (char)(0xC0 | (u >> 6)), *w++ = (char)(0x80 | (u & 0x3F));
        else if (u < 0x10000)
            *w++ = (char)(0xE0 | (u >> 12)), *w++ = (char)(0x80 | ((u >> 6) & 0x3F)),
            *w++ = (char)(0x80 | (u & 0x3F));
        else
            *w++ = (char)(0xF0 | (u >> 18)), *w++ = (char)(0x80 | ((u >> 12) & 0x3F)),
            *w++ = (char)(0x80 | ((u >> 6) & 0x3F)), *w++ = (char)(0x80 | (u & 0x3F));
    }
    return jerr(d, start, "unterminated string"), NULL;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int jnumber(jdoc *d) {
    size_t s = d->pos, p = s;
    const char *t = d->text;
    if (p < d->len && t[p] == '-') p++;
    if (p < d->len && t[p] == '0') p++;
    else if (p < d->len && t[p] >= '1' && t[p] <= '9') while (p < d->len && is_digit(t[p])) p++;
    else return jerr(d, s, "invalid number");
    if (p < d->len && t[p] == '.') {
        p++;
        if (p >= d->len || !is_digit(t[p])) return jerr(d, p, "invalid number: digits must follow '.'");
        while (p < d->len && is_digit(t[p])) p++;
    }
    if (p < d->len && (t[p] == 'e' || t[p] == 'E')) {
        p++;
        if (p < d->len && (t[p] == '+' || t[p] == '-')) p++;
        if (p >= d->len || !is_digit(t[p])) return jerr(d, p, "invalid number: digits must follow the exponent");
        while (p < d->len && is_digit(t[p])) p++;
    }
    int n = jnew(d, J_NUM, s);
    if (n >= 0) d->nodes[n].len = p - s;
    d->pos = p;
    return n;
}

static int jvalue(jdoc *d, int depth);

typedef struct jkey {
    const char *key;
    size_t at;
} jkey;

static int jkey_cmp(const void *a, const void *b) {
    const jkey *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* Refuses an object with a member name twice, naming the first repeat in the
 * text. By sorting the names: a scan of the earlier members per member made an
 * object of n members cost n^2 (100,000 keys, a 1 MB file, took over a minute). */
static int jcheck_duplicates(jdoc *d, int obj) {
    int n = d->nodes[obj].count;
    if (n < 2) return obj;
    jkey *keys = malloc((size_t)n * sizeof *keys);
    if (!keys) return jerr(d, d->nodes[obj].off, "out of host memory");
    int k = 0;
    for (int c = d->nodes[obj].first; c >= 0; c = d->nodes[c].next)
        keys[k++] = (jkey){d->nodes[c].key, d->nodes[c].key_off};
    qsort(keys, (size_t)n, sizeof *keys, jkey_cmp);
    size_t first_repeat = SIZE_MAX;
    for (int i = 1; i < n; i++)
        if (!strcmp(keys[i - 1].key, keys[i].key) && keys[i].at < first_repeat) first_repeat = keys[i].at;
    free(keys);
    return first_repeat == SIZE_MAX ? obj : jerr(d, first_repeat, "duplicate member name");
}

/* Arrays and objects: members linked in order; objects refuse duplicate keys. */
static int jcontainer(jdoc *d, int depth) {
    const int obj = d->text[d->pos] == '{';
    const char close = obj ? '}' : ']';
    if (depth >= JSON_MAX_DEPTH) {
        char m[64];
        snprintf(m, sizeof m, "nesting deeper than %d levels", JSON_MAX_DEPTH);
        return jerr(d, d->pos, m);
    }
    int self = jnew(d, obj ? J_OBJ : J_ARR, d->pos);
    if (self < 0) return -1;
    d->pos++;
    jws(d);
    if (d->pos < d->len && d->text[d->pos] == close) {
        d->pos++;
        return self;
    }
    int last = -1;
    for (;;) {
        const char *key = NULL;
        size_t key_off = 0;
        jws(d);
        if (obj) {
            if (d->pos >= d->len || d->text[d->pos] != '"') return jerr(d, d->pos, "expected a member name (a string)");
            key_off = d->pos;
            if (!(key = jstring(d))) return -1;
            jws(d);
            if (d->pos >= d->len || d->text[d->pos] != ':') return jerr(d, d->pos, "expected ':'");
            d->pos++;
        }
        int v = jvalue(d, depth + 1);
        if (v < 0) return -1;
        d->nodes[v].key = key;
        d->nodes[v].key_off = key_off;
        if (last < 0) d->nodes[self].first = v;
        else d->nodes[last].next = v;
        last = v;
        d->nodes[self].count++;
        jws(d);
        if (d->pos < d->len && d->text[d->pos] == ',') {
            d->pos++;
            continue;
        }
        if (d->pos < d->len && d->text[d->pos] == close) {
            d->pos++;
            d->nodes[self].len = d->pos - d->nodes[self].off;
            return obj ? jcheck_duplicates(d, self) : self;
        }
        return jerr(d, d->pos, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int jvalue(jdoc *d, int depth) {
    jws(d);
    if (d->pos >= d->len) return jerr(d, d->pos, "unexpected end of text");
    char c = d->text[d->pos];
    if (c == '{' || c == '[') return jcontainer(d, depth);
    if (c == '"') {
        size_t at = d->pos;
        const char *s = jstring(d);
        int n = s ? jnew(d, J_STR, at) : -1;
        if (n >= 0) d->nodes[n].str = s, d->nodes[n].len = d->pos - at;
        return n;
    }
    if (c == '-' || is_digit(c)) return jnumber(d);
    static const struct { const char *word; jtype type; } words[] = {
        {"null", J_NULL}, {"true", J_TRUE}, {"false", J_FALSE}};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t wl = strlen(words[i].word);
        if (d->len - d->pos >= wl && !memcmp(d->text + d->pos, words[i].word, wl)) {
            int n = jnew(d, words[i].type, d->pos);
            if (n >= 0) d->nodes[n].len = wl;
            d->pos += wl;
            return n;
        }
    }
    return jerr(d, d->pos, "unexpected character");
}

static void jdoc_free(jdoc *d) {
    free(d->nodes);
    free(d->strs);
    memset(d, 0, sizeof *d);
}

/* Parses text (one JSON value, whitespace around it); 0 on success, else -1
 * with d->err and d->err_at. The document must be freed either way. */
static int jparse(jdoc *d, const char *text, size_t len) {
    memset(d, 0, sizeof *d);
    d->text = text, d->len = len;
    d->strs = malloc(len + 1);
    if (!d->strs) return jerr(d, 0, "out of host memory");
    if (memchr(text, 0, len)) return jerr(d, (size_t)((const char *)memchr(text, 0, len) - text), "NUL byte");
    if (jvalue(d, 0) < 0) return -1;
    jws(d);
    if (d->pos != d->len) return jerr(d, d->pos, "text after the JSON value");
    return 0;
}

size_t clg_model_io_json_check(const char *text, size_t len) {
    jdoc d;
    int bad = !text || jparse(&d, text, len) != 0;
    size_t at = bad ? (text ? d.err_at : 0) + 1 : 0;
    if (text) jdoc_free(&d);
    return at;
}

/* --- writing ----------------------------------------------------------------------------------- */

/* Application index of node n among the nodes of its layer (0 for inputs). */
static int app_index(const clg_model *m, const clg_node *n) {
    int k = 0;
    for (int i = 0; n->layer && i < n->id; i++) k += m->nodes[i]->layer == n->layer;
    return k;
}

static const char *node_layer_name(const clg_node *n) { return n->layer ? n->layer->name : n->name; }


static int has_activation(layer_kind k) {
    return k == L_DENSE || k == L_CONV2D || k == L_CONV1D || k == L_DWCONV || k == L_CONVT || k == L_ACTIVATION;
}

static void write_ints(clg_strbuf *b, int n, const int *v) {
    clg_strbuf_str(b, "[");
    for (int i = 0; i < n; i++) clg_strbuf_printf(b, "%s%d", i ? ", " : "", v[i]);
    clg_strbuf_str(b, "]");
}

/* A layer's "config": every constructor argument, "trainable", and the L2 factor. */
static void write_layer_config(clg_strbuf *b, const clg_layer *l) {
    clg_strbuf_printf(b, "{\"trainable\": %s", l->trainable ? "true" : "false");
    switch (l->kind) {
    case L_DENSE: clg_strbuf_printf(b, ", \"units\": %d", l->units); break;
    case L_CONV2D:
    case L_CONVT:
        clg_strbuf_printf(b, ", \"filters\": %d, \"kernel_size\": ", l->units);
        write_ints(b, 2, (int[]){l->kh, l->kw});
        clg_strbuf_str(b, ", \"strides\": ");
        write_ints(b, 2, (int[]){l->sh, l->sw});
        clg_strbuf_printf(b, ", \"padding\": \"%s\"", l->same ? "same" : "valid");
        break;
    case L_CONV1D:
        clg_strbuf_printf(b, ", \"filters\": %d, \"kernel_size\": [%d], \"strides\": [%d], \"padding\": \"%s\"", l->units,
                  l->kw, l->sw, l->same ? "same" : "valid");
        break;
    case L_DWCONV:
        clg_strbuf_str(b, ", \"kernel_size\": ");
        write_ints(b, 2, (int[]){l->kh, l->kw});
        break;
    case L_MAXPOOL:
    case L_AVGPOOL:
        clg_strbuf_str(b, ", \"pool_size\": ");
        write_ints(b, 2, (int[]){l->ph, l->pw});
        break;
    case L_UPSAMPLE:
        clg_strbuf_str(b, ", \"size\": ");
        write_ints(b, 2, (int[]){l->ph, l->pw});
        clg_strbuf_str(b, ", \"interpolation\": \"nearest\"");
        break;
    case L_ZEROPAD:
        clg_strbuf_printf(b, ", \"padding\": [[%d, %d], [%d, %d]]", l->pads[0], l->pads[1], l->pads[2], l->pads[3]);
        break;
    case L_RESHAPE:
        clg_strbuf_str(b, ", \"target_shape\": [");
        for (int i = 0; i < l->tgt_ndim; i++) clg_strbuf_printf(b, "%s%lld", i ? ", " : "", (long long)l->tgt[i]);
        clg_strbuf_str(b, "]");
        break;
    case L_DROPOUT:
        clg_strbuf_str(b, ", \"rate\": ");
        sb_float(b, l->rate);
        break;
    case L_LEAKYRELU:
        clg_strbuf_str(b, ", \"alpha\": ");
        sb_float(b, l->alpha);
        break;
    case L_BATCHNORM:
        clg_strbuf_str(b, ", \"momentum\": ");
        sb_float(b, BN_MOMENTUM);
        clg_strbuf_str(b, ", \"epsilon\": ");
        sb_float(b, NORM_EPSILON);
        break;
    case L_LAYERNORM:
        clg_strbuf_str(b, ", \"epsilon\": ");
        sb_float(b, NORM_EPSILON);
        break;
    case L_EMBEDDING:
        clg_strbuf_printf(b, ", \"input_dim\": %d, \"output_dim\": %d, \"mask_zero\": %s", l->vocab, l->units,
                          l->mask_zero ? "true" : "false");
        break;
    case L_MHA:
        clg_strbuf_printf(b, ", \"num_heads\": %d, \"key_dim\": %d, \"use_causal_mask\": %s", l->heads, l->key_dim,
                          l->causal ? "true" : "false");
        break;
    case L_POSEMB: clg_strbuf_printf(b, ", \"sequence_length\": %d", l->units); break;
    case L_SIMPLE_RNN:
    case L_LSTM:
    case L_GRU:
    case L_BIDIRECTIONAL:
        clg_strbuf_printf(b, ", \"units\": %d, \"return_sequences\": %s, \"go_backwards\": %s", l->units,
                  l->return_sequences ? "true" : "false", l->go_backwards ? "true" : "false");
        if (l->kind != L_BIDIRECTIONAL)
            clg_strbuf_printf(b, ", \"return_state\": %s, \"stateful\": %s", l->return_state ? "true" : "false",
                              l->stateful ? "true" : "false");
        if (l->kind == L_BIDIRECTIONAL)
            clg_strbuf_printf(b, ", \"layer\": \"%s\", \"merge_mode\": \"concat\"", clg_kind_type[l->cell]);
        break;
    case L_CONCAT: clg_strbuf_printf(b, ", \"axis\": %d", l->axis); break;
    default: break;
    }
    if (has_activation(l->kind)) clg_strbuf_printf(b, ", \"activation\": \"%s\"", act_names[l->act]);
    if (clg_layer_has_kernel(l->kind)) {
        clg_strbuf_str(b, ", \"kernel_regularizer_l2\": ");
        sb_float(b, l->l2);
    }
    clg_strbuf_str(b, "}");
}

static void write_input_entry(clg_strbuf *b, const clg_node *n, int functional) {
    clg_strbuf_str(b, "{\"class_name\": \"InputLayer\", \"name\": ");
    clg_strbuf_json(b, n->name);
    clg_strbuf_str(b, ", \"config\": {\"batch_shape\": [null");
    for (int i = 0; i < n->ndim; i++) clg_strbuf_printf(b, ", %lld", (long long)n->shape[i]);
    clg_strbuf_printf(b, "], \"dtype\": \"%s\"}", n->dtype == CLG_INT32 ? "int32" : "float32");
    if (functional) clg_strbuf_str(b, ", \"inbound_nodes\": []");
    clg_strbuf_str(b, "}");
}

/* [name, node index, tensor index], Keras's reference to one output of one
 * application: 0 its output, k a recurrent layer's final state k (a port). */
static void write_ref(clg_strbuf *b, const clg_model *m, const clg_node *n) {
    const clg_node *r = n->port ? n->in[0] : n;
    clg_strbuf_str(b, "[");
    clg_strbuf_json(b, node_layer_name(r));
    clg_strbuf_printf(b, ", %d, %d]", app_index(m, r), n->port);
}

static void write_model_config(clg_strbuf *b, const clg_model *m) {
    const int func = !m->sequential;
    clg_strbuf_printf(b, "{\"class_name\": \"%s\", \"config\": {\"name\": \"%s\", \"seed\": %llu, \"layers\": [",
              func ? "Functional" : "Sequential", func ? "functional" : "sequential", (unsigned long long)m->seed);
    int first = 1;
    for (int i = 0; i < m->ninputs; i++, first = 0) {
        if (!first) clg_strbuf_str(b, ", ");
        write_input_entry(b, m->inputs[i], func);
    }
    for (int i = 0; i < m->nlayers; i++) {
        const clg_layer *l = m->layers[i];
        if (!l->applied) continue; /* a failed clg_call left it without nodes or weights */
        clg_strbuf_str(b, first ? "{\"class_name\": " : ", {\"class_name\": ");
        first = 0;
        clg_strbuf_json(b, clg_kind_type[l->kind]);
        clg_strbuf_str(b, ", \"name\": ");
        clg_strbuf_json(b, l->name);
        clg_strbuf_str(b, ", \"config\": ");
        write_layer_config(b, l);
        if (func) {
            clg_strbuf_str(b, ", \"inbound_nodes\": [");
            int k = 0;
            for (int j = 0; j < m->nnodes; j++) {
                const clg_node *n = m->nodes[j];
                if (n->layer != l) continue;
                clg_strbuf_str(b, k++ ? ", [" : "[");
                for (int q = 0; q < n->nin; q++) {
                    if (q) clg_strbuf_str(b, ", ");
                    write_ref(b, m, n->in[q]);
                }
                clg_strbuf_str(b, "]");
            }
            clg_strbuf_str(b, "]");
        }
        clg_strbuf_str(b, "}");
    }
    clg_strbuf_str(b, "]");
    if (func) {
        clg_strbuf_str(b, ", \"input_layers\": [");
        for (int i = 0; i < m->ninputs; i++) {
            if (i) clg_strbuf_str(b, ", ");
            write_ref(b, m, m->inputs[i]);
        }
        clg_strbuf_str(b, "], \"output_layers\": [");
        for (int i = 0; i < m->noutputs; i++) {
            if (i) clg_strbuf_str(b, ", ");
            write_ref(b, m, m->outputs[i]);
        }
        /* The order the nodes were made in: dropout seeds follow node ids, so a
         * reloaded model trains as the original would. */
        clg_strbuf_str(b, "], \"node_order\": [");
        for (int i = 0, first_node = 1; i < m->nnodes; i++) {
            if (m->nodes[i]->port) continue; /* made with its recurrent node */
            if (!first_node) clg_strbuf_str(b, ", ");
            first_node = 0;
            clg_strbuf_str(b, "[");
            clg_strbuf_json(b, node_layer_name(m->nodes[i]));
            clg_strbuf_printf(b, ", %d]", app_index(m, m->nodes[i]));
        }
        clg_strbuf_str(b, "]");
    }
    clg_strbuf_str(b, "}}");
}

/* compile_config: the optimizer as Keras serialises it (clg_optimizer_config_json,
 * written in the C locale like every number here), the loss and the metric. */
static clg_status write_compile_config(clg_strbuf *b, const clg_model *m) {
    char opt[4096]; /* fixed keys, a dozen floats and two step counts: far less */
    locale_t old, c = c_locale_enter(&old);
    clg_status st = clg_optimizer_config_json(m->opt, opt, sizeof opt);
    c_locale_leave(c, old);
    if (st != CLG_OK) return st;
    clg_strbuf_str(b, "{\"optimizer\": ");
    clg_strbuf_str(b, opt);
    clg_strbuf_str(b, ", \"loss\": ");
    clg_strbuf_json(b, clg_loss_names[m->loss]);
    clg_strbuf_str(b, m->accuracy ? ", \"metrics\": [\"accuracy\"]}" : ", \"metrics\": []}");
    return CLG_OK;
}

/* The training state a compiled model saves and clg_model_load restores: every
 * optimizer state tensor (named "optimizer.*") and the dropout RNG counter,
 * plus the epochs done in the metadata "training_state". Tensor names with these
 * prefixes are the training state's (clg_model_load_weights skips them), so no
 * layer may be called "optimizer" or "training" or start with them and a dot. */
static const char RNG_COUNTER_NAME[] = "training.rng_counter";

static int is_training_name(const char *name) {
    return !strncmp(name, "optimizer.", 10) || !strncmp(name, "training.", 9);
}

static int is_reserved_layer_name(const char *name) {
    return !strcmp(name, "optimizer") || !strcmp(name, "training") || is_training_name(name);
}

clg_status clg_model_save(clg_model *m, const char *path) {
    const char *api = "clg_model_save";
    if (!m || !path) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: model or path is NULL", api);
    if (m->nlayers == 0 || m->noutputs == 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s: the model has no %s", api, path,
                        m->nlayers == 0 ? "layers" : "outputs (clg_model_set_outputs)");
    /* weights come to exist as clg_model_save_weights makes them: drawn from the seed */
    if (clg_model_weight_count(m, 0) > 0 && !clg_model_weight(m, 0, 0))
        return clg_fail_wrap(clg_last_status(), "%s: %s", api, path);
    /* clg_loss_names knows these; a newer loss needs its entry first */
    if (m->compiled && (unsigned)m->loss >= LOSS_KIND_COUNT)
        return clg_fail(CLG_STATUS_UNSUPPORTED, "%s: %s: the model's loss has no name in clg_loss_names", api, path);
    clg_strbuf mc = {0}, cc = {0};
    write_model_config(&mc, m);
    clg_status st = m->compiled ? write_compile_config(&cc, m) : CLG_OK;
    if (st != CLG_OK) {
        free(mc.s), free(cc.s);
        return clg_fail_wrap(st, "%s: %s", api, path);
    }
    char ts[64];
    snprintf(ts, sizeof ts, "{\"epochs_done\": %d}", m->epochs_done);
    clg_safetensors_writer *w = mc.oom || cc.oom ? NULL : clg_safetensors_writer_new();
    if (!w) st = clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", api);
    for (int i = 0; st == CLG_OK && i < m->nlayers; i++)
        for (int j = 0; st == CLG_OK && j < m->layers[i]->nweights; j++) {
            char name[160];
            snprintf(name, sizeof name, "%s.%s", m->layers[i]->name, m->layers[i]->wname[j]);
            st = clg_safetensors_writer_add(w, name, m->layers[i]->w[j]);
        }
    if (m->compiled) { /* the training state, to resume from */
        for (int i = 0; st == CLG_OK && i < clg_optimizer_state_count(m->opt); i++)
            st = clg_safetensors_writer_add(w, clg_optimizer_state_name(m->opt, i),
                                            clg_optimizer_state_tensor(m->opt, i));
        if (st == CLG_OK && m->rng_counter) st = clg_safetensors_writer_add(w, RNG_COUNTER_NAME, m->rng_counter);
    }
    if (st == CLG_OK) st = clg_safetensors_writer_set_metadata(w, "format", "clgrad");
    if (st == CLG_OK) st = clg_safetensors_writer_set_metadata(w, "clgrad_version", CLGRAD_VERSION_STRING);
    if (st == CLG_OK) st = clg_safetensors_writer_set_metadata(w, "model_config", mc.s);
    if (st == CLG_OK && m->compiled) st = clg_safetensors_writer_set_metadata(w, "compile_config", cc.s);
    if (st == CLG_OK && m->compiled) st = clg_safetensors_writer_set_metadata(w, "training_state", ts);
    if (st == CLG_OK) st = clg_safetensors_writer_save(w, path); /* atomic: temp, fsync, rename */
    clg_safetensors_writer_free(w);
    free(mc.s), free(cc.s);
    return st == CLG_OK ? st : clg_fail_wrap(st, "%s: %s", api, path);
}

/* --- reading: the loader and its field readers ------------------------------------------------ */

typedef struct lentry {
    const char *cls, *name;
    int kind;              /* layer_kind, or -1 for an InputLayer */
    int cfg, inbound;      /* nodes, -1 when absent */
    int napps, made;       /* applications in the file, and made so far */
    int *app_refs;         /* first ref of each application (index into loader.refs), napps + 1 */
    clg_layer *layer;
    clg_node **nodes;      /* [napps] */
} lentry;

typedef struct lref {
    int entry, node, tensor; /* tensor k > 0: a recurrent layer's final state k */
} lref;

typedef struct loader {
    const char *path;
    clg_context *ctx;
    const clg_safetensors *file;
    jdoc d;
    const char *which; /* "model_config" or "compile_config" for messages */
    clg_model *m;
    lentry *e;
    int ne;
    jkey *names; /* the entries' names with their indices (as at), sorted: lookups */
    lref *refs;
    int nrefs;
} loader;

static clg_status lfail(const loader *L, clg_status st, const char *fmt, ...) CLG_PRINTF(3, 4);
static clg_status lfail(const loader *L, clg_status st, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return clg_fail(st, "clg_model_load: %s: %s", L->path, msg);
}

/* Wraps the error of a call that refused what the file asked for: the file is
 * at fault (CORRUPT_DATA), unless memory ran out. */
static clg_status lwrap(const loader *L, const char *fmt, ...) CLG_PRINTF(2, 3);
static clg_status lwrap(const loader *L, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    clg_status st = clg_last_status();
    return clg_fail_wrap(st == CLG_STATUS_OUT_OF_HOST_MEMORY ? st : CLG_STATUS_CORRUPT_DATA, "clg_model_load: %s: %s",
                         L->path, msg);
}

/* Whether the current error is one of the loader's own (already names the file). */
static int loader_error(void) { return !strncmp(clg_last_error(), "clg_model_load: ", 16); }

static const jnode *J(const loader *L, int i) { return &L->d.nodes[i]; }

static const char *jtype_name(jtype t) {
    static const char *const n[] = {"null", "false", "true", "a number", "a string", "an array", "an object"};
    return n[t];
}

/* What the value looks like, for messages: its text, cut short. */
static const char *jshow(const loader *L, int i, char *buf, size_t cap) {
    const jnode *n = J(L, i);
    if (n->type == J_ARR || n->type == J_OBJ) return jtype_name(n->type);
    size_t len = n->len < cap - 4 ? n->len : cap - 4;
    memcpy(buf, L->d.text + n->off, len);
    strcpy(buf + len, n->len > len ? "..." : "");
    return buf;
}

/* The member called key of object obj, or -1. */
static int jget(const loader *L, int obj, const char *key) {
    for (int c = J(L, obj)->first; c >= 0; c = J(L, c)->next)
        if (!strcmp(J(L, c)->key, key)) return c;
    return -1;
}

/* Refuses members outside allowed (NULL-terminated): a field this version does
 * not know would otherwise be dropped silently and change the model. */
static clg_status only_fields(const loader *L, int obj, const char *who, const char *const *allowed) {
    for (int c = J(L, obj)->first; c >= 0; c = J(L, c)->next) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(*a, J(L, c)->key);
        if (!ok) return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: unknown field \"%s\" (byte %zu of %s)", who,
                              J(L, c)->key, J(L, c)->off, L->which);
    }
    return CLG_OK;
}

/* An integer in [lo, hi] from node i. */
static clg_status int_of(const loader *L, int i, const char *who, const char *field, long long lo, long long hi,
                         long long *out) {
    char b[48];
    const jnode *n = J(L, i);
    int ok = n->type == J_NUM && n->len < 24;
    for (size_t k = 0; ok && k < n->len; k++) ok = is_digit(L->d.text[n->off + k]) || (k == 0 && L->d.text[n->off] == '-');
    long long v = 0;
    if (ok) {
        char t[24];
        memcpy(t, L->d.text + n->off, n->len);
        t[n->len] = 0;
        v = strtoll(t, NULL, 10);
        ok = v >= lo && v <= hi;
    }
    if (!ok)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"%s\" must be an integer in [%lld, %lld], got %s", who, field, lo,
                     hi, jshow(L, i, b, sizeof b));
    *out = v;
    return CLG_OK;
}

/* Reads obj[key] as an int; absent: *out keeps its default, or an error when required. */
static clg_status field_int(const loader *L, int obj, const char *key, const char *who, int required, long long lo,
                            long long hi, int *out) {
    int i = jget(L, obj, key);
    if (i < 0)
        return required ? lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: missing field \"%s\"", who, key) : CLG_OK;
    long long v;
    clg_status st = int_of(L, i, who, key, lo, hi, &v);
    if (st == CLG_OK) *out = (int)v;
    return st;
}

/* An array of exactly n integers in [lo, hi]. */
static clg_status field_ints(const loader *L, int obj, const char *key, const char *who, int required, int n,
                             long long lo, long long hi, int *out) {
    int i = jget(L, obj, key);
    if (i < 0)
        return required ? lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: missing field \"%s\"", who, key) : CLG_OK;
    char b[48];
    if (J(L, i)->type != J_ARR || J(L, i)->count != n)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"%s\" must be an array of %d integer%s, got %s", who, key, n,
                     n > 1 ? "s" : "", jshow(L, i, b, sizeof b));
    int k = 0;
    for (int c = J(L, i)->first; c >= 0; c = J(L, c)->next, k++) {
        long long v;
        clg_status st = int_of(L, c, who, key, lo, hi, &v);
        if (st != CLG_OK) return st;
        out[k] = (int)v;
    }
    return CLG_OK;
}

static clg_status field_float(const loader *L, int obj, const char *key, const char *who, int required,
                              float *out) {
    int i = jget(L, obj, key);
    if (i < 0)
        return required ? lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: missing field \"%s\"", who, key) : CLG_OK;
    char b[48];
    const jnode *n = J(L, i);
    if (n->type != J_NUM || n->len >= 64)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"%s\" must be a number, got %s", who, key,
                     jshow(L, i, b, sizeof b));
    char t[64];
    memcpy(t, L->d.text + n->off, n->len);
    t[n->len] = 0;
    locale_t old, c = c_locale_enter(&old);
    double v = strtod(t, NULL);
    c_locale_leave(c, old);
    if (!isfinite((float)v))
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"%s\" %s is outside float32's range", who, key, t);
    *out = (float)v;
    return CLG_OK;
}

static clg_status field_bool(const loader *L, int obj, const char *key, const char *who, int *out) {
    int i = jget(L, obj, key);
    if (i < 0) return CLG_OK;
    char b[48];
    if (J(L, i)->type != J_TRUE && J(L, i)->type != J_FALSE)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"%s\" must be true or false, got %s", who, key,
                     jshow(L, i, b, sizeof b));
    *out = J(L, i)->type == J_TRUE;
    return CLG_OK;
}

/* obj[key] as a string; NULL (with *st set) when it is required and absent or not a string. */
static const char *field_str(const loader *L, int obj, const char *key, const char *who, int required,
                             clg_status *st) {
    int i = obj >= 0 ? jget(L, obj, key) : -1;
    char b[48];
    *st = CLG_OK;
    if (i < 0) {
        if (required) *st = lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: missing field \"%s\"", who, key);
        return NULL;
    }
    if (J(L, i)->type != J_STR) {
        *st = lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"%s\" must be a string, got %s", who, key,
                    jshow(L, i, b, sizeof b));
        return NULL;
    }
    return J(L, i)->str;
}

/* A string field that must be one of choices (NULL-terminated); *out its index. */
static clg_status field_choice(const loader *L, int obj, const char *key, const char *who, int required,
                               const char *const *choices, int nchoices, int *out) {
    clg_status st;
    const char *s = field_str(L, obj, key, who, required, &st);
    if (!s) return st;
    for (int i = 0; i < nchoices; i++)
        if (!strcmp(s, choices[i])) {
            *out = i;
            return CLG_OK;
        }
    char list[256] = "";
    for (int i = 0; i < nchoices; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", choices[i]);
    return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"%s\" is \"%s\", not one of %s", who, key, s, list);
}

/* A float field that must equal the fixed value of this build. */
static clg_status field_fixed(const loader *L, int obj, const char *key, const char *who, float want) {
    float v = want;
    clg_status st = field_float(L, obj, key, who, 0, &v);
    if (st == CLG_OK && v != want)
        st = lfail(L, CLG_STATUS_UNSUPPORTED, "%s: \"%s\" %g is not supported (clgrad's is %g)", who, key, (double)v,
                   (double)want);
    return st;
}

static int kind_of_class(const char *cls) {
    for (int k = 0; k < L_KIND_COUNT; k++)
        if (!strcmp(cls, clg_kind_type[k])) return k;
    return !strcmp(cls, "InputLayer") ? -1 : -2;
}

/* The fields each layer kind may carry in its "config" (besides "trainable",
 * "activation" and "kernel_regularizer_l2", allowed where they apply). */
static const char *const *kind_fields(layer_kind k) {
    static const char *const none[] = {NULL};
    static const char *const dense[] = {"units", NULL};
    static const char *const conv[] = {"filters", "kernel_size", "strides", "padding", NULL};
    static const char *const dw[] = {"kernel_size", NULL};
    static const char *const pool[] = {"pool_size", NULL};
    static const char *const up[] = {"size", "interpolation", NULL};
    static const char *const pad[] = {"padding", NULL};
    static const char *const reshape[] = {"target_shape", NULL};
    static const char *const drop[] = {"rate", NULL};
    static const char *const leaky[] = {"alpha", NULL};
    static const char *const bn[] = {"momentum", "epsilon", NULL};
    static const char *const ln[] = {"epsilon", NULL};
    static const char *const emb[] = {"input_dim", "output_dim", "mask_zero", NULL};
    static const char *const cat[] = {"axis", NULL};
    static const char *const rnn[] = {"units", "return_sequences", "go_backwards", "return_state", "stateful", NULL};
    static const char *const bidir[] = {"units", "return_sequences", "go_backwards", "layer", "merge_mode", NULL};
    static const char *const mha[] = {"num_heads", "key_dim", "use_causal_mask", NULL};
    static const char *const posemb[] = {"sequence_length", NULL};
    switch (k) {
    case L_DENSE: return dense;
    case L_CONV2D:
    case L_CONVT:
    case L_CONV1D: return conv;
    case L_DWCONV: return dw;
    case L_MAXPOOL:
    case L_AVGPOOL: return pool;
    case L_UPSAMPLE: return up;
    case L_ZEROPAD: return pad;
    case L_RESHAPE: return reshape;
    case L_DROPOUT: return drop;
    case L_LEAKYRELU: return leaky;
    case L_BATCHNORM: return bn;
    case L_LAYERNORM: return ln;
    case L_EMBEDDING: return emb;
    case L_CONCAT: return cat;
    case L_SIMPLE_RNN:
    case L_LSTM:
    case L_GRU: return rnn;
    case L_BIDIRECTIONAL: return bidir;
    case L_MHA: return mha;
    case L_POSEMB: return posemb;
    default: return none;
    }
}

/* A new layer from entry e's config (NULL with the reason). */
static clg_layer *layer_from_config(const loader *L, const lentry *e) {
    char who[160];
    snprintf(who, sizeof who, "layer \"%s\" (%s)", e->name, e->cls);
    const layer_kind k = (layer_kind)e->kind;
    const int cfg = e->cfg;
    if (cfg < 0 || J(L, cfg)->type != J_OBJ) {
        lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"config\" must be an object", who);
        return NULL;
    }
    const char *allowed[16];
    int na = 0;
    allowed[na++] = "trainable";
    if (has_activation(k)) allowed[na++] = "activation";
    if (clg_layer_has_kernel(k)) allowed[na++] = "kernel_regularizer_l2";
    for (const char *const *f = kind_fields(k); *f; f++) allowed[na++] = *f;
    allowed[na] = NULL;
    if (only_fields(L, cfg, who, allowed) != CLG_OK) return NULL;

    static const char *const paddings[] = {"valid", "same"};
    int act = 0, same = 0, units = 0, trainable = 1, ks[2] = {0, 0}, st2[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
    float l2 = 0.0f, fv = 0.0f;
    clg_status st = CLG_OK;
    if (has_activation(k)) st = field_choice(L, cfg, "activation", who, k == L_ACTIVATION, act_names, ACT_COUNT, &act);
    if (st == CLG_OK && clg_layer_has_kernel(k)) st = field_float(L, cfg, "kernel_regularizer_l2", who, 0, &l2);
    if (st == CLG_OK) st = field_bool(L, cfg, "trainable", who, &trainable);
    if (st != CLG_OK) return NULL;
    const int n1 = k == L_CONV1D ? 1 : 2; /* Conv1D's kernel_size and strides are [k], [s] */
    clg_layer *l = NULL;
    switch (k) {
    case L_DENSE:
        if (field_int(L, cfg, "units", who, 1, 1, INT_MAX, &units) == CLG_OK) l = clg_layer_dense(units, act);
        break;
    case L_CONV2D:
    case L_CONVT:
    case L_CONV1D:
        st = field_int(L, cfg, "filters", who, 1, 1, INT_MAX, &units);
        if (st == CLG_OK) st = field_ints(L, cfg, "kernel_size", who, 1, n1, 1, MAX_FACTOR, ks);
        if (st == CLG_OK) st = field_ints(L, cfg, "strides", who, 0, n1, 1, MAX_FACTOR, st2);
        if (st == CLG_OK) st = field_choice(L, cfg, "padding", who, 0, paddings, 2, &same);
        if (st != CLG_OK) break;
        if (k == L_CONV2D) l = clg_layer_conv2d_ex(units, ks[0], ks[1], st2[0], st2[1], same, act);
        else if (k == L_CONVT) l = clg_layer_conv2d_transpose(units, ks[0], ks[1], st2[0], st2[1], same, act);
        else l = clg_layer_conv1d(units, ks[0], st2[0], same, act);
        break;
    case L_DWCONV:
        if (field_ints(L, cfg, "kernel_size", who, 1, 2, 1, MAX_FACTOR, ks) == CLG_OK)
            l = clg_layer_depthwise_conv2d(ks[0], ks[1], act);
        break;
    case L_MAXPOOL:
    case L_AVGPOOL:
        if (field_ints(L, cfg, "pool_size", who, 1, 2, 1, MAX_FACTOR, ks) == CLG_OK)
            l = k == L_MAXPOOL ? clg_layer_max_pooling2d(ks[0], ks[1]) : clg_layer_average_pooling2d(ks[0], ks[1]);
        break;
    case L_UPSAMPLE: {
        static const char *const interp[] = {"nearest"};
        int dummy = 0;
        st = field_ints(L, cfg, "size", who, 1, 2, 1, MAX_FACTOR, ks);
        if (st == CLG_OK) st = field_choice(L, cfg, "interpolation", who, 0, interp, 1, &dummy);
        if (st == CLG_OK) l = clg_layer_upsampling2d(ks[0], ks[1]);
        break;
    }
    case L_ZEROPAD: {
        int p = jget(L, cfg, "padding"), ok = p >= 0 && J(L, p)->type == J_ARR && J(L, p)->count == 2;
        char b[48];
        for (int c = ok ? J(L, p)->first : -1, i = 0; ok && c >= 0; c = J(L, c)->next, i++) {
            ok = J(L, c)->type == J_ARR && J(L, c)->count == 2;
            for (int q = ok ? J(L, c)->first : -1, j = 0; ok && q >= 0; q = J(L, q)->next, j++) {
                long long v;
                if (int_of(L, q, who, "padding", 0, MAX_FACTOR, &v) != CLG_OK) return NULL;
                pads[2 * i + j] = (int)v;
            }
        }
        if (!ok)
            lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"padding\" must be [[top, bottom], [left, right]], got %s", who,
                  p < 0 ? "nothing" : jshow(L, p, b, sizeof b));
        else l = clg_layer_zero_padding2d(pads[0], pads[1], pads[2], pads[3]);
        break;
    }
    case L_RESHAPE: {
        int p = jget(L, cfg, "target_shape");
        char b[48];
        if (p < 0 || J(L, p)->type != J_ARR || J(L, p)->count < 1 || J(L, p)->count >= CLG_MAX_DIMS) {
            lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"target_shape\" must be an array of 1 to %d integers, got %s",
                  who, CLG_MAX_DIMS - 1, p < 0 ? "nothing" : jshow(L, p, b, sizeof b));
            break;
        }
        int64_t tgt[CLG_MAX_DIMS], known = 1;
        int nd = 0;
        for (int c = J(L, p)->first; c >= 0; c = J(L, c)->next) {
            long long v;
            if (int_of(L, c, who, "target_shape", -1, MAX_VALUES, &v) != CLG_OK) return NULL;
            if (v > 0 && (known *= v) > MAX_VALUES) {
                lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"target_shape\" asks for more than 2^40 values", who);
                return NULL;
            }
            tgt[nd++] = v;
        }
        l = clg_layer_reshape(nd, tgt);
        break;
    }
    case L_DROPOUT:
        if (field_float(L, cfg, "rate", who, 1, &fv) == CLG_OK) l = clg_layer_dropout(fv);
        break;
    case L_LEAKYRELU:
        fv = 0.3f; /* Keras's default */
        if (field_float(L, cfg, "alpha", who, 0, &fv) == CLG_OK) l = clg_layer_leaky_relu(fv);
        break;
    case L_BATCHNORM:
        st = field_fixed(L, cfg, "momentum", who, BN_MOMENTUM);
        if (st == CLG_OK) st = field_fixed(L, cfg, "epsilon", who, NORM_EPSILON);
        if (st == CLG_OK) l = clg_layer_batch_normalization();
        break;
    case L_LAYERNORM:
        if (field_fixed(L, cfg, "epsilon", who, NORM_EPSILON) == CLG_OK) l = clg_layer_layer_normalization();
        break;
    case L_EMBEDDING: {
        int dim = 0;
        st = field_int(L, cfg, "input_dim", who, 1, 1, INT_MAX, &units);
        if (st == CLG_OK) st = field_int(L, cfg, "output_dim", who, 1, 1, INT_MAX, &dim);
        int mask_zero = 0;
        if (st == CLG_OK) st = field_bool(L, cfg, "mask_zero", who, &mask_zero);
        if (st == CLG_OK) l = clg_layer_embedding_ex(units, dim, mask_zero);
        break;
    }
    case L_CONCAT: {
        int axis = -1;
        if (field_int(L, cfg, "axis", who, 0, INT_MIN, INT_MAX, &axis) == CLG_OK) l = clg_layer_concatenate(axis);
        break;
    }
    case L_SIMPLE_RNN:
    case L_LSTM:
    case L_GRU:
    case L_BIDIRECTIONAL: {
        int seqs = 0, back = 0, rstate = 0, stateful = 0;
        layer_kind cell = k;
        st = field_int(L, cfg, "units", who, 1, 1, INT_MAX, &units);
        if (st == CLG_OK) st = field_bool(L, cfg, "return_sequences", who, &seqs);
        if (st == CLG_OK) st = field_bool(L, cfg, "go_backwards", who, &back);
        if (st == CLG_OK) st = field_bool(L, cfg, "return_state", who, &rstate);
        if (st == CLG_OK) st = field_bool(L, cfg, "stateful", who, &stateful);
        if (st == CLG_OK && k == L_BIDIRECTIONAL) {
            static const char *const cells[] = {"SimpleRNN", "LSTM", "GRU"};
            static const char *const merges[] = {"concat"};
            int which = 0, merge = 0;
            st = field_choice(L, cfg, "layer", who, 1, cells, 3, &which);
            if (st == CLG_OK) st = field_choice(L, cfg, "merge_mode", who, 0, merges, 1, &merge);
            cell = which == 1 ? L_LSTM : which == 2 ? L_GRU : L_SIMPLE_RNN;
        }
        if (st == CLG_OK) {
            l = cell == L_LSTM ? clg_layer_lstm(units, seqs, back)
                : cell == L_GRU ? clg_layer_gru(units, seqs, back) : clg_layer_simple_rnn(units, seqs, back);
            if (l && k == L_BIDIRECTIONAL) l = clg_layer_bidirectional(l);
            if (l && k != L_BIDIRECTIONAL) l->return_state = rstate, l->stateful = stateful;
        }
        break;
    }
    case L_MHA: {
        int heads = 0, kd = 0, causal = 0;
        st = field_int(L, cfg, "num_heads", who, 1, 1, 1 << 16, &heads);
        if (st == CLG_OK) st = field_int(L, cfg, "key_dim", who, 1, 1, 1 << 20, &kd);
        if (st == CLG_OK) st = field_bool(L, cfg, "use_causal_mask", who, &causal);
        if (st == CLG_OK) l = clg_layer_multi_head_attention(heads, kd, causal);
        break;
    }
    case L_POSEMB:
        st = field_int(L, cfg, "sequence_length", who, 1, 1, 1 << 24, &units);
        if (st == CLG_OK) l = clg_layer_position_embedding(units);
        break;
    case L_FLATTEN: l = clg_layer_flatten(); break;
    case L_ACTIVATION: l = clg_layer_activation(act); break;
    case L_GAP: l = clg_layer_global_average_pooling2d(); break;
    case L_GMP: l = clg_layer_global_max_pooling2d(); break;
    case L_ADD: l = clg_layer_add(); break;
    default: lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: unknown kind", who); break;
    }
    if (!l) {
        /* a constructor refused the values: say which layer of the file asked */
        if (!loader_error()) lwrap(L, "%s", who);
        return NULL;
    }
    st = clg_layer_set_trainable(l, trainable);
    if (st == CLG_OK && l2 != 0.0f) st = clg_layer_set_l2(l, l2);
    if (st != CLG_OK) {
        lwrap(L, "%s", who);
        clg_layer_free(l);
        return NULL;
    }
    return l;
}

/* --- reading: the graph ----------------------------------------------------------------------- */

static void loader_free(loader *L) {
    for (int i = 0; i < L->ne; i++) free(L->e[i].app_refs), free(L->e[i].nodes);
    free(L->e), free(L->names), free(L->refs);
    jdoc_free(&L->d);
    L->e = NULL, L->names = NULL, L->refs = NULL, L->ne = L->nrefs = 0;
}

/* The entry called name, or -1: a binary search of the sorted names (a scan per
 * lookup made a file of n layers cost n^2). */
static int entry_named(const loader *L, const char *name) {
    int lo = 0, hi = L->names ? L->ne : 0;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(L->names[mid].key, name);
        if (c == 0) return (int)L->names[mid].at;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* Sorts the entries' names for entry_named, refusing a name used twice (the
 * second use of the first name repeated, in the file's order). */
static clg_status index_names(loader *L) {
    L->names = malloc(((size_t)L->ne + 1) * sizeof *L->names);
    if (!L->names) return lfail(L, CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < L->ne; i++) L->names[i] = (jkey){L->e[i].name, (size_t)i};
    qsort(L->names, (size_t)L->ne, sizeof *L->names, jkey_cmp);
    int repeat = -1;
    for (int i = 1; i < L->ne; i++)
        if (!strcmp(L->names[i - 1].key, L->names[i].key) && (repeat < 0 || (int)L->names[i].at < repeat))
            repeat = (int)L->names[i].at;
    if (repeat >= 0) {
        free(L->names);
        L->names = NULL;
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "layer \"%s\": the name appears twice", L->e[repeat].name);
    }
    return CLG_OK;
}

/* Parses one [name, node index, 0] reference (a fourth element, Keras 2's
 * kwargs, must be an empty object). */
static clg_status parse_ref(const loader *L, int r, const char *who, int allow_kwargs, lref *out) {
    char b[48];
    const jnode *n = J(L, r);
    int c0 = n->type == J_ARR ? n->first : -1;
    int c1 = c0 >= 0 ? J(L, c0)->next : -1, c2 = c1 >= 0 ? J(L, c1)->next : -1;
    int c3 = c2 >= 0 ? J(L, c2)->next : -1;
    int ok = n->type == J_ARR && (n->count == 3 || (allow_kwargs && n->count == 4)) && J(L, c0)->type == J_STR;
    if (ok && c3 >= 0) ok = J(L, c3)->type == J_OBJ && J(L, c3)->count == 0;
    if (!ok)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: a reference must be [layer name, node index, 0], got %s "
                     "(byte %zu of model_config)", who, jshow(L, r, b, sizeof b), n->off);
    long long node, tensor;
    clg_status st = int_of(L, c1, who, "node index", 0, INT_MAX, &node);
    if (st == CLG_OK) st = int_of(L, c2, who, "tensor index", 0, 2, &tensor);
    if (st != CLG_OK) return st;
    int e = entry_named(L, J(L, c0)->str);
    if (e < 0)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s refers to layer \"%s\", which is not in the file", who,
                     J(L, c0)->str);
    if (node >= L->e[e].napps)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s refers to node %lld of layer \"%s\", which has %d", who, node,
                     J(L, c0)->str, L->e[e].napps);
    const int kind = L->e[e].kind;
    const int states = kind == L_LSTM ? 2 : kind == L_GRU || kind == L_SIMPLE_RNN ? 1 : 0;
    if (tensor > states)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s refers to output %lld of layer \"%s\", which has %d", who,
                     tensor, J(L, c0)->str, 1 + states);
    out->entry = e, out->node = (int)node, out->tensor = (int)tensor;
    return CLG_OK;
}

/* The node a reference names: an application's output, or a port of its final
 * states (made with the application when the layer returns its states). */
static clg_node *ref_node(const loader *L, const lref *r) {
    clg_node *n = L->e[r->entry].nodes[r->node];
    return n && r->tensor ? clg_model_state_port(n, r->tensor) : n;
}

/* The "layers" list: classes, names (unique), configs, applications counted. */
static clg_status read_entries(loader *L, int layers, int functional) {
    const jnode *ln = J(L, layers);
    if (ln->type != J_ARR || ln->count < 1)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "\"layers\" must be a non-empty array");
    L->e = calloc((size_t)ln->count, sizeof *L->e);
    if (!L->e) return lfail(L, CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
    static const char *const seq_fields[] = {"class_name", "name", "config", NULL};
    static const char *const func_fields[] = {"class_name", "name", "config", "inbound_nodes", NULL};
    for (int c = ln->first; c >= 0; c = J(L, c)->next) {
        char who[96];
        snprintf(who, sizeof who, "layers[%d]", L->ne);
        if (J(L, c)->type != J_OBJ) return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s must be an object", who);
        clg_status st;
        const char *cls = field_str(L, c, "class_name", who, 1, &st);
        const char *name = cls ? field_str(L, c, "name", who, 1, &st) : NULL;
        if (!name) return st;
        if (!name[0] || strlen(name) >= sizeof ((clg_layer *)0)->name)
            return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: name \"%.80s\" must have 1 to %zu bytes", who, name,
                         sizeof ((clg_layer *)0)->name - 1);
        for (const char *p = name; *p; p++)
            if ((unsigned char)*p < 0x20)
                return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: name has a control character", who);
        snprintf(who, sizeof who, "layer \"%s\"", name);
        if (is_reserved_layer_name(name))
            return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: the name is reserved (optimizer.* and training.* name the "
                         "training state)", who);
        if ((st = only_fields(L, c, who, functional ? func_fields : seq_fields)) != CLG_OK) return st;
        lentry *e = &L->e[L->ne];
        e->cls = cls, e->name = name;
        e->kind = kind_of_class(cls);
        if (e->kind == -2)
            return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: unknown class_name \"%s\"", who, cls);
        e->cfg = jget(L, c, "config");
        if (e->cfg < 0 || J(L, e->cfg)->type != J_OBJ)
            return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"config\" must be an object", who);
        e->inbound = jget(L, c, "inbound_nodes");
        if (functional && !(e->kind < 0 && e->inbound < 0)) { /* an InputLayer may omit it */
            if (e->inbound < 0 || J(L, e->inbound)->type != J_ARR)
                return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"inbound_nodes\" must be an array", who);
            int na = J(L, e->inbound)->count;
            if (e->kind < 0 ? na != 0 : na == 0)
                return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: %s", who,
                             e->kind < 0 ? "an InputLayer has no inbound nodes" : "no inbound nodes (never applied)");
        }
        e->napps = e->kind >= 0 && functional ? J(L, e->inbound)->count : 1;
        e->nodes = calloc((size_t)e->napps, sizeof *e->nodes);
        e->app_refs = calloc((size_t)e->napps + 1, sizeof *e->app_refs);
        L->ne++;
        if (!e->nodes || !e->app_refs) return lfail(L, CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    return index_names(L);
}

/* Refuses a node of more than 2^40 values per sample (see MAX_VALUES), checked
 * after each application so that the next layer's shape arithmetic stays in range. */
static clg_status node_too_big(const loader *L, const clg_node *n, const char *who) {
    int64_t total = 1;
    for (int i = 0; i < n->ndim; i++) {
        if (n->shape[i] <= 0 || n->shape[i] > MAX_VALUES / total)
            return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: output has more than 2^40 values per sample", who);
        total *= n->shape[i];
    }
    return CLG_OK;
}

/* An input node from an InputLayer's config. */
static clg_node *make_input(loader *L, const lentry *e, int sequential) {
    char who[96];
    snprintf(who, sizeof who, "layer \"%s\" (InputLayer)", e->name);
    static const char *const fields[] = {"batch_shape", "dtype", NULL};
    static const char *const dtypes[] = {"float32", "int32"};
    int dt = 0, bs = jget(L, e->cfg, "batch_shape");
    char b[48];
    if (only_fields(L, e->cfg, who, fields) != CLG_OK ||
        field_choice(L, e->cfg, "dtype", who, 0, dtypes, 2, &dt) != CLG_OK)
        return NULL;
    const jnode *n = bs >= 0 ? J(L, bs) : NULL;
    if (!n || n->type != J_ARR || n->count < 2 || n->count > CLG_MAX_DIMS || J(L, n->first)->type != J_NULL) {
        lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"batch_shape\" must be [null, d1, ...] with 1 to %d extents, got %s",
              who, CLG_MAX_DIMS - 1, bs < 0 ? "nothing" : jshow(L, bs, b, sizeof b));
        return NULL;
    }
    int64_t shape[CLG_MAX_DIMS];
    int nd = 0;
    for (int c = J(L, n->first)->next; c >= 0; c = J(L, c)->next) {
        long long v;
        if (int_of(L, c, who, "batch_shape", 1, INT32_MAX, &v) != CLG_OK) return NULL;
        shape[nd++] = v;
    }
    clg_node *in;
    if (sequential) {
        L->m = clg_sequential_new(L->ctx, nd, shape);
        in = L->m ? L->m->inputs[0] : NULL;
        if (in) in->dtype = dt ? CLG_INT32 : CLG_FLOAT32; /* checked against the first layer afterwards */
    } else {
        in = dt ? clg_model_input_indices(L->m, nd, shape) : clg_model_input(L->m, nd, shape);
    }
    if (!in) {
        lwrap(L, "%s", who);
        return NULL;
    }
    if (node_too_big(L, in, who) != CLG_OK) return NULL;
    snprintf(in->name, sizeof in->name, "%s", e->name);
    return in;
}

/* Applies entry ei's application k to its inputs (all made already). */
static clg_status make_app(loader *L, int ei, int k) {
    lentry *e = &L->e[ei];
    if (e->kind < 0) {
        e->nodes[0] = make_input(L, e, 0);
        return e->nodes[0] ? CLG_OK : clg_last_status();
    }
    int first = e->app_refs[k], nin = e->app_refs[k + 1] - first;
    clg_node *ins[16], **in = nin <= 16 ? ins : malloc((size_t)nin * sizeof *in);
    if (!in) return lfail(L, CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < nin; i++) in[i] = ref_node(L, &L->refs[first + i]);
    clg_layer *l = e->layer;
    if (!l && !(l = layer_from_config(L, e))) {
        if (in != ins) free(in);
        return clg_last_status();
    }
    /* clg_call takes the layer into the model, also when the call fails */
    clg_node *n = nin == 1 ? clg_call(l, in[0]) : clg_call_n(l, nin, in);
    if (in != ins) free(in);
    char who[128];
    snprintf(who, sizeof who, "layer \"%s\" (%s), node %d", e->name, e->cls, k);
    if (!n) return lwrap(L, "%s", who);
    if (k == 0) {
        e->layer = l;
        snprintf(l->name, sizeof l->name, "%s", e->name);
    }
    e->nodes[k] = n;
    /* ports right after their node, as clg_call_rnn makes them: node ids (and
     * so dropout seeds) come out as in the saved model */
    for (int s = 1; l->return_state && s <= clg_layer_state_count(l); s++)
        if (!clg_model_state_port(n, s)) return lwrap(L, "%s", who);
    return node_too_big(L, n, who);
}

static clg_status build_functional(loader *L, int cfg) {
    static const char *const fields[] = {"name", "seed", "layers", "input_layers", "output_layers", "node_order", NULL};
    clg_status st = only_fields(L, cfg, "\"config\"", fields);
    int layers = jget(L, cfg, "layers");
    if (st == CLG_OK && layers < 0) st = lfail(L, CLG_STATUS_CORRUPT_DATA, "\"config\" has no \"layers\"");
    if (st == CLG_OK) st = read_entries(L, layers, 1);
    if (st != CLG_OK) return st;
    /* every application's input references */
    int total = 0;
    for (int i = 0; i < L->ne; i++)
        for (int a = L->e[i].kind < 0 ? -1 : J(L, L->e[i].inbound)->first; a >= 0; a = J(L, a)->next)
            total += J(L, a)->type == J_ARR ? J(L, a)->count : 0;
    L->refs = malloc(((size_t)total + 1) * sizeof *L->refs);
    if (!L->refs) return lfail(L, CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < L->ne; i++) {
        lentry *e = &L->e[i];
        int k = 0;
        for (int a = e->kind < 0 ? -1 : J(L, e->inbound)->first; a >= 0; a = J(L, a)->next, k++) {
            char who[128];
            snprintf(who, sizeof who, "layer \"%s\" node %d", e->name, k);
            e->app_refs[k] = L->nrefs;
            if (J(L, a)->type != J_ARR || J(L, a)->count < 1)
                return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: an inbound node must be a non-empty array of references",
                             who);
            for (int r = J(L, a)->first; r >= 0; r = J(L, r)->next)
                if ((st = parse_ref(L, r, who, 1, &L->refs[L->nrefs++])) != CLG_OK) return st;
        }
        e->app_refs[e->napps] = L->nrefs;
    }
    /* The order to make the nodes in: node_order when present, else inputs
     * first (as input_layers lists them) and then each layer's applications, in
     * passes until every node's inputs exist (Keras's rule). */
    int napps = 0;
    for (int i = 0; i < L->ne; i++) napps += L->e[i].napps;
    lref *order = malloc((size_t)napps * sizeof *order);
    if (!order) return lfail(L, CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
    int norder = 0, no = jget(L, cfg, "node_order"), il = jget(L, cfg, "input_layers");
    if (il < 0 || J(L, il)->type != J_ARR || J(L, il)->count < 1)
        st = lfail(L, CLG_STATUS_CORRUPT_DATA, "\"input_layers\" must be a non-empty array of references");
    if (st == CLG_OK && no >= 0) {
        if (J(L, no)->type != J_ARR || J(L, no)->count != napps)
            st = lfail(L, CLG_STATUS_CORRUPT_DATA, "\"node_order\" must list each of the %d nodes once", napps);
        for (int c = st == CLG_OK ? J(L, no)->first : -1; c >= 0 && st == CLG_OK; c = J(L, c)->next) {
            char b[48];
            const jnode *n = J(L, c);
            int c1 = n->type == J_ARR && n->count == 2 ? J(L, n->first)->next : -1;
            long long node = 0;
            int ei = c1 >= 0 && J(L, n->first)->type == J_STR ? entry_named(L, J(L, n->first)->str) : -1;
            if (ei < 0 || int_of(L, c1, "node_order", "node index", 0, L->e[ei].napps - 1, &node) != CLG_OK) {
                st = ei < 0 ? lfail(L, CLG_STATUS_CORRUPT_DATA, "node_order: %s is not [known layer name, node index]",
                                    jshow(L, c, b, sizeof b))
                            : clg_last_status();
                break;
            }
            for (int q = 0; q < norder && st == CLG_OK; q++)
                if (order[q].entry == ei && order[q].node == node)
                    st = lfail(L, CLG_STATUS_CORRUPT_DATA, "node_order lists node %lld of \"%s\" twice", node,
                               L->e[ei].name);
            order[norder++] = (lref){ei, (int)node, 0};
        }
    } else if (st == CLG_OK) {
        for (int c = J(L, il)->first; c >= 0 && st == CLG_OK; c = J(L, c)->next) {
            lref r;
            if ((st = parse_ref(L, c, "input_layers", 0, &r)) != CLG_OK) break;
            if (L->e[r.entry].kind >= 0)
                st = lfail(L, CLG_STATUS_CORRUPT_DATA, "input_layers: \"%s\" is not an InputLayer", L->e[r.entry].name);
            for (int q = 0; q < norder && st == CLG_OK; q++)
                if (order[q].entry == r.entry)
                    st = lfail(L, CLG_STATUS_CORRUPT_DATA, "input_layers lists \"%s\" twice", L->e[r.entry].name);
            if (st == CLG_OK) order[norder++] = r;
        }
        for (int i = 0; i < L->ne && st == CLG_OK; i++)
            for (int k = 0; L->e[i].kind >= 0 && k < L->e[i].napps; k++) order[norder++] = (lref){i, k, 0};
        if (st == CLG_OK && norder != napps)
            st = lfail(L, CLG_STATUS_CORRUPT_DATA, "input_layers must list every InputLayer of \"layers\"");
    }
    L->m = st == CLG_OK ? clg_model_new(L->ctx) : NULL;
    if (st == CLG_OK && !L->m) st = clg_fail_wrap(clg_last_status(), "clg_model_load: %s", L->path);
    for (int left = napps, progress = 1; st == CLG_OK && left > 0 && progress;) {
        progress = 0;
        for (int q = 0; q < napps && st == CLG_OK; q++) {
            lentry *e = &L->e[order[q].entry];
            int k = order[q].node, ready = e->made == k;
            for (int r = e->kind < 0 ? 0 : e->app_refs[k]; ready && e->kind >= 0 && r < e->app_refs[k + 1]; r++)
                ready = L->e[L->refs[r].entry].nodes[L->refs[r].node] != NULL;
            if (!ready) continue;
            st = make_app(L, order[q].entry, k);
            e->made++, left--, progress = 1;
        }
        if (st == CLG_OK && left > 0 && !progress) {
            for (int q = 0; q < napps; q++) {
                const lentry *e = &L->e[order[q].entry];
                if (e->nodes[order[q].node]) continue;
                st = lfail(L, CLG_STATUS_CORRUPT_DATA,
                           "layer \"%s\" node %d can never be made: its inputs depend on it (a cycle)", e->name,
                           order[q].node);
                break;
            }
        }
    }
    free(order);
    if (st != CLG_OK) return st;
    /* the model's inputs, in input_layers' order */
    int i = 0;
    for (int c = J(L, il)->first; c >= 0; c = J(L, c)->next, i++) {
        lref r;
        if ((st = parse_ref(L, c, "input_layers", 0, &r)) != CLG_OK) return st;
        if (i >= L->m->ninputs || r.tensor || L->m->inputs[i] != L->e[r.entry].nodes[r.node])
            return lfail(L, CLG_STATUS_CORRUPT_DATA,
                         "input_layers[%d] \"%s\" is not the model's input %d (node_order makes the inputs in "
                         "another order, or it is not an InputLayer)", i, L->e[r.entry].name, i);
    }
    if (i != L->m->ninputs)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "input_layers must list every InputLayer of \"layers\"");
    int ol = jget(L, cfg, "output_layers");
    if (ol < 0 || J(L, ol)->type != J_ARR || J(L, ol)->count < 1)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "\"output_layers\" must be a non-empty array of references");
    clg_node **outs = malloc((size_t)J(L, ol)->count * sizeof *outs);
    if (!outs) return lfail(L, CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
    i = 0;
    for (int c = J(L, ol)->first; c >= 0 && st == CLG_OK; c = J(L, c)->next, i++) {
        lref r;
        if ((st = parse_ref(L, c, "output_layers", 0, &r)) == CLG_OK) outs[i] = ref_node(L, &r);
    }
    if (st == CLG_OK) st = clg_model_set_outputs(L->m, i, outs);
    free(outs);
    return st;
}

static clg_status build_sequential(loader *L, int cfg) {
    static const char *const fields[] = {"name", "seed", "layers", NULL};
    clg_status st = only_fields(L, cfg, "\"config\"", fields);
    int layers = jget(L, cfg, "layers");
    if (st == CLG_OK && layers < 0) st = lfail(L, CLG_STATUS_CORRUPT_DATA, "\"config\" has no \"layers\"");
    if (st == CLG_OK) st = read_entries(L, layers, 0);
    if (st != CLG_OK) return st;
    if (L->e[0].kind >= 0)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "a Sequential model's first layer must be its InputLayer, not \"%s\"",
                     L->e[0].name);
    clg_node *in = make_input(L, &L->e[0], 1);
    if (!in) return clg_last_status();
    const clg_dtype declared = in->dtype;
    for (int i = 1; i < L->ne; i++) {
        lentry *e = &L->e[i];
        if (e->kind < 0)
            return lfail(L, CLG_STATUS_CORRUPT_DATA, "layer \"%s\": a Sequential model has one InputLayer, first",
                         e->name);
        clg_layer *l = layer_from_config(L, e);
        if (!l) return clg_last_status();
        char who[128];
        snprintf(who, sizeof who, "layer \"%s\" (%s)", e->name, e->cls);
        if (clg_model_add(L->m, l) != CLG_OK) return lwrap(L, "%s", who); /* took l, also on failure */
        snprintf(l->name, sizeof l->name, "%s", e->name);
        clg_status st2 = node_too_big(L, L->m->outputs[0], who);
        if (st2 != CLG_OK) return st2;
    }
    if (in->dtype != declared)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "layer \"%s\" (InputLayer) declares %s, its first layer takes %s",
                     L->e[0].name, clg_dtype_name(declared), clg_dtype_name(in->dtype));
    return CLG_OK;
}

/* Layers added to a loaded model get names after the file's ("dense_3" after
 * "dense_2"), never one of them. */
static void continue_names(clg_model *m) {
    for (int i = 0; i < m->nlayers; i++) {
        const clg_layer *l = m->layers[i];
        const char *base = clg_kind_base[l->kind];
        size_t bl = strlen(base);
        int next = -1;
        if (!strcmp(l->name, base)) next = 1;
        else if (!strncmp(l->name, base, bl) && l->name[bl] == '_' && is_digit(l->name[bl + 1]))
            next = (int)strtol(l->name + bl + 1, NULL, 10) + 1;
        if (next > m->kind_count[l->kind]) m->kind_count[l->kind] = next;
    }
    for (int i = 0; i < m->ninputs; i++) {
        const char *nm = m->inputs[i]->name;
        int next = -1;
        if (!strcmp(nm, "input_layer")) next = 1;
        else if (!strncmp(nm, "input_layer_", 12) && is_digit(nm[12])) next = (int)strtol(nm + 12, NULL, 10) + 1;
        if (next > m->input_count) m->input_count = next;
    }
}

/* Every weight's dtype and shape in the file against the rebuilt model, before
 * any weight is allocated (a bad file must not ask for gigabytes first). */
static clg_status check_weight_shapes(const loader *L) {
    const clg_model *m = L->m;
    for (int i = 0; i < m->nlayers; i++)
        for (int j = 0; j < m->layers[i]->nweights; j++) {
            const clg_layer *l = m->layers[i];
            char name[160], a[160] = "(rank > 8)", b[160];
            snprintf(name, sizeof name, "%s.%s", l->name, l->wname[j]);
            clg_safetensors_info info;
            if (clg_safetensors_info_get(L->file, name, &info) != CLG_OK)
                return lfail(L, CLG_STATUS_CORRUPT_DATA, "layer \"%s\" (%s) needs weight %s, which the file lacks",
                             l->name, clg_kind_type[l->kind], name);
            int ok = info.dtype == CLG_SAFETENSORS_F32 && info.ndim == l->wndim[j];
            for (int k = 0; ok && k < info.ndim; k++) ok = info.shape[k] == l->wshape[j][k];
            if (!ok) {
                if (info.ndim <= CLG_MAX_DIMS) clg_shape_format(info.ndim, info.shape, a, sizeof a);
                return lfail(L, CLG_STATUS_SHAPE_MISMATCH,
                             "layer \"%s\" (%s): weight %s is %s %s in the file, model_config gives F32 %s", l->name,
                             clg_kind_type[l->kind], name, clg_safetensors_dtype_name(info.dtype), a,
                             clg_shape_format(l->wndim[j], l->wshape[j], b, sizeof b));
            }
        }
    return CLG_OK;
}

/* obj[key] as a float that may be null: absent or null leave *set 0. */
static clg_status field_opt_float(const loader *L, int obj, const char *key, const char *who, int *set, float *out) {
    int i = jget(L, obj, key);
    *set = 0;
    if (i < 0 || J(L, i)->type == J_NULL) return CLG_OK;
    clg_status st = field_float(L, obj, key, who, 1, out);
    *set = st == CLG_OK;
    return st;
}

/* A Keras setting clgrad does not have: accepted only at its default, null. */
static clg_status field_null(const loader *L, int obj, const char *key, const char *who) {
    int i = jget(L, obj, key);
    char b[48];
    if (i < 0 || J(L, i)->type == J_NULL) return CLG_OK;
    return lfail(L, CLG_STATUS_UNSUPPORTED, "%s: \"%s\" %s is not supported (only null)", who, key,
                 jshow(L, i, b, sizeof b));
}

/* A learning-rate schedule as clg_optimizer_config_json writes it. */
typedef struct sched_cfg {
    int kind; /* 0 none, 1 ExponentialDecay, 2 CosineDecay */
    int decay_steps, warmup_steps, staircase;
    float decay_rate, alpha, warmup_initial;
} sched_cfg;

/* The envelope of a Keras-serialised object at node: no fields but "module"
 * (optional; if present, `module`), "class_name" (one of classes: *cls),
 * "registered_name" (null) and "config" (an object: *config). w gets
 * "who (class)", the name messages about the config use. */
static clg_status keras_object(const loader *L, int node, const char *who, const char *module,
                               const char *const *classes, int nclasses, int *cls, int *config, char *w, size_t cap) {
    static const char *const fields[] = {"module", "class_name", "config", "registered_name", NULL};
    const char *const modules[1] = {module};
    int m = 0;
    clg_status st = only_fields(L, node, who, fields);
    if (st == CLG_OK) st = field_choice(L, node, "module", who, 0, modules, 1, &m);
    if (st == CLG_OK) st = field_null(L, node, "registered_name", who);
    if (st == CLG_OK) st = field_choice(L, node, "class_name", who, 1, classes, nclasses, cls);
    if (st != CLG_OK) return st;
    snprintf(w, cap, "%s (%s)", who, classes[*cls]);
    *config = jget(L, node, "config");
    if (*config < 0 || J(L, *config)->type != J_OBJ)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"config\" must be an object", w);
    return CLG_OK;
}

/* Keras's serialised ExponentialDecay or CosineDecay at node: *lr the
 * optimizer's learning rate (the rate the schedule scales), *s the rest. */
static clg_status read_schedule(const loader *L, int node, const char *who, float *lr, sched_cfg *s) {
    static const char *const classes[] = {"ExponentialDecay", "CosineDecay"};
    static const char *const exp_fields[] = {"name", "initial_learning_rate", "decay_steps", "decay_rate",
                                             "staircase", NULL};
    static const char *const cos_fields[] = {"name", "initial_learning_rate", "decay_steps", "alpha",
                                             "warmup_target", "warmup_steps", NULL};
    int cls = 0, c = -1;
    char w[160];
    clg_status st = keras_object(L, node, who, "keras.optimizers.schedules", classes, 2, &cls, &c, w, sizeof w);
    if (st != CLG_OK) return st;
    float initial = 0.0f;
    st = only_fields(L, c, w, cls ? cos_fields : exp_fields);
    if (st == CLG_OK) field_str(L, c, "name", w, 0, &st);
    if (st == CLG_OK) st = field_float(L, c, "initial_learning_rate", w, 1, &initial);
    if (st == CLG_OK) st = field_int(L, c, "decay_steps", w, 1, 1, INT32_MAX, &s->decay_steps);
    if (st != CLG_OK) return st;
    if (cls == 0) {
        s->kind = 1, *lr = initial;
        st = field_float(L, c, "decay_rate", w, 1, &s->decay_rate);
        if (st == CLG_OK) st = field_bool(L, c, "staircase", w, &s->staircase);
        return st;
    }
    float target = 0.0f;
    int has_target = 0;
    s->kind = 2;
    st = field_float(L, c, "alpha", w, 0, &s->alpha);
    if (st == CLG_OK) st = field_opt_float(L, c, "warmup_target", w, &has_target, &target);
    if (st == CLG_OK) st = field_int(L, c, "warmup_steps", w, 0, 0, INT32_MAX, &s->warmup_steps);
    /* Keras: with warmup_target the rate warms up from initial_learning_rate to
     * it and decays from it; without, there is no warm-up (warmup_steps unused) */
    if (has_target) *lr = target, s->warmup_initial = initial;
    else *lr = initial, s->warmup_steps = 0;
    return st;
}

/* compile_config "optimizer": Keras's serialised optimizer (as
 * clg_optimizer_config_json writes it), rebuilt with the clg_optimizer_*
 * constructors and setters. Absent fields take Keras's defaults; Keras's options
 * that clgrad lacks (EMA, loss scaling, gradient accumulation) are accepted at
 * their defaults only. *out is the new optimizer (the caller's), NULL on failure. */
static clg_status read_optimizer(const loader *L, int opt, clg_optimizer **out) {
    static const char *const common[] = {"name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm",
                                         "clipvalue", "use_ema", "ema_momentum", "ema_overwrite_frequency",
                                         "loss_scale_factor", "gradient_accumulation_steps"};
    static const char *const own[OPT_CLASS_COUNT][5] = {
        {"momentum", "nesterov", NULL},
        {"beta_1", "beta_2", "epsilon", "amsgrad", NULL},
        {"beta_1", "beta_2", "epsilon", "amsgrad", NULL},
        {"rho", "momentum", "epsilon", "centered", NULL},
        {"initial_accumulator_value", "epsilon", NULL},
    };
    static const char *const unused[] = {"ema_overwrite_frequency", "loss_scale_factor",
                                         "gradient_accumulation_steps"};
    const char *who = "compile_config \"optimizer\"";
    *out = NULL;
    if (opt < 0 || J(L, opt)->type != J_OBJ)
        return lfail(L, CLG_STATUS_CORRUPT_DATA,
                     "%s must be Keras's serialised optimizer, an object {\"class_name\", \"config\"}", who);
    int cls = 0, c = -1;
    char w[96];
    clg_status st = keras_object(L, opt, who, "keras.optimizers", opt_classes, OPT_CLASS_COUNT, &cls, &c, w, sizeof w);
    if (st != CLG_OK) return st;
    const char *allowed[sizeof common / sizeof *common + 5];
    int na = 0;
    for (size_t i = 0; i < sizeof common / sizeof *common; i++) allowed[na++] = common[i];
    for (const char *const *f = own[cls]; *f; f++) allowed[na++] = *f;
    allowed[na] = NULL;
    if ((st = only_fields(L, c, w, allowed)) != CLG_OK) return st;
    field_str(L, c, "name", w, 0, &st);
    int use_ema = 0;
    if (st == CLG_OK) st = field_bool(L, c, "use_ema", w, &use_ema);
    if (st == CLG_OK && use_ema) st = lfail(L, CLG_STATUS_UNSUPPORTED, "%s: \"use_ema\" true is not supported", w);
    if (st == CLG_OK) st = field_fixed(L, c, "ema_momentum", w, 0.99f);
    for (size_t i = 0; st == CLG_OK && i < sizeof unused / sizeof *unused; i++) st = field_null(L, c, unused[i], w);
    if (st != CLG_OK) return st;

    /* the learning rate: a number or a schedule; Keras's defaults otherwise */
    float lr = cls == OPT_SGD ? 0.01f : 0.001f;
    sched_cfg sc;
    memset(&sc, 0, sizeof sc);
    int lri = jget(L, c, "learning_rate");
    if (lri >= 0 && J(L, lri)->type == J_OBJ) {
        char sw[128];
        snprintf(sw, sizeof sw, "%s \"learning_rate\"", w);
        st = read_schedule(L, lri, sw, &lr, &sc);
    } else {
        st = field_float(L, c, "learning_rate", w, 0, &lr);
    }
    /* weight decay and clipping are null when off (AdamW always has a decay) */
    float wd = cls == OPT_ADAMW ? 0.004f : 0.0f, clip[3] = {0, 0, 0};
    int has_wd = 0, has_clip[3] = {0, 0, 0};
    static const char *const clips[3] = {"clipnorm", "global_clipnorm", "clipvalue"};
    if (st == CLG_OK) st = field_opt_float(L, c, "weight_decay", w, &has_wd, &wd);
    if (st == CLG_OK && cls == OPT_ADAMW && !has_wd && jget(L, c, "weight_decay") >= 0)
        st = lfail(L, CLG_STATUS_CORRUPT_DATA, "%s: \"weight_decay\" must be a number for AdamW, not null", w);
    for (int i = 0; st == CLG_OK && i < 3; i++) st = field_opt_float(L, c, clips[i], w, &has_clip[i], &clip[i]);
    /* the class's own settings (only_fields refused the other classes') */
    float momentum = 0.0f, beta_1 = 0.9f, beta_2 = 0.999f, epsilon = 1e-7f, rho = 0.9f, accumulator = 0.1f;
    int nesterov = 0, amsgrad = 0, centered = 0;
    if (st == CLG_OK) st = field_float(L, c, "momentum", w, 0, &momentum);
    if (st == CLG_OK) st = field_float(L, c, "beta_1", w, 0, &beta_1);
    if (st == CLG_OK) st = field_float(L, c, "beta_2", w, 0, &beta_2);
    if (st == CLG_OK) st = field_float(L, c, "epsilon", w, 0, &epsilon);
    if (st == CLG_OK) st = field_float(L, c, "rho", w, 0, &rho);
    if (st == CLG_OK) st = field_float(L, c, "initial_accumulator_value", w, 0, &accumulator);
    if (st == CLG_OK) st = field_bool(L, c, "nesterov", w, &nesterov);
    if (st == CLG_OK) st = field_bool(L, c, "amsgrad", w, &amsgrad);
    if (st == CLG_OK) st = field_bool(L, c, "centered", w, &centered);
    if (st != CLG_OK) return st;

    /* the constructors and setters check every value and name the bad one */
    clg_optimizer *o = NULL;
    switch ((opt_class)cls) {
    case OPT_SGD: o = clg_optimizer_sgd(lr, momentum, nesterov); break;
    case OPT_ADAM: o = clg_optimizer_adam(lr, beta_1, beta_2, epsilon); break;
    case OPT_ADAMW: o = clg_optimizer_adamw(lr, wd, beta_1, beta_2, epsilon); break;
    case OPT_RMSPROP: o = clg_optimizer_rmsprop(lr, rho, momentum, epsilon, centered); break;
    default: o = clg_optimizer_adagrad(lr, accumulator, epsilon); break;
    }
    if (!o) return lwrap(L, "%s", w);
    if (cls != OPT_ADAMW && wd != 0.0f) st = clg_optimizer_set_weight_decay(o, wd);
    if (st == CLG_OK && amsgrad) st = clg_optimizer_set_amsgrad(o, 1);
    if (st == CLG_OK && has_clip[0]) st = clg_optimizer_set_clipnorm(o, clip[0]);
    if (st == CLG_OK && has_clip[1]) st = clg_optimizer_set_global_clipnorm(o, clip[1]);
    if (st == CLG_OK && has_clip[2]) st = clg_optimizer_set_clipvalue(o, clip[2]);
    if (st == CLG_OK && sc.kind == 1)
        st = clg_optimizer_set_schedule_exponential(o, sc.decay_steps, sc.decay_rate, sc.staircase);
    if (st == CLG_OK && sc.kind == 2)
        st = clg_optimizer_set_schedule_cosine(o, sc.decay_steps, sc.alpha, sc.warmup_steps, sc.warmup_initial);
    if (st != CLG_OK) {
        st = lwrap(L, "%s", w);
        clg_optimizer_free(o);
        return st;
    }
    *out = o;
    return CLG_OK;
}

/* Parses compile_config into L->d, replacing model_config's document (the
 * entries' names die with it: the graph must be complete), and compiles. */
static clg_status apply_compile_config(loader *L, const char *text) {
    L->which = "compile_config";
    jdoc_free(&L->d);
    if (jparse(&L->d, text, strlen(text)) != 0)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "compile_config is not valid JSON: %s at byte %zu", L->d.err,
                     L->d.err_at);
    static const char *const fields[] = {"optimizer", "loss", "metrics", NULL};
    const char *who = "compile_config";
    if (J(L, 0)->type != J_OBJ) return lfail(L, CLG_STATUS_CORRUPT_DATA, "compile_config must be an object");
    clg_status st = only_fields(L, 0, who, fields);
    const char *loss = st == CLG_OK ? field_str(L, 0, "loss", who, 1, &st) : NULL, *metric = NULL;
    int mt = jget(L, 0, "metrics");
    if (st == CLG_OK && mt >= 0 && J(L, mt)->type != J_NULL) {
        const jnode *n = J(L, mt);
        if (n->type != J_ARR || n->count > 1 || (n->count == 1 && J(L, n->first)->type != J_STR))
            return lfail(L, CLG_STATUS_CORRUPT_DATA, "compile_config \"metrics\" must be [] or [\"accuracy\"]");
        if (n->count == 1) metric = J(L, n->first)->str;
    }
    clg_optimizer *opt = NULL;
    if (st == CLG_OK) st = read_optimizer(L, jget(L, 0, "optimizer"), &opt);
    /* the model takes the optimizer, also when compiling fails */
    if (st == CLG_OK && clg_model_compile_optimizer(L->m, opt, loss, metric) != CLG_OK)
        st = lwrap(L, "compile_config");
    return st;
}

/* The state tensor k of the compiled model: the optimizer's, then the RNG counter. */
static clg_tensor *live_state(const clg_model *m, int k, const char **name) {
    int nopt = clg_optimizer_state_count(m->opt);
    *name = k < nopt ? clg_optimizer_state_name(m->opt, k) : RNG_COUNTER_NAME;
    return k < nopt ? clg_optimizer_state_tensor(m->opt, k) : m->rng_counter;
}

/* The file's training state into the compiled model: the tensors named
 * optimizer.* and training.* must be exactly the model's state (names, dtypes,
 * shapes: all of it or none), then the values are written and the epochs done
 * set. A file without training state restores nothing: a fresh optimizer. */
static clg_status restore_training_state(loader *L) {
    clg_model *m = L->m;
    const clg_safetensors *f = L->file;
    const char *ts = clg_safetensors_metadata_get(f, "training_state"), *first = NULL;
    for (size_t i = 0; !first && i < clg_safetensors_count(f); i++)
        if (is_training_name(clg_safetensors_name(f, i))) first = clg_safetensors_name(f, i);
    if (!ts && !first) return CLG_OK;
    if (!m->compiled)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "the file holds training state (%s) but no compile_config",
                     first ? first : "metadata \"training_state\"");
    if (!ts)
        return lfail(L, CLG_STATUS_CORRUPT_DATA,
                     "tensor %s is training state, but the metadata has no \"training_state\"", first);
    L->which = "training_state";
    jdoc_free(&L->d);
    if (jparse(&L->d, ts, strlen(ts)) != 0)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "training_state is not valid JSON: %s at byte %zu", L->d.err,
                     L->d.err_at);
    static const char *const fields[] = {"epochs_done", NULL};
    int epochs = 0;
    if (J(L, 0)->type != J_OBJ)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "training_state must be an object {\"epochs_done\": n}");
    clg_status st = only_fields(L, 0, "training_state", fields);
    if (st == CLG_OK) st = field_int(L, 0, "epochs_done", "training_state", 1, 0, INT_MAX, &epochs);
    if (st != CLG_OK) return st;

    /* every live tensor in the file with its dtype and shape, before any is written */
    const int nlive = clg_optimizer_state_count(m->opt) + (m->rng_counter != NULL);
    for (int k = 0; k < nlive; k++) {
        const char *name;
        const clg_tensor *t = live_state(m, k, &name);
        const clg_safetensors_dtype want =
            clg_tensor_dtype(t) == CLG_INT32 ? CLG_SAFETENSORS_I32 : CLG_SAFETENSORS_F32;
        clg_safetensors_info info;
        if (clg_safetensors_info_get(f, name, &info) != CLG_OK)
            return lfail(L, CLG_STATUS_CORRUPT_DATA,
                         "training state tensor %s is missing (the file has other training state: a partial "
                         "checkpoint, or one of another optimizer)", name);
        int ok = info.dtype == want && info.ndim == clg_tensor_ndim(t);
        for (int q = 0; ok && q < info.ndim; q++) ok = info.shape[q] == clg_tensor_shape(t)[q];
        if (!ok) {
            char a[160] = "(rank > 8)", b[160];
            if (info.ndim <= CLG_MAX_DIMS) clg_shape_format(info.ndim, info.shape, a, sizeof a);
            return lfail(L, CLG_STATUS_SHAPE_MISMATCH,
                         "training state tensor %s is %s %s in the file, the model's is %s %s", name,
                         clg_safetensors_dtype_name(info.dtype), a, clg_safetensors_dtype_name(want),
                         clg_shape_format(clg_tensor_ndim(t), clg_tensor_shape(t), b, sizeof b));
        }
    }
    for (size_t i = 0; i < clg_safetensors_count(f); i++) {
        const char *fname = clg_safetensors_name(f, i), *name;
        int known = !is_training_name(fname);
        for (int k = 0; !known && k < nlive; k++) known = live_state(m, k, &name) && !strcmp(name, fname);
        if (!known)
            return lfail(L, CLG_STATUS_CORRUPT_DATA,
                         "unexpected training state tensor %s (the model compiled from compile_config has no such "
                         "state)", fname);
    }
    /* the values; the learning rate must be compile_config's (both are written from one value) */
    const float config_lr = clg_optimizer_state_count(m->opt) > 0 ? clg_optimizer_get_learning_rate(m->opt) : 0.0f;
    if (isnan(config_lr)) return clg_fail_wrap(clg_last_status(), "clg_model_load: %s", L->path);
    for (int k = 0; st == CLG_OK && k < nlive; k++) {
        const char *name;
        clg_tensor *t = live_state(m, k, &name);
        size_t bytes = (size_t)clg_tensor_numel(t) * clg_dtype_size(clg_tensor_dtype(t));
        void *buf = malloc(bytes + 1);
        if (!buf) return lfail(L, CLG_STATUS_OUT_OF_HOST_MEMORY, "out of host memory");
        st = clg_safetensors_read(f, name, buf, bytes);
        if (st != CLG_OK) st = clg_fail_wrap(st, "clg_model_load: %s", L->path);
        if (st == CLG_OK && !strcmp(name, "optimizer.iterations") && *(int32_t *)buf < 0)
            st = lfail(L, CLG_STATUS_CORRUPT_DATA, "training state tensor %s is %d, a step count below 0", name,
                       (int)*(int32_t *)buf);
        if (st == CLG_OK && !strcmp(name, "optimizer.learning_rate") && memcmp(buf, &config_lr, sizeof config_lr)) {
            float v;
            memcpy(&v, buf, sizeof v);
            st = lfail(L, CLG_STATUS_CORRUPT_DATA,
                       "training state tensor %s is %.9g, compile_config's learning_rate is %.9g", name, (double)v,
                       (double)config_lr);
        }
        if (st == CLG_OK && clg_tensor_write(t, buf, bytes) != CLG_OK)
            st = clg_fail_wrap(clg_last_status(), "clg_model_load: %s: writing %s", L->path, name);
        free(buf);
    }
    if (st == CLG_OK) m->epochs_done = epochs;
    return st;
}

/* Builds L->m on L->ctx from the JSON text of a model_config, with its seed. */
static clg_status build_from_config(loader *L, const char *mc) {
    clg_status st = CLG_OK;
    L->which = "model_config";
    if (jparse(&L->d, mc, strlen(mc)) != 0)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "model_config is not valid JSON: %s at byte %zu", L->d.err,
                     L->d.err_at);
    static const char *const top_fields[] = {"class_name", "config", NULL};
    static const char *const classes[] = {"Sequential", "Functional"};
    if (J(L, 0)->type != J_OBJ) return lfail(L, CLG_STATUS_CORRUPT_DATA, "model_config must be an object");
    int cls = 0, cfg = jget(L, 0, "config");
    if ((st = only_fields(L, 0, "model_config", top_fields)) != CLG_OK ||
        (st = field_choice(L, 0, "class_name", "model_config", 1, classes, 2, &cls)) != CLG_OK)
        return st;
    if (cfg < 0 || J(L, cfg)->type != J_OBJ)
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "model_config: \"config\" must be an object");
    clg_status nst;
    field_str(L, cfg, "name", "model_config", 0, &nst);
    if (nst != CLG_OK) return nst;
    uint64_t seed = 0;
    int si = jget(L, cfg, "seed");
    if (si >= 0) {
        const jnode *n = J(L, si);
        int ok = n->type == J_NUM && n->len <= 20;
        for (size_t k = 0; ok && k < n->len; k++) ok = is_digit(L->d.text[n->off + k]);
        char t[24] = "", b[48];
        if (ok) memcpy(t, L->d.text + n->off, n->len), t[n->len] = 0;
        unsigned long long v = ok ? strtoull(t, NULL, 10) : 0;
        ok = ok && (n->len < 20 || strcmp(t, "18446744073709551615") <= 0);
        if (!ok)
            return lfail(L, CLG_STATUS_CORRUPT_DATA, "model_config: \"seed\" must be an integer in [0, 2^64), got %s",
                         jshow(L, si, b, sizeof b));
        seed = v;
    }
    st = cls ? build_functional(L, cfg) : build_sequential(L, cfg);
    if (st != CLG_OK) return st;
    continue_names(L->m);
    /* the seed first: it marks the weights for drawing again */
    if ((st = clg_model_set_seed(L->m, seed)) != CLG_OK) return st;
    return CLG_OK;
}

static clg_status load_model(loader *L) {
    const char *mc = clg_safetensors_metadata_get(L->file, "model_config");
    const char *format = clg_safetensors_metadata_get(L->file, "format");
    if (!mc)
        return lfail(L, CLG_STATUS_INVALID_ARGUMENT,
                     "this file holds weights only (no model_config in its metadata): build the model in code and "
                     "use clg_model_load_weights");
    if (!format || strcmp(format, "clgrad"))
        return lfail(L, CLG_STATUS_CORRUPT_DATA, "metadata \"format\" is \"%s\", not \"clgrad\"",
                     format ? format : "(absent)");
    clg_status st = build_from_config(L, mc);
    if (st != CLG_OK) return st;
    if ((st = check_weight_shapes(L)) != CLG_OK) return st;
    /* Compile before reading the weights: compile creates them (and may draw
     * them again), so whatever it does, the file's values are the last word. */
    const char *cc = clg_safetensors_metadata_get(L->file, "compile_config");
    if (cc && (st = apply_compile_config(L, cc)) != CLG_OK) return st;
    if (clg_model_load_weights(L->m, L->path) != CLG_OK)
        return clg_fail_wrap(clg_last_status(), "clg_model_load: %s", L->path);
    return restore_training_state(L);
}

clg_model *clg_nn_model_rebuild(const clg_model *m, clg_context *ctx, const char *what) {
    clg_strbuf mc = {0};
    write_model_config(&mc, m);
    if (mc.oom) {
        free(mc.s);
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: out of host memory", what);
        return NULL;
    }
    loader L;
    memset(&L, 0, sizeof L);
    L.path = what, L.ctx = ctx;
    clg_status st = build_from_config(&L, mc.s);
    clg_model *r = L.m;
    loader_free(&L);
    free(mc.s);
    if (st != CLG_OK) {
        clg_error_saved saved;
        clg_error_save(&saved);
        clg_model_free(r);
        clg_error_restore(&saved);
        return NULL;
    }
    return r;
}

clg_model *clg_model_load(clg_context *ctx, const char *path) {
    const char *api = "clg_model_load";
    if (!ctx || !path) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: context or path is NULL", api);
        return NULL;
    }
    loader L;
    memset(&L, 0, sizeof L);
    L.path = path, L.ctx = ctx;
    clg_safetensors *f = NULL;
    if (clg_safetensors_open(path, &f) != CLG_OK) {
        clg_fail_wrap(clg_last_status(), "%s", api);
        return NULL;
    }
    L.file = f;
    clg_status st = load_model(&L);
    clg_model *m = L.m;
    loader_free(&L);
    clg_safetensors_free(f);
    if (st != CLG_OK) {
        clg_error_saved saved;
        clg_error_save(&saved); /* freeing must not hide the reason */
        clg_model_free(m);
        clg_error_restore(&saved);
        return NULL;
    }
    return m;
}
