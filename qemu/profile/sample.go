// Package profile samples a guest's stacks through QEMU's gdbstub and
// writes them as a pprof profile, symbolised from the guest's ELF. Under
// TCG a host profiler sees QEMU's translated code, not the guest's
// functions; stopping the vCPU and reading its registers and stack is
// what remains.
//
// Stacks are walked by frame pointer, as Go on amd64 keeps them: at a
// frame pointer fp, [fp] holds the caller's frame pointer and [fp+8] the
// return address into it. A function sampled before it has pushed its
// frame pointer (or one without a frame, a small leaf) hides its caller.
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
	Interrupt() (gdbstub.StopReply, error)
	ReadRegisters() (gdbstub.AMD64Regs, error)
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
	if _, err := t.Interrupt(); err != nil {
		return nil, time.Since(t0), err
	}
	regs, err := t.ReadRegisters()
	var stack []uint64
	if err == nil {
		stack = walk(t, regs, img.InText, maxDepth)
	}
	if cerr := t.Continue(); cerr != nil {
		return nil, time.Since(t0), errors.Join(err, cerr)
	}
	return stack, time.Since(t0), err
}

// walkChunk is how much stack one memory read fetches: several Go frames,
// one round trip.
const walkChunk = 1024

// walk follows the frame-pointer chain from regs. It stops at the depth
// bound, at a frame pointer that is zero, misaligned or not above the
// previous one (stacks grow down: callers' frames lie higher), at a return
// address outside the text, or at memory it cannot read.
func walk(t Target, regs gdbstub.AMD64Regs, inText func(uint64) bool, maxDepth int) []uint64 {
	stack := []uint64{regs.RIP}
	var buf []byte
	var base uint64
	fp := regs.GPR[gdbstub.RBP]
	for len(stack) < maxDepth && fp != 0 && fp%8 == 0 {
		if fp < base || fp+16 > base+uint64(len(buf)) || len(buf) == 0 {
			b, err := t.ReadMemory(fp, walkChunk)
			if err != nil {
				// The chunk may run into unmapped memory: the frame
				// alone may not.
				if b, err = t.ReadMemory(fp, 16); err != nil {
					break
				}
			}
			buf, base = b, fp
			if len(buf) < 16 {
				break
			}
		}
		o := fp - base
		next := binary.LittleEndian.Uint64(buf[o:])
		ret := binary.LittleEndian.Uint64(buf[o+8:])
		if !inText(ret) {
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

// String summarises the run: samples, rate and overhead.
func (r *Result) String() string {
	return fmt.Sprintf("%d samples in %v (every %v), guest stopped %.1f %% of the time",
		len(r.Stacks), r.Wall.Round(time.Millisecond), r.Interval, 100*r.Overhead())
}
