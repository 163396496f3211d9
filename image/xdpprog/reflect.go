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
// would answer it (see Reverse).
func Reflect(b *xdp.Buff) xdp.Action {
	if !Reverse(b.Data()) {
		return xdp.Aborted
	}
	return xdp.TX
}

// Reverse turns a frame into its answer in place: Ethernet addresses
// swapped and, for IPv4, the source and destination addresses swapped,
// and for the first fragment of a UDP or TCP datagram the ports too.
// Swapping two 16-bit-aligned fields that the same checksum covers
// leaves its ones' complement sum unchanged (the incremental update of
// RFC 1624 adds zero), so the IPv4 header checksum and the UDP or TCP
// checksum stay valid without being touched. Other frames (ARP, IPv6,
// runts of IPv4) get their Ethernet addresses swapped only. It reports
// false, changing nothing, for a frame shorter than an Ethernet header.
func Reverse(d []byte) bool {
	if len(d) < ethHlen {
		return false
	}
	swap(d[0:6], d[6:12])
	if binary.BigEndian.Uint16(d[12:]) != ethPIP {
		return true
	}
	ip := d[ethHlen:]
	if len(ip) < ipMinHdr || ip[0]>>4 != 4 {
		return true
	}
	ihl := int(ip[0]&0xf) * 4
	if ihl < ipMinHdr || len(ip) < ihl {
		return true
	}
	swap(ip[12:16], ip[16:20])
	if binary.BigEndian.Uint16(ip[6:])&ipOffsetMask != 0 {
		return true // a later fragment: no transport header
	}
	if p := ip[9]; (p == ipProtoUDP || p == ipProtoTCP) && len(ip) >= ihl+4 {
		swap(ip[ihl:ihl+2], ip[ihl+2:ihl+4])
	}
	return true
}

func swap(a, b []byte) {
	for i := range a {
		a[i], b[i] = b[i], a[i]
	}
}
