//go:build tamago

// Command kaidoku is the kaidoku unikernel: it boots on QEMU microvm,
// reports its clock and devices, brings up the virtio-net driver, NAPI and
// the network stack, starts its UDP services and serves until the VM is
// stopped.
//
// Its configuration is the kernel command line's kaidoku.* words (package
// image/config, listed in README's "Kernel command line"); Linux's words
// (console=, panic=, quiet, ...) are ignored. Words may also be built in:
// -ldflags "-X main.builtinCmdline=kaidoku.addr=10.0.0.5/24", which the
// boot line overrides.
package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/kaidoku-net/kaidoku/board"
	"github.com/kaidoku-net/kaidoku/image/config"
	"github.com/kaidoku-net/kaidoku/image/netdev"
	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
)

// builtinCmdline holds kaidoku words set at build time (-ldflags -X), read
// before the boot line, as Linux's CONFIG_CMDLINE.
var builtinCmdline string

// image is what this image has beyond the common words.
var image = config.Kaidoku

func main() {
	fmt.Print(board.Banner())
	cfg, errs := config.Parse(image, builtinCmdline, board.Cmdline())
	for _, err := range errs {
		fmt.Printf("kaidoku: %v\n", err)
	}
	sys, err := bringUp(cfg)
	if err != nil {
		fatal("network", err)
	}
	startServices(cfg, sys)
	if cfg.ConsoleStats > 0 {
		go consoleStats(sys, cfg.ConsoleStats)
	}
	fmt.Printf("kaidoku: %s via %s, mode %s, services %v\n", cfg.Addr, gatewayString(cfg), modeString(cfg), servicesLine(cfg))
	fmt.Println("READY")
	runTestHooks(cfg.Test)
	select {}
}

// system is what the services need to reach.
type system struct {
	nd    *netdev.Device
	dev   *virtio.Net
	stack *netstack.Stack // nil in reflector mode
}

// bringUp brings the device up as every image does (package netdev) and
// puts the stack on it, or lets the driver reflect every frame.
func bringUp(cfg *config.Config) (*system, error) {
	sys := &system{}
	ncfg := netdev.Config{
		Reflect:        cfg.Reflector,
		BusyPoll:       cfg.BusyPoll,
		Threaded:       cfg.Threaded,
		SuperviseEvery: cfg.Supervise,
	}
	if !cfg.Reflector {
		// Frames flow only after Start, by which time the stack exists.
		ncfg.Deliver = func(b *skb.Buffer) { sys.stack.Receive(b) }
	}
	nd, err := netdev.Open(ncfg)
	if err != nil {
		return nil, err
	}
	sys.nd, sys.dev = nd, nd.Net
	if !cfg.Reflector {
		var gw [4]byte
		if cfg.Gateway.IsValid() {
			gw = cfg.Gateway.As4()
		}
		sys.stack, err = netstack.New(netstack.Config{
			Link:      nd.Net,
			FramePool: nd.Frames,
			LargePool: nd.Large,
			Ifindex:   nd.Ifindex(),
			Name:      nd.Name(),
			Addr:      cfg.Addr.Addr().As4(),
			PrefixLen: cfg.Addr.Bits(),
			Gateway:   gw,
			Now:       board.Nanotime,
		})
		if err != nil {
			return nil, err
		}
		netstack.InstallSocketFunc(sys.stack)
		if cfg.Pcap {
			if _, err := sys.stack.AddPcap(pcapConsole{}); err != nil {
				return nil, err
			}
		}
	}
	if err := nd.Start(); err != nil {
		return nil, err
	}
	if sys.stack != nil {
		sys.stack.Up()
	}
	return sys, nil
}

// pcapConsole writes the pcap stream on the console, one "PCAP <hex>" line
// per write (the file header, then each record), for the host to decode.
type pcapConsole struct{}

func (pcapConsole) Write(p []byte) (int, error) {
	fmt.Printf("PCAP %s\n", hex.EncodeToString(p))
	return len(p), nil
}

func gatewayString(cfg *config.Config) string {
	if cfg.Gateway.IsValid() {
		return cfg.Gateway.String()
	}
	return "none"
}

func modeString(cfg *config.Config) string {
	if cfg.Reflector {
		return "reflector"
	}
	return "stack"
}

func servicesLine(cfg *config.Config) string {
	s := ""
	for _, name := range image.Services {
		if svc := cfg.Services[name]; svc.On && !cfg.Reflector {
			s += " " + name + ":" + strconv.Itoa(int(svc.Port))
		}
	}
	return "[" + s + " ]"
}

func fatal(what string, err error) {
	fmt.Printf("kaidoku: %s: %v\n", what, err)
	os.Exit(1)
}

// runTestHooks runs the diagnostics the end-to-end tests ask for with the
// kaidoku.test.* words.
func runTestHooks(h config.TestHooks) {
	if h.Clock > 0 {
		// Equal-width lines, so that the host sees the same serial delay
		// on both and can compare the two clocks' rates.
		fmt.Printf("CLOCK start %020d\n", board.Nanotime())
		time.Sleep(h.Clock)
		fmt.Printf("CLOCK end   %020d\n", board.Nanotime())
	}
	if h.Exit >= 0 {
		os.Exit(h.Exit)
	}
	if h.Panic {
		panic("panic requested on the command line (kaidoku.test.panic)")
	}
}
