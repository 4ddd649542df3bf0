/* Spin, then sleep: the waiting every blocking call is built from. */
#ifndef SMIPC_WAIT_H
#define SMIPC_WAIT_H

#include <stdint.h>

/* An adaptive spin budget, one per waiting site: it grows while spinning pays off and
 * shrinks when the peer did not show up in time, so a spinner that cannot win (more
 * waiters than cores) soon stops burning the time slice of the process it waits for. */
struct smipc_spin {
    int64_t budget_ns;
    int64_t max_ns;
};

static inline void smipc_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

void smipc_spin_init(struct smipc_spin *s);
/* Spins until ready(arg) is true (returns 1), or the budget or the deadline runs out
 * (returns 0). With yield (more waiters than CPUs) it gives the CPU away instead, a few
 * times, looking again after each. */
int smipc_spin(struct smipc_spin *s, int (*ready)(void *), void *arg, int64_t deadline, int yield);
/* After a wait that had to sleep ended with the peer's answer `waited_ns` after the wait
 * began: spin about twice that long next time (bounded), so a peer that answers in a few
 * microseconds (a Python server, say) is met by spinning again, not by sleeping for good. */
void smipc_spin_learn(struct smipc_spin *s, int64_t waited_ns);

/* Whether spinning can pay off when a server has `clients` clients: only while the server
 * and its clients fit on the online CPUs. Beyond that a spinner burns the time slice of
 * the very process it waits for, and the first to spin starves the rest. */
int smipc_spin_worthwhile(uint32_t clients);

/* Sleeps until wake_fd or ctl_fd (-1: none) is readable or the deadline passes.
 * Returns SMIPC_OK (woken or timed out: callers re-check), SMIPC_ECLOSED (anything on
 * ctl_fd: the peer hung up), or SMIPC_ESYS. Drains wake_fd, or with fd_left sets *fd_left
 * and leaves that to the caller: draining before its next wait takes a system call off
 * the way from the wake-up to the answer. */
int smipc_sleep2(int wake_fd, int ctl_fd, int64_t deadline, int *fd_left);

/* Wake-ups between processes: our end of a datagram socket pair shared with no one (an
 * eventfd's file, shared with the peer, could be set blocking by the peer). */
void smipc_wake_send(int fd);
void smipc_wake_drain(int fd);

/* Wake-ups inside this process: an eventfd of our own. */
void smipc_efd_signal(int efd);
void smipc_efd_drain(int efd);

#endif
