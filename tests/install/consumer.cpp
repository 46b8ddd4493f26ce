// The public headers compile as C++ and link through their extern "C" guards.
#include <clgrad/clgrad.h>
#include <cstdio>

int main() {
    clg_context_options o = clg_context_options_default();
    clg_context *ctx = clg_context_new(&o);
    if (!ctx) {
        std::fprintf(stderr, "consumer++: %s\n", clg_last_error());
        return 1;
    }
    std::printf("consumer++: %s on %s\n", clg_version(), clg_context_device(ctx)->name);
    clg_context_free(ctx);
    return 0;
}
