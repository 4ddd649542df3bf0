/* Spinning, sleeping on descriptors, and the wake-ups that end a sleep. */
#include "wait.h"

#include "clock.h"
#include "internal.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define SPIN_START_NS 20000
#define SPIN_MIN_NS   500
#define SPIN_MAX_NS   100000
/* Yields before sleeping when waiters outnumber CPUs. Each one most likely runs the
 * process waited for, and costs a system call where a sleep costs a wake-up; with 4 and
 * 16 clients on 2 CPUs, 8 gave 29% and 9% more round trips than 1, as fair. */
#define OVERSUBSCRIBED_YIELDS 8

static long online_cpus;
static pthread_once_t cpus_once = PTHREAD_ONCE_INIT;

static void count_cpus(void)
{
    online_cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (online_cpus < 1)
        online_cpus = 1;
}

int smipc_spin_worthwhile(uint32_t clients)
{
    pthread_once(&cpus_once, count_cpus);
    return (long)clients + 1 <= online_cpus;
}

void smipc_spin_init(struct smipc_spin *s)
{
    pthread_once(&cpus_once, count_cpus);
    /* On one core the peer cannot run while we spin: never spin there. */
    s->budget_ns = online_cpus <= 1 ? 0 : SPIN_START_NS;
    s->max_ns = SPIN_MAX_NS;
    /* SMIPC_SPIN_US caps spinning (0: always sleep at once), for power or benchmarks */
    const char *env = getenv("SMIPC_SPIN_US");
    if (env && *env) {
        char *end;
        long us = strtol(env, &end, 10);
        if (!*end && us >= 0 && us <= 1000000) {
            s->max_ns = us * 1000;
            if (s->budget_ns > s->max_ns)
                s->budget_ns = s->max_ns;
        }
    }
}

int smipc_spin(struct smipc_spin *s, int (*ready)(void *), void *arg, int64_t deadline, int yield)
{
    if (ready(arg))
        return 1;
    if (s->budget_ns <= 0)
        return 0;
    int64_t now = smipc_now_ns();
    if (now >= deadline)
        return 0;
    if (yield) {
        /* More waiters than CPUs: spinning would burn the time slice of the process we
         * wait for, so give the CPU away instead, then sleep. */
        for (int i = 0; i < OVERSUBSCRIBED_YIELDS; i++) {
            sched_yield();
            if (ready(arg))
                return 1;
        }
        return 0;
    }
    int64_t end = deadline - now < s->budget_ns ? deadline : now + s->budget_ns;
    for (unsigned i = 1;; i++) {
        smipc_cpu_relax();
        if (ready(arg)) {
            s->budget_ns = s->budget_ns * 2 > s->max_ns ? s->max_ns : s->budget_ns * 2;
            return 1;
        }
        if ((i & 7) == 0 && smipc_now_ns() >= end)
            break;
    }
    s->budget_ns = s->budget_ns / 2 < SPIN_MIN_NS ? SPIN_MIN_NS : s->budget_ns / 2;
    return 0;
}

void smipc_spin_learn(struct smipc_spin *s, int64_t waited_ns)
{
    if (s->budget_ns <= 0 && s->max_ns <= 0)
        return;
    int64_t b = 2 * waited_ns;
    s->budget_ns = b < SPIN_MIN_NS ? SPIN_MIN_NS : b > s->max_ns ? s->max_ns : b;
}

void smipc_efd_signal(int efd)
{
    uint64_t one = 1;
    /* Only EAGAIN (counter saturated: already readable) can fail here. */
    ssize_t n = write(efd, &one, sizeof one);
    SMIPC_UNUSED(n);
}

void smipc_efd_drain(int efd)
{
    uint64_t v;
    ssize_t n = read(efd, &v, sizeof v);
    SMIPC_UNUSED(n);
}

/* MSG_DONTWAIT and MSG_NOSIGNAL hold for this call whatever the descriptor's flags: a
 * peer can make neither block nor raise SIGPIPE. A full queue means a wake-up is already
 * waiting there, and a peer that closed its end is gone (the control socket says so). */
void smipc_wake_send(int fd)
{
    char one = 1;
    ssize_t n = send(fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    SMIPC_UNUSED(n);
}

/* Bounded: a peer that floods datagrams only makes us wake again, never stay here. */
void smipc_wake_drain(int fd)
{
    char buf[64];
    for (int i = 0; i < 64; i++)
        if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) < 0)
            break;
}

int smipc_sleep2(int wake_fd, int ctl_fd, int64_t deadline, int *fd_left)
{
    struct pollfd p[2] = {{.fd = wake_fd, .events = POLLIN | POLLRDHUP},
                          {.fd = ctl_fd, .events = POLLIN}};
    int n = poll(p, ctl_fd >= 0 ? 2 : 1, smipc_poll_ms(deadline));
    if (n < 0)
        return errno == EINTR ? SMIPC_OK : SMIPC_ESYS;
    /* After the handshake nothing travels on the control socket: any event is a goodbye. */
    if (ctl_fd >= 0 && p[1].revents)
        return SMIPC_ECLOSED;
    /* A wake-up socket in error, hung up or shut down for reading would read as ready for
     * ever (a server that kept a copy of the client's end can shut it down): broken. */
    if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL | POLLRDHUP))
        return SMIPC_ECLOSED;
    if (p[0].revents & POLLIN) {
        if (fd_left)
            *fd_left = 1;
        else
            smipc_wake_drain(wake_fd);
    }
    return SMIPC_OK;
}
