package ipv4

import (
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/netstack/internal/arp"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Path MTU discovery modes (IP_PMTUDISC_*).
const (
	PMTUDiscDont  = 0
	PMTUDiscWant  = 1
	PMTUDiscDo    = 2
	PMTUDiscProbe = 3
)

// Datagram is what ip_make_skb needs besides the route: the flowi4 and
// inet_sock fields of one datagram.
type Datagram struct {
	Src, Dst wire.Addr
	Proto    uint8
	TOS      uint8
	TTL      uint8
	PMTUDisc int
	// SockID is the connected socket's inet_id (ip_select_ident_segs
	// uses it for sockets with a peer); nil otherwise.
	SockID *atomic.Uint32
	// IsICMP and ICMPType make the output count the message in the ICMP
	// MIB when it is built (icmp_out_count from __ip_make_skb).
	IsICMP   bool
	ICMPType uint8
	// opt are IP options for every fragment's header (ipc.opt), set by
	// the ICMP and reply senders of this package.
	opt *ipOptionsData
}

// Output builds and sends one IPv4 datagram whose transport header th
// (with its checksum already filled in) is followed by payload, over the
// route rt, fragmenting it if it exceeds the route MTU (ip_make_skb with
// ip_append_data's fragment layout, then ip_send_skb → ip_local_out →
// ip_output → ip_finish_output2 → neighbour output). It returns 0 or a
// negative errno (-ENOBUFS when no frame could be had, -EMSGSIZE when the
// datagram is larger than 65535 bytes).
func (ip *IPv4) Output(rt *OutRoute, d *Datagram, th, payload []byte) int {
	m := ip.mib
	hl := wire.IPv4MinHLen
	if d.opt != nil {
		hl += int(d.opt.opt.Optlen)
	}
	total := hl + len(th) + len(payload)
	if total > wire.IPMaxLen {
		return -EMSGSIZE
	}
	mtu := rt.MTU
	if mtu <= 0 {
		mtu = ip.dev.MTU
	}
	df := d.PMTUDisc == PMTUDiscDo || d.PMTUDisc == PMTUDiscProbe ||
		(total <= mtu && d.PMTUDisc == PMTUDiscWant)
	if total > mtu && (d.PMTUDisc == PMTUDiscDo || d.PMTUDisc == PMTUDiscProbe) {
		return -EMSGSIZE
	}
	id := ip.ipSelectIdent(d, df)
	if d.IsICMP {
		m.ICMPOutCount(d.ICMPType)
	}
	m.IPInc(mib.IpOutRequests)
	fragOff := uint16(0)
	if df {
		fragOff = wire.IPFlagDF
	}
	if total <= mtu {
		b := ip.newFrame()
		if b == nil {
			m.IPInc(mib.IpOutDiscards)
			return -ENOBUFS
		}
		p := b.Put(total)
		wire.PutIPv4(p, d.TOS, total, id, fragOff, d.TTL, d.Proto, d.Src, d.Dst)
		ip.putOptions(p, d, true)
		copy(p[hl:], th)
		copy(p[hl+len(th):], payload)
		return ip.finishOutput(rt, d, b)
	}
	// ip_fragment layout: every fragment but the last carries a multiple
	// of 8 bytes.
	per := (mtu - hl) &^ 7
	body := len(th) + len(payload)
	for off := 0; off < body; off += per {
		n := min(per, body-off)
		b := ip.newFrame()
		if b == nil {
			m.IPInc(mib.IpOutDiscards)
			m.IPInc(mib.IpFragFails)
			return -ENOBUFS
		}
		p := b.Put(hl + n)
		fo := uint16(off>>3) | fragOff
		if off+n < body {
			fo |= wire.IPFlagMF
		}
		wire.PutIPv4(p, d.TOS, hl+n, id, fo, d.TTL, d.Proto, d.Src, d.Dst)
		ip.putOptions(p, d, off == 0)
		// Copy body[off:off+n] where body = th ++ payload.
		q := p[hl:]
		lo, hi := off, off+n
		if lo < len(th) {
			c := copy(q, th[lo:min(hi, len(th))])
			q = q[c:]
			lo += c
		}
		if lo < hi {
			copy(q, payload[lo-len(th):hi-len(th)])
		}
		m.IPInc(mib.IpFragCreates)
		if err := ip.finishOutput(rt, d, b); err != 0 && err != -EHOSTUNREACH {
			return err
		}
	}
	m.IPInc(mib.IpFragOKs)
	return 0
}

func (ip *IPv4) newFrame() *skb.Buffer {
	b := ip.cfg.FramePool.Get()
	if b == nil {
		return nil
	}
	b.Reserve(ip.dev.Headroom + wire.EthHLen)
	b.Network = b.DataOffset()
	return b
}

// finishOutput counts the packet and hands it to the neighbour layer
// (ip_finish_output2).
func (ip *IPv4) finishOutput(rt *OutRoute, d *Datagram, b *skb.Buffer) int {
	m := ip.mib
	n := uint64(b.Len())
	switch rt.Type {
	case RtnMulticast:
		m.IPInc(mib.IpExtOutMcastPkts)
		m.IPAdd(mib.IpExtOutMcastOctets, n)
	case RtnBroadcast:
		m.IPInc(mib.IpExtOutBcastPkts)
		m.IPAdd(mib.IpExtOutBcastOctets, n)
	}
	m.IPInc(mib.IpOutTransmits)
	m.IPAdd(mib.IpExtOutOctets, n)
	switch rt.Type {
	case RtnBroadcast:
		arp.XmitTo(ip.dev, b, wire.BroadcastMAC)
	case RtnMulticast:
		arp.XmitTo(ip.dev, b, wire.MulticastMAC(d.Dst))
	case RtnLocal:
		// No loopback device: local destinations are not reachable.
		m.IPInc(mib.IpOutDiscards)
		m.KfreeSkbReason(b, mib.DropIPOutNoRoutes)
		return -ENETUNREACH
	default:
		ip.cfg.Neigh.Output(b, rt.Nexthop, d.Src)
	}
	return 0
}

// ipSelectIdent mirrors ip_select_ident_segs: a connected socket's own
// counter; 0 for an unfragmentable datagram of an unconnected socket;
// otherwise __ip_select_ident's hashed per-destination counters, bumped by
// a random amount growing with the time since the bucket was last used
// (ip_idents_reserve). The bucket hash is jhash keyed by a boot secret
// rather than siphash.
func (ip *IPv4) ipSelectIdent(d *Datagram, df bool) uint16 {
	if d.SockID != nil {
		return uint16(d.SockID.Add(1))
	}
	if df {
		return 0
	}
	h := Jhash3Words(uint32(d.Dst), uint32(d.Src), uint32(d.Proto), ip.identSecret)
	i := h & uint32(len(ip.identTS)-1)
	now := ip.clk.Jiffies()
	old := ip.identTS[i].Load()
	delta := uint32(0)
	if old != now && ip.identTS[i].CompareAndSwap(old, now) {
		delta = uint32((uint64(ip.Rand()) * uint64(now-old)) >> 32)
	}
	return uint16(ip.identCnt[i].Add(1+delta) - 1)
}
