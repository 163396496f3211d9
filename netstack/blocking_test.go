package netstack

import (
	"errors"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Blocking reads: MSG_DONTWAIT, interruption and exclusive wake-up.

// Checklist item 102: MSG_DONTWAIT on an empty socket: EAGAIN.
func TestDontwaitEAGAIN(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	if _, err := s.RecvFrom(make([]byte, 10), socket.MsgDontwait, nil); !errors.Is(err, syscall.EAGAIN) {
		t.Fatal(err)
	}
}

// Checklist item 104: a blocked recvfrom interrupted (the stand-in for a signal without
// SA_RESTART): EINTR.
func TestInterruptEINTR(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	done := blockedRecv(t, s, 10)
	s.Interrupt()
	if r := <-done; !errors.Is(r.err, syscall.EINTR) {
		t.Fatal(r.err)
	}
}

// Checklist item 110: one datagram wakes exactly one of two blocked readers.
func TestExclusiveWakeup(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	a, b := blockedRecv(t, s, 10), blockedRecv(t, s, 10)
	e.send(udpPkt(7000, []byte("one")))
	var other <-chan recvResult
	select {
	case r := <-a:
		if r.err != nil || string(r.data) != "one" {
			t.Fatalf("first reader: %+v", r)
		}
		other = b
	case r := <-b:
		if r.err != nil || string(r.data) != "one" {
			t.Fatalf("second reader: %+v", r)
		}
		other = a
	}
	waitWaiters(t, s, 1)
	mustStayBlocked(t, other, "without a datagram")
	s.Interrupt()
	if r := <-other; !errors.Is(r.err, syscall.EINTR) {
		t.Fatal(r.err)
	}
}
