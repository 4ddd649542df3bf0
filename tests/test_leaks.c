/* Hundreds of connections come and go: descriptors and memory come back every time. */
#include "helpers.h"

#include <string.h>
#include <unistd.h>

struct cycle_args {
    const char *name;
    int cycles;
};

static int cycling_client_main(void *arg)
{
    struct cycle_args *a = arg;
    int fds = th_count_fds();
    for (int i = 0; i < a->cycles; i++) {
        smipc_client *cli;
        CHILD_OK(smipc_client_connect(&cli, a->name, 10000));
        CHILD_OK(smipc_client_send(cli, &i, sizeof i, 10000));
        int back = -1;
        size_t len = sizeof back;
        CHILD_OK(smipc_client_recv(cli, &back, &len, 10000));
        CHILD_CHECK(len == sizeof back && back == i);
        if (i % 3 == 0)
            smipc_client_fd(cli); /* the event-loop descriptor must go too */
        smipc_client_close(cli);
        CHILD_CHECK(th_count_fds() == fds);
    }
    return 0;
}

static void test_connect_close_cycles_leak_nothing(void **state)
{
    (void)state;
    const char *name = th_name("cycles");
    smipc_server *srv = th_server(name, NULL);
    smipc_server_fd(srv);
    struct cycle_args a = {name, 300};
    pid_t pid = th_spawn(cycling_client_main, &a);
    int served = 0;
    while (served < a.cycles) {
        int v;
        size_t len = sizeof v;
        smipc_client_id from;
        assert_smipc_ok(smipc_server_recv(srv, &from, &v, &len, 10000));
        assert_smipc_ok(smipc_server_send(srv, from, &v, len, 10000));
        served++;
    }
    assert_int_equal(th_wait(pid, 20000), 0);
    assert_true(th_clients_become(srv, 0, 5000));
    /* the server holds its own descriptors and nothing of 300 departed clients */
    int fds = th_count_fds();
    smipc_server_close(srv);
    int after = th_count_fds();
    print_message("server descriptors while idle: %d (listener, 2 epolls, 3 eventfds)\n",
                  fds - after);
    assert_int_equal(fds - after, 6);
}

static void test_in_process_cycles_and_refusals(void **state)
{
    (void)state;
    const char *name = th_name("inproc");
    int fds = th_count_fds();
    for (int round = 0; round < 3; round++) {
        smipc_server_config cfg;
        smipc_server_config_init(&cfg);
        cfg.max_clients = 3;
        smipc_server *srv = th_server(name, &cfg);
        for (int i = 0; i < 100; i++) {
            smipc_client *a = th_client(name), *b = th_client(name), *c = th_client(name),
                         *d = NULL;
            assert_status(smipc_client_connect(&d, name, 5000), SMIPC_EFULL);
            smipc_server *dup = NULL;
            assert_status(smipc_server_open(&dup, name, NULL), SMIPC_EEXIST);
            assert_smipc_ok(smipc_client_send(b, "m", 1, 1000));
            smipc_client_close(a);
            smipc_client_close(b); /* with a message still queued */
            smipc_client_close(c);
            assert_true(th_clients_become(srv, 0, 5000));
        }
        smipc_server_close(srv);
        assert_int_equal(th_count_fds(), fds);
    }
}

struct fd_bound {
    int most;
};

static int fds_at_most(void *arg)
{
    return th_count_fds() <= ((struct fd_bound *)arg)->most;
}

/* A server that only sends, never receives: clients that said something and left are
 * kept while their messages are unread, but no more than max_clients of them (it kept
 * every one, with its descriptors and segment, for ever). */
static void test_send_only_server_lets_departed_clients_go(void **state)
{
    (void)state;
    const char *name = th_name("sendonly");
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.max_clients = 2;
    smipc_server *srv = th_server(name, &cfg);
    int before = th_count_fds();
    for (int i = 0; i < 8; i++) {
        smipc_client *cli = th_client(name);
        assert_smipc_ok(smipc_client_send(cli, "unread", 6, 1000));
        smipc_client_close(cli);
        assert_true(th_clients_become(srv, 0, 5000));
    }
    /* each connection the server keeps holds 5 descriptors: control socket, 4 channels */
    struct fd_bound b = {before + 2 * 5};
    assert_true(th_eventually(fds_at_most, &b, 5000));
    smipc_server_close(srv);
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_close_cycles_leak_nothing),
        cmocka_unit_test(test_in_process_cycles_and_refusals),
        cmocka_unit_test(test_send_only_server_lets_departed_clients_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
