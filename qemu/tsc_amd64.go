package qemu

import (
	"os"
	"strings"
	"time"
)

func rdtsc() uint64

// HostTSCkHz measures the host's TSC rate against the monotonic clock over
// about 100 ms. Under TCG the guest's TSC runs at exactly this rate, so the
// image can take it (kaidoku.tsc_khz=) instead of calibrating against an emulated
// timer that host load disturbs. It reports false when the TSC is not
// invariant.
func HostTSCkHz() (uint64, bool) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil || !strings.Contains(string(info), "constant_tsc") || !strings.Contains(string(info), "nonstop_tsc") {
		return 0, false
	}
	sample := func() (uint64, time.Time) {
		// Bracket the clock read and keep the tightest of a few tries.
		var best uint64 = ^uint64(0)
		var tsc uint64
		var at time.Time
		for i := 0; i < 16; i++ {
			a := rdtsc()
			t := time.Now()
			b := rdtsc()
			if b-a < best {
				best, tsc, at = b-a, a+(b-a)/2, t
			}
		}
		return tsc, at
	}
	c0, t0 := sample()
	time.Sleep(100 * time.Millisecond)
	c1, t1 := sample()
	ns := t1.Sub(t0).Nanoseconds()
	if ns <= 0 || c1 <= c0 {
		return 0, false
	}
	return uint64((float64(c1-c0)*1e6/float64(ns) + 0.5)), true
}
