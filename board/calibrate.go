//go:build tamago

package board

// PIT channel 0 (i8254) ports and its input clock.
const (
	pitData0 = 0x40
	pitCmd   = 0x43
	pitHz    = 1193182
)

type pitSample struct {
	ticks uint64 // PIT ticks since the first read
	tsc   uint64 // TSC at the middle of the read
	width uint64 // TSC ticks the read took
}

// calibrateTSC measures the TSC rate against PIT channel 0 for about ms
// milliseconds. Each PIT read is bracketed by two TSC reads; reads that took
// much longer than the fastest one (the host preempted QEMU in between) are
// left out, and the rate is the least-squares slope of TSC over PIT time.
func calibrateTSC(ms int) (hz uint64, ok bool) {
	outb(pitCmd, 0x34) // channel 0, lobyte/hibyte, mode 2 (rate generator), binary
	outb(pitData0, 0)  // reload 65536: wraps every 54.9 ms
	outb(pitData0, 0)

	read := func() (uint16, uint64, uint64) {
		t1 := rdtsc()
		outb(pitCmd, 0x00) // latch channel 0
		lo := inb(pitData0)
		hi := inb(pitData0)
		t2 := rdtsc()
		return uint16(hi)<<8 | uint16(lo), t1 + (t2-t1)/2, t2 - t1
	}

	target := uint64(ms) * pitHz / 1000
	samples := make([]pitSample, 0, 1<<14)
	prev, tsc, w := read()
	samples = append(samples, pitSample{0, tsc, w})
	var elapsed uint64
	stuck := 0
	for elapsed < target {
		cur, tsc, w := read()
		d := uint64(prev-cur) & 0xffff // the counter counts down
		prev = cur
		if d == 0 {
			if stuck++; stuck > 1<<20 {
				return 0, false // no PIT (pit=off): the counter never moves
			}
			continue
		}
		stuck = 0
		elapsed += d
		s := pitSample{elapsed, tsc, w}
		if len(samples) < cap(samples) {
			samples = append(samples, s)
		} else {
			samples[len(samples)-1] = s
		}
	}

	minW := samples[0].width
	for _, s := range samples {
		minW = min(minW, s.width)
	}
	limit := 2*minW + 64

	var n, sx, sy float64
	x0, y0 := float64(samples[0].ticks), float64(samples[0].tsc)
	for _, s := range samples {
		if s.width <= limit {
			n++
			sx += float64(s.ticks) - x0
			sy += float64(s.tsc) - y0
		}
	}
	if n < 16 {
		return 0, false
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for _, s := range samples {
		if s.width <= limit {
			dx := float64(s.ticks) - x0 - mx
			dy := float64(s.tsc) - y0 - my
			sxy += dx * dy
			sxx += dx * dx
		}
	}
	if sxx == 0 {
		return 0, false
	}
	return uint64(sxy / sxx * pitHz), true
}
