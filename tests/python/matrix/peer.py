"""One side of the interop matrix (tests/python/test_matrix.py), the same program in C,
Python, Java and Go:

    peer.py server NAME        echoes every message; "!barrier N SIZE" from N clients
                               makes it broadcast SIZE bytes to all of them
    peer.py client NAME SEED   echoes 0 B to 3 MiB through the server, waits at the
                               barrier, checks the broadcast, then blocks until the
                               server is gone

Each step prints one line (ready / connected ID / echo ok / broadcast ok / waiting /
closed); anything unexpected goes to stderr with exit status 1."""
import sys

import smipc

WAIT = 30.0
SIZES = [0, 1, 4095, 4096, 4097, 65536, 1 << 20, 3 << 20]
CLIENTS = 3
BROADCAST_SIZE = 10000


def payload(size: int, seed: int) -> bytes:
    """Byte i is (seed*31 + (i mod 251)*7) mod 256, in every language."""
    block = bytes((seed * 31 + i * 7) & 0xFF for i in range(251))
    return (block * (size // 251 + 1))[:size]


def serve(name: str) -> None:
    with smipc.Server(name) as srv:
        print("ready", flush=True)
        arrived = 0
        while True:
            msg = srv.recv()
            fields = msg.data.split()
            if len(fields) == 3 and fields[0] == b"!barrier":
                arrived += 1
                if arrived == int(fields[1]):
                    n = srv.broadcast(payload(int(fields[2]), 7), timeout=WAIT)
                    if n != arrived:
                        sys.exit(f"broadcast reached {n} of {arrived}")
                    arrived = 0
            else:
                srv.send(msg.client, msg.data, timeout=WAIT)


def client(name: str, seed: int) -> None:
    with smipc.Client(name, timeout=WAIT) as cli:
        print("connected", cli.id, flush=True)
        for i, size in enumerate(SIZES):
            data = payload(size, seed + i)
            cli.send(data, timeout=WAIT)
            if cli.recv(timeout=WAIT) != data:
                sys.exit(f"echo of {size} bytes came back different")
        print("echo ok", flush=True)
        cli.send(b"!barrier %d %d" % (CLIENTS, BROADCAST_SIZE), timeout=WAIT)
        if cli.recv(timeout=WAIT) != payload(BROADCAST_SIZE, 7):
            sys.exit("the broadcast came damaged")
        print("broadcast ok", flush=True)
        print("waiting", flush=True)
        try:
            cli.recv()
            sys.exit("a message after the broadcast")
        except smipc.Closed:
            print("closed", flush=True)


def main(argv: list) -> None:
    if len(argv) == 2 and argv[0] == "server":
        serve(argv[1])
    elif len(argv) == 3 and argv[0] == "client":
        client(argv[1], int(argv[2]))
    else:
        print("usage: peer.py server NAME | client NAME SEED", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except smipc.Error as e:
        sys.exit(f"peer.py: {e}")
