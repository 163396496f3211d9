package udp

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

func TestComputeScore(t *testing.T) {
	saddr, daddr := wire.AddrOf(10, 0, 0, 9), wire.AddrOf(10, 0, 0, 5)
	const sport, hnum = 9000, 7000
	base := func() *Sock { return &Sock{portHash: hnum, rcvSaddr: 0, incomingCPU: -1} }
	for _, c := range []struct {
		name  string
		mod   func(*Sock)
		match wire.Addr
		dif   int
		want  int
	}{
		{"wildcard", func(*Sock) {}, 0, 2, 2},
		{"other port", func(s *Sock) { s.portHash = 1 }, 0, 2, -1},
		{"address mismatch", func(s *Sock) { s.rcvSaddr = daddr }, 0, 2, -1},
		{"specific address", func(s *Sock) { s.rcvSaddr = daddr }, daddr, 2, 2},
		{"connected addr", func(s *Sock) { s.daddr = saddr }, 0, 2, 6},
		{"connected addr mismatch", func(s *Sock) { s.daddr = wire.AddrOf(1, 2, 3, 4) }, 0, 2, -1},
		{"connected port", func(s *Sock) { s.dport = sport }, 0, 2, 6},
		{"connected port mismatch", func(s *Sock) { s.dport = 1 }, 0, 2, -1},
		{"connected both", func(s *Sock) { s.daddr, s.dport = saddr, sport }, 0, 2, 10},
		{"bound device", func(s *Sock) { s.boundDevIf = 2 }, 0, 2, 6},
		{"bound other device", func(s *Sock) { s.boundDevIf = 1 }, 0, 2, -1},
		{"incoming cpu", func(s *Sock) { s.incomingCPU = 0 }, 0, 2, 3},
		{"all", func(s *Sock) { s.daddr, s.dport, s.boundDevIf, s.incomingCPU = saddr, sport, 2, 0 }, 0, 2, 15},
	} {
		sk := base()
		c.mod(sk)
		if got := computeScore(sk, saddr, sport, c.match, hnum, c.dif, 0); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestLookup2TieGoesToChainHead(t *testing.T) {
	u := &UDP{}
	a := &Sock{portHash: 7000, incomingCPU: -1}
	b := &Sock{portHash: 7000, incomingCPU: -1}
	var slot hslot2
	hlistAddHead2(&slot, a)
	hlistAddHead2(&slot, b) // b is the most recently hashed: chain head
	if got := u.udp4LibLookup2(1, 2, 0, 7000, 2, 0, &slot); got != b {
		t.Fatal("tie did not go to the chain head")
	}
	a.incomingCPU = 0 // a now scores 3 > 2
	if got := u.udp4LibLookup2(1, 2, 0, 7000, 2, 0, &slot); got != a {
		t.Fatal("higher score lost")
	}
}

func TestReuseportSelectByHash(t *testing.T) {
	mk := func(n int) (*reuseportGroup, []*Sock) {
		g := &reuseportGroup{}
		var s []*Sock
		for i := 0; i < n; i++ {
			sk := &Sock{state: StateClose, incomingCPU: -1}
			s = append(s, sk)
			g.socks = append(g.socks, sk)
		}
		return g, s
	}
	g, s := mk(4)
	// reciprocal_scale(h, 4) picks index h>>30.
	for i := 0; i < 4; i++ {
		if got := reuseportSelectSockByHash(g, uint32(i)<<30|12345); got != s[i] {
			t.Fatalf("hash to %d picked another member", i)
		}
	}
	s[2].state = StateEstablished
	if got := reuseportSelectSockByHash(g, 2<<30); got != s[3] {
		t.Fatal("connected member not skipped forward")
	}
	s[3].state = StateEstablished
	if got := reuseportSelectSockByHash(g, 2<<30); got != s[0] {
		t.Fatal("walk did not wrap")
	}
	for _, x := range s {
		x.state = StateEstablished
	}
	if reuseportSelectSockByHash(g, 0) != nil {
		t.Fatal("all connected should select nothing")
	}
	// Removal moves the last member into the hole.
	g2, t2 := mk(4)
	for _, x := range t2 {
		x.reuseportCb = g2
	}
	reuseportDetachSock(t2[1])
	if len(g2.socks) != 3 || g2.socks[1] != t2[3] || g2.socks[2] != t2[2] {
		t.Fatal("detach order")
	}
}

func TestReuseportSpreadUniform(t *testing.T) {
	u := &UDP{hashMix: 0x1234567, ehash: 0x89abcdef}
	g := &reuseportGroup{}
	for i := 0; i < 4; i++ {
		g.socks = append(g.socks, &Sock{state: StateClose, incomingCPU: -1})
	}
	count := map[*Sock]int{}
	for p := 0; p < 4000; p++ {
		h := u.udpEhashfn(wire.AddrOf(10, 0, 0, 5), 7000, wire.AddrOf(10, 0, 0, 9), uint16(20000+p))
		count[reuseportSelectSockByHash(g, h)]++
	}
	for _, sk := range g.socks {
		if n := count[sk]; n < 800 || n > 1200 {
			t.Fatalf("member got %d of 4000", n)
		}
	}
}

func TestSetRcvbuf(t *testing.T) {
	u := &UDP{}
	for _, c := range []struct {
		v     int32
		force bool
		want  int32
		priv  bool
	}{
		{1000, false, 2304, true}, {0, false, 2304, true}, {100000, false, 200000, true},
		{1000000, false, 425984, true}, {-1, false, 425984, true},
		{1000000, true, 2000000, true}, {-1, true, 2304, true}, {1 << 30, true, 1<<31 - 2, true},
	} {
		sk := &Sock{u: u}
		if rc := sk.SetRcvbuf(c.v, c.force); rc != 0 {
			t.Fatalf("%d: rc %d", c.v, rc)
		}
		if got := sk.rcvbuf.Load(); got != c.want || sk.forwardThreshold.Load() != got>>2 {
			t.Errorf("SO_RCVBUF%s %d -> %d, want %d", map[bool]string{true: "FORCE"}[c.force], c.v, got, c.want)
		}
	}
	u.cfg.Unprivileged = true
	if rc := (&Sock{u: u}).SetRcvbuf(1, true); rc != -EPERM {
		t.Fatalf("unprivileged RCVBUFFORCE: %d", rc)
	}
}

// udp4_lib_lookup2 with an SO_REUSEPORT group that has a connected
// member: the group's pick for an unconnected member does not end the
// scan (reuseport_has_conns), so the connected member later in the
// chain still wins for its peer, and every other 4-tuple goes to an
// unconnected member.
func TestLookup2ReuseportWithConnectedMember(t *testing.T) {
	u := &UDP{hashMix: 0x1234567, ehash: 0x89abcdef}
	peer := wire.AddrOf(10, 0, 0, 9)
	mk := func() *Sock { return &Sock{portHash: 7000, state: StateClose, incomingCPU: -1, reuseport: true} }
	conn, a, b := mk(), mk(), mk()
	conn.daddr, conn.dport, conn.state = peer, 9000, StateEstablished
	reuseportAlloc(conn)
	reuseportAddSock(a, conn)
	reuseportAddSock(b, conn)
	conn.reuseportCb.hasConns = true
	var slot hslot2
	for _, sk := range []*Sock{conn, a, b} {
		hlistAddHead2(&slot, sk) // chain: b, a, conn
	}
	for _, c := range []struct {
		name  string
		saddr wire.Addr
		sport uint16
		conn  bool
	}{
		{"the connected peer", peer, 9000, true},
		{"the peer, another port", peer, 9001, false},
		{"another host, same port", wire.AddrOf(10, 0, 0, 8), 9000, false},
	} {
		for i := 0; i < 50; i++ {
			sport := c.sport
			saddr := c.saddr + wire.Addr(i<<8) // vary the hash, not the match
			if c.conn {
				saddr = c.saddr
			}
			got := u.udp4LibLookup2(saddr, sport, 0, 7000, 2, 0, &slot)
			if (got == conn) != c.conn || got == nil {
				t.Fatalf("%s (%v): got the connected member %v", c.name, saddr, got == conn)
			}
		}
	}
}
