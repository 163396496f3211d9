package bench

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// Peer is one guest in the comparison.
type Peer struct {
	Name string
	// Config returns the QEMU configuration of the peer; the runner fills
	// in the network (a datagram backend to the bench) and the lifetime.
	Config func() (qemu.Config, error)
	// Files make up the image, for its size.
	Files []string
	// GuestIP and GuestMAC address the guest; the MAC must match
	// Config's (qemu.MACFor(1) when empty).
	GuestIP  netip.Addr
	GuestMAC string
	// EchoPort is the UDP echo port; StatsPort the stats service (0: none).
	EchoPort, StatsPort uint16
	// Stats reads the stats service's reply to SectionCounters (nil:
	// ParseCounters, the machine form of kaidoku's images); a peer with
	// another service returns the parts it has.
	Stats func(reply []byte) (*stats.Snapshot, error)
}

// Options sets the workload. Zero values take the defaults.
type Options struct {
	Size      int           // echo payload bytes (64)
	RTTCount  int           // sequential round trips (2000)
	InFlight  int           // requests outstanding for throughput (32)
	LoadTime  time.Duration // throughput run length (10 s)
	Timeout   time.Duration // a request unanswered this long is lost (200 ms)
	WarmUp    int           // echoes before measuring (200)
	BootLimit time.Duration // READY must come within this (60 s)
	BootRuns  int           // boots per peer; the median is reported (3)
	Log       io.Writer     // progress (os.Stderr)

	// OpenLoop sets the section on latency against offered load.
	OpenLoop OpenLoopOptions
}

func (o *Options) defaults() {
	if o.Size == 0 {
		o.Size = 64
	}
	if o.RTTCount == 0 {
		o.RTTCount = 2000
	}
	if o.InFlight == 0 {
		o.InFlight = 32
	}
	if o.LoadTime == 0 {
		o.LoadTime = 10 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 200 * time.Millisecond
	}
	if o.WarmUp == 0 {
		o.WarmUp = 200
	}
	if o.BootLimit == 0 {
		o.BootLimit = 60 * time.Second
	}
	if o.BootRuns == 0 {
		o.BootRuns = 3
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	o.OpenLoop.defaults(o.Timeout)
}

// Result is one peer's measurements.
type Result struct {
	Peer      string
	Accel     qemu.Accel
	BootReady time.Duration                 // median of Boots
	Boots     []time.Duration               // each boot to READY
	RTT       testbench.EchoResult          // sequential, one in flight
	Load      testbench.EchoResult          // InFlight outstanding
	Latency   map[string]*testbench.Latency // from the guest's stats, if it measures
	MemInUse  int64                         // bytes, -1 if unknown
	// CPURTT and CPULoad are QEMU's host CPU use during the sequential and
	// the throughput runs, in cores (1 = one core busy).
	CPURTT, CPULoad float64
	ImageBytes      int64
	Err             error

	// OpenLoop is latency against offered load, one point per rate.
	OpenLoop []OpenLoopPoint
}

// measureCPU runs f and returns its result with QEMU's CPU use meanwhile,
// in cores.
func measureCPU(vm *qemu.VM, f func() testbench.EchoResult) (testbench.EchoResult, float64) {
	c0, err0 := vm.CPUTime()
	t0 := time.Now()
	r := f()
	c1, err1 := vm.CPUTime()
	if err0 != nil || err1 != nil {
		return r, -1
	}
	return r, float64(c1-c0) / float64(time.Since(t0))
}

// readStats asks p's stats service for its counters; nil (and a line in
// the log saying why) when p has none or the reply does not parse.
func readStats(b *testbench.Bench, p Peer, o Options) *stats.Snapshot {
	if p.StatsPort == 0 {
		return nil
	}
	reply, err := b.Request(benchSource, p.StatsPort, []byte(SectionCounters), 5*time.Second)
	if err == nil {
		parse := p.Stats
		if parse == nil {
			parse = ParseCounters
		}
		var snap *stats.Snapshot
		if snap, err = parse(reply); err == nil {
			return snap
		}
	}
	fmt.Fprintf(o.Log, "bench: %s: stats: %v\n", p.Name, err)
	return nil
}

// benchSource is the bench's address and port for echo requests.
var benchSource = netip.AddrPortFrom(netip.MustParseAddr("10.0.2.2"), 40000)

// Run measures each peer in turn.
func Run(peers []Peer, o Options) []Result {
	o.defaults()
	var out []Result
	for _, p := range peers {
		fmt.Fprintf(o.Log, "bench: %s\n", p.Name)
		r := runPeer(p, o)
		if r.Err != nil {
			fmt.Fprintf(o.Log, "bench: %s: %v\n", p.Name, r.Err)
		}
		out = append(out, r)
	}
	return out
}

func runPeer(p Peer, o Options) (r Result) {
	r = Result{Peer: p.Name, MemInUse: -1}
	for _, f := range p.Files {
		if st, err := os.Stat(f); err == nil {
			r.ImageBytes += st.Size()
		}
	}
	cfg, err := p.Config()
	if err != nil {
		r.Err = err
		return
	}
	mac := p.GuestMAC
	if mac == "" {
		mac = qemu.MACFor(1)
	}
	gm, ok := testbench.ParseMAC(mac)
	if !ok {
		r.Err = fmt.Errorf("bad MAC %q", mac)
		return
	}
	b, nd, err := testbench.Listen(gm, p.GuestIP)
	if err != nil {
		r.Err = err
		return
	}
	defer b.Close()
	cfg.Net = nd
	cfg.MAC = mac
	cfg.Lifetime = o.BootLimit + o.LoadTime + o.OpenLoop.total() + 5*time.Minute
	if cfg.Monitor == "" {
		// QEMU's view of the virtqueues, should the peer stop answering.
		dir, err := os.MkdirTemp("", "kaidoku-bench-")
		if err != nil {
			r.Err = err
			return
		}
		defer os.RemoveAll(dir)
		cfg.Monitor = filepath.Join(dir, "hmp")
	}
	// Boot several times (the first boot after a build pays for cold
	// host caches) and measure on the last one.
	var vm *qemu.VM
	for i := 0; i < o.BootRuns; i++ {
		if vm != nil {
			vm.Close()
		}
		if vm, err = qemu.Start(cfg); err != nil {
			r.Err = err
			return
		}
		d, err := vm.WaitReady(o.BootLimit)
		if err != nil {
			vm.Close()
			r.Err = err
			return
		}
		r.Boots = append(r.Boots, d)
	}
	defer vm.Close()
	r.Accel = vm.Accel
	sorted := append([]time.Duration(nil), r.Boots...)
	slices.Sort(sorted)
	r.BootReady = sorted[len(sorted)/2]
	echo := func(inFlight, count int, dur time.Duration) testbench.EchoResult {
		return b.Echo(testbench.EchoOptions{
			Src: benchSource, Port: p.EchoPort, Size: o.Size, InFlight: inFlight,
			Count: count, Duration: dur, Timeout: o.Timeout,
		})
	}
	warm := echo(4, o.WarmUp, 0)
	if warm.Received == 0 {
		r.Err = fmt.Errorf("no echo reply during warm-up (sent %d)\nconsole:\n%s", warm.Sent, vm.Console.Text())
		return
	}
	if p.StatsPort != 0 {
		b.Request(benchSource, p.StatsPort, []byte(SectionReset), 5*time.Second)
	}
	r.RTT, r.CPURTT = measureCPU(vm, func() testbench.EchoResult { return echo(1, o.RTTCount, 0) })
	if snap := readStats(b, p, o); snap != nil && snap.Latency != nil {
		r.Latency, _ = testbench.LatencyParts(snap)
	}
	r.Load, r.CPULoad = measureCPU(vm, func() testbench.EchoResult { return echo(o.InFlight, 0, o.LoadTime) })
	if snap := readStats(b, p, o); snap != nil && snap.Mem != nil {
		r.MemInUse = snap.Mem.InUseBytes
	}
	if r.OpenLoop, err = runOpenLoop(b, p, o, r.Load.PPS(), func() string { return vmState(vm) }); err != nil {
		fmt.Fprintf(o.Log, "bench: %s: %v\n", p.Name, err)
	}
	return r
}
