package udp

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// thisCPU is raw_smp_processor_id() on the single CPU.
const thisCPU = 0

// reuseportGroup is struct sock_reuseport.
type reuseportGroup struct {
	socks       []*Sock
	hasConns    bool
	incomingCPU int // members with sk_incoming_cpu >= 0
	bindInany   bool
}

// udpSkBoundDevEq mirrors include/net/udp.h: udp_sk_bound_dev_eq without
// VRF: an unbound socket matches any device.
func udpSkBoundDevEq(boundDevIf, dif, sdif int) bool {
	return boundDevIf == 0 || boundDevIf == dif || boundDevIf == sdif
}

// computeScore mirrors udp.c: compute_score of v6.8: −1 for no match,
// else 2 for an AF_INET socket, +4 for a matching connected address,
// +4 for a matching connected port, +4 for a matching bound device, +1
// when the socket last received on this CPU.
func computeScore(sk *Sock, saddr wire.Addr, sport uint16, daddr wire.Addr, hnum uint16, dif, sdif int) int {
	if sk.portHash != hnum {
		return -1
	}
	if sk.rcvSaddr != daddr {
		return -1
	}
	score := 2
	if sk.daddr != 0 {
		if sk.daddr != saddr {
			return -1
		}
		score += 4
	}
	if sk.dport != 0 {
		if sk.dport != sport {
			return -1
		}
		score += 4
	}
	if !udpSkBoundDevEq(sk.boundDevIf, dif, sdif) {
		return -1
	}
	if sk.boundDevIf != 0 {
		score += 4
	}
	if sk.incomingCPU == thisCPU {
		score++
	}
	return score
}

// udp4LibLookup2 mirrors udp.c: udp4_lib_lookup2: the best score wins
// with a strict ">", so on a tie the earlier socket in the chain (the
// most recently hashed) stays; an unconnected SO_REUSEPORT winner hands
// over to its group's selection.
func (u *UDP) udp4LibLookup2(saddr wire.Addr, sport uint16, daddr wire.Addr, hnum uint16, dif, sdif int, slot *hslot2) *Sock {
	var result *Sock
	badness := 0
	for sk := slot.first(); sk != nil; sk = sk.next2() {
		score := computeScore(sk, saddr, sport, daddr, hnum, dif, sdif)
		if score <= badness {
			continue
		}
		badness = score
		if sk.state == StateEstablished {
			result = sk
			continue
		}
		r := u.inetLookupReuseport(sk, saddr, sport, daddr, hnum)
		if r == nil {
			result = sk
			continue
		}
		if !reuseportHasConns(sk) {
			return r
		}
		result = r
		badness = computeScore(r, saddr, sport, daddr, hnum, dif, sdif)
	}
	return result
}

// inetLookupReuseport mirrors inet_hashtables.c: inet_lookup_reuseport
// with udp_ehashfn.
func (u *UDP) inetLookupReuseport(sk *Sock, saddr wire.Addr, sport uint16, daddr wire.Addr, hnum uint16) *Sock {
	if !sk.reuseport {
		return nil
	}
	h := u.udpEhashfn(daddr, hnum, saddr, sport)
	return reuseportSelectSock(sk, h)
}

// reuseportSelectSock mirrors sock_reuseport.c: reuseport_select_sock
// without a BPF program.
func reuseportSelectSock(sk *Sock, hash uint32) *Sock {
	g := sk.reuseportCb
	if g == nil || len(g.socks) == 0 {
		return nil
	}
	return reuseportSelectSockByHash(g, hash)
}

// reuseportSelectSockByHash mirrors sock_reuseport.c:
// reuseport_select_sock_by_hash: start at reciprocal_scale(hash, n) and
// walk the array circularly, skipping connected members.
func reuseportSelectSockByHash(g *reuseportGroup, hash uint32) *Sock {
	n := uint32(len(g.socks))
	i := reciprocalScale(hash, n)
	j := i
	var firstValid *Sock
	for {
		sk := g.socks[i]
		if sk.state != StateEstablished {
			if g.incomingCPU == 0 {
				return sk
			}
			if sk.incomingCPU == thisCPU {
				return sk
			}
			if firstValid == nil {
				firstValid = sk
			}
		}
		i++
		if i >= n {
			i = 0
		}
		if i == j {
			return firstValid
		}
	}
}

func reuseportHasConns(sk *Sock) bool {
	return sk.reuseportCb != nil && sk.reuseportCb.hasConns
}

// udp4LibLookup mirrors udp.c: __udp4_lib_lookup: the daddr slot first (a
// connected or specific-address socket wins there), then the wildcard
// slot matching INADDR_ANY only.
func (u *UDP) udp4LibLookup(saddr wire.Addr, sport uint16, daddr wire.Addr, dport uint16, dif, sdif int) *Sock {
	hnum := dport
	slot2 := u.ipv4PortaddrHash(daddr, hnum) & u.tbl.mask
	r := u.udp4LibLookup2(saddr, sport, daddr, hnum, dif, sdif, &u.tbl.hash2[slot2])
	if r != nil {
		return r
	}
	slot2 = u.ipv4PortaddrHash(0, hnum) & u.tbl.mask
	return u.udp4LibLookup2(saddr, sport, 0, hnum, dif, sdif, &u.tbl.hash2[slot2])
}

// Lookup finds the socket a datagram would be delivered to (for tests and
// diagnostics). Callers hold the BH lock.
func (u *UDP) Lookup(saddr wire.Addr, sport uint16, daddr wire.Addr, dport uint16, dif int) *Sock {
	return u.udp4LibLookup(saddr, sport, daddr, dport, dif, 0)
}

// udpIsMcastSock mirrors udp.c: __udp_is_mcast_sock.
func (u *UDP) udpIsMcastSock(sk *Sock, locPort uint16, locAddr wire.Addr, rmtPort uint16, rmtAddr wire.Addr, dif, sdif int, hnum uint16) bool {
	if sk.portHash != hnum ||
		(sk.daddr != 0 && sk.daddr != rmtAddr) ||
		(sk.dport != 0 && sk.dport != rmtPort) ||
		(sk.rcvSaddr != 0 && sk.rcvSaddr != locAddr) ||
		!udpSkBoundDevEq(sk.boundDevIf, dif, sdif) {
		return false
	}
	return sk.ipMcSfAllow(locAddr, rmtAddr, dif)
}

// ipMcSfAllow mirrors igmp.c: ip_mc_sf_allow without source filters:
// broadcast is always allowed; for a group the socket joined on dif its
// (empty) filter allows; otherwise IP_MULTICAST_ALL decides.
func (sk *Sock) ipMcSfAllow(loc, rmt wire.Addr, dif int) bool {
	if !loc.IsMulticast() {
		return true
	}
	for _, m := range sk.mcList {
		if m.group == loc && m.ifindex == dif {
			return true
		}
	}
	return sk.mcAll.Load()
}

// udpV4EarlyDemux mirrors udp.c: udp_v4_early_demux: for PACKET_HOST
// only the first socket of the (daddr, dport) hash2 slot, if it matches
// the 4-tuple exactly (inet_match); for PACKET_MULTICAST to a joined
// group, the single matching socket of a short primary chain.
func (u *UDP) udpV4EarlyDemux(b *skb.Buffer) int {
	th := b.TransportHeader()
	if len(th) < wire.UDPHLen {
		return 0
	}
	h := wire.IPv4(b.NetworkHeader())
	uh := wire.UDP(th)
	daddr, saddr := h.Dst(), h.Src()
	dif := b.Ifindex
	var sk *Sock
	switch b.PktType {
	case skb.PacketMulticast:
		if !daddr.IsMulticast() || !u.ip.IsJoined(dif, daddr) {
			return 0
		}
		sk = u.udp4LibMcastDemuxLookup(uh.DstPort(), daddr, uh.SrcPort(), saddr, dif)
	case skb.PacketHost:
		sk = u.udp4LibDemuxLookup(uh.DstPort(), daddr, uh.SrcPort(), saddr, dif)
	}
	if sk == nil {
		return 0
	}
	b.Sk = sk
	return 0
}

// udp4LibDemuxLookup mirrors udp.c: __udp4_lib_demux_lookup.
func (u *UDP) udp4LibDemuxLookup(locPort uint16, locAddr wire.Addr, rmtPort uint16, rmtAddr wire.Addr, dif int) *Sock {
	slot := u.ipv4PortaddrHash(locAddr, locPort) & u.tbl.mask
	sk := u.tbl.hash2[slot].first()
	if sk == nil {
		return nil
	}
	// inet_match: exact 4-tuple and device.
	if sk.daddr == rmtAddr && sk.rcvSaddr == locAddr && sk.dport == rmtPort && sk.num == locPort &&
		(sk.boundDevIf == 0 || sk.boundDevIf == dif) {
		return sk
	}
	return nil
}

// udp4LibMcastDemuxLookup mirrors udp.c: __udp4_lib_mcast_demux_lookup.
func (u *UDP) udp4LibMcastDemuxLookup(locPort uint16, locAddr wire.Addr, rmtPort uint16, rmtAddr wire.Addr, dif int) *Sock {
	slot := &u.tbl.hash[u.udpHashfn(locPort)]
	if slot.count() > mcDemuxMaxCount {
		return nil
	}
	var result *Sock
	for sk := slot.first(); sk != nil; sk = sk.next() {
		if u.udpIsMcastSock(sk, locPort, locAddr, rmtPort, rmtAddr, dif, 0, locPort) {
			if result != nil {
				return nil
			}
			result = sk
		}
	}
	return result
}
