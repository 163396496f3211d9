package ipv4

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// fibValidateSource mirrors fib_frontend.c: fib_validate_source with
// rp_filter=0, accept_local=0 and no custom rules: it fails iff the
// source is an address of this host.
func (ip *IPv4) fibValidateSource(saddr wire.Addr) int {
	if !ip.Sysctl.AcceptLocal && ip.InetAddrType(saddr) == RtnLocal {
		return -EINVAL
	}
	return 0
}

// ipMcValidateSource mirrors route.c: ip_mc_validate_source.
func (ip *IPv4) ipMcValidateSource(daddr, saddr wire.Addr, proto uint8) int {
	if saddr.IsMulticast() || saddr.IsLbcast() {
		return -EINVAL
	}
	if saddr.IsLoopback() && !ip.Sysctl.RouteLocalnet {
		return -EINVAL
	}
	if saddr.IsZeronet() {
		if !daddr.IsLocalMulticast() && proto != wire.ProtoIGMP {
			return -EINVAL
		}
		return 0
	}
	return ip.fibValidateSource(saddr)
}

// ipRouteInputNoref decides what to do with a received packet and
// attaches the route to b (route.c: ip_route_input_noref →
// ip_route_input_rcu → ip_route_input_mc / ip_route_input_slow). A
// negative errno means drop; an unreachable destination is not an error
// here but a route whose input is ip_error.
func (ip *IPv4) ipRouteInputNoref(b *skb.Buffer, daddr, saddr wire.Addr, tos uint8, proto uint8) int {
	if daddr.IsMulticast() {
		if !ip.ipCheckMc(daddr, saddr, proto) {
			return -EINVAL
		}
		return ip.ipRouteInputMc(b, daddr, saddr, proto)
	}
	return ip.ipRouteInputSlow(b, daddr, saddr, tos)
}

// ipRouteInputMc mirrors route.c: ip_route_input_mc.
func (ip *IPv4) ipRouteInputMc(b *skb.Buffer, daddr, saddr wire.Addr, proto uint8) int {
	if err := ip.ipMcValidateSource(daddr, saddr, proto); err != 0 {
		return err
	}
	b.Rt = skb.Route{Type: RtnMulticast, Flags: RtcfMulticast | RtcfLocal, Valid: true}
	return 0
}

// ipRouteInputSlow mirrors route.c: ip_route_input_slow for a host
// (forwarding off) with the routing tables of one address.
func (ip *IPv4) ipRouteInputSlow(b *skb.Buffer, daddr, saddr wire.Addr, tos uint8) int {
	if saddr.IsMulticast() || saddr.IsLbcast() {
		return -EINVAL // martian source
	}
	if daddr.IsLbcast() || (saddr == 0 && daddr == 0) {
		return ip.brdInput(b, saddr)
	}
	if saddr.IsZeronet() {
		return -EINVAL // martian source
	}
	if daddr.IsZeronet() {
		return -EINVAL // martian destination
	}
	if daddr.IsLoopback() && !ip.Sysctl.RouteLocalnet {
		return -EINVAL
	}
	if saddr.IsLoopback() && !ip.Sysctl.RouteLocalnet {
		return -EINVAL
	}
	switch ip.InetAddrType(daddr) {
	case RtnBroadcast:
		return ip.brdInput(b, saddr)
	case RtnLocal:
		if err := ip.fibValidateSource(saddr); err != 0 {
			return err // martian source
		}
		b.Rt = skb.Route{Type: RtnLocal, Flags: RtcfLocal, Valid: true}
		return 0
	}
	// Forwarding is off: "no route", input ip_error.
	b.Rt = skb.Route{Type: RtnUnreachable, Err: EHOSTUNREACH, Valid: true}
	return 0
}

func (ip *IPv4) brdInput(b *skb.Buffer, saddr wire.Addr) int {
	if saddr != 0 {
		if err := ip.fibValidateSource(saddr); err != 0 {
			return err
		}
	}
	b.Rt = skb.Route{Type: RtnBroadcast, Flags: RtcfBroadcast | RtcfLocal, Valid: true}
	return 0
}

// fibComputeSpecDst mirrors fib_frontend.c: fib_compute_spec_dst: the
// destination for a local unicast route, else the address a reply would
// come from, which on a one-address host is that address.
func (ip *IPv4) fibComputeSpecDst(b *skb.Buffer) wire.Addr {
	if b.Rt.Flags&(RtcfBroadcast|RtcfMulticast|RtcfLocal) == RtcfLocal {
		return wire.IPv4(b.NetworkHeader()).Dst()
	}
	return ip.addr
}

// FibComputeSpecDst is fibComputeSpecDst for the UDP layer (IP_PKTINFO).
func (ip *IPv4) FibComputeSpecDst(b *skb.Buffer) wire.Addr { return ip.fibComputeSpecDst(b) }

// OutRoute is the result of an output route lookup (struct rtable plus
// the flowi4 fields the caller uses).
type OutRoute struct {
	Type    uint8
	Flags   uint16
	Src     wire.Addr // preferred source (fl4->saddr)
	Dst     wire.Addr
	Nexthop wire.Addr // gateway, or Dst when on-link
	Oif     int
	MTU     int
}

// RouteOutput mirrors route.c: ip_route_output_key_hash_rcu for the
// host's tables: the local table (our address and 127/8 on lo, the
// subnet broadcast), the connected subnet on eth0 and an optional
// default route. saddr, when set, must be a local address; oif restricts
// the output device. It returns a negative errno on failure.
func (ip *IPv4) RouteOutput(daddr, saddr wire.Addr, oif int) (OutRoute, int) {
	var rt OutRoute
	if saddr != 0 {
		if saddr.IsMulticast() || saddr.IsLbcast() || saddr.IsZeronet() {
			return rt, -EINVAL
		}
		if !ip.IsLocalAddr(saddr) {
			return rt, -EINVAL
		}
	}
	if oif != 0 && oif != ether.EthIfindex && oif != ether.LoopbackIfindex {
		return rt, -ENETUNREACH
	}
	rt.Dst = daddr
	rt.MTU = ip.dev.MTU
	if daddr == 0 {
		// Connect/send to 0.0.0.0 means this host.
		if saddr == 0 {
			saddr = wire.AddrOf(127, 0, 0, 1)
		}
		daddr = saddr
		rt.Dst = daddr
	}
	src := func(def wire.Addr) wire.Addr {
		if saddr != 0 {
			return saddr
		}
		return def
	}
	if daddr.IsLbcast() || daddr.IsMulticast() {
		// Linux needs an output device for these: the socket's, or a
		// route covering them (the default route's device).
		if oif == ether.LoopbackIfindex {
			return rt, -ENETUNREACH
		}
		// A local source picks its device (__ip_dev_find); otherwise
		// only a route covering the destination — the default route —
		// gives one.
		if oif == 0 && ip.gw == 0 && (saddr == 0 || saddr.IsLoopback()) {
			return rt, -ENETUNREACH
		}
		rt.Oif = ether.EthIfindex
		rt.Src = src(ip.addr)
		rt.Nexthop = daddr
		if daddr.IsLbcast() {
			rt.Type, rt.Flags = RtnBroadcast, RtcfBroadcast
		} else {
			rt.Type, rt.Flags = RtnMulticast, RtcfMulticast
		}
		return rt, 0
	}
	if ip.IsLocalAddr(daddr) {
		rt.Type, rt.Flags = RtnLocal, RtcfLocal
		rt.Oif = ether.LoopbackIfindex
		rt.Src = src(daddr)
		rt.Nexthop = daddr
		rt.MTU = 65536
		return rt, 0
	}
	if oif == ether.LoopbackIfindex {
		return rt, -ENETUNREACH
	}
	rt.Oif = ether.EthIfindex
	rt.Src = src(ip.addr)
	if ip.mask != 0 && daddr&ip.mask == ip.addr&ip.mask {
		if ip.InetAddrType(daddr) == RtnBroadcast {
			rt.Type, rt.Flags = RtnBroadcast, RtcfBroadcast
		} else {
			rt.Type = RtnUnicast
		}
		rt.Nexthop = daddr
		return rt, 0
	}
	if ip.gw == 0 {
		return rt, -ENETUNREACH
	}
	rt.Type = RtnUnicast
	rt.Nexthop = ip.gw
	return rt, 0
}

// RouteInputLocal reports whether a packet to tip from sip would be
// delivered locally (ip_route_input_noref's RTN_LOCAL), for arp_process.
func (ip *IPv4) RouteInputLocal(tip, sip wire.Addr) bool {
	var b skb.Buffer
	if ip.ipRouteInputNoref(&b, tip, sip, 0, 0) != 0 {
		return false
	}
	return b.Rt.Type == RtnLocal
}
