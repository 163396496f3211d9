// Package clock is the stack's time source and timer list: the part of
// kernel/time (jiffies, struct timer_list, mod_timer, del_timer) the
// network stack uses.
//
// Time comes from an injected monotonic nanosecond clock (the board clock
// in the image, a fake clock in tests). Jiffies are milliseconds: where
// Linux counts jiffies at HZ, kaidoku behaves as a HZ=1000 kernel, so
// 30*HZ is 30000 jiffies and HZ/50 is 20.
//
// Timers live in one min-heap. In the image one runtime timer
// (time.Timer, which halts the CPU until due) is armed for the earliest
// deadline; nothing polls. With Manual set (host tests) nothing is armed
// and the test advances its fake clock and calls Run.
package clock

import (
	"sync"
	"time"
)

// HZ is the jiffy rate kaidoku mirrors.
const HZ = 1000

// Clock owns the time source and the timers.
type Clock struct {
	now    func() int64
	manual bool // +checklocksignore: fixed at New

	mu sync.Mutex
	// +checklocks:mu
	heap []*Timer
	// +checklocks:mu
	rt *time.Timer
	// +checklocks:mu
	armed int64 // deadline the runtime timer is set for, 0 if none
}

// Timer is a struct timer_list: a deadline and a function. Its zero value
// is unusable; create it with NewTimer. The function runs on the clock's
// goroutine (or the test's, in Run) without any clock lock held.
type Timer struct {
	f    func()
	when int64
	idx  int // heap index, -1 when not pending
}

// New returns a clock reading now (monotonic ns). manual disables the
// runtime timer, for tests that drive Run themselves.
func New(now func() int64, manual bool) *Clock {
	if now == nil {
		start := time.Now()
		now = func() int64 { return int64(time.Since(start)) }
	}
	return &Clock{now: now, manual: manual}
}

// NewTimer returns a timer that calls f when it expires.
func NewTimer(f func()) *Timer { return &Timer{f: f, idx: -1} }

// Now returns the monotonic time in ns.
func (c *Clock) Now() int64 { return c.now() }

// InitialJiffies is include/linux/jiffies.h: INITIAL_JIFFIES,
// (unsigned long)(unsigned int)(-300*HZ): jiffies start five minutes
// before their 32-bit value wraps, so that wrap bugs show early, and
// every timestamp compared with them must use wrap-safe arithmetic
// (unsigned differences, as the ICMP limiters and IP ID buckets take).
const InitialJiffies uint64 = 1<<32 - 300*HZ

// Jiffies returns the time in jiffies (ms since the clock's zero, plus
// InitialJiffies), truncated to 32 bits as Linux's (u32)jiffies
// comparisons use it.
func (c *Clock) Jiffies() uint32 { return uint32(InitialJiffies + uint64(c.now()/1e6)) }

// Pending reports whether t is armed (timer_pending).
func (c *Clock) Pending(t *Timer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return t.idx >= 0
}

// Mod arms t for the absolute time when (ns), re-arming it if pending.
// It reports whether t was pending before (mod_timer's return value).
func (c *Clock) Mod(t *Timer, when int64) bool {
	c.mu.Lock()
	was := t.idx >= 0
	if was {
		t.when = when
		c.fixLocked(t.idx)
	} else {
		t.when = when
		t.idx = len(c.heap)
		c.heap = append(c.heap, t)
		c.up(t.idx)
	}
	c.armLocked()
	c.mu.Unlock()
	return was
}

// Del disarms t and reports whether it was pending (del_timer).
func (c *Clock) Del(t *Timer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.idx < 0 {
		return false
	}
	c.removeLocked(t.idx)
	return true
}

// Next returns the earliest deadline, if any timer is pending.
func (c *Clock) Next() (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.heap) == 0 {
		return 0, false
	}
	return c.heap[0].when, true
}

// Run calls every timer whose deadline is not after Now, earliest first,
// and returns how many ran. Timers armed by the callbacks for a time
// already past also run.
func (c *Clock) Run() int {
	n := 0
	for {
		c.mu.Lock()
		if len(c.heap) == 0 || c.heap[0].when > c.now() {
			c.armed = 0
			c.armLocked()
			c.mu.Unlock()
			return n
		}
		t := c.heap[0]
		c.removeLocked(0)
		c.mu.Unlock()
		t.f()
		n++
	}
}

// armLocked points the runtime timer at the earliest deadline.
//
// +checklocks:c.mu
func (c *Clock) armLocked() {
	if c.manual || len(c.heap) == 0 {
		return
	}
	when := c.heap[0].when
	if c.armed != 0 && c.armed <= when {
		return
	}
	c.armed = when
	d := time.Duration(when - c.now())
	if d < 0 {
		d = 0
	}
	if c.rt == nil {
		c.rt = time.AfterFunc(d, c.fire)
	} else {
		c.rt.Reset(d)
	}
}

func (c *Clock) fire() {
	c.mu.Lock()
	c.armed = 0
	c.mu.Unlock()
	c.Run()
}

// +checklocks:c.mu
func (c *Clock) less(i, j int) bool { return c.heap[i].when < c.heap[j].when }

// +checklocks:c.mu
func (c *Clock) swap(i, j int) {
	c.heap[i], c.heap[j] = c.heap[j], c.heap[i]
	c.heap[i].idx = i
	c.heap[j].idx = j
}

// +checklocks:c.mu
func (c *Clock) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !c.less(i, p) {
			break
		}
		c.swap(i, p)
		i = p
	}
}

// +checklocks:c.mu
func (c *Clock) down(i int) bool {
	start := i
	n := len(c.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && c.less(r, l) {
			m = r
		}
		if !c.less(m, i) {
			break
		}
		c.swap(i, m)
		i = m
	}
	return i > start
}

// fixLocked restores the heap order around index i.
//
// +checklocks:c.mu
func (c *Clock) fixLocked(i int) {
	if !c.down(i) {
		c.up(i)
	}
}

// removeLocked takes the timer at index i off the heap.
//
// +checklocks:c.mu
func (c *Clock) removeLocked(i int) {
	n := len(c.heap) - 1
	t := c.heap[i]
	if i != n {
		c.swap(i, n)
	}
	c.heap[n] = nil
	c.heap = c.heap[:n]
	if i != n {
		c.fixLocked(i)
	}
	t.idx = -1
}

// Fake is a manual monotonic clock for tests.
type Fake struct {
	mu sync.Mutex
	// +checklocks:mu
	t int64
}

// Now returns the fake time.
func (f *Fake) Now() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

// Advance moves the fake time forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.t += int64(d)
	f.mu.Unlock()
}

// Set sets the fake time.
func (f *Fake) Set(t int64) {
	f.mu.Lock()
	f.t = t
	f.mu.Unlock()
}
