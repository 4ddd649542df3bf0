/* The smipc command: run, inspect and measure smipc servers. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: smipc COMMAND [ARGS...]   (smipc COMMAND --help says more)\n"
    "\n"
    "  serve NAME            an echo server printing statistics every second\n"
    "  send NAME [DATA|-]    send one message (--reply: wait for and print one back,\n"
    "                        byte-exact unless on a terminal; --wait: wait for NAME to come up)\n"
    "  recv NAME             print what the server sends this client (--raw: bytes alone)\n"
    "  ls                    servers in the runtime directory: live or stale, owner, clients\n"
    "                        (--prune: remove the stale sockets of servers that died)\n"
    "  stat NAME             a live server's counters, per connection (--json for scripts)\n"
    "  bench                 measure smipc against pipes, Unix sockets, ZeroMQ and the floor\n"
    "  version               print the library's version\n"
    "\n"
    "Exit codes: 0 success, 1 failure (the message says what), 2 bad usage (an unknown\n"
    "option, a bad value or server name: the message says which), 3 timed out, 4 no live\n"
    "server with that name (the message says where it looked).\n";

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const struct {
        const char *name;
        int (*run)(int, char **);
    } cmds[] = {{"serve", cmd_serve}, {"send", cmd_send}, {"recv", cmd_recv},
                {"ls", cmd_ls},       {"stat", cmd_stat}, {"bench", cmd_bench}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) {
            cli_cmd = cmds[i].name;
            return cmds[i].run(argc - 1, argv + 1);
        }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("smipc %s\n", smipc_version());
        return EXIT_OK;
    }
    fprintf(stderr, "smipc: no command \"%s\"\n\n%s", argv[1], usage);
    return EXIT_USAGE;
}
