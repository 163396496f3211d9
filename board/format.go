package board

import (
	"fmt"
	"strconv"
	"strings"
)

// What this file holds does not touch the hardware, so it builds (and is
// tested) on any platform.

// VirtioSlot is a virtio-mmio transport that has a device behind it.
type VirtioSlot struct {
	Slot     int
	Base     uint64
	Version  uint32 // 2 = modern, 1 = legacy
	DeviceID uint32 // 1 = network
	VendorID uint32
	GSI      int
}

// String describes the slot as the boot banner shows it.
func (s VirtioSlot) String() string {
	return fmt.Sprintf("virtio-mmio slot %d at %#x: device %d (%s), version %d, vendor %#x, GSI %d",
		s.Slot, s.Base, s.DeviceID, virtioName(s.DeviceID), s.Version, s.VendorID, s.GSI)
}

func virtioName(id uint32) string {
	switch id {
	case 1:
		return "net"
	case 2:
		return "block"
	case 3:
		return "console"
	case 4:
		return "rng"
	}
	return "other"
}

// virtioMMIOIRQs returns, by transport base address, the interrupt each
// virtio_mmio.device=<size>@<base>:<irq> word of cmdline gives (the
// words QEMU's microvm appends); malformed words are skipped.
func virtioMMIOIRQs(cmdline string) map[uint64]int {
	m := map[uint64]int{}
	// All the words: microvm appends these after the user's, so after a
	// "--" the user may have written.
	for _, f := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(f, "virtio_mmio.device=")
		if !ok {
			continue
		}
		_, rest, ok := strings.Cut(v, "@")
		if !ok {
			continue
		}
		addr, irq, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		a, err1 := strconv.ParseUint(addr, 0, 64)
		i, err2 := strconv.Atoi(irq)
		if err1 == nil && err2 == nil {
			m[a] = i
		}
	}
	return m
}

// mhz formats a rate in Hz as MHz with three decimals.
func mhz(hz uint64) string {
	return strconv.FormatFloat(float64(hz)/1e6, 'f', 3, 64)
}
