package board

import (
	"maps"
	"testing"
)

// The virtio_mmio.device= words QEMU's microvm appends to the command
// line give each transport's interrupt; anything malformed is skipped.
func TestVirtioMMIOIRQs(t *testing.T) {
	for _, c := range []struct {
		name    string
		cmdline string
		want    map[uint64]int
	}{
		{"none", "console=ttyS0 kaidoku.addr=10.0.2.15/24", map[uint64]int{}},
		{"microvm's two devices", "earlyprintk=ttyS0 -- virtio_mmio.device=512@0xfeb00e00:12 virtio_mmio.device=512@0xfeb00c00:11",
			map[uint64]int{0xfeb00e00: 12, 0xfeb00c00: 11}},
		{"decimal base", "virtio_mmio.device=512@4273999360:5", map[uint64]int{4273999360: 5}},
		{"size with a suffix", "virtio_mmio.device=4K@0xd0000000:7", map[uint64]int{0xd0000000: 7}},
		{"the last word for a base wins", "virtio_mmio.device=512@0x1000:3 virtio_mmio.device=512@0x1000:4", map[uint64]int{0x1000: 4}},
		{"no @", "virtio_mmio.device=512:5", map[uint64]int{}},
		{"no irq", "virtio_mmio.device=512@0x1000", map[uint64]int{}},
		{"bad base", "virtio_mmio.device=512@0xzz:5", map[uint64]int{}},
		{"bad irq", "virtio_mmio.device=512@0x1000:five", map[uint64]int{}},
		{"another parameter", "virtio_mmio.devices=512@0x1000:5 xvirtio_mmio.device=512@0x2000:6", map[uint64]int{}},
	} {
		if got := virtioMMIOIRQs(c.cmdline); !maps.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestVirtioSlotString(t *testing.T) {
	for _, c := range []struct {
		s    VirtioSlot
		want string
	}{
		{VirtioSlot{Slot: 23, Base: 0xfeb02e00, Version: 2, DeviceID: 1, VendorID: 0x554d4551, GSI: 47},
			"virtio-mmio slot 23 at 0xfeb02e00: device 1 (net), version 2, vendor 0x554d4551, GSI 47"},
		{VirtioSlot{Slot: 0, Base: 0xfeb00000, Version: 1, DeviceID: 4, GSI: 5},
			"virtio-mmio slot 0 at 0xfeb00000: device 4 (rng), version 1, vendor 0x0, GSI 5"},
		{VirtioSlot{DeviceID: 2}, "virtio-mmio slot 0 at 0x0: device 2 (block), version 0, vendor 0x0, GSI 0"},
		{VirtioSlot{DeviceID: 3}, "virtio-mmio slot 0 at 0x0: device 3 (console), version 0, vendor 0x0, GSI 0"},
		{VirtioSlot{DeviceID: 26}, "virtio-mmio slot 0 at 0x0: device 26 (other), version 0, vendor 0x0, GSI 0"},
	} {
		if got := c.s.String(); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

func TestMHz(t *testing.T) {
	for hz, want := range map[uint64]string{0: "0.000", 1000: "0.001", 2_899_999_000: "2899.999", 3_000_000_499: "3000.000", 1_193_182: "1.193"} {
		if got := mhz(hz); got != want {
			t.Errorf("mhz(%d) = %s, want %s", hz, got, want)
		}
	}
}
