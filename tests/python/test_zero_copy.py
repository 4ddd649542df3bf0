"""Zero-copy from Python: cli.loan / srv.loan write a message in place, recv_view reads one
in place; numpy works on both; memory a block handed out never crashes anyone later."""
import gc
import os
import time

import numpy as np
import pytest

import smipc
from zero_copy_peers import SIZES, loan_and_wait, loaning_client, values, viewing_client


def test_loans_arrive_whole_and_are_viewed_in_place(smipc_server, smipc_spawn):
    child = smipc_spawn(loaning_client, smipc_server.name)
    for i, size in enumerate(SIZES):
        with smipc_server.recv_view(timeout=10) as msg:
            assert msg.data.readonly and len(msg.data) == size
            assert np.array_equal(np.frombuffer(msg.data, dtype=np.uint8), values(size, i))
            client = msg.client
    with smipc_server.recv_view(timeout=10) as msg:  # the block that raised sent nothing
        assert bytes(msg.data) == b"end"
    smipc_server.send(client, b"done")
    assert child.join(timeout=20) == 0


def test_the_client_views_replies_and_broadcasts(smipc_server, smipc_spawn):
    child = smipc_spawn(viewing_client, smipc_server.name)
    msg = smipc_server.recv(timeout=10)
    smipc_server.send(msg.client, values(5, 0).tobytes())
    assert smipc_server.broadcast(values(1 << 20, 1), timeout=10) == 1
    smipc_server.send(msg.client, values(10_000, 2))  # three ring packets: a copy
    assert child.join(timeout=20) == 0


def test_the_server_lends_to_a_client(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as cli:
        with smipc_server.loan(cli.id, 1000) as buf:
            buf[:] = bytes(range(250)) * 4
        assert cli.recv(timeout=5) == bytes(range(250)) * 4
        with pytest.raises(smipc.NoSuchClient):
            with smipc_server.loan(cli.id + 99, 10):
                pass


def test_memory_is_released_at_the_end_of_the_block(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as cli:
        with cli.loan(100) as buf:
            buf[:] = b"a" * 100
        with pytest.raises(ValueError):
            buf[0] = 1
        with smipc_server.recv_view(timeout=5) as msg:
            assert bytes(msg.data) == b"a" * 100
            with pytest.raises(TypeError):
                msg.data[0] = 1  # read-only
        with pytest.raises(ValueError):
            msg.data[0]
        msg.release()  # twice is fine


def test_arrays_that_outlive_the_block_and_close_never_crash(smipc_name):
    """A numpy array made from a view or a loan keeps that shared memory mapped, even
    after close(): reading it after the handles are gone shows bytes, never a crash; and
    close() does not wait for the arrays (the handles, and their descriptors, go at once)."""
    srv = smipc.Server(smipc_name)
    cli = smipc.Client(smipc_name, timeout=5)
    with cli.loan(1 << 20) as buf:
        lent = np.frombuffer(buf, dtype=np.uint8)
        lent[:] = 9
    with srv.recv_view(timeout=5) as msg:
        kept = np.frombuffer(msg.data, dtype=np.uint8)
    cli.close()
    srv.close()
    assert srv.closed and not srv._box and not cli._box, "close() waited for the arrays"
    assert kept.shape == (1 << 20,) and int(kept[-1]) in range(256)  # mapped: no crash
    assert lent.shape == (1 << 20,) and int(lent[0]) in range(256)
    del kept, lent
    gc.collect()


def test_kept_arrays_hold_no_descriptors(smipc_server, smipc_name):
    """Clients come and go, each leaving arrays made from its loans and views behind:
    the process's descriptors stay as they were (only the memory is kept)."""
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))
    kept = []
    before = fds()
    for _ in range(100):
        cli = smipc.Client(smipc_name, timeout=5)
        with cli.loan(4096) as buf:
            kept.append(np.frombuffer(buf, dtype=np.uint8))
        with smipc_server.recv_view(timeout=5) as msg:
            kept.append(np.frombuffer(msg.data, dtype=np.uint8))
            smipc_server.send(msg.client, b"y")
        with cli.recv_view(timeout=5) as msg:
            kept.append(np.frombuffer(msg.data, dtype=np.uint8))
        cli.close()
    deadline = time.monotonic() + 5
    while smipc_server.clients() and time.monotonic() < deadline:  # departures are the
        time.sleep(0.01)                                           # server thread's to see
    assert fds() <= before + 2, "closed clients left descriptors behind"
    del kept
    gc.collect()


def test_a_server_loan_kept_past_everything_never_crashes(smipc_name, monkeypatch):
    """A numpy array made from a server's loan keeps that memory mapped after the commit,
    the client's departure and close(): reading it shows bytes, never a crash."""
    monkeypatch.setenv("SMIPC_BULK_IDLE_MS", "-1")  # read back as sent: no area given back
    srv = smipc.Server(smipc_name)
    cli = smipc.Client(smipc_name, timeout=5)
    with srv.loan(cli.id, 1 << 20) as buf:
        kept = np.frombuffer(buf, dtype=np.uint8)
        kept[:] = 7
    assert cli.recv(timeout=5) == bytes([7]) * (1 << 20)
    cli.close()
    deadline = time.monotonic() + 5
    while srv.clients() and time.monotonic() < deadline:  # the departure is the server's
        time.sleep(0.01)                                   # thread's to notice: no event
    assert not srv.clients()
    srv.close()
    assert kept.shape == (1 << 20,) and int(kept[-1]) == 7  # mapped, unwritten since
    del kept
    gc.collect()


def test_what_a_loan_cannot_hold(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as cli:
        with pytest.raises(smipc.LoanTooLarge) as e:
            with cli.loan((1 << 20) + 1):
                pass
        assert isinstance(e.value, ValueError) and "bulk_size" in str(e.value)
        with pytest.raises(TypeError):
            cli.loan(-1)
        with pytest.raises(smipc.Timeout) as e:  # four unread 1 MiB messages fill it
            for _ in range(5):
                with cli.loan(1 << 20, timeout=0.05):
                    pass
        assert "no room" in str(e.value)
        for _ in range(4):  # the four went; the rest did not
            with smipc_server.recv_view(timeout=5) as msg:
                assert len(msg.data) == 1 << 20
        with pytest.raises(smipc.Timeout):
            smipc_server.recv(timeout=0)


def test_a_larger_bulk_area_lends_more(smipc_name):
    with smipc.Server(smipc_name, bulk_size=8 << 20, bulk_slots=2) as srv:
        with smipc.Client(smipc_name, timeout=5) as cli:
            arr = np.arange(1 << 20, dtype=np.float64)  # 8 MiB
            with cli.loan(arr.nbytes) as buf:
                np.frombuffer(buf, dtype=np.float64)[:] = arr
            with srv.recv_view(timeout=5) as msg:
                assert np.array_equal(np.frombuffer(msg.data, dtype=np.float64), arr)


def test_a_loan_abandoned_by_a_killed_process(smipc_server, smipc_spawn, smipc_name):
    import multiprocessing
    ready = multiprocessing.get_context("spawn").Event()
    child = smipc_spawn(loan_and_wait, smipc_server.name, ready)
    assert ready.wait(10)
    child.kill()
    assert child.join(timeout=10) != 0
    with pytest.raises(smipc.Timeout):  # nothing of the loan ever arrives
        with smipc_server.recv_view(timeout=0.3):
            pass
    with smipc.Client(smipc_name, timeout=5) as cli:  # and the server goes on
        cli.send(b"next")
        with smipc_server.recv_view(timeout=5) as msg:
            assert bytes(msg.data) == b"next"


def test_bad_bulk_configurations_say_what_is_wrong(smipc_name):
    with pytest.raises(smipc.InvalidArgument) as e:
        smipc.Server(smipc_name, bulk_size=5000)
    assert "bulk_size" in str(e.value)
    with pytest.raises(smipc.InvalidArgument) as e:
        smipc.Server(smipc_name, bulk_size=4096, bulk_slots=0)
    assert "bulk_slots" in str(e.value)
    with smipc.Server(smipc_name, bulk_size=0, bulk_slots=0) as srv:  # none: fine
        with smipc.Client(smipc_name, timeout=5) as cli:
            with pytest.raises(smipc.LoanTooLarge):
                with cli.loan(4097):
                    pass
            with cli.loan(4096) as buf:
                buf[:] = b"z" * 4096
            assert srv.recv(timeout=5).data == b"z" * 4096
