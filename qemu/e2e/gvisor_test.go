package e2e

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	kstats "github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/bench"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// The benchmark's gVisor peer (image/gvisor-echo: gVisor's netstack on
// kaidoku's driver and NAPI) boots, echoes UDP and ICMP, measures
// interrupt to wakeup for the echoes it reads (total and irq_to_poll,
// with stack and wakeup empty), and its stats service speaks the
// benchmark's protocol and refuses sources outside the guest's subnet.
func TestGVisorEchoPeer(t *testing.T) {
	img := buildProgram(t, "./image/gvisor-echo")
	mac, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(mac, guestIP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	vm := bootProgram(t, img, qemu.Config{Net: nd, Lifetime: 3 * time.Minute})
	for _, want := range []string{"kaidoku on QEMU microvm", "gVisor netstack on kaidoku's virtio-net driver"} {
		if !strings.Contains(vm.Console.Text(), want) {
			t.Errorf("console lacks %q", want)
		}
	}

	src := addr(testbench.TestHost, 40000)
	reply, err := b.Request(src, 7, []byte("hello, gVisor"), 10*time.Second)
	if err != nil {
		t.Fatalf("echo: %v", err)
	}
	if string(reply) != "hello, gVisor" {
		t.Fatalf("echo replied %q", reply)
	}

	ping := testbench.IPv4{Src: testerIP, Dst: guestIP, Protocol: 1, Payload: testbench.EchoRequest(7, 9, []byte("ping data"))}
	if err := b.InjectIP(ping); err != nil {
		t.Fatal(err)
	}
	if rep, err := b.Next(testbench.IsICMP(0, 0, testerIP), 10*time.Second); err != nil {
		t.Errorf("ICMP echo: %v", err)
	} else if !bytes.HasSuffix(rep.L4, []byte("ping data")) {
		t.Errorf("ICMP echo reply % x", rep.L4)
	}

	stats := func(section string) string {
		t.Helper()
		text, err := b.Request(addr(testbench.TestHost, 41000), 161, []byte(section), 10*time.Second)
		if err != nil {
			t.Fatalf("stats %s: %v", section, err)
		}
		return string(text)
	}
	if got := stats(bench.SectionReset); !strings.Contains(got, "ok") {
		t.Fatalf("latency-reset answered %q", got)
	}
	const n = 100
	r := b.Echo(testbench.EchoOptions{Src: src, Port: 7, Size: 64, InFlight: 1, Count: n, Duration: 30 * time.Second, Timeout: time.Second})
	if r.Received < n*9/10 {
		t.Fatalf("%d of %d sequential echoes answered (%d lost)", r.Received, n, r.Lost)
	}
	t.Logf("%d echoes, RTT p50 %v p99 %v", r.Received, r.Percentile(0.5), r.Percentile(0.99))

	text := stats(bench.SectionCounters)
	snap, err := kstats.ParseCounters(text)
	if err != nil {
		t.Fatalf("counters: %v\n%s", err, text)
	}
	if snap.Stack != nil || snap.Dev == nil || snap.NAPI == nil || snap.Pools["frames"].Allocs == 0 || snap.Services == nil {
		t.Errorf("the gVisor echo's counters have the wrong parts:\n%s", text)
	}
	lat, err := testbench.LatencyParts(snap)
	if err != nil {
		t.Fatal(err)
	}
	total, irq := lat["total"], lat["irq_to_poll"]
	switch {
	case total == nil || total.Count == 0 || len(total.Buckets) == 0:
		t.Errorf("no latency total histogram:\n%s", text)
	case total.Count > uint64(r.Sent):
		t.Errorf("latency total counts %d datagrams, %d were sent since the reset", total.Count, r.Sent)
	case total.Count < uint64(r.Received)*9/10:
		// Every sequential echo's stamps should be found again.
		t.Errorf("latency total counts %d of %d echoes:\n%s", total.Count, r.Received, text)
	case total.P50 <= 0 || total.P50 > r.Percentile(0.5):
		t.Errorf("interrupt to wakeup p50 %v, RTT p50 %v: the part exceeds the whole", total.P50, r.Percentile(0.5))
	}
	if irq == nil || irq.Count == 0 || (total != nil && irq.P50 > total.P50) {
		t.Errorf("irq_to_poll histogram missing or above total:\n%s", text)
	}
	for _, part := range []string{"stack", "wakeup"} {
		if l := lat[part]; l == nil || l.Count != 0 {
			t.Errorf("%s should be reported empty (not observable in gVisor):\n%s", part, text)
		}
	}
	if total != nil {
		t.Logf("interrupt to wakeup: %d samples, p50 %v p99 %v; irq to poll p50 %v", total.Count, total.P50, total.P99, irq.P50)
	}

	if snap.Mem == nil || snap.Mem.InUseBytes <= 0 {
		t.Errorf("mem %+v", snap.Mem)
	}
	all := stats("all")
	for _, want := range []string{"== gvisor", "UDP.PacketsReceived", "== dev", "== napi", "== latency", "mem_in_use_bytes", "double_free 0"} {
		if !strings.Contains(all, want) {
			t.Errorf("stats all lacks %q:\n%s", want, all)
		}
	}

	// A source outside the guest's subnet gets no answer, and is counted.
	outsider := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.7"), 41000)
	if got, err := b.Request(outsider, 161, []byte("mem"), 2*time.Second); err == nil {
		t.Errorf("stats answered %s: %q", outsider, got)
	}
	text = stats(bench.SectionCounters)
	if snap, err := kstats.ParseCounters(text); err != nil || snap.Services.Stats.Refused != 1 {
		t.Errorf("refusal not counted (%v):\n%s", err, text)
	}
}
