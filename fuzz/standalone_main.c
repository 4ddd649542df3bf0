/* Runs a libFuzzer target without libFuzzer: over the files named on the command line,
 * or over pseudo-random inputs (SMIPC_FUZZ_RUNS of them, default 3000). This is how the
 * targets run as ordinary tests with any compiler. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    static uint8_t buf[1 << 16];
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            FILE *f = fopen(argv[i], "rb");
            if (!f) {
                perror(argv[i]);
                return 1;
            }
            size_t n = fread(buf, 1, sizeof buf, f);
            fclose(f);
            LLVMFuzzerTestOneInput(buf, n);
        }
        printf("%d inputs ran\n", argc - 1);
        return 0;
    }
    const char *env = getenv("SMIPC_FUZZ_RUNS");
    long runs = env ? atol(env) : 3000;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (long r = 0; r < runs; r++) {
        size_t n = (size_t)(r % 97) * 7 + r % 5;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("%ld pseudo-random inputs ran\n", runs);
    return 0;
}
