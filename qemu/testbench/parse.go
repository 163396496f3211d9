package testbench

import (
	"encoding/binary"
	"net/netip"
)

// Parsed is a frame the guest sent, decoded as far as the bench cares.
type Parsed struct {
	Raw       []byte
	Dst, Src  MAC
	EtherType uint16

	// IPv4, when EtherType is 0x0800 and the header is sane.
	IP       []byte // the IP header and everything after it
	IPSrc    netip.Addr
	IPDst    netip.Addr
	Proto    uint8
	TTL      uint8
	TOS      uint8
	DF, MF   bool
	FragOff  int
	L4       []byte // IP payload (trimmed to the total length)
	SrcPort  uint16 // UDP
	DstPort  uint16
	UDPData  []byte
	ICMPType uint8
	ICMPCode uint8

	// ARP
	ARPOp       uint16
	ARPSenderIP netip.Addr
	ARPTargetIP netip.Addr
	ARPSender   MAC
}

// Parse decodes a frame; it never fails, it just leaves fields zero.
func Parse(f []byte) Parsed {
	p := Parsed{Raw: f}
	if len(f) < 14 {
		return p
	}
	copy(p.Dst[:], f[0:6])
	copy(p.Src[:], f[6:12])
	p.EtherType = binary.BigEndian.Uint16(f[12:])
	b := f[14:]
	switch p.EtherType {
	case 0x0806:
		if len(b) >= 28 {
			p.ARPOp = binary.BigEndian.Uint16(b[6:])
			copy(p.ARPSender[:], b[8:14])
			p.ARPSenderIP = netip.AddrFrom4([4]byte(b[14:18]))
			p.ARPTargetIP = netip.AddrFrom4([4]byte(b[24:28]))
		}
	case 0x0800:
		if len(b) < 20 || b[0]>>4 != 4 {
			return p
		}
		ihl := int(b[0]&0xf) * 4
		tot := int(binary.BigEndian.Uint16(b[2:]))
		if ihl < 20 || tot < ihl || tot > len(b) {
			return p
		}
		p.IP = b[:tot]
		p.TOS = b[1]
		fo := binary.BigEndian.Uint16(b[6:])
		p.DF = fo&0x4000 != 0
		p.MF = fo&0x2000 != 0
		p.FragOff = int(fo&0x1fff) * 8
		p.TTL = b[8]
		p.Proto = b[9]
		p.IPSrc = netip.AddrFrom4([4]byte(b[12:16]))
		p.IPDst = netip.AddrFrom4([4]byte(b[16:20]))
		p.L4 = b[ihl:tot]
		switch {
		case p.Proto == 17 && len(p.L4) >= 8 && p.FragOff == 0:
			p.SrcPort = binary.BigEndian.Uint16(p.L4[0:])
			p.DstPort = binary.BigEndian.Uint16(p.L4[2:])
			ul := int(binary.BigEndian.Uint16(p.L4[4:]))
			if ul >= 8 && ul <= len(p.L4) {
				p.UDPData = p.L4[8:ul]
			}
		case p.Proto == 1 && len(p.L4) >= 8:
			p.ICMPType, p.ICMPCode = p.L4[0], p.L4[1]
		}
	}
	return p
}

// IsUDPFrom matches UDP datagrams from src to dst (either may be the zero
// AddrPort to match anything, or have port 0 to match any port).
func IsUDPFrom(src, dst netip.AddrPort) func(Parsed) bool {
	return func(p Parsed) bool {
		if p.Proto != 17 || p.UDPData == nil && p.SrcPort == 0 {
			return false
		}
		return matchEnd(src, p.IPSrc, p.SrcPort) && matchEnd(dst, p.IPDst, p.DstPort)
	}
}

// IsICMP matches ICMP messages of the given type (and code, unless code
// is negative) to dst (any destination if dst is invalid).
func IsICMP(typ uint8, code int, dst netip.Addr) func(Parsed) bool {
	return func(p Parsed) bool {
		return p.Proto == 1 && len(p.L4) >= 8 && p.ICMPType == typ &&
			(code < 0 || int(p.ICMPCode) == code) && (!dst.IsValid() || p.IPDst == dst)
	}
}

func matchEnd(want netip.AddrPort, addr netip.Addr, port uint16) bool {
	if !want.IsValid() {
		return true
	}
	if want.Addr().IsValid() && !want.Addr().IsUnspecified() && want.Addr() != addr {
		return false
	}
	return want.Port() == 0 || want.Port() == port
}
