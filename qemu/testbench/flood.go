package testbench

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// FloodConfig describes a flood of UDP datagrams into the guest, each
// carrying its sequence number (from StartSeq, big endian) in its first 8
// bytes, with no UDP checksum so that a datagram costs the bench one
// write.
type FloodConfig struct {
	Src  netip.AddrPort
	Port uint16 // guest port
	Size int    // payload bytes (at least 8)
	// Count stops the flood after that many datagrams (0: until Stop or
	// Duration).
	Count    uint64
	Duration time.Duration
	// Rate caps the datagrams per second (0: no cap).
	Rate int
	// Backlog, if positive, holds the flood while QEMU's socket has more
	// than that many bytes queued (host truesize): the bench then offers
	// datagrams as fast as QEMU's datagram backend takes them, without
	// overflowing its socket. 0 sends blindly (the host kernel drops what
	// QEMU does not read in time, and BackendSocket counts it).
	Backlog  int64
	StartSeq uint64 // first sequence number (1 when 0)
}

// Flood is a running flood.
type Flood struct {
	b       *Bench
	cfg     FloodConfig
	sent    atomic.Uint64
	holds   atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	start   time.Time
	end     time.Time
	errors  atomic.Uint64
	backlog atomic.Int64
}

// SetBacklog changes FloodConfig.Backlog while the flood runs.
func (f *Flood) SetBacklog(n int64) { f.backlog.Store(n) }

// FloodResult summarises a flood.
type FloodResult struct {
	Sent     uint64        // datagrams written to QEMU's socket
	Holds    uint64        // times the flood waited for QEMU to read its backlog
	Errors   uint64        // failed writes (not sent)
	Duration time.Duration // first to last write
	FirstSeq uint64
}

// PPS returns the datagrams offered per second.
func (r FloodResult) PPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Duration.Seconds()
}

// StartFlood starts a flood in the background.
func (b *Bench) StartFlood(cfg FloodConfig) *Flood {
	if cfg.Size < 8 {
		cfg.Size = 8
	}
	if cfg.StartSeq == 0 {
		cfg.StartSeq = 1
	}
	f := &Flood{b: b, cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	f.backlog.Store(cfg.Backlog)
	go f.run()
	return f
}

// Sent returns the datagrams sent so far.
func (f *Flood) Sent() uint64 { return f.sent.Load() }

// Stop ends the flood and waits for it.
func (f *Flood) Stop() FloodResult {
	f.once.Do(func() { close(f.stop) })
	return f.Wait()
}

// Wait waits for the flood to end (Count or Duration) and returns its
// result.
func (f *Flood) Wait() FloodResult {
	<-f.done
	return FloodResult{Sent: f.sent.Load(), Holds: f.holds.Load(), Errors: f.errors.Load(),
		Duration: f.end.Sub(f.start), FirstSeq: f.cfg.StartSeq}
}

// Done is closed when the flood has ended.
func (f *Flood) Done() <-chan struct{} { return f.done }

func (f *Flood) run() {
	defer close(f.done)
	b, cfg := f.b, f.cfg
	u := UDP{Src: cfg.Src, Dst: netip.AddrPortFrom(b.GuestIP, cfg.Port), Payload: make([]byte, cfg.Size), ZeroChecksum: true}
	frame := Ether(b.GuestMAC, b.MAC, 0x0800, -1, u.Packet().Bytes())
	const seqAt = 14 + 20 + 8
	seq := cfg.StartSeq
	f.start = time.Now()
	defer func() { f.end = time.Now() }()
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = f.start.Add(cfg.Duration)
	}
	const batch = 32
	var pending uint64 // sent but not yet added to the bench's count
	flush := func() {
		if pending > 0 {
			b.mu.Lock()
			b.sent += pending
			b.mu.Unlock()
			pending = 0
		}
	}
	defer flush()
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		now := time.Now()
		if !deadline.IsZero() && now.After(deadline) {
			return
		}
		n := uint64(batch)
		if cfg.Count > 0 {
			left := cfg.Count - f.sent.Load()
			if left == 0 {
				return
			}
			n = min(n, left)
		}
		if cfg.Rate > 0 {
			allowed := uint64(now.Sub(f.start).Seconds() * float64(cfg.Rate))
			if s := f.sent.Load(); allowed <= s {
				flush()
				time.Sleep(time.Millisecond)
				continue
			} else {
				n = min(n, allowed-s)
			}
		}
		if bl := f.backlog.Load(); bl > 0 {
			if hs, err := b.BackendSocket(); err == nil && hs.RxQueue > bl {
				f.holds.Add(1)
				flush()
				time.Sleep(100 * time.Microsecond)
				continue
			}
		}
		for i := uint64(0); i < n; i++ {
			binary.BigEndian.PutUint64(frame[seqAt:], seq)
			if _, err := b.conn.WriteToUDP(frame, b.guest); err != nil {
				if f.errors.Add(1) > 1000 {
					return // the bench is closed
				}
				time.Sleep(time.Millisecond)
				continue
			}
			seq++
			pending++
			f.sent.Add(1)
		}
		if pending >= 1024 {
			flush()
		}
	}
}

// InjectAll sends frames in order as fast as QEMU's datagram backend
// takes them: while QEMU's socket holds more than backlog bytes the bench
// waits (backlog ≤ 0: no waiting). It returns the frames sent.
func (b *Bench) InjectAll(frames [][]byte, backlog int64) (int, error) {
	for i, f := range frames {
		if backlog > 0 && i%16 == 0 {
			for {
				hs, err := b.BackendSocket()
				if err != nil {
					return i, err
				}
				if hs.RxQueue <= backlog {
					break
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
		if err := b.Inject(f); err != nil {
			return i, err
		}
	}
	return len(frames), nil
}
