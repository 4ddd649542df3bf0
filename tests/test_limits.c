/* The errors that come from the system and from permissions: EACCES (another uid, a
 * runtime directory that is not private), ENOMEM (a segment that cannot be mapped) and
 * ESYS with errno kept (out of descriptors). */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOBODY 65534

struct uid_args {
    const char *path;
    int expect;
};

static int connect_as_nobody(void *arg)
{
    struct uid_args *a = arg;
    CHILD_CHECK(setgid(NOBODY) == 0 && setuid(NOBODY) == 0);
    smipc_client *cli = NULL;
    int rc = smipc_client_connect(&cli, a->path, 5000);
    if (rc != a->expect)
        fprintf(stderr, "connect as nobody: %s, wanted %s\n", smipc_strerror(rc),
                smipc_strerror(a->expect));
    CHILD_CHECK(rc == a->expect);
    if (cli) {
        CHILD_OK(smipc_client_send(cli, "hi", 2, 1000));
        smipc_client_close(cli);
    }
    return 0;
}

static void test_other_uid_is_refused_unless_allowed(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs root to become another user */
    /* a directory and socket anyone may reach, so only the server's own check decides */
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/open-XXXXXX", th_runtime_dir());
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(th_runtime_dir(), 0755), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    snprintf(path, sizeof path, "%s/srv", dir);

    smipc_server *srv = th_server(path, NULL);
    assert_int_equal(chmod(path, 0666), 0);
    struct uid_args a = {path, SMIPC_EACCES};
    assert_int_equal(th_wait(th_spawn(connect_as_nobody, &a), 10000), 0);
    size_t n = 9;
    assert_smipc_ok(smipc_server_clients(srv, NULL, 0, &n));
    assert_int_equal(n, 0);
    smipc_server_close(srv);

    /* the socket is owner-only by default: the file system says no first */
    srv = th_server(path, NULL);
    assert_int_equal(th_wait(th_spawn(connect_as_nobody, &a), 10000), 0);
    smipc_server_close(srv);

    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.flags = SMIPC_ALLOW_ANY_UID;
    srv = th_server(path, &cfg);
    assert_int_equal(chmod(path, 0666), 0);
    a.expect = SMIPC_OK;
    assert_int_equal(th_wait(th_spawn(connect_as_nobody, &a), 10000), 0);
    char m[4];
    size_t len = sizeof m;
    smipc_client_id from;
    assert_smipc_ok(smipc_server_recv(srv, &from, m, &len, 5000));
    assert_true(len == 2 && !memcmp(m, "hi", 2));
    smipc_server_close(srv);
    assert_int_equal(chmod(th_runtime_dir(), 0700), 0);
}

static void test_runtime_dir_must_be_private(void **state)
{
    (void)state;
    char xdg[256], sub[300];
    snprintf(xdg, sizeof xdg, "%s/xdg-XXXXXX", th_runtime_dir());
    assert_non_null(mkdtemp(xdg));
    snprintf(sub, sizeof sub, "%s/smipc", xdg);
    assert_int_equal(mkdir(sub, 0755), 0); /* someone made it readable by all */
    char *saved = strdup(getenv("SMIPC_DIR"));
    unsetenv("SMIPC_DIR");
    setenv("XDG_RUNTIME_DIR", xdg, 1);
    smipc_server *srv = NULL;
    assert_status(smipc_server_open(&srv, "private", NULL), SMIPC_EACCES);
    assert_int_equal(chmod(sub, 0700), 0);
    srv = th_server("private", NULL);
    smipc_server_close(srv);
    /* a file where the directory should be */
    assert_int_equal(rmdir(sub), 0);
    FILE *f = fopen(sub, "w");
    fclose(f);
    assert_status(smipc_server_open(&srv, "private", NULL), SMIPC_EACCES);
    unsetenv("XDG_RUNTIME_DIR");
    setenv("SMIPC_DIR", saved, 1);
    free(saved);
}

/* Sanitizer shadow memory cannot live under an RLIMIT_AS: only the plain build has this. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define NOMEM_TEST 1

struct nomem_args {
    const char *name;
    struct th_gate ready;
};

/* A server whose connections need 1 GiB segments, in a process allowed 256 MiB. */
static int small_server_main(void *arg)
{
    struct nomem_args *a = arg;
    struct rlimit lim = {256u << 20, 256u << 20};
    CHILD_CHECK(setrlimit(RLIMIT_AS, &lim) == 0);
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    cfg.packet_size = 1u << 22;
    cfg.ring_packets = 127; /* two rings of ~508 MiB */
    smipc_server *srv;
    CHILD_OK(smipc_server_open(&srv, a->name, &cfg));
    th_gate_open(&a->ready);
    pause();
    return 0;
}

static void test_segment_that_cannot_be_mapped_is_enomem(void **state)
{
    (void)state;
    struct nomem_args a = {.name = th_name("nomem")};
    th_gate_init(&a.ready);
    pid_t pid = th_spawn(small_server_main, &a);
    assert_int_equal(th_gate_wait(&a.ready, 10000), 0);
    smipc_client *cli = NULL;
    assert_status(smipc_client_connect(&cli, a.name, 5000), SMIPC_ENOMEM);
    assert_null(cli);
    th_kill(pid, SIGKILL);
    th_gate_close(&a.ready);
}
#endif

/* Allows `spare` descriptors beyond those open, then connects: ESYS with errno EMFILE,
 * whether socket() fails or the welcome's descriptors do not fit. */
static int connect_with_spare_fds(const char *name, int spare)
{
    struct rlimit lim = {(rlim_t)(th_count_fds() + spare), (rlim_t)(th_count_fds() + spare)};
    CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    smipc_client *cli = NULL;
    errno = 0;
    int rc = smipc_client_connect(&cli, name, 5000);
    int e = errno;
    if (rc != SMIPC_ESYS || e != EMFILE)
        fprintf(stderr, "spare %d: %s, errno %d\n", spare, smipc_strerror(rc), e);
    CHILD_CHECK(rc == SMIPC_ESYS && e == EMFILE && cli == NULL);
    return 0;
}

static int no_spare_main(void *arg)
{
    return connect_with_spare_fds(arg, 0);
}

static int three_spare_main(void *arg)
{
    return connect_with_spare_fds(arg, 3);
}

static void test_out_of_descriptors_is_esys_with_errno(void **state)
{
    (void)state;
    const char *name = th_name("nofd");
    smipc_server *srv = th_server(name, NULL);
    assert_int_equal(th_wait(th_spawn(no_spare_main, (void *)name), 10000), 0);
    assert_int_equal(th_wait(th_spawn(three_spare_main, (void *)name), 10000), 0);
    /* the half-connected one is reaped */
    assert_true(th_clients_become(srv, 0, 5000));
    smipc_server_close(srv);
}

int main(void)
{
    th_runtime_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_other_uid_is_refused_unless_allowed),
        cmocka_unit_test(test_runtime_dir_must_be_private),
#ifdef NOMEM_TEST
        cmocka_unit_test(test_segment_that_cannot_be_mapped_is_enomem),
#endif
        cmocka_unit_test(test_out_of_descriptors_is_esys_with_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
