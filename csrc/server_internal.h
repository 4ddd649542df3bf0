/* The server's private structures, shared by server.c (the API), server_conn.c (the
 * connection table) and server_thread.c (accepting and reaping in the background). */
#ifndef SMIPC_SERVER_INTERNAL_H
#define SMIPC_SERVER_INTERNAL_H

#include "call_lock.h"
#include "fork_guard.h"
#include "internal.h"
#include "link.h"
#include "mapping.h"
#include "name.h"
#include "segment.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#define SMIPC_HANDSHAKE_NS 5000000000LL /* a peer that says nothing for 5 s is dropped */
#define SMIPC_PENDING_MAX  256          /* handshakes in flight at once */
#define SMIPC_EVENTS_MAX   64           /* eventfds one receive's wait takes in at once */

/* One connected client, as the server sees it. */
struct smipc_conn {
    struct smipc_link link;
    smipc_client_id id;
    _Atomic int refs;      /* the table holds one, the receive view one, each sender one */
    _Atomic int join_told; /* SMIPC_EVENTS: a receive has told of its join */
    struct smipc_call_lock send_lock;
    int ctl_fd;
    int wake_fds[4]; /* our ends: c2s data, c2s room, s2c data, s2c room */
    void *map;
    size_t map_size;
    struct smipc_mapping *mapping; /* owns map: pins may keep it past the connection */
    pid_t pid;
    uid_t uid;
    int64_t connected_ns;
    struct smipc_conn *next_loan; /* on srv->loans while a loan to it is out (srv->lock) */
};

/* SMIPC_EVENTS: a client gone from the table whose departure no receive has told yet. */
struct smipc_departure {
    smipc_client_id id;
    int join_told; /* else its join is told first */
};
#define SMIPC_DEPARTURES_MAX (1u << 20) /* untold beyond this, the oldest are forgotten */

/* An accepted socket that has not said hello yet. */
struct smipc_pending {
    struct smipc_pending *next;
    int fd;
    int64_t deadline;
    uid_t uid;
    pid_t pid;
};

struct smipc_server {
    struct smipc_forkable fork; /* first: the fork handlers cast back to the server */
    smipc_server_config cfg;
    struct smipc_seg_params params;
    char path[SMIPC_PATH_MAX];
    dev_t sock_dev;
    ino_t sock_ino;
    int listen_fd;
    int thread_epfd; /* listener, stop, handshakes, control sockets */
    int stop_efd;
    int recv_epfd;  /* every connection's c2s data eventfd + notify: smipc_server_fd */
    int notify_efd; /* departures, and fd-mode "still readable" */
    int sweep_efd;  /* a connection's bulk area was written: the thread looks for idle ones */
    _Atomic int bulk_sweep; /* the thread is sweeping for idle bulk areas (server_thread.c) */
    int64_t bulk_idle_ns;   /* smipc_bulk_idle_ns() at open, for every connection */
    int sweep_ms;           /* how often: that, within [10 ms, 1 s] */
    pthread_t thread;
    int thread_running;

    pthread_mutex_t lock; /* the table, the pending list, next_id */
    struct smipc_conn **conns;
    size_t nconns, cap;
    _Atomic uint32_t conns_gen; /* moves, under lock, whenever the table changes */
    struct smipc_pending *pending;
    size_t npending;
    uint64_t next_id;

    struct smipc_call_lock recv_lock; /* one receiver at a time; owns every link's rx side */
    /* The receiver's copy of the table, a reference on each: picking the next connection
     * then takes no lock. Under recv_lock; renewed when conns_gen moves. */
    struct smipc_conn **view;
    size_t nview, view_cap;
    uint32_t view_gen;
    size_t rr; /* round-robin cursor into view: the next to look at */
    /* Eventfds the last wait woke on and left readable (see drain_left), under recv_lock */
    uint64_t efds_left[SMIPC_EVENTS_MAX];
    int nefds_left;
    struct smipc_spin recv_spin;
    /* Bytes of half-received messages parked on the heap, over every connection (atomic:
     * the last reference to a connection may go in any thread), and the most there may
     * be: a connection that would pass it is ended. */
    _Atomic size_t parked_bytes;
    size_t park_budget;
    /* SMIPC_EVENTS: departures not told yet, oldest first, and whether the receive under
     * way tells of joins and departures (both under recv_lock, which every reap holds) */
    struct smipc_departure *left;
    size_t nleft, left_cap;
    int recv_events;
    _Atomic int reap_wanted;
    _Atomic int shut; /* smipc_server_shutdown was called: every call says ECLOSED */
    _Atomic uint32_t broadcast_cancel_gen; /* moves at each smipc_server_cancel_sends(srv, 0) */
    _Atomic int fd_mode;
    int64_t started_ns;
    _Atomic uint64_t accepted, refused; /* connections, for `smipc stat` */
    _Atomic uint32_t load;              /* nconns, for the spin decisions (wait.h) */
    /* (last, off the lines every receive touches) recv_view, under recv_lock (which a view
     * out holds): the connection viewed in place (a reference), or a private copy of a
     * message not in one piece */
    struct smipc_conn *view_conn;
    unsigned char *view_copy;
    size_t view_copy_cap;
    int view_out;
    struct smipc_conn *loans; /* connections with a loan out, referenced (under lock) */
};

/* server_conn.c */
/* A new connection with its segment and wake-up channels; *memfd and peer_fds (the
 * client's ends: c2s data, c2s room, s2c data, s2c room) are for the welcome, then the
 * caller closes them. On failure nothing is left open. */
int smipc_conn_create(smipc_server *srv, int ctl_fd, pid_t pid, uid_t uid, int *memfd,
                      int peer_fds[4], struct smipc_conn **out);
void smipc_conn_ref(struct smipc_conn *c);
void smipc_conn_unref(struct smipc_conn *c);
/* Under srv->lock: the index of a connection, or -1. */
long smipc_conn_find(smipc_server *srv, smipc_client_id id);
/* Under srv->lock. */
int smipc_conn_add(smipc_server *srv, struct smipc_conn *c);
void smipc_conn_remove_at(smipc_server *srv, size_t i);
/* With recv_lock held: drops connections that are gone and have nothing left to read. */
void smipc_server_reap(smipc_server *srv);
/* With recv_lock held: makes the receive view the table again, dropping its references to
 * connections the table let go. SMIPC_OK, or SMIPC_ENOMEM (the old view stays). */
int smipc_server_view_renew(smipc_server *srv);
/* Drops the view's references (closing). */
void smipc_server_view_clear(smipc_server *srv);
/* From any thread: reaps now if no receive is under way, else leaves it to that one. */
void smipc_server_reap_soon(smipc_server *srv);

/* server_thread.c */
int smipc_server_thread_start(smipc_server *srv);
void smipc_server_thread_stop(smipc_server *srv);

#endif
