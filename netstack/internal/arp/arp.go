// Package arp is IPv4 address resolution for the Ethernet device:
// arp_rcv/arp_process (net/ipv4/arp.c) answering requests for our
// addresses, and a neighbour table (net/core/neighbour.c) that resolves
// next hops for transmit, holds a bounded queue of packets while a
// resolution is in flight, and ages entries.
//
// Neighbour states follow NUD_INCOMPLETE, REACHABLE, STALE, DELAY, PROBE
// and FAILED with arp_tbl's defaults: 3 broadcast solicitations 1 s apart
// (mcast_solicit), reachable_time randomised in [15 s, 45 s), 5 s
// delay_first_probe_time, 3 unicast probes (ucast_solicit), and a pending
// queue bounded in bytes of truesize (unres_qlen_bytes = 212992 =
// SK_WMEM_MAX) that drops its oldest packet when full
// (NEIGH_QUEUEFULL, counted in UnresDiscards). Simplifications: no
// locktime (the latest reply wins), no proxy ARP, arp_accept=0,
// arp_ignore=0, arp_announce=0; packets queued on an entry that fails
// are dropped with NEIGH_FAILED, without the local ICMP host-unreachable
// Linux loops back to the sender.
package arp

import (
	"sync"
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/netstack/internal/clock"
	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// NUD states (include/net/neighbour.h).
const (
	NudIncomplete = 0x01
	NudReachable  = 0x02
	NudStale      = 0x04
	NudDelay      = 0x08
	NudProbe      = 0x10
	NudFailed     = 0x20
)

// Defaults of arp_tbl (net/ipv4/arp.c), in ns.
const (
	BaseReachableTime = 30e9
	RetransTime       = 1e9
	DelayProbeTime    = 5e9
	McastSolicit      = 3
	UcastSolicit      = 3
	QueueLenBytes     = 212992
	maxEntries        = 256
)

// Config wires the table to the rest of the stack.
type Config struct {
	Dev   *ether.Device
	MIB   *mib.MIB
	Clock *clock.Clock
	// Pool supplies frames for requests and replies.
	Pool *skb.Pool
	// Rand returns random numbers (reachable_time randomisation).
	Rand func() uint32
	// Addr returns the device's primary IPv4 address (the source of
	// solicitations when the queued packet's source is not ours).
	Addr func() wire.Addr
	// IsLocal reports inet_addr_type(addr) == RTN_LOCAL.
	IsLocal func(wire.Addr) bool
	// RouteLocal runs ip_route_input(tip, sip) and reports whether the
	// route is RTN_LOCAL (arp_process's test before replying).
	RouteLocal func(tip, sip wire.Addr) bool
	// QueueLenBytes overrides unres_qlen_bytes when > 0.
	QueueLenBytes int
}

// Stats are the neighbour-cache counters (/proc/net/stat/arp_cache).
type Stats struct {
	Lookups       atomic.Uint64
	Hits          atomic.Uint64
	ResFailed     atomic.Uint64
	UnresDiscards atomic.Uint64
	RcvProbesMc   atomic.Uint64
	RcvProbesUc   atomic.Uint64
	Allocs        atomic.Uint64
	Destroys      atomic.Uint64
	RepliesSent   atomic.Uint64
	RequestsSent  atomic.Uint64
}

// neighbour is struct neighbour. t, ip and timer are fixed at alloc;
// the rest is under the table's lock (t.mu; checklocks cannot follow
// the back pointer, so it is not annotated).
type neighbour struct {
	t         *Table
	ip        wire.Addr
	ha        wire.MAC
	state     uint8
	probes    int
	confirmed int64
	used      int64
	queue     skb.Queue
	qbytes    int
	timer     *clock.Timer
	srcHint   wire.Addr
	dead      bool
}

// Table is the ARP neighbour table of one device.
type Table struct {
	cfg  Config
	qlim int // +checklocksignore: fixed at New
	mu   sync.Mutex
	// +checklocks:mu
	tbl map[wire.Addr]*neighbour
	// +checklocks:mu
	reach int64 // current randomised reachable_time
	Stats Stats
}

// New returns an empty table.
func New(cfg Config) *Table {
	t := &Table{cfg: cfg, qlim: QueueLenBytes, tbl: make(map[wire.Addr]*neighbour)}
	if cfg.QueueLenBytes > 0 {
		t.qlim = cfg.QueueLenBytes
	}
	t.reach = t.randomReachable()
	return t
}

// randomReachable is neigh_rand_reach_time: uniform in [base/2, 3base/2).
func (t *Table) randomReachable() int64 {
	r := int64(0)
	if t.cfg.Rand != nil {
		r = int64(t.cfg.Rand()) % BaseReachableTime
	}
	return BaseReachableTime/2 + r
}

// Rcv is the ETH_P_ARP handler (arp_rcv → arp_process). It owns b.
func (t *Table) Rcv(b *skb.Buffer) {
	m := t.cfg.MIB
	if b.PktType == skb.PacketOtherHost {
		m.ConsumeSkb(b)
		return
	}
	p := b.Data()
	if len(p) < wire.ARPEtherIPv4Len {
		m.KfreeSkbReason(b, mib.DropPktTooSmall)
		return
	}
	a := wire.ARP(p)
	if a.HLen() != 6 || a.PLen() != 4 {
		m.KfreeSkbReason(b, mib.DropNotSpecified)
		return
	}
	t.arpProcess(b, a)
}

// arpProcess mirrors net/ipv4/arp.c: arp_process for an Ethernet device.
func (t *Table) arpProcess(b *skb.Buffer, a wire.ARP) {
	m := t.cfg.MIB
	if (a.HType() != wire.ARPHrdEther && a.HType() != wire.ARPHrdIEEE802) || a.PType() != wire.EthPIP {
		m.ConsumeSkb(b)
		return
	}
	op := a.Op()
	if op != wire.ARPOpRequest && op != wire.ARPOpReply {
		m.ConsumeSkb(b)
		return
	}
	sha, sip, tha, tip := a.SHA(), a.SPA(), a.THA(), a.TPA()
	_ = tha
	if tip.IsMulticast() || tip.IsLoopback() {
		m.ConsumeSkb(b)
		return
	}
	if sip == 0 {
		// RFC 2131 duplicate address detection probe.
		if op == wire.ARPOpRequest && t.cfg.IsLocal(tip) {
			t.send(wire.ARPOpReply, sip, sha, tip, sha)
		}
		m.ConsumeSkb(b)
		return
	}
	if op == wire.ARPOpRequest && t.cfg.RouteLocal(tip, sip) {
		if b.PktType == skb.PacketHost {
			t.Stats.RcvProbesUc.Add(1)
		} else {
			t.Stats.RcvProbesMc.Add(1)
		}
		// neigh_event_ns: learn the requester as STALE, then reply.
		t.update(sip, sha, NudStale, true)
		t.send(wire.ARPOpReply, sip, sha, tip, sha)
		m.ConsumeSkb(b)
		return
	}
	// Replies (and other requests) only refresh existing entries.
	state := uint8(NudReachable)
	if op != wire.ARPOpReply || b.PktType != skb.PacketHost {
		state = NudStale
	}
	t.update(sip, sha, state, false)
	m.ConsumeSkb(b)
}

// update is neigh_update: record ha for ip in state, creating the entry
// only if create. Packets waiting for the address are sent.
func (t *Table) update(ip wire.Addr, ha wire.MAC, state uint8, create bool) {
	now := t.cfg.Clock.Now()
	t.mu.Lock()
	n := t.tbl[ip]
	if n == nil {
		if !create {
			t.mu.Unlock()
			return
		}
		n = t.allocLocked(ip)
		if n == nil {
			t.mu.Unlock()
			return
		}
	}
	changed := n.ha != ha
	n.ha = ha
	if state == NudReachable {
		n.confirmed = now
		n.state = NudReachable
		n.probes = 0
		t.cfg.Clock.Mod(n.timer, now+t.reach)
	} else if n.state&(NudIncomplete|NudFailed) != 0 || changed || n.state == 0 {
		n.state = NudStale
		n.probes = 0
		t.cfg.Clock.Del(n.timer)
	}
	var q skb.Queue
	q.SpliceTailInit(&n.queue)
	n.qbytes = 0
	t.mu.Unlock()
	for x := q.PopFront(); x != nil; x = q.PopFront() {
		// The queue goes out as one batch: one notification of
		// the device for all of it.
		x.XmitMore = !q.Empty()
		t.xmit(x, ha)
	}
}

// allocLocked creates an entry. When the table is full it evicts a
// STALE entry with nothing queued (neigh_forced_gc).
//
// +checklocks:t.mu
func (t *Table) allocLocked(ip wire.Addr) *neighbour {
	if len(t.tbl) >= maxEntries {
		var victim *neighbour
		for _, n := range t.tbl {
			if n.state&(NudStale|NudFailed) != 0 && n.queue.Empty() && (victim == nil || n.used < victim.used) {
				victim = n
			}
		}
		if victim == nil {
			return nil
		}
		t.destroyLocked(victim)
	}
	n := &neighbour{t: t, ip: ip}
	n.timer = clock.NewTimer(n.timerHandler)
	t.tbl[ip] = n
	t.Stats.Allocs.Add(1)
	return n
}

// destroyLocked removes n and frees its queue.
//
// +checklocks:t.mu
func (t *Table) destroyLocked(n *neighbour) {
	n.dead = true
	t.cfg.Clock.Del(n.timer)
	delete(t.tbl, n.ip)
	for x := n.queue.PopFront(); x != nil; x = n.queue.PopFront() {
		t.cfg.MIB.KfreeSkbReason(x, mib.DropNeighFailed)
	}
	n.qbytes = 0
	t.Stats.Destroys.Add(1)
}

// Output sends the IPv4 packet b (b.Data() at the IP header, Ethernet
// headroom available) to the on-link next hop nh, resolving it first if
// needed (neigh_output / neigh_resolve_output / __neigh_event_send). src
// is the packet's source, used as the solicitation's sender address when
// it is ours. It owns b.
func (t *Table) Output(b *skb.Buffer, nh, src wire.Addr) error {
	now := t.cfg.Clock.Now()
	t.Stats.Lookups.Add(1)
	t.mu.Lock()
	n := t.tbl[nh]
	if n != nil && n.state&(NudReachable|NudStale|NudDelay|NudProbe) != 0 {
		n.used = now
		ha := n.ha
		if n.state == NudStale {
			n.state = NudDelay
			t.cfg.Clock.Mod(n.timer, now+DelayProbeTime)
		}
		t.mu.Unlock()
		t.Stats.Hits.Add(1)
		return t.xmit(b, ha)
	}
	if n == nil {
		n = t.allocLocked(nh)
		if n == nil {
			t.mu.Unlock()
			t.cfg.MIB.KfreeSkbReason(b, mib.DropNeighFailed)
			return errNoBufs
		}
	}
	send := false
	if n.state == 0 || n.state == NudFailed {
		n.state = NudIncomplete
		n.probes = 0
		n.srcHint = src
		send = true
		t.cfg.Clock.Mod(n.timer, now+RetransTime)
	}
	n.used = now
	for n.qbytes+b.Truesize > t.qlim {
		old := n.queue.PopFront()
		if old == nil {
			break
		}
		n.qbytes -= old.Truesize
		t.Stats.UnresDiscards.Add(1)
		t.cfg.MIB.KfreeSkbReason(old, mib.DropNeighQueueFull)
	}
	n.queue.PushBack(b)
	n.qbytes += b.Truesize
	hint := n.srcHint
	if send {
		n.probes++
	}
	t.mu.Unlock()
	if send {
		t.solicit(nh, hint, wire.MAC{}, true)
	}
	return nil
}

// timerHandler is neigh_timer_handler.
func (n *neighbour) timerHandler() {
	t := n.t
	now := t.cfg.Clock.Now()
	t.mu.Lock()
	if n.dead {
		t.mu.Unlock()
		return
	}
	var probe, bcast bool
	switch n.state {
	case NudReachable:
		if now-n.used <= DelayProbeTime {
			n.state = NudDelay
			t.cfg.Clock.Mod(n.timer, now+DelayProbeTime)
		} else {
			n.state = NudStale
		}
	case NudDelay:
		if now-n.confirmed <= DelayProbeTime {
			n.state = NudReachable
			t.cfg.Clock.Mod(n.timer, n.confirmed+t.reach)
		} else {
			n.state = NudProbe
			n.probes = 0
		}
	}
	if n.state&(NudIncomplete|NudProbe) != 0 {
		max := McastSolicit
		if n.state == NudProbe {
			max = UcastSolicit
		}
		if n.probes >= max {
			n.state = NudFailed
			t.Stats.ResFailed.Add(1)
			t.destroyLocked(n)
			t.mu.Unlock()
			return
		}
		n.probes++
		probe = true
		bcast = n.state == NudIncomplete
		t.cfg.Clock.Mod(n.timer, now+RetransTime)
	}
	ip, ha, hint := n.ip, n.ha, n.srcHint
	t.mu.Unlock()
	if probe {
		t.solicit(ip, hint, ha, bcast)
	}
}

// solicit sends a request for ip (arp_solicit).
func (t *Table) solicit(ip, src wire.Addr, ha wire.MAC, bcast bool) {
	if src == 0 || !t.cfg.IsLocal(src) {
		src = t.cfg.Addr()
	}
	dst := wire.BroadcastMAC
	if !bcast {
		dst = ha
	}
	t.sendTo(dst, wire.ARPOpRequest, ip, wire.MAC{}, src)
}

// Announce sends a gratuitous ARP request for ip (arp_send of
// ARPOP_REQUEST with sender = target = ip), as Linux does when an address
// comes up.
func (t *Table) Announce(ip wire.Addr) {
	t.sendTo(wire.BroadcastMAC, wire.ARPOpRequest, ip, wire.MAC{}, ip)
}

// send builds an ARP packet to Ethernet destination ethDst
// (arp_send_dst(type, ETH_P_ARP, dest_ip, dev, src_ip, dest_hw, ...)).
func (t *Table) send(op uint16, destIP wire.Addr, ethDst wire.MAC, srcIP wire.Addr, tha wire.MAC) {
	t.sendTo(ethDst, op, destIP, tha, srcIP)
}

func (t *Table) sendTo(ethDst wire.MAC, op uint16, tip wire.Addr, tha wire.MAC, sip wire.Addr) {
	d := t.cfg.Dev
	b := t.cfg.Pool.Get()
	if b == nil {
		return
	}
	b.Reserve(d.Headroom)
	p := b.Put(wire.EthHLen + wire.ARPEtherIPv4Len)
	if p == nil {
		b.Free()
		return
	}
	wire.PutEth(p, ethDst, d.MAC, wire.EthPARP)
	wire.PutARP(p[wire.EthHLen:], op, d.MAC, sip, tha, tip)
	// arp_create: the network header and protocol the taps report.
	b.MAC = b.DataOffset()
	b.Network = b.DataOffset() + wire.EthHLen
	b.Protocol = wire.EthPARP
	if op == wire.ARPOpReply {
		t.Stats.RepliesSent.Add(1)
	} else {
		t.Stats.RequestsSent.Add(1)
	}
	d.Xmit(b)
}

// xmit pushes the Ethernet header and hands b to the device.
func (t *Table) xmit(b *skb.Buffer, ha wire.MAC) error {
	return XmitTo(t.cfg.Dev, b, ha)
}

// XmitTo pushes an Ethernet header addressed to ha onto the IPv4 packet
// b and transmits it (neigh_hh_output for a resolved or NOARP neighbour:
// broadcast and multicast next hops need no resolution).
func XmitTo(d *ether.Device, b *skb.Buffer, ha wire.MAC) error {
	h := b.Push(wire.EthHLen)
	if h == nil {
		b.Free()
		return errNoBufs
	}
	wire.PutEth(h, ha, d.MAC, wire.EthPIP)
	b.MAC = b.DataOffset()
	b.Protocol = wire.EthPIP // ip_output
	return d.Xmit(b)
}

// Lookup returns the entry for ip: its address, NUD state, and whether it
// exists (for tests and the stats service).
func (t *Table) Lookup(ip wire.Addr) (wire.MAC, uint8, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.tbl[ip]
	if n == nil {
		return wire.MAC{}, 0, false
	}
	return n.ha, n.state, true
}

// Queued returns how many packets wait for ip to resolve.
func (t *Table) Queued(ip wire.Addr) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := t.tbl[ip]; n != nil {
		return n.queue.Len()
	}
	return 0
}

// Flush removes every entry, dropping queued packets (neigh_ifdown).
func (t *Table) Flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.tbl {
		t.destroyLocked(n)
	}
}

type errno string

// Error implements error.
func (e errno) Error() string { return string(e) }

const errNoBufs = errno("arp: no buffer space")
