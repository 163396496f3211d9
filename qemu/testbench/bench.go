package testbench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// maxCaptured bounds the frames kept for Next; beyond it the oldest are
// dropped and counted.
const maxCaptured = 1 << 16

// Bench is the tester's end of a guest's datagram backend: every UDP
// datagram on its socket is one Ethernet frame.
type Bench struct {
	// MAC is the bench's Ethernet address (the tester "T").
	MAC MAC
	// GuestMAC and GuestIP address the guest.
	GuestMAC MAC
	GuestIP  netip.Addr

	conn  *net.UDPConn
	guest *net.UDPAddr

	mu sync.Mutex
	// +checklocks:mu
	frames []Parsed
	// +checklocks:mu
	dropped int
	// +checklocks:mu
	notify chan struct{}
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	sink func(Parsed) bool
	// +checklocks:mu
	arpFor func(netip.Addr) bool
	// +checklocks:mu
	arpAsked map[netip.Addr]int
	// +checklocks:mu
	sent uint64
	// +checklocks:mu
	received uint64
}

// Listen opens a bench on 127.0.0.1 and returns it with the backend to
// give the guest's qemu.Config.
func Listen(guestMAC MAC, guestIP netip.Addr) (*Bench, qemu.DgramNet, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, qemu.DgramNet{}, err
	}
	conn.SetReadBuffer(8 << 20)
	conn.SetWriteBuffer(8 << 20)
	// QEMU binds the guest side itself; find a port that is free now.
	probe, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		conn.Close()
		return nil, qemu.DgramNet{}, err
	}
	gport := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	b := &Bench{
		MAC:      MAC{0x02, 0x00, 0x00, 0x00, 0x00, 0x09},
		GuestMAC: guestMAC,
		GuestIP:  guestIP,
		conn:     conn,
		guest:    &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: gport},
		notify:   make(chan struct{}),
		arpAsked: map[netip.Addr]int{},
	}
	// By default the bench owns every address but the guest's: any
	// source the tests use resolves.
	b.arpFor = func(a netip.Addr) bool { return a != guestIP }
	go b.read()
	return b, qemu.DgramNet{GuestSide: gport, BenchSide: conn.LocalAddr().(*net.UDPAddr).Port}, nil
}

// Close closes the bench's socket.
func (b *Bench) Close() error { return b.conn.Close() }

// AnswerARPFor sets which addresses the bench answers the guest's ARP
// requests for.
func (b *Bench) AnswerARPFor(f func(netip.Addr) bool) {
	b.mu.Lock()
	b.arpFor = f
	b.mu.Unlock()
}

// ARPRequests returns how many ARP requests the guest sent for a.
func (b *Bench) ARPRequests(a netip.Addr) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.arpAsked[a]
}

// Inject sends one raw frame to the guest.
func (b *Bench) Inject(frame []byte) error {
	_, err := b.conn.WriteToUDP(frame, b.guest)
	if err == nil {
		b.mu.Lock()
		b.sent++
		b.mu.Unlock()
	}
	return err
}

// InjectIP sends an IPv4 packet to the guest in a frame from the bench's
// MAC to the guest's.
func (b *Bench) InjectIP(p IPv4) error {
	return b.Inject(Ether(b.GuestMAC, b.MAC, 0x0800, -1, p.Bytes()))
}

// SendUDP sends a UDP datagram from src to the guest's port dst.
func (b *Bench) SendUDP(src netip.AddrPort, dst uint16, payload []byte) error {
	u := UDP{Src: src, Dst: netip.AddrPortFrom(b.GuestIP, dst), Payload: payload}
	return b.InjectIP(u.Packet())
}

func (b *Bench) read() {
	buf := make([]byte, 70000)
	for {
		n, _, err := b.conn.ReadFromUDP(buf)
		if err != nil {
			b.mu.Lock()
			b.closed = true
			close(b.notify)
			b.mu.Unlock()
			return
		}
		f := append([]byte(nil), buf[:n]...)
		p := Parse(f)
		b.mu.Lock()
		b.received++
		if p.EtherType == 0x0806 && p.ARPOp == ARPRequest {
			b.arpAsked[p.ARPTargetIP]++
			if b.arpFor(p.ARPTargetIP) {
				reply := Ether(p.ARPSender, b.MAC, 0x0806, -1,
					ARP(ARPReply, b.MAC, p.ARPTargetIP, p.ARPSender, p.ARPSenderIP))
				b.mu.Unlock()
				b.Inject(reply)
				b.mu.Lock()
			}
		}
		if b.sink != nil && b.sink(p) {
			b.mu.Unlock()
			continue
		}
		if len(b.frames) == maxCaptured {
			b.frames = b.frames[1:]
			b.dropped++
		}
		b.frames = append(b.frames, p)
		close(b.notify)
		b.notify = make(chan struct{})
		b.mu.Unlock()
	}
}

// ErrTimeout is returned when no matching frame arrived in time.
var ErrTimeout = errors.New("testbench: no matching frame")

// Next removes and returns the first captured frame that matches, waiting
// up to timeout for one to arrive.
func (b *Bench) Next(match func(Parsed) bool, timeout time.Duration) (Parsed, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		for i, p := range b.frames {
			if match(p) {
				b.frames = append(b.frames[:i], b.frames[i+1:]...)
				b.mu.Unlock()
				return p, nil
			}
		}
		ch, closed := b.notify, b.closed
		b.mu.Unlock()
		if closed {
			return Parsed{}, errors.New("testbench: closed")
		}
		select {
		case <-ch:
		case <-deadline.C:
			return Parsed{}, fmt.Errorf("%w within %v", ErrTimeout, timeout)
		}
	}
}

// Count waits for wait and then removes and counts the captured frames
// that match: how a test checks that something was (or was not) sent.
func (b *Bench) Count(match func(Parsed) bool, wait time.Duration) int {
	time.Sleep(wait)
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	kept := b.frames[:0]
	for _, p := range b.frames {
		if match(p) {
			n++
		} else {
			kept = append(kept, p)
		}
	}
	b.frames = kept
	return n
}

// Drain forgets every captured frame.
func (b *Bench) Drain() {
	b.mu.Lock()
	b.frames = nil
	b.mu.Unlock()
}

// SetSink routes frames to f before capture; frames for which f returns
// true are not captured. Load generators use it. nil removes it.
func (b *Bench) SetSink(f func(Parsed) bool) {
	b.mu.Lock()
	b.sink = f
	b.mu.Unlock()
}

// Counts returns frames sent to and received from the guest, and frames
// dropped from the capture because it was full.
func (b *Bench) Counts() (sent, received uint64, dropped int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sent, b.received, b.dropped
}
