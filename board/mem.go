//go:build tamago

package board

import (
	_ "unsafe"
)

// The runtime owns 0x10000000-0x50000000 (tamago's amd64 RamStart plus
// ramSize); the DMA region follows it. QEMU therefore needs -m well above
// 1.5 GiB.
//
//go:linkname ramSize runtime/goos.RamSize
var ramSize uint64 = 0x40000000

// DMA region for virtqueues and packet buffers, outside the Go heap so that
// the device's view of it never moves or is collected.
const (
	DMAStart = 0x50000000
	DMASize  = 0x10000000
)
