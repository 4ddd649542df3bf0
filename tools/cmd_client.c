/* smipc send NAME [DATA|-] and smipc recv NAME: one-shot clients for scripts. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char send_usage[] =
    "usage: smipc send NAME [DATA|-] [--reply] [--timeout SEC] [-- DATA]\n"
    "Sends DATA (or standard input, when DATA is - or missing) as one message to the\n"
    "server NAME. With --reply, waits for one message back and writes it to standard\n"
    "output. --timeout bounds connecting, sending and the reply (default 5 s; none: for\n"
    "ever). Anything else that starts with - is a usage error; after --, nothing is an\n"
    "option (smipc send NAME -- --data).\n";

static const char recv_usage[] =
    "usage: smipc recv NAME [--count N] [--timeout SEC]\n"
    "Connects to NAME and writes every message the server sends to this client (or\n"
    "broadcasts), each followed by a newline, until --count messages came or none came\n"
    "for --timeout seconds (default: for ever).\n";

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

static int write_message(const char *buf, size_t len)
{
    return fwrite(buf, 1, len, stdout) == len && fputc('\n', stdout) != EOF && fflush(stdout) == 0
               ? 0
               : -1;
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
    int reply = 0, timeout_ms = 5000, bad = 0, options = 1;
    for (int i = 1; i < argc; i++) {
        if (options && !strcmp(argv[i], "--")) {
            options = 0; /* what follows is NAME and DATA, even if it starts with '-' */
        } else if (options && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
            fputs(send_usage, stdout);
            return EXIT_OK;
        } else if (options && !strcmp(argv[i], "--reply")) {
            reply = 1;
        } else if (options && cli_opt(argc, argv, &i, "--timeout", &v)) {
            bad |= cli_parse_timeout(v, &timeout_ms) != 0;
        } else if (options && cli_is_option(argv[i])) {
            fprintf(stderr, "smipc send: no option \"%s\" (after --, data may start with -)\n",
                    argv[i]);
            bad = 1;
        } else if (!name) {
            name = argv[i];
        } else if (!data) {
            data = argv[i];
        } else {
            bad = 1;
        }
    }
    if (bad || !name) {
        fputs(send_usage, stderr);
        return EXIT_USAGE;
    }
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
    int rc = smipc_client_connect(&cli, name, timeout_ms);
    if (rc) {
        free(buf);
        return cli_fail("send", name, rc);
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
        else if (write_message(in, len))
            rc = SMIPC_ESYS;
        free(in);
    }
    smipc_client_close(cli);
    free(buf);
    return cli_exit_code(rc);
}

int cmd_recv(int argc, char **argv)
{
    const char *name = NULL, *v;
    int timeout_ms = -1, bad = 0;
    uint64_t count = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(recv_usage, stdout);
            return EXIT_OK;
        } else if (cli_opt(argc, argv, &i, "--timeout", &v)) {
            bad |= cli_parse_timeout(v, &timeout_ms) != 0;
        } else if (cli_opt(argc, argv, &i, "--count", &v)) {
            bad |= cli_parse_size(v, &count) != 0;
        } else if (!name && argv[i][0] != '-') {
            name = argv[i];
        } else {
            bad = 1;
        }
    }
    if (bad || !name) {
        fputs(recv_usage, stderr);
        return EXIT_USAGE;
    }
    smipc_client *cli;
    int rc = smipc_client_connect(&cli, name, timeout_ms < 0 ? 5000 : timeout_ms);
    if (rc)
        return cli_fail("recv", name, rc);
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
            if (write_message(buf, len))
                rc = SMIPC_ESYS;
        }
    }
    if (rc)
        cli_fail("recv", rc == SMIPC_ETIMEDOUT ? "nothing more came" : name, rc);
    free(buf);
    smipc_client_close(cli);
    return cli_exit_code(rc);
}
