package smipc

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"smipc.org/smipc/internal/csmipc"
)

// sendByLoan fills a loan with data and commits it.
func sendByLoan(t *testing.T, loan *Loan, data []byte) {
	t.Helper()
	buf := loan.Bytes()
	if len(buf) != loan.Len() || len(buf) < len(data) {
		t.Fatalf("a loan of %d bytes has %d", loan.Len(), len(buf))
	}
	copy(buf, data)
	if err := loan.Commit(len(data)); err != nil {
		t.Fatal(err)
	}
	if !loan.Done() || loan.Bytes() != nil {
		t.Fatal("a committed loan still gives its bytes")
	}
}

func TestLoansArriveIntact(t *testing.T) {
	srv := listen(t, nil)
	cli := dial(t)
	for i, size := range []int{0, 1, 4095, 4096, 4097, 100000, 1 << 20} {
		data := payload(size, i)
		loan, err := cli.Loan(size, wait)
		if err != nil {
			t.Fatal(err)
		}
		sendByLoan(t, loan, data)
		loan.Cancel() // after a commit: nothing
		if msg, err := srv.Recv(wait); err != nil || msg.Client != cli.ID() || !bytes.Equal(msg.Data, data) {
			t.Fatalf("%d bytes by loan came as %d from %d, %v", size, len(msg.Data), msg.Client, err)
		}
		loan, err = srv.Loan(cli.ID(), size, wait) // and the server's way
		if err != nil {
			t.Fatal(err)
		}
		sendByLoan(t, loan, data)
		if r, err := cli.RecvMsg(wait); err != nil || r.Broadcast || !bytes.Equal(r.Data, data) {
			t.Fatalf("%d bytes by the server's loan came as %d, %v", size, len(r.Data), err)
		}
	}
	loan, err := cli.Loan(100, wait) // Commit sends the first n bytes
	if err != nil {
		t.Fatal(err)
	}
	copy(loan.Bytes(), payload(100, 7))
	if err := loan.Commit(101); !errors.Is(err, ErrInvalid) || loan.Done() {
		t.Fatalf("commit of more than the loan: %v, done %v", err, loan.Done())
	}
	if err := loan.Commit(10); err != nil {
		t.Fatal(err)
	}
	if err := loan.Commit(10); !errors.Is(err, ErrClosed) {
		t.Fatalf("a second commit: %v", err)
	}
	if msg, err := srv.Recv(wait); err != nil || !bytes.Equal(msg.Data, payload(100, 7)[:10]) {
		t.Fatalf("the first 10 bytes: %q, %v", msg.Data, err)
	}
	if _, err := srv.Loan(cli.ID()+1000, 10, wait); !errors.Is(err, ErrNoClient) {
		t.Fatalf("a loan to nobody: %v", err)
	}
}

func TestViewsShowTheMessage(t *testing.T) {
	srv := listen(t, nil)
	cli, other := dial(t), dial(t)
	for i, size := range []int{0, 10, 4096, 5000, 100000, 1 << 20, 3 << 20} {
		data := payload(size, i)
		if err := cli.Send(data, wait); err != nil {
			t.Fatal(err)
		}
		v, err := srv.RecvView(wait)
		if err != nil {
			t.Fatal(err)
		}
		if v.Client() != cli.ID() || !bytes.Equal(v.Data(), data) {
			t.Fatalf("a view of %d bytes shows %d from %d", size, len(v.Data()), v.Client())
		}
		// in place: one packet, or one chunk of the bulk area (more than 4 packets)
		inPlace := size <= 4096 || (size > 4*4096 && size <= 1<<20)
		if v.Copied() == inPlace {
			t.Fatalf("%d bytes: copied %v", size, v.Copied())
		}
		v.Release()
		if err := srv.Send(cli.ID(), data, wait); err != nil {
			t.Fatal(err)
		}
		v, err = cli.RecvView(wait)
		if err != nil {
			t.Fatal(err)
		}
		if v.Client() != cli.ID() || v.Broadcast() || !bytes.Equal(v.Data(), data) {
			t.Fatalf("a client's view of %d bytes shows %d (broadcast %v)", size, len(v.Data()), v.Broadcast())
		}
		v.Release()
		v.Release() // twice is fine
	}
	if n, err := srv.Broadcast([]byte("all"), wait); err != nil || n != 2 {
		t.Fatalf("broadcast: %d, %v", n, err)
	}
	for _, c := range []*Client{cli, other} {
		v, err := c.RecvView(wait)
		if err != nil || !v.Broadcast() || v.Client() != c.ID() || string(v.Data()) != "all" {
			t.Fatalf("a client's view of a broadcast: %v", err)
		}
		v.Release()
	}
	if _, err := srv.RecvView(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("nothing there: %v", err)
	}
	if _, err := cli.RecvView(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("nothing there, client: %v", err)
	}
	// released: the next receive goes on (a view not released would hold it up)
	if err := cli.Send([]byte("next"), wait); err != nil {
		t.Fatal(err)
	}
	if msg, err := srv.Recv(wait); err != nil || string(msg.Data) != "next" {
		t.Fatalf("a receive after the views: %q, %v", msg.Data, err)
	}
}

func TestLoanTooLarge(t *testing.T) {
	srv := listen(t, nil)
	cli := dial(t)
	cfg, err := cli.Config()
	if err != nil || cfg.BulkSize != 1<<20 || cfg.BulkSlots != 4 || cfg.NoBulk {
		t.Fatalf("default bulk area: %+v, %v", cfg, err)
	}
	for _, loan := range []func() (*Loan, error){
		func() (*Loan, error) { return cli.Loan(1<<20+1, wait) },
		func() (*Loan, error) { return srv.Loan(cli.ID(), 1<<20+1, wait) },
	} {
		_, err := loan()
		var e *Error
		if !errors.Is(err, ErrLoanTooLarge) || !errors.As(err, &e) || e.Status != -14 || e.Limit != 1<<20 {
			t.Fatalf("a loan past bulk_size: %v", err)
		}
		for _, want := range []string{"1048576", "Send", "BulkSize"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("%q does not say %q", err, want)
			}
		}
	}
	if err := cli.Send([]byte("still fine"), wait); err != nil { // nothing was held
		t.Fatal(err)
	}
	if msg, err := srv.Recv(wait); err != nil || string(msg.Data) != "still fine" {
		t.Fatalf("after ErrLoanTooLarge: %q, %v", msg.Data, err)
	}
	for _, c := range []struct {
		cfg   Config
		limit int
	}{{Config{BulkSize: 64 << 10}, 64 << 10}, {Config{NoBulk: true}, 4096}} {
		s, err := Listen(name(t)+"-small", &c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		small, err := Dial(name(t)+"-small", wait)
		if err != nil {
			t.Fatal(err)
		}
		var e *Error
		if _, err := small.Loan(c.limit+1, wait); !errors.As(err, &e) || e.Limit != c.limit {
			t.Fatalf("%+v: a loan of %d: %v", c.cfg, c.limit+1, err)
		}
		loan, err := small.Loan(c.limit, wait)
		if err != nil {
			t.Fatal(err)
		}
		sendByLoan(t, loan, payload(c.limit, 2))
		if msg, err := s.Recv(wait); err != nil || !bytes.Equal(msg.Data, payload(c.limit, 2)) {
			t.Fatalf("%+v: a loan of the limit: %d bytes, %v", c.cfg, len(msg.Data), err)
		}
		small.Close()
		s.Close()
	}
}

func TestCancelSendsNothing(t *testing.T) {
	srv := listen(t, nil)
	cli := dial(t)
	for _, size := range []int{100, 200000} {
		loan, err := cli.Loan(size, wait)
		if err != nil {
			t.Fatal(err)
		}
		copy(loan.Bytes(), payload(size, 1))
		loan.Cancel()
		loan.Cancel() // twice is fine
		if !loan.Done() || loan.Bytes() != nil {
			t.Fatal("a cancelled loan still gives its bytes")
		}
		if err := loan.Commit(1); !errors.Is(err, ErrClosed) {
			t.Fatalf("commit after cancel: %v", err)
		}
	}
	loan, err := srv.Loan(cli.ID(), 50, wait)
	if err != nil {
		t.Fatal(err)
	}
	copy(loan.Bytes(), payload(50, 3))
	loan.Cancel()
	if _, err := srv.Recv(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("the server got something: %v", err)
	}
	if _, err := cli.Recv(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("the client got something: %v", err)
	}
	if err := cli.Send([]byte("after"), wait); err != nil {
		t.Fatal(err)
	}
	if msg, err := srv.Recv(wait); err != nil || string(msg.Data) != "after" {
		t.Fatalf("the message after cancelled loans: %q, %v", msg.Data, err)
	}
	if _, err := srv.Recv(0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("more after it: %v", err)
	}
}

// Data after Release, and after both ends closed, reads mapped memory: no crash.
func TestDataAfterReleaseAndClose(t *testing.T) {
	srv, err := Listen(name(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Dial(name(t), wait)
	if err != nil {
		t.Fatal(err)
	}
	data := payload(100000, 4)
	if err := cli.Send(data, wait); err != nil {
		t.Fatal(err)
	}
	sv, err := srv.RecvView(wait)
	if err != nil {
		t.Fatal(err)
	}
	sv.Release()
	if !sv.Released() || len(sv.Data()) != len(data) {
		t.Fatalf("after Release: released %v, %d bytes", sv.Released(), len(sv.Data()))
	}
	if err := srv.Send(cli.ID(), data, wait); err != nil {
		t.Fatal(err)
	}
	cv, err := cli.RecvView(wait)
	if err != nil {
		t.Fatal(err)
	}
	cli.Close() // a view out: it ends, the memory stays
	srv.Close()
	if !cv.Released() {
		t.Fatal("Close left a view open")
	}
	if _, err := cli.RecvView(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("RecvView after Close: %v", err)
	}
	if _, err := cli.Loan(1, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Loan after Close: %v", err)
	}
	if _, err := srv.RecvView(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("server RecvView after Close: %v", err)
	}
	runtime.GC() // both are still reachable: nothing may go
	sum := 0
	for _, b := range sv.Data() { // the server pinned it
		sum += int(b)
	}
	for _, b := range cv.Data() { // the client pinned it
		sum += int(b)
	}
	t.Logf("read %d", sum)
	runtime.KeepAlive(sv)
	runtime.KeepAlive(cv)
}

// A client's loan's bytes, touched after Close, are still mapped: no crash.
func TestLoanAfterClose(t *testing.T) {
	srv := listen(t, nil)
	cli, err := Dial(name(t), wait)
	if err != nil {
		t.Fatal(err)
	}
	loan, err := cli.Loan(1000, wait)
	if err != nil {
		t.Fatal(err)
	}
	kept := loan.Bytes()
	cli.Close() // the loan ends unsent, the memory stays
	srv.Close()
	if !loan.Done() || loan.Bytes() != nil {
		t.Fatal("Close left a loan open")
	}
	if err := loan.Commit(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("commit after Close: %v", err)
	}
	runtime.GC()
	kept[0] = 1 // written nowhere, and no crash
	runtime.KeepAlive(loan)
}

// A server's loan's bytes, kept past the Commit, the client's Close and the server's
// Close, still read what was sent: the server pinned them.
func TestServerLoanOutlivesEverything(t *testing.T) {
	srv, err := Listen(name(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Dial(name(t), wait)
	if err != nil {
		t.Fatal(err)
	}
	data := payload(100000, 5)
	loan, err := srv.Loan(cli.ID(), len(data), wait)
	if err != nil {
		t.Fatal(err)
	}
	kept := loan.Bytes()
	sendByLoan(t, loan, data)
	if got, err := cli.Recv(wait); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("what the loan sent: %d bytes, %v", len(got), err)
	}
	cli.Close()
	clientsGone(t, srv, "the client never left") // its connection is gone from the server
	srv.Close()
	runtime.GC() // the Loan is still reachable: nothing may go
	// no crash: pinned
	if !bytes.Equal(kept, data) {
		t.Fatal("the kept loan's bytes changed")
	}
	runtime.KeepAlive(loan)
}

func TestCloseWithAViewOut(t *testing.T) {
	srv := listen(t, nil)
	cli := dial(t)
	for _, m := range []string{"one", "two"} {
		if err := cli.Send([]byte(m), wait); err != nil {
			t.Fatal(err)
		}
	}
	v, err := srv.RecvView(wait)
	if err != nil {
		t.Fatal(err)
	}
	end := make(chan error, 1)
	go func() { _, err := srv.Recv(-1); end <- err }() // waits for the release
	time.Sleep(20 * time.Millisecond)
	srv.Close()
	select {
	case err := <-end:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("the waiting receive: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("the waiting receive did not end")
	}
	if !v.Released() {
		t.Fatal("the view after Close")
	}
}

// smipcSegments is the set of smipc's shared-memory segments this process maps: the inode
// of each memfd (once however many times it is mapped; a new segment never has an old
// one's).
func smipcSegments(t *testing.T) map[string]bool {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	segs := map[string]bool{}
	for _, l := range strings.Split(string(maps), "\n") {
		if f := strings.Fields(l); strings.Contains(l, "memfd:smipc") && len(f) > 4 {
			segs[f[4]] = true
		}
	}
	return segs
}

// mappedSince is the segments mapped now that were not in before, garbage collected first
// (what is still mapped then is kept by something reachable).
func mappedSince(t *testing.T, before map[string]bool) map[string]bool {
	for i := 0; i < 3; i++ {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	now := smipcSegments(t)
	for s := range before {
		delete(now, s)
	}
	return now
}

// goes collects garbage (finalizers run) until none of segs is mapped: exactly those,
// whatever other tests left to clean up may come and go meanwhile; it fails after wait.
func goes(t *testing.T, segs map[string]bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(wait); ; {
		left := 0
		for s := range smipcSegments(t) {
			if segs[s] {
				left++
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d segments still mapped", what, left, len(segs))
		}
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
}

// keepAView leaves a client's view of a message, its client and server closed.
func keepAView(t *testing.T) *View {
	srv, err := Listen(name(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := Dial(name(t), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := srv.Send(cli.ID(), payload(3000, 1), wait); err != nil {
		t.Fatal(err)
	}
	v, err := cli.RecvView(wait)
	if err != nil {
		t.Fatal(err)
	}
	v.Release()
	return v
}

// A closed client's memory stays while a View reaches it, and goes once it is garbage.
func TestClosedClientsMemoryGoesWithItsViews(t *testing.T) {
	before := smipcSegments(t)
	v := keepAView(t)
	mapped := mappedSince(t, before)
	if len(mapped) == 0 {
		t.Fatal("the memory went while a View reached it")
	}
	if !bytes.Equal(v.Data(), payload(3000, 1)) {
		t.Fatal("the kept view changed") // nobody wrote there since
	}
	runtime.KeepAlive(v)
	v = nil
	goes(t, mapped, "the closed client's memory stayed")
}

// keepAServerView leaves a server's view of a message from a client that has left.
func keepAServerView(t *testing.T, srv *Server) *View {
	cli, err := Dial(name(t), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := cli.Send(payload(3000, 2), wait); err != nil {
		t.Fatal(err)
	}
	v, err := srv.RecvView(wait)
	if err != nil {
		t.Fatal(err)
	}
	v.Release()
	return v
}

// What a server's View shows stays mapped (pinned) after its client left, while the View
// is reachable, and goes once it is garbage.
func TestServersPinnedMemoryGoesWithItsViews(t *testing.T) {
	before := smipcSegments(t)
	srv := listen(t, nil)
	v := keepAServerView(t, srv)
	clientsGone(t, srv, "the client never left")
	mapped := mappedSince(t, before)
	if len(mapped) == 0 {
		t.Fatal("the pinned memory went while a View reached it")
	}
	if !bytes.Equal(v.Data(), payload(3000, 2)) {
		t.Fatal("the kept view changed")
	}
	runtime.KeepAlive(v)
	v = nil
	goes(t, mapped, "the pinned memory stayed")
}

// keepAServerLoan commits a server's loan to a client that has left; the Loan and its
// bytes are kept.
func keepAServerLoan(t *testing.T, srv *Server) (*Loan, []byte) {
	cli, err := Dial(name(t), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	data := payload(3000, 3)
	loan, err := srv.Loan(cli.ID(), len(data), wait)
	if err != nil {
		t.Fatal(err)
	}
	kept := loan.Bytes()
	sendByLoan(t, loan, data)
	if got, err := cli.Recv(wait); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("what the loan sent: %d bytes, %v", len(got), err)
	}
	return loan, kept
}

// What a server's Loan lent stays mapped (pinned) after its commit and its client left,
// while the Loan is reachable, and goes once it is garbage.
func TestServersPinnedLoanGoesWithIt(t *testing.T) {
	before := smipcSegments(t)
	srv := listen(t, nil)
	loan, kept := keepAServerLoan(t, srv)
	clientsGone(t, srv, "the client never left")
	mapped := mappedSince(t, before)
	if len(mapped) == 0 {
		t.Fatal("the pinned loan's memory went while the Loan reached it")
	}
	if !bytes.Equal(kept, payload(3000, 3)) {
		t.Fatal("the kept loan's bytes changed")
	}
	runtime.KeepAlive(loan)
	loan, kept = nil, nil
	goes(t, mapped, "the pinned loan's memory stayed")
}

// A view in place whose memory nothing pinned (pin 0) is shown from a copy of its own,
// released at once, and Copied tells the library's flag: false, it was in one piece.
func TestUnpinnedViewIsCopiedNotFlagged(t *testing.T) {
	var h handle
	h.init("server")
	shared := []byte("in place")
	released, unpinned := 0, 0
	v := newView(&h, shared, 7, 0, 0, func() int { released++; return 0 },
		func(p uint64) {
			if p == 0 {
				unpinned++
			}
		})
	if v.Copied() || !v.Released() || released != 1 || unpinned != 1 {
		t.Fatalf("copied %v, released %v (%d), unpinned %d", v.Copied(), v.Released(), released,
			unpinned)
	}
	shared[0] = 'X'
	if string(v.Data()) != "in place" {
		t.Fatalf("Data is not a copy of its own: %q", v.Data())
	}
	v = newView(&h, shared, 7, int64(csmipc.MSG_COPY), 0, func() int { return 0 },
		func(uint64) {})
	if !v.Copied() {
		t.Fatal("a copy is not Copied")
	}
}

// openFds counts the descriptors this process has open.
func openFds(t *testing.T) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// churnOnce: a client connects, sends by a loan that the server views, and closes; the
// Loan and the View are kept.
func churnOnce(t *testing.T, srv *Server, i int, loans *[]*Loan, views *[]*View) {
	data := payload(1000, i)
	cli, err := Dial(name(t), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	loan, err := cli.Loan(len(data), wait)
	if err != nil {
		t.Fatal(err)
	}
	*loans = append(*loans, loan)
	sendByLoan(t, loan, data)
	v, err := srv.RecvView(wait)
	if err != nil {
		t.Fatal(err)
	}
	*views = append(*views, v)
	if v.Copied() || !bytes.Equal(v.Data(), data) {
		t.Fatalf("round %d: the view (copied %v)", i, v.Copied())
	}
	v.Release()
}

// clientsGone waits for srv to see its clients go (their connections gone from it); what:
// the failure if they never do.
func clientsGone(t *testing.T, srv *Server, what string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for ids, _ := srv.Clients(); len(ids) > 0; ids, _ = srv.Clients() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fdsBackTo waits for the server to see the clients go, then for the descriptors to be
// back to at most base + slack (the server closes a departed client's a moment after).
func fdsBackTo(t *testing.T, srv *Server, base, round int) {
	t.Helper()
	const slack = 10 // a client alone holds about 7: 200 kept would be 1400
	clientsGone(t, srv, fmt.Sprintf("round %d: the clients never left", round))
	deadline := time.Now().Add(2 * time.Second)
	for n := openFds(t); n > base+slack; n = openFds(t) {
		if time.Now().After(deadline) {
			t.Fatalf("round %d: %d descriptors open, %d before the churn: closed clients kept "+
				"theirs while Loans and Views were reachable", round, n, base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// 200 clients connect, loan, commit, the server views and releases, and the client
// closes, every Loan and View kept and no garbage collected on purpose: the descriptors
// stay as they were (Close closes a client's at once; pins keep only the memory), and the
// memory goes once the Loans and Views are garbage.
func TestClosedClientsKeepNoDescriptors(t *testing.T) {
	const rounds = 200
	before := smipcSegments(t)
	var loans []*Loan
	var views []*View
	srv, err := Listen(name(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	churnOnce(t, srv, 0, &loans, &views) // whatever the first round opens for good, open now
	fdsBackTo(t, srv, math.MaxInt/2, 0)
	base := openFds(t)
	for i := 1; i < rounds; i++ {
		churnOnce(t, srv, i, &loans, &views)
		if i%50 == 0 {
			fdsBackTo(t, srv, base, i)
		}
	}
	fdsBackTo(t, srv, base, rounds)
	srv.Close()
	for i, v := range views { // no crash: pinned, clients and server closed
		if !bytes.Equal(v.Data(), payload(1000, i)) {
			t.Fatalf("kept view %d changed", i)
		}
	}
	mapped := mappedSince(t, before)
	if len(mapped) < rounds {
		t.Fatalf("%d segments mapped, %d kept", len(mapped), rounds)
	}
	runtime.KeepAlive(loans)
	runtime.KeepAlive(views)
	loans, views = nil, nil
	goes(t, mapped, "the churned clients' memory stayed")
}

// loseAViewAndALoan receives a view and takes a loan, and ends neither.
func loseAViewAndALoan(t *testing.T, srv *Server, cli *Client) {
	if _, err := srv.RecvView(wait); err != nil {
		t.Fatal(err)
	}
	loan, err := cli.Loan(100, wait)
	if err != nil {
		t.Fatal(err)
	}
	loan.Bytes()[0] = 1
}

// A lost View is released and a lost Loan given back unsent once they are garbage.
func TestLostViewsAndLoansEnd(t *testing.T) {
	srv := listen(t, nil)
	cli := dial(t)
	for _, m := range []string{"one", "two"} {
		if err := cli.Send([]byte(m), wait); err != nil {
			t.Fatal(err)
		}
	}
	loseAViewAndALoan(t, srv, cli)
	deadline := time.Now().Add(wait)
	for { // waits for the lost view's release
		runtime.GC()
		msg, err := srv.Recv(20 * time.Millisecond)
		if err == nil {
			if string(msg.Data) != "two" {
				t.Fatalf("after the lost view: %q", msg.Data)
			}
			break
		}
		if !errors.Is(err, ErrTimeout) || time.Now().After(deadline) {
			t.Fatalf("recv after the lost view: %v", err)
		}
	}
	for { // waits for the lost loan's cancel
		runtime.GC()
		err := cli.Send([]byte("three"), 20*time.Millisecond)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrTimeout) || time.Now().After(deadline) {
			t.Fatalf("send after the lost loan: %v", err)
		}
	}
	if msg, err := srv.Recv(wait); err != nil || string(msg.Data) != "three" {
		t.Fatalf("after the lost loan: %q, %v", msg.Data, err)
	}
	if _, err := srv.Recv(0); !errors.Is(err, ErrTimeout) { // the lost loan sent nothing
		t.Fatalf("the lost loan sent something: %v", err)
	}
}

const echoEnv = "SMIPC_GO_TEST_ECHO_SERVER"

// echoSizes are the messages of TestZeroCopyAcrossProcesses.
var echoSizes = []int{0, 1, 4096, 70000, 1 << 20}

// zeroCopyEchoServer is TestZeroCopyAcrossProcesses' peer, this test binary run again: it
// answers each view with a loan of its bytes.
func zeroCopyEchoServer(name string) int {
	srv, err := Listen(name, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	fmt.Println("serving")
	for range echoSizes {
		v, err := srv.RecvView(wait)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		loan, err := srv.Loan(v.Client(), len(v.Data()), wait)
		if err == nil {
			copy(loan.Bytes(), v.Data())
			err = loan.Commit(len(v.Data()))
		}
		v.Release()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// Loans and views across processes: this process's client, a zero-copy echo server in
// another.
func TestZeroCopyAcrossProcesses(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), echoEnv+"="+name(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	said := make([]byte, len("serving\n"))
	if _, err := out.Read(said); err != nil || string(said) != "serving\n" {
		t.Fatalf("the peer said %q, %v", said, err)
	}
	cli, err := DialWait(name(t), wait)
	if err != nil {
		t.Fatal(err)
	}
	for i, size := range echoSizes {
		data := payload(size, i+20)
		loan, err := cli.Loan(size, wait)
		if err != nil {
			t.Fatal(err)
		}
		sendByLoan(t, loan, data)
		v, err := cli.RecvView(wait)
		if err != nil {
			t.Fatal(err)
		}
		if v.Broadcast() || !bytes.Equal(v.Data(), data) {
			t.Fatalf("%d bytes came back as %d", size, len(v.Data()))
		}
		v.Release()
	}
	cli.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the peer: %v", err)
	}
}
