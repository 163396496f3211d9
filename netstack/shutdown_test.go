package netstack

import (
	"errors"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// TestRecvAfterShutRdNoAddress: after SHUT_RD an empty socket's recvmsg
// returns 0 without an address: udp_recvmsg leaves addr_len 0, so
// inet_recvmsg stores msg_namelen 0 and recvfrom copies no address.
func TestRecvAfterShutRdNoAddress(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.Shutdown(socket.ShutRd)
	marker := socket.Sockaddr{Family: 0xffff, Port: 1, Addr: [4]byte{1, 2, 3, 4}}
	m := socket.Msghdr{Name: marker, Namelen: 99}
	n, err := s.RecvMsg(make([]byte, 10), 0, &m)
	if n != 0 || err != nil {
		t.Fatalf("recvmsg %d, %v", n, err)
	}
	if m.Namelen != 0 || m.Name != marker {
		t.Fatalf("msg_namelen %d, name %+v; want 0 and the name untouched", m.Namelen, m.Name)
	}
	from := marker
	if n, err := s.RecvFrom(make([]byte, 10), 0, &from); n != 0 || err != nil || from != marker {
		t.Fatalf("recvfrom %d, %v, from %+v; want 0 and from untouched", n, err, from)
	}
	// The Go API has no address to give either.
	if n, a, err := s.ReadFrom(make([]byte, 10)); n != 0 || a != nil || err != nil {
		t.Fatalf("ReadFrom %d, %v, %v; want 0 and no address", n, a, err)
	}
	// A datagram still names its source.
	e.send(udpPkt(7000, []byte("x")))
	if _, err := s.RecvMsg(make([]byte, 10), 0, &m); err != nil || m.Namelen != socket.SockaddrLen || m.Name.Addr != ipT.As4() {
		t.Fatalf("recvmsg after a datagram: %v, %+v", err, m)
	}
}

// Checklist item 105: SHUT_RD on an unconnected socket returns ENOTCONN but wakes a blocked
// recvfrom with 0.
func TestShutdownRdUnconnected(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	done := blockedRecv(t, s, 10)
	if err := s.Shutdown(socket.ShutRd); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatal(err)
	}
	if r := <-done; r.n != 0 || r.err != nil {
		t.Fatalf("%+v", r)
	}
	// Datagrams are still queued and readable after SHUT_RD.
	e.send(udpPkt(7000, []byte("still")))
	mustRecv(t, s, []byte("still"))
}
