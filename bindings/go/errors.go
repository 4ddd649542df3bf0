package smipc

import (
	"io/fs"
	"os"

	"smipc.org/smipc/internal/csmipc"
)

// Error is a failed call: Status is the C status (a negative smipc_status), Op what was
// being done. Match it with errors.Is against the Err* values, or errors.As for Status.
type Error struct {
	Status    int
	Op        string
	Needed    int // ErrTooSmall: the size the message needs (it stays queued)
	Delivered int // a failed Broadcast: the clients that got it anyway
}

func (e *Error) Error() string {
	words := csmipc.Strerror(e.Status)
	if e.Op == "" {
		return "smipc: " + words
	}
	return "smipc: " + e.Op + ": " + words
}

// Is makes errors.Is(err, ErrTimeout) and the like true for every error of that status,
// and also matches os.ErrDeadlineExceeded, fs.ErrNotExist, fs.ErrExist, fs.ErrPermission.
func (e *Error) Is(target error) bool {
	if t, ok := target.(*Error); ok {
		return t.Op == "" && t.Status == e.Status
	}
	switch target {
	case os.ErrDeadlineExceeded:
		return e.Status == int(csmipc.ETIMEDOUT)
	case fs.ErrNotExist:
		return e.Status == int(csmipc.ENOTFOUND)
	case fs.ErrExist:
		return e.Status == int(csmipc.EEXIST)
	case fs.ErrPermission:
		return e.Status == int(csmipc.EACCES)
	}
	return false
}

// Timeout reports whether the call ran out of time (as net.Error does).
func (e *Error) Timeout() bool { return e.Status == int(csmipc.ETIMEDOUT) }

func sentinel(s csmipc.Enum_SS_smipc_status) *Error { return &Error{Status: int(s)} }

// The errors a call returns, for errors.Is.
var (
	ErrTimeout    = sentinel(csmipc.ETIMEDOUT) // nothing came / no room before the timeout
	ErrInvalid    = sentinel(csmipc.EINVAL)    // a bad argument (a bad name, ...)
	ErrNoMemory   = sentinel(csmipc.ENOMEM)
	ErrTooSmall   = sentinel(csmipc.ETOOSMALL) // RecvInto's buffer is too small; .Needed
	ErrTooLarge   = sentinel(csmipc.EMSGSIZE)  // larger than the connection's MaxMessageSize
	ErrNotFound   = sentinel(csmipc.ENOTFOUND) // no live server with that name
	ErrExists     = sentinel(csmipc.EEXIST)    // a live server already has that name
	ErrFull       = sentinel(csmipc.EFULL)     // the server has MaxClients clients
	ErrClosed     = sentinel(csmipc.ECLOSED)   // the peer closed or died, or this handle is closed
	ErrNoClient   = sentinel(csmipc.ENOCLIENT) // no connected client with that id
	ErrProtocol   = sentinel(csmipc.EPROTO)    // the peer broke the protocol
	ErrPermission = sentinel(csmipc.EACCES)    // not allowed (another uid, permissions)
	ErrSystem     = sentinel(csmipc.ESYS)      // an operating-system call failed
)

// check turns a C status into an error.
func check(status int, op string) error {
	if status == 0 {
		return nil
	}
	return &Error{Status: status, Op: op}
}
