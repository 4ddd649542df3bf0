/* What the subcommands of the `smipc` program share: exit codes, option parsing, words. */
#ifndef SMIPC_CLI_H
#define SMIPC_CLI_H

#include <smipc.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes (documented in `smipc --help` and README). */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,  /* something went wrong; the message says what */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_TIMEOUT = 3, /* nothing came (or no room) before --timeout */
    EXIT_NOTFOUND = 4 /* no live server with that name */
};

/* Prints "smipc CMD: what: words" and returns the exit code for status. */
int cli_fail(const char *cmd, const char *what, int status);
/* Exit code for a status: OK, TIMEOUT, NOTFOUND or FAILED. */
int cli_exit_code(int status);

/* Parses "--name value" style options; 1 when argv[*i] is opt (and *value is set). */
int cli_opt(int argc, char **argv, int *i, const char *opt, const char **value);
/* Numbers with an optional K/M/G suffix (powers of 1024); 0 on success. */
int cli_parse_size(const char *s, uint64_t *out);
/* Seconds (float) to milliseconds, "none"/"-1" meaning for ever; 0 on success. */
int cli_parse_timeout(const char *s, int *ms);
/* Writes s as a JSON string, quotes included: '"', '\\' and control characters
   escaped, bytes that are not UTF-8 written as U+FFFD, so any name or path makes valid
   JSON. */
void cli_json_string(FILE *f, const char *s);
/* 1 when arg looks like an option: starts with '-' and is not "-" alone (stdin). */
int cli_is_option(const char *arg);
/* Server limits shared by the commands that open a server. 1 if argv[*i] was one. */
int cli_server_opt(int argc, char **argv, int *i, smipc_server_config *cfg, int *bad);

int cmd_serve(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_recv(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
