//go:build linux

// Command linuxecho is the Linux guest peer of the kaidoku benchmarks: the
// same UDP echo service as the kaidoku image, served by a stock Debian
// kernel through its own network stack, so that the two can be measured
// side by side on the same QEMU settings.
//
// It runs as /init of an initramfs that package qemu/linuxguest builds with
// u-root. As PID 1 it mounts /proc and /sys, loads the kernel modules the
// initramfs carries (virtio-mmio and virtio-net, which Debian builds as
// modules), configures the interface over rtnetlink, and then serves
//
//	udp/7    echo (RFC 862): one socket, a plain blocking recvfrom/sendto
//	         loop on one OS thread, not Go's netpoller, so the comparison
//	         really is Linux's blocking recvfrom
//	udp/161  a short text report: mem_in_use_bytes (MemTotal − MemAvailable
//	         from /proc/meminfo), the echo and agent counters and
//	         /proc/net/snmp
//	udp/5555 the test agent (package image/agent/agentproto) with real
//	         system calls, answering only its test host, so that the
//	         host's conformance cases run against Linux as against the
//	         kaidoku image
//
// and prints a line containing READY on the console once both are bound.
//
// Kernel command line words it reads (from /proc/cmdline; the kernel keeps
// dotted words away from init's arguments and environment):
//
//	kaidoku.addr=10.0.2.15/24  the interface's address and prefix
//	kaidoku.gw=10.0.2.2        the default gateway ("none": no route)
//	kaidoku.dev=eth0           the interface
//	kaidoku.agent=5555         the test agent's port ("off": none)
//	kaidoku.agent.allow=CIDR   whom the agent answers ("any": anyone;
//	                           default 10.0.2.2/32, as the kaidoku image)
//	kaidoku.exec=NAME          start /bin/NAME (a program the initramfs
//	                           carries, qemu/linuxguest Options.Programs)
//	                           with init's arguments, the words after "--"
//	kaidoku.exec.port=N        READY waits until that program has bound
//	                           UDP port N
//	<module>.<param>=<value>   passed to that module when it is loaded,
//	                           as modprobe would do
//
// The defaults are those of the kaidoku image and of QEMU's user-mode
// networking.
//
// The echo path uses the standard library's syscall package only; the
// agent uses golang.org/x/sys/unix, already among the module's
// dependencies.
package main

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Ports served, as in the kaidoku image.
const (
	echoPort  = 7
	statsPort = 161
	agentPort = 5555
)

// defaultTestHost is whom the agent answers by default: the gateway of
// QEMU's user-mode network, which the test bench also plays.
var defaultTestHost = netip.MustParsePrefix("10.0.2.2/32")

// modulesDir is where the initramfs keeps the modules to load, named so
// that sorting them gives a dependency order (see qemu/linuxguest).
const modulesDir = "/lib/modules/kaidoku"

// config is what the kernel command line may override.
type config struct {
	dev     string
	addr    netip.Prefix
	gw      netip.Addr // invalid: no default route
	modArgs map[string][]string

	agentPort  int          // 0: no agent
	agentAllow netip.Prefix // zero: anyone

	exec     string // a program to start (exec.go); empty: none
	execPort int    // its UDP port, bound before READY; 0: not waited for
}

func parseCmdline(cmdline string) (config, error) {
	c := config{
		dev:     "eth0",
		addr:    netip.MustParsePrefix("10.0.2.15/24"),
		gw:      netip.MustParseAddr("10.0.2.2"),
		modArgs: map[string][]string{},

		agentPort:  agentPort,
		agentAllow: defaultTestHost,
	}
	for _, w := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(w, "=")
		var err error
		switch k {
		case "kaidoku.dev":
			c.dev = v
		case "kaidoku.addr":
			c.addr, err = netip.ParsePrefix(v)
			if err == nil && !c.addr.Addr().Is4() {
				err = fmt.Errorf("%s is not IPv4", v)
			}
		case "kaidoku.gw":
			if v == "none" {
				c.gw = netip.Addr{}
			} else if c.gw, err = netip.ParseAddr(v); err == nil && !c.gw.Is4() {
				err = fmt.Errorf("%s is not IPv4", v)
			}
		case "kaidoku.agent":
			if v == "off" {
				c.agentPort = 0
			} else if c.agentPort, err = strconv.Atoi(v); err == nil && (c.agentPort < 1 || c.agentPort > 65535) {
				err = fmt.Errorf("port %d out of range", c.agentPort)
			}
		case "kaidoku.agent.allow":
			if v == "any" {
				c.agentAllow = netip.Prefix{}
			} else if c.agentAllow, err = netip.ParsePrefix(v); err == nil && !c.agentAllow.Addr().Is4() {
				err = fmt.Errorf("%s is not IPv4", v)
			}
		case "kaidoku.exec":
			c.exec = v
		case "kaidoku.exec.port":
			if c.execPort, err = strconv.Atoi(v); err == nil && (c.execPort < 1 || c.execPort > 65535) {
				err = fmt.Errorf("port %d out of range", c.execPort)
			}
		default:
			// module.param=value, kept for finit_module as modprobe
			// keeps it; module names treat - and _ alike.
			if mod, param, ok := strings.Cut(w, "."); ok && mod != "kaidoku" && param != "" {
				mod = strings.ReplaceAll(mod, "-", "_")
				c.modArgs[mod] = append(c.modArgs[mod], param)
			}
		}
		if err != nil {
			return c, fmt.Errorf("%s: %v", w, err)
		}
	}
	return c, nil
}

func main() {
	if os.Getpid() == 1 {
		mountFilesystems()
	}
	initStart := uptime()
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		fatal("reading the kernel command line: %v", err)
	}
	cfg, err := parseCmdline(string(cmdline))
	if err != nil {
		fatal("kernel command line: %v", err)
	}
	loaded, err := loadModules(modulesDir, cfg.modArgs)
	if err != nil {
		fatal("%v", err)
	}
	index, err := waitLink(cfg.dev, 10*time.Second)
	if err != nil {
		fatal("%v", err)
	}
	if err := configure(cfg, index); err != nil {
		fatal("configuring %s: %v", cfg.dev, err)
	}
	carrier := waitCarrier(cfg.dev, 5*time.Second)
	echoFd, err := bindUDP(echoPort)
	if err != nil {
		fatal("echo socket: %v", err)
	}
	statsFd, err := bindUDP(statsPort)
	if err != nil {
		fatal("stats socket: %v", err)
	}
	var agent *agentServer
	if cfg.agentPort != 0 {
		agentFd, err := bindUDP(cfg.agentPort)
		if err != nil {
			fatal("agent socket: %v", err)
		}
		if err := setupInterrupt(); err != nil {
			fatal("agent: %v", err)
		}
		agent = newAgent(cfg.agentAllow)
		go agent.serve(agentFd)
	}
	go serveStats(statsFd, agent)
	program := "none"
	if cfg.exec != "" {
		if program, err = startProgram(cfg, os.Args[1:], 30*time.Second); err != nil {
			fatal("kaidoku.exec=%s: %v", cfg.exec, err)
		}
	}
	gw := "none"
	if cfg.gw.IsValid() {
		gw = cfg.gw.String()
	}
	mods := "none"
	if len(loaded) > 0 {
		mods = strings.Join(loaded, ",")
	}
	// One write, so the READY line cannot be interleaved with kernel
	// messages; the uptimes say how much of boot-to-READY was the guest's,
	// and how much of that this program's.
	now := uptime()
	agentDesc := "off"
	if agent != nil {
		agentDesc = fmt.Sprintf("udp/%d", cfg.agentPort)
	}
	fmt.Printf("linuxecho: %s %s gw %s, carrier %s, modules %s, echo udp/%d, stats udp/%d, agent %s, program %s, uptime %.3f s (init %.3f s)\nlinuxecho: READY\n",
		cfg.dev, cfg.addr, gw, carrier, mods, echoPort, statsPort, agentDesc, program, now, now-initStart)
	serveEcho(echoFd)
}

// mountFilesystems mounts what the program reads: /proc (command line,
// meminfo, snmp) and /sys (interfaces appearing).
func mountFilesystems() {
	for _, m := range []struct{ fstype, dir string }{
		{"proc", "/proc"},
		{"sysfs", "/sys"},
	} {
		os.MkdirAll(m.dir, 0o755)
		if err := syscall.Mount(m.fstype, m.dir, m.fstype, syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil && err != syscall.EBUSY {
			fatal("mount %s: %v", m.dir, err)
		}
	}
}

// waitLink waits for the interface to appear (the driver probes it while
// its module loads, but a device may come up asynchronously) and returns
// its index.
func waitLink(dev string, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile("/sys/class/net/" + dev + "/ifindex")
		if err == nil {
			var index int
			if _, err := fmt.Sscan(string(b), &index); err != nil {
				return 0, fmt.Errorf("%s ifindex %q: %v", dev, b, err)
			}
			return index, nil
		}
		if time.Now().After(deadline) {
			var have []string
			ents, _ := os.ReadDir("/sys/class/net")
			for _, e := range ents {
				have = append(have, e.Name())
			}
			return 0, fmt.Errorf("no interface %s after %v (have %v): is the virtio-net device there and its driver loaded?", dev, timeout, have)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCarrier waits for the interface's carrier, bounded, and returns
// its state for the READY line. virtio-net reads its link status in a
// work item after probing, which may run after the interface is set up;
// the kernel activates the transmit queue as soon as the carrier comes
// (an urgent link-watch event), so once the carrier is on, replies go
// out. A device whose link stays down is reported, not fatal: the
// benchmark then fails visibly on the host.
func waitCarrier(dev string, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile("/sys/class/net/" + dev + "/carrier")
		state := strings.TrimSpace(string(b))
		if err == nil && state == "1" {
			return "on"
		}
		if time.Now().After(deadline) {
			if err != nil {
				return "unknown (" + err.Error() + ")"
			}
			return "OFF after " + timeout.String()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// uptime returns seconds since the kernel started (CLOCK_BOOTTIME).
func uptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return -1
	}
	var s float64
	fmt.Sscan(string(b), &s)
	return s
}

// fatal reports on the console and, as PID 1, resets the machine: init
// must not exit (the kernel would panic), and a reset makes QEMU, started
// with -no-reboot, exit at once so the host sees the failure.
func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "linuxecho: FATAL: "+format+"\n", args...)
	if os.Getpid() != 1 {
		os.Exit(1)
	}
	syscall.Sync()
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
	select {}
}
