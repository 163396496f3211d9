package e2e

// Device faults against the booted image: the link taken down and up
// through QEMU's monitor during traffic in both directions, and a socket
// forced to a huge receive buffer, which udp_mem bounds before the packet
// buffers run out. The driver reports each (console lines, the stats dev
// section), recovers where Linux would, and no buffer is lost. A device that sets DEVICE_NEEDS_RESET
// or resets itself cannot be provoked from outside QEMU; the
// supervisor's reset path (image/kaidoku/supervise.go) is covered on the
// host against the device model: virtio/supervise_test.go.

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

func TestLinkDownUp(t *testing.T) {
	g := bootRel(t, relOpts{monitor: true})
	gc0, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	const (
		port  = 7300
		count = 400
		gap   = 5 * time.Millisecond
	)
	fd := g.socket(fmt.Sprintf("0.0.0.0:%d", port))
	a0 := g.acct()
	probe := g.b.StartEchoProbe(testbench.EchoProbeOptions{Src: addr(testerIP, 4017), Port: 7, Size: 64, Timeout: 200 * time.Millisecond})
	probe.SetGap(5 * time.Millisecond)
	probe.Mark("up")
	// The guest sends count datagrams to the tester, one every 5 ms.
	if err := g.a.SendBurst(fd, testbench.BurstOptions{To: addr(testerIP, 4300), Count: count, Size: 64, Gap: gap}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := g.mon.SetLink(false); err != nil {
		t.Fatal(err)
	}
	probe.Mark("down")
	if _, err := g.vm.Console.ExpectString("link up: false", 10*time.Second); err != nil {
		t.Fatal("no console line for the link going down")
	}
	time.Sleep(time.Second)
	if err := g.mon.SetLink(true); err != nil {
		t.Fatal(err)
	}
	probe.Mark("up again")
	if _, err := g.vm.Console.ExpectString("link up: true", 10*time.Second); err != nil {
		t.Fatal("no console line for the link coming back")
	}
	var rc testbench.ReaderCounters
	deadline := time.Now().Add(30 * time.Second)
	for !rc.SendDone {
		if time.Now().After(deadline) {
			t.Fatalf("the guest's sender did not finish: %+v", rc)
		}
		time.Sleep(200 * time.Millisecond)
		if rc, err = g.a.ReaderStats(fd); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	names, echo := probe.Stop()
	burst := testbench.IsUDPFrom(addr(guestIP, port), addr(testerIP, 4300))
	seen := map[uint64]int{}
	received := g.b.Count(func(p testbench.Parsed) bool {
		if !burst(p) {
			return false
		}
		if len(p.UDPData) >= 8 {
			seen[binary.BigEndian.Uint64(p.UDPData)]++
		}
		return true
	}, 200*time.Millisecond)
	for seq, n := range seen {
		if n > 1 {
			t.Errorf("burst datagram %d received %d times", seq, n)
		}
	}
	if !g.echoes(addr(testerIP, 4018), "after the link came back") {
		t.Fatal("the echo service does not answer after the link came back")
	}
	g.waitQuiet(10*time.Second, nil)
	a1 := g.acct()

	if n := d(a0, a1, "dev.config_changes"); n != 2 {
		t.Errorf("config_changes +%d, want 2 (down, up)", n)
	}
	if a1.st.Counter("dev.link_up") != 1 {
		t.Error("the driver says the link is down")
	}
	linkDrops := d(a0, a1, "dev.tx.link_drops")
	txDropped := d(a0, a1, "link.tx_dropped")
	// Every frame the driver posted reached the tester, or sat in the
	// transmit ring when QEMU dropped what it found there with the link
	// down (at most a ring). tx.packets counts completions
	// (free_old_xmit), so frames still in flight are added; each stats
	// reply reaches the bench after the guest took its counters, so its
	// frames are left out (both accountings are taken at quiet moments).
	posted := d(a0, a1, "dev.tx.packets") + d(a0, a1, "dev.tx.in_flight")
	got := int64(a1.fc.Received-a1.replyFrames) - int64(a0.fc.Received-a0.replyFrames)
	inRing := posted - got
	if inRing < 0 || inRing > a1.st.Counter("dev.tx.size") {
		t.Errorf("driver posted %d frames, tester received %d: %d unaccounted (ring %d)",
			posted, got, inRing, a1.st.Counter("dev.tx.size"))
	}
	// What the tester missed of the guest's burst was dropped by the
	// driver with the carrier off (link_drops also counts the guest's
	// other frames of that second, its ARP probes) or lost in the ring.
	missing := int64(count) - int64(received) - int64(rc.SendErrors)
	if missing < 0 || missing > linkDrops+inRing {
		t.Errorf("guest sent %d: tester received %d, %d send errors; %d missing, but the driver dropped %d with the link down and %d were lost in the ring",
			count, received, rc.SendErrors, missing, linkDrops, inRing)
	}
	if up := echo["up again"]; up.Received == 0 {
		t.Errorf("no echo answered after the link came back: %+v", up)
	}
	// Inbound, QEMU drops what arrives while the link is down without
	// counting it: only the echo requests of that second can be missing.
	sent := int64(a1.fc.Sent - a0.fc.Sent)
	qemuDropped := sent - d(a0, a1, "dev.rx.packets") - (a1.fc.Backend.Drops - a0.fc.Backend.Drops)
	var echoLost int64
	for _, e := range echo {
		echoLost += int64(e.Lost)
	}
	if qemuDropped < 0 || qemuDropped > echoLost {
		t.Errorf("%d frames the bench sent are unaccounted for (only %d echo requests were lost)", qemuDropped, echoLost)
	}
	memCheck(t, a0.st, a1.st)
	g.ok(reqClose(fd))
	gc1, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	gcCheck(t, gc0, gc1, 512<<10)

	r := &report{name: "link"}
	r.f("## Link down and up (QEMU monitor set_link net0 off/on) during traffic")
	r.f("")
	r.f("Console: %s", consoleLines(g, "virtio-net: link"))
	r.f("Driver: config_changes +%d, link %s at the end; tx link_drops +%d, stack tx_dropped +%d.", d(a0, a1, "dev.config_changes"),
		map[bool]string{true: "up", false: "down"}[a1.st.Counter("dev.link_up") == 1], linkDrops, txDropped)
	r.f("Guest → tester: %d sent by the guest, %d received by the tester, %d send errors; the driver dropped %d frames with the carrier off (the burst's and its other frames'); %d were lost in the ring.",
		count, received, rc.SendErrors, linkDrops, inRing)
	r.f("Tester → guest: %d frames sent, %d taken by the driver, %d dropped by QEMU with the link down (uncounted, as a NIC with no carrier).",
		sent, d(a0, a1, "dev.rx.packets"), qemuDropped)
	r.f("")
	r.f("| echo phase | sent | answered | lost | RTT p50 | p99 | max |")
	r.f("|---|---|---|---|---|---|---|")
	for _, n := range names {
		if echo[n].Sent > 0 {
			r.f("%s", echoLine(n, echo[n]))
		}
	}
	r.f("")
	r.f("Frame pool held by the stack %d → %d; goroutines %d → %d.", framesHeld(a0.st), framesHeld(a1.st), gc0.Goroutines, gc1.Goroutines)
	r.done(t)
}

// A socket with a huge SO_RCVBUFFORCE and a paused reader: Linux queues
// datagrams until UDP's memory (udp_mem) is used up and counts every
// later one as Udp MemErrors; the packet buffers never run out. The
// image computes udp_mem from its packet buffer memory (the DMA arena,
// 255 MiB: udp_mem[0] 6120 pages, about 24 MiB of truesize, some 19,600
// datagrams of 64 bytes charged 1280 each), which holds about 1.6 times
// that in frames, so the frame pool is never exhausted, the receive ring
// never starves and nothing is lost in the device: every datagram is
// either read once the reader resumes by itself, or counted by MemErrors.
func TestRcvbufForceBoundedByUDPMem(t *testing.T) {
	g := bootRel(t, relOpts{})
	const (
		port   = 7400
		count  = 24000 // more than udp_mem[0] holds
		resume = 8 * time.Second
	)
	fd := g.socket("", [3]int{socket.SolSocket, socket.SoRcvbufforce, 64 << 20})
	g.ok(agent.Request{Op: agent.OpBind, FD: fd, Addr: fmt.Sprintf("0.0.0.0:%d", port)})
	if _, err := g.a.Reader(fd, testbench.ReaderOptions{Rate: testbench.Paused, ResumeAfter: resume, Window: count + 64}); err != nil {
		t.Fatal(err)
	}
	gc0, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	a0 := g.acct()
	start := time.Now()
	fl := g.b.StartFlood(testbench.FloodConfig{Src: addr(testerIP, 5400), Port: port, Size: 64, Count: count, Backlog: 64 << 10})
	select {
	case <-fl.Done():
	case <-time.After(resume + time.Minute):
		hs, _ := g.b.BackendSocket()
		fl.Stop()
		t.Fatalf("the flood did not finish: %d of %d sent; QEMU's socket holds %d bytes", fl.Sent(), count, hs.RxQueue)
	}
	fr := fl.Wait()
	var rc testbench.ReaderCounters
	var memErrs int64
	g.waitQuiet(time.Minute, func() bool {
		var err error
		if rc, err = g.a.ReaderStats(fd); err != nil {
			t.Fatal(err)
		}
		st, err := g.sc.All()
		if err != nil {
			t.Fatal(err)
		}
		memErrs = st.Counter("Udp.MemErrors") - a0.st.Counter("Udp.MemErrors")
		return int64(rc.Delivered)+memErrs >= int64(fr.Sent)
	})
	drained := time.Since(start)
	rc, err = g.a.ReaderStop(fd)
	if err != nil {
		t.Fatal(err)
	}
	a1 := g.acct()
	frameAccounting(t, a0, a1)
	sockDropsCheck(t, a0, a1)
	memErrs = d(a0, a1, "Udp.MemErrors")
	if memErrs == 0 || d(a0, a1, "Udp.RcvbufErrors") != 0 {
		t.Errorf("Udp MemErrors +%d, RcvbufErrors +%d: want udp_mem, not the receive buffer, to refuse datagrams", memErrs, d(a0, a1, "Udp.RcvbufErrors"))
	}
	if int64(rc.Delivered)+memErrs != count || rc.Duplicates != 0 {
		t.Errorf("reader: %+v; %d read + %d MemErrors, want all %d datagrams accounted for", rc, rc.Delivered, memErrs, count)
	}
	if n := d(a0, a1, "pool.frames.exhausted"); n != 0 {
		t.Errorf("the frame pool failed %d allocations (the arena it shares ran out)", n)
	}
	if n := d(a0, a1, "dev.refill_runs"); n != 0 {
		t.Errorf("refill_work ran %d times: the ring could not be refilled", n)
	}
	if l := consoleLines(g, "frame pool"); l != "" {
		t.Errorf("console: %s", l)
	}
	memCheck(t, a0.st, a1.st)
	g.ok(reqClose(fd))
	gc1, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	gc0.Goroutines-- // the reader goroutine, stopped since
	gcCheck(t, gc0, gc1, 512<<10)

	r := &report{name: "rcvbufforce-udp-mem"}
	r.f("## SO_RCVBUFFORCE 64 MiB and a paused reader: bounded by udp_mem, not by the buffers")
	r.f("")
	r.f("%d datagrams of 64 bytes (truesize 1280 each); the reader resumed by itself after %v; everything read or counted %v after the start.",
		count, resume, drained.Round(100*time.Millisecond))
	r.f("Queued and read %d (%d bytes of truesize); Udp MemErrors +%d, RcvbufErrors +%d; frame pool peak in use %d, failed allocations +%d; refill_runs +%d.",
		rc.Delivered, int64(rc.Delivered)*1280, memErrs, d(a0, a1, "Udp.RcvbufErrors"),
		a1.st.Counter("pool.frames.peak_in_use"), d(a0, a1, "pool.frames.exhausted"), d(a0, a1, "dev.refill_runs"))
	r.f("Frames: bench sent %d (flood %d, held back %d times), driver took %d, host dropped %d on QEMU's socket; socket drops +%d.",
		a1.fc.Sent-a0.fc.Sent, fr.Sent, fr.Holds, d(a0, a1, "dev.rx.packets"), a1.fc.Backend.Drops-a0.fc.Backend.Drops,
		sockDrops(a1.st)-sockDrops(a0.st))
	r.f("Drop reasons (delta): %s.", dropDeltas(a0.st, a1.st))
	r.done(t)
}

// consoleLines returns the console lines containing s, joined.
func consoleLines(g *relGuest, s string) string {
	var out []string
	for _, l := range strings.Split(g.vm.Console.Text(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, "`"+strings.TrimSpace(l)+"`")
		}
	}
	return strings.Join(out, "; ")
}
