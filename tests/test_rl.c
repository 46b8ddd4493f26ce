/* Reinforcement-learning support and images:
 *  - CartPole's dynamics against two steps computed by hand from Gym's
 *    equations (in Python, from the state below; 1e-12 absolute);
 *  - failure at +-2.4 m and +-12 degrees, truncation (not failure) at 500
 *    steps, auto-reset with the ended episode's last observation;
 *  - start states uniform in +-0.05, reproducible per (seed, environment);
 *  - bad arguments change nothing and name the culprit;
 *  - a DQN update changes the online network and not the target network (read
 *    detached, although one optimizer holds both), and
 *    the advantage-weighted cross-entropy (the policy-gradient loss) has the
 *    gradient -A (onehot - softmax) / N;
 *  - PNG files read back by libpng as written. */
#include "fixture.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>

static clg_cartpole *pole(int n, uint64_t seed) {
    clg_cartpole *env = clg_cartpole_new(n, seed);
    if (!env) fail_msg("clg_cartpole_new: %s", clg_last_error());
    assert_int_equal(clg_cartpole_reset(env, NULL), CLG_OK);
    return env;
}

static void step1(clg_cartpole *env, int32_t action, float *obs, uint8_t *term, uint8_t *trunc, float *final) {
    float r;
    assert_int_equal(clg_cartpole_step(env, &action, obs, &r, term, trunc, final), CLG_OK);
    assert_true(r == 1.0f);
}

static void test_dynamics(void **state) {
    (void)state;
    clg_cartpole *env = pole(1, 0);
    const double s0[4] = {0.01, -0.02, 0.03, 0.04};
    /* Gym's CartPole-v1 equations evaluated in Python (float64) */
    const double want[2][4] = {{0.009600000000000001, 0.17467919574755525, 0.030799999999999998, -0.24306871796000815},
                               {0.013093583914951107, -0.020868848948191993, 0.025938625640799833, 0.05916799993941654}};
    assert_int_equal(clg_cartpole_set_state(env, 0, s0, 0), CLG_OK);
    float obs[4];
    uint8_t term, trunc;
    for (int t = 0; t < 2; t++) {
        step1(env, t == 0 ? 1 : 0, obs, &term, &trunc, NULL);
        double s[4];
        int steps;
        assert_int_equal(clg_cartpole_get_state(env, 0, s, &steps), CLG_OK);
        assert_int_equal(steps, t + 1);
        assert_int_equal(term, 0);
        assert_int_equal(trunc, 0);
        for (int k = 0; k < 4; k++) {
            if (fabs(s[k] - want[t][k]) > 1e-12) fail_msg("step %d, state[%d]: %.17g, by hand %.17g", t, k, s[k], want[t][k]);
            assert_true(obs[k] == (float)want[t][k]);
        }
    }
    clg_cartpole_free(env);
}

static void test_episode_ends(void **state) {
    (void)state;
    clg_cartpole *env = pole(1, 1);
    float obs[4], fin[4];
    uint8_t term, trunc;
    /* the cart runs off the track: failure, then a fresh start */
    assert_int_equal(clg_cartpole_set_state(env, 0, (double[]){2.399, 1.0, 0.0, 0.0}, 7), CLG_OK);
    step1(env, 1, obs, &term, &trunc, fin);
    assert_int_equal(term, 1);
    assert_int_equal(trunc, 0);
    assert_true(fin[0] > 2.4f);
    for (int k = 0; k < 4; k++) assert_true(fabsf(obs[k]) <= 0.05f);
    int steps;
    double s[4];
    assert_int_equal(clg_cartpole_get_state(env, 0, s, &steps), CLG_OK);
    assert_int_equal(steps, 0);
    /* the pole falls past 12 degrees, both ways */
    for (int sign = -1; sign <= 1; sign += 2) {
        assert_int_equal(clg_cartpole_set_state(env, 0, (double[]){0, 0, sign * 0.209, sign * 1.0}, 3), CLG_OK);
        step1(env, 0, obs, &term, &trunc, fin);
        assert_int_equal(term, 1);
        assert_true(fabsf(fin[2]) > 0.2094f);
    }
    /* just inside the limit: no failure */
    assert_int_equal(clg_cartpole_set_state(env, 0, (double[]){0, 0, 0.2, 0.0}, 3), CLG_OK);
    step1(env, 0, obs, &term, &trunc, fin);
    assert_int_equal(term, 0);
    assert_memory_equal(obs, fin, sizeof obs);
    /* step 500 of a balanced pole: truncated, not terminated, last state kept */
    assert_int_equal(clg_cartpole_set_state(env, 0, (double[]){0.1, 0, 0, 0}, 499), CLG_OK);
    step1(env, 1, obs, &term, &trunc, fin);
    assert_int_equal(term, 0);
    assert_int_equal(trunc, 1);
    assert_true(fabsf(fin[0] - 0.1f) < 1e-6f);
    clg_cartpole_free(env);
}

static void test_seeding(void **state) {
    (void)state;
    enum { N = 64, RESETS = 40 };
    clg_cartpole *a = pole(N, 7), *b = pole(N, 7), *c = pole(N, 8);
    float oa[N * 4], ob[N * 4], oc[N * 4];
    double sum = 0, sumsq = 0;
    int differ = 0;
    for (int r = 0; r < RESETS; r++) {
        assert_int_equal(clg_cartpole_reset(a, oa), CLG_OK);
        assert_int_equal(clg_cartpole_reset(b, ob), CLG_OK);
        assert_int_equal(clg_cartpole_reset(c, oc), CLG_OK);
        assert_memory_equal(oa, ob, sizeof oa);
        differ += memcmp(oa, oc, sizeof oa) != 0;
        for (int i = 0; i < N * 4; i++) {
            assert_true(oa[i] >= -0.05f && oa[i] < 0.05f);
            sum += oa[i], sumsq += (double)oa[i] * oa[i];
        }
        for (int i = 1; i < N; i++) assert_true(memcmp(oa, oa + 4 * i, 4 * sizeof *oa) != 0);
    }
    assert_int_equal(differ, RESETS);
    const double n = N * 4 * RESETS, mean = sum / n, var = sumsq / n - mean * mean;
    /* uniform in +-0.05: mean 0 (sd of the mean 1.3e-4), variance 0.1^2 / 12 */
    assert_true(fabs(mean) < 1e-3);
    assert_true(fabs(var - 0.01 / 12) < 0.1 * 0.01 / 12);
    /* reseeding replays the draws */
    assert_int_equal(clg_cartpole_seed(b, 7), CLG_OK);
    assert_int_equal(clg_cartpole_seed(a, 7), CLG_OK);
    assert_int_equal(clg_cartpole_reset(a, oa), CLG_OK);
    assert_int_equal(clg_cartpole_reset(b, ob), CLG_OK);
    assert_memory_equal(oa, ob, sizeof oa);
    clg_cartpole_free(a), clg_cartpole_free(b), clg_cartpole_free(c);
}

static void test_bad_arguments(void **state) {
    (void)state;
    CLG_EXPECT_ERROR(clg_cartpole_new(0, 1) == NULL, CLG_STATUS_INVALID_ARGUMENT, "clg_cartpole_new", "n 0");
    clg_cartpole *env = clg_cartpole_new(2, 3);
    assert_non_null(env);
    float obs[8], r[2];
    uint8_t te[2], tr[2];
    int32_t act[2] = {1, 0};
    CLG_EXPECT_ERROR(clg_cartpole_step(env, act, obs, r, te, tr, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "clg_cartpole_reset first");
    assert_int_equal(clg_cartpole_reset(env, obs), CLG_OK);
    double before[4], after[4];
    assert_int_equal(clg_cartpole_get_state(env, 0, before, NULL), CLG_OK);
    act[1] = 2;
    CLG_EXPECT_ERROR(clg_cartpole_step(env, act, obs, r, te, tr, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "action 2 of environment 1");
    assert_int_equal(clg_cartpole_get_state(env, 0, after, NULL), CLG_OK);
    assert_memory_equal(before, after, sizeof before); /* nothing moved */
    act[1] = 0;
    CLG_EXPECT_ERROR(clg_cartpole_step(env, act, NULL, r, te, tr, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "obs");
    CLG_EXPECT_ERROR(clg_cartpole_step(NULL, act, obs, r, te, tr, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "env");
    CLG_EXPECT_ERROR(clg_cartpole_set_state(env, 2, before, 0) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT,
                     "environment 2 is outside [0, 2)");
    CLG_EXPECT_ERROR(clg_cartpole_set_state(env, 0, (double[]){0, NAN, 0, 0}, 0) != CLG_OK,
                     CLG_STATUS_INVALID_ARGUMENT, "state[1]", "not finite");
    CLG_EXPECT_ERROR(clg_cartpole_set_state(env, 0, before, 500) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "steps 500");
    CLG_EXPECT_ERROR(clg_cartpole_get_state(env, -1, before, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "index");
    assert_int_equal(clg_cartpole_count(env), 2);
    assert_int_equal(clg_cartpole_count(NULL), 0);
    clg_cartpole_free(env);
    clg_cartpole_free(NULL);
}

static clg_model *qnet(clg_context *ctx) {
    clg_model *m = clg_sequential_new(ctx, 1, (int64_t[]){4});
    assert_int_equal(clg_model_add(m, clg_layer_dense(8, CLG_ACT_RELU)), CLG_OK);
    assert_int_equal(clg_model_add(m, clg_layer_dense(2, CLG_ACT_LINEAR)), CLG_OK);
    assert_int_equal(clg_model_compile(m, "adam", "mse", NULL), CLG_OK);
    return m;
}

static float *weights_of(clg_model *m, int *count) {
    int n = clg_model_weight_count(m, 1), total = 0;
    for (int i = 0; i < n; i++) total += (int)clg_tensor_numel(clg_model_weight(m, 1, i));
    float *all = malloc((size_t)total * sizeof *all), *p = all;
    for (int i = 0; i < n; i++) {
        clg_tensor *w = clg_model_weight(m, 1, i);
        assert_int_equal(clg_tensor_to_host(w, p, (size_t)clg_tensor_numel(w) * sizeof *p), CLG_OK);
        p += clg_tensor_numel(w);
    }
    *count = total;
    return all;
}

/* One DQN update: Huber(Q(s)[a], r + gamma max Q_target(s')), the target
 * network read without gradient; only the online network may change. */
static void test_dqn_step_changes_online_only(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    clg_model *online = qnet(ctx), *target = qnet(ctx);
    int n1, n2;
    float *on0 = weights_of(online, &n1), *ta0 = weights_of(target, &n2);
    float s[4 * 4], s2[4 * 4], onehot[4 * 2] = {1, 0, 0, 1, 0, 1, 1, 0};
    clg_test_random_floats(s, 16, 3);
    clg_test_random_floats(s2, 16, 4);
    clg_tensor *st = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 4}, s);
    clg_tensor *st2 = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 4}, s2);
    clg_tensor *oh = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){4, 2}, onehot);
    /* the target network's values enter detached: one optimizer over both
     * networks (as a careless loop might hold) must still leave it alone */
    clg_tensor *q = NULL, *qt_live = NULL;
    assert_int_equal(clg_model_call(target, (const clg_tensor *[]){st2}, 1, &qt_live), CLG_OK);
    clg_tensor *qt = clg_tensor_detach(qt_live);
    clg_tensor *best = clg_max(qt, 1, (int[]){1}, 0);
    clg_tensor *disc = best ? clg_mul_scalar(best, 0.99f) : NULL;
    clg_tensor *y = disc ? clg_add_scalar(disc, 1.0f) : NULL;
    assert_int_equal(clg_model_call(online, (const clg_tensor *[]){st}, 1, &q), CLG_OK);
    clg_tensor *picked = clg_mul(q, oh);
    clg_tensor *qa = clg_sum(picked, 1, (int[]){1}, 0);
    clg_tensor *loss = clg_huber(qa, y, 1.0f);
    assert_non_null(loss);
    assert_int_equal(clg_backward(loss, NULL), CLG_OK);
    clg_optimizer *opt = clg_optimizer_adam(1e-2f, 0.9f, 0.999f, 1e-7f);
    clg_tensor *params[8];
    int np = clg_model_weight_count(online, 1), nt = clg_model_weight_count(target, 1);
    for (int i = 0; i < np; i++) params[i] = clg_model_weight(online, 1, i);
    for (int i = 0; i < nt; i++) { /* state tensors take their names: make them differ */
        params[np + i] = clg_model_weight(target, 1, i);
        char name[96];
        snprintf(name, sizeof name, "target.%s", clg_tensor_name(params[np + i]));
        assert_int_equal(clg_tensor_set_name(params[np + i], name), CLG_OK);
    }
    np += nt;
    if (clg_optimizer_attach(opt, ctx, np, params) != CLG_OK) fail_msg("attach: %s", clg_last_error());
    assert_int_equal(clg_optimizer_step(opt), CLG_OK);
    float *on1 = weights_of(online, &n1), *ta1 = weights_of(target, &n2);
    int changed = 0;
    for (int i = 0; i < n1; i++) changed += on1[i] != on0[i];
    assert_true(changed > n1 / 2);
    assert_memory_equal(ta0, ta1, (size_t)n2 * sizeof *ta0);
    clg_tensor *list[] = {st, st2, oh, q, qt_live, qt, best, disc, y, picked, qa, loss};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++) clg_tensor_free(list[i]);
    clg_optimizer_free(opt);
    free(on0), free(ta0), free(on1), free(ta1);
    clg_model_free(online), clg_model_free(target);
}

/* mean_i(-A_i log softmax(z_i)[a_i]) through clg_softmax_cross_entropy_onehot
 * with targets A_i onehot(a_i): d/dz = A_i (softmax(z_i) - onehot(a_i)) / N. */
static void test_policy_gradient_loss(void **state) {
    clg_context *ctx = clg_test_ctx(state);
    enum { N = 5, C = 3 };
    float z[N * C], adv[N] = {1.5f, -0.5f, 2.0f, 0.0f, -1.25f}, t[N * C] = {0};
    const int a[N] = {0, 2, 1, 1, 0};
    clg_test_random_floats(z, N * C, 9);
    for (int i = 0; i < N; i++) t[i * C + a[i]] = adv[i];
    clg_tensor *zt = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){N, C}, z);
    clg_tensor *tt = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, (int64_t[]){N, C}, t);
    assert_int_equal(clg_tensor_set_requires_grad(zt, 1), CLG_OK);
    clg_tensor *loss = clg_softmax_cross_entropy_onehot(zt, tt, 0.0f);
    assert_non_null(loss);
    assert_int_equal(clg_backward(loss, NULL), CLG_OK);
    float g[N * C], l;
    assert_int_equal(clg_tensor_to_host(clg_tensor_grad(zt), g, sizeof g), CLG_OK);
    assert_int_equal(clg_tensor_to_host(loss, &l, sizeof l), CLG_OK);
    double want_loss = 0;
    for (int i = 0; i < N; i++) {
        double mx = fmax(fmax(z[i * C], z[i * C + 1]), z[i * C + 2]), sum = 0;
        for (int c = 0; c < C; c++) sum += exp(z[i * C + c] - mx);
        want_loss -= adv[i] * (z[i * C + a[i]] - mx - log(sum)) / N;
        for (int c = 0; c < C; c++) {
            double p = exp(z[i * C + c] - mx) / sum, want = adv[i] * (p - (c == a[i])) / N;
            if (fabs(g[i * C + c] - want) > 1e-6) fail_msg("grad[%d,%d] %.7g, want %.7g", i, c, g[i * C + c], want);
        }
    }
    assert_true(fabs(l - want_loss) < 1e-5);
    clg_tensor_free(zt), clg_tensor_free(tt), clg_tensor_free(loss);
}

/* Reads path with libpng's simplified API into the given format. */
static uint8_t *read_png(const char *path, png_uint_32 format, int *w, int *h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) fail_msg("libpng cannot read %s: %s", path, img.message);
    img.format = format;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    assert_non_null(buf);
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) fail_msg("libpng: %s", img.message);
    *w = (int)img.width, *h = (int)img.height;
    return buf;
}

static void test_png_round_trip(void **state) {
    (void)state;
    char *dir = clg_test_tempdir("png");
    const int w = 37, h = 11;
    const png_uint_32 formats[5] = {0, PNG_FORMAT_GRAY, 0, PNG_FORMAT_RGB, PNG_FORMAT_RGBA};
    for (int ch = 1; ch <= 4; ch++) {
        if (ch == 2) continue;
        uint8_t *px = malloc((size_t)(w * h * ch));
        for (int i = 0; i < w * h * ch; i++) px[i] = (uint8_t)((i * 37 + ch * 11) ^ (i >> 3));
        char name[32];
        snprintf(name, sizeof name, "sub/c%d.png", ch); /* the folder is made */
        char *path = clg_test_path_in(dir, name);
        if (clg_png_write(path, w, h, ch, px) != CLG_OK) fail_msg("%s", clg_last_error());
        int rw, rh;
        uint8_t *back = read_png(path, formats[ch], &rw, &rh);
        assert_int_equal(rw, w);
        assert_int_equal(rh, h);
        assert_memory_equal(back, px, (size_t)(w * h * ch));
        free(back), free(px), free(path);
    }
    uint8_t one = 0;
    char *path = clg_test_path_in(dir, "x.png");
    CLG_EXPECT_ERROR(clg_png_write(path, 0, 1, 1, &one) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "x.png", "0 x 1");
    CLG_EXPECT_ERROR(clg_png_write(path, 1, 1, 2, &one) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "channels 2");
    CLG_EXPECT_ERROR(clg_png_write(path, 1, 1, 1, NULL) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "pixels");
    CLG_EXPECT_ERROR(clg_png_write(NULL, 1, 1, 1, &one) != CLG_OK, CLG_STATUS_INVALID_ARGUMENT, "path");
    CLG_EXPECT_ERROR(clg_png_write("/proc/clgrad-no/x.png", 1, 1, 1, &one) != CLG_OK, CLG_STATUS_IO_ERROR,
                     "clg_png_write", "/proc/clgrad-no");
    free(path);
    clg_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dynamics),      cmocka_unit_test(test_episode_ends),
        cmocka_unit_test(test_seeding),       cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_dqn_step_changes_online_only), cmocka_unit_test(test_policy_gradient_loss),
        cmocka_unit_test(test_png_round_trip),
    };
    return CLG_RUN_GROUP(tests);
}
