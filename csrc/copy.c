/* Large copies into and out of a ring in 64-byte vector stores, 256 bytes a turn, as the
 * checksumming copy does. Measured on the machine of docs/BENCHMARKS.md, glibc's memcpy
 * moved 1 MiB messages through 64 KiB packets at about half the speed of the checksumming
 * copy; this brings the path without checksums level with it. Small copies stay with
 * memcpy (not measured against this loop: 64-byte streaming is limited elsewhere). */
#include "copy.h"

#include <pthread.h>
#include <string.h>

#define VECTOR_MIN 256 /* bytes, as the checksumming copy's folding */

#if defined(__x86_64__)
#include <immintrin.h>

static int have_avx512;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe(void)
{
    __builtin_cpu_init();
    have_avx512 = __builtin_cpu_supports("avx512f");
}

__attribute__((target("avx512f"))) static void copy512(unsigned char *d, const unsigned char *s,
                                                       size_t n)
{
    for (; n >= 256; n -= 256, s += 256, d += 256) {
        __m512i a = _mm512_loadu_si512((const void *)s);
        __m512i b = _mm512_loadu_si512((const void *)(s + 64));
        __m512i c = _mm512_loadu_si512((const void *)(s + 128));
        __m512i e = _mm512_loadu_si512((const void *)(s + 192));
        _mm512_storeu_si512((void *)d, a);
        _mm512_storeu_si512((void *)(d + 64), b);
        _mm512_storeu_si512((void *)(d + 128), c);
        _mm512_storeu_si512((void *)(d + 192), e);
    }
    memcpy(d, s, n);
}
#endif

void smipc_copy(void *dst, const void *src, size_t n)
{
#if defined(__x86_64__)
    if (n >= VECTOR_MIN) {
        pthread_once(&probe_once, probe);
        if (have_avx512) {
            copy512(dst, src, n);
            return;
        }
    }
#endif
    memcpy(dst, src, n);
}
