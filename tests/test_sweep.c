/* The bad-argument sweep (issue 10): every public function (CLG_API in the
 * headers in include/clgrad) is called with the classic bad inputs that apply to it:
 * NULL pointers, zero-sized and negative dimensions, rank and dtype mismatches,
 * element counts that overflow 64 bits, axes out of range, zero or negative
 * strides, padding and dilation, empty models, labels out of range. Each call
 * must fail with the expected status and a message that names the function
 * (constructors return NULL); nothing may crash or leak, and after each
 * function's group of bad calls a small valid operation must still give the
 * right values.
 *
 * The table below has one entry per function. test_coverage reads the public
 * headers at run time (CLGRAD_INCLUDE_DIR) and fails, naming the function, for
 * any CLG_API function that is neither in the table nor in the exemption list
 * (and for entries naming functions that no longer exist), so a new public
 * function must be added here.
 *
 * Failures are collected rather than stopping at the first, one line each
 * ("sweep: clg_add (line N): ..."), so one run shows every finding.
 * SWEEP_VERBOSE=1 prints every bad call with its status and message. */
#include "fixture.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- checking ---------------------------------------------------------------------- */

#define ANY ((clg_status)-1) /* any failure status will do */
#define INV CLG_STATUS_INVALID_ARGUMENT
#define SHP CLG_STATUS_SHAPE_MISMATCH
#define OVF CLG_STATUS_SIZE_OVERFLOW
#define NOTF CLG_STATUS_NOT_FOUND
#define UNS CLG_STATUS_UNSUPPORTED
#define S(...) ((const int64_t[]){__VA_ARGS__})

static clg_context *g_ctx;
static const char *g_fn;    /* the function being swept */
static const char *g_alias; /* another name its messages may use (a documented family name) */
static int g_failures, g_calls, g_verbose;
static char g_tmp[512];      /* a scratch directory for file arguments */

static void sweep_fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sweep_fail(int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sweep: %s (line %d): ", g_fn ? g_fn : "?", line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    g_failures++;
}

/* The message after a failed call: non-empty, naming the function (or its alias)
 * and, if sub is given, containing sub (the offending value). */
static void check_message(const char *what, int line, const char *sub) {
    const char *msg = clg_last_error();
    if (g_verbose) fprintf(stderr, "  %-60.60s -> %s: %s\n", what, clg_status_name(clg_last_status()), msg);
    if (!msg || !*msg) {
        sweep_fail(line, "%s: failed with an empty message", what);
        return;
    }
    if (!strstr(msg, g_fn) && !(g_alias && strstr(msg, g_alias)))
        sweep_fail(line, "%s: message does not name %s: \"%s\"", what, g_alias ? g_alias : g_fn, msg);
    if (sub && !strstr(msg, sub)) sweep_fail(line, "%s: message lacks \"%s\": \"%s\"", what, sub, msg);
}

static void check_status(clg_status got, clg_status want, const char *what, int line, const char *sub) {
    g_calls++;
    if (got == CLG_OK) {
        sweep_fail(line, "%s: succeeded, expected %s", what, want == ANY ? "a failure" : clg_status_name(want));
        return;
    }
    if (want != ANY && got != want)
        sweep_fail(line, "%s: returned %s, expected %s (%s)", what, clg_status_name(got), clg_status_name(want),
                   clg_last_error());
    if (clg_last_status() != got)
        sweep_fail(line, "%s: returned %s but recorded %s", what, clg_status_name(got),
                   clg_status_name(clg_last_status()));
    check_message(what, line, sub);
}

/* A constructor's result: made is whether it returned an object. */
static void check_null(int made, clg_status want, const char *what, int line, const char *sub) {
    g_calls++;
    if (made) {
        sweep_fail(line, "%s: returned an object, expected NULL with %s", what,
                   want == ANY ? "a failure" : clg_status_name(want));
        return;
    }
    clg_status got = clg_last_status();
    if (got == CLG_OK) {
        sweep_fail(line, "%s: returned NULL without recording a failure", what);
        return;
    }
    if (want != ANY && got != want)
        sweep_fail(line, "%s: recorded %s, expected %s (%s)", what, clg_status_name(got), clg_status_name(want),
                   clg_last_error());
    check_message(what, line, sub);
}

/* XS: a call returning clg_status must fail with want; XT: a call returning a
 * tensor must return NULL with want (a tensor returned by mistake is freed); XO:
 * the same for another object type, freed with freefn. The _M forms also want
 * sub in the message. */
#define XSM(want, call, sub)                                         \
    do {                                                             \
        clg_clear_error();                                           \
        clg_status xs_ = (call);                                     \
        check_status(xs_, (want), #call, __LINE__, (sub));           \
    } while (0)
#define XS(want, call) XSM(want, call, NULL)
#define XTM(want, call, sub)                                         \
    do {                                                             \
        clg_clear_error();                                           \
        clg_tensor *xt_ = (call);                                    \
        check_null(xt_ != NULL, (want), #call, __LINE__, (sub));     \
        clg_tensor_free(xt_);                                        \
    } while (0)
#define XT(want, call) XTM(want, call, NULL)
#define XOM(want, call, freefn, sub)                                 \
    do {                                                             \
        clg_clear_error();                                           \
        void *xo_ = (void *)(call);                                  \
        check_null(xo_ != NULL, (want), #call, __LINE__, (sub));     \
        if (xo_) freefn(xo_);                                        \
    } while (0)
#define XO(want, call, freefn) XOM(want, call, freefn, NULL)
/* A plain condition (sentinel results of accessors, outputs left NULL). */
#define CHK(cond)                                                    \
    do {                                                             \
        g_calls++;                                                   \
        if (!(cond)) sweep_fail(__LINE__, "expected %s", #cond);     \
    } while (0)
/* A bad call of another function than the entry's: its messages name that one. */
#define AS(name, stmt)                   \
    do {                                 \
        const char *as_ = g_alias;       \
        g_alias = (name);                \
        stmt;                            \
        g_alias = as_;                   \
    } while (0)
/* A call that must succeed (setting up the next bad call). */
#define OK(call)                                                                               \
    do {                                                                                       \
        clg_status ok_ = (call);                                                               \
        if (ok_ != CLG_OK) sweep_fail(__LINE__, "setup %s failed: %s", #call, clg_last_error()); \
    } while (0)

/* --- fixtures ---------------------------------------------------------------------- */

/* float32 tensor of the given shape with values in [-1, 1). */
static clg_tensor *ft(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    float *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    clg_test_random_floats(h, (size_t)n, (uint32_t)n);
    clg_tensor *t = clg_tensor_from_host(g_ctx, CLG_FLOAT32, ndim, shape, h);
    free(h);
    if (!t) fail_msg("fixture tensor: %s", clg_last_error());
    return t;
}
/* int32 tensor of the given shape, every element v. */
static clg_tensor *it(int ndim, const int64_t *shape, int v) {
    clg_tensor *t = clg_tensor_full(g_ctx, CLG_INT32, ndim, shape, v);
    if (!t) fail_msg("fixture tensor: %s", clg_last_error());
    return t;
}
static float read1(const clg_tensor *t) {
    float v = NAN;
    if (clg_tensor_to_host(t, &v, sizeof v) != CLG_OK) sweep_fail(__LINE__, "read: %s", clg_last_error());
    return v;
}

static char *tmp_path(const char *name) {
    static char buf[4][600];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", g_tmp, name);
    return p;
}

/* A small valid operation after each group of bad calls: the context must still
 * compute the right values. */
static void check_usable(void) {
    float host[3] = {1, 2, 3}, out[3] = {0};
    clg_tensor *x = clg_tensor_from_host(g_ctx, CLG_FLOAT32, 1, S(3), host);
    clg_tensor *a = x ? clg_add_scalar(x, 1.0f) : NULL;
    clg_tensor *y = a ? clg_mul_scalar(a, 2.0f) : NULL; /* a lazy chain */
    clg_tensor *s = y ? clg_sum(y, 0, NULL, 0) : NULL;
    int ok = y && s && clg_tensor_to_host(y, out, sizeof out) == CLG_OK && out[0] == 4 && out[1] == 6 &&
             out[2] == 8 && read1(s) == 18.0f;
    if (!ok) sweep_fail(__LINE__, "context unusable after the bad calls: %s", clg_last_error());
    clg_tensor_free(s), clg_tensor_free(y), clg_tensor_free(a), clg_tensor_free(x);
}

/* --- the sweep, by header ------------------------------------------------------------ */

typedef struct sweep_entry sweep_entry;
struct sweep_entry {
    const char *name;
    void (*run)(const sweep_entry *e);
    void (*fn)(void);  /* the function itself, for the shared runners */
    const char *alias; /* a name its messages use instead (documented as one family) */
};
#define E(f, runner) {#f, runner, (void (*)(void))f, NULL}
#define EA(f, runner, alias) {#f, runner, (void (*)(void))f, alias}

/* status.h ---------------------------------------------------------------------------- */

static void sw_status_lookup(const sweep_entry *e) {
    const char *(*f)(clg_status) = (const char *(*)(clg_status))e->fn;
    const char *a = f((clg_status)-7), *b = f(CLG_STATUS_COUNT_), *c = f((clg_status)100000);
    CHK(a && *a && b && *b && c && *c);
    CHK(f(CLG_STATUS_NOT_FOUND) && strcmp(f(CLG_STATUS_NOT_FOUND), a) != 0);
}

/* runtime.h ----------------------------------------------------------------------------- */

static void sw_devices_query(const sweep_entry *e) {
    (void)e;
    clg_device_info *list = NULL;
    size_t n = 0;
    XS(INV, clg_devices_query(NULL, &n));
    XS(INV, clg_devices_query(&list, NULL));
    CHK(list == NULL);
}
static void sw_device_rank(const sweep_entry *e) {
    (void)e;
    CHK(clg_device_rank(NULL) == 0.0);
    clg_device_info d;
    memset(&d, 0, sizeof d);
    d.type = (clg_device_type)99, d.available = 1, d.compute_units = UINT32_MAX, d.clock_mhz = UINT32_MAX;
    double r = clg_device_rank(&d);
    CHK(isfinite(r) && r >= 0);
}
static void sw_device_select(const sweep_entry *e) {
    (void)e;
    const clg_device_info *one = clg_context_device(g_ctx);
    size_t c = 12345;
    XS(INV, clg_device_select(NULL, 1, NULL, &c));
    XS(INV, clg_device_select(one, 1, NULL, NULL));
    XS(CLG_STATUS_NO_DEVICE, clg_device_select(one, 0, NULL, &c));
    XSM(CLG_STATUS_NO_DEVICE, clg_device_select(one, 1, "no-such-device-xyz", &c), "no-such-device-xyz");
    XS(CLG_STATUS_NO_DEVICE, clg_device_select(one, 1, "7:9", &c));
    XS(CLG_STATUS_NO_DEVICE, clg_device_select(one, 1, "-1:-1", &c));
    XS(CLG_STATUS_NO_DEVICE, clg_device_select(one, 1, "99999999999999999999:0", &c));
    CHK(c == 12345);
}
static void sw_device_select_many(const sweep_entry *e) {
    (void)e;
    const clg_device_info *one = clg_context_device(g_ctx);
    size_t c[2] = {12345, 12345}, n = 777;
    XS(INV, clg_device_select_many(NULL, 1, "all", c, &n));
    XS(INV, clg_device_select_many(one, 1, NULL, c, &n));
    XS(INV, clg_device_select_many(one, 1, "all", NULL, &n));
    XS(INV, clg_device_select_many(one, 1, "all", c, NULL));
    XS(CLG_STATUS_NO_DEVICE, clg_device_select_many(one, 0, "all", c, &n));
    XSM(CLG_STATUS_NO_DEVICE, clg_device_select_many(one, 1, "all,no-such-device-xyz", c, &n), "no-such-device-xyz");
    XS(CLG_STATUS_NO_DEVICE, clg_device_select_many(one, 1, "7:9", c, &n));
    XS(CLG_STATUS_NO_DEVICE, clg_device_select_many(one, 1, ",,", c, &n));
    CHK(n == 0);
}
static void sw_device_type_name(const sweep_entry *e) {
    (void)e;
    const char *a = clg_device_type_name((clg_device_type)0), *b = clg_device_type_name((clg_device_type)-3),
               *c = clg_device_type_name((clg_device_type)1000);
    CHK(a && b && c && *a && *b && *c);
}
static void sw_context_new(const sweep_entry *e) {
    (void)e;
    clg_context_options o = clg_context_options_default();
    o.device = "no-such-device-xyz";
    XOM(CLG_STATUS_NO_DEVICE, clg_context_new(&o), clg_context_free, "no-such-device-xyz");
    o.device = "42:42";
    XO(CLG_STATUS_NO_DEVICE, clg_context_new(&o), clg_context_free);
}
static void sw_context_device(const sweep_entry *e) { (void)e; CHK(clg_context_device(NULL) == NULL); }
static void sw_context_device_count(const sweep_entry *e) { (void)e; CHK(clg_context_device_count(NULL) == 0); }
static void sw_model_device_split(const sweep_entry *e) {
    (void)e;
    int64_t rows[2] = {-7, -7};
    CHK(clg_model_device_split(NULL, rows, 2) == 0 && clg_model_device_split(NULL, NULL, 0) == 0 && rows[0] == -7);
}
static void sw_context_device_at(const sweep_entry *e) {
    (void)e;
    CHK(clg_context_device_at(NULL, 0) == NULL && clg_context_device_at(g_ctx, -1) == NULL &&
        clg_context_device_at(g_ctx, clg_context_device_count(g_ctx)) == NULL);
}
static void sw_context_finish(const sweep_entry *e) { (void)e; XS(INV, clg_context_finish(NULL)); }
static void sw_context_get_limits(const sweep_entry *e) {
    (void)e;
    clg_context_limits l = clg_context_get_limits(NULL);
    CHK(l.max_work_group_size == 0 && l.max_alloc_bytes == 0);
}
static void sw_context_get_stats(const sweep_entry *e) {
    (void)e;
    clg_context_stats s = clg_context_get_stats(NULL);
    CHK(s.bytes_in_use == 0 && s.programs_built == 0);
}
static void sw_context_void(const sweep_entry *e) {
    void (*f)(clg_context *) = (void (*)(clg_context *))e->fn;
    f(NULL); /* a no-op */
    g_calls++; /* (reaching here is the check: no crash) */
}
static void sw_context_cache_dir(const sweep_entry *e) {
    (void)e;
    const char *d = clg_context_cache_dir(NULL);
    CHK(d != NULL && *d == '\0');
}
static void sw_profile_start(const sweep_entry *e) {
    (void)e;
    XS(INV, clg_profile_start(NULL));
    /* The shared context's queue has no profiling (unless CLGRAD_PROFILE=1). */
    if (!getenv("CLGRAD_PROFILE")) XS(UNS, clg_profile_start(g_ctx));
}
static void sw_profile_stop(const sweep_entry *e) {
    (void)e;
    clg_profile_entry *rows = NULL;
    size_t n = 0;
    XS(INV, clg_profile_stop(NULL, &rows, &n));
    XS(INV, clg_profile_stop(g_ctx, NULL, &n));
    XS(INV, clg_profile_stop(g_ctx, &rows, NULL));
    if (!getenv("CLGRAD_PROFILE")) XS(ANY, clg_profile_stop(g_ctx, &rows, &n)); /* never started */
    CHK(rows == NULL);
}
static void sw_profile_print(const sweep_entry *e) {
    (void)e;
    FILE *f = tmpfile();
    clg_profile_entry row;
    memset(&row, 0, sizeof row);
    row.count = 1, row.total_ms = row.min_ms = row.max_ms = 1.0;
    clg_profile_print(NULL, &row, 1, 1);   /* no stream: nothing */
    clg_profile_print(f, NULL, 3, 1);       /* no rows but a count */
    clg_profile_print(f, &row, 1, 0);       /* steps 0 */
    clg_profile_print(f, &row, 1, -5);
    clg_profile_print(f, &row, 1, NAN);
    memset(&row, 0, sizeof row);            /* zero time: no division by zero */
    clg_profile_print(f, &row, 1, 1);
    g_calls += 6; /* (reaching here is the check: no crash) */
    if (f) fclose(f);
}
static void sw_store_get(const sweep_entry *e) {
    (void)e;
    char buf[64], key[400];
    memset(key, 'k', sizeof key - 1), key[sizeof key - 1] = '\0';
    XS(INV, clg_store_get(NULL, "k", buf, sizeof buf));
    XS(INV, clg_store_get(g_ctx, NULL, buf, sizeof buf));
    XS(INV, clg_store_get(g_ctx, "k", NULL, sizeof buf));
    XS(INV, clg_store_get(g_ctx, "k", buf, 0));
    /* Keys that clg_store_set refuses are simply absent. */
    XS(ANY, clg_store_get(g_ctx, "", buf, sizeof buf));
    XS(ANY, clg_store_get(g_ctx, key, buf, sizeof buf));
    XS(ANY, clg_store_get(g_ctx, "a\nb", buf, sizeof buf));
    XS(NOTF, clg_store_get(g_ctx, "sweep.no-such-key", buf, sizeof buf));
}
static void sw_store_set(const sweep_entry *e) {
    (void)e;
    /* A memory-only context of its own: a bad key that the library wrongly took
     * must not land in the machine's cache directory. */
    clg_context *ctx = clg_test_context_in(g_tmp, 0);
    char key[400], *value = malloc(5000);
    memset(key, 'k', sizeof key - 1), key[sizeof key - 1] = '\0';
    memset(value, 'v', 4999), value[4999] = '\0';
    XS(INV, clg_store_set(NULL, "sweep.k", "v"));
    XS(INV, clg_store_set(ctx, NULL, "v"));
    XS(INV, clg_store_set(ctx, "sweep.k", NULL));
    XS(INV, clg_store_set(ctx, "", "v"));
    XS(INV, clg_store_set(ctx, key, "v"));
    XS(INV, clg_store_set(ctx, "sweep.k", value));
    XS(INV, clg_store_set(ctx, "sweep\nk", "v"));
    XS(INV, clg_store_set(ctx, "sweep.k", "a\nb"));
    XS(INV, clg_store_set(ctx, "sweep\tk", "v"));
    free(value);
    clg_context_free(ctx);
}
static void sw_event_record(const sweep_entry *e) { (void)e; XO(INV, clg_event_record(NULL), clg_event_free); }
static void sw_event_wait(const sweep_entry *e) {
    (void)e;
    clg_event *ev = clg_event_record(g_ctx);
    XS(INV, clg_event_wait(NULL, ev));
    XS(INV, clg_event_wait(g_ctx, NULL));
    clg_event_free(ev);
}
static void sw_event_synchronize(const sweep_entry *e) { (void)e; XS(INV, clg_event_synchronize(NULL)); }
static void sw_event_done(const sweep_entry *e) { (void)e; CHK(clg_event_done(NULL) == -1); }

/* tensor.h -------------------------------------------------------------------------------- */

static const int64_t big_shape[2] = {(int64_t)1 << 40, (int64_t)1 << 40}; /* 2^80 elements */

static void sw_dtype_lookup(const sweep_entry *e) {
    (void)e;
    CHK(clg_dtype_size((clg_dtype)99) == 0 && clg_dtype_size((clg_dtype)-1) == 0);
    const char *a = clg_dtype_name((clg_dtype)99), *b = clg_dtype_name((clg_dtype)-1);
    CHK(a && b && strcmp(a, "float32") != 0);
}
/* The shape checks every creator shares; make(ctx, dtype, ndim, shape) wraps it. */
typedef clg_tensor *(*maker)(const sweep_entry *e, clg_context *ctx, clg_dtype dt, int ndim, const int64_t *shape);
static void sweep_shapes(const sweep_entry *e, maker make, int dtypes) {
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    XT(INV, make(e, NULL, CLG_FLOAT32, 2, S(2, 3)));
    XT(INV, make(e, g_ctx, CLG_FLOAT32, -1, S(2, 3)));
    XTM(INV, make(e, g_ctx, CLG_FLOAT32, 9, nine), "9");
    XT(INV, make(e, g_ctx, CLG_FLOAT32, 2, NULL));
    XTM(INV, make(e, g_ctx, CLG_FLOAT32, 2, S(2, -3)), "-3");
    XT(INV, make(e, g_ctx, CLG_FLOAT32, 1, S(INT64_MIN)));
    XT(OVF, make(e, g_ctx, CLG_FLOAT32, 2, big_shape));
    XT(OVF, make(e, g_ctx, CLG_FLOAT32, 3, S(INT64_MAX, 2, 2)));
    XT(OVF, make(e, g_ctx, CLG_FLOAT32, 1, S(INT64_MAX))); /* elements fit, bytes do not */
    if (dtypes) XTM(INV, make(e, g_ctx, (clg_dtype)99, 2, S(2, 3)), "99");
}
static clg_tensor *mk_empty(const sweep_entry *e, clg_context *c, clg_dtype dt, int nd, const int64_t *s) {
    (void)e;
    return clg_tensor_empty(c, dt, nd, s);
}
static clg_tensor *mk_zeros(const sweep_entry *e, clg_context *c, clg_dtype dt, int nd, const int64_t *s) {
    (void)e;
    return clg_tensor_zeros(c, dt, nd, s);
}
static clg_tensor *mk_ones(const sweep_entry *e, clg_context *c, clg_dtype dt, int nd, const int64_t *s) {
    (void)e;
    return clg_tensor_ones(c, dt, nd, s);
}
static clg_tensor *mk_full(const sweep_entry *e, clg_context *c, clg_dtype dt, int nd, const int64_t *s) {
    (void)e;
    return clg_tensor_full(c, dt, nd, s, 2.5);
}
static const float host6[64] = {1, 2, 3, 4, 5, 6};
static clg_tensor *mk_from_host(const sweep_entry *e, clg_context *c, clg_dtype dt, int nd, const int64_t *s) {
    (void)e;
    return clg_tensor_from_host(c, dt, nd, s, host6);
}
static clg_tensor *mk_uniform(const sweep_entry *e, clg_context *c, clg_dtype dt, int nd, const int64_t *s) {
    (void)e, (void)dt;
    return clg_tensor_rand_uniform(c, nd, s, 0, 1, 1, 0);
}
static clg_tensor *mk_normal(const sweep_entry *e, clg_context *c, clg_dtype dt, int nd, const int64_t *s) {
    (void)e, (void)dt;
    return clg_tensor_rand_normal(c, nd, s, 0, 1, 1, 0);
}
static clg_tensor *mk_bits(const sweep_entry *e, clg_context *c, clg_dtype dt, int nd, const int64_t *s) {
    (void)e, (void)dt;
    return clg_tensor_rand_bits(c, nd, s, 1, 0);
}
static clg_tensor *mk_counter(const sweep_entry *e, clg_context *c, clg_dtype dt, int nd, const int64_t *s) {
    (void)e, (void)dt;
    clg_tensor *counter = clg_tensor_zeros(g_ctx, CLG_INT32, 1, S(2));
    clg_tensor *t = clg_tensor_rand_uniform_counter(c, nd, s, 0, 1, 1, counter);
    clg_tensor_free(counter);
    return t;
}
static void sw_empty(const sweep_entry *e) {
    sweep_shapes(e, mk_empty, 1);
    /* Zero elements, but the other extents' product overflows: valid, and no
     * stride arithmetic may overflow (UBSan) in it or in views of it. */
    const int64_t huge0[4] = {UINT32_MAX, UINT32_MAX, UINT32_MAX, 0};
    clg_tensor *z = clg_tensor_empty(g_ctx, CLG_FLOAT32, 4, huge0);
    CHK(z && clg_tensor_numel(z) == 0);
    clg_tensor *views[4] = {clg_tensor_transpose(z, 0, 3), clg_tensor_slice(z, 1, 5, 9, 2),
                            clg_tensor_reshape(z, 2, S(0, 7)), clg_tensor_contiguous(z)};
    for (int i = 0; i < 4; i++) {
        CHK(views[i] && clg_tensor_numel(views[i]) == 0);
        clg_tensor_free(views[i]);
    }
    clg_tensor *flat = clg_tensor_reshape(z, 1, S(-1));
    CHK(flat && clg_tensor_shape(flat)[0] == 0);
    clg_tensor_free(flat);
    /* Ops on it: empty results, or (a reduction over the zero axis would have
     * 2^96 elements) a failure, never an overflow. */
    clg_tensor *r[4] = {clg_neg(z), clg_add(z, z), clg_softmax(z, 1), clg_sum(z, 0, NULL, 0)};
    for (int i = 0; i < 4; i++) {
        CHK(r[i] && clg_tensor_eval(r[i]) == CLG_OK && clg_tensor_numel(r[i]) == (i == 3));
        clg_tensor_free(r[i]);
    }
    AS("clg_sum", XT(OVF, clg_sum(z, 1, (const int[]){3}, 0)));
    AS("clg_max", XT(INV, clg_max(z, 1, (const int[]){3}, 1)));
    clg_tensor_free(z);
}
static void sw_zeros(const sweep_entry *e) { sweep_shapes(e, mk_zeros, 1); }
static void sw_ones(const sweep_entry *e) { sweep_shapes(e, mk_ones, 1); }
static void sw_full(const sweep_entry *e) {
    sweep_shapes(e, mk_full, 1); /* (values out of an integer dtype's range saturate, by design) */
}
static void sw_from_host(const sweep_entry *e) {
    sweep_shapes(e, mk_from_host, 1);
    XT(INV, clg_tensor_from_host(g_ctx, CLG_FLOAT32, 2, S(2, 3), NULL));
}
static void sw_arange(const sweep_entry *e) {
    (void)e;
    XT(INV, clg_tensor_arange(NULL, CLG_FLOAT32, 0, 5, 1));
    XT(INV, clg_tensor_arange(g_ctx, CLG_FLOAT32, 0, 5, 0));
    XT(INV, clg_tensor_arange(g_ctx, CLG_FLOAT32, NAN, 5, 1));
    XT(INV, clg_tensor_arange(g_ctx, CLG_FLOAT32, 0, INFINITY, 1));
    XT(INV, clg_tensor_arange(g_ctx, CLG_FLOAT32, 0, 5, NAN));
    XT(ANY, clg_tensor_arange(g_ctx, (clg_dtype)99, 0, 5, 1));
    XT(ANY, clg_tensor_arange(g_ctx, CLG_FLOAT32, 0, 1e300, 1e-300)); /* count beyond int64 */
    XT(ANY, clg_tensor_arange(g_ctx, CLG_FLOAT32, 0, 1e30, 1));
}
static void sw_rand(const sweep_entry *e) {
    maker m = e->fn == (void (*)(void))clg_tensor_rand_uniform  ? mk_uniform
              : e->fn == (void (*)(void))clg_tensor_rand_normal ? mk_normal
              : e->fn == (void (*)(void))clg_tensor_rand_bits   ? mk_bits
                                                                 : mk_counter;
    sweep_shapes(e, m, 0);
    if (m == mk_uniform) {
        XT(INV, clg_tensor_rand_uniform(g_ctx, 1, S(4), 1, 0, 1, 0)); /* low > high */
        XT(INV, clg_tensor_rand_uniform(g_ctx, 1, S(4), NAN, 1, 1, 0));
        XT(INV, clg_tensor_rand_uniform(g_ctx, 1, S(4), 0, INFINITY, 1, 0));
    }
    if (m == mk_normal) {
        XT(INV, clg_tensor_rand_normal(g_ctx, 1, S(4), 0, -1, 1, 0));
        XT(INV, clg_tensor_rand_normal(g_ctx, 1, S(4), NAN, 1, 1, 0));
    }
    if (m == mk_counter) {
        clg_tensor *c3 = it(1, S(3), 0), *f2 = ft(1, S(2));
        XT(INV, clg_tensor_rand_uniform_counter(g_ctx, 1, S(4), 0, 1, 1, NULL));
        XT(INV, clg_tensor_rand_uniform_counter(g_ctx, 1, S(4), 0, 1, 1, c3));
        XT(INV, clg_tensor_rand_uniform_counter(g_ctx, 1, S(4), 1, 0, 1, f2)); /* float counter */
        clg_tensor_free(c3), clg_tensor_free(f2);
    }
}
static void sw_tensor_accessors(const sweep_entry *e) {
    (void)e;
    CHK(clg_tensor_ndim(NULL) == 0);
    CHK(clg_tensor_shape(NULL) == NULL);
    CHK(clg_tensor_strides(NULL) == NULL);
    CHK(clg_tensor_offset(NULL) == 0);
    CHK(clg_tensor_numel(NULL) == 0);
    CHK(clg_tensor_context(NULL) == NULL);
    CHK(clg_tensor_is_contiguous(NULL) == 0);
    CHK(clg_tensor_name(NULL) != NULL && *clg_tensor_name(NULL) == '\0');
    (void)clg_tensor_dtype(NULL);
}
static void sw_tensor_set_name(const sweep_entry *e) {
    (void)e;
    XS(INV, clg_tensor_set_name(NULL, "x"));
}
static void sw_shape_format(const sweep_entry *e) {
    (void)e;
    char buf[64] = "x";
    CHK(clg_shape_format(2, S(2, 3), NULL, 10) == NULL);
    CHK(clg_shape_format(2, S(2, 3), buf, 0) == buf && buf[0] == 'x');
    CHK(strcmp(clg_shape_format(2, NULL, buf, sizeof buf), "[]") == 0);
    CHK(strcmp(clg_shape_format(-4, S(2, 3), buf, sizeof buf), "[]") == 0);
    clg_shape_format(2, S(INT64_MIN, INT64_MAX), buf, 4); /* truncated, terminated */
    CHK(strlen(buf) < 4);
}
static void sw_to_host(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3));
    float out[6];
    XS(INV, clg_tensor_to_host(NULL, out, sizeof out));
    XS(INV, clg_tensor_to_host(x, NULL, sizeof out));
    XSM(INV, clg_tensor_to_host(x, out, sizeof out - 1), "23");
    XS(INV, clg_tensor_to_host(x, out, 0));
    /* Reading during a step capture is an error (it would not be replayed). */
    OK(clg_step_capture_begin(g_ctx));
    XS(ANY, clg_tensor_to_host(x, out, sizeof out));
    clg_step_free(clg_step_capture_end(g_ctx));
    clg_tensor_free(x);
}
static void sw_write(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *xt = clg_tensor_transpose(x, 0, 1);
    float in[6] = {0};
    XS(INV, clg_tensor_write(NULL, in, sizeof in));
    XS(INV, clg_tensor_write(x, NULL, sizeof in));
    XSM(INV, clg_tensor_write(x, in, sizeof in - 4), "20");
    XS(ANY, clg_tensor_write(xt, in, sizeof in)); /* not contiguous */
    clg_tensor_free(xt), clg_tensor_free(x);
}
static void sw_assign(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *y = ft(2, S(3, 2)), *i = it(2, S(2, 3), 1), *b = ft(1, S(3));
    XS(INV, clg_tensor_assign(NULL, x));
    XS(INV, clg_tensor_assign(x, NULL));
    XSM(SHP, clg_tensor_assign(x, y), "[3,2]");
    XS(SHP, clg_tensor_assign(x, b));
    XS(ANY, clg_tensor_assign(x, i));
    clg_tensor_free(x), clg_tensor_free(y), clg_tensor_free(i), clg_tensor_free(b);
}
static void sw_contiguous(const sweep_entry *e) { (void)e; XT(INV, clg_tensor_contiguous(NULL)); }
static void sw_print(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3));
    FILE *f = tmpfile();
    XS(INV, clg_tensor_print(NULL, f, 0));
    XS(INV, clg_tensor_print(x, NULL, 0));
    if (f) fclose(f);
    clg_tensor_free(x);
}
static void sw_reshape(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *z = clg_tensor_zeros(g_ctx, CLG_FLOAT32, 2, S(0, 3));
    int64_t nine[9] = {6, 1, 1, 1, 1, 1, 1, 1, 1};
    XT(INV, clg_tensor_reshape(NULL, 1, S(6)));
    XT(INV, clg_tensor_reshape(x, -1, S(6)));
    XT(INV, clg_tensor_reshape(x, 9, nine));
    XT(INV, clg_tensor_reshape(x, 1, NULL));
    XTM(SHP, clg_tensor_reshape(x, 2, S(4, 2)), "[4,2]");
    XT(INV, clg_tensor_reshape(x, 2, S(-1, -1)));
    XT(INV, clg_tensor_reshape(x, 2, S(-2, -3)));
    XT(ANY, clg_tensor_reshape(x, 2, S(-1, 4))); /* 6 is not a multiple of 4 */
    XT(ANY, clg_tensor_reshape(x, 3, S(1 << 30, 1 << 30, 1 << 30)));
    XT(ANY, clg_tensor_reshape(x, 2, big_shape));
    XT(ANY, clg_tensor_reshape(z, 2, S(-1, 0))); /* -1 against a zero extent is ambiguous */
    clg_tensor_free(x), clg_tensor_free(z);
}
static void sw_slice(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3));
    XT(INV, clg_tensor_slice(NULL, 0, 0, 1, 1));
    XTM(INV, clg_tensor_slice(x, 2, 0, 1, 1), "2");
    XTM(INV, clg_tensor_slice(x, -3, 0, 1, 1), "-3");
    XT(INV, clg_tensor_slice(x, INT_MIN, 0, 1, 1));
    XT(INV, clg_tensor_slice(x, 0, 0, 1, 0));
    XT(INV, clg_tensor_slice(x, 0, 0, 1, -1));
    XT(INV, clg_tensor_slice(x, 0, 0, 1, INT64_MIN));
    clg_tensor_free(x);
}
static void sw_permute(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3));
    XT(INV, clg_tensor_permute(NULL, (const int[]){1, 0}));
    XT(INV, clg_tensor_permute(x, NULL));
    XT(INV, clg_tensor_permute(x, (const int[]){0, 0}));
    XT(INV, clg_tensor_permute(x, (const int[]){0, 2}));
    XT(INV, clg_tensor_permute(x, (const int[]){-3, 0}));
    clg_tensor_free(x);
}
static void sw_transpose(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3));
    XT(INV, clg_tensor_transpose(NULL, 0, 1));
    XTM(INV, clg_tensor_transpose(x, 0, 2), "2");
    XT(INV, clg_tensor_transpose(x, -3, 0));
    XT(INV, clg_tensor_transpose(x, 0, INT_MAX));
    clg_tensor_free(x);
}

/* autograd.h ------------------------------------------------------------------------------ */

static void sw_set_requires_grad(const sweep_entry *e) {
    (void)e;
    clg_tensor *i = it(1, S(2), 0);
    XS(INV, clg_tensor_set_requires_grad(NULL, 1));
    XSM(INV, clg_tensor_set_requires_grad(i, 1), "int32"); /* no gradient for integers */
    clg_tensor_free(i);
}
static void sw_autograd_accessors(const sweep_entry *e) {
    (void)e;
    CHK(clg_tensor_requires_grad(NULL) == 0);
    CHK(clg_tensor_grad(NULL) == NULL);
}
static void sw_zero_grad(const sweep_entry *e) { (void)e; XS(INV, clg_tensor_zero_grad(NULL)); }
static void sw_detach(const sweep_entry *e) { (void)e; XT(INV, clg_tensor_detach(NULL)); }
static void sw_eval(const sweep_entry *e) { (void)e; XS(INV, clg_tensor_eval(NULL)); }
static void sw_backward(const sweep_entry *e) {
    (void)e;
    clg_tensor *w = ft(2, S(2, 3));
    clg_tensor_set_requires_grad(w, 1);
    clg_tensor *y = clg_square(w), *seed_bad = ft(1, S(6)), *seed_int = it(2, S(2, 3), 1);
    XS(INV, clg_backward(NULL, NULL));
    XSM(INV, clg_backward(y, NULL), "[2,3]"); /* 6 elements need a seed */
    XS(SHP, clg_backward(y, seed_bad));
    XS(ANY, clg_backward(y, seed_int));
    clg_tensor_free(y), clg_tensor_free(seed_bad), clg_tensor_free(seed_int), clg_tensor_free(w);
}
static void sw_grad_set_enabled(const sweep_entry *e) {
    (void)e;
    CHK(clg_grad_set_enabled(NULL, 0) == 0);
}
static void sw_capture_begin(const sweep_entry *e) {
    (void)e;
    XS(INV, clg_step_capture_begin(NULL));
    OK(clg_step_capture_begin(g_ctx));
    XS(INV, clg_step_capture_begin(g_ctx)); /* already capturing */
    clg_step_free(clg_step_capture_end(g_ctx));
}
static void sw_capture_end(const sweep_entry *e) {
    (void)e;
    XO(INV, clg_step_capture_end(NULL), clg_step_free);
    XO(INV, clg_step_capture_end(g_ctx), clg_step_free); /* none running */
}
static void sw_step_replay(const sweep_entry *e) { (void)e; XS(INV, clg_step_replay(NULL)); }
static void sw_step_get_info(const sweep_entry *e) {
    (void)e;
    clg_step_info i = clg_step_get_info(NULL);
    CHK(i.commands == 0 && i.buffers == 0);
}

/* ops.h ------------------------------------------------------------------------------------ */

static clg_context *g_ctx2; /* a second context, for operands from different contexts */

static void sw_unary(const sweep_entry *e) {
    clg_tensor *(*f)(const clg_tensor *) = (clg_tensor * (*)(const clg_tensor *)) e->fn;
    clg_tensor *i = it(2, S(2, 3), 1);
    XT(INV, f(NULL));
    XTM(INV, f(i), "int32"); /* elementwise ops are float32 */
    clg_tensor_free(i);
}
static void sw_unary_param(const sweep_entry *e) {
    clg_tensor *(*f)(const clg_tensor *, float) = (clg_tensor * (*)(const clg_tensor *, float)) e->fn;
    clg_tensor *i = it(2, S(2, 3), 1), *x = ft(1, S(3));
    XT(INV, f(NULL, 0.5f));
    XT(INV, f(i, 0.5f));
    clg_tensor_free(i), clg_tensor_free(x);
}
static void sw_clamp(const sweep_entry *e) {
    (void)e;
    clg_tensor *i = it(2, S(2, 3), 1), *x = ft(1, S(3));
    XT(INV, clg_clamp(NULL, 0, 1));
    XT(INV, clg_clamp(i, 0, 1));
    XTM(INV, clg_clamp(x, 2, 1), "2");
    XT(INV, clg_clamp(x, NAN, 1));
    clg_tensor_free(i), clg_tensor_free(x);
}
static void sw_binary(const sweep_entry *e) {
    clg_tensor *(*f)(const clg_tensor *, const clg_tensor *) =
        (clg_tensor * (*)(const clg_tensor *, const clg_tensor *)) e->fn;
    clg_tensor *a = ft(2, S(2, 3)), *b = ft(1, S(4)), *i = it(2, S(2, 3), 1);
    clg_tensor *other = clg_tensor_zeros(g_ctx2, CLG_FLOAT32, 2, S(2, 3));
    XT(INV, f(NULL, a));
    XT(INV, f(a, NULL));
    XTM(SHP, f(a, b), "[4]");
    XTM(INV, f(a, i), "int32");
    XT(INV, f(i, a));
    XT(INV, f(a, other));
    clg_tensor_free(a), clg_tensor_free(b), clg_tensor_free(i), clg_tensor_free(other);
}
static void sw_where(const sweep_entry *e) {
    (void)e;
    clg_tensor *a = ft(2, S(2, 3)), *b = ft(1, S(4)), *i = it(2, S(2, 3), 1);
    XT(INV, clg_where(NULL, a, a));
    XT(INV, clg_where(a, NULL, a));
    XT(INV, clg_where(a, a, NULL));
    XT(SHP, clg_where(b, a, a));
    XT(SHP, clg_where(a, a, b));
    XT(INV, clg_where(i, a, a));
    clg_tensor_free(a), clg_tensor_free(b), clg_tensor_free(i);
}
static void sw_scalar(const sweep_entry *e) {
    clg_tensor *i = it(2, S(2, 3), 1);
    if (e->fn == (void (*)(void))clg_rsub_scalar || e->fn == (void (*)(void))clg_rdiv_scalar) {
        clg_tensor *(*f)(float, const clg_tensor *) = (clg_tensor * (*)(float, const clg_tensor *)) e->fn;
        XT(INV, f(1.0f, NULL));
        XT(INV, f(1.0f, i));
    } else {
        clg_tensor *(*f)(const clg_tensor *, float) = (clg_tensor * (*)(const clg_tensor *, float)) e->fn;
        XT(INV, f(NULL, 1.0f));
        XT(INV, f(i, 1.0f));
    }
    clg_tensor_free(i);
}
static void sw_reduce(const sweep_entry *e) {
    clg_tensor *(*f)(const clg_tensor *, int, const int *, int) =
        (clg_tensor * (*)(const clg_tensor *, int, const int *, int)) e->fn;
    clg_tensor *x = ft(2, S(2, 3));
    int nine[9] = {0, 1, 0, 1, 0, 1, 0, 1, 0};
    XT(INV, f(NULL, 0, NULL, 0));
    XT(INV, f(x, 1, NULL, 0));
    XT(INV, f(x, -1, (const int[]){0}, 0));
    XTM(INV, f(x, 1, (const int[]){2}, 0), "2");
    XTM(INV, f(x, 1, (const int[]){-3}, 0), "-3");
    XT(INV, f(x, 1, (const int[]){INT_MIN}, 0));
    XT(INV, f(x, 2, (const int[]){1, -1}, 0)); /* the same axis twice */
    XT(INV, f(x, 9, nine, 0));
    if (e->fn == (void (*)(void))clg_max || e->fn == (void (*)(void))clg_min) {
        clg_tensor *z = clg_tensor_zeros(g_ctx, CLG_FLOAT32, 2, S(0, 3));
        XT(INV, f(z, 1, (const int[]){0}, 0)); /* no identity over an empty axis */
        clg_tensor_free(z);
    }
    clg_tensor_free(x);
}
static void sw_var(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3));
    XT(INV, clg_var(NULL, 0, NULL, 0, 0));
    XT(INV, clg_var(x, 1, NULL, 0, 0));
    XT(INV, clg_var(x, 1, (const int[]){2}, 0, 0));
    XT(INV, clg_var(x, 2, (const int[]){0, 0}, 0, 0));
    XT(INV, clg_var(x, 0, NULL, 0, -1));
    clg_tensor_free(x);
}
static void sw_argmax(const sweep_entry *e) {
    clg_tensor *(*f)(const clg_tensor *, int, int) = (clg_tensor * (*)(const clg_tensor *, int, int)) e->fn;
    clg_tensor *x = ft(2, S(2, 3)), *z = clg_tensor_zeros(g_ctx, CLG_FLOAT32, 2, S(2, 0));
    XT(INV, f(NULL, 0, 0));
    XTM(INV, f(x, 2, 0), "2");
    XT(INV, f(x, -3, 0));
    XT(INV, f(z, 1, 0)); /* no index in an empty axis */
    clg_tensor_free(x), clg_tensor_free(z);
}
static void sw_softmax(const sweep_entry *e) {
    clg_tensor *(*f)(const clg_tensor *, int) = (clg_tensor * (*)(const clg_tensor *, int)) e->fn;
    clg_tensor *x = ft(2, S(2, 3)), *i = it(2, S(2, 3), 0);
    XT(INV, f(NULL, 0));
    XTM(INV, f(x, 2), "2");
    XT(INV, f(x, -3));
    XT(INV, f(i, 1));
    clg_tensor_free(x), clg_tensor_free(i);
}
static void sw_matmul(const sweep_entry *e) {
    (void)e;
    clg_tensor *a = ft(2, S(2, 3)), *b = ft(2, S(4, 5)), *r3 = ft(3, S(1, 2, 3)), *i = it(2, S(3, 2), 1);
    clg_tensor *other = clg_tensor_zeros(g_ctx2, CLG_FLOAT32, 2, S(3, 2));
    XT(INV, clg_matmul(NULL, a, 0, 0));
    XT(INV, clg_matmul(a, NULL, 0, 0));
    XTM(SHP, clg_matmul(a, b, 0, 0), "[4,5]");
    XT(SHP, clg_matmul(a, a, 0, 0));
    XT(ANY, clg_matmul(r3, a, 0, 0));
    XT(ANY, clg_matmul(a, i, 0, 0));
    XT(INV, clg_matmul(a, other, 0, 0));
    clg_tensor_free(a), clg_tensor_free(b), clg_tensor_free(r3), clg_tensor_free(i), clg_tensor_free(other);
}
static void sw_matmul_batched(const sweep_entry *e) {
    (void)e;
    clg_tensor *a = ft(3, S(2, 2, 3)), *b = ft(3, S(3, 3, 2)), *c = ft(3, S(2, 4, 2)), *m = ft(2, S(3, 2));
    XT(INV, clg_matmul_batched(NULL, a, 0, 0));
    XT(INV, clg_matmul_batched(a, NULL, 0, 0));
    XT(SHP, clg_matmul_batched(a, b, 0, 0)); /* batch 2 vs 3 */
    XT(SHP, clg_matmul_batched(a, c, 0, 0)); /* K 3 vs 4 */
    XT(ANY, clg_matmul_batched(a, m, 0, 0)); /* rank 2 */
    clg_tensor_free(a), clg_tensor_free(b), clg_tensor_free(c), clg_tensor_free(m);
}
static void sw_linear(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *w = ft(2, S(3, 4)), *wb = ft(2, S(5, 4)), *b = ft(1, S(5));
    XT(INV, clg_linear(NULL, w, NULL));
    XT(INV, clg_linear(x, NULL, NULL));
    XT(SHP, clg_linear(x, wb, NULL));
    XTM(SHP, clg_linear(x, w, b), "[5]");
    XT(ANY, clg_linear(x, b, NULL)); /* rank 1 weights */
    clg_tensor_free(x), clg_tensor_free(w), clg_tensor_free(wb), clg_tensor_free(b);
}
static void sw_broadcast_to(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3));
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 2, 3};
    XT(INV, clg_broadcast_to(NULL, 2, S(2, 3)));
    XT(INV, clg_broadcast_to(x, 2, NULL));
    XT(ANY, clg_broadcast_to(x, 1, S(3)));
    XTM(SHP, clg_broadcast_to(x, 2, S(4, 3)), "[4,3]");
    XT(ANY, clg_broadcast_to(x, 3, S(-1, 2, 3)));
    XT(ANY, clg_broadcast_to(x, 9, nine));
    XT(ANY, clg_broadcast_to(x, -1, S(2, 3)));
    XT(ANY, clg_broadcast_to(x, 4, S((int64_t)1 << 40, (int64_t)1 << 40, 2, 3)));
    clg_tensor_free(x);
}
static void sw_squeeze(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3));
    XT(INV, clg_squeeze(NULL, 0));
    XTM(INV, clg_squeeze(x, 0), "[2,3]"); /* extent 2 */
    XT(INV, clg_squeeze(x, 2));
    XT(INV, clg_squeeze(x, -3));
    clg_tensor_free(x);
}
static void sw_unsqueeze(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *x8 = clg_tensor_zeros(g_ctx, CLG_FLOAT32, 8, S(1, 1, 1, 1, 1, 1, 1, 2));
    XT(INV, clg_unsqueeze(NULL, 0));
    XTM(INV, clg_unsqueeze(x, 3), "3");
    XT(INV, clg_unsqueeze(x, -4));
    XT(INV, clg_unsqueeze(x8, 0)); /* rank 9 */
    clg_tensor_free(x), clg_tensor_free(x8);
}
static void sw_concat_stack(const sweep_entry *e) {
    clg_tensor *(*f)(int, const clg_tensor *const *, int) =
        (clg_tensor * (*)(int, const clg_tensor *const *, int)) e->fn;
    int stack = e->fn == (void (*)(void))clg_stack;
    clg_tensor *a = ft(2, S(2, 3)), *b = ft(2, S(3, 4)), *r1 = ft(1, S(3)), *i = it(2, S(2, 3), 1);
    clg_tensor *other = clg_tensor_zeros(g_ctx2, CLG_FLOAT32, 2, S(2, 3));
    XT(INV, f(0, (const clg_tensor *const[]){a}, 0));
    XT(INV, f(-1, (const clg_tensor *const[]){a}, 0));
    XT(INV, f(2, NULL, 0));
    XT(INV, f(2, (const clg_tensor *const[]){a, NULL}, 0));
    XTM(INV, f(2, (const clg_tensor *const[]){a, a}, 5), "5");
    XT(INV, f(2, (const clg_tensor *const[]){a, a}, -6));
    XT(SHP, f(2, (const clg_tensor *const[]){a, b}, stack ? 0 : 1));
    XT(SHP, f(2, (const clg_tensor *const[]){a, r1}, 0));
    XT(ANY, f(2, (const clg_tensor *const[]){a, i}, 0));
    XT(INV, f(2, (const clg_tensor *const[]){a, other}, 0));
    if (stack) {
        clg_tensor *x8 = clg_tensor_zeros(g_ctx, CLG_FLOAT32, 8, S(1, 1, 1, 1, 1, 1, 1, 2));
        XT(INV, f(2, (const clg_tensor *const[]){x8, x8}, 0)); /* rank 9 */
        clg_tensor_free(x8);
    }
    clg_tensor_free(a), clg_tensor_free(b), clg_tensor_free(r1), clg_tensor_free(i), clg_tensor_free(other);
}
static void sw_split(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *out[3] = {x, x, x};
    XS(INV, clg_split(NULL, 1, 2, S(1, 2), out));
    CHK(out[0] == NULL && out[1] == NULL);
    XS(INV, clg_split(x, 1, 2, NULL, out));
    XS(INV, clg_split(x, 1, 2, S(1, 2), NULL));
    XS(INV, clg_split(x, 1, 0, S(1, 2), out));
    XS(INV, clg_split(x, 1, -1, S(1, 2), out));
    XSM(INV, clg_split(x, 2, 2, S(1, 2), out), "2");
    XSM(ANY, clg_split(x, 1, 2, S(1, 1), out), "3"); /* sizes sum to 2, extent 3 */
    XS(ANY, clg_split(x, 1, 2, S(-1, 4), out));
    XS(ANY, clg_split(x, 1, 2, S(INT64_MAX, INT64_MAX - 2), out)); /* the sum overflows */
    CHK(out[0] == NULL && out[1] == NULL);
    clg_tensor_free(x);
}
static void sw_pad(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *u = clg_tensor_zeros(g_ctx, CLG_UINT8, 2, S(2, 3));
    XT(INV, clg_pad(NULL, S(0, 0, 1, 1), CLG_PAD_CONSTANT, 0));
    XT(INV, clg_pad(x, NULL, CLG_PAD_CONSTANT, 0));
    XTM(INV, clg_pad(x, S(0, 0, -1, 1), CLG_PAD_CONSTANT, 0), "-1");
    XT(INV, clg_pad(x, S(0, 0, 3, 0), CLG_PAD_REFLECT, 0)); /* reflect needs pad < extent */
    XT(INV, clg_pad(x, S(0, 0, 1, 1), (clg_pad_mode)7, 0));
    XT(ANY, clg_pad(x, S(0, 0, INT64_MAX, INT64_MAX), CLG_PAD_CONSTANT, 0));
    XT(ANY, clg_pad(u, S(0, 0, 1, 1), CLG_PAD_CONSTANT, 0));
    clg_tensor_free(x), clg_tensor_free(u);
}
static void sw_gather(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *idx = it(2, S(2, 2), 0), *fidx = ft(2, S(2, 2)), *idx1 = it(1, S(2), 0);
    XT(INV, clg_gather(NULL, 1, idx));
    XT(INV, clg_gather(x, 1, NULL));
    XTM(INV, clg_gather(x, 1, fidx), "float32");
    XT(ANY, clg_gather(x, 1, idx1)); /* rank 1 vs 2 */
    XTM(INV, clg_gather(x, 2, idx), "2");
    clg_tensor_free(x), clg_tensor_free(idx), clg_tensor_free(fidx), clg_tensor_free(idx1);
}
static void sw_index_select(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *idx = it(1, S(2), 0), *fidx = ft(1, S(2)), *idx2 = it(2, S(2, 2), 0);
    XT(INV, clg_index_select(NULL, 0, idx));
    XT(INV, clg_index_select(x, 0, NULL));
    XT(INV, clg_index_select(x, 0, fidx));
    XT(ANY, clg_index_select(x, 0, idx2));
    XT(INV, clg_index_select(x, 2, idx));
    XT(INV, clg_index_select(x, -3, idx));
    clg_tensor_free(x), clg_tensor_free(idx), clg_tensor_free(fidx), clg_tensor_free(idx2);
}
static void sw_one_hot(const sweep_entry *e) {
    (void)e;
    clg_tensor *l = it(1, S(3), 1), *fl = ft(1, S(3));
    XT(INV, clg_one_hot(NULL, 3));
    XTM(INV, clg_one_hot(l, 0), "0");
    XT(INV, clg_one_hot(l, -2));
    XT(INV, clg_one_hot(fl, 3));
    /* A label outside [0, num_classes) gives an all-zero row (documented). */
    clg_tensor *bad = clg_tensor_from_host(g_ctx, CLG_INT32, 1, S(2), (const int32_t[]){-1, 7});
    clg_tensor *oh = clg_one_hot(bad, 3);
    float v[6] = {1, 1, 1, 1, 1, 1};
    CHK(oh && clg_tensor_to_host(oh, v, sizeof v) == CLG_OK && v[0] == 0 && v[1] == 0 && v[2] == 0 && v[3] == 0 &&
        v[4] == 0 && v[5] == 0);
    clg_tensor_free(oh), clg_tensor_free(bad), clg_tensor_free(l), clg_tensor_free(fl);
}
static void sw_embedding(const sweep_entry *e) {
    (void)e;
    clg_tensor *w = ft(2, S(4, 3)), *w1 = ft(1, S(4)), *idx = it(1, S(2), 1), *fidx = ft(1, S(2));
    XT(INV, clg_embedding(NULL, idx));
    XT(INV, clg_embedding(w, NULL));
    XT(ANY, clg_embedding(w1, idx));
    XT(INV, clg_embedding(w, fidx));
    clg_tensor_free(w), clg_tensor_free(w1), clg_tensor_free(idx), clg_tensor_free(fidx);
}
/* Losses on (prediction, target) pairs. */
static void sw_loss_pair(const sweep_entry *e) {
    clg_tensor *(*f)(const clg_tensor *, const clg_tensor *) =
        (clg_tensor * (*)(const clg_tensor *, const clg_tensor *)) e->fn;
    int sparse = e->fn == (void (*)(void))clg_sparse_categorical_cross_entropy;
    clg_tensor *p = ft(2, S(2, 3)), *t = ft(2, S(2, 3)), *t4 = ft(2, S(2, 4)), *lab = it(1, S(2), 0);
    clg_tensor *lab3 = it(1, S(3), 0), *ti = it(2, S(2, 3), 0), *c0 = ft(2, S(2, 0));
    const clg_tensor *target = sparse ? lab : t;
    XT(INV, f(NULL, target));
    XT(INV, f(p, NULL));
    XT(SHP, f(p, sparse ? lab3 : t4));
    XT(ANY, f(p, sparse ? t : ti)); /* dtype of the targets */
    XT(ANY, f(lab, target));         /* int32 predictions */
    if (sparse) XT(INV, f(c0, lab)); /* C = 0 */
    clg_tensor_free(p), clg_tensor_free(t), clg_tensor_free(t4), clg_tensor_free(lab), clg_tensor_free(lab3);
    clg_tensor_free(ti), clg_tensor_free(c0);
}
static void sw_softmax_ce(const sweep_entry *e) {
    int onehot = e->fn == (void (*)(void))clg_softmax_cross_entropy_onehot;
    clg_tensor *(*f)(const clg_tensor *, const clg_tensor *, float) =
        (clg_tensor * (*)(const clg_tensor *, const clg_tensor *, float)) e->fn;
    clg_tensor *p = ft(2, S(2, 3)), *p1 = ft(1, S(3)), *c0 = ft(2, S(2, 0)), *lab = it(1, S(2), 0);
    clg_tensor *lab3 = it(1, S(3), 0), *t = ft(2, S(2, 3)), *t4 = ft(2, S(2, 4)), *flab = ft(1, S(2));
    const clg_tensor *target = onehot ? t : lab;
    XT(INV, f(NULL, target, 0));
    XT(INV, f(p, NULL, 0));
    XT(SHP, f(p, onehot ? t4 : lab3, 0));
    XT(ANY, f(p, onehot ? lab : flab, 0));
    XT(ANY, f(p1, target, 0)); /* rank 1 logits */
    XTM(INV, f(p, target, 1.5f), "1.5");
    XT(INV, f(p, target, -0.25f));
    XT(INV, f(p, target, NAN));
    if (!onehot) {
        XT(INV, f(c0, lab, 0)); /* C = 0 */
        /* Labels outside [0, C) give NaN (documented): never an out-of-bounds read. */
        clg_tensor *bad = clg_tensor_from_host(g_ctx, CLG_INT32, 1, S(2), (const int32_t[]){3, -1});
        clg_tensor *l = clg_softmax_cross_entropy(p, bad, 0);
        CHK(l && isnan(read1(l)));
        clg_tensor_free(l), clg_tensor_free(bad);
    }
    clg_tensor_free(p), clg_tensor_free(p1), clg_tensor_free(c0), clg_tensor_free(lab), clg_tensor_free(lab3);
    clg_tensor_free(t), clg_tensor_free(t4), clg_tensor_free(flab);
}
static void sw_huber(const sweep_entry *e) {
    (void)e;
    clg_tensor *p = ft(2, S(2, 3)), *t4 = ft(2, S(2, 4));
    XT(INV, clg_huber(NULL, p, 1));
    XT(INV, clg_huber(p, NULL, 1));
    XT(SHP, clg_huber(p, t4, 1));
    XTM(INV, clg_huber(p, p, -1), "-1");
    XT(INV, clg_huber(p, p, 0));
    XT(INV, clg_huber(p, p, NAN));
    clg_tensor_free(p), clg_tensor_free(t4);
}
static void sw_nt_xent(const sweep_entry *e) {
    (void)e;
    clg_tensor *z = ft(2, S(4, 3)), *odd = ft(2, S(3, 3)), *r1 = ft(1, S(4)), *z0 = ft(2, S(0, 3));
    clg_tensor *i32 = it(2, S(4, 3), 1);
    XTM(INV, clg_nt_xent(NULL, 0.5f), "z is NULL");
    XTM(INV, clg_nt_xent(odd, 0.5f), "[3,3]");
    XT(INV, clg_nt_xent(r1, 0.5f));
    XT(INV, clg_nt_xent(z0, 0.5f));
    XT(INV, clg_nt_xent(i32, 0.5f));
    XTM(INV, clg_nt_xent(z, 0.0f), "temperature 0");
    XTM(INV, clg_nt_xent(z, -1.0f), "-1");
    XT(INV, clg_nt_xent(z, NAN));
    XT(INV, clg_nt_xent(z, INFINITY));
    clg_tensor_free(z), clg_tensor_free(odd), clg_tensor_free(r1), clg_tensor_free(z0), clg_tensor_free(i32);
}
static void sw_dropout(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *i = it(2, S(2, 3), 1);
    XT(INV, clg_dropout(NULL, 0.5f, 1, 0));
    XTM(INV, clg_dropout(x, -0.25f, 1, 0), "-0.25");
    XT(INV, clg_dropout(x, 1.0f, 1, 0));
    XT(INV, clg_dropout(x, NAN, 1, 0));
    XT(INV, clg_dropout(i, 0.5f, 1, 0));
    clg_tensor_free(x), clg_tensor_free(i);
}
static void sw_dropout_counter(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *c = it(1, S(2), 0), *c3 = it(1, S(3), 0);
    XT(INV, clg_dropout_counter(NULL, 0.5f, 1, c));
    XT(INV, clg_dropout_counter(x, 0.5f, 1, NULL));
    XT(INV, clg_dropout_counter(x, 0.5f, 1, c3));
    XT(INV, clg_dropout_counter(x, 1.5f, 1, c));
    clg_tensor_free(x), clg_tensor_free(c), clg_tensor_free(c3);
}

/* Convolution: x [1,2,5,5], w [3,2,3,3] unless the op needs others. */
static clg_conv2d_params cp(void) { return clg_conv2d_params_default(); }
static void sweep_conv_params(const clg_tensor *x, const clg_tensor *w, int transpose, int one_d) {
    clg_conv2d_params p;
#define CONV(pp) (one_d ? clg_conv1d(x, w, NULL, (pp)) \
                  : transpose ? clg_conv2d_transpose(x, w, NULL, (pp), NULL) : clg_conv2d(x, w, NULL, (pp)))
    p = cp(), p.stride[1] = 0;
    XTM(INV, CONV(&p), "stride");
    p = cp(), p.stride[1] = -2;
    XTM(INV, CONV(&p), "-2");
    p = cp(), p.dilation[1] = 0;
    XTM(INV, CONV(&p), "dilation");
    p = cp(), p.dilation[1] = -1;
    XT(INV, CONV(&p));
    p = cp(), p.padding = CLG_PADDING_EXPLICIT, p.pad[3] = -1;
    XTM(INV, CONV(&p), "-1");
    p = cp(), p.padding = (clg_padding)9;
    XT(INV, CONV(&p));
    p = cp(), p.groups = 0;
    XTM(INV, CONV(&p), "groups");
    p = cp(), p.groups = -3;
    XT(INV, CONV(&p));
    p = cp(), p.groups = 3; /* does not divide the channels */
    XT(SHP, CONV(&p));
    p = cp(), p.layout = (clg_layout)5;
    XT(INV, CONV(&p));
    p = cp(), p.algo = (clg_conv_algo)9;
    XT(INV, CONV(&p));
    if (!one_d) {
        p = cp(), p.stride[0] = 0;
        XT(INV, CONV(&p));
        p = cp(), p.padding = CLG_PADDING_EXPLICIT, p.pad[0] = INT_MIN;
        XT(INV, CONV(&p));
        /* Padding so large that the output's element count overflows. */
        p = cp(), p.padding = CLG_PADDING_EXPLICIT, p.pad[0] = p.pad[1] = p.pad[2] = p.pad[3] = INT_MAX;
        XT(ANY, CONV(&p));
        p = cp(), p.stride[0] = p.stride[1] = INT_MAX, p.dilation[0] = p.dilation[1] = INT_MAX;
        if (!transpose) XT(SHP, CONV(&p)); /* the dilated kernel is larger than the input */
        else XT(ANY, CONV(&p));
    }
#undef CONV
}
static void sw_conv2d(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(4, S(1, 2, 5, 5)), *w = ft(4, S(3, 2, 3, 3)), *b = ft(1, S(4)), *x3 = ft(3, S(2, 5, 5));
    clg_tensor *wc = ft(4, S(3, 4, 3, 3)), *big = ft(4, S(3, 2, 7, 7)), *xi = it(4, S(1, 2, 5, 5), 0);
    clg_tensor *w0 = clg_tensor_zeros(g_ctx, CLG_FLOAT32, 4, S(3, 2, 0, 3));
    clg_tensor *other = clg_tensor_zeros(g_ctx2, CLG_FLOAT32, 4, S(3, 2, 3, 3));
    clg_conv2d_params p = cp();
    XT(INV, clg_conv2d(NULL, w, NULL, &p));
    XT(INV, clg_conv2d(x, NULL, NULL, &p));
    XTM(INV, clg_conv2d(x3, w, NULL, &p), "rank 3");
    XT(INV, clg_conv2d(x, x3, NULL, &p));
    XT(INV, clg_conv2d(xi, w, NULL, &p));
    XTM(SHP, clg_conv2d(x, wc, NULL, &p), "channels");
    XTM(SHP, clg_conv2d(x, big, NULL, &p), "larger");
    XTM(SHP, clg_conv2d(x, w, b, &p), "bias");
    XT(INV, clg_conv2d(x, w0, NULL, &p)); /* an empty kernel */
    XT(INV, clg_conv2d(x, other, NULL, &p));
    p.algo = CLG_CONV_FFT, p.stride[0] = 2;
    XT(ANY, clg_conv2d(x, w, NULL, &p)); /* FFT needs stride 1 */
    sweep_conv_params(x, w, 0, 0);
    clg_tensor_free(x), clg_tensor_free(w), clg_tensor_free(b), clg_tensor_free(x3), clg_tensor_free(wc);
    clg_tensor_free(big), clg_tensor_free(xi), clg_tensor_free(w0), clg_tensor_free(other);
}
static void sw_conv1d(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(3, S(1, 2, 6)), *w = ft(3, S(3, 2, 3)), *x4 = ft(4, S(1, 2, 5, 5)), *b = ft(1, S(2));
    clg_tensor *big = ft(3, S(3, 2, 9));
    clg_conv2d_params p = cp();
    XT(INV, clg_conv1d(NULL, w, NULL, &p));
    XT(INV, clg_conv1d(x, NULL, NULL, &p));
    XT(INV, clg_conv1d(x4, w, NULL, &p));
    XT(SHP, clg_conv1d(x, big, NULL, &p));
    XT(SHP, clg_conv1d(x, w, b, &p));
    sweep_conv_params(x, w, 0, 1);
    clg_tensor_free(x), clg_tensor_free(w), clg_tensor_free(x4), clg_tensor_free(b), clg_tensor_free(big);
}
static void sw_conv2d_transpose(const sweep_entry *e) {
    (void)e;
    /* x [1,2,3,3], w [C=2, O=4, 3, 3] */
    clg_tensor *x = ft(4, S(1, 2, 3, 3)), *w = ft(4, S(2, 4, 3, 3)), *wc = ft(4, S(3, 4, 3, 3)), *b = ft(1, S(3));
    clg_conv2d_params p = cp();
    XT(INV, clg_conv2d_transpose(NULL, w, NULL, &p, NULL));
    XT(INV, clg_conv2d_transpose(x, NULL, NULL, &p, NULL));
    XT(SHP, clg_conv2d_transpose(x, wc, NULL, &p, NULL));
    XT(SHP, clg_conv2d_transpose(x, w, b, &p, NULL));
    XTM(INV, clg_conv2d_transpose(x, w, NULL, &p, (const int[]){-1, 0}), "output_padding");
    XT(INV, clg_conv2d_transpose(x, w, NULL, &p, (const int[]){0, 1})); /* not below stride 1 */
    p.padding = CLG_PADDING_EXPLICIT, p.pad[0] = p.pad[1] = 10;     /* output height < 1 */
    XT(SHP, clg_conv2d_transpose(x, w, NULL, &p, NULL));
    sweep_conv_params(x, w, 1, 0);
    clg_tensor_free(x), clg_tensor_free(w), clg_tensor_free(wc), clg_tensor_free(b);
}
static void sw_pool(const sweep_entry *e) {
    clg_tensor *(*f)(const clg_tensor *, const clg_pool2d_params *) =
        (clg_tensor * (*)(const clg_tensor *, const clg_pool2d_params *)) e->fn;
    clg_tensor *x = ft(4, S(1, 2, 4, 4)), *x3 = ft(3, S(2, 4, 4)), *xi = it(4, S(1, 2, 4, 4), 0);
    clg_pool2d_params p = clg_pool2d_params_default(2, 2);
    XT(INV, f(NULL, &p));
    XT(INV, f(x, NULL));
    XT(INV, f(x3, &p));
    XT(INV, f(xi, &p));
    p = clg_pool2d_params_default(0, 2);
    XTM(INV, f(x, &p), "0");
    p = clg_pool2d_params_default(-2, 2);
    XT(INV, f(x, &p));
    p = clg_pool2d_params_default(2, 2), p.stride[0] = 0;
    XT(INV, f(x, &p));
    p = clg_pool2d_params_default(2, 2), p.stride[1] = -1;
    XT(INV, f(x, &p));
    p = clg_pool2d_params_default(5, 5); /* the window is larger than the input */
    XT(ANY, f(x, &p));
    p = clg_pool2d_params_default(2, 2), p.padding = CLG_PADDING_EXPLICIT, p.pad[0] = -1;
    XT(INV, f(x, &p));
    p = clg_pool2d_params_default(2, 2), p.padding = CLG_PADDING_EXPLICIT, p.pad[0] = 2; /* a window in padding */
    XT(ANY, f(x, &p));
    p = clg_pool2d_params_default(2, 2), p.padding = (clg_padding)9;
    XT(INV, f(x, &p));
    p = clg_pool2d_params_default(2, 2), p.layout = (clg_layout)9;
    XT(INV, f(x, &p));
    p = clg_pool2d_params_default(1, 1), p.padding = CLG_PADDING_EXPLICIT;
    p.pad[0] = p.pad[1] = p.pad[2] = p.pad[3] = INT_MAX;
    XT(ANY, f(x, &p));
    clg_tensor_free(x), clg_tensor_free(x3), clg_tensor_free(xi);
}
static void sw_global_pool(const sweep_entry *e) {
    clg_tensor *(*f)(const clg_tensor *, clg_layout) = (clg_tensor * (*)(const clg_tensor *, clg_layout)) e->fn;
    clg_tensor *x = ft(4, S(1, 2, 3, 3)), *x3 = ft(3, S(2, 3, 3)), *xi = it(4, S(1, 2, 3, 3), 0);
    XT(INV, f(NULL, CLG_LAYOUT_NCHW));
    XT(INV, f(x3, CLG_LAYOUT_NCHW));
    XT(INV, f(x, (clg_layout)9));
    XT(INV, f(xi, CLG_LAYOUT_NCHW));
    if (e->fn == (void (*)(void))clg_global_max_pool2d) {
        clg_tensor *z = clg_tensor_zeros(g_ctx, CLG_FLOAT32, 4, S(1, 2, 0, 3));
        XT(INV, f(z, CLG_LAYOUT_NCHW)); /* a max over no positions */
        clg_tensor_free(z);
    }
    clg_tensor_free(x), clg_tensor_free(x3), clg_tensor_free(xi);
}
static void sw_upsample2d(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(4, S(1, 1, 2, 2)), *x3 = ft(3, S(1, 2, 2));
    XT(INV, clg_upsample2d(NULL, 2, 2, CLG_UPSAMPLE_NEAREST, CLG_LAYOUT_NCHW));
    XTM(INV, clg_upsample2d(x, 0, 2, CLG_UPSAMPLE_NEAREST, CLG_LAYOUT_NCHW), "0");
    XT(INV, clg_upsample2d(x, 2, -1, CLG_UPSAMPLE_NEAREST, CLG_LAYOUT_NCHW));
    XT(INV, clg_upsample2d(x, 2, 2, (clg_upsample_mode)9, CLG_LAYOUT_NCHW));
    XT(INV, clg_upsample2d(x, 2, 2, CLG_UPSAMPLE_NEAREST, (clg_layout)9));
    XT(INV, clg_upsample2d(x3, 2, 2, CLG_UPSAMPLE_NEAREST, CLG_LAYOUT_NCHW));
    XT(ANY, clg_upsample2d(x, INT_MAX, INT_MAX, CLG_UPSAMPLE_NEAREST, CLG_LAYOUT_NCHW));
    clg_tensor_free(x), clg_tensor_free(x3);
}
static void sw_batch_norm(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(4, 3)), *g = ft(1, S(3)), *g4 = ft(1, S(4)), *rm = ft(1, S(3)), *rv = ft(1, S(3));
    clg_tensor *x1 = ft(1, S(3)), *xi = it(2, S(4, 3), 0);
    XT(INV, clg_batch_norm(NULL, g, g, rm, rv, 1, 0.99f, 1e-3f, CLG_LAYOUT_NCHW));
    XT(ANY, clg_batch_norm(x, g, g, NULL, rv, 1, 0.99f, 1e-3f, CLG_LAYOUT_NCHW));
    XT(ANY, clg_batch_norm(x, g, g, rm, NULL, 0, 0.99f, 1e-3f, CLG_LAYOUT_NCHW));
    XT(SHP, clg_batch_norm(x, g4, g, rm, rv, 1, 0.99f, 1e-3f, CLG_LAYOUT_NCHW));
    XT(SHP, clg_batch_norm(x, g, g4, rm, rv, 1, 0.99f, 1e-3f, CLG_LAYOUT_NCHW));
    XT(SHP, clg_batch_norm(x, g, g, g4, rv, 1, 0.99f, 1e-3f, CLG_LAYOUT_NCHW));
    XT(ANY, clg_batch_norm(x1, g, g, rm, rv, 1, 0.99f, 1e-3f, CLG_LAYOUT_NCHW)); /* rank 1 */
    XT(ANY, clg_batch_norm(xi, g, g, rm, rv, 1, 0.99f, 1e-3f, CLG_LAYOUT_NCHW));
    XTM(INV, clg_batch_norm(x, g, g, rm, rv, 1, 1.5f, 1e-3f, CLG_LAYOUT_NCHW), "1.5");
    XT(INV, clg_batch_norm(x, g, g, rm, rv, 1, NAN, 1e-3f, CLG_LAYOUT_NCHW));
    XT(INV, clg_batch_norm(x, g, g, rm, rv, 1, 0.99f, -1.0f, CLG_LAYOUT_NCHW));
    XT(INV, clg_batch_norm(x, g, g, rm, rv, 1, 0.99f, NAN, CLG_LAYOUT_NCHW));
    XT(INV, clg_batch_norm(x, g, g, rm, rv, 1, 0.99f, 1e-3f, (clg_layout)7));
    clg_tensor_free(x), clg_tensor_free(g), clg_tensor_free(g4), clg_tensor_free(rm), clg_tensor_free(rv);
    clg_tensor_free(x1), clg_tensor_free(xi);
}
static void sw_layer_norm(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(2, S(2, 3)), *g = ft(1, S(3)), *g2 = ft(1, S(2)), *xi = it(2, S(2, 3), 0);
    XT(INV, clg_layer_norm(NULL, 1, g, g, 1e-3f));
    XTM(INV, clg_layer_norm(x, 0, g, g, 1e-3f), "0");
    XT(INV, clg_layer_norm(x, 3, g, g, 1e-3f));
    XT(INV, clg_layer_norm(x, -1, g, g, 1e-3f));
    XT(SHP, clg_layer_norm(x, 1, g2, g, 1e-3f));
    XT(SHP, clg_layer_norm(x, 1, g, g2, 1e-3f));
    XT(INV, clg_layer_norm(x, 1, g, g, -1.0f));
    XT(INV, clg_layer_norm(x, 1, g, g, NAN));
    XT(ANY, clg_layer_norm(xi, 1, NULL, NULL, 1e-3f));
    clg_tensor_free(x), clg_tensor_free(g), clg_tensor_free(g2), clg_tensor_free(xi);
}
static void sw_group_norm(const sweep_entry *e) {
    (void)e;
    clg_tensor *x = ft(3, S(2, 4, 3)), *g = ft(1, S(4)), *g3 = ft(1, S(3)), *x1 = ft(1, S(4));
    XT(INV, clg_group_norm(NULL, 2, g, g, 1e-3f));
    XTM(INV, clg_group_norm(x, 0, g, g, 1e-3f), "0");
    XT(INV, clg_group_norm(x, -2, g, g, 1e-3f));
    XTM(ANY, clg_group_norm(x, 3, g, g, 1e-3f), "3"); /* 4 channels in 3 groups */
    XT(SHP, clg_group_norm(x, 2, g3, g, 1e-3f));
    XT(SHP, clg_group_norm(x, 2, g, g3, 1e-3f));
    XT(ANY, clg_group_norm(x1, 2, g, g, 1e-3f));
    XT(INV, clg_group_norm(x, 2, g, g, -1.0f));
    clg_tensor_free(x), clg_tensor_free(g), clg_tensor_free(g3), clg_tensor_free(x1);
}
/* Recurrent ops: x [2,3,4] (N,T,F), H 2, G gates. */
static void sw_rnn(const sweep_entry *e) {
    int lstm = e->fn == (void (*)(void))clg_lstm, gru = e->fn == (void (*)(void))clg_gru;
    int64_t G = lstm ? 4 : gru ? 3 : 1, H = 2;
    clg_tensor *x = ft(3, S(2, 3, 4)), *k = ft(2, S(4, G * H)), *r = ft(2, S(H, G * H));
    clg_tensor *kb = ft(2, S(5, G * H)), *rb = ft(2, S(H, G * H + 1)), *x2 = ft(2, S(2, 4));
    clg_tensor *bias = gru ? ft(2, S(2, G * H)) : ft(1, S(G * H)), *bb = ft(1, S(G * H + 3));
    clg_tensor *h0 = ft(2, S(2, H)), *h0b = ft(2, S(3, H)), *mask = ft(2, S(2, 3)), *maskb = ft(2, S(2, 4));
    clg_tensor *xi = it(3, S(2, 3, 4), 0);
    clg_tensor *hl = x, *cl = x; /* must come back NULL on failure */
#define RNN(X, K, R, B, H0, M)                                                                          \
    (lstm ? clg_lstm((X), (K), (R), (B), (H0), NULL, (M), 0, &hl, &cl)                                 \
     : gru ? clg_gru((X), (K), (R), (B), (H0), (M), 0, &hl)                                             \
           : clg_simple_rnn((X), (K), (R), (B), (H0), (M), 0, &hl))
    XT(INV, RNN(NULL, k, r, bias, NULL, NULL));
    CHK(hl == NULL && (!lstm || cl == NULL));
    XT(INV, RNN(x, NULL, r, bias, NULL, NULL));
    XT(INV, RNN(x, k, NULL, bias, NULL, NULL));
    XT(ANY, RNN(x2, k, r, bias, NULL, NULL));  /* rank 2 input */
    XT(ANY, RNN(xi, k, r, bias, NULL, NULL));  /* int32 input */
    XTM(SHP, RNN(x, kb, r, bias, NULL, NULL), "kernel");
    XT(SHP, RNN(x, k, rb, bias, NULL, NULL));
    XT(ANY, RNN(x, k, r, bb, NULL, NULL));
    XT(SHP, RNN(x, k, r, bias, h0b, NULL));
    XT(SHP, RNN(x, k, r, bias, h0, maskb));
    if (lstm) XT(SHP, clg_lstm(x, k, r, bias, h0, h0b, NULL, 0, &hl, &cl)); /* c0 */
    CHK(hl == NULL);
#undef RNN
    clg_tensor_free(x), clg_tensor_free(k), clg_tensor_free(r), clg_tensor_free(kb), clg_tensor_free(rb);
    clg_tensor_free(x2), clg_tensor_free(bias), clg_tensor_free(bb), clg_tensor_free(h0), clg_tensor_free(h0b);
    clg_tensor_free(mask), clg_tensor_free(maskb), clg_tensor_free(xi);
}
static void sw_attention(const sweep_entry *e) {
    (void)e;
    clg_tensor *q = ft(4, S(1, 2, 3, 4)), *k = ft(4, S(1, 2, 5, 4)), *v = ft(4, S(1, 2, 5, 6));
    clg_tensor *kd = ft(4, S(1, 2, 5, 3)), *vt = ft(4, S(1, 2, 4, 6)), *q3 = ft(3, S(2, 3, 4));
    clg_tensor *hb = ft(4, S(1, 3, 5, 4)), *mask = ft(2, S(4, 4)), *qi = it(4, S(1, 2, 3, 4), 0);
    clg_tensor *w = q;
#define SDPA(Q, K, V, M, scale, rate) clg_scaled_dot_product_attention((Q), (K), (V), (M), 0, (scale), (rate), 1, &w)
    XT(INV, SDPA(NULL, k, v, NULL, 0, 0));
    CHK(w == NULL);
    XT(INV, SDPA(q, NULL, v, NULL, 0, 0));
    XT(INV, SDPA(q, k, NULL, NULL, 0, 0));
    XT(ANY, SDPA(q3, k, v, NULL, 0, 0));
    XT(ANY, SDPA(qi, k, v, NULL, 0, 0));
    XT(SHP, SDPA(q, kd, v, NULL, 0, 0)); /* D 4 vs 3 */
    XT(SHP, SDPA(q, k, vt, NULL, 0, 0)); /* Tk 5 vs 4 */
    XT(SHP, SDPA(q, hb, v, NULL, 0, 0)); /* H 2 vs 3 */
    XT(SHP, SDPA(q, k, v, mask, 0, 0));  /* [4,4] vs [3,5] */
    XTM(INV, SDPA(q, k, v, NULL, 0, 1.0f), "1");
    XT(INV, SDPA(q, k, v, NULL, 0, -0.5f));
    XT(INV, SDPA(q, k, v, NULL, 0, NAN));
    XT(INV, SDPA(q, k, v, NULL, NAN, 0));
    XT(INV, SDPA(q, k, v, NULL, INFINITY, 0));
    CHK(w == NULL);
#undef SDPA
    clg_tensor_free(q), clg_tensor_free(k), clg_tensor_free(v), clg_tensor_free(kd), clg_tensor_free(vt);
    clg_tensor_free(q3), clg_tensor_free(hb), clg_tensor_free(mask), clg_tensor_free(qi);
}
static void sw_causal_mask(const sweep_entry *e) {
    (void)e;
    XT(INV, clg_causal_mask(NULL, 2, 2));
    XTM(INV, clg_causal_mask(g_ctx, -1, 2), "-1");
    XT(INV, clg_causal_mask(g_ctx, 2, -5));
    XT(ANY, clg_causal_mask(g_ctx, (int64_t)1 << 40, (int64_t)1 << 40));
}
static void sw_sinusoidal(const sweep_entry *e) {
    (void)e;
    XT(INV, clg_sinusoidal_positions(NULL, 2, 2));
    XTM(INV, clg_sinusoidal_positions(g_ctx, -3, 2), "-3");
    XT(INV, clg_sinusoidal_positions(g_ctx, 2, -1));
    XT(ANY, clg_sinusoidal_positions(g_ctx, (int64_t)1 << 40, (int64_t)1 << 40));
}

/* optim.h ---------------------------------------------------------------------------------- */

/* A call with a sentinel result (NaN, -1) that also records the failure. */
#define XSENTM(want, call, is_sentinel, sub)                                  \
    do {                                                                      \
        clg_clear_error();                                                    \
        __typeof__(call) v_ = (call);                                         \
        check_null(!(is_sentinel(v_)), (want), #call, __LINE__, (sub));       \
    } while (0)
#define XSENT(want, call, is_sentinel) XSENTM(want, call, is_sentinel, NULL)
#define IS_NAN(v) isnan(v)
#define IS_M1(v) ((v) == -1)
#define IS_NULLP(v) ((v) == NULL)

static void sw_opt_new(const sweep_entry *e) {
    (void)e;
    XOM(INV, clg_optimizer_sgd(-0.5f, 0, 0), clg_optimizer_free, "-0.5");
    XO(INV, clg_optimizer_sgd(NAN, 0, 0), clg_optimizer_free);
    XO(INV, clg_optimizer_sgd(INFINITY, 0, 0), clg_optimizer_free);
    XOM(INV, clg_optimizer_sgd(0.01f, 1.5f, 0), clg_optimizer_free, "1.5");
    XO(INV, clg_optimizer_sgd(0.01f, -0.1f, 0), clg_optimizer_free);
}
static void sw_opt_adam(const sweep_entry *e) {
    (void)e;
    XO(INV, clg_optimizer_adam(-1e-3f, 0.9f, 0.999f, 1e-7f), clg_optimizer_free);
    XOM(INV, clg_optimizer_adam(1e-3f, 1.0f, 0.999f, 1e-7f), clg_optimizer_free, "beta_1");
    XO(INV, clg_optimizer_adam(1e-3f, 0.9f, -0.5f, 1e-7f), clg_optimizer_free);
    XO(INV, clg_optimizer_adam(1e-3f, 0.9f, 0.999f, -1.0f), clg_optimizer_free);
    XO(INV, clg_optimizer_adam(1e-3f, NAN, 0.999f, 1e-7f), clg_optimizer_free);
}
static void sw_opt_adamw(const sweep_entry *e) {
    (void)e;
    XO(INV, clg_optimizer_adamw(NAN, 0.004f, 0.9f, 0.999f, 1e-7f), clg_optimizer_free);
    XOM(INV, clg_optimizer_adamw(1e-3f, -0.25f, 0.9f, 0.999f, 1e-7f), clg_optimizer_free, "-0.25");
    XO(INV, clg_optimizer_adamw(1e-3f, 0.004f, 2.0f, 0.999f, 1e-7f), clg_optimizer_free);
    XO(INV, clg_optimizer_adamw(1e-3f, 0.004f, 0.9f, 0.999f, -INFINITY), clg_optimizer_free);
}
static void sw_opt_rmsprop(const sweep_entry *e) {
    (void)e;
    XO(INV, clg_optimizer_rmsprop(-1, 0.9f, 0, 1e-7f, 0), clg_optimizer_free);
    XOM(INV, clg_optimizer_rmsprop(1e-3f, 2.0f, 0, 1e-7f, 0), clg_optimizer_free, "rho");
    XO(INV, clg_optimizer_rmsprop(1e-3f, 0.9f, -1, 1e-7f, 0), clg_optimizer_free);
    XO(INV, clg_optimizer_rmsprop(1e-3f, 0.9f, 0, NAN, 0), clg_optimizer_free);
}
static void sw_opt_adagrad(const sweep_entry *e) {
    (void)e;
    XO(INV, clg_optimizer_adagrad(-1, 0.1f, 1e-7f), clg_optimizer_free);
    XOM(INV, clg_optimizer_adagrad(1e-3f, -0.1f, 1e-7f), clg_optimizer_free, "-0.1");
    XO(INV, clg_optimizer_adagrad(1e-3f, 0.1f, -1e-7f), clg_optimizer_free);
}
static void sw_opt_from_name(const sweep_entry *e) {
    (void)e;
    XO(INV, clg_optimizer_from_name(NULL), clg_optimizer_free);
    XOM(INV, clg_optimizer_from_name("adamax-nope"), clg_optimizer_free, "adamax-nope");
    XO(INV, clg_optimizer_from_name(""), clg_optimizer_free);
}
/* The setters taking one float: NULL optimizer, negative, NaN, infinite. */
static void sw_opt_set_float(const sweep_entry *e) {
    clg_status (*f)(clg_optimizer *, float) = (clg_status(*)(clg_optimizer *, float))e->fn;
    clg_optimizer *o = clg_optimizer_adam(1e-3f, 0.9f, 0.999f, 1e-7f);
    XS(INV, f(NULL, 0.5f));
    XSM(INV, f(o, -0.75f), "-0.75");
    XS(INV, f(o, NAN));
    XS(INV, f(o, INFINITY));
    clg_optimizer_free(o);
}
static void sw_opt_clip(const sweep_entry *e) {
    sw_opt_set_float(e);
    clg_status (*f)(clg_optimizer *, float) = (clg_status(*)(clg_optimizer *, float))e->fn;
    clg_optimizer *o = clg_optimizer_sgd(0.01f, 0, 0);
    /* Only one kind of clipping at a time. */
    OK(e->fn == (void (*)(void))clg_optimizer_set_clipvalue ? clg_optimizer_set_clipnorm(o, 1)
                                                             : clg_optimizer_set_clipvalue(o, 1));
    XS(INV, f(o, 1.0f));
    clg_optimizer_free(o);
}
static void sw_opt_set_amsgrad(const sweep_entry *e) {
    (void)e;
    clg_optimizer *s = clg_optimizer_sgd(0.01f, 0, 0);
    XS(INV, clg_optimizer_set_amsgrad(NULL, 1));
    XSM(INV, clg_optimizer_set_amsgrad(s, 1), "sgd");
    clg_optimizer_free(s);
}
static void sw_opt_set_skip(const sweep_entry *e) {
    (void)e;
    XS(INV, clg_optimizer_set_skip_nonfinite(NULL, 1));
}
static void sw_opt_skipped(const sweep_entry *e) {
    (void)e;
    int64_t n = 0;
    int last = 0;
    XS(INV, clg_optimizer_skipped_steps(NULL, &n, &last));
}
static void sw_opt_schedules(const sweep_entry *e) {
    clg_optimizer *o = clg_optimizer_sgd(0.01f, 0, 0);
    if (e->fn == (void (*)(void))clg_optimizer_set_schedule_exponential) {
        XS(INV, clg_optimizer_set_schedule_exponential(NULL, 10, 0.5f, 0));
        XSM(INV, clg_optimizer_set_schedule_exponential(o, 0, 0.5f, 0), "0");
        XS(INV, clg_optimizer_set_schedule_exponential(o, -10, 0.5f, 0));
        XS(INV, clg_optimizer_set_schedule_exponential(o, INT64_MAX, 0.5f, 0));
        XS(INV, clg_optimizer_set_schedule_exponential(o, 10, -0.5f, 0));
        XS(INV, clg_optimizer_set_schedule_exponential(o, 10, NAN, 0));
    } else if (e->fn == (void (*)(void))clg_optimizer_set_schedule_step) {
        XS(INV, clg_optimizer_set_schedule_step(NULL, 10, 0.5f));
        XS(INV, clg_optimizer_set_schedule_step(o, 0, 0.5f));
        XS(INV, clg_optimizer_set_schedule_step(o, -3, 0.5f));
        XS(INV, clg_optimizer_set_schedule_step(o, 10, -2.0f));
        XS(INV, clg_optimizer_set_schedule_step(o, 10, INFINITY));
    } else {
        XS(INV, clg_optimizer_set_schedule_cosine(NULL, 10, 0, 0, 0));
        XS(INV, clg_optimizer_set_schedule_cosine(o, 0, 0, 0, 0));
        XS(INV, clg_optimizer_set_schedule_cosine(o, -1, 0, 0, 0));
        XS(INV, clg_optimizer_set_schedule_cosine(o, 10, NAN, 0, 0));
        XSM(INV, clg_optimizer_set_schedule_cosine(o, 10, 0, -5, 0), "-5");
        XS(INV, clg_optimizer_set_schedule_cosine(o, 10, 0, 5, -1.0f));
        XS(INV, clg_optimizer_set_schedule_cosine(o, 10, 0, 5, NAN));
    }
    clg_optimizer_free(o);
}
static void sw_opt_clear_schedule(const sweep_entry *e) {
    (void)e;
    XS(INV, clg_optimizer_clear_schedule(NULL));
}
static void sw_opt_attach(const sweep_entry *e) {
    (void)e;
    clg_optimizer *o = clg_optimizer_adam(1e-3f, 0.9f, 0.999f, 1e-7f);
    clg_tensor *w = ft(1, S(3)), *nog = ft(1, S(3)), *wi = it(1, S(3), 0), *m = ft(2, S(2, 3));
    clg_tensor *other = clg_tensor_zeros(g_ctx2, CLG_FLOAT32, 1, S(3));
    clg_tensor_set_requires_grad(w, 1), clg_tensor_set_requires_grad(m, 1), clg_tensor_set_requires_grad(other, 1);
    clg_tensor *view = clg_tensor_transpose(m, 0, 1);
    XS(INV, clg_optimizer_attach(NULL, g_ctx, 1, &w));
    XS(INV, clg_optimizer_attach(o, NULL, 1, &w));
    XS(INV, clg_optimizer_attach(o, g_ctx, 0, &w));
    XS(INV, clg_optimizer_attach(o, g_ctx, -1, &w));
    XS(INV, clg_optimizer_attach(o, g_ctx, 1, NULL));
    XS(INV, clg_optimizer_attach(o, g_ctx, 2, (clg_tensor *const[]){w, NULL}));
    XSM(INV, clg_optimizer_attach(o, g_ctx, 2, (clg_tensor *const[]){w, w}), "also parameter");
    XS(INV, clg_optimizer_attach(o, g_ctx, 1, &nog));   /* requires no gradient */
    XS(INV, clg_optimizer_attach(o, g_ctx, 1, &wi));    /* int32 */
    XS(INV, clg_optimizer_attach(o, g_ctx, 1, &view));  /* not contiguous */
    XS(INV, clg_optimizer_attach(o, g_ctx, 1, &other)); /* another context */
    OK(clg_optimizer_attach(o, g_ctx, 1, &w));
    XS(INV, clg_optimizer_attach(o, g_ctx, 1, &w)); /* twice */
    clg_optimizer_free(o);
    clg_tensor_free(view), clg_tensor_free(w), clg_tensor_free(nog), clg_tensor_free(wi), clg_tensor_free(m);
    clg_tensor_free(other);
}
static void sw_opt_step(const sweep_entry *e) {
    (void)e;
    clg_optimizer *o = clg_optimizer_sgd(0.01f, 0, 0);
    clg_tensor *w = ft(1, S(3));
    clg_tensor_set_requires_grad(w, 1);
    XS(INV, clg_optimizer_step(NULL));
    XS(INV, clg_optimizer_step(o)); /* not attached */
    OK(clg_optimizer_attach(o, g_ctx, 1, &w));
    XS(INV, clg_optimizer_step(o)); /* no gradient at all */
    clg_optimizer_free(o);
    clg_tensor_free(w);
}
static void sw_opt_lr(const sweep_entry *e) {
    (void)e;
    XSENT(INV, clg_optimizer_get_learning_rate(NULL), IS_NAN);
}
static void sw_opt_current_lr(const sweep_entry *e) {
    (void)e;
    XSENT(INV, clg_optimizer_current_learning_rate(NULL), IS_NAN);
}
static void sw_opt_iterations(const sweep_entry *e) {
    (void)e;
    XSENT(INV, clg_optimizer_iterations(NULL), IS_M1);
}
static void sw_opt_state_count(const sweep_entry *e) {
    (void)e;
    CHK(clg_optimizer_state_count(NULL) == 0);
}
static void sw_opt_state(const sweep_entry *e) {
    int name = e->fn == (void (*)(void))clg_optimizer_state_name;
    clg_optimizer *o = clg_optimizer_adam(1e-3f, 0.9f, 0.999f, 1e-7f);
    clg_tensor *w = ft(1, S(3));
    clg_tensor_set_requires_grad(w, 1);
    if (name) {
        XSENT(INV, clg_optimizer_state_name(NULL, 0), IS_NULLP);
        XSENT(INV, clg_optimizer_state_name(o, 0), IS_NULLP); /* none before attach */
        OK(clg_optimizer_attach(o, g_ctx, 1, &w));
        XSENT(INV, clg_optimizer_state_name(o, -1), IS_NULLP);
        XSENT(INV, clg_optimizer_state_name(o, clg_optimizer_state_count(o)), IS_NULLP);
        XSENT(INV, clg_optimizer_state_name(o, INT_MAX), IS_NULLP);
    } else {
        XT(INV, clg_optimizer_state_tensor(NULL, 0));
        XT(INV, clg_optimizer_state_tensor(o, 0));
        OK(clg_optimizer_attach(o, g_ctx, 1, &w));
        /* The state tensors belong to the optimizer: check without freeing. */
        XSENT(INV, clg_optimizer_state_tensor(o, -1), IS_NULLP);
        XSENT(INV, clg_optimizer_state_tensor(o, clg_optimizer_state_count(o)), IS_NULLP);
        XSENT(INV, clg_optimizer_state_tensor(o, INT_MIN), IS_NULLP);
    }
    clg_optimizer_free(o);
    clg_tensor_free(w);
}
static void sw_opt_name(const sweep_entry *e) {
    (void)e;
    CHK(clg_optimizer_name(NULL) != NULL && *clg_optimizer_name(NULL) == '\0');
}
static void sw_opt_config_json(const sweep_entry *e) {
    (void)e;
    clg_optimizer *o = clg_optimizer_adam(1e-3f, 0.9f, 0.999f, 1e-7f);
    char buf[16];
    XS(INV, clg_optimizer_config_json(NULL, buf, sizeof buf));
    XS(INV, clg_optimizer_config_json(o, NULL, 100));
    XS(INV, clg_optimizer_config_json(o, buf, 0));
    XS(INV, clg_optimizer_config_json(o, buf, sizeof buf)); /* too small: names the size needed */
    CHK(strlen(buf) < sizeof buf);
    clg_optimizer_free(o);
}

/* model.h ---------------------------------------------------------------------------------- */

static void sw_layer_ctors(const sweep_entry *e) {
#define L(call) XO(INV, call, clg_layer_free)
#define LM(call, sub) XOM(INV, call, clg_layer_free, sub)
    void (*f)(void) = e->fn;
    if (f == (void (*)(void))clg_layer_dense) {
        LM(clg_layer_dense(0, CLG_ACT_RELU), "0");
        LM(clg_layer_dense(-4, CLG_ACT_RELU), "-4");
        LM(clg_layer_dense(4, (clg_activation)99), "99");
        L(clg_layer_dense(4, (clg_activation)-1));
    } else if (f == (void (*)(void))clg_layer_conv2d) {
        L(clg_layer_conv2d(0, 3, 3, CLG_ACT_RELU));
        LM(clg_layer_conv2d(4, 0, 3, CLG_ACT_RELU), "0");
        L(clg_layer_conv2d(4, 3, -3, CLG_ACT_RELU));
        L(clg_layer_conv2d(4, 3, 3, (clg_activation)42));
    } else if (f == (void (*)(void))clg_layer_conv2d_ex) {
        L(clg_layer_conv2d_ex(0, 3, 3, 1, 1, 0, CLG_ACT_RELU));
        L(clg_layer_conv2d_ex(4, 3, 0, 1, 1, 0, CLG_ACT_RELU));
        LM(clg_layer_conv2d_ex(4, 3, 3, 0, 1, 0, CLG_ACT_RELU), "stride");
        L(clg_layer_conv2d_ex(4, 3, 3, 1, -2, 0, CLG_ACT_RELU));
    } else if (f == (void (*)(void))clg_layer_max_pooling2d) {
        L(clg_layer_max_pooling2d(0, 2));
        L(clg_layer_max_pooling2d(2, -1));
    } else if (f == (void (*)(void))clg_layer_average_pooling2d) {
        L(clg_layer_average_pooling2d(0, 2));
        L(clg_layer_average_pooling2d(2, -1));
    } else if (f == (void (*)(void))clg_layer_dropout) {
        LM(clg_layer_dropout(-0.5f), "-0.5");
        L(clg_layer_dropout(1.0f));
        L(clg_layer_dropout(NAN));
    } else if (f == (void (*)(void))clg_layer_activation) {
        L(clg_layer_activation((clg_activation)99));
        L(clg_layer_activation((clg_activation)-1));
    } else if (f == (void (*)(void))clg_layer_zero_padding2d) {
        LM(clg_layer_zero_padding2d(-1, 0, 0, 0), "-1");
        L(clg_layer_zero_padding2d(0, 0, 0, INT_MIN));
    } else if (f == (void (*)(void))clg_layer_upsampling2d) {
        L(clg_layer_upsampling2d(0, 2));
        L(clg_layer_upsampling2d(2, -2));
    } else if (f == (void (*)(void))clg_layer_reshape) {
        int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        L(clg_layer_reshape(2, NULL));
        L(clg_layer_reshape(-1, S(2)));
        L(clg_layer_reshape(9, nine));
        L(clg_layer_reshape(2, S(-1, -1)));
        LM(clg_layer_reshape(2, S(3, -4)), "-4");
        L(clg_layer_reshape(2, S(0, 3)));
        XO(OVF, clg_layer_reshape(2, big_shape), clg_layer_free);
    } else if (f == (void (*)(void))clg_layer_leaky_relu) {
        L(clg_layer_leaky_relu(NAN));
        L(clg_layer_leaky_relu(INFINITY));
    } else if (f == (void (*)(void))clg_layer_depthwise_conv2d) {
        L(clg_layer_depthwise_conv2d(0, 3, CLG_ACT_RELU));
        L(clg_layer_depthwise_conv2d(3, -3, CLG_ACT_RELU));
        L(clg_layer_depthwise_conv2d(3, 3, (clg_activation)99));
    } else if (f == (void (*)(void))clg_layer_conv2d_transpose) {
        L(clg_layer_conv2d_transpose(0, 3, 3, 1, 1, 0, CLG_ACT_RELU));
        L(clg_layer_conv2d_transpose(4, 0, 3, 1, 1, 0, CLG_ACT_RELU));
        L(clg_layer_conv2d_transpose(4, 3, 3, 0, 1, 0, CLG_ACT_RELU));
        L(clg_layer_conv2d_transpose(4, 3, 3, 1, -1, 0, CLG_ACT_RELU));
        L(clg_layer_conv2d_transpose(4, 3, 3, 1, 1, 0, (clg_activation)99));
    } else if (f == (void (*)(void))clg_layer_conv1d) {
        L(clg_layer_conv1d(0, 3, 1, 0, CLG_ACT_RELU));
        L(clg_layer_conv1d(4, 0, 1, 0, CLG_ACT_RELU));
        L(clg_layer_conv1d(4, 3, 0, 0, CLG_ACT_RELU));
        L(clg_layer_conv1d(4, 3, -1, 0, CLG_ACT_RELU));
        L(clg_layer_conv1d(4, 3, 1, 0, (clg_activation)99));
    } else if (f == (void (*)(void))clg_layer_embedding) {
        LM(clg_layer_embedding(0, 4), "0");
        L(clg_layer_embedding(4, -4));
    } else if (f == (void (*)(void))clg_layer_embedding_ex) {
        L(clg_layer_embedding_ex(0, 4, 1));
        L(clg_layer_embedding_ex(4, 0, 1));
    } else if (f == (void (*)(void))clg_layer_concatenate) {
        LM(clg_layer_concatenate(0), "0");
    } else if (f == (void (*)(void))clg_layer_simple_rnn || f == (void (*)(void))clg_layer_lstm ||
               f == (void (*)(void))clg_layer_gru) {
        clg_layer *(*g)(int, int, int) = (clg_layer * (*)(int, int, int)) f;
        LM(g(0, 0, 0), "0");
        L(g(-8, 1, 0));
    } else if (f == (void (*)(void))clg_layer_multi_head_attention) {
        L(clg_layer_multi_head_attention(0, 4, 0));
        L(clg_layer_multi_head_attention(2, 0, 0));
        L(clg_layer_multi_head_attention(-2, 4, 0));
    } else if (f == (void (*)(void))clg_layer_position_embedding) {
        LM(clg_layer_position_embedding(0), "0");
        L(clg_layer_position_embedding(-1));
    }
#undef L
#undef LM
}
static void sw_layer_bidirectional(const sweep_entry *e) {
    (void)e;
    XO(INV, clg_layer_bidirectional(NULL), clg_layer_free);
    XOM(INV, clg_layer_bidirectional(clg_layer_dense(3, CLG_ACT_LINEAR)), clg_layer_free, "Dense"); /* consumed */
    clg_layer *inner = clg_layer_lstm(2, 0, 0), *bi = clg_layer_bidirectional(inner);
    XO(INV, clg_layer_bidirectional(bi), clg_layer_free); /* not a plain recurrent layer */
}
static void sw_layer_set_trainable(const sweep_entry *e) {
    (void)e;
    XS(INV, clg_layer_set_trainable(NULL, 0));
}
static void sw_layer_accessors(const sweep_entry *e) {
    (void)e;
    CHK(clg_layer_trainable(NULL) == 0);
    CHK(clg_layer_name(NULL) != NULL && *clg_layer_name(NULL) == '\0');
}
static void sw_layer_set_l2(const sweep_entry *e) {
    (void)e;
    clg_layer *d = clg_layer_dense(2, CLG_ACT_LINEAR), *fl = clg_layer_flatten();
    XS(INV, clg_layer_set_l2(NULL, 0.01f));
    XSM(INV, clg_layer_set_l2(d, -0.5f), "-0.5");
    XS(INV, clg_layer_set_l2(d, NAN));
    XS(INV, clg_layer_set_l2(fl, 0.01f)); /* no kernel */
    clg_layer_free(d), clg_layer_free(fl);
}
static void sw_layer_set_stateful(const sweep_entry *e) {
    (void)e;
    clg_layer *d = clg_layer_dense(2, CLG_ACT_LINEAR);
    XS(INV, clg_layer_set_stateful(NULL, 1));
    XS(INV, clg_layer_set_stateful(d, 1)); /* not a recurrent layer */
    clg_layer_free(d);
}
static void sw_model_reset_states(const sweep_entry *e) {
    (void)e;
    XS(INV, clg_model_reset_states(NULL));
}
static void sw_call_rnn(const sweep_entry *e) {
    (void)e;
    clg_model *a = clg_model_new(g_ctx), *b = clg_model_new(g_ctx);
    clg_node *x = clg_model_input(a, 2, S(5, 3)), *h = clg_model_input(a, 1, S(4)), *hb = clg_model_input(a, 1, S(3));
    clg_node *other = clg_model_input(b, 1, S(4)), *flat = clg_model_input(a, 1, S(3));
    clg_node *st[2] = {x, x};
    /* On failure the layer's ns state outputs come back NULL. */
#define RNN_CALL(want, ns, call)                                 \
    do {                                                         \
        st[0] = st[1] = x;                                       \
        XSENT(want, call, IS_NULLP);                             \
        CHK(((ns) < 1 || st[0] == NULL) && ((ns) < 2 || st[1] == NULL)); \
    } while (0)
    RNN_CALL(INV, 0, clg_call_rnn(NULL, x, 0, NULL, st));
    RNN_CALL(ANY, 2, clg_call_rnn(clg_layer_lstm(4, 0, 0), NULL, 0, NULL, st));
    RNN_CALL(ANY, 2, clg_call_rnn(clg_layer_lstm(4, 0, 0), x, -1, NULL, st));
    RNN_CALL(ANY, 2, clg_call_rnn(clg_layer_lstm(4, 0, 0), x, 2, NULL, st));
    RNN_CALL(ANY, 2, clg_call_rnn(clg_layer_lstm(4, 0, 0), x, 1, (clg_node *const[]){h}, st)); /* LSTM takes 2 */
    RNN_CALL(ANY, 2, clg_call_rnn(clg_layer_lstm(4, 0, 0), x, 2, (clg_node *const[]){h, NULL}, st));
    RNN_CALL(SHP, 2, clg_call_rnn(clg_layer_lstm(4, 0, 0), x, 2, (clg_node *const[]){h, hb}, st));
    RNN_CALL(ANY, 1, clg_call_rnn(clg_layer_gru(4, 0, 0), x, 1, (clg_node *const[]){other}, st));
    RNN_CALL(ANY, 0, clg_call_rnn(clg_layer_dense(4, CLG_ACT_LINEAR), x, 0, NULL, st)); /* not recurrent */
    RNN_CALL(ANY, 1, clg_call_rnn(clg_layer_simple_rnn(4, 0, 0), flat, 0, NULL, st));  /* (None, 3): no time axis */
    RNN_CALL(ANY, 0, clg_call_rnn(clg_layer_bidirectional(clg_layer_lstm(4, 0, 0)), x, 0, NULL, st));
#undef RNN_CALL
    clg_model_free(a), clg_model_free(b);
}
static void sw_sequential_new(const sweep_entry *e) {
    (void)e;
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    XO(INV, clg_sequential_new(NULL, 1, S(3)), clg_model_free);
    XO(INV, clg_sequential_new(g_ctx, 1, NULL), clg_model_free);
    XO(INV, clg_sequential_new(g_ctx, -1, S(3)), clg_model_free);
    XO(INV, clg_sequential_new(g_ctx, 8, nine), clg_model_free); /* with the batch axis, rank 9 */
    XOM(INV, clg_sequential_new(g_ctx, 2, S(3, -2)), clg_model_free, "-2");
    XO(INV, clg_sequential_new(g_ctx, 2, S(3, 0)), clg_model_free);
    XO(OVF, clg_sequential_new(g_ctx, 2, big_shape), clg_model_free);
}
static void sw_model_add(const sweep_entry *e) {
    (void)e;
    clg_model *m = clg_sequential_new(g_ctx, 1, S(3)), *fm = clg_model_new(g_ctx);
    XS(INV, clg_model_add(NULL, clg_layer_dense(2, CLG_ACT_LINEAR))); /* the layer is freed */
    XS(INV, clg_model_add(m, NULL));
    XS(INV, clg_model_add(fm, clg_layer_dense(2, CLG_ACT_LINEAR)));
    OK(clg_model_add(m, clg_layer_dense(2, CLG_ACT_LINEAR)));
    clg_layer *owned = clg_model_get_layer(m, "dense");
    if (owned) XS(INV, clg_model_add(m, owned)); /* already in the model */
    /* Layers that do not fit the shape so far: conv2d on (None, 2). */
    XS(SHP, clg_model_add(m, clg_layer_conv2d(4, 3, 3, CLG_ACT_RELU)));
    XS(SHP, clg_model_add(m, clg_layer_max_pooling2d(2, 2)));
    XS(ANY, clg_model_add(m, clg_layer_reshape(1, S(5))));
    XS(ANY, clg_model_add(m, clg_layer_lstm(2, 0, 0)));
    XS(ANY, clg_model_add(m, clg_layer_position_embedding(4)));
    clg_model_free(m), clg_model_free(fm);
}
static void sw_model_new(const sweep_entry *e) {
    (void)e;
    XO(INV, clg_model_new(NULL), clg_model_free);
}
static void sw_model_input(const sweep_entry *e) {
    clg_node *(*f)(clg_model *, int, const int64_t *) = (clg_node * (*)(clg_model *, int, const int64_t *)) e->fn;
    clg_model *fm = clg_model_new(g_ctx), *sm = clg_sequential_new(g_ctx, 1, S(3));
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    XSENT(INV, f(NULL, 1, S(3)), IS_NULLP);
    XSENT(INV, f(sm, 1, S(3)), IS_NULLP);
    XSENT(INV, f(fm, 1, NULL), IS_NULLP);
    XSENT(INV, f(fm, -2, S(3)), IS_NULLP);
    XSENT(INV, f(fm, 8, nine), IS_NULLP);
    XSENT(INV, f(fm, 2, S(2, -7)), IS_NULLP);
    clg_model_free(fm), clg_model_free(sm);
}
static void sw_call(const sweep_entry *e) {
    (void)e;
    clg_model *a = clg_model_new(g_ctx), *b = clg_model_new(g_ctx);
    clg_node *in = clg_model_input(a, 1, S(3)), *inb = clg_model_input(b, 1, S(3));
    XSENT(INV, clg_call(NULL, in), IS_NULLP);
    XSENT(INV, clg_call(clg_layer_dense(2, CLG_ACT_LINEAR), NULL), IS_NULLP);
    clg_layer *d = clg_layer_dense(2, CLG_ACT_LINEAR);
    clg_node *y = clg_call(d, in);
    CHK(y != NULL);
    XSENT(INV, clg_call(d, inb), IS_NULLP); /* the layer belongs to model a */
    XSENT(SHP, clg_call(clg_layer_conv2d(2, 3, 3, CLG_ACT_LINEAR), in), IS_NULLP);
    XSENT(INV, clg_call(clg_layer_add(), in), IS_NULLP); /* a merge layer with one input */
    clg_model_free(a), clg_model_free(b);
}
static void sw_call_n(const sweep_entry *e) {
    (void)e;
    clg_model *a = clg_model_new(g_ctx), *b = clg_model_new(g_ctx);
    clg_node *x = clg_model_input(a, 1, S(3)), *y = clg_model_input(a, 1, S(4)), *z = clg_model_input(b, 1, S(3));
    XSENT(INV, clg_call_n(clg_layer_add(), 0, (clg_node *const[]){x}), IS_NULLP);
    XSENT(INV, clg_call_n(clg_layer_add(), -1, (clg_node *const[]){x}), IS_NULLP);
    XSENT(INV, clg_call_n(clg_layer_add(), 2, NULL), IS_NULLP);
    XSENT(INV, clg_call_n(clg_layer_add(), 2, (clg_node *const[]){x, NULL}), IS_NULLP);
    XSENT(INV, clg_call_n(clg_layer_add(), 2, (clg_node *const[]){x, z}), IS_NULLP);
    XSENT(SHP, clg_call_n(clg_layer_add(), 2, (clg_node *const[]){x, y}), IS_NULLP);
    XSENT(ANY, clg_call_n(clg_layer_concatenate(3), 2, (clg_node *const[]){x, y}), IS_NULLP); /* axis out of range */
    XSENT(ANY, clg_call_n(clg_layer_dense(2, CLG_ACT_LINEAR), 2, (clg_node *const[]){x, x}), IS_NULLP);
    clg_model_free(a), clg_model_free(b);
}
static void sw_set_outputs(const sweep_entry *e) {
    (void)e;
    clg_model *a = clg_model_new(g_ctx), *b = clg_model_new(g_ctx);
    clg_node *x = clg_model_input(a, 1, S(3)), *z = clg_model_input(b, 1, S(3));
    XS(INV, clg_model_set_outputs(NULL, 1, &x));
    XS(INV, clg_model_set_outputs(a, 0, &x));
    XS(INV, clg_model_set_outputs(a, -1, &x));
    XS(INV, clg_model_set_outputs(a, 1, NULL));
    XS(INV, clg_model_set_outputs(a, 2, (clg_node *const[]){x, NULL}));
    XS(INV, clg_model_set_outputs(a, 1, &z));
    clg_model_free(a), clg_model_free(b);
}
static void sw_transformer_block(const sweep_entry *e) {
    (void)e;
    clg_model *a = clg_model_new(g_ctx);
    clg_node *x = clg_model_input(a, 2, S(4, 8)), *flat = clg_model_input(a, 1, S(8));
    XSENT(INV, clg_transformer_block(NULL, 2, 4, 16, 0, 1), IS_NULLP);
    XSENTM(INV, clg_transformer_block(x, 0, 4, 16, 0, 1), IS_NULLP, "num_heads 0");
    XSENTM(INV, clg_transformer_block(x, 2, -4, 16, 0, 1), IS_NULLP, "key_dim -4");
    XSENTM(INV, clg_transformer_block(x, 2, 4, 0, 0, 1), IS_NULLP, "ff_dim 0");
    XSENTM(INV, clg_transformer_block(x, 2, 4, 16, 1.5f, 1), IS_NULLP, "dropout 1.5");
    XSENT(INV, clg_transformer_block(x, 2, 4, 16, NAN, 1), IS_NULLP);
    CHK(clg_model_get_layer(a, "layer_normalization") == NULL); /* no half-built block left behind */
    XSENT(ANY, clg_transformer_block(flat, 2, 4, 16, 0, 1), IS_NULLP); /* needs (None, T, D) */
    clg_model_free(a);
}

/* A small compiled model: (None, 3) -> dense(2, softmax), sparse CE, accuracy. */
static clg_model *small_model(int compile) {
    clg_model *m = clg_sequential_new(g_ctx, 1, S(3));
    if (!m || clg_model_add(m, clg_layer_dense(2, CLG_ACT_SOFTMAX)) != CLG_OK ||
        (compile && clg_model_compile(m, "sgd", "sparse_categorical_crossentropy", "accuracy") != CLG_OK))
        fail_msg("small model: %s", clg_last_error());
    return m;
}
static const float xdata[12] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f, 1.1f, 1.2f};
static const int32_t ydata[4] = {0, 1, 1, 0};
static clg_host_array ha(const void *data, clg_dtype dt, int ndim, const int64_t *shape) {
    return clg_test_host_array(data, dt, ndim, shape);
}

static void sw_model_call(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(0), *empty = clg_model_new(g_ctx);
    clg_tensor *x = ft(2, S(4, 3)), *xb = ft(2, S(4, 5)), *xi = it(2, S(4, 3), 0), *x1 = ft(1, S(3));
    clg_tensor *out[1] = {x};
    XS(INV, clg_model_call(NULL, (const clg_tensor *const[]){x}, 0, out));
    XS(INV, clg_model_call(m, NULL, 0, out));
    XS(INV, clg_model_call(m, (const clg_tensor *const[]){x}, 0, NULL));
    XS(ANY, clg_model_call(m, (const clg_tensor *const[]){NULL}, 0, out));
    XSM(ANY, clg_model_call(m, (const clg_tensor *const[]){xb}, 0, out), "[4,5]");
    XS(ANY, clg_model_call(m, (const clg_tensor *const[]){xi}, 0, out));
    XS(ANY, clg_model_call(m, (const clg_tensor *const[]){x1}, 0, out));
    CHK(out[0] == NULL);
    XS(ANY, clg_model_call(empty, (const clg_tensor *const[]){x}, 0, out)); /* no inputs or outputs */
    clg_model_free(m), clg_model_free(empty);
    clg_tensor_free(x), clg_tensor_free(xb), clg_tensor_free(xi), clg_tensor_free(x1);
}
static void sw_model_weight_count(const sweep_entry *e) {
    (void)e;
    CHK(clg_model_weight_count(NULL, 0) <= 0);
}
static void sw_model_weight(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(1), *empty = clg_model_new(g_ctx);
    XSENT(INV, clg_model_weight(NULL, 0, 0), IS_NULLP);
    XSENT(ANY, clg_model_weight(m, 0, -1), IS_NULLP);
    XSENT(ANY, clg_model_weight(m, 0, 2), IS_NULLP);
    XSENT(ANY, clg_model_weight(m, 1, INT_MAX), IS_NULLP);
    XSENT(ANY, clg_model_weight(empty, 0, 0), IS_NULLP);
    clg_model_free(m), clg_model_free(empty);
}
static void sw_model_get_layer(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(0);
    XSENT(INV, clg_model_get_layer(NULL, "dense"), IS_NULLP);
    XSENT(INV, clg_model_get_layer(m, NULL), IS_NULLP);
    XSENT(ANY, clg_model_get_layer(m, "no_such_layer"), IS_NULLP);
    clg_model_free(m);
}
static void sw_model_summary(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(0), *empty = clg_model_new(g_ctx);
    FILE *f = tmpfile();
    XS(INV, clg_model_summary(NULL, f));
    XS(INV, clg_model_summary(m, NULL));
    clg_status st = clg_model_summary(empty, f); /* an empty functional model: a table or an error, no crash */
    CHK(st == CLG_OK || clg_last_error()[0]);
    if (f) fclose(f);
    clg_model_free(m), clg_model_free(empty);
}
static void sw_model_param_count(const sweep_entry *e) {
    (void)e;
    CHK(clg_model_param_count(NULL) <= 0);
}
static void sw_model_compile(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(0), *bare = clg_sequential_new(g_ctx, 1, S(3)), *empty = clg_model_new(g_ctx);
    XS(INV, clg_model_compile(NULL, "sgd", "mse", NULL));
    XS(INV, clg_model_compile(m, NULL, "mse", NULL));
    XSM(INV, clg_model_compile(m, "nope-opt", "mse", NULL), "nope-opt");
    XS(INV, clg_model_compile(m, "sgd", NULL, NULL));
    XSM(INV, clg_model_compile(m, "sgd", "nope-loss", NULL), "nope-loss");
    XSM(INV, clg_model_compile(m, "sgd", "mse", "nope-metric"), "nope-metric");
    XS(ANY, clg_model_compile(bare, "sgd", "mse", NULL));  /* a Sequential without layers */
    XS(ANY, clg_model_compile(empty, "sgd", "mse", NULL)); /* a functional model without inputs */
    OK(clg_step_capture_begin(g_ctx));
    XS(INV, clg_model_compile(m, "sgd", "mse", NULL)); /* inside a capture */
    clg_step_free(clg_step_capture_end(g_ctx));
    clg_model_free(m), clg_model_free(bare), clg_model_free(empty);
}
static void sw_model_compile_optimizer(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(0);
    XS(INV, clg_model_compile_optimizer(NULL, clg_optimizer_sgd(0.01f, 0, 0), "mse", NULL)); /* frees it */
    XS(INV, clg_model_compile_optimizer(m, NULL, "mse", NULL));
    XS(INV, clg_model_compile_optimizer(m, clg_optimizer_sgd(0.01f, 0, 0), NULL, NULL));
    XS(INV, clg_model_compile_optimizer(m, clg_optimizer_sgd(0.01f, 0, 0), "nope-loss", NULL));
    OK(clg_model_compile_optimizer(m, clg_optimizer_sgd(0.01f, 0, 0), "mse", NULL));
    XS(INV, clg_model_compile_optimizer(m, clg_model_optimizer(m), "mse", NULL)); /* its own */
    clg_model_free(m);
}
static void sw_model_optimizer(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(0);
    CHK(clg_model_optimizer(NULL) == NULL);
    CHK(clg_model_optimizer(m) == NULL);
    clg_model_free(m);
}
static void sw_model_set_seed(const sweep_entry *e) {
    (void)e;
    XS(INV, clg_model_set_seed(NULL, 1));
}
static void sw_model_set_lr(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(0), *c = small_model(1);
    XS(INV, clg_model_set_learning_rate(NULL, 0.1f));
    XS(INV, clg_model_set_learning_rate(m, 0.1f)); /* not compiled */
    XSM(INV, clg_model_set_learning_rate(c, -0.5f), "-0.5");
    XS(INV, clg_model_set_learning_rate(c, NAN));
    clg_model_free(m), clg_model_free(c);
}
static int user_cb(void *user, int epoch, const clg_history *h) {
    (void)user, (void)epoch, (void)h;
    return 0;
}
static void sw_callbacks(const sweep_entry *e) {
    void (*f)(void) = e->fn;
#define CB(call) XO(INV, call, clg_callback_free)
    if (f == (void (*)(void))clg_callback_early_stopping) {
        CB(clg_callback_early_stopping(NULL, 2, 0));
        XOM(INV, clg_callback_early_stopping("nope-monitor", 2, 0), clg_callback_free, "nope-monitor");
        CB(clg_callback_early_stopping("loss", -1, 0));
    } else if (f == (void (*)(void))clg_callback_model_checkpoint) {
        CB(clg_callback_model_checkpoint(NULL, "loss", 0));
        CB(clg_callback_model_checkpoint(tmp_path("ck.safetensors"), NULL, 1));
        CB(clg_callback_model_checkpoint(tmp_path("ck.safetensors"), "nope-monitor", 1));
        CB(clg_callback_model_checkpoint("", "loss", 0));
    } else if (f == (void (*)(void))clg_callback_csv_logger) {
        CB(clg_callback_csv_logger(NULL));
        CB(clg_callback_csv_logger(""));
    } else if (f == (void (*)(void))clg_callback_reduce_lr_on_plateau) {
        CB(clg_callback_reduce_lr_on_plateau(NULL, 0.1f, 10, 0));
        CB(clg_callback_reduce_lr_on_plateau("nope-monitor", 0.1f, 10, 0));
        XOM(INV, clg_callback_reduce_lr_on_plateau("loss", 1.5f, 10, 0), clg_callback_free, "1.5");
        CB(clg_callback_reduce_lr_on_plateau("loss", -0.1f, 10, 0));
        CB(clg_callback_reduce_lr_on_plateau("loss", NAN, 10, 0));
        CB(clg_callback_reduce_lr_on_plateau("loss", 0.1f, -1, 0));
        CB(clg_callback_reduce_lr_on_plateau("loss", 0.1f, 10, -1));
        CB(clg_callback_reduce_lr_on_plateau("loss", 0.1f, 10, NAN));
    } else if (f == (void (*)(void))clg_callback_user) {
        CB(clg_callback_user(NULL, NULL));
        clg_callback_free(clg_callback_user(user_cb, NULL)); /* valid: a NULL user pointer */
    }
#undef CB
}
static void sw_model_fit(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(1), *raw = small_model(0);
    clg_host_array x = ha(xdata, CLG_FLOAT32, 2, S(4, 3)), y = ha(ydata, CLG_INT32, 1, S(4));
    clg_host_array xb = ha(xdata, CLG_FLOAT32, 2, S(3, 4)), xi = ha(xdata, CLG_INT32, 2, S(4, 3));
    clg_host_array yb = ha(ydata, CLG_INT32, 1, S(3)), yf = ha(xdata, CLG_FLOAT32, 1, S(4));
    clg_host_array xnull = ha(NULL, CLG_FLOAT32, 2, S(4, 3)), xneg = ha(xdata, CLG_FLOAT32, 2, S(-4, 3));
    const int32_t bad_labels[4] = {0, 1, 2, -1};
    clg_host_array ybad = ha(bad_labels, CLG_INT32, 1, S(4));
    clg_fit_options o = clg_fit_options_default();
    o.verbose = 0;
#define FIT(M, X, Y, O) XO(ANY, clg_model_fit((M), (X), (Y), (O)), clg_history_free)
    XO(INV, clg_model_fit(NULL, &x, &y, &o), clg_history_free);
    XO(INV, clg_model_fit(raw, &x, &y, &o), clg_history_free); /* not compiled */
    FIT(m, NULL, &y, &o);
    FIT(m, &x, NULL, &o);
    FIT(m, &xnull, &y, &o);
    FIT(m, &xneg, &y, &o);
    XOM(SHP, clg_model_fit(m, &xb, &y, &o), clg_history_free, "[3,4]");
    FIT(m, &xi, &y, &o);
    FIT(m, &x, &yb, &o);
    FIT(m, &x, &yf, &o);
    XOM(ANY, clg_model_fit(m, &x, &ybad, &o), clg_history_free, "2"); /* labels outside [0, 2) */
    clg_fit_options b = o;
    b.batch_size = 0;
    FIT(m, &x, &y, &b);
    b = o, b.batch_size = -5;
    FIT(m, &x, &y, &b);
    b = o, b.epochs = -1;
    FIT(m, &x, &y, &b);
    b = o, b.initial_epoch = 3, b.epochs = 2;
    FIT(m, &x, &y, &b);
    b = o, b.validation_split = 1.5f;
    FIT(m, &x, &y, &b);
    b = o, b.validation_split = -0.5f;
    FIT(m, &x, &y, &b);
    b = o, b.validation_split = NAN;
    FIT(m, &x, &y, &b);
    b = o, b.validation_x = &x; /* without validation_y */
    FIT(m, &x, &y, &b);
    b = o, b.validation_x = &xb, b.validation_y = &y;
    FIT(m, &x, &y, &b);
    b = o, b.ncallbacks = 1, b.callbacks = NULL;
    FIT(m, &x, &y, &b);
    b = o, b.ncallbacks = -1;
    FIT(m, &x, &y, &b);
    clg_callback *es = clg_callback_early_stopping("val_loss", 1, 0); /* no validation data */
    b = o, b.ncallbacks = 1, b.callbacks = (const clg_callback *const[]){es};
    FIT(m, &x, &y, &b);
    b = o, b.ncallbacks = 1, b.callbacks = (const clg_callback *const[]){NULL};
    FIT(m, &x, &y, &b);
    clg_callback_free(es);
    const float neg_w[4] = {1, -1, 1, 1}, nan_w[4] = {1, NAN, 1, 1}, cw[2] = {1, 1};
    b = o, b.sample_weight = neg_w;
    FIT(m, &x, &y, &b);
    b = o, b.sample_weight = nan_w;
    FIT(m, &x, &y, &b);
    b = o, b.sample_weight = cw, b.class_weight = cw, b.num_class_weights = 2; /* not both */
    FIT(m, &x, &y, &b);
    b = o, b.class_weight = cw, b.num_class_weights = 1; /* class 1 has no weight */
    FIT(m, &x, &y, &b);
    b = o, b.class_weight = cw, b.num_class_weights = -2;
    FIT(m, &x, &y, &b);
#undef FIT
    clg_model_free(m), clg_model_free(raw);
}
static void sw_model_evaluate(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(1), *raw = small_model(0);
    clg_host_array x = ha(xdata, CLG_FLOAT32, 2, S(4, 3)), y = ha(ydata, CLG_INT32, 1, S(4));
    clg_host_array xb = ha(xdata, CLG_FLOAT32, 2, S(4, 2)), yb = ha(ydata, CLG_INT32, 1, S(2));
    const int32_t bad_labels[4] = {0, 7, 1, 0};
    clg_host_array ybad = ha(bad_labels, CLG_INT32, 1, S(4));
    float loss = 0, acc = 0;
    XS(INV, clg_model_evaluate(NULL, &x, &y, 4, &loss, &acc));
    XS(INV, clg_model_evaluate(raw, &x, &y, 4, &loss, &acc));
    XS(ANY, clg_model_evaluate(m, NULL, &y, 4, &loss, &acc));
    XS(ANY, clg_model_evaluate(m, &x, NULL, 4, &loss, &acc));
    XS(SHP, clg_model_evaluate(m, &xb, &y, 4, &loss, &acc));
    XS(SHP, clg_model_evaluate(m, &x, &yb, 4, &loss, &acc));
    XSM(ANY, clg_model_evaluate(m, &x, &ybad, 4, &loss, &acc), "7");
    /* (batch_size <= 0 means 32, as Keras's None; loss and accuracy may be NULL.) */
    clg_model_free(m), clg_model_free(raw);
}
static void sw_model_predict(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(0), *empty = clg_model_new(g_ctx);
    clg_host_array x = ha(xdata, CLG_FLOAT32, 2, S(4, 3)), xb = ha(xdata, CLG_FLOAT32, 2, S(3, 4));
    float out[8];
    XS(INV, clg_model_predict(NULL, &x, 4, out, 8));
    XS(ANY, clg_model_predict(m, NULL, 4, out, 8));
    XS(SHP, clg_model_predict(m, &xb, 4, out, 8));
    XS(INV, clg_model_predict(m, &x, 4, NULL, 8));
    XSM(INV, clg_model_predict(m, &x, 4, out, 7), "8");
    XS(ANY, clg_model_predict(empty, &x, 4, out, 8));
    clg_model_free(m), clg_model_free(empty);
}
static void sw_model_save_weights(const sweep_entry *e) {
    clg_status (*f)(clg_model *, const char *) = (clg_status(*)(clg_model *, const char *))e->fn;
    clg_model *m = small_model(0), *empty = clg_model_new(g_ctx);
    XS(INV, f(NULL, tmp_path("w.safetensors")));
    XS(INV, f(m, NULL));
    XS(ANY, f(m, ""));
    XS(ANY, f(m, "/dev/null/w.safetensors"));        /* under a file */
    XS(ANY, f(empty, tmp_path("empty.safetensors"))); /* an empty model */
    clg_model_free(m), clg_model_free(empty);
}
static void sw_model_load_weights(const sweep_entry *e) {
    (void)e;
    clg_model *m = small_model(0), *other = clg_sequential_new(g_ctx, 1, S(5));
    clg_model_add(other, clg_layer_dense(4, CLG_ACT_LINEAR));
    OK(clg_model_save_weights(other, tmp_path("other.safetensors")));
    clg_test_write_file(tmp_path("junk.safetensors"), "not a safetensors file", 22);
    XS(INV, clg_model_load_weights(NULL, tmp_path("other.safetensors")));
    XS(INV, clg_model_load_weights(m, NULL));
    XSM(NOTF, clg_model_load_weights(m, tmp_path("missing.safetensors")), "missing.safetensors");
    XS(CLG_STATUS_CORRUPT_DATA, clg_model_load_weights(m, tmp_path("junk.safetensors")));
    XSM(ANY, clg_model_load_weights(m, tmp_path("other.safetensors")), "dense"); /* shapes differ */
    XS(ANY, clg_model_load_weights(m, g_tmp));                                   /* a directory */
    clg_model_free(m), clg_model_free(other);
}
static void sw_model_load(const sweep_entry *e) {
    (void)e;
    clg_model *other = clg_sequential_new(g_ctx, 1, S(5));
    clg_model_add(other, clg_layer_dense(4, CLG_ACT_LINEAR));
    OK(clg_model_save_weights(other, tmp_path("weights-only.safetensors")));
    clg_test_write_file(tmp_path("junk2.safetensors"), "\x08\0\0\0\0\0\0\0{}      ", 16);
    XO(INV, clg_model_load(NULL, tmp_path("weights-only.safetensors")), clg_model_free);
    XO(INV, clg_model_load(g_ctx, NULL), clg_model_free);
    XO(NOTF, clg_model_load(g_ctx, tmp_path("missing.safetensors")), clg_model_free);
    XOM(INV, clg_model_load(g_ctx, tmp_path("weights-only.safetensors")), clg_model_free, "weights-only");
    XO(ANY, clg_model_load(g_ctx, tmp_path("junk2.safetensors")), clg_model_free);
    clg_model_free(other);
}

/* data.h ----------------------------------------------------------------------------------- */

static const unsigned char idx_bytes[6] = {1, 2, 3, 4, 5, 6};
/* A hand-made clg_idx (the struct is public): ubyte [2,3]. */
static clg_idx good_idx(void) {
    clg_idx x;
    memset(&x, 0, sizeof x);
    x.type = CLG_IDX_UBYTE, x.rank = 2, x.dims[0] = 2, x.dims[1] = 3, x.count = 6, x.elem_size = 1;
    x.data = (void *)idx_bytes;
    return x;
}
static void sw_idx_read(const sweep_entry *e) {
    (void)e;
    clg_idx *out = (clg_idx *)1;
    XS(INV, clg_idx_read(NULL, &out));
    XS(INV, clg_idx_read(tmp_path("x.idx"), NULL));
    XSM(NOTF, clg_idx_read(tmp_path("missing.idx"), &out), "missing.idx");
    CHK(out == NULL);
    XS(ANY, clg_idx_read(g_tmp, &out)); /* a directory */
    XS(ANY, clg_idx_read("", &out));
}
static void sw_idx_type_size(const sweep_entry *e) {
    (void)e;
    CHK(clg_idx_type_size((clg_idx_type)0) == 0 && clg_idx_type_size((clg_idx_type)0x42) == 0 &&
        clg_idx_type_size((clg_idx_type)-1) == 0);
}
/* Hand-made clg_idx values that contradict themselves, for the converters. */
static int bad_idx(int k, clg_idx *x) {
    *x = good_idx();
    switch (k) {
    case 0: x->data = NULL; return 1;                    /* elements but no data */
    case 1: x->type = (clg_idx_type)0x42; return 1;      /* not a type */
    case 2: x->count = 7; return 1;                      /* count is not the product of dims */
    case 3: x->rank = 0; return 1;
    case 4: x->rank = 99; return 1;
    case 5: x->dims[1] = -3, x->count = -6; return 1;
    case 6: x->type = CLG_IDX_DOUBLE; return 1;          /* 6 bytes cannot hold 6 doubles: elem_size 1 */
    }
    return 0;
}
static void sw_idx_convert(const sweep_entry *e) {
    int to_int = e->fn == (void (*)(void))clg_idx_to_int32;
    float fo[8];
    int32_t io[8];
    clg_idx x = good_idx();
#define CONV(X, cap) (to_int ? clg_idx_to_int32((X), io, (cap)) : clg_idx_to_float32((X), 1.0, fo, (cap)))
    XS(INV, CONV(NULL, 8));
    XS(INV, to_int ? clg_idx_to_int32(&x, NULL, 8) : clg_idx_to_float32(&x, 1.0, NULL, 8));
    XSM(INV, CONV(&x, 5), "5");
    XS(INV, CONV(&x, -1));
    clg_idx b;
    for (int k = 0; bad_idx(k, &b); k++) XS(INV, CONV(&b, 8));
#undef CONV
    if (to_int) {
        const float halves[2] = {0.5f, 1.0f};
        clg_idx f = good_idx();
        f.type = CLG_IDX_FLOAT, f.rank = 1, f.dims[0] = 2, f.dims[1] = 0, f.count = 2, f.elem_size = 4;
        f.data = (void *)halves;
        XSM(CLG_STATUS_CORRUPT_DATA, clg_idx_to_int32(&f, io, 8), "0.5");
    }
}
static void sw_idx_to_tensor(const sweep_entry *e) {
    (void)e;
    clg_idx x = good_idx(), b;
    XT(INV, clg_idx_to_tensor(NULL, &x, 1.0, CLG_FLOAT32));
    XT(INV, clg_idx_to_tensor(g_ctx, NULL, 1.0, CLG_FLOAT32));
    XT(INV, clg_idx_to_tensor(g_ctx, &x, 1.0, (clg_dtype)99));
    XT(INV, clg_idx_to_tensor(g_ctx, &x, 1.0, CLG_FLOAT16));
    XT(INV, clg_idx_to_tensor(g_ctx, &x, 2.0, CLG_INT32));
    for (int k = 0; bad_idx(k, &b); k++) {
        XT(INV, clg_idx_to_tensor(g_ctx, &b, 1.0, CLG_FLOAT32));
        XT(INV, clg_idx_to_tensor(g_ctx, &b, 1.0, CLG_UINT8));
    }
    x.type = CLG_IDX_INT, x.elem_size = 4;
    XT(INV, clg_idx_to_tensor(g_ctx, &x, 1.0, CLG_UINT8)); /* uint8 needs ubyte */
}
static void sw_csv_read(const sweep_entry *e) {
    (void)e;
    clg_csv *out = (clg_csv *)1;
    clg_csv_options o = clg_csv_options_default();
    clg_test_write_file(tmp_path("ok.csv"), "1,2\n3,4\n", 8);
    XS(INV, clg_csv_read(NULL, NULL, &out));
    XS(INV, clg_csv_read(tmp_path("ok.csv"), NULL, NULL));
    XSM(NOTF, clg_csv_read(tmp_path("missing.csv"), NULL, &out), "missing.csv");
    CHK(out == NULL);
    XS(ANY, clg_csv_read(g_tmp, NULL, &out));
    o.delimiter = '"';
    XS(INV, clg_csv_read(tmp_path("ok.csv"), &o, &out));
    o = clg_csv_options_default(), o.delimiter = '\n';
    XS(INV, clg_csv_read(tmp_path("ok.csv"), &o, &out));
    o = clg_csv_options_default(), o.delimiter = '\r';
    XS(INV, clg_csv_read(tmp_path("ok.csv"), &o, &out));
    o = clg_csv_options_default(), o.max_line_bytes = 2; /* (0 means the default) */
    XS(CLG_STATUS_CORRUPT_DATA, clg_csv_read(tmp_path("ok.csv"), &o, &out));
    o = clg_csv_options_default(), o.max_file_bytes = 4;
    XS(ANY, clg_csv_read(tmp_path("ok.csv"), &o, &out));
    CHK(out == NULL);
}
static void sw_csv_columns(const sweep_entry *e) {
    (void)e;
    double values[6] = {1, 2, 3, 4, 5, 6};
    clg_csv c = {2, 3, values, NULL};
    float out[6];
    XS(INV, clg_csv_columns_float32(NULL, 0, 1, out, 6));
    XS(INV, clg_csv_columns_float32(&c, 0, 1, NULL, 6));
    XSM(INV, clg_csv_columns_float32(&c, -1, 1, out, 6), "-1");
    XS(INV, clg_csv_columns_float32(&c, 0, 0, out, 6));
    XS(INV, clg_csv_columns_float32(&c, 2, 2, out, 6));
    XS(INV, clg_csv_columns_float32(&c, 1, INT64_MAX, out, 6));
    XS(INV, clg_csv_columns_float32(&c, INT64_MAX, 1, out, 6));
    XS(INV, clg_csv_columns_float32(&c, 0, 3, out, 5));
    XS(INV, clg_csv_columns_float32(&c, 0, 3, out, -6));
    clg_csv bad = {2, 3, NULL, NULL}; /* no values */
    XS(INV, clg_csv_columns_float32(&bad, 0, 1, out, 6));
    clg_csv neg = {-2, 3, values, NULL};
    XS(INV, clg_csv_columns_float32(&neg, 0, 1, out, 6));
}
static void sw_dataset_new(const sweep_entry *e) {
    (void)e;
    const float x[6] = {1, 2, 3, 4, 5, 6};
    const int32_t y[2] = {0, 1};
    int64_t nine[9] = {2, 3, 1, 1, 1, 1, 1, 1, 1};
#define DS(...) XO(ANY, clg_dataset_new(__VA_ARGS__), clg_dataset_free)
    XO(INV, clg_dataset_new(2, S(2, 3), NULL, CLG_INT32, 1, S(2), y), clg_dataset_free);
    DS(2, NULL, x, CLG_INT32, 1, S(2), y);
    DS(0, S(2, 3), x, CLG_INT32, 1, S(2), y);
    DS(-1, S(2, 3), x, CLG_INT32, 1, S(2), y);
    DS(9, nine, x, CLG_INT32, 1, S(2), y);
    DS(2, S(2, -3), x, CLG_INT32, 1, S(2), y);
    XO(SHP, clg_dataset_new(2, S(2, 3), x, CLG_INT32, 1, S(3), y), clg_dataset_free);
    DS(2, S(2, 3), x, CLG_UINT8, 1, S(2), y);
    DS(2, S(2, 3), x, (clg_dtype)99, 1, S(2), y);
    DS(2, S(2, 3), x, CLG_INT32, 1, NULL, y);
    DS(2, S(2, 3), x, CLG_INT32, 1, S(2), NULL);
    DS(2, S(2, 3), x, CLG_INT32, -1, S(2), y);
    DS(2, S(2, 3), x, CLG_INT32, 9, nine, y);
    XO(OVF, clg_dataset_new(2, big_shape, x, CLG_INT32, 0, NULL, NULL), clg_dataset_free);
    XO(OVF, clg_dataset_new(3, S(2, INT64_MAX / 2, 4), x, CLG_INT32, 0, NULL, NULL), clg_dataset_free);
#undef DS
}
static void sw_dataset_from_idx(const sweep_entry *e) {
    (void)e;
    clg_idx x = good_idx(), y = good_idx(), b;
    y.rank = 1, y.dims[0] = 3, y.dims[1] = 0, y.count = 3; /* 3 labels for 2 images */
    XO(INV, clg_dataset_from_idx(NULL, 1.0, NULL), clg_dataset_free);
    XO(SHP, clg_dataset_from_idx(&x, 1.0, &y), clg_dataset_free);
    for (int k = 0; bad_idx(k, &b); k++) {
        XO(INV, clg_dataset_from_idx(&b, 1.0, NULL), clg_dataset_free);
        XO(INV, clg_dataset_from_idx(&x, 1.0, &b), clg_dataset_free);
    }
}
static void sw_dataset_accessors(const sweep_entry *e) {
    (void)e;
    int nd = 7;
    CHK(clg_dataset_size(NULL) == 0);
    CHK(clg_dataset_x_shape(NULL, &nd) == NULL && nd == 0);
    nd = 7;
    CHK(clg_dataset_y_shape(NULL, &nd) == NULL && nd == 0);
    CHK(clg_dataset_x_shape(NULL, NULL) == NULL && clg_dataset_y_shape(NULL, NULL) == NULL);
    (void)clg_dataset_y_dtype(NULL);
    CHK(clg_dataset_x_row(NULL) == 0 && clg_dataset_y_row(NULL) == 0);
    CHK(clg_dataset_x(NULL) == NULL && clg_dataset_y(NULL) == NULL);
}
static clg_dataset *small_ds(int n) {
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int32_t y[4] = {0, 1, 2, 1};
    clg_dataset *d = clg_dataset_new(2, S(n, 2), x, CLG_INT32, 1, S(n), y);
    if (!d) fail_msg("dataset: %s", clg_last_error());
    return d;
}
static void sw_dataset_split(const sweep_entry *e) {
    (void)e;
    clg_dataset *d = small_ds(4), *one = small_ds(1), *t = d, *v = d;
    XS(INV, clg_dataset_split(NULL, 0.5, &t, &v));
    CHK(t == NULL && v == NULL);
    XS(INV, clg_dataset_split(d, 0.5, NULL, &v));
    XS(INV, clg_dataset_split(d, 0.5, &t, NULL));
    XSM(INV, clg_dataset_split(d, 0.0, &t, &v), "0");
    XS(INV, clg_dataset_split(d, 1.0, &t, &v));
    XS(INV, clg_dataset_split(d, -0.5, &t, &v));
    XS(INV, clg_dataset_split(d, NAN, &t, &v));
    XS(INV, clg_dataset_split(one, 0.5, &t, &v)); /* one part would be empty */
    CHK(t == NULL && v == NULL);
    clg_dataset_free(d), clg_dataset_free(one);
}
static void sw_dataset_gather(const sweep_entry *e) {
    (void)e;
    clg_dataset *d = small_ds(4);
    float x[8];
    int32_t y[4];
    XS(INV, clg_dataset_gather(NULL, S(0, 1), 2, x, sizeof x, y, sizeof y));
    XS(INV, clg_dataset_gather(d, NULL, 2, x, sizeof x, y, sizeof y));
    XS(INV, clg_dataset_gather(d, S(0, 1), 2, NULL, sizeof x, y, sizeof y));
    XS(INV, clg_dataset_gather(d, S(0, 1), -1, x, sizeof x, y, sizeof y));
    XSM(INV, clg_dataset_gather(d, S(0, 4), 2, x, sizeof x, y, sizeof y), "4");
    XSM(INV, clg_dataset_gather(d, S(-1, 0), 2, x, sizeof x, y, sizeof y), "-1");
    XS(INV, clg_dataset_gather(d, S(0, 1), 2, x, 15, y, sizeof y));
    XS(INV, clg_dataset_gather(d, S(0, 1), 2, x, sizeof x, y, 7));
    XS(INV, clg_dataset_gather(d, S(0, 1, 2, 3, 0), INT64_MAX, x, sizeof x, y, sizeof y));
    clg_dataset_free(d);
}
static void sw_dataset_scale(const sweep_entry *e) {
    (void)e;
    XS(INV, clg_dataset_scale(NULL, 2.0f)); /* (any factor is a valid float product) */
}
static void sw_dataset_stats(const sweep_entry *e) {
    (void)e;
    clg_dataset *d = small_ds(4);
    float m[2], s[2];
    XS(INV, clg_dataset_feature_stats(NULL, m, s));
    XS(INV, clg_dataset_feature_stats(d, NULL, s));
    XS(INV, clg_dataset_feature_stats(d, m, NULL));
    clg_dataset *z = clg_dataset_new(2, S(0, 2), NULL, CLG_INT32, 0, NULL, NULL);
    if (z) XS(INV, clg_dataset_feature_stats(z, m, s)); /* needs N >= 1 */
    clg_dataset_free(z), clg_dataset_free(d);
}
static void sw_dataset_normalize(const sweep_entry *e) {
    (void)e;
    clg_dataset *d = small_ds(4);
    float m[2] = {0, 0}, s[2] = {1, 1};
    XS(INV, clg_dataset_normalize(NULL, m, s));
    XS(INV, clg_dataset_normalize(d, NULL, s));
    XS(INV, clg_dataset_normalize(d, m, NULL));
    clg_dataset_free(d);
}
static void sw_one_hot_host(const sweep_entry *e) {
    (void)e;
    const int32_t l[3] = {0, 2, 1}, bad[3] = {0, 3, 1}, neg[3] = {0, -1, 1};
    float out[9];
    XS(INV, clg_one_hot_host(NULL, 3, 3, out));
    XS(INV, clg_one_hot_host(l, 3, 3, NULL));
    XS(INV, clg_one_hot_host(l, -1, 3, out));
    XS(INV, clg_one_hot_host(l, 3, 0, out));
    XS(INV, clg_one_hot_host(l, 3, -3, out));
    XSM(INV, clg_one_hot_host(bad, 3, 3, out), "3");
    XSM(INV, clg_one_hot_host(neg, 3, 3, out), "-1");
    XS(OVF, clg_one_hot_host(l, INT64_MAX / 2, INT_MAX, out)); /* n * classes overflows: checked before reading */
}
static void sw_dataset_one_hot(const sweep_entry *e) {
    (void)e;
    clg_dataset *d = small_ds(4);
    const float x[4] = {1, 2, 3, 4}, yf[2] = {0.5f, 1};
    clg_dataset *df = clg_dataset_new(2, S(2, 2), x, CLG_FLOAT32, 1, S(2), yf);
    clg_dataset *dn = clg_dataset_new(2, S(2, 2), x, CLG_INT32, 0, NULL, NULL);
    XS(INV, clg_dataset_one_hot(NULL, 3));
    XS(INV, clg_dataset_one_hot(d, 0));
    XS(INV, clg_dataset_one_hot(d, -2));
    XSM(INV, clg_dataset_one_hot(d, 2), "2"); /* label 2 is outside [0, 2) */
    XS(INV, clg_dataset_one_hot(df, 3));     /* float targets */
    XS(INV, clg_dataset_one_hot(dn, 3));     /* no targets */
    CHK(clg_dataset_y_dtype(d) == CLG_INT32); /* unchanged */
    clg_dataset_free(d), clg_dataset_free(df), clg_dataset_free(dn);
}
static void sw_shuffle(const sweep_entry *e) {
    (void)e;
    int64_t perm[4];
    XS(INV, clg_shuffle_permutation(-1, 1, 0, perm));
    XS(INV, clg_shuffle_permutation(4, 1, 0, NULL));
    XS(INV, clg_shuffle_permutation(((int64_t)1 << 31) + 1, 1, 0, perm));
    XS(INV, clg_shuffle_permutation(INT64_MIN, 1, 0, perm));
}
static void sw_batch_iter_new(const sweep_entry *e) {
    (void)e;
    XO(INV, clg_batch_iter_new(-1, 2, 0, 0), clg_batch_iter_free);
    XOM(INV, clg_batch_iter_new(4, 0, 0, 0), clg_batch_iter_free, "0");
    XO(INV, clg_batch_iter_new(4, -2, 0, 0), clg_batch_iter_free);
    XO(ANY, clg_batch_iter_new(INT64_MAX, 1, 1, 0), clg_batch_iter_free); /* too many to shuffle */
}
static void sw_batch_iter_begin(const sweep_entry *e) {
    (void)e;
    clg_batch_iter *i = clg_batch_iter_new(4, 2, 1, 0);
    XS(INV, clg_batch_iter_begin_epoch(NULL, 0));
    XS(INV, clg_batch_iter_begin_epoch(i, -1));
    clg_batch_iter_free(i);
}
static void sw_batch_iter_accessors(const sweep_entry *e) {
    (void)e;
    clg_batch_iter *i = clg_batch_iter_new(4, 2, 1, 0);
    clg_batch b;
    CHK(clg_batch_iter_next(NULL, &b) == 0);
    CHK(clg_batch_iter_next(i, NULL) == 0);
    CHK(clg_batch_iter_count(NULL) <= 0);
    CHK(clg_batch_iter_order(NULL) == NULL);
    clg_batch_iter_free(i);
}

/* safetensors.h -------------------------------------------------------------------------- */

/* rl.h and image.h ------------------------------------------------------------------ */

static void sw_cartpole_new(const sweep_entry *e) {
    (void)e;
    XOM(INV, clg_cartpole_new(0, 1), clg_cartpole_free, "n 0");
    XO(INV, clg_cartpole_new(-3, 1), clg_cartpole_free);
    XOM(INV, clg_cartpole_new((1 << 20) + 1, 1), clg_cartpole_free, "1048577");
    XO(INV, clg_cartpole_new(INT_MIN, 1), clg_cartpole_free);
}

static void sw_cartpole(const sweep_entry *e) {
    clg_cartpole *env = clg_cartpole_new(2, 5);
    if (!env) {
        sweep_fail(__LINE__, "setup: %s", clg_last_error());
        return;
    }
    float obs[8], r[2], fin[8];
    uint8_t te[2], tr[2];
    double st[4] = {0, 0, 0, 0};
    int steps = -1;
    if (e->fn == (void (*)(void))clg_cartpole_count) {
        CHK(clg_cartpole_count(NULL) == 0);
        CHK(clg_cartpole_count(env) == 2);
    } else if (e->fn == (void (*)(void))clg_cartpole_seed) {
        XS(INV, clg_cartpole_seed(NULL, 1));
    } else if (e->fn == (void (*)(void))clg_cartpole_reset) {
        XS(INV, clg_cartpole_reset(NULL, obs));
    } else if (e->fn == (void (*)(void))clg_cartpole_step) {
        XSM(INV, clg_cartpole_step(env, (int32_t[]){0, 1}, obs, r, te, tr, fin), "reset first");
        OK(clg_cartpole_reset(env, obs));
        XS(INV, clg_cartpole_step(NULL, (int32_t[]){0, 1}, obs, r, te, tr, fin));
        XSM(INV, clg_cartpole_step(env, NULL, obs, r, te, tr, fin), "actions");
        XSM(INV, clg_cartpole_step(env, (int32_t[]){0, 1}, NULL, r, te, tr, fin), "obs");
        XSM(INV, clg_cartpole_step(env, (int32_t[]){0, 1}, obs, NULL, te, tr, fin), "rewards");
        XSM(INV, clg_cartpole_step(env, (int32_t[]){0, 1}, obs, r, NULL, tr, fin), "terminated");
        XSM(INV, clg_cartpole_step(env, (int32_t[]){0, 1}, obs, r, te, NULL, fin), "truncated");
        XSM(INV, clg_cartpole_step(env, (int32_t[]){0, -1}, obs, r, te, tr, fin), "-1");
        XSM(INV, clg_cartpole_step(env, (int32_t[]){INT32_MAX, 0}, obs, r, te, tr, fin), "environment 0");
    } else if (e->fn == (void (*)(void))clg_cartpole_get_state) {
        XS(INV, clg_cartpole_get_state(NULL, 0, st, &steps));
        XS(INV, clg_cartpole_get_state(env, 0, NULL, &steps));
        XS(INV, clg_cartpole_get_state(env, 2, st, &steps));
        XS(INV, clg_cartpole_get_state(env, -1, st, &steps));
    } else {
        XS(INV, clg_cartpole_set_state(NULL, 0, st, 0));
        XS(INV, clg_cartpole_set_state(env, 0, NULL, 0));
        XSM(INV, clg_cartpole_set_state(env, 2, st, 0), "environment 2");
        XSM(INV, clg_cartpole_set_state(env, INT_MIN, st, 0), "environment");
        XSM(INV, clg_cartpole_set_state(env, 0, st, -1), "steps -1");
        XSM(INV, clg_cartpole_set_state(env, 0, st, 500), "steps 500");
        XSM(INV, clg_cartpole_set_state(env, 0, (double[]){0, INFINITY, 0, 0}, 0), "state[1]");
        XSM(INV, clg_cartpole_set_state(env, 1, (double[]){0, 0, 0, NAN}, 0), "state[3]");
    }
    clg_cartpole_free(env);
}

static void sw_png_write(const sweep_entry *e) {
    (void)e;
    const uint8_t px[12] = {0};
    XSM(INV, clg_png_write(NULL, 2, 2, 3, px), "path");
    XSM(INV, clg_png_write("", 2, 2, 3, px), "path");
    XSM(INV, clg_png_write(tmp_path("a.png"), 2, 2, 3, NULL), "pixels");
    XSM(INV, clg_png_write(tmp_path("a.png"), 0, 2, 3, px), "0 x 2");
    XSM(INV, clg_png_write(tmp_path("a.png"), 2, -1, 3, px), "2 x -1");
    XSM(INV, clg_png_write(tmp_path("a.png"), 65536, 1, 1, px), "65536");
    XSM(INV, clg_png_write(tmp_path("a.png"), 2, 2, 0, px), "channels 0");
    XSM(INV, clg_png_write(tmp_path("a.png"), 2, 2, 2, px), "channels 2");
    XSM(INV, clg_png_write(tmp_path("a.png"), 2, 2, 5, px), "channels 5");
    XS(ANY, clg_png_write("/proc/clgrad-sweep/a.png", 2, 2, 3, px));
}

static void sw_st_dtype(const sweep_entry *e) {
    (void)e;
    const char *a = clg_safetensors_dtype_name(CLG_SAFETENSORS_DTYPE_COUNT_),
               *b = clg_safetensors_dtype_name((clg_safetensors_dtype)-1);
    CHK(a && b && strcmp(a, "?") == 0 && strcmp(b, "?") == 0);
    CHK(clg_safetensors_dtype_size(CLG_SAFETENSORS_DTYPE_COUNT_) == 0 &&
        clg_safetensors_dtype_size((clg_safetensors_dtype)-1) == 0);
}
/* A small file: "w" F32 [2,3], "d" F64 [2], metadata epoch=3. */
static const char *st_file(void) {
    const char *path = tmp_path("sweep.safetensors");
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    const double d[2] = {1, 2};
    if (!w || clg_safetensors_writer_add_host(w, "w", CLG_SAFETENSORS_F32, 2, S(2, 3), host6) != CLG_OK ||
        clg_safetensors_writer_add_host(w, "d", CLG_SAFETENSORS_F64, 1, S(2), d) != CLG_OK ||
        clg_safetensors_writer_set_metadata(w, "epoch", "3") != CLG_OK ||
        clg_safetensors_writer_save(w, path) != CLG_OK)
        fail_msg("safetensors fixture: %s", clg_last_error());
    clg_safetensors_writer_free(w);
    return path;
}
static void sw_st_open(const sweep_entry *e) {
    (void)e;
    clg_safetensors *f = (clg_safetensors *)1;
    clg_test_write_file(tmp_path("junk.st"), "\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10);
    XS(INV, clg_safetensors_open(NULL, &f));
    XS(INV, clg_safetensors_open(st_file(), NULL));
    XSM(NOTF, clg_safetensors_open(tmp_path("missing.st"), &f), "missing.st");
    CHK(f == NULL);
    XS(CLG_STATUS_CORRUPT_DATA, clg_safetensors_open(tmp_path("junk.st"), &f));
    XS(ANY, clg_safetensors_open(g_tmp, &f));
    CHK(f == NULL);
}
static void sw_st_accessors(const sweep_entry *e) {
    (void)e;
    clg_safetensors *f = NULL;
    OK(clg_safetensors_open(st_file(), &f));
    CHK(clg_safetensors_path(NULL) == NULL || *clg_safetensors_path(NULL) == '\0');
    CHK(clg_safetensors_count(NULL) == 0);
    CHK(clg_safetensors_name(NULL, 0) == NULL);
    CHK(clg_safetensors_name(f, 2) == NULL && clg_safetensors_name(f, SIZE_MAX) == NULL);
    CHK(clg_safetensors_dtype_of(NULL, "w") == CLG_SAFETENSORS_DTYPE_COUNT_);
    CHK(clg_safetensors_dtype_of(f, NULL) == CLG_SAFETENSORS_DTYPE_COUNT_);
    CHK(clg_safetensors_dtype_of(f, "nope") == CLG_SAFETENSORS_DTYPE_COUNT_);
    CHK(clg_safetensors_ndim(NULL, "w") == -1 && clg_safetensors_ndim(f, NULL) == -1 &&
        clg_safetensors_ndim(f, "nope") == -1);
    CHK(clg_safetensors_shape(NULL, "w") == NULL && clg_safetensors_shape(f, NULL) == NULL &&
        clg_safetensors_shape(f, "nope") == NULL);
    CHK(clg_safetensors_metadata_count(NULL) == 0);
    CHK(clg_safetensors_metadata_key(NULL, 0) == NULL && clg_safetensors_metadata_key(f, 1) == NULL &&
        clg_safetensors_metadata_key(f, SIZE_MAX) == NULL);
    CHK(clg_safetensors_metadata_value(NULL, 0) == NULL && clg_safetensors_metadata_value(f, 1) == NULL);
    CHK(clg_safetensors_metadata_get(NULL, "epoch") == NULL && clg_safetensors_metadata_get(f, NULL) == NULL &&
        clg_safetensors_metadata_get(f, "nope") == NULL);
    clg_safetensors_free(f);
}
static void sw_st_info_get(const sweep_entry *e) {
    (void)e;
    clg_safetensors *f = NULL;
    clg_safetensors_info info;
    OK(clg_safetensors_open(st_file(), &f));
    XS(INV, clg_safetensors_info_get(NULL, "w", &info));
    XS(INV, clg_safetensors_info_get(f, NULL, &info));
    XS(INV, clg_safetensors_info_get(f, "w", NULL));
    XSM(NOTF, clg_safetensors_info_get(f, "nope", &info), "nope");
    clg_safetensors_free(f);
}
static void sw_st_read(const sweep_entry *e) {
    (void)e;
    clg_safetensors *f = NULL;
    float buf[6];
    OK(clg_safetensors_open(st_file(), &f));
    XS(INV, clg_safetensors_read(NULL, "w", buf, sizeof buf));
    XS(INV, clg_safetensors_read(f, NULL, buf, sizeof buf));
    XS(INV, clg_safetensors_read(f, "w", NULL, sizeof buf));
    XSM(INV, clg_safetensors_read(f, "w", buf, sizeof buf - 1), "23");
    XS(NOTF, clg_safetensors_read(f, "nope", buf, sizeof buf));
    clg_safetensors_free(f);
}
static void sw_st_read_tensor(const sweep_entry *e) {
    (void)e;
    clg_safetensors *f = NULL;
    OK(clg_safetensors_open(st_file(), &f));
    XT(INV, clg_safetensors_read_tensor(NULL, "w", g_ctx));
    XT(INV, clg_safetensors_read_tensor(f, NULL, g_ctx));
    XT(INV, clg_safetensors_read_tensor(f, "w", NULL));
    XT(NOTF, clg_safetensors_read_tensor(f, "nope", g_ctx));
    XTM(UNS, clg_safetensors_read_tensor(f, "d", g_ctx), "F64");
    clg_safetensors_free(f);
}
static void sw_st_writer_add(const sweep_entry *e) {
    (void)e;
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    clg_tensor *t = ft(1, S(2));
    XS(INV, clg_safetensors_writer_add(NULL, "t", t));
    XS(INV, clg_safetensors_writer_add(w, NULL, t));
    XS(INV, clg_safetensors_writer_add(w, "", t));
    XS(INV, clg_safetensors_writer_add(w, "__metadata__", t));
    XS(INV, clg_safetensors_writer_add(w, "bad\xff", t));
    XS(INV, clg_safetensors_writer_add(w, "t", NULL));
    OK(clg_safetensors_writer_add(w, "t", t));
    XSM(INV, clg_safetensors_writer_add(w, "t", t), "t"); /* added before */
    clg_safetensors_writer_free(w);
    clg_tensor_free(t);
}
static void sw_st_writer_add_host(const sweep_entry *e) {
    (void)e;
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    int64_t shape65[65];
    for (int i = 0; i < 65; i++) shape65[i] = 1;
#define AH(...) XS(INV, clg_safetensors_writer_add_host(__VA_ARGS__))
    AH(NULL, "h", CLG_SAFETENSORS_F32, 1, S(2), host6);
    AH(w, NULL, CLG_SAFETENSORS_F32, 1, S(2), host6);
    AH(w, "", CLG_SAFETENSORS_F32, 1, S(2), host6);
    AH(w, "h", CLG_SAFETENSORS_DTYPE_COUNT_, 1, S(2), host6);
    AH(w, "h", (clg_safetensors_dtype)-1, 1, S(2), host6);
    AH(w, "h", CLG_SAFETENSORS_F32, -1, S(2), host6);
    AH(w, "h", CLG_SAFETENSORS_F32, 65, shape65, host6);
    AH(w, "h", CLG_SAFETENSORS_F32, 1, NULL, host6);
    AH(w, "h", CLG_SAFETENSORS_F32, 2, S(2, -3), host6);
    AH(w, "h", CLG_SAFETENSORS_F32, 1, S(2), NULL);
#undef AH
    XS(OVF, clg_safetensors_writer_add_host(w, "h", CLG_SAFETENSORS_F32, 2, big_shape, host6));
    XS(OVF, clg_safetensors_writer_add_host(w, "h", CLG_SAFETENSORS_F64, 2, S(INT64_MAX / 4, 4), host6));
    clg_safetensors_writer_free(w);
}
static void sw_st_writer_set_metadata(const sweep_entry *e) {
    (void)e;
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    XS(INV, clg_safetensors_writer_set_metadata(NULL, "k", "v"));
    XS(INV, clg_safetensors_writer_set_metadata(w, NULL, "v"));
    XS(INV, clg_safetensors_writer_set_metadata(w, "k", NULL));
    XS(INV, clg_safetensors_writer_set_metadata(w, "k\xc3", "v"));
    XS(INV, clg_safetensors_writer_set_metadata(w, "k", "\xed\xa0\x80")); /* a surrogate */
    clg_safetensors_writer_free(w);
}
static void sw_st_writer_save(const sweep_entry *e) {
    (void)e;
    clg_safetensors_writer *w = clg_safetensors_writer_new();
    XS(INV, clg_safetensors_writer_save(NULL, tmp_path("s.st")));
    XS(INV, clg_safetensors_writer_save(w, NULL));
    XS(ANY, clg_safetensors_writer_save(w, ""));
    XS(ANY, clg_safetensors_writer_save(w, "/dev/null/s.st"));
    XS(ANY, clg_safetensors_writer_save(w, g_tmp)); /* a directory */
    clg_safetensors_writer_free(w);
}

/* text.h ------------------------------------------------------------------------------------ */

static void sw_text_read(const sweep_entry *e) {
    clg_status (*f)(const char *, const clg_text_limits *, clg_text_list **) =
        (clg_status(*)(const char *, const clg_text_limits *, clg_text_list **))e->fn;
    clg_text_list *out = (clg_text_list *)1;
    clg_test_write_file(tmp_path("lines.txt"), "a\nbb\n%\nccc\n", 11);
    clg_text_limits lim = {2, 0};
    XS(INV, f(NULL, NULL, &out));
    XS(INV, f(tmp_path("lines.txt"), NULL, NULL));
    XSM(NOTF, f(tmp_path("missing.txt"), NULL, &out), "missing.txt");
    CHK(out == NULL);
    XS(CLG_STATUS_IO_ERROR, f(g_tmp, NULL, &out)); /* a directory */
    XS(CLG_STATUS_CORRUPT_DATA, f(tmp_path("lines.txt"), &lim, &out));
    lim.max_line_bytes = 0, lim.max_file_bytes = 4;
    XS(CLG_STATUS_CORRUPT_DATA, f(tmp_path("lines.txt"), &lim, &out));
    CHK(out == NULL);
}
static void sw_text_list_dir(const sweep_entry *e) {
    (void)e;
    clg_text_list *out = (clg_text_list *)1;
    XS(INV, clg_text_list_dir(NULL, NULL, &out));
    XS(INV, clg_text_list_dir(g_tmp, NULL, NULL));
    XSM(NOTF, clg_text_list_dir(tmp_path("no-such-dir"), NULL, &out), "no-such-dir");
    CHK(out == NULL);
    clg_test_write_file(tmp_path("plain.txt"), "x", 1);
    XS(CLG_STATUS_IO_ERROR, clg_text_list_dir(tmp_path("plain.txt"), NULL, &out));
    CHK(out == NULL);
}
static void sw_tokenizer_default(const sweep_entry *e) {
    (void)e;
    clg_tokenizer t = clg_tokenizer_default((clg_tokenize_mode)99); /* a struct, no status */
    clg_text_list *out = NULL;
    XS(INV, clg_tokenize(&t, "ab", 2, &out)); /* ...which the users of a tokenizer refuse */
    CHK(out == NULL);
}
static void sw_tokenize(const sweep_entry *e) {
    (void)e;
    clg_tokenizer t = clg_tokenizer_default(CLG_TOKENIZE_WORDS), bad = t, badp = t;
    bad.mode = (clg_tokenize_mode)-1, badp.punctuation = (clg_punct_mode)9;
    clg_text_list *out = (clg_text_list *)1;
    char *longword = malloc(CLG_TEXT_MAX_TOKEN_BYTES + 10);
    memset(longword, 'a', CLG_TEXT_MAX_TOKEN_BYTES + 10);
    XS(INV, clg_tokenize(NULL, "ab", 2, &out));
    XS(INV, clg_tokenize(&t, NULL, 2, &out));
    XS(INV, clg_tokenize(&t, "ab", 2, NULL));
    XS(INV, clg_tokenize(&bad, "ab", 2, &out));
    XS(INV, clg_tokenize(&badp, "ab", 2, &out));
    XSM(CLG_STATUS_CORRUPT_DATA, clg_tokenize(&t, longword, CLG_TEXT_MAX_TOKEN_BYTES + 10, &out), "0");
    CHK(out == NULL);
    free(longword);
}
static void sw_token_counter_new(const sweep_entry *e) {
    (void)e;
    clg_tokenizer bad = clg_tokenizer_default(CLG_TOKENIZE_CHARS);
    bad.mode = (clg_tokenize_mode)7;
    XO(INV, clg_token_counter_new(NULL), clg_token_counter_free);
    XO(INV, clg_token_counter_new(&bad), clg_token_counter_free);
}
static void sw_token_counter_add(const sweep_entry *e) {
    (void)e;
    clg_tokenizer t = clg_tokenizer_default(CLG_TOKENIZE_CHARS);
    clg_token_counter *c = clg_token_counter_new(&t);
    XS(INV, clg_token_counter_add(NULL, "ab", 2));
    XS(INV, clg_token_counter_add(c, NULL, 2));
    CHK(clg_token_counter_distinct(c) == 0);
    clg_token_counter_free(c);
}
static void sw_token_counter_distinct(const sweep_entry *e) {
    (void)e;
    CHK(clg_token_counter_distinct(NULL) == 0);
}
static clg_vocab *small_vocab(void) {
    clg_tokenizer t = clg_tokenizer_default(CLG_TOKENIZE_CHARS);
    clg_token_counter *c = clg_token_counter_new(&t);
    clg_token_counter_add(c, "abcab", 5);
    clg_vocab *v = clg_vocab_build(c, 1, 0);
    clg_token_counter_free(c);
    if (!v) fail_msg("vocab: %s", clg_last_error());
    return v;
}
static void sw_vocab_build(const sweep_entry *e) {
    (void)e;
    clg_tokenizer t = clg_tokenizer_default(CLG_TOKENIZE_CHARS);
    clg_token_counter *c = clg_token_counter_new(&t);
    clg_token_counter_add(c, "abc", 3);
    XO(INV, clg_vocab_build(NULL, 1, 0), clg_vocab_free);
    XOM(INV, clg_vocab_build(c, 1, 1), clg_vocab_free, "1");
    XO(INV, clg_vocab_build(c, 1, -5), clg_vocab_free);
    clg_token_counter_free(c);
}
static void sw_vocab_from_tokens(const sweep_entry *e) {
    (void)e;
    clg_tokenizer t = clg_tokenizer_default(CLG_TOKENIZE_WORDS), bad = t;
    bad.mode = (clg_tokenize_mode)5;
    char *items[3] = {"one", "two", "one"}, *empty[1] = {""}, *inval[1] = {"a\xff"};
    size_t lens[3] = {3, 3, 3}, zero[1] = {0}, two[1] = {2};
    clg_text_list dup = {3, items, lens}, emp = {1, empty, zero}, inv = {1, inval, two};
    clg_text_list malformed = {2, NULL, NULL}, negative = {-1, items, lens};
    clg_text_list ok = {2, items, lens};
#define VT(tok, list) XO(INV, clg_vocab_from_tokens((tok), (list)), clg_vocab_free)
    VT(NULL, &ok);
    VT(&bad, &ok);
    VT(&t, NULL);
    VT(&t, &malformed);
    VT(&t, &negative);
    XOM(INV, clg_vocab_from_tokens(&t, &dup), clg_vocab_free, "one");
    VT(&t, &emp);
    VT(&t, &inv);
#undef VT
}
static void sw_vocab_accessors(const sweep_entry *e) {
    (void)e;
    clg_vocab *v = small_vocab();
    size_t len = 99;
    CHK(clg_vocab_size(NULL) == 0);
    (void)clg_vocab_tokenizer(NULL);
    CHK(clg_vocab_id(NULL, "a", 1) == CLG_VOCAB_OOV);
    CHK(clg_vocab_id(v, NULL, 1) == CLG_VOCAB_OOV);
    CHK(clg_vocab_token(NULL, 2, &len) == NULL);
    CHK(clg_vocab_token(v, -1, &len) == NULL && clg_vocab_token(v, (int32_t)clg_vocab_size(v), &len) == NULL);
    CHK(clg_vocab_token(v, INT32_MAX, NULL) == NULL);
    CHK(clg_vocab_count(NULL, 2) == 0 && clg_vocab_count(v, -1) == 0 && clg_vocab_count(v, INT32_MAX) == 0);
    clg_vocab_free(v);
}
static void sw_vocab_save(const sweep_entry *e) {
    (void)e;
    clg_vocab *v = small_vocab();
    XS(INV, clg_vocab_save(NULL, tmp_path("v.vocab")));
    XS(INV, clg_vocab_save(v, NULL));
    XS(ANY, clg_vocab_save(v, ""));
    XSM(ANY, clg_vocab_save(v, "/dev/null/v.vocab"), "/dev/null/v.vocab");
    clg_vocab_free(v);
}
static void sw_vocab_load(const sweep_entry *e) {
    (void)e;
    clg_vocab *out = (clg_vocab *)1;
    clg_test_write_file(tmp_path("junk.vocab"), "clgrad-vocab 1 chars 0 keep 2\na\t1\n", 35);
    XS(INV, clg_vocab_load(NULL, &out));
    XS(INV, clg_vocab_load(tmp_path("v.vocab"), NULL));
    XS(NOTF, clg_vocab_load(tmp_path("missing.vocab"), &out));
    CHK(out == NULL);
    XS(CLG_STATUS_CORRUPT_DATA, clg_vocab_load(tmp_path("junk.vocab"), &out)); /* one token of two */
    XS(ANY, clg_vocab_load(g_tmp, &out));
    CHK(out == NULL);
}
static void sw_sequences_append(const sweep_entry *e) {
    (void)e;
    clg_sequences *s = clg_sequences_new();
    const int32_t ids[2] = {2, 3};
    XS(INV, clg_sequences_append(NULL, ids, 2));
    XS(INV, clg_sequences_append(s, NULL, 2));
    XSM(INV, clg_sequences_append(s, ids, -1), "-1");
    XS(ANY, clg_sequences_append(s, ids, INT64_MAX)); /* too many to copy */
    CHK(clg_sequences_count(s) == 0);
    clg_sequences_free(s);
}
static void sw_vocab_encode(const sweep_entry *e) {
    (void)e;
    clg_vocab *v = small_vocab();
    clg_sequences *s = clg_sequences_new();
    XS(INV, clg_vocab_encode(NULL, "ab", 2, s));
    XS(INV, clg_vocab_encode(v, NULL, 2, s));
    XS(INV, clg_vocab_encode(v, "ab", 2, NULL));
    CHK(clg_sequences_count(s) == 0);
    clg_sequences_free(s), clg_vocab_free(v);
}
static void sw_vocab_decode(const sweep_entry *e) {
    (void)e;
    clg_vocab *v = small_vocab();
    const int32_t ids[3] = {2, 3, 4}, bad[3] = {2, 99, 3}, neg[2] = {-1, 2};
    char out[16];
    size_t len = 0;
    XS(INV, clg_vocab_decode(NULL, ids, 3, out, sizeof out, &len));
    XS(INV, clg_vocab_decode(v, NULL, 3, out, sizeof out, &len));
    XS(INV, clg_vocab_decode(v, ids, 3, NULL, sizeof out, &len));
    XS(INV, clg_vocab_decode(v, ids, -1, out, sizeof out, &len));
    XSM(INV, clg_vocab_decode(v, bad, 3, out, sizeof out, &len), "99");
    XSM(INV, clg_vocab_decode(v, neg, 2, out, sizeof out, &len), "-1");
    XS(INV, clg_vocab_decode(v, ids, 3, out, 2, &len)); /* too small */
    CHK(out[0] == '\0' && len == 3);
    XS(INV, clg_vocab_decode(v, ids, 3, out, 0, &len));
    clg_vocab_free(v);
}
static void sw_sequences_accessors(const sweep_entry *e) {
    (void)e;
    clg_sequences *s = clg_sequences_new();
    clg_sequences_append(s, (const int32_t[]){2, 3}, 2);
    int64_t n = 99;
    CHK(clg_sequences_count(NULL) == 0);
    CHK(clg_sequences_get(NULL, 0, &n) == NULL && n == 0);
    n = 99;
    CHK(clg_sequences_get(s, -1, &n) == NULL && n == 0);
    CHK(clg_sequences_get(s, 1, &n) == NULL && clg_sequences_get(s, INT64_MAX, &n) == NULL);
    const int32_t *ids = clg_sequences_get(s, 0, NULL); /* a NULL length pointer */
    CHK(ids && ids[0] == 2);
    clg_sequences_free(s);
}
static void sw_sequences_max_length(const sweep_entry *e) {
    (void)e;
    clg_sequences *s = clg_sequences_new();
    clg_sequences_append(s, (const int32_t[]){2, 3}, 2);
    XSENT(INV, clg_sequences_max_length(NULL, NULL, 0), IS_M1);
    XSENT(INV, clg_sequences_max_length(s, NULL, -1), IS_M1);
    XSENT(INV, clg_sequences_max_length(s, NULL, 2), IS_M1); /* count must be 1 */
    XSENT(INV, clg_sequences_max_length(s, S(0, 1), 2), IS_M1);
    XSENT(INV, clg_sequences_max_length(s, S(-1), 1), IS_M1);
    clg_sequences_free(s);
}
static void sw_pad_sequences(const sweep_entry *e) {
    (void)e;
    clg_sequences *s = clg_sequences_new();
    clg_sequences_append(s, (const int32_t[]){2, 3}, 2);
    int32_t out[8];
#define PS(...) XS(INV, clg_pad_sequences(__VA_ARGS__))
    PS(NULL, NULL, 1, 4, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 8);
    PS(s, NULL, 1, 4, CLG_PAD_PRE, CLG_PAD_PRE, 0, NULL, 8);
    PS(s, NULL, 1, 0, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 8);
    PS(s, NULL, 1, -4, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 8);
    PS(s, NULL, 1, 4, (clg_pad_side)9, CLG_PAD_PRE, 0, out, 8);
    PS(s, NULL, 1, 4, CLG_PAD_PRE, (clg_pad_side)-1, 0, out, 8);
    PS(s, NULL, 1, 4, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 3);
    PS(s, NULL, 1, 4, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, -8);
    PS(s, NULL, 2, 4, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 8);
    PS(s, S(1), 1, 4, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 8);
    PS(s, S(0), -1, 4, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 8);
    PS(s, NULL, 1, INT64_MAX, CLG_PAD_PRE, CLG_PAD_PRE, 0, out, 8); /* count * maxlen overflows nothing */
#undef PS
    clg_sequences_free(s);
}
static void sw_sample_token(const sweep_entry *e) {
    (void)e;
    const float row[3] = {0.2f, 0.5f, 0.3f}, nanrow[3] = {0.2f, NAN, 0.3f}, negrow[3] = {0.2f, -0.5f, 0.3f};
    const float zero[3] = {0, 0, 0}, infrow[3] = {0, INFINITY, 0};
    int out = -7;
    XS(INV, clg_sample_token(NULL, 3, 0, 1, 0, 1, 0, &out));
    XS(INV, clg_sample_token(row, 3, 0, 1, 0, 1, 0, NULL));
    XS(INV, clg_sample_token(row, 0, 0, 1, 0, 1, 0, &out));
    XS(INV, clg_sample_token(row, -3, 0, 1, 0, 1, 0, &out));
    XSM(INV, clg_sample_token(nanrow, 3, 0, 1, 0, 1, 0, &out), "1");
    XS(INV, clg_sample_token(infrow, 3, 1, 1, 0, 1, 0, &out));
    XS(INV, clg_sample_token(negrow, 3, 0, 1, 0, 1, 0, &out));
    XS(INV, clg_sample_token(zero, 3, 0, 1, 0, 1, 0, &out));
    /* (temperature <= 0 or NaN is the greedy choice and top_k <= 0 no cut, as documented) */
    CHK(out == -7);
}

/* --- the table ------------------------------------------------------------------------------ */

static const sweep_entry table[] = {
    /* status.h */
    E(clg_status_name, sw_status_lookup),
    E(clg_status_message, sw_status_lookup),
    /* runtime.h */
    E(clg_devices_query, sw_devices_query),
    E(clg_device_rank, sw_device_rank),
    EA(clg_device_select, sw_device_select, "device selection"),
    EA(clg_device_select_many, sw_device_select_many, "device selection"),
    E(clg_device_type_name, sw_device_type_name),
    EA(clg_context_new, sw_context_new, "device selection"),
    E(clg_context_device, sw_context_device),
    E(clg_context_device_count, sw_context_device_count),
    E(clg_model_device_split, sw_model_device_split),
    E(clg_context_device_at, sw_context_device_at),
    E(clg_context_finish, sw_context_finish),
    E(clg_context_get_limits, sw_context_get_limits),
    E(clg_context_get_stats, sw_context_get_stats),
    E(clg_context_reset_peak_memory, sw_context_void),
    E(clg_context_release_cached_memory, sw_context_void),
    E(clg_profile_start, sw_profile_start),
    E(clg_profile_stop, sw_profile_stop),
    E(clg_profile_print, sw_profile_print),
    E(clg_context_cache_dir, sw_context_cache_dir),
    EA(clg_store_get, sw_store_get, "store"),
    EA(clg_store_set, sw_store_set, "store"),
    E(clg_event_record, sw_event_record),
    E(clg_event_wait, sw_event_wait),
    E(clg_event_synchronize, sw_event_synchronize),
    E(clg_event_done, sw_event_done),
    /* tensor.h */
    E(clg_dtype_size, sw_dtype_lookup),
    E(clg_dtype_name, sw_dtype_lookup),
    E(clg_tensor_empty, sw_empty),
    E(clg_tensor_from_host, sw_from_host),
    E(clg_tensor_full, sw_full),
    E(clg_tensor_zeros, sw_zeros),
    E(clg_tensor_ones, sw_ones),
    E(clg_tensor_arange, sw_arange),
    E(clg_tensor_rand_uniform, sw_rand),
    E(clg_tensor_rand_normal, sw_rand),
    E(clg_tensor_rand_uniform_counter, sw_rand),
    E(clg_tensor_rand_bits, sw_rand),
    E(clg_tensor_ndim, sw_tensor_accessors),
    E(clg_tensor_shape, sw_tensor_accessors),
    E(clg_tensor_strides, sw_tensor_accessors),
    E(clg_tensor_offset, sw_tensor_accessors),
    E(clg_tensor_numel, sw_tensor_accessors),
    E(clg_tensor_dtype, sw_tensor_accessors),
    E(clg_tensor_context, sw_tensor_accessors),
    E(clg_tensor_is_contiguous, sw_tensor_accessors),
    E(clg_tensor_name, sw_tensor_accessors),
    E(clg_tensor_set_name, sw_tensor_set_name),
    E(clg_shape_format, sw_shape_format),
    E(clg_tensor_to_host, sw_to_host),
    E(clg_tensor_write, sw_write),
    E(clg_tensor_assign, sw_assign),
    E(clg_tensor_contiguous, sw_contiguous),
    E(clg_tensor_print, sw_print),
    E(clg_tensor_reshape, sw_reshape),
    E(clg_tensor_slice, sw_slice),
    E(clg_tensor_permute, sw_permute),
    E(clg_tensor_transpose, sw_transpose),
    /* autograd.h */
    E(clg_tensor_set_requires_grad, sw_set_requires_grad),
    E(clg_tensor_requires_grad, sw_autograd_accessors),
    E(clg_tensor_grad, sw_autograd_accessors),
    E(clg_tensor_zero_grad, sw_zero_grad),
    E(clg_tensor_detach, sw_detach),
    E(clg_tensor_eval, sw_eval),
    E(clg_backward, sw_backward),
    E(clg_grad_set_enabled, sw_grad_set_enabled),
    E(clg_step_capture_begin, sw_capture_begin),
    E(clg_step_capture_end, sw_capture_end),
    E(clg_step_replay, sw_step_replay),
    E(clg_step_get_info, sw_step_get_info),
    /* ops.h: elementwise */
    E(clg_neg, sw_unary), E(clg_abs, sw_unary), E(clg_exp, sw_unary), E(clg_log, sw_unary),
    E(clg_sqrt, sw_unary), E(clg_rsqrt, sw_unary), E(clg_square, sw_unary), E(clg_sin, sw_unary),
    E(clg_cos, sw_unary), E(clg_sigmoid, sw_unary), E(clg_tanh, sw_unary), E(clg_relu, sw_unary),
    E(clg_gelu, sw_unary), E(clg_gelu_tanh, sw_unary), E(clg_softplus, sw_unary), E(clg_softsign, sw_unary),
    E(clg_hard_sigmoid, sw_unary), E(clg_sign, sw_unary),
    E(clg_leaky_relu, sw_unary_param), E(clg_elu, sw_unary_param),
    E(clg_clamp, sw_clamp),
    E(clg_add, sw_binary), E(clg_sub, sw_binary), E(clg_mul, sw_binary), E(clg_div, sw_binary),
    E(clg_pow, sw_binary), E(clg_maximum, sw_binary), E(clg_minimum, sw_binary),
    E(clg_eq, sw_binary), E(clg_ne, sw_binary), E(clg_lt, sw_binary), E(clg_le, sw_binary),
    E(clg_gt, sw_binary), E(clg_ge, sw_binary),
    E(clg_where, sw_where),
    E(clg_add_scalar, sw_scalar), E(clg_mul_scalar, sw_scalar), E(clg_sub_scalar, sw_scalar),
    E(clg_rsub_scalar, sw_scalar), E(clg_div_scalar, sw_scalar), E(clg_rdiv_scalar, sw_scalar),
    E(clg_pow_scalar, sw_scalar), E(clg_maximum_scalar, sw_scalar), E(clg_minimum_scalar, sw_scalar),
    /* ops.h: reductions, products, shapes */
    E(clg_sum, sw_reduce), E(clg_mean, sw_reduce), E(clg_max, sw_reduce), E(clg_min, sw_reduce),
    E(clg_var, sw_var),
    E(clg_argmax, sw_argmax), E(clg_argmin, sw_argmax),
    E(clg_softmax, sw_softmax), E(clg_log_softmax, sw_softmax),
    E(clg_matmul, sw_matmul),
    E(clg_matmul_batched, sw_matmul_batched),
    E(clg_linear, sw_linear),
    E(clg_broadcast_to, sw_broadcast_to),
    E(clg_squeeze, sw_squeeze),
    E(clg_unsqueeze, sw_unsqueeze),
    E(clg_concat, sw_concat_stack), E(clg_stack, sw_concat_stack),
    E(clg_split, sw_split),
    E(clg_pad, sw_pad),
    E(clg_gather, sw_gather),
    E(clg_index_select, sw_index_select),
    E(clg_one_hot, sw_one_hot),
    E(clg_embedding, sw_embedding),
    /* ops.h: losses, dropout */
    E(clg_softmax_cross_entropy, sw_softmax_ce),
    E(clg_softmax_cross_entropy_onehot, sw_softmax_ce),
    E(clg_sparse_categorical_cross_entropy, sw_loss_pair),
    E(clg_categorical_cross_entropy, sw_loss_pair),
    E(clg_binary_cross_entropy, sw_loss_pair),
    E(clg_binary_cross_entropy_logits, sw_loss_pair),
    E(clg_mse, sw_loss_pair),
    E(clg_mae, sw_loss_pair),
    E(clg_huber, sw_huber),
    E(clg_nt_xent, sw_nt_xent),
    E(clg_dropout, sw_dropout),
    E(clg_dropout_counter, sw_dropout_counter),
    /* ops.h: convolution, pooling, normalisation, recurrent, attention */
    E(clg_conv2d, sw_conv2d),
    E(clg_conv1d, sw_conv1d),
    E(clg_conv2d_transpose, sw_conv2d_transpose),
    E(clg_max_pool2d, sw_pool), E(clg_avg_pool2d, sw_pool),
    E(clg_global_avg_pool2d, sw_global_pool), E(clg_global_max_pool2d, sw_global_pool),
    E(clg_upsample2d, sw_upsample2d),
    E(clg_batch_norm, sw_batch_norm),
    E(clg_layer_norm, sw_layer_norm),
    E(clg_group_norm, sw_group_norm),
    E(clg_lstm, sw_rnn), E(clg_gru, sw_rnn), E(clg_simple_rnn, sw_rnn),
    E(clg_scaled_dot_product_attention, sw_attention),
    E(clg_causal_mask, sw_causal_mask),
    E(clg_sinusoidal_positions, sw_sinusoidal),
    /* optim.h */
    E(clg_optimizer_sgd, sw_opt_new),
    E(clg_optimizer_adam, sw_opt_adam),
    E(clg_optimizer_adamw, sw_opt_adamw),
    E(clg_optimizer_rmsprop, sw_opt_rmsprop),
    E(clg_optimizer_adagrad, sw_opt_adagrad),
    E(clg_optimizer_from_name, sw_opt_from_name),
    E(clg_optimizer_set_weight_decay, sw_opt_set_float),
    E(clg_optimizer_set_amsgrad, sw_opt_set_amsgrad),
    E(clg_optimizer_set_clipnorm, sw_opt_clip),
    E(clg_optimizer_set_global_clipnorm, sw_opt_clip),
    E(clg_optimizer_set_clipvalue, sw_opt_clip),
    E(clg_optimizer_set_skip_nonfinite, sw_opt_set_skip),
    E(clg_optimizer_skipped_steps, sw_opt_skipped),
    E(clg_optimizer_set_schedule_exponential, sw_opt_schedules),
    E(clg_optimizer_set_schedule_step, sw_opt_schedules),
    E(clg_optimizer_set_schedule_cosine, sw_opt_schedules),
    E(clg_optimizer_clear_schedule, sw_opt_clear_schedule),
    E(clg_optimizer_attach, sw_opt_attach),
    E(clg_optimizer_step, sw_opt_step),
    E(clg_optimizer_get_learning_rate, sw_opt_lr),
    E(clg_optimizer_set_learning_rate, sw_opt_set_float),
    E(clg_optimizer_current_learning_rate, sw_opt_current_lr),
    E(clg_optimizer_iterations, sw_opt_iterations),
    E(clg_optimizer_state_count, sw_opt_state_count),
    E(clg_optimizer_state_tensor, sw_opt_state),
    E(clg_optimizer_state_name, sw_opt_state),
    E(clg_optimizer_name, sw_opt_name),
    E(clg_optimizer_config_json, sw_opt_config_json),
    /* model.h: layers */
    E(clg_layer_dense, sw_layer_ctors),
    E(clg_layer_conv2d, sw_layer_ctors),
    EA(clg_layer_conv2d_ex, sw_layer_ctors, "clg_layer_conv2d"),
    E(clg_layer_max_pooling2d, sw_layer_ctors),
    E(clg_layer_dropout, sw_layer_ctors),
    E(clg_layer_activation, sw_layer_ctors),
    E(clg_layer_average_pooling2d, sw_layer_ctors),
    E(clg_layer_zero_padding2d, sw_layer_ctors),
    E(clg_layer_upsampling2d, sw_layer_ctors),
    E(clg_layer_reshape, sw_layer_ctors),
    E(clg_layer_leaky_relu, sw_layer_ctors),
    E(clg_layer_depthwise_conv2d, sw_layer_ctors),
    E(clg_layer_conv2d_transpose, sw_layer_ctors),
    E(clg_layer_conv1d, sw_layer_ctors),
    E(clg_layer_embedding, sw_layer_ctors),
    EA(clg_layer_embedding_ex, sw_layer_ctors, "clg_layer_embedding"),
    E(clg_layer_concatenate, sw_layer_ctors),
    E(clg_layer_simple_rnn, sw_layer_ctors),
    E(clg_layer_lstm, sw_layer_ctors),
    E(clg_layer_gru, sw_layer_ctors),
    E(clg_layer_multi_head_attention, sw_layer_ctors),
    E(clg_layer_position_embedding, sw_layer_ctors),
    E(clg_layer_bidirectional, sw_layer_bidirectional),
    E(clg_layer_set_trainable, sw_layer_set_trainable),
    E(clg_layer_trainable, sw_layer_accessors),
    E(clg_layer_name, sw_layer_accessors),
    E(clg_layer_set_l2, sw_layer_set_l2),
    E(clg_layer_set_stateful, sw_layer_set_stateful),
    /* model.h: models */
    E(clg_sequential_new, sw_sequential_new),
    E(clg_model_add, sw_model_add),
    E(clg_model_new, sw_model_new),
    E(clg_model_input, sw_model_input),
    EA(clg_model_input_indices, sw_model_input, "clg_model_input"),
    E(clg_call, sw_call),
    E(clg_call_n, sw_call_n),
    E(clg_call_rnn, sw_call_rnn),
    E(clg_model_reset_states, sw_model_reset_states),
    E(clg_model_set_outputs, sw_set_outputs),
    E(clg_transformer_block, sw_transformer_block),
    E(clg_model_call, sw_model_call),
    E(clg_model_weight_count, sw_model_weight_count),
    E(clg_model_weight, sw_model_weight),
    E(clg_model_get_layer, sw_model_get_layer),
    E(clg_model_summary, sw_model_summary),
    E(clg_model_param_count, sw_model_param_count),
    E(clg_model_compile, sw_model_compile),
    EA(clg_model_compile_optimizer, sw_model_compile_optimizer, "clg_model_compile"),
    E(clg_model_optimizer, sw_model_optimizer),
    E(clg_model_set_seed, sw_model_set_seed),
    E(clg_model_set_learning_rate, sw_model_set_lr),
    E(clg_callback_early_stopping, sw_callbacks),
    E(clg_callback_model_checkpoint, sw_callbacks),
    E(clg_callback_csv_logger, sw_callbacks),
    E(clg_callback_reduce_lr_on_plateau, sw_callbacks),
    E(clg_callback_user, sw_callbacks),
    E(clg_model_fit, sw_model_fit),
    E(clg_model_evaluate, sw_model_evaluate),
    E(clg_model_predict, sw_model_predict),
    E(clg_model_save_weights, sw_model_save_weights),
    E(clg_model_load_weights, sw_model_load_weights),
    E(clg_model_save, sw_model_save_weights),
    E(clg_model_load, sw_model_load),
    /* data.h */
    E(clg_idx_read, sw_idx_read),
    E(clg_idx_type_size, sw_idx_type_size),
    E(clg_idx_to_float32, sw_idx_convert),
    E(clg_idx_to_int32, sw_idx_convert),
    E(clg_idx_to_tensor, sw_idx_to_tensor),
    E(clg_csv_read, sw_csv_read),
    E(clg_csv_columns_float32, sw_csv_columns),
    E(clg_dataset_new, sw_dataset_new),
    E(clg_dataset_from_idx, sw_dataset_from_idx),
    E(clg_dataset_size, sw_dataset_accessors),
    E(clg_dataset_x_shape, sw_dataset_accessors),
    E(clg_dataset_y_shape, sw_dataset_accessors),
    E(clg_dataset_y_dtype, sw_dataset_accessors),
    E(clg_dataset_x_row, sw_dataset_accessors),
    E(clg_dataset_y_row, sw_dataset_accessors),
    E(clg_dataset_x, sw_dataset_accessors),
    E(clg_dataset_y, sw_dataset_accessors),
    E(clg_dataset_split, sw_dataset_split),
    E(clg_dataset_gather, sw_dataset_gather),
    E(clg_dataset_scale, sw_dataset_scale),
    E(clg_dataset_feature_stats, sw_dataset_stats),
    E(clg_dataset_normalize, sw_dataset_normalize),
    E(clg_one_hot_host, sw_one_hot_host),
    E(clg_dataset_one_hot, sw_dataset_one_hot),
    E(clg_shuffle_permutation, sw_shuffle),
    E(clg_batch_iter_new, sw_batch_iter_new),
    E(clg_batch_iter_begin_epoch, sw_batch_iter_begin),
    E(clg_batch_iter_next, sw_batch_iter_accessors),
    E(clg_batch_iter_count, sw_batch_iter_accessors),
    E(clg_batch_iter_order, sw_batch_iter_accessors),
    /* rl.h, image.h */
    E(clg_cartpole_new, sw_cartpole_new),
    E(clg_cartpole_count, sw_cartpole),
    E(clg_cartpole_seed, sw_cartpole),
    E(clg_cartpole_reset, sw_cartpole),
    E(clg_cartpole_step, sw_cartpole),
    E(clg_cartpole_get_state, sw_cartpole),
    E(clg_cartpole_set_state, sw_cartpole),
    E(clg_png_write, sw_png_write),
    /* safetensors.h */
    E(clg_safetensors_dtype_name, sw_st_dtype),
    E(clg_safetensors_dtype_size, sw_st_dtype),
    EA(clg_safetensors_open, sw_st_open, "safetensors file"),
    E(clg_safetensors_path, sw_st_accessors),
    E(clg_safetensors_count, sw_st_accessors),
    E(clg_safetensors_name, sw_st_accessors),
    E(clg_safetensors_dtype_of, sw_st_accessors),
    E(clg_safetensors_ndim, sw_st_accessors),
    E(clg_safetensors_shape, sw_st_accessors),
    E(clg_safetensors_metadata_count, sw_st_accessors),
    E(clg_safetensors_metadata_key, sw_st_accessors),
    E(clg_safetensors_metadata_value, sw_st_accessors),
    E(clg_safetensors_metadata_get, sw_st_accessors),
    EA(clg_safetensors_info_get, sw_st_info_get, "safetensors file"),
    E(clg_safetensors_read, sw_st_read),
    E(clg_safetensors_read_tensor, sw_st_read_tensor),
    E(clg_safetensors_writer_add, sw_st_writer_add),
    E(clg_safetensors_writer_add_host, sw_st_writer_add_host),
    E(clg_safetensors_writer_set_metadata, sw_st_writer_set_metadata),
    E(clg_safetensors_writer_save, sw_st_writer_save),
    /* text.h */
    E(clg_text_read_lines, sw_text_read),
    E(clg_text_read_fortunes, sw_text_read),
    E(clg_text_list_dir, sw_text_list_dir),
    EA(clg_tokenizer_default, sw_tokenizer_default, "clg_tokenize"),
    E(clg_tokenize, sw_tokenize),
    E(clg_token_counter_new, sw_token_counter_new),
    E(clg_token_counter_add, sw_token_counter_add),
    E(clg_token_counter_distinct, sw_token_counter_distinct),
    E(clg_vocab_build, sw_vocab_build),
    E(clg_vocab_from_tokens, sw_vocab_from_tokens),
    E(clg_vocab_size, sw_vocab_accessors),
    E(clg_vocab_tokenizer, sw_vocab_accessors),
    E(clg_vocab_id, sw_vocab_accessors),
    E(clg_vocab_token, sw_vocab_accessors),
    E(clg_vocab_count, sw_vocab_accessors),
    E(clg_vocab_save, sw_vocab_save),
    E(clg_vocab_load, sw_vocab_load),
    E(clg_sequences_append, sw_sequences_append),
    E(clg_vocab_encode, sw_vocab_encode),
    E(clg_vocab_decode, sw_vocab_decode),
    E(clg_sequences_count, sw_sequences_accessors),
    E(clg_sequences_get, sw_sequences_accessors),
    E(clg_sequences_max_length, sw_sequences_max_length),
    E(clg_pad_sequences, sw_pad_sequences),
    E(clg_sample_token, sw_sample_token),
};

/* Functions with no argument that can be bad. The _free functions are here too
 * (NULL is their only bad input, and a no-op by contract): test_free_null
 * calls each with NULL. */
typedef struct exemption {
    const char *name;
    const char *reason;
} exemption;
static const exemption exempt[] = {
    {"clg_last_status", "no arguments: reads this thread's error state"},
    {"clg_last_error", "no arguments: reads this thread's error state"},
    {"clg_clear_error", "no arguments"},
    {"clg_version", "no arguments"},
    {"clg_dist_rank", "no arguments: this process's MPI rank (test_dist)"},
    {"clg_dist_size", "no arguments: the MPI job's size (test_dist)"},
    {"clg_context_options_default", "no arguments: returns the default options by value"},
    {"clg_csv_options_default", "no arguments: returns the default options by value"},
    {"clg_fit_options_default", "no arguments: returns the default options by value"},
    {"clg_conv2d_params_default", "no arguments: returns the default parameters by value"},
    {"clg_pool2d_params_default", "returns a plain struct; its values are checked by the pooling ops (sw_pool)"},
    {"clg_layer_flatten", "no arguments"},
    {"clg_layer_batch_normalization", "no arguments"},
    {"clg_layer_global_average_pooling2d", "no arguments"},
    {"clg_layer_global_max_pooling2d", "no arguments"},
    {"clg_layer_layer_normalization", "no arguments"},
    {"clg_layer_add", "no arguments (its inputs are checked by clg_call_n: sw_call_n)"},
    {"clg_callback_terminate_on_nan", "no arguments"},
    {"clg_safetensors_writer_new", "no arguments"},
    {"clg_sequences_new", "no arguments"},
    {"clg_step_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_idx_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_csv_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_dataset_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_batch_iter_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_layer_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_model_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_history_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_callback_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_optimizer_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_devices_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_context_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_event_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_safetensors_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_safetensors_writer_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_tensor_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_text_list_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_token_counter_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_vocab_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_sequences_free", "a _free: NULL is a no-op (test_free_null)"},
    {"clg_cartpole_free", "a _free: NULL is a no-op (test_free_null)"},
};
#define COUNT(a) (sizeof(a) / sizeof *(a))

/* --- coverage: every CLG_API function of the public headers ---------------------------------- */

#ifndef CLGRAD_INCLUDE_DIR
#error "CLGRAD_INCLUDE_DIR (the public headers' directory) must be defined by the build"
#endif

typedef struct name_list {
    char **names;
    size_t count, cap;
} name_list;

static void names_add(name_list *l, const char *s, size_t n) {
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 512;
        l->names = realloc(l->names, l->cap * sizeof *l->names);
        assert_non_null(l->names);
    }
    char *c = malloc(n + 1);
    assert_non_null(c);
    memcpy(c, s, n), c[n] = '\0';
    l->names[l->count++] = c;
}

/* Every declaration "CLG_API <type> clg_name(" of one header, comments removed
 * first (so examples in comments do not count). */
static void scan_header(const char *path, name_list *out) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    size_t got = fread(text, 1, (size_t)n, f);
    fclose(f);
    text[got] = '\0';
    /* Blank out comments. */
    for (char *p = text; *p; p++) {
        if (p[0] == '/' && p[1] == '*') {
            char *end = strstr(p + 2, "*/");
            char *stop = end ? end + 2 : p + strlen(p);
            memset(p, ' ', (size_t)(stop - p));
            p = stop - 1;
        } else if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n') *p++ = ' ';
            if (!*p) break;
        }
    }
    for (char *p = strstr(text, "CLG_API"); p; p = strstr(p + 7, "CLG_API")) {
        int ident_before = p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
        int ident_after = isalnum((unsigned char)p[7]) || p[7] == '_';
        if (ident_before || ident_after) continue;
        /* The identifier right before the first '(' of the declaration. */
        char *paren = p + 7;
        while (*paren && *paren != '(' && *paren != ';' && *paren != '#') paren++;
        if (*paren != '(') continue;
        char *end = paren;
        while (end > p && isspace((unsigned char)end[-1])) end--;
        char *start = end;
        while (start > p && (isalnum((unsigned char)start[-1]) || start[-1] == '_')) start--;
        if (end - start > 4 && strncmp(start, "clg_", 4) == 0) names_add(out, start, (size_t)(end - start));
    }
    free(text);
}

static void test_coverage(void **state) {
    (void)state;
    name_list api = {0};
    /* CLGRAD_SWEEP_INCLUDE_DIR overrides the build's directory (to check this test itself). */
    const char *dir = getenv("CLGRAD_SWEEP_INCLUDE_DIR");
    if (!dir || !*dir) dir = CLGRAD_INCLUDE_DIR;
    /* Every header of the directory, so a new header is covered too. */
    char hdir[1024];
    snprintf(hdir, sizeof hdir, "%s/clgrad", dir);
    DIR *d = opendir(hdir);
    if (!d) fail_msg("cannot list %s", hdir);
    size_t nheaders = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len < 3 || strcmp(de->d_name + len - 2, ".h") != 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", hdir, de->d_name);
        scan_header(path, &api);
        nheaders++;
    }
    closedir(d);
    int missing = 0;
    if (api.count < 300) {
        fprintf(stderr, "coverage: only %zu CLG_API functions in %zu headers under %s\n", api.count, nheaders, hdir);
        missing++;
    }
    for (size_t i = 0; i < api.count; i++) {
        int in_table = 0, in_exempt = 0;
        for (size_t k = 0; k < COUNT(table); k++) in_table += strcmp(table[k].name, api.names[i]) == 0;
        for (size_t k = 0; k < COUNT(exempt); k++) in_exempt += strcmp(exempt[k].name, api.names[i]) == 0;
        if (!in_table && !in_exempt) {
            fprintf(stderr, "coverage: %s is neither in the sweep table nor exempt: add it to tests/test_sweep.c\n",
                    api.names[i]);
            missing++;
        }
        if (in_table > 1 || in_exempt > 1 || (in_table && in_exempt)) {
            fprintf(stderr, "coverage: %s is listed more than once\n", api.names[i]);
            missing++;
        }
    }
    /* Stale entries: names that are no longer public functions. */
    for (size_t k = 0; k < COUNT(table) + COUNT(exempt); k++) {
        const char *n = k < COUNT(table) ? table[k].name : exempt[k - COUNT(table)].name;
        int found = 0;
        for (size_t i = 0; i < api.count && !found; i++) found = strcmp(api.names[i], n) == 0;
        if (!found) {
            fprintf(stderr, "coverage: %s is listed but no public header declares it\n", n);
            missing++;
        }
        if (k >= COUNT(table) && !*exempt[k - COUNT(table)].reason) {
            fprintf(stderr, "coverage: %s is exempt without a reason\n", n);
            missing++;
        }
    }
    fprintf(stderr, "coverage: %zu public functions: %zu swept, %zu exempt\n", api.count, COUNT(table),
            COUNT(exempt));
    for (size_t i = 0; i < api.count; i++) free(api.names[i]);
    free(api.names);
    if (missing) fail_msg("%d coverage problem(s); see above", missing);
}

/* --- _free(NULL) is a no-op ---------------------------------------------------------------------- */

static void test_free_null(void **state) {
    (void)state;
    clg_clear_error();
    clg_step_free(NULL), clg_idx_free(NULL), clg_csv_free(NULL), clg_dataset_free(NULL);
    clg_batch_iter_free(NULL), clg_layer_free(NULL), clg_model_free(NULL), clg_history_free(NULL);
    clg_callback_free(NULL), clg_optimizer_free(NULL), clg_devices_free(NULL), clg_context_free(NULL);
    clg_event_free(NULL), clg_safetensors_free(NULL), clg_safetensors_writer_free(NULL);
    clg_tensor_free(NULL), clg_text_list_free(NULL), clg_token_counter_free(NULL), clg_vocab_free(NULL);
    clg_sequences_free(NULL), clg_cartpole_free(NULL);
    assert_int_equal(clg_last_status(), CLG_OK); /* and records no failure */
    assert_string_equal(clg_last_error(), "");
}

/* --- the sweep ------------------------------------------------------------------------------------- */

static void test_sweep(void **state) {
    g_ctx = clg_test_ctx(state);
    g_verbose = getenv("SWEEP_VERBOSE") && atoi(getenv("SWEEP_VERBOSE")) > 0;
    const char *only = getenv("SWEEP_ONLY"); /* a substring of the functions to run, for debugging */
    char *dir = clg_test_tempdir("sweep");
    assert_non_null(dir);
    snprintf(g_tmp, sizeof g_tmp, "%s", dir);
    g_ctx2 = clg_context_new(NULL);
    assert_non_null(g_ctx2);
    check_usable(); /* warm: the first use compiles kernels */
    for (size_t k = 0; k < COUNT(table); k++) {
        const sweep_entry *e = &table[k];
        if (only && !strstr(e->name, only)) continue;
        g_fn = e->name, g_alias = e->alias;
        if (g_verbose) fprintf(stderr, "%s\n", e->name);
        uint64_t before = clg_context_get_stats(g_ctx).bytes_in_use;
        uint64_t before2 = clg_context_get_stats(g_ctx2).bytes_in_use;
        e->run(e);
        check_usable();
        uint64_t after = clg_context_get_stats(g_ctx).bytes_in_use;
        uint64_t after2 = clg_context_get_stats(g_ctx2).bytes_in_use;
        if (after != before || after2 != before2)
            sweep_fail(0, "device memory in use went from %llu to %llu bytes (%llu to %llu on the second context)",
                       (unsigned long long)before, (unsigned long long)after, (unsigned long long)before2,
                       (unsigned long long)after2);
        if (clg_context_finish(g_ctx) != CLG_OK) sweep_fail(0, "the queue failed: %s", clg_last_error());
    }
    g_fn = NULL;
    clg_context_free(g_ctx2);
    g_ctx2 = NULL;
    clg_test_rmtree(dir);
    free(dir);
    fprintf(stderr, "sweep: %zu functions, %d bad calls, %d failure(s)\n", COUNT(table), g_calls, g_failures);
    if (g_failures) fail_msg("%d sweep failure(s); see the lines above", g_failures);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coverage),
        cmocka_unit_test(test_free_null),
        cmocka_unit_test(test_sweep),
    };
    return CLG_RUN_GROUP(tests);
}
