package netstack

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// ICMP input: echo requests and unknown types (icmp_rcv, icmp_echo).

// Checklist item 111: an echo request gets an echo reply with the same id, sequence and data;
// Icmp.InEchos, OutEchoReps.
func TestEchoReply(t *testing.T) {
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

// Checklist item 112: 100 echo requests from one source within 1 s get 100 replies.
func TestEchoNotRateLimited(t *testing.T) {
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

// Checklist item 113: an echo request to a broadcast address gets no reply; Icmp.InEchos and
// InErrors.
func TestEchoToBroadcastIgnored(t *testing.T) {
	for _, dst := range []wire.Addr{ipBcst, wire.AddrOf(255, 255, 255, 255)} {
		t.Run(dst.String(), func(t *testing.T) {
			e := newEnv(t)
			e.send(pkt{dst: dst, proto: wire.ProtoICMP, l4: echoRequest(1, 1, []byte("x"))})
			e.expect(map[string]int64{"Icmp.InEchos": 1, "Icmp.InErrors": 1, "Icmp.OutMsgs": 0})
			e.mustSendNothing()
		})
	}
}

// Checklist item 114: an echo request with a bad checksum gets no reply; Icmp.InCsumErrors,
// InErrors.
func TestEchoBadChecksum(t *testing.T) {
	e := newEnv(t)
	req := echoRequest(1, 1, []byte("x"))
	req[2] ^= 0xff
	e.send(pkt{proto: wire.ProtoICMP, l4: req})
	e.expect(map[string]int64{"Icmp.InCsumErrors": 1, "Icmp.InErrors": 1, "Icmp.InEchos": 0, "Icmp.OutMsgs": 0})
	e.mustSendNothing()
}

// Checklist item 115: ICMP type 50: Icmp.InErrors, nothing sent.
func TestUnknownICMPType(t *testing.T) {
	e := newEnv(t)
	b := make([]byte, 8)
	b[0] = 50
	binary.BigEndian.PutUint16(b[2:], wire.CsumFold(wire.Checksum(b, 0)))
	e.send(pkt{proto: wire.ProtoICMP, l4: b})
	e.expect(map[string]int64{"Icmp.InErrors": 1, "Icmp.OutMsgs": 0, "Ip.InDelivers": 1})
	e.mustSendNothing()
}
