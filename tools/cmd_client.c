/* smipc send NAME [DATA|-] and smipc recv NAME: one-shot clients for scripts. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char send_usage[] =
    "usage: smipc send NAME [DATA|-] [--reply [--raw]] [--wait] [--timeout SEC] [-- DATA]\n"
    "Sends DATA (or standard input, when DATA is - or missing) as one message to the\n"
    "server NAME.\n"
    "  --reply        wait for one message back and write it to standard output: its bytes\n"
    "                 exactly, and on a terminal a newline after it unless it ends in one\n"
    "  --raw          never add that newline (the bytes alone, on a terminal too)\n"
    "  --wait         wait for NAME to come up (a server still starting) instead of\n"
    "                 failing at once with exit 4; --timeout bounds the wait\n"
    "  --timeout SEC  bounds connecting, sending and the reply, each (default 5; none: for\n"
    "                 ever)\n"
    "Anything else that starts with - is a usage error; after --, nothing is an option\n"
    "(smipc send NAME -- --data).\n";

static const char recv_usage[] =
    "usage: smipc recv NAME [--count N] [--timeout SEC] [--raw] [--wait]\n"
    "Connects to NAME and writes every message the server sends to this client (or\n"
    "broadcasts) to standard output, until --count messages came or none came for\n"
    "--timeout seconds (default: for ever).\n"
    "  --count N      stop after N messages (0: no limit, the default)\n"
    "  --timeout SEC  stop when nothing came for that long (exit 3); none: for ever\n"
    "  --raw          write each message's bytes alone; without it each is followed by a\n"
    "                 newline, so text messages read as lines. With --count 1 --raw the\n"
    "                 output is exactly the message\n"
    "  --wait         wait for NAME to come up instead of failing at once with exit 4\n"
    "                 (up to --timeout; the default: for ever)\n";

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *more = realloc(buf, cap *= 2);
        if (!more) {
            free(buf);
            return NULL;
        }
        buf = more;
    }
    *len = n;
    return buf;
}

/* Writes one message to stdout, then a newline when newline says so. */
static int write_message(const char *buf, size_t len, int newline)
{
    return fwrite(buf, 1, len, stdout) == len && (!newline || fputc('\n', stdout) != EOF) &&
                   fflush(stdout) == 0
               ? 0
               : -1;
}

static int connect_failed(const char *cmd, const char *name, int waited, int rc)
{
    if (waited && rc == SMIPC_ETIMEDOUT) {
        fprintf(stderr, "smipc %s: %s: no server came up before --timeout ran out\n", cmd, name);
        return EXIT_TIMEOUT;
    }
    return cli_fail_name(cmd, name, rc);
}

/* Receives one message of any size into *buf (grown as needed). */
static int recv_any(smipc_client *cli, char **buf, size_t *cap, size_t *len, int timeout_ms)
{
    for (;;) {
        *len = *cap;
        int rc = smipc_client_recv(cli, *buf, len, timeout_ms);
        if (rc != SMIPC_ETOOSMALL)
            return rc;
        char *bigger = realloc(*buf, *len);
        if (!bigger)
            return SMIPC_ENOMEM;
        *buf = bigger;
        *cap = *len;
    }
}

int cmd_send(int argc, char **argv)
{
    const char *name = NULL, *data = NULL, *v;
    int reply = 0, raw = 0, wait = 0, timeout_ms = 5000, options = 1;
    for (int i = 1; i < argc; i++) {
        if (options && !strcmp(argv[i], "--")) {
            options = 0; /* what follows is NAME and DATA, even if it starts with '-' */
        } else if (options && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
            fputs(send_usage, stdout);
            return EXIT_OK;
        } else if (options && !strcmp(argv[i], "--reply")) {
            reply = 1;
        } else if (options && !strcmp(argv[i], "--raw")) {
            raw = 1;
        } else if (options && !strcmp(argv[i], "--wait")) {
            wait = 1;
        } else if (options && cli_opt(argc, argv, &i, "--timeout", &v)) {
            cli_timeout_arg("--timeout", v, &timeout_ms);
        } else if (options && cli_is_option(argv[i])) {
            cli_usage_error("no option \"%s\" (after --, data may start with -)", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else if (!data) {
            data = argv[i];
        } else {
            cli_usage_error("one message at a time: \"%s\" is one argument too many", argv[i]);
        }
    }
    if (!name && !cli_bad)
        cli_usage_error("NAME missing");
    if (name)
        cli_check_name(name);
    if (raw && !reply)
        cli_usage_error("--raw is for the reply, and there is none without --reply");
    if (cli_bad)
        return cli_usage_end(send_usage);
    size_t len;
    char *buf;
    if (!data || !strcmp(data, "-")) {
        buf = read_all(stdin, &len);
        if (!buf)
            return cli_fail("send", "standard input", SMIPC_ENOMEM);
    } else {
        len = strlen(data);
        buf = malloc(len + 1);
        if (!buf)
            return cli_fail("send", "message", SMIPC_ENOMEM);
        memcpy(buf, data, len + 1);
    }
    smipc_client *cli;
    int rc = wait ? smipc_client_connect_wait(&cli, name, timeout_ms)
                  : smipc_client_connect(&cli, name, timeout_ms);
    if (rc) {
        free(buf);
        return connect_failed("send", name, wait, rc);
    }
    rc = smipc_client_send(cli, buf, len, timeout_ms);
    if (rc) {
        cli_fail("send", "send", rc);
    } else if (reply) {
        size_t cap = len > 4096 ? len : 4096;
        char *in = malloc(cap);
        rc = in ? recv_any(cli, &in, &cap, &len, timeout_ms) : SMIPC_ENOMEM;
        if (rc)
            cli_fail("send", "reply", rc);
        else if (write_message(in, len, !raw && isatty(1) && (!len || in[len - 1] != '\n')))
            rc = SMIPC_ESYS; /* byte-exact into files and pipes; a terminal's line ends */
        free(in);
    }
    smipc_client_close(cli);
    free(buf);
    return cli_exit_code(rc);
}

int cmd_recv(int argc, char **argv)
{
    const char *name = NULL, *v;
    int timeout_ms = -1, raw = 0, wait = 0;
    uint64_t count = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(recv_usage, stdout);
            return EXIT_OK;
        } else if (cli_opt(argc, argv, &i, "--timeout", &v)) {
            cli_timeout_arg("--timeout", v, &timeout_ms);
        } else if (cli_opt(argc, argv, &i, "--count", &v)) {
            cli_number_arg("--count", v, 0, UINT64_MAX >> 1, &count);
        } else if (!strcmp(argv[i], "--raw")) {
            raw = 1;
        } else if (!strcmp(argv[i], "--wait")) {
            wait = 1;
        } else if (cli_is_option(argv[i])) {
            cli_unknown_option(argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            cli_usage_error("one server at a time: \"%s\" is one argument too many", argv[i]);
        }
    }
    if (!name && !cli_bad)
        cli_usage_error("NAME missing");
    if (name)
        cli_check_name(name);
    if (cli_bad)
        return cli_usage_end(recv_usage);
    smipc_client *cli;
    int rc = wait ? smipc_client_connect_wait(&cli, name, timeout_ms)
                  : smipc_client_connect(&cli, name, timeout_ms < 0 ? 5000 : timeout_ms);
    if (rc)
        return connect_failed("recv", name, wait, rc);
    fprintf(stderr, "smipc recv: connected to %s as client %llu\n", name,
            (unsigned long long)smipc_client_id_of(cli));
    size_t cap = 1 << 16, len;
    char *buf = malloc(cap);
    uint64_t got = 0;
    rc = buf ? SMIPC_OK : SMIPC_ENOMEM;
    while (!rc && (!count || got < count)) {
        rc = recv_any(cli, &buf, &cap, &len, timeout_ms);
        if (!rc) {
            got++;
            if (write_message(buf, len, !raw))
                rc = SMIPC_ESYS;
        }
    }
    if (rc)
        cli_fail("recv", rc == SMIPC_ETIMEDOUT ? "nothing more came" : name, rc);
    free(buf);
    smipc_client_close(cli);
    return cli_exit_code(rc);
}
