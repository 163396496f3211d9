//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// programDir is where the initramfs keeps the programs /init may start
// (qemu/linuxguest Options.Programs: u-root's /bin).
const programDir = "/bin"

// startProgram starts the program that kaidoku.exec= names, with init's
// arguments (the kernel command line's words after "--"), its output on
// the console, and, when kaidoku.exec.port= gives its UDP port, waits
// until the program has bound it, so that READY means the program
// serves, as a kaidoku image's READY does. A program that exits is
// reported on the console; the echo and stats services go on.
func startProgram(cfg config, args []string, timeout time.Duration) (string, error) {
	path := cfg.exec
	if !strings.Contains(path, "/") {
		path = programDir + "/" + path
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(os.Stderr, "linuxecho: %s exited: %v\n", path, err)
		exited <- err
	}()
	desc := fmt.Sprintf("%s (pid %d)", path, cmd.Process.Pid)
	if cfg.execPort == 0 {
		return desc, nil
	}
	deadline := time.Now().Add(timeout)
	for {
		if udpPortBound(cfg.execPort) {
			return fmt.Sprintf("%s on udp/%d", desc, cfg.execPort), nil
		}
		select {
		case err := <-exited:
			return "", fmt.Errorf("%s exited before binding udp/%d: %v", path, cfg.execPort, err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s did not bind udp/%d within %v", path, cfg.execPort, timeout)
		}
	}
}

// udpPortBound reports whether a UDP socket of any address family is
// bound to port, from /proc/net/udp and /proc/net/udp6: read, never
// probed with a bind, which could take the port from the program.
func udpPortBound(port int) bool {
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		r, err := os.Open(f)
		if err != nil {
			continue
		}
		found := udpTableHasPort(r, port)
		r.Close()
		if found {
			return true
		}
	}
	return false
}

// udpTableHasPort reads a /proc/net/udp table: after the header, one
// socket a line, its local address second, as ADDR:PORT in hex.
func udpTableHasPort(r io.Reader, port int) bool {
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		i := strings.LastIndexByte(f[1], ':')
		if i < 0 {
			continue
		}
		if p, err := strconv.ParseUint(f[1][i+1:], 16, 16); err == nil && int(p) == port {
			return true
		}
	}
	return false
}
