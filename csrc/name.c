/* Server names and the runtime directory that holds their sockets. */
#include "name.h"

#include "internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SMIPC_NAME_MAX 100

static int name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* A default directory lives in a shared place (/tmp): it must be ours and private, or a
 * squatter could read our traffic. An explicit $SMIPC_DIR is the user's choice. */
static int ensure_dir(const char *dir, int create, int must_be_private)
{
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT)
            return SMIPC_ESYS;
        if (!create)
            return SMIPC_OK; /* connect will say ENOTFOUND */
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return errno == EACCES ? SMIPC_EACCES : SMIPC_ESYS;
        if (lstat(dir, &st) != 0)
            return SMIPC_ESYS;
    }
    if (!S_ISDIR(st.st_mode))
        return SMIPC_EACCES;
    if (must_be_private && (st.st_uid != geteuid() || (st.st_mode & 077) != 0))
        return SMIPC_EACCES;
    return SMIPC_OK;
}

int smipc_runtime_dir(char *dir, int create)
{
    const char *env = getenv("SMIPC_DIR");
    int n;
    int private_dir = 1;
    if (env && *env) {
        n = snprintf(dir, PATH_MAX, "%s", env);
        private_dir = 0;
    } else if ((env = getenv("XDG_RUNTIME_DIR")) && *env) {
        n = snprintf(dir, PATH_MAX, "%s/smipc", env);
    } else {
        n = snprintf(dir, PATH_MAX, "/tmp/smipc-%u", (unsigned)geteuid());
    }
    if (n < 0 || n >= PATH_MAX)
        return SMIPC_EINVAL;
    return ensure_dir(dir, create, private_dir);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int smipc_name_resolve(const char *name, int create_dir, char *path, char *dir)
{
    if (!name || !*name)
        return SMIPC_EINVAL;
    size_t len = strlen(name);
    if (strchr(name, '/')) {
        if (len >= SMIPC_PATH_MAX)
            return SMIPC_EINVAL;
        memcpy(path, name, len + 1);
        const char *slash = strrchr(name, '/');
        if (slash == name) {
            strcpy(dir, "/");
        } else {
            memcpy(dir, name, (size_t)(slash - name));
            dir[slash - name] = '\0';
        }
        return slash[1] ? SMIPC_OK : SMIPC_EINVAL;
    }
    if (len > SMIPC_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
        return SMIPC_EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok(name[i]))
            return SMIPC_EINVAL;
    /* the path is made even when the directory is not usable (smipc_name_path wants it) */
    int rc = smipc_runtime_dir(dir, create_dir);
    if (rc == SMIPC_EINVAL)
        return rc;
    size_t dlen = strlen(dir);
    if (dlen + 1 + len < SMIPC_PATH_MAX) {
        snprintf(path, SMIPC_PATH_MAX, "%s/%s", dir, name);
        return rc;
    }
    /* Too long for sun_path: keep a prefix and add a hash of the whole name, the same in
     * every process, so long names still work in a deep runtime directory. */
    const size_t hash_len = 17; /* "-" and 16 hex digits */
    if (dlen + 1 + 1 + hash_len >= SMIPC_PATH_MAX)
        return SMIPC_EINVAL;
    size_t keep = SMIPC_PATH_MAX - 1 - dlen - 1 - hash_len;
    snprintf(path, SMIPC_PATH_MAX, "%s/%.*s-%016llx", dir, (int)keep, name,
             (unsigned long long)fnv1a(name));
    return rc;
}

SMIPC_EXPORT int smipc_name_path(const char *name, char *path, size_t cap)
{
    char full[SMIPC_PATH_MAX], dir[PATH_MAX];
    if (!path && cap)
        return SMIPC_EINVAL;
    int rc = smipc_name_resolve(name, 0, full, dir);
    if (rc == SMIPC_EACCES || rc == SMIPC_ESYS)
        rc = SMIPC_OK; /* the directory's state is connect's business, not the path's */
    if (rc)
        return rc;
    size_t n = strlen(full);
    if (n >= cap)
        return SMIPC_ETOOSMALL;
    memcpy(path, full, n + 1);
    return SMIPC_OK;
}
