package ipv4

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/clock"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Fragment queue flags (INET_FRAG_*).
const (
	fragFirstIn  = 1
	fragLastIn   = 2
	fragComplete = 4
	fragDrop     = 16
)

// ipqSize is the memory charged per queue on top of the fragments'
// truesize (sizeof(struct ipq) on x86_64).
const ipqSize = 192

// fragKey is struct frag_v4_compare_key.
type fragKey struct {
	saddr, daddr wire.Addr
	user         uint32
	vif          int32
	id           uint16
	protocol     uint8
}

// ipq is struct ipq / inet_frag_queue. Fragments are kept as Linux's
// rbtree of runs: heads holds the run heads sorted by offset, each with
// CB.FragRunLen and its followers linked by CB.NextFrag.
type ipq struct {
	key         fragKey
	flags       uint8
	len, meat   int
	heads       []*skb.Buffer
	tail        *skb.Buffer // fragments_tail
	lastRunHead *skb.Buffer
	mem         int
	timer       *clock.Timer
	ecn         uint8
	maxSize     int
	maxDFSize   int
	iif         int
	rid         uint32
	peer        *inetPeer
	dead        bool
}

// fqdir is struct fqdir: the namespace's reassembly queues and memory.
type fqdir struct {
	ip  *IPv4
	q   map[fragKey]*ipq
	mem int
}

func (f *fqdir) init(ip *IPv4) {
	f.ip = ip
	f.q = make(map[fragKey]*ipq)
}

// FragMem returns the reassembly memory in use (frag_mem_limit) and the
// number of queues (/proc/net/sockstat "FRAG: inuse N memory M").
func (ip *IPv4) FragMem() (queues, mem int) { return len(ip.frags.q), ip.frags.mem }

// ipDefrag mirrors ip_fragment.c: ip_defrag for IP_DEFRAG_LOCAL_DELIVER.
// It returns the reassembled datagram, or nil when b was queued or
// dropped.
func (ip *IPv4) ipDefrag(b *skb.Buffer) *skb.Buffer {
	ip.mib.IPInc(mib.IpReasmReqds)
	b.Sk = nil
	q := ip.ipFind(wire.IPv4(b.Data()))
	if q == nil {
		ip.mib.IPInc(mib.IpReasmFails)
		ip.mib.KfreeSkbReason(b, mib.DropNotSpecified)
		return nil
	}
	return ip.ipFragQueue(q, b)
}

// ipFind mirrors ip_find → inet_frag_find: the high threshold is checked
// before the lookup, so even a fragment completing an existing queue is
// refused while memory is over it.
func (ip *IPv4) ipFind(h wire.IPv4) *ipq {
	f := &ip.frags
	if ip.Sysctl.IpfragHighThresh == 0 || f.mem > ip.Sysctl.IpfragHighThresh {
		return nil
	}
	k := fragKey{saddr: h.Src(), daddr: h.Dst(), id: h.ID(), protocol: h.Protocol()}
	if q := f.q[k]; q != nil {
		return q
	}
	// inet_frag_create: the timer is armed once, here.
	q := &ipq{key: k}
	if ip.Sysctl.IpfragMaxDist > 0 {
		q.peer = ip.inetGetpeer(k.saddr)
	}
	q.timer = clock.NewTimer(func() { ip.ipExpire(q) })
	f.mem += ipqSize
	f.q[k] = q
	ip.clk.Mod(q.timer, ip.clk.Now()+ip.Sysctl.IpfragTime)
	return q
}

// ipqKill unhashes q and stops its timer (ipq_kill → inet_frag_kill). The
// queued fragments are freed as consumed, and the memory returned.
func (ip *IPv4) ipqKill(q *ipq) {
	if q.dead {
		return
	}
	q.dead = true
	q.flags |= fragComplete
	ip.clk.Del(q.timer)
	delete(ip.frags.q, q.key)
	ip.fragPurge(q, false, mib.DropNotSpecified)
	ip.frags.mem -= ipqSize
	ip.inetPutpeer(q.peer)
	q.peer = nil
}

// fragPurge frees every fragment of q (inet_frag_rbtree_purge).
func (ip *IPv4) fragPurge(q *ipq, drop bool, r mib.DropReason) {
	for _, h := range q.heads {
		for x := h; x != nil; {
			n := x.CB.NextFrag
			x.CB.NextFrag = nil
			if drop {
				ip.mib.KfreeSkbReason(x, r)
			} else {
				ip.mib.ConsumeSkb(x)
			}
			x = n
		}
	}
	ip.frags.mem -= q.mem
	q.mem = 0
	q.heads = q.heads[:0]
	q.tail = nil
	q.lastRunHead = nil
}

// ipFragTooFar mirrors ip_fragment.c: ip_frag_too_far.
func (ip *IPv4) ipFragTooFar(q *ipq) bool {
	max := ip.Sysctl.IpfragMaxDist
	if q.peer == nil || max == 0 {
		return false
	}
	start := q.rid
	q.peer.rid++
	end := q.peer.rid
	q.rid = end
	if q.tail != nil && end-start > max {
		ip.mib.IPInc(mib.IpReasmFails)
		return true
	}
	return false
}

// ipFragReinit mirrors ip_fragment.c: ip_frag_reinit. It reports false
// if the timer had already fired (the queue is then killed).
func (ip *IPv4) ipFragReinit(q *ipq) bool {
	if !ip.clk.Mod(q.timer, ip.clk.Now()+ip.Sysctl.IpfragTime) {
		return false
	}
	ip.fragPurge(q, true, mib.DropFragTooFar)
	q.flags = 0
	q.len = 0
	q.meat = 0
	q.iif = 0
	q.ecn = 0
	return true
}

// ipFragQueue mirrors ip_fragment.c: ip_frag_queue.
func (ip *IPv4) ipFragQueue(q *ipq, b *skb.Buffer) *skb.Buffer {
	m := ip.mib
	if q.flags&fragComplete != 0 {
		m.KfreeSkbReason(b, mib.DropDupFrag)
		return nil
	}
	if ip.ipFragTooFar(q) && !ip.ipFragReinit(q) {
		ip.ipqKill(q)
		m.KfreeSkbReason(b, mib.DropNotSpecified)
		return nil
	}
	h := wire.IPv4(b.Data())
	ecn := uint8(1) << (h.TOS() & wire.ECNMask)
	fo := h.FragOff()
	offset := int(fo&wire.IPOffset) << 3
	ihl := h.HeaderLen()
	end := offset + b.Len() - ihl

	if fo&wire.IPFlagMF == 0 {
		if end < q.len || (q.flags&fragLastIn != 0 && end != q.len) {
			return ip.discardQp(q, b)
		}
		q.flags |= fragLastIn
		q.len = end
	} else {
		if end&7 != 0 {
			end &^= 7
			if b.IPSummed != skb.ChecksumUnnecessary {
				b.IPSummed = skb.ChecksumNone
			}
		}
		if end > q.len {
			if q.flags&fragLastIn != 0 {
				return ip.discardQp(q, b)
			}
			q.len = end
		}
	}
	if end == offset {
		return ip.discardQp(q, b)
	}
	b.Pull(ihl)
	b.Trim(end - offset)

	switch ip.inetFragQueueInsert(q, b, offset, end) {
	case ipfragDup:
		m.KfreeSkbReason(b, mib.DropDupFrag)
		return nil
	case ipfragOverlap:
		m.IPInc(mib.IpExtReasmOverlaps)
		return ip.discardQp(q, b)
	}
	q.iif = b.Ifindex
	q.meat += b.Len()
	q.ecn |= ecn
	q.mem += b.Truesize
	ip.frags.mem += b.Truesize
	if offset == 0 {
		q.flags |= fragFirstIn
	}
	fragsize := b.Len() + ihl
	if fragsize > q.maxSize {
		q.maxSize = fragsize
	}
	if fo&wire.IPFlagDF != 0 && fragsize > q.maxDFSize {
		q.maxDFSize = fragsize
	}
	if q.flags == fragFirstIn|fragLastIn && q.meat == q.len {
		r := ip.ipFragReasm(q, b)
		if r == nil {
			ip.ipqKill(q)
		}
		return r
	}
	return nil
}

// discardQp is ip_frag_queue's discard_qp label: kill the queue, count a
// failure, drop the fragment.
func (ip *IPv4) discardQp(q *ipq, b *skb.Buffer) *skb.Buffer {
	ip.ipqKill(q)
	ip.mib.IPInc(mib.IpReasmFails)
	ip.mib.KfreeSkbReason(b, mib.DropNotSpecified)
	return nil
}

const (
	ipfragOK = iota
	ipfragDup
	ipfragOverlap
)

// inetFragQueueInsert mirrors inet_fragment.c: inet_frag_queue_insert
// (RFC 5722 overlap policy, duplicates of a whole run ignored).
func (ip *IPv4) inetFragQueueInsert(q *ipq, b *skb.Buffer, offset, end int) int {
	b.CB.FragOffset = offset
	b.CB.NextFrag = nil
	b.CB.FragRunLen = b.Len()
	b.CB.FragRunEnd = b
	last := q.tail
	switch {
	case last == nil:
		q.heads = append(q.heads, b)
		q.tail, q.lastRunHead = b, b
	case last.CB.FragOffset+last.Len() < end:
		lastEnd := last.CB.FragOffset + last.Len()
		if offset < lastEnd {
			return ipfragOverlap
		}
		if offset == lastEnd {
			h := q.lastRunHead
			h.CB.FragRunLen += b.Len()
			h.CB.FragRunEnd.CB.NextFrag = b
			h.CB.FragRunEnd = b
			q.tail = b
		} else {
			q.heads = append(q.heads, b)
			q.tail, q.lastRunHead = b, b
		}
	default:
		at := len(q.heads)
		for i, h := range q.heads {
			runEnd := h.CB.FragOffset + h.CB.FragRunLen
			if end <= h.CB.FragOffset {
				at = i
				break
			}
			if offset >= runEnd {
				continue
			}
			if offset >= h.CB.FragOffset && end <= runEnd {
				return ipfragDup
			}
			return ipfragOverlap
		}
		q.heads = append(q.heads, nil)
		copy(q.heads[at+1:], q.heads[at:])
		q.heads[at] = b
	}
	return ipfragOK
}

// ipFragEcnTable is inet_fragment.c's ip_frag_ecn_table.
func ipFragEcnTable(ecn uint8) (uint8, bool) {
	const notECT, ect1, ect0, ce = 1, 2, 4, 8
	if ecn&notECT != 0 && ecn&(ect1|ect0|ce) != 0 {
		return 0, false
	}
	if ecn&ce != 0 && ecn&(ect0|ect1) != 0 {
		return wire.ECNCE, true
	}
	return 0, true
}

// ipFragReasm mirrors ip_fragment.c: ip_frag_reasm. The datagram is
// copied into one buffer (a frame if it fits, else one from the large
// pool, which on an arena is a block just large enough, so that memory
// rather than a count of buffers bounds reassembly, as in Linux, where
// the fragments themselves become the datagram); its truesize is the sum
// of the fragments' truesize, as Linux
// charges a reassembled skb. The offset-0 fragment supplies the IP header
// and packet metadata; the route is the last fragment's, as in Linux where
// the last fragment becomes the head and keeps its dst. It returns nil on
// failure (ReasmFails counted; the caller kills the queue).
func (ip *IPv4) ipFragReasm(q *ipq, last *skb.Buffer) *skb.Buffer {
	m := ip.mib
	delete(ip.frags.q, q.key)
	ip.clk.Del(q.timer)
	ecn, ok := ipFragEcnTable(q.ecn)
	if !ok {
		m.IPInc(mib.IpReasmFails)
		return nil
	}
	first := q.heads[0]
	hdr := first.NetworkHeader()
	ihl := wire.IPv4(hdr).HeaderLen()
	total := ihl + q.len
	if total > wire.IPMaxLen {
		m.IPInc(mib.IpReasmFails)
		return nil
	}
	need := ip.dev.Headroom + wire.EthHLen + total
	pool := ip.cfg.FramePool
	if need > pool.Size() {
		pool = ip.cfg.LargePool
	}
	var r *skb.Buffer
	if pool != nil {
		r = pool.GetSize(need) // out_nomem when memory is exhausted
	}
	if r == nil {
		m.IPInc(mib.IpReasmFails)
		return nil
	}
	r.Reserve(ip.dev.Headroom + wire.EthHLen)
	r.CopyMeta(first)
	r.Rt = last.Rt
	// inet_frag_reasm_finish: head->tstamp = q->stamp, the stamp of the
	// fragment queued last (ip_frag_queue), the one completing it.
	r.Tstamp = last.Tstamp
	r.CB = skb.ControlBlock{Iif: first.CB.Iif, Opt: first.CB.Opt}
	r.Network = r.DataOffset()
	dst := r.Put(total)
	copy(dst, hdr[:ihl])
	truesize := 0
	summed := first.IPSummed
	pos := ihl
	for _, h := range q.heads {
		for x := h; x != nil; x = x.CB.NextFrag {
			// Runs never overlap; copy at the fragment's offset.
			copy(dst[ihl+x.CB.FragOffset:], x.Data())
			pos += x.Len()
			truesize += x.Truesize
			if x.IPSummed != summed {
				summed = skb.ChecksumNone
			}
		}
	}
	r.IPSummed = summed
	r.CsumValid = false
	r.Truesize = truesize
	ip.fragPurge(q, false, mib.DropNotSpecified)
	ip.frags.mem -= ipqSize
	ip.inetPutpeer(q.peer)
	q.peer = nil
	q.dead = true
	q.flags |= fragComplete

	rh := wire.IPv4(dst)
	r.CB.FragMaxSize = uint16(max(q.maxDFSize, q.maxSize))
	rh.SetTotLen(total)
	dst[1] |= ecn
	if q.maxDFSize == q.maxSize {
		rh.SetFragOff(wire.IPFlagDF)
	} else {
		rh.SetFragOff(0)
	}
	rh.SetChecksum()
	r.Transport = r.Network + ihl
	m.IPInc(mib.IpReasmOKs)
	return r
}

// ipExpire mirrors ip_fragment.c: ip_expire: count the timeout and, if
// the first fragment arrived, send ICMP time exceeded (fragment
// reassembly) quoting it, after re-routing it.
func (ip *IPv4) ipExpire(q *ipq) {
	ip.cfg.BH.Lock()
	defer ip.cfg.BH.Unlock()
	// An ICMP error sent to this host goes through the backlog, which
	// the softirq that ran the timer processes before it ends.
	defer ip.net.NetRxAction()
	if q.dead || q.flags&fragComplete != 0 {
		return
	}
	q.flags |= fragDrop
	// ipq_kill, but keep the fragments to pull the head out.
	q.dead = true
	q.flags |= fragComplete
	delete(ip.frags.q, q.key)
	ip.frags.mem -= ipqSize
	ip.mib.IPInc(mib.IpReasmFails)
	ip.mib.IPInc(mib.IpReasmTimeout)
	var head *skb.Buffer
	if q.flags&fragFirstIn != 0 && len(q.heads) > 0 && q.heads[0].CB.FragOffset == 0 {
		// inet_frag_pull_head
		head = q.heads[0]
		if n := head.CB.NextFrag; n != nil {
			n.CB.FragRunLen = head.CB.FragRunLen - head.Len()
			n.CB.FragRunEnd = head.CB.FragRunEnd
			q.heads[0] = n
		} else {
			q.heads = q.heads[1:]
		}
		head.CB.NextFrag = nil
		q.mem -= head.Truesize
		ip.frags.mem -= head.Truesize
	}
	ip.fragPurge(q, true, mib.DropFragReasmTimeout)
	ip.inetPutpeer(q.peer)
	q.peer = nil
	if head == nil {
		return
	}
	if ip.net.GetByIndex(q.iif) == nil {
		ip.mib.KfreeSkbReason(head, mib.DropFragReasmTimeout)
		return
	}
	h := wire.IPv4(head.NetworkHeader())
	head.Rt = skb.Route{}
	if err := ip.ipRouteInputNoref(head, h.Dst(), h.Src(), h.TOS(), h.Protocol()); err != 0 {
		ip.mib.KfreeSkbReason(head, mib.DropFragReasmTimeout)
		return
	}
	ip.IcmpSend(head, wire.ICMPTimeExceeded, wire.ICMPExcFragtime, 0)
	ip.mib.KfreeSkbReason(head, mib.DropFragReasmTimeout)
}
