package stats

import (
	"runtime"
	"sort"
	"time"

	"github.com/kaidoku-net/kaidoku/irq"
	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/latency"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
)

// Snapshot is every counter an image keeps, the single source of the
// stats service's machine form (section "counters", see WriteCounters
// and ParseCounters). A part an image does not have is nil: the gVisor
// echo has no Stack and no agent.
//
// The struct tags name the counters in the machine form: each line is a
// dotted path of field names ("dev.rx.packets", "pool.frames.in_use"),
// the stack's MIB counters keep Linux's names ("Udp.InDatagrams",
// "Drop.NO_SOCKET"). A field without a tag is named in lower case with
// underscores (RxLengthErrors: rx_length_errors), so a counter added to
// one of these structs (netstack.Counters, virtio.Stats, napi.Stats,
// skb.PoolStats) is served and parsed without further listing.
type Snapshot struct {
	// Stack is the network stack's counters, named at the top level
	// ("Ip.InReceives", "link.rx_packets", "udp.<inode>.drops").
	Stack *netstack.Counters `stat:",inline"`
	// Dev is the virtio-net driver's counters ("dev.rx.packets",
	// "dev.faults.used_len", "dev.link_up").
	Dev *virtio.Stats `stat:"dev"`
	// NAPI is the softnet's counters and its NAPIs' by name
	// ("napi.time_squeeze", "napi.napis.eth0-rx.polls").
	NAPI *napi.Stats `stat:"napi"`
	// Pools are the packet buffer pools by name ("pool.frames.in_use").
	Pools map[string]skb.PoolStats `stat:"pool"`
	// IRQ is the interrupt counts and idle halts.
	IRQ *IRQ `stat:"irq"`
	// Services is what the services refused.
	Services *Services `stat:"svc"`
	// Latency is the receive-path latency histograms.
	Latency *Latency `stat:"latency"`
	// Mem is the memory the image holds.
	Mem *Mem `stat:"mem"`
}

// IRQ is the interrupt counts by vector ("irq.vector.33.count") and how
// often the idle CPU halted.
type IRQ struct {
	Vectors          []IRQVector `stat:"vector"`
	IdleHalts        uint64
	IdleTimerWakeups uint64
}

// IRQVector is one vector's interrupt count.
type IRQVector struct {
	Vector int `stat:",key"`
	Count  uint64
}

// Services is what the image's services dropped: requests refused for
// their source, and the agent's malformed requests.
type Services struct {
	Stats StatsService `stat:"stats"`
	// Agent is nil in an image without the test agent.
	Agent *AgentService `stat:"agent"`
}

// StatsService is the stats service's counters ("svc.stats.refused").
type StatsService struct {
	Refused uint64
}

// AgentService is the test agent's counters ("svc.agent.refused",
// "svc.agent.malformed").
type AgentService struct {
	Refused, Malformed uint64
}

// Latency is the receive-path histograms: total is T3−T0 (interrupt to
// application wakeup), its parts irq_to_poll T1−T0, stack T2−T1 and
// wakeup T3−T2.
type Latency struct {
	Total     Histogram `stat:"total"`
	IRQToPoll Histogram `stat:"irq_to_poll"`
	Stack     Histogram `stat:"stack"`
	Wakeup    Histogram `stat:"wakeup"`
}

// Part returns a histogram by its machine-form name (total,
// irq_to_poll, stack, wakeup), nil for another name.
func (l *Latency) Part(name string) *Histogram {
	switch name {
	case "total":
		return &l.Total
	case "irq_to_poll":
		return &l.IRQToPoll
	case "stack":
		return &l.Stack
	case "wakeup":
		return &l.Wakeup
	}
	return nil
}

// Histogram is one latency histogram's digest and its non-empty buckets
// ("latency.total.count", "latency.total.p99_ns",
// "latency.total.bucket.1023 5").
type Histogram struct {
	Count uint64
	P50   time.Duration `stat:"p50_ns"`
	P90   time.Duration `stat:"p90_ns"`
	P99   time.Duration `stat:"p99_ns"`
	P999  time.Duration `stat:"p999_ns"`
	Max   time.Duration `stat:"max_ns"`
	// Buckets are the non-empty buckets in increasing order.
	Buckets Buckets `stat:"bucket"`
}

// Buckets are a histogram's non-empty buckets. In the machine form each
// is "bucket.<upper_ns> <count>"; an absent bucket is empty.
type Buckets []Bucket

// Bucket is one histogram bucket: Count samples no larger than Upper.
type Bucket struct {
	Upper time.Duration
	Count uint64
}

// EachCounter calls f with every bucket, named by its upper bound in ns.
func (b *Buckets) EachCounter(f func(name string, v uint64)) {
	for _, e := range *b {
		f(fmtInt(int64(e.Upper)), e.Count)
	}
}

// SetCounter adds the bucket EachCounter calls name, keeping the order.
func (b *Buckets) SetCounter(name string, v uint64) error {
	u, err := parseInt(name, 64)
	if err != nil || u < 0 {
		return errNoName
	}
	e := Bucket{Upper: time.Duration(u), Count: v}
	i := sort.Search(len(*b), func(i int) bool { return (*b)[i].Upper >= e.Upper })
	*b = append(*b, Bucket{})
	copy((*b)[i+1:], (*b)[i:])
	(*b)[i] = e
	return nil
}

// HistogramOf digests h.
func HistogramOf(h *latency.Histogram) Histogram {
	s := h.Summary()
	out := Histogram{Count: s.Count, P50: time.Duration(s.P50), P90: time.Duration(s.P90),
		P99: time.Duration(s.P99), P999: time.Duration(s.P999), Max: time.Duration(s.Max)}
	h.Buckets(func(upper int64, count uint64) {
		out.Buckets = append(out.Buckets, Bucket{Upper: time.Duration(upper), Count: count})
	})
	return out
}

// LatencyOf digests a trace's four histograms; nil (no latency
// counters in the machine form) when t is nil, the trace being off.
func LatencyOf(t *latency.Trace) *Latency {
	if t == nil {
		return nil
	}
	return &Latency{Total: HistogramOf(&t.Total), IRQToPoll: HistogramOf(&t.IRQ),
		Stack: HistogramOf(&t.Stack), Wakeup: HistogramOf(&t.Wakeup)}
}

// Mem is the memory the image holds ("mem.in_use_bytes"): what the Go
// runtime holds from the board less what it gave back, plus the DMA
// region handed out; then its parts.
type Mem struct {
	InUseBytes   int64
	GoHeapInuse  uint64
	GoStackInuse uint64
	GoSys        uint64
	DMAReserved  int64
	Goroutines   int64
	GC           uint64
}

// ReadMem reads the runtime's memory statistics; dma is the DMA memory
// handed out.
func ReadMem(dma int64) *Mem {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return &Mem{InUseBytes: int64(m.Sys-m.HeapReleased) + dma, GoHeapInuse: m.HeapInuse,
		GoStackInuse: m.StackInuse, GoSys: m.Sys, DMAReserved: dma,
		Goroutines: int64(runtime.NumGoroutine()), GC: uint64(m.NumGC)}
}

// PoolsOf reads the pools' counters, by pool name.
func PoolsOf(pools ...*skb.Pool) map[string]skb.PoolStats {
	out := make(map[string]skb.PoolStats, len(pools))
	for _, p := range pools {
		out[p.Name()] = p.Stats()
	}
	return out
}

// IRQOf gathers the interrupt counts by vector and the idle CPU's halts
// and timer wake-ups.
func IRQOf(vectors []irq.Stat, halts, timerWakeups uint64) *IRQ {
	out := &IRQ{IdleHalts: halts, IdleTimerWakeups: timerWakeups}
	for _, v := range vectors {
		out.Vectors = append(out.Vectors, IRQVector{Vector: v.Vector, Count: v.Count})
	}
	return out
}
