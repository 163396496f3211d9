package virtio

import (
	"errors"
	"fmt"
)

// FaultKind classifies device misbehaviour.
type FaultKind uint8

// Device faults. All but FaultUsedLen break the device until Reset; a used
// length beyond the buffer only drops that frame, as Linux's
// receive_mergeable does.
const (
	// FaultUsedID: a used entry's id is not a descriptor index ("id %u
	// out of range").
	FaultUsedID FaultKind = iota
	// FaultUsedUnposted: a used entry names a descriptor the driver never
	// posted ("id %u is not a head!").
	FaultUsedUnposted
	// FaultUsedDuplicate: a used entry names a descriptor already
	// returned and not posted again (the same id twice).
	FaultUsedDuplicate
	// FaultUsedLen: a used length larger than the buffer posted.
	FaultUsedLen
	// FaultUsedIdx: used->idx moved further than the buffers in flight.
	FaultUsedIdx
	// FaultDeviceReset: the device dropped DRIVER_OK (it reset under us).
	FaultDeviceReset
	// FaultNeedsReset: the device set DEVICE_NEEDS_RESET.
	FaultNeedsReset
	// NumFaultKinds is the number of kinds.
	NumFaultKinds
)

var faultNames = [NumFaultKinds]string{
	"used_id_range", "used_unposted", "used_duplicate", "used_len",
	"used_idx_jump", "device_reset", "needs_reset",
}

// String names the kind as the Stats output does.
func (k FaultKind) String() string {
	if k < NumFaultKinds {
		return faultNames[k]
	}
	return fmt.Sprintf("fault(%d)", uint8(k))
}

// Fatal reports whether a fault of this kind stops the device until Reset.
func (k FaultKind) Fatal() bool { return k != FaultUsedLen }

// Fault is a device misbehaviour the driver detected. It is an error.
type Fault struct {
	Kind  FaultKind
	Queue string // "rx", "tx" or "" for the device
	// ID and Len are the used entry's fields; Idx is the used index it was
	// read at (or the bad used->idx for FaultUsedIdx, with Last the
	// driver's last_used_idx and Outstanding the buffers in flight).
	ID, Len     uint32
	Idx, Last   uint16
	Outstanding uint16
	Posted      uint32 // buffer length posted (FaultUsedLen)
	Status      uint8  // device status (FaultDeviceReset, FaultNeedsReset)
}

// ErrLegacy is returned for a virtio-mmio version 1 (legacy) transport.
var ErrLegacy = errors.New("virtio: legacy virtio-mmio (version 1) device: only version 2 is supported")

// Error describes the fault like Linux's BAD_RING messages.
func (f *Fault) Error() string {
	switch f.Kind {
	case FaultUsedID:
		return fmt.Sprintf("virtio: %s: used id %d out of range (at used index %d)", f.Queue, f.ID, f.Idx)
	case FaultUsedUnposted:
		return fmt.Sprintf("virtio: %s: used id %d was never posted (at used index %d)", f.Queue, f.ID, f.Idx)
	case FaultUsedDuplicate:
		return fmt.Sprintf("virtio: %s: used id %d is not in flight: returned twice (at used index %d)", f.Queue, f.ID, f.Idx)
	case FaultUsedLen:
		return fmt.Sprintf("virtio: %s: used length %d exceeds the %d-byte buffer (id %d)", f.Queue, f.Len, f.Posted, f.ID)
	case FaultUsedIdx:
		return fmt.Sprintf("virtio: %s: used index jumped from %d to %d with %d buffers in flight", f.Queue, f.Last, f.Idx, f.Outstanding)
	case FaultDeviceReset:
		return fmt.Sprintf("virtio: device reset itself (status %#x)", f.Status)
	case FaultNeedsReset:
		return fmt.Sprintf("virtio: device needs reset (status %#x)", f.Status)
	}
	return "virtio: device fault " + f.Kind.String()
}
