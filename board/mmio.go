//go:build tamago

package board

// MMIO is a device register window in uncached memory. It serves the
// virtio-mmio transport.
type MMIO struct {
	Base uint64
}

// Read32 reads the 32-bit register at off.
func (m MMIO) Read32(off uint32) uint32 { return mmioRead32(m.Base + uint64(off)) }

// Write32 writes the 32-bit register at off.
func (m MMIO) Write32(off uint32, v uint32) { mmioWrite32(m.Base+uint64(off), v) }

// Read16 reads the 16-bit register at off.
func (m MMIO) Read16(off uint32) uint16 { return mmioRead16(m.Base + uint64(off)) }

// Read8 reads the byte register at off.
func (m MMIO) Read8(off uint32) uint8 { return mmioRead8(m.Base + uint64(off)) }

// Write8 writes the byte register at off.
func (m MMIO) Write8(off uint32, v uint8) { mmioWrite8(m.Base+uint64(off), v) }
