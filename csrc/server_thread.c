/* The server's own thread: accepts connections, runs handshakes, refuses what must be
 * refused, and notices departures, whatever the application's threads are doing. */
#include "clock.h"
#include "control.h"
#include "server_internal.h"
#include "stats.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { TAG_LISTEN = 1, TAG_STOP, TAG_PENDING, TAG_CONN, TAG_SWEEP };
#define TAG_SHIFT      56
#define TAG_VALUE_MASK ((1ull << TAG_SHIFT) - 1)

static uint64_t tagged(uint64_t tag, uint64_t value)
{
    return tag << TAG_SHIFT | value;
}

static void pending_unlink(smipc_server *srv, struct smipc_pending *p)
{
    for (struct smipc_pending **pp = &srv->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            srv->npending--;
            return;
        }
}

/* Forgets a handshake; closes its socket unless it became a connection's. */
static void pending_drop(smipc_server *srv, struct smipc_pending *p, int close_fd)
{
    pthread_mutex_lock(&srv->lock);
    pending_unlink(srv, p);
    pthread_mutex_unlock(&srv->lock);
    epoll_ctl(srv->thread_epfd, EPOLL_CTL_DEL, p->fd, NULL);
    if (close_fd)
        close(p->fd);
    free(p);
}

#define ACCEPT_RETRY_NS 50000000 /* out of descriptors: look at the listener again then */

/* Out of descriptors (or memory), accept fails while the listener stays readable: left
 * armed it would wake this thread at once, for ever. Disarmed, the connection waits in the
 * backlog (its connect has a timeout of its own) until the retry. */
static void accept_later(smipc_server *srv, int64_t *retry_at)
{
    struct epoll_event ev = {.events = 0, .data.u64 = tagged(TAG_LISTEN, 0)};
    if (epoll_ctl(srv->thread_epfd, EPOLL_CTL_MOD, srv->listen_fd, &ev) == 0)
        *retry_at = smipc_now_ns() + ACCEPT_RETRY_NS;
}

static void accept_again(smipc_server *srv, int64_t *retry_at)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tagged(TAG_LISTEN, 0)};
    if (epoll_ctl(srv->thread_epfd, EPOLL_CTL_MOD, srv->listen_fd, &ev) == 0)
        *retry_at = 0;
}

static void accept_all(smipc_server *srv, int64_t *retry_at)
{
    for (;;) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_later(srv, retry_at);
            return; /* EAGAIN, or a transient error: the listener stays armed */
        }
        struct ucred cred;
        socklen_t len = sizeof cred;
        struct smipc_pending *p = NULL;
        if (srv->npending < SMIPC_PENDING_MAX &&
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
            p = calloc(1, sizeof *p);
        if (!p) {
            close(fd);
            continue;
        }
        p->fd = fd;
        p->uid = cred.uid;
        p->pid = cred.pid;
        p->deadline = smipc_now_ns() + SMIPC_HANDSHAKE_NS;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tagged(TAG_PENDING, (uintptr_t)p)};
        if (epoll_ctl(srv->thread_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(p);
            continue;
        }
        pthread_mutex_lock(&srv->lock);
        p->next = srv->pending;
        srv->pending = p;
        srv->npending++;
        pthread_mutex_unlock(&srv->lock);
    }
}

static void welcome_init(struct smipc_welcome *w, int status)
{
    memset(w, 0, sizeof *w);
    w->magic = SMIPC_MAGIC;
    w->version = SMIPC_PROTOCOL_VERSION;
    w->status = status;
    w->sys_errno = status == SMIPC_ESYS ? errno : 0;
    w->server_pid = (uint32_t)getpid();
}

static void reply(int fd, int status)
{
    struct smipc_welcome w;
    welcome_init(&w, status);
    smipc_ctl_send(fd, &w, sizeof w, NULL, 0);
}

static size_t live_clients(smipc_server *srv)
{
    size_t n = 0;
    for (size_t i = 0; i < srv->nconns; i++)
        n += atomic_load(&srv->conns[i]->link.state) == SMIPC_LINK_OPEN;
    return n;
}

static void welcome_client(smipc_server *srv, struct smipc_pending *p)
{
    struct smipc_conn *c;
    int memfd, peer_fds[4];
    int rc = smipc_conn_create(srv, p->fd, p->pid, p->uid, &memfd, peer_fds, &c);
    if (rc) {
        reply(p->fd, rc == SMIPC_ENOMEM ? SMIPC_ENOMEM : SMIPC_ESYS);
        pending_drop(srv, p, 1);
        return;
    }
    struct smipc_welcome w;
    welcome_init(&w, SMIPC_OK);
    w.flags = srv->params.flags;
    w.client_id = c->id;
    w.packet_size = srv->params.packet_size;
    w.ring_packets = srv->params.ring_packets;
    w.max_message_size = srv->params.max_message_size;
    w.bulk_size = srv->params.bulk_size;
    w.bulk_slots = srv->params.bulk_slots;
    w.segment_size = c->map_size;
    int fds[SMIPC_WELCOME_FDS] = {memfd, peer_fds[0], peer_fds[1], peer_fds[2], peer_fds[3]};
    /* Listed before the client hears back: once its connect returns, the server's
     * client list includes it. The socket now belongs to the connection. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = tagged(TAG_CONN, c->id)};
    pthread_mutex_lock(&srv->lock);
    pending_unlink(srv, p);
    rc = smipc_conn_add(srv, c);
    if (!rc && epoll_ctl(srv->thread_epfd, EPOLL_CTL_MOD, p->fd, &ev) != 0)
        rc = SMIPC_ESYS;
    smipc_conn_ref(c); /* the socket stays ours while we write to it, whatever the client
                          (and so the receiving thread) does as soon as it is welcomed */
    pthread_mutex_unlock(&srv->lock);
    if (!rc)
        rc = smipc_ctl_send(p->fd, &w, sizeof w, fds, SMIPC_WELCOME_FDS);
    for (int i = 0; i < SMIPC_WELCOME_FDS; i++)
        close(fds[i]); /* the client has its copies; ours would only keep its ends alive */
    if (!rc) {
        atomic_fetch_add(&srv->accepted, 1);
        if (srv->cfg.flags & SMIPC_EVENTS)
            smipc_efd_signal(srv->notify_efd); /* a sleeping receive tells of the join */
        smipc_conn_unref(c);
        free(p);
        return;
    }
    epoll_ctl(srv->thread_epfd, EPOLL_CTL_DEL, p->fd, NULL);
    pthread_mutex_lock(&srv->lock);
    long i = smipc_conn_find(srv, c->id);
    if (i >= 0)
        smipc_conn_remove_at(srv, (size_t)i);
    else
        smipc_conn_unref(c); /* never listed: drop the table's reference here */
    pthread_mutex_unlock(&srv->lock);
    smipc_conn_unref(c); /* ours: closes the socket, and the client sees the refusal */
    free(p);
}

static void on_hello(smipc_server *srv, struct smipc_pending *p)
{
    struct smipc_hello h;
    size_t got = 0;
    int nfds = 0;
    int rc = smipc_ctl_recv(p->fd, &h, sizeof h, &got, NULL, 0, &nfds);
    if (rc == SMIPC_AGAIN)
        return;
    if (rc || got == 0) { /* a probe, or a peer that gave up: never a client */
        pending_drop(srv, p, 1);
        return;
    }
    if (got != sizeof h || h.magic != SMIPC_MAGIC || h.version != SMIPC_PROTOCOL_VERSION) {
        reply(p->fd, SMIPC_EPROTO);
        pending_drop(srv, p, 1);
        return;
    }
    if (h.kind == SMIPC_HELLO_PROBE) {
        reply(p->fd, SMIPC_OK);
        pending_drop(srv, p, 1);
        return;
    }
    if (h.kind == SMIPC_HELLO_STAT) {
        smipc_stats_reply(srv, p->fd);
        pending_drop(srv, p, 1);
        return;
    }
    int refuse = SMIPC_OK;
    if (h.kind != SMIPC_HELLO_CONNECT)
        refuse = SMIPC_EPROTO;
    else if (p->uid != geteuid() && !(srv->cfg.flags & SMIPC_ALLOW_ANY_UID))
        refuse = SMIPC_EACCES;
    else {
        pthread_mutex_lock(&srv->lock);
        if (live_clients(srv) >= srv->cfg.max_clients)
            refuse = SMIPC_EFULL;
        pthread_mutex_unlock(&srv->lock);
    }
    if (refuse) {
        atomic_fetch_add(&srv->refused, 1);
        reply(p->fd, refuse);
        pending_drop(srv, p, 1);
        return;
    }
    welcome_client(srv, p);
}

static void on_departure(smipc_server *srv, smipc_client_id id)
{
    pthread_mutex_lock(&srv->lock);
    long i = smipc_conn_find(srv, id);
    if (i >= 0) {
        struct smipc_conn *c = srv->conns[i];
        epoll_ctl(srv->thread_epfd, EPOLL_CTL_DEL, c->ctl_fd, NULL);
        int open = SMIPC_LINK_OPEN;
        atomic_compare_exchange_strong(&c->link.state, &open, SMIPC_LINK_GONE);
    }
    pthread_mutex_unlock(&srv->lock);
    if (i < 0)
        return;
    smipc_efd_signal(srv->notify_efd); /* a sleeping receive looks again */
    smipc_server_reap_soon(srv);
}

/* Closes handshakes that ran out of time; returns ms until the next one is due. */
static int expire_pending(smipc_server *srv)
{
    int64_t now = smipc_now_ns(), next = SMIPC_FOREVER;
    for (;;) {
        struct smipc_pending *late = NULL;
        pthread_mutex_lock(&srv->lock);
        for (struct smipc_pending *p = srv->pending; p; p = p->next) {
            if (p->deadline <= now) {
                late = p;
                break;
            }
            if (p->deadline < next)
                next = p->deadline;
        }
        pthread_mutex_unlock(&srv->lock);
        if (!late)
            break;
        pending_drop(srv, late, 1);
    }
    return smipc_poll_ms(next);
}

#define SWEEP_BATCH 64 /* connections looked at per hold of the table's lock */

#define SWEEP_SLACK_NS 10000000 /* past a due time: the coarse clock lags a tick behind */

/* Gives back the bulk pages of our sends to clients that have been idle long enough
 * (smipc_link_trim_bulk), a step at a time so that a sender never waits long for the
 * lock; a connection a sender holds is left for the next sweep. Returns when the next
 * sweep is due (coarse clock): when the first area still dirty will have been idle long
 * enough, or one interval from now for an area that is but could not go (its consumer
 * has not read all of it, or a sender held it); SMIPC_FOREVER when none is dirty. */
static int64_t sweep_bulk(smipc_server *srv)
{
    int64_t now = smipc_coarse_ns(), next = SMIPC_FOREVER;
    const int64_t retry = now + (int64_t)srv->sweep_ms * 1000000;
    for (size_t at = 0;;) {
        struct smipc_conn *batch[SWEEP_BATCH];
        size_t n = 0;
        pthread_mutex_lock(&srv->lock);
        size_t end = srv->nconns;
        for (; at < end && n < SWEEP_BATCH; at++) {
            struct smipc_conn *c = srv->conns[at];
            if (atomic_load(&c->link.tx_bulk_dirty)) {
                smipc_conn_ref(c);
                batch[n++] = c;
            }
        }
        pthread_mutex_unlock(&srv->lock);
        for (size_t i = 0; i < n; i++) {
            struct smipc_link *l = &batch[i]->link;
            int rc = 1;
            while (rc == 1 && smipc_link_bulk_idle(l, now) &&
                   smipc_call_trylock(&batch[i]->send_lock)) {
                rc = smipc_link_trim_bulk(l, now, SMIPC_TRIM_STEP);
                smipc_call_unlock(&batch[i]->send_lock);
            }
            if (atomic_load(&l->tx_bulk_dirty)) {
                int64_t due = smipc_link_bulk_idle(l, now)
                                  ? retry
                                  : atomic_load_explicit(&l->tx_bulk_at, memory_order_relaxed) +
                                        l->bulk_idle_ns;
                if (due < next)
                    next = due;
            }
            smipc_conn_unref(batch[i]);
        }
        if (at >= end)
            return next;
    }
}

/* Sweeps; when no area is dirty any more it stops, unless one became dirty meanwhile (its
 * sender saw the flag still up and woke nobody: seq_cst on both sides, see bulk_touched).
 * Returns when to sweep next (the fine clock), or 0 for not until woken. */
static int64_t sweep(smipc_server *srv)
{
    int64_t next = sweep_bulk(srv);
    if (next == SMIPC_FOREVER) {
        atomic_store(&srv->bulk_sweep, 0);
        next = sweep_bulk(srv);
        if (next == SMIPC_FOREVER)
            return 0;
        atomic_store(&srv->bulk_sweep, 1);
    }
    int64_t soonest = smipc_now_ns() + SWEEP_SLACK_NS;
    return next + SWEEP_SLACK_NS > soonest ? next + SWEEP_SLACK_NS : soonest;
}

static void *server_thread(void *arg)
{
    smipc_server *srv = arg;
    struct epoll_event evs[32];
    int64_t accept_retry_at = 0; /* listener disarmed until then (accept_later) */
    int64_t sweep_at = 0;        /* the next sweep for idle bulk areas, while bulk_sweep */
    pthread_setname_np(pthread_self(), "smipc-server"); /* for ps, gdb and the tests */
    for (;;) {
        int timeout = expire_pending(srv);
        if (atomic_load(&srv->bulk_sweep)) {
            int64_t now = smipc_now_ns();
            if (!sweep_at) /* just went up: the first sweep one interval from now */
                sweep_at = now + (int64_t)srv->sweep_ms * 1000000;
            else if (now >= sweep_at)
                sweep_at = sweep(srv);
            int ms = smipc_poll_ms(sweep_at);
            if (sweep_at && (timeout < 0 || ms < timeout))
                timeout = ms;
        } else {
            sweep_at = 0;
        }
        if (accept_retry_at) {
            int64_t left = accept_retry_at - smipc_now_ns();
            if (left <= 0) {
                accept_again(srv, &accept_retry_at);
            } else {
                int ms = (int)((left + 999999) / 1000000);
                if (timeout < 0 || ms < timeout)
                    timeout = ms;
            }
        }
        int n = epoll_wait(srv->thread_epfd, evs, 32, timeout);
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64 >> TAG_SHIFT, value = evs[i].data.u64 & TAG_VALUE_MASK;
            switch (tag) {
            case TAG_STOP:
                return NULL;
            case TAG_LISTEN:
                accept_all(srv, &accept_retry_at);
                break;
            case TAG_PENDING:
                on_hello(srv, (struct smipc_pending *)(uintptr_t)value);
                break;
            case TAG_CONN:
                on_departure(srv, value);
                break;
            case TAG_SWEEP: /* bulk_sweep is up: the loop's head times the sweeps */
                smipc_efd_drain(srv->sweep_efd);
                break;
            }
        }
    }
}

int smipc_server_thread_start(smipc_server *srv)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tagged(TAG_LISTEN, 0)};
    if (epoll_ctl(srv->thread_epfd, EPOLL_CTL_ADD, srv->listen_fd, &ev) != 0)
        return SMIPC_ESYS;
    ev.data.u64 = tagged(TAG_STOP, 0);
    if (epoll_ctl(srv->thread_epfd, EPOLL_CTL_ADD, srv->stop_efd, &ev) != 0)
        return SMIPC_ESYS;
    ev.data.u64 = tagged(TAG_SWEEP, 0);
    if (epoll_ctl(srv->thread_epfd, EPOLL_CTL_ADD, srv->sweep_efd, &ev) != 0)
        return SMIPC_ESYS;
    /* Signals belong to the application's threads, never to ours. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&srv->thread, NULL, server_thread, srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        errno = e;
        return SMIPC_ESYS;
    }
    srv->thread_running = 1;
    return SMIPC_OK;
}

void smipc_server_thread_stop(smipc_server *srv)
{
    if (!srv->thread_running)
        return;
    smipc_efd_signal(srv->stop_efd);
    pthread_join(srv->thread, NULL);
    srv->thread_running = 0;
    while (srv->pending)
        pending_drop(srv, srv->pending, 1);
}
