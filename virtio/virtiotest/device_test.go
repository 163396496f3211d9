package virtiotest

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/virtio"
)

var testMAC = [6]byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

func newDevice(cfg Config) *Device {
	if cfg.Region == nil {
		cfg.Region = virtio.NewRegion(0x100000, 1<<16)
	}
	if cfg.MAC == ([6]byte{}) {
		cfg.MAC = testMAC
	}
	return New(cfg)
}

// The identification registers and the configuration space as
// virtio-mmio version 2 and virtio-net lay them out.
func TestRegistersAndConfig(t *testing.T) {
	m := newDevice(Config{Features: 1<<virtio.FeatureVersion1 | 1<<virtio.FeatureNetMAC | 1<<3})
	for _, c := range []struct {
		name string
		off  uint32
		want uint32
	}{
		{"magic", virtio.RegMagic, virtio.MMIOMagic},
		{"version", virtio.RegVersion, 2},
		{"device ID", virtio.RegDeviceID, virtio.DeviceIDNet},
		{"vendor", virtio.RegVendorID, 0x554d4551},
		{"features 0-31", virtio.RegDeviceFeatures, 1<<virtio.FeatureNetMAC | 1<<3},
		{"queue size", virtio.RegQueueNumMax, 256},
		{"status", virtio.RegStatus, 0},
		{"MAC bytes 0-3", virtio.RegConfig + virtio.NetConfigMAC, 0x12005452},
		{"beyond the configuration", virtio.RegConfig + 64, 0},
	} {
		if got := m.Read32(c.off); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
	m.Write32(virtio.RegDeviceFeaturesSel, 1)
	if got := m.Read32(virtio.RegDeviceFeatures); got != 1<<(virtio.FeatureVersion1-32) {
		t.Errorf("features 32-63: %#x", got)
	}
	m.Write32(virtio.RegQueueSel, 2)
	if got := m.Read32(virtio.RegQueueNumMax); got != 0 {
		t.Errorf("queue 2 exists: size %d", got)
	}
	for i, b := range testMAC {
		if got := m.Read8(virtio.RegConfig + virtio.NetConfigMAC + uint32(i)); got != b {
			t.Errorf("MAC byte %d: %#x", i, got)
		}
	}
	if got := m.Read16(virtio.RegConfig + virtio.NetConfigStatus); got != virtio.NetSLinkUp {
		t.Errorf("link status %#x", got)
	}
	gen := m.Read32(virtio.RegConfigGeneration)
	m.SetLink(false)
	if got := m.Read16(virtio.RegConfig + virtio.NetConfigStatus); got != 0 || m.Read32(virtio.RegConfigGeneration) == gen {
		t.Errorf("link down: status %#x, generation unchanged", got)
	}
	if d := newDevice(Config{LinkDown: true}); d.Read16(virtio.RegConfig+virtio.NetConfigStatus) != 0 {
		t.Error("LinkDown device reports the link up")
	}
}

// Feature negotiation: FEATURES_OK sticks only for a subset of what was
// offered that includes VIRTIO_F_VERSION_1 (virtio-mmio version 2 has no
// legacy mode), and features are frozen once it is set.
func TestFeaturesOK(t *testing.T) {
	const v1 = 1 << virtio.FeatureVersion1
	offered := uint64(v1 | 1<<virtio.FeatureNetMAC | 1<<virtio.FeatureNetStatus)
	for _, c := range []struct {
		name   string
		want   uint64
		refuse bool
		ok     bool
	}{
		{"all offered", offered, false, true},
		{"a subset with VERSION_1", v1 | 1<<virtio.FeatureNetMAC, false, true},
		{"without VERSION_1", 1 << virtio.FeatureNetMAC, false, false},
		{"one not offered", offered | 1<<virtio.FeatureNetMrgRxbuf, false, false},
		{"device refuses", v1, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newDevice(Config{Features: offered, RefuseFeatures: c.refuse})
			m.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
			for sel := uint32(0); sel < 2; sel++ {
				m.Write32(virtio.RegDriverFeaturesSel, sel)
				m.Write32(virtio.RegDriverFeatures, uint32(c.want>>(32*sel)))
			}
			m.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
			if got := m.Read32(virtio.RegStatus)&virtio.StatusFeaturesOK != 0; got != c.ok {
				t.Fatalf("FEATURES_OK %v, want %v", got, c.ok)
			}
			if m.DriverFeatures() != c.want {
				t.Fatalf("driver features %#x, want %#x", m.DriverFeatures(), c.want)
			}
			if !c.ok {
				return
			}
			m.Write32(virtio.RegDriverFeaturesSel, 0)
			m.Write32(virtio.RegDriverFeatures, 0)
			if m.DriverFeatures() != c.want {
				t.Fatal("features changed after FEATURES_OK")
			}
			m.Write32(virtio.RegStatus, 0)
			if m.Status() != 0 || m.DriverFeatures() != 0 || m.Stats().Resets != 1 {
				t.Fatalf("after reset: status %#x features %#x resets %d", m.Status(), m.DriverFeatures(), m.Stats().Resets)
			}
		})
	}
}

// Enabling a queue checks what the driver wrote: a size that is zero,
// not a power of two or above QueueNumMax, or a ring outside the region
// or misaligned, is a device error (NEEDS_RESET and a configuration
// interrupt once the driver is running); otherwise the queue is ready.
func TestQueueReady(t *testing.T) {
	const base = 0x100000
	for _, c := range []struct {
		name                 string
		num                  uint32
		desc, driver, device uint64
		ok                   bool
	}{
		{"good", 64, base, base + 0x1000, base + 0x2000, true},
		{"size 0", 0, base, base + 0x1000, base + 0x2000, false},
		{"size not a power of two", 48, base, base + 0x1000, base + 0x2000, false},
		{"size above the maximum", 512, base, base + 0x1000, base + 0x2000, false},
		{"descriptors below the region", 64, base - 16, base + 0x1000, base + 0x2000, false},
		{"used ring ends the region", 64, base, base + 0x1000, base + 0x10000 - (4 + 8*64 + 4), true},
		{"used ring's avail_event past the end", 64, base, base + 0x1000, base + 0x10000 - (4 + 8*64), false},
		{"driver ring misaligned", 64, base, base + 0x1002, base + 0x2000, false},
		{"device ring misaligned", 64, base, base + 0x1000, base + 0x2002, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newDevice(Config{})
			m.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusDriverOK)
			m.Write32(virtio.RegQueueSel, RX)
			m.Write32(virtio.RegQueueNum, c.num)
			for _, r := range []struct {
				lo   uint32
				addr uint64
			}{{virtio.RegQueueDescLow, c.desc}, {virtio.RegQueueDriverLow, c.driver}, {virtio.RegQueueDeviceLow, c.device}} {
				m.Write32(r.lo, uint32(r.addr))
				m.Write32(r.lo+4, uint32(r.addr>>32))
			}
			m.Write32(virtio.RegQueueReady, 1)
			ready := m.Read32(virtio.RegQueueReady) == 1
			broken := m.Status()&virtio.StatusNeedsReset != 0
			if ready != c.ok || broken == c.ok {
				t.Fatalf("ready %v, NEEDS_RESET %v", ready, broken)
			}
			if desc, driver, device, num := m.QueueAddrs(RX); desc != c.desc || driver != c.driver || device != c.device || num != int(c.num) {
				t.Fatalf("queue addresses %#x %#x %#x size %d", desc, driver, device, num)
			}
			isr := m.Read32(virtio.RegInterruptStatus)
			if st := m.Stats(); c.ok != (st.BadDescriptors == 0) || c.ok != (isr&virtio.InterruptConfig == 0) {
				t.Fatalf("bad descriptors %d, interrupt status %#x", st.BadDescriptors, isr)
			}
			m.Write32(virtio.RegInterruptACK, isr)
			if m.Read32(virtio.RegInterruptStatus) != 0 {
				t.Fatal("interrupt not acknowledged")
			}
		})
	}
}
