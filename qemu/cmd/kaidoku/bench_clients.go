package main

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/bench"
	"github.com/kaidoku-net/kaidoku/qemu/linuxguest"
)

// clientSection is a real-client section of the benchmark: the program
// every stack runs and the client that measures it.
type clientSection struct {
	name    string // the -sections word
	pkg     string // the program, from the module root
	port    int    // its UDP port
	client  string // the client's command
	debPkg  string // Debian's package of the client
	heading string
	libs    string // the program's libraries, for the profile's shares
}

var clientSections = []clientSection{
	{"dnsperf", "./image/dns", 53, "dnsperf", "dnsperf", "dnsperf against image/dns", "github.com/miekg/dns"},
	{"sockperf", "./image/sockperf", 11111, "sockperf", "sockperf", "sockperf against image/sockperf", ""},
}

// runClientSections runs the real-client sections named in want, each
// against kaidoku, the gVisor netstack on kaidoku's driver and the Linux
// guest (the peers named in stacks), and returns the report's markdown
// and the goals. A section whose client is not installed is skipped with
// one line saying which package to install.
func runClientSections(root string, want map[string]bool, stacks []string, o bench.ClientOptions) (report, goals string, err error) {
	var dns []bench.DNSPerfResult
	var sp []bench.SockperfResult
	var b strings.Builder
	for _, s := range clientSections {
		if !want[s.name] {
			continue
		}
		fmt.Fprintf(&b, "## %s\n\n", s.heading)
		client, err := bench.LookClient(s.client, s.debPkg)
		if err != nil {
			fmt.Fprintf(&b, "skipped: %v\n\n", err)
			fmt.Fprintf(o.Log, "bench: %s: skipped: %v\n", s.name, err)
			continue
		}
		peers, err := servicePeers(root, s, stacks)
		if err != nil {
			return "", "", err
		}
		switch s.name {
		case "dnsperf":
			dns = bench.RunDNSPerf(client, peers, o)
			b.WriteString(bench.DNSPerfMarkdown(dns, o))
		case "sockperf":
			sp = bench.RunSockperf(client, peers, o)
			b.WriteString(bench.SockperfMarkdown(sp, o))
		}
		b.WriteString("\n")
	}
	if dns == nil && sp == nil {
		return b.String(), "", nil
	}
	return b.String(), bench.ClientGoals(dns, sp), nil
}

// servicePeers builds s's program for each stack: the kaidoku image, the
// same program built with the gvisor tag (package unikernel puts gVisor's
// netstack on the device and serves the net package from it), and the
// Linux guest carrying the program built for Linux in its initramfs,
// started by its /init (kaidoku.exec=).
func servicePeers(root string, s clientSection, stacks []string) ([]bench.ServicePeer, error) {
	base := path.Base(s.pkg)
	var peers []bench.ServicePeer
	for _, stack := range stacks {
		switch stack {
		case "kaidoku":
			img := filepath.Join(root, "build", base+".elf")
			if err := qemu.BuildImage(root, s.pkg, img, ""); err != nil {
				return nil, err
			}
			peers = append(peers, bench.ServicePeer{Name: "kaidoku", Kind: bench.KindKaidoku, Port: s.port, Image: img, Libraries: s.libs,
				Config: func() (qemu.Config, error) { return qemu.Config{Kernel: img}, nil }})
		case "gvisor":
			img := filepath.Join(root, "build", base+"-gvisor.elf")
			if err := qemu.BuildImage(root, s.pkg, img, "", "gvisor"); err != nil {
				return nil, err
			}
			peers = append(peers, bench.ServicePeer{Name: "gVisor netstack (kaidoku driver)", Kind: bench.KindGVisor, Port: s.port,
				Config: func() (qemu.Config, error) { return qemu.Config{Kernel: img}, nil }})
		case "linux":
			g, err := linuxguest.PrepareWith(linuxguest.DefaultWorkdir(), linuxguest.Options{Programs: []string{s.pkg}})
			if errors.Is(err, linuxguest.ErrNoKernel) {
				// The row says so; the other stacks are measured.
				peers = append(peers, bench.ServicePeer{Name: "Linux guest", Kind: bench.KindLinux, Port: s.port,
					Config: func() (qemu.Config, error) { return qemu.Config{}, err }})
				continue
			}
			if err != nil {
				return nil, err
			}
			peers = append(peers, bench.ServicePeer{Name: "Linux " + g.Release, Kind: bench.KindLinux, Port: s.port,
				Config: func() (qemu.Config, error) {
					return g.Config(qemu.Config{Append: []string{"kaidoku.exec=" + base, "kaidoku.exec.port=" + strconv.Itoa(s.port)}}), nil
				}})
		default:
			return nil, fmt.Errorf("client sections: unknown stack %q (kaidoku, gvisor, linux)", stack)
		}
	}
	return peers, nil
}
