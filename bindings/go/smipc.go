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
// lock, which waits for them, and only then frees the C handle. No finalizers.
type handle struct {
	calls   sync.RWMutex
	closed  bool // written under the write lock, read under the read lock
	closing atomic.Bool
	kind    string
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

// close runs shutdown, waits for the calls in flight, then runs free; once.
func (h *handle) close(shutdown, free func()) {
	if !h.closing.CompareAndSwap(false, true) {
		return
	}
	shutdown()
	h.calls.Lock()
	defer h.calls.Unlock()
	h.closed = true
	free()
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
