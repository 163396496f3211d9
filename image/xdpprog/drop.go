package xdpprog

import (
	"encoding/binary"
	"net/netip"

	"github.com/kaidoku-net/kaidoku/xdp"
)

// prefix4 is an IPv4 prefix as a masked address and its mask.
type prefix4 struct{ addr, mask uint32 }

// DropSources returns a program that drops (XDP_DROP) every IPv4 frame
// whose source address lies in one of prefixes, before the stack has a
// buffer for it, and gives every other frame to next (XDP_PASS when next
// is nil). Drops are the device's xdp_drops. Prefixes that are not IPv4
// are ignored.
func DropSources(prefixes []netip.Prefix, next xdp.Program) xdp.Program {
	var ps []prefix4
	for _, p := range prefixes {
		if !p.Addr().Is4() {
			continue
		}
		p = p.Masked()
		a := p.Addr().As4()
		mask := uint32(0)
		if p.Bits() > 0 {
			mask = ^uint32(0) << (32 - p.Bits())
		}
		ps = append(ps, prefix4{binary.BigEndian.Uint32(a[:]), mask})
	}
	return func(b *xdp.Buff) xdp.Action {
		d := b.Data()
		if len(d) >= ethHlen+ipMinHdr && binary.BigEndian.Uint16(d[12:]) == ethPIP && d[ethHlen]>>4 == 4 {
			src := binary.BigEndian.Uint32(d[ethHlen+12:])
			for _, p := range ps {
				if src&p.mask == p.addr {
					return xdp.Drop
				}
			}
		}
		if next == nil {
			return xdp.Pass
		}
		return next(b)
	}
}

// RedirectUDP returns a program that redirects IPv4 UDP datagrams to
// port (first fragments and whole datagrams) to t, an AF_XDP socket, and
// passes every other frame to the stack: the program of an AF_XDP
// service that shares the device with the stack (ARP, other ports).
func RedirectUDP(port uint16, t xdp.Target) xdp.Program {
	return func(b *xdp.Buff) xdp.Action {
		if udpDstPort(b.Data()) != port {
			return xdp.Pass
		}
		return b.RedirectTo(t)
	}
}

// AbortUDP returns a program that answers IPv4 UDP datagrams to port
// with XDP_ABORTED, a program error the driver drops and counts
// (kaidoku.test.xdp_abort, for tests), and gives every other frame to
// next (XDP_PASS when nil).
func AbortUDP(port uint16, next xdp.Program) xdp.Program {
	return func(b *xdp.Buff) xdp.Action {
		if udpDstPort(b.Data()) == port {
			return xdp.Aborted
		}
		if next == nil {
			return xdp.Pass
		}
		return next(b)
	}
}

// udpDstPort returns the destination port of the IPv4 UDP datagram (a
// whole one or its first fragment) in frame d, or 0.
func udpDstPort(d []byte) uint16 {
	if len(d) < ethHlen+ipMinHdr || binary.BigEndian.Uint16(d[12:]) != ethPIP || d[ethHlen]>>4 != 4 {
		return 0
	}
	ip := d[ethHlen:]
	ihl := int(ip[0]&0xf) * 4
	if ip[9] != ipProtoUDP || ihl < ipMinHdr || len(ip) < ihl+4 || binary.BigEndian.Uint16(ip[6:])&ipOffsetMask != 0 {
		return 0
	}
	return binary.BigEndian.Uint16(ip[ihl+2:])
}
