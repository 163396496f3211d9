//go:build tamago

// Command gvisor-echo is the benchmark's gVisor peer: the UDP echo of
// image/kaidoku on gVisor's netstack (gvisor.dev/gvisor/pkg/tcpip) instead
// of kaidoku's, fed by kaidoku's own virtio-net driver and NAPI through a
// link endpoint (package image/gvisornet). Board, interrupt, driver and
// softnet are set up exactly as image/kaidoku sets them up (package unikernel, with gVisor's
// stack attached in place of kaidoku's), so the two stacks are compared
// over the same device and interrupt path, with the same interrupt-to-
// wakeup measurement where gVisor allows it (stamp.go, services.go).
//
// Its configuration is image/kaidoku's (package image/config): the
// kernel command line's kaidoku.* words for what this image has (address,
// gateway, the echo and stats services, NAPI, supervisor), built in with
// -ldflags "-X main.builtinCmdline=..." or given at boot; the others are
// reported as unknown, Linux's ignored.
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
// gVisor is set up by package image/gvisornet (its configuration is
// described there), as for any program built with the gvisor tag.
package main

import (
	"fmt"
	"os"

	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/kaidoku-net/kaidoku/image/config"
	"github.com/kaidoku-net/kaidoku/image/gvisornet"
	"github.com/kaidoku-net/kaidoku/image/netdev"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/unikernel"
)

// nicID is the gVisor NIC of the virtio-net device.
const nicID = gvisornet.NICID

// builtinCmdline holds kaidoku words set at build time (-ldflags -X), read
// before the boot line, as Linux's CONFIG_CMDLINE.
var builtinCmdline string

// image is what this image has beyond the common words.
var image = config.GVisorEcho

func main() {
	var sys *system
	u := unikernel.Start(unikernel.Options{
		Name:      "gvisor-echo",
		Image:     &image,
		Cmdline:   builtinCmdline,
		WaitReady: true,
		Ifindex:   int(nicID),
		Attach: func(u *unikernel.System) (func(*skb.Buffer), error) {
			var err error
			sys, err = attach(u)
			if err != nil {
				return nil, err
			}
			return sys.link.Deliver, nil
		},
	})
	cfg := u.Config
	startServices(cfg, sys)
	gw := "none"
	if cfg.Gateway.IsValid() {
		gw = cfg.Gateway.String()
	}
	fmt.Printf("gvisor-echo: gVisor netstack on kaidoku's virtio-net driver: %s via %s, %s\n", cfg.Addr, gw, servicesLine(cfg))
	unikernel.Ready()
	select {}
}

// system is what the services need to reach.
type system struct {
	dev    *netdev.Device
	link   *gvisornet.LinkEndpoint
	stack  *stack.Stack
	stamps *stampRing
	// trace is kaidoku.trace: off, the driver stamps nothing, no stamps
	// are matched and the latency section is absent.
	trace bool
}

// attach wires the link endpoint and the gVisor stack to the device the
// runtime opened (package unikernel), before frames flow.
func attach(u *unikernel.System) (*system, error) {
	cfg := u.Config
	sys := &system{dev: u.Device, stamps: newStampRing(cfg.Services["echo"].Port), trace: cfg.Trace}
	// The echo loop matches the driver's timestamps to its reads
	// (stamp.go).
	var observe func(frame []byte, t0, t1 int64)
	if sys.trace {
		observe = sys.stamps.observe
	}
	sys.link = gvisornet.NewLinkEndpoint(u.Device.Net, u.Device.Frames, observe)
	var err error
	sys.stack, err = gvisornet.NewStack(gvisornet.Config{Addr: cfg.Addr, Gateway: cfg.Gateway, Name: u.Device.Name()}, sys.link)
	if err != nil {
		return nil, err
	}
	return sys, nil
}

func servicesLine(cfg *config.Config) string {
	s := "services ["
	for _, name := range image.Services {
		if svc := cfg.Services[name]; svc.On {
			s += fmt.Sprintf(" %s:%d", name, svc.Port)
		}
	}
	return s + " ]"
}

func fatal(what string, err error) {
	fmt.Printf("gvisor-echo: %s: %v\n", what, err)
	os.Exit(1)
}
