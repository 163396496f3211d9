package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Accel is a QEMU accelerator.
type Accel string

// Accelerators.
const (
	KVM Accel = "kvm"
	TCG Accel = "tcg"
)

// probeExit is the value the probe firmware writes to isa-debug-exit;
// QEMU then exits with status probeExit<<1|1.
const probeExit = 0x2a

// probeFirmware is a 64 KiB firmware image whose reset vector (the last 16
// bytes, at 0xfffffff0) runs "mov al, 0x2a; out 0xf4, al; hlt". Only an
// accelerator that really executes guest code makes QEMU exit with status
// 85; a /dev/kvm that opens but cannot run guests does not.
func probeFirmware() []byte {
	fw := make([]byte, 64<<10)
	copy(fw[len(fw)-16:], []byte{0xb0, probeExit, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd})
	return fw
}

var (
	probeOnce   sync.Once
	probedAccel Accel
	probeWhy    string
)

// ProbeAccel chooses the accelerator: KVM only if /dev/kvm is there and a
// guest actually runs under it, TCG otherwise. The reason says why. The
// result is computed once per process.
func ProbeAccel(binary string) (Accel, string) {
	probeOnce.Do(func() {
		probedAccel, probeWhy = probe(binary)
	})
	return probedAccel, probeWhy
}

func probe(binary string) (Accel, string) {
	if os.Getenv("KAIDOKU_ACCEL") == string(TCG) {
		return TCG, "TCG forced by KAIDOKU_ACCEL=tcg"
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return TCG, "TCG: /dev/kvm unavailable (" + err.Error() + ")"
	}
	f.Close()
	dir, err := os.MkdirTemp("", "kaidoku-probe")
	if err != nil {
		return TCG, "TCG: " + err.Error()
	}
	defer os.RemoveAll(dir)
	fw := filepath.Join(dir, "probe.bin")
	if err := os.WriteFile(fw, probeFirmware(), 0o644); err != nil {
		return TCG, "TCG: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary,
		"-machine", "microvm,x-option-roms=off,pit=off,pic=off,rtc=off,isa-serial=off",
		"-accel", "kvm", "-cpu", "host", "-m", "16M", "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-bios", fw, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04")
	cmd.SysProcAttr = childAttr()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == probeExit<<1|1 {
		return KVM, "KVM: a probe guest ran under /dev/kvm"
	}
	if ctx.Err() != nil {
		return TCG, "TCG: /dev/kvm is present but a probe guest did not finish in 10 s"
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return TCG, fmt.Sprintf("TCG: /dev/kvm is present but cannot run guests (%s)", first)
}
