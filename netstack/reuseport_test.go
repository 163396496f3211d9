package netstack

import (
	"sort"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// spread sends n datagrams to port from distinct source ports and
// returns how many each socket received.
func spread(t *testing.T, e *env, port uint16, n int, socks []*socket.Socket) []int {
	t.Helper()
	total := make([]int, len(socks))
	for i := 0; i < n; i++ {
		p := udpPkt(port, []byte("x"))
		p.sport = uint16(20000 + i)
		e.send(p)
		if i%50 == 49 || i == n-1 {
			for j, k := range readAll(t, socks) {
				total[j] += k
			}
		}
	}
	sum := 0
	for _, k := range total {
		sum += k
	}
	if sum != n {
		t.Fatalf("delivered %d of %d: %v", sum, n, total)
	}
	return total
}

// TestBindToDeviceLeavesReuseportGroup: SO_BINDTODEVICE rehashes the
// socket (sock_bindtoindex_locked → udp_v4_rehash), and udp_lib_rehash
// takes a socket out of its reuseport group even when its hash2 slot
// does not change. The first group member in the chain then answers for
// the port, so the device-bound socket gets nothing.
func TestBindToDeviceLeavesReuseportGroup(t *testing.T) {
	e := newEnv(t)
	a := e.bound(0, 7000, soReuseport)
	b := e.bound(0, 7000, soReuseport)
	c := e.bound(0, 7000, soReuseport)
	if err := a.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, "eth0"); err != nil {
		t.Fatal(err)
	}
	got := spread(t, e, 7000, 200, []*socket.Socket{a, b, c})
	if got[0] != 0 || got[1] == 0 || got[2] == 0 {
		t.Fatalf("A, B, C received %v; want A 0 and B, C sharing", got)
	}
	// Unbinding rehashes too; A stays out of the group.
	if err := a.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, ""); err != nil {
		t.Fatal(err)
	}
	if got := spread(t, e, 7000, 200, []*socket.Socket{a, b, c}); got[0] != 0 {
		t.Fatalf("after unbinding A received %d", got[0])
	}
}

// TestBindToDeviceUnprivileged: changing an existing binding needs
// CAP_NET_RAW (sock_bindtoindex_locked).
func TestBindToDeviceUnprivileged(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.udpConfig.Unprivileged = true })
	s := e.socket()
	if err := s.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, "lo"); err == nil {
		t.Fatal("rebinding without CAP_NET_RAW succeeded")
	}
}

// soIncomingCPU is SO_INCOMING_CPU (49 on x86_64).
const soIncomingCPU = 49

// TestIncomingCPUReuseportSelection: a reuseport group counts its members
// with sk_incoming_cpu >= 0 (reuseport_get_incoming_cpu, and
// reuseport_update_incoming_cpu for SO_INCOMING_CPU); while the count is
// non-zero reuseport_select_sock_by_hash prefers the members whose
// incoming CPU is the receiving one (kaidoku runs on CPU 0), falling
// back to the hash's first unconnected member.
func TestIncomingCPUReuseportSelection(t *testing.T) {
	setCPU := func(t *testing.T, s *socket.Socket, v int) {
		t.Helper()
		if err := s.SetsockoptInt(socket.SolSocket, soIncomingCPU, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		// setup returns the group (bound to 0.0.0.0:7000) and the
		// index of the member that must get everything (−1: spread).
		setup func(t *testing.T, e *env) ([]*socket.Socket, int)
	}{
		{"set before bind", func(t *testing.T, e *env) ([]*socket.Socket, int) {
			a := e.bound(0, 7000, soReuseport)
			b := e.socket()
			setCPU(t, b, 0)
			b.SetsockoptInt(socket.SolSocket, soReuseport, 1)
			if err := b.Bind(sa(0, 7000)); err != nil {
				t.Fatal(err)
			}
			c := e.bound(0, 7000, soReuseport)
			return []*socket.Socket{a, b, c}, 1
		}},
		{"set after bind", func(t *testing.T, e *env) ([]*socket.Socket, int) {
			g := []*socket.Socket{e.bound(0, 7000, soReuseport), e.bound(0, 7000, soReuseport), e.bound(0, 7000, soReuseport)}
			setCPU(t, g[0], 0)
			return g, 0
		}},
		{"set and cleared", func(t *testing.T, e *env) ([]*socket.Socket, int) {
			g := []*socket.Socket{e.bound(0, 7000, soReuseport), e.bound(0, 7000, soReuseport), e.bound(0, 7000, soReuseport)}
			setCPU(t, g[2], 0)
			setCPU(t, g[2], -1)
			return g, -1
		}},
		{"another CPU", func(t *testing.T, e *env) ([]*socket.Socket, int) {
			g := []*socket.Socket{e.bound(0, 7000, soReuseport), e.bound(0, 7000, soReuseport), e.bound(0, 7000, soReuseport)}
			setCPU(t, g[1], 1)
			return g, -1
		}},
		{"connected receive, then rebound", func(t *testing.T, e *env) ([]*socket.Socket, int) {
			g := []*socket.Socket{e.bound(0, 7000, soReuseport), e.bound(0, 7000, soReuseport)}
			d := e.socket()
			if err := d.Connect(sa(ipT, 9000)); err != nil {
				t.Fatal(err)
			}
			_, lport := sockOf(d).LocalAddr()
			p := udpPkt(lport, []byte("c"))
			p.sport = 9000
			e.send(p)
			mustRecv(t, d, []byte("c"))
			// __udp_disconnect keeps sk_incoming_cpu and releases the
			// auto-chosen port.
			if err := d.Connect(&socket.Sockaddr{Family: socket.AFUnspec}); err != nil {
				t.Fatal(err)
			}
			if v, err := d.GetsockoptInt(socket.SolSocket, soIncomingCPU); err != nil || v != 0 {
				t.Fatalf("SO_INCOMING_CPU after disconnect %d, %v", v, err)
			}
			d.SetsockoptInt(socket.SolSocket, soReuseport, 1)
			if err := d.Bind(sa(0, 7000)); err != nil {
				t.Fatal(err)
			}
			return append(g, d), 2
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			g, want := c.setup(t, e)
			got := spread(t, e, 7000, 200, g)
			for i, n := range got {
				if (want < 0 && n == 0) || (want >= 0 && (i == want) != (n == 200)) {
					t.Fatalf("received %v; want everything at %d (−1: every member some)", got, want)
				}
			}
		})
	}
}

// TestIncomingCPUOption: SO_INCOMING_CPU reads −1 until set, and takes
// any value.
func TestIncomingCPUOption(t *testing.T) {
	e := newEnv(t)
	s := e.socket()
	for _, set := range []int{-1, 0, 5, -7} {
		if set != -1 {
			if err := s.SetsockoptInt(socket.SolSocket, soIncomingCPU, set); err != nil {
				t.Fatal(err)
			}
		}
		if v, err := s.GetsockoptInt(socket.SolSocket, soIncomingCPU); err != nil || v != set {
			t.Fatalf("SO_INCOMING_CPU %d, %v; want %d", v, err, set)
		}
	}
}

// Checklist item 75: in an SO_REUSEPORT group of 4 one 4-tuple always reaches the same member, and
// 400 source ports reach every member.
func TestReuseportSameTupleSameMember(t *testing.T) {
	e := newEnv(t)
	var g []*socket.Socket
	for i := 0; i < 4; i++ {
		g = append(g, e.bound(0, 7000, soReuseport))
	}
	// One 4-tuple: always the same member.
	for i := 0; i < 20; i++ {
		p := udpPkt(7000, []byte("same"))
		p.sport = 5555
		e.send(p)
	}
	c := readAll(t, g)
	sort.Ints(c)
	if c[3] != 20 {
		t.Fatalf("one tuple spread over members: %v", c)
	}
}

// Checklist item 75: in an SO_REUSEPORT group of 4 one 4-tuple always reaches the same member, and
// 400 source ports reach every member.
func TestReuseportSpreadsOverMembers(t *testing.T) {
	e := newEnv(t)
	var g []*socket.Socket
	for i := 0; i < 4; i++ {
		g = append(g, e.bound(0, 7000, soReuseport))
	}
	total := make([]int, 4)
	for i := 0; i < 400; i++ {
		p := udpPkt(7000, []byte("spread"))
		p.sport = uint16(20000 + i)
		e.send(p)
		if i%100 == 99 {
			for j, n := range readAll(t, g) {
				total[j] += n
			}
		}
	}
	sum := 0
	for j, n := range total {
		if n == 0 {
			t.Fatalf("member %d received nothing: %v", j, total)
		}
		sum += n
	}
	if sum != 400 {
		t.Fatalf("delivered %d", sum)
	}
}

// Checklist item 76: a connected member of a reuseport group gets its peer; other 4-tuples are
// spread over the unconnected members only.
func TestReuseportWithConnectedMember(t *testing.T) {
	e := newEnv(t)
	var g []*socket.Socket
	for i := 0; i < 4; i++ {
		g = append(g, e.bound(ipM, 7000, soReuseport))
	}
	if err := g[1].Connect(sa(ipT, 9000)); err != nil {
		t.Fatal(err)
	}
	p := udpPkt(7000, []byte("conn"))
	p.sport = 9000
	for i := 0; i < 5; i++ {
		e.send(p)
	}
	if c := readAll(t, g); c[1] != 5 {
		t.Fatalf("connected member got %v", c)
	}
	total := make([]int, 4)
	for i := 0; i < 300; i++ {
		q := udpPkt(7000, []byte("other"))
		q.sport = uint16(30000 + i)
		e.send(q)
		if i%100 == 99 {
			for j, n := range readAll(t, g) {
				total[j] += n
			}
		}
	}
	if total[1] != 0 || total[0] == 0 || total[2] == 0 || total[3] == 0 {
		t.Fatalf("spread %v", total)
	}
}
