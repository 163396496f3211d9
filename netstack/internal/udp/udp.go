// Package udp is kaidoku's UDP, mirroring net/ipv4/udp.c of Linux v6.8:
// the two-level socket table (udp_table hash and hash2), lookup with
// compute_score and SO_REUSEPORT groups (net/core/sock_reuseport.c),
// early demux, broadcast and multicast fan-out, the checksum model with
// deferred verification, receive-memory accounting
// (__udp_enqueue_schedule_skb, udp_rmem_release, udp_mem), the two
// receive queues, blocking receive with exclusive wakeups
// (__skb_recv_udp, __skb_wait_for_more_packets), bind with Linux's
// conflict rules and ephemeral port search, connect, disconnect, ICMP
// error reporting (__udp4_lib_err), transmit (udp_sendmsg) and
// /proc/net/udp.
//
// A Sock is struct sock + inet_sock + udp_sock. Its protocol operations
// take errno-style results (0 or a negative Linux errno); the socket
// package turns them into a syscall-like API and net.PacketConn.
//
// Locking: the stack's BH lock protects the tables and every field the
// receive path reads to find and filter sockets; application operations
// that change those fields take the socket lock (lock_sock) and then the
// BH lock. The receive queue and reader queue have their own locks as in
// Linux; counters and flags read without a lock are atomic.
package udp

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/ilist"
	"github.com/kaidoku-net/kaidoku/netstack/internal/ipv4"
	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/latency"
)

// Constants from include/net/sock.h, include/linux/udp.h and the sysctl
// defaults of Linux v6.8 (x86_64, 4 KiB pages).
const (
	PageSize        = 4096
	SockMinRcvbuf   = 2304
	RmemDefault     = 212992
	RmemMax         = 212992
	UDPRmemMin      = PageSize
	HtableSizeMin   = 256
	HtableSizeMax   = 65536
	pcpuReserve     = 1 << (20 - 12) // SK_MEMORY_PCPU_RESERVE, pages
	checksumBreak   = 76
	portsPerChain   = 65536 / 128 // PORTS_PER_CHAIN
	mcDemuxMaxCount = 10
)

// Socket states as Linux prints them (TCP_ESTABLISHED, TCP_CLOSE).
const (
	StateEstablished = 1
	StateClose       = 7
)

// sk_userlocks bits.
const (
	bindAddrLock = 4 // SOCK_BINDADDR_LOCK
	bindPortLock = 8 // SOCK_BINDPORT_LOCK
)

// Shutdown bits (RCV_SHUTDOWN, SEND_SHUTDOWN).
const (
	RcvShutdown  = 1
	SendShutdown = 2
)

// Errnos (Linux numbers).
const (
	EPERM         = 1
	EINTR         = 4
	EAGAIN        = 11
	ENOMEM        = 12
	EACCES        = 13
	EFAULT        = 14
	EINVAL        = 22
	EPIPE         = 32
	EDOM          = 33
	ENOPROTOOPT   = 92
	EPROTO        = 71
	EMSGSIZE      = 90
	EDESTADDRREQ  = 89
	EOPNOTSUPP    = 95
	EAFNOSUPPORT  = 97
	EADDRINUSE    = 98
	EADDRNOTAVAIL = 99
	ENETUNREACH   = 101
	ENOBUFS       = 105
	EISCONN       = 106
	ENOTCONN      = 107
	ECONNREFUSED  = 111
	EHOSTUNREACH  = 113
	ENODEV        = 19
	ENOENT        = 2
	EBADF         = 9
	ETIMEDOUT     = 110
)

// Config sizes the UDP layer.
type Config struct {
	// HashEntries is the udp_table slot count (power of two in
	// [256, 65536]); 0 derives it from MemoryBytes like
	// alloc_large_system_hash("UDP", scale 21): one slot per 2 MiB.
	HashEntries int
	// MemoryBytes is the RAM the image has (default 4 GiB), used for the
	// table size and for udp_mem.
	MemoryBytes int64
	// BufferBytes is the memory packet buffers come from, what
	// nr_free_buffer_pages() counts in udp_init: udp_mem is an eighth of
	// it. 0 means MemoryBytes.
	BufferBytes int64
	// Mem overrides net.ipv4.udp_mem (pages) when Mem[1] != 0.
	Mem [3]int64
	// Unprivileged makes binds below ip_unprivileged_port_start fail
	// with EACCES and SO_RCVBUFFORCE with EPERM (no CAP_NET_BIND_SERVICE,
	// no CAP_NET_ADMIN). The default is a privileged program.
	Unprivileged bool
	// NoLatencyTrace leaves UDP.Latency nil: no T2 at enqueue, no T3
	// at recvmsg, nothing recorded (netstack.Config.NoLatencyTrace).
	NoLatencyTrace bool
}

// hslot is struct udp_hslot of the primary table: the sockets of one
// port hash, most recently hashed first, chained by sk_node.
type hslot struct {
	l ilist.List[*Sock]
}

// first is the chain's head (sk_for_each from the start).
func (s *hslot) first() *Sock { return s.l.Front() }

// count is hslot->count.
func (s *hslot) count() int { return s.l.Len() }

// next is the socket after sk in its primary chain.
func (sk *Sock) next() *Sock { return ilist.Next(sk) }

// Links is sk_node, sk's entry in its primary chain (an ilist element).
func (sk *Sock) Links() *ilist.Entry[*Sock] { return &sk.node }

// hslot2 is struct udp_hslot of hash2: the sockets of one (address,
// port) hash, chained by udp_portaddr_node.
type hslot2 struct {
	l ilist.List[*portaddrNode]
}

// portaddrNode is udp_portaddr_node: a socket's entry in its hash2 chain.
type portaddrNode struct {
	sk   *Sock
	link ilist.Entry[*portaddrNode]
}

// Links makes the node an ilist element.
func (n *portaddrNode) Links() *ilist.Entry[*portaddrNode] { return &n.link }

// first is the chain's head (udp_portaddr_for_each_entry from the
// start).
func (s *hslot2) first() *Sock {
	if n := s.l.Front(); n != nil {
		return n.sk
	}
	return nil
}

// count is hslot2->count.
func (s *hslot2) count() int { return s.l.Len() }

// next2 is the socket after sk in its hash2 chain.
func (sk *Sock) next2() *Sock {
	if n := ilist.Next(&sk.node2); n != nil {
		return n.sk
	}
	return nil
}

// table is struct udp_table.
type table struct {
	hash  []hslot
	hash2 []hslot2
	mask  uint32
	log   uint
}

// UDP is the protocol instance of one namespace.
type UDP struct {
	ip      *ipv4.IPv4
	mib     *mib.MIB
	bh      *sync.Mutex
	cfg     Config
	tbl     table
	hashMix uint32 // net_hash_mix
	ehash   uint32 // udp_ehash_secret
	// Latency is the receive-path trace T2 and T3 are recorded into;
	// nil with Config.NoLatencyTrace, when neither is taken.
	Latency *latency.Trace

	memMu sync.Mutex
	// +checklocks:memMu
	allocated int64 // udp_memory_allocated, pages
	// +checklocks:memMu
	reserve  int64 // the one CPU's per_cpu_fw_alloc
	memLimit [3]int64
	inuse    atomic.Int32
	inodes   atomic.Uint64
}

// New creates the UDP layer and registers it with IPv4 (inet_add_protocol
// of udp_protocol). bh is the stack's BH lock.
func New(ip *ipv4.IPv4, bh *sync.Mutex, cfg Config) *UDP {
	u := &UDP{ip: ip, mib: ip.MIB(), bh: bh, cfg: cfg}
	if !cfg.NoLatencyTrace {
		u.Latency = new(latency.Trace)
	}
	if cfg.MemoryBytes <= 0 {
		cfg.MemoryBytes = 4 << 30
		u.cfg.MemoryBytes = cfg.MemoryBytes
	}
	n := cfg.HashEntries
	if n == 0 {
		n = 1 << bits.Len64(uint64(cfg.MemoryBytes>>21)-1)
	}
	n = max(HtableSizeMin, min(HtableSizeMax, n))
	if n&(n-1) != 0 {
		n = 1 << bits.Len(uint(n))
	}
	u.tbl.hash = make([]hslot, n)
	u.tbl.hash2 = make([]hslot2, n)
	u.tbl.mask = uint32(n - 1)
	u.tbl.log = uint(bits.TrailingZeros(uint(n)))
	u.hashMix = ip.Rand()
	u.ehash = ip.Rand()
	if cfg.Mem[1] != 0 {
		u.memLimit = cfg.Mem
	} else {
		buf := cfg.BufferBytes
		if buf <= 0 {
			buf = cfg.MemoryBytes
		}
		l := max(buf/PageSize/8, 128)
		u.memLimit = [3]int64{l / 4 * 3, l, l / 4 * 3 * 2}
	}
	ip.Register(wire.ProtoUDP, &ipv4.Protocol{Handler: u.Rcv, ErrHandler: u.Err, EarlyDemux: u.udpV4EarlyDemux})
	return u
}

// HashEntries returns the table size ("UDP hash table entries: N").
func (u *UDP) HashEntries() int { return len(u.tbl.hash) }

// MemLimits returns net.ipv4.udp_mem.
func (u *UDP) MemLimits() [3]int64 { return u.memLimit }

// SetMemLimits sets net.ipv4.udp_mem (pages).
func (u *UDP) SetMemLimits(l [3]int64) {
	u.memMu.Lock()
	u.memLimit = l
	u.memMu.Unlock()
}

// MemAllocated returns udp_memory_allocated in pages as
// /proc/net/sockstat prints it (the global counter; the per-CPU reserve
// is not folded in, as in Linux).
func (u *UDP) MemAllocated() int64 {
	u.memMu.Lock()
	defer u.memMu.Unlock()
	return u.allocated
}

// InUse returns the number of hashed sockets (sockstat "inuse").
func (u *UDP) InUse() int { return int(u.inuse.Load()) }

// IP returns the IPv4 layer.
func (u *UDP) IP() *ipv4.IPv4 { return u.ip }

// udpHashfn is include/linux/udp.h: udp_hashfn.
func (u *UDP) udpHashfn(port uint16) uint32 {
	return (uint32(port) + u.hashMix) & u.tbl.mask
}

// ipv4PortaddrHash is include/net/ip.h: ipv4_portaddr_hash.
func (u *UDP) ipv4PortaddrHash(addr wire.Addr, port uint16) uint32 {
	return ipv4.PortaddrHash(u.hashMix, addr, port)
}

// udpEhashfn is udp.c: udp_ehashfn, the 4-tuple hash of reuseport
// selection (lport host order, fport as the raw __be16).
func (u *UDP) udpEhashfn(laddr wire.Addr, lport uint16, faddr wire.Addr, fport uint16) uint32 {
	rawFport := uint32(bits.ReverseBytes16(fport))
	return ipv4.Jhash3Words(laddr.Raw32(), faddr.Raw32(), uint32(lport)<<16|rawFport, u.ehash+u.hashMix)
}

// reciprocalScale is include/linux/kernel.h: reciprocal_scale.
func reciprocalScale(v, n uint32) uint32 { return uint32((uint64(v) * uint64(n)) >> 32) }

// skMemRaiseAllocated mirrors sock.c: __sk_mem_raise_allocated for UDP
// receive memory (no memory-pressure callbacks, no memcg): charge amt
// pages, folding the per-CPU reserve into the global counter in batches
// of SK_MEMORY_PCPU_RESERVE; allow up to udp_mem[0], refuse above
// udp_mem[2], and in between only for a socket under udp_rmem_min.
func (u *UDP) skMemRaiseAllocated(sk *Sock, amt int64) bool {
	u.memMu.Lock()
	defer u.memMu.Unlock()
	u.reserve += amt
	if u.reserve >= pcpuReserve {
		u.allocated += u.reserve
		u.reserve = 0
	}
	a := u.allocated
	if a <= u.memLimit[0] {
		return true
	}
	if a <= u.memLimit[2] && sk.rmemAlloc.Load() < UDPRmemMin {
		return true
	}
	u.reserve -= amt
	if u.reserve <= -pcpuReserve {
		u.allocated += u.reserve
		u.reserve = 0
	}
	return false
}

// skMemReduceAllocated is __sk_mem_reduce_allocated.
func (u *UDP) skMemReduceAllocated(amt int64) {
	u.memMu.Lock()
	u.reserve -= amt
	if u.reserve <= -pcpuReserve {
		u.allocated += u.reserve
		u.reserve = 0
	}
	u.memMu.Unlock()
}
