package netstack

import (
	"errors"
	"sync"
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
	done := make(chan error, 1)
	go func() {
		_, err := s.RecvFrom(make([]byte, 10), 0, nil)
		done <- err
	}()
	waitWaiters(t, s, 1)
	s.Interrupt()
	if err := <-done; !errors.Is(err, syscall.EINTR) {
		t.Fatal(err)
	}
}

// Checklist item 110: one datagram wakes exactly one of two blocked readers.
func TestExclusiveWakeup(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	var wg sync.WaitGroup
	res := make(chan error, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.RecvFrom(make([]byte, 10), 0, nil)
			res <- err
		}()
	}
	waitWaiters(t, s, 2)
	e.send(udpPkt(7000, []byte("one")))
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	waitWaiters(t, s, 1)
	select {
	case err := <-res:
		t.Fatalf("second reader returned: %v", err)
	default:
	}
	s.Interrupt()
	wg.Wait()
	if err := <-res; !errors.Is(err, syscall.EINTR) {
		t.Fatal(err)
	}
}
