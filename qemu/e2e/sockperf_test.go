package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// lookClient returns the path of a standard client from Debian's
// packages, or skips the test with one line naming the package.
func lookClient(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found: install Debian's %s package (apt-get install -y %s)", name, pkg, pkg)
	}
	return p
}

// image/sockperf is measured by Debian's sockperf through QEMU's
// user-mode forward: ping-pong and under-load both get their replies
// (sockperf says "No messages were received from the server" when the
// server's reply keeps the CLIENT flag, as an echo's does) and report a
// latency summary; the server counts no malformed datagram.
func TestSockperfClient(t *testing.T) {
	sockperf := lookClient(t, "sockperf", "sockperf")
	img := buildProgram(t, "./image/sockperf")
	port := freeUDPPort(t)
	vm := bootProgram(t, img, qemu.Config{
		Net:    qemu.UserNet{Forwards: []qemu.Forward{{HostPort: port, GuestPort: 11111}}},
		Append: []string{"--", "-report", "500ms"},
	})
	if !strings.Contains(vm.Console.Text(), "sockperf: serving UDP port 11111") {
		t.Error("console lacks the serving line")
	}
	for _, args := range [][]string{
		{"ping-pong", "-t", "2"},
		{"under-load", "-t", "2", "--mps", "2000"},
	} {
		t.Run(args[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, sockperf, append(args, "-i", "127.0.0.1", "-p", strconv.Itoa(port))...)
			out, err := cmd.CombinedOutput()
			text := string(out)
			if err != nil || strings.Contains(text, "No messages were received") || !strings.Contains(text, "Summary: Latency is") {
				t.Fatalf("sockperf %s: %v\n%s", strings.Join(args, " "), err, text)
			}
			for _, l := range strings.Split(text, "\n") {
				if strings.Contains(l, "Summary: Latency") || strings.Contains(l, "percentile 50.000") || strings.Contains(l, "percentile 99.000") || strings.Contains(l, "Valid Duration") {
					t.Log(strings.TrimSpace(l))
				}
			}
		})
	}
	// The server's counters: every datagram sockperf sent was well formed.
	time.Sleep(time.Second)
	var last string
	for _, l := range vm.Console.Lines() {
		if strings.HasPrefix(l.Text, "sockperf: received ") {
			last = l.Text
		}
	}
	var received, replied, malformed int
	if _, err := fmt.Sscanf(last, "sockperf: received %d replied %d malformed %d", &received, &replied, &malformed); err != nil || replied == 0 || malformed != 0 || replied > received {
		t.Errorf("server counters %q (%v): want replies and nothing malformed", last, err)
	} else {
		t.Logf("server: received %d, replied %d", received, replied)
	}
}
