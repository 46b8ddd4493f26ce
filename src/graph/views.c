/* Backward rules of the view ops in tensor.c (reshape, permute, slice). */
#include "common/error.h"
#include "graph/graph.h"

clg_status clg_bw_reshape(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    const clg_tensor *x = n->inputs[0];
    gin[0] = clg_tensor_reshape(g, x->ndim, x->shape);
    return gin[0] ? CLG_OK : clg_last_status();
}

clg_status clg_bw_permute(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    int inverse[CLG_MAX_DIMS];
    for (int i = 0; i < out->ndim; i++) inverse[n->iattr[i]] = i;
    gin[0] = clg_tensor_permute(g, inverse);
    return gin[0] ? CLG_OK : clg_last_status();
}

clg_status clg_bw_slice(clg_gnode *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)out;
    const clg_tensor *x = n->inputs[0];
    clg_tensor *z = clg_tensor_zeros(x->ctx, CLG_FLOAT32, x->ndim, x->shape);
    if (!z) return clg_last_status();
    int axis = (int)n->iattr[0];
    int64_t start = n->iattr[1], step = n->iattr[2];
    clg_tensor *window = clg_tensor_slice(z, axis, start, start + g->shape[axis] * step, step);
    clg_status st = window ? clg_copy_into(window, g, "backward of slice") : clg_last_status();
    clg_tensor_free(window);
    if (st != CLG_OK) {
        clg_tensor_free(z);
        return st;
    }
    gin[0] = z;
    return CLG_OK;
}
