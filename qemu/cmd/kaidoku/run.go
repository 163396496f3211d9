package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kaidoku-net/kaidoku/board/cmdline"
	"github.com/kaidoku-net/kaidoku/image/config"
	"github.com/kaidoku-net/kaidoku/qemu"
)

// defaultForwards are the services of the image, forwarded from
// 127.0.0.1 under user-mode networking: host port → guest port.
var defaultForwards = "10007:7,10009:9,10161:161,12002:2002"

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	accel := fs.String("accel", "", "accelerator: kvm, tcg, or empty to probe")
	mem := fs.Int("m", 4096, "guest memory in MiB")
	smp := fs.Int("smp", 1, "guest CPUs")
	netMode := fs.String("net", "user", "network: user, none")
	fwd := fs.String("fwd", defaultForwards, "user-mode UDP forwards hostport:guestport,...")
	appendArgs := fs.String("append", "", "extra kernel command line words, e.g. 'kaidoku.busypoll=200us' (see below)")
	lifetime := fs.Duration("lifetime", 24*time.Hour, "kill the VM after this long")
	gdb := fs.Int("gdb", 0, "gdbstub port on 127.0.0.1 (0: none)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: kaidoku run [flags] [PACKAGE | IMAGE]")
		fmt.Fprintln(w, "\nBoots IMAGE (build/kaidoku.elf when none is given), or builds the main package")
		fmt.Fprintln(w, "PACKAGE first as kaidoku build does (e.g. kaidoku run -fwd 10053:53 ./image/dns).")
		fmt.Fprintln(w, "Words after -- in -append are the program's arguments (os.Args).")
		fs.PrintDefaults()
		fmt.Fprintln(w, "\nimage/kaidoku's kernel command line words (-append); other words, Linux's, are ignored.")
		fmt.Fprintln(w, "A program on package unikernel takes the same, without the services but stats:")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, p := range config.Params(config.Kaidoku) {
			fmt.Fprintf(tw, "  %s%s\t%s\t%s\n", cmdline.Namespace, p.Name, p.Default, p.Usage)
		}
		tw.Flush()
	}
	fs.Parse(args)
	if *mem < qemu.KaidokuMinMemoryMB {
		return fmt.Errorf("-m %d: a kaidoku image needs at least %d MiB of guest memory", *mem, qemu.KaidokuMinMemoryMB)
	}
	cfg := qemu.Config{
		Accel:    qemu.Accel(*accel),
		MemoryMB: *mem,
		SMP:      *smp,
		Lifetime: *lifetime,
		Console:  os.Stdout,
		GDBPort:  *gdb,
	}
	if *appendArgs != "" {
		cfg.Append = strings.Fields(*appendArgs)
	}
	var fwds []qemu.Forward
	switch *netMode {
	case "user":
		var err error
		if fwds, err = parseForwards(*fwd); err != nil {
			return err
		}
		for _, f := range fwds {
			if err := hostPortFree(f.HostPort); err != nil {
				return err
			}
		}
		cfg.Net = qemu.UserNet{Forwards: fwds}
	case "none":
	default:
		return fmt.Errorf("unknown -net %q", *netMode)
	}

	image := "build/kaidoku.elf"
	if fs.NArg() > 1 {
		return fmt.Errorf("run takes one package or image, not %q (program arguments go after -- in -append)", fs.Args())
	}
	if fs.NArg() == 1 {
		image = fs.Arg(0)
		if !isImage(image) {
			if fi, err := os.Stat(image); err == nil && !fi.IsDir() {
				return fmt.Errorf("%s is neither an ELF image nor a package directory", image)
			}
			name, err := packageName(image)
			if err != nil {
				return err
			}
			tmp, err := os.MkdirTemp("", "kaidoku-run")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			out := filepath.Join(tmp, name+".elf")
			fmt.Fprintf(os.Stderr, "kaidoku: building %s\n", image)
			if err := buildImage(image, out, ""); err != nil {
				return err
			}
			image = out
		}
	} else if !isImage(image) {
		return fmt.Errorf("no image at %s: run `make image`, or give a package or an image (kaidoku run ./path/to/program)", image)
	}

	cfg.Kernel = image

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)

	vm, err := qemu.Start(cfg)
	if err != nil {
		return err
	}
	defer vm.Close()
	fmt.Fprintf(os.Stderr, "kaidoku: QEMU pid %d, accelerator %s (%s)\n", vm.PID(), vm.Accel, vm.Why)
	for _, f := range fwds {
		fmt.Fprintf(os.Stderr, "kaidoku: udp 127.0.0.1:%d -> guest port %d\n", f.HostPort, f.GuestPort)
	}
	go func() {
		if d, err := vm.WaitReady(*lifetime); err == nil {
			fmt.Fprintf(os.Stderr, "kaidoku: boot to READY in %v (Ctrl-C stops the VM)\n", d.Round(time.Millisecond))
		}
	}()
	select {
	case s := <-sig:
		fmt.Fprintf(os.Stderr, "kaidoku: %v: stopping QEMU pid %d\n", s, vm.PID())
		vm.Close()
		return nil
	case <-vm.Done():
	}
	code, err := vm.Wait()
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("guest exited with code %d", code)
	}
	return nil
}

// parseForwards reads -fwd: HOST:GUEST UDP port pairs, comma-separated
// (an empty list forwards nothing; host port 0 lets QEMU pick one).
func parseForwards(s string) ([]qemu.Forward, error) {
	var fwds []qemu.Forward
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		h, g, ok := strings.Cut(f, ":")
		hp, err1 := strconv.ParseUint(h, 10, 16)
		gp, err2 := strconv.ParseUint(g, 10, 16)
		if !ok || err1 != nil || err2 != nil || gp == 0 {
			return nil, fmt.Errorf("bad forward %q in -fwd: want HOSTPORT:GUESTPORT, UDP ports from 1 to 65535 (host port 0: any free one), e.g. -fwd 10053:53,11111:11111", f)
		}
		fwds = append(fwds, qemu.Forward{HostPort: int(hp), GuestPort: int(gp)})
	}
	return fwds, nil
}

// hostPortFree checks that QEMU will be able to bind the forward's host
// side, 127.0.0.1:port, and says what to do if not.
func hostPortFree(port int) error {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("UDP port 127.0.0.1:%d is already in use on the host (another kaidoku run?): stop that program or forward another host port with -fwd OTHER:GUEST", port)
		}
		return fmt.Errorf("forwarding 127.0.0.1:%d: %v", port, err)
	}
	return c.Close()
}
