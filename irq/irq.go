// Package irq routes device interrupts to their handlers: a table of
// handlers per vector, per-vector counts, and the hard-IRQ timestamp T0 of
// ARCHITECTURE.md handed to each handler.
//
// In the image the hardware half (irq_tamago.go) routes a device's GSI
// through the IOAPIC to a vector, timestamps the interrupt in the first
// instructions of its IDT entry and dispatches from TamaGo's interrupt
// goroutine. On the host, Line is a software interrupt line that does the
// same from a goroutine of its own, so that the drivers' tests run their
// real interrupt handlers.
//
// Handlers run in the interrupt goroutine, not in interrupt context: under
// TamaGo the CPU's interrupt entry only wakes that goroutine. They should
// do what Linux does in hard-IRQ context (acknowledge, disable further
// callbacks, schedule NAPI) and nothing more.
package irq

import (
	"fmt"
	"sync/atomic"
)

// NumVectors is the size of the x86 interrupt vector space.
const NumVectors = 256

// FirstDeviceVector is the first vector free for devices (0-31 are CPU
// exceptions).
const FirstDeviceVector = 32

// Handler services one interrupt. t0 is the time the interrupt was taken,
// in nanoseconds of the board clock.
type Handler func(t0 int64)

type entry struct {
	name    string
	handler Handler
	count   atomic.Uint64
}

// Table holds the handlers of every vector.
type Table struct {
	v        [NumVectors]atomic.Pointer[entry]
	spurious atomic.Uint64
}

// Default is the table the image's interrupt goroutine dispatches from.
var Default = &Table{}

// Register installs h for vector under name, replacing any previous one.
func (t *Table) Register(vector int, name string, h Handler) error {
	if vector < FirstDeviceVector || vector >= NumVectors-1 {
		return fmt.Errorf("irq: vector %d is not a device vector", vector)
	}
	t.v[vector].Store(&entry{name: name, handler: h})
	return nil
}

// Unregister removes the handler of vector.
func (t *Table) Unregister(vector int) {
	if vector >= 0 && vector < NumVectors {
		t.v[vector].Store(nil)
	}
}

// Dispatch runs the handler of vector with the interrupt's timestamp. An
// interrupt on a vector with no handler is counted as spurious.
func (t *Table) Dispatch(vector int, t0 int64) {
	if vector < 0 || vector >= NumVectors {
		t.spurious.Add(1)
		return
	}
	e := t.v[vector].Load()
	if e == nil {
		t.spurious.Add(1)
		return
	}
	e.count.Add(1)
	e.handler(t0)
}

// Stat is one vector's line of Stats.
type Stat struct {
	Vector int
	Name   string
	Count  uint64
}

// Stats lists the registered vectors with their interrupt counts, like
// /proc/interrupts.
func (t *Table) Stats() []Stat {
	var s []Stat
	for i := range t.v {
		if e := t.v[i].Load(); e != nil {
			s = append(s, Stat{Vector: i, Name: e.name, Count: e.count.Load()})
		}
	}
	return s
}

// Spurious returns the number of interrupts on vectors with no handler.
func (t *Table) Spurious() uint64 { return t.spurious.Load() }
