// Package testbench is the host side of kaidoku's end-to-end tests and
// benchmarks: it crafts Ethernet, ARP, IPv4, UDP and ICMP frames (with
// gVisor's tcpip/header as the builder), injects them into a guest through
// QEMU's datagram-socket backend, captures every frame the guest sends,
// answers the guest's ARP for the bench's addresses, and drives UDP echo
// load for the benchmarks.
package testbench

import (
	"encoding/binary"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// MAC is an Ethernet address.
type MAC [6]byte

// Well-known MACs.
var (
	Broadcast     = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	AllHostsMcast = MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
)

// ParseMAC parses aa:bb:cc:dd:ee:ff.
func ParseMAC(s string) (MAC, bool) {
	var m MAC
	if len(s) != 17 {
		return m, false
	}
	for i := 0; i < 6; i++ {
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 || (i < 5 && s[3*i+2] != ':') {
			return m, false
		}
		m[i] = hi<<4 | lo
	}
	return m, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func addr4(a netip.Addr) tcpip.Address { return tcpip.AddrFrom4(a.As4()) }

// Ether wraps payload in an Ethernet header; vlan ≥ 0 adds an 802.1Q tag
// with that VID. Frames shorter than 60 bytes are padded, as a NIC would.
func Ether(dst, src MAC, etherType uint16, vlan int, payload []byte) []byte {
	hl := header.EthernetMinimumSize
	if vlan >= 0 {
		hl += 4
	}
	f := make([]byte, hl+len(payload), max(hl+len(payload), 60))
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	if vlan >= 0 {
		binary.BigEndian.PutUint16(f[12:], 0x8100)
		binary.BigEndian.PutUint16(f[14:], uint16(vlan&0xfff))
		binary.BigEndian.PutUint16(f[16:], etherType)
	} else {
		binary.BigEndian.PutUint16(f[12:], etherType)
	}
	copy(f[hl:], payload)
	for len(f) < 60 {
		f = append(f, 0)
	}
	return f
}

// IPv4 describes an IPv4 packet to build. Zero values give a plain,
// valid header: version 4, TTL 64, correct lengths and checksum.
type IPv4 struct {
	Src, Dst   netip.Addr
	Protocol   uint8
	TOS        uint8
	TTL        uint8 // 64 when 0 unless ZeroTTL
	ZeroTTL    bool
	ID         uint16
	Flags      uint8  // header.IPv4FlagDontFragment, IPv4FlagMoreFragments, or 4 (the evil bit)
	FragOffset uint16 // in bytes, a multiple of 8
	Options    []byte // raw option bytes, padded to 4 with EOL
	Payload    []byte

	Version     uint8 // 4 when 0
	IHL         int   // header words; computed when 0
	TotalLength int   // computed when 0
	BadChecksum bool
}

// Bytes returns the packet.
func (p IPv4) Bytes() []byte {
	opts := append([]byte(nil), p.Options...)
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	hl := header.IPv4MinimumSize + len(opts)
	b := make([]byte, hl+len(p.Payload))
	ttl := p.TTL
	if ttl == 0 && !p.ZeroTTL {
		ttl = 64
	}
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TOS:            p.TOS,
		TotalLength:    uint16(len(b)),
		ID:             p.ID,
		Flags:          p.Flags &^ 4,
		FragmentOffset: p.FragOffset,
		TTL:            ttl,
		Protocol:       p.Protocol,
		SrcAddr:        addr4(p.Src),
		DstAddr:        addr4(p.Dst),
	})
	copy(b[header.IPv4MinimumSize:], opts)
	ihl := hl / 4
	if p.IHL != 0 {
		ihl = p.IHL
	}
	v := p.Version
	if v == 0 {
		v = 4
	}
	b[0] = v<<4 | byte(ihl&0xf)
	if p.Flags&4 != 0 {
		b[6] |= 0x80
	}
	if p.TotalLength != 0 {
		binary.BigEndian.PutUint16(b[2:], uint16(p.TotalLength))
	}
	copy(b[hl:], p.Payload)
	b[10], b[11] = 0, 0
	sumLen := hl
	if ihl*4 <= len(b) && ihl >= 5 {
		sumLen = ihl * 4
	}
	cs := ^checksum.Checksum(b[:sumLen], 0)
	if p.BadChecksum {
		cs ^= 0x5a5a
	}
	binary.BigEndian.PutUint16(b[10:], cs)
	return b
}

// UDP describes a UDP datagram to build.
type UDP struct {
	Src, Dst netip.AddrPort
	Payload  []byte
	// Length overrides the UDP length field when non-zero.
	Length int
	// Checksum: 0 computes it, ZeroChecksum sends 0 (none), BadChecksum
	// corrupts it.
	ZeroChecksum bool
	BadChecksum  bool
}

// Bytes returns the UDP header and payload.
func (u UDP) Bytes() []byte {
	b := make([]byte, header.UDPMinimumSize+len(u.Payload))
	h := header.UDP(b)
	l := len(b)
	h.Encode(&header.UDPFields{SrcPort: u.Src.Port(), DstPort: u.Dst.Port(), Length: uint16(l)})
	copy(b[header.UDPMinimumSize:], u.Payload)
	if !u.ZeroChecksum {
		x := header.PseudoHeaderChecksum(header.UDPProtocolNumber, addr4(u.Src.Addr()), addr4(u.Dst.Addr()), uint16(l))
		x = checksum.Checksum(u.Payload, x)
		cs := ^h.CalculateChecksum(x)
		if cs == 0 {
			cs = 0xffff
		}
		if u.BadChecksum {
			cs ^= 0x0101
		}
		h.SetChecksum(cs)
	}
	if u.Length != 0 {
		h.SetLength(uint16(u.Length))
	}
	return b
}

// Packet returns the datagram in a plain IPv4 packet.
func (u UDP) Packet() IPv4 {
	return IPv4{Src: u.Src.Addr(), Dst: u.Dst.Addr(), Protocol: uint8(header.UDPProtocolNumber), Payload: u.Bytes()}
}

// ICMP describes an ICMP message to build.
type ICMP struct {
	Type, Code uint8
	// Rest is the 4 bytes after the checksum (identifier and sequence,
	// next-hop MTU, pointer, …).
	Rest    [4]byte
	Payload []byte
	// BadChecksum corrupts the checksum, which is otherwise correct.
	BadChecksum bool
}

// Bytes returns the message.
func (m ICMP) Bytes() []byte {
	b := make([]byte, header.ICMPv4MinimumSize+len(m.Payload))
	b[0], b[1] = m.Type, m.Code
	copy(b[4:8], m.Rest[:])
	copy(b[8:], m.Payload)
	cs := ^checksum.Checksum(b, 0)
	if m.BadChecksum {
		cs ^= 0x1111
	}
	binary.BigEndian.PutUint16(b[2:], cs)
	return b
}

// EchoRequest builds an ICMP echo request.
func EchoRequest(id, seq uint16, data []byte) []byte {
	var rest [4]byte
	binary.BigEndian.PutUint16(rest[0:], id)
	binary.BigEndian.PutUint16(rest[2:], seq)
	return ICMP{Type: 8, Rest: rest, Payload: data}.Bytes()
}

// ARP ops.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ARP builds an ARP packet for IPv4 over Ethernet.
func ARP(op uint16, senderMAC MAC, senderIP netip.Addr, targetMAC MAC, targetIP netip.Addr) []byte {
	b := make([]byte, header.ARPSize)
	a := header.ARP(b)
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPOp(op))
	copy(a.HardwareAddressSender(), senderMAC[:])
	s4, t4 := senderIP.As4(), targetIP.As4()
	copy(a.ProtocolAddressSender(), s4[:])
	copy(a.HardwareAddressTarget(), targetMAC[:])
	copy(a.ProtocolAddressTarget(), t4[:])
	return b
}

// Fragment splits an IPv4 packet (built without options) into fragments
// carrying the given payload sizes in order (multiples of 8 except the
// last); the remainder goes in a last fragment. Each keeps the header's
// fields, with MF and the offset set.
func Fragment(pkt IPv4, sizes ...int) []IPv4 {
	var out []IPv4
	payload := pkt.Payload
	off := 0
	for _, n := range sizes {
		if off+n >= len(payload) {
			break
		}
		f := pkt
		f.Payload = payload[off : off+n]
		f.FragOffset = pkt.FragOffset + uint16(off)
		f.Flags = pkt.Flags | header.IPv4FlagMoreFragments
		out = append(out, f)
		off += n
	}
	last := pkt
	last.Payload = payload[off:]
	last.FragOffset = pkt.FragOffset + uint16(off)
	last.Flags = pkt.Flags &^ header.IPv4FlagMoreFragments
	return append(out, last)
}
