/* CRC32C (Castagnoli), fused with the copy so checking costs no extra pass over the data. */
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

#endif
