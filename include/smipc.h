/* smipc: message passing between processes on one Linux host through shared memory.
 *
 * One header, one prefix. Every call returns 0 (SMIPC_OK) or a negative status;
 * smipc_strerror() turns a status into words. See README.md and docs/PROTOCOL.md. */
#ifndef SMIPC_H
#define SMIPC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SMIPC_EXPORT
#if defined(__GNUC__)
#define SMIPC_EXPORT __attribute__((visibility("default")))
#else
#define SMIPC_EXPORT
#endif
#endif

#define SMIPC_VERSION_MAJOR 0
#define SMIPC_VERSION_MINOR 1
#define SMIPC_VERSION_PATCH 0

typedef struct smipc_server smipc_server; /* opaque */
typedef struct smipc_client smipc_client; /* opaque */
typedef uint64_t smipc_client_id;         /* never reused by one server */

/* Status: 0 is success, every error is negative. */
enum smipc_status {
    SMIPC_OK = 0,
    SMIPC_ETIMEDOUT = -1, /* nothing to receive / no room to send before the timeout */
    SMIPC_EINVAL = -2,    /* bad argument (NULL handle, bad name, len > cap, ...) */
    SMIPC_ENOMEM = -3,
    SMIPC_ETOOSMALL = -4,  /* receive buffer too small: *len is set to the size needed
                              and the message stays queued for the next receive */
    SMIPC_EMSGSIZE = -5,   /* message larger than the connection's max_message_size */
    SMIPC_ENOTFOUND = -6,  /* no live server with that name */
    SMIPC_EEXIST = -7,     /* a live server already owns that name */
    SMIPC_EFULL = -8,      /* the server already has max_clients clients */
    SMIPC_ECLOSED = -9,    /* the peer closed or died */
    SMIPC_ENOCLIENT = -10, /* no connected client with that id */
    SMIPC_EPROTO = -11,    /* the peer broke the protocol (framing, checksum, version) */
    SMIPC_EACCES = -12,    /* not allowed (other uid, permissions) */
    SMIPC_ESYS = -13,      /* an operating-system call failed; errno is kept */
    SMIPC_ELOANSIZE = -14  /* a loan larger than the connection lends in one piece */
};

/* Flags of smipc_server_config.flags. */
enum smipc_server_flag {
    SMIPC_NO_CHECKSUM = 1u << 0,   /* skip CRC32C on this server's connections */
    SMIPC_ALLOW_ANY_UID = 1u << 1, /* accept clients of any uid (default: own uid only); the
                                      socket is then 0666, and its directory decides who
                                      reaches it (the default runtime directory: the owner) */
    SMIPC_EVENTS = 1u << 2         /* smipc_server_recv_event also tells of joins and departures */
};

/* What smipc_server_recv_event found. */
enum smipc_event_kind {
    SMIPC_EVENT_MESSAGE = 0, /* a message from *from, in buf */
    SMIPC_EVENT_JOINED = 1,  /* *from connected (told before any of its messages) */
    SMIPC_EVENT_LEFT = 2     /* *from is gone (told after all of its messages) */
};

/* What smipc_client_recv_flags tells of a message. */
enum smipc_message_flag {
    SMIPC_MSG_BROADCAST = 1u << 0, /* sent by smipc_server_broadcast, not to this client alone */
    SMIPC_MSG_COPY = 1u << 1       /* recv_view only: the message was not in one piece in
                                      shared memory, and *data is a private copy of it (valid
                                      until the release, like a view in place) */
};

SMIPC_EXPORT const char *smipc_strerror(int status); /* never NULL */
SMIPC_EXPORT const char *smipc_version(void);        /* "MAJOR.MINOR.PATCH" */

/* The socket path that name stands for (the rules are in README.md, "Names"), NUL-terminated
   in path: SMIPC_EINVAL for a bad name (or a runtime directory path too long),
   SMIPC_ETOOSMALL when cap is too small (108 bytes always do). Creates nothing; says
   nothing of whether a server is there. */
SMIPC_EXPORT int smipc_name_path(const char *name, char *path, size_t cap);

/* timeout_ms: < 0 waits for ever, 0 never blocks, > 0 waits at most that long. */

typedef struct smipc_server_config {
    uint32_t max_clients;      /* default 64 */
    uint32_t packet_size;      /* bytes of data per packet; default 4096 (64 .. 16 MiB) */
    uint32_t ring_packets;     /* packets per ring (per direction); default 64 (2 .. 65536) */
    uint64_t max_message_size; /* default 64 MiB (at most 1 TiB) */
    uint32_t flags;            /* SMIPC_NO_CHECKSUM, SMIPC_ALLOW_ANY_UID, SMIPC_EVENTS */
    /* Large messages go through a bulk area per direction, bulk_slots chunks of bulk_size
       bytes, next to the rings; its memory is only touched (resident) once a connection
       carries a large message. Default 1 MiB x 4; bulk_size 4 KiB .. 64 MiB (a multiple of
       4 KiB), bulk_slots 2 .. 64; both 0: no bulk area. */
    uint32_t bulk_size;
    uint32_t bulk_slots;
    uint32_t reserved[9]; /* zero: room for fields added later without an ABI break */
} smipc_server_config;

/* Fills the defaults. */
SMIPC_EXPORT void smipc_server_config_init(smipc_server_config *cfg);

SMIPC_EXPORT int smipc_server_open(smipc_server **out, const char *name,
                                   const smipc_server_config *cfg /* NULL: defaults */);
/* Disconnects every client; NULL is fine. No other call may run on srv meanwhile. */
SMIPC_EXPORT void smipc_server_close(smipc_server *srv);
/* From any thread, while other calls run: wakes every call blocked on srv, and they and
   every later call but close return SMIPC_ECLOSED. The server stops accepting, releases
   its name and disconnects its clients at once. Call close once the calls in flight have
   returned. NULL, or a second call, is fine. */
SMIPC_EXPORT void smipc_server_shutdown(smipc_server *srv);

/* Round-robin over the clients: the next whole message from any client.
   On entry *len is the capacity of buf; on return the message's length. */
SMIPC_EXPORT int smipc_server_recv(smipc_server *srv, smipc_client_id *from, void *buf, size_t *len,
                                   int timeout_ms);
/* As smipc_server_recv, and on a server opened with SMIPC_EVENTS it also tells, in order
   with each client's messages, when the client joined and when it left (closed, died, or
   was dropped): *kind is a smipc_event_kind; for a join or a departure *from is the
   client, *len is 0 and buf is untouched. On a server with SMIPC_EVENTS, smipc_server_recv
   passes joins and departures over. */
SMIPC_EXPORT int smipc_server_recv_event(smipc_server *srv, int *kind, smipc_client_id *from,
                                         void *buf, size_t *len, int timeout_ms);
/* Zero-copy: as smipc_server_recv, but the message is shown read-only in place when it is
   there in one piece (else in a private copy: *flags, may be NULL, has SMIPC_MSG_COPY),
   its checksum verified; *data and *len stay valid until smipc_server_release, which must
   follow (other receives wait until then). A client that rewrites shared memory after the
   check can change what *data shows, never crash the server. */
SMIPC_EXPORT int smipc_server_recv_view(smipc_server *srv, smipc_client_id *from, const void **data,
                                        size_t *len, uint32_t *flags, int timeout_ms);
SMIPC_EXPORT int smipc_server_release(smipc_server *srv);
/* While a view is out: keeps the memory it shows mapped until smipc_server_unpin(*pin),
   through the release, the client's departure and smipc_server_close alike (what it shows
   may change once released: the client writes there again). For bindings whose objects
   can outlive a view. Only the memory: the connection's descriptors close when it goes. *pin is
   NULL for a view that is a private copy (SMIPC_MSG_COPY): that one lives until the release only.
 */
SMIPC_EXPORT int smipc_server_pin(smipc_server *srv, void **pin);
SMIPC_EXPORT void smipc_server_unpin(void *pin); /* NULL is fine */
SMIPC_EXPORT int smipc_server_send(smipc_server *srv, smipc_client_id to, const void *buf,
                                   size_t len, int timeout_ms);
/* Zero-copy sending to one client, as smipc_client_loan: one loan per client at a time, and
   exactly one commit or cancel for it (SMIPC_EINVAL when there is none). */
SMIPC_EXPORT int smipc_server_loan(smipc_server *srv, smipc_client_id to, void **buf, size_t len,
                                   int timeout_ms);
SMIPC_EXPORT int smipc_server_commit(smipc_server *srv, smipc_client_id to, size_t n);
SMIPC_EXPORT int smipc_server_cancel_loan(smipc_server *srv, smipc_client_id to);
/* While a loan to `to` is out: keeps the lent memory mapped until smipc_server_unpin(*pin),
   through the commit, the client's departure and smipc_server_close alike, as
   smipc_server_pin does for a view (after the commit the client reads there, and the
   memory is written again by later sends). For bindings whose buffers can outlive a loan.
   SMIPC_EINVAL when no loan to `to` is out. */
SMIPC_EXPORT int smipc_server_pin_loan(smipc_server *srv, smipc_client_id to, void **pin);
/* As smipc_client_cancel_sends, for the sends in progress to one client; to == 0: to every
   client, and every broadcast in progress gives up too (*delivered counts those it
   reached). From any thread. */
SMIPC_EXPORT int smipc_server_cancel_sends(smipc_server *srv, smipc_client_id to);
/* Sends to every connected client; *delivered (may be NULL) counts those that got it.
   Returns SMIPC_OK when every client got it, else the first failure seen. */
SMIPC_EXPORT int smipc_server_broadcast(smipc_server *srv, const void *buf, size_t len,
                                        int timeout_ms, size_t *delivered);
/* Copies up to cap ids of the connected clients; *count is how many are connected. */
SMIPC_EXPORT int smipc_server_clients(smipc_server *srv, smipc_client_id *ids, size_t cap,
                                      size_t *count);
/* For poll()/event loops: readable when smipc_server_recv would find a message.
   May wake spuriously. The library owns it: never read or close it. */
SMIPC_EXPORT int smipc_server_fd(smipc_server *srv);
/* The limits this server gives its connections (what cfg asked for, defaults filled). */
SMIPC_EXPORT int smipc_server_config_of(const smipc_server *srv, smipc_server_config *cfg);

/* SMIPC_ENOTFOUND at once when no live server owns the name. The timeout bounds the
   handshake; with 0 the connect waits for no full backlog, but still up to 250 ms for a
   live server's answer. */
SMIPC_EXPORT int smipc_client_connect(smipc_client **out, const char *name, int timeout_ms);
/* The same, but first waits (up to the timeout) for a live server to own the name, as a
   harness does that starts its server in another process: SMIPC_ETIMEDOUT if none came up
   in time. It watches the runtime directory (inotify), creating it (owner-only) if it is
   missing, and wakes when a socket appears there. */
SMIPC_EXPORT int smipc_client_connect_wait(smipc_client **out, const char *name, int timeout_ms);
/* NULL is fine. No other call may run on cli meanwhile. */
SMIPC_EXPORT void smipc_client_close(smipc_client *cli);
/* From any thread, while other calls run: disconnects, wakes every call blocked on cli,
   and they and every later call but close return SMIPC_ECLOSED. Call close once the calls
   in flight have returned. NULL, or a second call, is fine. */
SMIPC_EXPORT void smipc_client_shutdown(smipc_client *cli);
SMIPC_EXPORT int smipc_client_send(smipc_client *cli, const void *buf, size_t len, int timeout_ms);
/* From any thread: every send on cli in progress now gives up with SMIPC_ETIMEDOUT the next
   time it must wait for room (within about 10 ms when it already waits), and what it had
   sent of its message is aborted: the server never sees any of it. A send that needs no
   more room completes. Sends that begin afterwards are not affected. For an event
   loop whose task was cancelled while a worker thread sends for it. */
SMIPC_EXPORT void smipc_client_cancel_sends(smipc_client *cli);
SMIPC_EXPORT int smipc_client_recv(smipc_client *cli, void *buf, size_t *len, int timeout_ms);
/* As smipc_client_recv; on success *flags (may be NULL) holds the message's
   smipc_message_flag bits: SMIPC_MSG_BROADCAST for a broadcast, 0 for a message the server
   sent to this client alone. */
SMIPC_EXPORT int smipc_client_recv_flags(smipc_client *cli, uint32_t *flags, void *buf, size_t *len,
                                         int timeout_ms);
/* Zero-copy. A loan is room for a message of up to len bytes inside the shared memory:
   write it in place at *buf, then smipc_client_commit sends its first n bytes (n <= len),
   or smipc_client_cancel_loan gives it back unsent; exactly one of the two, from any
   thread. Until then other sends on cli wait. A loan larger than the connection lends in
   one piece (packet_size, or bulk_size with a bulk area: smipc_client_config_of) is
   SMIPC_ELOANSIZE; the timeout bounds the wait for room. */
SMIPC_EXPORT int smipc_client_loan(smipc_client *cli, void **buf, size_t len, int timeout_ms);
SMIPC_EXPORT int smipc_client_commit(smipc_client *cli, size_t n);
SMIPC_EXPORT int smipc_client_cancel_loan(smipc_client *cli);
/* The next message, read-only and in place when it is there in one piece (else in a
   private copy), its checksum verified: *data and *len stay valid until
   smipc_client_release, which must follow (other receives on cli wait until then).
   *flags (may be NULL) as smipc_client_recv_flags. A peer that rewrites shared memory
   after the check can change what *data shows, never crash the reader. */
SMIPC_EXPORT int smipc_client_recv_view(smipc_client *cli, const void **data, size_t *len,
                                        uint32_t *flags, int timeout_ms);
SMIPC_EXPORT int smipc_client_release(smipc_client *cli);
/* Keeps the connection's shared memory (where its loans and views are) mapped until
   smipc_client_unpin(*pin), through smipc_client_close: for bindings whose buffers can
   outlive a loan, a view or the handle. Only the memory: the handle's descriptors still
   close with it, and what the memory shows may change once a loan or view has ended. */
SMIPC_EXPORT int smipc_client_pin(smipc_client *cli, void **pin);
SMIPC_EXPORT void smipc_client_unpin(void *pin); /* NULL is fine */
/* The id the server sees; 0 for NULL. */
SMIPC_EXPORT smipc_client_id smipc_client_id_of(const smipc_client *cli);
/* For poll()/event loops: readable when smipc_client_recv would find a message or the
   server is gone. May wake spuriously. The library owns it: never read or close it. */
SMIPC_EXPORT int smipc_client_fd(smipc_client *cli);
/* The connection's limits as the server set them (max_message_size, packet_size, ...). */
SMIPC_EXPORT int smipc_client_config_of(const smipc_client *cli, smipc_server_config *cfg);

#ifdef __cplusplus
}
#endif

#endif /* SMIPC_H */
