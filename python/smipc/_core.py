"""Server, Client and Message over the C library. Every blocking call releases the GIL
(CFFI's API mode drops it around each C call).

Ctrl-C: Python runs a signal's handler only between bytecodes, never while a C call
blocks, so a blocking call of the main thread is made interruptible here in one of two
ways. A call that loses nothing by timing out (a receive: a message half received stays
parked in C; a send of a message that fits the ring: it goes whole or not at all) waits
in slices of at most _SLICE_MS, and the handlers run between slices. A call that cannot
be repeated (a send that streams a message larger than the ring, a broadcast) runs
once, while a watcher thread reads the bytes that signal.set_wakeup_fd() writes for
every signal and tells the call to give up (smipc_*_cancel_sends); the handler then runs,
and when it returns normally a send is made again whole with the time left (its peer saw
none of it) and a broadcast raises Timeout (it may have reached some clients). A call
that can complete at once makes exactly the one C call it always made; other threads
never get signal exceptions and call C with the whole timeout.
"""
from __future__ import annotations

import logging
import math
import os
import pickle
import signal
import threading
import time
import weakref
from typing import (TYPE_CHECKING, Any, Callable, Iterator, List, NamedTuple, Optional,
                    Protocol, Tuple, Union)

from ._errors import Closed, InvalidArgument, ProtocolError, error_for
from ._smipc_cffi import ffi, lib

if TYPE_CHECKING:
    from ._zero_copy import Loan, View

    class _Buffer(Protocol):
        """Anything with the buffer protocol (PEP 688), as the type checker sees it."""

        def __buffer__(self, flags: int, /) -> memoryview: ...

# Anything with the buffer protocol: bytes, bytearray, memoryview, array, mmap, numpy...
# (not str: text has no bytes until it is encoded)
BytesLike = Union[bytes, bytearray, memoryview, "_Buffer"]

log = logging.getLogger("smipc")

_SCRATCH_SIZE = 64 * 1024
_alloc = ffi.new_allocator(should_clear_after_alloc=False)
_now = time.monotonic

# The longest one C call of the main thread blocks before Python may run a signal handler.
_SLICE_MS = 50
_get_ident = threading.get_ident
_main_ident = threading.main_thread().ident

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
        exc = InvalidArgument(f"timeout must be None (for ever), 0 (never block) or a "
                              f"number of seconds above 0, not {timeout!r}")
        exc.status = lib.SMIPC_EINVAL
        raise exc
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


def _first(ms: int) -> int:
    """The timeout of a call's first C call: all of it in other threads or when it is
    short, else one slice (the main thread runs signal handlers after it)."""
    if 0 <= ms <= _SLICE_MS or _get_ident() != _main_ident:
        return ms
    return _SLICE_MS


def _checkpoint() -> None:
    """Nothing, but CPython runs the signal handlers pending as a Python function starts:
    a handler's exception comes out of this call."""


def _more_slices(attempt: Callable[[int], int], rc: int, deadline: Optional[float]) -> int:
    """After a first try said rc: while it says ETIMEDOUT and time is left before
    deadline (None: for ever), tries again in slices of at most _SLICE_MS, the signal
    handlers running in between (their exception ends the call). Only for a call that
    a timeout leaves as if it had never been made."""
    while rc == lib.SMIPC_ETIMEDOUT:
        left = _left(deadline)
        if left == 0:
            break
        rc = attempt(_SLICE_MS if left < 0 or left > _SLICE_MS else left)
    return rc


def _timed_out(words: str) -> Exception:
    return error_for(lib.SMIPC_ETIMEDOUT, words, plain=True)


def _within(timeout: Optional[float]) -> str:
    return "in time" if timeout is None else f"within {timeout} s"


# ---- sends that cannot be sliced: cancelled when a signal arrives (main thread only) ----

class _Guard:
    """A call in flight that a signal cancels: cancel() makes it give up."""

    __slots__ = ("cancel", "fired")

    def __init__(self, cancel: Callable[[], None]) -> None:
        self.cancel = cancel
        self.fired = False


class _SignalWatch:
    """The process's watcher: a pipe installed with signal.set_wakeup_fd() while a guarded
    call runs, and a thread that reads it, forwards the bytes to the wakeup fd that was
    there before (an event loop's, say) and cancels every guarded call. Touched by the
    main thread and the watcher only, one list operation at a time (the GIL)."""

    def __init__(self) -> None:
        self.guards: List[_Guard] = []
        self.pipe: Optional[Tuple[int, int]] = None
        self.previous = -1          # the wakeup fd before ours
        self.installed = False

    def _start(self) -> Tuple[int, int]:
        r, w = os.pipe()
        os.set_blocking(w, False)  # as set_wakeup_fd requires
        threading.Thread(target=self._watch, args=(r,), name="smipc-signal-watch",
                         daemon=True).start()
        self.pipe = (r, w)
        return self.pipe

    def _watch(self, r: int) -> None:
        while True:
            try:
                data = os.read(r, 512)
            except OSError:
                return
            if not data:
                return
            previous = self.previous
            if previous >= 0:
                try:
                    os.write(previous, data)
                except OSError:
                    pass
            for g in list(self.guards):
                g.fired = True
                try:
                    g.cancel()
                except Exception:  # pragma: no cover - a handle closed meanwhile
                    pass

    def begin(self, guard: _Guard) -> None:
        """Before the C call: guard is cancelled by any signal from now on; the handlers
        of signals that came before run now (and may raise)."""
        self.guards.append(guard)
        if not self.installed:
            _, w = self.pipe or self._start()
            previous = signal.set_wakeup_fd(w)
            self.previous = -1 if previous == w else previous
            self.installed = True
        _checkpoint()

    def end(self, guard: _Guard) -> None:
        guards = self.guards
        if self.installed and guards == [guard]:
            self.installed = False
            signal.set_wakeup_fd(self.previous)
        try:
            guards.remove(guard)
        except ValueError:
            pass

    def after_fork_in_child(self) -> None:
        # the watcher thread is not in the child; the pipe is the parent's business
        if self.installed:
            try:
                signal.set_wakeup_fd(self.previous)
            except ValueError:  # pragma: no cover - forked from a thread of a subinterpreter
                pass
        if self.pipe is not None:
            for fd in self.pipe:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.__init__()  # type: ignore[misc]


_watch = _SignalWatch()


def _guarded(attempt: Callable[[int], int], cancel: Callable[[], None],
             ms: int) -> Tuple[int, bool]:
    """attempt(ms) once, main thread, a signal cancelling it: (rc, whether a signal
    cancelled it). The handlers of that signal have run by the time this returns."""
    guard = _Guard(cancel)
    try:
        _watch.begin(guard)
        rc = attempt(ms)
    finally:
        _watch.end(guard)
    if guard.fired:
        _checkpoint()  # the handler's exception, if it raises, is the caller's now
    return rc, guard.fired and rc == lib.SMIPC_ETIMEDOUT


def _send_guarded(attempt: Callable[[int], int], cancel: Callable[[], None], ms: int) -> int:
    """A send that streams (larger than the ring): made whole again with the time left
    when a signal whose handler returned cancelled it (the peer saw nothing of it)."""
    deadline = None if ms < 0 else _now() + ms / 1000
    while True:
        rc, by_signal = _guarded(attempt, cancel, _left(deadline))
        if not by_signal or _left(deadline) == 0:
            return rc


def _readable(data: BytesLike) -> Tuple[Any, int]:
    """What the C library gets for data, and its length in bytes: bytes as they are (CFFI
    passes a pointer to their contents), anything else through its buffer."""
    if type(data) is bytes:
        return data, len(data)
    try:
        src = ffi.from_buffer(data)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not "
                        f"{type(data).__name__!r}") from None
    return src, len(src)


def _writable(buffer: BytesLike) -> Any:
    try:
        return ffi.from_buffer(buffer, require_writable=True)
    except (BufferError, TypeError):
        # as io's readinto() says it
        raise TypeError(f"recv_into needs a writable bytes-like object, not "
                        f"{type(buffer).__name__}") from None


_NAME_RULE = ("a name is 1 to 100 letters, digits, '.', '_' or '-' (a socket in the runtime "
              "directory); a name with '/' in it is a socket path, used as given")


def _name_problem(name: Union[str, bytes]) -> str:
    """What is wrong with a name the library refused, in words."""
    raw = name.encode(errors="surrogateescape") if isinstance(name, str) else bytes(name)
    if not raw:
        return "a name cannot be empty"
    if b"\0" in raw:
        return "a name cannot contain a NUL byte"
    if b"/" in raw:
        if raw.endswith(b"/"):
            return "a socket path must end in a file name, not '/'"
        if len(raw) >= 108:
            return f"a socket path is at most 107 bytes, not {len(raw)}"
        return "the socket path's directory could not be used"
    if len(raw) > 100:
        return f"a name is at most 100 characters, not {len(raw)}"
    if raw in (b".", b".."):
        return f"{raw.decode()!r} is not a name"
    for ch in raw.decode(errors="replace"):
        if not (ch.isascii() and (ch.isalnum() or ch in "._-")):
            return f"the character {ch!r} is not allowed in a name"
    return "the runtime directory's path is too long"


def _bad_name(name: Union[str, bytes]) -> InvalidArgument:
    exc = InvalidArgument(f"bad server name {name!r}: {_name_problem(name)} ({_NAME_RULE})")
    exc.status = lib.SMIPC_EINVAL
    return exc


def _name(name: Union[str, bytes]) -> bytes:
    if isinstance(name, str):
        raw = name.encode()
    elif isinstance(name, (bytes, bytearray)):
        raw = bytes(name)
    else:
        raise TypeError(f"a server name is a str or bytes, not {type(name).__name__!r}")
    if b"\0" in raw:
        raise _bad_name(name)
    return raw


def _socket_path(name: Union[str, bytes]) -> str:
    """The socket path the library looks for name at (smipc_name_path), or '' if none."""
    path = ffi.new("char[]", 4096)
    try:
        if lib.smipc_name_path(_name(name), path, 4096) != 0:
            return ""
    except InvalidArgument:
        return ""
    return str(ffi.string(path).decode(errors="replace"))


def _not_found(rc: int, name: Union[str, bytes]) -> Exception:
    path = _socket_path(name)
    raw = name if isinstance(name, str) else bytes(name).decode(errors="replace")
    if "/" in raw:
        where = f"no live server at the socket path {path or raw}"
    else:
        where = (f"no live server has the name {name!r}: looked for {path or 'its socket'} "
                 f"(the runtime directory is $SMIPC_DIR when set, else "
                 f"$XDG_RUNTIME_DIR/smipc, else /tmp/smipc-<uid>; a server started with "
                 f"another SMIPC_DIR or XDG_RUNTIME_DIR is not seen here)")
    return error_for(rc, where, plain=True)


def _no_such_client(client: object) -> Exception:
    """A client id the C type cannot hold (negative, 2**64 or more) names no client."""
    return error_for(lib.SMIPC_ENOCLIENT, f"client {client!r}")


def _buffer_too_small(rc: int, lenp: Any, cap: int) -> Exception:
    exc = error_for(rc, f"message of {lenp[0]} bytes, buffer of {cap}")
    exc.needed = int(lenp[0])  # type: ignore[attr-defined]
    return exc


class Message(NamedTuple):
    """A message a server received: ``client``, the id of the client that sent it, and
    ``data``, its bytes."""

    client: int
    data: bytes


class Joined(NamedTuple):
    """From ``Server.recv_event``: ``client`` connected (told before any of its
    messages)."""

    client: int


class Left(NamedTuple):
    """From ``Server.recv_event``: ``client`` is gone, closed, died or dropped (told after
    all of its messages)."""

    client: int


class Received(NamedTuple):
    """From ``Client.recv_msg``: a message's ``data``, and ``broadcast``, True when the
    server broadcast it to every client, False when it sent it to this client alone."""

    data: bytes
    broadcast: bool


Event = Union[Message, Joined, Left]

# The first entry of a handle's list of calls: open, then closing once close() began.
_OPEN = object()
_CLOSING = object()
# Every open handle, so a forked child can forget the calls its parent's threads had
# in flight (those threads do not exist in the child, and would never leave).
_open_handles: "weakref.WeakSet[_Handle]" = weakref.WeakSet()


def _forget_calls_in_child() -> None:
    global _main_ident
    _main_ident = _get_ident()  # the thread that forked is the child's main thread
    _watch.after_fork_in_child()
    for handle in list(_open_handles):
        del handle._calls[1:]


os.register_at_fork(after_in_child=_forget_calls_in_child)

_FORKED = ("this {} was inherited across fork(); open a new Client/Server in the child "
           "(a handle belongs to the process that opened it)")

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
    _ring = 0  # the largest message that fits a ring at once (larger ones stream)

    def __init__(self) -> None:
        self._h: Any = None
        self._calls: List[object] = [_OPEN]
        self._box: List[Any] = []
        self._pid = os.getpid()

    def _opened(self, h: Any) -> None:
        self._h = h
        self._box.append(h)
        _open_handles.add(self)
        self._ring = self._ring_bytes()

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
        """The exception for rc; a call woken by close() says the handle was closed, and
        one on a handle a forked child inherited says so."""
        if rc == lib.SMIPC_ECLOSED:
            if self._calls[0] is _CLOSING:
                return self._closed()
            if os.getpid() != self._pid:
                return error_for(rc, _FORKED.format(self._kind), plain=True)
        return error_for(rc, context)

    def __reduce__(self) -> Any:
        raise TypeError(f"smipc.{self._kind} cannot be pickled: it is this process's "
                        f"connection (shared memory and sockets); pass the name and "
                        f"connect in the child process instead")

    def _destroy(self, h: Any) -> None:
        raise NotImplementedError

    def _shutdown(self, h: Any) -> None:
        raise NotImplementedError

    def fileno(self) -> int:
        """A descriptor for select()/poll()/asyncio (see the subclasses)."""
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
        """True once close() was called (or the handle never opened)."""
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
        cap = max(lenp[0], 1)
        buf = _alloc("char[]", cap)

        def attempt(t: int, buf: Any = buf, cap: int = cap) -> int:
            lenp[0] = cap
            return call(buf, lenp, t)

        left = ms if deadline is None else _left(deadline)
        first = _first(left)
        rc = attempt(first)
        if rc == lib.SMIPC_ETIMEDOUT and first != left:
            rc = _more_slices(attempt, rc, deadline)
    return buf, lenp[0], rc


def _start(timeout: Optional[float]) -> Optional[float]:
    """The deadline of a call with a finite timeout other than 0, taken as it starts."""
    return _now() + timeout if timeout and timeout != math.inf else None


def _slices_end(ms: int, first: int) -> Optional[float]:
    """The deadline of a call of ms whose first slice of `first` just ended (it took at
    least that long, so the deadline is never early)."""
    return None if ms < 0 else _now() + (ms - first) / 1000


_CONFIG_LIMITS = (
    ("max_clients", 1, 1 << 20, "1 to 1048576"),
    ("packet_size", 64, 1 << 24, "64 to 16777216 bytes (16 MiB)"),
    ("ring_packets", 2, 1 << 16, "2 to 65536"),
    ("max_message_size", 0, 1 << 40, "0 to 1099511627776 bytes (1 TiB)"),
    ("bulk_size", 0, 64 << 20, "0 (no bulk area) or 4096 to 67108864 bytes (64 MiB), a "
     "multiple of 4096"),
    ("bulk_slots", 0, 64, "0 (no bulk area) or 2 to 64"),
)


def _fits_whole(cfg: Any) -> int:
    """Every message up to this many bytes goes whole or not at all on a connection of
    config cfg (the library's rule: up to 4 packets through the ring, larger ones in
    chunks through the bulk area; each chunk takes a packet too); larger ones stream."""
    packet, ring = int(cfg.packet_size), int(cfg.ring_packets)
    bulk, slots = int(cfg.bulk_size), int(cfg.bulk_slots)
    if not slots:
        return packet * ring
    if ring < 4:  # some of the messages up to 4 packets stream: no larger one counts
        return packet * ring
    return max(4 * packet, min(slots, ring) * bulk)


def _config_problem(values: dict) -> str:  # type: ignore[type-arg]
    """Which field of a configuration the library refused is out of range, in words."""
    for field, low, high, words in _CONFIG_LIMITS:
        v = values[field]
        if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
            return f"{field} must be an int from {words}, not {v!r}"
    packet, ring, largest = values["packet_size"], values["ring_packets"], \
        values["max_message_size"]
    if largest // packet >= 2**32 - 1:
        return (f"max_message_size {largest} is more than 2**32 - 2 packets of "
                f"packet_size {packet}: raise packet_size or lower max_message_size")
    bulk, slots = values["bulk_size"], values["bulk_slots"]
    if (bulk == 0) != (slots == 0) or (bulk and (bulk < 4096 or bulk % 4096 or slots < 2)):
        return (f"bulk_size {bulk} and bulk_slots {slots}: both 0 (no bulk area), or "
                f"bulk_size a multiple of 4096 from 4096 and bulk_slots from 2")
    if 2 * (packet * ring + bulk * slots) > 1 << 30:
        return (f"a connection's two rings of ring_packets x packet_size "
                f"({ring} x {packet} bytes) and two bulk areas of bulk_slots x bulk_size "
                f"({slots} x {bulk} bytes) must fit in 1 GiB together: lower one of them")
    return "the library refused it"


class Server(_Handle):
    """A server owning ``name``; clients connect to it by the same name.

    ``Server(name, *, max_clients=64, packet_size=4096, ring_packets=64,
    max_message_size=64 << 20, bulk_size=1 << 20, bulk_slots=4, checksum=True,
    allow_any_uid=False, events=False)``

    - ``name``: letters, digits, '.', '_' and '-', 1 to 100 characters, a socket in the
      runtime directory ($SMIPC_DIR, else $XDG_RUNTIME_DIR/smipc, else
      /tmp/smipc-<uid>); a name with '/' is a socket path used as given. Kept as
      ``.name``.
    - ``max_clients``: how many clients may be connected at once (1 to 2**20); one more
      gets smipc.Full.
    - ``packet_size``: bytes per packet of a connection's rings (64 to 16 MiB), and
      ``ring_packets``: packets per ring, per direction (2 to 65536). Messages up to 4
      packets go through the ring.
    - ``bulk_size`` and ``bulk_slots``: larger messages go through a bulk area of
      bulk_slots chunks of bulk_size bytes per direction (4 KiB to 64 MiB, a multiple of
      4 KiB; 2 to 64; both 0: none, everything through the ring). Its memory is used only
      once a connection carries a large message. A message that fits (in the ring, or in
      the bulk area's chunks) goes whole or not at all; a larger one streams through.
      A loan (zero-copy send) holds at most bulk_size bytes.
    - ``max_message_size``: the largest message either side may send (up to 1 TiB);
      larger is smipc.MessageTooLarge.
    - ``checksum``: each packet carries a CRC32C that the receiver checks.
    - ``allow_any_uid``: let processes of other users connect (by default only this
      uid may). Never unpickle (recv_obj) what such a server receives.
    - ``events``: ``recv_event`` also tells of clients joining and leaving (Joined,
      Left), in order with their messages.

    Timeouts everywhere are seconds: None waits for ever, 0 never blocks, a number waits
    at most that long, then raises smipc.Timeout. Every blocking call can be interrupted
    by a signal (Ctrl-C raises KeyboardInterrupt at once). Receives take clients
    round-robin. Clients are accepted and reaped on the server's own thread, whatever
    this one is doing. ``for msg in server`` yields Messages until the server is closed.
    """

    _kind = "Server"

    def __init__(self, name: Union[str, bytes], *, max_clients: int = 64,
                 packet_size: int = 4096, ring_packets: int = 64,
                 max_message_size: int = 64 << 20, bulk_size: int = 1 << 20,
                 bulk_slots: int = 4, checksum: bool = True,
                 allow_any_uid: bool = False, events: bool = False) -> None:
        """Opens the server (see the class's help for every keyword)."""
        super().__init__()
        self.name = name
        self._events = bool(events)
        self._any_uid = bool(allow_any_uid)
        values = {"max_clients": max_clients, "packet_size": packet_size,
                  "ring_packets": ring_packets, "max_message_size": max_message_size,
                  "bulk_size": bulk_size, "bulk_slots": bulk_slots}
        cfg = ffi.new("smipc_server_config *")
        lib.smipc_server_config_init(cfg)
        try:
            cfg.max_clients = max_clients
            cfg.packet_size = packet_size
            cfg.ring_packets = ring_packets
            cfg.max_message_size = max_message_size
            cfg.bulk_size = bulk_size
            cfg.bulk_slots = bulk_slots
        except (OverflowError, TypeError):
            raise self._bad_config(values) from None
        cfg.flags = (0 if checksum else lib.SMIPC_NO_CHECKSUM) | (
            lib.SMIPC_ALLOW_ANY_UID if allow_any_uid else 0) | (
            lib.SMIPC_EVENTS if events else 0)
        out = ffi.new("smipc_server **")
        rc = lib.smipc_server_open(out, _name(name), cfg)
        if rc == lib.SMIPC_EINVAL:
            if _socket_path(name):
                raise self._bad_config(values)
            raise _bad_name(name)
        if rc:
            raise error_for(rc, f"server {name!r}")
        self._opened(out[0])

    @staticmethod
    def _bad_config(values: dict) -> InvalidArgument:  # type: ignore[type-arg]
        exc = InvalidArgument(f"bad server configuration: {_config_problem(values)}")
        exc.status = lib.SMIPC_EINVAL
        return exc

    def _destroy(self, h: Any) -> None:
        lib.smipc_server_close(h)

    def _shutdown(self, h: Any) -> None:
        lib.smipc_server_shutdown(h)

    def _recv_error(self, rc: int, frm: Any, timeout: Optional[float]) -> Exception:
        if rc == lib.SMIPC_ETIMEDOUT:
            return _timed_out(f"nothing received {_within(timeout)}")
        exc = self._error(rc)
        if rc == lib.SMIPC_EPROTO:
            exc.client = int(frm[0])  # type: ignore[attr-defined]
        return exc

    def recv(self, timeout: Optional[float] = None) -> Message:
        """The next whole message from any client (round-robin), as a Message (.client,
        .data). Raises Timeout when none came within timeout (seconds; None: wait for
        ever, 0: never block), Closed once this server is closed, and ProtocolError
        (with .client) once for a client that broke the protocol and was dropped."""
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
            first = _first(ms)
            rc = lib.smipc_server_recv(h, frm, buf, lenp, first)
            if rc == 0:
                return Message(frm[0], ffi.unpack(buf, lenp[0]))
            if rc == lib.SMIPC_ETIMEDOUT and first != ms:
                def attempt(t: int) -> int:
                    lenp[0] = _SCRATCH_SIZE
                    return int(lib.smipc_server_recv(h, frm, buf, lenp, t))
                rc = _more_slices(attempt, rc, deadline)
                if rc == 0:
                    return Message(frm[0], ffi.unpack(buf, lenp[0]))
            if rc == lib.SMIPC_ETOOSMALL:
                big, n, rc = _receive_larger(
                    lambda b, lp, t: lib.smipc_server_recv(h, frm, b, lp, t), lenp, rc, ms,
                    deadline)
                if rc == 0:
                    return Message(frm[0], ffi.unpack(big, n))
            raise self._recv_error(rc, frm, timeout)
        finally:
            if cells is not None:
                _give_back(cells)
            self._leave(token)

    def recv_event(self, timeout: Optional[float] = None) -> Event:
        """On a server opened with events=True: the next of the clients' messages
        (Message), joins (Joined(client), told before the client's first message) and
        departures (Left(client), told after its last message, whether it closed, died
        or was dropped), in order. Raises as recv() does."""
        if not self._events:
            exc = InvalidArgument("recv_event needs a server opened with events=True")
            exc.status = lib.SMIPC_EINVAL
            raise exc
        ms = -1 if timeout is None else _timeout_ms(timeout)
        deadline = _start(timeout)
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            h = self._h
            kind = ffi.new("int *")
            frm = ffi.new("smipc_client_id *")
            lenp = ffi.new("size_t *")
            buf = _alloc("char[]", _SCRATCH_SIZE)

            def attempt(t: int, b: Any = buf, cap: int = _SCRATCH_SIZE) -> int:
                lenp[0] = cap
                return int(lib.smipc_server_recv_event(h, kind, frm, b, lenp, t))

            first = _first(ms)
            rc = attempt(first)
            if rc == lib.SMIPC_ETIMEDOUT and first != ms:
                rc = _more_slices(attempt, rc, deadline)
            if rc == lib.SMIPC_ETOOSMALL:
                buf, _, rc = _receive_larger(
                    lambda b, lp, t: lib.smipc_server_recv_event(h, kind, frm, b, lp, t),
                    lenp, rc, ms, deadline)
            if rc:
                raise self._recv_error(rc, frm, timeout)
            if kind[0] == lib.SMIPC_EVENT_JOINED:
                return Joined(int(frm[0]))
            if kind[0] == lib.SMIPC_EVENT_LEFT:
                return Left(int(frm[0]))
            return Message(int(frm[0]), ffi.unpack(buf, lenp[0]))
        finally:
            self._leave(token)

    def recv_into(self, buffer: BytesLike, timeout: Optional[float] = None) -> Tuple[int, int]:
        """Receives the next message into a writable buffer without copying twice:
        (client, nbytes). Raises BufferTooSmall (with .needed) and leaves the message
        queued; Timeout, Closed and ProtocolError as recv()."""
        ms = _timeout_ms(timeout)
        dst = _writable(buffer)
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            h = self._h
            frm = ffi.new("smipc_client_id *")
            lenp = ffi.new("size_t *", len(dst))
            first = _first(ms)
            rc = lib.smipc_server_recv(h, frm, dst, lenp, first)
            if rc == 0:
                return int(frm[0]), int(lenp[0])
            if rc == lib.SMIPC_ETIMEDOUT and first != ms:
                def attempt(t: int) -> int:
                    lenp[0] = len(dst)
                    return int(lib.smipc_server_recv(h, frm, dst, lenp, t))
                rc = _more_slices(attempt, rc, _slices_end(ms, first))
                if rc == 0:
                    return int(frm[0]), int(lenp[0])
            if rc == lib.SMIPC_ETOOSMALL:
                raise _buffer_too_small(rc, lenp, len(dst))
            raise self._recv_error(rc, frm, timeout)
        finally:
            self._leave(token)

    def send(self, client: int, data: BytesLike, timeout: Optional[float] = None) -> None:
        """Sends one message (any bytes-like object) to one client. Raises Timeout when
        there was no room within timeout (seconds; None: for ever, 0: never block),
        NoSuchClient, Closed (the client left), MessageTooLarge."""
        ms = -1 if timeout is None else _timeout_ms(timeout)
        src, n = _readable(data)
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            h = self._h
            first = _first(ms)
            try:
                if first != ms and n > self._ring:
                    rc = _send_guarded(lambda t: int(lib.smipc_server_send(h, client, src, n, t)),
                                       lambda: self._cancel_sends(client), ms)
                else:
                    rc = lib.smipc_server_send(h, client, src, n, first)
                    if rc == lib.SMIPC_ETIMEDOUT and first != ms:
                        rc = _more_slices(
                            lambda t: int(lib.smipc_server_send(h, client, src, n, t)), rc,
                            _slices_end(ms, first))
            except OverflowError:
                raise _no_such_client(client) from None
            if rc == lib.SMIPC_ETIMEDOUT:
                raise _timed_out(f"no room to send to client {client} {_within(timeout)}")
            if rc:
                raise self._error(rc, f"client {client}")
        finally:
            self._leave(token)

    def _cancel_sends(self, client: int) -> None:
        """Sends in progress to client (0: every send and broadcast) give up (Timeout),
        what went of them aborted (smipc_server_cancel_sends): for smipc.aio when a task
        is cancelled, and for a signal."""
        self._cancel(lambda h: lib.smipc_server_cancel_sends(h, client))

    def broadcast(self, data: BytesLike, timeout: Optional[float] = None) -> int:
        """Sends to every connected client; returns how many got it. An error (Timeout
        when some client had no room in time) has ``.delivered``, how many got it. A
        signal that arrives meanwhile stops it (it is not sent again, since some clients
        may have it): its handler's exception is raised, or, when the handler returns,
        Timeout (with .delivered) saying a signal interrupted it."""
        ms = _timeout_ms(timeout)
        src, n = _readable(data)
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            h = self._h
            delivered = ffi.new("size_t *")
            by_signal = False
            if _first(ms) != ms:
                rc, by_signal = _guarded(
                    lambda t: int(lib.smipc_server_broadcast(h, src, n, t, delivered)),
                    lambda: self._cancel_sends(0), ms)
            else:
                rc = lib.smipc_server_broadcast(h, src, n, ms, delivered)
            if rc:
                got = int(delivered[0])
                if by_signal:
                    exc = _timed_out(f"broadcast interrupted by a signal, delivered to {got} "
                                     f"client(s); not sent again, since those have it")
                elif rc == lib.SMIPC_ETIMEDOUT:
                    exc = _timed_out(f"no room to send at some client {_within(timeout)} "
                                     f"(broadcast delivered to {got})")
                else:
                    exc = self._error(rc, f"broadcast (delivered to {got})")
                exc.delivered = got  # type: ignore[attr-defined]
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

    def send_obj(self, client: int, obj: Any, timeout: Optional[float] = None) -> None:
        """Sends obj, pickled (highest protocol), to one client, as send() does. For
        peers that trust each other only: unpickling runs code the sender chooses."""
        self.send(client, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), timeout)

    def recv_obj(self, timeout: Optional[float] = None) -> Tuple[int, Any]:
        """(client, obj): the next message, unpickled, as recv() receives it.

        Only between peers you trust: unpickling runs whatever code the sender put in
        the message. By default a server lets in only processes of its own uid, which
        could run code as you anyway; a server opened with allow_any_uid=True refuses
        this call (InvalidArgument)."""
        if self._any_uid:
            exc = InvalidArgument("recv_obj on a server opened with allow_any_uid=True would "
                                  "unpickle (run code from) other users' messages: use recv()")
            exc.status = lib.SMIPC_EINVAL
            raise exc
        msg = self.recv(timeout)
        return msg.client, pickle.loads(msg.data)

    def recv_view(self, timeout: Optional[float] = None) -> "View":
        """Zero-copy receive: the next message read in place, as a context manager::

            with srv.recv_view(timeout=1) as msg:    # msg.client, msg.data
                arr = numpy.frombuffer(msg.data, numpy.float32)

        msg.data is a read-only memoryview of the message in shared memory (its checksum
        already verified), valid inside the block: at its end the sender may reuse that
        memory and msg.data is released (touching it raises ValueError). Arrays made from
        it inside the block never crash, but may change once it is left: copy what you
        keep. Other receives on this server wait until the block ends. A message that
        is not in one piece in shared memory (a few packets, or larger than bulk_size)
        comes as a copy. Raises as recv() does."""
        return _zero_copy.recv_view(self, timeout, True)

    def loan(self, client: int, n: int, timeout: Optional[float] = None) -> "Loan":
        """Zero-copy send to one client: ``with srv.loan(client, n) as buf:`` gives a
        writable memoryview of n bytes in shared memory, sent as one message when the
        block ends (given back unsent if it raises). n is at most bulk_size
        (smipc.LoanTooLarge beyond: use send). The timeout bounds the wait for room
        (Timeout); other sends to that client wait until the block ends."""
        return _zero_copy.loan(self, n, timeout, client)

    def _ring_bytes(self) -> int:
        """How large a message fits at once (larger ones stream)."""
        return _fits_whole(self._config(lib.smipc_server_config_of))

    def fileno(self) -> int:
        """A descriptor that select()/poll()/asyncio report readable when recv would
        find a message. Owned by the server: never read or close it."""
        return self._fd(lib.smipc_server_fd)

    def __iter__(self) -> Iterator[Message]:
        """Every message from every client until the server is closed (from another
        thread or a signal handler). A client that breaks the protocol is dropped (and
        logged), and the others are served on."""
        while True:
            try:
                msg = self.recv()
            except ProtocolError as e:
                log.warning("smipc server %r: dropped client %s: %s", self.name, e.client, e)
                continue
            except Closed:
                return
            yield msg

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<smipc.Server {self.name!r}{' closed' if self.closed else ''}>"

class Client(_Handle):
    """A connection to the server that owns ``name``.

    ``Client(name, *, timeout=None, wait=False)`` connects at once: NotFound when no
    live server has the name (it says where it looked). With ``wait=True`` it first
    waits, up to ``timeout``, for a server to come up (a harness that starts its server
    in another process needs no retry loop), and raises Timeout if none did.
    ``timeout`` (seconds; None: for ever) also bounds the handshake. ``.name`` is the
    name, ``.id`` the id the server knows this client by.

    Timeouts everywhere are seconds: None waits for ever, 0 never blocks, a number waits
    at most that long, then raises smipc.Timeout. Every blocking call can be interrupted
    by a signal (Ctrl-C raises KeyboardInterrupt at once). ``for data in client`` yields
    each message's bytes until the server goes. A Client belongs to the process that
    opened it: a forked child or another process must connect its own.
    """

    _kind = "Client"
    id = 0

    def __init__(self, name: Union[str, bytes], *, timeout: Optional[float] = None,
                 wait: bool = False) -> None:
        """Connects (see the class's help for timeout and wait)."""
        super().__init__()
        self.name = name
        out = ffi.new("smipc_client **")
        raw = _name(name)
        ms = _timeout_ms(timeout)
        if wait:
            # waits in slices (signal handlers run in between); a server that comes up
            # near the end of one is connected to in the next
            first = _first(ms)
            rc = lib.smipc_client_connect_wait(out, raw, first)
            if rc == lib.SMIPC_ETIMEDOUT and first != ms:
                rc = _more_slices(lambda t: int(lib.smipc_client_connect_wait(out, raw, t)),
                                  rc, _slices_end(ms, first))
        else:
            # no slices: only a server that does not answer its handshake makes it wait
            rc = lib.smipc_client_connect(out, raw, ms)
        if rc == lib.SMIPC_ETIMEDOUT and wait:
            raise _timed_out(f"no server came up for {name!r} {_within(timeout)}")
        if rc == lib.SMIPC_ENOTFOUND:
            raise _not_found(rc, name)
        if rc == lib.SMIPC_EINVAL:
            raise _bad_name(name)
        if rc:
            raise error_for(rc, f"server {name!r}")
        self._opened(out[0])
        self.id = int(lib.smipc_client_id_of(out[0]))

    def _destroy(self, h: Any) -> None:
        lib.smipc_client_close(h)

    def _shutdown(self, h: Any) -> None:
        lib.smipc_client_shutdown(h)

    def _recv_error(self, rc: int, timeout: Optional[float]) -> Exception:
        if rc == lib.SMIPC_ETIMEDOUT:
            return _timed_out(f"nothing received {_within(timeout)}")
        return self._error(rc)

    def send(self, data: BytesLike, timeout: Optional[float] = None) -> None:
        """Sends one message (any bytes-like object) to the server. Raises Timeout when
        there was no room within timeout (seconds; None: for ever, 0: never block),
        Closed (the server is gone), MessageTooLarge."""
        ms = -1 if timeout is None else _timeout_ms(timeout)
        src, n = _readable(data)
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            h = self._h
            first = _first(ms)
            if first != ms and n > self._ring:
                rc = _send_guarded(lambda t: int(lib.smipc_client_send(h, src, n, t)),
                                   self._cancel_sends, ms)
            else:
                rc = lib.smipc_client_send(h, src, n, first)
                if rc == lib.SMIPC_ETIMEDOUT and first != ms:
                    rc = _more_slices(lambda t: int(lib.smipc_client_send(h, src, n, t)), rc,
                                      _slices_end(ms, first))
            if rc == lib.SMIPC_ETIMEDOUT:
                raise _timed_out(f"no room to send {_within(timeout)}")
            if rc:
                raise self._error(rc)
        finally:
            self._leave(token)

    def _cancel_sends(self) -> None:
        """Sends in progress give up (Timeout), what went of them aborted
        (smipc_client_cancel_sends): for smipc.aio when a task is cancelled, and for a
        signal."""
        self._cancel(lib.smipc_client_cancel_sends)

    def _receive(self, timeout: Optional[float], flags: Any) -> bytes:
        """The next message's bytes; with flags (a uint32_t *), its flags land there."""
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
            first = _first(ms)
            call: Callable[[Any, Any, int], int]
            if flags is None:
                rc = lib.smipc_client_recv(h, buf, lenp, first)
                call = lambda b, lp, t: int(lib.smipc_client_recv(h, b, lp, t))  # noqa: E731
            else:
                rc = lib.smipc_client_recv_flags(h, flags, buf, lenp, first)
                call = lambda b, lp, t: int(  # noqa: E731
                    lib.smipc_client_recv_flags(h, flags, b, lp, t))
            if rc == 0:
                data: bytes = ffi.unpack(buf, lenp[0])
                return data
            if rc == lib.SMIPC_ETIMEDOUT and first != ms:
                def attempt(t: int) -> int:
                    lenp[0] = _SCRATCH_SIZE
                    return int(call(buf, lenp, t))
                rc = _more_slices(attempt, rc, deadline)
                if rc == 0:
                    data = ffi.unpack(buf, lenp[0])
                    return data
            if rc == lib.SMIPC_ETOOSMALL:
                big, n, rc = _receive_larger(call, lenp, rc, ms, deadline)
                if rc == 0:
                    data = ffi.unpack(big, n)
                    return data
            raise self._recv_error(rc, timeout)
        finally:
            if cells is not None:
                _give_back(cells)
            self._leave(token)

    def recv(self, timeout: Optional[float] = None) -> bytes:
        """The next whole message from the server, as bytes. Raises Timeout when none
        came within timeout (seconds; None: wait for ever, 0: never block), Closed when
        the server is gone (or this client was closed)."""
        return self._receive(timeout, None)

    def recv_msg(self, timeout: Optional[float] = None) -> Received:
        """The next message as Received(data, broadcast): broadcast is True for a
        message the server broadcast to every client, False for one it sent to this
        client alone (a reply). Raises as recv() does."""
        flags = ffi.new("uint32_t *")
        data = self._receive(timeout, flags)
        return Received(data, bool(flags[0] & lib.SMIPC_MSG_BROADCAST))

    def recv_into(self, buffer: BytesLike, timeout: Optional[float] = None) -> int:
        """Receives the next message into a writable buffer; returns its length. Raises
        BufferTooSmall (with .needed) and leaves the message queued; Timeout and Closed
        as recv()."""
        ms = _timeout_ms(timeout)
        dst = _writable(buffer)
        calls = self._calls
        token = object()
        try:
            calls.append(token)
            if calls[0] is _CLOSING:
                raise self._closed()
            h = self._h
            lenp = ffi.new("size_t *", len(dst))
            first = _first(ms)
            rc = lib.smipc_client_recv(h, dst, lenp, first)
            if rc == 0:
                return int(lenp[0])
            if rc == lib.SMIPC_ETIMEDOUT and first != ms:
                def attempt(t: int) -> int:
                    lenp[0] = len(dst)
                    return int(lib.smipc_client_recv(h, dst, lenp, t))
                rc = _more_slices(attempt, rc, _slices_end(ms, first))
                if rc == 0:
                    return int(lenp[0])
            if rc == lib.SMIPC_ETOOSMALL:
                raise _buffer_too_small(rc, lenp, len(dst))
            raise self._recv_error(rc, timeout)
        finally:
            self._leave(token)

    def send_obj(self, obj: Any, timeout: Optional[float] = None) -> None:
        """Sends obj, pickled (highest protocol), as send() does. For peers that trust
        each other only: unpickling runs code the sender chooses."""
        self.send(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), timeout)

    def recv_obj(self, timeout: Optional[float] = None) -> Any:
        """The next message, unpickled, as recv() receives it.

        Only from a server you trust: unpickling runs whatever code the sender put in
        the message. A plain name's socket lives in a runtime directory that only your
        uid may use (and smipc servers let in only their own uid by default), so its
        server runs as you; a socket path with '/' may belong to anyone: use recv()
        there unless you own the path."""
        return pickle.loads(self.recv(timeout))

    def recv_view(self, timeout: Optional[float] = None) -> "View":
        """Zero-copy receive: the next message from the server read in place, as a
        context manager: ``with cli.recv_view() as msg:`` (msg.data, a read-only
        memoryview valid inside the block; msg.broadcast). See Server.recv_view."""
        return _zero_copy.recv_view(self, timeout, False)

    def loan(self, n: int, timeout: Optional[float] = None) -> "Loan":
        """Zero-copy send: ``with cli.loan(n) as buf:`` gives a writable memoryview of n
        bytes inside shared memory; write the message there (``buf[:] = data``, or
        ``numpy.frombuffer(buf, dtype)[:] = array``) and it is sent, whole, when the
        block ends (given back unsent when the block raises). buf is released at the end
        (touching it afterwards raises ValueError). n is at most the connection's
        bulk_size (1 MiB by default; smipc.LoanTooLarge beyond: use send). The timeout
        bounds the wait for room (Timeout); other sends on this client wait until the
        block ends."""
        return _zero_copy.loan(self, n, timeout, None)

    def _ring_bytes(self) -> int:
        """How large a message fits at once (larger ones stream)."""
        return _fits_whole(self._config(lib.smipc_client_config_of))

    def fileno(self) -> int:
        """A descriptor that select()/poll()/asyncio report readable when recv would
        find a message or the server is gone. Owned by the client: never read or close it."""
        return self._fd(lib.smipc_client_fd)

    def __iter__(self) -> Iterator[bytes]:
        """Every message's bytes until the server goes or this client is closed."""
        while True:
            try:
                data = self.recv()
            except Closed:
                return
            yield data

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<smipc.Client {self.name!r} id={self.id}{' closed' if self.closed else ''}>"


from . import _zero_copy  # noqa: E402  (it uses the helpers above)
