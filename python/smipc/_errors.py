"""The exception classes, one per status code, each also the matching builtin."""
from __future__ import annotations

import os
from typing import Dict, Optional, Type

from ._smipc_cffi import ffi, lib


class Error(Exception):
    """Base class of every smipc error. ``status`` is the C library's code."""

    status: int = 0


class Timeout(Error, TimeoutError):
    """Nothing to receive, or no room to send, before the timeout. A broadcast's has
    ``delivered``, how many clients got the message all the same."""

    delivered: Optional[int] = None


class InvalidArgument(Error, ValueError):
    """A bad argument: a bad name, configuration or buffer."""


class OutOfMemory(Error, MemoryError):
    """The library could not allocate or map memory."""


class BufferTooSmall(Error, ValueError):
    """The buffer given to ``recv_into`` is too small. ``needed`` is the message's size;
    the message stays queued for the next receive."""

    needed: int = 0


class MessageTooLarge(Error, ValueError):
    """The message is larger than the connection's ``max_message_size``."""


class NotFound(Error, FileNotFoundError):
    """No live server has that name; the message says which socket path was looked at."""


class Exists(Error, FileExistsError):
    """A live server already owns that name."""


class Full(Error):
    """The server already has ``max_clients`` clients."""


class Closed(Error, ConnectionError):
    """The peer closed or died, or this handle is closed (or was inherited across
    fork(): a child must open its own)."""


class NoSuchClient(Error, LookupError):
    """No connected client has that id."""


class ProtocolError(Error):
    """The peer broke the protocol (framing, checksum, version); the connection is over.
    A server's has ``client``, the id of the client it dropped."""

    client: Optional[int] = None


class PermissionDenied(Error, PermissionError):
    """Not allowed: another uid, or file permissions."""


class SystemCallError(Error, OSError):
    """An operating-system call failed; ``errno`` says which error."""


class LoanTooLarge(Error, ValueError):
    """A loan larger than the connection lends in one piece (its bulk_size, 1 MiB by
    default): send the message with send(), or open the server with a larger bulk_size."""


_BY_STATUS: Dict[int, Type[Error]] = {
    lib.SMIPC_ETIMEDOUT: Timeout,
    lib.SMIPC_EINVAL: InvalidArgument,
    lib.SMIPC_ENOMEM: OutOfMemory,
    lib.SMIPC_ETOOSMALL: BufferTooSmall,
    lib.SMIPC_EMSGSIZE: MessageTooLarge,
    lib.SMIPC_ENOTFOUND: NotFound,
    lib.SMIPC_EEXIST: Exists,
    lib.SMIPC_EFULL: Full,
    lib.SMIPC_ECLOSED: Closed,
    lib.SMIPC_ENOCLIENT: NoSuchClient,
    lib.SMIPC_EPROTO: ProtocolError,
    lib.SMIPC_EACCES: PermissionDenied,
    lib.SMIPC_ESYS: SystemCallError,
    lib.SMIPC_ELOANSIZE: LoanTooLarge,
}


def strerror(status: int) -> str:
    """The library's words for a status code."""
    words: str = ffi.string(lib.smipc_strerror(status)).decode()
    return words


def error_for(status: int, context: str = "", plain: bool = False) -> Error:
    """The exception for a negative status, with errno where the system failed; its
    message is context and the library's words for status (only context when plain)."""
    cls = _BY_STATUS.get(status, Error)
    words = strerror(status)
    message = context if plain and context else f"{context}: {words}" if context else words
    if cls is SystemCallError:
        err = ffi.errno
        exc: Error = cls(err, f"{message}: {os.strerror(err)}")
    else:
        exc = cls(message)
    exc.status = status
    return exc


def check(status: int, context: str = "") -> int:
    """Raises the matching exception for a negative status; returns it otherwise."""
    if status < 0:
        raise error_for(status, context)
    return status
