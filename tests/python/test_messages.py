"""Python servers and clients in separate processes: every size, every buffer type."""
import multiprocessing

import pytest

import smipc
from peers import broadcast_listener, echo_client, payload

PS = 4096  # the default packet size


def test_echo_every_size_across_processes(smipc_server, smipc_spawn):
    sizes = [0, 1, PS - 1, PS, PS + 1, 3 * PS + 5, 5 << 20, (8 << 20) + 3]
    child = smipc_spawn(echo_client, smipc_server.name, sizes)
    for _ in sizes:
        msg = smipc_server.recv(timeout=20)
        assert isinstance(msg, smipc.Message) and isinstance(msg.data, bytes)
        smipc_server.send(msg.client, msg.data, timeout=20)
    assert child.join(timeout=30) == 0


def test_several_clients_are_told_apart(smipc_server, smipc_spawn):
    children = [smipc_spawn(echo_client, smipc_server.name, [10 * i + 1] * 20)
                for i in range(4)]
    sizes_by_client = {}
    for _ in range(80):
        msg = smipc_server.recv(timeout=20)
        sizes_by_client.setdefault(msg.client, set()).add(len(msg.data))
        smipc_server.send(msg.client, msg.data, timeout=10)
    # every client always sent one size, and each a different one
    assert sorted(len(s) for s in sizes_by_client.values()) == [1, 1, 1, 1]
    assert len({next(iter(s)) for s in sizes_by_client.values()}) == 4
    assert all(c.join(timeout=20) == 0 for c in children)


def test_broadcast_reaches_every_process(smipc_server, smipc_spawn):
    ctx = multiprocessing.get_context("spawn")
    events = [ctx.Event() for _ in range(4)]
    children = [smipc_spawn(broadcast_listener, smipc_server.name, 10, ev) for ev in events]
    assert all(ev.wait(20) for ev in events)
    for i in range(10):
        assert smipc_server.broadcast(payload(1000 * i + 1, i), timeout=10) == 4
    assert all(c.join(timeout=20) == 0 for c in children)


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "slice", "array"])
def test_any_bytes_like_object_is_sent_as_is(smipc_server, smipc_name, kind):
    import array
    raw = payload(10000, 3)
    data = {
        "bytes": raw,
        "bytearray": bytearray(raw),
        "memoryview": memoryview(raw),
        "slice": memoryview(bytearray(b"xx" + raw + b"yy"))[2:-2],
        "array": array.array("B", raw),
    }[kind]
    with smipc.Client(smipc_name, timeout=5) as cli:
        cli.send(data, timeout=5)
        msg = smipc_server.recv(timeout=5)
        assert msg.client == cli.id
        assert msg.data == raw
        smipc_server.send(cli.id, data, timeout=5)
        assert cli.recv(timeout=5) == raw


def test_text_and_strided_buffers_are_refused(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as cli:
        with pytest.raises(TypeError):
            cli.send("text is not bytes")
        strided = memoryview(bytearray(100))[::2]
        with pytest.raises((TypeError, ValueError, BufferError)):
            cli.send(strided)


def test_recv_into_fills_the_callers_buffer(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as cli:
        cli.send(b"hello", timeout=5)
        buf = bytearray(64)
        client, n = smipc_server.recv_into(buf, timeout=5)
        assert (client, n, bytes(buf[:n])) == (cli.id, 5, b"hello")
        smipc_server.send(cli.id, payload(300, 1), timeout=5)
        view = memoryview(bytearray(1000))[100:500]
        assert cli.recv_into(view, timeout=5) == 300
        assert bytes(view[:300]) == payload(300, 1)
        with pytest.raises(TypeError):
            cli.recv_into(b"read-only bytes")


def test_buffer_too_small_leaves_the_message_queued(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as cli:
        smipc_server.send(cli.id, b"0123456789", timeout=5)
        with pytest.raises(smipc.BufferTooSmall) as info:
            cli.recv_into(bytearray(4), timeout=5)
        assert info.value.needed == 10
        assert isinstance(info.value, ValueError)
        assert cli.recv(timeout=5) == b"0123456789"
        cli.send(payload(5000, 2), timeout=5)
        with pytest.raises(smipc.BufferTooSmall) as info:
            smipc_server.recv_into(bytearray(100), timeout=5)
        assert info.value.needed == 5000
        assert smipc_server.recv(timeout=5).data == payload(5000, 2)


def test_recv_grows_past_its_scratch_buffer(smipc_server, smipc_name):
    # recv() never shows BufferTooSmall: it asks again with the size needed
    with smipc.Client(smipc_name, timeout=5) as cli:
        for size in (65535, 65536, 65537, 200000):  # all fit the 256 KiB ring
            smipc_server.send(cli.id, payload(size, size), timeout=5)
            assert cli.recv(timeout=5) == payload(size, size)


def test_clients_list_and_context_managers(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as a, smipc.Client(smipc_name, timeout=5) as b:
        assert sorted(smipc_server.clients()) == sorted([a.id, b.id])
        assert a.id != b.id
        assert "Client" in repr(a) and str(a.id) in repr(a)
    assert a.closed and b.closed
    with pytest.raises(smipc.Closed):
        a.send(b"after close")
    a.close()  # twice is fine


def test_server_configuration_reaches_clients(smipc_name):
    with smipc.Server(smipc_name, packet_size=256, ring_packets=32, max_message_size=5000,
                      checksum=False) as srv:
        with smipc.Client(smipc_name, timeout=5) as cli:
            cli.send(payload(5000, 9), timeout=5)
            assert srv.recv(timeout=5).data == payload(5000, 9)
            with pytest.raises(smipc.MessageTooLarge):
                cli.send(bytes(5001))
            cli.send(b"still usable", timeout=5)
            assert srv.recv(timeout=5).data == b"still usable"
