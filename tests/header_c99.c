/* The public header compiles as C99 with -pedantic -Werror, alone. */
#include <smipc.h>

int main(void)
{
    smipc_server_config cfg;
    smipc_server_config_init(&cfg);
    return smipc_strerror(SMIPC_OK)[0] && cfg.max_clients == 64 ? 0 : 1;
}
