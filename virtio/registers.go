package virtio

// Registers is a device's register window as the virtio-mmio transport
// sees it: real MMIO in the image (board.MMIO), a device model in host
// tests. Offsets are from the transport's base (virtio spec 4.2.2); the
// device-specific configuration space starts at 0x100.
type Registers interface {
	Read32(off uint32) uint32
	Write32(off uint32, v uint32)
	Read16(off uint32) uint16
	Read8(off uint32) uint8
	Write8(off uint32, v uint8)
}
