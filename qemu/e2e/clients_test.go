package e2e

import (
	"context"
	"errors"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/linuxguest"
)

// The benchmark's other two stacks serve the very programs the kaidoku
// image serves, and the standard clients get their answers: image/dns and
// image/sockperf built with the gvisor tag (package unikernel puts
// gVisor's netstack on kaidoku's driver and serves the net package from
// it), and built for Linux into the Linux guest's initramfs, started by
// its /init (kaidoku.exec=, READY once the program's port is bound).
func TestServiceOtherStacks(t *testing.T) {
	dig := lookClient(t, "dig", "bind9-dnsutils")
	sockperf := lookClient(t, "sockperf", "sockperf")
	root, err := qemu.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	programs := []struct {
		pkg   string
		port  int
		check func(t *testing.T, hostPort int)
	}{
		{"./image/dns", 53, func(t *testing.T, hostPort int) {
			out := runClient(t, dig, "@127.0.0.1", "-p", strconv.Itoa(hostPort), "+time=5", "+tries=2", "+short", "www.kaidoku.test", "AAAA")
			if out != "2001:db8::10\n" {
				t.Errorf("dig www.kaidoku.test AAAA: %q", out)
			}
		}},
		{"./image/sockperf", 11111, func(t *testing.T, hostPort int) {
			out := runClient(t, sockperf, "ping-pong", "-t", "2", "-i", "127.0.0.1", "-p", strconv.Itoa(hostPort))
			if strings.Contains(out, "No messages were received") || !strings.Contains(out, "percentile 99.000") {
				t.Errorf("sockperf ping-pong:\n%s", out)
			}
		}},
	}
	for _, p := range programs {
		name := path.Base(p.pkg)
		t.Run("gvisor/"+name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), name+"-gvisor.elf")
			if err := qemu.BuildImage(root, p.pkg, img, "", "gvisor"); err != nil {
				t.Fatal(err)
			}
			port := freeUDPPort(t)
			vm := bootProgram(t, img, qemu.Config{Net: qemu.UserNet{Forwards: []qemu.Forward{{HostPort: port, GuestPort: p.port}}}})
			if !strings.Contains(vm.Console.Text(), "gVisor's netstack on kaidoku's virtio-net driver") {
				t.Error("console does not say the program runs on gVisor's netstack")
			}
			p.check(t, port)
		})
		t.Run("linux/"+name, func(t *testing.T) {
			if _, err := linuxguest.FindKernel(); errors.Is(err, linuxguest.ErrNoKernel) {
				t.Skip("Linux guest not tested:", err)
			}
			g, err := linuxguest.PrepareWith(linuxguest.DefaultWorkdir(), linuxguest.Options{Programs: []string{p.pkg}})
			if err != nil {
				t.Fatal(err)
			}
			port := freeUDPPort(t)
			cfg := g.Config(qemu.Config{
				Net:      qemu.UserNet{Forwards: []qemu.Forward{{HostPort: port, GuestPort: p.port}}},
				Append:   []string{"kaidoku.exec=" + name, "kaidoku.exec.port=" + strconv.Itoa(p.port)},
				Lifetime: 3 * time.Minute,
			})
			vm, _ := startVM(t, cfg, 90*time.Second)
			if want := "program /bin/" + name; !strings.Contains(vm.Console.Text(), want) {
				t.Errorf("READY line lacks %q", want)
			}
			p.check(t, port)
		})
	}
}

// runClient runs a client for at most a minute and returns its output.
func runClient(t *testing.T, client string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, client, args...).CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", client, strings.Join(args, " "), err, out)
	}
	return string(out)
}
