package udp

import (
	"sync"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// ExtendedErr is struct sock_extended_err (include/uapi/linux/errqueue.h).
type ExtendedErr struct {
	Errno  uint32
	Origin uint8
	Type   uint8
	Code   uint8
	Pad    uint8
	Info   uint32
	Data   uint32
}

// SoEeOriginICMP is SO_EE_ORIGIN_ICMP.
const SoEeOriginICMP = 2

// errSkb is what ip_icmp_error keeps of the ICMP packet it clones onto
// sk_error_queue: the sock_exterr_skb, the addresses ip_recv_error reads
// back from the headers, the quoted payload after the UDP header, and
// the clone's truesize, charged to sk_rmem_alloc while queued.
type errSkb struct {
	ee       ExtendedErr
	addr     wire.Addr // the quoted destination (serr->addr_offset)
	port     uint16    // serr->port: the quoted destination port
	offender wire.Addr // the ICMP packet's source
	daddr    wire.Addr // the ICMP packet's destination (IP_PKTINFO)
	iif      int       // IPCB(skb)->iif (IP_PKTINFO)
	payload  []byte
	truesize int
	tstamp   int64 // the ICMP packet's skb->tstamp, which the clone keeps
	next     *errSkb
}

// errQueue is sk_error_queue.
type errQueue struct {
	mu sync.Mutex
	// +checklocks:mu
	head *errSkb
	// +checklocks:mu
	tail *errSkb
	// +checklocks:mu
	n int
}

func (q *errQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n == 0
}

// ipIcmpError mirrors ip_sockglue.c: ip_icmp_error for an ICMP-origin
// error: b.Data() is at the quoted IP header (network header: the ICMP
// packet's, transport header: its ICMP header); port is the quoted
// destination port and payload the offset in b.Data() of the bytes after
// the quoted UDP header. A clone that does not fit is dropped, as is one
// whose payload offset lies beyond the packet (skb_pull fails).
func (sk *Sock) ipIcmpError(b *skb.Buffer, err int, port uint16, info uint32, payload int) {
	if payload > b.Len() {
		return
	}
	icmph := wire.ICMP(b.TransportHeader())
	outer := wire.IPv4(b.NetworkHeader())
	quoted := wire.IPv4(b.Data())
	e := &errSkb{
		ee: ExtendedErr{Errno: uint32(err), Origin: SoEeOriginICMP, Type: icmph.Type(),
			Code: icmph.Code(), Info: info},
		addr:     quoted.Dst(),
		port:     port,
		offender: outer.Src(),
		daddr:    outer.Dst(),
		iif:      b.CB.Iif,
		payload:  append([]byte(nil), b.Data()[payload:]...),
		truesize: b.Truesize,
		tstamp:   b.Tstamp,
	}
	sk.sockQueueErrSkb(e)
}

// sockQueueErrSkb mirrors skbuff.c: sock_queue_err_skb: refuse when
// sk_rmem_alloc + truesize reaches sk_rcvbuf, else charge the truesize
// to sk_rmem_alloc (released by sock_rmem_free), queue, and report.
func (sk *Sock) sockQueueErrSkb(e *errSkb) int {
	if uint32(int(sk.rmemAlloc.Load())+e.truesize) >= uint32(sk.rcvbuf.Load()) {
		return -ENOMEM
	}
	sk.rmemAlloc.Add(int32(e.truesize))
	q := &sk.errq
	q.mu.Lock()
	if q.tail != nil {
		q.tail.next = e
	} else {
		q.head = e
	}
	q.tail = e
	q.n++
	q.mu.Unlock()
	if !sk.dead.Load() {
		sk.skErrorReport()
	}
	return 0
}

// sockDequeueErrSkb mirrors skbuff.c: sock_dequeue_err_skb: sk_err
// becomes the next ICMP error's errno, or 0 when none follows; a
// remaining entry is reported again.
func (sk *Sock) sockDequeueErrSkb() *errSkb {
	q := &sk.errq
	q.mu.Lock()
	e := q.head
	if e == nil {
		q.mu.Unlock()
		return nil
	}
	q.head = e.next
	if q.head == nil {
		q.tail = nil
	}
	e.next = nil
	q.n--
	next := q.head
	if next != nil {
		sk.err.Store(int32(next.ee.Errno))
	}
	q.mu.Unlock()
	if next == nil {
		sk.err.Store(0)
	} else {
		sk.skErrorReport()
	}
	return e
}

// sockRmemFree is sock.c: sock_rmem_free, the destructor of an
// error-queue clone.
func (sk *Sock) sockRmemFree(e *errSkb) { sk.rmemAlloc.Add(int32(-e.truesize)) }

// purgeErrQueue frees every queued error (inet_sock_destruct's purge of
// sk_error_queue).
func (sk *Sock) purgeErrQueue() {
	q := &sk.errq
	q.mu.Lock()
	e := q.head
	q.head, q.tail, q.n = nil, nil, 0
	q.mu.Unlock()
	for ; e != nil; e = e.next {
		sk.sockRmemFree(e)
	}
}

// ipRecvError mirrors ip_sockglue.c: ip_recv_error: dequeue one error,
// copy its payload (MSG_TRUNC if p is shorter), name the original
// destination when the error has a port, and report the
// sock_extended_err with the offender (the ICMP sender) for IP_RECVERR,
// IP_PKTINFO before it when that option is on. msg_flags gets
// MSG_ERRQUEUE. An empty queue is EAGAIN.
func (sk *Sock) ipRecvError(p []byte, msg *Msg) int {
	e := sk.sockDequeueErrSkb()
	if e == nil {
		return -EAGAIN
	}
	defer sk.sockRmemFree(e)
	copied := len(e.payload)
	flags := 0
	if copied > len(p) {
		flags |= MsgTrunc
		copied = len(p)
	}
	copy(p, e.payload[:copied])
	if msg == nil {
		return copied
	}
	*msg = Msg{Flags: flags | MsgErrqueue, HasRecvErr: true, RecvErr: e.ee, Offender: e.offender}
	sk.sockRecvTimestamp(msg, &e.tstamp)
	if e.port != 0 {
		msg.From, msg.FromPort, msg.Namelen = e.addr, e.port, SockaddrInLen
	}
	if sk.pktinfo.Load() {
		// ip_cmsg_recv_pktinfo on the clone: PKTINFO_SKB_CB overlays
		// IPCB, whose iif is set and whose option fields (spec_dst's
		// place) are zero; ipi_addr is the ICMP packet's destination.
		msg.HasPktinfo = true
		msg.Pktinfo = Pktinfo{Ifindex: e.iif, Addr: e.daddr}
	}
	return copied
}
