package napi

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() int64          { return c.t.Load() }
func (c *fakeClock) advance(d int64)     { c.t.Add(d) }
func newFake(start int64) *fakeClock     { c := &fakeClock{}; c.t.Store(start); return c }
func completing(n *NAPI, budget int) int { n.CompleteDone(0); return 0 }

func TestSchedulePrep(t *testing.T) {
	cases := []struct {
		name      string
		state     uint32
		want      bool
		wantState uint32
	}{
		{"idle", 0, true, stateSched},
		{"scheduled", stateSched, false, stateSched | stateMissed},
		{"missed already", stateSched | stateMissed, false, stateSched | stateMissed},
		{"disable pending", stateDisable, false, stateDisable},
		{"disabled", stateSched | stateNPSVC, false, stateSched | stateNPSVC | stateMissed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sn := NewSoftnet(Config{})
			n := sn.NewNAPI("x", completing, 0)
			n.state.Store(c.state)
			if got := n.SchedulePrep(0); got != c.want {
				t.Fatalf("SchedulePrep = %v, want %v", got, c.want)
			}
			if got := n.state.Load(); got != c.wantState {
				t.Fatalf("state %#x, want %#x", got, c.wantState)
			}
		})
	}
}

func TestScheduleIsIdempotent(t *testing.T) {
	sn := NewSoftnet(Config{})
	polls := 0
	n := sn.NewNAPI("rx", func(n *NAPI, budget int) int { polls++; n.CompleteDone(0); return 0 }, 0)
	n.Enable()
	for i := 0; i < 10; i++ {
		n.Schedule(int64(100 + i))
	}
	if !sn.RunOnce() {
		t.Fatal("nothing to run")
	}
	st := n.Stats()
	// The nine extra schedules all landed while SCHED was held: they set
	// MISSED once, which costs exactly one more poll.
	if st.Schedules != 2 || st.Missed != 9 || st.Interrupts != 10 || polls != 2 {
		t.Fatalf("schedules %d missed %d interrupts %d polls %d", st.Schedules, st.Missed, st.Interrupts, polls)
	}
	if sn.RunOnce() || n.Scheduled() {
		t.Fatal("NAPI not idle after completing")
	}
}

// TestMissedDuringPoll is the race that NAPI_STATE_MISSED exists for: an interrupt
// that arrives while the poll runs is remembered by MISSED, CompleteDone
// refuses to go idle and the NAPI is polled again.
func TestMissedDuringPoll(t *testing.T) {
	clk := newFake(1000)
	sn := NewSoftnet(Config{Now: clk.now})
	var seen []int64
	var n *NAPI
	round := 0
	n = sn.NewNAPI("rx", func(n *NAPI, budget int) int {
		seen = append(seen, n.T0())
		round++
		if round == 1 {
			if n.Schedule(555) {
				t.Error("Schedule succeeded while the NAPI was owned")
			}
			if n.CompleteDone(3) {
				t.Error("CompleteDone returned true with MISSED set")
			}
			if !n.Scheduled() {
				t.Error("NAPI lost SCHED")
			}
			return 3
		}
		if !n.CompleteDone(1) {
			t.Error("second CompleteDone refused")
		}
		return 1
	}, 0)
	n.Enable()
	n.Schedule(111)
	sn.RunOnce()
	if round != 2 {
		t.Fatalf("polled %d times, want 2 (the MISSED reschedule runs in the same net_rx_action)", round)
	}
	if seen[0] != 111 || seen[1] != 555 {
		t.Fatalf("T0s %v, want [111 555]", seen)
	}
	if n.Scheduled() || sn.RunOnce() {
		t.Fatal("not idle")
	}
}

func TestT0T1(t *testing.T) {
	clk := newFake(5000)
	sn := NewSoftnet(Config{Now: clk.now})
	type stamp struct{ t0, t1 int64 }
	var got []stamp
	full := 2
	n := sn.NewNAPI("rx", func(n *NAPI, budget int) int {
		got = append(got, stamp{n.T0(), n.T1()})
		clk.advance(10)
		if full > 0 {
			full--
			return budget
		}
		n.CompleteDone(1)
		return 1
	}, 0)
	n.Enable()
	n.Schedule(4000)
	for sn.RunOnce() {
	}
	// A repoll continues the interrupt's work and keeps its T0.
	want := []stamp{{4000, 5000}, {4000, 5010}, {4000, 5020}}
	if len(got) != len(want) {
		t.Fatalf("stamps %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("stamps %v, want %v", got, want)
		}
	}
	// A schedule from no interrupt starts an episode with T0 = 0.
	got = nil
	n.Schedule(0)
	sn.RunOnce()
	if got[0].t0 != 0 {
		t.Fatalf("T0 %d after a software schedule", got[0].t0)
	}
}

func infinite(n *NAPI, budget int) int { return budget }

func TestBudgetSqueezeAndRepollOrder(t *testing.T) {
	sn := NewSoftnet(Config{})
	var order []string
	var ns []*NAPI
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		n := sn.NewNAPI(name, func(n *NAPI, budget int) int { order = append(order, n.Name()); return budget }, 0)
		n.Enable()
		n.Schedule(1)
		ns = append(ns, n)
	}
	if !sn.RunOnce() {
		t.Fatal("no work")
	}
	// 5 x 64 = 320 >= 300: the run stops after e, counting a squeeze.
	if strings.Join(order, "") != "abcde" {
		t.Fatalf("first run polled %v", order)
	}
	st := sn.Stats()
	if st.TimeSqueeze != 1 {
		t.Fatalf("time_squeeze %d, want 1", st.TimeSqueeze)
	}
	// Unpolled f goes first, then the repoll list in order.
	order = nil
	sn.RunOnce()
	if strings.Join(order, "") != "fabcd" {
		t.Fatalf("second run polled %v, want fabcd", order)
	}
	for _, n := range ns {
		if s := n.Stats(); s.Hist[HistogramBuckets-1] != s.Polls || s.Repolls != s.Polls {
			t.Fatalf("%s: hist %v polls %d repolls %d", n.Name(), s.Hist, s.Polls, s.Repolls)
		}
	}
}

func TestSingleFullNAPIIsNotASqueeze(t *testing.T) {
	// One NAPI using its whole weight ends net_rx_action through the
	// repoll list, not through the budget check.
	sn := NewSoftnet(Config{})
	n := sn.NewNAPI("rx", infinite, 0)
	n.Enable()
	n.Schedule(1)
	for i := 0; i < 3; i++ {
		sn.RunOnce()
	}
	st := sn.Stats()
	if st.TimeSqueeze != 0 || st.Actions != 3 || st.NAPIs[0].Polls != 3 {
		t.Fatalf("%+v", st)
	}
}

func TestTimeLimitSqueeze(t *testing.T) {
	clk := newFake(0)
	sn := NewSoftnet(Config{Now: clk.now})
	polled := 0
	for i := 0; i < 3; i++ {
		n := sn.NewNAPI("n", func(n *NAPI, budget int) int {
			polled++
			clk.advance(1_500_000) // 1.5 ms per poll; the limit is 2 ms
			n.CompleteDone(1)
			return 1
		}, 0)
		n.Enable()
		n.Schedule(1)
	}
	sn.RunOnce()
	if polled != 2 || sn.Stats().TimeSqueeze != 1 {
		t.Fatalf("polled %d squeeze %d", polled, sn.Stats().TimeSqueeze)
	}
	sn.RunOnce()
	if polled != 3 {
		t.Fatalf("third NAPI not polled on the next run")
	}
}

func TestDisableWaitsForPoll(t *testing.T) {
	sn := NewSoftnet(Config{})
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	n := sn.NewNAPI("rx", func(n *NAPI, budget int) int {
		once.Do(func() { close(entered) })
		<-release
		n.CompleteDone(0)
		return 0
	}, 0)
	n.Enable()
	go sn.Run()
	defer sn.Stop()
	n.Schedule(1)
	<-entered
	var disabled atomic.Bool
	done := make(chan struct{})
	go func() {
		n.Disable()
		disabled.Store(true)
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	if disabled.Load() {
		t.Fatal("Disable returned while the poll ran")
	}
	close(release)
	<-done
	if n.Schedule(1) {
		t.Fatal("disabled NAPI scheduled")
	}
	n.Enable()
	if !n.Schedule(1) && !n.Scheduled() {
		t.Fatal("enabled NAPI not schedulable")
	}
}

func TestDisableTakesQueuedNAPI(t *testing.T) {
	// No goroutine runs the softnet: Disable must not wait forever.
	sn := NewSoftnet(Config{})
	n := sn.NewNAPI("rx", completing, 0)
	n.Enable()
	n.Schedule(1)
	n.Disable()
	if sn.RunOnce() {
		t.Fatal("disabled NAPI still on the poll list")
	}
	n.Enable()
	n.Schedule(1)
	if !sn.RunOnce() || n.Scheduled() {
		t.Fatal("re-enabled NAPI not polled")
	}
}

func TestDisableDuringRepoll(t *testing.T) {
	sn := NewSoftnet(Config{})
	n := sn.NewNAPI("rx", infinite, 0)
	n.Enable()
	n.Schedule(1)
	sn.RunOnce() // leaves n on the poll list for a repoll
	done := make(chan struct{})
	go func() { n.Disable(); close(done) }()
	<-done
	if sn.RunOnce() {
		t.Fatal("disabled NAPI polled")
	}
}

func TestIdleDoesNotSpin(t *testing.T) {
	sn := NewSoftnet(Config{})
	polled := make(chan struct{}, 1)
	n := sn.NewNAPI("rx", func(n *NAPI, budget int) int {
		n.CompleteDone(1)
		polled <- struct{}{}
		return 1
	}, 0)
	n.Enable()
	go sn.Run()
	defer sn.Stop()
	time.Sleep(30 * time.Millisecond)
	if st := sn.Stats(); st.Actions != 0 || st.Wakeups != 0 {
		t.Fatalf("idle softnet ran: %+v", st)
	}
	n.Schedule(1)
	<-polled
	time.Sleep(30 * time.Millisecond)
	st := sn.Stats()
	if st.Actions != 1 || st.Wakeups != 1 || st.BusyPollLoops != 0 {
		t.Fatalf("one schedule cost %d runs, %d wakeups, %d busy loops", st.Actions, st.Wakeups, st.BusyPollLoops)
	}
}

func TestBusyPoll(t *testing.T) {
	sn := NewSoftnet(Config{BusyPollNs: int64(500 * time.Millisecond)})
	var backlog atomic.Int64 // work the "device" has for the NAPI
	var delivered atomic.Int64
	var completes, refused atomic.Int64
	var n *NAPI
	n = sn.NewNAPI("rx", func(n *NAPI, budget int) int {
		w := int(backlog.Swap(0))
		delivered.Add(int64(w))
		if n.CompleteDone(w) {
			completes.Add(1)
		} else {
			refused.Add(1) // a driver keeps its interrupts off here
		}
		return w
	}, 0)
	n.SetBusyPoll(true)
	n.Enable()
	go sn.Run()
	defer sn.Stop()
	n.Schedule(1) // the interrupt that starts the burst
	for n.Stats().Polls == 0 {
		time.Sleep(time.Millisecond)
	}
	// Work that no interrupt announces is still picked up in the window.
	deadline := time.Now().Add(400 * time.Millisecond)
	for i := 0; i < 5; i++ {
		backlog.Add(1)
		for delivered.Load() < int64(i+1) {
			if time.Now().After(deadline) {
				t.Skip("machine too slow to stay inside the busy-poll window")
			}
			time.Sleep(time.Millisecond)
		}
	}
	// After the window the goroutine lets the NAPI go and stops polling.
	// (Polling that merely paused, the goroutine preempted on a busy
	// machine, still owns the NAPI: wait for the release, not a pause.)
	for deadline := time.Now().Add(10 * time.Second); n.Scheduled(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("busy polling never ended: the NAPI is still owned")
		}
	}
	st := sn.Stats()
	time.Sleep(50 * time.Millisecond)
	if loops := sn.Stats().BusyPollLoops; loops != st.BusyPollLoops {
		t.Fatalf("busy polling went on after the NAPI was let go: %d loops, then %d", st.BusyPollLoops, loops)
	}
	if ns := st.NAPIs[0]; ns.BusyPollPackets != 5 || refused.Load() == 0 {
		t.Fatalf("busy packets %d, refused completes %d", ns.BusyPollPackets, refused.Load())
	}
}

func TestBucketsAndString(t *testing.T) {
	cases := []struct{ work, bucket int }{{0, 0}, {1, 1}, {2, 2}, {3, 2}, {4, 3}, {7, 3}, {8, 4}, {31, 5}, {32, 6}, {63, 6}, {64, 7}, {300, 7}}
	for _, c := range cases {
		if got := bucket(c.work); got != c.bucket {
			t.Errorf("bucket(%d) = %d, want %d", c.work, got, c.bucket)
		}
	}
	labels := []string{"0", "1", "2-3", "4-7", "8-15", "16-31", "32-63", "64+"}
	for i, l := range labels {
		if BucketLabel(i) != l {
			t.Errorf("label %d = %q, want %q", i, BucketLabel(i), l)
		}
	}
	sn := NewSoftnet(Config{})
	n := sn.NewNAPI("virtio-rx", completing, 0)
	n.Enable()
	n.Schedule(1)
	sn.RunOnce()
	sn.AddProcessed(3)
	s := sn.Stats().String()
	if !strings.Contains(s, "virtio-rx") || !strings.Contains(s, "time_squeeze 0") || !strings.Contains(s, "32-63") {
		t.Fatalf("table:\n%s", s)
	}
	if line := sn.Stats().SoftnetStat(); !strings.HasPrefix(line, "00000003 00000000 00000000") || len(strings.Fields(line)) != 15 {
		t.Fatalf("softnet_stat %q", line)
	}
}

func TestConcurrentSchedulesNeverLost(t *testing.T) {
	// Many "interrupts" race with polls; every unit of work posted before
	// an interrupt must be consumed, and the goroutine must settle idle.
	sn := NewSoftnet(Config{})
	var work, done atomic.Int64
	n := sn.NewNAPI("rx", func(n *NAPI, budget int) int {
		w := 0
		for w < budget && work.Load() > 0 {
			work.Add(-1)
			done.Add(1)
			w++
		}
		if w < budget {
			n.CompleteDone(w)
		}
		return w
	}, 0)
	n.Enable()
	go sn.Run()
	defer sn.Stop()
	var wg sync.WaitGroup
	const total = 20000
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/4; i++ {
				work.Add(1)
				n.Schedule(1)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for done.Load() != total && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if done.Load() != total {
		t.Fatalf("consumed %d of %d", done.Load(), total)
	}
}

func TestDisableWaitsForEnable(t *testing.T) {
	// A new NAPI is held disabled; a Disable that races with the Enable
	// must get it right after, not hang.
	sn := NewSoftnet(Config{})
	n := sn.NewNAPI("rx", completing, 0)
	done := make(chan struct{})
	go func() { n.Disable(); close(done) }()
	time.Sleep(10 * time.Millisecond)
	n.Enable()
	<-done
	if n.Schedule(1) {
		t.Fatal("scheduled while disabled")
	}
	n.Enable()
	if !n.Schedule(1) && !n.Scheduled() {
		t.Fatal("not schedulable after Enable")
	}
}
