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
//	pcap                          write a pcap of every frame to the console (hex)
//	clocktest=<duration>          print CLOCK lines around a sleep (tests)
//	exit=<code>, panic            end once READY (tests)
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/kaidoku-net/kaidoku/board"
	"github.com/kaidoku-net/kaidoku/irq"
	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
)

// Packet buffer pools. Frames are DMA buffers the device writes into and
// the stack transmits from; large buffers hold frames the device spread
// over several receive buffers and reassembled datagrams.
const (
	frameSize  = 2048
	frameCount = 8192
	largeSize  = 65536 + 128
	largeCount = 64
)

func main() {
	fmt.Println(board.Banner())
	fmt.Printf("lapic timer %.3f MHz\n", float64(board.LAPICTimerHz())/1e6)
	for _, s := range board.VirtioDevices() {
		fmt.Println(s)
	}
	cfg, err := loadConfig()
	if err != nil {
		fatal("configuration", err)
	}
	sys, err := bringUp(cfg)
	if err != nil {
		fatal("network", err)
	}
	startServices(cfg, sys)
	fmt.Printf("kaidoku: %s via %s, mode %s, services %v\n", cfg.addr, cfg.gateway, cfg.mode, servicesLine(cfg))
	fmt.Println("READY")
	selftest()
	select {}
}

// system is what the services need to reach.
type system struct {
	dev    *virtio.Net
	stack  *netstack.Stack // nil in reflector mode
	frames *skb.Pool
	large  *skb.Pool
	vector int
}

func bringUp(cfg *config) (*system, error) {
	var slot *board.VirtioSlot
	for _, s := range board.VirtioDevices() {
		if s.DeviceID == 1 {
			slot = &s
			break
		}
	}
	if slot == nil {
		return nil, fmt.Errorf("no virtio-net device found")
	}
	mem := board.DMAMemory{}
	frames, err := skb.NewPool("frames", frameSize, frameCount, virtio.PoolMemory(mem))
	if err != nil {
		return nil, err
	}
	large, err := skb.NewPool("large", largeSize, largeCount, virtio.PoolMemory(mem))
	if err != nil {
		return nil, err
	}
	sys := &system{frames: frames, large: large}
	sn := napi.NewSoftnet(napi.Config{Now: board.Nanotime, BusyPollNs: cfg.busyPoll.Nanoseconds()})
	ncfg := virtio.NetConfig{
		RxPool:    frames,
		LargePool: large,
		Ifindex:   2,
		Softnet:   sn,
		Now:       board.Nanotime,
		Name:      "eth0",
		Reflect:   cfg.mode == "reflector",
		OnFault:   func(err error) { fmt.Println("virtio-net:", err) },
		OnLink:    func(up bool) { fmt.Println("virtio-net: link up:", up) },
	}
	if !ncfg.Reflect {
		ncfg.Deliver = func(b *skb.Buffer) { sys.stack.Receive(b) }
	}
	dev, err := virtio.NewNet(board.MMIO{Base: slot.Base}, mem, ncfg)
	if err != nil {
		return nil, err
	}
	sys.dev = dev
	if !ncfg.Reflect {
		st, err := netstack.New(netstack.Config{
			Link:      dev,
			FramePool: frames,
			LargePool: large,
			Addr:      cfg.addr.Addr().As4(),
			PrefixLen: cfg.addr.Bits(),
			Gateway:   gatewayBytes(cfg),
			Now:       board.Nanotime,
		})
		if err != nil {
			return nil, err
		}
		sys.stack = st
		netstack.InstallSocketFunc(st)
	}
	if sys.vector, err = irq.Attach(slot.GSI, "virtio-net", dev.Interrupt); err != nil {
		return nil, err
	}
	go sn.Run()
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
