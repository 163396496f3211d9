package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// loadCmd boots an image on a datagram bench and drives its echo service,
// optionally with QEMU's gdbstub open so that a sampler can read the
// guest's stacks meanwhile, or sampling them itself (-profile). It prints
// the echo figures, the profile's summary and the guest's stats at the
// end.
func loadCmd(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	inFlight := fs.Int("inflight", 1, "requests outstanding (1: sequential RTT)")
	dur := fs.Duration("duration", 10*time.Second, "how long to drive load")
	size := fs.Int("size", 64, "payload bytes")
	gdb := fs.Int("gdb", 0, "open a gdbstub on this 127.0.0.1 port")
	appendArgs := fs.String("append", "", "extra kernel command line words")
	stats := fs.String("stats", "latency napi irq", "stats sections to print afterwards (empty: none)")
	reflected := fs.Bool("reflected", false, "boot the XDP reflector (kaidoku.mode=reflector) and print its counters from the console")
	prof := fs.String("profile", "", "sample the guest's stacks during the load into this pprof profile (opens a gdbstub)")
	hz := fs.Int("hz", 200, "with -profile: samples per second")
	fs.Parse(args)
	if *prof != "" && *gdb == 0 {
		port, err := freePort()
		if err != nil {
			return err
		}
		*gdb = port
	}
	if *reflected {
		// No stack, so no stats service: the counters come from the
		// console's STATS lines.
		*appendArgs += " kaidoku.mode=reflector kaidoku.stats.console=500ms"
		*stats = ""
	}
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
		Append: append([]string{"kaidoku.stats.allow=any"}, strings.Fields(*appendArgs)...)}
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
	var profiled chan error
	var summary strings.Builder
	if *prof != "" {
		profiled = make(chan error, 1)
		o := profileOptions{Addr: fmt.Sprintf("127.0.0.1:%d", *gdb), Image: image, Out: *prof, Duration: *dur, Hz: *hz, Top: 10}
		go func() {
			_, err := profileGuest(context.Background(), o, &summary)
			profiled <- err
		}()
	}
	var r testbench.EchoResult
	if *reflected {
		before, _ := lastStats(vm, time.Second)
		r = b.Echo(testbench.EchoOptions{Src: src, Port: 7, Size: *size, InFlight: *inFlight, Duration: *dur, Timeout: 200 * time.Millisecond})
		after, err := lastStats(vm, time.Second)
		if err != nil {
			return err
		}
		defer printReflectorStats(before, after)
	} else {
		r = b.Echo(testbench.EchoOptions{Src: src, Port: 7, Size: *size, InFlight: *inFlight, Duration: *dur, Timeout: 200 * time.Millisecond})
	}
	fmt.Printf("echoes %d/s, sent %d, received %d, lost %d (%.2f %%); RTT p50 %v p90 %v p99 %v p999 %v max %v\n",
		int(r.PPS()), r.Sent, r.Received, r.Lost, r.LossPct(), r.Percentile(0.5), r.Percentile(0.9),
		r.Percentile(0.99), r.Percentile(0.999), r.Percentile(1))
	if profiled != nil {
		if err := <-profiled; err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		fmt.Print(summary.String())
	}
	for _, sec := range strings.Fields(*stats) {
		text, err := b.Request(src, 161, []byte(sec), 5*time.Second)
		if err != nil {
			return fmt.Errorf("stats %s: %w", sec, err)
		}
		fmt.Printf("== %s\n%s", sec, text)
	}
	return nil
}

var statsLine = regexp.MustCompile(`^STATS `)

// lastStats waits for the next STATS console line (printed by
// kaidoku.stats.console) and returns its counters.
func lastStats(vm *qemu.VM, timeout time.Duration) (map[string]uint64, error) {
	n := len(vm.Console.Lines())
	l, _, err := vm.Console.Expect(statsLine, n, 2*timeout)
	if err != nil {
		return nil, fmt.Errorf("no STATS line on the console: %w", err)
	}
	return testbench.ParseConsoleStats(l.Text)
}

// printReflectorStats prints what the driver and NAPI did during the run:
// interrupts, polls and packets per poll and per interrupt.
func printReflectorStats(before, after map[string]uint64) {
	d := func(k string) uint64 { return after[k] - before[k] }
	per := func(a, b uint64) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	fmt.Printf("driver during the run: rx %d, xdp_tx %d (xdp_tx_drops %d), rx drops %d, tx kicks %d; interrupts %d, NAPI polls %d (%d packets): %.1f packets per poll, %.1f packets per interrupt, %.2f polls per interrupt; CPU halts %d\n",
		d("rx_packets"), d("xdp_tx"), d("xdp_tx_drops"), d("rx_drops"), d("tx_kicks"), d("interrupts"), d("polls"), d("poll_packets"),
		per(d("poll_packets"), d("polls")), per(d("rx_packets"), d("interrupts")), per(d("polls"), d("interrupts")), d("halts"))
}
