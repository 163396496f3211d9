package udp

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// Address families.
const (
	AFUnspec = 0
	AFInet   = 2
)

// inetRcvSaddrEqual mirrors inet_connection_sock.c: inet_rcv_saddr_equal
// for two IPv4 sockets with match_wildcard.
func inetRcvSaddrEqual(a, b wire.Addr, matchWildcard bool) bool {
	if a == b {
		return true
	}
	return matchWildcard && (a == 0 || b == 0)
}

// conflicts is the predicate shared by udp_lib_lport_inuse{,2}: whether
// sk2 blocks sk (ignoring reuseport), and whether the pair is
// reuseport-compatible.
func conflicts(sk, sk2 *Sock) (conflict, reuseportOK bool) {
	if sk2 == sk || (sk2.reuse && sk.reuse) {
		return false, false
	}
	if sk2.boundDevIf != 0 && sk.boundDevIf != 0 && sk2.boundDevIf != sk.boundDevIf {
		return false, false
	}
	if !inetRcvSaddrEqual(sk.rcvSaddr, sk2.rcvSaddr, true) {
		return false, false
	}
	ok := sk2.reuseport && sk.reuseport && sk.reuseportCb == nil && sk.uid == sk2.uid
	return true, ok
}

// udpLibLportInuse mirrors udp.c: udp_lib_lport_inuse. With bitmap nil
// it answers for port num, stopping at the first conflicting socket
// (reuseport-compatible → free); with a bitmap it marks every port of
// the chain that is taken.
func udpLibLportInuse(num uint16, slot *hslot, bitmap []uint64, sk *Sock, log uint) bool {
	for sk2 := slot.first(); sk2 != nil; sk2 = sk2.next() {
		if bitmap == nil && sk2.portHash != num {
			continue
		}
		c, ok := conflicts(sk, sk2)
		if !c {
			continue
		}
		if ok {
			if bitmap == nil {
				return false
			}
			continue
		}
		if bitmap == nil {
			return true
		}
		i := sk2.portHash >> log
		bitmap[i/64] |= 1 << (i % 64)
	}
	return false
}

// udpLibLportInuse2 mirrors udp.c: udp_lib_lport_inuse2 over a hash2
// chain, first match decides.
func udpLibLportInuse2(num uint16, slot *hslot2, sk *Sock) bool {
	for sk2 := slot.first(); sk2 != nil; sk2 = sk2.next2() {
		if sk2.portHash != num {
			continue
		}
		c, ok := conflicts(sk, sk2)
		if !c {
			continue
		}
		return !ok
	}
	return false
}

// udpLibGetPort mirrors udp.c: udp_lib_get_port (called with the BH lock
// held): the ephemeral search with a random start and an odd-multiple
// step, or the explicit-port check (hash2 mode above 10 sockets), then
// reuseport group join and insertion at the head of both chains. It
// returns 0 or -EADDRINUSE.
func (u *UDP) udpLibGetPort(sk *Sock, snum uint16) int {
	t := &u.tbl
	hash2Nulladdr := u.ipv4PortaddrHash(0, snum)
	sk.portaddrHash = uint16(u.ipv4PortaddrHash(sk.rcvSaddr, 0))
	var slot *hslot
	if snum == 0 {
		low, high := u.ip.Sysctl.LocalPortLow, u.ip.Sysctl.LocalPortHigh
		remaining := uint32(high - low + 1)
		r := u.ip.Rand()
		first := uint16(reciprocalScale(r, remaining) + uint32(low))
		step := uint16((r | 1) * (t.mask + 1))
		last := first + uint16(t.mask+1)
		var bitmap [portsPerChain / 64]uint64
		found := false
		for {
			slot = &t.hash[u.udpHashfn(first)]
			bitmap = [portsPerChain / 64]uint64{}
			udpLibLportInuse(0, slot, bitmap[:], sk, t.log)
			p := first
			for {
				i := p >> t.log
				if int(p) >= low && int(p) <= high && bitmap[i/64]&(1<<(i%64)) == 0 {
					snum = p
					found = true
					break
				}
				p += step
				if p == first {
					break
				}
			}
			if found {
				break
			}
			first++
			if first == last {
				return -EADDRINUSE
			}
		}
	} else {
		slot = &t.hash[u.udpHashfn(snum)]
		scanPrimary := true
		if slot.count() > 10 {
			s2 := uint32(sk.portaddrHash^snum) & t.mask
			n2 := hash2Nulladdr & t.mask
			if slot.count() >= t.hash2[s2].count() {
				scanPrimary = false
				exist := udpLibLportInuse2(snum, &t.hash2[s2], sk)
				if !exist && n2 != s2 {
					exist = udpLibLportInuse2(snum, &t.hash2[n2], sk)
				}
				if exist {
					return -EADDRINUSE
				}
			}
		}
		if scanPrimary && udpLibLportInuse(snum, slot, nil, sk, 0) {
			return -EADDRINUSE
		}
	}
	sk.num = snum
	sk.portHash = snum
	sk.portaddrHash ^= snum
	if !sk.hashed {
		if sk.reuseport && u.udpReuseportAddSock(sk, slot) != 0 {
			sk.num = 0
			sk.portHash = 0
			sk.portaddrHash ^= snum
			return -EADDRINUSE
		}
		slot.l.PushFront(sk)
		s2 := &t.hash2[uint32(sk.portaddrHash)&t.mask]
		hlistAddHead2(s2, sk)
		sk.hashed = true
		u.inuse.Add(1)
	}
	return 0
}

// hlistAddHead2 is hlist_add_head_rcu of udp_portaddr_node.
func hlistAddHead2(s *hslot2, sk *Sock) {
	sk.node2.sk = sk
	s.l.PushFront(&sk.node2)
}

// hlistDel2 is hlist_del_init_rcu of udp_portaddr_node.
func hlistDel2(s *hslot2, sk *Sock) { s.l.Remove(&sk.node2) }

// udpReuseportAddSock mirrors udp.c: udp_reuseport_add_sock: join the
// group of the first socket in the primary chain with the same port,
// the same bound device, SO_REUSEPORT, the same uid and exactly the same
// address; otherwise start a group.
func (u *UDP) udpReuseportAddSock(sk *Sock, slot *hslot) int {
	for sk2 := slot.first(); sk2 != nil; sk2 = sk2.next() {
		if sk2 != sk && sk2.portHash == sk.portHash && sk2.boundDevIf == sk.boundDevIf &&
			sk2.reuseport && sk2.uid == sk.uid && sk2.rcvSaddr == sk.rcvSaddr {
			return reuseportAddSock(sk, sk2)
		}
	}
	reuseportAlloc(sk)
	return 0
}

// reuseportAlloc is sock_reuseport.c: reuseport_alloc: a group of one,
// counting sk if it has an incoming CPU.
func reuseportAlloc(sk *Sock) {
	if sk.reuseportCb != nil {
		return
	}
	g := &reuseportGroup{socks: []*Sock{sk}, bindInany: sk.rcvSaddr == 0}
	reuseportGetIncomingCPU(sk, g)
	sk.reuseportCb = g
}

// reuseportAddSock is sock_reuseport.c: reuseport_add_sock: sk2 gets a
// group if it has none (a member that left by rehash), then sk is
// appended to sk2's group (__reuseport_add_sock).
func reuseportAddSock(sk, sk2 *Sock) int {
	if sk2.reuseportCb == nil {
		reuseportAlloc(sk2)
	}
	g := sk2.reuseportCb
	if old := sk.reuseportCb; old != nil {
		if len(old.socks) != 1 {
			return -16 // -EBUSY
		}
		sk.reuseportCb = nil
	}
	g.socks = append(g.socks, sk)
	reuseportGetIncomingCPU(sk, g)
	sk.reuseportCb = g
	return 0
}

// reuseportDetachSock is sock_reuseport.c: reuseport_detach_sock
// (__reuseport_detach_sock): the last member moves into the hole and the
// group's incoming-CPU count loses sk.
func reuseportDetachSock(sk *Sock) {
	g := sk.reuseportCb
	if g == nil {
		return
	}
	sk.reuseportCb = nil
	for i, s := range g.socks {
		if s == sk {
			last := len(g.socks) - 1
			g.socks[i] = g.socks[last]
			g.socks[last] = nil
			g.socks = g.socks[:last]
			reuseportPutIncomingCPU(sk, g)
			break
		}
	}
}

// reuseportGetIncomingCPU is sock_reuseport.c: reuseport_get_incoming_cpu:
// a member with sk_incoming_cpu >= 0 makes the group prefer members by
// CPU (reuseport_select_sock_by_hash).
func reuseportGetIncomingCPU(sk *Sock, g *reuseportGroup) {
	if sk.incomingCPU >= 0 {
		g.incomingCPU++
	}
}

// reuseportPutIncomingCPU is sock_reuseport.c: reuseport_put_incoming_cpu.
func reuseportPutIncomingCPU(sk *Sock, g *reuseportGroup) {
	if sk.incomingCPU >= 0 {
		g.incomingCPU--
	}
}

// reuseportUpdateIncomingCPU is sock_reuseport.c:
// reuseport_update_incoming_cpu (SO_INCOMING_CPU; BH lock held): set
// sk_incoming_cpu and keep the group's count of members that have one.
func reuseportUpdateIncomingCPU(sk *Sock, val int32) {
	old := sk.incomingCPU
	sk.incomingCPU = val
	g := sk.reuseportCb
	if g == nil {
		return
	}
	if old < 0 && val >= 0 {
		g.incomingCPU++
	} else if old >= 0 && val < 0 {
		g.incomingCPU--
	}
}

// udpLibUnhash mirrors udp.c: udp_lib_unhash (BH lock held).
func (u *UDP) udpLibUnhash(sk *Sock) {
	if !sk.hashed {
		return
	}
	t := &u.tbl
	slot := &t.hash[u.udpHashfn(sk.portHash)]
	if sk.reuseportCb != nil {
		reuseportDetachSock(sk)
	}
	slot.l.Remove(sk)
	sk.num = 0
	hlistDel2(&t.hash2[uint32(sk.portaddrHash)&t.mask], sk)
	sk.hashed = false
	u.inuse.Add(-1)
}

// udpLibRehash mirrors udp.c: udp_lib_rehash: move to the new hash2 slot
// (at its head) only when the slot changes; leave any reuseport group.
func (u *UDP) udpLibRehash(sk *Sock, newhash uint16) {
	if !sk.hashed {
		sk.portaddrHash = newhash
		return
	}
	t := &u.tbl
	old := &t.hash2[uint32(sk.portaddrHash)&t.mask]
	nw := &t.hash2[uint32(newhash)&t.mask]
	sk.portaddrHash = newhash
	if old != nw || sk.reuseportCb != nil {
		if sk.reuseportCb != nil {
			reuseportDetachSock(sk)
		}
		if old != nw {
			hlistDel2(old, sk)
			hlistAddHead2(nw, sk)
		}
	}
}

// udpV4Rehash is udp.c: udp_v4_rehash.
func (u *UDP) udpV4Rehash(sk *Sock) {
	u.udpLibRehash(sk, uint16(u.ipv4PortaddrHash(sk.rcvSaddr, sk.num)))
}

// Bind mirrors af_inet.c: __inet_bind → udp_v4_get_port with the checks
// in order: family, address type (EADDRNOTAVAIL unless IP_FREEBIND),
// privileged port (EACCES), already bound (EINVAL), then the port
// (EADDRINUSE).
func (sk *Sock) Bind(family int, addr wire.Addr, port uint16) int {
	u := sk.u
	if family != AFInet {
		if family != AFUnspec || addr != 0 {
			return -EAFNOSUPPORT
		}
	}
	typ := u.ip.InetAddrType(addr)
	if !(sk.freebind.Load() || addr == 0 || typ == ipv4.RtnLocal || typ == ipv4.RtnMulticast || typ == ipv4.RtnBroadcast) {
		return -EADDRNOTAVAIL
	}
	if port != 0 && int(port) < u.ip.Sysctl.UnprivilegedPortStart && u.cfg.Unprivileged {
		return -EACCES
	}
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	u.bh.Lock()
	defer u.bh.Unlock()
	if sk.state != StateClose || sk.num != 0 {
		return -EINVAL
	}
	sk.rcvSaddr, sk.saddr = addr, addr
	if typ == ipv4.RtnMulticast || typ == ipv4.RtnBroadcast {
		sk.saddr = 0
	}
	if port != 0 || !sk.bindNoPort {
		if err := u.udpLibGetPort(sk, port); err != 0 {
			sk.rcvSaddr, sk.saddr = 0, 0
			return -EADDRINUSE
		}
	}
	if sk.rcvSaddr != 0 {
		sk.userlocks |= bindAddrLock
	}
	if port != 0 {
		sk.userlocks |= bindPortLock
	}
	sk.sport = sk.num
	sk.daddr, sk.dport = 0, 0
	return 0
}

// inetAutobind is af_inet.c: inet_autobind (socket lock held).
func (sk *Sock) inetAutobind() int {
	if sk.num != 0 {
		return 0
	}
	sk.u.bh.Lock()
	defer sk.u.bh.Unlock()
	if sk.num != 0 {
		return 0
	}
	if sk.u.udpLibGetPort(sk, 0) != 0 {
		return -EAGAIN
	}
	sk.sport = sk.num
	return 0
}

// Connect mirrors af_inet.c: inet_dgram_connect → ip4_datagram_connect:
// AF_UNSPEC disconnects; otherwise autobind, route to the peer
// (ENETUNREACH counts Ip.OutNoRoutes), refuse broadcast without
// SO_BROADCAST (EACCES), take the route's source (rehashing a wildcard
// socket, which leaves its reuseport group), mark the group has_conns,
// and become ESTABLISHED with a random IP ID base.
func (sk *Sock) Connect(family int, addr wire.Addr, port uint16) int {
	if family == AFUnspec {
		return sk.Disconnect()
	}
	u := sk.u
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	if err := sk.inetAutobind(); err != 0 {
		return err
	}
	if family != AFInet {
		return -EAFNOSUPPORT
	}
	oif := sk.boundDevIf
	saddr := sk.saddr
	if addr.IsMulticast() && oif == 0 {
		oif = sk.mcIndex
	}
	rt, err := u.ip.RouteOutput(addr, saddr, oif)
	if err != 0 {
		if err == -ENETUNREACH {
			u.mib.IPInc(mib.IpOutNoRoutes)
		}
		return err
	}
	if rt.Flags&ipv4.RtcfBroadcast != 0 && !sk.broadcast.Load() {
		return -EACCES
	}
	u.bh.Lock()
	defer u.bh.Unlock()
	if sk.saddr == 0 {
		sk.saddr = rt.Src
	}
	if sk.rcvSaddr == 0 {
		sk.rcvSaddr = rt.Src
		u.udpV4Rehash(sk)
	}
	sk.daddr = rt.Dst
	sk.dport = port
	if sk.reuseportCb != nil {
		sk.reuseportCb.hasConns = true
	}
	sk.state = StateEstablished
	sk.inetID.Store(uint32(u.ip.Rand()) & 0xffff)
	return 0
}

// Disconnect mirrors udp.c: __udp_disconnect: back to CLOSE, forget the
// peer and SO_BINDTODEVICE, reset an auto-chosen address (rehash) and
// release an auto-chosen port (unhash).
func (sk *Sock) Disconnect() int {
	u := sk.u
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	u.bh.Lock()
	defer u.bh.Unlock()
	sk.state = StateClose
	sk.daddr, sk.dport = 0, 0
	sk.boundDevIf = 0
	if sk.userlocks&bindAddrLock == 0 {
		sk.saddr, sk.rcvSaddr = 0, 0
		if sk.userlocks&bindPortLock != 0 {
			u.udpV4Rehash(sk)
		}
	}
	if sk.userlocks&bindPortLock == 0 {
		u.udpLibUnhash(sk)
		sk.sport = 0
	}
	return 0
}

// Close mirrors udp_lib_close → sk_common_release: unhash, mark dead,
// wake sleepers, and purge both receive queues (udp_destruct_common)
// and the error queue (inet_sock_destruct), releasing all receive
// memory. The socket layer calls it when the last reference to the file
// goes, as sock_close does.
func (sk *Sock) Close() {
	u := sk.u
	sk.Lock.Lock()
	if sk.closed {
		sk.Lock.Unlock()
		return
	}
	sk.closed = true
	u.bh.Lock()
	u.udpLibUnhash(sk)
	sk.ipMcDropSocket()
	sk.dead.Store(true)
	u.bh.Unlock()
	sk.Lock.Unlock()
	sk.shutdown.Store(RcvShutdown | SendShutdown)
	sk.skStateChange()
	sk.reader.mu.Lock()
	sk.rq.mu.Lock()
	sk.reader.q.SpliceTailInit(&sk.rq.q)
	sk.rq.mu.Unlock()
	total := 0
	for b := sk.reader.q.PopFront(); b != nil; b = sk.reader.q.PopFront() {
		total += b.Truesize
		u.mib.KfreeSkbReason(b, mib.DropNotSpecified) // udp_destruct_common: kfree_skb
	}
	sk.udpRmemRelease(total, 0)
	sk.reader.mu.Unlock()
	sk.purgeErrQueue()
	sk.skDestructTimestamp()
}

// Shutdown mirrors af_inet.c: inet_shutdown for UDP: how is SHUT_RD (0),
// SHUT_WR (1) or SHUT_RDWR (2); an unconnected socket gets ENOTCONN but
// the flags are set and sleepers are woken all the same.
func (sk *Sock) Shutdown(how int) int {
	how++
	if how&^3 != 0 || how == 0 {
		return -EINVAL
	}
	sk.Lock.Lock()
	err := 0
	if sk.state == StateClose {
		err = -ENOTCONN
	}
	for {
		old := sk.shutdown.Load()
		if sk.shutdown.CompareAndSwap(old, old|uint32(how)) {
			break
		}
	}
	sk.Lock.Unlock()
	sk.skStateChange()
	return err
}

// SetBoundDev sets SO_BINDTODEVICE (0 unbinds): a device that does not
// exist is ENODEV (the name lookup of sock_setbindtodevice); then, as
// sock.c: sock_bindtoindex_locked does, changing an existing binding
// needs CAP_NET_RAW (EPERM for an unprivileged program), a negative
// index is EINVAL, and sk_prot->rehash (udp_v4_rehash) takes the socket
// out of its SO_REUSEPORT group even though its hash2 slot stays the
// same (udp_lib_rehash).
func (sk *Sock) SetBoundDev(ifindex int) int {
	if ifindex != 0 && sk.u.ip.DevGetByIndex(ifindex) == nil {
		return -ENODEV
	}
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	sk.u.bh.Lock()
	defer sk.u.bh.Unlock()
	if sk.boundDevIf != 0 && sk.u.cfg.Unprivileged {
		return -EPERM
	}
	if ifindex < 0 {
		return -EINVAL
	}
	sk.boundDevIf = ifindex
	sk.u.udpV4Rehash(sk)
	return 0
}

// BoundDev returns SO_BINDTODEVICE's ifindex.
func (sk *Sock) BoundDev() int {
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	return sk.boundDevIf
}
