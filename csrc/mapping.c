/* A shared segment's mapping with a reference count (mapping.h). */
#include "mapping.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

struct smipc_mapping {
    _Atomic int refs;
    void *addr;
    size_t size;
    pid_t owner; /* the process it is mapped in */
};

struct smipc_mapping *smipc_mapping_new(void *addr, size_t size)
{
    struct smipc_mapping *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);
    m->addr = addr;
    m->size = size;
    m->owner = getpid();
    return m;
}

void smipc_mapping_ref(struct smipc_mapping *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void smipc_mapping_unref(struct smipc_mapping *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (m->owner == getpid())
        munmap(m->addr, m->size);
    free(m);
}
