package virtio

import (
	"encoding/binary"

	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/xdp"
)

// netHdr is a parsed virtio_net_hdr_v1.
type netHdr struct {
	flags, gsoType        uint8
	csumStart, csumOffset uint16
	numBuffers            uint16
}

func parseNetHdr(b []byte) netHdr {
	return netHdr{
		flags:      b[0],
		gsoType:    b[1],
		csumStart:  binary.LittleEndian.Uint16(b[6:]),
		csumOffset: binary.LittleEndian.Uint16(b[8:]),
		numBuffers: binary.LittleEndian.Uint16(b[10:]),
	}
}

// rqStats is virtnet_rq_stats: one poll's counts, added to the queue's
// once at the end.
type rqStats struct {
	bytes, drops                              uint64
	xdpPackets, xdpTx, xdpRedirects, xdpDrops uint64
}

// virtnetPoll is virtnet_poll, the receive NAPI's poll function: reclaim
// transmit completions, receive up to budget frames, flush what the XDP
// program redirected (xdp_do_flush, which wakes AF_XDP readers), complete
// NAPI (re-arming the interrupt) if the ring ran dry first, and transmit
// the program's XDP_TX frames with one notification, in Linux's order.
func (d *Net) virtnetPoll(n *napi.NAPI, budget int) int {
	d.rx.pollSeq.Add(1) // odd: a poll runs (for SetXDP)
	defer d.rx.pollSeq.Add(1)
	d.virtnetPollCleantx()
	received := d.virtnetReceive(n, budget)
	if len(d.rx.xdpFlush) != 0 {
		d.xdpDoFlush()
	}
	if received < budget {
		d.virtqueueNapiComplete(n, d.rx.vq, received)
	}
	if !d.rx.xdpTxQ.Empty() {
		d.virtnetXDPXmit()
	}
	return received
}

// virtqueueNapiComplete is virtqueue_napi_complete: re-enable callbacks,
// complete NAPI, and close the race with an entry that arrived in
// between by scheduling again.
func (d *Net) virtqueueNapiComplete(n *napi.NAPI, vq *virtqueue, processed int) bool {
	opaque := vq.virtqueueEnableCbPrepare()
	if n.CompleteDone(processed) {
		if vq.virtqueuePoll(opaque) {
			virtqueueNapiSchedule(n, vq, 0)
			return false
		}
		return true
	}
	vq.virtqueueDisableCb()
	return false
}

// virtnetReceive is virtnet_receive: take used buffers until budget, then
// refill the ring if more than half of min(budget, size) slots are free.
func (d *Net) virtnetReceive(n *napi.NAPI, budget int) int {
	rq := &d.rx
	vq := rq.vq
	var st rqStats
	t0, t1 := n.T0(), n.T1()
	if d.cfg.NoTrace {
		t0, t1 = 0, 0
	}
	prog := rq.xdp.Load()
	packets := 0
	for packets < budget {
		b, length, posted := vq.virtqueueGetBufCtxSplit()
		if b == nil {
			break
		}
		d.receiveBuf(prog, b, length, posted, &st, t0, t1)
		packets++
	}
	if vq.numFree > min(budget, int(vq.num))/2 {
		if !d.tryFillRecv() {
			d.scheduleRefill(0)
		}
	}
	vq.publishInFlight()
	rq.packets.Add(uint64(packets))
	rq.bytes.Add(st.bytes)
	if st.drops != 0 {
		rq.drops.Add(st.drops)
	}
	if st.xdpPackets != 0 {
		rq.xdpPackets.Add(st.xdpPackets)
		rq.xdpTx.Add(st.xdpTx)
		rq.xdpRedirects.Add(st.xdpRedirects)
		rq.xdpDrops.Add(st.xdpDrops)
	}
	return packets
}

// receiveBuf is receive_buf: validate one frame, build its buffer, run
// the XDP program if one is attached, set the checksum state from the
// header and hand it up. A frame in a UMEM frame of a zero-copy AF_XDP
// socket (receive_xsk) reaches the stack only as a copy.
func (d *Net) receiveBuf(prog *xdpProg, b *skb.Buffer, length, posted uint32, st *rqStats, t0, t1 int64) {
	zc := d.rx.xsk
	if zc != nil && !zc.Owns(b) {
		zc = nil // posted before the pool was bound
	}
	hdrLen := uint32(d.hdrLen)
	if length < hdrLen+ethHlen {
		d.c.rxLengthErrors.Add(1)
		d.rxFree(b)
		return
	}
	hdr := parseNetHdr(b.Head()[b.DataOffset():])
	switch {
	case zc != nil:
		b = d.receiveXSK(zc, b, length, posted, hdr.numBuffers, st)
	case d.mergeable:
		b = d.receiveMergeable(b, length, posted, hdr.numBuffers, st)
	default:
		b = d.receiveSmall(b, length, posted, st)
	}
	if b == nil {
		return
	}
	if prog != nil {
		// receive_small_xdp and receive_mergeable_xdp refuse a GSO frame
		// before the program sees it.
		if hdr.gsoType != NetHdrGSONone {
			st.xdpDrops++
			st.drops++
			d.rxFree(b)
			return
		}
		// Linux turns the guest checksum offloads off while a program is
		// attached (virtnet_clear_guest_offloads), since a program may
		// rewrite what the device validated: the stack checks in software.
		hdr.flags &^= NetHdrFDataValid
		var moved int
		if b, moved = d.xdpRun(prog, zc, b, st, t0); b == nil {
			return
		}
		// A partial checksum's start follows the frame's head.
		start := int(hdr.csumStart) - moved
		if hdr.flags&NetHdrFNeedsCsum != 0 && (start < 0 || start > 0xffff) {
			d.c.rxFrameErrors.Add(1)
			b.Free()
			return
		}
		hdr.csumStart = uint16(start)
	} else if zc != nil {
		if b = d.xskConstructSkb(zc, b, st); b == nil {
			return
		}
	}
	if hdr.flags&NetHdrFDataValid != 0 {
		b.IPSummed = skb.ChecksumUnnecessary
	}
	// virtio_net_hdr_to_skb. No GSO feature was negotiated, so any GSO
	// type is an inconsistent header.
	if hdr.gsoType&^NetHdrGSOECN != NetHdrGSONone {
		d.c.rxFrameErrors.Add(1)
		b.Free()
		return
	}
	if hdr.flags&NetHdrFNeedsCsum != 0 {
		// skb_partial_csum_set: the checksum field must lie in the frame.
		if int(hdr.csumStart)+int(hdr.csumOffset)+2 > b.Len() {
			d.c.rxFrameErrors.Add(1)
			b.Free()
			return
		}
		b.IPSummed = skb.ChecksumPartial
	}
	b.Ifindex = d.cfg.Ifindex
	b.Trace.T0, b.Trace.T1 = t0, t1
	d.cfg.Deliver(b)
}

// rxFree frees a buffer taken off the receive ring: back to the
// zero-copy pool if it is one of its frames (xsk_buff_free), to its own
// pool otherwise.
func (d *Net) rxFree(b *skb.Buffer) {
	if p := d.rx.xsk; p != nil && p.Owns(b) {
		p.Free(b)
		return
	}
	b.Free()
}

// receiveXSK is the length handling of receive_xsk (virtio-net's
// zero-copy AF_XDP receive, Linux 6.10): a frame in one UMEM frame. A
// frame the device spread over several buffers is dropped with the rest
// of its buffers, as virtio-net does without multi-buffer AF_XDP
// (xsk_drop_follow_bufs); a UMEM frame's 1,792 bytes and more hold any
// frame of the 1,500-byte MTU.
func (d *Net) receiveXSK(p xdp.FramePool, b *skb.Buffer, length, posted uint32, numBuf uint16, st *rqStats) *skb.Buffer {
	st.bytes += uint64(length) - uint64(d.hdrLen)
	d.rx.xskPackets.Add(1)
	if length > posted {
		d.usedLenFault(length, posted)
	}
	if length > posted || (d.mergeable && numBuf != 1) {
		d.c.rxLengthErrors.Add(1)
		st.drops++
		p.Free(b)
		if d.mergeable && numBuf > 1 {
			d.mergeableBufFree(int(numBuf), st)
		}
		return nil
	}
	b.SetLen(int(length))
	b.Pull(d.hdrLen)
	return b
}

// xskConstructSkb is xsk_construct_skb: the frame in a UMEM frame copied
// into a receive buffer of the stack's, behind room for a virtio-net
// header (for XDP_TX, as xdp_convert_zc_to_xdp_frame leaves headroom),
// and the UMEM frame given back to the pool. No buffer left drops the
// frame.
func (d *Net) xskConstructSkb(p xdp.FramePool, b *skb.Buffer, st *rqStats) *skb.Buffer {
	d.rx.xskCopies.Add(1)
	nb := d.cfg.RxPool.Get()
	if nb != nil {
		nb.Reserve(d.hdrLen)
		if dst := nb.Put(b.Len()); dst != nil {
			copy(dst, b.Data())
		} else {
			nb.Free()
			nb = nil
		}
	}
	p.Free(b)
	if nb == nil {
		st.drops++
		return nil
	}
	nb.Truesize = smallTruesize
	return nb
}

// receiveSmall is receive_small, for a device without MRG_RXBUF: one
// buffer per frame, at most GOOD_PACKET_LEN bytes.
func (d *Net) receiveSmall(b *skb.Buffer, length, posted uint32, st *rqStats) *skb.Buffer {
	frame := length - uint32(d.hdrLen)
	st.bytes += uint64(frame)
	if length > posted {
		d.usedLenFault(length, posted)
	}
	if frame > goodPacketLen || length > posted {
		d.c.rxLengthErrors.Add(1)
		st.drops++
		b.Free()
		return nil
	}
	b.SetLen(int(length))
	b.Pull(d.hdrLen)
	b.Truesize = smallTruesize
	return b
}

// receiveMergeable is receive_mergeable: a frame of num_buffers buffers.
// One buffer is handed up as it is; more are copied into a LargePool
// buffer (Linux would chain them as fragments) or the frame is dropped.
// A buffer whose used length exceeds it, or a chain that ends early,
// drops the frame (rx_length_errors, drops). Either way the frame is
// charged the truesize Linux's skb would have (pageToSkbTruesize plus
// each further buffer's posted size, as virtnet_skb_append_frag adds
// it), and its length feeds the EWMA that sizes the next buffers.
func (d *Net) receiveMergeable(b *skb.Buffer, length, posted uint32, numBuf uint16, st *rqStats) *skb.Buffer {
	st.bytes += uint64(length) - uint64(d.hdrLen)
	if length > posted {
		d.usedLenFault(length, posted)
		d.c.rxLengthErrors.Add(1)
		d.mergeableBufFree(int(numBuf), st)
		st.drops++
		b.Free()
		return nil
	}
	b.SetLen(int(length))
	b.Pull(d.hdrLen)
	truesize := pageToSkbTruesize(b.Len(), int(posted))
	if numBuf == 1 {
		b.Truesize = truesize
		d.rx.avgPktLen.add(uint64(b.Len()))
		return b
	}
	if numBuf == 0 {
		// Not a valid header; Linux would consume the whole used ring.
		d.c.rxLengthErrors.Add(1)
		st.drops++
		b.Free()
		return nil
	}
	var large *skb.Buffer
	ok := false
	if d.cfg.LargePool != nil {
		// Each further buffer holds at most a receive buffer's bytes.
		need := min(int(numBuf)*d.cfg.RxPool.Size(), d.cfg.LargePool.Size())
		if large = d.cfg.LargePool.GetSize(need); large != nil {
			if dst := large.Put(b.Len()); dst != nil {
				copy(dst, b.Data())
				ok = true
			} else {
				d.c.rxLengthErrors.Add(1) // frame larger than LargePool buffers
			}
		}
	} else {
		d.c.rxLengthErrors.Add(1) // nowhere to put a multi-buffer frame
	}
	b.Free()
	for i := 1; i < int(numBuf); i++ {
		nb, nlen, nposted := d.rx.vq.virtqueueGetBufCtxSplit()
		if nb == nil {
			d.c.rxLengthErrors.Add(1) // buffers missing
			return d.dropLarge(large, st)
		}
		st.bytes += uint64(nlen)
		truesize += int(nposted)
		if nlen > nposted {
			d.usedLenFault(nlen, nposted)
			d.c.rxLengthErrors.Add(1)
			d.rxFree(nb)
			d.mergeableBufFree(int(numBuf)-i, st)
			return d.dropLarge(large, st)
		}
		if ok {
			if dst := large.Put(int(nlen)); dst != nil {
				copy(dst, nb.Head()[nb.DataOffset():][:nlen])
			} else {
				ok = false
				d.c.rxLengthErrors.Add(1) // frame larger than LargePool buffers
			}
		}
		d.rxFree(nb)
	}
	if !ok {
		return d.dropLarge(large, st)
	}
	large.Truesize = truesize
	d.rx.avgPktLen.add(uint64(large.Len()))
	return large
}

func (d *Net) dropLarge(large *skb.Buffer, st *rqStats) *skb.Buffer {
	st.drops++
	if large != nil {
		large.Free()
	}
	return nil
}

// mergeableBufFree is mergeable_buf_free: consume and free the rest of a
// dropped frame's buffers (numBuf-1 of them).
func (d *Net) mergeableBufFree(numBuf int, st *rqStats) {
	for ; numBuf > 1; numBuf-- {
		b, length, _ := d.rx.vq.virtqueueGetBufCtxSplit()
		if b == nil {
			d.c.rxLengthErrors.Add(1)
			return
		}
		st.bytes += uint64(length)
		d.rxFree(b)
	}
}

func (d *Net) usedLenFault(length, posted uint32) {
	d.fault(&Fault{Kind: FaultUsedLen, Queue: "rx", Len: length, Posted: posted})
}

// tryFillRecv is try_fill_recv with add_recvbuf_mergeable: post pool
// buffers until the ring is full or the pool is empty, then kick if the
// device asked to be told. It returns false if the pool ran dry. While
// an XDP program is attached each buffer is posted behind
// VIRTIO_XDP_HEADROOM bytes (virtnet_get_headroom), room for the
// program to grow the frame's head.
func (d *Net) tryFillRecv() bool {
	if p := d.rx.xsk; p != nil {
		return d.addRecvbufXSK(p)
	}
	vq := d.rx.vq
	pool := d.cfg.RxPool
	hr := int(d.rx.xdpHeadroom.Load())
	oom := false
	for vq.numFree > 0 {
		b := pool.Get()
		if b == nil {
			oom = true
			break
		}
		b.Reserve(hr)
		length := len(b.Head()) - hr
		if d.mergeable {
			length = d.addRecvbufMergeable(length)
		}
		if err := vq.virtqueueAddSplit(b.DataAddr(), uint32(length), true, b); err != nil {
			b.Free()
			break
		}
	}
	if vq.virtqueueKickPrepare() && vq.virtqueueNotify() {
		d.rx.kicks.Add(1)
	}
	vq.publishInFlight()
	return !oom
}

// addRecvbufXSK is virtnet_add_recvbuf_xsk, try_fill_recv's zero-copy
// branch: post as many UMEM frames as the ring has room for, each at its
// data address less the virtio-net header, so that the header lands in
// the XDP headroom and the frame where the socket expects it; then kick
// if the device asked to be told. It returns false when the fill ring
// gave nothing to a ring with room (the -ENOMEM of Linux).
func (d *Net) addRecvbufXSK(p xdp.FramePool) bool {
	vq := d.rx.vq
	want := min(vq.numFree, len(d.rx.xskBufs))
	if want == 0 {
		return true
	}
	bufs := d.rx.xskBufs[:want]
	n := p.AllocBatch(bufs)
	for i, b := range bufs[:n] {
		off := b.DataOffset() - d.hdrLen
		if off < 0 || !b.SetData(off, 0) ||
			vq.virtqueueAddSplit(b.DataAddr(), uint32(len(b.Head())-off), true, b) != nil {
			for _, r := range bufs[i:n] {
				p.Free(r)
			}
			break
		}
	}
	clear(bufs)
	if vq.virtqueueKickPrepare() && vq.virtqueueNotify() {
		d.rx.kicks.Add(1)
	}
	vq.publishInFlight()
	return n > 0
}
