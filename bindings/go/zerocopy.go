package smipc

import (
	"fmt"
	"runtime"
	"time"

	"smipc.org/smipc/internal/csmipc"
)

// Loan is room for one message inside the connection's shared memory (Client.Loan,
// Server.Loan): write the message in place through Bytes, then Commit sends its first
// bytes with no copy, or Cancel gives the room back unsent:
//
//	loan, err := cli.Loan(n, time.Second)
//	if err != nil {
//		return err // errors.Is(err, smipc.ErrLoanTooLarge): more than BulkSize, use Send
//	}
//	defer loan.Cancel() // does nothing once committed
//	buf := loan.Bytes()
//	m := copy(buf, header)
//	return loan.Commit(m)
//
// Until the loan ends, other sends on that handle (a server's: to that client) wait.
// Commit and Cancel may come from any goroutine; the first one ends the loan, and Bytes
// is nil after it. A client's memory stays mapped (pinned: only the memory, Close still
// closes the client's descriptors at once) while the Loan is reachable, even after Close,
// so a slice of it touched late never crashes, but what is written there then goes
// nowhere and may overwrite a later message's room. A server's loan is the client's
// connection memory, pinned by the server while the Loan is reachable, through the
// commit, the client's departure and Close alike: a slice of it touched late never
// crashes either, but after the commit the client reads there and later sends write there
// again, so what it shows may change and what is written there may corrupt a later
// message: do not touch it after the loan ends. Keep the Loan reachable while you use its
// bytes (runtime.KeepAlive(loan) after the last use). A Loan nobody ended is cancelled
// when it is garbage.
type Loan struct {
	buf    []byte
	lease  *lease
	commit func(n int) int
	op     string
}

// Bytes is the room, len(Bytes()) == Len() bytes of shared memory; nil once the loan ended.
func (l *Loan) Bytes() []byte {
	if l.lease.isEnded() {
		return nil
	}
	return l.buf
}

// Len is how many bytes were lent.
func (l *Loan) Len() int { return len(l.buf) }

// Done reports whether the loan ended (committed, cancelled, or its handle closed).
func (l *Loan) Done() bool { return l.lease.isEnded() }

// Commit sends the first n bytes of Bytes as one message and ends the loan. ErrInvalid
// (the loan stays) for n outside 0..Len(); ErrClosed when the peer is gone or the handle
// closed (the loan ends all the same) or the loan had ended.
func (l *Loan) Commit(n int) error {
	if n < 0 || n > len(l.buf) {
		return &Error{Status: int(csmipc.EINVAL), Op: fmt.Sprintf(
			"%s: commit of %d bytes of a loan of %d", l.op, n, len(l.buf))}
	}
	rc, ok := l.lease.end(func() int { return l.commit(n) })
	if !ok {
		return &Error{Status: int(csmipc.ECLOSED), Op: l.op + ": commit",
			Detail: "the loan was committed, cancelled or closed"}
	}
	return check(rc, l.op+": commit")
}

// Cancel gives the room back unsent. After a Commit, or a second time, it does nothing:
// defer it after a successful Loan.
func (l *Loan) Cancel() error {
	l.lease.end(l.lease.undo)
	return nil
}

// View is a received message read in place (Server.RecvView, Client.RecvView): Data is the
// shared memory the sender wrote, read-only by contract and not copied, until Release
// lets the sender reuse it:
//
//	v, err := srv.RecvView(time.Second)
//	if err != nil {
//		return err
//	}
//	defer v.Release()
//	sum := crc32.ChecksumIEEE(v.Data()) // v.Client() sent it
//
// Until it is released, other receives on that handle wait. A message that was not in one
// piece in shared memory is shown from a copy of its own instead (Copied), released at
// once. Never write to Data. After Release, Data still returns the same slice and reading
// it never crashes: the memory stays mapped while the View is reachable (pinned: only
// the memory, never the handle's descriptors), even after Close, through the sender's
// departure alike; but what it shows may change once released, as the sender writes there
// again: copy what you keep (bytes.Clone). Keep the View reachable while you use its
// bytes (runtime.KeepAlive(v) after the last use, if nothing else uses v later). A View
// never released is released when it is garbage.
type View struct {
	data      []byte
	client    ClientID
	broadcast bool
	copied    bool
	lease     *lease // nil for a copy: released already
}

// Data is the message (len 0 for an empty one). See View for how long it stays valid.
func (v *View) Data() []byte { return v.data }

// Client is the client that sent it (on a server), or this client's own ID (on a client).
func (v *View) Client() ClientID { return v.client }

// Broadcast reports, on a client, whether the server broadcast it (false: sent to this
// client alone).
func (v *View) Broadcast() bool { return v.broadcast }

// Copied reports whether Data is a private copy (the message was not in one piece).
func (v *View) Copied() bool { return v.copied }

// Released reports whether it was released (or its handle closed).
func (v *View) Released() bool { return v.lease == nil || v.lease.isEnded() }

// Release lets the sender reuse the memory, and other receives go on. Twice is fine.
func (v *View) Release() error {
	if v.lease != nil {
		v.lease.end(v.lease.undo)
	}
	return nil
}

// loanLimit is the largest loan a connection with these limits gives (smipc_link_loan).
func loanLimit(c csmipc.ServerConfig) int {
	limit := int(c.GetPacket_size())
	if c.GetBulk_slots() != 0 && int(c.GetBulk_size()) > limit {
		limit = int(c.GetBulk_size())
	}
	return limit
}

// loanError is the error of a failed loan of n bytes; config fills the connection's limits.
func loanError(rc int, op string, n int, timeout time.Duration,
	config func(csmipc.ServerConfig) int) error {
	e := &Error{Status: rc, Op: fmt.Sprintf("%s of %d bytes", op, n)}
	switch rc {
	case int(csmipc.ELOANSIZE):
		c := csmipc.NewServerConfig()
		defer csmipc.DeleteServerConfig(c)
		if config(c) == 0 {
			e.Limit = loanLimit(c)
			where := "one packet: it has no bulk area"
			if c.GetBulk_slots() != 0 && c.GetBulk_size() >= c.GetPacket_size() {
				where = "its BulkSize"
			}
			e.Detail = fmt.Sprintf("a loan is at most %d bytes on this connection (%s); send a "+
				"larger message with Send, which streams any size, or give the server a larger "+
				"Config.BulkSize (up to 64 MiB)", e.Limit, where)
		}
	case int(csmipc.ETIMEDOUT):
		e.Detail = fmt.Sprintf("no room to lend %d bytes within %v", n, timeout)
	}
	return e
}

// newLoan wraps a loan the C call made (between enter and leave); drop (unpin its memory)
// runs once the Loan is garbage. The lease holds the handle until the loan ends.
func newLoan(h *handle, buf []byte, op string, commit func(int) int, undo func() int,
	drop func()) *Loan {
	l := &Loan{buf: buf, lease: h.newLease(undo), commit: commit, op: op}
	runtime.SetFinalizer(l, func(l *Loan) {
		l.lease.end(l.lease.undo) // nobody ended it
		drop()
	})
	return l
}

// newView wraps a view the C call made (between enter and leave). A view that is a copy,
// or one in place whose memory nothing pinned (pin 0: it could go with its handle), is
// copied into Go memory (the library reuses its copy) and released at once; Copied tells
// the library's flag all the same. One in place holds the lease (the handle, until the
// release), and its pin is let go once the View is garbage.
func newView(h *handle, data []byte, client ClientID, flags int64, pin uint64,
	release func() int, unpin func(uint64)) *View {
	v := &View{client: client, broadcast: flags&int64(csmipc.MSG_BROADCAST) != 0,
		copied: flags&int64(csmipc.MSG_COPY) != 0}
	if v.copied || pin == 0 {
		v.data = append(make([]byte, 0, len(data)), data...)
		release()
		unpin(pin) // 0 is fine
		return v
	}
	v.data = data
	v.lease = h.newLease(release)
	runtime.SetFinalizer(v, func(v *View) {
		v.lease.end(v.lease.undo) // nobody released it
		unpin(pin)
	})
	return v
}

// Loan lends room for a message of up to n bytes inside the shared memory, to write in
// place (Loan.Bytes) and send with Loan.Commit; Loan.Cancel sends nothing. timeout bounds
// the wait for room (ErrTimeout). A loan is one packet or one chunk of the bulk area: more
// than the connection's BulkSize (1 MiB by default) is ErrLoanTooLarge, with .Limit (send
// it with Send). Until the loan ends, other sends on c wait.
func (c *Client) Loan(n int, timeout time.Duration) (*Loan, error) {
	if n < 0 {
		return nil, &Error{Status: int(csmipc.EINVAL), Op: fmt.Sprintf("loan of %d bytes", n)}
	}
	if err := c.enter("loan"); err != nil {
		return nil, err
	}
	defer c.leave()
	pin, status := []int64{0}, []int64{0}
	buf := csmipc.Client_loan_span(c.h, int64(n), pin, millis(timeout), status)
	if rc := int(status[0]); rc != 0 {
		return nil, loanError(rc, "loan", n, timeout, func(cfg csmipc.ServerConfig) int {
			return csmipc.Client_config_of(c.h, cfg)
		})
	}
	p := uint64(pin[0]) // the client's memory, mapped until the Loan is garbage
	return newLoan(&c.handle, buf, "loan",
		func(k int) int { return csmipc.Client_commit(c.h, int64(k)) },
		func() int { return csmipc.Client_cancel_loan(c.h) },
		func() { csmipc.Client_unpin_view(p) }), nil
}

// RecvView returns the next message from the server, in place (a copy of its own when it
// was not in one piece in shared memory), its checksum verified; Release it for the
// server to reuse the memory (until then other receives on c wait). What it shows stays
// mapped while the View is reachable (the client pins it), even after Close.
// View.Broadcast tells a broadcast from a message sent to c alone.
func (c *Client) RecvView(timeout time.Duration) (*View, error) {
	if err := c.enter("recv view"); err != nil {
		return nil, err
	}
	defer c.leave()
	flags, pin, status := []int64{0}, []int64{0}, []int64{0}
	data := csmipc.Client_recv_view_span(c.h, flags, pin, millis(timeout), status)
	if err := check(int(status[0]), "recv view"); err != nil {
		return nil, err
	}
	// the client's memory, mapped until the View is garbage (0: a copy, or nothing pinned)
	return newView(&c.handle, data, c.id, flags[0], uint64(pin[0]),
		func() int { return csmipc.Client_release(c.h) }, csmipc.Client_unpin_view), nil
}

// Loan lends room for a message of up to n bytes to the client to, inside its shared
// memory, as Client.Loan does (ErrNoClient: no such client). One loan per client at a
// time: until it ends, other sends to that client wait. What it lends stays mapped while
// the Loan is reachable (the server pins it), through the commit, the client's departure
// and Close alike; still, do not touch its slice after the loan ended (see Loan).
func (s *Server) Loan(to ClientID, n int, timeout time.Duration) (*Loan, error) {
	op := fmt.Sprintf("loan to client %d", to)
	if n < 0 {
		return nil, &Error{Status: int(csmipc.EINVAL), Op: fmt.Sprintf("%s of %d bytes", op, n)}
	}
	if err := s.enter(op); err != nil {
		return nil, err
	}
	defer s.leave()
	pin, status := []int64{0}, []int64{0}
	buf := csmipc.Server_loan_span(s.h, uint64(to), int64(n), pin, millis(timeout), status)
	if rc := int(status[0]); rc != 0 {
		return nil, loanError(rc, op, n, timeout, func(cfg csmipc.ServerConfig) int {
			return csmipc.Server_config_of(s.h, cfg)
		})
	}
	p := uint64(pin[0]) // the lent memory, mapped until the Loan is garbage
	return newLoan(&s.handle, buf, op,
		func(k int) int { return csmipc.Server_commit(s.h, uint64(to), int64(k)) },
		func() int { return csmipc.Server_cancel_loan(s.h, uint64(to)) },
		func() { csmipc.Server_unpin_view(p) }), nil
}

// RecvView returns the next message from any client, in place (a copy of its own when it
// was not in one piece in shared memory), its checksum verified; View.Client sent it.
// Release it for the client to reuse the memory (until then other receives on s wait).
// What it shows stays mapped while the View is reachable (the server pins it), through
// the client's departure and Close alike.
func (s *Server) RecvView(timeout time.Duration) (*View, error) {
	if err := s.enter("recv view"); err != nil {
		return nil, err
	}
	defer s.leave()
	from, flags, pin, status := []int64{0}, []int64{0}, []int64{0}, []int64{0}
	data := csmipc.Server_recv_view_span(s.h, from, flags, pin, millis(timeout), status)
	if err := check(int(status[0]), "recv view"); err != nil {
		return nil, err
	}
	// what it shows, mapped until the View is garbage (0: a copy, or nothing pinned)
	return newView(&s.handle, data, ClientID(from[0]), flags[0], uint64(pin[0]),
		func() int { return csmipc.Server_release(s.h) }, csmipc.Server_unpin_view), nil
}
