/** \file
 * Data loading: IDX files (MNIST, Fashion-MNIST), numeric CSV tables, an
 * in-memory dataset with a seeded shuffling batch iterator, validation split,
 * normalisation and one-hot labels. Everything here works on host memory; only
 * clg_idx_to_tensor touches a device.
 *
 *     clg_idx *xi = NULL, *yi = NULL;
 *     if (clg_idx_read("train-images-idx3-ubyte.gz", &xi) != CLG_OK ||
 *         clg_idx_read("train-labels-idx1-ubyte.gz", &yi) != CLG_OK) {
 *         fprintf(stderr, "%s\n", clg_last_error());   // names the file at fault
 *         ...
 *     }
 *     clg_dataset *all = clg_dataset_from_idx(xi, 1.0 / 255, yi);   // x/255, int32 labels
 *     clg_idx_free(xi);
 *     clg_idx_free(yi);
 *     clg_dataset *train = NULL, *val = NULL;
 *     clg_dataset_split(all, 0.1, &train, &val);    // val = the last 10 %, as Keras
 *     clg_dataset_free(all);
 *     clg_dataset_one_hot(train, 10);               // targets -> float32 [N,10]
 *
 *     int64_t n = clg_dataset_size(train), bs = 32;
 *     clg_batch_iter *it = clg_batch_iter_new(n, bs, 1, 42);   // shuffled, seed 42
 *     size_t xb = bs * clg_dataset_x_row(train) * sizeof(float);
 *     size_t yb = bs * clg_dataset_y_row(train) * sizeof(float);
 *     float *x = malloc(xb), *y = malloc(yb);
 *     for (int64_t epoch = 0; epoch < 10; epoch++) {
 *         clg_batch_iter_begin_epoch(it, epoch);     // a new order per epoch
 *         clg_batch b;
 *         while (clg_batch_iter_next(it, &b)) {      // the last batch may be short
 *             clg_dataset_gather(train, b.indices, b.count, x, xb, y, yb);
 *             int64_t xs[4] = {b.count, 28, 28, 1};
 *             clg_tensor *xt = clg_tensor_from_host(ctx, CLG_FLOAT32, 4, xs, x);
 *             ...                                    // train on b.count samples
 *         }
 *     }
 *     clg_batch_iter_free(it);
 *     clg_dataset_free(train);
 *     clg_dataset_free(val);
 *
 * Ownership: functions that create an object (clg_idx, clg_csv, clg_dataset,
 * clg_batch_iter) hand it to the caller, who frees it with the matching _free;
 * _free(NULL) does nothing. Pointers returned by accessors point into the object
 * and live as long as it does. Caller buffers are never kept.
 *
 * Failure: functions return a clg_status (or NULL for creators) and leave a
 * message in clg_last_error() naming the function and, for file readers, the
 * path (and for CSV the line and column). Outputs are left NULL on failure;
 * nothing is partly built. The library never prints or exits.
 *
 * Thread safety: no global state. Distinct objects may be used from different
 * threads at once; one object may be read (accessors, gather, to_tensor) from
 * several threads at once, but a function that modifies it (normalise, scale,
 * one_hot, batch_iter_next) needs exclusive use. clg_idx_to_tensor follows the
 * context's rule (one thread at a time per context). */
#ifndef CLGRAD_DATA_H
#define CLGRAD_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "clgrad/export.h"
#include "clgrad/runtime.h"
#include "clgrad/status.h"
#include "clgrad/tensor.h"

CLG_BEGIN_DECLS

/** \defgroup data_idx IDX files
 *
 * Format (big-endian throughout): two zero bytes, a type byte, a rank byte,
 * rank uint32 dimensions, then the elements in row-major order. Plain or gzip
 * compressed files are read alike; gzip is recognised by its magic bytes
 * (1f 8b), not by the file name.
 *
 * Limits, checked before anything is allocated: rank 1..CLG_IDX_MAX_RANK, at
 * most CLG_IDX_MAX_ELEMENTS elements and CLG_IDX_MAX_BYTES bytes of data. A
 * plain file's size must equal header + data exactly; a gzip stream is read in
 * growing chunks, so a header that claims more than the stream holds costs at
 * most about twice what the stream really holds before it is reported.
 * @{ */

#define CLG_IDX_MAX_RANK 8
#define CLG_IDX_MAX_ELEMENTS ((int64_t)1 << 31)
#define CLG_IDX_MAX_BYTES ((int64_t)1 << 32)

typedef enum clg_idx_type {
    CLG_IDX_UBYTE = 0x08,  /**< uint8_t */
    CLG_IDX_BYTE = 0x09,   /**< int8_t */
    CLG_IDX_SHORT = 0x0B,  /**< int16_t */
    CLG_IDX_INT = 0x0C,    /**< int32_t */
    CLG_IDX_FLOAT = 0x0D,  /**< float (IEEE binary32) */
    CLG_IDX_DOUBLE = 0x0E  /**< double (IEEE binary64) */
} clg_idx_type;

typedef struct clg_idx {
    clg_idx_type type;
    int rank;                        /**< 1..CLG_IDX_MAX_RANK */
    int64_t dims[CLG_IDX_MAX_RANK];  /**< rank entries; the rest 0 */
    int64_t count;                   /**< product of dims (may be 0) */
    size_t elem_size;                /**< bytes per element of type */
    void *data;                      /**< count elements of type, host byte order
                                        (NULL if count is 0) */
} clg_idx;

/** Reads an IDX file (plain or gzip) into *out (set to NULL first).
 * Owner: the caller frees *out with clg_idx_free.
 * Fails with CLG_STATUS_NOT_FOUND (no such file), CLG_STATUS_IO_ERROR (cannot
 * open or read), CLG_STATUS_CORRUPT_DATA (wrong magic, unknown type, rank 0 or
 * over 8, dims over the limits above, fewer or more data bytes than the dims
 * say, a damaged or truncated gzip stream), CLG_STATUS_OUT_OF_HOST_MEMORY; the
 * message names the path. */
CLG_API clg_status clg_idx_read(const char *path, clg_idx **out);

CLG_API void clg_idx_free(clg_idx *idx); /**< NULL is a no-op */

/** Bytes per element of an IDX type; 0 for a value that is not a type. */
CLG_API size_t clg_idx_type_size(clg_idx_type type);

/** Converts every element to float32, multiplied by scale (1.0 / 255 gives
 * Keras's x / 255 for images), into out, which holds at least `capacity`
 * floats (capacity >= idx->count). The product is computed in double and
 * rounded once. Fails with CLG_STATUS_INVALID_ARGUMENT (NULL, too small). */
CLG_API clg_status clg_idx_to_float32(const clg_idx *idx, double scale, float *out,
                                      int64_t capacity);

/** Converts every element to int32 (labels) into out (capacity >= idx->count).
 * Float and double elements must hold whole numbers in int32 range; otherwise
 * CLG_STATUS_CORRUPT_DATA naming the element index. */
CLG_API clg_status clg_idx_to_int32(const clg_idx *idx, int32_t *out, int64_t capacity);

/** A new device tensor of shape idx->dims (images: [N,28,28]; reshape as the
 * model needs) and the given dtype: CLG_FLOAT32 (values * scale),
 * CLG_INT32 (scale must be 1; as clg_idx_to_int32) or CLG_UINT8 (ubyte files
 * only, scale 1, raw bytes). Owner: the caller (clg_tensor_free). NULL on
 * failure (bad arguments, conversion, device memory). */
CLG_API clg_tensor *clg_idx_to_tensor(clg_context *ctx, const clg_idx *idx, double scale,
                                      clg_dtype dtype);
/** @} */

/** \defgroup data_csv CSV tables of numbers
 *
 * Every field is a number (strtod syntax in the C locale, surrounding spaces
 * and tabs ignored). Fields may be quoted as in RFC 4180 ("1.5", "a ""b""");
 * lines end in LF or CRLF; blank lines are skipped. All rows must have as many
 * fields as the first. The optional first row holds column names.
 * @{ */

typedef struct clg_csv_options {
    char delimiter;          /**< ',' by default */
    int header;              /**< 1: the first row holds column names (default 0) */
    int empty_is_nan;        /**< 1: an empty field reads as NaN; 0 (default): an error */
    size_t max_line_bytes;   /**< longest physical line allowed; default 1 MiB */
    size_t max_file_bytes;   /**< largest file allowed; default 1 GiB */
} clg_csv_options;

/** The defaults listed above. */
CLG_API clg_csv_options clg_csv_options_default(void);

typedef struct clg_csv {
    int64_t rows, cols;   /**< data rows (header excluded) and columns; both >= 1 */
    double *values;       /**< rows * cols, row-major */
    char **names;         /**< cols NUL-terminated names if options.header, else NULL */
} clg_csv;

/** Reads a CSV file into *out (set to NULL first); options NULL means defaults.
 * Owner: the caller frees *out with clg_csv_free.
 * Fails with CLG_STATUS_NOT_FOUND / CLG_STATUS_IO_ERROR (file), and
 * CLG_STATUS_CORRUPT_DATA naming the path, line and column (1-based) for a
 * ragged row, a field that is not a number, an empty field (unless
 * empty_is_nan), a stray or unterminated quote, a NUL byte, a line over
 * max_line_bytes, or a file with no data rows. */
CLG_API clg_status clg_csv_read(const char *path, const clg_csv_options *options, clg_csv **out);

CLG_API void clg_csv_free(clg_csv *csv); /**< NULL is a no-op */

/** Copies columns [first_col, first_col + ncols) of every row as float32 into
 * out (rows * ncols floats, row-major; capacity in floats), e.g. features and
 * targets from one table. CLG_STATUS_INVALID_ARGUMENT for a bad range. */
CLG_API clg_status clg_csv_columns_float32(const clg_csv *csv, int64_t first_col, int64_t ncols,
                                           float *out, int64_t capacity);
/** @} */

/** \defgroup data_dataset In-memory dataset
 *
 * N samples: float32 features of shape x_shape ([N, ...]) and optional targets
 * of shape y_shape ([N, ...]) and dtype CLG_INT32 or CLG_FLOAT32. The dataset
 * owns copies of the data.
 * @{ */

typedef struct clg_dataset clg_dataset;

/** A new dataset copying x (x_shape[0] samples) and y (may be NULL, with y_ndim 0
 * and y_shape NULL: no targets). y_shape[0] must equal x_shape[0]; ndim 1..8.
 * Owner: the caller (clg_dataset_free). NULL on failure (INVALID_ARGUMENT,
 * SHAPE_MISMATCH, SIZE_OVERFLOW, OUT_OF_HOST_MEMORY). */
CLG_API clg_dataset *clg_dataset_new(int x_ndim, const int64_t *x_shape, const float *x,
                                     clg_dtype y_dtype, int y_ndim, const int64_t *y_shape,
                                     const void *y);

/** A dataset from IDX images (any type, converted to float32 * x_scale) and
 * labels (integer types give int32 targets, float types float32 targets; may be
 * NULL). Owner: the caller. NULL on failure (counts differ, conversion). */
CLG_API clg_dataset *clg_dataset_from_idx(const clg_idx *x, double x_scale, const clg_idx *y);

CLG_API void clg_dataset_free(clg_dataset *ds); /**< NULL is a no-op */

CLG_API int64_t clg_dataset_size(const clg_dataset *ds);   /**< N; 0 for NULL */
/** \name Shapes
 * Shapes ([N, ...]); *ndim gets the rank (0 for absent targets). */
/** @{ */
CLG_API const int64_t *clg_dataset_x_shape(const clg_dataset *ds, int *ndim);
CLG_API const int64_t *clg_dataset_y_shape(const clg_dataset *ds, int *ndim);
/** @} */
CLG_API clg_dtype clg_dataset_y_dtype(const clg_dataset *ds);
/** \name Elements per sample
 * Elements per sample (product of shape[1..]); y_row is 0 without targets. */
/** @{ */
CLG_API int64_t clg_dataset_x_row(const clg_dataset *ds);
CLG_API int64_t clg_dataset_y_row(const clg_dataset *ds);
/** @} */
/** \name The data
 * The data, row-major, owned by the dataset (writable; NULL if empty/absent). */
/** @{ */
CLG_API float *clg_dataset_x(clg_dataset *ds);
CLG_API void *clg_dataset_y(clg_dataset *ds);
/** @} */

/** Keras's validation_split: *train gets the first floor(N * (1 - fraction))
 * samples and *val the rest (the LAST samples, taken before any shuffling), both
 * copies. fraction must be in (0, 1) and leave both parts non-empty. On failure
 * both outputs are NULL (INVALID_ARGUMENT, OUT_OF_HOST_MEMORY). */
CLG_API clg_status clg_dataset_split(const clg_dataset *ds, double fraction, clg_dataset **train,
                                     clg_dataset **val);

/** Copies the samples indices[0..count) (each in [0, N)) into x (count * x_row
 * floats; x_bytes its size) and, if y is not NULL, y (count * y_row elements of
 * the target dtype; y_bytes its size). CLG_STATUS_INVALID_ARGUMENT for an index
 * out of range or a buffer that is too small. */
CLG_API clg_status clg_dataset_gather(const clg_dataset *ds, const int64_t *indices, int64_t count,
                                      float *x, size_t x_bytes, void *y, size_t y_bytes);

/** x *= factor, element by element. */
CLG_API clg_status clg_dataset_scale(clg_dataset *ds, float factor);

/** Per-feature mean and standard deviation (population, ddof 0) over the samples
 * of ds (compute them on the training part only), into mean and std (x_row
 * floats each). Sums in double in sample order (deterministic). Needs N >= 1. */
CLG_API clg_status clg_dataset_feature_stats(const clg_dataset *ds, float *mean, float *std);

/** x = (x - mean) / std per feature (x_row floats each); a std of 0 divides by 1
 * instead (a constant feature becomes 0), as scikit-learn's StandardScaler. */
CLG_API clg_status clg_dataset_normalize(clg_dataset *ds, const float *mean, const float *std);

/** Writes the one-hot encoding of n int32 labels into out (n * num_classes
 * floats, zeroed first). A label outside [0, num_classes) is
 * CLG_STATUS_INVALID_ARGUMENT naming its index and value. */
CLG_API clg_status clg_one_hot_host(const int32_t *labels, int64_t n, int num_classes, float *out);

/** Replaces a dataset's int32 targets of shape [N] or [N,1] by float32 one-hot
 * targets [N, num_classes]. On failure the dataset is unchanged. */
CLG_API clg_status clg_dataset_one_hot(clg_dataset *ds, int num_classes);
/** @} */

/** \defgroup data_batches Shuffling and batches
 * @{ */

/** Writes a permutation of 0..n-1 into perm: Fisher-Yates driven by the
 * counter-based Philox-4x32-10 generator (clgrad's RNG), so (seed, stream)
 * gives the same order on every machine. Step k (i = n-1-k) draws elements
 * e = stream * 2^33 + 2k and + 2k + 1 of the seed's stream as a 64-bit number
 * r and swaps perm[i] with perm[r mod (i + 1)]. n <= 2^31. */
CLG_API clg_status clg_shuffle_permutation(int64_t n, uint64_t seed, uint64_t stream,
                                           int64_t *perm);

typedef struct clg_batch {
    int64_t number;          /**< 0, 1, ... within the epoch */
    int64_t start, count;    /**< positions [start, start + count) of the epoch's order */
    const int64_t *indices;  /**< count sample indices; valid until the next call on the iterator */
} clg_batch;

typedef struct clg_batch_iter clg_batch_iter;

/** An iterator over n samples in batches of batch_size; the last batch of an
 * epoch holds the remainder (as Keras). With shuffle, each epoch's order is
 * clg_shuffle_permutation(n, seed, epoch); otherwise 0..n-1. The iterator starts
 * at epoch 0. Owner: the caller (clg_batch_iter_free). NULL on failure. */
CLG_API clg_batch_iter *clg_batch_iter_new(int64_t n, int64_t batch_size, int shuffle,
                                           uint64_t seed);
CLG_API void clg_batch_iter_free(clg_batch_iter *it); /**< NULL is a no-op */

/** Starts epoch `epoch` (reshuffles) and rewinds to its first batch. */
CLG_API clg_status clg_batch_iter_begin_epoch(clg_batch_iter *it, int64_t epoch);

/** Fills *batch with the next batch and returns 1, or returns 0 when the epoch
 * is over (and on a NULL argument). */
CLG_API int clg_batch_iter_next(clg_batch_iter *it, clg_batch *batch);

/** Batches per epoch: ceil(n / batch_size). */
CLG_API int64_t clg_batch_iter_count(const clg_batch_iter *it);

/** The epoch's order (n sample indices), owned by the iterator. */
CLG_API const int64_t *clg_batch_iter_order(const clg_batch_iter *it);
/** @} */

CLG_END_DECLS

#endif
