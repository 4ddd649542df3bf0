/* The lock that lets one thread at a time use one side of a handle (its senders, or its
 * receivers). Taking it is one atomic exchange; giving it back is a plain store. A call
 * ends just after it published a packet to the other core, and a locked instruction there
 * (pthread_mutex_unlock, or any atomic read-modify-write) would wait until that store had
 * reached the other core: with nothing locked after it (the server's table is not locked
 * either, see smipc_server_view_renew), 64-byte streaming ran about 20% faster. Waiters
 * spin briefly, yield, then sleep on a futex; how they are still woken is in call_lock.c. */
#ifndef SMIPC_CALL_LOCK_H
#define SMIPC_CALL_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

struct smipc_lazy_deadline;

struct smipc_call_lock {
    _Atomic uint32_t held;     /* 0 free, 1 held: the futex word */
    _Atomic uint32_t sleepers; /* threads past spinning, asleep or about to be */
};

static inline void smipc_call_lock_init(struct smipc_call_lock *l)
{
    atomic_init(&l->held, 0);
    atomic_init(&l->sleepers, 0);
}

int smipc_call_lock_slow(struct smipc_call_lock *l, struct smipc_lazy_deadline *deadline);
void smipc_call_lock_wake(struct smipc_call_lock *l);

/* 1 if taken, 0 if another thread holds it. */
static inline int smipc_call_trylock(struct smipc_call_lock *l)
{
    return !atomic_exchange_explicit(&l->held, 1, memory_order_acquire);
}

/* Takes the lock, giving up at the deadline (NULL: never): SMIPC_OK or SMIPC_ETIMEDOUT
 * (SMIPC_OK is 0). */
static inline int smipc_call_lock(struct smipc_call_lock *l, struct smipc_lazy_deadline *deadline)
{
    return smipc_call_trylock(l) ? 0 : smipc_call_lock_slow(l, deadline);
}

static inline void smipc_call_unlock(struct smipc_call_lock *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_release);
    /* No fence between the store and the load: the processor may look at `sleepers`
     * before its store is seen. A sleeper's membarrier() covers that (call_lock.c); the
     * compiler must still keep the order. */
    atomic_signal_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&l->sleepers, memory_order_relaxed))
        smipc_call_lock_wake(l);
}

#endif
