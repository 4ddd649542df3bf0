/* The API contract, exercised from one process: every status code a call documents,
 * the name rule, the config, strerror and version. */
#include "helpers.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_strerror_covers_every_code(void **state)
{
    (void)state;
    const int codes[] = {SMIPC_OK,        SMIPC_ETIMEDOUT, SMIPC_EINVAL,    SMIPC_ENOMEM,
                         SMIPC_ETOOSMALL, SMIPC_EMSGSIZE,  SMIPC_ENOTFOUND, SMIPC_EEXIST,
                         SMIPC_EFULL,     SMIPC_ECLOSED,   SMIPC_ENOCLIENT, SMIPC_EPROTO,
                         SMIPC_EACCES,    SMIPC_ESYS,      SMIPC_ELOANSIZE};
    const char *unknown = smipc_strerror(12345);
    assert_non_null(unknown);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = smipc_strerror(codes[i]);
        assert_non_null(s);
        assert_string_not_equal(s, unknown);
        if (codes[i] != SMIPC_OK)
            assert_true(codes[i] < 0);
        for (size_t k = 0; k < i; k++) /* distinct codes, distinct words */
            assert_string_not_equal(s, smipc_strerror(codes[k]));
    }
    assert_non_null(smipc_strerror(1));
}

static void test_version_matches_header(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", SMIPC_VERSION_MAJOR, SMIPC_VERSION_MINOR,
             SMIPC_VERSION_PATCH);
    assert_string_equal(smipc_version(), want);
}

static void test_config_defaults(void **state)
{
    (void)state;
    smipc_server_config cfg;
    memset(&cfg, 0xab, sizeof cfg);
    smipc_server_config_init(&cfg);
    assert_int_equal(cfg.max_clients, 64);
    assert_int_equal(cfg.packet_size, 4096);
    assert_int_equal(cfg.ring_packets, 64);
    assert_true(cfg.max_message_size == (uint64_t)64 << 20);
    assert_int_equal(cfg.flags, 0);
    smipc_server_config_init(NULL); /* harmless */

    smipc_server *srv = th_server(th_name("cfg"), NULL);
    smipc_server_config got;
    assert_smipc_ok(smipc_server_config_of(srv, &got));
    assert_memory_equal(&got, &cfg, sizeof cfg);
    smipc_server_close(srv);
}

static void test_bad_arguments_are_einval(void **state)
{
    (void)state;
    smipc_server *srv = NULL;
    smipc_client *cli = NULL;
    char buf[8];
    size_t len = sizeof buf;
    assert_status(smipc_server_open(NULL, "x", NULL), SMIPC_EINVAL);
    assert_status(smipc_server_open(&srv, NULL, NULL), SMIPC_EINVAL);
    assert_null(srv);
    assert_status(smipc_server_open(&srv, "", NULL), SMIPC_EINVAL);
    assert_status(smipc_server_open(&srv, "has space", NULL), SMIPC_EINVAL);
    assert_status(smipc_server_open(&srv, "..", NULL), SMIPC_EINVAL);
    assert_status(smipc_server_open(&srv, "ümlaut", NULL), SMIPC_EINVAL);
    char longname[102];
    memset(longname, 'a', 101);
    longname[101] = 0;
    assert_status(smipc_server_open(&srv, longname, NULL), SMIPC_EINVAL);
    assert_status(smipc_client_connect(NULL, "x", 0), SMIPC_EINVAL);
    assert_status(smipc_client_connect(&cli, "bad name!", 0), SMIPC_EINVAL);

    smipc_server_config cfg;
    const struct {
        uint32_t max_clients, packet_size, ring_packets, flags;
        uint64_t max;
    } bad[] = {
        {0, 4096, 64, 0, 1 << 20},          {64, 16, 64, 0, 1 << 20},
        {64, 4096, 1, 0, 1 << 20},          {64, 4096, 1 << 17, 0, 1 << 20},
        {64, 1u << 25, 4, 0, 1 << 20},      {64, 4096, 64, 1u << 7, 1 << 20},
        {64, 1 << 24, 64, 0, 1 << 20},      /* 2 GiB of segment */
        {64, 64, 64, 0, (uint64_t)1 << 41}, /* beyond 1 TiB */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        smipc_server_config_init(&cfg);
        cfg.max_clients = bad[i].max_clients;
        cfg.packet_size = bad[i].packet_size;
        cfg.ring_packets = bad[i].ring_packets;
        cfg.flags = bad[i].flags;
        cfg.max_message_size = bad[i].max;
        assert_status(smipc_server_open(&srv, th_name("bad"), &cfg), SMIPC_EINVAL);
    }
    smipc_server_config_init(&cfg);
    cfg.reserved[3] = 1;
    assert_status(smipc_server_open(&srv, th_name("bad"), &cfg), SMIPC_EINVAL);

    /* NULL handles and buffers */
    assert_status(smipc_server_recv(NULL, NULL, buf, &len, 0), SMIPC_EINVAL);
    assert_status(smipc_server_send(NULL, 1, buf, 1, 0), SMIPC_EINVAL);
    assert_status(smipc_server_broadcast(NULL, buf, 1, 0, NULL), SMIPC_EINVAL);
    assert_status(smipc_server_clients(NULL, NULL, 0, &len), SMIPC_EINVAL);
    assert_status(smipc_server_fd(NULL), SMIPC_EINVAL);
    assert_status(smipc_client_send(NULL, buf, 1, 0), SMIPC_EINVAL);
    assert_status(smipc_client_recv(NULL, buf, &len, 0), SMIPC_EINVAL);
    assert_status(smipc_client_fd(NULL), SMIPC_EINVAL);
    assert_int_equal(smipc_client_id_of(NULL), 0);
    smipc_server_close(NULL);
    smipc_client_close(NULL);

    srv = th_server(th_name("args"), NULL);
    len = sizeof buf;
    assert_status(smipc_server_recv(srv, NULL, NULL, &len, 0), SMIPC_EINVAL); /* cap > 0 */
    assert_status(smipc_server_recv(srv, NULL, buf, NULL, 0), SMIPC_EINVAL);
    assert_status(smipc_server_send(srv, 1, NULL, 5, 0), SMIPC_EINVAL);
    assert_status(smipc_server_clients(srv, NULL, 3, &len), SMIPC_EINVAL);
    smipc_server_close(srv);
}

static void test_name_rule_and_paths(void **state)
{
    (void)state;
    const char *dir = th_runtime_dir();
    const char *name = th_name("path");
    smipc_server *srv = th_server(name, NULL);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 077, 0); /* owner only */
    smipc_server_close(srv);
    assert_int_equal(lstat(path, &st), -1); /* removed on close */

    /* A name with '/' is a path used as given. */
    snprintf(path, sizeof path, "%s/explicit.sock", dir);
    srv = th_server(path, NULL);
    assert_int_equal(lstat(path, &st), 0);
    smipc_client *cli = th_client(path);
    smipc_client_close(cli);
    smipc_server_close(srv);

    /* Without $SMIPC_DIR: $XDG_RUNTIME_DIR/smipc, created owner-only. */
    char xdg[PATH_MAX / 2];
    snprintf(xdg, sizeof xdg, "%s/xdg", dir);
    assert_int_equal(mkdir(xdg, 0700), 0);
    unsetenv("SMIPC_DIR");
    setenv("XDG_RUNTIME_DIR", xdg, 1);
    srv = th_server("xdgname", NULL);
    snprintf(path, sizeof path, "%s/smipc/xdgname", xdg);
    assert_int_equal(lstat(path, &st), 0);
    snprintf(path, sizeof path, "%s/smipc", xdg);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    cli = th_client("xdgname");
    smipc_client_close(cli);
    smipc_server_close(srv);

    /* Neither: /tmp/smipc-<uid>. */
    unsetenv("XDG_RUNTIME_DIR");
    char tmpname[64];
    snprintf(tmpname, sizeof tmpname, "tmpfallback-%d", (int)getpid());
    srv = th_server(tmpname, NULL);
    snprintf(path, sizeof path, "/tmp/smipc-%u/%s", (unsigned)geteuid(), tmpname);
    assert_int_equal(lstat(path, &st), 0);
    smipc_server_close(srv);
    setenv("SMIPC_DIR", dir, 1);

    /* 100 characters is the longest name, and it works even where dir/name would not
     * fit in a socket address. */
    char longest[101];
    memset(longest, 'n', 100);
    longest[100] = 0;
    srv = th_server(longest, NULL);
    cli = th_client(longest);
    assert_smipc_ok(smipc_client_send(cli, "x", 1, 1000));
    char b[4];
    size_t len = sizeof b;
    smipc_client_id from;
    assert_smipc_ok(smipc_server_recv(srv, &from, b, &len, 1000));
    assert_int_equal(from, smipc_client_id_of(cli));
    smipc_client_close(cli);
    smipc_server_close(srv);
}

static void test_notfound_and_exists(void **state)
{
    (void)state;
    const char *name = th_name("exist");
    smipc_client *cli = (smipc_client *)1;
    assert_status(smipc_client_connect(&cli, name, 1000), SMIPC_ENOTFOUND);
    assert_null(cli);
    smipc_server *srv = th_server(name, NULL), *other = NULL;
    assert_status(smipc_server_open(&other, name, NULL), SMIPC_EEXIST);
    assert_null(other);
    /* the probe that answered EEXIST never became a client */
    size_t count = 99;
    assert_smipc_ok(smipc_server_clients(srv, NULL, 0, &count));
    assert_int_equal(count, 0);
    smipc_server_close(srv);
    assert_status(smipc_client_connect(&cli, name, 1000), SMIPC_ENOTFOUND);
    /* something that is not a socket is never taken over */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/plainfile", th_runtime_dir());
    FILE *f = fopen(path, "w");
    fclose(f);
    assert_status(smipc_server_open(&other, "plainfile", NULL), SMIPC_EEXIST);
}

static int ids_count(smipc_server *srv)
{
    size_t n = 0;
    assert_smipc_ok(smipc_server_clients(srv, NULL, 0, &n));
    return (int)n;
}

static void test_timeouts_and_sizes(void **state)
{
    (void)state;
    const char *name = th_name("sizes");
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.max_message_size = 1000;
    cfg.packet_size = 64;
    cfg.ring_packets = 4;
    cfg.bulk_size = cfg.bulk_slots = 0; /* 1000 B streams through the ring */
    smipc_server *srv = th_server(name, &cfg);
    smipc_client *cli = th_client(name);
    smipc_client_id id = smipc_client_id_of(cli);
    assert_true(id != 0);
    char buf[2000];
    size_t len = sizeof buf;
    smipc_client_id from = 0;

    /* nothing there: ETIMEDOUT, for 0 and for a short wait */
    assert_status(smipc_server_recv(srv, &from, buf, &len, 0), SMIPC_ETIMEDOUT);
    int64_t t0 = th_now_ms();
    assert_status(smipc_server_recv(srv, &from, buf, &len, 30), SMIPC_ETIMEDOUT);
    assert_true(th_now_ms() - t0 >= 30);
    assert_status(smipc_client_recv(cli, buf, &len, 0), SMIPC_ETIMEDOUT);
    assert_status(smipc_client_recv(cli, buf, &len, 20), SMIPC_ETIMEDOUT);

    /* too large for the connection: EMSGSIZE, and the connection still works */
    assert_status(smipc_client_send(cli, buf, 1001, 100), SMIPC_EMSGSIZE);
    assert_status(smipc_server_send(srv, id, buf, 1001, 100), SMIPC_EMSGSIZE);
    size_t delivered = 9;
    assert_status(smipc_server_broadcast(srv, buf, 1001, 100, &delivered), SMIPC_EMSGSIZE);
    assert_int_equal(delivered, 0);
    /* 1000 bytes do not fit a ring of 4 x 64 with nobody reading: the send times out
     * after streaming part of it, and that part is never delivered */
    th_fill(buf, 1000, 6);
    assert_status(smipc_client_send(cli, buf, 1000, 20), SMIPC_ETIMEDOUT);
    len = sizeof buf;
    assert_status(smipc_server_recv(srv, &from, buf, &len, 0), SMIPC_ETIMEDOUT);
    th_fill(buf, 200, 7);
    assert_smipc_ok(smipc_client_send(cli, buf, 200, 1000));

    /* buffer too small: ETOOSMALL with the size needed; the message stays queued */
    char small[10];
    len = sizeof small;
    assert_status(smipc_server_recv(srv, &from, small, &len, 1000), SMIPC_ETOOSMALL);
    assert_int_equal(len, 200);
    assert_int_equal(from, id);
    len = 0;
    assert_status(smipc_server_recv(srv, &from, NULL, &len, 1000), SMIPC_ETOOSMALL);
    assert_int_equal(len, 200);
    memset(buf, 0, sizeof buf);
    len = sizeof buf;
    assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 1000));
    assert_int_equal(len, 200);
    assert_true(th_check(buf, 200, 7));

    /* the ring holds 4 packets of 64 bytes: a full ring times out the sender */
    char pk[64];
    int sent = 0;
    while (smipc_server_send(srv, id, pk, sizeof pk, 0) == SMIPC_OK)
        sent++;
    assert_int_equal(sent, 4);
    t0 = th_now_ms();
    assert_status(smipc_server_send(srv, id, pk, sizeof pk, 25), SMIPC_ETIMEDOUT);
    assert_true(th_now_ms() - t0 >= 25);
    /* a message that fits the ring but not its free room is not sent in part */
    len = sizeof buf;
    assert_smipc_ok(smipc_client_recv(cli, buf, &len, 0));
    assert_status(smipc_server_send(srv, id, buf, 128, 0), SMIPC_ETIMEDOUT);
    for (int i = 0; i < 3; i++) {
        len = sizeof buf;
        assert_smipc_ok(smipc_client_recv(cli, buf, &len, 0));
        assert_int_equal(len, 64);
    }
    assert_status(smipc_client_recv(cli, buf, &len, 0), SMIPC_ETIMEDOUT);

    /* empty messages are messages */
    assert_smipc_ok(smipc_client_send(cli, NULL, 0, 0));
    len = sizeof buf;
    assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 1000));
    assert_int_equal(len, 0);

    /* unknown ids */
    assert_status(smipc_server_send(srv, id + 1000, buf, 1, 0), SMIPC_ENOCLIENT);
    assert_int_equal(ids_count(srv), 1);
    smipc_client_close(cli);
    smipc_server_close(srv);
}

static void test_efull_refused_client_is_not_listed(void **state)
{
    (void)state;
    const char *name = th_name("full");
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.max_clients = 2;
    smipc_server *srv = th_server(name, &cfg);
    smipc_client *a = th_client(name), *b = th_client(name), *c = NULL;
    assert_status(smipc_client_connect(&c, name, 2000), SMIPC_EFULL);
    assert_null(c);
    smipc_client_id ids[4];
    size_t n = 0;
    assert_smipc_ok(smipc_server_clients(srv, ids, 4, &n));
    assert_int_equal(n, 2);
    assert_true((ids[0] == smipc_client_id_of(a) && ids[1] == smipc_client_id_of(b)) ||
                (ids[1] == smipc_client_id_of(a) && ids[0] == smipc_client_id_of(b)));
    /* cap smaller than the count: count is still the whole number */
    assert_smipc_ok(smipc_server_clients(srv, ids, 1, &n));
    assert_int_equal(n, 2);
    smipc_client_close(a);
    smipc_client_close(b);
    smipc_server_close(srv);
}

static void test_ids_are_never_reused(void **state)
{
    (void)state;
    const char *name = th_name("ids");
    smipc_server *srv = th_server(name, NULL);
    smipc_client_id last = 0;
    for (int i = 0; i < 20; i++) {
        smipc_client *cli = th_client(name);
        assert_true(smipc_client_id_of(cli) > last);
        last = smipc_client_id_of(cli);
        smipc_client_close(cli);
    }
    smipc_server_close(srv);
}

/* timeout 0 means no waiting for a busy server, but a live one still gets to answer */
static void test_connect_with_timeout_0(void **state)
{
    (void)state;
    const char *name = th_name("conn0");
    smipc_server *srv = th_server(name, NULL);
    for (int i = 0; i < 20; i++) {
        smipc_client *cli;
        assert_smipc_ok(smipc_client_connect(&cli, name, 0));
        smipc_client_close(cli);
    }
    smipc_server_close(srv);
}

/* The receive after ETOOSMALL is that message's: asking again with a larger buffer must
 * not move on to the next client (a large message was overtaken by every small one). */
static void test_toosmall_keeps_the_turn(void **state)
{
    (void)state;
    const char *name = th_name("turn");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *a = th_client(name), *b = th_client(name);
    static char big[100000], buf[100000];
    th_fill(big, sizeof big, 5);
    assert_smipc_ok(smipc_client_send(a, big, sizeof big, 5000));
    for (int i = 0; i < 40; i++)
        assert_smipc_ok(smipc_client_send(b, "small", 5, 5000));
    smipc_client_id from;
    size_t len = 64;
    int rc;
    while ((rc = smipc_server_recv(srv, &from, buf, &len, 5000)) == SMIPC_OK) {
        assert_true(from == smipc_client_id_of(b)); /* B's turn came first: fine */
        len = 64;
    }
    assert_status(rc, SMIPC_ETOOSMALL);
    assert_true(from == smipc_client_id_of(a) && len == sizeof big);
    len = sizeof buf;
    assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 5000));
    assert_true(from == smipc_client_id_of(a) && len == sizeof big && th_check(buf, len, 5));
    smipc_client_close(a);
    smipc_client_close(b);
    smipc_server_close(srv);
}

/* smipc_name_path says where connect and open look, and what they would refuse. */
static void test_name_path(void **state)
{
    (void)state;
    char path[200], want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/pathname", th_runtime_dir());
    assert_smipc_ok(smipc_name_path("pathname", path, sizeof path));
    assert_string_equal(path, want);
    assert_smipc_ok(smipc_name_path("/some/where.sock", path, sizeof path));
    assert_string_equal(path, "/some/where.sock");
    assert_status(smipc_name_path("pathname", path, strlen(want)), SMIPC_ETOOSMALL);
    assert_smipc_ok(smipc_name_path("pathname", path, strlen(want) + 1));
    const char *bad[] = {"", "a b", "a*", "..", "."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_status(smipc_name_path(bad[i], path, sizeof path), SMIPC_EINVAL);
    char toolong[102];
    memset(toolong, 'n', 101);
    toolong[101] = 0;
    assert_status(smipc_name_path(toolong, path, sizeof path), SMIPC_EINVAL);
    assert_status(smipc_name_path(NULL, path, sizeof path), SMIPC_EINVAL);
    /* what the server opens is that path */
    smipc_server *srv = th_server("pathname", NULL);
    struct stat st;
    assert_int_equal(lstat(want, &st), 0);
    smipc_server_close(srv);
}

/* A client receiving in another process tells a broadcast from a message sent to it:
 * small, and streamed through the ring. */
struct flags_arg {
    const char *name;
    struct th_gate ready;
};

static int flags_client_main(void *p)
{
    struct flags_arg *a = p;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 5000));
    th_gate_open(&a->ready);
    static char buf[1 << 20];
    const struct {
        size_t len;
        uint32_t flags;
    } want[] = {{5, 0},
                {9, SMIPC_MSG_BROADCAST},
                {sizeof buf, SMIPC_MSG_BROADCAST},
                {sizeof buf, 0},
                {0, SMIPC_MSG_BROADCAST}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        uint32_t flags = 77;
        size_t len = sizeof buf;
        CHILD_OK(smipc_client_recv_flags(cli, &flags, buf, &len, 10000));
        CHILD_CHECK(len == want[i].len && flags == want[i].flags);
        CHILD_CHECK(len < 100 || th_check(buf, len, i));
    }
    smipc_client_close(cli);
    return 0;
}

static void test_client_tells_broadcast_from_reply(void **state)
{
    (void)state;
    struct flags_arg a = {th_name("flags"), {0, 0}};
    th_gate_init(&a.ready);
    smipc_server *srv = th_server(a.name, NULL);
    pid_t pid = th_spawn(flags_client_main, &a);
    assert_int_equal(th_gate_wait(&a.ready, 5000), 0);
    smipc_client_id id;
    size_t n = 0;
    do /* the server lists it once its thread has taken the connection */
        assert_smipc_ok(smipc_server_clients(srv, &id, 1, &n));
    while (n == 0);
    static char big[1 << 20];
    size_t delivered = 0;
    assert_smipc_ok(smipc_server_send(srv, id, "reply", 5, 5000));
    assert_smipc_ok(smipc_server_broadcast(srv, "broadcast", 9, 5000, &delivered));
    assert_int_equal(delivered, 1);
    th_fill(big, sizeof big, 2);
    assert_smipc_ok(smipc_server_broadcast(srv, big, sizeof big, 10000, &delivered));
    assert_int_equal(delivered, 1);
    th_fill(big, sizeof big, 3);
    assert_smipc_ok(smipc_server_send(srv, id, big, sizeof big, 10000));
    assert_smipc_ok(smipc_server_broadcast(srv, "", 0, 5000, &delivered));
    assert_int_equal(th_wait(pid, 20000), 0);
    th_gate_close(&a.ready);
    smipc_server_close(srv);
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_covers_every_code),
        cmocka_unit_test(test_version_matches_header),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_bad_arguments_are_einval),
        cmocka_unit_test(test_name_rule_and_paths),
        cmocka_unit_test(test_notfound_and_exists),
        cmocka_unit_test(test_timeouts_and_sizes),
        cmocka_unit_test(test_efull_refused_client_is_not_listed),
        cmocka_unit_test(test_ids_are_never_reused),
        cmocka_unit_test(test_connect_with_timeout_0),
        cmocka_unit_test(test_toosmall_keeps_the_turn),
        cmocka_unit_test(test_name_path),
        cmocka_unit_test(test_client_tells_broadcast_from_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
