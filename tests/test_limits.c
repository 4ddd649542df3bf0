/* The errors that come from the system and from permissions: EACCES (another uid, a
 * runtime directory that is not private), ENOMEM (a segment that cannot be mapped) and
 * ESYS with errno kept (out of descriptors). */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
    srv = th_server(path, &cfg); /* the flag alone opens the socket: no chmod here */
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
    cfg.bulk_size = cfg.bulk_slots = 0;
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

/* The server's own thread, found by the name the library gives it. */
static pid_t server_thread_tid(void)
{
    DIR *d = opendir("/proc/self/task");
    pid_t found = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f) && strncmp(comm, "smipc-server", 12) == 0)
            found = (pid_t)atoi(e->d_name);
        fclose(f);
    }
    if (d)
        closedir(d);
    return found;
}

/* 1 once the thread whose /proc stat file fd is open sleeps ('S'). */
static int thread_sleeps_at(void *arg)
{
    char buf[512];
    ssize_t n = pread(*(int *)arg, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *end = strrchr(buf, ')');
    return end && end[1] == ' ' && end[2] == 'S';
}

static int server_thread_named(void *arg)
{
    atomic_store((_Atomic pid_t *)arg, server_thread_tid());
    return atomic_load((_Atomic pid_t *)arg) != 0;
}

static int out_of_descriptors_server(void *arg)
{
    const char *name = arg;
    struct rlimit rl = {64, 64};
    CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    smipc_server *srv;
    CHILD_OK(smipc_server_open(&srv, name, NULL));
    _Atomic pid_t tid = 0;
    CHILD_CHECK(th_eventually(server_thread_named, (void *)&tid, 10000));
    /* opened now: once descriptors run out, /proc cannot be opened to look at the thread */
    char stat_path[64];
    snprintf(stat_path, sizeof stat_path, "/proc/self/task/%d/stat", (int)tid);
    int stat_fd = open(stat_path, O_RDONLY | O_CLOEXEC);
    CHILD_CHECK(stat_fd >= 0);
    int spare[64], n = 0;
    while (n < 64 && (spare[n] = dup(0)) >= 0)
        n++;
    CHILD_CHECK(n > 1 && n < 64);
    /* a connection waits in the backlog, and accept() has no descriptor to give it */
    close(spare[--n]);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", th_runtime_dir(), name);
    int raw = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHILD_CHECK(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    CHILD_CHECK(raw >= 0 && connect(raw, (struct sockaddr *)&sa, sizeof sa) == 0);
    /* the server's thread must go to sleep (it spun at full speed on the listener) */
    CHILD_CHECK(th_eventually(thread_sleeps_at, &stat_fd, 10000));
    /* and it serves again once descriptors come back */
    while (n)
        close(spare[--n]);
    smipc_client *cli;
    CHILD_OK(smipc_client_connect(&cli, name, 10000));
    CHILD_OK(smipc_client_send(cli, "back", 4, 1000));
    char b[8];
    size_t len = sizeof b;
    smipc_client_id from;
    CHILD_OK(smipc_server_recv(srv, &from, b, &len, 5000));
    CHILD_CHECK(len == 4 && from == smipc_client_id_of(cli));
    smipc_client_close(cli);
    close(raw);
    close(stat_fd);
    smipc_server_close(srv);
    return 0;
}

/* accept() failing with EMFILE leaves the listener readable: the server's thread sleeps
 * until its retry instead of spinning, and accepts again when descriptors come back. */
static void test_server_out_of_descriptors_sleeps_and_recovers(void **state)
{
    (void)state;
    pid_t pid = th_spawn(out_of_descriptors_server, (void *)th_name("emfile"));
    assert_int_equal(th_wait(pid, 60000), 0);
}

struct fds_arg {
    int want;
};

static int fds_back_to(void *arg)
{
    return th_count_fds() == ((struct fds_arg *)arg)->want;
}

static int short_of_descriptors_server(void *arg)
{
    const char *name = arg;
    struct rlimit rl = {64, 64};
    CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    smipc_server *srv;
    CHILD_OK(smipc_server_open(&srv, name, NULL));
    int spare[64], n = 0;
    while (n < 64 && (spare[n] = dup(0)) >= 0)
        n++;
    /* room for the client's socket, the accepted one, the memfd and half a socket pair */
    for (int i = 0; i < 4; i++)
        close(spare[--n]);
    struct fds_arg before = {th_count_fds()};
    smipc_client *cli = NULL;
    int rc = smipc_client_connect(&cli, name, 10000);
    CHILD_CHECK(rc == SMIPC_ESYS && errno == EMFILE); /* the server's errno, carried over */
    /* the server closes all it made for the refused connection, the memfd included */
    CHILD_CHECK(th_eventually(fds_back_to, &before, 10000));
    while (n)
        close(spare[--n]);
    smipc_server_close(srv);
    return 0;
}

/* A connection the server cannot complete for want of descriptors is refused with
 * SMIPC_ESYS and the server's errno, and leaves nothing open (its memfd stayed open). */
static void test_refused_for_descriptors_leaves_nothing_open(void **state)
{
    (void)state;
    pid_t pid = th_spawn(short_of_descriptors_server, (void *)th_name("shortfd"));
    assert_int_equal(th_wait(pid, 60000), 0);
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
        cmocka_unit_test(test_server_out_of_descriptors_sleeps_and_recovers),
        cmocka_unit_test(test_refused_for_descriptors_leaves_nothing_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
