package bench

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// XDPDropSource is the flood's source address, the one the XDP_DROP run
// boots the image to drop (kaidoku.xdp.drop=).
var XDPDropSource = netip.MustParseAddr("10.0.2.66")

// XDPDropOptions sets the XDP_DROP run. Zero values take the defaults.
type XDPDropOptions struct {
	// Count is the flood's frames (1,000,000).
	Count uint64
	// Size is the flood's and the echo's payload bytes (64).
	Size int
	// Idle is how long the echo is probed before the flood (3 s).
	Idle time.Duration
	// Backlog holds the flood while QEMU's socket has this many bytes
	// queued (64 KiB): the flood goes as fast as QEMU takes frames. The
	// echo's requests wait behind what is queued there, so the backlog
	// bounds what the flood adds to their round trip before the guest
	// sees them.
	Backlog   int64
	BootLimit time.Duration // READY must come within this (60 s)
	Log       io.Writer     // progress (os.Stderr)
}

func (o *XDPDropOptions) defaults() {
	if o.Count == 0 {
		o.Count = 1_000_000
	}
	if o.Size == 0 {
		o.Size = 64
	}
	if o.Idle == 0 {
		o.Idle = 3 * time.Second
	}
	if o.Backlog == 0 {
		o.Backlog = 64 << 10
	}
	if o.BootLimit == 0 {
		o.BootLimit = 60 * time.Second
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
}

// XDPDropResult is what the XDP_DROP run measured.
type XDPDropResult struct {
	Accel qemu.Accel
	// Sent is the flood's frames; HostLost those the host dropped before
	// QEMU read them; Dropped the guest's xdp_drops over the run.
	Sent, HostLost, Dropped uint64
	// Elapsed runs from the flood's first frame until the guest had
	// dropped all it received.
	Elapsed time.Duration
	// Passed is what reached the stack meanwhile (Udp.InDatagrams),
	// the echo probe and the stats requests.
	Passed int64
	// Idle and Flood are the echo probe's round trips, one request at a
	// time, before and during the flood.
	Idle, Flood testbench.EchoResult
	Err         error
}

// Rate returns the frames dropped per second.
func (r XDPDropResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Dropped) / r.Elapsed.Seconds()
}

// RunXDPDrop boots cfg (kaidoku's image; the network and
// kaidoku.xdp.drop are added) and floods it from XDPDropSource while
// probing its UDP echo from the bench's address: the XDP_DROP rate, and
// what the flood does to the echo's round-trip time.
func RunXDPDrop(cfg qemu.Config, guestIP netip.Addr, o XDPDropOptions) (r XDPDropResult) {
	o.defaults()
	gm, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(gm, guestIP)
	if err != nil {
		r.Err = err
		return
	}
	defer b.Close()
	cfg.Net = nd
	cfg.MAC = qemu.MACFor(1)
	cfg.Append = append(cfg.Append, "kaidoku.xdp.drop="+XDPDropSource.String())
	cfg.Lifetime = o.BootLimit + 30*time.Minute
	vm, err := qemu.Start(cfg)
	if err != nil {
		r.Err = err
		return
	}
	defer vm.Close()
	if _, err := vm.WaitReady(o.BootLimit); err != nil {
		r.Err = err
		return
	}
	r.Accel = vm.Accel
	sc := b.StatsClient()
	st0, err := sc.All()
	if err != nil {
		r.Err = err
		return
	}
	fc0, err := b.FrameCounts()
	if err != nil {
		r.Err = err
		return
	}
	probe := b.StartEchoProbe(testbench.EchoProbeOptions{Src: netip.AddrPortFrom(benchSource.Addr(), benchSource.Port()+1), Port: 7, Size: o.Size, Timeout: 500 * time.Millisecond})
	probe.Mark("idle")
	time.Sleep(o.Idle)
	probe.Mark("flood")
	start := time.Now()
	fl := b.StartFlood(testbench.FloodConfig{Src: netip.AddrPortFrom(XDPDropSource, 5000), Port: 7, Size: o.Size,
		Count: o.Count, Backlog: o.Backlog})
	fmt.Fprintf(o.Log, "bench: XDP_DROP: flooding %d frames\n", o.Count)
	fr := fl.Wait()
	// Until the guest has dropped what QEMU still held.
	var st *testbench.Stats
	deadline := time.Now().Add(time.Minute)
	for {
		fc, err := b.FrameCounts()
		if err == nil {
			r.HostLost = uint64(fc.Backend.Drops - fc0.Backend.Drops)
		}
		if st, err = sc.All(); err != nil {
			probe.Stop()
			r.Err = err
			return
		}
		r.Dropped = uint64(st.Counter("dev.rx.xdp_drops") - st0.Counter("dev.rx.xdp_drops"))
		if r.Dropped+r.HostLost >= fr.Sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Elapsed = time.Since(start)
	_, res := probe.Stop()
	r.Sent = fr.Sent
	r.Passed = st.Counter("Udp.InDatagrams") - st0.Counter("Udp.InDatagrams")
	r.Idle, r.Flood = res["idle"], res["flood"]
	if r.Dropped+r.HostLost != r.Sent {
		r.Err = fmt.Errorf("xdp_drops %d and %d lost by the host for a flood of %d", r.Dropped, r.HostLost, r.Sent)
	}
	return r
}

// XDPDropMarkdown renders the XDP_DROP run as a table row, with the
// goal it is held to: the echo's RTT p99 during the flood within twice
// its idle value.
func XDPDropMarkdown(r XDPDropResult, o XDPDropOptions) string {
	o.defaults()
	var b strings.Builder
	b.WriteString("| XDP_DROP (kaidoku.xdp.drop) | flood frames | dropped by XDP | lost by the host | drops/s | echo RTT p50 / p99 idle | echo RTT p50 / p99 during the flood | echo lost during the flood |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	if r.Err != nil && r.Sent == 0 {
		fmt.Fprintf(&b, "| kaidoku | failed: %s | | | | | | |\n", oneLine(r.Err.Error()))
		return b.String()
	}
	fmt.Fprintf(&b, "| kaidoku | %d | %d | %d | %.0f | %s / %s | %s / %s | %d of %d |\n",
		r.Sent, r.Dropped, r.HostLost, r.Rate(), us(r.Idle.Percentile(0.5)), us(r.Idle.Percentile(0.99)),
		us(r.Flood.Percentile(0.5)), us(r.Flood.Percentile(0.99)), r.Flood.Lost, r.Flood.Sent)
	fmt.Fprintf(&b, "\nA flood of %d-byte UDP datagrams to the echo port from %s, which the image drops with an XDP program in the driver's poll, offered as fast as QEMU reads them, with at most %d KiB queued in QEMU's socket (the echo's requests wait behind them); meanwhile the echo is probed from another address, one request at a time. Accelerator: %s.\n",
		o.Size, XDPDropSource, o.Backlog>>10, r.Accel)
	if r.Err != nil {
		fmt.Fprintf(&b, "\nThe run did not add up: %s\n", oneLine(r.Err.Error()))
	}
	if p99i, p99f := r.Idle.Percentile(0.99), r.Flood.Percentile(0.99); p99i > 0 && p99f > 0 {
		mark := "not met"
		if p99f <= 2*p99i {
			mark = "met"
		}
		fmt.Fprintf(&b, "\n- %s: echo RTT p99 during the XDP_DROP flood within 2× its idle value: %s vs %s (%.1f×)\n",
			mark, us(p99f), us(p99i), float64(p99f)/float64(p99i))
	}
	return b.String()
}
