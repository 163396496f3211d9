package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
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
var defaultForwards = "10007:7,10009:9,10161:161"

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
		fmt.Fprintln(w, "usage: kaidoku run [flags] [image]")
		fs.PrintDefaults()
		fmt.Fprintln(w, "\nThe image's kernel command line words (-append); other words, Linux's, are ignored:")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, p := range config.Params(config.Kaidoku) {
			fmt.Fprintf(tw, "  %s%s\t%s\t%s\n", cmdline.Namespace, p.Name, p.Default, p.Usage)
		}
		tw.Flush()
	}
	fs.Parse(args)
	image := "build/kaidoku.elf"
	if fs.NArg() > 0 {
		image = fs.Arg(0)
	}

	cfg := qemu.Config{
		Kernel:   image,
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
		for _, f := range strings.Split(*fwd, ",") {
			h, g, ok := strings.Cut(f, ":")
			hp, err1 := strconv.Atoi(h)
			gp, err2 := strconv.Atoi(g)
			if !ok || err1 != nil || err2 != nil {
				return fmt.Errorf("bad forward %q", f)
			}
			fwds = append(fwds, qemu.Forward{HostPort: hp, GuestPort: gp})
		}
		cfg.Net = qemu.UserNet{Forwards: fwds}
	case "none":
	default:
		return fmt.Errorf("unknown -net %q", *netMode)
	}

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
