/* In-memory dataset, Keras-style validation split, normalisation, one-hot
 * labels, and a seeded (Philox) shuffling batch iterator. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clgrad/data.h"
#include "common/error.h"
#include "tensor/tensor_impl.h"

struct clg_dataset {
    int64_t n;
    int x_ndim, y_ndim;                 /* y_ndim 0: no targets */
    int64_t x_shape[CLG_MAX_DIMS], y_shape[CLG_MAX_DIMS];
    int64_t x_row, y_row;               /* elements per sample */
    clg_dtype y_dtype;
    float *x;
    void *y;
};

static clg_status row_size(const char *api, const char *what, int ndim, const int64_t *shape,
                           size_t elem, int64_t *row) {
    char buf[128];
    if (ndim < 1 || ndim > CLG_MAX_DIMS || !shape)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s has rank %d (expected 1..%d)", api, what,
                        ndim, CLG_MAX_DIMS);
    int64_t r = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: %s shape %s has a negative dimension",
                            api, what, clg_shape_format(ndim, shape, buf, sizeof buf));
        if (i > 0 && __builtin_mul_overflow(r, shape[i], &r))
            return clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: %s shape %s overflows", api, what,
                            clg_shape_format(ndim, shape, buf, sizeof buf));
    }
    int64_t total;
    if (__builtin_mul_overflow(r, shape[0], &total) ||
        (uint64_t)total > SIZE_MAX / elem)
        return clg_fail(CLG_STATUS_SIZE_OVERFLOW, "%s: %s shape %s overflows", api, what,
                        clg_shape_format(ndim, shape, buf, sizeof buf));
    *row = r;
    return CLG_OK;
}

static size_t y_elem(const clg_dataset *ds) {
    return ds->y_ndim ? clg_dtype_size(ds->y_dtype) : 0;
}

/* A dataset with the given shapes and uninitialised data. */
static clg_dataset *dataset_alloc(const char *api, int x_ndim, const int64_t *x_shape,
                                  clg_dtype y_dtype, int y_ndim, const int64_t *y_shape) {
    int64_t x_row = 0, y_row = 0;
    if (row_size(api, "x", x_ndim, x_shape, sizeof(float), &x_row) != CLG_OK) return NULL;
    if (y_ndim != 0) {
        if (y_dtype != CLG_INT32 && y_dtype != CLG_FLOAT32) {
            clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: targets must be int32 or float32, not %s",
                     api, clg_dtype_name(y_dtype));
            return NULL;
        }
        if (row_size(api, "y", y_ndim, y_shape, 4, &y_row) != CLG_OK) return NULL;
        if (y_shape[0] != x_shape[0]) {
            char a[128], b[128];
            clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: x %s and y %s have different sample counts",
                     api, clg_shape_format(x_ndim, x_shape, a, sizeof a),
                     clg_shape_format(y_ndim, y_shape, b, sizeof b));
            return NULL;
        }
    }
    clg_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) goto oom;
    ds->n = x_shape[0];
    ds->x_ndim = x_ndim;
    ds->y_ndim = y_ndim;
    memcpy(ds->x_shape, x_shape, (size_t)x_ndim * sizeof(int64_t));
    if (y_ndim) memcpy(ds->y_shape, y_shape, (size_t)y_ndim * sizeof(int64_t));
    ds->x_row = x_row;
    ds->y_row = y_row;
    ds->y_dtype = y_ndim ? y_dtype : CLG_FLOAT32;
    size_t xb = (size_t)(ds->n * x_row) * sizeof(float);
    size_t yb = (size_t)(ds->n * y_row) * 4;
    ds->x = malloc(xb ? xb : 1);
    ds->y = y_ndim ? malloc(yb ? yb : 1) : NULL;
    if (!ds->x || (y_ndim && !ds->y)) goto oom;
    return ds;
oom:
    clg_dataset_free(ds);
    clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: no memory for %lld samples", api,
             (long long)x_shape[0]);
    return NULL;
}

clg_dataset *clg_dataset_new(int x_ndim, const int64_t *x_shape, const float *x, clg_dtype y_dtype,
                             int y_ndim, const int64_t *y_shape, const void *y) {
    if ((y_ndim == 0) != (y == NULL)) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_dataset_new: y is %s but y_ndim is %d (pass both or neither)",
                 y ? "given" : "NULL", y_ndim);
        return NULL;
    }
    clg_dataset *ds = dataset_alloc("clg_dataset_new", x_ndim, x_shape, y_dtype, y_ndim, y_shape);
    if (!ds) return NULL;
    size_t xb = (size_t)(ds->n * ds->x_row) * sizeof(float);
    if (xb && !x) {
        clg_dataset_free(ds);
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_dataset_new: x is NULL");
        return NULL;
    }
    if (xb) memcpy(ds->x, x, xb);
    if (y_ndim) memcpy(ds->y, y, (size_t)(ds->n * ds->y_row) * 4);
    return ds;
}

clg_dataset *clg_dataset_from_idx(const clg_idx *x, double x_scale, const clg_idx *y) {
    const char *api = "clg_dataset_from_idx";
    if (!x) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: x is NULL", api);
        return NULL;
    }
    clg_dtype yd = CLG_INT32;
    if (y) {
        if (y->dims[0] != x->dims[0]) {
            char a[128], b[128];
            clg_fail(CLG_STATUS_SHAPE_MISMATCH, "%s: images %s and labels %s have different counts",
                     api, clg_shape_format(x->rank, x->dims, a, sizeof a),
                     clg_shape_format(y->rank, y->dims, b, sizeof b));
            return NULL;
        }
        if (y->type == CLG_IDX_FLOAT || y->type == CLG_IDX_DOUBLE) yd = CLG_FLOAT32;
    }
    clg_dataset *ds = dataset_alloc(api, x->rank, x->dims, yd, y ? y->rank : 0, y ? y->dims : NULL);
    if (!ds) return NULL;
    clg_status st = clg_idx_to_float32(x, x_scale, ds->x, ds->n * ds->x_row);
    if (st == CLG_OK && y)
        st = yd == CLG_INT32 ? clg_idx_to_int32(y, ds->y, ds->n * ds->y_row)
                             : clg_idx_to_float32(y, 1.0, ds->y, ds->n * ds->y_row);
    if (st != CLG_OK) {
        clg_fail_wrap(st, "%s", api);
        clg_dataset_free(ds);
        return NULL;
    }
    return ds;
}

void clg_dataset_free(clg_dataset *ds) {
    if (!ds) return;
    free(ds->x);
    free(ds->y);
    free(ds);
}

int64_t clg_dataset_size(const clg_dataset *ds) { return ds ? ds->n : 0; }
const int64_t *clg_dataset_x_shape(const clg_dataset *ds, int *ndim) {
    if (ndim) *ndim = ds ? ds->x_ndim : 0;
    return ds ? ds->x_shape : NULL;
}
const int64_t *clg_dataset_y_shape(const clg_dataset *ds, int *ndim) {
    if (ndim) *ndim = ds ? ds->y_ndim : 0;
    return ds && ds->y_ndim ? ds->y_shape : NULL;
}
clg_dtype clg_dataset_y_dtype(const clg_dataset *ds) { return ds ? ds->y_dtype : CLG_FLOAT32; }
int64_t clg_dataset_x_row(const clg_dataset *ds) { return ds ? ds->x_row : 0; }
int64_t clg_dataset_y_row(const clg_dataset *ds) { return ds ? ds->y_row : 0; }
float *clg_dataset_x(clg_dataset *ds) { return ds ? ds->x : NULL; }
void *clg_dataset_y(clg_dataset *ds) { return ds ? ds->y : NULL; }

/* A copy of samples [start, start + count). */
static clg_dataset *dataset_range(const clg_dataset *ds, int64_t start, int64_t count) {
    int64_t xs[CLG_MAX_DIMS], ys[CLG_MAX_DIMS];
    memcpy(xs, ds->x_shape, sizeof xs);
    memcpy(ys, ds->y_shape, sizeof ys);
    xs[0] = count;
    ys[0] = count;
    clg_dataset *out = dataset_alloc("clg_dataset_split", ds->x_ndim, xs, ds->y_dtype, ds->y_ndim, ys);
    if (!out) return NULL;
    memcpy(out->x, ds->x + start * ds->x_row, (size_t)(count * ds->x_row) * sizeof(float));
    if (ds->y_ndim)
        memcpy(out->y, (const char *)ds->y + (size_t)(start * ds->y_row) * y_elem(ds),
               (size_t)(count * ds->y_row) * y_elem(ds));
    return out;
}

clg_status clg_dataset_split(const clg_dataset *ds, double fraction, clg_dataset **train,
                             clg_dataset **val) {
    if (train) *train = NULL;
    if (val) *val = NULL;
    if (!ds || !train || !val)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_dataset_split: a NULL argument");
    if (!(fraction > 0.0 && fraction < 1.0))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_dataset_split: validation fraction %g is not in (0, 1)", fraction);
    /* Keras: split_at = int(math.floor(n * (1.0 - validation_split))). */
    int64_t split_at = (int64_t)floor((double)ds->n * (1.0 - fraction));
    if (split_at <= 0 || split_at >= ds->n)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_dataset_split: %lld samples with validation fraction %g leave an empty "
                        "part (train %lld, validation %lld)", (long long)ds->n, fraction,
                        (long long)split_at, (long long)(ds->n - split_at));
    clg_dataset *t = dataset_range(ds, 0, split_at);
    clg_dataset *v = t ? dataset_range(ds, split_at, ds->n - split_at) : NULL;
    if (!v) {
        clg_dataset_free(t);
        return clg_last_status();
    }
    *train = t;
    *val = v;
    return CLG_OK;
}

clg_status clg_dataset_gather(const clg_dataset *ds, const int64_t *indices, int64_t count, float *x,
                              size_t x_bytes, void *y, size_t y_bytes) {
    const char *api = "clg_dataset_gather";
    if (!ds || (count > 0 && (!indices || !x)) || count < 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: a NULL argument or negative count", api);
    if (y && !ds->y_ndim)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: y given but the dataset has no targets", api);
    size_t xrow = (size_t)ds->x_row * sizeof(float), yrow = (size_t)ds->y_row * y_elem(ds);
    if (xrow && x_bytes / xrow < (size_t)count)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: x buffer of %zu bytes is too small for %lld "
                        "samples of %zu bytes", api, x_bytes, (long long)count, xrow);
    if (y && yrow && y_bytes / yrow < (size_t)count)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: y buffer of %zu bytes is too small for %lld "
                        "samples of %zu bytes", api, y_bytes, (long long)count, yrow);
    for (int64_t i = 0; i < count; i++)
        if (indices[i] < 0 || indices[i] >= ds->n)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: index %lld (position %lld) is outside "
                            "the dataset's %lld samples", api, (long long)indices[i], (long long)i,
                            (long long)ds->n);
    for (int64_t i = 0; i < count; i++) {
        memcpy((char *)x + (size_t)i * xrow, (const char *)ds->x + (size_t)indices[i] * xrow, xrow);
        if (y) memcpy((char *)y + (size_t)i * yrow, (const char *)ds->y + (size_t)indices[i] * yrow, yrow);
    }
    return CLG_OK;
}

clg_status clg_dataset_scale(clg_dataset *ds, float factor) {
    if (!ds) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_dataset_scale: ds is NULL");
    int64_t total = ds->n * ds->x_row;
    for (int64_t i = 0; i < total; i++) ds->x[i] *= factor;
    return CLG_OK;
}

clg_status clg_dataset_feature_stats(const clg_dataset *ds, float *mean, float *std) {
    const char *api = "clg_dataset_feature_stats";
    if (!ds || !mean || !std) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: a NULL argument", api);
    if (ds->n < 1) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: the dataset is empty", api);
    double *acc = calloc((size_t)ds->x_row + 1, sizeof(double));
    if (!acc) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: %lld features", api, (long long)ds->x_row);
    /* Two passes (mean, then squared deviations): stable and in a fixed order. */
    for (int64_t s = 0; s < ds->n; s++)
        for (int64_t f = 0; f < ds->x_row; f++) acc[f] += ds->x[s * ds->x_row + f];
    for (int64_t f = 0; f < ds->x_row; f++) {
        acc[f] /= (double)ds->n;
        mean[f] = (float)acc[f];
        std[f] = 0.f;
    }
    double *dev = calloc((size_t)ds->x_row + 1, sizeof(double));
    if (!dev) {
        free(acc);
        return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: %lld features", api, (long long)ds->x_row);
    }
    for (int64_t s = 0; s < ds->n; s++)
        for (int64_t f = 0; f < ds->x_row; f++) {
            double d = ds->x[s * ds->x_row + f] - acc[f];
            dev[f] += d * d;
        }
    for (int64_t f = 0; f < ds->x_row; f++) std[f] = (float)sqrt(dev[f] / (double)ds->n);
    free(dev);
    free(acc);
    return CLG_OK;
}

clg_status clg_dataset_normalize(clg_dataset *ds, const float *mean, const float *std) {
    if (!ds || !mean || !std)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_dataset_normalize: a NULL argument");
    for (int64_t s = 0; s < ds->n; s++)
        for (int64_t f = 0; f < ds->x_row; f++) {
            float sd = std[f] != 0.f ? std[f] : 1.f;
            float *v = &ds->x[s * ds->x_row + f];
            *v = (*v - mean[f]) / sd;
        }
    return CLG_OK;
}

clg_status clg_one_hot_host(const int32_t *labels, int64_t n, int num_classes, float *out) {
    if ((n > 0 && (!labels || !out)) || n < 0 || num_classes < 1)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_one_hot_host: bad arguments (n %lld, num_classes %d)", (long long)n, num_classes);
    if (n > (int64_t)(SIZE_MAX / sizeof(float)) / num_classes)
        return clg_fail(CLG_STATUS_SIZE_OVERFLOW, "clg_one_hot_host: %lld labels x %d classes overflow the output size",
                        (long long)n, num_classes);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= num_classes)
            return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                            "clg_one_hot_host: label %lld is %d, outside [0, %d)", (long long)i,
                            (int)labels[i], num_classes);
    memset(out, 0, (size_t)n * (size_t)num_classes * sizeof(float));
    for (int64_t i = 0; i < n; i++) out[i * num_classes + labels[i]] = 1.f;
    return CLG_OK;
}

clg_status clg_dataset_one_hot(clg_dataset *ds, int num_classes) {
    const char *api = "clg_dataset_one_hot";
    if (!ds) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: ds is NULL", api);
    if (!ds->y_ndim || ds->y_dtype != CLG_INT32 || ds->y_row != 1) {
        char b[128];
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "%s: targets must be int32 of shape [N] or [N,1] (have %s %s)", api,
                        ds->y_ndim ? clg_dtype_name(ds->y_dtype) : "none",
                        clg_shape_format(ds->y_ndim, ds->y_shape, b, sizeof b));
    }
    if (num_classes < 1)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: num_classes %d", api, num_classes);
    size_t bytes = (size_t)ds->n * (size_t)num_classes * sizeof(float);
    float *oh = malloc(bytes ? bytes : 1);
    if (!oh) return clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "%s: %zu bytes", api, bytes);
    clg_status st = clg_one_hot_host(ds->y, ds->n, num_classes, oh);
    if (st != CLG_OK) {
        free(oh);
        return clg_fail_wrap(st, "%s", api);
    }
    free(ds->y);
    ds->y = oh;
    ds->y_dtype = CLG_FLOAT32;
    ds->y_ndim = 2;
    ds->y_shape[1] = num_classes;
    ds->y_row = num_classes;
    return CLG_OK;
}

/* --- shuffling and batches --------------------------------------------------------- */

clg_status clg_shuffle_permutation(int64_t n, uint64_t seed, uint64_t stream, int64_t *perm) {
    if (n < 0 || n > ((int64_t)1 << 31) || (n > 0 && !perm))
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                        "clg_shuffle_permutation: n %lld outside [0, 2^31] or perm NULL", (long long)n);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    uint64_t base = stream << 33;
    for (int64_t k = 0; k + 1 < n; k++) {
        int64_t i = n - 1 - k;
        uint64_t e = base + 2 * (uint64_t)k;
        uint64_t r = (uint64_t)clg_philox_bits(seed, e) << 32 | clg_philox_bits(seed, e + 1);
        int64_t j = (int64_t)(r % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    return CLG_OK;
}

struct clg_batch_iter {
    int64_t n, batch_size, next_batch;
    int shuffle;
    uint64_t seed;
    int64_t *order;
};

clg_batch_iter *clg_batch_iter_new(int64_t n, int64_t batch_size, int shuffle, uint64_t seed) {
    if (n < 0 || n > ((int64_t)1 << 31) || batch_size < 1) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT,
                 "clg_batch_iter_new: n %lld (0..2^31) or batch_size %lld (>= 1) out of range",
                 (long long)n, (long long)batch_size);
        return NULL;
    }
    clg_batch_iter *it = calloc(1, sizeof *it);
    if (it) it->order = malloc(n ? (size_t)n * sizeof(int64_t) : 1);
    if (!it || !it->order) {
        clg_batch_iter_free(it);
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_batch_iter_new: order of %lld samples", (long long)n);
        return NULL;
    }
    it->n = n;
    it->batch_size = batch_size;
    it->shuffle = shuffle != 0;
    it->seed = seed;
    clg_batch_iter_begin_epoch(it, 0);
    return it;
}

void clg_batch_iter_free(clg_batch_iter *it) {
    if (!it) return;
    free(it->order);
    free(it);
}

clg_status clg_batch_iter_begin_epoch(clg_batch_iter *it, int64_t epoch) {
    if (!it || epoch < 0)
        return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_batch_iter_begin_epoch: it NULL or epoch < 0");
    it->next_batch = 0;
    if (it->shuffle) return clg_shuffle_permutation(it->n, it->seed, (uint64_t)epoch, it->order);
    for (int64_t i = 0; i < it->n; i++) it->order[i] = i;
    return CLG_OK;
}

int64_t clg_batch_iter_count(const clg_batch_iter *it) {
    return it ? (it->n + it->batch_size - 1) / it->batch_size : 0;
}

int clg_batch_iter_next(clg_batch_iter *it, clg_batch *batch) {
    if (!it || !batch || it->next_batch >= clg_batch_iter_count(it)) return 0;
    int64_t start = it->next_batch * it->batch_size;
    batch->number = it->next_batch++;
    batch->start = start;
    batch->count = it->n - start < it->batch_size ? it->n - start : it->batch_size;
    batch->indices = it->order + start;
    return 1;
}

const int64_t *clg_batch_iter_order(const clg_batch_iter *it) { return it ? it->order : NULL; }
