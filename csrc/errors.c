/* The words for every status. */
#include "internal.h"

SMIPC_EXPORT const char *smipc_strerror(int status)
{
    switch (status) {
    case SMIPC_OK:
        return "success";
    case SMIPC_ETIMEDOUT:
        return "timed out: nothing to receive or no room to send before the timeout";
    case SMIPC_EINVAL:
        return "invalid argument";
    case SMIPC_ENOMEM:
        return "out of memory";
    case SMIPC_ETOOSMALL:
        return "receive buffer too small: the length says the size needed, and the message "
               "stays queued";
    case SMIPC_EMSGSIZE:
        return "message larger than the connection's max_message_size";
    case SMIPC_ENOTFOUND:
        return "no live server with that name";
    case SMIPC_EEXIST:
        return "a live server already owns that name";
    case SMIPC_EFULL:
        return "the server already has max_clients clients";
    case SMIPC_ECLOSED:
        return "the peer closed or died";
    case SMIPC_ENOCLIENT:
        return "no connected client with that id";
    case SMIPC_EPROTO:
        return "the peer broke the protocol (framing, checksum or version)";
    case SMIPC_EACCES:
        return "permission denied (other uid or file permissions)";
    case SMIPC_ESYS:
        return "an operating-system call failed (see errno)";
    case SMIPC_ELOANSIZE:
        return "larger than the connection can lend in one piece (see its bulk_size)";
    default:
        return "unknown smipc status";
    }
}
