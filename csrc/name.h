/* From a server name to the path of its Unix socket (rule in API.md, "Names"). */
#ifndef SMIPC_NAME_H
#define SMIPC_NAME_H

#include <sys/un.h>

/* Room for a sockaddr_un path, NUL included. */
#define SMIPC_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* Fills path (SMIPC_PATH_MAX bytes) and dir (the folder holding it, PATH_MAX bytes).
 * create_dir: make the runtime directory (owner-only) when it is missing.
 * Returns SMIPC_OK, SMIPC_EINVAL (bad name, path too long), SMIPC_EACCES (runtime
 * directory not private to us) or SMIPC_ESYS. */
int smipc_name_resolve(const char *name, int create_dir, char *path, char *dir);
/* The runtime directory alone (for `smipc ls`). */
int smipc_runtime_dir(char *dir, int create);

#endif
