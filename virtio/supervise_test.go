package virtio_test

// The Supervisor against the device model: woken by OnFault, and by a
// periodic Check for a device that broke without an interrupt, it resets
// the device while traffic flows in both directions. QEMU cannot be made
// to set DEVICE_NEEDS_RESET or reset its device from the outside, so
// this is where that path is tested.

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/irq"
	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
	"github.com/kaidoku-net/kaidoku/virtio/virtiotest"
	"github.com/kaidoku-net/kaidoku/xdp"
)

// supervised is a device wired as the image wires it, with the
// supervisor running.
type supervised struct {
	t         *testing.T
	dev       *virtiotest.Device
	net       *virtio.Net
	rx        *skb.Pool
	tx        *skb.Pool
	sup       *virtio.Supervisor
	delivered atomic.Int64
	faults    atomic.Int64
	callbackG atomic.Int64 // OnFault calls that returned
	logMu     sync.Mutex
	log       []string
	heldMu    sync.Mutex
	// +checklocks:heldMu
	hold bool // Deliver keeps buffers, as a paused reader's socket
	// +checklocks:heldMu
	held []*skb.Buffer
}

// release frees the held buffers and stops holding.
func (s *supervised) release() {
	s.heldMu.Lock()
	defer s.heldMu.Unlock()
	for _, b := range s.held {
		b.Free()
	}
	s.held, s.hold = nil, false
}

func newSupervised(t *testing.T, every time.Duration) *supervised {
	t.Helper()
	region := virtio.NewRegion(0x4000_0000, 64<<20)
	s := &supervised{t: t}
	s.sup = virtio.NewSupervisor(virtio.SupervisorConfig{Every: every, MinBackoff: time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Logf: func(format string, args ...any) {
			s.logMu.Lock()
			s.log = append(s.log, fmt.Sprintf(format, args...))
			s.logMu.Unlock()
		}})
	var err error
	if s.rx, err = skb.NewPool("rx", 2048, 128, virtio.PoolMemory(region)); err != nil {
		t.Fatal(err)
	}
	if s.tx, err = skb.NewPool("tx", 2048, 256, virtio.PoolMemory(region)); err != nil {
		t.Fatal(err)
	}
	s.dev = virtiotest.New(virtiotest.Config{Region: region, MAC: devMAC, QueueNumMax: 64, RxQueueLimit: 64,
		OnTX: func([]byte) {}})
	table := &irq.Table{}
	sn := napi.NewSoftnet(napi.Config{})
	s.net, err = virtio.NewNet(s.dev, region, virtio.NetConfig{
		RxPool: s.rx, Ifindex: 2, Softnet: sn, TxQueueLen: 100000, RefillRetry: 5 * time.Millisecond,
		Deliver: func(b *skb.Buffer) {
			s.delivered.Add(1)
			s.heldMu.Lock()
			defer s.heldMu.Unlock()
			if s.hold {
				s.held = append(s.held, b)
				return
			}
			b.Free()
		},
		OnFault: func(err error) {
			s.faults.Add(1)
			s.sup.Fault(err)
			s.callbackG.Add(1)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	line := irq.NewLine(table, testVector, nil)
	s.dev.SetLine(line)
	if err := table.Register(testVector, "virtio-net", s.net.Interrupt); err != nil {
		t.Fatal(err)
	}
	go sn.Run()
	go s.sup.Run(s.net)
	t.Cleanup(func() {
		s.sup.Stop()
		s.net.Close()
		line.Close()
		sn.Stop()
		for _, p := range []*skb.Pool{s.rx, s.tx} {
			if st := p.Stats(); st.InUse != 0 || st.DoubleFree != 0 {
				t.Errorf("pool %s: %d in use after Close, %d double frees", p.Name(), st.InUse, st.DoubleFree)
			}
		}
	})
	return s
}

// resets returns how many times the device was reset.
func (s *supervised) resets() uint64 { return s.net.Stats().Resets }

// logged reports whether the supervisor logged a line containing text.
func (s *supervised) logged(text string) bool {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	for _, l := range s.log {
		if strings.Contains(l, text) {
			return true
		}
	}
	return false
}

// traffic injects frames and transmits until stopped.
func (s *supervised) traffic() (stop func() (injected, transmitted int)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var in, out int
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if s.dev.Inject(frame(i, 64), virtiotest.RxOptions{}) {
				in++
			}
			time.Sleep(20 * time.Microsecond)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			b := s.tx.Get()
			if b == nil {
				time.Sleep(time.Millisecond)
				continue
			}
			b.Reserve(s.net.Headroom())
			copy(b.Put(64), frame(i, 64))
			if s.net.Transmit(b) == nil {
				out++
			}
			time.Sleep(20 * time.Microsecond)
		}
	}()
	return func() (int, int) {
		close(done)
		wg.Wait()
		return in, out
	}
}

// flowing waits until frames are delivered again.
func (s *supervised) flowing(what string) {
	s.t.Helper()
	base := s.delivered.Load()
	waitUntil(s.t, what, func() bool { return s.delivered.Load() > base+20 })
}

// settled checks the buffer accounting once traffic has stopped: the
// receive pool holds what the ring holds, the transmit pool nothing.
func (s *supervised) settled() {
	s.t.Helper()
	waitUntil(s.t, "tx reclaimed", func() bool { return s.tx.InUse() == 0 })
	waitUntil(s.t, "rx accounted", func() bool { return s.rx.InUse() == s.net.Stats().RX.Posted })
	for _, p := range []*skb.Pool{s.rx, s.tx} {
		if st := p.Stats(); st.DoubleFree != 0 {
			s.t.Fatalf("pool %s: %d double frees", p.Name(), st.DoubleFree)
		}
	}
}

// DEVICE_NEEDS_RESET, three times under traffic: each time the driver
// reports it, the supervisor (woken by OnFault) resets the device, and
// traffic resumes; no buffer is lost.
func TestSupervisorNeedsResetUnderTraffic(t *testing.T) {
	s := newSupervised(t, 0) // no periodic check: OnFault alone
	stop := s.traffic()
	s.flowing("first frames")
	for i := 1; i <= 3; i++ {
		s.dev.NeedsReset()
		waitUntil(t, "the supervisor's reset", func() bool { return s.resets() == uint64(i) })
		if err := s.net.Err(); err != nil {
			t.Fatalf("reset %d: Err() = %v", i, err)
		}
		s.flowing("frames after the reset")
	}
	in, out := stop()
	s.settled()
	st := s.net.Stats()
	if st.Faults[virtio.FaultNeedsReset] != 3 || st.Resets != 3 || s.faults.Load() != 3 || s.callbackG.Load() != 3 {
		t.Fatalf("faults %d (callbacks %d, returned %d), resets %d:\n%s", st.Faults[virtio.FaultNeedsReset], s.faults.Load(), s.callbackG.Load(), st.Resets, st)
	}
	for _, line := range []string{"device needs reset", "resetting the device after", "device reset (resets 3)"} {
		if !s.logged(line) {
			t.Errorf("supervisor never logged %q: %q", line, s.log)
		}
	}
	t.Logf("injected %d, delivered %d, transmitted %d, device stats %+v", in, s.delivered.Load(), out, s.dev.Stats())
}

// A device that resets itself without an interrupt is found by the
// periodic Check alone.
func TestSupervisorCheckFindsSilentReset(t *testing.T) {
	s := newSupervised(t, 5*time.Millisecond)
	stop := s.traffic()
	s.flowing("first frames")
	s.dev.ResetMidFlight(false)
	waitUntil(t, "the supervisor's reset", func() bool { return s.resets() == 1 })
	s.flowing("frames after the reset")
	stop()
	s.settled()
	if st := s.net.Stats(); st.Faults[virtio.FaultDeviceReset] != 1 || st.Resets != 1 {
		t.Fatalf("%s", st)
	}
}

// A broken used ring under traffic (used->idx jumps): detected, reported
// through
// OnFault from the softnet goroutine, and reset by the supervisor.
func TestSupervisorRingFaultUnderTraffic(t *testing.T) {
	s := newSupervised(t, 0)
	stop := s.traffic()
	s.flowing("first frames")
	s.dev.Misbehave(virtiotest.Misbehaviour{Queue: virtiotest.RX, Kind: virtiotest.UsedIdxJump, Value: 7})
	waitUntil(t, "the supervisor's reset", func() bool { return s.resets() == 1 })
	s.flowing("frames after the reset")
	stop()
	s.settled()
	// With buffers in flight the jump makes the driver read stale used
	// entries; it stops at the first it can tell is wrong (an id not in
	// flight, or an index beyond the buffers in flight).
	st := s.net.Stats()
	if st.Faults[virtio.FaultUsedIdx]+st.Faults[virtio.FaultUsedDuplicate]+st.Faults[virtio.FaultUsedUnposted] == 0 || st.Resets != 1 {
		t.Fatalf("%s", st)
	}
	t.Logf("detected as: %v", s.net.LastFault())
}

// The receive pool runs dry while the consumer holds every buffer: the
// supervisor reports the starvation once, and the recovery once the
// buffers come back and refill_work has filled the ring again.
func TestSupervisorReportsPoolStarvation(t *testing.T) {
	s := newSupervised(t, 2*time.Millisecond)
	s.heldMu.Lock()
	s.hold = true
	s.heldMu.Unlock()
	for i := 0; s.rx.Stats().Exhausted == 0; i++ {
		if i > 10*s.rx.Stats().Count {
			t.Fatalf("the pool never ran dry: %+v", s.rx.Stats())
		}
		s.dev.Inject(frame(i, 64), virtiotest.RxOptions{})
		time.Sleep(50 * time.Microsecond)
	}
	waitUntil(t, "the starvation report", func() bool { return s.logged("frame pool exhausted") })
	s.release()
	waitUntil(t, "the recovery report", func() bool { return s.logged("frame pool recovered") })
	stop := s.traffic()
	s.flowing("frames after the recovery")
	stop()
	s.settled()
	if st := s.net.Stats(); st.RefillRuns == 0 || st.Resets != 0 {
		t.Fatalf("refill_work runs %d, resets %d, want >0 and 0", st.RefillRuns, st.Resets)
	}
}

// Frames an XDP program drops are its verdicts, not receive errors: the
// supervisor reports a drop the driver made and an XDP_ABORTED, not
// XDP_DROP.
func TestSupervisorXDPDropsAreNotErrors(t *testing.T) {
	s := newSupervised(t, time.Millisecond)
	var abort atomic.Bool
	s.net.SetXDP(func(b *xdp.Buff) xdp.Action {
		if abort.Load() {
			return xdp.Aborted
		}
		return xdp.Drop
	})
	for i := 0; i < 20; i++ {
		s.dev.Inject(frame(i, 64), virtiotest.RxOptions{})
	}
	waitUntil(t, "drops", func() bool { return s.net.Stats().RX.XDPDrops == 20 })
	time.Sleep(20 * time.Millisecond) // several supervisor rounds
	if s.logged("receive errors") {
		t.Fatal("XDP_DROP reported as receive errors")
	}
	abort.Store(true)
	s.dev.Inject(frame(20, 64), virtiotest.RxOptions{})
	waitUntil(t, "the XDP_ABORTED report", func() bool { return s.logged("receive errors") })
}
