// Package linuxguest boots the Linux guest peer of the kaidoku
// benchmarks: Debian's stock kernel (package linux-image-amd64) with an
// initramfs, built with u-root, whose /init is image/linuxecho — the same
// UDP echo service as the kaidoku image (udp/7, blocking recvfrom/sendto on
// one socket) and a stats service (udp/161) reporting mem_in_use_bytes and
// /proc/net/snmp.
//
// Prepare finds the kernel, unpacks it and builds the initramfs, caching
// both in a work directory by content; Guest.Config fills the Kernel,
// Initrd and Append fields of a qemu.Config, so the guest boots through
// package qemu exactly like the kaidoku image, on the same machine
// settings and network backends:
//
//	g, err := linuxguest.Prepare(dir)
//	vm, err := qemu.Start(g.Config(qemu.Config{Net: qemu.UserNet{...}}))
//	d, err := vm.WaitReady(90 * time.Second)
package linuxguest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// KernelPackage is the Debian package whose kernel the guest boots
// (Debian 12: Linux 6.1). `make linux-guest-deps` installs it.
const KernelPackage = "linux-image-amd64"

// ErrNoKernel means no Debian kernel is installed on this machine.
var ErrNoKernel = errors.New("no Debian kernel in /boot: install the " + KernelPackage +
	" package (as root: apt-get install -y " + KernelPackage + ", or make linux-guest-deps)")

// Guest is a prepared Linux guest: a kernel and an initramfs to boot.
type Guest struct {
	// Release is the kernel's release, e.g. 6.1.0-56-amd64.
	Release string
	// Kernel is the image QEMU loads: the kernel's uncompressed ELF
	// (vmlinux), booted through its PVH entry, or Debian's compressed
	// bzImage when it could not be unpacked (see Note).
	Kernel string
	// Vmlinuz is Debian's kernel file in /boot that Kernel comes from.
	Vmlinuz string
	// Initrd is the initramfs (an uncompressed cpio archive).
	Initrd string
	// Modules are the kernel modules /init loads, in order; empty when
	// the kernel has the drivers built in.
	Modules []string
	// Note says what was not as intended, e.g. why Kernel is the
	// compressed image; empty when all is well.
	Note string

	tscOnce sync.Once
	tscKHz  uint64
}

// Prepare finds the newest Debian kernel installed, unpacks it and builds
// the initramfs, keeping both in workdir (created if needed) under names
// derived from their inputs' contents, so a second Prepare with the same
// inputs does no work. It must run inside kaidoku's module (it builds
// ./image/linuxecho from the module root) and needs the go command; the
// first run fetches u-root from the Go module proxy. It returns ErrNoKernel
// (wrapped) when the kernel package is not installed.
func Prepare(workdir string) (*Guest, error) { return PrepareWith(workdir, Options{}) }

// Options says what the initramfs carries beyond image/linuxecho.
type Options struct {
	// Programs are more main packages (e.g. "./image/dns"), relative to
	// the module root, built for Linux into the initramfs as /bin/<last
	// element of the path>. /init starts one of them when the kernel
	// command line says kaidoku.exec=<name> (image/linuxecho), so that
	// the guest serves the same program as the kaidoku image; the words
	// after "--" are its arguments.
	Programs []string
}

// PrepareWith is Prepare with an initramfs that also carries
// o.Programs, cached apart from the plain one.
func PrepareWith(workdir string, o Options) (*Guest, error) {
	k, err := FindKernel()
	if err != nil {
		return nil, err
	}
	root, err := qemu.ModuleRoot()
	if err != nil {
		return nil, fmt.Errorf("linuxguest: %w", err)
	}
	if err := os.MkdirAll(workdir, 0o755); err != nil {
		return nil, fmt.Errorf("linuxguest: %w", err)
	}
	g := &Guest{Release: k.Release, Vmlinuz: k.Vmlinuz}
	g.Kernel, err = unpackKernel(k.Vmlinuz, workdir)
	if err != nil {
		// The compressed kernel boots too, only more slowly under TCG
		// (it decompresses itself in emulated code: 6 s instead of 2.5 s
		// to READY, measured).
		g.Kernel = k.Vmlinuz
		g.Note = "booting the compressed kernel: " + err.Error()
	}
	mods, err := k.neededModules(wantedModules)
	if err != nil {
		return nil, fmt.Errorf("linuxguest: %w", err)
	}
	for _, m := range mods {
		g.Modules = append(g.Modules, m.name)
	}
	g.Initrd, err = buildInitramfs(root, workdir, mods, o.Programs)
	if err != nil {
		return nil, fmt.Errorf("linuxguest: %w", err)
	}
	return g, nil
}

// cmdline returns the kernel command line words the guest needs:
//
//   - console=ttyS0: the console is microvm's serial port, where READY
//     is read;
//   - quiet: every console byte is a trapped port write under TCG, and
//     the boot log alone added about 0.9 s to boot-to-READY (measured);
//   - pci=off: microvm has no PCI bus; probing for one only costs time
//     and prints a "PCI: Fatal" line that is no fault;
//   - panic=-1 and reboot=t: a panic or a failing /init resets the
//     machine at once (triple fault, no reset hardware needed), and
//     QEMU, started with -no-reboot, exits instead of hanging;
//   - tsc_early_khz=<host kHz> under TCG: the guest TSC runs at the host
//     rate, and without it the guest's own calibration against emulated
//     timers hangs the boot in 8 of 12 tries (TCG-NOTES).
//
// accel is the accelerator the VM will use (empty: probed, as qemu.Start
// does); noTSC is qemu.Config.NoTSC.
func (g *Guest) cmdline(accel qemu.Accel, binary string, noTSC bool) []string {
	words := []string{"console=ttyS0", "quiet", "pci=off", "panic=-1", "reboot=t"}
	if accel == "" {
		if binary == "" {
			binary = qemu.DefaultBinary
		}
		accel, _ = qemu.ProbeAccel(binary)
	}
	if accel == qemu.TCG && !noTSC {
		g.tscOnce.Do(func() { g.tscKHz, _ = qemu.HostTSCkHz() })
		if g.tscKHz != 0 {
			words = append(words, "tsc_early_khz="+strconv.FormatUint(g.tscKHz, 10))
		}
	}
	return words
}

// Config returns base with the guest's Kernel and Initrd, and with the
// guest's kernel command line words (see cmdline: console=ttyS0, quiet,
// pci=off, panic=-1, reboot=t, and tsc_early_khz= under TCG) placed before base's
// own Append words, so that a caller
// can still override them (or add kaidoku.addr=, kaidoku.gw=, see
// image/linuxecho). Everything else — network, memory, lifetime, console —
// is base's, as for the kaidoku image.
func (g *Guest) Config(base qemu.Config) qemu.Config {
	cfg := base
	cfg.Kernel = g.Kernel
	cfg.Initrd = g.Initrd
	cfg.Append = append(g.cmdline(base.Accel, base.Binary, base.NoTSC), base.Append...)
	return cfg
}

// writeAtomic writes a file through a temporary name beside it, so that a
// concurrent or interrupted Prepare never leaves a partial file under the
// final, content-derived name.
func writeAtomic(path string, write func(tmp string) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := write(tmp.Name()); err != nil {
		return err
	}
	// CreateTemp makes the file private; the results are not secrets.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// DefaultWorkdir is where the test bench keeps the prepared guest between
// runs: kaidoku/linuxguest in the user's cache directory (the system's
// temporary directory when there is none).
func DefaultWorkdir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "kaidoku", "linuxguest")
}
