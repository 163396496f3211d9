package testbench

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/netstack"
)

// StatsPort is the image's stats service port.
const StatsPort = 161

// SectionCounters is the stats service's machine form: every counter the
// image keeps, one "name value" line each, ending in "end <n>".
const SectionCounters = "counters"

// Stats is one reply of the image's stats service in the machine form,
// parsed (image/stats.ParseCounters): every counter the image keeps,
// typed (s.Stack.Udp.InDatagrams, s.Dev.RX.Posted,
// s.Pools["frames"].InUse, s.Latency.Total) and by name (Counter). Every
// request is one datagram into the guest and a reply out, which counter
// checks discount (StatsClient.Calls).
type Stats struct {
	*stats.Snapshot
	// Text is the reply.
	Text   string
	values map[string]int64
}

// ParseStats parses a reply to "counters". It fails if any counter is
// missing, unknown or malformed, and if the reply lacks the stack, the
// driver, NAPI, the services, the pools or the memory, which every kaidoku
// image with a stack reports. The latency histograms may be absent (nil
// Latency): an image booted with kaidoku.trace=off has none.
func ParseStats(text string) (*Stats, error) {
	snap, err := stats.ParseCounters(text)
	if err != nil {
		return nil, err
	}
	switch {
	case snap.Stack == nil:
		return nil, fmt.Errorf("stats: no stack counters in the reply")
	case snap.Dev == nil || snap.NAPI == nil || snap.Pools == nil:
		return nil, fmt.Errorf("stats: no driver, NAPI or pool counters in the reply")
	case snap.Services == nil || snap.Mem == nil:
		return nil, fmt.Errorf("stats: no service or memory counters in the reply")
	}
	return &Stats{Snapshot: snap, Text: text, values: snap.Values()}, nil
}

// Counter returns a counter by its machine-form name ("Udp.InDatagrams",
// "dev.rx.posted", "pool.frames.in_use", "svc.agent.refused"). A name the
// reply does not have is a bug in the caller: Counter panics, so that a
// renamed counter fails the test instead of reading 0.
func (s *Stats) Counter(name string) int64 {
	v, ok := s.values[name]
	if !ok {
		panic(fmt.Sprintf("testbench: the stats reply has no counter %q", name))
	}
	return v
}

// Socket returns the /proc/net/udp socket bound to a local port.
func (s *Stats) Socket(port uint16) (netstack.UDPSocket, bool) {
	for _, u := range s.Stack.Sockets {
		if u.LocalPort == port {
			return u, true
		}
	}
	return netstack.UDPSocket{}, false
}

// FramesOutside is the frame pool's buffers the driver does not hold:
// in use, less those posted to the receive ring, in flight on the
// transmit ring and waiting in its backlog.
func (s *Stats) FramesOutside() int64 {
	return int64(s.Pools["frames"].InUse) - int64(s.Dev.RX.Posted) - int64(s.Dev.TX.InFlight) - int64(s.Dev.TX.Backlog)
}

// StatsClient asks the image's stats service from TestHost.
type StatsClient struct {
	b     *Bench
	port  atomic.Uint32
	calls atomic.Uint64
	// Timeout bounds each request (10 s).
	Timeout time.Duration
}

// StatsClient returns a client of the guest's stats service.
func (b *Bench) StatsClient() *StatsClient {
	c := &StatsClient{b: b, Timeout: 10 * time.Second}
	c.port.Store(47000)
	return c
}

// Calls returns the requests made: each moved Ip.InReceives,
// Ip.InDelivers, Udp.InDatagrams and Udp.OutDatagrams by one.
func (c *StatsClient) Calls() uint64 { return c.calls.Load() }

// Section asks for one section (or "all") and returns the text.
func (c *StatsClient) Section(section string) (string, error) {
	c.calls.Add(1)
	p := c.port.Add(1)
	if p > 47999 {
		c.port.Store(47000)
	}
	src := netip.AddrPortFrom(TestHost, uint16(p))
	out, err := c.b.Request(src, StatsPort, []byte(section), c.Timeout)
	if err != nil {
		return "", fmt.Errorf("stats %s: %w", section, err)
	}
	return string(out), nil
}

// All asks for every counter in the machine form and parses the reply.
func (c *StatsClient) All() (*Stats, error) {
	text, err := c.Section(SectionCounters)
	if err != nil {
		return nil, err
	}
	return ParseStats(text)
}

// Latency is one latency histogram as the guest reports it.
type Latency = stats.Histogram

// Bucket is one histogram bucket: Count samples no larger than Upper.
type Bucket = stats.Bucket

// LatencyParts returns a snapshot's histograms by part (total,
// irq_to_poll, stack, wakeup); it fails if the snapshot has none.
func LatencyParts(s *stats.Snapshot) (map[string]*Latency, error) {
	if s.Latency == nil {
		return nil, fmt.Errorf("stats: no latency histograms in the reply")
	}
	out := map[string]*Latency{}
	for _, p := range []string{"total", "irq_to_poll", "stack", "wakeup"} {
		out[p] = s.Latency.Part(p)
	}
	return out, nil
}

// ConsoleStatsKeys are the counters of the STATS console line the image
// prints with stats.console=<interval> (image/kaidoku's consoleStats),
// for modes without the stats service (the reflector).
var ConsoleStatsKeys = []string{"rx_packets", "rx_drops", "tx_packets", "tx_kicks", "xdp_tx", "interrupts",
	"napi_irqs", "polls", "poll_packets", "halts", "frames_in_use", "faults"}

// ParseConsoleStats reads a STATS console line, "STATS key=value ...",
// by key. It fails on a token that is not key=value with a decimal value,
// a key given twice, and a missing one of ConsoleStatsKeys.
func ParseConsoleStats(line string) (map[string]uint64, error) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "STATS" {
		return nil, fmt.Errorf("not a STATS line: %q", line)
	}
	m := map[string]uint64{}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if !ok || k == "" || err != nil {
			return nil, fmt.Errorf("STATS line: %q is not key=<decimal>", kv)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("STATS line: %s given twice", k)
		}
		m[k] = n
	}
	for _, k := range ConsoleStatsKeys {
		if _, ok := m[k]; !ok {
			return nil, fmt.Errorf("STATS line without %s: %q", k, line)
		}
	}
	return m, nil
}
