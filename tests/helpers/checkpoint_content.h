/* What checkpoint_writer saves at iteration k, shared with test_crash.c, which
 * checks that a file holds exactly one of these versions. Each version differs
 * from the next in every tensor value, in the metadata and (raw files) in size,
 * so a file stitched from two versions, cut short or left half-written is
 * always told apart from a complete one. */
#ifndef CLG_TEST_CHECKPOINT_CONTENT_H
#define CLG_TEST_CHECKPOINT_CONTENT_H

#include <stdint.h>

/* Raw files (clg_safetensors_writer_save from host memory): "layer.kernel",
 * F32 [rows, RAW_COLS]; "layer.bias", I64 [16]; "step", I32 [1]; metadata
 * "iteration" (k in decimal) and "note" (k % 7 + 1 letters, so that the header
 * and with it every data offset moves too). */
enum { RAW_COLS = 256, RAW_BIAS = 16 };
static inline int64_t raw_rows(int k) { return 256 + (int64_t)(k % 4) * 64; } /* 256 to 448 KiB */

/* Exact in float32 (below 2^24) and different for neighbouring k. */
static inline float ckpt_value(int k, int tensor, int64_t i) {
    return (float)(((int64_t)k * 7919 + (int64_t)tensor * 104729 + i) % 1048573);
}

/* Whole-model files (clg_model_save): a compiled Sequential model, input
 * [MODEL_IN] -> Dense(MODEL_HIDDEN, relu) -> Dense(MODEL_OUT), Adam; weight j
 * (clg_model_weight(m, 0, j)) holds ckpt_value(k, j, i) and the training state
 * says epochs_done = k. */
enum { MODEL_IN = 128, MODEL_HIDDEN = 384, MODEL_OUT = 32 };

#endif
