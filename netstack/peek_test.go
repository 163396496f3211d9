package netstack

import (
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
