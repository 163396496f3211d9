package testbench

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// The schedule is a Poisson process: increasing times within the run,
// about rate·d of them, with exponential gaps (mean 1/rate, and the
// standard deviation of an exponential equals its mean). Seeded, so the
// figures are fixed and the tolerances only absorb the sampling.
func TestPoissonSchedule(t *testing.T) {
	tests := []struct {
		rate float64
		d    time.Duration
		seed uint64
	}{
		{1000, 10 * time.Second, 1},
		{50000, 2 * time.Second, 2},
		{3.5, time.Hour, 3},
		{200000, 500 * time.Millisecond, 4},
	}
	for _, tc := range tests {
		s := PoissonSchedule(tc.rate, tc.d, rand.New(rand.NewPCG(tc.seed, 0)))
		want := tc.rate * tc.d.Seconds()
		if math.Abs(float64(len(s))-want) > 4*math.Sqrt(want) {
			t.Errorf("rate %v over %v: %d arrivals, want about %.0f", tc.rate, tc.d, len(s), want)
		}
		var sum, sq float64
		prev := time.Duration(0)
		for i, at := range s {
			if at < prev || at >= tc.d {
				t.Fatalf("rate %v: arrival %d at %v after %v (run %v)", tc.rate, i, at, prev, tc.d)
			}
			g := (at - prev).Seconds()
			sum, sq = sum+g, sq+g*g
			prev = at
		}
		n := float64(len(s))
		mean := sum / n
		sd := math.Sqrt(sq/n - mean*mean)
		if m := 1 / tc.rate; math.Abs(mean-m) > 0.05*m || math.Abs(sd-m) > 0.1*m {
			t.Errorf("rate %v: gap mean %.3g sd %.3g, want both about %.3g", tc.rate, mean, sd, m)
		}
		again := PoissonSchedule(tc.rate, tc.d, rand.New(rand.NewPCG(tc.seed, 0)))
		if !slices.Equal(s, again) {
			t.Errorf("rate %v: the same seed gave another schedule", tc.rate)
		}
	}
	for _, bad := range []struct {
		rate float64
		d    time.Duration
	}{{0, time.Second}, {-5, time.Second}, {100, 0}} {
		if s := PoissonSchedule(bad.rate, bad.d, rand.New(rand.NewPCG(1, 0))); len(s) != 0 {
			t.Errorf("rate %v over %v: %d arrivals", bad.rate, bad.d, len(s))
		}
	}
}

func TestOpenLoopPercentile(t *testing.T) {
	us := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Microsecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		r      OpenLoopResult
		q      float64
		want   time.Duration
		wantOK bool
	}{
		{"median of 100", OpenLoopResult{Received: 100, RTTs: us(hundred...)}, 0.5, 50 * time.Microsecond, true},
		{"p99 of 100", OpenLoopResult{Received: 100, RTTs: us(hundred...)}, 0.99, 99 * time.Microsecond, true},
		{"p99.9 of 100 is the max", OpenLoopResult{Received: 100, RTTs: us(hundred...)}, 0.999, 100 * time.Microsecond, true},
		{"p0 is the min", OpenLoopResult{Received: 100, RTTs: us(hundred...)}, 0, time.Microsecond, true},
		{"p99 among 2 % lost", OpenLoopResult{Received: 98, Lost: 2, RTTs: us(hundred[:98]...)}, 0.99, 0, false},
		{"p50 with 2 % lost", OpenLoopResult{Received: 98, Lost: 2, RTTs: us(hundred[:98]...)}, 0.5, 50 * time.Microsecond, true},
		{"p98 just answered", OpenLoopResult{Received: 98, Lost: 2, RTTs: us(hundred[:98]...)}, 0.98, 98 * time.Microsecond, true},
		{"all lost", OpenLoopResult{Lost: 5}, 0.5, 0, false},
		{"nothing measured", OpenLoopResult{}, 0.5, 0, false},
	}
	for _, tc := range tests {
		got, ok := tc.r.Percentile(tc.q)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

// The measured window leaves the warm-up out; a reply past the deadline
// is lost; the achieved rate comes from the actual send times.
func TestOpenLoopResultWindow(t *testing.T) {
	ms := time.Millisecond
	o := OpenLoopOptions{Rate: 1000, WarmUp: 10 * ms, Deadline: 5 * ms}
	sched := []time.Duration{2 * ms, 9 * ms, 10 * ms, 11 * ms, 12 * ms, 13 * ms}
	sentAt := []time.Duration{2 * ms, 9 * ms, 10 * ms, 12 * ms, 12 * ms, 14 * ms}
	rtt := []int64{int64(ms), 0, int64(ms), 0, int64(6 * ms), int64(2 * ms)}
	r := openLoopResult(o, sched, sentAt, rtt)
	if r.Sent != 4 || r.Received != 2 || r.Lost != 2 {
		t.Fatalf("sent %d received %d lost %d, want 4 2 2", r.Sent, r.Received, r.Lost)
	}
	if !slices.Equal(r.RTTs, []time.Duration{ms, 2 * ms}) {
		t.Errorf("RTTs %v", r.RTTs)
	}
	if !slices.Equal(r.Lateness, []time.Duration{0, 0, ms, ms}) {
		t.Errorf("lateness %v", r.Lateness)
	}
	if r.Achieved != 750 || r.Offered != 1000 || r.LossPct() != 50 {
		t.Errorf("achieved %v offered %v loss %v %%", r.Achieved, r.Offered, r.LossPct())
	}
}

// The checksum the sender patches in is the one UDP.Bytes computes.
func TestSetUDPChecksum(t *testing.T) {
	src, dst := netip.AddrPortFrom(tester, 41000), netip.AddrPortFrom(guest, 7)
	for _, n := range []int{24, 25, 64, 1000} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i*31 + n)
		}
		want := UDP{Src: src, Dst: dst, Payload: payload}.Bytes()
		got := append([]byte(nil), want...)
		got[6], got[7] = 0x12, 0x34
		setUDPChecksum(got, src.Addr(), dst.Addr())
		if !slices.Equal(got, want) {
			t.Errorf("%d bytes: checksum %x, want %x", n, got[6:8], want[6:8])
		}
	}
}

// Against a fake guest that echoes (and one that drops every fifth
// request), every measured request is answered or lost, and every
// answer is timed.
func TestOpenLoopAgainstFakeGuest(t *testing.T) {
	for _, dropEvery := range []int{0, 5} {
		b, nd, err := Listen(MAC{2, 0, 0, 0, 0, 1}, guest)
		if err != nil {
			t.Fatal(err)
		}
		fakeGuest(t, nd.GuestSide, nd.BenchSide, dropEvery)
		r, err := b.OpenLoop(OpenLoopOptions{Src: netip.AddrPortFrom(tester, 41000), Port: 7, Size: 64, Rate: 2000,
			WarmUp: 20 * time.Millisecond, Duration: 200 * time.Millisecond, Deadline: 2 * time.Second, Seed: 7})
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.Sent < 100 || r.Received+r.Lost != r.Sent || len(r.RTTs) != r.Received || len(r.Lateness) != r.Sent {
			t.Fatalf("drop every %d: sent %d received %d lost %d, %d RTTs, %d lateness", dropEvery, r.Sent, r.Received, r.Lost, len(r.RTTs), len(r.Lateness))
		}
		switch {
		case dropEvery == 0 && r.Lost != 0:
			t.Errorf("lost %d of %d on a lossless path", r.Lost, r.Sent)
		case dropEvery > 0 && (r.Lost < r.Sent/dropEvery-2 || r.Lost > r.Sent/dropEvery+2):
			t.Errorf("lost %d of %d, want about a fifth", r.Lost, r.Sent)
		}
		p50, _ := r.Percentile(0.5)
		t.Logf("drop every %d: offered %.0f/s achieved %.0f/s, lateness p50 %v p99 %v, RTT p50 %v", dropEvery, r.Offered, r.Achieved, r.LatenessAt(0.5), r.LatenessAt(0.99), p50)
		if r.RTTs[0] <= 0 || r.Achieved <= 0 {
			t.Errorf("min RTT %v, achieved %v", r.RTTs[0], r.Achieved)
		}
	}
	b, _, err := Listen(MAC{2, 0, 0, 0, 0, 1}, guest)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.OpenLoop(OpenLoopOptions{Port: 7, Duration: time.Second}); err == nil {
		t.Error("no rate accepted")
	}
}
