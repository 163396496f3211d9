package netstack

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/udp"
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

// An Interrupt reaches a receive in progress even before it waits, as a
// signal stays pending on its task until the wait checks it; a
// datagram already queued is still returned (the queue is looked at
// first). An Interrupt while no call is in progress reaches no later
// call: the signal was delivered and handled then.
func TestInterruptBeforeTheWait(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	sk := sockOf(s)
	began := sk.Signals() // the call begins
	s.Interrupt()         // before it queues a waiter
	rc := make(chan int, 1)
	go func() { rc <- sk.Recvmsg(make([]byte, 10), udp.RecvOpts{Timeo: -1, Signals: began}, nil) }()
	select {
	case r := <-rc:
		if r != -udp.EINTR {
			t.Fatalf("a receive interrupted before its wait: %d, want -EINTR", r)
		}
	case <-time.After(5 * time.Second):
		s.Interrupt()
		t.Fatal("a receive interrupted before its wait went to sleep")
	}
	e.send(udpPkt(7000, []byte("queued")))
	if rc := sk.Recvmsg(make([]byte, 10), udp.RecvOpts{Timeo: -1, Signals: began}, nil); rc != len("queued") {
		t.Fatalf("an interrupted receive with a datagram queued: %d, want %d", rc, len("queued"))
	}
	done := blockedRecv(t, s, 10)
	mustStayBlocked(t, done, "after an Interrupt that came before the call")
	e.send(udpPkt(7000, []byte("one")))
	if r := <-done; r.err != nil || string(r.data) != "one" {
		t.Fatalf("%+v", r)
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
