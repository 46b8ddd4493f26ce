/** \file
 * Status codes and error reporting.
 *
 *     clg_context *ctx = clg_context_new(NULL);
 *     if (!ctx) {
 *         fprintf(stderr, "clgrad: %s (%s)\n", clg_last_error(),
 *                 clg_status_name(clg_last_status()));
 *         return 1;
 *     }
 *
 * Every public function either returns a clg_status (CLG_OK, which is 0, on
 * success) or, if it creates an object, returns NULL on failure. In both cases a
 * failure also records the status and a message naming the object at fault
 * (tensor, file, device, kernel) in per-thread storage, read back with
 * clg_last_status() and clg_last_error(). A success does not clear them.
 *
 * Thread safety: the per-thread error state is per thread; clg_status_name and
 * clg_status_message are pure and may be called from any thread. */
#ifndef CLGRAD_STATUS_H
#define CLGRAD_STATUS_H

#include "clgrad/export.h"

CLG_BEGIN_DECLS

/** One list: the enum, the names and the default messages come from it. */
#define CLG_STATUS_LIST(X)                                                              \
    X(OK, "success")                                                                    \
    X(INVALID_ARGUMENT, "invalid argument")                                             \
    X(SHAPE_MISMATCH, "tensor shapes do not match")                                     \
    X(SIZE_OVERFLOW, "size computation overflows")                                      \
    X(OUT_OF_HOST_MEMORY, "out of host memory")                                         \
    X(OUT_OF_DEVICE_MEMORY, "out of device memory")                                     \
    X(NO_PLATFORM, "no OpenCL platform found")                                          \
    X(NO_DEVICE, "no OpenCL device matches the selection")                              \
    X(BUILD_FAILED, "OpenCL program build failed")                                      \
    X(OPENCL_ERROR, "OpenCL call failed")                                               \
    X(IO_ERROR, "file input/output failed")                                             \
    X(CORRUPT_DATA, "data is corrupt or in an unexpected format")                       \
    X(UNSUPPORTED, "not supported on this device or by this build")                     \
    X(NOT_FOUND, "not found")

typedef enum clg_status {
#define CLG_STATUS_ENUM_(name, msg) CLG_STATUS_##name,
    CLG_STATUS_LIST(CLG_STATUS_ENUM_)
#undef CLG_STATUS_ENUM_
    CLG_STATUS_COUNT_
} clg_status;

#define CLG_OK CLG_STATUS_OK

/** "CLG_STATUS_SHAPE_MISMATCH" etc.; "CLG_STATUS_UNKNOWN" for values outside the list.
 * The string is static. */
CLG_API const char *clg_status_name(clg_status status);

/** The default one-line description of a status ("tensor shapes do not match").
 * The string is static. */
CLG_API const char *clg_status_message(clg_status status);

/** The status of the last failure recorded on this thread (CLG_OK if none yet). */
CLG_API clg_status clg_last_status(void);

/** The message of the last failure recorded on this thread, naming what failed,
 * e.g. "out of device memory allocating 1.5 GiB for tensor [4096,100000] on
 * pthread-skylake (0:0)". Never NULL; "" if none yet. The string stays valid
 * until the next failure on this thread. */
CLG_API const char *clg_last_error(void);

/** Forget the last failure on this thread. */
CLG_API void clg_clear_error(void);

CLG_END_DECLS

#endif
