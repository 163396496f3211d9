package e2e

// Reliability under load: a flood to a paused, slowed and resumed reader
// with every datagram accounted for, memory back to its baseline, and
// the echo service measured on the side. Helpers for the other
// reliability tests (soak, faults, fragment abuse, end-to-end fuzz) live
// here too.
//
// Environment:
//
//	KAIDOKU_LONG=1            long variants (flood of 10^6 datagrams, …)
//	KAIDOKU_FLOOD_COUNT=n     datagrams in the flood (overrides the variant)
//	KAIDOKU_RESULTS=dir       also write the reports as markdown into dir

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// longRun reports whether the long variants were asked for.
func longRun() bool { return os.Getenv("KAIDOKU_LONG") != "" }

// envInt reads an integer from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// relOpts configure bootRel.
type relOpts struct {
	lifetime time.Duration
	monitor  bool // open a QEMU monitor socket (VM.Config.Monitor)
	append   []string
}

// relGuest is a booted image with the bench, the agent, the stats client
// and, if asked, the QEMU monitor.
type relGuest struct {
	*guest
	sc  *testbench.StatsClient
	mon *qemu.Monitor
}

func bootRel(t *testing.T, o relOpts) *relGuest {
	t.Helper()
	if o.lifetime == 0 {
		o.lifetime = 5 * time.Minute
	}
	mac, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(mac, guestIP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	cfg := qemu.Config{Net: nd, Append: o.append, Lifetime: o.lifetime}
	if o.monitor {
		dir, err := os.MkdirTemp("", "kmon")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		cfg.Monitor = filepath.Join(dir, "hmp.sock")
	}
	vm := boot(t, cfg)
	g := &relGuest{guest: &guest{t: t, vm: vm, b: b, a: b.Agent(agentPort)}, sc: b.StatsClient()}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console:\n%s", vm.Console.Text())
		}
	})
	if o.monitor {
		if g.mon, err = vm.Monitor(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.mon.Close() })
	}
	return g
}

// acct is one side of an accounting: the guest's counters (one stats
// request) and the bench's, read after the reply.
type acct struct {
	st *testbench.Stats
	fc testbench.FrameCounts
	// replyFrames is what the bench received during the stats call: at a
	// quiet moment, the reply's IP fragments, which the guest sent after
	// taking its counters.
	replyFrames uint64
}

func (g *relGuest) acct() acct {
	g.t.Helper()
	before, err := g.b.FrameCounts()
	if err != nil {
		g.t.Fatal(err)
	}
	st, err := g.sc.All()
	if err != nil {
		g.t.Fatal(err)
	}
	fc, err := g.b.FrameCounts()
	if err != nil {
		g.t.Fatal(err)
	}
	return acct{st, fc, fc.Received - before.Received}
}

// d returns the change of a counter, by its machine-form name
// ("Udp.InDatagrams", "dev.rx.packets", "link.rx_dropped").
func d(a0, a1 acct, name string) int64 { return a1.st.Counter(name) - a0.st.Counter(name) }

// sockDrops is the sum of sk_drops over the guest's sockets.
func sockDrops(s *testbench.Stats) int64 {
	var n int64
	for _, u := range s.Stack.Sockets {
		n += int64(u.Drops)
	}
	return n
}

// frameAccounting checks, between two quiet moments, that every frame the
// bench sent is accounted for, and returns the frames the host kernel
// dropped on QEMU's socket. (Frames QEMU drops itself with the link down
// are not counted anywhere; tests that take the link down do not call
// this.)
func frameAccounting(t *testing.T, a0, a1 acct) (backendDrops int64) {
	t.Helper()
	sent := int64(a1.fc.Sent - a0.fc.Sent)
	rx := d(a0, a1, "dev.rx.packets")
	backendDrops = a1.fc.Backend.Drops - a0.fc.Backend.Drops
	if q := a1.fc.Backend.RxQueue; q != 0 {
		t.Errorf("QEMU's socket still holds %d bytes", q)
	}
	if sent != rx+backendDrops {
		t.Errorf("bench sent %d frames; the guest's driver took %d and the host dropped %d on QEMU's socket: %d unaccounted",
			sent, rx, backendDrops, sent-rx-backendDrops)
	}
	return backendDrops
}

// stackAccounting checks the guest's own books between two quiet moments
// with every socket queue empty: frames → IP packets → UDP fates.
func stackAccounting(t *testing.T, a0, a1 acct) {
	t.Helper()
	rx := d(a0, a1, "dev.rx.packets")
	stackRx := d(a0, a1, "link.rx_packets")
	devDrops := d(a0, a1, "dev.rx.drops") + d(a0, a1, "dev.rx_length_errors") + d(a0, a1, "dev.rx_frame_errors")
	if rx != stackRx+devDrops {
		t.Errorf("driver took %d frames, the stack got %d, the driver dropped %d", rx, stackRx, devDrops)
	}
	arp := int64(a1.fc.ARPAnswered - a0.fc.ARPAnswered)
	nonIP := d(a0, a1, "link.rx_dropped") + d(a0, a1, "link.rx_otherhost_dropped")
	if in := d(a0, a1, "Ip.InReceives"); stackRx != in+arp+nonIP {
		t.Errorf("stack got %d frames: %d IPv4 (InReceives), %d ARP answers, %d dropped (rx_dropped, otherhost)", stackRx, in, arp, nonIP)
	}
	ipErr := d(a0, a1, "Ip.InHdrErrors") + d(a0, a1, "Ip.InAddrErrors") + d(a0, a1, "Ip.InUnknownProtos") +
		d(a0, a1, "Ip.InDiscards") + d(a0, a1, "IpExt.InNoRoutes") + d(a0, a1, "IpExt.InTruncatedPkts")
	if in, del := d(a0, a1, "Ip.InReceives"), d(a0, a1, "Ip.InDelivers"); in < del+ipErr {
		t.Errorf("Ip.InReceives +%d < Ip.InDelivers +%d + header/address errors %d", in, del, ipErr)
	}
	udp := d(a0, a1, "Udp.InDatagrams") + d(a0, a1, "Udp.InErrors") + d(a0, a1, "Udp.NoPorts") + d(a0, a1, "Udp.IgnoredMulti")
	if del, icmp := d(a0, a1, "Ip.InDelivers"), d(a0, a1, "Icmp.InMsgs"); del != udp+icmp {
		t.Errorf("Ip.InDelivers +%d, but UDP accounts for %d (InDatagrams+InErrors+NoPorts+IgnoredMulti) and ICMP %d", del, udp, icmp)
	}
	sockDropsCheck(t, a0, a1)
	for _, u := range a1.st.Stack.Sockets {
		if u.RxQueue != 0 && u.LocalPort != StatsPortNum {
			t.Errorf("socket on port %d still holds %d bytes", u.LocalPort, u.RxQueue)
		}
	}
}

// sockDropsCheck checks the sockets' drops (sk_drops) against the UDP
// counters: each is a full receive buffer (RcvbufErrors), udp_mem
// (MemErrors), or a checksum found bad when the datagram was read
// (InCsumErrors, which also counts those found bad on arrival).
func sockDropsCheck(t *testing.T, a0, a1 acct) {
	t.Helper()
	drops := sockDrops(a1.st) - sockDrops(a0.st)
	mem := d(a0, a1, "Udp.RcvbufErrors") + d(a0, a1, "Udp.MemErrors")
	if drops < mem || drops > mem+d(a0, a1, "Udp.InCsumErrors") {
		t.Errorf("the sockets' drops +%d, Udp.RcvbufErrors +%d, MemErrors +%d, InCsumErrors +%d",
			drops, d(a0, a1, "Udp.RcvbufErrors"), d(a0, a1, "Udp.MemErrors"), d(a0, a1, "Udp.InCsumErrors"))
	}
}

// StatsPortNum is the stats service's port.
const StatsPortNum = testbench.StatsPort

// framesHeld is the frame pool's buffers in use beyond those posted to
// the receive ring and held by the transmit ring and qdisc: the buffers
// the stack holds (socket queues, reassembly, ARP queue).
func framesHeld(s *testbench.Stats) int64 {
	return s.FramesOutside()
}

// memCheck compares the pools with a baseline taken at a quiet moment:
// the stack holds no more frames than it did then, and no large buffer;
// no buffer was freed twice.
func memCheck(t *testing.T, base, now *testbench.Stats) {
	t.Helper()
	if h0, h1 := framesHeld(base), framesHeld(now); h1 != h0 {
		t.Errorf("the stack holds %d frame buffers, %d at the baseline (in use %d, rx posted %d, tx in flight %d)",
			h1, h0, now.Counter("pool.frames.in_use"), now.Counter("dev.rx.posted"), now.Counter("dev.tx.in_flight"))
	}
	if n := now.Counter("pool.large.in_use"); n != base.Counter("pool.large.in_use") {
		t.Errorf("large pool: %d in use, %d at the baseline", n, base.Counter("pool.large.in_use"))
	}
	for _, p := range []string{"frames", "large"} {
		if n := now.Counter("pool." + p + ".double_free"); n != 0 {
			t.Errorf("pool %s: %d double frees", p, n)
		}
	}
}

// gcCheck compares the image's goroutines and live heap after a garbage
// collection with a baseline.
func gcCheck(t *testing.T, base, now testbench.GCStats, slack uint64) {
	t.Helper()
	if now.Goroutines != base.Goroutines {
		t.Errorf("goroutines: %d, %d at the baseline", now.Goroutines, base.Goroutines)
	}
	if now.HeapAlloc > base.HeapAlloc+slack {
		t.Errorf("live heap after GC: %d bytes, %d at the baseline (slack %d)", now.HeapAlloc, base.HeapAlloc, slack)
	}
}

// waitQuiet waits until the guest has taken every frame from QEMU's
// socket and cond holds (both checked every 100 ms, up to limit).
func (g *relGuest) waitQuiet(limit time.Duration, cond func() bool) {
	g.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		hs, err := g.b.BackendSocket()
		if err != nil {
			g.t.Fatal(err)
		}
		if hs.RxQueue == 0 && (cond == nil || cond()) {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("guest not quiet after %v (QEMU socket holds %d bytes)", limit, hs.RxQueue)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// report collects a test's results; it is logged, and written to
// $KAIDOKU_RESULTS/<name>.md when that is set.
type report struct {
	name string
	b    strings.Builder
}

func (r *report) f(format string, args ...any) { fmt.Fprintf(&r.b, format+"\n", args...) }

func (r *report) done(t *testing.T) {
	t.Helper()
	t.Logf("%s:\n%s", r.name, r.b.String())
	if dir := os.Getenv("KAIDOKU_RESULTS"); dir != "" {
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, r.name+".md"), []byte(r.b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func echoLine(name string, r testbench.EchoResult) string {
	return fmt.Sprintf("| %s | %d | %d | %d (%.2f %%) | %v | %v | %v |", name, r.Sent, r.Received, r.Lost, r.LossPct(),
		r.Percentile(0.5).Round(time.Microsecond), r.Percentile(0.99).Round(time.Microsecond), maxRTT(r).Round(time.Microsecond))
}

func maxRTT(r testbench.EchoResult) time.Duration {
	if len(r.RTTs) == 0 {
		return 0
	}
	return r.RTTs[len(r.RTTs)-1]
}

// memSampler samples the stats service while a load runs, keeping the
// peaks.
type memSampler struct {
	mu                          sync.Mutex
	peakFrames, peakHeap, peakM int64
	peakGoroutines              int64
	samples, failed             int
	// badReply is the first reply that arrived but did not parse: a
	// bug, never counted as a lost sample.
	badReply   error
	stop, done chan struct{}
}

func (g *relGuest) sampleMem(every time.Duration) *memSampler {
	m := &memSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
			text, err := g.sc.Section(testbench.SectionCounters)
			var st *testbench.Stats
			var perr error
			if err == nil {
				st, perr = testbench.ParseStats(text)
			}
			m.mu.Lock()
			switch {
			case err != nil:
				m.failed++
			case perr != nil:
				if m.badReply == nil {
					m.badReply = perr
				}
			default:
				m.samples++
				m.peakFrames = max(m.peakFrames, st.Counter("pool.frames.in_use"))
				m.peakHeap = max(m.peakHeap, st.Counter("mem.go_heap_inuse"))
				m.peakM = max(m.peakM, st.Counter("mem.in_use_bytes"))
				m.peakGoroutines = max(m.peakGoroutines, st.Counter("mem.goroutines"))
			}
			m.mu.Unlock()
		}
	}()
	return m
}

func (m *memSampler) end() *memSampler {
	close(m.stop)
	<-m.done
	return m
}

// The flood: the bench offers datagrams to a socket whose reader is
// paused, then slowed, then back at full speed, as fast as QEMU's
// datagram backend takes them (the bench holds back while QEMU's socket
// has a backlog), then in a last quarter blindly, faster than the
// backend takes them. The echo service answers on the side throughout.
// The paused socket holds exactly what Linux's would of 64-byte
// datagrams (167 in the default receive buffer, each charged 1280).
// Every datagram is accounted for: read by the reader, dropped by the
// socket (Udp.RcvbufErrors, the socket's drops), dropped by the driver,
// or dropped by the host kernel on QEMU's socket; and every frame the
// bench sent, flood or not, reached the guest's driver or was dropped
// there. Memory returns to its baseline.
func TestFloodSlowReader(t *testing.T) {
	total := uint64(200_000)
	lifetime := 5 * time.Minute
	if longRun() {
		total, lifetime = 1_000_000, 30*time.Minute
	}
	total = uint64(envInt("KAIDOKU_FLOOD_COUNT", int(total)))
	const (
		port     = 7100
		slowRate = 2000      // datagrams per second while slowed
		backlog  = 64 * 1024 // bytes queued on QEMU's socket before the bench holds back
		size     = 64        // payload bytes
		sample   = 500 * time.Millisecond
	)
	g := bootRel(t, relOpts{lifetime: lifetime})
	gc0, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	fd := g.socket(fmt.Sprintf("0.0.0.0:%d", port))
	rcvbuf := g.ok(reqGetRcvbuf(fd)).Value
	if _, err := g.a.Reader(fd, testbench.ReaderOptions{Rate: testbench.Paused, Window: int(total) + 64}); err != nil {
		t.Fatal(err)
	}
	a0 := g.acct()

	probe := g.b.StartEchoProbe(testbench.EchoProbeOptions{Src: addr(testerIP, 4007), Port: 7, Size: 64, Timeout: 500 * time.Millisecond})
	probe.Mark("paused")
	mem := g.sampleMem(sample)
	fl := g.b.StartFlood(testbench.FloodConfig{Src: addr(testerIP, 5100), Port: port, Size: size,
		Count: total, Backlog: backlog})
	phases := []struct {
		name    string
		until   uint64
		rate    int
		backlog int64
	}{
		{"slowed", total / 4, slowRate, backlog},
		{"resumed", total / 2, testbench.FullSpeed, backlog},
		{"overload", 3 * total / 4, testbench.FullSpeed, 0},
	}
	phaseAt := map[string]time.Duration{}
	start := time.Now()
	var pausedQueue int64 // the socket's rx_queue at the end of the paused phase
	for _, p := range phases {
		for fl.Sent() < p.until {
			select {
			case <-fl.Done():
			case <-time.After(10 * time.Millisecond):
				continue
			}
			break
		}
		phaseAt[p.name] = time.Since(start)
		if p.name == "slowed" {
			st, err := g.sc.All()
			if err != nil {
				t.Fatal(err)
			}
			u, _ := st.Socket(port)
			pausedQueue = u.RxQueue
		}
		if _, err := g.a.Reader(fd, testbench.ReaderOptions{Rate: p.rate}); err != nil {
			t.Fatal(err)
		}
		fl.SetBacklog(p.backlog)
		probe.Mark(p.name)
	}
	fr := fl.Wait()
	probe.Mark("drain")
	var rc testbench.ReaderCounters
	g.waitQuiet(time.Minute, func() bool {
		prev := rc.Delivered
		var err error
		if rc, err = g.a.ReaderStats(fd); err != nil {
			t.Fatal(err)
		}
		return rc.Delivered == prev
	})
	peaks := mem.end()
	if peaks.badReply != nil {
		t.Errorf("a stats sample did not parse: %v", peaks.badReply)
	}
	names, echo := probe.Stop()
	if rc, err = g.a.ReaderStop(fd); err != nil {
		t.Fatal(err)
	}
	a1 := g.acct()

	// The flood's datagrams.
	sock, ok := a1.st.Socket(port)
	if !ok {
		t.Fatalf("no socket on port %d in the stats", port)
	}
	sockDrop := int64(sock.Drops)
	backend := frameAccounting(t, a0, a1)
	stackAccounting(t, a0, a1)
	floodBackend := int64(fr.Sent) - int64(rc.Delivered) - sockDrop
	if fr.Sent != total || fr.Errors != 0 {
		t.Errorf("flood sent %d of %d (%d write errors)", fr.Sent, total, fr.Errors)
	}
	if rc.Duplicates != 0 || rc.Unchecked != 0 || rc.Errors != 0 || rc.MaxSeq > total {
		t.Errorf("reader: %+v", rc)
	}
	if floodBackend < 0 || floodBackend > backend {
		t.Errorf("flood: %d sent = %d read + %d socket drops + %d backend drops, but the host dropped %d frames in all",
			fr.Sent, rc.Delivered, sockDrop, floodBackend, backend)
	}
	var echoLost int64
	for _, e := range echo {
		echoLost += int64(e.Lost)
	}
	// The host's other drops can only be echo requests and stats
	// samples (an agent request lost would have failed the test).
	if other := backend - floodBackend; other > echoLost+int64(peaks.failed) {
		t.Errorf("the host dropped %d frames that were not the flood's, but only %d echo requests and %d stats samples were lost",
			other, echoLost, peaks.failed)
	}
	// While paused, the socket held what Linux's would: a 64-byte
	// datagram is a 106-byte frame, which Linux copies into a 1 KiB
	// napi_alloc_skb head (truesize 1280), and a datagram is queued while
	// at most rcvbuf is: rcvbuf/1280 + 1 of them (167 for 212992).
	const smallTruesize = 1280
	absorbed := int64(rcvbuf)/smallTruesize + 1
	if pausedQueue != absorbed*smallTruesize {
		t.Errorf("the paused socket held %d bytes (rx_queue), want %d datagrams of truesize %d = %d", pausedQueue, absorbed, smallTruesize, absorbed*smallTruesize)
	}
	devDrops := d(a0, a1, "dev.rx.drops") + d(a0, a1, "dev.rx_length_errors") + d(a0, a1, "dev.rx_frame_errors") + d(a0, a1, "link.rx_dropped")
	if devDrops != 0 {
		t.Errorf("the driver dropped %d frames of a valid flood", devDrops)
	}
	memCheck(t, a0.st, a1.st)

	g.ok(reqClose(fd))
	gc1, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	gcCheck(t, gc0, gc1, 512<<10)

	r := &report{name: "flood"}
	r.f("## Flood to a slow reader (%d datagrams of %d bytes; socket rcvbuf %d)", total, size, rcvbuf)
	r.f("")
	r.f("Phases by datagrams offered: paused 0–25 %%, slowed to %d/s 25–50 %% (from %v), full speed 50–75 %% (from %v), "+
		"overload 75–100 %% (from %v: the bench no longer waits for QEMU's socket).", slowRate, phaseAt["slowed"].Round(time.Millisecond),
		phaseAt["resumed"].Round(time.Millisecond), phaseAt["overload"].Round(time.Millisecond))
	r.f("")
	r.f("| | datagrams |")
	r.f("|---|---|")
	r.f("| offered by the bench | %d in %v (%.0f/s; held back %d times for QEMU's backlog) |", fr.Sent, fr.Duration.Round(time.Millisecond), fr.PPS(), fr.Holds)
	r.f("| held by the paused socket (rx_queue %d bytes, truesize %d each) | %d |", pausedQueue, smallTruesize, pausedQueue/smallTruesize)
	r.f("| delivered to the reader | %d (%d bytes; duplicates %d, reordered %d) |", rc.Delivered, rc.Bytes, rc.Duplicates, rc.Reordered)
	r.f("| dropped: socket receive buffer full (Udp.RcvbufErrors, SOCKET_RCVBUFF) | %d |", sockDrop)
	r.f("| dropped: driver (rx drops, rx_length_errors, rx_frame_errors, rx_dropped) | %d |", devDrops)
	r.f("| dropped: host kernel on QEMU's socket (flood's share) | %d |", floodBackend)
	r.f("")
	r.f("All frames: bench sent %d, guest driver took %d, host dropped %d on QEMU's socket (%d not the flood's; echo requests lost %d, stats samples lost %d).",
		a1.fc.Sent-a0.fc.Sent, d(a0, a1, "dev.rx.packets"), backend, backend-floodBackend, echoLost, peaks.failed)
	r.f("Drop reasons in the guest (delta): %s.", dropDeltas(a0.st, a1.st))
	r.f("")
	r.f("| memory | before | peak (sampled every %v, %d samples, %d lost) | after |", sample, peaks.samples, peaks.failed)
	r.f("|---|---|---|---|")
	r.f("| frame pool in use | %d | %d | %d |", a0.st.Counter("pool.frames.in_use"), max(peaks.peakFrames, a1.st.Counter("pool.frames.peak_in_use")), a1.st.Counter("pool.frames.in_use"))
	r.f("| Go heap in use | %d | %d | %d |", a0.st.Counter("mem.go_heap_inuse"), peaks.peakHeap, a1.st.Counter("mem.go_heap_inuse"))
	r.f("| guest memory in use (heap+stacks+DMA) | %d | %d | %d |", a0.st.Counter("mem.in_use_bytes"), peaks.peakM, a1.st.Counter("mem.in_use_bytes"))
	r.f("| live heap after GC | %d | | %d |", gc0.HeapAlloc, gc1.HeapAlloc)
	r.f("| goroutines (after GC) | %d | %d | %d |", gc0.Goroutines, peaks.peakGoroutines, gc1.Goroutines)
	r.f("")
	r.f("Echo (64 bytes, one in flight, 500 ms timeout) during the flood:")
	r.f("")
	r.f("| phase | sent | answered | lost | RTT p50 | p99 | max |")
	r.f("|---|---|---|---|---|---|---|")
	for _, n := range names {
		if echo[n].Sent > 0 {
			r.f("%s", echoLine(n, echo[n]))
		}
	}
	r.f("")
	r.f("Driver: interrupts %d, NAPI polls %d, time_squeeze %d, rx kicks %d.", d(a0, a1, "dev.interrupts"),
		a1.st.Counter("napi.actions")-a0.st.Counter("napi.actions"), a1.st.Counter("napi.time_squeeze")-a0.st.Counter("napi.time_squeeze"), d(a0, a1, "dev.rx.kicks"))
	r.done(t)
}

// dropDeltas lists the drop reasons that moved.
func dropDeltas(s0, s1 *testbench.Stats) string {
	var out []string
	for k, v := range s1.Values() {
		reason, ok := strings.CutPrefix(k, "Drop.")
		if !ok || reason == "CONSUMED" {
			continue
		}
		if dv := v - s0.Counter(k); dv != 0 {
			out = append(out, fmt.Sprintf("%s %d", reason, dv))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func reqGetRcvbuf(fd int) agent.Request {
	return agent.Request{Op: agent.OpGetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoRcvbuf}
}

func reqClose(fd int) agent.Request { return agent.Request{Op: agent.OpClose, FD: fd} }
