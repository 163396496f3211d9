package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/qemu/bench"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// latencyCmd fetches the interrupt-to-wakeup histograms from a running
// image's stats service, prints them as a table in µs and plots them.
func latencyCmd(args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:10161", "the image's stats service (make run forwards it here)")
	plotDir := fs.String("plot", "results", "folder for irq-wakeup.png (empty: no plot)")
	reset := fs.Bool("reset", false, "clear the histograms after reading them")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	fs.Parse(args)

	text, err := statsRequest(*addr, bench.SectionCounters, *timeout)
	if err != nil {
		return err
	}
	snap, err := stats.ParseCounters(text)
	if err != nil {
		return fmt.Errorf("stats service at %s: %w", *addr, err)
	}
	parts, err := testbench.LatencyParts(snap)
	if err != nil {
		return err
	}
	fmt.Print(bench.LatencyTable(parts))
	if *plotDir != "" {
		if err := os.MkdirAll(*plotDir, 0o755); err != nil {
			return err
		}
		files, err := bench.Plots([]bench.Result{{Peer: "kaidoku", Latency: parts}}, *plotDir)
		if err != nil {
			return err
		}
		for _, f := range files {
			if filepath.Base(f) == "irq-wakeup.png" {
				fmt.Println("plot:", f)
			}
		}
	}
	if *reset {
		if _, err := statsRequest(*addr, bench.SectionReset, *timeout); err != nil {
			return err
		}
	}
	return nil
}

// statsRequest sends one datagram naming a section and returns the
// answer.
func statsRequest(addr, section string, timeout time.Duration) (string, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := c.Write([]byte(section)); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return "", fmt.Errorf("stats service at %s: %w (is the image running, e.g. make run?)", addr, err)
	}
	return string(buf[:n]), nil
}
