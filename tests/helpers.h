/* Shared by the C tests: unique names, child processes with bounded waits, pipes for
 * synchronising processes (never sleeps), descriptor counts, checkable payloads. */
#ifndef SMIPC_TEST_HELPERS_H
#define SMIPC_TEST_HELPERS_H

#include <smipc.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include <setjmp.h>
#include <cmocka.h>

/* Gives this test binary its own runtime directory ($SMIPC_DIR) and returns it. */
const char *th_runtime_dir(void);
/* A server name no other test uses: prefix-pid-counter. */
const char *th_name(const char *prefix);

/* Runs fn(arg) in a child process; the child exits with fn's return value. */
pid_t th_spawn(int (*fn)(void *), void *arg);
/* Children spawned between these two calls wait, before they run, until the second: so a
 * group of clients starts together, and none connects while the next is being forked. */
void th_hold_children(void);
void th_release_children(void);
/* Waits at most timeout_ms for the child: its exit code, 128+signal, or -1 on timeout
 * (the child is then killed). */
int th_wait(pid_t pid, int timeout_ms);
/* Kills and reaps. */
void th_kill(pid_t pid, int sig);

/* In a child: report a failed check and exit 1. */
#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: child check failed: %s\n", __FILE__, __LINE__, #cond);         \
            fflush(stderr);                                                                        \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)
#define CHILD_OK(expr)                                                                             \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != SMIPC_OK) {                                                                     \
            fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, smipc_strerror(rc_));  \
            fflush(stderr);                                                                        \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

/* Status assertions that print the words of both codes. */
#define assert_status(expr, want)                                                                  \
    do {                                                                                           \
        int got_ = (expr);                                                                         \
        if (got_ != (want))                                                                        \
            fail_msg("%s: got %d (%s), want %d (%s)", #expr, got_, smipc_strerror(got_),           \
                     (int)(want), smipc_strerror(want));                                           \
    } while (0)
#define assert_smipc_ok(expr) assert_status(expr, SMIPC_OK)

/* A one-way signal between processes: a pipe. */
struct th_gate {
    int rd, wr;
};
void th_gate_init(struct th_gate *g);
void th_gate_open(struct th_gate *g);                /* writes one byte */
int th_gate_wait(struct th_gate *g, int timeout_ms); /* 0 when a byte came, -1 if not */
void th_gate_close(struct th_gate *g);
/* Passes a number through a gate. */
void th_gate_send_u64(struct th_gate *g, uint64_t v);
int th_gate_recv_u64(struct th_gate *g, uint64_t *v, int timeout_ms);

/* A thread's (or a process's) scheduler state from /proc ('S' once it sleeps in the
 * kernel), '?' if gone. */
char th_thread_state(pid_t tid);
/* Waits (up to timeout_ms) until the thread whose id *tid will hold sleeps; 1 if it did. */
int th_thread_sleeps(_Atomic pid_t *tid, int timeout_ms);

/* Open descriptors of this process. */
int th_count_fds(void);
/* Polls cond up to timeout_ms (for state that changes in another thread or process
 * with no event to wait on, e.g. the server noticing a departure). 1 if it came true. */
int th_eventually(int (*cond)(void *), void *arg, int timeout_ms);

/* Waits (up to timeout_ms) until the server lists exactly n clients: departures are
 * noticed by the server's own thread, with no event the test could wait on. */
int th_clients_become(smipc_server *srv, size_t n, int timeout_ms);

/* Payloads whose every byte is a function of (seed, index): the receiver checks them. */
void th_fill(void *buf, size_t len, uint64_t seed);
int th_check(const void *buf, size_t len, uint64_t seed); /* 1 when intact */

/* A server opened with defaults (or cfg), asserted to succeed. */
smipc_server *th_server(const char *name, const smipc_server_config *cfg);
smipc_client *th_client(const char *name);
int64_t th_now_ms(void);

#endif
