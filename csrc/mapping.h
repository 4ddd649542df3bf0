/* A connection's shared segment, mapped until its last holder lets go: the connection
 * that made it, and every pin a binding took so that its buffers may outlive a loan, a
 * view or the handle itself. Only the memory outlives the connection: its descriptors
 * close with it. */
#ifndef SMIPC_MAPPING_H
#define SMIPC_MAPPING_H

#include <stddef.h>

struct smipc_mapping;

/* Takes over [addr, addr + size), unmapped when the last reference goes; one reference
 * (the caller's). NULL when out of memory: then the caller still owns the mapping. */
struct smipc_mapping *smipc_mapping_new(void *addr, size_t size);
void smipc_mapping_ref(struct smipc_mapping *m);
/* NULL is fine. In a forked child nothing is unmapped: it never had the memory
 * (MADV_DONTFORK), and the address may hold something else of its own by then. */
void smipc_mapping_unref(struct smipc_mapping *m);

#endif
