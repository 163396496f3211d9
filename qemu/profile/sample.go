// Package profile samples a guest's stacks through QEMU's gdbstub and
// writes them as a pprof profile, symbolised from the guest's ELF. Under
// TCG a host profiler sees QEMU's translated code, not the guest's
// functions; stopping the vCPU and reading its registers and stack is
// what remains.
//
// Stacks are walked by frame pointer, as Go on amd64 keeps them: at a
// frame pointer fp, [fp] holds the caller's frame pointer and [fp+8] the
// return address into it. A function sampled before it has pushed its
// frame pointer (or one without a frame, a small leaf) would hide its
// caller: for the stopped function the call frame information of the ELF
// (.debug_frame) says where its return address is.
package profile

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu/gdbstub"
)

// Target is the stopped or running guest the sampler reads: a
// *gdbstub.Client.
type Target interface {
	Running() bool
	Continue() error
	// InterruptRegisters stops the guest and reads its registers.
	InterruptRegisters() (gdbstub.StopReply, gdbstub.AMD64Regs, error)
	ReadMemory(addr uint64, n int) ([]byte, error)
}

// Options configures Sample.
type Options struct {
	// Hz is the sampling rate (200 when 0).
	Hz int
	// Duration is how long to sample (10 s when 0).
	Duration time.Duration
	// MaxDepth bounds the frames of a stack (64 when 0).
	MaxDepth int
}

// Result is what Sample collected.
type Result struct {
	// Stacks holds one stack per sample: the stopped RIP, then the return
	// addresses found by walking the frame pointers, innermost first.
	Stacks [][]uint64
	// Interval is the sampling period.
	Interval time.Duration
	// Start is when sampling began, Wall how long it lasted.
	Start time.Time
	Wall  time.Duration
	// Stopped is the time the guest spent stopped by the sampler.
	Stopped time.Duration
}

// Overhead is the share of wall time the guest spent stopped by the
// sampler.
func (r *Result) Overhead() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Stopped) / float64(r.Wall)
}

// Sample samples the guest's stack at opt.Hz for opt.Duration or until ctx
// ends: it stops the vCPU, reads its registers, walks the stack in img's
// text and lets the guest run again. It returns with the guest running.
func Sample(ctx context.Context, t Target, img *Image, opt Options) (*Result, error) {
	if opt.Hz <= 0 {
		opt.Hz = 200
	}
	if opt.Duration <= 0 {
		opt.Duration = 10 * time.Second
	}
	if opt.MaxDepth <= 0 {
		opt.MaxDepth = 64
	}
	r := &Result{Interval: time.Second / time.Duration(opt.Hz), Start: time.Now()}
	if !t.Running() {
		if err := t.Continue(); err != nil {
			return nil, err
		}
	}
	end := r.Start.Add(opt.Duration)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for next := r.Start; ; {
		next = next.Add(r.Interval)
		now := time.Now()
		if next.Before(now) {
			// Behind (a slow stop): skip the missed ticks rather
			// than sample back to back.
			next = now.Add(r.Interval)
		}
		if next.After(end) {
			break
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			r.Wall = time.Since(r.Start)
			return r, ctx.Err()
		case <-timer.C:
		}
		stack, stopped, err := sampleOnce(t, img, opt.MaxDepth)
		r.Stopped += stopped
		if err != nil {
			r.Wall = time.Since(r.Start)
			return r, err
		}
		r.Stacks = append(r.Stacks, stack)
	}
	r.Wall = time.Since(r.Start)
	return r, nil
}

// sampleOnce stops the guest, takes its stack and resumes it, returning
// how long the guest was stopped.
func sampleOnce(t Target, img *Image, maxDepth int) ([]uint64, time.Duration, error) {
	t0 := time.Now()
	_, regs, err := t.InterruptRegisters()
	if err != nil {
		if errors.Is(err, gdbstub.ErrMalformed) || errors.As(err, new(*gdbstub.ErrorReply)) {
			// Stopped, but no registers: let the guest run on.
			err = errors.Join(err, t.Continue())
		}
		return nil, time.Since(t0), err
	}
	stack := walk(t, regs, img, maxDepth)
	err = t.Continue()
	return stack, time.Since(t0), err
}

// walkChunk is how much stack one memory read fetches: several Go frames,
// one round trip.
const walkChunk = 2048

// unwinder is what walk needs of the image: *Image.
type unwinder interface {
	InText(pc uint64) bool
	CFAOffset(pc uint64) (int64, bool)
}

// walk follows the frame-pointer chain from regs. It stops at the depth
// bound, at a frame pointer that is zero, misaligned or not above the
// previous one (stacks grow down: callers' frames lie higher), at a return
// address outside the text, or at memory it cannot read.
//
// The stopped function may not have set up its frame: when RBP is not the
// frame pointer the call frame information puts at RIP (CFA-16), RBP is
// still its caller's, and the return address into the caller is taken
// from CFA-8 instead.
func walk(t Target, regs gdbstub.AMD64Regs, u unwinder, maxDepth int) []uint64 {
	stack := []uint64{regs.RIP}
	m := stackReader{t: t}
	fp := regs.GPR[gdbstub.RBP]
	if off, ok := u.CFAOffset(regs.RIP); ok && off >= 8 {
		cfa := regs.GPR[gdbstub.RSP] + uint64(off)
		if fp != cfa-16 {
			if ret, ok := m.word(cfa - 8); ok && u.InText(ret) {
				stack = append(stack, ret)
			}
		}
	}
	for len(stack) < maxDepth && fp != 0 && fp%8 == 0 {
		next, ok1 := m.word(fp)
		ret, ok2 := m.word(fp + 8)
		if !ok1 || !ok2 || !u.InText(ret) {
			break
		}
		stack = append(stack, ret)
		if next <= fp {
			break
		}
		fp = next
	}
	return stack
}

// stackReader reads guest words through a window of walkChunk bytes.
type stackReader struct {
	t    Target
	base uint64
	buf  []byte
}

func (m *stackReader) word(addr uint64) (uint64, bool) {
	if addr < m.base || addr+8 > m.base+uint64(len(m.buf)) {
		b, err := m.t.ReadMemory(addr, walkChunk)
		if err != nil {
			// The window may run into unmapped memory: the word
			// alone may not.
			if b, err = m.t.ReadMemory(addr, 8); err != nil {
				return 0, false
			}
		}
		if len(b) < 8 {
			return 0, false
		}
		m.base, m.buf = addr, b
	}
	o := addr - m.base
	return binary.LittleEndian.Uint64(m.buf[o:]), true
}

// String summarises the run: samples, rate and overhead.
func (r *Result) String() string {
	return fmt.Sprintf("%d samples in %v (every %v), guest stopped %.1f %% of the time",
		len(r.Stacks), r.Wall.Round(time.Millisecond), r.Interval, 100*r.Overhead())
}
