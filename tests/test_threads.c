/* Several threads on one handle: messages are never torn, interleaved or lost. */
#include "helpers.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

enum { THREADS = 4, PER_THREAD = 300 };

struct tagged {
    uint32_t thread, seq;
};

static size_t size_of(uint32_t t, uint32_t s)
{
    /* mostly multi-packet: a torn or interleaved message would show */
    return sizeof(struct tagged) + (t * 7919 + s * 1543) % 30000;
}

static void make(char *buf, uint32_t t, uint32_t s)
{
    struct tagged g = {t, s};
    memcpy(buf, &g, sizeof g);
    th_fill(buf + sizeof g, size_of(t, s) - sizeof g, (uint64_t)t << 32 | s);
}

static int intact(const char *buf, size_t len, struct tagged *g)
{
    if (len < sizeof *g)
        return 0;
    memcpy(g, buf, sizeof *g);
    return g->thread < THREADS && len == size_of(g->thread, g->seq) &&
           th_check(buf + sizeof *g, len - sizeof *g, (uint64_t)g->thread << 32 | g->seq);
}

struct client_sender {
    smipc_client *cli;
    uint32_t index;
    int rc;
};

static void *client_send_thread(void *p)
{
    struct client_sender *s = p;
    char *buf = malloc(40000);
    s->rc = SMIPC_OK;
    for (uint32_t i = 0; i < PER_THREAD && !s->rc; i++) {
        make(buf, s->index, i);
        s->rc = smipc_client_send(s->cli, buf, size_of(s->index, i), 20000);
    }
    free(buf);
    return NULL;
}

static void test_threads_share_a_client_for_sending(void **state)
{
    (void)state;
    const char *name = th_name("thsend");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *cli = th_client(name);
    struct client_sender s[THREADS];
    pthread_t t[THREADS];
    for (uint32_t i = 0; i < THREADS; i++) {
        s[i] = (struct client_sender){cli, i, -99};
        pthread_create(&t[i], NULL, client_send_thread, &s[i]);
    }
    uint32_t next[THREADS] = {0};
    char *buf = malloc(40000);
    for (int n = 0; n < THREADS * PER_THREAD; n++) {
        size_t len = 40000;
        smipc_client_id from;
        assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 20000));
        struct tagged g;
        assert_true(intact(buf, len, &g));
        /* one thread's sends keep their order */
        assert_int_equal(g.seq, next[g.thread]++);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_smipc_ok(s[i].rc);
    }
    free(buf);
    smipc_client_close(cli);
    smipc_server_close(srv);
}

/* The server: two threads receive, two threads send to the same client at once, and a
 * fifth broadcasts. */
struct server_side {
    smipc_server *srv;
    smipc_client_id to;
    uint32_t index;
    int rc;
    int received;
    uint32_t *next; /* per sender, under lock */
    pthread_mutex_t *lock;
};

static void *server_send_thread(void *p)
{
    struct server_side *s = p;
    char *buf = malloc(40000);
    s->rc = SMIPC_OK;
    for (uint32_t i = 0; i < PER_THREAD && !s->rc; i++) {
        make(buf, s->index, i);
        if (s->index == THREADS - 1) {
            size_t delivered = 0;
            s->rc = smipc_server_broadcast(s->srv, buf, size_of(s->index, i), 20000, &delivered);
            if (!s->rc && delivered != 1)
                s->rc = -1000;
        } else {
            s->rc = smipc_server_send(s->srv, s->to, buf, size_of(s->index, i), 20000);
        }
    }
    free(buf);
    return NULL;
}

static void *server_recv_thread(void *p)
{
    struct server_side *s = p;
    char *buf = malloc(40000);
    s->rc = SMIPC_OK;
    for (;;) {
        size_t len = 40000;
        smipc_client_id from;
        int rc = smipc_server_recv(s->srv, &from, buf, &len, 300);
        if (rc == SMIPC_ETIMEDOUT) {
            pthread_mutex_lock(s->lock);
            int done = s->next[0] + s->next[1] == 2 * PER_THREAD;
            pthread_mutex_unlock(s->lock);
            if (done)
                break;
            continue;
        }
        struct tagged g;
        if (rc || !intact(buf, len, &g) || g.thread > 1) {
            s->rc = rc ? rc : -1000;
            break;
        }
        pthread_mutex_lock(s->lock);
        /* two receivers may finish out of order, but never lose or duplicate */
        s->next[g.thread]++;
        pthread_mutex_unlock(s->lock);
        s->received++;
    }
    free(buf);
    return NULL;
}

static void test_threads_share_a_server(void **state)
{
    (void)state;
    const char *name = th_name("thsrv");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *cli = th_client(name);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    uint32_t got[THREADS] = {0};
    struct server_side side[THREADS + 2];
    pthread_t t[THREADS + 2];
    /* senders 0..3 (3 broadcasts), receivers 4..5 */
    for (uint32_t i = 0; i < THREADS + 2; i++) {
        side[i] = (struct server_side){srv, smipc_client_id_of(cli), i, -99, 0, got, &lock};
        pthread_create(&t[i], NULL, i < THREADS ? server_send_thread : server_recv_thread,
                       &side[i]);
    }
    /* the client sends from two threads too, while it receives here */
    struct client_sender cs[2] = {{cli, 0, -99}, {cli, 1, -99}};
    pthread_t ct[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&ct[i], NULL, client_send_thread, &cs[i]);
    uint32_t next[THREADS] = {0};
    char *buf = malloc(40000);
    for (int n = 0; n < THREADS * PER_THREAD; n++) {
        size_t len = 40000;
        assert_smipc_ok(smipc_client_recv(cli, buf, &len, 20000));
        struct tagged g;
        assert_true(intact(buf, len, &g));
        assert_int_equal(g.seq, next[g.thread]++);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(ct[i], NULL);
        assert_smipc_ok(cs[i].rc);
    }
    for (int i = 0; i < THREADS + 2; i++) {
        pthread_join(t[i], NULL);
        assert_smipc_ok(side[i].rc);
    }
    assert_int_equal(got[0], PER_THREAD);
    assert_int_equal(got[1], PER_THREAD);
    assert_int_equal(side[THREADS].received + side[THREADS + 1].received, 2 * PER_THREAD);
    free(buf);
    smipc_client_close(cli);
    smipc_server_close(srv);
}

static void *timed_recv(void *p)
{
    struct client_sender *s = p;
    char b[8];
    size_t len = sizeof b;
    int64_t t0 = th_now_ms();
    s->rc = smipc_client_recv(s->cli, b, &len, 100);
    s->index = (uint32_t)(th_now_ms() - t0);
    return NULL;
}

static void *forever_recv(void *p)
{
    struct client_sender *s = p;
    char b[8];
    size_t len = sizeof b;
    s->rc = smipc_client_recv(s->cli, b, &len, -1);
    return NULL;
}

static void test_timeout_holds_while_another_thread_blocks(void **state)
{
    (void)state;
    const char *name = th_name("thtimeout");
    smipc_server *srv = th_server(name, NULL);
    smipc_client *cli = th_client(name);
    struct client_sender a = {cli, 0, -99}, b = {cli, 0, -99};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, forever_recv, &a);
    /* a receive with a timeout returns on time, whether or not the other thread already
     * holds the handle in its endless receive */
    pthread_create(&tb, NULL, timed_recv, &b);
    pthread_join(tb, NULL);
    assert_status(b.rc, SMIPC_ETIMEDOUT);
    assert_true(b.index >= 100 && b.index < 5000);
    assert_smipc_ok(smipc_server_send(srv, smipc_client_id_of(cli), "go", 2, 1000));
    pthread_join(ta, NULL);
    assert_smipc_ok(a.rc);
    smipc_client_close(cli);
    smipc_server_close(srv);
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_share_a_client_for_sending),
        cmocka_unit_test(test_threads_share_a_server),
        cmocka_unit_test(test_timeout_holds_while_another_thread_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
