/* Matrix products through CLBlast. */
#include "common/error.h"
#include "graph/graph.h"

clg_tensor *clg_matmul(const clg_tensor *a, const clg_tensor *b, int trans_a, int trans_b) {
    (void)a; (void)b; (void)trans_a; (void)trans_b;
    clg_fail(CLG_STATUS_UNSUPPORTED, "clg_matmul is not implemented yet");
    return NULL;
}
clg_tensor *clg_matmul_batched(const clg_tensor *a, const clg_tensor *b, int trans_a, int trans_b) {
    (void)a; (void)b; (void)trans_a; (void)trans_b;
    clg_fail(CLG_STATUS_UNSUPPORTED, "clg_matmul_batched is not implemented yet");
    return NULL;
}
clg_tensor *clg_linear(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b) {
    (void)x; (void)w; (void)b;
    clg_fail(CLG_STATUS_UNSUPPORTED, "clg_linear is not implemented yet");
    return NULL;
}
clg_status clg_bw_matmul(clg_node *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)n; (void)out; (void)g; (void)gin;
    return clg_fail(CLG_STATUS_UNSUPPORTED, "matmul backward is not implemented yet");
}
clg_status clg_bw_matmul_batched(clg_node *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)n; (void)out; (void)g; (void)gin;
    return clg_fail(CLG_STATUS_UNSUPPORTED, "matmul backward is not implemented yet");
}
