package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// kaidoku capture writes what a running image receives and sends as a
// pcap file that Debian's tcpdump reads: here the echo service's
// requests and replies, each datagram twice (in and out), and never the
// capture's own stream (UDP port 2002), which the image leaves out.
func TestKaidokuCapture(t *testing.T) {
	tcpdump := lookClient(t, "tcpdump", "tcpdump")
	bin, root := kaidokuCmd(t)
	echoPort, capPort := freeUDPPort(t), freeUDPPort(t)
	vm := boot(t, qemu.Config{Net: qemu.UserNet{Forwards: []qemu.Forward{
		{HostPort: echoPort, GuestPort: 7}, {HostPort: capPort, GuestPort: 2002}}}})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console:\n%s", vm.Console.Text())
		}
	})

	const n = 3
	file := filepath.Join(t.TempDir(), "echo.pcap")
	cmd := exec.Command(bin, "capture", "-addr", "127.0.0.1:"+strconv.Itoa(capPort),
		"-w", file, "-type", "ip", "-c", strconv.Itoa(2*n), "-timeout", "20s")
	cmd.Dir = root
	stderr := new(lockedText)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	// The capture has started once it says so.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), "capturing"); {
		if time.Now().After(deadline) {
			t.Fatalf("kaidoku capture did not start: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: echoPort})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 256)
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("captured datagram %d", i)
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if k, err := c.Read(buf); err != nil || string(buf[:k]) != msg {
			t.Fatalf("echo %d: %q, %v", i, buf[:k], err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("kaidoku capture: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("kaidoku capture did not end after %d frames:\n%s", 2*n, stderr.String())
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf("%d packets captured", 2*n)) {
		t.Errorf("kaidoku capture's summary:\n%s", stderr.String())
	}

	out, err := exec.Command(tcpdump, "-r", file, "-n", "-A").CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v\n%s", err, out)
	}
	t.Logf("tcpdump -r %s:\n%s", filepath.Base(file), out)
	text := string(out)
	if strings.Contains(text, ".2002") {
		t.Errorf("the capture holds its own stream (port 2002)")
	}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, " IP ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2*n {
		t.Fatalf("tcpdump shows %d IP packets, want %d", len(lines), 2*n)
	}
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("captured datagram %d", i)
		if strings.Count(text, msg) != 2 {
			t.Errorf("%q appears %d times, want 2 (request and echo)", msg, strings.Count(text, msg))
		}
		req, rep := lines[2*i], lines[2*i+1]
		if !strings.Contains(req, "10.0.2.15.7: UDP, length "+strconv.Itoa(len(msg))) ||
			!strings.Contains(rep, "10.0.2.15.7 > ") || !strings.Contains(rep, "UDP, length "+strconv.Itoa(len(msg))) {
			t.Errorf("datagram %d:\n%s\n%s", i, req, rep)
		}
	}
}

// lockedText collects a command's output while the test reads it.
type lockedText struct {
	mu sync.Mutex
	// +checklocks:mu
	b strings.Builder
}

func (l *lockedText) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedText) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
