package netstack

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// TestSockaddrConversion checks that every way a Go address reaches a
// socket call (net.SocketFunc's laddr and raddr, WriteTo) converts it
// the same way, with Linux's errno: an IPv6 address is EAFNOSUPPORT (a
// sockaddr_in6 on an AF_INET socket), an address of no sockaddr_in
// (not a *net.UDPAddr) EINVAL, and the unspecified address of either
// family INADDR_ANY: the wildcard to bind, the host itself to send to.
func TestSockaddrConversion(t *testing.T) {
	e := newEnv(t)
	dst := e.bound(0, 7100) // 0.0.0.0:7100 receives what is sent
	for i, tc := range []struct {
		name string
		addr func(port int) net.Addr
		err  error // for bind, connect and sendto alike
	}{
		{"no IP", func(p int) net.Addr { return &net.UDPAddr{Port: p} }, nil},
		{"0.0.0.0", func(p int) net.Addr { return &net.UDPAddr{IP: net.IPv4zero, Port: p} }, nil},
		{"[::]", func(p int) net.Addr { return &net.UDPAddr{IP: net.IPv6unspecified, Port: p} }, nil},
		{"own address", func(p int) net.Addr { return &net.UDPAddr{IP: net.IPv4(10, 0, 0, 5), Port: p} }, nil},
		{"4-byte own address", func(p int) net.Addr { return &net.UDPAddr{IP: net.IPv4(10, 0, 0, 5).To4(), Port: p} }, nil},
		{"IPv6", func(p int) net.Addr { return &net.UDPAddr{IP: net.ParseIP("2001:db8::1"), Port: p} }, syscall.EAFNOSUPPORT},
		{"IPv6 loopback", func(p int) net.Addr { return &net.UDPAddr{IP: net.IPv6loopback, Port: p} }, syscall.EAFNOSUPPORT},
		{"5-byte IP", func(p int) net.Addr { return &net.UDPAddr{IP: net.IP{1, 2, 3, 4, 5}, Port: p} }, syscall.EINVAL},
		{"IPAddr", func(int) net.Addr { return &net.IPAddr{IP: net.IPv4(10, 0, 0, 5)} }, syscall.EINVAL},
		{"TCPAddr", func(p int) net.Addr { return &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: p} }, syscall.EINVAL},
		{"nil UDPAddr", func(int) net.Addr { return (*net.UDPAddr)(nil) }, syscall.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(op string, err error) {
				t.Helper()
				if (tc.err == nil) != (err == nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
					t.Errorf("%s: %v, want %v", op, err, tc.err)
				}
			}
			port := 7200 + i
			c, err := e.s.SocketFunc(context.Background(), "udp", syscall.AF_INET6, syscall.SOCK_DGRAM, tc.addr(port), nil)
			check("bind (SocketFunc laddr)", err)
			if err == nil {
				if got := c.(*socket.Socket).LocalAddr().(*net.UDPAddr).Port; got != port {
					t.Errorf("bound to port %d, want %d", got, port)
				}
				c.(*socket.Socket).Close()
			}
			c, err = e.s.SocketFunc(context.Background(), "udp", syscall.AF_INET6, syscall.SOCK_DGRAM, nil, tc.addr(7100))
			check("connect (SocketFunc raddr)", err)
			if err == nil {
				c.(*socket.Socket).Close()
			}
			s := e.socket()
			_, err = s.WriteTo([]byte(tc.name), tc.addr(7100))
			check("sendto (WriteTo)", err)
			if err == nil {
				mustRecv(t, dst, []byte(tc.name))
			}
		})
	}
}
