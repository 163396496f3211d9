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

// Echo drives the guest's UDP echo service at port from src; see run.
func (b *Bench) Echo(src netip.AddrPort, port uint16, size, inFlight, count int, dur, timeout time.Duration) EchoResult {
	return b.run(src, port, false, size, inFlight, count, dur, timeout)
}

// Reflect drives a guest that returns every frame with only its MAC
// addresses swapped (the driver's reflector): replies keep the request's
// addresses and ports.
func (b *Bench) Reflect(src netip.AddrPort, port uint16, size, inFlight, count int, dur, timeout time.Duration) EchoResult {
	return b.run(src, port, true, size, inFlight, count, dur, timeout)
}

// run drives the guest's UDP echo service at port from src: it keeps
// inFlight requests of size bytes outstanding until count requests have
// been answered or lost, or dur has passed (whichever is set and first).
// A request unanswered after timeout is lost and replaced. With inFlight 1
// it measures sequential round-trip time; with more, throughput.
func (b *Bench) run(src netip.AddrPort, port uint16, reflected bool, size, inFlight, count int, dur, timeout time.Duration) EchoResult {
	if size < 8 {
		size = 8
	}
	type pending struct{ at time.Time }
	var (
		mu      sync.Mutex
		out     = map[uint64]pending{}
		res     EchoResult
		seq     uint64
		replied = make(chan struct{}, inFlight*4)
	)
	dst := netip.AddrPortFrom(b.GuestIP, port)
	b.SetSink(func(p Parsed) bool {
		if p.Proto != 17 || len(p.UDPData) < 8 {
			return false
		}
		if reflected {
			if p.SrcPort != src.Port() || p.DstPort != port {
				return false
			}
		} else if p.SrcPort != port || p.DstPort != src.Port() {
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

	payload := make([]byte, size)
	send := func() {
		mu.Lock()
		seq++
		s := seq
		out[s] = pending{at: time.Now()}
		res.Sent++
		mu.Unlock()
		binary.BigEndian.PutUint64(payload, s)
		u := UDP{Src: src, Dst: dst, Payload: payload}
		b.InjectIP(u.Packet())
	}
	start := time.Now()
	var end time.Time
	if dur > 0 {
		end = start.Add(dur)
	}
	for i := 0; i < inFlight; i++ {
		send()
	}
	tick := time.NewTicker(timeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-replied:
		case <-tick.C:
		}
		now := time.Now()
		mu.Lock()
		for s, q := range out {
			if now.Sub(q.at) > timeout {
				delete(out, s)
				res.Lost++
			}
		}
		done := res.Received + res.Lost
		outstanding := len(out)
		mu.Unlock()
		if (count > 0 && done >= count) || (!end.IsZero() && now.After(end)) {
			break
		}
		for ; outstanding < inFlight; outstanding++ {
			if count > 0 && res.Sent >= count {
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
