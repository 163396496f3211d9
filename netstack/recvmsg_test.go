package netstack

import (
	"bytes"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// recvmsg semantics: truncation, source address, IP_PKTINFO and FIONREAD.

// Checklist item 96: a read with a short buffer returns what fits with MSG_TRUNC set and discards
// the rest.
func TestTruncatedRead(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, bigPayload(100)))
	e.send(udpPkt(7000, []byte("next")))
	buf := make([]byte, 10)
	var m socket.Msghdr
	n, err := s.RecvMsg(buf, socket.MsgDontwait, &m)
	if err != nil || n != 10 || m.Flags&socket.MsgTrunc == 0 || !bytes.Equal(buf, bigPayload(100)[:10]) {
		t.Fatalf("n=%d err=%v flags=%#x", n, err, m.Flags)
	}
	mustRecv(t, s, []byte("next"))
}

// Checklist item 97: with the MSG_TRUNC flag the read returns the datagram's full length.
func TestTruncFlagReturnsFullLength(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, bigPayload(100)))
	buf := make([]byte, 10)
	n, err := s.RecvFrom(buf, socket.MsgTrunc|socket.MsgDontwait, nil)
	if err != nil || n != 100 || !bytes.Equal(buf, bigPayload(100)[:10]) {
		t.Fatalf("n=%d err=%v", n, err)
	}
}

// Checklist item 100: an empty datagram reads as 0 bytes with the source address.
func TestRecvZeroPayloadFillsAddress(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, nil))
	var from socket.Sockaddr
	n, err := s.RecvFrom(make([]byte, 10), socket.MsgDontwait, &from)
	if err != nil || n != 0 || from.Addr != ipT.As4() || from.Port != 40000 {
		t.Fatalf("n=%d %v %+v", n, err, from)
	}
}

// Checklist item 101: recvfrom's address is the IP source and UDP source port, sin_zero zero,
// length 16.
func TestRecvSourceAddress(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	p := udpPkt(7000, []byte("a"))
	p.src = wire.AddrOf(10, 0, 0, 42)
	p.sport = 4242
	e.send(p)
	var m socket.Msghdr
	if _, err := s.RecvMsg(make([]byte, 10), socket.MsgDontwait, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != (socket.Sockaddr{Family: socket.AFInet, Port: 4242, Addr: [4]byte{10, 0, 0, 42}}) || m.Namelen != 16 {
		t.Fatalf("%+v", m)
	}
}

// Checklist item 107: IP_PKTINFO on a limited broadcast: ifindex of eth0, ipi_addr 255.255.255.255,
// ipi_spec_dst our address.
func TestPktinfoOnBroadcast(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolIP, socket.IPPktinfo, 1)
	p := udpPktTo(wire.AddrOf(255, 255, 255, 255), 7000, []byte("pi"))
	e.send(p)
	var m socket.Msghdr
	if _, err := s.RecvMsg(make([]byte, 10), socket.MsgDontwait, &m); err != nil {
		t.Fatal(err)
	}
	if !m.HasPktinfo || m.Pktinfo.Ifindex != 2 || m.Pktinfo.Addr != wire.AddrOf(255, 255, 255, 255) || m.Pktinfo.SpecDst != ipM {
		t.Fatalf("%+v", m)
	}
}

// Checklist item 108: FIONREAD is the size of the next datagram, 0 when empty.
func TestFIONREADNextDatagram(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if n, err := s.Ioctl(socket.FIONREAD); n != 0 || err != nil {
		t.Fatal(n, err)
	}
	e.send(udpPkt(7000, make([]byte, 100)))
	e.send(udpPkt(7000, make([]byte, 200)))
	if n, _ := s.Ioctl(socket.FIONREAD); n != 100 {
		t.Fatal(n)
	}
}
