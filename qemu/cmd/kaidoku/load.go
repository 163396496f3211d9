package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// loadCmd boots an image on a datagram bench and drives its echo service,
// optionally with a gdbstub open so that ../shared/tools/guest-profile can
// sample the guest meanwhile. It prints the echo figures and the guest's
// stats at the end.
func loadCmd(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	inFlight := fs.Int("inflight", 1, "requests outstanding (1: sequential RTT)")
	dur := fs.Duration("duration", 10*time.Second, "how long to drive load")
	size := fs.Int("size", 64, "payload bytes")
	gdb := fs.Int("gdb", 0, "open a gdbstub on this 127.0.0.1 port")
	appendArgs := fs.String("append", "", "extra kernel command line words")
	stats := fs.String("stats", "latency napi irq", "stats sections to print afterwards (empty: none)")
	reflected := fs.Bool("reflected", false, "the guest reflects frames (mode=reflector)")
	fs.Parse(args)
	image := "build/kaidoku.elf"
	if fs.NArg() > 0 {
		image = fs.Arg(0)
	}
	guest := netip.MustParseAddr("10.0.2.15")
	mac, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(mac, guest)
	if err != nil {
		return err
	}
	defer b.Close()
	cfg := qemu.Config{Kernel: image, Net: nd, GDBPort: *gdb, Lifetime: *dur + 5*time.Minute,
		Append: append([]string{"stats.allow=any"}, strings.Fields(*appendArgs)...)}
	vm, err := qemu.Start(cfg)
	if err != nil {
		return err
	}
	defer vm.Close()
	ready, err := vm.WaitReady(60 * time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "load: QEMU pid %d, %s, READY after %v; driving %d in flight for %v\n", vm.PID(), vm.Accel, ready, *inFlight, *dur)
	src := netip.AddrPortFrom(testbench.TestHost, 40000)
	if *stats != "" {
		b.Request(src, 161, []byte("latency-reset"), 5*time.Second)
	}
	var r testbench.EchoResult
	if *reflected {
		r = b.Reflect(src, 7, *size, *inFlight, 0, *dur, 200*time.Millisecond)
	} else {
		r = b.Echo(src, 7, *size, *inFlight, 0, *dur, 200*time.Millisecond)
	}
	fmt.Printf("echoes %d/s, sent %d, received %d, lost %d (%.2f %%); RTT p50 %v p90 %v p99 %v p999 %v max %v\n",
		int(r.PPS()), r.Sent, r.Received, r.Lost, r.LossPct(), r.Percentile(0.5), r.Percentile(0.9),
		r.Percentile(0.99), r.Percentile(0.999), r.Percentile(1))
	for _, sec := range strings.Fields(*stats) {
		text, err := b.Request(src, 161, []byte(sec), 5*time.Second)
		if err != nil {
			return fmt.Errorf("stats %s: %w", sec, err)
		}
		fmt.Printf("== %s\n%s", sec, text)
	}
	return nil
}
