package wire

import (
	"encoding/binary"
	"testing"
)

// rfc1071Sum is the reference of RFC 1071: the data are big-endian 16-bit
// words (an odd last byte is the high byte of a word padded with zero),
// added in one's complement arithmetic. It goes one byte at a time, the
// even bytes weighing 256, and adds each carry back at once (the
// end-around carry), where Checksum adds 32-bit halves of eight-byte
// loads into 64 bits and folds at the end.
func rfc1071Sum(b []byte, initial uint32) uint16 {
	sum := initial>>16 + initial&0xffff
	sum = sum>>16 + sum&0xffff
	for i, c := range b {
		if i%2 == 0 {
			sum += uint32(c) << 8
		} else {
			sum += uint32(c)
		}
		if sum > 0xffff {
			sum = sum - 0x10000 + 1
		}
	}
	return uint16(sum)
}

func TestChecksumVectors(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		sum  uint16 // folded, not complemented
	}{
		{"empty", nil, 0},
		{"RFC 1071 example", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0xddf2},
		{"odd byte", []byte{0xab}, 0xab00},
		{"carry wraps", []byte{0xff, 0xff, 0x00, 0x01}, 0x0001},
		{"all ones stay ones", []byte{0xff, 0xff, 0xff, 0xff}, 0xffff},
	} {
		if got := Fold(Checksum(c.data, 0)); got != c.sum {
			t.Errorf("%s: %#04x, want %#04x", c.name, got, c.sum)
		}
	}
	// An IPv4 header (checksum field zero) whose checksum is 0xb861.
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
		0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if c := IPHeaderChecksum(h); c != 0xb861 {
		t.Fatalf("header checksum %#04x, want 0xb861", c)
	}
	binary.BigEndian.PutUint16(h[10:], 0xb861)
	if c := IPHeaderChecksum(h); c != 0 {
		t.Fatalf("verifying a good header gives %#04x", c)
	}
}

// FuzzChecksum checks the eight-bytes-a-step Checksum against the
// byte-pair reference for any data and starting sum, and that a sum can
// be carried across a split at an even offset (as the pseudo-header and
// a transport header are chained).
func FuzzChecksum(f *testing.F) {
	f.Add([]byte{}, uint32(0), 0)
	f.Add([]byte{0xff}, uint32(0xffffffff), 1)
	f.Add([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, uint32(0), 4)
	f.Add(make([]byte, 67), uint32(0x1234), 33)
	seq := make([]byte, 1501)
	for i := range seq {
		seq[i] = byte(i*31 + 7)
	}
	f.Add(seq, uint32(0xfffe0001), 600)
	f.Fuzz(func(t *testing.T, b []byte, initial uint32, split int) {
		want := rfc1071Sum(b, initial)
		if got := Fold(Checksum(b, uint64(initial))); got != want {
			t.Fatalf("Checksum of %d bytes from %#x: %#04x, reference %#04x", len(b), initial, got, want)
		}
		if got, w := CsumFold(Checksum(b, uint64(initial))), ^want; got != w {
			t.Fatalf("CsumFold %#04x, want %#04x", got, w)
		}
		if len(b) == 0 {
			return
		}
		n := split % (len(b) + 1)
		if n < 0 {
			n = -n
		}
		n &^= 1
		if got := Fold(Checksum(b[n:], Checksum(b[:n], uint64(initial)))); got != want {
			t.Fatalf("split at %d: %#04x, reference %#04x", n, got, want)
		}
	})
}

func TestPseudoSum(t *testing.T) {
	src, dst := AddrOf(10, 0, 0, 9), AddrOf(10, 0, 0, 5)
	ph := make([]byte, 12)
	src.Put(ph[0:])
	dst.Put(ph[4:])
	ph[9] = ProtoUDP
	binary.BigEndian.PutUint16(ph[10:], 1234)
	if got, want := Fold(PseudoSum(src, dst, ProtoUDP, 1234)), rfc1071Sum(ph, 0); got != want {
		t.Fatalf("pseudo-header %#04x, reference %#04x", got, want)
	}
}
