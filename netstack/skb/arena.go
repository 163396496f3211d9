package skb

import (
	"fmt"
	"sync"
)

// Arena block sizes: a buffer takes one block of ArenaMinBlock << order
// bytes, order 0 to ArenaMaxOrder (2 KiB to 128 KiB).
const (
	ArenaMinBlock = 2048
	ArenaMaxOrder = 6
	ArenaMaxBlock = ArenaMinBlock << ArenaMaxOrder
)

// Arena is the memory packet buffers come from when it is shared by
// several pools instead of divided into fixed pools: one allocation of a
// Memory (the DMA region in the image), handed out in power-of-two blocks
// by a binary buddy allocator, as Linux's page allocator hands out the
// pages its skbs live in (__alloc_pages, __free_pages). A frame and a
// reassembled datagram draw on the same memory, so that what limits them
// is what limits Linux: the socket receive buffers, udp_mem and
// ipfrag_high_thresh, whose accounting runs out long before the arena
// does when the arena's size stands for Linux's nr_free_buffer_pages()
// in udp_mem (as netstack does for a frame pool on an arena). Exhaustion is
// counted (ArenaStats.Failed, and the Exhausted count of the pool that
// asked). It is safe for concurrent use.
type Arena struct {
	mu    sync.Mutex
	store []byte // fixed at NewArena
	addr  uint64 // fixed at NewArena
	size  int    // fixed at NewArena: the bytes managed
	// Free lists per order, linked through next/prev by block index;
	// head[o] is -1 when empty. order[i] is the order of the free block
	// starting at block i, or -1 if block i does not start a free block.
	// +checklocks:mu
	head [ArenaMaxOrder + 1]int32
	// +checklocks:mu
	next []int32
	// +checklocks:mu
	prev []int32
	// +checklocks:mu
	order []int8
	// +checklocks:mu
	stats ArenaStats
}

// ArenaStats are an arena's counters.
type ArenaStats struct {
	Size   int    // bytes the arena manages
	InUse  int    // bytes in blocks handed out
	Peak   int    // highest InUse seen
	Failed uint64 // requests no free block could satisfy
}

// NewArena takes size bytes from mem (rounded down to whole 2 KiB
// blocks) and makes them available to pools created with NewArenaPool.
func NewArena(size int, mem Memory) (*Arena, error) {
	n := size / ArenaMinBlock
	if n <= 0 {
		return nil, fmt.Errorf("skb: arena of %d bytes is smaller than one block", size)
	}
	store, addr, err := mem(n * ArenaMinBlock)
	if err != nil {
		return nil, fmt.Errorf("skb: arena: %w", err)
	}
	if len(store) < n*ArenaMinBlock {
		return nil, fmt.Errorf("skb: arena: memory gave %d bytes, want %d", len(store), n*ArenaMinBlock)
	}
	a := &Arena{store: store, addr: addr, size: n * ArenaMinBlock}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next, a.prev, a.order = make([]int32, n), make([]int32, n), make([]int8, n)
	for o := range a.head {
		a.head[o] = -1
	}
	for i := range a.order {
		a.order[i] = -1
	}
	// Carve the blocks into the largest aligned pieces that fit.
	for i := 0; i < n; {
		o := ArenaMaxOrder
		for o > 0 && (i&(1<<o-1) != 0 || i+1<<o > n) {
			o--
		}
		a.pushLocked(int32(i), o)
		i += 1 << o
	}
	a.stats.Size = a.size
	return a, nil
}

// Size returns the bytes the arena manages.
func (a *Arena) Size() int { return a.size }

// Stats returns a snapshot of the arena's counters.
func (a *Arena) Stats() ArenaStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// pushLocked puts the free block of order o at index i on its list.
//
// +checklocks:a.mu
func (a *Arena) pushLocked(i int32, o int) {
	a.order[i] = int8(o)
	a.prev[i] = -1
	a.next[i] = a.head[o]
	if h := a.head[o]; h >= 0 {
		a.prev[h] = i
	}
	a.head[o] = i
}

// unlinkLocked takes the free block of order o at index i off its list.
//
// +checklocks:a.mu
func (a *Arena) unlinkLocked(i int32, o int) {
	if p := a.prev[i]; p >= 0 {
		a.next[p] = a.next[i]
	} else {
		a.head[o] = a.next[i]
	}
	if n := a.next[i]; n >= 0 {
		a.prev[n] = a.prev[i]
	}
	a.order[i] = -1
}

// blockOrder is the order of the smallest block of at least n bytes, or
// -1 if n exceeds ArenaMaxBlock.
func blockOrder(n int) int {
	for o := 0; o <= ArenaMaxOrder; o++ {
		if n <= ArenaMinBlock<<o {
			return o
		}
	}
	return -1
}

// alloc takes a block of order o, splitting a larger one if needed, and
// returns its first block index, or -1.
func (a *Arena) alloc(o int) int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	j := o
	for j <= ArenaMaxOrder && a.head[j] < 0 {
		j++
	}
	if j > ArenaMaxOrder {
		a.stats.Failed++
		return -1
	}
	i := a.head[j]
	a.unlinkLocked(i, j)
	for j > o {
		j--
		a.pushLocked(i+1<<j, j)
	}
	a.stats.InUse += ArenaMinBlock << o
	a.stats.Peak = max(a.stats.Peak, a.stats.InUse)
	return i
}

// release gives back the block of order o at index i, merging it with
// its buddy while the buddy is free.
func (a *Arena) release(i int32, o int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.InUse -= ArenaMinBlock << o
	for o < ArenaMaxOrder {
		b := i ^ 1<<o
		if int(b) >= len(a.order) || int(a.order[b]) != o {
			break
		}
		a.unlinkLocked(b, o)
		i = min(i, b)
		o++
	}
	a.pushLocked(i, o)
}

// block returns the storage and bus address of a block.
func (a *Arena) block(i int32, o int) ([]byte, uint64) {
	off := int(i) * ArenaMinBlock
	end := off + ArenaMinBlock<<o
	var addr uint64
	if a.addr != 0 {
		addr = a.addr + uint64(off)
	}
	return a.store[off:end:end], addr
}
