/* What a process forked while handles are open keeps of them: nothing that works.
 * The child's copies of every descriptor are closed at once (so a dead parent is still
 * seen as dead by its peers), its copies of the segments are never mapped
 * (MADV_DONTFORK), and every call on an inherited handle returns SMIPC_ECLOSED. */
#ifndef SMIPC_FORK_GUARD_H
#define SMIPC_FORK_GUARD_H

struct smipc_forkable {
    struct smipc_forkable *prev, *next;
    void (*prepare)(struct smipc_forkable *); /* parent, before fork: take locks */
    void (*parent)(struct smipc_forkable *);  /* parent, after fork: release them */
    void (*child)(struct smipc_forkable *);   /* child: close descriptors, forget maps */
    unsigned generation;                      /* fork generation the handle was made in */
};

void smipc_fork_register(struct smipc_forkable *h);
void smipc_fork_unregister(struct smipc_forkable *h);
/* 1 when h was inherited from a parent process. */
int smipc_fork_inherited(const struct smipc_forkable *h);
/* Closes fd and sets it to -1 when it is a real descriptor (for child handlers). */
void smipc_close_fd(int *fd);

#endif
