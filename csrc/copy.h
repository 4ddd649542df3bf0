/* Copying packet data into and out of a ring when there is no checksum to fuse with. */
#ifndef SMIPC_COPY_H
#define SMIPC_COPY_H

#include <stddef.h>

/* Copies n bytes src -> dst (no overlap), like memcpy. */
void smipc_copy(void *dst, const void *src, size_t n);

#endif
