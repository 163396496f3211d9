package bench

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DNSPerf is what one dnsperf run reports: the summary dnsperf prints at
// the end and, from its verbose lines (-v: one "> RCODE name type
// seconds" line per answered query, "> T name type" per query that timed
// out), the latency distribution. dnsperf 2.10 (Debian 12) prints no
// percentiles of its own, only the average, minimum, maximum and standard
// deviation; the percentiles here are computed from every answered
// query's latency.
type DNSPerf struct {
	Sent, Completed, Lost uint64
	// QPS is dnsperf's "Queries per second": completed queries over the
	// run time.
	QPS     float64
	RunTime time.Duration
	// Rcodes counts the answers by response code (NOERROR, NXDOMAIN, ...).
	Rcodes map[string]uint64
	// Avg, Min, Max and StdDev are dnsperf's own latency summary.
	Avg, Min, Max, StdDev time.Duration
	// Latencies are the answered queries' latencies, sorted.
	Latencies []time.Duration
	// TimedOut counts the verbose "> T" lines.
	TimedOut uint64
}

// Percentile returns the q-quantile (0 < q ≤ 1) of the answered queries'
// latencies by the nearest-rank method, 0 when none was answered.
func (d *DNSPerf) Percentile(q float64) time.Duration {
	return nearestRank(d.Latencies, q)
}

// LostPct is the share of sent queries that got no answer, in percent.
func (d *DNSPerf) LostPct() float64 {
	if d.Sent == 0 {
		return 0
	}
	return float64(d.Lost) / float64(d.Sent) * 100
}

// nearestRank is the q-quantile of sorted by the nearest-rank method.
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ParseDNSPerf reads dnsperf's output (stdout, with -v for the
// percentiles). It fails when the statistics block is missing, as when
// dnsperf stopped on an error before measuring.
func ParseDNSPerf(out string) (*DNSPerf, error) {
	d := &DNSPerf{Rcodes: map[string]uint64{}}
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "> "); ok {
			f := strings.Fields(rest)
			switch {
			case len(f) >= 1 && f[0] == "T":
				d.TimedOut++
			case len(f) == 4:
				s, err := strconv.ParseFloat(f[3], 64)
				if err != nil {
					return nil, fmt.Errorf("dnsperf: verbose line %q: %v", line, err)
				}
				d.Latencies = append(d.Latencies, seconds(s))
			default:
				return nil, fmt.Errorf("dnsperf: verbose line %q: want \"> RCODE name type seconds\"", line)
			}
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Queries sent":
			d.Sent, err = firstUint(val)
		case "Queries completed":
			d.Completed, err = firstUint(val)
		case "Queries lost":
			d.Lost, err = firstUint(val)
		case "Queries per second":
			d.QPS, err = strconv.ParseFloat(val, 64)
		case "Run time (s)":
			var s float64
			s, err = strconv.ParseFloat(val, 64)
			d.RunTime = seconds(s)
		case "Response codes":
			// "NOERROR 240 (80.00%), NXDOMAIN 60 (20.00%)", empty when
			// nothing was answered.
			for _, part := range strings.Split(val, ",") {
				f := strings.Fields(part)
				if len(f) == 0 {
					continue
				}
				if len(f) < 2 {
					err = fmt.Errorf("response code %q", part)
					break
				}
				var n uint64
				if n, err = strconv.ParseUint(f[1], 10, 64); err != nil {
					break
				}
				d.Rcodes[f[0]] += n
			}
		case "Average Latency (s)":
			// "0.000174 (min 0.000032, max 0.003341)"
			var avg, lo, hi float64
			if _, err = fmt.Sscanf(val, "%g (min %g, max %g)", &avg, &lo, &hi); err == nil {
				d.Avg, d.Min, d.Max = seconds(avg), seconds(lo), seconds(hi)
			}
		case "Latency StdDev (s)":
			var s float64
			s, err = strconv.ParseFloat(val, 64)
			d.StdDev = seconds(s)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dnsperf: %q: %v", line, err)
		}
		seen[key] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dnsperf: %v", err)
	}
	for _, k := range []string{"Queries sent", "Queries completed", "Queries lost", "Queries per second"} {
		if !seen[k] {
			return nil, fmt.Errorf("dnsperf: no %q in its output (did it run?)%s", k, tail(out))
		}
	}
	if len(d.Latencies) > 0 && uint64(len(d.Latencies)) != d.Completed {
		return nil, fmt.Errorf("dnsperf: %d verbose latency lines for %d completed queries", len(d.Latencies), d.Completed)
	}
	slices.Sort(d.Latencies)
	return d, nil
}

// firstUint reads the number that starts s ("300 (100.00%)").
func firstUint(s string) (uint64, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, errors.New("no number")
	}
	return strconv.ParseUint(f[0], 10, 64)
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

// tail returns the last lines of a client's output for an error message.
func tail(out string) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return ": no output"
	}
	lines := strings.Split(out, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return ":\n" + strings.Join(lines, "\n")
}
