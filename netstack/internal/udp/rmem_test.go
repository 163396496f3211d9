package udp

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// rmemRig is a UDP layer and one socket, enough for the receive-memory
// functions, with buffers whose truesize each case sets.
type rmemRig struct {
	u    *UDP
	sk   *Sock
	pool *skb.Pool
}

func newRmemRig(t *testing.T, rcvbuf int32, limits [3]int64) *rmemRig {
	t.Helper()
	pool, err := skb.NewPool("rmem", 64, 32, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	u := &UDP{mib: new(mib.MIB), memLimit: limits}
	sk := &Sock{u: u}
	sk.rcvbuf.Store(rcvbuf)
	sk.forwardThreshold.Store(rcvbuf >> 2)
	t.Cleanup(func() {
		sk.rq.mu.Lock()
		for b := sk.rq.q.PopFront(); b != nil; b = sk.rq.q.PopFront() {
			b.Free()
		}
		sk.rq.mu.Unlock()
		if n := pool.InUse(); n != 0 {
			t.Errorf("%d buffers leaked", n)
		}
	})
	return &rmemRig{u: u, sk: sk, pool: pool}
}

// pages is udp_memory_allocated with the per-CPU reserve folded in.
func (r *rmemRig) pages() int64 {
	r.u.memMu.Lock()
	defer r.u.memMu.Unlock()
	return r.u.allocated + r.u.reserve
}

// setPages sets udp_memory_allocated.
func (r *rmemRig) setPages(n int64) {
	r.u.memMu.Lock()
	r.u.allocated = n
	r.u.memMu.Unlock()
}

// forwardAlloc is the socket's sk_forward_alloc.
func (r *rmemRig) forwardAlloc() int {
	r.sk.rq.mu.Lock()
	defer r.sk.rq.mu.Unlock()
	return r.sk.forwardAlloc
}

// read takes the next datagram as a reader does: from the reader queue,
// else the receive queue, then releases its memory with
// udp_rmem_release.
func (r *rmemRig) read() *skb.Buffer {
	r.sk.reader.mu.Lock()
	defer r.sk.reader.mu.Unlock()
	b := r.sk.reader.q.PopFront()
	if b == nil {
		r.sk.rq.mu.Lock()
		b = r.sk.rq.q.PopFront()
		r.sk.rq.mu.Unlock()
	}
	if b != nil {
		r.sk.udpRmemRelease(b.Truesize, 0)
	}
	return b
}

// enqueue offers a buffer of the given truesize to the socket and frees
// it when refused, as the caller of __udp_enqueue_schedule_skb does.
func (r *rmemRig) enqueue(truesize int) int {
	b := r.pool.Get()
	b.Truesize = truesize
	ret := r.u.udpEnqueueScheduleSkb(r.sk, b)
	if ret != 0 {
		b.Free()
	}
	return ret
}

// __udp_enqueue_schedule_skb refuses a datagram when what the socket
// already holds exceeds SO_RCVBUF (strictly), so the datagram that
// crosses the limit is still accepted, and an empty socket accepts one
// datagram of any size. Each refusal counts in sk_drops and leaves
// sk_rmem_alloc as it was.
func TestEnqueueRcvbuf(t *testing.T) {
	const ts = 2624 // a 2048-byte frame buffer plus skb.Overhead
	for _, c := range []struct {
		name   string
		rcvbuf int32
		sizes  []int
		accept []bool
	}{
		{"empty socket takes any size", 0, []int{65536 + 576, ts}, []bool{true, false}},
		{"SO_RCVBUF minimum", 2304, []int{ts, ts}, []bool{true, false}},
		{"crossing is accepted", 3 * ts, []int{ts, ts, ts, ts, ts, ts}, []bool{true, true, true, true, false, false}},
		{"exactly full is not over", 2 * ts, []int{ts, ts, 1, 1}, []bool{true, true, true, false}},
		{"one byte over", 2*ts - 1, []int{ts, ts, 1}, []bool{true, true, false}},
		{"small after large", 10000, []int{9000, 2000, 100}, []bool{true, true, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRmemRig(t, c.rcvbuf, [3]int64{1 << 20, 1 << 20, 1 << 20})
			rmem, drops := 0, uint32(0)
			for i, size := range c.sizes {
				ret := r.enqueue(size)
				if c.accept[i] {
					rmem += size
				} else {
					drops++
				}
				if (ret == 0) != c.accept[i] || (ret != 0 && ret != -ENOMEM) {
					t.Fatalf("datagram %d (%d bytes): %d, want accepted %v", i, size, ret, c.accept[i])
				}
				if r.sk.RmemAlloc() != rmem || r.sk.Drops() != drops {
					t.Fatalf("datagram %d: rmem %d drops %d, want %d %d", i, r.sk.RmemAlloc(), r.sk.Drops(), rmem, drops)
				}
			}
		})
	}
}

// udp_rmem_schedule charges forward memory a page at a time against
// udp_mem through __sk_mem_raise_allocated: up to udp_mem[0] pages
// anything goes; up to udp_mem[2] only a socket holding less than
// udp_rmem_min (one page, the datagram included); above that the
// datagram is refused with ENOBUFS, counted in sk_drops, and its charge
// undone.
func TestEnqueueUDPMem(t *testing.T) {
	limits := [3]int64{1000, 1500, 2000}
	for _, c := range []struct {
		name      string
		allocated int64 // udp_memory_allocated before, pages
		held      int   // sk_rmem_alloc before
		size      int
		want      int
	}{
		{"below min", 999, 0, 1000, 0},
		{"at min", 1000, 0, 1000, 0},
		{"at min, socket holds data", 1000, 3500, 1000, 0},
		{"under pressure, socket under rmem_min", 1500, 0, 1000, 0},
		{"under pressure, datagram reaches rmem_min", 1500, 0, PageSize, -ENOBUFS},
		{"under pressure, socket holds data", 1500, 3500, 1000, -ENOBUFS},
		{"at max, socket under rmem_min", 2000, 0, 1000, 0},
		{"above max", 2001, 0, 1000, -ENOBUFS},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRmemRig(t, 1<<20, limits)
			r.setPages(c.allocated)
			r.sk.rmemAlloc.Store(int32(c.held))
			ret := r.enqueue(c.size)
			if ret != c.want {
				t.Fatalf("enqueue: %d, want %d", ret, c.want)
			}
			rmem, drops, fwd := c.held, uint32(0), PageSize-c.size
			if ret != 0 {
				rmem, drops, fwd = c.held, 1, 0
			} else {
				rmem += c.size
			}
			if r.sk.RmemAlloc() != rmem || r.sk.Drops() != drops || r.forwardAlloc() != fwd {
				t.Fatalf("rmem %d drops %d forward_alloc %d, want %d %d %d",
					r.sk.RmemAlloc(), r.sk.Drops(), r.forwardAlloc(), rmem, drops, fwd)
			}
			// The page charged is in the per-CPU reserve; a refusal gave
			// it back.
			if pages := r.pages() - c.allocated; (ret == 0 && pages != 1) || (ret != 0 && pages != 0) {
				t.Fatalf("%d pages charged", pages)
			}
		})
	}
}

// Forward memory is charged in whole pages and kept between datagrams;
// udp_rmem_release gives back whole pages once they are free, so after
// every datagram is read the socket holds no memory and udp_mem is
// where it started, whatever the sizes.
func TestRmemChargeRelease(t *testing.T) {
	for _, c := range []struct {
		name  string
		sizes []int
		pages []int64 // pages charged after each enqueue
	}{
		{"one page each", []int{PageSize, PageSize, PageSize}, []int64{1, 2, 3}},
		{"small datagrams share a page", []int{1000, 1000, 1000, 1000, 1000}, []int64{1, 1, 1, 1, 2}},
		{"large datagram", []int{65536 + 576, 100}, []int64{17, 17}},
		{"mixed", []int{2624, 2624, 1280, 9000}, []int64{1, 2, 2, 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRmemRig(t, 1<<20, [3]int64{1 << 20, 1 << 20, 1 << 20})
			for i, size := range c.sizes {
				if ret := r.enqueue(size); ret != 0 {
					t.Fatalf("datagram %d refused: %d", i, ret)
				}
				if got := r.pages(); got != c.pages[i] {
					t.Fatalf("after datagram %d: %d pages, want %d", i, got, c.pages[i])
				}
				if fa := r.forwardAlloc(); fa < 0 || fa >= PageSize {
					t.Fatalf("forward_alloc %d", fa)
				}
			}
			for i, size := range c.sizes {
				// udp_rmem_release moves what is left of the receive
				// queue to the reader queue.
				b := r.read()
				if b == nil || b.Truesize != size {
					t.Fatalf("datagram %d not queued in order", i)
				}
				b.Free()
			}
			if r.sk.RmemAlloc() != 0 || r.pages() != 0 || r.forwardAlloc() != 0 {
				t.Fatalf("after reading all: rmem %d, pages %d, forward_alloc %d",
					r.sk.RmemAlloc(), r.pages(), r.forwardAlloc())
			}
		})
	}
}
