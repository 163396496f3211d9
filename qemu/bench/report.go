package bench

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Markdown renders the results as a table.
func Markdown(rs []Result, o Options) string {
	o.defaults()
	var b strings.Builder
	fmt.Fprintf(&b, "| peer | RTT p50 | RTT p99 | echoes/s (%d in flight) | loss | irq→wakeup p50 | irq→wakeup p99 | boot to READY | image | memory in use | QEMU CPU (RTT / load) |\n", o.InFlight)
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		if r.Err != nil {
			fmt.Fprintf(&b, "| %s | failed: %s | | | | | | | | | |\n", r.Peer, oneLine(r.Err.Error()))
			continue
		}
		lp50, lp99 := "n/a", "n/a"
		if l := r.Latency["total"]; l != nil && l.Count > 0 {
			lp50, lp99 = us(l.P50), us(l.P99)
		}
		mem := "n/a"
		if r.MemInUse >= 0 {
			mem = fmt.Sprintf("%.1f MiB", float64(r.MemInUse)/(1<<20))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.0f | %.2f %% | %s | %s | %s | %.1f MiB | %s | %s / %s |\n",
			r.Peer, us(r.RTT.Percentile(0.5)), us(r.RTT.Percentile(0.99)), r.Load.PPS(), r.Load.LossPct(),
			lp50, lp99, ms(r.BootReady), float64(r.ImageBytes)/(1<<20), mem, cores(r.CPURTT), cores(r.CPULoad))
	}
	fmt.Fprintf(&b, "\n%d-byte UDP payloads; RTT over %d sequential echoes; throughput over %v with %d requests in flight, a request unanswered after %v counted lost; boot to READY is the median of %d boots. Accelerator: %s.\n",
		o.Size, o.RTTCount, o.LoadTime, o.InFlight, o.Timeout, o.BootRuns, accelOf(rs))
	return b.String()
}

func accelOf(rs []Result) string {
	for _, r := range rs {
		if r.Accel != "" {
			return string(r.Accel)
		}
	}
	return "unknown"
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.ReplaceAll(s, "|", "/")
}

func cores(c float64) string {
	if c < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f %%", c*100)
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }
func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/1e6) }

// Plots writes rtt.png (the distribution of sequential round-trip times,
// as a CDF) and, for peers that measure it, irq-wakeup.png (the
// interrupt-to-wakeup distributions) into dir, returning the files.
func Plots(rs []Result, dir string) ([]string, error) {
	var files []string
	p := plot.New()
	p.Title.Text = "UDP echo round-trip time (sequential)"
	p.X.Label.Text = "RTT (µs)"
	p.Y.Label.Text = "fraction of echoes ≤ x"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	var lines []interface{}
	for _, r := range rs {
		if r.Err != nil || len(r.RTT.RTTs) == 0 {
			continue
		}
		n := len(r.RTT.RTTs)
		xy := make(plotter.XYs, 0, 200)
		for i := 0; i < 200; i++ {
			j := i * (n - 1) / 199
			xy = append(xy, plotter.XY{X: math.Max(1, float64(r.RTT.RTTs[j])/1e3), Y: float64(j+1) / float64(n)})
		}
		lines = append(lines, r.Peer, xy)
	}
	if len(lines) > 0 {
		if err := plotutil.AddLines(p, lines...); err != nil {
			return nil, err
		}
		f := filepath.Join(dir, "rtt.png")
		if err := p.Save(8*vg.Inch, 5*vg.Inch, f); err != nil {
			return nil, err
		}
		files = append(files, f)
	}

	q := plot.New()
	q.Title.Text = "Interrupt to application wakeup (T3−T0) and its parts"
	q.X.Label.Text = "latency (µs)"
	q.Y.Label.Text = "fraction of datagrams ≤ x"
	q.X.Scale = plot.LogScale{}
	q.X.Tick.Marker = plot.LogTicks{Prec: -1}
	n := 0
	for _, r := range rs {
		for _, part := range []string{"total", "irq_to_poll", "stack", "wakeup"} {
			l := r.Latency[part]
			if l == nil || l.Count == 0 || len(l.Buckets) == 0 {
				continue
			}
			xy := make(plotter.XYs, 0, len(l.Buckets))
			var cum uint64
			for _, bk := range l.Buckets {
				cum += bk.Count
				xy = append(xy, plotter.XY{X: math.Max(0.1, float64(bk.Upper)/1e3), Y: float64(cum) / float64(l.Count)})
			}
			line, err := plotter.NewLine(xy)
			if err != nil {
				return files, err
			}
			line.Color = plotutil.Color(n)
			if part != "total" {
				line.Dashes = plotutil.Dashes(1 + n%3)
				line.Width = vg.Points(0.8)
			} else {
				line.Width = vg.Points(2)
			}
			q.Add(line)
			q.Legend.Add(r.Peer+" "+part, line)
			n++
		}
	}
	if n > 0 {
		q.Legend.Top = false
		q.Legend.Left = false
		q.Add(plotter.NewGrid())
		f := filepath.Join(dir, "irq-wakeup.png")
		if err := q.Save(8*vg.Inch, 5*vg.Inch, f); err != nil {
			return files, err
		}
		files = append(files, f)
	}
	f, err := openLoopPlot(rs, dir)
	if f != "" {
		files = append(files, f)
	}
	return files, err
}
