/* pthread_atfork handlers over a list of every open handle in the process. */
#include "fork_guard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct smipc_forkable *registry;
static atomic_uint generation;
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

static void on_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    for (struct smipc_forkable *h = registry; h; h = h->next)
        if (h->prepare)
            h->prepare(h);
}

static void on_parent(void)
{
    for (struct smipc_forkable *h = registry; h; h = h->next)
        if (h->parent)
            h->parent(h);
    pthread_mutex_unlock(&registry_lock);
}

static void on_child(void)
{
    atomic_fetch_add(&generation, 1);
    for (struct smipc_forkable *h = registry; h; h = h->next)
        if (h->child)
            h->child(h);
    pthread_mutex_unlock(&registry_lock);
}

static void install(void)
{
    pthread_atfork(on_prepare, on_parent, on_child);
}

void smipc_fork_register(struct smipc_forkable *h)
{
    pthread_once(&handlers_once, install);
    pthread_mutex_lock(&registry_lock);
    h->generation = atomic_load(&generation);
    h->prev = NULL;
    h->next = registry;
    if (registry)
        registry->prev = h;
    registry = h;
    pthread_mutex_unlock(&registry_lock);
}

void smipc_fork_unregister(struct smipc_forkable *h)
{
    pthread_mutex_lock(&registry_lock);
    if (h->prev)
        h->prev->next = h->next;
    else if (registry == h)
        registry = h->next;
    if (h->next)
        h->next->prev = h->prev;
    h->prev = h->next = NULL;
    pthread_mutex_unlock(&registry_lock);
}

int smipc_fork_inherited(const struct smipc_forkable *h)
{
    return h->generation != atomic_load_explicit(&generation, memory_order_relaxed);
}

void smipc_close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}
