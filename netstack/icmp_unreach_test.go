package netstack

import (
	"bytes"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// ICMP errors sent: port and protocol unreachable, their format and rate limits (__icmp_send).

// Checklist item 116: a port unreachable for a 1000-byte datagram: TTL 64, DF clear, TOS
// (tos&0x1E)|0xC0, 576 bytes in all; Udp.NoPorts, Icmp.OutDestUnreachs, OutMsgs.
func TestPortUnreachableFormat(t *testing.T) {
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

// Checklist item 117: 10 closed-port datagrams from one source within 100 ms: 6 replies,
// Icmp.OutRateLimitHost +4; one more after 1 s.
func TestPortUnreachRateLimitPerHost(t *testing.T) {
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

// Checklist item 118: closed-port datagrams from 200 sources within 10 ms: about 50 replies (≥ 25),
// Icmp.OutRateLimitGlobal for the rest.
func TestPortUnreachGlobalRateLimit(t *testing.T) {
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

// Checklist item 119: IP protocol 253: protocol unreachable (3/2) quoting the datagram;
// Ip.InUnknownProtos, not InDelivers.
func TestUnknownProtocolUnreachable(t *testing.T) {
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
