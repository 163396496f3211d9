package xsk

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzRingMisuse lets an application write anything into every ring
// index and entry of one socket while frames arrive and Kick runs, and
// checks the kernel side: no panic, every RX descriptor it produces
// inside one UMEM frame, no driver buffer kept, and a second socket
// beside it unaffected.
func FuzzRingMisuse(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 2, 0x80, 0, 0, 0, 7, 7, 7, 5, 5, 5})
	f.Add(bytes.Repeat([]byte{3, 0x10, 0, 0, 0, 0, 0, 0, 0x40, 6, 7}, 8))
	f.Fuzz(func(t *testing.T, ops []byte) {
		a := newRig(t, UMEMConfig{Frames: 8, FillSize: 4, CompletionSize: 4}, Config{RxSize: 4, TxSize: 4})
		b := newRig(t, UMEMConfig{Frames: 8}, Config{})
		word := func(i int) uint64 {
			var w [8]byte
			copy(w[:], ops[min(i, len(ops)):])
			return binary.LittleEndian.Uint64(w[:])
		}
		for i := 0; i < len(ops); i++ {
			v := word(i + 1)
			switch ops[i] % 10 {
			case 0: // a fill entry, anything
				a.u.fq.entries[uint32(v)&a.u.fq.mask].store(v)
			case 1: // the fill producer, anything
				a.u.fq.producer.Store(uint32(v))
			case 2: // a TX descriptor, anything
				a.s.tx.entries[uint32(v)&a.s.tx.mask].store(Desc{Addr: v >> 8, Len: uint32(v), Options: uint32(v>>60) & 1})
			case 3: // the TX producer
				a.s.tx.producer.Store(uint32(v))
			case 4: // the RX and completion consumers
				a.s.rx.consumer.Store(uint32(v))
				a.u.cq.consumer.Store(uint32(v >> 32))
			case 5: // frames arrive
				a.redirect(frameOf(int(v%3000), byte(i)))
			case 6:
				a.s.Kick()
			case 7: // well-behaved use
				if idx, got := a.u.Fill.Reserve(1); got == 1 {
					a.u.Fill.SetAddr(idx, v)
					a.u.Fill.Submit(1)
				}
			case 8:
				if idx, got := a.s.Rx.Peek(4); got > 0 {
					_ = a.s.Rx.Desc(idx)
					a.s.Rx.Release(got)
				}
			case 9:
				a.s.Wait(0)
			}
			i += int(ops[i] >> 4)
		}
		// Every descriptor the kernel side produced lies inside one
		// frame of the UMEM.
		for i := uint32(0); i < a.s.rx.cachedProd && i < a.s.rx.size(); i++ {
			d := a.s.rx.entries[i].load()
			if d.Len == 0 {
				continue
			}
			fs := uint64(a.u.FrameSize())
			if d.Addr+uint64(d.Len) > a.u.Size() || d.Addr/fs != (d.Addr+uint64(d.Len)-1)/fs {
				t.Fatalf("RX descriptor %+v outside a frame", d)
			}
		}
		if a.pool.InUse() != 0 {
			t.Fatalf("%d driver buffers kept", a.pool.InUse())
		}
		// The other socket works exactly.
		b.fill(1)
		if errs := b.redirect(frameOf(100, 1)); errs[0] != nil {
			t.Fatal(errs)
		}
		idx, got := b.s.Rx.Peek(1)
		if got != 1 || !bytes.Equal(b.u.Data(b.s.Rx.Desc(idx).Addr, 100), frameOf(100, 1)) {
			t.Fatal("second socket disturbed")
		}
		if st := b.s.Stats(); st != (Stats{RxPackets: 1, FlushedPolls: 1}) {
			t.Fatalf("second socket counted %+v", st)
		}
	})
}
