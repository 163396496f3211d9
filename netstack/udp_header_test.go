package netstack

import (
	"testing"
)

// UDP header checks in __udp4_lib_rcv: lengths and ports.

// Checklist item 61: a UDP length beyond the IP payload: Udp.InErrors, not InCsumErrors, no ICMP;
// Ip.InDelivers +1.
func TestUDPLengthBeyondPayload(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("abc"))
	p.udpLen = 50
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InDelivers": 1, "Udp.InErrors": 1})
	e.mustSendNothing()
}

// Checklist item 62: UDP length 7, or 4 bytes of UDP: Udp.InErrors.
func TestUDPTooShort(t *testing.T) {
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

// Checklist item 63: a UDP length below the IP payload: ulen−8 bytes delivered.
func TestUDPLengthShorterThanPayload(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, []byte("keep-this-and-not-that"))
	p.udpLen = 8 + 9
	e.send(p)
	mustRecv(t, s, []byte("keep-this"))
}

// Checklist item 69: destination port 0: Udp.NoPorts and a port unreachable.
func TestDestinationPortZeroUnreachable(t *testing.T) {
	e := newEnv(t)
	e.send(udpPkt(0, []byte("zero")))
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Icmp.OutDestUnreachs": 1})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 || ms[0].typ != 3 || ms[0].code != 3 {
		t.Fatalf("%+v", ms)
	}
}

// Checklist item 70: source port 0: delivered, recvfrom reports port 0.
func TestSourcePortZeroDelivered(t *testing.T) {
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
