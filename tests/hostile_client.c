/* A client that breaks the protocol on purpose, for tests in other languages: it
 * connects to NAME, publishes a packet of garbage in its ring, and waits to be dropped.
 * Exit 0 when the server ended the connection (as it must), 1 otherwise. */
#include "layout.h"
#include "testing.h"

#include <smipc.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s NAME\n", argv[0]);
        return 2;
    }
    smipc_client *cli;
    int rc = smipc_client_connect(&cli, argv[1], 5000);
    if (rc) {
        fprintf(stderr, "hostile_client: %s\n", smipc_strerror(rc));
        return 1;
    }
    size_t size;
    unsigned char *map = smipc_testing_client_segment(cli, &size);
    const struct smipc_segment_hdr *sh = (const void *)map;
    struct smipc_packet_hdr *first =
        (void *)(map + sh->ring_offset[0] + sizeof(struct smipc_ring_hdr));
    memset((unsigned char *)first + 4, 0xA5, 28); /* a header that cannot be valid */
    atomic_store(&first->lock, SMIPC_PACKET_FULL);
    /* wake the server the way a send would */
    struct smipc_ring_hdr *c2s = (void *)(map + sh->ring_offset[0]);
    atomic_store(&c2s->rx_waiting, 1);
    printf("hostile_client: garbage published\n");
    fflush(stdout);
    char buf[16];
    size_t len = sizeof buf;
    rc = smipc_client_recv(cli, buf, &len, 10000);
    smipc_client_close(cli);
    return rc == SMIPC_ECLOSED ? 0 : 1;
}
