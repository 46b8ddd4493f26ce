/** \file
 * Checkpoints in the safetensors format (https://github.com/huggingface/safetensors),
 * so that other tools read clgrad's weights and clgrad reads theirs.
 *
 *     // save
 *     clg_safetensors_writer *w = clg_safetensors_writer_new();
 *     clg_safetensors_writer_add(w, "dense.weight", weight);    // copies the values now
 *     clg_safetensors_writer_add(w, "dense.bias", bias);
 *     clg_safetensors_writer_set_metadata(w, "epoch", "3");
 *     if (clg_safetensors_writer_save(w, "model.safetensors") != CLG_OK)
 *         fprintf(stderr, "%s\n", clg_last_error());
 *     clg_safetensors_writer_free(w);
 *
 *     // load
 *     clg_safetensors *f = NULL;
 *     if (clg_safetensors_open("model.safetensors", &f) != CLG_OK) { ... clg_last_error() ... }
 *     for (size_t i = 0; i < clg_safetensors_count(f); i++)
 *         printf("%s\n", clg_safetensors_name(f, i));
 *     clg_tensor *wt = clg_safetensors_read_tensor(f, "dense.weight", ctx);
 *     const char *epoch = clg_safetensors_metadata_get(f, "epoch");   // "3" or NULL
 *     clg_tensor_free(wt);
 *     clg_safetensors_free(f);
 *
 * The format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * mapping tensor names to {"dtype", "shape", "data_offsets": [begin, end]} plus an
 * optional "__metadata__" object of strings, then the little-endian row-major data.
 *
 * Reading: clg_safetensors_open reads and validates the whole header (at most
 * 100,000,000 bytes, as the reference implementation allows) but no tensor data;
 * each tensor's bytes are read from the file (pread) when asked for. A file is
 * accepted only if: the JSON is valid UTF-8 and well formed (no duplicate keys,
 * nesting at most 8 deep, nothing after the top-level object but whitespace);
 * every entry has a known dtype, a shape of non-negative integers and
 * data_offsets of two integers; end - begin == product(shape) * dtype size; and
 * the entries, sorted by offset, cover the data region from 0 to its end
 * exactly, without overlaps or holes (the reference rule). Unknown fields inside
 * an entry are ignored, as the reference does. A failure is CLG_STATUS_IO_ERROR
 * (cannot open or read), CLG_STATUS_NOT_FOUND (no such file or tensor) or
 * CLG_STATUS_CORRUPT_DATA, with a message naming the file, the tensor and the
 * rule broken.
 *
 * Writing: the writer keeps host copies of the added tensors and writes them in
 * the reference's layout: "__metadata__" first (its keys sorted), then the
 * tensors ordered as the reference orders them (I64, F64, F32, I32, BF16, F16,
 * I16, I8, U8, BOOL: larger elements first) and by name (bytewise) within a
 * dtype, data in the same order, header padded with spaces to a multiple of 8
 * bytes so that every tensor starts aligned to its element size. Given the same
 * tensors and at most one metadata entry the file is byte for byte what the
 * reference's save_file writes (the reference orders several metadata keys by
 * hash, differently from run to run). Saving is atomic: a temporary file in the target's directory is
 * written, fsync'ed and renamed over the target, and the directory is fsync'ed,
 * so after a crash the target holds the old file or the new one, never a mix.
 *
 * Thread safety: a clg_safetensors is read-only after open; several threads may
 * query it and read tensors from it at the same time (each clg_context still one
 * thread at a time). A writer is used by one thread at a time. */
#ifndef CLGRAD_SAFETENSORS_H
#define CLGRAD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "clgrad/export.h"
#include "clgrad/runtime.h"
#include "clgrad/status.h"
#include "clgrad/tensor.h"

CLG_BEGIN_DECLS

/** Element types a safetensors file may hold (the subset of the reference's list
 * that numpy and torch write for ordinary models). */
typedef enum clg_safetensors_dtype {
    CLG_SAFETENSORS_F64 = 0,
    CLG_SAFETENSORS_F32,
    CLG_SAFETENSORS_F16,
    CLG_SAFETENSORS_BF16,
    CLG_SAFETENSORS_I64,
    CLG_SAFETENSORS_I32,
    CLG_SAFETENSORS_I16,
    CLG_SAFETENSORS_I8,
    CLG_SAFETENSORS_U8,
    CLG_SAFETENSORS_BOOL,
    CLG_SAFETENSORS_DTYPE_COUNT_
} clg_safetensors_dtype;

/** "F32", "BOOL", ... as written in the header; "?" outside the list. Static. */
CLG_API const char *clg_safetensors_dtype_name(clg_safetensors_dtype dtype);
/** Bytes per element; 0 outside the list. */
CLG_API size_t clg_safetensors_dtype_size(clg_safetensors_dtype dtype);

/** \defgroup safetensors_reading Reading safetensors files
 * @{ */

typedef struct clg_safetensors clg_safetensors;

/** Opens path and validates its header (see the rules above). On success *out is
 * a new handle owned by the caller (free with clg_safetensors_free); it keeps the
 * file open. On failure *out is NULL and the status and message say why. */
CLG_API clg_status clg_safetensors_open(const char *path, clg_safetensors **out);

/** Closes the file and frees the handle; NULL is a no-op. Strings and shapes
 * returned by the accessors below die with it. */
CLG_API void clg_safetensors_free(clg_safetensors *f);

/** The path given to open. Owned by f. */
CLG_API const char *clg_safetensors_path(const clg_safetensors *f);

/** Number of tensors; 0 for NULL. */
CLG_API size_t clg_safetensors_count(const clg_safetensors *f);

/** Name of tensor i (0 <= i < count, in the order of their data in the file);
 * NULL if i is out of range. Owned by f. */
CLG_API const char *clg_safetensors_name(const clg_safetensors *f, size_t i);

/** What the header says about one tensor. The pointers are owned by f. */
typedef struct clg_safetensors_info {
    const char *name;
    clg_safetensors_dtype dtype;
    int ndim;             /**< may exceed CLG_MAX_DIMS: such a tensor can only be read to host */
    const int64_t *shape; /**< ndim entries */
    uint64_t numel;
    uint64_t nbytes;      /**< numel * dtype size */
    uint64_t file_offset; /**< absolute offset of the first byte in the file */
} clg_safetensors_info;

/** Fills *info for the tensor called name. CLG_STATUS_NOT_FOUND (naming the file
 * and the tensor) if there is none; *info is untouched on failure. */
CLG_API clg_status clg_safetensors_info_get(const clg_safetensors *f, const char *name,
                                            clg_safetensors_info *info);

/** \name Accessors by name
 * Convenience accessors by name: the dtype (CLG_SAFETENSORS_DTYPE_COUNT_ if
 * absent), the rank (-1 if absent) and the shape (NULL if absent; owned by f). */
/** @{ */
CLG_API clg_safetensors_dtype clg_safetensors_dtype_of(const clg_safetensors *f, const char *name);
CLG_API int clg_safetensors_ndim(const clg_safetensors *f, const char *name);
CLG_API const int64_t *clg_safetensors_shape(const clg_safetensors *f, const char *name);
/** @} */

/** \name Metadata
 * The "__metadata__" entries, in the order of the file. Count is 0 when the
 * file has none; key/value are NULL for i out of range; metadata_get is NULL if
 * key is absent. Strings owned by f. */
/** @{ */
CLG_API size_t clg_safetensors_metadata_count(const clg_safetensors *f);
CLG_API const char *clg_safetensors_metadata_key(const clg_safetensors *f, size_t i);
CLG_API const char *clg_safetensors_metadata_value(const clg_safetensors *f, size_t i);
CLG_API const char *clg_safetensors_metadata_get(const clg_safetensors *f, const char *key);
/** @} */

/** Reads tensor name's elements, row-major, in host byte order, into dst
 * (bytes >= its nbytes). Any dtype. Fails with NOT_FOUND, INVALID_ARGUMENT
 * (buffer too small or NULL) or IO_ERROR (the file changed or cannot be read);
 * dst may be partly written on failure. */
CLG_API clg_status clg_safetensors_read(const clg_safetensors *f, const char *name, void *dst,
                                        size_t bytes);

/** A new contiguous tensor on ctx holding tensor name (owned by the caller, named
 * after the entry). F32, I32 and U8 map to CLG_FLOAT32, CLG_INT32, CLG_UINT8; F16
 * to CLG_FLOAT16 storage. Other dtypes, and ranks above CLG_MAX_DIMS, fail with
 * CLG_STATUS_UNSUPPORTED naming the file, the tensor and the dtype (read them with
 * clg_safetensors_read and convert). NULL on failure. */
CLG_API clg_tensor *clg_safetensors_read_tensor(const clg_safetensors *f, const char *name,
                                                clg_context *ctx);
/** @} */

/** \defgroup safetensors_writing Writing safetensors files
 * @{ */

typedef struct clg_safetensors_writer clg_safetensors_writer;

/** A new empty writer owned by the caller (free with clg_safetensors_writer_free);
 * NULL if out of memory. */
CLG_API clg_safetensors_writer *clg_safetensors_writer_new(void);

/** Frees the writer and its host copies; NULL is a no-op. */
CLG_API void clg_safetensors_writer_free(clg_safetensors_writer *w);

/** Copies t's current values to host (realising lazy tensors, gathering views)
 * under name. The name must be non-empty valid UTF-8, not "__metadata__", and not
 * added before (INVALID_ARGUMENT naming it). t is not consumed and may be freed
 * afterwards. On failure the writer is unchanged. */
CLG_API clg_status clg_safetensors_writer_add(clg_safetensors_writer *w, const char *name,
                                              const clg_tensor *t);

/** As _add, from host memory: numel * dtype size bytes of row-major elements in
 * host byte order (data may be NULL when there are none). Any dtype, any rank up
 * to 64; the data is copied. */
CLG_API clg_status clg_safetensors_writer_add_host(clg_safetensors_writer *w, const char *name,
                                                   clg_safetensors_dtype dtype, int ndim,
                                                   const int64_t *shape, const void *data);

/** Sets metadata key to value (both copied, valid UTF-8; setting a key again
 * replaces its value). */
CLG_API clg_status clg_safetensors_writer_set_metadata(clg_safetensors_writer *w,
                                                       const char *key, const char *value);

/** Writes everything added so far to path atomically (see above), creating
 * missing parent directories. The writer stays valid and may be saved again. On failure the target is untouched and no
 * temporary file is left behind. A process killed midway leaves path absent (if
 * never saved), the previous file or the new one, complete, and may leave its temporary,
 * "<path>.tmp.<pid>.<n>.<ns>": no loader reads it (they open path itself),
 * saving again works (temporary names are never reused), and a later successful
 * save to the same path deletes such files whose process no longer runs once
 * they are a minute old (others are left alone). Names of that form beside path
 * are reserved. */
CLG_API clg_status clg_safetensors_writer_save(const clg_safetensors_writer *w, const char *path);
/** @} */

CLG_END_DECLS

#endif
