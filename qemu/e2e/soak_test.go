package e2e

// The soak: mixed traffic for a long while — echo at a steady rate,
// bursts to closed ports, fragmented datagrams (and some that never
// complete), broadcasts, damaged frames — with the stats service sampled
// at intervals. Nothing may grow without bound: the pools, the heap, the
// goroutines; every frame is accounted for at the end; the receive-path
// latency is reported per interval (first against last) but not judged.
//
// KAIDOKU_SOAK=<duration> sets the length (default 2m; 30m with
// KAIDOKU_LONG); KAIDOKU_SOAK_OUT=<file> writes the report there
// (make soak: results/soak.md).

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

func soakTime() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("KAIDOKU_SOAK")); err == nil && d > 0 {
		return d
	}
	if longRun() {
		return 30 * time.Minute
	}
	return 2 * time.Minute
}

// soakSample is one interval's view.
type soakSample struct {
	at                         time.Duration
	framesInUse, framesHeld    int64
	largeInUse                 int64
	heap, memInUse, goroutines int64
	latency                    testbench.Latency // this interval's total (T3−T0)
	echo                       testbench.EchoResult
}

func TestSoak(t *testing.T) {
	dur := soakTime()
	interval := min(time.Minute, dur/6)
	// Traffic that leaves state behind (incomplete fragments, damaged
	// frames that open reassembly queues) stops this long before the
	// end, so that the queues have expired when the books are closed.
	const settle = 35 * time.Second
	g := bootRel(t, relOpts{lifetime: dur + 5*time.Minute})
	gc0, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.sc.Section("latency-reset"); err != nil {
		t.Fatal(err)
	}
	a0 := g.acct()

	var (
		wg                                              sync.WaitGroup
		stop                                            = make(chan struct{})
		closedSent, fragSent, incompleteSent, bcastSent atomic.Int64
		fuzzSent                                        atomic.Int64
		sendErr                                         atomic.Value
		lateStop                                        = time.Now().Add(dur - settle)
	)
	every := func(d time.Duration, f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := time.NewTicker(d)
			defer tk.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tk.C:
				}
				f(i)
			}
		}()
	}
	inject := func(p testbench.IPv4) {
		if err := g.b.InjectIP(p); err != nil {
			sendErr.Store(err)
		}
	}
	// Bursts of 20 to a closed port from ten sources: NoPorts, and ICMP
	// port unreachables within the rate limits.
	every(2*time.Second, func(i int) {
		for j := 0; j < 20; j++ {
			src := netip.AddrFrom4([4]byte{10, 0, 2, byte(60 + j%10)})
			inject(testbench.UDP{Src: addr(src, uint16(20000+j)), Dst: addr(guestIP, 6999), Payload: []byte("closed")}.Packet())
			closedSent.Add(1)
		}
	})
	// A 3000-byte datagram in three fragments to discard, twice a
	// second; every 5 s, one first fragment that never completes.
	fragSrc, lonelySrc := netip.MustParseAddr("10.0.2.70"), netip.MustParseAddr("10.0.2.71")
	every(500*time.Millisecond, func(i int) {
		p := testbench.UDP{Src: addr(fragSrc, 4000), Dst: addr(guestIP, 9), Payload: make([]byte, 3000)}.Packet()
		p.ID = uint16(i)
		for _, f := range testbench.Fragment(p, 1480, 1480) {
			inject(f)
			fragSent.Add(1)
		}
		if i%10 == 0 && time.Now().Before(lateStop) {
			q := testbench.UDP{Src: addr(lonelySrc, 4000), Dst: addr(guestIP, 9), Payload: make([]byte, 3000)}.Packet()
			q.ID = uint16(i)
			inject(testbench.Fragment(q, 1480)[0])
			incompleteSent.Add(1)
		}
	})
	// Broadcasts: to discard (a listener) and to a port nobody has.
	every(time.Second, func(int) {
		for _, dst := range []netip.AddrPort{addr(netip.MustParseAddr("255.255.255.255"), 9), addr(netip.MustParseAddr("10.0.2.255"), 6998)} {
			u := testbench.UDP{Src: addr(testerIP, 4001), Dst: dst, Payload: []byte("to all")}
			if err := g.b.Inject(testbench.Ether(testbench.Broadcast, g.b.MAC, 0x0800, -1, u.Packet().Bytes())); err != nil {
				sendErr.Store(err)
			}
			bcastSent.Add(1)
		}
	})
	// Damaged frames, 40 a second.
	mut := testbench.NewMutator(g.b, uint64(time.Now().UnixNano()))
	var mutMu sync.Mutex
	every(500*time.Millisecond, func(int) {
		if time.Now().After(lateStop) {
			return
		}
		mutMu.Lock()
		defer mutMu.Unlock()
		for j := 0; j < 20; j++ {
			f, _ := mut.Next()
			if err := g.b.Inject(f); err != nil {
				sendErr.Store(err)
			}
			fuzzSent.Add(1)
		}
	})
	// Echo at a steady 100 requests a second.
	probe := g.b.StartEchoProbe(testbench.EchoProbeOptions{Src: addr(testerIP, 4007), Port: 7, Size: 64, Timeout: time.Second})
	probe.SetGap(10 * time.Millisecond)
	probe.Mark("interval 1")

	var samples []soakSample
	start := time.Now()
	for k := 1; time.Since(start) < dur; k++ {
		time.Sleep(time.Until(start.Add(time.Duration(k) * interval)))
		phase := fmt.Sprintf("interval %d", k)
		probe.Mark(fmt.Sprintf("interval %d", k+1))
		st, err := g.sc.All()
		if err != nil {
			t.Fatalf("%s: stats: %v", phase, err)
		}
		if _, err := g.sc.Section("latency-reset"); err != nil {
			t.Fatal(err)
		}
		// Forget captured frames nobody waits for (ICMP errors, replies
		// to damaged frames).
		g.b.Count(func(p testbench.Parsed) bool { return p.IPDst != testbench.TestHost }, 0)
		samples = append(samples, soakSample{at: time.Since(start), framesInUse: st.Counter("pool.frames.in_use"),
			framesHeld: framesHeld(st), largeInUse: st.Counter("pool.large.in_use"), heap: st.Counter("mem.go_heap_inuse"),
			memInUse: st.Counter("mem.in_use_bytes"), goroutines: st.Counter("mem.goroutines"), latency: st.Latency.Total})
		if !fuzzConsistent(t, a0.st, st) {
			t.Fatalf("%s: inconsistent counters", phase)
		}
	}
	close(stop)
	wg.Wait()
	names, echo := probe.Stop()
	for i := range samples {
		samples[i].echo = echo[fmt.Sprintf("interval %d", i+1)]
	}
	if err, _ := sendErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	g.waitQuiet(settle+15*time.Second, func() bool {
		ss, err := g.a.Sockstat()
		if err != nil {
			t.Fatal(err)
		}
		return ss.FragQueues == 0
	})
	g.b.Count(func(p testbench.Parsed) bool { return p.IPDst != testbench.TestHost }, 0)
	a1 := g.acct()
	backend := frameAccounting(t, a0, a1)
	mutMu.Lock()
	igmp := int64(mut.IGMP + mut.TCPLite) // delivered, but not to UDP or ICMP
	mutMu.Unlock()
	udpIdentity(t, a0, a1, igmp)
	memCheck(t, a0.st, a1.st)
	gc1, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	gcCheck(t, gc0, gc1, 1<<20)
	// Goroutines: a sample may catch a timer's goroutine at work, so the
	// count may move by a couple, never climb; after the traffic and a
	// collection it is back at the baseline (gcCheck).
	lo, hi := int64(1<<62), int64(0)
	for _, s := range samples {
		lo, hi = min(lo, s.goroutines), max(hi, s.goroutines)
	}
	if len(samples) > 0 && hi-lo > 2 {
		t.Errorf("goroutines between %d and %d over the samples", lo, hi)
	}
	var echoAll testbench.EchoResult
	for _, n := range names {
		e := echo[n]
		echoAll.Sent += e.Sent
		echoAll.Received += e.Received
		echoAll.Lost += e.Lost
	}

	r := &report{name: "soak"}
	r.f("# Soak: %v of mixed traffic, sampled every %v", dur, interval)
	r.f("")
	r.f("Image built from the working tree; QEMU %s, accelerator %s. Started %s.", "microvm", g.vm.Accel, start.Format(time.RFC3339))
	r.f("")
	r.f("## Offered")
	r.f("")
	r.f("| traffic | frames |")
	r.f("|---|---|")
	r.f("| echo requests (64 bytes, 100/s, one in flight) | %d (answered %d, lost %d) |", echoAll.Sent, echoAll.Received, echoAll.Lost)
	r.f("| datagrams to a closed port (bursts of 20 every 2 s, 10 sources) | %d |", closedSent.Load())
	r.f("| fragments of 3000-byte datagrams to discard (3 each, 2/s) | %d |", fragSent.Load())
	r.f("| first fragments never completed (one per 5 s) | %d |", incompleteSent.Load())
	r.f("| broadcasts (to discard and to a port without a socket, 1/s each) | %d |", bcastSent.Load())
	r.f("| damaged frames (testbench.Mutator, 40/s) | %d |", fuzzSent.Load())
	r.f("| all frames the bench sent (with ARP answers, stats and agent requests) | %d |", a1.fc.Sent-a0.fc.Sent)
	r.f("")
	r.f("Every frame accounted for: the guest's driver took %d, the host dropped %d on QEMU's socket.", d(a0, a1, "dev.rx.packets"), backend)
	r.f("Every datagram IP delivered has a UDP or ICMP fate, but for %d that went to IGMP, TCP or UDP-Lite (at most %d damaged frames were of those).",
		d(a0, a1, "Ip.InDelivers")-d(a0, a1, "Udp.InDatagrams")-d(a0, a1, "Udp.InErrors")-d(a0, a1, "Udp.NoPorts")-d(a0, a1, "Udp.IgnoredMulti")-d(a0, a1, "Icmp.InMsgs"), igmp)
	r.f("")
	r.f("## Delivered and dropped (guest counters, delta)")
	r.f("")
	r.f("| counter | delta |")
	r.f("|---|---|")
	for _, n := range []string{"Ip.InReceives", "Ip.InDelivers", "Ip.InHdrErrors", "Ip.InAddrErrors", "Ip.InUnknownProtos",
		"IpExt.InTruncatedPkts", "IpExt.InCsumErrors", "IpExt.InBcastPkts", "Ip.ReasmReqds", "Ip.ReasmOKs", "Ip.ReasmFails",
		"Ip.ReasmTimeout", "IpExt.ReasmOverlaps", "Udp.InDatagrams", "Udp.NoPorts", "Udp.InErrors", "Udp.RcvbufErrors",
		"Udp.InCsumErrors", "Udp.IgnoredMulti", "Udp.OutDatagrams", "Icmp.InMsgs", "Icmp.OutMsgs", "Icmp.OutDestUnreachs",
		"Icmp.OutTimeExcds", "Icmp.OutRateLimitHost", "Icmp.OutRateLimitGlobal"} {
		r.f("| %s | %d |", n, d(a0, a1, n))
	}
	r.f("")
	r.f("Dropped by reason: %s.", dropDeltas(a0.st, a1.st))
	r.f("Driver: rx_length_errors %d, rx_frame_errors %d, rx drops %d, rx_dropped (unhandled EtherType) %d, otherhost %d; resets %d, faults %d.",
		d(a0, a1, "dev.rx_length_errors"), d(a0, a1, "dev.rx_frame_errors"), d(a0, a1, "dev.rx.drops"), d(a0, a1, "link.rx_dropped"),
		d(a0, a1, "link.rx_otherhost_dropped"), d(a0, a1, "dev.resets"), faultSum(a1.st)-faultSum(a0.st))
	r.f("")
	r.f("## Samples")
	r.f("")
	r.f("| at | frames in use (held by the stack) | large in use | Go heap in use | memory in use | goroutines | latency p50 / p99 / max (interval, T3−T0) | echo sent/lost, RTT p50 / p99 |")
	r.f("|---|---|---|---|---|---|---|---|")
	var peakFrames, peakHeap, peakMem int64
	for _, s := range samples {
		peakFrames, peakHeap, peakMem = max(peakFrames, s.framesInUse), max(peakHeap, s.heap), max(peakMem, s.memInUse)
		r.f("| %v | %d (%d) | %d | %d | %d | %d | %v / %v / %v (%d) | %d/%d, %v / %v |", s.at.Round(time.Second), s.framesInUse, s.framesHeld, s.largeInUse,
			s.heap, s.memInUse, s.goroutines, s.latency.P50, s.latency.P99, s.latency.Max, s.latency.Count,
			s.echo.Sent, s.echo.Lost, s.echo.Percentile(0.5).Round(time.Microsecond), s.echo.Percentile(0.99).Round(time.Microsecond))
	}
	r.f("")
	r.f("## Memory")
	r.f("")
	r.f("| | start | peak (samples) | end |")
	r.f("|---|---|---|---|")
	r.f("| frame pool in use | %d | %d (pool peak %d) | %d |", a0.st.Counter("pool.frames.in_use"), peakFrames, a1.st.Counter("pool.frames.peak_in_use"), a1.st.Counter("pool.frames.in_use"))
	r.f("| Go heap in use | %d | %d | %d |", a0.st.Counter("mem.go_heap_inuse"), peakHeap, a1.st.Counter("mem.go_heap_inuse"))
	r.f("| memory in use (heap, stacks, DMA) | %d | %d | %d |", a0.st.Counter("mem.in_use_bytes"), peakMem, a1.st.Counter("mem.in_use_bytes"))
	r.f("| live heap after GC | %d | | %d |", gc0.HeapAlloc, gc1.HeapAlloc)
	r.f("| goroutines after GC | %d | | %d |", gc0.Goroutines, gc1.Goroutines)
	if len(samples) >= 2 {
		f, l := samples[0].latency, samples[len(samples)-1].latency
		r.f("")
		r.f("Interrupt-to-wakeup latency p99: first interval %v, last interval %v (p50 %v → %v; max %v → %v).", f.P99, l.P99, f.P50, l.P50, f.Max, l.Max)
	}
	r.done(t)
	if out := os.Getenv("KAIDOKU_SOAK_OUT"); out != "" {
		os.MkdirAll(filepath.Dir(out), 0o755)
		if err := os.WriteFile(out, []byte(r.b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// udpIdentity checks that every datagram IP delivered has one UDP or ICMP
// fate (every socket queue empty at both ends), or went to the IGMP, TCP
// or UDP-Lite handler (at most igmp of them were sent).
func udpIdentity(t *testing.T, a0, a1 acct, igmp int64) {
	t.Helper()
	udp := d(a0, a1, "Udp.InDatagrams") + d(a0, a1, "Udp.InErrors") + d(a0, a1, "Udp.NoPorts") + d(a0, a1, "Udp.IgnoredMulti")
	del, icmp := d(a0, a1, "Ip.InDelivers"), d(a0, a1, "Icmp.InMsgs")
	if rest := del - udp - icmp; rest < 0 || rest > igmp {
		t.Errorf("Ip.InDelivers +%d, but UDP accounts for %d (InDatagrams+InErrors+NoPorts+IgnoredMulti), ICMP %d, and at most %d IGMP, TCP or UDP-Lite packets were sent",
			del, udp, icmp, igmp)
	}
	sockDropsCheck(t, a0, a1)
}

func faultSum(s *testbench.Stats) int64 {
	var n int64
	for _, v := range s.Dev.Faults {
		n += int64(v)
	}
	return n
}
