package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// floodIP is a source kaidoku.xdp.drop names: its frames die in the
// driver's poll.
var floodIP = netip.MustParseAddr("10.0.2.66")

// An XDP program dropping a source (kaidoku.xdp.drop) drops its whole
// flood in the driver's poll, counted as xdp_drops, before the stack
// counts anything, while the UDP echo keeps answering everyone else.
func TestXDPDropFlood(t *testing.T) {
	mac, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(mac, guestIP)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	boot(t, qemu.Config{Net: nd, Append: []string{"kaidoku.xdp.drop=" + floodIP.String() + ",192.0.2.0/24"}})
	sc := b.StatsClient()
	st0, err := sc.All()
	if err != nil {
		t.Fatal(err)
	}
	fc0, err := b.FrameCounts()
	if err != nil {
		t.Fatal(err)
	}

	const count = 20000
	probe := b.StartEchoProbe(testbench.EchoProbeOptions{Src: addr(testerIP, 4077), Port: 7, Size: 64, Timeout: 500 * time.Millisecond})
	time.Sleep(300 * time.Millisecond)
	probe.Mark("flood")
	// To the echo port: were a datagram to get through, the echo would
	// answer it.
	fl := b.StartFlood(testbench.FloodConfig{Src: addr(floodIP, 5000), Port: 7, Size: 64, Count: count, Backlog: 64 << 10})
	select {
	case <-fl.Done():
	case <-time.After(3 * time.Minute):
		fl.Stop()
		t.Fatalf("the flood did not finish: %d of %d sent", fl.Sent(), count)
	}
	fr := fl.Wait()
	probe.Mark("after")
	time.Sleep(300 * time.Millisecond)
	phases, res := probe.Stop()

	// Wait until QEMU's socket has handed the guest everything.
	var st *testbench.Stats
	var fc testbench.FrameCounts
	deadline := time.Now().Add(time.Minute)
	for {
		if fc, err = b.FrameCounts(); err != nil {
			t.Fatal(err)
		}
		if st, err = sc.All(); err != nil {
			t.Fatal(err)
		}
		lost := uint64(fc.Backend.Drops - fc0.Backend.Drops)
		if uint64(st.Dev.RX.XDPDrops-st0.Dev.RX.XDPDrops)+lost >= fr.Sent && fc.Backend.RxQueue == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("xdp_drops %d of a flood of %d (%d lost by the host)\n%s", st.Dev.RX.XDPDrops-st0.Dev.RX.XDPDrops, fr.Sent, lost, st.Dev)
		}
		time.Sleep(50 * time.Millisecond)
	}
	d := func(name string) int64 { return st.Counter(name) - st0.Counter(name) }
	lost := fc.Backend.Drops - fc0.Backend.Drops
	t.Logf("flood: %d sent at %.0f/s, %d lost by the host; xdp_drops +%d, xdp_packets +%d, rx packets +%d",
		fr.Sent, fr.PPS(), lost, d("dev.rx.xdp_drops"), d("dev.rx.xdp_packets"), d("dev.rx.packets"))
	for _, p := range phases {
		r := res[p]
		t.Logf("echo %s: %d answered, %d lost, RTT p50 %v p99 %v", p, r.Received, r.Lost, r.Percentile(0.5), r.Percentile(0.99))
	}
	if got := d("dev.rx.xdp_drops"); got+lost != int64(fr.Sent) {
		t.Errorf("xdp_drops +%d, host lost %d: want the %d flood frames", got, lost, fr.Sent)
	}
	// Every frame went through the program; only the flood died there.
	if d("dev.rx.xdp_packets") != d("dev.rx.packets") || d("dev.rx.drops") != d("dev.rx.xdp_drops") {
		t.Errorf("xdp_packets +%d, rx packets +%d, rx drops +%d", d("dev.rx.xdp_packets"), d("dev.rx.packets"), d("dev.rx.drops"))
	}
	if n := st.Dev.XDPExceptions; n != 0 {
		t.Errorf("%d XDP exceptions", n)
	}
	// The stack never saw the flood: its datagrams are not among those
	// received, and nothing answered them.
	if in := d("Udp.InDatagrams"); in >= int64(fr.Sent) {
		t.Errorf("Udp.InDatagrams +%d for a flood of %d dropped by XDP", in, fr.Sent)
	}
	if res["flood"].Received == 0 {
		t.Errorf("the echo did not answer during the flood: %+v", res["flood"])
	}
	if res["after"].Received == 0 {
		t.Errorf("the echo did not answer after the flood: %+v", res["after"])
	}
}

// image/xskecho answers UDP echoes through an AF_XDP socket, in copy
// mode and in zero-copy mode: every request once, as an echo (addresses
// and ports swapped, checksums valid), with the socket's counters
// agreeing (in zero-copy mode every request received in place, in copy
// mode none) and each frame's interrupt-to-wakeup in the stats
// service's latency trace; the stack still answers the stats service
// beside it.
func TestXSKEcho(t *testing.T) {
	img := buildProgram(t, "./image/xskecho")
	for _, mode := range []struct {
		name     string
		flags    []string
		zeroCopy bool
	}{
		{"copy", nil, false},
		{"zero-copy", []string{"-zerocopy"}, true},
	} {
		t.Run(mode.name, func(t *testing.T) { testXSKEcho(t, img, mode.flags, mode.zeroCopy) })
	}
}

func testXSKEcho(t *testing.T, img string, flags []string, zeroCopy bool) {
	mac, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(mac, guestIP)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	vm := bootProgram(t, img, qemu.Config{Net: nd, Append: append([]string{"kaidoku.stats.allow=any", "--", "-report", "250ms"}, flags...)})
	if _, err := b.Request(netip.AddrPortFrom(testbench.TestHost, 40001), 161, []byte("latency-reset"), 10*time.Second); err != nil {
		t.Fatal(err)
	}

	const n = 2000
	const window = 32
	src := netip.AddrPortFrom(testerIP, 4000)
	answer := func(p testbench.Parsed) bool {
		return p.Src == mac && p.Dst == b.MAC && p.Proto == 17 && p.IPSrc == guestIP && p.IPDst == testerIP &&
			p.SrcPort == 7 && p.DstPort == 4000
	}
	seen := map[string]bool{}
	for sent, got := 0, 0; got < n; got++ {
		for ; sent < n && sent-got < window; sent++ {
			if err := b.SendUDP(src, 7, []byte(fmt.Sprintf("xsk %06d", sent))); err != nil {
				t.Fatal(err)
			}
		}
		p, err := b.Next(answer, 10*time.Second)
		if err != nil {
			t.Fatalf("after %d of %d answers: %v", got, n, err)
		}
		if seen[string(p.UDPData)] || !checksumsValid(p) {
			t.Fatalf("answer %q repeated or with a bad checksum", p.UDPData)
		}
		seen[string(p.UDPData)] = true
	}
	if extra := b.Count(answer, 300*time.Millisecond); extra != 0 {
		t.Fatalf("%d answers too many", extra)
	}

	// The socket's counters: every request received and sent, nothing
	// dropped or refused.
	re := regexp.MustCompile(`^XSK `)
	deadline := time.Now().Add(10 * time.Second)
	for from := 0; ; {
		l, i, err := vm.Console.Expect(re, from, time.Until(deadline))
		if err != nil {
			t.Fatalf("no XSK line counting every frame: %v", err)
		}
		from = i + 1
		m := keyValues(l.Text)
		if m["tx_packets"] < n {
			continue
		}
		wantZC := uint64(0)
		if zeroCopy {
			wantZC = n
		}
		if m["rx_packets"] != n || m["tx_packets"] != n || m["rx_dropped"] != 0 || m["rx_ring_full"] != 0 ||
			m["tx_invalid_descs"] != 0 || m["fill_invalid_descs"] != 0 || m["rx_zerocopy"] != wantZC {
			t.Fatalf("socket counters disagree with %d echoes (zero-copy %v): %s", n, zeroCopy, l.Text)
		}
		t.Logf("%s", l.Text)
		break
	}
	reply, err := b.Request(netip.AddrPortFrom(testbench.TestHost, 40002), 161, []byte(testbench.SectionCounters), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := stats.ParseCounters(string(reply))
	if err != nil {
		t.Fatal(err)
	}
	// In zero-copy mode the device received every request into the
	// UMEM; the stack's own frames were copied out of it.
	if zeroCopy && (snap.Dev == nil || snap.Dev.RX.XSKPackets < n || snap.Dev.RX.XSKCopies == 0) {
		t.Fatalf("zero-copy: the driver's counters do not show %d frames received into the UMEM: %+v", n, snap.Dev)
	}
	// Frames of polls that no interrupt started (a re-check after
	// completion, the softnet goroutine) have no T0 and are not
	// recorded; the stack's own datagrams here are the two stats
	// requests.
	if snap.Latency == nil || snap.Latency.Total.Count < n/2 || snap.Latency.Total.Count > n+2 {
		t.Fatalf("latency trace of %d frames: %+v", n, snap.Latency)
	}
	t.Logf("AF_XDP interrupt-to-wakeup: p50 %v p99 %v over %d frames", snap.Latency.Total.P50, snap.Latency.Total.P99, snap.Latency.Total.Count)
}

// keyValues parses the key=<decimal> words of a console line.
func keyValues(line string) map[string]uint64 {
	m := map[string]uint64{}
	for _, w := range strings.Fields(line) {
		if k, v, ok := strings.Cut(w, "="); ok {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				m[k] = n
			}
		}
	}
	return m
}

// XDP_ABORTED (kaidoku.test.xdp_abort) drops the frame in the poll and
// counts it as an XDP drop and an exception, while XDP_PASS hands every
// other frame to the stack: the echo answers, the discard service never
// sees the aborted datagrams.
func TestXDPAbortedAndPass(t *testing.T) {
	mac, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(mac, guestIP)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	boot(t, qemu.Config{Net: nd, Append: []string{"kaidoku.test.xdp_abort=9"}})
	sc := b.StatsClient()
	st0, err := sc.All()
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	src := netip.AddrPortFrom(testerIP, 4100)
	for i := 0; i < n; i++ {
		if err := b.SendUDP(src, 9, []byte(fmt.Sprintf("aborted %d", i))); err != nil {
			t.Fatal(err)
		}
		reply, err := b.Request(src, 7, []byte(fmt.Sprintf("passed %d", i)), 5*time.Second)
		if err != nil || string(reply) != fmt.Sprintf("passed %d", i) {
			t.Fatalf("echo %d: %q, %v", i, reply, err)
		}
	}
	st, err := sc.All()
	if err != nil {
		t.Fatal(err)
	}
	d := func(name string) int64 { return st.Counter(name) - st0.Counter(name) }
	if d("dev.rx.xdp_drops") != n || d("dev.xdp_exceptions") != n || d("dev.rx.drops") != n {
		t.Errorf("xdp_drops +%d, exceptions +%d, rx drops +%d: want %d each", d("dev.rx.xdp_drops"), d("dev.xdp_exceptions"), d("dev.rx.drops"), n)
	}
	// Every frame went through the program: the aborted, the echoes and
	// the stats request.
	if d("dev.rx.xdp_packets") != d("dev.rx.packets") || d("dev.rx.packets") < 2*n {
		t.Errorf("xdp_packets +%d, rx packets +%d", d("dev.rx.xdp_packets"), d("dev.rx.packets"))
	}
	if in := d("Udp.InDatagrams"); in != n+1 {
		t.Errorf("Udp.InDatagrams +%d: want the %d echoes and the stats request", in, n)
	}
}
