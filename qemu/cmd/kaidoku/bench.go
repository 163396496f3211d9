package main

import (
	"flag"
	"fmt"
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
	peersFlag := fs.String("peers", "kaidoku,gvisor,linux,reflector,af_xdp,kaidoku-busypoll", "peers to measure, in order")
	busyPoll := fs.Duration("busypoll", 200*time.Microsecond, "NAPI busy-poll window of the kaidoku-busypoll peer")
	loadTime := fs.Duration("load", 10*time.Second, "throughput run length")
	rttCount := fs.Int("rtt", 2000, "sequential round trips")
	inFlight := fs.Int("inflight", 32, "requests in flight for throughput")
	size := fs.Int("size", 64, "echo payload bytes")
	xdpDrop := fs.Uint64("xdpdrop", 1_000_000, "frames of the flood the XDP_DROP run drops (0: no XDP_DROP run)")
	fs.Parse(args)

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
		case "af_xdp":
			p, err := xskPeer(root, guestIP)
			if err != nil {
				return err
			}
			peers = append(peers, p)
		default:
			return fmt.Errorf("unknown peer %q", name)
		}
	}
	o := bench.Options{Size: *size, RTTCount: *rttCount, InFlight: *inFlight, LoadTime: *loadTime}
	results := bench.Run(peers, o)
	table := bench.Markdown(results, o)
	goals := bench.Goals(results) + bench.XSKGoals(results)
	plots, err := bench.Plots(results, *out)
	if err != nil {
		return err
	}
	report := "# kaidoku side-by-side benchmark\n\n" + time.Now().UTC().Format(time.RFC3339) + "\n\n" + table + "\n" + goals
	if *xdpDrop > 0 {
		xdp, err := benchXDPDrop(root, kaidokuImage, guestIP, bench.XDPDropOptions{Count: *xdpDrop, Size: *size})
		if err != nil {
			return err
		}
		report += "\n" + xdp
		goals += "\n" + xdp
	}
	for _, p := range plots {
		report += fmt.Sprintf("\n![%s](%s)\n", filepath.Base(p), filepath.Base(p))
	}
	if err := os.WriteFile(filepath.Join(*out, "bench.md"), []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Print(table, "\n", goals)
	fmt.Printf("\nwrote %s and %d plots\n", filepath.Join(*out, "bench.md"), len(plots))
	return nil
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
