/* The control socket: one hello, one welcome (with descriptors), then silence until
 * one side goes away. Layouts are in docs/PROTOCOL.md. */
#ifndef SMIPC_CONTROL_H
#define SMIPC_CONTROL_H

#include <stddef.h>
#include <stdint.h>

enum smipc_hello_kind {
    SMIPC_HELLO_CONNECT = 1, /* become a client */
    SMIPC_HELLO_PROBE = 2,   /* only asking whether the server is alive */
    SMIPC_HELLO_STAT = 3     /* asking for statistics (stats.h), not becoming a client */
};

struct smipc_hello {
    uint32_t magic, version, kind, reserved;
};

struct smipc_welcome {
    uint32_t magic, version;
    int32_t status; /* SMIPC_OK, or why the connection is refused */
    uint32_t flags; /* SMIPC_SEG_* */
    uint64_t client_id;
    uint32_t packet_size, ring_packets;
    uint64_t max_message_size;
    uint64_t segment_size;
    uint32_t server_pid;
    int32_t sys_errno; /* with status SMIPC_ESYS: the server's errno, else 0 */
    uint32_t bulk_size, bulk_slots;
};

/* Descriptors that travel with a welcome: memfd, then the client's ends of the wake-up
 * socket pairs c2s data/room, s2c data/room. */
#define SMIPC_WELCOME_FDS 5

/* Connects a non-blocking SOCK_SEQPACKET socket to a server's path, retrying while the
 * backlog is full until the deadline. SMIPC_OK, SMIPC_ENOTFOUND (nobody listens),
 * SMIPC_EACCES, SMIPC_ETIMEDOUT or SMIPC_ESYS. */
int smipc_ctl_connect(const char *path, int64_t deadline, int *out);
/* The same on a socket the caller made (AF_UNIX, SOCK_SEQPACKET, non-blocking); the caller
 * keeps it whatever happens. */
int smipc_ctl_connect_fd(int fd, const char *path, int64_t deadline);

/* One datagram with optional descriptors (SCM_RIGHTS); SMIPC_OK or SMIPC_ESYS. */
int smipc_ctl_send(int fd, const void *msg, size_t len, const int *fds, int nfds);
/* One datagram; descriptors beyond maxfds are closed. *got is the datagram's length
 * (0 at end of file). SMIPC_OK, SMIPC_AGAIN (nothing yet) or SMIPC_ESYS. */
int smipc_ctl_recv(int fd, void *msg, size_t cap, size_t *got, int *fds, int maxfds, int *nfds);

#endif
