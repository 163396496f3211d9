package ether

import "github.com/kaidoku-net/kaidoku/netstack/skb"

// PacketOutgoing is the pkt_type dev_queue_xmit_nit gives the copy of a
// transmitted frame that the ptype_all taps see (PACKET_OUTGOING).
const PacketOutgoing skb.PacketType = 4

// PacketHooks is how af_packet's sockets hang off the device layer: the
// packet_type entries their prot_hook registers, in ptype_all (ETH_P_ALL)
// or ptype_base (one EtherType). The hooks see the buffer and must not
// keep it: they copy what they queue (where Linux clones a shared skb).
type PacketHooks interface {
	// RcvAll is the ptype_all walk of __netif_receive_skb_core (rx) and
	// of dev_queue_xmit_nit (tx, where pktType is PacketOutgoing and
	// b.Data() starts at the Ethernet header). It reports whether an
	// entry matched d, which makes an unhandled EtherType a consume
	// rather than a drop.
	RcvAll(b *skb.Buffer, d *Device, pktType skb.PacketType) bool
	// RcvType is the ptype_base walk for b.Protocol, before the
	// protocol's own handler; it reports whether an entry matched.
	RcvType(b *skb.Buffer, d *Device) bool
}

// SetPacketHooks installs af_packet's hooks (once, before frames flow).
func (n *Net) SetPacketHooks(h PacketHooks) { n.packet = h }

// deliverAll runs the af_packet part of the ptype_all walk.
func (d *Device) deliverAll(b *skb.Buffer, pktType skb.PacketType) bool {
	if h := d.net.packet; h != nil {
		return h.RcvAll(b, d, pktType)
	}
	return false
}

// deliverType runs the af_packet part of the ptype_base walk.
func (d *Device) deliverType(b *skb.Buffer) bool {
	if h := d.net.packet; h != nil {
		return h.RcvType(b, d)
	}
	return false
}

// HardHeaderLen is dev->hard_header_len: 14 for Ethernet, which lo
// shares (loopback_setup uses ETH_HLEN).
func (d *Device) HardHeaderLen() int { return 14 }

// Type is dev->type (ARPHRD_*): ARPHRD_LOOPBACK for lo, ARPHRD_ETHER
// otherwise.
func (d *Device) Type() uint16 {
	if d.IsLoopback() {
		return 772
	}
	return 1
}
