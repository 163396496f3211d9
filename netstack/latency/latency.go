// Package latency records the receive-path latency of ARCHITECTURE.md: for each
// datagram a reader dequeues, T3−T0 (interrupt to application wakeup) and
// its parts T1−T0 (interrupt to NAPI poll), T2−T1 (poll to socket
// enqueue) and T3−T2 (enqueue to the reader running).
//
// Histograms are log-linear (each power of two split into 16 linear
// buckets, so any value is within 6.25 % of its bucket's bounds), fixed
// size and atomic: recording is a bit-length, a shift and an add, with no
// allocation, from any goroutine.
package latency

import (
	"fmt"
	"io"
	"math/bits"
	"sync/atomic"
)

const (
	subBits    = 4
	subBuckets = 1 << subBits
	groups     = 64 - subBits + 1
	nBuckets   = groups * subBuckets
)

// Histogram is a log-linear histogram of non-negative int64 values (ns).
type Histogram struct {
	counts [nBuckets]atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Int64
}

func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // shift that keeps subBits+1 bits
	return (e+1)*subBuckets + int(v>>uint(e)) - subBuckets
}

// bucketHigh returns the largest value in bucket i.
func bucketHigh(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	g := i/subBuckets - 1
	s := uint64(i%subBuckets) + subBuckets
	return (s+1)<<uint(g) - 1
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(uint64(v))].Add(1)
	h.count.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Buckets calls f for every non-empty bucket in increasing order with the
// largest value the bucket holds and its count.
func (h *Histogram) Buckets(f func(upper int64, count uint64)) {
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			f(int64(bucketHigh(i)), c)
		}
	}
}

// Max returns the largest value recorded.
func (h *Histogram) Max() int64 { return h.max.Load() }

// Mean returns the arithmetic mean, or 0.
func (h *Histogram) Mean() float64 {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the upper bound of the bucket holding quantile q
// (0 < q ≤ 1), capped at Max; 0 if nothing was recorded.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			v := int64(bucketHigh(i))
			if m := h.max.Load(); v > m {
				v = m
			}
			return v
		}
	}
	return h.max.Load()
}

// Reset clears the histogram.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.count.Store(0)
	h.sum.Store(0)
	h.max.Store(0)
}

// Summary is a histogram's digest, in ns.
type Summary struct {
	Count                    uint64
	P50, P90, P99, P999, Max int64
	Mean                     float64
}

// Summary computes the digest.
func (h *Histogram) Summary() Summary {
	return Summary{Count: h.Count(), P50: h.Quantile(0.5), P90: h.Quantile(0.9),
		P99: h.Quantile(0.99), P999: h.Quantile(0.999), Max: h.Max(), Mean: h.Mean()}
}

// Trace holds the four receive-path histograms.
type Trace struct {
	Total  Histogram // T3 − T0
	IRQ    Histogram // T1 − T0
	Stack  Histogram // T2 − T1
	Wakeup Histogram // T3 − T2
}

// Record adds one datagram's timestamps; a zero stamp skips the parts
// that need it.
func (t *Trace) Record(t0, t1, t2, t3 int64) {
	if t0 != 0 && t3 != 0 {
		t.Total.Record(t3 - t0)
	}
	if t0 != 0 && t1 != 0 {
		t.IRQ.Record(t1 - t0)
	}
	if t1 != 0 && t2 != 0 {
		t.Stack.Record(t2 - t1)
	}
	if t2 != 0 && t3 != 0 {
		t.Wakeup.Record(t3 - t2)
	}
}

// Reset clears all four histograms.
func (t *Trace) Reset() {
	t.Total.Reset()
	t.IRQ.Reset()
	t.Stack.Reset()
	t.Wakeup.Reset()
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

// WriteText prints one line per histogram: name, count and
// p50/p90/p99/p999/max/mean in microseconds.
func (t *Trace) WriteText(w io.Writer) error {
	for _, e := range []struct {
		name string
		h    *Histogram
	}{{"total(T3-T0)", &t.Total}, {"irq(T1-T0)", &t.IRQ}, {"stack(T2-T1)", &t.Stack}, {"wakeup(T3-T2)", &t.Wakeup}} {
		s := e.h.Summary()
		if _, err := fmt.Fprintf(w, "%-14s count=%d p50=%.1fus p90=%.1fus p99=%.1fus p999=%.1fus max=%.1fus mean=%.1fus\n",
			e.name, s.Count, us(s.P50), us(s.P90), us(s.P99), us(s.P999), us(s.Max), s.Mean/1e3); err != nil {
			return err
		}
	}
	return nil
}

// WriteStats prints the histograms in the stats service's protocol (read
// by qemu/bench): per part a summary line
//
//	latency <part> count=<n> p50=<ns> p90=<ns> p99=<ns> p999=<ns> max=<ns>
//
// and a line of its non-empty buckets, buckets <part> <upper_ns>:<count> ….
// The parts are total (T3−T0), irq_to_poll (T1−T0), stack (T2−T1) and
// wakeup (T3−T2).
func (t *Trace) WriteStats(w io.Writer) error {
	parts := []struct {
		name string
		h    *Histogram
	}{{"total", &t.Total}, {"irq_to_poll", &t.IRQ}, {"stack", &t.Stack}, {"wakeup", &t.Wakeup}}
	for _, p := range parts {
		if err := p.h.WriteStats(w, p.name); err != nil {
			return err
		}
	}
	return nil
}

// WriteStats prints one histogram under name in the stats service's
// protocol (see Trace.WriteStats).
func (h *Histogram) WriteStats(w io.Writer, name string) error {
	s := h.Summary()
	if _, err := fmt.Fprintf(w, "latency %s count=%d p50=%d p90=%d p99=%d p999=%d max=%d\n",
		name, s.Count, s.P50, s.P90, s.P99, s.P999, s.Max); err != nil {
		return err
	}
	line := []byte("buckets " + name)
	h.Buckets(func(upper int64, count uint64) {
		line = fmt.Appendf(line, " %d:%d", upper, count)
	})
	line = append(line, '\n')
	_, err := w.Write(line)
	return err
}
