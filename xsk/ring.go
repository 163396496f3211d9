package xsk

import "sync/atomic"

// RingNeedWakeup is XDP_RING_NEED_WAKEUP, the flag a ring's Flags carry
// when the application must call Socket.Kick (sendto, or poll) for the
// kernel side to look at the ring again.
const RingNeedWakeup = 1

// Desc is struct xdp_desc: a frame in the UMEM, by its address (offset
// into the UMEM) and length.
type Desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

// addrSlot is an entry of the fill and completion rings: a UMEM address.
type addrSlot struct{ a atomic.Uint64 }

func (e *addrSlot) load() uint64   { return e.a.Load() }
func (e *addrSlot) store(a uint64) { e.a.Store(a) }

// descSlot is an entry of the RX and TX rings: a Desc in two words.
type descSlot struct{ addr, lenOpts atomic.Uint64 }

func (e *descSlot) load() Desc {
	lo := e.lenOpts.Load()
	return Desc{Addr: e.addr.Load(), Len: uint32(lo), Options: uint32(lo >> 32)}
}

func (e *descSlot) store(d Desc) {
	e.addr.Store(d.Addr)
	e.lenOpts.Store(uint64(d.Len) | uint64(d.Options)<<32)
}

// ring is struct xdp_ring with struct xsk_queue's kernel-side cached
// indices: a single-producer, single-consumer ring of n (a power of two)
// entries (slots E: addrSlot or descSlot). producer and consumer are
// free-running; an entry lives at index & mask.
//
// The application side may write any values into the indices and
// entries, at any time (as it may into Linux's mmapped ring): the kernel
// side masks every index and validates every entry it reads, so nothing
// it does with them reaches outside the ring or the UMEM. Both sides
// reach entries through atomic words, so that an application that
// writes a slot while the kernel side reads it (a bug of its own) gives
// the kernel side one value or the other, never a data race in the
// kernel side's code; an application that keeps to the protocol pays
// nothing for it on amd64 but the store's XCHG.
type ring[E any] struct {
	producer, consumer atomic.Uint32
	flags              atomic.Uint32
	mask               uint32
	entries            []E
	// Kernel side (xsk_queue's cached_prod and cached_cons).
	cachedProd, cachedCons uint32
	// Counted by the kernel side: entries it refused, and times it found
	// the ring empty (or full) when it wanted an entry (a slot).
	invalidDescs, queueEmptyDescs atomic.Uint64
}

func newRing[E any](n uint32) *ring[E] {
	return &ring[E]{mask: n - 1, entries: make([]E, n)}
}

func (r *ring[E]) size() uint32 { return r.mask + 1 }

// Kernel side, consumer (xskq_cons_*).

// consNbEntries is xskq_cons_nb_entries: how many entries are ready, at
// most max, refreshing the cached producer when the cache has none. A
// producer index the application pushed beyond the ring's size yields
// at most max entries; each is validated when read.
func (r *ring[E]) consNbEntries(max uint32) uint32 {
	entries := r.cachedProd - r.cachedCons
	if entries >= max {
		return max
	}
	r.cachedProd = r.producer.Load()
	entries = r.cachedProd - r.cachedCons
	return min(entries, max)
}

// consPeek is xskq_cons_peek without validation: the next entry's slot,
// if any.
func (r *ring[E]) consPeek() (*E, bool) {
	if r.consNbEntries(1) == 0 {
		return nil, false
	}
	return &r.entries[r.cachedCons&r.mask], true
}

// consRelease is xskq_cons_release: the entry peeked is consumed (not yet
// visible to the producer).
func (r *ring[E]) consRelease() { r.cachedCons++ }

// consPublish is __xskq_cons_release: publish the consumed entries.
func (r *ring[E]) consPublish() { r.consumer.Store(r.cachedCons) }

// Kernel side, producer (xskq_prod_*).

// prodNbFree is xskq_prod_nb_free: free slots, at most max, refreshing
// the cached consumer when the cache says full. A consumer index the
// application moved beyond the producer counts as a full ring.
func (r *ring[E]) prodNbFree(max uint32) uint32 {
	free := r.size() - (r.cachedProd - r.cachedCons)
	if free >= max && free <= r.size() {
		return max
	}
	r.cachedCons = r.consumer.Load()
	used := r.cachedProd - r.cachedCons
	if used > r.size() {
		return 0
	}
	return min(r.size()-used, max)
}

// prodReserve is xskq_prod_reserve: a free slot for one entry, not yet
// visible; false if the ring is full.
func (r *ring[E]) prodReserve() (*E, bool) {
	if r.prodNbFree(1) == 0 {
		return nil, false
	}
	e := &r.entries[r.cachedProd&r.mask]
	r.cachedProd++
	return e, true
}

// prodCancel is xskq_prod_cancel_n.
func (r *ring[E]) prodCancel(n uint32) { r.cachedProd -= n }

// prodSubmit is xskq_prod_submit: make the reserved entries visible.
func (r *ring[E]) prodSubmit() { r.producer.Store(r.cachedProd) }

// Application side: the accessors of libxdp's xsk.h, which keep their
// own cached copies of the other side's index.

// prodRing is the application's producer view (fill and TX rings).
type prodRing[E any] struct {
	r                      *ring[E]
	cachedProd, cachedCons uint32
}

// consRing is the application's consumer view (completion and RX rings).
type consRing[E any] struct {
	r                      *ring[E]
	cachedProd, cachedCons uint32
}

func (p *prodRing[E]) free(n uint32) uint32 {
	free := p.cachedCons - p.cachedProd
	if free >= n {
		return free
	}
	p.cachedCons = p.r.consumer.Load() + p.r.size()
	return p.cachedCons - p.cachedProd
}

func (p *prodRing[E]) reserve(n uint32) (idx uint32, got uint32) {
	if p.free(n) < n {
		return 0, 0
	}
	idx = p.cachedProd
	p.cachedProd += n
	return idx, n
}

func (p *prodRing[E]) submit(n uint32) { p.r.producer.Store(p.r.producer.Load() + n) }

func (c *consRing[E]) avail(n uint32) uint32 {
	entries := c.cachedProd - c.cachedCons
	if entries == 0 {
		c.cachedProd = c.r.producer.Load()
		entries = c.cachedProd - c.cachedCons
	}
	return min(entries, n)
}

func (c *consRing[E]) peek(n uint32) (idx uint32, got uint32) {
	got = c.avail(n)
	if got > 0 {
		idx = c.cachedCons
		c.cachedCons += got
	}
	return idx, got
}

func (c *consRing[E]) release(n uint32) { c.r.consumer.Store(c.r.consumer.Load() + n) }
