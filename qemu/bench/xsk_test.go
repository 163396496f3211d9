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
		{Peer: "kaidoku", Latency: lat(100 * us)},
		{Peer: "reflector (XDP_TX, driver ceiling)", RTT: rtt(100 * us), Load: load(1000)},
		{Peer: XSKPeerName, RTT: rtt(105 * us), Load: load(960), Latency: lat(50 * us)},
	}
	if got := XSKGoals(rs); strings.Count(got, "- met:") != 3 {
		t.Fatalf("want three goals met:\n%s", got)
	}
	rs[2].RTT, rs[2].Load, rs[2].Latency = rtt(120*us), load(900), lat(60*us)
	if got := XSKGoals(rs); strings.Count(got, "- not met:") != 3 {
		t.Fatalf("want three goals not met:\n%s", got)
	}
	if got := XSKGoals(rs[:2]); got != "" {
		t.Fatalf("without the AF_XDP row: %q", got)
	}
}
