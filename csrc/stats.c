/* Both ends of the statistics query. */
#include "stats.h"

#include "clock.h"
#include "control.h"
#include "internal.h"
#include "layout.h"
#include "name.h"
#include "server_internal.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* An honest server lists at most its max_clients live clients and as many departed ones
 * kept for their unread messages (smipc_server_reap); max_clients is at most 2^20. */
#define SMIPC_STAT_MAX_RECORDS (2u << 20)

static uint32_t queued(const struct smipc_ring *r)
{
    uint32_t n = LOAD(r->hdr->next) - LOAD(r->hdr->front);
    return n > r->count ? r->count : n; /* the peer's words: clamp them */
}

void smipc_stats_reply(smipc_server *srv, int fd)
{
    struct smipc_stat_server s;
    memset(&s, 0, sizeof s);
    s.magic = SMIPC_MAGIC;
    s.version = SMIPC_PROTOCOL_VERSION;
    s.kind = SMIPC_STAT_SERVER;
    s.server_pid = (uint32_t)getpid();
    s.server_uid = (uint32_t)geteuid();
    s.uptime_ns = (uint64_t)(smipc_now_ns() - srv->started_ns);
    s.max_clients = srv->cfg.max_clients;
    s.packet_size = srv->params.packet_size;
    s.ring_packets = srv->params.ring_packets;
    s.max_message_size = srv->params.max_message_size;
    s.flags = srv->cfg.flags;
    s.accepted = LOAD(srv->accepted);
    s.refused = LOAD(srv->refused);
    pthread_mutex_lock(&srv->lock);
    size_t n = srv->nconns;
    struct smipc_stat_conn *recs = calloc(n ? n : 1, sizeof *recs);
    for (size_t i = 0; recs && i < n; i++) {
        struct smipc_conn *c = srv->conns[i];
        struct smipc_stat_conn *r = &recs[i];
        struct smipc_link_stats *st = &c->link.stats;
        r->magic = SMIPC_MAGIC;
        r->version = SMIPC_PROTOCOL_VERSION;
        r->kind = SMIPC_STAT_CONN;
        r->state = (uint32_t)atomic_load(&c->link.state);
        r->client_id = c->id;
        r->pid = (uint32_t)c->pid;
        r->uid = (uint32_t)c->uid;
        r->age_ns = (uint64_t)(smipc_now_ns() - c->connected_ns);
        r->msgs_in = LOAD(st->msgs_in);
        r->bytes_in = LOAD(st->bytes_in);
        r->msgs_out = LOAD(st->msgs_out);
        r->bytes_out = LOAD(st->bytes_out);
        r->rx_queued = queued(&c->link.rx);
        r->tx_queued = queued(&c->link.tx);
        r->sleeps = LOAD(st->sleeps);
        r->wakeups_sent = LOAD(st->wakeups_sent);
        r->checksum_failures = LOAD(st->checksum_failures);
        r->aborts = LOAD(st->aborts);
        s.clients += r->state == 0;
    }
    pthread_mutex_unlock(&srv->lock);
    if (!recs)
        return;
    /* The socket is non-blocking: a reader too slow for a few KiB loses the rest. */
    smipc_ctl_send(fd, &s, sizeof s, NULL, 0);
    for (size_t i = 0; i < n; i++)
        if (smipc_ctl_send(fd, &recs[i], sizeof recs[i], NULL, 0))
            break;
    struct smipc_stat_server end;
    memset(&end, 0, sizeof end);
    end.magic = SMIPC_MAGIC;
    end.version = SMIPC_PROTOCOL_VERSION;
    end.kind = SMIPC_STAT_END;
    smipc_ctl_send(fd, &end, sizeof end, NULL, 0);
    free(recs);
}

int smipc_stats_query(const char *name, struct smipc_stat_server *summary,
                      struct smipc_stat_conn **conns, size_t *count, int timeout_ms)
{
    char path[SMIPC_PATH_MAX], dir[PATH_MAX];
    *conns = NULL;
    *count = 0;
    int64_t deadline = smipc_deadline(timeout_ms);
    int rc = smipc_name_resolve(name, 0, path, dir);
    int fd = -1;
    if (!rc)
        rc = smipc_ctl_connect(path, deadline, &fd);
    if (rc)
        return rc;
    struct smipc_hello h = {SMIPC_MAGIC, SMIPC_PROTOCOL_VERSION, SMIPC_HELLO_STAT, 0};
    rc = smipc_ctl_send(fd, &h, sizeof h, NULL, 0);
    size_t cap = 0;
    int got_summary = 0;
    while (!rc) {
        /* A peer that never stops talking must not outlast the deadline either. */
        if (deadline != SMIPC_FOREVER && smipc_now_ns() >= deadline) {
            rc = SMIPC_ETIMEDOUT;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, smipc_poll_ms(deadline));
        if (n == 0) {
            rc = SMIPC_ETIMEDOUT;
            break;
        }
        union {
            struct smipc_stat_server s;
            struct smipc_stat_conn c;
        } u;
        size_t len = 0;
        int nfds = 0;
        rc = smipc_ctl_recv(fd, &u, sizeof u, &len, NULL, 0, &nfds);
        if (rc == SMIPC_AGAIN) {
            rc = SMIPC_OK;
            continue;
        }
        if (rc)
            break;
        if (len == 0) {
            rc = SMIPC_ECLOSED;
            break;
        }
        if (len < 12 || u.s.magic != SMIPC_MAGIC || u.s.version != SMIPC_PROTOCOL_VERSION) {
            rc = SMIPC_EPROTO;
            break;
        }
        if (u.s.kind == SMIPC_STAT_END && got_summary)
            break;
        if (u.s.kind == SMIPC_STAT_SERVER && len == sizeof u.s && !got_summary) {
            *summary = u.s;
            got_summary = 1;
        } else if (u.s.kind == SMIPC_STAT_CONN && len == sizeof u.c && got_summary) {
            /* No more records than a server can have connections: a hostile one could
             * send them for ever. */
            if (*count >= 2 * (uint64_t)summary->max_clients || *count >= SMIPC_STAT_MAX_RECORDS) {
                rc = SMIPC_EPROTO;
                break;
            }
            if (*count == cap) {
                cap = cap ? 2 * cap : 16;
                struct smipc_stat_conn *more = realloc(*conns, cap * sizeof *more);
                if (!more) {
                    rc = SMIPC_ENOMEM;
                    break;
                }
                *conns = more;
            }
            (*conns)[(*count)++] = u.c;
        } else {
            rc = SMIPC_EPROTO;
        }
    }
    close(fd);
    if (rc) {
        free(*conns);
        *conns = NULL;
        *count = 0;
    }
    return rc;
}
