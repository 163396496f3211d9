package xsk

import (
	"fmt"
	"syscall"
	"unsafe"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/xdp"
)

// ZeroCopyDevice is a driver that receives into a UMEM directly
// (ndo_bpf XDP_SETUP_XSK_POOL and ndo_xsk_wakeup): kaidoku's virtio-net
// (*virtio.Net). A Config.Link that is one may be bound in zero-copy
// mode.
type ZeroCopyDevice interface {
	// SetXSKPool binds a socket's frames to the device's receive
	// queue, or unbinds them with nil; once it returns from unbinding,
	// the device writes no UMEM frame any more.
	SetXSKPool(p xdp.FramePool) error
	// XSKWakeup runs the receive poll, to post the frames the fill ring
	// was given after it asked for a wakeup.
	XSKWakeup()
}

// zcPool is the UMEM's frames as the driver's receive buffers, for a
// socket bound in zero-copy mode (the zero-copy role of struct
// xsk_buff_pool): one skb.Buffer per frame, over the UMEM's own memory,
// handed out by the fill ring's order rather than the buffer pool's.
// The driver calls it from its NAPI poll, or with the poll held off, as
// it calls XDPRedirect.
type zcPool struct {
	u          *UMEM
	pool       *skb.Pool
	frames     []*skb.Buffer // by frame index
	needWakeup bool
}

var _ xdp.FramePool = (*zcPool)(nil)

// newZCPool lays a buffer over every frame of u.
func newZCPool(u *UMEM, needWakeup bool) (*zcPool, error) {
	if u.busAddr == 0 {
		return nil, fmt.Errorf("xsk: zero-copy needs a UMEM in DMA memory (bus address 0): %w", syscall.EOPNOTSUPP)
	}
	n := u.Frames()
	pool, err := skb.NewPool("xsk", int(u.chunkSize), n, func(int) ([]byte, uint64, error) { return u.mem, u.busAddr, nil })
	if err != nil {
		return nil, fmt.Errorf("xsk: zero-copy: %w", err)
	}
	u.held = make([]bool, n)
	z := &zcPool{u: u, pool: pool, frames: make([]*skb.Buffer, n), needWakeup: needWakeup}
	for range n {
		b := pool.Get()
		z.frames[z.index(b.Head())] = b
	}
	return z, nil
}

// index returns the frame a slice of the UMEM lies in.
func (z *zcPool) index(p []byte) int {
	return int(z.offset(p) / z.u.chunkSize)
}

// offset returns the UMEM address of the first byte of p, a slice of it.
func (z *zcPool) offset(p []byte) uint64 {
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p))) - uintptr(unsafe.Pointer(unsafe.SliceData(z.u.mem))))
}

// AllocBatch is xsk_buff_alloc_batch: frames from the free list or the
// fill ring (UMEM.alloc, with its checks and counts), each with its data
// behind both headrooms; the fill ring's consumption is published once.
// With need_wakeup in use, the fill ring's flag is set when it ran dry
// and cleared when it did not (xsk_set_rx_need_wakeup,
// xsk_clear_rx_need_wakeup).
func (z *zcPool) AllocBatch(bufs []*skb.Buffer) int {
	u := z.u
	n := 0
	for ; n < len(bufs); n++ {
		chunk, ok := u.alloc()
		if !ok {
			break
		}
		b := z.frames[chunk/u.chunkSize]
		b.SetData(int(u.headroom)+PacketHeadroom, 0)
		bufs[n] = b
	}
	u.fq.consPublish()
	if z.needWakeup {
		if n < len(bufs) {
			u.fq.flags.Store(RingNeedWakeup)
		} else {
			u.fq.flags.Store(0)
		}
	}
	return n
}

// Free is xsk_buff_free: the frame goes back on the free list.
func (z *zcPool) Free(b *skb.Buffer) {
	z.u.free(uint64(z.index(b.Head())) * z.u.chunkSize)
}

// Owns reports whether b is one of the UMEM's frames.
func (z *zcPool) Owns(b *skb.Buffer) bool { return b.Pool() == z.pool }

// rcvZC is xsk_rcv_zc: the frame stays in its UMEM frame and its
// descriptor goes on the RX ring (visible at XDPFlush); the driver
// forgets the buffer. A full RX ring refuses it, and the driver gives
// the frame back to the pool.
func (s *Socket) rcvZC(b *xdp.Buff) error {
	d := Desc{Addr: s.zc.offset(b.Data()), Len: uint32(b.Len())}
	e, ok := s.rx.prodReserve()
	if !ok {
		s.rxQueueFull.Add(1)
		return syscall.ENOBUFS
	}
	e.store(d)
	s.umem.release(d.Addr &^ (s.umem.chunkSize - 1))
	s.rxT0[(s.rx.cachedProd-1)&s.rx.mask] = b.T0
	s.rxPackets.Add(1)
	s.rxZeroCopy.Add(1)
	b.Keep()
	return nil
}
