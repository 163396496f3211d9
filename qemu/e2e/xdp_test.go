package e2e

import (
	"net/netip"
	"testing"
	"time"

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
	probe := b.StartEchoProbe(addr(testerIP, 4077), 7, 64, 500*time.Millisecond)
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
