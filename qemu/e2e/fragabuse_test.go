package e2e

// Fragment abuse against the booted image (ip_fragment.c's reassembly; the checklist's fragmentation items):
// datagrams of the largest size reassembled and echoed; duplicate,
// overlapping, tiny, empty and oversized fragment trains with Linux's
// exact counters; then a high-rate flood of fragments that never
// complete, which must stop at the 4 MiB reassembly threshold (every
// fragment beyond it refused and counted, even one that would complete a
// datagram) and time out after 30 s, one ReasmTimeout and one ICMP time
// exceeded attempt per queue, leaving the pools as they were.

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

const (
	fragHighThresh = 4 << 20
	frameTruesize  = 1280 + 1536 // a 1514-byte frame: a copied 1 KiB skb head and its 1536-byte receive buffer as a fragment
	ipqSize        = 192         // per reassembly queue
)

var reasmCounters = []string{"Ip.InReceives", "Ip.InDelivers", "Ip.ReasmReqds", "Ip.ReasmOKs", "Ip.ReasmFails",
	"Ip.ReasmTimeout", "IpExt.ReasmOverlaps", "Icmp.OutTimeExcds", "Icmp.OutRateLimitGlobal", "Icmp.OutRateLimitHost",
	"Udp.InDatagrams", "Udp.OutDatagrams", "Ip.FragCreates", "Ip.FragOKs"}

func TestFragmentAbuse(t *testing.T) {
	g := bootRel(t, relOpts{lifetime: 5 * time.Minute})
	gc0, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	a0 := g.acct()
	r := &report{name: "fragments"}
	r.f("## Fragment abuse")
	r.f("")
	r.f("| case | fragments sent | ReasmReqds | ReasmOKs | ReasmFails | ReasmOverlaps | delivered |")
	r.f("|---|---|---|---|---|---|---|")
	src := netip.MustParseAddr("10.0.2.31")
	id := uint16(1000)
	udp := func(from netip.Addr, sport, dport uint16, payload []byte) testbench.IPv4 {
		id++
		p := testbench.UDP{Src: addr(from, sport), Dst: addr(guestIP, dport), Payload: payload}.Packet()
		p.ID = id
		return p
	}
	frames := func(ps []testbench.IPv4) [][]byte {
		var out [][]byte
		for _, p := range ps {
			out = append(out, testbench.Ether(g.b.GuestMAC, g.b.MAC, 0x0800, -1, p.Bytes()))
		}
		return out
	}
	send := func(ps []testbench.IPv4) {
		t.Helper()
		if _, err := g.b.InjectAll(frames(ps), 64<<10); err != nil {
			t.Fatal(err)
		}
	}
	snap := func() map[string]uint64 {
		t.Helper()
		v, err := g.a.Counters(reasmCounters...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// check runs one case: frames sent, then the exact counter changes
	// (agent traffic discounted: each call is one datagram in, read,
	// and one out).
	check := func(name string, run func() (sent, delivered int), want map[string]int64) {
		t.Helper()
		s0, c0 := snap(), g.a.Calls()
		n, delivered := run()
		g.waitQuiet(30*time.Second, nil)
		s1, c1 := snap(), g.a.Calls()
		calls := int64(c1 - c0)
		got := map[string]int64{}
		for _, k := range reasmCounters {
			got[k] = int64(s1[k]) - int64(s0[k])
			if agentCounted[k] {
				got[k] -= calls
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s changed by %d, want %d", name, k, got[k], v)
			}
		}
		r.f("| %s | %d | %d | %d | %d | %d | %d |", name, n, got["Ip.ReasmReqds"], got["Ip.ReasmOKs"], got["Ip.ReasmFails"],
			got["IpExt.ReasmOverlaps"], delivered)
	}

	// Datagrams of the largest size (65507 payload bytes, 45 fragments)
	// through the echo service: reassembled, echoed (the guest fragments
	// the reply) and compared.
	const big = 65507
	bigN := 6
	if longRun() {
		bigN = 50
	}
	check(fmt.Sprintf("%d datagrams of %d bytes (45 fragments each), echoed intact", bigN, big), func() (int, int) {
		sent, echoed := 0, 0
		for i := 0; i < bigN; i++ {
			payload := make([]byte, big)
			for j := range payload {
				payload[j] = byte(i*7 + j*13)
			}
			fr := testbench.Fragment(udp(testerIP, uint16(41000+i), 7, payload), repeat(1480, 44)...)
			sent += len(fr)
			send(fr)
			got, err := g.b.RecvUDP(addr(guestIP, 7), addr(testerIP, uint16(41000+i)), 20*time.Second)
			if err != nil {
				t.Fatalf("65507-byte echo %d: %v", i, err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("65507-byte echo %d: %d bytes back, content differs", i, len(got))
			}
			echoed++
		}
		return sent, echoed
	}, map[string]int64{"Ip.ReasmReqds": int64(45 * bigN), "Ip.ReasmOKs": int64(bigN), "Ip.ReasmFails": 0,
		"Udp.InDatagrams": int64(bigN), "Ip.FragOKs": int64(bigN), "Ip.FragCreates": int64(45 * bigN)})

	const n = 20
	payload3000 := make([]byte, 3000)
	// Item 47: 1, 2, 2, 3 → one delivery.
	check("duplicate middle fragment (1,2,2,3)", func() (int, int) {
		for i := 0; i < n; i++ {
			f := testbench.Fragment(udp(src, 5000, 9, payload3000), 1480, 1480)
			send([]testbench.IPv4{f[0], f[1], f[1], f[2]})
		}
		return 4 * n, n
	}, map[string]int64{"Ip.ReasmReqds": 4 * n, "Ip.ReasmOKs": n, "Ip.ReasmFails": 0, "IpExt.ReasmOverlaps": 0, "Ip.InDelivers": n})
	// Item 48: partial overlap → the whole datagram discarded.
	check("partial overlap", func() (int, int) {
		for i := 0; i < n; i++ {
			p := udp(src, 5000, 9, make([]byte, 100))
			a, b := p, p
			a.Flags, a.Payload = 0x1, p.Payload[:16]
			b.Flags, b.FragOffset, b.Payload = 0x1, 8, bytes.Repeat([]byte{0xee}, 16)
			send([]testbench.IPv4{a, b})
		}
		return 2 * n, 0
	}, map[string]int64{"Ip.ReasmReqds": 2 * n, "Ip.ReasmOKs": 0, "Ip.ReasmFails": n, "IpExt.ReasmOverlaps": n, "Ip.InDelivers": 0})
	// Tiny fragments: 8 bytes each.
	check("8-byte fragments (26 per datagram)", func() (int, int) {
		for i := 0; i < n; i++ {
			send(testbench.Fragment(udp(src, 5000, 9, make([]byte, 200)), repeat(8, 25)...))
		}
		return 26 * n, n
	}, map[string]int64{"Ip.ReasmReqds": 26 * n, "Ip.ReasmOKs": n, "Ip.ReasmFails": 0, "Ip.InDelivers": n})
	// Item 53: an empty fragment discards its queue.
	check("empty fragment (MF, no payload)", func() (int, int) {
		for i := 0; i < n; i++ {
			p := udp(src, 5000, 9, nil)
			p.Flags, p.Payload = 0x1, nil
			send([]testbench.IPv4{p})
		}
		return n, 0
	}, map[string]int64{"Ip.ReasmReqds": n, "Ip.ReasmOKs": 0, "Ip.ReasmFails": n, "Ip.InDelivers": 0})
	// Item 52: a train reassembling to more than 65535 bytes.
	check("train reassembling to 65540 bytes", func() (int, int) {
		for i := 0; i < 2; i++ {
			send(testbench.Fragment(udp(src, 5000, 9, make([]byte, 65512)), repeat(1480, 44)...))
		}
		return 90, 0
	}, map[string]int64{"Ip.ReasmReqds": 90, "Ip.ReasmOKs": 0, "Ip.ReasmFails": 2, "Ip.InDelivers": 0})

	// The flood of fragments that never complete: offset 0, MF, 1480
	// bytes, each its own queue, from several sources, as fast as QEMU
	// takes them.
	abuse := 3000
	if longRun() {
		abuse = 20000
	}
	var flood [][]byte
	for i := 0; i < abuse; i++ {
		from := netip.AddrFrom4([4]byte{10, 0, 2, byte(40 + i%20)})
		p := udp(from, 6000, 9, make([]byte, 2000))
		flood = append(flood, frames(testbench.Fragment(p, 1480)[:1])...)
	}
	af0 := g.acct()
	s0, c0 := snap(), g.a.Calls()
	start := time.Now()
	if _, err := g.b.InjectAll(flood, 128<<10); err != nil {
		t.Fatal(err)
	}
	g.waitQuiet(30*time.Second, nil)
	floodTime := time.Since(start)
	// QEMU's socket empty is not the guest done: QEMU and the receive
	// ring may still hold the last frames. Every frame is in ip_defrag
	// once ReasmReqds and the frames the host's socket dropped before
	// QEMU read them (it stops reading while no receive buffer is
	// posted) add up to the flood.
	var reqds, hostDrops int64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		hs, err := g.b.BackendSocket()
		if err != nil {
			t.Fatal(err)
		}
		hostDrops = hs.Drops - af0.fc.Backend.Drops
		reqds = int64(snap()["Ip.ReasmReqds"] - s0["Ip.ReasmReqds"])
		if reqds+hostDrops >= int64(abuse) || time.Now().After(deadline) {
			break
		}
	}
	ss, err := g.a.Sockstat()
	if err != nil {
		t.Fatal(err)
	}
	s1, c1 := snap(), g.a.Calls()
	af1 := g.acct()
	queues := ss.FragQueues
	fails := int64(s1["Ip.ReasmFails"] - s0["Ip.ReasmFails"])
	inRecv := int64(s1["Ip.InReceives"]-s0["Ip.InReceives"]) - int64(c1-c0)
	if want := int64(abuse) - hostDrops; reqds != want || inRecv != want {
		// Name where the rest went: every drop site has a counter.
		var moved []string
		v0 := af0.st.Snapshot.Values()
		for k, v1 := range af1.st.Snapshot.Values() {
			if dv := v1 - v0[k]; dv != 0 && (strings.Contains(k, "drop") || strings.Contains(k, "err") || strings.Contains(k, "miss")) {
				moved = append(moved, fmt.Sprintf("%s +%d", k, dv))
			}
		}
		slices.Sort(moved)
		t.Errorf("fragment flood: %d sent, %d dropped by QEMU's host socket, Ip.InReceives +%d, ReasmReqds +%d (want %d); "+
			"the driver received %d frames (with the stats calls); drop counters that moved: %v",
			abuse, hostDrops, inRecv, reqds, want, d(af0, af1, "dev.rx.packets"), moved)
	}
	if hostDrops != 0 {
		t.Logf("fragment flood: QEMU's host socket dropped %d frames", hostDrops)
	}
	// One receive buffer in 21 takes the rest of its 32 KiB page
	// fragment: 2048 bytes, which Linux makes the skb head of a 1514-byte
	// frame (truesize 2304, 512 less than frameTruesize).
	if short := queues*(frameTruesize+ipqSize) - ss.FragMemory; short < 0 || short%512 != 0 || short/512 > queues/21+1 {
		t.Errorf("reassembly memory %d for %d queues of one %d-byte fragment each (want %d, less 512 for at most one in 21)", ss.FragMemory, queues, frameTruesize, queues*(frameTruesize+ipqSize))
	}
	if ss.FragMemory > fragHighThresh+frameTruesize+ipqSize {
		t.Errorf("reassembly memory %d beyond the threshold %d (plus one fragment)", ss.FragMemory, fragHighThresh)
	}
	if fails != reqds-queues {
		t.Errorf("fragment flood: %d fragments, %d queues, ReasmFails +%d (want %d)", reqds, queues, fails, reqds-queues)
	}
	r.f("| never completed (offset 0, MF, 1480 bytes; 20 sources) at %.0f/s | %d | %d | 0 | %d | 0 | 0 |", float64(abuse)/floodTime.Seconds(), abuse, reqds, fails)
	peak := g.acct()

	// Over the threshold, even a datagram that would complete is refused
	// (item 60).
	refused := udp(testerIP, 42999, 7, make([]byte, 2000))
	check("valid 2-fragment datagram while over the threshold", func() (int, int) {
		send(testbench.Fragment(refused, 1480))
		if _, err := g.b.RecvUDP(addr(guestIP, 7), addr(testerIP, 42999), time.Second); err == nil {
			t.Error("a datagram was reassembled while over the threshold")
			return 2, 1
		}
		return 2, 0
	}, map[string]int64{"Ip.ReasmReqds": 2, "Ip.ReasmOKs": 0, "Ip.ReasmFails": 2})

	// Every queue times out after 30 s: one ReasmTimeout and ReasmFails
	// each, and an ICMP time exceeded (or a rate-limiter refusal) each,
	// since each holds its offset-0 fragment.
	s2 := snap()
	g.waitQuiet(60*time.Second, func() bool {
		ss, err := g.a.Sockstat()
		if err != nil {
			t.Fatal(err)
		}
		return ss.FragQueues == 0
	})
	expiredAfter := time.Since(start)
	s3 := snap()
	dv := func(k string) int64 { return int64(s3[k]) - int64(s2[k]) }
	if dv("Ip.ReasmTimeout") != queues || dv("Ip.ReasmFails") != queues {
		t.Errorf("%d queues expired: ReasmTimeout +%d, ReasmFails +%d", queues, dv("Ip.ReasmTimeout"), dv("Ip.ReasmFails"))
	}
	icmp := dv("Icmp.OutTimeExcds") + dv("Icmp.OutRateLimitGlobal") + dv("Icmp.OutRateLimitHost")
	if icmp != queues {
		t.Errorf("%d queues with their first fragment expired: %d time exceeded sent, %d refused by the global limiter, %d by the per-host one",
			queues, dv("Icmp.OutTimeExcds"), dv("Icmp.OutRateLimitGlobal"), dv("Icmp.OutRateLimitHost"))
	}
	timeExceeded := g.b.Count(testbench.IsICMP(11, 1, netip.Addr{}), 0)
	r.f("")
	r.f("After the never-completed flood: %d queues holding %d bytes of reassembly memory (threshold %d; %d fragments refused, each ReasmFails+1).",
		queues, ss.FragMemory, fragHighThresh, fails)
	r.f("Expiry: all queues gone %v after the flood began (sockstat polled every 100 ms; the timer is 30 s from each queue's first fragment): ReasmTimeout +%d, ReasmFails +%d; "+
		"ICMP time exceeded sent %d (the bench saw %d), refused by the global limiter %d, by the per-host limiter %d.",
		expiredAfter.Round(100*time.Millisecond), dv("Ip.ReasmTimeout"), dv("Ip.ReasmFails"),
		dv("Icmp.OutTimeExcds"), timeExceeded, dv("Icmp.OutRateLimitGlobal"), dv("Icmp.OutRateLimitHost"))

	// And reassembly works again.
	again := udp(testerIP, 43000, 7, make([]byte, 2000))
	send(testbench.Fragment(again, 1480))
	if _, err := g.b.RecvUDP(addr(guestIP, 7), addr(testerIP, 43000), 5*time.Second); err != nil {
		t.Errorf("no reassembly after the queues expired: %v", err)
	}
	g.b.Drain()
	a1 := g.acct()
	frameAccounting(t, a0, a1)
	memCheck(t, a0.st, a1.st)
	gc1, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	// The pools keep the metadata of buffers the flood freed for reuse
	// (skb.PoolStats.Spare, at most 1024 a pool): heap that stays by
	// design, each a Buffer rounded up to the allocator's size class.
	spare := func(a acct) int64 { return a.st.Counter("pool.frames.spare") + a.st.Counter("pool.large.spare") }
	spares := max(spare(a1)-spare(a0), 0)
	meta := (int64(unsafe.Sizeof(skb.Buffer{})) + 63) &^ 63
	gcCheck(t, gc0, gc1, uint64(512<<10+spares*meta))
	r.f("Spare buffer metadata kept by the pools: %d more than at the baseline (%d bytes each at most).", spares, meta)
	r.f("Frame pool in use: %d before, %d with the queues full, %d after (peak %d); large pool in use %d after; live heap after GC %d → %d.",
		a0.st.Counter("pool.frames.in_use"), peak.st.Counter("pool.frames.in_use"), a1.st.Counter("pool.frames.in_use"), a1.st.Counter("pool.frames.peak_in_use"),
		a1.st.Counter("pool.large.in_use"), gc0.HeapAlloc, gc1.HeapAlloc)
	r.f("Totals (delta): %s.", fmtDeltas(a0, a1, "Ip.ReasmReqds", "Ip.ReasmOKs", "Ip.ReasmFails", "Ip.ReasmTimeout", "IpExt.ReasmOverlaps", "Icmp.OutTimeExcds"))
	r.done(t)
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func fmtDeltas(a0, a1 acct, names ...string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", n, d(a0, a1, n))
	}
	return s
}
