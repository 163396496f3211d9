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
		if !ip.ipCheckMc(b.Ifindex, daddr, saddr, proto) {
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
// destination for a local unicast route, else the preferred source of
// the route back to the sender (a route lookup as from lo), or for a
// sender of 0.0.0.0 an address of the receiving device.
func (ip *IPv4) fibComputeSpecDst(b *skb.Buffer) wire.Addr {
	h := wire.IPv4(b.NetworkHeader())
	if b.Rt.Flags&(RtcfBroadcast|RtcfMulticast|RtcfLocal) == RtcfLocal {
		return h.Dst()
	}
	dev := ip.net.GetByIndex(b.Ifindex)
	if dev == nil {
		dev = ip.dev
	}
	saddr := h.Src()
	if !saddr.IsZeronet() {
		if r := ip.fibLookup(saddr, 0); r != nil {
			return ip.fibResPrefsrc(r)
		}
		return ip.inetSelectAddr(dev, saddr, RtScopeUniverse)
	}
	return ip.inetSelectAddr(dev, saddr, RtScopeLink)
}

// FibComputeSpecDst is fibComputeSpecDst for the UDP layer (IP_PKTINFO).
func (ip *IPv4) FibComputeSpecDst(b *skb.Buffer) wire.Addr { return ip.fibComputeSpecDst(b) }

// InetIif is include/net/route.h: inet_iif: the interface a looped-back
// packet's route was made for, else the device it arrived on. Socket
// lookup and IP_PKTINFO use it, so that a datagram a socket bound to
// eth0 sends to the host's own address reaches sockets bound to eth0.
func InetIif(b *skb.Buffer) int {
	if b.Rt.Valid && b.Rt.Iif != 0 {
		return b.Rt.Iif
	}
	return b.Ifindex
}

// PktinfoIfindex is the ipi_ifindex ipv4_pktinfo_prepare reports: the
// receiving interface, except that for lo it is inet_iif (the interface
// the sender routed through).
func PktinfoIfindex(b *skb.Buffer) int {
	if b.CB.Iif == ether.LoopbackIfindex {
		return InetIif(b)
	}
	return b.CB.Iif
}

// OutRoute is the result of an output route lookup (struct rtable plus
// the flowi4 fields the caller uses).
type OutRoute struct {
	Type    uint8
	Flags   uint16
	Src     wire.Addr // preferred source (fl4->saddr)
	Dst     wire.Addr
	Nexthop wire.Addr // gateway, or Dst when on-link
	Oif     int       // the output device's index (dst.dev)
	Dev     *ether.Device
	Iif     int // rt_iif: the interface asked for, or a local route's device
	MTU     int
}

// RouteOutput mirrors route.c: ip_route_output_key_hash_rcu →
// __mkroute_output over the host's tables (see fibLookup). saddr, when
// set, must be an address of this host; oif, when set, is the output
// device. It returns a negative errno on failure: EINVAL for a bad
// source, ENODEV for an unknown oif, ENETUNREACH for no route.
func (ip *IPv4) RouteOutput(daddr, saddr wire.Addr, oif int) (OutRoute, int) {
	var rt OutRoute
	origOif := oif
	var devOut *ether.Device
	var res *fibRoute
	typ := uint8(RtnUnspec)
	flags := uint16(0)
	if saddr != 0 {
		if saddr.IsMulticast() || saddr.IsLbcast() || saddr.IsZeronet() {
			return rt, -EINVAL
		}
		if oif == 0 && (daddr.IsMulticast() || daddr.IsLbcast()) {
			// A multicast or limited broadcast from a local address
			// leaves through that address's device: no need for
			// IP_MULTICAST_IF.
			devOut = ip.ipDevFind(saddr)
			if devOut == nil {
				return rt, -ENETUNREACH
			}
			return ip.mkrouteOutput(daddr, saddr, typ, nil, origOif, devOut, flags)
		}
		if ip.ipDevFind(saddr) == nil {
			return rt, -ENETUNREACH
		}
	}
	if oif != 0 {
		devOut = ip.net.GetByIndex(oif)
		if devOut == nil {
			return rt, -ENODEV
		}
		if daddr.IsLocalMulticast() || daddr.IsLbcast() {
			if saddr == 0 {
				saddr = ip.inetSelectAddr(devOut, 0, RtScopeLink)
			}
			return ip.mkrouteOutput(daddr, saddr, typ, nil, origOif, devOut, flags)
		}
		if saddr == 0 {
			if daddr.IsMulticast() {
				saddr = ip.inetSelectAddr(devOut, 0, RtScopeUniverse)
			} else if daddr == 0 {
				saddr = ip.inetSelectAddr(devOut, 0, RtScopeHost)
			}
		}
	}
	if daddr == 0 {
		// Connect/send to 0.0.0.0 means this host.
		daddr = saddr
		if daddr == 0 {
			daddr = wire.AddrOf(127, 0, 0, 1)
			saddr = daddr
		}
		return ip.mkrouteOutput(daddr, saddr, RtnLocal, nil, origOif, ip.net.Loopback(), RtcfLocal)
	}
	res = ip.fibLookup(daddr, oif)
	if res == nil {
		if oif != 0 {
			// No route through oif: the destination is taken to be
			// on link (a bound socket may send where no route goes).
			if saddr == 0 {
				saddr = ip.inetSelectAddr(devOut, 0, RtScopeLink)
			}
			return ip.mkrouteOutput(daddr, saddr, RtnUnicast, nil, origOif, devOut, flags)
		}
		return rt, -ENETUNREACH
	}
	if res.typ == RtnLocal {
		if saddr == 0 {
			saddr = res.prefsrc
			if saddr == 0 {
				saddr = daddr
			}
		}
		// Local destinations go out through lo; rt_iif remembers the
		// device the address lives on.
		return ip.mkrouteOutput(daddr, saddr, RtnLocal, res, res.dev.Ifindex, ip.net.Loopback(), RtcfLocal)
	}
	if saddr == 0 {
		saddr = ip.fibResPrefsrc(res)
	}
	return ip.mkrouteOutput(daddr, saddr, res.typ, res, origOif, res.dev, flags)
}

// mkrouteOutput mirrors route.c: __mkroute_output: the route type from
// the destination, RTCF_LOCAL for lo and for broadcasts and joined
// multicast groups (which ip_mc_output then loops back), the gateway of a
// unicast route, and the device's MTU.
func (ip *IPv4) mkrouteOutput(daddr, saddr wire.Addr, typ uint8, res *fibRoute, origOif int, devOut *ether.Device, flags uint16) (OutRoute, int) {
	var rt OutRoute
	if saddr.IsLoopback() && !devOut.IsLoopback() && !ip.Sysctl.RouteLocalnet {
		return rt, -EINVAL
	}
	switch {
	case daddr.IsLbcast():
		typ = RtnBroadcast
	case daddr.IsMulticast():
		typ = RtnMulticast
	case daddr.IsZeronet():
		return rt, -EINVAL
	}
	if devOut.IsLoopback() {
		flags |= RtcfLocal
	}
	rt.Nexthop = daddr
	switch typ {
	case RtnBroadcast:
		flags |= RtcfBroadcast | RtcfLocal
	case RtnMulticast:
		flags |= RtcfMulticast | RtcfLocal
		if !ip.ipCheckMc(devOut.Ifindex, daddr, saddr, 0) {
			flags &^= RtcfLocal
		}
	default:
		if res != nil && res.gw != 0 {
			rt.Nexthop = res.gw
		}
	}
	if typ == RtnUnspec {
		typ = RtnUnicast
	}
	rt.Type, rt.Flags = typ, flags
	rt.Src, rt.Dst = saddr, daddr
	rt.Dev, rt.Oif, rt.Iif = devOut, devOut.Ifindex, origOif
	rt.MTU = devOut.MTU
	return rt, 0
}

// RouteInputLocal reports whether a packet to tip from sip would be
// delivered locally (ip_route_input_noref's RTN_LOCAL), for arp_process.
func (ip *IPv4) RouteInputLocal(tip, sip wire.Addr) bool {
	var b skb.Buffer
	b.Ifindex = ip.dev.Ifindex
	if ip.ipRouteInputNoref(&b, tip, sip, 0, 0) != 0 {
		return false
	}
	return b.Rt.Type == RtnLocal
}
