#!/bin/sh
# Runs the go tool for meson (go test, go build) on this module, against the build tree's
# libsmipc: pkg-config finds smipc-uninstalled.pc, the programs find libsmipc.so.
# The go tool caches the SWIG package by the files in its own folder, and the interface
# it includes (bindings/smipc.i) and smipc.h live elsewhere: their hash goes into that
# package's compiler flags, so an edit of either rebuilds it.
# Arguments: go, the build root, the source root, then the go command and its arguments.
# GO_MODULE_DIR: run in that module instead of bindings/go.
set -e
go=$1 build=$2 src=$3
shift 3
hash=$(cat "$src/bindings/smipc.i" "$src/include/smipc.h" | cksum | cut -d' ' -f1)
export PKG_CONFIG_PATH="$build/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$build/csrc${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GOFLAGS="-mod=mod -gcflags=smipc.org/smipc/internal/csmipc=-D=/smipc-$hash"
export GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=1
cd "${GO_MODULE_DIR:-$src/bindings/go}" # another module (the README's) may be named
cmd=$1
shift
exec "$go" "$cmd" "$@"
