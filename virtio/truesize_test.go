package virtio_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/netstacktest"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
	"github.com/kaidoku-net/kaidoku/virtio"
	"github.com/kaidoku-net/kaidoku/virtio/virtiotest"
)

// TestMergeableTruesize checks the truesize the driver charges frames of
// each size, on a 256-entry ring with mergeable buffers, against what
// Linux v6.8's virtio_net would charge the same frame (see truesize.go):
// 1536-byte buffers (12 + min_buf_len 1518, cache-aligned); up to 128
// bytes copied into a 1 KiB napi_alloc_skb head (1280); up to 1204 bytes
// the buffer as the head (1536 + 256); longer, the 1 KiB head plus the
// buffer as a fragment (1280 + 1536). The 21st buffer of a 32 KiB page
// fragment takes the 512 bytes left over (2048 + 256).
func TestMergeableTruesize(t *testing.T) {
	cases := []struct {
		frame, want int
	}{
		{60, 1280},   // minimum Ethernet frame
		{106, 1280},  // a 64-byte UDP datagram
		{128, 1280},  // GOOD_COPY_LEN
		{129, 1792},  // built around the buffer
		{1204, 1792}, // the last length that leaves room for skb_shared_info
		{1205, 2816}, // copied head + the buffer as a fragment
		{1514, 2816}, // a full 1500-byte MTU frame
	}
	h := newHarness(t, opts{hold: true})
	n := 0
	for i, c := range cases {
		h.dev.Inject(frame(i, c.frame), virtiotest.RxOptions{})
		n++
	}
	// Fill the rest of the first page fragment: buffer 21 is the big one.
	for i := len(cases); i < 21; i++ {
		h.dev.Inject(frame(i, 600), virtiotest.RxOptions{})
		n++
	}
	h.waitDelivered(n)
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, c := range cases {
		if got := h.held[i].Truesize; got != c.want {
			t.Errorf("%d-byte frame: truesize %d, want %d", c.frame, got, c.want)
		}
	}
	for i := len(cases); i < 20; i++ {
		if got := h.held[i].Truesize; got != 1792 {
			t.Errorf("600-byte frame %d: truesize %d, want 1792", i, got)
		}
	}
	if got := h.held[20].Truesize; got != 2048+skb.HeadSize {
		t.Errorf("600-byte frame in the fragment's last buffer: truesize %d, want %d", got, 2048+skb.HeadSize)
	}
}

// TestDefaultRcvbufBurstOf64ByteDatagrams sends a burst of 64-byte UDP
// datagrams through the driver into the stack, to a socket with the
// default receive buffer that nobody reads, and counts what it absorbs.
//
// Each frame is 14 + 20 + 8 + 64 = 106 bytes, at most GOOD_COPY_LEN, so
// Linux copies it into a 1 KiB napi_alloc_skb head: truesize 1280.
// __udp_enqueue_schedule_skb accepts a datagram while the memory already
// queued is ≤ sk_rcvbuf (212992, rmem_default): datagram k (from 0) is
// accepted iff k·1280 ≤ 212992, i.e. k ≤ 166 — 167 datagrams, the rest
// counted as RcvbufErrors. Charging the 2048-byte pool buffer + 576 (2624)
// instead would absorb only 82.
func TestDefaultRcvbufBurstOf64ByteDatagrams(t *testing.T) {
	const (
		sent     = 250
		truesize = 1280
		rcvbuf   = 212992
		accepted = rcvbuf/truesize + 1
	)
	st, _ := netstacktest.New(t, 64)
	h := newHarness(t, opts{rxBufs: 1024, deliver: st.Receive})
	s, err := st.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Bind(&socket.Sockaddr{Port: 9}); err != nil {
		t.Fatal(err)
	}
	mac := netstacktest.NullLink{}.MAC()
	for i := 0; i < sent; i++ {
		if !h.dev.Inject(udpFrame(mac, 9, 64), virtiotest.RxOptions{}) {
			t.Fatalf("device dropped frame %d", i)
		}
		if i%128 == 127 {
			h.waitDelivered(i + 1) // never let the device run out of buffers
		}
	}
	h.waitDelivered(sent)
	if got, _ := st.Counter("Udp.RcvbufErrors"); got != sent-accepted {
		t.Errorf("Udp RcvbufErrors %d, want %d (%d of %d absorbed, want %d)", got, sent-accepted, sent-int(got), sent, accepted)
	}
	var b strings.Builder
	st.WriteProcNetUDP(&b)
	if want := fmt.Sprintf("00000000:%08X", accepted*truesize); !strings.Contains(b.String(), want) {
		t.Errorf("/proc/net/udp lacks tx_queue:rx_queue %s:\n%s", want, b.String())
	}
}

// udpFrame builds an Ethernet frame carrying a UDP datagram of size
// payload bytes from 10.0.2.2:4000 to 10.0.2.15:port, for mac.
func udpFrame(mac [6]byte, port uint16, size int) []byte {
	f := make([]byte, 14+20+8+size)
	copy(f[0:6], mac[:])
	copy(f[6:12], peerMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+size))
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:16], []byte{10, 0, 2, 2})
	copy(ip[16:20], []byte{10, 0, 2, 15})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	u := f[34:42]
	binary.BigEndian.PutUint16(u[0:], 4000)
	binary.BigEndian.PutUint16(u[2:], port)
	binary.BigEndian.PutUint16(u[4:], uint16(8+size))
	return f
}

// TestMergeableBufferSize checks get_mergeable_buf_len on rings of
// several sizes: mergeable_min_buf_len keeps a full ring able to hold a
// MAX_MTU packet (12 + 14 + 4 + 65535 bytes over the ring's entries),
// never below GOOD_PACKET_LEN; the EWMA of 64-byte frames stays below
// it; the header is added and the sum aligned to 64 bytes, capped at a
// page.
func TestMergeableBufferSize(t *testing.T) {
	cases := []struct{ queue, want int }{
		{256, 1536}, // 12 + 1518 → 1536
		{64, 1536},  // ⌈65565/64⌉ - 12 = 1013 < 1518
		{32, 2112},  // 12 + ⌈65565/32⌉ - 12 = 2049 → 2112
		{16, 4096},  // min_buf_len 4086 above PAGE_SIZE - 12: the page wins
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.queue), func(t *testing.T) {
			h := newHarness(t, opts{queue: c.queue})
			h.send(0, 2*c.queue, 8, 64)
			if got := h.net.Stats().RX.BufLen; got != c.want {
				t.Errorf("mergeable_rx_buffer_size %d, want %d", got, c.want)
			}
		})
	}
}

// TestSmallBufferTruesize: without VIRTIO_NET_F_MRG_RXBUF, receive_small
// builds every skb around a buffer of SKB_DATA_ALIGN(12 + NET_SKB_PAD +
// GOOD_PACKET_LEN) = 1600 bytes plus skb_shared_info, whatever the frame:
// truesize 1600 + 576 = 2176.
func TestSmallBufferTruesize(t *testing.T) {
	h := newHarness(t, opts{hold: true, features: virtiotest.DefaultFeatures &^ (1 << virtio.FeatureNetMrgRxbuf)})
	for i, n := range []int{60, 600, 1514} {
		h.dev.Inject(frame(i, n), virtiotest.RxOptions{})
	}
	h.waitDelivered(3)
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range h.held {
		if b.Truesize != 2176 {
			t.Errorf("frame %d: truesize %d, want 2176", i, b.Truesize)
		}
	}
	if got := h.net.Stats().RX.BufLen; got != 0 {
		t.Errorf("mergeable_rx_buffer_size %d without mergeable buffers", got)
	}
}
