/* Constrained-device mode and per-device build options: limits are capped like a
 * small GPU's, kernels see them as macros, every embedded program builds under
 * them, and no kernel uses double outside a CLG_HAS_FP64 guard. */
#include "fixture.h"

#include <ctype.h>
#include <stdlib.h>

#include "runtime/runtime_impl.h"
#include "tensor/tensor_impl.h"

static const char probe_src[] =
    "__kernel void probe(__global long *out) {\n"
    "    out[0] = CLG_MAX_WORK_GROUP; out[1] = CLG_LOCAL_MEM;\n"
    "    out[2] = CLG_HAS_FP64; out[3] = CLG_HAS_FP16; out[4] = CLG_OPENCL_C_VERSION;\n"
    "}\n";

static void probe_macros(clg_context *ctx, long long out[5]) {
    cl_program p;
    assert_int_equal(clg_program_get(ctx, "probe", probe_src, NULL, &p), CLG_OK);
    cl_int err;
    cl_kernel k = clCreateKernel(p, "probe", &err);
    assert_int_equal(err, CL_SUCCESS);
    int64_t n = 10; /* five longs in ten int32 elements */
    clg_tensor *t2 = clg_tensor_empty(ctx, CLG_INT32, 1, &n);
    assert_non_null(t2);
    assert_int_equal(clSetKernelArg(k, 0, sizeof(cl_mem), &t2->buf->mem), CL_SUCCESS);
    assert_int_equal(clg_enqueue_1d(ctx, k, 1, "probe"), CLG_OK);
    int64_t vals[5];
    assert_int_equal(clg_tensor_to_host(t2, vals, sizeof vals), CLG_OK);
    for (int i = 0; i < 5; i++) out[i] = (long long)vals[i];
    clReleaseKernel(k);
    clg_tensor_free(t2);
}

static clg_context *constrained_context(int flag) {
    clg_context_options o = clg_context_options_default();
    o.constrained = flag;
    clg_context *ctx = clg_context_new(&o);
    if (!ctx) fail_msg("context: %s", clg_last_error());
    return ctx;
}

static void test_limits_capped(void **state) {
    (void)state;
    clg_context *ctx = constrained_context(1);
    clg_context_limits l = clg_context_get_limits(ctx);
    const clg_device_info *d = clg_context_device(ctx);
    assert_true(l.constrained);
    assert_true(l.max_work_group_size <= 256);
    assert_true(l.local_mem_bytes <= 32768);
    assert_int_equal(l.fp64, 0);
    assert_true(l.max_work_group_size == (d->max_work_group_size < 256 ? d->max_work_group_size : 256));
    long long m[5];
    probe_macros(ctx, m);
    assert_int_equal(m[0], (long long)l.max_work_group_size);
    assert_int_equal(m[1], (long long)l.local_mem_bytes);
    assert_int_equal(m[2], 0);
    assert_true(m[4] >= 120);
    clg_context_free(ctx);

    /* The environment switches it on when options leave it at -1. */
    setenv("CLGRAD_CONSTRAINED", "1", 1);
    ctx = constrained_context(-1);
    assert_true(clg_context_get_limits(ctx).constrained);
    clg_context_free(ctx);
    setenv("CLGRAD_CONSTRAINED", "0", 1);
    ctx = constrained_context(-1);
    assert_false(clg_context_get_limits(ctx).constrained);
    clg_context_free(ctx);
    unsetenv("CLGRAD_CONSTRAINED");
}

static void test_unconstrained_macros(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    if (clg_context_get_limits(ctx).constrained) skip();
    long long m[5];
    probe_macros(ctx, m);
    const clg_device_info *d = clg_context_device(ctx);
    assert_int_equal(m[0], (long long)d->max_work_group_size);
    assert_int_equal(m[2], d->fp64);
    assert_int_equal(m[3], d->fp16);
    assert_int_equal(m[4], d->opencl_c_major * 100 + d->opencl_c_minor * 10);
}

static void test_every_program_builds_constrained(void **state) {
    (void)state;
    clg_context *ctx = constrained_context(1);
    const char *prelude = clg_embedded_source("prelude");
    assert_non_null(prelude);
    for (size_t i = 0; i < clg_embedded_count(); i++) {
        const char *name = clg_embedded_name(i);
        if (strcmp(name, "prelude") == 0) continue;
        const char *body = clg_embedded_source(name);
        size_t n = strlen(prelude) + strlen(body) + 2;
        char *src = malloc(n);
        snprintf(src, n, "%s\n%s", prelude, body);
        cl_program p;
        if (clg_program_get(ctx, name, src, NULL, &p) != CLG_OK)
            fail_msg("program '%s' fails to build constrained: %s", name, clg_last_error());
        free(src);
    }
    clg_context_free(ctx);
}

/* True if `word` occurs as an identifier in code (not comments) of src outside
 * a region opened by a preprocessor line that mentions CLG_HAS_FP64. */
static int unguarded_word(const char *src, const char *word, int *line_out) {
    int depth = 0, guarded_at = -1, line = 1;
    size_t wl = strlen(word);
    for (const char *p = src; *p;) {
        if (p[0] == '/' && p[1] == '*') {
            const char *e = strstr(p + 2, "*/");
            for (const char *q = p; q < (e ? e : p + strlen(p)); q++) line += *q == '\n';
            p = e ? e + 2 : p + strlen(p);
            continue;
        }
        if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n') p++;
            continue;
        }
        if (*p == '#') {
            const char *q = p + 1;
            while (*q == ' ') q++;
            const char *eol = strchr(p, '\n');
            size_t len = eol ? (size_t)(eol - p) : strlen(p);
            if (strncmp(q, "if", 2) == 0) {
                depth++;
                char buf[256];
                snprintf(buf, sizeof buf, "%.*s", (int)(len < 255 ? len : 255), p);
                if (guarded_at < 0 && strstr(buf, "CLG_HAS_FP64") && !strstr(buf, "!")) guarded_at = depth;
            } else if (strncmp(q, "endif", 5) == 0) {
                if (guarded_at == depth) guarded_at = -1;
                depth--;
            } else if (strncmp(q, "else", 4) == 0 || strncmp(q, "elif", 4) == 0) {
                if (guarded_at == depth) guarded_at = -2 - depth; /* the unguarded branch */
            }
            if (guarded_at < -1 && strncmp(q, "endif", 5) == 0) guarded_at = -1;
            p += len;
            continue;
        }
        if (*p == '\n') line++;
        if (guarded_at < 0 && strncmp(p, word, wl) == 0 &&
            (p == src || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
            !(isalnum((unsigned char)p[wl]) || p[wl] == '_')) {
            *line_out = line;
            return 1;
        }
        p++;
    }
    return 0;
}

static void test_no_unguarded_double(void **state) {
    (void)state;
    /* The scanner itself must catch a bare double and accept a guarded one. */
    int line;
    assert_true(unguarded_word("kernel void f() {\n double x; }", "double", &line));
    assert_int_equal(line, 2);
    assert_false(unguarded_word("#if CLG_HAS_FP64\ndouble x;\n#endif\n/* double */", "double", &line));
    assert_true(unguarded_word("#if CLG_HAS_FP64\n#else\ndouble x;\n#endif\n", "double", &line));
    for (size_t i = 0; i < clg_embedded_count(); i++) {
        const char *name = clg_embedded_name(i);
        if (unguarded_word(clg_embedded_source(name), "double", &line))
            fail_msg("cl/%s.cl line %d uses double outside #if CLG_HAS_FP64", name, line);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_capped),
        cmocka_unit_test(test_unconstrained_macros),
        cmocka_unit_test(test_every_program_builds_constrained),
        cmocka_unit_test(test_no_unguarded_double),
    };
    return CLG_RUN_GROUP(tests);
}
