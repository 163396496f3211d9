package netstack

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// IP options on receive: ip_options_compile, its Parameter Problem and rate limit.

// Checklist item 25: IHL 6 with four NOP options: delivered.
func TestNOPOptionsDelivered(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, []byte("nop"))
	p.ipOpts = []byte{1, 1, 1, 1}
	e.send(p)
	mustRecv(t, s, []byte("nop"))
}

// Checklist item 26: an unknown option (type 0x9E, length 4): delivered.
func TestUnknownOptionDelivered(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, []byte("unk"))
	p.ipOpts = []byte{0x9e, 4, 0, 0}
	e.send(p)
	mustRecv(t, s, []byte("unk"))
}

// checkParamProb checks one Parameter Problem with pointer ptr quoting orig.
func checkParamProb(t *testing.T, frames [][]byte, ptr byte, orig []byte) {
	t.Helper()
	ms := icmpsIn(frames)
	if len(ms) != 1 {
		t.Fatalf("%d ICMP messages", len(ms))
	}
	m := ms[0]
	if m.typ != 12 || m.code != 0 || byte(m.rest>>24) != ptr || m.rest&0xffffff != 0 {
		t.Fatalf("type %d code %d rest %#x", m.typ, m.code, m.rest)
	}
	if m.ip.Dst() != ipT || m.ip.Src() != ipM {
		t.Fatalf("%v -> %v", m.ip.Src(), m.ip.Dst())
	}
	if !bytes.Equal(m.body, orig) {
		t.Fatalf("quote differs:\n%x\n%x", m.body, orig)
	}
}

// Checklist item 27: an option of length 1: Ip.InHdrErrors and a Parameter Problem with pointer 20
// quoting the datagram; Icmp.OutParmProbs.
func TestOptionLengthOneParamProb(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("bad option"))
	p.ipOpts = []byte{0x9e, 1, 0, 0}
	ip := p.ipBytes()
	e.send(p)
	e.expect(map[string]int64{"Ip.InReceives": 1, "Ip.InHdrErrors": 1, "Icmp.OutParmProbs": 1, "Icmp.OutMsgs": 1,
		"Ip.InDelivers": 0})
	checkParamProb(t, e.sent(), 20, ip)
}

// Checklist item 28: a record-route option longer than the option area: Parameter Problem with
// pointer 20, Ip.InHdrErrors.
func TestRecordRouteTooLongParamProb(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(7000, []byte("rr"))
	p.ipOpts = []byte{7, 8, 4, 0}
	ip := p.ipBytes()
	e.send(p)
	e.expect(map[string]int64{"Ip.InHdrErrors": 1, "Icmp.OutParmProbs": 1})
	checkParamProb(t, e.sent(), 20, ip)
}

// Checklist item 30: item 27 carrying an ICMP error: Ip.InHdrErrors but no Parameter Problem.
func TestBadOptionOnICMPErrorNoParamProb(t *testing.T) {
	e := newEnv(t)
	p := udpPkt(0, nil)
	p.proto = wire.ProtoICMP
	icmp := make([]byte, 36)
	icmp[0], icmp[1] = 3, 3
	binary.BigEndian.PutUint16(icmp[2:], wire.CsumFold(wire.Checksum(icmp, 0)))
	p.l4 = icmp
	p.ipOpts = []byte{0x9e, 1, 0, 0}
	e.send(p)
	e.expect(map[string]int64{"Ip.InHdrErrors": 1, "Icmp.OutMsgs": 0, "Icmp.OutParmProbs": 0})
	e.mustSendNothing()
}

// Checklist item 31: 10 bad-option datagrams from one source within 100 ms: 6 Parameter Problems,
// Icmp.OutRateLimitHost +4.
func TestParamProbRateLimitedPerHost(t *testing.T) {
	e := newEnv(t)
	src := wire.AddrOf(10, 0, 0, 31)
	for i := 0; i < 10; i++ {
		p := udpPkt(7000, []byte("bad"))
		p.src = src
		p.ipOpts = []byte{0x9e, 1, 0, 0}
		e.send(p)
		e.clk.Advance(10 * 1e6)
	}
	e.expect(map[string]int64{"Icmp.OutParmProbs": 6, "Icmp.OutRateLimitHost": 4, "Ip.InHdrErrors": 10})
	if n := len(icmpsIn(e.sent())); n != 6 {
		t.Fatalf("%d messages", n)
	}
}
