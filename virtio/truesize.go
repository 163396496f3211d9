package virtio

import "github.com/kaidoku-net/kaidoku/netstack/skb"

// Receive buffer sizes and the truesize of received frames, as Linux
// v6.8's virtio_net computes them on x86_64 (4 KiB pages, 64-byte cache
// lines, NET_IP_ALIGN 0, no XDP so no headroom or extra tailroom).
//
// With mergeable buffers Linux does not post whole pages: it carves
// buffers out of a 32 KiB page fragment (skb_page_frag_refill), each as
// long as get_mergeable_buf_len says: the virtio-net header plus an
// EWMA of recent frame lengths (ewma_pkt_len, weight 1/64), clamped to
// [min_buf_len, PAGE_SIZE - header] and aligned to L1_CACHE_BYTES. The
// buffer's length travels in the descriptor's context
// (mergeable_len_to_ctx) and comes back as its truesize
// (mergeable_ctx_to_truesize). With a 1500-byte MTU no frame exceeds
// min_buf_len (1518, GOOD_PACKET_LEN, for a 256-entry ring), so buffers
// are 12 + 1518 rounded up to 1536 bytes; add_recvbuf_mergeable gives
// the remainder of the fragment to the buffer that leaves too little for
// another, so every 21st buffer is 1536 + 512 = 2048.
//
// page_to_skb then builds the skb one of two ways, which sets its
// truesize:
//
//   - a frame longer than GOOD_COPY_LEN (128) whose buffer has room for
//     skb_shared_info after it becomes the skb head itself
//     (virtnet_build_skb → build_skb): truesize SKB_TRUESIZE(buffer -
//     shared info) = buffer + 256, 1792 for a 1536-byte buffer;
//   - otherwise the frame is copied into a fresh skb from
//     napi_alloc_skb(GOOD_COPY_LEN). __napi_alloc_skb asks for 128 +
//     NET_SKB_PAD = 192 bytes, which on a 4 KiB-page kernel
//     (NAPI_HAS_SMALL_PAGE_FRAG) comes from page_frag_alloc_1k: a 1 KiB
//     head, truesize SKB_TRUESIZE(1024 - 320) = 1280, with 640 bytes of
//     tailroom after NET_SKB_PAD. A frame that fits is copied whole and
//     the buffer freed (1280 for any frame up to 128 bytes); a longer one
//     (here: one too long to leave room for shared info, over 1204 bytes
//     in a 1536-byte buffer) keeps its payload in the buffer as a
//     fragment (skb_add_rx_frag), adding the buffer's truesize: 1280 +
//     1536 = 2816.
//
// Every further buffer of a multi-buffer frame adds its own truesize
// (virtnet_skb_append_frag). Without mergeable buffers, receive_small
// builds the skb around a buffer of SKB_DATA_ALIGN(header + NET_SKB_PAD
// + GOOD_PACKET_LEN) + shared info, whatever the frame's length.
//
// kaidoku keeps every frame in its pool buffer (the driver hands the
// same DMA buffer up the stack) and only charges what Linux would.
const (
	goodCopyLen    = 128   // GOOD_COPY_LEN
	l1CacheBytes   = 64    // L1_CACHE_BYTES
	pageSize       = 4096  // PAGE_SIZE
	fragPageSize   = 32768 // 1 << (SKB_FRAG_PAGE_ORDER + PAGE_SHIFT)
	maxMTU         = 65535 // MAX_MTU: dev->max_mtu without VIRTIO_NET_F_MTU
	vlanHlen       = 4     // VLAN_HLEN
	netSkbPad      = 64    // NET_SKB_PAD: max(32, L1_CACHE_BYTES)
	napiSmallFrag  = 1024  // page_frag_alloc_1k's fragment
	ewmaWeightLog2 = 6     // DECLARE_EWMA(pkt_len, 0, 64)
)

// napiCopyTruesize is the truesize of napi_alloc_skb(GOOD_COPY_LEN) from
// the 1 KiB small-page fragment, and napiCopyTailroom the bytes it can
// take after skb_reserve(NET_SKB_PAD).
const (
	napiCopyTruesize = napiSmallFrag - skb.SharedInfoSize + skb.Overhead                                // 1280
	napiCopyTailroom = napiSmallFrag - skb.SharedInfoSize - netSkbPad                                   // 640
	smallBufLen      = (NetHdrLen + netSkbPad + goodPacketLen + l1CacheBytes - 1) &^ (l1CacheBytes - 1) // 1600
	smallTruesize    = smallBufLen + skb.Overhead                                                       // 2176
)

// ewmaPktLen is struct ewma_pkt_len: DECLARE_EWMA(pkt_len, 0, 64).
type ewmaPktLen struct{ internal uint64 }

// add is ewma_pkt_len_add: the first sample is taken as it is.
func (e *ewmaPktLen) add(v uint64) {
	if e.internal == 0 {
		e.internal = v
		return
	}
	e.internal = ((e.internal << ewmaWeightLog2) - e.internal + v) >> ewmaWeightLog2
}

// read is ewma_pkt_len_read.
func (e *ewmaPktLen) read() uint64 { return e.internal }

// mergeableMinBufLen is mergeable_min_buf_len: buffers small enough that
// a full ring still holds one maximal packet (dev->max_mtu, MAX_MTU
// without VIRTIO_NET_F_MTU), but never below GOOD_PACKET_LEN.
func mergeableMinBufLen(hdrLen, ringSize int) int {
	bufLen := hdrLen + ethHlen + vlanHlen + maxMTU
	minBufLen := (bufLen + ringSize - 1) / ringSize
	return max(max(minBufLen, hdrLen)-hdrLen, goodPacketLen)
}

// getMergeableBufLen is get_mergeable_buf_len (no XDP room).
func (d *Net) getMergeableBufLen() int {
	avg := int(min(d.rx.avgPktLen.read(), pageSize))
	// clamp_t(v, lo, hi) is min(max(v, lo), hi), hi winning if lo > hi.
	l := d.hdrLen + min(max(avg, d.rx.minBufLen), pageSize-d.hdrLen)
	return (l + l1CacheBytes - 1) &^ (l1CacheBytes - 1)
}

// addRecvbufMergeable is add_recvbuf_mergeable's sizing: the length to
// post for the next buffer, carved from the current 32 KiB page fragment
// (a fresh one when it cannot fit, as skb_page_frag_refill), taking the
// fragment's remainder when too little would be left for another buffer.
// The length is also the buffer's truesize (mergeable_len_to_ctx): the
// descriptor records it and receiveMergeable reads it back. A pool buffer
// shorter than Linux's buffer (rings of fewer than 44 entries, whose
// min_buf_len exceeds 2 KiB) is posted whole.
func (d *Net) addRecvbufMergeable(bufSize int) int {
	rq := &d.rx
	l := d.getMergeableBufLen()
	rq.bufLen.Store(int32(l))
	if rq.fragOffset+l > fragPageSize {
		rq.fragOffset = 0
	}
	rq.fragOffset += l
	if hole := fragPageSize - rq.fragOffset; hole < l {
		l += hole
		rq.fragOffset += hole
	}
	return min(l, bufSize)
}

// pageToSkbTruesize is the truesize page_to_skb gives a mergeable frame
// of frameLen bytes (after the virtio-net header) that arrived in a
// buffer of the given truesize: the buffer itself as the skb head, or a
// napi_alloc_skb copy with the rest, if any, left in the buffer as a
// fragment.
func pageToSkbTruesize(frameLen, truesize int) int {
	tailroom := truesize - NetHdrLen - frameLen
	if frameLen > goodCopyLen && tailroom >= skb.SharedInfoSize {
		return skb.TrueSize(truesize - skb.SharedInfoSize)
	}
	if frameLen <= napiCopyTailroom {
		return napiCopyTruesize
	}
	return napiCopyTruesize + truesize
}
