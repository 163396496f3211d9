//go:build tamago

package board

// Defined in reg_amd64.s.
func inb(port uint16) uint8
func outb(port uint16, val uint8)
func outw(port uint16, val uint16)
func outl(port uint16, val uint32)
func mmioRead32(addr uint64) uint32
func mmioWrite32(addr uint64, val uint32)
func mmioRead16(addr uint64) uint16
func mmioRead8(addr uint64) uint8
func mmioWrite8(addr uint64, val uint8)
func rdtsc() uint64
func wrmsr(msr uint32, val uint64)
func sidt() (base uint64, limit uint16)

// cli masks interrupts; tamago's wfi (CPU.WaitInterrupt) unmasks them
// with STI immediately before HLT.
func cli()

// RDTSC returns the CPU's time-stamp counter.
func RDTSC() uint64 { return rdtsc() }
