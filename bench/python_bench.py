"""The same workloads as `smipc bench`, from Python: smipc against multiprocessing.Pipe,
multiprocessing.Queue, socket.socketpair, pyzmq (ipc://) and iceoryx2, in one run.
Streaming also goes through smipc's zero-copy calls ("smipc loan": the sender writes each
message into a loan, the receiver reads it from a view).

Each figure is the median of --repeats runs, the peers alternating. A peer whose package
is missing or fails to start is skipped with the reason.

    python3 bench/python_bench.py [--quick] [--seconds S] [--repeats N] [--json FILE]
"""
import argparse
import ctypes
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import time
import traceback
import uuid

RTT = 64
BYE = b"\xff"
CTX = mp.get_context("spawn")


def percentiles(lat):
    lat.sort()
    n = len(lat)
    return {"p50": lat[n // 2] * 1e6, "p99": lat[int(n * 0.99)] * 1e6,
            "p99.9": lat[int(n * 0.999)] * 1e6}


START = STOP = None  # Barriers for the clients of one run, set in each process


def rtt_client(rt, seconds, out, index, close=None):
    """Round trips through rt(msg) for `seconds`; puts (index, count, latencies, max).
    All clients of a run start together (spawning 16 processes takes a while), and all
    stop before any closes, sums up or exits: that work would take the CPU from the last
    round trips of the others and show as stalls that are not the transport's."""
    msg = bytes(RTT)
    rt(msg)  # connected and warm
    if START is not None:
        START.wait()
    lat = []
    end = time.perf_counter() + seconds
    t = time.perf_counter()
    while t < end:
        t0 = t
        rt(msg)
        t = time.perf_counter()
        lat.append(t - t0)
    if STOP is not None:
        STOP.wait()
    if close:
        close()
    out.put((index, len(lat), percentiles(lat) if index == 0 else None, max(lat), seconds))


def stream_sender(send, size, seconds):
    msg = bytes(size)
    end = time.perf_counter() + seconds
    n = 0
    while True:
        if n % 16 == 0 and time.perf_counter() >= end:
            break
        send(msg)
        n += 1
    send(BYE + bytes(size - 1))


def stream_receiver(recv, out):
    n, first = 0, None
    while True:
        m = recv()
        if first is None:
            first = time.perf_counter()
        if m[:1] == BYE:
            out.put(("stream", n, time.perf_counter() - first))
            return
        n += 1


# ---- smipc ----

def smipc_server(name, workload, clients, size, ready, out):
    import smipc
    with smipc.Server(name, max_clients=max(clients, 1),
                      max_message_size=max(size, 64 << 20)) as srv:
        ready.set()
        if workload == "stream":
            stream_receiver(lambda: srv.recv().data, out)
            return
        byes = 0
        while byes < clients:
            m = srv.recv()
            if m.data[:1] == BYE:
                byes += 1
            else:
                srv.send(m.client, m.data)


def smipc_client(name, workload, size, seconds, index, ready, out):
    import smipc
    ready.wait()
    with smipc.Client(name, timeout=10) as cli:
        if workload == "stream":
            stream_sender(cli.send, size, seconds)
        else:
            def rt(msg):
                cli.send(msg)
                cli.recv()
            rtt_client(rt, seconds, out, index, lambda: cli.send(BYE))


# ---- smipc's zero-copy calls ----

def loan_server(name, workload, clients, size, ready, out):
    import smipc
    with smipc.Server(name, max_message_size=max(size, 64 << 20)) as srv:
        ready.set()

        def recv():
            with srv.recv_view() as msg:
                return bytes(msg.data[:1])  # the end marker or not; the rest is read in place
        stream_receiver(recv, out)


def loan_client(name, workload, size, seconds, index, ready, out):
    import smipc
    ready.wait()
    with smipc.Client(name, timeout=10) as cli:
        def send(msg):
            with cli.loan(len(msg)) as buf:
                buf[:] = msg
        stream_sender(send, size, seconds)


# ---- multiprocessing.Pipe ----

def pipe_server(conns, workload, clients, size, ready, out):
    from multiprocessing.connection import wait
    ready.set()
    if workload == "stream":
        stream_receiver(conns[0].recv_bytes, out)
        return
    live = list(conns)
    while live:
        for c in wait(live):
            m = c.recv_bytes()
            if m[:1] == BYE:
                live.remove(c)
            else:
                c.send_bytes(m)


def pipe_client(conn, workload, size, seconds, index, ready, out):
    ready.wait()
    if workload == "stream":
        stream_sender(conn.send_bytes, size, seconds)
    else:
        def rt(msg):
            conn.send_bytes(msg)
            conn.recv_bytes()
        rtt_client(rt, seconds, out, index, lambda: conn.send_bytes(BYE))


# ---- multiprocessing.Queue ----

def queue_server(requests, replies, workload, clients, size, ready, out):
    ready.set()
    if workload == "stream":
        stream_receiver(lambda: requests.get()[1], out)
        return
    byes = 0
    while byes < clients:
        i, m = requests.get()
        if m[:1] == BYE:
            byes += 1
        else:
            replies[i].put(m)


def queue_client(requests, reply, workload, size, seconds, index, ready, out):
    ready.wait()
    if workload == "stream":
        stream_sender(lambda m: requests.put((index, m)), size, seconds)
    else:
        def rt(msg):
            requests.put((index, msg))
            reply.get()
        rtt_client(rt, seconds, out, index, lambda: requests.put((index, BYE)))


# ---- socket.socketpair (fixed sizes: no framing needed) ----

def recv_exactly(sock, n, buf):
    view = memoryview(buf)[:n]
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if not k:
            raise EOFError
        got += k
    return bytes(view)


def sock_server(socks, workload, clients, size, ready, out):
    import selectors
    ready.set()
    buf = bytearray(max(size, RTT))
    if workload == "stream":
        stream_receiver(lambda: recv_exactly(socks[0], size, buf), out)
        return
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    left = len(socks)
    while left:
        for key, _ in sel.select():
            m = recv_exactly(key.fileobj, RTT, buf)
            if m[:1] == BYE:
                sel.unregister(key.fileobj)
                left -= 1
            else:
                key.fileobj.sendall(m)


def sock_client(sock, workload, size, seconds, index, ready, out):
    ready.wait()
    if workload == "stream":
        stream_sender(sock.sendall, size, seconds)
    else:
        buf = bytearray(RTT)

        def rt(msg):
            sock.sendall(msg)
            recv_exactly(sock, RTT, buf)
        rtt_client(rt, seconds, out, index, lambda: sock.sendall(BYE + bytes(RTT - 1)))


# ---- pyzmq over ipc:// ----

def zmq_server(endpoint, workload, clients, size, ready, out):
    import zmq
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER if workload == "m2o" else zmq.PAIR)
    s.bind(endpoint)
    ready.set()
    if workload == "stream":
        stream_receiver(s.recv, out)
    else:
        byes = 0
        while byes < clients:
            if workload == "m2o":
                ident, m = s.recv_multipart()
            else:
                m = s.recv()
            if m[:1] == BYE:
                byes += 1
            elif workload == "m2o":
                s.send_multipart([ident, m])
            else:
                s.send(m)
    s.close(linger=0)
    ctx.term()


def zmq_client(endpoint, workload, size, seconds, index, ready, out):
    import zmq
    ready.wait()
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER if workload == "m2o" else zmq.PAIR)
    s.connect(endpoint)
    if workload == "stream":
        stream_sender(s.send, size, seconds)
    else:
        def rt(msg):
            s.send(msg)
            s.recv()
        rtt_client(rt, seconds, out, index, lambda: s.send(BYE))
    s.close(linger=5000)
    ctx.term()


# ---- iceoryx2: publish-subscribe both ways, receivers polling ----

class Payload(ctypes.Structure):
    _fields_ = [("data", ctypes.c_uint8 * RTT)]


def iox_ports(name, sub_topic, pub_topic):
    import iceoryx2 as iox2
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    services = [node.service_builder(iox2.ServiceName.new(f"{name}/{t}"))
                .publish_subscribe(Payload).open_or_create() for t in (sub_topic, pub_topic)]
    return (node, services[0].subscriber_builder().create(),
            services[1].publisher_builder().create())


def iox_send(pub, first):
    sample = pub.loan_uninit()
    p = Payload()
    p.data[0] = first
    sample.write_payload(p).send()


def iox_recv(sub):
    while True:
        s = sub.receive()
        if s is not None:
            return s.payload().contents.data[0]


def iox_server(name, workload, clients, size, ready, out):
    node, sub, pub = iox_ports(name, "ping", "pong")
    ready.set()
    while iox_recv(sub) != 0xFF:
        iox_send(pub, 0)


def iox_client(name, workload, size, seconds, index, ready, out):
    ready.wait()
    node, sub, pub = iox_ports(name, "pong", "ping")
    time.sleep(0.05)  # not synchronisation of the measurement: lets the ports discover each other

    def rt(msg):
        iox_send(pub, 0)
        iox_recv(sub)
    rtt_client(rt, seconds, out, index, lambda: iox_send(pub, 0xFF))


# ---- running ----

def available(peer):
    try:
        if peer == "pyzmq":
            import zmq  # noqa: F401
        elif peer == "iceoryx2":
            import iceoryx2  # noqa: F401
        elif peer in ("smipc", "smipc loan"):
            import smipc  # noqa: F401
    except Exception as e:  # any import failure: skip, and say why
        return f"{type(e).__name__}: {e}"
    return None


def supports(peer, workload):
    if peer == "smipc loan":
        return workload == "stream"
    return peer != "iceoryx2" or workload == "rtt"


def run_once(peer, workload, size, clients, seconds):
    out = CTX.Queue()
    ready = CTX.Event()
    tag = uuid.uuid4().hex[:8]
    args_server, args_clients = None, []
    if peer == "smipc":
        name = f"pybench-{tag}"
        server = (smipc_server, (name, workload, clients, size, ready, out))
        args_clients = [(smipc_client, (name, workload, size, seconds, i, ready, out))
                        for i in range(clients)]
    elif peer == "smipc loan":
        name = f"pybench-{tag}"
        server = (loan_server, (name, workload, clients, size, ready, out))
        args_clients = [(loan_client, (name, workload, size, seconds, 0, ready, out))]
    elif peer == "mp.Pipe":
        pairs = [CTX.Pipe() for _ in range(clients)]
        server = (pipe_server, ([a for a, _ in pairs], workload, clients, size, ready, out))
        args_clients = [(pipe_client, (b, workload, size, seconds, i, ready, out))
                        for i, (_, b) in enumerate(pairs)]
    elif peer == "mp.Queue":
        # bounded, as a sensible user would: an unbounded queue of 1 MiB items eats memory
        requests, replies = CTX.Queue(maxsize=64), [CTX.Queue() for _ in range(clients)]
        server = (queue_server, (requests, replies, workload, clients, size, ready, out))
        args_clients = [(queue_client, (requests, replies[i], workload, size, seconds, i, ready,
                                        out)) for i in range(clients)]
    elif peer == "socketpair":
        pairs = [socket.socketpair() for _ in range(clients)]
        server = (sock_server, ([a for a, _ in pairs], workload, clients, size, ready, out))
        args_clients = [(sock_client, (b, workload, size, seconds, i, ready, out))
                        for i, (_, b) in enumerate(pairs)]
    elif peer == "pyzmq":
        endpoint = f"ipc:///tmp/smipc-pybench-{tag}"
        server = (zmq_server, (endpoint, workload, clients, size, ready, out))
        args_clients = [(zmq_client, (endpoint, workload, size, seconds, i, ready, out))
                        for i in range(clients)]
    else:
        name = f"smipc-pybench-{tag}"
        server = (iox_server, (name, workload, clients, size, ready, out))
        args_clients = [(iox_client, (name, workload, size, seconds, 0, ready, out))]
    start, stop = CTX.Barrier(len(args_clients)), CTX.Barrier(len(args_clients))
    procs = [CTX.Process(target=f, args=a, daemon=True) for f, a in [server]] + [
        CTX.Process(target=with_barriers, args=(start, stop, f, a), daemon=True)
        for f, a in args_clients]
    for p in procs:
        p.start()
    results = []
    try:
        expect = 1 if workload == "stream" else clients
        for _ in range(expect):
            results.append(out.get(timeout=seconds * 4 + 30))
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    if any(p.exitcode not in (0, None) for p in procs):
        raise RuntimeError(f"a process exited with {[p.exitcode for p in procs]}")
    return results


def with_barriers(start, stop, fn, args):
    global START, STOP
    START, STOP = start, stop
    fn(*args)


PEERS = ["smipc", "smipc loan", "mp.Pipe", "mp.Queue", "socketpair", "pyzmq", "iceoryx2"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="0.05 s per run, 1 repeat")
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="write every figure here")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.repeats = 0.05, 1
    configs = [("rtt", 64, 1)] + [("stream", s, 1) for s in (64, 4096, 65536, 1 << 20)] + \
              [("m2o", 64, c) for c in (1, 4, 16)]
    usable = []
    for p in PEERS:
        why = available(p)
        if why:
            print(f"{p}: skipped: {why}")
        else:
            usable.append(p)
    figures = {}

    def add(workload, param, metric, peer, value):
        figures.setdefault((workload, param, metric), {}).setdefault(peer, []).append(value)

    total = sum(a.repeats for c in configs for p in usable if supports(p, c[0]))
    print(f"smipc Python bench: {os.cpu_count()} CPUs, {a.seconds} s per run, median of "
          f"{a.repeats} alternating repeats, {total} runs", flush=True)
    done = 0
    for rep in range(a.repeats):
        for workload, size, clients in configs:
            for peer in usable:
                if not supports(peer, workload):
                    continue
                done += 1
                print(f"[{done:3}/{total}] repeat {rep + 1}: {workload} "
                      f"{clients if workload == 'm2o' else size} through {peer}",
                      file=sys.stderr, flush=True)
                try:
                    res = run_once(peer, workload, size, clients, a.seconds)
                except Exception as e:
                    print(f"{peer} {workload}: failed: {e}", file=sys.stderr)
                    if peer == "iceoryx2":
                        usable.remove(peer)
                        print(f"iceoryx2: skipped from now on: {e}")
                    continue
                if workload == "rtt":
                    for k, v in res[0][2].items():
                        add("rtt", 64, f"{k} (us)", peer, v)
                elif workload == "stream":
                    _, n, secs = res[0]
                    add("stream", size, "M msgs/s", peer, n / secs / 1e6)
                    add("stream", size, "GB/s", peer, n * size / secs / 1e9)
                else:
                    rates = [n / secs for _, n, _, _, secs in res]
                    add("m2o", clients, "round trips/s (M)", peer, sum(rates) / 1e6)
                    add("m2o", clients, "fairness min/max", peer, min(rates) / max(rates))
                    add("m2o", clients, "worst round trip (ms)", peer,
                        max(r[3] for r in res) * 1e3)
    print()
    print(f"{'':34}" + "".join(f"{p:>11}" for p in PEERS) + "   smipc vs best")
    rows = []
    for (workload, param, metric), by_peer in figures.items():
        med = {p: statistics.median(v) for p, v in by_peer.items()}
        unit = "clients" if workload == "m2o" else "B"
        line = f"{workload} {param} {unit} {metric}"
        cells = "".join(f"{med[p]:>11.3g}" if p in med else f"{'-':>11}" for p in PEERS)
        lower = metric.endswith("(us)") or metric.endswith("(ms)")
        others = {p: v for p, v in med.items() if not p.startswith("smipc")}
        ratio = ""
        if "smipc" in med and others and "fairness" not in metric:
            best = min(others, key=others.get) if lower else max(others, key=others.get)
            mine, theirs = med["smipc"], others[best]
            if mine > 0 and theirs > 0:
                ratio = f"{(theirs / mine if lower else mine / theirs):6.1f}x {best}"
        print(f"{line:34}{cells}   {ratio}")
        for p, v in med.items():
            rows.append({"workload": workload, "param": param, "metric": metric, "peer": p,
                         "median": v, "repeats": len(by_peer[p])})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
