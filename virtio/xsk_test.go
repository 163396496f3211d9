package virtio_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/virtio"
	"github.com/kaidoku-net/kaidoku/virtio/virtiotest"
	"github.com/kaidoku-net/kaidoku/xdp"
	"github.com/kaidoku-net/kaidoku/xsk"
)

// xskRig is an AF_XDP socket in zero-copy mode on the harness's device.
type xskRig struct {
	h *harness
	u *xsk.UMEM
	s *xsk.Socket
}

const xskFrames = 128

// bindXSK binds a socket in zero-copy mode to the harness's device, on a
// UMEM of the given frames whose rings (fill and RX) have ring entries.
func bindXSK(t *testing.T, h *harness, frames int, ring uint32) *xskRig {
	t.Helper()
	u, err := xsk.NewUMEM(virtio.PoolMemory(h.region), xsk.UMEMConfig{Frames: frames, FillSize: ring, CompletionSize: ring})
	if err != nil {
		t.Fatal(err)
	}
	s, err := xsk.New(u, xsk.Config{RxSize: ring, TxSize: ring, Ifindex: 2, Link: h.net, TxPool: h.txPool,
		ZeroCopy: true, NeedWakeup: true})
	if err != nil {
		t.Fatal(err)
	}
	if !s.ZeroCopy() {
		t.Fatal("socket not in zero-copy mode")
	}
	return &xskRig{h: h, u: u, s: s}
}

// newXSKRig binds a socket of xskFrames frames and gives them all to
// the fill ring.
func newXSKRig(t *testing.T, h *harness) *xskRig {
	t.Helper()
	r := bindXSK(t, h, xskFrames, xskFrames)
	u := r.u
	if !u.Fill.NeedsWakeup() {
		t.Fatal("fill ring empty at bind and need_wakeup not set")
	}
	frames := make([]uint64, xskFrames)
	for i := range frames {
		frames[i] = uint64(i) * uint64(u.FrameSize())
	}
	r.fill(frames)
	return r
}

// fill puts frames on the fill ring and wakes the device if it asks.
func (r *xskRig) fill(frames []uint64) {
	idx, got := r.u.Fill.Reserve(uint32(len(frames)))
	if got != uint32(len(frames)) {
		r.h.t.Fatalf("fill ring: reserved %d of %d", got, len(frames))
	}
	for i, a := range frames {
		r.u.Fill.SetAddr(idx+uint32(i), a)
	}
	r.u.Fill.Submit(got)
	if r.u.Fill.NeedsWakeup() {
		r.s.Wait(0)
	}
}

// take waits for n frames on the RX ring, checks each is the frame the
// test injected with the number it carries and a size of 100+seq%64,
// returns their descriptors and puts their frames back on the fill ring.
func (r *xskRig) take(n int) []xsk.Desc {
	r.h.t.Helper()
	var ds []xsk.Desc
	deadline := time.Now().Add(20 * time.Second)
	for len(ds) < n {
		if time.Now().After(deadline) {
			r.h.t.Fatalf("%d of %d frames on the RX ring; %+v", len(ds), n, r.s.Stats())
		}
		r.s.Wait(10 * time.Millisecond)
		idx, got := r.s.Rx.Peek(64)
		var back []uint64
		for i := uint32(0); i < got; i++ {
			d := r.s.Rx.Desc(idx + i)
			f := r.u.Data(d.Addr, int(d.Len))
			seq := seqOf(f)
			if !bytes.Equal(f, frame(seq, 100+seq%64)) {
				r.h.t.Fatalf("frame %d in the UMEM at %#x differs", seq, d.Addr)
			}
			// Options carries the frame's number to the caller.
			ds = append(ds, xsk.Desc{Addr: d.Addr, Len: d.Len, Options: uint32(seq)})
			back = append(back, d.Addr&^uint64(r.u.FrameSize()-1))
		}
		r.s.Rx.Release(got)
		if got > 0 {
			r.fill(back)
		}
	}
	return ds
}

// In zero-copy mode the device writes frames into the UMEM: a frame
// redirected to the socket is on the RX ring where the device wrote it,
// behind XDP_PACKET_HEADROOM; a frame passed to the stack, sent back or
// dropped is copied out or dropped and its UMEM frame reused; more
// frames than the UMEM holds go through; and after Close the device
// receives into its own buffers again.
func TestXSKZeroCopy(t *testing.T) {
	const n = 3 * xskFrames
	var txr txRecorder
	h := newHarness(t, opts{queue: 64, onTX: txr.record})
	r := newXSKRig(t, h)
	waitUntil(t, "UMEM frames posted", func() bool { return h.net.Stats().RX.Posted == 64 })
	if in := h.rxPool.InUse(); in != 0 {
		t.Fatalf("%d receive buffers of the driver's still in use with the UMEM bound", in)
	}
	// seq%4: 0 and 1 to the socket, 2 to the stack, 3 back out (XDP_TX)
	// but for every eighth, dropped.
	prog := func(b *xdp.Buff) xdp.Action {
		if b.Pool == nil {
			return xdp.Aborted // not received into the UMEM
		}
		switch seq := seqOf(b.Data()); {
		case seq%4 < 2:
			return b.RedirectTo(r.s)
		case seq%4 == 2:
			return xdp.Pass
		case seq%8 == 3:
			return swapMAC(b)
		}
		return xdp.Drop
	}
	h.net.SetXDP(prog)
	want := map[string]int{}
	for i := 0; i < n; i++ {
		want[[]string{"rx", "rx", "pass", "tx", "rx", "rx", "pass", "drop"}[i%8]]++
	}
	var got []xsk.Desc
	for i := 0; i < n; i += 32 {
		for j := i; j < i+32; j++ {
			if !h.dev.Inject(frame(j, 100+j%64), virtiotest.RxOptions{}) {
				t.Fatalf("device dropped frame %d", j)
			}
		}
		got = append(got, r.take(want["rx"]*(i+32)/n-len(got))...)
	}
	for i, d := range got {
		seq := int(d.Options)
		if seq%4 >= 2 || d.Addr%uint64(r.u.FrameSize()) != xsk.PacketHeadroom {
			t.Fatalf("RX descriptor %d: frame %d at %#x", i, seq, d.Addr)
		}
	}
	h.waitDelivered(want["pass"])
	waitUntil(t, "XDP_TX frames sent", func() bool { return len(txr.sent()) == want["tx"] })
	for _, f := range txr.sent() {
		seq := seqOf(f)
		w := frame(seq, 100+seq%64)
		copy(w[0:6], peerMAC[:])
		copy(w[6:12], devMAC[:])
		if seq%8 != 3 || !bytes.Equal(f, w) {
			t.Fatalf("XDP_TX sent frame %d, or it changed", seq)
		}
	}
	h.mu.Lock()
	for _, f := range h.frames {
		if s := seqOf(f); s%4 != 2 || !bytes.Equal(f, frame(s, 100+s%64)) {
			t.Errorf("stack got frame %d, or it changed", s)
		}
	}
	h.mu.Unlock()
	st, xs := h.net.Stats(), r.s.Stats()
	if st.RX.XSKPackets != n || st.RX.XSKCopies != uint64(want["pass"]+want["tx"]) ||
		xs.RxZeroCopy != uint64(want["rx"]) || xs.RxPackets != uint64(want["rx"]) || st.RX.XDPDrops != uint64(want["drop"]) {
		t.Fatalf("%d frames: %v\n%+v", n, st, xs)
	}

	h.net.SetXDP(nil)
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "driver buffers posted", func() bool { return h.net.Stats().RX.Posted == 64 && h.rxPool.InUse() == 64 })
	base := h.deliveredCount()
	h.send(n, 10, 10, 100)
	if h.deliveredCount() != base+10 || h.net.Stats().RX.XSKPackets != n {
		t.Fatalf("after Close: %d delivered, %v", h.deliveredCount()-base, h.net.Stats())
	}
	h.checkRxAccounting()
}

// Without a program every frame reaches the stack, copied out of the
// UMEM; a fill ring that runs dry holds frames back until it is given
// frames again and the socket is woken, and nothing is lost.
func TestXSKZeroCopyNoProgram(t *testing.T) {
	h := newHarness(t, opts{queue: 64})
	r := bindXSK(t, h, 16, 16)
	s := r.s
	r.fill([]uint64{0, 2048, 4096, 6144, 8192, 10240, 12288, 14336})
	waitUntil(t, "8 frames posted", func() bool { return h.net.Stats().RX.Posted == 8 })
	h.send(0, 8, 8, 200)
	if h.net.Stats().RX.XSKCopies != 8 {
		t.Fatalf("%v", h.net.Stats())
	}
	// The pool reuses the copied frames itself: the ring stays full.
	waitUntil(t, "frames reposted", func() bool { return h.net.Stats().RX.Posted == 8 })
	// A runt is dropped and its UMEM frame reposted.
	if !h.dev.Inject(make([]byte, 10), virtiotest.RxOptions{}) {
		t.Fatal("device dropped the runt")
	}
	waitUntil(t, "runt counted", func() bool { return h.net.Stats().RxLengthErrors == 1 })
	waitUntil(t, "runt's frame reposted", func() bool { return h.net.Stats().RX.Posted == 8 })
	// Out-of-range addresses are counted and skipped, never posted.
	r.fill([]uint64{1 << 40, 16 * 2048})
	h.send(8, 8, 8, 200)
	if st := s.Stats(); st.FillInvalidDescs != 2 {
		t.Fatalf("%+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != xsk.ErrClosed {
		t.Fatalf("second Close: %v", err)
	}
	h.checkRxAccounting()
}

// FuzzXSKZeroCopyMisuse lets an application bound in zero-copy mode give
// the fill ring anything (addresses outside the UMEM, unaligned, the
// same frame twice, a producer moved anywhere), release RX entries it
// never had and never give frames back, while frames of every size
// arrive and the program redirects or passes them. The driver must
// report no fault, put only descriptors inside one UMEM frame on the RX
// ring, and, once the socket is closed, receive into its own buffers
// again with every buffer accounted for.
func FuzzXSKZeroCopyMisuse(f *testing.F) {
	f.Add([]byte{2, 3, 2, 3, 5, 2, 2, 3})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 3, 3})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0x7f, 2, 4, 0x10, 0, 0, 0, 2, 5, 3})
	f.Add([]byte{0, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		h := newHarness(t, opts{queue: 16})
		r := bindXSK(t, h, 16, 8)
		u, s := r.u, r.s
		h.net.SetXDP(func(b *xdp.Buff) xdp.Action {
			if b.Len() > 14 && b.Data()[14]%3 == 0 {
				return xdp.Pass
			}
			return b.RedirectTo(s)
		})
		word := func(i int) uint64 {
			var w [8]byte
			copy(w[:], ops[min(i, len(ops)):])
			return binary.LittleEndian.Uint64(w[:])
		}
		fs := uint64(u.FrameSize())
		seq := 0
		for i := 0; i < len(ops); i++ {
			v := word(i + 1)
			switch ops[i] % 6 {
			case 0: // a fill entry, anything, reserved or not
				idx, got := u.Fill.Reserve(1)
				if got == 0 {
					idx = uint32(v >> 32)
				}
				u.Fill.SetAddr(idx, v)
				u.Fill.Submit(1)
				i += 8
			case 1: // the fill producer moved anywhere
				u.Fill.Submit(uint32(v))
				i += 4
			case 2: // a frame arrives
				n := 14 + int(v%3000)
				fr := make([]byte, n)
				fr[0] = 0x52
				if n > 14 {
					fr[14] = byte(seq)
				}
				seq++
				h.dev.Inject(fr, virtiotest.RxOptions{})
				i += 2
			case 3: // well-behaved: take the RX ring, give the frames back
				s.Wait(time.Millisecond)
				idx, got := s.Rx.Peek(8)
				var back []uint64
				for j := uint32(0); j < got; j++ {
					d := s.Rx.Desc(idx + j)
					if d.Len == 0 || d.Addr+uint64(d.Len) > u.Size() || d.Addr/fs != (d.Addr+uint64(d.Len)-1)/fs {
						t.Fatalf("RX descriptor %+v outside a frame", d)
					}
					back = append(back, d.Addr)
				}
				s.Rx.Release(got)
				if fi, room := u.Fill.Reserve(uint32(len(back))); room == uint32(len(back)) {
					for j, a := range back {
						u.Fill.SetAddr(fi+uint32(j), a)
					}
					u.Fill.Submit(room)
				}
			case 4: // RX entries released that were never taken
				s.Rx.Release(uint32(v))
				i += 4
			case 5:
				s.Wait(0)
			}
		}
		if n := h.faultCount(); n != 0 {
			t.Fatalf("%d device faults: %v", n, h.faultKinds())
		}
		h.net.SetXDP(nil)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		base := h.deliveredCount()
		h.send(1000, 4, 4, 100)
		if got := h.deliveredCount() - base; got != 4 {
			t.Fatalf("after Close the stack got %d of 4 frames", got)
		}
		h.checkRxAccounting()
	})
}
