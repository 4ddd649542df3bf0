"""Functions that run in other processes (spawned: they share nothing with the test).
Each checks what it receives and fails (non-zero exit) on any surprise."""
import os
import signal
import sys

import smipc


def payload(size: int, seed: int) -> bytes:
    """Bytes that depend on (size, seed) everywhere, so damage anywhere shows."""
    block = bytes((seed * 31 + i * 7) & 0xFF for i in range(251))
    return (block * (size // 251 + 1))[:size]


def echo_client(name: str, sizes: list) -> None:
    with smipc.Client(name, timeout=10) as cli:
        for i, size in enumerate(sizes):
            data = payload(size, i)
            cli.send(data, timeout=10)
            back = cli.recv(timeout=10)
            if back != data:
                sys.exit(f"echo {i} of {size} bytes came back as {len(back)} different bytes")


def broadcast_listener(name: str, count: int, ready) -> None:
    with smipc.Client(name, timeout=10) as cli:
        ready.set()
        for i in range(count):
            data = cli.recv(timeout=10)
            if data != payload(1000 * i + 1, i):
                sys.exit(f"broadcast {i} damaged")


def python_echo_server(name: str, ready, count: int) -> None:
    with smipc.Server(name) as srv:
        ready.set()
        for _ in range(count):
            msg = srv.recv(timeout=20)
            srv.send(msg.client, msg.data.upper(), timeout=10)


def idle_server(name: str, ready) -> None:
    srv = smipc.Server(name)
    ready.set()
    signal.pause()
    srv.close()


def connect_as(uid: int, name: str) -> None:
    os.setgid(uid)
    os.setuid(uid)
    try:
        smipc.Client(name, timeout=5)
    except smipc.PermissionDenied as e:
        assert isinstance(e, PermissionError)
        sys.exit(0)
    sys.exit("another uid was let in")


def connect_without_descriptors(name: str) -> None:
    import resource
    open_now = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_now, open_now))
    try:
        smipc.Client(name, timeout=5)
    except smipc.SystemCallError as e:
        import errno
        assert isinstance(e, OSError) and e.errno == errno.EMFILE, e
        sys.exit(0)
    sys.exit("connected without descriptors")


def _child_echo(name: str) -> None:
    echo_client(name, [10, 5000])


def start_own_children(name: str, n: int) -> None:
    """Starts n processes of its own, each an echo client of name (a daemonic process
    could not)."""
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=_child_echo, args=(name,)) for _ in range(n)]
    for c in children:
        c.start()
    for c in children:
        c.join(60)
    if [c.exitcode for c in children] != [0] * n:
        sys.exit(f"children exited {[c.exitcode for c in children]}")


def send_pending_at_exit(name: str, fills: int, done) -> None:
    """Fills its ring to the server, leaves an asyncio send of b"LATE" waiting for room
    (timeout None) when asyncio.run() ends, then sends b"AFTER" on the same connection:
    the server must get the fills, then b"AFTER", and never b"LATE"."""
    import asyncio
    import smipc.aio
    cli = smipc.Client(name, timeout=10)
    for _ in range(fills):
        cli.send(bytes(64), timeout=10)

    async def main() -> None:
        acli = smipc.aio.Client(cli)
        asyncio.create_task(acli.send(b"LATE", timeout=None))
        await asyncio.sleep(0)  # its first turn: no room, so it waits in a worker

    asyncio.run(main())  # cancels the send: must return, and the send must not happen
    done.set()
    cli.send(b"AFTER", timeout=30)
    cli.close()
