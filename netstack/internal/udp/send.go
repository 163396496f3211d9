package udp

import (
	"encoding/binary"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// Sockaddr is a struct sockaddr_in in host terms.
type Sockaddr struct {
	Family int
	Addr   wire.Addr
	Port   uint16
}

// SendOpts are udp_sendmsg's arguments besides the data.
type SendOpts struct {
	// Name is msg_name; nil sends to the connected peer.
	Name *Sockaddr
	// Batch is MSG_BATCH, which sendmmsg sets on every datagram but
	// its last: more follow at once, so the frames are posted without
	// notifying the device, the next datagram's doing so. A caller
	// whose batch ends in an error calls XmitFlush.
	Batch bool
}

// Sendmsg mirrors udp.c: udp_sendmsg for the uncorked path: destination
// from the arguments or the connected peer (EDESTADDRREQ), autobind,
// route (ENETUNREACH counts Ip.OutNoRoutes), broadcast needs SO_BROADCAST
// (EACCES), checksum in software, then ip output. It counts
// Udp.OutDatagrams on success and Udp.SndbufErrors on ENOBUFS. What the
// send loops back to this host (through lo, or a broadcast or joined
// multicast) is delivered before it returns, as local_bh_enable runs the
// softirq in Linux, but only once the socket's lock is released.
func (sk *Sock) Sendmsg(p []byte, o SendOpts) int {
	n := sk.sendmsg(p, o)
	sk.u.ip.LocalBhEnable()
	return n
}

// sendmsg is Sendmsg's body, run under the socket lock.
func (sk *Sock) sendmsg(p []byte, o SendOpts) int {
	u := sk.u
	m := u.mib
	if len(p) > 0xffff-wire.UDPHLen-wire.IPv4MinHLen {
		return -EMSGSIZE
	}
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	if sk.shutdown.Load()&SendShutdown != 0 {
		return -EPIPE
	}
	connected := false
	var daddr wire.Addr
	var dport uint16
	if to := o.Name; to != nil {
		if to.Family != AFInet {
			if to.Family != AFUnspec {
				return -EAFNOSUPPORT
			}
		}
		if to.Port == 0 {
			return -EINVAL
		}
		daddr, dport = to.Addr, to.Port
	} else {
		if sk.state != StateEstablished {
			return -EDESTADDRREQ
		}
		daddr, dport = sk.daddr, sk.dport
		connected = true
	}
	if err := sk.inetAutobind(); err != 0 {
		return err
	}
	saddr := sk.saddr
	oif := sk.boundDevIf
	if daddr.IsMulticast() && oif == 0 {
		oif = sk.mcIndex
	}
	rt, err := u.ip.RouteOutput(daddr, saddr, oif)
	if err != 0 {
		if err == -ENETUNREACH {
			m.IPInc(mib.IpOutNoRoutes)
		}
		return err
	}
	if rt.Flags&ipv4.RtcfBroadcast != 0 && !sk.broadcast.Load() {
		return -EACCES
	}
	saddr = rt.Src
	var th [wire.UDPHLen]byte
	wire.PutUDP(th[:], sk.sport, dport, wire.UDPHLen+len(p))
	c := wire.CsumFold(wire.Checksum(p, wire.Checksum(th[:], wire.PseudoSum(saddr, daddr, wire.ProtoUDP, wire.UDPHLen+len(p)))))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(th[6:], c)
	ttl := uint8(u.ip.Sysctl.DefaultTTL)
	if daddr.IsMulticast() {
		ttl = sk.mcTTL
	} else if sk.ttl >= 0 {
		ttl = uint8(sk.ttl)
	}
	d := ipv4.Datagram{Src: saddr, Dst: daddr, Proto: wire.ProtoUDP, TOS: sk.tos, TTL: ttl, PMTUDisc: sk.pmtudisc,
		NoMcLoop: sk.mcNoLoop.Load(), More: o.Batch}
	if connected || sk.daddr != 0 {
		d.SockID = &sk.inetID
	}
	if e := u.ip.Output(&rt, &d, th[:], p); e != 0 {
		if e == -ENOBUFS {
			m.UDPInc(mib.UdpSndbufErrors)
		}
		return e
	}
	m.UDPInc(mib.UdpOutDatagrams)
	return len(p)
}
