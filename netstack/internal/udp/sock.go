package udp

import (
	"sync"
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/ilist"

	"github.com/kaidoku-net/kaidoku/netstack/internal/clock"
	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// mcMembership is one entry of the socket's ip_mc_socklist.
type mcMembership struct {
	group   wire.Addr
	addr    wire.Addr // imr_address as given
	ifindex int
}

// Sock is a UDP socket: struct sock, inet_sock and udp_sock.
type Sock struct {
	u *UDP

	// Lock is lock_sock: it serialises application operations on the
	// socket. Never taken by the receive path.
	Lock sync.Mutex

	// Table links: sk_node (primary chain) and udp_portaddr_node.
	node   ilist.Entry[*Sock]
	node2  portaddrNode
	hashed bool

	// Fields the lookup reads; written with Lock and BH held, so read
	// with either (which checklocks cannot express: not annotated).
	portHash     uint16 // udp_port_hash
	portaddrHash uint16 // udp_portaddr_hash
	num          uint16 // inet_num
	rcvSaddr     wire.Addr
	// +checklocks:Lock
	saddr       wire.Addr
	daddr       wire.Addr
	sport       uint16 // host order
	dport       uint16 // host order
	boundDevIf  int
	state       uint8
	reuse       bool
	reuseport   bool
	reuseportCb *reuseportGroup
	uid         uint32
	// +checklocks:Lock
	userlocks   uint8
	incomingCPU int32
	mcList      []mcMembership

	// Options.
	broadcast atomic.Bool
	freebind  atomic.Bool
	recverr   atomic.Bool
	pktinfo   atomic.Bool
	rxqOvfl   atomic.Bool
	mcAll     atomic.Bool
	mcNoLoop  atomic.Bool // IP_MULTICAST_LOOP off
	pmtudisc  int
	// Options under Lock.
	// +checklocks:Lock
	ttl int // -1: default
	// +checklocks:Lock
	tos uint8
	// +checklocks:Lock
	mcTTL uint8
	// +checklocks:Lock
	mcIndex int
	// +checklocks:Lock
	bindNoPort bool
	inetID     atomic.Uint32 // +checklocksignore: advanced by ip_select_ident through SendOpts.SockID
	ts         sockTstamp    // SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING

	// Receive memory and queues (__udp_enqueue_schedule_skb,
	// udp_rmem_release).
	rmemAlloc        atomic.Int32
	rcvbuf           atomic.Int32
	forwardThreshold atomic.Int32
	// The guards name the queues' locks; the trailing ignore only
	// silences checklocks' inference, which looks for a guard called
	// "mu".
	// +checklocks:rq.mu
	forwardAlloc int // +checklocksignore
	// +checklocks:reader.mu
	forwardDeficit int // +checklocksignore
	drops          atomic.Uint32
	rq             lockedQueue // sk_receive_queue
	reader         lockedQueue // udp_sock.reader_queue

	errq       errQueue     // sk_error_queue (IP_RECVERR)
	err        atomic.Int32 // sk_err (positive errno)
	shutdown   atomic.Uint32
	peekOff    atomic.Int32
	peekingOff atomic.Bool
	dead       atomic.Bool // SOCK_DEAD
	// +checklocks:Lock
	closed bool

	wq    waitQueue
	inode uint64

	// ReadDeadline, when set by the socket layer, returns an extra
	// absolute receive deadline on the stack clock (−1 for none): Go's
	// SetReadDeadline. Reaching it fails the receive with -ETIMEDOUT.
	ReadDeadline func() int64
}

type lockedQueue struct {
	mu sync.Mutex
	// +checklocks:mu
	q skb.Queue
}

// NewSock creates an unbound socket (sk_alloc + sock_init_data +
// udp_init_sock) owned by uid.
func (u *UDP) NewSock(uid uint32) *Sock {
	sk := &Sock{u: u, uid: uid, state: StateClose, incomingCPU: -1, ttl: -1,
		pmtudisc: ipv4.PMTUDiscWant, mcTTL: 1}
	sk.inode = u.inodes.Add(1)
	sk.rcvbuf.Store(RmemDefault)
	sk.forwardThreshold.Store(RmemDefault >> 2)
	sk.peekOff.Store(-1)
	sk.ts.stamp.Store(skDefaultStamp)
	sk.mcAll.Store(true)
	sk.wq.init(u.ip.Clock())
	return sk
}

// waiter is one task sleeping on the socket wait queue (a
// wait_queue_entry with receiver_wake_function or a poll entry).
type waiter struct {
	ch          chan struct{}
	exclusive   bool
	interrupted bool
	link        ilist.Entry[*waiter] // in waitQueue.l while queued
	timer       *clock.Timer
	wq          *waitQueue
}

// Links makes a waiter an ilist element.
func (w *waiter) Links() *ilist.Entry[*waiter] { return &w.link }

// waitQueue is the socket's wait queue (sk_sleep). Waiter entries are
// recycled so a blocking receive does not allocate in steady state.
type waitQueue struct {
	mu   sync.Mutex
	clk  *clock.Clock
	l    ilist.List[*waiter]
	free []*waiter
	// signals counts interrupts, from 1 (incremented under mu, before
	// the waiters are woken): a call that began at one count and finds
	// another was interrupted, even before it queued a waiter
	// (signal_pending).
	signals atomic.Uint64
}

func (wq *waitQueue) init(c *clock.Clock) {
	wq.clk = c
	wq.signals.Store(1)
}

func (wq *waitQueue) get() *waiter {
	if n := len(wq.free); n > 0 {
		w := wq.free[n-1]
		wq.free = wq.free[:n-1]
		return w
	}
	w := &waiter{ch: make(chan struct{}, 1), wq: wq}
	w.timer = clock.NewTimer(func() { w.wq.wakeTimer(w) })
	return w
}

// prepare queues a waiter (prepare_to_wait_exclusive adds exclusive
// waiters at the tail; poll entries go at the head).
func (wq *waitQueue) prepare(exclusive bool) *waiter {
	wq.mu.Lock()
	w := wq.get()
	w.exclusive = exclusive
	w.interrupted = false
	select {
	case <-w.ch:
	default:
	}
	if exclusive {
		wq.l.PushBack(w)
	} else {
		wq.l.PushFront(w)
	}
	wq.mu.Unlock()
	return w
}

func (wq *waitQueue) unlink(w *waiter) {
	if w.link.Linked() {
		wq.l.Remove(w)
	}
}

// finish removes the waiter (finish_wait) and recycles it.
func (wq *waitQueue) finish(w *waiter) {
	wq.clk.Del(w.timer)
	wq.mu.Lock()
	wq.unlink(w)
	wq.free = append(wq.free, w)
	wq.mu.Unlock()
}

// sleep parks until woken, interrupted, or the absolute deadline (ns of
// the stack clock; < 0 means none) passes.
func (wq *waitQueue) sleep(w *waiter, deadline int64) {
	if deadline >= 0 {
		wq.clk.Mod(w.timer, deadline)
	}
	<-w.ch
}

func (wq *waitQueue) wakeTimer(w *waiter) {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// wake is __wake_up_common with autoremove: every non-exclusive waiter
// and up to nrExclusive exclusive waiters are woken and removed
// (nrExclusive 0 wakes all).
func (wq *waitQueue) wake(nrExclusive int) {
	wq.mu.Lock()
	for w := wq.l.Front(); w != nil; {
		next := ilist.Next(w)
		ex := w.exclusive
		wq.unlink(w)
		select {
		case w.ch <- struct{}{}:
		default:
		}
		if ex && nrExclusive > 0 {
			nrExclusive--
			if nrExclusive == 0 {
				break
			}
		}
		w = next
	}
	wq.mu.Unlock()
}

// interrupt delivers a "signal" to every call in progress: sleeping
// waiters are woken, and calls not yet asleep see signals move.
func (wq *waitQueue) interrupt() {
	wq.mu.Lock()
	wq.signals.Add(1)
	for w := wq.l.Front(); w != nil; {
		next := ilist.Next(w)
		w.interrupted = true
		wq.unlink(w)
		select {
		case w.ch <- struct{}{}:
		default:
		}
		w = next
	}
	wq.mu.Unlock()
}

// Waiters returns how many goroutines sleep on the socket (for tests
// that must know a reader is blocked before acting).
func (sk *Sock) Waiters() int {
	sk.wq.mu.Lock()
	defer sk.wq.mu.Unlock()
	return sk.wq.l.Len()
}

// Interrupt is the analogue of a signal without SA_RESTART: every call
// in progress on the socket that blocks, or would, returns EINTR.
func (sk *Sock) Interrupt() { sk.wq.interrupt() }

// Signals returns how many interrupts the socket has had (from 1), for a
// system call to take when it begins (RecvOpts.Signals).
func (sk *Sock) Signals() uint64 { return sk.wq.signals.Load() }

// skDataReady is sock_def_readable: wake one exclusive waiter (a blocked
// receive) and every poll waiter.
func (sk *Sock) skDataReady() { sk.wq.wake(1) }

// skErrorReport is sock_def_error_report.
func (sk *Sock) skErrorReport() { sk.wq.wake(1) }

// skStateChange is sock_def_wakeup: wake everyone.
func (sk *Sock) skStateChange() { sk.wq.wake(0) }

// sockError returns and clears sk_err as a negative errno (sock_error).
func (sk *Sock) sockError() int {
	if sk.err.Load() == 0 {
		return 0
	}
	return -int(sk.err.Swap(0))
}

// LocalAddr returns the bound address and port.
func (sk *Sock) LocalAddr() (wire.Addr, uint16) {
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	return sk.rcvSaddr, sk.num
}

// RemoteAddr returns the connected peer, if any.
func (sk *Sock) RemoteAddr() (wire.Addr, uint16, bool) {
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	return sk.daddr, sk.dport, sk.state == StateEstablished
}

// Drops returns sk_drops.
func (sk *Sock) Drops() uint32 { return sk.drops.Load() }

// RmemAlloc returns sk_rmem_alloc.
func (sk *Sock) RmemAlloc() int { return int(sk.rmemAlloc.Load()) }

// Rcvbuf returns sk_rcvbuf.
func (sk *Sock) Rcvbuf() int { return int(sk.rcvbuf.Load()) }

// Rqueue returns udp_rqueue_get: sk_rmem_alloc − forward_deficit.
func (sk *Sock) Rqueue() int {
	sk.reader.mu.Lock()
	d := sk.forwardDeficit
	sk.reader.mu.Unlock()
	return int(sk.rmemAlloc.Load()) - d
}

// TakeError returns and clears sk_err (getsockopt SO_ERROR).
func (sk *Sock) TakeError() int { return int(sk.err.Swap(0)) }

// WakeAll wakes every sleeper so it re-evaluates its deadline.
func (sk *Sock) WakeAll() { sk.wq.wake(0) }
