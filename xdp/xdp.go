// Package xdp is the eXpress Data Path hook of kaidoku's virtio-net driver:
// a Go function, attached to the device, that sees every received frame in
// the driver's NAPI poll before the stack has a packet buffer for it, and
// decides its fate as a Linux XDP program does (include/uapi/linux/bpf.h,
// net/core/filter.c).
//
// A Program gets a *Buff over the frame in the receive buffer, with the
// headroom in front of it and the tailroom behind it; it may rewrite the
// bytes and move the head and the tail (AdjustHead, AdjustTail, as the
// helpers bpf_xdp_adjust_head and bpf_xdp_adjust_tail), and returns an
// Action: Pass hands the frame to the stack, Drop frees it, TX sends it
// back out of the same device (flushed once per poll), Redirect hands it
// to the Target chosen with Buff.RedirectTo, and Aborted drops it as a
// program error. The *Buff is valid only during the call.
package xdp

import (
	"errors"
	"fmt"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Action is a program's verdict on a frame (enum xdp_action; the values
// are Linux's).
type Action uint32

// The actions.
const (
	Aborted  Action = iota // XDP_ABORTED: a program error; dropped and traced
	Drop                   // XDP_DROP: free the frame
	Pass                   // XDP_PASS: on to the stack
	TX                     // XDP_TX: back out of the device it came in on
	Redirect               // XDP_REDIRECT: to the target set by RedirectTo
)

// String returns Linux's name of the action (XDP_PASS, ...).
func (a Action) String() string {
	switch a {
	case Aborted:
		return "XDP_ABORTED"
	case Drop:
		return "XDP_DROP"
	case Pass:
		return "XDP_PASS"
	case TX:
		return "XDP_TX"
	case Redirect:
		return "XDP_REDIRECT"
	}
	return fmt.Sprintf("XDP_ACTION(%d)", uint32(a))
}

// Program is an XDP program. It runs in the NAPI poll, once per received
// frame, and must not block or keep b after it returns. An unknown Action
// is treated as Aborted (bpf_warn_invalid_xdp_action).
type Program func(b *Buff) Action

// MinFrame is the smallest frame a program may leave behind: an Ethernet
// header (ETH_HLEN), as bpf_xdp_adjust_head and bpf_xdp_adjust_tail
// require.
const MinFrame = 14

// Errors of AdjustHead, AdjustTail and Target.
var (
	ErrBounds   = errors.New("xdp: adjustment outside the buffer or below an Ethernet header")
	ErrNoTarget = errors.New("xdp: XDP_REDIRECT without a target")
)

// Buff is struct xdp_buff: a frame in a receive buffer. buf is the whole
// buffer (data_hard_start to the end of the frame's room); the frame is
// buf[data:end].
type Buff struct {
	buf       []byte
	data, end int
	// RxQueue is the receive queue the frame arrived on (rxq->queue_index).
	RxQueue int
	// Ifindex is the receiving device's (rxq->dev->ifindex).
	Ifindex int
	// T0 is the hard-IRQ time of the interrupt whose poll received the
	// frame (0 if none): the start of kaidoku's interrupt-to-wakeup
	// latency, for targets that measure it.
	T0 int64
	// Pool is the zero-copy pool the frame's buffer belongs to, when the
	// driver received it into a frame of an AF_XDP socket's UMEM
	// (rxq->mem.type MEM_TYPE_XSK_BUFF_POOL), and nil for the driver's
	// own buffers. Drivers set it after Init.
	Pool   FramePool
	target Target
	kept   bool
}

// Init points b at a new frame: buf[data:end] in the buffer buf, and
// forgets the previous frame's redirect target (xdp_init_buff and
// xdp_prepare_buff). Drivers call it; programs do not.
func (b *Buff) Init(buf []byte, data, end int) {
	if data < 0 || end < data || end > len(buf) {
		panic("xdp: Init outside the buffer")
	}
	b.buf, b.data, b.end = buf, data, end
	b.target = nil
	b.Pool = nil
	b.kept = false
}

// Data returns the frame, from its first byte (data) to data_end. The
// program may rewrite it in place.
func (b *Buff) Data() []byte { return b.buf[b.data:b.end:b.end] }

// Len returns the frame length, data_end - data.
func (b *Buff) Len() int { return b.end - b.data }

// Headroom returns the bytes in front of the frame: how far AdjustHead
// may grow it.
func (b *Buff) Headroom() int { return b.data }

// Tailroom returns the bytes behind the frame: how far AdjustTail may
// grow it.
func (b *Buff) Tailroom() int { return len(b.buf) - b.end }

// Offset returns where the frame starts in the buffer (data -
// data_hard_start), for the driver to pick it up again.
func (b *Buff) Offset() int { return b.data }

// AdjustHead moves the frame's start by delta bytes, as
// bpf_xdp_adjust_head: negative grows the frame into the headroom (to
// push a header), positive shrinks it (to pop one). The frame must keep
// at least MinFrame bytes and stay inside the buffer; otherwise nothing
// moves and ErrBounds is returned. Bytes uncovered in front are not
// cleared.
func (b *Buff) AdjustHead(delta int) error {
	data := b.data + delta
	if data < 0 || data > b.end || b.end-data < MinFrame {
		return ErrBounds
	}
	b.data = data
	return nil
}

// AdjustTail moves the frame's end by delta bytes, as
// bpf_xdp_adjust_tail: negative trims, positive grows it into the
// tailroom, where the new bytes are zeroed (as Linux clears them). The
// frame must keep at least MinFrame bytes and stay inside the buffer;
// otherwise nothing moves and ErrBounds is returned.
func (b *Buff) AdjustTail(delta int) error {
	end := b.end + delta
	if end > len(b.buf) || end < b.data+MinFrame {
		return ErrBounds
	}
	if delta > 0 {
		clear(b.buf[b.end:end])
	}
	b.end = end
	return nil
}

// A Target receives the frames a program redirects (the map entry of
// bpf_redirect_map: an AF_XDP socket).
type Target interface {
	// XDPRedirect takes the frame in b, copying what it keeps: b and
	// its buffer go back to the driver when it returns. The exception
	// is a frame of the target's own zero-copy pool (b.Pool), which it
	// may keep where it is (xsk_rcv_zc) and then calls b.Keep. A
	// non-nil error drops the frame (xdp_do_redirect failing).
	XDPRedirect(b *Buff) error
	// XDPFlush is called once at the end of every poll that redirected
	// a frame to the target (xdp_do_flush): wake its readers then.
	XDPFlush()
}

// RedirectTo chooses where the frame goes and returns Redirect, as
// bpf_redirect_map does: `return b.RedirectTo(sock)`.
func (b *Buff) RedirectTo(t Target) Action {
	b.target = t
	return Redirect
}

// Target returns the target RedirectTo chose, or nil.
func (b *Buff) Target() Target { return b.target }

// DoRedirect is xdp_do_redirect: hand the frame to the chosen target.
// Drivers call it after a program returned Redirect.
func (b *Buff) DoRedirect() error {
	if b.target == nil {
		return ErrNoTarget
	}
	return b.target.XDPRedirect(b)
}

// Keep tells the driver that the target of a redirect kept the frame in
// place: the frame of a FramePool now belongs to its socket and the
// driver forgets the buffer. Targets call it; programs do not.
func (b *Buff) Keep() { b.kept = true }

// Kept reports whether the redirect target kept the frame (Keep).
func (b *Buff) Kept() bool { return b.kept }

// A FramePool is the UMEM of an AF_XDP socket bound to a device queue
// in zero-copy mode, as the driver sees it (struct xsk_buff_pool through
// the calls of include/net/xdp_sock_drv.h). While one is bound, the
// driver posts the pool's frames to its receive ring instead of its own
// buffers; a frame redirected to the socket stays where the device wrote
// it, and any other frame is copied out (to the stack, or for XDP_TX)
// and given back. The driver calls these from its NAPI poll, or with
// the poll held off.
type FramePool interface {
	// AllocBatch is xsk_buff_alloc_batch: up to len(bufs) frames from
	// the fill ring, each an empty buffer whose data begins where a
	// received frame's first byte belongs (behind the UMEM's headroom
	// and XDP_PACKET_HEADROOM). It returns how many it gave; fewer
	// means the fill ring ran dry.
	AllocBatch(bufs []*skb.Buffer) int
	// Free is xsk_buff_free: a frame the driver took and did not hand
	// to the socket (a drop, a copy, a device reset) goes back to the
	// pool for a later AllocBatch.
	Free(b *skb.Buffer)
	// Owns reports whether b is one of the pool's frames.
	Owns(b *skb.Buffer) bool
}
