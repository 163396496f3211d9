package netstack

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// TestPeekDropsBadChecksum: a peek verifies the checksum first; a bad
// datagram is unlinked from the reader queue and freed
// (__sk_queue_drop_skb) and the peek goes on to the next one, which
// stays queued for the real read.
func TestPeekDropsBadChecksum(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	bad := udpPkt(7000, make([]byte, 200))
	bad.badUDPCsum = true
	e.send(bad)
	e.send(udpPkt(7000, []byte("good")))
	buf := make([]byte, 300)
	for _, flags := range []int{socket.MsgPeek, socket.MsgPeek, 0} {
		n, err := s.RecvFrom(buf, flags|socket.MsgDontwait, nil)
		if err != nil || string(buf[:n]) != "good" {
			t.Fatalf("flags %#x: %q, %v", flags, buf[:n], err)
		}
	}
	if _, err := s.RecvFrom(buf, socket.MsgDontwait, nil); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("queue not empty: %v", err)
	}
	e.expect(map[string]int64{"Udp.InCsumErrors": 1, "Udp.InErrors": 1, "Udp.InDatagrams": 1})
	if sockOf(s).Drops() != 1 || sockOf(s).RmemAlloc() != 0 {
		t.Fatalf("drops %d, rmem %d", sockOf(s).Drops(), sockOf(s).RmemAlloc())
	}
}

// Checklist item 98: MSG_PEEK leaves the datagram queued.
func TestPeekLeavesQueued(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, []byte("peekaboo")))
	buf := make([]byte, 100)
	n, err := s.RecvFrom(buf, socket.MsgPeek|socket.MsgDontwait, nil)
	if err != nil || string(buf[:n]) != "peekaboo" {
		t.Fatal(err)
	}
	mustRecv(t, s, []byte("peekaboo"))
}

// Checklist item 99: SO_PEEK_OFF 0: successive peeks return successive parts of the datagram.
func TestPeekOffset(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoPeekOff, 0)
	data := []byte("000000000011111111112222222222")
	e.send(udpPkt(7000, data))
	for i := 0; i < 3; i++ {
		buf := make([]byte, 10)
		var m socket.Msghdr
		n, err := s.RecvMsg(buf, socket.MsgPeek|socket.MsgDontwait, &m)
		if err != nil || n != 10 || !bytes.Equal(buf, data[i*10:i*10+10]) {
			t.Fatalf("peek %d: %q %v", i, buf[:n], err)
		}
	}
	if v, _ := s.GetsockoptInt(socket.SolSocket, socket.SoPeekOff); v != 30 {
		t.Fatalf("peek_off %d", v)
	}
}
