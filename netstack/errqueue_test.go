package netstack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

var (
	ipRouter = wire.AddrOf(10, 0, 0, 1)  // sends the ICMP errors
	ipFar    = wire.AddrOf(192, 0, 2, 7) // the quoted datagram's destination
)

// icmpErrorQuoting builds an ICMP error of type/code (rest: the second
// ICMP word) from the router, quoting a datagram the guest sent from
// lport to ipFar:rport with payload.
func icmpErrorQuoting(typ, code uint8, rest uint32, lport, rport uint16, payload []byte) pkt {
	orig := make([]byte, 28+len(payload))
	wire.PutIPv4(orig, 0, len(orig), 1, 0, 64, wire.ProtoUDP, ipM, ipFar)
	wire.PutUDP(orig[20:], lport, rport, 8+len(payload))
	copy(orig[28:], payload)
	icmp := make([]byte, 8, 8+len(orig))
	icmp[0], icmp[1] = typ, code
	binary.BigEndian.PutUint32(icmp[4:], rest)
	icmp = append(icmp, orig...)
	binary.BigEndian.PutUint16(icmp[2:], wire.CsumFold(wire.Checksum(icmp, 0)))
	return pkt{src: ipRouter, proto: wire.ProtoICMP, l4: icmp}
}

// cmsgBytes is one control message as x86_64 Linux lays it out: u64
// cmsg_len, i32 level, i32 type, data, padding to 8.
func cmsgBytes(level, typ int, data []byte) []byte {
	b := make([]byte, 16, 16+len(data)+7)
	binary.LittleEndian.PutUint64(b, uint64(16+len(data)))
	binary.LittleEndian.PutUint32(b[8:], uint32(level))
	binary.LittleEndian.PutUint32(b[12:], uint32(typ))
	b = append(b, data...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

// recvErrData is struct { struct sock_extended_err; struct sockaddr_in }.
func recvErrData(errno uint32, typ, code uint8, info uint32, offender wire.Addr) []byte {
	b := make([]byte, 32)
	binary.LittleEndian.PutUint32(b[0:], errno)
	b[4], b[5], b[6] = 2, typ, code // SO_EE_ORIGIN_ICMP
	binary.LittleEndian.PutUint32(b[8:], info)
	binary.LittleEndian.PutUint16(b[16:], 2) // AF_INET
	o := offender.As4()
	copy(b[20:24], o[:])
	return b
}

func pktinfoData(ifindex int, spec, addr wire.Addr) []byte {
	b := make([]byte, 12)
	binary.LittleEndian.PutUint32(b, uint32(ifindex))
	s, a := spec.As4(), addr.As4()
	copy(b[4:], s[:])
	copy(b[8:], a[:])
	return b
}

func recvErrSocket(e *env, port uint16) *socket.Socket {
	e.t.Helper()
	s := e.bound(0, port)
	if err := s.SetsockoptInt(socket.SolIP, socket.IPRecverr, 1); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// TestErrQueueICMPError: with IP_RECVERR an ICMP error for an
// unconnected socket is queued (ip_icmp_error) and sets sk_err; recvmsg
// with MSG_ERRQUEUE returns the quoted payload, the original
// destination as msg_name, MSG_ERRQUEUE in msg_flags and an IP_RECVERR
// control message: sock_extended_err then the offender's sockaddr_in
// (ip_recv_error). POLLERR holds while the queue is not empty, the
// entry is charged to sk_rmem_alloc, and dequeuing the last ICMP error
// clears sk_err (sock_dequeue_err_skb).
func TestErrQueueICMPError(t *testing.T) {
	e := newEnv(t)
	s := recvErrSocket(e, 7000)
	e.send(icmpErrorQuoting(3, 3, 0, 7000, 9000, []byte("quoted")))
	e.expect(map[string]int64{"Icmp.InDestUnreachs": 1, "Icmp.InErrors": 0})
	if mask, _ := s.Poll(0, 0); mask&socket.PollErr == 0 {
		t.Fatalf("poll mask %#x without POLLERR", mask)
	}
	if got, want := sockOf(s).RmemAlloc(), e.frames.Stats().Truesize(); got != want {
		t.Fatalf("sk_rmem_alloc %d, want the ICMP buffer's truesize %d", got, want)
	}
	m := socket.Msghdr{Control: make([]byte, 256)}
	buf := make([]byte, 100)
	n, err := s.RecvMsg(buf, socket.MsgErrqueue, &m)
	if err != nil || string(buf[:n]) != "quoted" {
		t.Fatalf("recvmsg(MSG_ERRQUEUE) %q, %v", buf[:n], err)
	}
	if m.Flags != socket.MsgErrqueue {
		t.Errorf("msg_flags %#x, want MSG_ERRQUEUE", m.Flags)
	}
	if want := (socket.Sockaddr{Family: socket.AFInet, Port: 9000, Addr: ipFar.As4()}); m.Namelen != socket.SockaddrLen || m.Name != want {
		t.Errorf("msg_name %+v (len %d), want %+v", m.Name, m.Namelen, want)
	}
	wantCtl := cmsgBytes(socket.SolIP, socket.IPRecverr, recvErrData(uint32(syscall.ECONNREFUSED), 3, 3, 0, ipRouter))
	if !bytes.Equal(m.Control[:m.Controllen], wantCtl) {
		t.Errorf("control\n got % x\nwant % x", m.Control[:m.Controllen], wantCtl)
	}
	if !m.HasRecvErr || m.RecvErr.Errno != uint32(syscall.ECONNREFUSED) || m.Offender.Addr != ipRouter.As4() {
		t.Errorf("typed IP_RECVERR %+v offender %+v", m.RecvErr, m.Offender)
	}
	// The last ICMP error is gone: sk_err is 0, no POLLERR, memory back.
	if _, err := s.RecvFrom(buf, socket.MsgDontwait, nil); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("recvfrom after dequeuing: %v, want EAGAIN", err)
	}
	if mask, _ := s.Poll(0, 0); mask&socket.PollErr != 0 {
		t.Errorf("POLLERR with an empty error queue")
	}
	if r := sockOf(s).RmemAlloc(); r != 0 {
		t.Errorf("sk_rmem_alloc %d after dequeuing", r)
	}
	if _, err := s.RecvMsg(buf, socket.MsgErrqueue, &m); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("empty error queue: %v, want EAGAIN", err)
	}
}

// TestErrQueueSkErr: sk_err is set by each error; a pending error is
// returned (and cleared) by the next receive, as without the queue;
// dequeuing an entry that has another ICMP error behind it sets sk_err
// to that one's errno.
func TestErrQueueSkErr(t *testing.T) {
	e := newEnv(t)
	s := recvErrSocket(e, 7000)
	e.send(icmpErrorQuoting(3, 3, 0, 7000, 9000, nil))
	if _, err := s.RecvFrom(make([]byte, 10), socket.MsgDontwait, nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("recvfrom: %v, want ECONNREFUSED", err)
	}
	// Frag needed (MTU 1400 in the second word's low half), then a
	// host unreachable: both queued.
	e.send(icmpErrorQuoting(3, 4, 1400, 7000, 9000, nil))
	e.send(icmpErrorQuoting(3, 1, 0, 7000, 9000, nil))
	var m socket.Msghdr
	buf := make([]byte, 10)
	for i, want := range []struct {
		errno       syscall.Errno
		code        uint8
		info        uint32
		skErrBehind syscall.Errno
	}{
		{syscall.ECONNREFUSED, 3, 0, syscall.EMSGSIZE},
		{syscall.EMSGSIZE, 4, 1400, syscall.EHOSTUNREACH},
		{syscall.EHOSTUNREACH, 1, 0, 0},
	} {
		if _, err := s.RecvMsg(buf, socket.MsgErrqueue, &m); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if m.RecvErr.Errno != uint32(want.errno) || m.RecvErr.Code != want.code || m.RecvErr.Info != want.info {
			t.Fatalf("entry %d: %+v, want errno %d code %d info %d", i, m.RecvErr, want.errno, want.code, want.info)
		}
		if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoError); v != int(want.skErrBehind) {
			t.Fatalf("entry %d: SO_ERROR %d, want %d", i, v, want.skErrBehind)
		}
	}
}

// TestErrQueueControl: the control data byte for byte: IP_PKTINFO (from
// the ICMP packet's IPCB: iif, spec_dst 0, its destination) before
// IP_RECVERR when IP_PKTINFO is on; MSG_TRUNC for a short buffer; a
// control buffer too small for the message truncates it as put_cmsg does
// (MSG_CTRUNC, cmsg_len the room there was).
func TestErrQueueControl(t *testing.T) {
	recvErr := recvErrData(uint32(syscall.ECONNREFUSED), 3, 3, 0, ipRouter)
	full := cmsgBytes(socket.SolIP, socket.IPRecverr, recvErr)
	for _, c := range []struct {
		name      string
		pktinfo   bool
		buf       int
		control   int
		wantN     int
		wantFlags int
		wantCtl   []byte
	}{
		{"recverr only", false, 100, 256, 7, socket.MsgErrqueue, full},
		{"with pktinfo", true, 100, 256, 7,
			socket.MsgErrqueue, append(cmsgBytes(socket.SolIP, socket.IPPktinfo, pktinfoData(2, 0, ipM)), full...)},
		{"short data", false, 3, 256, 3, socket.MsgErrqueue | socket.MsgTrunc, full},
		{"short control", false, 100, 40, 7, socket.MsgErrqueue | socket.MsgCtrunc,
			append(binary.LittleEndian.AppendUint64(nil, 40), full[8:40]...)},
		{"no room for a header", false, 100, 15, 7, socket.MsgErrqueue | socket.MsgCtrunc, []byte{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			s := recvErrSocket(e, 7000)
			if c.pktinfo {
				s.SetsockoptInt(socket.SolIP, socket.IPPktinfo, 1)
			}
			e.send(icmpErrorQuoting(3, 3, 0, 7000, 9000, []byte("payload")))
			m := socket.Msghdr{Control: make([]byte, c.control)}
			n, err := s.RecvMsg(make([]byte, c.buf), socket.MsgErrqueue, &m)
			if err != nil || n != min(c.wantN, c.buf) || m.Flags != c.wantFlags {
				t.Fatalf("recvmsg %d, %v, flags %#x; want %d, flags %#x", n, err, m.Flags, min(c.wantN, c.buf), c.wantFlags)
			}
			if !bytes.Equal(m.Control[:m.Controllen], c.wantCtl) {
				t.Fatalf("control\n got % x\nwant % x", m.Control[:m.Controllen], c.wantCtl)
			}
		})
	}
}

// TestErrQueueNeedsRoom: sock_queue_err_skb refuses an entry when
// sk_rmem_alloc + truesize reaches sk_rcvbuf; sk_err is set all the same.
func TestErrQueueNeedsRoom(t *testing.T) {
	e := newEnv(t)
	s := recvErrSocket(e, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, 0) // SOCK_MIN_RCVBUF, below one buffer
	e.send(icmpErrorQuoting(3, 3, 0, 7000, 9000, nil))
	if _, err := s.RecvMsg(make([]byte, 10), socket.MsgErrqueue, nil); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("error queue: %v, want EAGAIN", err)
	}
	if _, err := s.RecvFrom(make([]byte, 10), socket.MsgDontwait, nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("recvfrom: %v, want ECONNREFUSED", err)
	}
	if r := sockOf(s).RmemAlloc(); r != 0 {
		t.Fatalf("sk_rmem_alloc %d", r)
	}
}

// TestErrQueueOffPurges: turning IP_RECVERR off empties the error queue
// (skb_errqueue_purge) and gives its memory back; sk_err stays.
func TestErrQueueOffPurges(t *testing.T) {
	e := newEnv(t)
	s := recvErrSocket(e, 7000)
	e.send(icmpErrorQuoting(3, 3, 0, 7000, 9000, nil))
	s.SetsockoptInt(socket.SolIP, socket.IPRecverr, 0)
	if _, err := s.RecvMsg(make([]byte, 10), socket.MsgErrqueue, nil); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("error queue after IP_RECVERR off: %v, want EAGAIN", err)
	}
	if r := sockOf(s).RmemAlloc(); r != 0 {
		t.Fatalf("sk_rmem_alloc %d", r)
	}
	if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoError); v != int(syscall.ECONNREFUSED) {
		t.Fatalf("SO_ERROR %d, want ECONNREFUSED", v)
	}
}

// TestErrQueueNoSocket: __udp4_lib_err counts Icmp.InErrors when no
// socket sent the quoted datagram.
func TestErrQueueNoSocket(t *testing.T) {
	e := newEnv(t)
	recvErrSocket(e, 7000)
	e.send(icmpErrorQuoting(3, 3, 0, 7001, 9000, []byte("x")))
	e.expectOnly(map[string]int64{"Ip.InReceives": 1, "Ip.InDelivers": 1, "Icmp.InMsgs": 1,
		"Icmp.InDestUnreachs": 1, "Icmp.InErrors": 1})
}

// TestRecvmsgControlBytes: an ordinary datagram's control data in the
// order udp_recvmsg emits it: SO_RXQ_OVFL (sock_recv_cmsgs) before
// IP_PKTINFO (ip_cmsg_recv_offset).
func TestRecvmsgControlBytes(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoRxqOvfl, 1)
	s.SetsockoptInt(socket.SolIP, socket.IPPktinfo, 1)
	s.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, 0) // one datagram queued
	e.send(udpPkt(7000, []byte("a")))
	e.send(udpPkt(7000, []byte("dropped")))
	s.RecvFrom(make([]byte, 10), socket.MsgDontwait, nil)
	e.send(udpPkt(7000, []byte("b")))
	m := socket.Msghdr{Control: make([]byte, 64)}
	if _, err := s.RecvMsg(make([]byte, 10), socket.MsgDontwait, &m); err != nil {
		t.Fatal(err)
	}
	want := append(cmsgBytes(socket.SolSocket, socket.SoRxqOvfl, binary.LittleEndian.AppendUint32(nil, 1)),
		cmsgBytes(socket.SolIP, socket.IPPktinfo, pktinfoData(2, ipM, ipM))...)
	if m.Flags != 0 || !bytes.Equal(m.Control[:m.Controllen], want) {
		t.Fatalf("flags %#x control\n got % x\nwant % x", m.Flags, m.Control[:m.Controllen], want)
	}
}
