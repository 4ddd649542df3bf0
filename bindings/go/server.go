package smipc

import (
	"fmt"
	"time"

	"smipc.org/smipc/internal/csmipc"
)

// Server owns a name; clients Dial it. Safe for several goroutines at once.
type Server struct {
	handle
	h    csmipc.Struct_SS_smipc_server
	name string
}

// Listen serves name, with cfg's limits (nil: the defaults). ErrExists: a live server
// already has the name.
func Listen(name string, cfg *Config) (*Server, error) {
	var c csmipc.ServerConfig
	if cfg != nil {
		c = toC(cfg)
		defer csmipc.DeleteServerConfig(c)
	}
	status := []int64{0}
	h := csmipc.Server_open_handle(name, c, status)
	if err := nameError(int(status[0]), fmt.Sprintf("listen %q", name), name, false); err != nil {
		return nil, err
	}
	s := &Server{h: h, name: name}
	s.handle.init("server")
	return s, nil
}

// Name is the name it serves.
func (s *Server) Name() string { return s.name }

// Recv returns the next whole message from any client (round-robin over them).
func (s *Server) Recv(timeout time.Duration) (Message, error) {
	if err := s.enter("recv"); err != nil {
		return Message{}, err
	}
	defer s.leave()
	from := []int64{0}
	data, rc := recvCopy(func(b []byte, n []int64) int {
		return csmipc.Server_recv(s.h, from, b, n, millis(timeout))
	})
	if err := check(rc, "recv"); err != nil {
		return Message{}, err
	}
	return Message{Client: ClientID(from[0]), Data: data}, nil
}

// RecvEvent returns the next message from any client, as Recv does, and on a server
// whose Config has Events also when a client joined (before any of its messages) and
// when it left (after the last of them).
func (s *Server) RecvEvent(timeout time.Duration) (Event, error) {
	if err := s.enter("recv"); err != nil {
		return Event{}, err
	}
	defer s.leave()
	kind, from := []int64{0}, []int64{0}
	data, rc := recvCopy(func(b []byte, n []int64) int {
		return csmipc.Server_recv_event(s.h, kind, from, b, n, millis(timeout))
	})
	if err := check(rc, "recv"); err != nil {
		return Event{}, err
	}
	return Event{Kind: EventKind(kind[0]), Client: ClientID(from[0]), Data: data}, nil
}

// RecvInto receives the next message into buf without a copy in between and returns
// the sender and the message's length. ErrTooSmall (with Needed): it does not fit, and
// stays queued.
func (s *Server) RecvInto(buf []byte, timeout time.Duration) (ClientID, int, error) {
	if err := s.enter("recv"); err != nil {
		return 0, 0, err
	}
	defer s.leave()
	from, n := []int64{0}, []int64{int64(len(buf))}
	rc := csmipc.Server_recv(s.h, from, buf, n, millis(timeout))
	if rc == int(csmipc.ETOOSMALL) {
		return 0, 0, &Error{Status: rc, Op: fmt.Sprintf("recv of %d bytes into %d", n[0], len(buf)),
			Needed: int(n[0])}
	}
	if err := check(rc, "recv"); err != nil {
		return 0, 0, err
	}
	return ClientID(from[0]), int(n[0]), nil
}

// Send sends data to one client (ErrNoClient: no such client, ErrClosed: it left).
func (s *Server) Send(to ClientID, data []byte, timeout time.Duration) error {
	if err := s.enter("send"); err != nil {
		return err
	}
	defer s.leave()
	rc := csmipc.Server_send(s.h, uint64(to), data, int64(len(data)), millis(timeout))
	return check(rc, fmt.Sprintf("send to client %d", to))
}

// Broadcast sends data to every connected client and returns how many got it; when one
// could not get it, err says why and n still counts the others.
func (s *Server) Broadcast(data []byte, timeout time.Duration) (int, error) {
	if err := s.enter("broadcast"); err != nil {
		return 0, err
	}
	defer s.leave()
	delivered := []int64{0}
	rc := csmipc.Server_broadcast(s.h, data, int64(len(data)), millis(timeout), delivered)
	if rc != 0 {
		return int(delivered[0]), &Error{Status: rc, Op: fmt.Sprintf(
			"broadcast (%d clients got it)", delivered[0]), Delivered: int(delivered[0])}
	}
	return int(delivered[0]), nil
}

// CancelSends makes every Send to the client to in progress now, from any goroutine,
// give up with ErrTimeout the next time it must wait for room; the part of its message
// that went is dropped (the client never sees it). Later sends are not affected.
func (s *Server) CancelSends(to ClientID) error {
	if to == 0 {
		return check(int(csmipc.ENOCLIENT), "cancel sends to client 0") // 0 means all in C
	}
	return s.cancelSends(uint64(to), fmt.Sprintf("cancel sends to client %d", to))
}

// CancelAllSends makes every Send and Broadcast in progress now give up with ErrTimeout
// the next time it must wait for room (a Broadcast still counts the clients it reached).
func (s *Server) CancelAllSends() error { return s.cancelSends(0, "cancel sends") }

func (s *Server) cancelSends(to uint64, op string) error {
	if err := s.enter(op); err != nil {
		return err
	}
	defer s.leave()
	return check(csmipc.Server_cancel_sends(s.h, to), op)
}

// Clients returns the ids of the clients connected now.
func (s *Server) Clients() ([]ClientID, error) {
	if err := s.enter("clients"); err != nil {
		return nil, err
	}
	defer s.leave()
	count := []int64{0}
	for {
		ids := make([]uint64, count[0]+8)
		if err := check(csmipc.Server_clients(s.h, ids, int64(len(ids)), count), "clients"); err != nil {
			return nil, err
		}
		if count[0] <= int64(len(ids)) {
			out := make([]ClientID, count[0])
			for i := range out {
				out[i] = ClientID(ids[i])
			}
			return out, nil
		}
	}
}

// Fd is a descriptor that poll reports readable when Recv would find a message (it may
// wake spuriously). The library owns it: never read or close it.
func (s *Server) Fd() (int, error) {
	if err := s.enter("fd"); err != nil {
		return -1, err
	}
	defer s.leave()
	fd := csmipc.Server_fd(s.h)
	if fd < 0 {
		return -1, check(fd, "fd")
	}
	return fd, nil
}

// Config is the limits this server gives its connections.
func (s *Server) Config() (Config, error) {
	if err := s.enter("config"); err != nil {
		return Config{}, err
	}
	defer s.leave()
	c := csmipc.NewServerConfig()
	defer csmipc.DeleteServerConfig(c)
	if err := check(csmipc.Server_config_of(s.h, c), "config"); err != nil {
		return Config{}, err
	}
	return fromC(c), nil
}

// Close releases the name and disconnects every client. Calls blocked in other
// goroutines return ErrClosed at once, and so does every later call. Closing twice is
// fine.
func (s *Server) Close() error {
	s.close(func() { csmipc.Server_shutdown(s.h) }, func() { csmipc.Server_close(s.h) })
	return nil
}
