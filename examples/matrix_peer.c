/* One side of the interop matrix (tests/python/test_matrix.py), the same program in C,
 * Python, Java and Go:
 *
 *   matrix_peer server NAME        echoes every message; "!barrier N SIZE" from N clients
 *                                  makes it broadcast SIZE bytes to all of them
 *   matrix_peer client NAME SEED   echoes 0 B to 3 MiB through the server, waits at the
 *                                  barrier, checks the broadcast, then blocks until the
 *                                  server is gone
 *
 * Each step prints one line (ready / connected ID / echo ok / broadcast ok / waiting /
 * closed); anything unexpected goes to stderr with exit status 1. */
#include <smipc.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS        30000
#define CLIENTS        3
#define BROADCAST_SIZE 10000

static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 65536, 1 << 20, 3 << 20};
static char buf[(3 << 20) + 1];

/* Byte i is (seed*31 + (i mod 251)*7) mod 256, in every language. */
static void payload(unsigned char *p, size_t size, int seed)
{
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)(seed * 31 + (int)(i % 251) * 7);
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "matrix_peer: %s: %s\n", what, rc ? smipc_strerror(rc) : "wrong bytes");
    return 1;
}

static int serve(const char *name)
{
    smipc_server *srv;
    int rc = smipc_server_open(&srv, name, NULL);
    if (rc)
        return fail(name, rc);
    printf("ready\n");
    fflush(stdout);
    static unsigned char out[BROADCAST_SIZE];
    size_t arrived = 0;
    for (;;) {
        smipc_client_id from;
        size_t len = sizeof buf - 1;
        if ((rc = smipc_server_recv(srv, &from, buf, &len, -1)))
            return fail("recv", rc);
        buf[len] = 0;
        size_t want, size;
        if (len > 9 && !memcmp(buf, "!barrier ", 9) &&
            sscanf(buf + 9, "%zu %zu", &want, &size) == 2 && size <= sizeof out) {
            if (++arrived == want) {
                size_t delivered = 0;
                payload(out, size, 7);
                if ((rc = smipc_server_broadcast(srv, out, size, WAIT_MS, &delivered)))
                    return fail("broadcast", rc);
                if (delivered != arrived)
                    return fail("broadcast reached too few", 0);
                arrived = 0;
            }
        } else if ((rc = smipc_server_send(srv, from, buf, len, WAIT_MS))) {
            return fail("send", rc);
        }
    }
}

static int client(const char *name, int seed)
{
    static unsigned char data[3 << 20];
    smipc_client *cli;
    int rc = smipc_client_connect(&cli, name, WAIT_MS);
    if (rc)
        return fail(name, rc);
    printf("connected %" PRIu64 "\n", smipc_client_id_of(cli));
    fflush(stdout);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = sizeof buf;
        payload(data, sizes[i], seed + (int)i);
        if ((rc = smipc_client_send(cli, data, sizes[i], WAIT_MS)) ||
            (rc = smipc_client_recv(cli, buf, &len, WAIT_MS)))
            return fail("echo", rc);
        if (len != sizes[i] || memcmp(buf, data, len))
            return fail("echo", 0);
    }
    printf("echo ok\n");
    fflush(stdout);
    char barrier[64];
    snprintf(barrier, sizeof barrier, "!barrier %d %d", CLIENTS, BROADCAST_SIZE);
    size_t len = sizeof buf;
    if ((rc = smipc_client_send(cli, barrier, strlen(barrier), WAIT_MS)) ||
        (rc = smipc_client_recv(cli, buf, &len, WAIT_MS)))
        return fail("broadcast", rc);
    payload(data, BROADCAST_SIZE, 7);
    if (len != BROADCAST_SIZE || memcmp(buf, data, len))
        return fail("broadcast", 0);
    printf("broadcast ok\nwaiting\n");
    fflush(stdout);
    len = sizeof buf;
    rc = smipc_client_recv(cli, buf, &len, -1);
    if (rc != SMIPC_ECLOSED)
        return fail("after the broadcast", rc ? rc : SMIPC_EPROTO);
    printf("closed\n");
    fflush(stdout);
    smipc_client_close(cli);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "server"))
        return serve(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "client"))
        return client(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: %s server NAME | client NAME SEED\n", argv[0]);
    return 2;
}
