package netstacktest_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/netstacktest"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// A datagram handed in with InjectUDP reaches a socket bound to its port
// from src:4000, and a datagram to a port nobody bound is not. Frames
// are freed once handled, except the port unreachable for the closed
// port: it waits for the gateway's ARP reply, which a NullLink never
// gives.
func TestInjectUDP(t *testing.T) {
	st, pool := netstacktest.New(t, 8)
	so, err := st.Socket(socket.AFInet, socket.SockDgram, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer so.Close()
	if err := so.Bind(&socket.Sockaddr{Family: socket.AFInet, Port: 7000}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src     netip.Addr
		port    uint16
		payload string
		deliver bool
	}{
		{netip.MustParseAddr("10.0.2.2"), 7000, "from the gateway", true},
		{netip.MustParseAddr("192.0.2.1"), 7000, "from beyond it", true},
		{netip.MustParseAddr("10.0.2.2"), 7001, "closed port", false},
		{netip.MustParseAddr("10.0.2.3"), 7000, "", true},
	} {
		netstacktest.InjectUDP(t, st, pool, c.src, c.port, []byte(c.payload))
		buf := make([]byte, 100)
		var from socket.Sockaddr
		n, err := so.RecvFrom(buf, socket.MsgDontwait, &from)
		if !c.deliver {
			if !errors.Is(err, syscall.EAGAIN) {
				t.Errorf("%s: %d bytes, %v", c.payload, n, err)
			}
			continue
		}
		if err != nil || string(buf[:n]) != c.payload {
			t.Fatalf("%q: got %q, %v", c.payload, buf[:n], err)
		}
		if from.Port != 4000 || from.Addr != c.src.As4() {
			t.Errorf("%q: from %v:%d, want %v:4000", c.payload, from.Addr, from.Port, c.src)
		}
	}
	if n := pool.InUse(); n != 1 {
		t.Errorf("%d frame buffers in use, want the one ICMP error", n)
	}
}

func TestNullLink(t *testing.T) {
	l := netstacktest.NullLink{}
	if l.MAC() != [6]byte{2, 0, 0, 0, 0, 1} || l.MTU() != 1500 || l.Headroom() != 12 {
		t.Fatalf("MAC %x MTU %d headroom %d", l.MAC(), l.MTU(), l.Headroom())
	}
}
