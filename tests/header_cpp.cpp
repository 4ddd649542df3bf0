// The public header compiles as C++ with -pedantic -Werror, and links from C++.
#include <smipc.h>

#include <cstring>

int main()
{
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    smipc_server *srv = nullptr;
    int rc = smipc_server_open(&srv, "bad name!", &cfg);
    return rc == SMIPC_EINVAL && std::strlen(smipc_version()) >= 5 ? 0 : 1;
}
