package netstack

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// TestCloseKeepsBlockedReader: close(2) removes the descriptor, but a
// recvfrom already blocked holds a file reference that keeps the socket:
// it goes on waiting, still receives, and only when it returns is the
// socket released (unhashed, its port free).
func TestCloseKeepsBlockedReader(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	done := blockedRecv(t, s, 10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustStayBlocked(t, done, "when closed")
	// The descriptor is gone, the socket is not: its port is taken.
	if _, err := s.RecvFrom(make([]byte, 10), socket.MsgDontwait, nil); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("new call on the closed descriptor: %v", err)
	}
	if err := bindErr(e, 0, 7000); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("bind while the reader holds the socket: %v", err)
	}
	e.send(udpPkt(7000, []byte("late")))
	r := <-done
	if r.err != nil || r.n != 4 || r.from.Addr != ipT.As4() || r.from.Port != 40000 {
		t.Fatalf("blocked reader got %+v", r)
	}
	// The last reference went with the reader: the port is free and a
	// datagram to it finds no socket.
	e.mark()
	e.send(udpPkt(7000, []byte("gone")))
	e.expect(map[string]int64{"Udp.NoPorts": 1, "Udp.InDatagrams": 0})
	if err := bindErr(e, 0, 7000); err != nil {
		t.Fatalf("bind after release: %v", err)
	}
}

// TestCloseBlockedReaderTimesOut: the kept reader still ends at its
// SO_RCVTIMEO.
func TestCloseBlockedReaderTimesOut(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	setRcvtimeo(t, s, 100*time.Millisecond)
	done := blockedRecv(t, s, 10)
	s.Close()
	e.advance(99 * time.Millisecond)
	mustStayBlocked(t, done, "before its timeout")
	e.advance(time.Millisecond)
	if r := <-done; !errors.Is(r.err, syscall.EAGAIN) {
		t.Fatalf("got %v, want EAGAIN", r.err)
	}
	if err := bindErr(e, 0, 7000); err != nil {
		t.Fatalf("bind after release: %v", err)
	}
}

// TestCloseUnblocksGoReaders: the net.PacketConn and net.Conn methods
// behave as Go's sockets do: Close unblocks them with net.ErrClosed.
func TestCloseUnblocksGoReaders(t *testing.T) {
	for _, c := range []struct {
		name string
		read func(s *socket.Socket) (int, error)
	}{
		{"ReadFrom", func(s *socket.Socket) (int, error) {
			n, _, err := s.ReadFrom(make([]byte, 10))
			return n, err
		}},
		{"Read", func(s *socket.Socket) (int, error) { return s.Read(make([]byte, 10)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.bound(0, 7000)
			done := make(chan recvResult, 1)
			go func() {
				n, err := c.read(s)
				done <- recvResult{n: n, err: err}
			}()
			waitWaiters(t, s, 1)
			s.Close()
			r := <-done
			if r.n != 0 || !errors.Is(r.err, net.ErrClosed) {
				t.Fatalf("got %d, %v; want net.ErrClosed", r.n, r.err)
			}
			e.mark()
			e.send(udpPkt(7000, []byte("gone")))
			e.expect(map[string]int64{"Udp.NoPorts": 1})
		})
	}
}
