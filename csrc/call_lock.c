/* The slow half of call_lock.h: spinning, sleeping, and waking without a lost wake-up.
 *
 * The unlock is "store held = 0, then load sleepers" with no fence in between, so on its
 * own a thread could go to sleep just after an unlocker looked and saw nobody. A thread
 * that is going to sleep first counts itself in `sleepers` and then calls
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which makes every other running thread of
 * the process pass a full barrier. After that, any unlocker either had its store seen
 * (our exchange finds the lock free) or will see us in `sleepers` and wake us. That is the
 * pairing membarrier(2) describes: a compiler barrier on the fast side, the system call on
 * the slow side, so only a thread that waits anyway pays for it.
 *
 * Where membarrier is refused (an old kernel, a seccomp filter, valgrind), a sleeper
 * looks again every FALLBACK_RECHECK_NS instead: a wake-up can then come that much late,
 * but never not at all. */
#include "call_lock.h"

#include "clock.h"
#include "internal.h"
#include "wait.h"

#include <errno.h>
#include <sched.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A holder is normally out within a microsecond (one send or receive that found what it
 * needed), unless it lost its CPU: so a short spin, then a few yields that let it run,
 * then sleep. With four threads sending through one client on 2 CPUs, 200 spins and no
 * yields sent 5.2 M msgs/s, 20 spins and 16 yields 10.8 M (pthread_mutex: 8.7 M). */
#define SPINS               20
#define YIELDS              16
#define FALLBACK_RECHECK_NS 1000000

static int membarrier_call(int cmd)
{
    return (int)syscall(SYS_membarrier, cmd, 0, 0);
}

/* 1 when every other thread of the process has passed a full barrier since the call. */
static int barrier_everywhere(void)
{
    if (membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
        return 1;
    /* Not registered yet (registration is per process, and a forked child starts
     * without it): register once and try again. */
    return errno == EPERM && membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
           membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0;
}

/* Sleeps while held is 1, until woken or `until` (monotonic ns, SMIPC_FOREVER: no end). */
static void futex_sleep(struct smipc_call_lock *l, int64_t until)
{
    struct timespec ts;
    if (until != SMIPC_FOREVER)
        ts = smipc_ns_to_ts(until);
    /* BITSET takes an absolute CLOCK_MONOTONIC time; EINTR, EAGAIN and ETIMEDOUT all
     * just send the caller round to look again. */
    syscall(SYS_futex, &l->held, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 1,
            until == SMIPC_FOREVER ? NULL : &ts, NULL, FUTEX_BITSET_MATCH_ANY);
}

int smipc_call_lock_slow(struct smipc_call_lock *l, struct smipc_lazy_deadline *deadline)
{
    if (deadline && deadline->timeout_ms == 0)
        return SMIPC_ETIMEDOUT; /* a call that must not block does not wait for the lock */
    for (int i = 0; i < SPINS + YIELDS; i++) {
        if (i < SPINS)
            smipc_cpu_relax();
        else
            sched_yield();
        if (!atomic_load_explicit(&l->held, memory_order_relaxed) && smipc_call_trylock(l))
            return SMIPC_OK;
    }
    int64_t end = deadline ? smipc_deadline_now(deadline) : SMIPC_FOREVER;
    if (smipc_now_ns() >= end)
        return SMIPC_ETIMEDOUT;
    atomic_fetch_add_explicit(&l->sleepers, 1, memory_order_seq_cst);
    int woken_for_sure = barrier_everywhere();
    int rc = SMIPC_OK;
    while (!smipc_call_trylock(l)) {
        int64_t now = smipc_now_ns();
        if (now >= end) {
            rc = SMIPC_ETIMEDOUT;
            break;
        }
        int64_t until = end;
        if (!woken_for_sure && end - now > FALLBACK_RECHECK_NS)
            until = now + FALLBACK_RECHECK_NS;
        futex_sleep(l, until);
    }
    atomic_fetch_sub_explicit(&l->sleepers, 1, memory_order_relaxed);
    return rc;
}

void smipc_call_lock_wake(struct smipc_call_lock *l)
{
    syscall(SYS_futex, &l->held, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
}
