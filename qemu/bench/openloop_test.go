package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// point is an open-loop point at rate whose RTTs are rtts µs (each
// once) with lost requests besides.
func point(rate float64, lost int, rtts ...int) OpenLoopPoint {
	r := testbench.OpenLoopResult{Offered: rate, Achieved: rate, Deadline: 200 * time.Millisecond, Received: len(rtts), Lost: lost}
	r.Sent = r.Received + r.Lost
	for _, v := range rtts {
		r.RTTs = append(r.RTTs, time.Duration(v)*time.Microsecond)
	}
	return OpenLoopPoint{Fraction: rate / 10000, HostLoad: 1.5, OpenLoopResult: r}
}

// flat is a point where every one of 100 requests took d µs.
func flat(rate float64, d int) OpenLoopPoint {
	rtts := make([]int, 100)
	for i := range rtts {
		rtts[i] = d
	}
	return point(rate, 0, rtts...)
}

func TestKnee(t *testing.T) {
	hundred := func(slow int) []int {
		out := make([]int, 100)
		for i := range out {
			out[i] = 100
			if i >= 100-slow {
				out[i] = 5000
			}
		}
		return out
	}
	tests := []struct {
		name   string
		pts    []OpenLoopPoint
		want   float64
		wantOK bool
	}{
		{"rising", []OpenLoopPoint{flat(1000, 100), flat(2000, 300), flat(3000, 999), flat(4000, 1000), flat(5000, 3000)}, 3000, true},
		{"all under", []OpenLoopPoint{flat(1000, 100), flat(2000, 200)}, 2000, true},
		{"none under", []OpenLoopPoint{flat(1000, 1500), flat(2000, 2000)}, 0, false},
		{"one slow in a hundred is p99", []OpenLoopPoint{point(1000, 0, hundred(1)...), point(2000, 0, hundred(2)...)}, 1000, true},
		{"loss past 1 % puts p99 beyond the deadline", []OpenLoopPoint{flat(1000, 100), point(2000, 2, hundred(0)[:98]...)}, 1000, true},
		{"a noisy dip counts the highest", []OpenLoopPoint{flat(1000, 100), flat(2000, 1200), flat(3000, 400)}, 3000, true},
		{"out of order", []OpenLoopPoint{flat(3000, 100), flat(1000, 100), flat(2000, 5000)}, 3000, true},
		{"empty", nil, 0, false},
	}
	for _, tc := range tests {
		got, ok := Knee(tc.pts, time.Millisecond)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: knee %v %v, want %v %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestAtOrAbove(t *testing.T) {
	pts := []OpenLoopPoint{flat(4000, 1), flat(1000, 1), flat(2000, 1)}
	tests := []struct {
		rate   float64
		want   float64
		wantOK bool
	}{{500, 1000, true}, {1000, 1000, true}, {1001, 2000, true}, {3999, 4000, true}, {4001, 0, false}}
	for _, tc := range tests {
		got, ok := atOrAbove(pts, tc.rate)
		if ok != tc.wantOK || (ok && got.Offered != tc.want) {
			t.Errorf("%v/s: got %v %v, want %v %v", tc.rate, got.Offered, ok, tc.want, tc.wantOK)
		}
	}
}

func openLoopResults() []Result {
	rs := fakeResults()
	rs[0].OpenLoop = []OpenLoopPoint{flat(3000, 120), flat(7500, 150), flat(15000, 400), point(30000, 5, 900, 950)}
	rs[0].OpenLoop[1].HostLoad = -1
	rs = append(rs, Result{Peer: "stuck", OpenLoop: []OpenLoopPoint{flat(1000, 100), point(2000, 20)}})
	rs[2].OpenLoop[1].Stalled = true
	return rs
}

func TestOpenLoopMarkdown(t *testing.T) {
	if md := OpenLoopMarkdown(fakeResults(), Options{}); md != "" {
		t.Errorf("a table without open-loop points:\n%s", md)
	}
	md := OpenLoopMarkdown(openLoopResults(), Options{})
	for _, want := range []string{
		"| kaidoku | 3000 (30 %) | 3000 | 120 µs | 120 µs | 120 µs | 0.00 % | 0 µs | 1.5 |",
		"| kaidoku | 30000 (300 %) | 30000 | > 200 ms | > 200 ms | > 200 ms | 71.43 % |",
		"| kaidoku | 990 | 15000/s |",
		"| stuck | 2000 (20 %) | 2000 | > 200 ms | > 200 ms | > 200 ms | 100.00 % | 0 µs | 1.5 |\n| stuck | stopped answering: no reply at 2000/s nor to sequential echoes after it; higher rates not offered |",
		"| stuck | 0 | 1000/s |",
		"| kaidoku | 7500 (75 %) | 7500 | 150 µs | 150 µs | 150 µs | 0.00 % | 0 µs | n/a |",
		"2s measured per rate after 250ms of warm-up",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in\n%s", want, md)
		}
	}
	if strings.Contains(md, "| broken |") {
		t.Errorf("a failed peer has open-loop rows:\n%s", md)
	}
}

func TestOpenLoopPlot(t *testing.T) {
	dir := t.TempDir()
	if f, err := openLoopPlot(fakeResults(), dir); f != "" || err != nil {
		t.Fatalf("plot without open-loop points: %q %v", f, err)
	}
	f, err := openLoopPlot(openLoopResults(), dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f)
	if err != nil || filepath.Base(f) != "openloop.png" || !bytes.HasPrefix(b, []byte("\x89PNG")) || len(b) < 1000 {
		t.Fatalf("%s: %d bytes, %v", f, len(b), err)
	}
	files, err := Plots(openLoopResults(), dir)
	if err != nil || len(files) != 3 || files[2] != f {
		t.Fatalf("Plots: %v %v", files, err)
	}
}

// goalResults is kaidoku (k), the Linux guest (l), the reflector and
// gVisor, with the given open-loop points for kaidoku and Linux.
func goalResults(k, l []OpenLoopPoint) []Result {
	rtt := func(d time.Duration) testbench.EchoResult {
		return testbench.EchoResult{Sent: 1, Received: 1, RTTs: []time.Duration{d}}
	}
	load := func(n int) testbench.EchoResult {
		return testbench.EchoResult{Received: n, Duration: time.Second}
	}
	lat := func(p50 time.Duration) map[string]*testbench.Latency {
		return map[string]*testbench.Latency{"total": {Count: 1, P50: p50}}
	}
	return []Result{
		{Peer: "kaidoku", RTT: rtt(100 * time.Microsecond), Load: load(45000), BootReady: 100 * time.Millisecond, Latency: lat(30 * time.Microsecond), OpenLoop: k},
		{Peer: "gVisor netstack (kaidoku driver)", RTT: rtt(260 * time.Microsecond), Load: load(6000), Latency: lat(80 * time.Microsecond)},
		{Peer: "Linux 6.1", RTT: rtt(380 * time.Microsecond), Load: load(12000), BootReady: 2500 * time.Millisecond, OpenLoop: l},
		{Peer: "reflector (driver ceiling)", RTT: rtt(80 * time.Microsecond), Load: load(46000)},
	}
}

func TestGoals(t *testing.T) {
	k := []OpenLoopPoint{flat(4500, 100), flat(11250, 120), flat(22500, 200), flat(33750, 400), flat(45000, 900), flat(56250, 5000)}
	l := []OpenLoopPoint{flat(1200, 500), flat(3000, 800), flat(6000, 900), flat(9000, 3000)}
	lNoKnee := []OpenLoopPoint{flat(1200, 2000), flat(3000, 2500)}
	tests := []struct {
		name    string
		rs      []Result
		want    []string
		notWant []string
	}{
		{"all met", goalResults(k, l), []string{
			"- met: RTT below the Linux guest's",
			"- met: echoes/s above the Linux guest's",
			"- met: boot to READY at least 20× faster than the Linux guest: 100 ms vs 2500 ms (25.0×)",
			"- met: knee at least 2.5× the Linux guest's: 45000/s vs 6000/s (7.50×)",
			"- met: p99 at the Linux guest's knee, 6000/s, at most a quarter of the Linux guest's: 120 µs vs 900 µs (0.13×; kaidoku measured at 11250/s, its lowest rate not below that: an upper bound)",
			"- met: echoes/s at least 90 % of the reflector's: 45000 vs 46000 (98 %)",
			"- met: RTT p50 at most 1.3× the reflector's: 100 µs vs 80 µs (1.25×)",
			"- met: interrupt-to-wakeup p50 at most 0.4× the gVisor netstack's: 30 µs vs 80 µs (0.38×)",
		}, []string{"not met"}},
		{"knee too low", goalResults(k[:3], []OpenLoopPoint{flat(9000, 500), flat(12000, 900)}), []string{
			"- not met: knee at least 2.5× the Linux guest's: 22500/s vs 12000/s (1.88×)",
			"- met: p99 at the Linux guest's knee, 12000/s, at most a quarter of the Linux guest's: 200 µs vs 900 µs (0.22×; kaidoku measured at 22500/s",
		}, nil},
		{"Linux without a knee", goalResults(k, lNoKnee), []string{
			"- met: knee at least 2.5× the Linux guest's: 45000/s vs none (the Linux guest's p99 is ≥ 1000 µs at every rate, from 1200/s)",
			"- met: p99 at the Linux guest's lowest rate, 1200/s (it has no knee), at most a quarter of the Linux guest's: 100 µs vs 2000 µs (0.05×; kaidoku measured at 4500/s",
		}, nil},
		{"kaidoku without a knee", goalResults([]OpenLoopPoint{flat(4500, 1500), flat(9000, 1500)}, l), []string{
			"- not met: knee at least 2.5× the Linux guest's: kaidoku has none",
			"- not met: p99 at the Linux guest's knee, 6000/s, at most a quarter of the Linux guest's: 1500 µs vs 900 µs (1.67×;",
		}, nil},
		{"kaidoku not offered that much", goalResults([]OpenLoopPoint{flat(4500, 100)}, l), []string{
			"- p99 at the Linux guest's knee, 6000/s, at most a quarter of the Linux guest's: kaidoku was not offered that much",
		}, nil},
		{"kaidoku lost at that rate", goalResults([]OpenLoopPoint{flat(1000, 100), point(7000, 10, 100)}, l), []string{
			"- not met: p99 at the Linux guest's knee, 6000/s, at most a quarter of the Linux guest's: kaidoku's is beyond the 200 ms deadline; kaidoku measured at 7000/s",
		}, nil},
		{"measured at the same rate", goalResults([]OpenLoopPoint{flat(6000, 300)}, l), []string{
			"- not met: p99 at the Linux guest's knee, 6000/s, at most a quarter of the Linux guest's: 300 µs vs 900 µs (0.33×)\n",
		}, nil},
		{"Linux lost at its lowest rate", goalResults(k, []OpenLoopPoint{point(4500, 3, 5000)}), []string{
			"- met: p99 at the Linux guest's lowest rate, 4500/s (it has no knee), at most a quarter of the Linux guest's: 100 µs vs beyond the 200 ms deadline\n",
		}, nil},
		{"no open loop", goalResults(nil, l), []string{"- knee: kaidoku or the Linux guest did not run the open loop"}, []string{"knee at least"}},
	}
	for _, tc := range tests {
		got := Goals(tc.rs)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: missing %q in\n%s", tc.name, w, got)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(got, w) {
				t.Errorf("%s: unexpected %q in\n%s", tc.name, w, got)
			}
		}
	}
}

func TestTicks125(t *testing.T) {
	tests := []struct {
		lo, hi float64
		labels []string
		n      int
	}{
		{1200, 60000, []string{"2000", "5000", "10000", "20000", "50000"}, 14},
		{80, 250000, []string{"100", "200", "500", "1000", "2000", "5000", "10000", "20000", "50000", "100000", "200000"}, 2 + 9*3 + 2},
		{0.05, 1600, []string{"0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10", "20", "50", "100", "200", "500", "1000"}, 5 + 9*4 + 1},
		{3, 3, nil, 0},
		{0, 10, nil, 0},
	}
	for _, tc := range tests {
		var labels []string
		ticks := ticks125{}.Ticks(tc.lo, tc.hi)
		for _, tk := range ticks {
			if tk.Value < tc.lo || tk.Value > tc.hi {
				t.Errorf("%v..%v: tick at %v", tc.lo, tc.hi, tk.Value)
			}
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if strings.Join(labels, " ") != strings.Join(tc.labels, " ") || len(ticks) != tc.n {
			t.Errorf("%v..%v: %d ticks labelled %v, want %d labelled %v", tc.lo, tc.hi, len(ticks), labels, tc.n, tc.labels)
		}
	}
}
