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

// The driver's reflector returns every frame with its MAC addresses
// swapped: N frames in, N out, and the driver's counters agree.
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
		return p.Src == mac && p.Dst == b.MAC && p.Proto == 17 && p.SrcPort == 4000 && p.DstPort == 7
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
		if m["rx_packets"] != uint64(n) || m["rx_drops"] != 0 || m["tx_packets"] != uint64(n) || m["reflected"] != uint64(n) || m["faults"] != 0 {
			t.Fatalf("driver counters disagree with %d frames: %s", n, l.Text)
		}
		t.Logf("%s", l.Text)
		break
	}
}
