/* An echo server: every message a client sends comes back to that client.
 * Usage: echo_server [--help] NAME [COUNT]   (COUNT: stop after that many messages) */
#include <smipc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] = "usage: echo_server [--help] [--] NAME [COUNT]\n"
                            "Serves NAME: every message a client sends comes back to it.\n"
                            "COUNT: stop after that many messages (default: for ever).\n";

int main(int argc, char **argv)
{
    const char *name = NULL, *count_arg = NULL;
    int options = 1;
    for (int i = 1; i < argc; i++) {
        if (options && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
            fputs(usage, stdout);
            return 0;
        } else if (options && !strcmp(argv[i], "--")) {
            options = 0; /* a name may start with '-' after -- */
        } else if (options && argv[i][0] == '-') {
            fprintf(stderr, "echo_server: no option \"%s\"\n%s", argv[i], usage);
            return 2;
        } else if (!name) {
            name = argv[i];
        } else if (!count_arg) {
            count_arg = argv[i];
        } else {
            fprintf(stderr, "echo_server: one argument too many: \"%s\"\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!name) {
        fputs(usage, stderr);
        return 2;
    }
    long count = -1;
    if (count_arg) {
        char *end;
        count = strtol(count_arg, &end, 10);
        if (end == count_arg || *end || count < 1) {
            fprintf(stderr,
                    "echo_server: bad COUNT \"%s\": expected a number of messages, 1 or more\n",
                    count_arg);
            return 2;
        }
    }
    smipc_server *srv;
    int rc = smipc_server_open(&srv, name, NULL);
    if (rc) {
        fprintf(stderr, "echo_server: %s: %s\n", name, smipc_strerror(rc));
        return 1;
    }
    printf("echo_server: serving %s\n", name);
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
