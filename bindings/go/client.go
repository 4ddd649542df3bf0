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
// timeout bounds the handshake with a live one. DialWait waits for a server instead.
func Dial(name string, timeout time.Duration) (*Client, error) {
	return connect(name, timeout, false)
}

// DialWait connects to the server of name, first waiting for a live server to own the
// name, as a harness does that starts its server in another process: ErrTimeout if none
// came up within timeout (which also bounds the handshake; negative waits for ever). It
// watches the runtime directory, it does not poll.
func DialWait(name string, timeout time.Duration) (*Client, error) {
	return connect(name, timeout, true)
}

func connect(name string, timeout time.Duration, wait bool) (*Client, error) {
	status := []int64{0}
	var h csmipc.Struct_SS_smipc_client
	op := fmt.Sprintf("dial %q", name)
	if wait {
		h = csmipc.Client_connect_wait_handle(name, millis(timeout), status)
		op = fmt.Sprintf("dial %q (waiting up to %v for its server)", name, timeout)
	} else {
		h = csmipc.Client_connect_handle(name, millis(timeout), status)
	}
	if err := nameError(int(status[0]), op, name, wait); err != nil {
		return nil, err
	}
	c := &Client{h: h, id: ClientID(csmipc.Client_id_of(h))}
	c.handle.init("client")
	return c, nil
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
	data, rc := recvCopy(func(b []byte, n []int64) int {
		return csmipc.Client_recv(c.h, b, n, millis(timeout))
	})
	if err := check(rc, "recv"); err != nil {
		return nil, err
	}
	return data, nil
}

// RecvMsg returns the next whole message from the server, and whether it was a broadcast
// or a message sent to this client alone.
func (c *Client) RecvMsg(timeout time.Duration) (Received, error) {
	if err := c.enter("recv"); err != nil {
		return Received{}, err
	}
	defer c.leave()
	flags := []int64{0}
	data, rc := recvCopy(func(b []byte, n []int64) int {
		return csmipc.Client_recv_flags(c.h, flags, b, n, millis(timeout))
	})
	if err := check(rc, "recv"); err != nil {
		return Received{}, err
	}
	return Received{Data: data, Broadcast: flags[0]&int64(csmipc.MSG_BROADCAST) != 0}, nil
}

// CancelSends makes every Send on c in progress now, from any goroutine, give up with
// ErrTimeout the next time it must wait for room; the part of its message that went is
// dropped (the server never sees it). Sends that begin afterwards are not affected.
func (c *Client) CancelSends() {
	if c.enter("cancel sends") != nil {
		return // closed: nothing is sending
	}
	defer c.leave()
	csmipc.Client_cancel_sends(c.h)
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
