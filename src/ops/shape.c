/* Shape ops beyond views: concat, stack, split, pad, gather, index_select,
 * one_hot, embedding; squeeze and unsqueeze are reshapes. */
#include "common/error.h"
#include "graph/graph.h"

#define NOT_YET(api) \
    (clg_fail(CLG_STATUS_UNSUPPORTED, "%s is not implemented yet", api), (clg_tensor *)NULL)

clg_tensor *clg_squeeze(const clg_tensor *x, int axis) {
    const char *api = "clg_squeeze";
    if (!x) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
        return NULL;
    }
    int a = axis < 0 ? axis + x->ndim : axis;
    char d[220];
    if (a < 0 || a >= x->ndim || x->shape[a] != 1) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: axis %d of %s is out of range or not of extent 1",
                 api, axis, clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    int64_t shape[CLG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != a) shape[n++] = x->shape[i];
    return clg_tensor_reshape(x, n, shape);
}

clg_tensor *clg_unsqueeze(const clg_tensor *x, int axis) {
    const char *api = "clg_unsqueeze";
    if (!x) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: tensor is NULL", api);
        return NULL;
    }
    int a = axis < 0 ? axis + x->ndim + 1 : axis;
    char d[220];
    if (a < 0 || a > x->ndim || x->ndim >= CLG_MAX_DIMS) {
        clg_fail(CLG_STATUS_INVALID_ARGUMENT, "%s: axis %d is out of range for %s", api, axis,
                 clg_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    int64_t shape[CLG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i <= x->ndim; i++) {
        if (i == a) shape[n++] = 1;
        if (i < x->ndim) shape[n++] = x->shape[i];
    }
    return clg_tensor_reshape(x, n, shape);
}

clg_tensor *clg_concat(int n, const clg_tensor *const *xs, int axis) {
    (void)n; (void)xs; (void)axis;
    return NOT_YET("clg_concat");
}
clg_tensor *clg_stack(int n, const clg_tensor *const *xs, int axis) {
    (void)n; (void)xs; (void)axis;
    return NOT_YET("clg_stack");
}
clg_status clg_split(const clg_tensor *x, int axis, int n, const int64_t *sizes, clg_tensor **out) {
    (void)x; (void)axis; (void)n; (void)sizes; (void)out;
    return clg_fail(CLG_STATUS_UNSUPPORTED, "clg_split is not implemented yet");
}
clg_tensor *clg_pad(const clg_tensor *x, const int64_t *pads, clg_pad_mode mode, float value) {
    (void)x; (void)pads; (void)mode; (void)value;
    return NOT_YET("clg_pad");
}
clg_tensor *clg_gather(const clg_tensor *x, int axis, const clg_tensor *index) {
    (void)x; (void)axis; (void)index;
    return NOT_YET("clg_gather");
}
clg_tensor *clg_index_select(const clg_tensor *x, int axis, const clg_tensor *index) {
    (void)x; (void)axis; (void)index;
    return NOT_YET("clg_index_select");
}
clg_tensor *clg_one_hot(const clg_tensor *labels, int num_classes) {
    (void)labels; (void)num_classes;
    return NOT_YET("clg_one_hot");
}
clg_tensor *clg_embedding(const clg_tensor *weight, const clg_tensor *indices) {
    (void)weight; (void)indices;
    return NOT_YET("clg_embedding");
}

#define NO_RULE(fn)                                                                              \
    clg_status fn(clg_node *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {   \
        (void)n; (void)out; (void)g; (void)gin;                                                  \
        return clg_fail(CLG_STATUS_UNSUPPORTED, #fn " is not implemented yet");                  \
    }
NO_RULE(clg_bw_concat)
NO_RULE(clg_bw_pad)
NO_RULE(clg_bw_gather)
NO_RULE(clg_bw_index_select)
NO_RULE(clg_bw_embedding)
