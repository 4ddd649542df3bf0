/* The lock each handle side takes per call (csrc/call_lock.c): one holder at a time, a
 * sleeping waiter is always woken, and a timed wait gives up. */
#include "helpers.h"

#include "call_lock.h"
#include "clock.h"
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
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

/* The thread's scheduler state from /proc: 'S' once it sleeps in the kernel. */
static char thread_state(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *end = strrchr(buf, ')'); /* the name may hold spaces */
    return end && end[1] == ' ' ? end[2] : '?';
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

static void test_sleeping_waiter_is_woken(void **state)
{
    (void)state;
    /* 30 s: a lost wake-up shows as SMIPC_ETIMEDOUT, not as a hang */
    struct waiter w = {.timeout_ms = 30000};
    pthread_t t = start_waiter_on_held_lock(&w);
    while (!atomic_load(&lock.sleepers) || !atomic_load(&w.tid) || thread_state(w.tid) != 'S')
        sched_yield();
    smipc_call_unlock(&lock);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, SMIPC_OK);
    assert_int_equal(atomic_load(&lock.sleepers), 0);
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
        cmocka_unit_test(test_timed_wait_gives_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
