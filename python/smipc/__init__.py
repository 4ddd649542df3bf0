"""smipc: message passing between processes on one host through shared memory.

    with smipc.Server("demo") as srv:            # in one process
        msg = srv.recv()
        srv.send(msg.client, msg.data.upper())

    with smipc.Client("demo") as cli:            # in another
        cli.send(b"hello")
        print(cli.recv())                        # b'HELLO'

Timeouts are seconds (None: for ever, 0: never block). Errors raise smipc.Error
subclasses that are also the matching builtins (smipc.Timeout is a TimeoutError, ...).
A signal (Ctrl-C) interrupts any blocking call at once. A handle inherited across fork()
is dead in the child: its calls raise smipc.Closed.

A server opened with events=True also sees clients join and leave::

    with smipc.Server("demo", events=True) as srv:
        while True:
            ev = srv.recv_event()    # smipc.Joined(client), smipc.Message, smipc.Left(client)

A client tells a broadcast from a reply with ``cli.recv_msg()`` (smipc.Received(data,
broadcast)); ``send_obj``/``recv_obj`` send pickled objects between trusted peers.

Zero-copy: ``with cli.loan(n) as buf:`` writes a message in place (a writable memoryview
in shared memory, sent at the end of the block), and ``with srv.recv_view() as msg:``
reads one in place (msg.data, a read-only memoryview valid inside the block);
``numpy.frombuffer`` works on both.
"""
import sys

from ._smipc_cffi import ffi as _ffi, lib as _lib

# Handles count their calls in flight with single list operations, correct because the
# GIL applies them one at a time and in order; without a GIL that ordering is not
# promised. (A free-threaded build keeps the GIL on for smipc's extension unless it is
# forced off, e.g. with PYTHON_GIL=0, hence the check after importing it.)
if not getattr(sys, "_is_gil_enabled", lambda: True)():
    raise ImportError("smipc needs the GIL: this free-threaded Python runs without it "
                      "(PYTHON_GIL=0 or -X gil=0); run it with the GIL enabled")

from ._core import BytesLike, Client, Joined, Left, Message, Received, Server
from ._errors import (BufferTooSmall, Closed, Error, Exists, Full, InvalidArgument,
                      LoanTooLarge, MessageTooLarge, NoSuchClient, NotFound, OutOfMemory,
                      PermissionDenied, ProtocolError, SystemCallError, Timeout, strerror)
from ._zero_copy import Loan, View
from ._version import __version__

# Shown (repr, tracebacks, pickles) as the package exports them: smipc.NotFound, not
# smipc._errors.NotFound.
for _public in (BufferTooSmall, Closed, Error, Exists, Full, InvalidArgument, LoanTooLarge,
                MessageTooLarge, NoSuchClient, NotFound, OutOfMemory, PermissionDenied,
                ProtocolError, SystemCallError, Timeout, Client, Joined, Left, Loan, Message,
                Received, Server, View, strerror):
    _public.__module__ = "smipc"
del _public

_library_version = _ffi.string(_lib.smipc_version()).decode()
if _library_version != __version__:
    raise ImportError(f"smipc's compiled part is version {_library_version}, its Python part "
                      f"{__version__}: the installation is mixed up; reinstall smipc")

__all__ = [
    "BufferTooSmall", "BytesLike", "Client", "Closed", "Error", "Exists", "Full",
    "InvalidArgument", "Joined", "Left", "Loan", "LoanTooLarge", "Message",
    "MessageTooLarge", "NoSuchClient",
    "NotFound", "OutOfMemory", "PermissionDenied", "ProtocolError", "Received", "Server",
    "SystemCallError", "Timeout", "View", "__version__", "strerror",
]
