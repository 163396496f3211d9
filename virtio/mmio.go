package virtio

import (
	"errors"
	"fmt"
)

// mmio is the virtio-mmio transport of drivers/virtio/virtio_mmio.c,
// modern (version 2) only.
type mmio struct {
	regs    Registers
	version uint32
}

// vmProbe is virtio_mmio_probe's register checks: magic, version, and a
// device behind the transport.
func vmProbe(regs Registers) (*mmio, uint32, error) {
	if m := regs.Read32(RegMagic); m != MMIOMagic {
		return nil, 0, fmt.Errorf("virtio: wrong magic value %#x", m)
	}
	t := &mmio{regs: regs, version: regs.Read32(RegVersion)}
	switch t.version {
	case 2:
	case 1:
		return nil, 0, ErrLegacy
	default:
		return nil, 0, fmt.Errorf("virtio: version %d not supported", t.version)
	}
	id := regs.Read32(RegDeviceID)
	if id == 0 {
		return nil, 0, errors.New("virtio: no device behind the transport")
	}
	return t, id, nil
}

func (t *mmio) getStatus() uint8 { return uint8(t.regs.Read32(RegStatus)) }

// setStatus is vm_set_status; status 0 is a reset.
func (t *mmio) setStatus(s uint8) { t.regs.Write32(RegStatus, uint32(s)) }

// addStatus is virtio_add_status.
func (t *mmio) addStatus(s uint8) { t.setStatus(t.getStatus() | s) }

// reset is vm_reset. The spec asks the driver to wait for status to read
// back 0; QEMU resets synchronously, so this is at most a few reads.
func (t *mmio) reset() error {
	t.setStatus(0)
	for i := 0; i < 1000; i++ {
		if t.getStatus() == 0 {
			return nil
		}
	}
	return errors.New("virtio: device did not reset")
}

// getFeatures is vm_get_features.
func (t *mmio) getFeatures() uint64 {
	t.regs.Write32(RegDeviceFeaturesSel, 1)
	f := uint64(t.regs.Read32(RegDeviceFeatures)) << 32
	t.regs.Write32(RegDeviceFeaturesSel, 0)
	return f | uint64(t.regs.Read32(RegDeviceFeatures))
}

// finalizeFeatures is vm_finalize_features.
func (t *mmio) finalizeFeatures(f uint64) {
	t.regs.Write32(RegDriverFeaturesSel, 1)
	t.regs.Write32(RegDriverFeatures, uint32(f>>32))
	t.regs.Write32(RegDriverFeaturesSel, 0)
	t.regs.Write32(RegDriverFeatures, uint32(f))
}

// queueNumMax is the first half of vm_setup_vq: select the queue, check it
// is not live, and read its maximum size.
func (t *mmio) queueNumMax(index uint16) (int, error) {
	t.regs.Write32(RegQueueSel, uint32(index))
	if t.regs.Read32(RegQueueReady) != 0 {
		return 0, fmt.Errorf("virtio: queue %d already set up", index)
	}
	n := t.regs.Read32(RegQueueNumMax)
	if n == 0 {
		return 0, fmt.Errorf("virtio: queue %d not available", index)
	}
	return int(n), nil
}

// activateQueue is the second half of vm_setup_vq: tell the device the
// ring's size and addresses and make it live.
func (t *mmio) activateQueue(vq *virtqueue) {
	r := t.regs
	r.Write32(RegQueueSel, uint32(vq.index))
	r.Write32(RegQueueNum, uint32(vq.num))
	r.Write32(RegQueueDescLow, uint32(vq.descAddr))
	r.Write32(RegQueueDescHigh, uint32(vq.descAddr>>32))
	r.Write32(RegQueueDriverLow, uint32(vq.availAddr))
	r.Write32(RegQueueDriverHigh, uint32(vq.availAddr>>32))
	r.Write32(RegQueueDeviceLow, uint32(vq.usedAddr))
	r.Write32(RegQueueDeviceHigh, uint32(vq.usedAddr>>32))
	r.Write32(RegQueueReady, 1)
}

// notify is vm_notify.
func (t *mmio) notify(index uint16) { t.regs.Write32(RegQueueNotify, uint32(index)) }

// generation is vm_generation.
func (t *mmio) generation() uint32 { return t.regs.Read32(RegConfigGeneration) }

// configBytes reads n bytes of configuration space at off, byte by byte,
// retrying while the generation moves (virtio_cread_bytes).
func (t *mmio) configBytes(off uint32, dst []byte) bool {
	for try := 0; try < 100; try++ {
		g := t.generation()
		for i := range dst {
			dst[i] = t.regs.Read8(RegConfig + off + uint32(i))
		}
		if t.generation() == g {
			return true
		}
	}
	return false
}

// config16 reads a le16 configuration field (virtio_cread16).
func (t *mmio) config16(off uint32) (uint16, bool) {
	for try := 0; try < 100; try++ {
		g := t.generation()
		v := t.regs.Read16(RegConfig + off)
		if t.generation() == g {
			return v, true
		}
	}
	return 0, false
}
