/* Sends each argument to an echo server and prints what comes back.
 * Usage: echo_client NAME MESSAGE... */
#include <smipc.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s NAME MESSAGE...\n", argv[0]);
        return 2;
    }
    smipc_client *cli;
    int rc = smipc_client_connect(&cli, argv[1], 1000);
    if (rc) {
        fprintf(stderr, "echo_client: %s: %s\n", argv[1], smipc_strerror(rc));
        return 1;
    }
    for (int i = 2; i < argc && !rc; i++) {
        char reply[4096];
        size_t len = sizeof reply;
        rc = smipc_client_send(cli, argv[i], strlen(argv[i]), 1000);
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
