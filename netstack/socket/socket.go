// Package socket is the BSD socket API of kaidoku for programs in the
// image: the syscall layer of net/socket.c and the inet/UDP option
// handling of net/core/sock.c, net/ipv4/af_inet.c and
// net/ipv4/ip_sockglue.c, over the udp package's protocol operations.
//
// Calls return Linux errnos as syscall.Errno (under GOOS=tamago the
// syscall package has the same numbers). Blocking calls park the
// goroutine on the socket's wait queue and wake on sk_data_ready; there
// is no polling. A Socket also implements net.PacketConn and net.Conn,
// so the image can hand it to the standard library through net.SocketFunc.
// Sockets are made by netstack's Stack.Socket (socket(2)).
//
// Receive timestamps (SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING with
// software receive stamps) come as Linux's control messages and as
// Msghdr's typed fields; Msghdr.RxTimestamp reads them as a time.Time.
// Where and when the stack stamps, on which clock, and how the options
// combine is described at SoTimestamp.
package socket

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/packet"
	"github.com/kaidoku-net/kaidoku/netstack/internal/sockets"
	"github.com/kaidoku-net/kaidoku/netstack/internal/udp"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// Linux socket constants (numbers as on x86_64).
const (
	AFUnspec = 0
	AFInet   = 2
	AFInet6  = 10

	SockStream   = 1
	SockDgram    = 2
	SockRaw      = 3
	SockNonblock = 0x800
	SockCloexec  = 0x80000

	IPProtoIP  = 0
	IPProtoUDP = 17

	SolSocket = 1
	SolIP     = 0

	SoReuseaddr    = 2
	SoType         = 3
	SoError        = 4
	SoBroadcast    = 6
	SoSndbuf       = 7
	SoRcvbuf       = 8
	SoReuseport    = 15
	SoRcvtimeo     = 20
	SoSndtimeo     = 21
	SoBindtodevice = 25
	SoRcvbufforce  = 33
	SoRxqOvfl      = 40
	SoPeekOff      = 42
	SoIncomingCPU  = 49
	SoProtocol     = 38
	SoDomain       = 39

	IPTos               = 1
	IPTTL               = 2
	IPPktinfo           = 8
	IPMTUDiscover       = 10
	IPRecverr           = 11
	IPFreebind          = 15
	IPMulticastIf       = 32
	IPMulticastTTL      = 33
	IPMulticastLoop     = 34
	IPAddMembership     = 35
	IPDropMembership    = 36
	IPMulticastAll      = 49
	IPBindAddressNoPort = 24

	MsgPeek     = udp.MsgPeek
	MsgCtrunc   = udp.MsgCtrunc
	MsgTrunc    = udp.MsgTrunc
	MsgDontwait = udp.MsgDontwait
	MsgErrqueue = udp.MsgErrqueue

	ShutRd   = 0
	ShutWr   = 1
	ShutRdwr = 2

	FIONREAD = 0x541b
	SIOCINQ  = FIONREAD
	SIOCOUTQ = 0x5411

	PollIn     = udp.PollIn
	PollPri    = udp.PollPri
	PollOut    = udp.PollOut
	PollErr    = udp.PollErr
	PollHup    = udp.PollHup
	PollRdnorm = udp.PollRdnorm
	PollWrnorm = udp.PollWrnorm
	PollRdhup  = udp.PollRdhup

	SoEeOriginICMP = udp.SoEeOriginICMP
)

// Sockaddr is struct sockaddr_in: family, port and address in host
// terms. Family AF_UNSPEC in Connect disconnects.
type Sockaddr struct {
	Family uint16
	Port   uint16
	Addr   [4]byte
}

// SockaddrLen is sizeof(struct sockaddr_in), the addrlen recvfrom stores.
const SockaddrLen = 16

// Timeval is struct timeval (SO_RCVTIMEO).
type Timeval struct {
	Sec  int64
	Usec int64
}

// IPMreqn is struct ip_mreqn (IP_ADD_MEMBERSHIP/IP_DROP_MEMBERSHIP; an
// ip_mreq is the same with Ifindex 0).
type IPMreqn struct {
	Multiaddr [4]byte
	Address   [4]byte
	Ifindex   int
}

// Msghdr is what RecvMsg fills besides the data: msg_name,
// msg_namelen, msg_flags and the control messages, both typed and, when
// Control is given, encoded as Linux encodes them.
type Msghdr struct {
	// Name is msg_name; it is written only when Namelen is non-zero.
	Name Sockaddr
	// Namelen is msg_namelen: SockaddrLen, or 0 when no address is
	// returned (nothing received after SHUT_RD, or an error-queue entry
	// without a port).
	Namelen int
	Flags   int
	// SO_RXQ_OVFL: present only when the drop count sampled at enqueue
	// was non-zero.
	HasRxqOvfl bool
	RxqOvfl    uint32
	// IP_PKTINFO.
	HasPktinfo bool
	Pktinfo    udp.Pktinfo
	// IP_RECVERR, on a message read with MSG_ERRQUEUE: the
	// sock_extended_err and the offender (SO_EE_OFFENDER), the host that
	// sent the ICMP error.
	HasRecvErr bool
	RecvErr    ExtendedErr
	Offender   Sockaddr
	// Receive timestamps (SO_TIMESTAMP, SO_TIMESTAMPNS,
	// SO_TIMESTAMPING; see SoTimestamp), ns of CLOCK_REALTIME.
	// TstampType is the cmsg_type of the SCM_TIMESTAMP or
	// SCM_TIMESTAMPNS message (SoTimestamp, SoTimestampns or their
	// _NEW numbers), 0 for none, and Tstamp its time. TimestampingType
	// is SCM_TIMESTAMPING's (SoTimestamping or SoTimestampingNew), 0
	// for none, and Timestamping its three stamps: [0] software, [2]
	// hardware (always 0). RxTimestamp reads them as a time.Time.
	TstampType       int
	Tstamp           int64
	TimestampingType int
	Timestamping     [3]int64
	// Control, if non-nil, is msg_control: the control messages are
	// encoded into it byte for byte as Linux's put_cmsg does on x86_64
	// (MSG_CTRUNC in Flags when they do not fit), and Controllen is set
	// to the bytes used. With Control nil only the typed fields are
	// filled and MSG_CTRUNC is never set.
	Control    []byte
	Controllen int
}

// ExtendedErr is struct sock_extended_err.
type ExtendedErr = udp.ExtendedErr

// Socket is one open UDP socket: a struct socket and the file that
// holds it.
//
// Close follows close(2): the descriptor goes at once (later calls get
// EBADF) but the socket lives until the last call still using it
// returns, as the file reference a blocked system call holds keeps it
// alive in Linux: a blocked RecvFrom keeps waiting and still receives
// datagrams, and only when it returns is the socket released (unhashed,
// its queues purged). The net.Conn and net.PacketConn methods instead
// behave as Go's own sockets: Close unblocks them with net.ErrClosed.
type Socket struct {
	sk       *udp.Sock
	u        *udp.UDP
	nonblock atomic.Bool
	rcvtimeo atomic.Int64 // ns; −1 infinite (MAX_SCHEDULE_TIMEOUT)
	sndtimeo atomic.Int64
	rdl      atomic.Int64 // read deadline, UnixNano of time.Time; 0 none
	wdl      atomic.Int64

	file
}

// put is fdput: the last reference of a closed socket releases it
// (sock_close).
func (s *Socket) put() {
	if s.file.put() {
		s.sk.Close()
	}
}

func errno(rc int) error {
	if rc >= 0 {
		return nil
	}
	return syscall.Errno(-rc)
}

func init() {
	sockets.New = func(u *udp.UDP, domain, typ, proto int, uid uint32) (any, error) {
		s, err := newSocket(u, domain, typ, proto, uid)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	sockets.Sock = func(s any) *udp.Sock { return s.(*Socket).sk }
	sockets.NewPacket = func(t *packet.Table, typ, proto int) (any, error) {
		s, err := newPacket(t, typ, proto)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	sockets.PacketSock = func(s any) *packet.Sock { return s.(*PacketSocket).sk }
}

// socket(2)'s type argument: the type in the low bits, the flags above.
const (
	sockTypeMask = 0xf
	sockMax      = 11 // SOCK_PACKET + 1
	nproto       = 46 // AF_MAX in v6.8
)

// sockType is the checks socket(2) makes before any family sees the
// call (__sys_socket_create, then __sock_create): a flag other than
// SOCK_NONBLOCK and SOCK_CLOEXEC is EINVAL, a family beyond AF_MAX
// EAFNOSUPPORT, a type beyond SOCK_PACKET EINVAL. It returns the type
// without its flags and whether SOCK_NONBLOCK was given.
func sockType(domain, typ int) (int, bool, error) {
	if typ&^sockTypeMask&^(SockNonblock|SockCloexec) != 0 {
		return 0, false, syscall.EINVAL
	}
	if domain < 0 || domain >= nproto {
		return 0, false, syscall.EAFNOSUPPORT
	}
	if t := typ & sockTypeMask; t < sockMax {
		return t, typ&SockNonblock != 0, nil
	}
	return 0, false, syscall.EINVAL
}

// newSocket is socket(2): only AF_INET datagram sockets with protocol 0
// or IPPROTO_UDP exist. SOCK_NONBLOCK in typ sets O_NONBLOCK. Programs
// reach it through netstack's Stack.Socket (package sockets).
func newSocket(u *udp.UDP, domain, typ, proto int, uid uint32) (*Socket, error) {
	typ, nb, err := sockType(domain, typ)
	if err != nil {
		return nil, err
	}
	if domain != AFInet {
		return nil, syscall.EAFNOSUPPORT
	}
	switch typ {
	case SockDgram:
	case SockStream:
		return nil, ErrTCPNotSupported
	default:
		return nil, syscall.ESOCKTNOSUPPORT
	}
	if proto != 0 && proto != IPProtoUDP {
		return nil, syscall.EPROTONOSUPPORT
	}
	s := &Socket{sk: u.NewSock(uid), u: u}
	s.sk.ReadDeadline = s.goReadDeadline
	s.rcvtimeo.Store(-1)
	s.sndtimeo.Store(-1)
	s.nonblock.Store(nb)
	return s, nil
}

// ErrTCPNotSupported is returned for stream sockets: kaidoku has no TCP.
var ErrTCPNotSupported = &notSupported{}

type notSupported struct{}

// Error implements error.
func (*notSupported) Error() string { return "kaidoku: TCP is not supported (UDP only)" }

// Unwrap makes errors.Is(err, syscall.EPROTONOSUPPORT) hold.
func (*notSupported) Unwrap() error { return syscall.EPROTONOSUPPORT }

// SetNonblock sets O_NONBLOCK.
func (s *Socket) SetNonblock(on bool) { s.nonblock.Store(on) }

// Bind is bind(2).
func (s *Socket) Bind(sa *Sockaddr) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	if sa == nil {
		return syscall.EINVAL
	}
	return errno(s.sk.Bind(int(sa.Family), wire.AddrFrom4(sa.Addr), sa.Port))
}

// Connect is connect(2); Family AF_UNSPEC dissolves the association.
func (s *Socket) Connect(sa *Sockaddr) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	if sa == nil {
		return syscall.EINVAL
	}
	return errno(s.sk.Connect(int(sa.Family), wire.AddrFrom4(sa.Addr), sa.Port))
}

// timeo is sock_rcvtimeo: 0 for O_NONBLOCK or MSG_DONTWAIT, else
// SO_RCVTIMEO (−1: no limit). The udp layer starts it afresh at each
// __skb_recv_udp, as Linux does. Go's read deadline is applied there
// too, through Sock.ReadDeadline, so that a change unblocks a sleeping
// reader.
func (s *Socket) timeo(flags int) int64 {
	if flags&MsgDontwait != 0 || s.nonblock.Load() {
		return 0
	}
	return s.rcvtimeo.Load()
}

// goReadDeadline converts the Go read deadline to the stack clock.
func (s *Socket) goReadDeadline() int64 {
	d := s.rdl.Load()
	if d == 0 {
		return -1
	}
	return s.u.IP().Clock().Now() + int64(time.Until(time.Unix(0, d)))
}

// RecvFrom is recvfrom(2). from, if non-nil, receives the source address
// (sin_zero zero); it is left alone when no address is returned (addrlen
// 0 in Linux: nothing received after SHUT_RD). It returns the byte count
// (the full datagram length when flags has MSG_TRUNC).
func (s *Socket) RecvFrom(p []byte, flags int, from *Sockaddr) (int, error) {
	var m Msghdr
	n, err := s.recv(p, flags, &m, false, 0)
	if err == nil && from != nil && m.Namelen != 0 {
		*from = m.Name
	}
	return n, err
}

// RecvMsg is recvmsg(2) with typed control data, also encoded into
// m.Control when that is given. With MSG_ERRQUEUE it reads the socket's
// error queue (IP_RECVERR): the data is the payload the ICMP error
// quoted after the UDP header, the name the original destination, and
// the control data an IP_RECVERR message.
func (s *Socket) RecvMsg(p []byte, flags int, m *Msghdr) (int, error) {
	if m == nil {
		m = new(Msghdr)
	}
	return s.recv(p, flags, m, false, 0)
}

// errClosed is the errno a Go-API receive ends with when Close unblocks
// it; opErr turns it into net.ErrClosed.
const errClosed = -udp.EBADF

// recv is one receive; signals is the socket's interrupt count when the
// system call began (0: now; recvmmsg passes its own, so that an
// Interrupt between two of its receives is not lost).
func (s *Socket) recv(p []byte, flags int, m *Msghdr, goAPI bool, signals uint64) (int, error) {
	if !s.get() {
		return 0, syscall.EBADF
	}
	defer s.put()
	if d := s.rdl.Load(); d != 0 && time.Now().UnixNano() >= d {
		return 0, os.ErrDeadlineExceeded
	}
	o := udp.RecvOpts{Flags: flags, Timeo: s.timeo(flags), Signals: signals}
	if goAPI {
		o.Abort = func() int {
			if s.closed.Load() {
				return errClosed
			}
			return 0
		}
	}
	var msg udp.Msg
	rc := s.sk.Recvmsg(p, o, &msg)
	if rc < 0 {
		if rc == -udp.ETIMEDOUT {
			return 0, os.ErrDeadlineExceeded
		}
		return 0, syscall.Errno(-rc)
	}
	m.Namelen = msg.Namelen
	if msg.Namelen != 0 {
		m.Name = Sockaddr{Family: AFInet, Port: msg.FromPort, Addr: msg.From.As4()}
	}
	m.Flags = msg.Flags
	m.HasRxqOvfl, m.RxqOvfl = msg.HasRxqOvfl, msg.RxqOvfl
	m.HasPktinfo, m.Pktinfo = msg.HasPktinfo, msg.Pktinfo
	m.HasRecvErr, m.RecvErr = msg.HasRecvErr, msg.RecvErr
	m.TstampType, m.Tstamp = msg.TstampType, msg.Tstamp
	m.TimestampingType, m.Timestamping = msg.TimestampingType, msg.Timestamping
	m.Offender = Sockaddr{}
	if msg.HasRecvErr {
		// ipv4_datagram_support_cmsg: an ICMP-origin error names its
		// sender.
		m.Offender = Sockaddr{Family: AFInet, Addr: msg.Offender.As4()}
	}
	m.encodeControl()
	return rc, nil
}

// SendTo is sendto(2); to nil sends to the connected peer.
func (s *Socket) SendTo(p []byte, flags int, to *Sockaddr) (int, error) {
	if !s.get() {
		return 0, syscall.EBADF
	}
	defer s.put()
	var o udp.SendOpts
	if to != nil {
		o.Name = &udp.Sockaddr{Family: int(to.Family), Addr: wire.AddrFrom4(to.Addr), Port: to.Port}
	}
	rc := s.sk.Sendmsg(p, o)
	if rc < 0 {
		return 0, syscall.Errno(-rc)
	}
	return rc, nil
}

// Send is send(2) on a connected socket.
func (s *Socket) Send(p []byte, flags int) (int, error) { return s.SendTo(p, flags, nil) }

// Shutdown is shutdown(2).
func (s *Socket) Shutdown(how int) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	return errno(s.sk.Shutdown(how))
}

// Close is close(2): the descriptor is gone; the socket is released now,
// or when the last call still using it returns (see Socket). Goroutines
// blocked in the net.Conn and net.PacketConn methods are woken and
// return net.ErrClosed.
func (s *Socket) Close() error {
	last, err := s.file.close()
	if err != nil {
		return err
	}
	if last {
		s.sk.Close()
	} else {
		s.sk.WakeAll()
	}
	return nil
}

// Interrupt delivers a signal without SA_RESTART to the calls in
// progress on this socket: those blocked, and those that would block
// next (a signal stays pending until the wait checks it), return EINTR;
// a call that begins after it is not affected.
func (s *Socket) Interrupt() { s.sk.Interrupt() }

// Ioctl handles FIONREAD/SIOCINQ (the first good datagram's length) and
// SIOCOUTQ (always 0: sends complete synchronously).
func (s *Socket) Ioctl(req int) (int, error) {
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

// Poll is poll(2) on this socket: events is a POLL* mask; timeout < 0
// waits forever, 0 does not wait. The returned mask follows udp_poll,
// including the blocking-file rule for bad-checksum datagrams.
func (s *Socket) Poll(events int, timeout time.Duration) (int, error) {
	if !s.get() {
		return 0, syscall.EBADF
	}
	defer s.put()
	dl := int64(-1)
	if timeout >= 0 {
		dl = s.u.IP().Clock().Now() + int64(timeout)
	}
	mask, rc := s.sk.Poll(udp.PollOpts{Events: events, Blocking: !s.nonblock.Load(), Wait: timeout != 0, Deadline: dl})
	if rc < 0 {
		return 0, syscall.Errno(-rc)
	}
	return mask, nil
}

// Waiters returns the number of goroutines blocked on the socket.
func (s *Socket) Waiters() int { return s.sk.Waiters() }

// SetsockoptInt is setsockopt(2) for integer options.
func (s *Socket) SetsockoptInt(level, name, v int) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	sk := s.sk
	on := v != 0
	switch level {
	case SolSocket:
		switch name {
		case SoReuseaddr:
			sk.SetReuseAddr(on)
		case SoReuseport:
			sk.SetReusePort(on)
		case SoBroadcast:
			sk.SetBroadcast(on)
		case SoRcvbuf:
			return errno(sk.SetRcvbuf(int32(v), false))
		case SoRcvbufforce:
			return errno(sk.SetRcvbuf(int32(v), true))
		case SoRxqOvfl:
			sk.SetRxqOvfl(on)
		case SoPeekOff:
			sk.SetPeekOff(int32(v))
		case SoIncomingCPU:
			sk.SetIncomingCPU(int32(v))
		case SoSndbuf:
		default:
			if ok, err := s.setsockoptTimestamp(name, v); ok {
				return err
			}
			return syscall.ENOPROTOOPT
		}
		return nil
	case SolIP:
		switch name {
		case IPPktinfo:
			sk.SetPktinfo(on)
		case IPRecverr:
			sk.SetRecvErr(on)
		case IPFreebind:
			sk.SetFreebind(on)
		case IPMulticastAll:
			sk.SetMulticastAll(on)
		case IPTTL:
			return errno(sk.SetTTL(v))
		case IPTos:
			sk.SetTOS(uint8(v))
		case IPMulticastTTL:
			return errno(sk.SetMulticastTTL(v))
		case IPMulticastLoop:
			sk.SetMulticastLoop(on)
		case IPMulticastIf:
			// By interface index; an index no device has is
			// EADDRNOTAVAIL, as ip_setsockopt finds none.
			if v != 0 && s.u.IP().DevGetByIndex(v) == nil {
				return syscall.EADDRNOTAVAIL
			}
			sk.SetMulticastIf(v)
		case IPMTUDiscover:
			return errno(sk.SetPMTUDisc(v))
		case IPBindAddressNoPort:
			sk.SetBindAddressNoPort(on)
		default:
			return syscall.ENOPROTOOPT
		}
		return nil
	}
	return syscall.ENOPROTOOPT
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// GetsockoptInt is getsockopt(2) for integer options. SO_ERROR returns
// and clears the pending error.
func (s *Socket) GetsockoptInt(level, name int) (int, error) {
	if !s.get() {
		return 0, syscall.EBADF
	}
	defer s.put()
	sk := s.sk
	switch level {
	case SolSocket:
		switch name {
		case SoReuseaddr:
			return b2i(sk.ReuseAddr()), nil
		case SoReuseport:
			return b2i(sk.ReusePort()), nil
		case SoBroadcast:
			return b2i(sk.Broadcast()), nil
		case SoRcvbuf:
			return sk.Rcvbuf(), nil
		case SoRxqOvfl:
			return b2i(sk.RxqOvfl()), nil
		case SoPeekOff:
			return int(sk.PeekOff()), nil
		case SoIncomingCPU:
			return int(sk.IncomingCPU()), nil
		case SoType:
			return SockDgram, nil
		case SoProtocol:
			return IPProtoUDP, nil
		case SoDomain:
			return AFInet, nil
		case SoError:
			return sk.TakeError(), nil
		case SoBindtodevice:
			return sk.BoundDev(), nil
		}
		if v, ok := s.getsockoptTimestamp(name); ok {
			return v, nil
		}
	case SolIP:
		switch name {
		case IPPktinfo:
			return b2i(sk.Pktinfo()), nil
		case IPRecverr:
			return b2i(sk.RecvErr()), nil
		case IPFreebind:
			return b2i(sk.Freebind()), nil
		case IPMulticastAll:
			return b2i(sk.MulticastAll()), nil
		case IPMulticastLoop:
			return b2i(sk.MulticastLoop()), nil
		case IPTTL:
			return sk.TTL(), nil
		}
	}
	return 0, syscall.ENOPROTOOPT
}

// SetsockoptTimeval sets SO_RCVTIMEO or SO_SNDTIMEO with Linux's
// conversion (sock.c: sock_set_timeout): tv_usec outside [0, 10⁶) is
// EDOM, a negative tv_sec means non-blocking (0), {0, 0} means forever,
// anything else is rounded up to whole jiffies (ms).
func (s *Socket) SetsockoptTimeval(level, name int, tv Timeval) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	if level != SolSocket || (name != SoRcvtimeo && name != SoSndtimeo) {
		return syscall.ENOPROTOOPT
	}
	v, err := TimevalToTimeout(tv)
	if err != nil {
		return err
	}
	if name == SoRcvtimeo {
		s.rcvtimeo.Store(v)
	} else {
		s.sndtimeo.Store(v)
	}
	return nil
}

// GetsockoptTimeval reads SO_RCVTIMEO/SO_SNDTIMEO back (sock_get_timeout).
func (s *Socket) GetsockoptTimeval(level, name int) (Timeval, error) {
	if !s.get() {
		return Timeval{}, syscall.EBADF
	}
	defer s.put()
	if level != SolSocket || (name != SoRcvtimeo && name != SoSndtimeo) {
		return Timeval{}, syscall.ENOPROTOOPT
	}
	v := s.rcvtimeo.Load()
	if name == SoSndtimeo {
		v = s.sndtimeo.Load()
	}
	if v < 0 {
		return Timeval{}, nil
	}
	j := v / 1e6
	return Timeval{Sec: j / 1000, Usec: j % 1000 * 1000}, nil
}

// TimevalToTimeout is sock_set_timeout at HZ=1000: the timeout in ns
// (−1 for MAX_SCHEDULE_TIMEOUT, 0 for non-blocking) or EDOM.
func TimevalToTimeout(tv Timeval) (int64, error) {
	if tv.Usec < 0 || tv.Usec >= 1e6 {
		return 0, syscall.EDOM
	}
	if tv.Sec < 0 {
		return 0, nil
	}
	const maxSched = 1<<63 - 1
	if (tv.Sec == 0 && tv.Usec == 0) || tv.Sec >= maxSched/1000-1 {
		return -1, nil
	}
	j := tv.Sec*1000 + (tv.Usec+999)/1000
	if j > maxSched/1000000 {
		return -1, nil
	}
	return j * 1e6, nil
}

// SetsockoptString sets SO_BINDTODEVICE by interface name ("" unbinds;
// a name no device has is ENODEV), as sock_setbindtodevice looks it up
// with dev_get_by_name.
func (s *Socket) SetsockoptString(level, name int, v string) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	if level != SolSocket || name != SoBindtodevice {
		return syscall.ENOPROTOOPT
	}
	idx := 0
	if v != "" {
		d := s.u.IP().DevGetByName(v)
		if d == nil {
			return syscall.ENODEV
		}
		idx = d.Ifindex
	}
	return errno(s.sk.SetBoundDev(idx))
}

// SetsockoptIPMreqn handles IP_ADD_MEMBERSHIP and IP_DROP_MEMBERSHIP.
func (s *Socket) SetsockoptIPMreqn(level, name int, m *IPMreqn) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	if level != SolIP || m == nil {
		return syscall.ENOPROTOOPT
	}
	g, a := wire.AddrFrom4(m.Multiaddr), wire.AddrFrom4(m.Address)
	switch name {
	case IPAddMembership:
		return errno(s.sk.JoinGroup(g, a, m.Ifindex))
	case IPDropMembership:
		return errno(s.sk.LeaveGroup(g, a, m.Ifindex))
	}
	return syscall.ENOPROTOOPT
}

// net.PacketConn and net.Conn.

// ReadFrom implements net.PacketConn. A passed read deadline returns
// os.ErrDeadlineExceeded; Close, even while it is blocked, an error
// wrapping net.ErrClosed. After SHUT_RD with nothing queued it returns
// 0 and a nil address.
func (s *Socket) ReadFrom(p []byte) (int, net.Addr, error) {
	var m Msghdr
	n, err := s.recv(p, 0, &m, true, 0)
	if err != nil {
		return 0, nil, s.opErr("read", err)
	}
	if m.Namelen == 0 {
		return n, nil, nil
	}
	from := m.Name
	return n, &net.UDPAddr{IP: net.IPv4(from.Addr[0], from.Addr[1], from.Addr[2], from.Addr[3]).To4(), Port: int(from.Port)}, nil
}

// Read implements net.Conn.
func (s *Socket) Read(p []byte) (int, error) {
	var m Msghdr
	n, err := s.recv(p, 0, &m, true, 0)
	if err != nil {
		return 0, s.opErr("read", err)
	}
	return n, nil
}

// SockaddrOf is the one conversion of a Go address to the struct
// sockaddr a socket call takes, for Bind, Connect and SendTo and for
// net.SocketFunc and WriteTo. A *net.UDPAddr with an IPv4 (or
// IPv4-mapped) address is AF_INET; with no address or an unspecified one
// (0.0.0.0 or ::) it is AF_INET with INADDR_ANY, as a dual-stack socket's
// in6addr_any covers IPv4's: a bind to it is the wildcard and a datagram
// to it goes to the host itself, as one to 0.0.0.0 does in Linux. Any
// other IPv6 address becomes a sockaddr with family AF_INET6, which the
// call then refuses with EAFNOSUPPORT as Linux's __inet_bind,
// __ip4_datagram_connect (after the autobind) and udp_sendmsg refuse a
// sockaddr_in6 on an AF_INET socket. An address that is not a
// *net.UDPAddr (nil included) has no sockaddr_in: EINVAL, Linux's answer
// to an addrlen too short for one in the same three functions, and what
// Go's own UDPConn.WriteTo returns for it.
func SockaddrOf(a net.Addr) (*Sockaddr, error) {
	ua, ok := a.(*net.UDPAddr)
	if !ok || ua == nil {
		return nil, syscall.EINVAL
	}
	sa := &Sockaddr{Family: AFInet, Port: uint16(ua.Port)}
	switch ip := ua.IP; {
	case len(ip) == 0 || ip.IsUnspecified():
	case ip.To4() != nil:
		copy(sa.Addr[:], ip.To4())
	case len(ip) == net.IPv6len:
		sa.Family = AFInet6
	default:
		return nil, syscall.EINVAL
	}
	return sa, nil
}

// WriteTo implements net.PacketConn.
func (s *Socket) WriteTo(p []byte, addr net.Addr) (int, error) {
	if d := s.wdl.Load(); d != 0 && time.Now().UnixNano() >= d {
		return 0, s.opErr("write", os.ErrDeadlineExceeded)
	}
	sa, err := SockaddrOf(addr)
	if err != nil {
		return 0, s.opErr("write", err)
	}
	n, err := s.SendTo(p, 0, sa)
	if err != nil {
		return 0, s.opErr("write", err)
	}
	return n, nil
}

// Write implements net.Conn (connected sockets).
func (s *Socket) Write(p []byte) (int, error) {
	if d := s.wdl.Load(); d != 0 && time.Now().UnixNano() >= d {
		return 0, s.opErr("write", os.ErrDeadlineExceeded)
	}
	n, err := s.SendTo(p, 0, nil)
	if err != nil {
		return 0, s.opErr("write", err)
	}
	return n, nil
}

func (s *Socket) opErr(op string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if s.closed.Load() {
		err = net.ErrClosed
	}
	return &net.OpError{Op: op, Net: "udp", Source: s.LocalAddr(), Err: err}
}

// LocalAddr implements net.PacketConn.
func (s *Socket) LocalAddr() net.Addr {
	a, p := s.sk.LocalAddr()
	b := a.As4()
	return &net.UDPAddr{IP: net.IPv4(b[0], b[1], b[2], b[3]).To4(), Port: int(p)}
}

// RemoteAddr implements net.Conn; nil when not connected.
func (s *Socket) RemoteAddr() net.Addr {
	a, p, ok := s.sk.RemoteAddr()
	if !ok {
		return nil
	}
	b := a.As4()
	return &net.UDPAddr{IP: net.IPv4(b[0], b[1], b[2], b[3]).To4(), Port: int(p)}
}

func dlNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// SetDeadline implements net.PacketConn.
func (s *Socket) SetDeadline(t time.Time) error {
	s.rdl.Store(dlNanos(t))
	s.wdl.Store(dlNanos(t))
	s.sk.WakeAll()
	return nil
}

// SetReadDeadline implements net.PacketConn; it also wakes blocked
// readers so they see a deadline already past.
func (s *Socket) SetReadDeadline(t time.Time) error {
	s.rdl.Store(dlNanos(t))
	s.sk.WakeAll()
	return nil
}

// SetWriteDeadline implements net.PacketConn (sends never block; only a
// deadline already past fails them).
func (s *Socket) SetWriteDeadline(t time.Time) error {
	s.wdl.Store(dlNanos(t))
	return nil
}
