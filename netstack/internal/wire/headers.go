package wire

import "encoding/binary"

// IPv4 header constants (include/net/ip.h, include/uapi/linux/ip.h).
const (
	IPv4MinHLen = 20
	IPFlagCE    = 0x8000 // IP_CE, the "evil" reserved bit
	IPFlagDF    = 0x4000
	IPFlagMF    = 0x2000
	IPOffset    = 0x1fff
	IPTOSMask   = 0x1e // IPTOS_TOS_MASK (RT_TOS)
	IPTOSRTMask = 0x1c // IPTOS_RT_MASK
	ECNMask     = 3
	ECNNotECT   = 0
	ECNECT1     = 1
	ECNECT0     = 2
	ECNCE       = 3
	IPMaxLen    = 65535
)

// IPv4 is a view of an IPv4 header (struct iphdr), at least 20 bytes.
type IPv4 []byte

// Version returns the version nibble.
func (h IPv4) Version() int { return int(h[0] >> 4) }

// IHL returns the header length in 32-bit words.
func (h IPv4) IHL() int { return int(h[0] & 15) }

// HeaderLen returns the header length in bytes.
func (h IPv4) HeaderLen() int { return int(h[0]&15) * 4 }

// TOS returns the type-of-service byte.
func (h IPv4) TOS() uint8 { return h[1] }

// TotLen returns tot_len.
func (h IPv4) TotLen() int { return int(binary.BigEndian.Uint16(h[2:4])) }

// ID returns the identification field.
func (h IPv4) ID() uint16 { return binary.BigEndian.Uint16(h[4:6]) }

// FragOff returns the flags and fragment offset field.
func (h IPv4) FragOff() uint16 { return binary.BigEndian.Uint16(h[6:8]) }

// IsFragment reports MF or a non-zero offset (ip_is_fragment).
func (h IPv4) IsFragment() bool { return h.FragOff()&(IPFlagMF|IPOffset) != 0 }

// TTL returns the time to live.
func (h IPv4) TTL() uint8 { return h[8] }

// Protocol returns the protocol number.
func (h IPv4) Protocol() uint8 { return h[9] }

// Src returns the source address.
func (h IPv4) Src() Addr { return AddrFromSlice(h[12:16]) }

// Dst returns the destination address.
func (h IPv4) Dst() Addr { return AddrFromSlice(h[16:20]) }

// SetTotLen stores tot_len.
func (h IPv4) SetTotLen(n int) { binary.BigEndian.PutUint16(h[2:4], uint16(n)) }

// SetFragOff stores the flags and offset field.
func (h IPv4) SetFragOff(v uint16) { binary.BigEndian.PutUint16(h[6:8], v) }

// SetChecksum recomputes the header checksum over HeaderLen bytes.
func (h IPv4) SetChecksum() {
	h[10], h[11] = 0, 0
	c := IPHeaderChecksum(h[:h.HeaderLen()])
	binary.BigEndian.PutUint16(h[10:12], c)
}

// PutIPv4 writes a 20-byte header with no options and a valid checksum.
func PutIPv4(b []byte, tos uint8, totLen int, id uint16, fragOff uint16, ttl, proto uint8, src, dst Addr) {
	b[0] = 0x45
	b[1] = tos
	binary.BigEndian.PutUint16(b[2:], uint16(totLen))
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], fragOff)
	b[8] = ttl
	b[9] = proto
	b[10], b[11] = 0, 0
	src.Put(b[12:])
	dst.Put(b[16:])
	binary.BigEndian.PutUint16(b[10:], IPHeaderChecksum(b[:20]))
}

// UDPHLen is sizeof(struct udphdr).
const UDPHLen = 8

// UDP is a view of a UDP header (struct udphdr), at least 8 bytes.
type UDP []byte

// SrcPort returns the source port.
func (u UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(u[0:2]) }

// DstPort returns the destination port.
func (u UDP) DstPort() uint16 { return binary.BigEndian.Uint16(u[2:4]) }

// Len returns the length field.
func (u UDP) Len() int { return int(binary.BigEndian.Uint16(u[4:6])) }

// Check returns the checksum field.
func (u UDP) Check() uint16 { return binary.BigEndian.Uint16(u[6:8]) }

// PutUDP writes a UDP header with a zero checksum.
func PutUDP(b []byte, sport, dport uint16, length int) {
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(length))
	b[6], b[7] = 0, 0
}

// UDPChecksum computes the checksum to store in the UDP datagram u (whose
// checksum field must be zero); a computed 0 is sent as 0xffff
// (CSUM_MANGLED_0).
func UDPChecksum(u []byte, src, dst Addr) uint16 {
	c := CsumFold(Checksum(u, PseudoSum(src, dst, ProtoUDP, len(u))))
	if c == 0 {
		c = 0xffff
	}
	return c
}

// ICMP types and codes (include/uapi/linux/icmp.h).
const (
	ICMPEchoReply      = 0
	ICMPDestUnreach    = 3
	ICMPSourceQuench   = 4
	ICMPRedirect       = 5
	ICMPEcho           = 8
	ICMPTimeExceeded   = 11
	ICMPParameterProb  = 12
	ICMPTimestamp      = 13
	ICMPTimestampReply = 14
	ICMPInfoRequest    = 15
	ICMPInfoReply      = 16
	ICMPAddress        = 17
	ICMPAddressReply   = 18
	NRICMPTypes        = 18
	ICMPExtEcho        = 42
	ICMPExtEchoReply   = 43

	ICMPNetUnreach  = 0
	ICMPHostUnreach = 1
	ICMPProtUnreach = 2
	ICMPPortUnreach = 3
	ICMPFragNeeded  = 4
	ICMPSRFailed    = 5
	NRICMPUnreach   = 15
	ICMPExcTTL      = 0
	ICMPExcFragtime = 1

	ICMPHLen = 8
)

// ICMP is a view of an ICMP header (struct icmphdr), at least 8 bytes.
type ICMP []byte

// Type returns the message type.
func (c ICMP) Type() uint8 { return c[0] }

// Code returns the message code.
func (c ICMP) Code() uint8 { return c[1] }

// Rest returns the second 32-bit word (un.gateway / id+sequence).
func (c ICMP) Rest() uint32 { return binary.BigEndian.Uint32(c[4:8]) }

// ARP constants (include/uapi/linux/if_arp.h).
const (
	ARPHrdEther     = 1
	ARPHrdIEEE802   = 6
	ARPOpRequest    = 1
	ARPOpReply      = 2
	ARPEtherIPv4Len = 28
)

// ARP is a view of an Ethernet/IPv4 ARP packet (struct arphdr plus its
// addresses), at least 8 bytes; the address accessors need 28.
type ARP []byte

// HType returns ar_hrd.
func (a ARP) HType() uint16 { return binary.BigEndian.Uint16(a[0:2]) }

// PType returns ar_pro.
func (a ARP) PType() uint16 { return binary.BigEndian.Uint16(a[2:4]) }

// HLen returns ar_hln.
func (a ARP) HLen() uint8 { return a[4] }

// PLen returns ar_pln.
func (a ARP) PLen() uint8 { return a[5] }

// Op returns ar_op.
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[6:8]) }

// SHA returns the sender hardware address.
func (a ARP) SHA() MAC { return MAC(a[8:14]) }

// SPA returns the sender protocol address.
func (a ARP) SPA() Addr { return AddrFromSlice(a[14:18]) }

// THA returns the target hardware address.
func (a ARP) THA() MAC { return MAC(a[18:24]) }

// TPA returns the target protocol address.
func (a ARP) TPA() Addr { return AddrFromSlice(a[24:28]) }

// PutARP writes an Ethernet/IPv4 ARP packet into b[0:28].
func PutARP(b []byte, op uint16, sha MAC, spa Addr, tha MAC, tpa Addr) {
	binary.BigEndian.PutUint16(b[0:], ARPHrdEther)
	binary.BigEndian.PutUint16(b[2:], EthPIP)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], op)
	copy(b[8:14], sha[:])
	spa.Put(b[14:])
	copy(b[18:24], tha[:])
	tpa.Put(b[24:])
}
