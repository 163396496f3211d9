// Package capture is the image's capture service: on request it opens a
// packet socket (ETH_P_ALL on the interface asked for) and streams the
// frames it takes, received and sent, as pcap records to the client,
// which writes them as a file tcpdump and Wireshark read (`kaidoku
// capture`). The protocol is package captureproto's.
//
// The service's own stream is never captured: the socket's filter
// refuses every UDP datagram to or from the service's port, as
// `tcpdump not udp port 2002` does, and the stream's datagrams are never
// fragmented, so the port is in each of its frames. One capture runs at
// a time; a new start replaces it.
package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/image/capture/captureproto"
	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Service serves captures on one UDP socket.
type Service struct {
	st    *netstack.Stack
	allow netip.Prefix

	sendMu sync.Mutex
	conn   *socket.Socket
	port   uint16

	mu sync.Mutex
	// +checklocks:mu
	cur *session

	refused, malformed atomic.Uint64
}

// New returns a capture service on st answering only sources within
// allow (an invalid prefix answers anyone).
func New(st *netstack.Stack, allow netip.Prefix) *Service {
	return &Service{st: st, allow: allow}
}

// Refused returns the requests dropped because of their source;
// Malformed those that were not requests.
func (s *Service) Refused() uint64   { return s.refused.Load() }
func (s *Service) Malformed() uint64 { return s.malformed.Load() }

// Serve answers requests on conn, a socket bound to the service's port,
// until it is closed.
func (s *Service) Serve(conn *socket.Socket) error {
	s.conn = conn
	if a, ok := conn.LocalAddr().(interface{ String() string }); ok {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			s.port = ap.Port()
		}
	}
	buf := make([]byte, 512)
	for {
		var from socket.Sockaddr
		n, err := conn.RecvFrom(buf, 0, &from)
		if err != nil {
			if errors.Is(err, syscall.EBADF) {
				s.stop(nil)
				return err
			}
			continue
		}
		if !allowed(s.allow, netip.AddrFrom4(from.Addr)) {
			s.refused.Add(1)
			continue
		}
		s.handle(strings.TrimSpace(string(buf[:n])), from)
	}
}

func allowed(allow netip.Prefix, a netip.Addr) bool { return !allow.IsValid() || allow.Contains(a) }

func (s *Service) handle(req string, from socket.Sockaddr) {
	switch {
	case strings.HasPrefix(req, "start"):
		r, err := captureproto.ParseRequest(req)
		if err != nil {
			s.malformed.Add(1)
			s.reply(from, captureproto.KindErr, err.Error())
			return
		}
		if err := s.start(r, from); err != nil {
			s.reply(from, captureproto.KindErr, err.Error())
		}
	case req == "keep":
		s.mu.Lock()
		if c := s.cur; c != nil && c.client == from {
			c.touch()
		}
		s.mu.Unlock()
	case req == "stop":
		s.stop(&from)
	default:
		s.malformed.Add(1)
	}
}

// reply sends one control datagram (Ack, End or Err) to the client.
func (s *Service) reply(to socket.Sockaddr, kind byte, text string) error {
	b := make([]byte, captureproto.HeaderLen, captureproto.HeaderLen+len(text))
	captureproto.Header{Kind: kind, FirstRecord: captureproto.NoRecordStart}.Put(b)
	b = append(b, text...)
	return s.send(to, b)
}

func (s *Service) send(to socket.Sockaddr, b []byte) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	_, err := s.conn.SendTo(b, 0, &to)
	return err
}

// stop ends the running capture (that of client, when given).
func (s *Service) stop(client *socket.Sockaddr) {
	s.mu.Lock()
	c := s.cur
	if c != nil && (client == nil || c.client == *client) {
		s.cur = nil
	} else {
		c = nil
	}
	s.mu.Unlock()
	if c != nil {
		c.end()
	}
}

func (s *Service) start(r captureproto.Request, from socket.Sockaddr) error {
	iface := r.Iface
	switch iface {
	case "":
		iface = s.st.InterfaceName()
	case "any":
		iface = ""
	}
	ps, err := s.st.ListenPacket(netstack.PacketOptions{Interface: iface})
	if err != nil {
		return err
	}
	// Room for bursts: the receive buffer Linux's rmem_max allows.
	ps.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, 1<<30)
	ps.SetFilter(streamFilter(s.port, r.EtherType, r.Snaplen))
	c := &session{s: s, ps: ps, client: from, req: r, done: make(chan struct{}),
		packer: captureproto.NewPacker()}
	c.touch()
	s.stop(nil)
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	name := iface
	if name == "" {
		name = "any"
	}
	s.reply(from, captureproto.KindAck, fmt.Sprintf("snaplen=%d iface=%s", r.Snaplen, name))
	go c.run()
	return nil
}

// streamFilter is the socket filter of a capture: no UDP datagram to or
// from the service's port (the stream itself, and the client's
// requests), only frames of etherType when it is not 0, at most snaplen
// bytes of each.
func streamFilter(port, etherType uint16, snaplen int) socket.PacketFilter {
	return func(f []byte) int {
		if len(f) < 14 {
			return min(len(f), snaplen)
		}
		typ := binary.BigEndian.Uint16(f[12:])
		if etherType != 0 && typ != etherType {
			return 0
		}
		if typ == 0x0800 && len(f) >= 14+20 {
			ip := f[14:]
			ihl := int(ip[0]&0x0f) * 4
			first := binary.BigEndian.Uint16(ip[6:])&0x1fff == 0
			if ip[9] == 17 && first && len(ip) >= ihl+4 {
				sport := binary.BigEndian.Uint16(ip[ihl:])
				dport := binary.BigEndian.Uint16(ip[ihl+2:])
				if sport == port || dport == port {
					return 0
				}
			}
		}
		return min(len(f), snaplen)
	}
}

// session is one running capture.
type session struct {
	s        *Service
	ps       *socket.PacketSocket
	client   socket.Sockaddr
	req      captureproto.Request
	packer   *captureproto.Packer
	lastKeep atomic.Int64 // UnixNano
	done     chan struct{}
	endOnce  sync.Once

	captured, sendErrors uint64
}

func (c *session) touch() { c.lastKeep.Store(time.Now().UnixNano()) }

// end stops the reader; it sends the End datagram as it leaves.
func (c *session) end() {
	c.endOnce.Do(func() {
		close(c.done)
		c.ps.SetReadDeadline(time.Now())
	})
}

func (c *session) run() {
	defer c.ps.Close()
	send := func(b []byte) {
		if err := c.s.send(c.client, b); err != nil {
			c.sendErrors++
		}
	}
	buf := make([]byte, 65536)
	var rec []byte
	for c.req.Count == 0 || c.captured < uint64(c.req.Count) {
		select {
		case <-c.done:
			goto out
		default:
		}
		if time.Since(time.Unix(0, c.lastKeep.Load())) > captureproto.KeepTimeout {
			break
		}
		c.ps.SetReadDeadline(time.Now().Add(captureproto.KeepInterval))
		n, info, err := c.ps.ReadFrame(buf)
		if err != nil {
			c.packer.Flush(send)
			continue
		}
		rec = captureproto.AppendRecord(rec[:0], info.Time.UnixNano(), buf[:n], info.Len)
		c.packer.Add(rec, send)
		c.captured++
		if q, _ := c.ps.Ioctl(socket.FIONREAD); q == 0 {
			c.packer.Flush(send)
		}
	}
out:
	c.packer.Flush(send)
	st, _ := c.ps.Statistics()
	sum := captureproto.Summary{Captured: c.captured, Dropped: uint64(st.Drops),
		SendErrors: c.sendErrors, Datagrams: c.packer.Seq()}
	c.s.reply(c.client, captureproto.KindEnd, sum.String())
	c.s.mu.Lock()
	if c.s.cur == c {
		c.s.cur = nil
	}
	c.s.mu.Unlock()
}
