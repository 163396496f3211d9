package virtio

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Supervisor recovers a broken device. The driver detects a bad used
// ring, a device that reset itself or one that set DEVICE_NEEDS_RESET,
// counts and reports it and stops using the queue (Linux's vq->broken);
// recovering is the owner's job, never the driver callbacks'. Linux
// leaves it to the administrator or to virtio_net's freeze/restore
// (virtnet_freeze_down, virtnet_restore_up); a unikernel has nobody to
// ask, so the Supervisor's goroutine does it: woken by Fault (the
// driver's OnFault) and, for a device that broke without an interrupt,
// by a periodic Check, it resets the device, retrying with a backoff.
// It also reports the receive pool running dry (the ring starves and
// refill_work retries) and its recovery, and new receive errors.
type Supervisor struct {
	cfg  SupervisorConfig
	kick chan struct{}
	stop chan struct{}
	once sync.Once
	done chan struct{}
}

// SupervisorConfig configures a Supervisor.
type SupervisorConfig struct {
	// Every is the Check period; 0 checks only when Fault wakes it.
	Every time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed resets
	// (100 ms and 5 s when 0).
	MinBackoff, MaxBackoff time.Duration
	// Logf receives one line per event; nil discards them.
	Logf func(format string, args ...any)
}

// NewSupervisor returns a Supervisor; its Fault method is meant as the
// device's NetConfig.OnFault, so it exists before the device.
func NewSupervisor(cfg SupervisorConfig) *Supervisor {
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Supervisor{cfg: cfg, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// Fault reports err and wakes the supervisor. It never blocks, so it may
// be the driver's OnFault, called from the interrupt or poll path.
func (s *Supervisor) Fault(err error) {
	s.cfg.Logf("virtio-net: %v", err)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Stop ends Run and waits for it.
func (s *Supervisor) Stop() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// Run supervises d until Stop or until d is closed.
func (s *Supervisor) Run(d *Net) {
	defer close(s.done)
	var tick <-chan time.Time
	if s.cfg.Every > 0 {
		t := time.NewTicker(s.cfg.Every)
		defer t.Stop()
		tick = t.C
	}
	last, lastPool := d.Stats(), d.cfg.RxPool.Stats()
	starved := false
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-tick:
		}
		err := d.Check()
		if errors.Is(err, ErrClosed) {
			return
		}
		if err != nil && !s.recover(d, err) {
			return
		}
		st, ps := d.Stats(), d.cfg.RxPool.Stats()
		switch {
		case !starved && ps.Exhausted > lastPool.Exhausted:
			starved = true
			s.cfg.Logf("virtio-net: frame pool exhausted: %d failed allocations (%s), rx ring posted %d/%d, refill_runs %d",
				ps.Exhausted-lastPool.Exhausted, poolUse(d.cfg.RxPool, ps), st.RX.Posted, st.RX.Size, st.RefillRuns)
		case starved && ps.Exhausted == lastPool.Exhausted && st.RefillRuns == last.RefillRuns && st.RX.Posted > 0:
			starved = false
			s.cfg.Logf("virtio-net: frame pool recovered: %s, rx ring posted %d/%d, refill_runs %d",
				poolUse(d.cfg.RxPool, ps), st.RX.Posted, st.RX.Size, st.RefillRuns)
		}
		if n := rxErrors(st) - rxErrors(last); n > 0 {
			s.cfg.Logf("virtio-net: %d receive errors: rx_length_errors %d rx_frame_errors %d drops %d (of them by XDP %d) xdp_exceptions %d",
				n, st.RxLengthErrors, st.RxFrameErrors, st.RX.Drops, st.RX.XDPDrops, st.XDPExceptions)
		}
		last, lastPool = st, ps
	}
}

// poolUse describes how much of a pool is in use: of its buffers, or of
// the arena it draws on.
func poolUse(p *skb.Pool, s skb.PoolStats) string {
	if a := p.Arena(); a != nil {
		as := a.Stats()
		return fmt.Sprintf("in use %d, arena %d of %d bytes", s.InUse, as.InUse, as.Size)
	}
	return fmt.Sprintf("in use %d of %d", s.InUse, s.Count)
}

// rxErrors counts what went wrong on receive: length and frame errors,
// drops, and program errors (XDP exceptions), but not the frames an XDP
// program chose to drop, which are its verdicts (a flood it filters).
func rxErrors(st Stats) uint64 {
	return st.RxLengthErrors + st.RxFrameErrors + st.RX.Drops - st.RX.XDPDrops + st.XDPExceptions
}

// recover resets d until it works again, backing off between failed
// attempts. It returns false if d was closed or Stop was called.
func (s *Supervisor) recover(d *Net, cause error) bool {
	s.cfg.Logf("virtio-net: supervisor: resetting the device after: %v", cause)
	backoff := s.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		err := d.Reset()
		if err == nil {
			break
		}
		if errors.Is(err, ErrClosed) {
			return false
		}
		s.cfg.Logf("virtio-net: supervisor: reset attempt %d failed: %v; retrying in %v", attempt, err, backoff)
		select {
		case <-s.stop:
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
	st, ps := d.Stats(), d.cfg.RxPool.Stats()
	link := "down"
	if st.LinkUp {
		link = "up"
	}
	s.cfg.Logf("virtio-net: supervisor: device reset (resets %d): link %s, rx ring posted %d/%d, frames in use %d of %d",
		st.Resets, link, st.RX.Posted, st.RX.Size, ps.InUse, ps.Count)
	return true
}
