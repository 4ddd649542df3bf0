"""Zero-copy: a loan is room for a message inside the connection's shared memory, written
in place and sent when its block ends; a view is a received message read in place.

    with cli.loan(len(frame)) as buf:          # a writable memoryview in the ring
        buf[:] = frame                         # or numpy.frombuffer(buf, ...)[:] = array
    with srv.recv_view(timeout=1) as msg:      # msg.client; msg.data: read-only memoryview
        total = numpy.frombuffer(msg.data, numpy.float32).sum()

The memoryview is the shared memory itself, valid inside the block: at its end a loan is
sent (or, when the block raised, given back unsent) and a view is released for the
sender to reuse, and the memoryview is released too, so touching it afterwards raises
ValueError. Objects made from it inside the block (numpy arrays, slices) hold on to the
memory: that shared memory stays mapped until the last of them is gone, even after
close() (which still closes the handle and its descriptors at once), so they never crash;
but what they show may change once the block is left (the sender writes there again, or
the idle area's pages go back and read as zeros): copy what you keep (bytes(msg.data),
arr.copy()).
Between a loan and its end, other sends on the handle wait (between a view and its end,
other receives).

A loan is one packet or one chunk of the bulk area: at most bulk_size bytes (1 MiB by
default; more is smipc.LoanTooLarge, a ValueError: send it with send(), or open the
server with a larger bulk_size). A view is in place when the message is in one piece
(any message from a loan, or one up to packet_size or between 4 packets and bulk_size),
else a private copy; its checksum is verified before it is shown.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from ._smipc_cffi import ffi, lib

if TYPE_CHECKING:
    from ._core import _Handle


def _pin(handle: "_Handle", take: Callable[[Any], int]) -> Any:
    """A pin on the handle's shared memory (a server's on the connection a view or loan is
    in, taken right after it) by take(void **out), one of the smipc_*_pin calls: only the
    memory, mapped until the pin goes, so objects made from a memoryview never crash, while
    the handle itself closes when it is closed."""
    pinp = ffi.new("void **")
    rc = take(pinp)
    if rc:
        raise handle._error(int(rc), "pinning zero-copy memory")
    return pinp[0]


def _keep(ptr: Any, n: int, readonly: bool, pin: Any,
          unpin: Callable[[Any], None]) -> memoryview:
    """A memoryview of n bytes at ptr whose last reference (the memoryview's, or those of
    the objects made from it) lets the pin go."""
    keeper = ffi.gc(ffi.cast("char *", ptr), lambda _: unpin(pin))
    view = memoryview(ffi.buffer(keeper, n))
    return view.toreadonly() if readonly else view


def _release(view: Optional[memoryview]) -> None:
    if view is not None:
        try:
            view.release()
        except BufferError:  # numpy arrays made from it: they keep the memory (see above)
            pass


class Loan:
    """What cli.loan(n) / srv.loan(client, n) return: a context manager whose value is a
    writable memoryview of n bytes in shared memory, sent as one message when the block
    ends without an exception (given back unsent when it raises)."""

    __slots__ = ("_handle", "_n", "_start", "_commit", "_cancel", "_pin", "_view", "_open",
                 "_token")

    def __init__(self, handle: "_Handle", n: int, start: Callable[[Any], None],
                 commit: Callable[[int], int], cancel: Callable[[], int],
                 pin: Callable[[], Any]) -> None:
        """Made by cli.loan / srv.loan; the room is taken when the block begins."""
        self._handle = handle
        self._n = n
        self._start = start  # (void ** out) -> None, raising; waits for room
        self._commit = commit
        self._cancel = cancel
        self._pin = pin  # () -> (pin, unpin): keeps the lent memory mapped for Python
        self._view: Optional[memoryview] = None
        self._open = False
        self._token: Optional[object] = None

    def __enter__(self) -> memoryview:
        if self._open or self._view is not None:
            raise RuntimeError("a Loan is entered once")
        handle = self._handle
        token = object()
        calls = handle._calls
        out = ffi.new("void **")
        counted = False
        try:
            calls.append(token)
            counted = True
            if calls[0] is not _OPEN:
                raise handle._closed()
            self._start(out)
            self._open = True
            try:
                pin, unpin = self._pin()
            except BaseException:
                self._open = False
                self._cancel()
                raise
            self._view = _keep(out[0], self._n, False, pin, unpin)
            self._token = token  # the handle counts the loan in until its end
            counted = False
        finally:
            if counted:
                handle._leave(token)
        return self._view

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _release(self._view)
        if not self._open:
            return
        self._open = False
        token, self._token = self._token, None
        try:
            if exc_type is not None:
                self._cancel()
                return
            rc = self._commit(self._n)
            if rc:
                raise self._handle._error(rc)
        finally:
            self._handle._leave(token)


class View:
    """What srv.recv_view() / cli.recv_view() return: a received message read in place,
    as a context manager (its value is the View itself): .data is a read-only memoryview
    of the message, .client the sender (a server's view), .broadcast whether it was a
    broadcast (a client's view). Released at the end of the block, or by release()."""

    __slots__ = ("client", "data", "broadcast", "_release_c")

    def __init__(self, client: int, data: memoryview, broadcast: bool,
                 release: Callable[[], None]) -> None:
        """Made by recv_view, which has received the message already."""
        self.client = client
        self.data = data
        self.broadcast = broadcast
        self._release_c: Optional[Callable[[], None]] = release

    def release(self) -> None:
        """Lets the sender reuse the memory (and other receives go on); the memoryview
        is released. Twice is fine."""
        release, self._release_c = self._release_c, None
        _release(self.data)
        if release is not None:
            release()

    def __enter__(self) -> "View":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:  # a view never released holds up the handle's receives
        try:
            self.release()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "released" if self._release_c is None else f"{len(self.data)} bytes"
        return f"<smipc.View client={self.client} {state}>"


def _waiting(handle: "_Handle", call: Callable[[int], int], ms: int,
             deadline: Optional[float]) -> int:
    """call(timeout_ms) as a blocking call of the handle makes it: in slices in the main
    thread, so that a signal handler runs (a loan or a view that times out leaves nothing
    behind)."""
    first = _first(ms)
    rc = call(first)
    if rc == lib.SMIPC_ETIMEDOUT and first != ms:
        rc = _more_slices(call, rc, deadline)
    return rc


def _viewed(handle: "_Handle", token: object, client: int, datap: Any, n: int, flags: int,
            release: Callable[[], int], server: bool) -> View:
    broadcast = bool(flags & lib.SMIPC_MSG_BROADCAST)
    if flags & lib.SMIPC_MSG_COPY:
        # in pieces in shared memory: the library's copy is reused by the next view, so a
        # memoryview of it could outlive its contents; ours is a bytes of its own
        data = memoryview(bytes(ffi.buffer(datap[0], n)))
        release()
        handle._leave(token)
        return View(client, data, broadcast, lambda: None)
    h = handle._h
    try:
        pin = _pin(handle, (lambda p: lib.smipc_server_pin(h, p)) if server
                   else (lambda p: lib.smipc_client_pin(h, p)))
    except BaseException:
        release()
        handle._leave(token)
        raise
    unpin = lib.smipc_server_unpin if server else lib.smipc_client_unpin

    def end() -> None:  # the handle counts the view in until its release
        try:
            release()
        finally:
            handle._leave(token)
    return View(client, _keep(datap[0], n, True, pin, unpin), broadcast, end)


def recv_view(handle: "_Handle", timeout: Optional[float], server: bool) -> View:
    """Server.recv_view / Client.recv_view."""
    ms = -1 if timeout is None else _timeout_ms(timeout)
    deadline = _start(timeout)
    calls = handle._calls
    token = object()
    counted = False
    try:
        calls.append(token)
        counted = True
        if calls[0] is not _OPEN:
            raise handle._closed()
        h = handle._h
        datap, lenp = ffi.new("void **"), ffi.new("size_t *")
        flagsp, frm = ffi.new("uint32_t *"), ffi.new("smipc_client_id *")
        if server:
            rc = _waiting(handle, lambda t: int(lib.smipc_server_recv_view(
                h, frm, datap, lenp, flagsp, t)), ms, deadline)
        else:
            rc = _waiting(handle, lambda t: int(lib.smipc_client_recv_view(
                h, datap, lenp, flagsp, t)), ms, deadline)
        if rc:
            recv_error: Any = getattr(handle, "_recv_error")  # the Server's takes frm
            raise recv_error(rc, frm, timeout) if server else recv_error(rc, timeout)
        release = ((lambda: int(lib.smipc_server_release(h))) if server
                   else (lambda: int(lib.smipc_client_release(h))))
        client = int(frm[0]) if server else int(lib.smipc_client_id_of(h))
        counted = False  # the view lets it go at its release (or _viewed did)
        return _viewed(handle, token, client, datap, int(lenp[0]), int(flagsp[0]), release,
                       server)
    finally:
        if counted:
            handle._leave(token)


def loan(handle: "_Handle", n: int, timeout: Optional[float], to: Optional[int]) -> Loan:
    """Client.loan (to None) / Server.loan(to, ...)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise TypeError(f"a loan's size is a number of bytes (an int >= 0), not {n!r}")
    ms = -1 if timeout is None else _timeout_ms(timeout)

    def start(out: Any) -> None:
        h = handle._h
        deadline = _start(timeout)
        if to is None:
            rc = _waiting(handle, lambda t: int(lib.smipc_client_loan(h, out, n, t)), ms,
                          deadline)
        else:
            rc = _waiting(handle, lambda t: int(lib.smipc_server_loan(h, to, out, n, t)), ms,
                          deadline)
        if rc == lib.SMIPC_ETIMEDOUT:
            raise _timed_out(f"no room to lend {n} bytes {_within(timeout)}")
        if rc:
            raise handle._error(rc, f"a loan of {n} bytes")

    if to is None:
        def commit(k: int) -> int:
            return int(lib.smipc_client_commit(handle._h, k))

        def cancel() -> int:
            return int(lib.smipc_client_cancel_loan(handle._h))

        def pin() -> Any:
            return (_pin(handle, lambda p: lib.smipc_client_pin(handle._h, p)),
                    lib.smipc_client_unpin)
    else:
        def commit(k: int) -> int:
            return int(lib.smipc_server_commit(handle._h, to, k))

        def cancel() -> int:
            return int(lib.smipc_server_cancel_loan(handle._h, to))

        def pin() -> Any:
            return (_pin(handle, lambda p: lib.smipc_server_pin_loan(handle._h, to, p)),
                    lib.smipc_server_unpin)
    return Loan(handle, n, start, commit, cancel, pin)


from ._core import (_OPEN, _first, _more_slices, _start, _timed_out,  # noqa: E402
                    _timeout_ms, _within)
