package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// The real-client sections measure a service program (image/dns,
// image/sockperf) with a standard client from Debian's packages, the
// same program on every stack: kaidoku, the gVisor netstack on kaidoku's
// driver, and the Linux guest. The clients run on the host and reach the
// guest through QEMU's user-mode networking (a UDP port forward), as a
// user reaches `kaidoku run -fwd`.

// Kinds of ServicePeer, which the goals compare.
const (
	KindKaidoku = "kaidoku"
	KindGVisor  = "gvisor"
	KindLinux   = "linux"
)

// ServicePeer is one stack serving a section's program.
type ServicePeer struct {
	Name string
	// Kind is KindKaidoku, KindGVisor or KindLinux.
	Kind string
	// Config returns the QEMU configuration booting the program; the
	// runner sets Net (user-mode networking forwarding a free host port
	// to Port) and Lifetime.
	Config func() (qemu.Config, error)
	// Port is the program's UDP port in the guest.
	Port int
	// Image is the program's ELF, for a guest profile during a second
	// dnsperf run (ClientOptions.Profile); empty: not profiled (the
	// Linux guest, whose kernel the sampler cannot symbolise).
	Image string
	// Libraries is the import path prefix of the program's libraries,
	// whose samples count as the program's (e.g. github.com/miekg/dns).
	Libraries string
}

// ClientOptions sets the client sections' workload. Zero values take the
// defaults.
type ClientOptions struct {
	// Queries is dnsperf's query file (-d).
	Queries string
	// DNSPerfTime is each dnsperf run's length (-l; 10 s).
	DNSPerfTime time.Duration
	// DNSPerfClients and DNSPerfOutstanding are dnsperf's -c (4) and -q
	// (128): at most that many queries in flight, enough that the
	// window is not the limit (64 gave fewer queries/s than 128 and 256
	// against the kaidoku image under TCG, which gave the same).
	DNSPerfClients, DNSPerfOutstanding int
	// SockperfTime is each sockperf run's length (-t; 10 s).
	SockperfTime time.Duration
	// Rates are the under-load runs' messages per second (--mps;
	// 1000 and 5000).
	Rates []int
	// ReplyEvery is under-load's --reply-every (10): one message in that
	// many asks for a reply, the others are one-way load.
	ReplyEvery int
	// Profile samples the peers that have a ServicePeer.Image through
	// QEMU's gdbstub during a second dnsperf run, after the measured one
	// (the sampler stops the guest, which would lower the figures), and
	// reports the share of the driver, the stack and the program.
	Profile bool
	// BootLimit bounds boot to READY (90 s, the Linux guest included).
	BootLimit time.Duration
	// Log receives progress (os.Stderr).
	Log io.Writer
}

func (o *ClientOptions) defaults() {
	if o.DNSPerfTime == 0 {
		o.DNSPerfTime = 10 * time.Second
	}
	if o.DNSPerfClients == 0 {
		o.DNSPerfClients = 4
	}
	if o.DNSPerfOutstanding == 0 {
		o.DNSPerfOutstanding = 128
	}
	if o.SockperfTime == 0 {
		o.SockperfTime = 10 * time.Second
	}
	if len(o.Rates) == 0 {
		o.Rates = []int{1000, 5000}
	}
	if o.ReplyEvery == 0 {
		o.ReplyEvery = 10
	}
	if o.BootLimit == 0 {
		o.BootLimit = 90 * time.Second
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
}

// ErrNoClient means a section's client is not installed; the section is
// skipped (its error says which package to install).
var ErrNoClient = errors.New("client not installed")

// LookClient returns the path of the client name from Debian's package
// pkg, or an error wrapping ErrNoClient that says how to install it.
func LookClient(name, pkg string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s not found: install Debian's %s package (make client-deps)", ErrNoClient, name, pkg)
	}
	return p, nil
}

// DNSPerfResult is one peer's dnsperf run at saturation.
type DNSPerfResult struct {
	Peer, Kind string
	DNSPerf    *DNSPerf
	// CPU is QEMU's host CPU use during the run, in cores (-1: unknown).
	CPU float64
	// Profile is the guest's profile during a second run at saturation
	// (ClientOptions.Profile), or why there is none (ProfileErr).
	Profile    *GuestProfile
	ProfileErr error
	Err        error
}

// SockperfResult is one peer's sockperf runs.
type SockperfResult struct {
	Peer, Kind string
	PingPong   *Sockperf
	// UnderLoad has one run per ClientOptions.Rates, in order.
	UnderLoad []*Sockperf
	Err       error
}

// RunDNSPerf boots each peer in turn and measures it with dnsperf at
// saturation: o.DNSPerfOutstanding queries in flight over
// o.DNSPerfClients sources for o.DNSPerfTime, after a one-second
// warm-up. dnsperf is the path from LookClient.
func RunDNSPerf(dnsperf string, peers []ServicePeer, o ClientOptions) []DNSPerfResult {
	o.defaults()
	var out []DNSPerfResult
	for _, p := range peers {
		fmt.Fprintf(o.Log, "bench: dnsperf: %s\n", p.Name)
		r := DNSPerfResult{Peer: p.Name, Kind: p.Kind, CPU: -1}
		gdb := 0
		if o.Profile && p.Image != "" {
			var err error
			if gdb, err = freeTCPPort(); err != nil {
				r.ProfileErr = err
			}
		}
		r.Err = withService(p, o, gdb, func(vm *qemu.VM, port int) error {
			args := func(secs int, extra ...string) []string {
				return append([]string{"-s", "127.0.0.1", "-p", strconv.Itoa(port), "-d", o.Queries,
					"-l", strconv.Itoa(secs), "-t", "2"}, extra...)
			}
			if _, err := runClient(dnsperf, args(1, "-Q", "200"), 30*time.Second); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
			c0, cerr0 := vm.CPUTime()
			t0 := time.Now()
			text, err := runClient(dnsperf, args(wholeSeconds(o.DNSPerfTime), "-c", strconv.Itoa(o.DNSPerfClients),
				"-q", strconv.Itoa(o.DNSPerfOutstanding), "-v"), o.DNSPerfTime+time.Minute)
			c1, cerr1 := vm.CPUTime()
			if cerr0 == nil && cerr1 == nil {
				r.CPU = float64(c1-c0) / float64(time.Since(t0))
			}
			if err != nil {
				return err
			}
			if r.DNSPerf, err = ParseDNSPerf(text); err != nil {
				return err
			}
			if gdb != 0 {
				r.Profile, r.ProfileErr = profileDuring(func() error {
					_, err := runClient(dnsperf, args(wholeSeconds(o.DNSPerfTime), "-c", strconv.Itoa(o.DNSPerfClients),
						"-q", strconv.Itoa(o.DNSPerfOutstanding)), o.DNSPerfTime+time.Minute)
					return err
				}, gdbAddr(gdb), p, o.DNSPerfTime)
			}
			return nil
		})
		if r.Err != nil {
			fmt.Fprintf(o.Log, "bench: dnsperf: %s: %v\n", p.Name, r.Err)
		}
		out = append(out, r)
	}
	return out
}

// RunSockperf boots each peer in turn and measures it with sockperf:
// ping-pong, then under-load at each of o.Rates, round-trip times
// (--full-rtt). sockperf is the path from LookClient.
func RunSockperf(sockperf string, peers []ServicePeer, o ClientOptions) []SockperfResult {
	o.defaults()
	var out []SockperfResult
	secs := strconv.Itoa(wholeSeconds(o.SockperfTime))
	for _, p := range peers {
		fmt.Fprintf(o.Log, "bench: sockperf: %s\n", p.Name)
		r := SockperfResult{Peer: p.Name, Kind: p.Kind}
		r.Err = withService(p, o, 0, func(vm *qemu.VM, port int) error {
			run := func(args ...string) (*Sockperf, error) {
				args = append(args, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-t", secs, "--full-rtt")
				text, err := runClient(sockperf, args, o.SockperfTime+time.Minute)
				if err != nil {
					return nil, err
				}
				return ParseSockperf(text)
			}
			var err error
			if r.PingPong, err = run("ping-pong"); err != nil {
				return fmt.Errorf("ping-pong: %w", err)
			}
			for _, mps := range o.Rates {
				s, err := run("under-load", "--mps", strconv.Itoa(mps), "--reply-every", strconv.Itoa(o.ReplyEvery))
				if err != nil {
					return fmt.Errorf("under-load --mps %d: %w", mps, err)
				}
				r.UnderLoad = append(r.UnderLoad, s)
			}
			return nil
		})
		if r.Err != nil {
			fmt.Fprintf(o.Log, "bench: sockperf: %s: %v\n", p.Name, r.Err)
		}
		out = append(out, r)
	}
	return out
}

// profileDuring runs load and samples the guest at gdb meanwhile, from
// a second after load starts for d less two seconds (at least one).
func profileDuring(load func() error, gdb string, p ServicePeer, d time.Duration) (*GuestProfile, error) {
	done := make(chan error, 1)
	go func() { done <- load() }()
	time.Sleep(time.Second)
	g, err := profileGuest(context.Background(), gdb, p.Image, p.Libraries, max(d-2*time.Second, time.Second))
	if lerr := <-done; err == nil && lerr != nil {
		err = fmt.Errorf("the load during the profile: %w", lerr)
	}
	return g, err
}

// withService boots p with a host port forwarded to its service (and a
// gdbstub on gdbPort unless 0), waits for READY and runs f, then stops
// the VM.
func withService(p ServicePeer, o ClientOptions, gdbPort int, f func(vm *qemu.VM, hostPort int) error) error {
	cfg, err := p.Config()
	if err != nil {
		return err
	}
	port, err := freeUDPPort()
	if err != nil {
		return err
	}
	cfg.Net = qemu.UserNet{Forwards: []qemu.Forward{{HostPort: port, GuestPort: p.Port}}}
	cfg.Lifetime = o.BootLimit + 10*time.Minute
	cfg.GDBPort = gdbPort
	vm, err := qemu.Start(cfg)
	if err != nil {
		return err
	}
	defer vm.Close()
	if _, err := vm.WaitReady(o.BootLimit); err != nil {
		return err
	}
	if err := f(vm, port); err != nil {
		return fmt.Errorf("%w\nconsole (last lines):%s", err, tail(vm.Console.Text()))
	}
	return nil
}

// wholeSeconds is d in whole seconds, at least 1: the clients take
// seconds, and 0 would mean no limit to dnsperf.
func wholeSeconds(d time.Duration) int { return max(1, int(d/time.Second)) }

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// runClient runs a client bounded by limit and returns its output,
// stdout then stderr.
func runClient(path string, args []string, limit time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	text := stdout.String() + stderr.String()
	if err != nil {
		return text, fmt.Errorf("%s %s: %v%s", path, strings.Join(args, " "), err, tail(text))
	}
	return text, nil
}

// DNSPerfMarkdown renders the dnsperf section as a table.
func DNSPerfMarkdown(rs []DNSPerfResult, o ClientOptions) string {
	o.defaults()
	var b strings.Builder
	b.WriteString("| peer | queries/s | lost | latency avg | p50 | p99 | p99.9 | max | QEMU CPU |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		if r.Err != nil {
			fmt.Fprintf(&b, "| %s | failed: %s | | | | | | | |\n", r.Peer, oneLine(r.Err.Error()))
			continue
		}
		d := r.DNSPerf
		fmt.Fprintf(&b, "| %s | %.0f | %d (%.2f %%) | %s | %s | %s | %s | %s | %s |\n", r.Peer, d.QPS, d.Lost, d.LostPct(),
			us(d.Avg), us(d.Percentile(0.5)), us(d.Percentile(0.99)), us(d.Percentile(0.999)), us(d.Max), cores(r.CPU))
	}
	for _, r := range rs {
		switch {
		case r.Profile != nil:
			fmt.Fprintf(&b, "\n%s's guest profile during a second run at saturation: %s.\n", r.Peer, r.Profile)
		case r.ProfileErr != nil:
			fmt.Fprintf(&b, "\n%s's guest profile: %s.\n", r.Peer, oneLine(r.ProfileErr.Error()))
		}
	}
	fmt.Fprintf(&b, "\ndnsperf %v at saturation (-c %d -q %d: at most %d queries in flight), query file %s (A, AAAA, TXT, SOA and NXDOMAIN names of image/dns's zone); percentiles over every answered query (dnsperf -v); the host's dnsperf reaches the guest through QEMU's user-mode UDP forward.\n",
		o.DNSPerfTime, o.DNSPerfClients, o.DNSPerfOutstanding, o.DNSPerfOutstanding, shortPath(o.Queries))
	return b.String()
}

// SockperfMarkdown renders the sockperf section as a table, one row per
// peer and run.
func SockperfMarkdown(rs []SockperfResult, o ClientOptions) string {
	o.defaults()
	var b strings.Builder
	b.WriteString("| peer | run | replies | RTT avg | p50 | p99 | p99.9 | max | dropped |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	row := func(peer, run string, s *Sockperf) {
		p999 := "n/a"
		if d, ok := s.Percentile(99.9); ok {
			p999 = us(d)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %d |\n", peer, run, s.Observations, us(s.Avg),
			us(s.P(50)), us(s.P(99)), p999, us(s.Max), s.Dropped)
	}
	for _, r := range rs {
		if r.PingPong != nil {
			row(r.Peer, "ping-pong", r.PingPong)
		}
		for i, s := range r.UnderLoad {
			row(r.Peer, fmt.Sprintf("under-load %d msg/s", o.Rates[i]), s)
		}
		if r.Err != nil {
			fmt.Fprintf(&b, "| %s | failed: %s | | | | | | | |\n", r.Peer, oneLine(r.Err.Error()))
		}
	}
	fmt.Fprintf(&b, "\nsockperf %v per run, round trips (--full-rtt); under-load asks a reply to one message in %d (--reply-every), the percentiles are over those; the host's sockperf reaches the guest through QEMU's user-mode UDP forward.\n",
		o.SockperfTime, o.ReplyEvery)
	return b.String()
}

// shortPath is path from the module's root when it is inside it.
func shortPath(path string) string {
	if root, err := qemu.ModuleRoot(); err == nil {
		if rest, ok := strings.CutPrefix(path, root+string(os.PathSeparator)); ok {
			return rest
		}
	}
	return path
}
