package netstack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// §9.11 recvfrom() semantics.

func TestChecklist096TruncatedRead(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, bigPayload(100)))
	e.send(udpPkt(7000, []byte("next")))
	buf := make([]byte, 10)
	var m socket.Msghdr
	n, err := s.RecvMsg(buf, socket.MsgDontwait, &m)
	if err != nil || n != 10 || m.Flags&socket.MsgTrunc == 0 || !bytes.Equal(buf, bigPayload(100)[:10]) {
		t.Fatalf("n=%d err=%v flags=%#x", n, err, m.Flags)
	}
	mustRecv(t, s, []byte("next"))
}

func TestChecklist097TruncFlagReturnsFullLength(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, bigPayload(100)))
	buf := make([]byte, 10)
	n, err := s.RecvFrom(buf, socket.MsgTrunc|socket.MsgDontwait, nil)
	if err != nil || n != 100 || !bytes.Equal(buf, bigPayload(100)[:10]) {
		t.Fatalf("n=%d err=%v", n, err)
	}
}

func TestChecklist098PeekLeavesQueued(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, []byte("peekaboo")))
	buf := make([]byte, 100)
	n, err := s.RecvFrom(buf, socket.MsgPeek|socket.MsgDontwait, nil)
	if err != nil || string(buf[:n]) != "peekaboo" {
		t.Fatal(err)
	}
	mustRecv(t, s, []byte("peekaboo"))
}

func TestChecklist099PeekOffset(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoPeekOff, 0)
	data := []byte("000000000011111111112222222222")
	e.send(udpPkt(7000, data))
	for i := 0; i < 3; i++ {
		buf := make([]byte, 10)
		var m socket.Msghdr
		n, err := s.RecvMsg(buf, socket.MsgPeek|socket.MsgDontwait, &m)
		if err != nil || n != 10 || !bytes.Equal(buf, data[i*10:i*10+10]) {
			t.Fatalf("peek %d: %q %v", i, buf[:n], err)
		}
	}
	if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoPeekOff); v != 30 {
		t.Fatalf("peek_off %d", v)
	}
}

func TestChecklist100ZeroPayload(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, nil))
	var from socket.Sockaddr
	n, err := s.RecvFrom(make([]byte, 10), socket.MsgDontwait, &from)
	if err != nil || n != 0 || from.Addr != ipT.As4() || from.Port != 40000 {
		t.Fatalf("n=%d %v %+v", n, err, from)
	}
}

func TestChecklist101SourceAddress(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, []byte("a"))
	p.src = wire.AddrOf(10, 0, 0, 42)
	p.sport = 4242
	e.send(p)
	var m socket.Msghdr
	if _, err := s.RecvMsg(make([]byte, 10), socket.MsgDontwait, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != (socket.Sockaddr{Family: socket.AFInet, Port: 4242, Addr: [4]byte{10, 0, 0, 42}}) || m.Namelen != 16 {
		t.Fatalf("%+v", m)
	}
}

func TestChecklist102DontwaitEAGAIN(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if _, err := s.RecvFrom(make([]byte, 10), socket.MsgDontwait, nil); !errors.Is(err, syscall.EAGAIN) {
		t.Fatal(err)
	}
}

func TestChecklist103RcvtimeoEAGAIN(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if err := s.SetsockoptTimeval(socket.SolSocket, socket.SoRcvtimeo, socket.Timeval{Usec: 200000}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.RecvFrom(make([]byte, 10), 0, nil)
		done <- err
	}()
	waitWaiters(t, s, 1)
	e.advance(199 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("returned early: %v", err)
	default:
	}
	if s.Waiters() != 1 {
		t.Fatal("reader no longer blocked")
	}
	e.advance(1 * time.Millisecond)
	if err := <-done; !errors.Is(err, syscall.EAGAIN) {
		t.Fatal(err)
	}
}

func TestChecklist104SignalEINTR(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	done := make(chan error, 1)
	go func() {
		_, err := s.RecvFrom(make([]byte, 10), 0, nil)
		done <- err
	}()
	waitWaiters(t, s, 1)
	s.Interrupt()
	if err := <-done; !errors.Is(err, syscall.EINTR) {
		t.Fatal(err)
	}
}

func TestChecklist105ShutdownRdUnconnected(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	done := make(chan [2]any, 1)
	go func() {
		n, err := s.RecvFrom(make([]byte, 10), 0, nil)
		done <- [2]any{n, err}
	}()
	waitWaiters(t, s, 1)
	if err := s.Shutdown(socket.ShutRd); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatal(err)
	}
	r := <-done
	if r[0].(int) != 0 || r[1] != nil {
		t.Fatalf("%v", r)
	}
	// Datagrams are still queued and readable after SHUT_RD.
	e.send(udpPkt(7000, []byte("still")))
	mustRecv(t, s, []byte("still"))
}

// portUnreachQuoting builds an ICMP port unreachable from the peer
// quoting a datagram the socket sent (src lport → peer dport).
func portUnreachQuoting(lport, rport uint16, peer wire.Addr) pkt {
	orig := make([]byte, 28)
	wire.PutIPv4(orig, 0, 28+4, 1, 0, 64, wire.ProtoUDP, ipM, peer)
	wire.PutUDP(orig[20:], lport, rport, 12)
	icmp := append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, orig...)
	c := wire.CsumFold(wire.Checksum(icmp, 0))
	binary.BigEndian.PutUint16(icmp[2:], c)
	return pkt{src: peer, proto: wire.ProtoICMP, l4: icmp}
}

func TestChecklist106ICMPErrorOnConnectedSocket(t *testing.T) {
	e := newEnv(t)
	c := e.bound(0, 7000)
	if err := c.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	u := e.bound(0, 7001)
	e.send(udpPkt(7000, []byte("queued"))) // not from the peer: not delivered
	p := udpPkt(7000, []byte("data"))
	p.sport = 9000
	e.send(p)
	e.mark()
	e.send(portUnreachQuoting(7000, 9000, ipT))
	e.send(portUnreachQuoting(7001, 9000, ipT))
	e.expect(map[string]int64{"Icmp.InDestUnreachs": 2, "Icmp.InErrors": 0})
	if _, err := c.RecvFrom(make([]byte, 10), socket.MsgDontwait, nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("got %v", err)
	}
	mustRecv(t, c, []byte("data"))
	if _, _, err := recvNB(t, u, 10); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("unconnected socket saw %v", err)
	}
	// No socket for the quoted datagram: Icmp.InErrors.
	e.mark()
	e.send(portUnreachQuoting(7999, 9000, ipT))
	e.expect(map[string]int64{"Icmp.InErrors": 1})
}

func TestChecklist107PktinfoOnBroadcast(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolIP, socket.IPPktinfo, 1)
	p := udpPkt(7000, []byte("pi"))
	p.dst = wire.AddrOf(255, 255, 255, 255)
	e.send(p)
	var m socket.Msghdr
	if _, err := s.RecvMsg(make([]byte, 10), socket.MsgDontwait, &m); err != nil {
		t.Fatal(err)
	}
	if !m.HasPktinfo || m.Pktinfo.Ifindex != 2 || m.Pktinfo.Addr != wire.AddrOf(255, 255, 255, 255) || m.Pktinfo.SpecDst != ipM {
		t.Fatalf("%+v", m)
	}
}

func TestChecklist108FIONREAD(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if n, err := s.Ioctl(socket.FIONREAD); n != 0 || err != nil {
		t.Fatal(n, err)
	}
	e.send(udpPkt(7000, make([]byte, 100)))
	e.send(udpPkt(7000, make([]byte, 200)))
	if n, _ := s.Ioctl(socket.FIONREAD); n != 100 {
		t.Fatal(n)
	}
}

func TestChecklist109PollHidesBadChecksumOnBlockingFd(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, make([]byte, 100))
	p.badUDPCsum = true
	e.send(p)
	e.mark()
	mask, err := s.Poll(socket.PollIn, 0)
	if err != nil || mask&socket.PollIn != 0 {
		t.Fatalf("mask %#x err %v", mask, err)
	}
	e.expect(map[string]int64{"Udp.InCsumErrors": 1, "Udp.InErrors": 1})
	// A non-blocking fd does not look: it reports readable.
	e.send(p)
	s.SetNonblock(true)
	if mask, _ := s.Poll(socket.PollIn, 0); mask&socket.PollIn == 0 {
		t.Fatal("non-blocking fd not readable")
	}
}

func TestChecklist110ExclusiveWakeup(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	var wg sync.WaitGroup
	res := make(chan error, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.RecvFrom(make([]byte, 10), 0, nil)
			res <- err
		}()
	}
	waitWaiters(t, s, 2)
	e.send(udpPkt(7000, []byte("one")))
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	waitWaiters(t, s, 1)
	select {
	case err := <-res:
		t.Fatalf("second reader returned: %v", err)
	default:
	}
	s.Interrupt()
	wg.Wait()
	if err := <-res; !errors.Is(err, syscall.EINTR) {
		t.Fatal(err)
	}
}

// §9.12 ICMP.

func echoRequest(id, seq uint16, data []byte) []byte {
	b := make([]byte, 8+len(data))
	b[0] = 8
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], data)
	binary.BigEndian.PutUint16(b[2:], wire.CsumFold(wire.Checksum(b, 0)))
	return b
}

func TestChecklist111EchoReply(t *testing.T) {
	e := newEnv(t)
	data := []byte("ping payload 0123456789")
	e.send(pkt{proto: wire.ProtoICMP, l4: echoRequest(0x1234, 7, data), tos: 0x10})
	e.expect(map[string]int64{"Icmp.InEchos": 1, "Icmp.OutEchoReps": 1, "Icmp.InMsgs": 1, "Icmp.OutMsgs": 1,
		"Ip.InDelivers": 1, "Ip.OutRequests": 1})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 {
		t.Fatalf("%d replies", len(ms))
	}
	m := ms[0]
	if m.typ != 0 || m.code != 0 || m.rest != 0x12340007 || !bytes.Equal(m.body, data) ||
		m.ip.Src() != ipM || m.ip.Dst() != ipT || m.ip.TOS() != 0x10 || m.eth.Dst() != macOf(ipT) {
		t.Fatalf("%+v", m)
	}
	icmp := []byte(m.ip)[20:]
	if wire.CsumFold(wire.Checksum(icmp, 0)) != 0 || wire.IPHeaderChecksum(m.ip[:20]) != 0 {
		t.Fatal("bad checksums in reply")
	}
}

func TestChecklist112EchoNotRateLimited(t *testing.T) {
	e := newEnv(t)
	n := 0
	for i := 0; i < 100; i++ {
		e.send(pkt{proto: wire.ProtoICMP, l4: echoRequest(1, uint16(i), []byte("x"))})
		e.clk.Advance(5 * time.Millisecond)
		n += len(icmpsIn(e.sent()))
	}
	if n != 100 {
		t.Fatalf("%d replies", n)
	}
	e.expect(map[string]int64{"Icmp.OutEchoReps": 100, "Icmp.OutRateLimitGlobal": 0, "Icmp.OutRateLimitHost": 0})
}

func TestChecklist113EchoToBroadcastIgnored(t *testing.T) {
	for _, dst := range []wire.Addr{ipBcst, wire.AddrOf(255, 255, 255, 255)} {
		t.Run(dst.String(), func(t *testing.T) {
			e := newEnv(t)
			e.send(pkt{dst: dst, proto: wire.ProtoICMP, l4: echoRequest(1, 1, []byte("x"))})
			e.expect(map[string]int64{"Icmp.InEchos": 1, "Icmp.InErrors": 1, "Icmp.OutMsgs": 0})
			if len(e.sent()) != 0 {
				t.Fatal("emitted")
			}
		})
	}
}

func TestChecklist114EchoBadChecksum(t *testing.T) {
	e := newEnv(t)
	req := echoRequest(1, 1, []byte("x"))
	req[2] ^= 0xff
	e.send(pkt{proto: wire.ProtoICMP, l4: req})
	e.expect(map[string]int64{"Icmp.InCsumErrors": 1, "Icmp.InErrors": 1, "Icmp.InEchos": 0, "Icmp.OutMsgs": 0})
	if len(e.sent()) != 0 {
		t.Fatal("emitted")
	}
}

func TestChecklist115UnknownICMPType(t *testing.T) {
	e := newEnv(t)
	b := make([]byte, 8)
	b[0] = 50
	binary.BigEndian.PutUint16(b[2:], wire.CsumFold(wire.Checksum(b, 0)))
	e.send(pkt{proto: wire.ProtoICMP, l4: b})
	e.expect(map[string]int64{"Icmp.InErrors": 1, "Icmp.OutMsgs": 0, "Ip.InDelivers": 1})
	if len(e.sent()) != 0 {
		t.Fatal("emitted")
	}
}

func TestChecklist116PortUnreachableFormat(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(7001, bigPayload(1000))
	p.tos = 0x2b // precedence and ECN bits are not echoed
	ip := p.ipBytes()
	e.send(p)
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Icmp.OutDestUnreachs": 1, "Icmp.OutMsgs": 1})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	m := ms[0]
	if m.typ != 3 || m.code != 3 || m.ip.Src() != ipM || m.ip.Dst() != ipT || m.ip.TTL() != 64 ||
		m.ip.FragOff()&wire.IPFlagDF != 0 || m.ip.TOS() != (0x2b&0x1e)|0xc0 || m.ip.TotLen() != 576 {
		t.Fatalf("src %v ttl %d frag %#x tos %#x len %d", m.ip.Src(), m.ip.TTL(), m.ip.FragOff(), m.ip.TOS(), m.ip.TotLen())
	}
	if !bytes.Equal(m.body, ip[:548]) {
		t.Fatal("quote differs")
	}
}

func TestChecklist117PortUnreachRateLimitPerHost(t *testing.T) {
	e := newEnv(t)
	src := wire.AddrOf(10, 0, 0, 117)
	send := func() {
		p := udpPkt(7001, []byte("x"))
		p.src = src
		e.send(p)
	}
	for i := 0; i < 10; i++ {
		send()
		e.clk.Advance(10 * time.Millisecond)
	}
	e.expect(map[string]int64{"Udp.NoPorts": 10, "Icmp.OutRateLimitHost": 4, "Icmp.OutDestUnreachs": 6})
	if n := len(icmpsIn(e.sent())); n != 6 {
		t.Fatalf("%d replies", n)
	}
	e.clk.Advance(1 * time.Second)
	send()
	if n := len(icmpsIn(e.sent())); n != 1 {
		t.Fatalf("%d replies after 1 s", n)
	}
}

func TestChecklist118GlobalRateLimit(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 200; i++ {
		p := udpPkt(7001, []byte("x"))
		p.src = wire.AddrOf(10, 0, 0, byte(20+i)) // 200 fresh on-link sources
		e.send(p)
		if i%4 == 3 {
			e.clk.Advance(200 * time.Microsecond)
		}
	}
	sent := int64(len(icmpsIn(e.sent())))
	// A burst of ≈50 (random consumption of 0–2 credits each), refilled
	// by 20 per 20 ms at most: 10 ms of traffic gets no refill.
	glob := e.delta("Icmp.OutRateLimitGlobal")
	host := e.delta("Icmp.OutRateLimitHost")
	if sent < 25 || sent > 100 || sent+glob+host != 200 {
		t.Fatalf("sent %d, global %d, host %d", sent, glob, host)
	}
	e.expect(map[string]int64{"Udp.NoPorts": 200})
}

func TestChecklist119UnknownProtocol(t *testing.T) {
	e := newEnv(t)
	p := pkt{proto: 253, l4: []byte("opaque protocol data")}
	ip := p.ipBytes()
	e.send(p)
	e.expect(map[string]int64{"Ip.InUnknownProtos": 1, "Ip.InDelivers": 0, "Icmp.OutDestUnreachs": 1})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 || ms[0].typ != 3 || ms[0].code != 2 || !bytes.Equal(ms[0].body, ip) {
		t.Fatalf("%+v", ms)
	}
}
