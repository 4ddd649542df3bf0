"""C and Python on either side of the same connection."""
import multiprocessing
import os
import subprocess

import pytest

import smipc
from peers import echo_client, python_echo_server


def example(name):
    folder = os.environ.get("SMIPC_EXAMPLES_DIR")
    if not folder:
        pytest.fail("SMIPC_EXAMPLES_DIR must name the folder with the built C examples "
                    "(meson test and scripts/test set it)")
    path = os.path.join(folder, name)
    assert os.access(path, os.X_OK), f"{path} is not built"
    return path


def test_c_server_python_clients(smipc_name, smipc_spawn):
    sizes = [0, 1, 4095, 4096, 4097, 100000, 3 << 20]
    server = subprocess.Popen([example("echo_server"), smipc_name, str(3 * len(sizes))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().startswith("echo_server: serving")
        children = [smipc_spawn(echo_client, smipc_name, sizes) for _ in range(3)]
        assert [c.join(timeout=30) for c in children] == [0, 0, 0]
        assert server.wait(timeout=20) == 0
    finally:
        server.kill()


def test_python_server_c_client(smipc_name, smipc_spawn):
    ready = multiprocessing.get_context("spawn").Event()
    server = smipc_spawn(python_echo_server, smipc_name, ready, 3)
    assert ready.wait(20)
    out = subprocess.run([example("echo_client"), smipc_name, "one", "two", "three"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ONE", "TWO", "THREE"]
    assert server.join(timeout=20) == 0


def test_c_client_gets_notfound_words(smipc_name):
    out = subprocess.run([example("echo_client"), smipc_name, "hi"], capture_output=True,
                         text=True, timeout=20)
    assert out.returncode == 1
    assert smipc.strerror(-6) in out.stderr


def helper(name):
    folder = os.environ.get("SMIPC_TEST_HELPERS_DIR")
    if not folder:
        pytest.fail("SMIPC_TEST_HELPERS_DIR must name the folder with the built C test helpers")
    return os.path.join(folder, name)


def test_protocol_error_ends_only_that_client(smipc_server, smipc_name):
    with smipc.Client(smipc_name, timeout=5) as honest:
        bad = subprocess.Popen([helper("hostile_client"), smipc_name], stdout=subprocess.PIPE,
                               text=True)
        try:
            assert bad.stdout.readline().startswith("hostile_client: garbage published")
            [bad_id] = set(smipc_server.clients()) - {honest.id}
            with pytest.raises(smipc.ProtocolError) as info:
                for _ in range(3):
                    smipc_server.recv(timeout=5)
            assert info.value.status == -11
            assert info.value.client == bad_id  # which client was dropped
            assert bad.wait(timeout=10) == 0  # it was told: its connection is over
            honest.send(b"unaffected", timeout=5)
            msg = smipc_server.recv(timeout=5)
            assert (msg.client, msg.data) == (honest.id, b"unaffected")
            assert smipc_server.clients() == [honest.id]
        finally:
            bad.kill()
