package ipv4

import (
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/netstack/internal/arp"
	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
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
	// NoMcLoop is IP_MULTICAST_LOOP off: a multicast datagram is not
	// looped back to this host's sockets (sk_mc_loop; without a socket
	// it loops).
	NoMcLoop bool
	// More is MSG_BATCH: the sender has more datagrams to send at
	// once (sendmmsg), so even the last frame of this one is sent
	// with XmitMore and the device is notified by a later one.
	More bool
	// opt are IP options for every fragment's header (ipc.opt), set by
	// the ICMP and reply senders of this package.
	opt *ipOptionsData
}

// Output builds and sends one IPv4 datagram whose transport header th
// (with its checksum already filled in) is followed by payload, over the
// route rt, fragmenting it if it exceeds the route MTU (ip_make_skb with
// ip_append_data's fragment layout, then ip_send_skb → ip_local_out →
// ip_output or ip_mc_output → ip_finish_output2 → neighbour output). A
// route through lo ends in loopback_xmit; a broadcast, or a multicast to
// a group joined on the output device, is also looped back whole
// (ip_mc_output). It returns 0 or a negative errno (-ENOBUFS when no
// frame could be had, -EMSGSIZE when the datagram is larger than 65535
// bytes).
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
	dev := rt.Dev
	if dev == nil {
		dev = ip.dev
	}
	mtu := rt.MTU
	if mtu <= 0 {
		mtu = dev.MTU
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
	if rt.Flags&(RtcfBroadcast|RtcfMulticast) != 0 && rt.Flags&RtcfLocal != 0 && !dev.IsLoopback() {
		// ip_mc_output
		if rt.Flags&RtcfMulticast == 0 || !d.NoMcLoop {
			ip.ipMcFinishOutput(rt, dev, d, id, fragOff, th, payload)
		}
		if rt.Flags&RtcfMulticast != 0 && d.TTL == 0 {
			// Multicasts with TTL 0 do not leave the host.
			m.Drops[mib.DropNotSpecified].Add(1)
			return 0
		}
	}
	if total <= mtu {
		b := ip.newFrame(dev, total)
		if b == nil {
			m.IPInc(mib.IpOutDiscards)
			return -ENOBUFS
		}
		p := b.Put(total)
		wire.PutIPv4(p, d.TOS, total, id, fragOff, d.TTL, d.Proto, d.Src, d.Dst)
		ip.putOptions(p, d, true)
		copy(p[hl:], th)
		copy(p[hl+len(th):], payload)
		ip.skbDstSet(b, rt)
		b.XmitMore = d.More
		return ip.finishOutput(rt, dev, d, b)
	}
	// ip_fragment layout: every fragment but the last carries a multiple
	// of 8 bytes.
	per := (mtu - hl) &^ 7
	body := len(th) + len(payload)
	for off := 0; off < body; off += per {
		n := min(per, body-off)
		b := ip.newFrame(dev, wire.IPv4MinHLen+n)
		if b == nil {
			m.IPInc(mib.IpOutDiscards)
			m.IPInc(mib.IpFragFails)
			if off != 0 {
				// The fragments already sent went as a batch
				// that now has no last frame.
				dev.XmitFlush()
			}
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
		ip.skbDstSet(b, rt)
		// The fragments leave as one batch: only the last notifies
		// the device (Linux's ip_do_fragment hands each to
		// dev_queue_xmit alone, a notification apiece).
		b.XmitMore = d.More || off+n < body
		if err := ip.finishOutput(rt, dev, d, b); err != 0 && err != -EHOSTUNREACH {
			dev.XmitFlush()
			return err
		}
	}
	m.IPInc(mib.IpFragOKs)
	return 0
}

// XmitFlush ends a batch of datagrams sent with More whose last one
// failed before reaching the device: the driver notifies the device of
// the frames it holds back.
func (ip *IPv4) XmitFlush() {
	if ip.dev != nil {
		ip.dev.XmitFlush()
	}
}

// newFrame returns a buffer for an IP packet of size bytes sent on dev,
// with room for the device's headers: a frame, or for what a frame
// cannot hold (up to 64 KiB through lo) a buffer of the large pool.
func (ip *IPv4) newFrame(dev *ether.Device, size int) *skb.Buffer {
	room := dev.Headroom + wire.EthHLen
	p := ip.cfg.FramePool
	if p.Size() < room+size {
		p = ip.cfg.LargePool
		if p == nil || p.Size() < room+size {
			return nil
		}
	}
	b := p.Get()
	if b == nil {
		return nil
	}
	b.Reserve(room)
	b.Network = b.DataOffset()
	return b
}

// skbDstSet attaches the output route to b (skb_dst_set): a packet that
// comes back through lo is delivered on it without an input route.
func (ip *IPv4) skbDstSet(b *skb.Buffer, rt *OutRoute) {
	b.Rt = skb.Route{Type: rt.Type, Flags: rt.Flags, Valid: true, Iif: rt.Iif}
}

// ipMcFinishOutput is ip_mc_output's loopback copy (skb_clone, then
// ip_mc_finish_output → dev_loopback_xmit): the whole datagram, as built
// before fragmentation, goes back up the stack as received on dev. No
// copy, no loopback, as when skb_clone fails.
func (ip *IPv4) ipMcFinishOutput(rt *OutRoute, dev *ether.Device, d *Datagram, id, fragOff uint16, th, payload []byte) {
	total := wire.IPv4MinHLen + len(th) + len(payload)
	b := ip.newFrame(dev, total)
	if b == nil {
		return
	}
	p := b.Put(total)
	wire.PutIPv4(p, d.TOS, total, id, fragOff, d.TTL, d.Proto, d.Src, d.Dst)
	copy(p[wire.IPv4MinHLen:], th)
	copy(p[wire.IPv4MinHLen+len(th):], payload)
	b.Protocol = wire.EthPIP
	b.Rt = skb.Route{Type: rt.Type, Flags: rt.Flags, Valid: true}
	dev.DevLoopbackXmit(b)
}

// finishOutput counts the packet and hands it to the neighbour layer
// (ip_finish_output2).
func (ip *IPv4) finishOutput(rt *OutRoute, dev *ether.Device, d *Datagram, b *skb.Buffer) int {
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
	switch {
	case dev.IsLoopback():
		// lo resolves nothing (arp_constructor: NUD_NOARP with the
		// device's own, all-zero, address).
		arp.XmitTo(dev, b, dev.MAC)
	case rt.Type == RtnBroadcast:
		arp.XmitTo(dev, b, wire.BroadcastMAC)
	case rt.Type == RtnMulticast:
		arp.XmitTo(dev, b, wire.MulticastMAC(d.Dst))
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
