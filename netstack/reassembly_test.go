package netstack

import (
	"bytes"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// Fragment reassembly: ip_defrag, overlaps, limits and timeouts.

// Checklist item 45: two fragments in order reassemble: Ip.ReasmReqds +2, ReasmOKs +1, InDelivers
// +1.
func TestTwoFragmentsInOrder(t *testing.T) {
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

// Checklist item 46: the same two fragments last first: the same result.
func TestTwoFragmentsReversed(t *testing.T) {
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

// Checklist item 47: fragments 1, 2, 2, 3 (identical duplicate): one delivery, ReasmReqds +4, no
// ReasmFails.
func TestDuplicateMiddleFragment(t *testing.T) {
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

// Checklist item 48: an overlapping fragment with other bytes: IpExt.ReasmOverlaps, Ip.ReasmFails,
// no delivery, no ICMP.
func TestFragmentOverlapDiscardsDatagram(t *testing.T) {
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
	e.mustSendNothing()
}

// Checklist item 49: only the first fragment: after 30 s ReasmFails, ReasmTimeout and an ICMP time
// exceeded (11/1) quoting it; Icmp.OutTimeExcds.
func TestFirstFragmentTimeoutICMP(t *testing.T) {
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

// Checklist item 50: only a non-first fragment: after 30 s ReasmFails, ReasmTimeout and no ICMP.
func TestNonFirstFragmentTimeoutNoICMP(t *testing.T) {
	e := newEnv(t)
	d := udpDatagram(ipT, ipM, 40000, 7000, bigPayload(2000))
	e.send(frag(d, 1480, len(d)-1480, false, 50))
	e.advance(30 * time.Second)
	e.expect(map[string]int64{"Ip.ReasmFails": 1, "Ip.ReasmTimeout": 1, "Icmp.OutMsgs": 0})
	e.mustSendNothing()
}

// Checklist item 51: a later fragment does not re-arm the reassembly timer: expiry at 30 s, not 50
// s.
func TestReassemblyTimerArmedOnce(t *testing.T) {
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

// Checklist item 52: fragments reassembling beyond 65535 bytes: ReasmFails, no delivery, no ICMP.
func TestReassemblyOver65535Fails(t *testing.T) {
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

// Checklist item 53: a fragment with no payload: ReasmFails and its queue is discarded.
func TestEmptyFragmentDiscardsQueue(t *testing.T) {
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

// Checklist item 54: a non-final fragment is cut to a multiple of 8 bytes.
func TestUnalignedNonFinalFragmentTruncated(t *testing.T) {
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

// Checklist item 55: a final fragment ending below queued data: ReasmFails.
func TestFinalFragmentBelowQueuedData(t *testing.T) {
	e := newEnv(t)
	d := udpDatagram(ipT, ipM, 40000, 7000, bigPayload(2000))
	e.send(frag(d, 0, 1480, true, 55))
	e.mark()
	e.send(frag(d, 8, 800, false, 55)) // ends at 808 < 1480
	e.expect(map[string]int64{"Ip.ReasmFails": 1})
}

// Checklist item 56: two final fragments with different ends: ReasmFails.
func TestTwoDifferentFinalFragments(t *testing.T) {
	e := newEnv(t)
	d := udpDatagram(ipT, ipM, 40000, 7000, bigPayload(3000))
	e.send(frag(d, 1480, 1480, false, 56))
	e.mark()
	e.send(frag(d, 2960, len(d)-2960, false, 56))
	e.expect(map[string]int64{"Ip.ReasmFails": 1})
}

// Checklist item 57: a fragmented datagram to a closed port: Udp.NoPorts and a port unreachable
// quoting the reassembled header.
func TestFragmentsToClosedPortICMP(t *testing.T) {
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

// Checklist item 58: fragments mixing Not-ECT and ECT(0): ReasmFails, no delivery.
func TestFragmentECNMixFails(t *testing.T) {
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

// Checklist item 59: two trains with the same ID and addresses but different protocols reassemble
// apart.
func TestFragmentsSameIDDifferentProtocol(t *testing.T) {
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

// Checklist item 60: beyond 4 MiB of queued fragments every further fragment fails until queues
// expire.
func TestFragmentMemoryHighThreshold(t *testing.T) {
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
