/* Connection objects and the server's table of them. A connection's descriptors and
 * memory live until its last reference goes, so no thread ever uses a closed fd. */
#include "clock.h"
#include "server_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static void conn_free(struct smipc_conn *c)
{
    smipc_close_fd(&c->ctl_fd);
    for (int i = 0; i < 4; i++)
        smipc_close_fd(&c->wake_fds[i]);
    smipc_mapping_unref(c->mapping); /* unmaps, unless pins keep it */
    smipc_link_release(&c->link);
    free(c);
}

void smipc_conn_ref(struct smipc_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void smipc_conn_unref(struct smipc_conn *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        conn_free(c);
}

/* One wake-up channel: a datagram socket pair, one end each. Each side's end is a file
 * of its own, so neither can change how the other's sends and receives behave. */
static int wake_pair(int *ours, int *theirs)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return errno == ENOMEM || errno == ENOBUFS ? SMIPC_ENOMEM : SMIPC_ESYS;
    *ours = sv[0];
    *theirs = sv[1];
    return SMIPC_OK;
}

int smipc_conn_create(smipc_server *srv, int ctl_fd, pid_t pid, uid_t uid, int *memfd,
                      int peer_fds[4], struct smipc_conn **out)
{
    *memfd = -1;
    for (int i = 0; i < 4; i++)
        peer_fds[i] = -1;
    struct smipc_conn *c = calloc(1, sizeof *c);
    if (!c)
        return SMIPC_ENOMEM;
    c->ctl_fd = -1;
    for (int i = 0; i < 4; i++)
        c->wake_fds[i] = -1;
    smipc_call_lock_init(&c->send_lock);
    atomic_init(&c->refs, 1);
    pthread_mutex_lock(&srv->lock);
    c->id = srv->next_id++;
    pthread_mutex_unlock(&srv->lock);
    int rc = smipc_segment_create(&srv->params, c->id, memfd, &c->map, &c->map_size);
    if (!rc && !(c->mapping = smipc_mapping_new(c->map, c->map_size))) {
        munmap(c->map, c->map_size);
        rc = SMIPC_ENOMEM;
    }
    for (int i = 0; !rc && i < 4; i++)
        rc = wake_pair(&c->wake_fds[i], &peer_fds[i]);
    if (rc) {
        /* nothing made here outlives a failure (out of descriptors, say) */
        SMIPC_KEEP_ERRNO({
            smipc_close_fd(memfd);
            for (int i = 0; i < 4; i++)
                smipc_close_fd(&peer_fds[i]);
            conn_free(c);
        });
        return rc;
    }
    c->ctl_fd = ctl_fd;
    c->pid = pid;
    c->uid = uid;
    c->connected_ns = smipc_now_ns();
    smipc_link_init(&c->link, c->map, &srv->params, 1, c->wake_fds, ctl_fd);
    c->link.parked_bytes = &srv->parked_bytes;
    c->link.park_budget = srv->park_budget;
    c->link.bulk_idle_ns = srv->bulk_idle_ns;
    c->link.bulk_sweep = &srv->bulk_sweep;
    c->link.bulk_sweep_efd = srv->sweep_efd;
    *out = c;
    return SMIPC_OK;
}

/* Under srv->lock, after the table changed: tells the receive view (conns_gen), and the
 * server's links and every client how many clients there are (the ring header's load
 * hint). */
static void publish_load(smipc_server *srv)
{
    atomic_fetch_add_explicit(&srv->conns_gen, 1, memory_order_release);
    uint32_t n = (uint32_t)srv->nconns;
    atomic_store_explicit(&srv->load, n, memory_order_relaxed);
    for (size_t i = 0; i < srv->nconns; i++)
        if (srv->conns[i]->map) /* a forked child has no segments (MADV_DONTFORK) */
            atomic_store_explicit(&srv->conns[i]->link.tx.hdr->load, n, memory_order_relaxed);
}

long smipc_conn_find(smipc_server *srv, smipc_client_id id)
{
    for (size_t i = 0; i < srv->nconns; i++)
        if (srv->conns[i]->id == id)
            return (long)i;
    return -1;
}

int smipc_conn_add(smipc_server *srv, struct smipc_conn *c)
{
    if (srv->nconns == srv->cap) {
        size_t cap = srv->cap ? srv->cap * 2 : 16;
        struct smipc_conn **n = realloc(srv->conns, cap * sizeof *n);
        if (!n)
            return SMIPC_ENOMEM;
        srv->conns = n;
        srv->cap = cap;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = c->id};
    if (epoll_ctl(srv->recv_epfd, EPOLL_CTL_ADD, c->link.rx.data_fd, &ev) != 0)
        return SMIPC_ESYS;
    srv->conns[srv->nconns++] = c;
    c->link.load = &srv->load;
    publish_load(srv);
    return SMIPC_OK;
}

void smipc_conn_remove_at(smipc_server *srv, size_t i)
{
    struct smipc_conn *c = srv->conns[i];
    memmove(&srv->conns[i], &srv->conns[i + 1], (srv->nconns - i - 1) * sizeof c);
    srv->nconns--;
    publish_load(srv);
    epoll_ctl(srv->recv_epfd, EPOLL_CTL_DEL, c->link.rx.data_fd, NULL);
    epoll_ctl(srv->thread_epfd, EPOLL_CTL_DEL, c->ctl_fd, NULL);
    /* Mark it so a sender still holding a reference stops at once, and tell the client
     * now: the receive view may keep the socket open a little longer. */
    int open = SMIPC_LINK_OPEN;
    atomic_compare_exchange_strong(&c->link.state, &open, SMIPC_LINK_GONE);
    shutdown(c->ctl_fd, SHUT_RDWR);
    smipc_conn_unref(c);
}

/* Queues c's departure for smipc_server_recv_event (with recv_lock held). */
static void note_departure(smipc_server *srv, struct smipc_conn *c)
{
    if (srv->nleft == SMIPC_DEPARTURES_MAX) { /* nobody asks: forget the oldest */
        memmove(srv->left, srv->left + 1, (srv->nleft - 1) * sizeof *srv->left);
        srv->nleft--;
    }
    if (srv->nleft == srv->left_cap) {
        size_t cap = srv->left_cap ? srv->left_cap * 2 : 16;
        struct smipc_departure *n = realloc(srv->left, cap * sizeof *n);
        if (!n)
            return; /* out of memory: this departure goes untold */
        srv->left = n;
        srv->left_cap = cap;
    }
    srv->left[srv->nleft].id = c->id;
    srv->left[srv->nleft].join_told = atomic_load(&c->join_told);
    srv->nleft++;
}

void smipc_server_reap(smipc_server *srv)
{
    atomic_store(&srv->reap_wanted, 0);
    pthread_mutex_lock(&srv->lock);
    /* Departed clients whose last messages are still unread stay, so that those are
     * delivered; but a server that never receives would keep them (their descriptors and
     * segments) for ever: beyond max_clients of them, the oldest go. */
    size_t lingering = 0;
    for (size_t i = srv->nconns; i-- > 0;) {
        struct smipc_conn *c = srv->conns[i];
        int st = atomic_load(&c->link.state);
        if (st == SMIPC_LINK_OPEN)
            continue;
        /* Messages sent before the client went are still delivered; a message it was
         * cut off in the middle of is not. */
        if (st == SMIPC_LINK_GONE && smipc_link_rx_ready(&c->link) &&
            ++lingering <= srv->cfg.max_clients)
            continue;
        smipc_link_discard(&c->link);
        if (srv->cfg.flags & SMIPC_EVENTS)
            note_departure(srv, c);
        smipc_conn_remove_at(srv, i);
    }
    pthread_mutex_unlock(&srv->lock);
}

int smipc_server_view_renew(smipc_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    size_t n = srv->nconns;
    if (n > srv->view_cap) {
        size_t cap = srv->view_cap ? srv->view_cap : 16;
        while (cap < n)
            cap *= 2;
        struct smipc_conn **v = realloc(srv->view, cap * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&srv->lock);
            return SMIPC_ENOMEM;
        }
        srv->view = v;
        srv->view_cap = cap;
    }
    /* Whoever was next in turn stays next, wherever the table put it. */
    struct smipc_conn *next = srv->nview ? srv->view[srv->rr % srv->nview] : NULL;
    srv->rr = 0;
    for (size_t i = 0; i < n; i++) {
        smipc_conn_ref(srv->conns[i]);
        if (srv->conns[i] == next)
            srv->rr = i;
    }
    for (size_t i = 0; i < srv->nview; i++)
        smipc_conn_unref(srv->view[i]); /* never the last for a listed one */
    if (n)
        memcpy(srv->view, srv->conns, n * sizeof *srv->view);
    srv->nview = n;
    srv->view_gen = atomic_load_explicit(&srv->conns_gen, memory_order_relaxed);
    pthread_mutex_unlock(&srv->lock);
    return SMIPC_OK;
}

void smipc_server_view_clear(smipc_server *srv)
{
    for (size_t i = 0; i < srv->nview; i++)
        smipc_conn_unref(srv->view[i]);
    srv->nview = 0;
    free(srv->view);
    srv->view = NULL;
    srv->view_cap = 0;
}

void smipc_server_reap_soon(smipc_server *srv)
{
    atomic_store(&srv->reap_wanted, 1);
    if (smipc_call_trylock(&srv->recv_lock)) {
        smipc_server_reap(srv);
        smipc_server_view_renew(srv); /* frees what the reap let go (or at the next one) */
        smipc_call_unlock(&srv->recv_lock);
    }
    /* else the receive under way reaps before it returns */
}
