//go:build tamago

package board

import (
	"fmt"
	"sync/atomic"
)

// DMAMemory hands out zeroed memory from the DMA region, outside the Go
// heap, to virtqueues and packet buffer pools; the bus address is the
// physical address (identity-mapped, no IOMMU). It satisfies
// virtio.Memory.
type DMAMemory struct{}

var dmaReserved atomic.Int64

// Alloc returns n zeroed bytes aligned to align and their bus address.
func (DMAMemory) Alloc(n, align int) ([]byte, uint64, error) {
	if n <= 0 {
		return nil, 0, fmt.Errorf("board: DMA allocation of %d bytes", n)
	}
	addr, buf := DMA.Reserve(n, align)
	if buf == nil || addr == 0 {
		return nil, 0, fmt.Errorf("board: DMA region cannot fit %d bytes", n)
	}
	clear(buf)
	dmaReserved.Add(int64(n))
	return buf, uint64(addr), nil
}

// DMAReserved returns the bytes handed out from the DMA region.
func DMAReserved() int64 { return dmaReserved.Load() }
