package xsk

import (
	"bytes"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/xdp"
)

// link records what the socket transmits.
type link struct {
	mu     sync.Mutex
	frames [][]byte
	err    error
}

func (l *link) Transmit(b *skb.Buffer) error {
	defer b.Free()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	l.frames = append(l.frames, append([]byte(nil), b.Data()...))
	return nil
}

func (l *link) Headroom() int { return 12 }

type rig struct {
	t    *testing.T
	u    *UMEM
	s    *Socket
	l    *link
	pool *skb.Pool
}

func newRig(t *testing.T, ucfg UMEMConfig, cfg Config) *rig {
	t.Helper()
	if ucfg.Frames == 0 {
		ucfg.Frames = 16
	}
	u, err := NewUMEM(skb.HeapMemory, ucfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, u: u, l: &link{}}
	if r.pool, err = skb.NewPool("tx", 2048, 8, skb.HeapMemory); err != nil {
		t.Fatal(err)
	}
	cfg.Link, cfg.TxPool, cfg.Ifindex = r.l, r.pool, 2
	if r.s, err = New(u, cfg); err != nil {
		t.Fatal(err)
	}
	return r
}

// fill gives the kernel side the frames with these indices.
func (r *rig) fill(frames ...int) {
	idx, got := r.u.Fill.Reserve(uint32(len(frames)))
	if got != uint32(len(frames)) {
		r.t.Fatalf("fill ring: reserved %d of %d", got, len(frames))
	}
	for i, f := range frames {
		r.u.Fill.SetAddr(idx+uint32(i), uint64(f)*uint64(r.u.FrameSize()))
	}
	r.u.Fill.Submit(uint32(len(frames)))
}

// redirect runs one poll redirecting these frames to the socket.
func (r *rig) redirect(frames ...[]byte) []error {
	var errs []error
	for _, f := range frames {
		var b xdp.Buff
		buf := append(make([]byte, 12), f...)
		b.Init(buf, 12, len(buf))
		b.Ifindex, b.T0 = 2, 1234
		b.RedirectTo(r.s)
		errs = append(errs, b.DoRedirect())
	}
	r.s.XDPFlush()
	return errs
}

func frameOf(n int, seq byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = seq + byte(i)
	}
	return f
}

// Received frames land behind the headrooms of fill ring frames, in
// order, with their length; the fill entries are consumed.
func TestReceive(t *testing.T) {
	r := newRig(t, UMEMConfig{FrameHeadroom: 64}, Config{})
	r.fill(3, 5)
	errs := r.redirect(frameOf(60, 1), frameOf(1000, 2), frameOf(60, 3))
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], syscall.ENOMEM) {
		t.Fatalf("errors %v", errs)
	}
	idx, got := r.s.Rx.Peek(8)
	if got != 2 {
		t.Fatalf("%d descriptors", got)
	}
	for i, want := range []struct {
		frame int
		data  []byte
	}{{3, frameOf(60, 1)}, {5, frameOf(1000, 2)}} {
		d := r.s.Rx.Desc(idx + uint32(i))
		if d.Addr != uint64(want.frame)*2048+64+PacketHeadroom || d.Len != uint32(len(want.data)) {
			t.Fatalf("desc %d: %+v", i, d)
		}
		if !bytes.Equal(r.u.Data(d.Addr, int(d.Len)), want.data) {
			t.Fatalf("frame %d differs", i)
		}
		if r.s.Rx.T0(idx+uint32(i)) != 1234 {
			t.Fatal("T0 not carried")
		}
	}
	r.s.Rx.Release(got)
	st := r.s.Stats()
	if st.RxPackets != 2 || st.RxDropped != 1 || st.RxFillRingEmptyDescs != 1 {
		t.Fatalf("%+v", st)
	}
	if c := r.u.fq.consumer.Load(); c != 2 {
		t.Fatalf("fill ring consumer %d", c)
	}
}

// Every way of misusing the receive side is counted and costs the
// driver nothing but the frame.
func TestReceiveMisuse(t *testing.T) {
	t.Run("too long", func(t *testing.T) {
		r := newRig(t, UMEMConfig{}, Config{})
		r.fill(0)
		if errs := r.redirect(frameOf(2048-256+1, 0)); !errors.Is(errs[0], syscall.ENOSPC) {
			t.Fatal(errs)
		}
		if st := r.s.Stats(); st.RxDropped != 1 || st.RxPackets != 0 {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("fill addresses outside the UMEM", func(t *testing.T) {
		r := newRig(t, UMEMConfig{Frames: 4}, Config{})
		idx, _ := r.u.Fill.Reserve(3)
		r.u.Fill.SetAddr(idx, 4*2048)       // one beyond
		r.u.Fill.SetAddr(idx+1, 1<<63)      // far beyond
		r.u.Fill.SetAddr(idx+2, 2*2048+100) // inside, unaligned: rounded down
		r.u.Fill.Submit(3)
		if errs := r.redirect(frameOf(60, 0)); errs[0] != nil {
			t.Fatal(errs)
		}
		idx, got := r.s.Rx.Peek(1)
		if got != 1 || r.s.Rx.Desc(idx).Addr != 2*2048+PacketHeadroom {
			t.Fatalf("%d %+v", got, r.s.Rx.Desc(idx))
		}
		if st := r.s.Stats(); st.FillInvalidDescs != 2 {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("RX ring full", func(t *testing.T) {
		r := newRig(t, UMEMConfig{}, Config{RxSize: 2})
		r.fill(0, 1, 2, 3)
		errs := r.redirect(frameOf(60, 0), frameOf(60, 1), frameOf(60, 2))
		if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], syscall.ENOBUFS) {
			t.Fatal(errs)
		}
		// The frame taken for the third is kept for the next (free
		// list), not lost.
		r.s.Rx.Peek(2)
		r.s.Rx.Release(2)
		r.redirect(frameOf(60, 3), frameOf(60, 4))
		idx, got := r.s.Rx.Peek(2)
		if got != 2 || r.s.Rx.Desc(idx).Addr/2048 != 2 || r.s.Rx.Desc(idx+1).Addr/2048 != 3 {
			t.Fatalf("%d: %+v %+v", got, r.s.Rx.Desc(idx), r.s.Rx.Desc(idx+1))
		}
		if st := r.s.Stats(); st.RxRingFull != 1 || st.RxDropped != 0 {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("wrong queue or device, closed", func(t *testing.T) {
		r := newRig(t, UMEMConfig{}, Config{})
		r.fill(0)
		var b xdp.Buff
		b.Init(make([]byte, 64), 0, 64)
		b.Ifindex, b.RxQueue = 2, 1
		if err := r.s.XDPRedirect(&b); !errors.Is(err, syscall.EINVAL) {
			t.Fatal(err)
		}
		b.Ifindex, b.RxQueue = 3, 0
		if err := r.s.XDPRedirect(&b); !errors.Is(err, syscall.EINVAL) {
			t.Fatal(err)
		}
		r.s.Close()
		b.Ifindex = 2
		if err := r.s.XDPRedirect(&b); !errors.Is(err, syscall.ENXIO) {
			t.Fatal(err)
		}
		if _, err := r.s.Wait(0); err != ErrClosed {
			t.Fatal(err)
		}
	})
}

// Kick sends valid descriptors, completes their addresses, and counts
// and skips invalid ones.
func TestTransmit(t *testing.T) {
	r := newRig(t, UMEMConfig{Frames: 8}, Config{NeedWakeup: true})
	if !r.s.Tx.NeedsWakeup() {
		t.Fatal("copy mode TX without need_wakeup")
	}
	copy(r.u.Data(2048, 100), frameOf(100, 7))
	copy(r.u.Data(3*2048+500, 60), frameOf(60, 9))
	descs := []Desc{
		{Addr: 2048, Len: 100},
		{Addr: 8 * 2048, Len: 60},             // beyond the UMEM
		{Addr: 4*2048 + 2000, Len: 100},       // crosses its frame
		{Addr: 5 * 2048, Len: 0},              // empty
		{Addr: 5 * 2048, Len: 60, Options: 1}, // unknown option
		{Addr: 3*2048 + 500, Len: 60},
	}
	idx, got := r.s.Tx.Reserve(uint32(len(descs)))
	if got != uint32(len(descs)) {
		t.Fatal("reserve")
	}
	for i, d := range descs {
		r.s.Tx.SetDesc(idx+uint32(i), d)
	}
	r.s.Tx.Submit(got)
	if err := r.s.Kick(); err != nil {
		t.Fatal(err)
	}
	if len(r.l.frames) != 2 || !bytes.Equal(r.l.frames[0], frameOf(100, 7)) || !bytes.Equal(r.l.frames[1], frameOf(60, 9)) {
		t.Fatalf("sent %d frames", len(r.l.frames))
	}
	cidx, n := r.u.Completion.Peek(8)
	if n != 2 || r.u.Completion.Addr(cidx) != 2048 || r.u.Completion.Addr(cidx+1) != 3*2048+500 {
		t.Fatalf("completions %d", n)
	}
	r.u.Completion.Release(n)
	st := r.s.Stats()
	if st.TxInvalidDescs != 4 || st.TxPackets != 2 || st.TxRingEmptyDescs != 1 {
		t.Fatalf("%+v", st)
	}
	if r.pool.InUse() != 0 {
		t.Fatal("driver buffers leaked")
	}
}

// The completion ring full, or no driver buffer: Kick says EAGAIN and
// loses nothing; the frames go once there is room.
func TestTransmitBackpressure(t *testing.T) {
	r := newRig(t, UMEMConfig{Frames: 8, CompletionSize: 2}, Config{})
	idx, _ := r.s.Tx.Reserve(4)
	for i := uint32(0); i < 4; i++ {
		r.s.Tx.SetDesc(idx+i, Desc{Addr: uint64(i) * 2048, Len: 64})
	}
	r.s.Tx.Submit(4)
	if err := r.s.Kick(); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("%v", err)
	}
	if len(r.l.frames) != 2 {
		t.Fatalf("sent %d with 2 completion slots", len(r.l.frames))
	}
	_, n := r.u.Completion.Peek(4)
	r.u.Completion.Release(n)
	if err := r.s.Kick(); err != nil {
		t.Fatal(err)
	}
	if len(r.l.frames) != 4 {
		t.Fatalf("sent %d", len(r.l.frames))
	}
	// The driver refuses: EBUSY, the frame completed (its copy is gone).
	_, n = r.u.Completion.Peek(4)
	r.u.Completion.Release(n)
	r.l.err = errors.New("dropped")
	idx, _ = r.s.Tx.Reserve(1)
	r.s.Tx.SetDesc(idx, Desc{Addr: 0, Len: 64})
	r.s.Tx.Submit(1)
	if err := r.s.Kick(); !errors.Is(err, syscall.EBUSY) {
		t.Fatal(err)
	}
	if _, n := r.u.Completion.Peek(4); n != 1 {
		t.Fatalf("%d completions", n)
	}
}

// Wait returns when a poll flushes frames to the socket, and times out
// otherwise.
func TestWait(t *testing.T) {
	r := newRig(t, UMEMConfig{}, Config{})
	r.fill(0, 1)
	if ok, err := r.s.Wait(time.Millisecond); ok || err != nil {
		t.Fatal(ok, err)
	}
	done := make(chan bool)
	go func() {
		ok, _ := r.s.Wait(-1)
		done <- ok
	}()
	r.redirect(frameOf(60, 0))
	if !<-done {
		t.Fatal("Wait returned without a frame")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []UMEMConfig{{}, {Frames: 1, FrameSize: 3000}, {Frames: 1, FrameSize: 8192}, {Frames: 1, FrameHeadroom: 2000}, {Frames: 1, FillSize: 3}} {
		if _, err := NewUMEM(skb.HeapMemory, c); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	u, _ := NewUMEM(skb.HeapMemory, UMEMConfig{Frames: 1})
	pool, _ := skb.NewPool("tx", 2048, 1, skb.HeapMemory)
	for _, c := range []Config{{}, {Link: &link{}, TxPool: pool, RxSize: 5}, {Link: &link{}, TxPool: pool, Queue: 1}} {
		if _, err := New(u, c); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if _, err := New(u, Config{Link: &link{}, TxPool: pool, ZeroCopy: true}); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Error(err)
	}
	if _, err := New(u, Config{Link: &link{}, TxPool: pool}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(u, Config{Link: &link{}, TxPool: pool}); err != ErrUMEMBound {
		t.Error(err)
	}
}
