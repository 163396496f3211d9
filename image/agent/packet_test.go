package agent

import (
	"bytes"
	"net/netip"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/netstacktest"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// The packet socket operations, and the generic ones on a packet
// socket's descriptor.
func TestHandlePacket(t *testing.T) {
	st, pool := netstacktest.New(t, 64)
	s := NewServer(st, netip.MustParsePrefix("10.0.2.2/32"))
	fd := s.Handle(&Request{Op: OpPacketSocket, Value: syscall.SOCK_RAW, Name: 0x0800}).FD
	dg := s.Handle(&Request{Op: OpPacketSocket, Value: syscall.SOCK_DGRAM}).FD
	udp := s.Handle(&Request{Op: OpSocket}).FD
	peer := &SockaddrLL{Family: socket.AFPacket, Protocol: 0x88b5, Ifindex: 2, Halen: 6, Addr: "02:00:00:00:00:09"}
	tests := []struct {
		name      string
		req       Request
		before    func()
		wantErrno syscall.Errno
		check     func(*Response) bool
	}{
		{"bad type", Request{Op: OpPacketSocket, Value: syscall.SOCK_STREAM}, nil, syscall.ESOCKTNOSUPPORT, nil},
		{"bind bad family", Request{Op: OpPacketBind, FD: fd, LL: &SockaddrLL{Family: 2}}, nil, syscall.EINVAL, nil},
		{"bind no device", Request{Op: OpPacketBind, FD: fd, LL: &SockaddrLL{Family: socket.AFPacket, Ifindex: 9}}, nil, syscall.ENODEV, nil},
		{"bind eth0", Request{Op: OpPacketBind, FD: fd, LL: &SockaddrLL{Family: socket.AFPacket, Ifindex: 2}}, nil, 0, nil},
		{"auxdata on", Request{Op: OpSetInt, FD: fd, Level: socket.SolPacket, Name: socket.PacketAuxdata, Value: 1}, nil, 0, nil},
		{"so_protocol", Request{Op: OpGetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoProtocol}, nil, 0,
			func(r *Response) bool { return r.Value == 0 }},
		{"recv empty", Request{Op: OpPacketRecv, FD: fd, Len: 100, Flags: socket.MsgDontwait}, nil, syscall.EAGAIN, nil},
		{"recv", Request{Op: OpPacketRecv, FD: fd, Len: 100, Flags: socket.MsgDontwait},
			func() {
				netstacktest.InjectUDP(t, st, pool, netip.MustParseAddr("10.0.2.9"), 7, []byte("to the packet socket"))
			}, 0,
			func(r *Response) bool {
				return r.Ret == 62 && bytes.HasSuffix(r.Data, []byte("to the packet socket")) && r.Namelen == 20 &&
					*r.LL == SockaddrLL{Family: socket.AFPacket, Protocol: 0x0800, Ifindex: 2, Hatype: 1, Halen: 6, Addr: "02:00:00:00:00:09"} &&
					r.Auxdata != nil && *r.Auxdata == Auxdata{Status: 1, Len: 62, Snaplen: 62, Net: 14}
			}},
		{"statistics", Request{Op: OpPacketStats, FD: fd}, nil, 0,
			func(r *Response) bool { return *r.PacketStats == PacketStats{Packets: 1} }},
		{"statistics reset", Request{Op: OpPacketStats, FD: fd}, nil, 0,
			func(r *Response) bool { return *r.PacketStats == PacketStats{} }},
		{"send dgram", Request{Op: OpPacketSend, FD: dg, Data: []byte("cooked"), LL: peer}, nil, 0,
			func(r *Response) bool { return r.Ret == 6 }},
		{"send unbound", Request{Op: OpPacketSend, FD: dg, Data: []byte("x")}, nil, syscall.ENXIO, nil},
		{"send bad address", Request{Op: OpPacketSend, FD: dg, Data: []byte("x"), LL: &SockaddrLL{Addr: "zz"}}, nil, syscall.EINVAL, nil},
		{"packet op on a UDP socket", Request{Op: OpPacketRecv, FD: udp, Len: 10}, nil, syscall.EBADF, nil},
		{"UDP op on a packet socket", Request{Op: OpBind, FD: fd, Addr: "0.0.0.0:7"}, nil, syscall.EOPNOTSUPP, nil},
		{"close", Request{Op: OpClose, FD: fd}, nil, 0, nil},
		{"closed", Request{Op: OpPacketStats, FD: fd}, nil, syscall.EBADF, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			r := s.Handle(&tc.req)
			if syscall.Errno(r.Errno) != tc.wantErrno {
				t.Fatalf("errno %d (%s), want %d", r.Errno, r.Err, tc.wantErrno)
			}
			if tc.check != nil && !tc.check(r) {
				t.Fatalf("response %+v (ll %+v aux %+v stats %+v)", r, r.LL, r.Auxdata, r.PacketStats)
			}
		})
	}
}
