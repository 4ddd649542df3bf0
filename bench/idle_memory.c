/* What large messages leave resident, and what idle bulk areas give back: CLIENTS clients
 * on the library's defaults, in one process with the server, each exchange one message of
 * SIZE bytes both ways (so both of its bulk areas are touched); then nothing is sent for a
 * while, then each client sends one byte, then each waits in a receive. Prints the
 * process's resident shared memory (RssShmem: both ends' mappings of every segment) at
 * each step, and how long the server took to give its own areas back (its thread does it
 * once they have been idle for a second); a client gives a step of its area back with
 * each send, and the rest when a receive of its waits.
 *
 *   idle_memory [CLIENTS [SIZE]]     (default: 64 3145728) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <smipc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CLIENTS = 256 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* RssShmem of this process in KiB, or -1 */
static long shmem_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssShmem: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "idle_memory: %s: %s\n", what, smipc_strerror(rc));
    exit(1);
}

int main(int argc, char **argv)
{
    int clients = argc > 1 ? atoi(argv[1]) : 64;
    size_t size = argc > 2 ? strtoull(argv[2], NULL, 10) : 3u << 20;
    if (clients < 1 || clients > MAX_CLIENTS || size < 1 || size > (64u << 20)) {
        fprintf(stderr, "usage: idle_memory [CLIENTS (1..%d) [SIZE (1..64 MiB)]]\n", MAX_CLIENTS);
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "idle-memory-%d", (int)getpid());
    smipc_server *srv;
    int rc = smipc_server_open(&srv, name, NULL);
    if (rc)
        die("open", rc);
    static smipc_client *cli[MAX_CLIENTS];
    for (int i = 0; i < clients; i++)
        if ((rc = smipc_client_connect(&cli[i], name, 5000)))
            die("connect", rc);
    unsigned char *buf = malloc(size);
    if (!buf)
        die("malloc", SMIPC_ENOMEM);
    memset(buf, 0x5a, size);
    long connected = shmem_kib();

    for (int i = 0; i < clients; i++) { /* one message each way: fits whole, never waits */
        smipc_client_id from;
        size_t len = size;
        if ((rc = smipc_client_send(cli[i], buf, size, 5000)) ||
            (rc = smipc_server_recv(srv, &from, buf, &len, 5000)) ||
            (rc = smipc_server_send(srv, from, buf, len, 5000)) ||
            (rc = smipc_client_recv(cli[i], buf, &len, 5000)))
            die("exchange", rc);
    }
    double done = now();
    long exchanged = shmem_kib();

    /* the server's areas: its thread gives them back after a second idle (each counted
     * twice, in the server's mapping and in the client's) */
    long server_back = exchanged;
    double gone_after = -1;
    while (now() - done < 5) {
        struct timespec t = {0, 20000000};
        nanosleep(&t, NULL);
        server_back = shmem_kib();
        if (exchanged - server_back >= 2 * (long)clients * (long)(size / 1024) * 95 / 100) {
            gone_after = now() - done;
            break;
        }
    }
    for (int i = 0; i < clients; i++) { /* a client's send gives a step of its area back */
        smipc_client_id from;
        unsigned char one = 1, got;
        size_t len = 1;
        if ((rc = smipc_client_send(cli[i], &one, 1, 5000)) ||
            (rc = smipc_server_recv(srv, &from, &got, &len, 5000)))
            die("small message", rc);
    }
    long after_send = shmem_kib();
    for (int i = 0; i < clients; i++) { /* and a receive that waits gives the rest */
        unsigned char got;
        size_t len = 1;
        if ((rc = smipc_client_recv(cli[i], &got, &len, 1)) != SMIPC_ETIMEDOUT)
            die("waiting receive", rc);
    }
    long clients_back = shmem_kib();

    printf("%d clients on the defaults, one process with the server; one %zu-byte message "
           "each way per client\n",
           clients, size);
    printf("%-44s %10s\n", "resident shared memory (RssShmem)", "MiB");
    printf("%-44s %10.1f\n", "connected", connected / 1024.0);
    printf("%-44s %10.1f\n", "after the large messages", exchanged / 1024.0);
    printf("%-44s %10.1f\n", "server's areas idle (its thread)", server_back / 1024.0);
    printf("%-44s %10.1f\n", "then one small send per client", after_send / 1024.0);
    printf("%-44s %10.1f\n", "then one waiting receive per client", clients_back / 1024.0);
    if (gone_after >= 0)
        printf("the server's areas went back %.2f s after the last large message\n", gone_after);
    else
        printf("the server's areas had not gone back 5 s after the last large message\n");
    for (int i = 0; i < clients; i++)
        smipc_client_close(cli[i]);
    smipc_server_close(srv);
    free(buf);
    return 0;
}
