package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// The reflector, an XDP program returning XDP_TX from the driver's poll,
// answers every frame as an echo would (Ethernet and IP addresses and UDP
// ports swapped, checksums still valid): N frames in, N out, and the
// driver's counters agree.
func TestReflectorReturnsEveryFrame(t *testing.T) {
	mac, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(mac, guestIP)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	vm := boot(t, qemu.Config{Net: nd, Append: []string{"kaidoku.mode=reflector", "kaidoku.stats.console=250ms"}})

	const n = 2000
	const window = 32
	src := netip.AddrPortFrom(testerIP, 4000)
	reflected := func(p testbench.Parsed) bool {
		return p.Src == mac && p.Dst == b.MAC && p.Proto == 17 && p.IPSrc == guestIP && p.IPDst == testerIP &&
			p.SrcPort == 7 && p.DstPort == 4000
	}
	got := 0
	seen := map[string]bool{}
	for sent := 0; got < n; {
		for ; sent < n && sent-got < window; sent++ {
			if err := b.SendUDP(src, 7, []byte(fmt.Sprintf("frame %06d", sent))); err != nil {
				t.Fatal(err)
			}
		}
		p, err := b.Next(reflected, 10*time.Second)
		if err != nil {
			t.Fatalf("after %d of %d reflected: %v", got, n, err)
		}
		if seen[string(p.UDPData)] {
			t.Fatalf("%q reflected twice", p.UDPData)
		}
		if !checksumsValid(p) {
			t.Fatalf("reflected frame with a bad checksum: % x", p.Raw)
		}
		seen[string(p.UDPData)] = true
		got++
	}
	if extra := b.Count(reflected, 500*time.Millisecond); extra != 0 {
		t.Fatalf("%d frames reflected more than once", extra)
	}

	// The driver counted exactly what crossed it: wait for a STATS line
	// that has seen all of it.
	re := regexp.MustCompile(`^STATS `)
	deadline := time.Now().Add(10 * time.Second)
	for from := 0; ; {
		l, i, err := vm.Console.Expect(re, from, time.Until(deadline))
		if err != nil {
			t.Fatalf("no STATS line with every frame counted: %v", err)
		}
		from = i + 1
		m, err := testbench.ParseConsoleStats(l.Text)
		if err != nil {
			t.Fatal(err)
		}
		if m["rx_packets"] < uint64(n) || m["tx_packets"] < uint64(n) {
			continue
		}
		if m["rx_packets"] != uint64(n) || m["rx_drops"] != 0 || m["tx_packets"] != uint64(n) || m["xdp_tx"] != uint64(n) || m["faults"] != 0 {
			t.Fatalf("driver counters disagree with %d frames: %s", n, l.Text)
		}
		t.Logf("%s", l.Text)
		break
	}
}

// checksumsValid reports whether p's IPv4 header and UDP checksums hold.
func checksumsValid(p testbench.Parsed) bool {
	sum := func(s uint32, b []byte) uint32 {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
		for s > 0xffff {
			s = s>>16 + s&0xffff
		}
		return s
	}
	ihl := int(p.IP[0]&0xf) * 4
	if sum(0, p.IP[:ihl]) != 0xffff {
		return false
	}
	if p.L4[6] == 0 && p.L4[7] == 0 {
		return true // no UDP checksum
	}
	pseudo := sum(0, p.IP[12:20]) + 17 + uint32(len(p.L4))
	return sum(pseudo, p.L4) == 0xffff
}
