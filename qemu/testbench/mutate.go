package testbench

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"
)

// Mutator makes hostile frames for the guest: it builds a valid frame
// (UDP to an open or closed port, a fragment, a broadcast, an ICMP echo,
// ARP, IPv4 with options, a VLAN-tagged packet) and then damages it: bit
// flips, truncation, padding, IP total length, IHL, UDP length, random
// options, fragment fields, VLAN tags, EtherTypes, destination MACs,
// martian addresses, version, TTL. Half the time it repairs the IP
// header checksum afterwards, so that the damage reaches the layers
// behind it. It is deterministic for a seed. It never makes an empty
// frame (see damage).
type Mutator struct {
	r *rand.Rand
	b *Bench
	// Sources are the IPv4 sources of the frames (default 10.0.2.100 to
	// 10.0.2.199: never the test host, so that the agent and the stats
	// service see them as strangers).
	Sources []netip.Addr
	// Ports are the guest's UDP ports aimed at besides random ones
	// (default echo 7, discard 9, stats 161, agent 5555).
	Ports []uint16
	// Counts holds the frames made, by mutation.
	Counts map[string]int
	// IGMP counts the frames that carry an IPv4 packet of protocol 2
	// (behind up to two VLAN tags): the guest delivers those to its IGMP
	// handler, which has no counter of its own beyond Ip.InDelivers.
	IGMP int
	// TCPLite counts the frames of protocol 6 (TCP) or 136 (UDP-Lite):
	// delivered to those protocols (Ip.InDelivers) rather than to UDP or
	// ICMP, and a TCP segment in a frame not addressed to the guest
	// counts nothing else.
	TCPLite int
}

// NewMutator returns a mutator for the bench's guest.
func NewMutator(b *Bench, seed uint64) *Mutator {
	m := &Mutator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), b: b,
		Ports: []uint16{7, 9, 161, 5555}, Counts: map[string]int{}}
	for i := 100; i < 200; i++ {
		m.Sources = append(m.Sources, netip.AddrFrom4([4]byte{10, 0, 2, byte(i)}))
	}
	return m
}

func (m *Mutator) src() netip.Addr { return m.Sources[m.r.IntN(len(m.Sources))] }

func (m *Mutator) port() uint16 {
	if m.r.IntN(2) == 0 {
		return m.Ports[m.r.IntN(len(m.Ports))]
	}
	return uint16(m.r.IntN(65536))
}

func (m *Mutator) payload(max int) []byte {
	p := make([]byte, m.r.IntN(max+1))
	for i := range p {
		p[i] = byte(m.r.Uint32())
	}
	return p
}

// base returns a valid frame and the offset of its IP header (-1 for
// ARP).
func (m *Mutator) base() (frame []byte, ipAt int, kind string) {
	b := m.b
	switch k := m.r.IntN(9); k {
	case 0, 1:
		u := UDP{Src: netip.AddrPortFrom(m.src(), uint16(1024+m.r.IntN(60000))),
			Dst: netip.AddrPortFrom(b.GuestIP, m.port()), Payload: m.payload(1400)}
		return Ether(b.GuestMAC, b.MAC, 0x0800, -1, u.Packet().Bytes()), 14, "udp"
	case 2:
		u := UDP{Src: netip.AddrPortFrom(m.src(), 4000), Dst: netip.AddrPortFrom(b.GuestIP, m.port()), Payload: m.payload(3000)}
		p := u.Packet()
		p.ID = uint16(m.r.Uint32())
		frags := Fragment(p, 8*(1+m.r.IntN(100)), 8*(1+m.r.IntN(100)))
		f := frags[m.r.IntN(len(frags))]
		return Ether(b.GuestMAC, b.MAC, 0x0800, -1, f.Bytes()), 14, "fragment"
	case 3:
		dst := netip.MustParseAddr("255.255.255.255")
		if m.r.IntN(2) == 0 {
			dst = netip.MustParseAddr("10.0.2.255")
		}
		u := UDP{Src: netip.AddrPortFrom(m.src(), 4000), Dst: netip.AddrPortFrom(dst, m.port()), Payload: m.payload(200)}
		return Ether(Broadcast, b.MAC, 0x0800, -1, u.Packet().Bytes()), 14, "broadcast"
	case 4:
		p := IPv4{Src: m.src(), Dst: b.GuestIP, Protocol: 1, Payload: EchoRequest(uint16(m.r.Uint32()), uint16(m.r.Uint32()), m.payload(200))}
		return Ether(b.GuestMAC, b.MAC, 0x0800, -1, p.Bytes()), 14, "icmp"
	case 5:
		op := uint16(1 + m.r.IntN(2))
		a := ARP(op, b.MAC, m.src(), MAC{}, b.GuestIP)
		return Ether(Broadcast, b.MAC, 0x0806, -1, a), -1, "arp"
	case 6:
		opts := [][]byte{
			{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0},     // record route
			{68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // timestamp
			{1, 1, 1, 0},                           // NOP NOP NOP EOL
			{148, 4, 0, 0},                         // router alert
			{131, 7, 4, 10, 0, 2, 1},               // loose source route
		}
		u := UDP{Src: netip.AddrPortFrom(m.src(), 4000), Dst: netip.AddrPortFrom(b.GuestIP, m.port()), Payload: m.payload(200)}
		p := u.Packet()
		p.Options = opts[m.r.IntN(len(opts))]
		return Ether(b.GuestMAC, b.MAC, 0x0800, -1, p.Bytes()), 14, "options"
	case 7:
		u := UDP{Src: netip.AddrPortFrom(m.src(), 4000), Dst: netip.AddrPortFrom(b.GuestIP, m.port()), Payload: m.payload(200)}
		return Ether(b.GuestMAC, b.MAC, 0x0800, m.r.IntN(3)*m.r.IntN(4096), u.Packet().Bytes()), 18, "vlan"
	default:
		p := IPv4{Src: m.src(), Dst: b.GuestIP, Protocol: uint8(m.r.IntN(256)), Payload: m.payload(100)}
		return Ether(b.GuestMAC, b.MAC, 0x0800, -1, p.Bytes()), 14, "ip-proto"
	}
}

// Next returns a damaged frame and what was done to it.
func (m *Mutator) Next() ([]byte, string) {
	f, ipAt, kind := m.base()
	n := 1 + m.r.IntN(3)
	for i := 0; i < n; i++ {
		var what string
		f, what = m.damage(f, ipAt)
		kind += "+" + what
	}
	if ipAt >= 0 && m.r.IntN(2) == 0 {
		fixIPChecksum(f, ipAt)
	}
	m.Counts[kind]++
	switch ipProto(f) {
	case 2:
		m.IGMP++
	case 6, 136:
		m.TCPLite++
	}
	return f, kind
}

// ipProto returns the IPv4 protocol of a frame behind up to two VLAN
// tags, or -1.
func ipProto(f []byte) int {
	at := 12
	for i := 0; i < 3 && len(f) >= at+2; i++ {
		switch binary.BigEndian.Uint16(f[at:]) {
		case 0x0800:
			if len(f) > at+2+9 {
				return int(f[at+2+9])
			}
			return -1
		case 0x8100, 0x88a8:
			at += 4
		default:
			return -1
		}
	}
	return -1
}

// damage applies one mutation.
func (m *Mutator) damage(f []byte, ipAt int) ([]byte, string) {
	ip := func(off int) int { return ipAt + off }
	hasIP := ipAt >= 0 && len(f) >= ipAt+20
	switch m.r.IntN(14) {
	case 0:
		for i := 0; i < 1+m.r.IntN(8); i++ {
			if len(f) > 0 {
				f[m.r.IntN(len(f))] ^= 1 << m.r.IntN(8)
			}
		}
		return f, "bitflip"
	case 1:
		// Never to zero bytes: QEMU's datagram backend takes an empty
		// datagram for the end of the connection and stops reading.
		if len(f) > 1 {
			f = f[:1+m.r.IntN(len(f)-1)]
		}
		return f, "truncate"
	case 2:
		return append(f, m.payload(64)...), "pad"
	case 3:
		if hasIP {
			binary.BigEndian.PutUint16(f[ip(2):], uint16(m.r.IntN(70000)))
		}
		return f, "totlen"
	case 4:
		if hasIP {
			f[ip(0)] = f[ip(0)]&0xf0 | byte(m.r.IntN(16))
		}
		return f, "ihl"
	case 5:
		if hasIP {
			ihl := int(f[ip(0)]&0xf) * 4
			if len(f) >= ip(ihl)+6 && ihl >= 20 {
				binary.BigEndian.PutUint16(f[ip(ihl)+4:], uint16(m.r.IntN(65536)))
			}
		}
		return f, "udplen"
	case 6:
		if hasIP {
			// Random options: rebuild the header with up to 40 random
			// option bytes.
			ihl := int(f[ip(0)]&0xf) * 4
			if ihl >= 20 && len(f) >= ip(ihl) {
				n := 4 * (1 + m.r.IntN(10))
				opts := m.payload(n)
				for len(opts) < n {
					opts = append(opts, 0)
				}
				nf := append([]byte(nil), f[:ip(20)]...)
				nf = append(nf, opts...)
				nf = append(nf, f[ip(ihl):]...)
				nf[ip(0)] = 0x40 | byte((20+n)/4)
				binary.BigEndian.PutUint16(nf[ip(2):], uint16(len(nf)-ipAt))
				f = nf
			}
		}
		return f, "options"
	case 7:
		if hasIP {
			fo := uint16(m.r.IntN(0x2000))
			if m.r.IntN(2) == 0 {
				fo |= 0x2000
			}
			if m.r.IntN(4) == 0 {
				fo |= 0x4000
			}
			binary.BigEndian.PutUint16(f[ip(6):], fo)
		}
		return f, "fragfield"
	case 8:
		if len(f) >= 14 {
			vid := uint16(m.r.IntN(3) * m.r.IntN(4096))
			tag := []byte{0x81, 0x00, byte(vid >> 8), byte(vid)}
			if m.r.IntN(4) == 0 {
				tag[0], tag[1] = 0x88, 0xa8
			}
			nf := append([]byte(nil), f[:12]...)
			nf = append(nf, tag...)
			f = append(nf, f[12:]...)
			if ipAt >= 0 {
				ipAt += 4 // not tracked further: the next damages hit the shifted header
			}
		}
		return f, "vlantag"
	case 9:
		if len(f) >= 14 {
			types := []uint16{0x86dd, 0x8100, 0x88a8, 0x0806, 0x0800, 0x0000, 0x05ff, 0xffff, uint16(m.r.Uint32())}
			binary.BigEndian.PutUint16(f[12:], types[m.r.IntN(len(types))])
		}
		return f, "ethertype"
	case 10:
		if len(f) >= 6 {
			macs := []MAC{Broadcast, AllHostsMcast, {0x02, 0, 0, 0, 0, 0x77}, {0x33, 0x33, 0, 0, 0, 1}}
			copy(f[0:6], macs[m.r.IntN(len(macs))][:])
		}
		return f, "dstmac"
	case 11:
		if hasIP {
			martians := [][4]byte{{0, 0, 0, 0}, {127, 0, 0, 1}, {255, 255, 255, 255}, {224, 0, 0, 1}, {10, 0, 2, 15}, {10, 0, 2, 255}, {240, 0, 0, 1}}
			a := martians[m.r.IntN(len(martians))]
			if m.r.IntN(2) == 0 {
				copy(f[ip(12):], a[:])
			} else {
				copy(f[ip(16):], a[:])
			}
		}
		return f, "martian"
	case 12:
		if hasIP {
			f[ip(0)] = byte(m.r.IntN(16))<<4 | f[ip(0)]&0xf
		}
		return f, "version"
	default:
		if hasIP {
			f[ip(8)] = byte(m.r.IntN(2))
		}
		return f, "ttl"
	}
}

// fixIPChecksum recomputes the IPv4 header checksum of the header at
// ipAt, if the header is there.
func fixIPChecksum(f []byte, ipAt int) {
	if len(f) < ipAt+20 {
		return
	}
	ihl := int(f[ipAt]&0xf) * 4
	if ihl < 20 || len(f) < ipAt+ihl {
		return
	}
	h := f[ipAt : ipAt+ihl]
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], ^checksum.Checksum(h, 0))
}
