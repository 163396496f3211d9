package netstack

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// newEnvArena builds the stack on a frame pool and a large pool that
// share one arena of n bytes, as the image's pools share its DMA region.
func newEnvArena(t *testing.T, n int) (*env, *skb.Arena) {
	t.Helper()
	a, err := skb.NewArena(n, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	frames, _ := skb.NewArenaPool("frames", 2048, a)
	large, _ := skb.NewArenaPool("large", 65536+128, a)
	e := newEnv(t, func(c *Config) { c.FramePool, c.LargePool = frames, large })
	return e, a
}

func rcvbufForce(t *testing.T, s *socket.Socket, v int) {
	t.Helper()
	if err := s.SetsockoptInt(socket.SolSocket, socket.SoRcvbufforce, v); err != nil {
		t.Fatal(err)
	}
}

// TestReassemblyBoundedByMemory reassembles 200 datagrams of 3000 bytes
// for a socket with room for all of them. Linux queues every one: its
// reassembled skb is made of the fragments themselves, and only
// ipfrag_high_thresh (incomplete queues) and the socket's memory limits
// bound it. A fixed set of 64 large buffers would fail from the 65th on
// (ReasmFails); on an arena each datagram takes the smallest block that
// holds it, 4 KiB (a whole 64 KiB buffer's 128 KiB block each would use
// up this 16 MiB arena after 127).
func TestReassemblyBoundedByMemory(t *testing.T) {
	const n = 200
	e, a := newEnvArena(t, 16<<20)
	s := e.bound(0, 7000)
	rcvbufForce(t, s, 8<<20)
	payload := bigPayload(3000)
	d := udpDatagram(ipT, ipM, 40000, 7000, payload)
	e.mark()
	for i := 0; i < n; i++ {
		e.send(frag(d, 0, 1480, true, uint16(i)))
		e.send(frag(d, 1480, len(d)-1480, false, uint16(i)))
	}
	e.expect(map[string]int64{"Ip.ReasmOKs": n, "Ip.ReasmFails": 0, "Udp.RcvbufErrors": 0, "Udp.MemErrors": 0})
	if st := e.large.Stats(); st.InUse != n || st.Exhausted != 0 {
		t.Errorf("large pool %+v, want %d datagrams queued", st, n)
	}
	if st := a.Stats(); st.Failed != 0 {
		t.Errorf("arena %+v", st)
	}
	for i := 0; i < n; i++ {
		mustRecv(t, s, payload)
	}
}

// TestUDPMemBindsBeforeArena floods a socket whose receive buffer is
// forced far above what the memory holds. udp_mem is computed from the
// arena as udp_init computes it from nr_free_buffer_pages(): an 8 MiB
// arena gives limit 256 pages and udp_mem 192 256 384. Once
// udp_memory_allocated (folded in 256-page batches, as the per-CPU
// reserve does) is above udp_mem[0], every further datagram fails with
// -ENOBUFS: Udp MemErrors, as in Linux, while the arena still has room.
// With udp_mem taken from a nominal 4 GiB the frames would run out first
// and the loss would happen in the device, uncounted by the stack.
func TestUDPMemBindsBeforeArena(t *testing.T) {
	const sent = 5000 // 10 MiB of frames: more than the arena
	e, a := newEnvArena(t, 8<<20)
	if got, want := e.s.udp.MemLimits(), [3]int64{192, 256, 384}; got != want {
		t.Fatalf("udp_mem %v, want %v", got, want)
	}
	s := e.bound(0, 7000)
	rcvbufForce(t, s, 64<<20)
	p := udpPkt(7000, bigPayload(64))
	e.mark()
	for i := 0; i < sent; i++ {
		e.send(p)
	}
	memErrs := e.delta("Udp.MemErrors")
	accepted := sent - memErrs
	truesize := int64(2048 + skb.Overhead)
	if memErrs == 0 || e.delta("Udp.RcvbufErrors") != 0 || accepted*truesize > (192+256)*4096 {
		t.Errorf("%d accepted (%d bytes of truesize), MemErrors %d, RcvbufErrors %d: want udp_mem[0] 192 pages (+ one 256-page batch) to bind",
			accepted, accepted*truesize, memErrs, e.delta("Udp.RcvbufErrors"))
	}
	if st := a.Stats(); st.Failed != 0 {
		t.Errorf("arena %+v: memory ran out before udp_mem", st)
	}
}
