package irq

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestRegisterRejectsNonDeviceVectors(t *testing.T) {
	var tb Table
	for _, v := range []int{-1, 0, 31, 255, 256} {
		if err := tb.Register(v, "x", func(int64) {}); err == nil {
			t.Errorf("vector %d accepted", v)
		}
	}
	if err := tb.Register(32, "ok", func(int64) {}); err != nil {
		t.Fatal(err)
	}
}

func TestDispatch(t *testing.T) {
	var tb Table
	var got int64
	tb.Register(40, "dev", func(t0 int64) { got = t0 })
	tb.Dispatch(40, 1234)
	tb.Dispatch(41, 1)
	if got != 1234 {
		t.Fatalf("t0 %d", got)
	}
	st := tb.Stats()
	if len(st) != 1 || st[0].Count != 1 || st[0].Name != "dev" || tb.Spurious() != 1 {
		t.Fatalf("stats %+v spurious %d", st, tb.Spurious())
	}
	tb.Unregister(40)
	tb.Dispatch(40, 0)
	if tb.Spurious() != 2 {
		t.Fatal("dispatch after unregister not spurious")
	}
}

func TestLineDeliversAndCoalesces(t *testing.T) {
	var tb Table
	var calls atomic.Int64
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	tb.Register(50, "model", func(int64) {
		calls.Add(1)
		entered <- struct{}{}
		<-release
	})
	var clock atomic.Int64
	l := NewLine(&tb, 50, func() int64 { return clock.Add(1) })
	defer l.Close()
	l.Raise()
	<-entered
	// Three edges while the handler runs: one more dispatch, not three.
	l.Raise()
	l.Raise()
	l.Raise()
	release <- struct{}{}
	<-entered
	release <- struct{}{}
	time.Sleep(10 * time.Millisecond)
	if calls.Load() != 2 || l.Raised() != 4 {
		t.Fatalf("calls %d raised %d", calls.Load(), l.Raised())
	}
}
