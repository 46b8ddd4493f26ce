/* Uses only the installed public API: a context, a tensor, a view, a read back. */
#include <clgrad/clgrad.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    if (strcmp(clg_version(), CLGRAD_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", CLGRAD_VERSION_STRING, clg_version());
        return 1;
    }
    clg_context *ctx = clg_context_new(NULL);
    if (!ctx) {
        fprintf(stderr, "consumer: %s\n", clg_last_error());
        return 1;
    }
    int64_t shape[2] = {2, 2};
    float in[4] = {1, 2, 3, 4}, out[4] = {0};
    clg_tensor *a = clg_tensor_from_host(ctx, CLG_FLOAT32, 2, shape, in);
    clg_tensor *at = a ? clg_tensor_transpose(a, 0, 1) : NULL;
    int ok = at && clg_tensor_to_host(at, out, sizeof out) == CLG_OK && out[1] == 3 && out[2] == 2;
    if (!ok) fprintf(stderr, "consumer: %s\n", clg_last_error());
    clg_tensor_free(at);
    clg_tensor_free(a);
    clg_context_free(ctx);
    printf("consumer: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
