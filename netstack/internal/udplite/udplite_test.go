package udplite

import (
	"encoding/binary"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// TestUDP4CsumInit pins udplite_checksum_init's coverage rules and when
// the sum is checked: at once for a short fully covered datagram, at
// delivery (udp_lib_checksum_complete) otherwise.
func TestUDP4CsumInit(t *testing.T) {
	src, dst := wire.AddrOf(10, 0, 0, 9), wire.AddrOf(10, 0, 0, 5)
	pool, err := skb.NewPool("udplite", 512, 1, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	// datagram returns n bytes with coverage field cov and a checksum
	// over sumOver bytes (0: none written).
	datagram := func(n, cov, sumOver int) []byte {
		u := make([]byte, n)
		for i := 8; i < n; i++ {
			u[i] = byte(i * 7)
		}
		binary.BigEndian.PutUint16(u[4:], uint16(cov))
		if sumOver > 0 {
			c := wire.CsumFold(wire.Checksum(u[:sumOver], wire.PseudoSum(src, dst, ProtoUDPLite, n)))
			binary.BigEndian.PutUint16(u[6:], c)
		}
		return u
	}
	for _, tc := range []struct {
		name      string
		u         []byte
		unnec     bool // the device verified it (CHECKSUM_UNNECESSARY)
		cscov     int
		initOK    bool
		deliverOK bool
	}{
		{"full coverage, short, good", datagram(40, 0, 40), false, 40, true, true},
		{"full coverage, short, bad", datagram(40, 0, 39), false, 40, false, false},
		{"full coverage, long, bad: found at delivery", datagram(200, 0, 199), false, 200, true, false},
		{"coverage equal to the length", datagram(40, 40, 40), false, 40, true, true},
		{"partial coverage, good", datagram(200, 20, 20), false, 20, true, true},
		{"partial coverage, bad: found at delivery", datagram(40, 20, 21), false, 20, true, false},
		{"header-only coverage", datagram(40, 8, 8), false, 8, true, true},
		{"coverage below the header", datagram(40, 7, 40), false, 40, false, false},
		{"coverage past the end", datagram(40, 41, 40), false, 40, false, false},
		{"zero checksum", datagram(40, 0, 0), false, 40, false, false},
		{"verified by the device", datagram(200, 0, 1), true, 200, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := pool.Get()
			defer b.Free()
			copy(b.Put(len(tc.u)), tc.u)
			if tc.unnec {
				b.IPSummed = skb.ChecksumUnnecessary
			}
			cscov, ok := udp4CsumInit(b, wire.UDP(b.Data()), src, dst)
			if ok != tc.initOK || (ok && cscov != tc.cscov) {
				t.Fatalf("init: coverage %d ok %v, want %d %v", cscov, ok, tc.cscov, tc.initOK)
			}
			if !ok {
				return
			}
			if got := udpLibChecksumComplete(b, cscov); got != tc.deliverOK {
				t.Fatalf("at delivery: %v, want %v", got, tc.deliverOK)
			}
		})
	}
}
