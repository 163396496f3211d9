package testbench

import (
	"encoding/hex"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var (
	tester = netip.MustParseAddr("10.0.2.9")
	guest  = netip.MustParseAddr("10.0.2.15")
)

func TestUDPFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		udp       UDP
		wantValid bool
	}{
		{"plain", UDP{Src: netip.AddrPortFrom(tester, 4000), Dst: netip.AddrPortFrom(guest, 7), Payload: []byte("hello")}, true},
		{"empty", UDP{Src: netip.AddrPortFrom(tester, 4000), Dst: netip.AddrPortFrom(guest, 7)}, true},
		{"bad", UDP{Src: netip.AddrPortFrom(tester, 1), Dst: netip.AddrPortFrom(guest, 9), Payload: make([]byte, 100), BadChecksum: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Ether(MAC{2, 0, 0, 0, 0, 1}, MAC{2, 0, 0, 0, 0, 9}, 0x0800, -1, tc.udp.Packet().Bytes())
			if len(f) < 60 {
				t.Fatalf("frame of %d bytes not padded", len(f))
			}
			p := Parse(f)
			if p.IPSrc != tester || p.IPDst != guest || p.DstPort != tc.udp.Dst.Port() || string(p.UDPData) != string(tc.udp.Payload) {
				t.Fatalf("parsed %+v", p)
			}
			if !header.IPv4(p.IP).IsChecksumValid() {
				t.Fatal("bad IP header checksum")
			}
			u := header.UDP(p.L4)
			valid := u.IsChecksumValid(tcpip.AddrFrom4(tester.As4()), tcpip.AddrFrom4(guest.As4()), checksum.Checksum(u.Payload(), 0))
			if valid != tc.wantValid {
				t.Fatalf("UDP checksum valid = %v", valid)
			}
		})
	}
}

func TestFragmentCoversPayload(t *testing.T) {
	u := UDP{Src: netip.AddrPortFrom(tester, 1), Dst: netip.AddrPortFrom(guest, 9), Payload: make([]byte, 3000)}
	frags := Fragment(u.Packet(), 1480, 1480)
	if len(frags) != 3 {
		t.Fatalf("%d fragments", len(frags))
	}
	total := 0
	for i, f := range frags {
		p := Parse(Ether(MAC{}, MAC{}, 0x0800, -1, f.Bytes()))
		if p.FragOff != total || p.MF != (i < 2) {
			t.Fatalf("fragment %d: off %d MF %v", i, p.FragOff, p.MF)
		}
		total += len(p.L4)
	}
	if total != 3008 {
		t.Fatalf("fragments carry %d bytes, want 3008", total)
	}
}

func TestParseMAC(t *testing.T) {
	m, ok := ParseMAC("52:54:00:12:00:01")
	if !ok || m != (MAC{0x52, 0x54, 0, 0x12, 0, 1}) {
		t.Fatal(m, ok)
	}
	if _, ok := ParseMAC("52:54:00:12:00"); ok {
		t.Fatal("short MAC accepted")
	}
}

func TestVLANTag(t *testing.T) {
	f := Ether(Broadcast, MAC{2}, 0x0800, 100, []byte{0x45})
	if f[12] != 0x81 || f[13] != 0 || f[15] != 100 || f[16] != 8 || f[17] != 0 {
		t.Fatalf("tag bytes % x", f[12:18])
	}
}

func TestICMPBytes(t *testing.T) {
	for _, tc := range []struct {
		m    ICMP
		want string // the message with its checksum zeroed
	}{
		{ICMP{Type: 8, Rest: [4]byte{0, 1, 0, 2}, Payload: []byte("ab")}, "08000000000100026162"},
		{ICMP{Type: 3, Code: 3, Payload: []byte{0x45}}, "030300000000000045"},
		{ICMP{Type: 50}, "3200000000000000"},
		{ICMP{Type: 8, Payload: []byte("bad"), BadChecksum: true}, "0800000000000000626164"},
	} {
		b := tc.m.Bytes()
		valid := ^checksum.Checksum(b, 0) == 0
		if valid == tc.m.BadChecksum {
			t.Errorf("%+v: checksum %x valid %v", tc.m, b[2:4], valid)
		}
		z := append([]byte(nil), b...)
		z[2], z[3] = 0, 0
		if got := hex.EncodeToString(z); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.m, got, tc.want)
		}
	}
}
