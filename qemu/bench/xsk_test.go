package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

func TestXSKGoals(t *testing.T) {
	load := func(n int) testbench.EchoResult {
		return testbench.EchoResult{Sent: n, Received: n, Duration: time.Second, RTTs: []time.Duration{time.Second}}
	}
	rtt := func(d time.Duration) testbench.EchoResult {
		return testbench.EchoResult{Sent: 1, Received: 1, RTTs: []time.Duration{d}}
	}
	lat := func(p50 time.Duration) map[string]*testbench.Latency {
		return map[string]*testbench.Latency{"total": {Count: 10, P50: p50}}
	}
	us := time.Microsecond
	rs := []Result{
		{Peer: "kaidoku, per-datagram echo", Latency: lat(10 * us)},
		{Peer: "kaidoku", Latency: lat(100 * us)},
		{Peer: "reflector (XDP_TX, driver ceiling)", RTT: rtt(100 * us), Load: load(1000)},
		{Peer: XSKPeerName, RTT: rtt(105 * us), Load: load(960), Latency: lat(50 * us)},
	}
	if got := XSKGoals(rs); strings.Count(got, "- met: "+XSKPeerName) != 3 || strings.Contains(got, "not met") {
		t.Fatalf("want three goals met:\n%s", got)
	}
	rs[3].RTT, rs[3].Load, rs[3].Latency = rtt(120*us), load(900), lat(60*us)
	if got := XSKGoals(rs); strings.Count(got, "- not met: "+XSKPeerName) != 3 {
		t.Fatalf("want three goals not met:\n%s", got)
	}
	rs = append(rs, Result{Peer: XSKZeroCopyPeerName, RTT: rtt(100 * us), Load: load(1000), Latency: lat(40 * us)})
	if got := XSKGoals(rs); strings.Count(got, "- met: "+XSKZeroCopyPeerName) != 3 || strings.Count(got, "- not met: "+XSKPeerName) != 3 {
		t.Fatalf("want the zero-copy row's goals met beside the copy row's:\n%s", got)
	}
	if got := XSKGoals(rs[:3]); got != "" {
		t.Fatalf("without an AF_XDP row: %q", got)
	}
}
