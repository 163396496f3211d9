package udp

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Rcv is the IPPROTO_UDP handler (udp_rcv → __udp4_lib_rcv); b.Data()
// is at the UDP header and b.Len() is the IP payload length. It owns b
// and returns 0.
func (u *UDP) Rcv(b *skb.Buffer) int {
	m := u.mib
	p := b.Data()
	if len(p) < wire.UDPHLen {
		m.UDPInc(mib.UdpInErrors)
		m.KfreeSkbReason(b, mib.DropNotSpecified)
		return 0
	}
	uh := wire.UDP(p)
	ulen := uh.Len()
	h := wire.IPv4(b.NetworkHeader())
	saddr, daddr := h.Src(), h.Dst()
	if ulen > b.Len() || ulen < wire.UDPHLen {
		m.UDPInc(mib.UdpInErrors)
		m.KfreeSkbReason(b, mib.DropPktTooSmall)
		return 0
	}
	b.Trim(ulen)
	if !u.udp4CsumInit(b, uh, saddr, daddr) {
		return u.csumError(b)
	}
	if b.Sk != nil {
		sk := b.Sk.(*Sock)
		b.Sk = nil
		return u.udpUnicastRcvSkb(sk, b)
	}
	if b.Rt.Flags&(ipv4.RtcfBroadcast|ipv4.RtcfMulticast) != 0 {
		return u.udp4LibMcastDeliver(b, uh, saddr, daddr)
	}
	if sk := u.udp4LibLookup(saddr, uh.SrcPort(), daddr, uh.DstPort(), ipv4.InetIif(b), 0); sk != nil {
		return u.udpUnicastRcvSkb(sk, b)
	}
	// no_sk: verify before answering.
	if !csumUnnecessary(b) && !checksumComplete(b) {
		return u.csumError(b)
	}
	m.UDPInc(mib.UdpNoPorts)
	u.ip.IcmpSend(b, wire.ICMPDestUnreach, wire.ICMPPortUnreach, 0)
	m.KfreeSkbReason(b, mib.DropNoSocket)
	return 0
}

func (u *UDP) csumError(b *skb.Buffer) int {
	u.mib.UDPInc(mib.UdpInCsumErrors)
	u.mib.UDPInc(mib.UdpInErrors)
	u.mib.KfreeSkbReason(b, mib.DropUDPCsum)
	return 0
}

// csumUnnecessary is skb_csum_unnecessary.
func csumUnnecessary(b *skb.Buffer) bool {
	return b.IPSummed == skb.ChecksumUnnecessary || b.IPSummed == skb.ChecksumPartial || b.CsumValid
}

// checksumComplete is __skb_checksum_complete: verify b.Data() against
// the partial sum in b.Csum; it records the result in CsumValid.
func checksumComplete(b *skb.Buffer) bool {
	ok := wire.CsumFold(wire.Checksum(b.Data(), uint64(b.Csum))) == 0
	b.CsumValid = ok
	return ok
}

// udp4CsumInit mirrors udp.c: udp4_csum_init →
// skb_checksum_init_zero_check: a zero checksum or a device-verified
// packet needs nothing; otherwise keep the pseudo-header sum, and verify
// now only datagrams of at most CHECKSUM_BREAK (76) bytes. It returns
// false for a bad checksum found now.
func (u *UDP) udp4CsumInit(b *skb.Buffer, uh wire.UDP, saddr, daddr wire.Addr) bool {
	b.CsumValid = false
	if b.IPSummed == skb.ChecksumUnnecessary || b.IPSummed == skb.ChecksumPartial || uh.Check() == 0 {
		b.CsumValid = true
		return true
	}
	b.Csum = uint32(wire.Fold(wire.PseudoSum(saddr, daddr, wire.ProtoUDP, b.Len())))
	if b.Len() <= checksumBreak {
		return checksumComplete(b)
	}
	return true
}

// udp4LibMcastDeliver mirrors udp.c: __udp4_lib_mcast_deliver: a copy
// for each extra matching socket, the original to the first match, last.
func (u *UDP) udp4LibMcastDeliver(b *skb.Buffer, uh wire.UDP, saddr, daddr wire.Addr) int {
	m := u.mib
	hnum := uh.DstPort()
	sport := uh.SrcPort()
	dif := b.Ifindex
	hslot := &u.tbl.hash[u.udpHashfn(hnum)]
	useHash2 := hslot.count() > mcDemuxMaxCount
	var first *Sock
	visit := func(sk *Sock) {
		if !u.udpIsMcastSock(sk, hnum, daddr, sport, saddr, dif, 0, hnum) {
			return
		}
		if first == nil {
			first = sk
			return
		}
		c := b.Copy()
		if c == nil {
			sk.drops.Add(1)
			m.UDPInc(mib.UdpRcvbufErrors)
			m.UDPInc(mib.UdpInErrors)
			return
		}
		u.udpQueueRcvSkb(sk, c)
	}
	if useHash2 {
		h2any := u.ipv4PortaddrHash(0, hnum) & u.tbl.mask
		h2 := u.ipv4PortaddrHash(daddr, hnum) & u.tbl.mask
		for sk := u.tbl.hash2[h2].first(); sk != nil; sk = sk.next2() {
			visit(sk)
		}
		if h2 != h2any {
			for sk := u.tbl.hash2[h2any].first(); sk != nil; sk = sk.next2() {
				visit(sk)
			}
		}
	} else {
		for sk := hslot.first(); sk != nil; sk = sk.next() {
			visit(sk)
		}
	}
	if first != nil {
		u.udpQueueRcvSkb(first, b)
	} else {
		m.KfreeSkbReason(b, mib.DropNotSpecified) // kfree_skb
		m.UDPInc(mib.UdpIgnoredMulti)
	}
	return 0
}

// udpUnicastRcvSkb mirrors udp.c: udp_unicast_rcv_skb.
func (u *UDP) udpUnicastRcvSkb(sk *Sock, b *skb.Buffer) int {
	u.udpQueueRcvSkb(sk, b)
	return 0
}

// udpQueueRcvSkb mirrors udp.c: udp_queue_rcv_skb (no GSO packets here).
func (u *UDP) udpQueueRcvSkb(sk *Sock, b *skb.Buffer) int {
	return u.udpQueueRcvOneSkb(sk, b)
}

// udpQueueRcvOneSkb mirrors udp.c: udp_queue_rcv_one_skb for a socket
// without encapsulation, UDP-Lite coverage or a socket filter: pull the
// header (folding it into the deferred checksum), record IP_PKTINFO, and
// enqueue.
func (u *UDP) udpQueueRcvOneSkb(sk *Sock, b *skb.Buffer) int {
	// udp_csum_pull_header
	if !b.CsumValid && b.IPSummed == skb.ChecksumNone {
		b.Csum = uint32(wire.Fold(wire.Checksum(b.Data()[:wire.UDPHLen], uint64(b.Csum))))
	}
	b.Pull(wire.UDPHLen)
	// ipv4_pktinfo_prepare
	if sk.pktinfo.Load() {
		b.CB.PktinfoIfindex = ipv4.PktinfoIfindex(b)
		b.CB.SpecDst = uint32(u.ip.FibComputeSpecDst(b))
	}
	b.Rt.Valid = false // skb_dst_drop
	return u.udpQueueRcvSkbFinal(sk, b)
}

// udpQueueRcvSkbFinal mirrors udp.c: __udp_queue_rcv_skb: a connected
// socket records the receiving CPU (sk_incoming_cpu_update, which leaves
// the reuseport group's count alone) and keeps it after disconnecting.
func (u *UDP) udpQueueRcvSkbFinal(sk *Sock, b *skb.Buffer) int {
	if sk.daddr != 0 && sk.incomingCPU != thisCPU {
		sk.incomingCPU = thisCPU
	}
	rc := u.udpEnqueueScheduleSkb(sk, b)
	if rc < 0 {
		m := u.mib
		r := mib.DropSocketRcvbuff
		if rc == -ENOMEM {
			m.UDPInc(mib.UdpRcvbufErrors)
		} else {
			m.UDPInc(mib.UdpMemErrors)
			r = mib.DropProtoMem
		}
		m.UDPInc(mib.UdpInErrors)
		m.KfreeSkbReason(b, r)
		return -1
	}
	return 0
}

// udpEnqueueScheduleSkb mirrors udp.c: __udp_enqueue_schedule_skb of
// v6.8: refuse when sk_rmem_alloc > sk_rcvbuf (strict), charge the
// truesize, refuse if that lost a race (rmem > size + rcvbuf), schedule
// forward memory in pages against udp_mem (-ENOBUFS), queue, wake.
func (u *UDP) udpEnqueueScheduleSkb(sk *Sock, b *skb.Buffer) int {
	rcvbuf := sk.rcvbuf.Load()
	rmem := sk.rmemAlloc.Load()
	if rmem > rcvbuf {
		sk.drops.Add(1)
		return -ENOMEM
	}
	size := int32(b.Truesize)
	b.CB.CsumUnnecessary = csumUnnecessary(b)
	rmem = sk.rmemAlloc.Add(size)
	if uint32(rmem) > uint32(size)+uint32(rcvbuf) {
		sk.rmemAlloc.Add(-size)
		sk.drops.Add(1)
		return -ENOMEM
	}
	sk.rq.mu.Lock()
	// udp_rmem_schedule
	if delta := int(size) - sk.forwardAlloc; delta > 0 {
		amt := int64((delta + PageSize - 1) / PageSize)
		sk.forwardAlloc += int(amt) * PageSize
		if !u.skMemRaiseAllocated(sk, amt) {
			sk.forwardAlloc -= int(amt) * PageSize
			sk.rq.mu.Unlock()
			sk.rmemAlloc.Add(-size)
			sk.drops.Add(1)
			return -ENOBUFS
		}
	}
	sk.forwardAlloc -= int(size)
	if sk.rxqOvfl.Load() {
		b.CB.DropCount = sk.drops.Load()
	} else {
		b.CB.DropCount = 0
	}
	// T2 (ARCHITECTURE.md): taken here, under the receive-queue lock, just
	// before the datagram becomes visible to readers. Not with the
	// trace off.
	if u.Latency != nil && (b.Trace.T0 != 0 || b.Trace.T1 != 0) {
		b.Trace.T2 = u.ip.Clock().Now()
	}
	sk.rq.q.PushBack(b)
	sk.rq.mu.Unlock()
	if !sk.dead.Load() {
		sk.skDataReady()
	}
	return 0
}
