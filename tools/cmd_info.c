/* smipc ls and smipc stat: what runs, asked of the servers themselves. */
#include "cli.h"

#include "clock.h"
#include "name.h"
#include "stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char ls_usage[] =
    "usage: smipc ls [--json] [--prune]\n"
    "Lists the servers in the runtime directory ($SMIPC_DIR, $XDG_RUNTIME_DIR/smipc or\n"
    "/tmp/smipc-UID): live or stale (a socket left by a server that died), owner, pid,\n"
    "clients.\n"
    "  --json    a JSON array, one object per socket\n"
    "  --prune   first remove the stale sockets (those that refuse connections), saying\n"
    "            each it removed (on stderr with --json); a live server's socket is never\n"
    "            touched, and a server starting meanwhile is not raced (the directory lock\n"
    "            servers take)\n";

static const char stat_usage[] =
    "usage: smipc stat NAME [--json] [--wait] [--timeout SEC]\n"
    "Asks the live server NAME for its counters, without joining as a client: per\n"
    "connection messages and bytes each way, packets queued in each ring, sleeps and\n"
    "wake-ups, checksum failures, aborted transfers, age; and the server's uptime.\n"
    "  --json         one JSON object\n"
    "  --wait         wait for NAME to come up instead of failing at once with exit 4\n"
    "  --timeout SEC  bounds the wait and the answer (default 2; none: for ever)\n";

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

/* Removes the sockets in dir that refuse connections: servers that died. Holds the lock
 * that a server opening a name holds while it probes, takes over and binds (csrc/server.c,
 * bind_name), so a socket refusing here is not one a server is between bind and listen
 * on, and a server taking the name over meanwhile is not undone. Returns how many it
 * removed, or -1 (errno). */
static int prune(const char *dir, FILE *say)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -1;
    if (flock(dfd, LOCK_EX) != 0) {
        close(dfd);
        return -1;
    }
    DIR *d = opendir(dir);
    int removed = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[PATH_MAX + 256];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || strlen(path) >= sizeof sa.sun_path)
            continue;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (probe < 0)
            break;
        /* only a refusal is death: an answer, a full backlog (EAGAIN), another socket type
         * or no permission is someone's */
        int dead = connect(probe, (struct sockaddr *)&sa, sizeof sa) != 0 && errno == ECONNREFUSED;
        close(probe);
        if (!dead)
            continue;
        if (unlink(path) == 0) {
            fprintf(say, "removed stale %s (%s)\n", e->d_name, path);
            removed++;
        } else {
            fprintf(stderr, "smipc ls: could not remove stale %s: %s\n", path, strerror(errno));
        }
    }
    if (d)
        closedir(d);
    close(dfd); /* releases the lock */
    return removed;
}

int cmd_ls(int argc, char **argv)
{
    int json = 0, do_prune = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(ls_usage, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--prune")) {
            do_prune = 1;
        } else if (cli_is_option(argv[i])) {
            cli_unknown_option(argv[i]);
        } else {
            cli_usage_error("takes no NAME (\"%s\"): it lists them all", argv[i]);
        }
    }
    if (cli_bad)
        return cli_usage_end(ls_usage);
    char dir[PATH_MAX];
    int rc = smipc_runtime_dir(dir, 0);
    if (rc)
        return cli_fail("ls", "runtime directory", rc);
    if (do_prune && prune(dir, json ? stderr : stdout) < 0)
        return cli_fail("ls", "--prune", SMIPC_ESYS);
    DIR *d = opendir(dir);
    if (!d) {
        if (json)
            printf("[]\n");
        else
            printf("no servers (%s does not exist)\n", dir);
        return EXIT_OK;
    }
    struct dirent *e;
    int n = 0, stale = 0;
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
        stale += q == SMIPC_ENOTFOUND;
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
    else if (stale)
        printf("(%d stale: sockets left by servers that died; smipc ls --prune removes them)\n",
               stale);
    return EXIT_OK;
}

#define RECHECK_MIN_MS 5   /* a socket there that refuses (stale, or a server starting): */
#define RECHECK_MAX_MS 100 /* looked at again, backing off */

/* smipc_stats_query, first waiting (up to the timeout) for a live server to own the name:
 * a watch on the runtime directory, as smipc_client_connect_wait does. */
static int query_wait(const char *name, struct smipc_stat_server *s, struct smipc_stat_conn **c,
                      size_t *n, int timeout_ms)
{
    char path[SMIPC_PATH_MAX], dir[PATH_MAX];
    int rc = smipc_name_resolve(name, 1, path, dir);
    if (rc)
        return rc;
    int64_t deadline = smipc_deadline(timeout_ms);
    /* watched before the first try, so a server coming up in between is not missed */
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino < 0)
        return SMIPC_ESYS;
    if (inotify_add_watch(ino, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB) < 0) {
        close(ino);
        return SMIPC_ESYS;
    }
    int recheck_ms = RECHECK_MIN_MS;
    for (;;) {
        rc = smipc_stats_query(name, s, c, n, smipc_poll_ms(deadline));
        if (rc != SMIPC_ENOTFOUND)
            break;
        int ms = smipc_poll_ms(deadline);
        if (ms == 0) {
            rc = SMIPC_ETIMEDOUT;
            break;
        }
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            if (ms < 0 || ms > recheck_ms)
                ms = recheck_ms;
            recheck_ms = recheck_ms * 2 > RECHECK_MAX_MS ? RECHECK_MAX_MS : recheck_ms * 2;
        }
        struct pollfd p = {.fd = ino, .events = POLLIN};
        int got = poll(&p, 1, ms);
        if (got < 0 && errno != EINTR) {
            rc = SMIPC_ESYS;
            break;
        }
        if (got > 0) {
            char events[4096];
            while (read(ino, events, sizeof events) > 0)
                ;
            recheck_ms = RECHECK_MIN_MS;
        }
    }
    close(ino);
    return rc;
}

int cmd_stat(int argc, char **argv)
{
    const char *name = NULL, *v;
    int json = 0, wait = 0, timeout_ms = 2000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(stat_usage, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--wait")) {
            wait = 1;
        } else if (cli_opt(argc, argv, &i, "--timeout", &v)) {
            cli_timeout_arg("--timeout", v, &timeout_ms);
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
        return cli_usage_end(stat_usage);
    struct smipc_stat_server s;
    struct smipc_stat_conn *c = NULL;
    size_t n;
    int rc = wait ? query_wait(name, &s, &c, &n, timeout_ms)
                  : smipc_stats_query(name, &s, &c, &n, timeout_ms);
    if (rc == SMIPC_ETIMEDOUT && wait) {
        fprintf(stderr, "smipc stat: %s: no server came up before --timeout ran out\n", name);
        return EXIT_TIMEOUT;
    }
    if (rc)
        return cli_fail_name("stat", name, rc);
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
