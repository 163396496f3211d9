package netstack

import (
	"encoding/binary"
	"errors"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// §9.7 UDP header and checksum.

func TestChecklist061UDPLengthBeyondPayload(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("abc"))
	p.udpLen = 50
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InDelivers": 1, "Udp.InErrors": 1})
	if len(e.sent()) != 0 {
		t.Fatal("emitted")
	}
}

func TestChecklist062UDPTooShort(t *testing.T) {
	t.Run("ulen7", func(t *testing.T) {
		e := newEnv(t)
		p := udpPkt(7000, []byte("abc"))
		p.udpLen = 7
		e.send(p)
		e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InDelivers": 1, "Udp.InErrors": 1})
	})
	t.Run("payload4", func(t *testing.T) {
		e := newEnv(t)
		p := udpPkt(7000, nil)
		p.l4 = []byte{1, 2, 3, 4}
		e.send(p)
		e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InDelivers": 1, "Udp.InErrors": 1})
	})
}

func TestChecklist063UDPLengthShorterThanPayload(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, []byte("keep-this-and-not-that"))
	p.udpLen = 8 + 9
	e.send(p)
	mustRecv(t, s, []byte("keep-this"))
}

func TestChecklist064ZeroChecksumUnverified(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, bigPayload(300))
	p.udpCsum = 0
	e.send(p)
	mustRecv(t, s, bigPayload(300))
}

func TestChecklist065BadChecksumSmallAtArrival(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, make([]byte, 68)) // UDP length 76
	p.badUDPCsum = true
	e.send(p)
	e.expect(map[string]int64{"Udp.InCsumErrors": 1, "Udp.InErrors": 1})
	mustEmpty(t, s)
	if sockOf(s).Drops() != 0 {
		t.Fatal("sk_drops moved")
	}
}

func TestChecklist066BadChecksumLargeAtRead(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	bad := udpPkt(7000, make([]byte, 69)) // UDP length 77
	bad.badUDPCsum = true
	e.send(bad)
	e.expect(map[string]int64{"Udp.InCsumErrors": 0, "Udp.InErrors": 0})
	// A blocked reader skips it and keeps blocking until a good one.
	done := make(chan string, 1)
	go func() {
		buf := make([]byte, 100)
		n, err := s.RecvFrom(buf, 0, nil)
		if err != nil {
			done <- err.Error()
			return
		}
		done <- string(buf[:n])
	}()
	waitWaiters(t, s, 1)
	e.expect(map[string]int64{"Udp.InCsumErrors": 1, "Udp.InErrors": 1})
	if sockOf(s).Drops() != 1 {
		t.Fatalf("drops %d", sockOf(s).Drops())
	}
	e.send(udpPkt(7000, []byte("good")))
	if got := <-done; got != "good" {
		t.Fatal(got)
	}
}

// waitWaiters waits (in real time, without asserting any duration) until n
// goroutines sleep on s.
func waitWaiters(t testing.TB, s *socket.Socket, n int) {
	t.Helper()
	for i := 0; s.Waiters() != n; i++ {
		if i > 20000 {
			t.Fatalf("waiters %d, want %d", s.Waiters(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestChecklist067BadChecksumClosedPort(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(7001, make([]byte, 200))
	p.badUDPCsum = true
	e.send(p)
	e.expect(map[string]int64{"Udp.InCsumErrors": 1, "Udp.InErrors": 1, "Udp.NoPorts": 0, "Icmp.OutMsgs": 0})
	if len(e.sent()) != 0 {
		t.Fatal("emitted")
	}
}

func TestChecklist068AllOnesChecksum(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	payload := make([]byte, 100)
	// Choose the last word so the sum computes to 0 (sent as 0xffff).
	p := udpPkt(7000, payload)
	p.udpCsum = 0
	u := p.l4bytes(ipT, ipM)
	sum := wire.Fold(wire.Checksum(u, wire.PseudoSum(ipT, ipM, wire.ProtoUDP, len(u))))
	binary.BigEndian.PutUint16(payload[98:], ^sum)
	p = udpPkt(7000, payload)
	if got := binary.BigEndian.Uint16(p.l4bytes(ipT, ipM)[6:]); got != 0xffff {
		t.Fatalf("checksum field %#x", got)
	}
	e.send(p)
	mustRecv(t, s, payload)
}

func TestChecklist069DestinationPortZero(t *testing.T) {
	e := newEnv(t)
	e.send(udpPkt(0, []byte("zero")))
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Icmp.OutDestUnreachs": 1})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 || ms[0].typ != 3 || ms[0].code != 3 {
		t.Fatalf("%+v", ms)
	}
}

func TestChecklist070SourcePortZero(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, []byte("sp0"))
	p.sport = 0
	e.send(p)
	got, from, err := recvNB(t, s, 100)
	if err != nil || string(got) != "sp0" || from.Port != 0 || from.Addr != ipT.As4() {
		t.Fatalf("%q %+v %v", got, from, err)
	}
}

// §9.8 Socket lookup.

func TestChecklist071SpecificAddressWins(t *testing.T) {
	for _, order := range []string{"specific-first", "wildcard-first"} {
		t.Run(order, func(t *testing.T) {
			e := newEnv(t)
			var s1, s2 *socket.Socket
			if order == "specific-first" {
				s1 = e.bound(ipM, 7000, soReuseaddr)
				s2 = e.bound(0, 7000, soReuseaddr)
			} else {
				s2 = e.bound(0, 7000, soReuseaddr)
				s1 = e.bound(ipM, 7000, soReuseaddr)
			}
			e.send(udpPkt(7000, []byte("x")))
			mustRecv(t, s1, []byte("x"))
			mustEmpty(t, s2)
		})
	}
}

func TestChecklist072MostRecentlyBoundWins(t *testing.T) {
	e := newEnv(t)
	s1 := e.bound(0, 7000, soReuseaddr)
	s2 := e.bound(0, 7000, soReuseaddr)
	for i := 0; i < 5; i++ {
		e.send(udpPkt(7000, []byte("x")))
		mustRecv(t, s2, []byte("x"))
	}
	mustEmpty(t, s1)
}

func TestChecklist073ConnectedSocketPreferred(t *testing.T) {
	e := newEnv(t)
	c := e.bound(0, 7000, soReuseaddr)
	if err := c.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	u := e.bound(0, 7000, soReuseaddr)
	p := udpPkt(7000, []byte("peer"))
	p.sport = 9000
	e.send(p)
	mustRecv(t, c, []byte("peer"))
	p.sport = 9001
	e.send(p)
	mustRecv(t, u, []byte("peer"))
	p.sport = 9000
	p.src = wire.AddrOf(10, 0, 0, 8)
	e.send(p)
	mustRecv(t, u, []byte("peer"))
	mustEmpty(t, c)
}

func TestChecklist074OnlyConnectedSocketOtherPeerNoPorts(t *testing.T) {
	e := newEnv(t)
	c := e.bound(0, 7000)
	if err := c.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	e.mark()
	p := udpPkt(7000, []byte("x"))
	p.sport = 9000
	p.src = wire.AddrOf(10, 0, 0, 8)
	e.send(p)
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Icmp.OutDestUnreachs": 1})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 || ms[0].ip.Dst() != wire.AddrOf(10, 0, 0, 8) {
		t.Fatalf("%+v", ms)
	}
	mustEmpty(t, c)
}

// readAll drains each socket and returns the count per socket.
func readAll(t *testing.T, socks []*socket.Socket) []int {
	out := make([]int, len(socks))
	for i, s := range socks {
		for {
			if _, _, err := recvNB(t, s, 100); err != nil {
				break
			}
			out[i]++
		}
	}
	return out
}

func TestChecklist075ReuseportSameTupleSameMember(t *testing.T) {
	e := newEnv(t)
	var g []*socket.Socket
	for i := 0; i < 4; i++ {
		g = append(g, e.bound(0, 7000, soReuseport))
	}
	// One 4-tuple: always the same member.
	for i := 0; i < 20; i++ {
		p := udpPkt(7000, []byte("same"))
		p.sport = 5555
		e.send(p)
	}
	c := readAll(t, g)
	sort.Ints(c)
	if c[3] != 20 {
		t.Fatalf("one tuple spread over members: %v", c)
	}
}

func TestChecklist075ReuseportSpreadCounts(t *testing.T) {
	e := newEnv(t)
	var g []*socket.Socket
	for i := 0; i < 4; i++ {
		g = append(g, e.bound(0, 7000, soReuseport))
	}
	total := make([]int, 4)
	for i := 0; i < 400; i++ {
		p := udpPkt(7000, []byte("spread"))
		p.sport = uint16(20000 + i)
		e.send(p)
		if i%100 == 99 {
			for j, n := range readAll(t, g) {
				total[j] += n
			}
		}
	}
	sum := 0
	for j, n := range total {
		if n == 0 {
			t.Fatalf("member %d received nothing: %v", j, total)
		}
		sum += n
	}
	if sum != 400 {
		t.Fatalf("delivered %d", sum)
	}
}

func TestChecklist076ReuseportWithConnectedMember(t *testing.T) {
	e := newEnv(t)
	var g []*socket.Socket
	for i := 0; i < 4; i++ {
		g = append(g, e.bound(ipM, 7000, soReuseport))
	}
	if err := g[1].Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	p := udpPkt(7000, []byte("conn"))
	p.sport = 9000
	for i := 0; i < 5; i++ {
		e.send(p)
	}
	if c := readAll(t, g); c[1] != 5 {
		t.Fatalf("connected member got %v", c)
	}
	total := make([]int, 4)
	for i := 0; i < 300; i++ {
		q := udpPkt(7000, []byte("other"))
		q.sport = uint16(30000 + i)
		e.send(q)
		if i%100 == 99 {
			for j, n := range readAll(t, g) {
				total[j] += n
			}
		}
	}
	if total[1] != 0 || total[0] == 0 || total[2] == 0 || total[3] == 0 {
		t.Fatalf("spread %v", total)
	}
}

func TestChecklist077BoundDeviceWins(t *testing.T) {
	for _, order := range []string{"dev-first", "dev-last"} {
		t.Run(order, func(t *testing.T) {
			e := newEnv(t)
			mk := func(dev bool) *socket.Socket {
				s := e.socket()
				s.SetsockoptInt(socket.SolSocket, soReuseaddr, 1)
				if dev {
					if err := s.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, "eth0"); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Bind(sa(0, 7000)); err != nil {
					t.Fatal(err)
				}
				return s
			}
			var d, o *socket.Socket
			if order == "dev-first" {
				d, o = mk(true), mk(false)
			} else {
				o, d = mk(false), mk(true)
			}
			e.send(udpPkt(7000, []byte("dev")))
			mustRecv(t, d, []byte("dev"))
			mustEmpty(t, o)
		})
	}
}

func TestChecklist078BoundToLoOnly(t *testing.T) {
	e := newEnv(t)
	s := e.socket()
	if err := s.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, "lo"); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(sa(0, 7000)); err != nil {
		t.Fatal(err)
	}
	e.mark()
	e.send(udpPkt(7000, []byte("x")))
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Icmp.OutDestUnreachs": 1})
	if len(icmpsIn(e.sent())) != 1 {
		t.Fatal("no ICMP")
	}
}

func TestChecklist079ExplicitBindConnectDisconnect(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if err := s.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	p := udpPkt(7000, []byte("other"))
	p.src = wire.AddrOf(10, 0, 0, 8)
	e.send(p)
	mustEmpty(t, s)
	if err := s.Connect(&socket.Sockaddr{Family: socket.AFUnspec}); err != nil {
		t.Fatal(err)
	}
	e.send(p)
	mustRecv(t, s, []byte("other"))
}

func TestChecklist080AutoboundDisconnectReleasesPort(t *testing.T) {
	e := newEnv(t)
	s := e.socket()
	if _, err := s.SendTo([]byte("hi"), 0, sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	e.sent()
	_, lport := sockOf(s).LocalAddr()
	if lport < 32768 {
		t.Fatalf("autobind port %d", lport)
	}
	if err := s.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(&socket.Sockaddr{Family: socket.AFUnspec}); err != nil {
		t.Fatal(err)
	}
	e.mark()
	p := udpPkt(lport, []byte("x"))
	p.sport = 9000
	e.send(p)
	e.expect(map[string]int64{"Udp.NoPorts": 1})
}

func TestChecklist081ClosedSocketNoPorts(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.Close()
	e.mark()
	e.send(udpPkt(7000, []byte("x")))
	e.expect(map[string]int64{"Udp.NoPorts": 1})
}

// §9.9 bind().

func bindErr(e *env, a wire.Addr, port uint16, opts ...int) error {
	s := e.socket()
	for _, o := range opts {
		s.SetsockoptInt(socket.SolSocket, o, 1)
	}
	return s.Bind(sa(a, port))
}

func TestChecklist082DoubleWildcardBind(t *testing.T) {
	e := newEnv(t)
	if err := bindErr(e, 0, 7000); err != nil {
		t.Fatal(err)
	}
	if err := bindErr(e, 0, 7000); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("got %v", err)
	}
}

func TestChecklist083WildcardAndSpecificConflict(t *testing.T) {
	for _, order := range [][2]wire.Addr{{0, ipM}, {ipM, 0}} {
		e := newEnv(t)
		if err := bindErr(e, order[0], 7000); err != nil {
			t.Fatal(err)
		}
		if err := bindErr(e, order[1], 7000); !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("%v then %v: %v", order[0], order[1], err)
		}
	}
}

func TestChecklist084ReuseaddrAllowsBoth(t *testing.T) {
	e := newEnv(t)
	if bindErr(e, 0, 7000, soReuseaddr) != nil || bindErr(e, 0, 7000, soReuseaddr) != nil {
		t.Fatal("82 with SO_REUSEADDR failed")
	}
	if bindErr(e, 0, 7001, soReuseaddr) != nil || bindErr(e, ipM, 7001, soReuseaddr) != nil {
		t.Fatal("83 with SO_REUSEADDR failed")
	}
	if bindErr(e, ipM, 7002, soReuseaddr) != nil || bindErr(e, 0, 7002, soReuseaddr) != nil {
		t.Fatal("83 reversed with SO_REUSEADDR failed")
	}
}

func TestChecklist085ReuseportAllowsBoth(t *testing.T) {
	e := newEnv(t)
	if bindErr(e, 0, 7000, soReuseport) != nil || bindErr(e, 0, 7000, soReuseport) != nil {
		t.Fatal("SO_REUSEPORT bind failed")
	}
}

func TestChecklist086EphemeralPorts(t *testing.T) {
	e := newEnv(t)
	seen := map[uint16]bool{}
	for i := 0; i < 100; i++ {
		s := e.socket()
		if err := s.Bind(sa(0, 0)); err != nil {
			t.Fatal(err)
		}
		_, p := sockOf(s).LocalAddr()
		if p < 32768 || p > 60999 || seen[p] {
			t.Fatalf("port %d (seen %v)", p, seen[p])
		}
		seen[p] = true
	}
}

func TestChecklist087NonLocalBindAndFreebind(t *testing.T) {
	e := newEnv(t)
	if err := bindErr(e, wire.AddrOf(10, 0, 0, 77), 7000); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("got %v", err)
	}
	s := e.socket()
	s.SetsockoptInt(socket.SolIP, socket.IPFreebind, 1)
	if err := s.Bind(sa(wire.AddrOf(10, 0, 0, 77), 7000)); err != nil {
		t.Fatal(err)
	}
}

func TestChecklist088SecondBindEINVAL(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if err := s.Bind(sa(0, 7001)); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("got %v", err)
	}
}

// §9.10 Receive buffer and memory.

func TestChecklist089DefaultRcvbuf(t *testing.T) {
	e := newEnv(t)
	if v, _ := e.socket().GetsockoptInt(socket.SolSocket, socket.SoRcvbuf); v != 212992 {
		t.Fatal(v)
	}
}

func TestChecklist090RcvbufDoubling(t *testing.T) {
	e := newEnv(t)
	for in, want := range map[int]int{1000: 2304, 100000: 200000, 1000000: 425984} {
		s := e.socket()
		s.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, in)
		if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoRcvbuf); v != want {
			t.Fatalf("%d -> %d, want %d", in, v, want)
		}
	}
}

func TestChecklist091FullQueueDrops(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	for i := 0; i < 300; i++ {
		e.send(udpPkt(7000, make([]byte, 1000)))
	}
	// truesize 2624 each: accepted while the queued truesize is ≤ 212992.
	k := 212992/2624 + 1
	e.expect(map[string]int64{"Udp.RcvbufErrors": int64(300 - k), "Udp.InErrors": int64(300 - k)})
	if int(sockOf(s).Drops()) != 300-k {
		t.Fatalf("drops %d", sockOf(s).Drops())
	}
	if c := readAll(t, []*socket.Socket{s}); c[0] != k {
		t.Fatalf("read %d, want %d", c[0], k)
	}
	e.expect(map[string]int64{"Udp.InDatagrams": int64(k)})
}

func TestChecklist092TinyRcvbufAcceptsOneReassembled(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, 0)
	data := bigPayload(8000)
	d := udpDatagram(ipT, ipM, 40000, 7000, data)
	sendFrags := func(id uint16) {
		for off := 0; off < len(d); off += 1480 {
			n := min(1480, len(d)-off)
			e.send(frag(d, off, n, off+n < len(d), id))
		}
	}
	e.mark()
	sendFrags(92)
	sendFrags(93)
	e.expect(map[string]int64{"Ip.ReasmOKs": 2, "Udp.RcvbufErrors": 1})
	mustRecv(t, s, data)
	mustEmpty(t, s)
}

func TestChecklist093DrainReaccepts(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	for i := 0; i < 300; i++ {
		e.send(udpPkt(7000, make([]byte, 1000)))
	}
	readAll(t, []*socket.Socket{s})
	e.mark()
	e.send(udpPkt(7000, []byte("again")))
	mustRecv(t, s, []byte("again"))
	e.expect(map[string]int64{"Udp.RcvbufErrors": 0})
}

func TestChecklist094RxqOvfl(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoRxqOvfl, 1)
	s.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, 0) // 2304: one datagram queued
	e.send(udpPkt(7000, []byte("first")))
	var m socket.Msghdr
	buf := make([]byte, 100)
	if _, err := s.RecvMsg(buf, socket.MsgDontwait, &m); err != nil || m.HasRxqOvfl {
		t.Fatalf("before drops: %v %+v", err, m)
	}
	e.send(udpPkt(7000, []byte("a")))
	e.send(udpPkt(7000, []byte("dropped1")))
	e.send(udpPkt(7000, []byte("dropped2")))
	s.RecvMsg(buf, socket.MsgDontwait, &m) // "a", enqueued before the drops
	e.send(udpPkt(7000, []byte("after")))
	n, err := s.RecvMsg(buf, socket.MsgDontwait, &m)
	if err != nil || string(buf[:n]) != "after" || !m.HasRxqOvfl || m.RxqOvfl != 2 {
		t.Fatalf("%q %v %+v", buf[:n], err, m)
	}
}

func TestChecklist095InDatagramsCountsReads(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	for i := 0; i < 5; i++ {
		e.send(udpPkt(7000, []byte{byte(i)}))
	}
	e.expect(map[string]int64{"Udp.InDatagrams": 0})
	buf := make([]byte, 10)
	for i := 0; i < 5; i++ {
		s.RecvFrom(buf, socket.MsgPeek|socket.MsgDontwait, nil)
	}
	e.expect(map[string]int64{"Udp.InDatagrams": 0})
	for i := 0; i < 5; i++ {
		if _, err := s.RecvFrom(buf, socket.MsgDontwait, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.expect(map[string]int64{"Udp.InDatagrams": 5})
}
