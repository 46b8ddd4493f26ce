/* clgrad: deep learning in C on any OpenCL device.
 *
 *     #include <clgrad/clgrad.h>
 *
 *     int main(void) {
 *         clg_context *ctx = clg_context_new(NULL);   // best device, or CLGRAD_DEVICE
 *         if (!ctx) { fprintf(stderr, "%s\n", clg_last_error()); return 1; }
 *         int64_t shape[2] = {1000, 1000};
 *         clg_tensor *x = clg_tensor_rand_normal(ctx, 2, shape, 0.f, 1.f, 42, 0);
 *         clg_tensor_print(x, stdout, 8);
 *         clg_tensor_free(x);
 *         clg_context_free(ctx);
 *     }
 *
 * Link with -lclgrad (pkg-config clgrad, or find_package(clgrad) and
 * target_link_libraries(app clgrad::clgrad)).
 *
 * Conventions shared by every header: functions return a clg_status (0 is
 * success) or, if they create something, a pointer that is NULL on failure; the
 * reason is in clg_last_error(). Objects are freed with their _free function, and
 * freeing NULL does nothing. The library never prints unless asked and never
 * exits the process. */
#ifndef CLGRAD_CLGRAD_H
#define CLGRAD_CLGRAD_H

#include "clgrad/version.h"
#include "clgrad/export.h"
#include "clgrad/status.h"
#include "clgrad/runtime.h"
#include "clgrad/tensor.h"
#include "clgrad/ops.h"
#include "clgrad/autograd.h"
#include "clgrad/safetensors.h"
#include "clgrad/data.h"
#include "clgrad/text.h"
#include "clgrad/model.h"
#include "clgrad/optim.h"
#include "clgrad/image.h"
#include "clgrad/rl.h"
#include "clgrad/distributed.h"

#endif
