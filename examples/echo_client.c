/* Sends each argument to an echo server and prints what comes back.
 * Usage: echo_client [--help] NAME MESSAGE...   (after --, messages may start with -) */
#include <smipc.h>

#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: echo_client [--help] NAME MESSAGE... [-- MESSAGE...]\n"
                            "Sends each MESSAGE to the echo server NAME and prints what comes\n"
                            "back. After --, nothing is an option (messages may start with -).\n";

int main(int argc, char **argv)
{
    const char *name = NULL;
    const char *msgs[256];
    int nmsgs = 0, options = 1;
    for (int i = 1; i < argc; i++) {
        if (options && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
            fputs(usage, stdout);
            return 0;
        } else if (options && !strcmp(argv[i], "--")) {
            options = 0;
        } else if (options && argv[i][0] == '-') {
            fprintf(stderr,
                    "echo_client: no option \"%s\" (after --, messages may start with -)\n%s",
                    argv[i], usage);
            return 2;
        } else if (!name) {
            name = argv[i];
        } else if (nmsgs < (int)(sizeof msgs / sizeof msgs[0])) {
            msgs[nmsgs++] = argv[i];
        } else {
            fprintf(stderr, "echo_client: at most %d messages\n", nmsgs);
            return 2;
        }
    }
    if (!name || !nmsgs) {
        fputs(usage, stderr);
        return 2;
    }
    smipc_client *cli;
    int rc = smipc_client_connect(&cli, name, 1000);
    if (rc) {
        fprintf(stderr, "echo_client: %s: %s\n", name, smipc_strerror(rc));
        return 1;
    }
    for (int i = 0; i < nmsgs && !rc; i++) {
        char reply[4096];
        size_t len = sizeof reply;
        rc = smipc_client_send(cli, msgs[i], strlen(msgs[i]), 1000);
        if (!rc)
            rc = smipc_client_recv(cli, reply, &len, 1000);
        if (!rc)
            printf("%.*s\n", (int)len, reply);
    }
    if (rc)
        fprintf(stderr, "echo_client: %s\n", smipc_strerror(rc));
    smipc_client_close(cli);
    return rc ? 1 : 0;
}
