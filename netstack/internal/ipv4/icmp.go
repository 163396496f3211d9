package ipv4

import (
	"encoding/binary"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// ipprotoRaw is IPPROTO_RAW.
const ipprotoRaw = 255

// icmpGlobal is icmp.c's global token bucket (struct icmp_global).
type icmpGlobal struct {
	credit uint32
	stamp  uint32
}

// icmpIsError is icmp_pointers[type].error.
func icmpIsError(t uint8) bool {
	switch t {
	case 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12:
		return true
	}
	return false
}

// icmpGlobalAllow mirrors icmp.c: icmp_global_allow: refill at most every
// HZ/50 jiffies at icmp_msgs_per_sec, cap at icmp_msgs_burst, consume a
// random 0, 1 or 2 credits. Called with the BH lock held.
func (ip *IPv4) icmpGlobalAllow() bool {
	g := &ip.icmpG
	now := ip.clk.Jiffies()
	const hz = 1000
	if g.credit == 0 {
		if min(now-g.stamp, hz) < hz/50 {
			return false
		}
	}
	delta := min(now-g.stamp, hz)
	incr := uint32(0)
	if delta >= hz/50 {
		incr = ip.Sysctl.IcmpMsgsPerSec * delta / hz
		if incr != 0 {
			g.stamp = now
		}
	}
	credit := min(g.credit+incr, ip.Sysctl.IcmpMsgsBurst)
	ok := false
	if credit != 0 {
		c := int64(credit) - int64(ip.randBelow(3))
		if c < 0 {
			c = 0
		}
		credit = uint32(c)
		ok = true
	}
	g.credit = credit
	return ok
}

// icmpv4MaskAllow mirrors icmp.c: icmpv4_mask_allow: true means "not
// rate limited".
func (ip *IPv4) icmpv4MaskAllow(typ, code uint8) bool {
	if typ > wire.NRICMPTypes {
		return true
	}
	if typ == wire.ICMPDestUnreach && code == wire.ICMPFragNeeded {
		return true
	}
	return ip.Sysctl.IcmpRatemask&(1<<typ) == 0
}

// icmpv4GlobalAllow mirrors icmp.c: icmpv4_global_allow.
func (ip *IPv4) icmpv4GlobalAllow(typ, code uint8) bool {
	if ip.icmpv4MaskAllow(typ, code) {
		return true
	}
	if ip.icmpGlobalAllow() {
		return true
	}
	ip.mib.ICMPInc(mib.IcmpOutRateLimitGlobal)
	return false
}

// icmpv4XrlimAllow mirrors icmp.c: icmpv4_xrlim_allow: the
// per-destination inet_peer bucket, exempt for unmasked types and
// loopback output.
func (ip *IPv4) icmpv4XrlimAllow(rt *OutRoute, daddr wire.Addr, typ, code uint8) bool {
	ok := true
	if !ip.icmpv4MaskAllow(typ, code) && rt.Oif != ether.LoopbackIfindex {
		p := ip.inetGetpeer(daddr)
		ok = inetPeerXrlimAllow(p, ip.Sysctl.IcmpRatelimit, ip.clk.Jiffies())
		ip.inetPutpeer(p)
	}
	if !ok {
		ip.mib.ICMPInc(mib.IcmpOutRateLimitHost)
	}
	return ok
}

// icmpRcv is the IPPROTO_ICMP handler (icmp.c: icmp_rcv); b.Data() is at
// the ICMP header. It always returns 0.
func (ip *IPv4) icmpRcv(b *skb.Buffer) int {
	m := ip.mib
	m.ICMPInc(mib.IcmpInMsgs)
	if b.IPSummed != skb.ChecksumUnnecessary && !b.CsumValid {
		if wire.CsumFold(wire.Checksum(b.Data(), 0)) != 0 {
			m.ICMPInc(mib.IcmpInCsumErrors)
			m.ICMPInc(mib.IcmpInErrors)
			m.KfreeSkbReason(b, mib.DropICMPCsum)
			return 0
		}
		b.CsumValid = true
	}
	if b.Len() < wire.ICMPHLen {
		m.ICMPInc(mib.IcmpInErrors)
		m.KfreeSkbReason(b, mib.DropNotSpecified)
		return 0
	}
	hdr := wire.ICMP(b.Data())
	typ := hdr.Type()
	m.ICMPMsgInInc(typ)
	b.Pull(wire.ICMPHLen)
	switch typ {
	case wire.ICMPExtEcho:
		// icmp_build_probe refuses: icmp_echo_enable_probe is 0.
		m.ConsumeSkb(b)
		return 0
	case wire.ICMPExtEchoReply, wire.ICMPEchoReply:
		// ping_rcv: there are no ping sockets.
		m.KfreeSkbReason(b, mib.DropNoSocket)
		return 0
	}
	if typ > wire.NRICMPTypes {
		m.ICMPInc(mib.IcmpInErrors)
		m.KfreeSkbReason(b, mib.DropUnhandledProto)
		return 0
	}
	if b.Rt.Flags&(RtcfBroadcast|RtcfMulticast) != 0 {
		if (typ == wire.ICMPEcho || typ == wire.ICMPTimestamp) && ip.Sysctl.IcmpEchoIgnoreBroadcasts {
			m.ICMPInc(mib.IcmpInErrors)
			m.KfreeSkbReason(b, mib.DropInvalidProto)
			return 0
		}
		if typ != wire.ICMPEcho && typ != wire.ICMPTimestamp && typ != wire.ICMPAddress && typ != wire.ICMPAddressReply {
			m.ICMPInc(mib.IcmpInErrors)
			m.KfreeSkbReason(b, mib.DropInvalidProto)
			return 0
		}
	}
	var reason mib.DropReason
	dropped := false
	switch typ {
	case wire.ICMPDestUnreach, wire.ICMPSourceQuench, wire.ICMPTimeExceeded, wire.ICMPParameterProb:
		reason, dropped = ip.icmpUnreach(b)
	case wire.ICMPRedirect:
		reason, dropped = ip.icmpRedirect(b)
	case wire.ICMPEcho:
		ip.icmpEcho(b)
	case wire.ICMPTimestamp:
		reason, dropped = ip.icmpTimestamp(b)
	}
	if dropped {
		m.KfreeSkbReason(b, reason)
	} else {
		m.ConsumeSkb(b)
	}
	return 0
}

// icmpUnreach mirrors icmp.c: icmp_unreach for types 3, 4, 11 and 12;
// b.Data() is past the ICMP header, at the quoted IP header.
func (ip *IPv4) icmpUnreach(b *skb.Buffer) (mib.DropReason, bool) {
	m := ip.mib
	p := b.Data()
	if len(p) < wire.IPv4MinHLen {
		m.ICMPInc(mib.IcmpInErrors)
		return mib.DropNotSpecified, true
	}
	ih := wire.IPv4(p)
	if ih.IHL() < 5 {
		m.ICMPInc(mib.IcmpInErrors)
		return mib.DropIPInhdr, true
	}
	icmph := wire.ICMP(b.TransportHeader())
	info := uint32(0)
	switch icmph.Type() {
	case wire.ICMPDestUnreach:
		if icmph.Code()&15 == wire.ICMPFragNeeded {
			info = uint32(binary.BigEndian.Uint16(icmph[6:8]))
		}
		if icmph.Code() > wire.NRICMPUnreach {
			return 0, false
		}
	case wire.ICMPParameterProb:
		info = icmph.Rest() >> 24
	case wire.ICMPTimeExceeded:
		if icmph.Code() == wire.ICMPExcFragtime {
			return 0, false
		}
	}
	if !ip.Sysctl.IcmpIgnoreBogusErrorResponses && ip.InetAddrType(ih.Dst()) == RtnBroadcast {
		return 0, false
	}
	ip.icmpSocketDeliver(b, info)
	return 0, false
}

// icmpRedirect mirrors icmp.c: icmp_redirect: a redirect must quote at
// least an IP header; the quoted protocol's error handler sees it with
// the gateway as info (routes are not cached per destination here, so
// there is no ipv4_redirect to update).
func (ip *IPv4) icmpRedirect(b *skb.Buffer) (mib.DropReason, bool) {
	if b.Len() < wire.IPv4MinHLen {
		ip.mib.ICMPInc(mib.IcmpInErrors)
		return mib.DropPktTooSmall, true
	}
	ip.icmpSocketDeliver(b, wire.ICMP(b.TransportHeader()).Rest())
	return 0, false
}

// icmpSocketDeliver mirrors icmp.c: icmp_socket_deliver: the quoted
// header and 8 bytes of its payload must be present, and IPPROTO_RAW
// receives nothing. There are no raw sockets, so raw_icmp_error has no
// one to tell.
func (ip *IPv4) icmpSocketDeliver(b *skb.Buffer, info uint32) bool {
	ih := wire.IPv4(b.Data())
	if b.Len() < ih.HeaderLen()+8 || ih.Protocol() == ipprotoRaw {
		ip.mib.ICMPInc(mib.IcmpInErrors)
		return false
	}
	if p := ip.protos[ih.Protocol()]; p != nil && p.ErrHandler != nil {
		p.ErrHandler(b, info)
	}
	return true
}

// icmpEcho mirrors icmp.c: icmp_echo: reply with the same code, id,
// sequence and data.
func (ip *IPv4) icmpEcho(b *skb.Buffer) {
	if ip.Sysctl.IcmpEchoIgnoreAll {
		return
	}
	var hdr [wire.ICMPHLen]byte
	copy(hdr[:], b.TransportHeader()[:wire.ICMPHLen])
	hdr[0] = wire.ICMPEchoReply
	ip.icmpReply(b, hdr[:], b.Data())
}

// icmpTimestamp mirrors icmp.c: icmp_timestamp.
func (ip *IPv4) icmpTimestamp(b *skb.Buffer) (mib.DropReason, bool) {
	if b.Len() < 4 {
		ip.mib.ICMPInc(mib.IcmpInErrors)
		return mib.DropPktTooSmall, true
	}
	var hdr [wire.ICMPHLen + 12]byte
	copy(hdr[:wire.ICMPHLen], b.TransportHeader()[:wire.ICMPHLen])
	hdr[0] = wire.ICMPTimestampReply
	hdr[1] = 0
	copy(hdr[8:12], b.Data()[:4])
	t := ip.inetCurrentTimestamp()
	binary.BigEndian.PutUint32(hdr[12:], t)
	binary.BigEndian.PutUint32(hdr[16:], t)
	ip.icmpReply(b, hdr[:], nil)
	return 0, false
}

// icmpReply mirrors icmp.c: icmp_reply: answer with the request's
// options echoed (to the first hop of a reversed source route).
func (ip *IPv4) icmpReply(b *skb.Buffer, hdr, data []byte) {
	typ, code := hdr[0], hdr[1]
	h := wire.IPv4(b.NetworkHeader())
	var opts ipOptionsData
	if !ip.ipOptionsEcho(&opts, h, &b.CB.Opt) {
		return
	}
	if !ip.icmpv4GlobalAllow(typ, code) {
		return
	}
	daddr := h.Src()
	opts.addr = daddr
	if opts.opt.SRR != 0 {
		daddr = opts.faddr
	}
	saddr := ip.fibComputeSpecDst(b)
	rt, err := ip.RouteOutput(daddr, saddr, 0)
	if err != 0 {
		return
	}
	if !ip.icmpv4XrlimAllow(&rt, daddr, typ, code) {
		return
	}
	ip.icmpPushReply(&rt, daddr, h.TOS(), hdr, data, &opts)
}

// icmpPushReply builds and sends the ICMP message (icmp_push_reply via
// ip_append_data and ip_push_pending_frames) with the IP options opts.
// The ICMP socket uses IP_PMTUDISC_DONT: no DF.
func (ip *IPv4) icmpPushReply(rt *OutRoute, daddr wire.Addr, tos uint8, hdr, data []byte, opts *ipOptionsData) {
	hdr[2], hdr[3] = 0, 0
	c := wire.CsumFold(wire.Checksum(data, wire.Checksum(hdr, 0)))
	binary.BigEndian.PutUint16(hdr[2:], c)
	src := rt.Src
	if src == 0 {
		src = wire.AddrOf(192, 0, 0, 8) // INADDR_DUMMY
	}
	d := Datagram{Src: src, Dst: daddr, Proto: wire.ProtoICMP, TOS: tos, TTL: ip.Sysctl.DefaultTTL,
		PMTUDisc: PMTUDiscDont, ICMPType: hdr[0], IsICMP: true, opt: opts}
	if err := ip.Output(rt, &d, hdr, data); err == -ENOBUFS {
		ip.mib.ICMPInc(mib.IcmpOutErrors)
	}
}

// IcmpSend sends an ICMP error about b (icmp.c: __icmp_send) after every
// suppression rule, in v6.8's order: no route, no room for the header,
// not PACKET_HOST, broadcast/multicast route, non-first fragment, an
// error about an ICMP error, the global limit, then the per-destination
// limit. The reply carries b's options as __ip_options_echo builds them
// (b.CB.Opt as ip_options_compile left it) and goes to the first hop of a
// reversed source route; the quote starts at b's IP header and fills the
// message up to 576 bytes. b is not consumed.
func (ip *IPv4) IcmpSend(b *skb.Buffer, typ, code uint8, info uint32) {
	if !b.Rt.Valid {
		return
	}
	nh := b.NetworkHeader()
	if len(nh) < wire.IPv4MinHLen {
		return
	}
	if b.PktType != skb.PacketHost {
		return
	}
	if b.Rt.Flags&(RtcfBroadcast|RtcfMulticast) != 0 {
		return
	}
	h := wire.IPv4(nh)
	if h.FragOff()&wire.IPOffset != 0 {
		return
	}
	if icmpIsError(typ) && h.Protocol() == wire.ProtoICMP {
		ihl := h.HeaderLen()
		if ihl >= len(nh) {
			return
		}
		if it := nh[ihl]; it > wire.NRICMPTypes || icmpIsError(it) {
			return
		}
	}
	if b.Ifindex != ether.LoopbackIfindex && !ip.icmpv4GlobalAllow(typ, code) {
		return
	}
	saddr := wire.Addr(0)
	if b.Rt.Flags&RtcfLocal != 0 {
		saddr = h.Dst()
	} else if ip.Sysctl.IcmpErrorsUseInboundIfaddr {
		saddr = ip.addr
	}
	tos := h.TOS()
	if icmpIsError(typ) {
		tos = h.TOS()&wire.IPTOSMask | 0xc0
	}
	var opts ipOptionsData
	if !ip.ipOptionsEcho(&opts, nh, &b.CB.Opt) {
		return
	}
	opts.addr = h.Src()
	daddr := h.Src()
	if opts.opt.SRR != 0 {
		daddr = opts.faddr
	}
	rt, err := ip.RouteOutput(daddr, saddr, 0)
	if err != 0 {
		return
	}
	if !ip.icmpv4XrlimAllow(&rt, daddr, typ, code) {
		return
	}
	room := min(rt.MTU, 576) - wire.IPv4MinHLen - int(opts.opt.Optlen) - wire.ICMPHLen
	if room <= wire.IPv4MinHLen {
		return
	}
	quote := nh
	if len(quote) > room {
		quote = quote[:room]
	}
	var hdr [wire.ICMPHLen]byte
	hdr[0], hdr[1] = typ, code
	binary.BigEndian.PutUint32(hdr[4:], info)
	ip.icmpPushReply(&rt, daddr, tos, hdr[:], quote, &opts)
}
