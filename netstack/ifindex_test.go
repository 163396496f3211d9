package netstack

import (
	"bytes"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// TestInterfaceIndexAndName runs a stack whose interface is not Linux's
// first Ethernet device (Config.Ifindex 7, Name "net0"): the driver's
// frames arrive on it whatever index the driver stamped, IP_PKTINFO,
// SO_BINDTODEVICE, IP_MULTICAST_IF, IP_ADD_MEMBERSHIP by index, the
// routes and the device statistics name it, and "eth0" and index 2 are
// devices that do not exist.
func TestInterfaceIndexAndName(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Ifindex, c.Name, c.Gateway = 7, "net0", [4]byte{10, 0, 0, 1} })
	if e.s.dev.Ifindex != 7 || e.s.dev.Name != "net0" {
		t.Fatalf("device %d %q", e.s.dev.Ifindex, e.s.dev.Name)
	}

	// Receive: a socket bound to net0 gets the driver's datagram, and
	// IP_PKTINFO reports index 7.
	srv := e.socket()
	if err := srv.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, "net0"); err != nil {
		t.Fatal(err)
	}
	if v, err := srv.GetsockoptInt(socket.SolSocket, socket.SoBindtodevice); v != 7 || err != nil {
		t.Fatalf("SO_BINDTODEVICE reads %d, %v", v, err)
	}
	if err := srv.SetsockoptInt(socket.SolIP, socket.IPPktinfo, 1); err != nil {
		t.Fatal(err)
	}
	if err := srv.Bind(sa(0, 7000)); err != nil {
		t.Fatal(err)
	}
	p := udpPkt(7000, []byte("in"))
	e.injectMod(p.frame(), func(b *skb.Buffer) { b.Ifindex = 2 })
	var m socket.Msghdr
	if _, err := srv.RecvMsg(make([]byte, 10), socket.MsgDontwait, &m); err != nil {
		t.Fatal(err)
	}
	if !m.HasPktinfo || m.Pktinfo.Ifindex != 7 || m.Pktinfo.SpecDst != ipM {
		t.Fatalf("pktinfo %+v", m.Pktinfo)
	}

	// The old defaults name no device.
	s := e.socket()
	if err := s.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, "eth0"); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("SO_BINDTODEVICE eth0: %v, want ENODEV", err)
	}
	if err := s.SetsockoptInt(socket.SolIP, socket.IPMulticastIf, 2); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("IP_MULTICAST_IF 2: %v, want EADDRNOTAVAIL", err)
	}
	if err := s.SetsockoptInt(socket.SolIP, socket.IPMulticastIf, 7); err != nil {
		t.Errorf("IP_MULTICAST_IF 7: %v", err)
	}
	group := wire.AddrOf(239, 1, 2, 3)
	if err := s.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, &socket.IPMreqn{Multiaddr: group.As4(), Ifindex: 7}); err != nil {
		t.Errorf("IP_ADD_MEMBERSHIP on 7: %v", err)
	}
	if err := s.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, &socket.IPMreqn{Multiaddr: group.As4(), Ifindex: 2}); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("IP_ADD_MEMBERSHIP on 2: %v, want ENODEV", err)
	}
	var joined bool
	e.s.withBH(func() { joined = e.s.ip.IsJoined(7, group) })
	if !joined {
		t.Error("group not joined on net0")
	}

	// Transmit: a socket bound to net0 routes through it, to the
	// gateway and on the link.
	if _, err := srv.SendTo([]byte("out"), 0, sa(wire.AddrOf(10, 0, 0, 9), 53)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SendTo([]byte("far"), 0, sa(wire.AddrOf(192, 0, 2, 1), 53)); err != nil {
		t.Fatal(err)
	}
	e.arpReply(wire.AddrOf(10, 0, 0, 9))
	e.arpReply(wire.AddrOf(10, 0, 0, 1))
	var got []string
	for _, f := range e.sent() {
		if wire.Eth(f).Type() == wire.EthPIP {
			got = append(got, string(f[42:]))
		}
	}
	if strings.Join(got, ",") != "out,far" {
		t.Errorf("transmitted %q, want out and far", got)
	}

	var b bytes.Buffer
	e.s.writeRoutes(&b)
	e.s.WriteDevStats(&b)
	for _, want := range []string{"default via 10.0.0.1 dev net0\n", "10.0.0.0/24 dev net0 ", "local 10.0.0.5 dev net0 ", "7: net0: mtu 1500"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
