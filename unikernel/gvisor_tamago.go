//go:build tamago && gvisor

package unikernel

import (
	"fmt"
	"net"

	"github.com/kaidoku-net/kaidoku/image/gvisornet"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// Built with the gvisor tag, a program serves from gVisor's netstack on
// kaidoku's driver and NAPI (package image/gvisornet) instead of from
// kaidoku's stack, unless it brings its own Options.Attach: the
// benchmark's gVisor peer runs the very program the kaidoku image runs.
func init() { defaultAttach = attachGVisor }

// attachGVisor puts gVisor's stack on the device and points
// net.SocketFunc at it.
func attachGVisor(sys *System) (func(*skb.Buffer), error) {
	cfg := sys.Config
	link := gvisornet.NewLinkEndpoint(sys.Device.Net, sys.Device.Frames, nil)
	s, err := gvisornet.NewStack(gvisornet.Config{Addr: cfg.Addr, Gateway: cfg.Gateway, Name: sys.Device.Name()}, link)
	if err != nil {
		return nil, err
	}
	net.SocketFunc = gvisornet.SocketFunc(s)
	fmt.Println("unikernel: gvisor build: the program's sockets are gVisor's netstack on kaidoku's virtio-net driver")
	return link.Deliver, nil
}
