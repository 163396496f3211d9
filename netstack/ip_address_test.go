package netstack

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// Source and destination address checks on receive: ip_route_input_slow and its martians.

// Checklist item 20: our own address as source: dropped, only Ip.InReceives, no ICMP.
func TestOwnSourceAddressDropped(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	e.mark()
	p := udpPkt(7000, []byte("x"))
	p.src = ipM
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1})
	e.mustSendNothing()
}

// Checklist item 21: source 127.0.0.1, 224.0.0.9 or 0.0.0.0: dropped, only Ip.InReceives.
func TestMartianSourceDropped(t *testing.T) {
	for _, src := range []wire.Addr{wire.AddrOf(127, 0, 0, 1), wire.AddrOf(224, 0, 0, 9), 0} {
		t.Run(src.String(), func(t *testing.T) {
			e := newEnv(t)
			e.bound(0, 7000)
			e.mark()
			p := udpPkt(7000, []byte("x"))
			p.src = src
			p.srcZero = src == 0
			e.send(p)
			e.expectOnly(map[string]int64{"Ip.InReceives": 1})
		})
	}
}

// Checklist item 22: 127.0.0.1 and 0.0.0.0 are martian destinations,
// dropped with only Ip.InReceives. Since Linux 5.3 ipv4_is_zeronet is
// only 0.0.0.0, so 0.1.2.3 is an ordinary unicast address that is not
// ours: no route (ip_error, EHOSTUNREACH) counts Ip.InAddrErrors. The
// checklist item predates that change; Linux wins, and the Linux guest
// agrees.
func TestMartianDestinationDropped(t *testing.T) {
	for _, tc := range []struct {
		dst  wire.Addr
		want map[string]int64
	}{
		{wire.AddrOf(127, 0, 0, 1), map[string]int64{"Ip.InReceives": 1}},
		{wire.AddrOf(0, 1, 2, 3), map[string]int64{"Ip.InReceives": 1, "Ip.InAddrErrors": 1}},
	} {
		t.Run(tc.dst.String(), func(t *testing.T) {
			e := newEnv(t)
			e.bound(0, 7000)
			e.mark()
			p := udpPktTo(tc.dst, 7000, []byte("x"))
			e.send(p)
			e.expectOnly(tc.want)
		})
	}
}

// Checklist item 23: another address of our subnet in a frame to our MAC: Ip.InAddrErrors, no ICMP,
// no UDP counter.
func TestSameSubnetNotUsInAddrErrors(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	e.mark()
	p := udpPktTo(wire.AddrOf(10, 0, 0, 77), 7000, []byte("x"))
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InAddrErrors": 1})
	e.mustSendNothing()
}

// Checklist item 24: 8.8.8.8 or 240.0.0.1 as destination: Ip.InAddrErrors, no ICMP.
func TestOffSubnetAndClassEInAddrErrors(t *testing.T) {
	for _, dst := range []wire.Addr{wire.AddrOf(8, 8, 8, 8), wire.AddrOf(240, 0, 0, 1)} {
		t.Run(dst.String(), func(t *testing.T) {
			e := newEnv(t)
			p := udpPktTo(dst, 7000, []byte("x"))
			e.send(p)
			e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InAddrErrors": 1})
			e.mustSendNothing()
		})
	}
}
