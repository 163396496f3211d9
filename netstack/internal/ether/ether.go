// Package ether is the link layer of kaidoku: struct net_device for the
// loopback device and the Ethernet interface, the namespace's device
// table (dev_get_by_index, dev_get_by_name), eth_type_trans
// (net/ethernet/eth.c), the receive dispatcher __netif_receive_skb_core
// with its taps (ptype_all) and per-EtherType handlers (ptype_base) from
// net/core/dev.c, the backlog that netif_rx feeds (softnet_data's
// input_pkt_queue and process_backlog), the transmit entry
// dev_queue_xmit, loopback_xmit (drivers/net/loopback.c), and a pcap
// writer that plugs in as a tap.
//
// Taps observe frames synchronously and must not keep the buffer: unlike
// Linux they take no reference, so the IPv4 layer never sees a shared
// buffer and skb_share_check never has to clone (or fail, counting
// Ip.InDiscards). A protocol handler owns the buffer it is given.
package ether

import (
	"sync"
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Link is the driver seen from the stack. Transmit takes ownership of b
// on every path (it frees b if it fails) and may be called from any
// goroutine; b.Data() starts at the Ethernet header and b has at least
// Headroom bytes of headroom. MAC, MTU and Headroom are constant.
//
// A frame with b.XmitMore set is one of a batch: the driver may post it
// without notifying its device, since another frame follows at once
// (netdev_xmit_more). A Link that defers notifications this way also
// implements LinkFlusher, which the stack calls when a batch ends
// without its last frame.
type Link interface {
	Transmit(b *skb.Buffer) error
	MAC() [6]byte
	MTU() int
	Headroom() int
}

// LinkFlusher is implemented by a Link that holds back notifications for
// XmitMore frames: Flush notifies the device of any it holds.
type LinkFlusher interface {
	Flush()
}

// Handler is a ptype_base entry's func: it owns b. The network header
// is set and b.Data() starts at it.
type Handler func(b *skb.Buffer)

// Tap is a ptype_all entry: it sees every received and transmitted frame
// (from the Ethernet header) and must not keep the slice.
type Tap func(frame []byte, tx bool)

// Stats are the device counters of struct rtnl_link_stats64 this stack
// moves (ip -s -s link).
type Stats struct {
	RxPackets          atomic.Uint64
	RxBytes            atomic.Uint64
	RxDropped          atomic.Uint64 // unhandled EtherType (dev_core_stats_rx_dropped_inc)
	RxOtherhostDropped atomic.Uint64 // ip_rcv_core PACKET_OTHERHOST
	RxLengthErrors     atomic.Uint64 // frame shorter than an Ethernet header
	TxPackets          atomic.Uint64
	TxBytes            atomic.Uint64
	TxDropped          atomic.Uint64 // Link.Transmit failed
}

// Interface indexes as Linux numbers them in a one-NIC VM.
const (
	LoopbackIfindex = 1
	EthIfindex      = 2
)

type ptype struct {
	typ uint16
	h   Handler
}

// Device flags (IFF_*, include/uapi/linux/if.h).
const (
	IffBroadcast = 1 << 1
	IffLoopback  = 1 << 3
	IffNoarp     = 1 << 7
	IffMulticast = 1 << 12
)

// Device is a struct net_device: the loopback device or an Ethernet link.
type Device struct {
	Ifindex  int
	Name     string
	Flags    uint32
	MAC      wire.MAC
	MTU      int
	Headroom int
	Stats    Stats

	link Link // nil for the loopback device
	mib  *mib.MIB
	net  *Net

	tapMu sync.Mutex
	// +checklocks:tapMu
	tapSeq int
	taps   atomic.Pointer[[]tapEntry]
}

// AddPack registers the handler for an EtherType in the namespace's
// ptype_base, which every device of the namespace dispatches through
// (dev_add_pack). It must be called before frames arrive; one handler
// per EtherType.
func (d *Device) AddPack(typ uint16, h Handler) { d.net.AddPack(typ, h) }

// IsLoopback reports IFF_LOOPBACK.
func (d *Device) IsLoopback() bool { return d.Flags&IffLoopback != 0 }

// AddTap registers a tap (a ptype_all entry) and returns its removal.
func (d *Device) AddTap(t Tap) (remove func()) {
	d.tapMu.Lock()
	defer d.tapMu.Unlock()
	d.tapSeq++
	id := d.tapSeq
	old := d.loadTaps()
	n := make([]tapEntry, len(old), len(old)+1)
	copy(n, old)
	n = append(n, tapEntry{id, t})
	d.taps.Store(&n)
	return func() {
		d.tapMu.Lock()
		defer d.tapMu.Unlock()
		cur := d.loadTaps()
		out := make([]tapEntry, 0, len(cur))
		for _, e := range cur {
			if e.id != id {
				out = append(out, e)
			}
		}
		d.taps.Store(&out)
	}
}

type tapEntry struct {
	id int
	fn Tap
}

func (d *Device) loadTaps() []tapEntry {
	if p := d.taps.Load(); p != nil {
		return *p
	}
	return nil
}

// Receive is the driver's napi_gro_receive for this device: b.Data() is
// the Ethernet frame. It runs the part of virtio's receive_buf that
// matters above the driver (the minimum length and eth_type_trans), the
// checksum check GRO makes (groReceive), then __netif_receive_skb_core.
// The stack owns b from here on.
func (d *Device) Receive(b *skb.Buffer) {
	d.Stats.RxPackets.Add(1)
	d.Stats.RxBytes.Add(uint64(b.Len()))
	if b.Len() < wire.EthHLen {
		d.Stats.RxLengthErrors.Add(1)
		d.mib.KfreeSkbReason(b, mib.DropPktTooSmall)
		return
	}
	b.Ifindex = d.Ifindex
	b.Protocol = ethTypeTrans(b, d)
	groReceive(b)
	// netif_receive_skb_list_internal: the receive timestamp.
	d.net.netTimestampCheck(b)
	d.netifReceiveSkbCore(b)
}

// ethTypeTrans classifies the frame and pulls the Ethernet header
// (net/ethernet/eth.c: eth_type_trans).
func ethTypeTrans(b *skb.Buffer, d *Device) uint16 {
	b.MAC = b.DataOffset()
	eth := wire.Eth(b.Data())
	dst := eth.Dst()
	proto := eth.Type()
	b.Pull(wire.EthHLen)
	b.PktType = skb.PacketHost
	if dst != d.MAC {
		if dst.IsMulticast() {
			if dst.IsBroadcast() {
				b.PktType = skb.PacketBroadcast
			} else {
				b.PktType = skb.PacketMulticast
			}
		} else {
			b.PktType = skb.PacketOtherHost
		}
	}
	if proto >= wire.EthPMin {
		return proto
	}
	if p := b.Data(); len(p) >= 2 && p[0] == 0xff && p[1] == 0xff {
		return wire.EthP8023
	}
	return wire.EthP8022
}

// vlanSetEncapProto sets the protocol from the EtherType inside a tag
// (include/linux/if_vlan.h: vlan_set_encap_proto).
func vlanSetEncapProto(b *skb.Buffer, proto uint16) {
	if proto >= wire.EthPMin {
		b.Protocol = proto
		return
	}
	if p := b.Data(); len(p) >= 2 && p[0] == 0xff && p[1] == 0xff {
		b.Protocol = wire.EthP8023
		return
	}
	b.Protocol = wire.EthP8022
}

// skbVlanUntag moves an 802.1Q/802.1ad tag from the data into metadata
// (net/core/skbuff.c: skb_vlan_untag). On failure it frees b.
func (d *Device) skbVlanUntag(b *skb.Buffer) bool {
	if b.VlanPresent {
		return true
	}
	p := b.Data()
	if len(p) < wire.VlanHLen {
		d.mib.KfreeSkbReason(b, mib.DropNotSpecified)
		return false
	}
	b.VlanTCI = uint16(p[0])<<8 | uint16(p[1])
	b.VlanPresent = true
	inner := uint16(p[2])<<8 | uint16(p[3])
	b.Pull(wire.VlanHLen)
	vlanSetEncapProto(b, inner)
	b.Network = b.DataOffset()
	return true
}

func isVlanProto(p uint16) bool { return p == wire.EthP8021Q || p == wire.EthP8021AD }

// netifReceiveSkbCore mirrors net/core/dev.c: __netif_receive_skb_core
// for a device with no VLAN uppers, rx_handler, tc or XDP.
func (d *Device) netifReceiveSkbCore(b *skb.Buffer) {
	b.Network = b.DataOffset()
	d.mib.Softnet.Processed.Add(1)
	if isVlanProto(b.Protocol) {
		if !d.skbVlanUntag(b) {
			return
		}
	}
	taps := d.loadTaps()
	if b.PktType == skb.PacketLoopback {
		// af_packet skips looped-back copies (packet_rcv): a tap saw
		// the datagram when it was transmitted.
		taps = nil
	}
	for _, t := range taps {
		t.fn(b.MACHeader(), false)
	}
	delivered := len(taps) > 0
	if b.PktType != skb.PacketLoopback && d.deliverAll(b, b.PktType) {
		delivered = true
	}
	for b.VlanPresent {
		if b.VlanTCI&0x0fff != 0 {
			// No VLAN device for this VID.
			b.PktType = skb.PacketOtherHost
		} else if isVlanProto(b.Protocol) {
			// Priority tag over an inner tag: strip the outer one and
			// look at the inner one.
			b.VlanPresent = false
			b.VlanTCI = 0
			if !d.skbVlanUntag(b) {
				return
			}
			continue
		}
		b.VlanPresent = false
		b.VlanTCI = 0
	}
	if d.deliverType(b) {
		delivered = true
	}
	pt := d.net.ptypes
	for i := range pt {
		if pt[i].typ == b.Protocol {
			pt[i].h(b)
			return
		}
	}
	if delivered {
		// The last tap took the original reference: not a drop.
		d.mib.ConsumeSkb(b)
		return
	}
	d.Stats.RxDropped.Add(1)
	d.mib.KfreeSkbReason(b, mib.DropUnhandledProto)
}

// Xmit hands a frame to the driver (dev_queue_xmit): taps see it first
// (dev_queue_xmit_nit). It takes ownership of b.
func (d *Device) Xmit(b *skb.Buffer) error {
	for _, t := range d.loadTaps() {
		t.fn(b.Data(), true)
	}
	d.deliverAll(b, PacketOutgoing)
	if d.link == nil {
		b.XmitMore = false
		d.loopbackXmit(b)
		return nil
	}
	n := b.Len()
	if err := d.link.Transmit(b); err != nil {
		d.Stats.TxDropped.Add(1)
		return err
	}
	d.Stats.TxPackets.Add(1)
	d.Stats.TxBytes.Add(uint64(n))
	return nil
}

// XmitFlush tells the driver that a batch of frames sent with XmitMore
// has ended without its last frame, so that it notifies its device of
// what it holds back (see LinkFlusher). Without such a driver, or on
// the loopback device, it does nothing.
func (d *Device) XmitFlush() {
	if f, ok := d.link.(LinkFlusher); ok {
		f.Flush()
	}
}
