// Package config is the configuration the unikernel images (image/kaidoku,
// image/gvisor-echo) take from the kernel command line: the interface
// address, the gateway, the UDP services, how NAPI polls, the device
// supervisor, and the test hooks; one definition of every kaidoku.* word,
// its default and its meaning (see [Params] and README's "Kernel command
// line").
//
// An image passes its build-time line (set with -ldflags -X, like Linux's
// CONFIG_CMDLINE) and the boot line to [Parse] once, at the start of
// main, and prints the errors on the console: none of them stops the
// image, since every refused word leaves its default in place.
//
// The words are cmdline's: kaidoku.<name>[=value], with every other word
// left to Linux's conventions and ignored. The package is plain Go and
// tested on the host.
package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kaidoku-net/kaidoku/board/cmdline"
)

// Defaults matching QEMU's user-mode networking: the guest's address, the
// gateway, and the test host that drives the test agent (QEMU's host
// address, where the bench runs).
var (
	DefaultAddr     = netip.MustParsePrefix("10.0.2.15/24")
	DefaultGateway  = netip.MustParseAddr("10.0.2.2")
	DefaultTestHost = netip.MustParsePrefix("10.0.2.2/32")
)

// DefaultPorts are the services' UDP ports.
var DefaultPorts = map[string]uint16{"echo": 7, "discard": 9, "stats": 161, "agent": 5555, "capture": 2002}

// Image says which words an image takes beyond the common ones (address,
// gateway, NAPI, supervisor, clock): a word for what the image does not
// have is reported as unknown instead of being ignored.
type Image struct {
	// Services are the UDP services the image has (names of
	// DefaultPorts), all started unless kaidoku.services= says otherwise.
	Services []string
	// Reflector: kaidoku.mode=reflector, an XDP program returning every
	// frame from the driver.
	Reflector bool
	// ConsoleStats: kaidoku.stats.console=, counters on the console.
	ConsoleStats bool
	// TestHooks: the kaidoku.test.* words.
	TestHooks bool
	// EchoBatch: kaidoku.echo.batch=, the echo service's batch size.
	EchoBatch bool
}

// The images.
var (
	// Kaidoku is image/kaidoku: every service, the reflector, console
	// counters and the test hooks.
	Kaidoku = Image{
		Services:     []string{"echo", "discard", "stats", "agent", "capture"},
		Reflector:    true,
		ConsoleStats: true,
		TestHooks:    true,
		EchoBatch:    true,
	}
	// GVisorEcho is image/gvisor-echo: the echo and stats services on
	// gVisor's netstack.
	GVisorEcho = Image{Services: []string{"echo", "stats"}}
)

// Service is one UDP service's settings.
type Service struct {
	On   bool
	Port uint16
	// Allow is who the service answers; the zero Prefix lets anyone.
	Allow netip.Prefix
}

// Config is an image's configuration.
type Config struct {
	Addr netip.Prefix
	// Gateway is the default route's; the zero Addr means no default
	// route.
	Gateway netip.Addr
	// Reflector attaches the XDP program that returns every frame from
	// the driver's poll (XDP_TX), with no stack.
	Reflector bool
	// Services holds every service the image has, by name.
	Services map[string]Service
	// BusyPoll is the NAPI busy-poll window before halting (0: off).
	BusyPoll time.Duration
	// EchoBatch is how many datagrams the echo service takes per
	// recvmmsg and answers per sendmmsg; 1 is the per-datagram echo
	// (recvfrom, then sendto). 0 in an image without the word.
	EchoBatch int
	// Threaded leaves every NAPI poll to the softnet goroutine.
	Threaded bool
	// Trace is the receive-path latency trace (T0…T3): the driver's
	// stamps and the stack's histograms. Off, neither is taken and the
	// stats service's latency section is absent, to measure what the
	// trace costs.
	Trace bool
	// Supervise is the device health check period (0: on faults only).
	Supervise time.Duration
	// XDPDrop lists the source prefixes whose IPv4 frames an XDP program
	// drops in the driver's poll, before the stack (empty: none).
	XDPDrop []netip.Prefix
	// ConsoleStats is how often counters go to the console (0: never).
	ConsoleStats time.Duration
	// TSCkHz is the host's TSC rate the launcher measured (0: none). The
	// board reads it from the boot line before main runs; it is here to
	// be documented and checked with the rest.
	TSCkHz uint64
	// Test holds the test-only hooks.
	Test TestHooks
}

// TestHooks are the end-to-end tests' diagnostics, run once the image is
// READY; they have no use outside tests.
type TestHooks struct {
	// Clock prints CLOCK lines around a sleep this long (0: none).
	Clock time.Duration
	// Exit, if not negative, ends the image with this code.
	Exit int
	// Panic makes the image panic.
	Panic bool
	// XDPAbort, if not 0, is a UDP port whose datagrams an XDP program
	// answers with XDP_ABORTED.
	XDPAbort uint64
}

// Parse returns img's configuration: the defaults, then each line's
// kaidoku words in turn (the build-time line first, then the boot line,
// so that the boot line wins). The errors say which words were refused
// and why (*cmdline.ValueError) and which were unknown
// (*cmdline.UnknownError); the configuration is usable whatever they say.
func Parse(img Image, lines ...string) (*Config, []error) {
	c, set, fix := newSet(img)
	var errs []error
	for _, l := range lines {
		errs = append(errs, set.Parse(l)...)
	}
	fix()
	return c, errs
}

// Params returns img's parameters with their defaults and meanings, in
// the order the README lists them.
func Params(img Image) []*cmdline.Param {
	_, set, _ := newSet(img)
	return set.Params()
}

// newSet registers img's words over a Config holding the defaults; fix
// fills in the defaults that depend on other words once they are parsed.
func newSet(img Image) (*Config, *cmdline.Set, func()) {
	c := &Config{Services: map[string]Service{}, Test: TestHooks{Exit: -1}}
	var set cmdline.Set
	c.Addr, c.Gateway = DefaultAddr, DefaultGateway
	set.Var(&addrValue{&c.Addr}, "addr", "the interface's IPv4 address and prefix length")
	set.Var(&gatewayValue{&c.Gateway}, "gw", `the default gateway; "none": no default route`)
	if img.Reflector {
		set.Var(&modeValue{&c.Reflector}, "mode", "stack: the network stack; reflector: an XDP program returns every frame from the driver, no stack")
	}
	on := &servicesValue{have: img.Services, on: map[string]bool{}}
	for _, s := range img.Services {
		on.on[s] = true
	}
	set.Var(on, "services", "the UDP services started, comma-separated (none: no service)")
	ports := map[string]*uint16{}
	allow := map[string]*allowValue{}
	for _, s := range img.Services {
		p := DefaultPorts[s]
		ports[s] = &p
		set.Var((*portValue)(&p), s+".port", "the "+s+" service's UDP port")
	}
	if slices.Contains(img.Services, "stats") {
		allow["stats"] = &allowValue{defName: "the guest's subnet"}
		set.Var(allow["stats"], "stats.allow", `who the stats service answers (an IPv4 prefix; "any": anyone)`)
	}
	if slices.Contains(img.Services, "agent") {
		allow["agent"] = &allowValue{p: DefaultTestHost, set: true}
		set.Var(allow["agent"], "agent.allow", `who the test agent answers (an IPv4 prefix; "any": anyone)`)
	}
	if img.EchoBatch && slices.Contains(img.Services, "echo") {
		c.EchoBatch = DefaultEchoBatch
		set.Var((*batchValue)(&c.EchoBatch), "echo.batch", "datagrams the echo service reads per recvmmsg and answers per sendmmsg; 1: the per-datagram echo (recvfrom, then sendto)")
	}
	if slices.Contains(img.Services, "capture") {
		allow["capture"] = &allowValue{p: DefaultTestHost, set: true}
		set.Var(allow["capture"], "capture.allow", `who the capture service streams frames to (an IPv4 prefix; "any": anyone)`)
	}
	set.Duration(&c.BusyPoll, "busypoll", 0, "NAPI busy-poll window before the CPU halts; 0: off")
	set.Bool(&c.Threaded, "napi.threaded", "poll only in the softnet goroutine, never on interrupt exit (Linux's threaded NAPI)")
	set.BoolDefault(&c.Trace, "trace", true, "the receive-path latency trace (T0-T3): the driver's stamps and the stack's histograms; off: neither, to measure the trace's own cost")
	c.Supervise = time.Second
	set.Var((*superviseValue)(&c.Supervise), "supervise", `the device health check period; "off": only on faults the driver reports`)
	set.Var((*prefixesValue)(&c.XDPDrop), "xdp.drop", `drop IPv4 frames from these sources in the driver's poll, before the stack (XDP_DROP): comma-separated prefixes or addresses; "none": nothing`)
	if img.ConsoleStats {
		set.Duration(&c.ConsoleStats, "stats.console", 0, "print driver and NAPI counters on the console this often; 0: never")
	}
	set.Uint(&c.TSCkHz, "tsc_khz", 0, "the host's TSC rate in kHz, which the launcher passes under TCG; 0: the board calibrates against the PIT")
	if img.TestHooks {
		set.Duration(&c.Test.Clock, "test.clock", 0, "test only: print CLOCK lines around a sleep this long once READY")
		set.Var(&exitValue{&c.Test.Exit}, "test.exit", "test only: exit with this code (0-127) once READY")
		set.Bool(&c.Test.Panic, "test.panic", "test only: panic once READY")
		set.Uint(&c.Test.XDPAbort, "test.xdp_abort", 0, "test only: an XDP program returns XDP_ABORTED for UDP datagrams to this port; 0: none")
	}
	fix := func() {
		for _, s := range img.Services {
			svc := Service{On: on.on[s], Port: *ports[s]}
			if a := allow[s]; a != nil {
				switch {
				case a.any:
				case a.set:
					svc.Allow = a.p
				default: // stats: the guest's subnet
					svc.Allow = c.Addr.Masked()
				}
			}
			c.Services[s] = svc
		}
	}
	return c, &set, fix
}

type addrValue struct{ p *netip.Prefix }

func (v *addrValue) String() string { return v.p.String() }

func (v *addrValue) Set(s string) error {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf("want an IPv4 address with its prefix length, such as 10.0.2.15/24, not %q", s)
	}
	*v.p = p
	return nil
}

type gatewayValue struct{ a *netip.Addr }

func (v *gatewayValue) String() string {
	if !v.a.IsValid() {
		return "none"
	}
	return v.a.String()
}

func (v *gatewayValue) Set(s string) error {
	if s == "none" {
		*v.a = netip.Addr{}
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return fmt.Errorf(`want an IPv4 address or "none", not %q`, s)
	}
	*v.a = a
	return nil
}

type modeValue struct{ reflector *bool }

func (v *modeValue) String() string {
	if *v.reflector {
		return "reflector"
	}
	return "stack"
}

func (v *modeValue) Set(s string) error {
	switch s {
	case "stack":
		*v.reflector = false
	case "reflector":
		*v.reflector = true
	default:
		return fmt.Errorf("want stack or reflector, not %q", s)
	}
	return nil
}

// prefixesValue is a list of IPv4 prefixes; an address alone is its /32.
type prefixesValue []netip.Prefix

func (v *prefixesValue) String() string {
	if len(*v) == 0 {
		return "none"
	}
	s := make([]string, len(*v))
	for i, p := range *v {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (v *prefixesValue) Set(s string) error {
	var ps []netip.Prefix
	if s != "none" {
		for _, w := range strings.Split(s, ",") {
			if w == "" {
				continue
			}
			p, err := netip.ParsePrefix(w)
			if err != nil {
				a, aerr := netip.ParseAddr(w)
				if aerr != nil {
					return fmt.Errorf(`want IPv4 prefixes or addresses, comma-separated, or "none", not %q`, w)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			if !p.Addr().Is4() {
				return fmt.Errorf(`want IPv4 prefixes or addresses, comma-separated, or "none", not %q`, w)
			}
			ps = append(ps, p.Masked())
		}
	}
	*v = ps
	return nil
}

// servicesValue is the set of services on, among those the image has.
type servicesValue struct {
	have []string
	on   map[string]bool
}

func (v *servicesValue) String() string {
	var on []string
	for _, s := range v.have {
		if v.on[s] {
			on = append(on, s)
		}
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, ",")
}

func (v *servicesValue) Set(s string) error {
	on := map[string]bool{}
	if s != "none" {
		for _, name := range strings.Split(s, ",") {
			if name == "" {
				continue
			}
			if !slices.Contains(v.have, name) {
				return fmt.Errorf("no service %q in this image (it has %s)", name, strings.Join(v.have, ","))
			}
			on[name] = true
		}
	}
	v.on = on
	return nil
}

type portValue uint16

func (v *portValue) String() string { return strconv.Itoa(int(*v)) }

func (v *portValue) Set(s string) error {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return fmt.Errorf("want a UDP port, 1 to 65535, not %q", s)
	}
	*v = portValue(p)
	return nil
}

// allowValue is a prefix, "any", or (not set) a default that Parse works
// out, described by defName.
type allowValue struct {
	p       netip.Prefix
	any     bool
	set     bool
	defName string
}

func (v *allowValue) String() string {
	switch {
	case v.any:
		return "any"
	case v.set:
		return v.p.String()
	}
	return v.defName
}

func (v *allowValue) Set(s string) error {
	if s == "any" {
		v.any, v.set = true, true
		return nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf(`want an IPv4 prefix such as 10.0.2.0/24, or "any", not %q`, s)
	}
	v.p, v.any, v.set = p.Masked(), false, true
	return nil
}

type superviseValue time.Duration

func (v *superviseValue) String() string {
	if *v == 0 {
		return "off"
	}
	return time.Duration(*v).String()
}

func (v *superviseValue) Set(s string) error {
	if s == "off" {
		*v = 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf(`want a period such as 1s, or "off", not %q`, s)
	}
	*v = superviseValue(d)
	return nil
}

// DefaultEchoBatch is the echo service's batch: as many datagrams as
// the benchmark keeps in flight.
const DefaultEchoBatch = 32

// maxEchoBatch is UIO_MAXIOV, the most one sendmmsg sends.
const maxEchoBatch = 1024

type batchValue int

func (v *batchValue) String() string { return strconv.Itoa(int(*v)) }

func (v *batchValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxEchoBatch {
		return fmt.Errorf("want a batch size from 1 to %d, not %q", maxEchoBatch, s)
	}
	*v = batchValue(n)
	return nil
}

type exitValue struct{ code *int }

func (v *exitValue) String() string {
	if *v.code < 0 {
		return "none"
	}
	return strconv.Itoa(*v.code)
}

func (v *exitValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 127 {
		return fmt.Errorf("want an exit code from 0 to 127, not %q", s)
	}
	*v.code = n
	return nil
}
