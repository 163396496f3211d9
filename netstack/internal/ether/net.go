package ether

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Loopback device parameters as drivers/net/loopback.c sets them up.
const (
	LoopbackName = "lo"
	LoopbackMTU  = 65536 // 64 KiB, as loopback_setup
)

// Backlog limits (net.core sysctls).
const (
	// MaxBacklog is netdev_max_backlog: enqueue_to_backlog refuses a
	// packet when the queue already holds more.
	MaxBacklog = 1000
	// BacklogWeight is dev_weight (weight_p), the quota of one
	// process_backlog poll.
	BacklogWeight = 64
)

// Net is the link-layer state of one network namespace: its device
// table (the loopback device, registered first as loopback_net_init
// does, then the NICs), ptype_base, and the per-CPU backlog that netif_rx
// feeds (struct softnet_data's input_pkt_queue with its backlog NAPI).
type Net struct {
	mib *mib.MIB
	bh  *sync.Mutex

	devs   []*Device // registration order; read-only after setup
	lo     *Device
	ptypes []ptype     // ptype_base; set up before the first frame
	packet PacketHooks // af_packet's ptype_all and ptype_base entries

	backlogMu sync.Mutex
	// +checklocks:backlogMu
	backlog skb.Queue
	queued  atomic.Int32 // backlog.Len(), read without the lock

	stamp netstamp // receive timestamps (tstamp.go)
}

// NewNet creates a namespace with its loopback device (ifindex 1, "lo",
// MTU 65536, no hardware address). bh is the softirq lock the backlog is
// processed under.
func NewNet(m *mib.MIB, bh *sync.Mutex) *Net {
	n := &Net{mib: m, bh: bh}
	n.stamp.realtime = func() int64 { return time.Now().UnixNano() }
	n.lo = &Device{Ifindex: LoopbackIfindex, Name: LoopbackName, Flags: IffLoopback,
		MTU: LoopbackMTU, mib: m, net: n}
	n.devs = append(n.devs, n.lo)
	return n
}

// NewDevice registers link as the Ethernet interface ifindex called name
// (register_netdevice): the index must be positive and unused, the name
// non-empty and unused.
func (n *Net) NewDevice(link Link, ifindex int, name string) (*Device, error) {
	if ifindex <= 0 {
		return nil, fmt.Errorf("ether: interface index %d is not positive", ifindex)
	}
	if name == "" || len(name) >= 16 {
		return nil, fmt.Errorf("ether: interface name %q is not 1 to 15 bytes", name)
	}
	if n.GetByIndex(ifindex) != nil {
		return nil, fmt.Errorf("ether: interface index %d is in use", ifindex)
	}
	if n.GetByName(name) != nil {
		return nil, fmt.Errorf("ether: interface name %q is in use", name)
	}
	mtu := link.MTU()
	if mtu <= 0 {
		mtu = 1500
	}
	d := &Device{Ifindex: ifindex, Name: name, Flags: IffBroadcast | IffMulticast,
		MAC: wire.MAC(link.MAC()), MTU: mtu, Headroom: link.Headroom(), link: link, mib: n.mib, net: n}
	n.devs = append(n.devs, d)
	return d, nil
}

// Loopback returns the loopback device (net->loopback_dev).
func (n *Net) Loopback() *Device { return n.lo }

// Devices returns the devices in ifindex registration order.
func (n *Net) Devices() []*Device { return n.devs }

// GetByIndex is dev_get_by_index: the device with index i, or nil.
func (n *Net) GetByIndex(i int) *Device {
	for _, d := range n.devs {
		if d.Ifindex == i {
			return d
		}
	}
	return nil
}

// GetByName is dev_get_by_name: the device called name, or nil.
func (n *Net) GetByName(name string) *Device {
	for _, d := range n.devs {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// AddPack registers the handler for an EtherType (dev_add_pack).
func (n *Net) AddPack(typ uint16, h Handler) {
	n.ptypes = append(n.ptypes, ptype{typ, h})
}

// NetifRx is netif_rx → enqueue_to_backlog: queue b, received on d, for
// the backlog poll. b.Data() starts at the network header and b.Protocol
// is set. A full backlog drops b, counting softnet_stat's dropped and the
// device's rx_dropped. It reports whether b was queued; it never runs the
// receive path itself, so it may be called with any lock held.
func (n *Net) NetifRx(d *Device, b *skb.Buffer) bool {
	b.Ifindex = d.Ifindex
	n.netTimestampCheck(b)
	n.backlogMu.Lock()
	if n.backlog.Len() <= MaxBacklog {
		n.backlog.PushBack(b)
		n.queued.Add(1)
		n.backlogMu.Unlock()
		return true
	}
	n.backlogMu.Unlock()
	n.mib.Softnet.Dropped.Add(1)
	d.Stats.RxDropped.Add(1)
	n.mib.KfreeSkbReason(b, mib.DropCPUBacklog)
	return false
}

// BacklogLen returns how many packets wait in the backlog.
func (n *Net) BacklogLen() int { return int(n.queued.Load()) }

// ProcessBacklog is process_backlog: hand up to quota queued packets to
// __netif_receive_skb on the device each was received on, and return how
// many it handled. The caller holds the BH lock.
func (n *Net) ProcessBacklog(quota int) int {
	work := 0
	for work < quota && n.queued.Load() > 0 {
		n.backlogMu.Lock()
		b := n.backlog.PopFront()
		if b != nil {
			n.queued.Add(-1)
		}
		n.backlogMu.Unlock()
		if b == nil {
			break
		}
		work++
		d := n.GetByIndex(b.Ifindex)
		if d == nil {
			n.mib.KfreeSkbReason(b, mib.DropNotSpecified)
			continue
		}
		d.netifReceiveSkbCore(b)
	}
	return work
}

// NetRxAction polls the backlog until it is empty, as net_rx_action does
// for the backlog NAPI; packets the receive path loops back meanwhile (an
// ICMP error for a datagram sent to this host) are processed in the same
// run. The caller holds the BH lock.
func (n *Net) NetRxAction() {
	for n.ProcessBacklog(BacklogWeight) > 0 {
	}
}

// DoSoftirq runs the pending backlog work under the BH lock, as
// local_bh_enable → do_softirq runs NET_RX on the CPU that raised it:
// a sender calls it once it holds no lock of its own, so that what it
// looped back is delivered before its send returns.
func (n *Net) DoSoftirq() {
	if n.BacklogLen() == 0 {
		return
	}
	n.bh.Lock()
	n.NetRxAction()
	n.bh.Unlock()
}

// loopbackXmit is drivers/net/loopback.c: loopback_xmit: the frame goes
// back up through netif_rx as received on lo, keeping its route, and lo
// counts it once in statistics that are both its rx and tx counters.
func (d *Device) loopbackXmit(b *skb.Buffer) {
	b.Sk = nil // skb_orphan
	b.Protocol = ethTypeTrans(b, d)
	// skb_clear_tstamp: a transmit-side stamp must not pass for a
	// receive stamp (net_timestamp_check stamps only a zero one).
	b.Tstamp = 0
	// lo offers NETIF_F_HW_CSUM: senders leave the transport checksum to
	// it (CHECKSUM_PARTIAL) and the receive path trusts it. kaidoku's
	// senders fill the checksum in software; CHECKSUM_UNNECESSARY has the
	// same effect on receive.
	if b.IPSummed == skb.ChecksumNone {
		b.IPSummed = skb.ChecksumUnnecessary
	}
	n := uint64(b.Len())
	if d.net.NetifRx(d, b) {
		d.Stats.TxPackets.Add(1)
		d.Stats.TxBytes.Add(n)
		d.Stats.RxPackets.Add(1)
		d.Stats.RxBytes.Add(n)
	}
}

// DevLoopbackXmit is dev_loopback_xmit: a copy of a multicast or
// broadcast datagram that d sends goes back up the stack as received on
// d, marked PACKET_LOOPBACK, with its output route still attached.
// b.Data() starts at the IP header and b.Protocol is set.
func (d *Device) DevLoopbackXmit(b *skb.Buffer) {
	b.MAC = b.DataOffset()
	b.Network = b.DataOffset()
	b.PktType = skb.PacketLoopback
	if b.IPSummed == skb.ChecksumNone {
		b.IPSummed = skb.ChecksumUnnecessary
	}
	d.net.NetifRx(d, b)
}
