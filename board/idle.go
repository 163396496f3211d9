//go:build tamago

package board

import (
	"math"
	"sync/atomic"
)

// Local APIC timer registers (Intel SDM Vol. 3A 10.5.4).
const (
	lapicBase       = 0xfee00000
	lapicSVR        = lapicBase + 0x0f0
	lapicLVTTimer   = lapicBase + 0x320
	lapicTimerInit  = lapicBase + 0x380
	lapicTimerCount = lapicBase + 0x390
	lapicTimerDiv   = lapicBase + 0x3e0

	lvtMasked = 1 << 16
	svrEnable = 1 << 8
	divideBy1 = 0b1011

	// wakeVector is tamago's IRQ_WAKEUP: its IDT gate only acknowledges
	// the LAPIC and returns, which is all a wake-up from HLT needs.
	wakeVector = 255
)

// idleSpin is the shortest wait worth arming the timer for; below it the
// runtime's own timer check comes round sooner than a halt and wake-up.
const idleSpin = 20_000 // ns

var (
	lapicHz    uint64
	idtReady   atomic.Bool
	haltCount  atomic.Uint64
	timerWakes atomic.Uint64
)

// calibrateLAPIC software-enables the bootstrap processor's LAPIC (tamago
// does so only for the APs; until then its timer cannot be unmasked) and
// measures the timer's rate against the (already correct) TSC clock over
// 2 ms, enough for arming idle wake-ups to 0.1 %. Spurious interrupts go
// to the wake vector, which is harmless.
func calibrateLAPIC() {
	mmioWrite32(lapicSVR, mmioRead32(lapicSVR)|svrEnable|wakeVector)
	mmioWrite32(lapicTimerDiv, divideBy1)
	mmioWrite32(lapicLVTTimer, lvtMasked|wakeVector)
	mmioWrite32(lapicTimerInit, math.MaxUint32)
	start := nanotime()
	for nanotime()-start < 2e6 {
	}
	left := mmioRead32(lapicTimerCount)
	end := nanotime()
	mmioWrite32(lapicTimerInit, 0)
	lapicHz = uint64(math.MaxUint32-left) * 1e9 / uint64(end-start)
}

// LAPICTimerHz reports the measured LAPIC timer rate.
func LAPICTimerHz() uint64 { return lapicHz }

// wakeGateReady reports whether IDT vector 255 has a present gate, which
// tamago installs when the interrupt service goroutine starts.
func wakeGateReady() bool {
	if idtReady.Load() {
		return true
	}
	base, limit := sidt()
	if int(limit) < wakeVector*16+15 {
		return false
	}
	if mmioRead8(base+wakeVector*16+5)&0x80 == 0 {
		return false
	}
	idtReady.Store(true)
	return true
}

// idle is the runtime's idle hook (goos.Idle): with no goroutine runnable
// it halts until the next interrupt, arming the LAPIC timer in one-shot
// mode for the next Go timer. QEMU's TCG APIC has no TSC-deadline mode, so
// tamago's SetAlarm cannot be used there; one-shot works on TCG and KVM
// alike.
func idle(pollUntil int64) {
	armed := false
	if pollUntil != math.MaxInt64 {
		d := pollUntil - nanotime()
		if d <= idleSpin || lapicHz == 0 || !wakeGateReady() {
			return
		}
		ticks := uint64(d) * lapicHz / 1e9
		if ticks > math.MaxUint32 {
			ticks = math.MaxUint32
		}
		// With interrupts masked from arming to halting, a timer that
		// expires early stays pending and ends the HLT at once: unmasked,
		// it could be taken and acknowledged before the HLT, which would
		// then sleep past the timer, until some other interrupt (forever
		// when the device is idle). tamago's wfi executes STI;HLT, and
		// STI's one-instruction shadow keeps the pair atomic.
		cli()
		mmioWrite32(lapicLVTTimer, wakeVector) // one-shot, unmasked
		mmioWrite32(lapicTimerInit, uint32(ticks))
		armed = true
	}
	haltCount.Add(1)
	CPU.WaitInterrupt()
	if armed {
		if mmioRead32(lapicTimerCount) == 0 {
			timerWakes.Add(1)
		} else {
			mmioWrite32(lapicTimerInit, 0)
		}
	}
}

// IdleStats reports how often the CPU halted and how many of those halts
// ended by the one-shot timer rather than a device interrupt.
func IdleStats() (halts, timerWakeups uint64) {
	return haltCount.Load(), timerWakes.Load()
}
