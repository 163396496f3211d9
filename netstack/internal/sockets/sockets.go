// Package sockets hands package netstack the constructor of package
// socket's Socket, which socket does not export: its argument is the
// UDP layer, a type programs in the image never see, so a Socket is made
// only by netstack's Stack.Socket (socket(2)).
package sockets

import "github.com/kaidoku-net/kaidoku/netstack/internal/udp"

// New is socket(2) on the UDP layer u for a caller with user id uid:
// socket's constructor, which package socket sets when it is
// initialised. The result is a *socket.Socket (this package cannot name
// the type: socket imports it).
var New func(u *udp.UDP, domain, typ, proto int, uid uint32) (any, error)

// Sock returns the protocol socket (struct sock) of a *socket.Socket,
// for the stack's tests.
var Sock func(s any) *udp.Sock
