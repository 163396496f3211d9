//go:build tamago

package board

import (
	"math"
	"math/bits"
	"sync/atomic"
	"unsafe"
	_ "unsafe"
)

// Clock sources, as reported by ClockSource.
const (
	ClockProvisional = "provisional" // before init: TSC counted as if 1 GHz
	ClockPVClock     = "kvm-pvclock"
	ClockHostTSC     = "tsc (host rate from kaidoku.tsc_khz=)"
	ClockPITTSC      = "tsc (calibrated against the PIT)"
)

// tscClock converts TSC counts to nanoseconds as
// ns = base + ((tsc - tscBase) * mult) >> 32, continuous across changes of
// rate so that the runtime's monotonic time never jumps backwards.
type tscClock struct {
	tscBase uint64
	nsBase  int64
	mult    uint64 // ns per TSC tick, 32.32 fixed point
	hz      uint64
}

// provisional serves the runtime from its first instruction, before any
// package init runs (so it must be statically initialised).
var provisional = tscClock{mult: 1 << 32, hz: 1e9}

var (
	// clk is replaced only during board init, before the other CPUs start.
	clk       = &provisional
	clkSource = ClockProvisional
	pvti      *pvclockInfo // non-nil when the KVM pvclock drives time
	pvOff     int64        // added to pvclock time to keep Nanotime continuous
)

func (c *tscClock) nanos(tsc uint64) int64 {
	hi, lo := bits.Mul64(tsc-c.tscBase, c.mult)
	return c.nsBase + int64(hi<<32|lo>>32)
}

// setTSCRate switches the clock to hz TSC ticks per second from now on.
func setTSCRate(hz uint64, source string) {
	now := rdtsc()
	clk = &tscClock{
		tscBase: now,
		nsBase:  clk.nanos(now),
		mult:    (uint64(1e9) << 32) / hz,
		hz:      hz,
	}
	clkSource = source
}

//go:linkname nanotime runtime/goos.Nanotime
func nanotime() int64 {
	if p := pvti; p != nil {
		return p.read(rdtsc()) + pvOff
	}
	return clk.nanos(rdtsc())
}

// Nanotime returns the board's monotonic time in nanoseconds, the clock
// behind time.Now and every latency figure.
func Nanotime() int64 { return nanotime() }

// TSCToNanotime converts a TSC value read on this CPU (a hard-IRQ
// timestamp) to the time base of Nanotime.
func TSCToNanotime(tsc uint64) int64 {
	if p := pvti; p != nil {
		return p.read(tsc) + pvOff
	}
	return clk.nanos(tsc)
}

// ClockSource reports which source drives the clock.
func ClockSource() string { return clkSource }

// TSCHz reports the TSC frequency in use, in Hz.
func TSCHz() uint64 {
	if p := pvti; p != nil {
		return p.hz()
	}
	return clk.hz
}

// pvclockInfo is struct pvclock_vcpu_time_info, shared with KVM
// (Documentation/virt/kvm/x86/msr.rst, MSR_KVM_SYSTEM_TIME_NEW).
type pvclockInfo struct {
	// +checkatomic
	version  uint32 // the host's seqcount
	_        uint32
	tscStamp uint64
	systemNs uint64
	mul      uint32
	shift    int8
	flags    uint8
	_        [2]uint8
}

const (
	msrKVMSystemTime    = 0x12
	msrKVMSystemTimeNew = 0x4b564d01
)

// read follows pvclock_clocksource_read: retry while the host is updating
// (odd version) or the version changed under us.
func (p *pvclockInfo) read(tsc uint64) int64 {
	for {
		v := atomic.LoadUint32(&p.version)
		if v&1 != 0 {
			continue
		}
		stamp, sys, mul, shift := p.tscStamp, p.systemNs, p.mul, p.shift
		if atomic.LoadUint32(&p.version) != v {
			continue
		}
		d := tsc - stamp
		if shift < 0 {
			d >>= uint(-shift)
		} else {
			d <<= uint(shift)
		}
		hi, lo := bits.Mul64(d, uint64(mul))
		return int64(sys + (hi<<32 | lo>>32))
	}
}

// hz inverts the pvclock scale: ns = (tsc << shift) * mul >> 32.
func (p *pvclockInfo) hz() uint64 {
	s := float64(p.mul) / (1 << 32)
	if p.shift < 0 {
		s /= float64(uint64(1) << uint(-p.shift))
	} else {
		s *= float64(uint64(1) << uint(p.shift))
	}
	return uint64(math.Round(1e9 / s))
}

// startPVClock registers a pvclock page with KVM and makes it the time
// source. It reports false if KVM never filled the page.
func startPVClock(newMSR bool) bool {
	addr, buf := DMA.Reserve(int(unsafe.Sizeof(pvclockInfo{})), 64)
	for i := range buf {
		buf[i] = 0
	}
	p := (*pvclockInfo)(unsafe.Pointer(&buf[0]))
	msr := uint32(msrKVMSystemTime)
	if newMSR {
		msr = msrKVMSystemTimeNew
	}
	wrmsr(msr, uint64(addr)|1)
	// KVM fills the page before the guest runs again; keep time
	// continuous (and monotonic) across the switch.
	for i := 0; atomic.LoadUint32(&p.version) == 0; i++ {
		if i == 1<<24 {
			return false
		}
	}
	before := nanotime()
	if off := before - p.read(rdtsc()); off > 0 {
		pvOff = off
	}
	pvti = p
	clkSource = ClockPVClock
	return true
}
