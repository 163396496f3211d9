//go:build tamago

package board

// microvm's virtio-mmio transport window (hw/i386/microvm.c): one 512-byte
// transport per slot; slot n interrupts on GSI 24+n when the second IOAPIC
// is present, 5+n otherwise.
const (
	virtioMMIOBase  = 0xfeb00000
	virtioMMIOSize  = 0x200
	virtioMMIOSlots = 24
	virtioMagic     = 0x74726976 // "virt"
)

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

// cmdlineVirtioIRQs parses microvm's virtio_mmio.device=<size>@<base>:<irq>
// words of the command line.
func cmdlineVirtioIRQs() map[uint64]int { return virtioMMIOIRQs(commandLine) }

func ioapic2Present() bool {
	return IOAPIC1.Version() != 0xffffffff && IOAPIC1.Entries() > 1
}
