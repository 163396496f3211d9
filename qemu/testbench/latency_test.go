package testbench

import (
	"bytes"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/latency"
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
	if len(tot.Buckets) != 3 || tot.Buckets[1] != (Bucket{Upper: 200 * time.Microsecond, Count: 5}) {
		t.Fatalf("buckets %+v", tot.Buckets)
	}
	if m["stack"].P99 != 7*time.Microsecond {
		t.Fatalf("stack %+v", m["stack"])
	}
}

// The guest's histogram writer and ParseLatency agree.
func TestLatencyProtocolRoundTrip(t *testing.T) {
	var tr latency.Trace
	for i := int64(1); i <= 1000; i++ {
		tr.Record(1000, 1000+i*100, 1000+i*150, 1000+i*1000)
	}
	var buf bytes.Buffer
	if err := tr.WriteStats(&buf); err != nil {
		t.Fatal(err)
	}
	m := ParseLatency(buf.String())
	for _, part := range []struct {
		name string
		h    *latency.Histogram
	}{{"total", &tr.Total}, {"irq_to_poll", &tr.IRQ}, {"stack", &tr.Stack}, {"wakeup", &tr.Wakeup}} {
		l := m[part.name]
		s := part.h.Summary()
		if l == nil || l.Count != s.Count || int64(l.P99) != s.P99 || int64(l.Max) != s.Max {
			t.Fatalf("%s: parsed %+v, histogram %+v", part.name, l, s)
		}
		var n uint64
		for _, b := range l.Buckets {
			n += b.Count
		}
		if n != s.Count {
			t.Fatalf("%s: buckets hold %d of %d", part.name, n, s.Count)
		}
	}
}
