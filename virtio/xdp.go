package virtio

import (
	"errors"
	"runtime"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/xdp"
)

// xdpHeadroom is VIRTIO_XDP_HEADROOM: the room left in front of a
// received frame while a program is attached.
const xdpHeadroom = 256

// xdpProg is an attached program (rq->xdp_prog).
type xdpProg struct{ run xdp.Program }

// SetXDP attaches prog to the receive queue, replacing the program
// attached before, which it returns; nil detaches (virtnet_xdp_set). It
// is safe while frames flow. Each poll reads the program once, when it
// starts, as Linux's receive path reads rq->xdp_prog under
// rcu_read_lock, so a poll already running when SetXDP is called
// finishes its frames with the old program; SetXDP waits for that poll
// to end (synchronize_net), so that once it returns the old program runs
// no more and may be discarded. It must not be called from a program or
// from the softnet goroutine's callbacks (Deliver): it would wait for
// itself.
//
// While a program is attached, buffers are posted behind 256 bytes of
// headroom (VIRTIO_XDP_HEADROOM) for the program to grow the frame's
// head into. Buffers posted before keep what they had, the virtio-net
// header's 12 bytes, until they are used: Linux copies such a frame into
// a page with the headroom (xdp_linearize_page); kaidoku runs the
// program with the smaller headroom.
func (d *Net) SetXDP(prog xdp.Program) xdp.Program {
	var p *xdpProg
	hr := 0
	if prog != nil {
		p = &xdpProg{run: prog}
		// Buffers posted from now on leave XDP headroom, if the
		// buffers are large enough to keep a full frame behind it.
		if d.cfg.RxPool.Size() >= xdpHeadroom+NetHdrLen+goodPacketLen {
			hr = xdpHeadroom
		}
	}
	d.rx.xdpHeadroom.Store(int32(hr))
	old := d.rx.xdp.Swap(p)
	d.synchronizeXDP()
	if old == nil {
		return nil
	}
	return old.run
}

// XDP returns the attached program, or nil.
func (d *Net) XDP() xdp.Program {
	if p := d.rx.xdp.Load(); p != nil {
		return p.run
	}
	return nil
}

// synchronizeXDP is synchronize_net for the receive poll: wait until a
// poll running now (pollSeq odd) has ended. Polls of one NAPI never
// overlap, so a change of pollSeq means the poll seen has returned.
func (d *Net) synchronizeXDP() {
	seq := d.rx.pollSeq.Load()
	if seq&1 == 0 {
		return
	}
	for spins := 0; d.rx.pollSeq.Load() == seq; spins++ {
		if spins < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(10 * time.Microsecond)
		}
	}
}

// xdpRun is virtnet_xdp_handler with the verdict handling of
// receive_small_xdp, receive_mergeable_xdp and receive_xsk: run the
// program on the frame in b and return the buffer for the stack
// (XDP_PASS, its data moved as the program moved the frame's head and
// tail) and how far the head moved, or nil when the frame was consumed:
// queued for XDP_TX, handed to a redirect target, or dropped. Every drop
// counts xdp_drops and the queue's drops; XDP_ABORTED, an unknown action
// and a failed redirect also count an exception (trace_xdp_exception).
//
// zc is the zero-copy pool when b is one of its UMEM frames: a redirect
// target that owns the pool keeps the frame where it is, and a frame
// for the stack or XDP_TX is copied out and the UMEM frame given back
// (xsk_construct_skb, xdp_convert_zc_to_xdp_frame).
//
// A frame the device spread over several buffers is seen as the one
// buffer receiveMergeable assembled it into, which has no headroom: the
// program cannot grow its head, and XDP_TX of it is counted in
// xdp_tx_drops (Linux would run it as a multi-buffer xdp_buff).
func (d *Net) xdpRun(prog *xdpProg, zc xdp.FramePool, b *skb.Buffer, st *rqStats, t0 int64) (*skb.Buffer, int) {
	x := &d.rx.xbuff
	off := b.DataOffset()
	x.Init(b.Head(), off, off+b.Len())
	x.RxQueue = 0
	x.Ifindex = d.cfg.Ifindex
	x.T0 = t0
	x.Pool = zc
	act := prog.run(x)
	st.xdpPackets++
	moved := x.Offset() - off
	switch act {
	case xdp.Pass:
		b.SetData(x.Offset(), x.Len())
		if zc != nil {
			b = d.xskConstructSkb(zc, b, st)
		}
		return b, moved
	case xdp.TX:
		st.xdpTx++
		b.SetData(x.Offset(), x.Len())
		if zc != nil {
			if b = d.xskConstructSkb(zc, b, st); b == nil {
				return nil, 0
			}
		}
		d.rx.xdpTxQ.PushBack(b)
		return nil, 0
	case xdp.Redirect:
		st.xdpRedirects++
		t := x.Target()
		if err := x.DoRedirect(); err != nil {
			d.c.xdpExceptions.Add(1)
			break
		}
		d.xdpFlushAdd(t)
		if zc == nil || !x.Kept() {
			// The target copied the frame: the buffer is done.
			d.rxFree(b)
		}
		return nil, 0
	case xdp.Drop:
	default: // XDP_ABORTED and unknown actions
		d.c.xdpExceptions.Add(1)
	}
	st.xdpDrops++
	st.drops++
	d.rxFree(b)
	return nil, 0
}

// xdpFlushAdd remembers a target to flush at the end of the poll (the
// flush list of xdp_do_redirect).
func (d *Net) xdpFlushAdd(t xdp.Target) {
	for _, u := range d.rx.xdpFlush {
		if u == t {
			return
		}
	}
	d.rx.xdpFlush = append(d.rx.xdpFlush, t)
}

// xdpDoFlush is xdp_do_flush: tell every target of this poll's
// redirects that its frames are in.
func (d *Net) xdpDoFlush() {
	for i, t := range d.rx.xdpFlush {
		t.XDPFlush()
		d.rx.xdpFlush[i] = nil
	}
	d.rx.xdpFlush = d.rx.xdpFlush[:0]
}

// virtnetXDPXmit is virtnet_xdp_xmit for the frames the poll's program
// returned XDP_TX on, then the kick virtnet_poll gives them: reclaim
// what the device has sent, post each frame on the transmit ring
// directly (XDP frames bypass the qdisc), counting those that find no
// descriptor or lack the headroom for the virtio-net header as
// xdp_tx_drops, and notify the device once for all of them. The queue
// is the stack's too (Linux shares a queue pair the same way when it has
// none to spare for XDP), so it is stopped as start_xmit would stop it
// when the ring is full.
func (d *Net) virtnetXDPXmit() {
	q := &d.tx
	txq := &d.rx.xdpTxQ
	q.mu.Lock()
	n := uint64(txq.Len())
	var sent uint64
	if q.stopped&stopDetach == 0 {
		d.freeOldXmit()
		for b := txq.PopFront(); b != nil; b = txq.PopFront() {
			if q.vq.numFree == 0 || d.xmitSkb(b) != nil {
				b.Free()
				continue
			}
			sent++
		}
	}
	txq.Purge() // the device is detached for a reset
	q.xdpTx += n
	q.xdpTxDrops += n - sent
	if sent > 0 {
		d.checkSqFullAndDisable()
		if q.vq.virtqueueKickPrepare() && q.vq.virtqueueNotify() {
			q.kicks++
		}
		if q.napi == nil && !d.cleanupArmed.Load() {
			d.cleanupArmed.Store(true)
			d.cleanupTimer.Reset(d.cfg.TxCleanup)
		}
	}
	q.mu.Unlock()
}

// ErrXSKBound is SetXSKPool's answer while another socket's pool is
// bound to the queue (EBUSY in Linux's xp_assign_dev).
var ErrXSKBound = errors.New("virtio: an AF_XDP pool is already bound to the receive queue")

// SetXSKPool binds the frames of an AF_XDP socket to the receive queue in
// zero-copy mode, or with nil unbinds them (ndo_bpf XDP_SETUP_XSK_POOL:
// virtnet_xsk_pool_enable and virtnet_xsk_pool_disable, Linux 6.10).
// While a pool is bound, the receive ring is filled from its fill ring
// instead of RxPool: the device writes frames into the UMEM, a frame the
// XDP program redirects to the socket stays there, and any other frame
// (XDP_PASS, XDP_TX, or every frame when no program is attached) is
// copied into an RxPool buffer and its UMEM frame goes back to the pool.
// Frames the socket sends are still copied (its TX ring is served by
// xsk's Kick).
//
// Binding and unbinding reset the device, as Linux resets the queue
// (virtqueue_reset), so that the buffers posted before go back where
// they came from and the UMEM is no longer written once SetXSKPool(nil)
// returns; frames in flight on the transmit ring at that moment are
// lost. It must not be called from the softnet goroutine or from a
// callback of this device.
func (d *Net) SetXSKPool(p xdp.FramePool) error {
	d.ctlMu.Lock()
	if d.closed.Load() {
		d.ctlMu.Unlock()
		return ErrClosed
	}
	if p != nil && d.rx.xsk != nil {
		d.ctlMu.Unlock()
		return ErrXSKBound
	}
	if p == nil && d.rx.xsk == nil {
		d.ctlMu.Unlock()
		return nil
	}
	wasUp, up, err := d.resetLocked(func() {
		d.rx.xsk = p
		d.rx.xskBufs = nil
		if p != nil {
			d.rx.xskBufs = make([]*skb.Buffer, d.rx.vq.num)
		}
	})
	d.ctlMu.Unlock()
	if err == nil && up != wasUp && d.cfg.OnLink != nil {
		d.cfg.OnLink(up)
	}
	return err
}

// XSKWakeup is ndo_xsk_wakeup (virtnet_xsk_wakeup): an AF_XDP socket in
// zero-copy mode whose fill ring asked for a wakeup has given it frames,
// so the receive poll runs to post them.
func (d *Net) XSKWakeup() {
	if d.closed.Load() {
		return
	}
	virtqueueNapiSchedule(d.rx.napi, d.rx.vq, 0)
}
