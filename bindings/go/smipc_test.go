package smipc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Generous: the machine running the tests may be loaded.
const wait = 20 * time.Second

func TestMain(m *testing.M) {
	if name := os.Getenv(echoEnv); name != "" { // TestZeroCopyAcrossProcesses' peer
		os.Exit(zeroCopyEchoServer(name))
	}
	dir, err := os.MkdirTemp("", "smipc-go-test")
	if err != nil {
		panic(err)
	}
	os.Setenv("SMIPC_DIR", dir) // names of these tests live here alone
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func name(t *testing.T) string { return fmt.Sprintf("go-%d-%s", os.Getpid(), t.Name()) }

// payload depends on (size, seed) everywhere, so damage anywhere shows.
func payload(size, seed int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i/251)
	}
	return b
}

func listen(t *testing.T, cfg *Config) *Server {
	t.Helper()
	srv, err := Listen(name(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func dial(t *testing.T) *Client {
	t.Helper()
	cli, err := Dial(name(t), wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// echo serves count messages back to their senders.
func echo(srv *Server, count int) chan error {
	done := make(chan error, 1)
	go func() {
		for i := 0; i < count; i++ {
			msg, err := srv.Recv(wait)
			if err == nil {
				err = srv.Send(msg.Client, msg.Data, wait)
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

func TestEchoEverySize(t *testing.T) {
	srv := listen(t, nil)
	sizes := []int{0, 1, 4095, 4096, 4097, 100000, 3 << 20}
	done := echo(srv, len(sizes))
	cli := dial(t)
	for i, size := range sizes {
		data := payload(size, i)
		if err := cli.Send(data, wait); err != nil {
			t.Fatal(err)
		}
		back, err := cli.Recv(wait)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, data) {
			t.Fatalf("%d bytes came back as %d different bytes", size, len(back))
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestMessagesKnowTheirClient(t *testing.T) {
	srv := listen(t, nil)
	a, b := dial(t), dial(t)
	if a.ID() == b.ID() {
		t.Fatalf("two clients with id %d", a.ID())
	}
	ids, err := srv.Clients()
	if err != nil || len(ids) != 2 {
		t.Fatalf("clients %v, %v", ids, err)
	}
	if err := b.Send([]byte("from b"), wait); err != nil {
		t.Fatal(err)
	}
	msg, err := srv.Recv(wait)
	if err != nil || msg.Client != b.ID() || string(msg.Data) != "from b" {
		t.Fatalf("got %+v, %v", msg, err)
	}
	n, err := srv.Broadcast([]byte("all"), wait)
	if err != nil || n != 2 {
		t.Fatalf("broadcast reached %d: %v", n, err)
	}
	for _, c := range []*Client{a, b} {
		if got, err := c.Recv(wait); err != nil || string(got) != "all" {
			t.Fatalf("client %d got %q, %v", c.ID(), got, err)
		}
	}
}

func TestNoServer(t *testing.T) {
	_, err := Dial(name(t), wait)
	var e *Error
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &e) ||
		e.Status != -6 {
		t.Fatalf("dial with no server: %v", err)
	}
	if want := "no live server with that name"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("%q does not say %q", err, want)
	}
}

func TestTimeout(t *testing.T) {
	srv := listen(t, nil)
	cli := dial(t)
	if _, err := srv.Recv(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("recv with nothing queued, 0: %v", err)
	}
	start := time.Now()
	_, err := cli.Recv(50 * time.Millisecond)
	var e *Error
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &e) || e.Status != -1 || !e.Timeout() {
		t.Fatalf("recv with nothing queued, 50 ms: %v", err)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before its timeout", time.Since(start))
	}
}

func TestNameAlreadyServed(t *testing.T) {
	listen(t, nil)
	_, err := Listen(name(t), nil)
	if !errors.Is(err, ErrExists) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second server of one name: %v", err)
	}
	if _, err := Listen("no spaces allowed", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
}

func TestMessageTooLarge(t *testing.T) {
	srv := listen(t, &Config{MaxMessageSize: 1000, PacketSize: 256})
	cli := dial(t)
	if err := cli.Send(make([]byte, 1001), wait); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("1001 bytes past a 1000-byte limit: %v", err)
	}
	cfg, err := cli.Config()
	if err != nil || cfg.MaxMessageSize != 1000 || cfg.PacketSize != 256 {
		t.Fatalf("client sees %+v, %v", cfg, err)
	}
	if err := cli.Send(make([]byte, 1000), wait); err != nil {
		t.Fatal(err)
	}
	if msg, err := srv.Recv(wait); err != nil || len(msg.Data) != 1000 {
		t.Fatalf("the 1000 bytes: %d, %v", len(msg.Data), err)
	}
}

func TestBufferTooSmallKeepsTheMessage(t *testing.T) {
	srv := listen(t, nil)
	cli := dial(t)
	data := payload(5000, 3)
	if err := cli.Send(data, wait); err != nil {
		t.Fatal(err)
	}
	small := make([]byte, 4999)
	_, _, err := srv.RecvInto(small, wait)
	var e *Error
	if !errors.Is(err, ErrTooSmall) || !errors.As(err, &e) || e.Needed != 5000 {
		t.Fatalf("5000 bytes into 4999: %v", err)
	}
	room := make([]byte, 6000)
	from, n, err := srv.RecvInto(room, wait)
	if err != nil || from != cli.ID() || !bytes.Equal(room[:n], data) {
		t.Fatalf("the message after ErrTooSmall: %d bytes from %d, %v", n, from, err)
	}
	if err := srv.Send(from, data, wait); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.RecvInto(small, wait); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("client, 5000 bytes into 4999: %v", err)
	}
	if n, err := cli.RecvInto(room, wait); err != nil || !bytes.Equal(room[:n], data) {
		t.Fatalf("client, the message after ErrTooSmall: %d, %v", n, err)
	}
}

func TestUseAfterClose(t *testing.T) {
	srv := listen(t, nil)
	cli := dial(t)
	cli.Close()
	if err := cli.Send([]byte("x"), wait); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if _, err := cli.Recv(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("recv after close: %v", err)
	}
	if err := cli.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	srv.Close()
	if _, err := srv.Recv(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("server recv after close: %v", err)
	}
	if _, err := srv.Clients(); !errors.Is(err, ErrClosed) {
		t.Fatalf("clients after close: %v", err)
	}
	// the name is free again
	again, err := Listen(name(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
}

// Close from one goroutine while others are blocked on the same handle: they return
// ErrClosed, and nothing runs on a freed handle (go test -race watches too).
func TestCloseWhileBlocked(t *testing.T) {
	srv := listen(t, nil)
	cli := dial(t)
	idle, err := Listen(name(t)+"-idle", nil) // a server nobody talks to
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	var started sync.WaitGroup
	for i := 0; i < 2; i++ {
		started.Add(2)
		go func() { started.Done(); _, err := idle.Recv(-1); errs <- err }()
		go func() { started.Done(); _, err := cli.Recv(-1); errs <- err }()
	}
	started.Wait()
	// a round trip on another connection while four goroutines are blocked
	other := dial(t)
	done := echo(srv, 1)
	if err := other.Send([]byte("ping"), wait); err != nil {
		t.Fatal(err)
	}
	if back, err := other.Recv(wait); err != nil || string(back) != "ping" {
		t.Fatalf("round trip: %q, %v", back, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("a blocked call returned before close: %v", err)
	default:
	}
	closed := make(chan struct{})
	go func() { cli.Close(); idle.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(wait):
		t.Fatal("Close did not return while calls were blocked")
	}
	for i := 0; i < 4; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("a blocked call ended with %v, not ErrClosed", err)
			}
		case <-time.After(wait):
			t.Fatal("a call blocked on a closed handle did not return")
		}
	}
}

func TestManyGoroutinesShareAClient(t *testing.T) {
	srv := listen(t, nil)
	cli := dial(t)
	const senders, each = 4, 200
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := cli.Send([]byte(fmt.Sprintf("%d %d", g, i)), wait); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	next := make([]int, senders)
	for k := 0; k < senders*each; k++ {
		msg, err := srv.Recv(wait)
		if err != nil {
			t.Fatal(err)
		}
		var g, i int
		if _, err := fmt.Sscanf(string(msg.Data), "%d %d", &g, &i); err != nil || i != next[g] {
			t.Fatalf("message %q out of order (want %d from %d)", msg.Data, next[g], g)
		}
		next[g]++
	}
	wg.Wait()
}

func TestConfig(t *testing.T) {
	def := DefaultConfig()
	if def.MaxClients != 64 || def.PacketSize != 4096 || def.RingPackets != 64 ||
		def.MaxMessageSize != 64<<20 || def.NoChecksum {
		t.Fatalf("defaults %+v", def)
	}
	srv := listen(t, &Config{MaxClients: 1, NoChecksum: true})
	got, err := srv.Config()
	if err != nil || got.MaxClients != 1 || !got.NoChecksum || got.PacketSize != 4096 {
		t.Fatalf("server config %+v, %v", got, err)
	}
	dial(t)
	if _, err := Dial(name(t), wait); !errors.Is(err, ErrFull) {
		t.Fatalf("a second client of max 1: %v", err)
	}
	if fd, err := srv.Fd(); err != nil || fd < 0 {
		t.Fatalf("fd %d, %v", fd, err)
	}
	if Version() == "" {
		t.Fatal("no version")
	}
}

func TestMillis(t *testing.T) {
	for d, want := range map[time.Duration]int{-1: -1, -time.Hour: -1, 0: 0, 1: 1,
		time.Millisecond: 1, 1500 * time.Microsecond: 2, 1 << 62: 1<<31 - 1} {
		if got := millis(d); got != want {
			t.Errorf("millis(%v) = %d, want %d", d, got, want)
		}
	}
}

// readable waits for poll-style readiness of fd (select: the standard library has it).
func readable(t *testing.T, fd int, within time.Duration) bool {
	t.Helper()
	var set syscall.FdSet
	set.Bits[fd/64] |= 1 << (uint(fd) % 64)
	tv := syscall.NsecToTimeval(int64(within))
	n, err := syscall.Select(fd+1, &set, nil, nil, &tv)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestFdTellsAMessageIsThere(t *testing.T) {
	srv := listen(t, nil)
	cli := dial(t)
	fd, err := srv.Fd()
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Send([]byte("wake"), wait); err != nil {
		t.Fatal(err)
	}
	if !readable(t, fd, wait) {
		t.Fatal("the server's descriptor stayed quiet with a message queued")
	}
	if msg, err := srv.Recv(0); err != nil || string(msg.Data) != "wake" {
		t.Fatalf("after readiness: %q, %v", msg.Data, err)
	}
	cfd, err := cli.Fd()
	if err != nil {
		t.Fatal(err)
	}
	srv.Close() // the server gone: the client's descriptor says so too
	if !readable(t, cfd, wait) {
		t.Fatal("the client's descriptor stayed quiet after the server closed")
	}
	if _, err := cli.Recv(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("recv after the server closed: %v", err)
	}
}

// inCgo reports whether some goroutine is in the C function fn now.
func inCgo(fn string) bool {
	buf := make([]byte, 1<<20)
	return bytes.Contains(buf[:runtime.Stack(buf, true)], []byte(fn))
}

// DialWait started before the server: it gets through once the server is up.
func TestDialWaitForTheServer(t *testing.T) {
	if _, err := Dial(name(t), wait); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dial before the server: %v", err) // nobody there yet
	}
	type result struct {
		cli *Client
		err error
	}
	waiting, got := make(chan struct{}), make(chan result, 1)
	go func() {
		close(waiting)
		cli, err := DialWait(name(t), wait)
		got <- result{cli, err}
	}()
	<-waiting
	// the server comes up only once the goroutine is inside the C call (or done: a bug)
	for deadline := time.Now().Add(wait); len(got) == 0 && !inCgo("_wrap_client_connect_wait_handle"); {
		if time.Now().After(deadline) {
			t.Fatal("the goroutine never got to DialWait's C call")
		}
		runtime.Gosched()
	}
	srv := listen(t, nil)
	var r result
	select {
	case r = <-got:
	case <-time.After(2 * wait):
		t.Fatal("DialWait did not return once the server was up")
	}
	if r.err != nil {
		t.Fatalf("DialWait: %v", r.err)
	}
	defer r.cli.Close()
	if err := r.cli.Send([]byte("up"), wait); err != nil {
		t.Fatal(err)
	}
	if msg, err := srv.Recv(wait); err != nil || msg.Client != r.cli.ID() || string(msg.Data) != "up" {
		t.Fatalf("got %+v, %v", msg, err)
	}
}

func TestDialWaitTimesOut(t *testing.T) {
	_, err := DialWait(name(t), 100*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("DialWait with nobody serving: %v", err)
	}
	path, perr := NamePath(name(t))
	if perr != nil || !strings.Contains(err.Error(), "no server came up at "+path) {
		t.Fatalf("%q does not say where it looked (%q, %v)", err, path, perr)
	}
}

func TestJoinsAndDepartures(t *testing.T) {
	srv := listen(t, &Config{Events: true})
	if cfg, err := srv.Config(); err != nil || !cfg.Events {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	cli, err := Dial(name(t), wait)
	if err != nil {
		t.Fatal(err)
	}
	id, big := cli.ID(), payload(100000, 5) // larger than the scratch buffer
	for _, data := range [][]byte{[]byte("hello"), big} {
		if err := cli.Send(data, wait); err != nil {
			t.Fatal(err)
		}
	}
	cli.Close()
	want := []Event{{EventJoined, id, nil}, {EventMessage, id, []byte("hello")},
		{EventMessage, id, big}, {EventLeft, id, nil}}
	for i, w := range want {
		ev, err := srv.RecvEvent(wait)
		if err != nil || ev.Kind != w.Kind || ev.Client != w.Client || !bytes.Equal(ev.Data, w.Data) {
			t.Fatalf("event %d: %v from %d (%d bytes), %v; want %v from %d", i, ev.Kind, ev.Client,
				len(ev.Data), err, w.Kind, w.Client)
		}
	}
	if _, err := srv.RecvEvent(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("after the departure: %v", err)
	}
	// plain Recv on such a server passes joins and departures over
	other := dial(t)
	if err := other.Send([]byte("plain"), wait); err != nil {
		t.Fatal(err)
	}
	if msg, err := srv.Recv(wait); err != nil || msg.Client != other.ID() || string(msg.Data) != "plain" {
		t.Fatalf("Recv on an events server: %+v, %v", msg, err)
	}
}

func TestNoEventsByDefault(t *testing.T) {
	srv := listen(t, nil)
	cli, err := Dial(name(t), wait)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Send([]byte("x"), wait); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	if ev, err := srv.RecvEvent(wait); err != nil || ev.Kind != EventMessage || string(ev.Data) != "x" {
		t.Fatalf("without Events: %v %q, %v", ev.Kind, ev.Data, err)
	}
	if ev, err := srv.RecvEvent(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("without Events, after the message: %v, %v", ev.Kind, err)
	}
	if EventJoined.String() != "joined" || EventLeft.String() != "left" {
		t.Fatalf("kinds say %v, %v", EventJoined, EventLeft)
	}
}

func TestBroadcastOrReply(t *testing.T) {
	srv := listen(t, nil)
	a, b := dial(t), dial(t)
	big := payload(1<<20, 9) // more than a ring holds
	if err := srv.Send(a.ID(), []byte("to a"), wait); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := srv.Broadcast(big, wait); done <- err }()
	if r, err := a.RecvMsg(wait); err != nil || r.Broadcast || string(r.Data) != "to a" {
		t.Fatalf("the reply: %q broadcast %v, %v", r.Data, r.Broadcast, err)
	}
	for _, c := range []*Client{a, b} {
		if r, err := c.RecvMsg(wait); err != nil || !r.Broadcast || !bytes.Equal(r.Data, big) {
			t.Fatalf("client %d, the broadcast: %d bytes broadcast %v, %v", c.ID(), len(r.Data),
				r.Broadcast, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := srv.Send(b.ID(), nil, wait); err != nil {
		t.Fatal(err)
	}
	if r, err := b.RecvMsg(wait); err != nil || r.Broadcast || len(r.Data) != 0 {
		t.Fatalf("an empty reply: %q broadcast %v, %v", r.Data, r.Broadcast, err)
	}
	if _, err := a.RecvMsg(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("nothing more: %v", err)
	}
}

// cancelUntil cancels (again and again: a send that had not started waiting yet is not
// cancelled) until the call reports on end, and returns its error.
func cancelUntil(t *testing.T, end chan error, cancel func()) error {
	t.Helper()
	deadline := time.After(wait)
	for {
		cancel()
		select {
		case err := <-end:
			return err
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("the cancelled call did not end")
		}
	}
}

func TestCancelSends(t *testing.T) {
	srv := listen(t, nil)
	cli, quiet := dial(t), dial(t)
	huge := payload(16<<20, 1) // far more than the rings and any bulk area hold
	end := make(chan error, 1)
	go func() { end <- cli.Send(huge, -1) }()
	if err := cancelUntil(t, end, cli.CancelSends); !errors.Is(err, ErrTimeout) {
		t.Fatalf("the client's cancelled send: %v", err)
	}
	// what went of the cancelled one is dropped; it fills the ring until the server reads
	go func() { end <- cli.Send([]byte("next"), wait) }()
	if msg, err := srv.Recv(wait); err != nil || string(msg.Data) != "next" {
		t.Fatalf("after the cancelled send: %d bytes, %v", len(msg.Data), err)
	}
	if err := <-end; err != nil {
		t.Fatalf("the send after the cancelled one: %v", err)
	}

	go func() { end <- srv.Send(quiet.ID(), huge, -1) }()
	err := cancelUntil(t, end, func() {
		if err := srv.CancelSends(quiet.ID()); err != nil {
			t.Error(err)
		}
	})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("the server's cancelled send: %v", err)
	}
	go func() { _, err := srv.Broadcast(huge, -1); end <- err }()
	err = cancelUntil(t, end, func() {
		if err := srv.CancelAllSends(); err != nil {
			t.Error(err)
		}
	})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("the cancelled broadcast: %v", err)
	}
	go func() { end <- srv.Send(quiet.ID(), []byte("next"), wait) }()
	if back, err := quiet.Recv(wait); err != nil || string(back) != "next" {
		t.Fatalf("the client after cancelled sends: %d bytes, %v", len(back), err)
	}
	if err := <-end; err != nil {
		t.Fatalf("the send after the cancelled ones: %v", err)
	}
	if err := srv.CancelSends(0); !errors.Is(err, ErrNoClient) {
		t.Fatalf("CancelSends(0): %v", err)
	}
	cli.Close()
	cli.CancelSends() // closed: nothing to cancel, and no crash
}

func TestErrorsSayWhere(t *testing.T) {
	path, err := NamePath(name(t))
	if err != nil || path != os.Getenv("SMIPC_DIR")+"/"+name(t) {
		t.Fatalf("NamePath: %q, %v", path, err)
	}
	if p, err := NamePath("/tmp/x.sock"); err != nil || p != "/tmp/x.sock" {
		t.Fatalf("a path is used as given: %q, %v", p, err)
	}
	_, err = Dial(name(t), wait)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "SMIPC_DIR") {
		t.Fatalf("%q does not say where it looked", err)
	}
	for _, bad := range []func() error{
		func() error { _, err := Listen("no spaces allowed", nil); return err },
		func() error { _, err := Dial("", wait); return err },
		func() error { _, err := NamePath("no spaces allowed"); return err },
	} {
		if err := bad(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "letters, digits") {
			t.Fatalf("a bad name without the rule: %v", err)
		}
	}
	if _, err := Listen(name(t), &Config{PacketSize: 10}); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "Config") {
		t.Fatalf("a bad config does not say so: %v", err)
	}
	listen(t, nil)
	if _, err := Listen(name(t), nil); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), path) {
		t.Fatalf("EEXIST without the path: %v", err)
	}
}
