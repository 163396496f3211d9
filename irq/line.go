package irq

import (
	"sync"
	"time"
)

// Line is a software interrupt line for host tests. Raise is what a device
// model calls where hardware would assert an edge-triggered interrupt: it
// records T0 and wakes the line's goroutine, which dispatches the vector's
// handler, as TamaGo's interrupt goroutine does in the image. Edges raised
// while the handler has not yet run coalesce into one dispatch, as they do
// on an edge-triggered IOAPIC pin before the CPU takes the interrupt.
type Line struct {
	table  *Table
	vector int
	now    func() int64 // +checklocksignore: set once by NewLine

	mu sync.Mutex
	// +checklocks:mu
	pending bool
	// +checklocks:mu
	t0 int64
	// +checklocks:mu
	raised uint64

	wake chan struct{}
	done chan struct{}
}

// NewLine starts a line delivering to vector of t. now is the clock for T0
// (nil means time.Now). Close stops it.
func NewLine(t *Table, vector int, now func() int64) *Line {
	if now == nil {
		now = func() int64 { return time.Now().UnixNano() }
	}
	l := &Line{table: t, vector: vector, now: now, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l
}

// Raise asserts the line.
func (l *Line) Raise() {
	l.mu.Lock()
	l.raised++
	if !l.pending {
		l.pending = true
		l.t0 = l.now()
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Raised returns how many times the line was asserted.
func (l *Line) Raised() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raised
}

func (l *Line) run() {
	for {
		select {
		case <-l.wake:
		case <-l.done:
			return
		}
		l.mu.Lock()
		if !l.pending {
			l.mu.Unlock()
			continue
		}
		l.pending = false
		t0 := l.t0
		l.mu.Unlock()
		l.table.Dispatch(l.vector, t0)
	}
}

// Close stops the line's goroutine.
func (l *Line) Close() { close(l.done) }
