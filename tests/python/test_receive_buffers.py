"""recv() into its scratch buffers: a receive that runs in the middle of another gets
buffers of its own, a message larger than the scratch buffer is asked for again within
the call's own deadline, and it is not overtaken by other clients' messages."""
import pytest

import smipc
from smipc import _core
from smipc._smipc_cffi import lib
from peers import payload


class FfiWithAHandlerInUnpack:
    """The package's ffi, except that unpack() first runs a 'signal handler': the
    moment where a real one could run, after the C call filled the scratch buffer and
    before its bytes are copied out."""

    def __init__(self, ffi, handler):
        self._ffi, self._handler = ffi, handler

    def __getattr__(self, name):
        return getattr(self._ffi, name)

    def unpack(self, *args):
        handler, self._handler = self._handler, None
        if handler:
            handler()
        return self._ffi.unpack(*args)


def test_a_receive_inside_a_receive_does_not_take_its_buffer(smipc_server, smipc_name,
                                                             monkeypatch):
    with smipc.Client(smipc_name, timeout=5) as a, smipc.Client(smipc_name, timeout=5) as b:
        smipc_server.send(a.id, b"for A", timeout=5)
        smipc_server.send(b.id, b"for B", timeout=5)
        got_in_handler = []
        monkeypatch.setattr(_core, "ffi", FfiWithAHandlerInUnpack(
            _core.ffi, lambda: got_in_handler.append(b.recv(timeout=5))))
        assert a.recv(timeout=5) == b"for A"
        assert got_in_handler == [b"for B"]

        # the same on the server's side
        a.send(b"from A", timeout=5)
        b.send(b"from B", timeout=5)
        inner = []
        monkeypatch.setattr(_core, "ffi", FfiWithAHandlerInUnpack(
            _core.ffi._ffi, lambda: inner.append(smipc_server.recv(timeout=5))))
        outer = smipc_server.recv(timeout=5)
        assert sorted([(outer.client, outer.data), (inner[0].client, inner[0].data)]) == \
            sorted([(a.id, b"from A"), (b.id, b"from B")])


class LibWithAClock:
    """The library, except that smipc_client_recv is scripted: the first call takes 0.9 s
    of a fake clock and says the message is larger than the scratch buffer; the later
    ones record the timeout they were given and wait all of it for nothing."""

    def __init__(self, monkeypatch):
        self.clock = 100.0
        self.calls = []
        monkeypatch.setattr(_core, "_now", lambda: self.clock)

    def __getattr__(self, name):
        return getattr(lib, name)

    def smipc_client_recv(self, h, buf, lenp, timeout_ms):
        self.calls.append(timeout_ms)
        if len(self.calls) == 1:
            self.clock += 0.9
            lenp[0] = 100000
            return lib.SMIPC_ETOOSMALL
        self.clock += timeout_ms / 1000
        return lib.SMIPC_ETIMEDOUT


def test_the_retry_for_a_large_message_keeps_the_calls_deadline(smipc_server, smipc_name,
                                                                 monkeypatch):
    with smipc.Client(smipc_name, timeout=5) as cli:
        fake = LibWithAClock(monkeypatch)
        monkeypatch.setattr(_core, "lib", fake)
        with pytest.raises(smipc.Timeout):
            cli.recv(timeout=1.0)
        assert fake.calls[0] == min(1000, _core._SLICE_MS)  # the main thread: in slices
        assert 0 < sum(fake.calls[1:]) <= 100  # what was left of the second, not another one

        fake.calls.clear()
        with pytest.raises(smipc.Timeout):
            cli.recv(timeout=0)  # never blocks, the retry neither
        assert fake.calls == [0, 0]


def test_a_large_message_is_not_overtaken_by_another_clients(smipc_name):
    # The scratch buffer is too small for A's message: the receive asks again with a
    # larger buffer, and must get A's message then, not move on to B's.
    with smipc.Server(smipc_name) as srv:
        with smipc.Client(smipc_name, timeout=5) as a, \
                smipc.Client(smipc_name, timeout=5) as b:
            big = payload(100_000, 1)
            a.send(big, timeout=5)
            for i in range(63):
                b.send(b"small %d" % i, timeout=5)
            order = [srv.recv(timeout=5) for _ in range(64)]
            first_two = [m.client for m in order[:2]]
            assert a.id in first_two, [m.client for m in order].index(a.id)
            assert [m.data for m in order if m.client == a.id] == [big]
            assert [m.data for m in order if m.client == b.id] == \
                [b"small %d" % i for i in range(63)]
