package e2e

// The targets the conformance cases run against: the kaidoku image and
// the Linux guest (Debian's 6.1 kernel with image/linuxecho, whose test
// agent makes the same requests with real system calls). Both sit on a
// bench of their own on QEMU's datagram backend, with the same MAC,
// address (10.0.2.15/24) and agent port, so a case cannot tell them
// apart except through what the stack does.

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/linuxguest"
	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

// Target names, as the report prints them.
const (
	targetKaidoku = "kaidoku"
	targetLinux   = "linux61"
)

// conformanceTargets returns the targets TestConformance runs against:
// KAIDOKU_CONFORMANCE (a comma-separated list of "kaidoku" and "linux";
// `make conformance` sets both), or the kaidoku image alone.
func conformanceTargets() ([]string, error) {
	v := os.Getenv("KAIDOKU_CONFORMANCE")
	if v == "" {
		return []string{targetKaidoku}, nil
	}
	var out []string
	for _, w := range strings.Split(v, ",") {
		switch strings.TrimSpace(w) {
		case "kaidoku":
			out = append(out, targetKaidoku)
		case "linux", "linux61":
			out = append(out, targetLinux)
		default:
			return nil, fmt.Errorf("KAIDOKU_CONFORMANCE: unknown target %q (want kaidoku, linux)", w)
		}
	}
	return out, nil
}

// startTarget boots a target once for all cases. A Linux target without
// Debian's kernel returns a skip reason instead.
func startTarget(t *testing.T, name string) (g *guest, skip string) {
	t.Helper()
	if name == targetKaidoku {
		return bootGuest(t), ""
	}
	if _, err := linuxguest.FindKernel(); err != nil {
		if errors.Is(err, linuxguest.ErrNoKernel) {
			return nil, "install linux-image-amd64 and xz-utils (as root: make linux-guest-deps)"
		}
		t.Fatal(err)
	}
	lg, err := linuxguest.Prepare(linuxguest.DefaultWorkdir())
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := testbench.ParseMAC(qemu.MACFor(1))
	b, nd, err := testbench.Listen(mac, guestIP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// No IPv6: its router solicitations and MLD reports would only add
	// frames to the capture; nothing here is IPv6.
	vm, d := startVM(t, lg.Config(qemu.Config{Net: nd, Append: []string{"ipv6.disable=1"}, Lifetime: 20 * time.Minute}), 2*time.Minute)
	t.Logf("Linux guest %s: accelerator %s; boot to READY %v", lg.Release, vm.Accel, d.Round(time.Millisecond))
	g = &guest{t: t, vm: vm, b: b, a: b.Agent(agentPort)}
	return g, ""
}

// confCase is one conformance case, written once over an abstract
// target and run against each.
type confCase struct {
	// name is the first checklist item it covers and a word or two.
	name string
	// linux61, when set, says how Linux 6.1 (the guest) differs from
	// 6.8 (the reference) in this case and which one kaidoku follows;
	// run expects the guest's outcome where c.linux61() is true.
	linux61 string
	// design, when set, says where the two targets differ by design
	// (not in the stack's behaviour, e.g. the driver's buffer sizes);
	// run checks each against its own outcome.
	design string
	// divergence names the known divergence of kaidoku from Linux that
	// the case tests; it fails against the kaidoku image until that is
	// fixed, and must pass against Linux.
	divergence string
	run        func(c *cc)
}

// cc is a case's view of its target: the guest helpers (socket, ok,
// recv, send, snapshot, expect, …) bound to the case's own *testing.T,
// and the sockets it opened, closed when it ends.
type cc struct {
	*guest
	target string
	fds    []int
}

// linux61 reports whether the case runs against the Linux guest.
func (c *cc) linux61() bool { return c.target == targetLinux }

// socket is guest.socket, remembering the socket for closing.
func (c *cc) socket(addr string, opts ...[3]int) int {
	c.t.Helper()
	fd, err := c.a.Socket()
	if err != nil {
		c.t.Fatal(err)
	}
	c.fds = append(c.fds, fd)
	for _, o := range opts {
		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: o[0], Name: o[1], Value: o[2]})
	}
	if addr != "" {
		c.ok(agent.Request{Op: agent.OpBind, FD: fd, Addr: addr})
	}
	return fd
}

// closeAll ends what a case left behind: blocked calls are interrupted
// and the sockets closed (an already closed one answers EBADF).
func (c *cc) closeAll() {
	for _, fd := range c.fds {
		c.a.Call(agent.Request{Op: agent.OpInterrupt, FD: fd})
		c.a.Call(agent.Request{Op: agent.OpClose, FD: fd})
	}
}

// confTally counts case outcomes over the whole run, for the closing
// line TestMain prints.
var confTally struct {
	sync.Mutex
	// +checklocks:Mutex
	ran bool
	// +checklocks:Mutex
	passed int
	// +checklocks:Mutex
	failed int
}

// printConformanceSummary prints the closing "N passed, M failed" line
// when TestConformance ran.
func printConformanceSummary() {
	confTally.Lock()
	defer confTally.Unlock()
	if confTally.ran {
		fmt.Printf("%d passed, %d failed\n", confTally.passed, confTally.failed)
	}
}

// caseNote is the annotation a report line carries for a case on a
// target.
func caseNote(cs confCase, target string) string {
	var notes []string
	if cs.divergence != "" {
		notes = append(notes, "kaidoku divergence: "+cs.divergence)
	}
	if cs.design != "" {
		notes = append(notes, "differs by design: "+cs.design)
	}
	if cs.linux61 != "" && target == targetLinux {
		notes = append(notes, "linux61: "+cs.linux61)
	}
	if len(notes) == 0 {
		return ""
	}
	return "  [" + strings.Join(notes, "; ") + "]"
}

// runConformance boots each target once and runs every case against it,
// printing one line per case and target.
func runConformance(t *testing.T, cases []confCase) {
	targets, err := conformanceTargets()
	if err != nil {
		t.Fatal(err)
	}
	var only *regexp.Regexp
	if v := os.Getenv("KAIDOKU_CONFORMANCE_CASES"); v != "" {
		if only, err = regexp.Compile(v); err != nil {
			t.Fatalf("KAIDOKU_CONFORMANCE_CASES: %v", err)
		}
	}
	confTally.Lock()
	confTally.ran = true
	confTally.Unlock()
	tally := func(pass bool) {
		confTally.Lock()
		if pass {
			confTally.passed++
		} else {
			confTally.failed++
		}
		confTally.Unlock()
	}
	for _, name := range targets {
		booted := false
		ok := t.Run(name, func(t *testing.T) {
			g, skip := startTarget(t, name)
			booted = true
			if skip != "" {
				fmt.Printf("SKIP %-8s conformance against the Linux guest: %s\n", name, skip)
				t.Skip(skip)
			}
			for _, cs := range cases {
				if only != nil && !only.MatchString(cs.name) {
					continue
				}
				g.b.Drain()
				pass := t.Run(cs.name, func(t *testing.T) {
					c := &cc{guest: &guest{t: t, vm: g.vm, b: g.b, a: g.a}, target: name}
					defer c.closeAll()
					cs.run(c)
				})
				tally(pass)
				status := "PASS"
				if !pass {
					status = "FAIL"
				}
				fmt.Printf("%s %-8s %s%s\n", status, name, cs.name, caseNote(cs, name))
			}
		})
		if !ok && !booted {
			fmt.Printf("FAIL %-8s boot (see the test log)\n", name)
			tally(false)
		}
	}
}
