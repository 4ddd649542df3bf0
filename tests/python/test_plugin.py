"""The pytest plugin's fixtures, beyond what every other test uses them for: smipc_serve
(a server in a child process, the client in the test) and smipc_spawn."""
import os
import select
import signal
import sys
import textwrap

import pytest

import smipc
from peers import start_own_children
from smipc.pytest_plugin import ServeError

pytest_plugins = ["pytester"]


# --- what the served child processes run (module level: spawn pickles them by name) ---

def echo_server(name, tag=b""):
    with smipc.Server(name) as srv:
        while True:
            msg = srv.recv()
            srv.send(msg.client, tag + msg.data + b" from %d" % msg.client)


def raises_before_serving(name):
    raise RuntimeError(f"no server for {name} today")


def exits_before_serving(name, code):
    sys.exit(code)


def killed_before_serving(name):
    os.kill(os.getpid(), signal.SIGKILL)


def never_serves(name):
    signal.pause()


def c_echo_server(name, program):
    os.execv(program, [program, name])  # the served process becomes the C program


def ask(name, data, want):
    with smipc.Client(name, timeout=10) as cli:
        cli.send(data, timeout=10)
        got = cli.recv(timeout=10)
        if got != want:
            sys.exit(f"asked {name} for {data!r}, got {got!r}, not {want!r}")


# --- smipc_serve ---------------------------------------------------------------------

def test_serve_returns_once_the_server_is_live(smipc_serve):
    name = smipc_serve(echo_server)
    assert name.process.pid != os.getpid() and name.process.exitcode is None
    # A plain connect, without wait=True, finds it: the server is up when serve returns.
    with smipc.Client(name, timeout=10) as cli:
        # and it is the server's first client: the wait never connected as one
        assert cli.id == 1
        cli.send(b"ping", timeout=10)
        assert cli.recv(timeout=10) == b"ping from 1"
    with smipc.Client(name, timeout=10, wait=True) as cli:
        cli.send(b"again", timeout=10)
        assert cli.recv(timeout=10) == b"again from 2"


def test_serve_passes_arguments_and_gives_each_server_a_name(smipc_serve, smipc_spawn):
    a = smipc_serve(echo_server, b"A:")
    b = smipc_serve(echo_server, b"B:")
    assert a != b and isinstance(a, str)
    # the names go to other processes as plain strings
    children = [smipc_spawn(ask, a, b"x", b"A:x from 1"), smipc_spawn(ask, b, b"y", b"B:y from 1")]
    assert [c.join(timeout=60) for c in children] == [0, 0]


def test_serve_a_program_in_another_language(smipc_serve):
    folder = os.environ.get("SMIPC_EXAMPLES_DIR")
    if not folder:
        pytest.fail("SMIPC_EXAMPLES_DIR must name the folder with the built C examples")
    name = smipc_serve(c_echo_server, os.path.join(folder, "echo_server"))
    with smipc.Client(name, timeout=10) as cli:
        cli.send(b"to C and back", timeout=10)
        assert cli.recv(timeout=10) == b"to C and back"


def test_a_server_that_raises_before_serving_fails_at_once_with_its_traceback(smipc_serve):
    with pytest.raises(ServeError) as e:
        smipc_serve(raises_before_serving, timeout=600)  # not waited out: it ended
    assert e.value.exitcode == 1
    message = str(e.value)
    assert "raises_before_serving" in message and "exited with code 1 before it served" in message
    assert "RuntimeError: no server for serve-" in message and "Traceback" in message


@pytest.mark.parametrize("code", [0, 3, "a message"])
def test_a_server_that_exits_before_serving_says_how(smipc_serve, code):
    with pytest.raises(ServeError) as e:
        smipc_serve(exits_before_serving, code, timeout=600)
    message = str(e.value)
    if code == 0:
        assert e.value.exitcode == 0 and "returned (exit code 0) before it served" in message
    elif code == 3:
        assert e.value.exitcode == 3 and "sys.exit(3)" in message
    else:
        assert e.value.exitcode == 1 and "sys.exit('a message')" in message


def test_a_server_killed_before_serving_says_by_what(smipc_serve):
    with pytest.raises(ServeError, match="killed by SIGKILL") as e:
        smipc_serve(killed_before_serving, timeout=600)
    assert e.value.exitcode == -signal.SIGKILL


def test_a_server_that_never_serves_times_out_and_is_stopped(smipc_serve):
    with pytest.raises(ServeError, match="did not serve .* within 0.2 s") as e:
        smipc_serve(never_serves, timeout=0.2)
    assert e.value.exitcode is None


def test_serve_needs_a_picklable_function(smipc_serve):
    with pytest.raises(TypeError, match="picklable"):
        smipc_serve(lambda name: None)


def plugin_args(request):
    """How the inner pytest gets the plugin: as this one did (entry point, or -p)."""
    if request.config.pluginmanager.get_plugin("smipc") is not None:
        return []
    return ["-p", "smipc.pytest_plugin"]


def docstring_example():
    import smipc.pytest_plugin as plugin
    example = plugin.__doc__.split("::", 1)[1].split("The other way round")[0]
    assert "def test_echo(smipc_serve):" in example
    return textwrap.dedent(example)


INNER_TESTS = '''
import os, signal, subprocess, sys
import pytest
import smipc

def breaks_on_a_message(name):
    with smipc.Server(name) as srv:
        srv.recv()
        raise RuntimeError("the server broke")

def serves_once(name):
    with smipc.Server(name) as srv:
        msg = srv.recv()
        srv.send(msg.client, msg.data)

def stubborn(name, fifo):
    # holds the FIFO open, and so does a program it starts; ignores SIGTERM (its
    # program does not)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    hold = os.open(fifo, os.O_WRONLY)
    subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"],
                     pass_fds=[hold], restore_signals=True,
                     preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    with smipc.Server(name) as srv:
        signal.pause()

def test_its_server_breaks_during_the_test(smipc_serve):
    with smipc.Client(smipc_serve(breaks_on_a_message)) as cli:
        cli.send(b"x")
        with pytest.raises(smipc.Closed):
            cli.recv(timeout=60)

def test_its_server_returns(smipc_serve):
    name = smipc_serve(serves_once)
    with smipc.Client(name) as cli:
        cli.send(b"x")
        assert cli.recv(timeout=60) == b"x"
    assert name.process.join(timeout=60) == 0

def test_it_kills_its_server(smipc_serve):
    name = smipc_serve(serves_once)
    assert name.process.kill() == -signal.SIGKILL

def test_its_server_runs_on(smipc_serve):
    smipc_serve(stubborn, os.environ["FIFO"])
'''


def test_teardown_stops_servers_and_reports_those_that_failed(pytester, request,
                                                             monkeypatch, tmp_path):
    # with the plugin's own example, as its docstring has it
    pytester.makepyfile(test_inner=INNER_TESTS + docstring_example())
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # Our end, open before the run: its read says end-of-file only once every process
    # that opened the other end is gone.
    watch = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        monkeypatch.setenv("FIFO", str(fifo))
        result = pytester.runpytest_subprocess(*plugin_args(request), "-p", "no:cacheprovider",
                                               "-v", timeout=300)
        out = result.stdout.str()
        result.assert_outcomes(passed=5, errors=1)
        assert "test_inner.py::test_echo PASSED" in out, out
        # the server that broke fails its test at teardown, saying how
        assert "ERROR at teardown of test_its_server_breaks_during_the_test" in out, out
        assert "breaks_on_a_message" in out and "exited with code 1" in out, out
        assert "RuntimeError: the server broke" in out, out
        # the stubborn server and the program it started are gone (SIGKILL after the
        # SIGTERM it ignored); a process left running would hold the FIFO open
        readable, _, _ = select.select([watch], [], [], 120)
        assert readable and os.read(watch, 1) == b"", "a served process outlived its test"
    finally:
        os.close(watch)


# --- smipc_spawn ---------------------------------------------------------------------

def test_a_spawned_function_may_start_processes_of_its_own(smipc_server, smipc_spawn):
    child = smipc_spawn(start_own_children, smipc_server.name, 2)
    for _ in range(4):  # two grandchildren, two messages each
        msg = smipc_server.recv(timeout=30)
        smipc_server.send(msg.client, msg.data, timeout=10)
    assert child.join(timeout=60) == 0
