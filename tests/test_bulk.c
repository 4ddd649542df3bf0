/* The bulk area on the library's defaults: a connection that only carries small messages
 * never touches it (its pages are not resident), large messages in both directions use it
 * across processes, intact, and an area idle for a while gives its pages back (never one
 * still being read) and works as before when used again. */
#include "helpers.h"

#include "layout.h"
#include "link.h"
#include "testing.h"

#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MiB (1u << 20)

/* Resident pages of [off, off + len) of a mapping. */
static size_t resident_pages(void *map, size_t off, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t n = (len + page - 1) / page;
    unsigned char *vec = malloc(n);
    assert_non_null(vec);
    assert_int_equal(mincore((char *)map + off, len, vec), 0);
    size_t resident = 0;
    for (size_t i = 0; i < n; i++)
        resident += vec[i] & 1;
    free(vec);
    return resident;
}

struct echo_args {
    const char *name;
    int large;
    struct th_gate checked; /* the server looked at the segment: the client may go */
};

/* Sends small messages (up to the last size that goes through the ring) and, with
 * large, one 3 MiB message; expects each back. */
static int client_main(void *p)
{
    struct echo_args *a = p;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 5000));
    static char out[3 * MiB], in[3 * MiB];
    for (size_t i = 0; i < 2000; i++) {
        size_t size = a->large && i == 1000 ? 3 * MiB : i * 37 % (4 * 4096 + 1);
        th_fill(out, size, i);
        CHILD_OK(smipc_client_send(cli, out, size, 5000));
        size_t len = sizeof in;
        CHILD_OK(smipc_client_recv(cli, in, &len, 5000));
        CHILD_CHECK(len == size && th_check(in, len, i));
    }
    CHILD_CHECK(th_gate_wait(&a->checked, 20000) == 0); /* its segment stays mapped till then */
    smipc_client_close(cli);
    return 0;
}

static void run(int large)
{
    /* the pages are counted: none may go back meanwhile (the links read it when made) */
    setenv("SMIPC_BULK_IDLE_MS", "-1", 1);
    const char *name = th_name(large ? "bulkbig" : "bulksmall");
    smipc_server *srv = th_server(name, NULL);
    struct echo_args a = {name, large, {0, 0}};
    th_gate_init(&a.checked);
    pid_t pid = th_spawn(client_main, &a);
    static char buf[3 * MiB];
    smipc_client_id from = 0;
    void *map = NULL;
    size_t size = 0;
    for (int i = 0; i < 2000; i++) {
        size_t len = sizeof buf;
        assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 10000));
        if (!map)
            map = smipc_testing_server_segment(srv, from, &size);
        /* echoed from another buffer: the last reply must not be what the check sees */
        assert_smipc_ok(smipc_server_send(srv, from, buf, len, 10000));
    }
    assert_non_null(map);
    const struct smipc_segment_hdr *sh = map;
    uint32_t area = sh->bulk_size * sh->bulk_slots;
    assert_true(area == 4 * MiB && sh->bulk_offset[0] && sh->bulk_offset[1]);
    size_t c2s = resident_pages(map, sh->bulk_offset[0], area);
    size_t s2c = resident_pages(map, sh->bulk_offset[1], area);
    /* the rings are touched, the bulk areas only by large messages */
    assert_true(resident_pages(map, 0, sh->bulk_offset[0]) > 0);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (large) {
        assert_true(c2s * page >= 3 * MiB && s2c * page >= 3 * MiB);
    } else {
        assert_int_equal(c2s, 0);
        assert_int_equal(s2c, 0);
    }
    th_gate_open(&a.checked);
    assert_int_equal(th_wait(pid, 20000), 0);
    th_gate_close(&a.checked);
    smipc_server_close(srv);
    unsetenv("SMIPC_BULK_IDLE_MS");
}

#define AREA         (4 * MiB) /* a direction's bulk area on the defaults */
#define IDLE_MS      50
#define IDLE_MS_TEXT "50"

struct idle_args {
    const char *name;
    struct th_gate step;   /* the server checked what it had to: the client goes on */
    struct th_gate pinged; /* the client sent a small message while the server held a view */
};

/* Past the idle time since this process last wrote a chunk (a clock, not a race: the
 * policy under test is "idle for IDLE_MS") */
static void idle(void)
{
    struct timespec t = {0, 3 * IDLE_MS * 1000000L};
    while (nanosleep(&t, &t) != 0)
        ;
}

static int idle_client(void *p)
{
    struct idle_args *a = p;
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, a->name, 5000));
    static char out[3 * MiB], in[3 * MiB];
    for (uint64_t round = 0; round < 2; round++) {
        th_fill(out, sizeof out, round);
        CHILD_OK(smipc_client_send(cli, out, sizeof out, 5000));
        size_t len = sizeof in;
        CHILD_OK(smipc_client_recv(cli, in, &len, 5000));
        CHILD_CHECK(len == sizeof in && th_check(in, len, round + 10));
        idle();
        if (round == 0) { /* a receive about to wait gives c2s back, whole */
            len = sizeof in;
            CHILD_CHECK(smipc_client_recv(cli, in, &len, 20) == SMIPC_ETIMEDOUT);
            CHILD_OK(smipc_client_send(cli, "ping", 4, 5000));
        } else { /* so does each send, a step at a time */
            for (size_t i = 0; i < AREA / SMIPC_TRIM_STEP; i++)
                CHILD_OK(smipc_client_send(cli, "ping", 4, 5000));
        }
        CHILD_CHECK(th_gate_wait(&a->step, 20000) == 0);
    }
    /* a loan in the area the server is about to view: held, it must survive our sends */
    void *room;
    CHILD_OK(smipc_client_loan(cli, &room, MiB, 5000));
    th_fill(room, MiB, 20);
    CHILD_OK(smipc_client_commit(cli, MiB));
    CHILD_CHECK(th_gate_wait(&a->step, 20000) == 0); /* the server holds its view */
    idle();
    size_t len = sizeof in; /* both ways to give the area back, neither may */
    CHILD_CHECK(smipc_client_recv(cli, in, &len, 20) == SMIPC_ETIMEDOUT);
    CHILD_OK(smipc_client_send(cli, "ping", 4, 5000));
    th_gate_open(&a->pinged);
    CHILD_CHECK(th_gate_wait(&a->step, 20000) == 0);
    smipc_client_close(cli);
    return 0;
}

struct area {
    void *map;
    size_t off, len;
};

static int area_gone(void *p)
{
    struct area *a = p;
    return resident_pages(a->map, a->off, a->len) == 0;
}

static void test_idle_areas_give_their_pages_back(void **state)
{
    (void)state;
    setenv("SMIPC_BULK_IDLE_MS", IDLE_MS_TEXT, 1);
    const char *name = th_name("bulkidle");
    smipc_server *srv = th_server(name, NULL);
    struct idle_args a = {name, {0, 0}, {0, 0}};
    th_gate_init(&a.step);
    th_gate_init(&a.pinged);
    pid_t pid = th_spawn(idle_client, &a);
    static char buf[3 * MiB];
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    smipc_client_id from = 0;
    struct area c2s = {0}, s2c = {0};
    for (uint64_t round = 0; round < 2; round++) {
        size_t len = sizeof buf;
        assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 10000));
        assert_true(len == sizeof buf && th_check(buf, len, round));
        if (!c2s.map) {
            size_t size;
            void *map = smipc_testing_server_segment(srv, from, &size);
            const struct smipc_segment_hdr *sh = map;
            c2s = (struct area){map, sh->bulk_offset[0], (size_t)sh->bulk_size * sh->bulk_slots};
            s2c = (struct area){map, sh->bulk_offset[1], c2s.len};
        }
        assert_true(resident_pages(c2s.map, c2s.off, c2s.len) * page >= 3 * MiB);
        assert_int_equal(c2s.len, AREA);
        th_fill(buf, sizeof buf, round + 10);
        assert_smipc_ok(smipc_server_send(srv, from, buf, sizeof buf, 10000));
        /* our direction: the server's thread gives it back once the client took it all */
        assert_true(th_eventually(area_gone, &s2c, 10000));
        /* theirs: the client, past the idle time, gave it back before its pings */
        for (size_t i = 0; i < (round == 0 ? 1 : AREA / SMIPC_TRIM_STEP); i++) {
            len = sizeof buf;
            assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 10000));
            assert_true(len == 4 && memcmp(buf, "ping", 4) == 0);
        }
        assert_int_equal(resident_pages(c2s.map, c2s.off, c2s.len), 0);
        th_gate_open(&a.step); /* the second round: the same through fresh pages */
    }
    const void *data;
    size_t len;
    uint32_t flags;
    assert_smipc_ok(smipc_server_recv_view(srv, &from, &data, &len, &flags, 10000));
    assert_true(len == MiB && !(flags & SMIPC_MSG_COPY));
    th_gate_open(&a.step);
    assert_int_equal(th_gate_wait(&a.pinged, 20000), 0);
    /* the client sent, idle, while we held the view: its area stayed, intact */
    assert_true(resident_pages(c2s.map, c2s.off, c2s.len) * page >= MiB);
    assert_true(th_check(data, len, 20));
    assert_smipc_ok(smipc_server_release(srv));
    len = sizeof buf;
    assert_smipc_ok(smipc_server_recv(srv, &from, buf, &len, 10000));
    assert_true(len == 4 && memcmp(buf, "ping", 4) == 0);
    th_gate_open(&a.step);
    assert_int_equal(th_wait(pid, 20000), 0);
    th_gate_close(&a.step);
    th_gate_close(&a.pinged);
    smipc_server_close(srv);
    unsetenv("SMIPC_BULK_IDLE_MS");
}

static void test_small_messages_leave_the_bulk_area_untouched(void **state)
{
    (void)state;
    run(0);
}

static void test_large_messages_go_through_it(void **state)
{
    (void)state;
    run(1);
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_messages_leave_the_bulk_area_untouched),
        cmocka_unit_test(test_large_messages_go_through_it),
        cmocka_unit_test(test_idle_areas_give_their_pages_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
