/* Helpers every subcommand uses. */
#include "cli.h"

#include "name.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cli_cmd = "";
int cli_bad;

int cli_exit_code(int status)
{
    switch (status) {
    case SMIPC_OK:
        return EXIT_OK;
    case SMIPC_ETIMEDOUT:
        return EXIT_TIMEOUT;
    case SMIPC_ENOTFOUND:
        return EXIT_NOTFOUND;
    default:
        return EXIT_FAILED;
    }
}

int cli_fail(const char *cmd, const char *what, int status)
{
    if (status == SMIPC_ESYS)
        fprintf(stderr, "smipc %s: %s: %s (%s)\n", cmd, what, smipc_strerror(status),
                strerror(errno));
    else
        fprintf(stderr, "smipc %s: %s: %s\n", cmd, what, smipc_strerror(status));
    return cli_exit_code(status);
}

int cli_fail_name(const char *cmd, const char *name, int status)
{
    char path[SMIPC_PATH_MAX];
    if (status != SMIPC_ENOTFOUND || smipc_name_path(name, path, sizeof path) != SMIPC_OK)
        return cli_fail(cmd, name, status);
    /* A server started under another SMIPC_DIR or XDG_RUNTIME_DIR is the usual cause. */
    const char *from;
    char tmp[64];
    if (strchr(name, '/'))
        from = "the name is a path";
    else if (getenv("SMIPC_DIR") && *getenv("SMIPC_DIR"))
        from = "the runtime directory is $SMIPC_DIR";
    else if (getenv("XDG_RUNTIME_DIR") && *getenv("XDG_RUNTIME_DIR"))
        from = "the runtime directory is $XDG_RUNTIME_DIR/smipc";
    else {
        snprintf(tmp, sizeof tmp, "/tmp/smipc-%u: neither $SMIPC_DIR nor $XDG_RUNTIME_DIR is set",
                 (unsigned)geteuid());
        from = tmp;
    }
    fprintf(stderr, "smipc %s: %s: %s: looked for %s (%s); --wait waits for one to come up\n", cmd,
            name, smipc_strerror(status), path, from);
    return EXIT_NOTFOUND;
}

void cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "smipc %s: ", cli_cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cli_bad++;
}

int cli_usage_end(const char *usage)
{
    if (!cli_bad) {
        fputs(usage, stderr);
    } else {
        const char *nl = strchr(usage, '\n');
        fprintf(stderr, "%.*s\n(smipc %s --help says more)\n", nl ? (int)(nl - usage) : 0, usage,
                cli_cmd);
    }
    return EXIT_USAGE;
}

void cli_unknown_option(const char *arg)
{
    cli_usage_error("no option \"%s\" (smipc %s --help lists them)", arg, cli_cmd);
}

int cli_opt(int argc, char **argv, int *i, const char *opt, const char **value)
{
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        cli_usage_error("%s needs a value", opt);
        *value = NULL;
        return 1;
    }
    *value = argv[++*i];
    return 1;
}

void cli_timeout_arg(const char *opt, const char *v, int *ms)
{
    if (v && cli_parse_timeout(v, ms))
        cli_usage_error("bad %s \"%s\": expected seconds (e.g. 0.5) or \"none\"", opt, v);
}

const char *cli_size_word(uint64_t n, char *buf, size_t cap)
{
    static const char units[] = "KMGT";
    int u = 0;
    while (u < 4 && n && n % 1024 == 0) {
        n /= 1024;
        u++;
    }
    if (u)
        snprintf(buf, cap, "%llu%c", (unsigned long long)n, units[u - 1]);
    else
        snprintf(buf, cap, "%llu", (unsigned long long)n);
    return buf;
}

void cli_number_arg(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t n;
    char a[32], b[32];
    if (!v)
        return;
    if (cli_parse_size(v, &n) || n < lo || n > hi)
        cli_usage_error("bad %s \"%s\": expected a whole number from %s to %s (K, M, G, T: "
                        "times 1024, 1024^2, ...)",
                        opt, v, cli_size_word(lo, a, sizeof a), cli_size_word(hi, b, sizeof b));
    else
        *out = n;
}

int cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    int shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    else if (*end == 'T' || *end == 't')
        shift = 40;
    if (shift)
        end++;
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int cli_parse_timeout(const char *s, int *ms)
{
    if (!strcmp(s, "none") || !strcmp(s, "-1")) {
        *ms = -1;
        return 0;
    }
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0) || v > 2e6)
        return -1;
    *ms = (int)ceil(v * 1000);
    return 0;
}

int cli_server_opt(int argc, char **argv, int *i, smipc_server_config *cfg)
{
    const char *v;
    if (!strcmp(argv[*i], "--no-checksum")) {
        cfg->flags |= SMIPC_NO_CHECKSUM;
        return 1;
    }
    if (!strcmp(argv[*i], "--allow-any-uid")) {
        cfg->flags |= SMIPC_ALLOW_ANY_UID;
        return 1;
    }
    /* the library's ranges (README, "Limits"); what only holds together is checked later */
    struct {
        const char *opt, *field, *range;
        uint64_t lo, hi;
        int wide;
        void *out;
    } opts[] = {
        {"--max-clients", "max_clients", "1 .. 1048576", 1, 1u << 20, 0, &cfg->max_clients},
        {"--packet-size", "packet_size", "64 .. 16M", 64, 1u << 24, 0, &cfg->packet_size},
        {"--ring-packets", "ring_packets", "2 .. 65536", 2, 1u << 16, 0, &cfg->ring_packets},
        {"--max-message-size", "max_message_size", "0 .. 1T", 0, (uint64_t)1 << 40, 1,
         &cfg->max_message_size},
    };
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        if (!cli_opt(argc, argv, i, opts[k].opt, &v))
            continue;
        uint64_t n;
        if (!v)
            return 1;
        if (cli_parse_size(v, &n) || n < opts[k].lo || n > opts[k].hi)
            cli_usage_error("bad %s \"%s\": %s is %s (K, M, G, T: times 1024, 1024^2, ...)",
                            opts[k].opt, v, opts[k].field, opts[k].range);
        else if (opts[k].wide)
            *(uint64_t *)opts[k].out = n;
        else
            *(uint32_t *)opts[k].out = (uint32_t)n;
        return 1;
    }
    return 0;
}

void cli_check_geometry(const smipc_server_config *cfg)
{
    /* the library's own checks are the last word (serve reports a refusal as usage too);
     * these name the options to change */
    char a[32], b[32];
    uint64_t rings = 2 * (uint64_t)cfg->ring_packets * cfg->packet_size;
    if (rings > ((uint64_t)1 << 30))
        cli_usage_error("--packet-size %s with --ring-packets %u: a connection's two rings "
                        "would take %llu MiB, and it may have at most 1 GiB (fewer or smaller "
                        "packets)",
                        cli_size_word(cfg->packet_size, a, sizeof a), cfg->ring_packets,
                        (unsigned long long)(rings >> 20));
    if (cfg->packet_size && cfg->max_message_size / cfg->packet_size >= UINT32_MAX)
        cli_usage_error("--max-message-size %s with --packet-size %s: a message could take 2^32 "
                        "packets or more (at most 2^32 - 1); use larger packets",
                        cli_size_word(cfg->max_message_size, a, sizeof a),
                        cli_size_word(cfg->packet_size, b, sizeof b));
}

/* The rule a bad name breaks, or NULL (the rules of csrc/name.c, in words). */
static const char *name_rule(const char *name, char *buf, size_t cap)
{
    size_t len = strlen(name);
    if (len == 0)
        return "a name is 1 to 100 characters, not empty";
    if (strchr(name, '/')) {
        if (len >= SMIPC_PATH_MAX) {
            snprintf(buf, cap,
                     "with '/' it is a socket path, and a socket path is at most %zu bytes "
                     "(this one has %zu)",
                     SMIPC_PATH_MAX - 1, len);
            return buf;
        }
        if (name[len - 1] == '/')
            return "with '/' it is a socket path, and this one ends in / (no file name)";
        return NULL;
    }
    if (len > 100) {
        snprintf(buf, cap,
                 "a name is 1 to 100 characters (this one has %zu); with '/' it is a socket path",
                 len);
        return buf;
    }
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return "a name cannot be \".\" or \"..\"";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            if (c > 0x20 && c < 0x7f)
                snprintf(buf, cap, "character %zu is '%c'", i + 1, c);
            else
                snprintf(buf, cap, "character %zu is byte 0x%02x", i + 1, c);
            snprintf(buf + strlen(buf), cap - strlen(buf),
                     "; a name is letters, digits, '.', '_' and '-' only; with '/' it is a socket "
                     "path");
            return buf;
        }
    }
    return NULL;
}

int cli_check_name(const char *name)
{
    char buf[256];
    const char *rule = name_rule(name, buf, sizeof buf);
    if (rule) {
        cli_usage_error("bad server name \"%s\": %s", name, rule);
        return -1;
    }
    char path[SMIPC_PATH_MAX];
    if (smipc_name_path(name, path, sizeof path) == SMIPC_EINVAL) {
        cli_usage_error("server name \"%s\": the runtime directory leaves no room for a socket "
                        "path (%zu bytes at most); set SMIPC_DIR to a shorter one",
                        name, SMIPC_PATH_MAX - 1);
        return -1;
    }
    return 0;
}

int cli_is_option(const char *arg)
{
    return arg[0] == '-' && arg[1] != '\0';
}

/* Length of the UTF-8 sequence at s (1 to 4), or 0 when it is not one (overlong forms,
 * surrogates and code points past U+10FFFF included). */
static size_t utf8_length(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

void cli_json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        size_t n = utf8_length(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
        } else if (*p == '"' || *p == '\\') {
            fputc('\\', f);
            fputc(*p++, f);
        } else if (*p < 0x20 || *p == 0x7F) {
            fprintf(f, "\\u%04x", *p++);
        } else {
            fwrite(p, 1, n, f);
            p += n;
        }
    }
    fputc('"', f);
}
