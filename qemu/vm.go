package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultBinary is the QEMU system emulator, from Debian's qemu-system-x86.
const DefaultBinary = "qemu-system-x86_64"

// ReadyPattern is what the image prints once its services are up.
var ReadyPattern = regexp.MustCompile(`\bREADY\b`)

// KaidokuMinMemoryMB is the least guest memory a kaidoku image boots in:
// the Go runtime's memory starts at 0x10000000 and the DMA region of the
// virtqueues and packet buffers ends at 0x60000000 (package board).
// With less, the guest faults before it can print why.
const KaidokuMinMemoryMB = 0x60000000 >> 20

// Config describes one VM.
type Config struct {
	// Binary is the QEMU system emulator; DefaultBinary when empty.
	Binary string
	// Kernel is the image (ELF), or a Linux kernel.
	Kernel string
	// Initrd is an optional initramfs, for Linux guests.
	Initrd string
	// Append holds kernel command line words: the image's are
	// kaidoku.<name>[=value] (package image/config); it ignores others.
	Append []string
	// Accel is the accelerator; empty probes (KVM if it really runs
	// guests, else TCG).
	Accel Accel
	// MemoryMB is the guest memory, 4096 when 0; a kaidoku image needs
	// KaidokuMinMemoryMB.
	MemoryMB int
	// SMP is the number of guest CPUs, 1 when 0.
	SMP int
	// Net is the network backend; nil means no network device.
	Net Network
	// MAC is the guest's MAC address; MACFor(1) when empty.
	MAC string
	// Lifetime bounds the VM: it is killed after this long (10 minutes
	// when 0).
	Lifetime time.Duration
	// Console optionally receives a copy of the console (make run:
	// os.Stdout).
	Console io.Writer
	// Monitor is an optional path for a QEMU HMP monitor unix socket.
	Monitor string
	// GDBPort optionally opens a gdbstub on 127.0.0.1 (guest profiling).
	GDBPort int
	// NoTSC stops the launcher passing the host TSC rate under TCG.
	NoTSC bool
	// Extra holds more QEMU arguments.
	Extra []string
	// Wrap optionally wraps QEMU's argv, e.g. Namespace.Wrap.
	Wrap func(argv []string) []string
}

// VM is a running QEMU.
type VM struct {
	Config  Config
	Accel   Accel
	Why     string // why the accelerator was chosen
	Args    []string
	Console *Console
	Started time.Time

	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	killOnce sync.Once
	timer    *time.Timer
}

// Start launches the VM. The caller must Close it.
func Start(cfg Config) (*VM, error) {
	if cfg.Binary == "" {
		cfg.Binary = DefaultBinary
	}
	if _, err := exec.LookPath(cfg.Binary); err != nil {
		return nil, fmt.Errorf("%s not found: install Debian's qemu-system-x86 package", cfg.Binary)
	}
	if _, err := os.Stat(cfg.Kernel); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 4096
	}
	if cfg.SMP == 0 {
		cfg.SMP = 1
	}
	if cfg.MAC == "" {
		cfg.MAC = MACFor(1)
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = 10 * time.Minute
	}
	vm := &VM{Config: cfg, done: make(chan struct{})}
	if cfg.Accel == "" {
		vm.Accel, vm.Why = ProbeAccel(cfg.Binary)
	} else {
		vm.Accel, vm.Why = cfg.Accel, "requested"
	}
	vm.Args = vm.buildArgs()

	argv := append([]string{cfg.Binary}, vm.Args...)
	if cfg.Wrap != nil {
		argv = cfg.Wrap(argv)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	vm.Started = time.Now()
	vm.Console = newConsole(vm.Started, cfg.Console)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	vm.cmd = cmd
	go func() {
		vm.Console.read(stdout)
		vm.waitErr = cmd.Wait()
		close(vm.done)
	}()
	vm.timer = time.AfterFunc(cfg.Lifetime, vm.Kill)
	return vm, nil
}

func (vm *VM) buildArgs() []string {
	c := vm.Config
	cpu := "max"
	accel := "tcg"
	if vm.Accel == KVM {
		cpu, accel = "host,invtsc=on,kvmclock=on", "kvm"
	}
	args := []string{
		"-machine", "microvm,x-option-roms=on,pit=on,pic=off,rtc=on,auto-kernel-cmdline=on",
		"-global", "virtio-mmio.force-legacy=false",
		"-accel", accel, "-cpu", cpu,
		"-m", strconv.Itoa(c.MemoryMB) + "M", "-smp", strconv.Itoa(c.SMP),
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-serial", "stdio", "-monitor", "none",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-kernel", c.Kernel,
	}
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	var words []string
	// Under TCG the guest TSC ticks at the host's rate: pass it, so the
	// guest need not calibrate against an emulated timer. Never under KVM,
	// where the pvclock is right and the TSC may be scaled. The launcher's
	// words go first: Append's can override them, and a "--" in Append
	// (the rest is the init's) does not swallow them.
	if vm.Accel == TCG && !c.NoTSC {
		if khz, ok := HostTSCkHz(); ok {
			words = append(words, "kaidoku.tsc_khz="+strconv.FormatUint(khz, 10))
		}
	}
	words = append(words, c.Append...)
	if len(words) > 0 {
		args = append(args, "-append", strings.Join(words, " "))
	}
	if c.Net != nil {
		args = append(args, c.Net.args(c.MAC)...)
	}
	if c.Monitor != "" {
		args = append(args, "-monitor", "unix:"+c.Monitor+",server=on,wait=off")
	}
	if c.GDBPort != 0 {
		args = append(args, "-gdb", "tcp:127.0.0.1:"+strconv.Itoa(c.GDBPort))
	}
	return append(args, c.Extra...)
}

// PID returns QEMU's process ID.
func (vm *VM) PID() int { return vm.cmd.Process.Pid }

// WaitReady waits for the READY line and returns the time from QEMU's
// start to it: boot-to-READY.
func (vm *VM) WaitReady(timeout time.Duration) (time.Duration, error) {
	l, _, err := vm.Console.Expect(ReadyPattern, 0, timeout)
	if err != nil {
		return 0, fmt.Errorf("%w\nconsole:\n%s", err, vm.Console.Text())
	}
	return l.At, nil
}

// Done is closed when QEMU has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// ErrNoExitCode means QEMU ended without the guest writing an exit code
// (killed, or a triple fault).
var ErrNoExitCode = errors.New("qemu: the guest did not report an exit code")

// Wait waits for QEMU to exit and returns the guest's exit code, carried
// out by isa-debug-exit as QEMU status (code<<1)|1.
func (vm *VM) Wait() (int, error) {
	<-vm.done
	var ee *exec.ExitError
	if errors.As(vm.waitErr, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Exited() && st.ExitStatus()&1 == 1 {
			return st.ExitStatus() >> 1, nil
		}
		return -1, fmt.Errorf("%w: %v", ErrNoExitCode, vm.waitErr)
	}
	return -1, ErrNoExitCode
}

// Kill kills QEMU by its PID (and its process group) and waits for it.
func (vm *VM) Kill() {
	vm.killOnce.Do(func() {
		if vm.cmd.Process != nil {
			syscall.Kill(-vm.cmd.Process.Pid, syscall.SIGKILL)
			vm.cmd.Process.Kill()
		}
	})
	<-vm.done
}

// Close stops the VM if it still runs. It is safe to call more than once.
func (vm *VM) Close() error {
	if vm.timer != nil {
		vm.timer.Stop()
	}
	vm.Kill()
	return nil
}

// WaitContext waits for exit or ctx, whichever is first; on ctx it kills
// the VM.
func (vm *VM) WaitContext(ctx context.Context) (int, error) {
	select {
	case <-vm.done:
	case <-ctx.Done():
		vm.Kill()
	}
	return vm.Wait()
}
