package bench

import (
	"testing"
	"time"
)

func TestParseLatency(t *testing.T) {
	text := "latency total count=10 p50=120000 p90=200000 p99=300000 p999=310000 max=400000\n" +
		"buckets total 100000:4 200000:5 400000:1\n" +
		"latency stack count=10 p50=5000 p90=6000 p99=7000 p999=7000 max=9000\n" +
		"garbage line\nlatency bad count=x\n"
	m := ParseLatency(text)
	tot := m["total"]
	if tot == nil || tot.Count != 10 || tot.P50 != 120*time.Microsecond || tot.Max != 400*time.Microsecond {
		t.Fatalf("total %+v", tot)
	}
	if len(tot.Buckets) != 3 || tot.Buckets[1] != (Bucket{200 * time.Microsecond, 5}) {
		t.Fatalf("buckets %+v", tot.Buckets)
	}
	if m["stack"].P99 != 7*time.Microsecond {
		t.Fatalf("stack %+v", m["stack"])
	}
}

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
