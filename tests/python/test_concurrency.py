"""Threads, the GIL, select(), a server that dies, and fork()."""
import multiprocessing
import os
import select
import threading
import time

import pytest

import smipc
from peers import idle_server


def test_blocking_receive_releases_the_gil(smipc_server, smipc_name):
    counted = 0
    stop = threading.Event()

    def count():
        nonlocal counted
        while not stop.is_set():
            counted += 1

    with smipc.Client(smipc_name, timeout=5) as cli:
        t = threading.Thread(target=count)
        t.start()
        try:
            before = counted
            with pytest.raises(smipc.Timeout):
                cli.recv(timeout=0.3)  # blocked in C for 0.3 s
            during = counted - before
        finally:
            stop.set()
            t.join()
    # holding the GIL, the counter would not have moved at all
    assert during > 10000, during


def test_threads_share_handles(smipc_server, smipc_name):
    n_threads, per_thread = 4, 200
    with smipc.Client(smipc_name, timeout=5) as cli:
        def sender(k):
            for i in range(per_thread):
                cli.send(b"%d:%d:" % (k, i) + bytes(i * 37 % 9000), timeout=10)

        threads = [threading.Thread(target=sender, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        last = [-1] * n_threads
        for _ in range(n_threads * per_thread):
            data = smipc_server.recv(timeout=10).data
            k, i, rest = data.split(b":", 2)
            assert len(rest) == int(i) * 37 % 9000 and not any(rest)
            assert int(i) == last[int(k)] + 1  # one thread's messages stay in order
            last[int(k)] = int(i)
        for t in threads:
            t.join()


def test_select_reports_readiness(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as cli:
        assert select.select([cli.fileno(), smipc_server.fileno()], [], [], 0)[0] == []
        cli.send(b"to server", timeout=5)
        assert select.select([smipc_server.fileno()], [], [], 5)[0] == [smipc_server.fileno()]
        msg = smipc_server.recv(timeout=0)
        smipc_server.send(msg.client, b"to client", timeout=5)
        assert select.select([cli.fileno()], [], [], 5)[0] == [cli.fileno()]
        assert cli.recv(timeout=0) == b"to client"
        assert select.select([cli.fileno()], [], [], 0)[0] == []


def test_killed_server_wakes_waiting_clients_within_a_second(smipc_name, smipc_spawn):
    ready = multiprocessing.get_context("spawn").Event()
    server = smipc_spawn(idle_server, smipc_name, ready)
    assert ready.wait(20)
    clients = [smipc.Client(smipc_name, timeout=5) for _ in range(3)]
    results = {}

    def wait_on(i, cli):
        try:
            cli.recv()  # for ever, unless the server goes
        except smipc.Closed as e:
            results[i] = (time.monotonic(), e)

    threads = [threading.Thread(target=wait_on, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # not synchronisation: only so the receives are blocked, not starting
    killed = time.monotonic()
    server.kill()
    for t in threads:
        t.join(timeout=5)
    assert sorted(results) == [0, 1, 2]
    assert all(isinstance(e, ConnectionError) for _, e in results.values())
    assert max(when for when, _ in results.values()) - killed < 1.0
    for c in clients:
        c.close()


def test_handle_inherited_across_fork_is_dead_in_the_child(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as cli:
        smipc_server.send(cli.id, b"for the parent", timeout=5)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                cli.recv(timeout=0)
                code = 1
            except smipc.Closed:
                pass
            try:
                smipc_server.recv(timeout=0)
                code = 2
            except smipc.Closed:
                pass
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # the parent's connection is untouched
        assert cli.recv(timeout=5) == b"for the parent"
        cli.send(b"still here", timeout=5)
        assert smipc_server.recv(timeout=5).data == b"still here"


def test_close_races_calls_in_flight(smipc_server, smipc_name):
    # Calls in flight are counted without a lock: close() while four threads send as fast
    # as they can must end every thread with Closed (no crash, no hang, no other error),
    # destroy the handle once the last call returned, and lose none of the messages whose
    # send returned before close() began. (A send still copying its message when close()
    # wakes everything may return before the server, told of the close, has drained the
    # ring, or after: that one message may or may not arrive.)
    for _ in range(10):
        cli = smipc.Client(smipc_name, timeout=5)
        go = threading.Barrier(5)
        sent, errors, received = [], [], [0]
        done = [0] * 4  # sends returned so far, per thread
        draining = threading.Event()
        draining.set()

        def sender(k):
            ok = 0
            go.wait()
            try:
                while True:
                    cli.send(b"race", timeout=10)
                    ok += 1
                    done[k] = ok
            except smipc.Closed:
                sent.append(ok)
            except Exception as e:  # anything else fails the test below
                errors.append(e)

        def drain():
            while draining.is_set():
                try:
                    m = smipc_server.recv(timeout=0.05)
                except smipc.Timeout:
                    continue
                assert m.data == b"race"
                if m.client != cli.id:
                    # an earlier round's client: what it sent before it closed still
                    # arrives, after that round stopped counting
                    assert m.client < cli.id
                    continue
                received[0] += 1

        threads = [threading.Thread(target=sender, args=(k,), daemon=True) for k in range(4)]
        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        for t in threads:
            t.start()
        go.wait()
        deadline = time.monotonic() + 10
        while received[0] < 200 and time.monotonic() < deadline:
            time.sleep(0.001)  # until the four are well under way (a count, with a deadline)
        before = sum(done)
        cli.close()
        for t in threads:
            t.join(timeout=20)
        assert not any(t.is_alive() for t in threads)
        assert errors == [] and len(sent) == 4
        assert cli.closed and cli._h is None and len(cli._calls) == 1  # no call counted in
        deadline = time.monotonic() + 10
        while received[0] < before and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting for a count, with a deadline
        draining.clear()
        drainer.join(timeout=10)
        assert before <= received[0] <= sum(sent)
