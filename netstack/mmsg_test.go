package netstack

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// batchLink records each frame's XmitMore and the flushes, as the virtio
// driver sees them.
type batchLink struct {
	*fakeLink
	mu sync.Mutex
	// +checklocks:mu
	more []bool
	// +checklocks:mu
	flushes int
}

func (l *batchLink) Transmit(b *skb.Buffer) error {
	l.mu.Lock()
	l.more = append(l.more, b.XmitMore)
	l.mu.Unlock()
	return l.fakeLink.Transmit(b)
}

func (l *batchLink) Flush() {
	l.mu.Lock()
	l.flushes++
	l.mu.Unlock()
}

// takeMore returns and forgets the XmitMore flags and flushes so far.
func (l *batchLink) takeMore() ([]bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, f := l.more, l.flushes
	l.more, l.flushes = nil, 0
	return m, f
}

func newBatchEnv(t *testing.T) (*env, *batchLink) {
	bl := &batchLink{}
	e := newEnv(t, func(c *Config) {
		bl.fakeLink = c.Link.(*fakeLink)
		c.Link = bl
	})
	return e, bl
}

// resolved opens a socket on port 7000 whose peer ipT's address is
// resolved, the link's records and the counters then reset.
func resolved(e *env, bl *batchLink) *socket.Socket {
	e.t.Helper()
	s := e.bound(0, 7000)
	if _, err := s.SendTo([]byte("prime"), 0, sa(ipT, 9000)); err != nil {
		e.t.Fatal(err)
	}
	if n := len(e.sent()); n != 1 {
		e.t.Fatalf("priming datagram: %d frames", n)
	}
	bl.takeMore()
	e.mark()
	return s
}

func mmsgs(bufs ...int) []socket.Mmsghdr {
	ms := make([]socket.Mmsghdr, len(bufs))
	for i, n := range bufs {
		ms[i].Buf = make([]byte, n)
	}
	return ms
}

// TestRecvmmsg: do_recvmmsg over a non-blocking queue: each entry gets
// msg_len, the name and its own MSG_TRUNC; MSG_TRUNC in flags makes
// msg_len the full length; fewer datagrams than entries ends on EAGAIN,
// which is not kept; vlen 0 is 0 (EBADF with MSG_ERRQUEUE, the err
// do_recvmmsg's descriptor lookup left); MSG_CMSG_COMPAT and a bad
// timeout are EINVAL.
func TestRecvmmsg(t *testing.T) {
	for _, c := range []struct {
		name    string
		queued  []int // payload lengths
		bufs    []int
		flags   int
		timeout *socket.Timespec
		want    int
		err     error
		lens    []int
		trunc   []bool
		left    *socket.Timespec
	}{
		{name: "fewer queued than asked", queued: []int{10, 20, 30}, bufs: []int{100, 100, 100, 100, 100}, flags: socket.MsgDontwait,
			want: 3, lens: []int{10, 20, 30}, trunc: []bool{false, false, false}},
		{name: "more queued than asked", queued: []int{10, 20, 30}, bufs: []int{100, 100}, flags: socket.MsgDontwait,
			want: 2, lens: []int{10, 20}, trunc: []bool{false, false}},
		{name: "truncated entry", queued: []int{10, 50, 30}, bufs: []int{100, 20, 100}, flags: socket.MsgDontwait,
			want: 3, lens: []int{10, 20, 30}, trunc: []bool{false, true, false}},
		{name: "MSG_TRUNC: full length", queued: []int{10, 50}, bufs: []int{100, 20}, flags: socket.MsgDontwait | socket.MsgTrunc,
			want: 2, lens: []int{10, 50}, trunc: []bool{false, true}},
		{name: "nothing queued", bufs: []int{100}, flags: socket.MsgDontwait, err: syscall.EAGAIN},
		{name: "vlen 0", queued: []int{10}, flags: socket.MsgDontwait, want: 0},
		{name: "vlen 0 MSG_ERRQUEUE", queued: []int{10}, flags: socket.MsgDontwait | socket.MsgErrqueue, err: syscall.EBADF},
		{name: "MSG_CMSG_COMPAT", queued: []int{10}, bufs: []int{100}, flags: socket.MsgCmsgCompat, err: syscall.EINVAL},
		{name: "timeout nsec out of range", queued: []int{10}, bufs: []int{100}, flags: socket.MsgDontwait,
			timeout: &socket.Timespec{Nsec: 1e9}, err: syscall.EINVAL},
		{name: "timeout negative", queued: []int{10}, bufs: []int{100}, flags: socket.MsgDontwait,
			timeout: &socket.Timespec{Sec: -1}, err: syscall.EINVAL},
		// The stack's clock stands still: a zero timeout has expired
		// after the first datagram, a longer one never.
		{name: "zero timeout: one datagram", queued: []int{10, 20}, bufs: []int{100, 100}, flags: socket.MsgDontwait,
			timeout: &socket.Timespec{}, want: 1, lens: []int{10}, trunc: []bool{false}, left: &socket.Timespec{}},
		{name: "timeout not reached", queued: []int{10, 20}, bufs: []int{100, 100}, flags: socket.MsgDontwait,
			timeout: &socket.Timespec{Sec: 2, Nsec: 5}, want: 2, lens: []int{10, 20}, trunc: []bool{false, false},
			left: &socket.Timespec{Sec: 2, Nsec: 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.bound(0, 7000)
			for i, n := range c.queued {
				p := udpPkt(7000, bytes.Repeat([]byte{byte('a' + i)}, n))
				p.sport = uint16(40000 + i)
				e.send(p)
			}
			ms := mmsgs(c.bufs...)
			n, err := s.RecvMmsg(ms, c.flags, c.timeout)
			if !errors.Is(err, c.err) || (c.err == nil && err != nil) || n != c.want {
				t.Fatalf("recvmmsg = %d, %v; want %d, %v", n, err, c.want, c.err)
			}
			for i := 0; i < n; i++ {
				m := ms[i]
				if m.Len != c.lens[i] || (m.Hdr.Flags&socket.MsgTrunc != 0) != c.trunc[i] {
					t.Fatalf("entry %d: msg_len %d flags %#x, want %d trunc %v", i, m.Len, m.Hdr.Flags, c.lens[i], c.trunc[i])
				}
				want := bytes.Repeat([]byte{byte('a' + i)}, min(c.lens[i], len(m.Buf)))
				if !bytes.Equal(m.Buf[:len(want)], want) {
					t.Fatalf("entry %d: data %q", i, m.Buf[:len(want)])
				}
				if m.Hdr.Namelen != socket.SockaddrLen || m.Hdr.Name.Port != uint16(40000+i) || m.Hdr.Name.Addr != ipT.As4() {
					t.Fatalf("entry %d: name %+v len %d", i, m.Hdr.Name, m.Hdr.Namelen)
				}
			}
			if c.left != nil && *c.timeout != *c.left {
				t.Fatalf("timeout left %+v, want %+v", *c.timeout, *c.left)
			}
			if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoError); v != 0 {
				t.Fatalf("SO_ERROR %d after the call", v)
			}
			e.expect(map[string]int64{"Udp.InDatagrams": int64(max(n, 0))})
		})
	}
}

// TestRecvmmsgWaitforone: MSG_WAITFORONE blocks for the first datagram
// only, then takes what is queued.
func TestRecvmmsgWaitforone(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	type res struct {
		n   int
		err error
	}
	done := make(chan res, 1)
	ms := mmsgs(100, 100, 100, 100)
	go func() {
		n, err := s.RecvMmsg(ms, socket.MsgWaitforone, nil)
		done <- res{n, err}
	}()
	waitWaiters(t, s, 1)
	e.send(udpPkt(7000, []byte("one")))
	r := <-done
	if r.n != 1 || r.err != nil || string(ms[0].Buf[:ms[0].Len]) != "one" {
		t.Fatalf("recvmmsg = %d, %v (%q)", r.n, r.err, ms[0].Buf[:ms[0].Len])
	}
	e.send(udpPkt(7000, []byte("two")))
	e.send(udpPkt(7000, []byte("three")))
	if n, err := s.RecvMmsg(ms, socket.MsgWaitforone, nil); n != 2 || err != nil {
		t.Fatalf("recvmmsg with two queued = %d, %v", n, err)
	}
}

// TestRecvmmsgKeepsError: a pending error comes first (sock_error) even
// with datagrams queued; an error that ends a batch after a datagram is
// kept in sk_err (do_recvmmsg), returned by the next call or SO_ERROR,
// while the count is returned now.
func TestRecvmmsgKeepsError(t *testing.T) {
	e := newEnv(t)
	s := recvErrSocket(e, 7000)
	e.send(udpPkt(7000, []byte("data")))
	e.send(icmpErrorQuoting(3, 3, 0, 7000, 9000, nil)) // sk_err = ECONNREFUSED
	ms := mmsgs(100, 100)
	if n, err := s.RecvMmsg(ms, socket.MsgDontwait, nil); n != 0 || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("recvmmsg with sk_err set = %d, %v; want ECONNREFUSED", n, err)
	}
	// Blocking for the second entry, the reader meets the next error.
	done := make(chan error, 1)
	var n int
	go func() {
		var err error
		n, err = s.RecvMmsg(ms, 0, nil)
		done <- err
	}()
	waitWaiters(t, s, 1)
	e.send(icmpErrorQuoting(3, 1, 0, 7000, 9000, nil)) // EHOSTUNREACH
	if err := <-done; n != 1 || err != nil || string(ms[0].Buf[:ms[0].Len]) != "data" {
		t.Fatalf("recvmmsg = %d, %v; want the datagram", n, err)
	}
	if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoError); v != int(syscall.EHOSTUNREACH) {
		t.Fatalf("SO_ERROR %d, want EHOSTUNREACH kept by recvmmsg", v)
	}
	// The same through the next call rather than SO_ERROR.
	e.send(udpPkt(7000, []byte("more")))
	go func() {
		var err error
		n, err = s.RecvMmsg(ms, 0, nil)
		done <- err
	}()
	waitWaiters(t, s, 1)
	e.send(icmpErrorQuoting(3, 0, 0, 7000, 9000, nil)) // ENETUNREACH
	if err := <-done; n != 1 || err != nil {
		t.Fatalf("recvmmsg = %d, %v", n, err)
	}
	if n, err := s.RecvMmsg(ms, socket.MsgDontwait, nil); n != 0 || !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("next recvmmsg = %d, %v; want ENETUNREACH", n, err)
	}
}

// TestRecvmmsgControlPerEntry: each entry has its own control buffer
// and flags: IP_PKTINFO fits in one, is cut (MSG_CTRUNC) in the other.
func TestRecvmmsgControlPerEntry(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if err := s.SetsockoptInt(socket.SolIP, socket.IPPktinfo, 1); err != nil {
		t.Fatal(err)
	}
	e.send(udpPkt(7000, []byte("a")))
	e.send(udpPkt(7000, []byte("b")))
	ms := mmsgs(10, 10)
	ms[0].Hdr.Control = make([]byte, socket.CmsgSpace(socket.SizeofInPktinfo))
	ms[1].Hdr.Control = make([]byte, socket.CmsgLen(4))
	if n, err := s.RecvMmsg(ms, socket.MsgDontwait, nil); n != 2 || err != nil {
		t.Fatalf("recvmmsg = %d, %v", n, err)
	}
	if ms[0].Hdr.Flags&socket.MsgCtrunc != 0 || ms[0].Hdr.Controllen != socket.CmsgSpace(socket.SizeofInPktinfo) {
		t.Fatalf("entry 0: flags %#x controllen %d", ms[0].Hdr.Flags, ms[0].Hdr.Controllen)
	}
	if ms[1].Hdr.Flags&socket.MsgCtrunc == 0 || ms[1].Hdr.Controllen != socket.CmsgLen(4) {
		t.Fatalf("entry 1: flags %#x controllen %d, want MSG_CTRUNC", ms[1].Hdr.Flags, ms[1].Hdr.Controllen)
	}
}

func sendMsgs(to wire.Addr, port uint16, payloads ...string) []socket.Mmsghdr {
	ms := make([]socket.Mmsghdr, len(payloads))
	for i, p := range payloads {
		ms[i].Buf = []byte(p)
		ms[i].Hdr.Name = *sa(to, port)
		ms[i].Hdr.Namelen = socket.SockaddrLen
	}
	return ms
}

// TestSendmmsg: every datagram but the last goes with MSG_BATCH, so the
// frames reach the driver with XmitMore and the last one without; a
// batch that stops at an error returns the count (the error only when
// nothing was sent) and, having sent some, flushes the driver.
func TestSendmmsg(t *testing.T) {
	for _, c := range []struct {
		name    string
		msgs    func() []socket.Mmsghdr
		flags   int
		want    int
		err     error
		more    []bool
		flushes int
	}{
		{name: "batch", msgs: func() []socket.Mmsghdr { return sendMsgs(ipT, 9000, "a", "bb", "ccc") },
			want: 3, more: []bool{true, true, false}},
		{name: "one", msgs: func() []socket.Mmsghdr { return sendMsgs(ipT, 9000, "a") },
			want: 1, more: []bool{false}},
		{name: "empty", msgs: func() []socket.Mmsghdr { return nil }},
		{name: "bad name length in the middle", msgs: func() []socket.Mmsghdr {
			ms := sendMsgs(ipT, 9000, "a", "b", "c")
			ms[1].Hdr.Namelen = 8
			return ms
		}, want: 1, more: []bool{true}, flushes: 1},
		{name: "name longer than sockaddr_storage: cut to it", msgs: func() []socket.Mmsghdr {
			ms := sendMsgs(ipT, 9000, "a", "b")
			ms[1].Hdr.Namelen = 200
			return ms
		}, want: 2},
		{name: "negative name length", msgs: func() []socket.Mmsghdr {
			ms := sendMsgs(ipT, 9000, "a")
			ms[0].Hdr.Namelen = -1
			return ms
		}, err: syscall.EINVAL},
		{name: "port 0 in the middle", msgs: func() []socket.Mmsghdr {
			ms := sendMsgs(ipT, 9000, "a", "b", "c")
			ms[2].Hdr.Name.Port = 0
			return ms
		}, want: 2, more: []bool{true, true}, flushes: 1},
		{name: "first fails", msgs: func() []socket.Mmsghdr {
			ms := sendMsgs(ipT, 9000, "a", "b")
			ms[0].Hdr.Name.Port = 0
			return ms
		}, err: syscall.EINVAL},
		{name: "not connected", msgs: func() []socket.Mmsghdr {
			ms := sendMsgs(ipT, 9000, "a")
			ms[0].Hdr.Namelen = 0
			return ms
		}, err: syscall.EDESTADDRREQ},
		{name: "MSG_CMSG_COMPAT", msgs: func() []socket.Mmsghdr { return sendMsgs(ipT, 9000, "a") },
			flags: socket.MsgCmsgCompat, err: syscall.EINVAL},
		{name: "vlen capped at UIO_MAXIOV", msgs: func() []socket.Mmsghdr {
			p := make([]string, socket.UIOMaxiov+5)
			for i := range p {
				p[i] = fmt.Sprint(i)
			}
			return sendMsgs(ipT, 9000, p...)
		}, want: socket.UIOMaxiov},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, bl := newBatchEnv(t)
			s := resolved(e, bl)
			ms := c.msgs()
			n, err := s.SendMmsg(ms, c.flags)
			if !errors.Is(err, c.err) || (c.err == nil && err != nil) || n != c.want {
				t.Fatalf("sendmmsg = %d, %v; want %d, %v", n, err, c.want, c.err)
			}
			more, flushes := bl.takeMore()
			if c.more == nil && n > 0 {
				c.more = make([]bool, n)
				for i := range c.more {
					c.more[i] = i < n-1
				}
			}
			if fmt.Sprint(more) != fmt.Sprint(c.more) && !(len(more) == 0 && len(c.more) == 0) {
				t.Fatalf("XmitMore per frame %v, want %v", more, c.more)
			}
			if flushes != c.flushes {
				t.Fatalf("%d flushes, want %d", flushes, c.flushes)
			}
			frames := e.sent()
			if len(frames) != n {
				t.Fatalf("%d frames sent for %d datagrams", len(frames), n)
			}
			for i, f := range frames {
				ip := wire.IPv4(f[14:])
				u := wire.UDP(f[14+ip.HeaderLen():])
				if got := string(u[8:]); got != string(ms[i].Buf) || ms[i].Len != len(ms[i].Buf) {
					t.Fatalf("frame %d: %q, msg_len %d; want %q", i, got, ms[i].Len, ms[i].Buf)
				}
			}
			e.expect(map[string]int64{"Udp.OutDatagrams": int64(n)})
		})
	}
}

// TestXmitMoreBatches: the stack's other bursts go to the driver as
// batches too: a datagram's fragments, and the packets that waited for
// ARP resolution. A lone datagram never carries XmitMore.
func TestXmitMoreBatches(t *testing.T) {
	e, bl := newBatchEnv(t)
	s := e.bound(0, 7000)
	// Three datagrams wait for ARP; the reply sends them as one batch.
	for _, p := range []string{"x", "y", "z"} {
		if _, err := s.SendTo([]byte(p), 0, sa(ipT, 9000)); err != nil {
			t.Fatal(err)
		}
	}
	bl.takeMore() // the ARP request
	e.arpReply(ipT)
	if more, _ := bl.takeMore(); fmt.Sprint(more) != "[true true false]" {
		t.Fatalf("queued datagrams left with XmitMore %v", more)
	}
	if _, err := s.SendTo(make([]byte, 4000), 0, sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	if more, _ := bl.takeMore(); fmt.Sprint(more) != "[true true false]" {
		t.Fatalf("fragments left with XmitMore %v", more)
	}
	if _, err := s.SendTo([]byte("lone"), 0, sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	if more, f := bl.takeMore(); fmt.Sprint(more) != "[false]" || f != 0 {
		t.Fatalf("lone datagram: XmitMore %v, %d flushes", more, f)
	}
	if n := len(e.sent()); n != 7 {
		t.Fatalf("%d frames sent, want 7", n)
	}
}

// TestReadWriteBatch: the Go entry points. WriteBatch sends to each
// message's address as one sendmmsg; ReadBatch waits for one datagram
// and takes the rest queued, filling N, Addr and Flags.
func TestReadWriteBatch(t *testing.T) {
	e, bl := newBatchEnv(t)
	s := resolved(e, bl)
	peer := netip.AddrPortFrom(netip.AddrFrom4(ipT.As4()), 9000)
	ms := []socket.Message{{Buf: []byte("one"), Addr: peer}, {Buf: []byte("two"), Addr: peer}}
	if n, err := s.WriteBatch(ms); n != 2 || err != nil || ms[0].N != 3 || ms[1].N != 3 {
		t.Fatalf("WriteBatch = %d, %v (%+v)", n, err, ms)
	}
	if more, _ := bl.takeMore(); fmt.Sprint(more) != "[true false]" {
		t.Fatalf("XmitMore %v", more)
	}
	if _, err := s.WriteBatch([]socket.Message{{Buf: []byte("x"), Addr: netip.MustParseAddrPort("[::1]:9")}}); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Fatalf("IPv6 destination: %v", err)
	}
	e.send(udpPkt(7000, []byte("hello")))
	e.send(udpPkt(7000, []byte("longer than four")))
	rs := []socket.Message{{Buf: make([]byte, 64)}, {Buf: make([]byte, 4)}, {Buf: make([]byte, 64)}}
	n, err := s.ReadBatch(rs)
	if n != 2 || err != nil {
		t.Fatalf("ReadBatch = %d, %v", n, err)
	}
	from := netip.AddrPortFrom(netip.AddrFrom4(ipT.As4()), 40000)
	if string(rs[0].Buf[:rs[0].N]) != "hello" || rs[0].Addr != from || rs[0].Flags != 0 {
		t.Fatalf("first: %+v", rs[0])
	}
	if rs[1].N != 4 || rs[1].Flags&socket.MsgTrunc == 0 || rs[1].Addr != from {
		t.Fatalf("second: %+v", rs[1])
	}
	s.Close()
	if _, err := s.ReadBatch(rs); err == nil {
		t.Fatal("ReadBatch after Close succeeded")
	}
}

// TestRecvmmsgInterruptKept: a signal (Interrupt) ending the wait for a
// later entry returns the count; the error kept is -ERESTARTSYS, which
// sock_intr_errno gives a wait without timeout, read back by SO_ERROR
// as 512. Before the first datagram the call returns EINTR.
func TestRecvmmsgInterruptKept(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	type res struct {
		n   int
		err error
	}
	done := make(chan res, 1)
	ms := mmsgs(64, 64)
	recv := func() {
		n, err := s.RecvMmsg(ms, 0, nil)
		done <- res{n, err}
	}
	go recv()
	waitWaiters(t, s, 1)
	s.Interrupt()
	if r := <-done; r.n != 0 || !errors.Is(r.err, syscall.EINTR) {
		t.Fatalf("interrupted before a datagram: %d, %v; want EINTR", r.n, r.err)
	}
	e.send(udpPkt(7000, []byte("one")))
	go recv()
	waitWaiters(t, s, 1)
	s.Interrupt()
	if r := <-done; r.n != 1 || r.err != nil {
		t.Fatalf("interrupted after a datagram: %d, %v", r.n, r.err)
	}
	if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoError); v != 512 {
		t.Fatalf("SO_ERROR %d, want 512 (ERESTARTSYS)", v)
	}
}
