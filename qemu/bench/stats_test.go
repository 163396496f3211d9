package bench

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// The bench reads latency and memory from the machine form.
func TestParseCountersPeer(t *testing.T) {
	var b bytes.Buffer
	if err := stats.WriteCounters(&b, &stats.Snapshot{Mem: &stats.Mem{InUseBytes: 123456},
		Latency: &stats.Latency{Total: stats.Histogram{Count: 3, P50: 1500}}}); err != nil {
		t.Fatal(err)
	}
	snap, err := ParseCounters(b.Bytes())
	if err != nil || snap.Mem.InUseBytes != 123456 || snap.Latency.Total.P50 != 1500 {
		t.Fatalf("%+v %v", snap, err)
	}
	for _, bad := range []string{"mem_in_use_bytes 123456\n", "mem.in_use_bytes 1\n", ""} {
		if _, err := ParseCounters([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestLatencyTable(t *testing.T) {
	m := map[string]*testbench.Latency{"total": {Count: 3, P50: 1500, P90: 2000, P99: 3000, P999: 3000, Max: 4000}}
	out := LatencyTable(m)
	for _, want := range []string{"total", "1.5", "4.0", "irq_to_poll"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
