/* What a peer does to the descriptors it was given cannot make our own I/O block, raise a
 * signal or outlast a timeout; a client takes only the descriptors the protocol says, and
 * what a server rewrites in the segment header after the welcome is never read. */
#include "helpers.h"

#include "control.h"
#include "layout.h"
#include "segment.h"
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct hostile_args {
    const char *name;
    struct th_gate ready, done;
};

/* Everything a client can do to the descriptors it got: make each blocking, stuff it
 * (an eventfd's counter to the top, a socket's peer queue until it refuses), and ask the
 * server for wake-ups on every ring, so that the server's next signals meet all of it. */
static void sabotage(smipc_client *cli)
{
    int fds[4];
    smipc_testing_client_wake_fds(cli, fds);
    for (int i = 0; i < 4; i++) {
        uint64_t top = 0xfffffffffffffffeull;
        if (send(fds[i], &top, sizeof top, MSG_DONTWAIT) < 0 && errno == ENOTSOCK) {
            ssize_t n = write(fds[i], &top, sizeof top); /* an eventfd: saturate it */
            (void)n;
        }
        while (send(fds[i], &top, sizeof top, MSG_DONTWAIT) == (ssize_t)sizeof top)
            ;
        int fl = fcntl(fds[i], F_GETFL);
        CHILD_CHECK(fl >= 0 && fcntl(fds[i], F_SETFL, fl & ~O_NONBLOCK) == 0);
    }
    size_t size;
    unsigned char *map = smipc_testing_client_segment(cli, &size);
    const struct smipc_segment_hdr *sh = (const void *)map;
    for (int r = 0; r < 2; r++) {
        struct smipc_ring_hdr *rh = (void *)(map + sh->ring_offset[r]);
        atomic_store(&rh->tx_waiting, 1);
        atomic_store(&rh->rx_waiting, 1);
        atomic_store(&rh->free, 0);
    }
}

static int hostile_main(void *arg)
{
    struct hostile_args *a = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
    /* a full ring, so that the server's receives free packets and signal "room" */
    char msg[512] = {0};
    while (smipc_client_send(cli, msg, sizeof msg, 0) == SMIPC_OK)
        ;
    sabotage(cli);
    th_gate_open(&a->ready);
    th_gate_wait(&a->done, 60000);
    smipc_client_close(cli);
    return 0;
}

static int honest_main(void *arg)
{
    const char *name = arg;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, name, 10000));
    CHILD_OK(smipc_client_send(cli, "hello", 5, 10000));
    char b[16];
    size_t len = sizeof b;
    CHILD_OK(smipc_client_recv(cli, b, &len, 10000));
    CHILD_CHECK(len == 5 && memcmp(b, "HELLO", 5) == 0);
    smipc_client_close(cli);
    return 0;
}

/* A server with a sabotaged client still receives, sends, broadcasts, lists, accepts and
 * serves an honest client: before the wake-ups were sockets of our own, its first signal
 * to that client blocked in write() with the table locked, and all of that stopped. */
static void test_client_cannot_block_the_server(void **state)
{
    (void)state;
    const char *name = th_name("sabot");
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.packet_size = 512;
    cfg.ring_packets = 8;
    smipc_server *srv = th_server(name, &cfg);
    struct hostile_args a = {.name = name};
    th_gate_init(&a.ready);
    th_gate_init(&a.done);
    pid_t hostile = th_spawn(hostile_main, &a);
    assert_int_equal(th_gate_wait(&a.ready, 10000), 0);
    smipc_client_id ids[2];
    size_t n;
    assert_smipc_ok(smipc_server_clients(srv, ids, 2, &n));
    assert_int_equal(n, 1);
    char buf[1024];
    int got = 0;
    for (;;) {
        size_t len = sizeof buf;
        smipc_client_id from;
        int rc = smipc_server_recv(srv, &from, buf, &len, 300);
        if (rc == SMIPC_ETIMEDOUT)
            break;
        assert_smipc_ok(rc);
        got++;
    }
    assert_int_equal(got, 8); /* the whole ring: every receive signalled "room" */
    for (int i = 0; i < 20; i++) {
        int rc = smipc_server_send(srv, ids[0], buf, 512, 0);
        assert_true(rc == SMIPC_OK || rc == SMIPC_ETIMEDOUT);
    }
    size_t delivered;
    int rc = smipc_server_broadcast(srv, buf, 512, 0, &delivered);
    assert_true(rc == SMIPC_OK || rc == SMIPC_ETIMEDOUT);
    pid_t honest = th_spawn(honest_main, (void *)name);
    for (;;) {
        size_t len = sizeof buf;
        smipc_client_id from;
        assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 10000));
        if (from == ids[0])
            continue;
        assert_int_equal(len, 5);
        assert_smipc_ok(smipc_server_send(srv, from, "HELLO", 5, 10000));
        break;
    }
    assert_int_equal(th_wait(honest, 20000), 0);
    th_gate_open(&a.done);
    assert_int_equal(th_wait(hostile, 20000), 0);
    th_gate_close(&a.ready);
    th_gate_close(&a.done);
    smipc_server_close(srv);
}

/* ---- a fake server that hands out the wrong kinds of descriptor ---- */

enum { FAKE_PIPE, FAKE_EVENTFD, FAKE_STREAM, FAKE_SCRIBBLE };

struct fake_server {
    char path[256];
    int listen_fd, kind;
    pthread_t thread;
};

static void *scribble(void *p)
{
    struct smipc_segment_hdr *sh = p;
    struct smipc_segment_hdr good = *sh;
    /* rewrite the fields a client once read again after checking them, until told */
    for (uint32_t i = 0; atomic_load((_Atomic uint32_t *)&sh->magic) == SMIPC_MAGIC; i++) {
        *(volatile uint32_t *)&sh->stride = i & 1 ? good.stride : 0x7fffffc0u;
        *(volatile uint64_t *)&sh->ring_offset[1] = i & 1 ? good.ring_offset[1] : 1ull << 40;
        *(volatile uint32_t *)&sh->ring_packets = i & 1 ? good.ring_packets : 65536;
        *(volatile uint32_t *)&sh->packet_size = i & 1 ? good.packet_size : 1u << 24;
    }
    return NULL;
}

static void *fake_serve(void *p)
{
    struct fake_server *f = p;
    int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    poll(&pf, 1, 10000);
    struct smipc_hello h;
    size_t got;
    int nfds;
    smipc_ctl_recv(fd, &h, sizeof h, &got, NULL, 0, &nfds);
    /* a real segment, so that nothing but the descriptors' kind is wrong */
    struct smipc_seg_params params = {4096, 64, SMIPC_SEG_CHECKSUM, (uint64_t)1 << 20};
    int memfd;
    void *map;
    size_t size;
    assert_smipc_ok(smipc_segment_create(&params, 7, &memfd, &map, &size));
    int fds[5] = {memfd, -1, -1, -1, -1};
    for (int i = 1; i < 5; i += 2) {
        int pair[2];
        if (f->kind == FAKE_PIPE) {
            assert_int_equal(pipe(pair), 0); /* a full, blocking pipe: a send would hang */
            fcntl(pair[1], F_SETFL, O_NONBLOCK);
            while (write(pair[1], "x", 1) == 1)
                ;
            fcntl(pair[1], F_SETFL, 0);
            fds[i] = pair[1];
            fds[i + 1] = pair[0];
        } else if (f->kind == FAKE_EVENTFD) {
            fds[i] = eventfd(0, 0);
            fds[i + 1] = eventfd(0, 0);
        } else {
            int type = f->kind == FAKE_STREAM ? SOCK_STREAM : SOCK_DGRAM;
            assert_int_equal(socketpair(AF_UNIX, type, 0, pair), 0);
            fds[i] = pair[0];
            fds[i + 1] = pair[1];
            if (f->kind == FAKE_SCRIBBLE) {
                assert_int_equal(socketpair(AF_UNIX, type, 0, pair), 0);
                fds[i + 1] = pair[1];
            }
        }
    }
    pthread_t scribbler;
    if (f->kind == FAKE_SCRIBBLE)
        assert_int_equal(pthread_create(&scribbler, NULL, scribble, map), 0);
    struct smipc_welcome w = {.magic = SMIPC_MAGIC,
                              .version = SMIPC_PROTOCOL_VERSION,
                              .status = SMIPC_OK,
                              .flags = params.flags,
                              .client_id = 7,
                              .packet_size = params.packet_size,
                              .ring_packets = params.ring_packets,
                              .max_message_size = params.max_message_size,
                              .segment_size = size,
                              .server_pid = (uint32_t)getpid()};
    smipc_ctl_send(fd, &w, sizeof w, fds, 5);
    for (int i = 0; i < 5; i++)
        close(fds[i]);
    /* stay until the client has decided */
    poll(&pf, 1, 10000);
    close(fd);
    if (f->kind == FAKE_SCRIBBLE) {
        atomic_store((_Atomic uint32_t *)map, 0);
        pthread_join(scribbler, NULL);
    }
    munmap(map, size);
    return NULL;
}

static void fake_start(struct fake_server *f, int kind)
{
    snprintf(f->path, sizeof f->path, "%s/fake-%d-%d", th_runtime_dir(), (int)getpid(), kind);
    unlink(f->path);
    f->kind = kind;
    f->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, f->path);
    assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(f->listen_fd, 4), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
}

static void fake_stop(struct fake_server *f)
{
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    unlink(f->path);
}

/* A server that passes a pipe, an eventfd or a stream socket where the protocol has a
 * datagram socket is refused: each of them it could make block, signal, or read as ready
 * for ever. The descriptors are closed (none left open). */
static void test_client_refuses_the_wrong_descriptors(void **state)
{
    (void)state;
    for (int kind = FAKE_PIPE; kind <= FAKE_STREAM; kind++) {
        int before = th_count_fds();
        struct fake_server f;
        fake_start(&f, kind);
        smipc_client *cli = NULL;
        assert_status(smipc_client_connect(&cli, f.path, 10000), SMIPC_EPROTO);
        assert_null(cli);
        fake_stop(&f);
        assert_int_equal(th_count_fds(), before);
    }
}

/* A server that keeps rewriting the segment header while the client connects and talks:
 * the client checks it once, then finds its rings from the welcome alone (it used to read
 * the header again, and crashed within about 30 connects). */
static void test_client_ignores_a_header_rewritten_later(void **state)
{
    (void)state;
    for (int round = 0; round < 60; round++) {
        struct fake_server f;
        fake_start(&f, FAKE_SCRIBBLE);
        smipc_client *cli = NULL;
        int rc = smipc_client_connect(&cli, f.path, 10000);
        assert_true(rc == SMIPC_OK || rc == SMIPC_EPROTO);
        if (cli) {
            char b[64] = {0};
            size_t len = sizeof b;
            for (int i = 0; i < 64; i++) /* the whole ring */
                assert_smipc_ok(smipc_client_send(cli, b, sizeof b, 0));
            assert_status(smipc_client_send(cli, b, sizeof b, 0), SMIPC_ETIMEDOUT);
            assert_status(smipc_client_recv(cli, b, &len, 0), SMIPC_ETIMEDOUT);
            smipc_client_close(cli);
        }
        fake_stop(&f);
    }
}

/* A server that kept a copy of a client's end of a wake-up pair can shut it down for
 * reading: it then polls readable for ever and nothing drains it. The client's waits must
 * call that closed (they spun at full speed until their timeout, for ever with -1). */
static void test_a_wake_socket_shut_down_is_closed(void **state)
{
    (void)state;
    for (int which = 0; which < 2; which++) { /* the s2c data end, then the c2s room end */
        const char *name = th_name("shutrd");
        smipc_server_config cfg;
        smipc_server_config_init(&cfg);
        cfg.packet_size = 64;
        cfg.ring_packets = 4;
        smipc_server *srv = th_server(name, &cfg);
        smipc_client *cli = th_client(name);
        int fds[4];
        smipc_testing_client_wake_fds(cli, fds);
        char b[64] = {0};
        size_t len = sizeof b;
        if (which == 0) {
            assert_int_equal(shutdown(fds[2], SHUT_RD), 0);
            assert_status(smipc_client_recv(cli, b, &len, 5000), SMIPC_ECLOSED);
        } else {
            for (int i = 0; i < 4; i++)
                assert_smipc_ok(smipc_client_send(cli, b, sizeof b, 0));
            assert_int_equal(shutdown(fds[1], SHUT_RD), 0);
            assert_status(smipc_client_send(cli, b, sizeof b, 5000), SMIPC_ECLOSED);
        }
        smipc_client_close(cli);
        smipc_server_close(srv);
    }
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_cannot_block_the_server),
        cmocka_unit_test(test_client_refuses_the_wrong_descriptors),
        cmocka_unit_test(test_client_ignores_a_header_rewritten_later),
        cmocka_unit_test(test_a_wake_socket_shut_down_is_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
