//go:build tamago

package board

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/kaidoku-net/kaidoku/board/rtc"
)

// Wall clock sources, as reported by WallClockSource.
const (
	WallKVM  = "kvm-wallclock"
	WallCMOS = "cmos-rtc"
	WallNone = "none"
)

// The KVM wall clock MSRs (Documentation/virt/kvm/x86/msr.rst): the guest
// writes the physical address of a pvclock_wall_clock, which KVM fills
// with the wall time at which the kvmclock's system time was zero.
const (
	msrKVMWallClock    = 0x11
	msrKVMWallClockNew = 0x4b564d00
)

// The CMOS RTC's index and data ports.
const (
	cmosIndex = 0x70
	cmosData  = 0x71
)

// pvclockWallClock is struct pvclock_wall_clock.
type pvclockWallClock struct {
	// +checkatomic
	version uint32 // the host's seqcount
	sec     uint32
	nsec    uint32
}

var (
	wallSource = WallNone
	wallErr    string
)

// initWallClock sets the wall clock at boot, as Linux does: from the KVM
// wall clock under KVM (with the pvclock), otherwise from the CMOS RTC.
//
// TamaGo's runtime has one clock, Nanotime, for both time.Now's wall
// reading and its monotonic one, so the wall time is set by advancing
// Nanotime to it once, in board init: the clock stays monotonic (it only
// ever moves forward), and every time base derived from it (TSCToNanotime)
// moves with it.
func initWallClock() {
	if pvti != nil {
		if ns, ok := kvmWallClock(); ok {
			setWallClock(ns, WallKVM)
			return
		}
	}
	t, err := readCMOS()
	if err != nil {
		wallErr = err.Error()
		return
	}
	setWallClock(t.UnixNano(), WallCMOS)
}

// setWallClock advances the clock so that Nanotime reads now (ns since
// 1970) at this instant. A time before the clock's present reading
// would move it backwards and is refused.
func setWallClock(now int64, source string) {
	delta := now - nanotime()
	if delta <= 0 {
		wallErr = "the " + source + " time is before the boot clock"
		return
	}
	if pvti != nil {
		pvOff += delta
	} else {
		c := *clk
		c.nsBase += delta
		clk = &c
	}
	wallSource = source
}

// kvmWallClock returns the wall time now from KVM's wall clock and the
// pvclock's system time.
func kvmWallClock() (int64, bool) {
	addr, buf := DMA.Reserve(int(unsafe.Sizeof(pvclockWallClock{})), 16)
	for i := range buf {
		buf[i] = 0
	}
	wc := (*pvclockWallClock)(unsafe.Pointer(&buf[0]))
	msr := uint32(msrKVMWallClock)
	if CPU.Features().KVMClockMSR != msrKVMSystemTime {
		msr = msrKVMWallClockNew
	}
	wrmsr(msr, uint64(addr))
	for i := 0; ; i++ {
		v := atomic.LoadUint32(&wc.version)
		sec, nsec := wc.sec, wc.nsec
		if v != 0 && v&1 == 0 && atomic.LoadUint32(&wc.version) == v {
			return int64(sec)*1e9 + int64(nsec) + pvti.read(rdtsc()), true
		}
		if i == 1<<20 {
			return 0, false
		}
	}
}

// readCMOS reads the RTC's date and time as Linux's mc146818_get_time
// does: once no update is in progress, and again until two readings
// agree, so that none straddles the once-a-second update.
func readCMOS() (time.Time, error) {
	read := func() rtc.Registers {
		for i := 0; cmosRead(rtc.RegA)&rtc.AUIP != 0 && i < 1<<20; i++ {
		}
		return rtc.Registers{
			Seconds: cmosRead(rtc.RegSeconds),
			Minutes: cmosRead(rtc.RegMinutes),
			Hours:   cmosRead(rtc.RegHours),
			Day:     cmosRead(rtc.RegDay),
			Month:   cmosRead(rtc.RegMonth),
			Year:    cmosRead(rtc.RegYear),
			Century: cmosRead(rtc.RegCentury),
			B:       cmosRead(rtc.RegB),
		}
	}
	r := read()
	for i := 0; i < 10; i++ {
		again := read()
		if again == r {
			break
		}
		r = again
	}
	// An absent RTC reads as all ones.
	if r.Seconds == 0xff && r.Minutes == 0xff && r.B == 0xff {
		return time.Time{}, errNoRTC
	}
	return r.Time()
}

type boardError string

func (e boardError) Error() string { return string(e) }

const errNoRTC = boardError("no CMOS RTC (QEMU microvm without rtc=on)")

func cmosRead(reg uint8) uint8 {
	outb(cmosIndex, reg)
	return inb(cmosData)
}

// WallClockSource reports where the wall clock was set from at boot:
// WallKVM, WallCMOS, or WallNone, when time.Now counts from 1970 at boot
// (WallClockError says why).
func WallClockSource() string { return wallSource }

// WallClockError says why the wall clock was not set, or "".
func WallClockError() string { return wallErr }
