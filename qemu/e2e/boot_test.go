package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// The image reports its clock, and the virtio-net device QEMU plugged
// into microvm's last virtio-mmio slot, found by scanning.
func TestBootBannerAndDevices(t *testing.T) {
	vm := boot(t, qemu.Config{Net: qemu.UserNet{}})
	banner, err := vm.Console.ExpectString("kaidoku on QEMU microvm", 0)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`clock (.+) at ([0-9.]+) MHz`).FindStringSubmatch(banner.Text)
	if m == nil {
		t.Fatalf("banner without clock: %q", banner.Text)
	}
	if mhz, _ := strconv.ParseFloat(m[2], 64); mhz < 100 {
		t.Errorf("implausible TSC rate %v MHz", mhz)
	}
	if _, err := vm.Console.ExpectString("device 1 (net), version 2", 0); err != nil {
		t.Fatalf("virtio-net not listed: %v\n%s", err, vm.Console.Text())
	}
}

// A 2 s sleep in the guest matches host wall time within ±2 %, with the
// host-supplied TSC rate and with the guest's own PIT calibration. The
// guest also prints how long it measured, so the clock's rate error is
// reported apart from the sleep's wake-up latency.
func TestClockMatchesHost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noTSC  bool
		source string
	}{
		{"host-tsc-rate", false, "tsc_khz"},
		{"pit-calibration", true, "PIT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm := boot(t, qemu.Config{Net: qemu.UserNet{}, NoTSC: tc.noTSC, Append: []string{"kaidoku.test.clock=2s"}})
			if vm.Accel == qemu.KVM {
				tc.source = "pvclock"
			}
			if _, err := vm.Console.ExpectString(tc.source, 0); err != nil {
				t.Fatalf("clock source is not %s:\n%s", tc.source, vm.Console.Text())
			}
			start, err := vm.Console.ExpectString("CLOCK start", 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			end, err := vm.Console.ExpectString("CLOCK end", 20*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			host := end.At - start.At
			errPct := (host.Seconds() - 2) / 2 * 100
			var g0, g1 int64
			fmt.Sscanf(start.Text, "CLOCK start %d", &g0)
			fmt.Sscanf(end.Text, "CLOCK end %d", &g1)
			guestNs := g1 - g0
			rate := (float64(guestNs)/float64(host.Nanoseconds()) - 1) * 100
			t.Logf("guest 2 s sleep took %v of host time (%+.3f %%); guest measured %v (clock rate %+.3f %% against the host)",
				host, errPct, time.Duration(guestNs), rate)
			if errPct < -2 || errPct > 2 {
				t.Errorf("guest 2 s sleep took %v of host time: %+.2f %% (limit ±2 %%)", host, errPct)
			}
		})
	}
}

// An idle guest halts: with only a 1 s ticker pending, QEMU uses little
// host CPU.
func TestIdleHalts(t *testing.T) {
	vm := boot(t, qemu.Config{Net: qemu.UserNet{}, Append: []string{"kaidoku.test.clock=60s"}})
	if _, err := vm.Console.ExpectString("CLOCK start", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c0, err := vm.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	const window = 5 * time.Second
	time.Sleep(window)
	c1, err := vm.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	pct := float64(c1-c0) / float64(window) * 100
	t.Logf("idle QEMU used %.1f %% of one host core", pct)
	if pct >= 10 {
		t.Errorf("idle guest used %.1f %% of a core (limit 10 %%)", pct)
	}
}

// main returning, os.Exit and panics power the guest off, and the launcher
// recovers the exit code.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want int
	}{
		{"kaidoku.test.exit=0", 0},
		{"kaidoku.test.exit=3", 3},
		{"kaidoku.test.panic", 2},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			vm := boot(t, qemu.Config{Net: qemu.UserNet{}, Append: []string{tc.arg}})
			select {
			case <-vm.Done():
			case <-time.After(30 * time.Second):
				t.Fatal("guest did not power off")
			}
			code, err := vm.Wait()
			if err != nil || code != tc.want {
				t.Fatalf("exit code %d, %v; want %d\n%s", code, err, tc.want, vm.Console.Text())
			}
		})
	}
}

// processGone reports whether pid no longer exists (or is a zombie).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])[0] == "Z"
}

// Without a virtio-net device the image says so and powers off with
// status 1 instead of serving nothing.
func TestNoNetworkDevice(t *testing.T) {
	vm, err := qemu.Start(qemu.Config{Kernel: image, Lifetime: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	select {
	case <-vm.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("guest did not power off")
	}
	code, err := vm.Wait()
	if err != nil || code != 1 {
		t.Fatalf("exit code %d, %v; want 1\n%s", code, err, vm.Console.Text())
	}
	if !strings.Contains(vm.Console.Text(), "no virtio-net device found") {
		t.Errorf("console does not say why:\n%s", vm.Console.Text())
	}
}
