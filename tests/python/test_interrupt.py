"""Ctrl-C: a signal stops every blocking call of the synchronous API at once, whatever its
timeout, with what the handler raises (KeyboardInterrupt), and a handler that returns
does not break the call: a send still goes once, a broadcast says it was interrupted.

Each call blocks in a child process of its own (a real signal, a real process); the test
waits until the child's main thread sleeps inside the call, then signals it. The bound
on how long the child takes to stop is generous (the calls would block for a minute or
for ever); the latency is printed."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import smipc

SMALL = dict(packet_size=64, ring_packets=2, bulk_size=0, bulk_slots=0)  # 128 bytes of ring
BOUND = 5.0  # seconds a signalled call may take to stop (it is ~0.05 s)

PRELUDE = textwrap.dedent("""
    import os, signal, sys
    import smipc
    NAME = sys.argv[1]
    SMALL = dict(packet_size=64, ring_packets=2, bulk_size=0, bulk_slots=0)
    def ready():
        print("ready", flush=True)
    def fill(send):
        # until the peer's ring has no room for another 64 bytes
        while True:
            try:
                send(bytes(64), 0)
            except smipc.Timeout:
                return
""")
RUN = textwrap.dedent("""
    try:
        ready_and_block()
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        sys.exit(0)
    print("returned", flush=True)
    sys.exit(3)
""")


def child(name, *parts):
    """Starts a Python process running the parts of code (which define ready_and_block),
    with NAME the server name."""
    source = "\n".join([PRELUDE] + [textwrap.dedent(p) for p in parts] + [RUN])
    return subprocess.Popen([sys.executable, "-c", source, name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until_blocked(proc):
    """Until the child said it is about to block and its main thread sleeps (in the C
    call: it has no other reason to)."""
    line = proc.stdout.readline()
    if line != "ready\n":
        proc.kill()
        pytest.fail(f"the child did not get ready: {line!r} {proc.communicate()[1]}")
    deadline = time.monotonic() + 30
    while True:
        with open(f"/proc/{proc.pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state == "S":
            return
        assert time.monotonic() < deadline, f"the child never blocked (state {state})"
        time.sleep(0.001)


def signal_and_wait(proc, signum=signal.SIGINT):
    """Signals the child; (stdout after 'ready', stderr, seconds it took to exit)."""
    t0 = time.monotonic()
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the child was still blocked 30 s after the signal: {out!r} {err}")
    return out, err, time.monotonic() - t0


def assert_interrupted(proc, what):
    wait_until_blocked(proc)
    out, err, took = signal_and_wait(proc)
    print(f"{what}: KeyboardInterrupt {took * 1000:.1f} ms after SIGINT")
    assert out == "KeyboardInterrupt\n" and proc.returncode == 0, (out, err)
    assert took < BOUND, f"{what} took {took:.2f} s to stop after SIGINT"


SERVER_RECEIVES = {
    "recv for ever": "srv.recv()",
    "recv with a long timeout": "srv.recv(timeout=60)",
    "recv_into": "srv.recv_into(bytearray(100), timeout=None)",
    "recv_event": "srv.recv_event(timeout=600)",
}


@pytest.mark.parametrize("call", list(SERVER_RECEIVES))
def test_a_blocked_server_receive(smipc_name, call):
    proc = child(smipc_name, f"""
        def ready_and_block():
            srv = smipc.Server(NAME, events=True)
            ready()
            {SERVER_RECEIVES[call]}
    """)
    assert_interrupted(proc, call)


CLIENT_CALLS = {
    "recv for ever": "cli.recv()",
    "recv with a long timeout": "cli.recv(timeout=60)",
    "recv_into": "cli.recv_into(bytearray(100))",
    "recv_msg": "cli.recv_msg(timeout=120)",
    "send into a full ring (fits)": "fill(cli.send); ready(); cli.send(bytes(100))",
    "send larger than the ring (streams)": "ready(); cli.send(bytes(100_000), timeout=60)",
}


@pytest.mark.parametrize("call", list(CLIENT_CALLS))
def test_a_blocked_client_call(smipc_name, call):
    with smipc.Server(smipc_name, **SMALL):  # never reads
        code = CLIENT_CALLS[call]
        proc = child(smipc_name, f"""
            def ready_and_block():
                cli = smipc.Client(NAME, timeout=10)
                {code if "ready()" in code else "ready(); " + code}
        """)
        assert_interrupted(proc, call)


SERVER_SENDS = {
    "send into a full ring (fits)":
        "fill(lambda d, t: srv.send(cid, d, t)); ready(); srv.send(cid, bytes(100))",
    "send larger than the ring (streams)": "ready(); srv.send(cid, bytes(100_000))",
    "broadcast to a full client": "fill(lambda d, t: srv.send(cid, d, t)); ready(); "
                                  "srv.broadcast(bytes(64))",
    "broadcast larger than the ring": "ready(); srv.broadcast(bytes(100_000), timeout=60)",
}


def serving_child(name, code, *more):
    """A child whose server takes a first message from the test's client (cid is that
    client's id), then runs code (one line)."""
    return child(name, *more, f"""
        def ready_and_block():
            srv = smipc.Server(NAME, **SMALL)
            cid = srv.recv(timeout=30).client
            {code}
    """)


@pytest.mark.parametrize("call", list(SERVER_SENDS))
def test_a_blocked_server_send(smipc_name, call):
    proc = serving_child(smipc_name, SERVER_SENDS[call])
    with smipc.Client(smipc_name, timeout=30, wait=True) as cli:  # never reads
        cli.send(b"hello", timeout=10)
        assert_interrupted(proc, call)


def test_a_client_waiting_for_a_server_nobody_starts(smipc_name):
    proc = child(smipc_name, """
        def ready_and_block():
            ready()
            smipc.Client(NAME, timeout=None, wait=True)
    """)
    assert_interrupted(proc, "Client(wait=True)")


# A handler that returns (SIGUSR1's here) lets the call go on.
COUNTING = """
    handled = []
    signal.signal(signal.SIGUSR1, lambda signum, frame: handled.append(signum))
"""


@pytest.mark.parametrize("size", [100, 100_000], ids=["fits", "streams"])
def test_a_send_goes_once_when_the_handler_returns(smipc_name, size):
    with smipc.Server(smipc_name, **SMALL) as srv:
        proc = child(smipc_name, COUNTING, f"""
            def ready_and_block():
                cli = smipc.Client(NAME, timeout=10)
                fill(cli.send)
                ready()
                cli.send(bytes(range(256)) * ({size} // 256) + bytes({size} % 256))
                print("sent", handled, flush=True)
                sys.exit(0)
        """)
        wait_until_blocked(proc)
        proc.send_signal(signal.SIGUSR1)
        # the child's send is still waiting for room: take the fill, then the message
        fills = 0
        while True:
            msg = srv.recv(timeout=30)
            if len(msg.data) != 64:
                break
            fills += 1
        assert msg.data == bytes(range(256)) * (size // 256) + bytes(size % 256)
        out, err = proc.communicate(timeout=30)
        assert out == f"sent [{int(signal.SIGUSR1)}]\n" and proc.returncode == 0, (out, err)
        with pytest.raises(smipc.Timeout):
            srv.recv(timeout=0.1)  # once, never again


def test_a_broadcast_says_a_signal_interrupted_it(smipc_name):
    # The first broadcast starts the watcher thread (the main thread waits for it: that
    # wait must not pass for the blocked call), the second blocks.
    proc = serving_child(smipc_name, "srv.broadcast(b'warm'); fill(lambda d, t: srv.send("
                                     "cid, d, t)); ready(); report(lambda: srv.broadcast("
                                     "bytes(64)))", COUNTING, """
        def report(broadcast):
            try:
                broadcast()
            except smipc.Timeout as e:
                print("Timeout", e.delivered, e, handled, flush=True)
                sys.exit(0)
    """)
    with smipc.Client(smipc_name, timeout=30, wait=True) as cli:
        cli.send(b"hello", timeout=10)
        wait_until_blocked(proc)
        out, err, took = signal_and_wait(proc, signal.SIGUSR1)
        print(f"broadcast: Timeout {took * 1000:.1f} ms after SIGUSR1")
        assert out.startswith("Timeout 0 broadcast interrupted by a signal"), (out, err)
        assert out.endswith(f"[{int(signal.SIGUSR1)}]\n") and proc.returncode == 0
        assert took < BOUND
