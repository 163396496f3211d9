// Package xsk is AF_XDP for kaidoku's virtio-net driver: XDP sockets
// with the semantics of Linux's net/xdp (xsk.c, xsk_queue.h,
// xsk_buff_pool.c), through which a program in the image receives and
// sends whole frames while bypassing the stack.
//
// A UMEM is a region (DMA memory in the image) divided into equal frames
// (chunks) with two rings the application shares with the kernel side:
// the fill ring, where it gives frames to receive into, and the
// completion ring, where it gets back frames it sent. A Socket bound to
// the device's queue 0 has an RX ring, where received frames appear as
// descriptors (address in the UMEM and length), and a TX ring, where the
// application puts frames to send. Every ring has a producer and a
// consumer index and the need_wakeup flag.
//
// Frames reach a socket through an XDP program (package xdp) that
// returns b.RedirectTo(sock), as a BPF program redirects to an XSKMAP
// entry. A socket works in one of two modes:
//
//   - Copy mode (XDP_COPY): the frame is copied from the driver's
//     receive buffer into a UMEM frame taken from the fill ring.
//   - Zero-copy mode (XDP_ZEROCOPY, Config.ZeroCopy): the driver fills
//     its receive ring from the fill ring (virtio.Net.SetXSKPool), the
//     device writes each frame into a UMEM frame behind the headrooms,
//     and a frame redirected to the socket goes on the RX ring where it
//     is. Frames the program passes to the stack or sends back (XDP_TX)
//     are copied out of the UMEM, and their UMEM frames reused, as
//     Linux's virtio-net does (xsk_construct_skb). While the socket is
//     bound every frame the device receives lands in the UMEM first, so
//     the stack receives only while the application keeps the fill ring
//     stocked.
//
// In both modes a frame to send is copied into a driver transmit buffer
// (xsk_generic_xmit) and its UMEM frame is on the completion ring as
// soon as Kick returns.
//
// The rings' indices and entries are the application's to write, as they
// are in Linux's mmapped rings: the accessors (Reserve, Submit, Peek,
// Release) are those of libxdp and check nothing. The kernel side
// validates everything it reads: an address outside the UMEM or a
// descriptor that does not fit its frame is counted (XDP_STATISTICS) and
// skipped, a full RX ring or an empty fill ring drops the frame and
// counts it, and no index, however wrong, makes it touch memory outside
// the socket's own rings and UMEM.
package xsk

import (
	"fmt"
	"syscall"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Geometry limits (include/net/xdp_sock.h, include/uapi/linux/bpf.h).
const (
	// PacketHeadroom is XDP_PACKET_HEADROOM: the headroom the kernel
	// leaves in front of a received frame, after the UMEM's own.
	PacketHeadroom = 256
	// MinFrameSize and MaxFrameSize bound a UMEM frame (chunk):
	// XDP_UMEM_MIN_CHUNK_SIZE and PAGE_SIZE.
	MinFrameSize = 2048
	MaxFrameSize = 4096
	// DefaultRingSize is XSK_RING_PROD__DEFAULT_NUM_DESCS.
	DefaultRingSize = 2048
)

// UMEMConfig describes a UMEM (struct xdp_umem_reg and the fill and
// completion ring sizes).
type UMEMConfig struct {
	// Frames is the number of frames; required.
	Frames int
	// FrameSize is the chunk size, a power of two from 2048 to 4096
	// (0: 2048, XSK_UMEM__DEFAULT_FRAME_SIZE's minimum here).
	FrameSize uint32
	// FrameHeadroom is headroom the application keeps in front of each
	// received frame, before PacketHeadroom.
	FrameHeadroom uint32
	// FillSize and CompletionSize are the rings' sizes, powers of two
	// (0: DefaultRingSize).
	FillSize, CompletionSize uint32
}

// UMEM is a registered UMEM with its fill and completion rings.
type UMEM struct {
	mem       []byte
	busAddr   uint64
	chunkSize uint64
	headroom  uint32
	fq, cq    *ring[addrSlot]
	// Fill and Completion are the application's ends of the rings.
	Fill       FillRing
	Completion CompletionRing

	// Kernel side: frames taken from the fill ring and not used (the
	// buffer pool's free list), and, in zero-copy mode, which frames it
	// holds (posted to the device or on the free list).
	freeList []uint64
	held     []bool
	bound    bool
}

// NewUMEM allocates a UMEM from mem (virtio.PoolMemory of the board's DMA
// memory in the image) and creates its rings (XDP_UMEM_REG,
// XDP_UMEM_FILL_RING, XDP_UMEM_COMPLETION_RING). Bad sizes fail with
// EINVAL, as xdp_umem_reg refuses them.
func NewUMEM(mem skb.Memory, cfg UMEMConfig) (*UMEM, error) {
	if cfg.FrameSize == 0 {
		cfg.FrameSize = MinFrameSize
	}
	if cfg.FillSize == 0 {
		cfg.FillSize = DefaultRingSize
	}
	if cfg.CompletionSize == 0 {
		cfg.CompletionSize = DefaultRingSize
	}
	switch {
	case cfg.Frames <= 0:
		return nil, fmt.Errorf("xsk: UMEM of %d frames: %w", cfg.Frames, syscall.EINVAL)
	case cfg.FrameSize < MinFrameSize || cfg.FrameSize > MaxFrameSize || !pow2(cfg.FrameSize):
		return nil, fmt.Errorf("xsk: frame size %d is not a power of two from %d to %d: %w", cfg.FrameSize, MinFrameSize, MaxFrameSize, syscall.EINVAL)
	case cfg.FrameHeadroom >= cfg.FrameSize-PacketHeadroom-14:
		return nil, fmt.Errorf("xsk: headroom %d leaves no room for a frame of %d bytes: %w", cfg.FrameHeadroom, cfg.FrameSize, syscall.EINVAL)
	case !pow2(cfg.FillSize) || !pow2(cfg.CompletionSize):
		return nil, fmt.Errorf("xsk: ring sizes %d and %d must be powers of two: %w", cfg.FillSize, cfg.CompletionSize, syscall.EINVAL)
	}
	b, addr, err := mem(cfg.Frames * int(cfg.FrameSize))
	if err != nil {
		return nil, fmt.Errorf("xsk: UMEM: %w", err)
	}
	u := &UMEM{mem: b, busAddr: addr, chunkSize: uint64(cfg.FrameSize), headroom: cfg.FrameHeadroom,
		fq: newRing[addrSlot](cfg.FillSize), cq: newRing[addrSlot](cfg.CompletionSize)}
	u.Fill.p.r = u.fq
	u.Fill.p.cachedCons = cfg.FillSize
	u.Completion.c.r = u.cq
	return u, nil
}

func pow2(n uint32) bool { return n != 0 && n&(n-1) == 0 }

// Size returns the UMEM's size in bytes.
func (u *UMEM) Size() uint64 { return uint64(len(u.mem)) }

// FrameSize returns the size of a frame (chunk).
func (u *UMEM) FrameSize() uint32 { return uint32(u.chunkSize) }

// Frames returns the number of frames.
func (u *UMEM) Frames() int { return len(u.mem) / int(u.chunkSize) }

// RxFrameSize is the largest frame the UMEM receives
// (xsk_pool_get_rx_frame_size): a frame less both headrooms.
func (u *UMEM) RxFrameSize() uint32 {
	return uint32(u.chunkSize) - PacketHeadroom - u.headroom
}

// Data returns n bytes of the UMEM at addr (xsk_umem__get_data), or nil
// if they are not all inside it.
func (u *UMEM) Data(addr uint64, n int) []byte {
	if n < 0 || addr > uint64(len(u.mem)) || uint64(n) > uint64(len(u.mem))-addr {
		return nil
	}
	return u.mem[addr : addr+uint64(n) : addr+uint64(n)]
}

// BusAddr returns the bus address of the UMEM's first byte (0 for heap
// memory).
func (u *UMEM) BusAddr() uint64 { return u.busAddr }

// alloc is xp_alloc: a frame from the free list, or the next valid
// address from the fill ring. Aligned mode rounds an address down to its
// frame (xp_check_aligned); one beyond the UMEM is counted in the fill
// ring's invalid descriptors and skipped, at most a ring's worth per
// frame (see Socket.peekTxDesc). In zero-copy mode so is a frame the
// kernel side already holds, which the application gave twice: Linux
// would post it twice, and the device would write two frames into it.
// An empty fill ring counts rx_fill_ring_empty_descs.
func (u *UMEM) alloc() (uint64, bool) {
	if n := len(u.freeList); n > 0 {
		a := u.freeList[n-1]
		u.freeList = u.freeList[:n-1]
		return a, true
	}
	for i := uint32(0); ; i++ {
		e, ok := u.fq.consPeek()
		if !ok || i > u.fq.mask {
			u.fq.queueEmptyDescs.Add(1)
			return 0, false
		}
		u.fq.consRelease()
		a := e.load() &^ (u.chunkSize - 1)
		if a >= uint64(len(u.mem)) || u.held != nil && u.held[a/u.chunkSize] {
			u.fq.invalidDescs.Add(1)
			continue
		}
		if u.held != nil {
			u.held[a/u.chunkSize] = true
		}
		return a, true
	}
}

// free is xp_free: a frame taken but not used goes back to the free list.
func (u *UMEM) free(a uint64) { u.freeList = append(u.freeList, a) }

// release marks frame a as the application's again: its descriptor is
// on the RX ring.
func (u *UMEM) release(a uint64) {
	if u.held != nil {
		u.held[a/u.chunkSize] = false
	}
}

// validTxDesc is xp_aligned_validate_desc: a non-empty frame inside one
// chunk of the UMEM, with no option set.
func (u *UMEM) validTxDesc(d Desc) bool {
	off := d.Addr & (u.chunkSize - 1)
	return d.Len != 0 && off+uint64(d.Len) <= u.chunkSize && d.Addr < uint64(len(u.mem)) && d.Options == 0
}

// FillRing is the application's end of the fill ring: it produces the
// addresses of frames the kernel side may receive into.
type FillRing struct{ p prodRing[addrSlot] }

// Reserve reserves n slots and returns the index of the first
// (xsk_ring_prod__reserve), or 0 slots if fewer than n are free.
func (f *FillRing) Reserve(n uint32) (idx, got uint32) { return f.p.reserve(n) }

// SetAddr writes the frame address into the reserved slot idx
// (*xsk_ring_prod__fill_addr = addr).
func (f *FillRing) SetAddr(idx uint32, addr uint64) { f.p.r.entries[idx&f.p.r.mask].store(addr) }

// Submit makes n reserved slots visible to the kernel side
// (xsk_ring_prod__submit).
func (f *FillRing) Submit(n uint32) { f.p.submit(n) }

// NeedsWakeup reports the ring's need_wakeup flag.
func (f *FillRing) NeedsWakeup() bool { return f.p.r.flags.Load()&RingNeedWakeup != 0 }

// Size returns the ring's size.
func (f *FillRing) Size() uint32 { return f.p.r.size() }

// CompletionRing is the application's end of the completion ring: it
// consumes the addresses of frames the kernel side has sent.
type CompletionRing struct{ c consRing[addrSlot] }

// Peek returns the index of up to n completed entries
// (xsk_ring_cons__peek).
func (c *CompletionRing) Peek(n uint32) (idx, got uint32) { return c.c.peek(n) }

// Addr returns the address in entry idx (*xsk_ring_cons__comp_addr).
func (c *CompletionRing) Addr(idx uint32) uint64 { return c.c.r.entries[idx&c.c.r.mask].load() }

// Release gives n entries back to the kernel side
// (xsk_ring_cons__release).
func (c *CompletionRing) Release(n uint32) { c.c.release(n) }

// Size returns the ring's size.
func (c *CompletionRing) Size() uint32 { return c.c.r.size() }
