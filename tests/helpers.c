#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char runtime_dir[256];

const char *th_runtime_dir(void)
{
    if (!runtime_dir[0]) {
        snprintf(runtime_dir, sizeof runtime_dir, "/tmp/smipc-test-XXXXXX");
        if (!mkdtemp(runtime_dir))
            abort();
        setenv("SMIPC_DIR", runtime_dir, 1);
    }
    return runtime_dir;
}

const char *th_name(const char *prefix)
{
    static char names[64][64];
    static unsigned counter;
    th_runtime_dir();
    char *n = names[counter % 64];
    snprintf(n, sizeof names[0], "%s-%d-%u", prefix, (int)getpid(), counter++);
    return n;
}

static int hold_fds[2] = {-1, -1};

void th_hold_children(void)
{
    assert_int_equal(pipe(hold_fds), 0);
}

void th_release_children(void)
{
    close(hold_fds[1]); /* every held child reads end-of-file and goes */
    close(hold_fds[0]);
    hold_fds[0] = hold_fds[1] = -1;
}

/* 1 when no other thread of this process is running (the server's thread is between
 * connections, not inside malloc). */
static int other_threads_asleep(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 1;
    int asleep = 1;
    long self = (long)syscall(SYS_gettid);
    for (struct dirent *e; asleep && (e = readdir(d));) {
        long tid = atol(e->d_name);
        if (tid <= 0 || tid == self)
            continue;
        char path[64], stat[256];
        snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = 0;
        const char *end = strrchr(stat, ')'); /* the state follows "(name) " */
        asleep = !end || end[1] != ' ' || end[2] != 'R';
    }
    closedir(d);
    return asleep;
}

pid_t th_spawn(int (*fn)(void *), void *arg)
{
    /* fork() copies the calling thread alone: a lock another thread holds at that moment
     * stays locked in the child for ever, and the sanitizers' allocator has no fork
     * handler (a child hung in free() under ASan). So fork while the other threads sleep,
     * and spawn groups of clients held (th_hold_children) so none connects, waking the
     * server's thread, while the next one is forked. */
    for (int64_t end = th_now_ms() + 2000; !other_threads_asleep() && th_now_ms() < end;)
        sched_yield();
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* a test that dies (or is killed on a timeout) takes its children with it */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        if (hold_fds[0] >= 0) {
            char c;
            close(hold_fds[1]);
            while (read(hold_fds[0], &c, 1) != 0 && errno == EINTR)
                ;
            close(hold_fds[0]);
        }
        _exit(fn(arg));
    }
    assert_true(pid > 0);
    return pid;
}

int th_wait(pid_t pid, int timeout_ms)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    assert_true(pfd >= 0);
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    int n;
    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    close(pfd);
    int st;
    if (n == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return -1;
    }
    if (waitpid(pid, &st, 0) != pid)
        return -2;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void th_kill(pid_t pid, int sig)
{
    int st;
    kill(pid, sig);
    waitpid(pid, &st, 0);
}

void th_gate_init(struct th_gate *g)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    g->rd = fds[0];
    g->wr = fds[1];
}

void th_gate_open(struct th_gate *g)
{
    char c = 1;
    assert_int_equal(write(g->wr, &c, 1), 1);
}

static int read_full(int fd, void *buf, size_t len, int timeout_ms)
{
    size_t got = 0;
    int64_t end = th_now_ms() + timeout_ms;
    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(end - th_now_ms());
        if (left < 0 || poll(&p, 1, left) <= 0)
            return -1;
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

int th_gate_wait(struct th_gate *g, int timeout_ms)
{
    char c;
    return read_full(g->rd, &c, 1, timeout_ms);
}

void th_gate_send_u64(struct th_gate *g, uint64_t v)
{
    assert_int_equal(write(g->wr, &v, sizeof v), (int)sizeof v);
}

int th_gate_recv_u64(struct th_gate *g, uint64_t *v, int timeout_ms)
{
    return read_full(g->rd, v, sizeof *v, timeout_ms);
}

void th_gate_close(struct th_gate *g)
{
    close(g->rd);
    close(g->wr);
}

int th_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

int64_t th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int th_eventually(int (*cond)(void *), void *arg, int timeout_ms)
{
    int64_t end = th_now_ms() + timeout_ms;
    while (!cond(arg)) {
        if (th_now_ms() > end)
            return 0;
        poll(NULL, 0, 1);
    }
    return 1;
}

char th_thread_state(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)tid); /* any thread, any process */
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *end = strrchr(buf, ')'); /* the name may hold spaces */
    return end && end[1] == ' ' ? end[2] : '?';
}

static int thread_asleep(void *arg)
{
    pid_t tid = atomic_load((_Atomic pid_t *)arg);
    return tid && th_thread_state(tid) == 'S';
}

int th_thread_sleeps(_Atomic pid_t *tid, int timeout_ms)
{
    return th_eventually(thread_asleep, (void *)tid, timeout_ms);
}

struct clients_arg {
    smipc_server *srv;
    size_t want;
};

static int clients_are(void *p)
{
    struct clients_arg *c = p;
    size_t n = (size_t)-1;
    smipc_server_clients(c->srv, NULL, 0, &n);
    return n == c->want;
}

int th_clients_become(smipc_server *srv, size_t n, int timeout_ms)
{
    struct clients_arg arg = {srv, n};
    return th_eventually(clients_are, &arg, timeout_ms);
}

static inline uint8_t byte_at(uint64_t seed, size_t i)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + (i >> 3) * 0xbf58476d1ce4e5b9ull;
    x ^= x >> 31;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 29;
    return (uint8_t)(x >> (8 * (i & 7)));
}

void th_fill(void *buf, size_t len, uint64_t seed)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = byte_at(seed, i);
}

int th_check(const void *buf, size_t len, uint64_t seed)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i] != byte_at(seed, i))
            return 0;
    return 1;
}

smipc_server *th_server(const char *name, const smipc_server_config *cfg)
{
    smipc_server *srv = NULL;
    assert_smipc_ok(smipc_server_open(&srv, name, cfg));
    return srv;
}

smipc_client *th_client(const char *name)
{
    smipc_client *cli = NULL;
    assert_smipc_ok(smipc_client_connect(&cli, name, 5000));
    return cli;
}
