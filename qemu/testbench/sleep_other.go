//go:build !linux

package testbench

import "time"

// preciseSleeper returns time.Sleep where the timer slack cannot be set.
func preciseSleeper() (sleep func(time.Duration), done func()) {
	return time.Sleep, func() {}
}
