package netstack

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// TestConcurrentStress runs the receive path against blocked readers,
// concurrent binds/connects/closes and senders, for the race detector.
func TestConcurrentStress(t *testing.T) {
	e := newEnvPool(t, 1024)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoRcvbufforce, 64<<20)
	var got atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 100)
			for {
				_, err := s.RecvFrom(buf, 0, nil)
				if errors.Is(err, syscall.EINTR) {
					return
				}
				if err == nil {
					got.Add(1)
				}
			}
		}()
	}
	stop := make(chan struct{})
	var side sync.WaitGroup
	side.Add(2)
	go func() { // socket churn
		defer side.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			x, _ := e.s.Socket(socket.AFInet, socket.SockDgram, 0)
			x.SetsockoptInt(socket.SolSocket, socket.SoReuseport, 1)
			x.Bind(sa(0, 7100+uint16(i%5)))
			x.Connect(sa(ipT, 9000))
			x.Connect(&socket.Sockaddr{})
			x.Close()
		}
	}()
	go func() { // sender
		defer side.Done()
		x, _ := e.s.Socket(socket.AFInet, socket.SockDgram, 0)
		defer x.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			x.SendTo([]byte("out"), 0, sa(ipT, 9))
			e.link.take()
		}
	}()
	for i := 0; i < 3000; i++ {
		// The readers may fall behind on a loaded host; hold back like a
		// driver whose ring is empty rather than fail on an empty pool.
		for e.frames.InUse() > e.frames.Stats().Count-8 {
			runtime.Gosched()
		}
		e.send(udpPkt(7000, []byte("in")))
		if i%200 == 0 {
			p := udpPktTo(wire.AddrOf(255, 255, 255, 255), 7101, []byte("x"))
			e.send(p)
		}
	}
	for got.Load() != 3000 {
		waitWaiters(t, s, 4)
		if got.Load() != 3000 && sockOf(s).Inq() == 0 {
			break
		}
	}
	close(stop)
	side.Wait()
	for s.Waiters() != 4 {
		waitWaiters(t, s, 4)
	}
	s.Interrupt()
	wg.Wait()
	if got.Load() != 3000 {
		t.Fatalf("received %d of 3000", got.Load())
	}
}
