// Command linuxguest prepares and boots the Linux guest peer (package
// qemu/linuxguest) under the same launcher as the kaidoku image, and
// measures it: boot-to-READY, a few echoes, memory in use.
//
//	go run ./qemu/linuxguest/cmd/linuxguest -n 5      boot 5 times, report
//	go run ./qemu/linuxguest/cmd/linuxguest -serve    boot once and serve,
//	    echo on 127.0.0.1:20007 and stats on 127.0.0.1:20161, until Ctrl-C
//
// It must run inside kaidoku's module (Prepare builds ./image/linuxecho).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/linuxguest"
)

func main() {
	n := flag.Int("n", 1, "boot this many times, one after the other")
	serve := flag.Bool("serve", false, "boot once and keep serving until interrupted")
	echoPort := flag.Int("echo", 20007, "host port forwarded to the guest's echo (udp/7)")
	statsPort := flag.Int("stats", 20161, "host port forwarded to the guest's stats (udp/161)")
	workdir := flag.String("workdir", linuxguest.DefaultWorkdir(), "where the kernel and initramfs are cached")
	console := flag.Bool("console", false, "copy the guest console to stdout")
	appendWords := flag.String("append", "", "more kernel command line words, e.g. kaidoku.addr=10.0.2.16/24")
	flag.Parse()

	start := time.Now()
	g, err := linuxguest.Prepare(*workdir)
	if err != nil {
		fail(err)
	}
	size := int64(-1)
	if st, err := os.Stat(g.Initrd); err == nil {
		size = st.Size()
	}
	fmt.Printf("prepared in %v: kernel %s %s\n  initramfs %s (%d bytes)\n  modules %v\n",
		time.Since(start).Round(time.Millisecond), g.Release, g.Kernel, g.Initrd, size, g.Modules)
	if g.Note != "" {
		fmt.Println("  note:", g.Note)
	}
	base := qemu.Config{
		Net: qemu.UserNet{Forwards: []qemu.Forward{
			{HostPort: *echoPort, GuestPort: linuxguest.EchoPort},
			{HostPort: *statsPort, GuestPort: linuxguest.StatsPort},
		}},
		Lifetime: 5 * time.Minute,
		Append:   strings.Fields(*appendWords),
	}
	if *console {
		base.Console = os.Stdout
	}
	if *serve {
		base.Lifetime = 24 * time.Hour
		*n = 1
	}
	var ready []time.Duration
	for i := 0; i < *n; i++ {
		d, err := boot(g, base, *echoPort, *statsPort, *serve)
		if err != nil {
			fail(fmt.Errorf("boot %d: %w", i+1, err))
		}
		ready = append(ready, d)
	}
	if len(ready) > 1 {
		slices.Sort(ready)
		fmt.Printf("boot to READY over %d boots: min %v, median %v, max %v\n", len(ready),
			ready[0].Round(time.Millisecond), ready[len(ready)/2].Round(time.Millisecond),
			ready[len(ready)-1].Round(time.Millisecond))
	}
}

// boot starts the guest, waits for READY, checks the echo and reads the
// stats, and returns boot-to-READY.
func boot(g *linuxguest.Guest, base qemu.Config, echoPort, statsPort int, serve bool) (time.Duration, error) {
	cfg := g.Config(base)
	vm, err := qemu.Start(cfg)
	if err != nil {
		return 0, err
	}
	defer vm.Close()
	d, err := vm.WaitReady(2 * time.Minute)
	if err != nil {
		return 0, err
	}
	uptime := "?"
	if l, err := vm.Console.ExpectString("uptime", 0); err == nil {
		uptime = l.Text
	}
	fmt.Printf("boot to READY %v (%s, %s)\n  %s\n", d.Round(time.Millisecond), vm.Accel, cfg.Append, uptime)

	msg := bytes.Repeat([]byte("kaidoku "), 8)
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		reply, err := exchange(echoPort, msg)
		if err != nil || !bytes.Equal(reply, msg) {
			return d, fmt.Errorf("echo %d: %v (reply %q)", i, err, reply)
		}
		if i == 0 || i == 4 {
			fmt.Printf("  echo %d: 64 bytes back in %v\n", i, time.Since(t0).Round(time.Microsecond))
		}
	}
	reply, err := exchange(statsPort, []byte("stats"))
	if err != nil {
		return d, fmt.Errorf("stats: %w", err)
	}
	kv := linuxguest.ParseStats(reply)
	mem, _ := strconv.ParseUint(kv["mem_in_use_bytes"], 10, 64)
	fmt.Printf("  mem_in_use_bytes %d (%.1f MiB), Udp InDatagrams %s OutDatagrams %s\n",
		mem, float64(mem)/(1<<20), kv["Udp.InDatagrams"], kv["Udp.OutDatagrams"])
	if serve {
		fmt.Printf("serving: echo udp 127.0.0.1:%d, stats udp 127.0.0.1:%d; Ctrl-C stops the VM\n", echoPort, statsPort)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		select {
		case <-sig:
		case <-vm.Done():
		}
	}
	return d, nil
}

// exchange sends msg to 127.0.0.1:port and waits up to 3 s for a reply.
func exchange(port int, msg []byte) ([]byte, error) {
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "linuxguest:", err)
	os.Exit(1)
}
