/* CRC32C (Castagnoli), fused with the copy so checking costs no extra pass over the data.
 * The fastest implementation the CPU runs is chosen once: carry-less multiplication
 * folding (AVX-512 VPCLMULQDQ) for 256 bytes and more, else the SSE4.2 crc32 instruction
 * on three chains (with AVX2 stores when copying), else a table. */
#ifndef SMIPC_CRC32C_H
#define SMIPC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Standard CRC32C: smipc_crc32c(0, "123456789", 9) == 0xE3069283. crc chains calls. */
uint32_t smipc_crc32c(uint32_t crc, const void *data, size_t len);
/* Copies len bytes src -> dst (no overlap) and returns the CRC32C chained from crc. */
uint32_t smipc_crc32c_copy(void *dst, const void *src, size_t len, uint32_t crc);
/* 1 when the SSE4.2 instruction is used, for tests and `smipc` diagnostics. */
int smipc_crc32c_hardware(void);
/* Which implementation runs here, in words (for `smipc bench`). */
const char *smipc_crc32c_kind(void);

#endif
