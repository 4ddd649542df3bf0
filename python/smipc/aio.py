"""asyncio support: receive by waiting on the handle's descriptor with loop.add_reader,
so ``await client.recv()`` and ``async for msg in server`` use no threads and never poll.

    async with await smipc.aio.Client.connect("demo") as cli:
        await cli.send(b"hi")
        print(await cli.recv())

    async with smipc.aio.Server("demo") as srv:
        async for msg in srv:
            await srv.send(msg.client, msg.data)

Timeouts are seconds, as in the blocking API: None (the default) waits for ever, 0
takes only what is there now (or sends only if there is room now), and a positive number
waits at most that long, then raises smipc.Timeout; a negative one is InvalidArgument.
A waiting call also ends when its task is cancelled (task.cancel(), asyncio.wait_for,
asyncio.timeout), as described below. Errors are the blocking API's: smipc.Closed,
smipc.Timeout, ... Each handle is used from one event loop (close() may come from any
thread). ``.sync`` is the blocking handle underneath, for what the loop need not wait on.

Any number of tasks may wait on one handle: a single reader on its descriptor wakes them
all, and each tries again. Every call happens once: a receive takes a message only in a
call that cannot block, so a task cancelled while it waits has taken nothing; a send
that fits in the ring goes whole or not at all, at once when there is room, else from a
worker thread that tries again in short slices until there is, and stops at the next
slice when the task is cancelled (the message is then never sent, or, if the slice in
progress sent it, the send returns as done). A message larger than the ring streams from
a worker in one call with the whole timeout; a cancellation tells that call to give up
(smipc_*_cancel_sends: the part that went is aborted, the peer never sees it) and waits
the few milliseconds until it has, unless the message went whole first. close()
wakes every waiting task with Closed and removes the reader before the descriptor goes.
"""
from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from typing import Any, AsyncIterator, Callable, List, Optional, Set, Tuple, TypeVar, Union

from . import _core
from ._core import BytesLike, Joined, Left, Message, Received
from ._errors import Closed, NoSuchClient, ProtocolError, Timeout, error_for
from ._smipc_cffi import lib

T = TypeVar("T")

log = logging.getLogger("smipc.aio")

# How long a worker thread's send waits for room before it looks for a cancellation.
_SLICE = 0.05


def _deadline(loop: asyncio.AbstractEventLoop, timeout: Optional[float]) -> Optional[float]:
    _core._timeout_ms(timeout)  # the same checks and errors as the blocking calls
    if timeout is None or timeout == math.inf:
        return None
    return loop.time() + timeout


class _Readiness:
    """One reader on a handle's descriptor, registered while any task waits, that wakes
    every waiting task at once; close() wakes them with Closed."""

    def __init__(self, handle: _core._Handle) -> None:
        self._handle = handle
        self._waiters: Set["asyncio.Future[None]"] = set()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._fd: Optional[int] = None
        self.closed = False

    async def wait(self, loop: asyncio.AbstractEventLoop, timeout: Optional[float]) -> None:
        """Until the descriptor is readable, timeout seconds pass (None: no limit) or
        close(); may return spuriously."""
        if self.closed:
            raise self._handle._closed()
        if self._fd is None:
            self._fd = self._handle.fileno()  # Closed if closed meanwhile
            loop.add_reader(self._fd, self._wake)
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("an smipc.aio handle is waited on from two event loops")
        ready: "asyncio.Future[None]" = loop.create_future()
        self._waiters.add(ready)
        timer = None if timeout is None else loop.call_later(timeout, _resolve, ready)
        try:
            await ready
        finally:
            if timer is not None:
                timer.cancel()
            self._waiters.discard(ready)
            if not self._waiters:
                self._remove_reader()

    def _wake(self) -> None:
        # Every waiter tries again; the descriptor is level-triggered, so the reader goes
        # until one of them waits again (it stays readable while a message is queued).
        waiters, self._waiters = self._waiters, set()
        self._remove_reader()
        for w in waiters:
            _resolve(w)

    def _remove_reader(self) -> None:
        if self._fd is not None and self._loop is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
            self._fd = None

    def close(self) -> None:
        self.closed = True
        waiters, self._waiters = self._waiters, set()
        self._remove_reader()
        for w in waiters:
            if not w.done():
                w.set_exception(self._handle._closed())

    @property
    def loop(self) -> Optional[asyncio.AbstractEventLoop]:
        return self._loop


def _resolve(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


class _Async:
    """What the asyncio client and server share: receiving, sending, closing."""

    sync: _core._Handle

    def _setup(self) -> None:
        self._ready = _Readiness(self.sync)
        self._ring_bytes: Optional[int] = None

    async def _receive(self, attempt: Callable[[], T], timeout: Optional[float]) -> T:
        loop = asyncio.get_running_loop()
        deadline = _deadline(loop, timeout)
        while True:
            if self._ready.closed:
                raise self.sync._closed()
            try:
                return attempt()  # timeout 0: takes a message or nothing, never blocks
            except Timeout:
                pass
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                raise error_for(lib.SMIPC_ETIMEDOUT, f"nothing received in {timeout} s")
            await self._ready.wait(loop, left)

    async def _send(self, call: Callable[[float], Any], size: int,
                    timeout: Optional[float], cancel: Callable[[], None]) -> Any:
        """call(t) sends once with timeout t (seconds); it is never repeated after a try
        that may have sent anything. cancel() makes such a call in a worker give up."""
        loop = asyncio.get_running_loop()
        deadline = _deadline(loop, timeout)
        if self._ring_bytes is None:
            self._ring_bytes = self.sync._ring_bytes()
        if size > self._ring_bytes or timeout == 0:
            # Larger than the ring: it streams, and a timeout would cut it off, so one
            # call does it all, with the whole timeout.
            if timeout == 0:
                return call(0)
            return await _in_worker(loop, _Whole(call, timeout, cancel), None)
        try:
            return call(0)  # fits: sent whole, or nothing at all
        except Timeout:
            pass
        return await _in_worker(loop, None, _Sliced(call, deadline, loop))

    def close(self) -> None:
        """Closes the handle: tasks waiting on it raise Closed, the reader goes, and
        calls running in worker threads are woken (they raise Closed). From any thread
        (it is handed to the loop's thread), a second time, or after the loop ended."""
        loop = self._ready.loop
        if loop is not None and not loop.is_closed() and _running_loop() is not loop:
            try:
                loop.call_soon_threadsafe(self.close)  # the reader belongs to that loop
                return
            except RuntimeError:  # the loop closed meanwhile
                pass
        self._ready.close()  # before the descriptor goes with the handle
        self.sync.close()

    @property
    def closed(self) -> bool:
        """Whether close() was called (or the handle is otherwise gone)."""
        return self.sync.closed


def _size(data: BytesLike) -> int:
    """The message's length in bytes; TypeError unless data is bytes-like. (The sync
    call gets data itself: it takes bytes-like objects, not what CFFI made of them.)"""
    if type(data) is bytes:
        return len(data)
    with memoryview(data) as view:
        return view.nbytes


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Sliced:
    """A send of a message that fits the ring, from a worker thread: waits for room in
    slices of _SLICE seconds (each try sends the whole message or nothing) and stops at
    the next slice once cancelled."""

    def __init__(self, call: Callable[[float], Any], deadline: Optional[float],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.call, self.deadline, self.loop = call, deadline, loop
        self.cancelled = threading.Event()
        self.sent = False

    def __call__(self) -> Any:
        while not self.cancelled.is_set():
            t = _SLICE
            if self.deadline is not None:
                t = min(t, max(0.0, self.deadline - self.loop.time()))
            try:
                result = self.call(t)
            except Timeout:
                if self.deadline is not None and self.loop.time() >= self.deadline:
                    raise
                continue
            self.sent = True
            return result
        return None


class _Whole:
    """A send of a message larger than the ring, from a worker thread, in one call:
    cancelled, it is told to give up (the part that went is aborted)."""

    def __init__(self, call: Callable[[float], Any], timeout: Optional[float],
                 cancel: Callable[[], None]) -> None:
        self.call, self.timeout, self.cancel = call, timeout, cancel
        self.cancelled = threading.Event()
        self.sent = False

    def __call__(self) -> Any:
        result = self.call(math.inf if self.timeout is None else self.timeout)
        self.sent = True
        return result


async def _in_worker(loop: asyncio.AbstractEventLoop, whole: Optional[_Whole],
                     sliced: Optional[_Sliced]) -> Any:
    fn: Union[_Whole, _Sliced, None] = whole if sliced is None else sliced
    assert fn is not None
    work = loop.run_in_executor(None, fn)
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        # The work cannot be taken back from the thread: tell it to stop (a slice sends
        # whole or nothing; a whole message is aborted where it got to) and wait until
        # it has, so nothing is sent after this task has been told it was not.
        fn.cancelled.set()
        if whole is not None:
            whole.cancel()
        try:
            result = await _wait_uncancellable(work)
        except Exception:
            raise asyncio.CancelledError() from None
        if fn.sent:
            return result  # it went before the cancellation could stop it
        raise


async def _wait_uncancellable(fut: "asyncio.Future[Any]") -> Any:
    while True:
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            if fut.done():
                return fut.result()


def _close_unwanted(work: "asyncio.Future[_core.Client]") -> None:
    if not work.cancelled() and work.exception() is None:
        work.result().close()


class Client(_Async):
    """An asyncio client: a connection to the server that owns a name. Make one with
    ``await Client.connect(name)`` (or wrap a connected smipc.Client: ``Client(cli)``).
    ``async with`` closes it; ``async for data in cli`` yields every message from the
    server until the client is closed, and raises Closed when the server goes."""

    def __init__(self, client: _core.Client) -> None:
        self.sync: _core.Client = client
        self._setup()

    @classmethod
    async def connect(cls, name: Union[str, bytes], *, timeout: Optional[float] = None,
                      wait: bool = False) -> "Client":
        """Connects to the live server that owns name, as smipc.Client does, in a
        worker thread (a busy server may keep the handshake waiting).

        timeout: seconds for the whole connect (None: for ever), then Timeout.
        wait: False: NotFound at once when no server owns the name. True: first waits,
        up to the timeout, for a server to come up on it (as a harness does that
        starts its server in another process), then Timeout saying none did; it waits
        in short slices, so a cancellation ends the wait at once.
        A cancelled connect leaves no connection behind."""
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def connect() -> _core.Client:
            if not wait:
                # The handshake is short, but a busy server could make it wait.
                return _core.Client(name, timeout=timeout)
            end = None if timeout is None else time.monotonic() + timeout
            while True:
                left = _SLICE if end is None else min(_SLICE, max(0.0, end - time.monotonic()))
                try:
                    return _core.Client(name, timeout=left, wait=True)
                except Timeout:
                    if stop.is_set() or (end is not None and time.monotonic() >= end):
                        raise

        work = loop.run_in_executor(None, connect)
        try:
            cli = await asyncio.shield(work)
        except asyncio.CancelledError:
            stop.set()
            work.add_done_callback(_close_unwanted)  # connected after all: hang up
            raise
        return cls(cli)

    @property
    def id(self) -> int:
        """The id the server knows this client by (Message.client there)."""
        return self.sync.id

    async def recv(self, timeout: Optional[float] = None) -> bytes:
        """The next whole message from the server, as bytes. Waits on the descriptor
        (no thread) up to timeout seconds (None: for ever; 0: only a message already
        there), then Timeout. Closed when the server is gone (after its last message)
        or this client is closed. A cancelled receive has taken nothing."""
        return await self._receive(lambda: self.sync.recv(timeout=0), timeout)

    async def recv_msg(self, timeout: Optional[float] = None) -> Received:
        """As recv(), and says how the message was sent: smipc.Received(data,
        broadcast), broadcast True for a message the server broadcast to every client,
        False for one it sent to this client alone (a reply). Waits on the descriptor
        (no thread) up to timeout seconds (None: for ever; 0: only a message already
        there), then Timeout; Closed as recv(). A cancelled receive has taken nothing."""
        return await self._receive(lambda: self.sync.recv_msg(timeout=0), timeout)

    async def recv_into(self, buffer: BytesLike, timeout: Optional[float] = None) -> int:
        """Receives the next message from the server into buffer (any writable
        bytes-like object: bytearray, memoryview, array, mmap, numpy array), without
        copying it twice; returns its length in bytes. Waits on the descriptor (no
        thread) up to timeout seconds (None: for ever; 0: only a message already there),
        then Timeout; a cancelled receive has taken nothing. Raises BufferTooSmall (its ``.needed`` is the message's size) when the
        message does not fit, and the message stays queued for the next receive;
        TypeError for a read-only buffer; Timeout, Closed."""
        return await self._receive(lambda: self.sync.recv_into(buffer, timeout=0), timeout)

    async def send(self, data: BytesLike, timeout: Optional[float] = None) -> None:
        """Sends data (any bytes-like object) to the server as one message, once.
        Waits for room up to timeout seconds (None: for ever; 0: only if there is room
        now), then Timeout, and nothing was sent. Closed when the server is gone;
        MessageTooLarge past the server's max_message_size. A cancelled send is never
        sent afterwards (see the module's notes)."""
        n = _size(data)
        await self._send(lambda t: self.sync.send(data, timeout=t), n, timeout,
                         self.sync._cancel_sends)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[bytes]:
        """Every message from the server until this client is closed; Closed when the
        server goes."""
        while True:
            try:
                msg = await self.recv()
            except Closed:
                if self._ready.closed:
                    return
                raise
            yield msg


class Server(_Async):
    """An asyncio server owning ``name``; clients connect to it by the same name. It is
    open and accepting as soon as it is made. ``async with`` closes it; ``async for msg
    in srv`` yields every Message until it is closed, dropping (and logging) a client
    that breaks the protocol.

    Keywords, as smipc.Server's:
      max_clients       connected clients at most (default 64); more get Full
      packet_size       bytes per packet (default 4096; 64 .. 16 MiB)
      ring_packets      packets per ring, each way (default 64; 2 .. 65536); a message
                        larger than packet_size * ring_packets streams through
      max_message_size  the largest message either side may send (default 64 MiB)
      checksum          CRC32C on every packet (default True)
      allow_any_uid     accept clients of any user, not only this one (default False)
      events            recv_event() also tells of clients joining and leaving
                        (default False)
    Raises Exists when a live server owns the name, InvalidArgument for a bad name or
    value."""

    def __init__(self, name: Union[str, bytes], *, events: bool = False,
                 **config: Any) -> None:
        self.sync: _core.Server = _core.Server(name, events=events, **config)
        self._setup()

    @property
    def name(self) -> Union[str, bytes]:
        """The name the server owns, as given."""
        return self.sync.name

    async def recv(self, timeout: Optional[float] = None) -> Message:
        """The next whole message from any client (round-robin): Message(client, data).
        Waits on the descriptor (no thread) up to timeout seconds (None: for ever; 0:
        only a message already there), then Timeout. Closed once the server is closed.
        ProtocolError (with .client) once for a client that broke the protocol and was
        dropped. A cancelled receive has taken nothing."""
        return await self._receive(lambda: self.sync.recv(timeout=0), timeout)

    async def recv_event(self, timeout: Optional[float] = None) -> Union[Message, Joined, Left]:
        """On a server made with events=True: the next of the clients' messages
        (smipc.Message), joins (smipc.Joined(client), told before the client's first
        message) and departures (smipc.Left(client), told after its last message,
        whether it closed, died or was dropped), in order. Waits on the descriptor (no
        thread) up to timeout seconds (None: for ever; 0: only what is there already),
        then Timeout. A cancelled wait has taken nothing. InvalidArgument on a server
        made without events; Closed and ProtocolError as recv(). (recv() and
        ``async for`` pass joins and departures over.)"""
        return await self._receive(lambda: self.sync.recv_event(timeout=0), timeout)

    async def recv_into(self, buffer: BytesLike,
                        timeout: Optional[float] = None) -> Tuple[int, int]:
        """Receives the next message from any client into buffer (any writable
        bytes-like object), without copying it twice: (client, nbytes). Waits on the
        descriptor (no thread) up to timeout seconds (None: for ever; 0: only a message
        already there), then Timeout; a cancelled receive has taken nothing. Raises BufferTooSmall (its ``.needed`` is the message's
        size) when the message does not fit, and the message stays queued for the next
        receive; TypeError for a read-only buffer; Timeout, Closed, ProtocolError."""
        return await self._receive(lambda: self.sync.recv_into(buffer, timeout=0), timeout)

    async def send(self, client: int, data: BytesLike, timeout: Optional[float] = None) -> None:
        """Sends data (any bytes-like object) as one message to one client (its id),
        once. Waits for room up to timeout seconds (None: for ever; 0: only if there is
        room now), then Timeout, and nothing was sent. NoSuchClient when no client has
        that id (it left), Closed once the server is closed. A cancelled send is never
        sent afterwards."""
        n = _size(data)
        await self._send(lambda t: self.sync.send(client, data, timeout=t), n, timeout,
                         lambda: self.sync._cancel_sends(client))

    async def broadcast(self, data: BytesLike, timeout: Optional[float] = None) -> int:
        """Sends data to every connected client, once each, all within timeout seconds
        (None: for ever; 0: only to those with room now); returns how many got it. A
        client with no room in time makes it raise Timeout with ``.delivered``, how many
        got it all the same; clients that left meanwhile are not counted."""
        n = _size(data)

        def to(client: int) -> Callable[[float], None]:
            return lambda t: self.sync.send(client, data, timeout=t)

        def cancel(client: int) -> Callable[[], None]:
            return lambda: self.sync._cancel_sends(client)

        results = await asyncio.gather(*(self._send(to(c), n, timeout, cancel(c))
                                         for c in self.sync.clients()),
                                       return_exceptions=True)
        delivered = sum(1 for r in results if r is None)
        failures = [r for r in results
                    if isinstance(r, BaseException) and not isinstance(r, (Closed, NoSuchClient))]
        for r in failures:
            if not isinstance(r, Exception):
                raise r  # CancelledError, KeyboardInterrupt
        if failures:
            exc = failures[0]
            exc.delivered = delivered  # type: ignore[attr-defined]
            raise exc
        if self.sync.closed:
            raise self.sync._closed()
        return delivered

    def clients(self) -> List[int]:
        """The ids of the clients connected now."""
        return self.sync.clients()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Message]:
        """Every message from every client, until the server is closed. A client that
        breaks the protocol is dropped (and logged), and the others are served on."""
        while True:
            try:
                msg = await self.recv()
            except ProtocolError as e:
                log.warning("smipc server %r: dropped client %s: %s", self.sync.name,
                            e.client, e)
                continue
            except Closed:
                if self._ready.closed:
                    return
                raise
            yield msg
