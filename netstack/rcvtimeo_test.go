package netstack

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
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
	if err := s.SetsockoptTimeval(socket.SolSocket, socket.SoRcvtimeo, socket.Timeval{Usec: 200000}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.RecvFrom(make([]byte, 300), 0, nil)
		done <- err
	}()
	waitWaiters(t, s, 1)
	e.advance(150 * time.Millisecond)
	bad := udpPkt(7000, make([]byte, 200)) // > CHECKSUM_BREAK: verified when read
	bad.badUDPCsum = true
	e.send(bad)
	waitFor(t, "the reader to drop the datagram and sleep again", func() bool {
		return e.delta("Udp.InCsumErrors") == 1 && s.Waiters() == 1
	})
	e.advance(199 * time.Millisecond) // 349 ms
	select {
	case err := <-done:
		t.Fatalf("returned at 349 ms: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	e.advance(time.Millisecond) // 350 ms
	if err := <-done; !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("got %v, want EAGAIN", err)
	}
	e.expect(map[string]int64{"Udp.InCsumErrors": 1, "Udp.InErrors": 1, "Udp.InDatagrams": 0})
}

// Checklist item 103: SO_RCVTIMEO 200 ms on an empty socket: EAGAIN after 200 ms (fake clock).
func TestRcvtimeoEAGAIN(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if err := s.SetsockoptTimeval(socket.SolSocket, socket.SoRcvtimeo, socket.Timeval{Usec: 200000}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.RecvFrom(make([]byte, 10), 0, nil)
		done <- err
	}()
	waitWaiters(t, s, 1)
	e.advance(199 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("returned early: %v", err)
	default:
	}
	if s.Waiters() != 1 {
		t.Fatal("reader no longer blocked")
	}
	e.advance(1 * time.Millisecond)
	if err := <-done; !errors.Is(err, syscall.EAGAIN) {
		t.Fatal(err)
	}
}
