"""close() while other calls run: it wakes every call blocked on the handle (they raise
Closed, saying the handle was closed), a server gives up its name at once, and the C
handle is destroyed exactly once, when the last call has left, whatever interrupts what."""
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import smipc
from smipc import _core


def in_thread(fn):
    """Runs fn in a thread; the result is (thread, outcome), outcome filled when it ends."""
    outcome = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as e:  # noqa: B902 - the test looks at whatever it was
            outcome["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, outcome


def wait_counted_in(handle, n=1):
    """Until n calls are in flight on handle (then each is in, or about to enter, C; a
    close from then on must wake it, since a later call returns at once too)."""
    deadline = time.monotonic() + 10
    while len(handle._calls) - 1 < n:
        assert time.monotonic() < deadline, "the call never started"
        time.sleep(0.001)


def assert_woken_by_close(t, outcome, handle):
    t.join(timeout=10)
    assert not t.is_alive(), "close() did not wake the blocked call"
    e = outcome.get("error")
    assert isinstance(e, smipc.Closed), outcome
    assert "closed" in str(e) and "died" not in str(e), str(e)
    assert handle._h is None  # destroyed once the woken call left


def test_close_wakes_a_blocked_server_receive_and_releases_the_name(smipc_name):
    srv = smipc.Server(smipc_name)
    cli = smipc.Client(smipc_name, timeout=5)
    t, outcome = in_thread(lambda: srv.recv())  # for ever, but for close()
    wait_counted_in(srv)
    srv.close()
    assert_woken_by_close(t, outcome, srv)
    with pytest.raises(smipc.NotFound):
        smipc.Client(smipc_name, timeout=1)  # nobody accepts any more
    with pytest.raises(smipc.Closed):
        cli.recv(timeout=5)  # and the clients were told
    cli.close()
    smipc.Server(smipc_name).close()  # the name is free: no Exists


def test_close_wakes_a_blocked_client_receive(smipc_server, smipc_name):
    cli = smipc.Client(smipc_name, timeout=5)
    t, outcome = in_thread(lambda: cli.recv())
    wait_counted_in(cli)
    cli.close()
    assert_woken_by_close(t, outcome, cli)
    deadline = time.monotonic() + 10
    while smipc_server.clients():  # the server sees it go
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_close_wakes_senders_waiting_for_room(smipc_name):
    with smipc.Server(smipc_name, packet_size=64, ring_packets=2) as srv:
        cli = smipc.Client(smipc_name, timeout=5)
        for _ in range(2):
            cli.send(bytes(64), timeout=5)  # the ring is full: nobody reads
            srv.send(cli.id, bytes(64), timeout=5)
        t1, out1 = in_thread(lambda: cli.send(b"no room", timeout=None))
        wait_counted_in(cli)
        cli.close()
        assert_woken_by_close(t1, out1, cli)

        # the server's side: a send to a client whose ring is full
        other = smipc.Client(smipc_name, timeout=5)
        for _ in range(2):
            srv.send(other.id, bytes(64), timeout=5)
        t2, out2 = in_thread(lambda: srv.send(other.id, b"no room", timeout=None))
        wait_counted_in(srv)
        srv.close()
        assert_woken_by_close(t2, out2, srv)
        other.close()


def test_calls_after_close_raise_closed_and_close_twice_is_fine(smipc_server, smipc_name):
    cli = smipc.Client(smipc_name, timeout=5)
    cli.close()
    cli.close()
    for call in (lambda: cli.recv(timeout=0), lambda: cli.send(b"x"), cli.fileno,
                 lambda: cli.recv_into(bytearray(8), timeout=0)):
        with pytest.raises(smipc.Closed, match="closed"):
            call()
    assert cli.closed and cli._h is None


def test_keyboard_interrupt_right_after_counting_in_leaves_the_handle_closable(
        smipc_server, smipc_name):
    # A signal's exception can land between any two bytecodes, for instance just after a
    # call counted itself in. The count must still come off, or close() would wait for
    # that call for ever and never destroy the handle.
    cli = smipc.Client(smipc_name, timeout=5)

    class InterruptedOnce(list):
        armed = True

        def append(self, item):
            super().append(item)
            if self.armed:
                self.armed = False
                raise KeyboardInterrupt

    cli._calls = InterruptedOnce(cli._calls)
    with pytest.raises(KeyboardInterrupt):
        cli.recv(timeout=0)
    assert len(cli._calls) == 1  # no call counted in
    cli.close()
    assert cli._h is None


def test_close_from_a_signal_handler_in_the_middle_of_close():
    # close() must take no lock a signal handler could find held by the code it
    # interrupted: the handler's close() here runs while the main thread is inside
    # close(), destroying the handle. In a process of its own: a deadlock ends it.
    code = textwrap.dedent("""
        import os, signal, sys, tempfile
        import smipc
        os.environ["SMIPC_DIR"] = tempfile.mkdtemp()
        srv = smipc.Server("in-close")
        cli = smipc.Client("in-close", timeout=5)
        handled = []
        def handler(signum, frame):
            cli.close()
            srv.close()
            handled.append(signum)
        signal.signal(signal.SIGUSR1, handler)
        real = type(cli)._destroy
        def destroy_with_a_signal(h):
            os.kill(os.getpid(), signal.SIGUSR1)  # the handler runs before this returns
            for _ in range(3):
                pass
            real(cli, h)
        cli._destroy = destroy_with_a_signal
        cli.close()
        assert handled == [signal.SIGUSR1], handled
        assert cli._h is None and srv._h is None
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_a_forked_child_can_close_a_handle_its_parent_was_using(smipc_server, smipc_name):
    # A thread of the parent is in a call on cli when the parent forks: in the child
    # that thread does not exist, so its call will never leave; close() in the child
    # must destroy the handle (freeing the child's copy) all the same.
    cli = smipc.Client(smipc_name, timeout=5)
    t, outcome = in_thread(lambda: cli.recv(timeout=30))
    wait_counted_in(cli)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            cli.close()
            code = 0 if cli._h is None else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    smipc_server.send(cli.id, b"the parent's call is unharmed", timeout=5)
    t.join(timeout=10)
    assert outcome == {"value": b"the parent's call is unharmed"}
    cli.close()


def test_a_handle_opened_and_closed_many_times_leaves_nothing_behind(smipc_server,
                                                                    smipc_name):
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        cli = smipc.Client(smipc_name, timeout=5)
        t, outcome = in_thread(lambda: cli.recv())
        wait_counted_in(cli)
        cli.close()
        t.join(timeout=10)
        assert isinstance(outcome.get("error"), smipc.Closed)
    assert len(os.listdir("/proc/self/fd")) <= before + 2
    assert not [h for h in _core._open_handles if isinstance(h, smipc.Client)]
