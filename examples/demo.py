"""The Python side of the demo: a Python server, Python clients in other processes and
a C client, exchanging messages on the library's defaults.

Usage: python3 examples/demo.py [C_ECHO_CLIENT]"""
import multiprocessing
import os
import subprocess
import sys
import time

import smipc


def client(name: str, seconds: float, results) -> None:
    with smipc.Client(name, timeout=5) as cli:
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            cli.send(b"%064d" % n)
            assert cli.recv(timeout=5) == b"%064d" % n
            n += 1
        results.put((cli.id, n))


def main() -> None:
    name = f"pydemo-{os.getpid()}"
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    with smipc.Server(name) as srv:
        print(f"smipc {smipc.__version__} from Python: server {name!r}, 3 Python client "
              f"processes for 1 s, then a C client")
        clients = [ctx.Process(target=client, args=(name, 1.0, results)) for _ in range(3)]
        for p in clients:
            p.start()
        done = 0
        while done < len(clients):
            try:
                msg = srv.recv(timeout=0.2)
                srv.send(msg.client, msg.data)
            except smipc.Timeout:
                done = sum(not p.is_alive() for p in clients)
        for p in clients:
            p.join()
        for _ in clients:
            cid, n = results.get(timeout=5)
            print(f"  Python client {cid}: {n} round trips of 64 B")
        if len(sys.argv) > 1:
            c_client = subprocess.Popen([sys.argv[1], name, "hello", "from", "C"],
                                        stdout=subprocess.PIPE, text=True)
            for _ in range(3):
                msg = srv.recv(timeout=5)
                srv.send(msg.client, msg.data.upper())
            out, _ = c_client.communicate(timeout=10)
            print("  the C client got back:", " ".join(out.split()))


if __name__ == "__main__":
    main()
