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

/* The subcommand running ("send"), for messages; set by main. */
extern const char *cli_cmd;
/* How many usage errors were reported (cli_usage_error) on this command line. */
extern int cli_bad;

/* Prints "smipc CMD: what: words" and returns the exit code for status. */
int cli_fail(const char *cmd, const char *what, int status);
/* As cli_fail for a failure to reach the server NAME: a SMIPC_ENOTFOUND also says which
   socket was looked for and where its directory came from. */
int cli_fail_name(const char *cmd, const char *name, int status);
/* Exit code for a status: OK, TIMEOUT, NOTFOUND or FAILED. */
int cli_exit_code(int status);

/* Prints "smipc CMD: ..." (printf style) on stderr and counts a usage error. */
void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends a command line with usage errors: the usage text's first line and where to read
   more (or, when no error was reported, the whole text); returns EXIT_USAGE. */
int cli_usage_end(const char *usage);
/* An argument that is not one of the command's options ("no option ..."). */
void cli_unknown_option(const char *arg);

/* Parses "--name value" and "--name=value" options: 1 when argv[*i] is opt. *value is set,
   or NULL (a usage error already reported) when no value follows. */
int cli_opt(int argc, char **argv, int *i, const char *opt, const char **value);
/* Numbers with an optional K/M/G/T suffix (powers of 1024); 0 on success. */
int cli_parse_size(const char *s, uint64_t *out);
/* Seconds (float) to milliseconds, "none"/"-1" meaning for ever; 0 on success. */
int cli_parse_timeout(const char *s, int *ms);
/* The value of option opt (v from cli_opt) as a timeout, a count or a number from lo to hi
   (K/M/G/T allowed); a bad one is a usage error that says what would do. */
void cli_timeout_arg(const char *opt, const char *v, int *ms);
void cli_number_arg(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out);
/* "1M", "64K", "1000": n in the largest unit that divides it. */
const char *cli_size_word(uint64_t n, char *buf, size_t cap);
/* A server name's rules (README "Names"): 0 when name keeps them, else a usage error that
   says which rule it broke. */
int cli_check_name(const char *name);
/* Writes s as a JSON string, quotes included: '"', '\\' and control characters
   escaped, bytes that are not UTF-8 written as U+FFFD, so any name or path makes valid
   JSON. */
void cli_json_string(FILE *f, const char *s);
/* 1 when arg looks like an option: starts with '-' and is not "-" alone (stdin). */
int cli_is_option(const char *arg);
/* Server limits shared by the commands that open a server: 1 if argv[*i] was one (a bad
   value is a usage error naming the field and its range). */
int cli_server_opt(int argc, char **argv, int *i, smipc_server_config *cfg);
/* The limits that only hold together (the rings' size, packets per message): a usage
   error when cfg breaks one. */
void cli_check_geometry(const smipc_server_config *cfg);

int cmd_serve(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_recv(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
