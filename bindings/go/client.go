package smipc

import (
	"fmt"
	"time"

	"smipc.org/smipc/internal/csmipc"
)

// Client is a connection to a server. Safe for several goroutines at once.
type Client struct {
	handle
	h  csmipc.Struct_SS_smipc_client
	id ClientID
}

// Dial connects to the server of name: ErrNotFound at once when no live server has it;
// timeout bounds the handshake with a live one.
func Dial(name string, timeout time.Duration) (*Client, error) {
	status := []int64{0}
	h := csmipc.Client_connect_handle(name, millis(timeout), status)
	if err := check(int(status[0]), fmt.Sprintf("dial %q", name)); err != nil {
		return nil, err
	}
	return &Client{handle: handle{kind: "client"}, h: h, id: ClientID(csmipc.Client_id_of(h))}, nil
}

// ID is the id the server sees for this client (Message.Client).
func (c *Client) ID() ClientID { return c.id }

// Send sends one message to the server.
func (c *Client) Send(data []byte, timeout time.Duration) error {
	if err := c.enter("send"); err != nil {
		return err
	}
	defer c.leave()
	return check(csmipc.Client_send(c.h, data, int64(len(data)), millis(timeout)), "send")
}

// Recv returns the next whole message from the server.
func (c *Client) Recv(timeout time.Duration) ([]byte, error) {
	if err := c.enter("recv"); err != nil {
		return nil, err
	}
	defer c.leave()
	n := []int64{0}
	buf := scratch.Get().(*[]byte)
	defer scratch.Put(buf)
	b, grown := *buf, false
	for {
		n[0] = int64(len(b))
		rc := csmipc.Client_recv(c.h, b, n, millis(timeout))
		if rc == int(csmipc.ETOOSMALL) { // still queued: again, into a slice its size
			b, grown = make([]byte, n[0]), true
			continue
		}
		if err := check(rc, "recv"); err != nil {
			return nil, err
		}
		if !grown {
			return append([]byte{}, b[:n[0]]...), nil
		}
		return b[:n[0]], nil
	}
}

// RecvInto receives the next message into buf without a copy in between and returns its
// length. ErrTooSmall (with Needed): it does not fit, and stays queued.
func (c *Client) RecvInto(buf []byte, timeout time.Duration) (int, error) {
	if err := c.enter("recv"); err != nil {
		return 0, err
	}
	defer c.leave()
	n := []int64{int64(len(buf))}
	rc := csmipc.Client_recv(c.h, buf, n, millis(timeout))
	if rc == int(csmipc.ETOOSMALL) {
		return 0, &Error{Status: rc, Op: fmt.Sprintf("recv of %d bytes into %d", n[0], len(buf)),
			Needed: int(n[0])}
	}
	if err := check(rc, "recv"); err != nil {
		return 0, err
	}
	return int(n[0]), nil
}

// Fd is a descriptor that poll reports readable when Recv would find a message or the
// server is gone (it may wake spuriously). The library owns it: never read or close it.
func (c *Client) Fd() (int, error) {
	if err := c.enter("fd"); err != nil {
		return -1, err
	}
	defer c.leave()
	fd := csmipc.Client_fd(c.h)
	if fd < 0 {
		return -1, check(fd, "fd")
	}
	return fd, nil
}

// Config is the connection's limits as the server set them.
func (c *Client) Config() (Config, error) {
	if err := c.enter("config"); err != nil {
		return Config{}, err
	}
	defer c.leave()
	cfg := csmipc.NewServerConfig()
	defer csmipc.DeleteServerConfig(cfg)
	if err := check(csmipc.Client_config_of(c.h, cfg), "config"); err != nil {
		return Config{}, err
	}
	return fromC(cfg), nil
}

// Close disconnects. Calls blocked in other goroutines return ErrClosed at once, and so
// does every later call. Closing twice is fine.
func (c *Client) Close() error {
	c.close(func() { csmipc.Client_shutdown(c.h) }, func() { csmipc.Client_close(c.h) })
	return nil
}
