package testbench

import (
	"encoding/binary"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// EchoProbe measures the guest's UDP echo while something else goes on:
// one request in flight at a time (a new one as soon as the reply
// arrives, or after Timeout), each sample tagged with the phase current
// when it was sent (Mark). It uses the bench's sink, so it cannot run
// together with Echo or Reflect.
type EchoProbe struct {
	b       *Bench
	src     netip.AddrPort
	port    uint16
	size    int
	timeout time.Duration

	mu sync.Mutex
	// +checklocks:mu
	phase string
	// +checklocks:mu
	phases []string
	// +checklocks:mu
	byPhase map[string]*EchoResult
	// +checklocks:mu
	seq uint64
	// +checklocks:mu
	pending map[uint64]probeReq
	reply   chan struct{}
	stop    chan struct{}
	done    chan struct{}
	gap     atomic.Int64 // least time between two requests
}

// SetGap sets the least time between two requests (0: send the next as
// soon as the reply arrives), for a steady rate.
func (p *EchoProbe) SetGap(d time.Duration) { p.gap.Store(int64(d)) }

type probeReq struct {
	at    time.Time
	phase string
}

// EchoProbeOptions says how an EchoProbe drives the guest's echo service.
type EchoProbeOptions struct {
	// Src is the tester's address and port; Port the guest's echo port.
	Src  netip.AddrPort
	Port uint16
	// Size is the payload in bytes, at least 8 (the sequence number).
	Size int
	// Timeout is how long a request may go unanswered before it is lost
	// (default 200 ms).
	Timeout time.Duration
}

// StartEchoProbe starts probing the guest's echo service as o says, in
// phase "start".
func (b *Bench) StartEchoProbe(o EchoProbeOptions) *EchoProbe {
	o.Size = max(o.Size, 8)
	if o.Timeout <= 0 {
		o.Timeout = 200 * time.Millisecond
	}
	p := &EchoProbe{b: b, src: o.Src, port: o.Port, size: o.Size, timeout: o.Timeout,
		byPhase: map[string]*EchoResult{}, pending: map[uint64]probeReq{},
		reply: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	p.Mark("start")
	b.SetSink(p.sink)
	go p.run()
	return p
}

// Mark starts a new phase: later requests are counted under name.
func (p *EchoProbe) Mark(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase = name
	if p.byPhase[name] == nil {
		p.byPhase[name] = &EchoResult{}
		p.phases = append(p.phases, name)
	}
}

func (p *EchoProbe) sink(f Parsed) bool {
	if f.Proto != 17 || f.SrcPort != p.port || f.DstPort != p.src.Port() || len(f.UDPData) < 8 {
		return false
	}
	s := binary.BigEndian.Uint64(f.UDPData)
	now := time.Now()
	p.mu.Lock()
	if q, ok := p.pending[s]; ok {
		delete(p.pending, s)
		r := p.byPhase[q.phase]
		r.Received++
		r.RTTs = append(r.RTTs, now.Sub(q.at))
	}
	p.mu.Unlock()
	select {
	case p.reply <- struct{}{}:
	default:
	}
	return true
}

func (p *EchoProbe) run() {
	defer close(p.done)
	payload := make([]byte, p.size)
	dst := netip.AddrPortFrom(p.b.GuestIP, p.port)
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	var last time.Time
	for {
		p.mu.Lock()
		now := time.Now()
		for s, q := range p.pending {
			if now.Sub(q.at) > p.timeout {
				delete(p.pending, s)
				p.byPhase[q.phase].Lost++
			}
		}
		idle := len(p.pending) == 0
		wait := p.timeout / 4
		if gap := time.Duration(p.gap.Load()); idle && now.Sub(last) < gap {
			idle = false
			wait = gap - now.Sub(last)
		}
		if idle {
			last = now
			p.seq++
			p.pending[p.seq] = probeReq{at: now, phase: p.phase}
			p.byPhase[p.phase].Sent++
			binary.BigEndian.PutUint64(payload, p.seq)
		}
		p.mu.Unlock()
		if idle {
			u := UDP{Src: p.src, Dst: dst, Payload: payload}
			p.b.InjectIP(u.Packet())
		}
		timer.Reset(wait)
		select {
		case <-p.stop:
			return
		case <-p.reply:
		case <-timer.C:
		}
	}
}

// Stop ends the probe, waits up to its timeout for the last reply, and
// returns the results per phase, in the order the phases began. A request
// still unanswered then counts as lost.
func (p *EchoProbe) Stop() ([]string, map[string]EchoResult) {
	close(p.stop)
	<-p.done
	deadline := time.Now().Add(p.timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		n := len(p.pending)
		p.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.b.SetSink(nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	for s, q := range p.pending {
		delete(p.pending, s)
		p.byPhase[q.phase].Lost++
	}
	out := map[string]EchoResult{}
	for name, r := range p.byPhase {
		c := *r
		c.RTTs = append([]time.Duration(nil), r.RTTs...)
		sort.Slice(c.RTTs, func(i, j int) bool { return c.RTTs[i] < c.RTTs[j] })
		out[name] = c
	}
	return append([]string(nil), p.phases...), out
}
