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

// Msg carries what recvmsg returns besides the data: msg_name (with
// msg_namelen), msg_flags and the control messages this stack produces,
// in typed form.
type Msg struct {
	From     wire.Addr
	FromPort uint16
	// Namelen is msg_namelen: SockaddrInLen when From and FromPort
	// are set, 0 when nothing was received (after SHUT_RD) or an
	// error-queue entry has no port.
	Namelen    int
	Flags      int // msg_flags out
	HasRxqOvfl bool
	RxqOvfl    uint32 // SO_RXQ_OVFL
	HasPktinfo bool
	Pktinfo    Pktinfo // IP_PKTINFO
	// HasRecvErr marks an error-queue message (MSG_ERRQUEUE): the
	// IP_RECVERR control message is RecvErr followed by the offender
	// address, an AF_INET sockaddr_in of Offender (SO_EE_OFFENDER).
	HasRecvErr bool
	RecvErr    ExtendedErr
	Offender   wire.Addr
	// Receive timestamps (sock_recv_timestamp), ns of CLOCK_REALTIME.
	// TstampType is the SOL_SOCKET cmsg_type of the SO_TIMESTAMP or
	// SO_TIMESTAMPNS message (SoTimestampOld … SoTimestampnsNew), 0
	// for none, and Tstamp its time.
	TstampType int
	Tstamp     int64
	// TimestampingType is the cmsg_type of SCM_TIMESTAMPING
	// (SoTimestampingOld or SoTimestampingNew), 0 for none;
	// Timestamping is its struct scm_timestamping: [0] the software
	// stamp, [1] unused, [2] the raw hardware stamp (always 0 here).
	TimestampingType int
	Timestamping     [3]int64
}

// SockaddrInLen is sizeof(struct sockaddr_in).
const SockaddrInLen = 16

// RecvOpts are recvmsg's flags and the blocking behaviour the socket
// layer derives from the file and SO_RCVTIMEO.
type RecvOpts struct {
	// Flags are the MSG_* flags.
	Flags int
	// Timeo is sock_rcvtimeo in ns: 0 does not block (O_NONBLOCK or
	// MSG_DONTWAIT), < 0 waits without limit (MAX_SCHEDULE_TIMEOUT).
	// Every __skb_recv_udp starts it afresh, as Linux does, so a
	// datagram dropped for a bad checksum while copying restarts it.
	Timeo int64
	// Abort, if set, is consulted before every sleep and after every
	// wakeup; a negative errno from it ends the receive with that errno.
	Abort func() int
	// Signals is Sock.Signals when the system call began (recvmmsg's,
	// for each of its receives): an Interrupt since then ends a wait
	// with EINTR, as a signal pending on the task does, even one that
	// came before the wait. 0 takes the count when this receive begins.
	Signals uint64
}

// udpRmemRelease mirrors udp.c: udp_rmem_release, taking
// sk_receive_queue's lock for the part that needs it.
//
// +checklocks:sk.reader.mu
func (sk *Sock) udpRmemRelease(size int, partial int) {
	size, ok := sk.udpRmemDeficitLocked(size, partial)
	if !ok {
		return
	}
	sk.rq.mu.Lock()
	sk.udpRmemReleaseBothLocked(size, partial)
	sk.rq.mu.Unlock()
}

// udpRmemReleaseRqLocked is udpRmemRelease with sk_receive_queue's lock
// held.
//
// +checklocks:sk.reader.mu
// +checklocks:sk.rq.mu
func (sk *Sock) udpRmemReleaseRqLocked(size int, partial int) {
	if size, ok := sk.udpRmemDeficitLocked(size, partial); ok {
		sk.udpRmemReleaseBothLocked(size, partial)
	}
}

// udpRmemDeficitLocked is udp_rmem_release's first half: a partial
// release only accumulates (forward_deficit) until it reaches the
// threshold or the reader queue empties. It returns the size to release,
// or false if nothing is released yet.
//
// +checklocks:sk.reader.mu
func (sk *Sock) udpRmemDeficitLocked(size int, partial int) (int, bool) {
	if partial != 0 {
		sk.forwardDeficit += size
		size = sk.forwardDeficit
		if size < int(sk.forwardThreshold.Load()) && !sk.reader.q.Empty() {
			return 0, false
		}
	} else {
		size += sk.forwardDeficit
	}
	sk.forwardDeficit = 0
	return size, true
}

// udpRmemReleaseBothLocked is udp_rmem_release's second half, under
// sk_receive_queue's lock: return memory to udp_memory_allocated and
// splice the receive queue onto the reader queue.
//
// +checklocks:sk.reader.mu
// +checklocks:sk.rq.mu
func (sk *Sock) udpRmemReleaseBothLocked(size int, partial int) {
	sk.forwardAlloc += size
	amt := (sk.forwardAlloc - partial) &^ (PageSize - 1)
	sk.forwardAlloc -= amt
	if amt != 0 {
		sk.u.skMemReduceAllocated(int64(amt / PageSize))
	}
	sk.rmemAlloc.Add(int32(-size))
	sk.reader.q.SpliceTailInit(&sk.rq.q)
}

// skbTryRecvFromQueue mirrors datagram.c: __skb_try_recv_from_queue on
// the reader queue (lock held). When peeking it returns the buffer still
// queued.
//
// +checklocks:sk.reader.mu
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
	for b := q.Peek(); b != nil; b = skb.Next(b) {
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

// skbRecvUdp mirrors udp.c: __skb_recv_udp. A dequeued buffer is
// returned to the caller. A peeked buffer stays queued: Linux takes a
// reference and copies without the queue lock; here peekFn runs on it
// with the reader queue locked, and skbRecvUdp reports peeked. With
// neither it returns a negative errno, or 0 after SHUT_RD. The timeout
// is taken from o.Timeo now (sock_rcvtimeo at the top of
// __skb_recv_udp).
func (sk *Sock) skbRecvUdp(o *RecvOpts, off *int, peekFn func(*skb.Buffer)) (b *skb.Buffer, peeked bool, err int) {
	deadline := int64(-1)
	if o.Timeo > 0 {
		deadline = sk.u.ip.Clock().Now() + o.Timeo
	}
	signals := o.Signals
	if signals == 0 {
		signals = sk.Signals()
	}
	for {
		if o.Abort != nil {
			if e := o.Abort(); e != 0 {
				return nil, false, e
			}
		}
		if e := sk.sockError(); e != 0 {
			return nil, false, e
		}
		if b, peeked := sk.skbTryRecvUdp(o.Flags, off, peekFn); b != nil || peeked {
			return b, peeked, 0
		}
		if o.Timeo == 0 {
			return nil, false, -EAGAIN
		}
		dl, goDL := deadline, false
		if f := sk.ReadDeadline; f != nil {
			if g := f(); g >= 0 && (dl < 0 || g < dl) {
				dl, goDL = g, true
			}
		}
		if dl >= 0 && sk.u.ip.Clock().Now() >= dl {
			if goDL {
				return nil, false, -ETIMEDOUT
			}
			return nil, false, -EAGAIN
		}
		if r, err := sk.skbWaitForMorePackets(dl, o.Abort, signals); r != 0 {
			return nil, false, err
		}
	}
}

// skbTryRecvUdp is one pass of __skb_recv_udp's inner loop: the reader
// queue, then sk_receive_queue spliced onto it, both locked. A
// dequeued buffer has its memory released (udp_skb_destructor) and is
// returned; a peeked one is handed to peekFn under the lock.
func (sk *Sock) skbTryRecvUdp(flags int, off *int, peekFn func(*skb.Buffer)) (*skb.Buffer, bool) {
	peek := flags&MsgPeek != 0
	sk.reader.mu.Lock()
	defer sk.reader.mu.Unlock()
	b := sk.skbTryRecvFromQueue(flags, off)
	if b != nil {
		if !peek {
			sk.udpRmemRelease(b.Truesize, 1)
		}
	} else {
		sk.rq.mu.Lock()
		if !sk.rq.q.Empty() {
			sk.reader.q.SpliceTailInit(&sk.rq.q)
			b = sk.skbTryRecvFromQueue(flags, off)
			if b != nil && !peek {
				sk.udpRmemReleaseRqLocked(b.Truesize, 1)
			}
		}
		sk.rq.mu.Unlock()
	}
	if b == nil {
		return nil, false
	}
	if peek {
		peekFn(b)
		return nil, true
	}
	return b, false
}

// skbWaitForMorePackets mirrors datagram.c: __skb_wait_for_more_packets
// as an exclusive waiter. It returns r != 0 with the error to return
// (a socket error, 0 after SHUT_RD, abort's, or -EINTR for an interrupt
// since signals: signal_pending), or r == 0 to retry.
func (sk *Sock) skbWaitForMorePackets(deadline int64, abort func() int, signals uint64) (int, int) {
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
	if abort != nil {
		if e := abort(); e != 0 {
			return 1, e
		}
	}
	if sk.wq.signals.Load() != signals {
		return 1, -EINTR
	}
	sk.wq.sleep(w, deadline)
	if w.interrupted {
		return 1, -EINTR
	}
	return 0, 0
}

// Recvmsg mirrors udp.c: udp_recvmsg. It returns the byte count (the
// full datagram length with MSG_TRUNC in o.Flags) or a negative errno;
// msg, if non-nil, receives the address, flags and control data. With
// MSG_ERRQUEUE it reads the error queue instead (ip_recv_error).
func (sk *Sock) Recvmsg(p []byte, o RecvOpts, msg *Msg) int {
	if o.Flags&MsgErrqueue != 0 {
		return sk.ipRecvError(p, msg)
	}
	msgFlags := 0
	peek := o.Flags&MsgPeek != 0
	for { // try_again
		off := 0
		if peek {
			off = int(sk.peekOff.Load())
		}
		ret, retry := 0, false
		b, peeked, err := sk.skbRecvUdp(&o, &off, func(b *skb.Buffer) {
			ret, retry = sk.udpRecvmsgSkb(b, p, o.Flags, off, &msgFlags, msg)
		})
		switch {
		case b != nil:
			ret, retry = sk.udpRecvmsgSkb(b, p, o.Flags, off, &msgFlags, msg)
		case !peeked:
			return err
		}
		if retry {
			// csum_copy_err: start over for a new datagram.
			msgFlags &^= MsgTrunc
			continue
		}
		if peeked {
			sk.skbConsumeUdp(nil, -ret)
		}
		return ret
	}
}

// udpRecvmsgSkb is the part of udp_recvmsg after __skb_recv_udp: copy
// (verifying the checksum first when truncating or peeking, else while
// copying), count, fill msg. A peeked b is still queued and the reader
// queue is locked; a dequeued one is consumed here. retry means the
// checksum failed (csum_copy_err) and b is gone.
func (sk *Sock) udpRecvmsgSkb(b *skb.Buffer, p []byte, flags, off int, msgFlags *int, msg *Msg) (ret int, retry bool) {
	peek := flags&MsgPeek != 0
	ulen := b.Len()
	copied := len(p)
	if copied > ulen-off {
		copied = ulen - off
	} else if copied < ulen {
		*msgFlags |= MsgTrunc
	}
	valid := false
	if copied < ulen || peek {
		valid = csumUnnecessary(b) || checksumComplete(b)
		if !valid {
			sk.csumCopyErr(b, flags)
			return 0, true
		}
	}
	if valid || csumUnnecessary(b) {
		copy(p[:copied], b.Data()[off:off+copied])
	} else {
		// skb_copy_and_csum_datagram_msg: copy and verify at once.
		copy(p[:copied], b.Data())
		if !checksumComplete(b) {
			sk.csumCopyErr(b, flags)
			return 0, true
		}
	}
	if !peek {
		sk.u.mib.UDPInc(mib.UdpInDatagrams)
	}
	if msg != nil {
		// sock_recv_cmsgs comes first: the timestamps.
		sk.sockRecvCmsgs(msg, &b.Tstamp)
		msg.Flags = *msgFlags
		msg.HasRxqOvfl = sk.rxqOvfl.Load() && b.CB.DropCount != 0
		msg.RxqOvfl = b.CB.DropCount
		nh := wire.IPv4(b.NetworkHeader())
		th := wire.UDP(b.TransportHeader())
		msg.From = nh.Src()
		msg.FromPort = th.SrcPort()
		msg.Namelen = SockaddrInLen
		msg.HasPktinfo = sk.pktinfo.Load()
		if msg.HasPktinfo {
			msg.Pktinfo = Pktinfo{Ifindex: b.CB.PktinfoIfindex, SpecDst: wire.Addr(b.CB.SpecDst), Addr: nh.Dst()}
		}
	}
	ret = copied
	if flags&MsgTrunc != 0 {
		ret = ulen
	}
	if !peek {
		// T3 (ARCHITECTURE.md): the reader has woken (or found data),
		// dequeued and copied this datagram; taken just before
		// returning to the application. Not with the trace off.
		if sk.u.Latency != nil && (b.Trace.T0 != 0 || b.Trace.T2 != 0) {
			sk.u.Latency.Record(b.Trace.T0, b.Trace.T1, b.Trace.T2, sk.u.ip.Clock().Now())
		}
		sk.skbConsumeUdp(b, ret)
	}
	return ret, false
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
// __sk_queue_drop_skb. When peeking the reader queue is locked by the
// caller and b, still queued, is unlinked; otherwise b was dequeued and
// no queue lock is held (checklocks cannot tell the two apart by flags).
//
// +checklocksignore
func (sk *Sock) csumCopyErr(b *skb.Buffer, flags int) {
	m := sk.u.mib
	counted := true
	if flags&MsgPeek != 0 {
		if sk.reader.q.Unlink(b) {
			sk.udpRmemRelease(b.Truesize, 1)
		} else {
			counted = false
			b = nil
		}
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
		sk.udpRmemRelease(total, 1)
	}
	sk.reader.mu.Unlock()
	return res
}

// firstPacketLengthInner drops bad-checksum datagrams from the head of
// the reader queue and returns the first good one, still queued.
//
// +checklocks:sk.reader.mu
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
	if sk.err.Load() != 0 || !sk.errq.empty() {
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

// PollOpts are a poll(2) call's arguments for one socket.
type PollOpts struct {
	// Events is the POLL* mask asked for; POLLERR and POLLHUP are
	// always reported.
	Events int
	// Blocking is true for a file without O_NONBLOCK (udp_poll then
	// weeds out bad-checksum datagrams).
	Blocking bool
	// Wait is false for a zero timeout: report the mask at once.
	Wait bool
	// Deadline is the absolute stack-clock time to give up at; < 0
	// waits without limit.
	Deadline int64
}

// Poll waits until one of o.Events (or POLLERR/POLLHUP) is ready or the
// deadline passes, as poll(2) on the socket. It returns the ready mask
// or -EINTR.
func (sk *Sock) Poll(o PollOpts) (int, int) {
	signals := sk.Signals()
	for {
		w := sk.wq.prepare(false)
		mask := sk.PollMask(o.Blocking) & (o.Events | PollErr | PollHup)
		if mask != 0 || !o.Wait || (o.Deadline >= 0 && sk.u.ip.Clock().Now() >= o.Deadline) {
			sk.wq.finish(w)
			return mask, 0
		}
		if sk.wq.signals.Load() != signals {
			sk.wq.finish(w)
			return 0, -EINTR
		}
		sk.wq.sleep(w, o.Deadline)
		intr := w.interrupted
		sk.wq.finish(w)
		if intr {
			return 0, -EINTR
		}
	}
}
