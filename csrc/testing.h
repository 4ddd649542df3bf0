/* Hooks for the white-box tests (hidden: never exported from libsmipc.so). */
#ifndef SMIPC_TESTING_H
#define SMIPC_TESTING_H

#include "smipc.h"

#include <stddef.h>

/* The shared segment of a client's connection. */
void *smipc_testing_client_segment(smipc_client *cli, size_t *size);
/* The shared segment of the server's connection to a client, or NULL. */
void *smipc_testing_server_segment(smipc_server *srv, smipc_client_id id, size_t *size);

#endif
