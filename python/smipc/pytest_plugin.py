"""pytest fixtures for tests that script smipc servers and clients (registered through
the ``pytest11`` entry point when smipc is installed; else ``-p smipc.pytest_plugin``).

    def echo(name):                        # runs in another process
        with smipc.Client(name) as cli:
            cli.send(b"ping")
            assert cli.recv(timeout=5) == b"pong"

    def test_echo(smipc_server, smipc_spawn):
        child = smipc_spawn(echo, smipc_server.name)
        msg = smipc_server.recv(timeout=5)
        smipc_server.send(msg.client, b"pong")
        assert child.join(timeout=10) == 0

Fixtures:
  smipc_name    a server name no other test uses, in a runtime directory of its own
  smipc_server  a smipc.Server on smipc_name, closed after the test
  smipc_spawn   starts fn(*args) in a new process ("spawn": nothing inherited), which may
                start processes itself; returns a handle with .join(timeout) -> exit
                code; leftovers are killed after the test
"""
from __future__ import annotations

import multiprocessing
import os
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from ._core import Server


@pytest.fixture
def smipc_name(tmp_path_factory: pytest.TempPathFactory,
               monkeypatch: pytest.MonkeyPatch) -> str:
    runtime = tmp_path_factory.mktemp("smipc-run")
    os.chmod(runtime, 0o700)
    monkeypatch.setenv("SMIPC_DIR", str(runtime))
    return f"test-{uuid.uuid4().hex[:12]}"


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


def _run(fn: Callable[..., Any], env: Dict[str, str], args: Tuple[Any, ...]) -> None:
    os.environ.update(env)
    fn(*args)


@pytest.fixture
def smipc_spawn() -> Iterator[Callable[..., SpawnedProcess]]:
    ctx = multiprocessing.get_context("spawn")
    started: List[SpawnedProcess] = []

    def spawn(fn: Callable[..., Any], *args: Any) -> SpawnedProcess:
        env = {k: v for k, v in os.environ.items() if k.startswith("SMIPC_")}
        # Not daemonic: fn may start processes of its own (a daemonic process may not);
        # the fixture kills whatever is still running after the test instead.
        p = ctx.Process(target=_run, args=(fn, env, args))
        p.start()
        started.append(SpawnedProcess(p))
        return started[-1]

    yield spawn
    for s in started:
        if s.process.is_alive():
            s.kill()
