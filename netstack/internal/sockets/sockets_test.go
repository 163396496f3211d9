package sockets_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/packet"
	"github.com/kaidoku-net/kaidoku/netstack/internal/sockets"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/netstacktest"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Package socket's init sets every hook: netstack calls New and
// NewPacket unconditionally, and its tests Sock and PacketSock.
func TestSocketInitSetsEveryHook(t *testing.T) {
	for name, set := range map[string]bool{
		"New":        sockets.New != nil,
		"Sock":       sockets.Sock != nil,
		"NewPacket":  sockets.NewPacket != nil,
		"PacketSock": sockets.PacketSock != nil,
	} {
		if !set {
			t.Errorf("sockets.%s is nil after package socket's init", name)
		}
	}
}

// Stack.Socket's *socket.Socket maps through sockets.Sock to its own
// struct sock (udp.Sock), the one bind(2) (inet_bind → udp_v4_get_port)
// changes: its local address is the bound one, and a second socket's
// struct sock is another, still unbound.
func TestSockIsTheBoundProtocolSocket(t *testing.T) {
	st, _ := netstacktest.New(t, 64)
	for _, tc := range []struct {
		name     string
		sa       socket.Sockaddr
		wantAddr wire.Addr
	}{
		{"the interface's address", socket.Sockaddr{Family: socket.AFInet, Port: 7000, Addr: [4]byte{10, 0, 2, 15}},
			wire.AddrOf(10, 0, 2, 15)},
		{"INADDR_ANY", socket.Sockaddr{Family: socket.AFInet, Port: 7001}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := st.Socket(socket.AFInet, socket.SockDgram, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			other, err := st.Socket(socket.AFInet, socket.SockDgram, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if err := s.Bind(&tc.sa); err != nil {
				t.Fatal(err)
			}
			sk := sockets.Sock(s)
			if sk == nil || sk != sockets.Sock(s) || sk == sockets.Sock(other) {
				t.Fatalf("Sock gives %p, again %p, for the other socket %p", sk, sockets.Sock(s), sockets.Sock(other))
			}
			if a, p := sk.LocalAddr(); a != tc.wantAddr || p != tc.sa.Port {
				t.Errorf("struct sock bound to %v:%d, want %v:%d", a, p, tc.wantAddr, tc.sa.Port)
			}
			if a, p := sockets.Sock(other).LocalAddr(); a != 0 || p != 0 {
				t.Errorf("the unbound socket's struct sock is at %v:%d", a, p)
			}
		})
	}
}

// Stack.PacketSocket's *socket.PacketSocket maps through
// sockets.PacketSock to the af_packet socket packet_create made: its
// type without SOCK_NONBLOCK, its protocol, and the binding
// packet_bind gives it; closing the socket releases it
// (packet_release).
func TestPacketSockIsTheAFPacketSocket(t *testing.T) {
	st, _ := netstacktest.New(t, 64)
	for _, tc := range []struct {
		name    string
		typ     int
		proto   uint16 // network byte order, as socket(2) takes it
		wantTyp int
	}{
		{"raw, every protocol", socket.SockRaw, socket.Htons(socket.EthPAll), socket.SockRaw},
		{"dgram, IPv4", socket.SockDgram, socket.Htons(wire.EthPIP), socket.SockDgram},
		{"raw nonblocking, no protocol", socket.SockRaw | socket.SockNonblock, 0, socket.SockRaw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := st.PacketSocket(tc.typ, int(tc.proto))
			if err != nil {
				t.Fatal(err)
			}
			sk := sockets.PacketSock(ps)
			if sk == nil || sk.Type() != tc.wantTyp || sk.Protocol() != tc.proto {
				t.Fatalf("af_packet socket %p of type %d protocol %#x, want %d %#x", sk, sk.Type(), sk.Protocol(), tc.wantTyp, tc.proto)
			}
			if err := ps.Bind(&socket.SockaddrLL{Family: socket.AFPacket, Protocol: socket.Htons(0x88b5), Ifindex: 2}); err != nil {
				t.Fatal(err)
			}
			if sa, _ := sk.Getname(); sa.Ifindex != 2 || sa.Protocol != socket.Htons(0x88b5) {
				t.Errorf("packet_getname after bind %+v", sa)
			}
			ps.Close()
			var m packet.Msg
			if rc := sk.Recvmsg(make([]byte, 64), packet.RecvOpts{}, &m); rc != -packet.EBADF {
				t.Errorf("Recvmsg on the closed socket's af_packet socket = %d, want -EBADF", rc)
			}
		})
	}
}

// socket(2) as newSocket implements it for AF_INET only (inet_create
// for UDP): another family is EAFNOSUPPORT, a type with no protocol
// behind it ESOCKTNOSUPPORT, SOCK_STREAM kaidoku's TCP error (an
// EPROTONOSUPPORT), a protocol SOCK_DGRAM does not carry
// EPROTONOSUPPORT. All are found before a socket is made, so no UDP
// layer is needed.
func TestNewRefusesWhatSocket2Refuses(t *testing.T) {
	for _, tc := range []struct {
		name               string
		domain, typ, proto int
		want               error
	}{
		{"AF_PACKET", socket.AFPacket, socket.SockDgram, 0, syscall.EAFNOSUPPORT},
		{"AF_INET6", 10, socket.SockDgram, 0, syscall.EAFNOSUPPORT},
		{"AF_UNIX", 1, socket.SockDgram, 0, syscall.EAFNOSUPPORT},
		{"SOCK_RAW", socket.AFInet, socket.SockRaw, 0, syscall.ESOCKTNOSUPPORT},
		{"SOCK_SEQPACKET", socket.AFInet, 5, 0, syscall.ESOCKTNOSUPPORT},
		{"SOCK_STREAM", socket.AFInet, socket.SockStream, 0, socket.ErrTCPNotSupported},
		{"SOCK_STREAM nonblocking", socket.AFInet, socket.SockStream | socket.SockNonblock, 0, socket.ErrTCPNotSupported},
		{"IPPROTO_TCP", socket.AFInet, socket.SockDgram, 6, syscall.EPROTONOSUPPORT},
		{"IPPROTO_UDPLITE", socket.AFInet, socket.SockDgram, 136, syscall.EPROTONOSUPPORT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sockets.New(nil, tc.domain, tc.typ, tc.proto, 0)
			if s != nil || err != tc.want {
				t.Errorf("New(%d, %d, %d) = %v, %v; want %v", tc.domain, tc.typ, tc.proto, s, err, tc.want)
			}
		})
	}
	if _, err := sockets.New(nil, socket.AFInet, socket.SockStream, 0, 0); !errors.Is(err, syscall.EPROTONOSUPPORT) {
		t.Errorf("SOCK_STREAM's error %v is not EPROTONOSUPPORT", err)
	}
}

// packet_create's type check, through NewPacket: only SOCK_RAW and
// SOCK_DGRAM, anything else ESOCKTNOSUPPORT.
func TestNewPacketRefusesOtherTypes(t *testing.T) {
	st, _ := netstacktest.New(t, 64)
	for _, typ := range []int{socket.SockStream, 5, 10 /* SOCK_PACKET */} {
		if ps, err := st.PacketSocket(typ, int(socket.Htons(socket.EthPAll))); ps != nil || err != syscall.ESOCKTNOSUPPORT {
			t.Errorf("PacketSocket(%d) = %v, %v; want ESOCKTNOSUPPORT", typ, ps, err)
		}
	}
}
