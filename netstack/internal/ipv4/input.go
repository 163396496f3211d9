package ipv4

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Rcv is the ETH_P_IP handler (ip_input.c: ip_rcv). It owns b.
func (ip *IPv4) Rcv(b *skb.Buffer) {
	if !ip.ipRcvCore(b) {
		return
	}
	ip.ipRcvFinish(b)
}

// ipRcvCore mirrors ip_input.c: ip_rcv_core: the header checks in Linux's
// order, each with its counter. It frees b and returns false on a drop.
func (ip *IPv4) ipRcvCore(b *skb.Buffer) bool {
	m := ip.mib
	if b.PktType == skb.PacketOtherHost {
		ip.dev.Stats.RxOtherhostDropped.Add(1)
		m.KfreeSkbReason(b, mib.DropOtherhost)
		return false
	}
	m.IPInc(mib.IpInReceives)
	m.IPAdd(mib.IpExtInOctets, uint64(b.Len()))
	// skb_share_check: taps take no reference here, never shared.
	p := b.Data()
	if len(p) < wire.IPv4MinHLen {
		return ip.inhdrError(b, mib.DropIPInhdr)
	}
	h := wire.IPv4(p)
	if h.IHL() < 5 || h.Version() != 4 {
		return ip.inhdrError(b, mib.DropIPInhdr)
	}
	m.IPInc(mib.IpExtInNoECTPkts + int(h.TOS()&wire.ECNMask))
	hl := h.HeaderLen()
	if len(p) < hl {
		return ip.inhdrError(b, mib.DropIPInhdr)
	}
	if wire.IPHeaderChecksum(p[:hl]) != 0 {
		m.IPInc(mib.IpExtInCsumErrors)
		return ip.inhdrError(b, mib.DropIPCsum)
	}
	tot := h.TotLen()
	if len(p) < tot {
		m.IPInc(mib.IpExtInTruncatedPkts)
		m.KfreeSkbReason(b, mib.DropPktTooSmall)
		return false
	} else if tot < hl {
		return ip.inhdrError(b, mib.DropIPInhdr)
	}
	// pskb_trim_rcsum: Ethernet padding goes. No CHECKSUM_COMPLETE here.
	b.Trim(tot)
	b.Transport = b.Network + hl
	b.CB = skb.ControlBlock{Iif: b.Ifindex}
	b.Sk = nil
	return true
}

func (ip *IPv4) inhdrError(b *skb.Buffer, r mib.DropReason) bool {
	ip.mib.IPInc(mib.IpInHdrErrors)
	ip.mib.KfreeSkbReason(b, r)
	return false
}

// ipRcvFinish mirrors ip_input.c: ip_rcv_finish → ip_rcv_finish_core
// (early demux, input route, options, broadcast/multicast accounting)
// → dst_input.
func (ip *IPv4) ipRcvFinish(b *skb.Buffer) {
	m := ip.mib
	h := wire.IPv4(b.Data())
	proto := h.Protocol()
	if ip.Sysctl.IPEarlyDemux && !b.Rt.Valid && b.Sk == nil && !h.IsFragment() &&
		proto == wire.ProtoUDP && ip.Sysctl.UDPEarlyDemux {
		if p := ip.protos[proto]; p != nil && p.EarlyDemux != nil {
			if err := p.EarlyDemux(b); err != 0 {
				ip.dropError(b, err)
				return
			}
		}
	}
	if !b.Rt.Valid {
		if err := ip.ipRouteInputNoref(b, h.Dst(), h.Src(), h.TOS()&wire.IPTOSRTMask, proto); err != 0 {
			ip.dropError(b, err)
			return
		}
	}
	if h.IHL() > 5 && ip.ipRcvOptions(b) {
		m.KfreeSkbReason(b, mib.DropNotSpecified)
		return
	}
	switch b.Rt.Type {
	case RtnMulticast:
		m.IPInc(mib.IpExtInMcastPkts)
		m.IPAdd(mib.IpExtInMcastOctets, uint64(b.Len()))
	case RtnBroadcast:
		m.IPInc(mib.IpExtInBcastPkts)
		m.IPAdd(mib.IpExtInBcastOctets, uint64(b.Len()))
	default:
		if (b.PktType == skb.PacketBroadcast || b.PktType == skb.PacketMulticast) && ip.Sysctl.DropUnicastInL2Multicast {
			m.KfreeSkbReason(b, mib.DropUnicastInL2Multicast)
			return
		}
	}
	if b.Rt.Type == RtnUnreachable {
		ip.ipError(b)
		return
	}
	if b.Rt.Flags&RtcfLocal == 0 {
		// A looped-back multicast whose output route was not local
		// (group not joined on the device): dst_discard.
		m.KfreeSkbReason(b, mib.DropNotSpecified)
		return
	}
	ip.ipLocalDeliver(b)
}

func (ip *IPv4) dropError(b *skb.Buffer, err int) {
	if err == -EXDEV {
		ip.mib.IPReversePathFilter.Add(1)
		ip.mib.KfreeSkbReason(b, mib.DropIPRPFilter)
		return
	}
	ip.mib.KfreeSkbReason(b, mib.DropNotSpecified)
}

// ipError mirrors route.c: ip_error on a host: count and drop, no ICMP.
func (ip *IPv4) ipError(b *skb.Buffer) {
	switch b.Rt.Err {
	case EHOSTUNREACH:
		ip.mib.IPInc(mib.IpInAddrErrors)
		ip.mib.KfreeSkbReason(b, mib.DropIPInAddrErrors)
	case ENETUNREACH:
		ip.mib.IPInc(mib.IpExtInNoRoutes)
		ip.mib.KfreeSkbReason(b, mib.DropIPInNoRoutes)
	default:
		ip.mib.KfreeSkbReason(b, mib.DropNotSpecified)
	}
}

// ipLocalDeliver mirrors ip_input.c: ip_local_deliver: reassemble, then
// ip_local_deliver_finish.
func (ip *IPv4) ipLocalDeliver(b *skb.Buffer) {
	if wire.IPv4(b.Data()).IsFragment() {
		b = ip.ipDefrag(b)
		if b == nil {
			return
		}
	}
	ip.ipLocalDeliverFinish(b)
}

// ipLocalDeliverFinish pulls the IP header and dispatches
// (ip_local_deliver_finish → ip_protocol_deliver_rcu).
func (ip *IPv4) ipLocalDeliverFinish(b *skb.Buffer) {
	h := wire.IPv4(b.Data())
	proto := h.Protocol()
	b.Pull(h.HeaderLen())
	ip.ipProtocolDeliverRcu(b, proto)
}

// ipProtocolDeliverRcu mirrors ip_input.c: ip_protocol_deliver_rcu.
func (ip *IPv4) ipProtocolDeliverRcu(b *skb.Buffer, proto uint8) {
	m := ip.mib
	for {
		// raw_local_deliver finds no raw socket: kaidoku has none.
		if p := ip.protos[proto]; p != nil && p.Handler != nil {
			ret := p.Handler(b)
			if ret < 0 {
				proto = uint8(-ret)
				continue
			}
			m.IPInc(mib.IpInDelivers)
			return
		}
		m.IPInc(mib.IpInUnknownProtos)
		ip.IcmpSend(b, wire.ICMPDestUnreach, wire.ICMPProtUnreach, 0)
		m.KfreeSkbReason(b, mib.DropIPNoproto)
		return
	}
}
