/* An echo server: every message a client sends comes back to that client.
 * Usage: echo_server NAME [COUNT]   (COUNT: stop after that many messages) */
#include <smipc.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s NAME [COUNT]\n", argv[0]);
        return 2;
    }
    long count = argc > 2 ? atol(argv[2]) : -1;
    smipc_server *srv;
    int rc = smipc_server_open(&srv, argv[1], NULL);
    if (rc) {
        fprintf(stderr, "echo_server: %s: %s\n", argv[1], smipc_strerror(rc));
        return 1;
    }
    printf("echo_server: serving %s\n", argv[1]);
    fflush(stdout);
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    for (long n = 0; buf && n != count; n++) {
        smipc_client_id from;
        size_t len = cap;
        rc = smipc_server_recv(srv, &from, buf, &len, -1);
        if (rc == SMIPC_ETOOSMALL) { /* len says how much: grow and receive it again */
            char *bigger = realloc(buf, len);
            if (!bigger)
                break;
            buf = bigger;
            cap = len;
            n--;
            continue;
        }
        if (rc == SMIPC_OK)
            rc = smipc_server_send(srv, from, buf, len, 1000);
        if (rc)
            fprintf(stderr, "echo_server: client %llu: %s\n", (unsigned long long)from,
                    smipc_strerror(rc));
    }
    free(buf);
    smipc_server_close(srv);
    return 0;
}
