// Package udplite is kaidoku's UDP-Lite (RFC 3828) receive path,
// mirroring net/ipv4/udplite.c. Linux registers IPPROTO_UDPLITE, so a
// UDP-Lite datagram is delivered to a protocol (Ip.InDelivers) and
// accounted in the UdpLite MIB rather than answered with protocol
// unreachable. kaidoku has no UDP-Lite socket API: the udplite_table is
// always empty, so __udp4_lib_rcv's lookup never matches and a valid
// datagram ends as Linux's does for a closed port (UdpLite.NoPorts and
// ICMP port unreachable), or UdpLite.IgnoredMulti when sent to a
// broadcast or multicast address.
package udplite

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// ProtoUDPLite is IPPROTO_UDPLITE.
const ProtoUDPLite = 136

// checksumBreak is CHECKSUM_BREAK: datagrams up to this length are
// verified when the checksum is initialised.
const checksumBreak = 76

// UDPLite is the per-namespace UDP-Lite state: its MIB.
type UDPLite struct {
	ip  *ipv4.IPv4
	mib *mib.MIB
}

// New registers IPPROTO_UDPLITE with ip (udplite4_register).
func New(ip *ipv4.IPv4, m *mib.MIB) *UDPLite {
	u := &UDPLite{ip: ip, mib: m}
	ip.Register(ProtoUDPLite, &ipv4.Protocol{Handler: u.udpliteRcv, ErrHandler: u.udpliteErr})
	return u
}

// udpliteRcv is udplite_rcv → __udp4_lib_rcv(skb, &udplite_table,
// IPPROTO_UDPLITE); b.Data() is at the UDP-Lite header. It owns b and
// returns 0.
func (u *UDPLite) udpliteRcv(b *skb.Buffer) int {
	m := u.mib
	p := b.Data()
	if len(p) < wire.UDPHLen {
		m.UDPLiteInc(mib.UdpInErrors)
		m.KfreeSkbReason(b, mib.DropNotSpecified)
		return 0
	}
	uh := wire.UDP(p)
	// The length field is the checksum coverage, checked against the
	// datagram but not used to trim it (only UDP validates ulen).
	if uh.Len() > b.Len() {
		m.UDPLiteInc(mib.UdpInErrors)
		m.KfreeSkbReason(b, mib.DropPktTooSmall)
		return 0
	}
	h := wire.IPv4(b.NetworkHeader())
	cscov, ok := udp4CsumInit(b, uh, h.Src(), h.Dst())
	if !ok {
		return u.csumError(b)
	}
	if b.Rt.Flags&(ipv4.RtcfBroadcast|ipv4.RtcfMulticast) != 0 {
		// __udp4_lib_mcast_deliver finds no socket: kfree_skb.
		m.KfreeSkbReason(b, mib.DropNotSpecified)
		m.UDPLiteInc(mib.UdpIgnoredMulti)
		return 0
	}
	// __udp4_lib_lookup_skb in the empty udplite_table: no_sk. A
	// datagram with a bad checksum is dropped silently.
	if !udpLibChecksumComplete(b, cscov) {
		return u.csumError(b)
	}
	m.UDPLiteInc(mib.UdpNoPorts)
	u.ip.IcmpSend(b, wire.ICMPDestUnreach, wire.ICMPPortUnreach, 0)
	m.KfreeSkbReason(b, mib.DropNoSocket)
	return 0
}

// csumError is __udp4_lib_rcv's csum_error label.
func (u *UDPLite) csumError(b *skb.Buffer) int {
	u.mib.UDPLiteInc(mib.UdpInCsumErrors)
	u.mib.UDPLiteInc(mib.UdpInErrors)
	u.mib.KfreeSkbReason(b, mib.DropUDPCsum)
	return 0
}

// udp4CsumInit mirrors udp.c: udp4_csum_init for IPPROTO_UDPLITE: it
// returns the checksum coverage (UDP_SKB_CB(skb)->cscov) and false for a
// datagram to drop as a checksum error. udplite_checksum_init refuses a
// zero checksum (UDP-Lite mandates one) and a coverage below the header;
// coverage 0 means the whole datagram. A partial coverage keeps only the
// pseudo-header sum for the check at delivery; full coverage goes through
// skb_checksum_init_zero_check, verifying short datagrams now.
func udp4CsumInit(b *skb.Buffer, uh wire.UDP, saddr, daddr wire.Addr) (int, bool) {
	b.CsumValid = false
	cscov := b.Len()
	if uh.Check() == 0 {
		return cscov, false
	}
	if c := uh.Len(); c != 0 {
		if c < wire.UDPHLen || c > b.Len() {
			return cscov, false
		}
		if c < b.Len() {
			b.Csum = uint32(wire.Fold(wire.PseudoSum(saddr, daddr, ProtoUDPLite, b.Len())))
			return c, true
		}
	}
	if csumUnnecessary(b) {
		b.CsumValid = true
		return cscov, true
	}
	b.Csum = uint32(wire.Fold(wire.PseudoSum(saddr, daddr, ProtoUDPLite, b.Len())))
	if b.Len() <= checksumBreak {
		return cscov, checksumCompleteHead(b, cscov)
	}
	return cscov, true
}

// csumUnnecessary is skb_csum_unnecessary.
func csumUnnecessary(b *skb.Buffer) bool {
	return b.IPSummed == skb.ChecksumUnnecessary || b.IPSummed == skb.ChecksumPartial || b.CsumValid
}

// udpLibChecksumComplete is udp_lib_checksum_complete inverted: true
// when the covered bytes check out (or need no check).
func udpLibChecksumComplete(b *skb.Buffer, cscov int) bool {
	return csumUnnecessary(b) || checksumCompleteHead(b, cscov)
}

// checksumCompleteHead is __skb_checksum_complete(_head): the first n
// bytes of b.Data() against the pseudo-header sum in b.Csum.
func checksumCompleteHead(b *skb.Buffer, n int) bool {
	ok := wire.CsumFold(wire.Checksum(b.Data()[:n], uint64(b.Csum))) == 0
	b.CsumValid = ok
	return ok
}

// udpliteErr is udplite_err → __udp4_lib_err(skb, info, &udplite_table):
// the lookup of the quoted datagram's socket finds none, which counts
// Icmp.InErrors.
func (u *UDPLite) udpliteErr(b *skb.Buffer, info uint32) {
	u.mib.ICMPInc(mib.IcmpInErrors)
}
