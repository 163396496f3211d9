// Package sockets hands package netstack the constructors of package
// socket's Socket and PacketSocket, which socket does not export: their
// arguments are the UDP layer and af_packet's table, types programs in
// the image never see, so sockets are made only by netstack's
// Stack.Socket (socket(2)) and Stack.PacketSocket.
package sockets

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/packet"
	"github.com/kaidoku-net/kaidoku/netstack/internal/udp"
)

// New is socket(2) on the UDP layer u for a caller with user id uid:
// socket's constructor, which package socket sets when it is
// initialised. The result is a *socket.Socket (this package cannot name
// the type: socket imports it).
var New func(u *udp.UDP, domain, typ, proto int, uid uint32) (any, error)

// Sock returns the protocol socket (struct sock) of a *socket.Socket,
// for the stack's tests.
var Sock func(s any) *udp.Sock

// NewPacket is socket(AF_PACKET, typ, proto) on af_packet's table t:
// socket's constructor of a *socket.PacketSocket, set as New is.
var NewPacket func(t *packet.Table, typ, proto int) (any, error)

// PacketSock returns the af_packet socket of a *socket.PacketSocket, for
// the stack's tests.
var PacketSock func(s any) *packet.Sock
