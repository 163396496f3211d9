//go:build linux

package main

// The agent's packet socket operations (agentproto's OpPacket*), with
// Linux's AF_PACKET system calls. The descriptors join the agent's
// others, so the generic operations (setsockopt, close, ...) take them.

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kaidoku-net/kaidoku/image/agent/agentproto"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// rawLL converts the protocol's sockaddr_ll to the kernel's.
func rawLL(a *agentproto.SockaddrLL) (unix.RawSockaddrLinklayer, error) {
	raw := unix.RawSockaddrLinklayer{Family: uint16(a.Family), Protocol: htons(a.Protocol), Ifindex: int32(a.Ifindex),
		Hatype: uint16(a.Hatype), Pkttype: uint8(a.Pkttype), Halen: uint8(a.Halen)}
	if a.Addr != "" {
		hw, err := net.ParseMAC(a.Addr)
		if err != nil || len(hw) > len(raw.Addr) {
			return raw, fmt.Errorf("%w: bad hardware address %q", syscall.EINVAL, a.Addr)
		}
		copy(raw.Addr[:], hw)
	}
	return raw, nil
}

func fromRawLL(raw *unix.RawSockaddrLinklayer) *agentproto.SockaddrLL {
	a := &agentproto.SockaddrLL{Family: int(raw.Family), Protocol: htons(raw.Protocol), Ifindex: int(raw.Ifindex),
		Hatype: int(raw.Hatype), Pkttype: int(raw.Pkttype), Halen: int(raw.Halen)}
	if raw.Halen > 0 {
		a.Addr = net.HardwareAddr(raw.Addr[:min(int(raw.Halen), len(raw.Addr))]).String()
	}
	return a
}

// doPacket serves the packet socket operations; it reports whether req
// was one.
func (s *agentServer) doPacket(req *agentproto.Request, r *agentproto.Response) (bool, error) {
	switch req.Op {
	case agentproto.OpPacketSocket:
		fd, err := unix.Socket(unix.AF_PACKET, req.Value|unix.SOCK_CLOEXEC, int(htons(uint16(req.Name))))
		if err != nil {
			return true, err
		}
		s.mu.Lock()
		s.fds[fd] = true
		s.mu.Unlock()
		r.FD = fd
		return true, nil
	case agentproto.OpPacketBind, agentproto.OpPacketRecv, agentproto.OpPacketSend, agentproto.OpPacketStats:
	default:
		return false, nil
	}
	s.mu.Lock()
	known := s.fds[req.FD]
	s.mu.Unlock()
	if !known {
		return true, syscall.EBADF
	}
	fd := req.FD
	switch req.Op {
	case agentproto.OpPacketBind:
		if req.LL == nil {
			return true, syscall.EINVAL
		}
		raw, err := rawLL(req.LL)
		if err != nil {
			return true, err
		}
		_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&raw)), unix.SizeofSockaddrLinklayer)
		return true, errnoErr(e)
	case agentproto.OpPacketSend:
		var raw unix.RawSockaddrLinklayer
		var to, tolen uintptr
		if req.LL != nil {
			var err error
			if raw, err = rawLL(req.LL); err != nil {
				return true, err
			}
			to, tolen = uintptr(unsafe.Pointer(&raw)), unix.SizeofSockaddrLinklayer
		}
		var p unsafe.Pointer
		if len(req.Data) > 0 {
			p = unsafe.Pointer(&req.Data[0])
		}
		n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(req.Data)), uintptr(req.Flags), to, tolen)
		r.Ret = int(n)
		return true, errnoErr(e)
	case agentproto.OpPacketStats:
		st, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err == nil {
			r.PacketStats = &agentproto.PacketStats{Packets: st.Packets, Drops: st.Drops}
		}
		return true, err
	}
	return true, s.packetRecvmsg(fd, req, r)
}

// packetRecvmsg is recvmsg(2) on a packet socket: the sockaddr_ll, the
// flags and PACKET_AUXDATA as the kernel wrote them.
func (s *agentServer) packetRecvmsg(fd int, req *agentproto.Request, r *agentproto.Response) error {
	var name unix.RawSockaddrLinklayer
	cmsgs, err := s.rawRecvmsg(fd, req, unsafe.Pointer(&name), unix.SizeofSockaddrLinklayer, r)
	if err != nil {
		return err
	}
	r.LL = fromRawLL(&name)
	for _, c := range cmsgs {
		switch {
		case c.Header.Level == unix.SOL_PACKET && c.Header.Type == unix.PACKET_AUXDATA && len(c.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})):
			a := (*unix.TpacketAuxdata)(unsafe.Pointer(&c.Data[0]))
			r.Auxdata = &agentproto.Auxdata{Status: a.Status, Len: a.Len, Snaplen: a.Snaplen, Mac: a.Mac, Net: a.Net,
				VlanTCI: a.Vlan_tci, VlanTPID: a.Vlan_tpid}
		case c.Header.Level == unix.SOL_SOCKET && c.Header.Type == unix.SO_RXQ_OVFL && len(c.Data) >= 4:
			v := *(*uint32)(unsafe.Pointer(&c.Data[0]))
			r.RxqOvfl = &v
		}
	}
	return nil
}
