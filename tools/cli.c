/* Helpers every subcommand uses. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int cli_opt(int argc, char **argv, int *i, const char *opt, const char **value)
{
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0' || *i + 1 >= argc)
        return 0;
    *value = argv[++*i];
    return 1;
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

int cli_server_opt(int argc, char **argv, int *i, smipc_server_config *cfg, int *bad)
{
    const char *v;
    uint64_t n;
    if (!strcmp(argv[*i], "--no-checksum")) {
        cfg->flags |= SMIPC_NO_CHECKSUM;
        return 1;
    }
    if (!strcmp(argv[*i], "--allow-any-uid")) {
        cfg->flags |= SMIPC_ALLOW_ANY_UID;
        return 1;
    }
    struct {
        const char *opt;
        int wide;
        void *field;
    } opts[] = {{"--max-clients", 0, &cfg->max_clients},
                {"--packet-size", 0, &cfg->packet_size},
                {"--ring-packets", 0, &cfg->ring_packets},
                {"--max-message-size", 1, &cfg->max_message_size}};
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        if (!cli_opt(argc, argv, i, opts[k].opt, &v))
            continue;
        if (cli_parse_size(v, &n) || (!opts[k].wide && n > UINT32_MAX)) {
            fprintf(stderr, "smipc: %s wants a number (K, M, G allowed), not \"%s\"\n", opts[k].opt,
                    v);
            *bad = 1;
        } else if (opts[k].wide) {
            *(uint64_t *)opts[k].field = n;
        } else {
            *(uint32_t *)opts[k].field = (uint32_t)n;
        }
        return 1;
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
