package testbench

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// OpenLoopOptions says how OpenLoop offers load to a guest's UDP echo
// service.
type OpenLoopOptions struct {
	// Src is the tester's address and port, Port the guest's echo port.
	// Give every run its own Src port: a late reply of an earlier run
	// then cannot be taken for one of this run's.
	Src  netip.AddrPort
	Port uint16
	// Size is the payload in bytes, at least OpenLoopHeader.
	Size int
	// Rate is the offered load in requests per second: requests are sent
	// at the arrivals of a Poisson process of that rate, whatever the
	// replies do.
	Rate float64
	// WarmUp is sent first and not measured; Duration is measured after it.
	WarmUp, Duration time.Duration
	// Deadline is how long a reply may take: a later one counts as lost
	// (default 200 ms).
	Deadline time.Duration
	// Seed seeds the arrival times (the same seed gives the same schedule).
	Seed uint64
}

// OpenLoopHeader is the bytes an open-loop request carries at the start
// of its payload: a run tag, the sequence number and the send time in
// nanoseconds since the run began, each 8 bytes big endian. The echo
// returns them, so that the receiver needs no table to time a reply.
const OpenLoopHeader = 24

// OpenLoopResult is what an open-loop run measured over its measured
// window (the warm-up left out).
type OpenLoopResult struct {
	// Offered is the rate asked for; Achieved the rate the sender kept
	// (requests sent over the time from the first to the last send).
	Offered, Achieved float64
	// Sent requests; Received of them answered within the deadline; Lost
	// the others (never answered or answered later).
	Sent, Received, Lost int
	// RTTs are the round-trip times of the received, sorted.
	RTTs []time.Duration
	// Lateness is how far behind its scheduled time the sender sent,
	// sorted: a noisy host delays sends (they are never skipped).
	Lateness []time.Duration
	Deadline time.Duration
}

// Percentile returns the q-quantile (0..1, nearest rank) of the latency
// of every measured request, a lost one counting as longer than any
// answered one. ok is false when the quantile falls among the lost: the
// latency there is beyond the deadline.
func (r OpenLoopResult) Percentile(q float64) (d time.Duration, ok bool) {
	n := r.Received + r.Lost
	if n == 0 {
		return 0, false
	}
	i := max(int(math.Ceil(q*float64(n)))-1, 0)
	if i >= len(r.RTTs) {
		return 0, false
	}
	return r.RTTs[i], true
}

// LossPct returns the share of measured requests lost, in percent.
func (r OpenLoopResult) LossPct() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Lost) / float64(r.Sent) * 100
}

// LatenessAt returns the q-quantile of the sender's lateness.
func (r OpenLoopResult) LatenessAt(q float64) time.Duration {
	if len(r.Lateness) == 0 {
		return 0
	}
	return r.Lateness[max(int(math.Ceil(q*float64(len(r.Lateness))))-1, 0)]
}

// PoissonSchedule returns the send times, as offsets from the start, of
// the arrivals of a Poisson process of rate per second within d:
// exponentially distributed gaps of mean 1/rate.
func PoissonSchedule(rate float64, d time.Duration, rng *rand.Rand) []time.Duration {
	if rate <= 0 || d <= 0 {
		return nil
	}
	out := make([]time.Duration, 0, int(rate*d.Seconds()*1.1)+16)
	t := 0.0 // seconds
	for {
		t += rng.ExpFloat64() / rate
		at := time.Duration(t * 1e9)
		if at >= d {
			return out
		}
		out = append(out, at)
	}
}

// OpenLoop offers the guest's echo service load at a fixed rate with
// Poisson arrivals, open loop: one goroutine sends on schedule (late when
// the host is slow, never skipping), and the bench's receiver times the
// replies from the send time each carries. It returns after the last
// request's deadline. It uses the bench's sink, so it cannot run together
// with Echo or an EchoProbe.
func (b *Bench) OpenLoop(o OpenLoopOptions) (OpenLoopResult, error) {
	if o.Size < OpenLoopHeader {
		o.Size = OpenLoopHeader
	}
	if o.Deadline <= 0 {
		o.Deadline = 200 * time.Millisecond
	}
	if o.Rate <= 0 || o.Duration <= 0 {
		return OpenLoopResult{}, fmt.Errorf("testbench: open loop needs a positive rate and duration (rate %v, duration %v)", o.Rate, o.Duration)
	}
	sched := PoissonSchedule(o.Rate, o.WarmUp+o.Duration, rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)))
	if len(sched) == 0 {
		return OpenLoopResult{}, fmt.Errorf("testbench: no request falls within %v at %v/s", o.WarmUp+o.Duration, o.Rate)
	}
	tag := rand.Uint64()
	// rtt[i] is request i's round-trip time in ns, 0 until answered. Only
	// the bench's reader writes it (in the sink, under b.mu); it is read
	// after SetSink(nil), which takes b.mu too.
	rtt := make([]int64, len(sched))
	// start is set before the sink, which reads it: SetSink orders the two.
	start := time.Now()
	b.SetSink(func(p Parsed) bool {
		if p.Proto != 17 || len(p.UDPData) < OpenLoopHeader {
			return false
		}
		if p.SrcPort != o.Port || p.DstPort != o.Src.Port() {
			return false
		}
		d := p.UDPData
		if binary.BigEndian.Uint64(d) != tag {
			return false
		}
		seq, sent := binary.BigEndian.Uint64(d[8:]), int64(binary.BigEndian.Uint64(d[16:]))
		if seq < uint64(len(rtt)) && rtt[seq] == 0 {
			rtt[seq] = max(int64(time.Since(start))-sent, 1)
		}
		return true
	})
	sentAt, err := b.sendSchedule(o, tag, sched, start)
	time.Sleep(o.Deadline)
	b.SetSink(nil)
	if err != nil {
		return OpenLoopResult{}, err
	}
	return openLoopResult(o, sched, sentAt, rtt), nil
}

// openLoopResult summarises a run over its measured window: the requests
// scheduled at or after the warm-up.
func openLoopResult(o OpenLoopOptions, sched, sentAt []time.Duration, rtt []int64) OpenLoopResult {
	r := OpenLoopResult{Offered: o.Rate, Deadline: o.Deadline}
	first := -1
	for i, at := range sched {
		if at < o.WarmUp {
			continue
		}
		if first < 0 {
			first = i
		}
		r.Sent++
		r.Lateness = append(r.Lateness, sentAt[i]-at)
		if d := time.Duration(rtt[i]); d > 0 && d <= o.Deadline {
			r.Received++
			r.RTTs = append(r.RTTs, d)
		} else {
			r.Lost++
		}
	}
	if r.Sent > 1 {
		if span := sentAt[len(sched)-1] - sentAt[first]; span > 0 {
			r.Achieved = float64(r.Sent-1) / span.Seconds()
		}
	}
	slices.Sort(r.RTTs)
	slices.Sort(r.Lateness)
	return r
}

// sendSchedule sends request i at start+sched[i], or as soon after as it
// can, and returns when each went out. It runs on a thread of its own
// with a fine timer slack (preciseSleeper) so that its sleeps end close
// to when asked.
func (b *Bench) sendSchedule(o OpenLoopOptions, tag uint64, sched []time.Duration, start time.Time) ([]time.Duration, error) {
	frame, udp := b.openLoopFrame(o, tag)
	sentAt := make([]time.Duration, len(sched))
	sleep, done := preciseSleeper()
	defer done()
	var errs int
	for i := 0; i < len(sched); {
		now := time.Since(start)
		if wait := sched[i] - now; wait > 0 {
			sleep(wait)
			continue
		}
		// Everything due goes out now, late rather than never.
		for ; i < len(sched) && sched[i] <= now; i++ {
			binary.BigEndian.PutUint64(udp[header.UDPMinimumSize+8:], uint64(i))
			at := time.Since(start)
			binary.BigEndian.PutUint64(udp[header.UDPMinimumSize+16:], uint64(at))
			setUDPChecksum(udp, o.Src.Addr(), b.GuestIP)
			sentAt[i] = at
			if _, err := b.conn.WriteToUDP(frame, b.guest); err != nil {
				if errs++; errs > 100 {
					return nil, fmt.Errorf("testbench: open loop: %w", err)
				}
			}
		}
	}
	b.mu.Lock()
	b.sent += uint64(len(sched))
	b.mu.Unlock()
	return sentAt, nil
}

// openLoopFrame builds the request frame once; the sender rewrites its
// sequence number, send time and UDP checksum (udp is the UDP header and
// payload within frame).
func (b *Bench) openLoopFrame(o OpenLoopOptions, tag uint64) (frame, udp []byte) {
	payload := make([]byte, o.Size)
	binary.BigEndian.PutUint64(payload, tag)
	u := UDP{Src: o.Src, Dst: netip.AddrPortFrom(b.GuestIP, o.Port), Payload: payload}
	frame = Ether(b.GuestMAC, b.MAC, 0x0800, -1, u.Packet().Bytes())
	return frame, frame[len(frame)-header.UDPMinimumSize-o.Size:]
}

// setUDPChecksum recomputes the checksum of the UDP datagram udp (header
// and payload) from src to dst.
func setUDPChecksum(udp []byte, src, dst netip.Addr) {
	h := header.UDP(udp)
	h.SetChecksum(0)
	x := header.PseudoHeaderChecksum(header.UDPProtocolNumber, addr4(src), addr4(dst), uint16(len(udp)))
	cs := ^checksum.Checksum(udp, x)
	if cs == 0 {
		cs = 0xffff
	}
	h.SetChecksum(cs)
}
