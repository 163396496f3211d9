package netstack

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Socket lookup: compute_score, connected and device-bound sockets, connect/disconnect and close.

// Checklist item 71: a socket on our address beats a wildcard socket on the port, whatever the bind
// order.
func TestSpecificAddressWins(t *testing.T) {
	for _, order := range []string{"specific-first", "wildcard-first"} {
		t.Run(order, func(t *testing.T) {
			e := newEnv(t)
			var s1, s2 *socket.Socket
			if order == "specific-first" {
				s1 = e.bound(ipM, 7000, soReuseaddr)
				s2 = e.bound(0, 7000, soReuseaddr)
			} else {
				s2 = e.bound(0, 7000, soReuseaddr)
				s1 = e.bound(ipM, 7000, soReuseaddr)
			}
			e.send(udpPkt(7000, []byte("x")))
			mustRecv(t, s1, []byte("x"))
			mustEmpty(t, s2)
		})
	}
}

// Checklist item 72: of two SO_REUSEADDR wildcard sockets the most recently bound gets every
// datagram.
func TestMostRecentlyBoundWins(t *testing.T) {
	e := newEnv(t)
	s1 := e.bound(0, 7000, soReuseaddr)
	s2 := e.bound(0, 7000, soReuseaddr)
	for i := 0; i < 5; i++ {
		e.send(udpPkt(7000, []byte("x")))
		mustRecv(t, s2, []byte("x"))
	}
	mustEmpty(t, s1)
}

// Checklist item 73: a connected socket gets its peer's datagrams, an unconnected one the rest.
func TestConnectedSocketPreferred(t *testing.T) {
	e := newEnv(t)
	c := e.bound(0, 7000, soReuseaddr)
	if err := c.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	u := e.bound(0, 7000, soReuseaddr)
	p := udpPkt(7000, []byte("peer"))
	p.sport = 9000
	e.send(p)
	mustRecv(t, c, []byte("peer"))
	p.sport = 9001
	e.send(p)
	mustRecv(t, u, []byte("peer"))
	p.sport = 9000
	p.src = wire.AddrOf(10, 0, 0, 8)
	e.send(p)
	mustRecv(t, u, []byte("peer"))
	mustEmpty(t, c)
}

// Checklist item 74: only a connected socket: another peer's datagram counts Udp.NoPorts and gets a
// port unreachable.
func TestOnlyConnectedSocketOtherPeerNoPorts(t *testing.T) {
	e := newEnv(t)
	c := e.bound(0, 7000)
	if err := c.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	e.mark()
	p := udpPkt(7000, []byte("x"))
	p.sport = 9000
	p.src = wire.AddrOf(10, 0, 0, 8)
	e.send(p)
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Icmp.OutDestUnreachs": 1})
	ms := icmpsIn(e.sent())
	if len(ms) != 1 || ms[0].ip.Dst() != wire.AddrOf(10, 0, 0, 8) {
		t.Fatalf("%+v", ms)
	}
	mustEmpty(t, c)
}

// Checklist item 77: a socket bound to eth0 beats a wildcard one for datagrams arriving on eth0,
// whatever the bind order.
func TestBoundDeviceWins(t *testing.T) {
	for _, order := range []string{"dev-first", "dev-last"} {
		t.Run(order, func(t *testing.T) {
			e := newEnv(t)
			mk := func(dev bool) *socket.Socket {
				s := e.socket()
				s.SetsockoptInt(socket.SolSocket, soReuseaddr, 1)
				if dev {
					if err := s.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, "eth0"); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Bind(sa(0, 7000)); err != nil {
					t.Fatal(err)
				}
				return s
			}
			var d, o *socket.Socket
			if order == "dev-first" {
				d, o = mk(true), mk(false)
			} else {
				o, d = mk(false), mk(true)
			}
			e.send(udpPkt(7000, []byte("dev")))
			mustRecv(t, d, []byte("dev"))
			mustEmpty(t, o)
		})
	}
}

// Checklist item 78: the only socket bound to lo: a datagram on eth0 counts Udp.NoPorts and gets an
// ICMP.
func TestBoundToLoMissesEth0(t *testing.T) {
	e := newEnv(t)
	s := e.socket()
	if err := s.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, "lo"); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(sa(0, 7000)); err != nil {
		t.Fatal(err)
	}
	e.mark()
	e.send(udpPkt(7000, []byte("x")))
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Icmp.OutDestUnreachs": 1})
	if len(icmpsIn(e.sent())) != 1 {
		t.Fatal("no ICMP")
	}
}

// Checklist item 79: an explicitly bound socket that connects then disconnects receives from any
// peer again.
func TestDisconnectKeepsExplicitBind(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if err := s.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	p := udpPkt(7000, []byte("other"))
	p.src = wire.AddrOf(10, 0, 0, 8)
	e.send(p)
	mustEmpty(t, s)
	if err := s.Connect(&socket.Sockaddr{Family: socket.AFUnspec}); err != nil {
		t.Fatal(err)
	}
	e.send(p)
	mustRecv(t, s, []byte("other"))
}

// Checklist item 80: an autobound socket that disconnects releases its port: Udp.NoPorts.
func TestAutoboundDisconnectReleasesPort(t *testing.T) {
	e := newEnv(t)
	s := e.socket()
	if _, err := s.SendTo([]byte("hi"), 0, sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	e.sent()
	_, lport := sockOf(s).LocalAddr()
	if lport < 32768 {
		t.Fatalf("autobind port %d", lport)
	}
	if err := s.Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(&socket.Sockaddr{Family: socket.AFUnspec}); err != nil {
		t.Fatal(err)
	}
	e.mark()
	p := udpPkt(lport, []byte("x"))
	p.sport = 9000
	e.send(p)
	e.expect(map[string]int64{"Udp.NoPorts": 1})
}

// Checklist item 81: after close a datagram to the port counts Udp.NoPorts.
func TestClosedSocketNoPorts(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.Close()
	e.mark()
	e.send(udpPkt(7000, []byte("x")))
	e.expect(map[string]int64{"Udp.NoPorts": 1})
}
