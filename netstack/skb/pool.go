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
	Size       int    // storage bytes per buffer
	Count      int    // buffers owned by the pool
	InUse      int    // buffers handed out and not yet freed
	PeakInUse  int    // highest InUse seen
	Allocs     uint64 // successful Gets
	Exhausted  uint64 // Gets that found no free buffer
	DoubleFree uint64 // Frees of a buffer that was already free (a bug)
}

// Pool is a fixed set of equally sized buffers. It is safe for concurrent
// use.
type Pool struct {
	name  string
	size  int
	mu    sync.Mutex
	free  []*Buffer
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

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Size returns the storage size of each buffer.
func (p *Pool) Size() int { return p.size }

// Get takes a free buffer, empty and with its metadata reset, or returns nil
// if the pool is exhausted (an allocation failure, GFP_ATOMIC style).
func (p *Pool) Get() *Buffer {
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

func (p *Pool) put(b *Buffer) {
	p.mu.Lock()
	if b.state != stateInUse {
		p.stats.DoubleFree++
		p.mu.Unlock()
		return
	}
	b.state = stateFree
	b.reset()
	p.free = append(p.free, b)
	p.stats.InUse--
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
	return p.stats
}

// Truesize is the truesize of one of the pool's buffers.
func (s PoolStats) Truesize() int { return s.Size + Overhead }
