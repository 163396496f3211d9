// Package packet is kaidoku's af_packet (net/packet/af_packet.c): packet
// sockets of type SOCK_RAW (frames from the Ethernet header) and
// SOCK_DGRAM (from the network header, the link header described by a
// sockaddr_ll), for ETH_P_ALL or one EtherType, on every device or bound
// to one. A socket's prot_hook is an entry of the device layer's
// ptype_all (ETH_P_ALL: received and transmitted frames) or ptype_base
// (one EtherType: received frames only, as in Linux); packet_rcv copies
// the frame into the socket's receive queue against its receive buffer,
// counting tp_drops and sk_drops when it does not fit; packet_recvmsg
// returns it with its sockaddr_ll and, with PACKET_AUXDATA, a
// tpacket_auxdata; packet_snd builds a frame and hands it to
// dev_queue_xmit. PACKET_STATISTICS reads and resets the counts.
//
// Protocol numbers are kept as Linux keeps them (po->num, sll_protocol:
// __be16, network byte order in a host integer); Htons converts.
// Functions return negative errnos, as the Linux functions they mirror.
package packet

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Constants of include/uapi/linux/if_packet.h, if_ether.h and socket.h.
const (
	AFPacket = 17

	SockDgram = 2
	SockRaw   = 3

	EthPAll = 0x0003 // ETH_P_ALL, host order

	SolPacket = 263

	PacketAddMembership  = 1
	PacketStatistics     = 6
	PacketAuxdata        = 8
	PacketOrigdev        = 9
	PacketIgnoreOutgoing = 23

	// pkt_type values (sll_pkttype).
	PacketHost      = uint8(skb.PacketHost)
	PacketBroadcast = uint8(skb.PacketBroadcast)
	PacketMulticast = uint8(skb.PacketMulticast)
	PacketOtherHost = uint8(skb.PacketOtherHost)
	PacketOutgoing  = uint8(ether.PacketOutgoing)

	// tpacket_auxdata.tp_status bits.
	TPStatusUser          = 1
	TPStatusCsumNotReady  = 1 << 3
	TPStatusVlanValid     = 1 << 4
	TPStatusVlanTPIDValid = 1 << 6
	TPStatusCsumValid     = 1 << 7

	// SizeofSockaddrLL is sizeof(struct sockaddr_ll), the msg_namelen
	// packet_recvmsg reports for a 6-byte hardware address.
	SizeofSockaddrLL = 20
	// SizeofAuxdata is sizeof(struct tpacket_auxdata).
	SizeofAuxdata = 20
	// SizeofStats is sizeof(struct tpacket_stats).
	SizeofStats = 8

	// vlanHLen is VLAN_HLEN, the tag packet_snd allows beyond the MTU.
	vlanHLen = 4

	// SockMinRcvbuf, RmemDefault and RmemMax are the socket layer's
	// receive-buffer limits (SOCK_MIN_RCVBUF, net.core.rmem_default,
	// net.core.rmem_max).
	SockMinRcvbuf = 2304
	RmemDefault   = 212992
	RmemMax       = 212992
)

// Negative errnos returned by this package.
const (
	EPERM        = 1
	EINTR        = 4
	ENXIO        = 6
	EBADF        = 9
	EAGAIN       = 11
	ENOBUFS      = 105
	EFAULT       = 14
	ENODEV       = 19
	EINVAL       = 22
	EMSGSIZE     = 90
	ENOPROTOOPT  = 92
	EOPNOTSUPP   = 95
	ENETDOWN     = 100
	ESOCKTNOTSUP = 94
	ETIMEDOUT    = 110
)

// Msg flags packet_recvmsg accepts or sets.
const (
	MsgPeek     = 0x2
	MsgTrunc    = 0x20
	MsgDontwait = 0x40
	MsgErrqueue = 0x2000
	MsgCmsgComp = 0x80000000
)

// Htons is htons for protocol numbers.
func Htons(v uint16) uint16 { return v<<8 | v>>8 }

// Sockaddr is struct sockaddr_ll. Protocol is in network byte order
// (sll_protocol is __be16).
type Sockaddr struct {
	Family   uint16
	Protocol uint16
	Ifindex  int32
	Hatype   uint16
	Pkttype  uint8
	Halen    uint8
	Addr     [8]byte
}

// Auxdata is struct tpacket_auxdata (PACKET_AUXDATA).
type Auxdata struct {
	Status   uint32
	Len      uint32
	Snaplen  uint32
	Mac      uint16
	Net      uint16
	VlanTCI  uint16
	VlanTPID uint16
}

// Marshal returns the auxdata as the cmsg payload Linux writes.
func (a *Auxdata) Marshal() []byte {
	b := make([]byte, SizeofAuxdata)
	binary.LittleEndian.PutUint32(b[0:], a.Status)
	binary.LittleEndian.PutUint32(b[4:], a.Len)
	binary.LittleEndian.PutUint32(b[8:], a.Snaplen)
	binary.LittleEndian.PutUint16(b[12:], a.Mac)
	binary.LittleEndian.PutUint16(b[14:], a.Net)
	binary.LittleEndian.PutUint16(b[16:], a.VlanTCI)
	binary.LittleEndian.PutUint16(b[18:], a.VlanTPID)
	return b
}

// Stats is struct tpacket_stats (PACKET_STATISTICS).
type Stats struct {
	Packets uint32
	Drops   uint32
}

// Filter stands in for the socket filter (SO_ATTACH_FILTER's program,
// run_filter): given the frame as the socket would queue it, it returns
// how many bytes to keep; 0 drops the frame without counting it, as a
// filter that rejects does.
type Filter func(frame []byte) int

// Config is what the packet layer needs from the namespace.
type Config struct {
	Net  *ether.Net
	MIB  *mib.MIB
	Pool *skb.Pool // copies of received frames and frames sent
	// LargePool holds copies larger than a Pool buffer (may be nil).
	LargePool *skb.Pool
	Now       func() int64
}

// Table is net->packet: the sockets of the namespace and their hooks,
// installed in the device layer as its PacketHooks.
type Table struct {
	cfg Config

	mu    sync.Mutex
	hooks atomic.Pointer[[]protHook] // the running prot_hooks, in registration order; stored under mu
	// +checklocks:mu
	inuse int
}

// protHook is a registered packet_type: a copy of the socket's hook as
// it was registered, so that a walk that started before a rebind never
// reads fields the rebind is changing.
type protHook struct {
	sk  *Sock
	typ uint16 // network byte order
	dev int    // ifindex, 0 for every device
}

// New creates the namespace's packet table and registers its hooks
// with the device layer.
func New(cfg Config) *Table {
	t := &Table{cfg: cfg}
	cfg.Net.SetPacketHooks(t)
	return t
}

// InUse is sock_prot_inuse_get for PACKET (/proc/net/sockstat's PACKET
// line has no such field; it is for tests).
func (t *Table) InUse() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inuse
}

func (t *Table) loadHooks() []protHook {
	if p := t.hooks.Load(); p != nil {
		return *p
	}
	return nil
}

// registerProtHook is __register_prot_hook: dev_add_pack of the
// socket's prot_hook. bind_lock held.
//
// +checklocks:sk.bindMu
func (t *Table) registerProtHook(sk *Sock) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.loadHooks()
	n := make([]protHook, len(old), len(old)+1)
	copy(n, old)
	n = append(n, protHook{sk, sk.hookType, sk.hookDev})
	t.hooks.Store(&n)
	sk.running = true
}

// unregisterProtHook is __unregister_prot_hook (dev_remove_pack): once
// it returns no new frame reaches the socket. bind_lock held.
//
// +checklocks:sk.bindMu
func (t *Table) unregisterProtHook(sk *Sock) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.loadHooks()
	n := make([]protHook, 0, len(cur))
	for _, h := range cur {
		if h.sk != sk {
			n = append(n, h)
		}
	}
	t.hooks.Store(&n)
	sk.running = false
}

// RcvAll is the ptype_all walk for packet sockets (deliver_skb of each
// ETH_P_ALL prot_hook in __netif_receive_skb_core, or
// dev_queue_xmit_nit for a transmitted frame). A socket does not see
// what it sent itself (skb_loop_sk).
func (t *Table) RcvAll(b *skb.Buffer, d *ether.Device, pktType skb.PacketType) bool {
	matched := false
	for _, h := range t.loadHooks() {
		if h.typ != Htons(EthPAll) || (h.dev != 0 && h.dev != d.Ifindex) {
			continue
		}
		if pktType == ether.PacketOutgoing && (b.Sk == any(h.sk) || h.sk.ignoreOutgoing.Load()) {
			continue
		}
		matched = true
		h.sk.packetRcv(b, d, pktType)
	}
	return matched
}

// RcvType is the ptype_base walk for packet sockets of b.Protocol
// (deliver_ptype_list_skb).
func (t *Table) RcvType(b *skb.Buffer, d *ether.Device) bool {
	matched := false
	for _, h := range t.loadHooks() {
		if h.typ != Htons(b.Protocol) || h.typ == Htons(EthPAll) || (h.dev != 0 && h.dev != d.Ifindex) {
			continue
		}
		matched = true
		h.sk.packetRcv(b, d, b.PktType)
	}
	return matched
}

// entry is what a queued frame carries besides its data: the
// PACKET_SKB_CB (sockaddr_ll, original length) and the skb fields
// packet_recvmsg reads.
type entry struct {
	sll      Sockaddr
	origlen  int
	net      int // skb_network_offset of the queued data
	protocol uint16
	pktType  uint8
	summed   skb.Checksum
	vlan     bool
	vlanTCI  uint16
	tstamp   int64
	dropcnt  uint32 // sk_drops when queued (sock_skb_set_dropcount)
}
