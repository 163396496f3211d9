package testbench

import "fmt"

// FrameCounts is the bench's side of a frame accounting at one instant:
// every frame the bench sent (Sent) was received by the guest's driver,
// waits in QEMU's socket (Backend.RxQueue), was dropped there by the host
// kernel (Backend.Drops), or was dropped by QEMU itself while the link
// was down.
type FrameCounts struct {
	Sent, Received uint64
	// ARPAnswered is the guest's ARP requests the bench answered: each
	// answer is a frame the bench sent that is not IPv4.
	ARPAnswered int
	Backend     HostSocket // QEMU's socket
	Bench       HostSocket // the bench's socket (frames from the guest)
}

// FrameCounts reads the bench's counters and both host sockets.
func (b *Bench) FrameCounts() (FrameCounts, error) {
	var c FrameCounts
	var err error
	if c.Backend, err = b.BackendSocket(); err != nil {
		return c, fmt.Errorf("backend socket: %w", err)
	}
	if c.Bench, err = b.BenchSocket(); err != nil {
		return c, fmt.Errorf("bench socket: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c.Sent, c.Received = b.sent, b.received
	for a, n := range b.arpAsked {
		if b.arpFor(a) {
			c.ARPAnswered += n
		}
	}
	return c, nil
}
