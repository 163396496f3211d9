package latency

import (
	"strings"
	"testing"
)

func TestBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 15, 16, 17, 31, 32, 33, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1} {
		i := bucketOf(v)
		if i < prev || i >= nBuckets {
			t.Fatalf("v=%d bucket %d prev %d", v, i, prev)
		}
		prev = i
		hi := bucketHigh(i)
		if v > hi {
			t.Fatalf("v=%d above bucket high %d", v, hi)
		}
		if i > 0 && v <= bucketHigh(i-1) {
			t.Fatalf("v=%d fits in previous bucket", v)
		}
		if v >= 16 && float64(hi-v) > float64(v)/16+1 {
			t.Fatalf("v=%d bucket too wide: %d", v, hi)
		}
	}
}

func TestQuantiles(t *testing.T) {
	var h Histogram
	for v := int64(1); v <= 1000; v++ {
		h.Record(v * 1000)
	}
	s := h.Summary()
	if s.Count != 1000 || s.Max != 1000000 {
		t.Fatalf("%+v", s)
	}
	for _, c := range []struct {
		got, want int64
	}{{s.P50, 500000}, {s.P90, 900000}, {s.P99, 990000}} {
		if c.got < c.want || float64(c.got) > float64(c.want)*1.07 {
			t.Fatalf("quantile %d want ≈%d", c.got, c.want)
		}
	}
	var tr Trace
	tr.Record(100, 200, 400, 1000)
	var b strings.Builder
	if err := tr.WriteText(&b); err != nil || !strings.Contains(b.String(), "total(T3-T0)   count=1") {
		t.Fatal(b.String())
	}
}

func TestRecordNoAlloc(t *testing.T) {
	var tr Trace
	if n := testing.AllocsPerRun(100, func() { tr.Record(1, 2, 3, 4) }); n != 0 {
		t.Fatalf("allocs %v", n)
	}
}

func TestBucketsCoverRecords(t *testing.T) {
	var h Histogram
	vals := []int64{0, 3, 17, 17, 1000, 123456, 9e9}
	for _, v := range vals {
		h.Record(v)
	}
	var total uint64
	prev := int64(-1)
	h.Buckets(func(upper int64, count uint64) {
		if upper <= prev {
			t.Fatalf("buckets out of order: %d after %d", upper, prev)
		}
		prev = upper
		total += count
	})
	if total != uint64(len(vals)) || prev < 9e9 {
		t.Fatalf("buckets hold %d values, last upper %d", total, prev)
	}
}
