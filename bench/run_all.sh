#!/bin/bash
# Runs both benchmarks on this machine and draws the plots into docs/:
# bash bench/run_all.sh   (installs pyzmq, matplotlib and iceoryx2 into .venv-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps
if ! dpkg -s libzmq3-dev >/dev/null 2>&1; then
    echo "== installing libzmq3-dev (ZeroMQ for the C comparison)"
    sudo_cmd=""; [ "$(id -u)" != 0 ] && sudo_cmd=sudo
    $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq libzmq3-dev >/dev/null
fi
[ -f build-release/build.ninja ] || meson setup build-release --buildtype=release -Dtests=false >/dev/null
meson setup build-release --reconfigure >/dev/null
ninja -C build-release >/dev/null
[ -x .venv-bench/bin/python ] || python3 -m venv .venv-bench
.venv-bench/bin/pip install -q --disable-pip-version-check . -r bench/requirements.txt
mkdir -p docs/bench
./build-release/tools/smipc bench --json docs/bench/c_bench.json --csv docs/bench/c_bench.csv "$@" \
    | tee docs/bench/c_bench.txt
./build-release/bench/plain_ring | tee docs/bench/plain_ring.txt
./build-release/bench/switch_cost | tee docs/bench/switch_cost.txt
{ ./build-release/bench/idle_memory
  echo; echo "The same with SMIPC_BULK_IDLE_MS=-1 (never given back, as before):"
  SMIPC_BULK_IDLE_MS=-1 ./build-release/bench/idle_memory | sed -n 3,8p; } | tee docs/bench/idle_memory.txt
.venv-bench/bin/python bench/python_bench.py --json docs/bench/python_bench.json \
    | tee docs/bench/python_bench.txt
.venv-bench/bin/python bench/python_zero_copy.py --json docs/bench/python_zero_copy.json \
    | tee docs/bench/python_zero_copy.txt
.venv-bench/bin/python bench/plot.py docs/bench/c_bench.json docs/bench/python_bench.json docs/bench
