/* Convolution: im2col + GEMM, conv1d, transposed convolution. */
#include "common/error.h"
#include "graph/graph.h"

clg_conv2d_params clg_conv2d_params_default(void) {
    clg_conv2d_params p = {{1, 1}, {1, 1}, CLG_PADDING_VALID, {0, 0, 0, 0}, 1, CLG_LAYOUT_NCHW, CLG_CONV_AUTO};
    return p;
}

#define NOT_YET(api) \
    (clg_fail(CLG_STATUS_UNSUPPORTED, "%s is not implemented yet", api), (clg_tensor *)NULL)

clg_tensor *clg_conv2d(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b, const clg_conv2d_params *p) {
    (void)x; (void)w; (void)b; (void)p;
    return NOT_YET("clg_conv2d");
}
clg_tensor *clg_conv1d(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b, const clg_conv2d_params *p) {
    (void)x; (void)w; (void)b; (void)p;
    return NOT_YET("clg_conv1d");
}
clg_tensor *clg_conv2d_transpose(const clg_tensor *x, const clg_tensor *w, const clg_tensor *b,
                                 const clg_conv2d_params *p, const int output_padding[2]) {
    (void)x; (void)w; (void)b; (void)p; (void)output_padding;
    return NOT_YET("clg_conv2d_transpose");
}
clg_status clg_bw_conv2d(clg_node *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)n; (void)out; (void)g; (void)gin;
    return clg_fail(CLG_STATUS_UNSUPPORTED, "conv2d backward is not implemented yet");
}
clg_status clg_bw_conv2d_transpose(clg_node *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {
    (void)n; (void)out; (void)g; (void)gin;
    return clg_fail(CLG_STATUS_UNSUPPORTED, "conv2d_transpose backward is not implemented yet");
}
