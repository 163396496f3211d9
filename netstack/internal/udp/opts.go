package udp

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// maxMemberships is net.ipv4.igmp_max_memberships.
const maxMemberships = 20

// SetRcvbuf implements SO_RCVBUF (force=false) and SO_RCVBUFFORCE
// (sock.c: sk_setsockopt → __sock_set_rcvbuf): clamp to rmem_max (not
// for FORCE, where negatives become 0), cap at INT_MAX/2, double, floor
// at SOCK_MIN_RCVBUF; then forward_threshold = rcvbuf/4
// (udp_lib_setsockopt).
func (sk *Sock) SetRcvbuf(v int32, force bool) int {
	var val int64
	if force {
		if sk.u.cfg.Unprivileged {
			return -EPERM
		}
		val = int64(max(v, 0))
	} else {
		val = min(int64(uint32(v)), RmemMax)
	}
	val = min(val, (1<<31-1)/2)
	rb := max(val*2, SockMinRcvbuf)
	sk.Lock.Lock()
	sk.rcvbuf.Store(int32(rb))
	sk.forwardThreshold.Store(int32(rb >> 2))
	sk.Lock.Unlock()
	return 0
}

// SetReuseAddr sets SO_REUSEADDR (sk_reuse).
func (sk *Sock) SetReuseAddr(on bool) {
	sk.Lock.Lock()
	sk.u.bh.Lock()
	sk.reuse = on
	sk.u.bh.Unlock()
	sk.Lock.Unlock()
}

// ReuseAddr returns SO_REUSEADDR.
func (sk *Sock) ReuseAddr() bool {
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	return sk.reuse
}

// SetReusePort sets SO_REUSEPORT; it takes effect at the next bind.
func (sk *Sock) SetReusePort(on bool) {
	sk.Lock.Lock()
	sk.u.bh.Lock()
	sk.reuseport = on
	sk.u.bh.Unlock()
	sk.Lock.Unlock()
}

// ReusePort returns SO_REUSEPORT.
func (sk *Sock) ReusePort() bool {
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	return sk.reuseport
}

// Flag options kept as atomics.

// SetBroadcast sets SO_BROADCAST.
func (sk *Sock) SetBroadcast(on bool) { sk.broadcast.Store(on) }

// Broadcast returns SO_BROADCAST.
func (sk *Sock) Broadcast() bool { return sk.broadcast.Load() }

// SetFreebind sets IP_FREEBIND.
func (sk *Sock) SetFreebind(on bool) { sk.freebind.Store(on) }

// Freebind returns IP_FREEBIND.
func (sk *Sock) Freebind() bool { return sk.freebind.Load() }

// SetRecvErr sets IP_RECVERR; turning it off empties the error queue
// (do_ip_setsockopt → skb_errqueue_purge) but leaves sk_err.
func (sk *Sock) SetRecvErr(on bool) {
	sk.recverr.Store(on)
	if !on {
		sk.purgeErrQueue()
	}
}

// RecvErr returns IP_RECVERR.
func (sk *Sock) RecvErr() bool { return sk.recverr.Load() }

// SetPktinfo sets IP_PKTINFO.
func (sk *Sock) SetPktinfo(on bool) { sk.pktinfo.Store(on) }

// Pktinfo returns IP_PKTINFO.
func (sk *Sock) Pktinfo() bool { return sk.pktinfo.Load() }

// SetRxqOvfl sets SO_RXQ_OVFL.
func (sk *Sock) SetRxqOvfl(on bool) { sk.rxqOvfl.Store(on) }

// RxqOvfl returns SO_RXQ_OVFL.
func (sk *Sock) RxqOvfl() bool { return sk.rxqOvfl.Load() }

// SetMulticastAll sets IP_MULTICAST_ALL.
func (sk *Sock) SetMulticastAll(on bool) { sk.mcAll.Store(on) }

// MulticastAll returns IP_MULTICAST_ALL.
func (sk *Sock) MulticastAll() bool { return sk.mcAll.Load() }

// SetPeekOff sets SO_PEEK_OFF (udp_set_peek_off).
func (sk *Sock) SetPeekOff(v int32) {
	sk.peekOff.Store(v)
	sk.peekingOff.Store(v >= 0)
}

// PeekOff returns SO_PEEK_OFF.
func (sk *Sock) PeekOff() int32 { return sk.peekOff.Load() }

// SetTTL sets IP_TTL (−1 restores the default; 1..255 otherwise).
func (sk *Sock) SetTTL(v int) int {
	if v != -1 && (v < 1 || v > 255) {
		return -EINVAL
	}
	sk.Lock.Lock()
	sk.ttl = v
	sk.Lock.Unlock()
	return 0
}

// TTL returns IP_TTL as getsockopt reports it.
func (sk *Sock) TTL() int {
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	if sk.ttl < 0 {
		return int(sk.u.ip.Sysctl.DefaultTTL)
	}
	return sk.ttl
}

// SetTOS sets IP_TOS (the ECN bits are kept from the old value for
// stream sockets only; UDP takes the byte as given).
func (sk *Sock) SetTOS(v uint8) {
	sk.Lock.Lock()
	sk.tos = v
	sk.Lock.Unlock()
}

// SetMulticastTTL sets IP_MULTICAST_TTL.
func (sk *Sock) SetMulticastTTL(v int) int {
	if v == -1 {
		v = 1
	}
	if v < 0 || v > 255 {
		return -EINVAL
	}
	sk.Lock.Lock()
	sk.mcTTL = uint8(v)
	sk.Lock.Unlock()
	return 0
}

// SetMulticastIf sets IP_MULTICAST_IF by interface index.
func (sk *Sock) SetMulticastIf(ifindex int) {
	sk.Lock.Lock()
	sk.mcIndex = ifindex
	sk.Lock.Unlock()
}

// SetPMTUDisc sets IP_MTU_DISCOVER.
func (sk *Sock) SetPMTUDisc(v int) int {
	if v < 0 || v > 5 {
		return -EINVAL
	}
	sk.Lock.Lock()
	sk.u.bh.Lock() // read by the ICMP error handler
	sk.pmtudisc = v
	sk.u.bh.Unlock()
	sk.Lock.Unlock()
	return 0
}

// SetBindAddressNoPort sets IP_BIND_ADDRESS_NO_PORT.
func (sk *Sock) SetBindAddressNoPort(on bool) {
	sk.Lock.Lock()
	sk.bindNoPort = on
	sk.Lock.Unlock()
}

// SetMulticastLoop sets IP_MULTICAST_LOOP.
func (sk *Sock) SetMulticastLoop(on bool) { sk.mcNoLoop.Store(!on) }

// MulticastLoop returns IP_MULTICAST_LOOP (on by default).
func (sk *Sock) MulticastLoop() bool { return !sk.mcNoLoop.Load() }

// JoinGroup implements IP_ADD_MEMBERSHIP (igmp.c: ip_mc_join_group):
// group must be multicast (EINVAL); the interface is ifindex, or the one
// owning ifaddr, or the one the route to the group leaves by
// (ip_mc_find_dev; ENODEV when there is none); joining twice is
// EADDRINUSE; more than igmp_max_memberships is ENOBUFS.
func (sk *Sock) JoinGroup(group, ifaddr wire.Addr, ifindex int) int {
	if !group.IsMulticast() {
		return -EINVAL
	}
	u := sk.u
	if ifindex = u.ip.McFindDev(group, ifaddr, ifindex); ifindex == 0 {
		return -ENODEV
	}
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	u.bh.Lock()
	defer u.bh.Unlock()
	for _, m := range sk.mcList {
		if m.group == group && m.ifindex == ifindex {
			return -EADDRINUSE
		}
	}
	if len(sk.mcList) >= maxMemberships {
		return -ENOBUFS
	}
	sk.mcList = append(sk.mcList, mcMembership{group, ifaddr, ifindex})
	u.ip.JoinGroup(ifindex, group)
	return 0
}

// LeaveGroup implements IP_DROP_MEMBERSHIP (igmp.c: ip_mc_leave_group):
// the device is found as for joining; with neither ifindex nor ifaddr
// given and no device found, ENODEV. The membership matches on the
// device's index, else on ifaddr when given, else on the group alone;
// not a member is EADDRNOTAVAIL.
func (sk *Sock) LeaveGroup(group, ifaddr wire.Addr, ifindex int) int {
	u := sk.u
	dev := u.ip.McFindDev(group, ifaddr, ifindex)
	if ifindex == 0 && ifaddr == 0 && dev == 0 {
		return -ENODEV
	}
	if ifindex == 0 && dev != 0 {
		// ip_mc_find_dev fills imr_ifindex in.
		ifindex = dev
	}
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	u.bh.Lock()
	defer u.bh.Unlock()
	for i, m := range sk.mcList {
		if m.group != group {
			continue
		}
		if ifindex != 0 {
			if m.ifindex != ifindex {
				continue
			}
		} else if ifaddr != 0 && ifaddr != m.addr {
			continue
		}
		sk.mcList = append(sk.mcList[:i], sk.mcList[i+1:]...)
		if dev != 0 {
			u.ip.LeaveGroup(m.ifindex, group)
		}
		return 0
	}
	return -EADDRNOTAVAIL
}

// ipMcDropSocket is igmp.c: ip_mc_drop_socket: a closing socket leaves
// its groups on the devices that still exist. BH lock held.
func (sk *Sock) ipMcDropSocket() {
	for _, m := range sk.mcList {
		if sk.u.ip.DevGetByIndex(m.ifindex) != nil {
			sk.u.ip.LeaveGroup(m.ifindex, m.group)
		}
	}
	sk.mcList = nil
}

// SetIncomingCPU sets SO_INCOMING_CPU (sock.c: sk_setsockopt →
// reuseport_update_incoming_cpu). Any value is taken; a socket with a
// value >= 0 counts in its reuseport group, whose selection then prefers
// members whose CPU is the receiving one (CPU 0 here).
func (sk *Sock) SetIncomingCPU(v int32) {
	sk.u.bh.Lock()
	reuseportUpdateIncomingCPU(sk, v)
	sk.u.bh.Unlock()
}

// IncomingCPU returns SO_INCOMING_CPU: sk_incoming_cpu, −1 until set or
// until a connected socket receives (sk_incoming_cpu_update).
func (sk *Sock) IncomingCPU() int32 {
	sk.u.bh.Lock()
	defer sk.u.bh.Unlock()
	return sk.incomingCPU
}
