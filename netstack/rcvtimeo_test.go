package netstack

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond (the reader runs on another goroutine) and fails
// after a generous bound; it asserts nothing about time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 20000 {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestRcvtimeoRestartsAfterChecksumDrop: udp_recvmsg's csum_copy_err goes
// back to try_again, and __skb_recv_udp takes sk_rcvtimeo afresh, so a
// bad datagram found at 150 ms into a 200 ms SO_RCVTIMEO moves the
// EAGAIN to 350 ms (measured on the stack's fake clock).
func TestRcvtimeoRestartsAfterChecksumDrop(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	setRcvtimeo(t, s, 200*time.Millisecond)
	done := blockedRecv(t, s, 300)
	e.advance(150 * time.Millisecond)
	bad := udpPkt(7000, make([]byte, 200)) // > CHECKSUM_BREAK: verified when read
	bad.badUDPCsum = true
	e.send(bad)
	waitFor(t, "the reader to drop the datagram and sleep again", func() bool {
		return e.delta("Udp.InCsumErrors") == 1 && s.Waiters() == 1
	})
	e.advance(199 * time.Millisecond) // 349 ms
	mustStayBlocked(t, done, "at 349 ms")
	e.advance(time.Millisecond) // 350 ms
	if r := <-done; !errors.Is(r.err, syscall.EAGAIN) {
		t.Fatalf("got %v, want EAGAIN", r.err)
	}
	e.expect(map[string]int64{"Udp.InCsumErrors": 1, "Udp.InErrors": 1, "Udp.InDatagrams": 0})
}

// Checklist item 103: SO_RCVTIMEO 200 ms on an empty socket: EAGAIN after 200 ms (fake clock).
func TestRcvtimeoEAGAIN(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	setRcvtimeo(t, s, 200*time.Millisecond)
	done := blockedRecv(t, s, 10)
	e.advance(199 * time.Millisecond)
	mustStayBlocked(t, done, "at 199 ms")
	if s.Waiters() != 1 {
		t.Fatal("reader no longer blocked")
	}
	e.advance(1 * time.Millisecond)
	if r := <-done; !errors.Is(r.err, syscall.EAGAIN) {
		t.Fatal(r.err)
	}
}
