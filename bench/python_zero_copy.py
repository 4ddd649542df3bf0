"""Moving numpy arrays between two Python processes: smipc's zero-copy calls against the
other ways Python offers, in one run, alternating.

  smipc loan/view     the producer copies the array into a loan (cli.loan) and commits;
                      the consumer maps it with numpy.frombuffer on a view (srv.recv_view);
                      CRC32C checksums on, as the library's default (each side reads the
                      whole array once more to compute or check it)
  ... no checksum     the same on a server opened with checksum=False
  smipc send/recv     the same through plain cli.send / srv.recv (copies each way)
  shared_memory       a pool of multiprocessing.shared_memory blocks made once: the
                      producer copies the array into a free block and puts its name on a
                      queue; the consumer maps it (each name attached once) and puts the
                      name back on a queue of free blocks
  Pipe + pickle       multiprocessing.Pipe().send(array) (pickled whole) and recv()

The consumer of every peer gets a numpy array of the producer's values and reads one
element of every page (so every byte really crossed). Each figure is the median of
--repeats runs of --seconds.

    python3 bench/python_zero_copy.py [--size BYTES] [--seconds S] [--repeats N] [--json FILE]
"""
import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid

import numpy as np

CTX = mp.get_context("spawn")
POOL = 4  # arrays in flight: the bulk slots, the shared-memory blocks
PAGE = 4096


def touch(arr):
    """Reads one byte of every page of the array (and checks the first and last)."""
    flat = arr.view(np.uint8).reshape(-1)
    return int(flat[::PAGE].sum()) + int(flat[-1])


def produce(send, size, seconds):
    """Sends arrays of `size` bytes for `seconds`, then an empty one (the end)."""
    src = np.arange(size // 8, dtype=np.float64)
    end = time.perf_counter() + seconds
    n = 0
    while n % 8 or time.perf_counter() < end:
        send(src)
        n += 1
    send(None)
    return n


def consume(recv, out):
    n, first = 0, None
    while True:
        got = recv()
        if first is None:
            first = time.perf_counter()
        if got is None:
            out.put((n, time.perf_counter() - first))
            return
        n += 1


# ---- smipc ----

def smipc_consumer(name, size, zero_copy, checksum, ready, out):
    import smipc
    with smipc.Server(name, bulk_size=size, bulk_slots=POOL, checksum=checksum,
                      max_message_size=max(size, 64 << 20)) as srv:
        ready.set()

        def recv():
            if zero_copy:
                with srv.recv_view() as msg:
                    if len(msg.data) == 0:
                        return None
                    return touch(np.frombuffer(msg.data, dtype=np.float64))
            data = srv.recv().data
            if not data:
                return None
            return touch(np.frombuffer(data, dtype=np.float64))
        consume(recv, out)


def smipc_producer(name, size, seconds, zero_copy, ready):
    import smipc
    ready.wait()
    with smipc.Client(name, timeout=10) as cli:
        def send(arr):
            if arr is None:
                cli.send(b"")
            elif zero_copy:
                with cli.loan(arr.nbytes) as buf:
                    np.frombuffer(buf, dtype=arr.dtype)[:] = arr
            else:
                cli.send(arr)
        produce(send, size, seconds)


# ---- multiprocessing.shared_memory with queues of names ----

def shm_consumer(names, full, free, ready, out):
    from multiprocessing import shared_memory
    blocks = {}
    ready.set()

    def recv():
        item = full.get()
        if item is None:
            return None
        name, nbytes = item
        if name not in blocks:
            blocks[name] = shared_memory.SharedMemory(name=name)
        arr = np.ndarray((nbytes // 8,), dtype=np.float64, buffer=blocks[name].buf)
        r = touch(arr)
        del arr
        free.put(name)
        return r
    consume(recv, out)
    for b in blocks.values():
        b.close()


def shm_producer(names, full, free, size, seconds, ready):
    from multiprocessing import shared_memory
    ready.wait()
    blocks = {n: shared_memory.SharedMemory(name=n) for n in names}

    def send(arr):
        if arr is None:
            full.put(None)
            return
        name = free.get()
        np.ndarray(arr.shape, dtype=arr.dtype, buffer=blocks[name].buf)[:] = arr
        full.put((name, arr.nbytes))
    produce(send, size, seconds)
    for b in blocks.values():
        b.close()


# ---- Pipe + pickle ----

def pipe_consumer(conn, ready, out):
    ready.set()

    def recv():
        arr = conn.recv()
        return None if arr is None else touch(arr)
    consume(recv, out)


def pipe_producer(conn, size, seconds, ready):
    ready.wait()
    produce(conn.send, size, seconds)


PEERS = ["smipc loan/view", "... no checksum", "smipc send/recv", "shared_memory",
         "Pipe + pickle"]


def run_once(peer, size, seconds):
    out, ready = CTX.Queue(), CTX.Event()
    cleanup = []
    if peer.startswith("smipc") or peer == "... no checksum":
        name = f"pyzc-{uuid.uuid4().hex[:8]}"
        zc = peer != "smipc send/recv"
        consumer = (smipc_consumer, (name, size, zc, peer != "... no checksum", ready, out))
        producer = (smipc_producer, (name, size, seconds, zc, ready))
    elif peer == "shared_memory":
        from multiprocessing import shared_memory
        blocks = [shared_memory.SharedMemory(create=True, size=size) for _ in range(POOL)]
        cleanup = blocks
        names = [b.name for b in blocks]
        full, free = CTX.Queue(), CTX.Queue()
        for n in names:
            free.put(n)
        consumer = (shm_consumer, (names, full, free, ready, out))
        producer = (shm_producer, (names, full, free, size, seconds, ready))
    else:
        a, b = CTX.Pipe()
        consumer = (pipe_consumer, (a, ready, out))
        producer = (pipe_producer, (b, size, seconds, ready))
    procs = [CTX.Process(target=f, args=args, daemon=True) for f, args in (consumer, producer)]
    for p in procs:
        p.start()
    try:
        n, secs = out.get(timeout=seconds * 4 + 60)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
        for b in cleanup:
            b.close()
            b.unlink()
    if any(p.exitcode not in (0, None) for p in procs):
        raise RuntimeError(f"a process exited with {[p.exitcode for p in procs]}")
    return n, secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=8 << 20, help="bytes per array (8 MiB)")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="0.1 s per run, 1 repeat")
    ap.add_argument("--json", help="write every figure here")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.repeats = 0.1, 1
    rates = {p: [] for p in PEERS}
    print(f"smipc Python zero-copy bench: {os.cpu_count()} CPUs, numpy arrays of {a.size} "
          f"bytes, {a.seconds} s per run, median of {a.repeats} alternating repeats",
          flush=True)
    for rep in range(a.repeats):
        for peer in PEERS:
            print(f"repeat {rep + 1}: {peer}", file=sys.stderr, flush=True)
            n, secs = run_once(peer, a.size, a.seconds)
            rates[peer].append(n / secs)
    print(f"\n{'':20}{'arrays/s':>12}{'GB/s':>10}{'vs smipc loan/view':>22}")
    best = statistics.median(rates["smipc loan/view"])
    rows = []
    for peer in PEERS:
        r = statistics.median(rates[peer])
        print(f"{peer:20}{r:12.1f}{r * a.size / 1e9:10.2f}{best / r:21.2f}x")
        rows.append({"peer": peer, "size": a.size, "arrays_per_s": r,
                     "gb_per_s": r * a.size / 1e9, "runs": rates[peer]})
    print("\n(the last column: how many times faster smipc's loan/view is)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
