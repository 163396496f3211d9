package skb

import (
	"fmt"
	"sync"
)

// Memory supplies a pool's storage: n bytes and their bus address. The
// image passes DMA memory; host tests may pass HeapMemory.
type Memory func(n int) (b []byte, addr uint64, err error)

// HeapMemory allocates storage from the Go heap, with bus address 0.
func HeapMemory(n int) ([]byte, uint64, error) { return make([]byte, n), 0, nil }

// PoolStats are a pool's counters.
type PoolStats struct {
	Size       int    // storage bytes per buffer (the largest, on an arena)
	Count      int    // buffers owned by the pool (0 on an arena: see its stats)
	InUse      int    // buffers handed out and not yet freed
	PeakInUse  int    // highest InUse seen
	Allocs     uint64 // successful Gets
	Exhausted  uint64 // Gets that found no free buffer
	DoubleFree uint64 // Frees of a buffer that was already free (a bug)
	// Spare is, on an arena, the freed buffers whose metadata the pool
	// keeps for reuse (at most 1024): heap a burst leaves behind by
	// design, not a leak.
	Spare int
}

// Pool is a set of packet buffers: either a fixed set of equally sized
// buffers (NewPool), or buffers of up to a given size whose storage is
// taken from an Arena when a buffer is allocated and given back when it
// is freed (NewArenaPool). It is safe for concurrent use.
type Pool struct {
	name  string
	size  int
	arena *Arena
	mu    sync.Mutex
	// +checklocks:mu
	free []*Buffer // free buffers, or on an arena spare metadata
	// +checklocks:mu
	stats PoolStats
}

// NewPool creates count buffers of size bytes each, carving their storage
// from one allocation of mem.
func NewPool(name string, size, count int, mem Memory) (*Pool, error) {
	if size <= 0 || count <= 0 {
		return nil, fmt.Errorf("skb: pool %s: bad geometry %d x %d", name, count, size)
	}
	store, addr, err := mem(size * count)
	if err != nil {
		return nil, fmt.Errorf("skb: pool %s: %w", name, err)
	}
	if len(store) < size*count {
		return nil, fmt.Errorf("skb: pool %s: memory gave %d bytes, want %d", name, len(store), size*count)
	}
	p := &Pool{name: name, size: size, free: make([]*Buffer, 0, count)}
	bufs := make([]Buffer, count)
	for i := range bufs {
		b := &bufs[i]
		b.buf = store[i*size : (i+1)*size : (i+1)*size]
		if addr != 0 {
			b.addr = addr + uint64(i*size)
		}
		b.pool = p
		b.reset()
		p.free = append(p.free, b)
	}
	p.stats.Size = size
	p.stats.Count = count
	return p, nil
}

// arenaSpares bounds the freed buffers' metadata an arena pool keeps for
// reuse: enough for a receive ring, a transmit ring and what is in
// flight between them.
const arenaSpares = 1024

// NewArenaPool creates a pool whose buffers take their storage from a,
// one block per buffer: size bytes for Get, the smallest block that fits
// for GetSize. size is at most ArenaMaxBlock.
func NewArenaPool(name string, size int, a *Arena) (*Pool, error) {
	if size <= 0 || blockOrder(size) < 0 || a == nil {
		return nil, fmt.Errorf("skb: pool %s: bad size %d for an arena (at most %d)", name, size, ArenaMaxBlock)
	}
	p := &Pool{name: name, size: size, arena: a}
	p.stats.Size = size
	return p, nil
}

// Arena returns the arena the pool draws on, or nil for a fixed pool.
func (p *Pool) Arena() *Arena { return p.arena }

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Size returns the storage size of each buffer.
func (p *Pool) Size() int { return p.size }

// Get takes a free buffer, empty and with its metadata reset, or returns nil
// if the pool is exhausted (an allocation failure, GFP_ATOMIC style).
func (p *Pool) Get() *Buffer {
	if p.arena != nil {
		return p.getArena(p.size)
	}
	p.mu.Lock()
	n := len(p.free)
	if n == 0 {
		p.stats.Exhausted++
		p.mu.Unlock()
		return nil
	}
	b := p.free[n-1]
	p.free = p.free[:n-1]
	p.stats.InUse++
	p.stats.Allocs++
	if p.stats.InUse > p.stats.PeakInUse {
		p.stats.PeakInUse = p.stats.InUse
	}
	p.mu.Unlock()
	b.state = stateInUse
	return b
}

// GetSize is Get for a buffer of at least n bytes of storage: on an
// arena, the smallest block that holds n; from a fixed pool, one of its
// buffers if they are large enough. It returns nil if n exceeds the
// pool's size or the memory is exhausted.
func (p *Pool) GetSize(n int) *Buffer {
	if n > p.size {
		return nil
	}
	if p.arena != nil {
		return p.getArena(n)
	}
	return p.Get()
}

func (p *Pool) getArena(n int) *Buffer {
	o := blockOrder(n)
	i := p.arena.alloc(o)
	p.mu.Lock()
	if i < 0 {
		p.stats.Exhausted++
		p.mu.Unlock()
		return nil
	}
	var b *Buffer
	if k := len(p.free); k > 0 {
		b = p.free[k-1]
		p.free = p.free[:k-1]
	}
	p.stats.InUse++
	p.stats.Allocs++
	p.stats.PeakInUse = max(p.stats.PeakInUse, p.stats.InUse)
	p.mu.Unlock()
	if b == nil {
		b = &Buffer{pool: p}
	}
	b.buf, b.addr = p.arena.block(i, o)
	b.blk, b.ord = i, int8(o)
	b.reset()
	b.state = stateInUse
	return b
}

func (p *Pool) put(b *Buffer) {
	p.mu.Lock()
	if b.state != stateInUse {
		p.stats.DoubleFree++
		p.mu.Unlock()
		return
	}
	b.state = stateFree
	p.stats.InUse--
	if p.arena != nil {
		// The storage goes back to the arena; the metadata is kept for
		// the next buffer, up to arenaSpares of it, so that memory a
		// burst took returns once it has passed.
		i, o := b.blk, int(b.ord)
		b.buf, b.addr = nil, 0
		b.reset()
		if len(p.free) < arenaSpares {
			p.free = append(p.free, b)
		}
		p.mu.Unlock()
		p.arena.release(i, o)
		return
	}
	b.reset()
	p.free = append(p.free, b)
	p.mu.Unlock()
}

// InUse returns the number of buffers handed out and not freed.
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats.InUse
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	if p.arena != nil {
		s.Spare = len(p.free)
	}
	return s
}

// Truesize is the truesize of one of the pool's buffers.
func (s PoolStats) Truesize() int { return s.Size + Overhead }
