package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// programs holds the images of the programs built for the tests in this
// run, by package.
var programs sync.Map // package → *builtProgram

type builtProgram struct {
	once sync.Once
	path string
	err  error
}

// buildProgram builds the main package pkg (relative to the module root)
// as an image, once per run.
func buildProgram(t *testing.T, pkg string) string {
	t.Helper()
	v, _ := programs.LoadOrStore(pkg, &builtProgram{})
	p := v.(*builtProgram)
	p.once.Do(func() {
		root, err := qemu.ModuleRoot()
		if err != nil {
			p.err = err
			return
		}
		dir, err := os.MkdirTemp("", "kaidoku-e2e-prog")
		if err != nil {
			p.err = err
			return
		}
		p.path = filepath.Join(dir, filepath.Base(pkg)+".elf")
		p.err = qemu.BuildImage(root, pkg, p.path, "")
	})
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.path
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// bootProgram boots the image kernel with cfg's other fields (a lifetime
// of 2 minutes unless cfg sets one) and waits a minute at most for READY,
// as startVM.
func bootProgram(t *testing.T, kernel string, cfg qemu.Config) *qemu.VM {
	t.Helper()
	cfg.Kernel = kernel
	if cfg.Lifetime == 0 {
		cfg.Lifetime = 2 * time.Minute
	}
	vm, d := startVM(t, cfg, 60*time.Second)
	t.Logf("accelerator %s (%s); boot to READY %v", vm.Accel, vm.Why, d)
	return vm
}

// startVM starts cfg, registers the VM's teardown (killing QEMU, and
// printing the console if the test failed) and waits up to ready for
// READY, returning the time boot took.
func startVM(t *testing.T, cfg qemu.Config, ready time.Duration) (*qemu.VM, time.Duration) {
	t.Helper()
	vm, err := qemu.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console:\n%s", vm.Console.Text())
		}
		vm.Close()
	})
	d, err := vm.WaitReady(ready)
	if err != nil {
		t.Fatal(err)
	}
	return vm, d
}

// A program on package unikernel gets its arguments from after "--",
// powers the VM off with main's status when main returns (0), on os.Exit
// (its code) and on a panic (2, with the panic and the stack on the
// console).
func TestUnikernelLifetime(t *testing.T) {
	img := buildProgram(t, "./qemu/e2e/testdata/rtprog")
	for _, tc := range []struct {
		args    []string
		want    int
		console []string
	}{
		{[]string{"return"}, 0, []string{`rtprog: args ["return"]`, "kaidoku: exit 0, powering off"}},
		{[]string{"exit", "3"}, 3, []string{`rtprog: args ["exit" "3"]`, "kaidoku: exit 3, powering off"}},
		{[]string{"panic"}, 2, []string{"panic: rtprog asked to panic", "goroutine 1 [running]:", "main.main()"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			vm := bootProgram(t, img, qemu.Config{Net: qemu.UserNet{}, Append: append([]string{"console=ttyS0", "--"}, tc.args...)})
			select {
			case <-vm.Done():
			case <-time.After(30 * time.Second):
				t.Fatal("guest did not power off")
			}
			code, err := vm.Wait()
			if err != nil || code != tc.want {
				t.Fatalf("exit code %d, %v; want %d", code, err, tc.want)
			}
			for _, want := range tc.console {
				if !strings.Contains(vm.Console.Text(), want) {
					t.Errorf("console lacks %q", want)
				}
			}
		})
	}
}

// A program on package unikernel serves through the standard library's
// sockets (net.ListenPacket) from the moment it says READY, at the
// address the command line gives (QEMU's user-mode networking default).
func TestUnikernelEcho(t *testing.T) {
	img := buildProgram(t, "./qemu/e2e/testdata/rtprog")
	port := freeUDPPort(t)
	vm := bootProgram(t, img, qemu.Config{
		Net:    qemu.UserNet{Forwards: []qemu.Forward{{HostPort: port, GuestPort: 7}}},
		Append: []string{"--", "echo"},
	})
	if !strings.Contains(vm.Console.Text(), "rtprog: 10.0.2.15/24 via 10.0.2.2") {
		t.Error("console lacks the runtime's address line")
	}
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The first datagram is sent at once after READY: the program bound
	// its socket before it said READY.
	buf := make([]byte, 100)
	for i, msg := range []string{"first", "second"} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if string(buf[:n]) != msg {
			t.Fatalf("echo of %q: %q", msg, buf[:n])
		}
	}
}

// The image's wall clock is set at boot (from the CMOS RTC under TCG, the
// KVM wall clock under KVM) and the banner names the source: time.Now()
// in the program is within a few seconds of the host's clock, where it
// used to count from 1970 at boot.
func TestUnikernelWallClock(t *testing.T) {
	img := buildProgram(t, "./qemu/e2e/testdata/rtprog")
	vm := bootProgram(t, img, qemu.Config{Net: qemu.UserNet{}, Append: []string{"--", "time"}})
	line, err := vm.Console.ExpectString("rtprog: time ", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	host := time.Now()
	ns, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line.Text, "rtprog: time ")), 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", line.Text, err)
	}
	// The CMOS RTC counts whole seconds, and the line takes a moment to
	// cross the serial console.
	if d := host.Sub(time.Unix(0, ns)); d < -3*time.Second || d > 3*time.Second {
		t.Errorf("guest time.Now() %v, host %v: %v apart, want within 3 s", time.Unix(0, ns).UTC(), host.UTC(), d)
	}
	want := "from cmos-rtc"
	if vm.Accel == qemu.KVM {
		want = "from kvm-wallclock"
	}
	if banner, err := vm.Console.ExpectString("wall clock ", 0); err != nil || !strings.Contains(banner.Text, want) {
		t.Errorf("banner's wall clock line %q, %v; want it to say %q", banner.Text, err, want)
	}
}

// A program's stats service is off unless asked for; kaidoku.services=stats
// on the command line starts it on port 161, answering the stack's
// counters (here /proc/net/snmp's Udp lines).
func TestUnikernelStatsService(t *testing.T) {
	img := buildProgram(t, "./qemu/e2e/testdata/rtprog")
	for _, tc := range []struct {
		words []string
		on    bool
	}{
		{nil, false},
		{[]string{"kaidoku.services=stats"}, true},
	} {
		t.Run(fmt.Sprint(tc.on), func(t *testing.T) {
			port := freeUDPPort(t)
			vm := bootProgram(t, img, qemu.Config{
				Net:    qemu.UserNet{Forwards: []qemu.Forward{{HostPort: port, GuestPort: 161}}},
				Append: append(tc.words, "--", "echo"),
			})
			if got := strings.Contains(vm.Console.Text(), "stats on port 161"); got != tc.on {
				t.Errorf("console says the stats service is on: %v, want %v", got, tc.on)
			}
			c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("snmp"))
			wait := 2 * time.Second
			if tc.on {
				wait = 10 * time.Second
			}
			c.SetReadDeadline(time.Now().Add(wait))
			buf := make([]byte, 65536)
			n, err := c.Read(buf)
			switch {
			case tc.on && (err != nil || !strings.Contains(string(buf[:n]), "Udp: InDatagrams")):
				t.Errorf("stats snmp: %q, %v; want /proc/net/snmp's Udp lines", buf[:n], err)
			case !tc.on && err == nil:
				t.Errorf("stats answered %q with the service off", buf[:n])
			}
		})
	}
}
