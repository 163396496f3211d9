// Package ipv4 is kaidoku's IPv4 layer and ICMP, mirroring net/ipv4:
// ip_rcv and its header checks (ip_input.c), input and output routing for
// a host with the loopback device and one Ethernet interface (route.c,
// fib_frontend.c, fib_trie.c's lookups, devinet.c's address selection),
// options (ip_options.c: parsing, received source routes, the options
// echoed in replies and written on output), reassembly (ip_fragment.c,
// inet_fragment.c), the inet_peer cache (inetpeer.c), local delivery with
// raw and protocol dispatch (inet_protos), ICMP receive, errors, echo and
// rate limits (icmp.c), device multicast membership (igmp.c, without IGMP
// messages) and output with fragmentation, multicast/broadcast loopback
// and the control-socket reply (ip_output.c: ip_send_unicast_reply).
//
// Everything that runs in Linux's softirq context — the receive path,
// the reassembly timer, ICMP generation, and socket-table changes made by
// applications — runs with the stack's BH lock held (the lock passed in
// Config.BH); that single lock stands in for local_bh_disable plus the
// per-structure spinlocks of a multi-CPU kernel.
package ipv4

import (
	"sync"
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/netstack/internal/arp"
	"github.com/kaidoku-net/kaidoku/netstack/internal/clock"
	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Route types (RTN_*, include/uapi/linux/rtnetlink.h).
const (
	RtnUnspec      = 0
	RtnUnicast     = 1
	RtnLocal       = 2
	RtnBroadcast   = 3
	RtnMulticast   = 5
	RtnUnreachable = 7
)

// Route flags, the RTCF_* bits the receive path tests.
const (
	RtcfLocal     = 1 << 0
	RtcfBroadcast = 1 << 1
	RtcfMulticast = 1 << 2
)

// Errno values used inside the layer (Linux numbers).
const (
	EINVAL       = 22
	EXDEV        = 18
	EHOSTUNREACH = 113
	ENETUNREACH  = 101
	ENOBUFS      = 105
	EMSGSIZE     = 90
	EACCES       = 13
	EPERM        = 1
	EAFNOSUPPORT = 97
	ENODEV       = 19
)

// Sysctl holds the net.ipv4 settings this layer reads, with Linux's
// defaults from NewSysctl. Times are in ns; IcmpRatelimit is in jiffies
// (ms), as the sysctl stores it.
type Sysctl struct {
	DefaultTTL                    uint8
	IcmpRatelimit                 uint32
	IcmpRatemask                  uint32
	IcmpMsgsPerSec                uint32
	IcmpMsgsBurst                 uint32
	IcmpEchoIgnoreBroadcasts      bool
	IcmpEchoIgnoreAll             bool
	IcmpIgnoreBogusErrorResponses bool
	IcmpErrorsUseInboundIfaddr    bool
	IpfragTime                    int64
	IpfragHighThresh              int
	IpfragMaxDist                 uint32
	AcceptSourceRoute             bool
	RouteLocalnet                 bool
	AcceptLocal                   bool
	IPEarlyDemux                  bool
	UDPEarlyDemux                 bool
	DropUnicastInL2Multicast      bool
	LocalPortLow, LocalPortHigh   int
	UnprivilegedPortStart         int
}

// NewSysctl returns v6.8's defaults (x86_64, 4 KiB pages).
func NewSysctl() Sysctl {
	return Sysctl{
		DefaultTTL:                    64,
		IcmpRatelimit:                 1000,
		IcmpRatemask:                  0x1818,
		IcmpMsgsPerSec:                1000,
		IcmpMsgsBurst:                 50,
		IcmpEchoIgnoreBroadcasts:      true,
		IcmpIgnoreBogusErrorResponses: true,
		IpfragTime:                    30e9,
		IpfragHighThresh:              4 << 20,
		IpfragMaxDist:                 64,
		IPEarlyDemux:                  true,
		UDPEarlyDemux:                 true,
		LocalPortLow:                  32768,
		LocalPortHigh:                 60999,
		UnprivilegedPortStart:         1024,
	}
}

// Protocol is a struct net_protocol registered in inet_protos.
type Protocol struct {
	// Handler receives a datagram with b.Data() at the transport header
	// and owns it. It returns 0, or -proto to resubmit (encapsulation).
	Handler func(b *skb.Buffer) int
	// ErrHandler receives an ICMP error with b.Data() at the quoted IP
	// header (which is followed by at least 8 bytes) and b.Transport at
	// the ICMP header. It must not keep or free b.
	ErrHandler func(b *skb.Buffer, info uint32)
	// EarlyDemux may attach a socket (b.Sk) before routing; it returns a
	// negative errno to drop the packet.
	EarlyDemux func(b *skb.Buffer) int
}

// Config wires the IPv4 layer.
type Config struct {
	// Net is the namespace's device table (with lo); Dev is its
	// Ethernet interface, which carries Addr.
	Net       *ether.Net
	Dev       *ether.Device
	MIB       *mib.MIB
	Clock     *clock.Clock
	Neigh     *arp.Table
	FramePool *skb.Pool
	// LargePool holds reassembled datagrams that do not fit a frame.
	LargePool *skb.Pool
	// BH is the softirq lock (see the package doc); timers take it.
	BH   *sync.Mutex
	Rand func() uint32

	Addr      wire.Addr
	PrefixLen int
	Gateway   wire.Addr // 0: no default route
	Sysctl    Sysctl
}

// IPv4 is the per-namespace IPv4 state.
type IPv4 struct {
	cfg    Config
	Sysctl Sysctl
	dev    *ether.Device
	net    *ether.Net
	mib    *mib.MIB
	clk    *clock.Clock

	addr, mask, bcast, gw wire.Addr

	ifaddrs []inIfaddr // lo's 127.0.0.1/8, then the NIC's address
	fib     []fibRoute // local then main table, longest prefix first

	protos [256]*Protocol

	// mc holds each device's joined groups (in_dev->mc_list) with
	// reference counts, by ifindex; 224.0.0.1 is always joined
	// (ip_mc_up).
	mc map[int]map[wire.Addr]int

	frags fqdir
	peers peerTable
	icmpG icmpGlobal

	identSecret uint32
	identCnt    [2048]atomic.Uint32
	identTS     [2048]atomic.Uint32
}

// New builds the IPv4 layer and registers ip_rcv for ETH_P_IP.
func New(cfg Config) *IPv4 {
	ip := &IPv4{cfg: cfg, Sysctl: cfg.Sysctl, dev: cfg.Dev, net: cfg.Net, mib: cfg.MIB, clk: cfg.Clock}
	ip.addr = cfg.Addr
	if cfg.PrefixLen > 0 && cfg.PrefixLen <= 32 {
		ip.mask = wire.Addr(^uint32(0) << (32 - cfg.PrefixLen))
	} else if cfg.PrefixLen == 0 {
		ip.mask = 0
	}
	ip.bcast = ip.addr | ^ip.mask
	ip.gw = cfg.Gateway
	ip.mc = make(map[int]map[wire.Addr]int)
	for _, d := range ip.net.Devices() {
		ip.mc[d.Ifindex] = map[wire.Addr]int{wire.AddrOf(224, 0, 0, 1): 1}
	}
	ip.fibSetup()
	ip.frags.init(ip)
	ip.peers.init()
	if cfg.Rand != nil {
		ip.identSecret = cfg.Rand()
	}
	ip.Register(wire.ProtoICMP, &Protocol{Handler: ip.icmpRcv})
	// IGMP is registered as Linux does with CONFIG_IP_MULTICAST, so that
	// queries are consumed rather than answered with protocol
	// unreachable; kaidoku sends no IGMP reports.
	ip.Register(wire.ProtoIGMP, &Protocol{Handler: ip.igmpRcv})
	cfg.Dev.AddPack(wire.EthPIP, ip.Rcv)
	return ip
}

// Register sets inet_protos[proto] (inet_add_protocol).
func (ip *IPv4) Register(proto uint8, p *Protocol) { ip.protos[proto] = p }

// Addr returns the interface address.
func (ip *IPv4) Addr() wire.Addr { return ip.addr }

// Broadcast returns the subnet broadcast address.
func (ip *IPv4) Broadcast() wire.Addr { return ip.bcast }

// Dev returns the Ethernet device.
func (ip *IPv4) Dev() *ether.Device { return ip.dev }

// Net returns the namespace's devices and backlog.
func (ip *IPv4) Net() *ether.Net { return ip.net }

// LocalBhEnable runs what the caller looped back (local_bh_enable →
// do_softirq); a sender calls it after releasing its own locks.
func (ip *IPv4) LocalBhEnable() { ip.net.DoSoftirq() }

// MIB returns the counters.
func (ip *IPv4) MIB() *mib.MIB { return ip.mib }

// Clock returns the stack clock.
func (ip *IPv4) Clock() *clock.Clock { return ip.clk }

// Rand returns a random number from the configured source.
func (ip *IPv4) Rand() uint32 {
	if ip.cfg.Rand == nil {
		return 0
	}
	return ip.cfg.Rand()
}

// randBelow returns a uniform value in [0, n) (get_random_u32_below).
func (ip *IPv4) randBelow(n uint32) uint32 {
	return uint32((uint64(ip.Rand()) * uint64(n)) >> 32)
}

// FramePool returns the pool transmit frames come from.
func (ip *IPv4) FramePool() *skb.Pool { return ip.cfg.FramePool }

// JoinGroup adds a reference to group on device ifindex
// (ip_mc_inc_group). Callers hold the BH lock.
func (ip *IPv4) JoinGroup(ifindex int, group wire.Addr) {
	if l := ip.mc[ifindex]; l != nil {
		l[group]++
	}
}

// LeaveGroup drops a reference to group on device ifindex
// (ip_mc_dec_group).
func (ip *IPv4) LeaveGroup(ifindex int, group wire.Addr) {
	l := ip.mc[ifindex]
	if n := l[group]; n > 1 {
		l[group] = n - 1
	} else {
		delete(l, group)
	}
}

// Joined returns device ifindex's groups and their reference counts.
func (ip *IPv4) Joined(ifindex int) map[wire.Addr]int {
	out := make(map[wire.Addr]int, len(ip.mc[ifindex]))
	for k, v := range ip.mc[ifindex] {
		out[k] = v
	}
	return out
}

// ipCheckMc reports membership of group on device ifindex
// (igmp.c: ip_check_mc_rcu, no source filters).
func (ip *IPv4) ipCheckMc(ifindex int, group, src wire.Addr, proto uint8) bool {
	return ip.mc[ifindex][group] > 0
}

// McFindDev mirrors igmp.c: ip_mc_find_dev for IP_ADD_MEMBERSHIP and
// IP_DROP_MEMBERSHIP: the device ifindex names, else the one that has
// ifaddr, else the device of the route to the group. It returns the
// device's index, or 0 when there is none.
func (ip *IPv4) McFindDev(group, ifaddr wire.Addr, ifindex int) int {
	if ifindex != 0 {
		if ip.net.GetByIndex(ifindex) == nil {
			return 0
		}
		return ifindex
	}
	var dev *ether.Device
	if ifaddr != 0 {
		if dev = ip.ipDevFind(ifaddr); dev == nil {
			return 0
		}
	} else if rt, err := ip.RouteOutput(group, 0, 0); err == 0 {
		dev = rt.Dev
	}
	if dev == nil {
		return 0
	}
	return dev.Ifindex
}

func (ip *IPv4) igmpRcv(b *skb.Buffer) int {
	ip.mib.ConsumeSkb(b)
	return 0
}

// IsJoined reports whether group is joined on device ifindex.
func (ip *IPv4) IsJoined(ifindex int, group wire.Addr) bool { return ip.mc[ifindex][group] > 0 }
