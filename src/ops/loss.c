/* Losses and dropout. */
#include "common/error.h"
#include "graph/graph.h"

#define NOT_YET(api) \
    (clg_fail(CLG_STATUS_UNSUPPORTED, "%s is not implemented yet", api), (clg_tensor *)NULL)

clg_tensor *clg_softmax_cross_entropy(const clg_tensor *l, const clg_tensor *y, float s) {
    (void)l; (void)y; (void)s;
    return NOT_YET("clg_softmax_cross_entropy");
}
clg_tensor *clg_softmax_cross_entropy_onehot(const clg_tensor *l, const clg_tensor *y, float s) {
    (void)l; (void)y; (void)s;
    return NOT_YET("clg_softmax_cross_entropy_onehot");
}
clg_tensor *clg_sparse_categorical_cross_entropy(const clg_tensor *p, const clg_tensor *y) {
    (void)p; (void)y;
    return NOT_YET("clg_sparse_categorical_cross_entropy");
}
clg_tensor *clg_categorical_cross_entropy(const clg_tensor *p, const clg_tensor *y) {
    (void)p; (void)y;
    return NOT_YET("clg_categorical_cross_entropy");
}
clg_tensor *clg_binary_cross_entropy(const clg_tensor *p, const clg_tensor *y) {
    (void)p; (void)y;
    return NOT_YET("clg_binary_cross_entropy");
}
clg_tensor *clg_binary_cross_entropy_logits(const clg_tensor *l, const clg_tensor *y) {
    (void)l; (void)y;
    return NOT_YET("clg_binary_cross_entropy_logits");
}
clg_tensor *clg_mse(const clg_tensor *p, const clg_tensor *y) {
    (void)p; (void)y;
    return NOT_YET("clg_mse");
}
clg_tensor *clg_mae(const clg_tensor *p, const clg_tensor *y) {
    (void)p; (void)y;
    return NOT_YET("clg_mae");
}
clg_tensor *clg_huber(const clg_tensor *p, const clg_tensor *y, float delta) {
    (void)p; (void)y; (void)delta;
    return NOT_YET("clg_huber");
}
clg_tensor *clg_dropout(const clg_tensor *x, float rate, uint64_t seed, uint64_t offset) {
    (void)x; (void)rate; (void)seed; (void)offset;
    return NOT_YET("clg_dropout");
}
clg_status clg_bw_softmax_xent(clg_node *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)n; (void)out; (void)g; (void)gin;
    return clg_fail(CLG_STATUS_UNSUPPORTED, "softmax cross-entropy backward is not implemented yet");
}
clg_status clg_bw_dropout(clg_node *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)n; (void)out; (void)g; (void)gin;
    return clg_fail(CLG_STATUS_UNSUPPORTED, "dropout backward is not implemented yet");
}
