package profile

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu/gdbstub"
)

// fakeTarget is a guest with registers and sparse memory; reading a byte
// it lacks is an error, as unmapped memory is for QEMU.
type fakeTarget struct {
	regs       gdbstub.AMD64Regs
	mem        map[uint64]byte
	running    bool
	interrupts int
	reads      int
}

func (f *fakeTarget) Running() bool { return f.running }
func (f *fakeTarget) Continue() error {
	if f.running {
		return gdbstub.ErrRunning
	}
	f.running = true
	return nil
}
func (f *fakeTarget) InterruptRegisters() (gdbstub.StopReply, gdbstub.AMD64Regs, error) {
	if !f.running {
		return gdbstub.StopReply{}, gdbstub.AMD64Regs{}, gdbstub.ErrStopped
	}
	f.running = false
	f.interrupts++
	return gdbstub.StopReply{Signal: 2}, f.regs, nil
}
func (f *fakeTarget) ReadMemory(addr uint64, n int) ([]byte, error) {
	f.reads++
	out := make([]byte, n)
	for i := range out {
		b, ok := f.mem[addr+uint64(i)]
		if !ok {
			return nil, &gdbstub.ErrorReply{Command: fmt.Sprintf("m%x,%x", addr, n), Code: 0x14}
		}
		out[i] = b
	}
	return out, nil
}

// frame stores a frame record at fp: the caller's frame pointer, then the
// return address; words around it are mapped too.
func (f *fakeTarget) frame(fp, next, ret uint64) {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[8:], next)
	binary.LittleEndian.PutUint64(b[16:], ret)
	for i, v := range b {
		f.mem[fp-8+uint64(i)] = v
	}
}

// fakeImage has text at 0x1000-0x2000 and call frame information for
// one PC.
type fakeImage struct {
	pc  uint64
	cfa int64 // 0: none
}

func (fakeImage) InText(pc uint64) bool { return 0x1000 <= pc && pc < 0x2000 }
func (i fakeImage) CFAOffset(pc uint64) (int64, bool) {
	return i.cfa, i.cfa != 0 && pc == i.pc
}

// word stores a word.
func (f *fakeTarget) word(addr, v uint64) {
	for i := range uint64(8) {
		f.mem[addr+i] = byte(v >> (8 * i))
	}
}

func TestWalk(t *testing.T) {
	const rip = 0x1010
	chain := func(f *fakeTarget) {
		f.frame(0x8000, 0x8040, 0x1100)
		f.frame(0x8040, 0x9000, 0x1200) // beyond the first read
		f.frame(0x9000, 0, 0x1300)
	}
	tests := []struct {
		name   string
		rbp    uint64
		rsp    uint64
		cfa    int64 // CFA offset at RIP, 0: none
		setup  func(*fakeTarget)
		depth  int
		want   []uint64
		minRds int
		maxRds int // 0: any
	}{
		{"whole chain", 0x8000, 0, 0, chain, 64, []uint64{rip, 0x1100, 0x1200, 0x1300}, 2, 0},
		{"depth bound", 0x8000, 0, 0, chain, 2, []uint64{rip, 0x1100}, 1, 0},
		{"zero frame pointer", 0, 0, 0, chain, 64, []uint64{rip}, 0, 0},
		{"misaligned frame pointer", 0x8004, 0, 0, chain, 64, []uint64{rip}, 0, 0},
		{"unmapped frame", 0x7000, 0, 0, chain, 64, []uint64{rip}, 2, 0},
		{"return address outside the text", 0x8000, 0, 0, func(f *fakeTarget) {
			f.frame(0x8000, 0x8040, 0x1100)
			f.frame(0x8040, 0x9000, 0x3000)
		}, 64, []uint64{rip, 0x1100}, 1, 0},
		{"frame pointer going down", 0x8000, 0, 0, func(f *fakeTarget) {
			f.frame(0x8000, 0x7f00, 0x1100)
			f.frame(0x7f00, 0x8100, 0x1200)
		}, 64, []uint64{rip, 0x1100}, 1, 0},
		{"frame pointer loop", 0x8000, 0, 0, func(f *fakeTarget) {
			f.frame(0x8000, 0x8000, 0x1100)
		}, 64, []uint64{rip, 0x1100}, 1, 0},
		{"misaligned caller frame", 0x8000, 0, 0, func(f *fakeTarget) {
			f.frame(0x8000, 0x8043, 0x1100)
		}, 64, []uint64{rip, 0x1100}, 1, 0},
		{"frames in one read", 0x8000, 0, 0, func(f *fakeTarget) {
			for a := uint64(0x8000); a < 0x8000+walkChunk; a++ {
				f.mem[a] = 0
			}
			f.frame(0x8000, 0x8040, 0x1100)
			f.frame(0x8040, 0x8100, 0x1200)
			f.frame(0x8100, 0, 0x1300)
		}, 64, []uint64{rip, 0x1100, 0x1200, 0x1300}, 1, 1},
		{"frameless leaf", 0x8000, 0x7f00, 8, func(f *fakeTarget) {
			chain(f)
			f.word(0x7f00, 0x1050) // [RSP]: the return address
		}, 64, []uint64{rip, 0x1050, 0x1100, 0x1200, 0x1300}, 2, 0},
		{"leaf after pushing its frame pointer", 0x8000, 0x7f00, 16, func(f *fakeTarget) {
			chain(f)
			f.word(0x7f00, 0x8000)
			f.word(0x7f08, 0x1050)
		}, 64, []uint64{rip, 0x1050, 0x1100, 0x1200, 0x1300}, 2, 0},
		{"leaf with its frame set up", 0x7fe0, 0x7fb0, 0x40, func(f *fakeTarget) {
			chain(f)
			f.frame(0x7fe0, 0x8000, 0x1050)
		}, 64, []uint64{rip, 0x1050, 0x1100, 0x1200, 0x1300}, 2, 0},
		{"frameless leaf, return address outside the text", 0x8000, 0x7f00, 8, func(f *fakeTarget) {
			chain(f)
			f.word(0x7f00, 0x5000)
		}, 64, []uint64{rip, 0x1100, 0x1200, 0x1300}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTarget{mem: map[uint64]byte{}}
			tt.setup(f)
			var regs gdbstub.AMD64Regs
			regs.RIP, regs.GPR[gdbstub.RBP], regs.GPR[gdbstub.RSP] = rip, tt.rbp, tt.rsp
			got := walk(f, regs, fakeImage{pc: rip, cfa: tt.cfa}, tt.depth)
			if !slices.Equal(got, tt.want) {
				t.Errorf("walk = %#x, want %#x", got, tt.want)
			}
			if f.reads < tt.minRds || tt.maxRds > 0 && f.reads > tt.maxRds {
				t.Errorf("%d memory reads, want %d to %d", f.reads, tt.minRds, tt.maxRds)
			}
		})
	}
}

func TestSample(t *testing.T) {
	f := &fakeTarget{mem: map[uint64]byte{}}
	f.frame(0x8000, 0, 0x1100)
	f.regs.RIP, f.regs.GPR[gdbstub.RBP] = 0x1010, 0x8000
	img := &Image{TextStart: 0x1000, TextEnd: 0x2000}
	r, err := Sample(context.Background(), f, img, Options{Hz: 500, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !f.running {
		t.Error("guest left stopped")
	}
	if len(r.Stacks) == 0 || len(r.Stacks) != f.interrupts {
		t.Fatalf("%d stacks from %d interrupts", len(r.Stacks), f.interrupts)
	}
	for _, s := range r.Stacks {
		if !slices.Equal(s, []uint64{0x1010, 0x1100}) {
			t.Fatalf("stack %#x", s)
		}
	}
	if r.Interval != 2*time.Millisecond || r.Stopped <= 0 || r.Stopped > r.Wall || r.Overhead() <= 0 || r.Overhead() > 1 {
		t.Errorf("interval %v, stopped %v of %v", r.Interval, r.Stopped, r.Wall)
	}
}

func TestSampleCancel(t *testing.T) {
	f := &fakeTarget{mem: map[uint64]byte{}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Sample(ctx, f, &Image{}, Options{Duration: time.Hour})
	if !errors.Is(err, context.Canceled) || !f.running {
		t.Errorf("error %v, running %v; want Canceled with the guest running", err, f.running)
	}
}
