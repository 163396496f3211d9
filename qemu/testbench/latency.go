package testbench

import (
	"bufio"
	"strconv"
	"strings"
	"time"
)

// Latency is one latency histogram as the guest reports it.
type Latency struct {
	Count                    uint64
	P50, P90, P99, P999, Max time.Duration
	Buckets                  []Bucket
}

// Bucket is one histogram bucket: Count samples no larger than Upper.
type Bucket struct {
	Upper time.Duration
	Count uint64
}

// ParseLatency reads the latency and buckets lines of a stats reply (the
// format of netstack/latency's Histogram.WriteStats):
//
//	latency <part> count=<n> p50=<ns> p90=<ns> p99=<ns> p999=<ns> max=<ns>
//	buckets <part> <upper_ns>:<count> ...
func ParseLatency(text string) map[string]*Latency {
	out := map[string]*Latency{}
	get := func(part string) *Latency {
		if out[part] == nil {
			out[part] = &Latency{}
		}
		return out[part]
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		switch f[0] {
		case "latency":
			l := get(f[1])
			for _, kv := range f[2:] {
				k, v, ok := strings.Cut(kv, "=")
				n, err := strconv.ParseUint(v, 10, 64)
				if !ok || err != nil {
					continue
				}
				switch k {
				case "count":
					l.Count = n
				case "p50":
					l.P50 = time.Duration(n)
				case "p90":
					l.P90 = time.Duration(n)
				case "p99":
					l.P99 = time.Duration(n)
				case "p999":
					l.P999 = time.Duration(n)
				case "max":
					l.Max = time.Duration(n)
				}
			}
		case "buckets":
			l := get(f[1])
			for _, kv := range f[2:] {
				u, c, ok := strings.Cut(kv, ":")
				un, err1 := strconv.ParseUint(u, 10, 64)
				cn, err2 := strconv.ParseUint(c, 10, 64)
				if ok && err1 == nil && err2 == nil {
					l.Buckets = append(l.Buckets, Bucket{Upper: time.Duration(un), Count: cn})
				}
			}
		}
	}
	return out
}
