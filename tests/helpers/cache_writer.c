/* Helper process for the cache tests: several of these run at once against one
 * cache directory.
 *   cache_writer program <dir> <nonce>   builds a program (unique by nonce)
 *   cache_writer store <dir> <key> <value>  sets a store key
 * Exits 0 on success, 1 with the error on stderr. */
#include <stdio.h>
#include <string.h>

#include "clgrad/clgrad.h"
#include "runtime/runtime_impl.h"

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    clg_context_options o = clg_context_options_default();
    o.cache_dir = argv[2];
    clg_context *ctx = clg_context_new(&o);
    if (!ctx) {
        fprintf(stderr, "%s\n", clg_last_error());
        return 1;
    }
    clg_status st;
    if (strcmp(argv[1], "program") == 0) {
        char src[512];
        snprintf(src, sizeof src,
                 "__kernel void k(__global float *x) { x[get_global_id(0)] += %s.0f; }\n", argv[3]);
        cl_program p;
        st = clg_program_get(ctx, "cache_writer", src, NULL, &p);
    } else if (strcmp(argv[1], "store") == 0 && argc >= 5) {
        st = clg_store_set(ctx, argv[3], argv[4]);
    } else {
        st = CLG_STATUS_INVALID_ARGUMENT;
    }
    if (st != CLG_OK) fprintf(stderr, "%s\n", clg_last_error());
    clg_context_free(ctx);
    return st == CLG_OK ? 0 : 1;
}
