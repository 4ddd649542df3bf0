/* smipc serve NAME: an echo server (or a hub with --broadcast) that prints a line of
 * statistics every second. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char usage[] =
    "usage: smipc serve NAME [options]\n"
    "Serves NAME: every message is sent back to its sender (an echo server), or with\n"
    "--broadcast to every client. Prints a line of statistics every second. Stops on\n"
    "SIGINT or SIGTERM, or after --count messages.\n"
    "  --broadcast            send each message to every client instead\n"
    "  --count N              stop after N messages\n"
    "  --quiet                no statistics lines\n"
    "The server's limits (README, \"Limits\"; K, M, G, T: times 1024, 1024^2, ...):\n"
    "  --max-clients N        1 .. 1048576 (default 64)\n"
    "  --packet-size N        64 .. 16M bytes (default 4K)\n"
    "  --ring-packets N       2 .. 65536 packets per ring (default 64); a connection's two\n"
    "                         rings, packet size x packets each, take at most 1 GiB\n"
    "  --max-message-size N   0 .. 1T bytes (default 64M), below 2^32 packets\n"
    "  --no-checksum  --allow-any-uid\n"
    "NAME: letters, digits, '.', '_' and '-', 1 to 100 characters; or a socket path (with\n"
    "'/'). A bad option, value or name is a usage error (exit 2) that says which.\n";

int cmd_serve(int argc, char **argv)
{
    const char *name = NULL, *v;
    int broadcast = 0, quiet = 0;
    uint64_t count = 0;
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--broadcast")) {
            broadcast = 1;
        } else if (!strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (cli_opt(argc, argv, &i, "--count", &v)) {
            cli_number_arg("--count", v, 0, UINT64_MAX >> 1, &count);
        } else if (cli_server_opt(argc, argv, &i, &cfg)) {
            continue;
        } else if (cli_is_option(argv[i])) {
            cli_unknown_option(argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            cli_usage_error("one name at a time: \"%s\" is one argument too many", argv[i]);
        }
    }
    if (!name && !cli_bad)
        cli_usage_error("NAME missing");
    if (name)
        cli_check_name(name);
    if (!cli_bad)
        cli_check_geometry(&cfg);
    if (cli_bad)
        return cli_usage_end(usage);
    smipc_server *srv;
    int rc = smipc_server_open(&srv, name, &cfg);
    if (rc == SMIPC_EINVAL) { /* the name and each value passed: the library's last word */
        cli_usage_error("%s: the limits given do not hold together (README, \"Limits\"): %s", name,
                        smipc_strerror(rc));
        return cli_usage_end(usage);
    }
    if (rc)
        return cli_fail("serve", name, rc);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("serving %s (%s), pid %d\n", name, broadcast ? "broadcast" : "echo", (int)getpid());
    fflush(stdout);
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    uint64_t msgs = 0, bytes = 0, last_msgs = 0, last_bytes = 0;
    double t0 = now_s(), last = t0;
    while (!stop && (!count || msgs < count) && buf) {
        smipc_client_id from;
        size_t len = cap;
        rc = smipc_server_recv(srv, &from, buf, &len, 200);
        if (rc == SMIPC_ETOOSMALL) {
            char *bigger = realloc(buf, len);
            if (!bigger) {
                rc = SMIPC_ENOMEM;
                break;
            }
            buf = bigger;
            cap = len;
            continue;
        }
        if (rc == SMIPC_OK) {
            msgs++;
            bytes += len;
            if (broadcast)
                rc = smipc_server_broadcast(srv, buf, len, 1000, NULL);
            else
                rc = smipc_server_send(srv, from, buf, len, 1000);
            if (rc && rc != SMIPC_ECLOSED && rc != SMIPC_ENOCLIENT)
                fprintf(stderr, "smipc serve: reply to client %llu: %s\n", (unsigned long long)from,
                        smipc_strerror(rc));
        } else if (rc == SMIPC_EPROTO) {
            fprintf(stderr, "smipc serve: client %llu broke the protocol and was dropped\n",
                    (unsigned long long)from);
        } else if (rc != SMIPC_ETIMEDOUT) {
            cli_fail("serve", "receive", rc);
            break;
        }
        double t = now_s();
        if (!quiet && t - last >= 1.0) {
            size_t clients = 0;
            smipc_server_clients(srv, NULL, 0, &clients);
            printf("%6.0fs  clients %zu  %.0f msgs/s  %.1f MB/s  total %llu msgs\n", t - t0,
                   clients, (msgs - last_msgs) / (t - last),
                   (bytes - last_bytes) / (t - last) / 1e6, (unsigned long long)msgs);
            fflush(stdout);
            last = t;
            last_msgs = msgs;
            last_bytes = bytes;
        }
    }
    printf("served %llu messages, %llu bytes\n", (unsigned long long)msgs,
           (unsigned long long)bytes);
    free(buf);
    smipc_server_close(srv);
    return rc == SMIPC_OK || rc == SMIPC_ETIMEDOUT ? EXIT_OK : EXIT_FAILED;
}
