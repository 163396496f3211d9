package virtio

import (
	"errors"
	"fmt"
	"sync"
)

// Memory is memory the device can reach by bus address: the board's DMA
// region in the image, a Region in host tests. Alloc returns n zeroed bytes
// aligned to align (a power of two) and their bus address. The board's
// region and Region both satisfy it.
type Memory interface {
	Alloc(n, align int) (b []byte, addr uint64, err error)
}

// Region is a Memory carved from a byte slice with made-up bus addresses,
// so that a device model can resolve the addresses the driver writes into
// descriptors, bounds-checked, exactly as a device would.
type Region struct {
	mu   sync.Mutex
	base uint64 // +checklocksignore: fixed at NewRegion
	mem  []byte // +checklocksignore: fixed at NewRegion
	// +checklocks:mu
	next int
}

// ErrNoMemory is returned when a Region is full.
var ErrNoMemory = errors.New("virtio: DMA region exhausted") // +checklocksignore: immutable

// NewRegion creates a region of size bytes whose first byte has bus
// address base.
func NewRegion(base uint64, size int) *Region {
	return &Region{base: base, mem: make([]byte, size)}
}

// Alloc implements Memory.
func (r *Region) Alloc(n, align int) ([]byte, uint64, error) {
	if align <= 0 || align&(align-1) != 0 || n <= 0 {
		return nil, 0, fmt.Errorf("virtio: bad allocation %d align %d", n, align)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	off := (r.next + align - 1) &^ (align - 1)
	if off+n > len(r.mem) {
		return nil, 0, ErrNoMemory
	}
	r.next = off + n
	return r.mem[off : off+n : off+n], r.base + uint64(off), nil
}

// Slice resolves n bytes at bus address addr, or reports false if any of
// them lie outside the region (what an IOMMU would fault on).
func (r *Region) Slice(addr uint64, n int) ([]byte, bool) {
	if n < 0 || addr < r.base {
		return nil, false
	}
	off := addr - r.base
	if off > uint64(len(r.mem)) || uint64(n) > uint64(len(r.mem))-off {
		return nil, false
	}
	return r.mem[off : off+uint64(n)], true
}

// Base returns the bus address of the region's first byte.
func (r *Region) Base() uint64 { return r.base }
