"""asyncio support: receive by waiting on the handle's descriptor with loop.add_reader,
so ``await client.recv()`` and ``async for msg in server`` use no threads and never poll.

    async with await smipc.aio.Client.connect("demo") as cli:
        await cli.send(b"hi")
        print(await cli.recv())

    async with smipc.aio.Server("demo") as srv:
        async for msg in srv:
            await srv.send(msg.client, msg.data)

A send normally completes at once; only when the peer's ring is full does it wait, in the
loop's default executor, so the event loop never blocks.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, List, Optional, TypeVar, Union

from . import _core
from ._core import BytesLike, Message
from ._errors import Timeout

T = TypeVar("T")


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: "asyncio.Future[None]" = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def _recv(handle: Any, attempt: Callable[[], T], timeout: Optional[float]) -> T:
    fd = handle.fileno()

    async def until_done() -> T:
        while True:
            try:
                return attempt()  # timeout 0: never blocks the loop
            except Timeout:
                await _readable(fd)  # the descriptor may wake spuriously: try again

    if timeout is None:
        return await until_done()
    try:
        return await asyncio.wait_for(until_done(), timeout)
    except asyncio.TimeoutError:
        raise Timeout(f"nothing received in {timeout} s") from None


async def _send(call: Callable[[Optional[float]], Any], timeout: Optional[float]) -> Any:
    try:
        return call(0)
    except Timeout:
        if timeout == 0:
            raise
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, call, timeout)


class Client:
    """An asyncio client. Make one with ``await Client.connect(name)``."""

    def __init__(self, client: _core.Client) -> None:
        self.sync = client

    @classmethod
    async def connect(cls, name: Union[str, bytes], *, timeout: Optional[float] = None
                      ) -> "Client":
        loop = asyncio.get_running_loop()
        # The handshake is short, but a busy server could make it wait.
        cli = await loop.run_in_executor(None, lambda: _core.Client(name, timeout=timeout))
        return cls(cli)

    @property
    def id(self) -> int:
        return self.sync.id

    async def recv(self, timeout: Optional[float] = None) -> bytes:
        return await _recv(self.sync, lambda: self.sync.recv(timeout=0), timeout)

    async def send(self, data: BytesLike, timeout: Optional[float] = None) -> None:
        await _send(lambda t: self.sync.send(data, timeout=t), timeout)

    def close(self) -> None:
        self.sync.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[bytes]:
        while True:
            yield await self.recv()


class Server:
    """An asyncio server; takes the same arguments as smipc.Server."""

    def __init__(self, name: Union[str, bytes], **config: Any) -> None:
        self.sync = _core.Server(name, **config)

    async def recv(self, timeout: Optional[float] = None) -> Message:
        return await _recv(self.sync, lambda: self.sync.recv(timeout=0), timeout)

    async def send(self, client: int, data: BytesLike, timeout: Optional[float] = None) -> None:
        await _send(lambda t: self.sync.send(client, data, timeout=t), timeout)

    async def broadcast(self, data: BytesLike, timeout: Optional[float] = None) -> int:
        delivered: int = await _send(lambda t: self.sync.broadcast(data, timeout=t), timeout)
        return delivered

    def clients(self) -> List[int]:
        return self.sync.clients()

    def close(self) -> None:
        self.sync.close()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        while True:
            yield await self.recv()
