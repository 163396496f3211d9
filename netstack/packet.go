package netstack

import (
	"fmt"
	"syscall"

	"github.com/kaidoku-net/kaidoku/netstack/internal/sockets"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// PacketSocket is socket(AF_PACKET, typ, proto): typ SOCK_RAW (frames
// from the Ethernet header) or SOCK_DGRAM (from the network header),
// proto the protocol in network byte order as socket(2) takes it
// (socket.Htons(socket.EthPAll) for every frame, received and sent; an
// EtherType for received frames of that type; 0 for none until Bind).
func (s *Stack) PacketSocket(typ, proto int) (*socket.PacketSocket, error) {
	ps, err := sockets.NewPacket(s.packet, typ, proto)
	if err != nil {
		return nil, err
	}
	return ps.(*socket.PacketSocket), nil
}

// PacketOptions selects the frames ListenPacket's socket receives.
type PacketOptions struct {
	// Interface is the interface's name ("eth0", "lo"); empty means
	// every interface.
	Interface string
	// EtherType is the protocol in host order (0x0800 for IPv4); 0
	// means every frame, received and sent.
	EtherType uint16
	// Cooked gives frames without their Ethernet header (SOCK_DGRAM);
	// the default is whole frames (SOCK_RAW).
	Cooked bool
}

// ListenPacket opens a packet socket for o: the Go way to read frames
// (ReadFrame) and send them (WriteFrame) from a program in the image.
func (s *Stack) ListenPacket(o PacketOptions) (*socket.PacketSocket, error) {
	typ := syscall.SOCK_RAW
	if o.Cooked {
		typ = syscall.SOCK_DGRAM
	}
	proto := o.EtherType
	if proto == 0 {
		proto = socket.EthPAll
	}
	ifindex := 0
	if o.Interface != "" {
		d := s.net.GetByName(o.Interface)
		if d == nil {
			return nil, fmt.Errorf("netstack: no interface %q: %w", o.Interface, syscall.ENODEV)
		}
		ifindex = d.Ifindex
	}
	// Bound before the hook is registered, as a program that passes 0 to
	// socket(2) and binds with the protocol does: no frame of another
	// interface is ever queued.
	ps, err := s.PacketSocket(typ, 0)
	if err != nil {
		return nil, err
	}
	if err := ps.Bind(&socket.SockaddrLL{Family: socket.AFPacket, Protocol: socket.Htons(proto), Ifindex: int32(ifindex)}); err != nil {
		ps.Close()
		return nil, err
	}
	return ps, nil
}
