package socket

import (
	"encoding/binary"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/packet"
)

// Packet socket constants (include/uapi/linux/if_packet.h, if_ether.h).
const (
	AFPacket = packet.AFPacket

	SolPacket = packet.SolPacket

	PacketStatistics     = packet.PacketStatistics
	PacketAuxdata        = packet.PacketAuxdata
	PacketOrigdev        = packet.PacketOrigdev
	PacketIgnoreOutgoing = packet.PacketIgnoreOutgoing

	// EthPAll is ETH_P_ALL in host order; socket(2) and sockaddr_ll take
	// it in network order: Htons(EthPAll).
	EthPAll = packet.EthPAll

	// SizeofSockaddrLL is sizeof(struct sockaddr_ll).
	SizeofSockaddrLL = packet.SizeofSockaddrLL
	// SizeofTpacketAuxdata is sizeof(struct tpacket_auxdata).
	SizeofTpacketAuxdata = packet.SizeofAuxdata
)

// Packet types (sll_pkttype).
const (
	PacketHost      = packet.PacketHost
	PacketBroadcast = packet.PacketBroadcast
	PacketMulticast = packet.PacketMulticast
	PacketOtherHost = packet.PacketOtherHost
	PacketOutgoing  = packet.PacketOutgoing
)

// tpacket_auxdata.tp_status bits.
const (
	TPStatusUser          = packet.TPStatusUser
	TPStatusCsumNotReady  = packet.TPStatusCsumNotReady
	TPStatusVlanValid     = packet.TPStatusVlanValid
	TPStatusVlanTPIDValid = packet.TPStatusVlanTPIDValid
	TPStatusCsumValid     = packet.TPStatusCsumValid
)

// Htons is htons(3), for protocol numbers.
func Htons(v uint16) uint16 { return packet.Htons(v) }

// SockaddrLL is struct sockaddr_ll. Protocol is in network byte order,
// as in Linux (Htons(0x0800) for IPv4).
type SockaddrLL = packet.Sockaddr

// TpacketAuxdata is struct tpacket_auxdata.
type TpacketAuxdata = packet.Auxdata

// TpacketStats is struct tpacket_stats.
type TpacketStats = packet.Stats

// PacketFilter stands in for an attached socket filter: it gets the
// frame as the socket would queue it and returns the bytes to keep, 0
// to refuse the frame (not counted as a drop).
type PacketFilter = packet.Filter

// PacketMsghdr is what RecvMsg on a packet socket fills besides the data.
type PacketMsghdr struct {
	// Name is the sockaddr_ll of the frame; Namelen is
	// SizeofSockaddrLL.
	Name    SockaddrLL
	Namelen int
	Flags   int
	// PACKET_AUXDATA.
	HasAuxdata bool
	Auxdata    TpacketAuxdata
	// SO_RXQ_OVFL: present when on and the drop count is non-zero.
	HasRxqOvfl bool
	RxqOvfl    uint32
	// Stamp is when packet_rcv queued the frame: CLOCK_REALTIME in ns
	// (ktime_get_real), the clock of SO_TIMESTAMP.
	Stamp int64
	// Control, if non-nil, receives the control messages as Linux
	// encodes them (see Msghdr.Control); Controllen the bytes used.
	Control    []byte
	Controllen int

	origlen int
}

// PacketSocket is an AF_PACKET socket (SOCK_RAW or SOCK_DGRAM). Its
// calls mirror the system calls, with Linux's errnos as syscall.Errno;
// ReadFrame and WriteFrame are the Go-style calls for programs.
type PacketSocket struct {
	sk       *packet.Sock
	nonblock atomic.Bool
	rcvtimeo atomic.Int64 // ns; −1 infinite
	rdl      atomic.Int64 // read deadline (UnixNano); 0 none

	file
}

// newPacket is socket(AF_PACKET, typ, proto): proto is the protocol in
// network byte order, as socket(2) takes it (Htons(EthPAll) for every
// frame, 0 for none until Bind). SOCK_NONBLOCK in typ sets O_NONBLOCK.
func newPacket(t *packet.Table, typ, proto int) (*PacketSocket, error) {
	typ, nb, err := sockType(AFPacket, typ)
	if err != nil {
		return nil, err
	}
	sk, rc := t.Create(typ, uint16(proto))
	if rc < 0 {
		return nil, syscall.Errno(-rc)
	}
	s := &PacketSocket{sk: sk}
	s.nonblock.Store(nb)
	s.rcvtimeo.Store(-1)
	return s, nil
}

// put is fdput: the last reference of a closed socket releases it.
func (s *PacketSocket) put() {
	if s.file.put() {
		s.sk.Release()
	}
}

// SetNonblock sets O_NONBLOCK.
func (s *PacketSocket) SetNonblock(on bool) { s.nonblock.Store(on) }

// SetFilter attaches a filter (nil detaches it).
func (s *PacketSocket) SetFilter(f PacketFilter) { s.sk.SetFilter(f) }

// Bind is bind(2) with a sockaddr_ll: the interface (0: all) and the
// protocol (0: keep the socket's).
func (s *PacketSocket) Bind(sa *SockaddrLL) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	return errno(s.sk.Bind(sa))
}

// Getsockname is getsockname(2): the bound interface and protocol, and
// the interface's hardware address.
func (s *PacketSocket) Getsockname() (SockaddrLL, error) {
	if !s.get() {
		return SockaddrLL{}, syscall.EBADF
	}
	defer s.put()
	sa, _ := s.sk.Getname()
	return sa, nil
}

// Connect is connect(2): packet sockets have none (sock_no_connect).
func (s *PacketSocket) Connect() error { return syscall.EOPNOTSUPP }

// Shutdown is shutdown(2): packet sockets have none (sock_no_shutdown).
func (s *PacketSocket) Shutdown(how int) error { return syscall.EOPNOTSUPP }

// RecvFrom is recvfrom(2); from, if non-nil, receives the sockaddr_ll.
func (s *PacketSocket) RecvFrom(p []byte, flags int, from *SockaddrLL) (int, error) {
	var m PacketMsghdr
	n, err := s.recv(p, flags, &m, false)
	if err == nil && from != nil {
		*from = m.Name
	}
	return n, err
}

// RecvMsg is recvmsg(2) with typed control data, also encoded into
// m.Control when that is given.
func (s *PacketSocket) RecvMsg(p []byte, flags int, m *PacketMsghdr) (int, error) {
	if m == nil {
		m = new(PacketMsghdr)
	}
	return s.recv(p, flags, m, false)
}

func (s *PacketSocket) recv(p []byte, flags int, m *PacketMsghdr, goAPI bool) (int, error) {
	if !s.get() {
		return 0, syscall.EBADF
	}
	defer s.put()
	o := packet.RecvOpts{Flags: flags, Timeo: s.rcvtimeo.Load()}
	if s.nonblock.Load() {
		o.Timeo = 0
	}
	if goAPI {
		if d := s.rdl.Load(); d != 0 {
			left := time.Until(time.Unix(0, d))
			if left <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			if o.Timeo < 0 || int64(left) < o.Timeo {
				o.Timeo = int64(left)
			}
		}
		o.Abort = func() int {
			if s.closed.Load() {
				return errClosed
			}
			if d := s.rdl.Load(); d != 0 && time.Now().UnixNano() >= d {
				return -packet.ETIMEDOUT
			}
			return 0
		}
	}
	var msg packet.Msg
	rc := s.sk.Recvmsg(p, o, &msg)
	if rc < 0 {
		if goAPI && (rc == -packet.EAGAIN || rc == -packet.ETIMEDOUT) && !s.nonblock.Load() {
			return 0, os.ErrDeadlineExceeded
		}
		return 0, syscall.Errno(-rc)
	}
	m.Name, m.Namelen, m.Flags = msg.Name, msg.Namelen, msg.Flags
	m.HasAuxdata, m.Auxdata = msg.HasAuxdata, msg.Auxdata
	m.HasRxqOvfl, m.RxqOvfl = msg.HasRxqOvfl, msg.RxqOvfl
	m.Stamp = msg.Tstamp
	m.origlen = msg.Origlen
	m.encodeControl()
	return rc, nil
}

// encodeControl writes the control messages in packet_recvmsg's order:
// sock_recv_cmsgs (SO_RXQ_OVFL), then PACKET_AUXDATA.
func (m *PacketMsghdr) encodeControl() {
	m.Controllen = 0
	if m.Control == nil {
		return
	}
	// Reuse Msghdr's put_cmsg.
	h := Msghdr{Control: m.Control, Flags: m.Flags}
	if m.HasRxqOvfl {
		var d [4]byte
		binary.LittleEndian.PutUint32(d[:], m.RxqOvfl)
		h.putCmsg(SolSocket, SoRxqOvfl, d[:])
	}
	if m.HasAuxdata {
		h.putCmsg(SolPacket, PacketAuxdata, m.Auxdata.Marshal())
	}
	m.Controllen, m.Flags = h.Controllen, h.Flags
}

// SendTo is sendto(2): to nil sends on the bound interface with the
// socket's protocol. SOCK_RAW sends p as the whole frame; SOCK_DGRAM
// adds the Ethernet header to to.Addr with EtherType to.Protocol.
func (s *PacketSocket) SendTo(p []byte, flags int, to *SockaddrLL) (int, error) {
	if !s.get() {
		return 0, syscall.EBADF
	}
	defer s.put()
	rc := s.sk.Sendmsg(p, to)
	if rc < 0 {
		return 0, syscall.Errno(-rc)
	}
	return rc, nil
}

// Close is close(2) (see Socket.Close); blocked Go-API reads return
// net.ErrClosed.
func (s *PacketSocket) Close() error {
	last, err := s.file.close()
	if err != nil {
		return err
	}
	if last {
		s.sk.Release()
	} else {
		s.sk.WakeAll()
	}
	return nil
}

// Interrupt delivers a signal without SA_RESTART to the receives in
// progress, as Socket.Interrupt does: blocked or about to block, they
// return EINTR.
func (s *PacketSocket) Interrupt() { s.sk.Interrupt() }

// Ioctl handles FIONREAD/SIOCINQ: the length of the next frame.
func (s *PacketSocket) Ioctl(req int) (int, error) {
	if !s.get() {
		return 0, syscall.EBADF
	}
	defer s.put()
	switch req {
	case FIONREAD:
		return s.sk.Inq(), nil
	case SIOCOUTQ:
		return 0, nil
	}
	return 0, syscall.ENOTTY
}

// SetsockoptInt is setsockopt(2) for integer options: PACKET_AUXDATA,
// PACKET_ORIGDEV, PACKET_IGNORE_OUTGOING, SO_RCVBUF and SO_RXQ_OVFL.
func (s *PacketSocket) SetsockoptInt(level, name, v int) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	sk := s.sk
	switch level {
	case SolPacket:
		switch name {
		case PacketAuxdata:
			sk.SetAuxdata(v != 0)
		case PacketOrigdev:
			sk.SetOrigdev(v != 0)
		case PacketIgnoreOutgoing:
			if v < 0 || v > 1 {
				return syscall.EINVAL
			}
			sk.SetIgnoreOutgoing(v != 0)
		default:
			return syscall.ENOPROTOOPT
		}
		return nil
	case SolSocket:
		switch name {
		case SoRcvbuf:
			sk.SetRcvbuf(int32(v))
		case SoRxqOvfl:
			sk.SetRxqOvfl(v != 0)
		default:
			return syscall.ENOPROTOOPT
		}
		return nil
	}
	return syscall.ENOPROTOOPT
}

// GetsockoptInt is getsockopt(2) for integer options.
func (s *PacketSocket) GetsockoptInt(level, name int) (int, error) {
	if !s.get() {
		return 0, syscall.EBADF
	}
	defer s.put()
	sk := s.sk
	switch level {
	case SolPacket:
		switch name {
		case PacketAuxdata:
			return b2i(sk.Auxdata()), nil
		case PacketOrigdev:
			return b2i(sk.Origdev()), nil
		case PacketIgnoreOutgoing:
			return b2i(sk.IgnoreOutgoing()), nil
		}
	case SolSocket:
		switch name {
		case SoRcvbuf:
			return sk.Rcvbuf(), nil
		case SoRxqOvfl:
			return b2i(sk.RxqOvfl()), nil
		case SoType:
			return sk.Type(), nil
		case SoProtocol:
			// packet_create never sets sk_protocol: the protocol is
			// po->num, which only getsockname shows.
			return 0, nil
		case SoDomain:
			return AFPacket, nil
		}
	}
	return 0, syscall.ENOPROTOOPT
}

// Statistics is getsockopt(SOL_PACKET, PACKET_STATISTICS): the frames
// and drops since the last call, which it resets; Packets counts the
// drops too, as Linux reports it.
func (s *PacketSocket) Statistics() (TpacketStats, error) {
	if !s.get() {
		return TpacketStats{}, syscall.EBADF
	}
	defer s.put()
	return s.sk.Statistics(), nil
}

// SetsockoptTimeval sets SO_RCVTIMEO (see Socket.SetsockoptTimeval).
func (s *PacketSocket) SetsockoptTimeval(level, name int, tv Timeval) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	if level != SolSocket || name != SoRcvtimeo {
		return syscall.ENOPROTOOPT
	}
	v, err := TimevalToTimeout(tv)
	if err != nil {
		return err
	}
	s.rcvtimeo.Store(v)
	return nil
}

// FrameInfo describes a frame ReadFrame returned.
type FrameInfo struct {
	// Interface is the index of the interface it was received or sent on.
	Interface int
	// Type is PacketHost, PacketBroadcast, PacketMulticast,
	// PacketOtherHost or PacketOutgoing.
	Type uint8
	// EtherType is the frame's protocol, in host order.
	EtherType uint16
	// Source is the Ethernet source address.
	Source net.HardwareAddr
	// Len is the frame's length before any truncation (by p's size or
	// a filter's snap length).
	Len int
	// Time is when the stack queued it (CLOCK_REALTIME).
	Time time.Time
	// VLAN is the 802.1Q tag taken out of the frame, when HasVLAN.
	VLAN    uint16
	HasVLAN bool
}

// ReadFrame reads the next frame into p, blocking until one arrives,
// the read deadline passes (os.ErrDeadlineExceeded) or the socket is
// closed (net.ErrClosed). A frame longer than p is cut to len(p); info.Len
// says how long it was.
func (s *PacketSocket) ReadFrame(p []byte) (int, FrameInfo, error) {
	var m PacketMsghdr
	n, err := s.recv(p, MsgTrunc, &m, true)
	if err != nil {
		if s.closed.Load() {
			err = net.ErrClosed
		}
		return 0, FrameInfo{}, err
	}
	info := FrameInfo{Interface: int(m.Name.Ifindex), Type: m.Name.Pkttype,
		EtherType: Htons(m.Name.Protocol), Len: m.origlen, Time: time.Unix(0, m.Stamp)}
	if m.Name.Halen > 0 {
		info.Source = net.HardwareAddr(append([]byte(nil), m.Name.Addr[:m.Name.Halen]...))
	}
	return min(n, len(p)), info, nil
}

// WriteFrame sends p as a whole Ethernet frame (SOCK_RAW) on the bound
// interface.
func (s *PacketSocket) WriteFrame(p []byte) (int, error) { return s.SendTo(p, 0, nil) }

// SetReadDeadline sets the deadline of ReadFrame and wakes a blocked one.
func (s *PacketSocket) SetReadDeadline(t time.Time) error {
	s.rdl.Store(dlNanos(t))
	s.sk.WakeAll()
	return nil
}
