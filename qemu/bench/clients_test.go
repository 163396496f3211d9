package bench

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The dnsperf files are real output of dnsperf 2.10.0 (Debian 12) with
// -v, against image/dns built for Linux (dnsperf-verbose.txt) and against
// a port nobody serves (dnsperf-lost.txt).
func TestParseDNSPerf(t *testing.T) {
	d, err := ParseDNSPerf(readTestdata(t, "dnsperf-verbose.txt"))
	if err != nil {
		t.Fatal(err)
	}
	us := time.Microsecond
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"sent", d.Sent, uint64(300)},
		{"completed", d.Completed, uint64(300)},
		{"lost", d.Lost, uint64(0)},
		{"qps", d.QPS, 299.901033},
		{"run time", d.RunTime, 1000330 * us},
		{"NOERROR", d.Rcodes["NOERROR"], uint64(240)},
		{"NXDOMAIN", d.Rcodes["NXDOMAIN"], uint64(60)},
		{"avg", d.Avg, 174 * us},
		{"min", d.Min, 32 * us},
		{"max", d.Max, 3341 * us},
		{"stddev", d.StdDev, 420 * us},
		{"latencies", len(d.Latencies), 300},
		{"p50", d.Percentile(0.5), 82 * us},
		{"p99", d.Percentile(0.99), 2636 * us},
		{"p100", d.Percentile(1), 3341 * us},
		{"lost %", d.LostPct(), 0.0},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}

	d, err = ParseDNSPerf(readTestdata(t, "dnsperf-lost.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Sent != 8 || d.Completed != 0 || d.Lost != 8 || d.TimedOut != 8 || d.QPS != 0 || len(d.Rcodes) != 0 || d.LostPct() != 100 || d.Percentile(0.99) != 0 {
		t.Errorf("all lost: %+v", d)
	}
}

func TestParseDNSPerfBad(t *testing.T) {
	good := readTestdata(t, "dnsperf-verbose.txt")
	for _, tc := range []struct{ name, out, want string }{
		{"empty", "", "no \"Queries sent\""},
		{"error before the run", "Error: invalid query input format: x\n", "no \"Queries sent\""},
		{"bad latency", strings.Replace(good, "0.000699", "0.0x", 1), "verbose line"},
		{"a verbose line missing", strings.Replace(good, "> NOERROR www.kaidoku.test A 0.000699\n", "", 1), "299 verbose latency lines for 300"},
		{"bad count", strings.Replace(good, "Queries lost:         0", "Queries lost:         x", 1), "Queries lost"},
	} {
		if _, err := ParseDNSPerf(tc.out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// The sockperf files are real output of sockperf 3.7 (Debian 12) with
// --full-rtt against image/sockperf built for Linux, and against a port
// nobody serves (sockperf-no-reply.txt).
func TestParseSockperf(t *testing.T) {
	ns := time.Nanosecond
	for _, tc := range []struct {
		file                string
		sent, received, obs uint64
		avg, p50, p99, p999 time.Duration
		min, max            time.Duration
		duration            time.Duration
	}{
		{"sockperf-ping-pong.txt", 44884, 44884, 44884, 34455 * ns, 29245 * ns, 71505 * ns, 103647 * ns, 10750 * ns, 3033507 * ns, 1548 * time.Millisecond},
		{"sockperf-under-load.txt", 3081, 155, 155, 199889 * ns, 90671 * ns, 2143799 * ns, 4176609 * ns, 47119 * ns, 4176609 * ns, 1540 * time.Millisecond},
	} {
		s, err := ParseSockperf(readTestdata(t, tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		p999, ok := s.Percentile(99.9)
		if !ok || s.P(50) != tc.p50 || s.P(99) != tc.p99 || p999 != tc.p999 || s.Avg != tc.avg || s.Min != tc.min || s.Max != tc.max ||
			s.Observations != tc.obs || s.Latency != "Round trip" {
			t.Errorf("%s: %+v", tc.file, s)
		}
		if s.Sent != tc.sent || s.Received != tc.received || s.Duration != tc.duration {
			t.Errorf("%s: valid duration %v sent %d received %d", tc.file, s.Duration, s.Sent, s.Received)
		}
	}
	if _, err := ParseSockperf(readTestdata(t, "sockperf-no-reply.txt")); err == nil || !strings.Contains(err.Error(), "no reply") {
		t.Errorf("no reply: error %v", err)
	}
	good := readTestdata(t, "sockperf-ping-pong.txt")
	for _, tc := range []struct{ name, out, want string }{
		{"empty", "", "no [Valid Duration]"},
		{"no summary", strings.Replace(good, "Summary: Round trip is", "Summary:", 1), "no latency summary"},
		{"no percentiles", strings.ReplaceAll(good, "percentile", "pc"), "no percentiles"},
	} {
		if _, err := ParseSockperf(tc.out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func dnsperfWith(qps float64, p99 time.Duration) *DNSPerf {
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = p99 / 2
	}
	lat[98], lat[99] = p99, p99
	return &DNSPerf{Sent: 1000, Completed: 1000, QPS: qps, Latencies: lat, Avg: p99 / 2, Max: p99}
}

func sockperfWith(p50, p99 time.Duration) *Sockperf {
	return &Sockperf{Observations: 10, Latency: "Round trip", Avg: p50,
		Percentiles: map[int]time.Duration{50000: p50, 99000: p99, 99900: p99}, Max: p99}
}

func TestClientGoals(t *testing.T) {
	us := time.Microsecond
	for _, tc := range []struct {
		name string
		dns  []DNSPerfResult
		sp   []SockperfResult
		want []string
	}{
		{"all met",
			[]DNSPerfResult{
				{Kind: KindKaidoku, DNSPerf: dnsperfWith(4000, 500*us)},
				{Kind: KindGVisor, DNSPerf: dnsperfWith(1000, 900*us)},
				{Kind: KindLinux, DNSPerf: dnsperfWith(2000, 800*us)}},
			[]SockperfResult{{Kind: KindKaidoku, PingPong: sockperfWith(100*us, 200*us)}, {Kind: KindLinux, PingPong: sockperfWith(150*us, 300*us)}},
			[]string{"- met: dnsperf queries/s at least 2× the Linux guest's with a lower p99: 4000 vs 2000 (2.00×), p99 500 µs vs 800 µs",
				"- met: dnsperf queries/s at least 4× the gVisor netstack's with a lower p99: 4000 vs 1000 (4.00×)",
				"- met: sockperf ping-pong p50 and p99 below the Linux guest's: p50 100 µs vs 150 µs, p99 200 µs vs 300 µs"}},
		{"qps short, p99 higher",
			[]DNSPerfResult{
				{Kind: KindKaidoku, DNSPerf: dnsperfWith(3000, 500*us)},
				{Kind: KindGVisor, DNSPerf: dnsperfWith(1000, 400*us)},
				{Kind: KindLinux, DNSPerf: dnsperfWith(2000, 800*us)}},
			[]SockperfResult{{Kind: KindKaidoku, PingPong: sockperfWith(100*us, 400*us)}, {Kind: KindLinux, PingPong: sockperfWith(150*us, 300*us)}},
			[]string{"- not met: dnsperf queries/s at least 2× the Linux guest's", "- not met: dnsperf queries/s at least 4× the gVisor netstack's",
				"- not met: sockperf ping-pong p50 and p99 below"}},
		{"peers failed",
			[]DNSPerfResult{{Kind: KindKaidoku, DNSPerf: dnsperfWith(3000, 500*us)}, {Kind: KindLinux, Err: ErrNoClient}},
			[]SockperfResult{{Kind: KindKaidoku, Err: ErrNoClient}},
			[]string{"- dnsperf against the Linux guest: kaidoku or that peer was not measured", "- dnsperf against the gVisor netstack: kaidoku or that peer",
				"- sockperf ping-pong: kaidoku or the Linux guest was not measured"}},
	} {
		got := ClientGoals(tc.dns, tc.sp)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: missing %q in\n%s", tc.name, w, got)
			}
		}
	}
	if got := ClientGoals(nil, nil); got != "" {
		t.Errorf("no sections: %q", got)
	}
}

func TestClientMarkdown(t *testing.T) {
	us := time.Microsecond
	o := ClientOptions{Queries: "q.txt", DNSPerfTime: 5 * time.Second, Rates: []int{100, 200}}
	md := DNSPerfMarkdown([]DNSPerfResult{{Peer: "kaidoku", DNSPerf: dnsperfWith(4000, 500*us), CPU: 0.5}, {Peer: "linux", Err: ErrNoClient}}, o)
	for _, w := range []string{"| kaidoku | 4000 | 0 (0.00 %) | 250 µs | 250 µs | 500 µs | 500 µs | 500 µs | 50 % |", "| linux | failed: client not installed |", "dnsperf 5s at saturation (-c 4 -q 128"} {
		if !strings.Contains(md, w) {
			t.Errorf("missing %q in\n%s", w, md)
		}
	}
	md = SockperfMarkdown([]SockperfResult{{Peer: "kaidoku", PingPong: sockperfWith(100*us, 200*us),
		UnderLoad: []*Sockperf{sockperfWith(110*us, 210*us)}, Err: ErrNoClient}}, o)
	for _, w := range []string{"| kaidoku | ping-pong | 10 | 100 µs | 100 µs | 200 µs | 200 µs | 200 µs | 0 |", "| kaidoku | under-load 100 msg/s | 10 | 110 µs |", "| kaidoku | failed: client not installed |"} {
		if !strings.Contains(md, w) {
			t.Errorf("missing %q in\n%s", w, md)
		}
	}
}

func TestLookClientMissing(t *testing.T) {
	_, err := LookClient("kaidoku-no-such-client", "kaidoku-pkg")
	if !errors.Is(err, ErrNoClient) || !strings.Contains(err.Error(), "install Debian's kaidoku-pkg package (make client-deps)") {
		t.Errorf("error %v", err)
	}
}
