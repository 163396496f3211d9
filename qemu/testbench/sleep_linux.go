package testbench

import (
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// preciseSleeper returns a sleep whose wake-ups come within tens of
// microseconds of when asked, and a function to call when done with it.
// time.Sleep rounds short sleeps up to about a millisecond (the runtime's
// poller waits in milliseconds), which would turn a Poisson schedule into
// millisecond bursts. So the caller's goroutine gets a thread of its own
// with a timer slack of 1 µs (the default, 50 µs, lets the kernel defer
// the wake-up that long) and sleeps in nanosleep.
func preciseSleeper() (sleep func(time.Duration), done func()) {
	runtime.LockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return time.Sleep, func() {}
	}
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	sleep = func(d time.Duration) {
		ts := syscall.NsecToTimespec(int64(d))
		syscall.Nanosleep(&ts, nil)
	}
	done = func() {
		unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
		runtime.UnlockOSThread()
	}
	return sleep, done
}
