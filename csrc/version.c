/* The library's version, from the header's numbers so the two cannot differ. */
#include "internal.h"

#define SMIPC_STR_(x) #x
#define SMIPC_STR(x)  SMIPC_STR_(x)

SMIPC_EXPORT const char *smipc_version(void)
{
    return SMIPC_STR(SMIPC_VERSION_MAJOR) "." SMIPC_STR(SMIPC_VERSION_MINOR) "." SMIPC_STR(
        SMIPC_VERSION_PATCH);
}
