#!/bin/bash
# Smoke test of every `smipc` subcommand, with real assertions on what they print and
# how they exit, and of the example programs' command lines.
# Arguments: the smipc program, then echo_server, echo_client and demo.
set -u
smipc=$1
echo_server=$2
echo_client=$3
demo=$4
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
# Waits until process PID watches a directory (inotify): a connect that waits for its
# server does so before its first try, so a server started after that is one it waited for.
wait_watching() {
    for _ in $(seq 1000); do
        ls -l "/proc/$1/fd" 2>/dev/null | grep -q inotify && return 0
        sleep 0.01
    done
    return 1
}
# Runs a command with its standard output on a terminal (a pty); prints what it wrote,
# as a Python bytes literal.
on_tty() {
    python3 -c '
import os, subprocess, sys
m, s = os.openpty()
subprocess.run(sys.argv[1:], stdout=s, stderr=subprocess.DEVNULL)
os.close(s)
out = b""
while True:
    try:
        b = os.read(m, 4096)
    except OSError:  # EIO: the terminal is closed and drained
        break
    if not b:
        break
    out += b
print(repr(out))' "$@"
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
check "and names the socket it looked for and where the directory came from" grep -qF "$SMIPC_DIR/nobody (the runtime directory is \$SMIPC_DIR)" <<< "$out"
"$smipc" stat nobody >"$SMIPC_DIR/nf.out" 2>&1
check "stat to no server exits 4 and names the socket" bash -c "test $? = 4 && grep -qF '$SMIPC_DIR/nobody' '$SMIPC_DIR/nf.out'"
"$smipc" recv nobody >"$SMIPC_DIR/nf.out" 2>&1
check "recv to no server exits 4 and names the socket" bash -c "test $? = 4 && grep -qF '$SMIPC_DIR/nobody' '$SMIPC_DIR/nf.out'"
"$smipc" send nobody hi --wait --timeout 0.1 >"$SMIPC_DIR/nf.out" 2>&1
check "send --wait with no server coming up exits 3" bash -c "test $? = 3 && grep -q 'no server came up' '$SMIPC_DIR/nf.out'"

# the example programs: --help is help, an unknown option an error, neither a name
for prog in "$echo_server" "$echo_client" "$demo"; do
    base=$(basename "$prog")
    timeout 10 "$prog" --help >"$SMIPC_DIR/ex.out" 2>&1
    check "$base --help exits 0 with its usage" bash -c "test $? = 0 && grep -q '^usage: ' '$SMIPC_DIR/ex.out'"
    timeout 10 "$prog" -h >/dev/null 2>&1
    check "$base -h exits 0" test $? = 0
    timeout 10 "$prog" --bogus x >"$SMIPC_DIR/ex.out" 2>&1
    check "$base --bogus exits 2 and names the option" bash -c "test $? = 2 && grep -q 'no option \"--bogus\"' '$SMIPC_DIR/ex.out'"
done
check "and none served a name like --help" bash -c "! ls -A '$SMIPC_DIR' | grep -q -- '^-'"
timeout 10 "$echo_server" ex1 many >"$SMIPC_DIR/ex.out" 2>&1
check "echo_server with a COUNT that is no number exits 2" bash -c "test $? = 2 && grep -q 'bad COUNT \"many\"' '$SMIPC_DIR/ex.out'"
timeout 10 "$demo" --clients 0 >"$SMIPC_DIR/ex.out" 2>&1
check "demo --clients 0 exits 2 and gives the range" bash -c "test $? = 2 && grep -q 'bad --clients \"0\": expected 1 to 64' '$SMIPC_DIR/ex.out'"
"$echo_server" ex1 2 >/dev/null 2>&1 &
pids+=($!)
check "echo_server answers" wait_live ex1
check "echo_client gets its echoes, and takes data after --" test "$("$echo_client" ex1 one -- -two)" = "$(printf 'one\n-two')"

# --wait: a client started before its server waits for it to come up
"$smipc" send late hello --reply --wait --timeout 60 >"$SMIPC_DIR/late.out" 2>&1 &
sender=$!
pids+=($sender)
check "send --wait is waiting" wait_watching $sender
"$smipc" serve late --quiet >/dev/null 2>&1 &
pids+=($!)
wait $sender
check "send --wait got through to a server started after it" bash -c "test $? = 0 && test \"\$(cat '$SMIPC_DIR/late.out')\" = hello"
"$smipc" recv latehub --wait --count 1 >"$SMIPC_DIR/latehub.out" 2>/dev/null &
receiver=$!
pids+=($receiver)
check "recv --wait is waiting" wait_watching $receiver
"$smipc" serve latehub --broadcast --quiet >/dev/null 2>&1 &
pids+=($!)
check "recv --wait connected to a server started after it" wait_clients latehub 1
"$smipc" send latehub news
wait $receiver
check "and printed its broadcast" bash -c "test $? = 0 && test \"\$(cat '$SMIPC_DIR/latehub.out')\" = news"
"$smipc" stat latestat --wait --timeout 60 >"$SMIPC_DIR/latestat.out" 2>&1 &
statter=$!
pids+=($statter)
check "stat --wait is waiting" wait_watching $statter
"$smipc" serve latestat --quiet >/dev/null 2>&1 &
pids+=($!)
wait $statter
check "stat --wait got the counters of a server started after it" bash -c "test $? = 0 && grep -q '^server latestat: pid' '$SMIPC_DIR/latestat.out'"

# an echo server
"$smipc" serve echo1 --quiet >"$SMIPC_DIR/serve.out" 2>&1 &
echo1=$!
pids+=($echo1)
check "serve answers" wait_live echo1
check "send --reply gets the echo" test "$("$smipc" send echo1 hello --reply)" = hello
check "send - reads standard input" test "$(printf 'from stdin' | "$smipc" send echo1 - --reply)" = "from stdin"
head -c 300000 /dev/urandom >"$SMIPC_DIR/big"
"$smipc" send echo1 - --reply <"$SMIPC_DIR/big" | head -c 300000 >"$SMIPC_DIR/big.back"
check "a 300 KB message comes back intact" cmp -s "$SMIPC_DIR/big" "$SMIPC_DIR/big.back"
"$smipc" recv echo1 --timeout 0.2 >/dev/null 2>&1
check "recv with nothing to receive exits 3" test $? = 3

# replies are byte-exact when standard output is not a terminal, or with --raw
head -c 200000 /dev/urandom >"$SMIPC_DIR/bin"
"$smipc" send echo1 - --reply <"$SMIPC_DIR/bin" >"$SMIPC_DIR/bin.back"
check "a 200 KB binary reply into a file is byte-exact" cmp "$SMIPC_DIR/bin" "$SMIPC_DIR/bin.back"
"$smipc" send echo1 - --reply --raw <"$SMIPC_DIR/bin" >"$SMIPC_DIR/bin.raw"
check "send --reply --raw is byte-exact too" cmp "$SMIPC_DIR/bin" "$SMIPC_DIR/bin.raw"
check "on a terminal the reply ends the line" test "$(on_tty "$smipc" send echo1 hi --reply)" = "b'hi\r\n'"
check "on a terminal with --raw it is the bytes alone" test "$(on_tty "$smipc" send echo1 hi --reply --raw)" = "b'hi'"
check "send --help tells of --raw and --wait" bash -c "'$smipc' send --help | grep -q -- --raw && '$smipc' send --help | grep -q -- --wait"
check "recv --help tells of --raw and --wait" bash -c "'$smipc' recv --help | grep -q -- --raw && '$smipc' recv --help | grep -q -- --wait"
check "stat --help tells of --wait" bash -c "'$smipc' stat --help | grep -q -- --wait"
check "ls --help tells of --prune" bash -c "'$smipc' ls --help | grep -q -- --prune"
check "smipc --help tells of --wait, --raw and --prune" bash -c "'$smipc' --help | grep -q -- --wait && '$smipc' --help | grep -q -- --raw && '$smipc' --help | grep -q -- --prune"

# a bad value is a usage error (2) that names the option, the value and what would do
bad_value() { # what the message must hold, then the command line
    local want=$1
    shift
    timeout 10 "$@" >/dev/null 2>"$SMIPC_DIR/bad.err"
    local rc=$?
    if [ $rc = 2 ] && grep -qF -- "$want" "$SMIPC_DIR/bad.err"; then return 0; fi
    echo "  exit $rc, stderr: $(cat "$SMIPC_DIR/bad.err")"
    return 1
}
check "send --timeout abc" bad_value 'bad --timeout "abc": expected seconds (e.g. 0.5) or "none"' "$smipc" send echo1 hi --timeout abc
check "send --timeout with no value" bad_value '--timeout needs a value' "$smipc" send echo1 hi --timeout
check "recv --timeout abc" bad_value 'smipc recv: bad --timeout "abc"' "$smipc" recv echo1 --timeout abc
check "recv --count -3" bad_value 'smipc recv: bad --count "-3"' "$smipc" recv echo1 --count -3
check "recv with a misspelt option says which" bad_value 'no option "--cuont"' "$smipc" recv echo1 --cuont 1
check "serve --count x" bad_value 'smipc serve: bad --count "x"' "$smipc" serve x --count x
check "serve --packet-size 10 names packet_size and its range" bad_value 'bad --packet-size "10": packet_size is 64 .. 16M' "$smipc" serve x --packet-size 10
check "serve --ring-packets 1" bad_value 'ring_packets is 2 .. 65536' "$smipc" serve x --ring-packets 1
check "serve --max-clients 0" bad_value 'max_clients is 1 .. 1048576' "$smipc" serve x --max-clients 0
check "serve --max-message-size 2T" bad_value 'max_message_size is 0 .. 1T' "$smipc" serve x --max-message-size 2T
check "serve --packet-size 16M: the rings would pass 1 GiB" bad_value 'at most 1 GiB' "$smipc" serve x --packet-size 16M
check "serve --max-message-size over 2^32 packets" bad_value '2^32' "$smipc" serve x --packet-size 64 --max-message-size 1T
check "serve with a misspelt option says which" bad_value 'no option "--quite"' "$smipc" serve x --quite
check "stat with a misspelt option says which" bad_value 'no option "--jsno"' "$smipc" stat echo1 --jsno
check "ls with a misspelt option says which" bad_value 'no option "--purne"' "$smipc" ls --purne
check "bench --seconds abc" bad_value 'bad --seconds "abc"' "$smipc" bench --seconds abc
check "bench --repeats 0" bad_value 'bad --repeats "0"' "$smipc" bench --repeats 0
check "bench --clients x" bad_value 'bad --clients "x"' "$smipc" bench --clients x
check "bench --sizes 0" bad_value 'bad --sizes "0"' "$smipc" bench --sizes 0
check "bench --only nonsense lists the workloads" bad_value 'bad --only "nonsense": expected a comma-separated list of rtt, sleep, stream, m2o' "$smipc" bench --only nonsense
check "bench --peers nope" bad_value 'bad --peers "nope"' "$smipc" bench --peers nope
check "bench --packet-size 10" bad_value 'packet_size is 64 .. 16M' "$smipc" bench --packet-size 10
check "bench --ring-packets 1" bad_value 'ring_packets is 2 .. 65536' "$smipc" bench --ring-packets 1
# a bad server name says which rule it broke
check "serve 'a b' names the characters allowed" bad_value "letters, digits, '.', '_' and '-'" "$smipc" serve 'a b'
check "serve with a 101-character name gives the lengths" bad_value '1 to 100 characters' "$smipc" serve "$(printf 'n%.0s' $(seq 101))"
check "send to a bad name is a usage error too" bad_value "with '/' it is a socket path" "$smipc" send 'x y' hi
check "a path that ends in / is not a socket" bad_value 'ends in /' "$smipc" stat /tmp/

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
"$smipc" recv hub --count 2 >"$SMIPC_DIR/recv2.out" 2>/dev/null &
listener=$!
pids+=($listener)
check "a listener for two messages is connected" wait_clients hub 1
"$smipc" send hub one && "$smipc" send hub two
wait $listener
check "recv writes each message on a line of its own" test "$(cat "$SMIPC_DIR/recv2.out")" = "$(printf 'one\ntwo')"
"$smipc" recv hub --count 1 --raw >"$SMIPC_DIR/bin.recv" 2>/dev/null &
listener=$!
pids+=($listener)
check "a raw listener is connected" wait_clients hub 1
"$smipc" send hub - <"$SMIPC_DIR/bin"
wait $listener
check "recv --raw writes the 200 KB broadcast byte-exact" cmp "$SMIPC_DIR/bin" "$SMIPC_DIR/bin.recv"

# a server that dies leaves a stale name, which ls says
"$smipc" serve doomed --quiet >/dev/null 2>&1 &
doomed=$!
pids+=($doomed)
check "the doomed server answers" wait_live doomed
kill -9 $doomed
wait $doomed 2>/dev/null
check "ls says stale" bash -c "'$smipc' ls | grep -Eq '^doomed +stale'"
check "ls says how to remove stale sockets" bash -c "'$smipc' ls | grep -q 'smipc ls --prune removes'"
check "the stale socket is still there" test -S "$SMIPC_DIR/doomed"
"$smipc" ls --prune >"$SMIPC_DIR/prune.out" 2>&1
check "ls --prune exits 0" test $? = 0
check "ls --prune says what it removed" grep -qF "removed stale doomed" "$SMIPC_DIR/prune.out"
check "the stale socket is gone" test ! -e "$SMIPC_DIR/doomed"
check "the live servers stay, and answer" bash -c "'$smipc' stat echo1 >/dev/null && '$smipc' stat hub >/dev/null && test -S '$SMIPC_DIR/echo1'"
check "ls --prune removed nothing live" bash -c "! grep -q 'removed stale echo1\|removed stale hub' '$SMIPC_DIR/prune.out'"
check "ls no longer lists it" bash -c "! '$smipc' ls | grep -q '^doomed '"
# with --json, what --prune removed goes to stderr and stdout stays JSON
"$smipc" serve doomed2 --quiet >/dev/null 2>&1 &
doomed=$!
pids+=($doomed)
check "a second doomed server answers" wait_live doomed2
kill -9 $doomed
wait $doomed 2>/dev/null
"$smipc" ls --prune --json >"$SMIPC_DIR/prune.json" 2>"$SMIPC_DIR/prune.err"
check "ls --prune --json says what it removed on stderr" grep -qF "removed stale doomed2" "$SMIPC_DIR/prune.err"
check "and lists the live ones, not it, as JSON" python3 -c "
import json; d = json.load(open('$SMIPC_DIR/prune.json')); names = {s['name']: s['state'] for s in d}
assert 'doomed2' not in names and names.get('echo1') == 'live' and names.get('hub') == 'live', d"

# SIGTERM stops serve cleanly, with a summary
kill -TERM $echo1
wait $echo1
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
