// Package e2e boots the kaidoku image in QEMU and tests it from the host.
// Where QEMU or the TamaGo toolchain is missing, TestMain prints one line
// saying which and runs nothing; where both are present, an image that
// does not build fails the package.
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
	if !linuxOnly() {
		if err := buildImage(); err != nil {
			fmt.Println("end-to-end tests failed:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	printConformanceSummary()
	os.Exit(code)
}

// linuxOnly reports whether only the conformance cases against the Linux
// guest run (KAIDOKU_CONFORMANCE=linux): no image is built.
func linuxOnly() bool { return os.Getenv("KAIDOKU_CONFORMANCE") == "linux" }

// prerequisites says what is missing for the end-to-end tests: QEMU or the
// TamaGo toolchain (qemu.Missing), or for the Linux guest alone QEMU and
// Debian's kernel. Nothing else skips them.
func prerequisites() string {
	if linuxOnly() {
		if _, err := exec.LookPath(qemu.DefaultBinary); err != nil {
			return qemu.DefaultBinary + " not found (install Debian's qemu-system-x86 package)"
		}
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
	return qemu.Missing(root)
}

// buildImage builds the image under test, or takes KAIDOKU_IMAGE.
func buildImage() error {
	if v := os.Getenv("KAIDOKU_IMAGE"); v != "" {
		image = v
		return nil
	}
	root, err := qemu.ModuleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "kaidoku-e2e")
	if err != nil {
		return err
	}
	image = filepath.Join(tmp, "kaidoku.elf")
	return qemu.BuildImage(root, "./image/kaidoku", image, "")
}

// boot starts the kaidoku image under test with cfg's other fields (see
// bootProgram).
func boot(t *testing.T, cfg qemu.Config) *qemu.VM {
	t.Helper()
	return bootProgram(t, image, cfg)
}
