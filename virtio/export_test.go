package virtio

// NewNetAt is NewNet with both rings' indices starting at start instead
// of 0, for wrap-around tests; the device model must be configured with
// the same StartIdx.
func NewNetAt(regs Registers, mem Memory, cfg NetConfig, start uint16) (*Net, error) {
	return newNet(regs, mem, cfg, start)
}
