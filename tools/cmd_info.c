/* smipc ls and smipc stat: what runs, asked of the servers themselves. */
#include "cli.h"

#include "name.h"
#include "stats.h"

#include <dirent.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char ls_usage[] =
    "usage: smipc ls [--json]\n"
    "Lists the servers in the runtime directory ($SMIPC_DIR, $XDG_RUNTIME_DIR/smipc or\n"
    "/tmp/smipc-UID): live or stale (a socket left by a server that died), owner, pid,\n"
    "clients.\n";

static const char stat_usage[] =
    "usage: smipc stat NAME [--json]\n"
    "Asks the live server NAME for its counters, without joining as a client: per\n"
    "connection messages and bytes each way, packets queued in each ring, sleeps and\n"
    "wake-ups, checksum failures, aborted transfers, age; and the server's uptime.\n";

static const char *user_name(unsigned uid, char *buf, size_t cap)
{
    struct passwd *pw = getpwuid(uid);
    if (pw)
        return pw->pw_name;
    snprintf(buf, cap, "%u", uid);
    return buf;
}

static const char *state_word(uint32_t s)
{
    return s == 0 ? "open" : s == 1 ? "gone" : "broken";
}

int cmd_ls(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(ls_usage, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fputs(ls_usage, stderr);
            return EXIT_USAGE;
        }
    }
    char dir[PATH_MAX];
    int rc = smipc_runtime_dir(dir, 0);
    if (rc)
        return cli_fail("ls", "runtime directory", rc);
    DIR *d = opendir(dir);
    if (!d) {
        if (json)
            printf("[]\n");
        else
            printf("no servers (%s does not exist)\n", dir);
        return EXIT_OK;
    }
    struct dirent *e;
    int n = 0;
    if (json)
        printf("[");
    else
        printf("%-32s %-6s %-10s %8s %8s\n", "NAME", "STATE", "OWNER", "PID", "CLIENTS");
    while ((e = readdir(d))) {
        char path[PATH_MAX + 256];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        struct smipc_stat_server s;
        struct smipc_stat_conn *conns;
        size_t count;
        /* a name this long was shortened on disk: ask by path, which works for both */
        int q = smipc_stats_query(path, &s, &conns, &count, 1000);
        free(conns);
        const char *state = q == SMIPC_OK ? "live" : q == SMIPC_ENOTFOUND ? "stale" : "?";
        char ub[32];
        const char *owner = user_name(st.st_uid, ub, sizeof ub);
        if (json) {
            printf("%s{\"name\":", n ? "," : "");
            cli_json_string(stdout, e->d_name);
            printf(",\"path\":");
            cli_json_string(stdout, path);
            printf(",\"state\":\"%s\",\"owner\":", state);
            cli_json_string(stdout, owner);
            printf(",\"pid\":%u,\"clients\":%u}", q ? 0 : s.server_pid, q ? 0 : s.clients);
        } else if (q == SMIPC_OK)
            printf("%-32s %-6s %-10s %8u %8u\n", e->d_name, state, owner, s.server_pid, s.clients);
        else
            printf("%-32s %-6s %-10s %8s %8s\n", e->d_name, state, owner, "-", "-");
        n++;
    }
    closedir(d);
    if (json)
        printf("]\n");
    else if (!n)
        printf("(no servers in %s)\n", dir);
    return EXIT_OK;
}

int cmd_stat(int argc, char **argv)
{
    const char *name = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(stat_usage, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!name && argv[i][0] != '-') {
            name = argv[i];
        } else {
            fputs(stat_usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (!name) {
        fputs(stat_usage, stderr);
        return EXIT_USAGE;
    }
    struct smipc_stat_server s;
    struct smipc_stat_conn *c;
    size_t n;
    int rc = smipc_stats_query(name, &s, &c, &n, 2000);
    if (rc)
        return cli_fail("stat", name, rc);
    if (json) {
        printf("{\"name\":");
        cli_json_string(stdout, name);
        printf(",\"pid\":%u,\"uptime_s\":%.3f,\"clients\":%u,"
               "\"max_clients\":%u,\"packet_size\":%u,\"ring_packets\":%u,"
               "\"max_message_size\":%llu,\"checksum\":%s,\"accepted\":%llu,\"refused\":%llu,"
               "\"connections\":[",
               s.server_pid, s.uptime_ns / 1e9, s.clients, s.max_clients, s.packet_size,
               s.ring_packets, (unsigned long long)s.max_message_size,
               s.flags & SMIPC_NO_CHECKSUM ? "false" : "true", (unsigned long long)s.accepted,
               (unsigned long long)s.refused);
        for (size_t i = 0; i < n; i++)
            printf("%s{\"client\":%llu,\"state\":\"%s\",\"pid\":%u,\"uid\":%u,\"age_s\":%.3f,"
                   "\"msgs_in\":%llu,\"bytes_in\":%llu,\"msgs_out\":%llu,\"bytes_out\":%llu,"
                   "\"rx_queued\":%u,\"tx_queued\":%u,\"sleeps\":%llu,\"wakeups_sent\":%llu,"
                   "\"checksum_failures\":%llu,\"aborts\":%llu}",
                   i ? "," : "", (unsigned long long)c[i].client_id, state_word(c[i].state),
                   c[i].pid, c[i].uid, c[i].age_ns / 1e9, (unsigned long long)c[i].msgs_in,
                   (unsigned long long)c[i].bytes_in, (unsigned long long)c[i].msgs_out,
                   (unsigned long long)c[i].bytes_out, c[i].rx_queued, c[i].tx_queued,
                   (unsigned long long)c[i].sleeps, (unsigned long long)c[i].wakeups_sent,
                   (unsigned long long)c[i].checksum_failures, (unsigned long long)c[i].aborts);
        printf("]}\n");
    } else {
        printf("server %s: pid %u, up %.1f s, %u of %u clients, packets %u x %u B, "
               "messages up to %llu B, checksums %s, %llu accepted, %llu refused\n",
               name, s.server_pid, s.uptime_ns / 1e9, s.clients, s.max_clients, s.ring_packets,
               s.packet_size, (unsigned long long)s.max_message_size,
               s.flags & SMIPC_NO_CHECKSUM ? "off" : "on", (unsigned long long)s.accepted,
               (unsigned long long)s.refused);
        printf("%8s %-6s %7s %10s %12s %10s %12s %6s %6s %8s %8s %6s %6s\n", "CLIENT", "STATE",
               "PID", "MSGS IN", "BYTES IN", "MSGS OUT", "BYTES OUT", "RX Q", "TX Q", "SLEEPS",
               "WAKEUPS", "CRC!", "AGE s");
        for (size_t i = 0; i < n; i++)
            printf("%8llu %-6s %7u %10llu %12llu %10llu %12llu %6u %6u %8llu %8llu %6llu %6.0f\n",
                   (unsigned long long)c[i].client_id, state_word(c[i].state), c[i].pid,
                   (unsigned long long)c[i].msgs_in, (unsigned long long)c[i].bytes_in,
                   (unsigned long long)c[i].msgs_out, (unsigned long long)c[i].bytes_out,
                   c[i].rx_queued, c[i].tx_queued, (unsigned long long)c[i].sleeps,
                   (unsigned long long)c[i].wakeups_sent,
                   (unsigned long long)c[i].checksum_failures, c[i].age_ns / 1e9);
    }
    free(c);
    return EXIT_OK;
}
