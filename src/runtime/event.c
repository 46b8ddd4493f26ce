/* Events ordering work between contexts (see runtime.h). */
#include <stdlib.h>

#include "common/error.h"
#include "runtime/runtime_impl.h"

struct clg_event {
    clg_context *ctx;
    cl_event event;
};

clg_event *clg_event_record(clg_context *ctx) {
    if (!ctx) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_event_record: context is NULL");
        return NULL;
    }
    clg_event *ev = calloc(1, sizeof *ev);
    if (!ev) {
        clg_fail(CLG_STATUS_OUT_OF_HOST_MEMORY, "clg_event_record");
        return NULL;
    }
    ev->ctx = ctx;
    if (CLG_CL_FAULT(ctx, CLG_FAULT_ENQUEUE, clEnqueueMarkerWithWaitList(ctx->queue, 0, NULL, &ev->event),
                     ctx->label) != CLG_OK) {
        free(ev);
        return NULL;
    }
    return ev;
}

static void CL_CALLBACK complete_user_event(cl_event done, cl_int status, void *user) {
    (void)done;
    /* A failed producer fails the consumer's wait too (negative status). */
    clSetUserEventStatus((cl_event)user, status < 0 ? status : CL_COMPLETE);
    clReleaseEvent((cl_event)user);
}

clg_status clg_event_wait(clg_context *ctx, const clg_event *ev) {
    if (!ctx || !ev) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_event_wait: NULL argument");
    if (ev->ctx->cl == ctx->cl)
        return CLG_CL_FAULT(ctx, CLG_FAULT_ENQUEUE, clEnqueueBarrierWithWaitList(ctx->queue, 1, &ev->event, NULL),
                            ctx->label);
    /* Another OpenCL context: its events cannot appear in our wait lists. */
    cl_int err;
    cl_event user = clCreateUserEvent(ctx->cl, &err);
    clg_status st = CLG_CL_ERR(err, "clCreateUserEvent", ctx->label);
    if (st != CLG_OK) return st;
    st = CLG_CL_FAULT(ctx, CLG_FAULT_ENQUEUE, clEnqueueBarrierWithWaitList(ctx->queue, 1, &user, NULL), ctx->label);
    if (st == CLG_OK) {
        clRetainEvent(user); /* released by the callback */
        st = CLG_CL(clSetEventCallback(ev->event, CL_COMPLETE, complete_user_event, user), ev->ctx->label);
        if (st != CLG_OK) {
            clReleaseEvent(user);
            clSetUserEventStatus(user, CL_INVALID_EVENT); /* do not leave the queue stuck */
        }
    } else {
        clSetUserEventStatus(user, CL_COMPLETE);
    }
    clReleaseEvent(user);
    /* The producer's queue must be submitted for its event to complete. */
    if (st == CLG_OK) st = CLG_CL(clFlush(ev->ctx->queue), ev->ctx->label);
    return st;
}

clg_status clg_event_synchronize(const clg_event *ev) {
    if (!ev) return clg_fail(CLG_STATUS_INVALID_ARGUMENT, "clg_event_synchronize: event is NULL");
    return CLG_CL(clWaitForEvents(1, &ev->event), ev->ctx->label);
}

int clg_event_done(const clg_event *ev) {
    if (!ev) return -1;
    cl_int status;
    if (clGetEventInfo(ev->event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL) !=
        CL_SUCCESS)
        return -1;
    return status == CL_COMPLETE ? 1 : status < 0 ? -1 : 0;
}

void clg_event_free(clg_event *ev) {
    if (!ev) return;
    clReleaseEvent(ev->event);
    free(ev);
}
