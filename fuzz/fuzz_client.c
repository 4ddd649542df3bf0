/* libFuzzer target: a hostile server. The input picks the welcome (its fields, and which
 * descriptors travel with it: the real ones, or a pipe, an eventfd, a stream socket, an
 * unsealed or short memfd, too few), and then, step by step, what the "server" does while
 * the client sends and receives without waiting: honest messages, forged packets, bytes
 * written anywhere in the segment (its header included), wake-ups, hang-ups.
 * Properties: the client never crashes or blocks, returns only the statuses its calls
 * document, hands out whole messages that fit the buffer, and leaves nothing open. */
#include <smipc.h>

#include "fuzz_input.h"
#include "layout.h"
#include "link.h"
#include "segment.h"
#include "control.h"
#include "internal.h"
#include "testing.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_client: %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - 1;
}

/* One of the four wake-up descriptors: the real kind (a datagram pair, our end kept) or,
 * chosen by the input, a kind the client must refuse. */
static void wake_channel(unsigned kind, int *theirs, int *ours)
{
    int sv[2] = {-1, -1};
    *ours = -1;
    if (kind == 1 && pipe(sv) == 0) {
        *theirs = sv[1];
        *ours = sv[0];
    } else if (kind == 2) {
        *theirs = eventfd(0, 0);
    } else if (kind == 3 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
        *theirs = sv[1];
        *ours = sv[0];
    } else {
        REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
        *ours = sv[0];
        *theirs = sv[1];
    }
}

static int send_ok(int rc)
{
    return rc == SMIPC_OK || rc == SMIPC_ETIMEDOUT || rc == SMIPC_ECLOSED || rc == SMIPC_EMSGSIZE;
}

static int recv_ok(int rc)
{
    return rc == SMIPC_OK || rc == SMIPC_ETIMEDOUT || rc == SMIPC_ETOOSMALL || rc == SMIPC_EPROTO ||
           rc == SMIPC_ECLOSED || rc == SMIPC_ENOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE the client let through ends the run */
    int fds_before = open_fds();
    struct reader r = {data, size};
    unsigned shape = take(&r, 2);
    struct smipc_seg_params p = {(shape & 1) ? 512 : 64, 4 + (shape >> 1 & 3),
                                 (shape & 8) ? SMIPC_SEG_CHECKSUM : 0, 4096};
    int memfd;
    void *map;
    size_t map_size;
    REQUIRE(smipc_segment_create(&p, 1, &memfd, &map, &map_size) == SMIPC_OK);
    struct smipc_welcome w = {.magic = SMIPC_MAGIC,
                              .version = SMIPC_PROTOCOL_VERSION,
                              .flags = p.flags,
                              .client_id = 1,
                              .packet_size = p.packet_size,
                              .ring_packets = p.ring_packets,
                              .max_message_size = p.max_message_size,
                              .segment_size = map_size};
    /* one field of the welcome, or none, is whatever the input says */
    unsigned lie = take(&r, 1) % 12, value = take(&r, 4);
    if (lie == 1)
        w.magic = value;
    else if (lie == 2)
        w.version = value;
    else if (lie == 3)
        w.status = (int32_t)value;
    else if (lie == 4)
        w.flags = value;
    else if (lie == 5)
        w.packet_size = value;
    else if (lie == 6)
        w.ring_packets = value;
    else if (lie == 7)
        w.max_message_size = (uint64_t)value << (value & 31);
    else if (lie == 8)
        w.segment_size = value;
    else if (lie == 9)
        w.client_id = value;
    int theirs[5], ours[4];
    unsigned kinds = take(&r, 1);
    theirs[0] = memfd;
    if ((kinds & 0xc0) == 0x40) { /* a memfd without seals (a server could shrink it) */
        theirs[0] = memfd_create("unsealed", MFD_CLOEXEC);
        REQUIRE(theirs[0] >= 0 && ftruncate(theirs[0], (off_t)map_size) == 0);
    }
    for (int i = 0; i < 4; i++)
        wake_channel((kinds >> (2 * i)) & ((kinds & 0x80) ? 3 : 0), &theirs[i + 1], &ours[i]);
    int nfds = (shape & 0x10) ? (int)(shape >> 5 & 7) % 6 : 5;
    int ctl[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ctl) == 0);
    REQUIRE(smipc_ctl_send(ctl[0], &w, sizeof w, theirs, nfds) == SMIPC_OK);
    for (int i = 0; i < 5; i++)
        if (theirs[i] != memfd)
            close(theirs[i]);
    smipc_client *cli = NULL;
    int rc = smipc_testing_client_over(&cli, ctl[1], 0);
    REQUIRE((rc == SMIPC_OK) == (cli != NULL));
    REQUIRE(rc <= 0 && rc >= SMIPC_ESYS);
    /* the server's side of the connection, to send honestly and to consume */
    struct smipc_link srv;
    smipc_link_init(&srv, map, &p, 1, ours, -1);
    unsigned char *seg = map;
    static unsigned char msg[8192], out[8192];
    while (cli && r.left) {
        unsigned op = take(&r, 1) % 9;
        if (op == 0) { /* the client sends */
            unsigned len = take(&r, 2) % 6000;
            REQUIRE(send_ok(smipc_client_send(cli, msg, len, 0)));
        } else if (op == 1) { /* the client receives into a buffer of some size */
            size_t cap = take(&r, 2) % sizeof out, len = cap;
            rc = smipc_client_recv(cli, out, &len, 0);
            REQUIRE(recv_ok(rc));
            if (rc == SMIPC_OK)
                REQUIRE(len <= cap && len <= p.max_message_size);
            if (rc == SMIPC_ETOOSMALL)
                REQUIRE(len > cap && len <= p.max_message_size);
        } else if (op == 2) { /* an honest message */
            unsigned len = take(&r, 2) % 5000;
            smipc_link_try_send(&srv, msg, len); /* the fake server's own fate: unchecked */
        } else if (op == 3) {                    /* the server takes what the client sent */
            size_t len = sizeof msg;
            rc = smipc_link_recv_some(&srv, msg, sizeof msg, &len);
            if (rc == SMIPC_EPROTO || rc == SMIPC_EINVAL)
                smipc_link_discard(&srv);
        } else if (op == 4) { /* bytes anywhere in the segment, its header included */
            unsigned off = take(&r, 3) % map_size, n = take(&r, 1) % 32;
            for (unsigned i = 0; i < n && off + i < map_size; i++)
                seg[off + i] = (unsigned char)take(&r, 1);
        } else if (op == 5) { /* a forged packet, published */
            unsigned slot = take(&r, 1) % p.ring_packets;
            struct smipc_packet_hdr *h = (void *)(srv.tx.packets + (size_t)slot * srv.tx.stride);
            h->size = take(&r, 2);
            h->checksum = take(&r, 4);
            h->transfer_id = take(&r, 1);
            h->packet_count = take(&r, 1);
            h->packet_index = take(&r, 1);
            h->total_size = take(&r, 3);
            atomic_store(&h->lock, SMIPC_PACKET_FULL);
        } else if (op == 6) { /* wake-ups, wanted or not */
            for (int i = 0; i < 4; i++)
                if (ours[i] >= 0)
                    send(ours[i], "w", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        } else if (op == 7) { /* the event-loop descriptor */
            int fd = smipc_client_fd(cli);
            REQUIRE(fd >= 0 || fd == SMIPC_ECLOSED);
            if (fd >= 0) {
                struct pollfd pf = {.fd = fd, .events = POLLIN};
                poll(&pf, 1, 0);
            }
        } else { /* the server hangs up, or goes on */
            if (take(&r, 1) & 1)
                shutdown(ctl[0], SHUT_RDWR);
        }
    }
    smipc_client_close(cli);
    smipc_link_release(&srv);
    for (int i = 0; i < 4; i++)
        if (ours[i] >= 0)
            close(ours[i]);
    close(ctl[0]);
    close(memfd);
    munmap(map, map_size);
    REQUIRE(open_fds() == fds_before); /* nothing the client took is left open */
    return 0;
}
