/* Datagrams with descriptors over SOCK_SEQPACKET. */
#include "control.h"

#include "clock.h"
#include "internal.h"

#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int smipc_ctl_send(int fd, const void *msg, size_t len, const int *fds, int nfds)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * SMIPC_WELCOME_FDS)];
    } ctl;
    struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > SMIPC_WELCOME_FDS)
        return SMIPC_EINVAL;
    if (nfds > 0) {
        memset(&ctl, 0, sizeof ctl);
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? SMIPC_OK : SMIPC_ESYS;
}

int smipc_ctl_recv(int fd, void *msg, size_t cap, size_t *got, int *fds, int maxfds, int *nfds)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 16)];
    } ctl;
    struct iovec iov = {.iov_base = msg, .iov_len = cap};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    *nfds = 0;
    ssize_t n;
    do
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? SMIPC_AGAIN : SMIPC_ESYS;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < count; i++) {
            int d;
            memcpy(&d, CMSG_DATA(c) + i * sizeof(int), sizeof d);
            if (*nfds < maxfds)
                fds[(*nfds)++] = d;
            else
                close(d); /* never leak what a hostile peer pushes at us */
        }
    }
    if (mh.msg_flags & MSG_CTRUNC) {
        /* descriptors were dropped: almost always because we are out of them */
        for (int i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        errno = EMFILE;
        return SMIPC_ESYS;
    }
    *got = (size_t)n;
    if (mh.msg_flags & MSG_TRUNC)
        *got = cap + 1; /* callers treat an oversized datagram as a protocol error */
    return SMIPC_OK;
}

int smipc_ctl_connect_fd(int fd, const char *path, int64_t deadline)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1); /* fits: smipc_name_resolve checked */
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return SMIPC_OK;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN && smipc_now_ns() < deadline) {
            /* backlog full: the server's thread is accepting; try again shortly */
            poll(NULL, 0, 1);
            continue;
        }
        errno = e;
        if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
            return SMIPC_ENOTFOUND;
        if (e == EACCES || e == EPERM)
            return SMIPC_EACCES;
        return e == EAGAIN ? SMIPC_ETIMEDOUT : SMIPC_ESYS;
    }
}

int smipc_ctl_connect(const char *path, int64_t deadline, int *out)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return SMIPC_ESYS;
    int rc = smipc_ctl_connect_fd(fd, path, deadline);
    if (rc) {
        SMIPC_KEEP_ERRNO(close(fd));
        return rc;
    }
    *out = fd;
    return SMIPC_OK;
}
