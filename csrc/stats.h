/* Statistics a live server gives on its control socket (hello kind 3), for `smipc stat`
 * and `smipc ls`: the server's summary, one record per connection, then an end record.
 * Not part of the public API; the layouts are in docs/PROTOCOL.md. */
#ifndef SMIPC_STATS_H
#define SMIPC_STATS_H

#include <stddef.h>
#include <stdint.h>

enum smipc_stat_kind { SMIPC_STAT_SERVER = 1, SMIPC_STAT_CONN = 2, SMIPC_STAT_END = 3 };

struct smipc_stat_server {
    uint32_t magic, version, kind, server_pid;
    uint64_t uptime_ns;
    uint32_t clients, max_clients;
    uint32_t packet_size, ring_packets;
    uint64_t max_message_size;
    uint32_t flags, server_uid;
    uint64_t accepted, refused; /* connections since the server opened */
};

struct smipc_stat_conn {
    uint32_t magic, version, kind, state; /* state: 0 open, 1 gone, 2 broken */
    uint64_t client_id;
    uint32_t pid, uid;
    uint64_t age_ns;
    uint64_t msgs_in, bytes_in, msgs_out, bytes_out; /* as the server sees them */
    uint32_t rx_queued, tx_queued;                   /* packets waiting in each ring */
    uint64_t sleeps, wakeups_sent, checksum_failures, aborts;
};

_Static_assert(sizeof(struct smipc_stat_server) == 72, "layout in docs/PROTOCOL.md");
_Static_assert(sizeof(struct smipc_stat_conn) == 112, "layout in docs/PROTOCOL.md");

struct smipc_server;
/* Server side (its thread): writes the records to fd. */
void smipc_stats_reply(struct smipc_server *srv, int fd);

/* Tool side: asks the server behind name. *conns is malloc'd (free it). Returns
 * SMIPC_OK, SMIPC_ENOTFOUND, SMIPC_ETIMEDOUT, SMIPC_EPROTO, SMIPC_ECLOSED, ... */
int smipc_stats_query(const char *name, struct smipc_stat_server *summary,
                      struct smipc_stat_conn **conns, size_t *count, int timeout_ms);

#endif
