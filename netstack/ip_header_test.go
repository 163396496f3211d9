package netstack

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// IPv4 header validation in ip_rcv_core and ip_rcv_finish.

// Checklist item 11: IP version 6 or IHL 4 in an 0x0800 frame: Ip.InHdrErrors, nothing sent.
func TestBadVersionOrIHL(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*pkt)
	}{{"version6", func(p *pkt) { p.version = 6 }}, {"ihl4", func(p *pkt) { p.ihl = 4 }}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			p := udpPkt(7000, []byte("x"))
			c.mod(&p)
			e.send(p)
			e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InHdrErrors": 1})
			e.mustSendNothing()
		})
	}
}

// Checklist item 12: an IP packet shorter than 20 bytes: Ip.InHdrErrors.
func TestIPPacketShorterThanHeader(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(7000, nil)
	p.rawIP = p.ipBytes()[:19]
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InHdrErrors": 1})
}

// Checklist item 13: IHL 15 with only 40 bytes present: Ip.InHdrErrors.
func TestIHLBeyondPacket(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(7000, make([]byte, 12))
	p.ihl = 15
	b := p.ipBytes()[:40]
	p.rawIP = b
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InHdrErrors": 1})
}

// Checklist item 14: a wrong header checksum: Ip.InHdrErrors and IpExt.InCsumErrors, no ICMP.
func TestBadIPHeaderChecksum(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("x"))
	p.badIPCsum = true
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InHdrErrors": 1, "IpExt.InCsumErrors": 1})
	e.mustSendNothing()
}

// Checklist item 15: tot_len beyond the received bytes: IpExt.InTruncatedPkts, not Ip.InHdrErrors,
// no ICMP.
func TestTotLenBeyondFrame(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(7000, []byte("x"))
	p.totLen = 200
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1, "IpExt.InTruncatedPkts": 1})
	e.expect(map[string]int64{"Ip.InHdrErrors": 0})
	e.mustSendNothing()
}

// Checklist item 16: tot_len below IHL×4: Ip.InHdrErrors.
func TestTotLenBelowHeader(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(7000, []byte("x"))
	p.totLen = 16
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InHdrErrors": 1})
}

// Checklist item 17: bytes after tot_len are trimmed and the datagram is delivered intact.
func TestTrailingGarbageIgnored(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, []byte("intact"))
	p.trailer = []byte("GARBAGE-GARBAGE-GARBAGE")
	e.send(p)
	mustRecv(t, s, []byte("intact"))
}

// Checklist item 18: TTL 0, the reserved flag, or DF on a datagram for us: delivered.
func TestTTL0ReservedFlagDFDelivered(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(*pkt)
	}{
		{"ttl0", func(p *pkt) { p.ttl = 0; p.ttl0 = true }},
		{"evilbit", func(p *pkt) { p.fragOff = wire.IPFlagCE }},
		{"df", func(p *pkt) { p.fragOff = wire.IPFlagDF }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.bound(0, 7000)
			p := udpPkt(7000, []byte(c.name))
			c.mod(&p)
			f := p.frame()
			if c.name == "ttl0" && wire.IPv4(f[14:]).TTL() != 0 {
				t.Fatal("ttl not 0")
			}
			e.inject(f)
			mustRecv(t, s, []byte(c.name))
		})
	}
}

// Checklist item 19: ECN CE counts IpExt.InCEPkts and is delivered.
func TestECNCECounted(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("ce"))
	p.tos = wire.ECNCE
	e.send(p)
	e.expect(map[string]int64{"IpExt.InCEPkts": 1, "IpExt.InNoECTPkts": 0})
	mustRecv(t, s, []byte("ce"))
}
