package netstack

import (
	"errors"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// bind(2): conflicts, SO_REUSEADDR, SO_REUSEPORT, ephemeral ports and IP_FREEBIND.

// Checklist item 82: a second wildcard bind of a port without options: EADDRINUSE.
func TestDoubleWildcardBindEADDRINUSE(t *testing.T) {
	e := newEnv(t)
	if err := bindErr(e, 0, 7000); err != nil {
		t.Fatal(err)
	}
	if err := bindErr(e, 0, 7000); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("got %v", err)
	}
}

// Checklist item 83: wildcard and specific binds of a port conflict in either order: EADDRINUSE.
func TestWildcardAndSpecificConflict(t *testing.T) {
	for _, order := range [][2]wire.Addr{{0, ipM}, {ipM, 0}} {
		e := newEnv(t)
		if err := bindErr(e, order[0], 7000); err != nil {
			t.Fatal(err)
		}
		if err := bindErr(e, order[1], 7000); !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("%v then %v: %v", order[0], order[1], err)
		}
	}
}

// Checklist item 84: with SO_REUSEADDR on both, items 82 and 83 succeed.
func TestReuseaddrAllowsBoth(t *testing.T) {
	e := newEnv(t)
	if bindErr(e, 0, 7000, soReuseaddr) != nil || bindErr(e, 0, 7000, soReuseaddr) != nil {
		t.Fatal("82 with SO_REUSEADDR failed")
	}
	if bindErr(e, 0, 7001, soReuseaddr) != nil || bindErr(e, ipM, 7001, soReuseaddr) != nil {
		t.Fatal("83 with SO_REUSEADDR failed")
	}
	if bindErr(e, ipM, 7002, soReuseaddr) != nil || bindErr(e, 0, 7002, soReuseaddr) != nil {
		t.Fatal("83 reversed with SO_REUSEADDR failed")
	}
}

// Checklist item 85: with SO_REUSEPORT on both (same uid), item 82 succeeds.
func TestReuseportAllowsBoth(t *testing.T) {
	e := newEnv(t)
	if bindErr(e, 0, 7000, soReuseport) != nil || bindErr(e, 0, 7000, soReuseport) != nil {
		t.Fatal("SO_REUSEPORT bind failed")
	}
}

// Checklist item 86: bind to port 0 on 100 sockets: 100 distinct ports in [32768, 60999].
func TestEphemeralPortsDistinctInRange(t *testing.T) {
	e := newEnv(t)
	seen := map[uint16]bool{}
	for i := 0; i < 100; i++ {
		s := e.socket()
		if err := s.Bind(sa(0, 0)); err != nil {
			t.Fatal(err)
		}
		_, p := sockOf(s).LocalAddr()
		if p < 32768 || p > 60999 || seen[p] {
			t.Fatalf("port %d (seen %v)", p, seen[p])
		}
		seen[p] = true
	}
}

// Checklist item 87: binding a non-local address: EADDRNOTAVAIL, or success with IP_FREEBIND.
func TestNonLocalBindAndFreebind(t *testing.T) {
	e := newEnv(t)
	if err := bindErr(e, wire.AddrOf(10, 0, 0, 77), 7000); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("got %v", err)
	}
	s := e.socket()
	s.SetsockoptInt(socket.SolIP, socket.IPFreebind, 1)
	if err := s.Bind(sa(wire.AddrOf(10, 0, 0, 77), 7000)); err != nil {
		t.Fatal(err)
	}
}

// Checklist item 88: a second bind of a bound socket: EINVAL.
func TestSecondBindEINVAL(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if err := s.Bind(sa(0, 7001)); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("got %v", err)
	}
}
