//go:build tamago

package board

import (
	"runtime"
	"runtime/goos"
	"strconv"
	"sync/atomic"
	"time"
	_ "unsafe"

	"github.com/kaidoku-net/kaidoku/board/cmdline"
	"github.com/usbarmory/tamago/amd64"
	"github.com/usbarmory/tamago/dma"
	"github.com/usbarmory/tamago/soc/intel/ioapic"
	"github.com/usbarmory/tamago/soc/intel/uart"
)

// Peripheral instances of the microvm machine.
var (
	// CPU is the bootstrap processor.
	CPU = &amd64.CPU{TimerMultiplier: 1}

	// IOAPIC0 serves GSIs 0-23 and IOAPIC1 GSIs 24-47.
	IOAPIC0 = &ioapic.IOAPIC{Index: 0, Base: 0xfec00000, GSIBase: 0}
	IOAPIC1 = &ioapic.IOAPIC{Index: 1, Base: 0xfec10000, GSIBase: 24}

	// UART0 is COM1, the serial console.
	UART0 = &uart.UART{Index: 1, Base: 0x3f8}

	// DMA is the region shared with devices.
	DMA = &dma.Region{}
)

// hwinit1 runs early in runtime start-up, before package init.
//
//go:linkname hwinit1 runtime/goos.Hwinit1
func hwinit1() {
	tscAtHwinit1 = rdtsc()
	CPU.Init()
	IOAPIC0.Init()
	IOAPIC1.Init()
	UART0.Init()
	goos.Exit = powerOff
}

func init() {
	stampBootPhase("runtime")
	CPU.EnableExceptions()
	DMA.Init(DMAStart, DMASize)
	stampBootPhase("dma")
	commandLine = readCmdline()
	stampBootPhase("cmdline")
	initClock()
	stampBootPhase("clock")
	initWallClock()
	stampBootPhase("rtc")
	calibrateLAPIC()
	stampBootPhase("lapic")
	goos.Idle = idle
	go CPU.ServiceInterrupts(dispatch)
	CPU.InitSMP(-1)
	stampBootPhase("smp")
	scanVirtio()
	stampBootPhase("virtio")
}

// initClock picks the time source: the KVM pvclock under KVM; otherwise
// the TSC, at the rate the launcher measured on the host (under TCG the
// guest TSC runs at the host's) or, failing that, calibrated against the
// PIT.
func initClock() {
	f := CPU.Features()
	if f.KVM && f.KVMClockMSR != 0 && startPVClock(f.KVMClockMSR != msrKVMSystemTime) {
		return
	}
	// A malformed rate is reported by the image's configuration (package
	// image/config), which checks every kaidoku word; here it only means
	// calibrating.
	if w, ok := cmdline.Lookup(commandLine, cmdline.Namespace+"tsc_khz"); ok {
		if khz, err := strconv.ParseUint(w.Value, 10, 64); err == nil && khz > 0 {
			setTSCRate(khz*1000, ClockHostTSC)
			return
		}
	}
	if hz, ok := calibrateTSC(200); ok {
		setTSCRate(hz, ClockPITTSC)
		return
	}
	print("board: WARNING: no clock source, time runs at a guessed 1 GHz\n")
}

var isr atomic.Pointer[func(vector int)]

// SetInterruptHandler installs the function that services every device
// interrupt vector (32-254). It runs in the interrupt goroutine.
func SetInterruptHandler(f func(vector int)) { isr.Store(&f) }

func dispatch(vector int) {
	if f := isr.Load(); f != nil {
		(*f)(vector)
	}
}

// InterruptsReady reports whether the interrupt goroutine has installed
// the IDT gates for vectors 32-255.
func InterruptsReady() bool { return wakeGateReady() }

// IDT returns the base and limit of the interrupt descriptor table.
func IDT() (base uint64, limit uint16) { return sidt() }

// EnableGSI routes a global system interrupt to a vector on the bootstrap
// processor, edge-triggered and active high as microvm's virtio-mmio lines
// are.
func EnableGSI(gsi, vector int) {
	if gsi >= IOAPIC1.GSIBase {
		IOAPIC1.EnableInterrupt(gsi, vector)
	} else {
		IOAPIC0.EnableInterrupt(gsi, vector)
	}
}

// Banner returns the boot banner, one line each: the platform and its
// clock, the wall clock and where it was set from, the LAPIC timer's
// rate, and every virtio-mmio device found.
func Banner() string {
	wall := "wall clock " + time.Now().UTC().Format(time.RFC3339) + " from " + WallClockSource()
	if e := WallClockError(); e != "" {
		wall += " (" + e + ")"
	}
	s := "kaidoku on QEMU microvm: " + runtime.CPU() + ", " + strconv.Itoa(CPU.NumCPU()) +
		" CPU(s), clock " + ClockSource() + " at " + mhz(TSCHz()) + " MHz\n" +
		wall + "\n" +
		"lapic timer " + mhz(LAPICTimerHz()) + " MHz\n" +
		BootTimes()
	for _, d := range VirtioDevices() {
		s += d.String() + "\n"
	}
	return s
}

// HookVector points the IDT gate of vector at entry and returns the gate's
// previous target, so that entry can do its work and then continue into
// it. It must be called after InterruptsReady.
func HookVector(vector int, entry uint64) (prev uint64) {
	base, _ := sidt()
	g := base + uint64(vector)*16
	lo, mid, hi := mmioRead32(g), mmioRead32(g+4), mmioRead32(g+8)
	prev = uint64(lo&0xffff) | uint64(mid&0xffff0000) | uint64(hi)<<32
	mmioWrite32(g, lo&0xffff0000|uint32(entry&0xffff))
	mmioWrite32(g+4, mid&0x0000ffff|uint32(entry&0xffff0000))
	mmioWrite32(g+8, uint32(entry>>32))
	return prev
}
