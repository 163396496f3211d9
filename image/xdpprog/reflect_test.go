package xdpprog

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/kaidoku-net/kaidoku/xdp"
)

// csum is the Internet checksum's folded ones' complement sum.
func csum(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return sum
}

// udpFrame builds an Ethernet/IPv4/UDP frame with valid checksums.
func udpFrame(src, dst [4]byte, sport, dport uint16, frag uint16, payload []byte) []byte {
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 1})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	binary.BigEndian.PutUint16(ip[6:], frag)
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:], ^uint16(csum(0, ip[:20])))
	u := ip[20:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	binary.BigEndian.PutUint16(u[6:], ^uint16(csum(udpPseudo(ip), u)))
	return f
}

func udpPseudo(ip []byte) uint32 {
	s := csum(0, ip[12:20])
	return s + 17 + uint32(binary.BigEndian.Uint16(ip[2:])) - 20
}

func run(prog xdp.Program, f []byte) ([]byte, xdp.Action) {
	buf := make([]byte, 32+len(f)+32)
	copy(buf[32:], f)
	var b xdp.Buff
	b.Init(buf, 32, 32+len(f))
	act := prog(&b)
	return b.Data(), act
}

func TestReflect(t *testing.T) {
	a, c := [4]byte{10, 0, 2, 2}, [4]byte{10, 0, 2, 15}
	req := udpFrame(a, c, 40000, 7, 0, []byte("hello, reflector"))
	got, act := run(Reflect, req)
	if act != xdp.TX {
		t.Fatalf("action %v", act)
	}
	want := udpFrame(c, a, 7, 40000, 0, []byte("hello, reflector"))
	copy(want[0:6], req[6:12])
	copy(want[6:12], req[0:6])
	if !bytes.Equal(got, want) {
		t.Fatalf("reflected\n % x\nwant\n % x", got, want)
	}
	ip := got[14:]
	if csum(0, ip[:20]) != 0xffff || csum(udpPseudo(ip), ip[20:]) != 0xffff {
		t.Fatal("checksums broken")
	}

	// A later fragment keeps its payload: no ports to swap.
	frag := udpFrame(a, c, 40000, 7, 100, []byte("fragment"))
	got, _ = run(Reflect, frag)
	if !bytes.Equal(got[14+20:], frag[14+20:]) || !bytes.Equal(got[14+12:14+16], c[:]) {
		t.Fatalf("fragment: % x", got)
	}

	// ARP and runts: MACs swapped only.
	for _, f := range [][]byte{
		append(append(append([]byte{}, req[:12]...), 0x08, 0x06), make([]byte, 28)...),
		req[:14+10],
	} {
		got, act = run(Reflect, f)
		if act != xdp.TX || !bytes.Equal(got[0:6], f[6:12]) || !bytes.Equal(got[6:12], f[0:6]) || !bytes.Equal(got[12:], f[12:]) {
			t.Fatalf("% x reflected as % x (%v)", f, got, act)
		}
	}
}
