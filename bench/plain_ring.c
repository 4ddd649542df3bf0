/* The ceiling for moving large messages through a ring on this machine, without smipc:
 * two processes share one ring of fixed slots, each slot a lock word and data; the
 * producer copies 1 MiB messages in (memcpy), the consumer copies them out, both spin.
 * No checksums, no validation, no waiting protocol: what smipc's streaming is measured
 * against in docs/BENCHMARKS.md, for the ring geometries given on the command line.
 *
 *   plain_ring [SLOT_BYTES:SLOTS ...]     (default: 4096:64 16384:16 65536:4 65536:16 1048576:4)
 *
 * The producer's copy is also tried two other ways, to know whether anything beats
 * memcpy here: non-temporal stores (the data goes to memory, not the producer's cache) and
 * memcpy followed by cldemote of every line (pushed towards the shared cache for the
 * consumer; a no-op where the CPU lacks it). Each geometry and copy runs 5 times for
 * 0.3 s, alternating; the median is printed. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define MESSAGE (1u << 20)
#define HEADER  64 /* the lock word's own cache line */
#define REPEATS 5

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

enum copy { COPY_MEMCPY, COPY_STREAM, COPY_DEMOTE, COPIES };
static const char *const copy_name[COPIES] = {"memcpy", "nt stores", "+cldemote"};

#if defined(__x86_64__)
__attribute__((target("cldemote"))) static void demote(unsigned char *d, size_t n)
{
    for (size_t i = 0; i < n; i += 64)
        _cldemote(d + i);
}

static void stream(unsigned char *d, const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) /* d is 64-byte aligned: after the lock word's line */
        _mm_stream_si128((__m128i *)(void *)(d + i),
                         _mm_loadu_si128((const __m128i *)(const void *)(s + i)));
    memcpy(d + i, s + i, n - i);
    _mm_sfence(); /* the lock's release store must not pass the streamed data */
}
#endif

/* the producer's copy into a slot */
static void copy_in(enum copy how, unsigned char *d, const unsigned char *s, size_t n)
{
#if defined(__x86_64__)
    if (how == COPY_STREAM) {
        stream(d, s, n);
        return;
    }
    memcpy(d, s, n);
    if (how == COPY_DEMOTE)
        demote(d, n);
#else
    (void)how;
    memcpy(d, s, n);
#endif
}

static _Atomic uint32_t *lock_of(unsigned char *ring, size_t stride, size_t i)
{
    return (_Atomic uint32_t *)(void *)(ring + i * stride);
}

/* GB/s of one run, or -1 */
static double run(size_t slot, size_t slots, enum copy how, double seconds)
{
    size_t stride = HEADER + slot;
    unsigned char *ring =
        mmap(NULL, stride * slots, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ring == MAP_FAILED)
        return -1;
    memset(ring, 0, stride * slots);
    pid_t pid = fork();
    if (pid == 0) { /* producer, until killed */
        unsigned char *src = malloc(MESSAGE);
        if (!src)
            _exit(1);
        memset(src, 7, MESSAGE);
        for (size_t pos = 0;;) {
            for (size_t off = 0; off < MESSAGE; off += slot) {
                size_t n = MESSAGE - off < slot ? MESSAGE - off : slot;
                while (atomic_load_explicit(lock_of(ring, stride, pos), memory_order_acquire))
                    relax();
                copy_in(how, ring + pos * stride + HEADER, src + off, n);
                atomic_store_explicit(lock_of(ring, stride, pos), 1, memory_order_release);
                pos = pos + 1 == slots ? 0 : pos + 1;
            }
        }
    }
    unsigned char *dst = malloc(MESSAGE);
    double start = now(), t = start;
    uint64_t messages = 0;
    for (size_t pos = 0; dst && t - start < seconds; messages++, t = now()) {
        for (size_t off = 0; off < MESSAGE; off += slot) {
            size_t n = MESSAGE - off < slot ? MESSAGE - off : slot;
            while (!atomic_load_explicit(lock_of(ring, stride, pos), memory_order_acquire))
                relax();
            memcpy(dst + off, ring + pos * stride + HEADER, n);
            atomic_store_explicit(lock_of(ring, stride, pos), 0, memory_order_release);
            pos = pos + 1 == slots ? 0 : pos + 1;
        }
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    free(dst);
    munmap(ring, stride * slots);
    return dst ? (double)messages * MESSAGE / (t - start) / 1e9 : -1;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    static char *defaults[] = {"4096:64", "16384:16", "65536:4", "65536:16", "1048576:4"};
    char **geo = argc > 1 ? argv + 1 : defaults;
    int n = argc > 1 ? argc - 1 : 5;
    size_t slot[16], slots[16];
    double gbs[16][COPIES][REPEATS];
    if (n > 16) {
        fprintf(stderr, "plain_ring: at most 16 geometries\n");
        return 2;
    }
    for (int g = 0; g < n; g++) {
        char *end;
        slot[g] = strtoul(geo[g], &end, 10);
        slots[g] = *end == ':' ? strtoul(end + 1, &end, 10) : 0;
        if (*end || slot[g] < 64 || slot[g] % 64 || slot[g] > MESSAGE || slots[g] < 2 ||
            slots[g] > 4096) {
            fprintf(stderr, "usage: plain_ring [SLOT_BYTES:SLOTS ...] (64..1048576, a multiple "
                            "of 64 : 2..4096)\n");
            return 2;
        }
    }
    printf("plain ring, 1 MiB messages copied in and out, both sides spinning; GB/s, median of "
           "%d\n",
           REPEATS);
    int runs = REPEATS * n * COPIES, done = 0;
    for (int r = 0; r < REPEATS; r++)
        for (int g = 0; g < n; g++)
            for (int c = 0; c < COPIES; c++) {
                fprintf(stderr, "\r[%d/%d]", ++done, runs);
                gbs[g][c][r] = run(slot[g], slots[g], (enum copy)c, 0.3);
            }
    fprintf(stderr, "\n");
    printf("%12s %8s %10s", "slot bytes", "slots", "ring KiB");
    for (int c = 0; c < COPIES; c++)
        printf(" %10s", copy_name[c]);
    printf("\n");
    for (int g = 0; g < n; g++) {
        printf("%12zu %8zu %10zu", slot[g], slots[g], slot[g] * slots[g] / 1024);
        for (int c = 0; c < COPIES; c++) {
            qsort(gbs[g][c], REPEATS, sizeof gbs[g][c][0], cmp);
            printf(" %10.2f", gbs[g][c][REPEATS / 2]);
        }
        printf("\n");
    }
    printf("The producer's copy: memcpy; non-temporal stores; memcpy then cldemote of each "
           "line. The consumer always copies out with memcpy.\n");
    return 0;
}
