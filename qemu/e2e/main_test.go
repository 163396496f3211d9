// Package e2e boots the kaidoku image in QEMU and tests it from the host.
// Where QEMU or the TamaGo toolchain is missing, TestMain prints one line
// saying which and runs nothing.
package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/linuxguest"
)

// image is the kaidoku image under test, built once by TestMain.
var image string

func TestMain(m *testing.M) {
	if why := prerequisites(); why != "" {
		fmt.Println("end-to-end tests skipped:", why)
		os.Exit(0)
	}
	code := m.Run()
	printConformanceSummary()
	os.Exit(code)
}

func prerequisites() string {
	if _, err := exec.LookPath(qemu.DefaultBinary); err != nil {
		return qemu.DefaultBinary + " not found (install Debian's qemu-system-x86 package)"
	}
	if os.Getenv("KAIDOKU_CONFORMANCE") == "linux" {
		// The conformance cases against the Linux guest alone: no
		// image to build, but Debian's kernel to boot.
		if _, err := linuxguest.FindKernel(); errors.Is(err, linuxguest.ErrNoKernel) {
			return "the Linux guest needs Debian's kernel: install linux-image-amd64 and xz-utils (as root: make linux-guest-deps)"
		}
		return ""
	}
	root, err := qemu.ModuleRoot()
	if err != nil {
		return err.Error()
	}
	dir, ok, err := qemu.ToolchainDir(root)
	if err != nil {
		return err.Error()
	}
	if !ok {
		return "TamaGo toolchain not found at " + dir + " (on a machine with internet, `go tool tamago version` installs it)"
	}
	if v := os.Getenv("KAIDOKU_IMAGE"); v != "" {
		image = v
		return ""
	}
	tmp, err := os.MkdirTemp("", "kaidoku-e2e")
	if err != nil {
		return err.Error()
	}
	image = filepath.Join(tmp, "kaidoku.elf")
	if err := qemu.BuildImage(root, "./image/kaidoku", image, ""); err != nil {
		return "could not build the image: " + err.Error()
	}
	return ""
}

// boot starts the image with cfg's remaining fields, waits for READY and
// registers the VM's teardown.
func boot(t *testing.T, cfg qemu.Config) *qemu.VM {
	t.Helper()
	cfg.Kernel = image
	if cfg.Lifetime == 0 {
		cfg.Lifetime = 2 * 60e9
	}
	vm, err := qemu.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	d, err := vm.WaitReady(30e9)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accelerator %s (%s); boot to READY %v", vm.Accel, vm.Why, d)
	return vm
}
