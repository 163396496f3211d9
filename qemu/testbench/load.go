package testbench

import (
	"encoding/binary"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// EchoResult summarises an echo run.
type EchoResult struct {
	Sent, Received, Lost int
	Duration             time.Duration
	RTTs                 []time.Duration // sorted
}

// PPS returns echoes received per second.
func (r EchoResult) PPS() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Received) / r.Duration.Seconds()
}

// Percentile returns the q-quantile (0..1) of the round-trip times.
func (r EchoResult) Percentile(q float64) time.Duration {
	if len(r.RTTs) == 0 {
		return 0
	}
	i := int(q*float64(len(r.RTTs)-1) + 0.5)
	return r.RTTs[i]
}

// LossPct returns the share of requests without a reply, in percent.
func (r EchoResult) LossPct() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Lost) / float64(r.Sent) * 100
}

// EchoOptions says how Echo drives a guest's echo service.
type EchoOptions struct {
	// Src is the tester's address and port; Port the guest's echo port.
	Src  netip.AddrPort
	Port uint16
	// Size is the payload in bytes, at least 8 (the sequence number).
	Size int
	// InFlight requests are kept outstanding (at least 1): 1 measures
	// sequential round-trip time, more measure throughput.
	InFlight int
	// The run ends when Count requests have been answered or lost, or
	// when Duration has passed, whichever is set and comes first.
	Count    int
	Duration time.Duration
	// Timeout is how long a request may go unanswered before it is lost
	// and replaced (default 200 ms).
	Timeout time.Duration
}

// Echo drives the guest's UDP echo service as o says and returns what it
// measured.
func (b *Bench) Echo(o EchoOptions) EchoResult {
	o.Size = max(o.Size, 8)
	o.InFlight = max(o.InFlight, 1)
	if o.Timeout <= 0 {
		o.Timeout = 200 * time.Millisecond
	}
	type pending struct{ at time.Time }
	var (
		mu      sync.Mutex
		out     = map[uint64]pending{}
		res     EchoResult
		seq     uint64
		replied = make(chan struct{}, o.InFlight*4)
	)
	dst := netip.AddrPortFrom(b.GuestIP, o.Port)
	b.SetSink(func(p Parsed) bool {
		if p.Proto != 17 || len(p.UDPData) < 8 {
			return false
		}
		if p.SrcPort != o.Port || p.DstPort != o.Src.Port() {
			return false
		}
		s := binary.BigEndian.Uint64(p.UDPData)
		now := time.Now()
		mu.Lock()
		if q, ok := out[s]; ok {
			delete(out, s)
			res.Received++
			res.RTTs = append(res.RTTs, now.Sub(q.at))
		}
		mu.Unlock()
		select {
		case replied <- struct{}{}:
		default:
		}
		return true
	})
	defer b.SetSink(nil)

	payload := make([]byte, o.Size)
	send := func() {
		mu.Lock()
		seq++
		s := seq
		out[s] = pending{at: time.Now()}
		res.Sent++
		mu.Unlock()
		binary.BigEndian.PutUint64(payload, s)
		u := UDP{Src: o.Src, Dst: dst, Payload: payload}
		b.InjectIP(u.Packet())
	}
	start := time.Now()
	var end time.Time
	if o.Duration > 0 {
		end = start.Add(o.Duration)
	}
	for i := 0; i < o.InFlight; i++ {
		send()
	}
	tick := time.NewTicker(o.Timeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-replied:
		case <-tick.C:
		}
		now := time.Now()
		mu.Lock()
		for s, q := range out {
			if now.Sub(q.at) > o.Timeout {
				delete(out, s)
				res.Lost++
			}
		}
		done := res.Received + res.Lost
		outstanding := len(out)
		mu.Unlock()
		if (o.Count > 0 && done >= o.Count) || (!end.IsZero() && now.After(end)) {
			break
		}
		for ; outstanding < o.InFlight; outstanding++ {
			if o.Count > 0 && res.Sent >= o.Count {
				break
			}
			send()
		}
	}
	res.Duration = time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	// Whatever is still out when the run ends is neither lost nor
	// received: do not count it.
	res.Sent -= len(out)
	sort.Slice(res.RTTs, func(i, j int) bool { return res.RTTs[i] < res.RTTs[j] })
	return res
}
