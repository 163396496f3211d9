package bench

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Sockperf is what one sockperf client run (ping-pong or under-load)
// reports for its valid duration (the run without the warm-up): the
// messages sent and received, the latency summary and the percentiles
// of its "percentile NN.NNN = x" lines. With --full-rtt the latencies
// are round trips, otherwise half of them; Latency says which.
type Sockperf struct {
	// Duration, Sent and Received are the "[Valid Duration]" line's.
	Duration       time.Duration
	Sent, Received uint64
	// Dropped, Duplicated and OutOfOrder are sockperf's counts of
	// replies missing, seen twice or out of sequence.
	Dropped, Duplicated, OutOfOrder uint64
	// Latency is "Round trip" (--full-rtt) or "Latency" (one way,
	// RTT/2), as the summary line names it.
	Latency string
	// Avg is the summary's average; Observations how many replies the
	// percentiles are over.
	Avg          time.Duration
	Observations uint64
	// Percentiles by their label in thousandths (50000 is p50, 99900
	// p99.9), and the minimum and maximum observations.
	Percentiles map[int]time.Duration
	Min, Max    time.Duration
}

// Percentile returns sockperf's percentile p (50, 99, 99.9, ...), and
// whether it printed that one.
func (s *Sockperf) Percentile(p float64) (time.Duration, bool) {
	d, ok := s.Percentiles[int(p*1000+0.5)]
	return d, ok
}

// P returns Percentile(p), 0 when sockperf did not print it.
func (s *Sockperf) P(p float64) time.Duration {
	d, _ := s.Percentile(p)
	return d
}

var (
	// sockperf colours some lines with ANSI escapes.
	ansiEscape    = regexp.MustCompile("\x1b\\[[0-9;]*m")
	spValid       = regexp.MustCompile(`\[Valid Duration\] RunTime=([0-9.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)`)
	spDropped     = regexp.MustCompile(`# dropped messages = (\d+); # duplicated messages = (\d+); # out-of-order messages = (\d+)`)
	spSummary     = regexp.MustCompile(`Summary: (Round trip|Latency) is ([0-9.]+) usec`)
	spTotal       = regexp.MustCompile(`Total (\d+) observations`)
	spPercentile  = regexp.MustCompile(`---> percentile ([0-9.]+) =\s*([0-9.]+)`)
	spObservation = regexp.MustCompile(`---> <(MAX|MIN)> observation =\s*([0-9.]+)`)
)

// ParseSockperf reads a sockperf client's output (stdout and stderr).
// "No messages were received from the server" is an error, as is output
// without the valid-duration line or the percentiles.
func ParseSockperf(out string) (*Sockperf, error) {
	s := &Sockperf{Percentiles: map[int]time.Duration{}}
	var valid bool
	sc := bufio.NewScanner(strings.NewReader(ansiEscape.ReplaceAllString(out, "")))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "No messages were received from the server") {
			return nil, fmt.Errorf("sockperf: no reply from the server%s", tail(out))
		}
		if m := spValid.FindStringSubmatch(line); m != nil {
			sec, _ := strconv.ParseFloat(m[1], 64)
			s.Duration = seconds(sec)
			s.Sent, _ = strconv.ParseUint(m[2], 10, 64)
			s.Received, _ = strconv.ParseUint(m[3], 10, 64)
			valid = true
		} else if m := spDropped.FindStringSubmatch(line); m != nil {
			s.Dropped, _ = strconv.ParseUint(m[1], 10, 64)
			s.Duplicated, _ = strconv.ParseUint(m[2], 10, 64)
			s.OutOfOrder, _ = strconv.ParseUint(m[3], 10, 64)
		} else if m := spSummary.FindStringSubmatch(line); m != nil {
			s.Latency = m[1]
			s.Avg = micros(m[2])
		} else if m := spTotal.FindStringSubmatch(line); m != nil {
			s.Observations, _ = strconv.ParseUint(m[1], 10, 64)
		} else if m := spPercentile.FindStringSubmatch(line); m != nil {
			p, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return nil, fmt.Errorf("sockperf: %q: %v", line, err)
			}
			s.Percentiles[int(p*1000+0.5)] = micros(m[2])
		} else if m := spObservation.FindStringSubmatch(line); m != nil {
			if m[1] == "MAX" {
				s.Max = micros(m[2])
			} else {
				s.Min = micros(m[2])
			}
		}
	}
	switch {
	case !valid:
		return nil, fmt.Errorf("sockperf: no [Valid Duration] line%s", tail(out))
	case s.Latency == "":
		return nil, fmt.Errorf("sockperf: no latency summary%s", tail(out))
	case len(s.Percentiles) == 0:
		return nil, fmt.Errorf("sockperf: no percentiles%s", tail(out))
	}
	return s, nil
}

// micros parses sockperf's microseconds ("29.245"); the regular
// expressions admit only digits and a dot.
func micros(v string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	return time.Duration(f*1000 + 0.5)
}
