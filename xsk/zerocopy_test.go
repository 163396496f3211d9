package xsk

import (
	"errors"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/xdp"
)

// zcLink is a link that takes a zero-copy pool, as the driver does.
type zcLink struct {
	link
	pool    xdp.FramePool
	binds   int
	wakeups int
	err     error
}

func (l *zcLink) SetXSKPool(p xdp.FramePool) error {
	if l.err != nil {
		return l.err
	}
	l.pool = p
	l.binds++
	return nil
}

func (l *zcLink) XSKWakeup() { l.wakeups++ }

// dmaMemory is heap memory with a made-up bus address, as the driver's
// memory has one.
func dmaMemory(n int) ([]byte, uint64, error) { return make([]byte, n), 0x1000_0000, nil }

func TestZeroCopyBind(t *testing.T) {
	pool, _ := skb.NewPool("tx", 2048, 1, skb.HeapMemory)
	heap, _ := NewUMEM(skb.HeapMemory, UMEMConfig{Frames: 4})
	if _, err := New(heap, Config{Link: &zcLink{}, TxPool: pool, ZeroCopy: true}); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("zero-copy on a UMEM without a bus address: %v", err)
	}
	u, _ := NewUMEM(dmaMemory, UMEMConfig{Frames: 4})
	refused := &zcLink{err: errors.New("device gone")}
	if _, err := New(u, Config{Link: refused, TxPool: pool, ZeroCopy: true}); err == nil {
		t.Fatal("bind succeeded on a device that refused the pool")
	}
	l := &zcLink{}
	s, err := New(u, Config{Link: l, TxPool: pool, ZeroCopy: true})
	if err != nil || !s.ZeroCopy() || l.pool == nil {
		t.Fatalf("bind after a refused one: %v, pool %v", err, l.pool)
	}
	if err := s.Close(); err != nil || l.pool != nil || l.binds != 2 {
		t.Fatalf("Close: %v, pool %v after %d binds", err, l.pool, l.binds)
	}
}

// The pool hands out fill ring frames as buffers whose data lies behind
// both headrooms, counts bad addresses, sets need_wakeup when the fill
// ring runs dry, reuses what the driver frees, and a redirect of one of
// its frames puts the frame on the RX ring in place.
func TestZeroCopyPool(t *testing.T) {
	u, err := NewUMEM(dmaMemory, UMEMConfig{Frames: 8, FrameHeadroom: 64, FillSize: 8, CompletionSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := skb.NewPool("tx", 2048, 1, skb.HeapMemory)
	l := &zcLink{}
	s, err := New(u, Config{Link: l, TxPool: pool, ZeroCopy: true, NeedWakeup: true, RxSize: 2, TxSize: 2, Ifindex: 2})
	if err != nil {
		t.Fatal(err)
	}
	p := l.pool
	if !u.Fill.NeedsWakeup() {
		t.Fatal("need_wakeup not set at bind")
	}
	s.Wait(0)
	if l.wakeups != 1 {
		t.Fatalf("Wait with need_wakeup set: %d wakeups", l.wakeups)
	}
	bufs := make([]*skb.Buffer, 8)
	if n := p.AllocBatch(bufs); n != 0 {
		t.Fatalf("empty fill ring gave %d frames", n)
	}
	r := &rig{t: t, u: u, s: s}
	r.fill(5, 1)
	idx, _ := u.Fill.Reserve(1)
	u.Fill.SetAddr(idx, 8*2048) // beyond the UMEM
	u.Fill.Submit(1)
	n := p.AllocBatch(bufs)
	if n != 2 || !u.Fill.NeedsWakeup() || s.Stats().FillInvalidDescs != 1 {
		t.Fatalf("AllocBatch: %d frames, need_wakeup %v, %+v", n, u.Fill.NeedsWakeup(), s.Stats())
	}
	for i, b := range bufs[:n] {
		want := []int{5, 1}[i]
		if !p.Owns(b) || b.Addr() != 0x1000_0000+uint64(want)*2048 || b.DataOffset() != 64+PacketHeadroom || b.Len() != 0 {
			t.Fatalf("frame %d: owned %v, addr %#x, data at %d", i, p.Owns(b), b.Addr(), b.DataOffset())
		}
	}
	if other := pool.Get(); p.Owns(other) {
		t.Fatal("the pool owns a buffer of another pool")
	} else {
		other.Free()
	}
	p.Free(bufs[0])
	if n := p.AllocBatch(bufs[2:3]); n != 1 || bufs[2] != bufs[0] || u.Fill.NeedsWakeup() {
		t.Fatalf("freed frame not reused: %d, need_wakeup %v", n, u.Fill.NeedsWakeup())
	}
	if n := p.AllocBatch(bufs[3:4]); n != 0 || !u.Fill.NeedsWakeup() {
		t.Fatalf("dry fill ring: %d frames, need_wakeup %v", n, u.Fill.NeedsWakeup())
	}
	// Frames the kernel side holds (1 and 5, taken above), given again,
	// are refused.
	r.fill(1, 5)
	if n := p.AllocBatch(bufs[3:4]); n != 0 || s.Stats().FillInvalidDescs != 3 {
		t.Fatalf("frames given twice: %d taken, %+v", n, s.Stats())
	}

	// Redirects in place, until the RX ring (2 entries) is full.
	r.fill(2)
	p.AllocBatch(bufs[3:4])
	for i, b := range []*skb.Buffer{bufs[1], bufs[2], bufs[3]} {
		copy(b.Put(60), frameOf(60, byte(i)))
		var x xdp.Buff
		x.Init(b.Head(), b.DataOffset(), b.DataOffset()+b.Len())
		x.Ifindex, x.Pool = 2, p
		x.AdjustHead(2) // the program popped 2 bytes
		x.RedirectTo(s)
		err := x.DoRedirect()
		if i < 2 && (err != nil || !x.Kept()) || i == 2 && (!errors.Is(err, syscall.ENOBUFS) || x.Kept()) {
			t.Fatalf("redirect %d: %v, kept %v", i, err, x.Kept())
		}
	}
	s.XDPFlush()
	idx, got := s.Rx.Peek(4)
	if got != 2 {
		t.Fatalf("%d frames on the RX ring", got)
	}
	for i, chunk := range []uint64{1, 5} {
		d := s.Rx.Desc(idx + uint32(i))
		if d.Addr != chunk*2048+64+PacketHeadroom+2 || d.Len != 58 || u.Data(d.Addr, 58)[0] != frameOf(60, byte(i))[2] {
			t.Fatalf("RX descriptor %d: %+v", i, d)
		}
	}
	st := s.Stats()
	if st.RxZeroCopy != 2 || st.RxPackets != 2 || st.RxRingFull != 1 {
		t.Fatalf("%+v", st)
	}
}
