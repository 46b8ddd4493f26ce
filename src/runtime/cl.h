/* Internal: the one way clgrad includes OpenCL and checks its calls. */
#ifndef CLG_RUNTIME_CL_H
#define CLG_RUNTIME_CL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

#include "clgrad/status.h"

/* "CL_MEM_OBJECT_ALLOCATION_FAILURE", ...; "CL_UNKNOWN_ERROR(-9999)" otherwise
 * (in a static per-thread buffer). */
const char *clg_cl_error_name(cl_int err);

/* The code named `name` ("CL_OUT_OF_RESOURCES", ...) into *code: 1, or 0 when
 * the name is not one of OpenCL's. */
int clg_cl_error_code(const char *name, cl_int *code);

/* Maps a failed OpenCL call to a status and records a message naming the call,
 * the error, what was being done, and the source position. CL_SUCCESS gives
 * CLG_OK and records nothing. */
clg_status clg_cl_check(cl_int err, const char *call, const char *what, const char *file,
                        int line);

/* Every OpenCL call goes through one of these:
 *   st = CLG_CL(clFinish(q), "waiting for the queue");
 *   buf = clCreateBuffer(..., &err); st = CLG_CL_ERR(err, "clCreateBuffer", "tensor [3,4]");
 * `what` names the object at fault; it is a plain string. */
#define CLG_CL(expr, what) clg_cl_check((expr), #expr, (what), __FILE__, __LINE__)
#define CLG_CL_ERR(err, call, what) clg_cl_check((err), (call), (what), __FILE__, __LINE__)

#endif
