//go:build tamago

// Command kaidoku is the kaidoku unikernel: it boots on QEMU microvm,
// reports its clock and devices, brings up the virtio-net driver, NAPI and
// the network stack, starts its UDP services and serves until the VM is
// stopped.
//
// Boot parameters (kernel command line, the launcher's -append):
//
//	ip=10.0.2.15/24 gw=10.0.2.2   interface address and default gateway ("none")
//	mode=stack|reflector          reflector: the driver returns every frame, no stack
//	services=echo,discard,stats,agent
//	<service>.port=N              echo 7, discard 9, stats 161, agent 5555
//	<service>.allow=CIDR|any      who the stats service and the test agent answer
//	busypoll=<duration>           NAPI busy-poll window before halting (default off)
//	napi.threaded                 poll only in the softnet goroutine, never on irq exit
//	stats.console=<duration>      print driver and NAPI counters on the console this often
//	pcap                          write a pcap of every frame to the console (hex)
//	supervise=<duration>|off      device health check period (default 1s)
//	clocktest=<duration>          print CLOCK lines around a sleep (tests)
//	exit=<code>, panic            end once READY (tests)
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/kaidoku-net/kaidoku/board"
	"github.com/kaidoku-net/kaidoku/image/netdev"
	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
)

func main() {
	fmt.Print(board.Banner())
	cfg, err := loadConfig()
	if err != nil {
		fatal("configuration", err)
	}
	sys, err := bringUp(cfg)
	if err != nil {
		fatal("network", err)
	}
	startServices(cfg, sys)
	if cfg.consoleStats > 0 {
		go consoleStats(sys, cfg.consoleStats)
	}
	fmt.Printf("kaidoku: %s via %s, mode %s, services %v\n", cfg.addr, cfg.gateway, cfg.mode, servicesLine(cfg))
	fmt.Println("READY")
	selftest()
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
func bringUp(cfg *config) (*system, error) {
	sys := &system{}
	reflect := cfg.mode == "reflector"
	ncfg := netdev.Config{
		Reflect:        reflect,
		BusyPoll:       cfg.busyPoll,
		Threaded:       cfg.threadedNAPI,
		SuperviseEvery: cfg.supervise,
	}
	if !reflect {
		// Frames flow only after Start, by which time the stack exists.
		ncfg.Deliver = func(b *skb.Buffer) { sys.stack.Receive(b) }
	}
	nd, err := netdev.Open(ncfg)
	if err != nil {
		return nil, err
	}
	sys.nd, sys.dev = nd, nd.Net
	if !reflect {
		sys.stack, err = netstack.New(netstack.Config{
			Link:      nd.Net,
			FramePool: nd.Frames,
			LargePool: nd.Large,
			Addr:      cfg.addr.Addr().As4(),
			PrefixLen: cfg.addr.Bits(),
			Gateway:   gatewayBytes(cfg),
			Now:       board.Nanotime,
		})
		if err != nil {
			return nil, err
		}
		netstack.InstallSocketFunc(sys.stack)
	}
	if err := nd.Start(); err != nil {
		return nil, err
	}
	if sys.stack != nil {
		sys.stack.Up()
	}
	return sys, nil
}

func gatewayBytes(cfg *config) [4]byte {
	if cfg.gateway.IsValid() {
		return cfg.gateway.As4()
	}
	return [4]byte{}
}

func servicesLine(cfg *config) string {
	s := ""
	for _, name := range []string{"echo", "discard", "stats", "agent"} {
		if cfg.services[name] && cfg.mode == "stack" {
			s += " " + name + ":" + strconv.Itoa(int(cfg.ports[name]))
		}
	}
	return "[" + s + " ]"
}

func fatal(what string, err error) {
	fmt.Printf("kaidoku: %s: %v\n", what, err)
	os.Exit(1)
}

// selftest runs the diagnostics the end-to-end tests ask for.
func selftest() {
	if v, ok := board.Param("clocktest"); ok {
		d, err := time.ParseDuration(v)
		if err == nil {
			// Equal-width lines, so that the host sees the same serial
			// delay on both and can compare the two clocks' rates.
			fmt.Printf("CLOCK start %020d\n", board.Nanotime())
			time.Sleep(d)
			fmt.Printf("CLOCK end   %020d\n", board.Nanotime())
		}
	}
	if v, ok := board.Param("exit"); ok {
		code, _ := strconv.Atoi(v)
		os.Exit(code)
	}
	if _, ok := board.Param("panic"); ok {
		panic("panic requested on the command line")
	}
}
