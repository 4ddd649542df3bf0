package smipc

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"smipc.org/smipc/internal/csmipc"
)

// Error is a failed call: Status is the C status (a negative smipc_status), Op what was
// being done, Detail (for a server name that did not work) why: the rule a bad name
// broke, or the socket path that was looked for. Match it with errors.Is against the Err*
// values, or errors.As for Status.
type Error struct {
	Status    int
	Op        string
	Detail    string
	Needed    int // ErrTooSmall: the size the message needs (it stays queued)
	Delivered int // a failed Broadcast: the clients that got it anyway
	Limit     int // ErrLoanTooLarge: the largest loan the connection gives
}

func (e *Error) Error() string {
	msg := "smipc: " + csmipc.Strerror(e.Status)
	if e.Op != "" {
		msg = "smipc: " + e.Op + ": " + csmipc.Strerror(e.Status)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
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
	// a Loan larger than the connection lends in one piece (its BulkSize); .Limit
	ErrLoanTooLarge = sentinel(csmipc.ELOANSIZE)
)

// check turns a C status into an error.
func check(status int, op string) error {
	if status == 0 {
		return nil
	}
	return &Error{Status: status, Op: op}
}

// nameRule is what a name may be (README.md, "Names").
const nameRule = "a name is 1 to 100 letters, digits, '.', '_' or '-' (a socket in the runtime " +
	"directory); a name with '/' in it is a socket path (at most 107 bytes), used as given"

const runtimeDirs = "the runtime directory is $SMIPC_DIR when set, else $XDG_RUNTIME_DIR/smipc, " +
	"else /tmp/smipc-<uid>; a server started with another SMIPC_DIR or XDG_RUNTIME_DIR is " +
	"not seen here"

// NamePath is the socket path a server name stands for (smipc_name_path): a socket in the
// runtime directory, or the path itself for a name with '/'. It creates nothing and says
// nothing of whether a server is there; a bad name is ErrInvalid, saying the rule.
func NamePath(name string) (string, error) {
	status := []int64{0}
	path := csmipc.Name_path_of(name, status)
	if status[0] != 0 {
		if status[0] == int64(csmipc.EINVAL) {
			return "", &Error{Status: int(status[0]), Op: "name " + quote(name),
				Detail: "bad server name: " + nameRule}
		}
		return "", check(int(status[0]), "name "+quote(name))
	}
	return path, nil
}

func quote(name string) string { return fmt.Sprintf("%q", name) }

// nameError turns the status of a Listen or Dial of name into an error that says what to
// do about it; waited: a DialWait.
func nameError(status int, op, name string, waited bool) error {
	if status == 0 {
		return nil
	}
	e := &Error{Status: status, Op: op}
	path, err := NamePath(name)
	switch {
	case status == int(csmipc.EINVAL) && err != nil:
		e.Detail = "bad server name: " + nameRule
	case status == int(csmipc.EINVAL) && strings.HasPrefix(op, "listen"):
		e.Detail = "a Config value is out of its range (see Config's fields)"
	case status == int(csmipc.ENOTFOUND) && strings.Contains(name, "/"):
		e.Detail = "looked for the socket path " + path
	case status == int(csmipc.ENOTFOUND):
		e.Detail = "looked for its socket at " + path + " (" + runtimeDirs + ")"
	case status == int(csmipc.ETIMEDOUT) && waited:
		e.Detail = "no server came up at " + path
		if !strings.Contains(name, "/") {
			e.Detail += " (" + runtimeDirs + ")"
		}
	case status == int(csmipc.EEXIST):
		e.Detail = "a live server already serves " + path
	}
	return e
}
