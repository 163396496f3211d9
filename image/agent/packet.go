package agent

import (
	"fmt"
	"net"
	"syscall"

	"github.com/kaidoku-net/kaidoku/image/agent/agentproto"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Packet socket operations (see agentproto).
const (
	OpPacketSocket = agentproto.OpPacketSocket
	OpPacketBind   = agentproto.OpPacketBind
	OpPacketRecv   = agentproto.OpPacketRecv
	OpPacketSend   = agentproto.OpPacketSend
	OpPacketStats  = agentproto.OpPacketStats
)

// SockaddrLL, Auxdata and PacketStats are the packet socket messages.
type (
	SockaddrLL  = agentproto.SockaddrLL
	Auxdata     = agentproto.Auxdata
	PacketStats = agentproto.PacketStats
)

// toLL converts the protocol's sockaddr_ll to the socket API's.
func toLL(a *SockaddrLL) (*socket.SockaddrLL, error) {
	if a == nil {
		return nil, nil
	}
	sa := &socket.SockaddrLL{Family: uint16(a.Family), Protocol: socket.Htons(a.Protocol), Ifindex: int32(a.Ifindex),
		Hatype: uint16(a.Hatype), Pkttype: uint8(a.Pkttype), Halen: uint8(a.Halen)}
	if a.Addr != "" {
		hw, err := net.ParseMAC(a.Addr)
		if err != nil || len(hw) > len(sa.Addr) {
			return nil, fmt.Errorf("%w: bad hardware address %q", syscall.EINVAL, a.Addr)
		}
		copy(sa.Addr[:], hw)
	}
	return sa, nil
}

// fromLL converts a received sockaddr_ll for the response.
func fromLL(sa *socket.SockaddrLL) *SockaddrLL {
	a := &SockaddrLL{Family: int(sa.Family), Protocol: socket.Htons(sa.Protocol), Ifindex: int(sa.Ifindex),
		Hatype: int(sa.Hatype), Pkttype: int(sa.Pkttype), Halen: int(sa.Halen)}
	if sa.Halen > 0 {
		a.Addr = net.HardwareAddr(sa.Addr[:min(int(sa.Halen), len(sa.Addr))]).String()
	}
	return a
}

func (s *Server) packetSocket(fd int) (*socket.PacketSocket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.pfds[fd]
	return ps, ok
}

// doPacket serves the packet socket operations, and the generic ones on
// a packet socket's descriptor; it reports whether it handled req.
func (s *Server) doPacket(req *Request, r *Response) (bool, error) {
	if req.Op == OpPacketSocket {
		ps, err := s.stack.PacketSocket(req.Value, int(socket.Htons(uint16(req.Name))))
		if err != nil {
			return true, err
		}
		s.mu.Lock()
		if s.pfds == nil {
			s.pfds = map[int]*socket.PacketSocket{}
		}
		r.FD = s.next
		s.pfds[s.next] = ps
		s.next++
		s.mu.Unlock()
		return true, nil
	}
	ps, ok := s.packetSocket(req.FD)
	if !ok {
		switch req.Op {
		case OpPacketBind, OpPacketRecv, OpPacketSend, OpPacketStats:
			return true, syscall.EBADF
		}
		return false, nil
	}
	var err error
	switch req.Op {
	case OpPacketBind:
		sa, err := toLL(req.LL)
		if err != nil {
			return true, err
		}
		if sa == nil {
			return true, syscall.EINVAL
		}
		return true, ps.Bind(sa)
	case OpPacketRecv:
		if req.Len < 0 || req.Len > maxRecv {
			return true, fmt.Errorf("%w: len %d", syscall.EINVAL, req.Len)
		}
		buf := make([]byte, req.Len)
		var m socket.PacketMsghdr
		if req.Controllen > 0 {
			m.Control = make([]byte, min(req.Controllen, maxControl))
		}
		n, err := ps.RecvMsg(buf, req.Flags, &m)
		if err != nil {
			return true, err
		}
		if m.Control != nil {
			r.Control = m.Control[:m.Controllen]
		}
		r.Ret, r.Data = n, buf[:min(n, len(buf))]
		r.Namelen, r.MsgFlags = m.Namelen, m.Flags
		r.LL = fromLL(&m.Name)
		if m.HasAuxdata {
			a := m.Auxdata
			r.Auxdata = &Auxdata{Status: a.Status, Len: a.Len, Snaplen: a.Snaplen, Mac: a.Mac, Net: a.Net,
				VlanTCI: a.VlanTCI, VlanTPID: a.VlanTPID}
		}
		if m.HasRxqOvfl {
			v := m.RxqOvfl
			r.RxqOvfl = &v
		}
		return true, nil
	case OpPacketSend:
		to, err := toLL(req.LL)
		if err != nil {
			return true, err
		}
		r.Ret, err = ps.SendTo(req.Data, req.Flags, to)
		return true, err
	case OpPacketStats:
		st, err := ps.Statistics()
		r.PacketStats = &PacketStats{Packets: st.Packets, Drops: st.Drops}
		return true, err
	case OpSetInt:
		return true, ps.SetsockoptInt(req.Level, req.Name, req.Value)
	case OpGetInt:
		r.Value, err = ps.GetsockoptInt(req.Level, req.Name)
		return true, err
	case OpSetTimeval:
		return true, ps.SetsockoptTimeval(req.Level, req.Name, socket.Timeval{Sec: req.Sec, Usec: req.Usec})
	case OpIoctl:
		r.Value, err = ps.Ioctl(req.Name)
		return true, err
	case OpNonblock:
		ps.SetNonblock(req.Value != 0)
		return true, nil
	case OpInterrupt:
		ps.Interrupt()
		return true, nil
	case OpClose:
		s.mu.Lock()
		delete(s.pfds, req.FD)
		s.mu.Unlock()
		return true, ps.Close()
	case OpBind, OpConnect, OpRecv, OpSend, OpShutdown, OpPoll, OpSetString, OpMembership, OpGetTimeval:
		// Calls packet sockets do not take this way.
		return true, syscall.EOPNOTSUPP
	}
	return false, nil
}
