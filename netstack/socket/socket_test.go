package socket

import (
	"errors"
	"syscall"
	"testing"
)

func TestTimevalToTimeout(t *testing.T) {
	for _, c := range []struct {
		tv   Timeval
		want int64
		err  error
	}{
		{Timeval{0, 0}, -1, nil},
		{Timeval{0, 200000}, 200e6, nil},
		{Timeval{0, 1}, 1e6, nil},    // rounded up to a jiffy
		{Timeval{0, 1001}, 2e6, nil}, // DIV_ROUND_UP
		{Timeval{1, 500000}, 1500e6, nil},
		{Timeval{-1, 0}, 0, nil}, // negative: non-blocking
		{Timeval{-5, 999999}, 0, nil},
		{Timeval{0, -1}, 0, syscall.EDOM},
		{Timeval{0, 1000000}, 0, syscall.EDOM},
		{Timeval{1 << 62, 0}, -1, nil}, // beyond MAX_SCHEDULE_TIMEOUT/HZ
	} {
		got, err := TimevalToTimeout(c.tv)
		if got != c.want || !errors.Is(err, c.err) && !(err == nil && c.err == nil) {
			t.Errorf("%+v: %d %v, want %d %v", c.tv, got, err, c.want, c.err)
		}
	}
}
