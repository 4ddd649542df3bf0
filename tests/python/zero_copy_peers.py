"""Processes for test_zero_copy (spawned: they share nothing with the test)."""
import os
import signal
import sys

import numpy as np

import smipc

SIZES = [0, 1, 4096, 4097, 100_000, 1 << 20]


def values(size: int, seed: int) -> np.ndarray:
    """size bytes that depend on (size, seed) everywhere."""
    return ((np.arange(size, dtype=np.uint32) * 7 + seed * 31) & 0xFF).astype(np.uint8)


def loaning_client(name: str) -> None:
    """Loans every size, writes it in place through numpy, and commits it."""
    with smipc.Client(name, timeout=10) as cli:
        for i, size in enumerate(SIZES):
            with cli.loan(size, timeout=10) as buf:
                if len(buf) != size or buf.readonly:
                    sys.exit(f"a loan of {size} bytes came as {len(buf)} bytes")
                np.frombuffer(buf, dtype=np.uint8)[:] = values(size, i)
        # a block that raises sends nothing; the next loan goes
        try:
            with cli.loan(10) as buf:
                buf[:] = b"x" * 10
                raise KeyError("changed my mind")
        except KeyError:
            pass
        with cli.loan(3) as buf:
            buf[:] = b"end"
        if cli.recv(timeout=10) != b"done":
            sys.exit("no goodbye")


def viewing_client(name: str) -> None:
    """Views what the server sends: a reply, a broadcast, and a message in pieces."""
    with smipc.Client(name, timeout=10) as cli:
        cli.send(b"ready")
        for i, (size, broadcast) in enumerate([(5, False), (1 << 20, True), (10_000, False)]):
            with cli.recv_view(timeout=10) as msg:
                arr = np.frombuffer(msg.data, dtype=np.uint8)
                if msg.broadcast != broadcast or not np.array_equal(arr, values(size, i)):
                    sys.exit(f"view {i} is wrong (broadcast {msg.broadcast})")
                if not arr.flags.writeable is False:
                    sys.exit("a view's array is writable")
                del arr


def loan_and_wait(name: str, ready) -> None:
    """Takes a loan, writes half of it, says so, and waits to be killed."""
    cli = smipc.Client(name, timeout=10)
    loan = cli.loan(1 << 20)
    buf = loan.__enter__()
    buf[: 1 << 19] = b"\x07" * (1 << 19)
    ready.set()
    signal.pause()
    os._exit(0)
