package e2e

// Device faults against the booted image: the link taken down and up
// through QEMU's monitor during traffic in both directions, and the
// receive ring starved by exhausting the frame pool. The driver reports
// each (console lines, the stats dev section), recovers where Linux
// would, and no buffer is lost. A device that sets DEVICE_NEEDS_RESET
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
	probe := g.b.StartEchoProbe(addr(testerIP, 4017), 7, 64, 200*time.Millisecond)
	probe.SetGap(5 * time.Millisecond)
	probe.Mark("up")
	// The guest sends count datagrams to the tester, one every 5 ms.
	if err := g.a.SendBurst(fd, fmt.Sprintf("%s:4300", testerIP), count, 64, gap); err != nil {
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

// The receive ring starves: a socket with a huge SO_RCVBUFFORCE and a
// paused reader takes every buffer of the frame pool, so the driver can
// no longer refill the ring (refill_work retries every 500 ms, as Linux's
// does when allocations fail); QEMU then holds the bench's frames. The
// reader resumes by itself after a while (the agent cannot be reached
// meanwhile), the pool refills the ring and traffic resumes. Nothing is
// lost: every datagram the bench sent is read.
func TestRxPoolExhaustion(t *testing.T) {
	g := bootRel(t, relOpts{})
	const (
		port   = 7400
		count  = 12000 // more than the 8192 buffers of the frame pool
		resume = 8 * time.Second
	)
	fd := g.socket("", [3]int{socket.SolSocket, socket.SoRcvbufforce, 64 << 20})
	g.ok(agent.Request{Op: agent.OpBind, FD: fd, Addr: fmt.Sprintf("0.0.0.0:%d", port)})
	if _, err := g.a.Reader(fd, testbench.Paused, resume, count+64); err != nil {
		t.Fatal(err)
	}
	gc0, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	a0 := g.acct()
	start := time.Now()
	fl := g.b.StartFlood(testbench.FloodConfig{Src: addr(testerIP, 5400), Port: port, Size: 64, Count: count, Backlog: 64 << 10})
	if _, err := g.vm.Console.ExpectString("frame pool exhausted", resume+10*time.Second); err != nil {
		t.Fatalf("no console line for the exhausted pool")
	}
	starved := time.Since(start)
	select {
	case <-fl.Done():
	case <-time.After(resume + time.Minute):
		hs, _ := g.b.BackendSocket()
		fl.Stop()
		t.Fatalf("the flood did not finish: %d of %d sent; QEMU's socket holds %d bytes (the device takes no frames)", fl.Sent(), count, hs.RxQueue)
	}
	fr := fl.Wait()
	if _, err := g.vm.Console.ExpectString("frame pool recovered", 30*time.Second); err != nil {
		t.Fatalf("no console line for the pool's recovery")
	}
	var rc testbench.ReaderCounters
	g.waitQuiet(time.Minute, func() bool {
		var err error
		if rc, err = g.a.ReaderStats(fd); err != nil {
			t.Fatal(err)
		}
		return rc.Delivered >= fr.Sent
	})
	recovered := time.Since(start)
	rc, err = g.a.ReaderStop(fd)
	if err != nil {
		t.Fatal(err)
	}
	if !g.echoes(addr(testerIP, 4019), "after the pool recovered") {
		t.Fatal("the echo service does not answer after the pool recovered")
	}
	a1 := g.acct()
	frameAccounting(t, a0, a1)
	if rc.Delivered != count || rc.Duplicates != 0 || rc.MaxSeq != count {
		t.Errorf("reader: %+v, want all %d datagrams once", rc, count)
	}
	if n := d(a0, a1, "dev.refill_runs"); n == 0 {
		t.Error("refill_work never ran")
	}
	if a1.st.Counter("pool.frames.exhausted") == a0.st.Counter("pool.frames.exhausted") {
		t.Error("the frame pool never ran dry")
	}
	if a1.st.Counter("dev.rx.posted") == 0 {
		t.Error("the receive ring was not refilled")
	}
	memCheck(t, a0.st, a1.st)
	g.ok(reqClose(fd))
	gc1, err := g.a.GC()
	if err != nil {
		t.Fatal(err)
	}
	gc0.Goroutines-- // the reader goroutine, stopped since
	gcCheck(t, gc0, gc1, 512<<10)

	r := &report{name: "rx-exhaustion"}
	r.f("## Receive ring starved: frame pool exhausted by a paused reader (SO_RCVBUFFORCE 64 MiB)")
	r.f("")
	r.f("Console: %s", consoleLines(g, "frame pool"))
	r.f("Pool exhausted %v after the flood began; the reader resumed by itself after %v; all %d datagrams read %v after the start.",
		starved.Round(100*time.Millisecond), resume, rc.Delivered, recovered.Round(100*time.Millisecond))
	r.f("Driver: refill_runs +%d, pool allocation failures +%d, pool peak in use %d of %d; rx ring posted %d/%d at the end.",
		d(a0, a1, "dev.refill_runs"), a1.st.Counter("pool.frames.exhausted")-a0.st.Counter("pool.frames.exhausted"),
		a1.st.Counter("pool.frames.peak_in_use"), a1.st.Counter("pool.frames.count"), a1.st.Counter("dev.rx.posted"), a1.st.Counter("dev.rx.size"))
	r.f("Frames: bench sent %d (flood %d, held back %d times), driver took %d, host dropped %d on QEMU's socket; socket drops +%d.",
		a1.fc.Sent-a0.fc.Sent, fr.Sent, fr.Holds, d(a0, a1, "dev.rx.packets"), a1.fc.Backend.Drops-a0.fc.Backend.Drops,
		sockDrops(a1.st)-sockDrops(a0.st))
	r.f("Drop reasons (delta): %s. Frame pool held by the stack %d → %d.", dropDeltas(a0.st, a1.st), framesHeld(a0.st), framesHeld(a1.st))
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
