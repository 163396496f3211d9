package e2e

// End-to-end fuzzing: damaged frames (testbench.Mutator) sent into the
// booted image in batches; after each batch the guest must still answer
// its echo service and its stats service, and its counters must stay
// consistent. At the end, once the reassembly queues the fuzz opened have
// timed out, every frame the bench sent is accounted for and the pools
// and goroutines are back at their baseline.
//
// KAIDOKU_FUZZ_TIME=<duration> sets how long to fuzz (default 40s, 10m
// with KAIDOKU_LONG); KAIDOKU_FUZZ_SEED the mutator's seed.

import (
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

func fuzzTime() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("KAIDOKU_FUZZ_TIME")); err == nil && d > 0 {
		return d
	}
	if longRun() {
		return 10 * time.Minute
	}
	return 40 * time.Second
}

func TestFrameFuzz(t *testing.T) {
	dur := fuzzTime()
	seed := uint64(envInt("KAIDOKU_FUZZ_SEED", int(time.Now().UnixNano()&0xffffff)))
	const batch = 500
	g := bootRel(t, relOpts{lifetime: dur + 5*time.Minute})
	gc0, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	a0 := g.acct()
	m := testbench.NewMutator(g.b, seed)
	t.Logf("mutator seed %d (KAIDOKU_FUZZ_SEED=%d reproduces the frames)", seed, seed)
	echoSrc := addr(testerIP, 4444)
	batches, frames := 0, 0
	var lastKinds []string
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		g.b.Drain()
		lastKinds = lastKinds[:0]
		for i := 0; i < batch; i++ {
			f, kind := m.Next()
			lastKinds = append(lastKinds, kind)
			if err := g.b.Inject(f); err != nil {
				t.Fatal(err)
			}
			frames++
			if i%50 == 49 {
				// Do not outrun QEMU: let its socket drain.
				g.waitQuiet(30*time.Second, nil)
			}
		}
		batches++
		g.waitQuiet(30*time.Second, nil)
		// The guest still answers.
		if !g.echoes(echoSrc, fmt.Sprintf("batch %d", batches)) {
			t.Fatalf("after batch %d (%d frames, seed %d) the echo service does not answer; last kinds: %s",
				batches, frames, seed, strings.Join(lastKinds[max(0, len(lastKinds)-20):], " "))
		}
		st, err := g.sc.All()
		if err != nil {
			t.Fatalf("after batch %d (seed %d) the stats service does not answer: %v", batches, seed, err)
		}
		if !fuzzConsistent(t, a0.st, st) {
			t.Fatalf("after batch %d (seed %d): inconsistent counters", batches, seed)
		}
	}
	// Let the reassembly queues the fuzz opened time out (30 s).
	fragsGone := func() bool {
		ss, err := g.a.Sockstat()
		if err != nil {
			t.Fatal(err)
		}
		return ss.FragQueues == 0 && ss.FragMemory == 0
	}
	g.waitQuiet(45*time.Second, fragsGone)
	a1 := g.acct()
	backend := frameAccounting(t, a0, a1)
	memCheck(t, a0.st, a1.st)
	gc1, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	gcCheck(t, gc0, gc1, 512<<10)
	if !g.echoes(echoSrc, "final") {
		t.Error("the echo service does not answer at the end")
	}

	r := &report{name: "e2e-fuzz"}
	r.f("## End-to-end fuzz: %d damaged frames in %d batches of %d over %v (seed %d)", frames, batches, batch, dur, seed)
	r.f("")
	r.f("After every batch the echo and stats services answered and the counters were consistent.")
	r.f("Frames: bench sent %d, guest driver took %d, host dropped %d on QEMU's socket.", a1.fc.Sent-a0.fc.Sent, d(a0, a1, "dev.rx.packets"), backend)
	r.f("")
	r.f("Frames by base kind: %s.", kindCounts(m.Counts))
	r.f("")
	r.f("| counter | change |")
	r.f("|---|---|")
	for _, n := range []string{"Ip.InReceives", "Ip.InHdrErrors", "Ip.InAddrErrors", "Ip.InUnknownProtos", "Ip.InDiscards",
		"Ip.InDelivers", "IpExt.InTruncatedPkts", "IpExt.InCsumErrors", "IpExt.InBcastPkts", "IpExt.InMcastPkts",
		"Ip.ReasmReqds", "Ip.ReasmOKs", "Ip.ReasmFails", "Ip.ReasmTimeout", "IpExt.ReasmOverlaps",
		"Udp.InDatagrams", "Udp.NoPorts", "Udp.InErrors", "Udp.InCsumErrors", "Udp.IgnoredMulti",
		"Icmp.InMsgs", "Icmp.InErrors", "Icmp.InCsumErrors", "Icmp.OutMsgs", "Icmp.OutRateLimitHost", "Icmp.OutRateLimitGlobal"} {
		r.f("| %s | %d |", n, d(a0, a1, n))
	}
	for _, n := range []string{"dev.rx_length_errors", "dev.rx_frame_errors", "dev.rx.drops", "link.rx_dropped", "link.rx_otherhost_dropped", "link.rx_length_errors"} {
		r.f("| %s | %d |", n, d(a0, a1, n))
	}
	r.f("| refused by stats / agent, agent malformed | %d / %d / %d |", a1.st.Counter("svc.stats.refused")-a0.st.Counter("svc.stats.refused"),
		a1.st.Counter("svc.agent.refused")-a0.st.Counter("svc.agent.refused"), a1.st.Counter("svc.agent.malformed")-a0.st.Counter("svc.agent.malformed"))
	r.f("")
	r.f("Drop reasons (delta): %s.", dropDeltas(a0.st, a1.st))
	r.f("Memory: frame pool in use %d → %d (peak %d), live heap after GC %d → %d, goroutines %d → %d.",
		a0.st.Counter("pool.frames.in_use"), a1.st.Counter("pool.frames.in_use"), a1.st.Counter("pool.frames.peak_in_use"), gc0.HeapAlloc, gc1.HeapAlloc, gc0.Goroutines, gc1.Goroutines)
	r.done(t)
}

// echoes reports whether the echo service answers a request from src
// (three tries, one second each).
func (g *relGuest) echoes(src netip.AddrPort, payload string) bool {
	for i := 0; i < 3; i++ {
		got, err := g.b.Request(src, 7, []byte(payload), time.Second)
		if err == nil && string(got) == payload {
			return true
		}
	}
	return false
}

// fuzzConsistent checks what must hold whatever the frames were.
func fuzzConsistent(t *testing.T, base, st *testbench.Stats) bool {
	t.Helper()
	ok := true
	dv := func(n string) int64 { return st.Counter(n) - base.Counter(n) }
	ipErr := dv("Ip.InHdrErrors") + dv("Ip.InAddrErrors") + dv("Ip.InUnknownProtos") + dv("Ip.InDiscards") +
		dv("IpExt.InNoRoutes") + dv("IpExt.InTruncatedPkts")
	if dv("Ip.InReceives") < dv("Ip.InDelivers")+ipErr {
		t.Errorf("Ip.InReceives +%d < Ip.InDelivers +%d + errors %d", dv("Ip.InReceives"), dv("Ip.InDelivers"), ipErr)
		ok = false
	}
	if dv("Ip.ReasmOKs")+dv("Ip.ReasmFails") > dv("Ip.ReasmReqds") {
		t.Errorf("Ip.ReasmOKs +%d + ReasmFails +%d > ReasmReqds +%d", dv("Ip.ReasmOKs"), dv("Ip.ReasmFails"), dv("Ip.ReasmReqds"))
		ok = false
	}
	if dv("Udp.RcvbufErrors") > dv("Udp.InErrors") || dv("Udp.InCsumErrors") > dv("Udp.InErrors") {
		t.Errorf("Udp.InErrors +%d below RcvbufErrors +%d or InCsumErrors +%d", dv("Udp.InErrors"), dv("Udp.RcvbufErrors"), dv("Udp.InCsumErrors"))
		ok = false
	}
	for _, p := range []string{"frames", "large"} {
		if n := st.Counter("pool." + p + ".double_free"); n != 0 {
			t.Errorf("pool %s: %d double frees", p, n)
			ok = false
		}
	}
	// Buffers the stack may hold: reassembly (4 MiB of truesize, up to
	// about 2850 small fragments charged 1280 + 192 per queue) and socket
	// queues (a few hundred).
	if h := framesHeld(st); h > framesHeld(base)+4096 {
		t.Errorf("the stack holds %d frame buffers (%d at the start)", h, framesHeld(base))
		ok = false
	}
	if st.Counter("dev.link_up") != 1 || st.Counter("dev.resets") != base.Counter("dev.resets") {
		t.Errorf("device: link %d, resets %d", st.Counter("dev.link_up"), st.Counter("dev.resets"))
		ok = false
	}
	return ok
}

// kindCounts sums the mutator's counts by base kind.
func kindCounts(c map[string]int) string {
	by := map[string]int{}
	for k, n := range c {
		base, _, _ := strings.Cut(k, "+")
		by[base] += n
	}
	var out []string
	for k, n := range by {
		out = append(out, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
