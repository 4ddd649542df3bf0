/* Things every source file of the library shares and no user sees. */
#ifndef SMIPC_INTERNAL_H
#define SMIPC_INTERNAL_H

#include "smipc.h"

#include <errno.h>

/* Internal only: "nothing yet, call again"; never returned to a user. */
#define SMIPC_AGAIN 1

/* Runs expr and gives back errno as it was before, so cleanup cannot clobber it. */
#define SMIPC_KEEP_ERRNO(expr)                                                                     \
    do {                                                                                           \
        int saved_errno_ = errno;                                                                  \
        expr;                                                                                      \
        errno = saved_errno_;                                                                      \
    } while (0)

#define SMIPC_UNUSED(x) (void)(x)

#endif
