/* The bulk area on the library's defaults: a connection that only carries small messages
 * never touches it (its pages are not resident), and large messages in both directions
 * use it across processes, intact. */
#include "helpers.h"

#include "layout.h"
#include "testing.h"

#include <string.h>
#include <sys/mman.h>
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
