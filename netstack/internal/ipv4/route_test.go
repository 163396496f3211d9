package ipv4

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// ip_route_output over the tables of 127.0.0.1/8 on lo and 10.0.0.5/24
// on eth0 without a default route.
func TestRouteOutput(t *testing.T) {
	ip, _ := testIP(nil)
	a := wire.AddrOf
	lo, eth := 1, 2
	for _, c := range []struct {
		name         string
		daddr, saddr wire.Addr
		oif          int
		err          int
		typ          uint8
		flags        uint16
		dev          int
		src, nexthop wire.Addr
		iif          int
	}{
		{"loopback", a(127, 0, 0, 1), 0, 0, 0, RtnLocal, RtcfLocal, lo, a(127, 0, 0, 1), a(127, 0, 0, 1), lo},
		{"lo's subnet", a(127, 9, 9, 9), 0, 0, 0, RtnLocal, RtcfLocal, lo, a(127, 0, 0, 1), a(127, 9, 9, 9), lo},
		{"own address via lo", a(10, 0, 0, 5), 0, 0, 0, RtnLocal, RtcfLocal, lo, a(10, 0, 0, 5), a(10, 0, 0, 5), eth},
		{"own address bound to eth0", a(10, 0, 0, 5), 0, eth, 0, RtnLocal, RtcfLocal, lo, a(10, 0, 0, 5), a(10, 0, 0, 5), eth},
		{"this host", 0, 0, 0, 0, RtnLocal, RtcfLocal, lo, a(127, 0, 0, 1), a(127, 0, 0, 1), 0},
		{"this host from own address", 0, a(10, 0, 0, 5), 0, 0, RtnLocal, RtcfLocal, lo, a(10, 0, 0, 5), a(10, 0, 0, 5), 0},
		{"on link", a(10, 0, 0, 9), 0, 0, 0, RtnUnicast, 0, eth, a(10, 0, 0, 5), a(10, 0, 0, 9), 0},
		{"subnet broadcast", a(10, 0, 0, 255), 0, 0, 0, RtnBroadcast, RtcfBroadcast | RtcfLocal, eth, a(10, 0, 0, 5), a(10, 0, 0, 255), 0},
		{"lo broadcast", a(127, 255, 255, 255), 0, 0, 0, RtnBroadcast, RtcfBroadcast | RtcfLocal, lo, a(127, 0, 0, 1), a(127, 255, 255, 255), 0},
		{"no default route", a(8, 8, 8, 8), 0, 0, -ENETUNREACH, 0, 0, 0, 0, 0, 0},
		{"multicast without device", a(239, 1, 1, 1), 0, 0, -ENETUNREACH, 0, 0, 0, 0, 0, 0},
		{"joined multicast on eth0", a(224, 0, 0, 1), 0, eth, 0, RtnMulticast, RtcfMulticast | RtcfLocal, eth, a(10, 0, 0, 5), a(224, 0, 0, 1), eth},
		{"multicast on eth0", a(239, 1, 1, 1), 0, eth, 0, RtnMulticast, RtcfMulticast, eth, a(10, 0, 0, 5), a(239, 1, 1, 1), eth},
		{"multicast from 127.0.0.1 takes lo", a(239, 1, 1, 1), a(127, 0, 0, 1), 0, 0, RtnMulticast, RtcfMulticast, lo, a(127, 0, 0, 1), a(239, 1, 1, 1), 0},
		{"joined multicast from 127.0.0.1", a(224, 0, 0, 1), a(127, 0, 0, 1), 0, 0, RtnMulticast, RtcfMulticast | RtcfLocal, lo, a(127, 0, 0, 1), a(224, 0, 0, 1), 0},
		{"limited broadcast without device", a(255, 255, 255, 255), 0, 0, -ENETUNREACH, 0, 0, 0, 0, 0, 0},
		{"limited broadcast from own address", a(255, 255, 255, 255), a(10, 0, 0, 5), 0, 0, RtnBroadcast, RtcfBroadcast | RtcfLocal, eth, a(10, 0, 0, 5), a(255, 255, 255, 255), 0},
		{"own address bound to lo: on link through lo", a(10, 0, 0, 5), 0, lo, 0, RtnUnicast, RtcfLocal, lo, a(10, 0, 0, 5), a(10, 0, 0, 5), lo},
		{"foreign source", a(10, 0, 0, 9), a(10, 0, 0, 8), 0, -ENETUNREACH, 0, 0, 0, 0, 0, 0},
		{"multicast source", a(10, 0, 0, 9), a(224, 1, 1, 1), 0, -EINVAL, 0, 0, 0, 0, 0, 0},
		{"loopback source off lo", a(10, 0, 0, 9), a(127, 0, 0, 1), 0, -EINVAL, 0, 0, 0, 0, 0, 0},
		{"unknown oif", a(10, 0, 0, 9), 0, 9, -ENODEV, 0, 0, 0, 0, 0, 0},
	} {
		rt, err := ip.RouteOutput(c.daddr, c.saddr, c.oif)
		if err != c.err {
			t.Errorf("%s: err %d, want %d", c.name, err, c.err)
			continue
		}
		if err != 0 {
			continue
		}
		if rt.Type != c.typ || rt.Flags != c.flags || rt.Oif != c.dev || rt.Dev.Ifindex != c.dev ||
			rt.Src != c.src || rt.Nexthop != c.nexthop || rt.Iif != c.iif || rt.MTU != rt.Dev.MTU {
			t.Errorf("%s: %+v", c.name, rt)
		}
	}
}

// ip_mc_find_dev: the index given, the device of the address given, or
// the device of the route to the group.
func TestMcFindDev(t *testing.T) {
	ip, _ := testIP(nil)
	g := wire.AddrOf(239, 1, 1, 1)
	for _, c := range []struct {
		addr wire.Addr
		idx  int
		want int
	}{
		{0, 0, 0}, {0, 1, 1}, {0, 2, 2}, {0, 3, 0},
		{wire.AddrOf(10, 0, 0, 5), 0, 2}, {wire.AddrOf(127, 0, 0, 1), 0, 1},
		{wire.AddrOf(127, 3, 0, 1), 0, 1}, {wire.AddrOf(10, 0, 0, 9), 0, 0},
	} {
		if got := ip.McFindDev(g, c.addr, c.idx); got != c.want {
			t.Errorf("addr %v index %d: %d, want %d", c.addr, c.idx, got, c.want)
		}
	}
	ip.gw = wire.AddrOf(10, 0, 0, 1)
	ip.fib = nil
	ip.ifaddrs = nil
	ip.fibSetup()
	if got := ip.McFindDev(g, 0, 0); got != 2 {
		t.Errorf("with a default route: %d, want 2", got)
	}
}
