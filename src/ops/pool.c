/* Pooling and upsampling. */
#include "common/error.h"
#include "graph/graph.h"

clg_pool2d_params clg_pool2d_params_default(int kh, int kw) {
    clg_pool2d_params p = {{kh, kw}, {kh, kw}, CLG_PADDING_VALID, {0, 0, 0, 0}, CLG_LAYOUT_NCHW};
    return p;
}

#define NOT_YET(api) \
    (clg_fail(CLG_STATUS_UNSUPPORTED, "%s is not implemented yet", api), (clg_tensor *)NULL)

clg_tensor *clg_max_pool2d(const clg_tensor *x, const clg_pool2d_params *p) { (void)x; (void)p; return NOT_YET("clg_max_pool2d"); }
clg_tensor *clg_avg_pool2d(const clg_tensor *x, const clg_pool2d_params *p) { (void)x; (void)p; return NOT_YET("clg_avg_pool2d"); }
clg_tensor *clg_global_avg_pool2d(const clg_tensor *x, clg_layout l) { (void)x; (void)l; return NOT_YET("clg_global_avg_pool2d"); }
clg_tensor *clg_global_max_pool2d(const clg_tensor *x, clg_layout l) { (void)x; (void)l; return NOT_YET("clg_global_max_pool2d"); }
clg_tensor *clg_upsample2d(const clg_tensor *x, int sh, int sw, clg_upsample_mode m, clg_layout l) {
    (void)x; (void)sh; (void)sw; (void)m; (void)l;
    return NOT_YET("clg_upsample2d");
}
#define NO_RULE(fn)                                                                              \
    clg_status fn(clg_node *n, const clg_tensor *out, const clg_tensor *g, clg_tensor **gin) {   \
        (void)n; (void)out; (void)g; (void)gin;                                                  \
        return clg_fail(CLG_STATUS_UNSUPPORTED, #fn " is not implemented yet");                  \
    }
NO_RULE(clg_bw_max_pool2d)
NO_RULE(clg_bw_avg_pool2d)
NO_RULE(clg_bw_upsample2d)
