package socket

import "encoding/binary"

// Control-message layout of x86_64 Linux: struct cmsghdr is a 64-bit
// cmsg_len then int cmsg_level and int cmsg_type, and each message is
// padded to 8 bytes (CMSG_ALIGN).
const (
	cmsghdrLen = 16
	cmsgAlign  = 8
)

// CmsgLen is CMSG_LEN(n).
func CmsgLen(n int) int { return cmsghdrLen + n }

// CmsgSpace is CMSG_SPACE(n).
func CmsgSpace(n int) int { return cmsghdrLen + (n+cmsgAlign-1)&^(cmsgAlign-1) }

// Sizes of the control-message payloads.
const (
	SizeofInPktinfo       = 12 // struct in_pktinfo
	SizeofSockExtendedErr = 16 // struct sock_extended_err
	SizeofSockaddrIn      = SockaddrLen
)

// putCmsg is net/core/scm.c: put_cmsg: no room for a header sets
// MSG_CTRUNC and writes nothing; a message longer than the room left is
// cut to it (cmsg_len says the cut length) with MSG_CTRUNC; the control
// pointer then advances by CMSG_SPACE, at most to the end.
func (m *Msghdr) putCmsg(level, typ int, data []byte) {
	room := m.Control[m.Controllen:]
	if len(room) < cmsghdrLen {
		m.Flags |= MsgCtrunc
		return
	}
	cmlen := CmsgLen(len(data))
	if len(room) < cmlen {
		m.Flags |= MsgCtrunc
		cmlen = len(room)
	}
	binary.LittleEndian.PutUint64(room[0:], uint64(cmlen))
	binary.LittleEndian.PutUint32(room[8:], uint32(int32(level)))
	binary.LittleEndian.PutUint32(room[12:], uint32(int32(typ)))
	copy(room[cmsghdrLen:cmlen], data)
	m.Controllen += min(CmsgSpace(len(data)), len(room))
}

// marshal returns struct sockaddr_in's bytes: sin_family in host order,
// sin_port and sin_addr in network order, sin_zero zero.
func (sa *Sockaddr) marshal() []byte {
	b := make([]byte, SizeofSockaddrIn)
	binary.LittleEndian.PutUint16(b[0:], sa.Family)
	binary.BigEndian.PutUint16(b[2:], sa.Port)
	copy(b[4:8], sa.Addr[:])
	return b
}

// encodeControl writes the control messages in the order udp_recvmsg
// (sock_recv_cmsgs: timestamps, SO_RXQ_OVFL; then ip_cmsg_recv_offset)
// or ip_recv_error (sock_recv_timestamp, ip_cmsg_recv, then put_cmsg of
// IP_RECVERR) emit them.
func (m *Msghdr) encodeControl() {
	m.Controllen = 0
	if m.Control == nil {
		return
	}
	m.encodeTimestamps()
	if m.HasRxqOvfl {
		var d [4]byte
		binary.LittleEndian.PutUint32(d[:], m.RxqOvfl)
		m.putCmsg(SolSocket, SoRxqOvfl, d[:])
	}
	if m.HasPktinfo {
		var d [SizeofInPktinfo]byte
		binary.LittleEndian.PutUint32(d[0:], uint32(int32(m.Pktinfo.Ifindex)))
		sd, a := m.Pktinfo.SpecDst.As4(), m.Pktinfo.Addr.As4()
		copy(d[4:8], sd[:])
		copy(d[8:12], a[:])
		m.putCmsg(SolIP, IPPktinfo, d[:])
	}
	if m.HasRecvErr {
		// struct { struct sock_extended_err ee; struct sockaddr_in offender; }
		d := make([]byte, SizeofSockExtendedErr, SizeofSockExtendedErr+SizeofSockaddrIn)
		e := m.RecvErr
		binary.LittleEndian.PutUint32(d[0:], e.Errno)
		d[4], d[5], d[6], d[7] = e.Origin, e.Type, e.Code, e.Pad
		binary.LittleEndian.PutUint32(d[8:], e.Info)
		binary.LittleEndian.PutUint32(d[12:], e.Data)
		d = append(d, m.Offender.marshal()...)
		m.putCmsg(SolIP, IPRecverr, d)
	}
}
