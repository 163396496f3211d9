package napi

import (
	"testing"
	"time"
)

// A NAPI scheduled by an interrupt handler is polled when the handler
// returns, in the same goroutine, and the softnet goroutine is not woken.
func TestInterruptRunsSoftirqOnExit(t *testing.T) {
	sn := NewSoftnet(Config{})
	polled := 0
	n := sn.NewNAPI("rx", func(n *NAPI, budget int) int { polled++; n.CompleteDone(1); return 1 }, 0)
	n.Enable()
	h := sn.Interrupt(func(t0 int64) {
		n.Schedule(t0)
		if polled != 0 {
			t.Error("polled inside the hard-IRQ part")
		}
	})
	h(5)
	if polled != 1 {
		t.Fatalf("polled %d times on irq exit, want 1", polled)
	}
	st := sn.Stats()
	if st.IRQExitRuns != 1 || st.Actions != 1 || len(sn.doorbell) != 0 {
		t.Fatalf("irq-exit runs %d actions %d doorbell %d", st.IRQExitRuns, st.Actions, len(sn.doorbell))
	}
	// No work: nothing runs on exit.
	sn.Interrupt(func(int64) {})(6)
	if st := sn.Stats(); st.Actions != 1 {
		t.Fatalf("actions %d after an interrupt with no NAPI", st.Actions)
	}
}

// Work beyond the budget goes to the softnet goroutine (ksoftirqd).
func TestInterruptHandsSqueezeToGoroutine(t *testing.T) {
	sn := NewSoftnet(Config{})
	var ns []*NAPI
	for i := 0; i < 6; i++ {
		n := sn.NewNAPI("n", infinite, 0)
		n.Enable()
		ns = append(ns, n)
	}
	sn.Interrupt(func(int64) {
		for _, n := range ns {
			n.Schedule(1)
		}
	})(1)
	if st := sn.Stats(); st.TimeSqueeze != 1 || len(sn.doorbell) != 1 {
		t.Fatalf("squeeze %d doorbell %d", st.TimeSqueeze, len(sn.doorbell))
	}
	go sn.Run()
	defer sn.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for sn.Stats().Actions < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the goroutine did not take the rest")
		}
		time.Sleep(time.Millisecond)
	}
	for _, n := range ns {
		n.Disable()
	}
}
