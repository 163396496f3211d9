// Package xdpprog holds the XDP programs the images attach to their
// virtio-net device (see package xdp): the benchmark's reflector, which
// sends every frame back from the driver's poll, and a filter that drops
// a flood by source address before the stack sees it.
package xdpprog

import (
	"encoding/binary"

	"github.com/kaidoku-net/kaidoku/xdp"
)

// Ethernet and IPv4 geometry.
const (
	ethHlen      = 14
	ethPIP       = 0x0800
	ipProtoTCP   = 6
	ipProtoUDP   = 17
	ipMinHdr     = 20
	ipOffsetMask = 0x1fff
)

// Reflect returns every frame to its sender with XDP_TX, as an echo
// would answer it: Ethernet addresses swapped and, for IPv4, the source
// and destination addresses swapped, and for the first fragment of a
// UDP or TCP datagram the ports too. Swapping two 16-bit-aligned fields
// that the same checksum covers leaves its ones' complement sum
// unchanged (the incremental update of RFC 1624 adds zero), so the IPv4
// header checksum and the UDP or TCP checksum stay valid without being
// touched. Other frames (ARP, IPv6, runts of IPv4) go back with their
// Ethernet addresses swapped only.
func Reflect(b *xdp.Buff) xdp.Action {
	d := b.Data()
	if len(d) < ethHlen {
		return xdp.Aborted
	}
	var mac [6]byte
	copy(mac[:], d[0:6])
	copy(d[0:6], d[6:12])
	copy(d[6:12], mac[:])
	if binary.BigEndian.Uint16(d[12:]) != ethPIP {
		return xdp.TX
	}
	ip := d[ethHlen:]
	if len(ip) < ipMinHdr || ip[0]>>4 != 4 {
		return xdp.TX
	}
	ihl := int(ip[0]&0xf) * 4
	if ihl < ipMinHdr || len(ip) < ihl {
		return xdp.TX
	}
	swap(ip[12:16], ip[16:20])
	if binary.BigEndian.Uint16(ip[6:])&ipOffsetMask != 0 {
		return xdp.TX // a later fragment: no transport header
	}
	if p := ip[9]; (p == ipProtoUDP || p == ipProtoTCP) && len(ip) >= ihl+4 {
		swap(ip[ihl:ihl+2], ip[ihl+2:ihl+4])
	}
	return xdp.TX
}

func swap(a, b []byte) {
	for i := range a {
		a[i], b[i] = b[i], a[i]
	}
}
