"""pytest fixtures for tests that script smipc servers and clients (registered through
the ``pytest11`` entry point when smipc is installed; else ``-p smipc.pytest_plugin``).

The commonest harness, a server in a child process and the client in the test::

    import smipc

    def echo_server(name):                  # runs in a child process
        with smipc.Server(name) as srv:
            while True:
                msg = srv.recv()
                srv.send(msg.client, msg.data)

    def test_echo(smipc_serve):
        name = smipc_serve(echo_server)      # returns once the server is live
        with smipc.Client(name, wait=True, timeout=10) as cli:
            cli.send(b"ping")
            assert cli.recv(timeout=10) == b"ping"

The other way round, a server in the test and a client in a child process::

    def ping_client(name):                  # runs in another process
        with smipc.Client(name) as cli:
            cli.send(b"ping")
            assert cli.recv(timeout=5) == b"pong"

    def test_ping(smipc_server, smipc_spawn):
        child = smipc_spawn(ping_client, smipc_server.name)
        msg = smipc_server.recv(timeout=5)
        smipc_server.send(msg.client, b"pong")
        assert child.join(timeout=10) == 0

Fixtures:

smipc_name
    A server name no other test uses, in a runtime directory of the test's own
    (``SMIPC_DIR`` is set for the test, and the child processes below inherit it).

smipc_server
    A ``smipc.Server`` on ``smipc_name``, closed after the test.

smipc_serve
    ``smipc_serve(fn, *args, timeout=30)`` runs ``fn(name, *args)`` in a new process and
    returns ``name``, a fresh server name, once a server is live on it; ``fn`` opens
    that server itself (``smipc.Server(name, ...)`` with any configuration, or by
    starting a program that does, such as a C server given the name). The test then
    connects with ``smipc.Client(name)`` (``wait=True`` does no harm), as many times as
    it likes, and may call ``smipc_serve`` again for more servers.

    - The process is started with "spawn" (it inherits nothing but the environment), so
      ``fn`` and ``args`` must be picklable: a function defined at the top level of a
      module, not a lambda or a nested function.
    - Waiting for the server is a watch on the runtime directory, not a retry loop, and
      it never connects as a client: the server sees no extra client come and go.
    - If the process ends before serving, or has not served after ``timeout`` seconds,
      ``smipc_serve`` raises ``ServeError``, saying why: the exit code (or the signal),
      and the traceback when ``fn`` raised.
    - After the test the process is stopped: SIGTERM, and SIGKILL after 5 s, to its
      whole process group, so programs ``fn`` started go with it; then it is reaped.
    - A process that ended on its own with an error during the test (an exception in
      ``fn``, a non-zero exit, a crash) makes the test fail at teardown with the
      exit code and traceback. One that returned normally is fine.
    - The returned name is a ``str`` with one extra attribute, ``.process`` (a
      ``ServerProcess``: ``.pid``, ``.exitcode``, ``.join(timeout)``, ``.stop()``,
      ``.kill()``), for tests of what a client sees when its server goes. A process
      the test stopped or killed itself is not reported as a failure.

smipc_spawn
    ``smipc_spawn(fn, *args)`` starts ``fn(*args)`` in a new process ("spawn": nothing
    inherited but the environment), which may start processes itself; returns a
    ``SpawnedProcess`` with ``.join(timeout)`` -> exit code; leftovers are killed after
    the test.
"""
from __future__ import annotations

import ctypes
import faulthandler
import multiprocessing
import multiprocessing.connection
import os
import select
import shutil
import signal
import socket
import tempfile
import time
import traceback
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from ._core import Server
from ._errors import strerror
from ._smipc_cffi import ffi, lib


@pytest.fixture
def smipc_name(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # Directly in the temporary directory, not pytest's (much deeper) tmp_path: a socket's
    # path must fit in 108 bytes.
    runtime = tempfile.mkdtemp(prefix="smipc-test-")  # owner-only
    monkeypatch.setenv("SMIPC_DIR", runtime)
    yield f"test-{uuid.uuid4().hex[:12]}"
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def smipc_server(smipc_name: str) -> Iterator[Server]:
    with Server(smipc_name) as srv:
        yield srv


class SpawnedProcess:
    """A function running in another process."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self.process = process

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid

    def join(self, timeout: Optional[float] = None) -> Optional[int]:
        """Waits for the process; its exit code (None if still running)."""
        self.process.join(timeout)
        return self.process.exitcode

    def kill(self) -> None:
        self.process.kill()
        self.process.join()


def _environment() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("SMIPC_")}


def _run(fn: Callable[..., Any], env: Dict[str, str], args: Tuple[Any, ...]) -> None:
    os.environ.update(env)
    fn(*args)


def _start(process: multiprocessing.process.BaseProcess, fixture: str) -> None:
    try:
        process.start()
    except (AttributeError, TypeError, ValueError) as e:  # what pickling raises
        raise TypeError(f"{fixture} runs the function in a spawned process, so it and its "
                        f"arguments must be picklable (a function defined at the top level "
                        f"of a module, not a lambda or a nested function): {e}") from None


@pytest.fixture
def smipc_spawn() -> Iterator[Callable[..., SpawnedProcess]]:
    ctx = multiprocessing.get_context("spawn")
    started: List[SpawnedProcess] = []

    def spawn(fn: Callable[..., Any], *args: Any) -> SpawnedProcess:
        # Not daemonic: fn may start processes of its own (a daemonic process may not);
        # the fixture kills whatever is still running after the test instead.
        p = ctx.Process(target=_run, args=(fn, _environment(), args))
        _start(p, "smipc_spawn")
        started.append(SpawnedProcess(p))
        return started[-1]

    yield spawn
    for s in started:
        if s.process.is_alive():
            s.kill()


# --- smipc_serve ---------------------------------------------------------------------

_STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
_REPORT_MAX = 8000  # characters of a traceback sent back (well within a pipe's buffer)


class ServeError(Exception):
    """A server process of ``smipc_serve`` ended before it served (or never served in
    time), or failed during the test. ``exitcode`` is its exit code (negative: the
    signal that killed it; None: still running), ``report`` the traceback of what fn
    raised, if any."""

    def __init__(self, message: str, exitcode: Optional[int] = None,
                 report: Optional[str] = None) -> None:
        super().__init__(message + (f"\n\n{report}" if report else ""))
        self.exitcode = exitcode
        self.report = report


def _serve_child(fn: Callable[..., Any], name: str, args: Tuple[Any, ...],
                 env: Dict[str, str], report: multiprocessing.connection.Connection) -> None:
    os.environ.update(env)
    os.setpgid(0, 0)  # a group of its own: the teardown stops what fn starts too
    faulthandler.enable()  # a crash in C prints the Python stack on stderr
    try:
        fn(name, *args)
    except SystemExit as e:
        if e.code not in (None, 0):
            report.send(f"fn called sys.exit({e.code!r})")
        raise
    except BaseException:
        report.send(traceback.format_exc()[-_REPORT_MAX:])
        raise


class ServerProcess:
    """The process of one ``smipc_serve`` call."""

    def __init__(self, process: multiprocessing.process.BaseProcess,
                 report: multiprocessing.connection.Connection, what: str, path: str) -> None:
        self.process = process
        self.path = path
        self._report = report
        self.what = what
        self.stopped = False  # by the test or the fixture: its end is no failure

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid

    @property
    def exitcode(self) -> Optional[int]:
        """None while it runs; negative: killed by that signal."""
        return self.process.exitcode

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def join(self, timeout: Optional[float] = None) -> Optional[int]:
        """Waits for the process to end (up to timeout seconds); its exit code, None if
        it still runs."""
        self.process.join(timeout)
        return self.process.exitcode

    def _signal(self, sig: int) -> None:
        pid = self.process.pid
        if pid is None:
            return
        try:
            os.killpg(pid, sig)  # its group, made by the child itself
        except (ProcessLookupError, PermissionError):
            pass
        if self.process.exitcode is None:
            try:
                os.kill(pid, sig)  # in case it had not made its group yet
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = _STOP_GRACE) -> Optional[int]:
        """Stops the process and what it started (SIGTERM to its process group, SIGKILL
        after timeout seconds) and reaps it; its exit code."""
        self.stopped = True
        self._signal(signal.SIGTERM)
        self.process.join(timeout)
        self._signal(signal.SIGKILL)  # stragglers in its group, or the process itself
        self.process.join()
        return self.process.exitcode

    def kill(self) -> Optional[int]:
        """SIGKILL to the process and its group, at once; reaps it; its exit code."""
        self.stopped = True
        self._signal(signal.SIGKILL)
        self.process.join()
        return self.process.exitcode

    def failure(self) -> Optional[ServeError]:
        """Why the process failed, once it ended on its own with an error; else None."""
        code = self.process.exitcode
        if code is None or code == 0 or self.stopped:
            return None
        return ServeError(f"smipc_serve: {self.what} {_ended(code)}", code, self._tale())

    def _tale(self) -> Optional[str]:
        try:
            if self._report.poll():
                tale: str = self._report.recv()
                return tale
        except (EOFError, OSError):
            pass
        return None

    def close(self) -> None:
        self._report.close()


def _ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name} (exit code {code})"
        except ValueError:
            return f"was killed by signal {-code} (exit code {code})"
    return f"exited with code {code}"


class Served(str):
    """The name smipc_serve returned; ``.process`` is its server's process."""

    process: ServerProcess

    def __reduce__(self) -> Tuple[Any, ...]:
        return (str, (str(self),))  # passed to another process, it is just the name


def _socket_path(name: str) -> str:
    path = ffi.new("char[]", 4096)
    rc = lib.smipc_name_path(name.encode(), path, 4096)
    if rc:
        raise ServeError(f"smipc_serve: no socket path for {name!r} in the runtime directory "
                         f"{os.environ.get('SMIPC_DIR')!r}: {strerror(rc)} (a socket's path "
                         f"must fit in 108 bytes)")
    path_of: str = ffi.string(path).decode()
    return path_of


_IN_ATTRIB, _IN_MOVED_TO, _IN_CREATE = 0x4, 0x80, 0x100


def _watch(directory: str) -> int:
    """An inotify descriptor that becomes readable when something appears in directory
    (as smipc_client_connect_wait watches it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = int(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"inotify_init1: {os.strerror(err)}")
    if libc.inotify_add_watch(fd, os.fsencode(directory),
                              _IN_CREATE | _IN_MOVED_TO | _IN_ATTRIB) < 0:
        err = ctypes.get_errno()
        os.close(fd)
        raise OSError(err, f"inotify_add_watch {directory}: {os.strerror(err)}")
    return fd


def _accepts(path: str) -> bool:
    """Whether a server listens on path. A bare connect, closed at once: the server
    drops it as a probe, never a client."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:  # its backlog is full: it listens all the same
            return True
        except (FileNotFoundError, ConnectionRefusedError):
            return False
        return True


def _wait_live(path: str, proc: ServerProcess, name: str, timeout: float) -> None:
    """Until a server listens on path; ServeError as soon as the process ends first, or
    when timeout seconds pass."""
    ino = _watch(os.path.dirname(path))  # before the first look: nothing is missed
    try:
        end = time.monotonic() + timeout
        recheck = 0.001
        while True:
            if _accepts(path):
                return
            if not proc.is_alive():
                code = proc.join()
                failure = proc.failure()
                proc.stopped = True  # reported here, not again at teardown
                how = _ended(code) if code else "returned (exit code 0)"
                raise ServeError(f"smipc_serve: {proc.what} {how} before it served {name!r}",
                                 code, failure.report if failure else None)
            left = end - time.monotonic()
            if left <= 0:
                proc.stop()
                raise ServeError(f"smipc_serve: {proc.what} did not serve {name!r} within "
                                 f"{timeout} s (it must open smipc.Server(name) on the name "
                                 f"it is given); stopped it")
            if os.path.exists(path):
                # bound but not listening yet: no event will come for the listen
                left = min(left, recheck)
                recheck = min(recheck * 2, 0.1)
            readable, _, _ = select.select([ino, proc.process.sentinel], [], [], left)
            if ino in readable:
                try:
                    while os.read(ino, 4096):
                        pass
                except BlockingIOError:
                    pass
                recheck = 0.001
    finally:
        os.close(ino)


@pytest.fixture
def smipc_serve(smipc_name: str) -> Iterator[Callable[..., Served]]:
    ctx = multiprocessing.get_context("spawn")
    started: List[ServerProcess] = []

    def serve(fn: Callable[..., Any], *args: Any, timeout: float = 30.0) -> Served:
        name = Served(f"serve-{uuid.uuid4().hex[:12]}")
        path = _socket_path(name)
        report, child_end = ctx.Pipe(duplex=False)
        call = ", ".join(repr(a) for a in (str(name),) + args)
        what = f"{getattr(fn, '__qualname__', fn)!s}({call[:200]})"
        # Not daemonic: fn may start processes of its own (a daemonic process may not).
        p = ctx.Process(target=_serve_child, args=(fn, str(name), args, _environment(),
                                                   child_end), name=f"smipc_serve {name}")
        try:
            _start(p, "smipc_serve")
        finally:
            child_end.close()
        proc = ServerProcess(p, report, what, path)
        started.append(proc)
        name.process = proc
        _wait_live(path, proc, name, timeout)
        return name

    yield serve
    failures = []
    for proc in started:
        if proc.is_alive() and not proc.stopped and not _accepts(proc.path):
            # Its server is gone, so it is most likely on its way out (fn raised, and
            # leaving the with block closed the server): let it finish and say how.
            proc.join(_STOP_GRACE)
        failure = proc.failure()  # None while it runs
        if failure is not None:
            failures.append(str(failure))
        proc.stop()  # what it started may still run
        proc.close()
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
