// Package skb holds kaidoku's packet buffers, modelled on Linux's struct
// sk_buff (include/linux/skbuff.h): one contiguous buffer with head, data
// and tail, offsets of the MAC, network and transport headers, a truesize
// charged to socket receive memory, and the per-packet state the receive
// path needs.
//
// Buffers come from a Pool: a fixed set of equally sized buffers, or
// buffers carved on demand from an Arena that several pools share, as
// Linux's skbs share the page allocator. The storage is supplied by the
// creator: DMA memory in the image, so that the virtio driver can post a
// buffer to the device and hand the very same buffer up the stack without
// copying; heap memory in host tests. A buffer is freed exactly once,
// on every path; the pool counts buffers in use so that tests prove there is
// no leak, and counts any second free instead of corrupting its free list.
package skb

import "github.com/kaidoku-net/kaidoku/ilist"

// Sizes of Linux's skb metadata on x86_64 (64-byte cache lines), which
// truesize counts on top of the data: HeadSize is
// SKB_DATA_ALIGN(sizeof(struct sk_buff)), SharedInfoSize
// SKB_DATA_ALIGN(sizeof(struct skb_shared_info)).
const (
	HeadSize       = 256
	SharedInfoSize = 320
)

// Overhead is the per-buffer metadata charge added to the storage size to
// make truesize, as SKB_TRUESIZE does on x86_64 Linux: HeadSize +
// SharedInfoSize = 576. It is the default truesize of a pool buffer (its
// storage plus Overhead); a driver that knows what Linux would have
// allocated for a received frame sets Truesize itself.
const Overhead = HeadSize + SharedInfoSize

// TrueSize is SKB_TRUESIZE(x): x bytes of data plus the metadata.
func TrueSize(x int) int { return x + Overhead }

// PacketType is skb->pkt_type, set by eth_type_trans.
type PacketType uint8

// Packet types (include/uapi/linux/if_packet.h).
const (
	PacketHost      PacketType = 0
	PacketBroadcast PacketType = 1
	PacketMulticast PacketType = 2
	PacketOtherHost PacketType = 3
	// PacketLoopback marks a multicast or broadcast copy an output path
	// looped back to this host (dev_loopback_xmit).
	PacketLoopback PacketType = 5
)

// Checksum is skb->ip_summed.
type Checksum uint8

// Checksum states (include/linux/skbuff.h).
const (
	ChecksumNone        Checksum = 0
	ChecksumUnnecessary Checksum = 1
	ChecksumComplete    Checksum = 2
	ChecksumPartial     Checksum = 3
)

// Trace carries the latency timestamps of ARCHITECTURE.md, in nanoseconds of the
// board clock: T0 the hard interrupt that led to this packet being polled,
// T1 the start of that NAPI poll, T2 the enqueue on the socket. Zero means
// not taken.
type Trace struct {
	T0, T1, T2 int64
}

// Buffer is one packet. Offsets are into Buf; data..tail is the packet.
type Buffer struct {
	buf  []byte // the whole storage, head at index 0
	addr uint64 // bus address of buf[0] (0 for heap-backed pools)
	data int
	tail int

	// Header offsets into the storage (skb->mac_header, network_header,
	// transport_header); -1 when unset.
	MAC, Network, Transport int

	// Truesize is the memory charged for this buffer (skb->truesize).
	Truesize int

	PktType  PacketType
	Protocol uint16 // skb->protocol, host order
	Ifindex  int    // skb->skb_iif

	IPSummed  Checksum
	CsumValid bool   // skb->csum_valid
	Csum      uint32 // skb->csum: a partial (unfolded) sum when set by the stack

	Trace Trace

	// Tstamp is skb->tstamp: the software receive timestamp, ns of
	// CLOCK_REALTIME, taken by net_timestamp_check when some socket has
	// asked for receive timestamps; 0 when not taken.
	Tstamp int64

	// VlanTCI and VlanPresent hold an 802.1Q tag taken out of the frame
	// by skb_vlan_untag (skb->vlan_tci, skb->vlan_present).
	VlanTCI     uint16
	VlanPresent bool

	// XmitMore is netdev_xmit_more() for a frame handed to a driver:
	// more frames follow at once, so the driver may post this one
	// without notifying the device. The last frame of a batch has it
	// clear, or its sender flushes the link when the batch ends early.
	// The driver clears it when it takes the frame.
	XmitMore bool

	// Rt is the route the receive path attached (skb_dst): the result of
	// ip_route_input. Zero means no route.
	Rt Route

	// Sk is the socket early demux attached to the packet (skb->sk). It is
	// opaque here: the protocol that set it owns its meaning.
	Sk any

	// CB is the per-layer scratch area (skb->cb): IPCB, FRAG_CB,
	// UDP_SKB_CB and SOCK_SKB_CB in Linux.
	CB ControlBlock

	// link puts the buffer in one queue at a time (Queue).
	link ilist.Entry[*Buffer]

	pool  *Pool
	blk   int32 // arena block index (arena pools)
	state uint8
	ord   int8 // arena block order (arena pools)
}

const (
	stateFree = iota
	stateInUse
)

// Route is the part of struct rtable the receive path consults after
// ip_route_input: the route type (RTN_*), the RTCF_* flags, the error an
// unreachable route carries (for ip_error), and the preferred source
// address (fib_compute_spec_dst for local routes is the destination).
type Route struct {
	Type  uint8
	Flags uint16
	Err   int32
	Valid bool
	// Iif is rt_iif: for a packet looped back on its output route, the
	// interface the route was made for (inet_iif prefers it to the
	// receiving device); 0 otherwise.
	Iif int
}

// IPOptions is struct ip_options as ip_options_compile leaves it in IPCB:
// offsets from the start of the IP header of each option seen (0 = absent).
type IPOptions struct {
	Optlen      uint8
	SRR         uint8
	RR          uint8
	TS          uint8
	RouterAlert uint8
	CIPSO       uint8
	IsStrict    bool
	RRNeedAddr  bool
	TSNeedTime  bool
	TSNeedAddr  bool
}

// ControlBlock is skb->cb: each layer's private per-packet state.
type ControlBlock struct {
	// IPCB (struct inet_skb_parm).
	Iif         int
	Opt         IPOptions
	FragMaxSize uint16

	// FRAG_CB (struct ipfrag_skb_cb) while queued for reassembly.
	FragOffset int
	FragRunLen int
	FragRunEnd *Buffer // last buffer of the run this buffer heads
	NextFrag   *Buffer

	// UDP_SKB_CB / dev_scratch, stashed at enqueue.
	CsumUnnecessary bool

	// SOCK_SKB_CB: sk_drops sampled at enqueue when SO_RXQ_OVFL is on.
	DropCount uint32

	// ipv4_pktinfo_prepare: IP_PKTINFO data.
	PktinfoIfindex int
	SpecDst        uint32

	// Peeked is skb->peeked.
	Peeked bool
}

// Head returns the whole storage.
func (b *Buffer) Head() []byte { return b.buf }

// Addr returns the bus address of the storage's first byte.
func (b *Buffer) Addr() uint64 { return b.addr }

// DataAddr returns the bus address of the first packet byte.
func (b *Buffer) DataAddr() uint64 { return b.addr + uint64(b.data) }

// Data returns the packet bytes, data..tail.
func (b *Buffer) Data() []byte { return b.buf[b.data:b.tail] }

// Len returns the packet length (skb->len).
func (b *Buffer) Len() int { return b.tail - b.data }

// Headroom returns the bytes available in front of the packet.
func (b *Buffer) Headroom() int { return b.data }

// Tailroom returns the bytes available after the packet.
func (b *Buffer) Tailroom() int { return len(b.buf) - b.tail }

// DataOffset returns the offset of the first packet byte in the storage.
func (b *Buffer) DataOffset() int { return b.data }

// Reserve moves an empty buffer's data and tail n bytes forward to make
// headroom (skb_reserve).
func (b *Buffer) Reserve(n int) {
	if b.tail != b.data || b.data+n > len(b.buf) || n < 0 {
		panic("skb: Reserve on a non-empty buffer or beyond its end")
	}
	b.data += n
	b.tail += n
}

// Put extends the packet by n bytes at the tail and returns them (skb_put).
// It reports nil if there is not enough tailroom.
func (b *Buffer) Put(n int) []byte {
	if n < 0 || b.tail+n > len(b.buf) {
		return nil
	}
	b.tail += n
	return b.buf[b.tail-n : b.tail]
}

// Push prepends n bytes and returns them (skb_push), or nil if there is not
// enough headroom.
func (b *Buffer) Push(n int) []byte {
	if n < 0 || n > b.data {
		return nil
	}
	b.data -= n
	return b.buf[b.data : b.data+n]
}

// Pull removes n bytes from the front and reports whether they were there
// (skb_pull / pskb_may_pull on a linear buffer).
func (b *Buffer) Pull(n int) bool {
	if n < 0 || n > b.tail-b.data {
		return false
	}
	b.data += n
	return true
}

// Trim cuts the packet to n bytes (skb_trim); it does nothing if the packet
// is already no longer than n.
func (b *Buffer) Trim(n int) {
	if n >= 0 && n < b.tail-b.data {
		b.tail = b.data + n
	}
}

// SetLen sets the packet to the first n bytes after data, as a driver does
// once the device has written them. It reports false if n does not fit.
func (b *Buffer) SetLen(n int) bool {
	if n < 0 || b.data+n > len(b.buf) {
		return false
	}
	b.tail = b.data + n
	return true
}

// Pool returns the pool the buffer belongs to.
func (b *Buffer) Pool() *Pool { return b.pool }

// Free returns the buffer to its pool (kfree_skb / consume_skb).
func (b *Buffer) Free() { b.pool.put(b) }

// reset clears per-packet state for reuse.
func (b *Buffer) reset() {
	b.data, b.tail = 0, 0
	b.MAC, b.Network, b.Transport = -1, -1, -1
	b.Truesize = len(b.buf) + Overhead
	b.PktType = PacketHost
	b.Protocol = 0
	b.Ifindex = 0
	b.IPSummed = ChecksumNone
	b.CsumValid = false
	b.Csum = 0
	b.Trace = Trace{}
	b.Tstamp = 0
	b.VlanTCI = 0
	b.VlanPresent = false
	b.Rt = Route{}
	b.Sk = nil
	b.CB = ControlBlock{}
	b.XmitMore = false
}

// CopyMeta copies the packet metadata of src (not its data or headers'
// positions) onto b, as skb_clone/skb_copy carry it.
func (b *Buffer) CopyMeta(src *Buffer) {
	b.PktType = src.PktType
	b.Protocol = src.Protocol
	b.Ifindex = src.Ifindex
	b.IPSummed = src.IPSummed
	b.CsumValid = src.CsumValid
	b.Csum = src.Csum
	b.Trace = src.Trace
	b.Tstamp = src.Tstamp
	b.VlanTCI = src.VlanTCI
	b.VlanPresent = src.VlanPresent
	b.Rt = src.Rt
	b.CB = src.CB
	b.CB.NextFrag = nil
	b.CB.FragRunEnd = nil
}

// Copy returns a private copy of b from b's own pool (skb_copy, used
// where Linux would skb_clone: the copy keeps the data offsets, header
// offsets, metadata and truesize), or nil if the pool is exhausted.
func (b *Buffer) Copy() *Buffer {
	return b.CopyFrom(b.pool)
}

// CopyFrom is Copy with the copy taken from pool p, which must hold
// buffers at least as large as the bytes in use in b (head to tail).
// It returns nil if p is exhausted or too small.
func (b *Buffer) CopyFrom(p *Pool) *Buffer {
	if p == nil || p.size < b.tail {
		return nil
	}
	c := p.GetSize(b.tail)
	if c == nil {
		return nil
	}
	copy(c.buf[:b.tail], b.buf[:b.tail])
	c.data, c.tail = b.data, b.tail
	c.MAC, c.Network, c.Transport = b.MAC, b.Network, b.Transport
	c.CopyMeta(b)
	c.Truesize = b.Truesize
	return c
}

// SetData sets the packet to storage[off:off+n], keeping header offsets;
// it reports false if that does not fit. It is used to move back to a
// header that an earlier Pull went past (e.g. to quote a datagram from
// its IP header).
func (b *Buffer) SetData(off, n int) bool {
	if off < 0 || n < 0 || off+n > len(b.buf) {
		return false
	}
	b.data, b.tail = off, off+n
	return true
}

// NetworkHeader returns the bytes from the network header to the tail,
// or nil if the network header is unset or past the tail.
func (b *Buffer) NetworkHeader() []byte {
	if b.Network < 0 || b.Network > b.tail {
		return nil
	}
	return b.buf[b.Network:b.tail]
}

// TransportHeader returns the bytes from the transport header to the
// tail, or nil if unset.
func (b *Buffer) TransportHeader() []byte {
	if b.Transport < 0 || b.Transport > b.tail {
		return nil
	}
	return b.buf[b.Transport:b.tail]
}

// MACHeader returns the bytes from the MAC header to the tail, or nil.
func (b *Buffer) MACHeader() []byte {
	if b.MAC < 0 || b.MAC > b.tail {
		return nil
	}
	return b.buf[b.MAC:b.tail]
}
