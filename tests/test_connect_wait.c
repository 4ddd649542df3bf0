/* smipc_client_connect_wait: a client started before its server connects as soon as the
 * server is up, without a retry loop of its own; a stale socket left behind does not
 * fool it; and it gives up at its timeout. */
#include "helpers.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

struct waiter {
    const char *name;
    int timeout_ms;
    _Atomic pid_t tid;
    int rc;
    smipc_client *cli;
};

static void *connect_waiting(void *p)
{
    struct waiter *w = p;
    atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
    w->rc = smipc_client_connect_wait(&w->cli, w->name, w->timeout_ms);
    return NULL;
}

/* Starts a waiting connect and returns once it sleeps: no server yet. */
static pthread_t start_waiting(struct waiter *w)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, connect_waiting, w), 0);
    assert_true(th_thread_sleeps(&w->tid, 10000));
    return t;
}

static void echo_once(smipc_server *srv, smipc_client *cli)
{
    assert_smipc_ok(smipc_client_send(cli, "up", 2, 1000));
    char b[4];
    size_t len = sizeof b;
    smipc_client_id from;
    assert_smipc_ok(smipc_server_recv(srv, &from, b, &len, 5000));
    assert_true(from == smipc_client_id_of(cli) && len == 2);
}

static int serve_later(void *arg)
{
    struct th_gate *go = arg;
    th_gate_wait(go, 30000);
    smipc_server *srv;
    CHILD_OK(smipc_server_open(&srv, getenv("WAIT_NAME"), NULL));
    char b[4];
    size_t len = sizeof b;
    smipc_client_id from;
    CHILD_OK(smipc_server_recv(srv, &from, b, &len, 20000));
    CHILD_OK(smipc_server_send(srv, from, b, len, 5000));
    smipc_server_close(srv);
    return 0;
}

/* The server comes up in another process after the client began to wait. */
static void test_waits_for_a_server_in_another_process(void **state)
{
    (void)state;
    const char *name = th_name("later");
    setenv("WAIT_NAME", name, 1);
    struct th_gate go;
    th_gate_init(&go);
    pid_t server = th_spawn(serve_later, &go);
    struct waiter w = {.name = name, .timeout_ms = 20000};
    pthread_t t = start_waiting(&w);
    th_gate_open(&go);
    pthread_join(t, NULL);
    assert_smipc_ok(w.rc);
    assert_smipc_ok(smipc_client_send(w.cli, "hi", 2, 5000));
    char b[4];
    size_t len = sizeof b;
    assert_smipc_ok(smipc_client_recv(w.cli, b, &len, 10000));
    assert_true(len == 2 && !memcmp(b, "hi", 2));
    smipc_client_close(w.cli);
    assert_int_equal(th_wait(server, 20000), 0);
    th_gate_close(&go);
}

/* A socket left by a dead server is there all along: the client waits for the new one. */
static void test_a_stale_socket_is_waited_past(void **state)
{
    (void)state;
    const char *name = th_name("stale");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", th_runtime_dir(), name);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd); /* bound, never listening: what a killed server leaves */
    struct waiter w = {.name = name, .timeout_ms = 20000};
    pthread_t t = start_waiting(&w);
    smipc_server *srv = th_server(name, NULL);
    pthread_join(t, NULL);
    assert_smipc_ok(w.rc);
    echo_once(srv, w.cli);
    smipc_client_close(w.cli);
    smipc_server_close(srv);
}

static void test_gives_up_at_the_timeout(void **state)
{
    (void)state;
    smipc_client *cli = (smipc_client *)&cli;
    assert_status(smipc_client_connect_wait(&cli, th_name("never"), 100), SMIPC_ETIMEDOUT);
    assert_null(cli);
    assert_status(smipc_client_connect_wait(&cli, th_name("never"), 0), SMIPC_ETIMEDOUT);
    /* the plain connect still says at once that nobody is there */
    assert_status(smipc_client_connect(&cli, th_name("never"), 1000), SMIPC_ENOTFOUND);
    /* and a live server is connected to at once */
    const char *name = th_name("now");
    smipc_server *srv = th_server(name, NULL);
    assert_smipc_ok(smipc_client_connect_wait(&cli, name, 0));
    echo_once(srv, cli);
    smipc_client_close(cli);
    smipc_server_close(srv);
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waits_for_a_server_in_another_process),
        cmocka_unit_test(test_a_stale_socket_is_waited_past),
        cmocka_unit_test(test_gives_up_at_the_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
