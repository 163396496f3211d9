package main

import (
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/bench"
	"github.com/kaidoku-net/kaidoku/qemu/linuxguest"
)

// benchCmd builds the peers, runs the side-by-side benchmark and writes
// the table and plots into the output folder.
func benchCmd(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	out := fs.String("out", "results", "folder for bench.md and the plots")
	peersFlag := fs.String("peers", "kaidoku,kaidoku-per-datagram,gvisor,linux,reflector,af_xdp,af_xdp_zc,kaidoku-busypoll", "peers to measure, in order")
	busyPoll := fs.Duration("busypoll", 200*time.Microsecond, "NAPI busy-poll window of the kaidoku-busypoll peer")
	loadTime := fs.Duration("load", 10*time.Second, "throughput run length")
	rttCount := fs.Int("rtt", 2000, "sequential round trips")
	inFlight := fs.Int("inflight", 32, "requests in flight for throughput")
	size := fs.Int("size", 64, "echo payload bytes")
	openLoop := fs.Duration("openloop", 2*time.Second, "open loop: time measured at each offered rate (0 skips the section)")
	fractions := fs.String("openloop-rates", "0.1,0.25,0.5,0.75,0.9,1,1.25,1.5", "open loop: offered rates as fractions of each peer's closed-loop echoes/s")
	sections := fs.String("sections", "echo,dnsperf,sockperf,xdpdrop", "sections to run: echo (the peers above, closed and open loop), dnsperf, sockperf, xdpdrop")
	stacks := fs.String("stacks", "kaidoku,gvisor,linux", "stacks of the dnsperf and sockperf sections, in order")
	clientTime := fs.Duration("clienttime", 10*time.Second, "length of each dnsperf and sockperf run")
	clientProfile := fs.Bool("profile", true, "profile the kaidoku guest during a second dnsperf run (the driver's, the stack's and the program's shares)")
	xdpDrop := fs.Uint64("xdpdrop", 1_000_000, "frames of the flood the XDP_DROP run drops (0: no XDP_DROP run)")
	xdpBacklog := fs.Int64("xdpdrop-backlog", 64<<10, "bytes the XDP_DROP flood keeps queued in QEMU's socket at most")
	fs.Parse(args)
	ol, err := openLoopOptions(*openLoop, *fractions)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range splitList(*sections) {
		if s != "echo" && s != "dnsperf" && s != "sockperf" && s != "xdpdrop" {
			return fmt.Errorf("unknown section %q (echo, dnsperf, sockperf, xdpdrop)", s)
		}
		want[s] = true
	}
	if !want["echo"] {
		*peersFlag = ""
	}

	root, err := qemu.ModuleRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	guestIP := netip.MustParseAddr("10.0.2.15")
	kaidokuImage := filepath.Join(root, "build", "kaidoku.elf")
	gvisorImage := filepath.Join(root, "build", "gvisor-echo.elf")

	var peers []bench.Peer
	for _, name := range splitList(*peersFlag) {
		switch name {
		case "kaidoku":
			if err := qemu.BuildImage(root, "./image/kaidoku", kaidokuImage, ""); err != nil {
				return err
			}
			peers = append(peers, bench.Peer{Name: "kaidoku", Files: []string{kaidokuImage}, GuestIP: guestIP,
				EchoPort: 7, StatsPort: 161, Config: imageConfig(kaidokuImage)})
		case "kaidoku-per-datagram":
			// The echo service as it was before recvmmsg/sendmmsg:
			// one recvfrom and one sendto (one device notification)
			// per datagram.
			if err := qemu.BuildImage(root, "./image/kaidoku", kaidokuImage, ""); err != nil {
				return err
			}
			peers = append(peers, bench.Peer{Name: "kaidoku, per-datagram echo", Files: []string{kaidokuImage}, GuestIP: guestIP,
				EchoPort: 7, StatsPort: 161, Config: imageConfig(kaidokuImage, "kaidoku.echo.batch=1")})
		case "gvisor":
			if err := qemu.BuildImage(root, "./image/gvisor-echo", gvisorImage, ""); err != nil {
				return err
			}
			peers = append(peers, bench.Peer{Name: "gVisor netstack (kaidoku driver)", Files: []string{gvisorImage}, GuestIP: guestIP,
				EchoPort: 7, StatsPort: 161, Config: imageConfig(gvisorImage)})
		case "linux":
			g, err := linuxguest.Prepare(linuxguest.DefaultWorkdir())
			if err != nil {
				return err
			}
			peers = append(peers, bench.Peer{Name: "Linux " + g.Release, Files: []string{g.Kernel, g.Initrd}, GuestIP: guestIP,
				EchoPort: linuxguest.EchoPort, StatsPort: linuxguest.StatsPort, Stats: linuxMem,
				Config: func() (qemu.Config, error) { return g.Config(qemu.Config{}), nil }})
		case "kaidoku-busypoll":
			if err := qemu.BuildImage(root, "./image/kaidoku", kaidokuImage, ""); err != nil {
				return err
			}
			peers = append(peers, bench.Peer{Name: fmt.Sprintf("kaidoku, busypoll=%v", *busyPoll), Files: []string{kaidokuImage}, GuestIP: guestIP,
				EchoPort: 7, StatsPort: 161, Config: imageConfig(kaidokuImage, "kaidoku.busypoll="+busyPoll.String())})
		case "reflector":
			if err := qemu.BuildImage(root, "./image/kaidoku", kaidokuImage, ""); err != nil {
				return err
			}
			peers = append(peers, bench.Peer{Name: "reflector (XDP_TX, driver ceiling)", Files: []string{kaidokuImage}, GuestIP: guestIP,
				EchoPort: 7, Config: imageConfig(kaidokuImage, "kaidoku.mode=reflector")})
		case "af_xdp", "af_xdp_zc":
			p, err := xskPeer(root, guestIP, name == "af_xdp_zc")
			if err != nil {
				return err
			}
			peers = append(peers, p)
		default:
			return fmt.Errorf("unknown peer %q", name)
		}
	}
	o := bench.Options{Size: *size, RTTCount: *rttCount, InFlight: *inFlight, LoadTime: *loadTime, OpenLoop: ol}
	var table, goals string
	var plots []string
	if len(peers) > 0 {
		results := bench.Run(peers, o)
		table, goals = bench.Markdown(results, o), bench.Goals(results)+bench.XSKGoals(results)
		if t := bench.OpenLoopMarkdown(results, o); t != "" {
			table += "\n## Latency against offered load\n\n" + t
		}
		if plots, err = bench.Plots(results, *out); err != nil {
			return err
		}
	}
	co := bench.ClientOptions{Queries: filepath.Join(root, "qemu", "bench", "testdata", "dnsperf-queries.txt"),
		DNSPerfTime: *clientTime, SockperfTime: *clientTime, Profile: *clientProfile, Log: os.Stderr}
	clients, clientGoals, err := runClientSections(root, want, splitList(*stacks), co)
	if err != nil {
		return err
	}
	if table != "" && clients != "" {
		table += "\n"
	}
	table += clients
	if clientGoals != "" {
		if goals == "" {
			goals = "Goals:\n"
		}
		goals += clientGoals
	}
	report := "# kaidoku side-by-side benchmark\n\n" + time.Now().UTC().Format(time.RFC3339) + "\n\n" + table + "\n" + goals
	if want["xdpdrop"] && *xdpDrop > 0 {
		xdp, err := benchXDPDrop(root, kaidokuImage, guestIP, bench.XDPDropOptions{Count: *xdpDrop, Size: *size, Backlog: *xdpBacklog})
		if err != nil {
			return err
		}
		report += "\n" + xdp
		goals += "\n" + xdp
	}
	for _, p := range plots {
		report += fmt.Sprintf("\n![%s](%s)\n", filepath.Base(p), filepath.Base(p))
	}
	// A run without the echo section leaves a full run's report in place.
	name := "bench.md"
	switch {
	case want["echo"]:
	case want["dnsperf"] || want["sockperf"]:
		name = "bench-clients.md"
	default:
		name = "bench-xdpdrop.md"
	}
	if err := os.WriteFile(filepath.Join(*out, name), []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Print(table, "\n", goals)
	fmt.Printf("\nwrote %s and %d plots\n", filepath.Join(*out, name), len(plots))
	return nil
}

// openLoopOptions reads the open-loop flags: the time per rate (0 or
// less skips the section) and the comma-separated fractions.
func openLoopOptions(d time.Duration, fractions string) (bench.OpenLoopOptions, error) {
	o := bench.OpenLoopOptions{Duration: d}
	if d <= 0 {
		o.Duration = -1
		return o, nil
	}
	for _, f := range splitList(fractions) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 || math.IsInf(v, 0) {
			return o, fmt.Errorf("-openloop-rates: %q is not a positive fraction", f)
		}
		o.Fractions = append(o.Fractions, v)
	}
	if len(o.Fractions) == 0 {
		return o, fmt.Errorf("-openloop-rates: no rate given")
	}
	return o, nil
}

func imageConfig(image string, words ...string) func() (qemu.Config, error) {
	return func() (qemu.Config, error) {
		return qemu.Config{Kernel: image, Append: append([]string{"kaidoku.services=echo,stats", "kaidoku.stats.allow=any"}, words...)}, nil
	}
}

func splitList(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// linuxMem reads the Linux guest's stats report (linuxguest.ParseStats):
// of the counters the bench reads, it has only the memory in use.
func linuxMem(reply []byte) (*stats.Snapshot, error) {
	v, ok := linuxguest.ParseStats(reply)["mem_in_use_bytes"]
	if !ok {
		return nil, fmt.Errorf("no mem_in_use_bytes in the Linux guest's stats reply")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("mem_in_use_bytes %q: %w", v, err)
	}
	return &stats.Snapshot{Mem: &stats.Mem{InUseBytes: n}}, nil
}
