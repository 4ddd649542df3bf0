/* The lock each handle side takes per call (csrc/call_lock.c): one holder at a time, a
 * sleeping waiter is always woken (also where membarrier is refused), and a timed wait
 * gives up. */
#include "helpers.h"

#include "call_lock.h"
#include "clock.h"
#include "internal.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { THREADS = 4, ROUNDS = 20000 };

static struct smipc_call_lock lock;
static unsigned long counter; /* plain: only the lock protects it (ThreadSanitizer checks) */
static _Atomic int inside, overlaps;

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        smipc_call_lock(&lock, NULL);
        if (atomic_fetch_add(&inside, 1) != 0)
            atomic_fetch_add(&overlaps, 1);
        counter++;
        if (i % 64 == 0)
            sched_yield(); /* held across a yield: the others spin, yield and sleep */
        atomic_fetch_sub(&inside, 1);
        smipc_call_unlock(&lock);
    }
    return NULL;
}

static void test_one_holder_at_a_time(void **state)
{
    (void)state;
    smipc_call_lock_init(&lock);
    counter = 0;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&overlaps), 0);
    assert_int_equal(counter, (unsigned long)THREADS * ROUNDS);
    assert_int_equal(atomic_load(&lock.sleepers), 0);
    assert_true(smipc_call_trylock(&lock));
    smipc_call_unlock(&lock);
}

struct waiter {
    int timeout_ms;
    _Atomic pid_t tid;
    int rc;
};

static void *wait_for_lock(void *p)
{
    struct waiter *w = p;
    atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
    struct smipc_lazy_deadline d = {w->timeout_ms, 0};
    w->rc = smipc_call_lock(&lock, &d);
    if (w->rc == SMIPC_OK)
        smipc_call_unlock(&lock);
    return NULL;
}

/* Takes the lock, then starts a thread that waits for it. */
static pthread_t start_waiter_on_held_lock(struct waiter *w)
{
    smipc_call_lock_init(&lock);
    assert_true(smipc_call_trylock(&lock));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_for_lock, w), 0);
    return t;
}

/* Lets go of the lock once a waiter sleeps on it; the waiter's result (30 s: a lost
 * wake-up shows as SMIPC_ETIMEDOUT, not as a hang). */
static int wake_a_sleeper(void)
{
    struct waiter w = {.timeout_ms = 30000};
    pthread_t t = start_waiter_on_held_lock(&w);
    while (!atomic_load(&lock.sleepers) || !atomic_load(&w.tid) || th_thread_state(w.tid) != 'S')
        sched_yield();
    smipc_call_unlock(&lock);
    pthread_join(t, NULL);
    return atomic_load(&lock.sleepers) ? -1 : w.rc;
}

static void test_sleeping_waiter_is_woken(void **state)
{
    (void)state;
    assert_int_equal(wake_a_sleeper(), SMIPC_OK);
}

/* This process (a forked child) gets ENOSYS from membarrier, as under some seccomp
 * profiles and old kernels. */
static int refuse_membarrier(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
        return -1;
    return syscall(SYS_membarrier, 0, 0, 0) == -1 && errno == ENOSYS ? 0 : -1;
}

static int wake_a_sleeper_without_membarrier(void *arg)
{
    (void)arg;
    return refuse_membarrier() ? 2 : wake_a_sleeper() == SMIPC_OK ? 0 : 1;
}

static void test_sleeping_waiter_is_woken_without_membarrier(void **state)
{
    (void)state;
    pid_t pid = th_spawn(wake_a_sleeper_without_membarrier, NULL);
    /* 2: the filter did not take, 1: not woken */
    assert_int_equal(th_wait(pid, 60000), 0);
}

static void test_timed_wait_gives_up(void **state)
{
    (void)state;
    struct waiter w = {.timeout_ms = 50};
    pthread_t t = start_waiter_on_held_lock(&w);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, SMIPC_ETIMEDOUT);
    assert_int_equal(atomic_load(&lock.sleepers), 0);
    /* a call that must not block gives up at once */
    w.timeout_ms = 0;
    assert_int_equal(pthread_create(&t, NULL, wait_for_lock, &w), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, SMIPC_ETIMEDOUT);
    /* still ours, and free for the next one once we let go */
    assert_false(smipc_call_trylock(&lock));
    smipc_call_unlock(&lock);
    assert_int_equal(pthread_create(&t, NULL, wait_for_lock, &w), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, SMIPC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_holder_at_a_time),
        cmocka_unit_test(test_sleeping_waiter_is_woken),
        cmocka_unit_test(test_sleeping_waiter_is_woken_without_membarrier),
        cmocka_unit_test(test_timed_wait_gives_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
