package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// Frames a Linux host sent through a TAP or TUN device (which offers no
// checksum offload, so the kernel filled in every checksum in software):
// 10.9.0.1 (52:54:00:12:34:56) to 10.9.0.2 (02:00:00:00:00:09).
const (
	// UDP 40000 → 7, 1 byte of payload, even IP length.
	realUDPx = "0200000000095254001234560800" +
		"4500001d41d040004011e4eb0a0900010a090002" + "9c4000070009d77f" + "78"
	// UDP 40000 → 7, "hello, kaidoku".
	realUDPHello = "02000000000952540012345608004500002a41df40004011e4cf0a0900010a090002" +
		"9c4000070016b9ae68656c6c6f2c206b6169646f6b75"
	// The ARP request that preceded them.
	realARPRequest = "ffffffffffff525400123456080600010800060400015254001234560a090001" +
		"0000000000000a090002"
	// IP only (TUN): an odd-length UDP datagram, "odd" to port 9.
	realUDPOdd = "4500001fb47c40004011723d0a0900010a0900029c400009000b7c156f6464"
	// IP only (TUN): the port unreachable Linux sent for a datagram from
	// 10.9.0.2:5555 to its closed port 33434, quoting it whole.
	realPortUnreach = "45c00046d27e0000400193640a0900010a0900020303705c00000000" +
		"4500002a123400004011547b0a0900020a09000115b3829a0016000061726520796f752074686572653f"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	hostA = AddrOf(10, 9, 0, 1)
	hostB = AddrOf(10, 9, 0, 2)
	macA  = MAC{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	macB  = MAC{0x02, 0, 0, 0, 0, 0x09}
)

// TestChecksumRealPackets verifies and recomputes the IPv4, UDP and ICMP
// checksums of packets Linux built: a good checksum verifies (folds to
// all ones, or 0 once complemented), and with the field cleared the
// computation gives back what Linux stored.
func TestChecksumRealPackets(t *testing.T) {
	for _, c := range []struct {
		name  string
		ip    string
		ipCk  uint16
		l4Ck  uint16
		proto uint8
	}{
		{"UDP 1 byte", realUDPx[2*EthHLen:], 0xe4eb, 0xd77f, ProtoUDP},
		{"UDP hello", realUDPHello[2*EthHLen:], 0xe4cf, 0xb9ae, ProtoUDP},
		{"UDP odd length", realUDPOdd, 0x723d, 0x7c15, ProtoUDP},
		{"ICMP port unreachable", realPortUnreach, 0x9364, 0x705c, ProtoICMP},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := unhex(t, c.ip)
			h := IPv4(p)
			if got := IPHeaderChecksum(h[:h.HeaderLen()]); got != 0 {
				t.Errorf("header does not verify: %#04x", got)
			}
			if got := ^rfc1071Sum(h[:h.HeaderLen()], 0); got != 0 {
				t.Errorf("reference: header does not verify: %#04x", got)
			}
			h.SetChecksum()
			if got := binary.BigEndian.Uint16(h[10:]); got != c.ipCk {
				t.Errorf("SetChecksum %#04x, Linux %#04x", got, c.ipCk)
			}
			l4 := p[h.HeaderLen():h.TotLen()]
			switch c.proto {
			case ProtoUDP:
				u := UDP(l4)
				if got := CsumFold(Checksum(u, PseudoSum(h.Src(), h.Dst(), ProtoUDP, u.Len()))); got != 0 {
					t.Errorf("UDP does not verify: %#04x", got)
				}
				ck := u.Check()
				binary.BigEndian.PutUint16(u[6:], 0)
				if got := UDPChecksum(u, h.Src(), h.Dst()); got != ck || ck != c.l4Ck {
					t.Errorf("UDPChecksum %#04x, Linux %#04x", got, ck)
				}
			case ProtoICMP:
				if got := CsumFold(Checksum(l4, 0)); got != 0 {
					t.Errorf("ICMP does not verify: %#04x", got)
				}
				binary.BigEndian.PutUint16(l4[2:], 0)
				if got := CsumFold(Checksum(l4, 0)); got != c.l4Ck {
					t.Errorf("ICMP checksum %#04x, Linux %#04x", got, c.l4Ck)
				}
			}
		})
	}
}

// TestIPv4ParseBuild reads every field of real headers through the view
// and rebuilds each with PutIPv4, which must give the same 20 bytes,
// checksum included.
func TestIPv4ParseBuild(t *testing.T) {
	for _, c := range []struct {
		name    string
		ip      string
		tos     uint8
		totLen  int
		id      uint16
		fragOff uint16
		ttl     uint8
		proto   uint8
		src     Addr
		dst     Addr
	}{
		{"UDP", realUDPHello[2*EthHLen:], 0, 42, 0x41df, IPFlagDF, 64, ProtoUDP, hostA, hostB},
		{"UDP odd", realUDPOdd, 0, 31, 0xb47c, IPFlagDF, 64, ProtoUDP, hostA, hostB},
		{"ICMP error", realPortUnreach, 0xc0, 70, 0xd27e, 0, 64, ProtoICMP, hostA, hostB},
		{"quoted datagram", realPortUnreach[2*28:], 0, 42, 0x1234, 0, 64, ProtoUDP, hostB, hostA},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := IPv4(unhex(t, c.ip))
			if h.Version() != 4 || h.IHL() != 5 || h.HeaderLen() != 20 {
				t.Errorf("version %d IHL %d len %d", h.Version(), h.IHL(), h.HeaderLen())
			}
			if h.TOS() != c.tos || h.TotLen() != c.totLen || h.ID() != c.id || h.FragOff() != c.fragOff ||
				h.TTL() != c.ttl || h.Protocol() != c.proto || h.Src() != c.src || h.Dst() != c.dst {
				t.Errorf("parsed tos %#x len %d id %#x frag %#x ttl %d proto %d %v → %v",
					h.TOS(), h.TotLen(), h.ID(), h.FragOff(), h.TTL(), h.Protocol(), h.Src(), h.Dst())
			}
			if h.IsFragment() {
				t.Error("IsFragment on an unfragmented datagram")
			}
			b := make([]byte, 20)
			PutIPv4(b, c.tos, c.totLen, c.id, c.fragOff, c.ttl, c.proto, c.src, c.dst)
			if !bytes.Equal(b, h[:20]) {
				t.Errorf("PutIPv4\n got %x\nwant %x", b, h[:20])
			}
		})
	}
}

func TestIPv4Setters(t *testing.T) {
	for _, c := range []struct {
		fragOff uint16
		isFrag  bool
	}{
		{0, false},
		{IPFlagDF, false},
		{IPFlagCE, false},
		{IPFlagMF, true},
		{1, true},
		{IPFlagDF | IPOffset, true},
		{IPFlagMF | 185, true},
	} {
		h := IPv4(make([]byte, 24))
		PutIPv4(h, 0, 24, 7, 0, 64, ProtoUDP, hostA, hostB)
		h[0] = 0x46 // one word of options: SetChecksum covers it
		h[20] = 1
		h.SetFragOff(c.fragOff)
		h.SetTotLen(1500)
		h.SetChecksum()
		if h.FragOff() != c.fragOff || h.TotLen() != 1500 || h.IsFragment() != c.isFrag {
			t.Errorf("%#04x: frag_off %#04x tot_len %d IsFragment %v", c.fragOff, h.FragOff(), h.TotLen(), h.IsFragment())
		}
		if IPHeaderChecksum(h) != 0 || IPHeaderChecksum(h[:20]) == 0 {
			t.Errorf("%#04x: SetChecksum does not cover the options", c.fragOff)
		}
	}
}

func TestUDPParseBuild(t *testing.T) {
	for _, c := range []struct {
		name         string
		ip           string
		sport, dport uint16
		length       int
		check        uint16
	}{
		{"hello", realUDPHello[2*EthHLen:], 40000, 7, 22, 0xb9ae},
		{"odd", realUDPOdd, 40000, 9, 11, 0x7c15},
		{"quoted", realPortUnreach[2*28:], 5555, 33434, 22, 0},
	} {
		u := UDP(unhex(t, c.ip)[20:])
		if u.SrcPort() != c.sport || u.DstPort() != c.dport || u.Len() != c.length || u.Check() != c.check {
			t.Errorf("%s: parsed %d → %d len %d check %#04x", c.name, u.SrcPort(), u.DstPort(), u.Len(), u.Check())
		}
		b := make([]byte, UDPHLen)
		for i := range b {
			b[i] = 0xaa // PutUDP must clear the checksum
		}
		PutUDP(b, c.sport, c.dport, c.length)
		if want := append(append([]byte(nil), u[:6]...), 0, 0); !bytes.Equal(b, want) {
			t.Errorf("%s: PutUDP %x, want %x", c.name, b, want)
		}
	}
}

// UDPChecksum never returns 0, which means "no checksum": a sum of 0 is
// sent as 0xffff (CSUM_MANGLED_0), which verifies as well.
func TestUDPChecksumMangledZero(t *testing.T) {
	u := make([]byte, 10)
	PutUDP(u, 1, 2, len(u))
	// Choose the payload so that the complemented sum is 0.
	partial := Fold(Checksum(u, PseudoSum(hostA, hostB, ProtoUDP, len(u))))
	binary.BigEndian.PutUint16(u[8:], ^partial)
	if got := CsumFold(Checksum(u, PseudoSum(hostA, hostB, ProtoUDP, len(u)))); got != 0 {
		t.Fatalf("setup: checksum %#04x, want 0", got)
	}
	c := UDPChecksum(u, hostA, hostB)
	if c != 0xffff {
		t.Fatalf("UDPChecksum %#04x, want 0xffff", c)
	}
	binary.BigEndian.PutUint16(u[6:], c)
	if got := CsumFold(Checksum(u, PseudoSum(hostA, hostB, ProtoUDP, len(u)))); got != 0 {
		t.Fatalf("0xffff does not verify: %#04x", got)
	}
}

func TestEthARPParseBuild(t *testing.T) {
	f := unhex(t, realARPRequest)
	e := Eth(f)
	if e.Dst() != BroadcastMAC || e.Src() != macA || e.Type() != EthPARP {
		t.Fatalf("ethernet %v → %v type %#04x", e.Src(), e.Dst(), e.Type())
	}
	a := ARP(f[EthHLen:])
	if a.HType() != ARPHrdEther || a.PType() != EthPIP || a.HLen() != 6 || a.PLen() != 4 ||
		a.Op() != ARPOpRequest || a.SHA() != macA || a.SPA() != hostA || !a.THA().IsZero() || a.TPA() != hostB {
		t.Fatalf("arp hrd %d pro %#04x hln %d pln %d op %d %v %v %v %v",
			a.HType(), a.PType(), a.HLen(), a.PLen(), a.Op(), a.SHA(), a.SPA(), a.THA(), a.TPA())
	}
	b := make([]byte, EthHLen+ARPEtherIPv4Len)
	PutEth(b, BroadcastMAC, macA, EthPARP)
	PutARP(b[EthHLen:], ARPOpRequest, macA, hostA, MAC{}, hostB)
	if !bytes.Equal(b, f) {
		t.Fatalf("build\n got %x\nwant %x", b, f)
	}
	// The reply, built and read back.
	PutEth(b, macA, macB, EthPARP)
	PutARP(b[EthHLen:], ARPOpReply, macB, hostB, macA, hostA)
	e, a = Eth(b), ARP(b[EthHLen:])
	if e.Dst() != macA || e.Src() != macB || a.Op() != ARPOpReply || a.SHA() != macB || a.SPA() != hostB ||
		a.THA() != macA || a.TPA() != hostA {
		t.Fatalf("reply round trip: %x", b)
	}
}

func TestAddr(t *testing.T) {
	for _, c := range []struct {
		a                                     Addr
		s                                     string
		mcast, lbcast, zero, loop, localMcast bool
		raw32                                 uint32
	}{
		{AddrOf(10, 0, 0, 5), "10.0.0.5", false, false, false, false, false, 0x0500000a},
		{0, "0.0.0.0", false, false, true, false, false, 0},
		{AddrOf(0, 1, 2, 3), "0.1.2.3", false, false, false, false, false, 0x03020100},
		{AddrOf(127, 0, 0, 1), "127.0.0.1", false, false, false, true, false, 0x0100007f},
		{AddrOf(127, 255, 255, 255), "127.255.255.255", false, false, false, true, false, 0xffffff7f},
		{AddrOf(224, 0, 0, 1), "224.0.0.1", true, false, false, false, true, 0x010000e0},
		{AddrOf(224, 0, 1, 1), "224.0.1.1", true, false, false, false, false, 0x010100e0},
		{AddrOf(239, 255, 255, 255), "239.255.255.255", true, false, false, false, false, 0xffffffef},
		{AddrOf(240, 0, 0, 1), "240.0.0.1", false, false, false, false, false, 0x010000f0},
		{AddrOf(255, 255, 255, 255), "255.255.255.255", false, true, false, false, false, 0xffffffff},
	} {
		if c.a.String() != c.s || c.a.IsMulticast() != c.mcast || c.a.IsLbcast() != c.lbcast ||
			c.a.IsZeronet() != c.zero || c.a.IsLoopback() != c.loop || c.a.IsLocalMulticast() != c.localMcast ||
			c.a.Raw32() != c.raw32 {
			t.Errorf("%s: String %q mcast %v lbcast %v zeronet %v loopback %v local-mcast %v raw %#08x", c.s, c.a.String(),
				c.a.IsMulticast(), c.a.IsLbcast(), c.a.IsZeronet(), c.a.IsLoopback(), c.a.IsLocalMulticast(), c.a.Raw32())
		}
		b4 := c.a.As4()
		if AddrFrom4(b4) != c.a || AddrFromSlice(b4[:]) != c.a {
			t.Errorf("%s: As4 round trip %v", c.s, b4)
		}
		var p [4]byte
		c.a.Put(p[:])
		if p != b4 {
			t.Errorf("%s: Put %v, As4 %v", c.s, p, b4)
		}
	}
}

func TestMAC(t *testing.T) {
	for _, c := range []struct {
		m                  MAC
		s                  string
		mcast, bcast, zero bool
	}{
		{macA, "52:54:00:12:34:56", false, false, false},
		{BroadcastMAC, "ff:ff:ff:ff:ff:ff", true, true, false},
		{MAC{0x01, 0x00, 0x5e, 0, 0, 1}, "01:00:5e:00:00:01", true, false, false},
		{MAC{}, "00:00:00:00:00:00", false, false, true},
	} {
		if c.m.String() != c.s || c.m.IsMulticast() != c.mcast || c.m.IsBroadcast() != c.bcast || c.m.IsZero() != c.zero {
			t.Errorf("%s: %q multicast %v broadcast %v zero %v", c.s, c.m, c.m.IsMulticast(), c.m.IsBroadcast(), c.m.IsZero())
		}
	}
	// ip_eth_mc_map: 01:00:5e and the group's low 23 bits.
	for _, c := range []struct {
		g    Addr
		want MAC
	}{
		{AddrOf(224, 0, 0, 1), MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}},
		{AddrOf(239, 1, 1, 1), MAC{0x01, 0x00, 0x5e, 0x01, 0x01, 0x01}},
		{AddrOf(224, 128, 1, 2), MAC{0x01, 0x00, 0x5e, 0x00, 0x01, 0x02}},
		{AddrOf(239, 255, 255, 250), MAC{0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa}},
	} {
		if got := MulticastMAC(c.g); got != c.want {
			t.Errorf("MulticastMAC(%v) = %v, want %v", c.g, got, c.want)
		}
	}
}
