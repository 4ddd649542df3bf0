/* CRC32C with the SSE4.2 crc32 instruction when the CPU has it, a table otherwise.
 * The hardware path runs three independent CRC chains over three blocks at once (the
 * instruction has a latency of 3 and a throughput of 1) and joins them with precomputed
 * "shift by one block" tables, so a 4 KiB packet is checked at close to memcpy speed. */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#define POLY  0x82f63b78u /* reflected Castagnoli polynomial */
#define BLOCK 512         /* bytes per chain per round of the 3-way loop */

static uint32_t byte_table[256];
static uint32_t shift_table[4][256]; /* raw register * x^(8*BLOCK) mod P, by byte */
static int have_hw, have_wide;       /* SSE4.2; and AVX2 too */
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
    while (n >= 8) {
        uint64_t a = load64(s);
        c = _mm_crc32_u64(c, a);
        if (d) {
            memcpy(d, &a, 8);
            d += 8;
        }
        s += 8;
        n -= 8;
    }
    while (n--) {
        unsigned char b = *s++;
        c = _mm_crc32_u8((uint32_t)c, b);
        if (d)
            *d++ = b;
    }
    return (uint32_t)c;
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
    for (; n >= 8; n -= 8, s += 8, d += 8) {
        uint64_t a = load64(s);
        c = _mm_crc32_u64(c, a);
        memcpy(d, &a, 8);
    }
    while (n--) {
        unsigned char b = *s++;
        c = _mm_crc32_u8((uint32_t)c, b);
        *d++ = b;
    }
    return (uint32_t)c;
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
    }
#endif
}

int smipc_crc32c_hardware(void)
{
    pthread_once(&init_once, init_tables);
    return have_hw;
}

uint32_t smipc_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&init_once, init_tables);
#if defined(__x86_64__)
    if (have_hw)
        return ~hw_raw(~crc, NULL, data, len);
#endif
    return ~sw_raw(~crc, data, len);
}

uint32_t smipc_crc32c_copy(void *dst, const void *src, size_t len, uint32_t crc)
{
    pthread_once(&init_once, init_tables);
#if defined(__x86_64__)
    if (have_wide)
        return ~wide_raw(~crc, dst, src, len);
    if (have_hw)
        return ~hw_raw(~crc, dst, src, len);
#endif
    return ~sw_copy_raw(~crc, dst, src, len);
}
