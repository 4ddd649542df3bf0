/* Hooks for the white-box tests (hidden: never exported from libsmipc.so). */
#ifndef SMIPC_TESTING_H
#define SMIPC_TESTING_H

#include "smipc.h"

#include <stddef.h>

/* The shared segment of a client's connection. */
void *smipc_testing_client_segment(smipc_client *cli, size_t *size);
/* A connect over a control socket the caller made and connected (it becomes the
 * handle's): the handshake and all after it, as smipc_client_connect does them. */
int smipc_testing_client_over(smipc_client **out, int ctl_fd, int timeout_ms);
/* The client's ends of its wake-up channels: c2s data, c2s room, s2c data, s2c room. */
void smipc_testing_client_wake_fds(smipc_client *cli, int fds[4]);
/* The shared segment of the server's connection to a client, or NULL. */
void *smipc_testing_server_segment(smipc_server *srv, smipc_client_id id, size_t *size);

/* If a receive is under way on srv, asks it to reap, as the server's thread does when a
 * client departs (1); else does nothing (0). */
int smipc_testing_server_reap_while_receiving(smipc_server *srv);
/* Sets the bytes of half-received messages srv may park (before clients connect). */
void smipc_testing_server_park_budget(smipc_server *srv, size_t bytes);
/* Keeps CRC32C to the implementations up to this level (0 table, 1 SSE4.2, 2 with AVX2
 * stores, 3 folding with VPCLMULQDQ) so that each can be checked on a machine that has
 * them all; returns the level that will be used. Not thread-safe: tests only. */
int smipc_testing_crc32c_level(int level);

#endif
