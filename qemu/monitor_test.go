package qemu

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeHMP serves a unix socket the way QEMU's monitor does: a banner and
// prompt, then for each command line its character-by-character echo
// with terminal controls, a line break, the output and a prompt.
func fakeHMP(t *testing.T, replies map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hmp.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("QEMU 7.2.22 monitor - type 'help' for more information\r\n(qemu) "))
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.TrimSpace(line)
			var echo strings.Builder
			for i := 1; i <= len(cmd); i++ {
				echo.WriteString(cmd[:i] + "\x1b[K" + strings.Repeat("\x1b[D", i))
			}
			out := replies[cmd]
			if out != "" {
				out = strings.ReplaceAll(out, "\n", "\r\n") + "\r\n"
			}
			c.Write([]byte(echo.String() + "\r\n" + out + "(qemu) "))
		}
	}()
	return path
}

func TestMonitor(t *testing.T) {
	path := fakeHMP(t, map[string]string{
		"info network":        "virtio-net-device.0: index=0,type=nic\n \\ net0: index=0,type=dgram",
		"set_link nosuch off": "Error: Device 'nosuch' not found",
	})
	m, err := DialMonitor(path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !strings.HasPrefix(m.Banner, "QEMU 7.2.22 monitor") {
		t.Errorf("banner %q", m.Banner)
	}
	out, err := m.Command("info network")
	if err != nil || out != "virtio-net-device.0: index=0,type=nic\n \\ net0: index=0,type=dgram" {
		t.Errorf("info network: %q, %v", out, err)
	}
	if err := m.SetLink(false); err != nil {
		t.Errorf("set_link: %v", err)
	}
	if err := m.SetLink(true); err != nil {
		t.Errorf("set_link: %v", err)
	}
	if out, err := m.Command("set_link nosuch off"); err != nil || out != "Error: Device 'nosuch' not found" {
		t.Errorf("error output %q, %v", out, err)
	}
	if _, err := m.Command("two\nlines"); err == nil {
		t.Error("a command spanning lines was sent")
	}
}

func TestMonitorMissing(t *testing.T) {
	if _, err := DialMonitor(filepath.Join(t.TempDir(), "none.sock"), 200*time.Millisecond); err == nil {
		t.Fatal("dialled a socket that does not exist")
	}
	vm := &VM{}
	if _, err := vm.Monitor(); err != ErrNoMonitor {
		t.Fatalf("VM without a monitor: %v", err)
	}
}
