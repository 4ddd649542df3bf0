/* A server opened with SMIPC_EVENTS is told, in order with each client's messages, when
 * the client joined and when it left: closed, killed mid-message, or never said a word. */
#include "helpers.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

struct event {
    int kind;
    smipc_client_id from;
    char data[16];
    size_t len;
};

/* The next event, within 10 s. */
static struct event next_event(smipc_server *srv)
{
    struct event e = {.len = sizeof e.data};
    static char big[8 << 20]; /* room for stream_forever's message */
    size_t len = sizeof big;
    assert_smipc_ok(smipc_server_recv_event(srv, &e.kind, &e.from, big, &len, 10000));
    e.len = len;
    memcpy(e.data, big, len < sizeof e.data ? len : sizeof e.data);
    return e;
}

static int talk_and_close(void *arg)
{
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, arg, 5000));
    CHILD_OK(smipc_client_send(cli, "one", 3, 5000));
    CHILD_OK(smipc_client_send(cli, "two", 3, 5000));
    smipc_client_close(cli);
    return 0;
}

static int stream_forever(void *arg)
{
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, arg, 5000));
    static char big[8 << 20];                    /* twice the default bulk area: it has to stream */
    smipc_client_send(cli, big, sizeof big, -1); /* killed in the middle of it */
    return 0;
}

static void test_joins_and_departures_in_order(void **state)
{
    (void)state;
    const char *name = th_name("members");
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.flags = SMIPC_EVENTS;
    smipc_server *srv = th_server(name, &cfg);

    /* a client that says two things and closes */
    pid_t a = th_spawn(talk_and_close, (void *)name);
    assert_int_equal(th_wait(a, 10000), 0);
    struct event e = next_event(srv);
    assert_int_equal(e.kind, SMIPC_EVENT_JOINED);
    smipc_client_id id = e.from;
    assert_int_equal(e.len, 0);
    e = next_event(srv);
    assert_true(e.kind == SMIPC_EVENT_MESSAGE && e.from == id && e.len == 3 &&
                !memcmp(e.data, "one", 3));
    e = next_event(srv);
    assert_true(e.kind == SMIPC_EVENT_MESSAGE && e.from == id && !memcmp(e.data, "two", 3));
    e = next_event(srv);
    assert_true(e.kind == SMIPC_EVENT_LEFT && e.from == id && e.len == 0);

    /* one that never says a word, then closes */
    smipc_client *quiet = th_client(name);
    smipc_client_id quiet_id = smipc_client_id_of(quiet);
    e = next_event(srv);
    assert_true(e.kind == SMIPC_EVENT_JOINED && e.from == quiet_id);
    smipc_client_close(quiet);
    e = next_event(srv);
    assert_true(e.kind == SMIPC_EVENT_LEFT && e.from == quiet_id);

    /* one killed in the middle of a message: its part is never delivered */
    pid_t b = th_spawn(stream_forever, (void *)name);
    e = next_event(srv);
    assert_int_equal(e.kind, SMIPC_EVENT_JOINED);
    id = e.from;
    th_kill(b, SIGKILL);
    e = next_event(srv);
    assert_true(e.kind == SMIPC_EVENT_LEFT && e.from == id);

    /* nothing else happened */
    int kind;
    smipc_client_id from;
    char m[8];
    size_t len = sizeof m;
    assert_status(smipc_server_recv_event(srv, &kind, &from, m, &len, 0), SMIPC_ETIMEDOUT);
    smipc_server_close(srv);
}

/* A plain receive on an events server gets only messages; recv_event on a server without
 * the flag too. */
static void test_events_only_when_asked(void **state)
{
    (void)state;
    for (int flagged = 0; flagged < 2; flagged++) {
        const char *name = th_name("noevents");
        smipc_server_config cfg;
        smipc_server_config_init(&cfg);
        cfg.flags = flagged ? SMIPC_EVENTS : 0;
        smipc_server *srv = th_server(name, &cfg);
        smipc_client *cli = th_client(name);
        assert_smipc_ok(smipc_client_send(cli, "hi", 2, 1000));
        smipc_client_close(cli);
        char m[8];
        size_t len = sizeof m;
        smipc_client_id from;
        int kind = -1;
        if (flagged)
            assert_smipc_ok(smipc_server_recv(srv, &from, m, &len, 5000));
        else
            assert_smipc_ok(smipc_server_recv_event(srv, &kind, &from, m, &len, 5000));
        assert_true(len == 2 && !memcmp(m, "hi", 2));
        assert_int_equal(kind, flagged ? -1 : SMIPC_EVENT_MESSAGE);
        assert_true(th_clients_become(srv, 0, 5000));
        len = sizeof m;
        assert_status(smipc_server_recv(srv, &from, m, &len, 200), SMIPC_ETIMEDOUT);
        len = sizeof m;
        assert_status(smipc_server_recv_event(srv, &kind, &from, m, &len, 0), SMIPC_ETIMEDOUT);
        smipc_server_close(srv);
    }
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_joins_and_departures_in_order),
        cmocka_unit_test(test_events_only_when_asked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
