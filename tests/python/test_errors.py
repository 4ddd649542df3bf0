"""Every exception class, its builtin base, and the situations that raise it."""
import errno
import os
import re

import pytest

import smipc
from peers import connect_as, connect_without_descriptors

HIERARCHY = {
    smipc.Timeout: TimeoutError,
    smipc.Closed: ConnectionError,
    smipc.NotFound: FileNotFoundError,
    smipc.Exists: FileExistsError,
    smipc.MessageTooLarge: ValueError,
    smipc.BufferTooSmall: ValueError,
    smipc.PermissionDenied: PermissionError,
    smipc.InvalidArgument: ValueError,
    smipc.OutOfMemory: MemoryError,
    smipc.NoSuchClient: LookupError,
    smipc.SystemCallError: OSError,
    smipc.Full: None,
    smipc.ProtocolError: None,
}


@pytest.mark.parametrize("cls", list(HIERARCHY))
def test_each_exception_is_an_smipc_error_and_its_builtin(cls):
    assert issubclass(cls, smipc.Error)
    if HIERARCHY[cls] is not None:
        assert issubclass(cls, HIERARCHY[cls])
    assert cls.__doc__


def test_not_found_and_exists(smipc_name):
    with pytest.raises(smipc.NotFound) as info:
        smipc.Client(smipc_name, timeout=1)
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.status == -6
    with smipc.Server(smipc_name):
        with pytest.raises(smipc.Exists):
            smipc.Server(smipc_name)
    smipc.Server(smipc_name).close()  # the name is free again


def test_full(smipc_name):
    with smipc.Server(smipc_name, max_clients=1) as srv:
        with smipc.Client(smipc_name, timeout=5):
            with pytest.raises(smipc.Full):
                smipc.Client(smipc_name, timeout=5)
            assert len(srv.clients()) == 1


def test_timeout_waits_at_least_as_asked(smipc_server, smipc_name):
    import time
    with smipc.Client(smipc_name, timeout=5) as cli:
        for t in (0, 0.001, 0.05):
            start = time.monotonic()
            with pytest.raises(smipc.Timeout):
                cli.recv(timeout=t)
            assert time.monotonic() - start >= t
            with pytest.raises(smipc.Timeout):
                smipc_server.recv(timeout=t)


def test_invalid_arguments(smipc_name, smipc_server):
    for bad in ("", "two words", "x" * 101, "nul\0inside", ".."):
        with pytest.raises(smipc.InvalidArgument):
            smipc.Server(bad)
    with pytest.raises(smipc.InvalidArgument):
        smipc.Server(smipc_name + "b", packet_size=10)
    with pytest.raises(smipc.InvalidArgument):
        smipc.Server(smipc_name + "c", max_clients=-1)
    with smipc.Client(smipc_name, timeout=5) as cli:
        with pytest.raises(smipc.InvalidArgument):
            cli.recv(timeout=-1)
        with pytest.raises(smipc.InvalidArgument):
            cli.recv(timeout=float("nan"))


def test_no_such_client_and_closed(smipc_server, smipc_name):
    cli = smipc.Client(smipc_name, timeout=5)
    with pytest.raises(smipc.NoSuchClient):
        smipc_server.send(cli.id + 100, b"x")
    cli.close()
    # gone: Closed while the server still lists it, NoSuchClient once it is reaped
    with pytest.raises((smipc.Closed, smipc.NoSuchClient)):
        for _ in range(100000):
            smipc_server.send(cli.id, b"x", timeout=0.1)


def test_message_too_large_keeps_the_connection(smipc_name):
    with smipc.Server(smipc_name, max_message_size=1000) as srv:
        with smipc.Client(smipc_name, timeout=5) as cli:
            with pytest.raises(smipc.MessageTooLarge):
                cli.send(bytes(1001))
            with pytest.raises(smipc.MessageTooLarge):
                srv.send(cli.id, bytes(1001))
            cli.send(bytes(1000), timeout=5)
            assert len(srv.recv(timeout=5).data) == 1000


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_permission_denied_for_another_uid(smipc_spawn, tmp_path):
    os.chmod(tmp_path, 0o777)
    path = str(tmp_path / "open.sock")
    with smipc.Server(path):
        os.chmod(path, 0o666)  # only the server's own uid check stands in the way
        assert smipc_spawn(connect_as, 65534, path).join(timeout=20) == 0


def test_system_call_error_keeps_errno(smipc_server, smipc_spawn):
    assert smipc_spawn(connect_without_descriptors, smipc_server.name).join(timeout=20) == 0


def test_error_messages_are_words():
    for status in range(-13, 1):
        words = smipc.strerror(status)
        assert re.fullmatch(r"[a-z][a-zA-Z0-9 ,_():'/-]+", words), words
    e = smipc.SystemCallError(errno.EMFILE, "x")
    assert e.errno == errno.EMFILE


def test_a_broadcast_that_times_out_says_how_many_got_it(smipc_name):
    with smipc.Server(smipc_name, packet_size=64, ring_packets=2) as srv:
        with smipc.Client(smipc_name, timeout=5) as full, \
                smipc.Client(smipc_name, timeout=5) as ready:
            for _ in range(2):
                srv.send(full.id, bytes(64), timeout=5)  # full's ring is full
            with pytest.raises(smipc.Timeout) as info:
                srv.broadcast(b"news", timeout=0.05)
            assert info.value.delivered == 1
            assert ready.recv(timeout=5) == b"news"
            with pytest.raises(smipc.Timeout):
                ready.recv(timeout=0)


def test_protocol_error_and_timeout_have_their_fields_unset_by_default():
    assert smipc.ProtocolError("x").client is None
    assert smipc.Timeout("x").delivered is None
