package bench

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

func echoOf(rtts ...time.Duration) testbench.EchoResult {
	return testbench.EchoResult{Sent: len(rtts), Received: len(rtts), RTTs: rtts}
}

func TestXDPDropMarkdown(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		r    XDPDropResult
		want []string
	}{
		{"goal met", XDPDropResult{Accel: "tcg", Sent: 1000, Dropped: 990, HostLost: 10, Elapsed: 2 * time.Second,
			Idle: echoOf(ms, ms, 2*ms), Flood: echoOf(ms, 3*ms, 4*ms)},
			[]string{"| kaidoku | 1000 | 990 | 10 | 495 | 1000 µs / 2000 µs | 3000 µs / 4000 µs | 0 of 3 |", "- met: echo RTT p99", "(2.0×)"}},
		{"goal not met", XDPDropResult{Sent: 10, Dropped: 10, Elapsed: time.Second,
			Idle: echoOf(ms), Flood: echoOf(5 * ms)},
			[]string{"- not met: echo RTT p99", "(5.0×)"}},
		{"failed", XDPDropResult{Err: errors.New("no READY")}, []string{"| kaidoku | failed: no READY |"}},
		{"did not add up", XDPDropResult{Sent: 10, Dropped: 9, Elapsed: time.Second, Err: errors.New("xdp_drops 9")},
			[]string{"The run did not add up: xdp_drops 9"}},
	} {
		got := XDPDropMarkdown(tc.r, XDPDropOptions{})
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: no %q in\n%s", tc.name, w, got)
			}
		}
	}
}
