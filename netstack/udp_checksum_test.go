package netstack

import (
	"encoding/binary"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// UDP checksums: checked at arrival for short datagrams, at read time for long ones (udp_lib_checksum_complete).

// Checklist item 64: checksum 0: delivered unverified.
func TestUDPZeroChecksumUnverified(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, bigPayload(300))
	p.udpCsum = 0
	e.send(p)
	mustRecv(t, s, bigPayload(300))
}

// Checklist item 65: a bad checksum, length ≤ 76: Udp.InCsumErrors and InErrors at arrival, never
// seen by the reader, socket drops +0.
func TestBadChecksumSmallAtArrival(t *testing.T) {
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

// Checklist item 66: a bad checksum, length > 76: counted when read (InCsumErrors, InErrors, socket
// drops); the read blocks on or returns the next good datagram.
func TestBadChecksumLargeAtRead(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	bad := udpPkt(7000, make([]byte, 69)) // UDP length 77
	bad.badUDPCsum = true
	e.send(bad)
	e.expect(map[string]int64{"Udp.InCsumErrors": 0, "Udp.InErrors": 0})
	// A blocked reader skips it and keeps blocking until a good one.
	done := blockedRecv(t, s, 100)
	e.expect(map[string]int64{"Udp.InCsumErrors": 1, "Udp.InErrors": 1})
	if sockOf(s).Drops() != 1 {
		t.Fatalf("drops %d", sockOf(s).Drops())
	}
	e.send(udpPkt(7000, []byte("good")))
	if r := <-done; r.err != nil || string(r.data) != "good" {
		t.Fatalf("%q, %v", r.data, r.err)
	}
}

// Checklist item 67: a bad checksum to a closed port: InCsumErrors and InErrors, not NoPorts, no
// ICMP.
func TestBadChecksumClosedPort(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(7001, make([]byte, 200))
	p.badUDPCsum = true
	e.send(p)
	e.expect(map[string]int64{"Udp.InCsumErrors": 1, "Udp.InErrors": 1, "Udp.NoPorts": 0, "Icmp.OutMsgs": 0})
	e.mustSendNothing()
}

// Checklist item 68: checksum sent as 0xFFFF (the sum is 0): delivered.
func TestUDPAllOnesChecksumDelivered(t *testing.T) {
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

// Checklist item 109: poll on a blocking socket holding only a bad-checksum datagram: not readable,
// Udp.InCsumErrors.
func TestPollHidesBadChecksumOnBlockingFd(t *testing.T) {
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
