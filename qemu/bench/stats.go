// Package bench runs kaidoku's side-by-side benchmark: every peer (the
// kaidoku echo, the gVisor netstack on kaidoku's driver, a Linux guest,
// the XDP reflector) is booted in turn on the same QEMU settings with
// a datagram backend and measured by the same host client — boot-to-READY,
// sequential round-trip time, echoes per second with a window of requests
// in flight, interrupt-to-wakeup latency where the guest measures it,
// image size and guest memory in use, latency against offered load with
// open-loop Poisson arrivals — and the results are written as a
// markdown table and PNG plots.
package bench

import (
	"fmt"
	"strings"
	"time"

	"github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// The stats service protocol. A guest's stats port answers a datagram
// naming a section with text; the benchmark asks for SectionCounters, the
// machine form of image/stats (one "name value" line per counter, ending
// in "end <n>"), and reads latency.<part>.* and mem.in_use_bytes from it.
// <part> is total (T3−T0, interrupt to wakeup), irq_to_poll (T1−T0),
// stack (T2−T1) or wakeup (T3−T2). SectionReset clears the histograms.
const (
	SectionCounters = testbench.SectionCounters
	SectionReset    = "latency-reset"
)

// ParseCounters is how a peer's stats reply is read when Peer.Stats is
// nil: the machine form of kaidoku's images.
func ParseCounters(reply []byte) (*stats.Snapshot, error) { return stats.ParseCounters(string(reply)) }

// Parts are the latency histograms of ARCHITECTURE.md, in table order.
var Parts = []struct{ Name, Span string }{
	{"total", "T3−T0 interrupt to application wakeup"},
	{"irq_to_poll", "T1−T0 interrupt to NAPI poll"},
	{"stack", "T2−T1 poll to socket enqueue"},
	{"wakeup", "T3−T2 enqueue to reader running"},
}

// LatencyTable renders the histograms as a table in µs.
func LatencyTable(parts map[string]*testbench.Latency) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s %-40s %9s %9s %9s %9s %9s %9s\n", "part", "span", "count", "p50 µs", "p90 µs", "p99 µs", "p999 µs", "max µs")
	for _, p := range Parts {
		l := parts[p.Name]
		if l == nil || l.Count == 0 {
			fmt.Fprintf(&b, "%-12s %-40s %9s\n", p.Name, p.Span, "-")
			continue
		}
		fmt.Fprintf(&b, "%-12s %-40s %9d %9.1f %9.1f %9.1f %9.1f %9.1f\n", p.Name, p.Span, l.Count,
			usf(l.P50), usf(l.P90), usf(l.P99), usf(l.P999), usf(l.Max))
	}
	return b.String()
}

func usf(d time.Duration) float64 { return float64(d) / 1e3 }
