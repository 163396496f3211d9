// Package tcp is the part of net/ipv4/tcp_ipv4.c that a host with no
// TCP sockets runs. Linux registers IPPROTO_TCP, so a segment is
// delivered to a protocol (Ip.InDelivers) and counted in the Tcp MIB; as
// kaidoku has no TCP sockets, tcp_v4_rcv's lookup never matches and every
// valid segment is answered with a reset (tcp_v4_send_reset), and every
// ICMP error quoting TCP finds no socket (tcp_v4_err). Listening,
// connections, time-wait, SYN cookies and the TcpExt counters they move
// are not implemented.
package tcp

import (
	"encoding/binary"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// HLen is sizeof(struct tcphdr).
const HLen = 20

// TCP header flags (the low byte of the flags word).
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// TCP is the per-namespace TCP state: its MIB.
type TCP struct {
	ip  *ipv4.IPv4
	mib *mib.MIB
}

// New registers IPPROTO_TCP with ip (inet_init's tcp_protocol).
func New(ip *ipv4.IPv4, m *mib.MIB) *TCP {
	t := &TCP{ip: ip, mib: m}
	ip.Register(wire.ProtoTCP, &ipv4.Protocol{Handler: t.tcpV4Rcv, ErrHandler: t.tcpV4Err})
	return t
}

// tcpV4Rcv mirrors tcp_ipv4.c: tcp_v4_rcv up to its no_tcp_socket label:
// not-for-us frames are discarded uncounted; every other segment counts
// Tcp.InSegs, "even if it's bad"; a header shorter than 20 bytes counts
// Tcp.InErrs, a bad checksum Tcp.InCsumErrors and Tcp.InErrs; a good
// segment gets a reset. b.Data() is at the TCP header; tcpV4Rcv owns b
// and returns 0.
func (t *TCP) tcpV4Rcv(b *skb.Buffer) int {
	m := t.mib
	if b.PktType != skb.PacketHost {
		m.KfreeSkbReason(b, mib.DropNotSpecified)
		return 0
	}
	m.TCPInc(mib.TcpInSegs)
	p := b.Data()
	if len(p) < HLen {
		m.KfreeSkbReason(b, mib.DropNotSpecified)
		return 0
	}
	doff := int(p[12]>>4) * 4
	if doff < HLen {
		m.TCPInc(mib.TcpInErrs)
		m.KfreeSkbReason(b, mib.DropPktTooSmall)
		return 0
	}
	if len(p) < doff {
		m.KfreeSkbReason(b, mib.DropNotSpecified)
		return 0
	}
	// skb_checksum_init verifies short segments now, the rest at
	// no_tcp_socket (tcp_checksum_complete); either way a bad sum ends
	// at csum_error, as no socket can match.
	if !t.checksumOK(b) {
		m.TCPInc(mib.TcpInCsumErrors)
		m.TCPInc(mib.TcpInErrs)
		m.KfreeSkbReason(b, mib.DropTCPCsum)
		return 0
	}
	t.tcpV4SendReset(b)
	m.KfreeSkbReason(b, mib.DropNoSocket)
	return 0
}

// checksumOK is skb_checksum_init + tcp_checksum_complete: the segment
// against its pseudo-header unless the device verified it.
func (t *TCP) checksumOK(b *skb.Buffer) bool {
	if b.IPSummed == skb.ChecksumUnnecessary || b.IPSummed == skb.ChecksumPartial || b.CsumValid {
		return true
	}
	h := wire.IPv4(b.NetworkHeader())
	ok := wire.CsumFold(wire.Checksum(b.Data(), wire.PseudoSum(h.Src(), h.Dst(), wire.ProtoTCP, b.Len()))) == 0
	b.CsumValid = ok
	return ok
}

// tcpV4SendReset mirrors tcp_ipv4.c: tcp_v4_send_reset with no socket:
// never answer a reset, nor a segment that was not routed to this host
// (broadcast, multicast); otherwise send resetFor's reply. Counts
// Tcp.OutSegs and Tcp.OutRsts.
func (t *TCP) tcpV4SendReset(b *skb.Buffer) {
	th := b.Data()
	flags := th[13]
	if flags&flagRST != 0 {
		return
	}
	if b.Rt.Type != ipv4.RtnLocal {
		return
	}
	h := wire.IPv4(b.NetworkHeader())
	rep := resetFor(th, b.Len(), h.Src(), h.Dst())
	t.ip.SendUnicastReply(b, rep[:], h.TOS())
	t.mib.TCPInc(mib.TcpOutSegs)
	t.mib.TCPInc(mib.TcpOutRsts)
}

// resetFor builds the reset answering the segment th of segLen bytes
// (header included) from saddr to daddr: acknowledging what the segment
// occupied when it carried no ACK, else with its acknowledgment number as
// the sequence number, and checksummed for the way back.
func resetFor(th []byte, segLen int, saddr, daddr wire.Addr) [HLen]byte {
	flags := th[13]
	var rep [HLen]byte
	copy(rep[0:2], th[2:4]) // source ← dest
	copy(rep[2:4], th[0:2]) // dest ← source
	rep[12] = HLen / 4 << 4
	rep[13] = flagRST
	if flags&flagACK != 0 {
		copy(rep[4:8], th[8:12])
	} else {
		rep[13] |= flagACK
		seq := binary.BigEndian.Uint32(th[4:8])
		n := uint32(segLen - int(th[12]>>4)*4)
		if flags&flagSYN != 0 {
			n++
		}
		if flags&flagFIN != 0 {
			n++
		}
		binary.BigEndian.PutUint32(rep[8:12], seq+n)
	}
	// The pseudo-header swaps the request's addresses even when a
	// reversed source route sends the reply elsewhere.
	c := wire.CsumFold(wire.Checksum(rep[:], wire.PseudoSum(daddr, saddr, wire.ProtoTCP, HLen)))
	binary.BigEndian.PutUint16(rep[16:], c)
	return rep
}

// tcpV4Err mirrors tcp_ipv4.c: tcp_v4_err: the quoted segment's socket
// is looked up and, there being none, Icmp.InErrors counts the error.
func (t *TCP) tcpV4Err(b *skb.Buffer, info uint32) {
	t.mib.ICMPInc(mib.IcmpInErrors)
}
