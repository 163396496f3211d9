package virtio

import (
	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Transmit sends the Ethernet frame in b (Data() from the destination
// MAC), which needs Headroom() bytes of headroom and DMA storage. It takes
// ownership of b in every case: the buffer is freed when the device has
// sent it, or at once on error. While the ring is full, frames wait in a
// backlog of TxQueueLen (a pfifo qdisc); beyond that, or with the link
// down, they are dropped and counted. Safe for concurrent use, including
// from the softnet goroutine (Deliver).
//
// b.XmitMore is netdev_xmit_more(): the frame is posted but the device
// is not notified, because another frame follows at once; the frame
// without it (or Flush) notifies for the whole batch. A frame without
// it is never held back.
func (d *Net) Transmit(b *skb.Buffer) error {
	if b == nil {
		return nil
	}
	more := b.XmitMore
	b.XmitMore = false
	d.tx.mu.Lock()
	if d.closed.Load() { // under the lock: Close purges the backlog under it
		d.tx.mu.Unlock()
		d.c.txDropped.Add(1)
		b.Free()
		return ErrClosed
	}
	err := d.devQueueXmit(b, more)
	if err != nil && !more {
		// The batch's last frame was dropped: what it would have
		// notified for is still unannounced.
		d.txFlush()
	}
	d.tx.mu.Unlock()
	return err
}

// Flush notifies the device of frames posted with XmitMore when their
// batch ended without a frame that notifies (a datagram that failed
// after others were sent), as virtnet_xdp_xmit kicks on
// XDP_XMIT_FLUSH. With nothing pending it does nothing.
func (d *Net) Flush() {
	d.tx.mu.Lock()
	if !d.closed.Load() {
		d.txFlush()
	}
	d.tx.mu.Unlock()
}

// txFlush kicks if descriptors were added since the last kick. tx.mu
// held.
//
// +checklocks:d.tx.mu
func (d *Net) txFlush() {
	if d.tx.vq.numAdded != 0 && d.tx.stopped&stopDetach == 0 {
		d.txKick()
	}
}

// txKick is start_xmit's kick: virtqueue_kick_prepare, then
// virtqueue_notify when the device asked for it. tx.mu held.
//
// +checklocks:d.tx.mu
func (d *Net) txKick() {
	q := &d.tx
	if q.vq.virtqueueKickPrepare() && q.vq.virtqueueNotify() {
		q.kicks++
	}
}

// devQueueXmit is __dev_xmit_skb over a pfifo qdisc: send directly when
// the qdisc is empty and the queue running (TCQ_F_CAN_BYPASS), else
// enqueue (or drop at txqueuelen) and run the qdisc. more is xmit_more:
// defer the kick to a later frame. tx.mu held.
//
// +checklocks:d.tx.mu
func (d *Net) devQueueXmit(b *skb.Buffer, more bool) error {
	q := &d.tx
	if q.stopped&stopLink != 0 {
		// The carrier is off: Linux has swapped in the noop qdisc.
		q.linkDrops++
		b.Free()
		return ErrLinkDown
	}
	if q.stopped == 0 && q.backlog.Empty() {
		return d.startXmit(b, more)
	}
	if q.backlog.Len() >= d.cfg.TxQueueLen {
		q.backlogDrops++
		b.Free()
		return ErrTxQueueFull
	}
	q.backlog.PushBack(b)
	d.qdiscRun()
	return nil
}

// qdiscRun is __qdisc_run: hand queued frames to the driver while the
// queue runs. tx.mu held.
//
// +checklocks:d.tx.mu
func (d *Net) qdiscRun() {
	q := &d.tx
	for q.stopped == 0 {
		b := q.backlog.PopFront()
		if b == nil {
			return
		}
		_ = d.startXmit(b, !q.backlog.Empty())
	}
}

// startXmit is start_xmit: reclaim completions, post the frame, stop the
// queue if the ring is now full, and kick unless more frames follow.
// With napi_tx the transmit interrupt is re-armed (delayed) around the
// reclaim; without it, it stays off. tx.mu held.
//
// +checklocks:d.tx.mu
func (d *Net) startXmit(b *skb.Buffer, more bool) error {
	q := &d.tx
	vq := q.vq
	kick := !more
	for {
		if q.napi != nil {
			vq.virtqueueDisableCb()
		}
		d.freeOldXmit()
		if q.napi == nil || !kick || vq.virtqueueEnableCbDelayed() {
			break
		}
	}
	if err := d.xmitSkb(b); err != nil {
		d.c.txFifoErrors.Add(1)
		d.c.txDropped.Add(1)
		b.Free()
		return err
	}
	d.checkSqFullAndDisable()
	if q.napi == nil && !d.cleanupArmed.Load() {
		d.cleanupArmed.Store(true)
		d.cleanupTimer.Reset(d.cfg.TxCleanup)
	}
	q.xmit++
	if kick || q.stopped&stopXoff != 0 {
		d.txKick()
	} else {
		q.xmitMore++
	}
	return nil
}

// xmitSkb is xmit_skb: a zeroed virtio_net_hdr_v1 (no offloads) in the
// headroom, header and frame posted as one descriptor.
func (d *Net) xmitSkb(b *skb.Buffer) error {
	if b.Addr() == 0 {
		return ErrNotDMA
	}
	h := b.Push(d.hdrLen)
	if h == nil {
		return ErrNoHeadroom
	}
	clear(h)
	addr, length := b.DataAddr(), uint32(b.Len())
	b.Pull(d.hdrLen) // keep the header out of the byte counts
	return d.tx.vq.virtqueueAddSplit(addr, length, false, b)
}

// checkSqFullAndDisable is check_sq_full_and_disable: stop the queue when
// no descriptor is left, and ask for an interrupt once three quarters of
// the ring is sent, so that the TX NAPI (napi_tx) or skb_xmit_done wakes
// it. Without napi_tx, if completions arrived meanwhile, reclaim them and
// restart at once with the interrupt off again.
//
// +checklocks:d.tx.mu
func (d *Net) checkSqFullAndDisable() {
	q := &d.tx
	if q.vq.numFree >= txStopThreshold {
		return
	}
	q.stopped |= stopXoff
	q.stops++
	if q.vq.virtqueueEnableCbDelayed() {
		return
	}
	if q.napi != nil {
		virtqueueNapiSchedule(q.napi, q.vq, 0)
		return
	}
	d.freeOldXmit()
	if q.vq.numFree >= txStopThreshold {
		q.stopped &^= stopXoff
		q.wakes++
		q.vq.virtqueueDisableCb()
	}
}

// freeOldXmit is free_old_xmit_skbs: free every frame the device has sent.
// tx.mu held.
//
// +checklocks:d.tx.mu
func (d *Net) freeOldXmit() {
	q := &d.tx
	var packets, bytes uint64
	for {
		b, _, _ := q.vq.virtqueueGetBufCtxSplit()
		if b == nil {
			break
		}
		packets++
		bytes += uint64(b.Len())
		b.Free()
	}
	q.packets += packets
	q.bytes += bytes
	q.vq.publishInFlight()
}

// txCleanup is the transmit cleanup timer (napi_tx=0): reclaim what the
// device has sent, wake a stopped queue, and look again later while frames
// are still in flight.
func (d *Net) txCleanup() {
	q := &d.tx
	q.mu.Lock()
	d.cleanupArmed.Store(false)
	if d.closed.Load() || q.stopped&stopDetach != 0 {
		q.mu.Unlock()
		return
	}
	d.freeOldXmit()
	if q.stopped&stopXoff != 0 && q.vq.numFree >= txStopThreshold {
		d.netifTxWakeQueue()
	}
	if q.vq.numFree < int(q.vq.num) {
		d.cleanupArmed.Store(true)
		d.cleanupTimer.Reset(d.cfg.TxCleanup)
	}
	q.mu.Unlock()
}

// netifTxWakeQueue is netif_tx_wake_queue for a full ring that has room
// again: restart the queue and run the qdisc. tx.mu held.
//
// +checklocks:d.tx.mu
func (d *Net) netifTxWakeQueue() {
	q := &d.tx
	if q.stopped&stopXoff == 0 {
		return
	}
	q.stopped &^= stopXoff
	q.wakes++
	d.qdiscRun()
}

// virtnetPollCleantx is virtnet_poll_cleantx: from the receive poll, if
// the transmit lock is free, reclaim completions and wake the queue.
// Linux does this only with napi_tx; kaidoku also does it without, with
// the transmit interrupt left off, so that completed frames go back to
// the pool whenever traffic flows either way.
//
// checklocks does not model TryLock; the lock is released on the one
// path that took it.
// +checklocksignore
func (d *Net) virtnetPollCleantx() {
	q := &d.tx
	if !q.mu.TryLock() {
		return
	}
	if q.stopped&stopDetach == 0 {
		for {
			if q.napi != nil {
				q.vq.virtqueueDisableCb()
			}
			d.freeOldXmit()
			if q.napi == nil || q.vq.virtqueueEnableCbDelayed() {
				break
			}
		}
		if q.vq.numFree >= txStopThreshold {
			d.netifTxWakeQueue()
		}
	}
	q.mu.Unlock()
}

// virtnetPollTx is virtnet_poll_tx, the transmit NAPI's poll function:
// reclaim, wake the queue, re-arm the interrupt and complete.
func (d *Net) virtnetPollTx(n *napi.NAPI, budget int) int {
	q := &d.tx
	vq := q.vq
	q.mu.Lock()
	vq.virtqueueDisableCb()
	d.freeOldXmit()
	if vq.numFree >= txStopThreshold {
		d.netifTxWakeQueue()
	}
	opaque := vq.virtqueueEnableCbPrepare()
	done := n.CompleteDone(0)
	if !done {
		vq.virtqueueDisableCb()
	}
	q.mu.Unlock()
	if done && vq.virtqueuePoll(opaque) && n.SchedulePrep(0) {
		q.mu.Lock()
		vq.virtqueueDisableCb()
		q.mu.Unlock()
		n.SchedulePrepared()
	}
	return 0
}

// skbXmitDone is skb_xmit_done, the transmit queue's interrupt callback:
// interrupts off, then the TX NAPI (napi_tx) or, without it,
// netif_wake_subqueue: the ring had filled and has room again, so reclaim
// and run the qdisc.
func (d *Net) skbXmitDone(t0 int64) {
	q := &d.tx
	q.calls.Add(1)
	if q.napi != nil {
		q.vq.virtqueueDisableCb()
		virtqueueNapiSchedule(q.napi, q.vq, t0)
		return
	}
	// vm_interrupt runs every queue's callback when it has used
	// entries; only a stopped queue needs anything done.
	q.mu.Lock()
	q.vq.virtqueueDisableCb()
	if q.stopped&stopXoff != 0 && q.stopped&stopDetach == 0 {
		d.freeOldXmit()
		if q.vq.numFree >= txStopThreshold {
			d.netifTxWakeQueue()
		}
	}
	q.mu.Unlock()
}
