#!/bin/sh
# Builds examples/echo_client.c with nothing but `pkg-config smipc` and runs it against a
# name nobody serves: it must say so and exit 1.
# Arguments: the uninstalled pkg-config directory, a scratch directory, the source.
set -e
export PKG_CONFIG_PATH="$1"
cc $(pkg-config --cflags smipc-uninstalled) -o "$2/pc_echo_client" "$3" \
    $(pkg-config --libs smipc-uninstalled)
set +e
out=$("$2/pc_echo_client" no-such-server-for-pkg-config hi 2>&1)
rc=$?
echo "$out"
[ "$rc" = 1 ] && echo "$out" | grep -q "no live server with that name"
