package bench

import (
	"strings"
	"testing"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

func TestParseMem(t *testing.T) {
	tests := []struct {
		text string
		want int64
		ok   bool
	}{
		{"x 1\nmem_in_use_bytes 123456\n", 123456, true},
		{"mem_in_use_bytes\n", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseMem(tc.text)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %d %v", tc.text, got, err)
		}
	}
}

func TestLatencyTable(t *testing.T) {
	m := testbench.ParseLatency("latency total count=3 p50=1500 p90=2000 p99=3000 p999=3000 max=4000\n")
	out := LatencyTable(m)
	for _, want := range []string{"total", "1.5", "4.0", "irq_to_poll"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}
