//go:build tamago

package board

import (
	"strconv"
	"strings"
)

// bootPhase is one step of the board's start-up, stamped with the TSC
// when it ended.
type bootPhase struct {
	name string
	tsc  uint64
}

var (
	// tscAtHwinit1 is the TSC when the runtime first ran board code. The
	// TSC counts from the VM's start: QEMU's TCG starts its tick count at
	// zero when the machine starts running, and KVM sets the guest's TSC
	// to zero at vCPU reset. So it measures firmware, loading the ELF and
	// the runtime's own start.
	tscAtHwinit1 uint64
	// bootPhases are package init's steps, in order.
	bootPhases []bootPhase
)

// stampBootPhase records the end of an init step.
func stampBootPhase(name string) {
	bootPhases = append(bootPhases, bootPhase{name, rdtsc()})
}

// BootTimes returns the board's start-up as one line: the time from the
// VM's start to the runtime's first board code, then each step of the
// board's init, in milliseconds of the board clock's TSC rate. With
// Linux's initcall_debug as model, it is where to look when boot to READY
// grows.
func BootTimes() string {
	hz := TSCHz()
	if hz == 0 {
		return ""
	}
	ms := func(ticks uint64) string {
		return strconv.FormatFloat(float64(ticks)*1e3/float64(hz), 'f', 1, 64)
	}
	var b strings.Builder
	b.WriteString("boot: runtime at " + ms(tscAtHwinit1) + " ms; board init")
	prev := tscAtHwinit1
	for _, p := range bootPhases {
		b.WriteString(" " + p.name + " " + ms(p.tsc-prev))
		prev = p.tsc
	}
	b.WriteString(" ms; devices found at " + ms(prev) + " ms, this line at " + ms(rdtsc()) + " ms\n")
	return b.String()
}
