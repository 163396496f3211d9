package agent

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/netstacktest"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

func newServer(t *testing.T) *Server {
	t.Helper()
	st, _ := netstacktest.New(t, 64)
	return NewServer(st, netip.MustParsePrefix("10.0.2.2/32"))
}

func TestHandle(t *testing.T) {
	s := newServer(t)
	fd := s.Handle(&Request{Op: OpSocket}).FD
	fd2 := s.Handle(&Request{Op: OpSocket}).FD
	tests := []struct {
		name      string
		req       Request
		wantErrno syscall.Errno
		check     func(*Response) bool
	}{
		{"rcvbuf default", Request{Op: OpGetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoRcvbuf}, 0,
			func(r *Response) bool { return r.Value == 212992 }},
		{"rcvbuf doubled", Request{Op: OpSetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoRcvbuf, Value: 1000}, 0, nil},
		{"rcvbuf minimum", Request{Op: OpGetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoRcvbuf}, 0,
			func(r *Response) bool { return r.Value == 2304 }},
		{"bind", Request{Op: OpBind, FD: fd, Addr: "0.0.0.0:7000"}, 0, nil},
		{"bind again", Request{Op: OpBind, FD: fd, Addr: "0.0.0.0:7001"}, syscall.EINVAL, nil},
		{"bind in use", Request{Op: OpBind, FD: fd2, Addr: "0.0.0.0:7000"}, syscall.EADDRINUSE, nil},
		{"bind not local", Request{Op: OpBind, FD: fd2, Addr: "10.0.2.77:7000"}, syscall.EADDRNOTAVAIL, nil},
		{"recv dontwait", Request{Op: OpRecv, FD: fd, Len: 10, Flags: socket.MsgDontwait}, syscall.EAGAIN, nil},
		{"timeval EDOM", Request{Op: OpSetTimeval, FD: fd, Level: socket.SolSocket, Name: socket.SoRcvtimeo, Usec: 1000000}, syscall.EDOM, nil},
		{"fionread empty", Request{Op: OpIoctl, FD: fd, Name: socket.FIONREAD}, 0, func(r *Response) bool { return r.Value == 0 }},
		{"bad fd", Request{Op: OpClose, FD: 99}, syscall.EBADF, nil},
		{"bad op", Request{Op: "frobnicate", FD: fd}, syscall.EINVAL, nil},
		{"bad addr", Request{Op: OpConnect, FD: fd, Addr: "nonsense"}, syscall.EINVAL, nil},
		{"counters", Request{Op: OpCounters, Names: []string{"Udp.NoPorts"}}, 0,
			func(r *Response) bool { v, ok := r.Counters["Udp.NoPorts"]; return ok && v == 0 }},
		{"unknown counter", Request{Op: OpCounters, Names: []string{"Udp.NoSuchThing"}}, syscall.EINVAL, nil},
		{"close", Request{Op: OpClose, FD: fd}, 0, nil},
		{"closed fd", Request{Op: OpClose, FD: fd}, syscall.EBADF, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Handle(&tc.req)
			if syscall.Errno(r.Errno) != tc.wantErrno {
				t.Fatalf("errno %d (%s), want %d", r.Errno, r.Err, tc.wantErrno)
			}
			if tc.check != nil && !tc.check(r) {
				t.Fatalf("response %+v", r)
			}
		})
	}
}

// TestHandleAddresses checks that the agent converts a request's address
// as the socket API does (socket.SockaddrOf): an IPv6 address reaches the
// call, which refuses it with EAFNOSUPPORT as Linux refuses a
// sockaddr_in6 on an AF_INET socket, and [::] is INADDR_ANY.
func TestHandleAddresses(t *testing.T) {
	s := newServer(t)
	fd := s.Handle(&Request{Op: OpSocket}).FD
	for _, tc := range []struct {
		name      string
		req       Request
		wantErrno syscall.Errno
	}{
		{"bind IPv6", Request{Op: OpBind, FD: fd, Addr: "[2001:db8::1]:7300"}, syscall.EAFNOSUPPORT},
		{"connect IPv6", Request{Op: OpConnect, FD: fd, Addr: "[2001:db8::1]:7"}, syscall.EAFNOSUPPORT},
		{"sendto IPv6", Request{Op: OpSend, FD: fd, Addr: "[2001:db8::1]:7", Data: []byte("x")}, syscall.EAFNOSUPPORT},
		{"sendto IPv4-mapped", Request{Op: OpSend, FD: fd, Addr: "[::ffff:10.0.2.15]:7", Data: []byte("x")}, 0},
		{"not an address", Request{Op: OpSend, FD: fd, Addr: "10.0.2.15", Data: []byte("x")}, syscall.EINVAL},
		{"bind [::]", Request{Op: OpBind, FD: s.Handle(&Request{Op: OpSocket}).FD, Addr: "[::]:7301"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := s.Handle(&tc.req); syscall.Errno(r.Errno) != tc.wantErrno {
				t.Fatalf("errno %d (%s), want %d", r.Errno, r.Err, tc.wantErrno)
			}
		})
	}
}
