package netstack

import (
	"errors"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

var group = wire.AddrOf(239, 1, 1, 1)

func mreq(g, addr wire.Addr, ifindex int) *socket.IPMreqn {
	return &socket.IPMreqn{Multiaddr: g.As4(), Address: addr.As4(), Ifindex: ifindex}
}

// A multicast send to a group a local socket joined on the output device
// is looped back to it (ip_mc_output) unless IP_MULTICAST_LOOP is off,
// and still goes out on the wire unless its TTL is 0; a group nobody
// joined is not looped back.
func TestMulticastLoop(t *testing.T) {
	for _, c := range []struct {
		name     string
		join     bool
		loop     int // IP_MULTICAST_LOOP to set; -1 leaves the default
		ttl      int // IP_MULTICAST_TTL to set; -1 leaves the default
		wantLoop bool
		wantWire bool
	}{
		{"default loops", true, -1, -1, true, true},
		{"loop on", true, 1, -1, true, true},
		{"loop off", true, 0, -1, false, true},
		{"not joined", false, -1, -1, false, true},
		{"ttl 0 stays in the host", true, -1, 0, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			rcv := e.bound(0, 7000)
			if c.join {
				if err := rcv.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, mreq(group, ipM, 0)); err != nil {
					t.Fatal(err)
				}
			}
			snd := e.bound(0, 0)
			if err := snd.SetsockoptInt(socket.SolIP, socket.IPMulticastIf, 2); err != nil {
				t.Fatal(err)
			}
			if v, err := snd.GetsockoptInt(socket.SolIP, socket.IPMulticastLoop); err != nil || v != 1 {
				t.Fatalf("IP_MULTICAST_LOOP reads %d %v, want 1", v, err)
			}
			if c.loop >= 0 {
				if err := snd.SetsockoptInt(socket.SolIP, socket.IPMulticastLoop, c.loop); err != nil {
					t.Fatal(err)
				}
				if v, _ := snd.GetsockoptInt(socket.SolIP, socket.IPMulticastLoop); v != c.loop {
					t.Fatalf("IP_MULTICAST_LOOP reads %d", v)
				}
			}
			if c.ttl >= 0 {
				if err := snd.SetsockoptInt(socket.SolIP, socket.IPMulticastTTL, c.ttl); err != nil {
					t.Fatal(err)
				}
			}
			e.mark()
			if _, err := snd.SendTo([]byte("mc"), 0, sa(group, 7000)); err != nil {
				t.Fatal(err)
			}
			if c.wantLoop {
				mustRecv(t, rcv, []byte("mc"))
			} else {
				mustEmpty(t, rcv)
			}
			fs := e.sent()
			if (len(fs) == 1) != c.wantWire || len(fs) > 1 {
				t.Fatalf("%d frames on the wire", len(fs))
			}
			if c.wantWire && wire.Eth(fs[0]).Dst() != wire.MulticastMAC(group) {
				t.Fatalf("sent to %v", wire.Eth(fs[0]).Dst())
			}
			in := int64(0)
			if c.wantLoop {
				in = 1
			}
			out := int64(0)
			if c.wantWire {
				out = 1
			}
			e.expect(map[string]int64{
				"Ip.OutRequests": 1, "IpExt.OutMcastPkts": out, "Ip.OutTransmits": out,
				"Ip.InReceives": in, "IpExt.InMcastPkts": in, "Ip.InDelivers": in, "Udp.InDatagrams": in,
			})
		})
	}
}

// A large multicast is looped back whole, as ip_mc_output clones it
// before ip_finish_output fragments it for the wire.
func TestMulticastLoopBeforeFragmentation(t *testing.T) {
	e := newEnv(t)
	rcv := e.bound(0, 7000)
	if err := rcv.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, mreq(group, ipM, 0)); err != nil {
		t.Fatal(err)
	}
	snd := e.bound(ipM, 0) // a local source picks the device (__ip_dev_find)
	data := bigPayload(3000)
	e.mark()
	if _, err := snd.SendTo(data, 0, sa(group, 7000)); err != nil {
		t.Fatal(err)
	}
	mustRecv(t, rcv, data)
	if fs := e.sent(); len(fs) != 3 {
		t.Fatalf("%d fragments on the wire", len(fs))
	}
	e.expect(map[string]int64{"Ip.FragCreates": 3, "Ip.ReasmReqds": 0, "Ip.InReceives": 1, "Udp.InDatagrams": 1})
}

// Broadcasts (SO_BROADCAST) to the subnet broadcast, to 255.255.255.255
// through a bound device, and to lo's 127.255.255.255 reach local sockets
// too (ip_mc_output's RTCF_BROADCAST branch, or lo itself).
func TestBroadcastLoop(t *testing.T) {
	for _, c := range []struct {
		name     string
		dst      wire.Addr
		dev      string
		gateway  bool
		wantWire bool
	}{
		{"subnet broadcast", ipBcst, "", false, true},
		{"limited broadcast on eth0", wire.AddrOf(255, 255, 255, 255), "eth0", false, true},
		{"limited broadcast by the default route", wire.AddrOf(255, 255, 255, 255), "", true, true},
		{"lo broadcast", wire.AddrOf(127, 255, 255, 255), "", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var opts []envOpt
			if c.gateway {
				opts = append(opts, func(cfg *Config) { cfg.Gateway = wire.AddrOf(10, 0, 0, 1).As4() })
			}
			e := newEnv(t, opts...)
			rcv := e.bound(0, 7000)
			snd := e.bound(0, 0, socket.SoBroadcast)
			if c.dev != "" {
				if err := snd.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, c.dev); err != nil {
					t.Fatal(err)
				}
			}
			e.mark()
			if _, err := snd.SendTo([]byte("b"), 0, sa(c.dst, 7000)); err != nil {
				t.Fatal(err)
			}
			mustRecv(t, rcv, []byte("b"))
			fs := e.sent()
			if (len(fs) == 1) != c.wantWire || len(fs) > 1 {
				t.Fatalf("%d frames on the wire", len(fs))
			}
			if c.wantWire && wire.Eth(fs[0]).Dst() != wire.BroadcastMAC {
				t.Fatalf("sent to %v", wire.Eth(fs[0]).Dst())
			}
			e.expect(map[string]int64{"IpExt.InBcastPkts": 1, "IpExt.OutBcastPkts": 1, "Udp.InDatagrams": 1})
		})
	}
}

// IP_ADD_MEMBERSHIP finds its device as ip_mc_find_dev does: the index,
// else the device that has imr_address, else the route to the group;
// with no route (no default route here) it is ENODEV. 127.0.0.1 and
// index 1 join on lo.
func TestAddMembershipDevice(t *testing.T) {
	for _, c := range []struct {
		name    string
		gateway bool
		addr    wire.Addr
		ifindex int
		err     error
		dev     int // device the group is joined on
	}{
		{"any, no route", false, 0, 0, syscall.ENODEV, 0},
		{"any, default route", true, 0, 0, nil, 2},
		{"own address", false, ipM, 0, nil, 2},
		{"127.0.0.1", false, wire.AddrOf(127, 0, 0, 1), 0, nil, 1},
		{"127.0.0.2 (lo's subnet)", false, wire.AddrOf(127, 0, 0, 2), 0, nil, 1},
		{"ifindex 1", false, 0, 1, nil, 1},
		{"ifindex 2", false, 0, 2, nil, 2},
		{"unknown ifindex", false, 0, 9, syscall.ENODEV, 0},
		{"foreign address", false, ipT, 0, syscall.ENODEV, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var opts []envOpt
			if c.gateway {
				opts = append(opts, func(cfg *Config) { cfg.Gateway = wire.AddrOf(10, 0, 0, 1).As4() })
			}
			e := newEnv(t, opts...)
			s := e.bound(0, 7000)
			err := s.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, mreq(group, c.addr, c.ifindex))
			if !errors.Is(err, c.err) || (err != nil) != (c.err != nil) {
				t.Fatalf("join: %v, want %v", err, c.err)
			}
			for _, idx := range []int{1, 2} {
				var joined bool
				e.s.withBH(func() { joined = e.s.ip.IsJoined(idx, group) })
				if joined != (idx == c.dev) {
					t.Errorf("joined on %d: %v", idx, joined)
				}
			}
			// A datagram to the group arriving on eth0 reaches the
			// socket only if it joined there.
			p := udpPktTo(group, 7000, []byte("g"))
			e.send(p)
			if c.dev == 2 {
				mustRecv(t, s, []byte("g"))
			} else {
				mustEmpty(t, s)
			}
		})
	}
}

// IP_DROP_MEMBERSHIP finds the device the same way; with neither index
// nor address and no device found it is ENODEV (ip_mc_leave_group).
func TestDropMembershipDevice(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if err := s.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, mreq(group, ipM, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetsockoptIPMreqn(socket.SolIP, socket.IPDropMembership, mreq(group, 0, 0)); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("drop with no device: %v, want ENODEV", err)
	}
	if err := s.SetsockoptIPMreqn(socket.SolIP, socket.IPDropMembership, mreq(group, 0, 1)); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("drop on lo: %v, want EADDRNOTAVAIL", err)
	}
	if err := s.SetsockoptIPMreqn(socket.SolIP, socket.IPDropMembership, mreq(group, ipM, 0)); err != nil {
		t.Fatalf("drop: %v", err)
	}
	var joined bool
	e.s.withBH(func() { joined = e.s.ip.IsJoined(2, group) })
	if joined {
		t.Fatal("still joined on eth0")
	}
}

// A group joined on lo is reached by a multicast sent through lo
// (IP_MULTICAST_IF 1, or a socket bound to 127.0.0.1): nothing goes out
// on the wire.
func TestMulticastThroughLo(t *testing.T) {
	e := newEnv(t)
	rcv := e.bound(0, 7000)
	if err := rcv.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, mreq(group, 0, 1)); err != nil {
		t.Fatal(err)
	}
	viaIf := e.bound(0, 0)
	if err := viaIf.SetsockoptInt(socket.SolIP, socket.IPMulticastIf, 1); err != nil {
		t.Fatal(err)
	}
	viaSrc := e.bound(wire.AddrOf(127, 0, 0, 1), 0)
	for _, s := range []*socket.Socket{viaIf, viaSrc} {
		if _, err := s.SendTo([]byte("lo"), 0, sa(group, 7000)); err != nil {
			t.Fatal(err)
		}
		mustRecv(t, rcv, []byte("lo"))
	}
	e.mustSendNothing()
}

// A multicast sent through lo to a group lo has not joined crosses lo and
// is discarded on the way in (its route is not local: dst_discard).
func TestMulticastThroughLoNotJoined(t *testing.T) {
	e := newEnv(t)
	rcv := e.bound(0, 7000)
	if err := rcv.SetsockoptIPMreqn(socket.SolIP, socket.IPAddMembership, mreq(group, ipM, 0)); err != nil {
		t.Fatal(err)
	}
	snd := e.bound(0, 0)
	if err := snd.SetsockoptInt(socket.SolIP, socket.IPMulticastIf, 1); err != nil {
		t.Fatal(err)
	}
	e.mark()
	if _, err := snd.SendTo([]byte("x"), 0, sa(group, 7000)); err != nil {
		t.Fatal(err)
	}
	mustEmpty(t, rcv)
	e.mustSendNothing()
	e.expectOnly(map[string]int64{
		"Ip.OutRequests": 1, "Ip.OutTransmits": 1, "IpExt.OutMcastPkts": 1,
		"Ip.InReceives": 1, "IpExt.InMcastPkts": 1, "Udp.OutDatagrams": 1,
	})
	if d := e.delta("Drop.NOT_SPECIFIED"); d != 1 {
		t.Fatalf("Drop.NOT_SPECIFIED %+d", d)
	}
}

// Checklist item 39: a datagram to 224.0.0.1 reaches a wildcard socket; IpExt.InMcastPkts.
func TestAllHostsMulticastDelivered(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.mark()
	p := udpPktTo(wire.AddrOf(224, 0, 0, 1), 7000, []byte("mc"))
	e.send(p)
	mustRecv(t, s, []byte("mc"))
	e.expect(map[string]int64{"IpExt.InMcastPkts": 1})
}

// Checklist item 40: a datagram to a group no socket joined: dropped, only Ip.InReceives, not
// Udp.IgnoredMulti.
func TestUnjoinedGroupSilentlyDropped(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7000)
	e.mark()
	p := udpPktTo(wire.AddrOf(239, 1, 1, 1), 7000, []byte("mc"))
	e.send(p)
	e.expectOnly(map[string]int64{"Ip.InReceives": 1})
}

// Checklist item 41: with IP_MULTICAST_ALL (default 1) a group datagram reaches both the joined and
// the unjoined socket on the port.
func TestMulticastAllDeliversToUnjoined(t *testing.T) {
	e := newEnv(t)
	a := e.bound(0, 7000, soReuseaddr)
	b := e.bound(0, 7000, soReuseaddr)
	join(t, a, wire.AddrOf(239, 1, 1, 1))
	p := udpPktTo(wire.AddrOf(239, 1, 1, 1), 7000, []byte("g"))
	e.send(p)
	mustRecv(t, a, []byte("g"))
	mustRecv(t, b, []byte("g"))
}

// Checklist item 42: with IP_MULTICAST_ALL 0 on the unjoined socket only the joined one receives.
func TestMulticastAllOffOnlyJoined(t *testing.T) {
	e := newEnv(t)
	a := e.bound(0, 7000, soReuseaddr)
	b := e.bound(0, 7000, soReuseaddr)
	join(t, a, wire.AddrOf(239, 1, 1, 1))
	if err := b.SetsockoptInt(socket.SolIP, socket.IPMulticastAll, 0); err != nil {
		t.Fatal(err)
	}
	p := udpPktTo(wire.AddrOf(239, 1, 1, 1), 7000, []byte("g"))
	e.send(p)
	mustRecv(t, a, []byte("g"))
	mustEmpty(t, b)
}

// Checklist item 43: a joined group but no socket on the port: Udp.IgnoredMulti, no ICMP.
func TestJoinedGroupNoSocketIgnoredMulti(t *testing.T) {
	e := newEnv(t)
	a := e.bound(0, 7000)
	join(t, a, wire.AddrOf(239, 1, 1, 1))
	e.mark()
	p := udpPktTo(wire.AddrOf(239, 1, 1, 1), 7001, []byte("g"))
	e.send(p)
	e.expect(map[string]int64{"Udp.IgnoredMulti": 1, "Icmp.OutMsgs": 0, "Udp.NoPorts": 0})
}
