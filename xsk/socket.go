package xsk

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/xdp"
)

// txBatchSize is TX_BATCH_SIZE: the descriptors one Kick sends at most.
const txBatchSize = 32

// Link is the device side of a socket's TX ring: the driver's Transmit
// (which owns the buffer from then on) and the headroom it needs.
type Link interface {
	Transmit(b *skb.Buffer) error
	Headroom() int
}

// Config describes a socket (the ring sizes of XDP_RX_RING and
// XDP_TX_RING and struct sockaddr_xdp's ifindex, queue and flags).
type Config struct {
	// RxSize and TxSize are the rings' sizes, powers of two; 0 means
	// DefaultRingSize. A socket has both rings.
	RxSize, TxSize uint32
	// Ifindex and Queue are what the socket is bound to: only frames the
	// device Ifindex received on queue Queue may be redirected to it.
	// kaidoku's driver has queue 0 only.
	Ifindex, Queue int
	// ZeroCopy is XDP_ZEROCOPY: the device receives into the UMEM's
	// frames directly (see the package doc). It needs a Link that is a
	// ZeroCopyDevice and a UMEM in DMA memory; otherwise New fails with
	// EOPNOTSUPP, as bind does on a driver without zero-copy. Without
	// it the socket is in copy mode (XDP_COPY).
	ZeroCopy bool
	// NeedWakeup is XDP_USE_NEED_WAKEUP: the TX ring's need_wakeup flag
	// says when Kick is needed (always: frames to send are copied), and
	// in zero-copy mode the fill ring's says when the device found it
	// empty and Wait must be called for it to look again.
	NeedWakeup bool
	// Link transmits; TxPool supplies the driver buffers frames to send
	// are copied into. Both required.
	Link   Link
	TxPool *skb.Pool
}

// Stats are XDP_STATISTICS (struct xdp_statistics), plus the fill ring's
// invalid addresses, which Linux counts (pool->fq->invalid_descs) but
// does not report.
type Stats struct {
	RxDropped             uint64 // no fill frame, or a frame larger than a UMEM frame
	RxInvalidDescs        uint64 // the RX ring's (it is the kernel's to produce: always 0, as in Linux)
	TxInvalidDescs        uint64 // TX descriptors outside the UMEM or their frame, or too long to send
	RxRingFull            uint64 // frames dropped because the RX ring was full
	RxFillRingEmptyDescs  uint64 // times a frame was wanted and the fill ring was empty
	TxRingEmptyDescs      uint64 // times Kick found the TX ring empty
	FillInvalidDescs      uint64 // fill ring addresses beyond the UMEM, skipped
	RxPackets, TxPackets  uint64 // frames put on the RX ring and handed to the driver
	RxZeroCopy            uint64 // of RxPackets, those received in place (zero-copy)
	Wakeups, FlushedPolls uint64 // Wait calls woken, polls that flushed frames to the socket
}

// Socket is an AF_XDP socket bound to a device queue.
type Socket struct {
	umem *UMEM
	cfg  Config
	rx   *ring[descSlot]
	tx   *ring[descSlot]
	rxT0 []int64 // per RX entry: the hard-IRQ time of the poll that received it
	// Rx and Tx are the application's ends of the rings.
	Rx RxRing
	Tx TxRing

	// Zero-copy mode: the UMEM's frames as the driver's receive
	// buffers, and the device they are bound to.
	zc  *zcPool
	dev ZeroCopyDevice

	bound    atomic.Bool
	readable chan struct{}
	txMu     sync.Mutex // xs->mutex: one Kick at a time

	rxDropped, rxQueueFull, rxPackets, rxZeroCopy, txPackets, wakeups, flushes atomic.Uint64
}

// Errors of New, Kick and Wait.
var (
	ErrUMEMBound = errors.New("xsk: UMEM already has a socket (shared UMEM is not supported)")
	ErrClosed    = errors.New("xsk: socket closed")
)

// New creates a socket on umem and binds it (socket(AF_XDP), the ring
// options, bind) to cfg.Ifindex's queue cfg.Queue, in copy mode or, with
// cfg.ZeroCopy, in zero-copy mode, which resets the device (see
// virtio.Net.SetXSKPool).
func New(umem *UMEM, cfg Config) (*Socket, error) {
	if cfg.RxSize == 0 {
		cfg.RxSize = DefaultRingSize
	}
	if cfg.TxSize == 0 {
		cfg.TxSize = DefaultRingSize
	}
	switch {
	case umem == nil || cfg.Link == nil || cfg.TxPool == nil:
		return nil, fmt.Errorf("xsk: a UMEM, a Link and a TxPool are required: %w", syscall.EINVAL)
	case !pow2(cfg.RxSize) || !pow2(cfg.TxSize):
		return nil, fmt.Errorf("xsk: ring sizes %d and %d must be powers of two: %w", cfg.RxSize, cfg.TxSize, syscall.EINVAL)
	case cfg.Queue != 0:
		return nil, fmt.Errorf("xsk: queue %d: the device has queue 0 only: %w", cfg.Queue, syscall.EINVAL)
	case umem.bound:
		return nil, ErrUMEMBound
	}
	var dev ZeroCopyDevice
	if cfg.ZeroCopy {
		var ok bool
		if dev, ok = cfg.Link.(ZeroCopyDevice); !ok {
			return nil, fmt.Errorf("xsk: zero-copy: the link %T cannot receive into a UMEM: %w", cfg.Link, syscall.EOPNOTSUPP)
		}
	}
	s := &Socket{umem: umem, cfg: cfg, rx: newRing[descSlot](cfg.RxSize), tx: newRing[descSlot](cfg.TxSize),
		rxT0: make([]int64, cfg.RxSize), readable: make(chan struct{}, 1)}
	s.Rx.c.r = s.rx
	s.Rx.t0 = s.rxT0
	s.Tx.p.r = s.tx
	s.Tx.p.cachedCons = cfg.TxSize
	if cfg.NeedWakeup {
		// Frames to send are copied: TX is driven by the application's
		// Kick only.
		s.tx.flags.Store(RingNeedWakeup)
	}
	if dev != nil {
		zc, err := newZCPool(umem, cfg.NeedWakeup)
		if err != nil {
			return nil, err
		}
		if cfg.NeedWakeup {
			// The device has not looked at the fill ring yet.
			umem.fq.flags.Store(RingNeedWakeup)
		}
		s.zc, s.dev = zc, dev
		s.bound.Store(true)
		if err := dev.SetXSKPool(zc); err != nil {
			s.bound.Store(false)
			return nil, fmt.Errorf("xsk: zero-copy bind: %w", err)
		}
		umem.bound = true
		return s, nil
	}
	umem.bound = true
	s.bound.Store(true)
	return s, nil
}

// ZeroCopy reports whether the socket is bound in zero-copy mode
// (XDP_OPTIONS' XDP_OPTIONS_ZEROCOPY).
func (s *Socket) ZeroCopy() bool { return s.zc != nil }

// UMEM returns the socket's UMEM.
func (s *Socket) UMEM() *UMEM { return s.umem }

// Close unbinds the socket (xsk_release): redirects to it fail from then
// on. Detach the program redirecting to it first (xdp SetXDP waits for
// the poll in flight) before reusing the UMEM's memory. In zero-copy
// mode Close takes the UMEM's frames back from the device, which resets
// it, and reports the device's error if that fails.
func (s *Socket) Close() error {
	if !s.bound.Swap(false) {
		return ErrClosed
	}
	if s.dev != nil {
		if err := s.dev.SetXSKPool(nil); err != nil {
			return fmt.Errorf("xsk: zero-copy unbind: %w", err)
		}
	}
	return nil
}

// Program returns an XDP program that redirects every frame to the
// socket, the default program libxdp loads for a socket.
func (s *Socket) Program() xdp.Program {
	return func(b *xdp.Buff) xdp.Action { return b.RedirectTo(s) }
}

// XDPRedirect is xsk_rcv: check the socket is bound to the frame's
// device and queue; then, for a frame the device wrote into one of the
// socket's own UMEM frames (zero-copy), put its descriptor on the RX
// ring as it is (xsk_rcv_zc), and for any other frame (copy mode, or a
// buffer posted before the zero-copy bind), check it fits a UMEM frame,
// take a frame from the fill ring, copy the frame behind the headrooms
// and put its descriptor on the RX ring (__xsk_rcv). Descriptors become
// visible at XDPFlush. It runs in the driver's NAPI poll.
func (s *Socket) XDPRedirect(b *xdp.Buff) error {
	if !s.bound.Load() {
		return syscall.ENXIO
	}
	if b.Ifindex != s.cfg.Ifindex || b.RxQueue != s.cfg.Queue {
		return syscall.EINVAL
	}
	if s.zc != nil && b.Pool == xdp.FramePool(s.zc) {
		return s.rcvZC(b)
	}
	u := s.umem
	n := b.Len()
	if uint32(n) > u.RxFrameSize() {
		s.rxDropped.Add(1)
		return syscall.ENOSPC
	}
	chunk, ok := u.alloc()
	if !ok {
		s.rxDropped.Add(1)
		return syscall.ENOMEM
	}
	addr := chunk + uint64(u.headroom) + PacketHeadroom
	copy(u.mem[addr:addr+uint64(n)], b.Data())
	e, ok := s.rx.prodReserve()
	if !ok {
		s.rxQueueFull.Add(1)
		u.free(chunk)
		return syscall.ENOBUFS
	}
	e.store(Desc{Addr: addr, Len: uint32(n)})
	u.release(chunk)
	s.rxT0[(s.rx.cachedProd-1)&s.rx.mask] = b.T0
	s.rxPackets.Add(1)
	return nil
}

// XDPFlush is xsk_flush, once per poll that redirected to the socket:
// publish the RX ring and the fill ring's consumption, and wake a Wait.
func (s *Socket) XDPFlush() {
	s.rx.prodSubmit()
	s.umem.fq.consPublish()
	s.flushes.Add(1)
	select {
	case s.readable <- struct{}{}:
	default:
	}
}

// Kick sends what the TX ring holds (sendto(MSG_DONTWAIT), which runs
// xsk_generic_xmit in copy mode): up to 32 descriptors, each validated
// (an invalid one is counted in TxInvalidDescs and skipped), each
// reserving a completion ring slot first, copied into a driver buffer
// and transmitted; its address is then on the completion ring (Linux
// completes it when the driver frees the copy; here the copy is all that
// needed the frame). It returns EAGAIN when the completion ring is full,
// no driver buffer is free or more than 32 descriptors wait (call it
// again), EBUSY if the driver dropped the frame, ENXIO once closed.
func (s *Socket) Kick() error {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	return s.xmit()
}

// xmit is __xsk_generic_xmit. txMu held.
func (s *Socket) xmit() error {
	if !s.bound.Load() {
		return syscall.ENXIO
	}
	u := s.umem
	var err error
	budget := txBatchSize
	for {
		d, ok := s.peekTxDesc()
		if !ok {
			break
		}
		if budget == 0 {
			err = syscall.EAGAIN
			break
		}
		budget--
		e, ok := u.cq.prodReserve()
		if !ok {
			err = syscall.EAGAIN
			break
		}
		e.store(d.Addr)
		b := s.cfg.TxPool.Get()
		if b == nil {
			u.cq.prodCancel(1)
			err = syscall.EAGAIN
			break
		}
		hr := s.cfg.Link.Headroom()
		if hr+int(d.Len) > len(b.Head()) {
			// The frame cannot be sent whole (-EOVERFLOW): dropped.
			b.Free()
			u.cq.prodCancel(1)
			s.tx.invalidDescs.Add(1)
			s.tx.consRelease()
			continue
		}
		b.Reserve(hr)
		copy(b.Put(int(d.Len)), u.mem[d.Addr:d.Addr+uint64(d.Len)])
		s.tx.consRelease()
		if s.cfg.Link.Transmit(b) != nil {
			// NET_XMIT_DROP: consumed, not sent; the frame is the
			// application's again.
			err = syscall.EBUSY
			break
		}
		s.txPackets.Add(1)
	}
	u.cq.prodSubmit()
	s.tx.consPublish()
	return err
}

// peekTxDesc is xskq_cons_peek_desc: the next valid TX descriptor,
// counting and consuming invalid ones, and counting an empty ring. It
// looks at no more than a ring's worth of invalid descriptors per call:
// Linux walks every entry up to the producer index, which an application
// that moved the index 2^32-1 ahead makes four billion.
func (s *Socket) peekTxDesc() (Desc, bool) {
	for i := uint32(0); ; i++ {
		e, ok := s.tx.consPeek()
		if !ok || i > s.tx.mask {
			s.tx.queueEmptyDescs.Add(1)
			return Desc{}, false
		}
		if d := e.load(); s.umem.validTxDesc(d) {
			return d, true
		}
		s.tx.invalidDescs.Add(1)
		s.tx.consRelease()
	}
}

// Wait blocks until the RX ring has a frame, the socket is closed or
// timeout passes (a negative timeout waits for ever), as poll(POLLIN)
// on the socket. First, as xsk_poll does, it wakes the device when the
// fill ring's need_wakeup flag asks for it (zero-copy) and sends what
// the TX ring holds when its flag asks for it. It reports
// whether the RX ring has frames.
func (s *Socket) Wait(timeout time.Duration) (bool, error) {
	if !s.bound.Load() {
		return false, ErrClosed
	}
	if s.dev != nil && s.umem.fq.flags.Load()&RingNeedWakeup != 0 {
		s.dev.XSKWakeup()
	}
	if s.tx.flags.Load()&RingNeedWakeup != 0 && s.tx.producer.Load() != s.tx.consumer.Load() {
		s.txMu.Lock()
		s.xmit()
		s.txMu.Unlock()
	}
	var timer <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	for {
		if s.rx.producer.Load() != s.rx.consumer.Load() {
			return true, nil
		}
		select {
		case <-s.readable:
			s.wakeups.Add(1)
		case <-timer:
			return false, nil
		}
		if !s.bound.Load() {
			return false, ErrClosed
		}
	}
}

// Stats returns XDP_STATISTICS and the socket's own counts.
func (s *Socket) Stats() Stats {
	return Stats{
		RxDropped:            s.rxDropped.Load(),
		RxInvalidDescs:       s.rx.invalidDescs.Load(),
		TxInvalidDescs:       s.tx.invalidDescs.Load(),
		RxRingFull:           s.rxQueueFull.Load(),
		RxFillRingEmptyDescs: s.umem.fq.queueEmptyDescs.Load(),
		TxRingEmptyDescs:     s.tx.queueEmptyDescs.Load(),
		FillInvalidDescs:     s.umem.fq.invalidDescs.Load(),
		RxPackets:            s.rxPackets.Load(),
		RxZeroCopy:           s.rxZeroCopy.Load(),
		TxPackets:            s.txPackets.Load(),
		Wakeups:              s.wakeups.Load(),
		FlushedPolls:         s.flushes.Load(),
	}
}

// RxRing is the application's end of the RX ring: it consumes
// descriptors of received frames.
type RxRing struct {
	c  consRing[descSlot]
	t0 []int64
}

// Peek returns the index of up to n received descriptors
// (xsk_ring_cons__peek).
func (r *RxRing) Peek(n uint32) (idx, got uint32) { return r.c.peek(n) }

// Desc returns descriptor idx (*xsk_ring_cons__rx_desc).
func (r *RxRing) Desc(idx uint32) Desc { return r.c.r.entries[idx&r.c.r.mask].load() }

// T0 returns the hard-IRQ time (the clock of the driver's softnet) of
// the poll that received descriptor idx: interrupt-to-wakeup latency is
// the reader's clock minus it.
func (r *RxRing) T0(idx uint32) int64 { return r.t0[idx&r.c.r.mask] }

// Release gives n descriptors back (xsk_ring_cons__release).
func (r *RxRing) Release(n uint32) { r.c.release(n) }

// Size returns the ring's size.
func (r *RxRing) Size() uint32 { return r.c.r.size() }

// TxRing is the application's end of the TX ring: it produces
// descriptors of frames to send.
type TxRing struct{ p prodRing[descSlot] }

// Reserve reserves n slots (xsk_ring_prod__reserve), or 0 if fewer are
// free.
func (t *TxRing) Reserve(n uint32) (idx, got uint32) { return t.p.reserve(n) }

// SetDesc writes descriptor d into reserved slot idx
// (*xsk_ring_prod__tx_desc = d).
func (t *TxRing) SetDesc(idx uint32, d Desc) { t.p.r.entries[idx&t.p.r.mask].store(d) }

// Submit makes n reserved slots visible (xsk_ring_prod__submit).
func (t *TxRing) Submit(n uint32) { t.p.submit(n) }

// NeedsWakeup reports the need_wakeup flag: Kick to send.
func (t *TxRing) NeedsWakeup() bool { return t.p.r.flags.Load()&RingNeedWakeup != 0 }

// Size returns the ring's size.
func (t *TxRing) Size() uint32 { return t.p.r.size() }
