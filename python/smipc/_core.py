"""Server, Client and Message over the C library. Every blocking call releases the GIL
(CFFI's API mode drops it around each C call)."""
from __future__ import annotations

import math
import os
import time
import weakref
from typing import Any, Callable, List, NamedTuple, Optional, Tuple, Union

from ._errors import Closed, InvalidArgument, error_for
from ._smipc_cffi import ffi, lib

# Anything with the buffer protocol: bytes, bytearray, memoryview, array, mmap, numpy...
BytesLike = Union[bytes, bytearray, memoryview, Any]

_SCRATCH_SIZE = 64 * 1024
_alloc = ffi.new_allocator(should_clear_after_alloc=False)
_now = time.monotonic

# Receive cells, (buffer, length, sender): a call takes a set out of this pool and gives
# it back when it is done with it, so a call that runs while another is using a set (a
# signal handler receiving in the middle of a receive, another thread) gets its own.
_cells_pool: List[Tuple[Any, Any, Any]] = []
_CELLS_KEPT = 16


def _new_cells() -> Tuple[Any, Any, Any]:
    return (_alloc("char[]", _SCRATCH_SIZE), ffi.new("size_t *"),
            ffi.new("smipc_client_id *"))


def _give_back(cells: Tuple[Any, Any, Any]) -> None:
    if len(_cells_pool) < _CELLS_KEPT:
        _cells_pool.append(cells)


def _timeout_ms(timeout: Optional[float]) -> int:
    """Seconds to the C library's milliseconds: None and infinity wait for ever."""
    if timeout is None:
        return -1
    if timeout != timeout or timeout < 0:
        raise InvalidArgument(f"timeout must be None or at least 0 seconds, not {timeout!r}")
    if timeout == 0:
        return 0
    if timeout == math.inf:
        return -1
    return min(math.ceil(timeout * 1000), 2**31 - 1)


def _deadline(timeout: Optional[float]) -> Optional[float]:
    """When a call that began now must be over (None: never)."""
    if timeout is None or timeout == math.inf:
        return None
    return _now() + timeout


def _left(deadline: Optional[float]) -> int:
    """What is left of a deadline, in the library's milliseconds."""
    if deadline is None:
        return -1
    return _timeout_ms(max(0.0, deadline - _now()))


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


def _no_such_client(client: object) -> Exception:
    """A client id the C type cannot hold (negative, 2**64 or more) names no client."""
    return error_for(lib.SMIPC_ENOCLIENT, f"client {client!r}")


def _buffer_too_small(rc: int, lenp: Any, cap: int) -> Exception:
    exc = error_for(rc, f"message of {lenp[0]} bytes, buffer of {cap}")
    exc.needed = int(lenp[0])  # type: ignore[attr-defined]
    return exc


class Message(NamedTuple):
    """A message a server received: who sent it, and its bytes."""

    client: int
    data: bytes


# The first entry of a handle's list of calls: open, then closing once close() began.
_OPEN = object()
_CLOSING = object()
# Every open handle, so a forked child can forget the calls its parent's threads had
# in flight (those threads do not exist in the child, and would never leave).
_open_handles: "weakref.WeakSet[_Handle]" = weakref.WeakSet()


def _forget_calls_in_child() -> None:
    for handle in list(_open_handles):
        del handle._calls[1:]


os.register_at_fork(after_in_child=_forget_calls_in_child)


class _Handle:
    """A C handle that close() may end while other threads are in calls on it.

    close() marks the handle closing, then asks the library to wake every call blocked on
    it (they return SMIPC_ECLOSED, raised as Closed); the last call to leave, or close()
    itself when none is in flight, destroys the C handle, exactly once.

    There is no lock, so a signal handler may call close() or any other call at any
    moment, even in the middle of close() or of a call on the same handle, and a fork
    cannot leave a lock held in the child. Everything goes through single operations on
    two lists, each of which CPython applies at once under the GIL: ``_calls`` is the
    state (``_OPEN`` or ``_CLOSING``) followed by a token for each call in flight;
    ``_box`` holds the C handle until whoever destroys it pops it. A call appends its
    token, then looks at the state; close() sets the state, then counts the tokens; both
    act on the one list, so whichever comes second sees the other, and no call starts on a
    handle being destroyed. A call's token is appended inside its ``try`` and removed by
    identity in its ``finally``, so an exception (KeyboardInterrupt) landing just before
    or just after the append can neither leak a count nor remove another call's."""

    _kind = "handle"

    def __init__(self) -> None:
        self._h: Any = None
        self._calls: List[object] = [_OPEN]
        self._box: List[Any] = []

    def _opened(self, h: Any) -> None:
        self._h = h
        self._box.append(h)
        _open_handles.add(self)

    def _leave(self, token: object) -> None:
        calls = self._calls
        try:
            calls.remove(token)
        except ValueError:  # never counted in (interrupted first), or forgotten at a fork
            pass
        if calls[0] is _CLOSING and len(calls) == 1:
            self._destroy_once()

    def _destroy_once(self) -> None:
        try:
            h = self._box.pop()
        except IndexError:  # destroyed already
            return
        self._h = None
        _open_handles.discard(self)
        self._destroy(h)

    def _closed(self) -> Closed:
        exc = Closed(f"this {self._kind} was closed")
        exc.status = lib.SMIPC_ECLOSED
        return exc

    def _error(self, rc: int, context: str = "") -> Exception:
        """The exception for rc; a call woken by close() says the handle was closed."""
        if rc == lib.SMIPC_ECLOSED and self._calls[0] is _CLOSING:
            return self._closed()
        return error_for(rc, context)

    def _destroy(self, h: Any) -> None:
        raise NotImplementedError

    def _shutdown(self, h: Any) -> None:
        raise NotImplementedError

    def fileno(self) -> int:
        raise NotImplementedError

    def _ring_bytes(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        """Closes the handle: every call blocked on it in another thread wakes and raises
        Closed, and the handle is destroyed when the last of them returns (at once when
        none is running). A server stops accepting and gives up its name at once.
        Closing twice, or from a signal handler, is fine."""
        calls = self._calls
        token = object()
        try:
            calls.append(token)  # counted in, so the C handle outlives the shutdown below
            calls[0] = _CLOSING
            h = self._h
            if h is not None:
                self._shutdown(h)
        finally:
            self._leave(token)

    @property
    def closed(self) -> bool:
        return self._h is None or self._calls[0] is _CLOSING

    def _config(self, call: Callable[[Any, Any], int]) -> Any:
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            cfg = ffi.new("smipc_server_config *")
            rc = call(self._h, cfg)
            if rc:
                raise self._error(rc)
            return cfg
        finally:
            self._leave(token)

    def _cancel(self, call: Callable[[Any], Any]) -> None:
        """Runs a cancel_sends call on the handle, counted in like any call (a closed
        handle has nothing to cancel)."""
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is not _CLOSING:
                call(self._h)
        finally:
            self._leave(token)

    def _fd(self, call: Callable[[Any], int]) -> int:
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            fd = int(call(self._h))
            if fd < 0:
                raise self._error(fd)
            return fd
        finally:
            self._leave(token)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def _receive_larger(call: Callable[[Any, Any, int], int], lenp: Any, rc: int, ms: int,
                    deadline: Optional[float]) -> Tuple[Any, int, int]:
    """After a receive into the scratch buffer said ETOOSMALL: asks again with a buffer of
    the size the library says, within what is left of the whole call's timeout (ms, and
    its deadline when finite and not 0), so ETOOSMALL never reaches recv()'s caller.
    (buffer, length, status)."""
    buf = None
    while rc == lib.SMIPC_ETOOSMALL:
        buf = _alloc("char[]", max(lenp[0], 1))
        rc = call(buf, lenp, ms if deadline is None else _left(deadline))
    return buf, lenp[0], rc


def _start(timeout: Optional[float]) -> Optional[float]:
    """The deadline of a call with a finite timeout other than 0, taken as it starts."""
    return _now() + timeout if timeout and timeout != math.inf else None


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
        self.name = name
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
        rc = lib.smipc_server_open(out, _name(name), cfg)
        if rc:
            raise error_for(rc, f"server {name!r}")
        self._opened(out[0])

    def _destroy(self, h: Any) -> None:
        lib.smipc_server_close(h)

    def _shutdown(self, h: Any) -> None:
        lib.smipc_server_shutdown(h)

    def _recv_error(self, rc: int, frm: Any) -> Exception:
        exc = self._error(rc)
        if rc == lib.SMIPC_EPROTO:
            exc.client = int(frm[0])  # type: ignore[attr-defined]
        return exc

    def recv(self, timeout: Optional[float] = None) -> Message:
        """The next whole message from any client (round-robin). Raises Timeout, and
        ProtocolError (with .client) once for a client that broke the protocol and was
        dropped."""
        ms = -1 if timeout is None else _timeout_ms(timeout)
        deadline = _start(timeout)
        calls = self._calls
        token = object()
        cells = None
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            h = self._h
            try:
                cells = _cells_pool.pop()
            except IndexError:
                cells = _new_cells()
            buf, lenp, frm = cells
            lenp[0] = _SCRATCH_SIZE
            rc = lib.smipc_server_recv(h, frm, buf, lenp, ms)
            if rc == 0:
                return Message(frm[0], ffi.unpack(buf, lenp[0]))
            if rc == lib.SMIPC_ETOOSMALL:
                big, n, rc = _receive_larger(
                    lambda b, lp, t: lib.smipc_server_recv(h, frm, b, lp, t), lenp, rc, ms,
                    deadline)
                if rc == 0:
                    return Message(frm[0], ffi.unpack(big, n))
            raise self._recv_error(rc, frm)
        finally:
            if cells is not None:
                _give_back(cells)
            self._leave(token)

    def recv_into(self, buffer: BytesLike, timeout: Optional[float] = None) -> Tuple[int, int]:
        """Receives into a writable buffer without copying twice: (client, nbytes).
        Raises BufferTooSmall (with .needed) and leaves the message queued."""
        ms = _timeout_ms(timeout)
        dst = _writable(buffer)
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            frm = ffi.new("smipc_client_id *")
            lenp = ffi.new("size_t *", len(dst))
            rc = lib.smipc_server_recv(self._h, frm, dst, lenp, ms)
            if rc == 0:
                return int(frm[0]), int(lenp[0])
            if rc == lib.SMIPC_ETOOSMALL:
                raise _buffer_too_small(rc, lenp, len(dst))
            raise self._recv_error(rc, frm)
        finally:
            self._leave(token)

    def send(self, client: int, data: BytesLike, timeout: Optional[float] = None) -> None:
        """Sends one message to one client. Raises NoSuchClient, Closed, Timeout."""
        ms = -1 if timeout is None else _timeout_ms(timeout)
        src, n = _readable(data)
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            try:
                rc = lib.smipc_server_send(self._h, client, src, n, ms)
            except OverflowError:
                raise _no_such_client(client) from None
            if rc:
                raise self._error(rc, f"client {client}")
        finally:
            self._leave(token)

    def _cancel_sends(self, client: int) -> None:
        """Sends in progress to client give up (Timeout), what went of them aborted
        (smipc_server_cancel_sends): for smipc.aio when a task is cancelled."""
        self._cancel(lambda h: lib.smipc_server_cancel_sends(h, client))

    def broadcast(self, data: BytesLike, timeout: Optional[float] = None) -> int:
        """Sends to every connected client; returns how many got it. An error (Timeout
        when some client had no room in time) has ``.delivered``, how many got it."""
        ms = _timeout_ms(timeout)
        src, n = _readable(data)
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            delivered = ffi.new("size_t *")
            rc = lib.smipc_server_broadcast(self._h, src, n, ms, delivered)
            if rc:
                exc = self._error(rc, f"broadcast (delivered to {delivered[0]})")
                exc.delivered = int(delivered[0])  # type: ignore[attr-defined]
                raise exc
            return int(delivered[0])
        finally:
            self._leave(token)

    def clients(self) -> List[int]:
        """The ids of the connected clients."""
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            count = ffi.new("size_t *")
            while True:
                cap = count[0] + 8
                ids = ffi.new("smipc_client_id[]", cap)
                rc = lib.smipc_server_clients(self._h, ids, cap, count)
                if rc:
                    raise self._error(rc)
                if count[0] <= cap:
                    return [int(ids[i]) for i in range(count[0])]
        finally:
            self._leave(token)

    def _ring_bytes(self) -> int:
        """How large a message fits in a connection's ring at once (larger ones stream)."""
        cfg = self._config(lib.smipc_server_config_of)
        return int(cfg.packet_size) * int(cfg.ring_packets)

    def fileno(self) -> int:
        """A descriptor that select()/poll()/asyncio report readable when recv would
        find a message. Owned by the server: never read or close it."""
        return self._fd(lib.smipc_server_fd)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<smipc.Server {self.name!r}{' closed' if self.closed else ''}>"


class Client(_Handle):
    """A connection to the server that owns ``name``."""

    _kind = "Client"
    id = 0

    def __init__(self, name: Union[str, bytes], *, timeout: Optional[float] = None,
                 wait: bool = False) -> None:
        """Connects to the live server that owns name. timeout (seconds, None: for ever)
        bounds the handshake; with wait=True the client first waits, up to the timeout,
        for a server to come up (as a harness does that starts its server in another
        process): Timeout if none did. Without it, NotFound at once when nobody serves
        the name."""
        super().__init__()
        self.name = name
        out = ffi.new("smipc_client **")
        connect = lib.smipc_client_connect_wait if wait else lib.smipc_client_connect
        rc = connect(out, _name(name), _timeout_ms(timeout))
        if rc == lib.SMIPC_ETIMEDOUT and wait:
            raise error_for(rc, f"no server came up for {name!r} within {timeout} s")
        if rc:
            raise error_for(rc, f"server {name!r}")
        self._opened(out[0])
        self.id = int(lib.smipc_client_id_of(out[0]))

    def _destroy(self, h: Any) -> None:
        lib.smipc_client_close(h)

    def _shutdown(self, h: Any) -> None:
        lib.smipc_client_shutdown(h)

    def send(self, data: BytesLike, timeout: Optional[float] = None) -> None:
        """Sends one message to the server."""
        ms = -1 if timeout is None else _timeout_ms(timeout)
        src, n = _readable(data)
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            rc = lib.smipc_client_send(self._h, src, n, ms)
            if rc:
                raise self._error(rc)
        finally:
            self._leave(token)

    def _cancel_sends(self) -> None:
        """Sends in progress give up (Timeout), what went of them aborted
        (smipc_client_cancel_sends): for smipc.aio when a task is cancelled."""
        self._cancel(lib.smipc_client_cancel_sends)

    def recv(self, timeout: Optional[float] = None) -> bytes:
        """The next whole message from the server. Raises Timeout, Closed."""
        ms = -1 if timeout is None else _timeout_ms(timeout)
        deadline = _start(timeout)
        calls = self._calls
        token = object()
        cells = None
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            h = self._h
            try:
                cells = _cells_pool.pop()
            except IndexError:
                cells = _new_cells()
            buf, lenp, _ = cells
            lenp[0] = _SCRATCH_SIZE
            rc = lib.smipc_client_recv(h, buf, lenp, ms)
            if rc == 0:
                data: bytes = ffi.unpack(buf, lenp[0])
                return data
            if rc == lib.SMIPC_ETOOSMALL:
                big, n, rc = _receive_larger(
                    lambda b, lp, t: lib.smipc_client_recv(h, b, lp, t), lenp, rc, ms, deadline)
                if rc == 0:
                    data = ffi.unpack(big, n)
                    return data
            raise self._error(rc)
        finally:
            if cells is not None:
                _give_back(cells)
            self._leave(token)

    def recv_into(self, buffer: BytesLike, timeout: Optional[float] = None) -> int:
        """Receives into a writable buffer; returns the message's length. Raises
        BufferTooSmall (with .needed) and leaves the message queued."""
        ms = _timeout_ms(timeout)
        dst = _writable(buffer)
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            lenp = ffi.new("size_t *", len(dst))
            rc = lib.smipc_client_recv(self._h, dst, lenp, ms)
            if rc == 0:
                return int(lenp[0])
            if rc == lib.SMIPC_ETOOSMALL:
                raise _buffer_too_small(rc, lenp, len(dst))
            raise self._error(rc)
        finally:
            self._leave(token)

    def _ring_bytes(self) -> int:
        """How large a message fits in the ring at once (larger ones stream)."""
        cfg = self._config(lib.smipc_client_config_of)
        return int(cfg.packet_size) * int(cfg.ring_packets)

    def fileno(self) -> int:
        """A descriptor that select()/poll()/asyncio report readable when recv would
        find a message or the server is gone. Owned by the client: never read or close it."""
        return self._fd(lib.smipc_client_fd)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<smipc.Client {self.name!r} id={self.id}{' closed' if self.closed else ''}>"
