package clock

import (
	"testing"
	"time"
)

func TestTimersOrderAndMod(t *testing.T) {
	var f Fake
	c := New(f.Now, true)
	var got []int
	a := NewTimer(func() { got = append(got, 1) })
	b := NewTimer(func() { got = append(got, 2) })
	d := NewTimer(func() { got = append(got, 3) })
	c.Mod(a, int64(30*time.Second))
	c.Mod(b, int64(10*time.Second))
	c.Mod(d, int64(20*time.Second))
	if c.Mod(d, int64(5*time.Second)) != true {
		t.Fatal("mod of pending timer reported not pending")
	}
	if !c.Del(b) || c.Del(b) {
		t.Fatal("del")
	}
	f.Advance(6 * time.Second)
	if n := c.Run(); n != 1 || len(got) != 1 || got[0] != 3 {
		t.Fatalf("ran %d %v", n, got)
	}
	f.Advance(30 * time.Second)
	c.Run()
	if len(got) != 2 || got[1] != 1 || c.Pending(a) {
		t.Fatalf("%v", got)
	}
	if _, ok := c.Next(); ok {
		t.Fatal("timers left")
	}
}

// TestJiffies: jiffies start at INITIAL_JIFFIES, (u32)(-300*HZ), and
// their 32-bit value wraps 300 s after boot.
func TestJiffies(t *testing.T) {
	for _, c := range []struct {
		at   time.Duration
		want uint32
	}{
		{0, 4294667296},
		{1500 * time.Millisecond, 4294668796},
		{299999 * time.Millisecond, 4294967295},
		{300 * time.Second, 0},
		{301500 * time.Millisecond, 1500},
	} {
		var f Fake
		clk := New(f.Now, true)
		f.Set(int64(c.at))
		if got := clk.Jiffies(); got != c.want {
			t.Errorf("at %v: jiffies %d, want %d", c.at, got, c.want)
		}
	}
}

func TestRuntimeTimerFires(t *testing.T) {
	c := New(nil, false)
	done := make(chan struct{})
	tm := NewTimer(func() { close(done) })
	c.Mod(tm, c.Now()+int64(time.Millisecond))
	<-done
}
