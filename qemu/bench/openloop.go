package bench

import (
	"fmt"
	"image/color"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// OpenLoopOptions sets the open-loop section: latency against offered
// load. Each peer is offered Poisson arrivals at fractions of its own
// closed-loop capacity (the echoes/s measured with Options.InFlight
// outstanding), from well below it to past saturation.
type OpenLoopOptions struct {
	// Fractions of the capacity to offer, in order (DefaultFractions
	// when nil).
	Fractions []float64
	// Duration is measured at each rate (2 s); a negative one skips the
	// section.
	Duration time.Duration
	// WarmUp is offered at each rate before measuring (250 ms).
	WarmUp time.Duration
	// Deadline: a reply later than this counts as lost (Options.Timeout).
	Deadline time.Duration
}

// DefaultFractions are the offered loads of the open-loop section, as
// fractions of a peer's closed-loop capacity.
var DefaultFractions = []float64{0.10, 0.25, 0.50, 0.75, 0.90, 1.00, 1.25, 1.50}

// KneeLimit is the p99 round-trip time a rate must stay under to count
// towards the knee.
const KneeLimit = time.Millisecond

func (o *OpenLoopOptions) defaults(timeout time.Duration) {
	if o.Fractions == nil {
		o.Fractions = DefaultFractions
	}
	if o.Duration == 0 {
		o.Duration = 2 * time.Second
	}
	if o.WarmUp == 0 {
		o.WarmUp = 250 * time.Millisecond
	}
	if o.Deadline == 0 {
		o.Deadline = timeout
	}
}

// total bounds the section's run time.
func (o OpenLoopOptions) total() time.Duration {
	if o.Duration < 0 {
		return 0
	}
	return time.Duration(len(o.Fractions)) * (o.WarmUp + o.Duration + o.Deadline)
}

// OpenLoopPoint is one offered rate of a peer's open-loop run.
type OpenLoopPoint struct {
	// Fraction of the peer's closed-loop capacity offered.
	Fraction float64
	// HostLoad is the host's 1-minute load average after the rate ran
	// (-1 if unknown): on a shared host it says how much else competed
	// with QEMU and the bench for the CPUs.
	HostLoad float64
	// Stalled means no request at this rate was answered, nor any of a
	// few sequential echoes after it: the peer stopped answering, and
	// the higher rates were not offered.
	Stalled bool
	testbench.OpenLoopResult
}

// openLoopSource is the bench's address for open-loop requests; rate i
// sends from port openLoopPort+i, so that a late reply of one rate is
// not counted in the next.
var openLoopSource = netip.MustParseAddr("10.0.2.2")

const openLoopPort = 41000

// runOpenLoop offers p the rates of o, as fractions of capacity, in turn.
// If p stops answering, the log gets what the guest can still say
// (stallReport), for whoever diagnoses it.
func runOpenLoop(b *testbench.Bench, p Peer, o Options, capacity float64, vmState func() string) ([]OpenLoopPoint, error) {
	ol := o.OpenLoop
	if ol.Duration < 0 {
		return nil, nil
	}
	if capacity <= 0 {
		return nil, fmt.Errorf("open loop: no closed-loop capacity to scale the rates by")
	}
	start := time.Now()
	var out []OpenLoopPoint
	for i, f := range ol.Fractions {
		r, err := b.OpenLoop(testbench.OpenLoopOptions{
			Src: netip.AddrPortFrom(openLoopSource, uint16(openLoopPort+i)), Port: p.EchoPort, Size: o.Size,
			Rate: f * capacity, WarmUp: ol.WarmUp, Duration: ol.Duration, Deadline: ol.Deadline,
			Seed: uint64(i + 1),
		})
		if err != nil {
			return out, fmt.Errorf("open loop at %.0f/s: %w", f*capacity, err)
		}
		pt := OpenLoopPoint{Fraction: f, HostLoad: hostLoad(), OpenLoopResult: r}
		if r.Received == 0 {
			pt.Stalled = !answers(b, p, o)
		}
		fmt.Fprintf(o.Log, "bench: %s: open loop %s\n", p.Name, pt.summary())
		out = append(out, pt)
		if pt.Stalled {
			fmt.Fprintf(o.Log, "bench: %s: open loop: the peer stopped answering at %.0f/s; higher rates skipped\n%s", p.Name, pt.Offered, stallReport(b, p, vmState()))
			break
		}
	}
	fmt.Fprintf(o.Log, "bench: %s: open loop took %v\n", p.Name, time.Since(start).Round(100*time.Millisecond))
	return out, nil
}

// stallReport is what a peer that stopped answering echoes still says:
// its driver's, NAPI's and interrupts' counters if its stats service
// answers (then the receive path is alive and the echo service is not),
// and what QEMU says of it (vmState).
func stallReport(b *testbench.Bench, p Peer, vm string) string {
	var r strings.Builder
	if p.StatsPort == 0 {
		return "  no stats service to ask\n" + vm
	}
	for _, sec := range []string{"dev", "napi", "irq"} {
		reply, err := b.Request(benchSource, p.StatsPort, []byte(sec), 2*time.Second)
		if err != nil {
			fmt.Fprintf(&r, "  the stats service did not answer %q either: %v\n", sec, err)
			break
		}
		fmt.Fprintf(&r, "  stats %s:\n%s\n", sec, strings.TrimRight(string(reply), "\n"))
	}
	return r.String() + vm
}

// vmState is the end of vm's console and QEMU's view of its virtio
// devices and their queues (HMP info virtio-status and
// virtio-queue-status: the device's indices, the ISR, what it holds).
func vmState(vm *qemu.VM) string {
	var r strings.Builder
	lines := strings.Split(strings.TrimRight(vm.Console.Text(), "\n"), "\n")
	fmt.Fprintf(&r, "  console, last lines:\n    %s\n", strings.Join(lines[max(0, len(lines)-15):], "\n    "))
	m, err := vm.Monitor()
	if err != nil {
		fmt.Fprintf(&r, "  QEMU monitor: %v\n", err)
		return r.String()
	}
	defer m.Close()
	list, err := m.Command("info virtio")
	if err != nil {
		fmt.Fprintf(&r, "  QEMU monitor: %v\n", err)
		return r.String()
	}
	for _, line := range strings.Split(list, "\n") {
		path, _, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || !strings.HasPrefix(path, "/") {
			continue
		}
		for _, cmd := range []string{"info virtio-status " + path, "info virtio-queue-status " + path + " 0", "info virtio-queue-status " + path + " 1"} {
			out, err := m.Command(cmd)
			if err != nil {
				out = err.Error()
			}
			fmt.Fprintf(&r, "  QEMU %s:\n    %s\n", cmd, strings.ReplaceAll(strings.TrimSpace(out), "\n", "\n    "))
			r.WriteString(ringWords(m, out))
		}
	}
	return r.String()
}

// ringWords reads, from guest memory, the ring words the driver and the
// device exchange for the queue a virtio-queue-status reply describes:
// avail flags, idx and used_event; used flags, idx and avail_event.
func ringWords(m *qemu.Monitor, status string) string {
	var num, avail, used uint64
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "num":
			num, _ = strconv.ParseUint(v, 0, 64)
		case "avail":
			avail, _ = strconv.ParseUint(v, 0, 64)
		case "used":
			used, _ = strconv.ParseUint(v, 0, 64)
		}
	}
	if num == 0 || avail == 0 || used == 0 {
		return ""
	}
	var r strings.Builder
	for _, w := range []struct {
		name  string
		addr  uint64
		words int
	}{
		{"avail flags, idx", avail, 2}, {"used_event", avail + 4 + 2*num, 1},
		{"used flags, idx", used, 2}, {"avail_event", used + 4 + 8*num, 1},
	} {
		out, err := m.Command(fmt.Sprintf("xp /%dhx 0x%x", w.words, w.addr))
		if err != nil {
			out = err.Error()
		}
		fmt.Fprintf(&r, "    %s: %s\n", w.name, strings.TrimSpace(out))
	}
	return r.String()
}

// answers says whether p answers any of a few sequential echoes.
func answers(b *testbench.Bench, p Peer, o Options) bool {
	r := b.Echo(testbench.EchoOptions{Src: benchSource, Port: p.EchoPort, Size: o.Size, InFlight: 1,
		Count: 5, Timeout: time.Second})
	return r.Received > 0
}

// hostLoad returns the host's 1-minute load average, -1 if unknown.
func hostLoad() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

func (pt OpenLoopPoint) summary() string {
	return fmt.Sprintf("%3.0f %%: offered %.0f/s, achieved %.0f/s, p50 %s p99 %s p99.9 %s, loss %.2f %%, send lateness p99 %s, host load %.1f",
		pt.Fraction*100, pt.Offered, pt.Achieved, pctl(pt.OpenLoopResult, 0.5), pctl(pt.OpenLoopResult, 0.99),
		pctl(pt.OpenLoopResult, 0.999), pt.LossPct(), us(pt.LatenessAt(0.99)), pt.HostLoad)
}

// pctl renders a percentile of r, "> deadline" when it falls among the
// lost.
func pctl(r testbench.OpenLoopResult, q float64) string {
	d, ok := r.Percentile(q)
	if !ok {
		return fmt.Sprintf("> %s", ms(r.Deadline))
	}
	return us(d)
}

// Knee returns the highest offered rate among pts whose p99 round-trip
// time is under limit; ok is false when none is.
func Knee(pts []OpenLoopPoint, limit time.Duration) (rate float64, ok bool) {
	for _, pt := range pts {
		if d, answered := pt.Percentile(0.99); answered && d < limit && pt.Offered > rate {
			rate, ok = pt.Offered, true
		}
	}
	return rate, ok
}

// atOrAbove returns the point of pts with the lowest offered rate not
// below rate: under a latency that does not fall as load rises, its p99
// bounds the p99 at rate from above.
func atOrAbove(pts []OpenLoopPoint, rate float64) (OpenLoopPoint, bool) {
	var best OpenLoopPoint
	found := false
	for _, pt := range pts {
		if pt.Offered >= rate && (!found || pt.Offered < best.Offered) {
			best, found = pt, true
		}
	}
	return best, found
}

// OpenLoopMarkdown renders the open-loop section: per peer and offered
// rate the achieved rate, RTT percentiles, loss and the sender's
// lateness, then each peer's knee. Empty when no peer ran it.
func OpenLoopMarkdown(rs []Result, o Options) string {
	o.defaults()
	var b strings.Builder
	for _, r := range rs {
		if len(r.OpenLoop) == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("| peer | offered/s (of capacity) | achieved/s | RTT p50 | RTT p99 | RTT p99.9 | loss | send lateness p99 | host load |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
		}
		for _, pt := range r.OpenLoop {
			load := "n/a"
			if pt.HostLoad >= 0 {
				load = fmt.Sprintf("%.1f", pt.HostLoad)
			}
			fmt.Fprintf(&b, "| %s | %.0f (%.0f %%) | %.0f | %s | %s | %s | %.2f %% | %s | %s |\n", r.Peer, pt.Offered, pt.Fraction*100,
				pt.Achieved, pctl(pt.OpenLoopResult, 0.5), pctl(pt.OpenLoopResult, 0.99), pctl(pt.OpenLoopResult, 0.999),
				pt.LossPct(), us(pt.LatenessAt(0.99)), load)
			if pt.Stalled {
				fmt.Fprintf(&b, "| %s | stopped answering: no reply at %.0f/s nor to sequential echoes after it; higher rates not offered | | | | | | | |\n", r.Peer, pt.Offered)
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	fmt.Fprintf(&b, "\n| peer | capacity (echoes/s, %d in flight) | knee (highest offered rate with p99 < %s) |\n|---|---|---|\n", o.InFlight, us(KneeLimit))
	for _, r := range rs {
		if len(r.OpenLoop) == 0 {
			continue
		}
		knee := "none: p99 ≥ " + us(KneeLimit) + " at every rate"
		if k, ok := Knee(r.OpenLoop, KneeLimit); ok {
			knee = fmt.Sprintf("%.0f/s", k)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s |\n", r.Peer, r.Load.PPS(), knee)
	}
	ol := o.OpenLoop
	fmt.Fprintf(&b, "\nOpen loop: %d-byte requests sent at the arrivals of a Poisson process of the offered rate, whatever the replies do (a late send goes out late, never skipped; the achieved rate and the sender's lateness say how well the host kept the schedule); %v measured per rate after %v of warm-up; a reply later than %v counts as lost, and a percentile falling among the lost reads \"> %s\". Host load is the 1-minute load average after the rate ran, on %d CPUs.\n",
		o.Size, ol.Duration, ol.WarmUp, ol.Deadline, ms(ol.Deadline), runtime.NumCPU())
	return b.String()
}

// openLoopPlot writes openloop.png: round-trip time against offered
// load, p50 on the left and p99 on the right, both axes logarithmic, one
// line per peer, with the knee's limit drawn across. A percentile beyond
// the deadline is drawn at the deadline. It returns "" when no peer ran
// the open loop.
func openLoopPlot(rs []Result, dir string) (string, error) {
	var peers []Result
	for _, r := range rs {
		if len(r.OpenLoop) > 0 {
			peers = append(peers, r)
		}
	}
	if len(peers) == 0 {
		return "", nil
	}
	row := make([]*plot.Plot, 0, 2)
	for _, q := range []float64{0.5, 0.99} {
		p, err := openLoopPanel(peers, q)
		if err != nil {
			return "", err
		}
		row = append(row, p)
	}
	const w, h = 14 * vg.Inch, 6 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	for i, c := range plot.Align([][]*plot.Plot{row}, tiles, dc)[0] {
		row[i].Draw(c)
	}
	f := filepath.Join(dir, "openloop.png")
	out, err := os.Create(f)
	if err != nil {
		return "", err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(out); err != nil {
		out.Close()
		return "", err
	}
	return f, out.Close()
}

// openLoopPanel plots the q-quantile of every peer's round-trip time
// against offered load. The latency axis reaches above the highest point
// so that the legend, top left, stays clear of the lines.
func openLoopPanel(peers []Result, q float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("UDP echo RTT p%.0f against offered load (open loop, Poisson arrivals)", q*100)
	p.X.Label.Text = "offered load (requests/s)"
	p.Y.Label.Text = fmt.Sprintf("RTT p%.0f (ms)", q*100)
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = ticks125{}, ticks125{}
	lo, hi, top := math.Inf(1), 0.0, 0.0
	for n, r := range peers {
		xy := make(plotter.XYs, 0, len(r.OpenLoop))
		for _, pt := range r.OpenLoop {
			d, ok := pt.Percentile(q)
			if !ok {
				d = pt.Deadline
			}
			y := math.Max(0.001, float64(d)/1e6)
			xy = append(xy, plotter.XY{X: pt.Offered, Y: y})
			lo, hi, top = math.Min(lo, pt.Offered), math.Max(hi, pt.Offered), math.Max(top, y)
		}
		line, points, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		line.Color, points.Color = plotutil.Color(n), plotutil.Color(n)
		line.Width = vg.Points(1.5)
		points.Shape = plotutil.Shape(n)
		p.Add(line, points)
		p.Legend.Add(r.Peer, line, points)
	}
	knee := float64(KneeLimit) / 1e6
	limit, err := plotter.NewLine(plotter.XYs{{X: lo, Y: knee}, {X: hi, Y: knee}})
	if err != nil {
		return nil, err
	}
	limit.Dashes = []vg.Length{vg.Points(2), vg.Points(3)}
	limit.Color = color.Gray{Y: 0x60}
	p.Add(limit, plotter.NewGrid())
	p.Legend.Add(fmt.Sprintf("knee limit (p99 %v)", KneeLimit), limit)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Y.Max = math.Max(top, knee) * 8
	return p, nil
}

// ticks125 marks a logarithmic axis at 1, 2 and 5 times the powers of
// ten, labelled, and at the other integer multiples, unlabelled: the
// open-loop plot spans less than two decades, where plot.LogTicks would
// label one or two values.
type ticks125 struct{}

// Ticks implements plot.Ticker.
func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	if lo <= 0 || hi <= lo {
		return out
	}
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		p := math.Pow(10, e)
		for m := 1.0; m < 10; m++ {
			v := m * p
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'f', -1, 64)
			}
			out = append(out, t)
		}
	}
	return out
}
