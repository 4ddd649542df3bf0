/* Things every source file of the library shares and no user sees. */
#ifndef SMIPC_INTERNAL_H
#define SMIPC_INTERNAL_H

#include "smipc.h"

#include <errno.h>

/* Internal only: "nothing yet, call again"; never returned to a user. */
/* For the per-packet helpers of the hot paths, which the compiler stops inlining once
 * they have a second caller (the zero-copy calls): a call per packet is measurable in 64 B
 * streaming (docs/BENCHMARKS.md, "The bulk area"). */
#define SMIPC_HOT static inline __attribute__((always_inline))

#define SMIPC_AGAIN 1
#define SMIPC_SPLIT 2 /* smipc_link_view: the message is not in one piece in place */

/* Runs expr and gives back errno as it was before, so cleanup cannot clobber it. */
#define SMIPC_KEEP_ERRNO(expr)                                                                     \
    do {                                                                                           \
        int saved_errno_ = errno;                                                                  \
        expr;                                                                                      \
        errno = saved_errno_;                                                                      \
    } while (0)

#define SMIPC_UNUSED(x) (void)(x)

#endif
