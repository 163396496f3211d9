package netstack

import (
	"github.com/kaidoku-net/kaidoku/netstack/internal/packet"
	"github.com/kaidoku-net/kaidoku/netstack/internal/sockets"
	"github.com/kaidoku-net/kaidoku/netstack/internal/udp"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// sockOf is s's protocol socket (struct sock), whose counters the tests
// read.
func sockOf(s *socket.Socket) *udp.Sock { return sockets.Sock(s) }

// packetSockOf is ps's af_packet socket.
func packetSockOf(ps *socket.PacketSocket) *packet.Sock { return sockets.PacketSock(ps) }
