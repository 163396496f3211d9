package netstack

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Broadcast delivery: __udp4_lib_mcast_deliver for broadcasts, Udp.IgnoredMulti.

// Checklist item 32: a datagram to 255.255.255.255 reaches a wildcard socket; IpExt.InBcastPkts.
func TestLimitedBroadcastDelivered(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	p := udpPktTo(wire.AddrOf(255, 255, 255, 255), 7000, []byte("lbc"))
	e.send(p)
	mustRecv(t, s, []byte("lbc"))
	e.expect(map[string]int64{"IpExt.InBcastPkts": 1, "Ip.InDelivers": 1})
}

// Checklist item 33: a datagram to the subnet broadcast reaches a wildcard socket.
func TestSubnetBroadcastDelivered(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPktTo(ipBcst, 7000, []byte("sbc"))
	e.send(p)
	mustRecv(t, s, []byte("sbc"))
}

// Checklist item 34: a socket bound to our unicast address misses a subnet broadcast:
// Udp.IgnoredMulti, not Udp.NoPorts, no ICMP.
func TestUnicastBoundSocketIgnoresBroadcast(t *testing.T) {
	e := newEnv(t)
	s := e.bound(ipM, 7000)
	e.mark()
	p := udpPktTo(ipBcst, 7000, []byte("x"))
	e.send(p)
	mustEmpty(t, s)
	e.expect(map[string]int64{"Udp.IgnoredMulti": 1, "Udp.NoPorts": 0, "Icmp.OutMsgs": 0})
}

// Checklist item 35: a broadcast to a port with no socket: Udp.IgnoredMulti, no ICMP.
func TestBroadcastNoSocketIgnoredMulti(t *testing.T) {
	e := newEnv(t)
	p := udpPktTo(wire.AddrOf(255, 255, 255, 255), 7000, []byte("x"))
	e.send(p)
	e.expect(map[string]int64{"Udp.IgnoredMulti": 1, "Udp.NoPorts": 0, "Icmp.OutMsgs": 0})
	e.mustSendNothing()
}

// Checklist item 36: receiving broadcasts needs no SO_BROADCAST.
func TestBroadcastDeliveredWithoutSOBroadcast(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoBroadcast); v != 0 {
		t.Fatal("SO_BROADCAST set")
	}
	p := udpPktTo(ipBcst, 7000, []byte("nb"))
	e.send(p)
	mustRecv(t, s, []byte("nb"))
}

// Checklist item 37: two SO_REUSEADDR wildcard sockets each get a copy of one broadcast;
// Udp.InDatagrams +2 once read.
func TestBroadcastFanOutTwoSockets(t *testing.T) {
	e := newEnv(t)
	a := e.bound(0, 7000, soReuseaddr)
	b := e.bound(0, 7000, soReuseaddr)
	e.mark()
	p := udpPktTo(ipBcst, 7000, []byte("both"))
	e.send(p)
	mustRecv(t, a, []byte("both"))
	mustRecv(t, b, []byte("both"))
	e.expect(map[string]int64{"Udp.InDatagrams": 2, "Ip.InDelivers": 1})
}

// Checklist item 38: a socket bound to the subnet broadcast address gets broadcasts but not unicast
// (Udp.NoPorts).
func TestBoundToBroadcastAddress(t *testing.T) {
	e := newEnv(t)
	s := e.bound(ipBcst, 7000)
	p := udpPktTo(ipBcst, 7000, []byte("bc"))
	e.send(p)
	mustRecv(t, s, []byte("bc"))
	e.mark()
	e.send(udpPkt(7000, []byte("uc")))
	mustEmpty(t, s)
	e.expect(map[string]int64{"Udp.NoPorts": 1})
}

// Checklist item 44: a wildcard socket connected to a peer misses that peer's broadcast (its bound
// address became ours): Udp.IgnoredMulti.
func TestConnectedSocketMissesBroadcast(t *testing.T) {
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
