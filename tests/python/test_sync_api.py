"""The synchronous API's harness-friendly parts (issue 12): joins and departures in order
with messages, broadcast told from reply, iteration, pickled objects, docstrings, and
error messages that say what to do."""
import inspect
import os
import pickle
import signal
import sys

import pytest

import smipc


def join_talk_and_die(name, ready):
    cli = smipc.Client(name, timeout=10)
    cli.send(b"one", timeout=10)
    cli.send(b"two", timeout=10)
    ready.set()
    signal.pause()  # until the test SIGKILLs it


def test_joins_messages_and_departure_in_order(smipc_name, smipc_spawn):
    import multiprocessing
    ready = multiprocessing.get_context("spawn").Event()
    with smipc.Server(smipc_name, events=True) as srv:
        child = smipc_spawn(join_talk_and_die, smipc_name, ready)
        assert ready.wait(30)
        first = srv.recv_event(timeout=10)
        assert isinstance(first, smipc.Joined)
        cid = first.client
        assert srv.recv_event(timeout=10) == smipc.Message(cid, b"one")
        assert srv.recv_event(timeout=10) == smipc.Message(cid, b"two")
        child.kill()
        assert srv.recv_event(timeout=10) == smipc.Left(cid)
        with pytest.raises(smipc.Timeout):
            srv.recv_event(timeout=0)


def test_recv_passes_over_events_and_recv_event_needs_events(smipc_name):
    with smipc.Server(smipc_name, events=True) as srv:
        with smipc.Client(smipc_name, timeout=5) as cli:
            cli.send(b"x", timeout=5)
            assert srv.recv(timeout=5) == smipc.Message(cli.id, b"x")
    with smipc.Server(smipc_name) as srv:
        with pytest.raises(smipc.InvalidArgument, match="events=True"):
            srv.recv_event(timeout=0)


def test_a_client_tells_a_broadcast_from_a_reply(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as cli:
        smipc_server.send(cli.id, b"reply", timeout=5)
        assert smipc_server.broadcast(b"news", timeout=5) == 1
        assert cli.recv_msg(timeout=5) == smipc.Received(b"reply", False)
        assert cli.recv_msg(timeout=5) == smipc.Received(b"news", True)


def test_iteration_ends_when_the_peer_or_the_handle_goes(smipc_name):
    srv = smipc.Server(smipc_name)
    cli = smipc.Client(smipc_name, timeout=5)
    for i in range(3):
        srv.send(cli.id, b"%d" % i, timeout=5)
        cli.send(b"%d" % i, timeout=5)
    got = []
    for msg in srv:
        got.append(msg)
        if len(got) == 3:
            srv.close()  # the loop ends cleanly at the next receive
    assert got == [smipc.Message(cli.id, b"%d" % i) for i in range(3)]
    assert list(cli) == [b"0", b"1", b"2"]  # then the server is gone
    cli.close()


def test_objects_go_pickled(smipc_server, smipc_name):
    obj = {"a": [1, 2.5, None], "b": (b"x", "y")}
    with smipc.Client(smipc_name, timeout=5) as cli:
        cli.send_obj(obj, timeout=5)
        assert smipc_server.recv_obj(timeout=5) == (cli.id, obj)
        smipc_server.send_obj(cli.id, obj, timeout=5)
        assert cli.recv_obj(timeout=5) == obj
    with smipc.Server(smipc_name + "-any", allow_any_uid=True) as srv:
        with pytest.raises(smipc.InvalidArgument, match="allow_any_uid"):
            srv.recv_obj(timeout=0)


def test_every_public_name_has_a_docstring():
    missing = []
    for name in smipc.__all__:
        obj = getattr(smipc, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (obj.__doc__ or "").strip():
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") and attr not in ("__iter__", "__init__"):
                    continue
                if (callable(member) or isinstance(member, property)) and \
                        not (getattr(member, "__doc__", "") or "").strip():
                    missing.append(f"{name}.{attr}")
    assert not missing
    words = smipc.Server.__doc__
    for keyword in ("max_clients", "packet_size", "ring_packets", "max_message_size",
                    "checksum", "allow_any_uid", "events", ".name", "None", "0 never"):
        assert keyword in words, keyword
    assert "wait=True" in smipc.Client.__doc__ and "timeout" in smipc.Client.__doc__
    assert "trust" in smipc.Client.recv_obj.__doc__
    assert "allow_any_uid" in smipc.Server.recv_obj.__doc__


@pytest.mark.parametrize("bad, words", [
    ("", "cannot be empty"), ("two words", "character ' '"),
    ("x" * 101, "at most 100 characters, not 101"), ("nul\0x", "NUL"),
    ("..", "not a name")])
def test_a_bad_name_says_which_rule_it_broke(smipc_name, bad, words):
    for open_it in (smipc.Server, lambda n: smipc.Client(n, timeout=1)):
        with pytest.raises(smipc.InvalidArgument) as info:
            open_it(bad)
        assert words in str(info.value) and "'/'" in str(info.value), str(info.value)
        assert info.value.status == -2


@pytest.mark.parametrize("config, words", [
    (dict(packet_size=10), "packet_size must be an int from 64 to 16777216"),
    (dict(ring_packets=1), "ring_packets must be an int from 2 to 65536"),
    (dict(max_clients=-1), "max_clients must be an int from 1 to 1048576"),
    (dict(max_message_size=2**41), "max_message_size must be an int from 0 to 1099511627776"),
    (dict(packet_size=1 << 24, ring_packets=1 << 16), "1 GiB")])
def test_a_bad_configuration_names_the_field_and_its_range(smipc_name, config, words):
    with pytest.raises(smipc.InvalidArgument, match=words) as info:
        smipc.Server(smipc_name, **config)
    assert info.value.status == -2


def test_not_found_says_where_it_looked(smipc_name):
    with pytest.raises(smipc.NotFound) as info:
        smipc.Client(smipc_name, timeout=1)
    where = os.path.join(os.environ["SMIPC_DIR"], smipc_name)
    assert where in str(info.value) and "SMIPC_DIR" in str(info.value)
    assert "XDG_RUNTIME_DIR" in str(info.value)


def test_an_inherited_handle_says_so_in_the_child(smipc_server, smipc_name):
    cli = smipc.Client(smipc_name, timeout=5)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            cli.send(b"x", timeout=1)
        except smipc.Closed as e:
            code = 0 if "inherited across fork()" in str(e) and "in the child" in str(e) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    cli.close()


def test_misuses_get_clear_type_errors(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as cli:
        with pytest.raises(TypeError, match="a bytes-like object is required, not 'str'"):
            cli.send("text")
        with pytest.raises(TypeError, match="a bytes-like object is required, not 'str'"):
            smipc_server.send(cli.id, "text")
        for handle, kind in ((cli, "Client"), (smipc_server, "Server")):
            with pytest.raises(TypeError, match=f"smipc.{kind} cannot be pickled.*connect "
                                                f"in the child process instead"):
                pickle.dumps(handle)


def test_timeouts_say_their_direction(smipc_name):
    with smipc.Server(smipc_name, packet_size=64, ring_packets=2) as srv:
        with smipc.Client(smipc_name, timeout=5) as cli:
            with pytest.raises(smipc.Timeout, match="nothing received within 0.05 s"):
                cli.recv(timeout=0.05)
            with pytest.raises(smipc.Timeout, match="nothing received within 0.05 s"):
                srv.recv(timeout=0.05)
            for _ in range(2):
                cli.send(bytes(64), timeout=5)
            with pytest.raises(smipc.Timeout, match="no room to send within 0.05 s"):
                cli.send(bytes(64), timeout=0.05)
    with pytest.raises(smipc.Timeout, match="no server came up"):
        smipc.Client(smipc_name, timeout=0.05, wait=True)


def test_public_names_print_as_smipc(smipc_name):
    for name in ("NotFound", "Timeout", "Error", "Message", "Joined", "Left", "Received",
                 "Server", "Client"):
        assert getattr(smipc, name).__module__ == "smipc", name
    with pytest.raises(smipc.NotFound) as info:
        smipc.Client(smipc_name, timeout=1)
    assert repr(type(info.value)) == "<class 'smipc.NotFound'>"
    assert pickle.loads(pickle.dumps(smipc.Joined(3))) == smipc.Joined(3)


def test_a_negative_timeout_has_its_status():
    with pytest.raises(smipc.InvalidArgument) as info:
        smipc.Client("anything", timeout=-1)
    assert info.value.status == -2 and "timeout" in str(info.value)
