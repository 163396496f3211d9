package netstack

import (
	"bytes"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

const (
	soReuseaddr = socket.SoReuseaddr
	soReuseport = socket.SoReuseport
)

// §9.5 Broadcast and multicast delivery.

func TestChecklist032LimitedBroadcastDelivered(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("lbc"))
	p.dst = wire.AddrOf(255, 255, 255, 255)
	e.send(p)
	mustRecv(t, s, []byte("lbc"))
	e.expect(map[string]int64{"IpExt.InBcastPkts": 1, "Ip.InDelivers": 1})
}

func TestChecklist033SubnetBroadcastDelivered(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, []byte("sbc"))
	p.dst = ipBcst
	e.send(p)
	mustRecv(t, s, []byte("sbc"))
}

func TestChecklist034UnicastBoundSocketIgnoresBroadcast(t *testing.T) {
	e := newEnv(t)
	s := e.bound(ipM, 7000)
	e.mark()
	p := udpPkt(7000, []byte("x"))
	p.dst = ipBcst
	e.send(p)
	mustEmpty(t, s)
	e.expect(map[string]int64{"Udp.IgnoredMulti": 1, "Udp.NoPorts": 0, "Icmp.OutMsgs": 0})
}

func TestChecklist035BroadcastNoSocketIgnoredMulti(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(7000, []byte("x"))
	p.dst = wire.AddrOf(255, 255, 255, 255)
	e.send(p)
	e.expect(map[string]int64{"Udp.IgnoredMulti": 1, "Udp.NoPorts": 0, "Icmp.OutMsgs": 0})
	if len(e.sent()) != 0 {
		t.Fatal("emitted")
	}
}

func TestChecklist036BroadcastWithoutSOBroadcast(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoBroadcast); v != 0 {
		t.Fatal("SO_BROADCAST set")
	}
	p := udpPkt(7000, []byte("nb"))
	p.dst = ipBcst
	e.send(p)
	mustRecv(t, s, []byte("nb"))
}

func TestChecklist037BroadcastFanOutTwoSockets(t *testing.T) {
	e := newEnv(t)
	a := e.bound(0, 7000, soReuseaddr)
	b := e.bound(0, 7000, soReuseaddr)
	e.mark()
	p := udpPkt(7000, []byte("both"))
	p.dst = ipBcst
	e.send(p)
	mustRecv(t, a, []byte("both"))
	mustRecv(t, b, []byte("both"))
	e.expect(map[string]int64{"Udp.InDatagrams": 2, "Ip.InDelivers": 1})
}

func TestChecklist038BoundToBroadcastAddress(t *testing.T) {
	e := newEnv(t)
	s := e.bound(ipBcst, 7000)
	p := udpPkt(7000, []byte("bc"))
	p.dst = ipBcst
	e.send(p)
	mustRecv(t, s, []byte("bc"))
	e.mark()
	e.send(udpPkt(7000, []byte("uc")))
	mustEmpty(t, s)
	e.expect(map[string]int64{"Udp.NoPorts": 1})
}

func TestChecklist039AllHostsMulticast(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("mc"))
	p.dst = wire.AddrOf(224, 0, 0, 1)
	e.send(p)
	mustRecv(t, s, []byte("mc"))
	e.expect(map[string]int64{"IpExt.InMcastPkts": 1})
}

func TestChecklist040UnjoinedGroupSilentlyDropped(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("mc"))
	p.dst = wire.AddrOf(239, 1, 1, 1)
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1})
}

// join joins g on the interface that has ipM (ip_mreq with imr_address):
// the test stack has no default route, so INADDR_ANY finds no device.
func join(t testing.TB, s *socket.Socket, g wire.Addr) {
	if err := s.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, &socket.IPMreqn{Multiaddr: g.As4(), Address: ipM.As4()}); err != nil && t != nil {
		t.Fatal(err)
	}
}

func TestChecklist041MulticastAllDefault(t *testing.T) {
	e := newEnv(t)
	a := e.bound(0, 7000, soReuseaddr)
	b := e.bound(0, 7000, soReuseaddr)
	join(t, a, wire.AddrOf(239, 1, 1, 1))
	p := udpPkt(7000, []byte("g"))
	p.dst = wire.AddrOf(239, 1, 1, 1)
	e.send(p)
	mustRecv(t, a, []byte("g"))
	mustRecv(t, b, []byte("g"))
}

func TestChecklist042MulticastAllOff(t *testing.T) {
	e := newEnv(t)
	a := e.bound(0, 7000, soReuseaddr)
	b := e.bound(0, 7000, soReuseaddr)
	join(t, a, wire.AddrOf(239, 1, 1, 1))
	if err := b.SetsockoptInt(socket.SolIP, socket.IPMulticastAll, 0); err != nil {
		t.Fatal(err)
	}
	p := udpPkt(7000, []byte("g"))
	p.dst = wire.AddrOf(239, 1, 1, 1)
	e.send(p)
	mustRecv(t, a, []byte("g"))
	mustEmpty(t, b)
}

func TestChecklist043JoinedGroupNoSocketOnPort(t *testing.T) {
	e := newEnv(t)
	a := e.bound(0, 7000)
	join(t, a, wire.AddrOf(239, 1, 1, 1))
	e.mark()
	p := udpPkt(7001, []byte("g"))
	p.dst = wire.AddrOf(239, 1, 1, 1)
	e.send(p)
	e.expect(map[string]int64{"Udp.IgnoredMulti": 1, "Icmp.OutMsgs": 0, "Udp.NoPorts": 0})
}

func TestChecklist044ConnectedSocketMissesBroadcast(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if err := s.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	e.mark()
	p := udpPkt(7000, []byte("bc"))
	p.sport = 9000
	p.dst = ipBcst
	e.send(p)
	mustEmpty(t, s)
	e.expect(map[string]int64{"Udp.IgnoredMulti": 1})
}

// §9.6 Fragmentation and reassembly.

// udpDatagram builds a UDP datagram (header and payload) from src to dst.
func udpDatagram(src, dst wire.Addr, sport, dport uint16, payload []byte) []byte {
	p := pkt{sport: sport, dport: dport, payload: payload, udpCsum: -1}
	return p.l4bytes(src, dst)
}

// frag builds the fragment of ipPayload at [off, off+n).
func frag(ipPayload []byte, off, n int, mf bool, id uint16) pkt {
	p := pkt{id: id, l4: ipPayload[off : off+n], fragOff: uint16(off / 8)}
	if mf {
		p.fragOff |= wire.IPFlagMF
	}
	return p
}

func bigPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestChecklist045TwoFragmentsInOrder(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	data := bigPayload(2000)
	d := udpDatagram(ipT, ipM, 40000, 7000, data)
	e.mark()
	e.send(frag(d, 0, 1480, true, 45))
	e.send(frag(d, 1480, len(d)-1480, false, 45))
	mustRecv(t, s, data)
	e.expect(map[string]int64{"Ip.InReceives": 2, "Ip.ReasmReqds": 2, "Ip.ReasmOKs": 1, "Ip.InDelivers": 1, "Ip.ReasmFails": 0})
}

func TestChecklist046TwoFragmentsReversed(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	data := bigPayload(2000)
	d := udpDatagram(ipT, ipM, 40000, 7000, data)
	e.mark()
	e.send(frag(d, 1480, len(d)-1480, false, 46))
	e.send(frag(d, 0, 1480, true, 46))
	mustRecv(t, s, data)
	e.expect(map[string]int64{"Ip.InReceives": 2, "Ip.ReasmReqds": 2, "Ip.ReasmOKs": 1, "Ip.InDelivers": 1})
}

func TestChecklist047DuplicateMiddleFragment(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	data := bigPayload(3000)
	d := udpDatagram(ipT, ipM, 40000, 7000, data)
	e.mark()
	e.send(frag(d, 0, 1480, true, 47))
	e.send(frag(d, 1480, 1480, true, 47))
	e.send(frag(d, 1480, 1480, true, 47))
	e.send(frag(d, 2960, len(d)-2960, false, 47))
	mustRecv(t, s, data)
	mustEmpty(t, s)
	e.expect(map[string]int64{"Ip.ReasmReqds": 4, "Ip.ReasmOKs": 1, "Ip.ReasmFails": 0, "Drop.DUP_FRAG": 1})
}

func TestChecklist048OverlapDiscardsDatagram(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	data := bigPayload(2000)
	d := udpDatagram(ipT, ipM, 40000, 7000, data)
	e.mark()
	e.send(frag(d, 0, 1480, true, 48))
	other := append([]byte(nil), d...)
	for i := 1400; i < len(other); i++ {
		other[i] ^= 0xff
	}
	e.send(frag(other, 1400, len(d)-1400, false, 48))
	mustEmpty(t, s)
	e.expect(map[string]int64{"IpExt.ReasmOverlaps": 1, "Ip.ReasmFails": 1, "Ip.ReasmOKs": 0, "Icmp.OutMsgs": 0})
	if len(e.sent()) != 0 {
		t.Fatal("emitted")
	}
}

func TestChecklist049FirstFragmentTimeoutICMP(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	data := bigPayload(2000)
	d := udpDatagram(ipT, ipM, 40000, 7000, data)
	f := frag(d, 0, 1480, true, 49)
	ip := f.ipBytes()
	e.mark()
	e.send(f)
	e.advance(29 * time.Second)
	e.expect(map[string]int64{"Ip.ReasmFails": 0})
	e.advance(1 * time.Second)
	e.expect(map[string]int64{"Ip.ReasmFails": 1, "Ip.ReasmTimeout": 1, "Icmp.OutTimeExcds": 1})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 || ms[0].typ != 11 || ms[0].code != 1 {
		t.Fatalf("%+v", ms)
	}
	if len(ms[0].body) != 548 || !bytes.Equal(ms[0].body, ip[:548]) || ms[0].ip.TotLen() != 576 {
		t.Fatalf("quote %d bytes, tot_len %d", len(ms[0].body), ms[0].ip.TotLen())
	}
}

func TestChecklist050NonFirstFragmentTimeoutNoICMP(t *testing.T) {
	e := newEnv(t)
	d := udpDatagram(ipT, ipM, 40000, 7000, bigPayload(2000))
	e.send(frag(d, 1480, len(d)-1480, false, 50))
	e.advance(30 * time.Second)
	e.expect(map[string]int64{"Ip.ReasmFails": 1, "Ip.ReasmTimeout": 1, "Icmp.OutMsgs": 0})
	if len(e.sent()) != 0 {
		t.Fatal("emitted")
	}
}

func TestChecklist051TimerArmedOnce(t *testing.T) {
	e := newEnv(t)
	d := udpDatagram(ipT, ipM, 40000, 7000, bigPayload(4000))
	e.send(frag(d, 0, 1480, true, 51))
	e.advance(20 * time.Second)
	e.send(frag(d, 1480, 1480, true, 51))
	e.advance(9999 * time.Millisecond)
	e.expect(map[string]int64{"Ip.ReasmTimeout": 0})
	e.advance(1 * time.Millisecond)
	e.expect(map[string]int64{"Ip.ReasmTimeout": 1, "Ip.ReasmFails": 1})
}

func TestChecklist052OversizedReassembly(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	// IP payload of 65544 bytes: 20 + 65544 > 65535.
	total := 65544
	d := make([]byte, total)
	for off := 0; off < total; off += 1480 {
		n := min(1480, total-off)
		e.send(frag(d, off, n, off+n < total, 52))
	}
	mustEmpty(t, s)
	e.expect(map[string]int64{"Ip.ReasmFails": 1, "Ip.ReasmOKs": 0, "Icmp.OutMsgs": 0})
}

func TestChecklist053EmptyFragmentDiscardsQueue(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	data := bigPayload(2000)
	d := udpDatagram(ipT, ipM, 40000, 7000, data)
	e.send(frag(d, 0, 1480, true, 53))
	e.mark()
	empty := pkt{id: 53, l4: []byte{}, fragOff: wire.IPFlagMF | 185}
	e.send(empty)
	e.expect(map[string]int64{"Ip.ReasmFails": 1})
	e.send(frag(d, 1480, len(d)-1480, false, 53))
	mustEmpty(t, s)
	e.expect(map[string]int64{"Ip.ReasmOKs": 0})
}

func TestChecklist054UnalignedNonFinalFragmentTruncated(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	payload := []byte("0123456789")
	d := udpDatagram(ipT, ipM, 40000, 7000, payload) // 18 bytes
	first := append(append([]byte(nil), d[:8]...), []byte("JUNKY")...)
	e.send(pkt{id: 54, l4: first, fragOff: wire.IPFlagMF})
	e.send(pkt{id: 54, l4: d[8:18], fragOff: 1})
	mustRecv(t, s, payload)
	e.expect(map[string]int64{"Ip.ReasmOKs": 1})
}

func TestChecklist055FinalFragmentBelowQueuedData(t *testing.T) {
	e := newEnv(t)
	d := udpDatagram(ipT, ipM, 40000, 7000, bigPayload(2000))
	e.send(frag(d, 0, 1480, true, 55))
	e.mark()
	e.send(frag(d, 8, 800, false, 55)) // ends at 808 < 1480
	e.expect(map[string]int64{"Ip.ReasmFails": 1})
}

func TestChecklist056TwoDifferentFinalFragments(t *testing.T) {
	e := newEnv(t)
	d := udpDatagram(ipT, ipM, 40000, 7000, bigPayload(3000))
	e.send(frag(d, 1480, 1480, false, 56))
	e.mark()
	e.send(frag(d, 2960, len(d)-2960, false, 56))
	e.expect(map[string]int64{"Ip.ReasmFails": 1})
}

func TestChecklist057FragmentsToClosedPortICMP(t *testing.T) {
	e := newEnv(t)
	d := udpDatagram(ipT, ipM, 40000, 7001, bigPayload(2000))
	e.send(frag(d, 0, 1480, true, 57))
	e.send(frag(d, 1480, len(d)-1480, false, 57))
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Icmp.OutDestUnreachs": 1})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 || ms[0].typ != 3 || ms[0].code != 3 {
		t.Fatalf("%+v", ms)
	}
	q := wire.IPv4(ms[0].body)
	if q.FragOff() != 0 || q.TotLen() != 20+len(d) || q.ID() != 57 {
		t.Fatalf("quoted header frag_off %#x tot_len %d", q.FragOff(), q.TotLen())
	}
	if !bytes.Equal(ms[0].body[20:], d[:548-20]) {
		t.Fatal("quoted data differs")
	}
}

func TestChecklist058ECNMixFails(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	d := udpDatagram(ipT, ipM, 40000, 7000, bigPayload(2000))
	a := frag(d, 0, 1480, true, 58)
	b := frag(d, 1480, len(d)-1480, false, 58)
	b.tos = wire.ECNECT0
	e.send(a)
	e.send(b)
	mustEmpty(t, s)
	e.expect(map[string]int64{"Ip.ReasmFails": 1, "Ip.ReasmOKs": 0})
}

func TestChecklist059SameIDDifferentProtocol(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	data := bigPayload(2000)
	d := udpDatagram(ipT, ipM, 40000, 7000, data)
	echo := make([]byte, 8+2000)
	echo[0] = 8
	echo[5] = 0x59
	copy(echo[8:], data)
	c := wire.CsumFold(wire.Checksum(echo, 0))
	echo[2], echo[3] = byte(c>>8), byte(c)
	u1, u2 := frag(d, 0, 1480, true, 59), frag(d, 1480, len(d)-1480, false, 59)
	i1, i2 := frag(echo, 0, 1480, true, 59), frag(echo, 1480, len(echo)-1480, false, 59)
	i1.proto, i2.proto = wire.ProtoICMP, wire.ProtoICMP
	e.send(u1)
	e.send(i1)
	e.send(i2)
	e.send(u2)
	mustRecv(t, s, data)
	e.expect(map[string]int64{"Ip.ReasmOKs": 2, "Icmp.OutEchoReps": 1})
}

func TestChecklist060FragmentMemoryHighThreshold(t *testing.T) {
	// A 2048-byte frame's truesize is 2624, plus 192 per queue: 1490
	// one-fragment queues exceed 4 MiB, more than the default test pool.
	e := newEnvPool(t, 1700)
	d := udpDatagram(ipT, ipM, 40000, 7000, bigPayload(2000))
	for i := 0; i < 1490; i++ {
		e.send(frag(d, 0, 1480, true, uint16(1000+i)))
	}
	q, mem := e.s.ip.FragMem()
	if q != 1490 || mem <= 4<<20 {
		t.Fatalf("%d queues, %d bytes", q, mem)
	}
	s := e.bound(0, 7000)
	e.mark()
	e.send(frag(d, 1480, len(d)-1480, false, 1000)) // would complete queue 1000
	e.expect(map[string]int64{"Ip.ReasmFails": 1, "Ip.ReasmOKs": 0})
	mustEmpty(t, s)
	e.advance(30 * time.Second)
	e.mark()
	e.send(frag(d, 0, 1480, true, 7))
	e.send(frag(d, 1480, len(d)-1480, false, 7))
	e.expect(map[string]int64{"Ip.ReasmOKs": 1})
}
