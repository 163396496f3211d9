package netstack

import (
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// A client in the image reaches a server in the image on 127/8 and on
// the image's own address, through lo: nothing goes out on the wire, the
// reply comes back the same way, and IP and UDP count both datagrams as
// sent and received.
func TestLoopbackUnicast(t *testing.T) {
	for _, c := range []struct {
		name     string
		bind     wire.Addr // server address
		dst      wire.Addr
		wantFrom wire.Addr // the client's source address
	}{
		{"127.0.0.1", wire.AddrOf(127, 0, 0, 1), wire.AddrOf(127, 0, 0, 1), wire.AddrOf(127, 0, 0, 1)},
		{"127.1.2.3 to wildcard", 0, wire.AddrOf(127, 1, 2, 3), wire.AddrOf(127, 0, 0, 1)},
		{"own address", ipM, ipM, ipM},
		{"own address to wildcard", 0, ipM, ipM},
		{"0.0.0.0 means this host", 0, 0, wire.AddrOf(127, 0, 0, 1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			srv := e.bound(c.bind, 7000)
			cli := e.bound(0, 0)
			e.mark()
			if n, err := cli.SendTo([]byte("ping"), 0, sa(c.dst, 7000)); err != nil || n != 4 {
				t.Fatalf("send: %d %v", n, err)
			}
			got, from, err := recvNB(t, srv, 100)
			if err != nil || string(got) != "ping" {
				t.Fatalf("server got %q %v", got, err)
			}
			if wire.AddrFrom4(from.Addr) != c.wantFrom {
				t.Fatalf("from %v, want %v", wire.AddrFrom4(from.Addr), c.wantFrom)
			}
			if _, err := srv.SendTo([]byte("pong"), 0, &from); err != nil {
				t.Fatalf("reply: %v", err)
			}
			mustRecv(t, cli, []byte("pong"))
			e.mustSendNothing()
			e.expectOnly(map[string]int64{
				"Ip.OutRequests": 2, "Ip.OutTransmits": 2, "Ip.InReceives": 2, "Ip.InDelivers": 2,
				"Udp.OutDatagrams": 2, "Udp.InDatagrams": 2,
			})
		})
	}
}

// lo counts what it carries once, in counters that are both its rx and
// tx statistics (loopback_get_stats64), with the IP packet's length; the
// NIC counts nothing.
func TestLoopbackDeviceStats(t *testing.T) {
	e := newEnv(t)
	srv := e.bound(0, 7000)
	cli := e.bound(0, 0)
	lo := &e.s.lo().Stats
	nic := e.s.dev.Stats.TxPackets.Load() + e.s.dev.Stats.RxPackets.Load()
	for i := 0; i < 3; i++ {
		if _, err := cli.SendTo([]byte("12345"), 0, sa(wire.AddrOf(127, 0, 0, 1), 7000)); err != nil {
			t.Fatal(err)
		}
		mustRecv(t, srv, []byte("12345"))
	}
	const size = 20 + 8 + 5
	for name, v := range map[string]uint64{
		"rx_packets": lo.RxPackets.Load(), "tx_packets": lo.TxPackets.Load(),
		"rx_bytes": lo.RxBytes.Load() / size, "tx_bytes": lo.TxBytes.Load() / size,
	} {
		if v != 3 {
			t.Errorf("lo %s: %d units, want 3", name, v)
		}
	}
	if lo.RxBytes.Load() != 3*size {
		t.Errorf("lo rx_bytes %d, want %d", lo.RxBytes.Load(), 3*size)
	}
	if n := e.s.dev.Stats.TxPackets.Load() + e.s.dev.Stats.RxPackets.Load(); n != nic {
		t.Errorf("eth0 counted %d packets", n-nic)
	}
	if d := e.s.lo(); d.Ifindex != 1 || d.Name != "lo" || d.MTU != 65536 {
		t.Errorf("lo is %d %q mtu %d", d.Ifindex, d.Name, d.MTU)
	}
}

// A datagram to a closed local port draws a port unreachable, generated
// inside the receive path and looped back through the backlog in the same
// softirq run; the connected sender then sees ECONNREFUSED.
func TestLoopbackClosedPortRefused(t *testing.T) {
	e := newEnv(t)
	cli := e.bound(0, 0)
	if err := cli.Connect(sa(wire.AddrOf(127, 0, 0, 1), 9)); err != nil {
		t.Fatal(err)
	}
	e.mark()
	if _, err := cli.Send([]byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := recvNB(t, cli, 10); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("recv: %v, want ECONNREFUSED", err)
	}
	e.expect(map[string]int64{
		"Udp.NoPorts": 1, "Icmp.OutDestUnreachs": 1, "Icmp.InDestUnreachs": 1,
		"Ip.OutRequests": 2, "Ip.InReceives": 2, "Ip.InDelivers": 2,
	})
	if e.s.net.BacklogLen() != 0 {
		t.Fatal("backlog not drained")
	}
}

// A datagram a 64 KiB lo carries whole: no fragmentation, one buffer.
func TestLoopbackLargeDatagramUnfragmented(t *testing.T) {
	e := newEnv(t)
	srv := e.bound(0, 7000)
	cli := e.bound(0, 0)
	data := bigPayload(60000)
	e.mark()
	if n, err := cli.SendTo(data, 0, sa(wire.AddrOf(127, 0, 0, 1), 7000)); err != nil || n != len(data) {
		t.Fatal(n, err)
	}
	mustRecv(t, srv, data)
	e.expect(map[string]int64{"Ip.FragCreates": 0, "Ip.ReasmReqds": 0, "Ip.OutTransmits": 1, "Udp.InDatagrams": 1})
}

// Routes are taken from the configured interface index and name, and the
// socket options that name devices look them up in the same table as
// Linux's dev_get_by_index and dev_get_by_name: lo is index 1, the NIC
// what Config says.
func TestConfiguredIfindexAndName(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Ifindex, c.Name = 7, "net0" })
	s := e.socket()
	if err := s.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, "eth0"); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("bind to eth0: %v, want ENODEV", err)
	}
	if err := s.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, "net0"); err != nil {
		t.Fatalf("bind to net0: %v", err)
	}
	if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoBindtodevice); v != 7 {
		t.Fatalf("SO_BINDTODEVICE reads %d", v)
	}
	if err := s.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, &socket.IPMreqn{Multiaddr: [4]byte{239, 1, 1, 1}, Ifindex: 2}); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("join on index 2: %v, want ENODEV", err)
	}
	if err := s.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, &socket.IPMreqn{Multiaddr: [4]byte{239, 1, 1, 1}, Ifindex: 7}); err != nil {
		t.Fatalf("join on index 7: %v", err)
	}
	if err := s.SetsockoptInt(socket.SolIP, socket.IPMulticastIf, 2); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("IP_MULTICAST_IF 2: %v, want EADDRNOTAVAIL", err)
	}
	if err := s.SetsockoptInt(socket.SolIP, socket.IPMulticastIf, 7); err != nil {
		t.Fatalf("IP_MULTICAST_IF 7: %v", err)
	}
	if err := s.Bind(sa(0, 7000)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetsockoptInt(socket.SolIP, socket.IPPktinfo, 1); err != nil {
		t.Fatal(err)
	}
	e.send(udpPkt(7000, []byte("dev")))
	var m socket.Msghdr
	buf := make([]byte, 10)
	if _, err := s.RecvMsg(buf, socket.MsgDontwait, &m); err != nil {
		t.Fatal(err)
	}
	if !m.HasPktinfo || m.Pktinfo.Ifindex != 7 {
		t.Fatalf("pktinfo %+v", m.Pktinfo)
	}
	var out strings.Builder
	e.s.writeRoutes(&out)
	if !strings.Contains(out.String(), "10.0.0.0/24 dev net0 proto kernel scope link src 10.0.0.5") {
		t.Fatalf("routes:\n%s", out.String())
	}
	for _, c := range []Config{{Ifindex: 1}, {Name: "lo"}} {
		cfg := Config{Link: e.link, FramePool: e.frames, Ifindex: c.Ifindex, Name: c.Name}
		if _, err := New(cfg); err == nil {
			t.Errorf("New with ifindex %d name %q: no error for lo's index or name", c.Ifindex, c.Name)
		}
	}
}

// The routing tables are Linux's for 127.0.0.1/8 on lo and 10.0.0.5/24
// on eth0 with a default route (`ip route show table all`, main and
// local tables).
func TestRoutingTables(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Gateway = wire.AddrOf(10, 0, 0, 1).As4() })
	var out strings.Builder
	if err := e.s.writeRoutes(&out); err != nil {
		t.Fatal(err)
	}
	want := `default via 10.0.0.1 dev eth0
10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.5
local 10.0.0.5 dev eth0 table local proto kernel scope host src 10.0.0.5
broadcast 10.0.0.255 dev eth0 table local proto kernel scope link src 10.0.0.5
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1
broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1
`
	if out.String() != want {
		t.Fatalf("routes:\n%s\nwant:\n%s", out.String(), want)
	}
}

// A socket bound to a device receives what the host sends itself through
// that device's routes: to the NIC's address the route's interface is
// eth0 (rt_iif), so an eth0-bound socket gets it and IP_PKTINFO says
// eth0; to 127.0.0.1 it is lo. SO_BINDTODEVICE "lo" works.
func TestLoopbackBoundDeviceAndPktinfo(t *testing.T) {
	for _, c := range []struct {
		dev     string
		dst     wire.Addr
		ifindex int
	}{
		{"eth0", ipM, 2},
		{"lo", wire.AddrOf(127, 0, 0, 1), 1},
	} {
		t.Run(c.dev, func(t *testing.T) {
			e := newEnv(t)
			srv := e.socket()
			if err := srv.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, c.dev); err != nil {
				t.Fatal(err)
			}
			if err := srv.SetsockoptInt(socket.SolIP, socket.IPPktinfo, 1); err != nil {
				t.Fatal(err)
			}
			if err := srv.Bind(sa(0, 7000)); err != nil {
				t.Fatal(err)
			}
			cli := e.bound(0, 0)
			if _, err := cli.SendTo([]byte("d"), 0, sa(c.dst, 7000)); err != nil {
				t.Fatal(err)
			}
			var m socket.Msghdr
			buf := make([]byte, 10)
			if _, err := srv.RecvMsg(buf, socket.MsgDontwait, &m); err != nil {
				t.Fatal(err)
			}
			if !m.HasPktinfo || m.Pktinfo.Ifindex != c.ifindex || m.Pktinfo.SpecDst != c.dst || m.Pktinfo.Addr != c.dst {
				t.Fatalf("pktinfo %+v", m.Pktinfo)
			}
		})
	}
}

// Senders on several goroutines loop datagrams back while frames arrive
// from the driver's goroutine and a reader drains the server: every
// looped datagram is either delivered or counted as a receive-buffer
// drop, nothing deadlocks, and no buffer leaks (checked at cleanup).
func TestLoopbackConcurrentSenders(t *testing.T) {
	e := newEnv(t)
	srv := e.bound(wire.AddrOf(127, 0, 0, 1), 7000)
	wild := e.bound(0, 7001)
	const senders, each = 4, 100
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		cli := e.bound(0, 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				if _, err := cli.SendTo([]byte("c"), 0, sa(wire.AddrOf(127, 0, 0, 1), 7000)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for j := 0; j < each; j++ {
			e.send(udpPkt(7001, []byte("w")))
		}
	}()
	got := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		for {
			if _, _, err := recvNB(t, srv, 10); err != nil {
				break
			}
			got++
		}
		for {
			if _, _, err := recvNB(t, wild, 10); err != nil {
				break
			}
			got++
		}
	}
	const total = senders*each + each
	if in, drops := e.delta("Udp.InDatagrams"), e.delta("Udp.RcvbufErrors"); in != int64(got) || in+drops != total {
		t.Fatalf("received %d, Udp.InDatagrams %d, Udp.RcvbufErrors %d, of %d", got, in, drops, total)
	}
	if e.s.net.BacklogLen() != 0 {
		t.Fatal("backlog not drained")
	}
}
