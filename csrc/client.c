/* smipc_client_*: connect through the server's socket, then talk through the segment. */
#include "call_lock.h"
#include "clock.h"
#include "control.h"
#include "fork_guard.h"
#include "internal.h"
#include "link.h"
#include "mapping.h"
#include "name.h"
#include "segment.h"

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONNECT_ANSWER_MS 250 /* how long a connect with timeout 0 waits for the welcome */

struct smipc_client {
    struct smipc_forkable fork; /* first: the fork handlers cast back to the client */
    struct smipc_link link;
    struct smipc_call_lock send_lock, recv_lock;
    /* Held while a descriptor is made or received and stored here, and by the fork
     * handlers: a fork never falls in between, so a child always finds (and closes) every
     * descriptor a connect in another thread holds at that moment. */
    pthread_mutex_t setup_lock;
    int ctl_fd, epfd, memfd;
    int wake_fds[4];     /* our ends: c2s data, c2s room, s2c data, s2c room */
    int level_efd;       /* our own eventfd in epfd: readable while a message is queued */
    _Atomic int fd_mode; /* smipc_client_fd was asked for: keep it level-triggered */
    void *map;
    size_t map_size;
    struct smipc_mapping *mapping; /* owns map: pins may keep it past the close */
    smipc_client_id id;
    smipc_server_config cfg;
    /* recv_view of a message not in one piece in place: a private copy, kept for reuse */
    unsigned char *view_copy;
    size_t view_copy_cap;
    int viewing; /* a view is out (under recv_lock, which it holds) */
};

static void close_fds(smipc_client *c)
{
    smipc_close_fd(&c->ctl_fd);
    smipc_close_fd(&c->epfd);
    smipc_close_fd(&c->memfd);
    smipc_close_fd(&c->level_efd);
    for (int i = 0; i < 4; i++)
        smipc_close_fd(&c->wake_fds[i]);
}

static void client_fork_prepare(struct smipc_forkable *f)
{
    pthread_mutex_lock(&((smipc_client *)f)->setup_lock);
}

static void client_fork_parent(struct smipc_forkable *f)
{
    pthread_mutex_unlock(&((smipc_client *)f)->setup_lock);
}

static void client_forked_child(struct smipc_forkable *f)
{
    smipc_client *c = (smipc_client *)f;
    close_fds(c);
    c->link.ctl_fd = -1;
    c->map = NULL; /* MADV_DONTFORK: the child never had it */
    atomic_store(&c->link.state, SMIPC_LINK_GONE);
    pthread_mutex_unlock(&c->setup_lock);
}

/* A handle with nothing open yet, known to the fork handlers from the start. */
static smipc_client *client_new(void)
{
    smipc_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ctl_fd = c->epfd = c->memfd = c->level_efd = -1;
    for (int i = 0; i < 4; i++)
        c->wake_fds[i] = -1;
    pthread_mutex_init(&c->setup_lock, NULL);
    smipc_call_lock_init(&c->send_lock);
    smipc_call_lock_init(&c->recv_lock);
    c->fork.prepare = client_fork_prepare;
    c->fork.parent = client_fork_parent;
    c->fork.child = client_forked_child;
    smipc_fork_register(&c->fork);
    return c;
}

static void client_free(smipc_client *c)
{
    free(c->view_copy);
    smipc_fork_unregister(&c->fork);
    close_fds(c);
    smipc_mapping_unref(c->mapping); /* unmaps, unless pins keep it */
    smipc_link_release(&c->link);
    pthread_mutex_destroy(&c->setup_lock);
    free(c);
}

/* What a welcome's wake-up descriptors must be: a Unix datagram socket (the client's end
 * of a pair). Anything else (a pipe, an eventfd, a stream) a hostile server could make
 * block, raise SIGPIPE or read as ready for ever. */
static int is_wake_socket(int fd)
{
    struct stat st;
    int type = 0, domain = 0;
    socklen_t tl = sizeof type, dl = sizeof domain;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
           getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_DGRAM &&
           getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl) == 0 && domain == AF_UNIX;
}

/* Says hello and takes the welcome; its descriptors land in c (memfd, wake_fds). */
static int handshake(smipc_client *c, int64_t deadline, struct smipc_welcome *w)
{
    int fd = c->ctl_fd;
    struct smipc_hello hello = {SMIPC_MAGIC, SMIPC_PROTOCOL_VERSION, SMIPC_HELLO_CONNECT, 0};
    int rc = smipc_ctl_send(fd, &hello, sizeof hello, NULL, 0);
    if (rc)
        return errno == EPIPE || errno == ECONNRESET ? SMIPC_ECLOSED : rc;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, smipc_poll_ms(deadline));
        if (n < 0 && errno != EINTR)
            return SMIPC_ESYS;
        if (n == 0)
            return SMIPC_ETIMEDOUT;
        size_t got = 0;
        int nfds = 0, fds[SMIPC_WELCOME_FDS];
        pthread_mutex_lock(&c->setup_lock);
        rc = smipc_ctl_recv(fd, w, sizeof *w, &got, fds, SMIPC_WELCOME_FDS, &nfds);
        if (!rc && nfds == SMIPC_WELCOME_FDS) {
            c->memfd = fds[0];
            memcpy(c->wake_fds, fds + 1, sizeof c->wake_fds);
        } else {
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
        }
        pthread_mutex_unlock(&c->setup_lock);
        if (rc == SMIPC_AGAIN)
            continue;
        if (rc)
            return errno == ECONNRESET ? SMIPC_ECLOSED : rc;
        if (got == 0)
            return SMIPC_ECLOSED; /* the server went away mid-handshake */
        if (got != sizeof *w || w->magic != SMIPC_MAGIC || w->version != SMIPC_PROTOCOL_VERSION)
            rc = SMIPC_EPROTO;
        else if (w->status != SMIPC_OK)
            rc = w->status < 0 && w->status >= SMIPC_ESYS ? w->status : SMIPC_EPROTO;
        else if (nfds != SMIPC_WELCOME_FDS)
            rc = SMIPC_EPROTO;
        for (int i = 0; !rc && i < 4; i++)
            if (!is_wake_socket(c->wake_fds[i]))
                rc = SMIPC_EPROTO;
        if (rc == SMIPC_ESYS) /* the server's reason, not whatever errno we had */
            errno = w->sys_errno > 0 && w->sys_errno < 4096 ? w->sys_errno : EIO;
        return rc;
    }
}

static int epoll_add(int epfd, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? SMIPC_OK : SMIPC_ESYS;
}

/* The rest of a connect once c->ctl_fd is connected: the handshake, then the segment. */
static int client_setup(smipc_client *c, int64_t deadline)
{
    struct smipc_welcome w;
    int rc = handshake(c, deadline, &w);
    if (rc)
        return rc;
    /* Held to the same limits as a server's config (smipc_segment_size), and then only
     * these copies are used: the segment's own header is checked once, never read again. */
    struct smipc_seg_params p = {w.packet_size,      w.ring_packets, w.flags,
                                 w.max_message_size, w.bulk_size,    w.bulk_slots};
    rc = smipc_segment_map(c->memfd, &p, w.client_id, &c->map, &c->map_size);
    smipc_close_fd(&c->memfd); /* the mapping keeps the memory; nothing else needs it */
    if (rc)
        return rc;
    c->mapping = smipc_mapping_new(c->map, c->map_size);
    if (!c->mapping) {
        munmap(c->map, c->map_size);
        return SMIPC_ENOMEM;
    }
    pthread_mutex_lock(&c->setup_lock);
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    c->level_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_unlock(&c->setup_lock);
    rc = c->epfd < 0 || c->level_efd < 0 ? SMIPC_ESYS : epoll_add(c->epfd, c->wake_fds[2]);
    if (!rc)
        rc = epoll_add(c->epfd, c->ctl_fd);
    if (!rc)
        rc = epoll_add(c->epfd, c->level_efd);
    if (rc)
        return rc;
    smipc_link_init(&c->link, c->map, &p, 0, c->wake_fds, c->ctl_fd);
    c->link.bulk_idle_ns = smipc_bulk_idle_ns();
    c->id = w.client_id;
    smipc_server_config_init(&c->cfg);
    c->cfg.packet_size = w.packet_size;
    c->cfg.ring_packets = w.ring_packets;
    c->cfg.max_message_size = w.max_message_size;
    c->cfg.bulk_size = w.bulk_size;
    c->cfg.bulk_slots = w.bulk_slots;
    c->cfg.flags = (w.flags & SMIPC_SEG_CHECKSUM) ? 0 : SMIPC_NO_CHECKSUM;
    c->cfg.max_clients = 0; /* not the client's to know */
    return SMIPC_OK;
}

SMIPC_EXPORT int smipc_client_connect(smipc_client **out, const char *name, int timeout_ms)
{
    if (!out)
        return SMIPC_EINVAL;
    *out = NULL;
    char path[SMIPC_PATH_MAX], dir[PATH_MAX];
    int rc = smipc_name_resolve(name, 0, path, dir);
    if (rc)
        return rc;
    int64_t deadline = smipc_deadline(timeout_ms);
    smipc_client *c = client_new();
    if (!c)
        return SMIPC_ENOMEM;
    pthread_mutex_lock(&c->setup_lock);
    c->ctl_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    pthread_mutex_unlock(&c->setup_lock);
    rc = c->ctl_fd < 0 ? SMIPC_ESYS : smipc_ctl_connect_fd(c->ctl_fd, path, deadline);
    /* Even "never block" must let a live server's thread answer the hello: with timeout 0
     * a connect waits for nothing else (no full backlog), but for the answer a little. */
    if (!rc)
        rc = client_setup(c, timeout_ms ? deadline : smipc_deadline(CONNECT_ANSWER_MS));
    if (rc) {
        SMIPC_KEEP_ERRNO(client_free(c));
        return rc;
    }
    *out = c;
    return SMIPC_OK;
}

#define WAIT_RECHECK_MIN_MS 5   /* a socket there that refuses: a server between bind and */
#define WAIT_RECHECK_MAX_MS 100 /* listen, or a stale one; looked at again, backing off */

SMIPC_EXPORT int smipc_client_connect_wait(smipc_client **out, const char *name, int timeout_ms)
{
    if (!out)
        return SMIPC_EINVAL;
    *out = NULL;
    char path[SMIPC_PATH_MAX], dir[PATH_MAX];
    int rc = smipc_name_resolve(name, 1, path, dir);
    if (rc)
        return rc;
    int64_t deadline = smipc_deadline(timeout_ms);
    /* Watched before the first try, so that a server coming up in between is not missed. */
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino < 0)
        return SMIPC_ESYS;
    if (inotify_add_watch(ino, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB) < 0) {
        SMIPC_KEEP_ERRNO(close(ino));
        return errno == ENOENT ? SMIPC_ENOTFOUND : errno == EACCES ? SMIPC_EACCES : SMIPC_ESYS;
    }
    int recheck_ms = WAIT_RECHECK_MIN_MS;
    for (int tries = 0;; tries++) {
        int left = smipc_poll_ms(deadline);
        if (tries && left == 0) { /* a connect now could take 250 ms past the timeout */
            rc = SMIPC_ETIMEDOUT;
            break;
        }
        rc = smipc_client_connect(out, name, timeout_ms < 0 ? -1 : left);
        if (rc != SMIPC_ENOTFOUND)
            break;
        int ms = smipc_poll_ms(deadline);
        if (ms == 0) {
            rc = SMIPC_ETIMEDOUT;
            break;
        }
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            if (ms < 0 || ms > recheck_ms)
                ms = recheck_ms;
            recheck_ms =
                recheck_ms * 2 > WAIT_RECHECK_MAX_MS ? WAIT_RECHECK_MAX_MS : recheck_ms * 2;
        }
        struct pollfd p = {.fd = ino, .events = POLLIN};
        int n = poll(&p, 1, ms);
        if (n < 0 && errno != EINTR) {
            rc = SMIPC_ESYS;
            break;
        }
        if (n > 0) {
            char events[4096];
            while (read(ino, events, sizeof events) > 0)
                ;
            recheck_ms = WAIT_RECHECK_MIN_MS;
        }
    }
    SMIPC_KEEP_ERRNO(close(ino));
    return rc;
}

SMIPC_EXPORT void smipc_client_close(smipc_client *cli)
{
    if (cli)
        client_free(cli);
}

static int usable(const smipc_client *cli)
{
    return smipc_fork_inherited(&cli->fork) ? SMIPC_ECLOSED : SMIPC_OK;
}

static void break_link(smipc_client *cli)
{
    atomic_store(&cli->link.state, SMIPC_LINK_BROKEN);
    /* The server drops us at once, and every call of ours asleep in poll() on this socket
     * wakes up: shutting down our own end makes it readable here too. */
    shutdown(cli->ctl_fd, SHUT_RDWR);
}

SMIPC_EXPORT void smipc_client_shutdown(smipc_client *cli)
{
    if (cli && !usable(cli))
        break_link(cli);
}

SMIPC_EXPORT int smipc_client_send(smipc_client *cli, const void *buf, size_t len, int timeout_ms)
{
    if (!cli || (!buf && len))
        return SMIPC_EINVAL;
    int rc = usable(cli);
    if (rc)
        return rc;
    struct smipc_lazy_deadline deadline = {timeout_ms, 0};
    /* read before the lock: a cancel while this send waits for it counts */
    uint32_t gen = atomic_load_explicit(&cli->link.cancel_gen, memory_order_relaxed);
    rc = smipc_call_lock(&cli->send_lock, &deadline);
    if (rc)
        return rc;
    cli->link.tx_gen = gen;
    rc = atomic_load_explicit(&cli->link.cancel_gen, memory_order_relaxed) != gen
             ? SMIPC_ETIMEDOUT
             : smipc_link_try_send(&cli->link, buf, len);
    if (rc == SMIPC_AGAIN)
        rc = smipc_link_send(&cli->link, buf, len, smipc_deadline_now(&deadline));
    smipc_call_unlock(&cli->send_lock);
    return rc;
}

SMIPC_EXPORT void smipc_client_cancel_sends(smipc_client *cli)
{
    if (cli)
        atomic_fetch_add(&cli->link.cancel_gen, 1);
}

/* In event-loop mode the fd must stay readable while a message is queued. */
static void keep_fd_level(smipc_client *cli)
{
    if (atomic_load_explicit(&cli->fd_mode, memory_order_relaxed) &&
        smipc_link_arm_rx(&cli->link)) {
        smipc_link_disarm_rx(&cli->link);
        smipc_efd_signal(cli->level_efd);
    }
}

/* A receive about to wait is a client at rest: the moment to give its idle bulk area back
 * whole, unless a send (or a loan) of its own is under way. */
static void trim_before_waiting(smipc_client *cli)
{
    if (atomic_load_explicit(&cli->link.tx_bulk_dirty, memory_order_relaxed) &&
        smipc_call_trylock(&cli->send_lock)) {
        smipc_link_trim_bulk(&cli->link, smipc_coarse_ns(), SIZE_MAX);
        smipc_call_unlock(&cli->send_lock);
    }
}

static int recv_locked(smipc_client *cli, void *buf, size_t *len,
                       struct smipc_lazy_deadline *deadline)
{
    struct smipc_link *l = &cli->link;
    size_t cap = *len;
    if (atomic_load_explicit(&cli->fd_mode, memory_order_relaxed)) {
        smipc_wake_drain(l->rx.data_fd);
        smipc_efd_drain(cli->level_efd);
    }
    for (;;) {
        int rc = smipc_link_recv_some(l, buf, cap, len);
        if (rc == SMIPC_OK || rc == SMIPC_ETOOSMALL)
            keep_fd_level(cli);
        else if (rc == SMIPC_EPROTO)
            break_link(cli);
        if (rc != SMIPC_AGAIN)
            return rc;
        if (deadline->timeout_ms != 0)
            trim_before_waiting(cli);
        rc = smipc_link_wait_rx(l, smipc_deadline_now(deadline));
        /* a message still arriving does not hold the call past its timeout: what came is
         * parked, and the next receive goes on with it */
        if (rc == SMIPC_OK && l->part.active && deadline->timeout_ms > 0 &&
            smipc_now_ns() >= deadline->at)
            rc = SMIPC_ETIMEDOUT;
        if (rc == SMIPC_OK)
            continue;
        if (rc == SMIPC_ETIMEDOUT) {
            int prc = smipc_link_park(l);
            return prc ? prc : rc;
        }
        smipc_link_discard(l); /* a message cut by the peer's death is never delivered */
        return rc;
    }
}

SMIPC_EXPORT int smipc_client_recv_flags(smipc_client *cli, uint32_t *flags, void *buf, size_t *len,
                                         int timeout_ms)
{
    if (!cli || !len || (!buf && *len))
        return SMIPC_EINVAL;
    int rc = usable(cli);
    if (rc)
        return rc;
    struct smipc_lazy_deadline deadline = {timeout_ms, 0};
    rc = smipc_call_lock(&cli->recv_lock, &deadline);
    if (rc)
        return rc;
    rc = recv_locked(cli, buf, len, &deadline);
    if (rc == SMIPC_OK && flags)
        *flags = cli->link.rx_flags;
    smipc_call_unlock(&cli->recv_lock);
    return rc;
}

SMIPC_EXPORT int smipc_client_recv(smipc_client *cli, void *buf, size_t *len, int timeout_ms)
{
    return smipc_client_recv_flags(cli, NULL, buf, len, timeout_ms);
}

/* ---- zero-copy ---- */

SMIPC_EXPORT int smipc_client_loan(smipc_client *cli, void **buf, size_t len, int timeout_ms)
{
    if (!cli || !buf)
        return SMIPC_EINVAL;
    int rc = usable(cli);
    if (rc)
        return rc;
    struct smipc_lazy_deadline deadline = {timeout_ms, 0};
    uint32_t gen = atomic_load_explicit(&cli->link.cancel_gen, memory_order_relaxed);
    rc = smipc_call_lock(&cli->send_lock, &deadline);
    if (rc)
        return rc;
    cli->link.tx_gen = gen;
    rc = smipc_link_loan(&cli->link, len, buf, smipc_deadline_now(&deadline));
    if (rc)
        smipc_call_unlock(&cli->send_lock); /* else held until commit or cancel */
    return rc;
}

SMIPC_EXPORT int smipc_client_commit(smipc_client *cli, size_t len)
{
    if (!cli || !cli->link.loan)
        return SMIPC_EINVAL;
    if (len > cli->link.loan_len)
        return SMIPC_EINVAL; /* the loan stays: commit less, or cancel */
    int rc = usable(cli) ? SMIPC_ECLOSED : smipc_link_commit(&cli->link, len);
    smipc_link_cancel_loan(&cli->link);
    smipc_call_unlock(&cli->send_lock);
    return rc;
}

SMIPC_EXPORT int smipc_client_cancel_loan(smipc_client *cli)
{
    if (!cli || !cli->link.loan)
        return SMIPC_EINVAL;
    smipc_link_cancel_loan(&cli->link);
    smipc_call_unlock(&cli->send_lock);
    return SMIPC_OK;
}

/* A message that is not in one piece in place is received into a private copy. */
static int view_by_copy(smipc_client *cli, const void **data, size_t *len,
                        struct smipc_lazy_deadline *deadline)
{
    for (;;) {
        size_t n = cli->view_copy_cap;
        int rc = recv_locked(cli, cli->view_copy, &n, deadline);
        if (rc == SMIPC_OK) {
            *data = cli->view_copy;
            *len = n;
            return SMIPC_OK;
        }
        if (rc != SMIPC_ETOOSMALL)
            return rc;
        unsigned char *bigger = realloc(cli->view_copy, n);
        if (!bigger)
            return SMIPC_ENOMEM; /* the message stays queued */
        cli->view_copy = bigger;
        cli->view_copy_cap = n;
    }
}

SMIPC_EXPORT int smipc_client_recv_view(smipc_client *cli, const void **data, size_t *len,
                                        uint32_t *flags, int timeout_ms)
{
    if (!cli || !data || !len)
        return SMIPC_EINVAL;
    int rc = usable(cli);
    if (rc)
        return rc;
    struct smipc_lazy_deadline deadline = {timeout_ms, 0};
    rc = smipc_call_lock(&cli->recv_lock, &deadline);
    if (rc)
        return rc;
    struct smipc_link *l = &cli->link;
    if (atomic_load_explicit(&cli->fd_mode, memory_order_relaxed)) {
        smipc_wake_drain(l->rx.data_fd);
        smipc_efd_drain(cli->level_efd);
    }
    int copied = 0;
    for (;;) {
        rc = smipc_link_view(l, data, len);
        if (rc == SMIPC_SPLIT) {
            rc = view_by_copy(cli, data, len, &deadline);
            copied = 1;
        } else if (rc == SMIPC_EPROTO)
            break_link(cli);
        if (rc != SMIPC_AGAIN)
            break;
        if (timeout_ms != 0)
            trim_before_waiting(cli);
        rc = smipc_link_wait_rx(l, smipc_deadline_now(&deadline));
        if (rc)
            break;
    }
    if (rc) {
        smipc_call_unlock(&cli->recv_lock);
        return rc;
    }
    if (flags)
        *flags = l->rx_flags | (copied ? SMIPC_MSG_COPY : 0);
    cli->viewing = 1; /* the receive lock stays held until release */
    return SMIPC_OK;
}

SMIPC_EXPORT int smipc_client_release(smipc_client *cli)
{
    if (!cli || !cli->viewing)
        return SMIPC_EINVAL;
    cli->viewing = 0;
    smipc_link_view_done(&cli->link); /* nothing when it was a copy */
    keep_fd_level(cli);
    smipc_call_unlock(&cli->recv_lock);
    return SMIPC_OK;
}

SMIPC_EXPORT int smipc_client_pin(smipc_client *cli, void **pin)
{
    if (!cli || !pin)
        return SMIPC_EINVAL;
    *pin = NULL;
    int rc = usable(cli);
    if (rc)
        return rc;
    smipc_mapping_ref(cli->mapping);
    *pin = cli->mapping;
    return SMIPC_OK;
}

SMIPC_EXPORT void smipc_client_unpin(void *pin)
{
    smipc_mapping_unref(pin);
}

SMIPC_EXPORT smipc_client_id smipc_client_id_of(const smipc_client *cli)
{
    return cli ? cli->id : 0;
}

SMIPC_EXPORT int smipc_client_fd(smipc_client *cli)
{
    if (!cli)
        return SMIPC_EINVAL;
    if (usable(cli) || atomic_load(&cli->link.state) == SMIPC_LINK_BROKEN)
        return SMIPC_ECLOSED;
    /* Arming the ring takes the receive lock. A thread blocked in a receive holds it:
     * never wait for that (it may be for ever); make the fd readable once instead, and
     * the event loop's first receive (timeout 0) takes what is queued or arms the ring. */
    if (!atomic_exchange(&cli->fd_mode, 1)) {
        if (smipc_call_trylock(&cli->recv_lock)) {
            keep_fd_level(cli);
            smipc_call_unlock(&cli->recv_lock);
        } else {
            smipc_efd_signal(cli->level_efd);
        }
    }
    return cli->epfd;
}

SMIPC_EXPORT int smipc_client_config_of(const smipc_client *cli, smipc_server_config *cfg)
{
    if (!cli || !cfg)
        return SMIPC_EINVAL;
    *cfg = cli->cfg;
    return SMIPC_OK;
}

#include "testing.h"

void *smipc_testing_client_segment(smipc_client *cli, size_t *size)
{
    *size = cli->map_size;
    return cli->map;
}

void smipc_testing_client_wake_fds(smipc_client *cli, int fds[4])
{
    memcpy(fds, cli->wake_fds, sizeof cli->wake_fds);
}

int smipc_testing_client_over(smipc_client **out, int ctl_fd, int timeout_ms)
{
    *out = NULL;
    smipc_client *c = client_new();
    if (!c) {
        close(ctl_fd);
        return SMIPC_ENOMEM;
    }
    c->ctl_fd = ctl_fd;
    int rc = client_setup(c, smipc_deadline(timeout_ms));
    if (rc) {
        client_free(c);
        return rc;
    }
    *out = c;
    return SMIPC_OK;
}
