//go:build tamago

package board

import (
	"fmt"
	"strconv"
	"strings"
)

// microvm's virtio-mmio transport window (hw/i386/microvm.c): one 512-byte
// transport per slot; slot n interrupts on GSI 24+n when the second IOAPIC
// is present, 5+n otherwise.
const (
	virtioMMIOBase  = 0xfeb00000
	virtioMMIOSize  = 0x200
	virtioMMIOSlots = 24
	virtioMagic     = 0x74726976 // "virt"
)

// VirtioSlot is a virtio-mmio transport that has a device behind it.
type VirtioSlot struct {
	Slot     int
	Base     uint64
	Version  uint32 // 2 = modern, 1 = legacy
	DeviceID uint32 // 1 = network
	VendorID uint32
	GSI      int
}

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

var virtioSlots []VirtioSlot

// VirtioDevices lists the virtio-mmio transports with a device behind them,
// found by scanning microvm's window at boot.
func VirtioDevices() []VirtioSlot { return virtioSlots }

func scanVirtio() {
	gsiBase := 5
	if ioapic2Present() {
		gsiBase = 24
	}
	fromCmdline := cmdlineVirtioIRQs()
	for n := 0; n < virtioMMIOSlots; n++ {
		base := uint64(virtioMMIOBase + n*virtioMMIOSize)
		if mmioRead32(base) != virtioMagic {
			continue
		}
		id := mmioRead32(base + 0x008)
		if id == 0 {
			continue // transport with no device plugged in
		}
		s := VirtioSlot{
			Slot:     n,
			Base:     base,
			Version:  mmioRead32(base + 0x004),
			DeviceID: id,
			VendorID: mmioRead32(base + 0x00c),
			GSI:      gsiBase + n,
		}
		// QEMU tells Linux where each transport interrupts; believe it
		// over the slot rule when it is there.
		if gsi, ok := fromCmdline[base]; ok {
			s.GSI = gsi
		}
		virtioSlots = append(virtioSlots, s)
	}
}

// cmdlineVirtioIRQs parses microvm's virtio_mmio.device=<size>@<base>:<irq>.
func cmdlineVirtioIRQs() map[uint64]int {
	m := map[uint64]int{}
	// All the words: microvm appends these after the user's, so after a
	// "--" the user may have written.
	for _, f := range strings.Fields(commandLine) {
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

func ioapic2Present() bool {
	return IOAPIC1.Version() != 0xffffffff && IOAPIC1.Entries() > 1
}
