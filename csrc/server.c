/* smipc_server_*: open a name, then receive round-robin, send, broadcast. */
#include "clock.h"
#include "server_internal.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define STALL_NS 2000000 /* how long one client's half-sent message may hold up the rest */

SMIPC_EXPORT void smipc_server_config_init(smipc_server_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->max_clients = 64;
    cfg->packet_size = 4096;
    cfg->ring_packets = 64;
    cfg->max_message_size = (uint64_t)64 << 20;
    cfg->bulk_size = 1u << 20;
    cfg->bulk_slots = 4;
}

static int config_valid(const smipc_server_config *cfg, struct smipc_seg_params *p)
{
    for (size_t i = 0; i < sizeof cfg->reserved / sizeof cfg->reserved[0]; i++)
        if (cfg->reserved[i])
            return 0;
    if (cfg->max_clients < 1 || cfg->max_clients > (1u << 20))
        return 0;
    if (cfg->flags & ~(uint32_t)(SMIPC_NO_CHECKSUM | SMIPC_ALLOW_ANY_UID | SMIPC_EVENTS))
        return 0;
    p->packet_size = cfg->packet_size;
    p->ring_packets = cfg->ring_packets;
    p->max_message_size = cfg->max_message_size;
    p->flags = (cfg->flags & SMIPC_NO_CHECKSUM) ? 0 : SMIPC_SEG_CHECKSUM;
    p->bulk_size = cfg->bulk_size;
    p->bulk_slots = cfg->bulk_slots;
    return smipc_segment_size(p) != 0;
}

/* ---- lifetime ---- */

/* A connection in a forked child: its descriptors are copies, its segment not there. */
static void forget_in_child(struct smipc_conn *c)
{
    smipc_close_fd(&c->ctl_fd);
    for (int k = 0; k < 4; k++)
        smipc_close_fd(&c->wake_fds[k]);
    c->map = NULL; /* MADV_DONTFORK: not mapped here */
    c->link.ctl_fd = -1;
}

static void server_forked_child(struct smipc_forkable *f)
{
    smipc_server *srv = (smipc_server *)f;
    smipc_close_fd(&srv->listen_fd);
    smipc_close_fd(&srv->thread_epfd);
    smipc_close_fd(&srv->stop_efd);
    smipc_close_fd(&srv->recv_epfd);
    smipc_close_fd(&srv->notify_efd);
    smipc_close_fd(&srv->sweep_efd);
    for (size_t i = 0; i < srv->nconns; i++)
        forget_in_child(srv->conns[i]);
    for (size_t i = 0; i < srv->nview; i++) /* a receive was under way: it may hold more */
        forget_in_child(srv->view[i]);
    for (struct smipc_pending *p = srv->pending; p; p = p->next)
        smipc_close_fd(&p->fd);
    srv->thread_running = 0; /* only the forking thread exists in the child */
    pthread_mutex_unlock(&srv->lock);
}

static void server_fork_prepare(struct smipc_forkable *f)
{
    pthread_mutex_lock(&((smipc_server *)f)->lock);
}

static void server_fork_parent(struct smipc_forkable *f)
{
    pthread_mutex_unlock(&((smipc_server *)f)->lock);
}

/* Unlinks our socket, unless another server has taken the name over since. */
static void release_name(smipc_server *srv)
{
    struct stat st;
    if (srv->listen_fd >= 0 && stat(srv->path, &st) == 0 && st.st_ino == srv->sock_ino &&
        st.st_dev == srv->sock_dev)
        unlink(srv->path);
}

/* Frees everything. In a forked child only memory: descriptors are already closed, the
 * segments are not mapped, and the thread does not exist. */
static void server_free(smipc_server *srv)
{
    if (srv->view_conn) /* a view left out: the caller broke the rules, but nothing leaks */
        smipc_conn_unref(srv->view_conn);
    while (srv->loans) { /* loans left out, likewise */
        struct smipc_conn *c = srv->loans;
        srv->loans = c->next_loan;
        smipc_conn_unref(c);
    }
    free(srv->view_copy);
    int child = smipc_fork_inherited(&srv->fork);
    if (!child) {
        smipc_server_thread_stop(srv);
        release_name(srv);
    }
    smipc_close_fd(&srv->listen_fd);
    smipc_server_view_clear(srv);
    while (srv->nconns)
        smipc_conn_remove_at(srv, srv->nconns - 1);
    while (srv->pending) {
        struct smipc_pending *p = srv->pending;
        srv->pending = p->next;
        smipc_close_fd(&p->fd);
        free(p);
    }
    free(srv->conns);
    free(srv->left);
    smipc_close_fd(&srv->thread_epfd);
    smipc_close_fd(&srv->stop_efd);
    smipc_close_fd(&srv->recv_epfd);
    smipc_close_fd(&srv->notify_efd);
    smipc_close_fd(&srv->sweep_efd);
    if (!child)
        pthread_mutex_destroy(&srv->lock);
    free(srv);
}

/* Binds the socket, taking over a name whose server died. The directory lock makes the
 * probe-unlink-bind sequence atomic against another server doing the same. */
static int bind_name(smipc_server *srv, const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == EACCES ? SMIPC_EACCES : SMIPC_ESYS;
    if (flock(dfd, LOCK_EX) != 0) {
        SMIPC_KEEP_ERRNO(close(dfd));
        return SMIPC_ESYS;
    }
    int rc = SMIPC_OK;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, srv->path, strlen(srv->path) + 1); /* fits: checked by name_resolve */
    struct stat st;
    if (lstat(srv->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            rc = SMIPC_EEXIST; /* not ours to remove */
        } else {
            int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (probe < 0) {
                rc = SMIPC_ESYS;
            } else if (connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EAGAIN) {
                rc = SMIPC_EEXIST; /* answered (or backlog full): alive */
            } else if (errno == ECONNREFUSED) {
                if (unlink(srv->path) != 0 && errno != ENOENT)
                    rc = errno == EACCES || errno == EPERM ? SMIPC_EACCES : SMIPC_ESYS;
            } else {
                rc = errno == EACCES ? SMIPC_EACCES : SMIPC_ESYS;
            }
            if (probe >= 0)
                SMIPC_KEEP_ERRNO(close(probe));
        }
    }
    if (!rc) {
        srv->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (srv->listen_fd < 0)
            rc = SMIPC_ESYS;
        else if (bind(srv->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            rc = errno == EACCES ? SMIPC_EACCES : errno == EADDRINUSE ? SMIPC_EEXIST : SMIPC_ESYS;
        /* SMIPC_ALLOW_ANY_UID opens the socket itself to everyone: without it the flag did
         * nothing, the file system refused other users first. The directory still decides
         * who reaches the socket (the default runtime directory is the owner's alone). */
        else if (chmod(srv->path, (srv->cfg.flags & SMIPC_ALLOW_ANY_UID) ? 0666 : 0600) != 0 ||
                 listen(srv->listen_fd, SOMAXCONN) != 0 || stat(srv->path, &st) != 0)
            rc = SMIPC_ESYS;
        else {
            srv->sock_dev = st.st_dev;
            srv->sock_ino = st.st_ino;
        }
        if (rc)
            SMIPC_KEEP_ERRNO(smipc_close_fd(&srv->listen_fd));
    }
    SMIPC_KEEP_ERRNO(close(dfd)); /* releases the lock */
    return rc;
}

SMIPC_EXPORT int smipc_server_open(smipc_server **out, const char *name,
                                   const smipc_server_config *cfg)
{
    if (!out)
        return SMIPC_EINVAL;
    *out = NULL;
    smipc_server_config defaults;
    if (!cfg) {
        smipc_server_config_init(&defaults);
        cfg = &defaults;
    }
    struct smipc_seg_params params;
    if (!config_valid(cfg, &params))
        return SMIPC_EINVAL;
    char dir[PATH_MAX];
    smipc_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return SMIPC_ENOMEM;
    srv->cfg = *cfg;
    srv->params = params;
    srv->listen_fd = srv->thread_epfd = srv->stop_efd = srv->recv_epfd = srv->notify_efd = -1;
    srv->sweep_efd = -1;
    srv->bulk_idle_ns = smipc_bulk_idle_ns(); /* here: getenv is not for the server's thread */
    int64_t idle_ms = srv->bulk_idle_ns / 1000000;
    srv->sweep_ms = idle_ms < 10 ? 10 : idle_ms > 1000 ? 1000 : (int)idle_ms;
    srv->next_id = 1;
    /* Room for four messages of the largest size parked at once (at least 256 MiB) */
    srv->park_budget =
        (size_t)(params.max_message_size * 4 > ((uint64_t)256 << 20) ? params.max_message_size * 4
                                                                     : (uint64_t)256 << 20);
    srv->started_ns = smipc_now_ns();
    pthread_mutex_init(&srv->lock, NULL);
    smipc_call_lock_init(&srv->recv_lock);
    smipc_spin_init(&srv->recv_spin);
    srv->fork.prepare = server_fork_prepare;
    srv->fork.parent = server_fork_parent;
    srv->fork.child = server_forked_child;
    smipc_fork_register(&srv->fork);

    int rc = smipc_name_resolve(name, 1, srv->path, dir);
    if (!rc)
        rc = bind_name(srv, dir);
    if (!rc) {
        srv->thread_epfd = epoll_create1(EPOLL_CLOEXEC);
        srv->recv_epfd = epoll_create1(EPOLL_CLOEXEC);
        srv->stop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        srv->notify_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        srv->sweep_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
        if (srv->thread_epfd < 0 || srv->recv_epfd < 0 || srv->stop_efd < 0 ||
            srv->notify_efd < 0 || srv->sweep_efd < 0 ||
            epoll_ctl(srv->recv_epfd, EPOLL_CTL_ADD, srv->notify_efd, &ev) != 0)
            rc = SMIPC_ESYS;
    }
    if (!rc)
        rc = smipc_server_thread_start(srv);
    if (rc) {
        smipc_fork_unregister(&srv->fork);
        SMIPC_KEEP_ERRNO(server_free(srv));
        return rc;
    }
    *out = srv;
    return SMIPC_OK;
}

SMIPC_EXPORT void smipc_server_close(smipc_server *srv)
{
    if (!srv)
        return;
    smipc_fork_unregister(&srv->fork);
    server_free(srv);
}

static int usable(const smipc_server *srv)
{
    return smipc_fork_inherited(&srv->fork) ||
                   atomic_load_explicit(&srv->shut, memory_order_acquire)
               ? SMIPC_ECLOSED
               : SMIPC_OK;
}

SMIPC_EXPORT void smipc_server_shutdown(smipc_server *srv)
{
    if (!srv || usable(srv) || atomic_exchange(&srv->shut, 1))
        return;
    /* No more handshakes: the thread is gone, then so are the listener and the name. */
    smipc_server_thread_stop(srv);
    release_name(srv);
    smipc_close_fd(&srv->listen_fd);
    /* Every client is told at once, and every call asleep on one of them wakes: polling
     * a control socket whose own end is shut down reports it. */
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->nconns; i++) {
        struct smipc_conn *c = srv->conns[i];
        atomic_store(&c->link.state, SMIPC_LINK_BROKEN);
        shutdown(c->ctl_fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&srv->lock);
    /* and a receive asleep on all of them at once */
    smipc_efd_signal(srv->notify_efd);
}

/* ---- receiving ---- */

static int view_stale(const smipc_server *srv)
{
    return atomic_load_explicit(&srv->conns_gen, memory_order_acquire) != srv->view_gen;
}

/* A join the receive under way has yet to tell (SMIPC_EVENTS). */
static int join_untold(const smipc_server *srv, struct smipc_conn *c)
{
    return srv->recv_events && !atomic_load_explicit(&c->join_told, memory_order_relaxed);
}

/* The next connection, after the one served last, with something to read (or a join to
 * tell); it stays
 * valid until the view is next renewed (by this receive). */
static int pick_ready(smipc_server *srv, struct smipc_conn **found)
{
    *found = NULL;
    if (view_stale(srv)) {
        int rc = smipc_server_view_renew(srv);
        if (rc)
            return rc;
    }
    int gone = 0;
    size_t n = srv->nview;
    for (size_t k = 0; k < n; k++) {
        size_t i = (srv->rr + k) % n;
        struct smipc_conn *c = srv->view[i];
        if (smipc_link_rx_ready(&c->link) || join_untold(srv, c)) {
            srv->rr = i + 1;
            *found = c;
            return SMIPC_OK;
        }
        gone |= atomic_load_explicit(&c->link.state, memory_order_relaxed) != SMIPC_LINK_OPEN;
    }
    if (gone)
        smipc_server_reap(srv);
    return SMIPC_OK;
}

static int any_ready(void *arg)
{
    smipc_server *srv = arg;
    int ready = 0;
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->nconns && !ready; i++)
        ready = smipc_link_rx_ready(&srv->conns[i]->link) || join_untold(srv, srv->conns[i]);
    pthread_mutex_unlock(&srv->lock);
    return ready || (srv->recv_events && srv->nleft) ||
           atomic_load_explicit(&srv->reap_wanted, memory_order_relaxed) ||
           atomic_load_explicit(&srv->shut, memory_order_relaxed);
}

/* Arms every connection's rx_waiting flag; 1 if one is ready already. */
static int arm_all(smipc_server *srv)
{
    int ready = 0;
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->nconns; i++) {
        ready |= smipc_link_arm_rx(&srv->conns[i]->link); /* also wakes a waiting client */
        ready |= join_untold(srv, srv->conns[i]);
    }
    pthread_mutex_unlock(&srv->lock);
    return ready || (srv->recv_events && srv->nleft);
}

/* Empties the eventfds a wait woke on (ids; 0: notify_efd), so level-triggered fds
 * quieten. After a wait with a timeout this runs before the next wait arms (a signal after
 * the drain then stays to wake it), not on the way from the wake-up to the message. */
static void drain_left(smipc_server *srv)
{
    if (!srv->nefds_left)
        return;
    pthread_mutex_lock(&srv->lock);
    for (int i = 0; i < srv->nefds_left; i++) {
        if (srv->efds_left[i] == 0) {
            smipc_efd_drain(srv->notify_efd);
            continue;
        }
        long k = smipc_conn_find(srv, srv->efds_left[i]);
        if (k >= 0)
            smipc_wake_drain(srv->conns[k]->link.rx.data_fd);
    }
    pthread_mutex_unlock(&srv->lock);
    srv->nefds_left = 0;
}

/* Waits up to timeout_ms for an eventfd; what it reports is drained now (timeout 0: an
 * event loop's descriptor must quieten) or by drain_left before the next wait. */
static int drain_events(smipc_server *srv, int timeout_ms)
{
    struct epoll_event evs[SMIPC_EVENTS_MAX];
    drain_left(srv);
    int n = epoll_wait(srv->recv_epfd, evs, SMIPC_EVENTS_MAX, timeout_ms);
    if (n < 0)
        return errno == EINTR ? SMIPC_OK : SMIPC_ESYS;
    for (int i = 0; i < n; i++)
        srv->efds_left[i] = evs[i].data.u64;
    srv->nefds_left = n;
    if (!timeout_ms)
        drain_left(srv);
    return SMIPC_OK;
}

/* Before the server waits: no client may be left waiting for room we made. */
static void settle_all(smipc_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->nconns; i++)
        if (srv->conns[i]->link.rx_unchecked)
            smipc_link_settle(&srv->conns[i]->link);
    pthread_mutex_unlock(&srv->lock);
}

static int wait_any(smipc_server *srv, int64_t deadline)
{
    int64_t began = smipc_now_ns();
    settle_all(srv);
    drain_left(srv);
    if (smipc_spin(&srv->recv_spin, any_ready, srv, deadline,
                   !smipc_spin_worthwhile(atomic_load_explicit(&srv->load, memory_order_relaxed))))
        return SMIPC_OK;
    if (arm_all(srv) || atomic_load(&srv->reap_wanted) || atomic_load(&srv->shut))
        return SMIPC_OK;
    if (began >= deadline)
        return SMIPC_ETIMEDOUT; /* flags stay armed for event loops */
    int rc = drain_events(srv, smipc_poll_ms(deadline));
    if (!rc && any_ready(srv))
        smipc_spin_learn(&srv->recv_spin, smipc_now_ns() - began);
    return rc;
}

static void drop_broken(smipc_server *srv, struct smipc_conn *c)
{
    atomic_store(&c->link.state, SMIPC_LINK_BROKEN);
    shutdown(c->ctl_fd, SHUT_RDWR); /* the client learns at once */
    smipc_server_reap(srv);
}

/* Reads one message from c, waiting a little for the rest of one already started. One
 * visit waits at most STALL_NS in all (not per packet: a client dribbling a packet now and
 * then would hold the receive for as long as it liked), then the transfer is parked and
 * the round-robin moves on. A client alone is waited for longer, until another joins. */
/* view: NULL for a copying receive; else a message in one piece is shown in place there
 * (and c is kept, referenced, in view_conn) and others are copied into buf. */
static int serve_conn(smipc_server *srv, struct smipc_conn *c, void *buf, size_t cap, size_t *len,
                      struct smipc_lazy_deadline *lazy, const void **view)
{
    struct smipc_link *l = &c->link;
    int64_t visit_end = 0;
    uint32_t gen = 0;
    for (;;) {
        int rc = view ? smipc_link_view(l, view, len) : SMIPC_SPLIT;
        if (rc == SMIPC_OK) {
            smipc_conn_ref(c);
            srv->view_conn = c;
            return rc;
        }
        if (rc == SMIPC_SPLIT)
            rc = smipc_link_recv_some(l, buf, cap, len);
        if (rc == SMIPC_OK || rc == SMIPC_ETOOSMALL)
            return rc;
        if (rc == SMIPC_ECLOSED) { /* broken: reaped now, so that it is never picked again */
            smipc_server_reap(srv);
            return SMIPC_AGAIN;
        }
        if (rc != SMIPC_AGAIN) {
            /* EPROTO, or a status no receive should meet here: "try again" would pick
             * this connection again at once, past any deadline. It ends instead. */
            drop_broken(srv, c);
            return rc == SMIPC_EINVAL ? SMIPC_EPROTO : rc;
        }
        if (!l->part.active)
            return SMIPC_AGAIN;
        int64_t deadline = smipc_deadline_now(lazy);
        int64_t now = smipc_now_ns();
        if (!visit_end) {
            visit_end = now + STALL_NS;
            gen = atomic_load_explicit(&srv->conns_gen, memory_order_acquire);
        }
        if (now >= visit_end || now >= deadline) {
            int alone = atomic_load_explicit(&srv->load, memory_order_relaxed) <= 1 &&
                        atomic_load_explicit(&srv->conns_gen, memory_order_acquire) == gen;
            if (now < deadline && alone) {
                visit_end = now + STALL_NS; /* nobody to move on to */
            } else {
                rc = smipc_link_park(l);
                if (rc == SMIPC_EFULL) {
                    /* the server's memory for half-sent messages is spent: this client
                     * may not pin more of it (docs/SECURITY.md) */
                    smipc_link_discard(l);
                    drop_broken(srv, c);
                    return SMIPC_EPROTO;
                }
                if (rc)
                    return rc;
                return now >= deadline ? SMIPC_ETIMEDOUT : SMIPC_AGAIN;
            }
        }
        rc = smipc_link_wait_rx(l, deadline < visit_end ? deadline : visit_end);
        if (rc == SMIPC_OK || rc == SMIPC_ETIMEDOUT)
            continue; /* the next turn takes what came, or decides whether to move on */
        if (rc == SMIPC_ECLOSED) {
            smipc_link_discard(l); /* cut off mid-message: never delivered */
            smipc_server_reap(srv);
            return SMIPC_AGAIN;
        }
        return rc;
    }
}

/* In event-loop mode the fd stays readable while any message is queued. */
static void keep_fd_level(smipc_server *srv)
{
    if (!atomic_load_explicit(&srv->fd_mode, memory_order_relaxed))
        return;
    if (arm_all(srv))
        smipc_efd_signal(srv->notify_efd);
}

/* The oldest departure not told yet, as an event (SMIPC_EVENTS); a client that joined and
 * left before a receive looked is told to have joined first. */
static void tell_departure(smipc_server *srv, int *kind, smipc_client_id *from, size_t *len)
{
    struct smipc_departure *d = &srv->left[0];
    if (from)
        *from = d->id;
    *len = 0;
    if (!d->join_told) {
        d->join_told = 1;
        *kind = SMIPC_EVENT_JOINED;
        return;
    }
    *kind = SMIPC_EVENT_LEFT;
    memmove(srv->left, srv->left + 1, (srv->nleft - 1) * sizeof *srv->left);
    srv->nleft--;
}

/* kind: NULL for a plain receive, which passes joins and departures over. */
static int recv_locked(smipc_server *srv, int *kind, smipc_client_id *from, void *buf, size_t *len,
                       struct smipc_lazy_deadline *deadline, const void **view)
{
    size_t cap = *len;
    srv->recv_events = kind && (srv->cfg.flags & SMIPC_EVENTS);
    if (kind)
        *kind = SMIPC_EVENT_MESSAGE;
    if (atomic_load_explicit(&srv->fd_mode, memory_order_relaxed))
        drain_events(srv, 0);
    for (;;) {
        if (atomic_load_explicit(&srv->shut, memory_order_acquire))
            return SMIPC_ECLOSED;
        /* Departures the server's thread saw while we held the receive lock are ours to
         * reap, on every turn: left standing, the request would end every wait at once. */
        if (atomic_load_explicit(&srv->reap_wanted, memory_order_relaxed))
            smipc_server_reap(srv);
        if (srv->nleft && !srv->recv_events)
            srv->nleft = 0;
        if (srv->nleft) {
            tell_departure(srv, kind, from, len);
            return SMIPC_OK;
        }
        struct smipc_conn *c;
        int rc = pick_ready(srv, &c);
        if (rc)
            return rc;
        if (c) {
            /* A plain load first: a locked exchange on every message would wait for the
             * packet just freed to reach the other core (see call_lock.h). */
            if (!atomic_load_explicit(&c->join_told, memory_order_relaxed) &&
                !atomic_exchange_explicit(&c->join_told, 1, memory_order_relaxed) &&
                srv->recv_events) {
                *kind = SMIPC_EVENT_JOINED; /* before any of its messages */
                if (from)
                    *from = c->id;
                *len = 0;
                return SMIPC_OK;
            }
            rc = serve_conn(srv, c, buf, cap, len, deadline, view);
            smipc_client_id id = c->id;
            /* The caller asks again with a larger buffer: that receive is this message's,
             * not the next client's (a large message would be overtaken every time). */
            if (rc == SMIPC_ETOOSMALL && srv->rr)
                srv->rr--;
            if (rc != SMIPC_AGAIN) {
                if (from && rc != SMIPC_ETIMEDOUT && rc != SMIPC_ENOMEM)
                    *from = id;
                /* after a timeout too: a message met half-sent must still wake the fd as
                 * the rest arrives (the connections are armed only here then) */
                keep_fd_level(srv);
                return rc;
            }
            continue;
        }
        rc = wait_any(srv, smipc_deadline_now(deadline));
        if (rc)
            return rc;
    }
}

static int recv_call(smipc_server *srv, int *kind, smipc_client_id *from, void *buf, size_t *len,
                     int timeout_ms)
{
    if (!srv || !len || (!buf && *len))
        return SMIPC_EINVAL;
    int rc = usable(srv);
    if (rc)
        return rc;
    struct smipc_lazy_deadline deadline = {timeout_ms, 0};
    rc = smipc_call_lock(&srv->recv_lock, &deadline);
    if (rc)
        return rc;
    rc = recv_locked(srv, kind, from, buf, len, &deadline, NULL);
    if (view_stale(srv))
        smipc_server_view_renew(srv); /* lets go of connections reaped meanwhile */
    smipc_call_unlock(&srv->recv_lock);
    /* A departure seen while we held the lock is reaped now (see reap_soon). */
    if (atomic_load(&srv->reap_wanted))
        smipc_server_reap_soon(srv);
    return rc;
}

SMIPC_EXPORT int smipc_server_recv_view(smipc_server *srv, smipc_client_id *from, const void **data,
                                        size_t *len, uint32_t *flags, int timeout_ms)
{
    if (!srv || !data || !len)
        return SMIPC_EINVAL;
    int rc = usable(srv);
    if (rc)
        return rc;
    struct smipc_lazy_deadline deadline = {timeout_ms, 0};
    rc = smipc_call_lock(&srv->recv_lock, &deadline);
    if (rc)
        return rc;
    for (;;) {
        size_t n = srv->view_copy_cap;
        *data = NULL;
        rc = recv_locked(srv, NULL, from, srv->view_copy, &n, &deadline, data);
        if (rc == SMIPC_OK) {
            if (flags)
                *flags = srv->view_conn ? 0 : SMIPC_MSG_COPY;
            if (!*data) /* copied */
                *data = srv->view_copy;
            *len = n;
            break;
        }
        if (rc != SMIPC_ETOOSMALL)
            break;
        /* not in one piece: copied, into a buffer grown to fit (the turn stays its) */
        unsigned char *bigger = realloc(srv->view_copy, n);
        if (!bigger) {
            rc = SMIPC_ENOMEM; /* the message stays queued */
            break;
        }
        srv->view_copy = bigger;
        srv->view_copy_cap = n;
    }
    if (rc == SMIPC_OK) {
        srv->view_out = 1; /* the receive lock stays held until release */
        return rc;
    }
    if (view_stale(srv))
        smipc_server_view_renew(srv);
    smipc_call_unlock(&srv->recv_lock);
    if (atomic_load(&srv->reap_wanted))
        smipc_server_reap_soon(srv);
    return rc;
}

SMIPC_EXPORT int smipc_server_pin(smipc_server *srv, void **pin)
{
    if (!srv || !pin || !srv->view_out)
        return SMIPC_EINVAL;
    struct smipc_mapping *m = srv->view_conn ? srv->view_conn->mapping : NULL;
    if (m) /* its memory, not the connection: that one goes when it goes */
        smipc_mapping_ref(m);
    *pin = m;
    return SMIPC_OK;
}

SMIPC_EXPORT void smipc_server_unpin(void *pin)
{
    smipc_mapping_unref(pin);
}

SMIPC_EXPORT int smipc_server_release(smipc_server *srv)
{
    if (!srv || !srv->view_out)
        return SMIPC_EINVAL;
    srv->view_out = 0;
    struct smipc_conn *c = srv->view_conn;
    srv->view_conn = NULL;
    if (c) {
        smipc_link_view_done(&c->link);
        smipc_conn_unref(c);
    }
    keep_fd_level(srv);
    if (view_stale(srv))
        smipc_server_view_renew(srv);
    smipc_call_unlock(&srv->recv_lock);
    if (atomic_load(&srv->reap_wanted))
        smipc_server_reap_soon(srv);
    return SMIPC_OK;
}

SMIPC_EXPORT int smipc_server_recv(smipc_server *srv, smipc_client_id *from, void *buf, size_t *len,
                                   int timeout_ms)
{
    return recv_call(srv, NULL, from, buf, len, timeout_ms);
}

SMIPC_EXPORT int smipc_server_recv_event(smipc_server *srv, int *kind, smipc_client_id *from,
                                         void *buf, size_t *len, int timeout_ms)
{
    if (!kind)
        return SMIPC_EINVAL;
    return recv_call(srv, kind, from, buf, len, timeout_ms);
}

/* ---- sending ---- */

/* The connected client `to`, referenced (the caller unrefs it), or NULL. */
static struct smipc_conn *conn_get(smipc_server *srv, smipc_client_id to)
{
    pthread_mutex_lock(&srv->lock);
    long i = smipc_conn_find(srv, to);
    struct smipc_conn *c = i >= 0 ? srv->conns[i] : NULL;
    if (c)
        smipc_conn_ref(c);
    pthread_mutex_unlock(&srv->lock);
    return c;
}

static int send_one(struct smipc_conn *c, const void *buf, size_t len,
                    struct smipc_lazy_deadline *deadline, uint32_t flags)
{
    if (atomic_load(&c->link.state) != SMIPC_LINK_OPEN)
        return SMIPC_ECLOSED;
    /* read before the lock: a cancel while this send waits for it counts */
    uint32_t gen = atomic_load_explicit(&c->link.cancel_gen, memory_order_relaxed);
    int rc = smipc_call_lock(&c->send_lock, deadline);
    if (rc)
        return rc;
    c->link.tx_gen = gen;
    c->link.tx_flags = flags;
    rc = atomic_load_explicit(&c->link.cancel_gen, memory_order_relaxed) != gen
             ? SMIPC_ETIMEDOUT
             : smipc_link_try_send(&c->link, buf, len);
    if (rc == SMIPC_AGAIN)
        rc = smipc_link_send(&c->link, buf, len, smipc_deadline_now(deadline));
    smipc_call_unlock(&c->send_lock);
    return rc;
}

SMIPC_EXPORT int smipc_server_send(smipc_server *srv, smipc_client_id to, const void *buf,
                                   size_t len, int timeout_ms)
{
    if (!srv || (!buf && len))
        return SMIPC_EINVAL;
    int rc = usable(srv);
    if (rc)
        return rc;
    if (len > srv->params.max_message_size)
        return SMIPC_EMSGSIZE;
    struct smipc_lazy_deadline deadline = {timeout_ms, 0};
    struct smipc_conn *c = conn_get(srv, to);
    if (!c)
        return SMIPC_ENOCLIENT;
    rc = send_one(c, buf, len, &deadline, 0);
    smipc_conn_unref(c);
    return rc;
}

/* ---- zero-copy sending ---- */

SMIPC_EXPORT int smipc_server_loan(smipc_server *srv, smipc_client_id to, void **buf, size_t len,
                                   int timeout_ms)
{
    if (!srv || !buf)
        return SMIPC_EINVAL;
    int rc = usable(srv);
    if (rc)
        return rc;
    struct smipc_lazy_deadline deadline = {timeout_ms, 0};
    struct smipc_conn *c = conn_get(srv, to);
    if (!c)
        return SMIPC_ENOCLIENT;
    uint32_t gen = atomic_load_explicit(&c->link.cancel_gen, memory_order_relaxed);
    rc = atomic_load(&c->link.state) != SMIPC_LINK_OPEN ? SMIPC_ECLOSED
                                                        : smipc_call_lock(&c->send_lock, &deadline);
    if (!rc) {
        c->link.tx_gen = gen;
        c->link.tx_flags = 0;
        rc = smipc_link_loan(&c->link, len, buf, smipc_deadline_now(&deadline));
        if (rc)
            smipc_call_unlock(&c->send_lock);
    }
    if (rc) {
        smipc_conn_unref(c);
        return rc;
    }
    pthread_mutex_lock(&srv->lock); /* kept, with its reference, until commit or cancel */
    c->next_loan = srv->loans;
    srv->loans = c;
    pthread_mutex_unlock(&srv->lock);
    return SMIPC_OK;
}

/* Takes the connection with a loan out to `to` off the list (NULL if none), unless the
 * loan is shorter than n: then it stays there, and *too_long says so. */
static struct smipc_conn *take_loan(smipc_server *srv, smipc_client_id to, size_t n, int *too_long)
{
    pthread_mutex_lock(&srv->lock);
    struct smipc_conn **p = &srv->loans;
    while (*p && (*p)->id != to)
        p = &(*p)->next_loan;
    struct smipc_conn *c = *p;
    *too_long = c && n > c->link.loan_len;
    if (c && !*too_long)
        *p = c->next_loan;
    pthread_mutex_unlock(&srv->lock);
    return *too_long ? NULL : c;
}

SMIPC_EXPORT int smipc_server_commit(smipc_server *srv, smipc_client_id to, size_t n)
{
    int too_long;
    struct smipc_conn *c = srv ? take_loan(srv, to, n, &too_long) : NULL;
    if (!c)
        return SMIPC_EINVAL; /* no loan; or more than it: the loan stays */
    int rc = usable(srv) ? SMIPC_ECLOSED : smipc_link_commit(&c->link, n);
    smipc_link_cancel_loan(&c->link);
    smipc_call_unlock(&c->send_lock);
    smipc_conn_unref(c);
    return rc;
}

SMIPC_EXPORT int smipc_server_cancel_loan(smipc_server *srv, smipc_client_id to)
{
    int too_long;
    struct smipc_conn *c = srv ? take_loan(srv, to, 0, &too_long) : NULL;
    if (!c)
        return SMIPC_EINVAL;
    smipc_link_cancel_loan(&c->link);
    smipc_call_unlock(&c->send_lock);
    smipc_conn_unref(c);
    return SMIPC_OK;
}

SMIPC_EXPORT int smipc_server_pin_loan(smipc_server *srv, smipc_client_id to, void **pin)
{
    if (!srv || !pin)
        return SMIPC_EINVAL;
    pthread_mutex_lock(&srv->lock);
    struct smipc_conn *c = srv->loans;
    while (c && c->id != to)
        c = c->next_loan;
    struct smipc_mapping *m = c ? c->mapping : NULL;
    if (m) /* its memory, not the connection, as smipc_server_pin */
        smipc_mapping_ref(m);
    pthread_mutex_unlock(&srv->lock);
    *pin = m;
    return m ? SMIPC_OK : SMIPC_EINVAL;
}

SMIPC_EXPORT int smipc_server_cancel_sends(smipc_server *srv, smipc_client_id to)
{
    if (!srv)
        return SMIPC_EINVAL;
    int rc = usable(srv);
    if (rc)
        return rc;
    pthread_mutex_lock(&srv->lock);
    long i = -1;
    if (to == 0) { /* every client, and the broadcasts */
        atomic_fetch_add(&srv->broadcast_cancel_gen, 1);
        for (size_t k = 0; k < srv->nconns; k++)
            atomic_fetch_add(&srv->conns[k]->link.cancel_gen, 1);
    } else if ((i = smipc_conn_find(srv, to)) >= 0) {
        atomic_fetch_add(&srv->conns[i]->link.cancel_gen, 1);
    }
    pthread_mutex_unlock(&srv->lock);
    return to == 0 || i >= 0 ? SMIPC_OK : SMIPC_ENOCLIENT;
}

static int peer_alive(struct smipc_conn *c)
{
    struct pollfd p = {.fd = c->ctl_fd, .events = POLLIN};
    if (poll(&p, 1, 0) == 0)
        return 1;
    int open = SMIPC_LINK_OPEN;
    atomic_compare_exchange_strong(&c->link.state, &open, SMIPC_LINK_GONE);
    return 0;
}

#define BROADCAST_RECHECK_MS 10 /* a lost wake-up, or a lock another sender held, costs this */

/* One try at a client, never waiting: SMIPC_OK, SMIPC_AGAIN (no room now, or another
 * thread is sending to it), or why it can never get it. */
static int broadcast_try(struct smipc_conn *c, const void *buf, size_t len)
{
    if (atomic_load(&c->link.state) != SMIPC_LINK_OPEN)
        return SMIPC_ECLOSED;
    if (!smipc_call_trylock(&c->send_lock))
        return SMIPC_AGAIN;
    c->link.tx_flags = SMIPC_MSG_BROADCAST;
    int rc = smipc_link_try_send(&c->link, buf, len);
    if (rc == SMIPC_AGAIN && atomic_load(&c->link.state) != SMIPC_LINK_OPEN)
        rc = SMIPC_ECLOSED;
    smipc_call_unlock(&c->send_lock);
    return rc;
}

/* smipc_server_cancel_sends(srv, 0) since the broadcast began. */
static int cancelled(smipc_server *srv, uint32_t gen)
{
    return atomic_load_explicit(&srv->broadcast_cancel_gen, memory_order_relaxed) != gen;
}

/* Waits until one of the clients still owed the message may have room (or is gone). */
static int broadcast_wait(struct smipc_conn **owed, size_t n, size_t len, int64_t deadline,
                          struct pollfd *pfd)
{
    int ms = smipc_poll_ms(deadline);
    if (ms < 0 || ms > BROADCAST_RECHECK_MS)
        ms = BROADCAST_RECHECK_MS;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct smipc_conn *c = owed[i];
        if (!smipc_call_trylock(&c->send_lock))
            continue; /* another sender's: looked at again after the recheck */
        int ready = smipc_link_arm_tx(&c->link, len);
        smipc_call_unlock(&c->send_lock);
        if (ready)
            return SMIPC_OK;
        pfd[k++] = (struct pollfd){.fd = c->link.tx.room_fd, .events = POLLIN};
        pfd[k++] = (struct pollfd){.fd = c->ctl_fd, .events = POLLIN};
    }
    if (poll(pfd, k, ms) < 0 && errno != EINTR)
        return SMIPC_ESYS;
    for (size_t i = 0; i < k; i += 2)
        if (pfd[i].revents & POLLIN)
            smipc_wake_drain(pfd[i].fd);
    return SMIPC_OK;
}

/* What a broadcast got so far: clients reached, and the first failure that counts (a
 * client that died meanwhile is not an error, just not counted). */
struct tally {
    size_t ok;
    int first;
};

static void tally_add(struct tally *t, int rc)
{
    if (rc == SMIPC_OK)
        t->ok++;
    else if (rc != SMIPC_ECLOSED && !t->first)
        t->first = rc;
}

/* Tries each of the n clients once; those with no room yet stay, in order, at the front
 * of snap (their references kept): how many. A client that died and is not reaped yet
 * must not be counted: ask the kernel (one poll per client; broadcast is not the
 * per-message hot path). */
static size_t broadcast_pass(struct smipc_conn **snap, size_t n, const void *buf, size_t len,
                             struct tally *t, struct smipc_lazy_deadline *deadline)
{
    size_t owed = 0;
    for (size_t i = 0; i < n; i++) {
        struct smipc_conn *c = snap[i];
        /* A message of a bulk area's size takes a while to copy to each of many clients:
         * with a timeout, those not reached in time are not (with 0, all are tried). */
        int late = deadline->timeout_ms > 0 && smipc_now_ns() >= smipc_deadline_now(deadline);
        int rc = late            ? SMIPC_ETIMEDOUT
                 : peer_alive(c) ? broadcast_try(c, buf, len)
                                 : SMIPC_ECLOSED;
        if (rc == SMIPC_AGAIN) {
            snap[owed++] = c;
            continue;
        }
        tally_add(t, rc);
        smipc_conn_unref(c);
    }
    return owed;
}

/* Every client with room gets the message at once; only the full ones are waited for,
 * all together, each served as soon as it has room. A message larger than a ring has to
 * stream: those go to one client after another. */
SMIPC_EXPORT int smipc_server_broadcast(smipc_server *srv, const void *buf, size_t len,
                                        int timeout_ms, size_t *delivered)
{
    if (delivered)
        *delivered = 0;
    if (!srv || (!buf && len))
        return SMIPC_EINVAL;
    int rc = usable(srv);
    if (rc)
        return rc;
    if (len > srv->params.max_message_size)
        return SMIPC_EMSGSIZE;
    struct smipc_lazy_deadline deadline = {timeout_ms, 0};
    /* read before the snapshot: a cancel from here on stops this broadcast */
    uint32_t gen = atomic_load_explicit(&srv->broadcast_cancel_gen, memory_order_relaxed);
    pthread_mutex_lock(&srv->lock);
    size_t n = 0, cap = srv->nconns ? srv->nconns : 1;
    struct smipc_conn **snap = malloc(cap * sizeof *snap);
    struct pollfd *pfd = malloc(2 * cap * sizeof *pfd);
    if (snap && pfd)
        for (size_t i = 0; i < srv->nconns; i++)
            if (atomic_load(&srv->conns[i]->link.state) == SMIPC_LINK_OPEN) {
                snap[n++] = srv->conns[i];
                smipc_conn_ref(srv->conns[i]);
            }
    pthread_mutex_unlock(&srv->lock);
    if (!snap || !pfd) {
        free(snap);
        free(pfd);
        return SMIPC_ENOMEM;
    }
    struct tally t = {0, SMIPC_OK};
    size_t owed = broadcast_pass(snap, n, buf, len, &t, &deadline);
    /* every ring of a server has its limits (snap[0] may be freed by now) */
    int fits = smipc_link_fits_whole(&srv->params, len);
    while (owed) {
        int64_t until = smipc_deadline_now(&deadline);
        if (!fits) { /* streams: one after another, each until the deadline */
            for (size_t i = 0; i < owed; i++) {
                /* once the time is up, no more: a send would still copy all the room a
                 * client has (a bulk area: megabytes) before it found it must wait */
                int late = timeout_ms >= 0 && smipc_now_ns() >= smipc_deadline_now(&deadline);
                tally_add(&t, late || cancelled(srv, gen)
                                  ? SMIPC_ETIMEDOUT
                                  : send_one(snap[i], buf, len, &deadline, SMIPC_MSG_BROADCAST));
                smipc_conn_unref(snap[i]);
            }
            break;
        }
        int r = smipc_now_ns() >= until || cancelled(srv, gen)
                    ? SMIPC_ETIMEDOUT
                    : broadcast_wait(snap, owed, len, until, pfd);
        if (r) {
            tally_add(&t, r);
            while (owed)
                smipc_conn_unref(snap[--owed]);
            break;
        }
        owed = broadcast_pass(snap, owed, buf, len, &t, &deadline);
    }
    free(snap);
    free(pfd);
    if (delivered)
        *delivered = t.ok;
    /* every client "gone" because the handle was shut down is not a success */
    if (atomic_load_explicit(&srv->shut, memory_order_acquire))
        return SMIPC_ECLOSED;
    return t.first;
}

/* ---- inspecting ---- */

SMIPC_EXPORT int smipc_server_clients(smipc_server *srv, smipc_client_id *ids, size_t cap,
                                      size_t *count)
{
    if (!srv || !count || (!ids && cap))
        return SMIPC_EINVAL;
    int rc = usable(srv);
    if (rc)
        return rc;
    size_t n = 0;
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->nconns; i++) {
        struct smipc_conn *c = srv->conns[i];
        if (atomic_load(&c->link.state) != SMIPC_LINK_OPEN)
            continue;
        if (n < cap)
            ids[n] = c->id;
        n++;
    }
    pthread_mutex_unlock(&srv->lock);
    *count = n;
    return SMIPC_OK;
}

SMIPC_EXPORT int smipc_server_fd(smipc_server *srv)
{
    if (!srv)
        return SMIPC_EINVAL;
    if (usable(srv))
        return SMIPC_ECLOSED;
    /* As smipc_client_fd: arming every ring is a receive's work, under its lock; while a
     * receive holds that, the fd is made readable once instead. */
    if (!atomic_exchange(&srv->fd_mode, 1)) {
        if (smipc_call_trylock(&srv->recv_lock)) {
            keep_fd_level(srv);
            smipc_call_unlock(&srv->recv_lock);
        } else {
            smipc_efd_signal(srv->notify_efd);
        }
    }
    return srv->recv_epfd;
}

SMIPC_EXPORT int smipc_server_config_of(const smipc_server *srv, smipc_server_config *cfg)
{
    if (!srv || !cfg)
        return SMIPC_EINVAL;
    *cfg = srv->cfg;
    return SMIPC_OK;
}

#include "testing.h"

void *smipc_testing_server_segment(smipc_server *srv, smipc_client_id id, size_t *size)
{
    void *map = NULL;
    pthread_mutex_lock(&srv->lock);
    long i = smipc_conn_find(srv, id);
    if (i >= 0) {
        map = srv->conns[i]->map;
        *size = srv->conns[i]->map_size;
    }
    pthread_mutex_unlock(&srv->lock);
    return map;
}

int smipc_testing_server_reap_while_receiving(smipc_server *srv)
{
    if (smipc_call_trylock(&srv->recv_lock)) {
        smipc_call_unlock(&srv->recv_lock);
        return 0; /* no receive under way yet */
    }
    atomic_store(&srv->reap_wanted, 1); /* what the server's thread does on a departure */
    return 1;
}

void smipc_testing_server_park_budget(smipc_server *srv, size_t bytes)
{
    srv->park_budget = bytes;
}
