// Package bench runs kaidoku's side-by-side benchmark: every peer (the
// kaidoku echo, the gVisor netstack on kaidoku's driver, a Linux guest,
// the driver's reflector) is booted in turn on the same QEMU settings with
// a datagram backend and measured by the same host client — boot-to-READY,
// sequential round-trip time, echoes per second with a window of requests
// in flight, interrupt-to-wakeup latency where the guest measures it,
// image size and guest memory in use — and the results are written as a
// markdown table and PNG plots.
package bench

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// The stats service protocol. A guest's stats port answers a datagram
// naming a section with text. Lines the benchmark reads:
//
//	mem_in_use_bytes <n>
//	latency <part> count=<n> p50=<ns> p90=<ns> p99=<ns> p999=<ns> max=<ns>
//	buckets <part> <upper_ns>:<count> ...
//
// <part> is total (T3−T0, interrupt to wakeup), irq_to_poll (T1−T0),
// stack (T2−T1) or wakeup (T3−T2).
const (
	SectionMem     = "mem"
	SectionLatency = "latency"
	SectionReset   = "latency-reset"
)

// ParseMem reads mem_in_use_bytes from a stats reply.
func ParseMem(text string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "mem_in_use_bytes" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no mem_in_use_bytes in stats reply")
}

// Parts are the latency histograms of DESIGN.md, in table order.
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
