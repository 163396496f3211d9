package agent

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent/agentproto"
	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// maxRecv bounds the receive buffer a request may ask for.
const maxRecv = 65536

// maxControl bounds a recvmsg's control buffer.
const maxControl = 4096

// Server serves the protocol on one socket.
type Server struct {
	stack *netstack.Stack
	allow netip.Prefix

	mu sync.Mutex
	// +checklocks:mu
	fds map[int]*socket.Socket
	// +checklocks:mu
	pfds map[int]*socket.PacketSocket // packet sockets, numbered with fds
	// +checklocks:mu
	next int

	sendMu  sync.Mutex
	conn    *socket.Socket
	refused atomic.Uint64
	served  atomic.Uint64
	bad     atomic.Uint64
}

// NewServer returns an agent creating sockets on st and answering only
// sources within allow (an invalid prefix answers anyone).
func NewServer(st *netstack.Stack, allow netip.Prefix) *Server {
	return &Server{stack: st, allow: allow, fds: map[int]*socket.Socket{}, next: 3}
}

// Refused returns the datagrams dropped because of their source.
func (s *Server) Refused() uint64 { return s.refused.Load() }

// Served returns the requests answered; Malformed those that were not
// valid JSON requests.
func (s *Server) Served() uint64    { return s.served.Load() }
func (s *Server) Malformed() uint64 { return s.bad.Load() }

// Serve answers requests arriving on conn until it is closed.
func (s *Server) Serve(conn *socket.Socket) error {
	s.conn = conn
	buf := make([]byte, 65536)
	for {
		var from socket.Sockaddr
		n, err := conn.RecvFrom(buf, 0, &from)
		if err != nil {
			if errors.Is(err, syscall.EBADF) {
				return err
			}
			continue
		}
		if !agentproto.Allowed(s.allow, netip.AddrFrom4(from.Addr)) {
			s.refused.Add(1)
			continue
		}
		req, err := agentproto.DecodeRequest(buf[:n])
		if err != nil {
			s.bad.Add(1)
			continue
		}
		go func(req *Request, from socket.Sockaddr) {
			resp := s.Handle(req)
			b, err := agentproto.EncodeResponse(resp)
			if err != nil {
				// Too large: say so instead of leaving the client waiting.
				e := &Response{ID: req.ID}
				agentproto.ErrorResponse(e, fmt.Errorf("%w: %v", syscall.EMSGSIZE, err))
				b, _ = agentproto.EncodeResponse(e)
			}
			s.sendMu.Lock()
			conn.SendTo(b, 0, &from)
			s.sendMu.Unlock()
			s.served.Add(1)
		}(req, from)
	}
}

func (s *Server) socket(fd int) (*socket.Socket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if so, ok := s.fds[fd]; ok {
		return so, nil
	}
	return nil, syscall.EBADF
}

// Handle performs one request and returns its response.
func (s *Server) Handle(req *Request) *Response {
	r := &Response{ID: req.ID}
	if err := s.do(req, r); err != nil {
		agentproto.ErrorResponse(r, err)
	}
	return r
}

// parseAddr reads a request's "address:port" into the sockaddr the call
// takes, converted as everywhere else (socket.SockaddrOf): an IPv6
// address reaches the socket, which refuses it as Linux does.
func parseAddr(s string) (*socket.Sockaddr, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, fmt.Errorf("%w: bad address %q", syscall.EINVAL, s)
	}
	return socket.SockaddrOf(net.UDPAddrFromAddrPort(ap))
}

func sockaddrString(sa *socket.Sockaddr) string {
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), sa.Port).String()
}

func (s *Server) do(req *Request, r *Response) error {
	if handled, err := s.doFlow(req, r); handled {
		return err
	}
	if handled, err := s.doPacket(req, r); handled {
		return err
	}
	if req.Op == OpSocket {
		so, err := s.stack.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		s.mu.Lock()
		r.FD = s.next
		s.fds[s.next] = so
		s.next++
		s.mu.Unlock()
		return nil
	}
	if req.Op == OpCounters {
		r.Counters = map[string]uint64{}
		for _, n := range req.Names {
			v, ok := s.stack.Counter(n)
			if !ok {
				return fmt.Errorf("%w: unknown counter %q", syscall.EINVAL, n)
			}
			r.Counters[n] = v
		}
		return nil
	}
	if req.Op == OpClock {
		r.Nsec = time.Now().UnixNano()
		return nil
	}
	if req.Op == OpProcNetUDP {
		var b bytes.Buffer
		s.stack.WriteProcNetUDP(&b)
		r.Text = b.String()
		return nil
	}
	so, err := s.socket(req.FD)
	if err != nil {
		return err
	}
	switch req.Op {
	case OpBind:
		sa, err := parseAddr(req.Addr)
		if err != nil {
			return err
		}
		return so.Bind(sa)
	case OpConnect:
		if req.Unspec {
			return so.Connect(&socket.Sockaddr{Family: syscall.AF_UNSPEC})
		}
		sa, err := parseAddr(req.Addr)
		if err != nil {
			return err
		}
		return so.Connect(sa)
	case OpSetInt:
		return so.SetsockoptInt(req.Level, req.Name, req.Value)
	case OpGetInt:
		r.Value, err = so.GetsockoptInt(req.Level, req.Name)
		return err
	case OpSetTimeval:
		return so.SetsockoptTimeval(req.Level, req.Name, socket.Timeval{Sec: req.Sec, Usec: req.Usec})
	case OpGetTimeval:
		tv, err := so.GetsockoptTimeval(req.Level, req.Name)
		r.Sec, r.Usec = tv.Sec, tv.Usec
		return err
	case OpSetString:
		return so.SetsockoptString(req.Level, req.Name, req.Str)
	case OpMembership:
		m := &socket.IPMreqn{Ifindex: req.Ifindex}
		g, err := netip.ParseAddr(req.Group)
		if err != nil || !g.Is4() {
			return fmt.Errorf("%w: bad group %q", syscall.EINVAL, req.Group)
		}
		m.Multiaddr = g.As4()
		if req.Iface != "" {
			a, err := netip.ParseAddr(req.Iface)
			if err != nil || !a.Is4() {
				return fmt.Errorf("%w: bad interface address %q", syscall.EINVAL, req.Iface)
			}
			m.Address = a.As4()
		}
		return so.SetsockoptIPMreqn(socket.SolIP, req.Name, m)
	case OpRecv:
		if req.Len < 0 || req.Len > maxRecv {
			return fmt.Errorf("%w: len %d", syscall.EINVAL, req.Len)
		}
		buf := make([]byte, req.Len)
		var m socket.Msghdr
		if req.Controllen > 0 {
			m.Control = make([]byte, min(req.Controllen, maxControl))
		}
		n, err := so.RecvMsg(buf, req.Flags, &m)
		if err != nil {
			return err
		}
		if m.Control != nil {
			r.Control = m.Control[:m.Controllen]
		}
		r.Ret = n
		r.Data = buf[:min(n, len(buf))]
		if m.Namelen > 0 {
			r.From = sockaddrString(&m.Name)
		}
		r.Namelen = m.Namelen
		r.MsgFlags = m.Flags
		if m.HasRxqOvfl {
			v := m.RxqOvfl
			r.RxqOvfl = &v
		}
		if m.HasPktinfo {
			r.Pktinfo = &Pktinfo{Ifindex: m.Pktinfo.Ifindex, SpecDst: m.Pktinfo.SpecDst.String(), Addr: m.Pktinfo.Addr.String()}
		}
		return nil
	case OpSend:
		var to *socket.Sockaddr
		if req.Addr != "" {
			if to, err = parseAddr(req.Addr); err != nil {
				return err
			}
		}
		r.Ret, err = so.SendTo(req.Data, req.Flags, to)
		return err
	case OpClose:
		s.mu.Lock()
		delete(s.fds, req.FD)
		s.mu.Unlock()
		return so.Close()
	case OpShutdown:
		return so.Shutdown(req.How)
	case OpIoctl:
		r.Value, err = so.Ioctl(req.Name)
		return err
	case OpPoll:
		r.Value, err = so.Poll(req.Events, time.Duration(req.TimeoutMs)*time.Millisecond)
		return err
	case OpNonblock:
		so.SetNonblock(req.Value != 0)
		return nil
	case OpInterrupt:
		so.Interrupt()
		return nil
	case OpRecvmmsg:
		return recvmmsg(so, req, r)
	case OpSendmmsg:
		return sendmmsg(so, req, r)
	case OpHwtstamp:
		cfg := socket.HwtstampConfig{Flags: int32(req.HwtstampFlags), TxType: int32(req.Value), RxFilter: int32(req.How)}
		return so.IoctlHwtstamp(req.Name, req.Str, &cfg)
	case OpGetStamp:
		sec, frac, err := so.IoctlGetStamp(req.Name)
		r.Sec = sec
		if req.Name == socket.SIOCGSTAMPNS {
			r.Nsec = frac
		} else {
			r.Usec = frac
		}
		return err
	}
	return fmt.Errorf("%w: unknown op %q", syscall.EINVAL, req.Op)
}
