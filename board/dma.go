//go:build tamago

package board

import (
	"fmt"
	"sync"
)

// DMAMemory hands out zeroed memory from the DMA region, outside the Go
// heap, to virtqueues and packet buffer pools; the bus address is the
// physical address (identity-mapped, no IOMMU). It satisfies
// virtio.Memory.
type DMAMemory struct{}

var (
	dmaMu sync.Mutex
	// +checklocks:dmaMu
	dmaReserved int64
	// dmaHigh is the end of the highest block ever handed out: memory
	// above it is guest RAM nobody has written since the VM started,
	// which QEMU provides zeroed.
	// +checklocks:dmaMu
	dmaHigh uint
)

// Alloc returns n zeroed bytes aligned to align and their bus address.
// Only memory handed out before is cleared: zeroing the packet buffer
// arena's 255 MiB at boot would cost a long while under TCG for nothing.
func (DMAMemory) Alloc(n, align int) ([]byte, uint64, error) {
	if n <= 0 {
		return nil, 0, fmt.Errorf("board: DMA allocation of %d bytes", n)
	}
	addr, buf, err := reserve(n, align)
	if err != nil {
		return nil, 0, err
	}
	if buf == nil || addr == 0 {
		return nil, 0, fmt.Errorf("board: DMA region cannot fit %d bytes", n)
	}
	dmaMu.Lock()
	if addr < dmaHigh {
		clear(buf[:min(uint(n), dmaHigh-addr)])
	}
	dmaHigh = max(dmaHigh, addr+uint(n))
	dmaReserved += int64(n)
	dmaMu.Unlock()
	return buf, uint64(addr), nil
}

// reserve is DMA.Reserve with its out-of-memory panic turned into an
// error: the panic comes before the region changes, and Reserve's
// deferred unlock releases the region's lock.
func reserve(n, align int) (addr uint, buf []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("board: DMA region (%d MiB) has no free block of %d bytes: %v", DMASize>>20, n, r)
		}
	}()
	addr, buf = DMA.Reserve(n, align)
	return addr, buf, nil
}

// DMAReserved returns the bytes handed out from the DMA region.
func DMAReserved() int64 {
	dmaMu.Lock()
	defer dmaMu.Unlock()
	return dmaReserved
}
