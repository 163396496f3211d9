package packet

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Sock is a packet socket: struct packet_sock with its prot_hook.
type Sock struct {
	t   *Table
	typ int

	// bindMu is po->bind_lock: num, ifindex and the hook change under it.
	bindMu sync.Mutex
	// +checklocks:bindMu
	num uint16 // po->num, network byte order
	// +checklocks:bindMu
	ifindex int // po->ifindex: 0 unbound
	// +checklocks:bindMu
	hookType uint16 // prot_hook.type (network byte order)
	// +checklocks:bindMu
	hookDev int // prot_hook.dev's ifindex, 0 for every device
	// +checklocks:bindMu
	running bool // po->running: the hook is registered

	// mu is sk_receive_queue.lock: the queue, stats1 and the wakeups.
	mu sync.Mutex
	// +checklocks:mu
	q []queued
	// +checklocks:mu
	packets uint32 // po->stats.stats1.tp_packets
	// +checklocks:mu
	wake chan struct{} // closed by sk_data_ready
	// signals counts Interrupt calls, from 1: a receive that began at
	// one count and finds another was interrupted (signal_pending).
	// +checklocks:mu
	signals uint64
	// +checklocks:mu
	closed bool

	rmem    atomic.Int64 // sk_rmem_alloc
	rcvbuf  atomic.Int64 // sk_rcvbuf
	tpDrops atomic.Uint32
	skDrops atomic.Uint32

	auxdata        atomic.Bool
	origdev        atomic.Bool
	ignoreOutgoing atomic.Bool
	rxqOvfl        atomic.Bool
	filter         atomic.Pointer[Filter]
}

type queued struct {
	b *skb.Buffer
	e entry
}

// Create is packet_create: typ SOCK_RAW or SOCK_DGRAM, proto the
// protocol in network byte order (0: none until bind). A non-zero
// protocol registers the hook at once, on every device.
func (t *Table) Create(typ int, proto uint16) (*Sock, int) {
	if typ != SockRaw && typ != SockDgram {
		return nil, -ESOCKTNOTSUP
	}
	sk := &Sock{t: t, typ: typ, num: proto, signals: 1}
	sk.rcvbuf.Store(RmemDefault)
	t.mu.Lock()
	t.inuse++
	t.mu.Unlock()
	if proto != 0 {
		// Nobody else sees sk yet; the lock is for the rule, not a race.
		sk.bindMu.Lock()
		sk.hookType = proto
		t.registerProtHook(sk)
		sk.bindMu.Unlock()
	}
	return sk, 0
}

// Type returns SOCK_RAW or SOCK_DGRAM.
func (sk *Sock) Type() int { return sk.typ }

// Protocol returns po->num (network byte order).
func (sk *Sock) Protocol() uint16 {
	sk.bindMu.Lock()
	defer sk.bindMu.Unlock()
	return sk.num
}

// Bind is packet_bind → packet_do_bind: the device by index (0: every
// device) and the protocol (0 keeps the socket's). A changed hook is
// re-registered; protocol 0 leaves it unregistered.
func (sk *Sock) Bind(sll *Sockaddr) int {
	if sll == nil || sll.Family != AFPacket {
		return -EINVAL
	}
	proto := sll.Protocol
	if proto == 0 {
		proto = sk.Protocol()
	}
	ifindex := int(sll.Ifindex)
	if ifindex != 0 && sk.t.cfg.Net.GetByIndex(ifindex) == nil {
		return -ENODEV
	}
	sk.bindMu.Lock()
	defer sk.bindMu.Unlock()
	needRehook := sk.hookType != proto || sk.hookDev != ifindex
	if needRehook {
		if sk.running {
			sk.t.unregisterProtHook(sk)
		}
		sk.num = proto
		sk.hookType = proto
		sk.hookDev = ifindex
		sk.ifindex = ifindex
	}
	if proto == 0 || !needRehook {
		return 0
	}
	sk.t.registerProtHook(sk)
	return 0
}

// Getname is packet_getname: the bound device and protocol, with the
// device's type and address.
func (sk *Sock) Getname() (Sockaddr, int) {
	sk.bindMu.Lock()
	sll := Sockaddr{Family: AFPacket, Ifindex: int32(sk.ifindex), Protocol: sk.num}
	sk.bindMu.Unlock()
	if d := sk.t.cfg.Net.GetByIndex(int(sll.Ifindex)); d != nil {
		sll.Hatype = d.Type()
		sll.Halen = 6
		copy(sll.Addr[:], d.MAC[:])
	}
	return sll, 12 + int(sll.Halen)
}

// packetRcv is packet_rcv: queue a copy of b for the socket, or count a
// drop. pktType is b's, or PACKET_OUTGOING for a transmitted frame,
// whose data starts at the Ethernet header.
func (sk *Sock) packetRcv(b *skb.Buffer, d *ether.Device, pktType skb.PacketType) {
	if pktType == skb.PacketLoopback {
		return
	}
	head, netOff := frameOf(b, pktType, sk.typ == SockDgram)
	snaplen := len(head)
	if f := sk.filter.Load(); f != nil {
		res := (*f)(head)
		if res <= 0 {
			return // run_filter said no: drop_n_restore, not counted
		}
		snaplen = min(snaplen, res)
	}
	if sk.rmem.Load() >= sk.rcvbuf.Load() {
		sk.dropNAcct()
		return
	}
	c := sk.copyFrame(head[:snaplen])
	if c == nil {
		sk.dropNAcct()
		return
	}
	c.Truesize = b.Truesize
	if c.Truesize == 0 {
		c.Truesize = len(b.Head()) + skb.Overhead
	}
	e := entry{
		sll: Sockaddr{Family: AFPacket, Hatype: d.Type(), Pkttype: uint8(pktType),
			Ifindex: int32(d.Ifindex), Protocol: Htons(b.Protocol)},
		origlen:  len(head),
		net:      min(netOff, snaplen),
		protocol: Htons(b.Protocol),
		pktType:  uint8(pktType),
		summed:   b.IPSummed,
		vlan:     b.VlanPresent,
		vlanTCI:  b.VlanTCI,
		tstamp:   sk.t.now(),
	}
	// dev_parse_header → eth_header_parse: the source address of the
	// Ethernet header.
	if mac := macHeader(b, pktType); len(mac) >= wire.EthHLen {
		e.sll.Halen = 6
		copy(e.sll.Addr[:6], mac[6:12])
	}
	sk.rmem.Add(int64(c.Truesize)) // skb_set_owner_r
	sk.mu.Lock()
	if sk.closed {
		sk.mu.Unlock()
		sk.rmem.Add(-int64(c.Truesize))
		c.Free()
		return
	}
	sk.packets++
	e.dropcnt = sk.skDrops.Load() // sock_skb_set_dropcount
	sk.q = append(sk.q, queued{c, e})
	sk.dataReady()
	sk.mu.Unlock()
}

// dropNAcct is packet_rcv's drop_n_acct: tp_drops and sk_drops, and the
// copy that was not queued counted under its drop reason.
func (sk *Sock) dropNAcct() {
	sk.tpDrops.Add(1)
	sk.skDrops.Add(1)
	sk.t.cfg.MIB.Drops[mib.DropPacketSockError].Add(1)
}

// dataReady is sock_def_readable.
//
// +checklocks:sk.mu
func (sk *Sock) dataReady() {
	if sk.wake != nil {
		close(sk.wake)
		sk.wake = nil
	}
}

func (t *Table) now() int64 {
	if t.cfg.Now != nil {
		return t.cfg.Now()
	}
	return time.Now().UnixNano()
}

// macHeader returns the frame from its Ethernet header.
func macHeader(b *skb.Buffer, pktType skb.PacketType) []byte {
	if pktType == ether.PacketOutgoing {
		return b.Data()
	}
	return b.MACHeader()
}

// frameOf returns the bytes packet_rcv queues and the network header's
// offset in them. SOCK_RAW gets the frame from its link header: on
// receive the header eth_type_trans pulled, with an 802.1Q tag that
// skb_vlan_untag moved into metadata taken out (the MAC addresses then
// sit right before the encapsulated EtherType, as after
// skb_reorder_vlan_header); on transmit the frame as handed to the
// driver. SOCK_DGRAM gets the data from the network header (for a
// transmitted frame skb_pull(skb_network_offset), the network header
// being reset to the data if the sender left it outside, as
// dev_queue_xmit_nit does).
func frameOf(b *skb.Buffer, pktType skb.PacketType, dgram bool) ([]byte, int) {
	if pktType == ether.PacketOutgoing {
		data := b.Data()
		off := b.Network - b.DataOffset()
		if b.Network < 0 || off < 0 || off > len(data) {
			off = 0
		}
		if dgram {
			return data[off:], 0
		}
		return data, off
	}
	if dgram {
		return b.Data(), 0
	}
	mac := b.MACHeader()
	net := b.Network - b.MAC
	if len(mac) < wire.EthHLen || net < wire.EthHLen {
		return b.Data(), 0
	}
	if net == wire.EthHLen {
		return mac, net
	}
	// Tagged: dst, src, then the EtherType before the network header.
	out := make([]byte, 0, wire.EthHLen+len(mac)-net)
	out = append(out, mac[:12]...)
	out = append(out, mac[net-2:]...)
	return out, wire.EthHLen
}

// copyFrame copies data into a buffer of the frame pool, or of the
// large pool when it does not fit; nil when neither has one (the
// skb_clone that failed).
func (sk *Sock) copyFrame(data []byte) *skb.Buffer {
	var c *skb.Buffer
	if p := sk.t.cfg.Pool; p != nil && p.Size() >= len(data) {
		c = p.GetSize(len(data))
	} else if p := sk.t.cfg.LargePool; p != nil && p.Size() >= len(data) {
		c = p.GetSize(len(data))
	}
	if c == nil {
		return nil
	}
	copy(c.Put(len(data)), data)
	return c
}

// Msg is what packet_recvmsg returns besides the data.
type Msg struct {
	Name    Sockaddr
	Namelen int
	Flags   int
	// HasAuxdata: PACKET_AUXDATA was on.
	HasAuxdata bool
	Auxdata    Auxdata
	// Tstamp is when packet_rcv queued the frame (ns of the stack clock).
	Tstamp int64
	// Origlen is the frame's length before the filter cut it (tp_len).
	Origlen int
	// HasRxqOvfl: SO_RXQ_OVFL is on and the sampled drop count is non-zero.
	HasRxqOvfl bool
	RxqOvfl    uint32
}

// RecvOpts are recvmsg's flags and the blocking parameters.
type RecvOpts struct {
	Flags int
	// Timeo is the receive timeout in ns: 0 does not wait, < 0 waits
	// without limit.
	Timeo int64
	// Abort, if set, is checked on each wakeup: a non-zero negative
	// errno ends the wait with it.
	Abort func() int
	// Signals is Sock.Signals when the system call began: an Interrupt
	// since then ends a wait with EINTR, as a signal pending on the
	// task does, even one that came before the wait. 0 takes the count
	// when this receive begins.
	Signals uint64
}

// Recvmsg is packet_recvmsg: the next frame (or a peek at it), cut to
// len(p) with MSG_TRUNC set; the return value is the bytes copied, or
// the frame's length with MSG_TRUNC in the flags.
func (sk *Sock) Recvmsg(p []byte, o RecvOpts, m *Msg) int {
	flags := o.Flags
	if flags&^(MsgPeek|MsgDontwait|MsgTrunc|MsgCmsgComp|MsgErrqueue) != 0 {
		return -EINVAL
	}
	if flags&MsgErrqueue != 0 {
		// sock_recv_errqueue: nothing is ever queued there.
		return -EAGAIN
	}
	timeo := o.Timeo
	if flags&MsgDontwait != 0 {
		timeo = 0
	}
	qe, rc := sk.recvDatagram(flags&MsgPeek != 0, timeo, o.Abort, o.Signals)
	if rc < 0 {
		return rc
	}
	b, e := qe.b, qe.e
	data := b.Data()
	copied := len(data)
	m.Flags = 0
	if copied > len(p) {
		copied = len(p)
		m.Flags |= MsgTrunc
	}
	copy(p, data[:copied])
	m.Name = e.sll
	m.Name.Family = AFPacket
	m.Name.Protocol = e.protocol
	// msg_namelen: sll_halen + offsetof(sll_addr), at least the size of
	// struct sockaddr_ll.
	m.Namelen = max(int(e.sll.Halen)+12, SizeofSockaddrLL)
	m.Tstamp = e.tstamp
	m.Origlen = e.origlen
	m.HasRxqOvfl = sk.rxqOvfl.Load() && e.dropcnt != 0
	m.RxqOvfl = e.dropcnt
	m.HasAuxdata = sk.auxdata.Load()
	if m.HasAuxdata {
		a := Auxdata{Status: TPStatusUser, Len: uint32(e.origlen), Snaplen: uint32(len(data)),
			Net: uint16(e.net)}
		if e.summed == skb.ChecksumPartial {
			a.Status |= TPStatusCsumNotReady
		} else if e.pktType != PacketOutgoing && (e.summed == skb.ChecksumUnnecessary || e.summed == skb.ChecksumComplete) {
			a.Status |= TPStatusCsumValid
		}
		if e.vlan {
			a.VlanTCI = e.vlanTCI
			a.VlanTPID = wire.EthP8021Q
			a.Status |= TPStatusVlanValid | TPStatusVlanTPIDValid
		}
		m.Auxdata = a
	}
	rc = copied
	if flags&MsgTrunc != 0 {
		rc = len(data)
	}
	if flags&MsgPeek == 0 {
		sk.freeDatagram(b)
	}
	return rc
}

// recvDatagram is __skb_recv_datagram: take (or peek at) the head of
// the queue, waiting up to timeo ns for one; an Interrupt since signals
// (0: since now) ends the wait with EINTR.
func (sk *Sock) recvDatagram(peek bool, timeo int64, abort func() int, signals uint64) (queued, int) {
	if signals == 0 {
		signals = sk.Signals()
	}
	var timer <-chan time.Time
	if timeo > 0 {
		tm := time.NewTimer(time.Duration(timeo))
		defer tm.Stop()
		timer = tm.C
	}
	for {
		sk.mu.Lock()
		if len(sk.q) > 0 {
			qe := sk.q[0]
			if !peek {
				sk.q[0] = queued{}
				sk.q = sk.q[1:]
			}
			sk.mu.Unlock()
			return qe, 0
		}
		if sk.closed {
			sk.mu.Unlock()
			return queued{}, -EBADF
		}
		if timeo == 0 {
			sk.mu.Unlock()
			return queued{}, -EAGAIN
		}
		if sk.signals != signals {
			sk.mu.Unlock()
			return queued{}, -EINTR
		}
		if sk.wake == nil {
			sk.wake = make(chan struct{})
		}
		wake := sk.wake
		sk.mu.Unlock()
		select {
		case <-wake:
		case <-timer:
			return queued{}, -EAGAIN
		}
		if abort != nil {
			if rc := abort(); rc < 0 {
				return queued{}, rc
			}
		}
	}
}

// freeDatagram is skb_free_datagram: the copy goes back to its pool and
// its truesize leaves the receive buffer (sock_rfree).
func (sk *Sock) freeDatagram(b *skb.Buffer) {
	sk.rmem.Add(-int64(b.Truesize))
	b.Free()
}

// Inq is SIOCINQ for a packet socket: the length of the frame at the
// head of the queue (packet_ioctl), 0 when empty.
func (sk *Sock) Inq() int {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if len(sk.q) == 0 {
		return 0
	}
	return sk.q[0].b.Len()
}

// Readable reports whether a frame is queued (packet_poll's EPOLLIN).
func (sk *Sock) Readable() bool {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	return len(sk.q) > 0
}

// Interrupt is the analogue of a signal without SA_RESTART: every
// receive in progress that waits, or would, returns EINTR.
func (sk *Sock) Interrupt() {
	sk.mu.Lock()
	sk.signals++
	if sk.wake != nil {
		close(sk.wake)
		sk.wake = nil
	}
	sk.mu.Unlock()
}

// Signals returns how many Interrupt calls the socket has had (from 1),
// for a system call to take when it begins (RecvOpts.Signals).
func (sk *Sock) Signals() uint64 {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	return sk.signals
}

// WakeAll wakes every blocked receive, to look at its abort condition.
func (sk *Sock) WakeAll() {
	sk.mu.Lock()
	sk.dataReady()
	sk.mu.Unlock()
}

// Release is packet_release: the hook goes, then the queue is purged.
func (sk *Sock) Release() {
	sk.bindMu.Lock()
	if sk.running {
		sk.t.unregisterProtHook(sk)
	}
	sk.bindMu.Unlock()
	sk.mu.Lock()
	sk.closed = true
	q := sk.q
	sk.q = nil
	sk.dataReady()
	sk.mu.Unlock()
	for _, qe := range q {
		sk.freeDatagram(qe.b)
	}
	sk.t.mu.Lock()
	sk.t.inuse--
	sk.t.mu.Unlock()
}

// Statistics is getsockopt(PACKET_STATISTICS): the counts since the
// last read, which it resets; tp_packets includes the drops.
func (sk *Sock) Statistics() Stats {
	sk.mu.Lock()
	st := Stats{Packets: sk.packets}
	sk.packets = 0
	sk.mu.Unlock()
	drops := sk.tpDrops.Swap(0)
	st.Drops = drops
	st.Packets += drops
	return st
}

// Drops returns sk_drops (SO_RXQ_OVFL's count, /proc/net/packet has none).
func (sk *Sock) Drops() uint32 { return sk.skDrops.Load() }

// RmemAlloc returns sk_rmem_alloc.
func (sk *Sock) RmemAlloc() int { return int(sk.rmem.Load()) }

// SetRcvbuf is SO_RCVBUF (__sock_set_rcvbuf): clamped to rmem_max,
// doubled, at least SOCK_MIN_RCVBUF.
func (sk *Sock) SetRcvbuf(v int32) {
	val := min(int64(uint32(v)), RmemMax)
	sk.rcvbuf.Store(max(val*2, SockMinRcvbuf))
}

// Rcvbuf returns sk_rcvbuf.
func (sk *Sock) Rcvbuf() int { return int(sk.rcvbuf.Load()) }

// SetAuxdata sets PACKET_AUXDATA.
func (sk *Sock) SetAuxdata(on bool) { sk.auxdata.Store(on) }

// Auxdata reports PACKET_AUXDATA.
func (sk *Sock) Auxdata() bool { return sk.auxdata.Load() }

// SetOrigdev sets PACKET_ORIGDEV (without VLAN devices orig_dev is dev).
func (sk *Sock) SetOrigdev(on bool) { sk.origdev.Store(on) }

// Origdev reports PACKET_ORIGDEV.
func (sk *Sock) Origdev() bool { return sk.origdev.Load() }

// SetIgnoreOutgoing sets PACKET_IGNORE_OUTGOING: transmitted frames are
// not delivered to the socket (skb_loop_sk's ignore_outgoing test).
func (sk *Sock) SetIgnoreOutgoing(on bool) { sk.ignoreOutgoing.Store(on) }

// IgnoreOutgoing reports PACKET_IGNORE_OUTGOING.
func (sk *Sock) IgnoreOutgoing() bool { return sk.ignoreOutgoing.Load() }

// SetRxqOvfl sets SO_RXQ_OVFL.
func (sk *Sock) SetRxqOvfl(on bool) { sk.rxqOvfl.Store(on) }

// RxqOvfl reports SO_RXQ_OVFL.
func (sk *Sock) RxqOvfl() bool { return sk.rxqOvfl.Load() }

// SetFilter attaches f (nil detaches), as SO_ATTACH_FILTER and
// SO_DETACH_FILTER do with a program.
func (sk *Sock) SetFilter(f Filter) {
	if f == nil {
		sk.filter.Store(nil)
		return
	}
	sk.filter.Store(&f)
}

// Sendmsg is packet_sendmsg → packet_snd: to nil sends on the bound
// device with the socket's protocol. SOCK_RAW sends p as the whole
// frame; SOCK_DGRAM puts an Ethernet header before p, addressed to
// to.Addr, with EtherType to.Protocol. It returns len(p) once the frame
// is handed to dev_queue_xmit.
func (sk *Sock) Sendmsg(p []byte, to *Sockaddr) int {
	var d *ether.Device
	var proto uint16
	var addr []byte
	if to == nil {
		sk.bindMu.Lock()
		proto = sk.num
		ifindex := sk.ifindex
		sk.bindMu.Unlock()
		if ifindex != 0 {
			d = sk.t.cfg.Net.GetByIndex(ifindex)
		}
	} else {
		proto = to.Protocol
		if to.Ifindex != 0 {
			d = sk.t.cfg.Net.GetByIndex(int(to.Ifindex))
		}
		if sk.typ == SockDgram {
			addr = to.Addr[:6]
		}
	}
	if d == nil {
		return -ENXIO
	}
	reserve := 0
	if sk.typ == SockRaw {
		reserve = d.HardHeaderLen()
	}
	n := len(p)
	if n > d.MTU+reserve+vlanHLen {
		return -EMSGSIZE
	}
	hh := d.HardHeaderLen()
	size := d.Headroom + hh + n
	var b *skb.Buffer
	if pl := sk.t.cfg.Pool; pl != nil && pl.Size() >= size {
		b = pl.Get()
	} else if pl := sk.t.cfg.LargePool; pl != nil && pl.Size() >= size {
		b = pl.GetSize(size)
	}
	if b == nil {
		return -ENOBUFS
	}
	b.Reserve(d.Headroom + hh)
	b.Network = b.DataOffset() // skb_reset_network_header
	if sk.typ == SockDgram {
		copy(b.Put(n), p)
		if !ethHeader(b, d, Htons(proto), addr, n) {
			b.Free()
			return -EINVAL
		}
	} else {
		b.Push(reserve)
		b.SetData(b.DataOffset(), 0)
		copy(b.Put(n), p)
		// dev_validate_header: no shorter than the Ethernet header.
		if n < hh {
			b.Free()
			return -EINVAL
		}
	}
	b.MAC = b.DataOffset()
	if n > d.MTU+reserve && !extraVlanLenAllowed(d, b) {
		b.Free()
		return -EMSGSIZE
	}
	b.Protocol = Htons(proto)
	// packet_parse_headers: a raw frame sent without a protocol takes
	// the one its Ethernet header names.
	if sk.typ == SockRaw && (proto == 0 || proto == Htons(EthPAll)) {
		b.Protocol = wire.Eth(b.Data()).Type()
	}
	b.Sk = sk
	if err := d.Xmit(b); err != nil {
		return -ENOBUFS // net_xmit_errno(NET_XMIT_DROP)
	}
	sk.t.cfg.Net.DoSoftirq()
	return n
}

// ethHeader is dev_hard_header → eth_header: push the Ethernet header
// for EtherType typ (a length for the 802.3 and 802.2 pseudo-types)
// from the device's address to daddr; lo's destination is zero. It
// fails without a destination.
func ethHeader(b *skb.Buffer, d *ether.Device, typ uint16, daddr []byte, n int) bool {
	h := b.Push(wire.EthHLen)
	if h == nil {
		return false
	}
	if typ != wire.EthP8023 && typ != wire.EthP8022 {
		h[12], h[13] = byte(typ>>8), byte(typ)
	} else {
		h[12], h[13] = byte(n>>8), byte(n)
	}
	copy(h[6:12], d.MAC[:])
	if d.Flags&(ether.IffLoopback|ether.IffNoarp) != 0 {
		clear(h[0:6])
		return true
	}
	if daddr == nil {
		return false
	}
	copy(h[0:6], daddr)
	return true
}

// extraVlanLenAllowed is packet_extra_vlan_len_allowed: a frame up to
// VLAN_HLEN over the MTU passes when it is 802.1Q-tagged on Ethernet.
func extraVlanLenAllowed(d *ether.Device, b *skb.Buffer) bool {
	if d.Type() != 1 {
		return false
	}
	return wire.Eth(b.Data()).Type() == wire.EthP8021Q
}
