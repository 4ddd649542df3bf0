#!/bin/bash
# Smoke test of every `smipc` subcommand, with real assertions on what they print and
# how they exit. Argument: the smipc program.
set -u
smipc=$1
export SMIPC_DIR=$(mktemp -d)
fails=0
pids=()
# Ends every background process this script started, for certain and without waiting on
# anything else; says which children were still there (they would hold the test open).
cleanup() {
    local left
    left=$(ps -o pid=,args= --ppid $$ 2>/dev/null | grep -v -e ' ps ' -e 'grep' -e 'check_cli.sh' || true)
    [ -n "$left" ] && echo "cleanup: still running: $left"
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait "${pids[@]}" 2>/dev/null
    rm -rf "$SMIPC_DIR"
}
trap cleanup EXIT

check() { # description, then a command that must succeed
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
# Waits until the server NAME answers (it is started in the background), 10 s at most.
wait_live() {
    for _ in $(seq 1000); do
        "$smipc" stat "$1" >/dev/null 2>&1 && return 0
        sleep 0.01
    done
    return 1
}
wait_clients() { # NAME N: until the server lists N clients
    for _ in $(seq 1000); do
        [ "$("$smipc" stat "$1" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["clients"])' 2>/dev/null)" = "$2" ] && return 0
        sleep 0.01
    done
    return 1
}

# usage and exit codes
check "--help exits 0 and lists the commands" bash -c "'$smipc' --help | grep -q 'serve NAME'"
"$smipc" frobnicate >/dev/null 2>&1
check "an unknown command exits 2" test $? = 2
"$smipc" send >/dev/null 2>&1
check "send without a name exits 2" test $? = 2
for cmd in serve send recv ls stat bench; do
    check "$cmd --help" bash -c "'$smipc' $cmd --help | grep -q 'usage: smipc $cmd'"
done
out=$("$smipc" send nobody hi 2>&1)
check "send to no server exits 4 and says so" bash -c "test $? = 4 && grep -q 'no live server with that name' <<< '$out'"

# an echo server
"$smipc" serve echo1 --quiet >"$SMIPC_DIR/serve.out" 2>&1 &
pids+=($!)
check "serve answers" wait_live echo1
check "send --reply gets the echo" test "$("$smipc" send echo1 hello --reply)" = hello
check "send - reads standard input" test "$(printf 'from stdin' | "$smipc" send echo1 - --reply)" = "from stdin"
head -c 300000 /dev/urandom >"$SMIPC_DIR/big"
"$smipc" send echo1 - --reply <"$SMIPC_DIR/big" | head -c 300000 >"$SMIPC_DIR/big.back"
check "a 300 KB message comes back intact" cmp -s "$SMIPC_DIR/big" "$SMIPC_DIR/big.back"
"$smipc" recv echo1 --timeout 0.2 >/dev/null 2>&1
check "recv with nothing to receive exits 3" test $? = 3

# an option that is not one is a usage error, not a message; after -- it is data
accepted() { "$smipc" stat echo1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["accepted"])'; }
before=$(accepted)
"$smipc" send echo1 --rpely >"$SMIPC_DIR/typo.out" 2>&1
check "send with a misspelt option exits 2" test $? = 2
check "and says which option" grep -q 'no option "--rpely"' "$SMIPC_DIR/typo.out"
check "and sent nothing (it never connected)" test "$(accepted)" = "$before"
check "send -- DATA sends data that starts with -" test "$("$smipc" send echo1 --reply -- --rpely)" = --rpely

# stat and ls see a connected client
"$smipc" recv echo1 --count 1 --timeout 10 >/dev/null 2>&1 &
pids+=($!)
check "stat --json counts the connected client" wait_clients echo1 1
check "stat prints the server line and the client" bash -c "'$smipc' stat echo1 | grep -q '^server echo1: pid [0-9]*, up .* 1 of 64 clients'"
check "stat --json has per-connection counters" bash -c "'$smipc' stat echo1 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); c=d[\"connections\"]; assert len(c)==1 and c[0][\"state\"]==\"open\" and \"bytes_in\" in c[0] and d[\"accepted\"]>=4, d'"
check "ls shows the server live with its client" bash -c "'$smipc' ls | grep -Eq '^echo1 +live +[^ ]+ +[0-9]+ +1$'"
check "ls --json is JSON" bash -c "'$smipc' ls --json | python3 -c 'import json,sys; [s] = [s for s in json.load(sys.stdin) if s[\"name\"]==\"echo1\"]; assert s[\"state\"]==\"live\" and s[\"clients\"]==1, s'"

# JSON stays JSON whatever the names and paths hold: a runtime directory with a quote, a
# backslash, a tab and a byte that is not UTF-8, and a server named by such a path
odd=$(printf '%s/we"ird\\dir\tx\377' "$SMIPC_DIR")
mkdir -m 700 "$odd"
SMIPC_DIR=$odd "$smipc" serve odd1 --quiet >/dev/null 2>&1 &
pids+=($!)
SMIPC_DIR=$odd check "a server in an odd directory answers" wait_live odd1
# (the byte that is not UTF-8 comes out as U+FFFD; Python reads it from the environment
# as the surrogate U+DCFF)
cat >"$SMIPC_DIR/ls.py" <<'PY'
import json, os, sys
[s] = json.load(sys.stdin)
want = os.environ["SMIPC_DIR"].replace("\udcff", "\ufffd") + "/odd1"
assert s["name"] == "odd1" and s["state"] == "live" and s["path"] == want, (s, want)
PY
cat >"$SMIPC_DIR/stat.py" <<'PY'
import json, os, sys
d = json.load(sys.stdin)
want = sys.argv[1].encode("utf-8", "surrogateescape").decode("utf-8", "replace")
assert d["name"] == want and d["clients"] == 0, (d["name"], want)
PY
SMIPC_DIR=$odd "$smipc" ls --json >"$SMIPC_DIR/ls.json"
check "ls --json escapes the directory in each path" env SMIPC_DIR="$odd" python3 "$SMIPC_DIR/ls.py" <"$SMIPC_DIR/ls.json"
"$smipc" stat "$odd/odd1" --json >"$SMIPC_DIR/stat.json"
check "stat --json escapes a name that is such a path" python3 "$SMIPC_DIR/stat.py" "$odd/odd1" <"$SMIPC_DIR/stat.json"

# a broadcasting hub
"$smipc" serve hub --broadcast --quiet >/dev/null 2>&1 &
pids+=($!)
check "the hub answers" wait_live hub
"$smipc" recv hub --count 1 --timeout 10 >"$SMIPC_DIR/recv.out" 2>/dev/null &
listener=$!
pids+=($listener)
check "the listener is connected" wait_clients hub 1
"$smipc" send hub news
wait $listener
check "recv printed the broadcast" test "$(cat "$SMIPC_DIR/recv.out")" = news

# a server that dies leaves a stale name, which ls says
"$smipc" serve doomed --quiet >/dev/null 2>&1 &
doomed=$!
pids+=($doomed)
check "the doomed server answers" wait_live doomed
kill -9 $doomed
wait $doomed 2>/dev/null
check "ls says stale" bash -c "'$smipc' ls | grep -Eq '^doomed +stale'"

# SIGTERM stops serve cleanly, with a summary
kill -TERM "${pids[0]}"
wait "${pids[0]}"
check "serve stops on SIGTERM with exit 0" test $? = 0
check "serve printed its summary" grep -q '^served [0-9]* messages' "$SMIPC_DIR/serve.out"

# bench, briefly
timeout 90 "$smipc" bench --quick --repeats 1 --seconds 0.02 --clients 2 --sizes 64,64K \
    --csv "$SMIPC_DIR/b.csv" --json "$SMIPC_DIR/b.json" >"$SMIPC_DIR/bench.out" 2>/dev/null
check "bench --quick exits 0" test $? = 0
check "bench prints the round-trip row" grep -Eq '^rtt 64 B p50' "$SMIPC_DIR/bench.out"
check "bench CSV has smipc and pipe figures" bash -c "grep -q '^rtt,64,p50,us,smipc,' '$SMIPC_DIR/b.csv' && grep -q ',pipe,' '$SMIPC_DIR/b.csv'"
check "bench JSON parses and has positive medians" python3 -c "
import json; d = json.load(open('$SMIPC_DIR/b.json'))
assert d and all(x['median'] >= 0 for x in d), d
assert any(x['peer'] == 'smipc' and x['workload'] == 'm2o' for x in d)"
timeout 60 "$smipc" bench --quick --seconds 0.02 --only stream --peers smipc,pipe --sizes 64K \
    --packet-size 16K --ring-packets 16 --csv "$SMIPC_DIR/o.csv" >"$SMIPC_DIR/only.out" 2>/dev/null
check "bench --only/--peers exits 0" test $? = 0
check "bench --only runs that workload through those peers alone" bash -c \
    "cut -d, -f1,5 '$SMIPC_DIR/o.csv' | sort -u | tr '\n' ' ' | grep -qx 'memcpy,memcpy stream,pipe stream,smipc workload,peer '"
check "bench says the packet geometry it used" grep -q 'packets of 16384 bytes, 16 per ring' "$SMIPC_DIR/only.out"
"$smipc" bench --only nonsense >/dev/null 2>&1
check "bench --only with an unknown workload is a usage error (2)" test $? = 2
"$smipc" bench --packet-size 10 >/dev/null 2>&1
check "bench --packet-size below 64 is a usage error (2)" test $? = 2

echo "$fails failed"
[ $fails = 0 ]
