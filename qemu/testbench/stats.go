package testbench

import (
	"bufio"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// StatsPort is the image's stats service port.
const StatsPort = 161

// Stats is one reply of the image's stats service (section "all"),
// parsed. Every request is one datagram into the guest and a reply out,
// which counter checks discount (StatsClient.Calls).
type Stats struct {
	Text string
	// SNMP holds /proc/net/snmp and /proc/net/netstat as "Ip.InReceives",
	// "IpExt.ReasmOverlaps", "Udp.RcvbufErrors", ...
	SNMP map[string]int64
	// Sockets are the lines of /proc/net/udp.
	Sockets []UDPSocket
	// Dev holds the driver's counters: "rx.packets", "rx.drops",
	// "rx.posted", "rx.size", "tx.link_drops", "rx_length_errors",
	// "rx_frame_errors", "rx_dropped", "resets", "refill_runs",
	// "config_changes", "interrupts", "link" (1 up), "fault.<kind>", and
	// the stack's device line as "stack.rx_packets", "stack.rx_dropped",
	// "stack.rx_length_errors", "stack.rx_otherhost".
	Dev map[string]int64
	// Napi holds the softnet line ("processed", "dropped",
	// "time_squeeze", ...).
	Napi map[string]int64
	// Drops holds the drop-reason counters ("NO_SOCKET", ...) and the
	// services' refusals ("refused.stats", "refused.agent",
	// "agent.malformed").
	Drops map[string]int64
	// Pools holds each pool's "in_use", "peak", "exhausted",
	// "double_free", "count", "size"; and "arena" (the memory the pools
	// share) its "size", "in_use_bytes", "peak_bytes", "exhausted".
	Pools map[string]map[string]int64
	// Mem holds "mem_in_use_bytes", "go_heap_inuse", "go_stack_inuse",
	// "go_sys", "dma_reserved", "dma_in_use", "goroutines", "gc".
	Mem map[string]int64
	// Latency holds the receive-path histograms by part (total,
	// irq_to_poll, stack, wakeup).
	Latency map[string]Latency
}

// UDPSocket is a line of /proc/net/udp.
type UDPSocket struct {
	Port    uint16
	RxQueue int64
	Drops   int64
}

// Socket returns the /proc/net/udp line for a local port.
func (s *Stats) Socket(port uint16) (UDPSocket, bool) {
	for _, u := range s.Sockets {
		if u.Port == port {
			return u, true
		}
	}
	return UDPSocket{}, false
}

// Pool returns a pool counter.
func (s *Stats) Pool(name, key string) int64 { return s.Pools[name][key] }

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

// All asks for every section and parses the reply.
func (c *StatsClient) All() (*Stats, error) {
	text, err := c.Section("all")
	if err != nil {
		return nil, err
	}
	return ParseStats(text), nil
}

// ParseStats parses a reply to "all" (sections headed "== name").
func ParseStats(text string) *Stats {
	s := &Stats{Text: text, SNMP: map[string]int64{}, Dev: map[string]int64{}, Napi: map[string]int64{},
		Drops: map[string]int64{}, Pools: map[string]map[string]int64{}, Mem: map[string]int64{},
		Latency: map[string]Latency{}}
	var latency strings.Builder
	section := ""
	var names map[string][]string = map[string][]string{} // snmp header lines by prefix
	stackRX := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "== ") {
			section = strings.TrimSpace(line[3:])
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch section {
		case "snmp", "netstat":
			if !strings.HasSuffix(f[0], ":") {
				continue
			}
			prefix := strings.TrimSuffix(f[0], ":")
			if len(f) > 1 {
				if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
					names[prefix] = f[1:]
					continue
				}
			}
			for i, v := range f[1:] {
				if i < len(names[prefix]) {
					n, _ := strconv.ParseInt(v, 10, 64)
					s.SNMP[prefix+"."+names[prefix][i]] = n
				}
			}
		case "udp":
			if len(f) < 13 || !strings.HasSuffix(f[0], ":") {
				continue
			}
			_, port, ok := strings.Cut(f[1], ":")
			p, err := strconv.ParseUint(port, 16, 16)
			if !ok || err != nil {
				continue
			}
			_, rxq, _ := strings.Cut(f[4], ":")
			q, _ := strconv.ParseInt(rxq, 16, 64)
			d, _ := strconv.ParseInt(f[12], 10, 64)
			s.Sockets = append(s.Sockets, UDPSocket{Port: uint16(p), RxQueue: q, Drops: d})
		case "dev":
			switch {
			case f[0] == "RX:" || f[0] == "TX:" || f[0] == "RX" || strings.HasPrefix(f[0], "link/") || strings.HasSuffix(f[0], ":") && f[0] != "rx_queue_0:" && f[0] != "tx_queue_0:" && f[0] != "faults:":
				// header lines of the stack's ip -s link block
			case isNumber(f[0]):
				stackRX++
				n := func(i int) int64 {
					if i < len(f) {
						v, _ := strconv.ParseInt(f[i], 10, 64)
						return v
					}
					return 0
				}
				switch stackRX {
				case 1: // RX: bytes packets errors dropped missed mcast
					s.Dev["stack.rx_bytes"], s.Dev["stack.rx_packets"], s.Dev["stack.rx_errors"], s.Dev["stack.rx_dropped"] = n(0), n(1), n(2), n(3)
				case 2: // RX errors: length crc frame fifo overrun otherhost
					s.Dev["stack.rx_length_errors"], s.Dev["stack.rx_otherhost"] = n(0), n(5)
				case 3: // TX: bytes packets errors dropped
					s.Dev["stack.tx_bytes"], s.Dev["stack.tx_packets"], s.Dev["stack.tx_dropped"] = n(0), n(1), n(3)
				}
			case f[0] == "link":
				s.Dev["link"] = 0
				if len(f) > 1 && f[1] == "up" {
					s.Dev["link"] = 1
				}
				pairs(s.Dev, "", f[2:])
			case f[0] == "rx_queue_0:":
				pairs(s.Dev, "rx.", f[1:])
			case f[0] == "tx_queue_0:":
				pairs(s.Dev, "tx.", f[1:])
			case f[0] == "faults:":
				pairs(s.Dev, "fault.", f[1:])
			default:
				pairs(s.Dev, "", f)
			}
		case "napi":
			if f[0] == "softnet:" {
				pairs(s.Napi, "", f[1:])
			}
		case "drops":
			if f[0] == "refused" && len(f) >= 8 {
				// refused stats N agent N; agent malformed N
				s.Drops["refused.stats"] = atoi(f[2])
				s.Drops["refused.agent"] = atoi(strings.TrimSuffix(f[4], ";"))
				s.Drops["agent.malformed"] = atoi(f[7])
			} else if len(f) == 2 {
				s.Drops[f[0]] = atoi(f[1])
			}
		case "pools":
			if f[0] == "pool" && len(f) > 2 {
				m := map[string]int64{}
				pairs(m, "", f[2:])
				s.Pools[f[1]] = m
			}
		case "latency":
			latency.WriteString(line + "\n")
		case "mem":
			pairs(s.Mem, "", f)
		}
	}
	for part, l := range ParseLatency(latency.String()) {
		s.Latency[part] = *l
	}
	return s
}

// pairs reads "key value key value …" into m; a value "a/b" gives key
// and key's "size" (rx.posted 255/256 → rx.posted, rx.size).
func pairs(m map[string]int64, prefix string, f []string) {
	for i := 0; i+1 < len(f); i += 2 {
		k, v := f[i], f[i+1]
		if a, b, ok := strings.Cut(v, "/"); ok {
			m[prefix+k] = atoi(a)
			m[prefix+"size"] = atoi(b)
			continue
		}
		m[prefix+k] = atoi(v)
	}
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func isNumber(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}
