//go:build tamago

// Package gvisornet puts gVisor's netstack (gvisor.dev/gvisor/pkg/tcpip)
// on kaidoku's virtio-net driver and NAPI, in place of kaidoku's stack:
// the benchmark's gVisor peer. A LinkEndpoint carries frames between the
// driver and gVisor; NewStack builds the stack over it; SocketFunc serves
// the standard library's UDP sockets (TamaGo's net.SocketFunc) from it,
// so that any program runs on gVisor unchanged. Package unikernel does
// all three when a program is built with the gvisor tag:
//
//	kaidoku build -tags gvisor ./image/dns
//
// gVisor configuration: IPv4, ARP, UDP and ICMPv4 (echo requests are
// answered by gVisor's IPv4 protocol; the ICMP transport only makes the
// stack treat ICMP as a known protocol), one NIC with the address and a
// default route via the gateway, the stack's default options (its
// 212 KiB UDP receive buffer matches Linux's rmem_default) and no
// queueing discipline: the driver has its own transmit backlog, and
// gVisor's link/qdisc/fifo would add a goroutine hop per packet.
package gvisornet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// NICID is the gVisor NIC of the virtio-net device.
const NICID tcpip.NICID = 1

// Config is the interface's configuration.
type Config struct {
	// Addr is the interface's address and prefix.
	Addr netip.Prefix
	// Gateway is the default route's gateway; invalid: no default route.
	Gateway netip.Addr
	// Name is the NIC's name (the device's, e.g. eth0).
	Name string
}

// NewStack builds the gVisor stack: IPv4, ARP, UDP, ICMP, the NIC over
// link, its address, the subnet route and the default route.
func NewStack(cfg Config, link *LinkEndpoint) (*stack.Stack, error) {
	if !cfg.Addr.Addr().Is4() {
		return nil, fmt.Errorf("gVisor: address %v is not IPv4", cfg.Addr)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol, icmp.NewProtocol4},
	})
	if err := s.CreateNICWithOptions(NICID, link, stack.NICOptions{Name: cfg.Name}); err != nil {
		return nil, fmt.Errorf("gVisor CreateNIC: %s", err)
	}
	addr := tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(cfg.Addr.Addr().As4()), PrefixLen: cfg.Addr.Bits()}
	if err := s.AddProtocolAddress(NICID, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: addr}, stack.AddressProperties{}); err != nil {
		return nil, fmt.Errorf("gVisor AddProtocolAddress %s: %s", cfg.Addr, err)
	}
	routes := []tcpip.Route{{Destination: addr.Subnet(), NIC: NICID}}
	if cfg.Gateway.IsValid() {
		routes = append(routes, tcpip.Route{Destination: header.IPv4EmptySubnet, Gateway: tcpip.AddrFrom4(cfg.Gateway.As4()), NIC: NICID})
	}
	s.SetRouteTable(routes)
	return s, nil
}

// SocketFunc returns a function with the signature of TamaGo's
// net.SocketFunc hook serving UDP sockets from s (gVisor's gonet
// adapter): bound to laddr and connected to raddr when given. TCP and
// other types fail with EPROTONOSUPPORT: the stack has no TCP.
func SocketFunc(s *stack.Stack) func(ctx context.Context, network string, family, sotype int, laddr, raddr net.Addr) (interface{}, error) {
	return func(ctx context.Context, network string, family, sotype int, laddr, raddr net.Addr) (interface{}, error) {
		if sotype != syscall.SOCK_DGRAM {
			return nil, syscall.EPROTONOSUPPORT
		}
		if family != syscall.AF_INET && family != syscall.AF_INET6 {
			return nil, syscall.EAFNOSUPPORT
		}
		full := func(a net.Addr) (*tcpip.FullAddress, error) {
			if a == nil {
				return nil, nil
			}
			ua, ok := a.(*net.UDPAddr)
			if !ok {
				return nil, syscall.EAFNOSUPPORT
			}
			fa := &tcpip.FullAddress{Port: uint16(ua.Port)}
			if len(ua.IP) != 0 && !ua.IP.IsUnspecified() {
				v4 := ua.IP.To4()
				if v4 == nil {
					return nil, syscall.EAFNOSUPPORT
				}
				fa.Addr = tcpip.AddrFrom4Slice(v4)
			}
			return fa, nil
		}
		la, err := full(laddr)
		if err != nil {
			return nil, err
		}
		ra, err := full(raddr)
		if err != nil {
			return nil, err
		}
		if la == nil {
			// gonet binds an unbound socket to an ephemeral port when it
			// connects; a socket with neither address gets one here.
			la = &tcpip.FullAddress{}
		}
		return gonet.DialUDP(s, la, ra, ipv4.ProtocolNumber)
	}
}

// LinkCounters are the endpoint's own counters (the driver and gVisor
// keep theirs).
type LinkCounters struct {
	RxDelivered, RxShort, RxNoDispatcher     uint64
	TxFrames, TxNoFrame, TxTooBig, TxDropped uint64
}

// Counters returns the endpoint's counters.
func (e *LinkEndpoint) Counters() LinkCounters {
	return LinkCounters{
		RxDelivered: e.rxDelivered.Load(), RxShort: e.rxShort.Load(), RxNoDispatcher: e.rxNoDispatcher.Load(),
		TxFrames: e.txFrames.Load(), TxNoFrame: e.txNoFrame.Load(), TxTooBig: e.txTooBig.Load(), TxDropped: e.txDropped.Load(),
	}
}
