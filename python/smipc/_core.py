"""Server, Client and Message over the C library. Every blocking call releases the GIL
(CFFI's API mode drops it around each C call)."""
from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, List, NamedTuple, Optional, Tuple, Union

from ._errors import BufferTooSmall, Closed, InvalidArgument, check, error_for
from ._smipc_cffi import ffi, lib

# Anything with the buffer protocol: bytes, bytearray, memoryview, array, mmap, numpy...
BytesLike = Union[bytes, bytearray, memoryview, Any]

_SCRATCH_SIZE = 64 * 1024
_alloc = ffi.new_allocator(should_clear_after_alloc=False)


class _Scratch(threading.local):
    """A receive buffer and length cells per thread, so small messages allocate nothing:
    cells is (buffer, length, sender), one lookup of the thread-local."""

    def __init__(self) -> None:
        self.cells = (_alloc("char[]", _SCRATCH_SIZE), ffi.new("size_t *"),
                      ffi.new("smipc_client_id *"))


_scratch = _Scratch()


def _timeout_ms(timeout: Optional[float]) -> int:
    if timeout is None:
        return -1
    if timeout != timeout or timeout < 0:
        raise InvalidArgument(f"timeout must be None or at least 0 seconds, not {timeout!r}")
    if timeout == 0:
        return 0
    return min(math.ceil(timeout * 1000), 2**31 - 1)


def _deadline(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else time.monotonic() + timeout


def _left(deadline: Optional[float]) -> int:
    if deadline is None:
        return -1
    return _timeout_ms(max(0.0, deadline - time.monotonic()))


def _readable(data: BytesLike) -> Tuple[Any, int]:
    """What the C library gets for data, and its length in bytes: bytes as they are (CFFI
    passes a pointer to their contents), anything else through its buffer."""
    if type(data) is bytes:
        return data, len(data)
    src = ffi.from_buffer(data)
    return src, len(src)


def _writable(buffer: BytesLike) -> Any:
    try:
        return ffi.from_buffer(buffer, require_writable=True)
    except BufferError:
        # as io's readinto() says it
        raise TypeError(f"recv_into needs a writable bytes-like object, not "
                        f"{type(buffer).__name__}") from None


def _name(name: Union[str, bytes]) -> bytes:
    raw = name.encode() if isinstance(name, str) else bytes(name)
    if b"\0" in raw:
        raise InvalidArgument(f"a name cannot contain NUL: {name!r}")
    return raw


class Message(NamedTuple):
    """A message a server received: who sent it, and its bytes."""

    client: int
    data: bytes


class _Handle:
    """A C handle that may be closed while other threads still use it: the real close
    happens when the last call in flight returns.

    Calls in flight are counted without a lock, since two lock round trips per call were
    a good part of a 64-byte round trip's cost from Python. A call first counts itself in,
    then looks for a close; close() first marks the handle closing, then looks at the
    count. Whichever comes second sees the other, so no call starts on a destroyed
    handle, and the last one out (or close() itself) destroys it, once, under the lock."""

    _kind = "handle"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._h: Any = None
        self._in_flight: List[int] = []  # one entry per call in flight (append/pop are atomic)
        self._closing = False

    def _enter(self) -> Any:
        self._in_flight.append(1)
        h = self._h
        if h is None or self._closing:
            self._leave()
            raise Closed(f"this {self._kind} is closed")
        return h

    def _leave(self) -> None:
        self._in_flight.pop()
        if self._closing:
            self._destroy_if_idle()

    def _destroy_if_idle(self) -> None:
        with self._lock:
            if not self._in_flight and self._h is not None:
                h, self._h = self._h, None
                self._destroy(h)

    def _destroy(self, h: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Closes the handle (at once, or when calls still running in other threads
        return). Closing twice is fine."""
        with self._lock:
            if self._h is None or self._closing:
                return
            self._closing = True
        self._destroy_if_idle()

    @property
    def closed(self) -> bool:
        return self._h is None or self._closing

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def _receive_larger(call: Callable[[Any, Any, int], int], lenp: Any, rc: int,
                    timeout: Optional[float]) -> Tuple[Any, int]:
    """After a receive into the scratch buffer said ETOOSMALL (or failed): asks again with a
    buffer of the size the library says, so ETOOSMALL never reaches recv()'s caller."""
    deadline = _deadline(timeout)
    buf = None
    while rc == lib.SMIPC_ETOOSMALL:
        buf = _alloc("char[]", max(lenp[0], 1))
        rc = call(buf, lenp, _left(deadline))
    check(rc)
    return buf, lenp[0]


class Server(_Handle):
    """A server owning ``name``. Clients connect to it by the same name.

    Receives round-robin over the clients; sends to one client or broadcasts to all.
    Accepts and reaps clients on its own thread, whatever this one is doing.
    """

    _kind = "Server"

    def __init__(self, name: Union[str, bytes], *, max_clients: int = 64,
                 packet_size: int = 4096, ring_packets: int = 64,
                 max_message_size: int = 64 << 20, checksum: bool = True,
                 allow_any_uid: bool = False) -> None:
        super().__init__()
        cfg = ffi.new("smipc_server_config *")
        lib.smipc_server_config_init(cfg)
        try:
            cfg.max_clients = max_clients
            cfg.packet_size = packet_size
            cfg.ring_packets = ring_packets
            cfg.max_message_size = max_message_size
        except (OverflowError, TypeError) as e:
            raise InvalidArgument(f"bad server configuration: {e}") from None
        cfg.flags = (0 if checksum else lib.SMIPC_NO_CHECKSUM) | (
            lib.SMIPC_ALLOW_ANY_UID if allow_any_uid else 0)
        out = ffi.new("smipc_server **")
        check(lib.smipc_server_open(out, _name(name), cfg), f"server {name!r}")
        self._h = out[0]
        self.name = name

    def _destroy(self, h: Any) -> None:
        lib.smipc_server_close(h)

    def recv(self, timeout: Optional[float] = None) -> Message:
        """The next whole message from any client (round-robin). Raises Timeout."""
        ms = -1 if timeout is None else _timeout_ms(timeout)
        h = self._enter()
        try:
            buf, lenp, frm = _scratch.cells
            lenp[0] = _SCRATCH_SIZE
            rc = lib.smipc_server_recv(h, frm, buf, lenp, ms)
            if rc == 0:
                return Message(frm[0], ffi.unpack(buf, lenp[0]))
            buf, n = _receive_larger(lambda b, lp, t: lib.smipc_server_recv(h, frm, b, lp, t),
                                     lenp, rc, timeout)
            return Message(frm[0], ffi.unpack(buf, n))
        finally:
            self._leave()

    def recv_into(self, buffer: BytesLike, timeout: Optional[float] = None) -> Tuple[int, int]:
        """Receives into a writable buffer without copying twice: (client, nbytes).
        Raises BufferTooSmall (with .needed) and leaves the message queued."""
        ms = _timeout_ms(timeout)
        dst = _writable(buffer)
        h = self._enter()
        try:
            frm = ffi.new("smipc_client_id *")
            lenp = ffi.new("size_t *", len(dst))
            rc = lib.smipc_server_recv(h, frm, dst, lenp, ms)
            if rc == lib.SMIPC_ETOOSMALL:
                exc = error_for(rc, f"message of {lenp[0]} bytes, buffer of {len(dst)}")
                exc.needed = int(lenp[0])  # type: ignore[attr-defined]
                raise exc
            check(rc)
            return int(frm[0]), int(lenp[0])
        finally:
            self._leave()

    def send(self, client: int, data: BytesLike, timeout: Optional[float] = None) -> None:
        """Sends one message to one client. Raises NoSuchClient, Closed, Timeout."""
        ms = -1 if timeout is None else _timeout_ms(timeout)
        src, n = _readable(data)
        h = self._enter()
        try:
            rc = lib.smipc_server_send(h, client, src, n, ms)
        finally:
            self._leave()
        if rc:
            raise error_for(rc, f"client {client}")

    def broadcast(self, data: BytesLike, timeout: Optional[float] = None) -> int:
        """Sends to every connected client; returns how many got it."""
        ms = _timeout_ms(timeout)
        src, n = _readable(data)
        h = self._enter()
        try:
            delivered = ffi.new("size_t *")
            check(lib.smipc_server_broadcast(h, src, n, ms, delivered), "broadcast")
            return int(delivered[0])
        finally:
            self._leave()

    def clients(self) -> List[int]:
        """The ids of the connected clients."""
        h = self._enter()
        try:
            count = ffi.new("size_t *")
            while True:
                cap = count[0] + 8
                ids = ffi.new("smipc_client_id[]", cap)
                check(lib.smipc_server_clients(h, ids, cap, count))
                if count[0] <= cap:
                    return [int(ids[i]) for i in range(count[0])]
        finally:
            self._leave()

    def fileno(self) -> int:
        """A descriptor that select()/poll()/asyncio report readable when recv would
        find a message. Owned by the server: never read or close it."""
        h = self._enter()
        try:
            return check(int(lib.smipc_server_fd(h)))
        finally:
            self._leave()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<smipc.Server {self.name!r}{' closed' if self.closed else ''}>"


class Client(_Handle):
    """A connection to the server that owns ``name``."""

    _kind = "Client"

    def __init__(self, name: Union[str, bytes], *, timeout: Optional[float] = None) -> None:
        super().__init__()
        out = ffi.new("smipc_client **")
        check(lib.smipc_client_connect(out, _name(name), _timeout_ms(timeout)),
              f"server {name!r}")
        self._h = out[0]
        self.name = name
        self.id = int(lib.smipc_client_id_of(self._h))

    def _destroy(self, h: Any) -> None:
        lib.smipc_client_close(h)

    def send(self, data: BytesLike, timeout: Optional[float] = None) -> None:
        """Sends one message to the server."""
        ms = -1 if timeout is None else _timeout_ms(timeout)
        src, n = _readable(data)
        h = self._enter()
        try:
            rc = lib.smipc_client_send(h, src, n, ms)
        finally:
            self._leave()
        if rc:
            raise error_for(rc)

    def recv(self, timeout: Optional[float] = None) -> bytes:
        """The next whole message from the server. Raises Timeout, Closed."""
        ms = -1 if timeout is None else _timeout_ms(timeout)
        h = self._enter()
        try:
            buf, lenp, _ = _scratch.cells
            lenp[0] = _SCRATCH_SIZE
            rc = lib.smipc_client_recv(h, buf, lenp, ms)
            if rc == 0:
                data: bytes = ffi.unpack(buf, lenp[0])
                return data
            buf, n = _receive_larger(lambda b, lp, t: lib.smipc_client_recv(h, b, lp, t), lenp,
                                     rc, timeout)
            data = ffi.unpack(buf, n)
            return data
        finally:
            self._leave()

    def recv_into(self, buffer: BytesLike, timeout: Optional[float] = None) -> int:
        """Receives into a writable buffer; returns the message's length. Raises
        BufferTooSmall (with .needed) and leaves the message queued."""
        ms = _timeout_ms(timeout)
        dst = _writable(buffer)
        h = self._enter()
        try:
            lenp = ffi.new("size_t *", len(dst))
            rc = lib.smipc_client_recv(h, dst, lenp, ms)
            if rc == lib.SMIPC_ETOOSMALL:
                exc = error_for(rc, f"message of {lenp[0]} bytes, buffer of {len(dst)}")
                exc.needed = int(lenp[0])  # type: ignore[attr-defined]
                raise exc
            check(rc)
            return int(lenp[0])
        finally:
            self._leave()

    def fileno(self) -> int:
        """A descriptor that select()/poll()/asyncio report readable when recv would
        find a message or the server is gone. Owned by the client: never read or close it."""
        h = self._enter()
        try:
            return check(int(lib.smipc_client_fd(h)))
        finally:
            self._leave()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<smipc.Client {self.name!r} id={self.id}{' closed' if self.closed else ''}>"
