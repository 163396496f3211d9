package main

import (
	"errors"
	"syscall"

	"github.com/kaidoku-net/kaidoku/image/xdpprog"
	"github.com/kaidoku-net/kaidoku/netstack/latency"
	"github.com/kaidoku-net/kaidoku/xsk"
)

// batch is how many descriptors one pass takes from a ring.
const batch = 64

// echo answers every frame the socket receives from its own UMEM frame,
// the way the kernel's xdpsock answers in l2fwd mode: the frame is
// reversed in place (xdpprog.Reverse) and its descriptor goes straight
// onto the TX ring; sent frames come back on the completion ring and go
// back onto the fill ring.
type echo struct {
	s     *xsk.Socket
	u     *xsk.UMEM
	now   func() int64
	trace *latency.Trace // interrupt-to-wakeup of each frame, if set
	// Frames the fill ring had no room for, given back later.
	spare []uint64
}

func newEcho(s *xsk.Socket, now func() int64, trace *latency.Trace) *echo {
	e := &echo{s: s, u: s.UMEM(), now: now, trace: trace}
	for i := 0; i < e.u.Frames(); i++ {
		e.spare = append(e.spare, uint64(i)*uint64(e.u.FrameSize()))
	}
	e.refill()
	return e
}

// refill puts spare frames on the fill ring.
func (e *echo) refill() {
	n := min(uint32(len(e.spare)), e.u.Fill.Size())
	for n > 0 {
		if idx, got := e.u.Fill.Reserve(n); got == n {
			for i := uint32(0); i < n; i++ {
				e.u.Fill.SetAddr(idx+i, e.spare[len(e.spare)-1])
				e.spare = e.spare[:len(e.spare)-1]
			}
			e.u.Fill.Submit(n)
			return
		}
		n /= 2
	}
}

// complete takes sent frames off the completion ring for the fill ring.
func (e *echo) complete() {
	idx, got := e.u.Completion.Peek(batch)
	for i := uint32(0); i < got; i++ {
		e.spare = append(e.spare, e.u.Completion.Addr(idx+i))
	}
	e.u.Completion.Release(got)
}

// serve answers what the RX ring holds and reports how many frames it
// took. A frame the TX ring has no room for is dropped: its UMEM frame
// goes back to the fill ring.
func (e *echo) serve() int {
	e.complete()
	idx, got := e.s.Rx.Peek(batch)
	if got == 0 {
		e.refill()
		return 0
	}
	now := e.now()
	var out [batch]xsk.Desc
	n := 0
	for i := uint32(0); i < got; i++ {
		d := e.s.Rx.Desc(idx + i)
		if e.trace != nil {
			e.trace.Record(e.s.Rx.T0(idx+i), 0, 0, now)
		}
		if f := e.u.Data(d.Addr, int(d.Len)); f != nil && xdpprog.Reverse(f) {
			out[n] = xsk.Desc{Addr: d.Addr, Len: d.Len}
			n++
		} else {
			e.spare = append(e.spare, d.Addr&^uint64(e.u.FrameSize()-1))
		}
	}
	e.s.Rx.Release(got)
	if tidx, room := e.s.Tx.Reserve(uint32(n)); room == uint32(n) {
		for i := 0; i < n; i++ {
			e.s.Tx.SetDesc(tidx+uint32(i), out[i])
		}
		e.s.Tx.Submit(room)
	} else {
		for i := 0; i < n; i++ {
			e.spare = append(e.spare, out[i].Addr&^uint64(e.u.FrameSize()-1))
		}
	}
	e.kick()
	e.refill()
	return int(got)
}

// kick sends the TX ring's frames: Kick takes 32 at a time and says
// EAGAIN while more wait or the completion ring is full.
func (e *echo) kick() {
	if !e.s.Tx.NeedsWakeup() {
		return
	}
	for i := 0; i < batch; i++ {
		e.complete()
		if !errors.Is(e.s.Kick(), syscall.EAGAIN) {
			break
		}
	}
	e.complete()
}

// run serves until the socket closes, waiting for frames between passes.
func (e *echo) run() {
	for {
		if e.serve() > 0 {
			continue
		}
		if _, err := e.s.Wait(-1); err != nil {
			return
		}
	}
}
