package agent

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/netstacktest"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// newServerPool is newServer with the stack's frame pool, for tests that
// hand the stack frames.
func newServerPool(t testing.TB) (*Server, *skb.Pool) {
	t.Helper()
	st, pool := netstacktest.New(t, 256)
	return NewServer(st, netip.MustParsePrefix("10.0.2.2/32")), pool
}

// inject hands the server's stack a UDP datagram from 10.0.2.9:4000 to
// port, as the driver would.
func inject(t testing.TB, s *Server, pool *skb.Pool, port uint16, payload []byte) {
	t.Helper()
	netstacktest.InjectUDP(t, s.stack, pool, netip.MustParseAddr("10.0.2.9"), port, payload)
}

func seq(n uint64) []byte {
	p := make([]byte, 16)
	binary.BigEndian.PutUint64(p, n)
	return p
}

func TestReaderOps(t *testing.T) {
	s, pool := newServerPool(t)
	fd := s.Handle(&Request{Op: OpSocket}).FD
	if r := s.Handle(&Request{Op: OpBind, FD: fd, Addr: "0.0.0.0:7000"}); r.Errno != 0 {
		t.Fatal(r.Err)
	}
	call := func(req Request) *Response {
		t.Helper()
		r := s.Handle(&req)
		if r.Errno != 0 {
			t.Fatalf("%s: %s", req.Op, r.Err)
		}
		return r
	}
	waitCounter := func(name string, want uint64) map[string]uint64 {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			c := call(Request{Op: OpReaderStats, FD: fd}).Counters
			if c[name] == want {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s = %d, want %d (%v)", name, c[name], want, c)
			}
			time.Sleep(time.Millisecond)
		}
	}
	r := call(Request{Op: OpReader, FD: fd, Value: 0, Len: 64})
	if r.Counters[CtrRunning] != 1 || r.Counters[CtrRate] != 0 {
		t.Fatalf("paused reader: %v", r.Counters)
	}
	for _, n := range []uint64{1, 2, 2, 100} {
		inject(t, s, pool, 7000, seq(n))
	}
	inject(t, s, pool, 7000, []byte("short"))
	time.Sleep(20 * time.Millisecond)
	if c := call(Request{Op: OpReaderStats, FD: fd}).Counters; c[CtrDelivered] != 0 {
		t.Fatalf("a paused reader read: %v", c)
	}
	if v := call(Request{Op: OpIoctl, FD: fd, Name: 0x541b}).Value; v != 16 { // FIONREAD
		t.Fatalf("FIONREAD %d while paused", v)
	}
	call(Request{Op: OpReader, FD: fd, Value: -1})
	c := waitCounter(CtrDelivered, 5)
	// 2 twice; 100 is beyond the 64-bit window; "short" has no number.
	if c[CtrDuplicates] != 1 || c[CtrUnchecked] != 2 || c[CtrMaxSeq] != 100 || c[CtrBytes] != 4*16+5 {
		t.Fatalf("counters %v", c)
	}
	// Slowed: 50 a second still reads everything, in order.
	call(Request{Op: OpReader, FD: fd, Value: 50})
	for n := uint64(3); n < 8; n++ {
		inject(t, s, pool, 7000, seq(n))
	}
	waitCounter(CtrDelivered, 10)
	// Paused, with the image resuming by itself after 30 ms.
	call(Request{Op: OpReader, FD: fd, Value: 0, TimeoutMs: 30})
	inject(t, s, pool, 7000, seq(9))
	waitCounter(CtrDelivered, 11)
	// 3…7 and 9 came after 100.
	if c := waitCounter(CtrRate, ^uint64(0)); c[CtrReordered] != 6 {
		t.Fatalf("counters %v", c)
	}
	r = call(Request{Op: OpReaderStop, FD: fd})
	if r.Counters[CtrRunning] != 0 || r.Counters[CtrDelivered] != 11 {
		t.Fatalf("stopped reader: %v", r.Counters)
	}

	// The sender: five datagrams; the stack queues them behind ARP.
	call(Request{Op: OpSendBurst, FD: fd, Addr: "10.0.2.9:9", Value: 5, Len: 8})
	waitCounter(CtrSendDone, 1)
	if c := call(Request{Op: OpReaderStats, FD: fd}).Counters; c[CtrSent]+c[CtrSendErrors] != 5 {
		t.Fatalf("sender: %v", c)
	}

	// Closing the socket ends a paused reader.
	fd2 := call(Request{Op: OpSocket}).FD
	call(Request{Op: OpReader, FD: fd2, Value: 0})
	so, _ := s.socket(fd2)
	f := getFlow(so, false)
	call(Request{Op: OpClose, FD: fd2})
	deadline := time.Now().Add(5 * time.Second)
	for f.running.Load() {
		if time.Now().After(deadline) {
			t.Fatal("a paused reader outlived its socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if getFlow(so, false) != nil {
		t.Fatal("the flow of a closed socket was kept")
	}

	if txt := call(Request{Op: OpSockstat}).Text; !strings.Contains(txt, "FRAG: inuse 0 memory 0") {
		t.Fatalf("sockstat %q", txt)
	}
	if g := call(Request{Op: OpGC}).Counters; g["goroutines"] == 0 || g["heap_alloc"] == 0 {
		t.Fatalf("gc %v", g)
	}
	for _, tc := range []struct {
		req  Request
		want syscall.Errno
	}{
		{Request{Op: OpReaderStats, FD: fd2}, syscall.EBADF},
		{Request{Op: OpReader, FD: 99}, syscall.EBADF},
		{Request{Op: OpReader, FD: fd, Len: MaxSeqWindow + 1}, syscall.EINVAL},
		{Request{Op: OpReader, FD: fd, TimeoutMs: -1}, syscall.EINVAL},
		{Request{Op: OpSendBurst, FD: fd, Len: 4, Value: 1}, syscall.EINVAL},
		{Request{Op: OpSendBurst, FD: fd, Len: 8, Value: 1, Addr: "x"}, syscall.EINVAL},
	} {
		if r := s.Handle(&tc.req); syscall.Errno(r.Errno) != tc.want {
			t.Errorf("%+v: errno %d (%s), want %d", tc.req, r.Errno, r.Err, tc.want)
		}
	}
	fd3 := call(Request{Op: OpSocket}).FD
	if r := s.Handle(&Request{Op: OpReaderStats, FD: fd3}); syscall.Errno(r.Errno) != syscall.ENOENT {
		t.Errorf("stats without a reader: %+v", r)
	}
}
