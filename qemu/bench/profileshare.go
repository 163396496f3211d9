package bench

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	pprof "github.com/google/pprof/profile"

	"github.com/kaidoku-net/kaidoku/qemu/gdbstub"
	"github.com/kaidoku-net/kaidoku/qemu/profile"
)

// Where a guest's time goes, for the dnsperf goal: when kaidoku does not
// reach its multiple of the other stacks, the share of its samples in
// the driver, the stack and the program says whether the stack is what
// limits it.
const (
	ShareDriver  = "driver"  // virtio, NAPI, interrupts, MMIO (QEMU's device emulation is charged here)
	ShareStack   = "stack"   // kaidoku's netstack and the net package over it
	ShareProgram = "program" // the service: its package main and its libraries
	ShareIdle    = "idle"    // the CPU halted, waiting for an interrupt
	ShareRuntime = "runtime" // the Go runtime on no other class's behalf: GC workers, scheduler
)

// Share is one class's part of a profile.
type Share struct {
	Class   string
	Samples int64
	Pct     float64
}

// GuestProfile is the share breakdown of a guest profile.
type GuestProfile struct {
	Shares []Share
	// Samples, Stopped: how many samples, and the share of the wall time
	// the guest spent stopped by the sampler.
	Samples int64
	Stopped float64
}

func (g *GuestProfile) String() string {
	var parts []string
	for _, s := range g.Shares {
		parts = append(parts, fmt.Sprintf("%s %.1f %%", s.Class, s.Pct))
	}
	return fmt.Sprintf("%s (%d samples, guest stopped %.0f %% of the time by the sampler)", strings.Join(parts, ", "), g.Samples, g.Stopped*100)
}

// shareOf classifies a function by its package; "" for the runtime and
// the standard library, which belong to whoever called them.
func shareOf(fn, program string) string {
	pkg := profile.Package(fn)
	switch {
	case fn == "github.com/usbarmory/tamago/amd64.wfi" || fn == "github.com/kaidoku-net/kaidoku/board.idle":
		return ShareIdle
	case strings.HasPrefix(pkg, "github.com/kaidoku-net/kaidoku/virtio"), strings.HasPrefix(pkg, "github.com/kaidoku-net/kaidoku/napi"),
		strings.HasPrefix(pkg, "github.com/kaidoku-net/kaidoku/irq"), strings.HasPrefix(pkg, "github.com/kaidoku-net/kaidoku/image/netdev"),
		strings.HasPrefix(pkg, "github.com/kaidoku-net/kaidoku/board"), strings.HasPrefix(pkg, "github.com/usbarmory/tamago"):
		return ShareDriver
	case strings.HasPrefix(pkg, "github.com/kaidoku-net/kaidoku/netstack"), pkg == "net":
		return ShareStack
	case pkg == "main", strings.HasPrefix(pkg, program):
		return ShareProgram
	}
	return ""
}

// ProfileShares sums p's samples by class: each sample goes to the class
// of its innermost frame that has one (so the runtime's allocation for
// the program counts as the program's, for the stack as the stack's),
// and to ShareRuntime when no frame has one. program is the import path
// prefix of the program's libraries (e.g. github.com/miekg/dns), besides
// its package main.
func ProfileShares(p *pprof.Profile, program string) []Share {
	by := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[0]
		total += v
		class := ""
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if class == "" && l.Function != nil {
					class = shareOf(l.Function.Name, program)
				}
			}
		}
		if class == "" {
			class = ShareRuntime
		}
		by[class] += v
	}
	var out []Share
	for _, c := range []string{ShareDriver, ShareStack, ShareProgram, ShareIdle, ShareRuntime} {
		if total > 0 {
			out = append(out, Share{Class: c, Samples: by[c], Pct: float64(by[c]) / float64(total) * 100})
		}
	}
	return out
}

// profileGuest samples the guest behind the gdbstub at addr for d and
// returns the breakdown; image is its ELF, for symbols.
func profileGuest(ctx context.Context, addr, image, program string, d time.Duration) (*GuestProfile, error) {
	img, err := profile.Open(image)
	if err != nil {
		return nil, err
	}
	c, err := gdbstub.Dial(addr, gdbstub.Options{})
	if err != nil {
		return nil, fmt.Errorf("gdbstub at %s: %w", addr, err)
	}
	r, err := profile.Sample(ctx, c, img, profile.Options{Duration: d})
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	p := profile.Build(r, img)
	g := &GuestProfile{Shares: ProfileShares(p, program), Samples: int64(len(r.Stacks)), Stopped: r.Overhead()}
	return g, nil
}

// freeTCPPort returns a TCP port on 127.0.0.1 that was free a moment
// ago, for QEMU's gdbstub.
func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// gdbAddr is the gdbstub's address for QEMU's -gdb on port.
func gdbAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
