//go:build tamago

// Command gvisor-echo is the benchmark's gVisor peer: the UDP echo of
// image/kaidoku on gVisor's netstack (gvisor.dev/gvisor/pkg/tcpip) instead
// of kaidoku's, fed by kaidoku's own virtio-net driver and NAPI through a
// link endpoint (link.go). Board, interrupt, driver and softnet are set up
// exactly as image/kaidoku sets them up, so the two stacks are compared
// over the same device and interrupt path, with the same interrupt-to-
// wakeup measurement where gVisor allows it (stamp.go, services.go).
//
// Boot parameters (kernel command line), as image/kaidoku's where they
// apply:
//
//	ip=10.0.2.15/24 gw=10.0.2.2   interface address and default gateway ("none")
//	services=echo,stats           others are ignored
//	echo.port=7 stats.port=161
//	stats.allow=CIDR|any          who the stats service answers (default: the guest's subnet)
//	busypoll=<duration>           NAPI busy-poll window before halting (default off)
//
// Timestamps (ns of board.Nanotime), for the echo's datagrams: T0 is
// taken by kaidoku's interrupt entry for the virtio-net interrupt that
// led to the frame being polled, T1 when that NAPI poll started (both
// stamped on the skb by the driver, remembered by the link endpoint);
// T3 right after gonet's ReadFrom returns in the echo loop. T2, the
// enqueue on the socket, happens inside gVisor's UDP endpoint and is not
// observable, so the stats report total (T3−T0) and irq_to_poll (T1−T0)
// and leave stack and wakeup empty.
//
// gVisor configuration: IPv4, ARP, UDP and ICMPv4 (echo requests are
// answered by gVisor's IPv4 protocol; the ICMP transport only makes the
// stack treat ICMP as a known protocol), one NIC with the address and a
// default route via the gateway, the stack's default options (its
// 212 KiB UDP receive buffer matches Linux's rmem_default) and no
// queueing discipline: the driver has its own transmit backlog, and
// gVisor's link/qdisc/fifo would add a goroutine hop per packet.
package main

import (
	"fmt"
	"os"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/kaidoku-net/kaidoku/board"
	"github.com/kaidoku-net/kaidoku/irq"
	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
)

// Packet buffer pools, as image/kaidoku's: DMA buffers the device writes
// into and the link endpoint transmits from, and large buffers for frames
// the device spread over several receive buffers.
const (
	frameSize  = 2048
	frameCount = 8192
	largeSize  = 65536 + 128
	largeCount = 64
)

// nicID is the gVisor NIC of the virtio-net device.
const nicID tcpip.NICID = 1

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
	gw := "none"
	if cfg.gateway.IsValid() {
		gw = cfg.gateway.String()
	}
	fmt.Printf("gvisor-echo: gVisor netstack on kaidoku's virtio-net driver: %s via %s, %s\n", cfg.addr, gw, servicesLine(cfg))
	fmt.Println("READY")
	select {}
}

// system is what the services need to reach.
type system struct {
	dev    *virtio.Net
	link   *linkEndpoint
	stack  *stack.Stack
	frames *skb.Pool
	large  *skb.Pool
	stamps *stampRing
	vector int
}

// bringUp finds the device and wires pools, softnet, driver, link
// endpoint, gVisor stack and interrupt, in image/kaidoku's order.
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
	sys := &system{frames: frames, large: large, stamps: newStampRing(cfg.echoPort)}
	sn := napi.NewSoftnet(napi.Config{Now: board.Nanotime, BusyPollNs: cfg.busyPoll.Nanoseconds()})
	// Deliver runs only in the softnet goroutine, started last, so link
	// is set by the time it is called; the link endpoint needs the device
	// (its MAC and headroom), hence the indirection.
	var link *linkEndpoint
	dev, err := virtio.NewNet(board.MMIO{Base: slot.Base}, mem, virtio.NetConfig{
		RxPool:    frames,
		LargePool: large,
		Ifindex:   int(nicID),
		Softnet:   sn,
		Now:       board.Nanotime,
		Name:      "eth0",
		Deliver:   func(b *skb.Buffer) { link.Deliver(b) },
		OnFault:   func(err error) { fmt.Println("virtio-net:", err) },
		OnLink:    func(up bool) { fmt.Println("virtio-net: link up:", up) },
	})
	if err != nil {
		return nil, err
	}
	sys.dev = dev
	link = newLinkEndpoint(dev, frames, sys.stamps)
	sys.link = link

	s, err := newStack(cfg, link)
	if err != nil {
		return nil, err
	}
	sys.stack = s
	if sys.vector, err = irq.Attach(slot.GSI, "virtio-net", dev.Interrupt); err != nil {
		return nil, err
	}
	go sn.Run()
	return sys, nil
}

// newStack builds the gVisor stack: IPv4, ARP, UDP, ICMP, the NIC over link,
// its address, the subnet route and the default route.
func newStack(cfg *config, link *linkEndpoint) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol, icmp.NewProtocol4},
	})
	if err := s.CreateNICWithOptions(nicID, link, stack.NICOptions{Name: "eth0"}); err != nil {
		return nil, fmt.Errorf("gVisor CreateNIC: %s", err)
	}
	addr := tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(cfg.addr.Addr().As4()), PrefixLen: cfg.addr.Bits()}
	if err := s.AddProtocolAddress(nicID, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: addr}, stack.AddressProperties{}); err != nil {
		return nil, fmt.Errorf("gVisor AddProtocolAddress %s: %s", cfg.addr, err)
	}
	routes := []tcpip.Route{{Destination: addr.Subnet(), NIC: nicID}}
	if cfg.gateway.IsValid() {
		routes = append(routes, tcpip.Route{Destination: header.IPv4EmptySubnet, Gateway: tcpip.AddrFrom4(cfg.gateway.As4()), NIC: nicID})
	}
	s.SetRouteTable(routes)
	return s, nil
}

func servicesLine(cfg *config) string {
	s := "services ["
	if cfg.echo {
		s += fmt.Sprintf(" echo:%d", cfg.echoPort)
	}
	if cfg.stats {
		s += fmt.Sprintf(" stats:%d", cfg.statsPort)
	}
	return s + " ]"
}

func fatal(what string, err error) {
	fmt.Printf("gvisor-echo: %s: %v\n", what, err)
	os.Exit(1)
}
