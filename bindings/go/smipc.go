// Package smipc passes messages between processes on one Linux host through shared
// memory: a Server owns a name, Clients Dial it, and each connection gets its own rings.
//
// It wraps the C library (libsmipc, found through pkg-config) with what SWIG generates
// from bindings/smipc.i. Every handle is safe for several goroutines at once, a blocking
// call never stops other goroutines, and Close may be called while other goroutines are
// blocked on the same handle: they return ErrClosed at once.
//
// Timeouts are time.Duration: negative waits for ever, 0 never blocks, and anything
// else waits at most that long (rounded up to a millisecond).
//
// A harness that starts its server in another process connects with DialWait, which
// waits for the name to come alive (Dial says ErrNotFound at once). A server whose
// Config has Events set learns from RecvEvent when a client joined and when it left, in
// order with its messages. A client's RecvMsg tells a broadcast from a message sent to
// it alone. Errors about a name say the rule a bad name broke, or the socket path that
// was looked for (NamePath).
//
// Zero-copy: Client.Loan and Server.Loan lend room in the shared memory to write a message
// in place (Loan), and Server.RecvView and Client.RecvView show a received one in place
// (View); see Loan and View for how long their bytes stay valid.
package smipc

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"smipc.org/smipc/internal/csmipc"
)

// ClientID names a client of a server; a server never reuses one.
type ClientID uint64

// Message is what a server receives: the client that sent it and the whole message.
type Message struct {
	Client ClientID
	Data   []byte
}

// Received is what a client's RecvMsg returns: the whole message, and whether the server
// broadcast it (Server.Broadcast) or sent it to this client alone (Server.Send).
type Received struct {
	Data      []byte
	Broadcast bool
}

// EventKind says what an Event tells.
type EventKind int

// The kinds of Event (the values of C's smipc_event_kind).
const (
	EventMessage EventKind = iota // a message from Client, in Data
	EventJoined                   // Client connected (told before any of its messages)
	EventLeft                     // Client is gone: closed, died or dropped (after its last message)
)

func (k EventKind) String() string {
	switch k {
	case EventMessage:
		return "message"
	case EventJoined:
		return "joined"
	case EventLeft:
		return "left"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is what Server.RecvEvent returns: a message, or on a server with Config.Events,
// a client joining or leaving (Data is empty then).
type Event struct {
	Kind   EventKind
	Client ClientID
	Data   []byte
}

// Config is a server's limits. A zero field means the library's default (see
// DefaultConfig).
type Config struct {
	MaxClients     uint32 // clients at once; default 64
	PacketSize     uint32 // bytes of data per packet; default 4096
	RingPackets    uint32 // packets per ring, each way; default 64
	MaxMessageSize uint64 // default 64 MiB
	BulkSize       uint32 // bytes per chunk of the bulk area (the largest loan); default 1 MiB
	BulkSlots      uint32 // chunks in the bulk area, each way; default 4
	NoBulk         bool   // no bulk area: large messages stream through the ring alone
	NoChecksum     bool   // skip CRC32C on this server's connections
	AllowAnyUID    bool   // accept clients of any uid (default: this uid only)
	Events         bool   // RecvEvent also tells of joins and departures (Recv passes them over)
}

// DefaultConfig is the library's defaults.
func DefaultConfig() Config {
	c := csmipc.NewServerConfig()
	defer csmipc.DeleteServerConfig(c)
	return fromC(c)
}

// Version is the C library's version, "MAJOR.MINOR.PATCH".
func Version() string { return csmipc.Version() }

func fromC(c csmipc.ServerConfig) Config {
	flags := int(c.GetFlags())
	return Config{
		MaxClients:     uint32(c.GetMax_clients()),
		PacketSize:     uint32(c.GetPacket_size()),
		RingPackets:    uint32(c.GetRing_packets()),
		MaxMessageSize: c.GetMax_message_size(),
		BulkSize:       uint32(c.GetBulk_size()),
		BulkSlots:      uint32(c.GetBulk_slots()),
		NoBulk:         c.GetBulk_size() == 0 && c.GetBulk_slots() == 0,
		NoChecksum:     flags&int(csmipc.NO_CHECKSUM) != 0,
		AllowAnyUID:    flags&int(csmipc.ALLOW_ANY_UID) != 0,
		Events:         flags&int(csmipc.EVENTS) != 0,
	}
}

// toC fills a C config (the defaults, then the fields that are set); the caller deletes it.
func toC(cfg *Config) csmipc.ServerConfig {
	c := csmipc.NewServerConfig()
	if cfg.MaxClients != 0 {
		c.SetMax_clients(uint(cfg.MaxClients))
	}
	if cfg.PacketSize != 0 {
		c.SetPacket_size(uint(cfg.PacketSize))
	}
	if cfg.RingPackets != 0 {
		c.SetRing_packets(uint(cfg.RingPackets))
	}
	if cfg.MaxMessageSize != 0 {
		c.SetMax_message_size(cfg.MaxMessageSize)
	}
	if cfg.BulkSize != 0 {
		c.SetBulk_size(uint(cfg.BulkSize))
	}
	if cfg.BulkSlots != 0 {
		c.SetBulk_slots(uint(cfg.BulkSlots))
	}
	if cfg.NoBulk {
		c.SetBulk_size(0)
		c.SetBulk_slots(0)
	}
	var flags uint
	if cfg.NoChecksum {
		flags |= uint(csmipc.NO_CHECKSUM)
	}
	if cfg.AllowAnyUID {
		flags |= uint(csmipc.ALLOW_ANY_UID)
	}
	if cfg.Events {
		flags |= uint(csmipc.EVENTS)
	}
	c.SetFlags(flags)
	return c
}

// millis is C's timeout: < 0 for ever, 0 never blocks, else at least a millisecond.
func millis(d time.Duration) int {
	switch {
	case d < 0:
		return -1
	case d == 0:
		return 0
	case d >= time.Duration(math.MaxInt32)*time.Millisecond:
		return math.MaxInt32
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// handle counts the calls in flight on a C handle (each holds the read lock while it is
// in C), so that Close while another goroutine is blocked is safe: Close first shuts the
// C handle down, which makes blocked calls return ECLOSED at once, then takes the write
// lock, which waits for them, and only then frees the C handle.
//
// Zero-copy adds one hold on the C handle per Loan or View not yet ended (a lease), until
// its Commit, Cancel or Release, or Close, which ends it as Cancel or Release would: the
// C handle is freed once Close has run and the last lease is gone, so before Close
// returns. The memory a Loan or View shows is not kept by a hold but by a pin
// (smipc_client_pin, smipc_server_pin, _pin_loan: only the memory, never the handle's
// descriptors), taken in the C call that made the Loan or View and let go by its
// finalizer once it is garbage. Only Loans and Views have finalizers; a handle has none.
type handle struct {
	calls   sync.RWMutex
	closed  bool // written under the write lock, read under the read lock
	closing atomic.Bool
	kind    string
	holds   atomic.Int64 // 1 for the handle itself until Close, 1 per lease
	free    func()       // set by Close before it lets go of its own hold

	leaseMu sync.Mutex
	leases  map[*lease]struct{}
}

func (h *handle) init(kind string) {
	h.kind = kind
	h.holds.Store(1)
}

// hold keeps the C handle from being freed; only between enter and leave.
func (h *handle) hold() { h.holds.Add(1) }

// letGo lets go of a hold, from any goroutine; the last one frees the C handle.
func (h *handle) letGo() {
	if h.holds.Add(-1) == 0 {
		h.free()
	}
}

// lease is a Loan or View not yet ended: it holds the C handle, and exactly one call
// ends it, its own (Commit, Cancel, Release) or undo (cancel, release) when the handle
// closes or the Loan or View was lost.
type lease struct {
	h     *handle
	mu    sync.Mutex
	ended bool // guarded by mu
	undo  func() int
}

// newLease makes a lease; only between enter and leave.
func (h *handle) newLease(undo func() int) *lease {
	l := &lease{h: h, undo: undo}
	h.hold()
	h.leaseMu.Lock()
	if h.leases == nil {
		h.leases = map[*lease]struct{}{}
	}
	h.leases[l] = struct{}{}
	h.leaseMu.Unlock()
	return l
}

// end runs f (a C call that ends the lease) unless the lease has ended; ok is false then.
func (l *lease) end(f func() int) (rc int, ok bool) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return 0, false
	}
	l.ended = true
	rc = f()
	l.mu.Unlock()
	l.h.leaseMu.Lock()
	delete(l.h.leases, l)
	l.h.leaseMu.Unlock()
	l.h.letGo()
	return rc, true
}

func (l *lease) isEnded() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ended
}

// endLeases undoes every lease not yet ended (Close).
func (h *handle) endLeases() {
	h.leaseMu.Lock()
	open := make([]*lease, 0, len(h.leases))
	for l := range h.leases {
		open = append(open, l)
	}
	h.leaseMu.Unlock()
	for _, l := range open {
		l.end(l.undo)
	}
}

// enter counts a call in; on a closed handle it returns ErrClosed. Pair with leave.
func (h *handle) enter(op string) error {
	h.calls.RLock()
	if h.closed {
		h.calls.RUnlock()
		return &Error{Status: int(csmipc.ECLOSED), Op: op + " on a closed " + h.kind}
	}
	return nil
}

func (h *handle) leave() { h.calls.RUnlock() }

// close runs shutdown, ends the leases (a receive waiting for a view's release goes on,
// and ends), waits for the calls in flight, ends the leases they made meanwhile, then
// runs free once the last hold is gone (now, or when the last Loan or View that holds
// the handle is garbage); once.
func (h *handle) close(shutdown, free func()) {
	if !h.closing.CompareAndSwap(false, true) {
		return
	}
	h.free = free
	shutdown()
	h.endLeases()
	h.calls.Lock()
	h.closed = true
	h.endLeases()
	h.calls.Unlock()
	h.letGo()
}

// scratch buffers for Recv: a message that fits is copied out of one once; a larger one
// is received straight into a slice of its own size.
var scratch = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// recvCopy runs recv (a C receive into b, *n its capacity, then the length) into a
// scratch buffer, again into a slice of the size needed when it does not fit, and
// returns a slice of the message's own.
func recvCopy(recv func(b []byte, n []int64) int) ([]byte, int) {
	buf := scratch.Get().(*[]byte)
	defer scratch.Put(buf)
	b, grown := *buf, false
	n := []int64{0}
	for {
		n[0] = int64(len(b))
		rc := recv(b, n)
		if rc == int(csmipc.ETOOSMALL) { // still queued: again, into a slice its size
			b, grown = make([]byte, n[0]), true
			continue
		}
		if rc != 0 {
			return nil, rc
		}
		if !grown {
			return append([]byte{}, b[:n[0]]...), 0
		}
		return b[:n[0]], 0
	}
}
