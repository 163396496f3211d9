// Package wire holds kaidoku's wire formats: the IPv4 address and MAC
// types, the Internet checksum (include/net/checksum.h, lib/checksum.c,
// arch/x86/lib/csum-partial_64.c) and byte-slice views of the Ethernet,
// 802.1Q, ARP, IPv4, UDP and ICMP headers (include/uapi/linux/if_ether.h,
// if_arp.h, ip.h, udp.h, icmp.h).
//
// Views are plain []byte with accessor methods: they never copy or
// allocate, and they never validate; the protocol code decides what is
// valid, in Linux's order, and counts what is not. Every accessor assumes
// the slice holds the fixed part of its header, so callers check the
// length first (the pskb_may_pull of Linux).
package wire

import (
	"encoding/binary"
	"math/bits"
	"strconv"
)

// Addr is an IPv4 address as a host-order integer: 10.0.0.5 is 0x0a000005.
// Linux keeps __be32; the hashes that need the kernel's view of the bytes
// use Raw32.
type Addr uint32

// AddrFrom4 builds an Addr from its four network-order bytes.
func AddrFrom4(b [4]byte) Addr { return Addr(binary.BigEndian.Uint32(b[:])) }

// AddrFromSlice reads an Addr from the first four bytes of b.
func AddrFromSlice(b []byte) Addr { return Addr(binary.BigEndian.Uint32(b)) }

// AddrOf builds an Addr from dotted-quad parts.
func AddrOf(a, b, c, d byte) Addr {
	return Addr(uint32(a)<<24 | uint32(b)<<16 | uint32(c)<<8 | uint32(d))
}

// As4 returns the network-order bytes.
func (a Addr) As4() [4]byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(a))
	return b
}

// Put writes the address in network order into b[0:4].
func (a Addr) Put(b []byte) { binary.BigEndian.PutUint32(b, uint32(a)) }

// Raw32 is the __be32 as an x86 (little-endian) CPU loads it: the value
// the kernel feeds to jhash and prints in /proc/net/udp.
func (a Addr) Raw32() uint32 { return bits.ReverseBytes32(uint32(a)) }

// IsMulticast reports 224.0.0.0/4 (ipv4_is_multicast).
func (a Addr) IsMulticast() bool { return a&0xf0000000 == 0xe0000000 }

// IsLbcast reports 255.255.255.255 (ipv4_is_lbcast).
func (a Addr) IsLbcast() bool { return a == 0xffffffff }

// IsZeronet reports 0.0.0.0 (ipv4_is_zeronet: since Linux 5.3 the rest
// of 0.0.0.0/8 is ordinary unicast, not martian).
func (a Addr) IsZeronet() bool { return a == 0 }

// IsLoopback reports 127.0.0.0/8 (ipv4_is_loopback).
func (a Addr) IsLoopback() bool { return a&0xff000000 == 0x7f000000 }

// IsLocalMulticast reports 224.0.0.0/24 (ipv4_is_local_multicast).
func (a Addr) IsLocalMulticast() bool { return a&0xffffff00 == 0xe0000000 }

// String formats the address as a dotted quad.
func (a Addr) String() string {
	var b [15]byte
	n := 0
	for i := 3; i >= 0; i-- {
		v := byte(a >> (8 * i))
		n += len(strconv.AppendUint(b[n:n], uint64(v), 10))
		if i > 0 {
			b[n] = '.'
			n++
		}
	}
	return string(b[:n])
}

// MAC is an Ethernet address.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsMulticast reports the I/G bit (is_multicast_ether_addr).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsBroadcast reports ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == BroadcastMAC }

// IsZero reports 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// String formats the address as colon-separated hex.
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i, v := range m {
		b[i*3] = hex[v>>4]
		b[i*3+1] = hex[v&15]
		if i < 5 {
			b[i*3+2] = ':'
		}
	}
	return string(b[:])
}

// MulticastMAC maps an IPv4 group to its Ethernet address (ip_eth_mc_map).
func MulticastMAC(group Addr) MAC {
	return MAC{0x01, 0x00, 0x5e, byte(group>>16) & 0x7f, byte(group >> 8), byte(group)}
}

// EtherTypes (include/uapi/linux/if_ether.h).
const (
	EthPIP     = 0x0800
	EthPARP    = 0x0806
	EthP8021Q  = 0x8100
	EthP8021AD = 0x88a8
	EthP8023   = 0x0001
	EthP8022   = 0x0004
	EthPMin    = 0x0600 // ETH_P_802_3_MIN
	EthHLen    = 14
	VlanHLen   = 4
)

// IP protocol numbers.
const (
	ProtoICMP = 1
	ProtoIGMP = 2
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// Eth is a view of an Ethernet header (struct ethhdr), at least 14 bytes.
type Eth []byte

// Dst returns the destination address.
func (e Eth) Dst() MAC { return MAC(e[0:6]) }

// Src returns the source address.
func (e Eth) Src() MAC { return MAC(e[6:12]) }

// Type returns the EtherType/length field.
func (e Eth) Type() uint16 { return binary.BigEndian.Uint16(e[12:14]) }

// PutEth writes an Ethernet header into b[0:14].
func PutEth(b []byte, dst, src MAC, typ uint16) {
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], typ)
}
