/* CRC32C: carry-less multiplication folding where the CPU has AVX-512 VPCLMULQDQ (64
 * bytes per instruction pair; 45 GB/s copying and checking on the machine of
 * docs/BENCHMARKS.md), else the SSE4.2 crc32 instruction, else a table. The crc32 path runs
 * three independent chains over three blocks at once (the instruction has a latency of 3
 * and a throughput of 1) and joins them with precomputed "shift by one block" tables. */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY  0x82f63b78u /* reflected Castagnoli polynomial */
#define BLOCK 512         /* bytes per chain per round of the 3-way loop */

static uint32_t byte_table[256];
static uint32_t shift_table[4][256];      /* raw register * x^(8*BLOCK) mod P, by byte */
static int have_hw, have_wide, have_fold; /* SSE4.2; and AVX2; and AVX-512 VPCLMULQDQ */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static uint32_t sw_raw(uint32_t c, const unsigned char *p, size_t n)
{
    while (n--)
        c = byte_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

static uint32_t sw_copy_raw(uint32_t c, unsigned char *d, const unsigned char *s, size_t n)
{
    while (n--) {
        unsigned char b = *s++;
        *d++ = b;
        c = byte_table[(c ^ b) & 0xff] ^ (c >> 8);
    }
    return c;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("sse4.2"))) static uint32_t hw_shift_block_slow(uint32_t c)
{
    uint64_t r = c;
    for (int i = 0; i < BLOCK / 8; i++)
        r = _mm_crc32_u64(r, 0);
    return (uint32_t)r;
}

static inline uint32_t shift_block(uint32_t c)
{
    return shift_table[0][c & 0xff] ^ shift_table[1][(c >> 8) & 0xff] ^
           shift_table[2][(c >> 16) & 0xff] ^ shift_table[3][c >> 24];
}

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The last bytes, 8 at a time then one by one; dst may be NULL (checksum only). */
__attribute__((target("sse4.2"))) static inline uint32_t tail_raw(uint64_t c, unsigned char *d,
                                                                  const unsigned char *s, size_t n)
{
    for (; n >= 8; n -= 8, s += 8, d = d ? d + 8 : NULL) {
        uint64_t v = load64(s);
        c = _mm_crc32_u64(c, v);
        if (d)
            memcpy(d, &v, 8);
    }
    for (; n; n--, s++, d = d ? d + 1 : NULL) {
        c = _mm_crc32_u8((uint32_t)c, *s);
        if (d)
            *d = *s;
    }
    return (uint32_t)c;
}

/* dst may be NULL: checksum only. */
__attribute__((target("sse4.2"))) static uint32_t hw_raw(uint32_t crc, unsigned char *d,
                                                         const unsigned char *s, size_t n)
{
    uint64_t c = crc;
    while (n >= 3 * BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < BLOCK; i += 8) {
            uint64_t a = load64(s + i), b = load64(s + BLOCK + i), e = load64(s + 2 * BLOCK + i);
            c = _mm_crc32_u64(c, a);
            c1 = _mm_crc32_u64(c1, b);
            c2 = _mm_crc32_u64(c2, e);
            if (d) {
                memcpy(d + i, &a, 8);
                memcpy(d + BLOCK + i, &b, 8);
                memcpy(d + 2 * BLOCK + i, &e, 8);
            }
        }
        c = shift_block(shift_block((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
        s += 3 * BLOCK;
        if (d)
            d += 3 * BLOCK;
        n -= 3 * BLOCK;
    }
    return tail_raw(c, d, s, n);
}

/* The copying CRC with 32-byte stores. With 8-byte stores a 4 KiB packet takes 512 store
 * buffer entries: when every line must first be fetched from the consumer's core, the
 * buffer fills after a few lines and the copy runs at a third of memcpy's speed. The CRC
 * still reads 8 bytes at a time (the instruction's width) from the source, which is hot. */
__attribute__((target("sse4.2,avx2"))) static uint32_t wide_raw(uint32_t crc, unsigned char *d,
                                                                const unsigned char *s, size_t n)
{
#define STORE32(dst, src)                                                                          \
    _mm256_storeu_si256((__m256i *)(void *)(dst),                                                  \
                        _mm256_loadu_si256((const __m256i *)(const void *)(src)))
    uint64_t c = crc;
    while (n >= 3 * BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < BLOCK; i += 32) {
            for (size_t k = i; k < i + 32; k += 8) {
                c = _mm_crc32_u64(c, load64(s + k));
                c1 = _mm_crc32_u64(c1, load64(s + BLOCK + k));
                c2 = _mm_crc32_u64(c2, load64(s + 2 * BLOCK + k));
            }
            STORE32(d + i, s + i);
            STORE32(d + BLOCK + i, s + BLOCK + i);
            STORE32(d + 2 * BLOCK + i, s + 2 * BLOCK + i);
        }
        c = shift_block(shift_block((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
        s += 3 * BLOCK;
        d += 3 * BLOCK;
        n -= 3 * BLOCK;
    }
    for (; n >= 32; n -= 32, s += 32, d += 32) {
        for (size_t k = 0; k < 32; k += 8)
            c = _mm_crc32_u64(c, load64(s + k));
        STORE32(d, s);
    }
#undef STORE32
    return tail_raw(c, d, s, n);
}

/* ---- Folding with carry-less multiplication (AVX-512 VPCLMULQDQ) ----
 * The message is a polynomial; what matters is its remainder mod P, so a 128-bit piece A
 * may be replaced by anything congruent to it, moved to where the data D bits later sits:
 * A * x^D = A_first * x^(D+64) + A_second * x^D, and each product of a 64-bit half with a
 * 32-bit constant (x^k mod P) fits in 128 bits. Sixteen such pieces are folded at once per
 * 256 bytes, down to one 128-bit piece, and the crc32 instruction takes it from there.
 * In the reflected bit order the first byte holds the highest powers, and a carry-less
 * product of two reflected numbers comes out one bit short: hence x^(D+63) and x^(D-1). */
enum { F2048, F1536, F1024, F512, F384, F256, F128, NFOLD };
static const unsigned fold_bits[NFOLD] = {2048, 1536, 1024, 512, 384, 256, 128};
#define FOLD_MIN 256 /* bytes: below that the folding's set-up costs more than it saves */
static uint64_t fold_keys[NFOLD][2]; /* [0] for the first 8 bytes, [1] for the second */

static uint32_t xpow_reflected(unsigned n) /* x^n mod P, bit-reflected */
{
    uint32_t v = 0x80000000u;
    while (n--)
        v = (v >> 1) ^ (POLY & (0u - (v & 1)));
    return v;
}

#define FOLD_TARGET __attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2")))

FOLD_TARGET static inline __m512i fold_key512(int which)
{
    return _mm512_set_epi64((long long)fold_keys[which][1], (long long)fold_keys[which][0],
                            (long long)fold_keys[which][1], (long long)fold_keys[which][0],
                            (long long)fold_keys[which][1], (long long)fold_keys[which][0],
                            (long long)fold_keys[which][1], (long long)fold_keys[which][0]);
}

/* acc moved forward over the key's distance, plus data (each 128-bit lane on its own) */
FOLD_TARGET static inline __m512i fold512(__m512i acc, __m512i key, __m512i data)
{
    __m512i first = _mm512_clmulepi64_epi128(acc, key, 0x00);
    __m512i second = _mm512_clmulepi64_epi128(acc, key, 0x11);
    return _mm512_ternarylogic_epi64(first, second, data, 0x96); /* three-way xor */
}

FOLD_TARGET static inline __m128i fold128(__m128i acc, int which, __m128i data)
{
    __m128i key = _mm_set_epi64x((long long)fold_keys[which][1], (long long)fold_keys[which][0]);
    __m128i first = _mm_clmulepi64_si128(acc, key, 0x00);
    __m128i second = _mm_clmulepi64_si128(acc, key, 0x11);
    return _mm_xor_si128(_mm_xor_si128(first, second), data);
}

FOLD_TARGET static inline __m512i load_copy(unsigned char *d, const unsigned char *s)
{
    __m512i v = _mm512_loadu_si512((const void *)s);
    if (d)
        _mm512_storeu_si512((void *)d, v);
    return v;
}

/* n >= 256; dst may be NULL (checksum only). */
FOLD_TARGET static inline __attribute__((always_inline)) uint32_t
fold_raw(uint32_t crc, unsigned char *d, const unsigned char *s, size_t n)
{
#define ADVANCE(k) (s += (k), d = d ? d + (k) : NULL, n -= (k))
    __m512i a0 = load_copy(d, s), a1 = load_copy(d ? d + 64 : NULL, s + 64);
    __m512i a2 = load_copy(d ? d + 128 : NULL, s + 128),
            a3 = load_copy(d ? d + 192 : NULL, s + 192);
    /* the register so far goes into the first 4 bytes: CRC(r, M) = CRC(0, M ^ r) */
    a0 = _mm512_xor_si512(a0,
                          _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (int)crc));
    ADVANCE(256);
    __m512i k = fold_key512(F2048);
    for (; n >= 256; ADVANCE(256)) {
        a0 = fold512(a0, k, load_copy(d, s));
        a1 = fold512(a1, k, load_copy(d ? d + 64 : NULL, s + 64));
        a2 = fold512(a2, k, load_copy(d ? d + 128 : NULL, s + 128));
        a3 = fold512(a3, k, load_copy(d ? d + 192 : NULL, s + 192));
    }
    a3 = fold512(a0, fold_key512(F1536), a3);
    a3 = fold512(a1, fold_key512(F1024), a3);
    a3 = fold512(a2, fold_key512(F512), a3);
    for (k = fold_key512(F512); n >= 64; ADVANCE(64))
        a3 = fold512(a3, k, load_copy(d, s));
    __m128i x = _mm512_extracti32x4_epi32(a3, 3);
    x = fold128(_mm512_extracti32x4_epi32(a3, 0), F384, x);
    x = fold128(_mm512_extracti32x4_epi32(a3, 1), F256, x);
    x = fold128(_mm512_extracti32x4_epi32(a3, 2), F128, x);
    uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(x));
    c = _mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(x, 1));
#undef ADVANCE
    return tail_raw(c, d, s, n);
}

FOLD_TARGET static uint32_t fold_crc(uint32_t c, const unsigned char *s, size_t n)
{
    return fold_raw(c, NULL, s, n);
}

FOLD_TARGET static uint32_t fold_copy(uint32_t c, unsigned char *d, const unsigned char *s,
                                      size_t n)
{
    return fold_raw(c, d, s, n);
}
#endif

static void init_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1)));
        byte_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        for (int k = 0; k < 4; k++)
            for (uint32_t b = 0; b < 256; b++)
                shift_table[k][b] = hw_shift_block_slow(b << (8 * k));
        have_hw = 1;
        have_wide = __builtin_cpu_supports("avx2");
        have_fold = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq") &&
                    __builtin_cpu_supports("pclmul");
        for (int i = 0; i < NFOLD; i++) {
            fold_keys[i][0] = (uint64_t)xpow_reflected(fold_bits[i] + 63) << 32;
            fold_keys[i][1] = (uint64_t)xpow_reflected(fold_bits[i] - 1) << 32;
        }
    }
#endif
}

#include "testing.h"

int smipc_testing_crc32c_level(int level)
{
    static int had_hw = -1, had_wide, had_fold;
    pthread_once(&init_once, init_tables);
    if (had_hw < 0) {
        had_hw = have_hw;
        had_wide = have_wide;
        had_fold = have_fold;
    }
    have_hw = had_hw && level >= 1;
    have_wide = had_wide && level >= 2;
    have_fold = had_fold && level >= 3;
    return have_fold ? 3 : have_wide ? 2 : have_hw ? 1 : 0;
}

int smipc_crc32c_hardware(void)
{
    pthread_once(&init_once, init_tables);
    return have_hw;
}

const char *smipc_crc32c_kind(void)
{
    pthread_once(&init_once, init_tables);
    return have_fold   ? "VPCLMULQDQ folding"
           : have_wide ? "SSE4.2 crc32, AVX2 copies"
           : have_hw   ? "SSE4.2 crc32"
                       : "table";
}

uint32_t smipc_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&init_once, init_tables);
#if defined(__x86_64__)
    if (have_fold && len >= FOLD_MIN)
        return ~fold_crc(~crc, data, len);
    if (have_hw)
        return ~hw_raw(~crc, NULL, data, len);
#endif
    return ~sw_raw(~crc, data, len);
}

uint32_t smipc_crc32c_copy(void *dst, const void *src, size_t len, uint32_t crc)
{
    pthread_once(&init_once, init_tables);
#if defined(__x86_64__)
    if (have_fold && len >= FOLD_MIN)
        return ~fold_copy(~crc, dst, src, len);
    if (have_wide)
        return ~wide_raw(~crc, dst, src, len);
    if (have_hw)
        return ~hw_raw(~crc, dst, src, len);
#endif
    return ~sw_copy_raw(~crc, dst, src, len);
}
