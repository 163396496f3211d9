//go:build tamago

package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/kaidoku-net/kaidoku/board"
	"github.com/kaidoku-net/kaidoku/image/config"
	"github.com/kaidoku-net/kaidoku/image/netdev"
	kstats "github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/irq"
	"github.com/kaidoku-net/kaidoku/netstack/latency"
)

// trace holds the echo's interrupt-to-wakeup histograms. Only total
// (T3−T0) and irq_to_poll (T1−T0) are recorded: T2, the enqueue on the
// socket, happens inside gVisor's UDP endpoint, which offers no hook for
// it, so stack (T2−T1) and wakeup (T3−T2) stay empty.
var trace latency.Trace

// statsRefused counts stats requests dropped because of their source.
var statsRefused atomic.Uint64

func startServices(cfg *config.Config, sys *system) {
	if svc := cfg.Services["echo"]; svc.On {
		stamps := sys.stamps
		if !sys.trace {
			stamps = nil
		}
		go echo(mustBind(sys, svc.Port), stamps)
	}
	if svc := cfg.Services["stats"]; svc.On {
		go stats(mustBind(sys, svc.Port), sys, svc.Allow)
	}
}

// mustBind opens a gVisor UDP endpoint on port, any local address.
func mustBind(sys *system, port uint16) *gonet.UDPConn {
	c, err := gonet.DialUDP(sys.stack, &tcpip.FullAddress{Port: port}, nil, ipv4.ProtocolNumber)
	if err != nil {
		fatal(fmt.Sprintf("bind port %d", port), err)
	}
	return c
}

// echo is RFC 862 with gVisor's blocking socket calls: gonet's ReadFrom
// parks the goroutine on the endpoint's wait queue until a datagram is
// queued (gVisor's recvfrom), then WriteTo sends it back to its source.
//
// T3 is taken as soon as ReadFrom returns, the same point as kaidoku's
// RecvFrom wakeup; T0 and T1 come from the driver through the stamp ring
// (nil with the trace off: nothing is recorded).
func echo(c *gonet.UDPConn, stamps *stampRing) {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		t3 := board.Nanotime()
		if err != nil {
			continue
		}
		ua, _ := from.(*net.UDPAddr)
		if ua != nil && stamps != nil {
			if t0, t1, ok := stamps.take(uint16(ua.Port), buf[:n]); ok {
				trace.Record(t0, t1, 0, t3)
			}
		}
		c.WriteTo(buf[:n], from)
	}
}

// stats answers a datagram naming a section with counters, in the
// protocol of image/kaidoku's stats service (image/stats), the machine
// form included,
// answering only sources in allow (invalid: anyone).
func stats(c *gonet.UDPConn, sys *system, allow netip.Prefix) {
	req := make([]byte, 512)
	var out bytes.Buffer
	for {
		n, from, err := c.ReadFrom(req)
		if err != nil {
			continue
		}
		ua, _ := from.(*net.UDPAddr)
		if ua == nil {
			continue
		}
		if src, ok := netip.AddrFromSlice(ua.IP); allow.IsValid() && (!ok || !allow.Contains(src.Unmap())) {
			statsRefused.Add(1)
			continue
		}
		out.Reset()
		writeStats(&out, sys, strings.TrimSpace(string(req[:n])))
		b := out.Bytes()
		if len(b) > 65000 {
			b = b[:65000]
		}
		c.WriteTo(b, from)
	}
}

// snapshot is the counters this image shares with kaidoku's, for the
// machine form (section counters): the driver's, NAPI's, the pools, the
// interrupts, the stats service's refusals, the latency histograms and
// memory. gVisor's own counters are in the gvisor and nic sections.
func snapshot(sys *system) *kstats.Snapshot {
	dev := sys.dev.Net.Stats()
	ns := sys.dev.Softnet.Stats()
	halts, timer := board.IdleStats()
	var lat *kstats.Latency
	if sys.trace {
		lat = kstats.LatencyOf(&trace)
	}
	return &kstats.Snapshot{
		Dev:      &dev,
		NAPI:     &ns,
		Pools:    kstats.PoolsOf(sys.dev.Frames, sys.dev.Large),
		IRQ:      kstats.IRQOf(irq.Default.Stats(), halts, timer),
		Services: &kstats.Services{Stats: kstats.StatsService{Refused: statsRefused.Load()}},
		Latency:  lat,
		Mem:      kstats.ReadMem(board.DMAReserved()),
	}
}

// sections in the order "all" prints them.
var sections = []string{"gvisor", "nic", "link", "dev", "napi", "irq", "pools", "latency", "mem"}

func writeStats(w *bytes.Buffer, sys *system, section string) {
	switch section {
	case "", "all":
		for _, s := range sections {
			fmt.Fprintf(w, "== %s\n", s)
			writeStats(w, sys, s)
		}
	case "gvisor":
		// gVisor's own counters (tcpip.Stats), the non-zero ones.
		writeCounters(w, "", reflect.ValueOf(sys.stack.Stats()))
	case "nic":
		if info, ok := sys.stack.NICInfo()[nicID]; ok {
			writeCounters(w, "NIC.", reflect.ValueOf(info.Stats))
		}
	case "link":
		l := sys.link.Counters()
		fmt.Fprintf(w, "link rx_delivered %d rx_short %d rx_no_dispatcher %d\n", l.RxDelivered, l.RxShort, l.RxNoDispatcher)
		fmt.Fprintf(w, "link tx_frames %d tx_no_frame %d tx_too_big %d tx_dropped %d\n", l.TxFrames, l.TxNoFrame, l.TxTooBig, l.TxDropped)
		s := sys.stamps
		fmt.Fprintf(w, "stamps recorded %d matched %d unmatched %d\n", s.recorded.Load(), s.matched.Load(), s.unmatched.Load())
		fmt.Fprintf(w, "refused stats %d\n", statsRefused.Load())
	case "dev":
		w.WriteString(sys.dev.Net.Stats().String())
	case "napi":
		w.WriteString(sys.dev.Softnet.Stats().String())
	case "irq":
		netdev.WriteIRQ(w)
	case "pools":
		sys.dev.WritePools(w)
	case "latency":
		if !sys.trace {
			w.WriteString(kstats.TraceOff)
			break
		}
		trace.WriteStats(w)
		// Lines the benchmark does not parse: why two parts are empty.
		w.WriteString("# stack (T2-T1) and wakeup (T3-T2) are not observable inside gVisor's netstack: left empty\n")
		s := sys.stamps
		fmt.Fprintf(w, "# stamps matched %d unmatched %d\n", s.matched.Load(), s.unmatched.Load())
	case "latency-reset":
		trace.Reset()
		w.WriteString("ok\n")
	case "mem":
		netdev.WriteMem(w)
	case "counters":
		if err := kstats.WriteCounters(w, snapshot(sys)); err != nil {
			fmt.Fprintf(w, "error %v\n", err)
		}
	default:
		fmt.Fprintf(w, "unknown section %q; sections: all %s latency-reset counters\n", section, strings.Join(sections, " "))
	}
}

var (
	statCounterType = reflect.TypeFor[*tcpip.StatCounter]()
	counterMapType  = reflect.TypeFor[*tcpip.IntegralStatCounterMap]()
)

// writeCounters prints every non-zero counter of a gVisor stats struct
// (nested structs of *tcpip.StatCounter), one "Path.Name value" line
// each. Reflection keeps this complete across gVisor versions; it runs
// only when the stats service is asked.
func writeCounters(w *bytes.Buffer, prefix string, v reflect.Value) {
	switch {
	case !v.IsValid():
	case v.Type() == statCounterType:
		if !v.IsNil() {
			if n := v.Interface().(*tcpip.StatCounter).Value(); n != 0 {
				fmt.Fprintf(w, "%s %d\n", strings.TrimSuffix(prefix, "."), n)
			}
		}
	case v.Type() == counterMapType:
		if m := v.Interface().(*tcpip.IntegralStatCounterMap); m != nil {
			keys := m.Keys()
			sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
			for _, k := range keys {
				if c, ok := m.Get(k); ok && c.Value() != 0 {
					fmt.Fprintf(w, "%s[%d] %d\n", strings.TrimSuffix(prefix, "."), k, c.Value())
				}
			}
		}
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			writeCounters(w, prefix, v.Elem())
		}
	case v.Kind() == reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).IsExported() {
				writeCounters(w, prefix+t.Field(i).Name+".", v.Field(i))
			}
		}
	case v.Kind() == reflect.Array:
		for i := 0; i < v.Len(); i++ {
			writeCounters(w, fmt.Sprintf("%s%d.", prefix, i), v.Index(i))
		}
	}
}
