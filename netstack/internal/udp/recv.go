package udp

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Message flags (include/linux/socket.h).
const (
	MsgPeek     = 0x2
	MsgCtrunc   = 0x8
	MsgTrunc    = 0x20
	MsgDontwait = 0x40
	MsgErrqueue = 0x2000
)

// Poll bits (include/uapi/asm-generic/poll.h).
const (
	PollIn     = 0x1
	PollPri    = 0x2
	PollOut    = 0x4
	PollErr    = 0x8
	PollHup    = 0x10
	PollRdnorm = 0x40
	PollWrnorm = 0x100
	PollWrband = 0x200
	PollRdhup  = 0x2000
)

// Pktinfo is struct in_pktinfo.
type Pktinfo struct {
	Ifindex int
	SpecDst wire.Addr
	Addr    wire.Addr
}

// Msg carries what recvmsg returns besides the data: msg_name,
// msg_flags and the control messages this stack produces, in typed form.
type Msg struct {
	From       wire.Addr
	FromPort   uint16
	Flags      int // msg_flags out
	HasRxqOvfl bool
	RxqOvfl    uint32 // SO_RXQ_OVFL
	HasPktinfo bool
	Pktinfo    Pktinfo // IP_PKTINFO
}

// udpRmemRelease mirrors udp.c: udp_rmem_release. Called with the reader
// queue lock held; rqHeld says whether sk_receive_queue's is too.
func (sk *Sock) udpRmemRelease(size int, partial int, rqHeld bool) {
	if partial != 0 {
		sk.forwardDeficit += size
		size = sk.forwardDeficit
		if size < int(sk.forwardThreshold.Load()) && !sk.reader.q.Empty() {
			return
		}
	} else {
		size += sk.forwardDeficit
	}
	sk.forwardDeficit = 0
	if !rqHeld {
		sk.rq.mu.Lock()
	}
	sk.forwardAlloc += size
	amt := (sk.forwardAlloc - partial) &^ (PageSize - 1)
	sk.forwardAlloc -= amt
	if amt != 0 {
		sk.u.skMemReduceAllocated(int64(amt / PageSize))
	}
	sk.rmemAlloc.Add(int32(-size))
	sk.reader.q.SpliceTailInit(&sk.rq.q)
	if !rqHeld {
		sk.rq.mu.Unlock()
	}
}

// skbTryRecvFromQueue mirrors datagram.c: __skb_try_recv_from_queue on
// the reader queue (lock held). When peeking it returns the buffer still
// queued.
func (sk *Sock) skbTryRecvFromQueue(flags int, off *int) *skb.Buffer {
	q := &sk.reader.q
	if flags&MsgPeek == 0 {
		*off = 0
		return q.PopFront()
	}
	peekAtOff := *off >= 0
	o := 0
	if peekAtOff {
		o = *off
	}
	for b := q.Peek(); b != nil; b = b.Next {
		if peekAtOff && o >= b.Len() && (o != 0 || b.CB.Peeked) {
			o -= b.Len()
			continue
		}
		if b.Len() == 0 {
			b.CB.Peeked = true
		}
		*off = o
		return b
	}
	return nil
}

// skbRecvUdp mirrors udp.c: __skb_recv_udp. It returns a dequeued buffer
// (reader lock released), or, when peeking, a queued buffer with the
// reader lock still held (the caller unlocks: peeked data must not be
// freed under it), or nil and a negative errno (0 after SHUT_RD).
// deadline is absolute on the stack clock; −1 means none; nonblock means
// timeo 0.
func (sk *Sock) skbRecvUdp(flags int, off *int, nonblock bool, deadline int64) (*skb.Buffer, int) {
	peek := flags&MsgPeek != 0
	timeo := !nonblock
	for {
		if e := sk.sockError(); e != 0 {
			return nil, e
		}
		sk.reader.mu.Lock()
		b := sk.skbTryRecvFromQueue(flags, off)
		if b != nil {
			if !peek {
				sk.udpRmemRelease(b.Truesize, 1, false)
				sk.reader.mu.Unlock()
			}
			return b, 0
		}
		sk.rq.mu.Lock()
		if !sk.rq.q.Empty() {
			sk.reader.q.SpliceTailInit(&sk.rq.q)
			b = sk.skbTryRecvFromQueue(flags, off)
			if b != nil && !peek {
				sk.udpRmemRelease(b.Truesize, 1, true)
			}
		}
		sk.rq.mu.Unlock()
		if b != nil {
			if !peek {
				sk.reader.mu.Unlock()
			}
			return b, 0
		}
		sk.reader.mu.Unlock()
		if !timeo {
			return nil, -EAGAIN
		}
		dl, goDL := deadline, false
		if f := sk.ReadDeadline; f != nil {
			if g := f(); g >= 0 && (dl < 0 || g < dl) {
				dl, goDL = g, true
			}
		}
		if dl >= 0 && sk.u.ip.Clock().Now() >= dl {
			if goDL {
				return nil, -ETIMEDOUT
			}
			return nil, -EAGAIN
		}
		if r, err := sk.skbWaitForMorePackets(dl); r != 0 {
			return nil, err
		}
	}
}

// skbWaitForMorePackets mirrors datagram.c: __skb_wait_for_more_packets
// as an exclusive waiter. It returns r != 0 with the error to return
// (a socket error, 0 after SHUT_RD, -EINTR), or r == 0 to retry.
func (sk *Sock) skbWaitForMorePackets(deadline int64) (int, int) {
	w := sk.wq.prepare(true)
	defer sk.wq.finish(w)
	if e := sk.sockError(); e != 0 {
		return 1, e
	}
	sk.rq.mu.Lock()
	ready := !sk.rq.q.Empty()
	sk.rq.mu.Unlock()
	if ready {
		return 0, 0
	}
	if sk.shutdown.Load()&RcvShutdown != 0 {
		return 1, 0
	}
	sk.wq.sleep(w, deadline)
	if w.interrupted {
		return 1, -EINTR
	}
	return 0, 0
}

// Recvmsg mirrors udp.c: udp_recvmsg. It returns the byte count (the
// full datagram length with MSG_TRUNC in flags) or a negative errno;
// msg, if non-nil, receives the address, flags and control data.
func (sk *Sock) Recvmsg(p []byte, flags int, nonblock bool, deadline int64, msg *Msg) int {
	m := sk.u.mib
	if flags&MsgErrqueue != 0 {
		return -EAGAIN // the error queue is not kept
	}
	msgFlags := 0
	for {
		off := 0
		peek := flags&MsgPeek != 0
		if peek {
			off = int(sk.peekOff.Load())
		}
		b, err := sk.skbRecvUdp(flags, &off, nonblock, deadline)
		if b == nil {
			return err
		}
		ulen := b.Len()
		copied := len(p)
		if copied > ulen-off {
			copied = ulen - off
		} else if copied < ulen {
			msgFlags |= MsgTrunc
		}
		valid := false
		if copied < ulen || peek {
			valid = csumUnnecessary(b) || checksumComplete(b)
			if !valid {
				sk.csumCopyErr(b, flags)
				msgFlags &^= MsgTrunc
				continue
			}
		}
		if valid || csumUnnecessary(b) {
			copy(p[:copied], b.Data()[off:off+copied])
		} else {
			// skb_copy_and_csum_datagram_msg: copy and verify at once.
			copy(p[:copied], b.Data())
			if !checksumComplete(b) {
				sk.csumCopyErr(b, flags)
				msgFlags &^= MsgTrunc
				continue
			}
		}
		if !peek {
			m.UDPInc(mib.UdpInDatagrams)
		}
		if msg != nil {
			msg.Flags = msgFlags
			msg.HasRxqOvfl = sk.rxqOvfl.Load() && b.CB.DropCount != 0
			msg.RxqOvfl = b.CB.DropCount
			nh := wire.IPv4(b.NetworkHeader())
			th := wire.UDP(b.TransportHeader())
			msg.From = nh.Src()
			msg.FromPort = th.SrcPort()
			msg.HasPktinfo = sk.pktinfo.Load()
			if msg.HasPktinfo {
				msg.Pktinfo = Pktinfo{Ifindex: b.CB.PktinfoIfindex, SpecDst: wire.Addr(b.CB.SpecDst), Addr: nh.Dst()}
			}
		}
		ret := copied
		if flags&MsgTrunc != 0 {
			ret = ulen
		}
		if peek {
			sk.reader.mu.Unlock()
			sk.skbConsumeUdp(nil, -ret)
		} else {
			// T3 (DESIGN.md): the reader has woken (or found data),
			// dequeued and copied this datagram; taken just before
			// returning to the application.
			if b.Trace.T0 != 0 || b.Trace.T2 != 0 {
				sk.u.Latency.Record(b.Trace.T0, b.Trace.T1, b.Trace.T2, sk.u.ip.Clock().Now())
			}
			sk.skbConsumeUdp(b, ret)
		}
		return ret
	}
}

// skbConsumeUdp mirrors udp.c: skb_consume_udp: move the peek offset and
// free a dequeued buffer.
func (sk *Sock) skbConsumeUdp(b *skb.Buffer, n int) {
	if sk.peekingOff.Load() {
		if o := sk.peekOff.Load(); o >= 0 {
			sk.peekOff.Store(int32(max(int(o)-n, 0)))
		}
	}
	if b != nil {
		sk.u.mib.ConsumeSkb(b)
	}
}

// csumCopyErr is udp_recvmsg's csum_copy_err path with
// __sk_queue_drop_skb. When peeking the reader lock is held and b is
// unlinked if still queued.
func (sk *Sock) csumCopyErr(b *skb.Buffer, flags int) {
	m := sk.u.mib
	counted := true
	if flags&MsgPeek != 0 {
		if sk.reader.q.Unlink(b) {
			sk.udpRmemRelease(b.Truesize, 1, false)
		} else {
			counted = false
			b = nil
		}
		sk.reader.mu.Unlock()
	}
	sk.drops.Add(1)
	if counted {
		m.UDPInc(mib.UdpInCsumErrors)
		m.UDPInc(mib.UdpInErrors)
	}
	if b != nil {
		m.KfreeSkbReason(b, mib.DropNotSpecified)
	}
}

// firstPacketLength mirrors udp.c: first_packet_length: drop bad-checksum
// datagrams from the head, splicing once, and return the first good
// payload length or −1.
func (sk *Sock) firstPacketLength() int {
	sk.reader.mu.Lock()
	total := 0
	b := sk.firstPacketLengthInner(&total)
	if b == nil {
		sk.rq.mu.Lock()
		ne := !sk.rq.q.Empty()
		if ne {
			sk.reader.q.SpliceTailInit(&sk.rq.q)
		}
		sk.rq.mu.Unlock()
		if ne {
			b = sk.firstPacketLengthInner(&total)
		}
	}
	res := -1
	if b != nil {
		res = b.Len()
	}
	if total != 0 {
		sk.udpRmemRelease(total, 1, false)
	}
	sk.reader.mu.Unlock()
	return res
}

func (sk *Sock) firstPacketLengthInner(total *int) *skb.Buffer {
	m := sk.u.mib
	for {
		b := sk.reader.q.Peek()
		if b == nil {
			return nil
		}
		if csumUnnecessary(b) || checksumComplete(b) {
			return b
		}
		m.UDPInc(mib.UdpInCsumErrors)
		m.UDPInc(mib.UdpInErrors)
		sk.drops.Add(1)
		sk.reader.q.Unlink(b)
		*total += b.Truesize
		m.KfreeSkbReason(b, mib.DropNotSpecified)
	}
}

// Inq is ioctl(SIOCINQ/FIONREAD): the first good datagram's length or 0.
func (sk *Sock) Inq() int { return max(0, sk.firstPacketLength()) }

// PollMask mirrors udp.c: udp_poll over datagram_poll; blocking is true
// for a file without O_NONBLOCK (only then are bad-checksum datagrams
// weeded out).
func (sk *Sock) PollMask(blocking bool) int {
	mask := 0
	if sk.err.Load() != 0 {
		mask |= PollErr
	}
	sh := sk.shutdown.Load()
	if sh&RcvShutdown != 0 {
		mask |= PollRdhup | PollIn | PollRdnorm
	}
	if sh == RcvShutdown|SendShutdown {
		mask |= PollHup
	}
	sk.rq.mu.Lock()
	if !sk.rq.q.Empty() {
		mask |= PollIn | PollRdnorm
	}
	sk.rq.mu.Unlock()
	mask |= PollOut | PollWrnorm | PollWrband
	sk.reader.mu.Lock()
	if !sk.reader.q.Empty() {
		mask |= PollIn | PollRdnorm
	}
	sk.reader.mu.Unlock()
	if mask&PollRdnorm != 0 && blocking && sh&RcvShutdown == 0 && sk.firstPacketLength() == -1 {
		mask &^= PollIn | PollRdnorm
	}
	return mask
}

// Poll waits until one of events (or POLLERR/POLLHUP) is ready or the
// absolute deadline passes (−1: forever, or now for a non-blocking check
// with zero timeout), as poll(2) on the socket. It returns the ready mask
// or -EINTR.
func (sk *Sock) Poll(events int, blocking bool, deadline int64, wait bool) (int, int) {
	for {
		w := sk.wq.prepare(false)
		mask := sk.PollMask(blocking) & (events | PollErr | PollHup)
		if mask != 0 || !wait || (deadline >= 0 && sk.u.ip.Clock().Now() >= deadline) {
			sk.wq.finish(w)
			return mask, 0
		}
		sk.wq.sleep(w, deadline)
		intr := w.interrupted
		sk.wq.finish(w)
		if intr {
			return 0, -EINTR
		}
	}
}
