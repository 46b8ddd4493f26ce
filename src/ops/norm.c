/* Batch, layer and group normalisation. */
#include "common/error.h"
#include "graph/graph.h"

#define NOT_YET(api) \
    (clg_fail(CLG_STATUS_UNSUPPORTED, "%s is not implemented yet", api), (clg_tensor *)NULL)

clg_tensor *clg_batch_norm(const clg_tensor *x, const clg_tensor *gamma, const clg_tensor *beta,
                           clg_tensor *rm, clg_tensor *rv, int training, float momentum, float eps,
                           clg_layout layout) {
    (void)x; (void)gamma; (void)beta; (void)rm; (void)rv; (void)training; (void)momentum; (void)eps; (void)layout;
    return NOT_YET("clg_batch_norm");
}
clg_tensor *clg_layer_norm(const clg_tensor *x, int naxes, const clg_tensor *gamma, const clg_tensor *beta, float eps) {
    (void)x; (void)naxes; (void)gamma; (void)beta; (void)eps;
    return NOT_YET("clg_layer_norm");
}
clg_tensor *clg_group_norm(const clg_tensor *x, int groups, const clg_tensor *gamma, const clg_tensor *beta, float eps) {
    (void)x; (void)groups; (void)gamma; (void)beta; (void)eps;
    return NOT_YET("clg_group_norm");
}
#define NO_RULE(fn)                                                                              \
    clg_status fn(clg_node *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {   \
        (void)n; (void)out; (void)g; (void)gin;                                                  \
        return clg_fail(CLG_STATUS_UNSUPPORTED, #fn " is not implemented yet");                  \
    }
NO_RULE(clg_bw_batch_norm)
NO_RULE(clg_bw_layer_norm)
NO_RULE(clg_bw_group_norm)
